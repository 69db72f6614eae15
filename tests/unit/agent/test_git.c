/* test_git.c — git routes over a real repository (skipped without git), and
 * the porcelain v2 parser on canned output. */
#include <errno.h>
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

/* Exact integers are raw JSON: read them back as the manager would. */
static cJSON *roundtrip(cJSON *j)
{
	char *s = cJSON_PrintUnformatted(j);
	cJSON_Delete(j);
	j = cJSON_Parse(s);
	free(s);
	return j;
}

static void test_parse_status(void **state)
{
	(void)state;
	static const char out[] =
		"# branch.oid 1234abcd\0"
		"# branch.head main\0"
		"# branch.upstream origin/main\0"
		"# branch.ab +2 -1\0"
		"1 M. N... 100644 100644 100644 aaa bbb staged.c\0"
		"1 .M N... 100644 100644 100644 aaa bbb work tree.c\0"
		"1 MM N... 100644 100644 100644 aaa bbb both.c\0"
		"2 R. N... 100644 100644 100644 aaa bbb R100 new name.c\0old name.c\0"
		"u UU N... 100644 100644 100644 100644 aaa bbb ccc conflict.c\0"
		"? untracked file\0"
		"! ignored\0";
	cJSON *j = cJSON_CreateObject();
	assert_int_equal(agent_git_parse_status(out, sizeof out - 1, j), 0);
	j = roundtrip(j);
	assert_string_equal(th_str(j, "branch"), "main");
	assert_string_equal(th_str(j, "oid"), "1234abcd");
	assert_string_equal(th_str(j, "upstream"), "origin/main");
	assert_int_equal(th_int(j, "ahead"), 2);
	assert_int_equal(th_int(j, "behind"), 1);
	const cJSON *staged = th_get(j, "staged"), *unstaged = th_get(j, "unstaged");
	assert_int_equal(cJSON_GetArraySize(staged), 3);
	assert_int_equal(cJSON_GetArraySize(unstaged), 2);
	assert_string_equal(th_str(cJSON_GetArrayItem(staged, 0), "path"), "staged.c");
	assert_string_equal(th_str(cJSON_GetArrayItem(staged, 0), "status"), "M");
	assert_string_equal(th_str(cJSON_GetArrayItem(staged, 2), "path"), "new name.c");
	assert_string_equal(th_str(cJSON_GetArrayItem(staged, 2), "orig_path"), "old name.c");
	assert_string_equal(th_str(cJSON_GetArrayItem(staged, 2), "status"), "R");
	assert_string_equal(th_str(cJSON_GetArrayItem(unstaged, 0), "path"), "work tree.c");
	assert_string_equal(th_str(cJSON_GetArrayItem(th_get(j, "conflicted"), 0), "path"),
			    "conflict.c");
	assert_string_equal(th_str(cJSON_GetArrayItem(th_get(j, "untracked"), 0), "path"),
			    "untracked file");
	assert_false(cJSON_IsTrue(th_get(j, "clean")));
	cJSON_Delete(j);

	static const char fresh[] = "# branch.oid (initial)\0# branch.head (detached)\0";
	j = cJSON_CreateObject();
	assert_int_equal(agent_git_parse_status(fresh, sizeof fresh - 1, j), 0);
	j = roundtrip(j);
	assert_true(cJSON_IsNull(th_get(j, "branch")));
	assert_true(cJSON_IsTrue(th_get(j, "detached")));
	assert_true(cJSON_IsNull(th_get(j, "oid")));
	assert_true(cJSON_IsTrue(th_get(j, "clean")));
	cJSON_Delete(j);
}

struct fx {
	char *root;
	struct agent *a;
	struct th_reply r;
};

static int sh(const char *dir, const char *cmd)
{
	char buf[8192];
	snprintf(buf, sizeof buf, "cd '%s' && { %s; } >/dev/null 2>&1", dir, cmd);
	return system(buf);
}

static int setup(void **state)
{
	if (system("git --version >/dev/null 2>&1") != 0)
		return 0;
	struct fx *f = calloc(1, sizeof *f);
	f->root = th_mkdtemp();
	mkdir(th_path(f->root, "proj"), 0755);
	mkdir(th_path(f->root, "a"), 0755);
	mkdir(th_path(f->root, "a/b"), 0755);
	mkdir(th_path(f->root, "a/b/other"), 0755);
	if (sh(th_path(f->root, "proj"),
	       "git init -q -b main . && git config user.name T && git config user.email t@example"
	       " && echo one > f && git add f && git commit -q -m first") ||
	    sh(th_path(f->root, "a/b/other"), "git init -q -b main ."))
		return -1;
	f->a = th_agent(f->root, NULL, false);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	if (!f)
		return 0;
	th_reply_free(&f->r);
	agent_free(f->a);
	th_rmrf(f->root);
	free(f->root);
	free(f);
	return 0;
}

static int call(struct fx *f, const char *method, const char *target, const char *body)
{
	th_reply_free(&f->r);
	return th_call(f->a, method, target, body, body ? strlen(body) : 0, &f->r);
}

static void test_repo_flow(void **state)
{
	struct fx *f = *state;
	if (!f)
		skip();
	assert_int_equal(call(f, "GET", "/v1/git/repos", NULL), 200);
	const cJSON *repos = th_get(f->r.json, "repos");
	assert_int_equal(cJSON_GetArraySize(repos), 2);
	bool proj = false, other = false;
	const cJSON *it;
	cJSON_ArrayForEach(it, repos) {
		proj |= !strcmp(th_str(it, "path"), "proj");
		other |= !strcmp(th_str(it, "path"), "a/b/other");
	}
	assert_true(proj && other);

	assert_int_equal(call(f, "GET", "/v1/git/status?repo=proj", NULL), 200);
	assert_string_equal(th_str(f->r.json, "branch"), "main");
	assert_true(cJSON_IsTrue(th_get(f->r.json, "clean")));

	th_write(f->root, "proj/f", "two\n");
	th_write(f->root, "proj/new file", "n\n");
	assert_int_equal(call(f, "GET", "/v1/git/status?repo=proj", NULL), 200);
	assert_int_equal(cJSON_GetArraySize(th_get(f->r.json, "unstaged")), 1);
	assert_int_equal(cJSON_GetArraySize(th_get(f->r.json, "untracked")), 1);

	assert_int_equal(call(f, "GET", "/v1/git/diff?repo=proj", NULL), 200);
	assert_non_null(strstr(f->r.body.data, "+two"));

	/* pathspec magic is off: ":(top)" is a name, not magic */
	call(f, "POST", "/v1/git/stage?repo=proj", "{\"paths\":[\":(glob)*\"]}");
	assert_int_equal(f->r.status, 409);
	assert_string_equal(th_str(f->r.json, "errno"), "EIO");
	call(f, "POST", "/v1/git/stage?repo=proj", "{\"paths\":[\"../x\"]}");
	assert_int_equal(f->r.status, 403);
	assert_int_equal(call(f, "POST", "/v1/git/stage?repo=proj",
			      "{\"paths\":[\"f\",\"new file\"]}"), 200);
	assert_int_equal(call(f, "GET", "/v1/git/status?repo=proj", NULL), 200);
	assert_int_equal(cJSON_GetArraySize(th_get(f->r.json, "staged")), 2);
	assert_int_equal(call(f, "POST", "/v1/git/unstage?repo=proj", "{\"paths\":[\"new file\"]}"),
			 200);
	assert_int_equal(call(f, "GET", "/v1/git/status?repo=proj", NULL), 200);
	assert_int_equal(cJSON_GetArraySize(th_get(f->r.json, "staged")), 1);

	assert_int_equal(call(f, "POST", "/v1/git/commit?repo=proj",
			      "{\"message\":\"--amend; second \\\"one\\\"\"}"), 200);
	assert_int_equal(call(f, "GET", "/v1/git/log?repo=proj&n=5", NULL), 200);
	const cJSON *commits = th_get(f->r.json, "commits");
	assert_int_equal(cJSON_GetArraySize(commits), 2);
	assert_string_equal(th_str(cJSON_GetArrayItem(commits, 0), "subject"),
			    "--amend; second \"one\"");
	assert_string_equal(th_str(cJSON_GetArrayItem(commits, 0), "author"), "T");
	assert_int_equal(strlen(th_str(cJSON_GetArrayItem(commits, 0), "hash")), 40);

	assert_int_equal(call(f, "POST", "/v1/git/branch?repo=proj", "{\"name\":\"topic\"}"), 200);
	assert_int_equal(call(f, "POST", "/v1/git/branch?repo=proj", "{\"name\":\"-D\"}"), 400);
	assert_int_equal(call(f, "POST", "/v1/git/checkout?repo=proj", "{\"branch\":\"topic\"}"), 200);
	assert_int_equal(call(f, "GET", "/v1/git/branches?repo=proj", NULL), 200);
	const cJSON *br = th_get(f->r.json, "branches");
	assert_int_equal(cJSON_GetArraySize(br), 2);
	cJSON_ArrayForEach(it, br) {
		bool cur = cJSON_IsTrue(th_get(it, "current"));
		assert_true(cur == !strcmp(th_str(it, "name"), "topic"));
		assert_true(cJSON_IsNull(th_get(it, "upstream")));
	}
	assert_int_equal(call(f, "POST", "/v1/git/checkout?repo=proj", "{\"branch\":\"nope\"}"), 409);
	assert_string_equal(th_str(f->r.json, "error"), "git_failed");
	/* nothing to commit is a failure with git's words */
	assert_int_equal(call(f, "POST", "/v1/git/commit?repo=proj", "{\"message\":\"x\"}"), 409);
	/* no remote: push fails, quickly, without prompting */
	assert_int_equal(call(f, "POST", "/v1/git/push?repo=proj", NULL), 409);

	/* an empty repository has an empty log */
	assert_int_equal(call(f, "GET", "/v1/git/log?repo=a%2Fb%2Fother", NULL), 200);
	assert_int_equal(cJSON_GetArraySize(th_get(f->r.json, "commits")), 0);

	/* an agent running as root runs git as the repository's owner */
	if (geteuid() == 0) {
		chmod(f->root, 0755);   /* the owner must reach the repository */
		assert_int_equal(sh(f->root, "chown -R 1234:1234 proj"), 0);
		th_write(f->root, "proj/g", "g\n");
		assert_int_equal(call(f, "POST", "/v1/git/stage?repo=proj", "{\"paths\":[\"g\"]}"),
				 200);
		struct stat st;
		assert_int_equal(stat(th_path(f->root, "proj/.git/index"), &st), 0);
		assert_int_equal(st.st_uid, 1234);   /* written by git as 1234 */
		assert_int_equal(call(f, "GET", "/v1/git/status?repo=proj", NULL), 200);
		assert_int_equal(cJSON_GetArraySize(th_get(f->r.json, "staged")), 1);
	}

	/* not a repository, outside the root, wrong method */
	assert_int_equal(call(f, "GET", "/v1/git/status?repo=a", NULL), 404);
	assert_int_equal(call(f, "GET", "/v1/git/status?repo=..", NULL), 403);
	assert_int_equal(call(f, "GET", "/v1/git/status", NULL), 400);
	assert_int_equal(call(f, "POST", "/v1/git/status?repo=proj", NULL), 405);
	assert_int_equal(call(f, "GET", "/v1/git/frob?repo=proj", NULL), 404);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_status),
		cmocka_unit_test_setup_teardown(test_repo_flow, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
