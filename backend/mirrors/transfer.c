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
 * A call that fails in transit is tried again for about 30 s (mx_call): the
 * session on the destination keeps what was verified, so a dropped
 * connection resumes at the chunk that failed.  A large file with an old
 * copy at the destination goes as a delta (delta.c). */
#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth/crypto.h"
#include "core/engine_priv.h"
#include "core/log.h"
#include "core/util.h"
#include "instances/instances.h"
#include "mirrors/transfer.h"
#include "wire/wire.h"

#define CHUNK (4u << 20)
/* pauses between tries of a call that failed in transit, in ms */
static const int backoff_ms[] = { 200, 500, 1000, 2000, 4000, 8000, 14000 };

/* A transient failure worth trying again. */
static bool transient(int r)
{
	return r == -ETIMEDOUT || r == -EHOSTUNREACH || r == -EPROTO || r == -ECONNRESET ||
	       r == -ECONNREFUSED;
}

static bool cancelled(struct mx *x)
{
	return x->cancelled && x->cancelled(x->cancel_arg);
}

static int call_retry(struct mx *x, const struct agent_target *t, const char *method,
		      const char *target, const void *body, size_t len, int timeout_ms,
		      struct agent_reply *r, struct cfs_err *err)
{
	int rc;
	for (size_t i = 0;; i++) {
		rc = timeout_ms ? agent_call_slow(x->e, t, method, target, body, len, timeout_ms, r, err)
				: agent_call(x->e, t, method, target, body, len, r, err);
		if (!rc || !transient(rc) || i >= sizeof backoff_ms / sizeof backoff_ms[0])
			return rc;
		agent_reply_free(r);
		for (int waited = 0; waited < backoff_ms[i]; waited += 100) {
			if (cancelled(x))
				return cfs_errf(err, -ECANCELED, "cancelled");
			nanosleep(&(struct timespec){ .tv_nsec = 100 * 1000000L }, NULL);
		}
		log_debug("%s: trying %s again after: %s", t->name, method, err->msg);
	}
	return rc;
}

int mx_call(struct mx *x, const struct agent_target *t, const char *method, const char *target,
	    const void *body, size_t len, struct agent_reply *r, struct cfs_err *err)
{
	return call_retry(x, t, method, target, body, len, 0, r, err);
}

int mx_call_slow(struct mx *x, const struct agent_target *t, const char *method,
		 const char *target, int timeout_ms, struct agent_reply *r, struct cfs_err *err)
{
	return call_retry(x, t, method, target, NULL, 0, timeout_ms, r, err);
}

/* "/v1/file/OP?path=P" */
static void target(struct cfs_buf *tg, const char *op, const char *path)
{
	cfs_buf_reset(tg);
	cfs_buf_printf(tg, "/v1/file/%s?path=", op);
	wire_urlencode(path, tg);
}

static int simple(struct mx *x, const struct agent_target *t, const char *op, const char *path,
		  const char *extra, struct cfs_err *err)
{
	struct cfs_buf tg = CFS_BUF_INIT;
	struct agent_reply r;
	target(&tg, op, path);
	if (extra)
		cfs_buf_puts(&tg, extra);
	int rc = tg.data ? mx_call(x, t, "POST", tg.data, NULL, 0, &r, err)
			 : cfs_errf(err, -ENOMEM, "out of memory");
	if (tg.data)
		agent_reply_free(&r);
	cfs_buf_free(&tg);
	return rc;
}

int mx_simple(struct cfs_engine *e, const struct agent_target *t, const char *op,
	      const char *path, const char *extra, struct cfs_err *err)
{
	struct mx x = { .e = e };
	return simple(&x, t, op, path, extra, err);
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

/* An mtime as the agent takes it: SEC:NSEC, NSEC never negative. */
static void mtime_arg(int64_t mtime_ns, char out[48])
{
	int64_t s = mtime_ns / 1000000000, ns = mtime_ns % 1000000000;
	if (ns < 0)
		s--, ns += 1000000000;
	snprintf(out, 48, "%" PRId64 ":%" PRId64, s, ns);
}

/* chmod + utimens on tmp, then rename it over path.  The rename is not
 * tried again: a rename that landed but whose answer was lost would fail
 * the second time. */
static int finish(struct mx *x, const struct agent_target *t, const char *tmp, const char *path,
		  unsigned mode, int64_t mtime_ns, bool is_link, struct cfs_err *err)
{
	char extra[96];
	int rc = 0;
	if (!is_link) {
		snprintf(extra, sizeof extra, "&mode=%o", mode & 07777);
		rc = simple(x, t, "chmod", tmp, extra, err);
	}
	if (!rc) {
		char m[48];
		mtime_arg(mtime_ns, m);
		snprintf(extra, sizeof extra, "&mtime=%s", m);
		rc = simple(x, t, "utimens", tmp, extra, err);
	}
	if (!rc) {
		struct cfs_buf tg = CFS_BUF_INIT;
		struct agent_reply r;
		target(&tg, "rename", tmp);
		cfs_buf_puts(&tg, "&to=");
		wire_urlencode(path, &tg);
		rc = tg.data ? agent_call(x->e, t, "POST", tg.data, NULL, 0, &r, err)
			     : cfs_errf(err, -ENOMEM, "out of memory");
		if (tg.data)
			agent_reply_free(&r);
		cfs_buf_free(&tg);
	}
	return rc;
}

/* Create tmp (exclusively) and open a write session on it. */
static int session_open(struct mx *x, const struct agent_target *to, const char *tmp, char *sid,
			size_t sid_len, struct cfs_err *err)
{
	struct cfs_buf tg = CFS_BUF_INIT;
	struct agent_reply r;
	target(&tg, "open", tmp);
	cfs_buf_puts(&tg, "&create=1&excl=1&truncate=1&mode=600");
	/* not tried again: a second exclusive create of the same name fails */
	int rc = tg.data ? agent_call(x->e, to, "POST", tg.data, NULL, 0, &r, err)
			 : cfs_errf(err, -ENOMEM, "out of memory");
	if (!rc) {
		cJSON *j = cJSON_ParseWithLength(r.body.data ? r.body.data : "", r.body.len);
		const cJSON *id = cJSON_GetObjectItemCaseSensitive(j, "session");
		if (cJSON_IsString(id) && strlen(id->valuestring) < sid_len)
			snprintf(sid, sid_len, "%s", id->valuestring);
		else
			rc = cfs_errf(err, -EIO, "%s: no session in the open answer", to->name);
		cJSON_Delete(j);
	}
	if (tg.data)
		agent_reply_free(&r);
	cfs_buf_free(&tg);
	return rc;
}

int mx_stream(struct mx *x, const struct agent_target *from, const char *from_path, uint64_t off,
	      uint64_t len, const struct agent_target *to, const char *sid, struct cfs_xxh128 *whole,
	      uint64_t *got, struct cfs_err *err)
{
	struct cfs_buf tg = CFS_BUF_INIT;
	uint64_t done = 0;
	int rc = 0;
	while (done < len) {
		if (cancelled(x)) {
			rc = cfs_errf(err, -ECANCELED, "cancelled");
			break;
		}
		uint64_t want = len - done < CHUNK ? len - done : CHUNK;
		struct agent_reply data;
		target(&tg, "read", from_path);
		cfs_buf_printf(&tg, "&offset=%" PRIu64 "&length=%" PRIu64, off + done, want);
		if (!tg.data) {
			rc = cfs_errf(err, -ENOMEM, "out of memory");
			break;
		}
		if ((rc = mx_call(x, from, "GET", tg.data, NULL, 0, &data, err)))
			break;
		size_t n = data.body.len;
		if (n == 0 || n > want) {
			agent_reply_free(&data);
			if (len != UINT64_MAX || n > want)
				rc = cfs_errf(err, -EAGAIN, "%s: %s changed while it was copied",
					      from->name, from_path);
			break;
		}
		char h[CFS_XXH128_HEX];
		cfs_xxh128_hex(data.body.data, n, h);
		if (whole)
			cfs_xxh128_update(whole, data.body.data, n);
		char wt[200];
		snprintf(wt, sizeof wt, "/v1/file/write?session=%s&offset=%" PRIu64 "&xxh128=%s", sid,
			 off + done, h);
		struct agent_reply wr;
		rc = mx_call(x, to, "PUT", wt, data.body.data, n, &wr, err);
		agent_reply_free(&wr);
		agent_reply_free(&data);
		if (rc)
			break;
		done += n;
		if (x->on_bytes)
			x->on_bytes(x->cb_arg, n, n);
		if (n < want) {
			if (len != UINT64_MAX)
				rc = cfs_errf(err, -EAGAIN, "%s: %s changed while it was copied",
					      from->name, from_path);
			break;
		}
	}
	cfs_buf_free(&tg);
	if (got)
		*got = done;
	return rc;
}

/* One try: session on a fresh temp name, content (as a delta or whole),
 * commit, attributes, rename.  The temp file goes away on failure. */
static int copy_once(struct mx *x, const struct agent_target *from, const struct agent_target *to,
		     const struct mx_file *f, bool delta, struct cfs_err *err)
{
	char tmp[4200], sid[64] = "", h[CFS_XXH128_HEX];
	struct cfs_xxh128 *whole = NULL;
	struct agent_reply r;
	tmp_name(f->to_path, tmp, sizeof tmp);
	int rc = session_open(x, to, tmp, sid, sizeof sid, err);
	if (rc)
		return rc;
	if (delta) {
		rc = mx_delta_fill(x, from, to, f, sid, err);
		snprintf(h, sizeof h, "%s", f->xxh);
	} else if (!(whole = cfs_xxh128_new())) {
		rc = cfs_errf(err, -ENOMEM, "out of memory");
	} else {
		rc = mx_stream(x, from, f->from_path, 0, UINT64_MAX, to, sid, whole, NULL, err);
		cfs_xxh128_final_hex(whole, h);
	}
	if (!rc) {
		char ct[200];
		snprintf(ct, sizeof ct, "/v1/file/commit?session=%s&xxh128=%s", sid, h);
		rc = agent_call(x->e, to, "POST", ct, NULL, 0, &r, err);
		agent_reply_free(&r);
		if (!rc)
			sid[0] = '\0';   /* committed: the session is gone */
		else if (delta && rc == -EIO)
			rc = cfs_errf(err, -EAGAIN, "%s", err->msg);   /* hash mismatch: whole copy */
	}
	if (!rc)
		rc = finish(x, to, tmp, f->to_path, f->mode, f->mtime_ns, false, err);
	if (rc) {
		struct cfs_err ignore = { 0 };
		if (sid[0]) {
			char at[128];
			snprintf(at, sizeof at, "/v1/file/abort?session=%s", sid);
			agent_call(x->e, to, "POST", at, NULL, 0, &r, &ignore);
			agent_reply_free(&r);
		}
		if (rc != -EEXIST)
			mx_simple(x->e, to, "unlink", tmp, NULL, &ignore);
	}
	cfs_xxh128_free(whole);
	return rc;
}

/* A small file in two requests: read it whole, then PUT /v1/file/put, which
 * checks it, writes a temp file with mode and mtime and renames it into
 * place.  -ENOTSUP when it is not small after all (it grew) or the agent
 * has no put: the caller uses a write session. */
static int copy_small(struct mx *x, const struct agent_target *from,
		      const struct agent_target *to, const struct mx_file *f, struct cfs_err *err)
{
	struct cfs_buf tg = CFS_BUF_INIT;
	struct agent_reply data, r;
	target(&tg, "read", f->from_path);
	cfs_buf_printf(&tg, "&offset=0&length=%u", CHUNK);
	int rc = tg.data ? mx_call(x, from, "GET", tg.data, NULL, 0, &data, err)
			 : cfs_errf(err, -ENOMEM, "out of memory");
	if (rc || data.body.len >= CHUNK) {
		if (tg.data)
			agent_reply_free(&data);
		cfs_buf_free(&tg);
		return rc ? rc : -ENOTSUP;
	}
	char h[CFS_XXH128_HEX];
	cfs_xxh128_hex(data.body.data ? data.body.data : "", data.body.len, h);
	char m[48];
	mtime_arg(f->mtime_ns, m);
	target(&tg, "put", f->to_path);
	cfs_buf_printf(&tg, "&xxh128=%s&mode=%o&mtime=%s", h, f->mode & 07777, m);
	rc = tg.data ? mx_call(x, to, "PUT", tg.data, data.body.data, data.body.len, &r, err)
		     : cfs_errf(err, -ENOMEM, "out of memory");
	if (tg.data)
		agent_reply_free(&r);
	/* an agent without put: 404 "no file operation put" */
	if (rc == -ENOENT && strstr(err->msg, "no file operation"))
		rc = -ENOTSUP;
	if (!rc && x->on_bytes)
		x->on_bytes(x->cb_arg, data.body.len, data.body.len);
	agent_reply_free(&data);
	cfs_buf_free(&tg);
	return rc;
}

int mx_copy_file(struct mx *x, const struct agent_target *from, const struct agent_target *to,
		 const struct mx_file *f, struct cfs_err *err)
{
	if (f->size < CHUNK) {
		int rc = copy_small(x, from, to, f, err);
		if (rc != -ENOTSUP)
			return rc;
		memset(err, 0, sizeof *err);
	}
	bool delta = f->base && f->xxh && f->xxh[0] && f->size >= MX_DELTA_MIN;
	if (delta) {
		int rc = copy_once(x, from, to, f, true, err);
		if (rc != -ENOTSUP && rc != -EAGAIN)
			return rc;
		log_info("%s: %s sent whole: %s", to->name, f->to_path, err->msg);
		memset(err, 0, sizeof *err);
	}
	return copy_once(x, from, to, f, false, err);
}

int mx_copy_link(struct mx *x, const struct agent_target *to, const char *to_path,
		 const char *link_target, int64_t mtime_ns, struct cfs_err *err)
{
	char tmp[4200];
	tmp_name(to_path, tmp, sizeof tmp);
	struct cfs_buf extra = CFS_BUF_INIT;
	cfs_buf_puts(&extra, "&target=");
	wire_urlencode(link_target, &extra);
	int rc = extra.data ? simple(x, to, "symlink", tmp, extra.data, err) : -ENOMEM;
	cfs_buf_free(&extra);
	if (!rc) {
		rc = finish(x, to, tmp, to_path, 0, mtime_ns, true, err);
		if (rc) {
			struct cfs_err ignore = { 0 };
			mx_simple(x->e, to, "unlink", tmp, NULL, &ignore);
		}
	}
	return rc;
}
