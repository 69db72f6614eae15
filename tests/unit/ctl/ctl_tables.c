#include "ctl_tables.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void record(struct ctl_test_ctx *c, const char *verb)
{
	int w = snprintf(c->ran + c->len, sizeof c->ran - c->len, "%s%s",
			 c->len ? " " : "", verb);
	if (w > 0 && (size_t)w < sizeof c->ran - c->len)
		c->len += (size_t)w;
	c->calls++;
}

static bool clean(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < ' ' && *s != '\t')
			return false;
	return true;
}

/* What the grammar promises a run function, checked on every call; a broken
 * promise aborts so the fuzzer reports it. */
static void check_args(const struct ctl_args *a)
{
	if (!a->verb || !*a->verb || !clean(a->verb) || a->line < 1 ||
	    a->npos < 0 || a->nopt < 0 || a->npos + a->nopt >= CTL_MAX_TOKENS)
		abort();
	for (int i = 0; i < a->npos; i++)
		if (!a->pos[i] || !clean(a->pos[i]))
			abort();
	for (int i = 0; i < a->nopt; i++) {
		if (!a->opt[i].key || !a->opt[i].val || !clean(a->opt[i].val))
			abort();
		for (int j = 0; j < i; j++)
			if (strcmp(a->opt[i].key, a->opt[j].key) == 0)
				abort();
		if (ctl_opt(a, a->opt[i].key) != a->opt[i].val)
			abort();
	}
}

static int echo(void *ctx, const struct ctl_args *a, struct ctl_outcome *o,
		struct cfs_err *err)
{
	(void)err;
	check_args(a);
	record(ctx, a->verb);
	int r = 0;
	for (int i = 0; i < a->npos && !r; i++)
		r = ctl_ok(o, "arg", "%s", a->pos[i]);
	for (int i = 0; i < a->nopt && !r; i++)
		r = ctl_ok(o, a->opt[i].key, "%s", a->opt[i].val);
	return r;
}

static int job(void *ctx, const struct ctl_args *a, struct ctl_outcome *o,
	       struct cfs_err *err)
{
	(void)err;
	check_args(a);
	record(ctx, a->verb);
	return ctl_ok_job(o, 17);
}

static int secret(void *ctx, const struct ctl_args *a, struct ctl_outcome *o,
		  struct cfs_err *err)
{
	(void)err;
	check_args(a);
	record(ctx, a->verb);
	char value[CTL_MAX_WRITE + 16];
	snprintf(value, sizeof value, CTL_TEST_SECRET_PREFIX "%s", a->pos[0]);
	int r = ctl_ok(o, "name", "%s", a->pos[0]);
	return r ? r : ctl_ok_secret(o, "secret", value);
}

/* fail CODE: adds pairs (which must vanish), then fails with CODE. */
static int fail(void *ctx, const struct ctl_args *a, struct ctl_outcome *o,
		struct cfs_err *err)
{
	static const struct { const char *name; int code; } codes[] = {
		{ "EEXIST", EEXIST }, { "ENOENT", ENOENT }, { "EIO", EIO },
		{ "EACCES", EACCES }, { "EBUSY", EBUSY }, { "ETIMEDOUT", ETIMEDOUT },
		{ "EHOSTUNREACH", EHOSTUNREACH }, { "EPIPE", EPIPE },
	};
	check_args(a);
	record(ctx, a->verb);
	int code = 0;
	for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++)
		if (strcmp(a->pos[0], codes[i].name) == 0)
			code = codes[i].code;
	if (!code)
		return cfs_errf(err, -EINVAL, "fail: unknown code \"%s\"", a->pos[0]);
	int r = ctl_ok(o, "before", "failing");
	if (!r)
		r = ctl_ok_secret(o, "secret", CTL_TEST_SECRET_PREFIX "never");
	if (r)
		return r;
	const char *msg = ctl_opt(a, "msg");
	if (msg)
		cfs_errf(err, -code, "%s", msg);
	return ctl_opt(a, "positive") ? code : -code;
}

static const struct ctl_verb instances[] = {
	{ "add NAME URL [env=ENV_ID] [secret=HEX64] [tls=require] [pin=sha256//BASE64]",
	  "start managing an instance", echo },
	{ "remove NAME", "stop managing an instance", echo },
	{ "refresh", "re-read every instance now", echo },
};

static const struct ctl_verb shares[] = {
	{ "add SHAREE [instance=NAME|*] [perms=P[,P…]] [expires=TIME] [note=\"…\"]", NULL, echo },
	{ "revoke ID", NULL, echo },
	{ "enable ID", NULL, echo },
	{ "disable ID", NULL, echo },
};

static const struct ctl_verb mirrors[] = {
	{ "add NAME SRC:PATH DST:PATH [mode=push|pull] [interval=DUR] [exclude=GLOB[,GLOB…]] "
	  "[delete=yes] [eol=normalize]", "keep DST in step with SRC", echo },
	{ "remove NAME", NULL, echo },
	{ "sync SRC:PATH DST:PATH [exclude=…] [wait=no]", "one-time sync, no mirror kept", job },
};

static const struct ctl_verb misc[] = {
	{ "label NAME", "set this node's label", echo },
	{ "check [wait=no]", "check state integrity, as a job", job },
	{ "stage PATH…", NULL, echo },
	{ "run NAME [ARG…]", NULL, echo },
	{ "commit [message=…]", NULL, echo },
	{ "get [KEY] [FIELD]", NULL, echo },
	{ "move [FROM] TO", NULL, echo },
	{ "forget-dry-run [keep-last=N] [keep_daily=N]", NULL, echo },
	{ "fail CODE [msg=…] [positive=yes]", NULL, fail },
	{ "secret NAME", NULL, secret },
	{ "todo", "not built yet", NULL },
};

#define TABLE(t) { #t, t, sizeof t / sizeof t[0] }
const struct ctl_test_table ctl_test_tables[] = {
	TABLE(instances), TABLE(shares), TABLE(mirrors), TABLE(misc),
};
const size_t ctl_test_ntables = sizeof ctl_test_tables / sizeof ctl_test_tables[0];

const struct ctl_test_table *ctl_test_table_find(const char *name)
{
	for (size_t i = 0; i < ctl_test_ntables; i++)
		if (strcmp(ctl_test_tables[i].name, name) == 0)
			return &ctl_test_tables[i];
	return NULL;
}

void ctl_test_ctx_reset(struct ctl_test_ctx *c)
{
	memset(c, 0, sizeof *c);
}
