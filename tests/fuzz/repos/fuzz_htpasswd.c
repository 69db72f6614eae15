/* fuzz_htpasswd.c — the htpasswd line editor on arbitrary files.
 *
 * Input: one mode byte (even: set the user's line, odd: remove it), a user
 * name up to the first newline (used when it passes the user-name rule, else
 * "alice"), then the file.  Beyond not crashing, the edit must keep every
 * other line byte for byte and in order (only a missing final line end may be
 * supplied), leave exactly one line of the user after a set and none after a
 * remove, and change nothing when applied a second time. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "repos/repos.h"

struct line {
	const char *p;
	size_t content, total;   /* without and with the line end */
};

/* Lines of text that do not belong to user. */
static size_t foreign(const char *t, size_t len, const char *user, struct line *out, size_t max)
{
	size_t n = 0, ulen = strlen(user);
	for (size_t pos = 0; pos < len && n < max;) {
		const char *nl = memchr(t + pos, '\n', len - pos);
		size_t total = nl ? (size_t)(nl - (t + pos)) + 1 : len - pos;
		size_t c = total;
		if (c && t[pos + c - 1] == '\n')
			c--;
		if (c && t[pos + c - 1] == '\r')
			c--;
		bool mine = c > ulen && memcmp(t + pos, user, ulen) == 0 && t[pos + ulen] == ':';
		if (!mine)
			out[n++] = (struct line){ t + pos, c, total };
		pos += total;
	}
	return n;
}

static size_t count_user(const char *t, size_t len, const char *user)
{
	struct cfs_buf l = CFS_BUF_INIT;
	size_t n = 0, ulen = strlen(user);
	for (size_t pos = 0; pos < len;) {
		const char *nl = memchr(t + pos, '\n', len - pos);
		size_t total = nl ? (size_t)(nl - (t + pos)) + 1 : len - pos;
		if (total > ulen && memcmp(t + pos, user, ulen) == 0 && t[pos + ulen] == ':')
			n++;
		pos += total;
	}
	cfs_buf_free(&l);
	return n;
}

#define MAXL 4096

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	bool set = (data[0] & 1) == 0;
	const char *rest = (const char *)data + 1;
	size_t rlen = size - 1;
	const char *nl = memchr(rest, '\n', rlen < 80 ? rlen : 80);
	char user[81] = "alice";
	if (nl) {
		size_t ul = (size_t)(nl - rest);
		char cand[81];
		memcpy(cand, rest, ul);
		cand[ul] = '\0';
		if (strlen(cand) == ul && repos_user_check(cand, NULL) == 0)
			memcpy(user, cand, ul + 1);
		rlen -= ul + 1;
		rest = nl + 1;
	}
	char line[160];
	snprintf(line, sizeof line, "%s:$2b$05$abcdefghijklmnopqrstuuABCDEFGHIJKLMNOPQRSTUVWXYZ0123",
		 user);

	struct cfs_buf out = CFS_BUF_INIT, old = CFS_BUF_INIT, again = CFS_BUF_INIT;
	bool changed, changed2;
	if (htpw_edit(rest, rlen, user, set ? line : NULL, &out, &old, &changed))
		abort();
	if (changed != (out.len != rlen || memcmp(out.data, rest, rlen) != 0))
		abort();
	/* the user's lines */
	if (count_user(out.data, out.len, user) != (set ? 1u : 0u))
		abort();
	struct cfs_buf found = CFS_BUF_INIT;
	int fr = htpw_find(out.data, out.len, user, &found);
	if (set ? (fr || strcmp(found.data, line) != 0) : fr != -ENOENT)
		abort();
	if (old.len && htpw_find(rest, rlen, user, &found) == 0 &&
	    (found.len != old.len || memcmp(found.data, old.data, old.len) != 0))
		abort();
	/* everyone else's, byte for byte */
	static struct line a[MAXL], b[MAXL];
	size_t na = foreign(rest, rlen, user, a, MAXL);
	size_t nb = foreign(out.data, out.len, user, b, MAXL);
	if (na == MAXL || nb == MAXL)
		goto done;   /* too many lines to compare: crash checks only */
	if (na != nb)
		abort();
	for (size_t i = 0; i < na; i++) {
		/* the last line may lack its "\n"; then only a line end may be added */
		bool open_end = i == na - 1 && a[i].p[a[i].total - 1] != '\n';
		if (open_end ? b[i].total < a[i].total : b[i].total != a[i].total)
			abort();
		if (memcmp(a[i].p, b[i].p, a[i].total) != 0)
			abort();
	}
	/* a second time is a no-op */
	if (htpw_edit(out.data, out.len, user, set ? line : NULL, &again, NULL, &changed2) ||
	    changed2)
		abort();
done:
	cfs_buf_free(&out);
	cfs_buf_free(&old);
	cfs_buf_free(&again);
	cfs_buf_free(&found);
	return 0;
}
