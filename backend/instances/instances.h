/* instances.h — shared by the instance modules: the runtime status kept in
 * memory, and the signed link to an instance's agent. */
#ifndef CFS_INSTANCES_H
#define CFS_INSTANCES_H

#include <stdbool.h>
#include <stdint.h>

#include "auth/crypto.h"
#include "core/buf.h"
#include "core/err.h"

struct cfs_engine;

#define INST_LIST_MAX 32

struct inst_status {
	char name[65];
	char status[16];        /* unknown | online | offline | stale */
	int64_t last_seen_ms;   /* last answered poll */
	double response_ms;
	char error[160];
	int missed;             /* polls missed in a row */
	/* from the agent's info, refreshed when it comes online: lists served
	 * without waiting on the network */
	bool info_known;
	int nlogs, nconfigs, ncmds;
	char logs[INST_LIST_MAX][65];
	char configs[INST_LIST_MAX][65];
	char cmds[INST_LIST_MAX][65];
	int nrepos;                       /* git repositories below the root, encoded names */
	char repos[INST_LIST_MAX][256];
};

/* A git repository's path below the agent's root as one file name:
 * '%' → %25, '/' → %2F, and the root itself is "%2E". */
void git_name_encode(const char *path, char *out, size_t len);
int git_name_decode(const char *name, char *out, size_t len);
void git_fetch_repos(struct cfs_engine *e, const char *name);

void runtime_get(struct cfs_engine *e, const char *name, struct inst_status *out);
void runtime_put(struct cfs_engine *e, const struct inst_status *st);
void runtime_forget(struct cfs_engine *e, const char *name);

/* What it takes to talk to one instance's agent. */
struct agent_target {
	char name[65];
	char url[512];
	char env_id[80];
	uint8_t secret[CFS_KEY_LEN];
	bool tls_require;
	char pin[128];
};

int agent_target_load(struct cfs_engine *e, const char *name, struct agent_target *t,
		      struct cfs_err *err);
void agent_target_wipe(struct agent_target *t);

struct agent_reply {
	int status;
	struct cfs_buf body;
};

/* One signed call with the configured timeout.  Returns 0 when a verified
 * answer came with a 2xx status; otherwise the errno for the caller
 * (EHOSTUNREACH, ETIMEDOUT, the agent's own errno, …) with err saying why.
 * A network failure also marks the instance offline at once. */
int agent_call(struct cfs_engine *e, const struct agent_target *t, const char *method,
	       const char *target, const void *body, size_t len, struct agent_reply *r,
	       struct cfs_err *err);
/* The same with its own deadline (ms), for a call the agent needs long to
 * answer (reading a whole large file). */
int agent_call_slow(struct cfs_engine *e, const struct agent_target *t, const char *method,
		    const char *target, const void *body, size_t len, int timeout_ms,
		    struct agent_reply *r, struct cfs_err *err);
void agent_reply_free(struct agent_reply *r);

/* Poller */
int poller_start(struct cfs_engine *e);
void poller_stop(struct cfs_engine *e);
/* Polls one instance now and waits for the answer (refresh). */
int poller_poll_now(struct cfs_engine *e, const char *name);
void poller_wake(struct cfs_engine *e);

/* Replace an instance's sealed secret (rotate); journaled. */
int registry_store_secret(struct cfs_engine *e, const char *name, const uint8_t secret[CFS_KEY_LEN]);

#endif
