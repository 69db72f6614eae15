/* Unit tests: restic's sealed box, Poly1305-AES, scrypt, base64, key files. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <errno.h>

#include "restic/rr_int.h"

static size_t unhex(const char *h, uint8_t *out)
{
	size_t n = strlen(h) / 2;
	for (size_t i = 0; i < n; i++) {
		unsigned v;
		sscanf(h + 2 * i, "%2x", &v);
		out[i] = (uint8_t)v;
	}
	return n;
}

static void test_poly1305_vectors(void **state)
{
	static const char *v[][5] = {
		{ "f3f6", "851fc40c3467ac0be05cc20404f3f700", "ec074c835580741701425b623235add6",
		  "fb447350c4e868c52ac3275cf9d4327e", "f4c633c3044fc145f84f335cb81953de" },
		{ "", "a0f3080000f46400d0c7e9076c834403", "75deaa25c09f208e1dc4ce6b5cad3fbf",
		  "61ee09218d29b0aaed7e154a2c5509cc", "dd3fab2251f11ac759f0887129cc2ee7" },
		{ "663cea190ffb83d89593f3f476b6bc24d7e679107ea26adb8caf6652d0656136",
		  "48443d0bb0d21109c89a100b5ce2c208", "6acb5f61a7176dd320c5c1eb2edcdc74",
		  "ae212a55399729595dea458bc621ff0e", "0ee1c16bb73f0f4fd19881753c01cdbe" },
		{ "ab0812724a7f1e342742cbed374d94d136c6b8795d45b3819830f2c04491faf0990c62e48b8018b2c3e4a0fa3134cb67fa83e158c994d961c4cb21095c1bf9",
		  "12976a08c4426d0ce8a82407c4f48207", "e1a5668a4d5b66a5f68cc5424ed5982d",
		  "9ae831e743978d3a23527c7128149e3a", "5154ad0d2cb26e01274fc51148491f1b" },
	};
	(void)state;
	for (size_t i = 0; i < 4; i++) {
		uint8_t msg[64], r[16], k[16], nonce[16], want[16], tag[16];
		size_t n = unhex(v[i][0], msg);
		unhex(v[i][1], r);
		unhex(v[i][2], k);
		unhex(v[i][3], nonce);
		unhex(v[i][4], want);
		assert_int_equal(rr_poly1305_aes(k, r, nonce, msg, n, tag), 0);
		assert_memory_equal(tag, want, 16);
	}
}

static struct rr_mkey vector_key(void)
{
	struct rr_mkey k;
	unhex("303e8687b1d7db18421bdc6bb8588ccadac4d59ee87b8ff70c44e635790cafef", k.enc);
	unhex("ef4d8824cb80b2bcc5fbff8a9b12a42c", k.k);
	unhex("cc8d4b948ee0ebfe1d415de921d10353", k.r);
	return k;
}

static void test_box_vector_and_tamper(void **state)
{
	(void)state;
	struct rr_mkey k = vector_key();
	uint8_t box[50], out[18];
	assert_int_equal(unhex("69fb41c62d12def4593bd71757138606338f621aeaeb39da0fe4f99233f8037a"
			       "54ea63338a813bcf3f75d8c3cc75dddf8750", box), 50);
	assert_int_equal(rr_box_open(&k, box, 50, out), 0);
	assert_memory_equal(out, "Dies ist ein Test!", 18);
	/* one flipped bit anywhere (IV, ciphertext, MAC) is refused */
	size_t where[] = { 0, 15, 16, 33, 34, 49 };
	for (size_t i = 0; i < sizeof where / sizeof *where; i++) {
		box[where[i]] ^= 0x01;
		assert_int_equal(rr_box_open(&k, box, 50, out), -EBADMSG);
		box[where[i]] ^= 0x01;
	}
	assert_int_equal(rr_box_open(&k, box, 31, out), -EINVAL);   /* too short */
	uint8_t zero[40] = { 0 };
	assert_int_equal(rr_box_open(&k, zero, 40, out), -EINVAL);  /* zero IV */
	/* seal and open round trip, empty plaintext included */
	uint8_t sealed[64], back[32];
	assert_int_equal(rr_box_seal(&k, (const uint8_t *)"hello", 5, sealed), 0);
	assert_int_equal(rr_box_open(&k, sealed, 37, back), 0);
	assert_memory_equal(back, "hello", 5);
	assert_int_equal(rr_box_seal(&k, NULL, 0, sealed), 0);
	assert_int_equal(rr_box_open(&k, sealed, 32, back), 0);
}

static void test_scrypt(void **state)
{
	(void)state;
	uint8_t out[64], want[64];
	/* RFC 7914 vector 3 (vector 2 has r*p = 128, beyond our cap: refused) */
	unhex("7023bdcb3afd7348461c06cd81fd38ebfda8fbba904f8e3ea9b543f6545da1f2d5432955613f0fcf62d49705242a9af9e61e85dc0d651e40dfcf017b45575887", want);
	assert_int_equal(rr_scrypt("pleaseletmein", 13, (const uint8_t *)"SodiumChloride", 14, 16384,
				   8, 1, out, 64), 0);
	assert_memory_equal(out, want, 64);
	assert_int_equal(rr_scrypt("password", 8, (const uint8_t *)"NaCl", 4, 1024, 8, 16, out, 64),
			 -EINVAL);
	unhex("77d6576238657b203b19ca42c18a0497f16b4844e3074ae8dfdffa3fede21442fcd0069ded0948f8326a753a0fc81f17e8d3e0fb2e0d3628cf35e20c38d18906", want);
	assert_int_equal(rr_scrypt("", 0, (const uint8_t *)"", 0, 16, 1, 1, out, 64), 0);
	assert_memory_equal(out, want, 64);
	/* what restic 0.14 writes here needs more than OpenSSL's default 32 MiB */
	assert_int_equal(rr_scrypt("x", 1, (const uint8_t *)"salt", 4, 32768, 8, 6, out, 64), 0);
	/* hostile parameters are refused before any memory is spent */
	assert_int_equal(rr_scrypt("x", 1, NULL, 0, 1u << 21, 1, 1, out, 64), -EINVAL);
	assert_int_equal(rr_scrypt("x", 1, NULL, 0, 1000, 1, 1, out, 64), -EINVAL);
	assert_int_equal(rr_scrypt("x", 1, NULL, 0, 1024, 8, 9, out, 64), -EINVAL);
	assert_int_equal(rr_scrypt("x", 1, NULL, 0, 1u << 20, 8, 1, out, 64), -EINVAL);
	assert_int_equal(rr_scrypt("x", 1, NULL, 0, 1, 1, 1, out, 64), -EINVAL);
	assert_int_equal(rr_scrypt("x", 1, NULL, 0, 16, 0, 1, out, 64), -EINVAL);
}

static void test_base64(void **state)
{
	(void)state;
	uint8_t *o;
	size_t n;
	assert_int_equal(cfs_b64_decode("YmFy", &o, &n), 0);
	assert_int_equal(n, 3);
	assert_memory_equal(o, "bar", 3);
	free(o);
	assert_int_equal(cfs_b64_decode("YQ==", &o, &n), 0);
	assert_int_equal(n, 1);
	free(o);
	assert_int_equal(cfs_b64_decode("YWI=", &o, &n), 0);
	assert_int_equal(n, 2);
	free(o);
	assert_int_equal(cfs_b64_decode("", &o, &n), 0);
	assert_int_equal(n, 0);
	free(o);
	assert_int_equal(cfs_b64_decode("YQ=", &o, &n), -EINVAL);
	assert_int_equal(cfs_b64_decode("Y=Q=", &o, &n), -EINVAL);
	assert_int_equal(cfs_b64_decode("YQ==YQ==", &o, &n), -EINVAL);
	assert_int_equal(cfs_b64_decode("Y Q=", &o, &n), -EINVAL);
}

static char *b64(const uint8_t *p, size_t n)
{
	static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char *o = malloc(n / 3 * 4 + 8), *q = o;
	for (size_t i = 0; i < n; i += 3) {
		uint32_t w = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0) |
			     (i + 2 < n ? p[i + 2] : 0);
		*q++ = t[w >> 18];
		*q++ = t[(w >> 12) & 63];
		*q++ = i + 1 < n ? t[(w >> 6) & 63] : '=';
		*q++ = i + 2 < n ? t[w & 63] : '=';
	}
	*q = '\0';
	return o;
}

/* A key file as restic writes one, with small scrypt parameters. */
static char *make_keyfile(const char *pw, uint64_t N, const char *mkjson)
{
	uint8_t salt[64], dk[64];
	for (int i = 0; i < 64; i++)
		salt[i] = (uint8_t)(i * 7 + 1);
	assert_int_equal(rr_scrypt(pw, strlen(pw), salt, 64, N < (1u << 20) ? N : 16, 8, 1, dk, 64), 0);
	struct rr_mkey user;
	memcpy(user.enc, dk, 32);
	memcpy(user.k, dk + 32, 16);
	memcpy(user.r, dk + 48, 16);
	size_t n = strlen(mkjson);
	uint8_t *box = malloc(n + 32);
	assert_int_equal(rr_box_seal(&user, (const uint8_t *)mkjson, n, box), 0);
	char *s = b64(salt, 64), *d = b64(box, n + 32);
	char *out = malloc(strlen(s) + strlen(d) + 256);
	sprintf(out, "{\"created\":\"2026-11-22T20:31:06.054367478Z\",\"username\":\"u\","
		     "\"hostname\":\"h\",\"kdf\":\"scrypt\",\"N\":%llu,\"r\":8,\"p\":1,"
		     "\"salt\":\"%s\",\"data\":\"%s\"}", (unsigned long long)N, s, d);
	free(s);
	free(d);
	free(box);
	return out;
}

static void test_keyfile(void **state)
{
	(void)state;
	const char *mk = "{\"mac\":{\"k\":\"7021QoSxzfBN6fg6BH1U2A==\",\"r\":\"Ry2aJv7tMG+A4Qpm0pXPDg==\"},"
			 "\"encrypt\":\"uQ2TaK4AwJKbwtkNpWBWG0RZD6hixzOeOqbB45HTMcc=\"}";
	char *kfj = make_keyfile("secret", 1024, mk);
	struct rr_keyfile kf;
	struct rr_mkey m;
	assert_int_equal(rr_keyfile_parse(kfj, strlen(kfj), &kf), 0);
	assert_int_equal(kf.N, 1024);
	assert_int_equal(rr_key_open(&kf, "secret", &m), 0);
	uint8_t *enc;
	size_t n;
	assert_int_equal(cfs_b64_decode("uQ2TaK4AwJKbwtkNpWBWG0RZD6hixzOeOqbB45HTMcc=", &enc, &n), 0);
	assert_memory_equal(m.enc, enc, 32);
	free(enc);
	assert_int_equal(rr_key_open(&kf, "wrong", &m), -EACCES);
	rr_keyfile_free(&kf);
	free(kfj);

	/* hostile N: parsed, refused before scrypt runs */
	kfj = make_keyfile("secret", UINT64_C(1) << 30, mk);
	assert_int_equal(rr_keyfile_parse(kfj, strlen(kfj), &kf), 0);
	assert_int_equal(rr_key_open(&kf, "secret", &m), -EINVAL);
	rr_keyfile_free(&kf);
	free(kfj);

	/* malformed key files */
	const char *bad[] = {
		"", "[]", "{\"kdf\":\"pbkdf2\",\"N\":16,\"r\":1,\"p\":1,\"salt\":\"\",\"data\":\"\"}",
		"{\"kdf\":\"scrypt\",\"N\":16,\"r\":1,\"p\":1,\"salt\":\"YQ==\",\"data\":\"YQ==\"}",
		"{\"kdf\":\"scrypt\",\"N\":16.5,\"r\":1,\"p\":1}",
		"{\"kdf\":\"scrypt\",\"N\":-16,\"r\":1,\"p\":1}",
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
		assert_int_equal(rr_keyfile_parse(bad[i], strlen(bad[i]), &kf), -EINVAL);

	/* master key JSON: parts must have their sizes and not be zero */
	assert_int_equal(rr_masterkey_parse(mk, strlen(mk), &m), 0);
	const char *zero = "{\"mac\":{\"k\":\"AAAAAAAAAAAAAAAAAAAAAA==\",\"r\":\"Ry2aJv7tMG+A4Qpm0pXPDg==\"},"
			   "\"encrypt\":\"uQ2TaK4AwJKbwtkNpWBWG0RZD6hixzOeOqbB45HTMcc=\"}";
	assert_int_equal(rr_masterkey_parse(zero, strlen(zero), &m), -EINVAL);
	const char *shortk = "{\"mac\":{\"k\":\"YQ==\",\"r\":\"Ry2aJv7tMG+A4Qpm0pXPDg==\"},"
			     "\"encrypt\":\"uQ2TaK4AwJKbwtkNpWBWG0RZD6hixzOeOqbB45HTMcc=\"}";
	assert_int_equal(rr_masterkey_parse(shortk, strlen(shortk), &m), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_poly1305_vectors),
		cmocka_unit_test(test_box_vector_and_tamper),
		cmocka_unit_test(test_scrypt),
		cmocka_unit_test(test_base64),
		cmocka_unit_test(test_keyfile),
	};
	return cmocka_run_group_tests_name("restic crypto", tests, NULL, NULL);
}
