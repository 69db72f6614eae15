/* Fuzz target: decrypted pack header entries, and the header length field. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "restic/rr_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	for (int version = 1; version <= 2; version++) {
		struct rr_pack_entry *e;
		size_t n;
		if (rr_pack_header_parse(data, size, version, &e, &n) == 0) {
			uint64_t off = 0;
			for (size_t i = 0; i < n; i++) {
				if (e[i].offset != off || e[i].length < 32)
					__builtin_trap();
				off += e[i].length;
			}
			free(e);
		}
	}
	if (size >= 4) {
		uint32_t hl;
		rr_pack_header_len(data, size, &hl);
		rr_pack_header_len(data + size - 4, (uint64_t)size << 8, &hl);
	}
	return 0;
}
