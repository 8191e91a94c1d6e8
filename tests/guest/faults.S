#include "guest-asm.h"

/* Guest code that makes zx_vcpu_enter fail (spec §2.4, §3.2), and guests running outside 64-bit
 * mode: compatibility mode, 16-bit protected mode, legacy protected mode and real mode. */
#define MMIO 0x10000000
#define OUT 0x8000
#define GDT 0x9000

GUEST guest_fault_exit_only
	EXIT
GUEST_END guest_fault_exit_only

/* #UD through Zircon's IDT (base 0: the PML4, no present gates) escalates to a triple fault. */
GUEST guest_fault_ud2
	ud2
	EXIT
GUEST_END guest_fault_ud2

/* An empty IDT: int3 cannot be delivered. */
GUEST guest_fault_int3_null_idt
	movw $0, OUT
	movq $0, OUT + 2
	lidt OUT
	int3
	EXIT
GUEST_END guest_fault_int3_null_idt

/* A page fault: the identity page tables end at 4 GiB. */
GUEST guest_fault_page_fault
	movabs 0x100000000, %rax
	EXIT
GUEST_END guest_fault_page_fault

/* Port IO on ports nothing traps. */
GUEST guest_fault_out_untrapped
	out %al, $0x99
	EXIT
GUEST_END guest_fault_out_untrapped

GUEST guest_fault_in_untrapped
	mov $0x99, %dx
	in %dx, %eax
	EXIT
GUEST_END guest_fault_in_untrapped

/* String port IO on a trapped port (0xe0). */
GUEST guest_fault_outsb
	mov $OUT, %esi
	mov $0xe0, %dx
	outsb
	EXIT
GUEST_END guest_fault_outsb

GUEST guest_fault_rep_outsb
	mov $OUT, %esi
	mov $0xe0, %dx
	mov $3, %ecx
	rep outsb
	EXIT
GUEST_END guest_fault_rep_outsb

GUEST guest_fault_insb
	mov $OUT, %edi
	mov $0xe0, %dx
	insb
	EXIT
GUEST_END guest_fault_insb

GUEST guest_fault_rep_insw
	mov $OUT, %edi
	mov $0xe0, %dx
	mov $2, %ecx
	rep insw
	EXIT
GUEST_END guest_fault_rep_insw

/* A string out right before a plain out on the same port and size, and the other way round:
 * each exit is told apart by the instruction that caused it. */
GUEST guest_fault_outsb_then_out
	mov $OUT, %esi
	mov $0xe0, %dx
	outsb
	out %al, (%dx)
	EXIT
GUEST_END guest_fault_outsb_then_out

GUEST guest_fault_out_then_outsb
	mov $OUT, %esi
	mov $0xe0, %dx
	mov $0x7c, %al
	out %al, (%dx)
	outsb
	EXIT
GUEST_END guest_fault_out_then_outsb

/* An AVX instruction: KVM's CPL0 emulator on PVM cannot run it (notes/pvm-guest-execution.md);
 * hardware-assisted KVM runs it natively and the guest exits normally. */
GUEST guest_fault_avx
	vaddps %ymm0, %ymm1, %ymm2
	EXIT
GUEST_END guest_fault_avx

/* Load a GDT with 64-bit code (8), 32-bit code (0x10), flat data (0x18) and 16-bit code based at
 * GUEST_ENTRY (0x20), load the data segments, then far-return to `target` in the 32-bit
 * segment: compatibility mode (EFER.LMA = 1, CS.L = 0, CS.D = 1). */
.macro ENTER_COMPAT target
	mov $GUEST_STACK_TOP, %rsp
	movq $0, GDT
	mov $0x00af9a000000ffff, %rax
	mov %rax, GDT + 0x08
	mov $0x00cf9a000000ffff, %rax
	mov %rax, GDT + 0x10
	mov $0x00cf92000000ffff, %rax
	mov %rax, GDT + 0x18
	mov $0x00009a010000ffff, %rax
	mov %rax, GDT + 0x20
	movw $0x27, OUT + 0x100
	movq $GDT, OUT + 0x102
	lgdt OUT + 0x100
	mov $0x18, %eax
	mov %eax, %ds
	mov %eax, %es
	mov %eax, %ss
	pushq $0x10
	lea \target(%rip), %rax
	push %rax
	lretq
.endm

/* Compatibility mode: an out, MEM writes of 4 and 2 bytes, a MEM read whose result the guest
 * outs; then a far return into the 16-bit code segment (CS.D = 0) for an out and a MEM write. */
GUEST guest_mode_compat
	ENTER_COMPAT 1f
	.code32
1:	mov $0x32, %eax
	out %eax, $0xe0
	mov $MMIO, %ebx
AT cm_w4
	movl $0x12345678, MMIO
AT cm_w4_end
AT cm_w2
	movw $0x1234, 2(%ebx)
AT cm_w2_end
AT cm_r4
	mov 4(%ebx), %ecx
AT cm_r4_end
	mov %ecx, %eax
	out %eax, $0xe0
	pushl $0x20
	pushl $(2f - guest_mode_compat_start)
	lret
	.code16
2:	mov $0x16, %ax
	out %ax, $0xe2
AT cm16_w2
	movw $0xbeef, 6(%ebx)
AT cm16_w2_end
AT cm16_w1
	movb $0x5a, 8(%ebx)
AT cm16_w1_end
	EXIT
	.code64
GUEST_END guest_mode_compat

/* Legacy 32-bit protected mode: from compatibility mode turn paging off (which clears
 * EFER.LMA) and clear EFER.LME, out CR0 and EFER, then a MEM write. */
GUEST guest_mode_protected
	ENTER_COMPAT 1f
	.code32
1:	mov %cr0, %eax
	and $0x7fffffff, %eax
	mov %eax, %cr0
	mov $0xc0000080, %ecx
	rdmsr
	and $~0x100, %eax
	wrmsr
	mov %cr0, %eax
	out %eax, $0xe0
	rdmsr
	out %eax, $0xe0
AT pm_w4
	movl $0xcafe, MMIO
AT pm_w4_end
	EXIT
	.code64
GUEST_END guest_mode_protected

/* Real mode (a secondary VCPU at 0x20000): a MEM write through ES = 0xb800 to GPA 0xb8010. */
GUEST guest_mode_real
	.code16
	mov $0xb800, %ax
	mov %ax, %es
AT rm_w2
	movw $0x1234, %es:0x10
AT rm_w2_end
	EXIT
	.code64
GUEST_END guest_mode_real
