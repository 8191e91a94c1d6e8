/* A tiny Zircon-style guest: it starts in 64-bit mode at its load address (the BSP state of
 * the spec, §5.1), writes a greeting to the serial port 0x3f8 one byte at a time, and leaves
 * through the exit port 0xf4 with status 0 in al. Position independent: it may be loaded
 * anywhere the host chooses. */
	.code64
	.text
	.global _start
_start:
	lea greeting(%rip), %rsi
	mov $0x3f8, %dx
1:	movb (%rsi), %al
	test %al, %al
	jz 2f
	out %al, %dx
	inc %rsi
	jmp 1b
2:	xor %eax, %eax
	out %al, $0xf4
	hlt
	jmp 2b

greeting:
	.asciz "Hello from a zxvm guest!\n"
