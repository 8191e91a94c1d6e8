/* Guest-caused failures of zx_vcpu_enter (spec §2.4, §3.2): triple faults, port IO nothing
 * traps, string IO, instructions the platform cannot run; none of them may hurt the process. And
 * guests outside 64-bit mode: compatibility mode, 16-bit and legacy 32-bit protected mode and
 * real mode, with MEM packets whose default_operand_size, rip and instruction_size follow the
 * code segment (spec §3.1). */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness/guest.h"
#include "harness/test.h"

#define MMIO 0x10000000ull
#define MEM_KEY 0x3e3ull
#define IO_KEY 0x10ull

/* The GUEST_MEM packet of the instruction at `label`, whose RIP is `rip_` (an offset from the CS
 * base), in code of default operand size `dos`. */
#define MEM_AT(addr_, rip_, label, dos)                                                            \
	{                                                                                          \
		.key = MEM_KEY, .addr = (addr_), .rip = (rip_), .len = LABEL_LEN(label),           \
		.default_operand_size = (dos),                                                     \
	}

/* The access_size bytes an out wrote. */
static uint32_t io_out_value(const zx_port_packet_t *p)
{
	uint32_t v = 0;
	memcpy(&v, p->guest_io.data, p->guest_io.access_size <= 4 ? p->guest_io.access_size : 4);
	return v;
}

#define EXPECT_IO_OUT(p, port_, value)                                                             \
	do {                                                                                       \
		EXPECT_EQ(ZX_PKT_TYPE_GUEST_IO, (p).type);                                         \
		EXPECT_EQ(port_, (p).guest_io.port);                                               \
		EXPECT_EQ(0, (p).guest_io.input);                                                  \
		EXPECT_EQ(value, io_out_value(&(p)));                                              \
	} while (0)

/* Enter once and expect `want`; then show that the process still runs guests. */
static void expect_enter_fails(struct guest_code code, zx_status_t want)
{
	AUTO_GUEST g;
	ASSERT_OK(setup_guest(&g, code));
	ASSERT_OK(zx_guest_set_trap(g.guest, ZX_GUEST_TRAP_IO, 0xe0, 4, ZX_HANDLE_INVALID, IO_KEY));
	zx_port_packet_t p;
	EXPECT_STATUS(want, zx_vcpu_enter(g.vcpu, &p));
	teardown_guest(&g);

	ASSERT_OK(setup_guest(&g, GUEST_CODE(guest_fault_exit_only)));
	EXPECT_STATUS(ZX_OK, enter_and_clean_exit(&g));
}

/* ---- triple faults: an unhandled exit reason (spec §2.4) ---- */

TEST(fault_ud2_with_zircon_idt)
{
	expect_enter_fails(GUEST_CODE(guest_fault_ud2), ZX_ERR_NOT_SUPPORTED);
}

TEST(fault_int3_with_empty_idt)
{
	expect_enter_fails(GUEST_CODE(guest_fault_int3_null_idt), ZX_ERR_NOT_SUPPORTED);
}

TEST(fault_page_fault_with_zircon_idt)
{
	expect_enter_fails(GUEST_CODE(guest_fault_page_fault), ZX_ERR_NOT_SUPPORTED);
}

/* Another guest in the same process keeps running while one triple-faults. */
TEST(fault_triple_fault_leaves_other_guests)
{
	AUTO_GUEST ok;
	ASSERT_OK(setup_guest_no_vcpu(&ok, GUEST_CODE(guest_fault_exit_only)));
	expect_enter_fails(GUEST_CODE(guest_fault_ud2), ZX_ERR_NOT_SUPPORTED);
	ASSERT_OK(zx_vcpu_create(ok.guest, 0, GUEST_ENTRY, &ok.vcpu));
	ASSERT_OK(enter_and_clean_exit(&ok));
}

/* ---- port IO (spec §3.2) ---- */

TEST(fault_out_untrapped_port_not_found)
{
	expect_enter_fails(GUEST_CODE(guest_fault_out_untrapped), ZX_ERR_NOT_FOUND);
}

TEST(fault_in_untrapped_port_not_found)
{
	expect_enter_fails(GUEST_CODE(guest_fault_in_untrapped), ZX_ERR_NOT_FOUND);
}

TEST(fault_outsb_not_supported)
{
	expect_enter_fails(GUEST_CODE(guest_fault_outsb), ZX_ERR_NOT_SUPPORTED);
}

TEST(fault_rep_outsb_not_supported)
{
	expect_enter_fails(GUEST_CODE(guest_fault_rep_outsb), ZX_ERR_NOT_SUPPORTED);
}

TEST(fault_insb_not_supported)
{
	expect_enter_fails(GUEST_CODE(guest_fault_insb), ZX_ERR_NOT_SUPPORTED);
}

TEST(fault_rep_insw_not_supported)
{
	expect_enter_fails(GUEST_CODE(guest_fault_rep_insw), ZX_ERR_NOT_SUPPORTED);
}

TEST(fault_outsb_before_out_not_supported)
{
	expect_enter_fails(GUEST_CODE(guest_fault_outsb_then_out), ZX_ERR_NOT_SUPPORTED);
}

/* The plain out is delivered; the string out after it is refused. */
TEST(fault_out_before_outsb)
{
	AUTO_GUEST g;
	ASSERT_OK(setup_guest(&g, GUEST_CODE(guest_fault_out_then_outsb)));
	ASSERT_OK(zx_guest_set_trap(g.guest, ZX_GUEST_TRAP_IO, 0xe0, 4, ZX_HANDLE_INVALID, IO_KEY));
	zx_port_packet_t p;
	ASSERT_OK(zx_vcpu_enter(g.vcpu, &p));
	EXPECT_IO_OUT(p, 0xe0, 0x7c);
	EXPECT_EQ(1, p.guest_io.access_size);
	EXPECT_STATUS(ZX_ERR_NOT_SUPPORTED, zx_vcpu_enter(g.vcpu, &p));
}

/* ---- instructions the platform cannot run ---- */

static bool inproc_on_pvm(void)
{
	const char *target = getenv("ZXVM_TEST_TARGET");
	return (!target || strcmp(target, "inproc:") == 0) &&
	       access("/sys/module/kvm_pvm", F_OK) == 0;
}

/* An emulation failure is an error status for that enter (NOT_SUPPORTED), never a crash or a
 * hang. Where the CPU runs the instruction (hardware KVM) the guest simply exits. */
TEST(fault_emulation_failure_not_supported)
{
	AUTO_GUEST g;
	ASSERT_OK(setup_guest(&g, GUEST_CODE(guest_fault_avx)));
	zx_port_packet_t p;
	zx_status_t st = zx_vcpu_enter(g.vcpu, &p);
	if (inproc_on_pvm()) {
		EXPECT_STATUS(ZX_ERR_NOT_SUPPORTED, st);
	} else if (st == ZX_OK) {
		EXPECT_EQ(ZX_PKT_TYPE_GUEST_IO, p.type);
		EXPECT_EQ(GUEST_EXIT_PORT, p.guest_io.port);
	} else {
		EXPECT_STATUS(ZX_ERR_NOT_SUPPORTED, st);
	}
	teardown_guest(&g);
	ASSERT_OK(setup_guest(&g, GUEST_CODE(guest_fault_exit_only)));
	EXPECT_STATUS(ZX_OK, enter_and_clean_exit(&g));
}

/* ---- guests outside 64-bit mode ---- */

static zx_status_t setup_mode_guest(struct test_guest *g, struct guest_code code)
{
	zx_status_t st = setup_guest(g, code);
	if (st == ZX_OK)
		st = zx_guest_set_trap(g->guest, ZX_GUEST_TRAP_IO, 0xe0, 4, ZX_HANDLE_INVALID,
				       IO_KEY);
	if (st == ZX_OK)
		st = zx_guest_set_trap(g->guest, ZX_GUEST_TRAP_MEM, MMIO, 0x1000, ZX_HANDLE_INVALID,
				       MEM_KEY);
	return st;
}

/* Compatibility mode: CS.D = 1 gives default_operand_size 4 (also under a 66 prefix); a 16-bit
 * code segment gives 2, and its RIP is the offset from the segment base (spec §3.1). */
TEST(mode_compat_and_16bit_segments)
{
	AUTO_GUEST g;
	ASSERT_OK(setup_mode_guest(&g, GUEST_CODE(guest_mode_compat)));
	zx_port_packet_t p;
	zx_vcpu_state_t s;

	ASSERT_OK(zx_vcpu_enter(g.vcpu, &p));
	EXPECT_IO_OUT(p, 0xe0, 0x32);
	EXPECT_EQ(4, p.guest_io.access_size);

	const struct mem_want compat[] = {
		/* movl $0x12345678, MMIO */
		MEM_AT(MMIO, GUEST_LABEL(guest_mode_compat, cm_w4), cm_w4, 4),
		/* movw $0x1234, 2(%ebx) */
		MEM_AT(MMIO + 2, GUEST_LABEL(guest_mode_compat, cm_w2), cm_w2, 4),
		/* mov 4(%ebx), %ecx */
		MEM_AT(MMIO + 4, GUEST_LABEL(guest_mode_compat, cm_r4), cm_r4, 4),
	};
	ASSERT_MEM_EXITS(&g, compat);
	ASSERT_OK(read_regs(&g, &s));
	s.rcx = 0x600df00d;
	ASSERT_OK(write_regs(&g, &s));
	ASSERT_OK(zx_vcpu_enter(g.vcpu, &p));
	EXPECT_IO_OUT(p, 0xe0, 0x600df00d); /* the guest got the VMM's value */

	/* The 16-bit code segment is based at GUEST_ENTRY. */
	ASSERT_OK(zx_vcpu_enter(g.vcpu, &p));
	EXPECT_IO_OUT(p, 0xe2, 0x16);
	EXPECT_EQ(2, p.guest_io.access_size);
	const struct mem_want code16[] = {
		/* movw $0xbeef, 6(%ebx) */
		MEM_AT(MMIO + 6, LABEL_OFF(guest_mode_compat, cm16_w2), cm16_w2, 2),
		/* movb $0x5a, 8(%ebx) */
		MEM_AT(MMIO + 8, LABEL_OFF(guest_mode_compat, cm16_w1), cm16_w1, 2),
	};
	ASSERT_MEM_EXITS(&g, code16);
	ASSERT_OK(enter_and_clean_exit(&g));
}

/* Legacy protected mode (paging and long mode off): default_operand_size 4 from CS.D. */
TEST(mode_protected_32bit)
{
	AUTO_GUEST g;
	ASSERT_OK(setup_mode_guest(&g, GUEST_CODE(guest_mode_protected)));
	zx_port_packet_t p;
	ASSERT_OK(zx_vcpu_enter(g.vcpu, &p));
	ASSERT_EQ(ZX_PKT_TYPE_GUEST_IO, p.type);
	EXPECT_EQ(0, p.guest_io.u32 & 0x80000000u); /* CR0.PG */
	EXPECT_EQ(1, p.guest_io.u32 & 1u);	    /* CR0.PE */
	ASSERT_OK(zx_vcpu_enter(g.vcpu, &p));
	ASSERT_EQ(ZX_PKT_TYPE_GUEST_IO, p.type);
	EXPECT_EQ(0, p.guest_io.u32 & 0x500u); /* EFER.LME, LMA */
	const struct mem_want store[] = {
		MEM_AT(MMIO, GUEST_LABEL(guest_mode_protected, pm_w4), pm_w4, 4),
	};
	ASSERT_MEM_EXITS(&g, store);
	ASSERT_OK(enter_and_clean_exit(&g));
}

/* Real mode on a secondary VCPU (spec §5.2): default_operand_size 2, RIP = IP. */
#define AP_ENTRY 0x20000u

TEST(mode_real_mem_write)
{
	AUTO_GUEST g;
	ASSERT_OK(setup_guest(&g, GUEST_CODE(guest_fault_exit_only))); /* the BSP */
	/* A page of RAM turned into a hole (spec §2.2), below 1 MiB for real mode. */
	ASSERT_OK(zx_guest_set_trap(g.guest, ZX_GUEST_TRAP_MEM, 0xb8000, 0x1000, ZX_HANDLE_INVALID,
				    MEM_KEY));
	struct ap_run r;
	ASSERT_OK(run_ap(&g, GUEST_CODE(guest_mode_real), AP_ENTRY, &r));
	ASSERT_OK(r.create_st);
	ASSERT_OK(r.enter_st);
	ASSERT_EQ(2, r.n); /* the store, then the exit port */
	zx_port_packet_t p = r.p[0];
	EXPECT_EQ(ZX_PKT_TYPE_GUEST_MEM, p.type);
	EXPECT_EQ(0xb8010, p.guest_mem.addr);
	EXPECT_EQ(LABEL_OFF(guest_mode_real, rm_w2), p.guest_mem.rip);
	EXPECT_EQ(LABEL_LEN(rm_w2), p.guest_mem.instruction_size);
	EXPECT_EQ(2, p.guest_mem.default_operand_size);
	EXPECT_EQ(ZX_PKT_TYPE_GUEST_IO, r.p[1].type);
	EXPECT_EQ(GUEST_EXIT_PORT, r.p[1].guest_io.port);
	ASSERT_OK(enter_and_clean_exit(&g));
}
