/* libzxvm internals: the daemon transport's calls (transport-grpc.c), one per zx_* call with
 * the same arguments, and the per-thread id both transports use. */
#pragma once

#include <zircon/syscalls.h>

uint64_t zxvm__thread_id(void);

zx_status_t zxc_connect(const char *target, const char *session_name, zx_handle_t *out);
void zxc_disconnect(void);
zx_status_t zxc_close_session(void);
struct zxvm_session_info;
struct zxvm_stats;
struct zxvm_vcpu_stats;
zx_status_t zxc_list_sessions(struct zxvm_session_info *out, size_t max, size_t *actual);
zx_status_t zxc_get_stats(struct zxvm_stats *out, struct zxvm_vcpu_stats *vcpus, size_t max,
			  size_t *actual);

zx_status_t zxc_guest_create(zx_handle_t resource, uint32_t options, zx_handle_t *guest,
			     zx_handle_t *vmar);
zx_status_t zxc_guest_set_trap(zx_handle_t guest, uint32_t kind, zx_vaddr_t addr, size_t size,
			       zx_handle_t port, uint64_t key);
zx_status_t zxc_vcpu_create(zx_handle_t guest, uint32_t options, zx_vaddr_t entry,
			    zx_handle_t *out);
zx_status_t zxc_vcpu_enter(zx_handle_t vcpu, zx_port_packet_t *packet);
zx_status_t zxc_vcpu_kick(zx_handle_t vcpu);
zx_status_t zxc_vcpu_interrupt(zx_handle_t vcpu, uint32_t vector);
zx_status_t zxc_vcpu_read_state(zx_handle_t vcpu, uint32_t kind, void *buffer,
				size_t buffer_size);
zx_status_t zxc_vcpu_write_state(zx_handle_t vcpu, uint32_t kind, const void *buffer,
				 size_t buffer_size);
zx_status_t zxc_vmo_create(uint64_t size, uint32_t options, zx_handle_t *out);
zx_status_t zxc_vmo_read(zx_handle_t vmo, void *buffer, uint64_t offset, size_t size);
zx_status_t zxc_vmo_write(zx_handle_t vmo, const void *buffer, uint64_t offset, size_t size);
zx_status_t zxc_vmo_replace_as_executable(zx_handle_t vmo, zx_handle_t vmex, zx_handle_t *out);
zx_status_t zxc_vmar_map(zx_handle_t vmar, zx_vm_option_t options, size_t vmar_offset,
			 zx_handle_t vmo, uint64_t vmo_offset, size_t len, zx_vaddr_t *mapped);
zx_status_t zxc_vmar_unmap(zx_handle_t vmar, zx_vaddr_t addr, size_t len);
zx_status_t zxc_vmar_protect(zx_handle_t vmar, zx_vm_option_t options, zx_vaddr_t addr,
			     size_t len);
zx_status_t zxc_port_create(uint32_t options, zx_handle_t *out);
zx_status_t zxc_port_wait(zx_handle_t port, zx_time_t deadline, zx_port_packet_t *packet);
zx_status_t zxc_port_queue(zx_handle_t port, const zx_port_packet_t *packet);
zx_status_t zxc_handle_close(zx_handle_t handle);
zx_status_t zxc_handle_duplicate(zx_handle_t handle, zx_rights_t rights, zx_handle_t *out);
zx_status_t zxc_handle_replace(zx_handle_t handle, zx_rights_t rights, zx_handle_t *out);
zx_status_t zxc_object_get_info(zx_handle_t handle, uint32_t topic, void *buffer,
				size_t buffer_size, size_t *actual, size_t *avail);
