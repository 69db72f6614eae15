/* chunks.c — GET /v1/file/chunks: a file's content-defined chunk list, what
 * the manager matches to send a changed file as a delta (cdc.h).
 *
 * The file is read once, front to back, through one bounded buffer; the
 * answer is binary (16 + 12 bytes per chunk), so a 1 GB file at the default
 * 64 KiB average is about 200 KB.  An answer that would pass AGENT_READ_MAX
 * is refused with 413 too_large (errno EFBIG) before anything is sent: the
 * manager asks again with a larger avg=.  The last name is never followed
 * and only regular files are opened (files.c runs this as the caller). */
#include "agent/cdc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/internal.h"
#include "core/util.h"

#define CHUNKS_BUF (1u << 20)
#define CHUNKS_MAX ((AGENT_READ_MAX - CDC_LIST_HEADER) / CDC_LIST_RECORD)

struct list {
	struct cfs_buf *body;
	size_t n;
};

static void put_be32(uint8_t *p, uint32_t v)
{
	for (int i = 3; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static void put_be64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static int add_record(void *arg, const struct cdc_chunk *c)
{
	struct list *l = arg;
	if (l->n >= CHUNKS_MAX)
		return -EFBIG;
	uint8_t rec[CDC_LIST_RECORD];
	put_be32(rec, c->len);
	put_be64(rec + 4, c->hash);
	l->n++;
	return cfs_buf_append(l->body, rec, sizeof rec);
}

int agent_open_regular(int dirfd, const char *name, int *fd, struct stat *st)
{
	if (!*name)
		return -EISDIR;   /* the root */
	if (fstatat(dirfd, name, st, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	if (S_ISDIR(st->st_mode))
		return -EISDIR;
	if (!S_ISREG(st->st_mode))
		return -EINVAL;
	int r = confine_open_at(dirfd, name, O_RDONLY | O_NONBLOCK | O_NOCTTY, fd);
	if (r)
		return r == -ELOOP ? -EINVAL : r;   /* replaced by a symlink meanwhile */
	if (fstat(*fd, st) < 0) {
		r = -errno;
		close(*fd);
		return r;
	}
	if (!S_ISREG(st->st_mode)) {
		close(*fd);
		return S_ISDIR(st->st_mode) ? -EISDIR : -EINVAL;
	}
	return 0;
}

static void reply_too_large(struct wire_response *rs, uint32_t avg)
{
	agent_reply_errno(rs, 413, "too_large", EFBIG,
			  "the chunk list at avg=%u would pass %u bytes: ask with a larger avg",
			  avg, AGENT_READ_MAX);
}

int agent_file_chunks(struct agent *a, const struct wire_request *rq, const struct query *q,
		      struct wire_response *rs)
{
	(void)rq;
	const char *as = agent_query_get(q, "avg", NULL);
	uint64_t avg = CDC_AVG_DEFAULT;
	if (as && (cfs_parse_u64(as, &avg) || !cdc_avg_valid(avg))) {
		agent_reply_error(rs, 400, "bad_request",
				  "avg= is a power of two from %u to %u", CDC_AVG_MIN, CDC_AVG_MAX);
		return 0;
	}
	int dirfd, fd;
	char name[NAME_MAX + 1];
	struct stat st;
	if (!agent_files_parent(a, q, "path", &dirfd, name, rs))
		return 0;
	int r = agent_open_regular(dirfd, name, &fd, &st);
	close(dirfd);
	if (r)
		return r;
	/* no chunk is longer than 8 * avg: some sizes cannot fit, whatever the content */
	if ((uint64_t)st.st_size > (uint64_t)CHUNKS_MAX * avg * 8) {
		close(fd);
		reply_too_large(rs, (uint32_t)avg);
		return 0;
	}
	struct cdc *c = cdc_new((uint32_t)avg);
	uint8_t *buf = malloc(CHUNKS_BUF);
	struct list l = { .body = &rs->body };
	uint64_t size = 0;
	cfs_buf_reset(&rs->body);
	uint8_t hdr[CDC_LIST_HEADER] = { 'C', 'D', 'C', '1' };
	r = c && buf ? cfs_buf_append(&rs->body, hdr, sizeof hdr) : -ENOMEM;
	posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	while (!r) {
		ssize_t got = read(fd, buf, CHUNKS_BUF);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			r = -errno;
		if (got <= 0)
			break;
		size += (uint64_t)got;
		r = cdc_feed(c, buf, (size_t)got, add_record, &l);
	}
	if (!r)
		r = cdc_finish(c, add_record, &l);
	cdc_free(c);
	free(buf);
	close(fd);
	if (r == -EFBIG) {
		reply_too_large(rs, (uint32_t)avg);
		return 0;
	}
	if (r) {
		cfs_buf_reset(&rs->body);
		return r;
	}
	put_be32((uint8_t *)rs->body.data + 4, (uint32_t)avg);
	put_be64((uint8_t *)rs->body.data + 8, size);
	rs->status = 200;
	rs->content_type = "application/octet-stream";
	return 0;
}
