/* The guest of the --timeout and Ctrl-C tests: it says it is running, so the script knows
 * `zxvm run` is inside zx_vcpu_enter, and then spins without exits until it is kicked. */
	.code64
	.text
	.global _start

_start:
	lea msg(%rip), %rsi
	mov $0x3f8, %dx
1:	movb (%rsi), %al
	test %al, %al
	jz 2f
	out %al, %dx
	inc %rsi
	jmp 1b
2:	pause
	jmp 2b

msg:
	.asciz "spinning\n"
