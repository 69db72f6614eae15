/* config.h — the manager's configuration file (cloudfs.conf, INI).
 *
 * Every key has a default, so a missing or empty file is a working setup.
 * Rules the parser enforces (DESIGN.md section 7):
 *
 *  - `key = value` lines under `[section]` headers; `#` or `;` starts a
 *    comment line, ` ;` an inline comment.  Leading blanks are ignored, so
 *    there are no continuation lines: a list stays on one line.
 *  - Section and key names are matched without regard to case; the USER of a
 *    `[repos.USER]` section is a user name and keeps its case.
 *  - Unknown sections and keys, bad values, a key outside any section and
 *    lines longer than CFS_CONFIG_MAX_LINE bytes are errors; the message reads
 *    "FILE:LINE: what is wrong".
 *  - A key given twice: the last one wins.  An empty value (`root =`)
 *    restores the key's default.
 *  - Lists are separated by blanks or commas; durations are 30s, 5m, 12h,
 *    7d; sizes take K, M, G (powers of 1024); paths must be absolute.
 *
 * Mount options `-o SECTION.KEY=VAL` override the file, in the order given:
 * "poll.interval=2s", "repos.root=/srv/restic", "repos.alice.path=/x". */
#ifndef CFS_CONFIG_H
#define CFS_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"

#define CFS_CONFIG_MAX_LINE 1024   /* bytes in one line, line end excluded */

/* A restic repository attached for reading only ([repos.USER]). */
struct cfs_repo_attach {
	char *user;           /* the USER of the section; a valid path component */
	char *path;           /* local repository directory, or NULL */
	char *url;            /* "rest:http(s)://…" or "http(s)://…", or NULL; exactly
	                       * one of path and url is set after a successful load */
	char *password_file;  /* NULL: the engine uses the operator password */
};

struct cfs_config {
	/* [users] */
	char **superadmins;            /* user names; root is a superadmin anyway */
	size_t n_superadmins;
	char **provisioners;
	size_t n_provisioners;

	/* [poll] */
	int64_t poll_interval_s;       /* interval, default 5s */
	int64_t poll_timeout_s;        /* timeout, default 10s */
	int poll_stale_after;          /* stale_after: missed polls, default 3 */

	/* [repos] — NULL strings are filled in by the engine */
	char *repos_root;              /* root: NULL → STATE/repos */
	char *repos_htpasswd;          /* htpasswd: NULL → ROOT/.htpasswd */
	char *repos_operator_password_file; /* NULL → STATE/operator.password */
	char *repos_owner;             /* the REST server's Unix user; NULL → the mount's user */
	char *repos_restic;            /* restic binary, default "restic" */
	char *repos_url;               /* data plane URL, default "http://127.0.0.1:8000" */
	char *repos_prune_at;          /* "HH:MM" UTC, default "04:00" */
	char *repos_retention;         /* normalized policy, see cfs_config_check_retention */
	int repos_bcrypt_cost;         /* 4..31, default 5 */
	uint64_t repos_cache_size;     /* blob cache bytes, default 64M */
	int64_t repos_refresh_s;       /* refresh: snapshot lists re-read, default 60s */
	int64_t repos_quota_scan_s;    /* quota_scan, default 5m */

	/* [repos.USER] */
	struct cfs_repo_attach *attached;
	size_t n_attached;

	/* [mirrors] */
	double mirrors_max_delete_fraction; /* max_delete: 0..1 or "N%", default 0.5 */

	/* [jobs] */
	int jobs_workers;              /* workers, 1..256, default 4 */
	int64_t jobs_keep_s;           /* keep: finished jobs older than this go, default 7d */

	/* [peers] */
	char *peers_trusted_proxies;   /* addresses or CIDRs, blank-separated; NULL = none */

	/* [log] */
	int log_level;                 /* level: error|warning|info|debug → enum cfs_log_level */
};

/* Fill c with the defaults (everything else zero).  0 or -ENOMEM; on failure
 * c holds nothing to free. */
int cfs_config_defaults(struct cfs_config *c);

/* Defaults, then the file at path (NULL or a file that does not exist: no
 * file), then the overrides ("SECTION.KEY=VAL", n_overrides of them).
 * 0 on success: the caller frees c with cfs_config_free.  On failure c is
 * left zeroed (freeing it is harmless) and err says why:
 *   -EINVAL  a syntax error, unknown section/key, bad value or over-long line,
 *            "FILE:LINE: …" or "option SECTION.KEY=VAL: …";
 *   -errno   the file exists but cannot be read, "FILE: …";
 *   -ENOMEM. */
int cfs_config_load(const char *path, const char *const *overrides, size_t n_overrides,
		    struct cfs_config *c, struct cfs_err *err);

/* Free everything c owns and zero it.  NULL is fine. */
void cfs_config_free(struct cfs_config *c);

/* Append the effective configuration to out as INI text that
 * cfs_config_load reads back to the same values.  Keys the engine fills in
 * appear with an empty value.  0 or -ENOMEM. */
int cfs_config_render(const struct cfs_config *c, struct cfs_buf *out);

/* Check a retention policy: blank- or comma-separated KEY=N with KEY one of
 * keep-last, keep-hourly, keep-daily, keep-weekly, keep-monthly,
 * keep-yearly and N a positive integer, or keep-within=DUR where DUR is a
 * number of hours or days ("36h", "30d"; restic reads "m" as months, so no
 * other unit is taken).  Each key at most once, at least one key.
 * On success, *normalized (may be NULL) gets the policy as blank-separated
 * tokens, malloc'ed for the caller to free.  0, -EINVAL (with err), -ENOMEM. */
int cfs_config_check_retention(const char *s, char **normalized, struct cfs_err *err);

#endif
