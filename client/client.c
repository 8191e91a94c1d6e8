/* libzxvm: Zircon's calls, each with its exact signature, over a transport chosen by
 * zxvm_connect(). The in-process transport runs them on kvm_backend directly with one handle
 * table for the process; the daemon transport is added beside it.
 *
 * Thread identity: each pthread gets its own id on first use, which is what binds a VCPU to
 * the thread that created it (spec §2.3). */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <zircon/errors.h>
#include <zircon/syscalls.h>
#include <zxvm/zxvm.h>

#include "kvm_backend.h"

static pthread_mutex_t conn_lock = PTHREAD_MUTEX_INITIALIZER;
static kb_table *_Atomic inproc_table;
static atomic_uint_least64_t next_tid = 1;
static __thread uint64_t my_tid;

static uint64_t tid(void)
{
	if (!my_tid)
		my_tid = atomic_fetch_add(&next_tid, 1);
	return my_tid;
}

/* Every call before zxvm_connect() fails as a call on an invalid handle would. */
#define TABLE_OR_RETURN(t)                                                                         \
	kb_table *t = atomic_load(&inproc_table);                                                  \
	if (!t)                                                                                    \
		return ZX_ERR_BAD_HANDLE

zx_status_t zxvm_connect(const char *target, zx_handle_t *out_hypervisor_resource)
{
	if (!out_hypervisor_resource)
		return ZX_ERR_INVALID_ARGS;
	if (!target)
		target = getenv("ZXVM_ADDR");
	if (!target || strcmp(target, "inproc:") != 0)
		return ZX_ERR_NOT_SUPPORTED;
	pthread_mutex_lock(&conn_lock);
	zx_status_t st = ZX_OK;
	kb_table *t = NULL;
	if (atomic_load(&inproc_table))
		st = ZX_ERR_BAD_STATE;
	if (st == ZX_OK)
		st = kb_platform_check(NULL);
	if (st == ZX_OK)
		st = kb_table_create(NULL, &t);
	if (st == ZX_OK)
		st = kb_table_grant_resource(t, false, out_hypervisor_resource);
	if (st == ZX_OK)
		atomic_store(&inproc_table, t);
	else
		kb_table_destroy(t);
	pthread_mutex_unlock(&conn_lock);
	return st;
}

void zxvm_disconnect(void)
{
	pthread_mutex_lock(&conn_lock);
	kb_table *t = atomic_exchange(&inproc_table, NULL);
	pthread_mutex_unlock(&conn_lock);
	kb_table_destroy(t);
}

zx_status_t zx_guest_create(zx_handle_t resource, uint32_t options, zx_handle_t *guest_handle,
			    zx_handle_t *vmar_handle)
{
	TABLE_OR_RETURN(t);
	return kb_guest_create(t, resource, options, guest_handle, vmar_handle);
}

zx_status_t zx_guest_set_trap(zx_handle_t handle, uint32_t kind, zx_vaddr_t addr, size_t size,
			      zx_handle_t port_handle, uint64_t key)
{
	TABLE_OR_RETURN(t);
	return kb_guest_set_trap(t, handle, kind, addr, size, port_handle, key);
}

zx_status_t zx_vcpu_create(zx_handle_t guest, uint32_t options, zx_vaddr_t entry, zx_handle_t *out)
{
	TABLE_OR_RETURN(t);
	return kb_vcpu_create(t, tid(), guest, options, entry, out);
}

zx_status_t zx_vcpu_enter(zx_handle_t handle, zx_port_packet_t *packet)
{
	TABLE_OR_RETURN(t);
	return kb_vcpu_enter(t, tid(), handle, packet);
}

zx_status_t zx_vcpu_kick(zx_handle_t handle)
{
	TABLE_OR_RETURN(t);
	return kb_vcpu_kick(t, handle);
}

zx_status_t zx_vcpu_interrupt(zx_handle_t handle, uint32_t vector)
{
	TABLE_OR_RETURN(t);
	return kb_vcpu_interrupt(t, handle, vector);
}

zx_status_t zx_vcpu_read_state(zx_handle_t handle, uint32_t kind, void *buffer, size_t buffer_size)
{
	TABLE_OR_RETURN(t);
	return kb_vcpu_read_state(t, tid(), handle, kind, buffer, buffer_size);
}

zx_status_t zx_vcpu_write_state(zx_handle_t handle, uint32_t kind, const void *buffer,
				size_t buffer_size)
{
	TABLE_OR_RETURN(t);
	return kb_vcpu_write_state(t, tid(), handle, kind, buffer, buffer_size);
}

zx_status_t zx_vmo_create(uint64_t size, uint32_t options, zx_handle_t *out)
{
	TABLE_OR_RETURN(t);
	return kb_vmo_create(t, size, options, out);
}

zx_status_t zx_vmo_read(zx_handle_t handle, void *buffer, uint64_t offset, size_t buffer_size)
{
	TABLE_OR_RETURN(t);
	return kb_vmo_read(t, handle, buffer, offset, buffer_size);
}

zx_status_t zx_vmo_write(zx_handle_t handle, const void *buffer, uint64_t offset,
			 size_t buffer_size)
{
	TABLE_OR_RETURN(t);
	return kb_vmo_write(t, handle, buffer, offset, buffer_size);
}

zx_status_t zx_vmo_replace_as_executable(zx_handle_t handle, zx_handle_t vmex, zx_handle_t *out)
{
	TABLE_OR_RETURN(t);
	return kb_vmo_replace_as_executable(t, handle, vmex, out);
}

zx_status_t zx_vmar_map(zx_handle_t handle, zx_vm_option_t options, size_t vmar_offset,
			zx_handle_t vmo, uint64_t vmo_offset, size_t len, zx_vaddr_t *mapped_addr)
{
	TABLE_OR_RETURN(t);
	return kb_vmar_map(t, handle, options, vmar_offset, vmo, vmo_offset, len, mapped_addr);
}

zx_status_t zx_vmar_unmap(zx_handle_t handle, zx_vaddr_t addr, size_t len)
{
	TABLE_OR_RETURN(t);
	return kb_vmar_unmap(t, handle, addr, len);
}

zx_status_t zx_vmar_protect(zx_handle_t handle, zx_vm_option_t options, zx_vaddr_t addr,
			    size_t len)
{
	TABLE_OR_RETURN(t);
	return kb_vmar_protect(t, handle, options, addr, len);
}

zx_status_t zx_port_create(uint32_t options, zx_handle_t *out)
{
	TABLE_OR_RETURN(t);
	return kb_port_create(t, options, out);
}

zx_status_t zx_port_wait(zx_handle_t handle, zx_time_t deadline, zx_port_packet_t *packet)
{
	TABLE_OR_RETURN(t);
	return kb_port_wait(t, handle, deadline, packet);
}

zx_status_t zx_port_queue(zx_handle_t handle, const zx_port_packet_t *packet)
{
	TABLE_OR_RETURN(t);
	return kb_port_queue(t, handle, packet);
}

zx_status_t zx_handle_close(zx_handle_t handle)
{
	if (handle == ZX_HANDLE_INVALID)
		return ZX_OK;
	TABLE_OR_RETURN(t);
	return kb_handle_close(t, handle);
}

zx_status_t zx_handle_duplicate(zx_handle_t handle, zx_rights_t rights, zx_handle_t *out)
{
	TABLE_OR_RETURN(t);
	return kb_handle_duplicate(t, handle, rights, out);
}

zx_status_t zx_handle_replace(zx_handle_t handle, zx_rights_t rights, zx_handle_t *out)
{
	TABLE_OR_RETURN(t);
	return kb_handle_replace(t, handle, rights, out);
}

zx_status_t zx_object_get_info(zx_handle_t handle, uint32_t topic, void *buffer,
			       size_t buffer_size, size_t *actual, size_t *avail)
{
	TABLE_OR_RETURN(t);
	return kb_object_get_info(t, handle, topic, buffer, buffer_size, actual, avail);
}
