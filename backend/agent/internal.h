/* internal.h — what the agent's own files share (not for other areas).
 *
 * Route handlers are plain functions over struct wire_request / struct
 * wire_response, so unit tests call agent_handle() directly. */
#ifndef CFS_AGENT_INTERNAL_H
#define CFS_AGENT_INTERNAL_H

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "agent/agent.h"
#include "agent/confine.h"
#include "core/buf.h"
#include "wire/wire.h"

#define AGENT_READ_MAX (4u << 20)          /* largest read / file body returned */
#define AGENT_SESSION_IDLE_MS (60 * 60 * 1000)
#define AGENT_TMP_PREFIX ".cloudfs-tmp-"
#define AGENT_GIT_DEPTH 4                  /* levels below the root searched for repos */

struct agent_sessions;

struct agent {
	struct agent_conf *conf;
	char *state_dir;              /* NULL in tests without state */
	char env_id[37];
	uint8_t master[32];
	bool have_master;

	pthread_mutex_t pair_lock;    /* guards everything down to pair_size */
	bool paired;
	char manager_env[WIRE_ENV_ID_MAX + 1];
	uint8_t secret[32];
	ino_t pair_ino;               /* the pair file we last loaded, to see re-pairing */
	struct timespec pair_mtime;
	off_t pair_size;

	struct confine confine;       /* root */
	char *root;                   /* conf->root, resolved */
	bool is_root;                 /* euid 0: act as the caller */
	gid_t *groups;                /* our own supplementary groups, restored after acting */
	int ngroups;
	struct agent_sessions *sessions;
};

/* ---------- conf.c / state.c ---------- */

/* "127.0.0.1:7001", "[::1]:7001", "host:7001", ":7001"; 0 or -EINVAL. */
int agent_listen_check(const char *listen);
/* Load env id, master key and pairing from a->state_dir into a. */
int agent_state_load(struct agent *a, struct cfs_err *err);

/* ---------- query.c: the raw request target ---------- */

#define QUERY_MAX 32

struct query {
	int n;
	struct {
		char *key;
		char *val;          /* decoded, NUL-terminated */
		size_t len;         /* decoded length (a %00 makes it differ from strlen) */
	} kv[QUERY_MAX];
	char *path;             /* decoded path part */
	char *store_;
};
/* Split and percent-decode target ("/v1/x?a=b&c=d"); '+' decodes to a blank.
 * -EINVAL on a bad escape or too many parameters, -ENOMEM. */
int agent_query_parse(const char *target, struct query *q);
void agent_query_free(struct query *q);
/* The decoded value (NULL when absent); len may be NULL. */
const char *agent_query_get(const struct query *q, const char *key, size_t *len);

/* ---------- reply.c: JSON bodies and error mapping ---------- */

struct cJSON;
/* Serialize j into rs (status, application/json) and free j. */
void agent_reply_json(struct wire_response *rs, int status, struct cJSON *j);
/* {"error":code,"message":…} */
void agent_reply_error(struct wire_response *rs, int status, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* The same with "errno":NAME, for failures whose status alone would map to
 * the wrong errno on the manager's side. */
void agent_reply_errno(struct wire_response *rs, int status, const char *code, int err,
		       const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* A filesystem failure: {"error":"fs_error","errno":"ENOTEMPTY","message":…}
 * with the status fitting the errno.  err is a negative errno. */
void agent_reply_fs_error(struct wire_response *rs, int err, const char *what);
/* A failure of confine_*: -EXDEV is 403 outside_root (errno EACCES), -EINVAL
 * 400 bad_path, anything else as agent_reply_fs_error. */
void agent_reply_confine_error(struct wire_response *rs, int err, const char *what);
/* The errno → HTTP status table of the files API. */
int agent_errno_status(int err);
/* "ENOTEMPTY" for any errno the C library knows, else "E<number>". */
const char *agent_errno_name(int err, char buf[16]);
void agent_reply_ok(struct wire_response *rs);
/* 400/409 bad_hash (errno EIO) with the expected and actual hashes. */
void agent_reply_bad_hash(struct wire_response *rs, int status, const char *msg,
			  const char *want, const char *got);           /* 200 {"ok":true} */
/* Exact integers (raw JSON numbers, not doubles). */
int agent_json_u64(struct cJSON *o, const char *key, uint64_t v);
int agent_json_i64(struct cJSON *o, const char *key, int64_t v);
/* A byte string: key as a JSON string when it is valid UTF-8 without NUL,
 * else key + "_b64" holding base64. */
int agent_json_bytes(struct cJSON *o, const char *key, const char *s, size_t len);
bool agent_utf8_valid(const char *s, size_t len);
int agent_base64(const void *data, size_t len, struct cfs_buf *out);
/* The stat fields of docs/agent-api.md. */
struct cJSON *agent_json_stat(const struct stat *st);

/* ---------- ident.c: acting as the caller ---------- */

struct ident_save {
	bool active;
};
/* When the agent runs as root and the request carries uid= and gid= (and
 * optionally groups=), switch this thread's filesystem identity to them.
 * -EINVAL on malformed values. */
int agent_ident_enter(struct agent *a, const struct query *q, struct ident_save *s);
void agent_ident_leave(struct agent *a, struct ident_save *s);

/* ---------- exec.c ---------- */

struct exec_spec {
	char *const *argv;
	char *const *envp;        /* NULL: our environment */
	int cwd_fd;               /* -1: the root */
	int64_t timeout_ms;
	uint64_t output_cap;
	bool as_user;             /* switch to uid/gid (root only) */
	uid_t uid;
	gid_t gid;
};
struct exec_result {
	int exit_code;            /* -1 when killed by a signal */
	int signal;               /* 0 when it exited */
	bool timed_out;
	bool truncated;
	int64_t duration_ms;
	struct cfs_buf output;    /* stdout and stderr interleaved, at most output_cap bytes */
};
/* fork + execvp with stdin from /dev/null, in its own process group; the
 * group is killed at the deadline.  0 once the child ran (see r), or a
 * negative errno when it could not start (-ENOENT: no such program). */
int agent_exec_run(struct agent *a, const struct exec_spec *s, struct exec_result *r);
void agent_exec_result_free(struct exec_result *r);
/* {exit_code, signal, timed_out, truncated, duration_ms, output, output_encoding} */
struct cJSON *agent_exec_result_json(const struct exec_result *r);

/* ---------- sessions (session.c) ---------- */

/* Does a live write session hold this inode, as its temp file or its
 * target?  The sweep of stale temp files (listing.c) leaves those alone. */
bool agent_sessions_hold(struct agent *a, dev_t dev, ino_t ino);

int agent_sessions_new(struct agent_sessions **out);
void agent_sessions_free(struct agent_sessions *s);

/* ---------- route handlers ---------- */

void agent_handle(void *arg, const struct wire_request *rq, struct wire_response *rs);
/* wire_secret_lookup_fn over the agent's pairing. */
int agent_lookup(void *arg, const char *env_id, uint8_t secret[32]);
/* Reload the pairing when the pair file changed on disk. */
int agent_pair_reload(struct agent *a);
/* Persist a new secret for the current manager (rotation). */
int agent_pair_store_secret(struct agent *a, const uint8_t secret[32], struct cfs_err *err);

void agent_route_health(struct agent *a, const struct query *q, struct wire_response *rs);
void agent_route_info(struct agent *a, const struct query *q, struct wire_response *rs);
void agent_route_logs(struct agent *a, const struct query *q, struct wire_response *rs);
void agent_route_config(struct agent *a, const struct query *q, struct wire_response *rs);
void agent_route_exec(struct agent *a, const struct wire_request *rq, const struct query *q,
		      struct wire_response *rs);
void agent_route_exec_list(struct agent *a, const struct query *q, struct wire_response *rs);
void agent_route_rotate(struct agent *a, const struct wire_request *rq, struct wire_response *rs);
/* op is what follows "/v1/file/" */
void agent_route_file(struct agent *a, const char *op, const struct wire_request *rq,
		      const struct query *q, struct wire_response *rs);
/* Session operations (open, write, read, truncate, stat, fsync, commit, abort);
 * returns false when op is not one of them. */
bool agent_route_session(struct agent *a, const char *op, const struct wire_request *rq,
			 const struct query *q, struct wire_response *rs);
/* Parse `git status --porcelain=v2 --branch -z` output into j (git.c). */
int agent_git_parse_status(const char *out, size_t len, struct cJSON *j);
void agent_route_git(struct agent *a, const char *op, const struct wire_request *rq,
		     const struct query *q, struct wire_response *rs);

/* ---------- shared by files.c / session.c ---------- */

/* GET /v1/file/chunks?path=P[&avg=N] as files.c dispatches it (already
 * acting as the caller): the chunk list of a regular file, binary:
 *   "CDC1", u32 avg, u64 size, then per chunk u32 len, u64 XXH3-64
 * (all big-endian).  0 after replying, or a negative errno to reply as an
 * fs_error. */
int agent_file_chunks(struct agent *a, const struct wire_request *rq, const struct query *q,
		      struct wire_response *rs);

/* Open (dirfd, name) for reading when it is a regular file, never
 * following it: -EISDIR (a directory, or name "" for the root), -EINVAL
 * (symlink, fifo, device: never opened), or open's errno.  *st is its
 * fstat. */
int agent_open_regular(int dirfd, const char *name, int *fd, struct stat *st);

/* PUT /v1/file/put?path=P&xxh128=H[&mode=][&mtime=]: a whole small file in
 * one request (put.c), as files.c dispatches it (acting as the caller). */
int agent_file_put(struct agent *a, const struct wire_request *rq, const struct query *q,
		   struct wire_response *rs);
/* "now", "omit", "SEC" or "SEC:NSEC" (SEC may be negative); absent = omit. */
int agent_parse_time(const char *s, struct timespec *ts);

/* Parse an octal mode ("0644", "100644"); -EINVAL. */
int agent_parse_mode(const char *s, mode_t *out);
/* Resolve q's path= to (dirfd, name) below the root, replying on failure.
 * Returns false after replying. */
bool agent_files_parent(struct agent *a, const struct query *q, const char *key, int *dirfd,
			char name[NAME_MAX + 1], struct wire_response *rs);
/* Copy every byte of src into dst from offset 0 (dst truncated first). */
int agent_copy_fd(int src, int dst);

#endif
