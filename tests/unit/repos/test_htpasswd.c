/* test_htpasswd.c — the htpasswd file: lines of other users kept byte for
 * byte (CRLF, no final newline, comments, blank lines, look-alike names),
 * duplicates, the locked atomic rewrite keeping mode, and bcrypt. */
#include <crypt.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "repos/repos.h"

/* edit in → want; old is the user's first line before (NULL: none) */
static void edit_is(const char *in, const char *user, const char *line, const char *want,
		    const char *old_want)
{
	struct cfs_buf out = CFS_BUF_INIT, old = CFS_BUF_INIT;
	bool changed = false;
	assert_int_equal(htpw_edit(in, strlen(in), user, line, &out, &old, &changed), 0);
	assert_non_null(out.data);
	if (out.len != strlen(want) || memcmp(out.data, want, out.len) != 0)
		fail_msg("edit of %s in \"%s\": got \"%.*s\", want \"%s\"", user, in, (int)out.len,
			 out.data, want);
	assert_int_equal(changed, strcmp(in, want) != 0);
	if (old_want)
		assert_string_equal(old.data ? old.data : "", old_want);
	else
		assert_int_equal(old.len, 0);
	cfs_buf_free(&out);
	cfs_buf_free(&old);
}

static void test_add_to_empty(void **state)
{
	(void)state;
	edit_is("", "alice", "alice:H", "alice:H\n", NULL);
	edit_is("", "alice", NULL, "", NULL);
}

static void test_foreign_lines_kept(void **state)
{
	(void)state;
	const char *in = "# managed by hand\n"
			 "\n"
			 "carol:$2y$10$abcdefghijklmnopqrstuv\n"
			 "  indented:kept as is  \n"
			 "dave:{SHA}qUqP5cyxm6YcTAhz05Hph5gvu9M=\n";
	char want[512];
	snprintf(want, sizeof want, "%salice:H\n", in);
	edit_is(in, "alice", "alice:H", want, NULL);
	/* removing a user who is not there changes nothing */
	edit_is(in, "alice", NULL, in, NULL);
}

static void test_replace_in_place(void **state)
{
	(void)state;
	edit_is("a:1\nalice:OLD\nb:2\n", "alice", "alice:NEW", "a:1\nalice:NEW\nb:2\n", "alice:OLD");
	edit_is("a:1\nalice:OLD\nb:2\n", "alice", NULL, "a:1\nb:2\n", "alice:OLD");
}

static void test_look_alike_names(void **state)
{
	(void)state;
	/* alice2, #alice, " alice" and "alice" without a colon are not alice */
	const char *in = "alice2:x\n#alice:y\n alice:z\nalice\nalic:w\nALICE:v\n";
	char want[256];
	snprintf(want, sizeof want, "%salice:H\n", in);
	edit_is(in, "alice", "alice:H", want, NULL);
	edit_is(in, "alice", NULL, in, NULL);
}

static void test_crlf(void **state)
{
	(void)state;
	/* CRLF lines stay CRLF; the new line gets the file's line end */
	edit_is("a:1\r\nb:2\r\n", "alice", "alice:H", "a:1\r\nb:2\r\nalice:H\r\n", NULL);
	/* a replaced line keeps its own line end */
	edit_is("a:1\r\nalice:OLD\r\nb:2\n", "alice", "alice:NEW", "a:1\r\nalice:NEW\r\nb:2\n",
		"alice:OLD");
	edit_is("a:1\r\nalice:OLD\r\nb:2\r\n", "alice", NULL, "a:1\r\nb:2\r\n", "alice:OLD");
	/* a lone CR inside a line is content */
	edit_is("a:1\rx\n", "alice", "alice:H", "a:1\rx\nalice:H\n", NULL);
}

static void test_no_final_newline(void **state)
{
	(void)state;
	edit_is("a:1\nb:2", "alice", "alice:H", "a:1\nb:2\nalice:H\n", NULL);
	edit_is("a:1\r\nb:2", "alice", "alice:H", "a:1\r\nb:2\r\nalice:H\r\n", NULL);
	/* the user's own last line without newline: replaced, still without */
	edit_is("a:1\nalice:OLD", "alice", "alice:NEW", "a:1\nalice:NEW", "alice:OLD");
	edit_is("a:1\nalice:OLD", "alice", NULL, "a:1\n", "alice:OLD");
	edit_is("b:2", "alice", NULL, "b:2", NULL);
}

static void test_duplicates(void **state)
{
	(void)state;
	/* the first line of the user is replaced, later ones go */
	edit_is("alice:1\nb:2\nalice:3\nc:4\n", "alice", "alice:NEW", "alice:NEW\nb:2\nc:4\n",
		"alice:1");
	edit_is("alice:1\nb:2\nalice:3\n", "alice", NULL, "b:2\n", "alice:1");
}

static void test_find(void **state)
{
	(void)state;
	struct cfs_buf l = CFS_BUF_INIT;
	const char *in = "x:1\r\nalice:H1\r\nalice:H2\n";
	assert_int_equal(htpw_find(in, strlen(in), "alice", &l), 0);
	assert_string_equal(l.data, "alice:H1");
	assert_int_equal(htpw_find(in, strlen(in), "bob", &l), -ENOENT);
	assert_int_equal(htpw_find("", 0, "bob", &l), -ENOENT);
	cfs_buf_free(&l);
}

/* ---- the file ---- */

static char dir[256], path[300];

static int file_setup(void **state)
{
	(void)state;
	const char *base = getenv("TMPDIR");
	snprintf(dir, sizeof dir, "%s/cfs-htpw-XXXXXX", base && *base ? base : P_tmpdir);
	if (!mkdtemp(dir))
		return -1;
	snprintf(path, sizeof path, "%s/.htpasswd", dir);
	return 0;
}

static int file_teardown(void **state)
{
	(void)state;
	char cmd[400];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void write_file(const char *text, mode_t mode)
{
	unlink(path);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

static char *read_file(void)
{
	static char buf[8192];
	int fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	assert_true(n >= 0);
	buf[n] = '\0';
	return buf;
}

static struct htpw_file file_of(void)
{
	return (struct htpw_file){ .path = path, .new_uid = geteuid(), .new_gid = getegid(),
				   .new_mode = 0640 };
}

static void test_update_file(void **state)
{
	(void)state;
	struct htpw_file f = file_of();
	struct cfs_err err = { 0 };
	struct cfs_buf old = CFS_BUF_INIT;
	/* a new file gets new_mode */
	assert_int_equal(htpw_update(&f, "alice", "alice:H1", NULL, &err), 0);
	assert_string_equal(read_file(), "alice:H1\n");
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0640);
	/* the lock file sits beside it */
	char lp[320];
	snprintf(lp, sizeof lp, "%s.lock", path);
	assert_int_equal(access(lp, F_OK), 0);

	/* an existing file keeps its mode and every foreign byte */
	write_file("# hand\r\ncarol:C\r\nalice:OLD\r\ndave:D", 0604);
	assert_int_equal(stat(path, &st), 0);
	ino_t ino = st.st_ino;
	assert_int_equal(htpw_update(&f, "alice", "alice:NEW", &old, &err), 0);
	assert_string_equal(old.data, "alice:OLD");
	assert_string_equal(read_file(), "# hand\r\ncarol:C\r\nalice:NEW\r\ndave:D");
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0604);
	assert_true(st.st_ino != ino);   /* replaced by rename, not rewritten in place */

	assert_int_equal(htpw_update(&f, "alice", NULL, &old, &err), 0);
	assert_string_equal(old.data, "alice:NEW");
	assert_string_equal(read_file(), "# hand\r\ncarol:C\r\ndave:D");
	assert_int_equal(htpw_lookup(path, "carol", &old, &err), 0);
	assert_string_equal(old.data, "carol:C");
	assert_int_equal(htpw_lookup(path, "alice", &old, &err), -ENOENT);

	/* nothing to change: the file is not touched */
	assert_int_equal(stat(path, &st), 0);
	ino = st.st_ino;
	assert_int_equal(htpw_update(&f, "alice", NULL, NULL, &err), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_ino, ino);

	/* no temp file is left behind */
	char cmd[400];
	snprintf(cmd, sizeof cmd, "test $(ls -A '%s' | wc -l) -eq 2", dir);
	assert_int_equal(system(cmd), 0);
	cfs_buf_free(&old);
}

static void test_update_refuses_odd_files(void **state)
{
	(void)state;
	struct htpw_file f = file_of();
	struct cfs_err err = { 0 };
	unlink(path);
	assert_int_equal(mkdir(path, 0700), 0);
	assert_true(htpw_update(&f, "alice", "alice:H", NULL, &err) < 0);
	assert_true(err.msg[0] != '\0');
	rmdir(path);
	/* a symlink is not followed */
	char target[320];
	snprintf(target, sizeof target, "%s/elsewhere", dir);
	write_file("x:1\n", 0600);
	rename(path, target);
	assert_int_equal(symlink(target, path), 0);
	assert_true(htpw_update(&f, "alice", "alice:H", NULL, &err) < 0);
	unlink(path);
	unlink(target);
}

struct adder {
	char user[16];
};

static void *add_one(void *arg)
{
	struct adder *a = arg;
	struct htpw_file f = file_of();
	char line[64];
	snprintf(line, sizeof line, "%s:HASH", a->user);
	for (int i = 0; i < 20; i++)
		if (htpw_update(&f, a->user, i % 2 ? NULL : line, NULL, NULL))
			return (void *)1;
	return htpw_update(&f, a->user, line, NULL, NULL) ? (void *)1 : NULL;
}

static void test_concurrent_updates(void **state)
{
	(void)state;
	write_file("keep:me\n", 0600);
	pthread_t t[8];
	struct adder a[8];
	for (int i = 0; i < 8; i++) {
		snprintf(a[i].user, sizeof a[i].user, "u%d", i);
		assert_int_equal(pthread_create(&t[i], NULL, add_one, &a[i]), 0);
	}
	for (int i = 0; i < 8; i++) {
		void *rv;
		pthread_join(t[i], &rv);
		assert_null(rv);
	}
	const char *s = read_file();
	assert_true(strncmp(s, "keep:me\n", 8) == 0);
	for (int i = 0; i < 8; i++) {
		char l[32];
		snprintf(l, sizeof l, "\nu%d:HASH\n", i);
		assert_non_null(strstr(s, l));
	}
	assert_int_equal(strlen(s), 8 + 8 * strlen("u0:HASH\n"));
}

static void test_bcrypt(void **state)
{
	(void)state;
	char h[128];
	struct cfs_err err = { 0 };
	assert_int_equal(htpw_hash("secret", 4, h, sizeof h, &err), 0);
	assert_int_equal(strncmp(h, "$2b$04$", 7), 0);
	assert_int_equal(strlen(h), 60);
	/* the hash verifies the password and nothing else */
	assert_string_equal(crypt("secret", h), h);
	assert_string_not_equal(crypt("Secret", h), h);
	char h2[128];
	assert_int_equal(htpw_hash("secret", 4, h2, sizeof h2, &err), 0);
	assert_string_not_equal(h, h2);   /* fresh salt */
	assert_int_equal(htpw_hash("secret", 4, h2, 10, &err), -ENAMETOOLONG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_add_to_empty),
		cmocka_unit_test(test_foreign_lines_kept),
		cmocka_unit_test(test_replace_in_place),
		cmocka_unit_test(test_look_alike_names),
		cmocka_unit_test(test_crlf),
		cmocka_unit_test(test_no_final_newline),
		cmocka_unit_test(test_duplicates),
		cmocka_unit_test(test_find),
		cmocka_unit_test_setup_teardown(test_update_file, file_setup, file_teardown),
		cmocka_unit_test_setup_teardown(test_update_refuses_odd_files, file_setup,
						file_teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_updates, file_setup, file_teardown),
		cmocka_unit_test(test_bcrypt),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
