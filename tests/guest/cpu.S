#include "guest-asm.h"

/* Guests for the CPU a Zircon guest sees (spec §5.3): CPUID, VMCALL at CPL 0 and CPL 3, FPU and
 * SSE state isolation, and SYSCALL/SYSRET and SYSENTER/SYSEXIT between CPL 0 and CPL 3. They
 * use the library of irq.S (guest_lib at LIB_BASE) for a GDT with user segments, a TSS and an
 * IDT. */

/* Data the test writes (PATTERN) or reads back (SCRATCH). */
#define SCRATCH 0x9100
#define PATTERN 0x9200
#define MXCSR_VALUE 0x9300
#define FXAREA 0x9400
#define USER_STACK 0x1e0000
/* A page the test traps as MEM: CPL 3 code reports through it. */
#define MMIO_GPA 0x40000000

#define MSR_EFER 0xc0000080
#define MSR_STAR 0xc0000081
#define MSR_LSTAR 0xc0000082
#define MSR_FMASK 0xc0000084
#define MSR_SYSENTER_CS 0x174
#define MSR_SYSENTER_ESP 0x175
#define MSR_SYSENTER_EIP 0x176

/* The four CPUID registers out to PORT_DATA: eax, ebx, ecx, edx. */
.macro CPUID_OUT
	OUT_DATA %eax
	OUT_DATA %ebx
	OUT_DATA %ecx
	OUT_DATA %edx
.endm

/* What syscall_entry and sysenter_entry report each round: CS and SS at CPL 0, then edi, esi
 * and r8d from the user code; then count the round in r12 and compare it with 2. */
.macro ENTRY_OUT
	OUT_DATA %cs
	OUT_DATA %ss
	OUT_DATA %edi
	OUT_DATA %esi
	OUT_DATA %r8d
	inc %r12
	cmp $2, %r12
.endm

/* Let CPL 3 use the low 2 MiB and the 2 MiB at MMIO_GPA: set U in the PML4, PDPT and PD
 * entries the harness built (Intel SDM vol 3, 4.6.1). */
.macro USER_PAGES
	orq $4, 0x0
	orq $4, 0x1000
	orq $4, 0x1008
	orq $4, 0x2000
	orq $4, 0x3000
	mov %cr3, %rax
	mov %rax, %cr3
.endm

/* SYSCALL enters at CS 0x08 / SS 0x10; SYSRET returns to CS 0x2b / SS 0x23 (STAR[63:48] =
 * 0x18: CS = 0x18 + 16, SS = 0x18 + 8, RPL 3; Intel SDM vol 2, SYSRET). */
.macro SETUP_STAR
	mov $MSR_STAR, %ecx
	xor %eax, %eax
	mov $0x00180008, %edx
	wrmsr
.endm

/* CPUID of each (leaf, subleaf) of the table; eax, ebx, ecx, edx out to PORT_DATA each. */
GUEST guest_cpuid
	lea cpuid_table(%rip), %rsi
1:	mov (%rsi), %eax
	mov 4(%rsi), %ecx
	cmp $0xffffffff, %eax
	je 2f
	cpuid
	CPUID_OUT
	add $8, %rsi
	jmp 1b
2:	EXIT
cpuid_table:
	.long 1, 0
	.long 0x40000000, 0
	.long 0x40000001, 0
	.long 0xb, 0
	.long 0xb, 1
	.long 0, 0
	.long 0xffffffff
GUEST_END guest_cpuid

/* CPUID of the highest basic leaf (from leaf 0) and of a leaf past it, in that order. */
GUEST guest_cpuid_past_max
	xor %eax, %eax
	xor %ecx, %ecx
	cpuid
	mov %eax, %r12d
	xor %ecx, %ecx
	cpuid
	CPUID_OUT
	mov %r12d, %eax
	add $0x100, %eax
	xor %ecx, %ecx
	cpuid
	CPUID_OUT
	EXIT
GUEST_END guest_cpuid_past_max

/* VMCALL and VMMCALL with an unknown hypercall number at CPL 0, with Zircon's initial IDT (at
 * 0): the results land in rbx and r12, and the other registers are left alone. */
GUEST guest_vmcall
	mov $0x1111, %rcx
	mov $0x2222, %rdx
	mov $0x3333, %rsi
	mov $12345, %rax
	vmcall
	mov %rax, %rbx
	mov $12346, %rax
	vmmcall
	mov %rax, %r12
	EXIT
GUEST_END guest_vmcall

/* VMCALL at CPL 3: GDT and TSS from the library but Zircon's IDT; SYSRET to user code, which
 * stores the result to a MEM trap so that the host reads the registers at that exit (an `out`
 * at CPL 3 is refused on PVM even with IOPL 3). rbx gets the user CS. */
GUEST guest_vmcall_user
	mov $GUEST_STACK_TOP, %rsp
	mov $(LIB_BASE + 8), %eax
	call *%rax
	USER_PAGES
	SETUP_STAR
	mov $ABS(guest_vmcall_user, vmcall_user), %rcx
	mov $0x2, %r11
	sysretq
vmcall_user:
	mov %cs, %ebx
	mov $12345, %rax
	vmcall
	mov %rax, MMIO_GPA
1:	jmp 1b
GUEST_END guest_vmcall_user

/* Write the 16 bytes at PATTERN into every xmm register, then exit. */
GUEST guest_fpu_clobber
	movdqu PATTERN, %xmm0
	movdqu PATTERN, %xmm1
	movdqu PATTERN, %xmm2
	movdqu PATTERN, %xmm3
	movdqu PATTERN, %xmm4
	movdqu PATTERN, %xmm5
	movdqu PATTERN, %xmm6
	movdqu PATTERN, %xmm7
	movdqu PATTERN, %xmm8
	movdqu PATTERN, %xmm9
	movdqu PATTERN, %xmm10
	movdqu PATTERN, %xmm11
	movdqu PATTERN, %xmm12
	movdqu PATTERN, %xmm13
	movdqu PATTERN, %xmm14
	movdqu PATTERN, %xmm15
	EXIT
GUEST_END guest_fpu_clobber

/* Load xmm1 and xmm15 from PATTERN, exit (MARK 1), then store them to SCRATCH and report
 * their first dword: they must have survived the exit. A movq from xmm to a GPR is not
 * emulated at CPL 0 on PVM, so the value goes through memory. */
GUEST guest_fpu_keep
	movdqu PATTERN, %xmm1
	movdqu PATTERN + 16, %xmm15
	MARK 1
	movdqu %xmm1, SCRATCH
	movdqu %xmm15, SCRATCH + 16
	OUT_DATA SCRATCH
	EXIT
GUEST_END guest_fpu_keep

/* Load MXCSR from MXCSR_VALUE, exit (MARK 1), then report it. Through an FXSAVE image, as
 * PVM's CPL 0 emulator has FXSAVE/FXRSTOR but not LDMXCSR/STMXCSR. */
GUEST guest_fpu_mxcsr
	fxsave FXAREA
	mov MXCSR_VALUE, %eax
	mov %eax, FXAREA + 24
	fxrstor FXAREA
	MARK 1
	fxsave FXAREA
	OUT_DATA FXAREA + 24
	EXIT
GUEST_END guest_fpu_mxcsr

/* SYSRET to CPL 3 code that SYSCALLs back, twice. At CPL 0 the entry reports its CS and SS,
 * then what the user code put in edi (0x1234 + round), esi (its CS) and edx (its SS). */
GUEST guest_syscall
	LIB_INIT
	USER_PAGES
	SETUP_STAR
	SETMSR MSR_LSTAR, ABS(guest_syscall, syscall_entry)
	SETMSR MSR_FMASK, 0x200
	mov $MSR_EFER, %ecx
	rdmsr
	or $1, %eax /* SCE */
	wrmsr
	xor %r12d, %r12d
	mov $ABS(guest_syscall, syscall_user), %rcx
	mov $0x2, %r11
	sysretq
syscall_entry:
	mov %edx, %r8d
	ENTRY_OUT
	je 1f
	sysretq
1:	EXIT
syscall_user:
	mov %cs, %esi
	mov %ss, %edx
	lea 0x1234(%r12), %edi
	syscall
	jmp syscall_user
GUEST_END guest_syscall

/* SYSEXIT to CPL 3 code that SYSENTERs back, twice, as above with 0x5678 + round in edi. In
 * 64-bit mode SYSENTER loads CS 0x08 / SS 0x10 from SYSENTER_CS; SYSEXIT with REX.W goes to
 * CS 0x2b / SS 0x33 (SYSENTER_CS + 32 / + 40, RPL 3) at rdx with the stack in rcx. */
GUEST guest_sysenter
	LIB_INIT
	USER_PAGES
	SETMSR MSR_SYSENTER_CS, 0x08
	SETMSR MSR_SYSENTER_ESP, KSTACK_TOP
	SETMSR MSR_SYSENTER_EIP, ABS(guest_sysenter, sysenter_entry)
	xor %r12d, %r12d
	jmp 2f
sysenter_entry:
	ENTRY_OUT
	je 1f
2:	mov $ABS(guest_sysenter, sysenter_user), %rdx
	mov $USER_STACK, %rcx
	sysexitq
1:	EXIT
sysenter_user:
	mov %cs, %esi
	mov %ss, %r8d
	lea 0x5678(%r12), %edi
	sysenter
GUEST_END guest_sysenter
