#include "guest-asm.h"

/* Guests of the fault tests (tests/faults/), on the harness's layout (guest-asm.h). */

/* IF = 0, ring the bell (the host learns the VCPU is inside enter), then spin: no interrupt
 * can end this enter, only zx_vcpu_kick (spec §2.5). On PVM the loop is emulated at CPL 0 and
 * keeps a host CPU busy, as a runaway guest would. */
GUEST fault_guest_cli_spin
	cli
	movl $1, BELL_GPA
1:	jmp 1b
GUEST_END fault_guest_cli_spin

/* Another client's guest: a port-IO exit on port 0x10 forever, each enter one packet. */
GUEST fault_guest_io_loop
1:	out %al, $0x10
	jmp 1b
GUEST_END fault_guest_io_loop
