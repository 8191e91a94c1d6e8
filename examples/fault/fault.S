/* fault: a guest that says what it is about to do and then executes ud2. Zircon delivers
 * guest exceptions through the guest's IDT (spec §5.1: exception bitmap 0); at the
 * bootstrap state the IDT is at base 0, where the page tables are, so it has no present
 * gate and the #UD escalates to a triple fault. zx_vcpu_enter then fails with
 * ZX_ERR_NOT_SUPPORTED (an unhandled exit, spec §2.4), and `zxvm run` exits 3 naming it. */
	.code64
	.text
	.global _start

	.set COM1, 0x3f8

_start:
	lea msg(%rip), %rsi
	mov $COM1, %dx
1:	movb (%rsi), %al
	test %al, %al
	jz 2f
	out %al, %dx
	inc %rsi
	jmp 1b
2:	ud2

msg:
	.asciz "about to execute ud2\n"
