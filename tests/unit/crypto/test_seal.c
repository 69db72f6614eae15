/* Sealing secrets at rest: round trips, tampering, wrong key or purpose,
 * malformed input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "auth/crypto.h"
#include "core/util.h"

#define OVERHEAD (1 + 12 + 16)

static uint8_t master[CFS_KEY_LEN];

static int setup(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof master; i++)
		master[i] = (uint8_t)(i * 7 + 1);
	return 0;
}

static void round_trip(const char *purpose, const void *pt, size_t len)
{
	uint8_t *blob = NULL, *back = NULL;
	size_t blob_len = 0, back_len = 0;
	assert_int_equal(cfs_seal(master, purpose, pt, len, &blob, &blob_len), 0);
	assert_non_null(blob);
	assert_int_equal(blob_len, len + OVERHEAD);
	assert_int_equal(blob[0], 0x01);
	assert_int_equal(cfs_open(master, purpose, blob, blob_len, &back, &back_len), 0);
	assert_non_null(back);
	assert_int_equal(back_len, len);
	if (len)
		assert_memory_equal(back, pt, len);
	assert_int_equal(back[len], '\0');
	free(blob);
	free(back);
}

static void test_round_trip(void **state)
{
	(void)state;
	round_trip("peer secret", "0123456789abcdef", 16);
	round_trip("", "x", 1);
	round_trip("agent secret", "", 0);
	round_trip("agent secret", NULL, 0);
}

/* A blob built by an independent AES-GCM/HKDF implementation from the layout
 * in crypto.h (nonce a0..ab, plaintext "known answer"). */
static void test_known_blob(void **state)
{
	(void)state;
	const char *hex = "01a0a1a2a3a4a5a6a7a8a9aaab740abf0b110e1c02f1d09daf868a557da2c7"
			  "dedacae12adb26c61974";
	uint8_t blob[41], *out;
	size_t out_len;
	assert_int_equal(strlen(hex), 2 * sizeof blob);
	assert_int_equal(cfs_unhex(hex, blob, sizeof blob), 0);
	assert_int_equal(cfs_open(master, "peer secret", blob, sizeof blob, &out, &out_len), 0);
	assert_int_equal(out_len, 12);
	assert_string_equal((char *)out, "known answer");
	free(out);
}

static void test_round_trip_1mib(void **state)
{
	(void)state;
	size_t n = 1 << 20;
	uint8_t *pt = malloc(n);
	assert_non_null(pt);
	assert_int_equal(cfs_random(pt, n), 0);
	round_trip("bulk", pt, n);
	free(pt);
}

/* Two seals of the same plaintext differ: the nonce is fresh each time. */
static void test_fresh_nonce(void **state)
{
	(void)state;
	uint8_t *a, *b;
	size_t an, bn;
	assert_int_equal(cfs_seal(master, "p", "same", 4, &a, &an), 0);
	assert_int_equal(cfs_seal(master, "p", "same", 4, &b, &bn), 0);
	assert_int_equal(an, bn);
	assert_memory_not_equal(a + 1, b + 1, 12);
	assert_memory_not_equal(a + 13, b + 13, an - 13);
	free(a);
	free(b);
}

/* Every byte position, every bit: the version byte makes it an unknown
 * version (-EINVAL), anything else fails authentication (-EBADMSG). */
static void test_tamper_every_byte(void **state)
{
	(void)state;
	uint8_t *blob;
	size_t n;
	assert_int_equal(cfs_seal(master, "peer secret", "hello, sealed world", 19, &blob, &n), 0);
	for (size_t i = 0; i < n; i++) {
		for (int bit = 0; bit < 8; bit++) {
			uint8_t *out = (uint8_t *)"untouched";
			size_t out_len = 99;
			blob[i] ^= (uint8_t)(1u << bit);
			int ret = cfs_open(master, "peer secret", blob, n, &out, &out_len);
			blob[i] ^= (uint8_t)(1u << bit);
			assert_int_equal(ret, i == 0 ? -EINVAL : -EBADMSG);
			assert_null(out);
			assert_int_equal(out_len, 0);
		}
	}
	/* and the untouched blob still opens */
	uint8_t *out;
	size_t out_len;
	assert_int_equal(cfs_open(master, "peer secret", blob, n, &out, &out_len), 0);
	free(out);
	free(blob);
}

static void test_wrong_key_or_purpose(void **state)
{
	(void)state;
	uint8_t *blob, *out;
	size_t n, out_len;
	assert_int_equal(cfs_seal(master, "peer secret", "s3cret", 6, &blob, &n), 0);

	uint8_t other[CFS_KEY_LEN];
	memcpy(other, master, sizeof other);
	other[31] ^= 0x80;
	assert_int_equal(cfs_open(other, "peer secret", blob, n, &out, &out_len), -EBADMSG);
	assert_int_equal(cfs_open(master, "agent secret", blob, n, &out, &out_len), -EBADMSG);
	assert_int_equal(cfs_open(master, "peer secret ", blob, n, &out, &out_len), -EBADMSG);
	assert_int_equal(cfs_open(master, "Peer secret", blob, n, &out, &out_len), -EBADMSG);
	assert_int_equal(cfs_open(master, "", blob, n, &out, &out_len), -EBADMSG);
	free(blob);

	/* empty purpose is a purpose of its own */
	assert_int_equal(cfs_seal(master, "", "s3cret", 6, &blob, &n), 0);
	assert_int_equal(cfs_open(master, "x", blob, n, &out, &out_len), -EBADMSG);
	free(blob);
}

static void test_truncated(void **state)
{
	(void)state;
	uint8_t *blob, *out;
	size_t n, out_len;
	assert_int_equal(cfs_seal(master, "p", "abc", 3, &blob, &n), 0);
	assert_int_equal(n, 3 + OVERHEAD);
	for (size_t len = 0; len < OVERHEAD; len++)
		assert_int_equal(cfs_open(master, "p", blob, len, &out, &out_len), -EINVAL);
	/* long enough to parse, but a cut blob fails its tag */
	for (size_t len = OVERHEAD; len < n; len++)
		assert_int_equal(cfs_open(master, "p", blob, len, &out, &out_len), -EBADMSG);
	assert_int_equal(cfs_open(master, "p", NULL, 0, &out, &out_len), -EINVAL);
	free(blob);

	/* an unknown version, whatever follows */
	uint8_t v2[OVERHEAD + 4] = { 0x02 };
	assert_int_equal(cfs_open(master, "p", v2, sizeof v2, &out, &out_len), -EINVAL);
}

static void test_bad_args(void **state)
{
	(void)state;
	uint8_t *out;
	size_t out_len;
	assert_int_equal(cfs_seal(NULL, "p", "a", 1, &out, &out_len), -EINVAL);
	assert_int_equal(cfs_seal(master, NULL, "a", 1, &out, &out_len), -EINVAL);
	assert_int_equal(cfs_seal(master, "p", NULL, 1, &out, &out_len), -EINVAL);
	assert_int_equal(cfs_seal(master, "p", "a", 1, NULL, &out_len), -EINVAL);

	/* a purpose too long to bind */
	char *purpose = malloc(4097);
	assert_non_null(purpose);
	memset(purpose, 'p', 4096);
	purpose[4096] = '\0';
	assert_int_equal(cfs_seal(master, purpose, "a", 1, &out, &out_len), -EINVAL);
	free(purpose);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_known_blob),
		cmocka_unit_test(test_round_trip_1mib),
		cmocka_unit_test(test_fresh_nonce),
		cmocka_unit_test(test_tamper_every_byte),
		cmocka_unit_test(test_wrong_key_or_purpose),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_bad_args),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
