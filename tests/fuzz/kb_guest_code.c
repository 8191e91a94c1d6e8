/* Fuzz target: arbitrary guest code on a fresh BSP, through kb_vcpu_enter's exit handling
 * (port IO and string IO, MMIO and bells with the instruction decoder, x2APIC and TSC-deadline
 * MSRs, CPUID, VMCALL and emulation fix-ups, HLT, shutdowns). Nothing a guest does may crash
 * the process, hang an enter past the watchdog, or make an enter answer something but a
 * packet or a status. Input: flags (bits 0-2: enters - 1; bit 3: a vector to interrupt with
 * follows; bit 4: answer every `in` with write_state(IO); bit 5: answer every MEM packet with
 * write_state of changed registers and flags), then the code, at the entry. */
#include <string.h>

#include <zircon/errors.h>

#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_CODE 512

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct fz_guest g;
	static uint8_t code[MAX_CODE + 16];

	static int trace = -1;
	if (trace < 0)
		trace = getenv("FZ_TRACE") != NULL;
	fz_init();
	/* Guest code runs ~1 µs per instruction here: a few thousand, then the kick. */
	fz.enter_budget_ms = 5;
	if (!fz_guest_ready(&g, false))
		return 0;
	struct fz_reader rd = {data, size};
	uint8_t flags = fz_u8(&rd);
	uint32_t vector = (flags & 8) ? fz_u8(&rd) : 0;
	size_t n = rd.n < MAX_CODE ? rd.n : MAX_CODE;
	memcpy(code, rd.p, n);
	/* Past the code, `out %al, $0xf4` over and over: falling off the end exits. */
	for (size_t i = n; i + 1 < sizeof(code); i += 2) {
		code[i] = 0xe6;
		code[i + 1] = 0xf4;
	}
	if (fz_ram_fill(g.ram, code, sizeof(code)) != ZX_OK || fz_guest_new_bsp(&g) != ZX_OK) {
		fz_guest_destroy(&g);
		return 0;
	}
	if (flags & 8)
		FZ_CHECK(kb_vcpu_interrupt(fz.table, g.vcpu, vector) == ZX_OK, "interrupt");

	for (int i = 0; i <= (flags & 7); i++) {
		zx_port_packet_t p;
		memset(&p, 0, sizeof(p));
		zx_status_t st = fz_enter(fz.tid, g.vcpu, &p);
		if (trace)
			fprintf(stderr, "fuzz: enter %d: %d type %u key %lu\n", i, st, p.type, p.key);
		if (st != ZX_OK)
			break;
		FZ_CHECK(p.type == ZX_PKT_TYPE_GUEST_IO || p.type == ZX_PKT_TYPE_GUEST_MEM ||
				 p.type == ZX_PKT_TYPE_GUEST_VCPU,
			 "packet type %u", p.type);
		if (p.type == ZX_PKT_TYPE_GUEST_IO) {
			FZ_CHECK(p.key == 1 && p.guest_io.port >= FZ_IO_PORT &&
					 p.guest_io.port < FZ_IO_PORT + 4,
				 "IO packet key %lu port %#x", p.key, p.guest_io.port);
			FZ_CHECK(p.guest_io.access_size == 1 || p.guest_io.access_size == 2 ||
					 p.guest_io.access_size == 4,
				 "IO access size %u", p.guest_io.access_size);
			if (p.guest_io.input && (flags & 0x10)) {
				zx_vcpu_io_t io = {.access_size = p.guest_io.access_size};
				memcpy(io.data, "\x5a\xa5\x5a\xa5", 4);
				FZ_CHECK(kb_vcpu_write_state(fz.table, fz.tid, g.vcpu, ZX_VCPU_IO, &io,
							     sizeof(io)) == ZX_OK,
					 "write IO");
			}
		} else if (p.type == ZX_PKT_TYPE_GUEST_MEM) {
			FZ_CHECK(p.key == 2 && p.guest_mem.addr >= FZ_MEM_TRAP &&
					 p.guest_mem.addr < FZ_MEM_TRAP + 0x1000,
				 "MEM packet key %lu addr %#lx", p.key, p.guest_mem.addr);
			FZ_CHECK(p.guest_mem.instruction_size <= 15, "instruction size %u",
				 p.guest_mem.instruction_size);
			if (flags & 0x20) {
				/* A VMM's answer: registers and flags of its own (the retirement
				 * of reads and read-modify-writes, vcpu.c). */
				zx_vcpu_state_t s;
				FZ_CHECK(kb_vcpu_read_state(fz.table, fz.tid, g.vcpu, ZX_VCPU_STATE,
							    &s, sizeof(s)) == ZX_OK,
					 "read state");
				s.rax ^= 0x5aa5;
				s.rflags ^= 0x8d5;
				FZ_CHECK(kb_vcpu_write_state(fz.table, fz.tid, g.vcpu, ZX_VCPU_STATE,
							     &s, sizeof(s)) == ZX_OK,
					 "write state");
			}
		}
	}
	/* The next input makes its own VCPU, so a late kick of the watchdog lands on this one. */
	fz_guest_drain(&g);
	return 0;
}
