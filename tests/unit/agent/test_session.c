/* test_session.c — write sessions: open, chunk writes with their hash, reads
 * and truncate inside the session, commit (hash checked, atomic, attributes
 * kept), abort, hard links, reaping. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "auth/crypto.h"
#include "helpers.h"

struct fx {
	char *root;
	struct agent *a;
	struct th_reply r;
	char sid[40];
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof *f);
	umask(0);
	f->root = th_mkdtemp();
	chmod(f->root, 0755);
	th_write(f->root, "old", "0123456789");
	chmod(th_path(f->root, "old"), 0640);
	f->a = th_agent(f->root, NULL, false);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	th_reply_free(&f->r);
	agent_free(f->a);
	th_rmrf(f->root);
	free(f->root);
	free(f);
	return 0;
}

static int call(struct fx *f, const char *method, const char *target, const void *body,
		size_t len)
{
	th_reply_free(&f->r);
	return th_call(f->a, method, target, body, len, &f->r);
}

static int callf(struct fx *f, const char *method, const void *body, size_t len,
		 const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static int callf(struct fx *f, const char *method, const void *body, size_t len,
		 const char *fmt, ...)
{
	char t[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(t, sizeof t, fmt, ap);
	va_end(ap);
	return call(f, method, t, body, len);
}

static void open_session(struct fx *f, const char *query)
{
	if (callf(f, "POST", NULL, 0, "/v1/file/open?%s", query) != 201)
		fail_msg("open %s: %d %s", query, f->r.status, f->r.body.data);
	snprintf(f->sid, sizeof f->sid, "%s", th_str(f->r.json, "session"));
	assert_int_equal(strlen(f->sid), 32);
}

static int write_chunk(struct fx *f, uint64_t off, const char *data, size_t len)
{
	char h[CFS_XXH128_HEX];
	cfs_xxh128_hex(data, len, h);
	return callf(f, "PUT", data, len, "/v1/file/write?session=%s&offset=%llu&xxh128=%s", f->sid,
		     (unsigned long long)off, h);
}

static int count_tmp(struct fx *f)
{
	int n = 0;
	DIR *d = opendir(f->root);
	struct dirent *de;
	while (d && (de = readdir(d)))
		n += !strncmp(de->d_name, ".cloudfs-tmp-", 13);
	if (d)
		closedir(d);
	return n;
}

static void test_new_file(void **state)
{
	struct fx *f = *state;
	open_session(f, "path=new.txt&create=1&excl=1&mode=0604");
	assert_true(cJSON_IsTrue(th_get(f->r.json, "created")));
	assert_true(cJSON_IsFalse(th_get(f->r.json, "direct")));
	/* the name exists at once, empty, with its mode; the data waits */
	struct stat st;
	assert_int_equal(stat(th_path(f->root, "new.txt"), &st), 0);
	assert_int_equal(st.st_size, 0);
	assert_int_equal(st.st_mode & 07777, 0604);
	assert_int_equal(count_tmp(f), 0);   /* made at the first change */
	assert_int_equal(write_chunk(f, 0, "hello ", 6), 200);
	assert_int_equal(count_tmp(f), 1);
	assert_int_equal(write_chunk(f, 6, "world\n", 6), 200);
	assert_int_equal(th_int(f->r.json, "size"), 12);
	/* a chunk whose hash does not match is refused, nothing written */
	assert_int_equal(callf(f, "PUT", "XXXX", 4, "/v1/file/write?session=%s&offset=0&xxh128=%s",
			       f->sid, "00000000000000000000000000000000"), 400);
	assert_string_equal(th_str(f->r.json, "error"), "bad_hash");
	assert_int_equal(callf(f, "PUT", "x", 1, "/v1/file/write?session=%s&offset=0", f->sid),
			 400);
	/* reads inside the session see the session */
	assert_int_equal(callf(f, "GET", NULL, 0, "/v1/file/read?session=%s&offset=6&length=100",
			       f->sid), 200);
	assert_int_equal(f->r.body.len, 6);
	assert_memory_equal(f->r.body.data, "world\n", 6);
	assert_int_equal(callf(f, "GET", NULL, 0, "/v1/file/stat?session=%s", f->sid), 200);
	assert_int_equal(th_int(f->r.json, "stat.size"), 12);
	/* while plain reads still see the old content */
	assert_int_equal(call(f, "GET", "/v1/file/read?path=new.txt", NULL, 0), 200);
	assert_int_equal(f->r.body.len, 0);
	/* commit with a wrong whole-file hash: refused, nothing changes */
	assert_int_equal(callf(f, "POST", NULL, 0, "/v1/file/commit?session=%s&xxh128=%s", f->sid,
			       "ffffffffffffffffffffffffffffffff"), 409);
	assert_string_equal(th_str(f->r.json, "error"), "bad_hash");
	stat(th_path(f->root, "new.txt"), &st);
	assert_int_equal(st.st_size, 0);
	/* the right one */
	char h[CFS_XXH128_HEX];
	cfs_xxh128_hex("hello world\n", 12, h);
	assert_int_equal(callf(f, "POST", NULL, 0, "/v1/file/commit?session=%s&xxh128=%s", f->sid,
			       h), 200);
	assert_string_equal(th_str(f->r.json, "xxh128"), h);
	char *c = th_read(f->root, "new.txt", NULL);
	assert_string_equal(c, "hello world\n");
	free(c);
	stat(th_path(f->root, "new.txt"), &st);
	assert_int_equal(st.st_mode & 07777, 0604);
	assert_int_equal(count_tmp(f), 0);
	/* the session is over */
	assert_int_equal(write_chunk(f, 0, "x", 1), 404);
	assert_string_equal(th_str(f->r.json, "error"), "no_session");
	/* excl on an existing file */
	assert_int_equal(call(f, "POST", "/v1/file/open?path=new.txt&create=1&excl=1", NULL, 0),
			 409);
	assert_string_equal(th_str(f->r.json, "errno"), "EEXIST");
	assert_int_equal(call(f, "POST", "/v1/file/open?path=nothere", NULL, 0), 404);
	assert_int_equal(call(f, "POST", "/v1/file/open?path=", NULL, 0), 400);
}

static void test_existing(void **state)
{
	struct fx *f = *state;
	struct stat before, after;
	stat(th_path(f->root, "old"), &before);
	if (geteuid() == 0)
		chown(th_path(f->root, "old"), 321, 654);
	open_session(f, "path=old");
	assert_int_equal(th_int(f->r.json, "size"), 10);   /* pre-filled */
	assert_int_equal(write_chunk(f, 2, "ab", 2), 200);
	assert_int_equal(callf(f, "POST", NULL, 0, "/v1/file/truncate?session=%s&size=6", f->sid),
			 200);
	assert_int_equal(th_int(f->r.json, "stat.size"), 6);
	assert_int_equal(callf(f, "POST", NULL, 0, "/v1/file/fsync?session=%s", f->sid), 200);
	assert_int_equal(callf(f, "POST", NULL, 0, "/v1/file/commit?session=%s", f->sid), 200);
	char *c = th_read(f->root, "old", NULL);
	assert_string_equal(c, "01ab45");
	free(c);
	stat(th_path(f->root, "old"), &after);
	assert_int_equal(after.st_mode & 07777, 0640);   /* mode and owner kept */
	if (geteuid() == 0) {
		assert_int_equal(after.st_uid, 321);
		assert_int_equal(after.st_gid, 654);
	}
	assert_true(after.st_ino != before.st_ino);      /* replaced atomically */
	/* truncate=1 starts empty */
	open_session(f, "path=old&truncate=1");
	assert_int_equal(th_int(f->r.json, "size"), 0);
	assert_int_equal(write_chunk(f, 0, "new", 3), 200);
	/* keep=1: committed and still open (fsync through the manager) */
	assert_int_equal(callf(f, "POST", NULL, 0, "/v1/file/commit?session=%s&keep=1", f->sid),
			 200);
	c = th_read(f->root, "old", NULL);
	assert_string_equal(c, "new");
	free(c);
	assert_int_equal(count_tmp(f), 0);   /* nothing lingers between commits */
	assert_int_equal(callf(f, "GET", NULL, 0, "/v1/file/read?session=%s", f->sid), 200);
	assert_int_equal(f->r.body.len, 3);
	assert_int_equal(write_chunk(f, 3, "er", 2), 200);
	assert_int_equal(callf(f, "POST", NULL, 0, "/v1/file/commit?session=%s", f->sid), 200);
	c = th_read(f->root, "old", NULL);
	assert_string_equal(c, "newer");
	free(c);
	assert_int_equal(count_tmp(f), 0);
	/* open(O_TRUNC) and close without a write: empty all the same */
	open_session(f, "path=old&truncate=1");
	assert_int_equal(callf(f, "GET", NULL, 0, "/v1/file/stat?session=%s", f->sid), 200);
	assert_int_equal(th_int(f->r.json, "stat.size"), 0);
	assert_int_equal(callf(f, "POST", NULL, 0, "/v1/file/commit?session=%s", f->sid), 200);
	struct stat st;
	stat(th_path(f->root, "old"), &st);
	assert_int_equal(st.st_size, 0);
	/* an open for writing with no change leaves the file alone */
	th_write(f->root, "old", "same");
	stat(th_path(f->root, "old"), &before);
	open_session(f, "path=old");
	assert_int_equal(callf(f, "POST", NULL, 0, "/v1/file/commit?session=%s", f->sid), 200);
	stat(th_path(f->root, "old"), &after);
	assert_int_equal(after.st_ino, before.st_ino);
	assert_int_equal(count_tmp(f), 0);
}

static void test_abort(void **state)
{
	struct fx *f = *state;
	open_session(f, "path=old");
	assert_int_equal(write_chunk(f, 0, "zzzz", 4), 200);
	assert_int_equal(count_tmp(f), 1);
	assert_int_equal(callf(f, "POST", NULL, 0, "/v1/file/abort?session=%s", f->sid), 200);
	assert_int_equal(count_tmp(f), 0);
	char *c = th_read(f->root, "old", NULL);
	assert_string_equal(c, "0123456789");
	free(c);
	assert_int_equal(callf(f, "POST", NULL, 0, "/v1/file/commit?session=%s", f->sid), 404);
	/* reaping */
	open_session(f, "path=old");
	assert_int_equal(agent_reap_sessions(f->a, 60000), 0);
	assert_int_equal(agent_reap_sessions(f->a, 0), 1);
	assert_int_equal(count_tmp(f), 0);
	assert_int_equal(write_chunk(f, 0, "x", 1), 404);
}

static void test_hard_link_and_rename(void **state)
{
	struct fx *f = *state;
	/* a file with two names stays one inode */
	link(th_path(f->root, "old"), th_path(f->root, "twin"));
	struct stat before, after;
	stat(th_path(f->root, "old"), &before);
	open_session(f, "path=old&truncate=1");
	assert_int_equal(write_chunk(f, 0, "both", 4), 200);
	assert_int_equal(callf(f, "POST", NULL, 0, "/v1/file/commit?session=%s", f->sid), 200);
	stat(th_path(f->root, "old"), &after);
	assert_int_equal(after.st_ino, before.st_ino);
	char *c = th_read(f->root, "twin", NULL);
	assert_string_equal(c, "both");
	free(c);
	unlink(th_path(f->root, "twin"));
	/* renamed while open: the data follows the inode, the old name stays free */
	open_session(f, "path=old&truncate=1");
	assert_int_equal(write_chunk(f, 0, "moved", 5), 200);
	rename(th_path(f->root, "old"), th_path(f->root, "elsewhere"));
	assert_int_equal(callf(f, "POST", NULL, 0, "/v1/file/commit?session=%s", f->sid), 200);
	c = th_read(f->root, "elsewhere", NULL);
	assert_string_equal(c, "moved");
	free(c);
	assert_int_equal(access(th_path(f->root, "old"), F_OK), -1);
	assert_int_equal(count_tmp(f), 0);
	/* unlinked while open: the session still reads and stats its content,
	 * and the commit never brings the name back */
	open_session(f, "path=elsewhere");
	assert_int_equal(write_chunk(f, 0, "M", 1), 200);
	unlink(th_path(f->root, "elsewhere"));
	assert_int_equal(callf(f, "GET", NULL, 0, "/v1/file/read?session=%s", f->sid), 200);
	assert_int_equal(f->r.body.len, 5);
	assert_memory_equal(f->r.body.data, "Moved", 5);
	assert_int_equal(callf(f, "GET", NULL, 0, "/v1/file/stat?session=%s", f->sid), 200);
	assert_int_equal(th_int(f->r.json, "stat.nlink"), 0);
	assert_int_equal(callf(f, "POST", NULL, 0, "/v1/file/commit?session=%s", f->sid), 200);
	assert_int_equal(access(th_path(f->root, "elsewhere"), F_OK), -1);
	assert_int_equal(count_tmp(f), 0);
}

static void test_big_chunks(void **state)
{
	struct fx *f = *state;
	size_t n = 3u << 20;
	char *buf = malloc(n);
	for (size_t i = 0; i < n; i++)
		buf[i] = (char)(i * 7 + i / 4096);
	open_session(f, "path=big&create=1");
	struct cfs_xxh128 *h = cfs_xxh128_new();
	for (int k = 0; k < 3; k++) {
		assert_int_equal(write_chunk(f, (uint64_t)k * n, buf, n), 200);
		cfs_xxh128_update(h, buf, n);
	}
	char hex[CFS_XXH128_HEX];
	cfs_xxh128_final_hex(h, hex);
	cfs_xxh128_free(h);
	assert_int_equal(callf(f, "POST", NULL, 0, "/v1/file/commit?session=%s&xxh128=%s", f->sid,
			       hex), 200);
	assert_int_equal(th_int(f->r.json, "stat.size"), 3 * (int64_t)n);
	/* read it back in 4 MiB pieces */
	assert_int_equal(call(f, "GET", "/v1/file/read?path=big&offset=4194304&length=4194304",
			      NULL, 0), 200);
	assert_int_equal(f->r.body.len, 4u << 20);
	assert_memory_equal(f->r.body.data, buf + ((4u << 20) - n), n * 2 - (4u << 20));
	free(buf);
}

static void test_identity(void **state)
{
	struct fx *f = *state;
	if (geteuid() != 0)
		skip();
	chmod(f->root, 0777);
	open_session(f, "path=mine&create=1&mode=0600&uid=1234&gid=5678");
	assert_int_equal(write_chunk(f, 0, "x", 1), 200);
	assert_int_equal(callf(f, "POST", NULL, 0, "/v1/file/commit?session=%s", f->sid), 200);
	struct stat st;
	stat(th_path(f->root, "mine"), &st);
	assert_int_equal(st.st_uid, 1234);
	assert_int_equal(st.st_gid, 5678);
	assert_int_equal(st.st_mode & 07777, 0600);
	/* another user may not open it for writing */
	call(f, "POST", "/v1/file/open?path=mine&uid=999&gid=999", NULL, 0);
	assert_int_equal(f->r.status, 403);
	assert_string_equal(th_str(f->r.json, "errno"), "EACCES");
	/* a file the caller may write, in a directory only root may write: the
	 * session still works (the temp file is ours), and the owner is kept */
	mkdir(th_path(f->root, "ro"), 0755);
	th_write(f->root, "ro/shared", "shared");
	chown(th_path(f->root, "ro/shared"), 1234, 5678);
	open_session(f, "path=ro%2Fshared&uid=1234&gid=5678");
	assert_int_equal(write_chunk(f, 0, "SH", 2), 200);
	assert_int_equal(callf(f, "POST", NULL, 0, "/v1/file/commit?session=%s", f->sid), 200);
	char *c = th_read(f->root, "ro/shared", NULL);
	assert_string_equal(c, "SHared");
	free(c);
	stat(th_path(f->root, "ro/shared"), &st);
	assert_int_equal(st.st_uid, 1234);
	/* a write by anyone but root drops set-user-ID (and set-group-ID with
	 * group execute), as a local write would; root's keeps them */
	chmod(th_path(f->root, "ro/shared"), 06777);
	open_session(f, "path=ro%2Fshared&uid=1234&gid=5678");
	assert_int_equal(write_chunk(f, 0, "x", 1), 200);
	assert_int_equal(callf(f, "POST", NULL, 0, "/v1/file/commit?session=%s", f->sid), 200);
	stat(th_path(f->root, "ro/shared"), &st);
	assert_int_equal(st.st_mode & 07777, 0777);
	chmod(th_path(f->root, "ro/shared"), 06777);
	open_session(f, "path=ro%2Fshared&uid=0&gid=0");
	assert_int_equal(write_chunk(f, 0, "y", 1), 200);
	assert_int_equal(callf(f, "POST", NULL, 0, "/v1/file/commit?session=%s", f->sid), 200);
	stat(th_path(f->root, "ro/shared"), &st);
	assert_int_equal(st.st_mode & 07777, 06777);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_new_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_existing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_abort, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hard_link_and_rename, setup, teardown),
		cmocka_unit_test_setup_teardown(test_big_chunks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_identity, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
