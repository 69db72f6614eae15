/* xxh.c — XXH3-128 content hashes, printed as the 32 lower-case hex digits of
 * xxHash's canonical (big-endian) form, the same digits `xxhsum -H2` shows.
 * The wire protocol compares whole-file hashes with these strings. */
#include "auth/crypto.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include <xxhash.h>

#include "core/util.h"

#define XXH_FD_CHUNK (256 * 1024)

struct cfs_xxh128 {
	XXH3_state_t *state;
};

static void xxh_hex(XXH128_hash_t h, char out[CFS_XXH128_HEX])
{
	XXH128_canonical_t c;
	XXH128_canonicalFromHash(&c, h);
	cfs_hex(c.digest, sizeof c.digest, out);
}

void cfs_xxh128_hex(const void *data, size_t len, char out[CFS_XXH128_HEX])
{
	xxh_hex(XXH3_128bits(len ? data : "", len), out);
}

struct cfs_xxh128 *cfs_xxh128_new(void)
{
	struct cfs_xxh128 *h = calloc(1, sizeof *h);
	if (!h)
		return NULL;
	h->state = XXH3_createState();
	if (!h->state || XXH3_128bits_reset(h->state) != XXH_OK) {
		cfs_xxh128_free(h);
		return NULL;
	}
	return h;
}

int cfs_xxh128_update(struct cfs_xxh128 *h, const void *data, size_t len)
{
	if (!h || (!data && len))
		return -EINVAL;
	if (len == 0)
		return 0;
	return XXH3_128bits_update(h->state, data, len) == XXH_OK ? 0 : -EIO;
}

/* The state is left as it was: more updates may follow a final. */
void cfs_xxh128_final_hex(struct cfs_xxh128 *h, char out[CFS_XXH128_HEX])
{
	if (!h) {
		out[0] = '\0';
		return;
	}
	xxh_hex(XXH3_128bits_digest(h->state), out);
}

void cfs_xxh128_free(struct cfs_xxh128 *h)
{
	if (!h)
		return;
	XXH3_freeState(h->state);
	free(h);
}

int cfs_xxh128_fd(int fd, char out[CFS_XXH128_HEX])
{
	out[0] = '\0';
	if (fd < 0)
		return -EBADF;
	struct cfs_xxh128 *h = cfs_xxh128_new();
	uint8_t *buf = malloc(XXH_FD_CHUNK);
	int ret = -ENOMEM;
	if (!h || !buf)
		goto out;
	off_t off = 0;
	for (;;) {
		ssize_t n = pread(fd, buf, XXH_FD_CHUNK, off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = -errno;
			goto out;
		}
		if (n == 0)
			break;
		ret = cfs_xxh128_update(h, buf, (size_t)n);
		if (ret)
			goto out;
		off += n;
	}
	cfs_xxh128_final_hex(h, out);
	ret = 0;
out:
	free(buf);
	cfs_xxh128_free(h);
	return ret;
}
