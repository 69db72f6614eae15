/* state.c — the agent's state dir: env_id, master.key, pair (the sealed
 * shared secret and the manager's env id) and agent.conf.
 *
 * Every file is written whole to a temp name and renamed into place, so a
 * crash never leaves half a key.  The running agent notices a new pair file
 * (`cloudfs-agent pair` while it serves) by its inode and mtime, so pairing
 * needs no restart. */
#include "agent/agent.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/internal.h"
#include "auth/crypto.h"
#include "core/buf.h"
#include "core/log.h"
#include "core/util.h"

#define PAIR_PURPOSE "pair-secret"

int agent_state_default(char **out)
{
	const char *base = NULL, *tail = "cloudfs-agent";
	char *p = NULL;
	if (geteuid() == 0) {
		p = strdup("/var/lib/cloudfs-agent");
	} else if ((base = getenv("XDG_STATE_HOME")) && base[0] == '/') {
		if (asprintf(&p, "%s/%s", base, tail) < 0)
			p = NULL;
	} else {
		const char *home = getenv("HOME");
		if (!home || home[0] != '/') {
			struct passwd *pw = getpwuid(geteuid());
			home = pw ? pw->pw_dir : NULL;
		}
		if (!home)
			return -ENOENT;
		if (asprintf(&p, "%s/.local/state/%s", home, tail) < 0)
			p = NULL;
	}
	if (!p)
		return -ENOMEM;
	*out = p;
	return 0;
}

/* mkdir -p; the last level gets mode, the ones above 0755. */
static int mkdirs(const char *dir, mode_t mode)
{
	char buf[PATH_MAX];
	if (strlen(dir) >= sizeof buf)
		return -ENAMETOOLONG;
	strcpy(buf, dir);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0755) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, mode) < 0 && errno != EEXIST)
		return -errno;
	struct stat st;
	if (stat(buf, &st) < 0)
		return -errno;
	return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

static int path_in(const char *dir, const char *name, char out[PATH_MAX])
{
	int n = snprintf(out, PATH_MAX, "%s/%s", dir, name);
	return n < 0 || n >= PATH_MAX ? -ENAMETOOLONG : 0;
}

/* Write data to dir/name atomically with mode; excl refuses an existing file. */
static int write_file(const char *dir, const char *name, const void *data, size_t len,
		      mode_t mode, bool excl)
{
	char path[PATH_MAX], tmp[PATH_MAX];
	int r = path_in(dir, name, path);
	if (r)
		return r;
	if (excl && access(path, F_OK) == 0)
		return -EEXIST;
	uint8_t rnd[6];
	char hex[13];
	if ((r = cfs_random(rnd, sizeof rnd)))
		return r;
	cfs_hex(rnd, sizeof rnd, hex);
	if (snprintf(tmp, sizeof tmp, "%s/.%s.%s", dir, name, hex) >= (int)sizeof tmp)
		return -ENAMETOOLONG;
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	if (fd < 0)
		return -errno;
	r = cfs_write_full(fd, data, len);
	if (!r && fchmod(fd, mode) < 0)
		r = -errno;
	if (!r && fsync(fd) < 0)
		r = -errno;
	if (close(fd) < 0 && !r)
		r = -errno;
	if (!r && excl && link(tmp, path) < 0)   /* link fails on an existing name */
		r = -errno;
	else if (!r && !excl && rename(tmp, path) < 0)
		r = -errno;
	if (excl || r)
		unlink(tmp);
	if (!r) {
		int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd >= 0) {
			fsync(dfd);
			close(dfd);
		}
	}
	return r;
}

/* Read a whole small file (at most max bytes); *out NUL-terminated, caller frees. */
static int read_file(const char *dir, const char *name, size_t max, char **out, size_t *len)
{
	char path[PATH_MAX];
	int r = path_in(dir, name, path);
	if (r)
		return r;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	char *buf = malloc(max + 1);
	size_t n = 0;
	if (!buf) {
		close(fd);
		return -ENOMEM;
	}
	for (;;) {
		ssize_t got = read(fd, buf + n, max + 1 - n);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			r = -errno;
			break;
		}
		if (got == 0)
			break;
		n += (size_t)got;
		if (n > max) {
			r = -EFBIG;
			break;
		}
	}
	close(fd);
	if (r) {
		free(buf);
		return r;
	}
	buf[n] = '\0';
	*out = buf;
	if (len)
		*len = n;
	return 0;
}

static const char CONF_TEMPLATE[] =
	"# agent.conf: cloudfs-agent configuration, see cloudfs-agent(8).\n"
	"# INI: \"key = value\" under [section]; unknown sections and keys are errors.\n"
	"\n"
	"[agent]\n"
	"# the tree the manager sees as files/ (every path stays below it)\n"
	"root = %s\n"
	"# ADDR:PORT of the HTTP listener\n"
	"listen = %s\n"
	"# serve HTTPS with these PEM files (both or neither)\n"
	"tls_cert =\n"
	"tls_key =\n"
	"# reverse proxies whose X-Forwarded-Host is trusted (blanks or commas)\n"
	"trusted_proxies =\n"
	"\n"
	"# Commands the manager may run: `run NAME [ARG...]` in /instances/NAME/ctl.\n"
	"# argv is split like a shell would (quotes, backslashes) but never run by one.\n"
	"# `restart` and `update` are the commands of those names.\n"
	"#\n"
	"# [command.restart]\n"
	"# argv = systemctl restart nginx\n"
	"# timeout = 30s\n"
	"# output_cap = 1M\n"
	"# extra_args = no\n"
	"\n"
	"# Log files the manager may tail (NAME = absolute path).\n"
	"#\n"
	"# [logs]\n"
	"# syslog = /var/log/syslog\n"
	"\n"
	"# Config files the manager may read (NAME = absolute path).\n"
	"#\n"
	"# [config]\n"
	"# nginx = /etc/nginx/nginx.conf\n";

int agent_state_init(const char *state_dir, const char *root, const char *listen,
		     char env_id[37], struct cfs_err *err)
{
	char rootabs[PATH_MAX];
	struct stat st;
	if (!realpath(root, rootabs))
		return cfs_errf(err, -errno, "root %s: %s", root, strerror(errno));
	if (stat(rootabs, &st) < 0 || !S_ISDIR(st.st_mode))
		return cfs_errf(err, -ENOTDIR, "root %s: not a directory", root);
	if (agent_listen_check(listen))
		return cfs_errf(err, -EINVAL,
				"--listen must be ADDR:PORT (127.0.0.1:7001, [::1]:7001, :7001)");
	if (strlen(rootabs) > 150 || strlen(listen) > 150)
		return cfs_errf(err, -ENAMETOOLONG, "root or listen too long for agent.conf");
	int r = mkdirs(state_dir, 0700);
	if (r)
		return cfs_errf(err, r, "state dir %s: %s", state_dir, strerror(-r));
	static const char *const files[] = { "env_id", "master.key", "agent.conf", "pair" };
	for (size_t i = 0; i < 4; i++) {
		char path[PATH_MAX];
		if (path_in(state_dir, files[i], path) == 0 && access(path, F_OK) == 0)
			return cfs_errf(err, -EEXIST,
					"%s already holds an agent (%s exists); remove it or choose "
					"another --state", state_dir, files[i]);
	}
	uint8_t key[CFS_KEY_LEN];
	char conf[sizeof CONF_TEMPLATE + 2 * PATH_MAX], line[40];
	if ((r = cfs_uuid(env_id)) || (r = cfs_random(key, sizeof key)))
		return cfs_errf(err, r, "no randomness from the kernel");
	snprintf(conf, sizeof conf, CONF_TEMPLATE, rootabs, listen);
	snprintf(line, sizeof line, "%s\n", env_id);
	if ((r = write_file(state_dir, "master.key", key, sizeof key, 0600, true)) ||
	    (r = write_file(state_dir, "agent.conf", conf, strlen(conf), 0644, true)) ||
	    (r = write_file(state_dir, "env_id", line, strlen(line), 0644, true))) {
		cfs_cleanse(key, sizeof key);
		return cfs_errf(err, r, "writing %s: %s", state_dir, strerror(-r));
	}
	cfs_cleanse(key, sizeof key);
	return 0;
}

static bool env_valid(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > WIRE_ENV_ID_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!(s[i] >= '0' && s[i] <= '9') && !(s[i] >= 'a' && s[i] <= 'z') &&
		    !(s[i] >= 'A' && s[i] <= 'Z') && s[i] != '-')
			return false;
	return true;
}

static int load_master(const char *dir, uint8_t key[CFS_KEY_LEN], struct cfs_err *err)
{
	char *buf;
	size_t len;
	int r = read_file(dir, "master.key", CFS_KEY_LEN, &buf, &len);
	if (r == -ENOENT)
		return cfs_errf(err, r, "no agent in %s; run `cloudfs-agent init` first", dir);
	if (r || len != CFS_KEY_LEN) {
		if (!r)
			free(buf);
		return cfs_errf(err, r ? r : -EINVAL, "%s/master.key: %s", dir,
				r ? strerror(-r) : "not 32 bytes");
	}
	memcpy(key, buf, CFS_KEY_LEN);
	cfs_cleanse(buf, len);
	free(buf);
	return 0;
}

int agent_state_pair(const char *state_dir, const char *manager_env, const char *secret_hex,
		     struct cfs_err *err)
{
	uint8_t secret[CFS_KEY_LEN], key[CFS_KEY_LEN];
	if (!env_valid(manager_env))
		return cfs_errf(err, -EINVAL, "MANAGER_ENV_ID must be the manager's env id (a UUID)");
	if (strlen(secret_hex) != 64 || cfs_unhex(secret_hex, secret, sizeof secret))
		return cfs_errf(err, -EINVAL, "SECRET must be 64 hex digits (32 bytes)");
	int r = load_master(state_dir, key, err);
	if (r) {
		cfs_cleanse(secret, sizeof secret);
		return r;
	}
	uint8_t *sealed = NULL;
	size_t sealed_len = 0;
	r = cfs_seal(key, PAIR_PURPOSE, secret, sizeof secret, &sealed, &sealed_len);
	cfs_cleanse(secret, sizeof secret);
	cfs_cleanse(key, sizeof key);
	if (r)
		return cfs_errf(err, r, "sealing the secret failed");
	char *text = malloc(sealed_len * 2 + WIRE_ENV_ID_MAX + 32);
	if (!text) {
		free(sealed);
		return cfs_errf(err, -ENOMEM, "out of memory");
	}
	int n = sprintf(text, "manager %s\nsecret ", manager_env);
	cfs_hex(sealed, sealed_len, text + n);
	strcat(text, "\n");
	free(sealed);
	r = write_file(state_dir, "pair", text, strlen(text), 0600, false);
	free(text);
	if (r)
		return cfs_errf(err, r, "writing %s/pair: %s", state_dir, strerror(-r));
	return 0;
}

/* Parse the pair file into env and secret. */
static int parse_pair(const uint8_t master[CFS_KEY_LEN], char *text, char *env,
		      uint8_t secret[CFS_KEY_LEN])
{
	char *save = NULL, *env_s = NULL, *sec_s = NULL;
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (!strncmp(line, "manager ", 8))
			env_s = line + 8;
		else if (!strncmp(line, "secret ", 7))
			sec_s = line + 7;
	}
	if (!env_s || !sec_s || !env_valid(env_s))
		return -EINVAL;
	size_t hl = strlen(sec_s);
	if (hl % 2 || hl == 0)
		return -EINVAL;
	uint8_t *sealed = malloc(hl / 2);
	if (!sealed)
		return -ENOMEM;
	int r = cfs_unhex(sec_s, sealed, hl / 2);
	uint8_t *pt = NULL;
	size_t pt_len = 0;
	if (!r)
		r = cfs_open(master, PAIR_PURPOSE, sealed, hl / 2, &pt, &pt_len);
	free(sealed);
	if (!r && pt_len != CFS_KEY_LEN)
		r = -EINVAL;
	if (!r) {
		memcpy(secret, pt, CFS_KEY_LEN);
		strcpy(env, env_s);
	}
	if (pt) {
		cfs_cleanse(pt, pt_len);
		free(pt);
	}
	return r;
}

/* With a->pair_lock held. */
static int pair_reload_locked(struct agent *a, bool force)
{
	char path[PATH_MAX];
	struct stat st;
	int r = path_in(a->state_dir, "pair", path);
	if (r)
		return r;
	if (stat(path, &st) < 0) {
		int e = errno;
		if (e == ENOENT && a->paired) {
			log_warn("pairing removed (%s is gone)", path);
			a->paired = false;
			cfs_cleanse(a->secret, sizeof a->secret);
		}
		a->pair_ino = 0;
		return e == ENOENT ? 0 : -e;
	}
	if (!force && st.st_ino == a->pair_ino && st.st_size == a->pair_size &&
	    st.st_mtim.tv_sec == a->pair_mtime.tv_sec && st.st_mtim.tv_nsec == a->pair_mtime.tv_nsec)
		return 0;
	char *text;
	if ((r = read_file(a->state_dir, "pair", 4096, &text, NULL)))
		return r;
	char env[WIRE_ENV_ID_MAX + 1];
	uint8_t secret[CFS_KEY_LEN];
	r = parse_pair(a->master, text, env, secret);
	free(text);
	a->pair_ino = st.st_ino;
	a->pair_size = st.st_size;
	a->pair_mtime = st.st_mtim;
	if (r) {
		log_err("%s: cannot be read (%s); the agent stays unpaired", path, strerror(-r));
		a->paired = false;
		cfs_cleanse(a->secret, sizeof a->secret);
		return r;
	}
	if (!a->paired || strcmp(a->manager_env, env) || !cfs_ct_equal(a->secret, secret, 32))
		log_info("paired with manager %s", env);
	a->paired = true;
	strcpy(a->manager_env, env);
	memcpy(a->secret, secret, sizeof secret);
	cfs_cleanse(secret, sizeof secret);
	return 0;
}

int agent_pair_reload(struct agent *a)
{
	if (!a->state_dir)
		return 0;
	pthread_mutex_lock(&a->pair_lock);
	int r = pair_reload_locked(a, false);
	pthread_mutex_unlock(&a->pair_lock);
	return r;
}

int agent_pair_store_secret(struct agent *a, const uint8_t secret[32], struct cfs_err *err)
{
	char hex[65];
	int r;
	pthread_mutex_lock(&a->pair_lock);
	if (!a->paired) {
		r = cfs_errf(err, -ENOENT, "not paired");
	} else if (!a->state_dir) {
		memcpy(a->secret, secret, 32);   /* tests without a state dir */
		r = 0;
	} else {
		char env[WIRE_ENV_ID_MAX + 1];
		strcpy(env, a->manager_env);
		cfs_hex(secret, 32, hex);
		r = agent_state_pair(a->state_dir, env, hex, err);
		cfs_cleanse(hex, sizeof hex);
		if (!r)
			r = pair_reload_locked(a, true);
	}
	pthread_mutex_unlock(&a->pair_lock);
	return r;
}

int agent_state_load(struct agent *a, struct cfs_err *err)
{
	char *text;
	int r = load_master(a->state_dir, a->master, err);
	if (r)
		return r;
	a->have_master = true;
	if ((r = read_file(a->state_dir, "env_id", 128, &text, NULL)))
		return cfs_errf(err, r, "%s/env_id: %s", a->state_dir, strerror(-r));
	text[strcspn(text, "\r\n")] = '\0';
	if (strlen(text) != 36 || !env_valid(text)) {
		free(text);
		return cfs_errf(err, -EINVAL, "%s/env_id: not a UUID", a->state_dir);
	}
	strcpy(a->env_id, text);
	free(text);
	pthread_mutex_lock(&a->pair_lock);
	r = pair_reload_locked(a, true);
	pthread_mutex_unlock(&a->pair_lock);
	if (r)
		return cfs_errf(err, r, "%s/pair: %s", a->state_dir, strerror(-r));
	return 0;
}
