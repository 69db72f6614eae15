/* HTTP status + error body → errno (DESIGN.md's errno table is this
 * function's test), the errno names that cross the wire, percent-encoding
 * and query strings, and the JSON of error replies. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <cmocka.h>

#include "wire/internal.h"

static int st(int status)
{
	return wire_status_errno(status, NULL, 0);
}

static int stb(int status, const char *body)
{
	return wire_status_errno(status, body, strlen(body));
}

static void test_status_table(void **state)
{
	(void)state;
	static const struct {
		int status, err;
	} table[] = {
		{ 200, 0 },           { 201, 0 },         { 204, 0 },          { 304, 0 },
		{ 400, -EINVAL },     { 401, -EACCES },   { 403, -EACCES },    { 404, -ENOENT },
		{ 405, -ENOTSUP },    { 501, -ENOTSUP },  { 408, -ETIMEDOUT }, { 504, -ETIMEDOUT },
		{ 409, -EEXIST },     { 413, -EFBIG },    { 423, -EBUSY },     { 429, -EBUSY },
		{ 503, -EHOSTUNREACH }, { 500, -EIO },    { 502, -EIO },       { 507, -EIO },
		{ 599, -EIO },        { 0, -EIO },        { 100, -EIO },
	};
	for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
		if (st(table[i].status) != table[i].err)
			print_error("status %d\n", table[i].status);
		assert_int_equal(st(table[i].status), table[i].err);
	}
}

static void test_body_errno_wins(void **state)
{
	(void)state;
	assert_int_equal(stb(409, "{\"error\":\"conflict\",\"errno\":\"ENOTEMPTY\",\"message\":\"x\"}"),
			 -ENOTEMPTY);
	assert_int_equal(stb(409, "{\"error\":\"conflict\",\"message\":\"x\"}"), -EEXIST);
	assert_int_equal(stb(400, "{\"errno\":\"ENAMETOOLONG\"}"), -ENAMETOOLONG);
	assert_int_equal(stb(403, "{\"errno\":\"EPERM\"}"), -EPERM);
	assert_int_equal(stb(409, "{\"errno\":\"EXDEV\"}"), -EXDEV);
	assert_int_equal(stb(409, "{\"errno\":\"EOPNOTSUPP\"}"), -ENOTSUP);
	/* Unknown names, wrong types and broken JSON fall back to the status. */
	assert_int_equal(stb(409, "{\"errno\":\"EHOSTUNREACH\"}"), -EEXIST);
	assert_int_equal(stb(409, "{\"errno\":\"enotempty\"}"), -EEXIST);
	assert_int_equal(stb(409, "{\"errno\":39}"), -EEXIST);
	assert_int_equal(stb(404, "{\"errno\":"), -ENOENT);
	assert_int_equal(stb(404, "not json"), -ENOENT);
	assert_int_equal(stb(404, "[\"ENOTEMPTY\"]"), -ENOENT);
	/* A success is a success whatever the body says. */
	assert_int_equal(stb(200, "{\"errno\":\"ENOENT\"}"), 0);
	/* The length bounds the parse. */
	const char *b = "{\"errno\":\"EISDIR\"}garbage";
	assert_int_equal(wire_status_errno(409, b, 18), -EISDIR);
}

static void test_errno_names(void **state)
{
	(void)state;
	static const int required[] = {
		ENOTEMPTY, EISDIR, ENOTDIR, ELOOP, EXDEV, ENAMETOOLONG, EPERM, ENOSPC, EROFS,
		ENODATA, ERANGE, E2BIG, EMLINK, ETXTBSY, EFBIG, EINVAL, EEXIST, ENOENT, EACCES,
		EOVERFLOW, ENOTSUP,
	};
	for (size_t i = 0; i < sizeof required / sizeof required[0]; i++) {
		const char *name = wire_errno_name(required[i]);
		assert_non_null(name);
		assert_int_equal(wire_errno_from_name(name), required[i]);
		assert_string_equal(wire_errno_name(-required[i]), name);
		char body[128];
		snprintf(body, sizeof body, "{\"error\":\"x\",\"errno\":\"%s\"}", name);
		assert_int_equal(stb(409, body), -required[i]);
	}
	assert_string_equal(wire_errno_name(ENOTEMPTY), "ENOTEMPTY");
	assert_null(wire_errno_name(EHOSTUNREACH));
	assert_null(wire_errno_name(0));
	assert_int_equal(wire_errno_from_name("EWHATEVER"), 0);
	assert_int_equal(wire_errno_from_name(""), 0);
	assert_int_equal(wire_errno_from_name(NULL), 0);
}

static void test_error_reply_json(void **state)
{
	(void)state;
	struct wire_response rs = { 0 };
	wire_error(&rs, 404, "not_found", "no file \"%s\"", "a\nb");
	assert_int_equal(rs.status, 404);
	cJSON *j = cJSON_ParseWithLength(rs.body.data, rs.body.len);
	assert_non_null(j);
	assert_string_equal(cJSON_GetObjectItem(j, "error")->valuestring, "not_found");
	assert_string_equal(cJSON_GetObjectItem(j, "message")->valuestring, "no file \"a\nb\"");
	cJSON_Delete(j);
	assert_int_equal(wire_status_errno(rs.status, rs.body.data, rs.body.len), -ENOENT);

	static const int errs[] = { ENOTEMPTY, ENOENT, EACCES, EPERM, EINVAL, EFBIG, EBUSY,
				    ENOTSUP, EISDIR, EXDEV, ELOOP, ENOSPC, EROFS, EEXIST };
	for (size_t i = 0; i < sizeof errs / sizeof errs[0]; i++) {
		wire_error_errno(&rs, -errs[i], "failed");
		assert_true(rs.status >= 400);
		/* What the agent sends is what the manager gets back. */
		assert_int_equal(wire_status_errno(rs.status, rs.body.data, rs.body.len), -errs[i]);
	}
	wire_error_errno(&rs, ENOENT, "gone");
	assert_int_equal(rs.status, 404);
	wire_error_errno(&rs, -EIO, "broken");
	assert_int_equal(rs.status, 500);
	assert_int_equal(wire_status_errno(rs.status, rs.body.data, rs.body.len), -EIO);
	cfs_buf_free(&rs.body);
}

static void test_urlencode(void **state)
{
	(void)state;
	struct cfs_buf b = CFS_BUF_INIT;
	assert_int_equal(wire_urlencode("www/a b+c&d=e?f#g%h~i_j.k-l", &b), 0);
	assert_string_equal(b.data, "www/a%20b%2Bc%26d%3De%3Ff%23g%25h~i_j.k-l");
	cfs_buf_reset(&b);
	assert_int_equal(wire_urlencode("caf\xc3\xa9\n\x01", &b), 0);
	assert_string_equal(b.data, "caf%C3%A9%0A%01");
	cfs_buf_free(&b);
	assert_int_equal(wire_urlencode("", &b), 0);
	assert_non_null(b.data);
	assert_string_equal(b.data, "");
	cfs_buf_free(&b);
}

static void test_decode_and_query(void **state)
{
	(void)state;
	char *out;
	size_t len;
	assert_int_equal(wire_pct_decode("a%2Fb%2fc+d", 11, true, true, &out, &len), 0);
	assert_string_equal(out, "a/b/c d");
	free(out);
	assert_int_equal(wire_pct_decode("a+b", 3, false, true, &out, &len), 0);
	assert_string_equal(out, "a+b");
	free(out);
	assert_int_equal(wire_pct_decode("a%zz%4", 6, false, true, &out, &len), -EINVAL);
	assert_int_equal(wire_pct_decode("a%zz%4", 6, false, false, &out, &len), 0);
	assert_string_equal(out, "a%zz%4");
	free(out);
	assert_int_equal(wire_pct_decode("a%00b", 5, false, true, &out, &len), 0);
	assert_int_equal(len, 3);
	assert_int_equal(strlen(out), 1);
	free(out);

	/* Encoding then decoding gives the bytes back. */
	const char *odd = "dir/na me+&=%?#\xff\x7f";
	struct cfs_buf b = CFS_BUF_INIT;
	assert_int_equal(wire_urlencode(odd, &b), 0);
	assert_int_equal(wire_pct_decode(b.data, b.len, true, true, &out, &len), 0);
	assert_string_equal(out, odd);
	free(out);
	cfs_buf_free(&b);

	struct wire_qparam *q;
	size_t n;
	assert_int_equal(wire_query_parse("path=a%20b%2Fc&flag&&x=1&x=2&e=&=v&p%3Dq=r%26s", &q, &n), 0);
	assert_int_equal(n, 7);
	assert_string_equal(wire_query_find(q, n, "path")->val, "a b/c");
	assert_string_equal(wire_query_find(q, n, "flag")->val, "");
	assert_string_equal(wire_query_find(q, n, "x")->val, "1");
	assert_string_equal(wire_query_find(q, n, "e")->val, "");
	assert_string_equal(wire_query_find(q, n, "")->val, "v");
	assert_string_equal(wire_query_find(q, n, "p=q")->val, "r&s");
	assert_null(wire_query_find(q, n, "missing"));
	wire_query_free(q, n);
	assert_int_equal(wire_query_parse("", &q, &n), 0);
	assert_int_equal(n, 0);
	wire_query_free(q, n);
	assert_int_equal(wire_query_parse("nul=a%00b", &q, &n), 0);
	assert_int_equal(q[0].val_len, 3);
	wire_query_free(q, n);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_status_table),
		cmocka_unit_test(test_body_errno_wins),
		cmocka_unit_test(test_errno_names),
		cmocka_unit_test(test_error_reply_json),
		cmocka_unit_test(test_urlencode),
		cmocka_unit_test(test_decode_and_query),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
