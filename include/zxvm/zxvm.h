/* zxvm: the extras of libzxvm beside Zircon's own calls (<zircon/syscalls.h>).
 *
 * A program connects once, then calls zx_* exactly as on Fuchsia. C99. */
#ifndef ZXVM_ZXVM_H_
#define ZXVM_ZXVM_H_

#include <zircon/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Connect this process to a hypervisor. target: "unix:/path", "host:port" (TLS, with
 * ZXVM_TLS_CA / ZXVM_TLS_CERT / ZXVM_TLS_KEY), "inproc:" (run the guests inside this process,
 * no daemon), or NULL for $ZXVM_ADDR, else unix:/run/zxvmd/zxvmd.sock. On success
 * *out_hypervisor_resource is a handle to the hypervisor resource, for zx_guest_create.
 * Errors: ZX_ERR_BAD_STATE (already connected), ZX_ERR_INVALID_ARGS (bad target or NULL out),
 * ZX_ERR_PEER_CLOSED (no daemon there), ZX_ERR_ACCESS_DENIED (refused), ZX_ERR_NOT_SUPPORTED
 * (inproc: without usable /dev/kvm). */
zx_status_t zxvm_connect(const char *target, zx_handle_t *out_hypervisor_resource);

/* Like zxvm_connect, but attach to (or create) the named persistent session `session` of the
 * daemon, which outlives this process until zxvm_close_session(). NULL or "" is an ephemeral
 * session, the default. Not for "inproc:" (ZX_ERR_NOT_SUPPORTED). */
zx_status_t zxvm_connect_session(const char *target, const char *session,
				 zx_handle_t *out_hypervisor_resource);

/* Close the connected named session on the daemon: every handle in it is closed. */
zx_status_t zxvm_close_session(void);

/* Close every handle of this process's (ephemeral) session and disconnect. Safe to call when
 * not connected. */
void zxvm_disconnect(void);

#ifdef __cplusplus
}
#endif

#endif
