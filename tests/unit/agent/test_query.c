/* test_query.c — the request target decoder and the small reply helpers. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "helpers.h"

static void test_parse(void **state)
{
	(void)state;
	struct query q;
	size_t len;
	assert_int_equal(agent_query_parse("/v1/file/stat?path=a%2Fb%20c&uid=0&flag&x=a+b&empty=", &q), 0);
	assert_string_equal(q.path, "/v1/file/stat");
	assert_string_equal(agent_query_get(&q, "path", &len), "a/b c");
	assert_int_equal(len, 5);
	assert_string_equal(agent_query_get(&q, "uid", NULL), "0");
	assert_string_equal(agent_query_get(&q, "flag", NULL), "");
	assert_string_equal(agent_query_get(&q, "x", NULL), "a b");
	assert_string_equal(agent_query_get(&q, "empty", NULL), "");
	assert_null(agent_query_get(&q, "nope", NULL));
	agent_query_free(&q);

	/* %00 survives as a byte: the length says so */
	assert_int_equal(agent_query_parse("/v1/x?path=a%00b", &q), 0);
	agent_query_get(&q, "path", &len);
	assert_int_equal(len, 3);
	agent_query_free(&q);

	assert_int_equal(agent_query_parse("/v1/x?path=%zz", &q), -EINVAL);
	assert_int_equal(agent_query_parse("/v1/x?path=%2", &q), -EINVAL);
	assert_int_equal(agent_query_parse("/v1/x?p%00=1", &q), -EINVAL);   /* NUL in a key */
	assert_int_equal(agent_query_parse("/v1/x", &q), 0);
	assert_int_equal(q.n, 0);
	agent_query_free(&q);

	char many[2048] = "/v1/x?";
	for (int i = 0; i < QUERY_MAX + 1; i++)
		snprintf(many + strlen(many), sizeof many - strlen(many), "k%d=v&", i);
	assert_int_equal(agent_query_parse(many, &q), -EINVAL);
}

static void test_utf8_base64(void **state)
{
	(void)state;
	assert_true(agent_utf8_valid("plain", 5));
	assert_true(agent_utf8_valid("\xc3\xa9t\xc3\xa9", 5));
	assert_true(agent_utf8_valid("\xf0\x9f\x99\x82", 4));
	assert_false(agent_utf8_valid("\xff", 1));
	assert_false(agent_utf8_valid("\xc3", 1));            /* cut short */
	assert_false(agent_utf8_valid("\xc0\xaf", 2));        /* overlong */
	assert_false(agent_utf8_valid("\xed\xa0\x80", 3));    /* surrogate */
	assert_false(agent_utf8_valid("a\0b", 3));
	struct cfs_buf b = CFS_BUF_INIT;
	agent_base64("", 0, &b);
	agent_base64("f", 1, &b);
	agent_base64("fo", 2, &b);
	agent_base64("foo", 3, &b);
	agent_base64("foobar", 6, &b);
	assert_string_equal(b.data, "Zg==Zm8=Zm9vZm9vYmFy");
	cfs_buf_free(&b);
}

static void test_errno_table(void **state)
{
	(void)state;
	char nb[16];
	assert_int_equal(agent_errno_status(-ENOENT), 404);
	assert_int_equal(agent_errno_status(-EACCES), 403);
	assert_int_equal(agent_errno_status(-EPERM), 403);
	assert_int_equal(agent_errno_status(-EEXIST), 409);
	assert_int_equal(agent_errno_status(-ENOTEMPTY), 409);
	assert_int_equal(agent_errno_status(-EINVAL), 400);
	assert_int_equal(agent_errno_status(-EIO), 500);
	assert_string_equal(agent_errno_name(-ENOTEMPTY, nb), "ENOTEMPTY");
	assert_string_equal(agent_errno_name(ELOOP, nb), "ELOOP");
	assert_string_equal(agent_errno_name(-4000, nb), "E4000");

	struct wire_response rs = { 0 };
	agent_reply_fs_error(&rs, -ENOTEMPTY, "file/rmdir");
	assert_int_equal(rs.status, 409);
	cJSON *j = cJSON_Parse(rs.body.data);
	assert_string_equal(th_str(j, "error"), "fs_error");
	assert_string_equal(th_str(j, "errno"), "ENOTEMPTY");
	cJSON_Delete(j);
	agent_reply_confine_error(&rs, -EXDEV, "path");
	assert_int_equal(rs.status, 403);
	j = cJSON_Parse(rs.body.data);
	assert_string_equal(th_str(j, "error"), "outside_root");
	assert_string_equal(th_str(j, "errno"), "EACCES");
	cJSON_Delete(j);
	cfs_buf_free(&rs.body);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_utf8_base64),
		cmocka_unit_test(test_errno_table),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
