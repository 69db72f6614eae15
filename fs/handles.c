#include "handles.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuse_inc.h"

struct fs_handle *handle_new(const struct inode_ref *ref, int flags)
{
	struct fs_handle *h = calloc(1, sizeof *h);
	if (!h)
		return NULL;
	h->ref = *ref;
	for (int i = 0; i < h->ref.ncaps; i++)
		h->ref.caps[i] = h->ref.capbuf[i];
	h->ref.caps[h->ref.ncaps] = NULL;
	h->flags = flags;
	h->refs = 1;
	pthread_mutex_init(&h->lock, NULL);
	return h;
}

struct fs_handle *handle_hold(struct fs_handle *h)
{
	if (h)
		__atomic_add_fetch(&h->refs, 1, __ATOMIC_ACQ_REL);
	return h;
}

void handle_free(struct fs_handle *h)
{
	handle_drop(h);
}

void handle_drop(struct fs_handle *h)
{
	if (!h || __atomic_sub_fetch(&h->refs, 1, __ATOMIC_ACQ_REL) != 0)
		return;
	if (h->vops && h->vops->release)
		h->vops->release(h->vtree, h->vfh);
	cfs_buf_free(&h->content);
	cfs_buf_free(&h->rendered);
	ctl_outcome_free(h->outcome);
	cfs_events_close(h->cursor);
	if (h->ph)
		fuse_pollhandle_destroy(h->ph);
	for (size_t i = 0; i < h->nitems; i++)
		free(h->items[i].name);
	free(h->items);
	pthread_mutex_destroy(&h->lock);
	free(h);
}

/* A small LRU of (key → outcome); old entries fall out, which only means an
 * old outcome is no longer shown. */
#define OUTCOMES_MAX 1024

struct outcome_entry {
	char key[CAP_LEN * 2];
	struct ctl_outcome *o;
	unsigned long stamp;
};

static pthread_mutex_t olock = PTHREAD_MUTEX_INITIALIZER;
static struct outcome_entry oents[OUTCOMES_MAX];
static unsigned long ostamp;

static void make_key(uid_t uid, const struct inode_ref *ref, char *key, size_t len)
{
	int n = snprintf(key, len, "%u|%d", (unsigned)uid, ref->row);
	for (int i = 0; i < ref->ncaps && n > 0 && (size_t)n < len; i++)
		n += snprintf(key + n, len - (size_t)n, "|%s", ref->caps[i]);
}

void outcomes_put(uid_t uid, const struct inode_ref *ref, struct ctl_outcome *o)
{
	char key[CAP_LEN * 2];
	make_key(uid, ref, key, sizeof key);
	pthread_mutex_lock(&olock);
	struct outcome_entry *slot = NULL, *oldest = &oents[0];
	for (int i = 0; i < OUTCOMES_MAX && !slot; i++)
		if (oents[i].o && strcmp(oents[i].key, key) == 0)
			slot = &oents[i];
	for (int i = 0; i < OUTCOMES_MAX && !slot; i++) {
		if (!oents[i].o)
			slot = &oents[i];
		else if (oents[i].stamp < oldest->stamp)
			oldest = &oents[i];
	}
	if (!slot)
		slot = oldest;
	ctl_outcome_free(slot->o);
	snprintf(slot->key, sizeof slot->key, "%s", key);
	slot->o = ctl_outcome_ref(o);
	slot->stamp = ++ostamp;
	pthread_mutex_unlock(&olock);
}

struct ctl_outcome *outcomes_get(uid_t uid, const struct inode_ref *ref)
{
	char key[CAP_LEN * 2];
	struct ctl_outcome *o = NULL;
	make_key(uid, ref, key, sizeof key);
	pthread_mutex_lock(&olock);
	for (int i = 0; i < OUTCOMES_MAX; i++)
		if (oents[i].o && strcmp(oents[i].key, key) == 0) {
			o = ctl_outcome_ref(oents[i].o);
			break;
		}
	pthread_mutex_unlock(&olock);
	return o;
}

void outcomes_free(void)
{
	pthread_mutex_lock(&olock);
	for (int i = 0; i < OUTCOMES_MAX; i++) {
		ctl_outcome_free(oents[i].o);
		oents[i].o = NULL;
	}
	pthread_mutex_unlock(&olock);
}
