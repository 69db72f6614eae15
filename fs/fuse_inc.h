/* fuse_inc.h — the one place the FUSE version is pinned (Debian 12: libfuse 3.14). */
#ifndef CFS_FUSE_INC_H
#define CFS_FUSE_INC_H
#define FUSE_USE_VERSION FUSE_MAKE_VERSION(3, 12)
#include <fuse_lowlevel.h>
#endif
