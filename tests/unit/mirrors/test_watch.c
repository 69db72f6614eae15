/* test_watch.c — the agent's change watch (GET /v1/watch, /v1/changes):
 * creations, writes, removals and renames reported below the watched
 * directory, new and moved-in directories watched with what they hold,
 * temp and conflict names left out, cursors that only move forward, the
 * long-poll, the overflow answer, unknown and malformed cursors, shared
 * watches and the limits. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "../agent/helpers.h"
#include "agent/mirror_api.h"
#include "core/util.h"

struct fx {
	char *root;
	struct agent *a;
	struct th_reply r;
};

/* What changes calls answered, gathered over several calls. */
struct seen {
	char *v[4096];
	int n;
	bool overflow;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof *f);
	f->root = th_mkdtemp();
	mkdir(th_path(f->root, "w"), 0755);
	f->a = th_agent(f->root, NULL, false);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	th_reply_free(&f->r);
	agent_mirror_release(f->a);
	agent_free(f->a);
	th_rmrf(f->root);
	free(f->root);
	free(f);
	return 0;
}

static int call(struct fx *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int call(struct fx *f, const char *fmt, ...)
{
	char target[8192];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(target, sizeof target, fmt, ap);
	va_end(ap);
	th_reply_free(&f->r);
	return th_call(f->a, "GET", target, NULL, 0, &f->r);
}

/* Register path; the cursor, malloc'ed. */
static char *watch(struct fx *f, const char *path)
{
	assert_int_equal(call(f, "/v1/watch?path=%s", path), 200);
	const char *c = th_str(f->r.json, "cursor");
	assert_non_null(c);
	return strdup(c);
}

static void seen_free(struct seen *s)
{
	for (int i = 0; i < s->n; i++)
		free(s->v[i]);
	memset(s, 0, sizeof *s);
}

static bool has(const struct seen *s, const char *p)
{
	for (int i = 0; i < s->n; i++)
		if (!strcmp(s->v[i], p))
			return true;
	return false;
}

/* One changes call from *cursor; its paths added to s, *cursor moved on. */
static void poll_once(struct fx *f, char **cursor, int timeout, struct seen *s)
{
	assert_int_equal(call(f, "/v1/changes?cursor=%s&timeout=%d", *cursor, timeout), 200);
	const cJSON *e, *paths = th_get(f->r.json, "paths");
	assert_true(cJSON_IsArray(paths));
	cJSON_ArrayForEach(e, paths) {
		assert_true(cJSON_IsString(e));
		if (!has(s, e->valuestring) && s->n < 4096)
			s->v[s->n++] = strdup(e->valuestring);
	}
	const cJSON *o = th_get(f->r.json, "overflow");
	assert_true(cJSON_IsBool(o));
	s->overflow |= cJSON_IsTrue(o);
	free(*cursor);
	*cursor = strdup(th_str(f->r.json, "cursor"));
}

/* Poll until every path of want (NULL-terminated) was seen, at most 10 s. */
static void collect(struct fx *f, char **cursor, const char *const *want, struct seen *s)
{
	int64_t end = cfs_mono_ms() + 10000;
	for (;;) {
		bool all = true;
		for (const char *const *w = want; *w; w++)
			all &= has(s, *w);
		if (all)
			return;
		if (cfs_mono_ms() > end) {
			for (const char *const *w = want; *w; w++)
				if (!has(s, *w))
					fprintf(stderr, "not seen: %s\n", *w);
			fail();
		}
		poll_once(f, cursor, 1, s);
	}
}

#define WANT(...) ((const char *const[]){ __VA_ARGS__, NULL })

/* Return once the reader handled every event so far: events come in order,
 * so a file made now in another watched directory shows after all of them. */
static void settle(struct fx *f)
{
	static int n;
	char nm[32];
	mkdir(th_path(f->root, "sync"), 0755);
	char *c = watch(f, "sync");
	snprintf(nm, sizeof nm, "s%d", ++n);
	th_write(th_path(f->root, "sync"), nm, "");
	struct seen s = { 0 };
	collect(f, &c, WANT(nm), &s);
	seen_free(&s);
	free(c);
}

static void test_cursor(void **state)
{
	struct fx *f = *state;
	char *c = watch(f, "w");
	/* token.id.seq */
	const char *d1 = strchr(c, '.');
	assert_non_null(d1);
	assert_int_equal(d1 - c, 16);
	assert_non_null(strchr(d1 + 1, '.'));
	char *c2 = watch(f, ".");
	assert_string_not_equal(c, c2);
	char *c3 = watch(f, "");
	assert_string_equal(c2, c3);      /* "" and "." are the same directory */
	free(c);
	free(c2);
	free(c3);
	/* only GET */
	th_reply_free(&f->r);
	assert_int_equal(th_call(f->a, "POST", "/v1/watch?path=w", NULL, 0, &f->r), 405);
}

static void test_file_changes(void **state)
{
	struct fx *f = *state;
	char *c = watch(f, "w");
	struct seen s = { 0 };
	th_write(f->root, "w/a.txt", "one");
	collect(f, &c, WANT("a.txt"), &s);
	seen_free(&s);

	int fd = open(th_path(f->root, "w/a.txt"), O_WRONLY | O_APPEND);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "two", 3), 3);
	close(fd);
	collect(f, &c, WANT("a.txt"), &s);
	seen_free(&s);

	chmod(th_path(f->root, "w/a.txt"), 0600);
	collect(f, &c, WANT("a.txt"), &s);
	seen_free(&s);

	th_write(f->root, "w/b", "b");
	rename(th_path(f->root, "w/b"), th_path(f->root, "w/c"));
	collect(f, &c, WANT("b", "c"), &s);
	seen_free(&s);

	unlink(th_path(f->root, "w/a.txt"));
	collect(f, &c, WANT("a.txt"), &s);
	assert_false(s.overflow);
	seen_free(&s);

	/* nothing happened since: an empty answer at once */
	int64_t t0 = cfs_mono_ms();
	poll_once(f, &c, 0, &s);
	assert_true(cfs_mono_ms() - t0 < 500);
	assert_int_equal(s.n, 0);
	assert_false(s.overflow);
	free(c);
}

static void test_subdir(void **state)
{
	struct fx *f = *state;
	char *c = watch(f, "w");
	struct seen s = { 0 };
	/* the file may land before the new directory is watched */
	mkdir(th_path(f->root, "w/d"), 0755);
	th_write(f->root, "w/d/f", "x");
	collect(f, &c, WANT("d", "d/f"), &s);
	seen_free(&s);
	/* and a deeper one, created later, is watched too */
	mkdir(th_path(f->root, "w/d/e"), 0755);
	th_write(f->root, "w/d/e/g", "x");
	collect(f, &c, WANT("d/e", "d/e/g"), &s);
	seen_free(&s);
	th_write(f->root, "w/d/e/h", "x");
	collect(f, &c, WANT("d/e/h"), &s);
	seen_free(&s);
	free(c);
}

static void test_existing_subdirs(void **state)
{
	struct fx *f = *state;
	mkdir(th_path(f->root, "w/x"), 0755);
	mkdir(th_path(f->root, "w/x/y"), 0755);
	symlink("..", th_path(f->root, "w/x/up"));   /* never followed */
	char *c = watch(f, "w");
	struct seen s = { 0 };
	th_write(f->root, "w/x/y/z", "x");
	collect(f, &c, WANT("x/y/z"), &s);
	seen_free(&s);
	free(c);
}

static void test_moved_dirs(void **state)
{
	struct fx *f = *state;
	mkdir(th_path(f->root, "out"), 0755);
	mkdir(th_path(f->root, "out/sub"), 0755);
	mkdir(th_path(f->root, "out/sub/deep"), 0755);
	th_write(f->root, "out/sub/deep/file", "x");
	mkdir(th_path(f->root, "w/d1"), 0755);
	char *c = watch(f, "w");
	struct seen s = { 0 };
	/* moved in from outside the watch: reported with its contents */
	assert_int_equal(rename(th_path(f->root, "out/sub"), th_path(f->root, "w/sub")), 0);
	collect(f, &c, WANT("sub", "sub/deep", "sub/deep/file"), &s);
	seen_free(&s);
	th_write(f->root, "w/sub/deep/new", "x");
	collect(f, &c, WANT("sub/deep/new"), &s);
	seen_free(&s);
	/* renamed inside: reported by its new name from then on */
	assert_int_equal(rename(th_path(f->root, "w/d1"), th_path(f->root, "w/d2")), 0);
	collect(f, &c, WANT("d1", "d2"), &s);
	seen_free(&s);
	th_write(f->root, "w/d2/x", "x");
	collect(f, &c, WANT("d2/x"), &s);
	assert_false(has(&s, "d1/x"));
	seen_free(&s);
	/* moved out: its later changes are none of ours */
	assert_int_equal(rename(th_path(f->root, "w/d2"), th_path(f->root, "out/d2")), 0);
	th_write(f->root, "out/d2/y", "x");
	th_write(f->root, "w/marker", "x");
	collect(f, &c, WANT("d2", "marker"), &s);
	assert_false(has(&s, "d2/y"));
	seen_free(&s);
	free(c);
}

static void test_hidden_names(void **state)
{
	struct fx *f = *state;
	char *c = watch(f, "w");
	struct seen s = { 0 };
	th_write(f->root, "w/.cloudfs-tmp-abc123", "x");
	th_write(f->root, "w/page.html.cloudfs-conflict-20260101-120000-web1", "x");
	rename(th_path(f->root, "w/.cloudfs-tmp-abc123"), th_path(f->root, "w/page.html"));
	th_write(f->root, "w/marker", "x");
	collect(f, &c, WANT("page.html", "marker"), &s);
	assert_int_equal(s.n, 2);
	seen_free(&s);
	free(c);
}

static void test_since(void **state)
{
	struct fx *f = *state;
	char *c = watch(f, "w");
	struct seen s = { 0 };
	th_write(f->root, "w/early", "x");
	/* the marker's events follow all of early's (create, write, close) */
	th_write(f->root, "w/m1", "x");
	collect(f, &c, WANT("early", "m1"), &s);
	seen_free(&s);
	th_write(f->root, "w/late", "x");
	collect(f, &c, WANT("late"), &s);
	assert_false(has(&s, "early"));
	seen_free(&s);
	/* the same cursor twice gives the same answer */
	char *old = watch(f, "w");
	th_write(f->root, "w/again", "x");
	settle(f);
	char *c1 = strdup(old), *c2 = strdup(old);
	poll_once(f, &c1, 0, &s);
	assert_true(has(&s, "again"));
	seen_free(&s);
	poll_once(f, &c2, 0, &s);
	assert_true(has(&s, "again"));
	assert_string_equal(c1, c2);
	seen_free(&s);
	free(old);
	free(c1);
	free(c2);
	free(c);
}

struct writer {
	const char *root;
	int delay_ms;
};

static void *write_later(void *arg)
{
	struct writer *w = arg;
	struct timespec ts = { .tv_sec = 0, .tv_nsec = w->delay_ms * 1000000L };
	nanosleep(&ts, NULL);
	/* one event only: moved in whole */
	th_write(w->root, "later", "x");
	rename(th_path(w->root, "later"), th_path(w->root, "w/later"));
	return NULL;
}

static void test_long_poll(void **state)
{
	struct fx *f = *state;
	char *c = watch(f, "w");
	struct writer wr = { .root = f->root, .delay_ms = 300 };
	pthread_t t;
	pthread_create(&t, NULL, write_later, &wr);
	int64_t t0 = cfs_mono_ms();
	struct seen s = { 0 };
	poll_once(f, &c, 2, &s);
	int64_t took = cfs_mono_ms() - t0;
	pthread_join(t, NULL);
	assert_true(took >= 250);
	assert_true(took < 1800);
	assert_true(has(&s, "later"));
	seen_free(&s);
	/* and with nothing happening it waits the whole timeout */
	t0 = cfs_mono_ms();
	poll_once(f, &c, 1, &s);
	took = cfs_mono_ms() - t0;
	assert_true(took >= 900 && took < 1800);
	assert_int_equal(s.n, 0);
	free(c);
}

struct poller {
	struct fx *f;
	const char *cursor;
	int status;
	int64_t took;
};

static void *poll_thread(void *arg)
{
	struct poller *p = arg;
	char target[256];
	struct th_reply r;
	snprintf(target, sizeof target, "/v1/changes?cursor=%s&timeout=5", p->cursor);
	int64_t t0 = cfs_mono_ms();
	p->status = th_call(p->f->a, "GET", target, NULL, 0, &r);
	p->took = cfs_mono_ms() - t0;
	th_reply_free(&r);
	return NULL;
}

static void test_waiter_cap(void **state)
{
	struct fx *f = *state;
	char *c = watch(f, "w");
	struct poller p[AGENT_WATCH_WAITERS];
	pthread_t t[AGENT_WATCH_WAITERS];
	for (int i = 0; i < AGENT_WATCH_WAITERS; i++) {
		p[i] = (struct poller){ .f = f, .cursor = c };
		pthread_create(&t[i], NULL, poll_thread, &p[i]);
	}
	usleep(400 * 1000);
	/* one more answers at once */
	int64_t t0 = cfs_mono_ms();
	struct seen s = { 0 };
	char *c2 = strdup(c);
	poll_once(f, &c2, 5, &s);
	assert_true(cfs_mono_ms() - t0 < 300);
	assert_int_equal(s.n, 0);
	/* a change wakes the others */
	th_write(f->root, "w/wake", "x");
	for (int i = 0; i < AGENT_WATCH_WAITERS; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(p[i].status, 200);
		assert_true(p[i].took < 4000);
	}
	free(c2);
	free(c);
}

static void test_bad_cursors(void **state)
{
	struct fx *f = *state;
	char *c = watch(f, "w");
	char tok[17];
	memcpy(tok, c, 16);
	tok[16] = '\0';
	const char *id = c + 17;
	int idn = atoi(id);

	/* malformed: 400 */
	const char *bad[] = { "", "x", "abc.1.0", "0123456789abcdeg.1.0", "0123456789ABCDEF.1.0",
			      "0123456789abcdef..0", "0123456789abcdef.1.", "0123456789abcdef.1",
			      "0123456789abcdef.1.0.0", "0123456789abcdef.-1.0",
			      "0123456789abcdef.1.+0", "0123456789abcdef.99999999999.0",
			      "0123456789abcdef.1.999999999999999999999", "0123456789abcdef.1.0%20" };
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		if (call(f, "/v1/changes?cursor=%s&timeout=0", bad[i]) != 400)
			fail_msg("cursor \"%s\": %d", bad[i], f->r.status);
	}
	assert_int_equal(call(f, "/v1/changes?timeout=0"), 400);
	assert_int_equal(call(f, "/v1/changes?cursor=%s&timeout=x", c), 400);
	assert_int_equal(call(f, "/v1/changes?cursor=%s&timeout=-1", c), 400);

	/* well-formed but unknown: 410 ESTALE */
	const char *other = tok[0] == '0' ? "1" : "0";
	assert_int_equal(call(f, "/v1/changes?cursor=%s%s.%d.0&timeout=0", other, tok + 1, idn), 410);
	assert_string_equal(th_str(f->r.json, "error"), "unknown_cursor");
	assert_string_equal(th_str(f->r.json, "errno"), "ESTALE");
	assert_int_equal(call(f, "/v1/changes?cursor=%s.%d.0&timeout=0", tok, idn + 7), 410);
	/* from the future */
	assert_int_equal(call(f, "/v1/changes?cursor=%s.%d.5&timeout=0", tok, idn), 410);
	/* the right one, and DESIGN.md's since= for it */
	assert_int_equal(call(f, "/v1/changes?cursor=%s&timeout=0", c), 200);
	assert_int_equal(call(f, "/v1/changes?since=%s&timeout=0", c), 200);
	/* a timeout over the cap is taken as the cap, not refused */
	th_write(f->root, "w/now", "x");
	assert_int_equal(call(f, "/v1/changes?cursor=%s&timeout=3600", c), 200);

	/* another agent (process) knows none of these */
	struct agent *b = th_agent(f->root, NULL, false);
	struct th_reply r;
	char target[128];
	snprintf(target, sizeof target, "/v1/changes?cursor=%s&timeout=0", c);
	assert_int_equal(th_call(b, "GET", target, NULL, 0, &r), 410);
	th_reply_free(&r);
	assert_int_equal(th_call(b, "GET", "/v1/watch?path=w", NULL, 0, &r), 200);
	assert_string_not_equal(th_str(r.json, "cursor"), c);
	assert_memory_not_equal(th_str(r.json, "cursor"), c, 16);   /* another token */
	th_reply_free(&r);
	assert_int_equal(th_call(b, "GET", target, NULL, 0, &r), 410);
	th_reply_free(&r);
	agent_mirror_release(b);
	agent_free(b);
	free(c);
}

static void test_bad_paths(void **state)
{
	struct fx *f = *state;
	th_write(f->root, "file", "x");
	assert_int_equal(call(f, "/v1/watch?path=../x"), 403);
	assert_string_equal(th_str(f->r.json, "error"), "outside_root");
	assert_int_equal(call(f, "/v1/watch?path=%%2Fetc"), 403);
	symlink("/", th_path(f->root, "abs"));
	symlink("../..", th_path(f->root, "w/up"));
	assert_int_equal(call(f, "/v1/watch?path=abs"), 403);
	assert_int_equal(call(f, "/v1/watch?path=w/up"), 403);
	assert_int_equal(call(f, "/v1/watch?path=file"), 400);
	assert_string_equal(th_str(f->r.json, "errno"), "ENOTDIR");
	assert_int_equal(call(f, "/v1/watch?path=nope"), 404);
	assert_int_equal(call(f, "/v1/watch?path=w//x"), 400);
	assert_int_equal(call(f, "/v1/watch"), 400);
}

static void test_overflow(void **state)
{
	struct fx *f = *state;
	char *c = watch(f, "w");
	for (int i = 0; i < 1100; i++) {
		char nm[32];
		snprintf(nm, sizeof nm, "w/f%04d", i);
		th_write(f->root, nm, "");
	}
	settle(f);
	assert_int_equal(call(f, "/v1/changes?cursor=%s&timeout=1", c), 200);
	assert_true(cJSON_IsTrue(th_get(f->r.json, "overflow")));
	assert_int_equal(cJSON_GetArraySize(th_get(f->r.json, "paths")), 1000);
	char *next = strdup(th_str(f->r.json, "cursor"));
	/* the answer's cursor is past all of it */
	struct seen s = { 0 };
	poll_once(f, &next, 0, &s);
	assert_int_equal(s.n, 0);
	assert_false(s.overflow);
	free(next);
	free(c);
}

static void test_ring_overflow(void **state)
{
	struct fx *f = *state;
	char *c = watch(f, "w");
	/* more distinct paths than the ring holds: an old cursor overflows */
	for (int i = 0; i < 4200; i++) {
		char nm[32];
		snprintf(nm, sizeof nm, "w/r%04d", i);
		th_write(f->root, nm, "");
	}
	settle(f);
	assert_int_equal(call(f, "/v1/changes?cursor=%s&timeout=1", c), 200);
	assert_true(cJSON_IsTrue(th_get(f->r.json, "overflow")));
	/* from the answer's cursor, rewrites of evicted and of delivered paths show */
	char *next = strdup(th_str(f->r.json, "cursor"));
	th_write(f->root, "w/r0000", "again");
	th_write(f->root, "w/r4199", "again");
	struct seen s = { 0 };
	collect(f, &next, WANT("r0000", "r4199"), &s);
	assert_false(s.overflow);
	seen_free(&s);
	free(next);
	free(c);
}

static void test_round_robin_writes(void **state)
{
	struct fx *f = *state;
	char *c = watch(f, "w");
	/* 100 files written 50 times each take 100 slots, however interleaved */
	int fd[100];
	for (int i = 0; i < 100; i++) {
		char nm[32];
		snprintf(nm, sizeof nm, "w/rr%03d", i);
		fd[i] = open(th_path(f->root, nm), O_WRONLY | O_CREAT, 0644);
		assert_true(fd[i] >= 0);
	}
	for (int k = 0; k < 50; k++)
		for (int i = 0; i < 100; i++)
			assert_int_equal(write(fd[i], "x", 1), 1);
	for (int i = 0; i < 100; i++)
		close(fd[i]);
	th_write(f->root, "w/marker", "x");
	char *c0 = strdup(c);
	struct seen s = { 0 };
	collect(f, &c, WANT("rr000", "rr099", "marker"), &s);
	seen_free(&s);
	/* all of it in one answer from the start */
	poll_once(f, &c0, 0, &s);
	assert_int_equal(s.n, 101);
	assert_false(s.overflow);
	seen_free(&s);
	/* and a file written again after that shows again */
	th_write(f->root, "w/rr050", "y");
	collect(f, &c0, WANT("rr050"), &s);
	seen_free(&s);
	free(c0);
	free(c);
}

static void test_repeat_writes_one_slot(void **state)
{
	struct fx *f = *state;
	char *c = watch(f, "w");
	/* many writes to one file are one path, never an overflow */
	int fd = open(th_path(f->root, "w/big"), O_WRONLY | O_CREAT, 0644);
	assert_true(fd >= 0);
	for (int i = 0; i < 6000; i++)
		assert_int_equal(write(fd, "x", 1), 1);
	close(fd);
	th_write(f->root, "w/marker", "x");
	struct seen s = { 0 };
	collect(f, &c, WANT("big", "marker"), &s);
	assert_false(s.overflow);
	assert_int_equal(s.n, 2);
	seen_free(&s);
	free(c);
}

static void test_shared(void **state)
{
	struct fx *f = *state;
	mkdir(th_path(f->root, "w/d"), 0755);
	symlink("w/d", th_path(f->root, "ln"));
	char *c1 = watch(f, "w/d");
	char *c2 = watch(f, "w/d");
	char *c3 = watch(f, "ln");            /* the same directory by another name */
	/* token.id equal: one watch */
	size_t pre = (size_t)(strrchr(c1, '.') - c1);
	assert_memory_equal(c1, c2, pre + 1);
	assert_memory_equal(c1, c3, pre + 1);
	char *root = watch(f, "w");
	assert_memory_not_equal(c1, root, pre + 1);
	/* a change below both, each relative to its own directory */
	th_write(f->root, "w/d/x", "x");
	struct seen s = { 0 };
	collect(f, &c1, WANT("x"), &s);
	seen_free(&s);
	collect(f, &c2, WANT("x"), &s);
	seen_free(&s);
	collect(f, &root, WANT("d/x"), &s);
	seen_free(&s);
	/* dropping one of two overlapping watches keeps the other working */
	char *tmp = strdup(c1);
	assert_int_equal(agent_watch_expire(f->a, 0), 2);
	assert_int_equal(call(f, "/v1/changes?cursor=%s&timeout=0", tmp), 410);
	free(root);
	root = watch(f, "w");
	char *sub = watch(f, "w/d");
	/* drop w only: w/d keeps its inotify watch */
	usleep(300 * 1000);
	free(sub);
	sub = watch(f, "w/d");   /* used just now */
	assert_int_equal(agent_watch_expire(f->a, 150), 1);
	th_write(f->root, "w/d/y", "x");
	collect(f, &sub, WANT("y"), &s);
	seen_free(&s);
	assert_int_equal(call(f, "/v1/changes?cursor=%s&timeout=0", root), 410);
	free(tmp);
	free(sub);
	free(root);
	free(c1);
	free(c2);
	free(c3);
}

static void test_gone(void **state)
{
	struct fx *f = *state;
	mkdir(th_path(f->root, "w/g"), 0755);
	char *c = watch(f, "w/g");
	char *top = watch(f, "w");
	rmdir(th_path(f->root, "w/g"));
	int st = 200;
	for (int64_t end = cfs_mono_ms() + 5000; st == 200 && cfs_mono_ms() < end;)
		st = call(f, "/v1/changes?cursor=%s&timeout=1", c);
	assert_int_equal(st, 410);
	struct seen s = { 0 };
	collect(f, &top, WANT("g"), &s);
	seen_free(&s);
	/* watched again once it is back */
	mkdir(th_path(f->root, "w/g"), 0755);
	free(c);
	c = watch(f, "w/g");
	th_write(f->root, "w/g/back", "x");
	collect(f, &c, WANT("back"), &s);
	seen_free(&s);
	free(top);
	free(c);
}

static void test_limit(void **state)
{
	struct fx *f = *state;
	for (int i = 0; i <= AGENT_WATCH_MAX; i++) {
		char nm[32];
		snprintf(nm, sizeof nm, "w/%d", i);
		mkdir(th_path(f->root, nm), 0755);
		int st = call(f, "/v1/watch?path=%s", nm);
		assert_int_equal(st, i < AGENT_WATCH_MAX ? 200 : 503);
	}
	assert_string_equal(th_str(f->r.json, "error"), "too_many_watches");
	/* one already there is still shared */
	assert_int_equal(call(f, "/v1/watch?path=w/3"), 200);
	assert_int_equal(agent_watch_expire(f->a, 0), AGENT_WATCH_MAX);
	assert_int_equal(call(f, "/v1/watch?path=w/%d", AGENT_WATCH_MAX), 200);
}

static void test_not_utf8(void **state)
{
	struct fx *f = *state;
	char *c = watch(f, "w");
	th_write(f->root, "w/\xff", "x");
	/* the same cursor until it shows: base64 in paths_b64 */
	bool found = false;
	for (int64_t end = cfs_mono_ms() + 5000; !found && cfs_mono_ms() < end;) {
		assert_int_equal(call(f, "/v1/changes?cursor=%s&timeout=1", c), 200);
		const cJSON *e;
		cJSON_ArrayForEach(e, th_get(f->r.json, "paths_b64"))
			found |= !strcmp(e->valuestring, "/w==");
		assert_int_equal(cJSON_GetArraySize(th_get(f->r.json, "paths")), 0);
	}
	assert_true(found);
	free(c);
}

/* The highest descriptor in use below limit (tools running the test may keep
 * their own above it). */
static int max_fd(rlim_t limit)
{
	int m = -1;
	DIR *d = opendir("/proc/self/fd");
	if (!d)
		return -1;
	struct dirent *de;
	while ((de = readdir(d))) {
		int fd = atoi(de->d_name);
		if (de->d_name[0] != '.' && fd != dirfd(d) && (rlim_t)fd < limit && fd > m)
			m = fd;
	}
	closedir(d);
	return m;
}

static void test_not_watched(void **state)
{
	struct fx *f = *state;
	/* a directory that cannot be watched (here: out of descriptors) makes
	 * the first answer an overflow, so the manager compares everything */
	char *other = watch(f, ".");   /* the inotify instance and thread exist */
	mkdir(th_path(f->root, "w/a"), 0755);
	mkdir(th_path(f->root, "w/a/b"), 0755);
	mkdir(th_path(f->root, "w/a/b/c"), 0755);
	mkdir(th_path(f->root, "w/a/b/c/d"), 0755);
	settle(f);   /* the reader holds no descriptor of its own now */
	struct rlimit old, low;
	getrlimit(RLIMIT_NOFILE, &old);
	int n = max_fd(old.rlim_cur);
	if (n < 0)
		skip();
	/* fill the holes below n, so exactly four descriptors are left */
	int hole[256], nh = 0, fd;
	while (nh < 256 && (fd = dup(0)) >= 0 && fd < n)
		hole[nh++] = fd;
	if (fd >= n)
		close(fd);
	low = old;
	low.rlim_cur = (rlim_t)n + 5;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
	/* some tools running the test keep the limit to themselves: probe it */
	int probe[8], np = 0;
	while (np < 8 && (probe[np] = dup(0)) >= 0)
		np++;
	int got = np;
	while (np > 0)
		close(probe[--np]);
	if (got != 4) {
		setrlimit(RLIMIT_NOFILE, &old);
		while (nh > 0)
			close(hole[--nh]);
		free(other);
		skip();
	}
	int st = call(f, "/v1/watch?path=w");
	setrlimit(RLIMIT_NOFILE, &old);
	while (nh > 0)
		close(hole[--nh]);
	assert_int_equal(st, 200);
	char *c = strdup(th_str(f->r.json, "cursor"));
	assert_int_equal(call(f, "/v1/changes?cursor=%s&timeout=0", c), 200);
	assert_true(cJSON_IsTrue(th_get(f->r.json, "overflow")));
	/* once: the answer's cursor is past it */
	char *next = strdup(th_str(f->r.json, "cursor"));
	assert_int_equal(call(f, "/v1/changes?cursor=%s&timeout=0", next), 200);
	assert_false(cJSON_IsTrue(th_get(f->r.json, "overflow")));
	free(next);
	free(c);
	free(other);
}

static void test_root_watch(void **state)
{
	struct fx *f = *state;
	char *c = watch(f, ".");
	th_write(f->root, "top", "x");
	th_write(f->root, "w/inner", "x");
	struct seen s = { 0 };
	collect(f, &c, WANT("top", "w/inner"), &s);
	seen_free(&s);
	free(c);
}

int main(void)
{
	const struct CMUnitTest t[] = {
		cmocka_unit_test_setup_teardown(test_cursor, setup, teardown),
		cmocka_unit_test_setup_teardown(test_file_changes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_subdir, setup, teardown),
		cmocka_unit_test_setup_teardown(test_existing_subdirs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_moved_dirs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hidden_names, setup, teardown),
		cmocka_unit_test_setup_teardown(test_since, setup, teardown),
		cmocka_unit_test_setup_teardown(test_long_poll, setup, teardown),
		cmocka_unit_test_setup_teardown(test_waiter_cap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_cursors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_paths, setup, teardown),
		cmocka_unit_test_setup_teardown(test_overflow, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ring_overflow, setup, teardown),
		cmocka_unit_test_setup_teardown(test_round_robin_writes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_repeat_writes_one_slot, setup, teardown),
		cmocka_unit_test_setup_teardown(test_shared, setup, teardown),
		cmocka_unit_test_setup_teardown(test_gone, setup, teardown),
		cmocka_unit_test_setup_teardown(test_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_not_utf8, setup, teardown),
		cmocka_unit_test_setup_teardown(test_not_watched, setup, teardown),
		cmocka_unit_test_setup_teardown(test_root_watch, setup, teardown),
	};
	return cmocka_run_group_tests(t, NULL, NULL);
}
