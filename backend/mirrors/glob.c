/* glob.c — exclude patterns with .gitignore semantics (DESIGN.md section 2).
 *
 *   *        any run of characters except '/'
 *   ?        one character except '/'
 *   [a-z]    a class ([!…] or [^…] negated); never matches '/'
 *   \x       x literally
 *   **       as a whole component (between slashes or at an end): a leading
 *            one matches at any depth, a trailing one everything inside,
 *            one in the middle zero or more directories; elsewhere the
 *            same as *
 *   trailing /   directories only
 *   leading /    anchored to the mirror root; a '/' in the middle anchors too
 *   otherwise    matched against the last component, at any depth
 *   !pat     re-includes what an earlier pattern excluded (last match wins)
 *
 * An excluded directory is pruned: nothing below it is compared or copied, and
 * a later !pattern cannot bring a child back (gitignore's rule too).
 *
 * Where rsync's filter rules read the same pattern differently, we follow
 * .gitignore (the table is checked by tests/unit/mirrors/test_glob.c):
 *
 *   pattern   path        rsync                  cloudfs (.gitignore)
 *   a/b       x/a/b       excluded (tail match)  kept: a middle '/' anchors
 *   a**b      a/x/b       excluded (** crosses)  kept: a non-component ** is *
 *   a/+**     a           excluded (a and below) kept: three stars are not
 *   (+ = *)                                       special
 *   !x        x           (rsync: a rule named "!x"; its negation is "+ x")
 *                                                 re-include, last match wins
 *   *.log,!k.log  k.log   excluded (first match) kept (last match wins)
 *   *         a/b         excluded (a is)        excluded (a is): both prune
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "mirrors/mirrors.h"

#define MGLOB_MAX 64

struct mpat {
	char *pat;        /* without the leading '/', trailing '/' and '!' */
	bool anchored;    /* matched against the whole path */
	bool dir_only;
	bool negate;
};

struct mglob_set {
	struct mpat p[MGLOB_MAX];
	int n;
};

/* Matches a class at *pp against c; advances *pp past ']'.  -1 malformed. */
static int class_match(const char **pp, char c)
{
	const char *p = *pp + 1;
	bool neg = false, hit = false;
	if (*p == '!' || *p == '^') {
		neg = true;
		p++;
	}
	bool first = true;
	while (*p && (*p != ']' || first)) {
		char lo = *p;
		if (lo == '\\' && p[1])
			lo = *++p;
		char hi = lo;
		if (p[1] == '-' && p[2] && p[2] != ']') {
			hi = p[2];
			p += 2;
		}
		if ((unsigned char)c >= (unsigned char)lo && (unsigned char)c <= (unsigned char)hi)
			hit = true;
		p++;
		first = false;
	}
	if (*p != ']')
		return -1;
	*pp = p + 1;
	return c != '/' && hit != neg;
}

/* Is the "**" at p a whole component of the pattern starting at start? */
static bool whole_starstar(const char *start, const char *p)
{
	return (p == start || p[-1] == '/') && (p[2] == '/' || p[2] == '\0');
}

/* Matcher results: besides match / no match / bad pattern, two "give up"
 * answers stop the caller's star from trying later positions when no later
 * position can help (the text ran out, or a single * would have to cross a
 * '/'), which keeps hostile patterns linear-ish instead of exponential. */
enum { M_MATCH = 1, M_NO = 0, M_BAD = -1, M_ABORT_ALL = -2, M_ABORT_TO_STARSTAR = -3 };

static int match(const char *start, const char *p, const char *s)
{
	for (;;) {
		switch (*p) {
		case '\0':
			return *s == '\0' ? M_MATCH : M_NO;
		case '?':
			if (!*s)
				return M_ABORT_ALL;
			if (*s == '/')
				return M_NO;
			p++, s++;
			break;
		case '[': {
			if (!*s)
				return M_ABORT_ALL;
			int r = class_match(&p, *s);
			if (r <= 0)
				return r < 0 ? M_BAD : M_NO;
			s++;
			break;
		}
		case '\\':
			if (!p[1])
				return M_BAD;
			if (!*s)
				return M_ABORT_ALL;
			if (*s != p[1])
				return M_NO;
			p += 2, s++;
			break;
		case '*':
			if (p[1] == '*' && whole_starstar(start, p)) {
				if (p[2] == '\0')
					return M_MATCH;        /* trailing: everything inside */
				const char *rest = p + 3;     /* after the stars and their slash */
				for (const char *t = s;; t++) {
					if (t == s || t[-1] == '/') {
						int r = match(start, rest, t);
						if (r == M_MATCH || r == M_BAD || r == M_ABORT_ALL)
							return r;
					}
					if (!*t)
						return M_ABORT_ALL;
				}
			}
			while (*p == '*')
				p++;
			if (*p == '\0')
				return strchr(s, '/') ? M_ABORT_TO_STARSTAR : M_MATCH;
			for (const char *t = s;; t++) {
				int r = match(start, p, t);
				if (r != M_NO)
					return r;
				if (!*t)
					return M_ABORT_ALL;
				if (*t == '/')
					return M_ABORT_TO_STARSTAR;
			}
		default:
			if (!*s)
				return M_ABORT_ALL;
			if (*p != *s)
				return M_NO;
			p++, s++;
		}
	}
}

static int match_top(const char *pat, const char *s)
{
	int r = match(pat, pat, s);
	return r == M_BAD ? -1 : r == M_MATCH;
}

/* Syntax: every class closed, no trailing backslash. */
static bool pattern_ok(const char *p)
{
	while (*p) {
		if (*p == '\\') {
			if (!p[1])
				return false;
			p += 2;
		} else if (*p == '[') {
			if (class_match(&p, 'a') < 0)
				return false;
		} else {
			p++;
		}
	}
	return true;
}

static int compile(const char *raw, size_t len, struct mpat *out)
{
	memset(out, 0, sizeof *out);
	if (len && raw[0] == '!') {
		out->negate = true;
		raw++, len--;
	}
	if (len && raw[0] == '/') {
		out->anchored = true;
		raw++, len--;
	}
	if (len && raw[len - 1] == '/' && (len < 2 || raw[len - 2] != '\\')) {
		out->dir_only = true;
		len--;
	}
	if (!len || memchr(raw, '\0', len))
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		if (raw[i] == '\\') {
			i++;
			continue;
		}
		if (raw[i] == '/')
			out->anchored = true;
	}
	if (!(out->pat = strndup(raw, len)))
		return -ENOMEM;
	/* a syntax check: run it once on an empty path */
	if (!pattern_ok(out->pat)) {
		free(out->pat);
		out->pat = NULL;
		return -EINVAL;
	}
	return 0;
}

static int pat_match(const struct mpat *m, const char *path, bool is_dir)
{
	if (m->dir_only && !is_dir)
		return 0;
	const char *s = path;
	if (!m->anchored) {
		const char *slash = strrchr(path, '/');
		if (slash)
			s = slash + 1;
	}
	return match_top(m->pat, s);
}

int mglob_match1(const char *pattern, const char *path, bool is_dir)
{
	struct mpat m;
	int r = compile(pattern, strlen(pattern), &m);
	if (r)
		return r;
	r = pat_match(&m, path, is_dir);
	free(m.pat);
	return r < 0 ? -EINVAL : r;
}

int mglob_set_parse(const char *csv, struct mglob_set **out, struct cfs_err *err)
{
	struct mglob_set *s = calloc(1, sizeof *s);
	if (!s)
		return cfs_errf(err, -ENOMEM, "out of memory");
	const char *p = csv ? csv : "";
	while (*p) {
		size_t n = strcspn(p, ",");
		if (n) {
			int r = s->n == MGLOB_MAX ? -E2BIG : compile(p, n, &s->p[s->n]);
			if (r) {
				mglob_set_free(s);
				if (r == -E2BIG)
					return cfs_errf(err, -EINVAL, "at most %d exclude patterns", MGLOB_MAX);
				return cfs_errf(err, r == -ENOMEM ? r : -EINVAL, "bad exclude pattern \"%.*s\"",
						(int)(n > 100 ? 100 : n), p);
			}
			s->n++;
		}
		p += n;
		if (*p == ',')
			p++;
	}
	*out = s;
	return 0;
}

void mglob_set_free(struct mglob_set *s)
{
	if (!s)
		return;
	for (int i = 0; i < s->n; i++)
		free(s->p[i].pat);
	free(s);
}

static bool builtin(const char *name)
{
	return strstr(name, MIRROR_CONFLICT_TAG) != NULL ||
	       !strncmp(name, MIRROR_TMP_PREFIX, sizeof MIRROR_TMP_PREFIX - 1);
}

/* The verdict for path itself (parents not considered): last match wins. */
static bool decide(const struct mglob_set *s, const char *path, bool is_dir)
{
	const char *slash = strrchr(path, '/');
	if (builtin(slash ? slash + 1 : path))
		return true;
	bool ex = false;
	for (int i = 0; s && i < s->n; i++)
		if (pat_match(&s->p[i], path, is_dir) == 1)
			ex = !s->p[i].negate;
	return ex;
}

bool mglob_excluded(const struct mglob_set *s, const char *path, bool is_dir)
{
	size_t len = strlen(path);
	char *buf = malloc(len + 1);
	if (!buf)
		return false;
	memcpy(buf, path, len + 1);
	/* every parent directory first: an excluded one prunes its subtree */
	for (char *q = buf; (q = strchr(q, '/')); q++) {
		*q = '\0';
		bool ex = decide(s, buf, true);
		*q = '/';
		if (ex) {
			free(buf);
			return true;
		}
	}
	free(buf);
	return decide(s, path, is_dir);
}
