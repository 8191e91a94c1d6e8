/* The x2APIC a Zircon guest sees, with real guest code (spec §5.3, §3.3): APIC base, ID and
 * version MSRs on the BSP and on a second VCPU, the other registers' reset values, ICR writes
 * that become GUEST_VCPU packets (fixed, shorthands, NMI, STARTUP; INIT ignored; logical mode
 * and other delivery modes refused), the self IPI, the LVT timer in one-shot, periodic and
 * TSC-deadline modes, and the enter errors and #GPs for what Zircon does not accept. */
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <time.h>

#include "harness/guest.h"
#include "harness/test.h"

/* The layout of tests/guest/irq.S. */
#define LIB_BASE 0x20000u
#define PORT_VEC 0x10
#define PORT_ERR 0x11
#define PORT_MARK 0x12
#define PORT_DATA 0x13
#define REPORT_KEY 0x1e0u
#define HAS_ERR 0x100u
/* Where the second VCPU starts (real mode, CS = entry >> 4, spec §5.2). */
#define AP_ENTRY 0x30000u

#define APIC_BASE_BSP 0xfee00d00u /* 0xfee00000 | xAPIC enable | x2APIC enable | BSP */
#define APIC_BASE_AP 0xfee00c00u
#define LVT_MASKED 0x10000u

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* ---- the fixture: a guest with the interrupt library, and a watchdog ---- */

/* A guest that hangs (an interrupt never delivered, a HLT never woken) would hang the whole
 * program: the watchdog kicks the VCPU after WATCHDOG_MS so that the test fails instead. It
 * waits on a condition variable, not by polling. */
#define WATCHDOG_MS 10000

struct watchdog {
	bool started, stop, fired;
	zx_handle_t vcpu;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
};

static struct timespec abs_after_ms(int64_t ms)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	return ts;
}

static void *watchdog_main(void *arg)
{
	struct watchdog *w = arg;
	struct timespec until = abs_after_ms(WATCHDOG_MS);
	pthread_mutex_lock(&w->lock);
	while (!w->stop && !w->fired)
		if (pthread_cond_timedwait(&w->cond, &w->lock, &until) == ETIMEDOUT)
			w->fired = true;
	pthread_mutex_unlock(&w->lock);
	if (w->fired)
		zx_vcpu_kick(w->vcpu);
	return NULL;
}

static void watchdog_start(struct watchdog *w, zx_handle_t vcpu)
{
	pthread_condattr_t attr;
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&w->cond, &attr);
	pthread_condattr_destroy(&attr);
	pthread_mutex_init(&w->lock, NULL);
	w->vcpu = vcpu;
	w->started = pthread_create(&w->thread, NULL, watchdog_main, w) == 0;
}

static void watchdog_stop(struct watchdog *w)
{
	if (!w->started)
		return;
	pthread_mutex_lock(&w->lock);
	w->stop = true;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
	pthread_join(w->thread, NULL);
	if (w->fired)
		test_fail(__FILE__, __LINE__, "the guest hung: the watchdog kicked it after %d ms",
			  WATCHDOG_MS);
	pthread_cond_destroy(&w->cond);
	pthread_mutex_destroy(&w->lock);
	w->started = false;
}

struct fixture {
	struct test_guest g;
	struct watchdog wd;
};

static void fixture_end(struct fixture *f)
{
	watchdog_stop(&f->wd);
	teardown_guest(&f->g);
}

/* Torn down however the test returns, so that a failed assertion does not leave a VCPU bound
 * to this thread for the next test. */
#define AUTO_FIXTURE struct fixture __attribute__((cleanup(fixture_end)))

/* The guest of `code` plus the interrupt library at LIB_BASE and an IO trap on the report
 * ports; starts the watchdog. */
static zx_status_t fixture_start(struct fixture *f, struct guest_code code)
{
	memset(f, 0, sizeof(*f));
	zx_status_t st = setup_guest(&f->g, code);
	struct guest_code lib = GUEST_CODE(guest_lib);
	if (st == ZX_OK)
		st = zx_vmo_write(f->g.vmo, lib.bytes, LIB_BASE, lib.len);
	if (st == ZX_OK)
		st = zx_guest_set_trap(f->g.guest, ZX_GUEST_TRAP_IO, PORT_VEC, 4, ZX_HANDLE_INVALID,
				       REPORT_KEY);
	if (st == ZX_OK)
		watchdog_start(&f->wd, f->g.vcpu);
	return st;
}

/* ---- expectations ---- */

static const char *io_name(uint16_t port)
{
	switch (port) {
	case PORT_VEC:
		return "vector";
	case PORT_ERR:
		return "error code";
	case PORT_MARK:
		return "mark";
	case PORT_DATA:
		return "data";
	default:
		return "port";
	}
}

/* Enter once and expect the guest's 4-byte `out` of `value` to `port`. */
static bool expect_out_at(const char *file, int line, struct test_guest *g, uint16_t port,
			  uint32_t value)
{
	zx_port_packet_t p;
	zx_status_t st = zx_vcpu_enter(g->vcpu, &p);
	if (st != ZX_OK) {
		test_fail(file, line, "enter: expected %s %#x, got %s", io_name(port), value,
			  zx_status_get_string(st));
		return false;
	}
	if (p.type != ZX_PKT_TYPE_GUEST_IO || p.guest_io.input) {
		test_fail(file, line, "expected %s %#x, got a %s packet", io_name(port), value,
			  packet_type_name(p.type));
		return false;
	}
	uint32_t got = p.guest_io.access_size == 4 ? p.guest_io.u32 : p.guest_io.u8;
	if (p.guest_io.port != port || got != value) {
		test_fail(file, line, "expected %s %#x, got %s %#x (port %#x)", io_name(port),
			  value, io_name(p.guest_io.port), got, p.guest_io.port);
		return false;
	}
	return true;
}

#define ASSERT_OUT(g, port, value)                                                                 \
	do {                                                                                       \
		if (!expect_out_at(__FILE__, __LINE__, (g), (port), (value)))                      \
			return;                                                                    \
	} while (0)
#define ASSERT_MARK(g, n) ASSERT_OUT(g, PORT_MARK, n)
#define ASSERT_DATA(g, v) ASSERT_OUT(g, PORT_DATA, v)
#define ASSERT_VECTOR(g, vector) ASSERT_OUT(g, PORT_VEC, vector)
#define ASSERT_VECTOR_ERR(g, vector, err)                                                          \
	do {                                                                                       \
		ASSERT_OUT(g, PORT_VEC, (vector) | HAS_ERR);                                       \
		ASSERT_OUT(g, PORT_ERR, err);                                                      \
	} while (0)

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
		uint64_t got = 0;
		for (int half = 0; half < 2; half++) {
			zx_port_packet_t p;
			ASSERT_OK(zx_vcpu_enter(f.g.vcpu, &p));
			ASSERT_EQ(ZX_PKT_TYPE_GUEST_IO, p.type);
			ASSERT_EQ(PORT_DATA, p.guest_io.port);
			got |= (uint64_t)p.guest_io.u32 << (32 * half);
		}
		if (got != want[i].value)
			test_fail(__FILE__, __LINE__,
				  "rdmsr %s: expected %#" PRIx64 ", got %#" PRIx64, want[i].what,
				  want[i].value, got);
	}
	ASSERT_OK(enter_and_clean_exit(&f.g));
}

/* The second VCPU runs on its own thread and reports what guest_apic_ap16 read. */
struct ap_run {
	zx_handle_t guest;
	zx_status_t create_st, enter_st;
	uint32_t values[8];
	size_t n;
	bool exited;
};

static void *ap_main(void *arg)
{
	struct ap_run *r = arg;
	zx_handle_t vcpu;
	r->create_st = zx_vcpu_create(r->guest, 0, AP_ENTRY, &vcpu);
	if (r->create_st != ZX_OK)
		return NULL;
	while (r->n < ARRAY_SIZE(r->values)) {
		zx_port_packet_t p;
		r->enter_st = zx_vcpu_enter(vcpu, &p);
		if (r->enter_st != ZX_OK || p.type != ZX_PKT_TYPE_GUEST_IO)
			break;
		if (p.guest_io.port == GUEST_EXIT_PORT) {
			r->exited = true;
			break;
		}
		r->values[r->n++] = p.guest_io.u32;
	}
	zx_handle_close(vcpu);
	return NULL;
}

TEST(apic_second_vcpu_ids)
{
	AUTO_FIXTURE f;
	ASSERT_OK(fixture_start(&f, GUEST_CODE(guest_kick_out)));
	struct guest_code ap = GUEST_CODE(guest_apic_ap16);
	ASSERT_OK(zx_vmo_write(f.g.vmo, ap.bytes, AP_ENTRY, ap.len));
	/* The fixture's VCPU (VPID 1, APIC ID 0) is the BSP; the one made by the other thread is
	 * VPID 2: not the BSP, APIC ID 1. */
	struct ap_run r = {.guest = f.g.guest};
	pthread_t t;
	ASSERT_TRUE(pthread_create(&t, NULL, ap_main, &r) == 0);
	pthread_join(t, NULL);
	ASSERT_OK(r.create_st);
	ASSERT_OK(r.enter_st);
	ASSERT_TRUE(r.exited);
	ASSERT_EQ(5, r.n);
	EXPECT_EQ(APIC_BASE_AP, r.values[0]);
	EXPECT_EQ(0, r.values[1]);
	EXPECT_EQ(1, r.values[2]);	 /* x2APIC ID */
	EXPECT_EQ(1, r.values[3] >> 24); /* CPUID.1 EBX[31:24] */
	EXPECT_EQ(1, r.values[4]);	 /* CPUID.0B EDX */
}

TEST(apic_base_write_same_value_accepted)
{
	AUTO_FIXTURE f;
	ASSERT_OK(msr_fixture(&f, 0x1b, MSR_WRITE, APIC_BASE_BSP));
	ASSERT_MARK(&f.g, 1);
	ASSERT_OK(enter_and_clean_exit(&f.g));
}

TEST(apic_base_write_other_value_invalid_args)
{
	static const uint64_t values[] = {APIC_BASE_AP, 0xfed00d00, APIC_BASE_BSP & ~0x400u, 0};
	for (size_t i = 0; i < ARRAY_SIZE(values) && !test_failed(); i++) {
		AUTO_FIXTURE f;
		ASSERT_OK(msr_fixture(&f, 0x1b, MSR_WRITE, values[i]));
		zx_port_packet_t p;
		ASSERT_STATUS(ZX_ERR_INVALID_ARGS, zx_vcpu_enter(f.g.vcpu, &p));
	}
}

/* ---- #GP for registers Zircon does not have ---- */

static void check_gp(uint32_t msr, enum msr_op op, uint64_t value)
{
	AUTO_FIXTURE f;
	ASSERT_OK(msr_fixture(&f, msr, op, value));
	ASSERT_VECTOR_ERR(&f.g, 13, 0);
	ASSERT_MARK(&f.g, 1);
	ASSERT_OK(enter_and_clean_exit(&f.g));
}

TEST(apic_unknown_register_read_gp)
{
	check_gp(0x804, MSR_READ, 0);
	if (!test_failed())
		check_gp(0x831, MSR_READ, 0);
}

TEST(apic_read_only_register_write_gp)
{
	check_gp(0x802, MSR_WRITE, 5);
	if (!test_failed())
		check_gp(0x803, MSR_WRITE, 0x60015);
}

TEST(apic_eoi_write_must_be_zero)
{
	{
		AUTO_FIXTURE f;
		ASSERT_OK(msr_fixture(&f, 0x80b, MSR_WRITE, 0));
		ASSERT_MARK(&f.g, 1);
	}
	check_gp(0x80b, MSR_WRITE, 1);
}

TEST(apic_unknown_msr_gp)
{
	check_gp(0x12345, MSR_READ, 0);
	if (!test_failed())
		check_gp(0x12345, MSR_WRITE, 1);
}

TEST(apic_lvt_timer_write_reads_back)
{
	AUTO_FIXTURE f;
	/* Periodic, vector 0x41, masked: nothing fires (the initial count is 0 anyway). */
	ASSERT_OK(msr_fixture(&f, 0x832, MSR_WRITE_READ, 0x30041));
	ASSERT_DATA(&f.g, 0x30041);
	ASSERT_DATA(&f.g, 0);
	ASSERT_MARK(&f.g, 1);
}

TEST(apic_lvt_timer_reserved_mode_invalid_args)
{
	AUTO_FIXTURE f;
	ASSERT_OK(msr_fixture(&f, 0x832, MSR_WRITE, 0x60041));
	zx_port_packet_t p;
	ASSERT_STATUS(ZX_ERR_INVALID_ARGS, zx_vcpu_enter(f.g.vcpu, &p));
}

TEST(apic_tsc_deadline_outside_deadline_mode_invalid_args)
{
	AUTO_FIXTURE f;
	/* LVT timer still masked one-shot, as after reset. */
	ASSERT_OK(msr_fixture(&f, 0x6e0, MSR_WRITE, 12345));
	zx_port_packet_t p;
	ASSERT_STATUS(ZX_ERR_INVALID_ARGS, zx_vcpu_enter(f.g.vcpu, &p));
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

/* An ICR write that must produce an INTERRUPT packet (mask, vector), after which the guest
 * continues to its MARK. */
#define ASSERT_ICR_INTERRUPT(f, icr, mask, vector)                                                 \
	do {                                                                                       \
		zx_port_packet_t _p;                                                               \
		ASSERT_OK(icr_enter(f, icr, &_p));                                                 \
		expect_vcpu_packet_at(__LINE__, &_p, ZX_PKT_GUEST_VCPU_INTERRUPT, mask, vector);   \
		ASSERT_MARK(&(f)->g, 1);                                                           \
	} while (0)

TEST(apic_icr_fixed_physical_destination)
{
	AUTO_FIXTURE f;
	ASSERT_OK(fixture_start(&f, GUEST_CODE(guest_apic_icr)));
	ASSERT_ICR_INTERRUPT(&f, ICR_DEST(1) | 0x40, 1ull << 1, 0x40);
	ASSERT_ICR_INTERRUPT(&f, ICR_DEST(0) | 0x41, 1ull << 0, 0x41);
	ASSERT_ICR_INTERRUPT(&f, ICR_DEST(63) | 0xfe, 1ull << 63, 0xfe);
}

TEST(apic_icr_fixed_broadcast_and_out_of_range_destinations)
{
	AUTO_FIXTURE f;
	ASSERT_OK(fixture_start(&f, GUEST_CODE(guest_apic_icr)));
	ASSERT_ICR_INTERRUPT(&f, ICR_DEST(0xffffffffu) | 0x42, UINT64_MAX, 0x42);
	/* No VCPU has APIC ID 64 or more: an empty mask. */
	ASSERT_ICR_INTERRUPT(&f, ICR_DEST(64) | 0x43, 0, 0x43);
}

TEST(apic_icr_shorthands)
{
	AUTO_FIXTURE f;
	ASSERT_OK(fixture_start(&f, GUEST_CODE(guest_apic_icr)));
	/* The destination field is ignored with a shorthand. This is the BSP: APIC ID 0. */
	ASSERT_ICR_INTERRUPT(&f, ICR_SHORTHAND(1) | ICR_DEST(5) | 0x50, 1ull << 0, 0x50);
	ASSERT_ICR_INTERRUPT(&f, ICR_SHORTHAND(2) | 0x51, UINT64_MAX, 0x51);
	ASSERT_ICR_INTERRUPT(&f, ICR_SHORTHAND(3) | 0x52, ~1ull, 0x52);
}

TEST(apic_icr_nmi)
{
	AUTO_FIXTURE f;
	ASSERT_OK(fixture_start(&f, GUEST_CODE(guest_apic_icr)));
	/* Vector 2 whatever the ICR's vector field; never to the sender itself. */
	ASSERT_ICR_INTERRUPT(&f, ICR_MODE(4) | ICR_DEST(1) | 0x99, 1ull << 1, 2);
	ASSERT_ICR_INTERRUPT(&f, ICR_MODE(4) | ICR_SHORTHAND(2), ~1ull, 2);
	ASSERT_ICR_INTERRUPT(&f, ICR_MODE(4) | ICR_SHORTHAND(3), ~1ull, 2);
	ASSERT_ICR_INTERRUPT(&f, ICR_MODE(4) | ICR_DEST(0), 0, 2);
}

TEST(apic_icr_startup)
{
	AUTO_FIXTURE f;
	ASSERT_OK(fixture_start(&f, GUEST_CODE(guest_apic_icr)));
	zx_port_packet_t p;
	ASSERT_OK(icr_enter(&f, ICR_MODE(6) | ICR_DEST(1) | 0x9a, &p));
	expect_vcpu_packet_at(__LINE__, &p, ZX_PKT_GUEST_VCPU_STARTUP, 1, 0x9a000);
	ASSERT_MARK(&f.g, 1);
	ASSERT_OK(icr_enter(&f, ICR_MODE(6) | ICR_DEST(7) | 0x10, &p));
	expect_vcpu_packet_at(__LINE__, &p, ZX_PKT_GUEST_VCPU_STARTUP, 7, 0x10000);
	ASSERT_MARK(&f.g, 1);
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
	AUTO_FIXTURE f;
	ASSERT_OK(fixture_start(&f, GUEST_CODE(guest_apic_self_ipi)));
	ASSERT_VECTOR(&f.g, 0x45);
	ASSERT_MARK(&f.g, 1);
	ASSERT_OK(enter_and_clean_exit(&f.g));
}

TEST(apic_timer_one_shot_wakes_hlt)
{
	AUTO_FIXTURE f;
	ASSERT_OK(fixture_start(&f, GUEST_CODE(guest_apic_timer_oneshot)));
	ASSERT_VECTOR(&f.g, 0x41);
	ASSERT_MARK(&f.g, 1);
	ASSERT_OK(enter_and_clean_exit(&f.g));
}

TEST(apic_timer_periodic_fires_repeatedly)
{
	AUTO_FIXTURE f;
	ASSERT_OK(fixture_start(&f, GUEST_CODE(guest_apic_timer_periodic)));
	ASSERT_VECTOR(&f.g, 0x43);
	ASSERT_VECTOR(&f.g, 0x43);
	ASSERT_VECTOR(&f.g, 0x43);
	ASSERT_MARK(&f.g, 1);
	ASSERT_OK(enter_and_clean_exit(&f.g));
}

TEST(apic_tsc_deadline_fires)
{
	AUTO_FIXTURE f;
	ASSERT_OK(fixture_start(&f, GUEST_CODE(guest_apic_tsc_deadline)));
	ASSERT_VECTOR(&f.g, 0x42);
	ASSERT_MARK(&f.g, 1);
	/* Cleared once it fired. */
	ASSERT_DATA(&f.g, 0);
	ASSERT_DATA(&f.g, 0);
	ASSERT_OK(enter_and_clean_exit(&f.g));
}

TEST(apic_tsc_deadline_in_the_future_waits)
{
	AUTO_FIXTURE f;
	ASSERT_OK(fixture_start(&f, GUEST_CODE(guest_apic_tsc_deadline_far)));
	/* The deadline counts in the guest's TSC, which KVM starts near 0 for a new VCPU: a
	 * deadline minutes ahead of it must not fire now. */
	ASSERT_MARK(&f.g, 1);
	ASSERT_DATA(&f.g, 1); /* reads back as written */
	ASSERT_MARK(&f.g, 2);
	ASSERT_OK(enter_and_clean_exit(&f.g));
}
