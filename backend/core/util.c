#include "core/util.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

int64_t cfs_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t cfs_mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void cfs_cond_init_mono(pthread_cond_t *c)
{
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(c, &ca);
	pthread_condattr_destroy(&ca);
}

void cfs_time_in(clockid_t clk, int64_t ms, struct timespec *out)
{
	clock_gettime(clk, out);
	out->tv_sec += (time_t)(ms / 1000);
	out->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (out->tv_nsec >= 1000000000L) {
		out->tv_sec++;
		out->tv_nsec -= 1000000000L;
	}
}

void cfs_time_iso(int64_t epoch_s, char out[32])
{
	time_t t = (time_t)epoch_s;
	struct tm tm;
	if (!gmtime_r(&t, &tm)) {
		snprintf(out, 32, "invalid");
		return;
	}
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int unit_seconds(char u, int64_t *mul)
{
	switch (u) {
	case 's': *mul = 1; return 0;
	case 'm': *mul = 60; return 0;
	case 'h': *mul = 3600; return 0;
	case 'd': *mul = 86400; return 0;
	case 'w': *mul = 7 * 86400; return 0;
	default: return -EINVAL;
	}
}

int cfs_parse_u64(const char *s, uint64_t *out)
{
	if (!s || !*s)
		return -EINVAL;
	uint64_t v = 0;
	for (const char *p = s; *p; p++) {
		if (*p < '0' || *p > '9')
			return -EINVAL;
		unsigned d = (unsigned)(*p - '0');
		if (v > (UINT64_C(0x7fffffffffffffff) - d) / 10)
			return -EINVAL;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

int cfs_duration_parse(const char *s, int64_t *out_s)
{
	if (!s || !*s)
		return -EINVAL;
	size_t n = strlen(s);
	char num[24];
	int64_t mul = 1;
	if (!isdigit((unsigned char)s[n - 1])) {
		if (unit_seconds(s[n - 1], &mul))
			return -EINVAL;
		n--;
	}
	if (n == 0 || n >= sizeof num)
		return -EINVAL;
	memcpy(num, s, n);
	num[n] = '\0';
	uint64_t v;
	if (cfs_parse_u64(num, &v) || v > (uint64_t)INT64_MAX / (uint64_t)mul)
		return -EINVAL;
	*out_s = (int64_t)v * mul;
	return 0;
}

int cfs_size_parse(const char *s, uint64_t *out)
{
	if (!s || !*s)
		return -EINVAL;
	size_t n = strlen(s);
	uint64_t mul = 1;
	char u = (char)toupper((unsigned char)s[n - 1]);
	if (u == 'B' && n > 1) {
		n--;
		u = (char)toupper((unsigned char)s[n - 1]);
	}
	switch (u) {
	case 'K': mul = 1ULL << 10; n--; break;
	case 'M': mul = 1ULL << 20; n--; break;
	case 'G': mul = 1ULL << 30; n--; break;
	case 'T': mul = 1ULL << 40; n--; break;
	default: break;
	}
	char num[24];
	if (n == 0 || n >= sizeof num)
		return -EINVAL;
	memcpy(num, s, n);
	num[n] = '\0';
	uint64_t v;
	if (cfs_parse_u64(num, &v) || v > UINT64_MAX / mul)
		return -EINVAL;
	*out = v * mul;
	return 0;
}

static int digits(const char *p, int n, int *out)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -EINVAL;
		v = v * 10 + (p[i] - '0');
	}
	*out = v;
	return 0;
}

int cfs_time_parse(const char *s, int64_t now_s, int64_t *out_s)
{
	if (!s || !*s)
		return -EINVAL;
	if (s[0] == '+') {
		int64_t d;
		if (cfs_duration_parse(s + 1, &d))
			return -EINVAL;
		*out_s = now_s + d;
		return 0;
	}
	struct tm tm = { 0 };
	int y, mo, d, h = 0, mi = 0, sec = 0;
	size_t n = strlen(s);
	if (n < 10 || digits(s, 4, &y) || s[4] != '-' || digits(s + 5, 2, &mo) ||
	    s[7] != '-' || digits(s + 8, 2, &d))
		return -EINVAL;
	const char *p = s + 10;
	int64_t off = 0;
	if (*p == 'T' || *p == 't' || *p == ' ') {
		p++;
		if (digits(p, 2, &h) || p[2] != ':' || digits(p + 3, 2, &mi))
			return -EINVAL;
		p += 5;
		if (*p == ':') {
			if (digits(p + 1, 2, &sec))
				return -EINVAL;
			p += 3;
			if (*p == '.' || *p == ',') {
				p++;
				if (!isdigit((unsigned char)*p))
					return -EINVAL;
				while (isdigit((unsigned char)*p))
					p++;
			}
		}
		if (*p == 'Z' || *p == 'z') {
			p++;
		} else if (*p == '+' || *p == '-') {
			int oh, om;
			int sign = *p == '-' ? -1 : 1;
			if (digits(p + 1, 2, &oh) || p[3] != ':' || digits(p + 4, 2, &om) || oh > 23 || om > 59)
				return -EINVAL;
			off = sign * (oh * 3600 + om * 60);
			p += 6;
		} else {
			return -EINVAL; /* a time of day must say its zone */
		}
	}
	if (*p)
		return -EINVAL;
	if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
		return -EINVAL;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	time_t t = timegm(&tm);
	struct tm chk;
	gmtime_r(&t, &chk);
	if (chk.tm_mday != d || chk.tm_mon != mo - 1) /* 2026-02-31 */
		return -EINVAL;
	*out_s = (int64_t)t - off;
	return 0;
}

void cfs_hex(const void *data, size_t n, char *out)
{
	static const char hx[] = "0123456789abcdef";
	const unsigned char *p = data;
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hx[p[i] >> 4];
		out[2 * i + 1] = hx[p[i] & 15];
	}
	out[2 * n] = '\0';
}

int cfs_hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int cfs_unhex(const char *hex, void *out, size_t n)
{
	if (!hex || strlen(hex) != 2 * n)
		return -EINVAL;
	unsigned char *o = out;
	for (size_t i = 0; i < n; i++) {
		int a = cfs_hexval((unsigned char)hex[2 * i]);
		int b = cfs_hexval((unsigned char)hex[2 * i + 1]);
		if (a < 0 || b < 0)
			return -EINVAL;
		o[i] = (unsigned char)(a << 4 | b);
	}
	return 0;
}

int cfs_random(void *out, size_t n)
{
	unsigned char *p = out;
	while (n) {
		ssize_t r = getrandom(p, n, 0);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -EIO;
		}
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

int cfs_uuid(char out[37])
{
	unsigned char b[16];
	int r = cfs_random(b, sizeof b);
	if (r)
		return r;
	b[6] = (b[6] & 0x0f) | 0x40;
	b[8] = (b[8] & 0x3f) | 0x80;
	snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		 b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12],
		 b[13], b[14], b[15]);
	return 0;
}

bool cfs_name_valid(const char *s)
{
	size_t n = s ? strlen(s) : 0;
	if (n == 0 || n > 64 || s[0] == '.' || s[0] == '-')
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (!isalnum(c) && c != '.' && c != '_' && c != '-')
			return false;
	}
	return true;
}

static int b64_val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

int cfs_b64_decode(const char *s, uint8_t **out, size_t *outlen)
{
	size_t n = strlen(s);
	if (n % 4)
		return -EINVAL;
	uint8_t *o = malloc(n / 4 * 3 + 1);
	if (!o)
		return -ENOMEM;
	size_t k = 0;
	for (size_t i = 0; i < n; i += 4) {
		int v[4], pad = 0;
		for (int j = 0; j < 4; j++) {
			unsigned char c = (unsigned char)s[i + j];
			if (c == '=' && i + 4 == n && j >= 2) {
				v[j] = 0;
				pad++;
				continue;
			}
			if (pad || (v[j] = b64_val(c)) < 0)
				goto bad;
		}
		uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 |
			     (uint32_t)v[3];
		o[k++] = (uint8_t)(w >> 16);
		if (pad < 2)
			o[k++] = (uint8_t)(w >> 8);
		if (pad < 1)
			o[k++] = (uint8_t)w;
	}
	o[k] = 0;
	*out = o;
	*outlen = k;
	return 0;
bad:
	free(o);
	return -EINVAL;
}

/* write (off < 0) or pwrite at off until all of it is written */
static int write_all(int fd, const char *p, size_t n, int64_t off)
{
	while (n) {
		ssize_t w = off < 0 ? write(fd, p, n) : pwrite(fd, p, n, (off_t)off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return w < 0 ? -errno : -EIO;
		p += w;
		n -= (size_t)w;
		if (off >= 0)
			off += w;
	}
	return 0;
}

int cfs_write_full(int fd, const void *data, size_t n)
{
	return write_all(fd, data, n, -1);
}

int cfs_pwrite_full(int fd, const void *data, size_t n, uint64_t off)
{
	return off > INT64_MAX ? -EFBIG : write_all(fd, data, n, (int64_t)off);
}
