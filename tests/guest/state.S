#include "guest-asm.h"

/* Guest code for the initial VCPU state (spec §5.1, §5.2) and the state calls (§2.7, §2.8).
 * Results are stored in RAM at OUT (0x8000, past the page tables) for the host to read from the
 * VMO; the layout is STATE_* in tests/guest_state_test.c. */
#define OUT 0x8000

/* Store the 16 GPRs at OUT, in zx_vcpu_state_t order, without touching any register. */
.macro STORE_GPRS
	mov %rax, OUT + 0x00
	mov %rcx, OUT + 0x08
	mov %rdx, OUT + 0x10
	mov %rbx, OUT + 0x18
	mov %rsp, OUT + 0x20
	mov %rbp, OUT + 0x28
	mov %rsi, OUT + 0x30
	mov %rdi, OUT + 0x38
	mov %r8, OUT + 0x40
	mov %r9, OUT + 0x48
	mov %r10, OUT + 0x50
	mov %r11, OUT + 0x58
	mov %r12, OUT + 0x60
	mov %r13, OUT + 0x68
	mov %r14, OUT + 0x70
	mov %r15, OUT + 0x78
.endm

/* Everything a guest can see of its start state, before it changes anything. */
GUEST guest_state_initial
	STORE_GPRS
	mov %cr0, %rax
	mov %rax, OUT + 0x88
	mov %cr4, %rax
	mov %rax, OUT + 0x90
	mov %cr3, %rax
	mov %rax, OUT + 0x98
	mov $0xc0000080, %ecx
	rdmsr
	mov %eax, OUT + 0xa0
	mov %edx, OUT + 0xa4
	mov %cs, OUT + 0xb0
	mov %ds, OUT + 0xb2
	mov %es, OUT + 0xb4
	mov %fs, OUT + 0xb6
	mov %gs, OUT + 0xb8
	mov %ss, OUT + 0xba
	str OUT + 0xbc
	sldt OUT + 0xbe
	sgdt OUT + 0xc0
	sidt OUT + 0xd0
	mov $0x1b, %ecx
	rdmsr
	mov %eax, OUT + 0xe0
	mov %edx, OUT + 0xe4
	/* RFLAGS needs a stack. */
	mov $GUEST_STACK_TOP, %rsp
	pushfq
	popq OUT + 0x80
	/* CR0.NE: the guest reads back what it wrote (spec §5.1). */
	mov %cr0, %rax
	or $0x20, %rax
	mov %rax, %cr0
	mov %cr0, %rax
	mov %rax, OUT + 0xa8
	EXIT
GUEST_END guest_state_initial

/* Store the GPRs and RFLAGS the host wrote, then change every GPR by +1 for the host to read. */
GUEST guest_state_roundtrip
	STORE_GPRS
	pushfq
	popq OUT + 0x80
	inc %rax
	inc %rcx
	inc %rdx
	inc %rbx
	inc %rsp
	inc %rbp
	inc %rsi
	inc %rdi
	inc %r8
	inc %r9
	inc %r10
	inc %r11
	inc %r12
	inc %r13
	inc %r14
	inc %r15
	EXIT
GUEST_END guest_state_roundtrip

/* Just RFLAGS, as the guest sees it at entry. */
GUEST guest_state_rflags
	mov $GUEST_STACK_TOP, %rsp
	pushfq
	popq OUT + 0x80
	EXIT
GUEST_END guest_state_rflags

/* Load RFLAGS = bit 1 | CF | PF | ZF | IF | DF | IOPL 3 | ID and exit; read_state must report only
 * the user bits. */
GUEST guest_state_set_rflags
	mov $GUEST_STACK_TOP, %rsp
	pushq $0x203647
	popfq
	EXIT
GUEST_END guest_state_set_rflags

/* A 64-bit GDT and an IDT with a #GP gate at IDT, for guests that must survive an exception.
 * The #GP handler outs its vector (13) to port 0xe0 and the error code and faulting RIP to 0xe4,
 * then exits. */
#define GDT 0x9000
#define IDT 0xa000
.macro SETUP_GP_HANDLER name
	mov $GUEST_STACK_TOP, %rsp
	movq $0, GDT
	mov $0x00af9a000000ffff, %rax /* 8: 64-bit code, DPL 0 */
	mov %rax, GDT + 8
	mov $0x00cf92000000ffff, %rax /* 16: flat data */
	mov %rax, GDT + 16
	movw $23, OUT + 0x100
	movq $GDT, OUT + 0x102
	lgdt OUT + 0x100
	pushq $8
	lea 1f(%rip), %rax
	push %rax
	lretq
1:	lea \name\()_gp(%rip), %rax
	mov %ax, IDT + 13 * 16
	movw $8, IDT + 13 * 16 + 2
	movw $0x8e00, IDT + 13 * 16 + 4 /* present 64-bit interrupt gate, DPL 0 */
	shr $16, %rax
	mov %ax, IDT + 13 * 16 + 6
	shr $16, %rax
	mov %eax, IDT + 13 * 16 + 8
	movl $0, IDT + 13 * 16 + 12
	movw $(14 * 16 - 1), OUT + 0x110
	movq $IDT, OUT + 0x112
	lidt OUT + 0x110
.endm

.macro GP_HANDLER name
\name\()_gp:
	mov $13, %eax
	out %eax, $0xe0
	pop %rax /* error code */
	out %eax, $0xe4
	pop %rax /* RIP of the faulting instruction */
	out %eax, $0xe4
	EXIT
.endm

/* CR0.NW without CD raises #GP (spec §5.1). */
GUEST guest_state_cr0_nw
	SETUP_GP_HANDLER guest_state_cr0_nw
	mov %cr0, %rax
	bts $29, %rax
	btr $30, %rax
AT state_nw_fault
	mov %rax, %cr0
	mov $0xbad, %eax
	out %eax, $0xe8 /* not reached */
	EXIT
	GP_HANDLER guest_state_cr0_nw
GUEST_END guest_state_cr0_nw

/* A secondary VCPU (spec §5.2) starts in real mode at entry 0x20000 (CS base = entry, IP = 0).
 * It outs CR0, CS, CR4, EFER (low half), the APIC base (low half) and the IP of state_ap_ip,
 * then exits. */
GUEST guest_state_ap
	.code16
	mov %cr0, %eax
	out %eax, $0xe0
	mov %cs, %ax
	out %ax, $0xe2
	mov %cr4, %eax
	out %eax, $0xe0
	mov $0xc0000080, %ecx
	rdmsr
	out %eax, $0xe0
	mov $0x1b, %ecx
	rdmsr
	out %eax, $0xe0
	/* The IP is an offset from CS base = entry. The stack is SS:0xfffe, RAM. */
	call 1f
AT state_ap_ip
1:	pop %ax
	out %ax, $0xe2
	EXIT
	.code64
GUEST_END guest_state_ap

/* What a VCPU finds that an earlier VCPU of its VPID could have left (a recycled KVM vcpu must
 * look new): LSTAR, SYSENTER_CS and the x2APIC ID go to OUT + 0x100..0x110; then it writes
 * LSTAR and SYSENTER_CS and leaves an MMIO read pending at 0x10000000. */
GUEST guest_state_dirty
	mov $0xc0000082, %ecx
	rdmsr
	mov %eax, OUT + 0x100
	mov %edx, OUT + 0x104
	mov $0x174, %ecx
	rdmsr
	mov %eax, OUT + 0x108
	mov $0x802, %ecx
	rdmsr
	mov %eax, OUT + 0x110
	mov $0xc0000082, %ecx
	mov $0x5a5a0000, %eax
	mov $0xffffffff, %edx
	wrmsr
	mov $0x174, %ecx
	mov $0x10, %eax
	xor %edx, %edx
	wrmsr
	mov $0x1234, %r15
	mov 0x10000000, %eax
	EXIT
GUEST_END guest_state_dirty
