/* crypto.c — the primitives: HKDF-SHA256, HMAC-SHA256, SHA-256, constant-time
 * compare and wiping.  Thin wrappers over OpenSSL 3's EVP interfaces that turn
 * its 1/0 results into 0 / negative errno and keep its types out of headers.
 *
 * A failure inside OpenSSL that is not about the caller's input (a provider
 * that cannot be fetched, an allocation inside the library) is reported as
 * -EIO. */
#include "auth/crypto.h"

#include <errno.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

#include "core/util.h"

/* RFC 5869: L <= 255 * HashLen. */
#define HKDF_MAX_OUT (255 * CFS_SHA256_LEN)

void cfs_cleanse(void *p, size_t n)
{
	if (p && n)
		OPENSSL_cleanse(p, n);
}

bool cfs_ct_equal(const void *a, const void *b, size_t n)
{
	if (n == 0)
		return true;
	return CRYPTO_memcmp(a, b, n) == 0;
}

int cfs_hkdf_sha256(const uint8_t *salt, size_t salt_len, const uint8_t *ikm, size_t ikm_len,
		    const uint8_t *info, size_t info_len, uint8_t *out, size_t out_len)
{
	if (!out || out_len == 0 || out_len > HKDF_MAX_OUT)
		return -EINVAL;
	if ((!salt && salt_len) || (!ikm && ikm_len) || (!info && info_len))
		return -EINVAL;

	/* OpenSSL refuses a missing key but accepts an empty one; an empty salt
	 * is the RFC's "HashLen zeros" once HMAC pads the key, so it is simply
	 * left out.  The const casts are for OSSL_PARAM, which only reads. */
	static const uint8_t empty[1];
	OSSL_PARAM params[5], *p = params;
	*p++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0);
	*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY,
						 (void *)(ikm_len ? ikm : empty), ikm_len);
	if (salt_len)
		*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt, salt_len);
	if (info_len)
		*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)info, info_len);
	*p = OSSL_PARAM_construct_end();

	int ret = -EIO;
	EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
	EVP_KDF_CTX *ctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
	if (ctx && EVP_KDF_derive(ctx, out, out_len, params) == 1)
		ret = 0;
	EVP_KDF_CTX_free(ctx);
	EVP_KDF_free(kdf);
	if (ret)
		cfs_cleanse(out, out_len);
	return ret;
}

int cfs_hmac_sha256(const uint8_t *key, size_t key_len, const void *msg, size_t msg_len,
		    uint8_t out[CFS_SHA256_LEN])
{
	if (!out || (!key && key_len) || (!msg && msg_len))
		return -EINVAL;

	static const uint8_t empty[1];
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
		OSSL_PARAM_construct_end(),
	};
	int ret = -EIO;
	size_t out_len = 0;
	EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	EVP_MAC_CTX *ctx = mac ? EVP_MAC_CTX_new(mac) : NULL;
	/* A NULL key would mean "keep the previous key"; pass an empty one. */
	if (!ctx || EVP_MAC_init(ctx, key_len ? key : empty, key_len, params) != 1)
		goto out;
	if (msg_len && EVP_MAC_update(ctx, msg, msg_len) != 1)
		goto out;
	if (EVP_MAC_final(ctx, out, &out_len, CFS_SHA256_LEN) != 1 || out_len != CFS_SHA256_LEN)
		goto out;
	ret = 0;
out:
	EVP_MAC_CTX_free(ctx);
	EVP_MAC_free(mac);
	if (ret)
		cfs_cleanse(out, CFS_SHA256_LEN);
	return ret;
}

/* Exactly 64 lower-case hex digits.  The signature is the sender's input, not
 * a secret, so checking its shape need not be constant-time. */
static bool sig_hex_wellformed(const char *s)
{
	if (!s)
		return false;
	for (size_t i = 0; i < 2 * CFS_SHA256_LEN; i++) {
		char c = s[i];
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return false;   /* also stops at a NUL before 64 digits */
	}
	return s[2 * CFS_SHA256_LEN] == '\0';
}

int cfs_hmac_sha256_verify_hex(const uint8_t *key, size_t key_len, const void *msg, size_t msg_len,
			       const char *sig_hex)
{
	if (!sig_hex_wellformed(sig_hex))
		return -EACCES;
	uint8_t mac[CFS_SHA256_LEN];
	char mac_hex[CFS_SHA256_HEX];
	int ret = cfs_hmac_sha256(key, key_len, msg, msg_len, mac);
	if (ret == 0) {
		cfs_hex(mac, sizeof mac, mac_hex);
		ret = cfs_ct_equal(mac_hex, sig_hex, 2 * CFS_SHA256_LEN) ? 0 : -EACCES;
	}
	cfs_cleanse(mac, sizeof mac);
	cfs_cleanse(mac_hex, sizeof mac_hex);
	return ret;
}

int cfs_sha256(const void *data, size_t len, uint8_t out[CFS_SHA256_LEN])
{
	if (!out || (!data && len))
		return -EINVAL;
	unsigned int n = 0;
	if (EVP_Digest(len ? data : "", len, out, &n, EVP_sha256(), NULL) != 1 ||
	    n != CFS_SHA256_LEN)
		return -EIO;
	return 0;
}

int cfs_sha256_hex(const void *data, size_t len, char out[CFS_SHA256_HEX])
{
	if (!out)
		return -EINVAL;
	if (!data)
		len = 0;
	uint8_t md[CFS_SHA256_LEN];
	int ret = cfs_sha256(data, len, md);
	if (ret) {
		out[0] = '\0';
		return ret;
	}
	cfs_hex(md, sizeof md, out);
	return 0;
}
