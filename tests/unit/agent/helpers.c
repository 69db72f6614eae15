/* helpers.c — see helpers.h. */
#include "helpers.h"

#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

char *th_mkdtemp(void)
{
	const char *base = getenv("TMPDIR");
	char *p = NULL;
	if (asprintf(&p, "%s/cfs-agent-test-XXXXXX", base && *base ? base : "/tmp") < 0)
		abort();
	if (!mkdtemp(p))
		abort();
	return p;
}

static int open_up(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)ftw;
	if (flag == FTW_D || flag == FTW_DNR)
		chmod(path, (st->st_mode & 07777) | 0700);
	return 0;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (flag == FTW_DP)
		rmdir(path);
	else
		unlink(path);
	return 0;
}

void th_rmrf(const char *path)
{
	/* tests chmod directories shut: open them up first, then remove */
	nftw(path, open_up, 16, FTW_PHYS);
	nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

const char *th_path(const char *dir, const char *name)
{
	static __thread char buf[4][4200];
	static __thread int next;
	char *b = buf[next++ % 4];
	snprintf(b, sizeof buf[0], "%s/%s", dir, name);
	return b;
}

void th_write(const char *dir, const char *name, const char *content)
{
	FILE *f = fopen(th_path(dir, name), "w");
	if (!f)
		abort();
	fputs(content, f);
	fclose(f);
}

char *th_read(const char *dir, const char *name, size_t *len)
{
	FILE *f = fopen(th_path(dir, name), "r");
	if (!f)
		return NULL;
	struct cfs_buf b = CFS_BUF_INIT;
	char chunk[4096];
	size_t n;
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
		cfs_buf_append(&b, chunk, n);
	fclose(f);
	if (len)
		*len = b.len;
	return cfs_buf_steal(&b);
}

struct agent *th_agent(const char *root, const char *extra, bool walk)
{
	char *text = NULL;
	if (asprintf(&text, "[agent]\nroot = %s\nlisten = 127.0.0.1:1\n%s", root,
		     extra ? extra : "") < 0)
		abort();
	struct agent_conf *c;
	struct cfs_err err = { 0 };
	if (agent_conf_parse(text, "test.conf", &c, &err)) {
		fprintf(stderr, "conf: %s\n", err.msg);
		abort();
	}
	free(text);
	struct agent *a;
	struct agent_opts o = { .conf = c, .force_walk = walk };
	if (agent_new(&o, &a, &err)) {
		fprintf(stderr, "agent: %s\n", err.msg);
		abort();
	}
	return a;
}

int th_call(struct agent *a, const char *method, const char *target, const void *body,
	    size_t len, struct th_reply *r)
{
	memset(r, 0, sizeof *r);
	struct wire_request rq = {
		.method = method,
		.target = target,
		.env = "00000000-0000-4000-8000-000000000000",
		.body = body ? body : "",
		.body_len = len,
	};
	struct wire_response rs = { .status = 200 };
	agent_handle(a, &rq, &rs);
	r->status = rs.status;
	r->type = rs.content_type;
	r->body = rs.body;
	if (!rs.content_type || !strcmp(rs.content_type, "application/json"))
		r->json = cJSON_ParseWithLength(rs.body.data ? rs.body.data : "", rs.body.len);
	return r->status;
}

void th_reply_free(struct th_reply *r)
{
	cJSON_Delete(r->json);
	cfs_buf_free(&r->body);
	memset(r, 0, sizeof *r);
}

const cJSON *th_get(const cJSON *j, const char *path)
{
	char buf[256];
	snprintf(buf, sizeof buf, "%s", path);
	char *save = NULL;
	for (char *k = strtok_r(buf, ".", &save); k && j; k = strtok_r(NULL, ".", &save))
		j = cJSON_GetObjectItemCaseSensitive(j, k);
	return j;
}

int64_t th_int(const cJSON *j, const char *path)
{
	const cJSON *v = th_get(j, path);
	return cJSON_IsNumber(v) ? (int64_t)v->valuedouble : INT64_MIN;
}

const char *th_str(const cJSON *j, const char *path)
{
	const cJSON *v = th_get(j, path);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}
