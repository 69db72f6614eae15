/* session.c — write sessions: how a file written through the manager lands.
 *
 *   open    the caller opens the target for writing (so the permission check,
 *           O_CREAT/O_EXCL and the owner of a new file are the kernel's, as
 *           the caller).  Nothing else happens yet.
 *   write   chunks at offsets, each with its XXH3-128, verified before it is
 *           written.  The first change makes a temp file beside the target,
 *           ".cloudfs-tmp-XXXXXXXXXXXX", holding the current content (none
 *           after truncate=1); read / truncate / stat see the session's content.
 *   commit  with the expected XXH3-128 of the whole file when the manager
 *           knows it (verified), fsync, then an atomic rename over the target
 *           keeping its owner, mode and xattrs.  When the name no longer holds
 *           the inode that was opened (renamed or unlinked meanwhile), or that
 *           inode has other hard links, the content is copied into the opened
 *           inode instead, as writes to a local file would land there.  With
 *           keep=1 the session goes on (fsync(2) of a file still open), and
 *           the next change makes a new temp file: a commit leaves none behind.
 *   abort   removes the temp file.
 *   copy    bytes of another file on this host (the old copy of a file sent
 *           as a delta) into the content at an offset, as if written, with
 *           an optional XXH3-64 check: the manager sends only what the
 *           destination lacks.
 *
 * When the agent cannot create a file in the directory (a non-root agent
 * writing a file it may write in a directory it may not), the session writes
 * the target directly ("direct": no atomic replace; the hash is still
 * checked).  A write by a caller without CAP_FSETID drops the set-user-ID bit
 * (and set-group-ID with group execute), as the kernel does for local writes.
 * Sessions idle for AGENT_SESSION_IDLE_MS are reaped.  The listing's sweep
 * of stale temp files asks agent_sessions_hold which inodes live sessions
 * hold open. */
#include "agent/internal.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/fsuid.h>
#include <sys/ioctl.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <xxhash.h>

#include "agent/cdc.h"
#include "auth/crypto.h"
#include "core/log.h"
#include "core/util.h"

#define SESSIONS_MAX 4096
#define COPY_MAX (1u << 30)              /* bytes per copy request */
#define COPY_CHECK_FIRST (16u << 20)     /* up to this, a copy is verified before written */
#define COPY_BUF (1u << 20)
#define SHORT_SOURCE 1                   /* copy_*: the source ended early */

/* An inode a session holds open (its temp file, its target). */
struct held {
	bool set;
	dev_t dev;
	ino_t ino;
};

struct session {
	char id[33];
	int dirfd;                  /* O_PATH parent directory */
	char name[NAME_MAX + 1];
	char tmp[40];               /* the temp file's name in dirfd, "" when there is none */
	int fd;                     /* the temp file, -1 until the first change */
	int target_fd;              /* the target as the caller opened it */
	bool target_rw;             /* target_fd is readable too */
	int read_fd;                /* the target opened by us for reading, -1 until needed */
	bool direct;                /* no temp file possible: changes go to target_fd */
	bool empty;                 /* truncate=1 not applied yet: the content is empty */
	bool unpriv;                /* the writer lacks CAP_FSETID */
	bool wrote;                 /* changed since open or the last commit */
	struct agent_sessions *table;
	struct held held[2];        /* fd's and target_fd's inodes; under the table's lock */
	int64_t used_ms;
	int refs;                   /* requests using it now */
	bool gone;                  /* unlinked from the table; freed at refs 0 */
	pthread_mutex_t lock;       /* one operation at a time */
	struct session *next;
};

struct agent_sessions {
	pthread_mutex_t lock;
	struct session *head;
	size_t n;
};

int agent_sessions_new(struct agent_sessions **out)
{
	struct agent_sessions *s = calloc(1, sizeof *s);
	if (!s)
		return -ENOMEM;
	pthread_mutex_init(&s->lock, NULL);
	*out = s;
	return 0;
}

/* A temp file still named here is never wanted once the session ends: a
 * commit renamed or removed it already. */
static void session_destroy(struct session *s)
{
	if (s->tmp[0] && unlinkat(s->dirfd, s->tmp, 0) < 0 && errno != ENOENT)
		log_warn("cannot remove %s: %s", s->tmp, strerror(errno));
	if (s->fd >= 0)
		close(s->fd);
	if (s->read_fd >= 0)
		close(s->read_fd);
	if (s->target_fd >= 0)
		close(s->target_fd);
	if (s->dirfd >= 0)
		close(s->dirfd);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

void agent_sessions_free(struct agent_sessions *t)
{
	if (!t)
		return;
	struct session *s = t->head;
	while (s) {
		struct session *next = s->next;
		session_destroy(s);
		s = next;
	}
	pthread_mutex_destroy(&t->lock);
	free(t);
}

/* Take the session by id (refs + 1), or NULL. */
static struct session *acquire(struct agent_sessions *t, const char *id)
{
	struct session *s;
	pthread_mutex_lock(&t->lock);
	for (s = t->head; s; s = s->next)
		if (!strcmp(s->id, id))
			break;
	if (s) {
		s->refs++;
		s->used_ms = cfs_mono_ms();
	}
	pthread_mutex_unlock(&t->lock);
	return s;
}

static void unlink_locked(struct agent_sessions *t, struct session *s)
{
	for (struct session **pp = &t->head; *pp; pp = &(*pp)->next) {
		if (*pp == s) {
			*pp = s->next;
			t->n--;
			s->gone = true;
			return;
		}
	}
}

/* Drop our reference; with end, the session leaves the table too. */
static void release(struct agent_sessions *t, struct session *s, bool end)
{
	pthread_mutex_lock(&t->lock);
	if (end && !s->gone)
		unlink_locked(t, s);
	bool destroy = --s->refs == 0 && s->gone;
	pthread_mutex_unlock(&t->lock);
	if (destroy)
		session_destroy(s);
}

int agent_reap_sessions(struct agent *a, int64_t max_idle_ms)
{
	struct agent_sessions *t = a->sessions;
	struct session *dead = NULL;
	int n = 0;
	int64_t now = cfs_mono_ms();
	pthread_mutex_lock(&t->lock);
	for (struct session **pp = &t->head; *pp;) {
		struct session *s = *pp;
		if (s->refs == 0 && now - s->used_ms >= max_idle_ms) {
			*pp = s->next;
			t->n--;
			s->next = dead;
			dead = s;
			n++;
		} else {
			pp = &s->next;
		}
	}
	pthread_mutex_unlock(&t->lock);
	while (dead) {
		struct session *next = dead->next;
		log_info("write session on %s idle for too long: dropped", dead->name);
		session_destroy(dead);
		dead = next;
	}
	return n;
}

int agent_copy_fd(int src, int dst)
{
	if (ftruncate(dst, 0) < 0)
		return -errno;
	if (ioctl(dst, FICLONE, src) == 0)
		return 0;   /* shared extents, no bytes moved */
	off_t in = 0, out = 0;
	bool fallback = false;
	for (;;) {
		ssize_t n = copy_file_range(src, &in, dst, &out, 1 << 30, 0);
		if (n == 0)
			return 0;
		if (n > 0)
			continue;
		if (errno == EINTR)
			continue;
		if (errno == EXDEV || errno == EINVAL || errno == ENOSYS || errno == EOPNOTSUPP ||
		    errno == EBADF) {
			fallback = true;
			break;
		}
		return -errno;
	}
	if (!fallback)
		return 0;
	char buf[65536];
	for (;;) {
		ssize_t n = pread(src, buf, sizeof buf, in);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return 0;
		for (ssize_t done = 0; done < n;) {
			ssize_t w = pwrite(dst, buf + done, (size_t)(n - done), out);
			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0)
				return -errno;
			done += w;
			out += w;
		}
		in += n;
	}
}

/* Record the inodes of fd and target_fd for agent_sessions_hold, after
 * either changed. */
static void note_inodes(struct session *s)
{
	struct held h[2] = { { 0 } };
	int fds[2] = { s->fd, s->target_fd };
	for (int i = 0; i < 2; i++) {
		struct stat st;
		if (fds[i] >= 0 && fstat(fds[i], &st) == 0)
			h[i] = (struct held){ .set = true, .dev = st.st_dev, .ino = st.st_ino };
	}
	pthread_mutex_lock(&s->table->lock);
	memcpy(s->held, h, sizeof h);
	pthread_mutex_unlock(&s->table->lock);
}

bool agent_sessions_hold(struct agent *a, dev_t dev, ino_t ino)
{
	struct agent_sessions *t = a->sessions;
	bool found = false;
	pthread_mutex_lock(&t->lock);
	for (struct session *s = t->head; s && !found; s = s->next)
		for (int i = 0; i < 2; i++)
			found |= s->held[i].set && s->held[i].dev == dev && s->held[i].ino == ino;
	pthread_mutex_unlock(&t->lock);
	return found;
}

/* A fresh temp file in s->dirfd: s->tmp and *fd set; -errno. */
static int make_tmp(struct session *s, int *fd)
{
	for (int tries = 0; tries < 8; tries++) {
		uint8_t rnd[6];
		char hex[13];
		int r = cfs_random(rnd, sizeof rnd);
		if (r)
			return r;
		cfs_hex(rnd, sizeof rnd, hex);
		snprintf(s->tmp, sizeof s->tmp, "%s%s", AGENT_TMP_PREFIX, hex);
		int f = openat(s->dirfd, s->tmp, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
			       0600);
		if (f >= 0) {
			*fd = f;
			return 0;
		}
		if (errno != EEXIST) {
			s->tmp[0] = '\0';
			return -errno;
		}
	}
	s->tmp[0] = '\0';
	return -EEXIST;
}

/* A descriptor to read the target with: the caller's when it is readable,
 * else one we open ourselves (the caller may write but not read). */
static int target_reader(struct session *s, int *fd)
{
	if (s->target_rw) {
		*fd = s->target_fd;
		return 0;
	}
	if (s->read_fd < 0) {
		int f = openat(s->dirfd, s->name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
		if (f < 0)
			return -errno;
		struct stat a, b;
		if (fstat(f, &a) < 0 || fstat(s->target_fd, &b) < 0 || a.st_ino != b.st_ino ||
		    a.st_dev != b.st_dev) {
			close(f);
			return -ESTALE;   /* the name holds another file now */
		}
		s->read_fd = f;
	}
	*fd = s->read_fd;
	return 0;
}

/* Before the first change: the temp file with the current content, or
 * direct mode when the directory takes no new file from us. */
static int ensure_tmp(struct session *s)
{
	if (s->fd >= 0 || s->direct)
		return 0;
	int fd = -1, src = -1, r = make_tmp(s, &fd);
	if (r == -EACCES || r == -EPERM) {
		s->direct = true;
		if (s->empty && ftruncate(s->target_fd, 0) < 0)
			return -errno;
		s->empty = false;
		return 0;
	}
	if (r)
		return r;
	if (!s->empty && ((r = target_reader(s, &src)) || (r = agent_copy_fd(src, fd)))) {
		close(fd);
		unlinkat(s->dirfd, s->tmp, 0);
		s->tmp[0] = '\0';
		return r;
	}
	s->fd = fd;
	s->empty = false;
	note_inodes(s);
	return 0;
}

/* Where changes go (after ensure_tmp). */
static int write_fd(const struct session *s)
{
	return s->direct ? s->target_fd : s->fd;
}

/* Where the session's content is read from; -1 with 0 when it is empty. */
static int content_fd(struct session *s, int *fd)
{
	if (s->fd >= 0) {
		*fd = s->fd;
		return 0;
	}
	if (s->empty) {
		*fd = -1;
		return 0;
	}
	return target_reader(s, fd);
}

/* The target's attributes with the session's size and mtime. */
static int content_stat(struct session *s, struct stat *st)
{
	struct stat ct;
	if (fstat(s->target_fd, st) < 0)
		return -errno;
	if (s->fd >= 0) {
		if (fstat(s->fd, &ct) < 0)
			return -errno;
		st->st_size = ct.st_size;
		st->st_blocks = ct.st_blocks;
		st->st_mtim = ct.st_mtim;
	} else if (s->empty) {
		st->st_size = 0;
		st->st_blocks = 0;
	}
	return 0;
}

static void reply_session(struct wire_response *rs, int status, struct session *s,
			  bool created)
{
	struct stat st;
	cJSON *j = cJSON_CreateObject(), *sj = NULL;
	if (content_stat(s, &st) == 0)
		sj = agent_json_stat(&st);
	if (!j || !sj) {
		cJSON_Delete(j);
		cJSON_Delete(sj);
		agent_reply_error(rs, 500, "internal", "cannot describe the session");
		return;
	}
	cJSON_AddStringToObject(j, "session", s->id);
	cJSON_AddBoolToObject(j, "created", created);
	/* a hint before the first change: can we make a file in the directory? */
	cJSON_AddBoolToObject(j, "direct", s->direct || (s->fd < 0 &&
				faccessat(s->dirfd, ".", W_OK, AT_EACCESS) < 0));
	agent_json_i64(j, "size", st.st_size);
	cJSON_AddItemToObject(j, "stat", sj);
	agent_reply_json(rs, status, j);
}

static bool qflag(const struct query *q, const char *key)
{
	const char *v = agent_query_get(q, key, NULL);
	return v && (!strcmp(v, "1") || !strcmp(v, "yes") || !strcmp(v, "true"));
}

static void op_open(struct agent *a, const struct query *q, struct wire_response *rs)
{
	bool create = qflag(q, "create"), excl = qflag(q, "excl"), trunc = qflag(q, "truncate");
	mode_t mode = 0644;
	const char *ms = agent_query_get(q, "mode", NULL);
	if (ms && (agent_parse_mode(ms, &mode) || (mode & S_IFMT && !S_ISREG(mode)))) {
		agent_reply_error(rs, 400, "bad_request", "mode= is octal permission bits");
		return;
	}
	mode &= 07777;
	struct session *s = calloc(1, sizeof *s);
	if (!s) {
		agent_reply_error(rs, 500, "internal", "out of memory");
		return;
	}
	s->dirfd = s->fd = s->target_fd = s->read_fd = -1;
	s->empty = trunc;
	s->table = a->sessions;
	pthread_mutex_init(&s->lock, NULL);
	struct ident_save id;
	int r = agent_ident_enter(a, q, &id);
	if (r) {
		agent_reply_error(rs, 400, "bad_request", "uid=, gid= and groups= must be numbers");
		goto fail;
	}
	/* who writes: root keeps set-id bits, anyone else drops them */
	s->unpriv = !a->is_root || setfsuid((uid_t)-1) != 0;
	if (!agent_files_parent(a, q, "path", &s->dirfd, s->name, rs)) {
		agent_ident_leave(a, &id);
		goto fail;
	}
	struct stat st;
	bool existed = s->name[0] && fstatat(s->dirfd, s->name, &st, AT_SYMLINK_NOFOLLOW) == 0;
	int flags = O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC | (create ? O_CREAT : 0) |
		    (create && excl ? O_EXCL : 0);
	if (!s->name[0] || (existed && S_ISDIR(st.st_mode))) {
		r = -EISDIR;
	} else if (existed && !S_ISREG(st.st_mode) && !S_ISLNK(st.st_mode)) {
		r = -EINVAL;   /* never open devices or fifos for writing */
	} else {
		s->target_fd = openat(s->dirfd, s->name, O_RDWR | flags, mode);
		s->target_rw = s->target_fd >= 0;
		if (s->target_fd < 0 && errno == EACCES)
			s->target_fd = openat(s->dirfd, s->name, O_WRONLY | flags, mode);
		r = s->target_fd < 0 ? -errno : 0;
	}
	agent_ident_leave(a, &id);
	if (!r && (fstat(s->target_fd, &st) < 0 || !S_ISREG(st.st_mode)))
		r = S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL;
	if (r) {
		agent_reply_fs_error(rs, r, "file/open");
		goto fail;
	}
	uint8_t rnd[16];
	if (cfs_random(rnd, sizeof rnd)) {
		agent_reply_error(rs, 500, "internal", "no randomness");
		goto fail;
	}
	cfs_hex(rnd, sizeof rnd, s->id);
	s->used_ms = cfs_mono_ms();
	note_inodes(s);
	struct agent_sessions *t = a->sessions;
	pthread_mutex_lock(&t->lock);
	bool full = t->n >= SESSIONS_MAX;
	if (!full) {
		s->next = t->head;
		t->head = s;
		t->n++;
		s->refs = 1;
	}
	pthread_mutex_unlock(&t->lock);
	if (full) {
		agent_reply_errno(rs, 503, "too_many_sessions", EBUSY, "at most %d write sessions",
				  SESSIONS_MAX);
		goto fail;
	}
	reply_session(rs, 201, s, create && !existed);
	release(t, s, false);
	return;
fail:
	session_destroy(s);
}

static bool parse_u64q(const struct query *q, const char *key, bool required, uint64_t *out)
{
	const char *v = agent_query_get(q, key, NULL);
	if (!v) {
		*out = 0;
		return !required;
	}
	return cfs_parse_u64(v, out) == 0 && *out <= INT64_MAX;
}

/* {"size":N}: the content's size now (write and copy). */
static int reply_size(struct session *s, struct wire_response *rs)
{
	struct stat st;
	int r = content_stat(s, &st);
	if (r)
		return r;
	cJSON *j = cJSON_CreateObject();
	if (!j)
		return -ENOMEM;
	agent_json_i64(j, "size", st.st_size);
	agent_reply_json(rs, 200, j);
	return 0;
}

static int op_write(struct session *s, const struct wire_request *rq, const struct query *q,
		    struct wire_response *rs)
{
	uint64_t off;
	const char *want = agent_query_get(q, "xxh128", NULL);
	if (!parse_u64q(q, "offset", true, &off) || !want || strlen(want) != 32) {
		agent_reply_error(rs, 400, "bad_request", "write takes offset= and xxh128= (32 hex)");
		return 0;
	}
	char got[CFS_XXH128_HEX];
	cfs_xxh128_hex(rq->body ? rq->body : "", rq->body_len, got);
	if (strcasecmp(got, want)) {
		agent_reply_bad_hash(rs, 400, "the chunk does not match its xxh128", want, got);
		return 0;
	}
	int r = ensure_tmp(s);
	if (r)
		return r;
	const char *p = rq->body;
	size_t left = rq->body_len;
	while (left) {
		ssize_t w = pwrite(write_fd(s), p, left, (off_t)off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		p += w;
		left -= (size_t)w;
		off += (uint64_t)w;
	}
	s->wrote = true;
	return reply_size(s, rs);
}

static int op_sread(struct session *s, const struct query *q, struct wire_response *rs)
{
	uint64_t off, len;
	if (!parse_u64q(q, "offset", false, &off) || !parse_u64q(q, "length", false, &len) ||
	    len > AGENT_READ_MAX) {
		agent_reply_error(rs, 400, "bad_request", "read takes offset= and length= (at most %u)",
				  AGENT_READ_MAX);
		return 0;
	}
	if (!agent_query_get(q, "length", NULL))
		len = AGENT_READ_MAX;
	struct stat st;
	int fd, r = content_fd(s, &fd);
	if (!r)
		r = content_stat(s, &st);
	if (r)
		return r;
	if ((uint64_t)st.st_size <= off)
		len = 0;
	else if (len > (uint64_t)st.st_size - off)
		len = (uint64_t)st.st_size - off;
	cfs_buf_reset(&rs->body);
	r = cfs_buf_reserve(&rs->body, (size_t)len);
	while (!r && len && fd >= 0) {
		ssize_t got = pread(fd, rs->body.data + rs->body.len, (size_t)len, (off_t)off);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			r = -errno;
		if (got <= 0)
			break;
		rs->body.len += (size_t)got;
		off += (uint64_t)got;
		len -= (uint64_t)got;
	}
	if (r)
		return r;
	rs->body.data[rs->body.len] = '\0';
	rs->status = 200;
	rs->content_type = "application/octet-stream";
	return 0;
}

/* The mode a write leaves: set-user-ID goes, and set-group-ID when group
 * execute is on, unless the writer holds CAP_FSETID. */
static mode_t after_write(const struct session *s, mode_t mode)
{
	if (!s->unpriv || !s->wrote)
		return mode;
	if ((mode & S_ISGID) && (mode & S_IXGRP))
		mode &= ~(mode_t)S_ISGID;
	return mode & ~(mode_t)S_ISUID;
}

/* Give the replaced target's owner, mode and xattrs to the temp file. */
static int adopt_attrs(const struct session *s, int from, int to)
{
	struct stat st;
	if (fstat(from, &st) < 0)
		return -errno;
	if (fchown(to, st.st_uid, st.st_gid) < 0)
		return -errno;
	/* after chown, which clears set-id bits */
	if (fchmod(to, after_write(s, st.st_mode) & 07777) < 0)
		return -errno;
	char names[4096], val[4096];
	ssize_t n = flistxattr(from, names, sizeof names);
	for (ssize_t i = 0; n > 0 && i < n; i += (ssize_t)strlen(names + i) + 1) {
		ssize_t vl = fgetxattr(from, names + i, val, sizeof val);
		if (vl >= 0 && fsetxattr(to, names + i, val, (size_t)vl, 0) < 0)
			log_debug("xattr %s not carried over: %s", names + i, strerror(errno));
	}
	return 0;
}

static int fsync_dir(int dirfd)
{
	int d = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (d < 0)
		return -errno;
	int r = fsync(d) < 0 ? -errno : 0;
	close(d);
	return r == -EINVAL ? 0 : r;
}

/* The temp file's content becomes the target's: an atomic rename, or a copy
 * into the inode that was opened (see the top of the file). */
static int land(struct session *s)
{
	struct stat now, mine;
	int r;
	if (fsync(s->fd) < 0 || fstat(s->target_fd, &mine) < 0)
		return -errno;
	bool same = fstatat(s->dirfd, s->name, &now, AT_SYMLINK_NOFOLLOW) == 0 &&
		    now.st_ino == mine.st_ino && now.st_dev == mine.st_dev;
	if (same && mine.st_nlink == 1 && adopt_attrs(s, s->target_fd, s->fd) == 0) {
		if (renameat(s->dirfd, s->tmp, s->dirfd, s->name) < 0)
			return -errno;
		s->tmp[0] = '\0';
		fsync_dir(s->dirfd);
		close(s->target_fd);
		if (s->read_fd >= 0)
			close(s->read_fd);
		s->target_fd = s->fd;   /* the temp inode is the target now */
		s->target_rw = true;
		s->read_fd = s->fd = -1;
		note_inodes(s);
		return 0;
	}
	if ((r = agent_copy_fd(s->fd, s->target_fd)))
		return r;
	if (fsync(s->target_fd) < 0)
		return -errno;
	mode_t m = after_write(s, mine.st_mode);
	if (m != mine.st_mode)
		fchmod(s->target_fd, m & 07777);
	close(s->fd);
	unlinkat(s->dirfd, s->tmp, 0);
	s->tmp[0] = '\0';
	s->fd = -1;
	note_inodes(s);
	return 0;
}

/* Commit; *ended says the session is over (no keep). */
static int op_commit(struct session *s, const struct query *q, struct wire_response *rs,
		     bool *ended)
{
	const char *want = agent_query_get(q, "xxh128", NULL);
	bool keep = qflag(q, "keep");
	char got[CFS_XXH128_HEX] = "";
	int fd, r;
	if (want && strlen(want) != 32) {
		agent_reply_error(rs, 400, "bad_request", "xxh128= is 32 hex digits");
		return 0;
	}
	/* truncate=1 and nothing written: the file becomes empty all the same */
	if (s->empty && (r = ensure_tmp(s)))
		return r;
	if (want) {
		if ((r = content_fd(s, &fd)) || (r = cfs_xxh128_fd(fd, got)))
			return r;
		if (strcasecmp(got, want)) {
			agent_reply_bad_hash(rs, 409, "the file does not match the expected xxh128; nothing "
				       "was committed", want, got);
			return 0;
		}
	}
	if (s->fd >= 0) {
		if ((r = land(s)))
			return r;
	} else if (s->direct && s->wrote) {
		if (fsync(s->target_fd) < 0)
			return -errno;
		struct stat st;
		if (fstat(s->target_fd, &st) == 0 && after_write(s, st.st_mode) != st.st_mode)
			fchmod(s->target_fd, after_write(s, st.st_mode) & 07777);
	}
	s->wrote = false;
	struct stat st;
	if (fstat(s->target_fd, &st) < 0)
		return -errno;
	cJSON *j = cJSON_CreateObject(), *sj = agent_json_stat(&st);
	if (!j || !sj) {
		cJSON_Delete(j);
		cJSON_Delete(sj);
		return -ENOMEM;
	}
	cJSON_AddItemToObject(j, "stat", sj);
	if (got[0])
		cJSON_AddStringToObject(j, "xxh128", got);
	agent_reply_json(rs, 200, j);
	*ended = !keep;
	return 0;
}

static int op_struncate(struct session *s, const struct query *q, struct wire_response *rs)
{
	uint64_t size;
	if (!parse_u64q(q, "size", true, &size)) {
		agent_reply_error(rs, 400, "bad_request", "truncate takes size=");
		return 0;
	}
	/* to zero before any change: no need to copy what is about to go */
	if (size == 0 && s->fd < 0 && !s->direct)
		s->empty = true;
	int r = ensure_tmp(s);
	if (r)
		return r;
	if (ftruncate(write_fd(s), (off_t)size) < 0)
		return -errno;
	s->wrote = true;
	reply_session(rs, 200, s, false);
	return 0;
}

/* xxh64=: 16 hex digits of the XXH3-64's canonical (big-endian) form. */
static int parse_xxh64(const char *hex, uint64_t *out)
{
	uint8_t b[8];
	if (strlen(hex) != 16 || cfs_unhex(hex, b, sizeof b))
		return -EINVAL;
	*out = 0;
	for (int i = 0; i < 8; i++)
		*out = *out << 8 | b[i];
	return 0;
}

/* Exactly n bytes at off, or SHORT_SOURCE when the file ends first. */
static int pread_full(int fd, uint8_t *p, size_t n, uint64_t off)
{
	while (n) {
		ssize_t got = pread(fd, p, n, (off_t)off);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			return -errno;
		if (got == 0)
			return SHORT_SOURCE;
		p += got;
		n -= (size_t)got;
		off += (uint64_t)got;
	}
	return 0;
}

/* len bytes of src at from into dst at to, through a buffer; with xs the
 * bytes are hashed on the way. */
static int copy_through(int src, uint64_t from, int dst, uint64_t to, uint64_t len,
			XXH3_state_t *xs)
{
	uint8_t *buf = malloc(len < COPY_BUF ? (size_t)len : COPY_BUF);
	int r = buf ? 0 : -ENOMEM;
	while (!r && len) {
		size_t n = len < COPY_BUF ? (size_t)len : COPY_BUF;
		if ((r = pread_full(src, buf, n, from)))
			break;
		if (xs)
			XXH3_64bits_update(xs, buf, n);
		r = cfs_pwrite_full(dst, buf, n, to);
		from += n;
		to += n;
		len -= n;
	}
	free(buf);
	return r;
}

/* The same without a hash: in the kernel where it can (extents shared on
 * file systems that clone), else through a buffer. */
static int copy_plain(int src, uint64_t from, int dst, uint64_t to, uint64_t len)
{
	loff_t in = (loff_t)from, out = (loff_t)to;
	while (len) {
		ssize_t n = copy_file_range(src, &in, dst, &out, (size_t)len, 0);
		if (n > 0) {
			len -= (uint64_t)n;
			continue;
		}
		if (n == 0)
			return SHORT_SOURCE;
		if (errno == EINTR)
			continue;
		if (errno == EXDEV || errno == EINVAL || errno == ENOSYS || errno == EOPNOTSUPP ||
		    errno == EBADF)
			break;
		return -errno;
	}
	return len ? copy_through(src, (uint64_t)in, dst, (uint64_t)out, len, NULL) : 0;
}

/* The copy's source, as the caller: replies and returns false on failure. */
static bool copy_source(struct agent *a, const struct query *q, int *fd, struct stat *st,
			struct wire_response *rs)
{
	struct ident_save id;
	int dirfd, r;
	char name[NAME_MAX + 1];
	if (agent_ident_enter(a, q, &id)) {
		agent_reply_error(rs, 400, "bad_request", "uid=, gid= and groups= must be numbers");
		return false;
	}
	bool ok = agent_files_parent(a, q, "from", &dirfd, name, rs);
	if (ok) {
		r = agent_open_regular(dirfd, name, fd, st);
		close(dirfd);
		if (r) {
			agent_reply_fs_error(rs, r, "file/copy: from");
			ok = false;
		}
	}
	agent_ident_leave(a, &id);
	return ok;
}

static void reply_short_source(struct wire_response *rs, uint64_t from, uint64_t len)
{
	agent_reply_errno(rs, 409, "short_source", EIO,
			  "the source ends before from_offset + length (%llu + %llu)",
			  (unsigned long long)from, (unsigned long long)len);
}

static int op_copy(struct agent *a, struct session *s, const struct query *q,
		   struct wire_response *rs)
{
	uint64_t from, off, len, want = 0;
	const char *hs = agent_query_get(q, "xxh64", NULL);
	if (!parse_u64q(q, "from_offset", true, &from) || !parse_u64q(q, "offset", true, &off) ||
	    !parse_u64q(q, "length", true, &len) || len > COPY_MAX || from > INT64_MAX - len ||
	    off > INT64_MAX - len || (hs && parse_xxh64(hs, &want))) {
		agent_reply_error(rs, 400, "bad_request", "copy takes from=, from_offset=, offset=, "
				  "length= (at most %u) and optionally xxh64= (16 hex)", COPY_MAX);
		return 0;
	}
	int src;
	struct stat st;
	if (!copy_source(a, q, &src, &st, rs))
		return 0;
	int r = 0;
	uint8_t *buf = NULL;
	XXH3_state_t *xs = NULL;
	uint64_t got = 0;
	bool wrote = false;
	if ((uint64_t)st.st_size < from + len) {
		r = SHORT_SOURCE;
	} else if (len == 0) {
		got = XXH3_64bits("", 0);   /* nothing changes; a hash is still checked */
	} else if (hs && len <= COPY_CHECK_FIRST) {
		/* small enough to check whole before a byte is written */
		if (!(buf = malloc((size_t)len)))
			r = -ENOMEM;
		else if (!(r = pread_full(src, buf, (size_t)len, from)) &&
			 (got = XXH3_64bits(buf, (size_t)len)) == want && !(r = ensure_tmp(s))) {
			wrote = true;
			r = cfs_pwrite_full(write_fd(s), buf, (size_t)len, off);
		}
	} else if (hs) {
		/* written as it is hashed: a mismatch fails the request and the
		 * manager aborts the session */
		if (!(xs = XXH3_createState()) || XXH3_64bits_reset(xs) != XXH_OK) {
			r = -ENOMEM;
		} else if (!(r = ensure_tmp(s))) {
			wrote = true;
			if (!(r = copy_through(src, from, write_fd(s), off, len, xs)))
				got = XXH3_64bits_digest(xs);
		}
	} else if (!(r = ensure_tmp(s))) {
		wrote = true;
		r = copy_plain(src, from, write_fd(s), off, len);
	}
	close(src);
	free(buf);
	XXH3_freeState(xs);
	s->wrote |= wrote;
	if (r == SHORT_SOURCE) {
		reply_short_source(rs, from, len);
		return 0;
	}
	if (r)
		return r;
	if (hs && got != want) {
		char w[17], g[17];
		snprintf(w, sizeof w, "%016llx", (unsigned long long)want);
		snprintf(g, sizeof g, "%016llx", (unsigned long long)got);
		agent_reply_bad_hash(rs, 400, "the bytes copied do not match their xxh64", w, g);
		return 0;
	}
	return reply_size(s, rs);
}

bool agent_route_session(struct agent *a, const char *op, const struct wire_request *rq,
			 const struct query *q, struct wire_response *rs)
{
	const char *sid = agent_query_get(q, "session", NULL);
	static const char *const with_path[] = { "read", "truncate", "stat", "fsync" };
	bool always = !strcmp(op, "open") || !strcmp(op, "write") || !strcmp(op, "commit") ||
		      !strcmp(op, "abort") || !strcmp(op, "copy");
	bool maybe = false;
	for (size_t i = 0; i < 4; i++)
		maybe |= !strcmp(op, with_path[i]);
	if (!always && !(maybe && sid))
		return false;
	const char *m = rq->method ? rq->method : "";
	bool get = !strcmp(m, "GET"), post = !strcmp(m, "POST") || !strcmp(m, "PUT");
	bool want_get = !strcmp(op, "read") || !strcmp(op, "stat");
	if (want_get ? !get : !post) {
		agent_reply_error(rs, 405, "method_not_allowed", "file/%s takes %s", op,
				  want_get ? "GET" : "POST");
		return true;
	}
	if (!strcmp(op, "open")) {
		op_open(a, q, rs);
		return true;
	}
	struct session *s;
	if (!sid || !(s = acquire(a->sessions, sid))) {
		agent_reply_errno(rs, 404, "no_session", EIO, "no write session %.40s (ended or reaped)",
				  sid ? sid : "");
		return true;
	}
	bool end = false;
	int r = 0;
	pthread_mutex_lock(&s->lock);
	if (s->gone) {
		agent_reply_errno(rs, 404, "no_session", EIO, "the write session has ended");
	} else if (!strcmp(op, "write")) {
		r = op_write(s, rq, q, rs);
	} else if (!strcmp(op, "copy")) {
		r = op_copy(a, s, q, rs);
	} else if (!strcmp(op, "read")) {
		r = op_sread(s, q, rs);
	} else if (!strcmp(op, "truncate")) {
		r = op_struncate(s, q, rs);
	} else if (!strcmp(op, "stat")) {
		reply_session(rs, 200, s, false);
	} else if (!strcmp(op, "fsync")) {
		int f = s->fd >= 0 ? s->fd : s->direct ? s->target_fd : -1;
		if (f >= 0 && fsync(f) < 0)
			r = -errno;
		else
			agent_reply_ok(rs);
	} else if (!strcmp(op, "commit")) {
		r = op_commit(s, q, rs, &end);
	} else {   /* abort */
		end = true;
		agent_reply_ok(rs);
	}
	pthread_mutex_unlock(&s->lock);
	if (r) {
		char what[48];
		snprintf(what, sizeof what, "file/%s", op);
		agent_reply_fs_error(rs, r, what);
	}
	release(a->sessions, s, end);
	return true;
}
