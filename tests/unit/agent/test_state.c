/* test_state.c — the state dir: init, pair, the running agent noticing a new
 * pairing, rotation through /v1/rotate, and the refusals. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "auth/crypto.h"
#include "core/util.h"
#include "helpers.h"

#define MGR "0f0e0d0c-0b0a-4908-8706-050403020100"
#define SECRET "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

struct fx {
	char *dir;
	char state[4200];
	char root[4200];
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof *f);
	f->dir = th_mkdtemp();
	snprintf(f->state, sizeof f->state, "%s/state/deeper", f->dir);
	snprintf(f->root, sizeof f->root, "%s/root", f->dir);
	mkdir(f->root, 0755);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	th_rmrf(f->dir);
	free(f->dir);
	free(f);
	return 0;
}

static void test_init(void **state)
{
	struct fx *f = *state;
	char env[37];
	struct cfs_err err = { 0 };
	assert_int_equal(agent_state_init(f->state, f->root, "127.0.0.1:7001", env, &err), 0);
	assert_int_equal(strlen(env), 36);
	assert_int_equal(env[14], '4');
	struct stat st;
	assert_int_equal(stat(th_path(f->state, "master.key"), &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(st.st_size, 32);
	assert_int_equal(stat(f->state, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	char *id = th_read(f->state, "env_id", NULL);
	assert_memory_equal(id, env, 36);
	free(id);
	/* the written agent.conf parses and names the root */
	struct agent_conf *c;
	char conf[4300];
	snprintf(conf, sizeof conf, "%s/agent.conf", f->state);
	assert_int_equal(agent_conf_load(conf, &c, &err), 0);
	char *real = realpath(f->root, NULL);
	assert_string_equal(c->root, real);
	free(real);
	assert_string_equal(c->listen, "127.0.0.1:7001");
	agent_conf_free(c);
	/* never over an existing agent */
	char env2[37];
	assert_int_equal(agent_state_init(f->state, f->root, "127.0.0.1:7001", env2, &err), -EEXIST);
	assert_non_null(strstr(err.msg, "already holds an agent"));
	/* bad arguments */
	assert_int_equal(agent_state_init(th_path(f->dir, "s2"), th_path(f->dir, "nope"),
					  "127.0.0.1:7001", env2, &err), -ENOENT);
	assert_int_equal(agent_state_init(th_path(f->dir, "s3"), f->root, "7001", env2, &err),
			 -EINVAL);
}

static void test_pair_and_rotate(void **state)
{
	struct fx *f = *state;
	char env[37];
	struct cfs_err err = { 0 };
	assert_int_equal(agent_state_init(f->state, f->root, ":7001", env, &err), 0);
	/* not paired: every env is unknown */
	struct agent *a;
	struct agent_opts o = { .state_dir = f->state };
	assert_int_equal(agent_new(&o, &a, &err), 0);
	assert_string_equal(agent_env_id(a), env);
	uint8_t got[32], want[32];
	assert_int_equal(agent_lookup(a, MGR, got), -ENOENT);
	/* pairing while it runs is seen without a restart */
	assert_int_equal(agent_state_pair(f->state, MGR, SECRET, &err), 0);
	assert_int_equal(agent_lookup(a, MGR, got), 0);
	cfs_unhex(SECRET, want, 32);
	assert_memory_equal(got, want, 32);
	assert_int_equal(agent_lookup(a, "another-env", got), -ENOENT);
	/* the secret is not stored in the clear */
	char *pair = th_read(f->state, "pair", NULL);
	assert_null(strstr(pair, SECRET));
	assert_non_null(strstr(pair, MGR));
	free(pair);
	struct stat st;
	stat(th_path(f->state, "pair"), &st);
	assert_int_equal(st.st_mode & 0777, 0600);

	/* rotation: the new secret sealed under the old one */
	uint8_t fresh[32], *sealed;
	size_t sl;
	cfs_random(fresh, sizeof fresh);
	assert_int_equal(cfs_seal(want, "rotate", fresh, 32, &sealed, &sl), 0);
	char *hex = malloc(sl * 2 + 1);
	cfs_hex(sealed, sl, hex);
	char body[1200];
	snprintf(body, sizeof body, "{\"sealed\":\"%s\"}", hex);
	struct th_reply r;
	struct wire_request rq = { .method = "POST", .target = "/v1/rotate", .env = MGR,
				   .body = body, .body_len = strlen(body) };
	struct wire_response rs = { .status = 200 };
	agent_handle(a, &rq, &rs);
	assert_int_equal(rs.status, 200);
	cfs_buf_free(&rs.body);
	assert_int_equal(agent_lookup(a, MGR, got), 0);
	assert_memory_equal(got, fresh, 32);
	/* a second agent loading the state sees the new secret too */
	struct agent *b;
	assert_int_equal(agent_new(&o, &b, &err), 0);
	assert_int_equal(agent_lookup(b, MGR, got), 0);
	assert_memory_equal(got, fresh, 32);
	agent_free(b);
	/* replaying the same rotation fails: it no longer opens */
	rs = (struct wire_response){ .status = 200 };
	agent_handle(a, &rq, &rs);
	assert_int_equal(rs.status, 400);
	cfs_buf_free(&rs.body);
	/* garbage */
	assert_int_equal(th_call(a, "POST", "/v1/rotate", "{}", 2, &r), 400);
	th_reply_free(&r);
	free(sealed);
	free(hex);

	/* re-pairing replaces the manager */
	assert_int_equal(agent_state_pair(f->state, "11111111-1111-4111-8111-111111111111", SECRET,
					  &err), 0);
	assert_int_equal(agent_lookup(a, MGR, got), -ENOENT);
	assert_int_equal(agent_lookup(a, "11111111-1111-4111-8111-111111111111", got), 0);
	/* a removed pair file unpairs */
	unlink(th_path(f->state, "pair"));
	assert_int_equal(agent_lookup(a, "11111111-1111-4111-8111-111111111111", got), -ENOENT);
	agent_free(a);

	/* bad pair arguments */
	assert_int_equal(agent_state_pair(f->state, MGR, "abc", &err), -EINVAL);
	assert_int_equal(agent_state_pair(f->state, "bad env!", SECRET, &err), -EINVAL);
	assert_int_equal(agent_state_pair(th_path(f->dir, "none"), MGR, SECRET, &err), -ENOENT);
	assert_non_null(strstr(err.msg, "cloudfs-agent init"));
}

static void test_default_dir(void **state)
{
	(void)state;
	char *d = NULL;
	assert_int_equal(agent_state_default(&d), 0);
	if (geteuid() == 0) {
		assert_string_equal(d, "/var/lib/cloudfs-agent");
	} else {
		assert_non_null(strstr(d, "cloudfs-agent"));
	}
	free(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_init, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pair_and_rotate, setup, teardown),
		cmocka_unit_test(test_default_dir),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
