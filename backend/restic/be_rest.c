/* be_rest.c — a repository behind restic's REST protocol (rest-server, or
 * rclone serve restic).  Basic auth is sent up front (the server answers 401
 * without a challenge); listings ask for the v2 format and are parsed by the
 * response's Content-Type; pack reads are Range requests.  401/403/404 are
 * final, 5xx and network errors are retried with backoff.  Easy handles are
 * pooled so connections are reused across threads. */
#include "restic/rr_int.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"

#define REST_V2 "application/vnd.x.restic.rest.v2"
#define REST_POOL 8
#define REST_TRIES 4

struct be_rest {
	struct rr_be be;
	char *base;              /* ends in '/', no credentials */
	char *user, *pass;
	pthread_mutex_t lock;
	CURL *pool[REST_POOL];
	int npool;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

static int pct_decode(const char *s, size_t n, char **out)
{
	char *o = malloc(n + 1);
	size_t k = 0;
	if (!o)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '%' && i + 2 < n && isxdigit((unsigned char)s[i + 1]) &&
		    isxdigit((unsigned char)s[i + 2])) {
			char h[3] = { s[i + 1], s[i + 2], 0 };
			o[k++] = (char)strtoul(h, NULL, 16);
			i += 2;
		} else {
			o[k++] = s[i];
		}
	}
	o[k] = '\0';
	*out = o;
	return 0;
}

int rr_rest_url_split(const char *url, char **base, char **user, char **pass)
{
	*base = *user = *pass = NULL;
	if (strncmp(url, "rest:", 5) == 0)
		url += 5;
	const char *scheme_end = strstr(url, "://");
	if (!scheme_end || (strncmp(url, "http://", 7) && strncmp(url, "https://", 8)))
		return -EINVAL;
	const char *host = scheme_end + 3;
	const char *slash = strchr(host, '/');
	const char *at = NULL;
	for (const char *p = host; *p && p != slash; p++)
		if (*p == '@')
			at = p;   /* the last '@' before the path ends the userinfo */
	struct cfs_buf b = CFS_BUF_INIT;
	int ret = -ENOMEM;
	if (at) {
		const char *colon = memchr(host, ':', (size_t)(at - host));
		size_t ulen = colon ? (size_t)(colon - host) : (size_t)(at - host);
		if ((ret = pct_decode(host, ulen, user)))
			goto fail;
		if (colon && (ret = pct_decode(colon + 1, (size_t)(at - colon - 1), pass)))
			goto fail;
		ret = -ENOMEM;
	}
	if (cfs_buf_append(&b, url, (size_t)(host - url)) ||
	    cfs_buf_puts(&b, at ? at + 1 : host))
		goto fail;
	if (b.data[b.len - 1] != '/' && cfs_buf_puts(&b, "/"))
		goto fail;
	*base = cfs_buf_steal(&b);
	return 0;
fail:
	cfs_buf_free(&b);
	free(*user);
	free(*pass);
	*user = *pass = NULL;
	return ret;
}

static CURL *handle_get(struct be_rest *r)
{
	CURL *c = NULL;
	pthread_mutex_lock(&r->lock);
	if (r->npool > 0)
		c = r->pool[--r->npool];
	pthread_mutex_unlock(&r->lock);
	if (!c)
		c = curl_easy_init();
	return c;
}

static void handle_put(struct be_rest *r, CURL *c)
{
	pthread_mutex_lock(&r->lock);
	if (r->npool < REST_POOL) {
		r->pool[r->npool++] = c;
		c = NULL;
	}
	pthread_mutex_unlock(&r->lock);
	if (c)
		curl_easy_cleanup(c);
}

/* Where a response body goes: a growable buffer (listings, whole files), or
 * a fixed range of a caller's buffer (pack reads: a 206 starts at the range's
 * offset, a 200 from a server that ignored Range starts at 0 and is sliced). */
struct sink {
	CURL *c;
	struct cfs_buf *out;     /* NULL: range mode */
	uint64_t cap;            /* buffer mode: refuse bodies larger than this */
	uint8_t *dst;            /* range mode */
	uint64_t off, len, pos, got;
	bool started, overflow;
};

static size_t on_body(char *p, size_t sz, size_t n, void *arg)
{
	struct sink *s = arg;
	size_t len = sz * n;
	if (s->out) {
		if (s->out->len + len > s->cap) {
			s->overflow = true;
			return 0;
		}
		return cfs_buf_append(s->out, p, len) ? 0 : len;
	}
	if (!s->started) {
		long st = 0;
		curl_easy_getinfo(s->c, CURLINFO_RESPONSE_CODE, &st);
		s->pos = st == 206 ? s->off : 0;
		s->started = true;
	}
	/* copy the part of [pos, pos + len) that falls in [off, off + len) */
	uint64_t from = s->pos > s->off ? s->pos : s->off;
	uint64_t to = s->pos + len < s->off + s->len ? s->pos + len : s->off + s->len;
	if (to > from) {
		memcpy(s->dst + (from - s->off), p + (from - s->pos), (size_t)(to - from));
		s->got += to - from;
	}
	s->pos += len;
	return len;
}

/* One HTTP GET of base+path into the sink; status and content type out.
 * Retries 5xx and network errors.  range may be NULL. */
static int rest_request(struct be_rest *r, const char *path, const char *range, struct sink *sk,
			long *status, char *ctype, size_t ctlen)
{
	char url[4096];
	if (snprintf(url, sizeof url, "%s%s", r->base, path) >= (int)sizeof url)
		return -ENAMETOOLONG;
	CURL *c = handle_get(r);
	if (!c)
		return -ENOMEM;
	struct curl_slist *hdr = curl_slist_append(NULL, "Accept: " REST_V2);
	int ret = -EIO;
	for (int attempt = 0; attempt < REST_TRIES; attempt++) {
		if (attempt)
			usleep((useconds_t)(100000u << (attempt - 1)));   /* 0.1, 0.2, 0.4 s */
		sk->c = c;
		sk->started = sk->overflow = false;
		sk->pos = sk->got = 0;
		if (sk->out)
			sk->out->len = 0;
		curl_easy_reset(c);
		curl_easy_setopt(c, CURLOPT_URL, url);
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
		curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
		curl_easy_setopt(c, CURLOPT_WRITEDATA, sk);
		curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
		curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
		curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
		curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 60L);
		curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
		if (r->user) {
			curl_easy_setopt(c, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
			curl_easy_setopt(c, CURLOPT_USERNAME, r->user);
			curl_easy_setopt(c, CURLOPT_PASSWORD, r->pass ? r->pass : "");
		}
		if (range)
			curl_easy_setopt(c, CURLOPT_RANGE, range);
		CURLcode cc = curl_easy_perform(c);
		if (cc != CURLE_OK) {
			if (sk->overflow) {
				ret = -EIO;
				break;
			}
			log_warn("restic rest: GET %s: %s", path, curl_easy_strerror(cc));
			continue;
		}
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
		if (*status >= 500) {
			log_warn("restic rest: GET %s: HTTP %ld", path, *status);
			continue;
		}
		if (ctype) {
			char *ct = NULL;
			curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct);
			snprintf(ctype, ctlen, "%s", ct ? ct : "");
		}
		ret = 0;
		break;
	}
	curl_slist_free_all(hdr);
	handle_put(r, c);
	if (!ret && sk->out && !sk->out->data)
		ret = cfs_buf_append(sk->out, "", 0);
	return ret;
}

static int status_errno(long st)
{
	if (st == 401 || st == 403)
		return -EACCES;
	if (st == 404)
		return -ENOENT;
	return -EIO;
}

static int rest_list(struct rr_be *be, const char *type, rr_list_fn fn, void *arg)
{
	struct be_rest *r = (struct be_rest *)be;
	struct cfs_buf b = CFS_BUF_INIT;
	char path[64], ct[128];
	long st = 0;
	snprintf(path, sizeof path, "%s/", type);
	struct sink sk = { .out = &b, .cap = 1u << 30 };
	int ret = rest_request(r, path, NULL, &sk, &st, ct, sizeof ct);
	if (ret)
		goto out;
	if (st == 404)
		goto out;  /* nothing of that type yet */
	if (st != 200) {
		ret = status_errno(st);
		goto out;
	}
	cJSON *a = cJSON_ParseWithLength(b.data, b.len);
	bool v2 = strncmp(ct, REST_V2, strlen(REST_V2)) == 0;
	ret = cJSON_IsArray(a) ? 0 : -EIO;
	const cJSON *e;
	cJSON_ArrayForEach(e, a) {
		if (ret)
			break;
		const cJSON *name = v2 ? cJSON_GetObjectItemCaseSensitive(e, "name") : e;
		const cJSON *size = v2 ? cJSON_GetObjectItemCaseSensitive(e, "size") : NULL;
		if (!cJSON_IsString(name) || strlen(name->valuestring) != 64)
			continue;
		double sz = cJSON_IsNumber(size) && size->valuedouble >= 0 ? size->valuedouble : 0;
		ret = fn(arg, name->valuestring, (uint64_t)sz);
	}
	cJSON_Delete(a);
out:
	cfs_buf_free(&b);
	return ret;
}

static int rest_get(struct rr_be *be, const char *type, const char *name, struct cfs_buf *out)
{
	struct be_rest *r = (struct be_rest *)be;
	char path[128];
	long st = 0;
	if (name)
		snprintf(path, sizeof path, "%s/%s", type, name);
	else
		snprintf(path, sizeof path, "%s", type);
	struct sink sk = { .out = out, .cap = 1u << 30 };
	int ret = rest_request(r, path, "0-", &sk, &st, NULL, 0);
	if (ret)
		return ret;
	return st == 200 || st == 206 ? 0 : status_errno(st);
}

static int rest_read(struct rr_be *be, const char *type, const char *name, uint64_t off,
		     uint64_t len, uint8_t *dst)
{
	struct be_rest *r = (struct be_rest *)be;
	char path[128], range[64];
	long st = 0;
	snprintf(path, sizeof path, "%s/%s", type, name);
	snprintf(range, sizeof range, "%" PRIu64 "-%" PRIu64, off, off + len - 1);
	struct sink sk = { .dst = dst, .off = off, .len = len };
	int ret = len ? rest_request(r, path, range, &sk, &st, NULL, 0) : 0;
	if (ret || !len)
		return ret;
	if (st == 200 || st == 206)
		return sk.got == len ? 0 : -EIO;   /* short: a truncated pack */
	return st == 416 ? -EIO : status_errno(st);
}

static void rest_close(struct rr_be *be)
{
	struct be_rest *r = (struct be_rest *)be;
	if (!r)
		return;
	for (int i = 0; i < r->npool; i++)
		curl_easy_cleanup(r->pool[i]);
	pthread_mutex_destroy(&r->lock);
	free(r->base);
	free(r->user);
	if (r->pass) {
		memset(r->pass, 0, strlen(r->pass));
		free(r->pass);
	}
	free(r);
}

static const struct rr_be_ops rest_ops = {
	.list = rest_list,
	.get = rest_get,
	.read = rest_read,
	.close = rest_close,
};

int rr_be_rest_open(const char *url, struct rr_be **out, struct cfs_err *err)
{
	pthread_once(&curl_once, curl_init_once);
	struct be_rest *r = calloc(1, sizeof *r);
	if (!r)
		return cfs_errf(err, -ENOMEM, "out of memory");
	int ret = rr_rest_url_split(url, &r->base, &r->user, &r->pass);
	if (ret) {
		free(r);
		return cfs_errf(err, ret == -EINVAL ? -EINVAL : ret,
				"bad repository URL: want rest:http(s)://[user:pass@]host:port/path/");
	}
	pthread_mutex_init(&r->lock, NULL);
	r->be.ops = &rest_ops;
	*out = &r->be;
	return 0;
}
