/* commands.c — /instances/NAME/ctl: run allow-listed commands (as jobs),
 * restart, update, refresh, rotate the shared secret, remove. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/permit.h"
#include "core/engine_priv.h"
#include "core/events.h"
#include "core/jobs.h"
#include "core/log.h"
#include "core/util.h"
#include "instances/instances.h"

int instance_remove_checked(struct cfs_engine *e, const struct cfs_caller *c, const char *name,
			    struct cfs_err *err);

struct exec_arg {
	char name[65];
	char *body;     /* {"name":…,"args":[…]} */
};

static void exec_arg_free(void *p)
{
	struct exec_arg *a = p;
	if (a) {
		free(a->body);
		free(a);
	}
}

/* The job: POST /v1/exec, the output into the job's log, a failure (non-zero
 * exit, signal, timeout) fails the job. */
static int exec_job(struct cfs_job *j, void *arg)
{
	struct exec_arg *a = arg;
	struct cfs_engine *e = job_engine(j);
	struct agent_target t;
	struct agent_reply r;
	struct cfs_err err = { 0 };
	job_progress(j, "running on %s", a->name);
	int rc = agent_target_load(e, a->name, &t, &err);
	if (rc)
		return job_fail(j, rc, "%s", err.msg);
	rc = agent_call(e, &t, "POST", "/v1/exec", a->body, strlen(a->body), &r, &err);
	agent_target_wipe(&t);
	if (rc) {
		agent_reply_free(&r);
		return job_fail(j, rc, "%s", err.msg);
	}
	cJSON *res = cJSON_ParseWithLength(r.body.data ? r.body.data : "", r.body.len);
	agent_reply_free(&r);
	if (!res)
		return job_fail(j, -EIO, "%s: the agent's answer is not JSON", a->name);
	const cJSON *out = cJSON_GetObjectItemCaseSensitive(res, "output");
	const cJSON *enc = cJSON_GetObjectItemCaseSensitive(res, "output_encoding");
	const cJSON *code = cJSON_GetObjectItemCaseSensitive(res, "exit_code");
	const cJSON *sig = cJSON_GetObjectItemCaseSensitive(res, "signal");
	const cJSON *to = cJSON_GetObjectItemCaseSensitive(res, "timed_out");
	const cJSON *tr = cJSON_GetObjectItemCaseSensitive(res, "truncated");
	if (cJSON_IsString(out)) {
		if (cJSON_IsString(enc) && strcmp(enc->valuestring, "base64") == 0)
			job_log(j, "output (base64, not UTF-8): %s", out->valuestring);
		else if (out->valuestring[0])
			job_log(j, "output:\n%s", out->valuestring);
	}
	if (cJSON_IsTrue(tr))
		job_log(j, "output truncated at the agent's output_cap");
	int result = 0;
	if (cJSON_IsTrue(to)) {
		result = job_fail(j, -EIO, "timed out (killed by the agent)");
	} else if (cJSON_IsNumber(sig) && sig->valuedouble > 0) {
		result = job_fail(j, -EIO, "killed by signal %d", (int)sig->valuedouble);
	} else if (cJSON_IsNumber(code)) {
		int c = (int)code->valuedouble;
		job_log(j, "exit status %d", c);
		job_progress(j, "exit status %d", c);
		if (c != 0)
			result = job_fail(j, -EIO, "exit status %d", c);
	}
	cJSON_Delete(res);
	return result;
}

static int start_exec(struct ctl_ctx *x, const struct ctl_args *a, const char *cmd,
		      const char *const *args, int nargs, struct ctl_outcome *o, struct cfs_err *err)
{
	int r = engine_wait_opt(a, err);
	if (r)
		return r;
	const char *name = x->caps[0];
	struct inst_status s;
	runtime_get(x->e, name, &s);
	if (s.info_known) {
		bool found = false;
		for (int i = 0; i < s.ncmds; i++)
			found |= strcmp(s.cmds[i], cmd) == 0;
		if (!found)
			return cfs_errf(err, -EACCES, "%s: %s is not in %s's command allow-list", a->verb,
					cmd, name);
	}
	cJSON *body = cJSON_CreateObject();
	cJSON_AddStringToObject(body, "name", cmd);
	cJSON *arr = cJSON_AddArrayToObject(body, "args");
	for (int i = 0; i < nargs; i++)
		cJSON_AddItemToArray(arr, cJSON_CreateString(args[i]));
	struct exec_arg *ea = calloc(1, sizeof *ea);
	if (ea)
		ea->body = cJSON_PrintUnformatted(body);
	cJSON_Delete(body);
	if (!ea || !ea->body) {
		exec_arg_free(ea);
		return cfs_errf(err, -ENOMEM, "out of memory");
	}
	snprintf(ea->name, sizeof ea->name, "%s", name);
	char desc[256];
	snprintf(desc, sizeof desc, "%s: run %s%s", name, cmd, nargs ? " …" : "");
	long long id;
	r = jobs_submit(x->e->jobs, x->c->user.name, x->c->user.uid, desc, exec_job, ea,
			exec_arg_free, &id);
	if (r)
		return cfs_errf(err, r, "%s: cannot queue the job", a->verb);
	return engine_run_job_cmd(x->e, x->c, a, o, err, id);
}

static int inst_run(void *ctx, const struct ctl_args *a, struct ctl_outcome *o, struct cfs_err *err)
{
	if (!cfs_name_valid(a->pos[0]))
		return cfs_errf(err, -EINVAL, "run: NAME must be a command name from agent.conf");
	return start_exec(ctx, a, a->pos[0], a->pos + 1, a->npos - 1, o, err);
}

static int inst_restart(void *ctx, const struct ctl_args *a, struct ctl_outcome *o,
			struct cfs_err *err)
{
	struct ctl_ctx *x = ctx;
	struct inst_status s;
	runtime_get(x->e, x->caps[0], &s);
	if (s.info_known) {
		bool found = false;
		for (int i = 0; i < s.ncmds; i++)
			found |= strcmp(s.cmds[i], a->verb) == 0;
		if (!found)
			return cfs_errf(err, -ENOENT, "%s: the agent of %s defines no %s command",
					a->verb, x->caps[0], a->verb);
	}
	return start_exec(ctx, a, a->verb, NULL, 0, o, err);
}

static int inst_refresh(void *ctx, const struct ctl_args *a, struct ctl_outcome *o,
			struct cfs_err *err)
{
	(void)a, (void)err;
	struct ctl_ctx *x = ctx;
	poller_poll_now(x->e, x->caps[0]);
	struct inst_status s;
	runtime_get(x->e, x->caps[0], &s);
	ctl_ok(o, "status", "%s", s.status);
	return 0;
}

/* The new secret travels sealed under a key derived from the old one, in a
 * request signed with the old one; only when the agent took it is it stored
 * here.  An unreachable agent leaves everything as it was. */
static int inst_rotate(void *ctx, const struct ctl_args *a, struct ctl_outcome *o,
		       struct cfs_err *err)
{
	(void)a;
	struct ctl_ctx *x = ctx;
	const char *name = x->caps[0];
	char owner[64];
	if (instance_owner(x->e, name, owner, sizeof owner))
		return cfs_errf(err, -ENOENT, "rotate: no instance named %s", name);
	if (!x->c->user.superadmin && strcmp(owner, x->c->user.name) != 0)
		return cfs_errf(err, -EACCES, "rotate: only the owner (%s) or a superadmin may rotate",
				owner);
	struct agent_target t;
	int r = agent_target_load(x->e, name, &t, err);
	if (r)
		return r;
	uint8_t fresh[CFS_KEY_LEN], *sealed = NULL;
	size_t sealed_len = 0;
	char *hex = NULL, *body = NULL;
	struct agent_reply rep = { 0 };
	r = cfs_random(fresh, sizeof fresh);
	if (!r)
		r = cfs_seal(t.secret, "rotate", fresh, sizeof fresh, &sealed, &sealed_len);
	if (!r && !(hex = malloc(sealed_len * 2 + 1)))
		r = -ENOMEM;
	if (!r) {
		cfs_hex(sealed, sealed_len, hex);
		if (asprintf(&body, "{\"sealed\":\"%s\"}", hex) < 0) {
			body = NULL;
			r = -ENOMEM;
		}
	}
	if (r) {
		cfs_errf(err, r, "rotate: cannot prepare the new secret");
		goto out;
	}
	r = agent_call(x->e, &t, "POST", "/v1/rotate", body, strlen(body), &rep, err);
	if (r)
		goto out;
	r = registry_store_secret(x->e, name, fresh);
	if (r) {
		/* the agent switched but we could not store: say so loudly */
		log_err("rotate %s: the agent took the new secret but it could not be stored: %s",
			name, strerror(-r));
		cfs_errf(err, -EIO, "rotate: the agent has the new secret but it could not be stored "
				    "here; pair again with cloudfs-agent pair");
		goto out;
	}
	char fresh_hex[65];
	cfs_hex(fresh, sizeof fresh, fresh_hex);
	ctl_ok(o, "name", "%s", name);
	ctl_ok_secret(o, "secret", fresh_hex);
	cfs_cleanse(fresh_hex, sizeof fresh_hex);
	log_info("instance %s: secret rotated by %s", name, x->c->user.name);
	cfs_event_emitf(x->e, "instance.rotated", name, name, NULL, NULL, NULL);
out:
	agent_reply_free(&rep);
	agent_target_wipe(&t);
	cfs_cleanse(fresh, sizeof fresh);
	free(sealed);
	free(hex);
	free(body);
	return r;
}

static int inst_remove(void *ctx, const struct ctl_args *a, struct ctl_outcome *o,
		       struct cfs_err *err)
{
	(void)a;
	struct ctl_ctx *x = ctx;
	int r = instance_remove_checked(x->e, x->c, x->caps[0], err);
	if (!r)
		ctl_ok(o, "removed", "%s", x->caps[0]);
	return r;
}

static const struct ctl_verb instance_verbs[] = {
	{ "run NAME [ARG…] [wait=no]", "run an allow-listed command on the instance, as a job",
	  inst_run },
	{ "restart [wait=no]", "run the agent's restart command", inst_restart },
	{ "update [wait=no]", "run the agent's update command", inst_restart },
	{ "refresh", "poll this instance now", inst_refresh },
	{ "rotate", "replace the shared secret (shown once)", inst_rotate },
	{ "remove", "forget this instance", inst_remove },
};

const struct ctl_verb *cfs_instance_verbs(size_t *n)
{
	*n = sizeof instance_verbs / sizeof instance_verbs[0];
	return instance_verbs;
}

int cfs_instance_ctl(struct cfs_engine *e, const struct cfs_caller *c, const char *const *caps,
		     const char *data, size_t len, struct ctl_outcome *o)
{
	struct ctl_ctx x = { e, c, caps };
	return ctl_exec(instance_verbs, sizeof instance_verbs / sizeof instance_verbs[0], &x, data,
			len, o);
}
