/* test_exec.c — allow-listed commands: the allow-list, extra arguments,
 * output and exit status, the timeout, the output cap, no shell. */
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

#include "core/util.h"
#include "helpers.h"

static const char commands[] =
	"[command.hello]\n"
	"argv = echo hello 'big world'\n"
	"[command.echo]\n"
	"argv = echo\n"
	"extra_args = yes\n"
	"[command.fail]\n"
	"argv = sh -c 'echo failing >&2; exit 3'\n"
	"[command.slow]\n"
	"argv = sh -c 'sleep 30 & sleep 30; echo never'\n"
	"timeout = 1s\n"
	"[command.chatty]\n"
	"argv = sh -c 'i=0; while [ $i -lt 5000 ]; do echo line $i; i=$((i+1)); done'\n"
	"output_cap = 1K\n"
	"[command.binary]\n"
	"argv = printf '\\377\\000x'\n"
	"[command.pwd]\n"
	"argv = pwd\n"
	"[command.missing]\n"
	"argv = /nonexistent/program\n"
	"[command.killed]\n"
	"argv = sh -c 'kill -9 $$'\n";

struct fx {
	char *root;
	struct agent *a;
	struct th_reply r;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof *f);
	f->root = th_mkdtemp();
	f->a = th_agent(f->root, commands, false);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	th_reply_free(&f->r);
	agent_free(f->a);
	th_rmrf(f->root);
	free(f->root);
	free(f);
	return 0;
}

static int run(struct fx *f, const char *json)
{
	th_reply_free(&f->r);
	return th_call(f->a, "POST", "/v1/exec", json, strlen(json), &f->r);
}

static void test_allow_list(void **state)
{
	struct fx *f = *state;
	assert_int_equal(run(f, "{\"name\":\"rm\",\"args\":[\"-rf\",\"/\"]}"), 403);
	assert_string_equal(th_str(f->r.json, "error"), "not_allowed");
	/* extra arguments only with extra_args = yes */
	assert_int_equal(run(f, "{\"name\":\"hello\",\"args\":[\"x\"]}"), 403);
	assert_string_equal(th_str(f->r.json, "error"), "not_allowed");
	assert_int_equal(run(f, "{\"name\":\"hello\",\"args\":[]}"), 200);
	assert_int_equal(run(f, "not json"), 400);
	assert_int_equal(run(f, "{\"name\":3}"), 400);
	assert_int_equal(run(f, "{\"name\":\"echo\",\"args\":[1]}"), 400);
	/* the list */
	th_reply_free(&f->r);
	assert_int_equal(th_call(f->a, "GET", "/v1/exec", NULL, 0, &f->r), 200);
	assert_int_equal(cJSON_GetArraySize(th_get(f->r.json, "commands")), 9);
	th_reply_free(&f->r);
	assert_int_equal(th_call(f->a, "DELETE", "/v1/exec", NULL, 0, &f->r), 405);
}

static void test_output(void **state)
{
	struct fx *f = *state;
	assert_int_equal(run(f, "{\"name\":\"hello\"}"), 200);
	assert_int_equal(th_int(f->r.json, "exit_code"), 0);
	assert_string_equal(th_str(f->r.json, "output"), "hello big world\n");
	assert_string_equal(th_str(f->r.json, "output_encoding"), "text");
	assert_false(cJSON_IsTrue(th_get(f->r.json, "timed_out")));
	/* arguments are words, never shell */
	assert_int_equal(run(f, "{\"name\":\"echo\",\"args\":[\"$(id)\",\"; ls\",\"*\"]}"), 200);
	assert_string_equal(th_str(f->r.json, "output"), "$(id) ; ls *\n");
	assert_int_equal(run(f, "{\"name\":\"fail\"}"), 200);
	assert_int_equal(th_int(f->r.json, "exit_code"), 3);
	assert_string_equal(th_str(f->r.json, "output"), "failing\n");
	assert_int_equal(run(f, "{\"name\":\"binary\"}"), 200);
	assert_string_equal(th_str(f->r.json, "output_encoding"), "base64");
	assert_string_equal(th_str(f->r.json, "output"), "/wB4");
	/* the working directory is the root */
	assert_int_equal(run(f, "{\"name\":\"pwd\"}"), 200);
	char want[4200];
	char *real = realpath(f->root, NULL);
	snprintf(want, sizeof want, "%s\n", real);
	free(real);
	assert_string_equal(th_str(f->r.json, "output"), want);
	/* a signal */
	assert_int_equal(run(f, "{\"name\":\"killed\"}"), 200);
	assert_true(cJSON_IsNull(th_get(f->r.json, "exit_code")));
	assert_int_equal(th_int(f->r.json, "signal"), 9);
	assert_string_equal(th_str(f->r.json, "signal_name"), "KILL");
	/* a program that is not there */
	assert_int_equal(run(f, "{\"name\":\"missing\"}"), 500);
	assert_string_equal(th_str(f->r.json, "error"), "exec_failed");
}

static void test_timeout(void **state)
{
	struct fx *f = *state;
	int64_t t0 = cfs_mono_ms();
	assert_int_equal(run(f, "{\"name\":\"slow\"}"), 200);
	int64_t took = cfs_mono_ms() - t0;
	assert_true(cJSON_IsTrue(th_get(f->r.json, "timed_out")));
	assert_int_equal(th_int(f->r.json, "signal"), 9);
	assert_true(took >= 900 && took < 5000);   /* the background sleep died too */
}

static void test_cap(void **state)
{
	struct fx *f = *state;
	assert_int_equal(run(f, "{\"name\":\"chatty\"}"), 200);
	assert_true(cJSON_IsTrue(th_get(f->r.json, "truncated")));
	assert_int_equal(strlen(th_str(f->r.json, "output")), 1024);
	assert_int_equal(th_int(f->r.json, "exit_code"), 0);   /* drained, never blocked */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_allow_list),
		cmocka_unit_test(test_output),
		cmocka_unit_test(test_timeout),
		cmocka_unit_test(test_cap),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
