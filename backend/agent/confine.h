/* confine.h — keeping every path the manager sends below the agent's root.
 *
 * Paths on the wire are relative to the root: "" or "." is the root itself;
 * otherwise components separated by single '/'.  Refused as outside the root
 * (-EXDEV, which the routes turn into 403 outside_root): an absolute path, a
 * ".." component, a NUL byte, and any path whose resolution leaves the root —
 * through a symlink pointing out, an absolute symlink, or ".." inside a
 * symlink target that climbs above the root.  Refused as malformed (-EINVAL):
 * empty components ("a//b", "a/") and "." components other than the whole
 * path.
 *
 * Resolution uses openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS) where the
 * kernel has it, else walks component by component with O_NOFOLLOW, reading
 * each symlink and splicing its target, holding a descriptor for every level
 * so ".." inside a target can never climb above the root.  Both ways are
 * race-free against a tree that changes under us: nothing is re-resolved by
 * name after it was checked. */
#ifndef CFS_AGENT_CONFINE_H
#define CFS_AGENT_CONFINE_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

struct confine {
	int rootfd;          /* O_PATH | O_DIRECTORY */
	bool walk;           /* never use openat2 (tests; kernels without it) */
};

/* Longest path accepted.  Longer than PATH_MAX on purpose: a tree may be
 * deeper than one system call's path allows (the agent never hands a whole
 * path to the kernel beyond that). */
#define CONFINE_PATH_MAX (4 * PATH_MAX)

/* The syntax check alone: 0, -EXDEV (absolute, "..", NUL), -EINVAL (empty or
 * "." component), -ENAMETOOLONG (a component over NAME_MAX, or the path over
 * CONFINE_PATH_MAX).  len is the decoded length (a NUL inside is refused). */
int confine_check(const char *path, size_t len);

/* The parent directory of path, resolved below the root (intermediate
 * symlinks followed while they stay inside), as an O_PATH descriptor, and the
 * last component, which is NOT followed: operations that must not follow it
 * (lstat, unlink, rename, readlink, lchown…) use (*dirfd, name).  For the root
 * itself *dirfd is the root and name is "".  The caller closes *dirfd. */
int confine_parent(const struct confine *c, const char *path, size_t len, int *dirfd,
		   char name[NAME_MAX + 1]);

/* Open path with flags (O_RDONLY, O_PATH…; never O_CREAT), following
 * symlinks, the last one included, as long as they stay below the root. */
int confine_open(const struct confine *c, const char *path, size_t len, int flags, int *fd);

/* Open (dirfd, name) itself, or dirfd when name is "" (the root), with flags |
 * O_NOFOLLOW: a symlink as last component gives -ELOOP (or an O_PATH
 * descriptor of the link itself with O_PATH). */
int confine_open_at(int dirfd, const char *name, int flags, int *fd);

#endif
