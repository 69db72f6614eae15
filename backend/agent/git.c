/* git.c — /v1/git/OP: repositories below the root, through the git CLI.
 *
 * Every call is `git -C . ARGS…` with a fixed argv, run (exec.c) in the
 * repository's directory reached through a confined descriptor, never through
 * a path a concurrent rename could redirect.  No shell, no prompts
 * (GIT_TERMINAL_PROMPT=0, stdin /dev/null, ssh in batch mode), pathspec magic
 * off for the paths a caller names.
 *
 * An agent running as root runs git as the owner of the repository: git's
 * hooks, fsmonitor and filters are configured by whoever can write .git/, and
 * must not run with more rights than that user has (this is also what git's
 * own safe.directory check asks for). */
#include "agent/internal.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "core/util.h"

#define GIT_TIMEOUT_MS (60 * 1000)
#define GIT_NET_TIMEOUT_MS (5 * 60 * 1000)
#define GIT_MAX_REPOS 1000
#define GIT_MAX_SCAN 100000       /* directory entries looked at while listing */
#define GIT_MAX_PATHS 1000

extern char **environ;

struct git_repo {
	int fd;                  /* O_PATH of the work tree */
	uid_t uid;
	gid_t gid;
	bool as_user;
	char home[PATH_MAX];
};

static void repo_close(struct git_repo *g)
{
	if (g->fd >= 0)
		close(g->fd);
	g->fd = -1;
}

/* Resolve repo= below the root and check it holds .git; replies on failure. */
static bool repo_open(struct agent *a, const struct query *q, struct git_repo *g,
		      struct wire_response *rs)
{
	size_t len;
	const char *p = agent_query_get(q, "repo", &len);
	g->fd = -1;
	if (!p) {
		agent_reply_error(rs, 400, "bad_request", "missing repo=");
		return false;
	}
	int r = confine_open(&a->confine, p, len, O_PATH | O_DIRECTORY, &g->fd);
	if (r) {
		agent_reply_confine_error(rs, r, "repo");
		return false;
	}
	struct stat st, gs;
	if (fstat(g->fd, &st) < 0 || fstatat(g->fd, ".git", &gs, AT_SYMLINK_NOFOLLOW) < 0) {
		agent_reply_error(rs, 404, "not_a_repo", "%.200s holds no .git", p);
		repo_close(g);
		return false;
	}
	g->uid = st.st_uid;
	g->gid = st.st_gid;
	g->as_user = a->is_root && st.st_uid != 0;
	snprintf(g->home, sizeof g->home, "/");
	if (g->as_user) {
		struct passwd pw, *res = NULL;
		char buf[4096];
		if (getpwuid_r(g->uid, &pw, buf, sizeof buf, &res) == 0 && res && res->pw_dir)
			snprintf(g->home, sizeof g->home, "%s", res->pw_dir);
	} else if (getenv("HOME")) {
		snprintf(g->home, sizeof g->home, "%s", getenv("HOME"));
	}
	return true;
}

/* Our environment with git's safety settings on top; free with free_env. */
static char **build_env(const struct git_repo *g)
{
	static const char *const drop[] = { "HOME=", "GIT_TERMINAL_PROMPT=", "LC_ALL=",
					    "GIT_LITERAL_PATHSPECS=", "GIT_OPTIONAL_LOCKS=",
					    "GIT_DIR=", "GIT_WORK_TREE=", "GIT_INDEX_FILE=" };
	size_t n = 0;
	bool have_ssh = getenv("GIT_SSH_COMMAND") || getenv("GIT_SSH");
	while (environ[n])
		n++;
	char **env = calloc(n + 8, sizeof *env);
	if (!env)
		return NULL;
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		bool skip = false;
		for (size_t d = 0; d < sizeof drop / sizeof drop[0]; d++)
			skip |= !strncmp(environ[i], drop[d], strlen(drop[d]));
		if (!skip && !(env[o++] = strdup(environ[i])))
			goto fail;
	}
	if (asprintf(&env[o++], "HOME=%s", g->home) < 0) {
		env[o - 1] = NULL;
		goto fail;
	}
	static const char *const add[] = { "GIT_TERMINAL_PROMPT=0", "LC_ALL=C",
					   "GIT_LITERAL_PATHSPECS=1", "GIT_OPTIONAL_LOCKS=0" };
	for (size_t i = 0; i < 4; i++)
		if (!(env[o++] = strdup(add[i])))
			goto fail;
	if (!have_ssh && !(env[o++] = strdup("GIT_SSH_COMMAND=ssh -o BatchMode=yes")))
		goto fail;
	return env;
fail:
	for (size_t i = 0; env[i]; i++)
		free(env[i]);
	free(env);
	return NULL;
}

static void free_env(char **env)
{
	for (size_t i = 0; env && env[i]; i++)
		free(env[i]);
	free(env);
}

/* Run git ARGS in the repo.  0 with r filled, or replies (and returns
 * non-zero) when git could not run at all. */
static int run_git(struct agent *a, const struct git_repo *g, const char *const *args, size_t n,
		   int64_t timeout_ms, struct exec_result *r, struct wire_response *rs)
{
	const char **argv = calloc(n + 4, sizeof *argv);
	char **env = build_env(g);
	int ret = -ENOMEM;
	if (argv && env) {
		argv[0] = "git";
		argv[1] = "-C";
		argv[2] = ".";
		memcpy(argv + 3, args, n * sizeof *argv);
		struct exec_spec spec = {
			.argv = (char *const *)argv,
			.envp = env,
			.cwd_fd = g->fd,
			.timeout_ms = timeout_ms,
			.output_cap = AGENT_READ_MAX,
			.as_user = g->as_user,
			.uid = g->uid,
			.gid = g->gid,
		};
		ret = agent_exec_run(a, &spec, r);
	}
	free(argv);
	free_env(env);
	if (ret) {
		char nb[16];
		agent_reply_error(rs, 500, "exec_failed", "cannot run git (%s): %s",
				  agent_errno_name(ret, nb), strerror(-ret));
	}
	return ret;
}

/* ----- listing repositories ----- */

struct scan {
	cJSON *arr;
	int repos, seen;
	char path[PATH_MAX];
};

static void scan_dir(struct scan *s, int dfd, size_t plen, int depth)
{
	struct stat gs;
	if (fstatat(dfd, ".git", &gs, AT_SYMLINK_NOFOLLOW) == 0) {
		if (s->repos++ < GIT_MAX_REPOS) {
			cJSON *o = cJSON_CreateObject();
			if (o) {
				agent_json_bytes(o, "path", plen ? s->path : ".", plen ? plen : 1);
				cJSON_AddItemToArray(s->arr, o);
			}
		}
		return;   /* nested repositories are the outer one's business */
	}
	if (depth >= AGENT_GIT_DEPTH)
		return;
	int fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		if (fd >= 0)
			close(fd);
		return;
	}
	struct dirent *de;
	while ((de = readdir(d)) && s->seen++ < GIT_MAX_SCAN && s->repos < GIT_MAX_REPOS) {
		const char *n = de->d_name;
		if (n[0] == '.' || (de->d_type != DT_DIR && de->d_type != DT_UNKNOWN))
			continue;   /* hidden directories are skipped, symlinks not followed */
		size_t nl = strlen(n);
		if (plen + nl + 2 >= sizeof s->path)
			continue;
		int sub = openat(dirfd(d), n, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (sub < 0)
			continue;
		size_t np = plen;
		if (np)
			s->path[np++] = '/';
		memcpy(s->path + np, n, nl + 1);
		scan_dir(s, sub, np + nl, depth + 1);
		s->path[plen] = '\0';
		close(sub);
	}
	closedir(d);
}

static void git_repos(struct agent *a, struct wire_response *rs)
{
	struct scan s = { .arr = cJSON_CreateArray() };
	cJSON *j = cJSON_CreateObject();
	if (!s.arr || !j) {
		cJSON_Delete(s.arr);
		cJSON_Delete(j);
		agent_reply_error(rs, 500, "internal", "out of memory");
		return;
	}
	scan_dir(&s, a->confine.rootfd, 0, 0);
	cJSON_AddItemToObject(j, "repos", s.arr);
	cJSON_AddBoolToObject(j, "truncated", s.repos > GIT_MAX_REPOS || s.seen >= GIT_MAX_SCAN);
	agent_reply_json(rs, 200, j);
}

/* ----- status ----- */

static cJSON *entry(const char *path, size_t len, char code, const char *orig)
{
	cJSON *o = cJSON_CreateObject();
	if (!o)
		return NULL;
	agent_json_bytes(o, "path", path, len);
	if (code) {
		char c[2] = { code, 0 };
		cJSON_AddStringToObject(o, "status", c);
	}
	if (orig)
		agent_json_bytes(o, "orig_path", orig, strlen(orig));
	return o;
}

/* The path after n blank-separated fields of a porcelain v2 record. */
static const char *after_fields(const char *rec, int n)
{
	const char *p = rec;
	for (int i = 0; i < n; i++) {
		p = strchr(p, ' ');
		if (!p)
			return NULL;
		p++;
	}
	return p;
}

/* Parse `git status --porcelain=v2 --branch -z` output into j. */
int agent_git_parse_status(const char *out, size_t len, cJSON *j)
{
	cJSON *staged = cJSON_AddArrayToObject(j, "staged");
	cJSON *unstaged = cJSON_AddArrayToObject(j, "unstaged");
	cJSON *untracked = cJSON_AddArrayToObject(j, "untracked");
	cJSON *conflicted = cJSON_AddArrayToObject(j, "conflicted");
	const char *branch = NULL, *oid = NULL, *upstream = NULL;
	long ahead = 0, behind = 0;
	if (!staged || !unstaged || !untracked || !conflicted)
		return -ENOMEM;
	const char *p = out, *end = out + len;
	while (p < end) {
		const char *rec = p;
		size_t rl = strnlen(p, (size_t)(end - p));
		p += rl + 1;
		if (rl < 2)
			continue;
		if (!strncmp(rec, "# branch.oid ", 13)) {
			oid = rec + 13;
		} else if (!strncmp(rec, "# branch.head ", 14)) {
			branch = rec + 14;
		} else if (!strncmp(rec, "# branch.upstream ", 18)) {
			upstream = rec + 18;
		} else if (!strncmp(rec, "# branch.ab ", 12)) {
			sscanf(rec + 12, "+%ld -%ld", &ahead, &behind);
		} else if ((rec[0] == '1' || rec[0] == '2') && rec[1] == ' ' && rl > 5) {
			char x = rec[2], y = rec[3];
			const char *path = after_fields(rec, rec[0] == '1' ? 8 : 9);
			const char *orig = NULL;
			if (rec[0] == '2' && p < end) {
				orig = p;   /* -z: the original path is the next record */
				p += strnlen(p, (size_t)(end - p)) + 1;
			}
			if (!path)
				continue;
			size_t pl = strlen(path);
			if (x != '.')
				cJSON_AddItemToArray(staged, entry(path, pl, x, orig));
			if (y != '.')
				cJSON_AddItemToArray(unstaged, entry(path, pl, y, NULL));
		} else if (rec[0] == 'u' && rec[1] == ' ') {
			const char *path = after_fields(rec, 10);
			if (path)
				cJSON_AddItemToArray(conflicted,
						     entry(path, strlen(path), rec[2], NULL));
		} else if (rec[0] == '?' && rec[1] == ' ') {
			cJSON_AddItemToArray(untracked, entry(rec + 2, rl - 2, 0, NULL));
		}
	}
	bool detached = branch && !strcmp(branch, "(detached)");
	if (branch && !detached)
		cJSON_AddStringToObject(j, "branch", branch);
	else
		cJSON_AddNullToObject(j, "branch");
	cJSON_AddBoolToObject(j, "detached", detached);
	if (oid && strcmp(oid, "(initial)"))
		cJSON_AddStringToObject(j, "oid", oid);
	else
		cJSON_AddNullToObject(j, "oid");
	if (upstream)
		cJSON_AddStringToObject(j, "upstream", upstream);
	else
		cJSON_AddNullToObject(j, "upstream");
	agent_json_i64(j, "ahead", ahead);
	agent_json_i64(j, "behind", behind);
	cJSON_AddBoolToObject(j, "clean", !cJSON_GetArraySize(staged) &&
			      !cJSON_GetArraySize(unstaged) && !cJSON_GetArraySize(untracked) &&
			      !cJSON_GetArraySize(conflicted));
	return 0;
}

static void reply_git_failed(struct wire_response *rs, const char *what,
			     const struct exec_result *er)
{
	cJSON *j = agent_exec_result_json(er);
	if (j) {
		char msg[240];
		const char *o = er->output.data ? er->output.data : "";
		int l = (int)strcspn(o, "\n");
		snprintf(msg, sizeof msg, "git %s failed: %.*s", what, l > 200 ? 200 : l, o);
		if (!agent_utf8_valid(msg, strlen(msg)))
			snprintf(msg, sizeof msg, "git %s failed", what);
		cJSON_AddStringToObject(j, "error", er->timed_out ? "git_timeout" : "git_failed");
		cJSON_AddStringToObject(j, "errno", er->timed_out ? "ETIMEDOUT" : "EIO");
		cJSON_AddStringToObject(j, "message", msg);
	}
	agent_reply_json(rs, er->timed_out ? 504 : 409, j);
}

static void git_status(struct agent *a, const struct git_repo *g, struct wire_response *rs)
{
	static const char *const args[] = { "status", "--porcelain=v2", "--branch", "-z",
					    "--untracked-files=all" };
	struct exec_result er;
	if (run_git(a, g, args, 5, GIT_TIMEOUT_MS, &er, rs))
		return;
	if (er.exit_code != 0 || er.signal) {
		reply_git_failed(rs, "status", &er);
	} else {
		cJSON *j = cJSON_CreateObject();
		if (j && agent_git_parse_status(er.output.data ? er.output.data : "", er.output.len, j)) {
			cJSON_Delete(j);
			j = NULL;
		}
		if (j)
			cJSON_AddBoolToObject(j, "truncated", er.truncated);
		agent_reply_json(rs, 200, j);
	}
	agent_exec_result_free(&er);
}

/* Records split by 0x1e, fields by 0x1f, into objects with the given keys. */
static cJSON *split_records(const char *out, size_t len, const char *const *keys, size_t nk)
{
	cJSON *arr = cJSON_CreateArray();
	const char *p = out, *end = out + len;
	while (arr && p < end) {
		while (p < end && (*p == '\n' || *p == '\r'))
			p++;
		if (p >= end)
			break;
		const char *re = memchr(p, 0x1e, (size_t)(end - p));
		if (!re)
			re = end;
		cJSON *o = cJSON_CreateObject();
		if (!o)
			break;
		const char *f = p;
		for (size_t k = 0; k < nk && f <= re; k++) {
			const char *fe = memchr(f, 0x1f, (size_t)(re - f));
			if (!fe || k == nk - 1)
				fe = re;
			agent_json_bytes(o, keys[k], f, (size_t)(fe - f));
			f = fe + 1;
		}
		cJSON_AddItemToArray(arr, o);
		p = re + 1;
	}
	return arr;
}

static void git_log(struct agent *a, const struct git_repo *g, const struct query *q,
		    struct wire_response *rs)
{
	uint64_t n = 20;
	const char *ns = agent_query_get(q, "n", NULL);
	if (ns && (cfs_parse_u64(ns, &n) || n == 0 || n > 1000)) {
		agent_reply_error(rs, 400, "bad_request", "n= is 1..1000");
		return;
	}
	char count[32];
	snprintf(count, sizeof count, "--max-count=%llu", (unsigned long long)n);
	const char *args[] = { "log", count, "--no-color",
			       "--format=%H%x1f%an%x1f%ae%x1f%aI%x1f%s%x1e" };
	struct exec_result er;
	if (run_git(a, g, args, 4, GIT_TIMEOUT_MS, &er, rs))
		return;
	const char *o = er.output.data ? er.output.data : "";
	bool unborn = er.exit_code == 128 && strstr(o, "does not have any commits");
	if ((er.exit_code != 0 || er.signal) && !unborn) {
		reply_git_failed(rs, "log", &er);
	} else {
		static const char *const keys[] = { "hash", "author", "email", "date", "subject" };
		cJSON *j = cJSON_CreateObject();
		cJSON *arr = split_records(unborn ? "" : o, unborn ? 0 : er.output.len, keys, 5);
		if (j && arr)
			cJSON_AddItemToObject(j, "commits", arr);
		else
			cJSON_Delete(arr);
		agent_reply_json(rs, 200, j);
	}
	agent_exec_result_free(&er);
}

static void git_branches(struct agent *a, const struct git_repo *g, struct wire_response *rs)
{
	static const char *const args[] = {
		"for-each-ref",
		"--format=%(refname:short)%1f%(objectname)%1f%(upstream:short)%1f%(HEAD)%1e",
		"refs/heads"
	};
	struct exec_result er;
	if (run_git(a, g, args, 3, GIT_TIMEOUT_MS, &er, rs))
		return;
	if (er.exit_code != 0 || er.signal) {
		reply_git_failed(rs, "branches", &er);
	} else {
		static const char *const keys[] = { "name", "hash", "upstream", "head" };
		cJSON *j = cJSON_CreateObject();
		cJSON *arr = split_records(er.output.data ? er.output.data : "", er.output.len,
					   keys, 4);
		cJSON *it;
		cJSON_ArrayForEach(it, arr) {
			/* "head" holds "*" for the checked-out branch: make it a boolean */
			const cJSON *h = cJSON_GetObjectItemCaseSensitive(it, "head");
			bool cur = cJSON_IsString(h) && !strcmp(h->valuestring, "*");
			cJSON_DeleteItemFromObjectCaseSensitive(it, "head");
			cJSON_AddBoolToObject(it, "current", cur);
			const cJSON *u = cJSON_GetObjectItemCaseSensitive(it, "upstream");
			if (cJSON_IsString(u) && !*u->valuestring) {
				cJSON_DeleteItemFromObjectCaseSensitive(it, "upstream");
				cJSON_AddNullToObject(it, "upstream");
			}
		}
		if (j && arr)
			cJSON_AddItemToObject(j, "branches", arr);
		else
			cJSON_Delete(arr);
		agent_reply_json(rs, 200, j);
	}
	agent_exec_result_free(&er);
}

/* A relative path inside the repository (syntax only: git itself refuses to
 * step through symlinks). */
static bool path_ok(const char *p)
{
	return *p && confine_check(p, strlen(p)) == 0 && strcmp(p, ".");
}

static void git_diff(struct agent *a, const struct git_repo *g, const struct query *q,
		     struct wire_response *rs)
{
	const char *args[8] = { "diff", "--no-color", "--no-ext-diff", "--no-textconv" };
	size_t n = 4;
	const char *staged = agent_query_get(q, "staged", NULL);
	const char *path = agent_query_get(q, "path", NULL);
	if (staged && (!strcmp(staged, "1") || !strcmp(staged, "yes") || !strcmp(staged, "true")))
		args[n++] = "--cached";
	if (path) {
		if (!path_ok(path)) {
			agent_reply_error(rs, 403, "outside_root", "path= must be relative to the repository");
			return;
		}
		args[n++] = "--";
		args[n++] = path;
	}
	struct exec_result er;
	if (run_git(a, g, args, n, GIT_TIMEOUT_MS, &er, rs))
		return;
	if (er.exit_code != 0 || er.signal) {
		reply_git_failed(rs, "diff", &er);
	} else {
		cfs_buf_reset(&rs->body);
		if (er.output.len)
			cfs_buf_append(&rs->body, er.output.data, er.output.len);
		if (er.truncated)
			cfs_buf_printf(&rs->body, "\n[diff truncated at %u bytes]\n", AGENT_READ_MAX);
		if (!rs->body.data)
			cfs_buf_puts(&rs->body, "");
		rs->status = 200;
		rs->content_type = "text/plain; charset=utf-8";
	}
	agent_exec_result_free(&er);
}

/* A branch name we pass on: git's own rules decide the rest, but nothing
 * that could read as an option or a revision expression. */
static bool branch_ok(const char *b)
{
	size_t n = strlen(b);
	if (n == 0 || n > 200 || b[0] == '-' || b[0] == '.' || strstr(b, "..") ||
	    strstr(b, "@{") || b[n - 1] == '/' || b[n - 1] == '.')
		return false;
	for (const char *p = b; *p; p++)
		if ((unsigned char)*p <= ' ' || strchr("~^:?*[\\\x7f", *p))
			return false;
	return true;
}

static void git_action(struct agent *a, const struct git_repo *g, const char *op,
		       const struct wire_request *rq, struct wire_response *rs)
{
	cJSON *body = rq->body_len ? cJSON_ParseWithLength(rq->body, rq->body_len) : NULL;
	const char **args = NULL;
	size_t n = 0;
	int64_t timeout = GIT_TIMEOUT_MS;
	char *msg_arg = NULL;
	if (rq->body_len && !cJSON_IsObject(body)) {
		agent_reply_error(rs, 400, "bad_json", "the body must be a JSON object");
		goto out;
	}
	args = calloc(GIT_MAX_PATHS + 8, sizeof *args);
	if (!args) {
		agent_reply_error(rs, 500, "internal", "out of memory");
		goto out;
	}
	if (!strcmp(op, "stage") || !strcmp(op, "unstage")) {
		const cJSON *paths = cJSON_GetObjectItemCaseSensitive(body, "paths"), *it;
		int np = cJSON_GetArraySize(paths);
		if (!cJSON_IsArray(paths) || np == 0 || np > GIT_MAX_PATHS) {
			agent_reply_error(rs, 400, "bad_request", "%s takes {\"paths\":[…]} (1..%d)", op,
					  GIT_MAX_PATHS);
			goto out;
		}
		if (!strcmp(op, "stage")) {
			args[n++] = "add";
			args[n++] = "-A";
		} else {
			args[n++] = "reset";
			args[n++] = "-q";
		}
		args[n++] = "--";
		cJSON_ArrayForEach(it, paths) {
			if (!cJSON_IsString(it) || !path_ok(it->valuestring)) {
				agent_reply_error(rs, 403, "outside_root",
					    "every path must be relative to the repository, without ..");
				goto out;
			}
			args[n++] = it->valuestring;
		}
	} else if (!strcmp(op, "commit")) {
		const cJSON *m = cJSON_GetObjectItemCaseSensitive(body, "message");
		if (!cJSON_IsString(m) || !*m->valuestring) {
			agent_reply_error(rs, 400, "bad_request", "commit takes {\"message\":\"…\"}");
			goto out;
		}
		if (asprintf(&msg_arg, "--message=%s", m->valuestring) < 0) {
			msg_arg = NULL;
			agent_reply_error(rs, 500, "internal", "out of memory");
			goto out;
		}
		args[n++] = "commit";
		args[n++] = "--quiet";
		args[n++] = msg_arg;
	} else if (!strcmp(op, "checkout") || !strcmp(op, "branch")) {
		const char *key = !strcmp(op, "checkout") ? "branch" : "name";
		const cJSON *b = cJSON_GetObjectItemCaseSensitive(body, key);
		if (!cJSON_IsString(b) || !branch_ok(b->valuestring)) {
			agent_reply_error(rs, 400, "bad_request", "%s takes {\"%s\":\"BRANCH\"} (a valid "
					  "branch name)", op, key);
			goto out;
		}
		args[n++] = !strcmp(op, "checkout") ? "switch" : "branch";
		args[n++] = b->valuestring;
	} else if (!strcmp(op, "pull")) {
		args[n++] = "pull";
		args[n++] = "--ff-only";
		timeout = GIT_NET_TIMEOUT_MS;
	} else {   /* push */
		args[n++] = "push";
		timeout = GIT_NET_TIMEOUT_MS;
	}
	struct exec_result er;
	if (run_git(a, g, args, n, timeout, &er, rs))
		goto out;
	log_info("git %s: exit %d", op, er.signal ? 128 + er.signal : er.exit_code);
	if (er.exit_code != 0 || er.signal) {
		reply_git_failed(rs, op, &er);
	} else {
		cJSON *j = agent_exec_result_json(&er);
		if (j)
			cJSON_AddTrueToObject(j, "ok");
		agent_reply_json(rs, 200, j);
	}
	agent_exec_result_free(&er);
out:
	free(msg_arg);
	free(args);
	cJSON_Delete(body);
}

void agent_route_git(struct agent *a, const char *op, const struct wire_request *rq,
		     const struct query *q, struct wire_response *rs)
{
	static const char *const reads[] = { "repos", "status", "log", "branches", "diff" };
	static const char *const writes[] = { "stage", "unstage", "commit", "checkout",
					      "branch", "pull", "push" };
	bool is_read = false, is_write = false;
	for (size_t i = 0; i < 5; i++)
		is_read |= !strcmp(op, reads[i]);
	for (size_t i = 0; i < 7; i++)
		is_write |= !strcmp(op, writes[i]);
	if (!is_read && !is_write) {
		agent_reply_error(rs, 404, "not_found", "no git operation %.64s", op);
		return;
	}
	const char *m = rq->method ? rq->method : "";
	if (is_read ? strcmp(m, "GET") : strcmp(m, "POST")) {
		agent_reply_error(rs, 405, "method_not_allowed", "git/%s takes %s", op,
				  is_read ? "GET" : "POST");
		return;
	}
	if (!strcmp(op, "repos")) {
		git_repos(a, rs);
		return;
	}
	struct git_repo g;
	if (!repo_open(a, q, &g, rs))
		return;
	if (!strcmp(op, "status"))
		git_status(a, &g, rs);
	else if (!strcmp(op, "log"))
		git_log(a, &g, q, rs);
	else if (!strcmp(op, "branches"))
		git_branches(a, &g, rs);
	else if (!strcmp(op, "diff"))
		git_diff(a, &g, q, rs);
	else
		git_action(a, &g, op, rq, rs);
	repo_close(&g);
}
