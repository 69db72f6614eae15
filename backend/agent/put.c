/* put.c — PUT /v1/file/put: a whole small file in one request.
 *
 * A write session costs six requests (open, write, commit, chmod, utimens,
 * rename); a mirror copying many small files pays them per file.  Here the
 * body is the whole content: its XXH3-128 is checked before anything is
 * written, then it goes to a temp file beside the target, gets its mode and
 * mtime, is fsynced, and is renamed over the target — so the target holds
 * the old content or the new, never a part, exactly as a session's commit.
 * Acts as the caller (files.c entered the identity): the temp file is
 * created by the caller, who then owns the new file.  The new file's hash
 * goes into the listing's hash cache at once. */
#include "agent/mirror_api.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth/crypto.h"
#include "core/util.h"

/* Content into a new temp file in dirfd, attributes, fsync; its name in tmp. */
static int land_tmp(int dirfd, const struct wire_request *rq, mode_t mode,
		    const struct timespec *mtime, char tmp[40])
{
	uint8_t rnd[8];
	char hex[17];
	if (cfs_random(rnd, sizeof rnd))
		return -EIO;
	cfs_hex(rnd, sizeof rnd, hex);
	snprintf(tmp, 40, "%sp%s", AGENT_TMP_PREFIX, hex);
	int fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	int r = cfs_write_full(fd, rq->body ? rq->body : "", rq->body_len);
	if (!r && fchmod(fd, mode) < 0)
		r = -errno;
	struct timespec ts[2] = { { .tv_nsec = UTIME_OMIT }, *mtime };
	if (!r && futimens(fd, ts) < 0)
		r = -errno;
	if (!r && fsync(fd) < 0)
		r = -errno;
	close(fd);
	if (r)
		unlinkat(dirfd, tmp, 0);
	return r;
}

int agent_file_put(struct agent *a, const struct wire_request *rq, const struct query *q,
		   struct wire_response *rs)
{
	const char *want = agent_query_get(q, "xxh128", NULL);
	const char *ms = agent_query_get(q, "mode", NULL);
	mode_t mode = 0644;
	struct timespec mtime;
	if (!want || strlen(want) != CFS_XXH128_HEX - 1 ||
	    (ms && (agent_parse_mode(ms, &mode) || (mode & S_IFMT))) ||
	    agent_parse_time(agent_query_get(q, "mtime", NULL), &mtime)) {
		agent_reply_error(rs, 400, "bad_request",
				  "put takes xxh128= (32 hex digits), mode= (octal permission bits) "
				  "and mtime= (SEC[:NSEC])");
		return 0;
	}
	char got[CFS_XXH128_HEX];
	cfs_xxh128_hex(rq->body ? rq->body : "", rq->body_len, got);
	if (strcasecmp(want, got)) {
		agent_reply_bad_hash(rs, 400, "the content does not match its xxh128", want, got);
		return 0;
	}
	int dirfd;
	char name[NAME_MAX + 1], tmp[40];
	if (!agent_files_parent(a, q, "path", &dirfd, name, rs))
		return 0;
	struct stat st;
	int r = !*name ? -EISDIR : 0;
	if (!r && fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode))
		r = -EISDIR;
	if (!r)
		r = land_tmp(dirfd, rq, mode, &mtime, tmp);
	if (!r && renameat(dirfd, tmp, dirfd, name) < 0) {
		r = -errno;
		unlinkat(dirfd, tmp, 0);
	}
	if (!r && fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		r = -errno;
	/* the next listing finds its hash cached: a mirror's first re-sync
	 * after the initial copy reads nothing again (best effort) */
	struct agent_mirror *m = r ? NULL : agent_mirror_get(a);
	if (m) {
		struct hc_val v;
		uint64_t hashed = 0;
		hcache_hash(agent_mirror_hcache(m), dirfd, name, &st, &v, &hashed);
	}
	close(dirfd);
	if (r)
		return r;
	cJSON *j = cJSON_CreateObject();
	if (j) {
		cJSON_AddNumberToObject(j, "size", (double)st.st_size);
		cJSON_AddStringToObject(j, "xxh128", got);
	}
	agent_reply_json(rs, 201, j);
	return 0;
}
