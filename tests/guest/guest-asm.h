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

/* Guest code is data to the host: no executable stack for the test programs. */
.section .note.GNU-stack, "", @progbits
.previous
