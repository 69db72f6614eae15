/* fuzz_mirrors.c — the exclude glob compiler and matcher, and the parser of
 * the agent's listing pages, on arbitrary bytes.  The first byte picks the
 * target; for globs the rest is "PATTERNS\0PATH". */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mirrors/mirrors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > 65536)
		return 0;
	char *s = malloc(size);
	if (!s)
		return 0;
	memcpy(s, data + 1, size - 1);
	s[size - 1] = '\0';
	if (data[0] & 1) {
		struct mlist l = { 0 };
		char *next = NULL;
		if (!mlist_parse_page(s, size - 1, &l, &next)) {
			mlist_sort(&l);
			struct mplan p;
			if (!mplan_build(&l, &l, NULL, true, &p)) {
				struct cfs_buf b = CFS_BUF_INIT;
				mplan_render(&p, true, &b);
				mplan_render_json(&p, &b);
				cfs_buf_free(&b);
				mplan_free(&p);
			}
		}
		free(next);
		mlist_free(&l);
	} else {
		size_t pl = strlen(s);
		const char *path = pl + 1 < size - 1 ? s + pl + 1 : "a/b/c";
		struct mglob_set *g;
		struct cfs_err err = { 0 };
		if (!mglob_set_parse(s, &g, &err)) {
			mglob_excluded(g, path, data[0] & 2);
			mglob_set_free(g);
		}
		mglob_match1(s, path, data[0] & 2);
	}
	free(s);
	return 0;
}
