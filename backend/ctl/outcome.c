/* outcome.c — running a ctl write and recording what it did.
 *
 * An outcome is a list of lines, one per executed command.  ctl_exec opens a
 * "pending" line before calling a verb's run function, which adds key=value
 * pairs to it; the line is committed when run succeeds and turned into an
 * error line (dropping the pairs) when it fails.  Pending lines are never
 * rendered, so a reader on another thread sees whole lines only.
 *
 * ctl_exec lives here rather than in grammar.c because it is the only user of
 * the pending-line machinery; grammar.c stays free of outcome internals.
 *
 * Secrets are kept until one render with reveal=true has put them in the
 * caller's buffer; then the value is wiped and only "(shown)" remains. */
#include "ctl/grammar.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OUTCOME_MSG_MAX 256   /* "line N: " plus a struct cfs_err message */

struct ctl_pair {
	char *key;
	char *val;       /* NULL once a secret has been shown */
	bool secret;
	bool shown;
	bool showing;    /* revealed by the render in progress */
};

struct ctl_line {
	int code;        /* 0 for an ok line */
	bool pending;    /* its run function is still going */
	char *msg;       /* error text; NULL on ok lines (or out of memory) */
	struct ctl_pair *pairs;
	size_t npairs, cap;
};

struct ctl_outcome {
	pthread_mutex_t mu;
	int refs;
	struct ctl_line *lines;
	size_t nlines, cap;
	long cur;        /* line ctl_ok* adds to, or -1 */
	int code;        /* errno of the failing line */
	char msg[OUTCOME_MSG_MAX];
};

static void wipe_free(char *s)
{
	if (s) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}

static void line_clear_pairs(struct ctl_line *l)
{
	for (size_t i = 0; i < l->npairs; i++) {
		free(l->pairs[i].key);
		wipe_free(l->pairs[i].val);
	}
	free(l->pairs);
	l->pairs = NULL;
	l->npairs = l->cap = 0;
}

struct ctl_outcome *ctl_outcome_new(void)
{
	struct ctl_outcome *o = calloc(1, sizeof *o);
	if (!o)
		return NULL;
	if (pthread_mutex_init(&o->mu, NULL)) {
		free(o);
		return NULL;
	}
	o->refs = 1;
	o->cur = -1;
	return o;
}

struct ctl_outcome *ctl_outcome_ref(struct ctl_outcome *o)
{
	if (o) {
		pthread_mutex_lock(&o->mu);
		o->refs++;
		pthread_mutex_unlock(&o->mu);
	}
	return o;
}

void ctl_outcome_free(struct ctl_outcome *o)
{
	if (!o)
		return;
	pthread_mutex_lock(&o->mu);
	int left = --o->refs;
	pthread_mutex_unlock(&o->mu);
	if (left > 0)
		return;
	for (size_t i = 0; i < o->nlines; i++) {
		line_clear_pairs(&o->lines[i]);
		free(o->lines[i].msg);
	}
	free(o->lines);
	pthread_mutex_destroy(&o->mu);
	free(o);
}

/* Appends an empty line; caller holds the lock.  Index or -ENOMEM. */
static long add_line(struct ctl_outcome *o, bool pending)
{
	if (o->nlines == o->cap) {
		size_t cap = o->cap ? o->cap * 2 : 4;
		struct ctl_line *nl = realloc(o->lines, cap * sizeof *nl);
		if (!nl)
			return -ENOMEM;
		o->lines = nl;
		o->cap = cap;
	}
	o->lines[o->nlines] = (struct ctl_line){ .pending = pending };
	return (long)o->nlines++;
}

static bool key_valid(const char *key)
{
	if (!key || !*key)
		return false;
	for (const unsigned char *p = (const unsigned char *)key; *p; p++)
		if (*p <= ' ' || *p == '=' || *p == '"' || *p == '\\' || *p == 0x7f)
			return false;
	return true;
}

/* Takes ownership of val (wiped on failure when secret). */
static int add_pair(struct ctl_outcome *o, const char *key, char *val, bool secret)
{
	int r = 0;
	char *k = NULL;
	if (!key_valid(key)) {
		r = -EINVAL;
		goto out;
	}
	k = strdup(key);
	if (!k) {
		r = -ENOMEM;
		goto out;
	}
	pthread_mutex_lock(&o->mu);
	if (o->cur < 0) {
		long idx = add_line(o, false);
		if (idx < 0) {
			r = (int)idx;
			goto unlock;
		}
		o->cur = idx;
	}
	struct ctl_line *l = &o->lines[o->cur];
	if (l->npairs == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 4;
		struct ctl_pair *np = realloc(l->pairs, cap * sizeof *np);
		if (!np) {
			r = -ENOMEM;
			goto unlock;
		}
		l->pairs = np;
		l->cap = cap;
	}
	l->pairs[l->npairs++] = (struct ctl_pair){ .key = k, .val = val, .secret = secret };
	k = NULL;
	val = NULL;
unlock:
	pthread_mutex_unlock(&o->mu);
out:
	free(k);
	wipe_free(val);
	return r;
}

int ctl_ok(struct ctl_outcome *o, const char *key, const char *fmt, ...)
{
	struct cfs_buf b = CFS_BUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	int r = cfs_buf_vprintf(&b, fmt, ap);
	va_end(ap);
	if (r) {
		cfs_buf_free(&b);
		return r;
	}
	char *val = cfs_buf_steal(&b);   /* "" when the value is empty */
	if (!val)
		return -ENOMEM;
	return add_pair(o, key, val, false);
}

int ctl_ok_secret(struct ctl_outcome *o, const char *key, const char *value)
{
	char *v = strdup(value);
	if (!v)
		return -ENOMEM;
	return add_pair(o, key, v, true);
}

int ctl_ok_job(struct ctl_outcome *o, long long job_id)
{
	return ctl_ok(o, "job", "%lld", job_id);
}

/* One line of text, no control bytes: messages may quote user input or come
 * from strerror, and an outcome line must stay one line. */
static void flatten(char *s)
{
	for (unsigned char *p = (unsigned char *)s; *p; p++)
		if (*p < ' ' || *p == 0x7f)
			*p = ' ';
}

/* Records a failure: the pending line (if any) becomes the error line, else a
 * new one is added.  lineno 0 means "do not name the line".  Returns code. */
static int set_error(struct ctl_outcome *o, int code, int lineno, const char *msg)
{
	char text[OUTCOME_MSG_MAX];
	if (lineno > 0)
		snprintf(text, sizeof text, "line %d: %s", lineno, msg);
	else
		snprintf(text, sizeof text, "%s", msg);
	flatten(text);

	pthread_mutex_lock(&o->mu);
	long idx = o->cur;
	if (idx < 0 || !o->lines[idx].pending)
		idx = add_line(o, false);
	if (idx >= 0) {
		struct ctl_line *l = &o->lines[idx];
		line_clear_pairs(l);
		free(l->msg);
		l->msg = strdup(text);   /* rendered as "out of memory" when NULL */
		l->code = code;
		l->pending = false;
	}
	o->cur = -1;
	o->code = code;
	memcpy(o->msg, text, sizeof text);
	pthread_mutex_unlock(&o->mu);
	return code;
}

static bool blank_line(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] != ' ' && s[i] != '\t')
			return false;
	return true;
}

/* Next line of data from *pos: its start and length without "\n" or "\r\n". */
static const char *next_line(const char *data, size_t len, size_t *pos, size_t *n)
{
	const char *s = data + *pos;
	const char *nl = memchr(s, '\n', len - *pos);
	if (!nl) {
		*n = len - *pos;
		*pos = len;
		return s;
	}
	*n = (size_t)(nl - s);
	*pos += *n + 1;
	if (*n > 0 && s[*n - 1] == '\r')
		(*n)--;
	return s;
}

static const struct ctl_verb *table_verb(const struct ctl_verb *table, size_t n,
					 const char *verb)
{
	size_t vl = strlen(verb);
	for (size_t i = 0; i < n; i++)
		if (strcspn(table[i].pattern, " \t") == vl &&
		    memcmp(table[i].pattern, verb, vl) == 0)
			return &table[i];
	return NULL;
}

/* Runs one parsed command into a fresh pending line. */
static int run_one(const struct ctl_verb *table, size_t n, void *ctx, struct ctl_args *a,
		   struct ctl_outcome *o, int lineno)
{
	struct cfs_err err = { 0 };
	pthread_mutex_lock(&o->mu);
	long idx = add_line(o, true);
	o->cur = idx;
	pthread_mutex_unlock(&o->mu);
	if (idx < 0)
		return set_error(o, -ENOMEM, lineno, "out of memory");

	const struct ctl_verb *v = table_verb(table, n, a->verb);
	int r;
	if (v && v->run)
		r = v->run(ctx, a, o, &err);
	else
		r = cfs_errf(&err, -ENOSYS, "%s: not available in this build", a->verb);
	if (r > 0)
		r = -r;
	if (r)
		return set_error(o, r, lineno, err.msg[0] ? err.msg : strerror(-r));

	pthread_mutex_lock(&o->mu);
	o->lines[idx].pending = false;
	o->cur = -1;
	pthread_mutex_unlock(&o->mu);
	return 0;
}

int ctl_exec(const struct ctl_verb *table, size_t n, void *ctx, const char *data, size_t len,
	     struct ctl_outcome *o)
{
	char text[OUTCOME_MSG_MAX];
	if (len > CTL_MAX_WRITE) {
		snprintf(text, sizeof text, "write of %zu bytes is over the limit of %d",
			 len, CTL_MAX_WRITE);
		return set_error(o, -EINVAL, 0, text);
	}
	if (len && memchr(data, '\0', len))
		return set_error(o, -EINVAL, 0, "NUL byte in write");

	int commands = 0;
	for (size_t pos = 0, n_; pos < len;) {
		const char *s = next_line(data, len, &pos, &n_);
		commands += !blank_line(s, n_);
	}

	int lineno = 0;
	for (size_t pos = 0; pos < len;) {
		size_t linelen;
		const char *s = next_line(data, len, &pos, &linelen);
		lineno++;
		if (blank_line(s, linelen))
			continue;
		int named = commands > 1 ? lineno : 0;
		struct ctl_args a;
		struct cfs_err err = { 0 };
		int r = ctl_parse_line(table, n, s, linelen, &a, &err);
		if (r)
			return set_error(o, r, named, err.msg[0] ? err.msg : strerror(-r));
		a.line = lineno;
		r = run_one(table, n, ctx, &a, o, named);
		ctl_args_free(&a);
		if (r)
			return r;
	}
	return 0;
}

/* Renders one line into b; secrets revealed are marked showing. */
static int render_line(struct ctl_line *l, bool reveal, struct cfs_buf *b)
{
	if (l->code)
		return cfs_buf_printf(b, "error %s: %s\n", cfs_errno_name(l->code),
				      l->msg ? l->msg : "out of memory");
	int r = cfs_buf_puts(b, "ok");
	for (size_t i = 0; i < l->npairs && !r; i++) {
		struct ctl_pair *p = &l->pairs[i];
		r = cfs_buf_printf(b, " %s=", p->key);
		if (r)
			break;
		if (!p->secret) {
			r = ctl_quote(p->val, b);
		} else if (p->shown || p->showing) {
			r = cfs_buf_puts(b, "(shown)");
		} else if (reveal) {
			r = ctl_quote(p->val, b);
			p->showing = true;
		} else {
			r = cfs_buf_puts(b, "(hidden)");
		}
	}
	if (!r)
		r = cfs_buf_puts(b, "\n");
	return r;
}

int ctl_outcome_render(struct ctl_outcome *o, bool reveal, struct cfs_buf *out)
{
	struct cfs_buf tmp = CFS_BUF_INIT;
	int r = 0;
	pthread_mutex_lock(&o->mu);
	for (size_t i = 0; i < o->nlines && !r; i++)
		if (!o->lines[i].pending)
			r = render_line(&o->lines[i], reveal, &tmp);
	if (!r && tmp.len)
		r = cfs_buf_append(out, tmp.data, tmp.len);
	/* A secret counts as shown only once it reached the caller's buffer. */
	for (size_t i = 0; i < o->nlines; i++) {
		struct ctl_line *l = &o->lines[i];
		for (size_t j = 0; j < l->npairs; j++) {
			struct ctl_pair *p = &l->pairs[j];
			if (!p->showing)
				continue;
			p->showing = false;
			if (!r) {
				p->shown = true;
				wipe_free(p->val);
				p->val = NULL;
			}
		}
	}
	pthread_mutex_unlock(&o->mu);
	if (tmp.data)
		explicit_bzero(tmp.data, tmp.len);
	cfs_buf_free(&tmp);
	return r;
}

int ctl_outcome_errno(const struct ctl_outcome *o)
{
	struct ctl_outcome *m = (struct ctl_outcome *)o;   /* the lock is not state */
	pthread_mutex_lock(&m->mu);
	int code = m->code;
	pthread_mutex_unlock(&m->mu);
	return code;
}

const char *ctl_outcome_message(const struct ctl_outcome *o)
{
	/* msg is an array inside the outcome, so the pointer stays valid as long
	 * as the outcome; its text changes only when a later exec fails. */
	return o->msg;
}

bool ctl_outcome_empty(const struct ctl_outcome *o)
{
	struct ctl_outcome *m = (struct ctl_outcome *)o;
	pthread_mutex_lock(&m->mu);
	bool empty = true;
	for (size_t i = 0; i < m->nlines && empty; i++)
		empty = m->lines[i].pending;
	pthread_mutex_unlock(&m->mu);
	return empty;
}

int ctl_outcome_fail(struct ctl_outcome *o, int code, const char *msg)
{
	return set_error(o, code, 0, msg);
}
