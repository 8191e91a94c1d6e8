/* MEM and BELL traps with real guest code (spec §2.2, §3.1): packets, the faulting instruction's
 * address and length, read results through write_state, holes in RAM, unmapped GPAs, bells
 * queued while the VCPU runs, the 256-packet budget, and bells whose guest or port went away. */
#include <pthread.h>
#include <string.h>

#include "harness/guest.h"
#include "harness/test.h"

#define MMIO 0x10000000ull
#define MEM_KEY 0x3e3ull
#define BELL_KEY 0xbe11ull

/* The GUEST_MEM packet of a store at `label` of guest `name` to `addr_`, and its bytes (64-bit
 * code: default operand size 4). */
#define MEM_STORE_AT(name, label, addr_)                                                           \
	{                                                                                          \
		.key = MEM_KEY, .addr = (addr_), .rip = GUEST_LABEL(name, label),                  \
		.len = LABEL_LEN(label), .default_operand_size = 4, .insn = LABEL_BYTES(label),    \
	}
/* The same for a load, whose bytes these tests leave alone. */
#define MEM_LOAD_AT(name, label, addr_)                                                            \
	{                                                                                          \
		.key = MEM_KEY, .addr = (addr_), .rip = GUEST_LABEL(name, label),                  \
		.len = LABEL_LEN(label), .default_operand_size = 4,                                \
	}

/* Enter once and expect the packet of the load at `label`. */
#define ASSERT_LOAD(g, name, label, addr_)                                                         \
	do {                                                                                       \
		const struct mem_want _w[] = {MEM_LOAD_AT(name, label, addr_)};                    \
		ASSERT_MEM_EXITS(g, _w);                                                           \
	} while (0)

/* A guest of `code` with a MEM trap on the page at MMIO. */
static zx_status_t setup_mmio_guest(struct test_guest *g, struct guest_code code)
{
	zx_status_t st = setup_guest(g, code);
	if (st == ZX_OK)
		st = zx_guest_set_trap(g->guest, ZX_GUEST_TRAP_MEM, MMIO, 0x1000, ZX_HANDLE_INVALID,
				       MEM_KEY);
	return st;
}

/* A guest of `code` with a BELL trap of `size` bytes at MMIO on a new port. */
static zx_status_t setup_bell_guest(struct test_guest *g, struct guest_code code, uint64_t size,
				    zx_handle_t *out_port)
{
	zx_handle_t port;
	zx_status_t st = setup_guest(g, code);
	if (st != ZX_OK)
		return st;
	st = zx_port_create(0, &port);
	if (st != ZX_OK)
		return st;
	st = zx_guest_set_trap(g->guest, ZX_GUEST_TRAP_BELL, MMIO, size, port, BELL_KEY);
	if (st != ZX_OK) {
		zx_handle_close(port);
		return st;
	}
	*out_port = port;
	return ZX_OK;
}

/* ---- MEM ---- */

TEST(mem_write_packets)
{
	AUTO_GUEST g;
	ASSERT_OK(setup_mmio_guest(&g, GUEST_CODE(guest_mem_write)));
	const struct mem_want want[] = {
		/* movb $0x11, 0x10000000 */
		MEM_STORE_AT(guest_mem_write, mem_w1, MMIO),
		/* movw $0x2233, 0x102(%rbx) */
		MEM_STORE_AT(guest_mem_write, mem_w2, MMIO + 0x102),
		/* mov %eax, 0x204(%rbx,%rcx,4) */
		MEM_STORE_AT(guest_mem_write, mem_w4, MMIO + 0x210),
		/* mov %rax, disp(%rip) */
		MEM_STORE_AT(guest_mem_write, mem_w8, MMIO + 0x308),
		/* movabs %rax, moffs64 */
		MEM_STORE_AT(guest_mem_write, mem_wmoffs, MMIO + 0x310),
		/* mov %r12w, 0xffe(%rbx): REX and 0x66 */
		MEM_STORE_AT(guest_mem_write, mem_wr12, MMIO + 0xffe),
	};
	ASSERT_MEM_EXITS(&g, want);
	/* Each write was retired once: the guest goes on to the exit port. */
	ASSERT_OK(enter_and_clean_exit(&g));
	zx_vcpu_state_t s;
	ASSERT_OK(read_regs(&g, &s));
	EXPECT_EQ(0x8899aabbccddeeffull, s.rax);
	EXPECT_EQ(MMIO, s.rbx);
}

/* The byte before a store may look like a prefix (mov $0x44, %al ends in 0x44, a REX.R): the
 * reported instruction is the store itself. */
TEST(mem_write_after_prefix_lookalike_byte)
{
	AUTO_GUEST g;
	ASSERT_OK(setup_mmio_guest(&g, GUEST_CODE(guest_mem_prefix_lookalike)));
	const struct mem_want want[] = {
		/* after 0x44 */
		MEM_STORE_AT(guest_mem_prefix_lookalike, mem_pl1, MMIO),
		/* after 0x48, a REX.W */
		MEM_STORE_AT(guest_mem_prefix_lookalike, mem_pl2, MMIO + 8),
		/* after 0x66 */
		MEM_STORE_AT(guest_mem_prefix_lookalike, mem_pl3, MMIO + 0x10),
	};
	ASSERT_MEM_EXITS(&g, want);
	ASSERT_OK(enter_and_clean_exit(&g));
}

/* Segment-relative accesses: addr includes the FS or GS base, and the prefix counts in the
 * instruction. */
TEST(mem_fs_gs_relative)
{
	AUTO_GUEST g;
	ASSERT_OK(setup_mmio_guest(&g, GUEST_CODE(guest_mem_fs_gs)));
	const struct mem_want want[] = {
		MEM_STORE_AT(guest_mem_fs_gs, mem_fs_w, MMIO + 0x20),
		MEM_STORE_AT(guest_mem_fs_gs, mem_gs_r, MMIO + 0x130),
	};
	ASSERT_MEM_EXITS(&g, want);
	zx_vcpu_state_t s;
	ASSERT_OK(read_regs(&g, &s));
	s.rsi = 0x600d;
	ASSERT_OK(write_regs(&g, &s));
	ASSERT_OK(enter_and_clean_exit(&g));
	ASSERT_OK(read_regs(&g, &s));
	EXPECT_EQ(0x600d, s.rsi);
}

/* The VMM's answer to a read is write_state of the destination register; the guest sees exactly
 * that value (spec §3.1, §7 HandlePacket). */
TEST(mem_read_results_through_write_state)
{
	AUTO_GUEST g;
	ASSERT_OK(setup_mmio_guest(&g, GUEST_CODE(guest_mem_read)));
	zx_vcpu_state_t s;

	ASSERT_LOAD(&g, guest_mem_read, mem_r1, MMIO + 0x10); /* mov 0x10(%rbx), %cl */
	ASSERT_OK(read_regs(&g, &s));
	EXPECT_EQ(0x1111111111111111ull, s.rcx);
	s.rcx = 0x11111111111111abull; /* a byte load keeps the upper bytes: the VMM merges */
	ASSERT_OK(write_regs(&g, &s));

	ASSERT_LOAD(&g, guest_mem_read, mem_r2, MMIO + 0x22); /* mov 0x22(%rbx), %dx */
	ASSERT_OK(read_regs(&g, &s));
	EXPECT_EQ(0x11111111111111abull, s.rcx);
	s.rdx = 0x222222222222beefull;
	ASSERT_OK(write_regs(&g, &s));

	ASSERT_LOAD(&g, guest_mem_read, mem_r4, MMIO + 0x34); /* mov 0x34(%rbx), %esi */
	ASSERT_OK(read_regs(&g, &s));
	s.rsi = 0xcafebabeull; /* a 32-bit load zero-extends */
	ASSERT_OK(write_regs(&g, &s));

	ASSERT_LOAD(&g, guest_mem_read, mem_r8, MMIO + 0x48); /* mov 0x10000048, %rdi */
	ASSERT_OK(read_regs(&g, &s));
	s.rdi = 0x0123456789abcdefull;
	ASSERT_OK(write_regs(&g, &s));

	ASSERT_LOAD(&g, guest_mem_read, mem_r8rip, MMIO + 0x50); /* mov disp(%rip), %r9 */
	ASSERT_OK(read_regs(&g, &s));
	s.r9 = 0xfedcba9876543210ull;
	ASSERT_OK(write_regs(&g, &s));

	ASSERT_OK(enter_and_clean_exit(&g));
	ASSERT_OK(read_regs(&g, &s));
	/* The guest copied each loaded register after the load. */
	EXPECT_EQ(0x11111111111111abull, s.r10);
	EXPECT_EQ(0x222222222222beefull, s.r11);
	EXPECT_EQ(0xcafebabeull, s.r12);
	EXPECT_EQ(0x0123456789abcdefull, s.r13);
	EXPECT_EQ(0xfedcba9876543210ull, s.r14);
}

/* Zircon retires the load and leaves the register to the VMM: without write_state the register
 * keeps what it held (spec §2.4 "already retired", §3.1). */
TEST(mem_read_without_write_state_keeps_register)
{
	AUTO_GUEST g;
	ASSERT_OK(setup_mmio_guest(&g, GUEST_CODE(guest_mem_read_keep)));
	ASSERT_LOAD(&g, guest_mem_read_keep, mem_rk, MMIO);
	ASSERT_OK(enter_and_clean_exit(&g));
	zx_vcpu_state_t s;
	ASSERT_OK(read_regs(&g, &s));
	EXPECT_EQ(0x5555aaaa5555aaaaull, s.rax);
	EXPECT_EQ(0x5555aaaa5555aaaaull, s.rbx);
}

/* read_state after the read packet, then writing back an unchanged state: the register still
 * holds its old value (a state round trip must not pick up stale MMIO data). */
TEST(mem_read_state_round_trip_keeps_register)
{
	AUTO_GUEST g;
	ASSERT_OK(setup_mmio_guest(&g, GUEST_CODE(guest_mem_read_keep)));
	zx_port_packet_t p;
	zx_vcpu_state_t s;
	ASSERT_OK(zx_vcpu_enter(g.vcpu, &p));
	EXPECT_EQ(ZX_PKT_TYPE_GUEST_MEM, p.type);
	ASSERT_OK(read_regs(&g, &s));
	EXPECT_EQ(0x5555aaaa5555aaaaull, s.rax);
	ASSERT_OK(write_regs(&g, &s));
	ASSERT_OK(enter_and_clean_exit(&g));
	ASSERT_OK(read_regs(&g, &s));
	EXPECT_EQ(0x5555aaaa5555aaaaull, s.rbx);
}

/* The arithmetic flags (CF PF AF ZF SF OF) as the guest pushed them. */
#define USER_FLAGS 0x8d5ull

/* Set the arithmetic flags to `flags` (with the always-one bit, so write_state takes them). */
static zx_status_t write_flags(struct test_guest *g, zx_vcpu_state_t *s, uint64_t flags)
{
	s->rflags = (s->rflags & ~USER_FLAGS) | flags | 2;
	return write_regs(g, s);
}

/* A read-modify-write is one packet, as in Zircon where the VMM emulates the whole instruction:
 * no second packet for its store, and the guest sees the VMM's flags and registers, or the old
 * ones where the VMM wrote nothing (spec §3.1). */
TEST(mem_read_modify_write_is_one_packet)
{
	AUTO_GUEST g;
	ASSERT_OK(setup_mmio_guest(&g, GUEST_CODE(guest_mem_rmw)));
	zx_vcpu_state_t s;

	ASSERT_LOAD(&g, guest_mem_rmw, mem_rmw_or, MMIO + 0x40); /* orl $0x10, 0x40(%rbx) */
	ASSERT_OK(read_regs(&g, &s));
	EXPECT_EQ(0x44ull, s.rflags & USER_FLAGS); /* ZF PF of the xor before it */
	ASSERT_OK(write_flags(&g, &s, 0x80));      /* the VMM's result had SF set */

	ASSERT_LOAD(&g, guest_mem_rmw, mem_rmw_xchg, MMIO + 0x48); /* xchg %rcx, 0x48(%rbx) */
	ASSERT_OK(read_regs(&g, &s));
	EXPECT_EQ(0x80ull, s.rflags & USER_FLAGS);
	EXPECT_EQ(0x1234ull, s.rcx);
	s.rcx = 0xabcdef0123ull;
	ASSERT_OK(write_regs(&g, &s));

	/* incl 0x50(%rbx), and this time the VMM writes nothing. */
	ASSERT_LOAD(&g, guest_mem_rmw, mem_rmw_inc, MMIO + 0x50);
	ASSERT_OK(enter_and_clean_exit(&g));
	ASSERT_OK(read_regs(&g, &s));
	EXPECT_EQ(0x80ull, s.r10 & USER_FLAGS);
	EXPECT_EQ(0xabcdef0123ull, s.r11);
	EXPECT_EQ(0x80ull, s.r12 & USER_FLAGS);
}

/* Reads that compute flags from the value read: the flags are the VMM's (write_state), never
 * ones computed from data the VMM did not supply; also after a plain load whose VMM changes
 * RFLAGS. */
TEST(mem_read_flags_come_from_write_state)
{
	AUTO_GUEST g;
	ASSERT_OK(setup_mmio_guest(&g, GUEST_CODE(guest_mem_read_flags)));
	zx_vcpu_state_t s;

	/* testl $1: the device bit was set, so ZF and PF clear. */
	ASSERT_LOAD(&g, guest_mem_read_flags, mem_f_test, MMIO + 0x60);
	ASSERT_OK(read_regs(&g, &s));
	ASSERT_OK(write_flags(&g, &s, 0));

	/* cmp 0x68(%rbx), %rcx with 9 there: 5 - 9 sets CF SF AF. */
	ASSERT_LOAD(&g, guest_mem_read_flags, mem_f_cmp, MMIO + 0x68);
	ASSERT_OK(read_regs(&g, &s));
	ASSERT_OK(write_flags(&g, &s, 0x91));

	/* add 0x70(%rbx), %rdx with -7 there: 7 + -7 = 0 with CF PF AF ZF. */
	ASSERT_LOAD(&g, guest_mem_read_flags, mem_f_add, MMIO + 0x70);
	ASSERT_OK(read_regs(&g, &s));
	EXPECT_EQ(7ull, s.rdx);
	s.rdx = 0;
	ASSERT_OK(write_flags(&g, &s, 0x55));

	/* mov 0x78(%rbx), %esi, and the VMM also sets CF. */
	ASSERT_LOAD(&g, guest_mem_read_flags, mem_f_mov, MMIO + 0x78);
	ASSERT_OK(read_regs(&g, &s));
	s.rsi = 0x1234;
	ASSERT_OK(write_flags(&g, &s, 0x01));

	ASSERT_OK(enter_and_clean_exit(&g));
	ASSERT_OK(read_regs(&g, &s));
	EXPECT_EQ(0ull, s.r10 & USER_FLAGS);
	EXPECT_EQ(0x91ull, s.r11 & USER_FLAGS);
	EXPECT_EQ(0x55ull, s.r12 & USER_FLAGS);
	EXPECT_EQ(0ull, s.r13);
	EXPECT_EQ(0x01ull, s.r14 & USER_FLAGS);
	EXPECT_EQ(0x1234ull, s.r15);
}

/* A guest access past the end of a mapping's VMO (mapped with ZX_VM_ALLOW_FAULTS) fails the
 * enter with OUT_OF_RANGE; the part the VMO backs is ordinary RAM (spec §3.1, §4). */
TEST(mem_past_vmo_end_out_of_range)
{
	AUTO_GUEST g;
	ASSERT_OK(setup_guest(&g, GUEST_CODE(guest_mem_past_vmo_end)));
	ASSERT_OK(zx_guest_set_trap(g.guest, ZX_GUEST_TRAP_IO, 0x10, 1, ZX_HANDLE_INVALID, 0x10));
	zx_handle_t vmo;
	zx_vaddr_t addr;
	ASSERT_OK(zx_vmo_create(0x1000, 0, &vmo));
	zx_status_t st = zx_vmar_map(g.vmar,
				     ZX_VM_PERM_READ | ZX_VM_PERM_WRITE | ZX_VM_SPECIFIC |
					     ZX_VM_ALLOW_FAULTS,
				     0x400000, vmo, 0, 0x2000, &addr);
	zx_handle_close(vmo);
	ASSERT_OK(st);
	zx_port_packet_t p;
	ASSERT_OK(zx_vcpu_enter(g.vcpu, &p));
	EXPECT_EQ(ZX_PKT_TYPE_GUEST_IO, p.type);
	EXPECT_EQ(0x10, p.guest_io.port);
	zx_vcpu_state_t s;
	ASSERT_OK(read_regs(&g, &s));
	EXPECT_EQ(0x1234ull, s.rcx);
	EXPECT_STATUS(ZX_ERR_OUT_OF_RANGE, zx_vcpu_enter(g.vcpu, &p));
}

/* A trap covers exactly [addr, addr + size): both ends trap, the byte after is unmapped. */
TEST(mem_trap_range_ends)
{
	AUTO_GUEST g;
	ASSERT_OK(setup_guest(&g, GUEST_CODE(guest_mem_range)));
	ASSERT_OK(zx_guest_set_trap(g.guest, ZX_GUEST_TRAP_MEM, MMIO, 0x3000, ZX_HANDLE_INVALID,
				    0x9));
	zx_port_packet_t p;
	ASSERT_OK(zx_vcpu_enter(g.vcpu, &p));
	EXPECT_EQ(ZX_PKT_TYPE_GUEST_MEM, p.type);
	EXPECT_EQ(0x9, p.key);
	EXPECT_EQ(MMIO, p.guest_mem.addr);
	ASSERT_OK(zx_vcpu_enter(g.vcpu, &p));
	EXPECT_EQ(ZX_PKT_TYPE_GUEST_MEM, p.type);
	EXPECT_EQ(MMIO + 0x2ffc, p.guest_mem.addr);
	EXPECT_STATUS(ZX_ERR_NOT_FOUND, zx_vcpu_enter(g.vcpu, &p));
}

/* Two traps side by side: each packet carries its own trap's key. */
TEST(mem_trap_keys_per_trap)
{
	AUTO_GUEST g;
	ASSERT_OK(setup_guest(&g, GUEST_CODE(guest_mem_range)));
	ASSERT_OK(zx_guest_set_trap(g.guest, ZX_GUEST_TRAP_MEM, MMIO, 0x1000, ZX_HANDLE_INVALID,
				    0xa1));
	ASSERT_OK(zx_guest_set_trap(g.guest, ZX_GUEST_TRAP_MEM, MMIO + 0x1000, 0x2000,
				    ZX_HANDLE_INVALID, 0xa2));
	ASSERT_OK(zx_guest_set_trap(g.guest, ZX_GUEST_TRAP_MEM, MMIO + 0x3000, 0x1000,
				    ZX_HANDLE_INVALID, 0xa3));
	static const uint64_t want[][2] = {
		{MMIO, 0xa1}, {MMIO + 0x2ffc, 0xa2}, {MMIO + 0x3000, 0xa3}};
	for (size_t i = 0; i < 3; i++) {
		zx_port_packet_t p;
		ASSERT_OK(zx_vcpu_enter(g.vcpu, &p));
		EXPECT_EQ(ZX_PKT_TYPE_GUEST_MEM, p.type);
		EXPECT_EQ(want[i][0], p.guest_mem.addr);
		EXPECT_EQ(want[i][1], p.key);
	}
	ASSERT_OK(enter_and_clean_exit(&g));
}

/* guest_mem.cr3 is the guest's CR3 at the access, not the initial 0. */
TEST(mem_packet_reports_current_cr3)
{
	AUTO_GUEST g;
	ASSERT_OK(setup_mmio_guest(&g, GUEST_CODE(guest_mem_cr3)));
	zx_port_packet_t p;
	ASSERT_OK(zx_vcpu_enter(g.vcpu, &p));
	EXPECT_EQ(ZX_PKT_TYPE_GUEST_MEM, p.type);
	EXPECT_EQ(0, p.guest_mem.cr3);
	ASSERT_OK(zx_vcpu_enter(g.vcpu, &p));
	EXPECT_EQ(ZX_PKT_TYPE_GUEST_MEM, p.type);
	EXPECT_EQ(0x7000, p.guest_mem.cr3);
	EXPECT_EQ(MMIO, p.guest_mem.addr);
	ASSERT_OK(enter_and_clean_exit(&g));
}

/* A MEM trap inside RAM unmaps that page (spec §2.2): guest accesses trap and do not reach the
 * VMO, while the next page is still RAM. */
TEST(mem_trap_in_ram_is_a_hole)
{
	AUTO_GUEST g;
	ASSERT_OK(setup_guest(&g, GUEST_CODE(guest_mem_hole)));
	uint32_t pattern = 0xdeadbeef;
	ASSERT_OK(zx_vmo_write(g.vmo, &pattern, 0x100000, sizeof(pattern)));
	ASSERT_OK(zx_guest_set_trap(g.guest, ZX_GUEST_TRAP_MEM, 0x100000, 0x1000, ZX_HANDLE_INVALID,
				    MEM_KEY));
	zx_port_packet_t p;
	zx_vcpu_state_t s;
	ASSERT_OK(zx_vcpu_enter(g.vcpu, &p)); /* movl $0x11223344, 0x100000 */
	EXPECT_EQ(ZX_PKT_TYPE_GUEST_MEM, p.type);
	EXPECT_EQ(0x100000, p.guest_mem.addr);
	EXPECT_EQ(MEM_KEY, p.key);
	ASSERT_OK(zx_vcpu_enter(g.vcpu, &p)); /* mov 0x100000, %edx */
	EXPECT_EQ(ZX_PKT_TYPE_GUEST_MEM, p.type);
	EXPECT_EQ(0x100000, p.guest_mem.addr);
	ASSERT_OK(read_regs(&g, &s));
	s.rdx = 0x5a5a;
	ASSERT_OK(write_regs(&g, &s));
	ASSERT_OK(enter_and_clean_exit(&g));
	ASSERT_OK(read_regs(&g, &s));
	EXPECT_EQ(0xaabbccdd, s.rcx); /* RAM next to the hole */
	EXPECT_EQ(0x5a5a, s.rdx);     /* from the VMM, not the VMO's 0xdeadbeef */
	uint32_t hole, ram;
	ASSERT_OK(zx_vmo_read(g.vmo, &hole, 0x100000, sizeof(hole)));
	ASSERT_OK(zx_vmo_read(g.vmo, &ram, 0x101000, sizeof(ram)));
	EXPECT_EQ(0xdeadbeef, hole);
	EXPECT_EQ(0xaabbccdd, ram);
}

/* No trap and no RAM at the GPA (spec §2.4, §3.1): NOT_FOUND for writes and reads. */
TEST(mem_unmapped_write_not_found)
{
	AUTO_GUEST g;
	ASSERT_OK(setup_guest(&g, GUEST_CODE(guest_mem_unmapped_write)));
	zx_port_packet_t p;
	EXPECT_STATUS(ZX_ERR_NOT_FOUND, zx_vcpu_enter(g.vcpu, &p));
}

TEST(mem_unmapped_read_not_found)
{
	AUTO_GUEST g;
	ASSERT_OK(setup_guest(&g, GUEST_CODE(guest_mem_unmapped_read)));
	zx_port_packet_t p;
	EXPECT_STATUS(ZX_ERR_NOT_FOUND, zx_vcpu_enter(g.vcpu, &p));
}

/* Unmapping guest RAM makes its GPAs unmapped again. */
TEST(mem_unmapped_after_vmar_unmap)
{
	AUTO_GUEST g;
	ASSERT_OK(setup_guest(&g, GUEST_CODE(guest_mem_hole)));
	ASSERT_OK(zx_vmar_unmap(g.vmar, 0x100000, 0x2000));
	zx_port_packet_t p;
	EXPECT_STATUS(ZX_ERR_NOT_FOUND, zx_vcpu_enter(g.vcpu, &p));
}

/* ---- BELL ---- */

static zx_status_t expect_bell(zx_handle_t port, uint64_t key, uint64_t addr)
{
	zx_port_packet_t p;
	zx_status_t st = zx_port_wait(port, 0, &p);
	if (st != ZX_OK)
		return st;
	if (p.type != ZX_PKT_TYPE_GUEST_BELL || p.key != key || p.status != ZX_OK ||
	    p.guest_bell.addr != addr) {
		test_fail(__FILE__, __LINE__,
			  "expected a bell at %#lx key %#lx, got type %s key %#lx addr %#lx", addr,
			  key, packet_type_name(p.type), p.key, p.guest_bell.addr);
		return ZX_ERR_INTERNAL;
	}
	return ZX_OK;
}

/* Bell writes queue packets on the port while the VCPU keeps running: one enter return (the
 * exit port) and one packet per write, addr = the exact GPA (spec §2.2). */
TEST(bell_writes_queue_packets_without_exit)
{
	AUTO_GUEST g;
	zx_handle_t port;
	ASSERT_OK(setup_bell_guest(&g, GUEST_CODE(guest_bell_writes), 0x2000, &port));
	ASSERT_OK(enter_and_clean_exit(&g));
	static const uint64_t addrs[] = {MMIO, MMIO + 0x12, MMIO + 0x1004, MMIO + 0x1ff8,
					 MMIO + 0x40};
	for (size_t i = 0; i < 5; i++)
		EXPECT_STATUS(ZX_OK, expect_bell(port, BELL_KEY, addrs[i]));
	zx_port_packet_t p;
	EXPECT_STATUS(ZX_ERR_TIMED_OUT, zx_port_wait(port, 0, &p));
	zx_vcpu_state_t s;
	ASSERT_OK(read_regs(&g, &s));
	EXPECT_EQ(0x77, s.rcx);
	zx_handle_close(port);
}

/* Reading a bell region is not supported (spec §3.1). */
TEST(bell_read_not_supported)
{
	AUTO_GUEST g;
	zx_handle_t port;
	ASSERT_OK(setup_bell_guest(&g, GUEST_CODE(guest_bell_read), 0x1000, &port));
	zx_port_packet_t p;
	EXPECT_STATUS(ZX_ERR_NOT_SUPPORTED, zx_vcpu_enter(g.vcpu, &p));
	EXPECT_STATUS(ZX_ERR_TIMED_OUT, zx_port_wait(port, 0, &p));
	zx_handle_close(port);
}

/* Bells and user packets share the port's FIFO. */
TEST(bell_and_user_packets_in_order)
{
	AUTO_GUEST g;
	zx_handle_t port;
	ASSERT_OK(setup_bell_guest(&g, GUEST_CODE(guest_bell_one), 0x1000, &port));
	zx_port_packet_t user = {.key = 1, .type = ZX_PKT_TYPE_USER};
	ASSERT_OK(zx_port_queue(port, &user));
	ASSERT_OK(enter_and_clean_exit(&g));
	user.key = 2;
	ASSERT_OK(zx_port_queue(port, &user));
	zx_port_packet_t p;
	ASSERT_OK(zx_port_wait(port, 0, &p));
	EXPECT_EQ(ZX_PKT_TYPE_USER, p.type);
	EXPECT_EQ(1, p.key);
	EXPECT_STATUS(ZX_OK, expect_bell(port, BELL_KEY, MMIO));
	ASSERT_OK(zx_port_wait(port, 0, &p));
	EXPECT_EQ(ZX_PKT_TYPE_USER, p.type);
	EXPECT_EQ(2, p.key);
	zx_handle_close(port);
}

/* The 256-packet budget (spec §2.2): the drainer learns from a second trap's bell (port B) that
 * the guest wrote 256 bells to port A; the 257th must then wait for a dequeue, so the guest's
 * "257 written" bell cannot arrive before the drainer takes one packet from A. */
/* guest_bell_flood with its bell pages: MMIO on port A (key 0xa), where it writes 300 bells, and
 * MMIO + 0x1000 on port B (key 0xb), where it reports its progress. */
static zx_status_t setup_flood_guest(struct test_guest *g, zx_handle_t *port_a, zx_handle_t *port_b)
{
	zx_status_t st = setup_guest(g, GUEST_CODE(guest_bell_flood));
	if (st == ZX_OK)
		st = zx_port_create(0, port_a);
	if (st == ZX_OK)
		st = zx_port_create(0, port_b);
	if (st == ZX_OK)
		st = zx_guest_set_trap(g->guest, ZX_GUEST_TRAP_BELL, MMIO, 0x1000, *port_a, 0xa);
	if (st == ZX_OK)
		st = zx_guest_set_trap(g->guest, ZX_GUEST_TRAP_BELL, MMIO + 0x1000, 0x1000, *port_b,
				       0xb);
	return st;
}

struct flood {
	zx_handle_t port_a, port_b;
	zx_status_t before_dequeue; /* port B wait with a deadline before any A dequeue */
	bool got_256, got_257, order_ok;
	uint64_t bad_addr;
	int received;	  /* A packets */
	zx_status_t tail; /* A after all 300: must be empty */
};

#define FLOOD_ABORT_KEY 0xab0

static bool flood_wait(zx_handle_t port, zx_port_packet_t *p)
{
	return zx_port_wait(port, ZX_TIME_INFINITE, p) == ZX_OK &&
	       !(p->type == ZX_PKT_TYPE_USER && p->key == FLOOD_ABORT_KEY);
}

static void *flood_drainer(void *arg)
{
	struct flood *f = arg;
	zx_port_packet_t p;
	if (!flood_wait(f->port_b, &p))
		return NULL;
	f->got_256 = p.type == ZX_PKT_TYPE_GUEST_BELL && p.guest_bell.addr == MMIO + 0x1000;
	/* A deadline, not a sleep: with the VCPU blocked at 256 this always times out. */
	f->before_dequeue = zx_port_wait(f->port_b, deadline_after_ms(50), &p);
	if (f->before_dequeue == ZX_OK && p.type == ZX_PKT_TYPE_USER)
		return NULL;
	f->order_ok = true;
	for (int i = 0; i < 300; i++) {
		if (!flood_wait(f->port_a, &p))
			return NULL;
		f->received++;
		if (p.type != ZX_PKT_TYPE_GUEST_BELL || p.guest_bell.addr != MMIO + 4u * i) {
			f->order_ok = false;
			f->bad_addr = p.guest_bell.addr;
		}
		if (i == 0 && f->before_dequeue == ZX_ERR_TIMED_OUT) {
			/* One packet out: the 257th goes in and the guest says so. */
			if (!flood_wait(f->port_b, &p))
				return NULL;
			f->got_257 = p.guest_bell.addr == MMIO + 0x1004;
		}
	}
	f->tail = zx_port_wait(f->port_a, 0, &p);
	return NULL;
}

TEST(bell_256_outstanding_block_the_vcpu)
{
	AUTO_GUEST g;
	struct flood f = {0};
	ASSERT_OK(setup_flood_guest(&g, &f.port_a, &f.port_b));
	pthread_t t;
	ASSERT_TRUE(pthread_create(&t, NULL, flood_drainer, &f) == 0);
	zx_port_packet_t p;
	zx_status_t st = zx_vcpu_enter(g.vcpu, &p);
	if (st != ZX_OK) {
		/* Unblock the drainer wherever it waits. */
		zx_port_packet_t abort = {.key = FLOOD_ABORT_KEY, .type = ZX_PKT_TYPE_USER};
		zx_port_queue(f.port_a, &abort);
		zx_port_queue(f.port_b, &abort);
		zx_port_queue(f.port_b, &abort);
	}
	pthread_join(t, NULL);
	EXPECT_STATUS(ZX_OK, st);
	EXPECT_EQ(ZX_PKT_TYPE_GUEST_IO, p.type);
	EXPECT_EQ(GUEST_EXIT_PORT, p.guest_io.port);
	EXPECT_TRUE(f.got_256);
	EXPECT_STATUS(ZX_ERR_TIMED_OUT, f.before_dequeue);
	EXPECT_TRUE(f.got_257);
	EXPECT_EQ(300, f.received);
	if (!f.order_ok)
		test_fail(__FILE__, __LINE__, "bell out of order: addr %#lx", f.bad_addr);
	EXPECT_STATUS(ZX_ERR_TIMED_OUT, f.tail);
	EXPECT_STATUS(ZX_ERR_TIMED_OUT, zx_port_wait(f.port_b, 0, &p));
	zx_handle_close(f.port_a);
	zx_handle_close(f.port_b);
}

/* A kick while the VCPU waits for bell budget ends that enter with CANCELED, and the bell whose
 * write was already retired is still delivered: after resuming, all 300 arrive in order. */
struct kick_bell {
	zx_handle_t vcpu, port_a, port_b;
	zx_status_t kick;
	int received;
	bool order_ok;
};

static void *kick_after_256(void *arg)
{
	struct kick_bell *k = arg;
	zx_port_packet_t p;
	if (zx_port_wait(k->port_b, ZX_TIME_INFINITE, &p) == ZX_OK)
		k->kick = zx_vcpu_kick(k->vcpu);
	return NULL;
}

static void *drain_until_abort(void *arg)
{
	struct kick_bell *k = arg;
	zx_port_packet_t p;
	k->order_ok = true;
	while (zx_port_wait(k->port_a, ZX_TIME_INFINITE, &p) == ZX_OK &&
	       p.type == ZX_PKT_TYPE_GUEST_BELL) {
		if (p.guest_bell.addr != MMIO + 4u * (uint64_t)k->received)
			k->order_ok = false;
		k->received++;
	}
	return NULL;
}

TEST(bell_kick_while_blocked_keeps_the_bell)
{
	AUTO_GUEST g;
	struct kick_bell k = {0};
	ASSERT_OK(setup_flood_guest(&g, &k.port_a, &k.port_b));
	k.vcpu = g.vcpu;
	pthread_t t;
	ASSERT_TRUE(pthread_create(&t, NULL, kick_after_256, &k) == 0);
	zx_port_packet_t p;
	zx_status_t st = zx_vcpu_enter(g.vcpu, &p);
	if (st != ZX_ERR_CANCELED) {
		zx_port_packet_t abort = {.type = ZX_PKT_TYPE_USER};
		zx_port_queue(k.port_b, &abort);
	}
	pthread_join(t, NULL);
	ASSERT_STATUS(ZX_ERR_CANCELED, st);
	EXPECT_STATUS(ZX_OK, k.kick);

	ASSERT_TRUE(pthread_create(&t, NULL, drain_until_abort, &k) == 0);
	st = zx_vcpu_enter(g.vcpu, &p);
	/* Every bell is queued once the guest reached the exit port: end the drainer after them. */
	zx_port_packet_t abort = {.type = ZX_PKT_TYPE_USER};
	zx_port_queue(k.port_a, &abort);
	pthread_join(t, NULL);
	EXPECT_STATUS(ZX_OK, st);
	EXPECT_EQ(ZX_PKT_TYPE_GUEST_IO, p.type);
	EXPECT_EQ(300, k.received);
	EXPECT_TRUE(k.order_ok);
	zx_handle_close(k.port_a);
	zx_handle_close(k.port_b);
}

/* Destroying the guest cancels its queued bell packets but not user packets with the same key
 * on the same port (spec §2.2). */
TEST(bell_packets_cancelled_with_guest)
{
	AUTO_GUEST g;
	zx_handle_t port;
	ASSERT_OK(setup_bell_guest(&g, GUEST_CODE(guest_bell_writes), 0x2000, &port));
	zx_port_packet_t user = {.key = BELL_KEY, .type = ZX_PKT_TYPE_USER, .user.u64 = {1}};
	ASSERT_OK(zx_port_queue(port, &user));
	ASSERT_OK(enter_and_clean_exit(&g));
	user.user.u64[0] = 2;
	ASSERT_OK(zx_port_queue(port, &user));
	teardown_guest(&g);
	zx_port_packet_t p;
	for (uint64_t i = 1; i <= 2; i++) {
		ASSERT_OK(zx_port_wait(port, 0, &p));
		EXPECT_EQ(ZX_PKT_TYPE_USER, p.type);
		EXPECT_EQ(BELL_KEY, p.key);
		EXPECT_EQ(i, p.user.u64[0]);
	}
	EXPECT_STATUS(ZX_ERR_TIMED_OUT, zx_port_wait(port, 0, &p));
	zx_handle_close(port);
}

/* The same when only the guest handle is closed: the last guest handle destroys the traps
 * (spec §4 zx_handle_close), even while the VCPU and the VMAR are still open. */
TEST(bell_packets_cancelled_with_last_guest_handle)
{
	AUTO_GUEST g;
	zx_handle_t port;
	ASSERT_OK(setup_bell_guest(&g, GUEST_CODE(guest_bell_writes), 0x2000, &port));
	ASSERT_OK(enter_and_clean_exit(&g));
	zx_port_packet_t user = {.key = BELL_KEY, .type = ZX_PKT_TYPE_USER};
	ASSERT_OK(zx_port_queue(port, &user));
	ASSERT_OK(zx_handle_close(g.guest));
	g.guest = ZX_HANDLE_INVALID;
	zx_port_packet_t p;
	ASSERT_OK(zx_port_wait(port, 0, &p));
	EXPECT_EQ(ZX_PKT_TYPE_USER, p.type);
	EXPECT_STATUS(ZX_ERR_TIMED_OUT, zx_port_wait(port, 0, &p));
	zx_handle_close(port);
}

/* A bell whose port has no handle left: enter fails BAD_STATE, and the write was retired, so the
 * next enter continues after it (spec §2.2). */
TEST(bell_port_closed_bad_state)
{
	AUTO_GUEST g;
	zx_handle_t port;
	ASSERT_OK(setup_bell_guest(&g, GUEST_CODE(guest_bell_one), 0x1000, &port));
	ASSERT_OK(zx_handle_close(port));
	zx_port_packet_t p;
	EXPECT_STATUS(ZX_ERR_BAD_STATE, zx_vcpu_enter(g.vcpu, &p));
	ASSERT_OK(enter_and_clean_exit(&g));
}

/* A duplicate of the port keeps the bells deliverable after the original handle is closed. */
TEST(bell_port_duplicate_keeps_delivering)
{
	AUTO_GUEST g;
	zx_handle_t port, dup;
	ASSERT_OK(setup_guest(&g, GUEST_CODE(guest_bell_one)));
	ASSERT_OK(zx_port_create(0, &port));
	ASSERT_OK(zx_handle_duplicate(port, ZX_RIGHT_SAME_RIGHTS, &dup));
	ASSERT_OK(zx_guest_set_trap(g.guest, ZX_GUEST_TRAP_BELL, MMIO, 0x1000, port, BELL_KEY));
	ASSERT_OK(zx_handle_close(port));
	ASSERT_OK(enter_and_clean_exit(&g));
	EXPECT_STATUS(ZX_OK, expect_bell(dup, BELL_KEY, MMIO));
	zx_handle_close(dup);
}
