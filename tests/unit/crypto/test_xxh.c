/* XXH3-128: known values (as printed by `xxhsum -H2`), streaming against
 * one-shot, and hashing a file through a descriptor. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth/crypto.h"

/* Deterministic test bytes: b[i] = i * mul + add (mod 256). */
static uint8_t *pattern(size_t n, unsigned mul, unsigned add)
{
	uint8_t *b = malloc(n ? n : 1);
	assert_non_null(b);
	for (size_t i = 0; i < n; i++)
		b[i] = (uint8_t)(i * mul + add);
	return b;
}

static void test_known_values(void **state)
{
	(void)state;
	char hex[CFS_XXH128_HEX];
	cfs_xxh128_hex("", 0, hex);
	assert_string_equal(hex, "99aa06d3014798d86001c324468d497f");
	cfs_xxh128_hex(NULL, 0, hex);
	assert_string_equal(hex, "99aa06d3014798d86001c324468d497f");
	cfs_xxh128_hex("a", 1, hex);
	assert_string_equal(hex, "a96faf705af16834e6c632b61e964e1f");
	cfs_xxh128_hex("abc", 3, hex);
	assert_string_equal(hex, "06b05ab6733a618578af5f94892f3950");
	cfs_xxh128_hex("0123456789abcdef0123", 20, hex);
	assert_string_equal(hex, "0caafb495a80ee1f5503cbec7a6eefe5");
	const char *fox = "The quick brown fox jumps over the lazy dog";
	cfs_xxh128_hex(fox, strlen(fox), hex);
	assert_string_equal(hex, "ddd650205ca3e7fa24a1cc2e3a8a7651");

	uint8_t *b = pattern(200, 131, 3);
	cfs_xxh128_hex(b, 200, hex);
	assert_string_equal(hex, "5542dcf606d606b1ba639eeaa4e077b6");
	free(b);
	b = pattern(1000, 31, 7);
	cfs_xxh128_hex(b, 1000, hex);
	assert_string_equal(hex, "f534f51e82a81d29989765d0ea7a5ecd");
	free(b);
}

/* Streaming in chunks of every odd size gives the one-shot digest, across
 * the lengths where XXH3 changes strategy (16, 128, 240, its 1 KiB stripe
 * blocks and internal buffer). */
static void test_streaming(void **state)
{
	(void)state;
	const size_t lens[] = { 0, 1, 3, 4, 8, 9, 16, 17, 128, 129, 240, 241, 1000, 1024, 4097, 70001 };
	const size_t chunks[] = { 1, 3, 7, 13, 63, 255, 257, 1023, 4099 };
	uint8_t *b = pattern(70001, 17, 5);
	for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
		char want[CFS_XXH128_HEX];
		cfs_xxh128_hex(b, lens[i], want);
		for (size_t j = 0; j < sizeof chunks / sizeof chunks[0]; j++) {
			struct cfs_xxh128 *h = cfs_xxh128_new();
			assert_non_null(h);
			for (size_t off = 0; off < lens[i]; off += chunks[j]) {
				size_t n = lens[i] - off < chunks[j] ? lens[i] - off : chunks[j];
				assert_int_equal(cfs_xxh128_update(h, b + off, n), 0);
				assert_int_equal(cfs_xxh128_update(h, NULL, 0), 0);
			}
			char got[CFS_XXH128_HEX];
			cfs_xxh128_final_hex(h, got);
			assert_string_equal(got, want);
			cfs_xxh128_free(h);
		}
	}
	free(b);
	cfs_xxh128_free(NULL);
}

/* A final leaves the state usable: more data may follow. */
static void test_final_then_more(void **state)
{
	(void)state;
	struct cfs_xxh128 *h = cfs_xxh128_new();
	char hex[CFS_XXH128_HEX];
	assert_int_equal(cfs_xxh128_update(h, "a", 1), 0);
	cfs_xxh128_final_hex(h, hex);
	assert_string_equal(hex, "a96faf705af16834e6c632b61e964e1f");
	assert_int_equal(cfs_xxh128_update(h, "bc", 2), 0);
	cfs_xxh128_final_hex(h, hex);
	cfs_xxh128_final_hex(h, hex);
	assert_string_equal(hex, "06b05ab6733a618578af5f94892f3950");
	assert_int_equal(cfs_xxh128_update(h, NULL, 1), -EINVAL);
	assert_int_equal(cfs_xxh128_update(NULL, "a", 1), -EINVAL);
	cfs_xxh128_free(h);
}

/* An anonymous temporary file holding data, its offset at the end. */
static FILE *temp_file(const void *data, size_t n)
{
	FILE *f = tmpfile();
	assert_non_null(f);
	assert_int_equal(write(fileno(f), data, n), (ssize_t)n);
	return f;
}

static void test_fd(void **state)
{
	(void)state;
	/* larger than the read chunk, not a multiple of it */
	size_t n = 600 * 1024 + 13;
	uint8_t *b = pattern(n, 29, 11);
	char want[CFS_XXH128_HEX], got[CFS_XXH128_HEX];
	cfs_xxh128_hex(b, n, want);

	FILE *f = temp_file(b, n);
	int fd = fileno(f);
	off_t before = lseek(fd, 0, SEEK_CUR);
	assert_int_equal(before, (off_t)n);
	assert_int_equal(cfs_xxh128_fd(fd, got), 0);
	assert_string_equal(got, want);
	/* the descriptor's offset is untouched */
	assert_int_equal(lseek(fd, 0, SEEK_CUR), before);
	fclose(f);

	f = temp_file("abc", 3);
	assert_int_equal(cfs_xxh128_fd(fileno(f), got), 0);
	assert_string_equal(got, "06b05ab6733a618578af5f94892f3950");
	fclose(f);

	f = temp_file("", 0);
	assert_int_equal(cfs_xxh128_fd(fileno(f), got), 0);
	assert_string_equal(got, "99aa06d3014798d86001c324468d497f");
	fclose(f);

	assert_int_equal(cfs_xxh128_fd(-1, got), -EBADF);
	int p[2];
	assert_int_equal(pipe(p), 0);
	assert_int_equal(cfs_xxh128_fd(p[0], got), -ESPIPE);
	close(p[0]);
	close(p[1]);
	free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_known_values),
		cmocka_unit_test(test_streaming),
		cmocka_unit_test(test_final_then_more),
		cmocka_unit_test(test_fd),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
