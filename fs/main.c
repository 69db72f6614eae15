/* main.c — `cloudfs MOUNTPOINT [-f] [-d] [-o OPT[,OPT…]]`: options, mount,
 * signals.  The engine opens the state dir (and refuses a second mount on it)
 * before daemonizing, so errors reach the terminal; its threads start after. */
#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "fuse_inc.h"
#include "inodes.h"
#include "nodes.h"
#include "notify.h"
#include "ops.h"
#include "handles.h"

struct cfs_opts {
	char *state;
	char *config;
	char *listen;
	char **overrides;
	size_t n_overrides;
};

#define CFS_OPT(t, p) { t, offsetof(struct cfs_opts, p), 1 }
enum { KEY_DISCARD, KEY_OTHER_OPT };

static const struct fuse_opt cfs_opt_spec[] = {
	CFS_OPT("state=%s", state),
	CFS_OPT("config=%s", config),
	CFS_OPT("listen=%s", listen),
	/* fstab noise */
	FUSE_OPT_KEY("auto", KEY_DISCARD),
	FUSE_OPT_KEY("noauto", KEY_DISCARD),
	FUSE_OPT_KEY("user", KEY_DISCARD),
	FUSE_OPT_KEY("nouser", KEY_DISCARD),
	FUSE_OPT_KEY("users", KEY_DISCARD),
	FUSE_OPT_KEY("_netdev", KEY_DISCARD),
	FUSE_OPT_KEY("nofail", KEY_DISCARD),
	FUSE_OPT_KEY("defaults", KEY_DISCARD),
	FUSE_OPT_END
};

/* SECTION.KEY=VAL (a dot before the '=') overrides the config file;
 * x-systemd.* and comment=… are for other readers of fstab. */
static int opt_proc(void *data, const char *arg, int key, struct fuse_args *outargs)
{
	(void)outargs;
	struct cfs_opts *o = data;
	if (key == KEY_DISCARD)
		return 0;
	if (key != FUSE_OPT_KEY_OPT)
		return 1;
	if (strncmp(arg, "x-", 2) == 0 || strncmp(arg, "comment=", 8) == 0)
		return 0;
	const char *eq = strchr(arg, '=');
	const char *dot = strchr(arg, '.');
	if (eq && dot && dot < eq) {
		char **n = realloc(o->overrides, (o->n_overrides + 1) * sizeof *n);
		if (!n)
			return -1;
		o->overrides = n;
		o->overrides[o->n_overrides++] = strdup(arg);
		return 0;
	}
	return 1;
}

static void usage(const char *prog)
{
	printf("usage: %s MOUNTPOINT [-f] [-d] [-o OPT[,OPT...]]\n"
	       "\n"
	       "cloudfs shows a small cloud's live state as files.\n"
	       "\n"
	       "options:\n"
	       "    -f                   stay in the foreground\n"
	       "    -d                   debug output (implies -f)\n"
	       "    -h, --help           this help\n"
	       "    -V, --version        print the version\n"
	       "    -o state=DIR         state dir (default /var/lib/cloudfs for root,\n"
	       "                         else $XDG_STATE_HOME/cloudfs or ~/.local/state/cloudfs)\n"
	       "    -o config=FILE       config file (default STATE/cloudfs.conf)\n"
	       "    -o listen=ADDR:PORT  peer API listener (off by default)\n"
	       "    -o SECTION.KEY=VAL   any config key, overriding the file\n"
	       "\n"
	       "plus the standard FUSE mount options (allow_other, ro, ...).\n"
	       "Unmount with: fusermount3 -u MOUNTPOINT\n",
	       prog);
}

static bool user_allow_other(void)
{
	FILE *f = fopen("/etc/fuse.conf", "r");
	char line[256];
	bool yes = false;
	while (f && fgets(line, sizeof line, f))
		if (strncmp(line, "user_allow_other", 16) == 0)
			yes = true;
	if (f)
		fclose(f);
	return yes;
}

/* mount.fuse3 (fstab type fuse.cloudfs) runs "cloudfs SOURCE MOUNTPOINT -o …":
 * with two non-option arguments the first one is the source, which cloudfs
 * does not need.  Returns argc after dropping it. */
static int drop_source(int argc, char *argv[])
{
	int nonopt[3], n = 0;
	for (int i = 1; i < argc && n < 3; i++) {
		if (strcmp(argv[i], "-o") == 0) {
			i++;
			continue;
		}
		if (argv[i][0] != '-')
			nonopt[n++] = i;
	}
	if (n != 2)
		return argc;
	for (int i = nonopt[0]; i < argc - 1; i++)
		argv[i] = argv[i + 1];
	argv[argc - 1] = NULL;
	return argc - 1;
}

int main(int argc, char *argv[])
{
	argc = drop_source(argc, argv);
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct fuse_cmdline_opts copts;
	struct cfs_opts o = { 0 };
	struct cfs_engine *e = NULL;
	struct fuse_session *se = NULL;
	struct fuse_loop_config *lc = NULL;
	struct cfs_err err = { 0 };
	int ret = 1;

	memset(&copts, 0, sizeof copts);
	if (fuse_opt_parse(&args, &o, cfs_opt_spec, opt_proc) == -1)
		goto out1;
	if (fuse_parse_cmdline(&args, &copts) != 0)
		goto out1;
	if (copts.show_help) {
		usage(argv[0]);
		ret = 0;
		goto out1;
	}
	if (copts.show_version) {
		printf("cloudfs %s (libfuse %s)\n", CFS_VERSION, fuse_pkgversion());
		ret = 0;
		goto out1;
	}
	if (!copts.mountpoint) {
		fprintf(stderr, "cloudfs: no mountpoint given (try --help)\n");
		goto out1;
	}
	cfs_log_init("cloudfs", 0, copts.debug ? CFS_LOG_DEBUG : CFS_LOG_INFO);

	/* The mount does its own permission checks for every user (DESIGN.md §4). */
	if (geteuid() == 0 || user_allow_other())
		fuse_opt_add_arg(&args, "-oallow_other");
	fuse_opt_add_arg(&args, "-ofsname=cloudfs,subtype=cloudfs");

	struct cfs_engine_opts eo = {
		.state_dir = o.state,
		.config_path = o.config,
		.overrides = (const char *const *)o.overrides,
		.n_overrides = o.n_overrides,
		.listen = o.listen,
	};
	if (cfs_engine_open(&eo, &e, &err)) {
		fprintf(stderr, "cloudfs: %s\n", err.msg);
		goto out1;
	}
	if (nodes_init() || inodes_init()) {
		fprintf(stderr, "cloudfs: internal error: bad node table\n");
		goto out2;
	}

	struct fs_ctx x = { .e = e, .mount_uid = getuid(), .mount_gid = getgid() };
	clock_gettime(CLOCK_REALTIME, &x.started);
	se = fuse_session_new(&args, &cfs_fuse_ops, sizeof cfs_fuse_ops, &x);
	if (!se)
		goto out2;
	if (fuse_set_signal_handlers(se) != 0)
		goto out3;
	if (fuse_session_mount(se, copts.mountpoint) != 0)
		goto out4;
	if (fuse_daemonize(copts.foreground) != 0)
		goto out5;
	if (!copts.foreground)
		cfs_log_init("cloudfs", 1, CFS_LOG_INFO);
	if (cfs_engine_start(e, &err)) {
		log_err("%s", err.msg);
		goto out5;
	}
	if (notify_start(e)) {
		log_err("cannot start the events thread");
		goto out5;
	}
	log_info("mounted on %s", copts.mountpoint);

	lc = fuse_loop_cfg_create();
	/* ctl writes that wait for a job hold a worker: allow plenty */
	fuse_loop_cfg_set_max_threads(lc, 64);
	fuse_loop_cfg_set_clone_fd(lc, copts.clone_fd);
	/* a loop ended by SIGTERM/SIGINT/SIGHUP returns the signal: a clean stop */
	int lr = fuse_session_loop_mt(se, lc);
	ret = lr == 0 || lr == SIGTERM || lr == SIGINT || lr == SIGHUP ? 0 : 1;
	fuse_loop_cfg_destroy(lc);
	notify_stop();
	log_info("unmounting %s", copts.mountpoint);
out5:
	fuse_session_unmount(se);
out4:
	fuse_remove_signal_handlers(se);
out3:
	fuse_session_destroy(se);
out2:
	cfs_engine_close(e);
	outcomes_free();
	inodes_free();
out1:
	free(copts.mountpoint);
	fuse_opt_free_args(&args);
	free(o.state);
	free(o.config);
	free(o.listen);
	for (size_t i = 0; i < o.n_overrides; i++)
		free(o.overrides[i]);
	free(o.overrides);
	return ret;
}
