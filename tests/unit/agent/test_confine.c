/* test_confine.c — the path confinement corpus, run with openat2 and with
 * the component-by-component walk. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "helpers.h"

struct tree {
	char *root;
	int rootfd;
};

/* Paths and what confine_parent and confine_open (following) give. */
static const struct corpus {
	const char *path;
	size_t len;          /* 0: strlen */
	int parent;          /* 0 or the negative errno */
	int open;
	const char *same_as; /* on success, open must reach this inode */
} corpus[] = {
	{ "", 0, 0, 0, "." },
	{ ".", 0, 0, 0, "." },
	{ "a", 0, 0, 0, "a" },
	{ "a/f", 0, 0, 0, "a/f" },
	/* syntax */
	{ "/a", 0, -EXDEV, -EXDEV, NULL },
	{ "/", 0, -EXDEV, -EXDEV, NULL },
	{ "..", 0, -EXDEV, -EXDEV, NULL },
	{ "a/..", 0, -EXDEV, -EXDEV, NULL },
	{ "a/../a", 0, -EXDEV, -EXDEV, NULL },
	{ "a//f", 0, -EINVAL, -EINVAL, NULL },
	{ "a/", 0, -EINVAL, -EINVAL, NULL },
	{ "./a", 0, -EINVAL, -EINVAL, NULL },
	{ "a/./f", 0, -EINVAL, -EINVAL, NULL },
	{ "a//..", 0, -EXDEV, -EXDEV, NULL },          /* ".." wins over the empty component */
	{ "a\0b", 3, -EXDEV, -EXDEV, NULL },
	{ "a/f\0", 4, -EXDEV, -EXDEV, NULL },
	/* symlinks */
	{ "out", 0, 0, -EXDEV, NULL },                 /* -> /etc: the link itself is fine */
	{ "out/passwd", 0, -EXDEV, -EXDEV, NULL },
	{ "absin/f", 0, -EXDEV, -EXDEV, NULL },        /* absolute, even pointing inside */
	{ "in", 0, 0, 0, "a/f" },                      /* -> a/f */
	{ "d/f", 0, 0, 0, "a/f" },                     /* d -> a */
	{ "a/rel", 0, 0, 0, "a/f" },                   /* -> ../a/f stays inside */
	{ "a/esc", 0, 0, -EXDEV, NULL },               /* -> ../../x climbs out */
	{ "a/esc/y", 0, -EXDEV, -EXDEV, NULL },
	{ "a/dotdot/a/f", 0, 0, 0, "a/f" },            /* -> .. is the root */
	{ "a/up2/x", 0, -EXDEV, -EXDEV, NULL },        /* -> ../.. */
	{ "a/deep/f", 0, 0, 0, "a/f" },                /* -> ./../a/./ with dots inside */
	{ "chain1/f", 0, 0, 0, "a/f" },                /* chain1 -> chain2 -> a */
	{ "loop", 0, 0, -ELOOP, NULL },
	{ "loop/x", 0, -ELOOP, -ELOOP, NULL },
	{ "dangling", 0, 0, -ENOENT, NULL },
	{ "a/f/x", 0, -ENOTDIR, -ENOTDIR, NULL },
	{ "nope/x", 0, -ENOENT, -ENOENT, NULL },
};

static int setup(void **state)
{
	struct tree *t = calloc(1, sizeof *t);
	t->root = th_mkdtemp();
	char p[PATH_MAX];
	mkdir(th_path(t->root, "a"), 0755);
	th_write(t->root, "a/f", "f\n");
#define LINK(target, name) do { \
		snprintf(p, sizeof p, "%s/%s", t->root, name); \
		assert_int_equal(symlink(target, p), 0); \
	} while (0)
	LINK("../a/f", "a/rel");
	LINK("../../x", "a/esc");
	LINK("..", "a/dotdot");
	LINK("../..", "a/up2");
	LINK("./../a/./", "a/deep");
	LINK("/etc", "out");
	LINK("a/f", "in");
	LINK("a", "d");
	LINK("loop", "loop");
	LINK("chain2", "chain1");
	LINK("a", "chain2");
	LINK("nothing", "dangling");
	char abs[PATH_MAX + 8];
	snprintf(abs, sizeof abs, "%s/a", t->root);
	LINK(abs, "absin");
	t->rootfd = open(t->root, O_PATH | O_DIRECTORY);
	assert_true(t->rootfd >= 0);
	*state = t;
	return 0;
}

static int teardown(void **state)
{
	struct tree *t = *state;
	close(t->rootfd);
	th_rmrf(t->root);
	free(t->root);
	free(t);
	return 0;
}

static void run_corpus(struct tree *t, bool walk)
{
	struct confine c = { .rootfd = t->rootfd, .walk = walk };
	for (size_t i = 0; i < sizeof corpus / sizeof corpus[0]; i++) {
		const struct corpus *k = &corpus[i];
		size_t len = k->len ? k->len : strlen(k->path);
		int dirfd = -1, fd = -1;
		char name[NAME_MAX + 1];
		int r = confine_parent(&c, k->path, len, &dirfd, name);
		if (r != k->parent)
			fail_msg("%s parent(\"%s\") = %d, want %d", walk ? "walk" : "openat2", k->path,
				 r, k->parent);
		if (!r)
			close(dirfd);
		r = confine_open(&c, k->path, len, O_PATH, &fd);
		if (r != k->open)
			fail_msg("%s open(\"%s\") = %d, want %d", walk ? "walk" : "openat2", k->path, r,
				 k->open);
		if (!r) {
			struct stat a, b;
			assert_int_equal(fstat(fd, &a), 0);
			assert_int_equal(stat(th_path(t->root, k->same_as), &b), 0);
			if (a.st_ino != b.st_ino)
				fail_msg("open(\"%s\") reached the wrong inode", k->path);
			close(fd);
		}
	}
}

static void test_corpus_openat2(void **state)
{
	run_corpus(*state, false);
}

static void test_corpus_walk(void **state)
{
	run_corpus(*state, true);
}

static void test_parent_names(void **state)
{
	struct tree *t = *state;
	for (int walk = 0; walk < 2; walk++) {
		struct confine c = { .rootfd = t->rootfd, .walk = walk };
		int dirfd;
		char name[NAME_MAX + 1];
		/* the last component is not followed: the link itself */
		assert_int_equal(confine_parent(&c, "d/rel", 5, &dirfd, name), 0);
		assert_string_equal(name, "rel");
		struct stat st;
		assert_int_equal(fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW), 0);
		assert_true(S_ISLNK(st.st_mode));
		close(dirfd);
		/* the root: its own descriptor and an empty name */
		assert_int_equal(confine_parent(&c, "", 0, &dirfd, name), 0);
		assert_string_equal(name, "");
		close(dirfd);
		/* a missing last component is fine (it is about to be created) */
		assert_int_equal(confine_parent(&c, "a/new", 5, &dirfd, name), 0);
		assert_string_equal(name, "new");
		close(dirfd);
	}
}

static void test_lengths(void **state)
{
	struct tree *t = *state;
	struct confine c = { .rootfd = t->rootfd };
	char longname[NAME_MAX + 2];
	memset(longname, 'x', sizeof longname - 1);
	longname[NAME_MAX + 1] = '\0';
	int dirfd;
	char name[NAME_MAX + 1];
	assert_int_equal(confine_parent(&c, longname, strlen(longname), &dirfd, name),
			 -ENAMETOOLONG);
	longname[NAME_MAX] = '\0';   /* exactly NAME_MAX is allowed */
	assert_int_equal(confine_parent(&c, longname, strlen(longname), &dirfd, name), 0);
	close(dirfd);
	size_t n = CONFINE_PATH_MAX + 11;   /* odd: ends in a name, not a '/' */
	char *lp = malloc(n + 1);
	for (size_t i = 0; i < n; i++)
		lp[i] = i % 2 ? '/' : 'a';
	lp[n] = '\0';
	assert_int_equal(confine_check(lp, n), -ENAMETOOLONG);
	free(lp);
}

/* A tree deeper than PATH_MAX: legal, and reachable (relative calls only). */
static void test_deep(void **state)
{
	struct tree *t = *state;
	char name[NAME_MAX + 1];
	memset(name, 'd', NAME_MAX);
	name[NAME_MAX] = '\0';
	struct cfs_buf path = CFS_BUF_INIT;
	int fd = openat(t->rootfd, ".", O_RDONLY | O_DIRECTORY);
	for (int i = 0; i < 20; i++) {   /* 20 * 256 bytes > PATH_MAX */
		assert_int_equal(mkdirat(fd, name, 0755), 0);
		int next = openat(fd, name, O_RDONLY | O_DIRECTORY);
		close(fd);
		fd = next;
		cfs_buf_printf(&path, "%s%s", i ? "/" : "", name);
	}
	close(fd);
	assert_true(path.len > PATH_MAX);
	cfs_buf_puts(&path, "/leaf");
	for (int walk = 0; walk < 2; walk++) {
		struct confine c = { .rootfd = t->rootfd, .walk = walk };
		int dirfd;
		char last[NAME_MAX + 1];
		assert_int_equal(confine_parent(&c, path.data, path.len, &dirfd, last), 0);
		assert_string_equal(last, "leaf");
		assert_int_equal(mkdirat(dirfd, last, 0755), 0);
		unlinkat(dirfd, last, AT_REMOVEDIR);
		close(dirfd);
		assert_int_equal(confine_open(&c, path.data, path.len - 5, O_RDONLY, &fd), 0);
		close(fd);
	}
	cfs_buf_free(&path);
}

static void test_open_flags(void **state)
{
	struct tree *t = *state;
	for (int walk = 0; walk < 2; walk++) {
		struct confine c = { .rootfd = t->rootfd, .walk = walk };
		int fd;
		assert_int_equal(confine_open(&c, "in", 2, O_RDONLY, &fd), 0);
		char buf[4] = "";
		assert_int_equal(read(fd, buf, sizeof buf), 2);
		assert_memory_equal(buf, "f\n", 2);
		close(fd);
		assert_int_equal(confine_open(&c, "a", 1, O_RDONLY | O_DIRECTORY, &fd), 0);
		close(fd);
		assert_int_equal(confine_open(&c, "a/f", 3, O_RDONLY | O_DIRECTORY, &fd), -ENOTDIR);
		/* confine_open_at never follows the last name */
		int dirfd;
		char name[NAME_MAX + 1];
		assert_int_equal(confine_parent(&c, "in", 2, &dirfd, name), 0);
		assert_int_equal(confine_open_at(dirfd, name, O_RDONLY, &fd), -ELOOP);
		close(dirfd);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_corpus_openat2),
		cmocka_unit_test(test_corpus_walk),
		cmocka_unit_test(test_parent_names),
		cmocka_unit_test(test_lengths),
		cmocka_unit_test(test_deep),
		cmocka_unit_test(test_open_flags),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
