/* canonical.c — the signed wire protocol's canonical string and the host
 * normalisation it relies on (DESIGN.md section 5).
 *
 * Sender and receiver must build the same bytes from what each side sees, so
 * both run the same normalisation: the host is trimmed, lower-cased and loses
 * a default port; everything else goes in as given.  A field holding a line
 * break is refused, since it could shift the remaining fields and make two
 * different requests share one canonical string. */
#include "auth/crypto.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

/* RFC 3986 host and port characters: unreserved, sub-delims, ':' and the
 * brackets of an IP literal, '%' for a zone id.  Blanks, controls, non-ASCII
 * and the delimiters that end an authority ('/', '?', '#', '@') are out. */
static bool is_host_char(char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return true;
	return c && strchr("-._~!$&'()*+,;=:[]%", c) != NULL;
}

static bool all_digits(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

/* Where the ":port" starts in h[0..n), or n when there is none.  -EINVAL for
 * misplaced brackets, an empty host or a port that is not digits.  A bare
 * IPv6 address (several colons, no brackets) has no port. */
static int host_port_at(const char *h, size_t n, size_t *at)
{
	const char *close = memchr(h, ']', n);
	size_t colon;
	if (h[0] == '[') {
		if (!close || close == h + 1 || memchr(h + 1, '[', n - 1))
			return -EINVAL;
		colon = (size_t)(close - h) + 1;
		if (colon < n && h[colon] != ':')
			return -EINVAL;
	} else {
		if (close || memchr(h, '[', n))
			return -EINVAL;
		const char *first = memchr(h, ':', n);
		const char *last = memrchr(h, ':', n);
		colon = first && first == last ? (size_t)(first - h) : n;
	}
	if (colon == 0)
		return -EINVAL;
	if (colon < n && !all_digits(h + colon + 1, n - colon - 1))
		return -EINVAL;
	*at = colon;
	return 0;
}

int cfs_host_normalize(const char *host, char *out, size_t out_len)
{
	if (out && out_len)
		out[0] = '\0';
	if (!host || !out)
		return -EINVAL;

	while (is_blank(*host))
		host++;
	size_t n = strlen(host);
	while (n && is_blank(host[n - 1]))
		n--;
	if (n == 0)
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (!is_host_char(host[i]))
			return -EINVAL;

	size_t at;
	int ret = host_port_at(host, n, &at);
	if (ret)
		return ret;
	const char *port = host + at + 1;
	size_t port_len = at < n ? n - at - 1 : 0;
	if (at < n && ((port_len == 2 && !memcmp(port, "80", 2)) ||
		       (port_len == 3 && !memcmp(port, "443", 3))))
		n = at;

	if (n >= out_len)
		return -ENAMETOOLONG;
	for (size_t i = 0; i < n; i++) {
		char c = host[i];
		out[i] = c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
	}
	out[n] = '\0';
	return 0;
}

static bool has_line_break(const char *s)
{
	return strpbrk(s, "\r\n") != NULL;
}

int cfs_canonical_string(const char *timestamp, const char *nonce, const char *method,
			 const char *target, const char *host, const char *body_sha256_hex,
			 struct cfs_buf *out)
{
	if (!timestamp || !nonce || !method || !target || !host || !body_sha256_hex || !out)
		return -EINVAL;
	if (has_line_break(timestamp) || has_line_break(nonce) || has_line_break(method) ||
	    has_line_break(target) || has_line_break(body_sha256_hex))
		return -EINVAL;

	/* Normalising never lengthens the host. */
	size_t host_cap = strlen(host) + 1;
	char *norm = malloc(host_cap);
	if (!norm)
		return -ENOMEM;
	int ret = cfs_host_normalize(host, norm, host_cap);
	if (ret)
		goto out;

	size_t start = out->len;
	ret = cfs_buf_printf(out, "%s\n%s\n", timestamp, nonce);
	for (const char *m = method; !ret && *m; m++) {
		char c = *m >= 'a' && *m <= 'z' ? (char)(*m - 'a' + 'A') : *m;
		ret = cfs_buf_append(out, &c, 1);
	}
	if (!ret)
		ret = cfs_buf_printf(out, "\n%s\n%s\n%s", target, norm, body_sha256_hex);
	if (ret && out->data) {
		/* Leave the buffer as it was. */
		out->len = start;
		out->data[start] = '\0';
	}
out:
	free(norm);
	return ret;
}
