/* cloudfs-agent — the daemon on every managed host: a thin main over
 * backend/agent (see cloudfs-agent(8)).
 *
 *   cloudfs-agent init --root DIR --listen ADDR:PORT [--state DIR]
 *   cloudfs-agent pair MANAGER_ENV_ID SECRET [--state DIR]
 *   cloudfs-agent serve [--state DIR] [--debug]
 *
 * Exit status: 0 done, 1 failed, 2 usage error. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/agent.h"
#include "core/log.h"

#ifndef CFS_VERSION
#define CFS_VERSION "0"
#endif

static const char usage_text[] =
	"usage: cloudfs-agent init --root DIR --listen ADDR:PORT [--state DIR]\n"
	"       cloudfs-agent pair MANAGER_ENV_ID SECRET [--state DIR]\n"
	"       cloudfs-agent serve [--state DIR] [--debug]\n"
	"       cloudfs-agent --help | --version\n"
	"\n"
	"init   create the state dir, mint this agent's env_id and master key, write\n"
	"       agent.conf; prints the env_id.  Refuses an existing state.\n"
	"pair   store the manager's env id and the pairing secret (64 hex digits, as\n"
	"       shown once by `add` in the manager's /instances/ctl), sealed.\n"
	"serve  answer the manager's signed requests in the foreground, logging to\n"
	"       stderr, until SIGTERM or SIGINT.\n"
	"\n"
	"--state DIR  the state dir (default /var/lib/cloudfs-agent for root, else\n"
	"             $XDG_STATE_HOME/cloudfs-agent or ~/.local/state/cloudfs-agent)\n";

static int usage(FILE *f, int code)
{
	fputs(usage_text, f);
	return code;
}

static int version(void)
{
	printf("cloudfs-agent %s\n", CFS_VERSION);
	return 0;
}

enum { OPT_HELP = 'h', OPT_VERSION = 'V', OPT_STATE = 's', OPT_ROOT = 'r', OPT_LISTEN = 'l',
       OPT_DEBUG = 'd' };

static const struct option long_opts[] = {
	{ "help", no_argument, NULL, OPT_HELP },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ "state", required_argument, NULL, OPT_STATE },
	{ "root", required_argument, NULL, OPT_ROOT },
	{ "listen", required_argument, NULL, OPT_LISTEN },
	{ "debug", no_argument, NULL, OPT_DEBUG },
	{ NULL, 0, NULL, 0 },
};

struct args {
	const char *state, *root, *listen;
	bool debug;
	int npos;
	const char *pos[4];
};

/* Parse the options of a subcommand; -1 to go on, else an exit status. */
static int parse(int argc, char **argv, const char *allowed, struct args *a)
{
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", long_opts, NULL)) != -1) {
		if (c == OPT_HELP)
			return usage(stdout, 0);
		if (c == OPT_VERSION)
			return version();
		if (c == '?' || !strchr(allowed, c)) {
			if (c != '?')
				fprintf(stderr, "cloudfs-agent %s: option not taken here\n", argv[0]);
			return usage(stderr, 2);
		}
		switch (c) {
		case OPT_STATE: a->state = optarg; break;
		case OPT_ROOT: a->root = optarg; break;
		case OPT_LISTEN: a->listen = optarg; break;
		case OPT_DEBUG: a->debug = true; break;
		}
	}
	for (int i = optind; i < argc; i++) {
		if (a->npos == 4)
			return usage(stderr, 2);
		a->pos[a->npos++] = argv[i];
	}
	return -1;
}

static int cmd_init(struct args *a, const char *state)
{
	if (!a->root || !a->listen || a->npos) {
		fprintf(stderr, "cloudfs-agent init: --root and --listen are required\n");
		return usage(stderr, 2);
	}
	struct cfs_err err = { 0 };
	char env[37];
	if (agent_state_init(state, a->root, a->listen, env, &err)) {
		fprintf(stderr, "cloudfs-agent init: %s\n", err.msg);
		return 1;
	}
	printf("%s\n", env);
	fflush(stdout);
	fprintf(stderr, "cloudfs-agent: state in %s; edit %s/agent.conf, then pair and serve\n",
		state, state);
	return 0;
}

static int cmd_pair(struct args *a, const char *state)
{
	if (a->npos != 2 || a->root || a->listen) {
		fprintf(stderr, "cloudfs-agent pair: takes MANAGER_ENV_ID and SECRET\n");
		return usage(stderr, 2);
	}
	struct cfs_err err = { 0 };
	if (agent_state_pair(state, a->pos[0], a->pos[1], &err)) {
		fprintf(stderr, "cloudfs-agent pair: %s\n", err.msg);
		return 1;
	}
	fprintf(stderr, "cloudfs-agent: paired with manager %s\n", a->pos[0]);
	return 0;
}

static int cmd_serve(struct args *a, const char *state)
{
	if (a->npos || a->root || a->listen) {
		fprintf(stderr, "cloudfs-agent serve: takes only --state and --debug\n");
		return usage(stderr, 2);
	}
	cfs_log_init("cloudfs-agent", 0, a->debug ? CFS_LOG_DEBUG : CFS_LOG_INFO);
	/* Stop signals are taken synchronously by the main thread; block them
	 * before any thread starts so every thread inherits the mask. */
	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	/* Modes in requests are meant exactly: the manager applied the caller's
	 * umask already. */
	umask(0);
	struct cfs_err err = { 0 };
	struct agent *ag;
	struct agent_opts o = { .state_dir = state };
	if (agent_new(&o, &ag, &err)) {
		log_err("%s", err.msg);
		return 1;
	}
	int r = agent_serve(ag, &sigs, &err);
	if (r)
		log_err("%s", err.msg);
	agent_free(ag);
	return r ? 1 : 0;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return usage(stderr, 2);
	const char *cmd = argv[1];
	if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h"))
		return usage(stdout, 0);
	if (!strcmp(cmd, "--version"))
		return version();
	struct args a = { 0 };
	const char *allowed;
	if (!strcmp(cmd, "init"))
		allowed = "srl";
	else if (!strcmp(cmd, "pair"))
		allowed = "s";
	else if (!strcmp(cmd, "serve"))
		allowed = "sd";
	else {
		fprintf(stderr, "cloudfs-agent: unknown command \"%s\"\n", cmd);
		return usage(stderr, 2);
	}
	int r = parse(argc - 1, argv + 1, allowed, &a);
	if (r >= 0)
		return r;
	char *dflt = NULL;
	const char *state = a.state;
	if (!state) {
		if (agent_state_default(&dflt)) {
			fprintf(stderr, "cloudfs-agent: no home directory; give --state DIR\n");
			return 1;
		}
		state = dflt;
	}
	if (!strcmp(cmd, "init"))
		r = cmd_init(&a, state);
	else if (!strcmp(cmd, "pair"))
		r = cmd_pair(&a, state);
	else
		r = cmd_serve(&a, state);
	free(dflt);
	return r;
}
