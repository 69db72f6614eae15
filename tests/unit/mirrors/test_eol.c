/* test_eol.c — text detection and the streaming CRLF→LF normaliser. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "mirrors/eol.h"

static void test_text(void **state)
{
	(void)state;
	assert_true(eol_is_text("hello\r\nworld\n", 13, true));
	assert_true(eol_is_text("", 0, true));
	assert_true(eol_is_text("caf\xc3\xa9", 5, true));
	assert_false(eol_is_text("a\0b", 3, true));
	assert_false(eol_is_text("\xff\xfe", 2, true));
	assert_false(eol_is_text("\xc0\x80", 2, true));       /* overlong */
	assert_false(eol_is_text("\xed\xa0\x80", 3, true));   /* surrogate */
	/* a sequence cut by the sniff window is fine, cut by the end is not */
	assert_true(eol_is_text("ab\xc3", 3, false));
	assert_false(eol_is_text("ab\xc3", 3, true));
	/* only the first 8 KiB count */
	static char big[EOL_SNIFF + 10];
	memset(big, 'a', sizeof big);
	big[EOL_SNIFF + 5] = '\0';
	assert_true(eol_is_text(big, sizeof big, false));
}

static size_t norm(const char *in, size_t len, size_t block, char *out)
{
	struct eol_state st = { 0 };
	size_t o = 0;
	for (size_t i = 0; i < len; i += block)
		o += eol_feed(&st, in + i, len - i < block ? len - i : block, out + o);
	o += eol_finish(&st, out + o);
	return o;
}

static void test_normalise(void **state)
{
	(void)state;
	const char *in = "a\r\nb\rc\r\r\nd\r";
	const char *want = "a\nb\rc\r\nd\r";
	char out[64];
	/* every block size, so the held '\r' crosses every boundary */
	for (size_t bs = 1; bs <= strlen(in); bs++) {
		size_t n = norm(in, strlen(in), bs, out);
		assert_int_equal(n, strlen(want));
		assert_memory_equal(out, want, n);
	}
	assert_int_equal(norm("", 0, 1, out), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_text),
		cmocka_unit_test(test_normalise),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
