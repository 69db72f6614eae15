/* jscan.c — a small pull parser for JSON, for the documents that can be
 * huge (restic index files with 150,000 blobs, tree blobs of directories
 * with millions of entries, an agent's listing of 20,000 paths).  Callers
 * walk objects and arrays with callbacks and decode only the values they
 * want, so no JSON tree is ever built.  Nesting is capped; numbers are read
 * as plain unsigned integers where the caller wants a number. */
#include "core/jscan.h"

#include <errno.h>
#include <string.h>

#define MAX_DEPTH 64

static void ws(struct cfs_jscan *s)
{
	while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
		s->p++;
}

int cfs_js_peek(struct cfs_jscan *s)
{
	ws(s);
	return s->p < s->end ? (unsigned char)*s->p : -1;
}

static int eat(struct cfs_jscan *s, char c)
{
	if (cfs_js_peek(s) != (unsigned char)c)
		return -EINVAL;
	s->p++;
	return 0;
}

static int hex4(const char *p, uint32_t *v)
{
	*v = 0;
	for (int i = 0; i < 4; i++) {
		char h = p[i];
		int d = h >= '0' && h <= '9' ? h - '0' : h >= 'a' && h <= 'f' ? h - 'a' + 10
			: h >= 'A' && h <= 'F' ? h - 'A' + 10 : -1;
		if (d < 0)
			return -EINVAL;
		*v = *v << 4 | (uint32_t)d;
	}
	return 0;
}

int cfs_js_string_raw(struct cfs_jscan *s, const char **str, size_t *len)
{
	if (eat(s, '"'))
		return -EINVAL;
	const char *b = s->p;
	while (s->p < s->end && *s->p != '"') {
		unsigned char c = (unsigned char)*s->p;
		uint32_t v;
		if (c < 0x20)
			return -EINVAL;
		if (c != '\\') {
			s->p++;
			continue;
		}
		if (s->end - s->p < 2)
			return -EINVAL;
		char e = s->p[1];
		if (e == 'u') {
			if (s->end - s->p < 6 || hex4(s->p + 2, &v))
				return -EINVAL;
			s->p += 6;
		} else if (e && strchr("\"\\/bfnrt", e)) {
			s->p += 2;
		} else {
			return -EINVAL;
		}
	}
	if (s->p >= s->end)
		return -EINVAL;
	*str = b;
	*len = (size_t)(s->p - b);
	s->p++;
	return 0;
}

int cfs_js_string(struct cfs_jscan *s, struct cfs_buf *out)
{
	const char *str;
	size_t len;
	int ret = cfs_js_string_raw(s, &str, &len);
	if (ret)
		return ret;
	out->len = 0;
	if ((ret = cfs_buf_reserve(out, len)))   /* decoding never grows the text */
		return ret;
	char *o = out->data;
	size_t k = 0;
	for (size_t i = 0; i < len;) {
		if (str[i] != '\\') {
			o[k++] = str[i++];
			continue;
		}
		char e = str[i + 1];
		i += 2;
		switch (e) {
		case 'b': o[k++] = '\b'; break;
		case 'f': o[k++] = '\f'; break;
		case 'n': o[k++] = '\n'; break;
		case 'r': o[k++] = '\r'; break;
		case 't': o[k++] = '\t'; break;
		case 'u': {
			uint32_t c, lo;
			hex4(str + i, &c);
			i += 4;
			if (c >= 0xd800 && c < 0xdc00 && i + 6 <= len && str[i] == '\\' &&
			    str[i + 1] == 'u' && !hex4(str + i + 2, &lo) && lo >= 0xdc00 && lo < 0xe000) {
				c = 0x10000 + ((c - 0xd800) << 10) + (lo - 0xdc00);
				i += 6;
			} else if (c >= 0xd800 && c < 0xe000) {
				c = 0xfffd;   /* a lone surrogate, as Go decodes it */
			}
			k += cfs_utf8_put(c, o + k);
			break;
		}
		default: o[k++] = e; break;   /* " \ / */
		}
	}
	out->len = k;
	o[k] = '\0';
	return 0;
}

int cfs_js_u64(struct cfs_jscan *s, uint64_t *out)
{
	uint64_t v = 0;
	int n = 0;
	ws(s);
	const char *b = s->p;
	while (s->p < s->end && *s->p >= '0' && *s->p <= '9') {
		unsigned d = (unsigned)(*s->p++ - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -EINVAL;
		v = v * 10 + d;
		n++;
	}
	if (n == 0 || (n > 1 && *b == '0'))
		return -EINVAL;
	if (s->p < s->end && (*s->p == '.' || *s->p == 'e' || *s->p == 'E'))
		return -EINVAL;
	*out = v;
	return 0;
}

static int literal(struct cfs_jscan *s, const char *lit)
{
	size_t n = strlen(lit);
	if ((size_t)(s->end - s->p) < n || memcmp(s->p, lit, n))
		return -EINVAL;
	s->p += n;
	return 0;
}

bool cfs_js_null(struct cfs_jscan *s)
{
	return cfs_js_peek(s) == 'n' && literal(s, "null") == 0;
}

static int skip_member(struct cfs_jscan *s, void *arg, const char *k, size_t kl)
{
	(void)arg;
	(void)k;
	(void)kl;
	return cfs_js_skip(s);
}

static int skip_elem(struct cfs_jscan *s, void *arg)
{
	(void)arg;
	return cfs_js_skip(s);
}

static int skip_number(struct cfs_jscan *s)
{
	const char *b;
	if (*s->p == '-')
		s->p++;
	b = s->p;
	while (s->p < s->end && *s->p >= '0' && *s->p <= '9')
		s->p++;
	if (s->p == b || (s->p - b > 1 && *b == '0'))
		return -EINVAL;
	if (s->p < s->end && *s->p == '.') {
		b = ++s->p;
		while (s->p < s->end && *s->p >= '0' && *s->p <= '9')
			s->p++;
		if (s->p == b)
			return -EINVAL;
	}
	if (s->p < s->end && (*s->p == 'e' || *s->p == 'E')) {
		s->p++;
		if (s->p < s->end && (*s->p == '+' || *s->p == '-'))
			s->p++;
		b = s->p;
		while (s->p < s->end && *s->p >= '0' && *s->p <= '9')
			s->p++;
		if (s->p == b)
			return -EINVAL;
	}
	return 0;
}

int cfs_js_skip(struct cfs_jscan *s)
{
	const char *str;
	size_t len;
	int c = cfs_js_peek(s);
	switch (c) {
	case '{': return cfs_js_object(s, skip_member, NULL);
	case '[': return cfs_js_array(s, skip_elem, NULL);
	case '"': return cfs_js_string_raw(s, &str, &len);
	case 't': return literal(s, "true");
	case 'f': return literal(s, "false");
	case 'n': return literal(s, "null");
	default:
		if (c == '-' || (c >= '0' && c <= '9'))
			return skip_number(s);
		return -EINVAL;
	}
}

int cfs_js_object(struct cfs_jscan *s, cfs_js_member_fn member, void *arg)
{
	const char *k;
	size_t kl;
	int ret = -EINVAL;
	if (++s->depth > MAX_DEPTH || eat(s, '{'))
		goto out;
	if (cfs_js_peek(s) == '}') {
		s->p++;
		ret = 0;
		goto out;
	}
	for (;;) {
		if (cfs_js_string_raw(s, &k, &kl) || eat(s, ':')) {
			ret = -EINVAL;
			goto out;
		}
		if ((ret = member(s, arg, k, kl)))
			goto out;
		int c = cfs_js_peek(s);
		if (c == '}' || c == ',')
			s->p++;
		ret = c == '}' ? 0 : -EINVAL;
		if (c != ',')
			goto out;
	}
out:
	s->depth--;
	return ret;
}

int cfs_js_array(struct cfs_jscan *s, cfs_js_elem_fn elem, void *arg)
{
	int ret = -EINVAL;
	if (cfs_js_null(s))
		return 0;
	if (++s->depth > MAX_DEPTH || eat(s, '['))
		goto out;
	if (cfs_js_peek(s) == ']') {
		s->p++;
		ret = 0;
		goto out;
	}
	for (;;) {
		if ((ret = elem(s, arg)))
			goto out;
		int c = cfs_js_peek(s);
		if (c == ']' || c == ',')
			s->p++;
		ret = c == ']' ? 0 : -EINVAL;
		if (c != ',')
			goto out;
	}
out:
	s->depth--;
	return ret;
}

bool cfs_js_key(const char *k, size_t kl, const char *lit)
{
	return strlen(lit) == kl && memcmp(k, lit, kl) == 0;
}

size_t cfs_utf8_put(uint32_t c, char *o)
{
	if (c < 0x80) {
		o[0] = (char)c;
		return 1;
	}
	if (c < 0x800) {
		o[0] = (char)(0xc0 | c >> 6);
		o[1] = (char)(0x80 | (c & 0x3f));
		return 2;
	}
	if (c < 0x10000) {
		o[0] = (char)(0xe0 | c >> 12);
		o[1] = (char)(0x80 | ((c >> 6) & 0x3f));
		o[2] = (char)(0x80 | (c & 0x3f));
		return 3;
	}
	o[0] = (char)(0xf0 | c >> 18);
	o[1] = (char)(0x80 | ((c >> 12) & 0x3f));
	o[2] = (char)(0x80 | ((c >> 6) & 0x3f));
	o[3] = (char)(0x80 | (c & 0x3f));
	return 4;
}
