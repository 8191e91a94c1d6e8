/* libzxvm: Zircon's calls, each with its exact signature, over the transport chosen by
 * zxvm_connect(): "inproc:" runs them on kvm_backend in this process with one handle table;
 * anything else goes to a zxvmd (transport-grpc.c).
 *
 * Thread identity: each pthread gets its own id on first use, which is what binds a VCPU to
 * the thread that created it (spec §2.3), in process and through the daemon alike. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zircon/errors.h>
#include <zircon/syscalls.h>
#include <zxvm/zxvm.h>

#include "client-internal.h"
#include "kvm_backend.h"

#define DEFAULT_TARGET "unix:/run/zxvmd/zxvmd.sock"

enum mode { NOT_CONNECTED, INPROC, DAEMON };

static pthread_mutex_t conn_lock = PTHREAD_MUTEX_INITIALIZER;
static _Atomic int mode;
static kb_table *inproc_table;
static atomic_uint_least64_t next_tid = 1;
static __thread uint64_t my_tid;

uint64_t zxvm__thread_id(void)
{
	if (!my_tid)
		my_tid = atomic_fetch_add(&next_tid, 1);
	return my_tid;
}

zx_status_t zxvm_set_thread_id(uint64_t id)
{
	if (id == 0)
		return ZX_ERR_INVALID_ARGS;
	my_tid = id;
	return ZX_OK;
}

static zx_status_t connect_inproc(zx_handle_t *out)
{
	kb_table *t = NULL;
	zx_status_t st = kb_platform_check(NULL);
	if (st == ZX_OK)
		st = kb_table_create(NULL, &t);
	if (st == ZX_OK)
		st = kb_table_grant_resource(t, false, out);
	if (st == ZX_OK)
		inproc_table = t;
	else
		kb_table_destroy(t);
	return st;
}

zx_status_t zxvm_connect_session(const char *target, const char *session,
				 zx_handle_t *out_hypervisor_resource)
{
	if (!out_hypervisor_resource)
		return ZX_ERR_INVALID_ARGS;
	if (!target || !target[0])
		target = getenv("ZXVM_ADDR");
	if (!target || !target[0])
		target = DEFAULT_TARGET;
	pthread_mutex_lock(&conn_lock);
	zx_status_t st = ZX_OK;
	if (atomic_load(&mode) != NOT_CONNECTED) {
		st = ZX_ERR_BAD_STATE;
	} else if (strcmp(target, "inproc:") == 0) {
		st = session && session[0] ? ZX_ERR_NOT_SUPPORTED
					   : connect_inproc(out_hypervisor_resource);
		if (st == ZX_OK)
			atomic_store(&mode, INPROC);
	} else {
		st = zxc_connect(target, session, out_hypervisor_resource);
		if (st == ZX_OK)
			atomic_store(&mode, DAEMON);
	}
	pthread_mutex_unlock(&conn_lock);
	return st;
}

zx_status_t zxvm_connect(const char *target, zx_handle_t *out_hypervisor_resource)
{
	return zxvm_connect_session(target, NULL, out_hypervisor_resource);
}

zx_status_t zxvm_close_session(void)
{
	if (atomic_load(&mode) != DAEMON)
		return ZX_ERR_BAD_STATE;
	return zxc_close_session();
}

const char *zxvm_exit_kind_name(unsigned kind)
{
	return kind < ZXVM_EXIT_KINDS && kind < KB_EXIT_KIND_COUNT
		       ? kb_exit_kind_to_string((enum kb_exit_kind)kind)
		       : NULL;
}

zx_status_t zxvm_list_sessions(struct zxvm_session_info *out, size_t max, size_t *actual)
{
	if (max && !out)
		return ZX_ERR_INVALID_ARGS;
	switch (atomic_load(&mode)) {
	case INPROC:
		if (actual)
			*actual = 0; /* in process there is one unnamed table */
		return ZX_OK;
	case DAEMON:
		return zxc_list_sessions(out, max, actual);
	default:
		return ZX_ERR_BAD_STATE;
	}
}

zx_status_t zxvm_get_stats(struct zxvm_stats *out, struct zxvm_vcpu_stats *vcpus, size_t max,
			   size_t *actual)
{
	if (!out || (max && !vcpus))
		return ZX_ERR_INVALID_ARGS;
	if (atomic_load(&mode) == DAEMON)
		return zxc_get_stats(out, vcpus, max, actual);
	if (atomic_load(&mode) != INPROC)
		return ZX_ERR_BAD_STATE;
	struct kb_table_stats ts;
	kb_table_get_stats(inproc_table, &ts);
	*out = (struct zxvm_stats){.sessions = 1, .guests = ts.guests, .vcpus = ts.vcpus};
	struct kb_vcpu_stats vs[64];
	size_t n = kb_table_vcpu_stats(inproc_table, vs, 64);
	for (size_t i = 0; i < n && i < 64 && i < max; i++) {
		memset(&vcpus[i], 0, sizeof(vcpus[i]));
		snprintf(vcpus[i].session, sizeof(vcpus[i].session), "inproc");
		vcpus[i].vpid = vs[i].vpid;
		for (unsigned k = 0; k < ZXVM_EXIT_KINDS && k < KB_EXIT_KIND_COUNT; k++)
			vcpus[i].exits[k] = vs[i].exits[k];
	}
	if (actual)
		*actual = n;
	return ZX_OK;
}

void zxvm_disconnect(void)
{
	pthread_mutex_lock(&conn_lock);
	int m = atomic_exchange(&mode, NOT_CONNECTED);
	if (m == INPROC) {
		kb_table_destroy(inproc_table);
		inproc_table = NULL;
	} else if (m == DAEMON) {
		zxc_disconnect();
	}
	pthread_mutex_unlock(&conn_lock);
}

/* Route a call: in process with the handle table, or to the daemon. Before zxvm_connect()
 * every call fails as a call on an invalid handle does. */
#define ROUTE(inproc_call, daemon_call)                                                            	switch (atomic_load(&mode)) {                                                              	case INPROC:                                                                               		return inproc_call;                                                                	case DAEMON:                                                                               		return daemon_call;                                                                	default:                                                                                   		return ZX_ERR_BAD_HANDLE;                                                          	}

zx_status_t zx_guest_create(zx_handle_t resource, uint32_t options, zx_handle_t *guest_handle,
			    zx_handle_t *vmar_handle)
{
	ROUTE(kb_guest_create(inproc_table, resource, options, guest_handle, vmar_handle),
	      zxc_guest_create(resource, options, guest_handle, vmar_handle));
}

zx_status_t zx_guest_set_trap(zx_handle_t handle, uint32_t kind, zx_vaddr_t addr, size_t size,
			      zx_handle_t port_handle, uint64_t key)
{
	ROUTE(kb_guest_set_trap(inproc_table, handle, kind, addr, size, port_handle, key),
	      zxc_guest_set_trap(handle, kind, addr, size, port_handle, key));
}

zx_status_t zx_vcpu_create(zx_handle_t guest, uint32_t options, zx_vaddr_t entry, zx_handle_t *out)
{
	ROUTE(kb_vcpu_create(inproc_table, zxvm__thread_id(), guest, options, entry, out),
	      zxc_vcpu_create(guest, options, entry, out));
}

zx_status_t zx_vcpu_enter(zx_handle_t handle, zx_port_packet_t *packet)
{
	ROUTE(kb_vcpu_enter(inproc_table, zxvm__thread_id(), handle, packet),
	      zxc_vcpu_enter(handle, packet));
}

zx_status_t zx_vcpu_kick(zx_handle_t handle)
{
	ROUTE(kb_vcpu_kick(inproc_table, handle),
	      zxc_vcpu_kick(handle));
}

zx_status_t zx_vcpu_interrupt(zx_handle_t handle, uint32_t vector)
{
	ROUTE(kb_vcpu_interrupt(inproc_table, handle, vector),
	      zxc_vcpu_interrupt(handle, vector));
}

zx_status_t zx_vcpu_read_state(zx_handle_t handle, uint32_t kind, void *buffer, size_t buffer_size)
{
	ROUTE(kb_vcpu_read_state(inproc_table, zxvm__thread_id(), handle, kind, buffer, buffer_size),
	      zxc_vcpu_read_state(handle, kind, buffer, buffer_size));
}

zx_status_t zx_vcpu_write_state(zx_handle_t handle, uint32_t kind, const void *buffer,
				size_t buffer_size)
{
	ROUTE(kb_vcpu_write_state(inproc_table, zxvm__thread_id(), handle, kind, buffer, buffer_size),
	      zxc_vcpu_write_state(handle, kind, buffer, buffer_size));
}

zx_status_t zx_vmo_create(uint64_t size, uint32_t options, zx_handle_t *out)
{
	ROUTE(kb_vmo_create(inproc_table, size, options, out),
	      zxc_vmo_create(size, options, out));
}

zx_status_t zx_vmo_read(zx_handle_t handle, void *buffer, uint64_t offset, size_t buffer_size)
{
	ROUTE(kb_vmo_read(inproc_table, handle, buffer, offset, buffer_size),
	      zxc_vmo_read(handle, buffer, offset, buffer_size));
}

zx_status_t zx_vmo_write(zx_handle_t handle, const void *buffer, uint64_t offset,
			 size_t buffer_size)
{
	ROUTE(kb_vmo_write(inproc_table, handle, buffer, offset, buffer_size),
	      zxc_vmo_write(handle, buffer, offset, buffer_size));
}

zx_status_t zx_vmo_replace_as_executable(zx_handle_t handle, zx_handle_t vmex, zx_handle_t *out)
{
	ROUTE(kb_vmo_replace_as_executable(inproc_table, handle, vmex, out),
	      zxc_vmo_replace_as_executable(handle, vmex, out));
}

zx_status_t zx_vmar_map(zx_handle_t handle, zx_vm_option_t options, size_t vmar_offset,
			zx_handle_t vmo, uint64_t vmo_offset, size_t len, zx_vaddr_t *mapped_addr)
{
	ROUTE(kb_vmar_map(inproc_table, handle, options, vmar_offset, vmo, vmo_offset, len, mapped_addr),
	      zxc_vmar_map(handle, options, vmar_offset, vmo, vmo_offset, len, mapped_addr));
}

zx_status_t zx_vmar_unmap(zx_handle_t handle, zx_vaddr_t addr, size_t len)
{
	ROUTE(kb_vmar_unmap(inproc_table, handle, addr, len),
	      zxc_vmar_unmap(handle, addr, len));
}

zx_status_t zx_vmar_protect(zx_handle_t handle, zx_vm_option_t options, zx_vaddr_t addr,
			    size_t len)
{
	ROUTE(kb_vmar_protect(inproc_table, handle, options, addr, len),
	      zxc_vmar_protect(handle, options, addr, len));
}

zx_status_t zx_port_create(uint32_t options, zx_handle_t *out)
{
	ROUTE(kb_port_create(inproc_table, options, out),
	      zxc_port_create(options, out));
}

zx_status_t zx_port_wait(zx_handle_t handle, zx_time_t deadline, zx_port_packet_t *packet)
{
	ROUTE(kb_port_wait(inproc_table, handle, deadline, packet),
	      zxc_port_wait(handle, deadline, packet));
}

zx_status_t zx_port_queue(zx_handle_t handle, const zx_port_packet_t *packet)
{
	ROUTE(kb_port_queue(inproc_table, handle, packet),
	      zxc_port_queue(handle, packet));
}

zx_status_t zx_handle_close(zx_handle_t handle)
{
	if (handle == ZX_HANDLE_INVALID)
		return ZX_OK;
	ROUTE(kb_handle_close(inproc_table, handle),
	      zxc_handle_close(handle));
}

zx_status_t zx_handle_duplicate(zx_handle_t handle, zx_rights_t rights, zx_handle_t *out)
{
	ROUTE(kb_handle_duplicate(inproc_table, handle, rights, out),
	      zxc_handle_duplicate(handle, rights, out));
}

zx_status_t zx_handle_replace(zx_handle_t handle, zx_rights_t rights, zx_handle_t *out)
{
	ROUTE(kb_handle_replace(inproc_table, handle, rights, out),
	      zxc_handle_replace(handle, rights, out));
}

zx_status_t zx_object_get_info(zx_handle_t handle, uint32_t topic, void *buffer,
			       size_t buffer_size, size_t *actual, size_t *avail)
{
	ROUTE(kb_object_get_info(inproc_table, handle, topic, buffer, buffer_size, actual, avail),
	      zxc_object_get_info(handle, topic, buffer, buffer_size, actual, avail));
}
