/* nodes.c — the node table (DESIGN.md section 2) and /README generated from it. */
#include "nodes.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#define DIR(p, d, ...)  { .path = p, .kind = N_DIR, .mode = 0555, .doc = d, __VA_ARGS__ }
#define FILE_(p, d, fn, a, ...) \
	{ .path = p, .kind = N_FILE, .mode = 0444, .doc = d, .show = fn, .arg = a, __VA_ARGS__ }
#define CTL(p, d, fn, v, ...) \
	{ .path = p, .kind = N_CTL, .mode = 0666, .doc = d, .ctl = fn, .verbs = v, __VA_ARGS__ }

struct node_row node_table[] = {
	DIR("", "the root of the mount"),
	FILE_("README", "what this mount is: the tree and every ctl verb (this file)", nodes_readme, NULL),

	DIR("self", "this node and the caller"),
	FILE_("self/env_id", "this node's env_id (UUID, minted at first mount)", cfs_self_show, "env_id"),
	FILE_("self/whoami", "the caller's cloudfs user, uid, gid and roles", cfs_self_show, "whoami"),
	FILE_("self/whoami.json", "the same as JSON", cfs_self_show, "whoami.json"),
	FILE_("self/errors", "the caller's recent failures: time, path, operation, errno, message, hint",
	      cfs_self_show, "errors"),
	FILE_("self/label", "this node's human label (set with label NAME)", cfs_self_show, "label"),
	CTL("self/ctl", "this node's commands", cfs_self_ctl, cfs_self_verbs),

	{ .path = "events", .kind = N_EVENTS, .mode = 0444,
	  .doc = "endless stream, one JSON object per line, of state changes the reader may see" },
	FILE_("metrics", "Prometheus text exposition", cfs_metrics_show, NULL),

	DIR("jobs", "jobs: long-running work started by ctl commands"),
	DIR("jobs/*", "one job", .list = cfs_jobs_list, .exists = cfs_job_exists),
	FILE_("jobs/*/cmd", "the command that started the job", cfs_job_show, "cmd"),
	FILE_("jobs/*/status", "queued | running | ok | error | cancelled", cfs_job_show, "status"),
	FILE_("jobs/*/progress", "a one-line progress report", cfs_job_show, "progress"),
	FILE_("jobs/*/log", "the job's log", cfs_job_show, "log"),
	FILE_("jobs/*/job.json", "all of the above as JSON", cfs_job_show, "job.json"),
	CTL("jobs/*/ctl", "the job's commands", cfs_job_ctl, cfs_job_verbs),

	DIR("instances", "managed hosts, each running cloudfs-agent"),
	CTL("instances/ctl", "register and forget instances", cfs_instances_ctl, cfs_instances_verbs),
	DIR("instances/*", "one instance", .list = cfs_instances_list, .exists = cfs_instance_exists),
	FILE_("instances/*/owner", "the user who added the instance", cfs_instance_show, "owner"),
	FILE_("instances/*/status", "unknown | online | offline | stale", cfs_instance_show, "status"),
	FILE_("instances/*/status.json", "status with last heartbeat, response time, URL",
	      cfs_instance_show, "status.json"),
	FILE_("instances/*/info", "hostname, OS, kernel, arch, uptime, agent version (live)",
	      cfs_instance_live, "info", .flags = NF_LIVE),
	FILE_("instances/*/info.json", "the same as JSON (live)", cfs_instance_live, "info.json",
	      .flags = NF_LIVE),
	FILE_("instances/*/health", "load, memory, disk, uptime (live)", cfs_instance_live, "health",
	      .flags = NF_LIVE),
	FILE_("instances/*/health.json", "the same as JSON (live)", cfs_instance_live, "health.json",
	      .flags = NF_LIVE),
	{ .path = "instances/*/files", .kind = N_VTREE, .mode = 0755,
	  .doc = "the instance's tree below its agent's root, read and written like a local one",
	  .vtree = cfs_instance_files_vtree, .ttl = 0, .flags = NF_AS_CALLER },
	DIR("instances/*/git", "git repositories below the agent's root (/ in a path is %2F)"),
	DIR("instances/*/git/*", "one repository", .list = cfs_instance_git_list,
	    .exists = cfs_instance_git_exists),
	FILE_("instances/*/git/*/status", "branch, upstream, ahead, behind, then staged/unstaged/"
	      "untracked paths (live)", cfs_instance_git_show, "status", .flags = NF_LIVE,
	      .access = cfs_instance_git_access),
	FILE_("instances/*/git/*/status.json", "the same as JSON (live)", cfs_instance_git_show,
	      "status.json", .flags = NF_LIVE, .access = cfs_instance_git_access),
	FILE_("instances/*/git/*/log", "the last 50 commits (live)", cfs_instance_git_show, "log",
	      .flags = NF_LIVE, .access = cfs_instance_git_access),
	FILE_("instances/*/git/*/branches", "local and remote branches (live)", cfs_instance_git_show,
	      "branches", .flags = NF_LIVE, .access = cfs_instance_git_access),
	FILE_("instances/*/git/*/diff", "the unstaged diff (live)", cfs_instance_git_show, "diff",
	      .flags = NF_LIVE, .access = cfs_instance_git_access),
	CTL("instances/*/git/*/ctl", "git commands", cfs_instance_git_ctl, cfs_instance_git_verbs,
	    .access = cfs_instance_git_access),
	DIR("instances/*/logs", "the agent's configured logs"),
	FILE_("instances/*/logs/*", "the tail of one log (live)", cfs_instance_named_show, "log",
	      .flags = NF_LIVE, .list = cfs_instance_logs_list, .exists = cfs_instance_log_exists),
	DIR("instances/*/config", "the agent's allow-listed config files, read-only"),
	FILE_("instances/*/config/*", "one config file (live)", cfs_instance_named_show, "config",
	      .flags = NF_LIVE, .list = cfs_instance_config_list, .exists = cfs_instance_config_exists),
	CTL("instances/*/ctl", "the instance's commands", cfs_instance_ctl, cfs_instance_verbs,
	    .access = cfs_instance_access_command),

	DIR("shares", "time-limited, permission-scoped access for other users"),
	CTL("shares/ctl", "make and change shares", cfs_shares_ctl, cfs_shares_verbs),
	DIR("shares/*", "one share (its ID)", .list = cfs_shares_list, .exists = cfs_share_exists),
	FILE_("shares/*/sharer", "the user whose instances are shared", cfs_share_show, "sharer"),
	FILE_("shares/*/sharee", "the user they are shared with", cfs_share_show, "sharee"),
	FILE_("shares/*/instance", "an instance name, or * for all of the sharer's", cfs_share_show,
	      "instance"),
	FILE_("shares/*/perms", "read,write,command,sync,git or all", cfs_share_show, "perms"),
	FILE_("shares/*/expires", "ISO 8601 UTC, or never", cfs_share_show, "expires"),
	FILE_("shares/*/enabled", "yes | no", cfs_share_show, "enabled"),
	FILE_("shares/*/note", "free text", cfs_share_show, "note"),
	FILE_("shares/*/created", "ISO 8601 UTC", cfs_share_show, "created"),
	FILE_("shares/*/share.json", "all of the above as JSON", cfs_share_show, "share.json"),

	DIR("mirrors", "hash-compared file sync between instances"),
	CTL("mirrors/ctl", "make and run mirrors", cfs_mirrors_ctl, cfs_mirrors_verbs),
	DIR("mirrors/*", "one mirror", .list = cfs_mirrors_list, .exists = cfs_mirror_exists),
	FILE_("mirrors/*/status", "in-sync | needs-sync | stale | syncing | error", cfs_mirror_show,
	      "status"),
	FILE_("mirrors/*/status.json", "status with last check, last sync, pending paths, error",
	      cfs_mirror_show, "status.json"),
	FILE_("mirrors/*/plan", "the last check's plan: CLASS SIZE PATH per path, then totals",
	      cfs_mirror_show, "plan"),
	FILE_("mirrors/*/plan.json", "the same as JSON", cfs_mirror_show, "plan.json"),
	FILE_("mirrors/*/config", "source, destination, mode, interval, excludes, options",
	      cfs_mirror_show, "config"),
	FILE_("mirrors/*/config.json", "the same as JSON", cfs_mirror_show, "config.json"),
	{ .path = "mirrors/*/files", .kind = N_VTREE, .mode = 0755,
	  .doc = "the mirror's source tree; a file closed after writing goes to the destination",
	  .vtree = cfs_mirror_files_vtree, .ttl = 0, .flags = NF_AS_CALLER },
	CTL("mirrors/*/ctl", "the mirror's commands", cfs_mirror_ctl, cfs_mirror_verbs),

	DIR("peers", "other cloudfs nodes exchanging the signed ops journal (not built yet)"),
	CTL("peers/ctl", "pair with other nodes", cfs_peers_ctl, cfs_peers_verbs),

	DIR("repos", "per-user restic backup repositories (superadmins; provisioners see ctl)"),
	CTL("repos/ctl", "provision and revoke repositories", cfs_repos_ctl, cfs_repos_verbs),
	DIR("repos/*", "one user's repository", .flags = NF_SUPER, .list = cfs_repos_list,
	    .exists = cfs_repo_exists),
	FILE_("repos/*/stats", "usage, quota, suspended, snapshot count, newest, oldest, last prune",
	      cfs_repo_show, "stats"),
	FILE_("repos/*/stats.json", "the same as JSON", cfs_repo_show, "stats.json"),
	{ .path = "repos/*/quota", .kind = N_FILE, .mode = 0644,
	  .doc = "bytes (K, M, G accepted) or max; over it the user is suspended (write to change)",
	  .show = cfs_repo_show, .arg = "quota", .store = cfs_repo_quota_store },
	{ .path = "repos/*/retention", .kind = N_FILE, .mode = 0644,
	  .doc = "the keep policy prune applies, or default (write to change)",
	  .show = cfs_repo_show, .arg = "retention", .store = cfs_repo_retention_store },
	CTL("repos/*/ctl", "the repository's commands", cfs_repo_ctl, cfs_repo_verbs),
	{ .path = "repos/*/snapshots", .kind = N_VTREE, .mode = 0555,
	  .doc = "one read-only directory per snapshot, plus latest, ids/, hosts/, tags/",
	  .vtree = cfs_repo_snapshots_vtree, .ttl = 1.0 },
};

const int node_count = sizeof node_table / sizeof node_table[0];

int nodes_init(void)
{
	for (int i = 0; i < node_count; i++) {
		struct node_row *r = &node_table[i];
		const char *slash = strrchr(r->path, '/');
		r->name = slash ? slash + 1 : r->path;
		r->parent = -1;
		r->depth_caps = 0;
		for (const char *p = r->path; *p; p++)
			if (*p == '*')
				r->depth_caps++;
		if (i == 0)
			continue;
		size_t plen = slash ? (size_t)(slash - r->path) : 0;
		for (int j = 0; j < i; j++) {
			if (strlen(node_table[j].path) == plen &&
			    strncmp(node_table[j].path, r->path, plen) == 0) {
				r->parent = j;
				break;
			}
		}
		if (r->parent < 0 || node_table[r->parent].kind != N_DIR)
			return -1;   /* a table bug: a row's parent must come first */
	}
	/* every ctl pattern is parsed once here, so a malformed one stops the
	 * mount at start rather than a write later */
	for (int i = 0; i < node_count; i++) {
		size_t n = 0;
		const struct ctl_verb *v = node_table[i].verbs ? node_table[i].verbs(&n) : NULL;
		for (size_t k = 0; k < n; k++) {
			char verb[64];
			struct ctl_args a;
			struct cfs_err err;
			snprintf(verb, sizeof verb, "%.*s", (int)strcspn(v[k].pattern, " "), v[k].pattern);
			if (ctl_parse_line(v, n, verb, strlen(verb), &a, &err) == 0)
				ctl_args_free(&a);
		}
	}
	return 0;
}

int node_child(int parent, const char *name, bool *is_wild)
{
	int wild = -1;
	for (int i = 1; i < node_count; i++) {
		if (node_table[i].parent != parent)
			continue;
		if (strcmp(node_table[i].name, "*") == 0)
			wild = i;
		else if (strcmp(node_table[i].name, name) == 0) {
			*is_wild = false;
			return i;
		}
	}
	*is_wild = wild >= 0;
	return wild;
}

int nodes_ctl_usage(const struct node_row *row, struct cfs_buf *out)
{
	size_t n = 0;
	const struct ctl_verb *v = row->verbs ? row->verbs(&n) : NULL;
	return v ? ctl_usage(v, n, out) : 0;
}

/* The label of a wildcard, after the directory that holds it. */
static const char *wild_label(const char *path, const char *star)
{
	static const struct { const char *dir; const char *label; } labels[] = {
		{ "jobs/", "ID" }, { "shares/", "ID" }, { "repos/", "USER" }, { "logs/", "LOG" },
		{ "git/", "REPO" },
	};
	for (size_t i = 0; i < sizeof labels / sizeof labels[0]; i++) {
		size_t n = strlen(labels[i].dir);
		if ((size_t)(star - path) >= n && strncmp(star - n, labels[i].dir, n) == 0)
			return labels[i].label;
	}
	return "NAME";
}

static void readme_path(const struct node_row *r, struct cfs_buf *out)
{
	cfs_buf_puts(out, "/");
	for (const char *p = r->path; *p; p++) {
		if (*p == '*')
			cfs_buf_puts(out, wild_label(r->path, p));
		else
			cfs_buf_append(out, p, 1);
	}
	if (r->kind == N_DIR && r->path[0])
		cfs_buf_puts(out, "/");
}

int nodes_readme(struct cfs_engine *e, const struct cfs_caller *c, const char *const *caps,
		 const char *arg, struct cfs_buf *out)
{
	(void)e, (void)c, (void)caps, (void)arg;
	cfs_buf_puts(out,
		     "cloudfs — a small cloud's live state as files\n"
		     "\n"
		     "Reading a file fetches state; writing a command into a ctl file makes the\n"
		     "engine act (echo 'add …' > ctl; cat ctl shows the usage and your last outcome).\n"
		     "One command per line; tokens are separated by blanks; options are key=value;\n"
		     "any token may be double-quoted, with \\\" and \\\\ the only escapes.\n"
		     "\n"
		     "Errors: EINVAL bad command or value, ENOENT unknown target, EEXIST duplicate,\n"
		     "EACCES not permitted, ENOSYS capability not built yet, EROFS read-only tree,\n"
		     "ENOTSUP unsupported operation, ETIMEDOUT deadline, EHOSTUNREACH instance\n"
		     "offline, EXDEV rename between trees, EBUSY conflicting job, EIO a fault (see\n"
		     "/self/errors and the log).\n"
		     "\n"
		     "The tree:\n\n");
	for (int i = 1; i < node_count; i++) {
		const struct node_row *r = &node_table[i];
		struct cfs_buf p = CFS_BUF_INIT;
		readme_path(r, &p);
		cfs_buf_printf(out, "  %-28s %s\n", p.data, r->doc ? r->doc : "");
		cfs_buf_free(&p);
	}
	cfs_buf_puts(out, "\nCommands, by ctl file:\n");
	for (int i = 1; i < node_count; i++) {
		const struct node_row *r = &node_table[i];
		if (r->kind != N_CTL)
			continue;
		struct cfs_buf p = CFS_BUF_INIT;
		readme_path(r, &p);
		cfs_buf_printf(out, "\n%s\n", p.data);
		cfs_buf_free(&p);
		struct cfs_buf u = CFS_BUF_INIT;
		nodes_ctl_usage(r, &u);
		/* indent each usage line */
		for (char *line = u.data, *nl; line && *line; line = nl) {
			nl = strchr(line, '\n');
			if (nl)
				*nl++ = '\0';
			cfs_buf_printf(out, "  %s\n", line);
			if (!nl)
				break;
		}
		cfs_buf_free(&u);
	}
	return 0;
}
