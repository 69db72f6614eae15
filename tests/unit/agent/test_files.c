/* test_files.c — /v1/file/OP handlers called directly: stat, readdir, read,
 * the changes, put, rename flags, xattrs, refusals outside the root. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cmocka.h>

#include "auth/crypto.h"
#include "helpers.h"

struct fx {
	char *root;
	struct agent *a;
	struct th_reply r;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof *f);
	umask(0);
	f->root = th_mkdtemp();
	chmod(f->root, 0755);   /* callers acting as other users must get through */
	mkdir(th_path(f->root, "d"), 0755);
	th_write(f->root, "d/f.txt", "hello, world\n");
	th_write(f->root, "top", "top\n");
	symlink("d/f.txt", th_path(f->root, "link"));
	symlink("/etc/passwd", th_path(f->root, "out"));
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

/* Call and keep the reply in f->r (freed by the next call). */
static int call(struct fx *f, const char *method, const char *target, const char *body)
{
	th_reply_free(&f->r);
	return th_call(f->a, method, target, body, body ? strlen(body) : 0, &f->r);
}

static void expect_errno(struct fx *f, int status, const char *err)
{
	if (f->r.status != status || !th_str(f->r.json, "errno") ||
	    strcmp(th_str(f->r.json, "errno"), err))
		fail_msg("got %d %s, want %d %s", f->r.status, f->r.body.data, status, err);
}

static void test_stat(void **state)
{
	struct fx *f = *state;
	struct stat st;
	stat(th_path(f->root, "d/f.txt"), &st);
	assert_int_equal(call(f, "GET", "/v1/file/stat?path=d/f.txt", NULL), 200);
	assert_string_equal(th_str(f->r.json, "stat.type"), "file");
	assert_int_equal(th_int(f->r.json, "stat.size"), 13);
	assert_int_equal(th_int(f->r.json, "stat.ino"), (int64_t)st.st_ino);
	assert_int_equal(th_int(f->r.json, "stat.mode"), (int64_t)st.st_mode);
	assert_int_equal(th_int(f->r.json, "stat.mtime_nsec"), st.st_mtim.tv_nsec);
	/* lstat: a link is a link */
	assert_int_equal(call(f, "GET", "/v1/file/stat?path=link", NULL), 200);
	assert_string_equal(th_str(f->r.json, "stat.type"), "symlink");
	assert_int_equal(call(f, "GET", "/v1/file/stat?path=out", NULL), 200);
	/* the root */
	assert_int_equal(call(f, "GET", "/v1/file/stat?path=", NULL), 200);
	assert_string_equal(th_str(f->r.json, "stat.type"), "dir");
	assert_int_equal(call(f, "GET", "/v1/file/stat?path=.", NULL), 200);
	/* errors */
	call(f, "GET", "/v1/file/stat?path=missing", NULL);
	expect_errno(f, 404, "ENOENT");
	call(f, "GET", "/v1/file/stat?path=top/x", NULL);
	expect_errno(f, 400, "ENOTDIR");
	assert_int_equal(call(f, "GET", "/v1/file/stat", NULL), 400);
	assert_int_equal(call(f, "POST", "/v1/file/stat?path=top", NULL), 405);
	assert_int_equal(call(f, "GET", "/v1/file/frobnicate?path=top", NULL), 404);
}

static void test_outside(void **state)
{
	struct fx *f = *state;
	static const char *const targets[] = {
		"/v1/file/stat?path=%2Fetc%2Fpasswd",
		"/v1/file/stat?path=..",
		"/v1/file/stat?path=d%2F..%2F..%2Fx",
		"/v1/file/stat?path=out%2Fx",
		"/v1/file/read?path=out",
		"/v1/file/read?path=d%00x",
		"/v1/file/readdir?path=..",
		"/v1/file/unlink?path=..%2Fx",
		"/v1/file/mkdir?path=%2Ftmp%2Fx",
		"/v1/file/rename?path=top&to=..%2Ftop",
		"/v1/file/link?path=out%2F..%2Fx&to=y",
		"/v1/file/open?path=..%2Fevil",
		"/v1/file/statfs?path=out",
	};
	for (size_t i = 0; i < sizeof targets / sizeof targets[0]; i++) {
		const char *m = strstr(targets[i], "stat?") || strstr(targets[i], "read") ? "GET"
											  : "POST";
		if (strstr(targets[i], "statfs"))
			m = "GET";
		call(f, m, targets[i], NULL);
		if (f->r.status != 403 || strcmp(th_str(f->r.json, "error"), "outside_root"))
			fail_msg("%s: %d %s", targets[i], f->r.status, f->r.body.data);
	}
	call(f, "GET", "/v1/file/stat?path=d%2F%2Ff.txt", NULL);
	assert_int_equal(f->r.status, 400);
	assert_string_equal(th_str(f->r.json, "error"), "bad_path");
}

static void test_readdir(void **state)
{
	struct fx *f = *state;
	th_write(f->root, "d/.cloudfs-tmp-abcdef", "a temp file is never listed");
	th_write(f->root, "d/g", "");
	mkdir(th_path(f->root, "d/sub"), 0700);
	assert_int_equal(call(f, "GET", "/v1/file/readdir?path=d", NULL), 200);
	const cJSON *e = th_get(f->r.json, "entries"), *it;
	assert_int_equal(cJSON_GetArraySize(e), 3);
	int seen = 0;
	cJSON_ArrayForEach(it, e) {
		const char *n = th_str(it, "name");
		assert_non_null(n);
		assert_true(strncmp(n, ".cloudfs-tmp-", 13));
		if (!strcmp(n, "sub")) {
			assert_string_equal(th_str(it, "stat.type"), "dir");
			assert_int_equal(th_int(it, "stat.mode") & 07777, 0700);
			seen++;
		}
	}
	assert_int_equal(seen, 1);
	assert_true(cJSON_IsNull(th_get(f->r.json, "next")));
	/* in pages */
	assert_int_equal(call(f, "GET", "/v1/file/readdir?path=d&limit=2", NULL), 200);
	assert_int_equal(cJSON_GetArraySize(th_get(f->r.json, "entries")), 2);
	assert_int_equal(th_int(f->r.json, "next"), 2);
	assert_int_equal(call(f, "GET", "/v1/file/readdir?path=d&offset=2&limit=2", NULL), 200);
	assert_int_equal(cJSON_GetArraySize(th_get(f->r.json, "entries")), 1);
	assert_true(cJSON_IsNull(th_get(f->r.json, "next")));
	/* a name that is not UTF-8 comes as base64 */
	th_write(f->root, "d/\xff", "");
	assert_int_equal(call(f, "GET", "/v1/file/readdir?path=d", NULL), 200);
	bool b64 = false;
	cJSON_ArrayForEach(it, th_get(f->r.json, "entries"))
		b64 |= th_str(it, "name_b64") && !strcmp(th_str(it, "name_b64"), "/w==");
	assert_true(b64);
	/* the root, a file, a link */
	assert_int_equal(call(f, "GET", "/v1/file/readdir?path=", NULL), 200);
	call(f, "GET", "/v1/file/readdir?path=top", NULL);
	expect_errno(f, 400, "ENOTDIR");
	call(f, "GET", "/v1/file/readdir?path=link", NULL);
	expect_errno(f, 400, "ENOTDIR");
}

static void test_read(void **state)
{
	struct fx *f = *state;
	assert_int_equal(call(f, "GET", "/v1/file/read?path=d/f.txt", NULL), 200);
	assert_string_equal(f->r.type, "application/octet-stream");
	assert_int_equal(f->r.body.len, 13);
	assert_memory_equal(f->r.body.data, "hello, world\n", 13);
	assert_int_equal(call(f, "GET", "/v1/file/read?path=d/f.txt&offset=7&length=5", NULL), 200);
	assert_int_equal(f->r.body.len, 5);
	assert_memory_equal(f->r.body.data, "world", 5);
	assert_int_equal(call(f, "GET", "/v1/file/read?path=d/f.txt&offset=100", NULL), 200);
	assert_int_equal(f->r.body.len, 0);
	/* an inside symlink is followed */
	assert_int_equal(call(f, "GET", "/v1/file/read?path=link&length=5", NULL), 200);
	assert_memory_equal(f->r.body.data, "hello", 5);
	assert_int_equal(call(f, "GET", "/v1/file/read?path=top&length=4194305", NULL), 400);
	call(f, "GET", "/v1/file/read?path=d", NULL);
	expect_errno(f, 400, "EISDIR");
	mkfifo(th_path(f->root, "fifo"), 0644);
	call(f, "GET", "/v1/file/read?path=fifo", NULL);   /* never blocks */
	expect_errno(f, 400, "EINVAL");
}

/* PUT /v1/file/put: a whole small file in one request, checked, landed by
 * a rename with its mode and mtime; nothing changes on a bad hash. */
static void test_put(void **state)
{
	struct fx *f = *state;
	char h[CFS_XXH128_HEX], t[256];
	const char *body = "new content\n";
	cfs_xxh128_hex(body, strlen(body), h);
	snprintf(t, sizeof t, "/v1/file/put?path=d/f.txt&xxh128=%s&mode=0640&mtime=1000000000:5", h);
	assert_int_equal(call(f, "PUT", t, body), 201);
	assert_int_equal(th_int(f->r.json, "size"), (int64_t)strlen(body));
	size_t n;
	char *got = th_read(f->root, "d/f.txt", &n);
	assert_string_equal(got, body);
	free(got);
	struct stat st;
	assert_int_equal(stat(th_path(f->root, "d/f.txt"), &st), 0);
	assert_int_equal(st.st_mode & 07777, 0640);
	assert_int_equal(st.st_mtim.tv_sec, 1000000000);
	assert_int_equal(st.st_mtim.tv_nsec, 5);
	/* a symlink at the name is replaced, not followed */
	snprintf(t, sizeof t, "/v1/file/put?path=link&xxh128=%s", h);
	assert_int_equal(call(f, "PUT", t, body), 201);
	assert_int_equal(lstat(th_path(f->root, "link"), &st), 0);
	assert_true(S_ISREG(st.st_mode));
	/* a wrong hash: refused, the old content stays, no temp file left */
	snprintf(t, sizeof t, "/v1/file/put?path=top&xxh128=%s", h);
	call(f, "PUT", t, "something else");
	expect_errno(f, 400, "EIO");
	assert_string_equal(th_str(f->r.json, "error"), "bad_hash");
	got = th_read(f->root, "top", &n);
	assert_string_equal(got, "top\n");
	free(got);
	/* bad parameters, a directory, outside the root, a missing parent */
	assert_int_equal(call(f, "PUT", "/v1/file/put?path=top", body), 400);
	snprintf(t, sizeof t, "/v1/file/put?path=top&xxh128=%s&mode=100644", h);
	assert_int_equal(call(f, "PUT", t, body), 400);
	snprintf(t, sizeof t, "/v1/file/put?path=d&xxh128=%s", h);
	call(f, "PUT", t, body);
	expect_errno(f, 400, "EISDIR");
	snprintf(t, sizeof t, "/v1/file/put?path=../x&xxh128=%s", h);
	call(f, "PUT", t, body);
	expect_errno(f, 403, "EACCES");
	snprintf(t, sizeof t, "/v1/file/put?path=nodir/x&xxh128=%s", h);
	call(f, "PUT", t, body);
	expect_errno(f, 404, "ENOENT");
	assert_int_equal(call(f, "GET", "/v1/file/put?path=top", NULL), 405);
	/* an empty file */
	cfs_xxh128_hex("", 0, h);
	snprintf(t, sizeof t, "/v1/file/put?path=empty&xxh128=%s", h);
	assert_int_equal(call(f, "PUT", t, NULL), 201);
	assert_int_equal(stat(th_path(f->root, "empty"), &st), 0);
	assert_int_equal(st.st_size, 0);
	/* only the files put and the fixture remain: no temp files */
	assert_int_equal(call(f, "GET", "/v1/file/readdir?path=d", NULL), 200);
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(f->r.json, "entries")), 1);
	char cmd[512];
	snprintf(cmd, sizeof cmd, "test -z \"$(find '%s' -name '.cloudfs-tmp-*')\"", f->root);
	assert_int_equal(system(cmd), 0);
}

static void test_changes(void **state)
{
	struct fx *f = *state;
	struct stat st;
	assert_int_equal(call(f, "POST", "/v1/file/mkdir?path=new&mode=0750", NULL), 201);
	assert_int_equal(th_int(f->r.json, "stat.mode") & 07777, 0750);
	assert_int_equal(stat(th_path(f->root, "new"), &st), 0);
	assert_int_equal(st.st_mode & 07777, 0750);
	call(f, "POST", "/v1/file/mkdir?path=new", NULL);
	expect_errno(f, 409, "EEXIST");
	th_write(f->root, "new/x", "x");
	call(f, "POST", "/v1/file/rmdir?path=new", NULL);
	expect_errno(f, 409, "ENOTEMPTY");
	assert_int_equal(call(f, "POST", "/v1/file/unlink?path=new/x", NULL), 200);
	assert_int_equal(call(f, "POST", "/v1/file/rmdir?path=new", NULL), 200);
	call(f, "POST", "/v1/file/rmdir?path=", NULL);
	expect_errno(f, 409, "EBUSY");

	/* symlink + readlink (the target is text, even pointing out) */
	assert_int_equal(call(f, "POST", "/v1/file/symlink?path=sl&target=..%2Fsomewhere", NULL),
			 201);
	assert_string_equal(th_str(f->r.json, "stat.type"), "symlink");
	assert_int_equal(call(f, "GET", "/v1/file/readlink?path=sl", NULL), 200);
	assert_string_equal(th_str(f->r.json, "target"), "../somewhere");
	call(f, "GET", "/v1/file/readlink?path=top", NULL);
	expect_errno(f, 400, "EINVAL");

	/* hard link */
	assert_int_equal(call(f, "POST", "/v1/file/link?path=top&to=d%2Ftop2", NULL), 201);
	assert_int_equal(th_int(f->r.json, "stat.nlink"), 2);

	/* mknod: a fifo, a regular file, a socket */
	assert_int_equal(call(f, "POST", "/v1/file/mknod?path=p&mode=010640", NULL), 201);
	assert_string_equal(th_str(f->r.json, "stat.type"), "fifo");
	assert_int_equal(th_int(f->r.json, "stat.mode") & 07777, 0640);
	assert_int_equal(call(f, "POST", "/v1/file/mknod?path=reg&mode=0600", NULL), 201);
	assert_string_equal(th_str(f->r.json, "stat.type"), "file");
	assert_int_equal(call(f, "POST", "/v1/file/mknod?path=sock&mode=0140644", NULL), 201);
	assert_string_equal(th_str(f->r.json, "stat.type"), "sock");
	if (geteuid() == 0) {
		char t[128];
		snprintf(t, sizeof t, "/v1/file/mknod?path=null&mode=020666&rdev=%llu",
			 (unsigned long long)makedev(1, 3));
		assert_int_equal(call(f, "POST", t, NULL), 201);
		assert_int_equal(th_int(f->r.json, "stat.rdev_major"), 1);
		assert_int_equal(th_int(f->r.json, "stat.rdev_minor"), 3);
	}
	assert_int_equal(call(f, "POST", "/v1/file/mknod?path=bad&mode=040755", NULL), 400);

	/* chmod on a link is refused; on the file it works */
	call(f, "POST", "/v1/file/chmod?path=link&mode=0600", NULL);
	expect_errno(f, 501, "EOPNOTSUPP");
	assert_int_equal(call(f, "POST", "/v1/file/chmod?path=top&mode=04711", NULL), 200);
	stat(th_path(f->root, "top"), &st);
	assert_int_equal(st.st_mode & 07777, 04711);
	assert_int_equal(call(f, "POST", "/v1/file/chmod?path=&mode=0711", NULL), 200);
	stat(f->root, &st);
	assert_int_equal(st.st_mode & 07777, 0711);
	chmod(f->root, 0755);

	/* truncate */
	assert_int_equal(call(f, "POST", "/v1/file/truncate?path=d/top2&size=2", NULL), 200);
	assert_int_equal(th_int(f->r.json, "stat.size"), 2);
	call(f, "POST", "/v1/file/truncate?path=d&size=0", NULL);
	expect_errno(f, 400, "EISDIR");

	/* utimens: nanoseconds, before 1970, omit and now */
	assert_int_equal(call(f, "POST", "/v1/file/utimens?path=top&atime=-100:5&mtime=1234:"
			      "999999999", NULL), 200);
	stat(th_path(f->root, "top"), &st);
	assert_int_equal(st.st_atim.tv_sec, -100);
	assert_int_equal(st.st_atim.tv_nsec, 5);
	assert_int_equal(st.st_mtim.tv_sec, 1234);
	assert_int_equal(st.st_mtim.tv_nsec, 999999999);
	assert_int_equal(call(f, "POST", "/v1/file/utimens?path=top&atime=now", NULL), 200);
	stat(th_path(f->root, "top"), &st);
	assert_true(st.st_atim.tv_sec > 1000000000);
	assert_int_equal(st.st_mtim.tv_sec, 1234);
	assert_int_equal(call(f, "POST", "/v1/file/utimens?path=link&mtime=77", NULL), 200);
	struct stat lst;
	lstat(th_path(f->root, "link"), &lst);
	assert_int_equal(lst.st_mtim.tv_sec, 77);   /* the link, not its target */
	assert_int_equal(call(f, "POST", "/v1/file/utimens?path=top&mtime=1:1000000000", NULL),
			 400);

	/* chown: to ourselves always works; to others only as root */
	char t[160];
	snprintf(t, sizeof t, "/v1/file/chown?path=link&owner=%u&group=%u", geteuid(), getegid());
	assert_int_equal(call(f, "POST", t, NULL), 200);
	if (geteuid() == 0) {
		assert_int_equal(call(f, "POST", "/v1/file/chown?path=link&owner=123&group=456",
				      NULL), 200);
		lstat(th_path(f->root, "link"), &lst);
		assert_int_equal(lst.st_uid, 123);
		assert_int_equal(lst.st_gid, 456);
		assert_int_equal(call(f, "POST", "/v1/file/chown?path=top&group=456", NULL), 200);
		stat(th_path(f->root, "top"), &st);
		assert_int_equal(st.st_uid, 0);
		assert_int_equal(st.st_gid, 456);
	}

	/* statfs and fsync */
	assert_int_equal(call(f, "GET", "/v1/file/statfs?path=d", NULL), 200);
	assert_true(th_int(f->r.json, "namemax") >= 255);
	assert_int_equal(call(f, "POST", "/v1/file/fsync?path=top&datasync=1", NULL), 200);
	assert_int_equal(call(f, "POST", "/v1/file/fsync?path=d", NULL), 200);
}

static void test_rename(void **state)
{
	struct fx *f = *state;
	th_write(f->root, "r1", "one");
	th_write(f->root, "r2", "two");
	call(f, "POST", "/v1/file/rename?path=r1&to=r2&noreplace=1", NULL);
	expect_errno(f, 409, "EEXIST");
	assert_int_equal(call(f, "POST", "/v1/file/rename?path=r1&to=r2&exchange=1", NULL), 200);
	char *c = th_read(f->root, "r1", NULL);
	assert_string_equal(c, "two");
	free(c);
	assert_int_equal(call(f, "POST", "/v1/file/rename?path=r1&to=d%2Fr3", NULL), 200);
	c = th_read(f->root, "d/r3", NULL);
	assert_string_equal(c, "two");
	free(c);
	assert_int_equal(access(th_path(f->root, "r1"), F_OK), -1);
	call(f, "POST", "/v1/file/rename?path=r1&to=r4&exchange=1", NULL);
	expect_errno(f, 404, "ENOENT");
	/* a symlink is renamed as a link */
	assert_int_equal(call(f, "POST", "/v1/file/rename?path=out&to=out2", NULL), 200);
	struct stat st;
	assert_int_equal(lstat(th_path(f->root, "out2"), &st), 0);
	assert_true(S_ISLNK(st.st_mode));
	call(f, "POST", "/v1/file/rename?path=d&to=d%2Finside", NULL);
	expect_errno(f, 400, "EINVAL");
}

static void test_xattrs(void **state)
{
	struct fx *f = *state;
	th_write(f->root, "x", "");
	if (setxattr(th_path(f->root, "x"), "user.probe", "1", 1, 0) < 0) {
		skip();   /* the file system has no user xattrs */
	}
	removexattr(th_path(f->root, "x"), "user.probe");
	struct th_reply r;
	assert_int_equal(th_call(f->a, "POST", "/v1/file/setxattr?path=x&name=user.a&flags=create",
				 "v\0\1", 3, &r), 200);
	th_reply_free(&r);
	th_call(f->a, "POST", "/v1/file/setxattr?path=x&name=user.a&flags=create", "w", 1, &r);
	assert_int_equal(r.status, 409);
	assert_string_equal(th_str(r.json, "errno"), "EEXIST");
	th_reply_free(&r);
	th_call(f->a, "POST", "/v1/file/setxattr?path=x&name=user.b&flags=replace", "w", 1, &r);
	assert_int_equal(r.status, 404);
	assert_string_equal(th_str(r.json, "errno"), "ENODATA");
	th_reply_free(&r);
	assert_int_equal(th_call(f->a, "POST", "/v1/file/setxattr?path=x&name=user.empty", "", 0,
				 &r), 200);
	th_reply_free(&r);
	assert_int_equal(call(f, "GET", "/v1/file/getxattr?path=x&name=user.a", NULL), 200);
	assert_int_equal(f->r.body.len, 3);
	assert_memory_equal(f->r.body.data, "v\0\1", 3);
	assert_int_equal(call(f, "GET", "/v1/file/getxattr?path=x&name=user.empty", NULL), 200);
	assert_int_equal(f->r.body.len, 0);
	assert_int_equal(call(f, "GET", "/v1/file/listxattr?path=x", NULL), 200);
	assert_int_equal(cJSON_GetArraySize(th_get(f->r.json, "names")), 2);
	assert_int_equal(call(f, "POST", "/v1/file/removexattr?path=x&name=user.a", NULL), 200);
	call(f, "GET", "/v1/file/getxattr?path=x&name=user.a", NULL);
	expect_errno(f, 404, "ENODATA");
	/* the root directory itself */
	assert_int_equal(th_call(f->a, "POST", "/v1/file/setxattr?path=&name=user.r", "r", 1, &r),
			 200);
	th_reply_free(&r);
	assert_int_equal(call(f, "GET", "/v1/file/getxattr?path=&name=user.r", NULL), 200);
	assert_memory_equal(f->r.body.data, "r", 1);
	/* a link's own xattrs, never its target's (user.* is refused on links) */
	call(f, "POST", "/v1/file/setxattr?path=out&name=user.a", NULL);
	expect_errno(f, 403, "EPERM");
	assert_int_equal(call(f, "GET", "/v1/file/getxattr?path=x", NULL), 400);
}

/* Acting as the caller: only an agent running as root does. */
static void test_identity(void **state)
{
	struct fx *f = *state;
	if (geteuid() != 0)
		skip();
	struct stat st;
	chmod(f->root, 0777);
	assert_int_equal(call(f, "POST", "/v1/file/mkdir?path=owned&mode=0755&uid=1234&gid=5678",
			      NULL), 201);
	stat(th_path(f->root, "owned"), &st);
	assert_int_equal(st.st_uid, 1234);
	assert_int_equal(st.st_gid, 5678);
	/* the caller's permissions, not root's */
	mkdir(th_path(f->root, "closed"), 0700);
	call(f, "POST", "/v1/file/mkdir?path=closed%2Fx&uid=1234&gid=5678", NULL);
	expect_errno(f, 403, "EACCES");
	call(f, "GET", "/v1/file/stat?path=closed%2Fx&uid=1234&gid=5678", NULL);
	expect_errno(f, 403, "EACCES");
	/* a group the caller is in opens the door */
	chown(th_path(f->root, "closed"), 0, 777);
	chmod(th_path(f->root, "closed"), 0770);
	assert_int_equal(call(f, "POST",
			      "/v1/file/mkdir?path=closed%2Fy&uid=1234&gid=5678&groups=777", NULL),
			 201);
	/* not the owner: chown is refused, chmod too */
	call(f, "POST", "/v1/file/chown?path=top&owner=1234&uid=1234&gid=5678", NULL);
	expect_errno(f, 403, "EPERM");
	call(f, "POST", "/v1/file/chmod?path=top&mode=0777&uid=1234&gid=5678", NULL);
	expect_errno(f, 403, "EPERM");
	/* a setgid directory hands its group down */
	mkdir(th_path(f->root, "sg"), 0777);
	chown(th_path(f->root, "sg"), 0, 4242);
	chmod(th_path(f->root, "sg"), 02777);
	assert_int_equal(call(f, "POST", "/v1/file/symlink?path=sg%2Fl&target=x&uid=1234&gid=5678",
			      NULL), 201);
	lstat(th_path(f->root, "sg/l"), &st);
	assert_int_equal(st.st_uid, 1234);
	assert_int_equal(st.st_gid, 4242);
	/* access(2) as the caller */
	th_write(f->root, "mine", "");
	chmod(th_path(f->root, "mine"), 0640);
	chown(th_path(f->root, "mine"), 1234, 5678);
	assert_int_equal(call(f, "GET", "/v1/file/access?path=mine&mode=6&uid=1234&gid=1", NULL),
			 200);
	call(f, "GET", "/v1/file/access?path=mine&mode=2&uid=999&gid=5678", NULL);
	expect_errno(f, 403, "EACCES");
	assert_int_equal(call(f, "GET", "/v1/file/access?path=mine&mode=4&uid=999&gid=5678", NULL),
			 200);
	call(f, "GET", "/v1/file/access?path=mine&mode=1", NULL);   /* root: x needs an x bit */
	expect_errno(f, 403, "EACCES");
	assert_int_equal(call(f, "GET", "/v1/file/access?path=&mode=7", NULL), 200);
	call(f, "GET", "/v1/file/access?path=nope", NULL);
	expect_errno(f, 404, "ENOENT");
	/* identity is per request: the next one is root again */
	assert_int_equal(call(f, "POST", "/v1/file/mkdir?path=closed%2Fz", NULL), 201);
	assert_int_equal(call(f, "GET", "/v1/file/stat?path=top&uid=x&gid=1", NULL), 400);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_stat, setup, teardown),
		cmocka_unit_test_setup_teardown(test_outside, setup, teardown),
		cmocka_unit_test_setup_teardown(test_readdir, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read, setup, teardown),
		cmocka_unit_test_setup_teardown(test_changes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_put, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rename, setup, teardown),
		cmocka_unit_test_setup_teardown(test_xattrs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_identity, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
