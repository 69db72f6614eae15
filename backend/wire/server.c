/* server.c — the receiving end of the signed protocol, on libmicrohttpd.
 *
 * A request goes through these phases, each on the thread noted:
 *   NEW      (I/O thread) the raw target was captured by the URI log callback,
 *            which runs before libmicrohttpd decodes anything; a declared body
 *            over WIRE_MAX_BODY is refused with 413 at once.
 *   BODY     (I/O thread) the body is gathered; then sign.c verifies the
 *            request.  A refusal is sent unsigned: we do not know the sender.
 *   RUNNING  (worker thread) the connection is suspended and the route
 *            handler runs on workers.c's threads, so a handler that blocks
 *            never holds an I/O thread; its response is signed there.
 *   REPLY    (I/O thread) resumed, the signed response is queued.
 * The per-request state lives from the URI log callback to the completion
 * callback, which libmicrohttpd calls for every request it logged. */
#include "wire/internal.h"

#include <errno.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "auth/crypto.h"
#include "core/log.h"
#include "core/util.h"

#define SERVER_DEFAULT_THREADS 8
#define SERVER_WORKER_FACTOR 16
#define SERVER_IDLE_TIMEOUT_S 120
#define SERVER_NONCES (1u << 17)
#define SERVER_PEM_MAX (1u << 20)

enum rq_phase { RQ_NEW, RQ_BODY, RQ_RUNNING, RQ_REPLY, RQ_DONE };

struct wire_server {
	struct MHD_Daemon *d;
	unsigned short port;
	wire_secret_lookup_fn lookup;
	void *lookup_arg;
	wire_handler_fn handler;
	void *handler_arg;
	struct wire_nonce_cache *nonces;
	struct wire_workers *workers;
	struct wire_netmask *proxies;
	size_t nproxies;
	char *cert_pem, *key_pem;     /* libmicrohttpd keeps pointers to these */
	size_t key_len;

	pthread_mutex_t mu;
	pthread_cond_t idle;          /* inflight dropped to 0 */
	unsigned inflight;            /* handlers started and not yet resumed */
	bool stopping;
};

/* One request (MHD calls it a connection's request context). */
struct wire_conn {
	struct wire_server *srv;
	struct MHD_Connection *mc;
	enum rq_phase phase;
	char *target;
	char *path;
	struct wire_qparam *q;
	size_t nq;
	struct cfs_buf body;
	char method[24];
	char nonce[33];
	char env[WIRE_ENV_ID_MAX + 1];
	uint8_t secret[32];
	bool authed;
	char fwd_host[256];
	struct wire_request rq;
	struct wire_response rs;
	char sig[65];
};

/* ---------- responses ---------- */

static void json_error(struct cfs_buf *b, const char *code, const char *errname, const char *msg)
{
	cJSON *j = cJSON_CreateObject();
	cfs_buf_reset(b);
	if (j && cJSON_AddStringToObject(j, "error", code) &&
	    (!errname || cJSON_AddStringToObject(j, "errno", errname)) &&
	    cJSON_AddStringToObject(j, "message", msg)) {
		char *s = cJSON_PrintUnformatted(j);
		if (s)
			cfs_buf_puts(b, s);
		free(s);
	}
	cJSON_Delete(j);
}

void wire_error(struct wire_response *rs, int status, const char *code, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	rs->status = status;
	rs->content_type = NULL;
	json_error(&rs->body, code, NULL, msg);
}

void wire_error_errno(struct wire_response *rs, int err, const char *fmt, ...)
{
	static const struct {
		int err, status;
		const char *code;
	} map[] = {
		{ ENOENT, 404, "not_found" },      { EACCES, 403, "forbidden" },
		{ EPERM, 403, "forbidden" },       { EINVAL, 400, "bad_request" },
		{ EFBIG, 413, "too_large" },       { EBUSY, 423, "busy" },
		{ ENOTSUP, 501, "not_supported" }, { ENOSYS, 501, "not_supported" },
		{ ETIMEDOUT, 504, "timeout" },     { EIO, 500, "internal" },
	};
	char msg[512];
	va_list ap;
	int status = 409;
	const char *code = "conflict";
	if (err < 0)
		err = -err;
	for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
		if (map[i].err == err) {
			status = map[i].status;
			code = map[i].code;
		}
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	rs->status = status;
	rs->content_type = NULL;
	json_error(&rs->body, code, wire_errno_name(err), msg);
}

/* Queue rs on the connection; signed with the sender's secret when known.
 * Consumes rs->body. */
static enum MHD_Result send_response(struct wire_conn *c, struct MHD_Connection *mc,
				     struct wire_response *rs, const char *sig)
{
	size_t len = rs->body.len;
	char *data = len ? cfs_buf_steal(&rs->body) : NULL;
	struct MHD_Response *resp = len ? MHD_create_response_from_buffer(len, data, MHD_RESPMEM_MUST_FREE)
					: MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
	if (!resp) {
		free(data);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
				rs->content_type ? rs->content_type : "application/json");
	if (sig)
		MHD_add_response_header(resp, "X-Cloudfs-Signature", sig);
	const char *colon = strchr(rs->extra_header, ':');
	if (colon && colon > rs->extra_header && !strpbrk(rs->extra_header, "\r\n")) {
		char name[128];
		size_t n = (size_t)(colon - rs->extra_header);
		memcpy(name, rs->extra_header, n);
		name[n] = '\0';
		const char *value = colon + 1 + strspn(colon + 1, " \t");
		MHD_add_response_header(resp, name, value);
	}
	enum MHD_Result r = MHD_queue_response(mc, (unsigned)rs->status, resp);
	MHD_destroy_response(resp);
	if (c)
		c->phase = RQ_DONE;
	return r;
}

/* An unsigned refusal of a request we could not (or did not) authenticate. */
static enum MHD_Result refuse(struct wire_conn *c, struct MHD_Connection *mc, int status,
			      const char *code, const char *msg)
{
	struct wire_response rs = { .status = status };
	json_error(&rs.body, code, NULL, msg);
	enum MHD_Result r = send_response(c, mc, &rs, NULL);
	cfs_buf_free(&rs.body);
	return r;
}

/* Sign c->rs for the verified sender.  HEAD responses go out without a body,
 * so that is what gets signed. */
static void sign_reply(struct wire_conn *c)
{
	struct wire_response *rs = &c->rs;
	if (rs->status < 100 || rs->status > 599) {
		log_err("wire: handler for %s %s set status %d", c->method, c->target, rs->status);
		wire_error(rs, 500, "internal", "handler set an invalid status");
	}
	if (strcmp(c->method, "HEAD") == 0)
		cfs_buf_free(&rs->body);
	if (wire_sign_response(c->secret, c->nonce, rs->status, rs->body.data, rs->body.len, c->sig)) {
		/* Cannot happen with a valid nonce; an unsigned reply is refused
		 * by the client, which is the safe outcome. */
		c->sig[0] = '\0';
	}
}

/* ---------- request phases ---------- */

/* The host the sender addressed: Host, or the first X-Forwarded-Host entry
 * (the one nearest the sender) when the peer is a trusted proxy. */
static const char *client_host(struct wire_server *s, struct wire_conn *c,
			       struct MHD_Connection *mc)
{
	const char *host = MHD_lookup_connection_value(mc, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST);
	if (!s->nproxies)
		return host;
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(mc, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (!ci || !wire_proxies_match(s->proxies, s->nproxies, ci->client_addr))
		return host;
	const char *fwd = MHD_lookup_connection_value(mc, MHD_HEADER_KIND, "X-Forwarded-Host");
	if (!fwd)
		return host;
	size_t n = strcspn(fwd, ",");
	if (n >= sizeof c->fwd_host)
		return fwd;   /* too long to be a host: fails the form check */
	memcpy(c->fwd_host, fwd, n);
	c->fwd_host[n] = '\0';
	return c->fwd_host;
}

static void run_handler(void *arg)
{
	struct wire_conn *c = arg;
	struct wire_server *s = c->srv;
	c->rs.status = 200;
	s->handler(s->handler_arg, &c->rq, &c->rs);
	sign_reply(c);
	c->phase = RQ_REPLY;
	/* From here on c belongs to the I/O thread again. */
	MHD_resume_connection(c->mc);
	pthread_mutex_lock(&s->mu);
	if (--s->inflight == 0)
		pthread_cond_broadcast(&s->idle);
	pthread_mutex_unlock(&s->mu);
}

/* Path and query of the raw target. */
static int split_target(struct wire_conn *c)
{
	size_t plen = strcspn(c->target, "?");
	size_t dlen;
	int ret = wire_pct_decode(c->target, plen, false, true, &c->path, &dlen);
	if (ret)
		return ret;
	if (strlen(c->path) != dlen)
		return -EINVAL;
	return c->target[plen] ? wire_query_parse(c->target + plen + 1, &c->q, &c->nq) : 0;
}

static enum MHD_Result finish_request(struct wire_server *s, struct wire_conn *c)
{
	struct MHD_Connection *mc = c->mc;
	struct wire_verdict v;
	struct wire_inbound in = {
		.h_env = MHD_lookup_connection_value(mc, MHD_HEADER_KIND, "X-Cloudfs-Env"),
		.h_timestamp = MHD_lookup_connection_value(mc, MHD_HEADER_KIND, "X-Cloudfs-Timestamp"),
		.h_nonce = MHD_lookup_connection_value(mc, MHD_HEADER_KIND, "X-Cloudfs-Nonce"),
		.h_signature = MHD_lookup_connection_value(mc, MHD_HEADER_KIND, "X-Cloudfs-Signature"),
		.method = c->method,
		.target = c->target,
		.host = client_host(s, c, mc),
		.body = c->body.data,
		.body_len = c->body.len,
		.now_ms = cfs_now_ms(),
	};
	if (wire_verify_request(&in, s->lookup, s->lookup_arg, s->nonces, &v)) {
		log_info("wire: refused %s %.200s: %d %s: %s", c->method, c->target, v.status, v.code,
			 v.message);
		return refuse(c, mc, v.status, v.code, v.message);
	}
	c->authed = true;
	memcpy(c->secret, v.secret, sizeof c->secret);
	snprintf(c->env, sizeof c->env, "%s", v.env);
	snprintf(c->nonce, sizeof c->nonce, "%s", in.h_nonce);
	cfs_cleanse(&v, sizeof v);

	int ret = split_target(c);
	if (ret) {
		if (ret == -ENOMEM)
			wire_error(&c->rs, 503, "busy", "out of memory");
		else
			wire_error(&c->rs, 400, "bad_request", "malformed percent-encoding in the path");
		sign_reply(c);
		return send_response(c, mc, &c->rs, c->sig[0] ? c->sig : NULL);
	}
	c->rq = (struct wire_request){
		.method = c->method,
		.target = c->target,
		.path = c->path,
		.env = c->env,
		.body = c->body.data ? c->body.data : "",
		.body_len = c->body.len,
		.conn_ = c,
	};

	pthread_mutex_lock(&s->mu);
	bool stopping = s->stopping;
	if (!stopping)
		s->inflight++;
	pthread_mutex_unlock(&s->mu);
	if (stopping) {
		wire_error(&c->rs, 503, "stopping", "the server is shutting down");
		sign_reply(c);
		return send_response(c, mc, &c->rs, c->sig[0] ? c->sig : NULL);
	}

	c->phase = RQ_RUNNING;
	MHD_suspend_connection(mc);
	if (wire_workers_submit(s->workers, run_handler, c)) {
		wire_error(&c->rs, 503, "busy", "no handler thread available");
		sign_reply(c);
		c->phase = RQ_REPLY;
		MHD_resume_connection(mc);
		pthread_mutex_lock(&s->mu);
		if (--s->inflight == 0)
			pthread_cond_broadcast(&s->idle);
		pthread_mutex_unlock(&s->mu);
	}
	return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *mc, const char *url,
				  const char *method, const char *version, const char *upload_data,
				  size_t *upload_data_size, void **req_cls)
{
	struct wire_server *s = cls;
	struct wire_conn *c = *req_cls;
	(void)url;
	(void)version;
	if (!c)
		return refuse(NULL, mc, 503, "busy", "out of memory");

	switch (c->phase) {
	case RQ_NEW: {
		c->srv = s;
		c->mc = mc;
		c->phase = RQ_BODY;
		if (strlen(method) >= sizeof c->method)
			return refuse(c, mc, 400, "bad_request", "malformed request method");
		snprintf(c->method, sizeof c->method, "%s", method);
		const char *cl = MHD_lookup_connection_value(mc, MHD_HEADER_KIND,
							     MHD_HTTP_HEADER_CONTENT_LENGTH);
		uint64_t n;
		if (cl && !cfs_parse_u64(cl, &n) && n > WIRE_MAX_BODY)
			return refuse(c, mc, 413, "too_large", "request body over the limit");
		return MHD_YES;
	}
	case RQ_BODY:
		if (*upload_data_size) {
			/* A chunked body that outgrows the limit: there is no
			 * clean way to answer mid-upload, so close. */
			if (c->body.len + *upload_data_size > WIRE_MAX_BODY ||
			    cfs_buf_append(&c->body, upload_data, *upload_data_size))
				return MHD_NO;
			*upload_data_size = 0;
			return MHD_YES;
		}
		return finish_request(s, c);
	case RQ_REPLY:
		return send_response(c, mc, &c->rs, c->sig[0] ? c->sig : NULL);
	case RQ_RUNNING:
	case RQ_DONE:
		break;
	}
	return MHD_NO;
}

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *mc)
{
	(void)cls;
	(void)mc;
	struct wire_conn *c = calloc(1, sizeof *c);
	if (!c)
		return NULL;
	c->target = strdup(uri);
	if (!c->target) {
		free(c);
		return NULL;
	}
	return c;
}

static void on_completed(void *cls, struct MHD_Connection *mc, void **req_cls,
			 enum MHD_RequestTerminationCode toe)
{
	(void)cls;
	(void)mc;
	(void)toe;
	struct wire_conn *c = *req_cls;
	if (!c)
		return;
	*req_cls = NULL;
	free(c->target);
	free(c->path);
	wire_query_free(c->q, c->nq);
	cfs_buf_free(&c->body);
	cfs_buf_free(&c->rs.body);
	cfs_cleanse(c->secret, sizeof c->secret);
	free(c);
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[256];
	(void)cls;
	vsnprintf(msg, sizeof msg, fmt, ap);
	msg[strcspn(msg, "\n")] = '\0';
	log_warn("wire: http: %s", msg);
}

/* ---------- queries ---------- */

const char *wire_query_n(const struct wire_request *rq, const char *key, size_t *len)
{
	const struct wire_conn *c = rq ? rq->conn_ : NULL;
	const struct wire_qparam *p = c && key ? wire_query_find(c->q, c->nq, key) : NULL;
	if (len)
		*len = p ? p->val_len : 0;
	return p ? p->val : NULL;
}

const char *wire_query(const struct wire_request *rq, const char *key)
{
	return wire_query_n(rq, key, NULL);
}

bool wire_stopping(const struct wire_request *rq)
{
	const struct wire_conn *c = rq ? rq->conn_ : NULL;
	if (!c)
		return false;
	pthread_mutex_lock(&c->srv->mu);
	bool stopping = c->srv->stopping;
	pthread_mutex_unlock(&c->srv->mu);
	return stopping;
}

/* ---------- start and stop ---------- */

static int read_pem(const char *path, char **out, size_t *len, struct cfs_err *err)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return cfs_errf(err, -errno, "%s: %s", path, strerror(errno));
	struct cfs_buf b = CFS_BUF_INIT;
	char chunk[4096];
	size_t n;
	int ret = 0;
	while (!ret && (n = fread(chunk, 1, sizeof chunk, f)) > 0)
		ret = b.len + n > SERVER_PEM_MAX ? -EFBIG : cfs_buf_append(&b, chunk, n);
	if (!ret && ferror(f))
		ret = -EIO;
	fclose(f);
	if (!ret && !b.len)
		ret = -EINVAL;
	if (ret) {
		cfs_cleanse(b.data, b.cap);
		cfs_buf_free(&b);
		return cfs_errf(err, ret, "%s: cannot read a PEM file (%s)", path, strerror(-ret));
	}
	*len = b.len;
	*out = cfs_buf_steal(&b);
	return 0;
}

static void server_free(struct wire_server *s)
{
	wire_workers_free(s->workers);
	wire_nonce_cache_free(s->nonces);
	free(s->proxies);
	free(s->cert_pem);
	if (s->key_pem)
		cfs_cleanse(s->key_pem, s->key_len);
	free(s->key_pem);
	pthread_cond_destroy(&s->idle);
	pthread_mutex_destroy(&s->mu);
	free(s);
}

int wire_server_start(const struct wire_server_opts *o, struct wire_server **out, struct cfs_err *err)
{
	int ret, fd = -1;
	if (!o || !out || !o->handler || !o->lookup)
		return cfs_errf(err, -EINVAL, "wire server: handler and lookup are required");
	if (!o->tls_cert != !o->tls_key)
		return cfs_errf(err, -EINVAL, "TLS needs both a certificate and a key");
	if (o->tls_cert && MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES)
		return cfs_errf(err, -ENOTSUP, "this libmicrohttpd has no TLS support");

	struct wire_server *s = calloc(1, sizeof *s);
	if (!s)
		return cfs_errf(err, -ENOMEM, "out of memory");
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->idle, NULL);
	s->lookup = o->lookup;
	s->lookup_arg = o->lookup_arg;
	s->handler = o->handler;
	s->handler_arg = o->handler_arg;
	unsigned threads = o->threads ? o->threads : SERVER_DEFAULT_THREADS;

	ret = wire_proxies_parse(o->trusted_proxies, &s->proxies, &s->nproxies, err);
	if (ret)
		goto fail;
	s->nonces = wire_nonce_cache_new(SERVER_NONCES);
	ret = s->nonces ? wire_workers_new(threads, threads * SERVER_WORKER_FACTOR, &s->workers)
			: -ENOMEM;
	if (ret) {
		cfs_errf(err, ret, "out of memory");
		goto fail;
	}
	size_t cert_len;
	if (o->tls_cert && ((ret = read_pem(o->tls_cert, &s->cert_pem, &cert_len, err)) ||
			    (ret = read_pem(o->tls_key, &s->key_pem, &s->key_len, err))))
		goto fail;
	ret = wire_listen_socket(o->listen, &fd, &s->port, err);
	if (ret)
		goto fail;

	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME |
			 MHD_USE_ERROR_LOG;
	if (s->cert_pem)
		flags |= MHD_USE_TLS;
	struct MHD_OptionItem opts[] = {
		{ MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)on_mhd_log, NULL },
		{ MHD_OPTION_LISTEN_SOCKET, fd, NULL },
		{ MHD_OPTION_URI_LOG_CALLBACK, (intptr_t)on_uri, s },
		{ MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)on_completed, s },
		{ MHD_OPTION_CONNECTION_TIMEOUT, SERVER_IDLE_TIMEOUT_S, NULL },
		{ threads > 1 ? MHD_OPTION_THREAD_POOL_SIZE : MHD_OPTION_END, threads, NULL },
		{ s->cert_pem ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, 0, s->cert_pem },
		{ s->cert_pem ? MHD_OPTION_HTTPS_MEM_KEY : MHD_OPTION_END, 0, s->key_pem },
		{ MHD_OPTION_END, 0, NULL },
	};
	/* MHD_OPTION_END ends the array early; move the optional ones up. */
	size_t nopts = 0;
	for (size_t i = 0; i < sizeof opts / sizeof opts[0]; i++)
		if (opts[i].option != MHD_OPTION_END)
			opts[nopts++] = opts[i];
	opts[nopts] = (struct MHD_OptionItem){ MHD_OPTION_END, 0, NULL };

	s->d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, s, MHD_OPTION_ARRAY, opts,
				MHD_OPTION_END);
	if (!s->d) {
		close(fd);
		ret = cfs_errf(err, -EIO, "cannot start the HTTP server on %s%s", o->listen,
			       s->cert_pem ? " (check the TLS certificate and key)" : "");
		goto fail;
	}
	log_debug("wire: listening on %s (port %u%s)", o->listen, s->port, s->cert_pem ? ", TLS" : "");
	*out = s;
	return 0;
fail:
	server_free(s);
	return ret;
}

void wire_server_stop(struct wire_server *s)
{
	if (!s)
		return;
	/* libmicrohttpd must not be stopped with a suspended connection, so
	 * first let every running handler finish and resume its own. */
	pthread_mutex_lock(&s->mu);
	s->stopping = true;
	while (s->inflight)
		pthread_cond_wait(&s->idle, &s->mu);
	pthread_mutex_unlock(&s->mu);
	MHD_stop_daemon(s->d);
	server_free(s);
}

unsigned short wire_server_port(const struct wire_server *s)
{
	return s ? s->port : 0;
}
