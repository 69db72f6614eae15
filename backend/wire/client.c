/* client.c — the sending end of the signed protocol, on libcurl.
 *
 * What goes on the wire is exactly what was signed: the target is built by
 * the caller already percent-encoded and libcurl is told to leave it alone
 * (CURLOPT_PATH_AS_IS), and the Host header is set to the URL's authority,
 * the same string the signature covers.  Every attempt is signed afresh.
 *
 * Connections are kept alive in two places: single calls take an easy
 * handle from a small pool (each handle keeps its own connections, and the
 * pool hands back the one last used for the same peer), and wire_call_many
 * keeps one multi handle whose connection cache survives between sweeps.
 * libcurl's shared connection cache is not used: it is not safe across
 * threads in this libcurl.
 *
 * A response counts only when its X-Cloudfs-Signature verifies against the
 * request's nonce; the one exception is an unsigned refusal (status >= 400)
 * from a node that could not authenticate us, passed up with verified=false
 * and its body cut down to error and message. */
#include "wire/internal.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>

#include "auth/crypto.h"
#include "core/util.h"

#define CLIENT_DEFAULT_TIMEOUT_MS 10000
#define CLIENT_POOL_MAX 64
#define CLIENT_MAX_IDLE_S 60L   /* below the server's idle timeout */
#define CLIENT_TARGET_MAX 8192
#define CLIENT_AUTHORITY_MAX 255

struct pooled {
	CURL *e;
	char *key;
};

struct wire_client {
	pthread_mutex_t mu;
	struct pooled idle[CLIENT_POOL_MAX];   /* most recently returned last */
	size_t nidle;
	CURLM *multi;
	bool multi_busy;
	unsigned long connects;
};

/* One request in flight. */
struct call {
	CURL *e;
	const struct wire_peer *peer;
	char *url;
	struct curl_slist *hdrs;
	struct wire_sig_headers h;
	struct cfs_buf body;
	char sig[65];
	int nsig;               /* X-Cloudfs-Signature headers in the final response */
	bool sig_bad;
	bool overflow;
	bool head;
	char errbuf[CURL_ERROR_SIZE];
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_result;

static void curl_init(void)
{
	curl_init_result = curl_global_init(CURL_GLOBAL_DEFAULT);
}

struct wire_client *wire_client_new(void)
{
	pthread_once(&curl_once, curl_init);
	if (curl_init_result != CURLE_OK)
		return NULL;
	struct wire_client *c = calloc(1, sizeof *c);
	if (!c)
		return NULL;
	pthread_mutex_init(&c->mu, NULL);
	return c;
}

void wire_client_free(struct wire_client *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->nidle; i++) {
		curl_easy_cleanup(c->idle[i].e);
		free(c->idle[i].key);
	}
	if (c->multi)
		curl_multi_cleanup(c->multi);
	pthread_mutex_destroy(&c->mu);
	free(c);
}

unsigned long wire_client_connects(struct wire_client *c)
{
	pthread_mutex_lock(&c->mu);
	unsigned long n = c->connects;
	pthread_mutex_unlock(&c->mu);
	return n;
}

void wire_reply_free(struct wire_reply *r)
{
	if (!r)
		return;
	cfs_buf_free(&r->body);
	r->status = 0;
	r->verified = false;
}

/* ---------- the easy-handle pool ---------- */

/* Handles are reused per (URL, pin), so a connection made under one pin is
 * never handed to a caller that expects another. */
static int pool_key(const struct wire_peer *p, char *key, size_t len)
{
	int n = snprintf(key, len, "%s\n%s", p->base_url, p->pin ? p->pin : "");
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

static CURL *pool_take(struct wire_client *c, const char *key)
{
	CURL *e = NULL;
	pthread_mutex_lock(&c->mu);
	for (size_t i = c->nidle; i-- > 0;) {
		if (strcmp(c->idle[i].key, key) == 0) {
			e = c->idle[i].e;
			free(c->idle[i].key);
			memmove(&c->idle[i], &c->idle[i + 1], (c->nidle - i - 1) * sizeof c->idle[0]);
			c->nidle--;
			break;
		}
	}
	pthread_mutex_unlock(&c->mu);
	return e ? e : curl_easy_init();
}

static void pool_give(struct wire_client *c, CURL *e, const char *key)
{
	struct pooled old = { 0 };
	/* Drop every option: they point into the finished call.  Connections,
	 * DNS and TLS session caches stay. */
	curl_easy_reset(e);
	char *k = strdup(key);
	if (!k) {
		curl_easy_cleanup(e);
		return;
	}
	pthread_mutex_lock(&c->mu);
	if (c->nidle == CLIENT_POOL_MAX) {
		old = c->idle[0];
		memmove(&c->idle[0], &c->idle[1], (c->nidle - 1) * sizeof c->idle[0]);
		c->nidle--;
	}
	c->idle[c->nidle++] = (struct pooled){ .e = e, .key = k };
	pthread_mutex_unlock(&c->mu);
	if (old.e)
		curl_easy_cleanup(old.e);
	free(old.key);
}

/* ---------- building a request ---------- */

static bool method_ok(const char *m)
{
	size_t n = 0;
	for (; m[n]; n++)
		if (n >= 16 || m[n] < 'A' || m[n] > 'Z')
			return false;
	return n > 0;
}

static bool target_ok(const char *t)
{
	if (t[0] != '/')
		return false;
	size_t n = 0;
	for (; t[n]; n++) {
		unsigned char ch = (unsigned char)t[n];
		if (n >= CLIENT_TARGET_MAX || ch <= 0x20 || ch >= 0x7f || ch == '#')
			return false;
	}
	return true;
}

/* The URL for target and the authority of the peer's base URL (which is
 * both the Host header and the signed host). */
static int peer_url(const struct wire_peer *p, const char *target, char **url,
		    char authority[CLIENT_AUTHORITY_MAX + 1], struct cfs_err *err)
{
	const char *base = p->base_url;
	size_t slen;
	if (!base)
		return cfs_errf(err, -EINVAL, "peer without a URL");
	if (strncasecmp(base, "https://", 8) == 0)
		slen = 8;
	else if (strncasecmp(base, "http://", 7) == 0)
		slen = 7;
	else
		return cfs_errf(err, -EINVAL, "%s: the URL must start with http:// or https://", base);
	if (p->tls_require && slen != 8)
		return cfs_errf(err, -EINVAL, "%s: tls=require refuses a plain http:// URL", base);
	if (p->pin && slen != 8)
		return cfs_errf(err, -EINVAL, "%s: a pinned key needs an https:// URL", base);

	const char *auth = base + slen;
	size_t alen = strcspn(auth, "/?#");
	const char *rest = auth + alen;
	char norm[CLIENT_AUTHORITY_MAX + 1];
	if (alen == 0 || alen > CLIENT_AUTHORITY_MAX || memchr(auth, '@', alen))
		return cfs_errf(err, -EINVAL, "%s: bad host in the URL", base);
	if (rest[0] && strcmp(rest, "/") != 0)
		return cfs_errf(err, -EINVAL, "%s: the URL must not carry a path or query", base);
	memcpy(authority, auth, alen);
	authority[alen] = '\0';
	if (cfs_host_normalize(authority, norm, sizeof norm))
		return cfs_errf(err, -EINVAL, "%s: bad host in the URL", base);
	if (!target || !target_ok(target))
		return cfs_errf(err, -EINVAL, "request target must be '/' and visible ASCII, encoded");

	size_t len = slen + alen + strlen(target) + 1;
	*url = malloc(len);
	if (!*url)
		return cfs_errf(err, -ENOMEM, "out of memory");
	snprintf(*url, len, "%.*s%s", (int)(slen + alen), base, target);
	return 0;
}

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
	struct call *k = arg;
	size_t len = size * n;
	if (k->body.len + len > WIRE_MAX_BODY) {
		k->overflow = true;
		return 0;
	}
	return cfs_buf_append(&k->body, data, len) ? 0 : len;
}

static size_t on_header(char *data, size_t size, size_t n, void *arg)
{
	static const char name[] = "X-Cloudfs-Signature:";
	struct call *k = arg;
	size_t len = size * n;
	if (len >= 5 && memcmp(data, "HTTP/", 5) == 0) {
		/* A new response starts (after a 100 Continue, say). */
		k->nsig = 0;
		k->sig_bad = false;
		return len;
	}
	if (len < sizeof name - 1 || strncasecmp(data, name, sizeof name - 1) != 0)
		return len;
	const char *v = data + sizeof name - 1;
	size_t vlen = len - (sizeof name - 1);
	while (vlen && (*v == ' ' || *v == '\t'))
		v++, vlen--;
	while (vlen && strchr(" \t\r\n", v[vlen - 1]))
		vlen--;
	if (++k->nsig > 1 || vlen != 64) {
		k->sig_bad = true;
		return len;
	}
	memcpy(k->sig, v, 64);
	k->sig[64] = '\0';
	return len;
}

static int add_header(struct curl_slist **l, const char *name, const char *value)
{
	char line[512];
	snprintf(line, sizeof line, "%s: %s", name, value);
	struct curl_slist *n = curl_slist_append(*l, line);
	if (!n)
		return -ENOMEM;
	*l = n;
	return 0;
}

static void call_clear(struct call *k)
{
	curl_slist_free_all(k->hdrs);
	free(k->url);
	cfs_buf_free(&k->body);
	k->hdrs = NULL;
	k->url = NULL;
	k->nsig = 0;
	k->sig_bad = k->overflow = false;
	k->errbuf[0] = '\0';
}

/* Sign and set up k->e for one attempt. */
static int call_prepare(struct call *k, const struct wire_peer *p, const char *method,
			const char *target, const void *body, size_t body_len, long timeout_ms,
			struct cfs_err *err)
{
	char authority[CLIENT_AUTHORITY_MAX + 1];
	int ret;
	call_clear(k);
	k->peer = p;
	if (!method || !method_ok(method))
		return cfs_errf(err, -EINVAL, "bad request method");
	if (body_len > WIRE_MAX_BODY)
		return cfs_errf(err, -EFBIG, "request body of %zu bytes is over the limit", body_len);
	if (!body && body_len)
		return cfs_errf(err, -EINVAL, "body length without a body");
	k->head = strcmp(method, "HEAD") == 0;
	if (k->head && body_len)
		return cfs_errf(err, -EINVAL, "HEAD with a body");
	ret = peer_url(p, target, &k->url, authority, err);
	if (ret)
		return ret;
	ret = wire_sign_request(p->secret, p->self_env ? p->self_env : "", method, target,
				authority, body, body_len, &k->h);
	if (ret)
		return cfs_errf(err, ret, "cannot sign the request (env id %s)",
				p->self_env ? p->self_env : "(none)");

	if (add_header(&k->hdrs, "Host", authority) ||
	    add_header(&k->hdrs, "X-Cloudfs-Env", k->h.env) ||
	    add_header(&k->hdrs, "X-Cloudfs-Timestamp", k->h.timestamp) ||
	    add_header(&k->hdrs, "X-Cloudfs-Nonce", k->h.nonce) ||
	    add_header(&k->hdrs, "X-Cloudfs-Signature", k->h.signature) ||
	    /* No 100-continue round trip, and no form content type. */
	    !(k->hdrs = curl_slist_append(k->hdrs, "Expect:")) ||
	    !(k->hdrs = curl_slist_append(k->hdrs, "Content-Type:")))
		return cfs_errf(err, -ENOMEM, "out of memory");

	CURL *e = k->e;
	curl_easy_setopt(e, CURLOPT_URL, k->url);
	curl_easy_setopt(e, CURLOPT_PATH_AS_IS, 1L);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_PROXY, "");
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, k->hdrs);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout_ms);
	if (p->connect_timeout_ms > 0)
		curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)p->connect_timeout_ms);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, k);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, k);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, k->errbuf);
	curl_easy_setopt(e, CURLOPT_PRIVATE, k);
	curl_easy_setopt(e, CURLOPT_MAXCONNECTS, 2L);
	curl_easy_setopt(e, CURLOPT_MAXAGE_CONN, CLIENT_MAX_IDLE_S);
	if (p->pin) {
		/* The pin is the trust anchor (agents use self-signed
		 * certificates); libcurl checks it whatever VERIFYPEER says. */
		curl_easy_setopt(e, CURLOPT_PINNEDPUBLICKEY, p->pin);
		curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	if (strcmp(method, "GET") == 0 && !body_len) {
		curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
	} else if (k->head) {
		curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
	} else {
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, body_len ? body : "");
		if (strcmp(method, "POST") != 0)
			curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
	}
	return 0;
}

/* ---------- reading the answer ---------- */

static int curl_errno(CURLcode res, const struct call *k)
{
	switch (res) {
	case CURLE_OPERATION_TIMEDOUT:
		return -ETIMEDOUT;
	case CURLE_COULDNT_CONNECT:
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
		return -EHOSTUNREACH;
	case CURLE_WRITE_ERROR:
		return k->overflow ? -EPROTO : -ENOMEM;
	case CURLE_OUT_OF_MEMORY:
		return -ENOMEM;
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_USE_SSL_FAILED:
		return -EPROTO;
	case CURLE_URL_MALFORMAT:
	case CURLE_UNSUPPORTED_PROTOCOL:
		return -EINVAL;
	default:
		return -EIO;
	}
}

/* An unsigned refusal: keep what it says, as text, and nothing else. */
static void unsigned_body(struct call *k, long status, struct cfs_buf *out)
{
	char code[32], msg[200];
	cJSON *in = cJSON_ParseWithLength(k->body.data ? k->body.data : "", k->body.len);
	const cJSON *e = cJSON_GetObjectItemCaseSensitive(in, "error");
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(in, "message");
	snprintf(code, sizeof code, "%s", cJSON_IsString(e) ? e->valuestring : "unverified");
	if (cJSON_IsString(m))
		snprintf(msg, sizeof msg, "%s", m->valuestring);
	else
		snprintf(msg, sizeof msg, "HTTP %ld without a response signature", status);
	cJSON_Delete(in);

	cJSON *o = cJSON_CreateObject();
	if (o && cJSON_AddStringToObject(o, "error", code) &&
	    cJSON_AddStringToObject(o, "message", msg)) {
		char *s = cJSON_PrintUnformatted(o);
		if (s)
			cfs_buf_puts(out, s);
		free(s);
	}
	cJSON_Delete(o);
}

static int call_finish(struct wire_client *c, struct call *k, CURLcode res, struct wire_reply *r,
		       struct cfs_err *err)
{
	const struct wire_peer *p = k->peer;
	long status = 0, nconn = 0;
	double secs = 0;
	curl_easy_getinfo(k->e, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_getinfo(k->e, CURLINFO_NUM_CONNECTS, &nconn);
	curl_easy_getinfo(k->e, CURLINFO_TOTAL_TIME, &secs);
	pthread_mutex_lock(&c->mu);
	c->connects += (unsigned long)nconn;
	pthread_mutex_unlock(&c->mu);

	cfs_buf_free(&r->body);
	*r = (struct wire_reply){ .seconds = secs };
	if (res != CURLE_OK) {
		int code = curl_errno(res, k);
		if (k->overflow)
			return cfs_errf(err, code, "%s: response over %u bytes", p->base_url,
					WIRE_MAX_BODY);
		return cfs_errf(err, code, "%s: %s", p->base_url,
				k->errbuf[0] ? k->errbuf : curl_easy_strerror(res));
	}
	if (k->sig_bad)
		return cfs_errf(err, -EPROTO, "%s: malformed or repeated response signature",
				p->base_url);
	if (k->nsig == 1) {
		if (wire_verify_response(p->secret, k->h.nonce, (int)status, k->body.data,
					 k->body.len, k->sig))
			return cfs_errf(err, -EPROTO, "%s: response signature does not verify (HTTP %ld)",
					p->base_url, status);
		r->status = (int)status;
		r->body = k->body;
		k->body = (struct cfs_buf)CFS_BUF_INIT;
		r->verified = true;
		return 0;
	}
	if (status >= 400) {
		r->status = (int)status;
		unsigned_body(k, status, &r->body);
		return 0;
	}
	return cfs_errf(err, -EPROTO, "%s: unsigned response (HTTP %ld)", p->base_url, status);
}

static long peer_timeout(const struct wire_peer *p)
{
	return p->timeout_ms > 0 ? p->timeout_ms : CLIENT_DEFAULT_TIMEOUT_MS;
}

/* A failure that a dead keep-alive connection explains. */
static bool stale_connection(CURLcode res, CURL *e)
{
	long nconn = 1;
	if (res != CURLE_SEND_ERROR && res != CURLE_RECV_ERROR && res != CURLE_GOT_NOTHING)
		return false;
	curl_easy_getinfo(e, CURLINFO_NUM_CONNECTS, &nconn);
	return nconn == 0;
}

int wire_call(struct wire_client *c, const struct wire_peer *p, const char *method,
	      const char *target, const void *body, size_t body_len, struct wire_reply *r,
	      struct cfs_err *err)
{
	if (r)
		*r = (struct wire_reply){ 0 };
	if (!c || !p || !r)
		return cfs_errf(err, -EINVAL, "wire_call: missing argument");
	if (!p->base_url)
		return cfs_errf(err, -EINVAL, "peer without a URL");

	struct call k = { 0 };
	char key[1024];
	if (pool_key(p, key, sizeof key))
		return cfs_errf(err, -EINVAL, "peer URL too long");
	int64_t deadline = cfs_mono_ms() + peer_timeout(p);
	bool idempotent = method && (strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0);
	int ret;
	k.e = pool_take(c, key);
	if (!k.e)
		return cfs_errf(err, -ENOMEM, "out of memory");
	for (int attempt = 0;; attempt++) {
		long left = (long)(deadline - cfs_mono_ms());
		ret = call_prepare(&k, p, method, target, body, body_len, left > 0 ? left : 1, err);
		if (ret)
			break;
		CURLcode res = curl_easy_perform(k.e);
		if (attempt == 0 && idempotent && stale_connection(res, k.e) &&
		    deadline - cfs_mono_ms() > 0)
			continue;
		ret = call_finish(c, &k, res, r, err);
		break;
	}
	call_clear(&k);
	cfs_cleanse(&k.h, sizeof k.h);
	pool_give(c, k.e, key);
	return ret;
}

/* ---------- many at once ---------- */

static CURLM *multi_take(struct wire_client *c, bool *owned)
{
	CURLM *m = NULL;
	pthread_mutex_lock(&c->mu);
	if (!c->multi_busy) {
		if (!c->multi)
			c->multi = curl_multi_init();
		if (c->multi) {
			c->multi_busy = true;
			m = c->multi;
		}
	}
	pthread_mutex_unlock(&c->mu);
	*owned = m != NULL;
	/* Another sweep runs: this one gets a multi handle of its own. */
	return m ? m : curl_multi_init();
}

static void multi_give(struct wire_client *c, CURLM *m, bool owned)
{
	if (!owned) {
		curl_multi_cleanup(m);
		return;
	}
	pthread_mutex_lock(&c->mu);
	c->multi_busy = false;
	pthread_mutex_unlock(&c->mu);
}

int wire_call_many(struct wire_client *c, const struct wire_peer *peers, size_t n,
		   const char *method, const char *target, struct wire_reply *replies, int *errs)
{
	for (size_t i = 0; replies && errs && i < n; i++) {
		replies[i] = (struct wire_reply){ 0 };
		errs[i] = c && peers ? -EIO : -EINVAL;
	}
	if (!c || (n && (!peers || !replies || !errs)))
		return -EINVAL;
	if (n == 0)
		return 0;

	bool owned;
	CURLM *m = multi_take(c, &owned);
	struct call *calls = calloc(n, sizeof *calls);
	if (!m || !calls) {
		free(calls);
		if (m)
			multi_give(c, m, owned);
		for (size_t i = 0; i < n; i++)
			errs[i] = -ENOMEM;
		return -ENOMEM;
	}
	curl_multi_setopt(m, CURLMOPT_MAXCONNECTS, (long)(n < 64 ? 64 : n + n / 4));

	for (size_t i = 0; i < n; i++) {
		struct call *k = &calls[i];
		k->peer = &peers[i];
		k->e = curl_easy_init();
		if (!k->e) {
			errs[i] = -ENOMEM;
			continue;
		}
		errs[i] = call_prepare(k, &peers[i], method, target, NULL, 0, peer_timeout(&peers[i]),
				       NULL);
		if (!errs[i] && curl_multi_add_handle(m, k->e) != CURLM_OK)
			errs[i] = -ENOMEM;
		if (errs[i]) {
			curl_easy_cleanup(k->e);
			k->e = NULL;
		} else {
			errs[i] = -EIO;   /* until the transfer is done */
		}
	}

	int running = 0;
	CURLMcode mc;
	do {
		mc = curl_multi_perform(m, &running);
		if (mc == CURLM_OK && running)
			mc = curl_multi_poll(m, NULL, 0, 1000, NULL);
	} while (mc == CURLM_OK && running);

	CURLMsg *msg;
	int left;
	while ((msg = curl_multi_info_read(m, &left))) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		struct call *k = NULL;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&k);
		if (k)
			errs[k - calls] = call_finish(c, k, msg->data.result, &replies[k - calls], NULL);
	}

	for (size_t i = 0; i < n; i++) {
		struct call *k = &calls[i];
		if (!k->e)
			continue;
		curl_multi_remove_handle(m, k->e);
		curl_easy_cleanup(k->e);
		call_clear(k);
		cfs_cleanse(&k->h, sizeof k->h);
	}
	free(calls);
	multi_give(c, m, owned);
	return 0;
}
