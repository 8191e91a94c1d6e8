#include "guest-asm.h"

/* Guest code for MEM and BELL traps (spec §2.2, §3.1). MMIO lives at 0x10000000, above the
 * 2 MiB of RAM but inside the harness's identity page tables. Labels marked with AT are global
 * so that the test computes the address and length of each faulting instruction. */
#define MMIO 0x10000000

/* A RIP-relative operand addressing GPA `target` from an instruction of `len` bytes at `label`.
 * The label is a backward reference so that the displacement is a constant, not a relocation. */
#define RIPREL(name, label, len, target) (target - ABS(name, label) - len)(%rip)

/* Writes of 1, 2, 4 and 8 bytes through absolute, [reg+disp], [base+index*scale+disp],
 * RIP-relative and moffs addressing. */
GUEST guest_mem_write
	mov $MMIO, %ebx
	xor %ecx, %ecx
AT mem_w1
	movb $0x11, MMIO
AT mem_w1_end
AT mem_w2
	movw $0x2233, 0x102(%rbx)
AT mem_w2_end
	mov $0x44556677, %eax
	mov $3, %ecx
AT mem_w4
	mov %eax, 0x204(%rbx,%rcx,4)
AT mem_w4_end
	mov $0x8899aabbccddeeff, %rax
AT mem_w8
	mov %rax, RIPREL(guest_mem_write, mem_w8, 7, MMIO + 0x308)
AT mem_w8_end
AT mem_wmoffs
	movabs %rax, MMIO + 0x310
AT mem_wmoffs_end
AT mem_wr12
	mov %r12w, 0xffe(%rbx)
AT mem_wr12_end
	EXIT
GUEST_END guest_mem_write

/* Reads of 1, 2, 4 and 8 bytes; the VMM supplies each result with write_state and the guest
 * copies what it got into r10..r14 for the host to check. */
GUEST guest_mem_read
	mov $MMIO, %ebx
	mov $0x1111111111111111, %rcx
	mov $0x2222222222222222, %rdx
	mov $0x3333333333333333, %rsi
	mov $0x4444444444444444, %rdi
	mov $0x9999999999999999, %r9
AT mem_r1
	mov 0x10(%rbx), %cl
AT mem_r1_end
AT mem_r2
	mov 0x22(%rbx), %dx
AT mem_r2_end
AT mem_r4
	mov 0x34(%rbx), %esi
AT mem_r4_end
AT mem_r8
	mov MMIO + 0x48, %rdi
AT mem_r8_end
AT mem_r8rip
	mov RIPREL(guest_mem_read, mem_r8rip, 7, MMIO + 0x50), %r9
AT mem_r8rip_end
	mov %rcx, %r10
	mov %rdx, %r11
	mov %rsi, %r12
	mov %rdi, %r13
	mov %r9, %r14
	EXIT
GUEST_END guest_mem_read

/* A read the VMM answers without write_state: the register keeps its value. */
GUEST guest_mem_read_keep
	mov $0x5555aaaa5555aaaa, %rax
AT mem_rk
	mov MMIO, %rax
AT mem_rk_end
	mov %rax, %rbx
	EXIT
GUEST_END guest_mem_read_keep

/* Accesses at both ends of a three-page trap, then one just past it. */
GUEST guest_mem_range
	mov $MMIO, %ebx
	movb $1, (%rbx)
	movl $2, 0x2ffc(%rbx)
	movb $3, 0x3000(%rbx)
	EXIT
GUEST_END guest_mem_range

/* A write, then the same write after loading CR3 with a copy of the PML4 at 0x7000. */
GUEST guest_mem_cr3
	movb $1, MMIO
	movq $0x1003, 0x7000
	mov $0x7000, %eax
	mov %rax, %cr3
	movb $2, MMIO
	EXIT
GUEST_END guest_mem_cr3

/* A MEM trap page inside RAM (0x100000) is a hole; the page after it is still RAM. */
GUEST guest_mem_hole
	movl $0xaabbccdd, 0x101000
	mov 0x101000, %ecx
	movl $0x11223344, 0x100000
	mov 0x100000, %edx
	EXIT
GUEST_END guest_mem_hole

/* Accesses to a GPA with neither RAM nor a trap. */
GUEST guest_mem_unmapped_write
	movl $1, 0x20000000
	EXIT
GUEST_END guest_mem_unmapped_write

GUEST guest_mem_unmapped_read
	mov 0x20000000, %eax
	EXIT
GUEST_END guest_mem_unmapped_read

/* Bell writes of every size; the guest keeps running and ends with rcx = 0x77. */
GUEST guest_bell_writes
	mov $MMIO, %ebx
	movb $1, (%rbx)
	movw $2, 0x12(%rbx)
	movl $3, 0x1004(%rbx)
	movq $4, 0x1ff8(%rbx)
	mov %eax, MMIO + 0x40
	mov $0x77, %ecx
	EXIT
GUEST_END guest_bell_writes

GUEST guest_bell_read
	mov MMIO, %eax
	EXIT
GUEST_END guest_bell_read

/* One bell write, then the exit port. */
GUEST guest_bell_one
	movl $1, MMIO
	EXIT
GUEST_END guest_bell_one

/* 300 bells to MMIO + 4 * i. After the 256th a bell to MMIO + 0x1000 says "256 written", after
 * the 257th one to MMIO + 0x1004 says "257 written" (that one must wait for a dequeue). */
GUEST guest_bell_flood
	mov $MMIO, %ebx
	xor %ecx, %ecx
1:	mov %ecx, (%rbx,%rcx,4)
	inc %ecx
	cmp $256, %ecx
	jne 2f
	movl $1, 0x1000(%rbx)
2:	cmp $257, %ecx
	jne 3f
	movl $2, 0x1004(%rbx)
3:	cmp $300, %ecx
	jne 1b
	EXIT
GUEST_END guest_bell_flood

/* Stores right after a byte that could be a prefix (REX.R 0x44, REX.W 0x48, 0x66): the
 * instruction is the short one. */
GUEST guest_mem_prefix_lookalike
	mov $MMIO, %ebx
	mov $0x11223344, %eax
	xor %r8d, %r8d
	mov $0x44, %al
AT mem_pl1
	mov %eax, (%rbx)
AT mem_pl1_end
	mov $0x48, %al
AT mem_pl2
	mov %eax, 8(%rbx)
AT mem_pl2_end
	mov $0x66, %al
AT mem_pl3
	movl $5, 0x10(%rbx)
AT mem_pl3_end
	EXIT
GUEST_END guest_mem_prefix_lookalike


/* FS- and GS-relative accesses: the segment base (IA32_FS_BASE, IA32_GS_BASE) counts. */
GUEST guest_mem_fs_gs
	mov $0xc0000100, %ecx
	mov $MMIO, %eax
	xor %edx, %edx
	wrmsr
	mov $0xc0000101, %ecx
	mov $(MMIO + 0x100), %eax
	wrmsr
	mov $0xabcd, %eax
AT mem_fs_w
	mov %eax, %fs:0x20
AT mem_fs_w_end
AT mem_gs_r
	mov %gs:0x30, %rsi
AT mem_gs_r_end
	EXIT
GUEST_END guest_mem_fs_gs

/* Read-modify-write instructions on a MEM trap: each is one packet, and the guest sees only the
 * registers the VMM wrote (spec §3.1). r10 and r12 keep RFLAGS after the OR and the INC, r11
 * the register the XCHG exchanged. */
GUEST guest_mem_rmw
	mov $GUEST_STACK_TOP, %esp
	mov $MMIO, %ebx
	mov $0x1234, %ecx
	xor %eax, %eax
AT mem_rmw_or
	orl $0x10, 0x40(%rbx)
AT mem_rmw_or_end
	pushfq
	pop %r10
AT mem_rmw_xchg
	xchg %rcx, 0x48(%rbx)
AT mem_rmw_xchg_end
	mov %rcx, %r11
AT mem_rmw_inc
	incl 0x50(%rbx)
AT mem_rmw_inc_end
	pushfq
	pop %r12
	EXIT
GUEST_END guest_mem_rmw

/* Reads that compute flags (TEST, CMP, ADD) and a plain load after which the VMM also changes
 * RFLAGS: r10, r11, r12 and r14 keep RFLAGS after each, r13 and r15 the loaded registers. */
GUEST guest_mem_read_flags
	mov $GUEST_STACK_TOP, %esp
	mov $MMIO, %ebx
	mov $5, %ecx
	xor %eax, %eax
AT mem_f_test
	testl $1, 0x60(%rbx)
AT mem_f_test_end
	pushfq
	pop %r10
AT mem_f_cmp
	cmp 0x68(%rbx), %rcx
AT mem_f_cmp_end
	pushfq
	pop %r11
	mov $7, %edx
AT mem_f_add
	add 0x70(%rbx), %rdx
AT mem_f_add_end
	pushfq
	pop %r12
	mov %rdx, %r13
AT mem_f_mov
	mov 0x78(%rbx), %esi
AT mem_f_mov_end
	pushfq
	pop %r14
	mov %rsi, %r15
	EXIT
GUEST_END guest_mem_read_flags

/* RAM mapped with ZX_VM_ALLOW_FAULTS past its VMO's end at 0x400000 (one page of VMO, two of
 * mapping): the first page works, the second is OUT_OF_RANGE. */
GUEST guest_mem_past_vmo_end
	movl $0x1234, 0x400000
	mov 0x400000, %ecx
	out %eax, $0x10
	mov 0x401000, %edx
	EXIT
GUEST_END guest_mem_past_vmo_end
