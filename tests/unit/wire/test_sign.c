/* Request and response signatures: every refusal of the verifier with its
 * status and code, the canonical string against values computed outside
 * this code, and the replay cache as the verifier uses it. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "auth/crypto.h"
#include "core/util.h"
#include "wire/wire.h"

#define ENV "4a1c2d3e-0000-4000-8000-00000000beef"
#define ENV2 "second-env"
#define NONCE "00112233445566778899aabbccddeeff"
#define NONCE2 "ffeeddccbbaa99887766554433221100"
#define T0 INT64_C(1700000000000)
#define HOST "127.0.0.1:7001"
#define TARGET "/v1/file?path=a%20b%2Fc"
#define BODY "{\"x\":1}"

static uint8_t secret[32], secret2[32];

static int lookup(void *arg, const char *env, uint8_t out[32])
{
	(void)arg;
	if (strcmp(env, ENV) == 0) {
		memcpy(out, secret, 32);
		return 0;
	}
	if (strcmp(env, ENV2) == 0) {
		memcpy(out, secret2, 32);
		return 0;
	}
	if (strcmp(env, "locked") == 0)
		return -EACCES;
	if (strcmp(env, "broken") == 0)
		return -EIO;
	return -ENOENT;
}

/* A request as a correct sender would make it, and what the server sees. */
struct req {
	struct wire_sig_headers h;
	struct wire_inbound in;
};

static void make_with(struct req *r, const uint8_t *key, const char *env, const char *method,
		      const char *target, const char *host, const char *body, int64_t ts,
		      const char *nonce)
{
	size_t blen = body ? strlen(body) : 0;
	assert_int_equal(wire_sign_request_with(key, env, method, target, host, body, blen, ts,
						nonce, &r->h), 0);
	r->in = (struct wire_inbound){
		.h_env = r->h.env,
		.h_timestamp = r->h.timestamp,
		.h_nonce = r->h.nonce,
		.h_signature = r->h.signature,
		.method = method,
		.target = target,
		.host = host,
		.body = body,
		.body_len = blen,
		.now_ms = ts,
	};
}

static void make(struct req *r, const char *nonce, int64_t ts)
{
	make_with(r, secret, ENV, "POST", TARGET, HOST, BODY, ts, nonce);
}

/* Verify and check the outcome; returns the verdict for more checks. */
static struct wire_verdict expect(const struct wire_inbound *in, struct wire_nonce_cache *nc,
				  int status, const char *code)
{
	struct wire_verdict v;
	int ret = wire_verify_request(in, lookup, NULL, nc, &v);
	if (status == 0) {
		if (ret)
			print_error("refused: %d %s: %s\n", v.status, v.code, v.message);
		assert_int_equal(ret, 0);
		assert_int_equal(v.status, 0);
	} else {
		assert_int_equal(ret, status == 400 ? -EINVAL : -EACCES);
		assert_int_equal(v.status, status);
		assert_string_equal(v.code, code);
		assert_true(v.message[0] != '\0');
		/* A refusal never carries a secret out. */
		static const uint8_t zero[32];
		assert_memory_equal(v.secret, zero, 32);
	}
	return v;
}

static int setup(void **state)
{
	(void)state;
	for (int i = 0; i < 32; i++) {
		secret[i] = (uint8_t)i;
		secret2[i] = (uint8_t)(0xa0 + i);
	}
	return 0;
}

static void test_accepts(void **state)
{
	(void)state;
	struct wire_nonce_cache *nc = wire_nonce_cache_new(16);
	struct req r;
	make(&r, NONCE, T0);
	struct wire_verdict v = expect(&r.in, nc, 0, NULL);
	assert_string_equal(v.env, ENV);
	assert_memory_equal(v.secret, secret, 32);
	assert_int_equal(wire_nonce_cache_size(nc), 1);
	wire_nonce_cache_free(nc);
}

static void test_known_answer(void **state)
{
	(void)state;
	struct wire_sig_headers h;
	/* Computed independently: HMAC-SHA256(bytes 0..31, "1700000000000\n
	 * 0011…eeff\nPOST\n/v1/file?path=a%20b%2Fc\nexample.com:7001\n
	 * sha256hex(BODY)"). */
	const char *want = "026720081cfa78f128348e67b18c190499dafb3afd371111924a23a67b09263b";
	assert_int_equal(wire_sign_request_with(secret, ENV, "POST", TARGET, "example.com:7001",
						BODY, strlen(BODY), T0, NONCE, &h), 0);
	assert_string_equal(h.signature, want);
	assert_string_equal(h.timestamp, "1700000000000");
	assert_string_equal(h.nonce, NONCE);
	assert_string_equal(h.env, ENV);
	/* The host is normalised and the method upper-cased on both sides. */
	assert_int_equal(wire_sign_request_with(secret, ENV, "post", TARGET, " Example.COM:7001 ",
						BODY, strlen(BODY), T0, NONCE, &h), 0);
	assert_string_equal(h.signature, want);

	/* The same string built by hand and MACed directly. */
	char bh[CFS_SHA256_HEX], hex[65];
	uint8_t mac[32];
	char canon[512];
	cfs_sha256_hex(BODY, strlen(BODY), bh);
	snprintf(canon, sizeof canon, "1700000000000\n" NONCE "\nPOST\n%s\nexample.com:7001\n%s",
		 TARGET, bh);
	cfs_hmac_sha256(secret, 32, canon, strlen(canon), mac);
	cfs_hex(mac, 32, hex);
	assert_string_equal(hex, want);
}

static void test_default_ports_dropped(void **state)
{
	(void)state;
	struct wire_sig_headers a, b;
	assert_int_equal(wire_sign_request_with(secret, ENV, "GET", "/v1/health", "host.example:443",
						NULL, 0, T0, NONCE, &a), 0);
	assert_int_equal(wire_sign_request_with(secret, ENV, "GET", "/v1/health", "HOST.example",
						NULL, 0, T0, NONCE, &b), 0);
	assert_string_equal(a.signature, b.signature);
	assert_int_equal(wire_sign_request_with(secret, ENV, "GET", "/v1/health", "host.example:8443",
						NULL, 0, T0, NONCE, &b), 0);
	assert_string_not_equal(a.signature, b.signature);
	/* A request signed for :80 verifies when it arrives without a port. */
	struct req r;
	make_with(&r, secret, ENV, "GET", "/v1/health", "127.0.0.1:80", NULL, T0, NONCE);
	r.in.host = "127.0.0.1";
	expect(&r.in, NULL, 0, NULL);
}

static void test_percent_encoding_is_signed_raw(void **state)
{
	(void)state;
	struct wire_sig_headers a, b, c;
	/* Three spellings of one decoded path are three different requests. */
	assert_int_equal(wire_sign_request_with(secret, ENV, "GET", "/v1/files?path=a%2Fb", HOST,
						NULL, 0, T0, NONCE, &a), 0);
	assert_int_equal(wire_sign_request_with(secret, ENV, "GET", "/v1/files?path=a%2fb", HOST,
						NULL, 0, T0, NONCE, &b), 0);
	assert_int_equal(wire_sign_request_with(secret, ENV, "GET", "/v1/files?path=a/b", HOST,
						NULL, 0, T0, NONCE, &c), 0);
	assert_string_not_equal(a.signature, b.signature);
	assert_string_not_equal(a.signature, c.signature);
	struct req r;
	make_with(&r, secret, ENV, "GET", "/v1/files?path=a%2Fb", HOST, NULL, T0, NONCE);
	r.in.target = "/v1/files?path=a%2fb";
	expect(&r.in, NULL, 401, "bad_signature");
	r.in.target = "/v1/files?path=a/b";
	expect(&r.in, NULL, 401, "bad_signature");
}

static void test_missing_headers(void **state)
{
	(void)state;
	struct req r;
	const char **fields[] = { &r.in.h_env, &r.in.h_timestamp, &r.in.h_nonce, &r.in.h_signature };
	const char *names[] = { "X-Cloudfs-Env", "X-Cloudfs-Timestamp", "X-Cloudfs-Nonce",
				"X-Cloudfs-Signature" };
	for (int i = 0; i < 4; i++) {
		make(&r, NONCE, T0);
		*fields[i] = NULL;
		struct wire_verdict v = expect(&r.in, NULL, 400, "bad_headers");
		assert_non_null(strstr(v.message, names[i]));
	}
	make(&r, NONCE, T0);
	r.in.host = NULL;
	struct wire_verdict v = expect(&r.in, NULL, 400, "bad_headers");
	assert_non_null(strstr(v.message, "Host"));
}

static void test_malformed_headers(void **state)
{
	(void)state;
	struct req r;
	static const char long_env[] = "0123456789012345678901234567890123456789012345678901234567890123x";
	const char *bad_env[] = { "", "a b", "tab\there", "ctl\x01", "\x7f", "caf\xc3\xa9", long_env };
	const char *bad_ts[] = { "", "-1", "+1", "12a", "1.5", " 1", "1 ", "0x10",
				 "12345678901234567890", "99999999999999999999" };
	const char *bad_nonce[] = { "", "0011223344556677889900aabbccddeef",
				    "00112233445566778899aabbccddeeff0", "00112233445566778899AABBCCDDEEFF",
				    "g0112233445566778899aabbccddeeff" };
	char sig63[64], sig65[66], sigup[65];
	make(&r, NONCE, T0);
	memcpy(sig63, r.h.signature, 63);
	sig63[63] = '\0';
	snprintf(sig65, sizeof sig65, "%s0", r.h.signature);
	for (int i = 0; i < 64; i++)
		sigup[i] = (char)(r.h.signature[i] >= 'a' ? r.h.signature[i] - 32 : r.h.signature[i]);
	sigup[64] = '\0';
	const char *bad_sig[] = { "", sig63, sig65, sigup };

	assert_int_equal(strlen(long_env), WIRE_ENV_ID_MAX + 1);
	for (size_t i = 0; i < sizeof bad_env / sizeof *bad_env; i++) {
		make(&r, NONCE, T0);
		r.in.h_env = bad_env[i];
		assert_non_null(strstr(expect(&r.in, NULL, 400, "bad_headers").message, "Env"));
	}
	for (size_t i = 0; i < sizeof bad_ts / sizeof *bad_ts; i++) {
		make(&r, NONCE, T0);
		r.in.h_timestamp = bad_ts[i];
		assert_non_null(strstr(expect(&r.in, NULL, 400, "bad_headers").message, "Timestamp"));
	}
	for (size_t i = 0; i < sizeof bad_nonce / sizeof *bad_nonce; i++) {
		make(&r, NONCE, T0);
		r.in.h_nonce = bad_nonce[i];
		assert_non_null(strstr(expect(&r.in, NULL, 400, "bad_headers").message, "Nonce"));
	}
	for (size_t i = 0; i < sizeof bad_sig / sizeof *bad_sig; i++) {
		make(&r, NONCE, T0);
		r.in.h_signature = bad_sig[i];
		assert_non_null(strstr(expect(&r.in, NULL, 400, "bad_headers").message, "Signature"));
	}
	make(&r, NONCE, T0);
	r.in.host = "bad host";
	expect(&r.in, NULL, 400, "bad_headers");
	r.in.host = "a@b";
	expect(&r.in, NULL, 400, "bad_headers");

	/* The longest env id is fine. */
	char env64[WIRE_ENV_ID_MAX + 1];
	memset(env64, 'e', WIRE_ENV_ID_MAX);
	env64[WIRE_ENV_ID_MAX] = '\0';
	make_with(&r, secret, env64, "GET", "/v1/health", HOST, NULL, T0, NONCE);
	expect(&r.in, NULL, 401, "unknown_env");
}

static void test_malformed_request_line(void **state)
{
	(void)state;
	struct req r;
	const char *bad_method[] = { "", "GE T", "G\nET", "GET1", "VERYLONGMETHODNAME" };
	const char *bad_target[] = { "", "v1/health", "/v1/a b", "/v1/a\nb", "/v1/a#frag",
				     "/v1/\x80", "*" };
	for (size_t i = 0; i < sizeof bad_method / sizeof *bad_method; i++) {
		make(&r, NONCE, T0);
		r.in.method = bad_method[i];
		expect(&r.in, NULL, 400, "bad_request");
	}
	for (size_t i = 0; i < sizeof bad_target / sizeof *bad_target; i++) {
		make(&r, NONCE, T0);
		r.in.target = bad_target[i];
		expect(&r.in, NULL, 400, "bad_request");
	}
	/* The signer refuses what the verifier would refuse. */
	struct wire_sig_headers h;
	assert_int_equal(wire_sign_request_with(secret, ENV, "GET", "/v1/a b", HOST, NULL, 0, T0,
						NONCE, &h), -EINVAL);
	assert_int_equal(wire_sign_request_with(secret, "", "GET", "/v1/a", HOST, NULL, 0, T0,
						NONCE, &h), -EINVAL);
	assert_int_equal(wire_sign_request_with(secret, ENV, "GET", "/v1/a", HOST, NULL, 0, T0,
						"ABC", &h), -EINVAL);
	assert_int_equal(wire_sign_request_with(secret, ENV, "GET", "/v1/a", "a b", NULL, 0, T0,
						NONCE, &h), -EINVAL);
}

static void test_skew_boundaries(void **state)
{
	(void)state;
	struct req r;
	/* Behind the server by exactly the window: accepted; one ms more: stale. */
	make(&r, NONCE, T0);
	r.in.now_ms = T0 + WIRE_SKEW_MS;
	expect(&r.in, NULL, 0, NULL);
	r.in.now_ms = T0 + WIRE_SKEW_MS + 1;
	struct wire_verdict v = expect(&r.in, NULL, 401, "stale_timestamp");
	assert_non_null(strstr(v.message, "1700000300001"));   /* server time */
	assert_non_null(strstr(v.message, "300000"));          /* allowed skew */
	assert_non_null(strstr(v.message, "behind"));

	/* Ahead of the server. */
	r.in.now_ms = T0 - WIRE_SKEW_MS;
	expect(&r.in, NULL, 0, NULL);
	r.in.now_ms = T0 - WIRE_SKEW_MS - 1;
	v = expect(&r.in, NULL, 401, "stale_timestamp");
	assert_non_null(strstr(v.message, "ahead"));

	/* Far off in both directions, and a timestamp near the top of int64. */
	r.in.now_ms = 0;
	expect(&r.in, NULL, 401, "stale_timestamp");
	make_with(&r, secret, ENV, "GET", "/v1/health", HOST, NULL, INT64_MAX, NONCE);
	r.in.now_ms = T0;
	expect(&r.in, NULL, 401, "stale_timestamp");
	r.in.now_ms = INT64_MIN;
	expect(&r.in, NULL, 401, "stale_timestamp");

	/* A stale request is refused before the env is even looked up. */
	make_with(&r, secret, "nobody", "GET", "/v1/health", HOST, NULL, T0, NONCE);
	r.in.now_ms = T0 + WIRE_SKEW_MS + 1;
	expect(&r.in, NULL, 401, "stale_timestamp");
}

static void test_env_and_secret(void **state)
{
	(void)state;
	struct req r;
	make_with(&r, secret, "nobody", "GET", "/v1/health", HOST, NULL, T0, NONCE);
	assert_non_null(strstr(expect(&r.in, NULL, 401, "unknown_env").message, "nobody"));
	make_with(&r, secret, "locked", "GET", "/v1/health", HOST, NULL, T0, NONCE);
	expect(&r.in, NULL, 401, "bad_secret");
	make_with(&r, secret, "broken", "GET", "/v1/health", HOST, NULL, T0, NONCE);
	expect(&r.in, NULL, 401, "bad_secret");
	/* No lookup at all: nobody is known. */
	make(&r, NONCE, T0);
	struct wire_verdict v;
	assert_int_equal(wire_verify_request(&r.in, NULL, NULL, NULL, &v), -EACCES);
	assert_string_equal(v.code, "unknown_env");
	/* Signed with another env's secret. */
	make_with(&r, secret2, ENV, "GET", "/v1/health", HOST, NULL, T0, NONCE);
	expect(&r.in, NULL, 401, "bad_signature");
}

static void test_tampering(void **state)
{
	(void)state;
	struct wire_nonce_cache *nc = wire_nonce_cache_new(64);
	struct req r;
	char ts_plus[24];

	make(&r, NONCE, T0);
	r.in.method = "PUT";
	expect(&r.in, nc, 401, "bad_signature");
	make(&r, NONCE, T0);
	r.in.method = "post";   /* the method is compared upper-cased */
	expect(&r.in, NULL, 0, NULL);

	make(&r, NONCE, T0);
	r.in.target = "/v1/file?path=a%20b%2Fd";
	expect(&r.in, nc, 401, "bad_signature");
	make(&r, NONCE, T0);
	r.in.target = "/v1/file?path=a+b%2Fc";
	expect(&r.in, nc, 401, "bad_signature");
	make(&r, NONCE, T0);
	r.in.target = "/v1/file?path=a%20b%2Fc&extra=1";
	expect(&r.in, nc, 401, "bad_signature");

	make(&r, NONCE, T0);
	r.in.host = "127.0.0.1:7002";
	expect(&r.in, nc, 401, "bad_signature");
	make(&r, NONCE, T0);
	r.in.host = "evil.example:7001";
	expect(&r.in, nc, 401, "bad_signature");

	make(&r, NONCE, T0);
	r.in.body = "{\"x\":2}";
	expect(&r.in, nc, 401, "bad_signature");
	make(&r, NONCE, T0);
	r.in.body_len = 0;
	expect(&r.in, nc, 401, "bad_signature");

	make(&r, NONCE, T0);
	snprintf(ts_plus, sizeof ts_plus, "%lld", (long long)(T0 + 1));
	r.in.h_timestamp = ts_plus;
	expect(&r.in, nc, 401, "bad_signature");
	make(&r, NONCE, T0);
	r.in.h_timestamp = "01700000000000";   /* same number, other bytes */
	expect(&r.in, nc, 401, "bad_signature");

	make(&r, NONCE, T0);
	r.in.h_nonce = NONCE2;
	expect(&r.in, nc, 401, "bad_signature");

	make(&r, NONCE, T0);
	char sig[65];
	memcpy(sig, r.h.signature, 65);
	sig[10] = sig[10] == '0' ? '1' : '0';
	r.in.h_signature = sig;
	expect(&r.in, nc, 401, "bad_signature");

	/* None of those used up the nonce. */
	assert_int_equal(wire_nonce_cache_size(nc), 0);
	make(&r, NONCE, T0);
	expect(&r.in, nc, 0, NULL);
	make(&r, NONCE2, T0);
	expect(&r.in, nc, 0, NULL);
	wire_nonce_cache_free(nc);
}

static void test_replay(void **state)
{
	(void)state;
	struct wire_nonce_cache *nc = wire_nonce_cache_new(64);
	struct req r;
	make(&r, NONCE, T0);
	expect(&r.in, nc, 0, NULL);
	struct wire_verdict v = expect(&r.in, nc, 401, "replay");
	assert_non_null(strstr(v.message, ENV));
	/* Still a replay at the last instant the timestamp is valid... */
	r.in.now_ms = T0 + WIRE_SKEW_MS;
	expect(&r.in, nc, 401, "replay");
	/* ...and stale after it. */
	r.in.now_ms = T0 + WIRE_SKEW_MS + 1;
	expect(&r.in, nc, 401, "stale_timestamp");

	/* A fresh request reusing that nonce once it expired is accepted: the
	 * cache forgets after the window. */
	make(&r, NONCE, T0 + WIRE_SKEW_MS + 1);
	expect(&r.in, nc, 0, NULL);
	expect(&r.in, nc, 401, "replay");

	/* The same nonce under another env is another key. */
	make_with(&r, secret2, ENV2, "POST", TARGET, HOST, BODY, T0 + WIRE_SKEW_MS + 1, NONCE);
	expect(&r.in, nc, 0, NULL);

	/* A replay that differs in anything signed is a bad signature, not a
	 * replay: the signature is checked first. */
	make(&r, NONCE, T0 + WIRE_SKEW_MS + 1);
	r.in.host = "other:1";
	expect(&r.in, nc, 401, "bad_signature");
	wire_nonce_cache_free(nc);
}

static void test_replay_future_timestamp(void **state)
{
	(void)state;
	/* A request dated at the far edge of the window stays valid for twice
	 * the window; its nonce must be remembered that long. */
	struct wire_nonce_cache *nc = wire_nonce_cache_new(64);
	struct req r;
	make(&r, NONCE, T0 + WIRE_SKEW_MS);
	r.in.now_ms = T0;
	expect(&r.in, nc, 0, NULL);
	r.in.now_ms = T0 + 2 * WIRE_SKEW_MS;
	expect(&r.in, nc, 401, "replay");
	r.in.now_ms = T0 + 2 * WIRE_SKEW_MS + 1;
	expect(&r.in, nc, 401, "stale_timestamp");
	wire_nonce_cache_free(nc);
}

static void test_garbage_flood(void **state)
{
	(void)state;
	struct wire_nonce_cache *nc = wire_nonce_cache_new(8);
	struct req r;
	char nonce[33];
	for (int i = 0; i < 500; i++) {
		snprintf(nonce, sizeof nonce, "%032x", i);
		make(&r, nonce, T0);
		r.in.h_signature = "0000000000000000000000000000000000000000000000000000000000000000";
		expect(&r.in, nc, 401, "bad_signature");
		make_with(&r, secret, "nobody", "GET", "/v1/health", HOST, NULL, T0, nonce);
		expect(&r.in, nc, 401, "unknown_env");
	}
	assert_int_equal(wire_nonce_cache_size(nc), 0);
	/* Verified ones fill it up to its bound, no further. */
	for (int i = 0; i < 20; i++) {
		snprintf(nonce, sizeof nonce, "%032x", i);
		make(&r, nonce, T0);
		expect(&r.in, nc, 0, NULL);
	}
	assert_int_equal(wire_nonce_cache_size(nc), 8);
	wire_nonce_cache_free(nc);
}

static void test_response_signature(void **state)
{
	(void)state;
	char sig[65];
	/* HMAC-SHA256(bytes 0..31, NONCE "\n200\n" sha256hex("ok")), computed
	 * independently. */
	const char *want = "84271a73f15d9eeefa4f064108e3482b06d51fc0ddbecca6c6ed54865f13d9ae";
	assert_int_equal(wire_sign_response(secret, NONCE, 200, "ok", 2, sig), 0);
	assert_string_equal(sig, want);
	assert_int_equal(wire_verify_response(secret, NONCE, 200, "ok", 2, sig), 0);

	assert_int_equal(wire_verify_response(secret, NONCE, 201, "ok", 2, sig), -EACCES);
	assert_int_equal(wire_verify_response(secret, NONCE, 200, "oK", 2, sig), -EACCES);
	assert_int_equal(wire_verify_response(secret, NONCE, 200, "ok", 1, sig), -EACCES);
	assert_int_equal(wire_verify_response(secret, NONCE2, 200, "ok", 2, sig), -EACCES);
	assert_int_equal(wire_verify_response(secret2, NONCE, 200, "ok", 2, sig), -EACCES);
	assert_int_equal(wire_verify_response(secret, NONCE, 200, "ok", 2, NULL), -EACCES);
	assert_int_equal(wire_verify_response(secret, NONCE, 200, "ok", 2, ""), -EACCES);
	sig[0] = sig[0] == 'a' ? 'b' : 'a';
	assert_int_equal(wire_verify_response(secret, NONCE, 200, "ok", 2, sig), -EACCES);

	/* An empty body is the hash of the empty string, NULL or not. */
	assert_int_equal(wire_sign_response(secret, NONCE, 204, NULL, 0, sig), 0);
	assert_int_equal(wire_verify_response(secret, NONCE, 204, "", 0, sig), 0);
}

static void test_fresh_signatures(void **state)
{
	(void)state;
	struct wire_sig_headers a, b;
	assert_int_equal(wire_sign_request(secret, ENV, "GET", "/v1/health", HOST, NULL, 0, &a), 0);
	assert_int_equal(wire_sign_request(secret, ENV, "GET", "/v1/health", HOST, NULL, 0, &b), 0);
	assert_string_not_equal(a.nonce, b.nonce);
	assert_int_equal(strlen(a.nonce), 32);
	assert_int_equal(strlen(a.signature), 64);
	int64_t now = cfs_now_ms();
	struct wire_inbound in = { .h_env = a.env, .h_timestamp = a.timestamp, .h_nonce = a.nonce,
				   .h_signature = a.signature, .method = "GET",
				   .target = "/v1/health", .host = HOST, .now_ms = now };
	expect(&in, NULL, 0, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_accepts),
		cmocka_unit_test(test_known_answer),
		cmocka_unit_test(test_default_ports_dropped),
		cmocka_unit_test(test_percent_encoding_is_signed_raw),
		cmocka_unit_test(test_missing_headers),
		cmocka_unit_test(test_malformed_headers),
		cmocka_unit_test(test_malformed_request_line),
		cmocka_unit_test(test_skew_boundaries),
		cmocka_unit_test(test_env_and_secret),
		cmocka_unit_test(test_tampering),
		cmocka_unit_test(test_replay),
		cmocka_unit_test(test_replay_future_timestamp),
		cmocka_unit_test(test_garbage_flood),
		cmocka_unit_test(test_response_signature),
		cmocka_unit_test(test_fresh_signatures),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
