/* err.h — an error code with a message that travels with it.
 *
 * Every backend call returns 0 or a negative errno; where the caller needs to
 * tell a person why, it also fills a struct cfs_err.  The code in the struct is
 * the same negative errno the function returned. */
#ifndef CFS_ERR_H
#define CFS_ERR_H

#include <stdarg.h>

struct cfs_err {
	int code;        /* 0 or a negative errno */
	char msg[200];   /* human text, no trailing newline; "" when code == 0 */
};

/* Set err (may be NULL) and return code, so callers can write
 *   return cfs_errf(err, -EINVAL, "expires must be ISO 8601 or +Nd");  */
int cfs_errf(struct cfs_err *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int cfs_verrf(struct cfs_err *err, int code, const char *fmt, va_list ap);
void cfs_err_clear(struct cfs_err *err);

/* "EINVAL", "ENOENT", …; "E?" for codes outside the table.  Takes a positive
 * or negative errno. */
const char *cfs_errno_name(int code);

#endif
