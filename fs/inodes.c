#include "inodes.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NBUCKETS 4096

struct inode {
	struct inode_ref id;
	uint64_t nlookup;
	char *key;
	struct inode *next_key, *next_ino;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct inode *by_key[NBUCKETS], *by_ino[NBUCKETS];
static uint64_t next_ino = 2;   /* 1 is the root */

static uint64_t hash_str(const char *s, size_t n)
{
	uint64_t h = 1469598103934665603ULL;
	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
	return h;
}

/* key = "row\x1fvnode\x1fcap0\x1fcap1…" — captures never hold \x1f (names
 * are validated), and the key is compared whole. */
static char *make_key(int row, const char *const *caps, int ncaps, uint64_t vnode, size_t *len)
{
	size_t n = 48;
	for (int i = 0; i < ncaps; i++)
		n += strlen(caps[i]) + 1;
	char *k = malloc(n);
	if (!k)
		return NULL;
	size_t off = (size_t)snprintf(k, n, "%d\x1f%llu", row, (unsigned long long)vnode);
	for (int i = 0; i < ncaps; i++)
		off += (size_t)snprintf(k + off, n - off, "\x1f%s", caps[i]);
	*len = off;
	return k;
}

static void fill_ref(struct inode_ref *r, uint64_t ino, int row, const char *const *caps, int ncaps,
		     uint64_t vnode)
{
	memset(r, 0, sizeof *r);
	r->ino = ino;
	r->row = row;
	r->ncaps = ncaps;
	r->vnode = vnode;
	for (int i = 0; i < ncaps && i < NODE_MAX_CAPS; i++) {
		snprintf(r->capbuf[i], CAP_LEN, "%s", caps[i]);
		r->caps[i] = r->capbuf[i];
	}
	r->caps[ncaps] = NULL;
}

int inodes_init(void)
{
	struct inode *root = calloc(1, sizeof *root);
	if (!root)
		return -ENOMEM;
	size_t len;
	root->key = make_key(0, NULL, 0, 0, &len);
	fill_ref(&root->id, 1, 0, NULL, 0, 0);
	root->nlookup = 1;
	by_key[hash_str(root->key, len) % NBUCKETS] = root;
	by_ino[1 % NBUCKETS] = root;
	return 0;
}

void inodes_free(void)
{
	pthread_mutex_lock(&lock);
	for (int b = 0; b < NBUCKETS; b++) {
		struct inode *n = by_ino[b];
		while (n) {
			struct inode *next = n->next_ino;
			free(n->key);
			free(n);
			n = next;
		}
		by_ino[b] = by_key[b] = NULL;
	}
	pthread_mutex_unlock(&lock);
}

int inode_get(int row, const char *const *caps, int ncaps, uint64_t vnode, uint64_t *ino)
{
	if (ncaps > NODE_MAX_CAPS)
		return -ENAMETOOLONG;
	for (int i = 0; i < ncaps; i++)
		if (strlen(caps[i]) >= CAP_LEN)
			return -ENAMETOOLONG;
	size_t len;
	char *key = make_key(row, caps, ncaps, vnode, &len);
	if (!key)
		return -ENOMEM;
	uint64_t h = hash_str(key, len) % NBUCKETS;
	pthread_mutex_lock(&lock);
	for (struct inode *n = by_key[h]; n; n = n->next_key) {
		if (strcmp(n->key, key) == 0) {
			n->nlookup++;
			*ino = n->id.ino;
			pthread_mutex_unlock(&lock);
			free(key);
			return 0;
		}
	}
	struct inode *n = calloc(1, sizeof *n);
	if (!n) {
		pthread_mutex_unlock(&lock);
		free(key);
		return -ENOMEM;
	}
	n->key = key;
	n->nlookup = 1;
	fill_ref(&n->id, next_ino++, row, caps, ncaps, vnode);
	n->next_key = by_key[h];
	by_key[h] = n;
	n->next_ino = by_ino[n->id.ino % NBUCKETS];
	by_ino[n->id.ino % NBUCKETS] = n;
	*ino = n->id.ino;
	pthread_mutex_unlock(&lock);
	return 0;
}

int inode_ref(uint64_t ino, struct inode_ref *out)
{
	pthread_mutex_lock(&lock);
	for (struct inode *n = by_ino[ino % NBUCKETS]; n; n = n->next_ino) {
		if (n->id.ino == ino) {
			*out = n->id;
			for (int i = 0; i < out->ncaps; i++)
				out->caps[i] = out->capbuf[i];
			out->caps[out->ncaps] = NULL;
			pthread_mutex_unlock(&lock);
			return 0;
		}
	}
	pthread_mutex_unlock(&lock);
	return -ENOENT;
}

void inode_forget(uint64_t ino, uint64_t nlookup, void (*gone)(const struct inode_ref *ref))
{
	if (ino == 1)
		return;
	struct inode *victim = NULL;
	pthread_mutex_lock(&lock);
	struct inode **pp = &by_ino[ino % NBUCKETS];
	for (; *pp; pp = &(*pp)->next_ino) {
		if ((*pp)->id.ino != ino)
			continue;
		struct inode *n = *pp;
		n->nlookup = n->nlookup > nlookup ? n->nlookup - nlookup : 0;
		if (n->nlookup == 0) {
			*pp = n->next_ino;
			size_t len = strlen(n->key);
			/* the key holds \x1f separators but no NUL: strlen is its length */
			struct inode **kp = &by_key[hash_str(n->key, len) % NBUCKETS];
			while (*kp && *kp != n)
				kp = &(*kp)->next_key;
			if (*kp)
				*kp = n->next_key;
			victim = n;
		}
		break;
	}
	pthread_mutex_unlock(&lock);
	if (victim) {
		if (gone) {
			for (int i = 0; i < victim->id.ncaps; i++)
				victim->id.caps[i] = victim->id.capbuf[i];
			gone(&victim->id);
		}
		free(victim->key);
		free(victim);
	}
}

void inode_ref_push(const struct inode_ref *in, const char *name, struct inode_ref *out)
{
	*out = *in;
	for (int i = 0; i < out->ncaps; i++)
		out->caps[i] = out->capbuf[i];
	if (out->ncaps < NODE_MAX_CAPS) {
		snprintf(out->capbuf[out->ncaps], CAP_LEN, "%s", name);
		out->caps[out->ncaps] = out->capbuf[out->ncaps];
		out->ncaps++;
	}
	out->caps[out->ncaps] = NULL;
}
