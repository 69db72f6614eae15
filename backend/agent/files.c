/* files.c — /v1/file/OP: the POSIX operations a FUSE filesystem needs, one
 * request each, on paths below the root (write sessions are in session.c).
 *
 * Every operation resolves the parent directory with confine_parent() and
 * acts on (parent fd, last name) with the *at() calls, never following the
 * last component: a symlink there is operated on as a symlink, exactly as
 * the kernel does for lstat, unlink, rename, readlink, lchown and
 * utimensat(AT_SYMLINK_NOFOLLOW).  Calls that have no *at() form without
 * following (chmod, the xattr calls, utimens on the root) go through
 * /proc/self/fd.  Each runs under the caller's identity (ident.c), so errnos
 * are the agent filesystem's own. */
#include "agent/internal.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "agent/cdc.h"
#include "core/util.h"

#define READDIR_MAX 5000

typedef int (*file_fn)(struct agent *a, const struct wire_request *rq, const struct query *q,
		       struct wire_response *rs);

int agent_parse_mode(const char *s, mode_t *out)
{
	if (!s || !*s || strlen(s) > 7)
		return -EINVAL;
	mode_t m = 0;
	for (const char *p = s; *p; p++) {
		if (*p < '0' || *p > '7')
			return -EINVAL;
		m = m << 3 | (mode_t)(*p - '0');
	}
	if (m > 0177777)
		return -EINVAL;
	*out = m;
	return 0;
}

bool agent_files_parent(struct agent *a, const struct query *q, const char *key, int *dirfd,
			char name[NAME_MAX + 1], struct wire_response *rs)
{
	size_t len;
	const char *p = agent_query_get(q, key, &len);
	if (!p) {
		agent_reply_error(rs, 400, "bad_request", "missing %s=", key);
		return false;
	}
	int r = confine_parent(&a->confine, p, len, dirfd, name);
	if (r) {
		agent_reply_confine_error(rs, r, key);
		return false;
	}
	return true;
}

/* The path to reach (dirfd, name) through /proc without following name. */
static void proc_path(char *buf, size_t n, int dirfd, const char *name)
{
	if (*name)
		snprintf(buf, n, "/proc/self/fd/%d/%s", dirfd, name);
	else
		snprintf(buf, n, "/proc/self/fd/%d", dirfd);
}

static int lstat_at(int dirfd, const char *name, struct stat *st)
{
	int r = *name ? fstatat(dirfd, name, st, AT_SYMLINK_NOFOLLOW)
		      : fstatat(dirfd, "", st, AT_EMPTY_PATH);
	return r < 0 ? -errno : 0;
}

static void reply_stat(struct wire_response *rs, int status, const struct stat *st)
{
	cJSON *j = cJSON_CreateObject(), *s = agent_json_stat(st);
	if (!j || !s) {
		cJSON_Delete(j);
		cJSON_Delete(s);
		agent_reply_error(rs, 500, "internal", "out of memory");
		return;
	}
	cJSON_AddItemToObject(j, "stat", s);
	agent_reply_json(rs, status, j);
}

/* Reply with the stat of what was just made at (dirfd, name). */
static int reply_made(struct wire_response *rs, int dirfd, const char *name)
{
	struct stat st;
	int r = lstat_at(dirfd, name, &st);
	if (r)
		return r;
	reply_stat(rs, 201, &st);
	return 0;
}

static int get_u64(const struct query *q, const char *key, uint64_t dflt, uint64_t *out)
{
	const char *s = agent_query_get(q, key, NULL);
	if (!s) {
		*out = dflt;
		return 0;
	}
	return cfs_parse_u64(s, out);
}

static bool flag(const struct query *q, const char *key)
{
	const char *s = agent_query_get(q, key, NULL);
	return s && (!strcmp(s, "1") || !strcmp(s, "yes") || !strcmp(s, "true"));
}

/* ----- reads ----- */

static int op_stat(struct agent *a, const struct wire_request *rq, const struct query *q,
		   struct wire_response *rs)
{
	(void)rq;
	int dirfd;
	char name[NAME_MAX + 1];
	struct stat st;
	if (!agent_files_parent(a, q, "path", &dirfd, name, rs))
		return 0;
	int r = lstat_at(dirfd, name, &st);
	close(dirfd);
	if (!r)
		reply_stat(rs, 200, &st);
	return r;
}

static int op_readdir(struct agent *a, const struct wire_request *rq, const struct query *q,
		      struct wire_response *rs)
{
	(void)rq;
	int pfd, fd;
	char name[NAME_MAX + 1];
	uint64_t offset, limit;
	if (get_u64(q, "offset", 0, &offset) || get_u64(q, "limit", READDIR_MAX, &limit) ||
	    limit == 0 || limit > READDIR_MAX) {
		agent_reply_error(rs, 400, "bad_request", "offset must be >= 0, limit 1..%d", READDIR_MAX);
		return 0;
	}
	if (!agent_files_parent(a, q, "path", &pfd, name, rs))
		return 0;
	int r = confine_open_at(pfd, name, O_RDONLY | O_DIRECTORY, &fd);
	close(pfd);
	if (r)
		return r == -ELOOP ? -ENOTDIR : r;
	DIR *d = fdopendir(fd);
	if (!d) {
		r = -errno;
		close(fd);
		return r;
	}
	cJSON *j = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(j, "entries");
	uint64_t index = 0, emitted = 0;
	bool more = false;
	while (arr) {
		errno = 0;
		struct dirent *de = readdir(d);
		if (!de) {
			r = -errno;
			break;
		}
		const char *n = de->d_name;
		if (!strcmp(n, ".") || !strcmp(n, "..") ||
		    !strncmp(n, AGENT_TMP_PREFIX, sizeof AGENT_TMP_PREFIX - 1))
			continue;
		if (index++ < offset)
			continue;
		if (emitted == limit) {
			more = true;
			break;
		}
		struct stat st;
		if (fstatat(dirfd(d), n, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;   /* gone since readdir saw it */
		cJSON *e = cJSON_CreateObject(), *s = agent_json_stat(&st);
		if (!e || !s || agent_json_bytes(e, "name", n, strlen(n))) {
			cJSON_Delete(e);
			cJSON_Delete(s);
			r = -ENOMEM;
			break;
		}
		cJSON_AddItemToObject(e, "stat", s);
		cJSON_AddItemToArray(arr, e);
		emitted++;
	}
	closedir(d);
	if (!arr)
		r = -ENOMEM;
	if (r) {
		cJSON_Delete(j);
		return r;
	}
	if (more)
		agent_json_u64(j, "next", offset + emitted);
	else
		cJSON_AddNullToObject(j, "next");
	agent_reply_json(rs, 200, j);
	return 0;
}

static int op_read(struct agent *a, const struct wire_request *rq, const struct query *q,
		   struct wire_response *rs)
{
	(void)rq;
	uint64_t offset, length;
	size_t plen;
	const char *path = agent_query_get(q, "path", &plen);
	if (!path || get_u64(q, "offset", 0, &offset) ||
	    get_u64(q, "length", AGENT_READ_MAX, &length) || length > AGENT_READ_MAX ||
	    offset > INT64_MAX) {
		agent_reply_error(rs, 400, "bad_request", "read takes path=, offset= and length= (at most %u)",
				  AGENT_READ_MAX);
		return 0;
	}
	int fd, r = confine_open(&a->confine, path, plen, O_RDONLY | O_NONBLOCK | O_NOCTTY, &fd);
	if (r) {
		agent_reply_confine_error(rs, r, "path");
		return 0;
	}
	struct stat st;
	if (fstat(fd, &st) < 0)
		r = -errno;
	else if (S_ISDIR(st.st_mode))
		r = -EISDIR;
	else if (!S_ISREG(st.st_mode))
		r = -EINVAL;   /* fifos and devices are the reader's kernel's business */
	/* reserve what the file holds now, not the whole length asked for */
	if (!r && (uint64_t)st.st_size <= offset)
		length = 0;
	else if (!r && length > (uint64_t)st.st_size - offset)
		length = (uint64_t)st.st_size - offset;
	cfs_buf_reset(&rs->body);
	if (!r)
		r = cfs_buf_reserve(&rs->body, (size_t)length);
	while (!r && length) {
		ssize_t got = pread(fd, rs->body.data + rs->body.len, (size_t)length, (off_t)offset);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			r = -errno;
		if (got <= 0)
			break;
		rs->body.len += (size_t)got;
		offset += (uint64_t)got;
		length -= (uint64_t)got;
	}
	close(fd);
	if (r)
		return r;
	rs->body.data[rs->body.len] = '\0';
	rs->status = 200;
	rs->content_type = "application/octet-stream";
	return 0;
}

static int op_readlink(struct agent *a, const struct wire_request *rq, const struct query *q,
		       struct wire_response *rs)
{
	(void)rq;
	int dirfd;
	char name[NAME_MAX + 1], target[PATH_MAX];
	if (!agent_files_parent(a, q, "path", &dirfd, name, rs))
		return 0;
	ssize_t n = *name ? readlinkat(dirfd, name, target, sizeof target) : -1;
	int r = !*name ? -EINVAL : n < 0 ? -errno : 0;
	close(dirfd);
	if (r)
		return r;
	cJSON *j = cJSON_CreateObject();
	if (!j || agent_json_bytes(j, "target", target, (size_t)n)) {
		cJSON_Delete(j);
		return -ENOMEM;
	}
	agent_reply_json(rs, 200, j);
	return 0;
}

/* access(2) as the caller: mode is R_OK|W_OK|X_OK (0: exists).  The
 * effective ids are the ones checked (AT_EACCESS), which are the caller's
 * under ident.c; the last name is not followed. */
static int op_access(struct agent *a, const struct wire_request *rq, const struct query *q,
		     struct wire_response *rs)
{
	(void)rq;
	uint64_t mode;
	int dirfd;
	char name[NAME_MAX + 1];
	if (get_u64(q, "mode", 0, &mode) || mode > 7) {
		agent_reply_error(rs, 400, "bad_request", "mode= is 0..7 (R_OK 4, W_OK 2, X_OK 1)");
		return 0;
	}
	if (!agent_files_parent(a, q, "path", &dirfd, name, rs))
		return 0;
	int r = faccessat(dirfd, name, (int)mode,
			  AT_EACCESS | (*name ? AT_SYMLINK_NOFOLLOW : AT_EMPTY_PATH)) < 0 ? -errno : 0;
	close(dirfd);
	if (!r)
		agent_reply_ok(rs);
	return r;
}

static int op_statfs(struct agent *a, const struct wire_request *rq, const struct query *q,
		     struct wire_response *rs)
{
	(void)rq;
	size_t plen = 0;
	const char *path = agent_query_get(q, "path", &plen);
	int fd, r = confine_open(&a->confine, path ? path : "", plen, O_PATH, &fd);
	if (r) {
		agent_reply_confine_error(rs, r, "path");
		return 0;
	}
	struct statvfs v;
	r = fstatvfs(fd, &v) < 0 ? -errno : 0;
	close(fd);
	if (r)
		return r;
	cJSON *j = cJSON_CreateObject();
	if (!j)
		return -ENOMEM;
	agent_json_u64(j, "bsize", v.f_bsize);
	agent_json_u64(j, "frsize", v.f_frsize);
	agent_json_u64(j, "blocks", v.f_blocks);
	agent_json_u64(j, "bfree", v.f_bfree);
	agent_json_u64(j, "bavail", v.f_bavail);
	agent_json_u64(j, "files", v.f_files);
	agent_json_u64(j, "ffree", v.f_ffree);
	agent_json_u64(j, "favail", v.f_favail);
	agent_json_u64(j, "namemax", v.f_namemax);
	agent_json_u64(j, "flags", v.f_flag);
	agent_reply_json(rs, 200, j);
	return 0;
}

/* ----- xattrs ----- */

static const char *xattr_name(const struct query *q, struct wire_response *rs)
{
	size_t len;
	const char *n = agent_query_get(q, "name", &len);
	if (!n || !len || len != strlen(n) || len > XATTR_NAME_MAX) {
		agent_reply_error(rs, 400, "bad_request", "name= must be an xattr name (1-255 bytes)");
		return NULL;
	}
	return n;
}

static int op_getxattr(struct agent *a, const struct wire_request *rq, const struct query *q,
		       struct wire_response *rs)
{
	(void)rq;
	int dirfd, r = 0;
	char name[NAME_MAX + 1], pp[64 + NAME_MAX];
	const char *xn = xattr_name(q, rs);
	if (!xn || !agent_files_parent(a, q, "path", &dirfd, name, rs))
		return 0;
	proc_path(pp, sizeof pp, dirfd, name);
	for (int tries = 0; tries < 4; tries++) {
		ssize_t n = *name ? lgetxattr(pp, xn, NULL, 0) : getxattr(pp, xn, NULL, 0);
		if (n < 0) {
			r = -errno;
			break;
		}
		cfs_buf_reset(&rs->body);
		if ((r = cfs_buf_reserve(&rs->body, (size_t)n)))
			break;
		ssize_t m = *name ? lgetxattr(pp, xn, rs->body.data, (size_t)n)
				  : getxattr(pp, xn, rs->body.data, (size_t)n);
		if (m < 0 && errno == ERANGE)
			continue;   /* grew between the two calls */
		r = m < 0 ? -errno : 0;
		if (!r) {
			rs->body.len = (size_t)m;
			rs->body.data[m] = '\0';
		}
		break;
	}
	close(dirfd);
	if (r)
		return r;
	rs->status = 200;
	rs->content_type = "application/octet-stream";
	return 0;
}

static int op_listxattr(struct agent *a, const struct wire_request *rq, const struct query *q,
			struct wire_response *rs)
{
	(void)rq;
	int dirfd, r = 0;
	char name[NAME_MAX + 1], pp[64 + NAME_MAX];
	char *buf = NULL;
	ssize_t m = 0;
	if (!agent_files_parent(a, q, "path", &dirfd, name, rs))
		return 0;
	proc_path(pp, sizeof pp, dirfd, name);
	for (int tries = 0; tries < 4; tries++) {
		ssize_t n = *name ? llistxattr(pp, NULL, 0) : listxattr(pp, NULL, 0);
		if (n < 0) {
			r = -errno;
			break;
		}
		free(buf);
		if (!(buf = malloc((size_t)n + 1))) {
			r = -ENOMEM;
			break;
		}
		m = *name ? llistxattr(pp, buf, (size_t)n) : listxattr(pp, buf, (size_t)n);
		if (m < 0 && errno == ERANGE)
			continue;
		r = m < 0 ? -errno : 0;
		break;
	}
	close(dirfd);
	cJSON *j = r ? NULL : cJSON_CreateObject();
	cJSON *arr = j ? cJSON_AddArrayToObject(j, "names") : NULL;
	if (!r && !arr)
		r = -ENOMEM;
	for (ssize_t i = 0; !r && i < m;) {
		size_t l = strnlen(buf + i, (size_t)(m - i));
		cJSON_AddItemToArray(arr, cJSON_CreateString(buf + i));
		i += (ssize_t)l + 1;
	}
	free(buf);
	if (r) {
		cJSON_Delete(j);
		return r;
	}
	agent_reply_json(rs, 200, j);
	return 0;
}

static int op_setxattr(struct agent *a, const struct wire_request *rq, const struct query *q,
		       struct wire_response *rs)
{
	int dirfd, flags = 0;
	char name[NAME_MAX + 1], pp[64 + NAME_MAX];
	const char *xn = xattr_name(q, rs);
	const char *fs = agent_query_get(q, "flags", NULL);
	if (!xn)
		return 0;
	if (fs && !strcmp(fs, "create"))
		flags = XATTR_CREATE;
	else if (fs && !strcmp(fs, "replace"))
		flags = XATTR_REPLACE;
	else if (fs && *fs && strcmp(fs, "0")) {
		agent_reply_error(rs, 400, "bad_request", "flags= is create, replace or absent");
		return 0;
	}
	if (!agent_files_parent(a, q, "path", &dirfd, name, rs))
		return 0;
	proc_path(pp, sizeof pp, dirfd, name);
	const void *v = rq->body ? rq->body : "";
	int r = (*name ? lsetxattr(pp, xn, v, rq->body_len, flags)
		       : setxattr(pp, xn, v, rq->body_len, flags)) < 0 ? -errno : 0;
	close(dirfd);
	if (!r)
		agent_reply_ok(rs);
	return r;
}

static int op_removexattr(struct agent *a, const struct wire_request *rq,
			  const struct query *q, struct wire_response *rs)
{
	(void)rq;
	int dirfd;
	char name[NAME_MAX + 1], pp[64 + NAME_MAX];
	const char *xn = xattr_name(q, rs);
	if (!xn || !agent_files_parent(a, q, "path", &dirfd, name, rs))
		return 0;
	proc_path(pp, sizeof pp, dirfd, name);
	int r = (*name ? lremovexattr(pp, xn) : removexattr(pp, xn)) < 0 ? -errno : 0;
	close(dirfd);
	if (!r)
		agent_reply_ok(rs);
	return r;
}

/* ----- changes ----- */

static int op_truncate(struct agent *a, const struct wire_request *rq, const struct query *q,
		       struct wire_response *rs)
{
	(void)rq;
	int dirfd, fd;
	char name[NAME_MAX + 1];
	uint64_t size;
	if (!agent_query_get(q, "size", NULL) || get_u64(q, "size", 0, &size) || size > INT64_MAX) {
		agent_reply_error(rs, 400, "bad_request", "truncate takes size=");
		return 0;
	}
	if (!agent_files_parent(a, q, "path", &dirfd, name, rs))
		return 0;
	int r = confine_open_at(dirfd, name, O_WRONLY | O_NONBLOCK | O_NOCTTY, &fd);
	close(dirfd);
	if (r)
		return r;
	struct stat st;
	r = fstat(fd, &st) < 0 ? -errno : !S_ISREG(st.st_mode) ? -EINVAL : 0;
	if (!r && ftruncate(fd, (off_t)size) < 0)
		r = -errno;
	if (!r && fstat(fd, &st) < 0)
		r = -errno;
	close(fd);
	if (!r)
		reply_stat(rs, 200, &st);
	return r;
}

static int op_unlink(struct agent *a, const struct wire_request *rq, const struct query *q,
		     struct wire_response *rs)
{
	(void)rq;
	int dirfd;
	char name[NAME_MAX + 1];
	if (!agent_files_parent(a, q, "path", &dirfd, name, rs))
		return 0;
	int r = !*name ? -EBUSY : unlinkat(dirfd, name, 0) < 0 ? -errno : 0;
	close(dirfd);
	if (!r)
		agent_reply_ok(rs);
	return r;
}

static int op_rmdir(struct agent *a, const struct wire_request *rq, const struct query *q,
		    struct wire_response *rs)
{
	(void)rq;
	int dirfd;
	char name[NAME_MAX + 1];
	if (!agent_files_parent(a, q, "path", &dirfd, name, rs))
		return 0;
	int r = !*name ? -EBUSY : unlinkat(dirfd, name, AT_REMOVEDIR) < 0 ? -errno : 0;
	close(dirfd);
	if (!r)
		agent_reply_ok(rs);
	return r;
}

static int op_mkdir(struct agent *a, const struct wire_request *rq, const struct query *q,
		    struct wire_response *rs)
{
	(void)rq;
	int dirfd;
	char name[NAME_MAX + 1];
	mode_t mode = 0755;
	const char *ms = agent_query_get(q, "mode", NULL);
	if (ms && (agent_parse_mode(ms, &mode) || (mode & S_IFMT))) {
		agent_reply_error(rs, 400, "bad_request", "mode= is octal permission bits");
		return 0;
	}
	if (!agent_files_parent(a, q, "path", &dirfd, name, rs))
		return 0;
	int r = !*name ? -EEXIST : mkdirat(dirfd, name, mode) < 0 ? -errno : 0;
	if (!r)
		r = reply_made(rs, dirfd, name);
	close(dirfd);
	return r;
}

static int op_mknod(struct agent *a, const struct wire_request *rq, const struct query *q,
		    struct wire_response *rs)
{
	(void)rq;
	int dirfd;
	char name[NAME_MAX + 1];
	mode_t mode = 0;
	uint64_t rdev;
	if (agent_parse_mode(agent_query_get(q, "mode", NULL), &mode) || get_u64(q, "rdev", 0, &rdev)) {
		agent_reply_error(rs, 400, "bad_request", "mknod takes mode= (octal, type bits included) "
				  "and rdev=");
		return 0;
	}
	if (!(mode & S_IFMT))
		mode |= S_IFREG;
	if (S_ISDIR(mode) || S_ISLNK(mode)) {
		agent_reply_error(rs, 400, "bad_request", "mknod makes files, fifos, devices and sockets");
		return 0;
	}
	if (!agent_files_parent(a, q, "path", &dirfd, name, rs))
		return 0;
	int r = !*name ? -EEXIST : mknodat(dirfd, name, mode, (dev_t)rdev) < 0 ? -errno : 0;
	if (!r)
		r = reply_made(rs, dirfd, name);
	close(dirfd);
	return r;
}

static int op_symlink(struct agent *a, const struct wire_request *rq, const struct query *q,
		      struct wire_response *rs)
{
	(void)rq;
	int dirfd;
	char name[NAME_MAX + 1];
	size_t tl;
	const char *target = agent_query_get(q, "target", &tl);
	if (!target || tl != strlen(target) || tl == 0 || tl >= PATH_MAX) {
		agent_reply_error(rs, 400, "bad_request", "symlink takes target= (1..%d bytes, no NUL)",
				  PATH_MAX - 1);
		return 0;
	}
	/* The target is only text here; following it is confined like any path. */
	if (!agent_files_parent(a, q, "path", &dirfd, name, rs))
		return 0;
	int r = !*name ? -EEXIST : symlinkat(target, dirfd, name) < 0 ? -errno : 0;
	if (!r)
		r = reply_made(rs, dirfd, name);
	close(dirfd);
	return r;
}

static int op_link(struct agent *a, const struct wire_request *rq, const struct query *q,
		   struct wire_response *rs)
{
	(void)rq;
	int d1, d2;
	char n1[NAME_MAX + 1], n2[NAME_MAX + 1];
	if (!agent_files_parent(a, q, "path", &d1, n1, rs))
		return 0;
	if (!agent_files_parent(a, q, "to", &d2, n2, rs)) {
		close(d1);
		return 0;
	}
	int r = !*n1 ? -EPERM : !*n2 ? -EEXIST : linkat(d1, n1, d2, n2, 0) < 0 ? -errno : 0;
	if (!r)
		r = reply_made(rs, d2, n2);
	close(d1);
	close(d2);
	return r;
}

static int op_rename(struct agent *a, const struct wire_request *rq, const struct query *q,
		     struct wire_response *rs)
{
	(void)rq;
	int d1, d2;
	char n1[NAME_MAX + 1], n2[NAME_MAX + 1];
	unsigned flags = 0;
	if (flag(q, "noreplace"))
		flags |= RENAME_NOREPLACE;
	if (flag(q, "exchange"))
		flags |= RENAME_EXCHANGE;
	if (!agent_files_parent(a, q, "path", &d1, n1, rs))
		return 0;
	if (!agent_files_parent(a, q, "to", &d2, n2, rs)) {
		close(d1);
		return 0;
	}
	int r = !*n1 || !*n2 ? -EBUSY : renameat2(d1, n1, d2, n2, flags) < 0 ? -errno : 0;
	close(d1);
	close(d2);
	if (!r)
		agent_reply_ok(rs);
	return r;
}

static int op_chmod(struct agent *a, const struct wire_request *rq, const struct query *q,
		    struct wire_response *rs)
{
	(void)rq;
	int dirfd, fd;
	char name[NAME_MAX + 1], pp[64];
	mode_t mode;
	if (agent_parse_mode(agent_query_get(q, "mode", NULL), &mode) || (mode & S_IFMT)) {
		agent_reply_error(rs, 400, "bad_request", "chmod takes mode= (octal permission bits)");
		return 0;
	}
	if (!agent_files_parent(a, q, "path", &dirfd, name, rs))
		return 0;
	/* chmod has no form that refuses a symlink: pin the inode first */
	int r = confine_open_at(dirfd, name, O_PATH, &fd);
	close(dirfd);
	if (r)
		return r;
	struct stat st;
	r = fstat(fd, &st) < 0 ? -errno : S_ISLNK(st.st_mode) ? -EOPNOTSUPP : 0;
	snprintf(pp, sizeof pp, "/proc/self/fd/%d", fd);
	if (!r && chmod(pp, mode) < 0)
		r = -errno;
	if (!r && fstat(fd, &st) < 0)
		r = -errno;
	close(fd);
	if (!r)
		reply_stat(rs, 200, &st);
	return r;
}

static int parse_id_opt(const struct query *q, const char *key, uint32_t *out)
{
	const char *s = agent_query_get(q, key, NULL);
	uint64_t v;
	if (!s || !strcmp(s, "-1")) {
		*out = (uint32_t)-1;
		return 0;
	}
	if (cfs_parse_u64(s, &v) || v >= UINT32_MAX)
		return -EINVAL;
	*out = (uint32_t)v;
	return 0;
}

static int op_chown(struct agent *a, const struct wire_request *rq, const struct query *q,
		    struct wire_response *rs)
{
	(void)rq;
	int dirfd;
	char name[NAME_MAX + 1];
	uint32_t uid, gid;
	if (parse_id_opt(q, "owner", &uid) || parse_id_opt(q, "group", &gid)) {
		agent_reply_error(rs, 400, "bad_request", "chown takes owner= and/or group= (numbers)");
		return 0;
	}
	if (!agent_files_parent(a, q, "path", &dirfd, name, rs))
		return 0;
	int r = fchownat(dirfd, name, uid, gid, *name ? AT_SYMLINK_NOFOLLOW : AT_EMPTY_PATH) < 0
		? -errno : 0;
	struct stat st;
	if (!r)
		r = lstat_at(dirfd, name, &st);
	close(dirfd);
	if (!r)
		reply_stat(rs, 200, &st);
	return r;
}

int agent_parse_time(const char *s, struct timespec *ts)
{
	if (!s || !strcmp(s, "omit")) {
		ts->tv_sec = 0;
		ts->tv_nsec = UTIME_OMIT;
		return 0;
	}
	if (!strcmp(s, "now")) {
		ts->tv_sec = 0;
		ts->tv_nsec = UTIME_NOW;
		return 0;
	}
	char buf[48];
	if (strlen(s) >= sizeof buf)
		return -EINVAL;
	strcpy(buf, s);
	char *colon = strchr(buf, ':');
	uint64_t sec, nsec = 0;
	if (colon) {
		*colon = '\0';
		if (cfs_parse_u64(colon + 1, &nsec) || nsec > 999999999)
			return -EINVAL;
	}
	bool neg = buf[0] == '-';
	if (cfs_parse_u64(buf + neg, &sec) || sec > INT64_MAX)
		return -EINVAL;
	ts->tv_sec = neg ? -(time_t)sec : (time_t)sec;
	ts->tv_nsec = (long)nsec;
	return 0;
}

static int op_utimens(struct agent *a, const struct wire_request *rq, const struct query *q,
		      struct wire_response *rs)
{
	(void)rq;
	int dirfd;
	char name[NAME_MAX + 1], pp[64];
	struct timespec ts[2];
	if (agent_parse_time(agent_query_get(q, "atime", NULL), &ts[0]) ||
	    agent_parse_time(agent_query_get(q, "mtime", NULL), &ts[1])) {
		agent_reply_error(rs, 400, "bad_request",
				  "atime= and mtime= are SEC[:NSEC], now or omit");
		return 0;
	}
	if (!agent_files_parent(a, q, "path", &dirfd, name, rs))
		return 0;
	int r;
	if (*name) {
		r = utimensat(dirfd, name, ts, AT_SYMLINK_NOFOLLOW) < 0 ? -errno : 0;
	} else {
		snprintf(pp, sizeof pp, "/proc/self/fd/%d", dirfd);
		r = utimensat(AT_FDCWD, pp, ts, 0) < 0 ? -errno : 0;
	}
	struct stat st;
	if (!r)
		r = lstat_at(dirfd, name, &st);
	close(dirfd);
	if (!r)
		reply_stat(rs, 200, &st);
	return r;
}

static int op_fsync(struct agent *a, const struct wire_request *rq, const struct query *q,
		    struct wire_response *rs)
{
	(void)rq;
	int dirfd, fd;
	char name[NAME_MAX + 1];
	if (!agent_files_parent(a, q, "path", &dirfd, name, rs))
		return 0;
	int r = confine_open_at(dirfd, name, O_RDONLY | O_NONBLOCK | O_NOCTTY, &fd);
	close(dirfd);
	if (r)
		return r;
	r = (flag(q, "datasync") ? fdatasync(fd) : fsync(fd)) < 0 ? -errno : 0;
	close(fd);
	if (!r)
		agent_reply_ok(rs);
	return r;
}

static const struct {
	const char *op;
	bool post;         /* false: GET */
	file_fn fn;
} file_ops[] = {
	{ "stat", false, op_stat },
	{ "readdir", false, op_readdir },
	{ "read", false, op_read },
	{ "chunks", false, agent_file_chunks },   /* chunks.c */
	{ "put", true, agent_file_put },          /* put.c */
	{ "readlink", false, op_readlink },
	{ "statfs", false, op_statfs },
	{ "access", false, op_access },
	{ "getxattr", false, op_getxattr },
	{ "listxattr", false, op_listxattr },
	{ "setxattr", true, op_setxattr },
	{ "removexattr", true, op_removexattr },
	{ "truncate", true, op_truncate },
	{ "unlink", true, op_unlink },
	{ "rmdir", true, op_rmdir },
	{ "mkdir", true, op_mkdir },
	{ "mknod", true, op_mknod },
	{ "symlink", true, op_symlink },
	{ "link", true, op_link },
	{ "rename", true, op_rename },
	{ "chmod", true, op_chmod },
	{ "chown", true, op_chown },
	{ "utimens", true, op_utimens },
	{ "fsync", true, op_fsync },
};

void agent_route_file(struct agent *a, const char *op, const struct wire_request *rq,
		      const struct query *q, struct wire_response *rs)
{
	for (size_t i = 0; i < sizeof file_ops / sizeof file_ops[0]; i++) {
		if (strcmp(op, file_ops[i].op))
			continue;
		const char *m = rq->method ? rq->method : "";
		bool ok = file_ops[i].post ? !strcmp(m, "POST") || !strcmp(m, "PUT")
					   : !strcmp(m, "GET");
		if (!ok) {
			agent_reply_error(rs, 405, "method_not_allowed", "file/%s takes %s", op,
					  file_ops[i].post ? "POST" : "GET");
			return;
		}
		struct ident_save id;
		int r = agent_ident_enter(a, q, &id);
		if (r) {
			agent_reply_error(rs, 400, "bad_request", "uid=, gid= and groups= must be numbers");
			return;
		}
		r = file_ops[i].fn(a, rq, q, rs);
		agent_ident_leave(a, &id);
		if (r) {
			char what[48];
			snprintf(what, sizeof what, "file/%s", op);
			agent_reply_fs_error(rs, r, what);
		}
		return;
	}
	agent_reply_error(rs, 404, "not_found", "no file operation %.64s", op);
}
