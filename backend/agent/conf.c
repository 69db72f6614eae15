/* conf.c — agent.conf (DESIGN.md section 7), parsed with inih.
 *
 * inih hands us key/value pairs but no line numbers, so we feed it through our
 * own line reader: it counts lines, sees section headers (so an unknown or
 * empty section is caught too), and refuses over-long lines instead of letting
 * inih cut them.  Every mistake is an error naming file:line; nothing is
 * silently ignored. */
#include "agent/agent.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/internal.h"
#include "core/buf.h"
#include "core/util.h"

#define CONF_MAX_LINE 198        /* what inih's line buffer holds, newline aside */
#define CONF_DEFAULT_TIMEOUT_MS (30 * 1000)
#define CONF_DEFAULT_OUTPUT_CAP (1u << 20)
#define CONF_MAX_OUTPUT_CAP (4u << 20)
#define CONF_DEFAULT_TMP_SWEEP (60 * 60)
#define CONF_MAX_TMP_SWEEP (365 * 86400)

enum { SEC_NONE, SEC_AGENT, SEC_COMMAND, SEC_LOGS, SEC_CONFIG };

struct conf_cmd_extra {
	int line;                /* of the [command.NAME] header */
	unsigned seen;           /* bit per key */
};

struct conf_ctx {
	const char *p;           /* next unread byte of the text */
	const char *fname;
	int line;                /* line of the text last handed to inih */
	bool indented;           /* that line starts with a blank */
	int sec;
	size_t cmd;              /* current command when sec == SEC_COMMAND */
	unsigned agent_seen;
	struct conf_cmd_extra *extra;   /* parallel to c->cmds */
	struct agent_conf *c;
	struct cfs_err *err;
	int r;
};

void agent_conf_free(struct agent_conf *c)
{
	if (!c)
		return;
	free(c->root);
	free(c->listen);
	free(c->tls_cert);
	free(c->tls_key);
	free(c->trusted_proxies);
	for (size_t i = 0; i < c->ncmds; i++) {
		free(c->cmds[i].name);
		agent_argv_free(c->cmds[i].argv);
	}
	free(c->cmds);
	for (size_t i = 0; i < c->nlogs; i++) {
		free(c->logs[i].name);
		free(c->logs[i].path);
	}
	free(c->logs);
	for (size_t i = 0; i < c->nconfigs; i++) {
		free(c->configs[i].name);
		free(c->configs[i].path);
	}
	free(c->configs);
	free(c);
}

const struct agent_command *agent_conf_command(const struct agent_conf *c, const char *name)
{
	for (size_t i = 0; i < c->ncmds; i++)
		if (!strcmp(c->cmds[i].name, name))
			return &c->cmds[i];
	return NULL;
}

static int fail(struct conf_ctx *x, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int fail(struct conf_ctx *x, int line, const char *fmt, ...)
{
	if (x->r)
		return x->r;
	char msg[160];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (line > 0)
		cfs_errf(x->err, -EINVAL, "%s:%d: %s", x->fname, line, msg);
	else
		cfs_errf(x->err, -EINVAL, "%s: %s", x->fname, msg);
	x->r = -EINVAL;
	return x->r;
}

static int nomem(struct conf_ctx *x)
{
	if (!x->r) {
		cfs_errf(x->err, -ENOMEM, "out of memory");
		x->r = -ENOMEM;
	}
	return x->r;
}

static char *trim(char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	size_t n = strlen(s);
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		s[--n] = '\0';
	return s;
}

/* A section header seen by the reader: check it and open a command. */
static void section(struct conf_ctx *x, char *hdr)
{
	char *end = strchr(hdr, ']');
	if (!end) {
		fail(x, x->line, "section header without ']'");
		return;
	}
	*end = '\0';
	char *name = trim(hdr + 1);
	if (!strcmp(name, "agent")) {
		x->sec = SEC_AGENT;
	} else if (!strcmp(name, "logs")) {
		x->sec = SEC_LOGS;
	} else if (!strcmp(name, "config")) {
		x->sec = SEC_CONFIG;
	} else if (!strncmp(name, "command.", 8)) {
		const char *cn = name + 8;
		if (!cfs_name_valid(cn)) {
			fail(x, x->line, "bad command name \"%s\" (1-64 of A-Z a-z 0-9 . _ -)", cn);
			return;
		}
		struct agent_conf *c = x->c;
		if (agent_conf_command(c, cn)) {
			fail(x, x->line, "[command.%s] given twice", cn);
			return;
		}
		struct agent_command *nc = realloc(c->cmds, sizeof *nc * (c->ncmds + 1));
		if (!nc) {
			nomem(x);
			return;
		}
		c->cmds = nc;
		struct conf_cmd_extra *ne = realloc(x->extra, sizeof *ne * (c->ncmds + 1));
		if (!ne) {
			nomem(x);
			return;
		}
		x->extra = ne;
		nc[c->ncmds] = (struct agent_command){
			.name = strdup(cn),
			.timeout_ms = CONF_DEFAULT_TIMEOUT_MS,
			.output_cap = CONF_DEFAULT_OUTPUT_CAP,
		};
		ne[c->ncmds] = (struct conf_cmd_extra){ .line = x->line };
		if (!nc[c->ncmds].name) {
			nomem(x);
			return;
		}
		x->cmd = c->ncmds++;
		x->sec = SEC_COMMAND;
	} else {
		fail(x, x->line, "unknown section [%s] (sections: agent, command.NAME, logs, config)",
		     name);
	}
}

/* inih's line reader: one line of our text per call. */
static char *conf_reader(char *str, int num, void *stream)
{
	struct conf_ctx *x = stream;
	if (x->r || !*x->p)
		return NULL;
	const char *nl = strchr(x->p, '\n');
	size_t len = nl ? (size_t)(nl - x->p) : strlen(x->p);
	x->line++;
	size_t keep = len;
	if (keep && x->p[keep - 1] == '\r')
		keep--;
	if (keep > CONF_MAX_LINE || keep + 2 > (size_t)num) {
		fail(x, x->line, "line too long (at most %d bytes)", CONF_MAX_LINE);
		return NULL;
	}
	memcpy(str, x->p, keep);
	str[keep] = '\n';
	str[keep + 1] = '\0';
	x->p += nl ? len + 1 : len;
	if (memchr(str, '\0', keep)) {
		fail(x, x->line, "NUL byte in line");
		return NULL;
	}
	x->indented = keep && (str[0] == ' ' || str[0] == '\t');
	char *s = str;
	while (*s == ' ' || *s == '\t')
		s++;
	if (*s == '[') {
		char hdr[CONF_MAX_LINE + 2];
		memcpy(hdr, s, strlen(s) + 1);
		section(x, hdr);
		if (x->r)
			return NULL;
	}
	return str;
}

static int set_str(struct conf_ctx *x, char **slot, const char *value)
{
	free(*slot);
	*slot = NULL;
	if (!*value)
		return 0;   /* "key =" leaves it unset */
	*slot = strdup(value);
	return *slot ? 0 : nomem(x);
}

static int parse_bool(const char *v, bool *out)
{
	static const char *const yes[] = { "yes", "true", "on", "1" };
	static const char *const no[] = { "no", "false", "off", "0" };
	for (size_t i = 0; i < 4; i++) {
		if (!strcasecmp(v, yes[i])) {
			*out = true;
			return 0;
		}
		if (!strcasecmp(v, no[i])) {
			*out = false;
			return 0;
		}
	}
	return -EINVAL;
}

static void agent_key(struct conf_ctx *x, const char *name, const char *value)
{
	static const char *const keys[] = { "root", "listen", "tls_cert", "tls_key",
					    "trusted_proxies" };
	struct agent_conf *c = x->c;
	char **slots[] = { &c->root, &c->listen, &c->tls_cert, &c->tls_key, &c->trusted_proxies };
	if (!strcmp(name, "tmp_sweep_after")) {
		int64_t secs;
		if (x->agent_seen & (1u << 5)) {
			fail(x, x->line, "%s given twice in [agent]", name);
			return;
		}
		x->agent_seen |= 1u << 5;
		if (cfs_duration_parse(value, &secs) || secs > CONF_MAX_TMP_SWEEP)
			fail(x, x->line, "tmp_sweep_after must be a duration like 30m, 1h, 2d (0: never)");
		else
			c->tmp_sweep_after = secs;
		return;
	}
	for (unsigned i = 0; i < 5; i++) {
		if (strcmp(name, keys[i]))
			continue;
		if (x->agent_seen & (1u << i)) {
			fail(x, x->line, "%s given twice in [agent]", name);
			return;
		}
		x->agent_seen |= 1u << i;
		if ((i == 0 || i == 2 || i == 3) && *value && value[0] != '/') {
			fail(x, x->line, "%s must be an absolute path", name);
			return;
		}
		if (i == 1 && *value && agent_listen_check(value)) {
			fail(x, x->line, "listen must be ADDR:PORT (127.0.0.1:7001, [::1]:7001, :7001)");
			return;
		}
		set_str(x, slots[i], value);
		return;
	}
	fail(x, x->line, "unknown key \"%s\" in [agent] (keys: root, listen, tls_cert, tls_key, "
	     "trusted_proxies, tmp_sweep_after)", name);
}

static void command_key(struct conf_ctx *x, const char *name, const char *value)
{
	static const char *const keys[] = { "argv", "timeout", "output_cap", "extra_args" };
	struct agent_command *cmd = &x->c->cmds[x->cmd];
	struct conf_cmd_extra *e = &x->extra[x->cmd];
	unsigned i;
	for (i = 0; i < 4 && strcmp(name, keys[i]); i++)
		;
	if (i == 4) {
		fail(x, x->line, "unknown key \"%s\" in [command.%s] (keys: argv, timeout, "
		     "output_cap, extra_args)", name, cmd->name);
		return;
	}
	if (e->seen & (1u << i)) {
		fail(x, x->line, "%s given twice in [command.%s]", name, cmd->name);
		return;
	}
	e->seen |= 1u << i;
	struct cfs_err why = { 0 };
	int64_t secs;
	uint64_t size;
	switch (i) {
	case 0:
		if (agent_argv_split(value, &cmd->argv, &cmd->argc, &why))
			fail(x, x->line, "argv: %s", why.msg);
		break;
	case 1:
		if (cfs_duration_parse(value, &secs) || secs <= 0 || secs > 7 * 86400)
			fail(x, x->line, "timeout must be a duration like 30s, 5m, 2h (up to 7d)");
		else
			cmd->timeout_ms = secs * 1000;
		break;
	case 2:
		if (cfs_size_parse(value, &size) || size == 0 || size > CONF_MAX_OUTPUT_CAP)
			fail(x, x->line, "output_cap must be a size like 64K or 1M (up to 4M)");
		else
			cmd->output_cap = size;
		break;
	default:
		if (parse_bool(value, &cmd->extra_args))
			fail(x, x->line, "extra_args must be yes or no");
		break;
	}
}

static void path_key(struct conf_ctx *x, const char *sec, struct agent_named_path **list,
		     size_t *n, const char *name, const char *value)
{
	if (!cfs_name_valid(name)) {
		fail(x, x->line, "bad %s name \"%s\" (1-64 of A-Z a-z 0-9 . _ -)", sec, name);
		return;
	}
	for (size_t i = 0; i < *n; i++) {
		if (!strcmp((*list)[i].name, name)) {
			fail(x, x->line, "%s given twice in [%s]", name, sec);
			return;
		}
	}
	if (value[0] != '/') {
		fail(x, x->line, "[%s] %s must be an absolute path", sec, name);
		return;
	}
	struct agent_named_path *nl = realloc(*list, sizeof *nl * (*n + 1));
	if (!nl) {
		nomem(x);
		return;
	}
	*list = nl;
	nl[*n].name = strdup(name);
	nl[*n].path = strdup(value);
	(*n)++;
	if (!nl[*n - 1].name || !nl[*n - 1].path)
		nomem(x);
}

static int conf_handler(void *user, const char *sec, const char *name, const char *value)
{
	struct conf_ctx *x = user;
	(void)sec;   /* the reader tracks sections itself */
	if (x->r)
		return 1;
	if (x->indented) {
		fail(x, x->line, "indented line (continuation lines are not supported)");
		return 1;
	}
	switch (x->sec) {
	case SEC_AGENT:
		agent_key(x, name, value);
		break;
	case SEC_COMMAND:
		command_key(x, name, value);
		break;
	case SEC_LOGS:
		path_key(x, "logs", &x->c->logs, &x->c->nlogs, name, value);
		break;
	case SEC_CONFIG:
		path_key(x, "config", &x->c->configs, &x->c->nconfigs, name, value);
		break;
	default:
		fail(x, x->line, "\"%s\" outside of any section", name);
		break;
	}
	return 1;
}

int agent_conf_parse(const char *text, const char *fname, struct agent_conf **out,
		     struct cfs_err *err)
{
	struct conf_ctx x = {
		.p = text,
		.fname = fname ? fname : "agent.conf",
		.err = err,
		.c = calloc(1, sizeof *x.c),
	};
	if (!x.c)
		return cfs_errf(err, -ENOMEM, "out of memory");
	x.c->tmp_sweep_after = CONF_DEFAULT_TMP_SWEEP;
	int rc = ini_parse_stream(conf_reader, &x, conf_handler, &x);
	if (!x.r && rc > 0)
		fail(&x, rc, "expected \"key = value\" or \"[section]\"");
	else if (!x.r && rc < 0)
		nomem(&x);
	struct agent_conf *c = x.c;
	if (!x.r && !c->root)
		fail(&x, 0, "[agent] root is required");
	if (!x.r && !c->listen)
		fail(&x, 0, "[agent] listen is required");
	if (!x.r && !c->tls_cert != !c->tls_key)
		fail(&x, 0, "[agent] tls_cert and tls_key go together");
	for (size_t i = 0; !x.r && i < c->ncmds; i++)
		if (!c->cmds[i].argv)
			fail(&x, x.extra[i].line, "[command.%s] has no argv", c->cmds[i].name);
	free(x.extra);
	if (x.r) {
		agent_conf_free(c);
		return x.r;
	}
	*out = c;
	return 0;
}

int agent_conf_load(const char *path, struct agent_conf **out, struct cfs_err *err)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return cfs_errf(err, -errno, "%s: %s", path, strerror(errno));
	struct cfs_buf b = CFS_BUF_INIT;
	char chunk[4096];
	size_t n;
	int r = 0;
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
		if (b.len + n > (1u << 20)) {
			r = cfs_errf(err, -EFBIG, "%s: larger than 1 MiB", path);
			break;
		}
		if ((r = cfs_buf_append(&b, chunk, n))) {
			cfs_errf(err, r, "out of memory");
			break;
		}
	}
	if (!r && ferror(f))
		r = cfs_errf(err, -EIO, "%s: read error", path);
	fclose(f);
	if (!r)
		r = agent_conf_parse(b.data ? b.data : "", path, out, err);
	cfs_buf_free(&b);
	return r;
}

int agent_listen_check(const char *s)
{
	const char *colon;
	if (s[0] == '[') {
		const char *close = strchr(s, ']');
		if (!close || close == s + 1 || close[1] != ':')
			return -EINVAL;
		colon = close + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon || memchr(s, ':', (size_t)(colon - s)))
			return -EINVAL;
		for (const char *p = s; p < colon; p++)
			if (!isalnum((unsigned char)*p) && *p != '.' && *p != '-')
				return -EINVAL;
	}
	uint64_t port;
	if (cfs_parse_u64(colon + 1, &port) || port > 65535)   /* 0: any free port */
		return -EINVAL;
	return 0;
}
