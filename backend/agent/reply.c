/* reply.c — response bodies: JSON helpers, the errno → HTTP status table of
 * the files API (the one place it lives on the agent side), base64. */
#include "agent/internal.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>

void agent_reply_json(struct wire_response *rs, int status, cJSON *j)
{
	rs->status = status;
	rs->content_type = "application/json";
	cfs_buf_reset(&rs->body);
	char *s = j ? cJSON_PrintUnformatted(j) : NULL;
	cJSON_Delete(j);
	if (!s) {
		rs->status = 500;
		cfs_buf_puts(&rs->body, "{\"error\":\"internal\",\"message\":\"out of memory\"}");
		return;
	}
	if (cfs_buf_puts(&rs->body, s) || cfs_buf_puts(&rs->body, "\n")) {
		rs->status = 500;
		cfs_buf_reset(&rs->body);
	}
	cJSON_free(s);
}

static void verror(struct wire_response *rs, int status, const char *code, const char *errname,
		   const char *fmt, va_list ap)
{
	char msg[300];
	vsnprintf(msg, sizeof msg, fmt, ap);
	cJSON *j = cJSON_CreateObject();
	if (j) {
		cJSON_AddStringToObject(j, "error", code);
		if (errname)
			cJSON_AddStringToObject(j, "errno", errname);
		if (!agent_utf8_valid(msg, strlen(msg)))
			strcpy(msg, "(message not valid UTF-8)");
		cJSON_AddStringToObject(j, "message", msg);
	}
	agent_reply_json(rs, status, j);
	if (rs->status == 500 && status != 500)
		rs->status = status;
}

void agent_reply_error(struct wire_response *rs, int status, const char *code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	verror(rs, status, code, NULL, fmt, ap);
	va_end(ap);
}

void agent_reply_errno(struct wire_response *rs, int status, const char *code, int err,
		       const char *fmt, ...)
{
	char nb[16];
	va_list ap;
	va_start(ap, fmt);
	verror(rs, status, code, agent_errno_name(err, nb), fmt, ap);
	va_end(ap);
}

const char *agent_errno_name(int err, char buf[16])
{
	if (err < 0)
		err = -err;
	const char *n = strerrorname_np(err);
	if (n)
		return n;
	snprintf(buf, 16, "E%d", err);
	return buf;
}

int agent_errno_status(int err)
{
	switch (err < 0 ? -err : err) {
	case ENOENT: case ENODATA:
		return 404;
	case EACCES: case EPERM: case EROFS:
		return 403;
	case EEXIST: case ENOTEMPTY: case EBUSY: case EXDEV: case ETXTBSY: case EMLINK:
		return 409;
	case EINVAL: case ENOTDIR: case EISDIR: case ENAMETOOLONG: case ELOOP: case ERANGE:
	case E2BIG: case EFBIG: case EOVERFLOW: case EBADF:
		return 400;
	case ENOSPC: case EDQUOT:
		return 507;
	case EOPNOTSUPP: case ENOSYS:
		return 501;
	default:
		return 500;
	}
}

void agent_reply_fs_error(struct wire_response *rs, int err, const char *what)
{
	agent_reply_errno(rs, agent_errno_status(err), "fs_error", err, "%s: %s", what, strerror(-err));
}

void agent_reply_confine_error(struct wire_response *rs, int err, const char *what)
{
	if (err == -EXDEV)
		agent_reply_errno(rs, 403, "outside_root", EACCES, "%s: the path leaves the agent's root",
				  what);
	else if (err == -EINVAL)
		agent_reply_errno(rs, 400, "bad_path", EINVAL,
			    "%s: paths are relative to the root, '/'-separated, without empty or "
			    "'.' components", what);
	else
		agent_reply_fs_error(rs, err, what);
}

void agent_reply_bad_hash(struct wire_response *rs, int status, const char *msg,
			  const char *want, const char *got)
{
	cJSON *j = cJSON_CreateObject();
	if (j) {
		cJSON_AddStringToObject(j, "error", "bad_hash");
		cJSON_AddStringToObject(j, "errno", "EIO");
		cJSON_AddStringToObject(j, "message", msg);
		cJSON_AddStringToObject(j, "expected", want);
		cJSON_AddStringToObject(j, "actual", got);
	}
	agent_reply_json(rs, status, j);
}

void agent_reply_ok(struct wire_response *rs)
{
	cJSON *j = cJSON_CreateObject();
	if (j)
		cJSON_AddTrueToObject(j, "ok");
	agent_reply_json(rs, 200, j);
}

int agent_json_u64(cJSON *o, const char *key, uint64_t v)
{
	char num[24];
	snprintf(num, sizeof num, "%" PRIu64, v);
	return cJSON_AddRawToObject(o, key, num) ? 0 : -ENOMEM;
}

int agent_json_i64(cJSON *o, const char *key, int64_t v)
{
	char num[24];
	snprintf(num, sizeof num, "%" PRId64, v);
	return cJSON_AddRawToObject(o, key, num) ? 0 : -ENOMEM;
}

bool agent_utf8_valid(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + len;
	while (p < end) {
		unsigned c = *p;
		size_t n;
		uint32_t cp;
		if (c == 0)
			return false;
		if (c < 0x80) {
			p++;
			continue;
		} else if ((c & 0xe0) == 0xc0) {
			n = 1;
			cp = c & 0x1f;
		} else if ((c & 0xf0) == 0xe0) {
			n = 2;
			cp = c & 0x0f;
		} else if ((c & 0xf8) == 0xf0) {
			n = 3;
			cp = c & 0x07;
		} else {
			return false;
		}
		if ((size_t)(end - p) <= n)
			return false;
		for (size_t i = 1; i <= n; i++) {
			if ((p[i] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (p[i] & 0x3f);
		}
		/* overlong forms, surrogates, beyond U+10FFFF */
		if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
		    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
			return false;
		p += n + 1;
	}
	return true;
}

int agent_base64(const void *data, size_t len, struct cfs_buf *out)
{
	static const char tab[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const unsigned char *p = data;
	int r = cfs_buf_reserve(out, (len + 2) / 3 * 4);
	if (r)
		return r;
	char *w = out->data + out->len;
	size_t i = 0;
	for (; i + 2 < len; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
		*w++ = tab[v >> 18];
		*w++ = tab[(v >> 12) & 63];
		*w++ = tab[(v >> 6) & 63];
		*w++ = tab[v & 63];
	}
	if (i < len) {
		uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < len ? (uint32_t)p[i + 1] << 8 : 0);
		*w++ = tab[v >> 18];
		*w++ = tab[(v >> 12) & 63];
		*w++ = i + 1 < len ? tab[(v >> 6) & 63] : '=';
		*w++ = '=';
	}
	out->len = (size_t)(w - out->data);
	out->data[out->len] = '\0';
	return 0;
}

int agent_json_bytes(cJSON *o, const char *key, const char *s, size_t len)
{
	if (agent_utf8_valid(s, len)) {
		/* s may lack a terminating NUL at len */
		char *copy = strndup(s, len);
		if (!copy)
			return -ENOMEM;
		cJSON *v = cJSON_AddStringToObject(o, key, copy);
		free(copy);
		return v ? 0 : -ENOMEM;
	}
	struct cfs_buf b = CFS_BUF_INIT;
	char k[64];
	snprintf(k, sizeof k, "%s_b64", key);
	int r = agent_base64(s, len, &b);
	if (!r && !cJSON_AddStringToObject(o, k, b.data ? b.data : ""))
		r = -ENOMEM;
	cfs_buf_free(&b);
	return r;
}

static const char *type_name(mode_t m)
{
	switch (m & S_IFMT) {
	case S_IFREG: return "file";
	case S_IFDIR: return "dir";
	case S_IFLNK: return "symlink";
	case S_IFIFO: return "fifo";
	case S_IFCHR: return "chr";
	case S_IFBLK: return "blk";
	case S_IFSOCK: return "sock";
	default: return "unknown";
	}
}

cJSON *agent_json_stat(const struct stat *st)
{
	cJSON *j = cJSON_CreateObject();
	if (!j)
		return NULL;
	int r = 0;
	r |= !cJSON_AddStringToObject(j, "type", type_name(st->st_mode));
	r |= agent_json_u64(j, "mode", st->st_mode);
	r |= agent_json_u64(j, "ino", st->st_ino);
	r |= agent_json_u64(j, "dev", st->st_dev);
	r |= agent_json_u64(j, "nlink", st->st_nlink);
	r |= agent_json_u64(j, "uid", st->st_uid);
	r |= agent_json_u64(j, "gid", st->st_gid);
	r |= agent_json_u64(j, "rdev", st->st_rdev);
	r |= agent_json_u64(j, "rdev_major", major(st->st_rdev));
	r |= agent_json_u64(j, "rdev_minor", minor(st->st_rdev));
	r |= agent_json_i64(j, "size", st->st_size);
	r |= agent_json_i64(j, "blocks", st->st_blocks);
	r |= agent_json_i64(j, "blksize", st->st_blksize);
	r |= agent_json_i64(j, "atime", st->st_atim.tv_sec);
	r |= agent_json_i64(j, "atime_nsec", st->st_atim.tv_nsec);
	r |= agent_json_i64(j, "mtime", st->st_mtim.tv_sec);
	r |= agent_json_i64(j, "mtime_nsec", st->st_mtim.tv_nsec);
	r |= agent_json_i64(j, "ctime", st->st_ctim.tv_sec);
	r |= agent_json_i64(j, "ctime_nsec", st->st_ctim.tv_nsec);
	if (r) {
		cJSON_Delete(j);
		return NULL;
	}
	return j;
}
