/* common: small shared helpers used by every zxvm module (cleanup attributes, limits).
 *
 * Only libc here: common/ may use nothing of ours but the Zircon ABI headers. */
#pragma once

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include <zircon/types.h>

/* Scope-bound cleanup, in the manner of systemd's cleanup-fundamental.h: a variable declared
 * _cleanup_(fn) has fn(&var) run when it leaves scope; TAKE_PTR/TAKE_FD hand ownership out. */
#define _cleanup_(f) __attribute__((cleanup(f)))

static inline void zxvm_freep(void *p)
{
	free(*(void **)p);
}
#define _cleanup_free_ _cleanup_(zxvm_freep)

static inline void zxvm_closep(int *fd)
{
	if (*fd >= 0) {
		int saved = errno;
		close(*fd);
		errno = saved;
	}
}
#define _cleanup_close_ _cleanup_(zxvm_closep)

#define TAKE_PTR(p)                                                                                \
	({                                                                                         \
		__typeof__(p) _taken = (p);                                                        \
		(p) = NULL;                                                                        \
		_taken;                                                                            \
	})
#define TAKE_FD(fd)                                                                                \
	({                                                                                         \
		int _taken = (fd);                                                                 \
		(fd) = -1;                                                                         \
		_taken;                                                                            \
	})

#define ZXVM_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define ZXVM_ALIGN_UP(x, a) (((x) + (a)-1) & ~((__typeof__(x))(a)-1))
#define ZXVM_IS_ALIGNED(x, a) (((x) & ((__typeof__(x))(a)-1)) == 0)

/* errno → zx_status_t: the one table every module uses at its edge with the OS (STYLE.md). */
zx_status_t zxvm_status_from_errno(int err);
