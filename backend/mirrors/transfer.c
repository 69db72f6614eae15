/* transfer.c — one path from a source agent to a destination agent through
 * the manager.
 *
 * A file streams in chunks of at most 4 MiB (the agent's read limit): read a
 * range from the source, write it into a write session on the destination
 * with its XXH3-128 (the agent checks it), and commit with the whole file's
 * hash.  Only one chunk per file is in memory.  The session writes a
 * temp file that we create ourselves under a hidden name
 * (.cloudfs-tmp-m…) beside the target; mode and mtime are set on it, and
 * only then is it renamed over the target, so a transfer killed at any
 * point leaves the old file or the new one at the real name, never a part.
 * A chunk that fails in transit is sent again from its offset (the session
 * keeps what was verified). */
#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/crypto.h"
#include "core/engine_priv.h"
#include "core/log.h"
#include "core/util.h"
#include "instances/instances.h"
#include "mirrors/transfer.h"
#include "wire/wire.h"

#define CHUNK (4u << 20)
#define RETRIES 3

static int call(struct cfs_engine *e, const struct agent_target *t, const char *method,
		struct cfs_buf *tg, const void *body, size_t len, struct agent_reply *r,
		struct cfs_err *err)
{
	if (!tg->data) {
		memset(r, 0, sizeof *r);
		return cfs_errf(err, -ENOMEM, "out of memory");
	}
	return agent_call(e, t, method, tg->data, body, len, r, err);
}

/* "/v1/file/OP?path=P" */
static void target(struct cfs_buf *tg, const char *op, const char *path)
{
	cfs_buf_reset(tg);
	cfs_buf_printf(tg, "/v1/file/%s?path=", op);
	wire_urlencode(path, tg);
}

/* A transient failure worth sending a chunk again for. */
static bool transient(int r)
{
	return r == -ETIMEDOUT || r == -EHOSTUNREACH || r == -EIO || r == -EPROTO;
}

int mx_simple(struct cfs_engine *e, const struct agent_target *t, const char *op,
	      const char *path, const char *extra, struct cfs_err *err)
{
	struct cfs_buf tg = CFS_BUF_INIT;
	struct agent_reply r;
	target(&tg, op, path);
	if (extra)
		cfs_buf_puts(&tg, extra);
	int rc = call(e, t, "POST", &tg, NULL, 0, &r, err);
	agent_reply_free(&r);
	cfs_buf_free(&tg);
	return rc;
}

/* The hidden temp name beside path. */
static void tmp_name(const char *path, char *out, size_t len)
{
	uint8_t rnd[8];
	char hex[17];
	cfs_random(rnd, sizeof rnd);
	cfs_hex(rnd, sizeof rnd, hex);
	const char *slash = strrchr(path, '/');
	if (slash)
		snprintf(out, len, "%.*s/.cloudfs-tmp-m%s", (int)(slash - path), path, hex);
	else
		snprintf(out, len, ".cloudfs-tmp-m%s", hex);
}

/* chmod + utimens on tmp, then rename it over path. */
static int finish(struct cfs_engine *e, const struct agent_target *t, const char *tmp,
		  const char *path, unsigned mode, int64_t mtime_ns, bool is_link, struct cfs_err *err)
{
	char extra[96];
	int rc = 0;
	if (!is_link) {
		snprintf(extra, sizeof extra, "&mode=%o", mode & 07777);
		rc = mx_simple(e, t, "chmod", tmp, extra, err);
	}
	if (!rc) {
		int64_t s = mtime_ns / 1000000000, ns = mtime_ns % 1000000000;
		if (ns < 0)
			s--, ns += 1000000000;
		snprintf(extra, sizeof extra, "&mtime=%" PRId64 ":%" PRId64, s, ns);
		rc = mx_simple(e, t, "utimens", tmp, extra, err);
	}
	if (!rc) {
		struct cfs_buf x = CFS_BUF_INIT;
		cfs_buf_puts(&x, "&to=");
		wire_urlencode(path, &x);
		rc = x.data ? mx_simple(e, t, "rename", tmp, x.data, err) : -ENOMEM;
		cfs_buf_free(&x);
	}
	return rc;
}

int mx_copy_file(struct mx *x, const struct agent_target *from, const char *from_path,
		 const struct agent_target *to, const char *to_path, unsigned mode,
		 int64_t mtime_ns, struct cfs_err *err)
{
	struct cfs_engine *e = x->e;
	char tmp[4200], session[64] = "";
	struct cfs_buf tg = CFS_BUF_INIT;
	struct agent_reply r;
	struct cfs_xxh128 *whole = cfs_xxh128_new();
	int rc = whole ? 0 : cfs_errf(err, -ENOMEM, "out of memory");
	tmp_name(to_path, tmp, sizeof tmp);
	if (!rc) {
		target(&tg, "open", tmp);
		cfs_buf_puts(&tg, "&create=1&excl=1&truncate=1&mode=600");
		rc = call(e, to, "POST", &tg, NULL, 0, &r, err);
		if (!rc) {
			cJSON *j = cJSON_ParseWithLength(r.body.data ? r.body.data : "", r.body.len);
			const cJSON *sid = cJSON_GetObjectItemCaseSensitive(j, "session");
			if (cJSON_IsString(sid) && strlen(sid->valuestring) < sizeof session)
				snprintf(session, sizeof session, "%s", sid->valuestring);
			else
				rc = cfs_errf(err, -EIO, "%s: no session in the open answer", to->name);
			cJSON_Delete(j);
		}
		agent_reply_free(&r);
	}
	uint64_t off = 0;
	while (!rc) {
		if (x->cancelled && x->cancelled(x->cancel_arg)) {
			rc = cfs_errf(err, -ECANCELED, "cancelled");
			break;
		}
		struct agent_reply data;
		target(&tg, "read", from_path);
		cfs_buf_printf(&tg, "&offset=%" PRIu64 "&length=%u", off, CHUNK);
		for (int i = 0; i < RETRIES; i++) {
			rc = call(e, from, "GET", &tg, NULL, 0, &data, err);
			if (!rc || !transient(rc))
				break;
			agent_reply_free(&data);
		}
		if (rc)
			break;
		size_t n = data.body.len;
		if (n == 0) {
			agent_reply_free(&data);
			break;
		}
		char h[CFS_XXH128_HEX];
		cfs_xxh128_hex(data.body.data, n, h);
		cfs_xxh128_update(whole, data.body.data, n);
		char wt[200];
		snprintf(wt, sizeof wt, "/v1/file/write?session=%s&offset=%" PRIu64 "&xxh128=%s", session,
			 off, h);
		for (int i = 0; i < RETRIES; i++) {
			struct agent_reply wr;
			rc = agent_call(e, to, "PUT", wt, data.body.data, n, &wr, err);
			agent_reply_free(&wr);
			if (!rc || !transient(rc))
				break;
		}
		agent_reply_free(&data);
		if (rc)
			break;
		off += n;
		if (x->on_bytes)
			x->on_bytes(x->cb_arg, n);
		if (n < CHUNK)
			break;
	}
	if (!rc) {
		char h[CFS_XXH128_HEX], ct[200];
		cfs_xxh128_final_hex(whole, h);
		snprintf(ct, sizeof ct, "/v1/file/commit?session=%s&xxh128=%s", session, h);
		rc = agent_call(e, to, "POST", ct, NULL, 0, &r, err);
		agent_reply_free(&r);
		if (!rc)
			session[0] = '\0';   /* committed: the session is gone */
	}
	if (!rc)
		rc = finish(e, to, tmp, to_path, mode, mtime_ns, false, err);
	if (rc) {
		struct cfs_err ignore = { 0 };
		if (session[0]) {
			char at[128];
			snprintf(at, sizeof at, "/v1/file/abort?session=%s", session);
			agent_call(e, to, "POST", at, NULL, 0, &r, &ignore);
			agent_reply_free(&r);
		}
		if (rc != -EEXIST)
			mx_simple(e, to, "unlink", tmp, NULL, &ignore);
	}
	cfs_xxh128_free(whole);
	cfs_buf_free(&tg);
	return rc;
}

int mx_copy_link(struct mx *x, const struct agent_target *to, const char *to_path,
		 const char *link_target, int64_t mtime_ns, struct cfs_err *err)
{
	char tmp[4200];
	tmp_name(to_path, tmp, sizeof tmp);
	struct cfs_buf extra = CFS_BUF_INIT;
	cfs_buf_puts(&extra, "&target=");
	wire_urlencode(link_target, &extra);
	int rc = extra.data ? mx_simple(x->e, to, "symlink", tmp, extra.data, err) : -ENOMEM;
	cfs_buf_free(&extra);
	if (!rc) {
		rc = finish(x->e, to, tmp, to_path, 0, mtime_ns, true, err);
		if (rc) {
			struct cfs_err ignore = { 0 };
			mx_simple(x->e, to, "unlink", tmp, NULL, &ignore);
		}
	}
	return rc;
}
