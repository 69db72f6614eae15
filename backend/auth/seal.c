/* seal.c — secrets at rest: AES-256-GCM under a key derived from the master
 * key and a purpose string.
 *
 * Layout of a sealed blob:   0x01 | nonce (12) | ciphertext | tag (16)
 * Key:  HKDF-SHA256(ikm = master, no salt, info = "cloudfs seal v1 " + purpose)
 * AAD:  the purpose, so a blob sealed for one purpose never opens as another
 *       even if the key derivation were ever shared.
 * The nonce is random for every seal; with one key per purpose and few seals
 * per key, random 96-bit nonces stay far from collision. */
#include "auth/crypto.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#define SEAL_VERSION 0x01
#define SEAL_NONCE 12
#define SEAL_TAG 16
#define SEAL_OVERHEAD (1 + SEAL_NONCE + SEAL_TAG)
#define SEAL_INFO "cloudfs seal v1 "
/* OpenSSL's HKDF caps its info at 1024 bytes; stay well inside. */
#define SEAL_PURPOSE_MAX 512
/* EVP_*Update take an int length: feed long inputs in slices. */
#define SEAL_SLICE (1 << 30)

static int seal_key(const uint8_t master[CFS_KEY_LEN], const char *purpose, uint8_t key[CFS_KEY_LEN])
{
	size_t plen = strlen(purpose);
	if (plen > SEAL_PURPOSE_MAX)
		return -EINVAL;
	uint8_t info[sizeof SEAL_INFO - 1 + SEAL_PURPOSE_MAX];
	memcpy(info, SEAL_INFO, sizeof SEAL_INFO - 1);
	memcpy(info + sizeof SEAL_INFO - 1, purpose, plen);
	return cfs_hkdf_sha256(NULL, 0, master, CFS_KEY_LEN, info, sizeof SEAL_INFO - 1 + plen,
			       key, CFS_KEY_LEN);
}

/* Runs in over EVP_CipherUpdate in slices; out receives as many bytes (GCM
 * is a stream mode). */
static int seal_update(EVP_CIPHER_CTX *ctx, uint8_t *out, const uint8_t *in, size_t len)
{
	while (len) {
		int n = len > SEAL_SLICE ? SEAL_SLICE : (int)len;
		int got = 0;
		if (EVP_CipherUpdate(ctx, out, &got, in, n) != 1 || got != n)
			return -EIO;
		in += n;
		out += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Sets up ctx for AES-256-GCM in one direction with key, nonce and the
 * purpose as additional data. */
static int seal_init(EVP_CIPHER_CTX *ctx, int enc, const uint8_t key[CFS_KEY_LEN],
		     const uint8_t nonce[SEAL_NONCE], const char *purpose)
{
	if (EVP_CipherInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL, enc) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, SEAL_NONCE, NULL) != 1 ||
	    EVP_CipherInit_ex(ctx, NULL, NULL, key, nonce, enc) != 1)
		return -EIO;
	size_t plen = strlen(purpose);
	int got = 0;
	if (plen && (EVP_CipherUpdate(ctx, NULL, &got, (const uint8_t *)purpose, (int)plen) != 1 ||
		     got != (int)plen))
		return -EIO;
	return 0;
}

int cfs_seal(const uint8_t master[CFS_KEY_LEN], const char *purpose, const void *pt, size_t pt_len,
	     uint8_t **out, size_t *out_len)
{
	if (!master || !purpose || (!pt && pt_len) || !out || !out_len)
		return -EINVAL;
	*out = NULL;
	*out_len = 0;
	if (pt_len > SIZE_MAX - SEAL_OVERHEAD)
		return -EOVERFLOW;

	uint8_t key[CFS_KEY_LEN];
	EVP_CIPHER_CTX *ctx = NULL;
	size_t total = pt_len + SEAL_OVERHEAD;
	uint8_t *blob = malloc(total);
	int ret = -ENOMEM;
	if (!blob)
		goto out;
	ret = seal_key(master, purpose, key);
	if (ret)
		goto out;

	uint8_t *nonce = blob + 1, *ct = nonce + SEAL_NONCE, *tag = ct + pt_len;
	blob[0] = SEAL_VERSION;
	ret = -EIO;
	if (RAND_bytes(nonce, SEAL_NONCE) != 1)
		goto out;
	ctx = EVP_CIPHER_CTX_new();
	if (!ctx)
		goto out;
	ret = seal_init(ctx, 1, key, nonce, purpose);
	if (!ret)
		ret = seal_update(ctx, ct, pt, pt_len);
	if (ret)
		goto out;
	int got = 0;
	if (EVP_EncryptFinal_ex(ctx, ct + pt_len, &got) != 1 || got != 0 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, SEAL_TAG, tag) != 1) {
		ret = -EIO;
		goto out;
	}
	*out = blob;
	*out_len = total;
	blob = NULL;
	ret = 0;
out:
	EVP_CIPHER_CTX_free(ctx);
	cfs_cleanse(key, sizeof key);
	if (blob) {
		cfs_cleanse(blob, total);
		free(blob);
	}
	return ret;
}

int cfs_open(const uint8_t master[CFS_KEY_LEN], const char *purpose, const uint8_t *in, size_t in_len,
	     uint8_t **out, size_t *out_len)
{
	if (!master || !purpose || !out || !out_len)
		return -EINVAL;
	*out = NULL;
	*out_len = 0;
	if (!in || in_len < SEAL_OVERHEAD || in[0] != SEAL_VERSION)
		return -EINVAL;

	const uint8_t *nonce = in + 1, *ct = nonce + SEAL_NONCE;
	size_t pt_len = in_len - SEAL_OVERHEAD;
	uint8_t tag[SEAL_TAG];
	memcpy(tag, ct + pt_len, SEAL_TAG);   /* the ctrl wants a writable pointer */

	uint8_t key[CFS_KEY_LEN];
	EVP_CIPHER_CTX *ctx = NULL;
	/* One spare byte keeps a NUL after the plaintext, handy for text secrets. */
	uint8_t *pt = malloc(pt_len + 1);
	int ret = -ENOMEM;
	if (!pt)
		goto out;
	ret = seal_key(master, purpose, key);
	if (ret)
		goto out;
	ret = -EIO;
	ctx = EVP_CIPHER_CTX_new();
	if (!ctx)
		goto out;
	ret = seal_init(ctx, 0, key, nonce, purpose);
	if (!ret)
		ret = seal_update(ctx, pt, ct, pt_len);
	if (ret)
		goto out;
	if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, SEAL_TAG, tag) != 1) {
		ret = -EIO;
		goto out;
	}
	int got = 0;
	/* The only failure left is the tag check: wrong key, purpose or bytes. */
	if (EVP_DecryptFinal_ex(ctx, pt + pt_len, &got) != 1 || got != 0) {
		ret = -EBADMSG;
		goto out;
	}
	pt[pt_len] = '\0';
	*out = pt;
	*out_len = pt_len;
	pt = NULL;
	ret = 0;
out:
	EVP_CIPHER_CTX_free(ctx);
	cfs_cleanse(key, sizeof key);
	if (pt) {
		cfs_cleanse(pt, pt_len + 1);
		free(pt);
	}
	return ret;
}
