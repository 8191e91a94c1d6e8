/* The VCPU state a guest starts with (spec §5.1 bootstrap processor, §5.2 secondary VCPUs) as the
 * guest itself reads it, and zx_vcpu_read_state / zx_vcpu_write_state as the guest sees them
 * (§2.7, §2.8): GPRs, RFLAGS (only with bit 1, only the user bits), CR0.NE and the #GP for NW
 * without CD. */
#include <pthread.h>
#include <string.h>

#include "harness/guest.h"
#include "harness/test.h"

/* Where tests/guest/state.S stores what it saw. */
#define STATE_OUT 0x8000u
#define STATE_GPRS 0x00u   /* rax..r15 in zx_vcpu_state_t order */
#define STATE_RFLAGS 0x80u /* pushfq */
#define STATE_CR0 0x88u
#define STATE_CR4 0x90u
#define STATE_CR3 0x98u
#define STATE_EFER 0xa0u
#define STATE_CR0_NE 0xa8u /* CR0 after the guest set NE */
#define STATE_SEL 0xb0u	   /* cs ds es fs gs ss tr ldtr, 16 bits each */
#define STATE_GDTR 0xc0u
#define STATE_IDTR 0xd0u
#define STATE_APIC_BASE 0xe0u

#define X86_FLAGS_USER 0x244dd5ull
#define CR0_NE 0x20ull
#define CR4_PAE 0x20ull
#define CR4_PGE 0x80ull
#define CR4_OSFXSR 0x200ull
#define CR4_VMXE 0x2000ull
#define CR4_FSGSBASE 0x10000ull
#define CR4_OSXSAVE 0x40000ull
#define EFER_LME 0x100ull
#define EFER_LMA 0x400ull

static uint64_t out_u64(struct test_guest *g, uint32_t off)
{
	uint64_t v = 0;
	if (zx_vmo_read(g->vmo, &v, STATE_OUT + off, sizeof(v)) != ZX_OK)
		test_fail(__FILE__, __LINE__, "reading the guest's output at %#x", STATE_OUT + off);
	return v;
}

static uint16_t out_u16(struct test_guest *g, uint32_t off)
{
	uint16_t v = 0;
	if (zx_vmo_read(g->vmo, &v, STATE_OUT + off, sizeof(v)) != ZX_OK)
		test_fail(__FILE__, __LINE__, "reading the guest's output at %#x", STATE_OUT + off);
	return v;
}

static uint64_t *gpr_slot(zx_vcpu_state_t *s, int i)
{
	uint64_t *r[16] = {&s->rax, &s->rcx, &s->rdx, &s->rbx, &s->rsp, &s->rbp, &s->rsi, &s->rdi,
			   &s->r8,  &s->r9,  &s->r10, &s->r11, &s->r12, &s->r13, &s->r14, &s->r15};
	return r[i];
}

static const char *const gpr_names[16] = {"rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
					  "r8",	 "r9",	"r10", "r11", "r12", "r13", "r14", "r15"};

/* ---- initial state (spec §5.1) ---- */

/* What read_state reports before the first enter: zero GPRs, and RFLAGS 0x2 masked to 0. */
TEST(state_read_before_first_enter)
{
	AUTO_GUEST g;
	ASSERT_OK(setup_guest(&g, GUEST_CODE(guest_state_initial)));
	zx_vcpu_state_t s;
	memset(&s, 0xa5, sizeof(s));
	ASSERT_OK(read_regs(&g, &s));
	for (int i = 0; i < 16; i++)
		if (*gpr_slot(&s, i) != 0)
			test_fail(__FILE__, __LINE__, "%s = %#lx, expected 0", gpr_names[i],
				  *gpr_slot(&s, i));
	EXPECT_EQ(0, s.rflags);
}

TEST(state_initial_gprs_seen_by_guest)
{
	AUTO_GUEST g;
	ASSERT_OK(setup_guest(&g, GUEST_CODE(guest_state_initial)));
	ASSERT_OK(enter_and_clean_exit(&g));
	for (int i = 0; i < 16; i++) {
		uint64_t v = out_u64(&g, STATE_GPRS + 8u * i);
		if (v != 0)
			test_fail(__FILE__, __LINE__, "guest saw %s = %#lx at entry, expected 0",
				  gpr_names[i], v);
	}
	EXPECT_EQ(0x2, out_u64(&g, STATE_RFLAGS));
}

TEST(state_initial_control_registers)
{
	AUTO_GUEST g;
	ASSERT_OK(setup_guest(&g, GUEST_CODE(guest_state_initial)));
	ASSERT_OK(enter_and_clean_exit(&g));
	/* PE|ET|WP|PG: NE is in the hardware CR0 but not in what the guest reads. */
	EXPECT_EQ(0x80010011, out_u64(&g, STATE_CR0));
	uint64_t cr4 = out_u64(&g, STATE_CR4);
	EXPECT_EQ(CR4_PAE | CR4_PGE | CR4_OSFXSR, cr4 & (CR4_PAE | CR4_PGE | CR4_OSFXSR));
	EXPECT_EQ(0, cr4 & CR4_VMXE);
	/* Nothing beyond Zircon's set; FSGSBASE and OSXSAVE only where the CPU has them. */
	EXPECT_EQ(0, cr4 & ~(CR4_PAE | CR4_PGE | CR4_OSFXSR | CR4_FSGSBASE | CR4_OSXSAVE));
	EXPECT_EQ(0, out_u64(&g, STATE_CR3));
	uint64_t efer = out_u64(&g, STATE_EFER);
	EXPECT_EQ(EFER_LME | EFER_LMA, efer & (EFER_LME | EFER_LMA));
	/* SCE|LME|LMA|NXE, the value Zircon copies from its host. */
	EXPECT_EQ(0xd01, efer);
	EXPECT_EQ(0x80010031, out_u64(&g, STATE_CR0_NE));
}

TEST(state_initial_segments_and_tables)
{
	static const char *const names[] = {"cs", "ds", "es", "fs", "gs", "ss", "tr", "ldtr"};
	AUTO_GUEST g;
	ASSERT_OK(setup_guest(&g, GUEST_CODE(guest_state_initial)));
	ASSERT_OK(enter_and_clean_exit(&g));
	for (uint32_t i = 0; i < 8; i++) {
		uint16_t sel = out_u16(&g, STATE_SEL + 2 * i);
		if (sel != 0)
			test_fail(__FILE__, __LINE__, "%s = %#x, expected 0", names[i], sel);
	}
	/* GDTR and IDTR: base 0, limit 0xffff. */
	EXPECT_EQ(0xffff, out_u16(&g, STATE_GDTR));
	EXPECT_EQ(0, out_u64(&g, STATE_GDTR + 2));
	EXPECT_EQ(0xffff, out_u16(&g, STATE_IDTR));
	EXPECT_EQ(0, out_u64(&g, STATE_IDTR + 2));
	/* x2APIC enabled at 0xfee00000, BSP (spec §5.3). */
	EXPECT_EQ(0xfee00d00, out_u64(&g, STATE_APIC_BASE));
}

/* ---- read_state / write_state (spec §2.7, §2.8) ---- */

TEST(state_write_all_gprs_seen_by_guest)
{
	AUTO_GUEST g;
	ASSERT_OK(setup_guest(&g, GUEST_CODE(guest_state_roundtrip)));
	zx_vcpu_state_t s = {0};
	for (int i = 0; i < 16; i++)
		*gpr_slot(&s, i) =
			0x0101010101010101ull * (uint64_t)(i + 1) ^ 0x8000000000000000ull;
	s.rsp = GUEST_STACK_TOP;
	s.rflags = 0x2 | 0x1 | 0x40 | 0x400 | 0x800; /* CF ZF DF OF */
	ASSERT_OK(write_regs(&g, &s));

	/* Read back before running: the same, RFLAGS masked to the user bits. */
	zx_vcpu_state_t r;
	ASSERT_OK(read_regs(&g, &r));
	for (int i = 0; i < 16; i++)
		if (*gpr_slot(&r, i) != *gpr_slot(&s, i))
			test_fail(__FILE__, __LINE__, "read back %s = %#lx, expected %#lx",
				  gpr_names[i], *gpr_slot(&r, i), *gpr_slot(&s, i));
	EXPECT_EQ(0x1 | 0x40 | 0x400 | 0x800, r.rflags);

	ASSERT_OK(enter_and_clean_exit(&g));
	for (int i = 0; i < 16; i++) {
		uint64_t v = out_u64(&g, STATE_GPRS + 8u * i);
		if (v != *gpr_slot(&s, i))
			test_fail(__FILE__, __LINE__, "guest saw %s = %#lx, expected %#lx",
				  gpr_names[i], v, *gpr_slot(&s, i));
	}
	EXPECT_EQ(0x2 | 0x1 | 0x40 | 0x400 | 0x800, out_u64(&g, STATE_RFLAGS));

	/* The guest added 1 to every register: read_state sees the guest's values. */
	ASSERT_OK(read_regs(&g, &r));
	for (int i = 0; i < 16; i++)
		if (*gpr_slot(&r, i) != *gpr_slot(&s, i) + 1)
			test_fail(__FILE__, __LINE__,
				  "after the guest ran %s = %#lx, expected %#lx", gpr_names[i],
				  *gpr_slot(&r, i), *gpr_slot(&s, i) + 1);
}

/* RFLAGS is written only when bit 1 is set in the supplied value (spec §2.8). */
TEST(state_rflags_ignored_without_bit1)
{
	AUTO_GUEST g;
	ASSERT_OK(setup_guest(&g, GUEST_CODE(guest_state_rflags)));
	zx_vcpu_state_t s = {.rflags = 0x1 | 0x40};
	ASSERT_OK(write_regs(&g, &s));
	ASSERT_OK(read_regs(&g, &s));
	EXPECT_EQ(0, s.rflags);
	ASSERT_OK(enter_and_clean_exit(&g));
	EXPECT_EQ(0x2, out_u64(&g, STATE_RFLAGS));
}

/* rflags = 0 in a later write leaves the earlier value alone (Fuchsia's VMM relies on this). */
TEST(state_rflags_zero_leaves_rflags)
{
	AUTO_GUEST g;
	ASSERT_OK(setup_guest(&g, GUEST_CODE(guest_state_rflags)));
	zx_vcpu_state_t s = {.rflags = 0x2 | 0x1};
	ASSERT_OK(write_regs(&g, &s));
	s = (zx_vcpu_state_t){.rsi = 0x1234};
	ASSERT_OK(write_regs(&g, &s));
	ASSERT_OK(read_regs(&g, &s));
	EXPECT_EQ(0x1, s.rflags);
	EXPECT_EQ(0x1234, s.rsi);
	ASSERT_OK(enter_and_clean_exit(&g));
	EXPECT_EQ(0x3, out_u64(&g, STATE_RFLAGS));
}

/* Only the user bits are written: IF, IOPL and VIP keep their values (0). */
TEST(state_rflags_write_only_user_bits)
{
	AUTO_GUEST g;
	ASSERT_OK(setup_guest(&g, GUEST_CODE(guest_state_rflags)));
	zx_vcpu_state_t s = {.rflags = 0x2 | 0x1 | 0x200 | 0x3000 | 0x4000 | 0x40000 | 0x100000};
	ASSERT_OK(write_regs(&g, &s));
	ASSERT_OK(read_regs(&g, &s));
	EXPECT_EQ(0x1 | 0x4000 | 0x40000, s.rflags);
	ASSERT_OK(enter_and_clean_exit(&g));
	EXPECT_EQ(0x2 | 0x1 | 0x4000 | 0x40000, out_u64(&g, STATE_RFLAGS));
}

/* read_state reports RFLAGS & 0x244dd5: the guest's IF, IOPL and bit 1 are not reported. */
TEST(state_read_masks_rflags)
{
	AUTO_GUEST g;
	ASSERT_OK(setup_guest(&g, GUEST_CODE(guest_state_set_rflags)));
	ASSERT_OK(enter_and_clean_exit(&g));
	zx_vcpu_state_t s;
	ASSERT_OK(read_regs(&g, &s));
	EXPECT_EQ(0x203647 & X86_FLAGS_USER, s.rflags);
	EXPECT_EQ(0x200445, s.rflags);
	EXPECT_EQ(GUEST_STACK_TOP, s.rsp);
}

/* Setting NW without CD raises #GP(0) at the MOV to CR0 (spec §5.1), delivered through the
 * guest's own IDT. */
TEST(state_cr0_nw_without_cd_raises_gp)
{
	AUTO_GUEST g;
	ASSERT_OK(setup_guest(&g, GUEST_CODE(guest_state_cr0_nw)));
	ASSERT_OK(zx_guest_set_trap(g.guest, ZX_GUEST_TRAP_IO, 0xe0, 9, ZX_HANDLE_INVALID, 0x6e));
	const uint32_t want[][2] = {
		{0xe0, 13}, /* the vector */
		{0xe4, 0},  /* the error code */
		{0xe4, (uint32_t)GUEST_LABEL(guest_state_cr0_nw, state_nw_fault)},
	};
	for (size_t i = 0; i < 3; i++) {
		zx_port_packet_t p;
		ASSERT_OK(zx_vcpu_enter(g.vcpu, &p));
		ASSERT_EQ(ZX_PKT_TYPE_GUEST_IO, p.type);
		EXPECT_EQ(want[i][0], p.guest_io.port);
		EXPECT_EQ(want[i][1], p.guest_io.u32);
	}
	ASSERT_OK(enter_and_clean_exit(&g));
}

/* ---- secondary VCPUs (spec §5.2) ---- */

#define AP_ENTRY 0x20000u

/* Create the VCPU of VPID 1 on the calling thread (after create/close cycles of VPIDs 2..63 when
 * VPID 1 was used before), check that it starts as new, run guest_state_dirty to its pending
 * MMIO read, write a register, and close it. */
static void dirty_round(struct test_guest *g, bool again)
{
	static const uint8_t zeros[0x20];
	ASSERT_OK(zx_vmo_write(g->vmo, zeros, STATE_OUT + 0x100, sizeof(zeros)));
	if (again) {
		for (int i = 0; i < 62; i++) {
			zx_handle_t other;
			ASSERT_OK(zx_vcpu_create(g->guest, 0, 0x1000, &other));
			ASSERT_OK(zx_handle_close(other));
		}
	}
	zx_handle_t vcpu;
	ASSERT_OK(zx_vcpu_create(g->guest, 0, GUEST_ENTRY, &vcpu));
	zx_vcpu_state_t s;
	ASSERT_OK(zx_vcpu_read_state(vcpu, ZX_VCPU_STATE, &s, sizeof(s)));
	for (int i = 0; i < 16; i++)
		if (*gpr_slot(&s, i) != 0)
			test_fail(__FILE__, __LINE__, "%s: expected 0, got %#llx", gpr_names[i],
				  (unsigned long long)*gpr_slot(&s, i));
	EXPECT_EQ(0, s.rflags);
	zx_port_packet_t p;
	zx_status_t st = zx_vcpu_enter(vcpu, &p);
	EXPECT_STATUS(ZX_OK, st);
	if (st == ZX_OK) {
		EXPECT_EQ(ZX_PKT_TYPE_GUEST_MEM, p.type);
		EXPECT_EQ(0x10000000ull, p.guest_mem.addr);
		EXPECT_EQ(0, out_u64(g, 0x100)); /* LSTAR */
		EXPECT_EQ(0, out_u64(g, 0x108)); /* SYSENTER_CS */
		EXPECT_EQ(0, out_u64(g, 0x110)); /* x2APIC ID: VPID 1 every time */
		/* Leave the read pending with a register written, and close. */
		EXPECT_STATUS(ZX_OK, zx_vcpu_read_state(vcpu, ZX_VCPU_STATE, &s, sizeof(s)));
		EXPECT_EQ(0x1234ull, s.r15);
		s.rax = 0x777;
		EXPECT_STATUS(ZX_OK, zx_vcpu_write_state(vcpu, ZX_VCPU_STATE, &s, sizeof(s)));
	}
	EXPECT_STATUS(ZX_OK, zx_handle_close(vcpu));
}

static void *dirty_round_thread(void *arg)
{
	dirty_round(arg, true);
	return NULL;
}

/* A VCPU that gets the VPID of a closed one starts as new (zxvm reuses the closed VCPU's KVM
 * vcpu, as KVM cannot free one): no MSR it wrote, no register, no MMIO read it left pending;
 * also when the new VCPU's thread is another one (in zxvmd: another VCPU thread). */
TEST(state_vcpu_after_a_closed_one_starts_fresh)
{
	AUTO_GUEST g;
	ASSERT_OK(setup_guest_no_vcpu(&g, GUEST_CODE(guest_state_dirty)));
	ASSERT_OK(zx_guest_set_trap(g.guest, ZX_GUEST_TRAP_MEM, 0x10000000, 0x1000,
				    ZX_HANDLE_INVALID, 0x3e3));
	dirty_round(&g, false);
	dirty_round(&g, true);
	pthread_t t;
	ASSERT_EQ(0, pthread_create(&t, NULL, dirty_round_thread, &g));
	pthread_join(t, NULL);
}

TEST(state_secondary_vcpu_starts_in_real_mode)
{
	AUTO_GUEST g;
	ASSERT_OK(setup_guest(&g, GUEST_CODE(guest_state_initial))); /* the BSP, on this thread */
	ASSERT_OK(zx_guest_set_trap(g.guest, ZX_GUEST_TRAP_IO, 0xe0, 4, ZX_HANDLE_INVALID, 0xa9));
	/* A VCPU thread as Fuchsia's VMM runs one (spec §7): create on that thread, enter until
	 * done. */
	struct ap_run r;
	ASSERT_OK(run_ap(&g, GUEST_CODE(guest_state_ap), AP_ENTRY, &r));
	ASSERT_OK(r.create_st);
	EXPECT_STATUS(ZX_OK, r.read_st);
	for (int i = 0; i < 16; i++)
		EXPECT_EQ(0, *gpr_slot(&r.initial, i));
	EXPECT_EQ(0, r.initial.rflags);
	ASSERT_OK(r.enter_st);
	ASSERT_EQ(7, r.n); /* six outs, then the exit port */
	for (int i = 0; i < 6; i++)
		EXPECT_EQ(ZX_PKT_TYPE_GUEST_IO, r.p[i].type);
	/* CR0 = ET|WP as the guest reads it: PE and PG clear, real mode. */
	EXPECT_EQ(0x00010010, r.p[0].guest_io.u32);
	EXPECT_EQ(4, r.p[0].guest_io.access_size);
	EXPECT_EQ(AP_ENTRY >> 4, r.p[1].guest_io.u16); /* CS selector */
	uint32_t cr4 = r.p[2].guest_io.u32;
	EXPECT_EQ(0, cr4 & (CR4_PAE | CR4_PGE | CR4_VMXE));
	EXPECT_EQ(CR4_OSFXSR, cr4 & CR4_OSFXSR);
	EXPECT_EQ(0, r.p[3].guest_io.u32 & (EFER_LME | EFER_LMA));
	EXPECT_EQ(0xfee00c00, r.p[4].guest_io.u32); /* x2APIC, not the BSP */
	/* IP counts from CS base = entry. */
	EXPECT_EQ(LABEL_OFF(guest_state_ap, state_ap_ip), r.p[5].guest_io.u16);
	EXPECT_EQ(GUEST_EXIT_PORT, r.p[6].guest_io.port);

	/* The BSP still starts in long mode. */
	ASSERT_OK(enter_and_clean_exit(&g));
	EXPECT_EQ(0x80010011, out_u64(&g, STATE_CR0));
}
