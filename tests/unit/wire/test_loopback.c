/* Both ends over loopback: a wire_server with a small route table, called
 * with wire_call / wire_call_many, with raw sockets (to send exact bytes and
 * headers libcurl would not), and against a fake server that answers with
 * bad signatures. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <cmocka.h>

#include "core/util.h"
#include "wire/wire.h"

#define ENV "0b7e3a52-9a43-4c4e-8f00-0000000000aa"
#define MGR "manager-env"

static uint8_t secret[32];

struct ctx {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int blocked;
	bool release;
};

static struct ctx ctx = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, false };

static int lookup(void *arg, const char *env, uint8_t out[32])
{
	(void)arg;
	if (strcmp(env, MGR) != 0)
		return -ENOENT;
	memcpy(out, secret, 32);
	return 0;
}

static long query_long(const struct wire_request *rq, const char *key, long dflt)
{
	const char *v = wire_query(rq, key);
	return v ? strtol(v, NULL, 10) : dflt;
}

static void handler(void *arg, const struct wire_request *rq, struct wire_response *rs)
{
	struct ctx *x = arg;
	if (strcmp(rq->path, "/v1/echo") == 0) {
		size_t qlen = 0;
		const char *q = wire_query_n(rq, "path", &qlen);
		cJSON *j = cJSON_CreateObject();
		cJSON_AddStringToObject(j, "method", rq->method);
		cJSON_AddStringToObject(j, "target", rq->target);
		cJSON_AddStringToObject(j, "path", rq->path);
		cJSON_AddStringToObject(j, "env", rq->env);
		if (q)
			cJSON_AddStringToObject(j, "q", q);
		cJSON_AddNumberToObject(j, "qlen", (double)qlen);
		cJSON_AddNumberToObject(j, "body_len", (double)rq->body_len);
		if (rq->body_len < 1000) {
			char *b = strndup(rq->body, rq->body_len);
			cJSON_AddStringToObject(j, "body", b);
			free(b);
		}
		char *s = cJSON_PrintUnformatted(j);
		cfs_buf_puts(&rs->body, s);
		free(s);
		cJSON_Delete(j);
	} else if (strcmp(rq->path, "/v1/sleep") == 0) {
		usleep((useconds_t)query_long(rq, "ms", 0) * 1000);
		cfs_buf_puts(&rs->body, "{\"slept\":true}");
	} else if (strcmp(rq->path, "/v1/block") == 0) {
		pthread_mutex_lock(&x->mu);
		x->blocked++;
		pthread_cond_broadcast(&x->cv);
		while (!x->release)
			pthread_cond_wait(&x->cv, &x->mu);
		x->blocked--;
		pthread_mutex_unlock(&x->mu);
		cfs_buf_puts(&rs->body, "{}");
	} else if (strcmp(rq->path, "/v1/longpoll") == 0) {
		while (!wire_stopping(rq))
			usleep(10 * 1000);
		cfs_buf_puts(&rs->body, "{\"stopped\":true}");
	} else if (strcmp(rq->path, "/v1/errno") == 0) {
		wire_error_errno(rs, -ENOTEMPTY, "directory %s not empty", "x");
	} else if (strcmp(rq->path, "/v1/header") == 0) {
		rs->content_type = "text/plain";
		snprintf(rs->extra_header, sizeof rs->extra_header, "X-Test: yes");
		cfs_buf_puts(&rs->body, "plain");
	} else if (strcmp(rq->path, "/v1/bytes") == 0) {
		long n = query_long(rq, "n", 0);
		cfs_buf_reserve(&rs->body, (size_t)n);
		memset(rs->body.data, 'b', (size_t)n);
		rs->body.len = (size_t)n;
		rs->body.data[n] = '\0';
		rs->content_type = "application/octet-stream";
	} else {
		wire_error(rs, 404, "not_found", "no route %s", rq->path);
	}
}

static struct wire_server *start(const char *listen, unsigned threads, const char *proxies)
{
	struct wire_server_opts o = {
		.listen = listen,
		.threads = threads,
		.trusted_proxies = proxies,
		.lookup = lookup,
		.handler = handler,
		.handler_arg = &ctx,
	};
	struct wire_server *s = NULL;
	struct cfs_err err = { 0 };
	int ret = wire_server_start(&o, &s, &err);
	if (ret)
		print_error("start: %s\n", err.msg);
	assert_int_equal(ret, 0);
	assert_true(wire_server_port(s) > 0);
	return s;
}

static char url_buf[8][64];
static int url_next;

static struct wire_peer peer_for(const struct wire_server *s)
{
	char *url = url_buf[url_next++ % 8];
	snprintf(url, 64, "http://127.0.0.1:%u", wire_server_port(s));
	struct wire_peer p = { .base_url = url, .self_env = MGR, .timeout_ms = 5000,
			       .connect_timeout_ms = 2000 };
	memcpy(p.secret, secret, 32);
	return p;
}

static cJSON *reply_json(const struct wire_reply *r)
{
	cJSON *j = cJSON_ParseWithLength(r->body.data, r->body.len);
	assert_non_null(j);
	return j;
}

static const char *jstr(const cJSON *j, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, k);
	assert_true(cJSON_IsString(v));
	return v->valuestring;
}

static int call(struct wire_client *c, const struct wire_peer *p, const char *method,
		const char *target, const char *body, struct wire_reply *r)
{
	struct cfs_err err = { 0 };
	int ret = wire_call(c, p, method, target, body, body ? strlen(body) : 0, r, &err);
	if (ret)
		assert_int_equal(err.code, ret);
	return ret;
}

static int setup(void **state)
{
	(void)state;
	for (int i = 0; i < 32; i++)
		secret[i] = (uint8_t)(7 * i + 1);
	return 0;
}

/* ---------- through the client ---------- */

static void test_round_trip(void **state)
{
	(void)state;
	struct wire_server *s = start("127.0.0.1:0", 4, NULL);
	struct wire_client *c = wire_client_new();
	struct wire_peer p = peer_for(s);
	struct wire_reply r;

	assert_int_equal(call(c, &p, "GET", "/v1/echo?path=a%20b%2Fc", NULL, &r), 0);
	assert_int_equal(r.status, 200);
	assert_true(r.verified);
	assert_true(r.seconds >= 0);
	cJSON *j = reply_json(&r);
	assert_string_equal(jstr(j, "method"), "GET");
	assert_string_equal(jstr(j, "target"), "/v1/echo?path=a%20b%2Fc");
	assert_string_equal(jstr(j, "path"), "/v1/echo");
	assert_string_equal(jstr(j, "q"), "a b/c");
	assert_string_equal(jstr(j, "env"), MGR);
	cJSON_Delete(j);
	wire_reply_free(&r);

	/* A target built with wire_urlencode arrives byte for byte. */
	struct cfs_buf t = CFS_BUF_INIT;
	cfs_buf_puts(&t, "/v1/echo?path=");
	wire_urlencode("dir/na me+x&y=%z\xc3\xa9", &t);
	assert_int_equal(call(c, &p, "GET", t.data, NULL, &r), 0);
	j = reply_json(&r);
	assert_string_equal(jstr(j, "target"), t.data);
	assert_string_equal(jstr(j, "q"), "dir/na me+x&y=%z\xc3\xa9");
	cJSON_Delete(j);
	wire_reply_free(&r);
	cfs_buf_free(&t);

	/* Dot segments are not squashed on the way: the server sees (and the
	 * signature covers) the target as built. */
	assert_int_equal(call(c, &p, "GET", "/v1/x/../echo?path=%2e%2e/./a", NULL, &r), 0);
	assert_int_equal(r.status, 404);
	assert_true(r.verified);
	assert_non_null(strstr(r.body.data, "/v1/x/../echo"));
	wire_reply_free(&r);

	const char *methods[] = { "POST", "PUT", "DELETE", "PATCH" };
	for (size_t i = 0; i < 4; i++) {
		assert_int_equal(call(c, &p, methods[i], "/v1/echo", "{\"hello\":1}", &r), 0);
		assert_int_equal(r.status, 200);
		j = reply_json(&r);
		assert_string_equal(jstr(j, "method"), methods[i]);
		assert_string_equal(jstr(j, "body"), "{\"hello\":1}");
		cJSON_Delete(j);
		wire_reply_free(&r);
	}
	assert_int_equal(call(c, &p, "DELETE", "/v1/echo", NULL, &r), 0);
	assert_int_equal(r.status, 200);
	wire_reply_free(&r);
	assert_int_equal(call(c, &p, "POST", "/v1/echo", NULL, &r), 0);
	assert_int_equal(r.status, 200);
	wire_reply_free(&r);

	assert_int_equal(call(c, &p, "HEAD", "/v1/echo", NULL, &r), 0);
	assert_int_equal(r.status, 200);
	assert_true(r.verified);
	assert_int_equal(r.body.len, 0);
	wire_reply_free(&r);

	assert_int_equal(call(c, &p, "GET", "/v1/header", NULL, &r), 0);
	assert_string_equal(r.body.data, "plain");
	wire_reply_free(&r);

	assert_int_equal(call(c, &p, "GET", "/v1/nothing", NULL, &r), 0);
	assert_int_equal(r.status, 404);
	assert_true(r.verified);
	assert_int_equal(wire_status_errno(r.status, r.body.data, r.body.len), -ENOENT);
	wire_reply_free(&r);

	/* A filesystem errno passes through. */
	assert_int_equal(call(c, &p, "GET", "/v1/errno", NULL, &r), 0);
	assert_int_equal(r.status, 409);
	assert_true(r.verified);
	assert_int_equal(wire_status_errno(r.status, r.body.data, r.body.len), -ENOTEMPTY);
	wire_reply_free(&r);

	wire_client_free(c);
	wire_server_stop(s);
}

static void test_big_bodies(void **state)
{
	(void)state;
	struct wire_server *s = start("127.0.0.1:0", 2, NULL);
	struct wire_client *c = wire_client_new();
	struct wire_peer p = peer_for(s);
	struct wire_reply r;
	struct cfs_err err;

	size_t n = 3u << 20;
	char *big = malloc(WIRE_MAX_BODY + 1);
	memset(big, 'x', WIRE_MAX_BODY + 1);
	assert_int_equal(wire_call(c, &p, "PUT", "/v1/echo", big, n, &r, &err), 0);
	cJSON *j = reply_json(&r);
	assert_int_equal(cJSON_GetObjectItem(j, "body_len")->valuedouble, (double)n);
	cJSON_Delete(j);
	wire_reply_free(&r);
	/* The largest body passes, one more byte is refused before sending. */
	assert_int_equal(wire_call(c, &p, "PUT", "/v1/echo", big, WIRE_MAX_BODY, &r, &err), 0);
	assert_int_equal(r.status, 200);
	wire_reply_free(&r);
	assert_int_equal(wire_call(c, &p, "PUT", "/v1/echo", big, WIRE_MAX_BODY + 1, &r, &err),
			 -EFBIG);
	free(big);

	char target[64];
	snprintf(target, sizeof target, "/v1/bytes?n=%u", WIRE_MAX_BODY);
	assert_int_equal(call(c, &p, "GET", target, NULL, &r), 0);
	assert_int_equal(r.body.len, WIRE_MAX_BODY);
	wire_reply_free(&r);
	snprintf(target, sizeof target, "/v1/bytes?n=%u", WIRE_MAX_BODY + 1);
	assert_int_equal(call(c, &p, "GET", target, NULL, &r), -EPROTO);
	wire_client_free(c);
	wire_server_stop(s);
}

static void test_keepalive(void **state)
{
	(void)state;
	struct wire_server *s = start("127.0.0.1:0", 2, NULL);
	struct wire_client *c = wire_client_new();
	struct wire_peer p = peer_for(s);
	struct wire_reply r;
	assert_int_equal(call(c, &p, "GET", "/v1/echo", NULL, &r), 0);
	wire_reply_free(&r);
	unsigned long before = wire_client_connects(c);
	assert_int_equal(before, 1);
	for (int i = 0; i < 5; i++) {
		assert_int_equal(call(c, &p, "GET", "/v1/echo", NULL, &r), 0);
		assert_int_equal(r.status, 200);
		wire_reply_free(&r);
	}
	assert_int_equal(wire_client_connects(c), before);
	wire_client_free(c);
	wire_server_stop(s);
}

static void test_refusals_reach_the_caller(void **state)
{
	(void)state;
	struct wire_server *s = start("127.0.0.1:0", 2, NULL);
	struct wire_client *c = wire_client_new();
	struct wire_peer p = peer_for(s);
	struct wire_reply r;

	p.secret[0] ^= 1;
	assert_int_equal(call(c, &p, "GET", "/v1/echo", NULL, &r), 0);
	assert_int_equal(r.status, 401);
	assert_false(r.verified);
	cJSON *j = reply_json(&r);
	assert_string_equal(jstr(j, "error"), "bad_signature");
	cJSON_Delete(j);
	assert_int_equal(wire_status_errno(r.status, r.body.data, r.body.len), -EACCES);
	wire_reply_free(&r);

	p = peer_for(s);
	p.self_env = "stranger";
	assert_int_equal(call(c, &p, "GET", "/v1/echo", NULL, &r), 0);
	assert_int_equal(r.status, 401);
	j = reply_json(&r);
	assert_string_equal(jstr(j, "error"), "unknown_env");
	cJSON_Delete(j);
	wire_reply_free(&r);

	wire_client_free(c);
	wire_server_stop(s);
}

static void test_bad_arguments(void **state)
{
	(void)state;
	struct wire_client *c = wire_client_new();
	struct wire_peer p = { .self_env = MGR, .timeout_ms = 1000 };
	struct wire_reply r;
	const char *bad_urls[] = { "ftp://127.0.0.1:1", "127.0.0.1:1", "http://", "http://u@h:1",
				   "http://h:1/prefix", "http://h:1?x", "http://bad host:1" };
	for (size_t i = 0; i < sizeof bad_urls / sizeof *bad_urls; i++) {
		p.base_url = bad_urls[i];
		assert_int_equal(call(c, &p, "GET", "/v1/echo", NULL, &r), -EINVAL);
	}
	p.base_url = "http://127.0.0.1:1/";
	assert_int_equal(call(c, &p, "GET", "v1/echo", NULL, &r), -EINVAL);
	assert_int_equal(call(c, &p, "GET", "/v1/a b", NULL, &r), -EINVAL);
	assert_int_equal(call(c, &p, "GET", "/v1/a#b", NULL, &r), -EINVAL);
	assert_int_equal(call(c, &p, "get", "/v1/a", NULL, &r), -EINVAL);
	assert_int_equal(call(c, &p, "HEAD", "/v1/a", "x", &r), -EINVAL);
	p.tls_require = true;
	assert_int_equal(call(c, &p, "GET", "/v1/echo", NULL, &r), -EINVAL);
	p.tls_require = false;
	p.pin = "sha256//AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
	assert_int_equal(call(c, &p, "GET", "/v1/echo", NULL, &r), -EINVAL);
	p.pin = NULL;
	p.self_env = NULL;
	assert_int_equal(call(c, &p, "GET", "/v1/echo", NULL, &r), -EINVAL);
	wire_client_free(c);
}

static void test_timeout(void **state)
{
	(void)state;
	struct wire_server *s = start("127.0.0.1:0", 2, NULL);
	struct wire_client *c = wire_client_new();
	struct wire_peer p = peer_for(s);
	struct wire_reply r;
	p.timeout_ms = 300;
	int64_t t0 = cfs_mono_ms();
	assert_int_equal(call(c, &p, "GET", "/v1/sleep?ms=1500", NULL, &r), -ETIMEDOUT);
	int64_t took = cfs_mono_ms() - t0;
	assert_true(took >= 250 && took < 1000);
	wire_client_free(c);
	wire_server_stop(s);
}

struct blocker {
	struct wire_peer p;
	int ret, status;
};

static void *block_call(void *arg)
{
	struct blocker *b = arg;
	struct wire_client *c = wire_client_new();
	struct wire_reply r;
	b->ret = wire_call(c, &b->p, "GET", "/v1/block", NULL, 0, &r, NULL);
	b->status = r.status;
	wire_reply_free(&r);
	wire_client_free(c);
	return NULL;
}

static void test_blocked_handlers_do_not_starve(void **state)
{
	(void)state;
	enum { N = 10 };
	struct wire_server *s = start("127.0.0.1:0", 2, NULL);
	pthread_t t[N];
	struct blocker b[N];
	ctx.release = false;
	for (int i = 0; i < N; i++) {
		b[i] = (struct blocker){ .p = peer_for(s) };
		b[i].p.timeout_ms = 20000;
		assert_int_equal(pthread_create(&t[i], NULL, block_call, &b[i]), 0);
	}
	pthread_mutex_lock(&ctx.mu);
	while (ctx.blocked < N)
		pthread_cond_wait(&ctx.cv, &ctx.mu);
	pthread_mutex_unlock(&ctx.mu);

	/* Ten handlers parked on a two-thread server; a quick request still
	 * gets through at once. */
	struct wire_client *c = wire_client_new();
	struct wire_peer p = peer_for(s);
	struct wire_reply r;
	p.timeout_ms = 2000;
	int64_t t0 = cfs_mono_ms();
	assert_int_equal(call(c, &p, "GET", "/v1/echo", NULL, &r), 0);
	assert_int_equal(r.status, 200);
	assert_true(cfs_mono_ms() - t0 < 1000);
	wire_reply_free(&r);

	pthread_mutex_lock(&ctx.mu);
	ctx.release = true;
	pthread_cond_broadcast(&ctx.cv);
	pthread_mutex_unlock(&ctx.mu);
	for (int i = 0; i < N; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(b[i].ret, 0);
		assert_int_equal(b[i].status, 200);
	}
	wire_client_free(c);
	wire_server_stop(s);
}

static void test_stopped_server(void **state)
{
	(void)state;
	struct wire_server *s = start("127.0.0.1:0", 2, NULL);
	struct wire_client *c = wire_client_new();
	struct wire_peer p = peer_for(s);
	struct wire_reply r;
	assert_int_equal(call(c, &p, "GET", "/v1/echo", NULL, &r), 0);
	wire_reply_free(&r);
	wire_server_stop(s);
	/* The kept-alive connection is dead and nothing listens any more. */
	int64_t t0 = cfs_mono_ms();
	assert_int_equal(call(c, &p, "GET", "/v1/echo", NULL, &r), -EHOSTUNREACH);
	assert_int_equal(call(c, &p, "POST", "/v1/echo", "{}", &r), -EHOSTUNREACH);
	assert_true(cfs_mono_ms() - t0 < 2000);
	wire_client_free(c);
}

static void test_call_many(void **state)
{
	(void)state;
	struct wire_server *s = start("127.0.0.1:0", 2, NULL);
	struct wire_server *dead = start("127.0.0.1:0", 1, NULL);
	struct wire_client *c = wire_client_new();
	struct wire_peer peers[5];
	for (int i = 0; i < 5; i++)
		peers[i] = peer_for(s);
	peers[1].secret[5] ^= 0x40;          /* refused */
	peers[2] = peer_for(dead);           /* stopped below */
	peers[3].timeout_ms = 200;           /* too impatient */
	wire_server_stop(dead);

	struct wire_reply r[5];
	int errs[5];
	int64_t t0 = cfs_mono_ms();
	assert_int_equal(wire_call_many(c, peers, 5, "GET", "/v1/sleep?ms=600", r, errs), 0);
	int64_t took = cfs_mono_ms() - t0;
	/* Concurrent: three sleeps of 600 ms take well under 1.8 s. */
	assert_true(took < 1500);
	assert_int_equal(errs[0], 0);
	assert_int_equal(r[0].status, 200);
	assert_true(r[0].verified);
	assert_int_equal(errs[1], 0);
	assert_int_equal(r[1].status, 401);
	assert_false(r[1].verified);
	assert_int_equal(errs[2], -EHOSTUNREACH);
	assert_int_equal(errs[3], -ETIMEDOUT);
	assert_int_equal(errs[4], 0);
	assert_int_equal(r[4].status, 200);
	for (int i = 0; i < 5; i++)
		wire_reply_free(&r[i]);

	/* A second sweep over healthy peers reuses its connections. */
	struct wire_peer ok[3] = { peer_for(s), peer_for(s), peer_for(s) };
	assert_int_equal(wire_call_many(c, ok, 3, "GET", "/v1/echo", r, errs), 0);
	unsigned long conns = wire_client_connects(c);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(errs[i], 0);
		wire_reply_free(&r[i]);
	}
	assert_int_equal(wire_call_many(c, ok, 3, "GET", "/v1/echo", r, errs), 0);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(errs[i], 0);
		assert_int_equal(r[i].status, 200);
		wire_reply_free(&r[i]);
	}
	assert_int_equal(wire_client_connects(c), conns);
	assert_int_equal(wire_call_many(c, ok, 0, "GET", "/v1/echo", r, errs), 0);
	wire_client_free(c);
	wire_server_stop(s);
}

static void test_ipv6(void **state)
{
	(void)state;
	int fd = socket(AF_INET6, SOCK_STREAM, 0);
	struct sockaddr_in6 a = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT };
	bool have6 = fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0;
	if (fd >= 0)
		close(fd);
	if (!have6)
		skip();
	struct wire_server *s = start("[::1]:0", 2, NULL);
	struct wire_client *c = wire_client_new();
	struct wire_peer p = peer_for(s);
	char url[64];
	snprintf(url, sizeof url, "http://[::1]:%u", wire_server_port(s));
	p.base_url = url;
	struct wire_reply r;
	assert_int_equal(call(c, &p, "GET", "/v1/echo", NULL, &r), 0);
	assert_int_equal(r.status, 200);
	wire_reply_free(&r);
	wire_client_free(c);
	wire_server_stop(s);

	/* ":PORT" listens on every address, v4 included. */
	s = start(":0", 2, NULL);
	c = wire_client_new();
	p = peer_for(s);
	assert_int_equal(call(c, &p, "GET", "/v1/echo", NULL, &r), 0);
	wire_reply_free(&r);
	snprintf(url, sizeof url, "http://[::1]:%u", wire_server_port(s));
	p.base_url = url;
	assert_int_equal(call(c, &p, "GET", "/v1/echo", NULL, &r), 0);
	wire_reply_free(&r);
	wire_client_free(c);
	wire_server_stop(s);
}

static void test_bad_listen(void **state)
{
	(void)state;
	const char *bad[] = { "127.0.0.1", "127.0.0.1:99999", "[::1", "no.such.host.invalid:1",
			      "1.2.3.4.5:80", "::1:80" };
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		struct wire_server_opts o = { .listen = bad[i], .lookup = lookup, .handler = handler };
		struct wire_server *s = NULL;
		struct cfs_err err = { 0 };
		assert_int_not_equal(wire_server_start(&o, &s, &err), 0);
		assert_true(err.msg[0] != '\0');
		assert_null(s);
	}
	struct wire_server_opts o = { .listen = "127.0.0.1:0", .lookup = lookup, .handler = handler,
				      .trusted_proxies = "10.0.0.1, nonsense" };
	struct wire_server *s = NULL;
	assert_int_equal(wire_server_start(&o, &s, NULL), -EINVAL);
	/* The port is taken. */
	struct wire_server *a = start("127.0.0.1:0", 1, NULL);
	char addr[32];
	snprintf(addr, sizeof addr, "127.0.0.1:%u", wire_server_port(a));
	o = (struct wire_server_opts){ .listen = addr, .lookup = lookup, .handler = handler };
	assert_int_equal(wire_server_start(&o, &s, NULL), -EADDRINUSE);
	wire_server_stop(a);
}

/* ---------- raw sockets: exact bytes in, exact bytes out ---------- */

static int raw_connect(unsigned short port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct timeval tv = { .tv_sec = 5 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
	return fd;
}

/* Send req, read the whole answer; the status. */
static int raw_http(unsigned short port, const char *req, struct cfs_buf *resp)
{
	int fd = raw_connect(port);
	size_t len = strlen(req);
	assert_int_equal(write(fd, req, len), (ssize_t)len);
	char chunk[4096];
	ssize_t n;
	cfs_buf_reset(resp);
	while ((n = read(fd, chunk, sizeof chunk)) > 0)
		cfs_buf_append(resp, chunk, (size_t)n);
	close(fd);
	assert_non_null(resp->data);
	int status = 0;
	sscanf(resp->data, "HTTP/1.%*d %d", &status);
	return status;
}

static bool resp_header(const struct cfs_buf *resp, const char *name, char *out, size_t out_len)
{
	const char *end = strstr(resp->data, "\r\n\r\n");
	size_t nl = strlen(name);
	for (const char *l = strstr(resp->data, "\r\n"); l && l < end; l = strstr(l + 2, "\r\n")) {
		if (strncasecmp(l + 2, name, nl) == 0 && l[2 + nl] == ':') {
			const char *v = l + 3 + nl + strspn(l + 3 + nl, " ");
			size_t vl = strcspn(v, "\r");
			snprintf(out, out_len, "%.*s", (int)vl, v);
			return true;
		}
	}
	return false;
}

static const char *resp_body(const struct cfs_buf *resp)
{
	const char *b = strstr(resp->data, "\r\n\r\n");
	assert_non_null(b);
	return b + 4;
}

/* A signed request for (method, target) as raw HTTP, with extra header lines. */
static void raw_signed(struct cfs_buf *out, struct wire_sig_headers *h, const char *method,
		       const char *target, const char *sign_host, const char *host_line,
		       const char *extra)
{
	assert_int_equal(wire_sign_request(secret, MGR, method, target, sign_host, NULL, 0, h), 0);
	cfs_buf_reset(out);
	cfs_buf_printf(out,
		       "%s %s HTTP/1.1\r\nHost: %s\r\nX-Cloudfs-Env: %s\r\n"
		       "X-Cloudfs-Timestamp: %s\r\nX-Cloudfs-Nonce: %s\r\nX-Cloudfs-Signature: %s\r\n"
		       "%sConnection: close\r\n\r\n",
		       method, target, host_line, h->env, h->timestamp, h->nonce, h->signature,
		       extra ? extra : "");
}

static void test_raw_unsigned_refusals(void **state)
{
	(void)state;
	struct wire_server *s = start("127.0.0.1:0", 2, NULL);
	unsigned short port = wire_server_port(s);
	struct cfs_buf req = CFS_BUF_INIT, resp = CFS_BUF_INIT;
	char v[128];

	cfs_buf_printf(&req, "GET /v1/echo HTTP/1.1\r\nHost: 127.0.0.1:%u\r\nConnection: close\r\n\r\n",
		       port);
	assert_int_equal(raw_http(port, req.data, &resp), 400);
	assert_false(resp_header(&resp, "X-Cloudfs-Signature", v, sizeof v));
	assert_true(resp_header(&resp, "Content-Type", v, sizeof v));
	assert_string_equal(v, "application/json");
	cJSON *j = cJSON_Parse(resp_body(&resp));
	assert_string_equal(jstr(j, "error"), "bad_headers");
	assert_non_null(strstr(jstr(j, "message"), "X-Cloudfs-Env"));
	cJSON_Delete(j);

	cfs_buf_reset(&req);
	cfs_buf_printf(&req,
		       "POST /v1/echo HTTP/1.1\r\nHost: 127.0.0.1:%u\r\nContent-Length: %u\r\n"
		       "Connection: close\r\n\r\n", port, WIRE_MAX_BODY + 1);
	assert_int_equal(raw_http(port, req.data, &resp), 413);
	j = cJSON_Parse(resp_body(&resp));
	assert_string_equal(jstr(j, "error"), "too_large");
	cJSON_Delete(j);

	/* A replayed request, byte for byte. */
	struct wire_sig_headers h;
	char host[32];
	snprintf(host, sizeof host, "127.0.0.1:%u", port);
	raw_signed(&req, &h, "GET", "/v1/echo", host, host, NULL);
	assert_int_equal(raw_http(port, req.data, &resp), 200);
	assert_int_equal(raw_http(port, req.data, &resp), 401);
	j = cJSON_Parse(resp_body(&resp));
	assert_string_equal(jstr(j, "error"), "replay");
	cJSON_Delete(j);

	/* Re-hosted: signed for another host than the one it reaches. */
	raw_signed(&req, &h, "GET", "/v1/echo", "other.example:7001", host, NULL);
	assert_int_equal(raw_http(port, req.data, &resp), 401);
	assert_non_null(strstr(resp_body(&resp), "bad_signature"));

	cfs_buf_free(&req);
	cfs_buf_free(&resp);
	wire_server_stop(s);
}

static void test_raw_target_and_response_signature(void **state)
{
	(void)state;
	struct wire_server *s = start("127.0.0.1:0", 2, NULL);
	unsigned short port = wire_server_port(s);
	struct cfs_buf req = CFS_BUF_INIT, resp = CFS_BUF_INIT;
	struct wire_sig_headers h;
	char host[32], sig[128];
	snprintf(host, sizeof host, "127.0.0.1:%u", port);

	/* Lower-case escapes and '+' stay as sent: the signature covers them. */
	const char *target = "/v1/echo?path=%2fodd+name%41&x=%00";
	raw_signed(&req, &h, "GET", target, host, host, NULL);
	assert_int_equal(raw_http(port, req.data, &resp), 200);
	assert_true(resp_header(&resp, "X-Cloudfs-Signature", sig, sizeof sig));
	const char *body = resp_body(&resp);
	assert_int_equal(wire_verify_response(secret, h.nonce, 200, body, strlen(body), sig), 0);
	assert_int_equal(wire_verify_response(secret, h.nonce, 201, body, strlen(body), sig), -EACCES);
	cJSON *j = cJSON_Parse(body);
	assert_string_equal(jstr(j, "target"), target);
	assert_string_equal(jstr(j, "q"), "/odd nameA");
	cJSON_Delete(j);

	/* An embedded NUL shows in the decoded length. */
	raw_signed(&req, &h, "GET", "/v1/echo?path=a%00b", host, host, NULL);
	assert_int_equal(raw_http(port, req.data, &resp), 200);
	j = cJSON_Parse(resp_body(&resp));
	assert_string_equal(jstr(j, "q"), "a");
	assert_int_equal(cJSON_GetObjectItem(j, "qlen")->valuedouble, 3);
	cJSON_Delete(j);

	/* A malformed path escape from an authenticated sender: signed 400. */
	raw_signed(&req, &h, "GET", "/v1/ec%zzho", host, host, NULL);
	assert_int_equal(raw_http(port, req.data, &resp), 400);
	assert_true(resp_header(&resp, "X-Cloudfs-Signature", sig, sizeof sig));
	body = resp_body(&resp);
	assert_int_equal(wire_verify_response(secret, h.nonce, 400, body, strlen(body), sig), 0);
	raw_signed(&req, &h, "GET", "/v1/echo%00x", host, host, NULL);
	assert_int_equal(raw_http(port, req.data, &resp), 400);

	/* The host is compared normalised: upper case and a blank are fine. */
	char loud[40];
	snprintf(loud, sizeof loud, " LOCALHOST:%u", port);
	raw_signed(&req, &h, "GET", "/v1/echo", loud + 1, loud, NULL);
	assert_int_equal(raw_http(port, req.data, &resp), 200);

	cfs_buf_free(&req);
	cfs_buf_free(&resp);
	wire_server_stop(s);
}

static void test_forwarded_host(void **state)
{
	(void)state;
	struct wire_server *direct = start("127.0.0.1:0", 2, NULL);
	struct wire_server *behind = start("127.0.0.1:0", 2, "192.0.2.1 127.0.0.0/8");
	struct cfs_buf req = CFS_BUF_INIT, resp = CFS_BUF_INIT;
	struct wire_sig_headers h;
	char host[32];

	/* Behind a trusted proxy the signed host is the forwarded one. */
	snprintf(host, sizeof host, "127.0.0.1:%u", wire_server_port(behind));
	raw_signed(&req, &h, "GET", "/v1/echo", "agent.example", host,
		   "X-Forwarded-Host: Agent.Example:443\r\n");
	assert_int_equal(raw_http(wire_server_port(behind), req.data, &resp), 200);
	/* Signed for the Host the proxy used instead: refused. */
	raw_signed(&req, &h, "GET", "/v1/echo", host, host, "X-Forwarded-Host: agent.example\r\n");
	assert_int_equal(raw_http(wire_server_port(behind), req.data, &resp), 401);
	/* Several proxies: the first entry is the host the sender addressed. */
	raw_signed(&req, &h, "GET", "/v1/echo", "agent.example", host,
		   "X-Forwarded-Host: agent.example, inner.proxy:8080\r\n");
	assert_int_equal(raw_http(wire_server_port(behind), req.data, &resp), 200);
	/* Without X-Forwarded-Host, Host still counts. */
	raw_signed(&req, &h, "GET", "/v1/echo", host, host, NULL);
	assert_int_equal(raw_http(wire_server_port(behind), req.data, &resp), 200);

	/* A client that is not a trusted proxy cannot pick the host. */
	snprintf(host, sizeof host, "127.0.0.1:%u", wire_server_port(direct));
	raw_signed(&req, &h, "GET", "/v1/echo", "agent.example", host,
		   "X-Forwarded-Host: agent.example\r\n");
	assert_int_equal(raw_http(wire_server_port(direct), req.data, &resp), 401);
	raw_signed(&req, &h, "GET", "/v1/echo", host, host, "X-Forwarded-Host: agent.example\r\n");
	assert_int_equal(raw_http(wire_server_port(direct), req.data, &resp), 200);

	cfs_buf_free(&req);
	cfs_buf_free(&resp);
	wire_server_stop(direct);
	wire_server_stop(behind);
}

/* ---------- a fake server: what if the answer is not authentic ---------- */

enum fake_mode { FAKE_GOOD, FAKE_UNSIGNED_200, FAKE_BAD_SIG, FAKE_OTHER_STATUS, FAKE_TWO_SIGS,
		 FAKE_UNSIGNED_401, FAKE_UNSIGNED_HTML_500, FAKE_TRUNCATED };

struct fake {
	int lfd;
	unsigned short port;
	enum fake_mode mode;
	pthread_t t;
};

static void *fake_main(void *arg)
{
	struct fake *f = arg;
	int fd = accept(f->lfd, NULL, NULL);
	if (fd < 0)
		return NULL;
	char req[8192];
	size_t len = 0;
	ssize_t n;
	while (len < sizeof req - 1 && (n = read(fd, req + len, sizeof req - 1 - len)) > 0) {
		len += (size_t)n;
		req[len] = '\0';
		if (strstr(req, "\r\n\r\n"))
			break;
	}
	req[len] = '\0';
	char nonce[33] = "";
	const char *nh = strcasestr(req, "X-Cloudfs-Nonce: ");
	if (nh)
		snprintf(nonce, sizeof nonce, "%.32s", nh + 17);

	const char *body = "{\"ok\":true}";
	char sig[65], sig2[65];
	wire_sign_response(secret, nonce, 200, body, strlen(body), sig);
	wire_sign_response(secret, nonce, 201, body, strlen(body), sig2);
	char out[1024];
	const char *fmt = "HTTP/1.1 %d X\r\nContent-Length: %zu\r\nConnection: close\r\n%s\r\n%s";
	char hdr[256] = "";
	int status = 200;
	switch (f->mode) {
	case FAKE_GOOD:
		snprintf(hdr, sizeof hdr, "X-Cloudfs-Signature: %s\r\n", sig);
		break;
	case FAKE_UNSIGNED_200:
		break;
	case FAKE_BAD_SIG:
		snprintf(hdr, sizeof hdr, "X-Cloudfs-Signature: %064d\r\n", 0);
		break;
	case FAKE_OTHER_STATUS:
		snprintf(hdr, sizeof hdr, "X-Cloudfs-Signature: %s\r\n", sig2);
		break;
	case FAKE_TWO_SIGS:
		snprintf(hdr, sizeof hdr, "X-Cloudfs-Signature: %s\r\nX-Cloudfs-Signature: %s\r\n",
			 sig, sig);
		break;
	case FAKE_UNSIGNED_401:
		status = 401;
		body = "{\"error\":\"bad_signature\",\"errno\":\"ENOENT\",\"message\":\"no\",\"x\":1}";
		break;
	case FAKE_UNSIGNED_HTML_500:
		status = 500;
		body = "<html>oops</html>";
		break;
	case FAKE_TRUNCATED:
		snprintf(hdr, sizeof hdr, "X-Cloudfs-Signature: %s\r\n", sig);
		snprintf(out, sizeof out, "HTTP/1.1 200 X\r\nContent-Length: 1000\r\n%s\r\n{", hdr);
		if (write(fd, out, strlen(out)) < 0)
			break;
		close(fd);
		return NULL;
	}
	snprintf(out, sizeof out, fmt, status, strlen(body), hdr, body);
	if (write(fd, out, strlen(out)) < 0)
		perror("fake write");
	/* Let the client read everything before the close. */
	shutdown(fd, SHUT_WR);
	while (read(fd, req, sizeof req) > 0)
		;
	close(fd);
	return NULL;
}

static void fake_start(struct fake *f, enum fake_mode mode)
{
	f->mode = mode;
	f->lfd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t al = sizeof a;
	assert_int_equal(bind(f->lfd, (struct sockaddr *)&a, sizeof a), 0);
	assert_int_equal(listen(f->lfd, 4), 0);
	getsockname(f->lfd, (struct sockaddr *)&a, &al);
	f->port = ntohs(a.sin_port);
	assert_int_equal(pthread_create(&f->t, NULL, fake_main, f), 0);
}

static void fake_stop(struct fake *f)
{
	pthread_join(f->t, NULL);
	close(f->lfd);
}

static int fake_call(enum fake_mode mode, struct wire_reply *r)
{
	struct fake f;
	char url[64];
	fake_start(&f, mode);
	snprintf(url, sizeof url, "http://127.0.0.1:%u", f.port);
	struct wire_peer p = { .base_url = url, .self_env = MGR, .timeout_ms = 3000 };
	memcpy(p.secret, secret, 32);
	struct wire_client *c = wire_client_new();
	/* POST: never retried, so one connection is all the fake serves. */
	int ret = call(c, &p, "POST", "/v1/x", "{}", r);
	wire_client_free(c);
	fake_stop(&f);
	return ret;
}

static void test_untrusted_answers(void **state)
{
	(void)state;
	struct wire_reply r;
	assert_int_equal(fake_call(FAKE_GOOD, &r), 0);
	assert_int_equal(r.status, 200);
	assert_true(r.verified);
	wire_reply_free(&r);

	assert_int_equal(fake_call(FAKE_UNSIGNED_200, &r), -EPROTO);
	assert_null(r.body.data);
	assert_int_equal(fake_call(FAKE_BAD_SIG, &r), -EPROTO);
	assert_int_equal(fake_call(FAKE_OTHER_STATUS, &r), -EPROTO);
	assert_int_equal(fake_call(FAKE_TWO_SIGS, &r), -EPROTO);
	assert_int_equal(fake_call(FAKE_TRUNCATED, &r), -EHOSTUNREACH);

	/* An unsigned refusal comes through, stripped to error and message:
	 * its errno is not believed. */
	assert_int_equal(fake_call(FAKE_UNSIGNED_401, &r), 0);
	assert_int_equal(r.status, 401);
	assert_false(r.verified);
	cJSON *j = reply_json(&r);
	assert_string_equal(jstr(j, "error"), "bad_signature");
	assert_string_equal(jstr(j, "message"), "no");
	assert_null(cJSON_GetObjectItem(j, "errno"));
	assert_null(cJSON_GetObjectItem(j, "x"));
	cJSON_Delete(j);
	assert_int_equal(wire_status_errno(r.status, r.body.data, r.body.len), -EACCES);
	wire_reply_free(&r);

	assert_int_equal(fake_call(FAKE_UNSIGNED_HTML_500, &r), 0);
	assert_int_equal(r.status, 500);
	j = reply_json(&r);
	assert_string_equal(jstr(j, "error"), "unverified");
	cJSON_Delete(j);
	wire_reply_free(&r);
}

/* Read one request head from fd; its nonce into nonce.  false at EOF. */
static bool read_head(int fd, char nonce[33])
{
	char req[8192];
	size_t len = 0;
	ssize_t n;
	while (len < sizeof req - 1 && (n = read(fd, req + len, sizeof req - 1 - len)) > 0) {
		len += (size_t)n;
		req[len] = '\0';
		if (strstr(req, "\r\n\r\n"))
			break;
	}
	req[len] = '\0';
	const char *nh = strcasestr(req, "X-Cloudfs-Nonce: ");
	if (!nh)
		return false;
	snprintf(nonce, 33, "%.32s", nh + 17);
	return true;
}

static void answer(int fd, const char *nonce, bool close_after)
{
	char sig[65], out[512];
	const char *body = "{}";
	wire_sign_response(secret, nonce, 200, body, 2, sig);
	snprintf(out, sizeof out,
		 "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Cloudfs-Signature: %s\r\n%s\r\n%s", sig,
		 close_after ? "Connection: close\r\n" : "", body);
	if (write(fd, out, strlen(out)) < 0)
		perror("write");
}

/* Serves one request on a kept-alive connection, then drops that
 * connection at the next request, then serves a fresh connection. */
static void *dropper_main(void *arg)
{
	struct fake *f = arg;
	char nonce[33];
	int fd = accept(f->lfd, NULL, NULL);
	if (read_head(fd, nonce))
		answer(fd, nonce, false);
	read_head(fd, nonce);
	close(fd);
	fd = accept(f->lfd, NULL, NULL);
	if (read_head(fd, nonce))
		answer(fd, nonce, true);
	close(fd);
	return NULL;
}

static void test_dropped_keepalive_is_retried(void **state)
{
	(void)state;
	struct fake f = { .lfd = socket(AF_INET, SOCK_STREAM, 0) };
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t al = sizeof a;
	assert_int_equal(bind(f.lfd, (struct sockaddr *)&a, sizeof a), 0);
	assert_int_equal(listen(f.lfd, 4), 0);
	getsockname(f.lfd, (struct sockaddr *)&a, &al);
	assert_int_equal(pthread_create(&f.t, NULL, dropper_main, &f), 0);

	char url[64];
	snprintf(url, sizeof url, "http://127.0.0.1:%u", ntohs(a.sin_port));
	struct wire_peer p = { .base_url = url, .self_env = MGR, .timeout_ms = 3000 };
	memcpy(p.secret, secret, 32);
	struct wire_client *c = wire_client_new();
	struct wire_reply r;
	assert_int_equal(call(c, &p, "GET", "/v1/health", NULL, &r), 0);
	wire_reply_free(&r);
	assert_int_equal(call(c, &p, "GET", "/v1/health", NULL, &r), 0);
	assert_int_equal(r.status, 200);
	assert_true(r.verified);
	wire_reply_free(&r);
	wire_client_free(c);
	fake_stop(&f);
}

/* ---------- TLS, when the tools to make a certificate are here ---------- */

static bool run_ok(const char *cmd)
{
	return system(cmd) == 0;
}

static void test_tls_pin(void **state)
{
	(void)state;
	char dir[256], cmd[1024], cert[300], key[300], pin[128] = "sha256//";
	const char *tmp = getenv("TMPDIR");
	snprintf(dir, sizeof dir, "%s/cfs-wire-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	assert_non_null(mkdtemp(dir));
	snprintf(cert, sizeof cert, "%s/cert.pem", dir);
	snprintf(key, sizeof key, "%s/key.pem", dir);
	snprintf(cmd, sizeof cmd,
		 "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
		 "-keyout %s -out %s -days 2 -subj /CN=agent >/dev/null 2>&1", key, cert);
	if (!run_ok(cmd)) {
		snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
		run_ok(cmd);
		skip();
	}
	snprintf(cmd, sizeof cmd,
		 "openssl x509 -in %s -pubkey -noout | openssl pkey -pubin -outform der | "
		 "openssl dgst -sha256 -binary | base64", cert);
	FILE *f = popen(cmd, "r");
	assert_non_null(f);
	assert_non_null(fgets(pin + 8, (int)sizeof pin - 8, f));
	pclose(f);
	pin[strcspn(pin, "\n")] = '\0';

	struct wire_server_opts o = { .listen = "127.0.0.1:0", .tls_cert = cert, .tls_key = key,
				      .threads = 2, .lookup = lookup, .handler = handler,
				      .handler_arg = &ctx };
	struct wire_server *s = NULL;
	struct cfs_err err = { 0 };
	int ret = wire_server_start(&o, &s, &err);
	if (ret == -ENOTSUP)
		skip();
	if (ret)
		print_error("%s\n", err.msg);
	assert_int_equal(ret, 0);

	struct wire_client *c = wire_client_new();
	char url[64];
	snprintf(url, sizeof url, "https://127.0.0.1:%u", wire_server_port(s));
	struct wire_peer p = { .base_url = url, .self_env = MGR, .timeout_ms = 5000,
			       .tls_require = true, .pin = pin };
	memcpy(p.secret, secret, 32);
	struct wire_reply r;
	assert_int_equal(call(c, &p, "GET", "/v1/echo?path=tls", NULL, &r), 0);
	assert_int_equal(r.status, 200);
	assert_true(r.verified);
	wire_reply_free(&r);

	/* Another key than the pinned one: refused before anything is sent. */
	p.pin = "sha256//AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
	assert_int_equal(call(c, &p, "GET", "/v1/echo", NULL, &r), -EPROTO);
	/* No pin: the self-signed certificate does not verify. */
	p.pin = NULL;
	assert_int_equal(call(c, &p, "GET", "/v1/echo", NULL, &r), -EPROTO);
	/* Plain HTTP to a TLS port gets no valid answer. */
	snprintf(url, sizeof url, "http://127.0.0.1:%u", wire_server_port(s));
	p.tls_require = false;
	p.pin = NULL;
	assert_int_not_equal(call(c, &p, "GET", "/v1/echo", NULL, &r), 0);

	wire_client_free(c);
	wire_server_stop(s);
	o.tls_key = NULL;
	assert_int_equal(wire_server_start(&o, &s, NULL), -EINVAL);
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	run_ok(cmd);
}

struct slow {
	struct wire_peer p;
	const char *target;
	int ret;
};

static void *slow_call(void *arg)
{
	struct slow *x = arg;
	struct wire_client *c = wire_client_new();
	struct wire_reply r;
	x->ret = wire_call(c, &x->p, "GET", x->target, NULL, 0, &r, NULL);
	wire_reply_free(&r);
	wire_client_free(c);
	return NULL;
}

static void test_stop_waits_for_handlers(void **state)
{
	(void)state;
	struct wire_server *s = start("127.0.0.1:0", 2, NULL);
	struct slow x = { .p = peer_for(s), .target = "/v1/sleep?ms=400" };
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, slow_call, &x), 0);
	usleep(150 * 1000);
	int64_t t0 = cfs_mono_ms();
	wire_server_stop(s);
	assert_true(cfs_mono_ms() - t0 >= 100);
	pthread_join(t, NULL);

	/* A long-poll sees the stop and returns. */
	s = start("127.0.0.1:0", 2, NULL);
	x = (struct slow){ .p = peer_for(s), .target = "/v1/longpoll" };
	assert_int_equal(pthread_create(&t, NULL, slow_call, &x), 0);
	usleep(150 * 1000);
	t0 = cfs_mono_ms();
	wire_server_stop(s);
	assert_true(cfs_mono_ms() - t0 < 2000);
	pthread_join(t, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_big_bodies),
		cmocka_unit_test(test_keepalive),
		cmocka_unit_test(test_refusals_reach_the_caller),
		cmocka_unit_test(test_bad_arguments),
		cmocka_unit_test(test_timeout),
		cmocka_unit_test(test_blocked_handlers_do_not_starve),
		cmocka_unit_test(test_stopped_server),
		cmocka_unit_test(test_call_many),
		cmocka_unit_test(test_ipv6),
		cmocka_unit_test(test_bad_listen),
		cmocka_unit_test(test_raw_unsigned_refusals),
		cmocka_unit_test(test_raw_target_and_response_signature),
		cmocka_unit_test(test_forwarded_host),
		cmocka_unit_test(test_untrusted_answers),
		cmocka_unit_test(test_dropped_keepalive_is_retried),
		cmocka_unit_test(test_tls_pin),
		cmocka_unit_test(test_stop_waits_for_handlers),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
