// SPDX-License-Identifier: MIT
/*
 * x86 instruction length and operand decoder.
 *
 * KVM exits to us on an MMIO or port-IO access without telling us where the faulting
 * instruction starts or how long it is, so we decode it here.  Everything below follows the
 * Intel SDM vol 2: chapter 2 ("Instruction Format") for prefixes, ModRM, SIB, displacements and
 * immediates, and appendix A ("Opcode Map") for which opcodes take which operands.  The tables
 * are written from appendix A's tables A-2 (one-byte map), A-3 (two-byte map) and A-6 (opcode
 * extensions); the superscripts there (i64, d64, f64, 1A) map to the F_* flags below.
 */
#include <string.h>

#include "x86-decode-internal.h"

/* The opcode needs a ModRM byte (Intel SDM vol 2, 2.1.5). */
#define F_MODRM (1u << 0)
/* Byte-sized operation (the "b" operand type of appendix A.2.2): operand_size is 1. */
#define F_BYTE (1u << 1)
/* Invalid or not encodable in 64-bit mode (superscript i64 in table A-2). */
#define F_I64 (1u << 2)
/* Undefined, a prefix consumed before the lookup, or an encoding this decoder does not support. */
#define F_BAD (1u << 3)
/* Operand size defaults to 64 bits in 64-bit mode and 66 selects 16 (superscript d64). */
#define F_D64 (1u << 4)
/*
 * Operand size is forced to 64 bits in 64-bit mode (superscript f64), so 66 does not shrink a
 * near branch's rel32 to rel16.  That is Intel's rule; AMD CPUs honour 66 there, an encoding no
 * compiler emits.
 */
#define F_F64 (1u << 5)
/* String operation: memory at rSI and/or rDI (Intel SDM vol 1, 7.3.9). */
#define F_STR (1u << 6)
/* Port IO: IN, OUT, INS, OUTS. */
#define F_IO (1u << 7)
/* The ModRM operand must be memory; mod = 3 is #UD or, for C4/C5/62, a VEX/EVEX prefix. */
#define F_MEM (1u << 8)
/* The immediate is unsigned (port, vector, byte count) and is zero-extended. */
#define F_UIMM (1u << 9)
/* Group opcode whose validity or immediate depends on ModRM.reg (table A-6), see group(). */
#define F_GRP (1u << 10)
/* IN/OUT eAX forms: operand size is 16 or 32 bits, REX.W is ignored. */
#define F_OP32 (1u << 11)
/*
 * MOV to or from a control or debug register: the mod field is ignored and the operand is
 * always a register (Intel SDM vol 2, MOV-Move to/from Control Registers).
 */
#define F_CTRL (1u << 12)
/* Operand size is the native width, 64 bits in 64-bit mode and 32 otherwise (MOV CR, VMREAD). */
#define F_NATIVE (1u << 13)
/* The low three opcode bits name a register, extended by REX.B (e.g. 50+rd, B8+rd). */
#define F_REGOP (1u << 14)

/* Immediate kinds, stored in bits 16..19 of the flags. */
enum imm_kind {
	IMM_NONE,
	IMM_B,     /* Ib: 8 bits */
	IMM_W,     /* Iw: 16 bits */
	IMM_Z,     /* Iz: 16 bits under a 16-bit operand size, else 32 */
	IMM_V,     /* Iv: the operand size, 64 bits only for B8+r with REX.W */
	IMM_MOFFS, /* Ob/Ov: an offset of the address size, 64 bits in 64-bit mode */
	IMM_JB,    /* Jb: rel8 */
	IMM_JZ,    /* Jz: rel16 or rel32, rel32 in 64-bit mode where the operand size is 64 */
	IMM_ENTER, /* ENTER Iw, Ib */
	IMM_FAR,   /* Ap: ptr16:16 or ptr16:32 */
	IMM_BB,    /* two Ib, AMD SSE4a EXTRQ/INSERTQ (AMD APM vol 4) */
};

#define IMM(k) ((uint32_t)(k) << 16)
#define IMM_KIND(f) ((enum imm_kind)(((f) >> 16) & 0xf))

/* Short names so that each table row below reads like a row of the SDM's opcode map. */
#define __ 0u
#define XX F_BAD
#define PF F_BAD
#define Eb (F_MODRM | F_BYTE)
#define Ev F_MODRM
#define EbIb (F_MODRM | F_BYTE | IMM(IMM_B))
#define EvIb (F_MODRM | IMM(IMM_B))
#define EvIz (F_MODRM | IMM(IMM_Z))
#define ALIb (F_BYTE | IMM(IMM_B))
#define AXIz IMM(IMM_Z)
#define I64 F_I64
#define REG F_REGOP
#define Jb (IMM(IMM_JB) | F_F64)
#define Jz (IMM(IMM_JZ) | F_F64)
#define STRB (F_STR | F_BYTE)
#define STRV F_STR
#define MOFB (IMM(IMM_MOFFS) | F_BYTE)
#define MOFV IMM(IMM_MOFFS)
#define INB (F_IO | F_BYTE)
#define INV (F_IO | F_OP32)
#define PORTB (F_IO | F_BYTE | IMM(IMM_B) | F_UIMM)
#define PORTV (F_IO | F_OP32 | IMM(IMM_B) | F_UIMM)

/* Intel SDM vol 2, table A-2: one-byte opcode map. */
static const uint32_t map1[256] = {
	/* 00: ADD, PUSH ES, POP ES, OR, PUSH CS, 0F escape */
	Eb, Ev, Eb, Ev, ALIb, AXIz, I64, I64, Eb, Ev, Eb, Ev, ALIb, AXIz, I64, XX,
	/* 10: ADC, PUSH SS, POP SS, SBB, PUSH DS, POP DS */
	Eb, Ev, Eb, Ev, ALIb, AXIz, I64, I64, Eb, Ev, Eb, Ev, ALIb, AXIz, I64, I64,
	/* 20: AND, seg ES, DAA, SUB, seg CS, DAS */
	Eb, Ev, Eb, Ev, ALIb, AXIz, PF, I64, Eb, Ev, Eb, Ev, ALIb, AXIz, PF, I64,
	/* 30: XOR, seg SS, AAA, CMP, seg DS, AAS */
	Eb, Ev, Eb, Ev, ALIb, AXIz, PF, I64, Eb, Ev, Eb, Ev, ALIb, AXIz, PF, I64,
	/* 40: INC/DEC r (REX prefixes in 64-bit mode, consumed before the lookup) */
	REG, REG, REG, REG, REG, REG, REG, REG, REG, REG, REG, REG, REG, REG, REG, REG,
	/* 50: PUSH r, POP r */
	REG | F_D64, REG | F_D64, REG | F_D64, REG | F_D64,
	REG | F_D64, REG | F_D64, REG | F_D64, REG | F_D64,
	REG | F_D64, REG | F_D64, REG | F_D64, REG | F_D64,
	REG | F_D64, REG | F_D64, REG | F_D64, REG | F_D64,
	/*
	 * 60: PUSHA, POPA, BOUND, ARPL/MOVSXD, seg FS, seg GS, opsize, addrsize,
	 *     PUSH Iz, IMUL Gv,Ev,Iz, PUSH Ib, IMUL Gv,Ev,Ib, INSB, INS, OUTSB, OUTS
	 */
	I64, I64, Ev | F_MEM | I64, Ev, PF, PF, PF, PF,
	IMM(IMM_Z) | F_D64, EvIz, IMM(IMM_B) | F_D64, EvIb, STRB | INB, STRV | INV, STRB | INB,
	STRV | INV,
	/* 70: Jcc rel8 */
	Jb, Jb, Jb, Jb, Jb, Jb, Jb, Jb, Jb, Jb, Jb, Jb, Jb, Jb, Jb, Jb,
	/*
	 * 80: Grp1 Eb,Ib; Ev,Iz; Eb,Ib (i64); Ev,Ib; TEST; XCHG; MOV; MOV Ev,Sw; LEA; MOV Sw,Ew;
	 *     Grp1A POP Ev
	 */
	EbIb, EvIz, EbIb | I64, EvIb, Eb, Ev, Eb, Ev,
	Eb, Ev, Eb, Ev, Ev, Ev | F_MEM, Ev, Ev | F_D64 | F_GRP,
	/* 90: NOP/XCHG r,rAX, CBW, CWD, CALL far, FWAIT, PUSHF, POPF, SAHF, LAHF */
	REG, REG, REG, REG, REG, REG, REG, REG,
	__, __, IMM(IMM_FAR) | I64, __, F_D64, F_D64, __, __,
	/* A0: MOV AL/rAX <-> moffs, MOVS, CMPS, TEST AL/rAX,imm, STOS, LODS, SCAS */
	MOFB, MOFV, MOFB, MOFV, STRB, STRV, STRB, STRV,
	ALIb, AXIz, STRB, STRV, STRB, STRV, STRB, STRV,
	/* B0: MOV r8, Ib; MOV r, Iv */
	REG | ALIb, REG | ALIb, REG | ALIb, REG | ALIb,
	REG | ALIb, REG | ALIb, REG | ALIb, REG | ALIb,
	REG | IMM(IMM_V), REG | IMM(IMM_V), REG | IMM(IMM_V), REG | IMM(IMM_V),
	REG | IMM(IMM_V), REG | IMM(IMM_V), REG | IMM(IMM_V), REG | IMM(IMM_V),
	/*
	 * C0: Grp2 Eb,Ib; Ev,Ib; RET Iw; RET; LES (VEX3); LDS (VEX2); Grp11 MOV Eb,Ib; Ev,Iz;
	 *     ENTER; LEAVE; RETF Iw; RETF; INT3; INT Ib; INTO; IRET
	 */
	EbIb, EvIb, IMM(IMM_W) | F_UIMM | F_F64, F_F64,
	Ev | F_MEM | I64, Ev | F_MEM | I64, EbIb | F_GRP, EvIz | F_GRP,
	IMM(IMM_ENTER) | F_D64, F_D64, IMM(IMM_W) | F_UIMM, __,
	__, IMM(IMM_B) | F_UIMM, I64, __,
	/* D0: Grp2 Eb,1; Ev,1; Eb,CL; Ev,CL; AAM; AAD; (undefined); XLAT; x87 escapes */
	Eb, Ev, Eb, Ev, IMM(IMM_B) | F_UIMM | I64, IMM(IMM_B) | F_UIMM | I64, XX, F_BYTE,
	Ev, Ev, Ev, Ev, Ev, Ev, Ev, Ev,
	/*
	 * E0: LOOPNE, LOOPE, LOOP, JrCXZ, IN/OUT imm8 port, CALL, JMP, JMP far, JMP rel8,
	 *     IN/OUT DX port
	 */
	Jb, Jb, Jb, Jb, PORTB, PORTV, PORTB, PORTV,
	Jz, Jz, IMM(IMM_FAR) | I64, Jb, INB, INV, INB, INV,
	/*
	 * F0: LOCK, INT1, REPNE, REP, HLT, CMC, Grp3 Eb; Ev, CLC, STC, CLI, STI, CLD, STD,
	 *     Grp4 INC/DEC Eb, Grp5
	 */
	PF, __, PF, PF, __, __, Eb | F_GRP, Ev | F_GRP,
	__, __, __, __, __, __, Eb | F_GRP, Ev | F_GRP,
};

#define M F_MODRM
#define MIb (F_MODRM | IMM(IMM_B))

/* Intel SDM vol 2, table A-3: two-byte opcode map (first byte 0F). */
static const uint32_t map2[256] = {
	/*
	 * 00: Grp6, Grp7, LAR, LSL, -, SYSCALL, CLTS, SYSRET, INVD, WBINVD, -, UD2, -,
	 *     PREFETCHW, FEMMS and 3DNow! (AMD only, withdrawn)
	 */
	M | F_GRP, M, M, M, XX, __, __, __, __, __, XX, __, XX, M, XX, XX,
	/* 10: SSE moves and unpacks, Grp16 prefetch, hint NOPs, ENDBR */
	M, M, M, M, M, M, M, M, M, M, M, M, M, M, M, M,
	/* 20: MOV r, CRn/DRn and back; 28: SSE MOVAPS, CVT*, MOVNTPS, UCOMISS, COMISS */
	M | F_CTRL | F_NATIVE, M | F_CTRL | F_NATIVE, M | F_CTRL | F_NATIVE,
	M | F_CTRL | F_NATIVE, XX, XX, XX, XX,
	M, M, M, M, M, M, M, M,
	/* 30: WRMSR, RDTSC, RDMSR, RDPMC, SYSENTER, SYSEXIT, -, GETSEC, 0F38, -, 0F3A */
	__, __, __, __, __, __, XX, __, XX, XX, XX, XX, XX, XX, XX, XX,
	/* 40: CMOVcc */
	M, M, M, M, M, M, M, M, M, M, M, M, M, M, M, M,
	/* 50: SSE arithmetic and logic */
	M, M, M, M, M, M, M, M, M, M, M, M, M, M, M, M,
	/* 60: MMX/SSE2 unpacks, packs, compares, MOVD, MOVQ, MOVDQA/MOVDQU */
	M, M, M, M, M, M, M, M, M, M, M, M, M, M, M, M,
	/*
	 * 70: PSHUF*, Grp12-14 shifts by imm8, PCMPEQ*, EMMS, VMREAD, VMWRITE, -, -,
	 *     HADD, HSUB, MOVD/MOVQ
	 */
	MIb, MIb, MIb, MIb, M, M, M, __,
	M | F_GRP | F_NATIVE, M | F_NATIVE, XX, XX, M, M, M, M,
	/* 80: Jcc rel16/32 */
	Jz, Jz, Jz, Jz, Jz, Jz, Jz, Jz, Jz, Jz, Jz, Jz, Jz, Jz, Jz, Jz,
	/* 90: SETcc Eb */
	Eb, Eb, Eb, Eb, Eb, Eb, Eb, Eb, Eb, Eb, Eb, Eb, Eb, Eb, Eb, Eb,
	/*
	 * A0: PUSH FS, POP FS, CPUID, BT, SHLD Ib, SHLD CL, -, -, PUSH GS, POP GS, RSM, BTS,
	 *     SHRD Ib, SHRD CL, Grp15, IMUL Gv,Ev
	 */
	F_D64, F_D64, __, M, MIb, M, XX, XX, F_D64, F_D64, __, M, MIb, M, M, M,
	/*
	 * B0: CMPXCHG Eb; Ev, LSS, BTR, LFS, LGS, MOVZX Eb; Ew, POPCNT, Grp10 UD1, Grp8 Ev,Ib,
	 *     BTC, BSF/TZCNT, BSR/LZCNT, MOVSX Eb; Ew
	 */
	Eb, M, M | F_MEM, M, M | F_MEM, M | F_MEM, M, M,
	M | F_GRP, M, MIb | F_GRP, M, M, M, M, M,
	/* C0: XADD Eb; Ev, CMPPS, MOVNTI, PINSRW, PEXTRW, SHUFPS, Grp9, BSWAP r */
	Eb, M, MIb, M | F_MEM, MIb, MIb, MIb, M,
	REG, REG, REG, REG, REG, REG, REG, REG,
	/* D0..F0: MMX/SSE2 arithmetic, shifts, MOVQ, MOVNTQ, MASKMOVQ ...; FF: UD0 */
	M, M, M, M, M, M, M, M, M, M, M, M, M, M, M, M,
	M, M, M, M, M, M, M, M, M, M, M, M, M, M, M, M,
	M, M, M, M, M, M, M, M, M, M, M, M, M, M, M, M,
};

/* Legacy prefix state collected before the opcode. */
struct prefixes {
	bool opsize;
	bool addrsize;
};

/* Bytes of the instruction, capped at the 15-byte limit, and how many have been consumed. */
struct cursor {
	const uint8_t *bytes;
	size_t lim;
	size_t pos;
};

static bool fetch(struct cursor *c, unsigned int size, uint64_t *val)
{
	uint64_t v = 0;
	unsigned int i;

	if (c->lim - c->pos < size)
		return false;
	/* x86 immediates and displacements are little-endian (Intel SDM vol 1, 1.3.1). */
	for (i = 0; i < size; i++)
		v |= (uint64_t)c->bytes[c->pos + i] << (8 * i);
	c->pos += size;
	*val = v;
	return true;
}

static bool fetch8(struct cursor *c, uint8_t *val)
{
	if (c->pos >= c->lim)
		return false;
	*val = c->bytes[c->pos++];
	return true;
}

static int64_t sign_extend(uint64_t v, unsigned int size)
{
	unsigned int shift;

	if (size == 0 || size >= 8)
		return (int64_t)v;
	shift = 64 - 8 * size;
	return (int64_t)(v << shift) >> shift;
}

/*
 * Apply the opcode-extension rules of Intel SDM vol 2, table A-6 for the group opcodes marked
 * F_GRP: which ModRM.reg values exist and which take an immediate.  Returns the adjusted flags,
 * with F_BAD set for encodings that are undefined or not supported.
 */
static uint32_t group(unsigned int map, uint8_t op, uint8_t modrm, bool opsize_pfx, bool rep,
		      bool repne, uint32_t flags)
{
	unsigned int reg = (modrm >> 3) & 7;
	bool is_reg = (modrm >> 6) == 3;

	if (map == 1) {
		switch (op) {
		case 0x8f:
			/* Grp1A has only POP Ev; other reg values are AMD's XOP prefix. */
			if (reg != 0)
				flags |= F_BAD;
			break;
		case 0xc6:
			/* Grp11: MOV Eb,Ib, plus XABORT Ib as C6 F8 (Intel SDM vol 2, XABORT). */
			if (reg != 0 && modrm != 0xf8)
				flags |= F_BAD;
			break;
		case 0xc7:
			/* Grp11: MOV Ev,Iz, plus XBEGIN rel16/rel32 as C7 F8. */
			if (modrm == 0xf8)
				flags = (flags & ~IMM(0xf)) | IMM(IMM_JZ);
			else if (reg != 0)
				flags |= F_BAD;
			break;
		case 0xf6:
		case 0xf7:
			/* Grp3: only TEST (/0, and its alias /1) has an immediate. */
			flags &= ~IMM(0xf);
			if (reg <= 1)
				flags |= IMM(op == 0xf6 ? IMM_B : IMM_Z);
			break;
		case 0xfe:
			/* Grp4: INC Eb and DEC Eb only. */
			if (reg > 1)
				flags |= F_BAD;
			break;
		case 0xff:
			/*
			 * Grp5: INC, DEC, CALL Ev (f64), CALLF Mp, JMP Ev (f64), JMPF Mp,
			 * PUSH Ev (d64); /7 is undefined.
			 */
			if (reg == 7 || ((reg == 3 || reg == 5) && is_reg))
				flags |= F_BAD;
			else if (reg == 2 || reg == 4)
				flags |= F_F64;
			else if (reg == 6)
				flags |= F_D64;
			break;
		}
	} else if (map == 2) {
		switch (op) {
		case 0x00:
			/* Grp6: SLDT, STR, LLDT, LTR, VERR, VERW; /6 and /7 are undefined. */
			if (reg >= 6)
				flags |= F_BAD;
			break;
		case 0x78:
			/* 66 0F 78 is EXTRQ, F2 0F 78 INSERTQ, both with two Ib; else VMREAD. */
			if (opsize_pfx || repne)
				flags |= IMM(IMM_BB);
			break;
		case 0xb8:
			/* F3 0F B8 is POPCNT; without F3 it is JMPE, which only IA-64 had. */
			if (!rep)
				flags |= F_BAD;
			break;
		case 0xba:
			/* Grp8: BT, BTS, BTR, BTC Ev,Ib are /4../7. */
			if (reg < 4)
				flags |= F_BAD;
			break;
		}
	}
	return flags;
}

static uint8_t imm_size(enum imm_kind kind, uint8_t osz, uint8_t asz)
{
	switch (kind) {
	case IMM_B:
	case IMM_JB:
		return 1;
	case IMM_W:
	case IMM_BB:
		return 2;
	case IMM_Z:
	case IMM_JZ:
		return osz == 2 ? 2 : 4;
	case IMM_V:
		return osz;
	case IMM_MOFFS:
		return asz;
	case IMM_ENTER:
		return 3;
	case IMM_FAR:
		return osz == 2 ? 4 : 6;
	case IMM_NONE:
	default:
		return 0;
	}
}

/*
 * Decode the ModRM memory forms: SIB and displacement (Intel SDM vol 2, 2.1.5, tables 2-1 to
 * 2-3, and 2.2.1.2 for 64-bit mode).  mod is not 3 here.
 */
static int decode_mem(struct cursor *c, struct kb_insn *out, bool long_mode)
{
	uint8_t mod = out->modrm >> 6, rm3 = out->modrm & 7;
	uint8_t dsize = 0;
	uint64_t v;

	out->has_mem_operand = true;
	if (out->address_size == 2) {
		/* Table 2-1: [disp16] replaces [bp] when mod = 0. */
		if (mod == 0 && rm3 == 6)
			dsize = 2;
		else if (mod == 1)
			dsize = 1;
		else if (mod == 2)
			dsize = 2;
	} else {
		if (rm3 == 4) {
			if (!fetch8(c, &out->sib))
				return -1;
			out->has_sib = true;
			out->rm = (out->sib & 7) | ((out->rex & 1) << 3);
			/* Table 2-3: base 101 with mod = 0 is disp32 and no base, REX.B or not. */
			if ((out->sib & 7) == 5 && mod == 0)
				dsize = 4;
		} else if (mod == 0 && rm3 == 5) {
			/* Table 2-2 and 2.2.1.6: [disp32] is RIP-relative in 64-bit mode. */
			dsize = 4;
			out->rip_relative = long_mode;
		}
		if (mod == 1)
			dsize = 1;
		else if (mod == 2)
			dsize = 4;
	}
	if (dsize) {
		if (!fetch(c, dsize, &v))
			return -1;
		out->disp = sign_extend(v, dsize);
		out->disp_size = dsize;
	}
	return 0;
}

int kb__insn_decode(const uint8_t *bytes, size_t n, enum kb_cpu_mode mode, struct kb_insn *out)
{
	struct cursor c = { .bytes = bytes, .lim = n < KB_INSN_MAX_LEN ? n : KB_INSN_MAX_LEN };
	struct prefixes p = { 0 };
	bool long_mode = mode == KB_MODE_LONG64;
	bool rex_w;
	unsigned int map = 1;
	uint32_t flags;
	uint8_t b, osz, asz, isz;
	uint64_t v;

	if (!bytes || !out || mode > KB_MODE_LONG64)
		return -1;
	memset(out, 0, sizeof(*out));
	out->seg_override = -1;

	/*
	 * Legacy prefixes in any order, then at most one REX (Intel SDM vol 2, 2.1.1 and 2.2.1).
	 * A REX that is not immediately before the opcode is ignored, so a legacy prefix after it
	 * cancels it.  Running past 15 bytes ends the loop through the cursor's limit.
	 */
	for (;;) {
		if (!fetch8(&c, &b))
			return -1;
		switch (b) {
		case 0x66:
			p.opsize = true;
			break;
		case 0x67:
			p.addrsize = true;
			break;
		case 0xf0:
			out->lock = true;
			break;
		case 0xf2:
			out->repne = true;
			out->rep = false;
			break;
		case 0xf3:
			out->rep = true;
			out->repne = false;
			break;
		case 0x26:
		case 0x2e:
		case 0x36:
		case 0x3e:
			/*
			 * 64-bit mode ignores ES, CS, SS and DS overrides (AMD APM vol 3, 1.2.4;
			 * Intel SDM vol 1, 3.7.4.1), so they neither set nor replace an override.
			 */
			if (!long_mode)
				out->seg_override = (int8_t)((b >> 3) & 3);
			break;
		case 0x64:
		case 0x65:
			out->seg_override = (int8_t)(KB_SEG_FS + (b & 1));
			break;
		default:
			if (long_mode && (b & 0xf0) == 0x40) {
				out->rex = b;
				continue;
			}
			goto opcode;
		}
		out->rex = 0;
	}

opcode:
	if (b == 0x0f) {
		if (!fetch8(&c, &b))
			return -1;
		map = 2;
		if (b == 0x38 || b == 0x3a) {
			map = b == 0x38 ? 3 : 4;
			if (!fetch8(&c, &b))
				return -1;
		}
	}
	out->opcode_map = (uint8_t)map;
	out->opcode = b;
	switch (map) {
	case 1:
		flags = map1[b];
		break;
	case 2:
		flags = map2[b];
		break;
	case 3:
		/* Table A-4: every 0F 38 opcode has ModRM and no immediate. */
		flags = F_MODRM;
		break;
	default:
		/* Table A-5: every 0F 3A opcode has ModRM and an Ib. */
		flags = F_MODRM | IMM(IMM_B);
		break;
	}
	if ((flags & F_BAD) || (long_mode && (flags & F_I64)))
		return -1;

	/* Intel SDM vol 1, 3.6.1 and table 3-4: the 66 and 67 prefixes toggle the default. */
	rex_w = (out->rex & 0x08) != 0;
	switch (mode) {
	case KB_MODE_LONG64:
		asz = p.addrsize ? 4 : 8;
		osz = rex_w ? 8 : p.opsize ? 2 : 4;
		break;
	case KB_MODE_PROT32:
		asz = p.addrsize ? 2 : 4;
		osz = p.opsize ? 2 : 4;
		break;
	default:
		asz = p.addrsize ? 4 : 2;
		osz = p.opsize ? 4 : 2;
		break;
	}
	out->address_size = asz;

	if (flags & F_REGOP)
		out->rm = (b & 7) | ((out->rex & 1) << 3);

	if (flags & F_MODRM) {
		uint8_t mod;

		if (!fetch8(&c, &out->modrm))
			return -1;
		out->has_modrm = true;
		mod = out->modrm >> 6;
		out->reg = ((out->modrm >> 3) & 7) | ((out->rex & 4) << 1);
		out->rm = (out->modrm & 7) | ((out->rex & 1) << 3);
		if (flags & F_GRP)
			flags = group(map, b, out->modrm, p.opsize, out->rep, out->repne, flags);
		if (flags & F_BAD)
			return -1;
		if (flags & F_CTRL)
			mod = 3;
		if (mod == 3 && (flags & F_MEM))
			return -1;
		if (mod != 3 && decode_mem(&c, out, long_mode))
			return -1;
	}

	if (flags & F_BYTE)
		osz = 1;
	else if (flags & F_NATIVE)
		osz = long_mode ? 8 : 4;
	else if (long_mode && (flags & F_F64))
		osz = 8;
	else if (long_mode && (flags & F_D64))
		osz = p.opsize && !rex_w ? 2 : 8;
	else if ((flags & F_OP32) && osz == 8)
		osz = 4;
	/* MOV to a segment register, or from one to memory, always moves 16 bits. */
	if (map == 1 && (b == 0x8e || (b == 0x8c && out->modrm < 0xc0)))
		osz = 2;
	out->operand_size = osz;

	isz = imm_size(IMM_KIND(flags), osz, asz);
	if (isz) {
		if (!fetch(&c, isz, &v))
			return -1;
		if (IMM_KIND(flags) == IMM_MOFFS) {
			out->disp = (int64_t)v;
			out->disp_size = isz;
			out->has_mem_operand = true;
		} else {
			bool is_signed = !(flags & F_UIMM) && IMM_KIND(flags) != IMM_FAR &&
					 IMM_KIND(flags) != IMM_ENTER && IMM_KIND(flags) != IMM_BB;

			out->imm = is_signed ? sign_extend(v, isz) : (int64_t)v;
			out->imm_size = isz;
		}
	}

	if (flags & F_STR) {
		out->is_string = true;
		out->has_mem_operand = true;
	}
	out->is_io = (flags & F_IO) != 0;
	out->len = (uint8_t)c.pos;
	return 0;
}

static uint64_t addr_mask(uint8_t address_size)
{
	return address_size >= 8 ? ~0ull : (1ull << (8 * address_size)) - 1;
}

/* The string operand at rDI: STOS, SCAS and INS have only that one (Intel SDM vol 1, 7.3.9). */
static bool string_dest_only(uint8_t op)
{
	return op == 0xaa || op == 0xab || op == 0xae || op == 0xaf || op == 0x6c || op == 0x6d;
}

/* MOVS and CMPS address both rSI and rDI. */
static bool string_two_operands(uint8_t op)
{
	return op >= 0xa4 && op <= 0xa7;
}

int kb__insn_effective_address(const struct kb_insn *insn, const uint64_t gpr[16],
			       uint64_t next_rip, uint64_t *out_ea, uint64_t *out_ea2)
{
	/*
	 * 16-bit ModRM bases and indexes, Intel SDM vol 2, table 2-1: BX+SI, BX+DI, BP+SI,
	 * BP+DI, SI, DI, BP, BX, as GPR numbers with 8 for "none".
	 */
	static const uint8_t base16[8] = { 3, 3, 5, 5, 6, 7, 5, 3 };
	static const uint8_t index16[8] = { 6, 7, 6, 7, 8, 8, 8, 8 };
	uint64_t mask, ea;
	uint8_t mod, rm3;

	if (!insn || !gpr || !out_ea || !insn->has_mem_operand)
		return -1;
	mask = addr_mask(insn->address_size);

	if (insn->is_string) {
		uint64_t src = gpr[6] & mask, dst = gpr[7] & mask;

		if (string_dest_only(insn->opcode)) {
			*out_ea = dst;
		} else {
			*out_ea = src;
			if (string_two_operands(insn->opcode) && out_ea2)
				*out_ea2 = dst;
		}
		return 0;
	}

	if (!insn->has_modrm) {
		/* moffs: an absolute offset (A0-A3). */
		*out_ea = (uint64_t)insn->disp & mask;
		return 0;
	}

	mod = insn->modrm >> 6;
	rm3 = insn->modrm & 7;
	ea = (uint64_t)insn->disp;
	if (insn->address_size == 2) {
		if (!(mod == 0 && rm3 == 6)) {
			ea += gpr[base16[rm3]];
			if (index16[rm3] < 8)
				ea += gpr[index16[rm3]];
		}
	} else if (insn->has_sib) {
		uint8_t base3 = insn->sib & 7;
		uint8_t index = ((insn->sib >> 3) & 7) | ((insn->rex & 2) << 2);

		if (!(base3 == 5 && mod == 0))
			ea += gpr[insn->rm];
		/* Index 100 without REX.X means no index; with REX.X it is r12 (table 2-5). */
		if (index != 4)
			ea += gpr[index] << (insn->sib >> 6);
	} else if (mod == 0 && rm3 == 5) {
		if (insn->rip_relative)
			ea += next_rip;
	} else {
		ea += gpr[insn->rm];
	}
	*out_ea = ea & mask;
	return 0;
}

int kb__insn_segment(const struct kb_insn *insn, bool second)
{
	uint8_t mod, rm3;
	int def = KB_SEG_DS;

	if (!insn || !insn->has_mem_operand)
		return -1;
	if (insn->is_string) {
		if (string_dest_only(insn->opcode))
			return second ? -1 : KB_SEG_ES;
		if (second)
			return string_two_operands(insn->opcode) ? KB_SEG_ES : -1;
		return insn->seg_override >= 0 ? insn->seg_override : KB_SEG_DS;
	}
	if (second)
		return -1;
	if (insn->seg_override >= 0)
		return insn->seg_override;
	if (!insn->has_modrm)
		return KB_SEG_DS;
	mod = insn->modrm >> 6;
	rm3 = insn->modrm & 7;
	if (insn->address_size == 2) {
		/* Table 2-1 forms based on BP use SS, except [disp16]. */
		if (rm3 == 2 || rm3 == 3 || (rm3 == 6 && mod != 0))
			def = KB_SEG_SS;
	} else if (insn->has_sib) {
		if (!((insn->sib & 7) == 5 && mod == 0) && (insn->rm == 4 || insn->rm == 5))
			def = KB_SEG_SS;
	} else if (!(mod == 0 && rm3 == 5) && (insn->rm == 4 || insn->rm == 5)) {
		def = KB_SEG_SS;
	}
	return def;
}
