/* restic_run.c — restic as a subprocess.
 *
 * Every repository write is restic's (init, key add/remove, forget, prune,
 * check); cloudfs only runs it.  The argv is fixed (no shell ever sees it),
 * passwords travel in 0600 temp files named by RESTIC_PASSWORD_FILE and
 * --new-password-file and removed afterwards, never on argv or in the
 * environment, and the environment is a small fixed set so the mount's own
 * RESTIC_* variables cannot leak into a run.  restic gets its own process
 * group so a timeout or a cancelled job kills it and anything it started.
 *
 * posix_spawn rather than fork: the engine is multi-threaded and the child
 * must not run anything but exec. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/util.h"
#include "repos/repos.h"

#define RR_MAX_ARGS 48
#define RR_LINE_MAX 4096
#define RR_OUT_MAX (64u << 20)     /* stdout kept for JSON answers */
#define RR_KILL_GRACE_MS 3000

struct linebuf {
	char buf[RR_LINE_MAX];
	size_t n;
};

struct run_state {
	const struct restic_cmd *c;
	struct linebuf lb[2];
	char last_err[160];
	bool out_overflow;
};

static void deliver(struct run_state *s, int which)
{
	struct linebuf *b = &s->lb[which];
	b->buf[b->n] = '\0';
	if (b->n && b->buf[b->n - 1] == '\r')
		b->buf[--b->n] = '\0';
	if (which == 1 && b->n)
		snprintf(s->last_err, sizeof s->last_err, "%.159s", b->buf);
	if (s->c->on_line)
		s->c->on_line(s->c->arg, which == 1, b->buf);
	b->n = 0;
}

static void take(struct run_state *s, int which, const char *p, size_t n)
{
	if (which == 0 && s->c->out) {
		if (s->c->out->len + n > RR_OUT_MAX || cfs_buf_append(s->c->out, p, n))
			s->out_overflow = true;
		return;
	}
	struct linebuf *b = &s->lb[which];
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '\n') {
			deliver(s, which);
			continue;
		}
		b->buf[b->n++] = p[i];
		if (b->n == RR_LINE_MAX - 1)
			deliver(s, which);
	}
}

/* A 0600 file holding the password, in dir. */
static int password_file(const char *dir, const char *pw, char *path, size_t len,
			 struct cfs_err *err)
{
	if (snprintf(path, len, "%s/restic-pw.XXXXXX", dir) >= (int)len)
		return cfs_errf(err, -ENAMETOOLONG, "temp dir path too long");
	int fd = mkostemp(path, O_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		path[0] = '\0';
		return cfs_errf(err, -e, "cannot create a password file in %s: %s", dir, strerror(e));
	}
	size_t n = strlen(pw);
	ssize_t w = write(fd, pw, n);
	int e = errno;
	if (close(fd) || w != (ssize_t)n) {
		unlink(path);
		path[0] = '\0';
		return cfs_errf(err, -(w < 0 ? e : EIO), "cannot write a password file");
	}
	return 0;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

int restic_run(const struct restic_cmd *c, struct cfs_err *err)
{
	char pwfile[4200] = "", npwfile[4200] = "", env_pw[4300], env_path[4200], env_home[4200],
	     env_tmp[4200];
	const char *argv[RR_MAX_ARGS + 8];
	const char *envp[8];
	int nargs = 0, r = 0;
	int outp[2] = { -1, -1 }, errp[2] = { -1, -1 };
	pid_t pid = -1;
	bool fa_init = false, attr_init = false;
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	struct run_state s = { .c = c };

	argv[nargs++] = c->restic;
	argv[nargs++] = "-r";
	argv[nargs++] = c->repo;
	argv[nargs++] = "--no-cache";
	for (int i = 0; c->args && c->args[i]; i++) {
		if (nargs >= RR_MAX_ARGS)
			return cfs_errf(err, -E2BIG, "too many restic arguments");
		argv[nargs++] = c->args[i];
	}
	r = password_file(c->tmp_dir, c->password ? c->password : "", pwfile, sizeof pwfile, err);
	if (r)
		goto out;
	if (c->new_password) {
		r = password_file(c->tmp_dir, c->new_password, npwfile, sizeof npwfile, err);
		if (r)
			goto out;
		argv[nargs++] = "--new-password-file";
		argv[nargs++] = npwfile;
	}
	argv[nargs] = NULL;

	const char *path = getenv("PATH");
	snprintf(env_path, sizeof env_path, "PATH=%s",
		 path && *path ? path : "/usr/local/bin:/usr/bin:/bin");
	snprintf(env_home, sizeof env_home, "HOME=%s", c->tmp_dir);
	snprintf(env_tmp, sizeof env_tmp, "TMPDIR=%s", c->tmp_dir);
	snprintf(env_pw, sizeof env_pw, "RESTIC_PASSWORD_FILE=%s", pwfile);
	int ne = 0;
	envp[ne++] = env_path;
	envp[ne++] = env_home;
	envp[ne++] = env_tmp;
	envp[ne++] = env_pw;
	envp[ne++] = "LC_ALL=C";
	envp[ne] = NULL;

	if (pipe2(outp, O_CLOEXEC) || pipe2(errp, O_CLOEXEC)) {
		r = cfs_errf(err, -errno, "cannot make pipes: %s", strerror(errno));
		goto out;
	}
	if (posix_spawn_file_actions_init(&fa)) {
		r = cfs_errf(err, -ENOMEM, "out of memory");
		goto out;
	}
	fa_init = true;
	if (posix_spawnattr_init(&attr)) {
		r = cfs_errf(err, -ENOMEM, "out of memory");
		goto out;
	}
	attr_init = true;
	sigset_t none, dfl;
	sigemptyset(&none);
	sigemptyset(&dfl);
	int dsig[] = { SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGCHLD, SIGUSR1, SIGUSR2 };
	for (size_t i = 0; i < sizeof dsig / sizeof dsig[0]; i++)
		sigaddset(&dfl, dsig[i]);
	if (posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0) ||
	    posix_spawn_file_actions_adddup2(&fa, outp[1], 1) ||
	    posix_spawn_file_actions_adddup2(&fa, errp[1], 2) ||
	    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
						    POSIX_SPAWN_SETSIGDEF) ||
	    posix_spawnattr_setpgroup(&attr, 0) || posix_spawnattr_setsigmask(&attr, &none) ||
	    posix_spawnattr_setsigdefault(&attr, &dfl)) {
		r = cfs_errf(err, -ENOMEM, "cannot prepare to run restic");
		goto out;
	}
	int se = posix_spawnp(&pid, c->restic, &fa, &attr, (char *const *)argv, (char *const *)envp);
	if (se) {
		pid = -1;
		r = cfs_errf(err, -se, "cannot run %s: %s", c->restic, strerror(se));
		goto out;
	}
	close(outp[1]);
	close(errp[1]);
	outp[1] = errp[1] = -1;

	int64_t deadline = cfs_mono_ms() + (int64_t)(c->timeout_s > 0 ? c->timeout_s : 3600) * 1000;
	int64_t killed_at = 0;
	const char *why = NULL;
	struct pollfd pfd[2] = { { .fd = outp[0], .events = POLLIN }, { .fd = errp[0], .events = POLLIN } };
	int status = 0, nap = 1;
	bool reaped = false;
	for (;;) {
		int open_fds = (pfd[0].fd >= 0) + (pfd[1].fd >= 0);
		if (open_fds) {
			int pr = poll(pfd, 2, 200);
			for (int i = 0; i < 2 && pr > 0; i++) {
				if (pfd[i].fd < 0 || !(pfd[i].revents & (POLLIN | POLLHUP | POLLERR)))
					continue;
				char chunk[8192];
				ssize_t n = read(pfd[i].fd, chunk, sizeof chunk);
				if (n > 0) {
					take(&s, i, chunk, (size_t)n);
				} else if (n == 0 || errno != EINTR) {
					close(pfd[i].fd);
					pfd[i].fd = -1;
				}
			}
		} else {
			pid_t w = waitpid(pid, &status, WNOHANG);
			if (w == pid || (w < 0 && errno != EINTR)) {
				reaped = w == pid;
				break;
			}
			/* restic closed its output: it is exiting, look again soon */
			sleep_ms(nap);
			nap = nap < 50 ? nap * 2 : 50;
		}
		int64_t now = cfs_mono_ms();
		if (!killed_at) {
			if (c->cancelled && c->cancelled(c->arg))
				why = "cancelled";
			else if (now > deadline)
				why = "timed out";
			if (why) {
				kill(-pid, SIGTERM);
				killed_at = now;
			}
		} else if (now - killed_at > RR_KILL_GRACE_MS) {
			kill(-pid, SIGKILL);
		}
	}
	outp[0] = errp[0] = -1;   /* closed in the loop */
	for (int i = 0; i < 2; i++)
		if (s.lb[i].n)
			deliver(&s, i);
	if (!reaped) {
		r = cfs_errf(err, -ECHILD, "lost track of restic (pid %ld)", (long)pid);
	} else if (why) {
		r = cfs_errf(err, strcmp(why, "cancelled") == 0 ? -ECANCELED : -ETIMEDOUT,
			     "restic %s %s", c->args && c->args[0] ? c->args[0] : "", why);
	} else if (WIFSIGNALED(status)) {
		r = cfs_errf(err, -EIO, "restic killed by signal %d", WTERMSIG(status));
	} else if (WEXITSTATUS(status) != 0) {
		r = cfs_errf(err, -EIO, "restic exit status %d%s%.150s", WEXITSTATUS(status),
			     s.last_err[0] ? ": " : "", s.last_err);
	} else if (s.out_overflow) {
		r = cfs_errf(err, -EFBIG, "restic output too large");
	}
out:
	for (int i = 0; i < 2; i++) {
		if (outp[i] >= 0)
			close(outp[i]);
		if (errp[i] >= 0)
			close(errp[i]);
	}
	if (fa_init)
		posix_spawn_file_actions_destroy(&fa);
	if (attr_init)
		posix_spawnattr_destroy(&attr);
	if (pwfile[0])
		unlink(pwfile);
	if (npwfile[0])
		unlink(npwfile);
	return r;
}
