#include "guest-asm.h"

/* out of each size, then the exit port. */
GUEST guest_io_out
	mov $0xab, %al
	out %al, $0x10
	mov $0x1234, %ax
	out %ax, $0x12
	mov $0xdeadbeef, %eax
	out %eax, $0x14
	EXIT
GUEST_END guest_io_out

/* in of each size; the values land in rbx, rcx, rdx for the host to check. */
GUEST guest_io_in
	mov $0x1122334455667788, %rax
	in $0x20, %al
	mov %rax, %rbx
	mov $0x1122334455667788, %rax
	mov $0x22, %dx
	in %dx, %ax
	mov %rax, %rcx
	mov $0x1122334455667788, %rax
	in $0x24, %eax
	mov %rax, %rdx
	EXIT
GUEST_END guest_io_in
