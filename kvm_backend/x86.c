/* The x86 platform a Zircon guest sees: initial VCPU state (spec §5.1, §5.2), CPUID and the
 * x2APIC block (§5.3), guest page walks, and the x2APIC timer.
 *
 * There is no in-kernel irqchip: every x2APIC MSR access exits to us
 * (KVM_CAP_X86_USER_SPACE_MSR), which is what lets ICR writes become packets
 * (notes/pvm-guest-execution.md, "x2APIC"). */
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <x86intrin.h>

#include <zircon/errors.h>

#include "vcpu-internal.h"

#define CR0_PE 0x1ull
#define CR0_ET 0x10ull
#define CR0_WP 0x10000ull
#define CR0_PG 0x80000000ull
#define CR4_PSE 0x10ull
#define CR4_PAE 0x20ull
#define CR4_PGE 0x80ull
#define CR4_OSFXSR 0x200ull
#define CR4_FSGSBASE 0x10000ull
#define CR4_OSXSAVE 0x40000ull
#define EFER_SCE (1ull << 0)
#define EFER_LME (1ull << 8)
#define EFER_LMA (1ull << 10)
#define EFER_NXE (1ull << 11)

#define APIC_BASE_ADDR 0xfee00000ull
#define APIC_BASE_BSP (1ull << 8)
#define APIC_BASE_X2APIC (1ull << 10)
#define APIC_BASE_ENABLE (1ull << 11)

#define LVT_MASKED (1u << 16)
#define LVT_TIMER_MODE(v) (((v) >> 17) & 3u)
#define LVT_TIMER_ONESHOT 0u
#define LVT_TIMER_PERIODIC 1u
#define LVT_TIMER_TSC_DEADLINE 2u

static struct kvm_cpuid_entry2 *cpuid_find(struct kvm_cpuid2 *c, uint32_t fn, uint32_t idx)
{
	for (uint32_t i = 0; i < c->nent; i++)
		if (c->entries[i].function == fn &&
		    (!(c->entries[i].flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX) ||
		     c->entries[i].index == idx))
			return &c->entries[i];
	return NULL;
}

/* Spec §5.3 "CPUID". The table starts from KVM_GET_SUPPORTED_CPUID. */
static zx_status_t cpuid_setup(struct kb_vcpu *v, uint32_t *out_leaf1_ecx, uint32_t *out_leaf7_ebx,
			       uint64_t *out_xcr0_mask)
{
	const struct kvm_cpuid2 *base = v->guest->cpuid;
	uint32_t n = base->nent + 2;
	struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + n * sizeof(c->entries[0]));
	if (!c)
		return ZX_ERR_NO_MEMORY;
	memcpy(c, base, sizeof(*c) + base->nent * sizeof(c->entries[0]));
	uint32_t apic_id = v->vpid - 1;

	for (uint32_t i = 0; i < c->nent; i++) {
		struct kvm_cpuid_entry2 *e = &c->entries[i];
		switch (e->function) {
		case 1:
			e->ebx = (e->ebx & 0x00ffffffu) | apic_id << 24;
			e->ecx |= 1u << 31 | 1u << 21 | 1u << 24; /* HYPERVISOR, X2APIC, TSC_DEADLINE */
			e->ecx &= ~(1u << 5 | 1u << 15 | 1u << 3 | 1u << 8); /* VMX PDCM MONITOR TM2 */
			e->edx |= 1u << 11;                                /* SEP */
			e->edx &= ~(1u << 29 | 1u << 22);                  /* TM ACPI */
			break;
		case 5:
			e->eax = e->ebx = e->ecx = e->edx = 0;
			break;
		case 6:
			e->eax = e->ecx = 0; /* no thermal, HWP or turbo */
			break;
		case 7:
			if (e->index == 0) {
				/* PT, TSC_ADJUST and AVX-512; IBRS/IBPB, STIBP, L1D_FLUSH,
				 * ARCH_CAPABILITIES, SSBD. */
				e->ebx &= ~(1u << 25 | 1u << 1 | 1u << 16 | 1u << 17 | 1u << 21 |
					    1u << 26 | 1u << 27 | 1u << 28 | 1u << 30 | 1u << 31);
				e->ecx &= ~(1u << 1 | 1u << 6 | 1u << 11 | 1u << 12 | 1u << 14);
				e->edx &= ~(1u << 2 | 1u << 3 | 1u << 8 | 1u << 23 | 1u << 26 |
					    1u << 27 | 1u << 28 | 1u << 29 | 1u << 31);
			}
			break;
		case 0xa:
			e->eax = 0;
			e->ebx = 0x7f;
			e->ecx = e->edx = 0;
			break;
		case 0xb:
			e->eax = e->ebx = 0;
			e->ecx = e->index & 0xff;
			e->edx = apic_id;
			break;
		case 0xd:
			if (e->index == 1)
				e->eax &= ~(1u << 3); /* XSAVES */
			break;
		case 0x80000001:
			/* 1 GiB pages only where the platform has them; PVM does not. */
			if (v->guest->pvm)
				e->edx &= ~(1u << 26);
			break;
		}
	}
	/* The KVM signature and features leaves. */
	struct kvm_cpuid_entry2 *sig = cpuid_find(c, 0x40000000, 0);
	if (!sig)
		sig = &c->entries[c->nent++];
	*sig = (struct kvm_cpuid_entry2){.function = 0x40000000, .eax = 0x40000001};
	memcpy(&sig->ebx, "KVMK", 4);
	memcpy(&sig->ecx, "VMKV", 4);
	memcpy(&sig->edx, "M\0\0\0", 4);
	struct kvm_cpuid_entry2 *feat = cpuid_find(c, 0x40000001, 0);
	if (!feat)
		feat = &c->entries[c->nent++];
	/* CLOCKSOURCE, NOP_IO_DELAY, CLOCKSOURCE2. */
	*feat = (struct kvm_cpuid_entry2){.function = 0x40000001, .eax = 1u | 2u | 8u};

	/* A recycled vcpu keeps the table set for its VPID, which is this one: KVM refuses any
	 * KVM_SET_CPUID2 after a vcpu ran unless it is equal to what KVM holds, and PVM's additions
	 * make it differ. */
	zx_status_t st =
		!v->recycled && ioctl(v->fd, KVM_SET_CPUID2, c) < 0 ? ZX_ERR_NOT_SUPPORTED : ZX_OK;
	/* PVM ORs the host's native features into the table: read back what the VCPU has. */
	if (st == ZX_OK && ioctl(v->fd, KVM_GET_CPUID2, c) < 0)
		st = ZX_ERR_INTERNAL;
	if (st == ZX_OK) {
		struct kvm_cpuid_entry2 *l1 = cpuid_find(c, 1, 0), *l7 = cpuid_find(c, 7, 0),
					*ld = cpuid_find(c, 0xd, 0);
		*out_leaf1_ecx = l1 ? l1->ecx : 0;
		*out_leaf7_ebx = l7 ? l7->ebx : 0;
		*out_xcr0_mask = ld ? ((uint64_t)ld->edx << 32 | ld->eax) : 3;
	}
	free(c);
	return st;
}

static struct kvm_segment seg(uint16_t sel, uint64_t base, uint8_t type, uint8_t s, uint8_t l)
{
	return (struct kvm_segment){
		.base = base, .limit = 0xffff, .selector = sel, .type = type, .present = 1,
		.s = s, .l = l,
	};
}

/* The MSRs a guest can write that KVM keeps per vcpu, with their power-up values (Intel SDM
 * vol 3, 10.1.1 and 11.12.4 for PAT): SYSENTER, PAT, the SYSCALL set, KERNEL_GS_BASE, TSC_AUX
 * and both kvmclock MSRs (CPUID 0x40000001 offers kvmclock). EFER and the FS/GS bases travel
 * with the segment registers. */
static const struct {
	uint32_t index;
	uint64_t value;
} reset_msrs[] = {
	{0x174, 0},      {0x175, 0},      {0x176, 0},      {0x277, 0x0007040600070406ull},
	{0xc0000081, 0}, {0xc0000082, 0}, {0xc0000083, 0}, {0xc0000084, 0},
	{0xc0000102, 0}, {0xc0000103, 0}, {0x12, 0},       {0x4b564d01, 0},
};

/* A parked KVM vcpu taken over by a new VCPU (kb_guest.parked): make it a new one. Whatever
 * the last owner left: a pending IO or MMIO completion, a pending or injected event, an
 * interrupt shadow, NMI masking, debug registers, FPU/SSE/AVX state and written MSRs. CPUID is
 * the same table (same VPID); registers and segments follow in kb__x86_vcpu_setup. */
static zx_status_t reset_recycled(struct kb_vcpu *v)
{
	/* Nothing of the last owner's run area: no register load, no interrupt window. */
	v->run->kvm_dirty_regs = 0;
	v->run->request_interrupt_window = 0;
	if (kb__vcpu_finish_pending(v) != ZX_OK)
		return ZX_ERR_INTERNAL;

	struct kvm_vcpu_events ev = {.flags = KVM_VCPUEVENT_VALID_NMI_PENDING |
					      KVM_VCPUEVENT_VALID_SHADOW};
	struct kvm_debugregs dbg = {.dr6 = 0xffff0ff0, .dr7 = 0x400};
	if (ioctl(v->fd, KVM_SET_VCPU_EVENTS, &ev) < 0 || ioctl(v->fd, KVM_SET_DEBUGREGS, &dbg) < 0)
		return ZX_ERR_INTERNAL;

	/* FPU and extended state in their initial configuration: XSTATE_BV 0 puts every
	 * component in its init state; FCW and MXCSR as after FNINIT/reset. */
	struct kvm_xsave *xs = calloc(1, sizeof(*xs));
	if (!xs)
		return ZX_ERR_NO_MEMORY;
	uint16_t fcw = 0x37f;
	uint32_t mxcsr = 0x1f80;
	memcpy((uint8_t *)xs->region, &fcw, sizeof(fcw));
	memcpy((uint8_t *)xs->region + 24, &mxcsr, sizeof(mxcsr));
	int r = ioctl(v->fd, KVM_SET_XSAVE, xs);
	free(xs);
	if (r < 0) {
		struct kvm_fpu fpu = {.fcw = 0x37f, .mxcsr = 0x1f80};
		if (ioctl(v->fd, KVM_SET_FPU, &fpu) < 0)
			return ZX_ERR_INTERNAL;
	}

	/* KVM_SET_MSRS stops at the first MSR it refuses: skip that one and go on. */
	union {
		struct kvm_msrs head;
		uint8_t bytes[sizeof(struct kvm_msrs) +
			      ZXVM_ARRAY_SIZE(reset_msrs) * sizeof(struct kvm_msr_entry)];
	} m;
	for (size_t first = 0; first < ZXVM_ARRAY_SIZE(reset_msrs);) {
		size_t n = ZXVM_ARRAY_SIZE(reset_msrs) - first;
		memset(&m, 0, sizeof(m));
		m.head.nmsrs = (uint32_t)n;
		for (size_t i = 0; i < n; i++)
			m.head.entries[i] = (struct kvm_msr_entry){
				.index = reset_msrs[first + i].index, .data = reset_msrs[first + i].value};
		r = ioctl(v->fd, KVM_SET_MSRS, &m);
		if (r < 0)
			return ZX_ERR_INTERNAL;
		first += (size_t)r + 1;
	}
	return ZX_OK;
}

zx_status_t kb__x86_vcpu_setup(struct kb_vcpu *v, zx_vaddr_t entry)
{
	uint32_t ecx1, ebx7;
	uint64_t xcr0_mask;
	zx_status_t st = v->recycled ? reset_recycled(v) : ZX_OK;
	if (st == ZX_OK)
		st = cpuid_setup(v, &ecx1, &ebx7, &xcr0_mask);
	if (st != ZX_OK)
		return st;
	bool bsp = v->vpid == 1;
	bool xsave = ecx1 & (1u << 26);

	struct kvm_sregs s;
	if (ioctl(v->fd, KVM_GET_SREGS, &s) < 0)
		return ZX_ERR_INTERNAL;
	uint64_t cr4 = CR4_OSFXSR | ((ebx7 & 1u) ? CR4_FSGSBASE : 0) | (xsave ? CR4_OSXSAVE : 0);
	if (bsp) {
		/* §5.1: 64-bit long mode, paging on, CR3 = 0. CR0 without NE is what the guest
		 * reads (0x80010011); KVM forces NE in hardware where it must. */
		s.cr0 = CR0_PG | CR0_WP | CR0_ET | CR0_PE;
		s.cr4 = cr4 | CR4_PAE | CR4_PGE;
		s.efer = EFER_SCE | EFER_LME | EFER_LMA | EFER_NXE;
		s.cs = seg(0, 0, 0xf, 1, 1);
	} else {
		/* §5.2: real mode at entry (CS base = entry, IP = 0), for SIPI bring-up. */
		s.cr0 = CR0_WP | CR0_ET;
		s.cr4 = cr4;
		s.efer = EFER_SCE | EFER_NXE;
		s.cs = seg((uint16_t)(entry >> 4), entry, 0xf, 1, 0);
	}
	s.cr3 = 0;
	s.ds = s.es = s.fs = s.gs = s.ss = seg(0, 0, 0x3, 1, 0);
	s.tr = seg(0, 0, 0xb, 0, 0);
	s.ldt = seg(0, 0, 0x2, 0, 0);
	s.gdt = (struct kvm_dtable){.base = 0, .limit = 0xffff};
	s.idt = (struct kvm_dtable){.base = 0, .limit = 0xffff};
	s.apic_base = APIC_BASE_ADDR | APIC_BASE_ENABLE | APIC_BASE_X2APIC |
		      (bsp ? APIC_BASE_BSP : 0);
	if (ioctl(v->fd, KVM_SET_SREGS, &s) < 0)
		return ZX_ERR_NOT_SUPPORTED;

	if (xsave) {
		/* XCR0 = x87|SSE|AVX where the VCPU has AVX (spec §5.1). */
		struct kvm_xcrs xcrs = {.nr_xcrs = 1};
		xcrs.xcrs[0] = (struct kvm_xcr){.xcr = 0, .value = 7 & xcr0_mask};
		if (ioctl(v->fd, KVM_SET_XCRS, &xcrs) < 0)
			return ZX_ERR_NOT_SUPPORTED;
	}

	struct kvm_regs regs = {.rip = bsp ? entry : 0, .rflags = 0x2};
	if (ioctl(v->fd, KVM_SET_REGS, &regs) < 0)
		return ZX_ERR_INTERNAL;
	v->run->s.regs.regs = regs;
	v->run->kvm_valid_regs = KVM_SYNC_X86_REGS;

	/* Our kick signal must interrupt KVM_RUN even where the application blocks it. */
	sigset_t mask;
	pthread_sigmask(SIG_SETMASK, NULL, &mask);
	sigdelset(&mask, KB_KICK_SIGNAL);
	union {
		struct kvm_signal_mask head;
		uint8_t bytes[sizeof(struct kvm_signal_mask) + 8];
	} km = {.head.len = 8};
	memcpy(km.head.sigset, &mask, 8);
	if (ioctl(v->fd, KVM_SET_SIGNAL_MASK, &km) < 0)
		return ZX_ERR_INTERNAL;

	int khz = ioctl(v->fd, KVM_GET_TSC_KHZ, 0);
	v->tsc_khz = khz > 0 ? (uint32_t)khz : 1000000;
	v->apic.lvt_timer = LVT_MASKED;
	return ZX_OK;
}

/* ---- guest page walks (Intel SDM vol 3, 4.3-4.5) ---- */

#define PTE_P 1ull
#define PTE_PS (1ull << 7)
#define PTE_ADDR 0x000ffffffffff000ull

zx_status_t kb__x86_translate(struct kb_vcpu *v, const struct kvm_sregs *s, uint64_t la,
			      uint64_t *out_gpa)
{
	if (!(s->cr0 & CR0_PG)) {
		*out_gpa = la & 0xffffffffull;
		return ZX_OK;
	}
	struct kb_guest *g = v->guest;
	if (s->efer & EFER_LMA || s->cr4 & CR4_PAE) {
		bool lm = s->efer & EFER_LMA;
		int levels = lm ? 4 : 3;
		uint64_t table = lm ? s->cr3 & PTE_ADDR : s->cr3 & 0xffffffe0ull;
		for (int level = levels; level >= 1; level--) {
			int shift = 12 + 9 * (level - 1);
			uint64_t idx = level == 3 && !lm ? (la >> 30) & 3 : (la >> shift) & 511;
			uint64_t pte;
			if (kb__guest_read(g, table + idx * 8, &pte, 8) != ZX_OK || !(pte & PTE_P))
				return ZX_ERR_NOT_FOUND;
			bool leaf = level == 1 || ((level == 2 || (level == 3 && lm)) && (pte & PTE_PS));
			if (leaf) {
				uint64_t mask = (1ull << shift) - 1;
				*out_gpa = ((pte & PTE_ADDR) & ~mask) | (la & mask);
				return ZX_OK;
			}
			table = pte & PTE_ADDR;
		}
		return ZX_ERR_NOT_FOUND;
	}
	/* 32-bit paging, with 4 MiB pages under CR4.PSE. */
	uint32_t pde, pte;
	if (kb__guest_read(g, (s->cr3 & 0xfffff000ull) + ((la >> 22) & 1023) * 4, &pde, 4) != ZX_OK ||
	    !(pde & PTE_P))
		return ZX_ERR_NOT_FOUND;
	if ((s->cr4 & CR4_PSE) && (pde & PTE_PS)) {
		*out_gpa = (pde & 0xffc00000u) | (la & 0x3fffff);
		return ZX_OK;
	}
	if (kb__guest_read(g, (pde & 0xfffff000u) + ((la >> 12) & 1023) * 4, &pte, 4) != ZX_OK ||
	    !(pte & PTE_P))
		return ZX_ERR_NOT_FOUND;
	*out_gpa = (pte & 0xfffff000u) | (la & 0xfff);
	return ZX_OK;
}

zx_status_t kb__x86_read_virt(struct kb_vcpu *v, const struct kvm_sregs *s, uint64_t la,
			      void *buf, size_t len)
{
	uint8_t *dst = buf;
	while (len) {
		size_t n = (size_t)(KB_PAGE_SIZE - (la & (KB_PAGE_SIZE - 1)));
		n = n < len ? n : len;
		uint64_t gpa;
		zx_status_t st = kb__x86_translate(v, s, la, &gpa);
		if (st == ZX_OK)
			st = kb__guest_read(v->guest, gpa, dst, n);
		if (st != ZX_OK)
			return st;
		dst += n;
		la += n;
		len -= n;
	}
	return ZX_OK;
}

/* ---- x2APIC (spec §5.3) ---- */

#define MSR_APIC_BASE 0x1b
#define MSR_TSC_DEADLINE 0x6e0
#define X2APIC_ID 0x802
#define X2APIC_VERSION 0x803
#define X2APIC_TPR 0x808
#define X2APIC_EOI 0x80b
#define X2APIC_LDR 0x80d
#define X2APIC_SVR 0x80f
#define X2APIC_ISR0 0x810
#define X2APIC_IRR7 0x827
#define X2APIC_ESR 0x828
#define X2APIC_LVT_CMCI 0x82f
#define X2APIC_ICR 0x830
#define X2APIC_LVT_TIMER 0x832
#define X2APIC_LVT_THERMAL 0x833
#define X2APIC_LVT_PMI 0x834
#define X2APIC_LVT_LINT0 0x835
#define X2APIC_LVT_LINT1 0x836
#define X2APIC_LVT_ERROR 0x837
#define X2APIC_INITIAL_COUNT 0x838
#define X2APIC_CURRENT_COUNT 0x839
#define X2APIC_DCR 0x83e
#define X2APIC_SELF_IPI 0x83f

/* The timer counts at 1 GHz before the divider, so one tick of a divide-by-1 timer is 1 ns. */
static uint64_t timer_divisor(uint32_t dcr)
{
	uint32_t code = (dcr & 3) | ((dcr >> 1) & 4);
	return code == 7 ? 1 : 2ull << code;
}

static void timer_arm(struct kb_vcpu *v, zx_time_t deadline)
{
	v->apic.deadline_ns = deadline;
	if (deadline == 0)
		return;
	/* A running guest is interrupted by a per-VCPU POSIX timer signalling its thread. */
	if (!v->timer_created) {
		struct sigevent sev = {.sigev_notify = SIGEV_THREAD_ID, .sigev_signo = KB_KICK_SIGNAL};
		sev._sigev_un._tid = v->runner_tid;
		if (timer_create(CLOCK_MONOTONIC, &sev, &v->timer) != 0)
			return;
		v->timer_created = true;
	}
	struct itimerspec its = {.it_value = {.tv_sec = deadline / 1000000000,
					      .tv_nsec = deadline % 1000000000}};
	timer_settime(v->timer, TIMER_ABSTIME, &its, NULL);
}

void kb__x86_timer_check(struct kb_vcpu *v, zx_time_t now)
{
	struct kb_x2apic *a = &v->apic;
	if (a->deadline_ns == 0 || now < a->deadline_ns)
		return;
	if (!(a->lvt_timer & LVT_MASKED))
		kb__vcpu_pend(v, a->lvt_timer & 0xff);
	if (LVT_TIMER_MODE(a->lvt_timer) == LVT_TIMER_PERIODIC && a->period_ns) {
		zx_time_t next = a->deadline_ns + (zx_time_t)a->period_ns;
		timer_arm(v, next > now ? next : now + (zx_time_t)a->period_ns);
	} else {
		a->deadline_ns = 0;
		if (LVT_TIMER_MODE(a->lvt_timer) == LVT_TIMER_TSC_DEADLINE)
			a->tsc_deadline = 0;
	}
}

static zx_status_t msr_read(struct kb_vcpu *v, uint32_t msr, uint64_t *out)
{
	struct kb_x2apic *a = &v->apic;
	switch (msr) {
	case X2APIC_ID:
		*out = v->vpid - 1;
		return ZX_OK;
	case X2APIC_VERSION:
		*out = 0x15 | (6u << 16);
		return ZX_OK;
	case X2APIC_SVR:
		*out = 0xff;
		return ZX_OK;
	case X2APIC_TPR:
	case X2APIC_LDR:
	case X2APIC_ESR:
	case X2APIC_LVT_PMI:
	case X2APIC_ICR:
		*out = 0;
		return ZX_OK;
	case X2APIC_LVT_CMCI:
	case X2APIC_LVT_THERMAL:
	case X2APIC_LVT_LINT0:
	case X2APIC_LVT_LINT1:
	case X2APIC_LVT_ERROR:
		*out = LVT_MASKED;
		return ZX_OK;
	case X2APIC_LVT_TIMER:
		*out = a->lvt_timer;
		return ZX_OK;
	case X2APIC_INITIAL_COUNT:
		*out = a->initial_count;
		return ZX_OK;
	case X2APIC_CURRENT_COUNT: {
		zx_time_t now = kb_clock_monotonic();
		uint64_t left = a->deadline_ns > now ? (uint64_t)(a->deadline_ns - now) : 0;
		*out = LVT_TIMER_MODE(a->lvt_timer) == LVT_TIMER_TSC_DEADLINE
			       ? 0
			       : left / timer_divisor(a->dcr);
		return ZX_OK;
	}
	case X2APIC_DCR:
		*out = a->dcr;
		return ZX_OK;
	case MSR_TSC_DEADLINE:
		*out = a->tsc_deadline;
		return ZX_OK;
	default:
		if (msr >= X2APIC_ISR0 && msr <= X2APIC_IRR7) {
			*out = 0;
			return ZX_OK;
		}
		return ZX_ERR_NOT_FOUND; /* #GP */
	}
}

/* An ICR write becomes a GUEST_VCPU packet (spec §3.3). */
static zx_status_t icr_write(struct kb_vcpu *v, uint64_t icr, zx_port_packet_t *p, bool *out)
{
	uint32_t vector = icr & 0xff, mode = (icr >> 8) & 7, shorthand = (icr >> 18) & 3;
	uint32_t dest = (uint32_t)(icr >> 32), self = v->vpid - 1;
	if (icr & (1u << 11))
		return ZX_ERR_NOT_SUPPORTED; /* logical destination mode */
	uint64_t mask;
	switch (shorthand) {
	case 0:
		mask = dest == 0xffffffffu ? UINT64_MAX : dest < 64 ? 1ull << dest : 0;
		break;
	case 1:
		mask = 1ull << self;
		break;
	case 2:
		mask = UINT64_MAX;
		break;
	default:
		mask = ~(1ull << self);
		break;
	}
	*p = (zx_port_packet_t){.type = ZX_PKT_TYPE_GUEST_VCPU};
	switch (mode) {
	case 0: /* fixed */
		p->guest_vcpu.type = ZX_PKT_GUEST_VCPU_INTERRUPT;
		p->guest_vcpu.interrupt.mask = mask;
		p->guest_vcpu.interrupt.vector = (uint8_t)vector;
		break;
	case 4: /* NMI */
		p->guest_vcpu.type = ZX_PKT_GUEST_VCPU_INTERRUPT;
		p->guest_vcpu.interrupt.mask = mask & ~(1ull << self);
		p->guest_vcpu.interrupt.vector = 2;
		break;
	case 5: /* INIT: nothing to do */
		return ZX_OK;
	case 6: /* STARTUP */
		p->guest_vcpu.type = ZX_PKT_GUEST_VCPU_STARTUP;
		p->guest_vcpu.startup.id = dest;
		p->guest_vcpu.startup.entry = (uint64_t)vector << 12;
		break;
	default:
		return ZX_ERR_NOT_SUPPORTED;
	}
	*out = true;
	return ZX_OK;
}

/* The guest's TSC now: the deadline counts in it, not in the host's, which KVM offsets it from
 * (a new VM counts from about 0 on bare metal; PVM passes the host's through). */
static uint64_t guest_tsc(struct kb_vcpu *v)
{
	union {
		struct kvm_msrs head;
		uint8_t bytes[sizeof(struct kvm_msrs) + sizeof(struct kvm_msr_entry)];
	} m = {.head.nmsrs = 1};
	m.head.entries[0].index = 0x10; /* IA32_TIME_STAMP_COUNTER */
	return ioctl(v->fd, KVM_GET_MSRS, &m) == 1 ? m.head.entries[0].data : __rdtsc();
}

static zx_status_t msr_write(struct kb_vcpu *v, uint32_t msr, uint64_t val, zx_port_packet_t *p,
			     bool *out)
{
	struct kb_x2apic *a = &v->apic;
	switch (msr) {
	case MSR_APIC_BASE: {
		uint64_t want = APIC_BASE_ADDR | APIC_BASE_ENABLE | APIC_BASE_X2APIC |
				(v->vpid == 1 ? APIC_BASE_BSP : 0);
		return val == want ? ZX_OK : ZX_ERR_INVALID_ARGS;
	}
	case X2APIC_EOI:
	case X2APIC_ESR:
		return val == 0 ? ZX_OK : ZX_ERR_NOT_FOUND;
	case X2APIC_TPR:
	case X2APIC_SVR:
	case X2APIC_LVT_CMCI:
	case X2APIC_LVT_THERMAL:
	case X2APIC_LVT_PMI:
	case X2APIC_LVT_LINT0:
	case X2APIC_LVT_LINT1:
	case X2APIC_LVT_ERROR:
		return ZX_OK;
	case X2APIC_LVT_TIMER:
		if (LVT_TIMER_MODE(val) == 3)
			return ZX_ERR_INVALID_ARGS; /* reserved timer mode (spec §2.4) */
		if (LVT_TIMER_MODE(val) != LVT_TIMER_MODE(a->lvt_timer))
			timer_arm(v, 0);
		a->lvt_timer = (uint32_t)val;
		return ZX_OK;
	case X2APIC_INITIAL_COUNT:
		a->initial_count = (uint32_t)val;
		if (LVT_TIMER_MODE(a->lvt_timer) == LVT_TIMER_TSC_DEADLINE)
			return ZX_OK;
		a->period_ns = (uint64_t)a->initial_count * timer_divisor(a->dcr);
		timer_arm(v, a->initial_count ? kb_clock_monotonic() + (zx_time_t)a->period_ns : 0);
		return ZX_OK;
	case X2APIC_DCR:
		a->dcr = (uint32_t)val & 0xb;
		return ZX_OK;
	case X2APIC_SELF_IPI:
		kb__vcpu_pend(v, (uint32_t)val & 0xff);
		return ZX_OK;
	case X2APIC_ICR:
		return icr_write(v, val, p, out);
	case MSR_TSC_DEADLINE: {
		if (LVT_TIMER_MODE(a->lvt_timer) != LVT_TIMER_TSC_DEADLINE)
			return ZX_ERR_INVALID_ARGS; /* spec §2.4 */
		a->tsc_deadline = val;
		if (val == 0) {
			timer_arm(v, 0);
			return ZX_OK;
		}
		uint64_t now_tsc = guest_tsc(v);
		zx_time_t now = kb_clock_monotonic();
		uint64_t delta = val > now_tsc ? val - now_tsc : 0;
		/* In 128 bits: a deadline hours ahead would overflow delta * 10^6. */
		unsigned __int128 ns = (unsigned __int128)delta * 1000000 / v->tsc_khz;
		timer_arm(v, ns < (unsigned __int128)(INT64_MAX - now) ? now + (zx_time_t)ns
									 : INT64_MAX);
		return ZX_OK;
	}
	default:
		return ZX_ERR_NOT_FOUND; /* #GP */
	}
}

zx_status_t kb__x86_msr_exit(struct kb_vcpu *v, zx_port_packet_t *packet, bool *out_packet)
{
	struct kvm_run *run = v->run;
	uint32_t msr = run->msr.index;
	zx_status_t st;
	if (run->exit_reason == KVM_EXIT_X86_RDMSR) {
		uint64_t val = 0;
		st = msr_read(v, msr, &val);
		run->msr.data = val;
	} else {
		st = msr_write(v, msr, run->msr.data, packet, out_packet);
	}
	/* NOT_FOUND here means "no such register": the guest gets #GP, as on Zircon. */
	run->msr.error = st == ZX_ERR_NOT_FOUND ? 1 : 0;
	return st == ZX_ERR_NOT_FOUND ? ZX_OK : st;
}
