/* The Zircon calls zxvm provides (spec §2 and §4), with Zircon's exact signatures so that VMM
 * code written against Zircon compiles unchanged.
 *
 * Public header: C99 and C++ clean. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <zircon/errors.h>
#include <zircon/rights.h>
#include <zircon/syscalls/hypervisor.h>
#include <zircon/syscalls/object.h>
#include <zircon/syscalls/port.h>
#include <zircon/syscalls/resource.h>
#include <zircon/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Guests and VCPUs (spec §2). */
zx_status_t zx_guest_create(zx_handle_t resource, uint32_t options, zx_handle_t *guest_handle,
			    zx_handle_t *vmar_handle);
zx_status_t zx_guest_set_trap(zx_handle_t handle, uint32_t kind, zx_vaddr_t addr, size_t size,
			      zx_handle_t port_handle, uint64_t key);
zx_status_t zx_vcpu_create(zx_handle_t guest, uint32_t options, zx_vaddr_t entry,
			   zx_handle_t *out);
zx_status_t zx_vcpu_enter(zx_handle_t handle, zx_port_packet_t *packet);
zx_status_t zx_vcpu_kick(zx_handle_t handle);
zx_status_t zx_vcpu_interrupt(zx_handle_t handle, uint32_t vector);
zx_status_t zx_vcpu_read_state(zx_handle_t handle, uint32_t kind, void *buffer,
			       size_t buffer_size);
zx_status_t zx_vcpu_write_state(zx_handle_t handle, uint32_t kind, const void *buffer,
				size_t buffer_size);

/* Memory (spec §4). */
zx_status_t zx_vmo_create(uint64_t size, uint32_t options, zx_handle_t *out);
zx_status_t zx_vmo_read(zx_handle_t handle, void *buffer, uint64_t offset, size_t buffer_size);
zx_status_t zx_vmo_write(zx_handle_t handle, const void *buffer, uint64_t offset,
			 size_t buffer_size);
zx_status_t zx_vmo_replace_as_executable(zx_handle_t handle, zx_handle_t vmex, zx_handle_t *out);
zx_status_t zx_vmar_map(zx_handle_t handle, zx_vm_option_t options, size_t vmar_offset,
			zx_handle_t vmo, uint64_t vmo_offset, size_t len, zx_vaddr_t *mapped_addr);
zx_status_t zx_vmar_unmap(zx_handle_t handle, zx_vaddr_t addr, size_t len);
zx_status_t zx_vmar_protect(zx_handle_t handle, zx_vm_option_t options, zx_vaddr_t addr,
			    size_t len);

/* Ports (spec §4). */
zx_status_t zx_port_create(uint32_t options, zx_handle_t *out);
zx_status_t zx_port_wait(zx_handle_t handle, zx_time_t deadline, zx_port_packet_t *packet);
zx_status_t zx_port_queue(zx_handle_t handle, const zx_port_packet_t *packet);

/* Handles and objects (spec §4). */
zx_status_t zx_handle_close(zx_handle_t handle);
zx_status_t zx_handle_duplicate(zx_handle_t handle, zx_rights_t rights, zx_handle_t *out);
zx_status_t zx_handle_replace(zx_handle_t handle, zx_rights_t rights, zx_handle_t *out);
zx_status_t zx_object_get_info(zx_handle_t handle, uint32_t topic, void *buffer,
			       size_t buffer_size, size_t *actual, size_t *avail);

/* The name of a status ("ZX_ERR_BAD_STATE"), or "(UNKNOWN)"; never NULL, never freed. */
const char *zx_status_get_string(zx_status_t status);

#ifdef __cplusplus
}
#endif
