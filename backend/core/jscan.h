/* jscan.h — a pull parser for large JSON documents (jscan.c): restic's
 * index files and trees, agents' file listings. */
#ifndef CFS_CORE_JSCAN_H
#define CFS_CORE_JSCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

struct cfs_jscan {
	const char *p, *end;
	int depth;
};
typedef int (*cfs_js_member_fn)(struct cfs_jscan *s, void *arg, const char *key, size_t klen);
typedef int (*cfs_js_elem_fn)(struct cfs_jscan *s, void *arg);
int cfs_js_peek(struct cfs_jscan *s);              /* next non-blank byte, -1 at the end */
/* The next string, quotes off, escapes validated but left in place. */
int cfs_js_string_raw(struct cfs_jscan *s, const char **str, size_t *len);
/* The next string decoded into out (NUL-terminated; may hold NUL bytes). */
int cfs_js_string(struct cfs_jscan *s, struct cfs_buf *out);
int cfs_js_u64(struct cfs_jscan *s, uint64_t *out); /* plain unsigned integer only */
bool cfs_js_null(struct cfs_jscan *s);             /* consumes a null */
int cfs_js_skip(struct cfs_jscan *s);              /* any value */
/* member() / elem() must consume the value.  A null array is empty. */
int cfs_js_object(struct cfs_jscan *s, cfs_js_member_fn member, void *arg);
int cfs_js_array(struct cfs_jscan *s, cfs_js_elem_fn elem, void *arg);
bool cfs_js_key(const char *k, size_t kl, const char *lit);
/* Code point c as UTF-8 into o (1 to 4 bytes); returns the count. */
size_t cfs_utf8_put(uint32_t c, char *o);

#endif
