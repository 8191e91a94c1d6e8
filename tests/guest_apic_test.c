/* The x2APIC a Zircon guest sees, with real guest code (spec §5.3, §3.3): APIC base, ID and
 * version MSRs on the BSP and on a second VCPU, the other registers' reset values, ICR writes
 * that become GUEST_VCPU packets (fixed, shorthands, NMI, STARTUP; INIT ignored; logical mode
 * and other delivery modes refused), the self IPI, the LVT timer in one-shot, periodic and
 * TSC-deadline modes, and the enter errors and #GPs for what Zircon does not accept. */
#include "harness/fixture.h"

/* Where the second VCPU starts (real mode, CS = entry >> 4, spec §5.2). */
#define AP_ENTRY 0x30000u

#define APIC_BASE_BSP 0xfee00d00u /* 0xfee00000 | xAPIC enable | x2APIC enable | BSP */
#define APIC_BASE_AP 0xfee00c00u
#define LVT_MASKED 0x10000u

/* Set rbx, r12 and r13 (the inputs of guest_apic_icr and guest_apic_msr). */
static zx_status_t set_inputs(struct test_guest *g, uint64_t rbx, uint64_t r12, uint64_t r13)
{
	zx_vcpu_state_t s;
	zx_status_t st = read_regs(g, &s);
	if (st != ZX_OK)
		return st;
	s.rbx = rbx;
	s.r12 = r12;
	s.r13 = r13;
	return write_regs(g, &s);
}

enum msr_op { MSR_WRITE, MSR_READ, MSR_WRITE_READ };

/* A fixture running guest_apic_msr for one access. */
static zx_status_t msr_fixture(struct fixture *f, uint32_t msr, enum msr_op op, uint64_t value)
{
	zx_status_t st = fixture_start(f, GUEST_CODE(guest_apic_msr));
	if (st == ZX_OK)
		st = set_inputs(&f->g, value, msr, op);
	return st;
}

/* A fixture running guest_apic_msr for one access, then `steps`. */
#define RUN_MSR(msr, op, value, steps)                                                             \
	do {                                                                                       \
		AUTO_FIXTURE _f;                                                                   \
		ASSERT_OK(msr_fixture(&_f, (msr), (op), (value)));                                 \
		ASSERT_STEPS(&_f.g, steps);                                                        \
	} while (0)

/* ---- APIC base, ID, version and the other registers ---- */

TEST(apic_bsp_register_values)
{
	AUTO_FIXTURE f;
	ASSERT_OK(fixture_start(&f, GUEST_CODE(guest_apic_read_msrs)));
	/* The order of apic_msr_table in apic.S. */
	static const struct {
		const char *what;
		uint64_t value;
	} want[] = {
		{"APIC_BASE", APIC_BASE_BSP},
		{"ID", 0},
		{"VERSION", 0x60015},
		{"TPR", 0},
		{"LDR", 0},
		{"SVR", 0xff},
		{"ISR0", 0},
		{"ISR7", 0},
		{"TMR0", 0},
		{"IRR0", 0},
		{"IRR7", 0},
		{"ESR", 0},
		{"LVT CMCI", LVT_MASKED},
		{"LVT timer", LVT_MASKED},
		{"LVT thermal", LVT_MASKED},
		{"LVT performance monitor", 0},
		{"LVT LINT0", LVT_MASKED},
		{"LVT LINT1", LVT_MASKED},
		{"initial count", 0},
		{"divide configuration", 0},
	};
	for (size_t i = 0; i < ARRAY_SIZE(want); i++) {
		uint32_t lo, hi;
		ASSERT_OK(read_data(&f.g, &lo));
		ASSERT_OK(read_data(&f.g, &hi));
		uint64_t got = (uint64_t)hi << 32 | lo;
		if (got != want[i].value)
			test_fail(__FILE__, __LINE__,
				  "rdmsr %s: expected %#" PRIx64 ", got %#" PRIx64, want[i].what,
				  want[i].value, got);
	}
	ASSERT_OK(enter_and_clean_exit(&f.g));
}

TEST(apic_second_vcpu_ids)
{
	AUTO_FIXTURE f;
	ASSERT_OK(fixture_start(&f, GUEST_CODE(guest_kick_out)));
	/* The fixture's VCPU (VPID 1, APIC ID 0) is the BSP; the one made by the other thread is
	 * VPID 2: not the BSP, APIC ID 1. It reports what guest_apic_ap16 read. */
	struct ap_run r;
	ASSERT_OK(run_ap(&f.g, GUEST_CODE(guest_apic_ap16), AP_ENTRY, &r));
	ASSERT_OK(r.create_st);
	ASSERT_OK(r.enter_st);
	ASSERT_TRUE(r.exited);
	ASSERT_EQ(6, r.n); /* five values, then the exit port */
	uint32_t values[5];
	for (size_t i = 0; i < 5; i++) {
		EXPECT_EQ(ZX_PKT_TYPE_GUEST_IO, r.p[i].type);
		values[i] = r.p[i].guest_io.u32;
	}
	EXPECT_EQ(APIC_BASE_AP, values[0]);
	EXPECT_EQ(0, values[1]);
	EXPECT_EQ(1, values[2]);       /* x2APIC ID */
	EXPECT_EQ(1, values[3] >> 24); /* CPUID.1 EBX[31:24] */
	EXPECT_EQ(1, values[4]);       /* CPUID.0B EDX */
}

static const struct step accepted[] = {OUT_MARK(1), ENTER_EXITS};
static const struct step invalid_args[] = {ENTER_FAILS(ZX_ERR_INVALID_ARGS)};
/* The library's #GP handler reports, then the guest resumes at its MARK. */
static const struct step gp[] = {OUT_VECTOR_ERR(13, 0), OUT_MARK(1), ENTER_EXITS};

TEST(apic_base_write_same_value_accepted)
{
	RUN_MSR(0x1b, MSR_WRITE, APIC_BASE_BSP, accepted);
}

TEST(apic_base_write_other_value_invalid_args)
{
	static const uint64_t values[] = {APIC_BASE_AP, 0xfed00d00, APIC_BASE_BSP & ~0x400u, 0};
	for (size_t i = 0; i < ARRAY_SIZE(values) && !test_failed(); i++)
		RUN_MSR(0x1b, MSR_WRITE, values[i], invalid_args);
}

/* ---- #GP for registers Zircon does not have ---- */

TEST(apic_unknown_register_read_gp)
{
	RUN_MSR(0x804, MSR_READ, 0, gp);
	RUN_MSR(0x831, MSR_READ, 0, gp);
}

TEST(apic_read_only_register_write_gp)
{
	RUN_MSR(0x802, MSR_WRITE, 5, gp);
	RUN_MSR(0x803, MSR_WRITE, 0x60015, gp);
}

TEST(apic_eoi_write_must_be_zero)
{
	static const struct step mark[] = {OUT_MARK(1)};
	RUN_MSR(0x80b, MSR_WRITE, 0, mark);
	RUN_MSR(0x80b, MSR_WRITE, 1, gp);
}

TEST(apic_unknown_msr_gp)
{
	RUN_MSR(0x12345, MSR_READ, 0, gp);
	RUN_MSR(0x12345, MSR_WRITE, 1, gp);
}

TEST(apic_lvt_timer_write_reads_back)
{
	/* Periodic, vector 0x41, masked: nothing fires (the initial count is 0 anyway). */
	static const struct step steps[] = {OUT_DATA(0x30041), OUT_DATA(0), OUT_MARK(1)};
	RUN_MSR(0x832, MSR_WRITE_READ, 0x30041, steps);
}

TEST(apic_lvt_timer_reserved_mode_invalid_args)
{
	RUN_MSR(0x832, MSR_WRITE, 0x60041, invalid_args);
}

TEST(apic_tsc_deadline_outside_deadline_mode_invalid_args)
{
	/* LVT timer still masked one-shot, as after reset. */
	RUN_MSR(0x6e0, MSR_WRITE, 12345, invalid_args);
}

/* ---- ICR ---- */

#define ICR_DEST(d) ((uint64_t)(d) << 32)
#define ICR_MODE(m) ((uint64_t)(m) << 8)
#define ICR_LOGICAL (1ull << 11)
#define ICR_SHORTHAND(s) ((uint64_t)(s) << 18)

/* Write `icr` and return the enter's status and packet. */
static zx_status_t icr_enter(struct fixture *f, uint64_t icr, zx_port_packet_t *p)
{
	zx_status_t st = set_inputs(&f->g, icr, 0, 0);
	return st == ZX_OK ? zx_vcpu_enter(f->g.vcpu, p) : st;
}

static void expect_vcpu_packet_at(int line, const zx_port_packet_t *p, uint32_t type, uint64_t a,
				  uint64_t b)
{
	bool ok = p->type == ZX_PKT_TYPE_GUEST_VCPU && p->key == 0 && p->status == ZX_OK &&
		  p->guest_vcpu.type == type;
	uint64_t got_a = type == ZX_PKT_GUEST_VCPU_STARTUP ? p->guest_vcpu.startup.id
							   : p->guest_vcpu.interrupt.mask;
	uint64_t got_b = type == ZX_PKT_GUEST_VCPU_STARTUP ? p->guest_vcpu.startup.entry
							   : p->guest_vcpu.interrupt.vector;
	if (!ok || got_a != a || got_b != b)
		test_fail(__FILE__, line,
			  "expected GUEST_VCPU type %u (%#" PRIx64 ", %#" PRIx64
			  "), got %s key %#" PRIx64 " status %d type %u (%#" PRIx64 ", %#" PRIx64
			  ")",
			  type, a, b, packet_type_name(p->type), p->key, p->status,
			  p->guest_vcpu.type, got_a, got_b);
}

/* An ICR write that must produce a GUEST_VCPU packet of `type` with (a, b): (mask, vector) for
 * INTERRUPT, (id, entry) for STARTUP. */
struct icr_case {
	uint64_t icr;
	uint32_t type;
	uint64_t a, b;
};

#define ICR_INTERRUPT(icr, mask, vector)                                                           \
	{                                                                                          \
		(icr), ZX_PKT_GUEST_VCPU_INTERRUPT, (mask), (vector)                               \
	}
#define ICR_STARTUP(icr, id, entry)                                                                \
	{                                                                                          \
		(icr), ZX_PKT_GUEST_VCPU_STARTUP, (id), (entry)                                    \
	}

/* The cases in order on one guest_apic_icr fixture; after each packet the guest continues to
 * its MARK. */
static void check_icr(const struct icr_case *c, size_t n)
{
	AUTO_FIXTURE f;
	ASSERT_OK(fixture_start(&f, GUEST_CODE(guest_apic_icr)));
	for (size_t i = 0; i < n; i++) {
		zx_port_packet_t p;
		ASSERT_OK(icr_enter(&f, c[i].icr, &p));
		expect_vcpu_packet_at(__LINE__, &p, c[i].type, c[i].a, c[i].b);
		ASSERT_MARK(&f.g, 1);
	}
}

TEST(apic_icr_fixed_physical_destination)
{
	static const struct icr_case cases[] = {
		ICR_INTERRUPT(ICR_DEST(1) | 0x40, 1ull << 1, 0x40),
		ICR_INTERRUPT(ICR_DEST(0) | 0x41, 1ull << 0, 0x41),
		ICR_INTERRUPT(ICR_DEST(63) | 0xfe, 1ull << 63, 0xfe),
	};
	check_icr(cases, ARRAY_SIZE(cases));
}

TEST(apic_icr_fixed_broadcast_and_out_of_range_destinations)
{
	static const struct icr_case cases[] = {
		ICR_INTERRUPT(ICR_DEST(0xffffffffu) | 0x42, UINT64_MAX, 0x42),
		/* No VCPU has APIC ID 64 or more: an empty mask. */
		ICR_INTERRUPT(ICR_DEST(64) | 0x43, 0, 0x43),
	};
	check_icr(cases, ARRAY_SIZE(cases));
}

TEST(apic_icr_shorthands)
{
	/* The destination field is ignored with a shorthand. This is the BSP: APIC ID 0. */
	static const struct icr_case cases[] = {
		ICR_INTERRUPT(ICR_SHORTHAND(1) | ICR_DEST(5) | 0x50, 1ull << 0, 0x50),
		ICR_INTERRUPT(ICR_SHORTHAND(2) | 0x51, UINT64_MAX, 0x51),
		ICR_INTERRUPT(ICR_SHORTHAND(3) | 0x52, ~1ull, 0x52),
	};
	check_icr(cases, ARRAY_SIZE(cases));
}

TEST(apic_icr_nmi)
{
	/* Vector 2 whatever the ICR's vector field; never to the sender itself. */
	static const struct icr_case cases[] = {
		ICR_INTERRUPT(ICR_MODE(4) | ICR_DEST(1) | 0x99, 1ull << 1, 2),
		ICR_INTERRUPT(ICR_MODE(4) | ICR_SHORTHAND(2), ~1ull, 2),
		ICR_INTERRUPT(ICR_MODE(4) | ICR_SHORTHAND(3), ~1ull, 2),
		ICR_INTERRUPT(ICR_MODE(4) | ICR_DEST(0), 0, 2),
	};
	check_icr(cases, ARRAY_SIZE(cases));
}

TEST(apic_icr_startup)
{
	static const struct icr_case cases[] = {
		ICR_STARTUP(ICR_MODE(6) | ICR_DEST(1) | 0x9a, 1, 0x9a000),
		ICR_STARTUP(ICR_MODE(6) | ICR_DEST(7) | 0x10, 7, 0x10000),
	};
	check_icr(cases, ARRAY_SIZE(cases));
}

TEST(apic_icr_init_ignored)
{
	AUTO_FIXTURE f;
	ASSERT_OK(fixture_start(&f, GUEST_CODE(guest_apic_icr)));
	/* No packet: the next thing the host sees is the guest's MARK. */
	zx_port_packet_t p;
	ASSERT_OK(icr_enter(&f, ICR_MODE(5) | ICR_DEST(1), &p));
	EXPECT_EQ(ZX_PKT_TYPE_GUEST_IO, p.type);
	EXPECT_EQ(PORT_MARK, p.guest_io.port);
	EXPECT_EQ(1, p.guest_io.u32);
}

TEST(apic_icr_logical_destination_not_supported)
{
	AUTO_FIXTURE f;
	ASSERT_OK(fixture_start(&f, GUEST_CODE(guest_apic_icr)));
	zx_port_packet_t p;
	ASSERT_STATUS(ZX_ERR_NOT_SUPPORTED, icr_enter(&f, ICR_LOGICAL | ICR_DEST(1) | 0x40, &p));
}

TEST(apic_icr_other_delivery_modes_not_supported)
{
	/* Lowest priority (1), SMI (2) and the reserved ExtINT-like modes (3, 7). */
	static const uint32_t modes[] = {1, 2, 3, 7};
	for (size_t i = 0; i < ARRAY_SIZE(modes) && !test_failed(); i++) {
		AUTO_FIXTURE f;
		ASSERT_OK(fixture_start(&f, GUEST_CODE(guest_apic_icr)));
		zx_port_packet_t p;
		zx_status_t st = icr_enter(&f, ICR_MODE(modes[i]) | ICR_DEST(1) | 0x40, &p);
		if (st != ZX_ERR_NOT_SUPPORTED)
			test_fail(__FILE__, __LINE__, "ICR delivery mode %u: expected %s, got %s",
				  modes[i], zx_status_get_string(ZX_ERR_NOT_SUPPORTED),
				  zx_status_get_string(st));
	}
}

/* ---- self IPI and the timer ---- */

TEST(apic_self_ipi_delivered_locally)
{
	static const struct step steps[] = {OUT_VECTOR(0x45), OUT_MARK(1), ENTER_EXITS};
	RUN_STEPS(GUEST_CODE(guest_apic_self_ipi), steps);
}

TEST(apic_timer_one_shot_wakes_hlt)
{
	static const struct step steps[] = {OUT_VECTOR(0x41), OUT_MARK(1), ENTER_EXITS};
	RUN_STEPS(GUEST_CODE(guest_apic_timer_oneshot), steps);
}

TEST(apic_timer_periodic_fires_repeatedly)
{
	static const struct step steps[] = {
		OUT_VECTOR(0x43), OUT_VECTOR(0x43), OUT_VECTOR(0x43), OUT_MARK(1), ENTER_EXITS,
	};
	RUN_STEPS(GUEST_CODE(guest_apic_timer_periodic), steps);
}

TEST(apic_tsc_deadline_fires)
{
	/* The deadline MSR reads 0 once it fired. */
	static const struct step steps[] = {
		OUT_VECTOR(0x42), OUT_MARK(1), OUT_DATA(0), OUT_DATA(0), ENTER_EXITS,
	};
	RUN_STEPS(GUEST_CODE(guest_apic_tsc_deadline), steps);
}

TEST(apic_tsc_deadline_in_the_future_waits)
{
	/* The deadline counts in the guest's TSC, which KVM starts near 0 for a new VCPU: a
	 * deadline minutes ahead of it must not fire now. It reads back as written (DATA 1). */
	static const struct step steps[] = {OUT_MARK(1), OUT_DATA(1), OUT_MARK(2), ENTER_EXITS};
	RUN_STEPS(GUEST_CODE(guest_apic_tsc_deadline_far), steps);
}
