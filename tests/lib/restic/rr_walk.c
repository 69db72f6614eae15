/* rr_walk — walks a restic repository through the reader's vtree, the way the
 * fs would, and prints one JSON line per node (an oracle for the tests to
 * compare with `restic ls --json` and with what `restic restore` writes).
 *
 *   rr_walk [--content] [--blobs] [--stats] [--top] [--cache DIR] [--snap NAME]
 *           [--refresh SECS] [--then CMD] [--dump-seeds DIR] [--parallel THREADS]
 *           [--blob-cache BYTES] REPO PASSWORD_FILE
 *
 * Paths, link targets and xattr values are printed as hex, so any byte
 * survives.  --content adds the SHA-256 of each file as read (or "error").
 * --top prints the snapshots/ level (names, symlinks) instead of nodes;
 * with --then it runs CMD, waits for the refresh interval, and prints it again.
 * --parallel reads every file from several threads at once and counts the
 * reads that differ from a sequential one.
 * Exit status: 0, 1 on a usage or open error (the message on stderr, with the
 * errno name first: "EACCES: …"). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "core/log.h"
#include "restic/reader.h"
#include "restic/rr_int.h"

static const struct cfs_vtree_ops *ops;
static struct rr_repo *repo;
static int opt_content, opt_blobs;
static int nerrors;

static void hex(const void *p, size_t n)
{
	const unsigned char *b = p;
	for (size_t i = 0; i < n; i++)
		printf("%02x", b[i]);
}

struct ent {
	char *name;
	uint64_t node, off;
	struct cfs_vattr a;
};
struct ents {
	struct ent *e;
	size_t n, cap;
};

static int collect(void *arg, const char *name, uint64_t node, const struct cfs_vattr *a,
		   uint64_t next)
{
	struct ents *l = arg;
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 64;
		l->e = realloc(l->e, l->cap * sizeof *l->e);
		if (!l->e)
			abort();
	}
	l->e[l->n++] = (struct ent){ strdup(name), node, next, *a };
	return 0;
}

/* Lists a directory, in two readdir calls when it is long (offsets work). */
static int list(uint64_t node, struct ents *l)
{
	memset(l, 0, sizeof *l);
	int ret = ops->readdir(repo, node, 0, collect, l);
	return ret;
}

static void free_ents(struct ents *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->e[i].name);
	free(l->e);
}

static const char *type_name(mode_t m)
{
	switch (m & S_IFMT) {
	case S_IFREG: return "file";
	case S_IFDIR: return "dir";
	case S_IFLNK: return "symlink";
	case S_IFBLK: return "dev";
	case S_IFCHR: return "chardev";
	case S_IFIFO: return "fifo";
	case S_IFSOCK: return "socket";
	}
	return "?";
}

static void content_hash(uint64_t node)
{
	void *fh;
	int ret = ops->open(repo, node, O_RDONLY, &fh);
	if (ret) {
		printf(",\"error\":\"%s\"", cfs_errno_name(ret));
		nerrors++;
		return;
	}
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	EVP_DigestInit_ex(c, EVP_sha256(), NULL);
	static char buf[128 * 1024];
	uint64_t off = 0;
	ssize_t n;
	while ((n = ops->read(repo, fh, buf, sizeof buf, off)) > 0) {
		EVP_DigestUpdate(c, buf, (size_t)n);
		off += (uint64_t)n;
	}
	ops->release(repo, fh);
	unsigned char md[32];
	EVP_DigestFinal_ex(c, md, NULL);
	EVP_MD_CTX_free(c);
	if (n < 0) {
		printf(",\"error\":\"%s\"", cfs_errno_name((int)n));
		nerrors++;
		return;
	}
	printf(",\"read\":%" PRIu64 ",\"sha256\":\"", off);
	hex(md, 32);
	printf("\"");
}

static void emit(const char *snap, const char *path, size_t plen, uint64_t parent,
		 const struct ent *e)
{
	const struct cfs_vattr *a = &e->a;
	printf("{\"snap\":\"%s\",\"path\":\"", snap);
	hex(path, plen);
	printf("\",\"type\":\"%s\",\"mode\":%u,\"size\":%" PRIu64 ",\"uid\":%u,\"gid\":%u,"
	       "\"nlink\":%lu,\"rdev\":%lu,\"node\":%" PRIu64,
	       type_name(a->mode), (unsigned)a->mode, a->size, (unsigned)a->uid, (unsigned)a->gid,
	       (unsigned long)a->nlink, (unsigned long)a->rdev, e->node);
	printf(",\"mtime\":[%lld,%ld],\"atime\":[%lld,%ld],\"ctime\":[%lld,%ld]",
	       (long long)a->mtime.tv_sec, a->mtime.tv_nsec, (long long)a->atime.tv_sec,
	       a->atime.tv_nsec, (long long)a->ctime.tv_sec, a->ctime.tv_nsec);

	/* lookup must agree with readdir */
	uint64_t n2;
	struct cfs_vattr a2;
	int ret = ops->lookup(repo, parent, e->name, &n2, &a2);
	if (ret || n2 != e->node || a2.mode != a->mode || a2.size != a->size) {
		printf(",\"lookup_mismatch\":true");
		nerrors++;
	}
	struct cfs_vattr a3;
	if (ops->getattr(repo, e->node, &a3) || a3.mode != a->mode || a3.size != a->size ||
	    a3.mtime.tv_sec != a->mtime.tv_sec)
		printf(",\"getattr_mismatch\":true");

	if (S_ISLNK(a->mode)) {
		struct cfs_buf b = CFS_BUF_INIT;
		if (ops->readlink(repo, e->node, &b) == 0) {
			printf(",\"target\":\"");
			hex(b.data, b.len);
			printf("\"");
		}
		cfs_buf_free(&b);
	}
	struct cfs_buf names = CFS_BUF_INIT;
	if (ops->listxattr(repo, e->node, &names) == 0 && names.len) {
		printf(",\"xattrs\":{");
		const char *sep = "";
		for (size_t i = 0; i < names.len; i += strlen(names.data + i) + 1) {
			struct cfs_buf v = CFS_BUF_INIT;
			if (ops->getxattr(repo, e->node, names.data + i, &v) == 0) {
				printf("%s\"%s\":\"", sep, names.data + i);
				hex(v.data, v.len);
				printf("\"");
				sep = ",";
			}
			cfs_buf_free(&v);
		}
		printf("}");
	}
	cfs_buf_free(&names);
	if (S_ISREG(a->mode) && opt_content)
		content_hash(e->node);
	if (S_ISREG(a->mode) && opt_blobs) {
		struct cfs_buf b = CFS_BUF_INIT;
		if (rr_file_blobs(repo, e->node, &b) == 0) {
			printf(",\"blobs\":[");
			char *line = b.data, *nl;
			const char *sep = "";
			while (line && (nl = strchr(line, '\n'))) {
				*nl = '\0';
				printf("%s\"%s\"", sep, line);
				sep = ",";
				line = nl + 1;
			}
			printf("]");
		}
		cfs_buf_free(&b);
	}
	printf("}\n");
}

static void walk(const char *snap, uint64_t dir, char *path, size_t plen)
{
	struct ents l;
	int ret = list(dir, &l);
	if (ret) {
		printf("{\"snap\":\"%s\",\"path\":\"", snap);
		hex(path, plen);
		printf("\",\"readdir_error\":\"%s\"}\n", cfs_errno_name(ret));
		nerrors++;
		return;
	}
	/* resume from the middle must give the same tail */
	if (l.n > 2) {
		struct ents tail = { 0 };
		ops->readdir(repo, dir, l.e[0].off, collect, &tail);
		if (tail.n != l.n - 1 || strcmp(tail.e[0].name, l.e[1].name))
			printf("{\"readdir_offset_mismatch\":true}\n");
		free_ents(&tail);
	}
	for (size_t i = 0; i < l.n; i++) {
		size_t nl = strlen(l.e[i].name);
		if (plen + 1 + nl >= 65536)
			continue;
		path[plen] = '/';
		memcpy(path + plen + 1, l.e[i].name, nl);
		emit(snap, path, plen + 1 + nl, dir, &l.e[i]);
		if (S_ISDIR(l.e[i].a.mode))
			walk(snap, l.e[i].node, path, plen + 1 + nl);
	}
	free_ents(&l);
}

static void print_top(void)
{
	struct ents l, sub, sub2;
	list(VTREE_ROOT, &l);
	for (size_t i = 0; i < l.n; i++) {
		struct cfs_buf b = CFS_BUF_INIT;
		if (S_ISLNK(l.e[i].a.mode)) {
			ops->readlink(repo, l.e[i].node, &b);
			printf("%s -> %s\n", l.e[i].name, b.data ? b.data : "");
		} else if (strcmp(l.e[i].name, "ids") == 0 || strcmp(l.e[i].name, "hosts") == 0 ||
			   strcmp(l.e[i].name, "tags") == 0) {
			list(l.e[i].node, &sub);
			for (size_t j = 0; j < sub.n; j++) {
				if (S_ISLNK(sub.e[j].a.mode)) {
					cfs_buf_reset(&b);
					ops->readlink(repo, sub.e[j].node, &b);
					printf("%s/%s -> %s\n", l.e[i].name, sub.e[j].name,
					       b.data ? b.data : "");
					continue;
				}
				list(sub.e[j].node, &sub2);
				for (size_t k = 0; k < sub2.n; k++) {
					cfs_buf_reset(&b);
					ops->readlink(repo, sub2.e[k].node, &b);
					printf("%s/%s/%s -> %s\n", l.e[i].name, sub.e[j].name,
					       sub2.e[k].name, b.data ? b.data : "");
				}
				free_ents(&sub2);
			}
			free_ents(&sub);
		} else {
			printf("%s/\n", l.e[i].name);
		}
		cfs_buf_free(&b);
	}
	free_ents(&l);
}

/* ---- parallel reads: every thread reads every file, in its own order and
 * chunk size, and must get what one sequential reader got ---- */

struct pfile {
	uint64_t node;
	unsigned char md[32];
	int ok;
};
static struct pfile *pfiles;
static size_t npfiles, cpfiles;
static int nthreads;
static int mismatches;

static int collect_files(uint64_t dir)
{
	struct ents l;
	if (list(dir, &l))
		return -1;
	for (size_t i = 0; i < l.n; i++) {
		if (S_ISDIR(l.e[i].a.mode)) {
			collect_files(l.e[i].node);
		} else if (S_ISREG(l.e[i].a.mode)) {
			if (npfiles == cpfiles) {
				cpfiles = cpfiles ? cpfiles * 2 : 256;
				pfiles = realloc(pfiles, cpfiles * sizeof *pfiles);
			}
			pfiles[npfiles++] = (struct pfile){ .node = l.e[i].node };
		}
	}
	free_ents(&l);
	return 0;
}

static int hash_file(uint64_t node, size_t chunk, unsigned char md[32])
{
	void *fh;
	char *buf = malloc(chunk);
	int ret = ops->open(repo, node, O_RDONLY, &fh);
	if (ret || !buf) {
		free(buf);
		return -1;
	}
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	EVP_DigestInit_ex(c, EVP_sha256(), NULL);
	uint64_t off = 0;
	ssize_t n;
	while ((n = ops->read(repo, fh, buf, chunk, off)) > 0) {
		EVP_DigestUpdate(c, buf, (size_t)n);
		off += (uint64_t)n;
	}
	ops->release(repo, fh);
	EVP_DigestFinal_ex(c, md, NULL);
	EVP_MD_CTX_free(c);
	free(buf);
	return n < 0 ? -1 : 0;
}

static void *preader(void *arg)
{
	size_t t = (size_t)arg;
	for (size_t k = 0; k < npfiles; k++) {
		size_t i = (k * (2 * t + 1) + t) % npfiles;
		unsigned char md[32];
		if (!pfiles[i].ok)
			continue;
		if (hash_file(pfiles[i].node, 4096 + 65536 * t, md) || memcmp(md, pfiles[i].md, 32))
			__atomic_add_fetch(&mismatches, 1, __ATOMIC_SEQ_CST);
	}
	return NULL;
}

static volatile int readers_done;

/* Meanwhile, list snapshots/ and refresh over and over. */
static void *lister(void *arg)
{
	(void)arg;
	while (!__atomic_load_n(&readers_done, __ATOMIC_SEQ_CST)) {
		struct ents l;
		struct cfs_err err;
		if (list(VTREE_ROOT, &l) == 0)
			free_ents(&l);
		rr_refresh(repo, &err);
		usleep(1000);
	}
	return NULL;
}

static void parallel(void)
{
	struct ents l;
	list(VTREE_ROOT, &l);
	for (size_t i = 0; i < l.n; i++)
		if (S_ISDIR(l.e[i].a.mode) && strchr(l.e[i].name, 'T'))
			collect_files(l.e[i].node);
	free_ents(&l);
	for (size_t i = 0; i < npfiles; i++)
		pfiles[i].ok = hash_file(pfiles[i].node, 131072, pfiles[i].md) == 0;
	pthread_t th[16];
	if (nthreads > 16)
		nthreads = 16;
	pthread_t lt;
	pthread_create(&lt, NULL, lister, NULL);
	for (int t = 0; t < nthreads; t++)
		pthread_create(&th[t], NULL, preader, (void *)(size_t)t);
	for (int t = 0; t < nthreads; t++)
		pthread_join(th[t], NULL);
	__atomic_store_n(&readers_done, 1, __ATOMIC_SEQ_CST);
	pthread_join(lt, NULL);
	printf("{\"parallel\":{\"threads\":%d,\"files\":%zu,\"mismatches\":%d}}\n", nthreads,
	       npfiles, mismatches);
	free(pfiles);
}

/* ---- fuzz seeds from a real repository ---- */

static void save(const char *dir, const char *kind, int n, const void *p, size_t len)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/%s/seed-%d", dir, kind, n);
	FILE *f = fopen(path, "wb");
	if (f) {
		fwrite(p, 1, len, f);
		fclose(f);
	}
}

struct names {
	char (*v)[65];
	size_t n;
};
static int add_name(void *arg, const char *name, uint64_t size)
{
	struct names *l = arg;
	(void)size;
	l->v = realloc(l->v, (l->n + 1) * sizeof *l->v);
	snprintf(l->v[l->n++], 65, "%s", name);
	return 0;
}

static void dump_seeds(const char *dir)
{
	struct rr_repo *r = repo;
	struct names l = { 0 };
	struct cfs_buf b = CFS_BUF_INIT;
	const char *kinds[] = { "keyfile", "index", "snapshot", "tree", "packheader", "box" };
	char path[4096];
	for (size_t i = 0; i < 6; i++) {
		snprintf(path, sizeof path, "%s/%s", dir, kinds[i]);
		mkdir(path, 0755);
	}
	r->be->ops->list(r->be, "keys", add_name, &l);
	for (size_t i = 0; i < l.n && i < 2; i++)
		if (!r->be->ops->get(r->be, "keys", l.v[i], &b))
			save(dir, "keyfile", (int)i, b.data, b.len);
	l.n = 0;
	r->be->ops->list(r->be, "index", add_name, &l);
	for (size_t i = 0; i < l.n && i < 3; i++)
		if (!rr_repo_load_unpacked(r, "index", l.v[i], &b))
			save(dir, "index", (int)i, b.data, b.len);
	l.n = 0;
	r->be->ops->list(r->be, "snapshots", add_name, &l);
	for (size_t i = 0; i < l.n && i < 2; i++) {
		struct cfs_buf raw = CFS_BUF_INIT;
		if (!rr_repo_load_unpacked(r, "snapshots", l.v[i], &b))
			save(dir, "snapshot", (int)i, b.data, b.len);
		/* box seeds: the master key (64 bytes) then a sealed file */
		if (!r->be->ops->get(r->be, "snapshots", l.v[i], &raw)) {
			struct cfs_buf box = CFS_BUF_INIT;
			cfs_buf_append(&box, r->mk.enc, 32);
			cfs_buf_append(&box, r->mk.k, 16);
			cfs_buf_append(&box, r->mk.r, 16);
			cfs_buf_append(&box, raw.data, raw.len);
			save(dir, "box", (int)i, box.data, box.len);
			cfs_buf_free(&box);
		}
		cfs_buf_free(&raw);
	}
	/* trees: the root trees of the snapshots, and one level below */
	int nt = 0;
	for (size_t i = 0; i < r->nsnaps && nt < 4; i++) {
		uint8_t *pt;
		size_t len;
		if (rr_repo_fetch(r, r->snaps[i]->tree, RR_TREE, &pt, &len))
			continue;
		save(dir, "tree", nt++, pt, len);
		struct rr_tree *t;
		if (!rr_tree_decode((char *)pt, len, &t)) {
			for (size_t k = 0; k < t->n && nt < 4; k++) {
				uint8_t *p2;
				size_t l2;
				if (t->nodes[k].has_subtree &&
				    !rr_repo_fetch(r, t->nodes[k].subtree, RR_TREE, &p2, &l2)) {
					save(dir, "tree", nt++, p2, l2);
					rr_big_free(p2, l2);
				}
			}
			rr_tree_free(t);
		}
		rr_big_free(pt, len);
	}
	/* pack headers: the packs of the first snapshot's root tree and of a data blob */
	int np = 0;
	for (uint32_t p = 0; p < 64 && np < 3; p++) {
		uint8_t pid[RR_ID_LEN];
		char ph[RR_HEX_LEN];
		struct cfs_buf whole = CFS_BUF_INIT;
		if (rr_index_pack_id(r->ix, p, pid))
			break;
		rr_id_hex(pid, ph);
		if (!r->be->ops->get(r->be, "data", ph, &whole) && whole.len >= 4) {
			uint32_t hl;
			if (!rr_pack_header_len((uint8_t *)whole.data + whole.len - 4, whole.len, &hl)) {
				uint8_t *pt = malloc(hl);
				const uint8_t *box = (uint8_t *)whole.data + whole.len - 4 - hl;
				if (pt && !rr_box_open(&r->mk, box, hl, pt))
					save(dir, "packheader", np++, pt, hl - RR_BOX_OVERHEAD);
				free(pt);
			}
		}
		cfs_buf_free(&whole);
	}
	free(l.v);
	cfs_buf_free(&b);
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "content", no_argument, NULL, 'c' }, { "blobs", no_argument, NULL, 'b' },
		{ "stats", no_argument, NULL, 's' },   { "top", no_argument, NULL, 't' },
		{ "cache", required_argument, NULL, 'C' }, { "snap", required_argument, NULL, 'n' },
		{ "refresh", required_argument, NULL, 'r' }, { "then", required_argument, NULL, 'T' },
		{ "dump-seeds", required_argument, NULL, 'D' },
		{ "parallel", required_argument, NULL, 'P' },
		{ "blob-cache", required_argument, NULL, 'B' }, { NULL, 0, NULL, 0 },
	};
	int opt_stats = 0, opt_top = 0, refresh = -1, c;
	size_t blob_cache = 0;
	const char *cache = NULL, *only = NULL, *then = NULL, *seeds = NULL;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'c': opt_content = 1; break;
		case 'b': opt_blobs = 1; break;
		case 's': opt_stats = 1; break;
		case 't': opt_top = 1; break;
		case 'C': cache = optarg; break;
		case 'n': only = optarg; break;
		case 'r': refresh = atoi(optarg); break;
		case 'T': then = optarg; break;
		case 'D': seeds = optarg; break;
		case 'P': nthreads = atoi(optarg); break;
		case 'B': blob_cache = strtoull(optarg, NULL, 10); break;
		default: return 1;
		}
	}
	if (argc - optind != 2) {
		fprintf(stderr, "usage: rr_walk [options] REPO PASSWORD_FILE\n");
		return 1;
	}
	cfs_log_init("rr_walk", 0, CFS_LOG_WARN);
	char pw[1024] = "";
	FILE *f = fopen(argv[optind + 1], "r");
	if (f) {
		if (!fgets(pw, sizeof pw, f))
			pw[0] = '\0';
		fclose(f);
	}
	pw[strcspn(pw, "\n")] = '\0';
	struct rr_open_opts o = { .location = argv[optind], .password = f ? pw : NULL,
				  .cache_dir = cache, .refresh_secs = refresh,
				  .blob_cache_bytes = blob_cache };
	struct cfs_err err = { 0 };
	int ret = rr_open(&o, &repo, &err);
	if (ret) {
		fprintf(stderr, "%s: %s\n", cfs_errno_name(ret), err.msg);
		return 1;
	}
	ops = rr_vtree_ops();
	if (seeds) {
		dump_seeds(seeds);
	} else if (nthreads > 0) {
		parallel();
	} else if (opt_top) {
		print_top();
		if (then) {
			fflush(stdout);
			if (system(then) != 0)
				fprintf(stderr, "rr_walk: --then command failed\n");
			if (refresh > 0)
				usleep((useconds_t)refresh * 1000000 + 100000);
			printf("--\n");
			print_top();
		}
	} else {
		struct ents l;
		static char path[65536];
		list(VTREE_ROOT, &l);
		for (size_t i = 0; i < l.n; i++) {
			if (!S_ISDIR(l.e[i].a.mode) || strcmp(l.e[i].name, "ids") == 0 ||
			    strcmp(l.e[i].name, "hosts") == 0 || strcmp(l.e[i].name, "tags") == 0)
				continue;
			if (only && strcmp(only, l.e[i].name) != 0)
				continue;
			walk(l.e[i].name, l.e[i].node, path, 0);
		}
		free_ents(&l);
	}
	if (opt_stats) {
		struct rr_stats st;
		rr_get_stats(repo, &st);
		printf("{\"stats\":{\"snapshots\":%" PRIu64 ",\"index_files\":%" PRIu64
		       ",\"index_files_read\":%" PRIu64 ",\"blobs\":%" PRIu64 ",\"packs\":%" PRIu64
		       ",\"index_bytes\":%" PRIu64 ",\"index_mapped\":%d,\"cache_bytes\":%" PRIu64
		       ",\"cache_hits\":%" PRIu64 ",\"cache_misses\":%" PRIu64
		       ",\"blob_fetches\":%" PRIu64 ",\"bytes_per_blob_const\":%d,\"errors\":%d}}\n",
		       st.snapshots, st.index_files, st.index_files_read, st.blobs, st.packs,
		       st.index_bytes, st.index_mapped, st.cache_bytes, st.cache_hits,
		       st.cache_misses, st.blob_fetches, RR_INDEX_BYTES_PER_BLOB, nerrors);
	}
	rr_close(repo);
	return 0;
}
