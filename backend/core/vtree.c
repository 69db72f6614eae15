/* vtree.c — the caller of the vtree operation on this thread (see vtree.h). */
#include "core/vtree.h"

static __thread struct cfs_vctx current;

struct cfs_vctx *cfs_vtree_caller(void)
{
	return &current;
}
