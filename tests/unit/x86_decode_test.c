// SPDX-License-Identifier: MIT
/*
 * Unit tests for the x86 instruction decoder in kvm_backend/x86-decode.c.
 *
 * Each case is an encoding worked out by hand from the Intel SDM vol 2 (chapter 2 for the
 * prefix/ModRM/SIB/displacement/immediate layout, appendix A for the opcode maps), with the
 * fields the decoder must report.  A mistake here would let the backend advance RIP by the
 * wrong amount after an MMIO exit, so the table leans on the quirks: mod = 0 with rBP/r13,
 * SIB with rSP/r12, RIP-relative versus absolute disp32, 16-bit forms, moffs widths, and the
 * opcodes whose immediate size depends on prefixes or ModRM.reg.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "x86-decode-internal.h"

#define R16 KB_MODE_REAL16
#define P16 KB_MODE_PROT16
#define P32 KB_MODE_PROT32
#define L64 KB_MODE_LONG64

#define BYTES(...) .b = { __VA_ARGS__ }, .n = sizeof((const uint8_t[]){ __VA_ARGS__ })

/* Optional checks, selected per case with .want. */
#define W_DISP (1u << 0)
#define W_IMM (1u << 1)
#define W_REG (1u << 2)
#define W_RM (1u << 3)
#define W_SEG (1u << 4)
#define W_REX (1u << 5)

/*
 * One decode case.  len -1 means the bytes must be rejected.  map and osz/asz are checked when
 * non-zero; dsz, isz, sib, mem, rip, str, io, rep, repne and lock are always checked, so a zero
 * there is an expectation too.
 */
struct dcase {
	const char *name;
	enum kb_cpu_mode mode;
	uint8_t b[16];
	uint8_t n;
	int len;
	uint8_t map, op;
	uint8_t osz, asz;
	uint8_t dsz, isz;
	int64_t disp, imm;
	bool sib, mem, rip, str, io, rep, repne, lock;
	uint8_t reg, rm, rex;
	int8_t seg;
	unsigned int want;
};

static const struct dcase dcases[] = {
	/* MOV stores and loads of every size (Intel SDM vol 2, MOV; table A-2 rows 8 and C). */
	{ "mov [rdi],al", L64, BYTES(0x88, 0x07), 2, 1, 0x88, 1, 8, .mem = 1, .reg = 0, .rm = 7,
	  .want = W_REG | W_RM },
	{ "mov [rdi],eax", L64, BYTES(0x89, 0x07), 2, 1, 0x89, 4, 8, .mem = 1 },
	{ "mov [rdi],ax", L64, BYTES(0x66, 0x89, 0x07), 3, 1, 0x89, 2, 8, .mem = 1 },
	{ "mov [rdi],rax", L64, BYTES(0x48, 0x89, 0x07), 3, 1, 0x89, 8, 8, .mem = 1, .rex = 0x48,
	  .want = W_REX },
	{ "mov al,[rdi+0x10]", L64, BYTES(0x8a, 0x47, 0x10), 3, 1, 0x8a, 1, 8, .dsz = 1,
	  .disp = 0x10, .mem = 1, .want = W_DISP },
	{ "mov eax,[rdi+0x1000]", L64, BYTES(0x8b, 0x87, 0x00, 0x10, 0x00, 0x00), 6, 1, 0x8b, 4, 8,
	  .dsz = 4, .disp = 0x1000, .mem = 1, .want = W_DISP },
	{ "mov r9d,[rdi-8]", L64, BYTES(0x44, 0x8b, 0x4f, 0xf8), 4, 1, 0x8b, 4, 8, .dsz = 1,
	  .disp = -8, .mem = 1, .reg = 9, .rm = 7, .want = W_DISP | W_REG | W_RM },
	{ "mov byte [rdi],0x5a", L64, BYTES(0xc6, 0x07, 0x5a), 3, 1, 0xc6, 1, 8, .isz = 1,
	  .imm = 0x5a, .mem = 1, .want = W_IMM },
	{ "mov dword [rdi],0x12345678", L64, BYTES(0xc7, 0x07, 0x78, 0x56, 0x34, 0x12), 6, 1, 0xc7,
	  4, 8, .isz = 4, .imm = 0x12345678, .mem = 1, .want = W_IMM },
	{ "mov word [rdi],0x1234", L64, BYTES(0x66, 0xc7, 0x07, 0x34, 0x12), 5, 1, 0xc7, 2, 8,
	  .isz = 2, .imm = 0x1234, .mem = 1, .want = W_IMM },
	{ "mov qword [rdi],-1 (imm32 sign-extended)", L64,
	  BYTES(0x48, 0xc7, 0x07, 0xff, 0xff, 0xff, 0xff), 7, 1, 0xc7, 8, 8, .isz = 4, .imm = -1,
	  .mem = 1, .want = W_IMM },
	{ "mov word [bx],0x1234 (16-bit default)", R16, BYTES(0xc7, 0x07, 0x34, 0x12), 4, 1,
	  0xc7, 2, 2, .isz = 2, .imm = 0x1234, .mem = 1, .want = W_IMM },
	{ "mov dword [bx],imm32 (66 in 16-bit)", P16,
	  BYTES(0x66, 0xc7, 0x07, 0x78, 0x56, 0x34, 0x12), 7, 1, 0xc7, 4, 2, .isz = 4,
	  .imm = 0x12345678, .mem = 1, .want = W_IMM },
	{ "mov eax,[edi] (32-bit)", P32, BYTES(0x8b, 0x07), 2, 1, 0x8b, 4, 4, .mem = 1 },
	{ "mov ax,[eax] (66 in 32-bit)", P32, BYTES(0x66, 0x8b, 0x00), 3, 1, 0x8b, 2, 4, .mem = 1 },
	{ "mov r64,imm64", L64, BYTES(0x49, 0xbf, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11),
	  10, 1, 0xbf, 8, 8, .isz = 8, .imm = 0x1122334455667788, .rm = 15, .want = W_IMM | W_RM },
	{ "mov eax,imm32", L64, BYTES(0xb8, 0x01, 0x00, 0x00, 0x00), 5, 1, 0xb8, 4, 8, .isz = 4,
	  .imm = 1, .want = W_IMM },
	{ "mov cl,imm8", P32, BYTES(0xb1, 0xff), 2, 1, 0xb1, 1, 4, .isz = 1, .imm = -1, .rm = 1,
	  .want = W_IMM | W_RM },

	/* MOVZX/MOVSX: operand_size is the destination's. */
	{ "movzx eax,byte [rdi]", L64, BYTES(0x0f, 0xb6, 0x07), 3, 2, 0xb6, 4, 8, .mem = 1 },
	{ "movzx rax,word [rdi]", L64, BYTES(0x48, 0x0f, 0xb7, 0x07), 4, 2, 0xb7, 8, 8, .mem = 1 },
	{ "movsx eax,byte [rdi+1]", L64, BYTES(0x0f, 0xbe, 0x47, 0x01), 4, 2, 0xbe, 4, 8, .dsz = 1,
	  .disp = 1, .mem = 1, .want = W_DISP },
	{ "movsx ecx,ax", L64, BYTES(0x0f, 0xbf, 0xc8), 3, 2, 0xbf, 4, 8, .reg = 1, .rm = 0,
	  .want = W_REG | W_RM },
	{ "movzx ax,byte [bx+si] (16-bit)", R16, BYTES(0x0f, 0xb6, 0x00), 3, 2, 0xb6, 2, 2,
	  .mem = 1 },

	/* SIB and the mod = 0 quirks (Intel SDM vol 2, tables 2-2, 2-3, 2-5). */
	{ "mov [r12],rax (SIB for r12 base)", L64, BYTES(0x49, 0x89, 0x04, 0x24), 4, 1, 0x89, 8, 8,
	  .sib = 1, .mem = 1, .rm = 12, .want = W_RM },
	{ "mov [r13+0],rax (r13 needs disp8)", L64, BYTES(0x49, 0x89, 0x45, 0x00), 4, 1, 0x89, 8, 8,
	  .dsz = 1, .disp = 0, .mem = 1, .rm = 13, .want = W_DISP | W_RM },
	{ "mov eax,[rbp+0] (rbp needs disp8)", L64, BYTES(0x8b, 0x45, 0x00), 3, 1, 0x8b, 4, 8,
	  .dsz = 1, .mem = 1, .rm = 5, .want = W_RM },
	{ "mov eax,[rip+0x1000]", L64, BYTES(0x8b, 0x05, 0x00, 0x10, 0x00, 0x00), 6, 1, 0x8b, 4, 8,
	  .dsz = 4, .disp = 0x1000, .mem = 1, .rip = 1, .want = W_DISP },
	{ "mov r8d,[rip+0] (REX.B does not change rip-rel)", L64,
	  BYTES(0x45, 0x8b, 0x05, 0x00, 0x00, 0x00, 0x00), 7, 1, 0x8b, 4, 8, .dsz = 4, .mem = 1,
	  .rip = 1, .reg = 8, .want = W_REG },
	{ "mov eax,[0x1000] (absolute disp32 in 32-bit)", P32,
	  BYTES(0x8b, 0x05, 0x00, 0x10, 0x00, 0x00), 6, 1, 0x8b, 4, 4, .dsz = 4, .disp = 0x1000,
	  .mem = 1, .rip = 0, .want = W_DISP },
	{ "mov [0x1000],eax (SIB no base, no index)", L64,
	  BYTES(0x89, 0x04, 0x25, 0x00, 0x10, 0x00, 0x00), 7, 1, 0x89, 4, 8, .dsz = 4,
	  .disp = 0x1000, .sib = 1, .mem = 1, .want = W_DISP },
	{ "mov [r12*1+0x1000],eax (REX.X index r12)", L64,
	  BYTES(0x42, 0x89, 0x04, 0x25, 0x00, 0x10, 0x00, 0x00), 8, 1, 0x89, 4, 8, .dsz = 4,
	  .disp = 0x1000, .sib = 1, .mem = 1, .want = W_DISP },
	{ "mov eax,[rsp+8]", L64, BYTES(0x8b, 0x44, 0x24, 0x08), 4, 1, 0x8b, 4, 8, .dsz = 1,
	  .disp = 8, .sib = 1, .mem = 1, .rm = 4, .want = W_DISP | W_RM },
	{ "mov eax,[rsp]", L64, BYTES(0x8b, 0x04, 0x24), 3, 1, 0x8b, 4, 8, .sib = 1, .mem = 1 },
	{ "mov eax,[rbp+rcx*4+0x10]", L64, BYTES(0x8b, 0x44, 0x8d, 0x10), 4, 1, 0x8b, 4, 8,
	  .dsz = 1, .disp = 0x10, .sib = 1, .mem = 1, .want = W_DISP },
	{ "mov eax,[rbx+rax*8+0x12345678]", L64,
	  BYTES(0x8b, 0x84, 0xc3, 0x78, 0x56, 0x34, 0x12), 7, 1, 0x8b, 4, 8, .dsz = 4,
	  .disp = 0x12345678, .sib = 1, .mem = 1, .want = W_DISP },
	{ "[rbp*1+disp32]: SIB base 101, mod 0 has no base even with REX.B", L64,
	  BYTES(0x41, 0x8b, 0x04, 0x2d, 0x00, 0x00, 0x00, 0x00), 8, 1, 0x8b, 4, 8, .dsz = 4,
	  .sib = 1, .mem = 1 },
	{ "mov eax,[edi] (67 in 64-bit)", L64, BYTES(0x67, 0x8b, 0x07), 3, 1, 0x8b, 4, 4,
	  .mem = 1 },
	{ "mov eax,[eip+0x10] (67 in 64-bit)", L64,
	  BYTES(0x67, 0x8b, 0x05, 0x10, 0x00, 0x00, 0x00), 7, 1, 0x8b, 4, 4, .dsz = 4, .disp = 0x10,
	  .mem = 1, .rip = 1, .want = W_DISP },
	{ "lea eax,[rax+rax*4]", L64, BYTES(0x8d, 0x04, 0x80), 3, 1, 0x8d, 4, 8, .sib = 1,
	  .mem = 1 },
	{ "mov rax,gs:[0x28]", L64,
	  BYTES(0x65, 0x48, 0x8b, 0x04, 0x25, 0x28, 0x00, 0x00, 0x00), 9, 1, 0x8b, 8, 8, .dsz = 4,
	  .disp = 0x28, .sib = 1, .mem = 1, .seg = KB_SEG_GS, .want = W_DISP | W_SEG },
	{ "cs: ignored in 64-bit", L64, BYTES(0x2e, 0x8b, 0x07), 3, 1, 0x8b, 4, 8, .mem = 1,
	  .seg = -1, .want = W_SEG },
	{ "ds: override in 32-bit", P32, BYTES(0x3e, 0x8b, 0x07), 3, 1, 0x8b, 4, 4, .mem = 1,
	  .seg = KB_SEG_DS, .want = W_SEG },

	/* 16-bit addressing (Intel SDM vol 2, table 2-1). */
	{ "mov ax,[bx+si+5]", R16, BYTES(0x8b, 0x40, 0x05), 3, 1, 0x8b, 2, 2, .dsz = 1, .disp = 5,
	  .mem = 1, .want = W_DISP },
	{ "mov ax,[0x1234]", R16, BYTES(0x8b, 0x06, 0x34, 0x12), 4, 1, 0x8b, 2, 2, .dsz = 2,
	  .disp = 0x1234, .mem = 1, .want = W_DISP },
	{ "mov [bp-2],ax", R16, BYTES(0x89, 0x46, 0xfe), 3, 1, 0x89, 2, 2, .dsz = 1, .disp = -2,
	  .mem = 1, .want = W_DISP },
	{ "mov ax,[bx+0x8000] (disp16 sign-extended)", P16, BYTES(0x8b, 0x87, 0x00, 0x80), 4, 1,
	  0x8b, 2, 2, .dsz = 2, .disp = -32768, .mem = 1, .want = W_DISP },
	{ "mov ax,[esp] (67 in 16-bit takes SIB)", R16, BYTES(0x67, 0x8b, 0x04, 0x24), 4, 1, 0x8b,
	  2, 4, .sib = 1, .mem = 1 },
	{ "mov eax,[bx+si] (67 in 32-bit, no SIB)", P32, BYTES(0x67, 0x8b, 0x04), 3, 1, 0x8b, 4, 2,
	  .mem = 1 },

	/* moffs: address-size wide, 8 bytes in 64-bit mode (Intel SDM vol 2, MOV, moffs forms). */
	{ "mov eax,[moffs64]", L64,
	  BYTES(0xa1, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11), 9, 1, 0xa1, 4, 8, .dsz = 8,
	  .disp = 0x1122334455667788, .mem = 1, .want = W_DISP },
	{ "mov rax,[moffs64]", L64,
	  BYTES(0x48, 0xa1, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11), 10, 1, 0xa1, 8, 8,
	  .dsz = 8, .disp = 0x1122334455667788, .mem = 1, .want = W_DISP },
	{ "mov eax,[moffs32] (67 in 64-bit)", L64, BYTES(0x67, 0xa1, 0x78, 0x56, 0x34, 0x12), 6, 1,
	  0xa1, 4, 4, .dsz = 4, .disp = 0x12345678, .mem = 1, .want = W_DISP },
	{ "mov eax,[moffs32]", P32, BYTES(0xa1, 0x78, 0x56, 0x34, 0x12), 5, 1, 0xa1, 4, 4, .dsz = 4,
	  .disp = 0x12345678, .mem = 1, .want = W_DISP },
	{ "mov ax,[moffs16]", R16, BYTES(0xa1, 0x34, 0x12), 3, 1, 0xa1, 2, 2, .dsz = 2,
	  .disp = 0x1234, .mem = 1, .want = W_DISP },
	{ "mov [0xf0000000],ax (moffs zero-extended)", P32,
	  BYTES(0x66, 0xa3, 0x00, 0x00, 0x00, 0xf0), 6, 1, 0xa3, 2, 4, .dsz = 4,
	  .disp = 0xf0000000, .mem = 1, .want = W_DISP },
	{ "mov al,[0x8000]", R16, BYTES(0xa0, 0x00, 0x80), 3, 1, 0xa0, 1, 2, .dsz = 2,
	  .disp = 0x8000, .mem = 1, .want = W_DISP },
	{ "mov eax,fs:[0x10]", P32, BYTES(0x64, 0xa1, 0x10, 0x00, 0x00, 0x00), 6, 1, 0xa1, 4, 4,
	  .dsz = 4, .disp = 0x10, .mem = 1, .seg = KB_SEG_FS, .want = W_DISP | W_SEG },

	/* String operations (Intel SDM vol 1, 7.3.9). */
	{ "movsb", L64, BYTES(0xa4), 1, 1, 0xa4, 1, 8, .mem = 1, .str = 1 },
	{ "rep movsb", L64, BYTES(0xf3, 0xa4), 2, 1, 0xa4, 1, 8, .mem = 1, .str = 1, .rep = 1 },
	{ "rep movsq", L64, BYTES(0xf3, 0x48, 0xa5), 3, 1, 0xa5, 8, 8, .mem = 1, .str = 1,
	  .rep = 1 },
	{ "movsw", L64, BYTES(0x66, 0xa5), 2, 1, 0xa5, 2, 8, .mem = 1, .str = 1 },
	{ "rep stosd", P32, BYTES(0xf3, 0xab), 2, 1, 0xab, 4, 4, .mem = 1, .str = 1, .rep = 1 },
	{ "rep stosw", P32, BYTES(0xf3, 0x66, 0xab), 3, 1, 0xab, 2, 4, .mem = 1, .str = 1,
	  .rep = 1 },
	{ "lodsb", L64, BYTES(0xac), 1, 1, 0xac, 1, 8, .mem = 1, .str = 1 },
	{ "lodsw", P32, BYTES(0x66, 0xad), 2, 1, 0xad, 2, 4, .mem = 1, .str = 1 },
	{ "lodsd (a32 in 16-bit)", R16, BYTES(0x66, 0x67, 0xad), 3, 1, 0xad, 4, 4, .mem = 1,
	  .str = 1 },
	{ "repne scasb", L64, BYTES(0xf2, 0xae), 2, 1, 0xae, 1, 8, .mem = 1, .str = 1,
	  .repne = 1 },
	{ "es: movsb (source override)", P32, BYTES(0x26, 0xa4), 2, 1, 0xa4, 1, 4, .mem = 1,
	  .str = 1, .seg = KB_SEG_ES, .want = W_SEG },

	/* Port IO, every form (Intel SDM vol 2, IN, OUT, INS, OUTS). */
	{ "in al,0x60", L64, BYTES(0xe4, 0x60), 2, 1, 0xe4, 1, 8, .isz = 1, .imm = 0x60, .io = 1,
	  .want = W_IMM },
	{ "in eax,0x71", L64, BYTES(0xe5, 0x71), 2, 1, 0xe5, 4, 8, .isz = 1, .imm = 0x71, .io = 1,
	  .want = W_IMM },
	{ "out 0x80,al (port zero-extended)", P32, BYTES(0xe6, 0x80), 2, 1, 0xe6, 1, 4, .isz = 1,
	  .imm = 0x80, .io = 1, .want = W_IMM },
	{ "out 0x70,eax", P32, BYTES(0xe7, 0x70), 2, 1, 0xe7, 4, 4, .isz = 1, .imm = 0x70, .io = 1,
	  .want = W_IMM },
	{ "in ax,0xf0 (16-bit)", R16, BYTES(0xe5, 0xf0), 2, 1, 0xe5, 2, 2, .isz = 1, .imm = 0xf0,
	  .io = 1, .want = W_IMM },
	{ "in al,dx", L64, BYTES(0xec), 1, 1, 0xec, 1, 8, .io = 1 },
	{ "in eax,dx", L64, BYTES(0xed), 1, 1, 0xed, 4, 8, .io = 1 },
	{ "in ax,dx", L64, BYTES(0x66, 0xed), 2, 1, 0xed, 2, 8, .io = 1 },
	{ "in eax,dx (REX.W ignored)", L64, BYTES(0x48, 0xed), 2, 1, 0xed, 4, 8, .io = 1 },
	{ "out dx,al", P32, BYTES(0xee), 1, 1, 0xee, 1, 4, .io = 1 },
	{ "out dx,eax", P32, BYTES(0xef), 1, 1, 0xef, 4, 4, .io = 1 },
	{ "out dx,ax (16-bit)", R16, BYTES(0xef), 1, 1, 0xef, 2, 2, .io = 1 },
	{ "out dx,eax (66 in 16-bit)", R16, BYTES(0x66, 0xef), 2, 1, 0xef, 4, 2, .io = 1 },
	{ "insb", L64, BYTES(0x6c), 1, 1, 0x6c, 1, 8, .mem = 1, .str = 1, .io = 1 },
	{ "insd", L64, BYTES(0x6d), 1, 1, 0x6d, 4, 8, .mem = 1, .str = 1, .io = 1 },
	{ "outsb", P32, BYTES(0x6e), 1, 1, 0x6e, 1, 4, .mem = 1, .str = 1, .io = 1 },
	{ "outsd", P32, BYTES(0x6f), 1, 1, 0x6f, 4, 4, .mem = 1, .str = 1, .io = 1 },
	{ "rep outsb", L64, BYTES(0xf3, 0x6e), 2, 1, 0x6e, 1, 8, .mem = 1, .str = 1, .io = 1,
	  .rep = 1 },
	{ "rep outsw", P32, BYTES(0xf3, 0x66, 0x6f), 3, 1, 0x6f, 2, 4, .mem = 1, .str = 1, .io = 1,
	  .rep = 1 },
	{ "rep insd (REX.W ignored)", L64, BYTES(0xf3, 0x48, 0x6d), 3, 1, 0x6d, 4, 8, .mem = 1,
	  .str = 1, .io = 1, .rep = 1 },

	/* ALU with memory, including Grp1 and Grp3 (Intel SDM vol 2, table A-6). */
	{ "or byte [rdi],1", L64, BYTES(0x80, 0x0f, 0x01), 3, 1, 0x80, 1, 8, .isz = 1, .imm = 1,
	  .mem = 1, .reg = 1, .want = W_IMM | W_REG },
	{ "and dword [rdi],0xff", L64, BYTES(0x81, 0x27, 0xff, 0x00, 0x00, 0x00), 6, 1, 0x81, 4, 8,
	  .isz = 4, .imm = 0xff, .mem = 1, .want = W_IMM },
	{ "and word [rdi],0xff", L64, BYTES(0x66, 0x81, 0x27, 0xff, 0x00), 5, 1, 0x81, 2, 8,
	  .isz = 2, .imm = 0xff, .mem = 1, .want = W_IMM },
	{ "or dword [rdi+4],-1", L64, BYTES(0x83, 0x4f, 0x04, 0xff), 4, 1, 0x83, 4, 8, .dsz = 1,
	  .disp = 4, .isz = 1, .imm = -1, .mem = 1, .want = W_DISP | W_IMM },
	{ "and rsp,-16", L64, BYTES(0x48, 0x83, 0xe4, 0xf0), 4, 1, 0x83, 8, 8, .isz = 1,
	  .imm = -16, .want = W_IMM },
	{ "test byte [rdi],0x80", L64, BYTES(0xf6, 0x07, 0x80), 3, 1, 0xf6, 1, 8, .isz = 1,
	  .imm = -128, .mem = 1, .want = W_IMM },
	{ "test dword [rdi],0x80000000", L64, BYTES(0xf7, 0x07, 0x00, 0x00, 0x00, 0x80), 6, 1, 0xf7,
	  4, 8, .isz = 4, .imm = INT32_MIN, .mem = 1, .want = W_IMM },
	{ "test byte [rdi],1 (F6 /1 alias)", L64, BYTES(0xf6, 0x0f, 0x01), 3, 1, 0xf6, 1, 8,
	  .isz = 1, .imm = 1, .mem = 1, .want = W_IMM },
	{ "test cx,0x1234", P32, BYTES(0x66, 0xf7, 0xc1, 0x34, 0x12), 5, 1, 0xf7, 2, 4, .isz = 2,
	  .imm = 0x1234, .want = W_IMM },
	{ "not dword [rdi] (F7 /2, no imm)", L64, BYTES(0xf7, 0x17), 2, 1, 0xf7, 4, 8, .mem = 1 },
	{ "neg al (F6 /3)", L64, BYTES(0xf6, 0xd8), 2, 1, 0xf6, 1, 8 },
	{ "div qword [rdi] (F7 /6)", L64, BYTES(0x48, 0xf7, 0x37), 3, 1, 0xf7, 8, 8, .mem = 1 },
	{ "test [rdi],al", L64, BYTES(0x84, 0x07), 2, 1, 0x84, 1, 8, .mem = 1 },
	{ "test eax,eax", L64, BYTES(0x85, 0xc0), 2, 1, 0x85, 4, 8 },
	{ "add al,imm8", P32, BYTES(0x04, 0x7f), 2, 1, 0x04, 1, 4, .isz = 1, .imm = 0x7f,
	  .want = W_IMM },
	{ "add eax,imm32", P32, BYTES(0x05, 0x00, 0x00, 0x01, 0x00), 5, 1, 0x05, 4, 4, .isz = 4,
	  .imm = 0x10000, .want = W_IMM },
	{ "imul eax,[rdi],imm32", L64, BYTES(0x69, 0x07, 0x10, 0x00, 0x00, 0x00), 6, 1, 0x69, 4, 8,
	  .isz = 4, .imm = 0x10, .mem = 1, .want = W_IMM },
	{ "shl dword [rdi],4", L64, BYTES(0xc1, 0x27, 0x04), 3, 1, 0xc1, 4, 8, .isz = 1, .imm = 4,
	  .mem = 1, .want = W_IMM },

	/* XCHG, CMPXCHG, XADD and LOCK. */
	{ "xchg [rdi],eax", L64, BYTES(0x87, 0x07), 2, 1, 0x87, 4, 8, .mem = 1 },
	{ "xchg [rdi],al", L64, BYTES(0x86, 0x07), 2, 1, 0x86, 1, 8, .mem = 1 },
	{ "xchg ecx,eax", P32, BYTES(0x91), 1, 1, 0x91, 4, 4, .rm = 1, .want = W_RM },
	{ "lock cmpxchg [rdi],ecx", L64, BYTES(0xf0, 0x0f, 0xb1, 0x0f), 4, 2, 0xb1, 4, 8, .mem = 1,
	  .lock = 1, .reg = 1, .want = W_REG },
	{ "lock cmpxchg [rdi],rcx", L64, BYTES(0xf0, 0x48, 0x0f, 0xb1, 0x0f), 5, 2, 0xb1, 8, 8,
	  .mem = 1, .lock = 1 },
	{ "cmpxchg [rdi],cl", L64, BYTES(0x0f, 0xb0, 0x0f), 3, 2, 0xb0, 1, 8, .mem = 1 },
	{ "lock xadd [rdi],eax", L64, BYTES(0xf0, 0x0f, 0xc1, 0x07), 4, 2, 0xc1, 4, 8, .mem = 1,
	  .lock = 1 },
	{ "lock cmpxchg16b [rdi]", L64, BYTES(0xf0, 0x48, 0x0f, 0xc7, 0x0f), 5, 2, 0xc7, 8, 8,
	  .mem = 1, .lock = 1 },

	/* One-byte system and control instructions. */
	{ "nop", L64, BYTES(0x90), 1, 1, 0x90 },
	{ "pause", L64, BYTES(0xf3, 0x90), 2, 1, 0x90, .rep = 1 },
	{ "nop dword [rax+rax]", L64, BYTES(0x0f, 0x1f, 0x44, 0x00, 0x00), 5, 2, 0x1f, 4, 8,
	  .dsz = 1, .sib = 1, .mem = 1 },
	{ "nop word [rax+rax+0]", L64,
	  BYTES(0x66, 0x0f, 0x1f, 0x84, 0x00, 0x00, 0x00, 0x00, 0x00), 9, 2, 0x1f, 2, 8, .dsz = 4,
	  .sib = 1, .mem = 1 },
	{ "hlt", L64, BYTES(0xf4), 1, 1, 0xf4 },
	{ "cli", P32, BYTES(0xfa), 1, 1, 0xfa },
	{ "sti", R16, BYTES(0xfb), 1, 1, 0xfb },
	{ "int3", L64, BYTES(0xcc), 1, 1, 0xcc },
	{ "int 0x80 (vector zero-extended)", P32, BYTES(0xcd, 0x80), 2, 1, 0xcd, .isz = 1,
	  .imm = 0x80, .want = W_IMM },
	{ "push rax", L64, BYTES(0x50), 1, 1, 0x50, 8, 8, .rm = 0, .want = W_RM },
	{ "push r15", L64, BYTES(0x41, 0x57), 2, 1, 0x57, 8, 8, .rm = 15, .want = W_RM },
	{ "push ax (66 in 64-bit)", L64, BYTES(0x66, 0x50), 2, 1, 0x50, 2, 8 },
	{ "pop eax (32-bit)", P32, BYTES(0x58), 1, 1, 0x58, 4, 4 },
	{ "pop qword [rdi]", L64, BYTES(0x8f, 0x07), 2, 1, 0x8f, 8, 8, .mem = 1 },
	{ "push qword [rdi]", L64, BYTES(0xff, 0x37), 2, 1, 0xff, 8, 8, .mem = 1 },
	{ "push imm32", L64, BYTES(0x68, 0x78, 0x56, 0x34, 0x12), 5, 1, 0x68, 8, 8, .isz = 4,
	  .imm = 0x12345678, .want = W_IMM },
	{ "push imm16 (66 in 64-bit)", L64, BYTES(0x66, 0x68, 0x34, 0x12), 4, 1, 0x68, 2, 8,
	  .isz = 2, .imm = 0x1234, .want = W_IMM },
	{ "push -1 (imm8)", L64, BYTES(0x6a, 0xff), 2, 1, 0x6a, 8, 8, .isz = 1, .imm = -1,
	  .want = W_IMM },
	{ "inc eax (40 in 32-bit)", P32, BYTES(0x40), 1, 1, 0x40, 4, 4, .rm = 0, .want = W_RM },
	{ "dec eax, not REX.W, in 32-bit", P32, BYTES(0x48, 0x89, 0x07), 1, 1, 0x48, 4, 4 },
	{ "REX before 66 is ignored", L64, BYTES(0x48, 0x66, 0x89, 0x07), 4, 1, 0x89, 2, 8,
	  .mem = 1, .rex = 0, .want = W_REX },
	{ "enter 16,1", L64, BYTES(0xc8, 0x10, 0x00, 0x01), 4, 1, 0xc8, 8, 8, .isz = 3,
	  .imm = 0x010010, .want = W_IMM },
	{ "enter 8,0 (16-bit)", R16, BYTES(0xc8, 0x08, 0x00, 0x00), 4, 1, 0xc8, 2, 2, .isz = 3,
	  .imm = 8, .want = W_IMM },
	{ "leave", L64, BYTES(0xc9), 1, 1, 0xc9, 8, 8 },
	{ "ret 8", L64, BYTES(0xc2, 0x08, 0x00), 3, 1, 0xc2, 8, 8, .isz = 2, .imm = 8,
	  .want = W_IMM },
	{ "ret 0xfffc (count zero-extended)", P32, BYTES(0xc2, 0xfc, 0xff), 3, 1, 0xc2, 4, 4,
	  .isz = 2, .imm = 0xfffc, .want = W_IMM },
	{ "ret", L64, BYTES(0xc3), 1, 1, 0xc3 },
	{ "retf 4", P32, BYTES(0xca, 0x04, 0x00), 3, 1, 0xca, .isz = 2, .imm = 4, .want = W_IMM },
	{ "iretq", L64, BYTES(0x48, 0xcf), 2, 1, 0xcf, 8, 8 },
	{ "fld dword [rbp+8]", L64, BYTES(0xd9, 0x45, 0x08), 3, 1, 0xd9, .dsz = 1, .disp = 8,
	  .mem = 1, .want = W_DISP },
	{ "fwait", P32, BYTES(0x9b), 1, 1, 0x9b },
	{ "xabort 5", L64, BYTES(0xc6, 0xf8, 0x05), 3, 1, 0xc6, .isz = 1, .imm = 5, .want = W_IMM },
	{ "xbegin rel32", L64, BYTES(0xc7, 0xf8, 0x10, 0x00, 0x00, 0x00), 6, 1, 0xc7, .isz = 4,
	  .imm = 0x10, .want = W_IMM },

	/* Relative and far branches. */
	{ "call rel32", L64, BYTES(0xe8, 0xfb, 0xff, 0xff, 0xff), 5, 1, 0xe8, 8, 8, .isz = 4,
	  .imm = -5, .want = W_IMM },
	{ "call rel32 (66 ignored in 64-bit on Intel)", L64,
	  BYTES(0x66, 0xe8, 0x00, 0x00, 0x00, 0x00), 6, 1, 0xe8, 8, 8, .isz = 4, .want = W_IMM },
	{ "call rel16", R16, BYTES(0xe8, 0xfd, 0xff), 3, 1, 0xe8, 2, 2, .isz = 2, .imm = -3,
	  .want = W_IMM },
	{ "call rel16 (66 in 32-bit)", P32, BYTES(0x66, 0xe8, 0xfd, 0xff), 4, 1, 0xe8, 2, 4,
	  .isz = 2, .imm = -3, .want = W_IMM },
	{ "jmp $", L64, BYTES(0xeb, 0xfe), 2, 1, 0xeb, 8, 8, .isz = 1, .imm = -2, .want = W_IMM },
	{ "jmp rel32", P32, BYTES(0xe9, 0x00, 0x01, 0x00, 0x00), 5, 1, 0xe9, 4, 4, .isz = 4,
	  .imm = 0x100, .want = W_IMM },
	{ "je rel8", L64, BYTES(0x74, 0x05), 2, 1, 0x74, 8, 8, .isz = 1, .imm = 5, .want = W_IMM },
	{ "je rel32", L64, BYTES(0x0f, 0x84, 0x00, 0x01, 0x00, 0x00), 6, 2, 0x84, 8, 8, .isz = 4,
	  .imm = 0x100, .want = W_IMM },
	{ "je rel16 (16-bit)", R16, BYTES(0x0f, 0x84, 0x00, 0x01), 4, 2, 0x84, 2, 2, .isz = 2,
	  .imm = 0x100, .want = W_IMM },
	{ "loop rel8", P32, BYTES(0xe2, 0xfe), 2, 1, 0xe2, .isz = 1, .imm = -2, .want = W_IMM },
	{ "jmp rax", L64, BYTES(0xff, 0xe0), 2, 1, 0xff, 8, 8 },
	{ "call [rip+0]", L64, BYTES(0xff, 0x15, 0x00, 0x00, 0x00, 0x00), 6, 1, 0xff, 8, 8,
	  .dsz = 4, .mem = 1, .rip = 1 },
	{ "jmp far 0x8:0 (32-bit)", P32, BYTES(0xea, 0x00, 0x00, 0x00, 0x00, 0x08, 0x00), 7, 1,
	  0xea, 4, 4, .isz = 6, .imm = 0x800000000, .want = W_IMM },
	{ "jmp far 0:0x7c00 (16-bit)", R16, BYTES(0xea, 0x00, 0x7c, 0x00, 0x00), 5, 1, 0xea, 2, 2,
	  .isz = 4, .imm = 0x7c00, .want = W_IMM },
	{ "call far 0x10:0x1000 (16-bit)", P16, BYTES(0x9a, 0x00, 0x10, 0x10, 0x00), 5, 1, 0x9a, 2,
	  2, .isz = 4, .imm = 0x00101000, .want = W_IMM },
	{ "jmp far m16:32 [rdi]", L64, BYTES(0xff, 0x2f), 2, 1, 0xff, 4, 8, .mem = 1 },

	/* Two-byte map system instructions (Intel SDM vol 2, table Grp7). */
	{ "vmcall", L64, BYTES(0x0f, 0x01, 0xc1), 3, 2, 0x01 },
	{ "vmmcall", L64, BYTES(0x0f, 0x01, 0xd9), 3, 2, 0x01 },
	{ "clac", L64, BYTES(0x0f, 0x01, 0xca), 3, 2, 0x01 },
	{ "stac", P32, BYTES(0x0f, 0x01, 0xcb), 3, 2, 0x01 },
	{ "swapgs", L64, BYTES(0x0f, 0x01, 0xf8), 3, 2, 0x01 },
	{ "lgdt [rax]", L64, BYTES(0x0f, 0x01, 0x10), 3, 2, 0x01, .mem = 1, .reg = 2,
	  .want = W_REG },
	{ "lgdt [rip+0x1000]", L64, BYTES(0x0f, 0x01, 0x15, 0x00, 0x10, 0x00, 0x00), 7, 2, 0x01,
	  .dsz = 4, .disp = 0x1000, .mem = 1, .rip = 1, .want = W_DISP },
	{ "lgdt [0x1234] (16-bit)", R16, BYTES(0x0f, 0x01, 0x16, 0x34, 0x12), 5, 2, 0x01, .dsz = 2,
	  .disp = 0x1234, .mem = 1, .want = W_DISP },
	{ "lidt [edi+4] (32-bit)", P32, BYTES(0x0f, 0x01, 0x5f, 0x04), 4, 2, 0x01, .dsz = 1,
	  .disp = 4, .mem = 1, .want = W_DISP },
	{ "invlpg [rdi]", L64, BYTES(0x0f, 0x01, 0x3f), 3, 2, 0x01, .mem = 1 },
	{ "ltr ax", L64, BYTES(0x0f, 0x00, 0xd8), 3, 2, 0x00 },
	{ "wrmsr", L64, BYTES(0x0f, 0x30), 2, 2, 0x30 },
	{ "rdmsr", P32, BYTES(0x0f, 0x32), 2, 2, 0x32 },
	{ "rdtsc", L64, BYTES(0x0f, 0x31), 2, 2, 0x31 },
	{ "cpuid", R16, BYTES(0x0f, 0xa2), 2, 2, 0xa2 },
	{ "syscall", L64, BYTES(0x0f, 0x05), 2, 2, 0x05 },
	{ "sysretq", L64, BYTES(0x48, 0x0f, 0x07), 3, 2, 0x07, 8, 8 },
	{ "sysenter", P32, BYTES(0x0f, 0x34), 2, 2, 0x34 },
	{ "sysexit", P32, BYTES(0x0f, 0x35), 2, 2, 0x35 },
	{ "ud2", L64, BYTES(0x0f, 0x0b), 2, 2, 0x0b },
	{ "mov rax,cr0", L64, BYTES(0x0f, 0x20, 0xc0), 3, 2, 0x20, 8, 8 },
	{ "mov cr3,rax", L64, BYTES(0x0f, 0x22, 0xd8), 3, 2, 0x22, 8, 8, .reg = 3, .rm = 0,
	  .want = W_REG | W_RM },
	{ "mov rax,cr8", L64, BYTES(0x44, 0x0f, 0x20, 0xc0), 4, 2, 0x20, 8, 8, .reg = 8,
	  .want = W_REG },
	{ "mov eax,cr0 with mod=00 (mod ignored)", P32, BYTES(0x0f, 0x20, 0x05), 3, 2, 0x20, 4, 4,
	  .rm = 5, .want = W_RM },
	{ "mov dr7,eax", P32, BYTES(0x0f, 0x23, 0xf8), 3, 2, 0x23, 4, 4, .reg = 7, .want = W_REG },
	{ "vmread rax,rcx", L64, BYTES(0x0f, 0x78, 0xc8), 3, 2, 0x78, 8, 8 },
	{ "push fs", L64, BYTES(0x0f, 0xa0), 2, 2, 0xa0, 8, 8 },
	{ "bswap r9", L64, BYTES(0x49, 0x0f, 0xc9), 3, 2, 0xc9, 8, 8, .rm = 9, .want = W_RM },
	{ "sete byte [rdi]", L64, BYTES(0x0f, 0x94, 0x07), 3, 2, 0x94, 1, 8, .mem = 1 },
	{ "bt dword [rdi],5", L64, BYTES(0x0f, 0xba, 0x27, 0x05), 4, 2, 0xba, 4, 8, .isz = 1,
	  .imm = 5, .mem = 1, .want = W_IMM },
	{ "shld ecx,eax,4", L64, BYTES(0x0f, 0xa4, 0xc1, 0x04), 4, 2, 0xa4, 4, 8, .isz = 1,
	  .imm = 4, .want = W_IMM },
	{ "shrd [rdi],eax,cl", L64, BYTES(0x0f, 0xad, 0x07), 3, 2, 0xad, 4, 8, .mem = 1 },
	{ "popcnt eax,[rdi]", L64, BYTES(0xf3, 0x0f, 0xb8, 0x07), 4, 2, 0xb8, 4, 8, .mem = 1,
	  .rep = 1 },
	{ "cmovne eax,[rdi]", L64, BYTES(0x0f, 0x45, 0x07), 3, 2, 0x45, 4, 8, .mem = 1 },
	{ "rdrand eax", L64, BYTES(0x0f, 0xc7, 0xf0), 3, 2, 0xc7 },
	{ "movnti [rdi],eax", L64, BYTES(0x0f, 0xc3, 0x07), 3, 2, 0xc3, .mem = 1 },
	{ "mfence", L64, BYTES(0x0f, 0xae, 0xf0), 3, 2, 0xae },
	{ "endbr64", L64, BYTES(0xf3, 0x0f, 0x1e, 0xfa), 4, 2, 0x1e, .rep = 1 },

	/* SSE/SSE2 and the 0F 38 / 0F 3A escapes. */
	{ "movdqu xmm0,[rdi]", L64, BYTES(0xf3, 0x0f, 0x6f, 0x07), 4, 2, 0x6f, .mem = 1, .rep = 1 },
	{ "movdqu xmm15,[rdi]", L64, BYTES(0xf3, 0x44, 0x0f, 0x6f, 0x3f), 5, 2, 0x6f, .mem = 1,
	  .rep = 1, .reg = 15, .want = W_REG },
	{ "movdqu [rdi+0x40],xmm1", L64, BYTES(0xf3, 0x0f, 0x7f, 0x4f, 0x40), 5, 2, 0x7f, .dsz = 1,
	  .disp = 0x40, .mem = 1, .rep = 1, .want = W_DISP },
	{ "movaps xmm0,[rdi]", L64, BYTES(0x0f, 0x28, 0x07), 3, 2, 0x28, .mem = 1 },
	{ "movaps [esp+0x10],xmm2", P32, BYTES(0x0f, 0x29, 0x54, 0x24, 0x10), 5, 2, 0x29, .dsz = 1,
	  .disp = 0x10, .sib = 1, .mem = 1, .want = W_DISP },
	{ "movdqa [rdi],xmm0", L64, BYTES(0x66, 0x0f, 0x7f, 0x07), 4, 2, 0x7f, .mem = 1 },
	{ "movq xmm0,[rdi]", L64, BYTES(0xf3, 0x0f, 0x7e, 0x07), 4, 2, 0x7e, .mem = 1, .rep = 1 },
	{ "movd [rdi],xmm0", L64, BYTES(0x66, 0x0f, 0x7e, 0x07), 4, 2, 0x7e, .mem = 1 },
	{ "movsd xmm0,[rip+8]", L64, BYTES(0xf2, 0x0f, 0x10, 0x05, 0x08, 0x00, 0x00, 0x00), 8, 2,
	  0x10, .dsz = 4, .disp = 8, .mem = 1, .rip = 1, .repne = 1, .want = W_DISP },
	{ "pshufd xmm0,xmm1,0x1b", L64, BYTES(0x66, 0x0f, 0x70, 0xc1, 0x1b), 5, 2, 0x70, .isz = 1,
	  .imm = 0x1b, .want = W_IMM },
	{ "psrldq xmm0,4", L64, BYTES(0x66, 0x0f, 0x73, 0xd8, 0x04), 5, 2, 0x73, .isz = 1,
	  .imm = 4, .want = W_IMM },
	{ "cmpps xmm0,xmm1,0", L64, BYTES(0x0f, 0xc2, 0xc1, 0x00), 4, 2, 0xc2, .isz = 1 },
	{ "shufps xmm0,[rdi],0x44", P32, BYTES(0x0f, 0xc6, 0x07, 0x44), 4, 2, 0xc6, .isz = 1,
	  .imm = 0x44, .mem = 1, .want = W_IMM },
	{ "pshufb xmm0,xmm1", L64, BYTES(0x66, 0x0f, 0x38, 0x00, 0xc1), 5, 3, 0x00 },
	{ "crc32 eax,byte [rdi]", L64, BYTES(0xf2, 0x0f, 0x38, 0xf0, 0x07), 5, 3, 0xf0, .mem = 1,
	  .repne = 1 },
	{ "palignr xmm0,xmm1,8", L64, BYTES(0x66, 0x0f, 0x3a, 0x0f, 0xc1, 0x08), 6, 4, 0x0f,
	  .isz = 1, .imm = 8, .want = W_IMM },
	{ "pextrd [rdi+8],xmm0,1", L64, BYTES(0x66, 0x0f, 0x3a, 0x16, 0x47, 0x08, 0x01), 7, 4, 0x16,
	  .dsz = 1, .disp = 8, .isz = 1, .imm = 1, .mem = 1, .want = W_DISP | W_IMM },

	/* C4/C5/62: VEX/EVEX are unsupported, LES/LDS/BOUND must still decode. */
	{ "les eax,[edi] (C4 with mod != 3)", P32, BYTES(0xc4, 0x07), 2, 1, 0xc4, 4, 4, .mem = 1 },
	{ "lds eax,[edi+4] (C5 with mod != 3)", P32, BYTES(0xc5, 0x47, 0x04), 3, 1, 0xc5, 4, 4,
	  .dsz = 1, .disp = 4, .mem = 1 },
	{ "les bx,[0x1234] (16-bit)", R16, BYTES(0xc4, 0x1e, 0x34, 0x12), 4, 1, 0xc4, 2, 2,
	  .dsz = 2, .disp = 0x1234, .mem = 1, .want = W_DISP },
	{ "bound eax,[edi] (32-bit)", P32, BYTES(0x62, 0x07), 2, 1, 0x62, 4, 4, .mem = 1 },
	{ "VEX2 vmovdqa in 32-bit rejected", P32, BYTES(0xc5, 0xf9, 0x6f, 0x07), -1 },
	{ "VEX3 in 64-bit rejected", L64, BYTES(0xc4, 0xe2, 0x79, 0x18, 0x07), -1 },
	{ "VEX2 in 64-bit rejected even with mod != 3", L64, BYTES(0xc5, 0x79, 0x6f, 0x07), -1 },
	{ "EVEX in 64-bit rejected", L64, BYTES(0x62, 0xf1, 0x7c, 0x48, 0x10, 0x07), -1 },
	{ "XOP (8F with reg != 0) rejected", L64, BYTES(0x8f, 0xe8, 0x78, 0xc2, 0xc1, 0x00), -1 },

	/* Other rejections. */
	{ "push es invalid in 64-bit", L64, BYTES(0x06), -1 },
	{ "push es (32-bit)", P32, BYTES(0x06), 1, 1, 0x06 },
	{ "jmp far invalid in 64-bit", L64, BYTES(0xea, 0x00, 0x00, 0x00, 0x00, 0x08, 0x00), -1 },
	{ "D6 undefined", L64, BYTES(0xd6), -1 },
	{ "FF /7 undefined", L64, BYTES(0xff, 0xff), -1 },
	{ "C6 /1 undefined", L64, BYTES(0xc6, 0x0f, 0x00), -1 },
	{ "lea with a register operand", L64, BYTES(0x8d, 0xc0), -1 },
	{ "jmp far with a register operand", L64, BYTES(0xff, 0xe8), -1 },
	{ "0F 04 undefined", L64, BYTES(0x0f, 0x04), -1 },
	{ "0F B8 without F3 (JMPE)", L64, BYTES(0x0f, 0xb8, 0x07, 0x00, 0x00), -1 },
	{ "0F BA /0 undefined", L64, BYTES(0x0f, 0xba, 0x07, 0x01), -1 },
	{ "truncated disp32", L64, BYTES(0x8b, 0x87, 0x00, 0x10, 0x00), -1 },
	{ "truncated imm32", L64, BYTES(0xc7, 0x07, 0x78, 0x56, 0x34), -1 },
	{ "truncated SIB", L64, BYTES(0x8b, 0x04), -1 },
	{ "truncated ModRM", L64, BYTES(0x0f, 0xb6), -1 },
	{ "truncated moffs64", L64, BYTES(0xa1, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22), -1 },
	{ "REX alone", L64, BYTES(0x48), -1 },
	{ "0F alone", L64, BYTES(0x0f), -1 },
	{ "0F 38 alone", L64, BYTES(0x0f, 0x38), -1 },
	{ "prefixes alone", P32, BYTES(0x66, 0xf3, 0x2e), -1 },
	{ "16 bytes of prefixes", L64,
	  BYTES(0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66,
		0x66, 0x66),
	  -1 },
	{ "15 bytes of prefixes, opcode at byte 16", L64,
	  BYTES(0x2e, 0x2e, 0x2e, 0x2e, 0x2e, 0x2e, 0x2e, 0x2e, 0x2e, 0x2e, 0x2e, 0x2e, 0x2e, 0x2e,
		0x2e, 0x90),
	  -1 },
	{ "14 prefixes and a ModRM instruction is 16 bytes", P32,
	  BYTES(0x3e, 0x3e, 0x3e, 0x3e, 0x3e, 0x3e, 0x3e, 0x3e, 0x3e, 0x3e, 0x3e, 0x3e, 0x3e, 0x3e,
		0x89, 0x07),
	  -1 },
	{ "14 prefixes and nop is exactly 15 bytes", L64,
	  BYTES(0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66,
		0x90),
	  15, 1, 0x90 },
};

/*
 * One effective-address case: the instruction is decoded at address rip, then
 * kb__insn_effective_address() and kb__insn_segment() are checked.
 */
struct eacase {
	const char *name;
	enum kb_cpu_mode mode;
	uint8_t b[16];
	uint8_t n;
	uint64_t gpr[16];
	uint64_t rip;
	int ret;
	uint64_t ea;
	bool has_ea2;
	uint64_t ea2;
	int seg, seg2;
};

enum { RAX, RCX, RDX, RBX, RSP, RBP, RSI, RDI, R8, R9, R10, R11, R12, R13, R14, R15 };

static const struct eacase eacases[] = {
	{ "[rdi]", L64, BYTES(0x8b, 0x07), .gpr = { [RDI] = 0x1234 }, .ea = 0x1234,
	  .seg = KB_SEG_DS, .seg2 = -1 },
	{ "[rbp+rcx*4+0x10]", L64, BYTES(0x8b, 0x44, 0x8d, 0x10),
	  .gpr = { [RBP] = 0x1000, [RCX] = 3 }, .ea = 0x101c, .seg = KB_SEG_SS, .seg2 = -1 },
	{ "[rbx+rax*8+0x12345678]", L64, BYTES(0x8b, 0x84, 0xc3, 0x78, 0x56, 0x34, 0x12),
	  .gpr = { [RBX] = 0x100000000, [RAX] = 2 }, .ea = 0x112345688, .seg = KB_SEG_DS,
	  .seg2 = -1 },
	{ "[rip+0x1000]", L64, BYTES(0x89, 0x05, 0x00, 0x10, 0x00, 0x00),
	  .rip = 0xffffffff80001000, .ea = 0xffffffff80002006, .seg = KB_SEG_DS, .seg2 = -1 },
	{ "[rip-16]", L64, BYTES(0x8b, 0x05, 0xf0, 0xff, 0xff, 0xff), .rip = 0x400000,
	  .ea = 0x3ffff6, .seg = KB_SEG_DS, .seg2 = -1 },
	{ "[eip+0x10] wraps at 4 GiB", L64, BYTES(0x67, 0x8b, 0x05, 0x10, 0x00, 0x00, 0x00),
	  .rip = 0xfffffff0, .ea = 0x7, .seg = KB_SEG_DS, .seg2 = -1 },
	{ "[r12*1+0x1000]", L64, BYTES(0x42, 0x89, 0x04, 0x25, 0x00, 0x10, 0x00, 0x00),
	  .gpr = { [R12] = 0x5000, [RSP] = 0x9999 }, .ea = 0x6000, .seg = KB_SEG_DS, .seg2 = -1 },
	{ "[r12] is DS, not SS", L64, BYTES(0x41, 0x8b, 0x04, 0x24),
	  .gpr = { [R12] = 0xabc, [RSP] = 0x9999 }, .ea = 0xabc, .seg = KB_SEG_DS, .seg2 = -1 },
	{ "[r13+8]", L64, BYTES(0x41, 0x8b, 0x45, 0x08), .gpr = { [R13] = 0x2000, [RBP] = 0x9999 },
	  .ea = 0x2008, .seg = KB_SEG_DS, .seg2 = -1 },
	{ "[0x1000] via SIB ignores rsp and rbp", L64,
	  BYTES(0x89, 0x04, 0x25, 0x00, 0x10, 0x00, 0x00),
	  .gpr = { [RSP] = 0x9999, [RBP] = 0x7777 }, .ea = 0x1000, .seg = KB_SEG_DS, .seg2 = -1 },
	{ "[rsp-8]", L64, BYTES(0x8b, 0x44, 0x24, 0xf8), .gpr = { [RSP] = 0x8000 }, .ea = 0x7ff8,
	  .seg = KB_SEG_SS, .seg2 = -1 },
	{ "[8] with index 100 and scale 8 means no index", L64,
	  BYTES(0x48, 0x8b, 0x04, 0xe5, 0x08, 0x00, 0x00, 0x00), .gpr = { [RSP] = 0x100 }, .ea = 8,
	  .seg = KB_SEG_DS, .seg2 = -1 },
	{ "[r12*8+8] with REX.X", L64, BYTES(0x4a, 0x8b, 0x04, 0xe5, 0x08, 0x00, 0x00, 0x00),
	  .gpr = { [RSP] = 0x100, [R12] = 0x10 }, .ea = 0x88, .seg = KB_SEG_DS, .seg2 = -1 },
	{ "gs:[0x28]", L64, BYTES(0x65, 0x48, 0x8b, 0x04, 0x25, 0x28, 0x00, 0x00, 0x00), .ea = 0x28,
	  .seg = KB_SEG_GS, .seg2 = -1 },
	{ "lea [rax+rax*4]", L64, BYTES(0x8d, 0x04, 0x80), .gpr = { [RAX] = 10 }, .ea = 50,
	  .seg = KB_SEG_DS, .seg2 = -1 },
	{ "[bx+si+5] wraps at 64 KiB", R16, BYTES(0x8b, 0x40, 0x05),
	  .gpr = { [RBX] = 0xfff0, [RSI] = 0x10 }, .ea = 0x5, .seg = KB_SEG_DS, .seg2 = -1 },
	{ "[bp-2] with bp 0 wraps", R16, BYTES(0x8b, 0x46, 0xfe), .gpr = { [RBX] = 0x1234 },
	  .ea = 0xfffe, .seg = KB_SEG_SS, .seg2 = -1 },
	{ "[0x1234] ignores bp", P16, BYTES(0x8b, 0x06, 0x34, 0x12), .gpr = { [RBP] = 0x5555 },
	  .ea = 0x1234, .seg = KB_SEG_DS, .seg2 = -1 },
	{ "[bx+0x8000] wraps", R16, BYTES(0x8b, 0x87, 0x00, 0x80), .gpr = { [RBX] = 0x9000 },
	  .ea = 0x1000, .seg = KB_SEG_DS, .seg2 = -1 },
	{ "[bp+si]", R16, BYTES(0x8b, 0x02), .gpr = { [RBP] = 0x100, [RSI] = 0x20, [RBX] = 0x999 },
	  .ea = 0x120, .seg = KB_SEG_SS, .seg2 = -1 },
	{ "[bx+di] with high register bits ignored", R16, BYTES(0x8b, 0x01),
	  .gpr = { [RBX] = 0xabcd0001, [RDI] = 0x12340002 }, .ea = 0x3, .seg = KB_SEG_DS,
	  .seg2 = -1 },
	{ "es:[bp+di] override", R16, BYTES(0x26, 0x8b, 0x03), .gpr = { [RBP] = 2, [RDI] = 3 },
	  .ea = 5, .seg = KB_SEG_ES, .seg2 = -1 },
	{ "[esp+4] wraps at 4 GiB", P32, BYTES(0x8b, 0x44, 0x24, 0x04),
	  .gpr = { [RSP] = 0xdead0000fffffffe }, .ea = 2, .seg = KB_SEG_SS, .seg2 = -1 },
	{ "[ebp] (32-bit)", P32, BYTES(0x8b, 0x45, 0x00), .gpr = { [RBP] = 0x7000 }, .ea = 0x7000,
	  .seg = KB_SEG_SS, .seg2 = -1 },
	{ "[bx+si] under 67 in 32-bit", P32, BYTES(0x67, 0x8b, 0x00),
	  .gpr = { [RBX] = 0xffff, [RSI] = 1 }, .ea = 0, .seg = KB_SEG_DS, .seg2 = -1 },
	{ "moffs64", L64, BYTES(0xa1, 0x00, 0x00, 0x00, 0xfe, 0xff, 0xff, 0xff, 0xff),
	  .ea = 0xfffffffffe000000, .seg = KB_SEG_DS, .seg2 = -1 },
	{ "moffs32", P32, BYTES(0xa1, 0x78, 0x56, 0x34, 0x12), .ea = 0x12345678, .seg = KB_SEG_DS,
	  .seg2 = -1 },
	{ "moffs16", R16, BYTES(0xa1, 0x34, 0x12), .ea = 0x1234, .seg = KB_SEG_DS, .seg2 = -1 },
	{ "rep movsb: source and destination", P32, BYTES(0xf3, 0xa4),
	  .gpr = { [RSI] = 0x100, [RDI] = 0x200 }, .ea = 0x100, .has_ea2 = true, .ea2 = 0x200,
	  .seg = KB_SEG_DS, .seg2 = KB_SEG_ES },
	{ "fs: movsd overrides only the source", P32, BYTES(0x64, 0xa5),
	  .gpr = { [RSI] = 0x100, [RDI] = 0x200 }, .ea = 0x100, .has_ea2 = true, .ea2 = 0x200,
	  .seg = KB_SEG_FS, .seg2 = KB_SEG_ES },
	{ "cmpsb", L64, BYTES(0xa6), .gpr = { [RSI] = 0x1000000000, [RDI] = 0x2000000000 },
	  .ea = 0x1000000000, .has_ea2 = true, .ea2 = 0x2000000000, .seg = KB_SEG_DS,
	  .seg2 = KB_SEG_ES },
	{ "stosb with di, high bits ignored", R16, BYTES(0xaa), .gpr = { [RDI] = 0xffff1234 },
	  .ea = 0x1234, .seg = KB_SEG_ES, .seg2 = -1 },
	{ "fs: stosd cannot override es", P32, BYTES(0x64, 0xab), .gpr = { [RDI] = 0x40 },
	  .ea = 0x40, .seg = KB_SEG_ES, .seg2 = -1 },
	{ "outsb reads rsi", L64, BYTES(0x6e), .gpr = { [RSI] = 0x5000, [RDI] = 0x6000 },
	  .ea = 0x5000, .seg = KB_SEG_DS, .seg2 = -1 },
	{ "insb writes rdi", L64, BYTES(0x6c), .gpr = { [RSI] = 0x5000, [RDI] = 0x6000 },
	  .ea = 0x6000, .seg = KB_SEG_ES, .seg2 = -1 },
	{ "lodsb with 67 in 64-bit uses esi", L64, BYTES(0x67, 0xac),
	  .gpr = { [RSI] = 0x100000010 }, .ea = 0x10, .seg = KB_SEG_DS, .seg2 = -1 },
	{ "scasb reads rdi", L64, BYTES(0xae), .gpr = { [RDI] = 0x77 }, .ea = 0x77,
	  .seg = KB_SEG_ES, .seg2 = -1 },
	{ "register operand has no address", L64, BYTES(0x89, 0xc0), .ret = -1, .seg = -1,
	  .seg2 = -1 },
	{ "in al,dx has no address", L64, BYTES(0xec), .ret = -1, .seg = -1, .seg2 = -1 },
	{ "mov cr0 with mod=00 has no address", P32, BYTES(0x0f, 0x22, 0x00), .ret = -1, .seg = -1,
	  .seg2 = -1 },
};

static int failures_in_case;

static void check(const char *name, const char *field, long long want, long long got)
{
	if (want == got)
		return;
	printf("FAIL %s: %s expected %lld (0x%llx), got %lld (0x%llx)\n", name, field, want,
	       (unsigned long long)want, got, (unsigned long long)got);
	failures_in_case++;
}

static void hexdump(const uint8_t *b, size_t n)
{
	size_t i;

	printf("     bytes:");
	for (i = 0; i < n; i++)
		printf(" %02x", b[i]);
	printf("\n");
}

static bool run_dcase(const struct dcase *c)
{
	struct kb_insn in;
	int r;

	failures_in_case = 0;
	r = kb__insn_decode(c->b, c->n, c->mode, &in);
	if (c->len < 0) {
		check(c->name, "return", -1, r);
		if (r == 0)
			check(c->name, "len (should have been rejected)", -1, in.len);
		goto out;
	}
	check(c->name, "return", 0, r);
	if (r != 0)
		goto out;
	check(c->name, "len", c->len, in.len);
	if (c->map) {
		check(c->name, "opcode_map", c->map, in.opcode_map);
		check(c->name, "opcode", c->op, in.opcode);
	}
	if (c->osz)
		check(c->name, "operand_size", c->osz, in.operand_size);
	if (c->asz)
		check(c->name, "address_size", c->asz, in.address_size);
	check(c->name, "disp_size", c->dsz, in.disp_size);
	check(c->name, "imm_size", c->isz, in.imm_size);
	check(c->name, "has_sib", c->sib, in.has_sib);
	check(c->name, "has_mem_operand", c->mem, in.has_mem_operand);
	check(c->name, "rip_relative", c->rip, in.rip_relative);
	check(c->name, "is_string", c->str, in.is_string);
	check(c->name, "is_io", c->io, in.is_io);
	check(c->name, "rep", c->rep, in.rep);
	check(c->name, "repne", c->repne, in.repne);
	check(c->name, "lock", c->lock, in.lock);
	if (c->want & W_DISP)
		check(c->name, "disp", c->disp, in.disp);
	if (c->want & W_IMM)
		check(c->name, "imm", c->imm, in.imm);
	if (c->want & W_REG)
		check(c->name, "reg", c->reg, in.reg);
	if (c->want & W_RM)
		check(c->name, "rm", c->rm, in.rm);
	if (c->want & W_SEG)
		check(c->name, "seg_override", c->seg, in.seg_override);
	if (c->want & W_REX)
		check(c->name, "rex", c->rex, in.rex);
out:
	if (failures_in_case)
		hexdump(c->b, c->n);
	return failures_in_case == 0;
}

static bool run_eacase(const struct eacase *c)
{
	struct kb_insn in;
	uint64_t ea = 0, ea2 = 0xfeedfacecafef00d;
	int r;

	failures_in_case = 0;
	r = kb__insn_decode(c->b, c->n, c->mode, &in);
	check(c->name, "decode return", 0, r);
	if (r != 0)
		goto out;
	check(c->name, "decode len", c->n, in.len);
	r = kb__insn_effective_address(&in, c->gpr, c->rip + in.len, &ea, &ea2);
	check(c->name, "effective_address return", c->ret, r);
	if (r == 0 && c->ret == 0) {
		check(c->name, "ea", (long long)c->ea, (long long)ea);
		if (c->has_ea2)
			check(c->name, "ea2", (long long)c->ea2, (long long)ea2);
		else
			check(c->name, "ea2 (untouched)", (long long)0xfeedfacecafef00d,
			      (long long)ea2);
	}
	check(c->name, "segment", c->seg, kb__insn_segment(&in, false));
	check(c->name, "segment (second)", c->seg2, kb__insn_segment(&in, true));
out:
	if (failures_in_case)
		hexdump(c->b, c->n);
	return failures_in_case == 0;
}

/* Every prefix of a valid encoding must be rejected as truncated, and the whole accepted. */
static bool run_truncation(const struct dcase *c)
{
	struct kb_insn in;
	uint8_t n;

	failures_in_case = 0;
	for (n = 0; n < c->len; n++)
		check(c->name, "truncated decode return", -1,
		      kb__insn_decode(c->b, n, c->mode, &in));
	if (failures_in_case)
		hexdump(c->b, c->n);
	return failures_in_case == 0;
}

int main(void)
{
	unsigned int passed = 0, failed = 0;
	size_t i;
	struct kb_insn in;
	uint64_t ea;

	for (i = 0; i < sizeof(dcases) / sizeof(dcases[0]); i++) {
		if (run_dcase(&dcases[i]))
			passed++;
		else
			failed++;
		if (dcases[i].len > 0) {
			if (run_truncation(&dcases[i]))
				passed++;
			else
				failed++;
		}
	}
	for (i = 0; i < sizeof(eacases) / sizeof(eacases[0]); i++) {
		if (run_eacase(&eacases[i]))
			passed++;
		else
			failed++;
	}

	/* Argument checks: no bytes, no output, an unknown mode, no instruction. */
	failures_in_case = 0;
	check("n = 0", "return", -1, kb__insn_decode((const uint8_t *)"\x90", 0, L64, &in));
	check("NULL bytes", "return", -1, kb__insn_decode(NULL, 1, L64, &in));
	check("bad mode", "return", -1,
	      kb__insn_decode((const uint8_t *)"\x90", 1, (enum kb_cpu_mode)7, &in));
	check("NULL insn", "return", -1,
	      kb__insn_effective_address(NULL, (const uint64_t[16]){ 0 }, 0, &ea, NULL));
	if (failures_in_case)
		failed++;
	else
		passed++;

	printf("%u passed, %u failed\n", passed, failed);
	return failed ? 1 : 0;
}
