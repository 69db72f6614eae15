/* wire.h — the signed HTTP protocol between cloudfs nodes (DESIGN.md section 5),
 * shared by the agent (server side) and the manager (client side).
 *
 * Three layers, each in its own file:
 *   sign.c   pure functions: build/verify request signatures, the nonce replay
 *            cache, response signatures.  No I/O.
 *   server.c libmicrohttpd server: receives a whole request (bodies are bounded,
 *            large files move in chunks), verifies it with sign.c, calls a
 *            route handler, signs and sends the response.
 *   client.c libcurl: sends a signed request (re-signed on each retry), checks
 *            the response signature, maps failures to errno (one function).
 *
 * No libcurl/libmicrohttpd/OpenSSL type appears in this header. */
#ifndef CFS_WIRE_H
#define CFS_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"

#define WIRE_ENV_ID_MAX 64          /* env ids are UUIDs (36 chars); allow some slack */
#define WIRE_SKEW_MS (5 * 60 * 1000)
#define WIRE_MAX_BODY (8u << 20)    /* largest request or response body (one chunk + JSON) */

/* ---------- sign.c ---------- */

/* The four request headers, as strings. */
struct wire_sig_headers {
	char env[WIRE_ENV_ID_MAX + 1];
	char timestamp[21];
	char nonce[33];
	char signature[65];
};

/* Fill h (env copied, fresh timestamp and nonce, signature) for a request. */
int wire_sign_request(const uint8_t secret[32], const char *env_id, const char *method,
		      const char *target, const char *host, const void *body, size_t body_len,
		      struct wire_sig_headers *h);
/* The same with a given timestamp and nonce (32 lower-case hex), for tests
 * and tools.  -EINVAL when an input could not pass the verifier's form check. */
int wire_sign_request_with(const uint8_t secret[32], const char *env_id, const char *method,
			   const char *target, const char *host, const void *body, size_t body_len,
			   int64_t timestamp_ms, const char *nonce_hex, struct wire_sig_headers *h);

/* Looks up the shared secret for a sender's env id (the verifier calls it).
 * 0 and secret filled, or -ENOENT for an unknown env, -EACCES when the secret
 * cannot be opened. */
typedef int (*wire_secret_lookup_fn)(void *arg, const char *env_id, uint8_t secret[32]);

struct wire_nonce_cache;   /* bounded, TTL = skew window; thread-safe */
/* max_entries 0 means the default (131072).  NULL when out of memory. */
struct wire_nonce_cache *wire_nonce_cache_new(size_t max_entries);
void wire_nonce_cache_free(struct wire_nonce_cache *c);
/* Entries held now (expired ones may linger until pushed out). */
size_t wire_nonce_cache_size(struct wire_nonce_cache *c);

/* An inbound request as the verifier sees it.  Header values are NULL when
 * the header was absent. */
struct wire_inbound {
	const char *h_env, *h_timestamp, *h_nonce, *h_signature;
	const char *method;       /* as on the request line */
	const char *target;       /* raw request target, still percent-encoded */
	const char *host;         /* Host, or X-Forwarded-Host from a trusted proxy */
	const void *body;
	size_t body_len;
	int64_t now_ms;
};

/* The verification result: on failure the HTTP status (400/401) and the error
 * code/message for {"error":CODE,"message":…}. */
struct wire_verdict {
	int status;               /* 0 when accepted; 503 only when out of memory */
	char code[32];            /* "bad_headers", "bad_request" (method/target), "stale_timestamp",
	                             "unknown_env", "bad_secret", "bad_signature", "replay", "busy" */
	char message[160];
	char env[WIRE_ENV_ID_MAX + 1];   /* the verified sender when accepted */
	uint8_t secret[32];       /* the verified sender's secret when accepted */
};

/* Pure check in DESIGN.md's order: headers well-formed (400), timestamp within
 * ±WIRE_SKEW_MS (401), env known (401), secret opens (401), signature in
 * constant time (401), nonce unseen (401; recorded only after the signature
 * verifies).  Returns 0 when accepted, else -EACCES / -EINVAL (-ENOMEM for
 * 503) with v filled.  nonces may be NULL to skip the replay check.  A
 * lookup error other than -ENOENT counts as "bad_secret". */
int wire_verify_request(const struct wire_inbound *in, wire_secret_lookup_fn lookup, void *arg,
			struct wire_nonce_cache *nonces, struct wire_verdict *v);

/* Response signature: HMAC-SHA256(secret, request_nonce \n status \n sha256hex(body)),
 * 64 lower-case hex in out. */
int wire_sign_response(const uint8_t secret[32], const char *request_nonce, int status,
		       const void *body, size_t body_len, char out[65]);
/* 0 when sig_hex matches, -EACCES otherwise. */
int wire_verify_response(const uint8_t secret[32], const char *request_nonce, int status,
			 const void *body, size_t body_len, const char *sig_hex);

/* ---------- server.c ---------- */

struct wire_request {
	const char *method;
	const char *target;          /* raw target */
	const char *path;            /* decoded path, e.g. "/v1/files" */
	const char *env;             /* verified sender env id */
	const void *body;
	size_t body_len;
	void *conn_;                 /* private */
};
/* Decoded query parameter ('+' and %20 are blanks), or NULL. */
const char *wire_query(const struct wire_request *rq, const char *key);
/* The same with the decoded length: a value holding %00 is longer than its
 * strlen(), which a handler should refuse rather than truncate. */
const char *wire_query_n(const struct wire_request *rq, const char *key, size_t *len);
/* True once wire_server_stop was called: a handler that waits (a long-poll)
 * should check it now and then and return, since stopping waits for it. */
bool wire_stopping(const struct wire_request *rq);

struct wire_response {
	int status;
	const char *content_type;    /* default "application/json" */
	struct cfs_buf body;
	char extra_header[128];      /* optional "Name: value" added to the response */
};
/* Helper: status + {"error":code,"message":msg}. */
void wire_error(struct wire_response *rs, int status, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* Helper for a filesystem failure: a status chosen from err (negative or
 * positive errno: ENOENT 404, EACCES/EPERM 403, EINVAL 400, EFBIG 413,
 * EBUSY 423, ENOTSUP/ENOSYS 501, ETIMEDOUT 504, EIO 500, others 409) and
 * {"error":…,"errno":"ENOTEMPTY","message":…}, which wire_status_errno
 * turns back into err on the manager. */
void wire_error_errno(struct wire_response *rs, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

typedef void (*wire_handler_fn)(void *arg, const struct wire_request *rq, struct wire_response *rs);

struct wire_server_opts {
	const char *listen;          /* "127.0.0.1:7001", "[::1]:7001", ":7001" */
	const char *tls_cert;        /* PEM paths, NULL for plain HTTP */
	const char *tls_key;
	const char *trusted_proxies; /* blank/comma separated addresses or ADDR/BITS, may be NULL */
	unsigned threads;            /* thread pool size (default 8): HTTP I/O threads, and the
	                                handler threads kept when idle; more handler threads
	                                start while requests wait (up to 16x), so handlers
	                                that block (long-polls) never starve the others */
	wire_secret_lookup_fn lookup;
	void *lookup_arg;
	wire_handler_fn handler;
	void *handler_arg;
};
struct wire_server;
int wire_server_start(const struct wire_server_opts *o, struct wire_server **out, struct cfs_err *err);
/* Refuses new requests (503), waits for running handlers to return (a
 * handler must not block forever), closes everything. */
void wire_server_stop(struct wire_server *s);
unsigned short wire_server_port(const struct wire_server *s);

/* ---------- client.c ---------- */

struct wire_peer {
	const char *base_url;        /* "http://127.0.0.1:7001" (no trailing slash needed) */
	const char *self_env;        /* our env id, sent as X-Cloudfs-Env */
	uint8_t secret[32];
	bool tls_require;
	const char *pin;             /* "sha256//BASE64" or NULL; needs an https:// URL, and is
	                                then the trust anchor (no CA check) */
	int timeout_ms;              /* whole-request deadline */
	int connect_timeout_ms;
};

struct wire_reply {
	int status;                  /* HTTP status */
	struct cfs_buf body;
	double seconds;              /* total time */
	bool verified;               /* the response signature checked out.  false only for an
	                                unsigned refusal (status >= 400) from a node that could not
	                                authenticate us: then body is rebuilt as
	                                {"error":…,"message":…} from what it said, nothing more */
};

struct wire_client;              /* reuses connections; thread-safe */
struct wire_client *wire_client_new(void);
void wire_client_free(struct wire_client *c);
/* Connections opened so far (a count that stays put shows keep-alive reuse). */
unsigned long wire_client_connects(struct wire_client *c);

/* Sends METHOD base_url+target (target starts with "/v1/…", query already
 * percent-encoded with wire_urlencode) with a signed request; verifies the
 * signed response.  Returns 0 when a verified response arrived (any status: see
 * r->status), or a negative errno: -ETIMEDOUT, -EHOSTUNREACH (refused,
 * unreachable, DNS, connection lost), -EPROTO (bad or missing response
 * signature, TLS failure or pin mismatch, oversized response), -ENOMEM,
 * -EINVAL (bad URL or target, http:// with tls_require), -EFBIG (body over
 * WIRE_MAX_BODY), -EIO (anything else).  An unsigned refusal (401 for a
 * wrong secret, 400, 413) also returns 0, with r->verified false.  *r is
 * initialised here; free it with wire_reply_free whatever the result.
 * A GET/HEAD that fails on a reused connection is retried once, re-signed. */
int wire_call(struct wire_client *c, const struct wire_peer *p, const char *method,
	      const char *target, const void *body, size_t body_len, struct wire_reply *r,
	      struct cfs_err *err);
void wire_reply_free(struct wire_reply *r);

/* The same bodiless request to n peers at once (the health poller), each with
 * its own deadline; replies[i] and errs[i] are what wire_call would give for
 * peers[i].  Returns 0, or -ENOMEM / -EINVAL when nothing could be sent
 * (errs[] then all hold that error).  Free every replies[i]. */
int wire_call_many(struct wire_client *c, const struct wire_peer *peers, size_t n,
		   const char *method, const char *target, struct wire_reply *replies, int *errs);

/* HTTP status + {"error":…} body → negative errno, per DESIGN.md's errno
 * table (the one place this mapping lives). */
int wire_status_errno(int status, const char *body, size_t len);
/* The errno names that may cross the wire in an error body's "errno" (the
 * agent's filesystem errnos), both ways: 0 / NULL outside the table.
 * wire_errno_name takes a positive or negative errno. */
int wire_errno_from_name(const char *name);
const char *wire_errno_name(int code);

/* Percent-encode a query value (RFC 3986 unreserved kept, '/' kept),
 * appending to out. */
int wire_urlencode(const char *s, struct cfs_buf *out);

#endif
