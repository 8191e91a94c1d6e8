/* Macros for guest code (STYLE.md "Tests"): each guest is a position-independent piece of
 * code between <name>_start and <name>_end, copied to GUEST_ENTRY by the harness. Code that
 * needs absolute addresses uses ABS(label), its address once loaded. */
#define GUEST_ENTRY 0x10000
#define GUEST_STACK_TOP 0x1ff000
#define GUEST_EXIT_PORT 0xf4

.macro GUEST name
	.section .rodata.guest.\name, "a"
	.global \name\()_start
	.global \name\()_end
	.code64
\name\()_start:
.endm

.macro GUEST_END name
\name\()_end:
	.previous
.endm

/* Finish the test: the harness traps this port. */
#define EXIT out %al, $GUEST_EXIT_PORT

/* The guest-physical address of a label of guest `name` once the harness loaded it. */
#define ABS(name, label) (GUEST_ENTRY + (label - name##_start))

/* A global label, for a test that needs the address or the length of the instruction there. */
.macro AT name
	.global \name
\name:
.endm

/* ---- the interrupt library (guest_lib of irq.S) and the guests that report through it ----
 *
 * The guest-physical layout the library and tests/harness/fixture.h share (keep them in sync):
 * the library's code, its tables and data words, and the report ports it traps. */
#define LIB_BASE 0x20000
#define GDT_BASE 0x6000
#define TSS_BASE 0x7000
#define IDT_BASE 0x8000
#define RESUME_RIP 0x9000
#define COUNTER 0x9008
#define FLAG 0x9010
#define HANDLED 0x9018
#define GDTR_DESC 0x9020
#define IDTR_DESC 0x9030
#define KSTACK_TOP 0x1f0000
#define BELL_GPA 0x40000000

#define PORT_VEC 0x10
#define PORT_ERR 0x11
#define PORT_MARK 0x12
#define PORT_DATA 0x13

/* Report `value` on PORT_MARK (clobbers eax). */
.macro MARK value
	mov $\value, %eax
	out %eax, $PORT_MARK
.endm

/* Report the low 32 bits of `reg` on PORT_DATA (clobbers eax). */
.macro OUT_DATA reg
.ifnc \reg,%eax
	mov \reg, %eax
.endif
	out %eax, $PORT_DATA
.endm

/* Load a stack and the library's GDT, TSS and IDT (LIB_BASE + 0). */
.macro LIB_INIT
	mov $GUEST_STACK_TOP, %rsp
	mov $LIB_BASE, %eax
	call *%rax
.endm

/* wrmsr of a constant below 4 GiB (clobbers eax, ecx, edx). */
.macro SETMSR msr, value
	mov $\msr, %ecx
	mov $\value, %eax
	xor %edx, %edx
	wrmsr
.endm

/* Run ~2000 instructions without an exit, again after every interrupt taken meanwhile. On
 * this PVM machine CPL0 code is emulated and KVM looks for an open interrupt window only
 * between batches of about 1000 emulated instructions, so an interrupt waiting for IF=1
 * arrives up to that late, and an exit inside that span would come first. A handler returning
 * into the middle of the delay restarts it, so a chain of pending interrupts all arrive
 * before the guest's next exit. On VMX/SVM the window exit is exact and the delay changes
 * nothing. */
.macro WINDOW_DELAY
	push %rcx
	push %rdx
8:	mov HANDLED, %rdx
	mov $1000, %ecx
9:	dec %ecx
	jnz 9b
	cmp HANDLED, %rdx
	jne 8b
	pop %rdx
	pop %rcx
.endm

/* Guest code is data to the host: no executable stack for the test programs. */
.section .note.GNU-stack, "", @progbits
.previous
