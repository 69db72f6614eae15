/* Fuzz target: opening a sealed box.  Input: 64 key bytes (encryption key,
 * MAC k, MAC r), then IV || ciphertext || MAC.  An opened box is decoded as
 * an unpacked file (raw JSON or 0x02 + zstd). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "restic/rr_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rr_mkey k;
	if (size < 64)
		return 0;
	memcpy(k.enc, data, 32);
	memcpy(k.k, data + 32, 16);
	memcpy(k.r, data + 48, 16);
	const uint8_t *box = data + 64;
	size_t len = size - 64;
	uint8_t *pt = malloc(len ? len : 1);
	if (!pt)
		return 0;
	if (rr_box_open(&k, box, len, pt) == 0) {
		struct cfs_buf out = CFS_BUF_INIT;
		rr_unpack(2, pt, len - RR_BOX_OVERHEAD, &out);
		cfs_buf_free(&out);
	}
	free(pt);
	return 0;
}
