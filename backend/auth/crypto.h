/* crypto.h — the cryptography every part shares (OpenSSL 3 and xxHash behind it).
 *
 *  - HKDF-SHA256 (RFC 5869), HMAC-SHA256 (RFC 4231), constant-time compare.
 *  - Sealing secrets at rest: AES-256-GCM under a key derived by HKDF-SHA256
 *    from a 32-byte master key, bound to a purpose string.
 *  - The signed wire protocol's canonical string and host normalisation
 *    (DESIGN.md section 5).
 *  - XXH3-128 content hashes, printed as the hex of the canonical big-endian form.
 *
 * All functions return 0 or a negative errno.  Returned heap memory is the
 * caller's to free() unless said otherwise.  No OpenSSL type leaks out. */
#ifndef CFS_CRYPTO_H
#define CFS_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

#define CFS_KEY_LEN 32        /* master keys, shared secrets, HMAC keys */
#define CFS_SHA256_LEN 32
#define CFS_SHA256_HEX 65     /* 64 hex + NUL */
#define CFS_XXH128_HEX 33     /* 32 hex + NUL */

/* RFC 5869: extract with salt (NULL/0 means a zero salt), expand with info. */
int cfs_hkdf_sha256(const uint8_t *salt, size_t salt_len, const uint8_t *ikm, size_t ikm_len,
		    const uint8_t *info, size_t info_len, uint8_t *out, size_t out_len);

int cfs_hmac_sha256(const uint8_t *key, size_t key_len, const void *msg, size_t msg_len,
		    uint8_t out[CFS_SHA256_LEN]);
/* Computes the HMAC of msg and compares it, in constant time, with the 64
 * lower-case hex digits in sig_hex.  0 when equal, -EACCES when not (or when
 * sig_hex is not 64 lower-case hex digits). */
int cfs_hmac_sha256_verify_hex(const uint8_t *key, size_t key_len, const void *msg, size_t msg_len,
			       const char *sig_hex);
/* Constant-time equality of n bytes. */
bool cfs_ct_equal(const void *a, const void *b, size_t n);

int cfs_sha256(const void *data, size_t len, uint8_t out[CFS_SHA256_LEN]);
/* Lower-case hex of SHA-256; of the empty string when data is NULL/len 0. */
int cfs_sha256_hex(const void *data, size_t len, char out[CFS_SHA256_HEX]);

/* Seal pt under HKDF-SHA256(ikm = master, salt = none, info = "cloudfs seal v1 " + purpose).
 * Output: 0x01 || nonce(12) || ciphertext || tag(16), the purpose also being
 * the GCM additional data.  *out is malloc'ed. */
int cfs_seal(const uint8_t master[CFS_KEY_LEN], const char *purpose, const void *pt, size_t pt_len,
	     uint8_t **out, size_t *out_len);
/* Reverse of cfs_seal.  -EBADMSG for a wrong key, purpose, or any tampering;
 * -EINVAL for input too short or of an unknown version. */
int cfs_open(const uint8_t master[CFS_KEY_LEN], const char *purpose, const uint8_t *in, size_t in_len,
	     uint8_t **out, size_t *out_len);

/* DESIGN.md section 5 host normalisation: trims blanks, lower-cases, drops a
 * ":80" or ":443" port (also on "[v6]:443").  -EINVAL when empty or it holds
 * a character that is not allowed in a host (blank inside, control, '/', '@'),
 * -ENAMETOOLONG when it does not fit out_len. */
int cfs_host_normalize(const char *host, char *out, size_t out_len);

/* The canonical string: timestamp \n nonce \n METHOD \n target \n host \n
 * body_sha256_hex, no trailing newline.  method is upper-cased; host is
 * normalised with cfs_host_normalize.  Appends to out. */
int cfs_canonical_string(const char *timestamp, const char *nonce, const char *method,
			 const char *target, const char *host, const char *body_sha256_hex,
			 struct cfs_buf *out);

/* XXH3-128 of a buffer, as 32 lower-case hex digits of the canonical
 * (big-endian) form. */
void cfs_xxh128_hex(const void *data, size_t len, char out[CFS_XXH128_HEX]);
/* Streaming XXH3-128. */
struct cfs_xxh128;
struct cfs_xxh128 *cfs_xxh128_new(void);
int cfs_xxh128_update(struct cfs_xxh128 *h, const void *data, size_t len);
void cfs_xxh128_final_hex(struct cfs_xxh128 *h, char out[CFS_XXH128_HEX]);
void cfs_xxh128_free(struct cfs_xxh128 *h);
/* Hash a whole open file from offset 0 (pread, never changes the offset). */
int cfs_xxh128_fd(int fd, char out[CFS_XXH128_HEX]);

/* Best-effort wipe that the compiler may not drop. */
void cfs_cleanse(void *p, size_t n);

#endif
