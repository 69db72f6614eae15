/* watch.c — GET /v1/watch and /v1/changes (push mirrors).  Not built yet:
 * both answer 501 ENOSYS, and the manager falls back to checking push
 * mirrors by listing on a short interval. */
#include "agent/mirror_api.h"

#include <errno.h>

void agent_route_watch(struct agent *a, const struct wire_request *rq, const struct query *q,
		       struct wire_response *rs)
{
	(void)a, (void)rq, (void)q;
	agent_reply_errno(rs, 501, "not_built", ENOSYS, "watch is not built yet");
}

void agent_route_changes(struct agent *a, const struct wire_request *rq, const struct query *q,
			 struct wire_response *rs)
{
	(void)a, (void)rq, (void)q;
	agent_reply_errno(rs, 501, "not_built", ENOSYS, "changes is not built yet");
}
