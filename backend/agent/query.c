/* query.c — the request target, decoded.
 *
 * The signature covers the raw target, so the agent reads its parameters from
 * that same string rather than from a decoded copy made elsewhere: what was
 * signed is exactly what is acted on. */
#include "agent/internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"

/* Decode src[0..n) into dst (room for n + 1); plus: '+' means a blank. */
static int decode(const char *src, size_t n, char *dst, size_t *out_len, bool plus)
{
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		char c = src[i];
		if (c == '%') {
			int h, l;
			if (i + 2 >= n)
				return -EINVAL;
			if ((h = cfs_hexval((unsigned char)src[i + 1])) < 0 ||
			    (l = cfs_hexval((unsigned char)src[i + 2])) < 0)
				return -EINVAL;
			dst[o++] = (char)(h << 4 | l);
			i += 2;
		} else if (c == '+' && plus) {
			dst[o++] = ' ';
		} else {
			dst[o++] = c;
		}
	}
	dst[o] = '\0';
	*out_len = o;
	return 0;
}

int agent_query_parse(const char *target, struct query *q)
{
	memset(q, 0, sizeof *q);
	size_t tl = strlen(target);
	/* every decoded piece fits in its own span, plus a NUL each */
	q->store_ = malloc(2 * tl + 2 * QUERY_MAX + 4);
	if (!q->store_)
		return -ENOMEM;
	char *w = q->store_;
	const char *qm = strchr(target, '?');
	size_t pl = qm ? (size_t)(qm - target) : tl;
	size_t len;
	if (decode(target, pl, w, &len, false))
		goto bad;
	q->path = w;
	w += len + 1;
	if (!qm)
		return 0;
	const char *p = qm + 1;
	while (*p) {
		const char *amp = strchr(p, '&');
		size_t n = amp ? (size_t)(amp - p) : strlen(p);
		if (n) {
			if (q->n == QUERY_MAX)
				goto bad;
			const char *eq = memchr(p, '=', n);
			size_t kn = eq ? (size_t)(eq - p) : n;
			if (decode(p, kn, w, &len, true) || memchr(w, '\0', len))
				goto bad;
			q->kv[q->n].key = w;
			w += len + 1;
			if (decode(eq ? eq + 1 : p + n, eq ? n - kn - 1 : 0, w, &len, true))
				goto bad;
			q->kv[q->n].val = w;
			q->kv[q->n].len = len;
			w += len + 1;
			q->n++;
		}
		p += n;
		if (*p == '&')
			p++;
	}
	return 0;
bad:
	agent_query_free(q);
	return -EINVAL;
}

void agent_query_free(struct query *q)
{
	free(q->store_);
	memset(q, 0, sizeof *q);
}

const char *agent_query_get(const struct query *q, const char *key, size_t *len)
{
	for (int i = 0; i < q->n; i++) {
		if (!strcmp(q->kv[i].key, key)) {
			if (len)
				*len = q->kv[i].len;
			return q->kv[i].val;
		}
	}
	return NULL;
}
