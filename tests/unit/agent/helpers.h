/* helpers.h — shared by the agent's unit tests: temp trees, an agent over a
 * temp root, and calling its routes as the wire server would. */
#ifndef CFS_TEST_AGENT_HELPERS_H
#define CFS_TEST_AGENT_HELPERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "agent/internal.h"

/* A fresh directory under TMPDIR; free() the result. */
char *th_mkdtemp(void);
void th_rmrf(const char *path);
/* dir/name with content; mode 0644. */
void th_write(const char *dir, const char *name, const char *content);
/* Contents of dir/name (malloc'ed, NUL-terminated), NULL when missing. */
char *th_read(const char *dir, const char *name, size_t *len);
/* "dir/name" in a static buffer (the last four stay valid). */
const char *th_path(const char *dir, const char *name);

/* An agent over root; extra is appended to agent.conf ([command.x] …). */
struct agent *th_agent(const char *root, const char *extra, bool walk);

struct th_reply {
	int status;
	const char *type;
	cJSON *json;            /* parsed body when it is JSON */
	struct cfs_buf body;
};
/* Call the agent's handler; returns the status. */
int th_call(struct agent *a, const char *method, const char *target, const void *body,
	    size_t len, struct th_reply *r);
void th_reply_free(struct th_reply *r);
/* A member by dotted path ("stat.size"), or NULL. */
const cJSON *th_get(const cJSON *j, const char *path);
int64_t th_int(const cJSON *j, const char *path);
const char *th_str(const cJSON *j, const char *path);

#endif
