/* policy.c — value rules of the repos module, free of any engine state so the
 * unit tests and the fuzz target can take them alone. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "repos/repos.h"

int repos_user_check(const char *s, struct cfs_err *err)
{
	size_t n = strlen(s);
	if (n == 0)
		return cfs_errf(err, -EINVAL, "USER must not be empty");
	if (n > REPOS_USER_MAX)
		return cfs_errf(err, -EINVAL, "USER must be at most %d bytes", REPOS_USER_MAX);
	if (s[0] == '.' || s[0] == '-')
		return cfs_errf(err, -EINVAL, "USER must not start with '.' or '-'");
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];
		bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
			  (ch >= '0' && ch <= '9') || ch == '@' || ch == '.' || ch == '_' || ch == '-';
		if (!ok)
			return cfs_errf(err, -EINVAL,
					"USER may hold only letters, digits and @ . _ - (ASCII)");
	}
	return 0;
}

int repos_quota_parse(const char *s, size_t len, bool *limited, uint64_t *bytes,
		      struct cfs_err *err)
{
	while (len && (s[len - 1] == '\n' || s[len - 1] == ' ' || s[len - 1] == '\t' ||
		       s[len - 1] == '\r'))
		len--;
	while (len && (*s == ' ' || *s == '\t')) {
		s++;
		len--;
	}
	char v[32];
	if (len == 0 || len >= sizeof v || memchr(s, '\0', len))
		return cfs_errf(err, -EINVAL, "quota must be bytes (K, M, G, T suffixes) or max");
	memcpy(v, s, len);
	v[len] = '\0';
	if (strcmp(v, "max") == 0) {
		*limited = false;
		*bytes = 0;
		return 0;
	}
	uint64_t b;
	if (cfs_size_parse(v, &b) || b > (uint64_t)INT64_MAX)
		return cfs_errf(err, -EINVAL, "quota must be bytes (K, M, G, T suffixes) or max");
	*limited = true;
	*bytes = b;
	return 0;
}

void repos_quota_format(bool limited, uint64_t bytes, char out[32])
{
	if (limited)
		snprintf(out, 32, "%llu", (unsigned long long)bytes);
	else
		snprintf(out, 32, "max");
}

static const char *const keep_keys[] = {
	"keep-last", "keep-hourly", "keep-daily", "keep-weekly", "keep-monthly", "keep-yearly",
	"keep-within",
};

/* A count (1..9 digits, not 0) or, for keep-within, a count of h or d. */
static bool keep_value_ok(const char *key, const char *v)
{
	size_t n = strlen(v);
	bool within = strcmp(key, "keep-within") == 0;
	if (within) {
		if (n < 2 || (v[n - 1] != 'h' && v[n - 1] != 'd'))
			return false;
		n--;
	}
	if (n == 0 || n > 9 || v[0] == '0')
		return false;
	for (size_t i = 0; i < n; i++)
		if (v[i] < '0' || v[i] > '9')
			return false;
	return true;
}

int repos_retention_argv(const char *policy, char *store, size_t store_len, const char **argv,
			 int max)
{
	/* store holds "--" + key and the value of each token, NUL-separated */
	char *w = store;
	int n = 0;
	bool seen[sizeof keep_keys / sizeof keep_keys[0]] = { false };
	const char *p = policy;
	while (*p) {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (!*p)
			break;
		const char *tok = p;
		while (*p && *p != ' ' && *p != '\t' && *p != ',')
			p++;
		size_t tlen = (size_t)(p - tok);
		const char *eq = memchr(tok, '=', tlen);
		if (!eq)
			return -EINVAL;
		size_t klen = (size_t)(eq - tok);
		int k = -1;
		for (size_t i = 0; i < sizeof keep_keys / sizeof keep_keys[0]; i++)
			if (strlen(keep_keys[i]) == klen && memcmp(keep_keys[i], tok, klen) == 0)
				k = (int)i;
		if (k < 0 || seen[k] || n + 2 > max)
			return -EINVAL;
		seen[k] = true;
		size_t vlen = tlen - klen - 1;
		size_t need = 2 + klen + 1 + vlen + 1;
		if ((size_t)(w - store) + need > store_len)
			return -EINVAL;
		argv[n] = w;
		w += sprintf(w, "--%s", keep_keys[k]) + 1;
		argv[n + 1] = w;
		memcpy(w, eq + 1, vlen);
		w[vlen] = '\0';
		w += vlen + 1;
		if (!keep_value_ok(keep_keys[k], argv[n + 1]))
			return -EINVAL;
		n += 2;
	}
	return n ? n : -EINVAL;
}

int repos_client_url(const char *base, const char *user, const char *password, char *out,
		     size_t len)
{
	const char *scheme_end = strstr(base, "://");
	if (!scheme_end || (strncmp(base, "http://", 7) != 0 && strncmp(base, "https://", 8) != 0))
		return -EINVAL;
	const char *rest = scheme_end + 3;
	size_t rlen = strlen(rest);
	while (rlen && rest[rlen - 1] == '/')
		rlen--;
	char enc[3 * REPOS_USER_MAX + 1];
	size_t e = 0;
	for (const char *u = user; *u && e + 4 < sizeof enc; u++) {
		if (*u == '@' || *u == ':' || *u == '%')
			e += (size_t)snprintf(enc + e, sizeof enc - e, "%%%02X", (unsigned char)*u);
		else
			enc[e++] = *u;
	}
	enc[e] = '\0';
	int n = snprintf(out, len, "rest:%.*s%s:%s@%.*s/%s/", (int)(rest - base), base, enc, password,
			 (int)rlen, rest, user);
	if (n < 0 || (size_t)n >= len)
		return -ENAMETOOLONG;
	return 0;
}

int64_t repos_slot_before(int64_t now, int hh, int mm)
{
	int64_t day = now - (((now % 86400) + 86400) % 86400);
	int64_t s = day + hh * 3600 + mm * 60;
	return s > now ? s - 86400 : s;
}
