/* be_local.c — a repository in a local directory (restic's local layout:
 * data/XX/ID, the others flat). */
#include "restic/rr_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct be_local {
	struct rr_be be;
	char *dir;
};

static int path_of(struct be_local *l, const char *type, const char *name, char *out, size_t n)
{
	int w;
	if (!name)
		w = snprintf(out, n, "%s/%s", l->dir, type);
	else if (strcmp(type, "data") == 0)
		w = snprintf(out, n, "%s/data/%.2s/%s", l->dir, name, name);
	else
		w = snprintf(out, n, "%s/%s/%s", l->dir, type, name);
	return w < 0 || (size_t)w >= n ? -ENAMETOOLONG : 0;
}

static int local_list(struct rr_be *be, const char *type, rr_list_fn fn, void *arg)
{
	struct be_local *l = (struct be_local *)be;
	char p[4096];
	int ret = path_of(l, type, NULL, p, sizeof p);
	if (ret)
		return ret;
	DIR *d = opendir(p);
	if (!d)
		return errno == ENOENT ? 0 : (errno == EACCES ? -EACCES : -EIO);
	int dfd = dirfd(d);
	struct dirent *e;
	while ((e = readdir(d))) {
		if (strlen(e->d_name) != 64)
			continue;
		struct stat st;
		if (fstatat(dfd, e->d_name, &st, 0) || !S_ISREG(st.st_mode))
			continue;
		ret = fn(arg, e->d_name, (uint64_t)st.st_size);
		if (ret)
			break;
	}
	closedir(d);
	return ret;
}

static int local_open(struct be_local *l, const char *type, const char *name, uint64_t *size)
{
	char p[4096];
	struct stat st;
	int ret = path_of(l, type, name, p, sizeof p);
	if (ret)
		return ret;
	int fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? -ENOENT : (errno == EACCES ? -EACCES : -EIO);
	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		close(fd);
		return -EIO;
	}
	*size = (uint64_t)st.st_size;
	return fd;
}

static int pread_all(int fd, uint8_t *dst, size_t len, uint64_t off)
{
	size_t got = 0;
	while (got < len) {
		ssize_t n = pread(fd, dst + got, len - got, (off_t)(off + got));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -EIO;
		got += (size_t)n;
	}
	return 0;
}

static int local_get(struct rr_be *be, const char *type, const char *name, struct cfs_buf *out)
{
	uint64_t size;
	int ret, fd = local_open((struct be_local *)be, type, name, &size);
	if (fd < 0)
		return fd;
	out->len = 0;
	if (size > (1u << 30))
		ret = -EFBIG;
	else if (!(ret = cfs_buf_reserve(out, (size_t)size)) &&
		 !(ret = pread_all(fd, (uint8_t *)out->data, (size_t)size, 0))) {
		out->len = (size_t)size;
		out->data[size] = '\0';
	}
	close(fd);
	return ret;
}

static int local_read(struct rr_be *be, const char *type, const char *name, uint64_t off,
		      uint64_t len, uint8_t *dst)
{
	uint64_t size;
	int ret, fd = local_open((struct be_local *)be, type, name, &size);
	if (fd < 0)
		return fd;
	/* shorter than the index says: a truncated pack */
	ret = off > size || len > size - off ? -EIO : pread_all(fd, dst, (size_t)len, off);
	close(fd);
	return ret;
}

static void local_close(struct rr_be *be)
{
	struct be_local *l = (struct be_local *)be;
	if (!l)
		return;
	free(l->dir);
	free(l);
}

static const struct rr_be_ops local_ops = {
	.list = local_list,
	.get = local_get,
	.read = local_read,
	.close = local_close,
};

int rr_be_local_open(const char *dir, struct rr_be **out, struct cfs_err *err)
{
	struct stat st;
	if (stat(dir, &st) || !S_ISDIR(st.st_mode))
		return cfs_errf(err, -ENOENT, "no repository at %s: not a directory", dir);
	struct be_local *l = calloc(1, sizeof *l);
	if (!l || !(l->dir = strdup(dir))) {
		free(l);
		return cfs_errf(err, -ENOMEM, "out of memory");
	}
	size_t n = strlen(l->dir);
	while (n > 1 && l->dir[n - 1] == '/')
		l->dir[--n] = '\0';
	l->be.ops = &local_ops;
	*out = &l->be;
	return 0;
}
