/* errmap.c — HTTP status and error body → errno: the one place the manager
 * turns an agent's or peer's answer into what a FUSE caller sees.
 *
 * The status picks the errno (DESIGN.md section 2's errno table), except
 * that an error body naming a filesystem errno ("errno":"ENOTEMPTY") passes
 * that errno through, so `rmdir` on a remote non-empty directory says what a
 * local one would.  Only the names below cross the wire; anything else falls
 * back to the status. */
#include <errno.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "wire/wire.h"

static const struct {
	const char *name;
	int code;
} wire_errnos[] = {
	{ "EPERM", EPERM },
	{ "ENOENT", ENOENT },
	{ "EIO", EIO },
	{ "E2BIG", E2BIG },
	{ "EACCES", EACCES },
	{ "EBUSY", EBUSY },
	{ "EEXIST", EEXIST },
	{ "EXDEV", EXDEV },
	{ "ENOTDIR", ENOTDIR },
	{ "EISDIR", EISDIR },
	{ "EINVAL", EINVAL },
	{ "ETXTBSY", ETXTBSY },
	{ "EFBIG", EFBIG },
	{ "ENOSPC", ENOSPC },
	{ "EROFS", EROFS },
	{ "EMLINK", EMLINK },
	{ "ERANGE", ERANGE },
	{ "ENAMETOOLONG", ENAMETOOLONG },
	{ "ENOSYS", ENOSYS },
	{ "ENOTEMPTY", ENOTEMPTY },
	{ "ELOOP", ELOOP },
	{ "ENODATA", ENODATA },
	{ "EOVERFLOW", EOVERFLOW },
	{ "ENOTSUP", ENOTSUP },
	{ "EDQUOT", EDQUOT },
	{ "ESTALE", ESTALE },
};
#define WIRE_NERRNOS (sizeof wire_errnos / sizeof wire_errnos[0])

int wire_errno_from_name(const char *name)
{
	if (!name)
		return 0;
	/* Linux spells one errno two ways. */
	if (strcmp(name, "EOPNOTSUPP") == 0)
		return ENOTSUP;
	for (size_t i = 0; i < WIRE_NERRNOS; i++)
		if (strcmp(wire_errnos[i].name, name) == 0)
			return wire_errnos[i].code;
	return 0;
}

const char *wire_errno_name(int code)
{
	if (code < 0)
		code = -code;
	for (size_t i = 0; i < WIRE_NERRNOS; i++)
		if (wire_errnos[i].code == code)
			return wire_errnos[i].name;
	return NULL;
}

/* The "errno" member of a JSON error body, as a positive errno, or 0. */
static int body_errno(const char *body, size_t len)
{
	if (!body || !len)
		return 0;
	cJSON *j = cJSON_ParseWithLength(body, len);
	const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "errno");
	int code = cJSON_IsString(e) ? wire_errno_from_name(e->valuestring) : 0;
	cJSON_Delete(j);
	return code;
}

int wire_status_errno(int status, const char *body, size_t len)
{
	if (status >= 200 && status < 400)
		return 0;
	int code = body_errno(body, len);
	if (code)
		return -code;
	switch (status) {
	case 400: return -EINVAL;
	case 401: return -EACCES;
	case 403: return -EACCES;
	case 404: return -ENOENT;
	case 405: return -ENOTSUP;
	case 408: return -ETIMEDOUT;
	case 409: return -EEXIST;
	case 410: return -ENOENT;
	case 413: return -EFBIG;
	case 414: return -ENAMETOOLONG;
	case 416: return -EINVAL;
	case 422: return -EINVAL;
	case 423: return -EBUSY;
	case 429: return -EBUSY;
	case 501: return -ENOTSUP;
	case 503: return -EHOSTUNREACH;
	case 504: return -ETIMEDOUT;
	default: return -EIO;    /* other 5xx, and statuses a peer should not send */
	}
}
