/* box.c — restic's sealed box: AES-256-CTR with a Poly1305-AES MAC over the
 * ciphertext, plus scrypt for key files and base64 for JSON byte fields. */
#include "restic/rr_int.h"

#include <errno.h>
#include <limits.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

/* Fetched once: an implicit fetch per blob (EVP_aes_256_ctr() and the
 * like) costs a locked provider lookup every time. */
static EVP_MAC *poly_mac;
static EVP_CIPHER *aes128_ecb, *aes256_ctr;
static pthread_once_t poly_once = PTHREAD_ONCE_INIT;

static void poly_init(void)
{
	poly_mac = EVP_MAC_fetch(NULL, "POLY1305", NULL);
	aes128_ecb = EVP_CIPHER_fetch(NULL, "AES-128-ECB", NULL);
	aes256_ctr = EVP_CIPHER_fetch(NULL, "AES-256-CTR", NULL);
}

int rr_sha256(const void *data, size_t len, uint8_t out[RR_ID_LEN])
{
	return SHA256(data, len, out) ? 0 : -EIO;
}

/* s = AES-128(k, nonce); tag = Poly1305(r || s, msg). */
int rr_poly1305_aes(const uint8_t k[16], const uint8_t r[16], const uint8_t nonce[16],
		    const uint8_t *msg, size_t len, uint8_t tag[16])
{
	uint8_t pk[32];
	int ret = -EIO, ol = 0;
	size_t tl = 0;
	EVP_CIPHER_CTX *c = NULL;
	EVP_MAC_CTX *m = NULL;

	pthread_once(&poly_once, poly_init);
	if (!poly_mac || !aes128_ecb)
		return -EIO;
	memcpy(pk, r, 16);
	c = EVP_CIPHER_CTX_new();
	if (!c || !EVP_EncryptInit_ex(c, aes128_ecb, NULL, k, NULL) ||
	    !EVP_CIPHER_CTX_set_padding(c, 0) || !EVP_EncryptUpdate(c, pk + 16, &ol, nonce, 16) ||
	    ol != 16)
		goto out;
	m = EVP_MAC_CTX_new(poly_mac);
	if (!m || !EVP_MAC_init(m, pk, sizeof pk, NULL))
		goto out;
	/* EVP_MAC_update takes size_t, but feed it in bounded pieces anyway */
	while (len > 0) {
		size_t n = len > (1u << 30) ? (1u << 30) : len;
		if (!EVP_MAC_update(m, msg, n))
			goto out;
		msg += n;
		len -= n;
	}
	if (!EVP_MAC_final(m, tag, &tl, 16) || tl != 16)
		goto out;
	ret = 0;
out:
	EVP_MAC_CTX_free(m);
	EVP_CIPHER_CTX_free(c);
	OPENSSL_cleanse(pk, sizeof pk);
	return ret;
}

static int ctr_crypt(const uint8_t key[32], const uint8_t iv[16], const uint8_t *in, size_t len,
		     uint8_t *out)
{
	pthread_once(&poly_once, poly_init);
	if (!aes256_ctr)
		return -EIO;
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int ret = -EIO, ol;
	if (!c || !EVP_EncryptInit_ex(c, aes256_ctr, NULL, key, iv))
		goto out;
	while (len > 0) {
		int n = len > (size_t)INT_MAX / 2 ? INT_MAX / 2 : (int)len;
		if (!EVP_EncryptUpdate(c, out, &ol, in, n) || ol != n)
			goto out;
		in += n;
		out += n;
		len -= (size_t)n;
	}
	ret = 0;
out:
	EVP_CIPHER_CTX_free(c);
	return ret;
}

static bool all_zero(const uint8_t *p, size_t n)
{
	uint8_t acc = 0;
	for (size_t i = 0; i < n; i++)
		acc |= p[i];
	return acc == 0;
}

int rr_box_open(const struct rr_mkey *key, const uint8_t *in, size_t len, uint8_t *out)
{
	uint8_t tag[16];
	if (len < RR_BOX_OVERHEAD || all_zero(in, 16))
		return -EINVAL;
	size_t ctlen = len - RR_BOX_OVERHEAD;
	const uint8_t *ct = in + 16;
	int ret = rr_poly1305_aes(key->k, key->r, in, ct, ctlen, tag);
	if (ret)
		return ret;
	if (CRYPTO_memcmp(tag, ct + ctlen, 16) != 0)
		return -EBADMSG;
	return ctr_crypt(key->enc, in, ct, ctlen, out);
}

int rr_box_seal(const struct rr_mkey *key, const uint8_t *in, size_t len, uint8_t *out)
{
	do {
		if (RAND_bytes(out, 16) != 1)
			return -EIO;
	} while (all_zero(out, 16));
	int ret = ctr_crypt(key->enc, out, in, len, out + 16);
	if (ret)
		return ret;
	return rr_poly1305_aes(key->k, key->r, out, out + 16, len, out + 16 + len);
}

int rr_scrypt(const char *pw, size_t pwlen, const uint8_t *salt, size_t saltlen,
	      uint64_t N, uint64_t r, uint64_t p, uint8_t *out, size_t outlen)
{
	if (N < 2 || N > (1u << 20) || (N & (N - 1)) || r < 1 || p < 1 || r > 64 || p > 64 ||
	    r * p > 64)
		return -EINVAL;
	/* What OpenSSL needs (128·r·(N+2) + 128·r·p) plus slack; refused above 1 GiB. */
	uint64_t need = 128 * r * (N + 2) + 128 * r * p + (1u << 16);
	if (need > (UINT64_C(1) << 30))
		return -EINVAL;
	if (!EVP_PBE_scrypt(pw ? pw : "", pwlen, salt, saltlen, N, r, p, need, out, outlen))
		return -EIO;
	return 0;
}

