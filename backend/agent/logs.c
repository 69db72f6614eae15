/* logs.c — GET /v1/logs and GET /v1/config: the files agent.conf allow-lists
 * by name.  These paths are the operator's choice, so they are not confined
 * to the root; nothing else is reachable by name. */
#include "agent/internal.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/util.h"

#define LOGS_DEFAULT_LINES 200
#define LOGS_MAX_LINES 100000

static const struct agent_named_path *find(const struct agent_named_path *l, size_t n,
					   const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(l[i].name, name))
			return &l[i];
	return NULL;
}

static void list(const struct agent_named_path *l, size_t n, const char *key,
		 struct wire_response *rs)
{
	cJSON *j = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(j, key);
	for (size_t i = 0; arr && i < n; i++) {
		cJSON *o = cJSON_CreateObject();
		if (!o)
			break;
		cJSON_AddItemToArray(arr, o);
		cJSON_AddStringToObject(o, "name", l[i].name);
		agent_json_bytes(o, "path", l[i].path, strlen(l[i].path));
		struct stat st;
		if (stat(l[i].path, &st) == 0) {
			agent_json_i64(o, "size", st.st_size);
			agent_json_i64(o, "mtime", st.st_mtim.tv_sec);
			agent_json_i64(o, "mtime_nsec", st.st_mtim.tv_nsec);
		} else {
			char nb[16];
			cJSON_AddStringToObject(o, "errno", agent_errno_name(errno, nb));
		}
	}
	agent_reply_json(rs, 200, j);
}

static int open_regular(const char *path, int *fd, struct stat *st)
{
	int f = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (f < 0)
		return -errno;
	int e = fstat(f, st) < 0 ? -errno : S_ISREG(st->st_mode) ? 0 : -EINVAL;
	if (e) {
		close(f);
		return e;
	}
	*fd = f;
	return 0;
}

static int read_range(int fd, off_t start, off_t end, struct cfs_buf *out)
{
	size_t want = (size_t)(end - start);
	int r = cfs_buf_reserve(out, want);
	if (r)
		return r;
	while (want) {
		ssize_t got = pread(fd, out->data + out->len, want, start);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			return -errno;
		if (got == 0)
			break;   /* the file shrank meanwhile */
		out->len += (size_t)got;
		start += got;
		want -= (size_t)got;
	}
	out->data[out->len] = '\0';
	return 0;
}

/* The offset where the last `lines` lines start (a final newline does not
 * start another line); at most AGENT_READ_MAX bytes back. */
static int tail_start(int fd, off_t end, long lines, off_t *start)
{
	char buf[65536];
	off_t pos = end;
	long count = 0;
	if (lines == 0) {
		*start = end;
		return 0;
	}
	while (pos > 0 && end - pos < (off_t)AGENT_READ_MAX) {
		size_t chunk = sizeof buf;
		if ((off_t)chunk > pos)
			chunk = (size_t)pos;
		if ((off_t)chunk > (off_t)AGENT_READ_MAX - (end - pos))
			chunk = (size_t)((off_t)AGENT_READ_MAX - (end - pos));
		ssize_t got = pread(fd, buf, chunk, pos - (off_t)chunk);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			return -errno;
		if ((size_t)got != chunk)
			return -EAGAIN;   /* truncated under us */
		for (size_t i = chunk; i-- > 0;) {
			off_t at = pos - (off_t)chunk + (off_t)i;
			if (buf[i] != '\n' || at == end - 1)
				continue;
			if (++count == lines) {
				*start = at + 1;
				return 0;
			}
		}
		pos -= (off_t)chunk;
	}
	*start = pos;
	return 0;
}

void agent_route_logs(struct agent *a, const struct query *q, struct wire_response *rs)
{
	const char *name = agent_query_get(q, "name", NULL);
	if (!name) {
		list(a->conf->logs, a->conf->nlogs, "logs", rs);
		return;
	}
	const struct agent_named_path *l = find(a->conf->logs, a->conf->nlogs, name);
	if (!l) {
		agent_reply_error(rs, 404, "unknown_log", "no log %.64s in agent.conf", name);
		return;
	}
	long lines = LOGS_DEFAULT_LINES;
	const char *ls = agent_query_get(q, "lines", NULL);
	uint64_t v;
	if (ls) {
		if (cfs_parse_u64(ls, &v) || v > LOGS_MAX_LINES) {
			agent_reply_error(rs, 400, "bad_request", "lines must be 0..%d", LOGS_MAX_LINES);
			return;
		}
		lines = (long)v;
	}
	int fd, r;
	struct stat st;
	off_t start = 0;
	if ((r = open_regular(l->path, &fd, &st))) {
		agent_reply_fs_error(rs, r, l->name);
		return;
	}
	for (int tries = 0; tries < 3; tries++) {
		if ((r = tail_start(fd, st.st_size, lines, &start)) != -EAGAIN)
			break;
		if (fstat(fd, &st) < 0) {
			r = -errno;
			break;
		}
	}
	cfs_buf_reset(&rs->body);
	if (!r)
		r = read_range(fd, start, st.st_size, &rs->body);
	close(fd);
	if (r) {
		agent_reply_fs_error(rs, r, l->name);
		return;
	}
	rs->status = 200;
	rs->content_type = "text/plain; charset=utf-8";
}

void agent_route_config(struct agent *a, const struct query *q, struct wire_response *rs)
{
	const char *name = agent_query_get(q, "name", NULL);
	if (!name) {
		list(a->conf->configs, a->conf->nconfigs, "config", rs);
		return;
	}
	const struct agent_named_path *c = find(a->conf->configs, a->conf->nconfigs, name);
	if (!c) {
		agent_reply_error(rs, 404, "unknown_config", "no config %.64s in agent.conf", name);
		return;
	}
	int fd, r;
	struct stat st;
	if ((r = open_regular(c->path, &fd, &st))) {
		agent_reply_fs_error(rs, r, c->name);
		return;
	}
	if (st.st_size > (off_t)AGENT_READ_MAX) {
		close(fd);
		agent_reply_error(rs, 413, "too_large", "%s is larger than %u bytes", c->name,
				  AGENT_READ_MAX);
		return;
	}
	cfs_buf_reset(&rs->body);
	r = read_range(fd, 0, st.st_size, &rs->body);
	close(fd);
	if (r) {
		agent_reply_fs_error(rs, r, c->name);
		return;
	}
	rs->status = 200;
	rs->content_type = "application/octet-stream";
}
