/* disk.c — walking a repository directory: usage for the quota, chown -R to
 * the REST server's user, and removal when an add rolls back.
 *
 * The walk goes by directory descriptors (openat, fstatat, fchownat,
 * unlinkat) and never follows a symlink, so a link planted in a repository
 * cannot make cloudfs count, chown or delete anything outside it. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "repos/repos.h"

#define DISK_MAX_DEPTH 16   /* restic's layout is 3 deep */

enum walk_op { W_USAGE, W_CHOWN, W_REMOVE };

struct walk {
	enum walk_op op;
	uid_t uid;
	gid_t gid;
	uint64_t apparent, allocated;
	int first_err;
};

static void note_err(struct walk *w, int e)
{
	if (!w->first_err)
		w->first_err = -e;
}

/* Visits the entries of the directory open at dfd (which it closes). */
static void walk_dir(struct walk *w, int dfd, int depth)
{
	DIR *d = fdopendir(dfd);
	if (!d) {
		note_err(w, errno);
		close(dfd);
		return;
	}
	struct dirent *de;
	while ((de = readdir(d))) {
		const char *n = de->d_name;
		if (strcmp(n, ".") == 0 || strcmp(n, "..") == 0)
			continue;
		struct stat st;
		if (fstatat(dirfd(d), n, &st, AT_SYMLINK_NOFOLLOW)) {
			if (errno != ENOENT)   /* a file pruned meanwhile is fine */
				note_err(w, errno);
			continue;
		}
		if (S_ISDIR(st.st_mode) && depth < DISK_MAX_DEPTH) {
			int sub = openat(dirfd(d), n, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (sub < 0)
				note_err(w, errno);
			else
				walk_dir(w, sub, depth + 1);
		} else if (S_ISDIR(st.st_mode)) {
			note_err(w, ELOOP);
			continue;
		}
		switch (w->op) {
		case W_USAGE:
			if (S_ISREG(st.st_mode))
				w->apparent += (uint64_t)st.st_size;
			w->allocated += (uint64_t)st.st_blocks * 512;
			break;
		case W_CHOWN:
			if ((st.st_uid != w->uid || st.st_gid != w->gid) &&
			    fchownat(dirfd(d), n, w->uid, w->gid, AT_SYMLINK_NOFOLLOW))
				note_err(w, errno);
			break;
		case W_REMOVE:
			if (unlinkat(dirfd(d), n, S_ISDIR(st.st_mode) ? AT_REMOVEDIR : 0) &&
			    errno != ENOENT)
				note_err(w, errno);
			break;
		}
	}
	closedir(d);
}

static int walk_top(const char *dir, struct walk *w)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	struct stat st;
	if (fstat(fd, &st)) {
		int e = errno;
		close(fd);
		return -e;
	}
	if (w->op == W_USAGE)
		w->allocated += (uint64_t)st.st_blocks * 512;
	if (w->op == W_CHOWN && (st.st_uid != w->uid || st.st_gid != w->gid) &&
	    fchown(fd, w->uid, w->gid))
		note_err(w, errno);
	walk_dir(w, fd, 1);
	if (w->op == W_REMOVE && rmdir(dir) && errno != ENOENT)
		note_err(w, errno);
	return w->first_err;
}

int disk_usage(const char *dir, uint64_t *apparent, uint64_t *allocated)
{
	struct walk w = { .op = W_USAGE };
	int r = walk_top(dir, &w);
	*apparent = w.apparent;
	*allocated = w.allocated;
	return r;
}

int disk_chown(const char *dir, uid_t uid, gid_t gid)
{
	struct walk w = { .op = W_CHOWN, .uid = uid, .gid = gid };
	return walk_top(dir, &w);
}

int disk_remove(const char *dir)
{
	struct walk w = { .op = W_REMOVE };
	int r = walk_top(dir, &w);
	return r == -ENOENT ? 0 : r;
}
