/* test_ctl.c — the ctl grammar and outcomes.
 *
 * Most cases are data, in cases.txt (format at the top of that file); the
 * same inputs are the fuzz seed corpus.  Usage:
 *
 *   test_ctl CASES                      run every test
 *   test_ctl --check-corpus CASES DIR   fail unless DIR holds every case input
 *   test_ctl --write-corpus CASES DIR   (re)write DIR from the cases
 *
 * The C tests below cover what data cannot: the parse API, quoting as a
 * property over random strings, secrets across references and threads. */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/buf.h"
#include "ctl/grammar.h"
#include "ctl_tables.h"

/* ---- the case file ---- */

struct tcase {
	int lineno;                 /* of its "in:" line */
	const struct ctl_test_table *table;
	struct cfs_buf in;
	int rc;                     /* negative errno */
	bool has_rc;
	struct cfs_buf out, again, hidden;
	bool has_again, has_hidden;
	char *msg;
	char *ran;
};

struct cases {
	struct tcase *v;
	size_t n;
};

static const char *cases_path;

static const struct { const char *name; int code; } errnames[] = {
	{ "0", 0 }, { "EINVAL", EINVAL }, { "ENOSYS", ENOSYS }, { "EEXIST", EEXIST },
	{ "ENOENT", ENOENT }, { "EIO", EIO }, { "EACCES", EACCES }, { "EBUSY", EBUSY },
	{ "ETIMEDOUT", ETIMEDOUT }, { "EHOSTUNREACH", EHOSTUNREACH }, { "EPIPE", EPIPE },
};

/* Case-file escapes: {NL} {CR} {TAB} {SP} {NUL} {DEL} {xHH} {{ and
 * {rep N TEXT} (TEXT repeated N times; escapes may nest inside TEXT). */
static int unescape_n(const char *s, size_t len, struct cfs_buf *out, char *why, size_t whylen)
{
	static const struct { const char *name; char c; } named[] = {
		{ "NL", '\n' }, { "CR", '\r' }, { "TAB", '\t' }, { "SP", ' ' },
		{ "NUL", '\0' }, { "DEL", 0x7f },
	};
	const char *lim = s + len;
	while (s < lim) {
		if (*s != '{') {
			cfs_buf_append(out, s++, 1);
			continue;
		}
		if (s + 1 < lim && s[1] == '{') {
			cfs_buf_append(out, "{", 1);
			s += 2;
			continue;
		}
		const char *end = s + 1;
		for (int depth = 1; end < lim; end++) {
			if (*end == '{')
				depth++;
			else if (*end == '}' && --depth == 0)
				break;
		}
		if (end >= lim) {
			snprintf(why, whylen, "unclosed {");
			return -1;
		}
		size_t n = (size_t)(end - s - 1);
		const char *body = s + 1;
		bool done = false;
		for (size_t i = 0; i < sizeof named / sizeof named[0] && !done; i++) {
			if (strlen(named[i].name) == n && memcmp(body, named[i].name, n) == 0) {
				cfs_buf_append(out, &named[i].c, 1);
				done = true;
			}
		}
		if (!done && n == 3 && body[0] == 'x') {
			char hex[3] = { body[1], body[2], 0 };
			char *e;
			unsigned long v = strtoul(hex, &e, 16);
			if (*e == '\0') {
				char c = (char)v;
				cfs_buf_append(out, &c, 1);
				done = true;
			}
		}
		if (!done && n > 4 && memcmp(body, "rep ", 4) == 0) {
			char *e;
			unsigned long count = strtoul(body + 4, &e, 10);
			if (*e == ' ' && e < end) {
				e++;
				struct cfs_buf once = CFS_BUF_INIT;
				if (unescape_n(e, (size_t)(end - e), &once, why, whylen)) {
					cfs_buf_free(&once);
					return -1;
				}
				for (unsigned long i = 0; i < count; i++)
					cfs_buf_append(out, once.data ? once.data : "", once.len);
				cfs_buf_free(&once);
				done = true;
			}
		}
		if (!done) {
			snprintf(why, whylen, "unknown escape {%.*s}", (int)n, body);
			return -1;
		}
		s = end + 1;
	}
	cfs_buf_append(out, "", 0);   /* data is never NULL, even for "" */
	return 0;
}

static int unescape(const char *s, struct cfs_buf *out, char *why, size_t whylen)
{
	return unescape_n(s, strlen(s), out, why, whylen);
}

static void cases_free(struct cases *cs)
{
	for (size_t i = 0; i < cs->n; i++) {
		struct tcase *c = &cs->v[i];
		cfs_buf_free(&c->in);
		cfs_buf_free(&c->out);
		cfs_buf_free(&c->again);
		cfs_buf_free(&c->hidden);
		free(c->msg);
		free(c->ran);
	}
	free(cs->v);
	cs->v = NULL;
	cs->n = 0;
}

/* Loads path; on a malformed file prints where and returns -1. */
static int cases_load(const char *path, struct cases *cs)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return -1;
	}
	memset(cs, 0, sizeof *cs);
	const struct ctl_test_table *table = NULL;
	char *line = NULL, why[200] = "";
	size_t cap = 0;
	ssize_t got;
	int lineno = 0, bad = 0;
	while (!bad && (got = getline(&line, &cap, f)) >= 0) {
		lineno++;
		if (got > 0 && line[got - 1] == '\n')
			line[--got] = '\0';
		if (line[0] == '#' || line[0] == '\0')
			continue;
		char *colon = strchr(line, ':');
		if (!colon || (colon[1] != ' ' && colon[1] != '\0')) {
			snprintf(why, sizeof why, "expected \"key: value\"");
			bad = 1;
			break;
		}
		*colon = '\0';
		const char *key = line, *val = colon[1] ? colon + 2 : colon + 1;
		struct tcase *c = cs->n ? &cs->v[cs->n - 1] : NULL;
		if (strcmp(key, "table") == 0) {
			table = ctl_test_table_find(val);
			if (!table) {
				snprintf(why, sizeof why, "no table \"%s\"", val);
				bad = 1;
			}
		} else if (strcmp(key, "in") == 0) {
			if (!table) {
				snprintf(why, sizeof why, "\"in\" before any \"table\"");
				bad = 1;
				break;
			}
			struct tcase *nv = realloc(cs->v, (cs->n + 1) * sizeof *nv);
			assert_non_null(nv);
			cs->v = nv;
			c = &cs->v[cs->n++];
			*c = (struct tcase){ .lineno = lineno, .table = table };
			bad = unescape(val, &c->in, why, sizeof why);
		} else if (!c) {
			snprintf(why, sizeof why, "\"%s\" before any \"in\"", key);
			bad = 1;
		} else if (strcmp(key, "rc") == 0) {
			c->has_rc = false;
			for (size_t i = 0; i < sizeof errnames / sizeof errnames[0]; i++) {
				if (strcmp(val, errnames[i].name) == 0) {
					c->rc = -errnames[i].code;
					c->has_rc = true;
				}
			}
			if (!c->has_rc) {
				snprintf(why, sizeof why, "unknown rc \"%s\"", val);
				bad = 1;
			}
		} else if (strcmp(key, "out") == 0 || strcmp(key, "again") == 0 ||
			   strcmp(key, "hidden") == 0) {
			struct cfs_buf *b = key[0] == 'o' ? &c->out : key[0] == 'a' ? &c->again
										: &c->hidden;
			c->has_again |= key[0] == 'a';
			c->has_hidden |= key[0] == 'h';
			bad = unescape(val, b, why, sizeof why);
			cfs_buf_append(b, "\n", 1);
		} else if (strcmp(key, "msg") == 0) {
			struct cfs_buf b = CFS_BUF_INIT;
			bad = unescape(val, &b, why, sizeof why);
			free(c->msg);
			c->msg = cfs_buf_steal(&b);
		} else if (strcmp(key, "ran") == 0) {
			struct cfs_buf b = CFS_BUF_INIT;
			bad = unescape(val, &b, why, sizeof why);
			free(c->ran);
			c->ran = cfs_buf_steal(&b);
		} else {
			snprintf(why, sizeof why, "unknown key \"%s\"", key);
			bad = 1;
		}
	}
	free(line);
	fclose(f);
	for (size_t i = 0; !bad && i < cs->n; i++) {
		if (!cs->v[i].has_rc) {
			lineno = cs->v[i].lineno;
			snprintf(why, sizeof why, "case has no \"rc\"");
			bad = 1;
		}
	}
	if (bad) {
		fprintf(stderr, "%s:%d: %s\n", path, lineno, why);
		cases_free(cs);
		return -1;
	}
	return 0;
}

/* Shows a rendered outcome with its control bytes visible. */
static void show(const char *label, const char *s, size_t n)
{
	fprintf(stderr, "    %s: ", label);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '\n')
			fputs(i + 1 < n ? "\\n\n          " : "\\n", stderr);
		else if (c < ' ' || c == 0x7f)
			fprintf(stderr, "{x%02x}", c);
		else
			fputc(c, stderr);
	}
	fputc('\n', stderr);
}

static int render_cmp(struct tcase *c, struct ctl_outcome *o, bool reveal,
		      const struct cfs_buf *want, const char *what)
{
	struct cfs_buf got = CFS_BUF_INIT;
	assert_int_equal(ctl_outcome_render(o, reveal, &got), 0);
	int bad = got.len != want->len || (got.len && memcmp(got.data, want->data, got.len));
	if (bad) {
		fprintf(stderr, "%s:%d: %s differs\n", cases_path, c->lineno, what);
		show("want", want->data ? want->data : "", want->len);
		show("got ", got.data ? got.data : "", got.len);
	}
	cfs_buf_free(&got);
	return bad;
}

static int run_case(struct tcase *c)
{
	struct ctl_test_ctx ctx;
	ctl_test_ctx_reset(&ctx);
	struct ctl_outcome *o = ctl_outcome_new();
	assert_non_null(o);
	int bad = 0;
	int rc = ctl_exec(c->table->verbs, c->table->n, &ctx, c->in.data, c->in.len, o);
	if (rc != c->rc) {
		fprintf(stderr, "%s:%d: rc %s, want %s\n", cases_path, c->lineno,
			cfs_errno_name(rc), cfs_errno_name(c->rc));
		bad++;
	}
	if (ctl_outcome_errno(o) != rc) {
		fprintf(stderr, "%s:%d: ctl_outcome_errno %d, exec returned %d\n", cases_path,
			c->lineno, ctl_outcome_errno(o), rc);
		bad++;
	}
	if ((rc != 0) != (ctl_outcome_message(o)[0] != '\0')) {
		fprintf(stderr, "%s:%d: message \"%s\" with rc %d\n", cases_path, c->lineno,
			ctl_outcome_message(o), rc);
		bad++;
	}
	if (c->msg && strcmp(c->msg, ctl_outcome_message(o)) != 0) {
		fprintf(stderr, "%s:%d: message differs\n    want: %s\n    got : %s\n",
			cases_path, c->lineno, c->msg, ctl_outcome_message(o));
		bad++;
	}
	if (c->ran && strcmp(c->ran, ctx.ran) != 0) {
		fprintf(stderr, "%s:%d: ran differs\n    want: %s\n    got : %s\n", cases_path,
			c->lineno, c->ran, ctx.ran);
		bad++;
	}
	if (ctl_outcome_empty(o) != (c->out.len == 0)) {
		fprintf(stderr, "%s:%d: ctl_outcome_empty wrong\n", cases_path, c->lineno);
		bad++;
	}
	if (c->has_hidden)
		bad += render_cmp(c, o, false, &c->hidden, "render (reveal=false)");
	bad += render_cmp(c, o, true, &c->out, "outcome");
	if (c->has_again)
		bad += render_cmp(c, o, true, &c->again, "second render");
	ctl_outcome_free(o);
	return bad;
}

static void test_cases(void **state)
{
	(void)state;
	struct cases cs;
	assert_int_equal(cases_load(cases_path, &cs), 0);
	assert_true(cs.n > 50);
	int bad = 0;
	for (size_t i = 0; i < cs.n; i++)
		bad += run_case(&cs.v[i]) != 0;
	if (bad)
		fprintf(stderr, "%d of %zu cases failed\n", bad, cs.n);
	cases_free(&cs);
	assert_int_equal(bad, 0);
}

/* ---- the corpus mirrors the cases ---- */

static uint64_t fnv1a(const char *s, size_t n)
{
	uint64_t h = 1469598103934665603ULL;
	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)s[i];
		h *= 1099511628211ULL;
	}
	return h;
}

static void corpus_name(const struct tcase *c, char out[32])
{
	snprintf(out, 32, "case-%016llx", (unsigned long long)fnv1a(c->in.data, c->in.len));
}

static bool file_equals(const char *path, const struct cfs_buf *b)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return false;
	char *data = malloc(b->len + 1);
	size_t n = data ? fread(data, 1, b->len + 1, f) : 0;
	bool same = data && n == b->len && memcmp(data, b->data, n) == 0;
	free(data);
	fclose(f);
	return same;
}

/* Writes (write=true) or checks the corpus; stale case-* files are removed
 * or reported.  Other files there (crashers found by fuzzing) are kept. */
static int corpus_sync(const char *dir, bool write)
{
	struct cases cs;
	if (cases_load(cases_path, &cs))
		return 1;
	int bad = 0;
	char path[4096], name[32];
	for (size_t i = 0; i < cs.n; i++) {
		corpus_name(&cs.v[i], name);
		snprintf(path, sizeof path, "%s/%s", dir, name);
		if (file_equals(path, &cs.v[i].in))
			continue;
		if (!write) {
			fprintf(stderr, "%s: missing or different (case at line %d); run "
				"test_ctl --write-corpus\n", path, cs.v[i].lineno);
			bad++;
			continue;
		}
		FILE *f = fopen(path, "wb");
		if (!f || fwrite(cs.v[i].in.data, 1, cs.v[i].in.len, f) != cs.v[i].in.len) {
			perror(path);
			bad++;
		}
		if (f)
			fclose(f);
	}
	DIR *d = opendir(dir);
	struct dirent *e;
	while (d && (e = readdir(d))) {
		if (strncmp(e->d_name, "case-", 5) != 0)
			continue;
		bool known = false;
		for (size_t i = 0; i < cs.n && !known; i++) {
			corpus_name(&cs.v[i], name);
			known = strcmp(name, e->d_name) == 0;
		}
		if (known)
			continue;
		snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
		if (write) {
			unlink(path);
		} else {
			fprintf(stderr, "%s: no longer a case; run test_ctl --write-corpus\n", path);
			bad++;
		}
	}
	if (d)
		closedir(d);
	else
		bad++;
	if (!bad)
		printf("corpus %s: %zu cases %s\n", dir, cs.n, write ? "written" : "in sync");
	cases_free(&cs);
	return bad != 0;
}

/* ---- C tests ---- */

static const struct ctl_verb probe[] = {
	{ "v [A…]", NULL, NULL },
	{ "o [k=…]", NULL, NULL },
};

static void test_parse_api(void **state)
{
	(void)state;
	const struct ctl_test_table *t = ctl_test_table_find("instances");
	struct ctl_args a;
	struct cfs_err err = { 0 };
	const char *line = "add web http://h:1/?x=y env=\"e 1\" tls=require";
	assert_int_equal(ctl_parse_line(t->verbs, t->n, line, strlen(line), &a, &err), 0);
	assert_string_equal(a.verb, "add");
	assert_int_equal(a.npos, 2);
	assert_string_equal(a.pos[0], "web");
	assert_string_equal(a.pos[1], "http://h:1/?x=y");
	assert_int_equal(a.nopt, 2);
	assert_string_equal(ctl_opt(&a, "env"), "e 1");
	assert_string_equal(ctl_opt(&a, "tls"), "require");
	assert_null(ctl_opt(&a, "pin"));
	assert_int_equal(a.line, 1);
	ctl_args_free(&a);
	ctl_args_free(&a);   /* twice is harmless */

	/* A line need not be NUL-terminated: only len bytes count. */
	assert_int_equal(ctl_parse_line(t->verbs, t->n, "remove webXXX", 10, &a, &err), 0);
	assert_string_equal(a.pos[0], "web");
	ctl_args_free(&a);

	/* Failure leaves nothing to free and says why. */
	assert_int_equal(ctl_parse_line(t->verbs, t->n, "add web", 7, &a, &err), -EINVAL);
	assert_null(a.storage_);
	assert_int_equal(err.code, -EINVAL);
	assert_string_equal(err.msg, "add: missing URL (usage: add NAME URL [env=ENV_ID] "
				     "[secret=HEX64] [tls=require] [pin=sha256//BASE64])");
	ctl_args_free(&a);
	assert_int_equal(ctl_parse_line(t->verbs, t->n, "  ", 2, &a, &err), -EINVAL);
	assert_string_equal(err.msg, "empty command");
	assert_int_equal(ctl_parse_line(t->verbs, t->n, "add", 3, &a, NULL), -EINVAL);

	/* Long tokens are cut in messages, at a character boundary. */
	char big[300];
	memset(big, 'x', sizeof big);
	memcpy(big, "frob", 4);
	memcpy(big + 39, "é", 2);   /* straddles the 40-byte cut */
	assert_int_equal(ctl_parse_line(t->verbs, t->n, big, sizeof big, &a, &err), -EINVAL);
	assert_string_equal(err.msg, "unknown command \"frob"
				     "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"   /* 35 */
				     "…\" (commands: add, remove, refresh)");
}

static void test_usage(void **state)
{
	(void)state;
	const struct ctl_test_table *t = ctl_test_table_find("mirrors");
	struct cfs_buf b = CFS_BUF_INIT;
	cfs_buf_puts(&b, "usage:\n");
	assert_int_equal(ctl_usage(t->verbs, t->n, &b), 0);
	assert_string_equal(b.data,
		"usage:\n"
		"add NAME SRC:PATH DST:PATH [mode=push|pull] [interval=DUR] "
		"[exclude=GLOB[,GLOB…]] [delete=yes] [eol=normalize]  — keep DST in step with SRC\n"
		"remove NAME\n"
		"sync SRC:PATH DST:PATH [exclude=…] [wait=no]  — one-time sync, no mirror kept\n");
	cfs_buf_free(&b);
	assert_int_equal(ctl_usage(t->verbs, 0, &b), 0);
	assert_int_equal(b.len, 0);
}

static void quote_is(const char *in, const char *want)
{
	struct cfs_buf b = CFS_BUF_INIT;
	assert_int_equal(ctl_quote(in, &b), 0);
	assert_string_equal(b.data, want);
	cfs_buf_free(&b);
}

static void test_quote_examples(void **state)
{
	(void)state;
	quote_is("web1", "web1");
	quote_is("rest:http://alice@host:8000/alice/", "rest:http://alice@host:8000/alice/");
	quote_is("", "\"\"");
	quote_is("on call", "\"on call\"");
	quote_is("a=b", "\"a=b\"");
	quote_is("say \"hi\"", "\"say \\\"hi\\\"\"");
	quote_is("C:\\dir", "\"C:\\\\dir\"");
	quote_is("tab\there", "\"tab\there\"");
	quote_is("two\nlines\r", "\"two\\nlines\\r\"");
	quote_is("bell\a", "\"bell\\x07\"");
	quote_is("del\x7f", "\"del\\x7f\"");
	quote_is("héllo—ok", "héllo—ok");
}

/* xorshift: reproducible random strings without touching rand()'s state. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;
static uint32_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state >> 32);
}

static void random_token(char *out, size_t max)
{
	static const char *pieces[] = { "\"", "\\", "=", " ", "\t", "é", "—", "😀", "\\\"",
					"a=b", "\"\"", "x", "…", "[", "]", "'" };
	size_t n = 0, want = rng() % 24;
	for (size_t i = 0; i < want; i++) {
		const char *p;
		char one[2] = { 0, 0 };
		if (rng() % 3 == 0) {
			p = pieces[rng() % (sizeof pieces / sizeof pieces[0])];
		} else {
			one[0] = (char)(' ' + rng() % 95);   /* printable ASCII */
			p = one;
		}
		size_t l = strlen(p);
		if (n + l >= max)
			break;
		memcpy(out + n, p, l);
		n += l;
	}
	out[n] = '\0';
}

static void test_quote_roundtrip(void **state)
{
	(void)state;
	for (int iter = 0; iter < 20000; iter++) {
		char tok[3][128];
		struct cfs_buf line = CFS_BUF_INIT;
		bool as_opt = iter % 2;
		cfs_buf_puts(&line, as_opt ? "o\tk=" : "v");
		int ntok = as_opt ? 1 : 1 + (int)(rng() % 3);
		for (int i = 0; i < ntok; i++) {
			random_token(tok[i], sizeof tok[i]);
			if (!as_opt)
				cfs_buf_puts(&line, i % 2 ? "\t " : " ");
			assert_int_equal(ctl_quote(tok[i], &line), 0);
		}
		if (iter % 3 == 0)
			cfs_buf_puts(&line, "  ");
		struct ctl_args a;
		struct cfs_err err = { 0 };
		int r = ctl_parse_line(probe, 2, line.data, line.len, &a, &err);
		if (r)
			fail_msg("parse of [%s] failed: %s", line.data, err.msg);
		if (as_opt) {
			assert_int_equal(a.npos, 0);
			assert_string_equal(ctl_opt(&a, "k"), tok[0]);
		} else {
			assert_int_equal(a.npos, ntok);
			assert_int_equal(a.nopt, 0);
			for (int i = 0; i < ntok; i++)
				assert_string_equal(a.pos[i], tok[i]);
		}
		ctl_args_free(&a);
		cfs_buf_free(&line);
	}
}

static void test_secret_once_across_refs(void **state)
{
	(void)state;
	struct ctl_outcome *o = ctl_outcome_new();
	struct ctl_outcome *last = ctl_outcome_ref(o);   /* the ctl file's "last outcome" */
	assert_true(ctl_outcome_empty(o));
	assert_int_equal(ctl_ok(o, "id", "%d", 7), 0);
	assert_int_equal(ctl_ok_secret(o, "secret", "abc def"), 0);
	assert_int_equal(ctl_ok_job(o, 42), 0);
	assert_false(ctl_outcome_empty(o));

	struct cfs_buf b = CFS_BUF_INIT;
	assert_int_equal(ctl_outcome_render(last, false, &b), 0);
	assert_string_equal(b.data, "ok id=7 secret=(hidden) job=42\n");
	cfs_buf_reset(&b);
	assert_int_equal(ctl_outcome_render(o, true, &b), 0);
	assert_string_equal(b.data, "ok id=7 secret=\"abc def\" job=42\n");
	cfs_buf_reset(&b);
	assert_int_equal(ctl_outcome_render(last, true, &b), 0);
	assert_string_equal(b.data, "ok id=7 secret=(shown) job=42\n");
	cfs_buf_reset(&b);
	assert_int_equal(ctl_outcome_render(o, false, &b), 0);
	assert_string_equal(b.data, "ok id=7 secret=(shown) job=42\n");
	assert_int_equal(ctl_outcome_errno(o), 0);
	assert_string_equal(ctl_outcome_message(o), "");
	cfs_buf_free(&b);

	/* Bad keys are refused. */
	assert_int_equal(ctl_ok(o, "a b", "x"), -EINVAL);
	assert_int_equal(ctl_ok(o, "", "x"), -EINVAL);
	assert_int_equal(ctl_ok_secret(o, "k=v", "x"), -EINVAL);

	ctl_outcome_free(o);
	ctl_outcome_free(last);
	ctl_outcome_free(NULL);
}

struct render_race {
	struct ctl_outcome *o;
	int saw;   /* renders that held the secret */
	int failed;
};

static void *render_thread(void *arg)
{
	struct render_race *rr = arg;
	for (int i = 0; i < 200; i++) {
		struct cfs_buf b = CFS_BUF_INIT;
		/* No cmocka asserts off the main thread: they longjmp. */
		if (ctl_outcome_render(rr->o, true, &b) || !b.data)
			rr->failed++;
		else if (strstr(b.data, "topsecret"))
			rr->saw++;
		cfs_buf_free(&b);
	}
	return NULL;
}

static void test_secret_once_across_threads(void **state)
{
	(void)state;
	for (int round = 0; round < 20; round++) {
		struct ctl_outcome *o = ctl_outcome_new();
		assert_int_equal(ctl_ok_secret(o, "password", "topsecret"), 0);
		struct render_race rr[4];
		pthread_t th[4];
		for (int i = 0; i < 4; i++) {
			rr[i] = (struct render_race){ .o = ctl_outcome_ref(o) };
			assert_int_equal(pthread_create(&th[i], NULL, render_thread, &rr[i]), 0);
		}
		ctl_outcome_free(o);   /* the threads keep it alive */
		int saw = 0;
		for (int i = 0; i < 4; i++) {
			pthread_join(th[i], NULL);
			saw += rr[i].saw;
			assert_int_equal(rr[i].failed, 0);
			ctl_outcome_free(rr[i].o);
		}
		assert_int_equal(saw, 1);
	}
}

/* Outcomes accumulate across writes; errno and message follow the last failure. */
static void test_exec_twice(void **state)
{
	(void)state;
	const struct ctl_test_table *t = ctl_test_table_find("misc");
	struct ctl_test_ctx ctx;
	ctl_test_ctx_reset(&ctx);
	struct ctl_outcome *o = ctl_outcome_new();
	assert_int_equal(ctl_exec(t->verbs, t->n, &ctx, "label a\nlabel", 13, o), -EINVAL);
	assert_string_equal(ctl_outcome_message(o),
			    "line 2: label: missing NAME (usage: label NAME)");
	const char *msg = ctl_outcome_message(o);
	assert_int_equal(ctl_exec(t->verbs, t->n, &ctx, "fail EIO", 8, o), -EIO);
	assert_ptr_equal(ctl_outcome_message(o), msg);   /* same storage, new text */
	assert_string_equal(msg, "Input/output error");
	assert_int_equal(ctl_exec(t->verbs, t->n, &ctx, "", 0, o), 0);
	assert_int_equal(ctl_exec(t->verbs, t->n, &ctx, NULL, 0, o), 0);
	assert_int_equal(ctl_outcome_errno(o), -EIO);
	struct cfs_buf b = CFS_BUF_INIT;
	assert_int_equal(ctl_outcome_render(o, true, &b), 0);
	assert_string_equal(b.data,
		"ok arg=a\n"
		"error EINVAL: line 2: label: missing NAME (usage: label NAME)\n"
		"error EIO: Input/output error\n");
	cfs_buf_free(&b);
	assert_string_equal(ctx.ran, "label fail");
	ctl_outcome_free(o);
}

/* Random bytes never crash and always leave a consistent outcome. */
static void test_random_bytes(void **state)
{
	(void)state;
	static const char alphabet[] = "  \t\t\"\"\\\\==\n\n\rabkx-_*…[]";
	for (int iter = 0; iter < 5000; iter++) {
		char buf[200];
		size_t n = rng() % sizeof buf;
		for (size_t i = 0; i < n; i++)
			buf[i] = rng() % 8 ? alphabet[rng() % (sizeof alphabet - 1)] : (char)rng();
		const struct ctl_test_table *t = &ctl_test_tables[iter % ctl_test_ntables];
		struct ctl_test_ctx ctx;
		ctl_test_ctx_reset(&ctx);
		struct ctl_outcome *o = ctl_outcome_new();
		int rc = ctl_exec(t->verbs, t->n, &ctx, buf, n, o);
		assert_int_equal(ctl_outcome_errno(o), rc);
		if (rc)
			assert_false(ctl_outcome_empty(o));
		struct cfs_buf b = CFS_BUF_INIT;
		assert_int_equal(ctl_outcome_render(o, true, &b), 0);
		for (size_t i = 0; i < b.len; i++)
			assert_true((unsigned char)b.data[i] >= ' ' || b.data[i] == '\t' ||
				    b.data[i] == '\n');
		cfs_buf_free(&b);
		ctl_outcome_free(o);
	}
}

int main(int argc, char **argv)
{
	if (argc == 4 && (strcmp(argv[1], "--check-corpus") == 0 ||
			  strcmp(argv[1], "--write-corpus") == 0)) {
		cases_path = argv[2];
		return corpus_sync(argv[3], argv[1][2] == 'w');
	}
	if (argc != 2) {
		fprintf(stderr, "usage: %s CASES | --check-corpus CASES DIR | "
				"--write-corpus CASES DIR\n", argv[0]);
		return 2;
	}
	cases_path = argv[1];
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cases),
		cmocka_unit_test(test_parse_api),
		cmocka_unit_test(test_usage),
		cmocka_unit_test(test_quote_examples),
		cmocka_unit_test(test_quote_roundtrip),
		cmocka_unit_test(test_secret_once_across_refs),
		cmocka_unit_test(test_secret_once_across_threads),
		cmocka_unit_test(test_exec_twice),
		cmocka_unit_test(test_random_bytes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
