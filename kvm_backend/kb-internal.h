/* kvm_backend internals: the objects behind handles, shared by the files of this module. */
#pragma once

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <linux/kvm.h>

#include "common.h"
#include "kvm_backend.h"

#define KB_PAGE_SIZE 4096ull
/* x86-64 guest-physical address space: 1 << MMU_GUEST_SIZE_SHIFT (spec §2.1). */
#define KB_GUEST_ASPACE_SIZE (1ull << 48)
/* VPIDs come from [1, 64) (spec §2.1). */
#define KB_MAX_VPID 64
/* Bell packets preallocated per trap (spec §2.2, kMaxPacketsPerRange). */
#define KB_BELL_PACKETS_PER_TRAP 256

/* An account: what one table's objects have used, checked against its limits. Objects keep a
 * reference so that they may outlive the table (a VCPU still inside enter). */
struct kb_account {
	atomic_uint refs;
	struct zxvm_limits limits;
	atomic_uint guests;
	atomic_uint vcpus;
	atomic_uint ports;
	atomic_uint_least64_t memory_bytes;
};

struct kb_object;
struct kb_object_ops {
	/* The last handle to the object went away (Zircon's on_zero_handles). May be NULL. */
	void (*on_zero_handles)(struct kb_object *obj);
	/* The last reference went away: free everything. */
	void (*destroy)(struct kb_object *obj);
};

/* The common head of every object. refs counts handles and internal references alike;
 * handles counts handles only. */
struct kb_object {
	zx_obj_type_t type;
	atomic_uint refs;
	atomic_uint handles;
	zx_koid_t koid;
	zx_koid_t related_koid;
	const struct kb_object_ops *ops;
	struct kb_account *account;
};

void kb__object_init(struct kb_object *obj, zx_obj_type_t type, const struct kb_object_ops *ops,
		     struct kb_account *account);
void kb__object_ref(struct kb_object *obj);
void kb__object_unref(struct kb_object *obj);

struct kb_account *kb__account_ref(struct kb_account *account);
void kb__account_unref(struct kb_account *account);
/* Reserve n of a counted resource against its limit: ZX_ERR_NO_RESOURCES past it. */
zx_status_t kb__account_take(atomic_uint *counter, uint32_t limit);
zx_status_t kb__account_take_memory(struct kb_account *account, uint64_t bytes);

/* Handle table operations used by the calls. The returned object carries a reference. */
zx_status_t kb__handle_get(kb_table *table, zx_handle_t handle, zx_obj_type_t type,
			   zx_rights_t rights, struct kb_object **out_obj, zx_rights_t *out_rights);
/* Add a handle to obj with rights; consumes one reference to obj on success and on failure. */
zx_status_t kb__handle_add(kb_table *table, struct kb_object *obj, zx_rights_t rights,
			   zx_handle_t *out);
struct kb_account *kb__table_account(kb_table *table);

/* Resources (the hypervisor grant, the vmex grant). */
struct kb_resource {
	struct kb_object obj;
	uint32_t kind;
	uint64_t base;
};

/* VMOs: a memfd. */
struct kb_vmo {
	struct kb_object obj;
	int fd;
	uint64_t size;
	uint32_t options; /* ZX_VMO_* at creation: what the VMO is, whatever a handle's rights */
};

/* Ports. */
struct kb_trap;
struct kb_port_packet {
	zx_port_packet_t packet;
	struct kb_trap *origin; /* the bell trap that queued it, or NULL for user packets */
	struct kb_port_packet *next;
};

struct kb_port {
	struct kb_object obj;
	pthread_mutex_t lock;
	pthread_cond_t readable;   /* a packet was queued */
	pthread_cond_t space;      /* a bell packet was dequeued or cancelled */
	struct kb_port_packet *head, *tail; /* guarded by lock */
	uint32_t user_packets;              /* guarded by lock */
	uint32_t max_user_packets;
	uint32_t space_waiters; /* guarded by lock */
};

zx_status_t kb__port_queue_bell(struct kb_port *port, struct kb_trap *trap,
				const zx_port_packet_t *packet, atomic_bool *cancel);
void kb__port_cancel_trap(struct kb_port *port, struct kb_trap *trap);
void kb__port_wake_space(struct kb_port *port);

/* Traps. MEM and BELL share one address space, IO has its own (spec §2.2). */
struct kb_trap {
	uint32_t kind;
	uint64_t addr;
	uint64_t size;
	uint64_t key;
	struct kb_port *port;     /* BELL only: a reference */
	uint32_t bells_in_flight; /* guarded by port->lock */
	bool dead;                /* guarded by port->lock: cancelled, queue nothing more */
};

/* A guest memory mapping: one KVM memslot. */
struct kb_mapping {
	uint64_t gpa;
	uint64_t len;
	uint32_t slot;
	uint32_t perms;      /* ZX_VM_PERM_* */
	uint32_t max_perms;  /* what the VMO handle allowed at map time */
	struct kb_vmo *vmo;  /* a reference */
	uint64_t vmo_offset;
	uint8_t *host;       /* host view of [gpa, gpa + len) */
};

struct kb_vcpu;

struct kb_guest {
	struct kb_object obj;
	int vm_fd;
	pthread_mutex_t lock;
	/* guarded by lock */
	struct kb_mapping *maps; /* sorted by gpa, non-overlapping */
	uint32_t nmaps, maps_cap;
	uint8_t *slot_used;
	uint32_t nslots;
	struct kb_trap **mem_traps; /* MEM and BELL, sorted by addr */
	uint32_t nmem_traps, mem_traps_cap;
	struct kb_trap **io_traps; /* sorted by addr */
	uint32_t nio_traps, io_traps_cap;
	uint64_t vpid_used; /* bit i: VPID i in use */
	uint32_t next_vpid;
	/* KVM frees a vcpu only with its VM and counts every vcpu ever created against
	 * KVM_CAP_MAX_VCPUS (1024 here), while Zircon lets a guest create and close VCPUs without
	 * end. So a VCPU's KVM vcpu outlives it, parked under its VPID (which is also its KVM id),
	 * and the next VCPU with that VPID takes it over after a full reset (x86.c). */
	struct kb_parked_vcpu {
		int fd; /* -1: none */
		struct kvm_run *run;
		size_t run_size;
	} parked[KB_MAX_VPID];
	struct kb_vcpu *vcpus; /* every live VCPU, for kick_all */
	bool traps_closed;     /* the last guest handle is gone */
	/* read-only after creation */
	bool pvm; /* the host's KVM is PVM (software nested); see notes/pvm-guest-execution.md */
	struct kvm_cpuid2 *cpuid; /* the supported table we start every VCPU's from */
};

/* The guest-physical VMAR: a view of its guest's address space. */
struct kb_vmar {
	struct kb_object obj;
	struct kb_guest *guest; /* a reference */
};

/* Guest memory helpers for VCPU threads (guest.c). */
zx_status_t kb__guest_read(struct kb_guest *guest, uint64_t gpa, void *buf, size_t len);
zx_status_t kb__guest_write(struct kb_guest *guest, uint64_t gpa, const void *buf, size_t len);
/* Whether gpa lies in a mapping but past the end of its VMO (ZX_VM_ALLOW_FAULTS). */
bool kb__guest_unbacked(struct kb_guest *guest, uint64_t gpa);
/* Looks up a trap at addr in the MEM/BELL space (is_io false) or the IO space and copies it out.
 * For a BELL trap a port reference is taken (released by the caller). */
bool kb__guest_find_trap(struct kb_guest *guest, bool is_io, uint64_t addr, struct kb_trap *out,
			 struct kb_trap **out_trap);
void kb__guest_unregister_vcpu(struct kb_guest *guest, struct kb_vcpu *vcpu);
zx_status_t kb__guest_register_vcpu(struct kb_guest *guest, struct kb_vcpu *vcpu,
				    uint32_t *out_vpid);
void kb__guest_kick_all(struct kb_guest *guest);

/* VCPU helpers used by the table (vcpu.c). */
void kb__vcpu_kick(struct kb_vcpu *vcpu);

zx_koid_t kb__koid_next(void);
int kb__kvm_fd(void);
