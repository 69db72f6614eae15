/* serve.c — `cloudfs-agent serve`: the wire server around the routes, until
 * a stop signal.  The main thread only waits for signals and reaps idle
 * write sessions once a minute. */
#include "agent/internal.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <time.h>

#include "core/log.h"

#ifndef CFS_VERSION
#define CFS_VERSION "0"
#endif

#define SERVE_TICK_S 60

int agent_serve(struct agent *a, const sigset_t *sigs, struct cfs_err *err)
{
	struct wire_server_opts o = {
		.listen = a->conf->listen,
		.tls_cert = a->conf->tls_cert,
		.tls_key = a->conf->tls_key,
		.trusted_proxies = a->conf->trusted_proxies,
		.threads = 16,
		.lookup = agent_lookup,
		.lookup_arg = a,
		.handler = agent_handle,
		.handler_arg = a,
	};
	struct wire_server *srv;
	int r = wire_server_start(&o, &srv, err);
	if (r)
		return r;
	log_info("cloudfs-agent %s: env_id %s, root %s, listening on %s (port %u, %s)",
		 CFS_VERSION, a->env_id, a->root, a->conf->listen, wire_server_port(srv),
		 a->conf->tls_cert ? "https" : "http");
	pthread_mutex_lock(&a->pair_lock);
	bool paired = a->paired;
	pthread_mutex_unlock(&a->pair_lock);
	if (!paired)
		log_warn("not paired yet: every request is refused until "
			 "`cloudfs-agent pair MANAGER_ENV_ID SECRET` runs");
	for (;;) {
		struct timespec tick = { .tv_sec = SERVE_TICK_S };
		int sig = sigtimedwait(sigs, NULL, &tick);
		if (sig > 0) {
			log_info("signal %s: stopping", sigabbrev_np(sig) ? sigabbrev_np(sig) : "?");
			break;
		}
		if (sig < 0 && errno != EAGAIN && errno != EINTR) {
			r = cfs_errf(err, -errno, "sigtimedwait: %s", strerror(errno));
			break;
		}
		agent_reap_sessions(a, AGENT_SESSION_IDLE_MS);
	}
	wire_server_stop(srv);
	log_info("stopped");
	return r;
}
