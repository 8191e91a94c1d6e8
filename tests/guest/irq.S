#include "guest-asm.h"

/* Guests for interrupt delivery, kicks and the VCPU thread rules (spec §2.3-2.6), and the
 * shared interrupt library every guest of irq.S, apic.S and cpu.S loads.
 *
 * The library (guest_lib) is copied by the test to LIB_BASE and called by absolute address:
 * LIB_BASE + 0 builds a GDT, a TSS and an IDT of 64-bit interrupt gates and loads them;
 * LIB_BASE + 8 does the GDT and TSS part only (for tests that keep Zircon's IDT at 0).
 * Zircon starts the BSP with GDTR and IDTR at 0, over the page tables (spec §5.1), so a guest
 * that wants to take interrupts must bring its own tables, as these do.
 *
 * Every vector's handler reports on port PORT_VEC the value vector | has_error_code << 8 and,
 * when the CPU pushed an error code, that code on PORT_ERR, then returns with iretq. When
 * RESUME_RIP holds an address, the handler returns there instead (and clears it), so that a
 * guest can step over an instruction that faults. HANDLED counts the handlers run. The layout
 * (LIB_BASE, the tables, RESUME_RIP, HANDLED, the ports) and the macros of the guests that use
 * the library (LIB_INIT, MARK, WINDOW_DELAY, ...) are in guest-asm.h. */

/* GDT selectors: 64-bit kernel code and data; the user segments in the order SYSRET (STAR
 * base 0x18: SS 0x20, CS 0x28) and SYSEXIT (SYSENTER_CS 0x08: CS 0x28, SS 0x30) expect them
 * (Intel SDM vol 2, SYSRET and SYSEXIT); then the TSS. */
#define KCODE 0x08
#define KDATA 0x10
#define TSS_SEL 0x38

/* The library. Position-independent except for the fixed tables it builds. */
GUEST guest_lib
	jmp lib_setup_all
	.org 8
	jmp lib_setup_gdt

lib_setup_gdt:
	push %rax
	movq $0, GDT_BASE
	movabs $0x00af9a000000ffff, %rax /* 0x08: code, DPL 0, L */
	mov %rax, GDT_BASE + 0x08
	movabs $0x00cf92000000ffff, %rax /* 0x10: data, DPL 0 */
	mov %rax, GDT_BASE + 0x10
	movabs $0x00cffa000000ffff, %rax /* 0x18: 32-bit code, DPL 3 */
	mov %rax, GDT_BASE + 0x18
	movabs $0x00cff2000000ffff, %rax /* 0x20: data, DPL 3 */
	mov %rax, GDT_BASE + 0x20
	movabs $0x00affa000000ffff, %rax /* 0x28: code, DPL 3, L */
	mov %rax, GDT_BASE + 0x28
	movabs $0x00cff2000000ffff, %rax /* 0x30: data, DPL 3 */
	mov %rax, GDT_BASE + 0x30
	/* 0x38: an available 64-bit TSS at TSS_BASE, limit 0x67. */
	movabs $(0x0000890000000067 | (TSS_BASE << 16)), %rax
	mov %rax, GDT_BASE + 0x38
	movq $0, GDT_BASE + 0x40
	/* The TSS: RSP0 for interrupts taken at CPL 3, no IO bitmap. */
	movq $KSTACK_TOP, TSS_BASE + 4
	movw $104, TSS_BASE + 102
	movw $0x47, GDTR_DESC
	movq $GDT_BASE, GDTR_DESC + 2
	lgdt GDTR_DESC
	/* Reload CS with a far return; the interrupt frames hold it and iretq restores it. */
	pushq $KCODE
	lea 1f(%rip), %rax
	push %rax
	lretq
1:	mov $KDATA, %eax
	mov %eax, %ds
	mov %eax, %es
	mov %eax, %ss
	mov $TSS_SEL, %eax
	ltr %ax
	pop %rax
	ret

lib_setup_all:
	call lib_setup_gdt
	push %rax
	push %rcx
	push %rdx
	push %rdi
	movq $0, RESUME_RIP
	lea lib_stubs(%rip), %rax
	mov $IDT_BASE, %edi
	mov $256, %ecx
	/* Intel SDM vol 3, 6.14.1: offset[15:0], selector, type 0x8e (present interrupt gate,
	 * DPL 0), offset[31:16], offset[63:32]. The stubs lie below 4 GiB. */
2:	mov %eax, %edx
	and $0xffff, %edx
	or $(KCODE << 16), %edx
	mov %edx, (%rdi)
	mov %eax, %edx
	and $0xffff0000, %edx
	or $0x8e00, %edx
	mov %edx, 4(%rdi)
	movq $0, 8(%rdi)
	add $16, %eax
	add $16, %edi
	dec %ecx
	jnz 2b
	movw $0xfff, IDTR_DESC
	movq $IDT_BASE, IDTR_DESC + 2
	lidt IDTR_DESC
	pop %rdi
	pop %rdx
	pop %rcx
	pop %rax
	ret

lib_common:
	push %rax
	push %rcx
	push %rdx
	/* The stub pushed the vector at 24(%rsp). Without an error code the CPU's frame starts
	 * at 32(%rsp) with RIP, so 40(%rsp) is CS, a small selector; with one, 40(%rsp) is
	 * the RIP, never below 0x100 in these guests. */
	xor %ecx, %ecx
	cmpq $0x100, 40(%rsp)
	jb 1f
	mov $1, %ecx
1:	incq HANDLED
	mov 24(%rsp), %eax
	mov %ecx, %edx
	shl $8, %edx
	or %edx, %eax
	out %eax, $PORT_VEC
	test %ecx, %ecx
	jz 2f
	mov 32(%rsp), %rax
	out %eax, $PORT_ERR
2:	mov RESUME_RIP, %rdx
	test %rdx, %rdx
	jz 3f
	movq $0, RESUME_RIP
	mov %rdx, 32(%rsp, %rcx, 8)
3:	test %ecx, %ecx
	pop %rdx
	pop %rcx
	pop %rax
	jnz 4f
	add $8, %rsp
	iretq
4:	add $16, %rsp
	iretq

	/* One 16-byte stub per vector: push the vector, join the common handler. */
	.p2align 4
lib_stubs:
	vec = 0
	.rept 256
	.p2align 4
	pushq $vec
	jmp lib_common
	vec = vec + 1
	.endr
GUEST_END guest_lib

/* External interrupt while halted: tell the host we are about to halt (IF=0, so nothing can
 * be delivered yet), then sti; hlt. The sti shadow covers the hlt, so an interrupt sent before
 * the hlt still wakes it rather than being taken before it (Intel SDM vol 2, STI). */
GUEST guest_irq_sti_hlt
	LIB_INIT
	cli
	MARK 1
	sti
	hlt
	MARK 2
	EXIT
GUEST_END guest_irq_sti_hlt

/* IF=1 and a loop that reports MARK 1 forever: the host pends vectors at a MARK exit and
 * collects the handler reports until the next MARK. The nops come first: an injected #BP or
 * #OF may return a few bytes past the exit's RIP, as for a software exception. */
GUEST guest_irq_loop
	LIB_INIT
	sti
1:	MARK 1
	.rept 16
	nop
	.endr
	WINDOW_DELAY
	jmp 1b
GUEST_END guest_irq_loop

/* IF=0: a pending interrupt must wait for sti (spec §2.6). */
GUEST guest_irq_if0
	LIB_INIT
	cli
	MARK 1
	MARK 2
	MARK 3
	sti
	nop
	WINDOW_DELAY
	MARK 4
	EXIT
GUEST_END guest_irq_if0

/* Two marks, then the exit port: a guest that always makes progress. */
GUEST guest_kick_out
	MARK 1
	MARK 2
	EXIT
GUEST_END guest_kick_out

/* Ring the bell (the host learns we are inside enter), then count forever. */
GUEST guest_kick_spin
	movl $1, BELL_GPA
1:	incq COUNTER
	jmp 1b
GUEST_END guest_kick_spin

/* Ring the bell, then spin until the host sets FLAG; report and exit. */
GUEST guest_kick_spin_flag
	movl $1, BELL_GPA
1:	cmpl $0, FLAG
	je 1b
	MARK 3
	EXIT
GUEST_END guest_kick_spin_flag

/* Ring the bell, then halt with IF=0 (nothing but a kick or an interrupt ends the wait). */
GUEST guest_kick_hlt
	cli
	movl $1, BELL_GPA
	hlt
	MARK 3
	EXIT
GUEST_END guest_kick_hlt

/* IF=1, ring the bell, then spin: interrupts must reach a running guest. */
GUEST guest_irq_spin
	LIB_INIT
	sti
	movl $1, BELL_GPA
1:	jmp 1b
GUEST_END guest_irq_spin
