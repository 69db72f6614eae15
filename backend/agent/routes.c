/* routes.c — the agent object and the dispatch of /v1/ requests.
 *
 * The wire server has verified the request (signature, skew, replay) before
 * agent_handle sees it; every handler here trusts the sender and distrusts
 * the content: paths are confined, bodies parsed strictly. */
#include "agent/internal.h"
#include "agent/mirror_api.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth/crypto.h"
#include "core/log.h"
#include "core/util.h"

int agent_new(const struct agent_opts *o, struct agent **out, struct cfs_err *err)
{
	struct agent *a = calloc(1, sizeof *a);
	struct agent_conf *conf = o->conf;
	int r = 0;
	if (!a) {
		agent_conf_free(conf);
		return cfs_errf(err, -ENOMEM, "out of memory");
	}
	pthread_mutex_init(&a->pair_lock, NULL);
	a->confine.rootfd = -1;
	a->confine.walk = o->force_walk;
	if (o->state_dir) {
		if (!(a->state_dir = strdup(o->state_dir))) {
			r = cfs_errf(err, -ENOMEM, "out of memory");
			goto fail;
		}
		if ((r = agent_state_load(a, err)))
			goto fail;
	}
	if (!conf) {
		char path[PATH_MAX];
		if (!o->state_dir) {
			r = cfs_errf(err, -EINVAL, "no state dir and no configuration");
			goto fail;
		}
		snprintf(path, sizeof path, "%s/agent.conf", o->state_dir);
		if ((r = agent_conf_load(path, &conf, err)))
			goto fail;
	}
	a->conf = conf;
	conf = NULL;
	if (!(a->root = realpath(a->conf->root, NULL))) {
		r = cfs_errf(err, -errno, "root %s: %s", a->conf->root, strerror(errno));
		goto fail;
	}
	a->confine.rootfd = open(a->root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (a->confine.rootfd < 0) {
		r = cfs_errf(err, -errno, "root %s: %s", a->root, strerror(errno));
		goto fail;
	}
	a->is_root = geteuid() == 0;
	a->ngroups = getgroups(0, NULL);
	if (a->ngroups < 0)
		a->ngroups = 0;
	a->groups = calloc((size_t)a->ngroups + 1, sizeof *a->groups);
	if (!a->groups || (a->ngroups = getgroups(a->ngroups, a->groups)) < 0) {
		r = cfs_errf(err, -ENOMEM, "cannot read our supplementary groups");
		goto fail;
	}
	if ((r = agent_sessions_new(&a->sessions))) {
		cfs_errf(err, r, "out of memory");
		goto fail;
	}
	*out = a;
	return 0;
fail:
	agent_conf_free(conf);
	agent_free(a);
	return r;
}

void agent_free(struct agent *a)
{
	if (!a)
		return;
	agent_mirror_release(a);
	agent_sessions_free(a->sessions);
	if (a->confine.rootfd >= 0)
		close(a->confine.rootfd);
	agent_conf_free(a->conf);
	free(a->root);
	free(a->groups);
	free(a->state_dir);
	cfs_cleanse(a->master, sizeof a->master);
	cfs_cleanse(a->secret, sizeof a->secret);
	pthread_mutex_destroy(&a->pair_lock);
	free(a);
}

const struct agent_conf *agent_get_conf(const struct agent *a)
{
	return a->conf;
}

const char *agent_env_id(const struct agent *a)
{
	return a->env_id;
}

int agent_lookup(void *arg, const char *env_id, uint8_t secret[32])
{
	struct agent *a = arg;
	agent_pair_reload(a);
	int r = -ENOENT;
	pthread_mutex_lock(&a->pair_lock);
	if (a->paired && !strcmp(env_id, a->manager_env)) {
		memcpy(secret, a->secret, 32);
		r = 0;
	}
	pthread_mutex_unlock(&a->pair_lock);
	return r;
}

/* POST /v1/rotate {"sealed":HEX}: the new secret sealed under the old one
 * (cfs_seal with the old secret as key and purpose "rotate").  The response
 * is still signed with the old secret; later requests need the new one. */
void agent_route_rotate(struct agent *a, const struct wire_request *rq, struct wire_response *rs)
{
	uint8_t old[32], *sealed = NULL, *pt = NULL;
	size_t pt_len = 0, hl = 0;
	cJSON *body = cJSON_ParseWithLength(rq->body, rq->body_len);
	const cJSON *s = cJSON_GetObjectItemCaseSensitive(body, "sealed");
	if (!cJSON_IsString(s) || (hl = strlen(s->valuestring)) == 0 || hl % 2 || hl > 1024) {
		agent_reply_error(rs, 400, "bad_json", "the body must be {\"sealed\":HEX}");
		goto out;
	}
	pthread_mutex_lock(&a->pair_lock);
	bool paired = a->paired && !strcmp(rq->env, a->manager_env);
	memcpy(old, a->secret, sizeof old);
	pthread_mutex_unlock(&a->pair_lock);
	if (!paired) {
		agent_reply_errno(rs, 409, "not_paired", EACCES, "the sender is not the paired manager");
		goto out;
	}
	if (!(sealed = malloc(hl / 2)) || cfs_unhex(s->valuestring, sealed, hl / 2) ||
	    cfs_open(old, "rotate", sealed, hl / 2, &pt, &pt_len) || pt_len != 32) {
		agent_reply_error(rs, 400, "bad_sealed", "the new secret does not open with the current one");
		goto out;
	}
	struct cfs_err err = { 0 };
	if (agent_pair_store_secret(a, pt, &err)) {
		log_err("rotation failed: %s", err.msg);
		agent_reply_error(rs, 500, "internal", "cannot store the new secret: %s", err.msg);
		goto out;
	}
	log_info("secret rotated for manager %s", rq->env);
	agent_reply_ok(rs);
out:
	cfs_cleanse(old, sizeof old);
	if (pt) {
		cfs_cleanse(pt, pt_len);
		free(pt);
	}
	free(sealed);
	cJSON_Delete(body);
}

static bool is(const char *method, const char *want)
{
	return !strcmp(method, want);
}

void agent_handle(void *arg, const struct wire_request *rq, struct wire_response *rs)
{
	struct agent *a = arg;
	struct query q;
	if (agent_query_parse(rq->target ? rq->target : "", &q)) {
		agent_reply_error(rs, 400, "bad_request", "malformed request target");
		return;
	}
	const char *path = rq->path ? rq->path : q.path;
	const char *m = rq->method ? rq->method : "";
	bool get = is(m, "GET") || is(m, "HEAD");
	if (!strncmp(path, "/v1/file/", 9)) {
		const char *op = path + 9;
		if (!agent_route_session(a, op, rq, &q, rs))
			agent_route_file(a, op, rq, &q, rs);
	} else if (!strncmp(path, "/v1/git/", 8)) {
		agent_route_git(a, path + 8, rq, &q, rs);
	} else if (agent_route_mirror(a, path, rq, &q, rs)) {
		/* /v1/files, /v1/watch, /v1/changes (mirror_api.h) */
	} else if (!strcmp(path, "/v1/health")) {
		if (get)
			agent_route_health(a, &q, rs);
		else
			agent_reply_error(rs, 405, "method_not_allowed", "health takes GET");
	} else if (!strcmp(path, "/v1/info")) {
		if (get)
			agent_route_info(a, &q, rs);
		else
			agent_reply_error(rs, 405, "method_not_allowed", "info takes GET");
	} else if (!strcmp(path, "/v1/logs")) {
		if (get)
			agent_route_logs(a, &q, rs);
		else
			agent_reply_error(rs, 405, "method_not_allowed", "logs takes GET");
	} else if (!strcmp(path, "/v1/config")) {
		if (get)
			agent_route_config(a, &q, rs);
		else
			agent_reply_error(rs, 405, "method_not_allowed", "config takes GET");
	} else if (!strcmp(path, "/v1/exec")) {
		if (get)
			agent_route_exec_list(a, &q, rs);
		else if (is(m, "POST"))
			agent_route_exec(a, rq, &q, rs);
		else
			agent_reply_error(rs, 405, "method_not_allowed", "exec takes GET or POST");
	} else if (!strcmp(path, "/v1/rotate")) {
		if (is(m, "POST"))
			agent_route_rotate(a, rq, rs);
		else
			agent_reply_error(rs, 405, "method_not_allowed", "rotate takes POST");
	} else {
		agent_reply_error(rs, 404, "not_found", "no route %.200s", path);
	}
	if (rs->status >= 500)
		log_warn("%s %s: %d", m, path, rs->status);
	else
		log_debug("%s %s: %d", m, path, rs->status);
	agent_query_free(&q);
}
