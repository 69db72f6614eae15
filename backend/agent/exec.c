/* exec.c — running allow-listed commands (and git) without a shell.
 *
 * fork + execvp with a fixed argv; the child gets /dev/null as stdin, one pipe
 * for stdout and stderr, the root (or a repository) as working directory, its
 * own process group, default signal dispositions and an empty signal mask.
 * At the deadline the whole group is killed.  Output beyond the cap is read
 * and dropped, so a chatty child never blocks on a full pipe. */
#include "agent/internal.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/log.h"
#include "core/util.h"

#define EXEC_MAX_ARGS 256
#define EXEC_DRAIN_MS 1000    /* how long output is still read after the child exited */

void agent_exec_result_free(struct exec_result *r)
{
	cfs_buf_free(&r->output);
}

static void child(const struct exec_spec *s, int rootfd, int devnull, int out, int errfd)
{
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	for (int sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			signal(sig, SIG_DFL);
	setpgid(0, 0);
	int e = 0;
	if (dup2(devnull, 0) < 0 || dup2(out, 1) < 0 || dup2(out, 2) < 0)
		e = errno;
	if (!e && fchdir(s->cwd_fd >= 0 ? s->cwd_fd : rootfd) < 0)
		e = errno;
	if (!e && s->as_user &&
	    (syscall(SYS_setgroups, 1, &s->gid) < 0 || setgid(s->gid) < 0 || setuid(s->uid) < 0))
		e = errno;
	if (!e) {
		/* everything but 0-2 and the error pipe closes on exec */
		syscall(SYS_close_range, 3, ~0U, 4 /* CLOSE_RANGE_CLOEXEC */);
		if (s->envp)
			execvpe(s->argv[0], s->argv, s->envp);
		else
			execvp(s->argv[0], s->argv);
		e = errno;
	}
	while (write(errfd, &e, sizeof e) < 0 && errno == EINTR)
		;
	_exit(127);
}

int agent_exec_run(struct agent *a, const struct exec_spec *s, struct exec_result *r)
{
	memset(r, 0, sizeof *r);
	int out[2] = { -1, -1 }, ep[2] = { -1, -1 }, devnull = -1, pidfd = -1, ret = 0;
	if (pipe2(out, O_CLOEXEC) < 0 || pipe2(ep, O_CLOEXEC) < 0 ||
	    (devnull = open("/dev/null", O_RDONLY | O_CLOEXEC)) < 0) {
		ret = -errno;
		goto out;
	}
	int64_t start = cfs_mono_ms(), deadline = start + s->timeout_ms;
	pid_t pid = fork();
	if (pid < 0) {
		ret = -errno;
		goto out;
	}
	if (pid == 0)
		child(s, a->confine.rootfd, devnull, out[1], ep[1]);
	setpgid(pid, pid);   /* also done by the child: whichever runs first */
	close(out[1]);
	close(ep[1]);
	out[1] = ep[1] = -1;
	int child_errno = 0;
	ssize_t got;
	while ((got = read(ep[0], &child_errno, sizeof child_errno)) < 0 && errno == EINTR)
		;
	if (got == (ssize_t)sizeof child_errno) {
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
		ret = -child_errno;
		goto out;
	}
	pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	bool pipe_open = true, exited = false;
	int status = 0;
	int64_t exited_at = 0;
	char chunk[16384];
	for (;;) {
		if (!exited) {
			pid_t w = waitpid(pid, &status, WNOHANG);
			if (w == pid) {
				exited = true;
				exited_at = cfs_mono_ms();
			}
		}
		int64_t now = cfs_mono_ms();
		if (exited && (!pipe_open || now - exited_at >= EXEC_DRAIN_MS))
			break;
		if (!exited && now >= deadline) {
			kill(-pid, SIGKILL);
			kill(pid, SIGKILL);
			r->timed_out = true;
			while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
				;
			exited = true;
			break;
		}
		int64_t wait = exited ? EXEC_DRAIN_MS - (now - exited_at) : deadline - now;
		if (pidfd < 0 && !exited && wait > 50)
			wait = 50;   /* no pidfd: look at the child now and then */
		struct pollfd pf[2] = {
			{ .fd = pipe_open ? out[0] : -1, .events = POLLIN },
			{ .fd = exited ? -1 : pidfd, .events = POLLIN },
		};
		int pr = poll(pf, 2, (int)(wait > 0 ? wait : 0));
		if (pr < 0 && errno != EINTR) {
			ret = -errno;
			break;
		}
		if (pipe_open && pr > 0 && (pf[0].revents & (POLLIN | POLLHUP | POLLERR))) {
			got = read(out[0], chunk, sizeof chunk);
			if (got == 0 || (got < 0 && errno != EINTR && errno != EAGAIN)) {
				pipe_open = false;
			} else if (got > 0) {
				size_t keep = (size_t)got;
				if (r->output.len + keep > s->output_cap) {
					keep = s->output_cap - r->output.len;
					r->truncated = true;
				}
				if (keep && cfs_buf_append(&r->output, chunk, keep)) {
					ret = -ENOMEM;
					kill(-pid, SIGKILL);
				}
			}
		}
	}
	if (ret && !exited) {
		kill(-pid, SIGKILL);
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
	}
	r->duration_ms = cfs_mono_ms() - start;
	if (WIFEXITED(status)) {
		r->exit_code = WEXITSTATUS(status);
	} else if (WIFSIGNALED(status)) {
		r->exit_code = -1;
		r->signal = WTERMSIG(status);
	}
out:
	for (int i = 0; i < 2; i++) {
		if (out[i] >= 0)
			close(out[i]);
		if (ep[i] >= 0)
			close(ep[i]);
	}
	if (devnull >= 0)
		close(devnull);
	if (pidfd >= 0)
		close(pidfd);
	if (ret)
		agent_exec_result_free(r);
	return ret;
}

void agent_route_exec_list(struct agent *a, const struct query *q, struct wire_response *rs)
{
	(void)q;
	const struct agent_conf *c = a->conf;
	cJSON *j = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(j, "commands");
	for (size_t i = 0; arr && i < c->ncmds; i++) {
		cJSON *o = cJSON_CreateObject(), *av = cJSON_CreateStringArray(
			(const char *const *)c->cmds[i].argv, c->cmds[i].argc);
		if (!o || !av) {
			cJSON_Delete(o);
			cJSON_Delete(av);
			cJSON_Delete(j);
			j = NULL;
			break;
		}
		cJSON_AddItemToArray(arr, o);
		cJSON_AddStringToObject(o, "name", c->cmds[i].name);
		cJSON_AddItemToObject(o, "argv", av);
		agent_json_i64(o, "timeout_ms", c->cmds[i].timeout_ms);
		agent_json_u64(o, "output_cap", c->cmds[i].output_cap);
		cJSON_AddBoolToObject(o, "extra_args", c->cmds[i].extra_args);
	}
	agent_reply_json(rs, 200, j);
}

/* The exec result as JSON (exec and git share it). */
cJSON *agent_exec_result_json(const struct exec_result *er)
{
	cJSON *j = cJSON_CreateObject();
	if (!j)
		return NULL;
	if (er->signal)
		cJSON_AddNullToObject(j, "exit_code");
	else
		agent_json_i64(j, "exit_code", er->exit_code);
	agent_json_i64(j, "signal", er->signal);
	if (er->signal) {
		const char *sn = sigabbrev_np(er->signal);
		if (sn)
			cJSON_AddStringToObject(j, "signal_name", sn);
	}
	cJSON_AddBoolToObject(j, "timed_out", er->timed_out);
	cJSON_AddBoolToObject(j, "truncated", er->truncated);
	agent_json_i64(j, "duration_ms", er->duration_ms);
	const char *data = er->output.data ? er->output.data : "";
	if (agent_utf8_valid(data, er->output.len)) {
		cJSON_AddStringToObject(j, "output", data);
		cJSON_AddStringToObject(j, "output_encoding", "text");
	} else {
		struct cfs_buf b = CFS_BUF_INIT;
		if (agent_base64(data, er->output.len, &b)) {
			cJSON_Delete(j);
			return NULL;
		}
		cJSON_AddStringToObject(j, "output", b.data ? b.data : "");
		cJSON_AddStringToObject(j, "output_encoding", "base64");
		cfs_buf_free(&b);
	}
	return j;
}

void agent_route_exec(struct agent *a, const struct wire_request *rq, const struct query *q,
		      struct wire_response *rs)
{
	(void)q;
	cJSON *body = cJSON_ParseWithLength(rq->body, rq->body_len);
	if (!body || !cJSON_IsObject(body)) {
		cJSON_Delete(body);
		agent_reply_error(rs, 400, "bad_json", "the body must be {\"name\":…,\"args\":[…]}");
		return;
	}
	const cJSON *name = cJSON_GetObjectItemCaseSensitive(body, "name");
	const cJSON *args = cJSON_GetObjectItemCaseSensitive(body, "args");
	const struct agent_command *cmd;
	int nargs = args ? cJSON_GetArraySize(args) : 0;
	char **argv = NULL;
	if (!cJSON_IsString(name) || (args && !cJSON_IsArray(args))) {
		agent_reply_error(rs, 400, "bad_request", "name must be a string and args an array");
		goto out;
	}
	if (!(cmd = agent_conf_command(a->conf, name->valuestring))) {
		agent_reply_error(rs, 403, "not_allowed", "%.64s is not in the agent's command allow-list",
				  name->valuestring);
		goto out;
	}
	if (nargs && !cmd->extra_args) {
		agent_reply_error(rs, 403, "not_allowed", "%s takes no extra arguments (extra_args = no)",
				  cmd->name);
		goto out;
	}
	if (nargs > EXEC_MAX_ARGS) {
		agent_reply_error(rs, 400, "bad_request", "at most %d arguments", EXEC_MAX_ARGS);
		goto out;
	}
	argv = calloc((size_t)(cmd->argc + nargs + 1), sizeof *argv);
	if (!argv) {
		agent_reply_error(rs, 500, "internal", "out of memory");
		goto out;
	}
	for (int i = 0; i < cmd->argc; i++)
		argv[i] = cmd->argv[i];
	int i = cmd->argc;
	const cJSON *it;
	cJSON_ArrayForEach(it, args) {
		if (!cJSON_IsString(it)) {
			agent_reply_error(rs, 400, "bad_request", "every argument must be a string");
			goto out;
		}
		argv[i++] = it->valuestring;
	}
	struct exec_spec spec = {
		.argv = argv,
		.cwd_fd = -1,
		.timeout_ms = cmd->timeout_ms,
		.output_cap = cmd->output_cap,
	};
	struct exec_result er;
	log_info("exec %s (%d extra argument%s)", cmd->name, nargs, nargs == 1 ? "" : "s");
	int r = agent_exec_run(a, &spec, &er);
	if (r) {
		char nb[16];
		agent_reply_error(rs, 500, "exec_failed", "cannot run %s (%s): %s", cmd->name,
				  agent_errno_name(r, nb), strerror(-r));
		goto out;
	}
	cJSON *j = agent_exec_result_json(&er);
	if (j)
		cJSON_AddStringToObject(j, "name", cmd->name);
	log_info("exec %s: %s %d after %lld ms%s", cmd->name, er.signal ? "signal" : "exit",
		 er.signal ? er.signal : er.exit_code, (long long)er.duration_ms,
		 er.timed_out ? " (timed out)" : "");
	agent_exec_result_free(&er);
	agent_reply_json(rs, 200, j);
out:
	free(argv);
	cJSON_Delete(body);
}
