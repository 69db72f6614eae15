/* live.c — files under /instances/NAME/ that are fetched from the agent on
 * open (info, health, logs/LOG, config/NAME), once per open so a read of one
 * descriptor is consistent; their listings come from the names cached when
 * the instance came online, so ls never waits on the network. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/permit.h"
#include "core/engine_priv.h"
#include "core/util.h"
#include "instances/instances.h"
#include "wire/wire.h"

/* Read permission on the instance, and a quick answer for a known-offline one. */
static int live_begin(struct cfs_engine *e, const struct cfs_caller *c, const char *name,
		      struct agent_target *t, struct cfs_err *err)
{
	unsigned mask = instance_permitted(e, &c->user, name);
	if (!mask)
		return -ENOENT;
	if (!(mask & CFS_ACT_READ))
		return -EACCES;
	struct inst_status s;
	runtime_get(e, name, &s);
	int64_t interval_ms = (e->cfg.poll_interval_s > 0 ? e->cfg.poll_interval_s : 5) * 1000;
	if (strcmp(s.status, "offline") == 0 && s.missed > 0 &&
	    cfs_now_ms() - s.last_seen_ms > interval_ms && s.error[0] &&
	    !strstr(s.error, "answered")) {
		/* known offline: fail at once rather than wait for a timeout; the
		 * poller (or refresh) brings it back */
		return cfs_errf(err, -EHOSTUNREACH, "%s is offline: %s", name, s.error);
	}
	return agent_target_load(e, name, t, err);
}

static int fetch(struct cfs_engine *e, const struct cfs_caller *c, const char *name,
		 const char *target, struct cfs_buf *body)
{
	struct agent_target t;
	struct agent_reply r;
	struct cfs_err err = { 0 };
	/* failures are recorded in /self/errors by the fs layer, with the path */
	int rc = live_begin(e, c, name, &t, &err);
	if (rc)
		return rc;
	rc = agent_call(e, &t, "GET", target, NULL, 0, &r, &err);
	agent_target_wipe(&t);
	if (!rc && r.body.len)
		rc = cfs_buf_append(body, r.body.data, r.body.len);
	agent_reply_free(&r);
	return rc;
}

/* key value lines from the top-level scalars of a JSON object */
static int json_to_text(const char *json, size_t len, struct cfs_buf *out)
{
	cJSON *j = cJSON_ParseWithLength(json, len);
	if (!cJSON_IsObject(j)) {
		cJSON_Delete(j);
		return -EIO;
	}
	cJSON *it;
	cJSON_ArrayForEach(it, j)
	{
		const char *k = strcmp(it->string, "version") == 0 ? "agent_version" : it->string;
		if (cJSON_IsString(it)) {
			cfs_buf_printf(out, "%s ", k);
			for (const char *p = it->valuestring; *p; p++)
				cfs_buf_append(out, *p == '\n' ? " " : p, 1);
			cfs_buf_puts(out, "\n");
		} else if (cJSON_IsBool(it)) {
			cfs_buf_printf(out, "%s %s\n", k, cJSON_IsTrue(it) ? "yes" : "no");
		} else if (cJSON_IsNumber(it)) {
			double v = it->valuedouble;
			if (v == (double)(long long)v)
				cfs_buf_printf(out, "%s %lld\n", k, (long long)v);
			else
				cfs_buf_printf(out, "%s %.2f\n", k, v);
		}
	}
	cJSON_Delete(j);
	return 0;
}

int cfs_instance_live(struct cfs_engine *e, const struct cfs_caller *c, const char *const *caps,
		      const char *arg, struct cfs_buf *out)
{
	bool json = strstr(arg, ".json") != NULL;
	const char *target = strncmp(arg, "info", 4) == 0 ? "/v1/info" : "/v1/health";
	struct cfs_buf body = CFS_BUF_INIT;
	int r = fetch(e, c, caps[0], target, &body);
	if (!r) {
		if (json) {
			r = cfs_buf_append(out, body.data, body.len);
			if (!r && (!body.len || body.data[body.len - 1] != '\n'))
				r = cfs_buf_puts(out, "\n");
		} else {
			r = json_to_text(body.data ? body.data : "", body.len, out);
		}
	}
	cfs_buf_free(&body);
	return r;
}

/* ---- logs/ and config/ ---- */

static bool in_list(const char (*list)[65], int n, const char *name)
{
	for (int i = 0; i < n; i++)
		if (strcmp(list[i], name) == 0)
			return true;
	return false;
}

static int names_list(struct cfs_engine *e, const struct cfs_caller *c, const char *name,
		      bool logs, cfs_emit_fn emit, void *ctx)
{
	if (!(instance_permitted(e, &c->user, name) & CFS_ACT_READ))
		return 0;
	struct inst_status s;
	runtime_get(e, name, &s);
	int n = logs ? s.nlogs : s.nconfigs;
	for (int i = 0; i < n; i++) {
		int r = emit(ctx, logs ? s.logs[i] : s.configs[i]);
		if (r < 0)
			return r;
	}
	return 0;
}

int cfs_instance_logs_list(struct cfs_engine *e, const struct cfs_caller *c,
			   const char *const *caps, cfs_emit_fn emit, void *ctx)
{
	return names_list(e, c, caps[0], true, emit, ctx);
}

int cfs_instance_config_list(struct cfs_engine *e, const struct cfs_caller *c,
			     const char *const *caps, cfs_emit_fn emit, void *ctx)
{
	return names_list(e, c, caps[0], false, emit, ctx);
}

static int name_exists(struct cfs_engine *e, const char *inst, const char *name, bool logs)
{
	struct inst_status s;
	runtime_get(e, inst, &s);
	return in_list(logs ? (const char (*)[65])s.logs : (const char (*)[65])s.configs,
		       logs ? s.nlogs : s.nconfigs, name) ? 0 : -ENOENT;
}

int cfs_instance_log_exists(struct cfs_engine *e, const struct cfs_caller *c,
			    const char *const *caps, int depth)
{
	(void)c;
	return name_exists(e, caps[0], caps[depth], true);
}

int cfs_instance_config_exists(struct cfs_engine *e, const struct cfs_caller *c,
			       const char *const *caps, int depth)
{
	(void)c;
	return name_exists(e, caps[0], caps[depth], false);
}

int cfs_instance_named_show(struct cfs_engine *e, const struct cfs_caller *c,
			    const char *const *caps, const char *arg, struct cfs_buf *out)
{
	struct cfs_buf target = CFS_BUF_INIT;
	bool logs = strcmp(arg, "log") == 0;
	cfs_buf_puts(&target, logs ? "/v1/logs?name=" : "/v1/config?name=");
	wire_urlencode(caps[1], &target);
	if (logs)
		cfs_buf_puts(&target, "&lines=200");
	int r = fetch(e, c, caps[0], target.data, out);
	cfs_buf_free(&target);
	return r;
}
