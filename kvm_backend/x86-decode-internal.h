/* SPDX-License-Identifier: MIT */
/*
 * x86 instruction length and operand decoder for MMIO and port-IO exits.
 *
 * KVM reports an MMIO or port-IO exit with the guest physical address (or port) and the data,
 * but not the start address or length of the instruction that caused it, so the backend decodes
 * the instruction bytes itself to advance RIP and to find the operand registers.  The decoder
 * follows the Intel SDM vol 2 (chapter 2 for the encoding, appendix A for the opcode maps).
 * It needs nothing beyond libc.
 */
#ifndef ZXVM_KVM_BACKEND_X86_DECODE_INTERNAL_H
#define ZXVM_KVM_BACKEND_X86_DECODE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The longest legal x86 instruction; anything longer raises #GP (Intel SDM vol 2, 2.1.1). */
#define KB_INSN_MAX_LEN 15

/*
 * Default code size of the code segment the instruction runs in.  KB_MODE_REAL16 and
 * KB_MODE_PROT16 have 16-bit default operand and address sizes, KB_MODE_PROT32 32-bit ones (also
 * compatibility mode with CS.D=1), KB_MODE_LONG64 is 64-bit mode (Intel SDM vol 1, 3.6.1).
 */
enum kb_cpu_mode { KB_MODE_REAL16, KB_MODE_PROT16, KB_MODE_PROT32, KB_MODE_LONG64 };

/* Segment register numbers as the sreg3 field encodes them (Intel SDM vol 2, table B-6). */
enum kb_seg { KB_SEG_ES, KB_SEG_CS, KB_SEG_SS, KB_SEG_DS, KB_SEG_FS, KB_SEG_GS };

struct kb_insn {
	/* Total length in bytes, 1..15. */
	uint8_t len;
	/* 1 = one-byte map, 2 = 0F, 3 = 0F38, 4 = 0F3A. */
	uint8_t opcode_map;
	/* The opcode byte within its map. */
	uint8_t opcode;
	/*
	 * Effective operand size in bytes: 1, 2, 4 or 8; 1 for byte-form opcodes (88, 8A, C6, E4,
	 * EC, 6C, A4, 0F B0, SETcc...).  It is the size of the instruction's destination, so for
	 * MOVZX/MOVSX the memory source is 1 (0F B6/BE) or 2 (0F B7/BF) bytes whatever this says,
	 * and for SSE instructions it is only what 66/REX.W would make of a general-purpose operand
	 * (the vector width follows from the opcode).
	 */
	uint8_t operand_size;
	/* Effective address size in bytes: 2, 4 or 8. */
	uint8_t address_size;
	bool has_modrm;
	uint8_t modrm;
	bool has_sib;
	uint8_t sib;
	/*
	 * Displacement, sign-extended from disp_size bytes.  For moffs (A0-A3) it is the absolute
	 * offset, zero-extended, and disp_size equals address_size.
	 */
	int64_t disp;
	uint8_t disp_size;
	/*
	 * Immediate, sign-extended from imm_size bytes, except that the immediates the SDM defines
	 * as unsigned are zero-extended: the port of IN/OUT, the vector of INT, the counts of RET,
	 * RETF and ENTER and the base of AAM/AAD.  Relative branches keep their displacement here
	 * (target = next_rip + imm).  ENTER's iw, ib is imm = iw | ib << 16 with imm_size 3; a far
	 * pointer (9A, EA) is imm = offset | selector << (8 * offset size) with imm_size 4 or 6.
	 */
	int64_t imm;
	uint8_t imm_size;
	/* The REX byte (40-4F) in 64-bit mode, or 0. */
	uint8_t rex;
	/* F3 and F2; when both are present the later one wins, as the SDM leaves it undefined. */
	bool rep;
	bool repne;
	bool lock;
	/* -1 none, else enum kb_seg.  In 64-bit mode ES, CS, SS and DS overrides are ignored. */
	int8_t seg_override;
	/*
	 * A ModRM memory operand (mod != 3), a moffs (A0-A3) or a string operation.  LEA counts
	 * although it does not access memory; XLAT's implicit [rBX+AL] and the stack do not.
	 */
	bool has_mem_operand;
	/* The ModRM operand is [rip + disp32] (or [eip + disp32] under a 67 prefix). */
	bool rip_relative;
	/* ModRM.reg extended by REX.R (0..15). */
	uint8_t reg;
	/*
	 * ModRM.rm extended by REX.B (0..15); with a SIB byte, SIB.base extended by REX.B; for
	 * opcodes that carry a register in their low three bits (50-5F, 90-97, B0-BF, 0F C8-CF and
	 * 40-4F outside 64-bit mode), that register extended by REX.B.
	 */
	uint8_t rm;
	/* INS/OUTS/MOVS/STOS/LODS/CMPS/SCAS. */
	bool is_string;
	/* IN/OUT/INS/OUTS (E4-E7, EC-EF, 6C-6F). */
	bool is_io;
};

/*
 * Decode the instruction starting at bytes[0]; n bytes are available.  0 on success, -1 if the
 * bytes are not a valid, complete and supported instruction (including more than 15 bytes).
 * VEX (C4/C5), EVEX (62 in 64-bit mode, or with mod = 3 elsewhere) and XOP (8F with reg != 0)
 * encodings are not supported.  Undefined one- and two-byte opcodes and undefined group members
 * are rejected; the 0F 38 and 0F 3A maps and SSE opcodes under an unusual mandatory prefix are
 * length-decoded without checking that the opcode exists, as a guest cannot reach an MMIO exit
 * with an instruction that raises #UD.
 */
int kb__insn_decode(const uint8_t *bytes, size_t n, enum kb_cpu_mode mode, struct kb_insn *out);

/*
 * Effective (segment-relative, before the segment base is added) address of the instruction's
 * memory operand, given the 16 GPRs in x86 encoding order (rax, rcx, rdx, rbx, rsp, rbp, rsi,
 * rdi, r8..r15) and next_rip, the address just after the instruction (for RIP-relative).
 * Handles ModRM+SIB+disp in 16-, 32- and 64-bit addressing, moffs (A0-A3) and string
 * operations: rsi for LODS and OUTS, rdi for STOS, SCAS and INS; for MOVS and CMPS the source
 * (rsi) is returned and the destination (rdi) is written to *out_ea2 if out_ea2 is not NULL
 * (*out_ea2 is left alone otherwise).  The result is truncated to address_size.  -1 if the
 * instruction has no memory operand.
 */
int kb__insn_effective_address(const struct kb_insn *insn, const uint64_t gpr[16],
			       uint64_t next_rip, uint64_t *out_ea, uint64_t *out_ea2);

/*
 * Segment register (enum kb_seg) of the address kb__insn_effective_address() returns in *out_ea
 * (second = false) or *out_ea2 (second = true): the override if there is one, else SS for a
 * base of rSP or rBP (and the 16-bit BP forms), else DS (Intel SDM vol 1, 3.7.4).  The rdi
 * operand of a string operation is always ES, which no prefix can override (Intel SDM vol 1,
 * 3.7.4).  In 64-bit mode only FS and GS have a base.  -1 if there is no such operand.
 */
int kb__insn_segment(const struct kb_insn *insn, bool second);

#endif /* ZXVM_KVM_BACKEND_X86_DECODE_INTERNAL_H */
