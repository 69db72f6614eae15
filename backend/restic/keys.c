/* keys.c — key files (plain JSON: scrypt parameters, salt, and the sealed
 * master key) and the master key JSON inside them. */
#include "restic/rr_int.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

/* A JSON number that is a whole value in [lo, hi]. */
static int json_uint(const cJSON *o, const char *key, uint64_t lo, uint64_t hi, uint64_t *out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	if (!cJSON_IsNumber(v))
		return -EINVAL;
	double d = v->valuedouble;
	if (!(d >= (double)lo && d <= (double)hi) || floor(d) != d)
		return -EINVAL;
	*out = (uint64_t)d;
	return 0;
}

static int json_b64(const cJSON *o, const char *key, uint8_t **out, size_t *len)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	if (!cJSON_IsString(v) || !v->valuestring)
		return -EINVAL;
	return cfs_b64_decode(v->valuestring, out, len);
}

int rr_keyfile_parse(const char *json, size_t len, struct rr_keyfile *kf)
{
	uint8_t *salt = NULL;
	size_t saltlen = 0;
	int ret = -EINVAL;
	memset(kf, 0, sizeof *kf);
	cJSON *o = cJSON_ParseWithLength(json, len);
	if (!cJSON_IsObject(o))
		goto out;
	const cJSON *kdf = cJSON_GetObjectItemCaseSensitive(o, "kdf");
	if (!cJSON_IsString(kdf) || strcmp(kdf->valuestring, "scrypt") != 0)
		goto out;
	if (json_uint(o, "N", 2, UINT64_C(1) << 40, &kf->N) ||
	    json_uint(o, "r", 1, 1u << 30, &kf->r) || json_uint(o, "p", 1, 1u << 30, &kf->p))
		goto out;
	if (json_b64(o, "salt", &salt, &saltlen) || saltlen != sizeof kf->salt)
		goto out;
	memcpy(kf->salt, salt, sizeof kf->salt);
	if (json_b64(o, "data", &kf->data, &kf->data_len))
		goto out;
	if (kf->data_len < RR_BOX_OVERHEAD) {
		rr_keyfile_free(kf);
		goto out;
	}
	ret = 0;
out:
	free(salt);
	cJSON_Delete(o);
	return ret;
}

void rr_keyfile_free(struct rr_keyfile *kf)
{
	free(kf->data);
	kf->data = NULL;
	kf->data_len = 0;
}

static bool all_zero(const uint8_t *p, size_t n)
{
	uint8_t acc = 0;
	for (size_t i = 0; i < n; i++)
		acc |= p[i];
	return acc == 0;
}

/* Decodes key's base64 into exactly n bytes of out. */
static int b64_exact(const cJSON *o, const char *key, uint8_t *out, size_t n)
{
	uint8_t *b = NULL;
	size_t len = 0;
	int ret = json_b64(o, key, &b, &len);
	if (!ret && len != n)
		ret = -EINVAL;
	if (!ret)
		memcpy(out, b, n);
	if (b) {
		OPENSSL_cleanse(b, len);
		free(b);
	}
	return ret;
}

int rr_masterkey_parse(const char *json, size_t len, struct rr_mkey *mk)
{
	int ret = -EINVAL;
	cJSON *o = cJSON_ParseWithLength(json, len);
	if (!cJSON_IsObject(o))
		goto out;
	const cJSON *mac = cJSON_GetObjectItemCaseSensitive(o, "mac");
	if (!cJSON_IsObject(mac) || b64_exact(mac, "k", mk->k, 16) ||
	    b64_exact(mac, "r", mk->r, 16) || b64_exact(o, "encrypt", mk->enc, 32))
		goto out;
	if (all_zero(mk->k, 16) || all_zero(mk->r, 16) || all_zero(mk->enc, 32))
		goto out;
	ret = 0;
out:
	if (ret)
		OPENSSL_cleanse(mk, sizeof *mk);
	/* the parsed tree held the key in base64: wipe its strings before freeing */
	if (o) {
		const cJSON *m = cJSON_GetObjectItemCaseSensitive(o, "mac");
		const char *keys[] = { "k", "r" };
		for (int i = 0; i < 2 && cJSON_IsObject(m); i++) {
			cJSON *v = cJSON_GetObjectItemCaseSensitive(m, keys[i]);
			if (cJSON_IsString(v))
				OPENSSL_cleanse(v->valuestring, strlen(v->valuestring));
		}
		cJSON *e = cJSON_GetObjectItemCaseSensitive(o, "encrypt");
		if (cJSON_IsString(e))
			OPENSSL_cleanse(e->valuestring, strlen(e->valuestring));
	}
	cJSON_Delete(o);
	return ret;
}

int rr_key_open(const struct rr_keyfile *kf, const char *password, struct rr_mkey *mk)
{
	uint8_t dk[64];
	struct rr_mkey user;
	int ret = rr_scrypt(password, strlen(password), kf->salt, sizeof kf->salt, kf->N, kf->r,
			    kf->p, dk, sizeof dk);
	if (ret)
		return ret;
	memcpy(user.enc, dk, 32);
	memcpy(user.k, dk + 32, 16);
	memcpy(user.r, dk + 48, 16);
	OPENSSL_cleanse(dk, sizeof dk);
	size_t n = kf->data_len - RR_BOX_OVERHEAD;
	uint8_t *pt = malloc(n + 1);
	if (!pt) {
		ret = -ENOMEM;
		goto out;
	}
	ret = rr_box_open(&user, kf->data, kf->data_len, pt);
	if (ret == -EBADMSG)
		ret = -EACCES;      /* the MAC fails: another password's key */
	if (!ret)
		ret = rr_masterkey_parse((const char *)pt, n, mk);
	OPENSSL_cleanse(pt, n);
	free(pt);
out:
	OPENSSL_cleanse(&user, sizeof user);
	return ret;
}
