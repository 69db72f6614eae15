/* The replay cache on its own: bound, eviction order, expiry, threads. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "wire/internal.h"

static void nonce_of(unsigned i, uint8_t n[16])
{
	memset(n, 0, 16);
	memcpy(n, &i, sizeof i);
}

static int claim(struct wire_nonce_cache *c, const char *env, unsigned i, int64_t exp, int64_t now)
{
	uint8_t n[16];
	nonce_of(i, n);
	return wire_nonce_claim(c, env, n, exp, now);
}

static void test_claim_once(void **state)
{
	(void)state;
	struct wire_nonce_cache *c = wire_nonce_cache_new(4);
	assert_int_equal(claim(c, "a", 1, 100, 0), 0);
	assert_int_equal(claim(c, "a", 1, 100, 50), -EALREADY);
	assert_int_equal(claim(c, "b", 1, 100, 50), 0);    /* keyed by env too */
	assert_int_equal(claim(c, "ab", 1, 100, 50), 0);   /* not by a prefix */
	assert_int_equal(claim(c, "a", 2, 100, 50), 0);
	assert_int_equal(wire_nonce_cache_size(c), 4);
	/* Live through its expiry instant, free after. */
	assert_int_equal(claim(c, "a", 1, 100, 100), -EALREADY);
	assert_int_equal(claim(c, "a", 1, 300, 101), 0);
	assert_int_equal(claim(c, "a", 1, 300, 200), -EALREADY);
	wire_nonce_cache_free(c);
}

static void test_bound_evicts_oldest(void **state)
{
	(void)state;
	struct wire_nonce_cache *c = wire_nonce_cache_new(3);
	for (unsigned i = 0; i < 3; i++)
		assert_int_equal(claim(c, "e", i, 1000, 0), 0);
	assert_int_equal(claim(c, "e", 3, 1000, 0), 0);    /* pushes out 0 */
	assert_int_equal(wire_nonce_cache_size(c), 3);
	assert_int_equal(claim(c, "e", 1, 1000, 0), -EALREADY);
	assert_int_equal(claim(c, "e", 2, 1000, 0), -EALREADY);
	assert_int_equal(claim(c, "e", 3, 1000, 0), -EALREADY);
	assert_int_equal(claim(c, "e", 0, 1000, 0), 0);    /* was evicted; pushes out 1 */
	assert_int_equal(claim(c, "e", 1, 1000, 0), 0);
	wire_nonce_cache_free(c);
}

static void test_expired_trimmed(void **state)
{
	(void)state;
	struct wire_nonce_cache *c = wire_nonce_cache_new(100);
	for (unsigned i = 0; i < 50; i++)
		assert_int_equal(claim(c, "e", i, 10, 0), 0);
	assert_int_equal(wire_nonce_cache_size(c), 50);
	/* The next claim after they expired clears them out. */
	assert_int_equal(claim(c, "e", 1000, 100, 11), 0);
	assert_int_equal(wire_nonce_cache_size(c), 1);
	wire_nonce_cache_free(c);
}

static void test_many_entries(void **state)
{
	(void)state;
	struct wire_nonce_cache *c = wire_nonce_cache_new(0);   /* default size */
	for (unsigned i = 0; i < 20000; i++)
		assert_int_equal(claim(c, "env", i, 1000, 0), 0);
	for (unsigned i = 0; i < 20000; i += 97)
		assert_int_equal(claim(c, "env", i, 1000, 1), -EALREADY);
	assert_int_equal(wire_nonce_cache_size(c), 20000);
	wire_nonce_cache_free(c);
}

struct racer {
	struct wire_nonce_cache *c;
	int won;
};

static void *race(void *arg)
{
	struct racer *r = arg;
	for (unsigned i = 0; i < 2000; i++)
		if (claim(r->c, "shared", i, 1000, 0) == 0)
			r->won++;
	return NULL;
}

static void test_threads_claim_each_once(void **state)
{
	(void)state;
	struct wire_nonce_cache *c = wire_nonce_cache_new(10000);
	pthread_t t[4];
	struct racer r[4];
	for (int i = 0; i < 4; i++) {
		r[i] = (struct racer){ .c = c };
		assert_int_equal(pthread_create(&t[i], NULL, race, &r[i]), 0);
	}
	int total = 0;
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		total += r[i].won;
	}
	assert_int_equal(total, 2000);
	wire_nonce_cache_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_claim_once),
		cmocka_unit_test(test_bound_evicts_oldest),
		cmocka_unit_test(test_expired_trimmed),
		cmocka_unit_test(test_many_entries),
		cmocka_unit_test(test_threads_claim_each_once),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
