/* watch.c — GET /v1/watch and /v1/changes: the change watch of push mirrors.
 *
 * One inotify instance per agent, made at the first watch and read by one
 * thread.  Every directory of every watched subtree has an inotify watch; a
 * table maps each inotify wd to its directory's path below the root, so an
 * event becomes a root-relative path, which is then handed to every watch
 * (a registered directory) it lies below.  Watches overlap freely: the
 * kernel gives one wd per directory whatever asks for it, so a directory
 * under two watches costs one wd, and a wd is removed only once no live
 * watch covers its path.
 *
 * Each watch keeps its changes in a ring of (seq, path).  A cursor names the
 * watch and the last seq its holder has seen; "<token>.<id>.<seq>", where
 * the token is random per agent process, so a cursor from an earlier process
 * (or a watch since dropped) is unknown here.  A path already waiting in the
 * ring (after every cursor handed out) is not added twice, so a file written
 * in many small writes takes one slot.  What cannot be told exactly — the
 * kernel queue overflowed, a directory could not be watched, the ring moved
 * past a cursor, more paths than fit an answer — answers "overflow", and the
 * manager compares whole listings instead.  A watch is only a hint: the
 * manager never copies on its word alone.
 *
 * Directories are opened below the confined root with O_NOFOLLOW and watched
 * through /proc/self/fd, so the inode watched is the one opened, never one a
 * symlink swapped in meanwhile points at.  One lock guards everything; the
 * long-polls wait on its condition variable. */
#include "agent/mirror_api.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/util.h"

#define WATCH_RING 4096
#define WATCH_INDEX (2 * WATCH_RING)    /* open addressing, at most half full */
#define WATCH_ANSWER_MAX 1000
#define WATCH_IDLE_MS (10 * 60 * 1000)
#define WATCH_TIMEOUT_DEFAULT 5
#define WATCH_TIMEOUT_MAX 60
#define WATCH_DEPTH 256
#define WATCH_POLL_MS 1000              /* the reader looks for idle watches this often */
#define WATCH_CONFLICT ".cloudfs-conflict-"

/* IN_DONT_FOLLOW is added only where a path is watched by name: through
 * /proc/self/fd the magic link itself must be followed. */
#define WATCH_MASK (IN_CREATE | IN_DELETE | IN_MODIFY | IN_CLOSE_WRITE | IN_MOVED_FROM | \
		    IN_MOVED_TO | IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR | \
		    IN_EXCL_UNLINK)

struct change {
	uint64_t seq;
	uint64_t hash;
	char *path;               /* below the watch; NULL marks an overflow */
};

/* WATCH_INDEX slots, at most one per hash, each naming a ring entry. */
struct islot {
	uint64_t hash;
	uint64_t seq;             /* 0: empty */
};

struct watch {
	uint32_t id;
	char *path;               /* below the root, canonical; "" is the root */
	size_t plen;
	uint64_t seq;             /* of the newest change (0: none yet) */
	uint64_t delivered;       /* highest seq any cursor handed out names */
	uint64_t evicted;         /* highest seq pushed out of the ring */
	uint64_t mark;            /* seq of the newest overflow mark */
	struct change *ring;
	struct islot *index;      /* path hash → its newest seq in the ring */
	size_t head, count;
	int64_t used_ms;          /* registered or polled last */
	int waiters;
	bool gone;                /* its directory was removed or moved away */
};

struct wdent {
	int wd;
	char *path;               /* the directory, below the root */
	struct wdent *next;
};

struct wstate {
	struct agent *a;
	pthread_mutex_t lock;
	pthread_cond_t cond;      /* CLOCK_MONOTONIC; new changes, a waiter leaving */
	int ifd, efd;             /* inotify; eventfd that stops the reader */
	pthread_t thread;
	bool stop, woke;
	int64_t warned_ms;        /* last "cannot add a watch" warning */
	char token[17];
	uint32_t next_id;
	struct watch *w[AGENT_WATCH_MAX];
	int nw;
	int waiters;
	struct wdent **tab;       /* wd → path */
	size_t tab_size, tab_count;
	struct wstate *next;
};

static pthread_mutex_t states_lock = PTHREAD_MUTEX_INITIALIZER;
static struct wstate *states_head;

static uint64_t path_hash(const char *s)
{
	uint64_t h = 0xcbf29ce484222325u;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3u;
	return h;
}

/* The part of path below dir: "" for dir itself, NULL outside it. */
static const char *below(const char *path, const char *dir, size_t dlen)
{
	if (!dlen)
		return path;
	if (strncmp(path, dir, dlen))
		return NULL;
	if (!path[dlen])
		return path + dlen;
	return path[dlen] == '/' ? path + dlen + 1 : NULL;
}

/* Write-session temp files and conflict copies are the mirrors' own doing. */
static bool hidden(const char *path)
{
	const char *b = strrchr(path, '/');
	b = b ? b + 1 : path;
	return !strncmp(b, AGENT_TMP_PREFIX, sizeof AGENT_TMP_PREFIX - 1) ||
	       strstr(b, WATCH_CONFLICT);
}

/* ---- the wd table ---- */

static struct wdent **tab_slot(struct wstate *st, int wd)
{
	struct wdent **pp = &st->tab[(unsigned)wd & (st->tab_size - 1)];
	while (*pp && (*pp)->wd != wd)
		pp = &(*pp)->next;
	return pp;
}

static int tab_set(struct wstate *st, int wd, const char *path)
{
	if (st->tab_count >= st->tab_size) {
		size_t ns = st->tab_size ? st->tab_size * 2 : 256;
		struct wdent **nt = calloc(ns, sizeof *nt);
		if (!nt)
			return -ENOMEM;
		for (size_t i = 0; i < st->tab_size; i++)
			for (struct wdent *e = st->tab[i], *nx; e; e = nx) {
				nx = e->next;
				e->next = nt[(unsigned)e->wd & (ns - 1)];
				nt[(unsigned)e->wd & (ns - 1)] = e;
			}
		free(st->tab);
		st->tab = nt;
		st->tab_size = ns;
	}
	char *p = strdup(path);
	if (!p)
		return -ENOMEM;
	struct wdent **pp = tab_slot(st, wd);
	if (*pp) {
		free((*pp)->path);
		(*pp)->path = p;
		return 0;
	}
	struct wdent *e = malloc(sizeof *e);
	if (!e) {
		free(p);
		return -ENOMEM;
	}
	*e = (struct wdent){ .wd = wd, .path = p };
	*pp = e;
	st->tab_count++;
	return 0;
}

static const char *tab_get(struct wstate *st, int wd)
{
	if (!st->tab_size)
		return NULL;
	struct wdent *e = *tab_slot(st, wd);
	return e ? e->path : NULL;
}

/* Drop every entry keep() refuses; rm also removes the kernel's watch. */
static void tab_filter(struct wstate *st, bool (*keep)(struct wstate *, const char *, const void *),
		       const void *arg, bool rm)
{
	for (size_t i = 0; i < st->tab_size; i++)
		for (struct wdent **pp = &st->tab[i]; *pp;) {
			struct wdent *e = *pp;
			if (keep(st, e->path, arg)) {
				pp = &e->next;
				continue;
			}
			if (rm)
				inotify_rm_watch(st->ifd, e->wd);
			*pp = e->next;
			free(e->path);
			free(e);
			st->tab_count--;
		}
}

static bool covered(struct wstate *st, const char *path, const void *arg)
{
	(void)arg;
	for (int i = 0; i < st->nw; i++)
		if (!st->w[i]->gone && below(path, st->w[i]->path, st->w[i]->plen))
			return true;
	return false;
}

static bool not_below(struct wstate *st, const char *path, const void *dir)
{
	(void)st;
	return !below(path, dir, strlen(dir));
}

/* Remove the inotify watches no live watch needs any more. */
static void prune(struct wstate *st)
{
	tab_filter(st, covered, NULL, true);
}

/* ---- rings ---- */

/* The ring entry of seq, NULL when it is not in the ring. */
static struct change *ring_at(struct watch *w, uint64_t seq)
{
	if (!w->count || seq < w->ring[w->head].seq || seq > w->seq)
		return NULL;
	return &w->ring[(w->head + (seq - w->ring[w->head].seq)) % WATCH_RING];
}

/* The index slot of hash h, or the empty one where it would go. */
static struct islot *index_find(struct watch *w, uint64_t h)
{
	size_t k = h & (WATCH_INDEX - 1);
	while (w->index[k].seq && w->index[k].hash != h)
		k = (k + 1) & (WATCH_INDEX - 1);
	return &w->index[k];
}

/* Linear probing without tombstones: shift back what probed past s. */
static void index_del(struct watch *w, struct islot *s)
{
	size_t i = (size_t)(s - w->index), j = i;
	for (;;) {
		j = (j + 1) & (WATCH_INDEX - 1);
		if (!w->index[j].seq)
			break;
		size_t home = w->index[j].hash & (WATCH_INDEX - 1);
		bool stays = i <= j ? i < home && home <= j : i < home || home <= j;
		if (!stays) {
			w->index[i] = w->index[j];
			i = j;
		}
	}
	w->index[i].seq = 0;
}

/* Append path (NULL: an overflow mark) unless it already waits after every
 * cursor handed out.  true when something was appended. */
static bool ring_push(struct watch *w, const char *path)
{
	uint64_t h = path ? path_hash(path) : 0;
	char *p = NULL;
	if (path) {
		struct islot *s = index_find(w, h);
		struct change *c = s->seq > w->delivered ? ring_at(w, s->seq) : NULL;
		if (c && c->path && !strcmp(c->path, path))
			return false;
		if (!(p = strdup(path)))
			path = NULL;   /* out of memory: an overflow says as much */
	}
	if (!path && w->mark > w->delivered && w->mark > w->evicted)
		return false;
	if (w->count == WATCH_RING) {
		struct change *old = &w->ring[w->head];
		if (old->path) {
			struct islot *s = index_find(w, old->hash);
			if (s->seq == old->seq)
				index_del(w, s);
		}
		w->evicted = old->seq;
		free(old->path);
		w->head = (w->head + 1) % WATCH_RING;
		w->count--;
	}
	w->ring[(w->head + w->count) % WATCH_RING] = (struct change){
		.seq = ++w->seq, .hash = h, .path = p,
	};
	w->count++;
	if (path)
		*index_find(w, h) = (struct islot){ .hash = h, .seq = w->seq };
	else
		w->mark = w->seq;
	return true;
}

/* path (below the root) changed: tell every live watch it lies below. */
static void deliver(struct wstate *st, const char *path)
{
	if (hidden(path))
		return;
	for (int i = 0; i < st->nw; i++) {
		struct watch *w = st->w[i];
		const char *rel = w->gone ? NULL : below(path, w->path, w->plen);
		if (rel && *rel && ring_push(w, rel))
			st->woke = true;
	}
}

/* Changes under path (NULL: anywhere) may have been missed. */
static void overflow(struct wstate *st, const char *path)
{
	for (int i = 0; i < st->nw; i++) {
		struct watch *w = st->w[i];
		if (w->gone)
			continue;
		if (path && !below(path, w->path, w->plen))
			continue;
		if (ring_push(w, NULL))
			st->woke = true;
	}
}

/* ---- adding inotify watches ---- */

/* Watch the directory open as fd, whose path below the root is rel. */
static int add_watch(struct wstate *st, int fd, const char *rel)
{
	char pp[64];
	snprintf(pp, sizeof pp, "/proc/self/fd/%d", fd);
	int wd = inotify_add_watch(st->ifd, pp, WATCH_MASK);
	if (wd < 0 && errno == ENOENT) {
		/* no /proc: by name, the last component not followed */
		char *abs = NULL;
		const char *root = st->a->root;
		if (asprintf(&abs, "%s%s%s", root, *rel && strcmp(root, "/") ? "/" : "", rel) < 0)
			return -ENOMEM;
		wd = inotify_add_watch(st->ifd, abs, WATCH_MASK | IN_DONT_FOLLOW);
		int e = errno;
		free(abs);
		errno = e;
	}
	if (wd < 0)
		return -errno;
	int r = tab_set(st, wd, rel);
	if (r)
		inotify_rm_watch(st->ifd, wd);
	return r ? r : wd;
}

/* Watch the directory fd (path rel below the root) and every directory
 * below it, without following symlinks; with report, every entry found is
 * delivered as changed (it may have landed before its directory was
 * watched).  Only a failure to watch the top directory is returned. */
static int walk_add(struct wstate *st, int fd, char *rel, size_t rlen, int depth, bool report)
{
	int r = add_watch(st, fd, rel);
	if (r < 0) {
		if (r == -ENOSPC || r == -ENOMEM) {
			/* a big tree fails once per directory: say so once a minute */
			int64_t now = cfs_mono_ms();
			if (!st->warned_ms || now - st->warned_ms > 60000) {
				log_warn("watch: %s: %s (see fs.inotify.max_user_watches)",
					 *rel ? rel : ".", strerror(-r));
				st->warned_ms = now;
			}
			overflow(st, rel);
		}
		return r;
	}
	if (depth >= WATCH_DEPTH)
		return 0;
	int dfd = dup(fd);
	DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
	if (!d) {
		if (dfd >= 0)
			close(dfd);
		overflow(st, rel);
		return 0;
	}
	struct dirent *de;
	while ((de = readdir(d))) {
		const char *nm = de->d_name;
		size_t nl = strlen(nm);
		if (!strcmp(nm, ".") || !strcmp(nm, "..") || rlen + nl + 2 >= PATH_MAX)
			continue;
		size_t clen = rlen;
		if (rlen)
			rel[clen++] = '/';
		memcpy(rel + clen, nm, nl + 1);
		clen += nl;
		if (report)
			deliver(st, rel);
		bool dir = de->d_type == DT_DIR;
		if (de->d_type == DT_UNKNOWN) {
			struct stat sb;
			dir = !fstatat(fd, nm, &sb, AT_SYMLINK_NOFOLLOW) && S_ISDIR(sb.st_mode);
		}
		if (dir) {
			int cfd = openat(fd, nm, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (cfd >= 0) {
				walk_add(st, cfd, rel, clen, depth + 1, report);
				close(cfd);
			} else if (errno != ENOENT && errno != ENOTDIR && errno != ELOOP &&
				   errno != EACCES) {
				overflow(st, rel);   /* out of descriptors: not watched */
			}
		}
		rel[rlen] = '\0';
	}
	closedir(d);
	return 0;
}

/* A directory appeared at path (below the root): watch it and report what
 * is already inside. */
static void dir_arrived(struct wstate *st, const char *parent, const char *name)
{
	int pfd, fd;
	if (confine_open(&st->a->confine, parent, strlen(parent), O_PATH | O_DIRECTORY | O_CLOEXEC,
			 &pfd))
		return;   /* its parent went too: the parent's own events say so */
	fd = openat(pfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	close(pfd);
	if (fd < 0)
		return;
	char *rel = malloc(PATH_MAX);
	if (rel) {
		int n = snprintf(rel, PATH_MAX, "%s%s%s", parent, *parent ? "/" : "", name);
		if (n > 0 && n < PATH_MAX)
			walk_add(st, fd, rel, (size_t)n, 0, true);
	} else
		overflow(st, parent);
	free(rel);
	close(fd);
}

/* The directory at path was removed or moved away: its wds name stale
 * paths, and the watches at or below it have nothing left to watch. */
static void dir_left(struct wstate *st, const char *path)
{
	tab_filter(st, not_below, path, true);
	for (int i = 0; i < st->nw; i++)
		if (below(st->w[i]->path, path, strlen(path)))
			st->w[i]->gone = true;
	prune(st);
	st->woke = true;
}

static void handle_event(struct wstate *st, const struct inotify_event *ev)
{
	if (ev->mask & IN_Q_OVERFLOW) {
		log_warn("watch: the kernel's event queue overflowed");
		overflow(st, NULL);
		return;
	}
	const char *dir = tab_get(st, ev->wd);
	if (!dir)
		return;   /* a wd removed meanwhile */
	if (ev->mask & IN_IGNORED) {
		struct wdent **pp = tab_slot(st, ev->wd), *e = *pp;
		*pp = e->next;
		free(e->path);
		free(e);
		st->tab_count--;
		return;
	}
	if (!ev->len || !ev->name[0]) {
		/* about the directory itself; its parent (when watched) reports it */
		if (ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF)) {
			char *p = strdup(dir);
			if (p)
				dir_left(st, p);
			free(p);
		}
		return;
	}
	char path[PATH_MAX];
	int n = snprintf(path, sizeof path, "%s%s%s", dir, *dir ? "/" : "", ev->name);
	if (n < 0 || n >= (int)sizeof path)
		return;
	if (ev->mask & IN_ISDIR && ev->mask & (IN_DELETE | IN_MOVED_FROM))
		dir_left(st, path);
	deliver(st, path);
	if (ev->mask & IN_ISDIR && ev->mask & (IN_CREATE | IN_MOVED_TO) && covered(st, path, NULL)) {
		char parent[PATH_MAX];
		snprintf(parent, sizeof parent, "%s", dir);
		dir_arrived(st, parent, ev->name);
	}
}

/* ---- watches ---- */

static void watch_free(struct watch *w)
{
	if (!w)
		return;
	for (size_t i = 0; i < w->count; i++)
		free(w->ring[(w->head + i) % WATCH_RING].path);
	free(w->ring);
	free(w->index);
	free(w->path);
	free(w);
}

/* Drop the watches drop() picks (never one a long-poll waits on). */
static int drop_watches(struct wstate *st, bool (*drop)(const struct watch *, int64_t), int64_t arg)
{
	int n = 0;
	for (int i = 0; i < st->nw;) {
		struct watch *w = st->w[i];
		if (w->waiters || !drop(w, arg)) {
			i++;
			continue;
		}
		st->w[i] = st->w[--st->nw];
		watch_free(w);
		n++;
	}
	if (n)
		prune(st);
	return n;
}

static bool is_gone(const struct watch *w, int64_t arg)
{
	(void)arg;
	return w->gone;
}

static bool is_idle(const struct watch *w, int64_t before_ms)
{
	return w->used_ms <= before_ms;
}

/* ---- the reader thread ---- */

static void *reader(void *arg)
{
	struct wstate *st = arg;
	/* aligned for struct inotify_event */
	char buf[65536] __attribute__((aligned(__alignof__(struct inotify_event))));
	for (;;) {
		struct pollfd pf[2] = {
			{ .fd = st->ifd, .events = POLLIN },
			{ .fd = st->efd, .events = POLLIN },
		};
		int pr = poll(pf, 2, WATCH_POLL_MS);
		if (pr < 0 && errno != EINTR) {
			log_err("watch: poll: %s", strerror(errno));
			break;
		}
		pthread_mutex_lock(&st->lock);
		bool stop = st->stop;
		pthread_mutex_unlock(&st->lock);
		if (stop)
			break;
		if (pr > 0 && pf[0].revents & POLLIN) {
			for (;;) {
				ssize_t len = read(st->ifd, buf, sizeof buf);
				if (len <= 0)
					break;   /* EAGAIN: drained */
				pthread_mutex_lock(&st->lock);
				for (char *p = buf; p < buf + len;) {
					const struct inotify_event *ev = (const void *)p;
					handle_event(st, ev);
					p += sizeof *ev + ev->len;
				}
				if (st->woke)
					pthread_cond_broadcast(&st->cond);
				st->woke = false;
				pthread_mutex_unlock(&st->lock);
			}
		}
		pthread_mutex_lock(&st->lock);
		int n = drop_watches(st, is_idle, cfs_mono_ms() - WATCH_IDLE_MS);
		pthread_mutex_unlock(&st->lock);
		if (n)
			log_info("watch: dropped %d idle watch%s", n, n > 1 ? "es" : "");
	}
	return NULL;
}

/* ---- per-agent state ---- */

static struct wstate *state_find(struct agent *a)
{
	struct wstate *st;
	for (st = states_head; st && st->a != a; st = st->next)
		;
	return st;
}

static void state_free(struct wstate *st)
{
	for (int i = 0; i < st->nw; i++)
		watch_free(st->w[i]);
	for (size_t i = 0; i < st->tab_size; i++)
		for (struct wdent *e = st->tab[i], *nx; e; e = nx) {
			nx = e->next;
			free(e->path);
			free(e);
		}
	free(st->tab);
	if (st->ifd >= 0)
		close(st->ifd);
	if (st->efd >= 0)
		close(st->efd);
	pthread_cond_destroy(&st->cond);
	pthread_mutex_destroy(&st->lock);
	free(st);
}

/* The agent's watch state, made (with its reader thread) when create is set. */
static int state_get(struct agent *a, bool create, struct wstate **out)
{
	int r = 0;
	pthread_mutex_lock(&states_lock);
	struct wstate *st = state_find(a);
	if (st || !create)
		goto out;
	uint8_t rnd[8];
	if (!(st = calloc(1, sizeof *st))) {
		r = -ENOMEM;
		goto out;
	}
	st->a = a;
	st->ifd = st->efd = -1;
	pthread_mutex_init(&st->lock, NULL);
	cfs_cond_init_mono(&st->cond);
	if ((r = cfs_random(rnd, sizeof rnd)))
		goto fail;
	cfs_hex(rnd, sizeof rnd, st->token);
	st->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	st->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (st->ifd < 0 || st->efd < 0) {
		r = -errno;
		goto fail;
	}
	if ((r = -pthread_create(&st->thread, NULL, reader, st)))
		goto fail;
	st->next = states_head;
	states_head = st;
	goto out;
fail:
	state_free(st);
	st = NULL;
out:
	pthread_mutex_unlock(&states_lock);
	*out = st;
	return r;
}

void agent_watch_release(struct agent *a)
{
	pthread_mutex_lock(&states_lock);
	struct wstate **pp = &states_head;
	while (*pp && (*pp)->a != a)
		pp = &(*pp)->next;
	struct wstate *st = *pp;
	if (st)
		*pp = st->next;
	pthread_mutex_unlock(&states_lock);
	if (!st)
		return;
	pthread_mutex_lock(&st->lock);
	st->stop = true;
	pthread_cond_broadcast(&st->cond);
	while (st->waiters)   /* long-polls answer at once on stop */
		pthread_cond_wait(&st->cond, &st->lock);
	pthread_mutex_unlock(&st->lock);
	uint64_t one = 1;
	if (write(st->efd, &one, sizeof one) < 0)
		log_debug("watch: eventfd: %s", strerror(errno));
	pthread_join(st->thread, NULL);
	state_free(st);
}

int agent_watch_expire(struct agent *a, int64_t idle_ms)
{
	struct wstate *st;
	if (state_get(a, false, &st) || !st)
		return 0;
	pthread_mutex_lock(&st->lock);
	int n = drop_watches(st, is_idle, cfs_mono_ms() - idle_ms);
	pthread_mutex_unlock(&st->lock);
	return n;
}

/* ---- cursors ---- */

static void reply_cursor(struct wstate *st, struct watch *w, uint64_t seq, cJSON *j)
{
	char c[64];
	snprintf(c, sizeof c, "%s.%" PRIu32 ".%" PRIu64, st->token, w->id, seq);
	if (seq > w->delivered)
		w->delivered = seq;
	cJSON_AddStringToObject(j, "cursor", c);
}

/* "<16 hex>.<id>.<seq>" → its parts; -EINVAL when malformed. */
static int cursor_parse(const char *c, char token[17], uint32_t *id, uint64_t *seq)
{
	const char *d1 = strchr(c, '.'), *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
	char num[24];
	uint64_t v;
	if (!d2 || d1 - c != 16 || d2 - d1 - 1 < 1 || d2 - d1 - 1 > 10)
		return -EINVAL;
	for (int i = 0; i < 16; i++)
		if (!strchr("0123456789abcdef", c[i]) || !c[i])
			return -EINVAL;
	memcpy(token, c, 16);
	token[16] = '\0';
	memcpy(num, d1 + 1, (size_t)(d2 - d1 - 1));
	num[d2 - d1 - 1] = '\0';
	if (cfs_parse_u64(num, &v) || v > UINT32_MAX)
		return -EINVAL;
	*id = (uint32_t)v;
	if (strlen(d2 + 1) > 20 || cfs_parse_u64(d2 + 1, seq))
		return -EINVAL;
	return 0;
}

/* ---- routes ---- */

/* The canonical path below the root of the directory open as fd (symlinks
 * on the way resolved), so that two names for one directory share a watch;
 * the path as given when /proc cannot tell. */
static char *canonical(struct agent *a, int fd, const char *given)
{
	char pp[64], *link = malloc(PATH_MAX);
	snprintf(pp, sizeof pp, "/proc/self/fd/%d", fd);
	ssize_t n = link ? readlink(pp, link, PATH_MAX - 1) : -1;
	char *out = NULL;
	if (n > 0) {
		link[n] = '\0';
		const char *rel = !strcmp(a->root, "/") ? link + 1 : below(link, a->root, strlen(a->root));
		if (rel && *rel != '/')
			out = strdup(rel);
	}
	if (!out && link)
		out = strdup(strcmp(given, ".") ? given : "");
	free(link);
	return out;
}

void agent_route_watch(struct agent *a, const struct wire_request *rq, const struct query *q,
		       struct wire_response *rs)
{
	(void)rq;
	size_t len;
	const char *p = agent_query_get(q, "path", &len);
	if (!p) {
		agent_reply_error(rs, 400, "bad_request", "missing path=");
		return;
	}
	int fd;
	int r = confine_open(&a->confine, p, len, O_RDONLY | O_DIRECTORY | O_CLOEXEC, &fd);
	if (r) {
		agent_reply_confine_error(rs, r, "path");
		return;
	}
	struct wstate *st;
	char *canon = canonical(a, fd, p), *rel = malloc(PATH_MAX);
	struct watch *w = NULL;
	cJSON *j = cJSON_CreateObject();
	if (!canon || !rel || !j || strlen(canon) >= PATH_MAX) {
		agent_reply_error(rs, 500, "internal", "out of memory");
		goto out;
	}
	if ((r = state_get(a, true, &st))) {
		log_err("watch: cannot start: %s", strerror(-r));
		agent_reply_fs_error(rs, r, "watch");
		goto out;
	}
	pthread_mutex_lock(&st->lock);
	drop_watches(st, is_gone, 0);
	struct watch *have = NULL;
	for (int i = 0; i < st->nw && !have; i++)
		if (!strcmp(st->w[i]->path, canon))
			have = st->w[i];
	if (have) {
		have->used_ms = cfs_mono_ms();
		reply_cursor(st, have, have->seq, j);
		pthread_mutex_unlock(&st->lock);
		agent_reply_json(rs, 200, j);
		j = NULL;
		goto out;
	}
	if (st->nw >= AGENT_WATCH_MAX) {
		pthread_mutex_unlock(&st->lock);
		agent_reply_errno(rs, 503, "too_many_watches", EBUSY, "%d directories are watched already",
				  AGENT_WATCH_MAX);
		goto out;
	}
	if (!(w = calloc(1, sizeof *w)) || !(w->ring = calloc(WATCH_RING, sizeof *w->ring)) ||
	    !(w->index = calloc(WATCH_INDEX, sizeof *w->index))) {
		watch_free(w);
		w = NULL;
		pthread_mutex_unlock(&st->lock);
		agent_reply_error(rs, 500, "internal", "out of memory");
		goto out;
	}
	w->id = ++st->next_id;
	w->path = canon;
	w->plen = strlen(canon);
	canon = NULL;
	w->used_ms = cfs_mono_ms();
	/* listed first, so what the walk cannot watch marks this watch too */
	st->w[st->nw++] = w;
	snprintf(rel, PATH_MAX, "%s", w->path);
	r = walk_add(st, fd, rel, strlen(rel), 0, false);
	if (r < 0) {
		st->w[--st->nw] = NULL;
		watch_free(w);
		prune(st);
		pthread_mutex_unlock(&st->lock);
		agent_reply_fs_error(rs, r, "watch");
		w = NULL;
		goto out;
	}
	/* seq 0: a directory the walk could not watch is news for this cursor */
	reply_cursor(st, w, 0, j);
	if (st->woke)
		pthread_cond_broadcast(&st->cond);
	pthread_mutex_unlock(&st->lock);
	log_info("watch: %s (%u)", *w->path ? w->path : ".", (unsigned)w->id);
	agent_reply_json(rs, 200, j);
	j = NULL;
out:
	close(fd);
	cJSON_Delete(j);
	free(canon);
	free(rel);
}

/* Everything after since in w's ring into j, each path once. */
static int answer(struct wstate *st, struct watch *w, uint64_t since, cJSON *j)
{
	enum { SET = 2048 };   /* a hash set of the paths answered, under half full */
	const struct change **set = calloc(SET, sizeof *set);
	cJSON *paths = cJSON_AddArrayToObject(j, "paths"), *b64 = NULL;
	struct cfs_buf enc = { 0 };
	bool over = since < w->evicted;
	size_t n = 0;
	int r = set && paths ? 0 : -ENOMEM;
	size_t i0 = w->count && since >= w->ring[w->head].seq ? since - w->ring[w->head].seq + 1 : 0;
	for (size_t i = i0; i < w->count && !r; i++) {
		const struct change *c = &w->ring[(w->head + i) % WATCH_RING];
		if (!c->path) {
			over = true;
			continue;
		}
		size_t k = c->hash & (SET - 1);
		while (set[k] && (set[k]->hash != c->hash || strcmp(set[k]->path, c->path)))
			k = (k + 1) & (SET - 1);
		if (set[k])
			continue;
		if (n == WATCH_ANSWER_MAX) {
			over = true;
			break;
		}
		set[k] = c;
		n++;
		size_t len = strlen(c->path);
		if (agent_utf8_valid(c->path, len)) {
			cJSON *s = cJSON_CreateString(c->path);
			if (!s || !cJSON_AddItemToArray(paths, s))
				r = -ENOMEM;
			continue;
		}
		/* not UTF-8: base64 in paths_b64, as KEY_b64 elsewhere */
		cJSON *s = NULL;
		cfs_buf_reset(&enc);
		if ((!b64 && !(b64 = cJSON_AddArrayToObject(j, "paths_b64"))) ||
		    agent_base64(c->path, len, &enc) || !(s = cJSON_CreateString(enc.data)) ||
		    !cJSON_AddItemToArray(b64, s))
			r = -ENOMEM;
	}
	cfs_buf_free(&enc);
	free(set);
	if (r)
		return r;
	reply_cursor(st, w, w->seq, j);
	cJSON_AddBoolToObject(j, "overflow", over);
	return 0;
}

void agent_route_changes(struct agent *a, const struct wire_request *rq, const struct query *q,
			 struct wire_response *rs)
{
	(void)rq;
	const char *c = agent_query_get(q, "cursor", NULL);
	const char *ts = agent_query_get(q, "timeout", NULL);
	uint64_t timeout = WATCH_TIMEOUT_DEFAULT, since;
	uint32_t id;
	char token[17];
	if (!c)
		c = agent_query_get(q, "since", NULL);   /* DESIGN.md's name for it */
	if (!c) {
		agent_reply_error(rs, 400, "bad_request", "missing cursor=");
		return;
	}
	if (ts && cfs_parse_u64(ts, &timeout)) {
		agent_reply_error(rs, 400, "bad_request", "timeout must be whole seconds");
		return;
	}
	if (timeout > WATCH_TIMEOUT_MAX)
		timeout = WATCH_TIMEOUT_MAX;
	if (cursor_parse(c, token, &id, &since)) {
		agent_reply_error(rs, 400, "bad_request", "cursor must be what watch or changes said");
		return;
	}
	struct wstate *st;
	if (state_get(a, false, &st) || !st)
		goto unknown;
	pthread_mutex_lock(&st->lock);
	struct watch *w = NULL;
	for (int i = 0; i < st->nw && !w; i++)
		if (st->w[i]->id == id)
			w = st->w[i];
	if (!w || strcmp(token, st->token) || since > w->seq || w->gone) {
		pthread_mutex_unlock(&st->lock);
		goto unknown;
	}
	w->used_ms = cfs_mono_ms();
	/* past the cap of waiting polls, answer at once with what there is: the
	 * wire server's workers are few */
	if (since == w->seq && timeout && st->waiters < AGENT_WATCH_WAITERS && !st->stop) {
		struct timespec dl;
		clock_gettime(CLOCK_MONOTONIC, &dl);
		dl.tv_sec += (time_t)timeout;
		st->waiters++;
		w->waiters++;
		while (w->seq == since && !w->gone && !st->stop)
			if (pthread_cond_timedwait(&st->cond, &st->lock, &dl) == ETIMEDOUT)
				break;
		st->waiters--;
		w->waiters--;
		if (st->stop)
			pthread_cond_broadcast(&st->cond);   /* release waits for us */
		w->used_ms = cfs_mono_ms();
	}
	if (w->gone) {
		pthread_mutex_unlock(&st->lock);
		goto unknown;
	}
	cJSON *j = cJSON_CreateObject();
	int r = j ? answer(st, w, since, j) : -ENOMEM;
	pthread_mutex_unlock(&st->lock);
	if (r) {
		cJSON_Delete(j);
		agent_reply_error(rs, 500, "internal", "out of memory");
		return;
	}
	agent_reply_json(rs, 200, j);
	return;
unknown:
	agent_reply_errno(rs, 410, "unknown_cursor", ESTALE,
			  "no such watch here (dropped, or from an earlier agent process): watch again");
}
