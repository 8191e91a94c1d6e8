/* echo: a guest that drives its 16550 UART the way a driver does. Before every byte it
 * waits for the transmitter to be empty (line status register, base+5, bit 5); it reads the
 * line status and the receive buffer once and prints both, then prints a value it computes
 * (the CRC-32 of "123456789") and leaves through the exit port 0xf4 with status 7.
 *
 * Under `zxvm run` the receive buffer reads 0 and the line status 0x60 (transmitter empty,
 * nothing received), so the output is always:
 *
 *	lsr=0x60 rbr=0x00
 *	crc32(123456789)=0xcbf43926
 *
 * and the exit status 7. The stack lies just below the image, so it may be loaded anywhere
 * above the page tables (spec §5.1: RSP starts at 0). */
	.code64
	.text
	.global _start

	.set COM1, 0x3f8
	.set LSR, COM1 + 5
	.set LSR_THRE, 0x20
	.set EXIT_PORT, 0xf4
	.set EXIT_CODE, 7
	.set CRC32_POLY, 0xedb88320 /* reflected IEEE 802.3 polynomial */

_start:
	lea _start(%rip), %rsp

	mov $LSR, %dx
	in %dx, %al
	mov %al, %r12b
	mov $COM1, %dx
	in %dx, %al
	mov %al, %r13b

	lea msg_lsr(%rip), %rsi
	call puts
	movzbl %r12b, %edi
	mov $2, %ecx
	call puthex
	lea msg_rbr(%rip), %rsi
	call puts
	movzbl %r13b, %edi
	mov $2, %ecx
	call puthex
	mov $'\n', %al
	call putc

	/* Bitwise CRC-32 (the crc32 instruction is SSE4.2, and the CPL0 emulator of some
	 * platforms lacks it). */
	mov $0xffffffff, %r8d
	lea check(%rip), %rsi
	mov $check_len, %ecx
1:	movzbl (%rsi), %edx
	xor %edx, %r8d
	mov $8, %r9d
2:	mov %r8d, %edx
	shr $1, %r8d
	test $1, %dl
	jz 3f
	xor $CRC32_POLY, %r8d
3:	dec %r9d
	jnz 2b
	inc %rsi
	dec %ecx
	jnz 1b
	not %r8d

	lea msg_crc(%rip), %rsi
	call puts
	mov %r8d, %edi
	mov $8, %ecx
	call puthex
	mov $'\n', %al
	call putc

4:	mov $EXIT_CODE, %al
	out %al, $EXIT_PORT
	hlt
	jmp 4b

/* putc: writes al once the transmitter is empty. Clobbers ah, dx. */
putc:
	mov %al, %ah
	mov $LSR, %dx
1:	in %dx, %al
	test $LSR_THRE, %al
	jz 1b
	mov %ah, %al
	mov $COM1, %dx
	out %al, %dx
	ret

/* puts: writes the NUL-terminated string at rsi. Clobbers rax, rdx, rsi. */
puts:
1:	movb (%rsi), %al
	test %al, %al
	jz 2f
	call putc
	inc %rsi
	jmp 1b
2:	ret

/* puthex: writes "0x" and the low 4*ecx bits of rdi in hex, high digit first.
 * Clobbers rax, rcx, rdx, rdi, r10, r11. */
puthex:
	mov %ecx, %r10d
	shl $2, %ecx
	neg %ecx
	add $64, %ecx
	shl %cl, %rdi
	mov $'0', %al
	call putc
	mov $'x', %al
	call putc
	lea hexdigits(%rip), %r11
1:	rol $4, %rdi
	mov %edi, %eax
	and $0xf, %eax
	movb (%r11, %rax), %al
	call putc
	dec %r10d
	jnz 1b
	ret

msg_lsr:
	.asciz "lsr="
msg_rbr:
	.asciz " rbr="
msg_crc:
	.asciz "crc32(123456789)="
hexdigits:
	.ascii "0123456789abcdef"
check:
	.ascii "123456789"
	.set check_len, . - check
