/* zxvm: the extras of libzxvm beside Zircon's own calls (<zircon/syscalls.h>).
 *
 * A program connects once, then calls zx_* exactly as on Fuchsia. C99. */
#ifndef ZXVM_ZXVM_H_
#define ZXVM_ZXVM_H_

#include <stdint.h>

#include <zircon/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Connect this process to a hypervisor. target: "unix:/path", "host:port" (TLS, with
 * ZXVM_TLS_CA / ZXVM_TLS_CERT / ZXVM_TLS_KEY), "inproc:" (run the guests inside this process,
 * no daemon), or NULL for $ZXVM_ADDR, else unix:/run/zxvmd/zxvmd.sock. On success
 * *out_hypervisor_resource is a handle to the hypervisor resource, for zx_guest_create.
 * Errors: ZX_ERR_BAD_STATE (already connected), ZX_ERR_INVALID_ARGS (bad target or NULL out),
 * ZX_ERR_PEER_CLOSED (no daemon there, or a TLS handshake that failed), ZX_ERR_ACCESS_DENIED
 * (the caller may not open the unix socket), ZX_ERR_NOT_SUPPORTED (inproc: without usable
 * /dev/kvm). */
zx_status_t zxvm_connect(const char *target, zx_handle_t *out_hypervisor_resource);

/* Like zxvm_connect, but attach to (or create) the named persistent session `session` of the
 * daemon, which outlives this process until zxvm_close_session(). NULL or "" is an ephemeral
 * session, the default. Not for "inproc:" (ZX_ERR_NOT_SUPPORTED). */
zx_status_t zxvm_connect_session(const char *target, const char *session,
				 zx_handle_t *out_hypervisor_resource);

/* Set the calling pthread's client thread id, which VCPUs are bound to (spec §2.3). By
 * default each pthread gets a fresh id, the first thread of a process 1. A program that
 * drives one named session from several processes (the zxvm CLI) picks ids itself. 0 is
 * ZX_ERR_INVALID_ARGS. */
zx_status_t zxvm_set_thread_id(uint64_t id);

/* The named sessions of the daemon (ListSessions). Fills up to max entries; *actual is how
 * many there are. */
struct zxvm_session_info {
	char name[65];
	uint32_t handles;
	uint32_t guests;
	uint32_t vcpus;
};
zx_status_t zxvm_list_sessions(struct zxvm_session_info *out, size_t max, size_t *actual);

/* Counters of the daemon (or, in process, of this process): sessions, guests, VCPUs, and for
 * each VCPU its exits by kind (names from zxvm_exit_kind_name). */
#define ZXVM_EXIT_KINDS 9
struct zxvm_stats {
	uint32_t sessions;
	uint32_t guests;
	uint32_t vcpus;
};
struct zxvm_vcpu_stats {
	char session[65];
	uint32_t vpid;
	uint64_t exits[ZXVM_EXIT_KINDS];
};
zx_status_t zxvm_get_stats(struct zxvm_stats *out, struct zxvm_vcpu_stats *vcpus, size_t max,
			   size_t *actual);
/* "io", "mem", "bell", "vcpu", "hlt", "interrupt", "msr", "kick", "error"; NULL past the end. */
const char *zxvm_exit_kind_name(unsigned kind);

/* Close the connected named session on the daemon: every handle in it is closed. */
zx_status_t zxvm_close_session(void);

/* Close every handle of this process's (ephemeral) session and disconnect. Safe to call when
 * not connected. */
void zxvm_disconnect(void);

#ifdef __cplusplus
}
#endif

#endif
