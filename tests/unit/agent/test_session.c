/* test_session.c — write sessions: open, chunk writes with their hash, reads
 * and truncate inside the session, commit (hash checked, atomic, attributes
 * kept), abort, hard links, reaping; copies from another file into a
 * session (delta transfers); the listing's sweep of stale temp files. */
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
#include <xxhash.h>

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

static void commit_expect(struct fx *f, const void *content, size_t len)
{
	char h[CFS_XXH128_HEX];
	cfs_xxh128_hex(content, len, h);
	if (callf(f, "POST", NULL, 0, "/v1/file/commit?session=%s&xxh128=%s", f->sid, h) != 200)
		fail_msg("commit: %d %s", f->r.status, f->r.body.data);
	assert_string_equal(th_str(f->r.json, "xxh128"), h);
}

static void test_copy(void **state)
{
	struct fx *f = *state;
	th_write(f->root, "src", "ABCDEFGHIJ");
	open_session(f, "path=new.txt&create=1&truncate=1");
	/* nothing to copy changes nothing, and makes no temp file */
	assert_int_equal(callf(f, "POST", NULL, 0, "/v1/file/copy?session=%s&from=src&from_offset=0"
			       "&offset=0&length=0", f->sid), 200);
	assert_int_equal(th_int(f->r.json, "size"), 0);
	assert_int_equal(count_tmp(f), 0);
	/* past the end: the content grows as with write */
	assert_int_equal(callf(f, "POST", NULL, 0, "/v1/file/copy?session=%s&from=src&from_offset=2"
			       "&offset=3&length=4", f->sid), 200);
	assert_int_equal(th_int(f->r.json, "size"), 7);
	assert_int_equal(count_tmp(f), 1);
	assert_int_equal(write_chunk(f, 0, "xyz", 3), 200);
	/* with the bytes' XXH3-64 */
	char h[17];
	snprintf(h, sizeof h, "%016llx", (unsigned long long)XXH3_64bits("GHIJ", 4));
	assert_int_equal(callf(f, "POST", NULL, 0, "/v1/file/copy?session=%s&from=src&from_offset=6"
			       "&offset=7&length=4&xxh64=%s", f->sid, h), 200);
	assert_int_equal(th_int(f->r.json, "size"), 11);
	/* a wrong one: refused, nothing written */
	assert_int_equal(callf(f, "POST", NULL, 0, "/v1/file/copy?session=%s&from=src&from_offset=0"
			       "&offset=0&length=4&xxh64=%s", f->sid, h), 400);
	assert_string_equal(th_str(f->r.json, "error"), "bad_hash");
	assert_string_equal(th_str(f->r.json, "errno"), "EIO");
	assert_string_equal(th_str(f->r.json, "expected"), h);
	/* a source shorter than from_offset + length */
	assert_int_equal(callf(f, "POST", NULL, 0, "/v1/file/copy?session=%s&from=src&from_offset=8"
			       "&offset=0&length=3", f->sid), 409);
	assert_string_equal(th_str(f->r.json, "error"), "short_source");
	assert_string_equal(th_str(f->r.json, "errno"), "EIO");
	assert_int_equal(callf(f, "POST", NULL, 0, "/v1/file/copy?session=%s&from=src&from_offset=11"
			       "&offset=0&length=0", f->sid), 409);
	/* malformed requests */
	static const char *const bad[] = {
		"from=src&from_offset=0&offset=0",
		"from=src&offset=0&length=1",
		"from=src&from_offset=0&length=1",
		"from=src&from_offset=0&offset=0&length=1073741825",
		"from=src&from_offset=9223372036854775807&offset=0&length=1",
		"from=src&from_offset=0&offset=0&length=1&xxh64=123",
		"from=src&from_offset=0&offset=0&length=1&xxh64=zzzzzzzzzzzzzzzz",
		"from_offset=0&offset=0&length=1",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		assert_int_equal(callf(f, "POST", NULL, 0, "/v1/file/copy?session=%s&%s", f->sid,
				       bad[i]), 400);
		assert_string_equal(th_str(f->r.json, "error"), "bad_request");
	}
	assert_int_equal(callf(f, "GET", NULL, 0, "/v1/file/copy?session=%s&from=src&from_offset=0"
			       "&offset=0&length=1", f->sid), 405);
	/* sources are confined and must be regular files, the last name not followed */
	mkdir(th_path(f->root, "dir"), 0755);
	symlink("src", th_path(f->root, "link"));
	mkfifo(th_path(f->root, "fifo"), 0644);
	static const struct { const char *from; int status; const char *err; } src[] = {
		{ "..%2Fx", 403, "EACCES" }, { "%2Fetc%2Fpasswd", 403, "EACCES" },
		{ "dir", 400, "EISDIR" }, { "link", 400, "EINVAL" }, { "fifo", 400, "EINVAL" },
		{ "missing", 404, "ENOENT" },
	};
	for (size_t i = 0; i < sizeof src / sizeof src[0]; i++) {
		assert_int_equal(callf(f, "POST", NULL, 0, "/v1/file/copy?session=%s&from=%s"
				       "&from_offset=0&offset=0&length=1", f->sid, src[i].from),
				 src[i].status);
		assert_string_equal(th_str(f->r.json, "errno"), src[i].err);
	}
	/* the session is fine after all these */
	commit_expect(f, "xyzCDEFGHIJ", 11);
	char *c = th_read(f->root, "new.txt", NULL);
	assert_string_equal(c, "xyzCDEFGHIJ");
	free(c);
	assert_int_equal(count_tmp(f), 0);
	assert_int_equal(callf(f, "POST", NULL, 0, "/v1/file/copy?session=%s&from=src&from_offset=0"
			       "&offset=0&length=1", f->sid), 404);
}

/* A delta's shape: the new file assembled from pieces of the old one, in
 * another order, while the old one stays readable under its name. */
static void test_copy_reorder(void **state)
{
	struct fx *f = *state;
	open_session(f, "path=old&truncate=1");
	assert_int_equal(callf(f, "POST", NULL, 0, "/v1/file/copy?session=%s&from=old&from_offset=5"
			       "&offset=0&length=5", f->sid), 200);
	assert_int_equal(write_chunk(f, 5, "--", 2), 200);
	char h[17];
	snprintf(h, sizeof h, "%016llx", (unsigned long long)XXH3_64bits("01234", 5));
	assert_int_equal(callf(f, "POST", NULL, 0, "/v1/file/copy?session=%s&from=old&from_offset=0"
			       "&offset=7&length=5&xxh64=%s", f->sid, h), 200);
	assert_int_equal(th_int(f->r.json, "size"), 12);
	char *c = th_read(f->root, "old", NULL);
	assert_string_equal(c, "0123456789");
	free(c);
	commit_expect(f, "56789--01234", 12);
	c = th_read(f->root, "old", NULL);
	assert_string_equal(c, "56789--01234");
	free(c);
	struct stat st;
	stat(th_path(f->root, "old"), &st);
	assert_int_equal(st.st_mode & 07777, 0640);
}

/* Over 16 MiB a hashed copy is checked as it goes; without a hash the
 * kernel copies. */
static void test_copy_big(void **state)
{
	struct fx *f = *state;
	size_t n = (17u << 20) + 5;
	char *buf = malloc(n);
	for (size_t i = 0; i < n; i++)
		buf[i] = (char)(i * 31 + i / 1000);
	FILE *o = fopen(th_path(f->root, "big"), "w");
	fwrite(buf, 1, n, o);
	fclose(o);
	char h[17];
	snprintf(h, sizeof h, "%016llx", (unsigned long long)XXH3_64bits(buf + 3, n - 3));
	open_session(f, "path=copy&create=1&truncate=1");
	assert_int_equal(callf(f, "POST", NULL, 0, "/v1/file/copy?session=%s&from=big&from_offset=3"
			       "&offset=0&length=%zu&xxh64=%s", f->sid, n - 3, h), 200);
	assert_int_equal(callf(f, "POST", NULL, 0, "/v1/file/copy?session=%s&from=big&from_offset=0"
			       "&offset=%zu&length=3", f->sid, n - 3), 200);
	char *exp = malloc(n);   /* big rotated by 3 */
	memcpy(exp, buf + 3, n - 3);
	memcpy(exp + n - 3, buf, 3);
	commit_expect(f, exp, n);
	/* a large copy whose hash is wrong fails; the manager then aborts */
	open_session(f, "path=copy2&create=1&truncate=1");
	assert_int_equal(callf(f, "POST", NULL, 0, "/v1/file/copy?session=%s&from=big&from_offset=0"
			       "&offset=0&length=%zu&xxh64=0000000000000000", f->sid, n), 400);
	assert_string_equal(th_str(f->r.json, "error"), "bad_hash");
	assert_int_equal(callf(f, "POST", NULL, 0, "/v1/file/abort?session=%s", f->sid), 200);
	assert_int_equal(count_tmp(f), 0);
	free(exp);
	free(buf);
}

static int count_names(const cJSON *entries, const char *prefix)
{
	int n = 0;
	const cJSON *e;
	cJSON_ArrayForEach(e, entries) {
		const char *p = th_str(e, "path");
		n += p && strstr(p, prefix) != NULL;
	}
	return n;
}

/* Temp files left by killed transfers go when the listing meets them, once
 * older than tmp_sweep_after and held by no session. */
static void test_sweep(void **state)
{
	struct fx *f = *state;
	agent_free(f->a);
	f->a = th_agent(f->root, "tmp_sweep_after = 1\n", false);
	struct agent *never = th_agent(f->root, "tmp_sweep_after = 0\n", false);
	mkdir(th_path(f->root, "sub"), 0755);
	th_write(f->root, ".cloudfs-tmp-0123456789ab", "stale");
	th_write(f->root, "sub/.cloudfs-tmp-mfeedfacefeedface", "stale too");
	symlink("nowhere", th_path(f->root, ".cloudfs-tmp-mlink"));
	mkdir(th_path(f->root, ".cloudfs-tmp-dir"), 0755);
	/* a transfer in progress: its target and the session's own temp file */
	open_session(f, "path=.cloudfs-tmp-mheld&create=1&excl=1&truncate=1&mode=600");
	assert_int_equal(write_chunk(f, 0, "in progress", 11), 200);
	assert_int_equal(count_tmp(f), 5);   /* 0123…, mlink, dir, mheld, the session's */
	usleep(1100 * 1000);
	th_write(f->root, ".cloudfs-tmp-young", "young");
	/* tmp_sweep_after = 0: never */
	struct th_reply r;
	assert_int_equal(th_call(never, "GET", "/v1/files?path=.", NULL, 0, &r), 200);
	assert_int_equal(th_int(r.json, "swept"), 0);
	th_reply_free(&r);
	agent_free(never);
	assert_int_equal(count_tmp(f), 6);
	assert_int_equal(call(f, "GET", "/v1/files?path=.", NULL, 0), 200);
	assert_int_equal(th_int(f->r.json, "swept"), 3);
	assert_int_equal(count_names(th_get(f->r.json, "entries"), ".cloudfs-tmp-"), 0);
	assert_int_equal(access(th_path(f->root, ".cloudfs-tmp-0123456789ab"), F_OK), -1);
	assert_int_equal(access(th_path(f->root, "sub/.cloudfs-tmp-mfeedfacefeedface"), F_OK), -1);
	struct stat st;
	assert_int_equal(lstat(th_path(f->root, ".cloudfs-tmp-mlink"), &st), -1);
	/* kept: a directory, what the session holds, a young one */
	assert_int_equal(access(th_path(f->root, ".cloudfs-tmp-dir"), F_OK), 0);
	assert_int_equal(access(th_path(f->root, ".cloudfs-tmp-mheld"), F_OK), 0);
	assert_int_equal(access(th_path(f->root, ".cloudfs-tmp-young"), F_OK), 0);
	assert_int_equal(count_tmp(f), 4);
	/* the session goes on undisturbed */
	commit_expect(f, "in progress", 11);
	char *c = th_read(f->root, ".cloudfs-tmp-mheld", NULL);
	assert_string_equal(c, "in progress");
	free(c);
	assert_int_equal(call(f, "GET", "/v1/files?path=.", NULL, 0), 200);
	assert_int_equal(th_int(f->r.json, "swept"), 0);
	/* the option: durations, 0, and mistakes */
	static const struct { const char *v; int64_t secs; } ok[] = {
		{ "0", 0 }, { "90", 90 }, { "30s", 30 }, { "45m", 2700 }, { "2h", 7200 }, { "1w", 604800 },
	};
	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		char text[200];
		snprintf(text, sizeof text, "[agent]\nroot = /\nlisten = :1\ntmp_sweep_after = %s\n",
			 ok[i].v);
		struct agent_conf *conf;
		struct cfs_err err = { 0 };
		assert_int_equal(agent_conf_parse(text, "t.conf", &conf, &err), 0);
		assert_int_equal(conf->tmp_sweep_after, ok[i].secs);
		agent_conf_free(conf);
	}
	static const char *const bad[] = { "", "soon", "-1", "1y", "400d" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char text[200];
		snprintf(text, sizeof text, "[agent]\nroot = /\nlisten = :1\ntmp_sweep_after = %s\n",
			 bad[i]);
		struct agent_conf *conf;
		struct cfs_err err = { 0 };
		assert_int_equal(agent_conf_parse(text, "t.conf", &conf, &err), -EINVAL);
		assert_non_null(strstr(err.msg, "t.conf:4: tmp_sweep_after"));
	}
	struct agent_conf *conf;
	struct cfs_err err = { 0 };
	assert_int_equal(agent_conf_parse("[agent]\nroot = /\nlisten = :1\n", "t.conf", &conf,
					  &err), 0);
	assert_int_equal(conf->tmp_sweep_after, 3600);   /* the default: an hour */
	agent_conf_free(conf);
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
		cmocka_unit_test_setup_teardown(test_copy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_copy_reorder, setup, teardown),
		cmocka_unit_test_setup_teardown(test_copy_big, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sweep, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
