/* sign.c — request and response signatures (DESIGN.md section 5).  Pure:
 * the clock comes in with the request, the secret through a callback.
 *
 * The verifier checks in the order the design fixes, and each step names its
 * refusal: malformed input is a 400 before anything costs a lookup, a stale
 * timestamp is refused before the secret is touched, and a nonce enters the
 * replay cache only once the signature proved who sent it. */
#include "wire/internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "auth/crypto.h"
#include "core/util.h"

#define TS_DIGITS_MAX 19
#define METHOD_MAX 16
#define TARGET_MAX 8192
#define HOST_MAX 256

static bool env_ok(const char *s)
{
	size_t n = 0;
	for (; s[n]; n++) {
		unsigned char c = (unsigned char)s[n];
		if (n >= WIRE_ENV_ID_MAX || c <= 0x20 || c >= 0x7f)
			return false;
	}
	return n > 0;
}

static bool lower_hex_ok(const char *s, size_t want)
{
	size_t n = 0;
	for (; s[n]; n++) {
		char c = s[n];
		if (n >= want || !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return false;
	}
	return n == want;
}

static bool timestamp_parse(const char *s, int64_t *out)
{
	size_t n = strlen(s);
	uint64_t v;
	if (n == 0 || n > TS_DIGITS_MAX || cfs_parse_u64(s, &v))
		return false;
	*out = (int64_t)v;
	return true;
}

/* HTTP methods are tokens; ours are plain letters. */
static bool method_ok(const char *m)
{
	size_t n = 0;
	for (; m[n]; n++)
		if (n >= METHOD_MAX || !((m[n] >= 'A' && m[n] <= 'Z') || (m[n] >= 'a' && m[n] <= 'z')))
			return false;
	return n > 0;
}

/* An origin-form target: '/' then visible ASCII, no fragment. */
static bool target_ok(const char *t)
{
	if (t[0] != '/')
		return false;
	size_t n = 0;
	for (; t[n]; n++) {
		unsigned char c = (unsigned char)t[n];
		if (n >= TARGET_MAX || c <= 0x20 || c >= 0x7f || c == '#')
			return false;
	}
	return true;
}

/* HMAC of the canonical string into hex; the host must be normalised. */
static int request_mac(const uint8_t secret[32], const char *ts, const char *nonce,
		       const char *method, const char *target, const char *host, const void *body,
		       size_t body_len, const char *check_hex, char out_hex[65])
{
	char body_hex[CFS_SHA256_HEX];
	struct cfs_buf canon = CFS_BUF_INIT;
	int ret = cfs_sha256_hex(body, body_len, body_hex);
	if (!ret)
		ret = cfs_canonical_string(ts, nonce, method, target, host, body_hex, &canon);
	if (ret)
		goto out;
	if (check_hex) {
		ret = cfs_hmac_sha256_verify_hex(secret, 32, canon.data, canon.len, check_hex);
	} else {
		uint8_t mac[CFS_SHA256_LEN];
		ret = cfs_hmac_sha256(secret, 32, canon.data, canon.len, mac);
		if (!ret)
			cfs_hex(mac, sizeof mac, out_hex);
	}
out:
	cfs_buf_free(&canon);
	return ret;
}

int wire_sign_request_with(const uint8_t secret[32], const char *env_id, const char *method,
			   const char *target, const char *host, const void *body, size_t body_len,
			   int64_t timestamp_ms, const char *nonce_hex, struct wire_sig_headers *h)
{
	char norm[HOST_MAX];
	if (!secret || !env_id || !method || !target || !host || !nonce_hex || !h ||
	    (!body && body_len) || timestamp_ms < 0)
		return -EINVAL;
	if (!env_ok(env_id) || !method_ok(method) || !target_ok(target) ||
	    !lower_hex_ok(nonce_hex, 32) || cfs_host_normalize(host, norm, sizeof norm))
		return -EINVAL;
	memset(h, 0, sizeof *h);
	snprintf(h->env, sizeof h->env, "%s", env_id);
	snprintf(h->timestamp, sizeof h->timestamp, "%" PRId64, timestamp_ms);
	memcpy(h->nonce, nonce_hex, 33);
	return request_mac(secret, h->timestamp, h->nonce, method, target, norm, body, body_len,
			   NULL, h->signature);
}

int wire_sign_request(const uint8_t secret[32], const char *env_id, const char *method,
		      const char *target, const char *host, const void *body, size_t body_len,
		      struct wire_sig_headers *h)
{
	uint8_t raw[16];
	char nonce[33];
	int ret = cfs_random(raw, sizeof raw);
	if (ret)
		return ret;
	cfs_hex(raw, sizeof raw, nonce);
	return wire_sign_request_with(secret, env_id, method, target, host, body, body_len,
				      cfs_now_ms(), nonce, h);
}

__attribute__((format(printf, 4, 5)))
static int refuse(struct wire_verdict *v, int status, const char *code, const char *fmt, ...)
{
	va_list ap;
	v->status = status;
	snprintf(v->code, sizeof v->code, "%s", code);
	va_start(ap, fmt);
	vsnprintf(v->message, sizeof v->message, fmt, ap);
	va_end(ap);
	return status == 400 ? -EINVAL : status == 401 ? -EACCES : -ENOMEM;
}

/* Step 1 of the verifier: every input present and well-formed (400). */
static int check_form(const struct wire_inbound *in, struct wire_verdict *v, int64_t *ts,
		      char *host, size_t host_len)
{
	static const struct {
		size_t off;
		const char *name;
	} hdrs[] = {
		{ offsetof(struct wire_inbound, h_env), "X-Cloudfs-Env" },
		{ offsetof(struct wire_inbound, h_timestamp), "X-Cloudfs-Timestamp" },
		{ offsetof(struct wire_inbound, h_nonce), "X-Cloudfs-Nonce" },
		{ offsetof(struct wire_inbound, h_signature), "X-Cloudfs-Signature" },
	};
	for (size_t i = 0; i < sizeof hdrs / sizeof hdrs[0]; i++)
		if (!*(const char *const *)((const char *)in + hdrs[i].off))
			return refuse(v, 400, "bad_headers", "missing %s header", hdrs[i].name);
	if (!env_ok(in->h_env))
		return refuse(v, 400, "bad_headers",
			      "malformed X-Cloudfs-Env: 1 to %d visible characters, no blanks",
			      WIRE_ENV_ID_MAX);
	if (!timestamp_parse(in->h_timestamp, ts))
		return refuse(v, 400, "bad_headers",
			      "malformed X-Cloudfs-Timestamp: milliseconds since the epoch, "
			      "1 to %d decimal digits", TS_DIGITS_MAX);
	if (!lower_hex_ok(in->h_nonce, 32))
		return refuse(v, 400, "bad_headers",
			      "malformed X-Cloudfs-Nonce: 32 lower-case hex digits");
	if (!lower_hex_ok(in->h_signature, 64))
		return refuse(v, 400, "bad_headers",
			      "malformed X-Cloudfs-Signature: 64 lower-case hex digits");
	if (!in->host)
		return refuse(v, 400, "bad_headers", "missing Host header");
	if (cfs_host_normalize(in->host, host, host_len))
		return refuse(v, 400, "bad_headers", "malformed Host header");
	if (!in->method || !method_ok(in->method))
		return refuse(v, 400, "bad_request", "malformed request method");
	if (!in->target || !target_ok(in->target))
		return refuse(v, 400, "bad_request", "malformed request target");
	if (!in->body && in->body_len)
		return refuse(v, 400, "bad_request", "body length without a body");
	return 0;
}

/* |a - b| without overflow, for any two int64 values. */
static uint64_t distance(int64_t a, int64_t b)
{
	return a > b ? (uint64_t)a - (uint64_t)b : (uint64_t)b - (uint64_t)a;
}

int wire_verify_request(const struct wire_inbound *in, wire_secret_lookup_fn lookup, void *arg,
			struct wire_nonce_cache *nonces, struct wire_verdict *v)
{
	char host[HOST_MAX];
	uint8_t secret[32], nonce[16];
	int64_t ts = 0;
	int ret;

	memset(v, 0, sizeof *v);
	ret = check_form(in, v, &ts, host, sizeof host);
	if (ret)
		return ret;

	uint64_t off = distance(in->now_ms, ts);
	if (off > WIRE_SKEW_MS)
		return refuse(v, 401, "stale_timestamp",
			      "timestamp %" PRId64 " is %" PRIu64 " ms %s server time %" PRId64
			      "; allowed skew is %d ms either way",
			      ts, off, ts > in->now_ms ? "ahead of" : "behind", in->now_ms,
			      WIRE_SKEW_MS);

	ret = lookup ? lookup(arg, in->h_env, secret) : -ENOENT;
	if (ret == -ENOENT)
		return refuse(v, 401, "unknown_env", "unknown env %s", in->h_env);
	if (ret) {
		cfs_cleanse(secret, sizeof secret);
		return refuse(v, 401, "bad_secret", "the secret of env %s cannot be opened",
			      in->h_env);
	}

	ret = request_mac(secret, in->h_timestamp, in->h_nonce, in->method, in->target, host,
			  in->body, in->body_len, in->h_signature, NULL);
	if (ret == -ENOMEM) {
		cfs_cleanse(secret, sizeof secret);
		return refuse(v, 503, "busy", "out of memory");
	}
	if (ret) {
		cfs_cleanse(secret, sizeof secret);
		return refuse(v, 401, "bad_signature",
			      "signature does not match this request and the shared secret");
	}

	if (nonces) {
		/* Past ts + skew the request is stale, so that is when the
		 * nonce may be forgotten; a timestamp from the future keeps it
		 * longer. */
		int64_t expires = ts > INT64_MAX - WIRE_SKEW_MS ? INT64_MAX : ts + WIRE_SKEW_MS;
		cfs_unhex(in->h_nonce, nonce, sizeof nonce);
		ret = wire_nonce_claim(nonces, in->h_env, nonce, expires, in->now_ms);
		if (ret) {
			cfs_cleanse(secret, sizeof secret);
			if (ret == -EALREADY)
				return refuse(v, 401, "replay",
					      "nonce already used by env %s within the last %d s",
					      in->h_env, 2 * WIRE_SKEW_MS / 1000);
			return refuse(v, 503, "busy", "out of memory");
		}
	}

	snprintf(v->env, sizeof v->env, "%s", in->h_env);
	memcpy(v->secret, secret, sizeof secret);
	cfs_cleanse(secret, sizeof secret);
	return 0;
}

/* The string a response signature covers. */
static int response_string(const char *request_nonce, int status, const void *body,
			   size_t body_len, char *out, size_t out_len)
{
	char body_hex[CFS_SHA256_HEX];
	if (!request_nonce || (!body && body_len) || strpbrk(request_nonce, "\r\n"))
		return -EINVAL;
	int ret = cfs_sha256_hex(body, body_len, body_hex);
	if (ret)
		return ret;
	int n = snprintf(out, out_len, "%s\n%d\n%s", request_nonce, status, body_hex);
	return n < 0 || (size_t)n >= out_len ? -EINVAL : n;
}

int wire_sign_response(const uint8_t secret[32], const char *request_nonce, int status,
		       const void *body, size_t body_len, char out[65])
{
	char s[256];
	uint8_t mac[CFS_SHA256_LEN];
	int n = response_string(request_nonce, status, body, body_len, s, sizeof s);
	if (n < 0)
		return n;
	int ret = cfs_hmac_sha256(secret, 32, s, (size_t)n, mac);
	if (!ret)
		cfs_hex(mac, sizeof mac, out);
	return ret;
}

int wire_verify_response(const uint8_t secret[32], const char *request_nonce, int status,
			 const void *body, size_t body_len, const char *sig_hex)
{
	char s[256];
	if (!sig_hex)
		return -EACCES;
	int n = response_string(request_nonce, status, body, body_len, s, sizeof s);
	if (n < 0)
		return -EACCES;
	return cfs_hmac_sha256_verify_hex(secret, 32, s, (size_t)n, sig_hex) ? -EACCES : 0;
}
