/* Fuzz target: index file JSON (object and old top-level array forms), then
 * the compact index built from it. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "restic/rr_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	for (int version = 1; version <= 2; version++) {
		struct rr_ixbatch b = { 0 };
		if (rr_index_json_parse((const char *)data, size, version, &b) != 0) {
			rr_ixbatch_free(&b);
			continue;
		}
		uint8_t ids[4][RR_ID_LEN];
		size_t n = b.nrecs < 4 ? b.nrecs : 4;
		for (size_t i = 0; i < n; i++)
			memcpy(ids[i], b.recs[i].id, RR_ID_LEN);
		struct rr_index *ix = rr_index_new();
		if (ix && rr_index_merge(ix, &b) == 0) {
			struct rr_loc loc[8];
			uint8_t pid[RR_ID_LEN];
			for (size_t i = 0; i < n; i++) {
				int k = rr_index_lookup(ix, ids[i], RR_DATA, loc, 8);
				k += rr_index_lookup(ix, ids[i], RR_TREE, loc, 8);
				if (k == 0)
					__builtin_trap();   /* every parsed blob must be found */
				rr_index_pack_id(ix, loc[0].pack, pid);
			}
		}
		rr_ixbatch_free(&b);
		rr_index_free(ix);
	}
	return 0;
}
