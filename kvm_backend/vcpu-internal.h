/* The VCPU object, shared between vcpu.c (the run loop), x86.c (the platform: CPUID, initial
 * state, x2APIC, page walks) and object.c (thread bindings, info). */
#pragma once

#include <signal.h>
#include <time.h>

#include "kb-internal.h"

/* The signal that interrupts KVM_RUN for kicks, interrupts and timers. */
#define KB_KICK_SIGNAL (SIGRTMAX - 4)

enum kb_pending_io {
	KB_PENDING_NONE,
	KB_PENDING_IN,        /* an IN exit: KVM completes it from run->io at the next KVM_RUN */
	KB_PENDING_MMIO_READ, /* an MMIO read: KVM would write run->mmio.data at the next KVM_RUN */
};

/* A tiny cache of "is the port-IO instruction that exited at this RIP a string instruction",
 * so that the hot IO path does not walk page tables on every exit. */
struct kb_io_class {
	uint64_t rip;
	uint32_t key; /* port | size << 16 | in << 24 | valid << 31 */
	bool is_string;
};
#define KB_IO_CLASS_ENTRIES 16

struct kb_x2apic {
	uint32_t lvt_timer;
	uint32_t initial_count;
	uint32_t dcr;
	uint64_t tsc_deadline;
	zx_time_t deadline_ns; /* 0: the timer is not armed */
	uint64_t period_ns;    /* periodic mode */
};

struct kb_vcpu {
	struct kb_object obj;
	struct kb_guest *guest; /* a reference */
	int fd;
	struct kvm_run *run;
	size_t run_size;
	uint32_t vpid;
	uint32_t kvm_id; /* the KVM vcpu id; the architectural ids all come from vpid */
	bool recycled;   /* fd is a parked KVM vcpu of an earlier VCPU (kb_guest.parked) */
	uint64_t tid;
	struct kb_vcpu *next_in_guest; /* guarded by guest->lock */

	/* Set at creation: the OS thread every vcpu ioctl comes from. */
	pthread_t runner;
	pid_t runner_tid;

	/* Any thread. */
	atomic_bool kicked;
	atomic_int in_run;
	atomic_uint_least64_t pending[4]; /* 256 interrupt vectors */
	pthread_mutex_t wait_lock;
	pthread_cond_t wait_cond;     /* HLT waits here */
	struct kb_port *bell_wait;    /* guarded by wait_lock: a port we wait on for bell space */
	atomic_uint_least64_t exits[KB_EXIT_KIND_COUNT];

	/* The VCPU's thread only. */
	enum kb_pending_io pending_io;
	uint8_t in_size;
	/* With an MMIO read pending: whether KVM may finish it by itself (a plain load into a
	 * register, see mem_exit), and RFLAGS as the exit left them. */
	bool mmio_read_plain;
	uint64_t mmio_read_rflags;
	bool event_queued; /* an event we injected has not seen a guest entry yet */
	struct kb_x2apic apic;
	timer_t timer;
	bool timer_created;
	uint32_t tsc_khz;
	struct kb_io_class io_class[KB_IO_CLASS_ENTRIES];
};

uint32_t kb__vcpu_info_flags(struct kb_vcpu *vcpu);
/* Let KVM finish the exit it has pending (an IO or MMIO completion) without entering the guest:
 * KVM_RUN with immediate_exit completes pending IO, then returns EINTR (api.rst,
 * "immediate_exit"). The steps of the same instruction (the store of a read-modify-write) are
 * let through; ZX_OK once KVM_RUN returned EINTR. On the VCPU's thread. */
zx_status_t kb__vcpu_finish_pending(struct kb_vcpu *vcpu);
zx_status_t kb__handle_add_vcpu(kb_table *table, uint64_t tid, struct kb_vcpu *vcpu,
				zx_rights_t rights, zx_handle_t *out);

/* x86.c */
zx_status_t kb__x86_vcpu_setup(struct kb_vcpu *vcpu, zx_vaddr_t entry);
/* Translate a linear address through the guest's page tables (or not, with paging off). */
zx_status_t kb__x86_translate(struct kb_vcpu *vcpu, const struct kvm_sregs *sregs, uint64_t la,
			      uint64_t *out_gpa);
/* Read len guest-virtual bytes at la (len small; may cross one page boundary). */
zx_status_t kb__x86_read_virt(struct kb_vcpu *vcpu, const struct kvm_sregs *sregs, uint64_t la,
			      void *buf, size_t len);
/* A WRMSR/RDMSR exit on the x2APIC block and friends: fills *packet and returns ZX_OK with
 * *out_packet = true when enter must return a packet (ICR writes), an error status for enter,
 * or ZX_OK to keep running. */
zx_status_t kb__x86_msr_exit(struct kb_vcpu *vcpu, zx_port_packet_t *packet, bool *out_packet);
/* Fires the x2APIC timer if its deadline has passed. */
void kb__x86_timer_check(struct kb_vcpu *vcpu, zx_time_t now);
void kb__vcpu_pend(struct kb_vcpu *vcpu, uint32_t vector);
