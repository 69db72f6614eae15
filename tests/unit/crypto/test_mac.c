/* HMAC-SHA256 (RFC 4231), HKDF-SHA256 (RFC 5869), SHA-256 and the
 * constant-time helpers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "auth/crypto.h"
#include "core/util.h"

static void fill(uint8_t *p, uint8_t v, size_t n)
{
	memset(p, v, n);
}

/* Bytes a, a+1, ..., b. */
static size_t ramp(uint8_t *p, unsigned a, unsigned b)
{
	size_t n = 0;
	for (unsigned v = a; v <= b; v++)
		p[n++] = (uint8_t)v;
	return n;
}

static void expect_hex(const uint8_t *got, size_t n, const char *want_hex)
{
	char hex[2 * 256 + 1];
	assert_true(n <= 256);
	cfs_hex(got, n, hex);
	assert_string_equal(hex, want_hex);
}

/* ---- RFC 4231 ---- */

struct hmac_case {
	const uint8_t *key;
	size_t key_len;
	const void *msg;
	size_t msg_len;
	const char *want;   /* hex; case 5 gives only the first 16 bytes */
};

static void check_hmac(const struct hmac_case *c)
{
	uint8_t mac[CFS_SHA256_LEN];
	assert_int_equal(cfs_hmac_sha256(c->key, c->key_len, c->msg, c->msg_len, mac), 0);
	expect_hex(mac, strlen(c->want) / 2, c->want);
	if (strlen(c->want) == 64)
		assert_int_equal(cfs_hmac_sha256_verify_hex(c->key, c->key_len, c->msg, c->msg_len,
							     c->want), 0);
}

static void test_rfc4231_1(void **state)
{
	(void)state;
	uint8_t key[20];
	fill(key, 0x0b, sizeof key);
	check_hmac(&(struct hmac_case){ key, sizeof key, "Hi There", 8,
		"b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7" });
}

static void test_rfc4231_2(void **state)
{
	(void)state;
	const char *msg = "what do ya want for nothing?";
	check_hmac(&(struct hmac_case){ (const uint8_t *)"Jefe", 4, msg, strlen(msg),
		"5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843" });
}

static void test_rfc4231_3(void **state)
{
	(void)state;
	uint8_t key[20], msg[50];
	fill(key, 0xaa, sizeof key);
	fill(msg, 0xdd, sizeof msg);
	check_hmac(&(struct hmac_case){ key, sizeof key, msg, sizeof msg,
		"773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe" });
}

static void test_rfc4231_4(void **state)
{
	(void)state;
	uint8_t key[25], msg[50];
	assert_int_equal(ramp(key, 0x01, 0x19), sizeof key);
	fill(msg, 0xcd, sizeof msg);
	check_hmac(&(struct hmac_case){ key, sizeof key, msg, sizeof msg,
		"82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b" });
}

static void test_rfc4231_5_truncated(void **state)
{
	(void)state;
	uint8_t key[20];
	fill(key, 0x0c, sizeof key);
	const char *msg = "Test With Truncation";
	check_hmac(&(struct hmac_case){ key, sizeof key, msg, strlen(msg),
		"a3b6167473100ee06e0c796c2955552b" });
}

static void test_rfc4231_6_long_key(void **state)
{
	(void)state;
	uint8_t key[131];
	fill(key, 0xaa, sizeof key);
	const char *msg = "Test Using Larger Than Block-Size Key - Hash Key First";
	check_hmac(&(struct hmac_case){ key, sizeof key, msg, strlen(msg),
		"60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54" });
}

static void test_rfc4231_7_long_key_long_data(void **state)
{
	(void)state;
	uint8_t key[131];
	fill(key, 0xaa, sizeof key);
	const char *msg = "This is a test using a larger than block-size key and a larger "
			  "than block-size data. The key needs to be hashed before being "
			  "used by the HMAC algorithm.";
	check_hmac(&(struct hmac_case){ key, sizeof key, msg, strlen(msg),
		"9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2" });
}

/* An empty key and an empty message are legal HMAC inputs. */
static void test_hmac_empty(void **state)
{
	(void)state;
	uint8_t a[CFS_SHA256_LEN], b[CFS_SHA256_LEN];
	assert_int_equal(cfs_hmac_sha256(NULL, 0, NULL, 0, a), 0);
	assert_int_equal(cfs_hmac_sha256((const uint8_t *)"", 0, "", 0, b), 0);
	assert_memory_equal(a, b, sizeof a);
	expect_hex(a, sizeof a,
		   "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
	assert_int_equal(cfs_hmac_sha256(NULL, 3, "x", 1, a), -EINVAL);
}

/* ---- verify_hex ---- */

static void test_verify_hex(void **state)
{
	(void)state;
	const uint8_t *key = (const uint8_t *)"Jefe";
	const char *msg = "what do ya want for nothing?";
	size_t n = strlen(msg);
	const char *good = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843";
	char sig[80];

	assert_int_equal(cfs_hmac_sha256_verify_hex(key, 4, msg, n, good), 0);

	/* upper-case is not the wire form */
	strcpy(sig, "5BDCC146BF60754E6A042426089575C75A003F089D2739839DEC58B964EC3843");
	assert_int_equal(cfs_hmac_sha256_verify_hex(key, 4, msg, n, sig), -EACCES);
	strcpy(sig, good);
	sig[10] = 'C';
	assert_int_equal(cfs_hmac_sha256_verify_hex(key, 4, msg, n, sig), -EACCES);
	/* short, long, empty, NULL */
	strcpy(sig, good);
	sig[63] = '\0';
	assert_int_equal(cfs_hmac_sha256_verify_hex(key, 4, msg, n, sig), -EACCES);
	snprintf(sig, sizeof sig, "%s0", good);
	assert_int_equal(cfs_hmac_sha256_verify_hex(key, 4, msg, n, sig), -EACCES);
	snprintf(sig, sizeof sig, "%s\n", good);
	assert_int_equal(cfs_hmac_sha256_verify_hex(key, 4, msg, n, sig), -EACCES);
	assert_int_equal(cfs_hmac_sha256_verify_hex(key, 4, msg, n, ""), -EACCES);
	assert_int_equal(cfs_hmac_sha256_verify_hex(key, 4, msg, n, NULL), -EACCES);
	/* non-hex */
	strcpy(sig, good);
	sig[0] = 'g';
	assert_int_equal(cfs_hmac_sha256_verify_hex(key, 4, msg, n, sig), -EACCES);
	strcpy(sig, good);
	sig[31] = ' ';
	assert_int_equal(cfs_hmac_sha256_verify_hex(key, 4, msg, n, sig), -EACCES);
	/* well-formed but wrong: last digit, first digit, other key, other message */
	strcpy(sig, good);
	sig[63] = '4';
	assert_int_equal(cfs_hmac_sha256_verify_hex(key, 4, msg, n, sig), -EACCES);
	strcpy(sig, good);
	sig[0] = '4';
	assert_int_equal(cfs_hmac_sha256_verify_hex(key, 4, msg, n, sig), -EACCES);
	assert_int_equal(cfs_hmac_sha256_verify_hex((const uint8_t *)"Jeff", 4, msg, n, good),
			 -EACCES);
	assert_int_equal(cfs_hmac_sha256_verify_hex(key, 4, msg, n - 1, good), -EACCES);
}

static void test_ct_equal(void **state)
{
	(void)state;
	assert_true(cfs_ct_equal("abc", "abc", 3));
	assert_false(cfs_ct_equal("abc", "abd", 3));
	assert_false(cfs_ct_equal("xbc", "abc", 3));
	assert_true(cfs_ct_equal("abc", "abd", 2));
	assert_true(cfs_ct_equal(NULL, NULL, 0));
}

static void test_cleanse(void **state)
{
	(void)state;
	uint8_t b[17], zero[17] = { 0 };
	memset(b, 0x5a, sizeof b);
	cfs_cleanse(b, sizeof b);
	assert_memory_equal(b, zero, sizeof b);
	cfs_cleanse(NULL, 0);
}

/* ---- RFC 5869, SHA-256 cases ---- */

static void test_rfc5869_1(void **state)
{
	(void)state;
	uint8_t ikm[22], salt[13], info[10], okm[42];
	fill(ikm, 0x0b, sizeof ikm);
	ramp(salt, 0x00, 0x0c);
	ramp(info, 0xf0, 0xf9);
	assert_int_equal(cfs_hkdf_sha256(salt, sizeof salt, ikm, sizeof ikm, info, sizeof info,
					 okm, sizeof okm), 0);
	expect_hex(okm, sizeof okm,
		   "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf"
		   "34007208d5b887185865");
}

static void test_rfc5869_2(void **state)
{
	(void)state;
	uint8_t ikm[80], salt[80], info[80], okm[82];
	ramp(ikm, 0x00, 0x4f);
	ramp(salt, 0x60, 0xaf);
	ramp(info, 0xb0, 0xff);
	assert_int_equal(cfs_hkdf_sha256(salt, sizeof salt, ikm, sizeof ikm, info, sizeof info,
					 okm, sizeof okm), 0);
	expect_hex(okm, sizeof okm,
		   "b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c"
		   "59045a99cac7827271cb41c65e590e09da3275600c2f09b8367793a9aca3db71"
		   "cc30c58179ec3e87c14c01d5c1f3434f1d87");
}

static void test_rfc5869_3(void **state)
{
	(void)state;
	const char *want = "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d"
			   "9d201395faa4b61a96c8";
	uint8_t ikm[22], okm[42], zeros[CFS_SHA256_LEN] = { 0 };
	fill(ikm, 0x0b, sizeof ikm);
	/* no salt, no info */
	assert_int_equal(cfs_hkdf_sha256(NULL, 0, ikm, sizeof ikm, NULL, 0, okm, sizeof okm), 0);
	expect_hex(okm, sizeof okm, want);
	/* an empty salt and HashLen zeros are the same salt */
	assert_int_equal(cfs_hkdf_sha256((const uint8_t *)"", 0, ikm, sizeof ikm,
					 (const uint8_t *)"", 0, okm, sizeof okm), 0);
	expect_hex(okm, sizeof okm, want);
	assert_int_equal(cfs_hkdf_sha256(zeros, sizeof zeros, ikm, sizeof ikm, NULL, 0,
					 okm, sizeof okm), 0);
	expect_hex(okm, sizeof okm, want);
}

static void test_hkdf_limits(void **state)
{
	(void)state;
	static uint8_t okm[255 * 32 + 1];
	uint8_t ikm[32] = { 1 };
	assert_int_equal(cfs_hkdf_sha256(NULL, 0, ikm, sizeof ikm, NULL, 0, okm, 255 * 32), 0);
	assert_int_equal(cfs_hkdf_sha256(NULL, 0, ikm, sizeof ikm, NULL, 0, okm, 255 * 32 + 1),
			 -EINVAL);
	assert_int_equal(cfs_hkdf_sha256(NULL, 0, ikm, sizeof ikm, NULL, 0, okm, 0), -EINVAL);
	assert_int_equal(cfs_hkdf_sha256(NULL, 0, NULL, 5, NULL, 0, okm, 32), -EINVAL);
	/* an empty input key is unusual but defined */
	assert_int_equal(cfs_hkdf_sha256(NULL, 0, NULL, 0, NULL, 0, okm, 32), 0);
}

static void test_sha256(void **state)
{
	(void)state;
	char hex[CFS_SHA256_HEX];
	assert_int_equal(cfs_sha256_hex(NULL, 0, hex), 0);
	assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	assert_int_equal(cfs_sha256_hex("", 0, hex), 0);
	assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	assert_int_equal(cfs_sha256_hex("abc", 3, hex), 0);
	assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	uint8_t md[CFS_SHA256_LEN];
	assert_int_equal(cfs_sha256("abc", 3, md), 0);
	assert_int_equal(md[0], 0xba);
	assert_int_equal(md[31], 0xad);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc4231_1),
		cmocka_unit_test(test_rfc4231_2),
		cmocka_unit_test(test_rfc4231_3),
		cmocka_unit_test(test_rfc4231_4),
		cmocka_unit_test(test_rfc4231_5_truncated),
		cmocka_unit_test(test_rfc4231_6_long_key),
		cmocka_unit_test(test_rfc4231_7_long_key_long_data),
		cmocka_unit_test(test_hmac_empty),
		cmocka_unit_test(test_verify_hex),
		cmocka_unit_test(test_ct_equal),
		cmocka_unit_test(test_cleanse),
		cmocka_unit_test(test_rfc5869_1),
		cmocka_unit_test(test_rfc5869_2),
		cmocka_unit_test(test_rfc5869_3),
		cmocka_unit_test(test_hkdf_limits),
		cmocka_unit_test(test_sha256),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
