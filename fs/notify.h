/* notify.h — the events thread: parked /events reads and poll notifications.
 *
 * A read of /events with nothing to deliver is not answered on the libfuse
 * worker thread: the request is parked here and answered by this thread when
 * an event arrives, or with EINTR when interrupted (Ctrl-C).  Poll handles are
 * notified from this thread too, never from inside a request handler. */
#ifndef CFS_FS_NOTIFY_H
#define CFS_FS_NOTIFY_H

#include <stddef.h>

#include "fuse_inc.h"
#include "handles.h"

int notify_start(struct cfs_engine *e);
void notify_stop(void);
/* Parks a read; the reply comes later. */
void notify_park_read(fuse_req_t req, struct fs_handle *h, size_t size);
/* Keeps h's poll handle for a wake-up; registers and unregisters event handles. */
void notify_add_handle(struct fs_handle *h);
void notify_remove_handle(struct fs_handle *h);

#endif
