/* Host normalisation and the signed wire protocol's canonical string. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "auth/crypto.h"

struct host_case {
	const char *in;
	int ret;
	const char *out;   /* when ret == 0 */
};

static const struct host_case host_cases[] = {
	{ "example.com", 0, "example.com" },
	{ "Example.COM:8080", 0, "example.com:8080" },
	{ "EXAMPLE.com:80", 0, "example.com" },
	{ "example.com:443", 0, "example.com" },
	{ "  example.com\t", 0, "example.com" },
	{ "\t example.com:443  ", 0, "example.com" },
	{ "example.com:8443", 0, "example.com:8443" },
	{ "example.com:4430", 0, "example.com:4430" },
	{ "example.com:0443", 0, "example.com:0443" },
	{ "example.com:8", 0, "example.com:8" },
	{ "10.0.0.7:80", 0, "10.0.0.7" },
	{ "10.0.0.7:9000", 0, "10.0.0.7:9000" },
	{ "[::1]", 0, "[::1]" },
	{ "[::1]:443", 0, "[::1]" },
	{ "[::1]:80", 0, "[::1]" },
	{ "[::1]:8080", 0, "[::1]:8080" },
	{ "[FE80::1%25ETH0]:443", 0, "[fe80::1%25eth0]" },
	{ "[2001:DB8::80]", 0, "[2001:db8::80]" },
	/* a bare IPv6 address has no port to drop */
	{ "fe80::80", 0, "fe80::80" },
	{ "::443", 0, "::443" },
	{ "host-1.internal_x", 0, "host-1.internal_x" },
	{ "", -EINVAL, NULL },
	{ "   ", -EINVAL, NULL },
	{ "\t", -EINVAL, NULL },
	{ "exa mple.com", -EINVAL, NULL },
	{ "example.com\r", -EINVAL, NULL },
	{ "example.com\n", -EINVAL, NULL },
	{ "exa\x01mple.com", -EINVAL, NULL },
	{ "example.com\x7f", -EINVAL, NULL },
	{ "ex\xc3\xa4mple.com", -EINVAL, NULL },
	{ "example.com/path", -EINVAL, NULL },
	{ "user@example.com", -EINVAL, NULL },
	{ "example.com?x", -EINVAL, NULL },
	{ "example.com#x", -EINVAL, NULL },
	{ "example.com\\x", -EINVAL, NULL },
	{ ":80", -EINVAL, NULL },
	{ ":8080", -EINVAL, NULL },
	{ "example.com:http", -EINVAL, NULL },
	{ "[::1", -EINVAL, NULL },
	{ "::1]", -EINVAL, NULL },
	{ "[::1]x", -EINVAL, NULL },
	{ "[::1]]:80", -EINVAL, NULL },
	{ "[[::1]:80", -EINVAL, NULL },
	{ "[]:80", -EINVAL, NULL },
	{ "[::1]:x", -EINVAL, NULL },
};

static void test_host_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof host_cases / sizeof host_cases[0]; i++) {
		const struct host_case *c = &host_cases[i];
		char out[64];
		memset(out, 'Z', sizeof out);
		int ret = cfs_host_normalize(c->in, out, sizeof out);
		if (ret != c->ret)
			fail_msg("host case %zu \"%s\": got %d, want %d", i, c->in, ret, c->ret);
		if (c->ret == 0) {
			assert_string_equal(out, c->out);
			/* normalising twice changes nothing */
			char again[64];
			assert_int_equal(cfs_host_normalize(out, again, sizeof again), 0);
			assert_string_equal(again, out);
		} else {
			assert_string_equal(out, "");
		}
	}
}

static void test_host_out_len(void **state)
{
	(void)state;
	char out[12];
	/* "example.com" needs 12 bytes with its NUL; the default port does not count */
	assert_int_equal(cfs_host_normalize("Example.com:443", out, 12), 0);
	assert_string_equal(out, "example.com");
	assert_int_equal(cfs_host_normalize("example.com", out, 11), -ENAMETOOLONG);
	assert_int_equal(cfs_host_normalize("example.com", out, 0), -ENAMETOOLONG);
	assert_int_equal(cfs_host_normalize("example.com:81", out, sizeof out), -ENAMETOOLONG);
	assert_int_equal(cfs_host_normalize(NULL, out, sizeof out), -EINVAL);
	assert_int_equal(cfs_host_normalize("a", NULL, 0), -EINVAL);
}

#define BODY0 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

static void test_canonical_exact(void **state)
{
	(void)state;
	struct cfs_buf b = CFS_BUF_INIT;
	assert_int_equal(cfs_canonical_string("1767225600000", "00112233445566778899aabbccddeeff",
					      "post", "/v1/file?path=a%20b%2Fc&x=1",
					      " Agent-7.Example:443 ", BODY0, &b), 0);
	const char *want = "1767225600000\n"
			   "00112233445566778899aabbccddeeff\n"
			   "POST\n"
			   "/v1/file?path=a%20b%2Fc&x=1\n"
			   "agent-7.example\n"
			   BODY0;
	assert_int_equal(b.len, strlen(want));
	assert_memory_equal(b.data, want, b.len);
	assert_int_equal(b.data[b.len], '\0');
	cfs_buf_free(&b);
}

/* Appends after what the buffer already holds; keeps the target as sent
 * (case, percent-encoding) and upper-cases only the method. */
static void test_canonical_appends(void **state)
{
	(void)state;
	struct cfs_buf b = CFS_BUF_INIT;
	assert_int_equal(cfs_buf_puts(&b, "prefix:"), 0);
	assert_int_equal(cfs_canonical_string("1", "n", "Get", "/V1/Health?A=%2f", "[::1]:8080",
					      "abc", &b), 0);
	assert_string_equal(b.data, "prefix:1\nn\nGET\n/V1/Health?A=%2f\n[::1]:8080\nabc");
	cfs_buf_free(&b);
}

static void test_canonical_rejects(void **state)
{
	(void)state;
	struct cfs_buf b = CFS_BUF_INIT;
	assert_int_equal(cfs_buf_puts(&b, "keep"), 0);
	const char *ok[6] = { "1", "n", "GET", "/v1/health", "h", BODY0 };
	const char *bad[] = { "a\nb", "a\rb", "\n", "x\r\n" };
	for (int field = 0; field < 6; field++) {
		for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
			const char *f[6];
			memcpy(f, ok, sizeof f);
			f[field] = bad[k];
			assert_int_equal(cfs_canonical_string(f[0], f[1], f[2], f[3], f[4], f[5], &b),
					 -EINVAL);
			assert_string_equal(b.data, "keep");
		}
		const char *f[6];
		memcpy(f, ok, sizeof f);
		f[field] = NULL;
		assert_int_equal(cfs_canonical_string(f[0], f[1], f[2], f[3], f[4], f[5], &b), -EINVAL);
	}
	/* an unusable host fails the whole string */
	assert_int_equal(cfs_canonical_string("1", "n", "GET", "/", "a@b", BODY0, &b), -EINVAL);
	assert_int_equal(cfs_canonical_string("1", "n", "GET", "/", "", BODY0, &b), -EINVAL);
	assert_int_equal(cfs_canonical_string("1", "n", "GET", "/", "h", BODY0, NULL), -EINVAL);
	assert_string_equal(b.data, "keep");
	assert_int_equal(b.len, 4);
	cfs_buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_host_table),
		cmocka_unit_test(test_host_out_len),
		cmocka_unit_test(test_canonical_exact),
		cmocka_unit_test(test_canonical_appends),
		cmocka_unit_test(test_canonical_rejects),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
