/* buf.h — a growable byte buffer, always NUL-terminated for convenience. */
#ifndef CFS_BUF_H
#define CFS_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct cfs_buf {
	char *data;   /* NULL until the first append; owned by the buffer */
	size_t len;
	size_t cap;
};

#define CFS_BUF_INIT { NULL, 0, 0 }

int cfs_buf_append(struct cfs_buf *b, const void *data, size_t len); /* 0 or -ENOMEM */
int cfs_buf_puts(struct cfs_buf *b, const char *s);
int cfs_buf_printf(struct cfs_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
int cfs_buf_vprintf(struct cfs_buf *b, const char *fmt, va_list ap);
int cfs_buf_reserve(struct cfs_buf *b, size_t extra);
void cfs_buf_reset(struct cfs_buf *b);   /* len = 0, keeps memory */
void cfs_buf_free(struct cfs_buf *b);    /* frees memory, back to CFS_BUF_INIT */
/* Hands the data to the caller (who frees it); the buffer becomes empty. */
char *cfs_buf_steal(struct cfs_buf *b);

#endif
