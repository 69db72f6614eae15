/* test_restic_run.c — running restic (a stand-in script made at test time):
 * the argv, the password files (0600, removed afterwards, never on argv), the
 * fixed environment, exit status and stderr in the error, timeout, cancel,
 * a missing program; and the directory walks of disk.c. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "repos/repos.h"

static char dir[256], tmp[300], prog[300];

static int setup(void **state)
{
	(void)state;
	const char *base = getenv("TMPDIR");
	snprintf(dir, sizeof dir, "%s/cfs-rrun-XXXXXX", base && *base ? base : P_tmpdir);
	if (!mkdtemp(dir))
		return -1;
	snprintf(tmp, sizeof tmp, "%s/tmp", dir);
	snprintf(prog, sizeof prog, "%s/fake-restic", dir);
	return mkdir(tmp, 0700);
}

static int teardown(void **state)
{
	(void)state;
	char cmd[400];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void script(const char *body)
{
	FILE *f = fopen(prog, "w");
	assert_non_null(f);
	fprintf(f, "#!/bin/sh\n%s\n", body);
	fclose(f);
	assert_int_equal(chmod(prog, 0755), 0);
}

struct lines {
	char text[4096];
	int n_err;
};

static void on_line(void *arg, bool is_stderr, const char *line)
{
	struct lines *l = arg;
	size_t n = strlen(l->text);
	snprintf(l->text + n, sizeof l->text - n, "%s%s\n", is_stderr ? "E:" : "O:", line);
	l->n_err += is_stderr;
}

static int run(const char *const *args, const char *pw, const char *npw, int timeout,
	       struct lines *l, struct cfs_buf *out, bool (*cancel)(void *), struct cfs_err *err)
{
	struct restic_cmd c = {
		.restic = prog,
		.repo = "/srv/restic/alice",
		.args = args,
		.password = pw,
		.new_password = npw,
		.tmp_dir = tmp,
		.timeout_s = timeout,
		.on_line = on_line,
		.arg = l,
		.cancelled = cancel,
		.out = out,
	};
	return restic_run(&c, err);
}

static bool tmp_is_empty(void)
{
	char cmd[400];
	snprintf(cmd, sizeof cmd, "test -z \"$(ls -A '%s')\"", tmp);
	return system(cmd) == 0;
}

static void test_argv_and_passwords(void **state)
{
	(void)state;
	script("echo \"argv: $*\"\n"
	       "echo \"pw: $(cat \"$RESTIC_PASSWORD_FILE\")\"\n"
	       "echo \"pwmode: $(stat -c %a \"$RESTIC_PASSWORD_FILE\")\"\n"
	       "for a; do case $prev in --new-password-file) echo \"new: $(cat \"$a\")\";; esac; "
	       "prev=$a; done\n"
	       "echo \"repo env: ${RESTIC_REPOSITORY:-unset} ${RESTIC_PASSWORD:-unset}\"\n"
	       "echo \"stdin: $(cat)\"\n"
	       "echo warning >&2");
	setenv("RESTIC_REPOSITORY", "/elsewhere", 1);
	setenv("RESTIC_PASSWORD", "leaked", 1);
	struct lines l = { 0 };
	struct cfs_err err = { 0 };
	const char *args[] = { "key", "add", "--user", "alice", NULL };
	assert_int_equal(run(args, "op-secret", "user-secret", 10, &l, NULL, NULL, &err), 0);
	unsetenv("RESTIC_REPOSITORY");
	unsetenv("RESTIC_PASSWORD");
	assert_non_null(strstr(l.text, "O:argv: -r /srv/restic/alice --no-cache key add --user "
					"alice --new-password-file "));
	assert_null(strstr(l.text, "argv: -r /srv/restic/alice --no-cache key add --user alice "
				   "--new-password-file user-secret"));
	assert_non_null(strstr(l.text, "O:pw: op-secret\n"));
	assert_non_null(strstr(l.text, "O:pwmode: 600\n"));
	assert_non_null(strstr(l.text, "O:new: user-secret\n"));
	assert_non_null(strstr(l.text, "O:repo env: unset unset\n"));
	assert_non_null(strstr(l.text, "O:stdin: \n"));
	assert_non_null(strstr(l.text, "E:warning\n"));
	assert_true(tmp_is_empty());   /* the password files are gone */
}

static void test_stdout_captured(void **state)
{
	(void)state;
	script("printf '[{\"time\":\"x\"}]'\necho note >&2");
	struct lines l = { 0 };
	struct cfs_buf out = CFS_BUF_INIT;
	const char *args[] = { "snapshots", "--json", NULL };
	assert_int_equal(run(args, "pw", NULL, 10, &l, &out, NULL, NULL), 0);
	assert_string_equal(out.data, "[{\"time\":\"x\"}]");
	assert_string_equal(l.text, "E:note\n");
	cfs_buf_free(&out);
}

static void test_exit_status(void **state)
{
	(void)state;
	script("echo 'Fatal: create repository failed' >&2\nexit 3");
	struct lines l = { 0 };
	struct cfs_err err = { 0 };
	const char *args[] = { "init", NULL };
	assert_int_equal(run(args, "pw", NULL, 10, &l, NULL, NULL, &err), -EIO);
	assert_non_null(strstr(err.msg, "exit status 3"));
	assert_non_null(strstr(err.msg, "Fatal: create repository failed"));
	assert_true(tmp_is_empty());

	script("kill -9 $$");
	assert_int_equal(run(args, "pw", NULL, 10, &l, NULL, NULL, &err), -EIO);
	assert_non_null(strstr(err.msg, "signal 9"));
}

static void test_timeout(void **state)
{
	(void)state;
	/* the child and what it started are killed (own process group) */
	script("sleep 30 &\nsleep 30\n");
	struct lines l = { 0 };
	struct cfs_err err = { 0 };
	const char *args[] = { "prune", NULL };
	time_t t0 = time(NULL);
	assert_int_equal(run(args, "pw", NULL, 1, &l, NULL, NULL, &err), -ETIMEDOUT);
	assert_true(time(NULL) - t0 < 8);
	assert_non_null(strstr(err.msg, "timed out"));
	assert_true(tmp_is_empty());
}

static int polls;

static bool cancel_soon(void *arg)
{
	(void)arg;
	return ++polls > 3;
}

static void test_cancel(void **state)
{
	(void)state;
	script("exec sleep 30");
	struct lines l = { 0 };
	struct cfs_err err = { 0 };
	const char *args[] = { "check", NULL };
	polls = 0;
	time_t t0 = time(NULL);
	assert_int_equal(run(args, "pw", NULL, 60, &l, NULL, cancel_soon, &err), -ECANCELED);
	assert_true(time(NULL) - t0 < 8);
}

static void test_missing_program(void **state)
{
	(void)state;
	struct lines l = { 0 };
	struct cfs_err err = { 0 };
	const char *args[] = { "init", NULL };
	unlink(prog);
	int r = run(args, "pw", NULL, 10, &l, NULL, NULL, &err);
	assert_int_equal(r, -ENOENT);
	assert_non_null(strstr(err.msg, "cannot run"));
	assert_true(tmp_is_empty());
}

static void test_long_lines(void **state)
{
	(void)state;
	/* a line longer than the line buffer arrives in pieces, nothing lost */
	script("head -c 10000 /dev/zero | tr '\\0' 'x' >&2; echo >&2");
	struct lines l = { 0 };
	const char *args[] = { "x", NULL };
	assert_int_equal(run(args, "pw", NULL, 10, &l, NULL, NULL, NULL), 0);
	assert_true(l.n_err >= 3);
}

/* ---- disk.c ---- */

static void put(const char *rel, size_t size)
{
	char p[400];
	snprintf(p, sizeof p, "%s/%s", dir, rel);
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)size), 0);
	close(fd);
}

static void test_disk(void **state)
{
	(void)state;
	char repo[300], p[400], outside[300];
	snprintf(repo, sizeof repo, "%s/repo", dir);
	snprintf(outside, sizeof outside, "%s/outside", dir);
	assert_int_equal(mkdir(repo, 0700), 0);
	assert_int_equal(mkdir(outside, 0700), 0);
	snprintf(p, sizeof p, "%s/data", repo);
	assert_int_equal(mkdir(p, 0700), 0);
	snprintf(p, sizeof p, "%s/data/00", repo);
	assert_int_equal(mkdir(p, 0700), 0);
	put("repo/config", 155);
	put("repo/data/00/pack", 4096);
	put("outside/big", 1 << 20);
	/* links out of the repository are not followed */
	snprintf(p, sizeof p, "%s/data/link", repo);
	assert_int_equal(symlink(outside, p), 0);
	snprintf(p, sizeof p, "%s/biglink", repo);
	char big[340];
	snprintf(big, sizeof big, "%s/big", outside);
	assert_int_equal(symlink(big, p), 0);

	uint64_t app, alloc;
	assert_int_equal(disk_usage(repo, &app, &alloc), 0);
	assert_int_equal(app, 155 + 4096);
	assert_int_equal(disk_chown(repo, geteuid(), getegid()), 0);
	if (geteuid() == 0) {
		assert_int_equal(disk_chown(repo, 65534, 65534), 0);
		struct stat st;
		snprintf(p, sizeof p, "%s/data/00/pack", repo);
		assert_int_equal(stat(p, &st), 0);
		assert_int_equal(st.st_uid, 65534);
		assert_int_equal(st.st_mode & 0777, 0600);   /* modes kept */
		assert_int_equal(stat(big, &st), 0);
		assert_int_equal(st.st_uid, 0);              /* the link's target untouched */
	}
	assert_int_equal(disk_remove(repo), 0);
	assert_int_equal(access(repo, F_OK), -1);
	assert_int_equal(access(big, F_OK), 0);          /* still there */
	assert_int_equal(disk_remove(repo), 0);          /* gone already: fine */
	assert_int_equal(disk_usage(repo, &app, &alloc), -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_argv_and_passwords, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stdout_captured, setup, teardown),
		cmocka_unit_test_setup_teardown(test_exit_status, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cancel, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_program, setup, teardown),
		cmocka_unit_test_setup_teardown(test_long_lines, setup, teardown),
		cmocka_unit_test_setup_teardown(test_disk, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
