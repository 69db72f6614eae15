/* confine.c — paths below the agent's root (see confine.h for the rules). */
#include "agent/confine.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define CONFINE_MAX_LINKS 40     /* as the kernel's own limit */
#define CONFINE_MAX_DEPTH 512    /* directory levels the walk holds open */

static bool is_root_path(const char *path, size_t len)
{
	return len == 0 || (len == 1 && path[0] == '.');
}

int confine_check(const char *path, size_t len)
{
	if (is_root_path(path, len))
		return 0;
	if (memchr(path, '\0', len) || path[0] == '/')
		return -EXDEV;
	int bad = 0;
	size_t i = 0;
	while (i <= len) {
		size_t j = i;
		while (j < len && path[j] != '/')
			j++;
		size_t n = j - i;
		if (n == 2 && path[i] == '.' && path[i + 1] == '.')
			return -EXDEV;      /* wins over any other complaint */
		if (!bad && (n == 0 || (n == 1 && path[i] == '.')))
			bad = -EINVAL;
		if (!bad && n > NAME_MAX)
			bad = -ENAMETOOLONG;
		i = j + 1;
	}
	if (!bad && len >= CONFINE_PATH_MAX)
		bad = -ENAMETOOLONG;
	return bad;
}

static int sys_openat2(int dirfd, const char *path, int flags)
{
#ifdef SYS_openat2
	struct open_how how = {
		.flags = (unsigned long long)(flags | O_CLOEXEC),
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
	};
	int fd, tries = 0;
	do {
		fd = (int)syscall(SYS_openat2, dirfd, path, &how, sizeof how);
	} while (fd < 0 && errno == EAGAIN && ++tries < 8);   /* a rename raced ".." */
	return fd < 0 ? -errno : fd;
#else
	(void)dirfd; (void)path; (void)flags;
	return -ENOSYS;
#endif
}

/* The component-by-component walk.  rest is a scratch copy of the path that
 * symlink targets are spliced into; fds holds one descriptor per level, so
 * ".." is always the level we came from and never above the root. */
static int walk(int rootfd, const char *path, int flags, int *out)
{
	size_t cap = strlen(path) + 2 * PATH_MAX + 2;
	char *rest = malloc(cap), *tmp = malloc(cap), *target = malloc(PATH_MAX);
	int *fds = malloc(sizeof *fds * (CONFINE_MAX_DEPTH + 1));
	int depth = -1, links = 0, r = 0;
	if (!rest || !tmp || !target || !fds) {
		r = -ENOMEM;
		goto out;
	}
	strcpy(rest, path);
	fds[0] = fcntl(rootfd, F_DUPFD_CLOEXEC, 0);
	if (fds[0] < 0) {
		r = -errno;
		goto out;
	}
	depth = 0;
	char *pos = rest;
	for (;;) {
		while (*pos == '/')
			pos++;
		if (!*pos) {
			/* nothing left: the directory we stand in is the answer */
			int fd = openat(fds[depth], ".", flags | O_CLOEXEC);
			r = fd < 0 ? -errno : 0;
			if (fd >= 0)
				*out = fd;
			goto out;
		}
		char *comp = pos;
		while (*pos && *pos != '/')
			pos++;
		size_t n = (size_t)(pos - comp);
		char save = *pos;
		*pos = '\0';
		char *after = save ? pos + 1 : pos;
		while (*after == '/')
			after++;
		bool last = !*after;
		if (n == 1 && comp[0] == '.') {
			pos = after;
			continue;
		}
		if (n == 2 && comp[0] == '.' && comp[1] == '.') {
			if (depth == 0) {
				r = -EXDEV;
				goto out;
			}
			close(fds[depth--]);
			pos = after;
			continue;
		}
		if (n > NAME_MAX) {
			r = -ENAMETOOLONG;
			goto out;
		}
		int fd = openat(fds[depth], comp, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		struct stat st;
		if (fd < 0 || fstat(fd, &st) < 0) {
			r = -errno;
			if (fd >= 0)
				close(fd);
			goto out;
		}
		if (S_ISLNK(st.st_mode)) {
			ssize_t tl = readlinkat(fd, "", target, PATH_MAX);
			close(fd);
			if (++links > CONFINE_MAX_LINKS) {
				r = -ELOOP;
				goto out;
			}
			if (tl < 0) {
				r = -errno;
				goto out;
			}
			if (tl == 0) {
				r = -ENOENT;
				goto out;
			}
			if (target[0] == '/') {
				r = -EXDEV;
				goto out;
			}
			size_t al = strlen(after);
			if ((size_t)tl + 1 + al + 1 > cap) {
				r = -ENAMETOOLONG;
				goto out;
			}
			/* target + "/" + the rest; no '/' when nothing follows, as a
			 * trailing one would demand a directory */
			memcpy(tmp, target, (size_t)tl);
			if (al)
				tmp[tl++] = '/';
			memcpy(tmp + tl, after, al + 1);
			char *swap = rest;
			rest = tmp;
			tmp = swap;
			pos = rest;
			continue;
		}
		if (last) {
			/* Reopen with the caller's flags; O_NOFOLLOW and the inode check
			 * catch a symlink swapped in since the fstat above.  A name
			 * followed by '/' ("dir/" in a link target) must be a directory. */
			int fl = flags | O_NOFOLLOW | O_CLOEXEC | (save == '/' ? O_DIRECTORY : 0);
			int fd2 = openat(fds[depth], comp, fl);
			struct stat st2;
			if (fd2 < 0 || fstat(fd2, &st2) < 0) {
				r = -errno;
			} else if (st2.st_ino != st.st_ino || st2.st_dev != st.st_dev) {
				r = -ESTALE;
			} else {
				*out = fd2;
				fd2 = -1;
			}
			if (fd2 >= 0)
				close(fd2);
			close(fd);
			goto out;
		}
		if (!S_ISDIR(st.st_mode) || depth == CONFINE_MAX_DEPTH) {
			close(fd);
			r = S_ISDIR(st.st_mode) ? -ENAMETOOLONG : -ENOTDIR;
			goto out;
		}
		fds[++depth] = fd;
		pos = after;
	}
out:
	while (depth >= 0)
		close(fds[depth--]);
	free(rest);
	free(tmp);
	free(target);
	free(fds);
	return r;
}

/* Resolve path (already checked, NUL-terminated) with flags.  A path too
 * long for one system call (deep trees are legal; only each call's string is
 * bounded) takes the walk. */
static int resolve(const struct confine *c, const char *path, int flags, int *out)
{
	if (!c->walk && strlen(path) < PATH_MAX) {
		int fd = sys_openat2(c->rootfd, *path ? path : ".", flags);
		if (fd >= 0) {
			*out = fd;
			return 0;
		}
		if (fd != -ENOSYS && fd != -EPERM)   /* EPERM: a seccomp filter refusing it */
			return fd;
	}
	return walk(c->rootfd, path, flags, out);
}

int confine_parent(const struct confine *c, const char *path, size_t len, int *dirfd,
		   char name[NAME_MAX + 1])
{
	if (!path)
		return -EINVAL;
	int r = confine_check(path, len);
	if (r)
		return r;
	if (is_root_path(path, len)) {
		int fd = fcntl(c->rootfd, F_DUPFD_CLOEXEC, 0);
		if (fd < 0)
			return -errno;
		*dirfd = fd;
		name[0] = '\0';
		return 0;
	}
	const char *slash = memrchr(path, '/', len);
	const char *last = slash ? slash + 1 : path;
	size_t ln = len - (size_t)(last - path);
	size_t pn = slash ? (size_t)(slash - path) : 0;
	char *parent = strndup(path, pn);
	if (!parent)
		return -ENOMEM;
	r = resolve(c, parent, O_PATH | O_DIRECTORY, dirfd);
	free(parent);
	if (r)
		return r;
	memcpy(name, last, ln);
	name[ln] = '\0';
	return 0;
}

int confine_open(const struct confine *c, const char *path, size_t len, int flags, int *fd)
{
	int r = confine_check(path, len);
	if (r)
		return r;
	char *buf = is_root_path(path, len) ? strdup("") : strndup(path, len);
	if (!buf)
		return -ENOMEM;
	r = resolve(c, buf, flags & ~O_CREAT, fd);
	free(buf);
	return r;
}

int confine_open_at(int dirfd, const char *name, int flags, int *fd)
{
	int r = *name ? openat(dirfd, name, flags | O_NOFOLLOW | O_CLOEXEC)
		      : openat(dirfd, ".", flags | O_CLOEXEC);
	if (r < 0)
		return -errno;
	*fd = r;
	return 0;
}
