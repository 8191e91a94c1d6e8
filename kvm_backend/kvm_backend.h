/* kvm_backend: Zircon's guest / VCPU / VMO / VMAR / port / handle model on Linux KVM, in-process.
 *
 * Every function is one Zircon syscall, performed against a handle table (`kb_table`, a Zircon
 * process: in the daemon one per session, in libzxvm's in-process transport one per process).
 * Each does the checks of spec §2 and §4 in Zircon's order (options, then handle lookup:
 * BAD_HANDLE, WRONG_TYPE, ACCESS_DENIED, then kinds and sizes) and returns a zx_status_t.
 * Nothing here logs, and nothing a guest or a caller does aborts the process.
 *
 * Threads: every function may be called from any thread, concurrently. The thread rules of
 * Zircon are kept with `tid`, the caller's thread identity (any non-zero value that names one
 * client thread; the daemon passes the client's thread id, libzxvm's in-process transport the
 * calling pthread's): a VCPU is bound to the tid that created it, one VCPU per tid, and
 * enter/read_state/write_state from another tid are ZX_ERR_BAD_STATE. Independently of tid,
 * the vcpu ioctls of one VCPU must all come from one OS thread: kb_vcpu_create, _enter,
 * _read_state and _write_state of a VCPU are called on the OS thread that created it (the
 * daemon's pinned VCPU thread, or the application's own thread in process). kb_vcpu_kick,
 * kb_vcpu_interrupt, kb_handle_close and everything else may come from any thread.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <zircon/syscalls.h>
#include <zircon/syscalls/hypervisor.h>
#include <zircon/syscalls/object.h>
#include <zircon/syscalls/port.h>
#include <zircon/types.h>

#include "zxvm-limits.h"

typedef struct kb_table kb_table;

/* Whether this host can run guests at all (/dev/kvm present, usable and new enough). ZX_OK, or
 * ZX_ERR_NOT_SUPPORTED with a reason in *out_reason (a static string) when non-NULL. */
zx_status_t kb_platform_check(const char **out_reason);

/* A new empty handle table with the given limits (NULL: the defaults of limits.h). */
zx_status_t kb_table_create(const struct zxvm_limits *limits, kb_table **out);
/* Closes every handle of the table (VCPUs inside enter are kicked first), then frees it. */
void kb_table_destroy(kb_table *table);
/* Kick every VCPU created through this table (shutdown, client gone). */
void kb_table_kick_all(kb_table *table);
/* Adds a handle to the hypervisor resource (ZX_RSRC_KIND_SYSTEM, HYPERVISOR_BASE), the grant
 * an authorized caller receives; or, with vmex, to the VMEX resource. */
zx_status_t kb_table_grant_resource(kb_table *table, bool vmex, zx_handle_t *out);
/* Whether the client thread tid has a VCPU in this table (one VCPU per thread, spec §2.3). */
bool kb_table_tid_has_vcpu(kb_table *table, uint64_t tid);
/* Counts of live objects reachable from the table, for stats and leak tests. */
struct kb_table_stats {
	uint32_t handles;
	uint32_t guests;
	uint32_t vcpus;
	uint32_t ports;
	uint64_t memory_bytes;
};
void kb_table_get_stats(kb_table *table, struct kb_table_stats *out);

/* §2: the guest / VCPU calls. */
zx_status_t kb_guest_create(kb_table *table, zx_handle_t resource, uint32_t options,
			    zx_handle_t *out_guest, zx_handle_t *out_vmar);
zx_status_t kb_guest_set_trap(kb_table *table, zx_handle_t guest, uint32_t kind, zx_vaddr_t addr,
			      size_t size, zx_handle_t port, uint64_t key);
zx_status_t kb_vcpu_create(kb_table *table, uint64_t tid, zx_handle_t guest, uint32_t options,
			   zx_vaddr_t entry, zx_handle_t *out);
zx_status_t kb_vcpu_enter(kb_table *table, uint64_t tid, zx_handle_t vcpu,
			  zx_port_packet_t *out_packet);
zx_status_t kb_vcpu_kick(kb_table *table, zx_handle_t vcpu);
zx_status_t kb_vcpu_interrupt(kb_table *table, zx_handle_t vcpu, uint32_t vector);
zx_status_t kb_vcpu_read_state(kb_table *table, uint64_t tid, zx_handle_t vcpu, uint32_t kind,
			       void *buffer, size_t buffer_size);
zx_status_t kb_vcpu_write_state(kb_table *table, uint64_t tid, zx_handle_t vcpu, uint32_t kind,
				const void *buffer, size_t buffer_size);

/* §4: VMO, guest VMAR, port, handle and info calls. */
zx_status_t kb_vmo_create(kb_table *table, uint64_t size, uint32_t options, zx_handle_t *out);
zx_status_t kb_vmo_read(kb_table *table, zx_handle_t vmo, void *buffer, uint64_t offset,
			size_t buffer_size);
zx_status_t kb_vmo_write(kb_table *table, zx_handle_t vmo, const void *buffer, uint64_t offset,
			 size_t buffer_size);
zx_status_t kb_vmo_replace_as_executable(kb_table *table, zx_handle_t vmo, zx_handle_t vmex,
					 zx_handle_t *out);
zx_status_t kb_vmar_map(kb_table *table, zx_handle_t vmar, zx_vm_option_t options,
			size_t vmar_offset, zx_handle_t vmo, uint64_t vmo_offset, size_t len,
			zx_vaddr_t *out_mapped_addr);
zx_status_t kb_vmar_unmap(kb_table *table, zx_handle_t vmar, zx_vaddr_t addr, size_t len);
zx_status_t kb_vmar_protect(kb_table *table, zx_handle_t vmar, zx_vm_option_t options,
			    zx_vaddr_t addr, size_t len);
zx_status_t kb_port_create(kb_table *table, uint32_t options, zx_handle_t *out);
/* deadline: ZX_CLOCK_MONOTONIC nanoseconds (CLOCK_MONOTONIC here); ZX_TIME_INFINITE waits
 * forever; a past deadline polls. */
zx_status_t kb_port_wait(kb_table *table, zx_handle_t port, zx_time_t deadline,
			 zx_port_packet_t *out_packet);
zx_status_t kb_port_queue(kb_table *table, zx_handle_t port, const zx_port_packet_t *packet);
zx_status_t kb_handle_close(kb_table *table, zx_handle_t handle);
zx_status_t kb_handle_duplicate(kb_table *table, zx_handle_t handle, zx_rights_t rights,
				zx_handle_t *out);
zx_status_t kb_handle_replace(kb_table *table, zx_handle_t handle, zx_rights_t rights,
			      zx_handle_t *out);
zx_status_t kb_object_get_info(kb_table *table, zx_handle_t handle, uint32_t topic, void *buffer,
			       size_t buffer_size, size_t *actual, size_t *avail);

/* The monotonic clock port deadlines are measured on, in nanoseconds. */
zx_time_t kb_clock_monotonic(void);

/* Per-VCPU exit counters, kept by the VCPU's own thread (stats). */
enum kb_exit_kind {
	KB_EXIT_IO,
	KB_EXIT_MEM,
	KB_EXIT_BELL,
	KB_EXIT_VCPU_PACKET,
	KB_EXIT_HLT,
	KB_EXIT_INTERRUPT,
	KB_EXIT_MSR,
	KB_EXIT_KICK,
	KB_EXIT_ERROR,
	KB_EXIT_KIND_COUNT,
};
const char *kb_exit_kind_to_string(enum kb_exit_kind kind);

/* The VCPUs bound in a table with their exit counters (read without stopping them). Fills
 * up to max entries and returns how many VCPUs there are. */
struct kb_vcpu_stats {
	zx_koid_t koid;
	zx_koid_t guest_koid;
	uint32_t vpid;
	uint64_t exits[KB_EXIT_KIND_COUNT];
};
size_t kb_table_vcpu_stats(kb_table *table, struct kb_vcpu_stats *out, size_t max);
