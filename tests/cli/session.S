/* The guest of session_test.sh, driven one `zxvm vcpu enter` at a time. Each port access
 * is one exit the script checks: the `in` is answered with `zxvm vcpu write-state --kind
 * io`, and the loop adds cl to al and writes the sum, so a script that sets rax and rcx
 * with `zxvm vcpu write-state --set` sees their sum on port 0x81. */
	.code64
	.text
	.global _start

	.set IN_PORT, 0x80
	.set OUT_PORT, 0x81

_start:
	mov $0x1234, %ebx	/* read back with `zxvm vcpu read-state` */
	in $IN_PORT, %al
	out %al, $OUT_PORT
1:	add %cl, %al
	out %al, $OUT_PORT
	jmp 1b
