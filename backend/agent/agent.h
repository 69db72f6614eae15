/* agent.h — cloudfs-agent, the daemon on every managed host (DESIGN.md
 * sections 1, 5 and 7).
 *
 * The agent answers signed HTTP requests from one manager: host state (health,
 * info), allow-listed logs and config files, allow-listed commands, git, and a
 * POSIX view of the tree below its root.  The HTTP API is documented in
 * docs/agent-api.md; this header is what tools/cloudfs-agent.c and the unit
 * tests need.
 *
 * Files: state.c (state dir: init, pair, load), conf.c + argv.c (agent.conf),
 * confine.c (paths below the root), routes.c (dispatch), sys.c (health, info),
 * logs.c (logs/ and config/), exec.c (commands), files.c + session.c (files),
 * git.c, ident.c (acting as the caller), serve.c (the HTTP server). */
#ifndef CFS_AGENT_H
#define CFS_AGENT_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

/* ---------- conf.c / argv.c ---------- */

struct agent_command {
	char *name;
	char **argv;             /* NULL-terminated, argv[0] looked up in PATH */
	int argc;
	int64_t timeout_ms;      /* default 30 s */
	uint64_t output_cap;     /* bytes kept of stdout+stderr, default 1 MiB */
	bool extra_args;         /* may the caller append arguments (default no) */
};

struct agent_named_path {
	char *name;
	char *path;              /* absolute */
};

struct agent_conf {
	char *root;              /* absolute directory */
	char *listen;            /* ADDR:PORT */
	char *tls_cert, *tls_key;        /* both or neither; NULL when unset */
	char *trusted_proxies;   /* NULL when unset */
	struct agent_command *cmds;
	size_t ncmds;
	struct agent_named_path *logs;
	size_t nlogs;
	struct agent_named_path *configs;
	size_t nconfigs;
	int64_t tmp_sweep_after;  /* seconds: write-session temp files older than
	                             this are removed by the listing; 0 never */
};

/* Parse agent.conf text; fname only names the file in messages
 * ("agent.conf:12: unknown key "x" in [agent]").  *out is freed with
 * agent_conf_free.  0, -EINVAL (bad content) or -ENOMEM. */
int agent_conf_parse(const char *text, const char *fname, struct agent_conf **out,
		     struct cfs_err *err);
/* Read and parse a file; -ENOENT etc. when it cannot be read. */
int agent_conf_load(const char *path, struct agent_conf **out, struct cfs_err *err);
void agent_conf_free(struct agent_conf *c);
const struct agent_command *agent_conf_command(const struct agent_conf *c, const char *name);

/* Split s into words the way a POSIX shell does for quoting alone: blanks
 * separate words, '…' is literal, "…" keeps \" \\ \$ \` and \<newline>
 * escapes, a backslash outside quotes escapes the next byte.  Nothing else is
 * special ($, *, ;, | stay literal).  *argv (NULL-terminated, one allocation
 * per word plus the array) is freed with agent_argv_free.  0, -EINVAL
 * (unterminated quote, trailing backslash, no words) or -ENOMEM. */
int agent_argv_split(const char *s, char ***argv, int *argc, struct cfs_err *err);
void agent_argv_free(char **argv);

/* ---------- state.c ---------- */

/* The default state dir: /var/lib/cloudfs-agent for root, else
 * $XDG_STATE_HOME/cloudfs-agent or ~/.local/state/cloudfs-agent.  *out is
 * malloc'ed. */
int agent_state_default(char **out);

/* `cloudfs-agent init`: create the state dir (0700), mint env_id and master
 * key, write agent.conf.  Refuses (-EEXIST) when the dir already holds an
 * agent.  root must be an existing directory; it is stored absolute. */
int agent_state_init(const char *state_dir, const char *root, const char *listen,
		     char env_id[37], struct cfs_err *err);

/* `cloudfs-agent pair`: store the manager's env id and the shared secret (64
 * hex) sealed under the master key; replaces an earlier pairing. */
int agent_state_pair(const char *state_dir, const char *manager_env, const char *secret_hex,
		     struct cfs_err *err);

/* ---------- routes.c ---------- */

struct agent;

struct agent_opts {
	const char *state_dir;   /* with state: env id, master key, pairing, agent.conf */
	struct agent_conf *conf; /* instead of state_dir's agent.conf (tests); taken over */
	bool force_walk;         /* confine without openat2 (tests) */
};

/* Load state and config, open the root.  *out is freed with agent_free. */
int agent_new(const struct agent_opts *o, struct agent **out, struct cfs_err *err);
void agent_free(struct agent *a);
const struct agent_conf *agent_get_conf(const struct agent *a);
const char *agent_env_id(const struct agent *a);

/* Drop write sessions idle for longer than max_idle_ms; returns how many. */
int agent_reap_sessions(struct agent *a, int64_t max_idle_ms);

/* ---------- serve.c ---------- */

/* Run the HTTP server until *stop becomes non-zero (set from a signal
 * handler) or a signal in `sigs` arrives (sigs blocked by the caller before
 * any thread starts; may be NULL).  Logs to stderr. */
int agent_serve(struct agent *a, const sigset_t *sigs, struct cfs_err *err);

#endif
