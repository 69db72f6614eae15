/* Fuzz target: tree blob JSON (nodes, Go-quoted names, times, xattrs). */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "restic/rr_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rr_tree *t;
	if (rr_tree_decode((const char *)data, size, &t) != 0)
		return 0;
	for (size_t i = 0; i < t->n; i++) {
		const struct rr_node *n = &t->nodes[i];
		if (!n->name[0] || strchr(n->name, '/') || rr_tree_find(t, n->name) != (long)i)
			__builtin_trap();
	}
	rr_tree_find(t, "no such name");
	rr_tree_free(t);
	return 0;
}
