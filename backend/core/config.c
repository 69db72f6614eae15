/* config.c — cloudfs.conf: defaults, the INI file, -o overrides, rendering.
 *
 * One table (cfg_keys) describes every key: its section, name, kind, field
 * and default, written as the text a user would put in the file.  Defaults,
 * the file, overrides and "key =" (back to the default) all go through the
 * same setter, and rendering reads the same table, so a key exists in one
 * place only.
 *
 * inih splits `key = value` and strips comments; our own line reader sits in
 * front of it to count lines, refuse over-long ones, validate section
 * headers (inih neither reports empty sections nor keeps names longer than
 * 50 bytes) and drop leading blanks, which turns off inih's continuation
 * lines: an indented key is a key, not part of the previous value. */
#include "core/config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "core/log.h"
#include "core/util.h"

#define CFG_MAX_DURATION (3650LL * 86400) /* ten years: keeps ms arithmetic far from overflow */
#define CFG_WHY 160

enum cfg_kind {
	CK_LIST,       /* char ** + size_t: user names */
	CK_USER,       /* char *: one user name */
	CK_DUR,        /* int64_t seconds */
	CK_INT,        /* int */
	CK_SIZE,       /* uint64_t bytes */
	CK_FRACTION,   /* double 0..1, "0.5" or "50%" */
	CK_LEVEL,      /* int, enum cfs_log_level */
	CK_PATH,       /* char *: absolute path */
	CK_PROGRAM,    /* char *: a program name or path */
	CK_URL,        /* char *: http(s)://… */
	CK_REPO_URL,   /* char *: [rest:]http(s)://… */
	CK_HHMM,       /* char *: "HH:MM" */
	CK_RETENTION,  /* char *: a retention policy */
	CK_PROXIES,    /* char *: addresses or CIDRs */
};

struct cfg_key {
	const char *section;  /* "repos.*" for the rows of [repos.USER] */
	const char *key;
	enum cfg_kind kind;
	size_t off;           /* field in struct cfs_config or struct cfs_repo_attach */
	size_t off_n;         /* CK_LIST: its count */
	int64_t min, max;     /* CK_INT, CK_DUR, CK_SIZE */
	const char *def;      /* default as file text; "" = unset */
};

#define CF(f) offsetof(struct cfs_config, f)
#define AF(f) offsetof(struct cfs_repo_attach, f)

static const struct cfg_key cfg_keys[] = {
	{ "users", "superadmins", CK_LIST, CF(superadmins), CF(n_superadmins), .def = "" },
	{ "users", "provisioners", CK_LIST, CF(provisioners), CF(n_provisioners), .def = "" },
	{ "poll", "interval", CK_DUR, CF(poll_interval_s), .min = 1, .max = CFG_MAX_DURATION, .def = "5s" },
	{ "poll", "timeout", CK_DUR, CF(poll_timeout_s), .min = 1, .max = CFG_MAX_DURATION, .def = "10s" },
	{ "poll", "stale_after", CK_INT, CF(poll_stale_after), .min = 1, .max = 1000, .def = "3" },
	{ "repos", "root", CK_PATH, CF(repos_root), .def = "" },
	{ "repos", "htpasswd", CK_PATH, CF(repos_htpasswd), .def = "" },
	{ "repos", "operator_password_file", CK_PATH, CF(repos_operator_password_file), .def = "" },
	{ "repos", "owner", CK_USER, CF(repos_owner), .def = "" },
	{ "repos", "restic", CK_PROGRAM, CF(repos_restic), .def = "restic" },
	{ "repos", "url", CK_URL, CF(repos_url), .def = "http://127.0.0.1:8000" },
	{ "repos", "prune_at", CK_HHMM, CF(repos_prune_at), .def = "04:00" },
	{ "repos", "retention", CK_RETENTION, CF(repos_retention),
	  .def = "keep-last=20 keep-daily=7 keep-weekly=4 keep-monthly=6" },
	{ "repos", "bcrypt_cost", CK_INT, CF(repos_bcrypt_cost), .min = 4, .max = 31, .def = "5" },
	{ "repos", "cache_size", CK_SIZE, CF(repos_cache_size), .min = 1 << 20, .max = INT64_MAX, .def = "32M" },
	{ "repos", "refresh", CK_DUR, CF(repos_refresh_s), .min = 1, .max = CFG_MAX_DURATION, .def = "60s" },
	{ "repos", "quota_scan", CK_DUR, CF(repos_quota_scan_s), .min = 1, .max = CFG_MAX_DURATION, .def = "5m" },
	{ "repos.*", "path", CK_PATH, AF(path), .def = "" },
	{ "repos.*", "url", CK_REPO_URL, AF(url), .def = "" },
	{ "repos.*", "password_file", CK_PATH, AF(password_file), .def = "" },
	{ "mirrors", "max_delete", CK_FRACTION, CF(mirrors_max_delete_fraction), .def = "50%" },
	{ "jobs", "workers", CK_INT, CF(jobs_workers), .min = 1, .max = 256, .def = "4" },
	{ "jobs", "keep", CK_DUR, CF(jobs_keep_s), .min = 0, .max = CFG_MAX_DURATION, .def = "7d" },
	{ "peers", "trusted_proxies", CK_PROXIES, CF(peers_trusted_proxies), .def = "" },
	{ "log", "level", CK_LEVEL, CF(log_level), .def = "info" },
};

#define N_KEYS (sizeof cfg_keys / sizeof cfg_keys[0])

static const char *const cfg_levels[] = { "error", "warning", "info", "debug" };

static const char *const cfg_retention_keys[] = {
	"keep-last", "keep-hourly", "keep-daily", "keep-weekly", "keep-monthly", "keep-yearly",
	"keep-within",
};

#define LIST_SEPS " \t,"

/* ---- value checks ---------------------------------------------------- */

static bool has_ctl_or_blank(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f || *s == ' ')
			return true;
	return false;
}

/* A Unix user name as the config may name it: 1..63 bytes of
 * [A-Za-z0-9._@$-] not starting with '-', or "uid:N" for a uid without a
 * passwd entry (the name cloudfs gives such a caller). */
static bool user_name_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 63 || s[0] == '-')
		return false;
	if (strncmp(s, "uid:", 4) == 0) {
		uint64_t v;
		return cfs_parse_u64(s + 4, &v) == 0 && v <= UINT32_MAX;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (!isalnum(ch) && !strchr("._@$-", ch))
			return false;
	}
	return true;
}

static int check_http_url(const char *s, const char *what, char *why)
{
	const char *rest = NULL;
	if (strncmp(s, "http://", 7) == 0)
		rest = s + 7;
	else if (strncmp(s, "https://", 8) == 0)
		rest = s + 8;
	if (!rest || !*rest || *rest == '/' || has_ctl_or_blank(s)) {
		snprintf(why, CFG_WHY, "%s must be an http:// or https:// URL", what);
		return -EINVAL;
	}
	return 0;
}

static int check_hhmm(const char *s)
{
	if (strlen(s) != 5 || s[2] != ':')
		return -EINVAL;
	for (int i = 0; i < 5; i++)
		if (i != 2 && !isdigit((unsigned char)s[i]))
			return -EINVAL;
	int h = (s[0] - '0') * 10 + (s[1] - '0');
	int m = (s[3] - '0') * 10 + (s[4] - '0');
	return h <= 23 && m <= 59 ? 0 : -EINVAL;
}

/* "0.5", "1", "50%", "12.5%" → 0..1.  No signs, exponents, inf or nan. */
static int parse_fraction(const char *s, double *out)
{
	size_t n = strlen(s);
	bool pct = n > 0 && s[n - 1] == '%';
	if (pct)
		n--;
	int digits = 0, dots = 0;
	for (size_t i = 0; i < n; i++) {
		if (isdigit((unsigned char)s[i]))
			digits++;
		else if (s[i] == '.')
			dots++;
		else
			return -EINVAL;
	}
	if (digits == 0 || dots > 1 || n > 32)
		return -EINVAL;
	char num[40];
	memcpy(num, s, n);
	num[n] = '\0';
	double v = strtod(num, NULL);
	if (pct)
		v /= 100.0;
	if (!(v >= 0.0 && v <= 1.0))
		return -EINVAL;
	*out = v;
	return 0;
}

/* One address or CIDR of trusted_proxies. */
static bool proxy_ok(const char *tok)
{
	char addr[INET6_ADDRSTRLEN + 8];
	const char *slash = strchr(tok, '/');
	size_t n = slash ? (size_t)(slash - tok) : strlen(tok);
	if (n == 0 || n >= sizeof addr)
		return false;
	memcpy(addr, tok, n);
	addr[n] = '\0';
	unsigned char bin[16];
	int maxbits;
	if (inet_pton(AF_INET, addr, bin) == 1)
		maxbits = 32;
	else if (inet_pton(AF_INET6, addr, bin) == 1)
		maxbits = 128;
	else
		return false;
	if (!slash)
		return true;
	uint64_t bits;
	return strlen(slash + 1) <= 3 && cfs_parse_u64(slash + 1, &bits) == 0 &&
	       bits <= (uint64_t)maxbits;
}

/* Split s on blanks and commas into a NULL-terminated malloc'ed vector of
 * malloc'ed tokens.  0 or -ENOMEM. */
static int split_list(const char *s, char ***out, size_t *n_out)
{
	char *copy = strdup(s);
	char **v = NULL;
	size_t n = 0;
	int r = -ENOMEM;
	if (!copy)
		return -ENOMEM;
	char *save = NULL;
	for (char *t = strtok_r(copy, LIST_SEPS, &save); t; t = strtok_r(NULL, LIST_SEPS, &save)) {
		char **nv = realloc(v, (n + 2) * sizeof *v);
		if (!nv)
			goto fail;
		v = nv;
		if (!(v[n] = strdup(t)))
			goto fail;
		v[++n] = NULL;
	}
	free(copy);
	*out = v;
	*n_out = n;
	return 0;
fail:
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
	free(copy);
	return r;
}

static void free_list(char **v, size_t n)
{
	for (size_t i = 0; i < n && v; i++)
		free(v[i]);
	free(v);
}

static int join_list(char *const *v, size_t n, char **out)
{
	struct cfs_buf b = CFS_BUF_INIT;
	for (size_t i = 0; i < n; i++)
		if (cfs_buf_printf(&b, "%s%s", i ? " " : "", v[i])) {
			cfs_buf_free(&b);
			return -ENOMEM;
		}
	*out = cfs_buf_steal(&b);
	return *out ? 0 : -ENOMEM;
}

static int check_retention_token(const char *tok, unsigned *seen, char *why)
{
	const char *eq = strchr(tok, '=');
	size_t klen = eq ? (size_t)(eq - tok) : strlen(tok);
	size_t i;
	for (i = 0; i < sizeof cfg_retention_keys / sizeof cfg_retention_keys[0]; i++)
		if (strlen(cfg_retention_keys[i]) == klen && strncmp(tok, cfg_retention_keys[i], klen) == 0)
			break;
	if (i == sizeof cfg_retention_keys / sizeof cfg_retention_keys[0]) {
		snprintf(why, CFG_WHY, "retention: unknown key '%.*s' (keep-last, keep-hourly, "
			 "keep-daily, keep-weekly, keep-monthly, keep-yearly, keep-within)",
			 (int)(klen > 40 ? 40 : klen), tok);
		return -EINVAL;
	}
	if (*seen & (1u << i)) {
		snprintf(why, CFG_WHY, "retention: %s given twice", cfg_retention_keys[i]);
		return -EINVAL;
	}
	*seen |= 1u << i;
	const char *val = eq ? eq + 1 : "";
	uint64_t v;
	if (strcmp(cfg_retention_keys[i], "keep-within") == 0) {
		size_t n = strlen(val);
		char num[24];
		if (n < 2 || n > sizeof num || (val[n - 1] != 'h' && val[n - 1] != 'd'))
			goto bad_within;
		memcpy(num, val, n - 1);
		num[n - 1] = '\0';
		if (cfs_parse_u64(num, &v) || v == 0 ||
		    v > (uint64_t)CFG_MAX_DURATION / (val[n - 1] == 'h' ? 3600 : 86400))
			goto bad_within;
		return 0;
bad_within:
		snprintf(why, CFG_WHY, "retention: keep-within takes hours or days, like 36h or 30d");
		return -EINVAL;
	}
	if (cfs_parse_u64(val, &v) || v == 0 || v > INT_MAX) {
		snprintf(why, CFG_WHY, "retention: %s takes a positive integer", cfg_retention_keys[i]);
		return -EINVAL;
	}
	return 0;
}

static int retention_check(const char *s, char **normalized, char *why)
{
	char **tok = NULL;
	size_t n = 0;
	unsigned seen = 0;
	int r = split_list(s, &tok, &n);
	if (r) {
		snprintf(why, CFG_WHY, "out of memory");
		return r;
	}
	if (n == 0) {
		snprintf(why, CFG_WHY, "retention: empty policy");
		r = -EINVAL;
	}
	for (size_t i = 0; r == 0 && i < n; i++)
		r = check_retention_token(tok[i], &seen, why);
	if (r == 0 && normalized && (r = join_list(tok, n, normalized)))
		snprintf(why, CFG_WHY, "out of memory");
	free_list(tok, n);
	return r;
}

int cfs_config_check_retention(const char *s, char **normalized, struct cfs_err *err)
{
	char why[CFG_WHY];
	if (!s)
		return cfs_errf(err, -EINVAL, "retention: empty policy");
	int r = retention_check(s, normalized, why);
	return r ? cfs_errf(err, r, "%s", why) : 0;
}

/* ---- the setter --------------------------------------------------------- */

static int oom(char *why)
{
	snprintf(why, CFG_WHY, "out of memory");
	return -ENOMEM;
}

static int set_list(void *base, const struct cfg_key *k, const char *val, char *why)
{
	char **v = NULL;
	size_t n = 0;
	if (split_list(val, &v, &n))
		return oom(why);
	for (size_t i = 0; i < n; i++)
		if (!user_name_ok(v[i])) {
			snprintf(why, CFG_WHY, "%s: '%.64s' is not a user name", k->key, v[i]);
			free_list(v, n);
			return -EINVAL;
		}
	size_t kept = 0;   /* drop repeated names, keeping the first */
	for (size_t i = 0; i < n; i++) {
		bool dup = false;
		for (size_t j = 0; j < kept; j++)
			dup = dup || strcmp(v[j], v[i]) == 0;
		if (dup)
			free(v[i]);
		else
			v[kept++] = v[i];
	}
	if (v)
		v[kept] = NULL;
	char ***lp = (char ***)((char *)base + k->off);
	size_t *np = (size_t *)((char *)base + k->off_n);
	free_list(*lp, *np);
	*lp = v;
	*np = kept;
	return 0;
}

/* The numeric kinds. */
static int set_scalar(void *base, const struct cfg_key *k, const char *val, char *why)
{
	void *p = (char *)base + k->off;
	int64_t d;
	uint64_t v;
	switch (k->kind) {
	case CK_DUR:
		if (cfs_duration_parse(val, &d) || d < k->min || d > k->max)
			break;
		*(int64_t *)p = d;
		return 0;
	case CK_INT:
		if (cfs_parse_u64(val, &v) || v < (uint64_t)k->min || v > (uint64_t)k->max)
			break;
		*(int *)p = (int)v;
		return 0;
	case CK_SIZE:
		if (cfs_size_parse(val, &v) || v < (uint64_t)k->min || v > (uint64_t)k->max)
			break;
		*(uint64_t *)p = v;
		return 0;
	case CK_FRACTION:
		if (parse_fraction(val, (double *)p))
			break;
		return 0;
	case CK_LEVEL:
		for (int i = 0; i < 4; i++)
			if (strcasecmp(val, cfg_levels[i]) == 0) {
				*(int *)p = i;
				return 0;
			}
		break;
	default:
		break;
	}
	switch (k->kind) {
	case CK_DUR:
		snprintf(why, CFG_WHY, "%s: bad duration '%.40s' (like 30s, 5m, 12h, 7d%s)", k->key, val,
			 k->min > 0 ? "; not 0" : "");
		break;
	case CK_INT:
		snprintf(why, CFG_WHY, "%s: '%.40s' is not an integer from %lld to %lld", k->key, val,
			 (long long)k->min, (long long)k->max);
		break;
	case CK_SIZE:
		snprintf(why, CFG_WHY, "%s: bad size '%.40s' (bytes or with K, M, G; at least 1M)", k->key, val);
		break;
	case CK_FRACTION:
		snprintf(why, CFG_WHY, "%s: '%.40s' is not a fraction from 0 to 1 or a percentage", k->key, val);
		break;
	default:
		snprintf(why, CFG_WHY, "%s: '%.40s' is not one of error, warning, info, debug", k->key, val);
		break;
	}
	return -EINVAL;
}

static int check_proxies(const struct cfg_key *k, const char *val, char **out, char *why)
{
	char **v = NULL;
	size_t n = 0;
	int r = 0;
	if (split_list(val, &v, &n))
		return oom(why);
	for (size_t i = 0; i < n && r == 0; i++)
		if (!proxy_ok(v[i])) {
			snprintf(why, CFG_WHY, "%s: '%.60s' is not an IP address or CIDR", k->key, v[i]);
			r = -EINVAL;
		}
	if (r == 0 && n && join_list(v, n, out))
		r = oom(why);
	free_list(v, n);
	return r;
}

/* Check a value of a string kind; *out gets a normalized copy when the kind
 * has one.  0 or -EINVAL/-ENOMEM with why. */
static int check_string(const struct cfg_key *k, const char *val, char **out, char *why)
{
	const char *what = NULL;
	bool ctl = false;
	switch (k->kind) {
	case CK_PATH:
		/* blanks are fine in paths; control characters are not */
		for (const char *q = val; *q; q++)
			ctl = ctl || (unsigned char)*q < 0x20 || *q == 0x7f;
		if (*val && (val[0] != '/' || ctl))
			what = "an absolute path";
		break;
	case CK_USER:
		if (*val && !user_name_ok(val))
			what = "a user name";
		break;
	case CK_PROGRAM:
		if (!*val || has_ctl_or_blank(val))
			what = "a program name or path";
		break;
	case CK_URL:
		return check_http_url(val, k->key, why);
	case CK_REPO_URL:
		return *val ? check_http_url(strncmp(val, "rest:", 5) == 0 ? val + 5 : val, k->key, why) : 0;
	case CK_HHMM:
		if (check_hhmm(val))
			what = "a UTC time HH:MM";
		break;
	case CK_RETENTION:
		return retention_check(val, out, why);
	case CK_PROXIES:
		return check_proxies(k, val, out, why);
	default:
		break;
	}
	if (what) {
		snprintf(why, CFG_WHY, "%s: '%.60s' is not %s", k->key, val, what);
		return -EINVAL;
	}
	return 0;
}

static int set_string(void *base, const struct cfg_key *k, const char *val, char *why)
{
	char *s = NULL;
	int r = check_string(k, val, &s, why);
	if (r)
		return r;
	if (!s && *val) {
		if (!(s = strdup(val)))
			return oom(why);
		if (k->kind == CK_URL || k->kind == CK_REPO_URL) {
			/* the host is never empty, so this stops before "//" */
			size_t n = strlen(s);
			while (n > 0 && s[n - 1] == '/')
				s[--n] = '\0';
		}
	}
	char **field = (char **)((char *)base + k->off);
	free(*field);
	*field = s;
	return 0;
}

static bool is_string_kind(enum cfg_kind kind)
{
	return kind != CK_LIST && kind != CK_DUR && kind != CK_INT && kind != CK_SIZE &&
	       kind != CK_FRACTION && kind != CK_LEVEL;
}

/* Parse val (already trimmed) for key k and store it into base (a struct
 * cfs_config, or a struct cfs_repo_attach for "repos.*" rows).  An empty
 * value means the default.  The old value is replaced only on success.
 * 0, -EINVAL or -ENOMEM, with why filled on failure. */
static int cfg_set(void *base, const struct cfg_key *k, const char *val, char *why)
{
	if (!*val)
		val = k->def;
	if (k->kind == CK_LIST)
		return set_list(base, k, val, why);
	if (is_string_kind(k->kind))
		return set_string(base, k, val, why);
	return set_scalar(base, k, val, why);
}

/* ---- sections and keys ------------------------------------------------- */

/* Canonical section name of the text between '[' and ']' (n bytes):
 * lower-case for the fixed ones, "repos." + USER for attachments.  0 or
 * -EINVAL with why. */
static int section_check(const char *name, size_t n, char *out, size_t outsz, char *why)
{
	if (n >= 6 && strncasecmp(name, "repos.", 6) == 0) {
		char user[80];
		if (n - 6 >= sizeof user)
			goto unknown;
		memcpy(user, name + 6, n - 6);
		user[n - 6] = '\0';
		if (!cfs_name_valid(user)) {
			snprintf(why, CFG_WHY, "[repos.%.64s]: not a valid user name", user);
			return -EINVAL;
		}
		snprintf(out, outsz, "repos.%s", user);
		return 0;
	}
	for (size_t i = 0; i < N_KEYS; i++) {
		const char *s = cfg_keys[i].section;
		if (strlen(s) == n && strncasecmp(s, name, n) == 0 && !strchr(s, '*')) {
			snprintf(out, outsz, "%s", s);
			return 0;
		}
	}
unknown:
	snprintf(why, CFG_WHY, "unknown section [%.*s]", (int)(n > 60 ? 60 : n), name);
	return -EINVAL;
}

struct cfg_ctx {
	struct cfs_config *c;
	char **attach_loc;     /* where each attachment was last set, for late errors */
	const char *file;
	FILE *f;
	char *line;            /* getline buffer */
	size_t cap;
	int lineno;
	char section[96];      /* canonical current section, "" before the first */
	int code;              /* first error, 0 if none */
	int err_line;
	char msg[sizeof ((struct cfs_err *)0)->msg];
};

static void ctx_fail(struct cfg_ctx *x, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void ctx_fail(struct cfg_ctx *x, int code, const char *fmt, ...)
{
	if (x->code)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(x->msg, sizeof x->msg, fmt, ap);
	va_end(ap);
	x->code = code;
	x->err_line = x->lineno;
}

static int attach_get(struct cfg_ctx *x, const char *user, size_t *idx)
{
	struct cfs_config *c = x->c;
	for (size_t i = 0; i < c->n_attached; i++)
		if (strcmp(c->attached[i].user, user) == 0) {
			*idx = i;
			return 0;
		}
	struct cfs_repo_attach *na = realloc(c->attached, (c->n_attached + 1) * sizeof *na);
	if (!na)
		return -ENOMEM;
	c->attached = na;
	char **nl = realloc(x->attach_loc, (c->n_attached + 1) * sizeof *nl);
	if (!nl)
		return -ENOMEM;
	x->attach_loc = nl;
	nl[c->n_attached] = NULL;
	na[c->n_attached] = (struct cfs_repo_attach){ .user = strdup(user) };
	if (!na[c->n_attached].user)
		return -ENOMEM;
	*idx = c->n_attached++;
	return 0;
}

/* Set section.key = val; loc says where, for errors found later. */
static int cfg_apply(struct cfg_ctx *x, const char *section, const char *key, const char *val,
		     const char *loc, char *why)
{
	bool attach = strncmp(section, "repos.", 6) == 0;
	if (!*section) {
		snprintf(why, CFG_WHY, "key '%.60s' outside any section", key);
		return -EINVAL;
	}
	const struct cfg_key *k = NULL;
	for (size_t i = 0; i < N_KEYS && !k; i++)
		if (strcmp(cfg_keys[i].section, attach ? "repos.*" : section) == 0 &&
		    strcasecmp(cfg_keys[i].key, key) == 0)
			k = &cfg_keys[i];
	if (!k) {
		snprintf(why, CFG_WHY, "unknown key '%.60s' in [%s]", key, attach ? "repos.USER" : section);
		return -EINVAL;
	}
	/* In the file a blank and ';' start a comment; refuse the pair in an
	 * option too, so that every value renders back as itself. */
	if (strstr(val, " ;") || strstr(val, "\t;")) {
		snprintf(why, CFG_WHY, "%s: a blank followed by ';' starts a comment", k->key);
		return -EINVAL;
	}
	if (!attach)
		return cfg_set(x->c, k, val, why);

	size_t idx;
	int r = attach_get(x, section + 6, &idx);
	if (r == 0)
		r = cfg_set(&x->c->attached[idx], k, val, why);
	if (r == 0) {
		char *l = strdup(loc);
		if (!l)
			r = -ENOMEM;
		else {
			free(x->attach_loc[idx]);
			x->attach_loc[idx] = l;
		}
	}
	if (r == -ENOMEM)
		snprintf(why, CFG_WHY, "out of memory");
	return r;
}

/* ---- the file ------------------------------------------------------------ */

/* fgets-like reader in front of inih; see the top of the file. */
static char *cfg_reader(char *str, int num, void *stream)
{
	struct cfg_ctx *x = stream;
	char why[CFG_WHY];
	if (x->code)
		return NULL;   /* stop at our first error */
	errno = 0;
	ssize_t got = getline(&x->line, &x->cap, x->f);
	if (got < 0) {
		if (ferror(x->f))
			ctx_fail(x, -EIO, "%s: read error: %s", x->file, strerror(errno ? errno : EIO));
		return NULL;
	}
	x->lineno++;
	size_t len = (size_t)got;
	char *p = x->line;
	if (len && p[len - 1] == '\n')
		len--;
	if (len && p[len - 1] == '\r')
		len--;
	p[len] = '\0';
	if (len > CFS_CONFIG_MAX_LINE || len + 3 > (size_t)num) {
		ctx_fail(x, -EINVAL, "%s:%d: line longer than %d bytes", x->file, x->lineno,
			 CFS_CONFIG_MAX_LINE);
		return NULL;
	}
	if (strlen(p) != len) {
		ctx_fail(x, -EINVAL, "%s:%d: NUL byte in line", x->file, x->lineno);
		return NULL;
	}
	if (x->lineno == 1 && strncmp(p, "\xEF\xBB\xBF", 3) == 0)
		p += 3;
	while (*p == ' ' || *p == '\t')
		p++;
	if (*p == '[') {
		const char *end = strchr(p, ']');
		const char *rest = end ? end + 1 : NULL;
		while (rest && (*rest == ' ' || *rest == '\t'))
			rest++;
		if (!end || (*rest && *rest != ';' && *rest != '#')) {
			ctx_fail(x, -EINVAL, "%s:%d: bad section header (want [name])", x->file, x->lineno);
			return NULL;
		}
		if (section_check(p + 1, (size_t)(end - p - 1), x->section, sizeof x->section, why)) {
			ctx_fail(x, -EINVAL, "%s:%d: %s", x->file, x->lineno, why);
			return NULL;
		}
	}
	size_t n = strlen(p);
	memcpy(str, p, n);
	str[n] = '\n';
	str[n + 1] = '\0';
	return str;
}

static int cfg_handler(void *user, const char *section, const char *name, const char *value)
{
	struct cfg_ctx *x = user;
	char why[CFG_WHY], loc[CFG_WHY];
	(void)section;   /* inih's copy is cut at 50 bytes; ours is whole */
	if (x->code)
		return 1;
	if (!value) {
		ctx_fail(x, -EINVAL, "%s:%d: expected 'key = value'", x->file, x->lineno);
		return 0;
	}
	snprintf(loc, sizeof loc, "%s:%d", x->file, x->lineno);
	int r = cfg_apply(x, x->section, name, value, loc, why);
	if (r) {
		ctx_fail(x, r, "%s: %s", loc, why);
		return 0;
	}
	return 1;
}

/* inih reads lines into a buffer of ini_max_line bytes (a run-time knob in
 * the packaged library, 200 by default); we accept CFS_CONFIG_MAX_LINE. */
static void raise_max_line(void)
{
	if (ini_max_line < CFS_CONFIG_MAX_LINE + 3)
		ini_max_line = CFS_CONFIG_MAX_LINE + 3;
}

static int load_file(struct cfg_ctx *x, const char *path)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, raise_max_line);

	x->file = path;
	x->f = fopen(path, "re");
	if (!x->f) {
		int e = errno;
		if (e == ENOENT) {
			log_debug("config %s: no such file, using defaults", path);
			return 0;
		}
		ctx_fail(x, -e, "%s: %s", path, strerror(e));
		return -e;
	}
	struct stat st;
	if (fstat(fileno(x->f), &st) == 0 && S_ISDIR(st.st_mode)) {
		ctx_fail(x, -EISDIR, "%s: is a directory", path);
		return -EISDIR;
	}
	int r = ini_parse_stream(cfg_reader, x, cfg_handler, x);
	if (r > 0 && (!x->code || r < x->err_line)) {
		x->code = 0;
		x->lineno = r;
		ctx_fail(x, -EINVAL, "%s:%d: expected 'key = value' or '[section]'", path, r);
	} else if (r < 0 && !x->code) {
		ctx_fail(x, -ENOMEM, "%s: out of memory", path);
	}
	return x->code;
}

static int apply_override(struct cfg_ctx *x, const char *opt)
{
	char why[CFG_WHY], loc[CFG_WHY], name[128], section[96];
	snprintf(loc, sizeof loc, "option %.100s", opt);
	const char *eq = strchr(opt, '=');
	size_t n = eq ? (size_t)(eq - opt) : 0;
	const char *dot = NULL;
	if (eq && n < sizeof name) {
		memcpy(name, opt, n);
		name[n] = '\0';
		dot = strrchr(name, '.');
	}
	if (!dot || dot == name || !dot[1]) {
		ctx_fail(x, -EINVAL, "%s: expected SECTION.KEY=VALUE", loc);
		return -EINVAL;
	}
	if (section_check(name, (size_t)(dot - name), section, sizeof section, why)) {
		ctx_fail(x, -EINVAL, "%s: %s", loc, why);
		return -EINVAL;
	}
	/* Trim the value as inih trims file values. */
	const char *v = eq + 1;
	while (*v == ' ' || *v == '\t')
		v++;
	char *val = strdup(v);
	if (!val) {
		ctx_fail(x, -ENOMEM, "%s: out of memory", loc);
		return -ENOMEM;
	}
	size_t vl = strlen(val);
	while (vl && (val[vl - 1] == ' ' || val[vl - 1] == '\t'))
		val[--vl] = '\0';
	int r = cfg_apply(x, section, dot + 1, val, loc, why);
	free(val);
	if (r)
		ctx_fail(x, r, "%s: %s", loc, why);
	return r;
}

static int check_attachments(struct cfg_ctx *x)
{
	for (size_t i = 0; i < x->c->n_attached; i++) {
		const struct cfs_repo_attach *a = &x->c->attached[i];
		const char *loc = x->attach_loc[i] ? x->attach_loc[i] : "config";
		if (a->path && a->url) {
			ctx_fail(x, -EINVAL, "%s: [repos.%s] takes path or url, not both", loc, a->user);
			return -EINVAL;
		}
		if (!a->path && !a->url) {
			ctx_fail(x, -EINVAL, "%s: [repos.%s] needs path or url", loc, a->user);
			return -EINVAL;
		}
	}
	return 0;
}

/* ---- public ---------------------------------------------------------------- */

int cfs_config_defaults(struct cfs_config *c)
{
	char why[CFG_WHY];
	*c = (struct cfs_config){ 0 };
	for (size_t i = 0; i < N_KEYS; i++) {
		if (strchr(cfg_keys[i].section, '*'))
			continue;
		int r = cfg_set(c, &cfg_keys[i], "", why);
		if (r) {
			cfs_config_free(c);
			return r;
		}
	}
	return 0;
}

int cfs_config_load(const char *path, const char *const *overrides, size_t n_overrides,
		    struct cfs_config *c, struct cfs_err *err)
{
	struct cfs_config tmp;
	struct cfg_ctx x = { .c = &tmp };
	int r;

	cfs_err_clear(err);
	*c = (struct cfs_config){ 0 };
	if ((r = cfs_config_defaults(&tmp)))
		return cfs_errf(err, r, "out of memory");
	if (path)
		r = load_file(&x, path);
	for (size_t i = 0; r == 0 && i < n_overrides; i++)
		r = apply_override(&x, overrides[i]);
	if (r == 0)
		r = check_attachments(&x);

	if (x.f)
		fclose(x.f);
	free(x.line);
	for (size_t i = 0; i < tmp.n_attached; i++)
		free(x.attach_loc[i]);
	free(x.attach_loc);
	if (r) {
		cfs_config_free(&tmp);
		return cfs_errf(err, r, "%s", x.msg);
	}
	*c = tmp;
	return 0;
}

void cfs_config_free(struct cfs_config *c)
{
	if (!c)
		return;
	free_list(c->superadmins, c->n_superadmins);
	free_list(c->provisioners, c->n_provisioners);
	for (size_t i = 0; i < N_KEYS; i++) {
		const struct cfg_key *k = &cfg_keys[i];
		if (!strchr(k->section, '*') && is_string_kind(k->kind))
			free(*(char **)((char *)c + k->off));
	}
	for (size_t i = 0; i < c->n_attached; i++) {
		free(c->attached[i].user);
		free(c->attached[i].path);
		free(c->attached[i].url);
		free(c->attached[i].password_file);
	}
	free(c->attached);
	*c = (struct cfs_config){ 0 };
}

/* ---- rendering --------------------------------------------------------------- */

static int render_duration(struct cfs_buf *out, int64_t s)
{
	if (s != 0 && s % 86400 == 0)
		return cfs_buf_printf(out, "%lldd", (long long)(s / 86400));
	if (s != 0 && s % 3600 == 0)
		return cfs_buf_printf(out, "%lldh", (long long)(s / 3600));
	if (s != 0 && s % 60 == 0)
		return cfs_buf_printf(out, "%lldm", (long long)(s / 60));
	return cfs_buf_printf(out, "%llds", (long long)s);
}

static int render_size(struct cfs_buf *out, uint64_t v)
{
	static const char units[] = "TGMK";
	for (int i = 0; i < 4; i++) {
		uint64_t m = 1ULL << (10 * (4 - i));
		if (v != 0 && v % m == 0)
			return cfs_buf_printf(out, "%llu%c", (unsigned long long)(v / m), units[i]);
	}
	return cfs_buf_printf(out, "%llu", (unsigned long long)v);
}

static int render_value(struct cfs_buf *out, const void *base, const struct cfg_key *k)
{
	const char *p = (const char *)base + k->off;
	switch (k->kind) {
	case CK_LIST: {
		char *const *v = *(char *const *const *)p;
		size_t n = *(const size_t *)((const char *)base + k->off_n);
		int r = 0;
		for (size_t i = 0; i < n && r == 0; i++)
			r = cfs_buf_printf(out, "%s%s", i ? " " : "", v[i]);
		return r;
	}
	case CK_DUR:
		return render_duration(out, *(const int64_t *)p);
	case CK_INT:
		return cfs_buf_printf(out, "%d", *(const int *)p);
	case CK_SIZE:
		return render_size(out, *(const uint64_t *)p);
	case CK_FRACTION:
		return cfs_buf_printf(out, "%.10g%%", *(const double *)p * 100.0);
	case CK_LEVEL: {
		int l = *(const int *)p;
		return cfs_buf_puts(out, l >= 0 && l < 4 ? cfg_levels[l] : "info");
	}
	default: {
		const char *s = *(const char *const *)p;
		return cfs_buf_puts(out, s ? s : "");
	}
	}
}

static int render_row(struct cfs_buf *out, const void *base, const struct cfg_key *k)
{
	struct cfs_buf v = CFS_BUF_INIT;
	int r = render_value(&v, base, k);
	if (r == 0)
		r = cfs_buf_printf(out, "%s =%s%s\n", k->key, v.len ? " " : "", v.len ? v.data : "");
	cfs_buf_free(&v);
	return r;
}

static int render_attachments(const struct cfs_config *c, struct cfs_buf *out)
{
	int r = 0;
	for (size_t i = 0; i < c->n_attached && r == 0; i++) {
		const struct cfs_repo_attach *a = &c->attached[i];
		r = cfs_buf_printf(out, "\n[repos.%s]\n", a->user);
		for (size_t j = 0; j < N_KEYS && r == 0; j++) {
			const struct cfg_key *k = &cfg_keys[j];
			if (strcmp(k->section, "repos.*") == 0 && *(char *const *)((const char *)a + k->off))
				r = render_row(out, a, k);
		}
	}
	return r;
}

int cfs_config_render(const struct cfs_config *c, struct cfs_buf *out)
{
	const char *cur = NULL;
	int r = cfs_buf_puts(out, "# cloudfs.conf: the effective configuration.\n"
			      "# An empty value means the built-in default.\n");
	for (size_t i = 0; i < N_KEYS && r == 0; i++) {
		const struct cfg_key *k = &cfg_keys[i];
		if (strchr(k->section, '*'))
			continue;
		if (!cur || strcmp(cur, k->section) != 0) {
			if (cur && strcmp(cur, "repos") == 0)
				r = render_attachments(c, out);
			if (r == 0)
				r = cfs_buf_printf(out, "\n[%s]\n", k->section);
			cur = k->section;
		}
		if (r == 0)
			r = render_row(out, c, k);
	}
	return r;
}
