/* url.c — percent-encoding both ways and query strings.
 *
 * Senders encode, receivers decode: the signature covers the encoded bytes, so
 * the encoder must be the only one (libcurl is told to send targets as they
 * are).  Query values may legitimately decode to bytes a C string cannot
 * carry (a NUL): the decoded length travels with the value so the route
 * handler can refuse such a value instead of silently seeing a shorter one. */
#include "wire/internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"

static bool unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.' || c == '_' || c == '~';
}

int wire_urlencode(const char *s, struct cfs_buf *out)
{
	static const char hex[] = "0123456789ABCDEF";
	if (!s || !out)
		return -EINVAL;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		char esc[3] = { '%', hex[*p >> 4], hex[*p & 15] };
		int ret = unreserved(*p) || *p == '/' ? cfs_buf_append(out, p, 1)
						      : cfs_buf_append(out, esc, 3);
		if (ret)
			return ret;
	}
	/* An empty value still leaves a valid (empty) string behind. */
	return cfs_buf_append(out, "", 0);
}

int wire_pct_decode(const char *s, size_t n, bool plus_blank, bool strict, char **out,
		    size_t *out_len)
{
	char *d = malloc(n + 1);
	size_t j = 0;
	if (!d)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		int hi, lo;
		if (s[i] == '%' && i + 2 < n && (hi = cfs_hexval((unsigned char)s[i + 1])) >= 0 &&
		    (lo = cfs_hexval((unsigned char)s[i + 2])) >= 0) {
			d[j++] = (char)(hi << 4 | lo);
			i += 2;
		} else if (s[i] == '%' && strict) {
			free(d);
			return -EINVAL;
		} else {
			d[j++] = plus_blank && s[i] == '+' ? ' ' : s[i];
		}
	}
	d[j] = '\0';
	*out = d;
	*out_len = j;
	return 0;
}

void wire_query_free(struct wire_qparam *q, size_t n)
{
	for (size_t i = 0; q && i < n; i++) {
		free(q[i].key);
		free(q[i].val);
	}
	free(q);
}

int wire_query_parse(const char *query, struct wire_qparam **out, size_t *n)
{
	struct wire_qparam *q = NULL;
	size_t count = 0, cap = 0;
	*out = NULL;
	*n = 0;
	for (const char *p = query; p && *p;) {
		size_t len = strcspn(p, "&");
		const char *eq = memchr(p, '=', len);
		size_t klen = eq ? (size_t)(eq - p) : len;
		if (len == 0)
			goto next;
		if (count == cap) {
			size_t nc = cap ? cap * 2 : 8;
			struct wire_qparam *nq = realloc(q, nc * sizeof *q);
			if (!nq)
				goto nomem;
			q = nq;
			cap = nc;
		}
		size_t klen_dec;
		struct wire_qparam *e = &q[count];
		*e = (struct wire_qparam){ 0 };
		if (wire_pct_decode(p, klen, true, false, &e->key, &klen_dec))
			goto nomem;
		if (eq ? wire_pct_decode(eq + 1, len - klen - 1, true, false, &e->val, &e->val_len)
		       : wire_pct_decode("", 0, true, false, &e->val, &e->val_len)) {
			free(e->key);
			goto nomem;
		}
		count++;
next:
		p += len;
		if (*p == '&')
			p++;
	}
	*out = q;
	*n = count;
	return 0;
nomem:
	wire_query_free(q, count);
	return -ENOMEM;
}

const struct wire_qparam *wire_query_find(const struct wire_qparam *q, size_t n, const char *key)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(q[i].key, key) == 0)
			return &q[i];
	return NULL;
}
