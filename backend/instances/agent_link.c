/* agent_link.c — the manager's signed calls to one instance's agent. */
#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/engine_priv.h"
#include "core/events.h"
#include "core/log.h"
#include "core/util.h"
#include "instances/instances.h"
#include "state/db.h"
#include "wire/wire.h"

#define SECRET_PURPOSE "instance-secret"

int agent_target_load(struct cfs_engine *e, const char *name, struct agent_target *t,
		      struct cfs_err *err)
{
	sqlite3_stmt *st;
	int r;
	uint8_t *sealed = NULL;
	size_t sealed_len = 0;
	memset(t, 0, sizeof *t);
	db_lock(e->db);
	r = db_prepare(e->db, "SELECT name, url, COALESCE(env_id,''), secret, tls_require, "
			      "COALESCE(pin,'') FROM instances WHERE name = ?", &st);
	if (!r) {
		sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
		int rc = sqlite3_step(st);
		if (rc == SQLITE_ROW) {
			snprintf(t->name, sizeof t->name, "%s", sqlite3_column_text(st, 0));
			snprintf(t->url, sizeof t->url, "%s", sqlite3_column_text(st, 1));
			snprintf(t->env_id, sizeof t->env_id, "%s", sqlite3_column_text(st, 2));
			sealed_len = (size_t)sqlite3_column_bytes(st, 3);
			sealed = malloc(sealed_len ? sealed_len : 1);
			if (sealed)
				memcpy(sealed, sqlite3_column_blob(st, 3), sealed_len);
			else
				r = -ENOMEM;
			t->tls_require = sqlite3_column_int(st, 4) != 0;
			snprintf(t->pin, sizeof t->pin, "%s", sqlite3_column_text(st, 5));
		} else {
			r = rc == SQLITE_DONE ? -ENOENT : db_errno(rc);
		}
		sqlite3_reset(st);
	}
	db_unlock(e->db);
	if (r) {
		free(sealed);
		return cfs_errf(err, r, "no instance named %s", name);
	}
	uint8_t *pt = NULL;
	size_t pt_len = 0;
	r = cfs_open(e->master, SECRET_PURPOSE, sealed, sealed_len, &pt, &pt_len);
	free(sealed);
	if (r || pt_len != CFS_KEY_LEN) {
		if (pt) {
			cfs_cleanse(pt, pt_len);
			free(pt);
		}
		return cfs_errf(err, -EIO, "the secret of %s does not open with this node's master key",
				name);
	}
	memcpy(t->secret, pt, CFS_KEY_LEN);
	cfs_cleanse(pt, pt_len);
	free(pt);
	return 0;
}

void agent_target_wipe(struct agent_target *t)
{
	cfs_cleanse(t->secret, sizeof t->secret);
}

void agent_reply_free(struct agent_reply *r)
{
	cfs_buf_free(&r->body);
}

static void mark_unreachable(struct cfs_engine *e, const char *name, int code, const char *why)
{
	struct inst_status s;
	runtime_get(e, name, &s);
	const char *was = s.status;
	char old[16];
	snprintf(old, sizeof old, "%s", was);
	snprintf(s.status, sizeof s.status, "offline");
	snprintf(s.error, sizeof s.error, "%s", why);
	s.missed++;
	runtime_put(e, &s);
	if (strcmp(old, "offline") != 0) {
		log_warn("instance %s is offline: %s (%s)", name, why, cfs_errno_name(code));
		cfs_event_emitf(e, "instance.offline", name, name, NULL, NULL, NULL);
	}
}

int agent_call(struct cfs_engine *e, const struct agent_target *t, const char *method,
	       const char *target, const void *body, size_t len, struct agent_reply *r,
	       struct cfs_err *err)
{
	return agent_call_slow(e, t, method, target, body, len, (int)(e->cfg.poll_timeout_s * 1000),
			       r, err);
}

int agent_call_slow(struct cfs_engine *e, const struct agent_target *t, const char *method,
		    const char *target, const void *body, size_t len, int timeout_ms,
		    struct agent_reply *r, struct cfs_err *err)
{
	struct wire_peer p = {
		.base_url = t->url,
		.self_env = e->env_id,
		.tls_require = t->tls_require,
		.pin = t->pin[0] ? t->pin : NULL,
		.timeout_ms = timeout_ms,
		.connect_timeout_ms = (int)(e->cfg.poll_timeout_s * 1000),
	};
	memcpy(p.secret, t->secret, sizeof p.secret);
	struct wire_reply wr = { 0 };
	struct cfs_err werr = { 0 };
	memset(r, 0, sizeof *r);
	int rc = wire_call(e->wc, &p, method, target, body, len, &wr, &werr);
	cfs_cleanse(p.secret, sizeof p.secret);
	if (rc) {
		if (rc == -EHOSTUNREACH || rc == -ETIMEDOUT)
			mark_unreachable(e, t->name, rc, werr.msg);
		wire_reply_free(&wr);
		return cfs_errf(err, rc, "%s: %s", t->name, werr.msg[0] ? werr.msg : strerror(-rc));
	}
	r->status = wr.status;
	r->body = wr.body;
	wr.body = (struct cfs_buf)CFS_BUF_INIT;
	wire_reply_free(&wr);
	if (r->status >= 200 && r->status < 300)
		return 0;
	int code = wire_status_errno(r->status, r->body.data, r->body.len);
	/* the agent's message, for the outcome and /self/errors */
	char msg[160] = "";
	const char *m = r->body.data ? strstr(r->body.data, "\"message\"") : NULL;
	if (m) {
		m = strchr(m + 9, '"');
		if (m) {
			size_t n = strcspn(m + 1, "\"");
			snprintf(msg, sizeof msg, "%.*s", (int)(n < sizeof msg - 1 ? n : sizeof msg - 1), m + 1);
		}
	}
	return cfs_errf(err, code, "%s answered %d%s%s", t->name, r->status, msg[0] ? ": " : "", msg);
}
