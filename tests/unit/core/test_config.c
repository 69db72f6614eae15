/* test_config.c — cloudfs.conf: defaults, keys, overrides, errors, rendering. */
#include <errno.h>
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

#include "core/config.h"
#include "core/log.h"

static char tmpdir[256];
static char conf_path[300];

static int setup(void **state)
{
	(void)state;
	const char *base = getenv("TMPDIR");
	snprintf(tmpdir, sizeof tmpdir, "%s/cfs-config-XXXXXX", base && *base ? base : P_tmpdir);
	if (!mkdtemp(tmpdir))
		return -1;
	snprintf(conf_path, sizeof conf_path, "%s/cloudfs.conf", tmpdir);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	unlink(conf_path);
	rmdir(tmpdir);
	return 0;
}

static void write_conf(const char *text)
{
	FILE *f = fopen(conf_path, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
	assert_int_equal(fclose(f), 0);
}

/* Load text as the file, with the given overrides. */
static int load(const char *text, const char *const *ov, size_t n, struct cfs_config *c,
		struct cfs_err *err)
{
	write_conf(text);
	return cfs_config_load(conf_path, ov, n, c, err);
}

/* Loading must fail with -EINVAL and a message holding want; "@" in want
 * stands for the config file's path. */
static void expect_fail(const char *text, const char *override, const char *want)
{
	struct cfs_config c;
	struct cfs_err err;
	char expect[512];
	const char *at = strchr(want, '@');
	if (at)
		snprintf(expect, sizeof expect, "%.*s%s%s", (int)(at - want), want, conf_path, at + 1);
	else
		snprintf(expect, sizeof expect, "%s", want);
	int r = load(text, override ? &override : NULL, override ? 1 : 0, &c, &err);
	if (r != -EINVAL || !strstr(err.msg, expect))
		fail_msg("text %s override %s: got %d '%s', want -EINVAL '%s'", text,
			 override ? override : "-", r, err.msg, expect);
	assert_int_equal(err.code, -EINVAL);
	/* A failed load leaves nothing behind. */
	assert_null(c.superadmins);
	assert_null(c.repos_restic);
	assert_null(c.attached);
	cfs_config_free(&c);
}

static void check_defaults(const struct cfs_config *c)
{
	assert_int_equal(c->n_superadmins, 0);
	assert_int_equal(c->n_provisioners, 0);
	assert_int_equal(c->poll_interval_s, 5);
	assert_int_equal(c->poll_timeout_s, 10);
	assert_int_equal(c->poll_stale_after, 3);
	assert_null(c->repos_root);
	assert_null(c->repos_htpasswd);
	assert_null(c->repos_operator_password_file);
	assert_null(c->repos_owner);
	assert_string_equal(c->repos_restic, "restic");
	assert_string_equal(c->repos_url, "http://127.0.0.1:8000");
	assert_string_equal(c->repos_prune_at, "04:00");
	assert_string_equal(c->repos_retention, "keep-last=20 keep-daily=7 keep-weekly=4 keep-monthly=6");
	assert_int_equal(c->repos_bcrypt_cost, 5);
	assert_int_equal(c->repos_cache_size, 32u << 20);
	assert_int_equal(c->repos_refresh_s, 60);
	assert_int_equal(c->repos_quota_scan_s, 300);
	assert_int_equal(c->n_attached, 0);
	assert_true(c->mirrors_max_delete_fraction == 0.5);
	assert_int_equal(c->jobs_workers, 4);
	assert_int_equal(c->jobs_keep_s, 7 * 86400);
	assert_null(c->peers_trusted_proxies);
	assert_int_equal(c->log_level, CFS_LOG_INFO);
}

static void test_defaults(void **state)
{
	(void)state;
	struct cfs_config c;
	assert_int_equal(cfs_config_defaults(&c), 0);
	check_defaults(&c);
	cfs_config_free(&c);
	cfs_config_free(&c);   /* twice is harmless */
	cfs_config_free(NULL);
}

static void test_missing_and_empty(void **state)
{
	(void)state;
	struct cfs_config c;
	struct cfs_err err;
	char missing[320];
	snprintf(missing, sizeof missing, "%s/nope.conf", tmpdir);

	assert_int_equal(cfs_config_load(missing, NULL, 0, &c, &err), 0);
	check_defaults(&c);
	cfs_config_free(&c);

	assert_int_equal(cfs_config_load(NULL, NULL, 0, &c, &err), 0);
	check_defaults(&c);
	cfs_config_free(&c);

	assert_int_equal(load("", NULL, 0, &c, &err), 0);
	check_defaults(&c);
	cfs_config_free(&c);

	assert_int_equal(load("# only a comment\n\n   \n; another\n", NULL, 0, &c, &err), 0);
	check_defaults(&c);
	cfs_config_free(&c);

	/* Sections without keys are fine too. */
	assert_int_equal(load("[users]\n[poll]\n[repos]\n[mirrors]\n[jobs]\n[peers]\n[log]\n", NULL, 0, &c,
			      &err), 0);
	check_defaults(&c);
	cfs_config_free(&c);
}

static const char every_key[] =
	"[users]\n"
	"superadmins = alice, bob carol\n"
	"provisioners = dave\n"
	"[poll]\n"
	"interval = 30s\n"
	"timeout = 2m\n"
	"stale_after = 7\n"
	"[repos]\n"
	"root = /srv/restic\n"
	"htpasswd = /srv/restic/users.htpasswd\n"
	"operator_password_file = /etc/cloudfs/operator.pw\n"
	"owner = rest-server\n"
	"restic = /usr/local/bin/restic\n"
	"url = https://backup.example.org:8443/\n"
	"prune_at = 23:59\n"
	"retention = keep-last=3,keep-within=30d   keep-yearly=2\n"
	"bcrypt_cost = 12\n"
	"cache_size = 1G\n"
	"refresh = 12h\n"
	"quota_scan = 1d\n"
	"[repos.alice]\n"
	"path = /mnt/old/alice\n"
	"password_file = /etc/cloudfs/alice.pw\n"
	"[repos.bob]\n"
	"url = rest:http://10.0.0.2:8000/bob/\n"
	"[mirrors]\n"
	"max_delete = 12.5%\n"
	"[jobs]\n"
	"workers = 16\n"
	"keep = 36h\n"
	"[peers]\n"
	"trusted_proxies = 127.0.0.1, 10.0.0.0/8 ::1 fd00::/8\n"
	"[log]\n"
	"level = debug\n";

static void check_every_key(const struct cfs_config *c)
{
	assert_int_equal(c->n_superadmins, 3);
	assert_string_equal(c->superadmins[0], "alice");
	assert_string_equal(c->superadmins[1], "bob");
	assert_string_equal(c->superadmins[2], "carol");
	assert_int_equal(c->n_provisioners, 1);
	assert_string_equal(c->provisioners[0], "dave");
	assert_int_equal(c->poll_interval_s, 30);
	assert_int_equal(c->poll_timeout_s, 120);
	assert_int_equal(c->poll_stale_after, 7);
	assert_string_equal(c->repos_root, "/srv/restic");
	assert_string_equal(c->repos_htpasswd, "/srv/restic/users.htpasswd");
	assert_string_equal(c->repos_operator_password_file, "/etc/cloudfs/operator.pw");
	assert_string_equal(c->repos_owner, "rest-server");
	assert_string_equal(c->repos_restic, "/usr/local/bin/restic");
	assert_string_equal(c->repos_url, "https://backup.example.org:8443");
	assert_string_equal(c->repos_prune_at, "23:59");
	assert_string_equal(c->repos_retention, "keep-last=3 keep-within=30d keep-yearly=2");
	assert_int_equal(c->repos_bcrypt_cost, 12);
	assert_int_equal(c->repos_cache_size, 1u << 30);
	assert_int_equal(c->repos_refresh_s, 12 * 3600);
	assert_int_equal(c->repos_quota_scan_s, 86400);
	assert_int_equal(c->n_attached, 2);
	assert_string_equal(c->attached[0].user, "alice");
	assert_string_equal(c->attached[0].path, "/mnt/old/alice");
	assert_null(c->attached[0].url);
	assert_string_equal(c->attached[0].password_file, "/etc/cloudfs/alice.pw");
	assert_string_equal(c->attached[1].user, "bob");
	assert_null(c->attached[1].path);
	assert_string_equal(c->attached[1].url, "rest:http://10.0.0.2:8000/bob");
	assert_null(c->attached[1].password_file);
	assert_true(c->mirrors_max_delete_fraction == 0.125);
	assert_int_equal(c->jobs_workers, 16);
	assert_int_equal(c->jobs_keep_s, 36 * 3600);
	assert_string_equal(c->peers_trusted_proxies, "127.0.0.1 10.0.0.0/8 ::1 fd00::/8");
	assert_int_equal(c->log_level, CFS_LOG_DEBUG);
}

static void test_every_key(void **state)
{
	(void)state;
	struct cfs_config c;
	struct cfs_err err;
	int r = load(every_key, NULL, 0, &c, &err);
	if (r)
		fail_msg("%d %s", r, err.msg);
	check_every_key(&c);
	cfs_config_free(&c);
}

static void test_syntax_variants(void **state)
{
	(void)state;
	struct cfs_config c;
	struct cfs_err err;
	/* BOM, CRLF, indentation, case, inline comments, colon separator,
	 * a key given twice (last wins, lists are replaced), an empty value
	 * (back to the default). */
	const char *text =
		"\xEF\xBB\xBF# comment\r\n"
		"[POLL]   ; trailing comment\r\n"
		"    Interval = 7s\r\n"
		"\ttimeout: 20s ; inline comment\r\n"
		"[users]\n"
		"superadmins = alice bob\n"
		"superadmins = carol\n"
		"[Repos]\n"
		"restic = /opt/restic\n"
		"restic =\n"
		"root = /a\n"
		"root = \n"
		"[repos.Alice]\n"
		"PATH = /x\n"
		"[log]\n"
		"level = WARNING\n";
	int r = load(text, NULL, 0, &c, &err);
	if (r)
		fail_msg("%d %s", r, err.msg);
	assert_int_equal(c.poll_interval_s, 7);
	assert_int_equal(c.poll_timeout_s, 20);
	assert_int_equal(c.n_superadmins, 1);
	assert_string_equal(c.superadmins[0], "carol");
	assert_string_equal(c.repos_restic, "restic");
	assert_null(c.repos_root);
	assert_int_equal(c.n_attached, 1);
	assert_string_equal(c.attached[0].user, "Alice");
	assert_string_equal(c.attached[0].path, "/x");
	assert_int_equal(c.log_level, CFS_LOG_WARN);
	cfs_config_free(&c);

	/* Duplicates inside one list collapse. */
	assert_int_equal(load("[users]\nprovisioners = a,a b , a\n", NULL, 0, &c, &err), 0);
	assert_int_equal(c.n_provisioners, 2);
	assert_string_equal(c.provisioners[0], "a");
	assert_string_equal(c.provisioners[1], "b");
	cfs_config_free(&c);
}

static void test_overrides(void **state)
{
	(void)state;
	struct cfs_config c;
	struct cfs_err err;
	const char *ov[] = {
		"poll.interval=2s",
		"repos.root=/srv/restic",
		"repos.alice.path=/x",
		"users.superadmins=eve",
		"log.level=error",
		"jobs.workers= 8 ",
		"jobs.workers=9",           /* last wins */
		"repos.bob.url=http://h:8000",
		"repos.url=",               /* back to the default */
	};
	int r = load("[poll]\ninterval = 30s\n[users]\nsuperadmins = alice\n[repos]\nurl = http://x:1\n"
		     "[repos.alice]\npath = /old\npassword_file = /pw\n",
		     ov, sizeof ov / sizeof ov[0], &c, &err);
	if (r)
		fail_msg("%d %s", r, err.msg);
	assert_int_equal(c.poll_interval_s, 2);
	assert_string_equal(c.repos_root, "/srv/restic");
	assert_int_equal(c.n_superadmins, 1);
	assert_string_equal(c.superadmins[0], "eve");
	assert_int_equal(c.log_level, CFS_LOG_ERR);
	assert_int_equal(c.jobs_workers, 9);
	assert_string_equal(c.repos_url, "http://127.0.0.1:8000");
	assert_int_equal(c.n_attached, 2);
	assert_string_equal(c.attached[0].user, "alice");
	assert_string_equal(c.attached[0].path, "/x");
	assert_string_equal(c.attached[0].password_file, "/pw");
	assert_string_equal(c.attached[1].user, "bob");
	assert_string_equal(c.attached[1].url, "http://h:8000");
	cfs_config_free(&c);

	/* Overrides alone, without a file. */
	const char *one = "mirrors.max_delete=0.25";
	assert_int_equal(cfs_config_load(NULL, &one, 1, &c, &err), 0);
	assert_true(c.mirrors_max_delete_fraction == 0.25);
	cfs_config_free(&c);
}

static void test_override_errors(void **state)
{
	(void)state;
	expect_fail("", "poll.intervall=2s", "option poll.intervall=2s: unknown key 'intervall' in [poll]");
	expect_fail("", "nosuch.key=1", "option nosuch.key=1: unknown section [nosuch]");
	expect_fail("", "noequals", "option noequals: expected SECTION.KEY=VALUE");
	expect_fail("", "poll=3", "option poll=3: expected SECTION.KEY=VALUE");
	expect_fail("", "=3", "option =3: expected SECTION.KEY=VALUE");
	expect_fail("", ".interval=3", "option .interval=3: expected SECTION.KEY=VALUE");
	expect_fail("", "poll.=3", "option poll.=3: expected SECTION.KEY=VALUE");
	expect_fail("", "poll.interval=abc", "option poll.interval=abc: interval: bad duration 'abc'");
	expect_fail("", "repos.alice.nope=1", "option repos.alice.nope=1: unknown key 'nope' in [repos.USER]");
	expect_fail("", "repos.al/ice.path=/x", "option repos.al/ice.path=/x: [repos.al/ice]: not a valid user name");
	/* The override is checked even when the file is fine, and the file
	 * first: a bad file is reported before a bad option. */
	expect_fail("[poll]\nbad = 1\n", "poll.nope=1", "@:2: unknown key 'bad' in [poll]");
}

static void test_file_errors(void **state)
{
	(void)state;
	expect_fail("[poll]\ninterval = 5s\nfoo = 1\n", NULL, "@:3: unknown key 'foo' in [poll]");
	expect_fail("[poll]\n[nosuch]\n", NULL, "@:2: unknown section [nosuch]");
	expect_fail("[ poll ]\n", NULL, "@:1: unknown section [ poll ]");
	expect_fail("interval = 5s\n", NULL, "@:1: key 'interval' outside any section");
	expect_fail("[poll]\ngarbage\n", NULL, "@:2: expected 'key = value' or '[section]'");
	expect_fail("[poll\n", NULL, "@:1: bad section header");
	expect_fail("[poll] junk\n", NULL, "@:1: bad section header");
	expect_fail("[repos.]\n", NULL, "@:1: [repos.]: not a valid user name");
	expect_fail("[repos.-x]\n", NULL, "@:1: [repos.-x]: not a valid user name");
	expect_fail("[users]\n[poll]\ninterval = 0s\n", NULL, "@:3: interval: bad duration '0s'");
	/* The first error wins, whatever found it. */
	expect_fail("[poll]\nbroken line\nfoo = 1\n", NULL, "@:2: expected");
	expect_fail("[poll]\nfoo = 1\nbroken line\n", NULL, "@:2: unknown key 'foo'");
}

static void test_nul_byte(void **state)
{
	(void)state;
	struct cfs_config c;
	struct cfs_err err;
	FILE *f = fopen(conf_path, "w");
	assert_non_null(f);
	fwrite("[poll]\ninterval = 5\0s\n", 1, 22, f);
	fclose(f);
	assert_int_equal(cfs_config_load(conf_path, NULL, 0, &c, &err), -EINVAL);
	assert_non_null(strstr(err.msg, ":2: NUL byte"));
}

static void test_long_lines(void **state)
{
	(void)state;
	struct cfs_config c;
	struct cfs_err err;
	char *text = malloc(4096);
	assert_non_null(text);

	/* A 1024-byte line is fine: a comment and a long list. */
	strcpy(text, "[users]\n#");
	memset(text + strlen(text), 'c', 1023);
	text[9 + 1023] = '\0';
	strcat(text, "\nsuperadmins =");
	size_t len = strlen("superadmins =");
	while (len + 7 <= CFS_CONFIG_MAX_LINE) {
		strcat(text, " user1");
		len += 6;
	}
	strcat(text, "\n");
	int r = load(text, NULL, 0, &c, &err);
	if (r)
		fail_msg("%d %s", r, err.msg);
	assert_int_equal(c.n_superadmins, 1);
	cfs_config_free(&c);

	/* 1025 bytes is not, even in a comment. */
	strcpy(text, "[users]\n\n#");
	memset(text + strlen(text), 'c', 1024);
	text[10 + 1024] = '\0';
	strcat(text, "\n");
	assert_int_equal(load(text, NULL, 0, &c, &err), -EINVAL);
	char want[400];
	snprintf(want, sizeof want, "%s:3: line longer than 1024 bytes", conf_path);
	assert_string_equal(err.msg, want);

	/* A line just past what inih would take by default (200). */
	strcpy(text, "[repos]\nroot = /");
	memset(text + strlen(text), 'd', 400);
	text[16 + 400] = '\0';
	strcat(text, "\n");
	assert_int_equal(load(text, NULL, 0, &c, &err), 0);
	assert_int_equal(strlen(c.repos_root), 401);
	cfs_config_free(&c);

	/* A long line without a final newline. */
	strcpy(text, "[repos]\nroot = /");
	memset(text + strlen(text), 'd', 2000);
	text[16 + 2000] = '\0';
	expect_fail(text, NULL, "@:2: line longer than 1024 bytes");
	free(text);
}

struct bad_value {
	const char *opt;
	const char *want;
};

static void test_bad_values(void **state)
{
	(void)state;
	static const struct bad_value bad[] = {
		{ "poll.interval=abc", "bad duration" },
		{ "poll.interval=5x", "bad duration" },
		{ "poll.interval=-5s", "bad duration" },
		{ "poll.interval=0", "bad duration" },
		{ "poll.timeout=5 s", "bad duration" },
		{ "poll.interval=99999999d", "bad duration" },
		{ "poll.stale_after=0", "not an integer from 1 to 1000" },
		{ "poll.stale_after=x", "not an integer" },
		{ "repos.cache_size=12Q", "bad size" },
		{ "repos.cache_size=0", "bad size" },
		{ "repos.cache_size=512K", "bad size" },
		{ "repos.cache_size=-1M", "bad size" },
		{ "repos.bcrypt_cost=3", "not an integer from 4 to 31" },
		{ "repos.bcrypt_cost=32", "not an integer from 4 to 31" },
		{ "repos.bcrypt_cost=abc", "not an integer" },
		{ "repos.bcrypt_cost=+5", "not an integer" },
		{ "repos.retention=keep-last=0", "keep-last takes a positive integer" },
		{ "repos.retention=keep-last=x", "keep-last takes a positive integer" },
		{ "repos.retention=keep-last", "keep-last takes a positive integer" },
		{ "repos.retention=keep-foo=1", "unknown key 'keep-foo'" },
		{ "repos.retention=keep-last=1 keep-last=2", "keep-last given twice" },
		{ "repos.retention=keep-within=5m", "keep-within takes hours or days" },
		{ "repos.retention=keep-within=d", "keep-within takes hours or days" },
		{ "repos.retention=keep-within=0d", "keep-within takes hours or days" },
		{ "repos.retention=,", "empty policy" },
		{ "repos.prune_at=4:00", "not a UTC time HH:MM" },
		{ "repos.prune_at=24:00", "not a UTC time" },
		{ "repos.prune_at=04:60", "not a UTC time" },
		{ "repos.prune_at=0400", "not a UTC time" },
		{ "repos.prune_at=04:00Z", "not a UTC time" },
		{ "log.level=verbose", "not one of error, warning, info, debug" },
		{ "mirrors.max_delete=150%", "not a fraction" },
		{ "mirrors.max_delete=1.5", "not a fraction" },
		{ "mirrors.max_delete=-0.1", "not a fraction" },
		{ "mirrors.max_delete=nan", "not a fraction" },
		{ "mirrors.max_delete=1e-1", "not a fraction" },
		{ "mirrors.max_delete=%", "not a fraction" },
		{ "mirrors.max_delete=0..5", "not a fraction" },
		{ "jobs.workers=0", "not an integer from 1 to 256" },
		{ "jobs.workers=257", "not an integer from 1 to 256" },
		{ "jobs.keep=forever", "bad duration" },
		{ "repos.url=ftp://x", "url must be an http:// or https:// URL" },
		{ "repos.url=http://", "must be an http" },
		{ "repos.url=http:///x", "must be an http" },
		{ "repos.url=http://a b", "must be an http" },
		{ "repos.alice.url=file:///x", "must be an http" },
		{ "repos.root=relative/path", "is not an absolute path" },
		{ "repos.alice.path=x", "is not an absolute path" },
		{ "repos.alice.password_file=pw", "is not an absolute path" },
		{ "repos.owner=bad name", "is not a user name" },
		{ "repos.owner=-x", "is not a user name" },
		{ "repos.restic=re stic", "is not a program name" },
		{ "repos.root=/a ;b", "root: a blank followed by ';' starts a comment" },
		{ "repos.alice.path=/a\t;b", "path: a blank followed by ';' starts a comment" },
		{ "users.superadmins=al:ice", "'al:ice' is not a user name" },
		{ "users.superadmins=a a al:ice", "'al:ice' is not a user name" }, /* once a double free */
		{ "users.provisioners=ok uid:x", "'uid:x' is not a user name" },
		{ "peers.trusted_proxies=1.2.3.4/33", "'1.2.3.4/33' is not an IP address or CIDR" },
		{ "peers.trusted_proxies=::1/129", "is not an IP address" },
		{ "peers.trusted_proxies=notanip", "is not an IP address" },
		{ "peers.trusted_proxies=10.0.0.0/", "is not an IP address" },
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char want[200];
		snprintf(want, sizeof want, "option %s: ", bad[i].opt);
		expect_fail("", bad[i].opt, want);
		expect_fail("", bad[i].opt, bad[i].want);
	}
	/* The same checks apply in the file, with its line. */
	expect_fail("[repos]\nbcrypt_cost = 99\n", NULL, "@:2: bcrypt_cost: '99' is not an integer from 4 to 31");
	expect_fail("[repos]\n\nretention = keep-daily=7 keep-hour=1\n", NULL,
		    "@:3: retention: unknown key 'keep-hour'");
	expect_fail("[repos]\nprune_at = 25:00\n", NULL, "@:2: prune_at: '25:00' is not a UTC time HH:MM");
	expect_fail("[repos]\ncache_size = 10X\n", NULL, "@:2: cache_size: bad size '10X'");
}

static void test_good_values(void **state)
{
	(void)state;
	struct cfs_config c;
	struct cfs_err err;
	const char *ov[] = {
		"mirrors.max_delete=0",
		"repos.cache_size=1048576",
		"jobs.keep=0",
		"poll.interval=90",
		"repos.retention=keep-within=36h",
		"users.superadmins=uid:1234,ops@corp.example",
		"peers.trusted_proxies=192.168.0.0/16",
		"repos.prune_at=00:00",
	};
	int r = cfs_config_load(NULL, ov, sizeof ov / sizeof ov[0], &c, &err);
	if (r)
		fail_msg("%d %s", r, err.msg);
	assert_true(c.mirrors_max_delete_fraction == 0.0);
	assert_int_equal(c.repos_cache_size, 1 << 20);
	assert_int_equal(c.jobs_keep_s, 0);
	assert_int_equal(c.poll_interval_s, 90);
	assert_string_equal(c.repos_retention, "keep-within=36h");
	assert_string_equal(c.superadmins[0], "uid:1234");
	assert_string_equal(c.superadmins[1], "ops@corp.example");
	assert_string_equal(c.peers_trusted_proxies, "192.168.0.0/16");
	assert_string_equal(c.repos_prune_at, "00:00");
	cfs_config_free(&c);
}

static void test_attach(void **state)
{
	(void)state;
	struct cfs_config c;
	struct cfs_err err;
	/* Two sections of the same user merge, key by key. */
	int r = load("[repos.alice]\npath = /a\n[poll]\n[repos.alice]\npassword_file = /pw\n", NULL, 0, &c,
		     &err);
	if (r)
		fail_msg("%d %s", r, err.msg);
	assert_int_equal(c.n_attached, 1);
	assert_string_equal(c.attached[0].path, "/a");
	assert_string_equal(c.attached[0].password_file, "/pw");
	cfs_config_free(&c);

	/* A user name of 64 bytes survives (inih alone keeps 50). */
	char text[256], name[65];
	memset(name, 'u', 64);
	name[64] = '\0';
	snprintf(text, sizeof text, "[repos.%s]\nurl = https://h/r\n", name);
	assert_int_equal(load(text, NULL, 0, &c, &err), 0);
	assert_string_equal(c.attached[0].user, name);
	cfs_config_free(&c);

	expect_fail("[repos.alice]\npath = /a\nurl = http://h:8000/alice\n", NULL,
		    "@:3: [repos.alice] takes path or url, not both");
	expect_fail("[repos.alice]\npassword_file = /pw\n", NULL, "@:2: [repos.alice] needs path or url");
	expect_fail("[repos.alice]\npath = /a\n", "repos.alice.url=http://h",
		    "option repos.alice.url=http://h: [repos.alice] takes path or url, not both");
	/* Emptying the one source leaves none. */
	expect_fail("[repos.alice]\npath = /a\npath =\n", NULL, "@:3: [repos.alice] needs path or url");
	snprintf(text, sizeof text, "[repos.%su]\n", name);
	expect_fail(text, NULL, "not a valid user name");
}

static void test_open_errors(void **state)
{
	(void)state;
	struct cfs_config c;
	struct cfs_err err;
	assert_int_equal(cfs_config_load(tmpdir, NULL, 0, &c, &err), -EISDIR);
	assert_non_null(strstr(err.msg, "is a directory"));
	assert_null(c.repos_restic);

	char notdir[320];
	write_conf("");
	snprintf(notdir, sizeof notdir, "%s/x", conf_path);
	assert_int_equal(cfs_config_load(notdir, NULL, 0, &c, &err), -ENOTDIR);
	assert_int_equal(strncmp(err.msg, notdir, strlen(notdir)), 0);

	if (geteuid() != 0) {   /* root reads through mode 000 */
		write_conf("[poll]\n");
		chmod(conf_path, 0);
		assert_int_equal(cfs_config_load(conf_path, NULL, 0, &c, &err), -EACCES);
		chmod(conf_path, 0600);
	}
}

static void test_render_roundtrip(void **state)
{
	(void)state;
	struct cfs_config c, c2;
	struct cfs_err err;
	struct cfs_buf b1 = CFS_BUF_INIT, b2 = CFS_BUF_INIT;

	/* Defaults. */
	assert_int_equal(cfs_config_defaults(&c), 0);
	assert_int_equal(cfs_config_render(&c, &b1), 0);
	assert_non_null(strstr(b1.data, "[poll]\ninterval = 5s\ntimeout = 10s\nstale_after = 3\n"));
	assert_non_null(strstr(b1.data, "\nroot =\n"));
	assert_non_null(strstr(b1.data, "\ncache_size = 32M\n"));
	assert_non_null(strstr(b1.data, "\nmax_delete = 50%\n"));
	assert_non_null(strstr(b1.data, "\nkeep = 7d\n"));
	assert_non_null(strstr(b1.data, "\nquota_scan = 5m\n"));
	assert_non_null(strstr(b1.data, "\nrefresh = 1m\n"));
	assert_non_null(strstr(b1.data, "[log]\nlevel = info\n"));
	assert_int_equal(load(b1.data, NULL, 0, &c2, &err), 0);
	check_defaults(&c2);
	cfs_config_free(&c2);
	cfs_config_free(&c);
	cfs_buf_free(&b1);

	/* Every key, through render, back, and render again. */
	int r = load(every_key, NULL, 0, &c, &err);
	if (r)
		fail_msg("%d %s", r, err.msg);
	assert_int_equal(cfs_config_render(&c, &b1), 0);
	assert_non_null(strstr(b1.data, "[repos.alice]\npath = /mnt/old/alice\npassword_file = /etc/cloudfs/alice.pw\n"));
	assert_non_null(strstr(b1.data, "[repos.bob]\nurl = rest:http://10.0.0.2:8000/bob\n"));
	assert_non_null(strstr(b1.data, "superadmins = alice bob carol\n"));
	assert_non_null(strstr(b1.data, "max_delete = 12.5%\n"));
	r = load(b1.data, NULL, 0, &c2, &err);
	if (r)
		fail_msg("%d %s\n%s", r, err.msg, b1.data);
	check_every_key(&c2);
	assert_int_equal(cfs_config_render(&c2, &b2), 0);
	assert_string_equal(b1.data, b2.data);
	cfs_config_free(&c2);
	cfs_config_free(&c);
	cfs_buf_free(&b1);
	cfs_buf_free(&b2);

	/* Odd sizes and durations render exactly. */
	const char *ov[] = { "repos.cache_size=1536K", "poll.interval=61", "jobs.keep=0",
			     "repos.cache_size=1048577" };
	assert_int_equal(cfs_config_load(NULL, ov, 3, &c, &err), 0);
	assert_int_equal(cfs_config_render(&c, &b1), 0);
	assert_non_null(strstr(b1.data, "cache_size = 1536K\n"));
	assert_non_null(strstr(b1.data, "interval = 61s\n"));
	assert_non_null(strstr(b1.data, "keep = 0s\n"));
	cfs_config_free(&c);
	cfs_buf_free(&b1);
	assert_int_equal(cfs_config_load(NULL, ov + 3, 1, &c, &err), 0);
	assert_int_equal(cfs_config_render(&c, &b1), 0);
	assert_non_null(strstr(b1.data, "cache_size = 1048577\n"));
	cfs_config_free(&c);
	cfs_buf_free(&b1);
}

static void test_check_retention(void **state)
{
	(void)state;
	struct cfs_err err;
	char *norm = NULL;
	assert_int_equal(cfs_config_check_retention(" keep-last=3,,keep-within=30d\t", &norm, &err), 0);
	assert_string_equal(norm, "keep-last=3 keep-within=30d");
	free(norm);
	assert_int_equal(cfs_config_check_retention("keep-hourly=24", NULL, &err), 0);
	assert_int_equal(cfs_config_check_retention("", NULL, &err), -EINVAL);
	assert_string_equal(err.msg, "retention: empty policy");
	assert_int_equal(cfs_config_check_retention(NULL, NULL, &err), -EINVAL);
	assert_int_equal(cfs_config_check_retention("keep-monthly=2147483648", NULL, &err), -EINVAL);
	assert_int_equal(cfs_config_check_retention("keep-monthly=2147483647", NULL, NULL), 0);
	assert_int_equal(cfs_config_check_retention("=5", NULL, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "unknown key ''"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test_setup_teardown(test_missing_and_empty, setup, teardown),
		cmocka_unit_test_setup_teardown(test_every_key, setup, teardown),
		cmocka_unit_test_setup_teardown(test_syntax_variants, setup, teardown),
		cmocka_unit_test_setup_teardown(test_overrides, setup, teardown),
		cmocka_unit_test_setup_teardown(test_override_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_file_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nul_byte, setup, teardown),
		cmocka_unit_test_setup_teardown(test_long_lines, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_values, setup, teardown),
		cmocka_unit_test_setup_teardown(test_good_values, setup, teardown),
		cmocka_unit_test_setup_teardown(test_attach, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_render_roundtrip, setup, teardown),
		cmocka_unit_test(test_check_retention),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
