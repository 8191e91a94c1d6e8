#include "guest-asm.h"

/* Guests for the x2APIC a Zircon guest sees (spec §5.3, §3.3): the APIC base, ID and version
 * MSRs, ICR writes that become GUEST_VCPU packets, the self IPI, the LVT timer in one-shot,
 * periodic and TSC-deadline modes, and the #GP for registers Zircon does not have. Guests that
 * take interrupts call the library of irq.S (guest_lib, loaded at LIB_BASE by the test). */

#define MSR_APIC_BASE 0x1b
#define MSR_TSC_DEADLINE 0x6e0
#define X2APIC_LVT_TIMER 0x832
#define X2APIC_INITIAL_COUNT 0x838
#define X2APIC_DCR 0x83e
#define X2APIC_SELF_IPI 0x83f
#define X2APIC_ICR 0x830
#define LVT_MASKED 0x10000
#define LVT_PERIODIC (1 << 17)
#define LVT_TSC_DEADLINE (2 << 17)

/* rdmsr of %ecx; eax then edx out to PORT_DATA. */
.macro RDMSR_OUT
	rdmsr
	OUT_DATA %eax
	OUT_DATA %edx
.endm

/* wrmsr of rbx to %ecx (clobbers eax, edx). */
.macro WRMSR_RBX
	mov %ebx, %eax
	mov %rbx, %rdx
	shr $32, %rdx
	wrmsr
.endm

/* rdmsr of every index in the zero-terminated table; eax then edx out to PORT_DATA each. */
GUEST guest_apic_read_msrs
	lea apic_msr_table(%rip), %rsi
1:	mov (%rsi), %ecx
	test %ecx, %ecx
	jz 2f
	RDMSR_OUT
	add $4, %rsi
	jmp 1b
2:	EXIT
apic_msr_table:
	.long MSR_APIC_BASE
	.long 0x802 /* ID */
	.long 0x803 /* VERSION */
	.long 0x808 /* TPR */
	.long 0x80d /* LDR */
	.long 0x80f /* SVR */
	.long 0x810 /* ISR0 */
	.long 0x817 /* ISR7 */
	.long 0x818 /* TMR0 */
	.long 0x820 /* IRR0 */
	.long 0x827 /* IRR7 */
	.long 0x828 /* ESR */
	.long 0x82f /* LVT CMCI */
	.long 0x832 /* LVT timer */
	.long 0x833 /* LVT thermal */
	.long 0x834 /* LVT performance monitor */
	.long 0x835 /* LVT LINT0 */
	.long 0x836 /* LVT LINT1 */
	.long 0x838 /* initial count */
	.long 0x83e /* divide configuration */
	.long 0
GUEST_END guest_apic_read_msrs

/* A second VCPU starts in real mode at its entry (spec §5.2): its APIC base, x2APIC ID, and
 * the APIC IDs CPUID reports, then the exit port. */
GUEST guest_apic_ap16
	.code16
	mov $MSR_APIC_BASE, %ecx
	RDMSR_OUT
	mov $0x802, %ecx
	rdmsr
	OUT_DATA %eax
	mov $1, %eax
	cpuid
	OUT_DATA %ebx
	mov $0xb, %eax
	xor %ecx, %ecx
	cpuid
	OUT_DATA %edx
	out %al, $GUEST_EXIT_PORT
	.code64
GUEST_END guest_apic_ap16

/* Write rbx to the ICR, report MARK 1, repeat: the host sets rbx before each round. */
GUEST guest_apic_icr
1:	mov $X2APIC_ICR, %ecx
	WRMSR_RBX
	MARK 1
	jmp 1b
GUEST_END guest_apic_icr

/* One MSR access chosen by the host: r12 the index, r13 = 0 to write rbx, 1 to read (eax and
 * edx out to PORT_DATA), 2 to write rbx and read it back. A #GP is reported by the library's
 * handler, which then resumes at the MARK. */
GUEST guest_apic_msr
	LIB_INIT
	movq $ABS(guest_apic_msr, apic_msr_done), RESUME_RIP
	mov %r12d, %ecx
	cmp $1, %r13
	je 1f
	WRMSR_RBX
	cmp $2, %r13
	jne apic_msr_done
1:	RDMSR_OUT
apic_msr_done:
	movq $0, RESUME_RIP
	MARK 1
	EXIT
GUEST_END guest_apic_msr

/* SELF_IPI with IF=1: delivered to this VCPU without an exit to the host. */
GUEST guest_apic_self_ipi
	LIB_INIT
	sti
	SETMSR X2APIC_SELF_IPI, 0x45
	WINDOW_DELAY
	MARK 1
	EXIT
GUEST_END guest_apic_self_ipi

/* One-shot LVT timer, divide by 1, 100000 ticks: its vector wakes the hlt. */
GUEST guest_apic_timer_oneshot
	LIB_INIT
	cli
	SETMSR X2APIC_DCR, 0xb
	SETMSR X2APIC_LVT_TIMER, 0x41
	SETMSR X2APIC_INITIAL_COUNT, 100000
	sti
	hlt
	MARK 1
	EXIT
GUEST_END guest_apic_timer_oneshot

/* Periodic LVT timer: three periods wake three hlts; then mask it. */
GUEST guest_apic_timer_periodic
	LIB_INIT
	cli
	SETMSR X2APIC_DCR, 0xb
	SETMSR X2APIC_LVT_TIMER, (0x43 | LVT_PERIODIC)
	/* 10 ms: well above an exit's round trip through a daemon, so no period ends between
	 * the handler's iretq (IF=1 again) and the cli that follows it. */
	SETMSR X2APIC_INITIAL_COUNT, 10000000
	mov $3, %ebx
1:	sti
	hlt
	cli
	dec %ebx
	jnz 1b
	SETMSR X2APIC_LVT_TIMER, (0x43 | LVT_PERIODIC | LVT_MASKED)
	MARK 1
	EXIT
GUEST_END guest_apic_timer_periodic

/* TSC-deadline mode: a deadline ~100000 TSC cycles ahead wakes the hlt; then the deadline MSR
 * reads 0 (Intel SDM vol 3, 11.5.4.1: it is cleared when the timer fires). */
GUEST guest_apic_tsc_deadline
	LIB_INIT
	cli
	SETMSR X2APIC_LVT_TIMER, (0x42 | LVT_TSC_DEADLINE)
	rdtsc
	add $100000, %eax
	adc $0, %edx
	mov $MSR_TSC_DEADLINE, %ecx
	wrmsr
	sti
	hlt
	MARK 1
	mov $MSR_TSC_DEADLINE, %ecx
	RDMSR_OUT
	EXIT
GUEST_END guest_apic_tsc_deadline

/* A TSC deadline 2^40 cycles (minutes) ahead of the guest's own TSC must not fire now: MARK 1
 * comes without an interrupt; the deadline reads back as written (PORT_DATA 1); writing 0
 * disarms it. */
GUEST guest_apic_tsc_deadline_far
	LIB_INIT
	cli
	SETMSR X2APIC_LVT_TIMER, (0x42 | LVT_TSC_DEADLINE)
	rdtsc
	add $0x100, %edx
	mov %eax, %r8d
	mov %edx, %r9d
	mov $MSR_TSC_DEADLINE, %ecx
	wrmsr
	sti
	WINDOW_DELAY
	MARK 1
	mov $MSR_TSC_DEADLINE, %ecx
	rdmsr
	xor %esi, %esi
	cmp %eax, %r8d
	jne 1f
	cmp %edx, %r9d
	jne 1f
	mov $1, %esi
1:	OUT_DATA %esi
	SETMSR MSR_TSC_DEADLINE, 0
	MARK 2
	EXIT
GUEST_END guest_apic_tsc_deadline_far
