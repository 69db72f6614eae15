/* wire_verify_request on arbitrary input.
 *
 * Input layout: one flag byte (bit i set: field i is absent), then the
 * fields env, timestamp, nonce, signature, method, target, host separated by
 * '\n', then the body (the rest, may be empty).  The clock is fixed and the
 * env "mgr" has a fixed secret, so seeds made from real signed requests are
 * accepted; checks: the verdict is consistent with the return value, a
 * refusal carries no secret, and an accepted request is a replay the second
 * time. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wire/wire.h"

#define FUZZ_NOW INT64_C(1700000000000)

static int lookup(void *arg, const char *env, uint8_t out[32])
{
	(void)arg;
	if (strcmp(env, "mgr") == 0) {
		for (int i = 0; i < 32; i++)
			out[i] = (uint8_t)i;
		return 0;
	}
	if (strcmp(env, "locked") == 0)
		return -EACCES;
	return -ENOENT;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	uint8_t absent = data[0];
	char *copy = malloc(size);
	if (!copy)
		return 0;
	memcpy(copy, data + 1, size - 1);
	copy[size - 1] = '\0';

	char *fields[7] = { 0 };
	char *p = copy, *end = copy + size - 1;
	int nf = 0;
	for (; nf < 7 && p <= end; nf++) {
		char *nl = memchr(p, '\n', (size_t)(end - p));
		fields[nf] = p;
		if (!nl) {
			p = end + 1;
			nf++;
			break;
		}
		*nl = '\0';
		p = nl + 1;
	}
	const char *body = p <= end ? p : NULL;
	size_t body_len = p <= end ? (size_t)(end - p) : 0;
	for (int i = 0; i < 7; i++)
		if (absent & (1u << i))
			fields[i] = NULL;

	struct wire_inbound in = {
		.h_env = fields[0], .h_timestamp = fields[1], .h_nonce = fields[2],
		.h_signature = fields[3], .method = fields[4], .target = fields[5],
		.host = fields[6], .body = body, .body_len = body_len, .now_ms = FUZZ_NOW,
	};
	struct wire_nonce_cache *nc = wire_nonce_cache_new(4);
	struct wire_verdict v;
	static const uint8_t zero[32];
	int ret = wire_verify_request(&in, lookup, NULL, nc, &v);
	/* For checking what a seed exercises. */
	if (getenv("FUZZ_WIRE_VERBOSE"))
		fprintf(stderr, "%d %s %s\n", v.status, v.code, v.message);
	if (ret == 0) {
		if (v.status != 0 || strcmp(v.env, "mgr") != 0)
			abort();
		if (wire_verify_request(&in, lookup, NULL, nc, &v) != -EACCES ||
		    strcmp(v.code, "replay") != 0)
			abort();
	} else {
		if ((ret == -EINVAL) != (v.status == 400) || (ret == -EACCES) != (v.status == 401) ||
		    !v.code[0] || !v.message[0] || memcmp(v.secret, zero, 32) != 0)
			abort();
	}
	wire_nonce_cache_free(nc);
	free(copy);
	return 0;
}
