/* The one errno → zx_status_t table (STYLE.md "Errors"). */
#include <errno.h>

#include <zircon/errors.h>

#include "common.h"

zx_status_t zxvm_status_from_errno(int err)
{
	switch (err) {
	case 0:
		return ZX_OK;
	case ENOMEM:
		return ZX_ERR_NO_MEMORY;
	case EMFILE:
	case ENFILE:
	case ENOSPC:
	case EAGAIN:
		return ZX_ERR_NO_RESOURCES;
	case EINVAL:
		return ZX_ERR_INVALID_ARGS;
	case EEXIST:
		return ZX_ERR_ALREADY_EXISTS;
	case ENOENT:
	case ENXIO:
		return ZX_ERR_NOT_FOUND;
	case ENODEV:
	case ENOSYS:
	case EOPNOTSUPP:
		return ZX_ERR_NOT_SUPPORTED;
	case EACCES:
	case EPERM:
		return ZX_ERR_ACCESS_DENIED;
	case EFAULT:
	case ERANGE:
	case E2BIG:
	case EFBIG:
		return ZX_ERR_OUT_OF_RANGE;
	case EBADF:
		return ZX_ERR_BAD_HANDLE;
	case EINTR:
		return ZX_ERR_CANCELED;
	case ETIMEDOUT:
		return ZX_ERR_TIMED_OUT;
	case EIO:
		return ZX_ERR_IO;
	case EPIPE:
	case ECONNRESET:
		return ZX_ERR_PEER_CLOSED;
	default:
		return ZX_ERR_INTERNAL;
	}
}
