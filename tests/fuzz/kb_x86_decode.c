/* Fuzz target: the x86 instruction decoder kvm_backend runs on guest bytes at MMIO and port-IO
 * exits (kb__insn_decode, kb__insn_effective_address, kb__insn_segment). The bytes are in a
 * heap block of exactly the size passed, so ASan sees any read past them. A decoded
 * instruction must have sane sizes, must not depend on the bytes after it (decoding only its
 * own bytes gives the same result) and must fit in what it was given. */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "x86-decode-internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool same(const struct kb_insn *a, const struct kb_insn *b)
{
	return a->len == b->len && a->opcode_map == b->opcode_map && a->opcode == b->opcode &&
	       a->operand_size == b->operand_size && a->address_size == b->address_size &&
	       a->has_modrm == b->has_modrm && a->modrm == b->modrm && a->has_sib == b->has_sib &&
	       a->disp == b->disp && a->imm == b->imm && a->rex == b->rex &&
	       a->seg_override == b->seg_override && a->has_mem_operand == b->has_mem_operand &&
	       a->is_string == b->is_string && a->is_io == b->is_io;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	struct fz_reader rd = {data, size};
	uint8_t how = fz_u8(&rd);
	enum kb_cpu_mode mode = (enum kb_cpu_mode)(how & 3);
	uint64_t gpr[16] = {0};
	if (how & 4)
		for (int i = 0; i < 16; i++)
			gpr[i] = fz_u64(&rd);
	size_t n = rd.n < 20 ? rd.n : 20;
	uint8_t *bytes = malloc(n ? n : 1);
	memcpy(bytes, rd.p, n);

	struct kb_insn insn;
	memset(&insn, 0xa5, sizeof(insn));
	if (kb__insn_decode(bytes, n, mode, &insn) == 0) {
		FZ_CHECK(insn.len >= 1 && insn.len <= KB_INSN_MAX_LEN && insn.len <= n,
			 "len %u of %zu bytes", insn.len, n);
		FZ_CHECK(insn.operand_size == 1 || insn.operand_size == 2 ||
				 insn.operand_size == 4 || insn.operand_size == 8,
			 "operand size %u", insn.operand_size);
		FZ_CHECK(insn.address_size == 2 || insn.address_size == 4 || insn.address_size == 8,
			 "address size %u", insn.address_size);
		FZ_CHECK(insn.opcode_map >= 1 && insn.opcode_map <= 4, "map %u", insn.opcode_map);
		FZ_CHECK(insn.reg < 16 && insn.rm < 16, "reg %u rm %u", insn.reg, insn.rm);
		FZ_CHECK(insn.seg_override >= -1 && insn.seg_override <= KB_SEG_GS, "seg %d",
			 insn.seg_override);
		FZ_CHECK(mode == KB_MODE_LONG64 || insn.rex == 0, "REX %#x outside 64-bit mode",
			 insn.rex);
		/* The instruction alone decodes the same. */
		uint8_t *own = malloc(insn.len);
		memcpy(own, bytes, insn.len);
		struct kb_insn again;
		memset(&again, 0x5a, sizeof(again));
		FZ_CHECK(kb__insn_decode(own, insn.len, mode, &again) == 0 && same(&insn, &again),
			 "decodes differently from its own %u bytes", insn.len);
		free(own);
		uint64_t ea = 0, ea2 = 0;
		kb__insn_effective_address(&insn, gpr, 0x1000 + insn.len, &ea, &ea2);
		for (int second = 0; second < 2; second++) {
			int seg = kb__insn_segment(&insn, second);
			FZ_CHECK(seg >= -1 && seg <= KB_SEG_GS, "segment %d", seg);
		}
	}
	free(bytes);
	return 0;
}
