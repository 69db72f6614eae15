/* htpasswd.c — the REST server's htpasswd file.
 *
 * The file is shared with the operator (who may keep hand-made entries in
 * it) and read by the server at any moment, so:
 *  - only the lines of the user being changed are touched; every other byte,
 *    comments, blank lines, CRLF line ends and a missing final newline
 *    included, is copied as it was;
 *  - writers take an exclusive flock on a lock file beside it (PATH.lock: the
 *    file itself is replaced, so it cannot carry the lock), write a temp file
 *    in the same directory and rename it over the old one, so the server
 *    sees either the old file or the new one, never a torn one;
 *  - the new file keeps the old one's mode and owner. */
#include <crypt.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/util.h"
#include "repos/repos.h"

#define HTPW_MAX_FILE (64u << 20)   /* refuse to slurp anything bigger */

/* Does the line (without its line end) belong to user? */
static bool line_is_user(const char *l, size_t n, const char *user, size_t ulen)
{
	return n > ulen && memcmp(l, user, ulen) == 0 && l[ulen] == ':';
}

/* Content length of a line without "\n" and a "\r" before it. */
static size_t content_len(const char *l, size_t n)
{
	if (n && l[n - 1] == '\n')
		n--;
	if (n && l[n - 1] == '\r')
		n--;
	return n;
}

int htpw_edit(const char *in, size_t len, const char *user, const char *new_line,
	      struct cfs_buf *out, struct cfs_buf *old, bool *changed)
{
	size_t ulen = strlen(user);
	bool replaced = false, found = false;
	const char *eol = "\n";
	int r = 0;
	cfs_buf_reset(out);
	if (old)
		cfs_buf_reset(old);
	for (size_t pos = 0; pos < len && !r;) {
		const char *l = in + pos;
		const char *nl = memchr(l, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - l) + 1 : len - pos;
		size_t c = content_len(l, n);
		if (nl)
			eol = (c + 2 == n) ? "\r\n" : "\n";
		pos += n;
		if (!line_is_user(l, c, user, ulen)) {
			r = cfs_buf_append(out, l, n);
			continue;
		}
		if (!found && old)
			r = cfs_buf_append(old, l, c);
		found = true;
		if (new_line && !replaced && !r) {
			/* the new line takes the old one's place and line end */
			r = cfs_buf_puts(out, new_line);
			if (!r)
				r = cfs_buf_append(out, l + c, n - c);
			replaced = true;
		}
	}
	if (!r && new_line && !replaced) {
		if (len && in[len - 1] != '\n')
			r = cfs_buf_puts(out, eol);
		if (!r)
			r = cfs_buf_puts(out, new_line);
		if (!r)
			r = cfs_buf_puts(out, eol);
	}
	if (!r && !out->data)
		r = cfs_buf_reserve(out, 1);   /* an empty result still has a buffer */
	if (r)
		return r;
	if (changed)
		*changed = out->len != len || memcmp(out->data, in, len) != 0;
	return 0;
}

int htpw_find(const char *in, size_t len, const char *user, struct cfs_buf *line)
{
	size_t ulen = strlen(user);
	for (size_t pos = 0; pos < len;) {
		const char *l = in + pos;
		const char *nl = memchr(l, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - l) + 1 : len - pos;
		size_t c = content_len(l, n);
		pos += n;
		if (line_is_user(l, c, user, ulen)) {
			cfs_buf_reset(line);
			return cfs_buf_append(line, l, c) ? -ENOMEM : 0;
		}
	}
	return -ENOENT;
}

static int lock_open(const char *path, int how, struct cfs_err *err)
{
	char lp[4200];
	if (snprintf(lp, sizeof lp, "%s.lock", path) >= (int)sizeof lp)
		return cfs_errf(err, -ENAMETOOLONG, "htpasswd path too long");
	int fd = open(lp, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return cfs_errf(err, -errno, "cannot open the lock file %s: %s", lp, strerror(errno));
	while (flock(fd, how)) {
		if (errno != EINTR) {
			int e = errno;
			close(fd);
			return cfs_errf(err, -e, "cannot lock %s: %s", lp, strerror(e));
		}
	}
	return fd;
}

/* Reads the whole file; a missing file is empty with *st zeroed. */
static int slurp(const char *path, struct cfs_buf *b, struct stat *st, bool *exists,
		 struct cfs_err *err)
{
	memset(st, 0, sizeof *st);
	*exists = false;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		return cfs_errf(err, -errno, "cannot open %s: %s", path, strerror(errno));
	}
	*exists = true;
	int r = 0;
	if (fstat(fd, st)) {
		r = cfs_errf(err, -errno, "cannot stat %s: %s", path, strerror(errno));
	} else if (!S_ISREG(st->st_mode)) {
		r = cfs_errf(err, -EINVAL, "%s is not a regular file", path);
	} else if ((uint64_t)st->st_size > HTPW_MAX_FILE) {
		r = cfs_errf(err, -EFBIG, "%s is too big", path);
	}
	char chunk[8192];
	while (!r) {
		ssize_t n = read(fd, chunk, sizeof chunk);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			r = cfs_errf(err, -errno, "cannot read %s: %s", path, strerror(errno));
		else if (n == 0)
			break;
		else if (cfs_buf_append(b, chunk, (size_t)n))
			r = cfs_errf(err, -ENOMEM, "out of memory");
		else if (b->len > HTPW_MAX_FILE)
			r = cfs_errf(err, -EFBIG, "%s is too big", path);
	}
	close(fd);
	return r;
}

/* Writes data to a temp file beside path with the given owner and mode, then
 * renames it over path and syncs the directory. */
static int replace_file(const char *path, const struct cfs_buf *data, uid_t uid, gid_t gid,
			mode_t mode, struct cfs_err *err)
{
	char tmp[4200], dir[4200];
	if (snprintf(tmp, sizeof tmp, "%s.XXXXXX", path) >= (int)sizeof tmp)
		return cfs_errf(err, -ENAMETOOLONG, "htpasswd path too long");
	int fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return cfs_errf(err, -errno, "cannot create a temp file beside %s: %s", path,
				strerror(errno));
	int r = cfs_write_full(fd, data->data, data->len);
	if (r) {
		cfs_errf(err, r, "cannot write %s: %s", tmp, strerror(-r));
	} else if (((uid != geteuid() || gid != getegid()) && fchown(fd, uid, gid)) ||
		   fchmod(fd, mode & 07777)) {
		r = cfs_errf(err, -errno, "cannot set owner and mode of %s: %s", tmp,
			     strerror(errno));
	} else if (fsync(fd)) {
		r = cfs_errf(err, -errno, "cannot sync %s: %s", tmp, strerror(errno));
	}
	if (close(fd) && !r)
		r = cfs_errf(err, -errno, "cannot write %s: %s", tmp, strerror(errno));
	if (!r && rename(tmp, path))
		r = cfs_errf(err, -errno, "cannot rename %s over %s: %s", tmp, path, strerror(errno));
	if (r) {
		unlink(tmp);
		return r;
	}
	snprintf(dir, sizeof dir, "%s", path);
	int dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
	return 0;
}

int htpw_update(const struct htpw_file *f, const char *user, const char *new_line,
		struct cfs_buf *old, struct cfs_err *err)
{
	int lfd = lock_open(f->path, LOCK_EX, err);
	if (lfd < 0)
		return lfd;
	struct cfs_buf cur = CFS_BUF_INIT, next = CFS_BUF_INIT;
	struct stat st;
	bool exists, changed = false;
	int r = slurp(f->path, &cur, &st, &exists, err);
	if (!r && htpw_edit(cur.data ? cur.data : "", cur.len, user, new_line, &next, old, &changed))
		r = cfs_errf(err, -ENOMEM, "out of memory");
	if (!r && changed) {
		if (exists)
			r = replace_file(f->path, &next, st.st_uid, st.st_gid, st.st_mode, err);
		else
			r = replace_file(f->path, &next, f->new_uid, f->new_gid, f->new_mode, err);
	}
	cfs_buf_free(&cur);
	if (next.data)
		explicit_bzero(next.data, next.len);
	cfs_buf_free(&next);
	close(lfd);   /* drops the lock */
	return r;
}

int htpw_lookup(const char *path, const char *user, struct cfs_buf *line, struct cfs_err *err)
{
	int lfd = lock_open(path, LOCK_SH, err);
	if (lfd < 0)
		return lfd;
	struct cfs_buf cur = CFS_BUF_INIT;
	struct stat st;
	bool exists;
	int r = slurp(path, &cur, &st, &exists, err);
	if (!r)
		r = htpw_find(cur.data ? cur.data : "", cur.len, user, line);
	cfs_buf_free(&cur);
	close(lfd);
	return r;
}

int htpw_hash(const char *password, int cost, char *out, size_t len, struct cfs_err *err)
{
	char salt[CRYPT_GENSALT_OUTPUT_SIZE];
	if (!crypt_gensalt_rn("$2b$", (unsigned long)cost, NULL, 0, salt, sizeof salt))
		return cfs_errf(err, -EIO, "bcrypt: cannot make a salt: %s", strerror(errno));
	struct crypt_data *cd = calloc(1, sizeof *cd);
	if (!cd)
		return cfs_errf(err, -ENOMEM, "out of memory");
	const char *h = crypt_rn(password, salt, cd, sizeof *cd);
	int r = 0;
	if (!h || strncmp(h, "$2b$", 4) != 0)
		r = cfs_errf(err, -EIO, "bcrypt is not available from the crypt library");
	else if (strlen(h) >= len)
		r = cfs_errf(err, -ENAMETOOLONG, "bcrypt hash too long");
	else
		snprintf(out, len, "%s", h);
	explicit_bzero(cd, sizeof *cd);
	free(cd);
	return r;
}
