#include "core/err.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

int cfs_verrf(struct cfs_err *err, int code, const char *fmt, va_list ap)
{
	if (err) {
		err->code = code;
		vsnprintf(err->msg, sizeof err->msg, fmt, ap);
	}
	return code;
}

int cfs_errf(struct cfs_err *err, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	cfs_verrf(err, code, fmt, ap);
	va_end(ap);
	return code;
}

void cfs_err_clear(struct cfs_err *err)
{
	if (err) {
		err->code = 0;
		err->msg[0] = '\0';
	}
}

const char *cfs_errno_name(int code)
{
	if (code < 0)
		code = -code;
	switch (code) {
	case 0: return "OK";
	case EPERM: return "EPERM";
	case ENOENT: return "ENOENT";
	case EIO: return "EIO";
	case E2BIG: return "E2BIG";
	case EBADF: return "EBADF";
	case EAGAIN: return "EAGAIN";
	case ENOMEM: return "ENOMEM";
	case EACCES: return "EACCES";
	case EBUSY: return "EBUSY";
	case EEXIST: return "EEXIST";
	case EXDEV: return "EXDEV";
	case ENOTDIR: return "ENOTDIR";
	case EISDIR: return "EISDIR";
	case EINVAL: return "EINVAL";
	case EFBIG: return "EFBIG";
	case ENOSPC: return "ENOSPC";
	case EROFS: return "EROFS";
	case ERANGE: return "ERANGE";
	case ENAMETOOLONG: return "ENAMETOOLONG";
	case ENOSYS: return "ENOSYS";
	case ENOTEMPTY: return "ENOTEMPTY";
	case ENODATA: return "ENODATA";
	case EPROTO: return "EPROTO";
	case EBADMSG: return "EBADMSG";
	case EOVERFLOW: return "EOVERFLOW";
	case EILSEQ: return "EILSEQ";
	case ENOTSUP: return "ENOTSUP";
	case ECONNREFUSED: return "ECONNREFUSED";
	case ETIMEDOUT: return "ETIMEDOUT";
	case EHOSTUNREACH: return "EHOSTUNREACH";
	case ECANCELED: return "ECANCELED";
	case EINTR: return "EINTR";
	case ENOTCONN: return "ENOTCONN";
	case EPIPE: return "EPIPE";
	case ELOOP: return "ELOOP";
	case EMLINK: return "EMLINK";
	case ETXTBSY: return "ETXTBSY";
	case ESPIPE: return "ESPIPE";
	case EFAULT: return "EFAULT";
	case ENXIO: return "ENXIO";
	case ENODEV: return "ENODEV";
	case EDQUOT: return "EDQUOT";
	case ECONNRESET: return "ECONNRESET";
	default: return "E?";
	}
}
