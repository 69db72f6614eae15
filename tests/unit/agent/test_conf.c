/* test_conf.c — agent.conf: a full file, defaults, and every mistake caught
 * with its file and line. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "agent/internal.h"

static const char good[] =
	"# comment\n"
	"[agent]\n"
	"root = /srv\n"
	"listen = 127.0.0.1:7001\n"
	"tls_cert =\n"
	"tls_key =\n"
	"trusted_proxies = 10.0.0.1, ::1\n"
	"\n"
	"[command.restart]\n"
	"argv = systemctl restart 'my service'\n"
	"timeout = 2m\n"
	"output_cap = 64K\n"
	"\n"
	"[command.update]\n"
	"argv = apt-get -y upgrade\n"
	"extra_args = yes\n"
	"\n"
	"[logs]\n"
	"syslog = /var/log/syslog\n"
	"app.err = /srv/app/err.log\n"
	"\n"
	"[config]\n"
	"nginx = /etc/nginx/nginx.conf\n";

static void test_good(void **state)
{
	(void)state;
	struct agent_conf *c;
	struct cfs_err err = { 0 };
	assert_int_equal(agent_conf_parse(good, "agent.conf", &c, &err), 0);
	assert_string_equal(c->root, "/srv");
	assert_string_equal(c->listen, "127.0.0.1:7001");
	assert_null(c->tls_cert);
	assert_null(c->tls_key);
	assert_string_equal(c->trusted_proxies, "10.0.0.1, ::1");
	assert_int_equal(c->ncmds, 2);
	const struct agent_command *r = agent_conf_command(c, "restart");
	assert_non_null(r);
	assert_int_equal(r->argc, 3);
	assert_string_equal(r->argv[2], "my service");
	assert_int_equal(r->timeout_ms, 120000);
	assert_int_equal(r->output_cap, 65536);
	assert_false(r->extra_args);
	const struct agent_command *u = agent_conf_command(c, "update");
	assert_int_equal(u->timeout_ms, 30000);       /* defaults */
	assert_int_equal(u->output_cap, 1 << 20);
	assert_true(u->extra_args);
	assert_null(agent_conf_command(c, "nope"));
	assert_int_equal(c->nlogs, 2);
	assert_string_equal(c->logs[1].name, "app.err");
	assert_string_equal(c->logs[1].path, "/srv/app/err.log");
	assert_int_equal(c->nconfigs, 1);
	agent_conf_free(c);
}

static void test_minimal(void **state)
{
	(void)state;
	struct agent_conf *c;
	struct cfs_err err = { 0 };
	assert_int_equal(agent_conf_parse("[agent]\nroot=/x\nlisten=:7001\n", NULL, &c, &err), 0);
	assert_int_equal(c->ncmds + c->nlogs + c->nconfigs, 0);
	agent_conf_free(c);
}

#define HEAD "[agent]\nroot = /srv\nlisten = 127.0.0.1:7001\n"

static const struct {
	const char *text;
	const char *msg;   /* the error must start with this */
} bad[] = {
	{ HEAD "colour = blue\n", "agent.conf:4: unknown key \"colour\" in [agent]" },
	{ HEAD "root = /x\n", "agent.conf:4: root given twice" },
	{ HEAD "[agnet]\n", "agent.conf:4: unknown section [agnet]" },
	{ HEAD "[command.-x]\nargv = ls\n", "agent.conf:4: bad command name" },
	{ HEAD "[command.a]\nargv = ls\n[command.a]\n", "agent.conf:6: [command.a] given twice" },
	{ HEAD "\n[command.a]\ntimeout = 5s\n", "agent.conf:5: [command.a] has no argv" },
	{ HEAD "[command.a]\n", "agent.conf:4: [command.a] has no argv" },
	{ HEAD "[command.a]\nargv = ls\nargs = -l\n", "agent.conf:6: unknown key \"args\"" },
	{ HEAD "[command.a]\nargv = ls 'x\n", "agent.conf:5: argv: unterminated single quote" },
	{ HEAD "[command.a]\nargv = ls\ntimeout = soon\n", "agent.conf:6: timeout must be" },
	{ HEAD "[command.a]\nargv = ls\noutput_cap = 5G\n", "agent.conf:6: output_cap must be" },
	{ HEAD "[command.a]\nargv = ls\nextra_args = maybe\n", "agent.conf:6: extra_args must be" },
	{ HEAD "[command.a]\nargv = ls\nargv = ps\n", "agent.conf:6: argv given twice" },
	{ HEAD "[logs]\nsys = var/log/syslog\n", "agent.conf:5: [logs] sys must be an absolute" },
	{ HEAD "[config]\n.hidden = /etc/x\n", "agent.conf:5: bad config name" },
	{ HEAD "[logs]\na = /x\na = /y\n", "agent.conf:6: a given twice in [logs]" },
	{ "root = /srv\n", "agent.conf:1: \"root\" outside of any section" },
	{ HEAD "  indented = 1\n", "agent.conf:4: indented line" },
	{ HEAD "just words\n", "agent.conf:4: expected \"key = value\"" },
	{ HEAD "[logs\n", "agent.conf:4: section header without ']'" },
	{ "[agent]\nlisten = :1\n", "agent.conf: [agent] root is required" },
	{ "[agent]\nroot = /x\n", "agent.conf: [agent] listen is required" },
	{ "[agent]\nroot = relative\n", "agent.conf:2: root must be an absolute path" },
	{ "[agent]\nroot = /x\nlisten = nope\n", "agent.conf:3: listen must be ADDR:PORT" },
	{ "[agent]\nroot = /x\nlisten = 1.2.3.4:99999\n", "agent.conf:3: listen must be" },
	{ HEAD "tls_cert = /c.pem\n", "agent.conf: [agent] tls_cert and tls_key go together" },
	{ "", "agent.conf: [agent] root is required" },
};

static void test_bad(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct agent_conf *c = NULL;
		struct cfs_err err = { 0 };
		int r = agent_conf_parse(bad[i].text, "agent.conf", &c, &err);
		if (r != -EINVAL || strncmp(err.msg, bad[i].msg, strlen(bad[i].msg)))
			fail_msg("case %zu: got %d \"%s\", want \"%s\"", i, r, err.msg, bad[i].msg);
		assert_null(c);
	}
}

static void test_long_line(void **state)
{
	(void)state;
	char text[600];
	char arg[400];
	memset(arg, 'x', sizeof arg - 1);
	arg[sizeof arg - 1] = '\0';
	snprintf(text, sizeof text, HEAD "[command.a]\nargv = echo %s\n", arg);
	struct agent_conf *c = NULL;
	struct cfs_err err = { 0 };
	assert_int_equal(agent_conf_parse(text, "agent.conf", &c, &err), -EINVAL);
	assert_string_equal(err.msg, "agent.conf:5: line too long (at most 198 bytes)");
}

static void test_listen(void **state)
{
	(void)state;
	assert_int_equal(agent_listen_check("127.0.0.1:7001"), 0);
	assert_int_equal(agent_listen_check("[::1]:7001"), 0);
	assert_int_equal(agent_listen_check(":7001"), 0);
	assert_int_equal(agent_listen_check("host-1.example:80"), 0);
	assert_int_equal(agent_listen_check("::1:7001"), -EINVAL);
	assert_int_equal(agent_listen_check("[]:7001"), -EINVAL);
	assert_int_equal(agent_listen_check("127.0.0.1"), -EINVAL);
	assert_int_equal(agent_listen_check("127.0.0.1:0"), 0);   /* any free port */
	assert_int_equal(agent_listen_check("127.0.0.1:"), -EINVAL);
	assert_int_equal(agent_listen_check("a b:1"), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good),
		cmocka_unit_test(test_minimal),
		cmocka_unit_test(test_bad),
		cmocka_unit_test(test_long_line),
		cmocka_unit_test(test_listen),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
