/* fuzz_ctl.c — one write through every test verb table.
 *
 * Invariants checked (abort on a breach, so the fuzzer reports it):
 *   - ctl_exec returns 0 or an errno the tables can produce, and the outcome
 *     agrees with it (errno, message, last line);
 *   - a write holding a command leaves a non-empty outcome with at most one
 *     line per command, every line "ok…" or "error E…: …", only the last one
 *     an error, and no control byte but tab inside a line;
 *   - a secret appears in at most one render, and never without reveal;
 *   - ctl_quote of the input (when it is printable) parses back to itself. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "ctl/grammar.h"
#include "ctl_tables.h"

#define CHECK(cond) do { if (!(cond)) abort(); } while (0)

static bool allowed(int rc)
{
	static const int codes[] = { 0, EINVAL, ENOSYS, ENOMEM, EEXIST, ENOENT, EIO, EACCES,
				     EBUSY, ETIMEDOUT, EHOSTUNREACH, EPIPE };
	for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++)
		if (rc == -codes[i])
			return true;
	return false;
}

/* Commands in a write, split the way ctl_exec splits it. */
static int count_commands(const char *d, size_t n)
{
	int commands = 0;
	size_t i = 0;
	while (i < n) {
		const char *nl = memchr(d + i, '\n', n - i);
		size_t end = nl ? (size_t)(nl - d) : n, stop = end;
		if (nl && stop > i && d[stop - 1] == '\r')
			stop--;
		bool blank = true;
		for (size_t j = i; j < stop && blank; j++)
			blank = d[j] == ' ' || d[j] == '\t';
		commands += !blank;
		i = end + 1;
	}
	return commands;
}

/* Checks one render; returns its number of lines. */
static int check_render(const struct cfs_buf *b, int rc)
{
	int lines = 0;
	const char *last = NULL;
	for (size_t i = 0; i < b->len;) {
		const char *s = b->data + i;
		const char *nl = memchr(s, '\n', b->len - i);
		CHECK(nl);   /* every line ends in '\n' */
		for (const char *p = s; p < nl; p++)
			CHECK((unsigned char)*p >= ' ' || *p == '\t');
		bool ok = nl - s >= 2 && memcmp(s, "ok", 2) == 0 && (nl - s == 2 || s[2] == ' ');
		bool err = nl - s > 7 && memcmp(s, "error E", 7) == 0;
		CHECK(ok || err);
		if (last)
			CHECK(memcmp(last, "ok", 2) == 0);   /* only the last line may fail */
		last = s;
		lines++;
		i = (size_t)(nl - b->data) + 1;
	}
	if (last)
		CHECK((memcmp(last, "error", 5) == 0) == (rc != 0));
	return lines;
}

static void exec_one(const struct ctl_test_table *t, const char *data, size_t size)
{
	struct ctl_test_ctx ctx;
	ctl_test_ctx_reset(&ctx);
	struct ctl_outcome *o = ctl_outcome_new();
	if (!o)
		return;
	int rc = ctl_exec(t->verbs, t->n, &ctx, data, size, o);
	CHECK(allowed(rc));
	CHECK(ctl_outcome_errno(o) == rc);
	CHECK((rc != 0) == (ctl_outcome_message(o)[0] != '\0'));

	bool rejected = size > CTL_MAX_WRITE || memchr(data, '\0', size);
	int commands = rejected ? 1 : count_commands(data, size);
	if (rc || (!rejected && commands > 0))
		CHECK(!ctl_outcome_empty(o));
	if (!rc && commands == 0)
		CHECK(ctl_outcome_empty(o));

	struct ctl_outcome *last = ctl_outcome_ref(o);
	struct cfs_buf hidden = CFS_BUF_INIT, first = CFS_BUF_INIT, again = CFS_BUF_INIT;
	CHECK(ctl_outcome_render(last, false, &hidden) == 0);
	CHECK(ctl_outcome_render(o, true, &first) == 0);
	CHECK(ctl_outcome_render(last, true, &again) == 0);
	int n = check_render(&hidden, rc);
	CHECK(n == check_render(&first, rc) && n == check_render(&again, rc));
	CHECK(n <= commands);
	CHECK(ctx.calls <= commands);
	if (!memmem(data, size, "S3CRET", 6)) {
		CHECK(!hidden.len || !memmem(hidden.data, hidden.len, "S3CRET", 6));
		CHECK(!again.len || !memmem(again.data, again.len, "S3CRET", 6));
		/* A failed "fail" line adds a secret that must vanish with it. */
		CHECK(!first.len || !memmem(first.data, first.len, "S3CRET-never", 12));
	}
	cfs_buf_free(&hidden);
	cfs_buf_free(&first);
	cfs_buf_free(&again);
	ctl_outcome_free(last);
	ctl_outcome_free(o);
}

static void quote_roundtrip(const char *data, size_t size)
{
	static const struct ctl_verb probe[] = { { "v [A]", NULL, NULL } };
	if (size > 1024)
		return;
	for (size_t i = 0; i < size; i++)
		if (((unsigned char)data[i] < ' ' && data[i] != '\t') || data[i] == 0x7f)
			return;   /* ctl_quote writes these as escapes the parser refuses */
	char *s = malloc(size + 1);
	if (!s)
		return;
	memcpy(s, data, size);
	s[size] = '\0';
	struct cfs_buf line = CFS_BUF_INIT;
	struct ctl_args a;
	struct cfs_err err = { 0 };
	CHECK(cfs_buf_puts(&line, "v ") == 0 && ctl_quote(s, &line) == 0);
	CHECK(ctl_parse_line(probe, 1, line.data, line.len, &a, &err) == 0);
	CHECK(a.npos == 1 && a.nopt == 0 && strcmp(a.pos[0], s) == 0);
	ctl_args_free(&a);
	cfs_buf_free(&line);
	free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	for (size_t i = 0; i < ctl_test_ntables; i++)
		exec_one(&ctl_test_tables[i], (const char *)data, size);
	quote_roundtrip((const char *)data, size);
	return 0;
}
