/* Fuzz target: snapshot JSON and the directory name made from it. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "restic/rr_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rr_snap s;
	memset(&s, 0, sizeof s);
	if (rr_snap_decode((const char *)data, size, &s) == 0) {
		char name[96], c[256];
		memset(s.idhex, 'a', 64);
		rr_snap_name(&s, false, name);
		rr_snap_name(&s, true, name);
		rr_component(s.hostname, c, sizeof c);
		for (size_t i = 0; i < s.ntags; i++)
			rr_component(s.tags[i], c, sizeof c);
		rr_snap_clear(&s);
	}
	return 0;
}
