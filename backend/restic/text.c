/* text.c — the textual bits of restic's JSON: hex ids, Go RFC 3339 times
 * and node names, which restic passes through Go's strconv.Quote (minus the
 * outer quotes) before JSON encoding them. */
#include "restic/rr_int.h"

#include "core/jscan.h"
#include "core/util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int rr_id_parse(const char *hex, uint8_t id[RR_ID_LEN])
{
	if (!hex)
		return -EINVAL;
	for (int i = 0; i < RR_ID_LEN; i++) {
		int a = cfs_hexval((unsigned char)hex[2 * i]);
		if (a < 0 || hex[2 * i] > 'f' || (hex[2 * i] >= 'A' && hex[2 * i] <= 'F'))
			return -EINVAL;
		int b = cfs_hexval((unsigned char)hex[2 * i + 1]);
		if (b < 0 || (hex[2 * i + 1] >= 'A' && hex[2 * i + 1] <= 'F'))
			return -EINVAL;
		id[i] = (uint8_t)(a << 4 | b);
	}
	return hex[64] == '\0' ? 0 : -EINVAL;
}

void rr_id_hex(const uint8_t id[RR_ID_LEN], char out[RR_HEX_LEN])
{
	static const char d[] = "0123456789abcdef";
	for (int i = 0; i < RR_ID_LEN; i++) {
		out[2 * i] = d[id[i] >> 4];
		out[2 * i + 1] = d[id[i] & 15];
	}
	out[64] = '\0';
}

/* Days since 1970-01-01 of a proleptic Gregorian date (any year). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static int digits(const char **p, int n, int *out)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		char c = (*p)[i];
		if (c < '0' || c > '9')
			return -EINVAL;
		v = v * 10 + (c - '0');
	}
	*p += n;
	*out = v;
	return 0;
}

static int expect(const char **p, char c)
{
	if (**p != c)
		return -EINVAL;
	(*p)++;
	return 0;
}

int rr_gotime_parse(const char *s, struct timespec *ts)
{
	static const unsigned mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	int Y, M, D, h, m, sec, oh = 0, om = 0, sign = 0;
	long nsec = 0;
	const char *p = s;
	if (!s || digits(&p, 4, &Y) || expect(&p, '-') || digits(&p, 2, &M) || expect(&p, '-') ||
	    digits(&p, 2, &D) || expect(&p, 'T') || digits(&p, 2, &h) || expect(&p, ':') ||
	    digits(&p, 2, &m) || expect(&p, ':') || digits(&p, 2, &sec))
		return -EINVAL;
	if (*p == '.') {
		p++;
		int nd = 0;
		while (*p >= '0' && *p <= '9') {
			if (nd == 9)
				return -EINVAL;
			nsec = nsec * 10 + (*p++ - '0');
			nd++;
		}
		if (nd == 0)
			return -EINVAL;
		for (; nd < 9; nd++)
			nsec *= 10;
	}
	if (*p == 'Z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		sign = *p++ == '-' ? -1 : 1;
		if (digits(&p, 2, &oh) || expect(&p, ':') || digits(&p, 2, &om) || oh > 23 || om > 59)
			return -EINVAL;
	} else {
		return -EINVAL;
	}
	if (*p || M < 1 || M > 12 || D < 1 || (unsigned)D > mdays[M - 1] || h > 23 || m > 59 ||
	    sec > 59)
		return -EINVAL;
	bool leap = (Y % 4 == 0 && Y % 100 != 0) || Y % 400 == 0;
	if (M == 2 && D == 29 && !leap)
		return -EINVAL;
	int64_t t = days_from_civil(Y, (unsigned)M, (unsigned)D) * 86400 + h * 3600 + m * 60 + sec;
	t -= (int64_t)sign * (oh * 3600 + om * 60);
	ts->tv_sec = (time_t)t;
	ts->tv_nsec = nsec;
	return 0;
}

static int hexrun(const char *in, size_t n, uint32_t *out)
{
	uint32_t v = 0;
	for (size_t i = 0; i < n; i++) {
		int d = cfs_hexval((unsigned char)in[i]);
		if (d < 0)
			return -EINVAL;
		v = v << 4 | (uint32_t)d;
	}
	*out = v;
	return 0;
}

int rr_name_unquote(const char *in, size_t inlen, char **out, size_t *outlen)
{
	/* every escape shrinks or keeps the length (\u → at most 3 bytes of 6) */
	char *o = malloc(inlen + 1);
	size_t k = 0, i = 0;
	if (!o)
		return -ENOMEM;
	while (i < inlen) {
		unsigned char c = (unsigned char)in[i];
		if (c != '\\') {
			o[k++] = (char)c;
			i++;
			continue;
		}
		if (++i >= inlen)
			goto bad;
		char e = in[i++];
		uint32_t v;
		switch (e) {
		case 'a': o[k++] = '\a'; break;
		case 'b': o[k++] = '\b'; break;
		case 'f': o[k++] = '\f'; break;
		case 'n': o[k++] = '\n'; break;
		case 'r': o[k++] = '\r'; break;
		case 't': o[k++] = '\t'; break;
		case 'v': o[k++] = '\v'; break;
		case '\\': o[k++] = '\\'; break;
		case '"': o[k++] = '"'; break;
		case '\'': o[k++] = '\''; break;
		case 'x':
			if (i + 2 > inlen || hexrun(in + i, 2, &v))
				goto bad;
			o[k++] = (char)v;
			i += 2;
			break;
		case 'u':
		case 'U': {
			size_t n = e == 'u' ? 4 : 8;
			if (i + n > inlen || hexrun(in + i, n, &v) || v > 0x10ffff ||
			    (v >= 0xd800 && v <= 0xdfff))
				goto bad;
			k += cfs_utf8_put(v, o + k);
			i += n;
			break;
		}
		case '0': case '1': case '2': case '3':
		case '4': case '5': case '6': case '7':
			if (i + 2 > inlen)
				goto bad;
			v = (uint32_t)(e - '0');
			for (int j = 0; j < 2; j++) {
				char d = in[i + (size_t)j];
				if (d < '0' || d > '7')
					goto bad;
				v = v * 8 + (uint32_t)(d - '0');
			}
			if (v > 255)
				goto bad;
			o[k++] = (char)v;
			i += 2;
			break;
		default:
			goto bad;
		}
	}
	o[k] = '\0';
	*out = o;
	*outlen = k;
	return 0;
bad:
	free(o);
	return -EINVAL;
}
