/* git.c — /instances/NAME/git/REPO/: the git repositories found below the
 * agent's root (listed from the names cached when the agent came online),
 * each with status, status.json, log, branches, diff and a ctl running the
 * git CLI on the agent with fixed argv.  Everything here needs the `git`
 * permission on the instance. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/permit.h"
#include "core/engine_priv.h"
#include "core/log.h"
#include "instances/instances.h"
#include "wire/wire.h"

void git_name_encode(const char *path, char *out, size_t len)
{
	size_t o = 0;
	if (!*path || strcmp(path, ".") == 0) {
		snprintf(out, len, "%%2E");
		return;
	}
	for (const char *p = path; *p && o + 4 < len; p++) {
		if (*p == '/' || *p == '%')
			o += (size_t)snprintf(out + o, len - o, "%%%02X", (unsigned char)*p);
		else
			out[o++] = *p;
	}
	out[o] = '\0';
}

int git_name_decode(const char *name, char *out, size_t len)
{
	size_t o = 0;
	if (strcmp(name, "%2E") == 0) {
		snprintf(out, len, ".");
		return 0;
	}
	for (const char *p = name; *p; p++) {
		if (o + 1 >= len)
			return -ENAMETOOLONG;
		if (*p == '%') {
			if (strncmp(p, "%2F", 3) == 0)
				out[o++] = '/';
			else if (strncmp(p, "%25", 3) == 0)
				out[o++] = '%';
			else
				return -ENOENT;
			p += 2;
		} else {
			out[o++] = *p;
		}
	}
	out[o] = '\0';
	return 0;
}

void git_fetch_repos(struct cfs_engine *e, const char *name)
{
	struct agent_target t;
	struct agent_reply r;
	struct cfs_err err;
	if (agent_target_load(e, name, &t, &err))
		return;
	int rc = agent_call(e, &t, "GET", "/v1/git/repos", NULL, 0, &r, &err);
	agent_target_wipe(&t);
	cJSON *j = rc ? NULL : cJSON_ParseWithLength(r.body.data ? r.body.data : "", r.body.len);
	agent_reply_free(&r);
	if (!j)
		return;
	struct inst_status s;
	runtime_get(e, name, &s);
	s.nrepos = 0;
	const cJSON *arr = cJSON_GetObjectItemCaseSensitive(j, "repos"), *it;
	cJSON_ArrayForEach(it, arr)
	{
		const cJSON *p = cJSON_GetObjectItemCaseSensitive(it, "path");
		if (s.nrepos < INST_LIST_MAX && cJSON_IsString(p))
			git_name_encode(p->valuestring, s.repos[s.nrepos++], sizeof s.repos[0]);
	}
	runtime_put(e, &s);
	cJSON_Delete(j);
}

static int need_git(struct cfs_engine *e, const struct cfs_caller *c, const char *inst)
{
	unsigned mask = instance_permitted(e, &c->user, inst);
	if (!mask)
		return -ENOENT;
	return mask & CFS_ACT_GIT ? 0 : -EACCES;
}

int cfs_instance_git_list(struct cfs_engine *e, const struct cfs_caller *c,
			  const char *const *caps, cfs_emit_fn emit, void *ctx)
{
	if (need_git(e, c, caps[0]))
		return 0;
	struct inst_status s;
	runtime_get(e, caps[0], &s);
	for (int i = 0; i < s.nrepos; i++) {
		int r = emit(ctx, s.repos[i]);
		if (r < 0)
			return r;
	}
	return 0;
}

int cfs_instance_git_exists(struct cfs_engine *e, const struct cfs_caller *c,
			    const char *const *caps, int depth)
{
	if (need_git(e, c, caps[0]))
		return -ENOENT;
	struct inst_status s;
	runtime_get(e, caps[0], &s);
	for (int i = 0; i < s.nrepos; i++)
		if (strcmp(s.repos[i], caps[depth]) == 0)
			return 0;
	return -ENOENT;
}

/* One call about a repository: GET for reads, POST with a JSON body for changes. */
static int git_call(struct cfs_engine *e, const char *inst, const char *repo_name, const char *op,
		    const char *extra_query, const char *body, struct agent_reply *r,
		    struct cfs_err *err)
{
	char repo[512];
	if (git_name_decode(repo_name, repo, sizeof repo))
		return cfs_errf(err, -ENOENT, "no repository %s", repo_name);
	struct cfs_buf tg = CFS_BUF_INIT;
	cfs_buf_printf(&tg, "/v1/git/%s?repo=", op);
	wire_urlencode(repo, &tg);
	if (extra_query)
		cfs_buf_puts(&tg, extra_query);
	struct agent_target t;
	int rc = agent_target_load(e, inst, &t, err);
	if (!rc)
		rc = agent_call(e, &t, body ? "POST" : "GET", tg.data, body, body ? strlen(body) : 0, r,
				err);
	else
		memset(r, 0, sizeof *r);
	agent_target_wipe(&t);
	cfs_buf_free(&tg);
	return rc;
}

static void render_entries(const cJSON *arr, const char *label, struct cfs_buf *out)
{
	const cJSON *it;
	cJSON_ArrayForEach(it, arr)
	{
		const cJSON *p = cJSON_GetObjectItemCaseSensitive(it, "path");
		const cJSON *st = cJSON_GetObjectItemCaseSensitive(it, "status");
		if (!cJSON_IsString(p))
			continue;
		cfs_buf_printf(out, "%s %s ", label, cJSON_IsString(st) ? st->valuestring : "?");
		ctl_quote(p->valuestring, out);
		cfs_buf_puts(out, "\n");
	}
}

/* status: "branch B", "upstream U", "ahead N", "behind N", then one line per
 * path: "staged M path", "unstaged M path", "untracked ? path". */
static int status_text(const char *json, size_t len, struct cfs_buf *out)
{
	cJSON *j = cJSON_ParseWithLength(json, len);
	if (!j)
		return -EIO;
	static const char *const keys[] = { "branch", "upstream", "oid" };
	for (size_t i = 0; i < 3; i++) {
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, keys[i]);
		if (cJSON_IsString(v))
			cfs_buf_printf(out, "%s %s\n", keys[i], v->valuestring);
	}
	static const char *const nums[] = { "ahead", "behind" };
	for (size_t i = 0; i < 2; i++) {
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, nums[i]);
		if (cJSON_IsNumber(v))
			cfs_buf_printf(out, "%s %d\n", nums[i], (int)v->valuedouble);
	}
	render_entries(cJSON_GetObjectItemCaseSensitive(j, "staged"), "staged", out);
	render_entries(cJSON_GetObjectItemCaseSensitive(j, "unstaged"), "unstaged", out);
	render_entries(cJSON_GetObjectItemCaseSensitive(j, "untracked"), "untracked", out);
	render_entries(cJSON_GetObjectItemCaseSensitive(j, "conflicted"), "conflicted", out);
	cJSON_Delete(j);
	return 0;
}

static const char *jstr(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	return cJSON_IsString(v) ? v->valuestring : "-";
}

/* log: "HASH DATE AUTHOR SUBJECT"; branches: "* NAME HASH [UPSTREAM]" (* marks
 * the current one); diff: git's text. */
static int output_text(const char *json, size_t len, struct cfs_buf *out)
{
	cJSON *j = cJSON_ParseWithLength(json, len);
	const cJSON *o = cJSON_GetObjectItemCaseSensitive(j, "output");
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(j, "text");
	const cJSON *commits = cJSON_GetObjectItemCaseSensitive(j, "commits");
	const cJSON *branches = cJSON_GetObjectItemCaseSensitive(j, "branches"), *it;
	int r = 0;
	if (cJSON_IsArray(commits)) {
		cJSON_ArrayForEach(it, commits)
			cfs_buf_printf(out, "%s %s %s %s\n", jstr(it, "hash"), jstr(it, "date"),
				       jstr(it, "author"), jstr(it, "subject"));
	} else if (cJSON_IsArray(branches)) {
		cJSON_ArrayForEach(it, branches)
		{
			const cJSON *u = cJSON_GetObjectItemCaseSensitive(it, "upstream");
			cfs_buf_printf(out, "%s %s %s%s%s\n",
				       cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(it, "current")) ? "*" : " ",
				       jstr(it, "name"), jstr(it, "hash"), cJSON_IsString(u) ? " " : "",
				       cJSON_IsString(u) ? u->valuestring : "");
		}
	} else if (cJSON_IsString(o))
		r = cfs_buf_puts(out, o->valuestring);
	else if (cJSON_IsString(t))
		r = cfs_buf_puts(out, t->valuestring);
	else if (j) {
		char *p = cJSON_Print(j);
		r = p ? cfs_buf_printf(out, "%s\n", p) : -ENOMEM;
		free(p);
	} else {
		r = cfs_buf_append(out, json, len);
	}
	cJSON_Delete(j);
	return r;
}

int cfs_instance_git_show(struct cfs_engine *e, const struct cfs_caller *c,
			  const char *const *caps, const char *arg, struct cfs_buf *out)
{
	int r = need_git(e, c, caps[0]);
	if (r)
		return r;
	struct agent_reply rep;
	struct cfs_err err = { 0 };
	const char *op = strncmp(arg, "status", 6) == 0 ? "status" : arg;
	r = git_call(e, caps[0], caps[1], op, strcmp(op, "log") == 0 ? "&n=50" : NULL, NULL, &rep,
		     &err);
	if (!r) {
		const char *d = rep.body.data ? rep.body.data : "";
		if (strcmp(arg, "status.json") == 0)
			r = cfs_buf_append(out, d, rep.body.len) ?: cfs_buf_puts(out, "\n");
		else if (strcmp(arg, "status") == 0)
			r = status_text(d, rep.body.len, out);
		else
			r = output_text(d, rep.body.len, out);
	}
	agent_reply_free(&rep);
	return r;
}

/* ---- ctl ---- */

static int git_change(struct ctl_ctx *x, const char *op, cJSON *body, struct ctl_outcome *o,
		      struct cfs_err *err)
{
	char *txt = body ? cJSON_PrintUnformatted(body) : strdup("{}");
	cJSON_Delete(body);
	if (!txt)
		return cfs_errf(err, -ENOMEM, "out of memory");
	struct agent_reply rep;
	int r = git_call(x->e, x->caps[0], x->caps[1], op, NULL, txt, &rep, err);
	free(txt);
	if (r == -EIO || r == -EINVAL) {
		/* git itself failed: its message is in the agent's answer */
		cJSON *j = cJSON_ParseWithLength(rep.body.data ? rep.body.data : "", rep.body.len);
		const cJSON *m = cJSON_GetObjectItemCaseSensitive(j, "message");
		if (cJSON_IsString(m))
			cfs_errf(err, r, "%s: %s", op, m->valuestring);
		cJSON_Delete(j);
	}
	agent_reply_free(&rep);
	if (!r) {
		ctl_ok(o, "repo", "%s", x->caps[1]);
		ctl_ok(o, "done", "%s", op);
		log_info("git %s on %s/%s by %s", op, x->caps[0], x->caps[1], x->c->user.name);
	}
	return r;
}

static int paths_body(const struct ctl_args *a, cJSON **out)
{
	cJSON *b = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(b, "paths");
	for (int i = 0; i < a->npos; i++)
		cJSON_AddItemToArray(arr, cJSON_CreateString(a->pos[i]));
	*out = b;
	return 0;
}

static int g_stage(void *ctx, const struct ctl_args *a, struct ctl_outcome *o, struct cfs_err *err)
{
	cJSON *b;
	paths_body(a, &b);
	return git_change(ctx, a->verb, b, o, err);
}

static int g_commit(void *ctx, const struct ctl_args *a, struct ctl_outcome *o, struct cfs_err *err)
{
	const char *m = ctl_opt(a, "message");
	if (!m || !*m)
		return cfs_errf(err, -EINVAL, "commit: message=\"…\" is required");
	cJSON *b = cJSON_CreateObject();
	cJSON_AddStringToObject(b, "message", m);
	return git_change(ctx, "commit", b, o, err);
}

static int g_branch(void *ctx, const struct ctl_args *a, struct ctl_outcome *o, struct cfs_err *err)
{
	cJSON *b = cJSON_CreateObject();
	cJSON_AddStringToObject(b, strcmp(a->verb, "checkout") == 0 ? "branch" : "name", a->pos[0]);
	return git_change(ctx, a->verb, b, o, err);
}

static int g_net(void *ctx, const struct ctl_args *a, struct ctl_outcome *o, struct cfs_err *err)
{
	return git_change(ctx, a->verb, NULL, o, err);
}

static const struct ctl_verb git_verbs[] = {
	{ "stage PATH…", "git add -A -- PATH…", g_stage },
	{ "unstage PATH…", "git reset -q -- PATH…", g_stage },
	{ "commit [message=\"…\"]", "git commit with that message (required)", g_commit },
	{ "checkout BRANCH", "git switch BRANCH", g_branch },
	{ "branch NAME", "git branch NAME", g_branch },
	{ "pull", "git pull --ff-only", g_net },
	{ "push", "git push", g_net },
};

const struct ctl_verb *cfs_instance_git_verbs(size_t *n)
{
	*n = sizeof git_verbs / sizeof git_verbs[0];
	return git_verbs;
}

int cfs_instance_git_ctl(struct cfs_engine *e, const struct cfs_caller *c, const char *const *caps,
			 const char *data, size_t len, struct ctl_outcome *o)
{
	int r = need_git(e, c, caps[0]);
	if (r)
		return ctl_outcome_fail(o, r, "git: not permitted on this instance");
	struct ctl_ctx x = { e, c, caps };
	return ctl_exec(git_verbs, sizeof git_verbs / sizeof git_verbs[0], &x, data, len, o);
}

int cfs_instance_git_access(struct cfs_engine *e, const struct cfs_caller *c,
			    const char *const *caps, int write)
{
	(void)write;
	return need_git(e, c, caps[0]);
}
