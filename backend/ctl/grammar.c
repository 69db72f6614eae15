/* grammar.c — tokenizer, verb patterns and matching for ctl files.
 *
 * A line is first cut into tokens, then matched against the one table entry
 * whose verb equals the first token.  Tokens:
 *
 *   bare       runs to the next blank; a backslash is an ordinary character
 *   "quoted"   \" and \\ are the only escapes; a blank or the end of the line
 *              must follow the closing quote
 *   key=value  a bare token whose text before the first '=' is
 *              [a-z][a-z0-9_-]*; the value may be quoted (note="on call")
 *
 * A quote anywhere else inside a bare token is refused rather than guessed at.
 *
 * Patterns are the usage lines themselves.  They are compile-time constants,
 * so the matched verb's pattern is compiled again on every call: it is a few
 * dozen bytes, and nothing has to be cached or locked.  A malformed pattern is
 * a programming error: it asserts, and without assertions the command fails. */
#include "ctl/grammar.h"

#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SHOWN_TOKEN_MAX 40   /* bytes of a user token repeated in a message */

struct token {
	const char *text;    /* positional text, or the key of an option */
	const char *val;     /* option value; NULL for a positional */
};

struct pat_pos {
	const char *name;    /* not NUL-terminated */
	int namelen;
	bool optional;
	bool variadic;
};

struct pat_opt {
	const char *key;     /* not NUL-terminated */
	int keylen;
};

struct pattern {
	struct pat_pos pos[CTL_MAX_TOKENS];
	int npos;
	struct pat_opt opt[CTL_MAX_TOKENS];
	int nopt;
};

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

static bool key_first(char c)
{
	return c >= 'a' && c <= 'z';
}

static bool key_rest(char c)
{
	return key_first(c) || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

/* Largest n <= want that does not split a UTF-8 sequence of s. */
static size_t utf8_cut(const char *s, size_t want)
{
	while (want > 0 && ((unsigned char)s[want] & 0xC0) == 0x80)
		want--;
	return want;
}

/* Fill err with a message, cut at a character boundary with "…" when it does
 * not fit. */
static int fail(struct cfs_err *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static int fail(struct cfs_err *err, const char *fmt, ...)
{
	char text[1024];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(text, sizeof text, fmt, ap);
	va_end(ap);
	if (!err)
		return -EINVAL;
	err->code = -EINVAL;
	size_t len = n < 0 ? 0 : strlen(text);
	if (len < sizeof err->msg) {
		memcpy(err->msg, text, len + 1);
	} else {
		static const char ell[] = "…";
		size_t keep = utf8_cut(text, sizeof err->msg - sizeof ell);
		memcpy(err->msg, text, keep);
		memcpy(err->msg + keep, ell, sizeof ell);
	}
	return -EINVAL;
}

/* A user token for a message: always quoted, escaped like ctl_quote, and cut
 * short when long. */
static const char *shown(const char *s, char out[2 * SHOWN_TOKEN_MAX + 8])
{
	size_t len = strlen(s), keep = len;
	if (keep > SHOWN_TOKEN_MAX)
		keep = utf8_cut(s, SHOWN_TOKEN_MAX);
	char *o = out;
	*o++ = '"';
	for (size_t i = 0; i < keep; i++) {
		if (s[i] == '"' || s[i] == '\\')
			*o++ = '\\';
		*o++ = s[i];
	}
	if (keep < len)
		o += sprintf(o, "…");
	*o++ = '"';
	*o = '\0';
	return out;
}

/* ---- tokenizer ---- */

/* Reads a quoted string at line[*at] == '"', unescaped into *out. */
static int read_quoted(const char *line, size_t len, size_t *at, char **out,
		       struct cfs_err *err)
{
	size_t p = *at + 1;
	char *o = *out;
	for (;;) {
		if (p >= len)
			return fail(err, "unterminated quote");
		char c = line[p];
		if (c == '"') {
			p++;
			break;
		}
		if (c == '\\') {
			if (p + 1 >= len)
				return fail(err, "unterminated quote");
			char e = line[p + 1];
			if (e != '"' && e != '\\') {
				if ((unsigned char)e < 0x80)
					return fail(err, "bad escape \\%c (only \\\" and \\\\)", e);
				return fail(err, "bad escape \\ before byte 0x%02x (only \\\" and \\\\)",
					    (unsigned char)e);
			}
			*o++ = e;
			p += 2;
			continue;
		}
		*o++ = c;
		p++;
	}
	if (p < len && !is_blank(line[p]))
		return fail(err, "text after a closing quote (separate tokens with a blank)");
	*at = p;
	*out = o;
	return 0;
}

/* Cuts line into toks, copying unescaped text into store (len + 1 bytes is
 * always enough: a token never grows, and each one ends at a blank or the end
 * of the line, where its NUL goes). */
static int tokenize(const char *line, size_t len, char *store, struct token *toks,
		    int *ntok, struct cfs_err *err)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)line[i];
		if (c == 0)
			return fail(err, "NUL byte in command");
		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return fail(err, "control byte 0x%02x in command", c);
	}

	char *o = store;
	size_t p = 0;
	int n = 0;
	for (;;) {
		while (p < len && is_blank(line[p]))
			p++;
		if (p >= len)
			break;
		if (n == CTL_MAX_TOKENS)
			return fail(err, "too many tokens (at most %d)", CTL_MAX_TOKENS);
		struct token *t = &toks[n++];
		t->text = o;
		t->val = NULL;
		if (line[p] == '"') {
			int r = read_quoted(line, len, &p, &o, err);
			if (r)
				return r;
			*o++ = '\0';
			continue;
		}
		/* The verb is never an option, whatever it looks like. */
		bool keyish = n > 1;
		size_t keylen = 0;
		while (p < len && !is_blank(line[p])) {
			char c = line[p];
			if (c == '=' && !t->val) {
				if (keyish && keylen > 0) {
					*o++ = '\0';
					t->val = o;
					p++;
					if (p < len && line[p] == '"') {
						int r = read_quoted(line, len, &p, &o, err);
						if (r)
							return r;
						break;
					}
					continue;
				}
				keyish = false;
			}
			if (c == '"')
				return fail(err, "quote inside a word (quote the whole word or value)");
			if (!t->val) {
				if (!(keylen == 0 ? key_first(c) : key_rest(c)))
					keyish = false;
				keylen++;
			}
			*o++ = c;
			p++;
		}
		*o++ = '\0';
	}
	*ntok = n;
	return 0;
}

/* ---- patterns ---- */

static size_t verb_len(const char *pattern)
{
	return strcspn(pattern, " \t");
}

static bool verb_is(const char *pattern, const char *verb)
{
	size_t n = verb_len(pattern);
	return strlen(verb) == n && memcmp(pattern, verb, n) == 0;
}

/* Strips a trailing … or ... from a positional name. */
static bool strip_ellipsis(const char *name, int *len)
{
	if (*len > 3 && memcmp(name + *len - 3, "…", 3) == 0) {
		*len -= 3;
		return true;
	}
	if (*len > 3 && memcmp(name + *len - 3, "...", 3) == 0) {
		*len -= 3;
		return true;
	}
	return false;
}

static int compile_word(const char *w, int wl, struct pattern *pat)
{
	bool optional = false;
	if (w[0] == '[') {
		if (wl < 3 || w[wl - 1] != ']')
			return -1;
		w++;
		wl -= 2;
		int k = 0;
		while (k < wl && w[k] != '=')
			k++;
		bool key = k > 0 && k < wl && key_first(w[0]);
		for (int i = 1; key && i < k; i++)
			key = key_rest(w[i]);
		if (key) {
			for (int i = 0; i < pat->nopt; i++)
				if (pat->opt[i].keylen == k && memcmp(pat->opt[i].key, w, (size_t)k) == 0)
					return -1;
			if (pat->nopt == CTL_MAX_TOKENS)
				return -1;
			pat->opt[pat->nopt++] = (struct pat_opt){ .key = w, .keylen = k };
			return 0;
		}
		optional = true;
	}
	if (!(w[0] >= 'A' && w[0] <= 'Z') || pat->npos == CTL_MAX_TOKENS)
		return -1;
	if (pat->npos > 0 && pat->pos[pat->npos - 1].variadic)
		return -1;   /* only the last positional may repeat */
	struct pat_pos *pp = &pat->pos[pat->npos++];
	*pp = (struct pat_pos){ .name = w, .namelen = wl, .optional = optional };
	pp->variadic = strip_ellipsis(w, &pp->namelen);
	for (int i = 0; i < pp->namelen; i++)
		if (w[i] == '[' || w[i] == ']')
			return -1;
	return 0;
}

/* Compiles everything after the verb.  Brackets nest ([perms=P[,P…]]). */
static int compile(const char *pattern, struct pattern *pat)
{
	pat->npos = 0;
	pat->nopt = 0;
	const char *p = pattern + verb_len(pattern);
	for (;;) {
		while (is_blank(*p))
			p++;
		if (!*p)
			return 0;
		const char *w = p;
		int depth = 0;
		while (*p && (depth > 0 || !is_blank(*p))) {
			if (*p == '[')
				depth++;
			else if (*p == ']' && --depth < 0)
				return -1;
			p++;
		}
		if (depth != 0 || compile_word(w, (int)(p - w), pat))
			return -1;
	}
}

/* ---- matching ---- */

static const struct ctl_verb *find_verb(const struct ctl_verb *table, size_t n,
					const char *verb)
{
	for (size_t i = 0; i < n; i++)
		if (verb_is(table[i].pattern, verb))
			return &table[i];
	return NULL;
}

static int unknown_command(const struct ctl_verb *table, size_t n, const char *verb,
			   struct cfs_err *err)
{
	char list[900], tok[2 * SHOWN_TOKEN_MAX + 8];
	size_t used = 0;
	list[0] = '\0';
	for (size_t i = 0; i < n && used < sizeof list; i++) {
		size_t vl = verb_len(table[i].pattern);
		bool dup = false;
		for (size_t j = 0; j < i && !dup; j++)
			dup = verb_len(table[j].pattern) == vl &&
			      memcmp(table[j].pattern, table[i].pattern, vl) == 0;
		if (dup)
			continue;
		int w = snprintf(list + used, sizeof list - used, "%s%.*s", used ? ", " : "",
				 (int)vl, table[i].pattern);
		if (w > 0)
			used += (size_t)w;
	}
	return fail(err, "unknown command %s (commands: %s)", shown(verb, tok), list);
}

static int unknown_option(const struct pattern *pat, const char *verb, const char *key,
			  struct cfs_err *err)
{
	char tok[2 * SHOWN_TOKEN_MAX + 8];
	if (pat->nopt == 0)
		return fail(err, "%s: unknown option %s (%s takes no options)", verb,
			    shown(key, tok), verb);
	char list[700];
	size_t used = 0;
	list[0] = '\0';
	for (int i = 0; i < pat->nopt && used < sizeof list; i++) {
		int w = snprintf(list + used, sizeof list - used, "%s%.*s", i ? ", " : "",
				 pat->opt[i].keylen, pat->opt[i].key);
		if (w > 0)
			used += (size_t)w;
	}
	return fail(err, "%s: unknown option %s (options: %s)", verb, shown(key, tok), list);
}

static bool pat_has_opt(const struct pattern *pat, const char *key)
{
	size_t kl = strlen(key);
	for (int i = 0; i < pat->nopt; i++)
		if ((size_t)pat->opt[i].keylen == kl && memcmp(pat->opt[i].key, key, kl) == 0)
			return true;
	return false;
}

static int match(const struct ctl_verb *v, const struct token *toks, int ntok,
		 struct ctl_args *a, struct cfs_err *err)
{
	struct pattern pat;
	if (compile(v->pattern, &pat)) {
		assert(!"malformed ctl pattern");
		return fail(err, "%s: internal error: malformed usage pattern", toks[0].text);
	}
	const char *verb = toks[0].text;
	a->verb = verb;
	for (int i = 1; i < ntok; i++) {
		const struct token *t = &toks[i];
		if (!t->val) {
			a->pos[a->npos++] = t->text;
			continue;
		}
		if (!pat_has_opt(&pat, t->text))
			return unknown_option(&pat, verb, t->text, err);
		if (ctl_opt(a, t->text)) {
			char tok[2 * SHOWN_TOKEN_MAX + 8];
			return fail(err, "%s: option %s given twice", verb, shown(t->text, tok));
		}
		a->opt[a->nopt++] = (struct ctl_opt){ .key = t->text, .val = t->val };
	}

	int required = 0, max = 0;
	bool unbounded = false;
	for (int i = 0; i < pat.npos; i++) {
		required += !pat.pos[i].optional;
		max++;
		unbounded |= pat.pos[i].variadic;
	}
	if (a->npos < required) {
		/* Optional positionals take nothing while a required one is short,
		 * so the missing one is the (npos+1)-th required. */
		int want = a->npos;
		for (int i = 0; i < pat.npos; i++) {
			if (pat.pos[i].optional)
				continue;
			if (want-- == 0)
				return fail(err, "%s: missing %.*s (usage: %s)", verb,
					    pat.pos[i].namelen, pat.pos[i].name, v->pattern);
		}
	}
	if (!unbounded && a->npos > max) {
		char tok[2 * SHOWN_TOKEN_MAX + 8];
		return fail(err, "%s: unexpected argument %s", verb, shown(a->pos[max], tok));
	}
	return 0;
}

int ctl_parse_line(const struct ctl_verb *table, size_t n, const char *line, size_t len,
		   struct ctl_args *a, struct cfs_err *err)
{
	memset(a, 0, sizeof *a);
	a->line = 1;
	cfs_err_clear(err);
	char *store = malloc(len + 1);
	if (!store)
		return cfs_errf(err, -ENOMEM, "out of memory");

	struct token toks[CTL_MAX_TOKENS];
	int ntok = 0;
	int r = tokenize(line, len, store, toks, &ntok, err);
	if (!r && ntok == 0)
		r = fail(err, "empty command");
	const struct ctl_verb *v = NULL;
	if (!r) {
		v = find_verb(table, n, toks[0].text);
		if (!v)
			r = unknown_command(table, n, toks[0].text, err);
	}
	if (!r)
		r = match(v, toks, ntok, a, err);
	if (r) {
		free(store);
		memset(a, 0, sizeof *a);
		a->line = 1;
		return r;
	}
	a->storage_ = store;
	return 0;
}

void ctl_args_free(struct ctl_args *a)
{
	if (!a)
		return;
	free(a->storage_);
	memset(a, 0, sizeof *a);
}

const char *ctl_opt(const struct ctl_args *a, const char *key)
{
	for (int i = 0; i < a->nopt; i++)
		if (strcmp(a->opt[i].key, key) == 0)
			return a->opt[i].val;
	return NULL;
}

int ctl_usage(const struct ctl_verb *table, size_t n, struct cfs_buf *out)
{
	for (size_t i = 0; i < n; i++) {
		int r = cfs_buf_puts(out, table[i].pattern);
		if (!r && table[i].help && table[i].help[0])
			r = cfs_buf_printf(out, "  — %s", table[i].help);
		if (!r)
			r = cfs_buf_puts(out, "\n");
		if (r)
			return r;
	}
	return 0;
}

int ctl_quote(const char *s, struct cfs_buf *out)
{
	bool bare = *s != '\0';
	for (const char *p = s; *p && bare; p++) {
		unsigned char c = (unsigned char)*p;
		bare = c > ' ' && c != '"' && c != '\\' && c != '=' && c != 0x7f;
	}
	if (bare)
		return cfs_buf_puts(out, s);

	int r = cfs_buf_reserve(out, strlen(s) + 2);
	if (!r)
		r = cfs_buf_puts(out, "\"");
	const char *run = s;   /* start of bytes copied as they are */
	for (const char *p = s; *p && !r; p++) {
		unsigned char c = (unsigned char)*p;
		if (c != '"' && c != '\\' && (c >= ' ' || c == '\t') && c != 0x7f)
			continue;
		r = cfs_buf_append(out, run, (size_t)(p - run));
		run = p + 1;
		if (r)
			break;
		if (c == '"' || c == '\\')
			r = cfs_buf_printf(out, "\\%c", c);
		else if (c == '\n')
			r = cfs_buf_puts(out, "\\n");
		else if (c == '\r')
			r = cfs_buf_puts(out, "\\r");
		else
			r = cfs_buf_printf(out, "\\x%02x", c);
	}
	if (!r)
		r = cfs_buf_puts(out, run);
	if (!r)
		r = cfs_buf_puts(out, "\"");
	return r;
}
