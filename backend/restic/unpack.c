/* unpack.c — the plaintext of an unpacked file (config, snapshots, index):
 * raw JSON, or in version 2 a 0x02 byte followed by one zstd frame.  restic's
 * encoder often leaves the content size out of the frame header, so decode as
 * a stream into a growing buffer with a cap. */
#include "restic/rr_int.h"

#include <errno.h>
#include <zstd.h>

int rr_zstd_stream(const uint8_t *in, size_t len, size_t cap, struct cfs_buf *out)
{
	ZSTD_DCtx *d = ZSTD_createDCtx();
	int ret = -EIO;
	if (!d)
		return -ENOMEM;
	/* restic writes 512 KiB windows; refuse frames asking for more than 8 MiB */
	ZSTD_DCtx_setParameter(d, ZSTD_d_windowLogMax, 23);
	ZSTD_inBuffer ib = { in, len, 0 };
	size_t r = 1;
	while (ib.pos < ib.size || r != 0) {
		size_t room = ZSTD_DStreamOutSize();
		if (out->len + room > cap)
			room = cap > out->len ? cap - out->len : 0;
		if (room == 0) {
			ret = -EFBIG;
			goto out;
		}
		if (cfs_buf_reserve(out, room + 1)) {
			ret = -ENOMEM;
			goto out;
		}
		ZSTD_outBuffer ob = { out->data + out->len, room, 0 };
		size_t before = ib.pos;
		r = ZSTD_decompressStream(d, &ob, &ib);
		if (ZSTD_isError(r))
			goto out;
		out->len += ob.pos;
		out->data[out->len] = '\0';
		if (ib.pos == ib.size && ob.pos < room && r != 0 && before == ib.pos)
			goto out;   /* truncated frame: no progress possible */
		if (ib.pos == ib.size && r != 0 && ob.pos == 0)
			goto out;
	}
	ret = 0;
out:
	ZSTD_freeDCtx(d);
	return ret;
}

int rr_unpack(int version, const uint8_t *pt, size_t len, struct cfs_buf *out)
{
	out->len = 0;
	if (len == 0)
		return -EINVAL;
	if (pt[0] == '{' || pt[0] == '[')
		return cfs_buf_append(out, pt, len);
	if (pt[0] == 0x02 && version >= 2) {
		int ret = rr_zstd_stream(pt + 1, len - 1, RR_MAX_UNPACKED, out);
		if (ret)
			return ret;
		return out->data ? 0 : cfs_buf_append(out, "", 0);
	}
	return -EINVAL;
}
