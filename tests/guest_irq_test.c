/* Interrupt delivery with real guest code (spec §2.6): the guest loads its own GDT and IDT
 * (tests/guest/irq.S, guest_lib) and each handler reports its vector and error code through an
 * `out`, so the tests see exactly what the guest received and in which order: external
 * vectors waking HLT, NMI first then the highest vector, one injection per entry, exceptions
 * with and without error codes, exceptions dropped after an injection, vectors 21..31 and
 * 256, IF=0 keeping an interrupt pending, and interrupts sent from other threads. */
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <time.h>

#include "harness/guest.h"
#include "harness/test.h"

/* The layout of tests/guest/irq.S. */
#define LIB_BASE 0x20000u
#define BELL_GPA 0x40000000u
#define PORT_VEC 0x10
#define PORT_ERR 0x11
#define PORT_MARK 0x12
#define REPORT_KEY 0x1e0u
#define BELL_KEY 0xbe11u
#define HAS_ERR 0x100u

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

static zx_time_t deadline_after_ms(int64_t ms)
{
	struct timespec ts = abs_after_ms(ms);
	return (zx_time_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
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
/* The handler of `vector` ran and found no error code on its stack. */
#define ASSERT_VECTOR(g, vector) ASSERT_OUT(g, PORT_VEC, vector)
/* The handler of `vector` ran and found error code `err`. */
#define ASSERT_VECTOR_ERR(g, vector, err)                                                          \
	do {                                                                                       \
		ASSERT_OUT(g, PORT_VEC, (vector) | HAS_ERR);                                       \
		ASSERT_OUT(g, PORT_ERR, err);                                                      \
	} while (0)

/* ---- other threads ---- */

struct sender {
	pthread_t thread;
	zx_handle_t vcpu;
	zx_handle_t port; /* if set: wait for the guest's bell first */
	uint32_t vector;
	zx_status_t wait_st, st;
};

static void *sender_main(void *arg)
{
	struct sender *s = arg;
	if (s->port) {
		zx_port_packet_t p;
		s->wait_st = zx_port_wait(s->port, deadline_after_ms(WATCHDOG_MS), &p);
	}
	s->st = zx_vcpu_interrupt(s->vcpu, s->vector);
	return NULL;
}

static bool sender_start(struct sender *s)
{
	return pthread_create(&s->thread, NULL, sender_main, s) == 0;
}

/* ---- HLT and external interrupts ---- */

TEST(irq_external_wakes_hlt_from_other_thread)
{
	AUTO_FIXTURE f;
	ASSERT_OK(fixture_start(&f, GUEST_CODE(guest_irq_sti_hlt)));
	ASSERT_MARK(&f.g, 1); /* about to sti; hlt */
	/* The interrupt comes from another thread while this one is back inside enter; either
	 * it finds the guest halted or it waits in the sti shadow, and the handler runs once. */
	struct sender s = {.vcpu = f.g.vcpu, .vector = 0x40};
	ASSERT_TRUE(sender_start(&s));
	bool ok = expect_out_at(__FILE__, __LINE__, &f.g, PORT_VEC, 0x40);
	pthread_join(s.thread, NULL);
	ASSERT_OK(s.st);
	ASSERT_TRUE(ok);
	ASSERT_MARK(&f.g, 2); /* resumed after the hlt */
	ASSERT_OK(enter_and_clean_exit(&f.g));
}

TEST(irq_external_pending_before_hlt)
{
	AUTO_FIXTURE f;
	ASSERT_OK(fixture_start(&f, GUEST_CODE(guest_irq_sti_hlt)));
	ASSERT_MARK(&f.g, 1);
	ASSERT_OK(zx_vcpu_interrupt(f.g.vcpu, 0x41));
	ASSERT_VECTOR(&f.g, 0x41);
	ASSERT_MARK(&f.g, 2);
	ASSERT_OK(enter_and_clean_exit(&f.g));
}

TEST(irq_while_running_from_other_thread)
{
	AUTO_FIXTURE f;
	ASSERT_OK(fixture_start(&f, GUEST_CODE(guest_irq_spin)));
	zx_handle_t port;
	ASSERT_OK(zx_port_create(0, &port));
	zx_status_t st =
		zx_guest_set_trap(f.g.guest, ZX_GUEST_TRAP_BELL, BELL_GPA, 0x1000, port, BELL_KEY);
	/* The guest rings the bell and then spins with IF=1: the interrupt must reach it while
	 * it runs, not only at the next entry. */
	struct sender s = {.vcpu = f.g.vcpu, .port = port, .vector = 0x42};
	bool started = st == ZX_OK && sender_start(&s);
	bool ok = started && expect_out_at(__FILE__, __LINE__, &f.g, PORT_VEC, 0x42);
	if (started)
		pthread_join(s.thread, NULL);
	zx_handle_close(port);
	ASSERT_OK(st);
	ASSERT_TRUE(started);
	ASSERT_OK(s.wait_st);
	ASSERT_OK(s.st);
	ASSERT_TRUE(ok);
	/* Back in the loop: only a kick ends this enter. */
	ASSERT_OK(zx_vcpu_kick(f.g.vcpu));
	zx_port_packet_t p;
	ASSERT_STATUS(ZX_ERR_CANCELED, zx_vcpu_enter(f.g.vcpu, &p));
}

TEST(irq_vector_bounds_32_and_255)
{
	AUTO_FIXTURE f;
	ASSERT_OK(fixture_start(&f, GUEST_CODE(guest_irq_loop)));
	ASSERT_MARK(&f.g, 1);
	ASSERT_OK(zx_vcpu_interrupt(f.g.vcpu, 32));
	ASSERT_VECTOR(&f.g, 32);
	ASSERT_MARK(&f.g, 1);
	ASSERT_OK(zx_vcpu_interrupt(f.g.vcpu, 255));
	ASSERT_VECTOR(&f.g, 255);
	ASSERT_MARK(&f.g, 1);
}

TEST(irq_same_vector_twice_collapses)
{
	AUTO_FIXTURE f;
	ASSERT_OK(fixture_start(&f, GUEST_CODE(guest_irq_loop)));
	ASSERT_MARK(&f.g, 1);
	/* A pending vector is a bit, as in Zircon's interrupt tracker: one delivery. */
	ASSERT_OK(zx_vcpu_interrupt(f.g.vcpu, 0x60));
	ASSERT_OK(zx_vcpu_interrupt(f.g.vcpu, 0x60));
	ASSERT_VECTOR(&f.g, 0x60);
	ASSERT_MARK(&f.g, 1);
}

/* ---- priority ---- */

TEST(irq_priority_nmi_then_highest)
{
	AUTO_FIXTURE f;
	ASSERT_OK(fixture_start(&f, GUEST_CODE(guest_irq_loop)));
	ASSERT_MARK(&f.g, 1);
	ASSERT_OK(zx_vcpu_interrupt(f.g.vcpu, 0x30));
	ASSERT_OK(zx_vcpu_interrupt(f.g.vcpu, 0x50));
	ASSERT_OK(zx_vcpu_interrupt(f.g.vcpu, 2));
	/* One injection per entry: each handler reports before the next one is delivered. */
	ASSERT_VECTOR(&f.g, 2);
	ASSERT_VECTOR(&f.g, 0x50);
	ASSERT_VECTOR(&f.g, 0x30);
	ASSERT_MARK(&f.g, 1);
}

TEST(irq_lower_interrupts_stay_pending)
{
	AUTO_FIXTURE f;
	ASSERT_OK(fixture_start(&f, GUEST_CODE(guest_irq_loop)));
	ASSERT_MARK(&f.g, 1);
	static const uint32_t vecs[] = {0x41, 0xf0, 0x80, 0x7f};
	for (size_t i = 0; i < 4; i++)
		ASSERT_OK(zx_vcpu_interrupt(f.g.vcpu, vecs[i]));
	ASSERT_VECTOR(&f.g, 0xf0);
	ASSERT_VECTOR(&f.g, 0x80);
	ASSERT_VECTOR(&f.g, 0x7f);
	ASSERT_VECTOR(&f.g, 0x41);
	ASSERT_MARK(&f.g, 1);
}

TEST(irq_nmi_delivered_with_if0)
{
	AUTO_FIXTURE f;
	ASSERT_OK(fixture_start(&f, GUEST_CODE(guest_irq_if0)));
	ASSERT_MARK(&f.g, 1);
	ASSERT_OK(zx_vcpu_interrupt(f.g.vcpu, 2));
	ASSERT_VECTOR(&f.g, 2);
	ASSERT_MARK(&f.g, 2);
	ASSERT_MARK(&f.g, 3);
	ASSERT_MARK(&f.g, 4);
	ASSERT_OK(enter_and_clean_exit(&f.g));
}

TEST(irq_if0_stays_pending_until_sti)
{
	AUTO_FIXTURE f;
	ASSERT_OK(fixture_start(&f, GUEST_CODE(guest_irq_if0)));
	ASSERT_MARK(&f.g, 1);
	ASSERT_OK(zx_vcpu_interrupt(f.g.vcpu, 0x44));
	/* Two more exits with IF=0: the vector waits. */
	ASSERT_MARK(&f.g, 2);
	ASSERT_MARK(&f.g, 3);
	/* sti; nop: delivered after the sti shadow, before MARK 4. */
	ASSERT_VECTOR(&f.g, 0x44);
	ASSERT_MARK(&f.g, 4);
	ASSERT_OK(enter_and_clean_exit(&f.g));
}

/* ---- exceptions ---- */

/* Pend one exception at a MARK exit and expect the handler's report. */
static void check_exception(uint32_t vector, bool has_error_code)
{
	AUTO_FIXTURE f;
	ASSERT_OK(fixture_start(&f, GUEST_CODE(guest_irq_loop)));
	ASSERT_MARK(&f.g, 1);
	ASSERT_OK(zx_vcpu_interrupt(f.g.vcpu, vector));
	if (has_error_code)
		ASSERT_VECTOR_ERR(&f.g, vector, 0);
	else
		ASSERT_VECTOR(&f.g, vector);
	ASSERT_MARK(&f.g, 1);
}

TEST(irq_exception_gp_pushes_error_code_0)
{
	check_exception(13, true);
}

TEST(irq_exception_bp_has_no_error_code)
{
	check_exception(3, false);
}

TEST(irq_exception_ud_has_no_error_code)
{
	check_exception(6, false);
}

TEST(irq_exceptions_with_error_code)
{
	/* #DF, #TS, #NP, #SS, #PF and #AC (spec §2.6: error code 0). */
	static const uint32_t vecs[] = {8, 10, 11, 12, 14, 17};
	for (size_t i = 0; i < ARRAY_SIZE(vecs) && !test_failed(); i++)
		check_exception(vecs[i], true);
}

TEST(irq_exceptions_without_error_code)
{
	/* Not #MC (18): with CR4.MCE clear, as Zircon starts guests, it shuts the CPU down
	 * (Intel SDM vol 3, 15.10.1). */
	static const uint32_t vecs[] = {0, 1, 4, 5, 7, 9, 15, 16, 19, 20};
	for (size_t i = 0; i < ARRAY_SIZE(vecs) && !test_failed(); i++)
		check_exception(vecs[i], false);
}

TEST(irq_exceptions_dropped_after_interrupt)
{
	AUTO_FIXTURE f;
	ASSERT_OK(fixture_start(&f, GUEST_CODE(guest_irq_loop)));
	ASSERT_MARK(&f.g, 1);
	ASSERT_OK(zx_vcpu_interrupt(f.g.vcpu, 13));
	ASSERT_OK(zx_vcpu_interrupt(f.g.vcpu, 6));
	ASSERT_OK(zx_vcpu_interrupt(f.g.vcpu, 0x40));
	/* 0x40 beats the exceptions; after its injection they are gone. */
	ASSERT_VECTOR(&f.g, 0x40);
	ASSERT_MARK(&f.g, 1);
	ASSERT_MARK(&f.g, 1);
}

TEST(irq_exception_highest_wins_others_dropped)
{
	AUTO_FIXTURE f;
	ASSERT_OK(fixture_start(&f, GUEST_CODE(guest_irq_loop)));
	ASSERT_MARK(&f.g, 1);
	ASSERT_OK(zx_vcpu_interrupt(f.g.vcpu, 6));
	ASSERT_OK(zx_vcpu_interrupt(f.g.vcpu, 13));
	ASSERT_OK(zx_vcpu_interrupt(f.g.vcpu, 3));
	ASSERT_VECTOR_ERR(&f.g, 13, 0);
	ASSERT_MARK(&f.g, 1);
	ASSERT_MARK(&f.g, 1);
}

TEST(irq_exceptions_dropped_after_nmi)
{
	AUTO_FIXTURE f;
	ASSERT_OK(fixture_start(&f, GUEST_CODE(guest_irq_loop)));
	ASSERT_MARK(&f.g, 1);
	ASSERT_OK(zx_vcpu_interrupt(f.g.vcpu, 13));
	ASSERT_OK(zx_vcpu_interrupt(f.g.vcpu, 2));
	/* "After injecting, all pending exceptions are discarded" (spec §2.6), NMI included. */
	ASSERT_VECTOR(&f.g, 2);
	ASSERT_MARK(&f.g, 1);
	ASSERT_MARK(&f.g, 1);
}

TEST(irq_exception_waits_behind_blocked_interrupt)
{
	AUTO_FIXTURE f;
	ASSERT_OK(fixture_start(&f, GUEST_CODE(guest_irq_if0)));
	ASSERT_MARK(&f.g, 1);
	/* The highest pending vector goes first (spec §2.6); with IF=0 it waits for an interrupt
	 * window, and the exception queued below it waits too. Once 0x40 is injected after
	 * the sti, the exception is dropped. */
	ASSERT_OK(zx_vcpu_interrupt(f.g.vcpu, 0x40));
	ASSERT_OK(zx_vcpu_interrupt(f.g.vcpu, 6));
	ASSERT_MARK(&f.g, 2);
	ASSERT_MARK(&f.g, 3);
	ASSERT_VECTOR(&f.g, 0x40);
	ASSERT_MARK(&f.g, 4);
	ASSERT_OK(enter_and_clean_exit(&f.g));
}

/* ---- invalid vectors ---- */

static void check_reserved_vector(uint32_t vector)
{
	AUTO_FIXTURE f;
	ASSERT_OK(fixture_start(&f, GUEST_CODE(guest_irq_loop)));
	ASSERT_MARK(&f.g, 1);
	ASSERT_OK(zx_vcpu_interrupt(f.g.vcpu, vector));
	zx_port_packet_t p;
	ASSERT_STATUS(ZX_ERR_NOT_SUPPORTED, zx_vcpu_enter(f.g.vcpu, &p));
}

TEST(irq_reserved_vectors_21_to_31_not_supported)
{
	for (uint32_t v = 21; v <= 31 && !test_failed(); v += 5)
		check_reserved_vector(v);
	if (!test_failed())
		check_reserved_vector(31);
}

TEST(irq_vector_out_of_range)
{
	AUTO_FIXTURE f;
	ASSERT_OK(fixture_start(&f, GUEST_CODE(guest_irq_loop)));
	ASSERT_MARK(&f.g, 1);
	EXPECT_STATUS(ZX_ERR_OUT_OF_RANGE, zx_vcpu_interrupt(f.g.vcpu, 256));
	EXPECT_STATUS(ZX_ERR_OUT_OF_RANGE, zx_vcpu_interrupt(f.g.vcpu, UINT32_MAX));
	/* Nothing was recorded: the guest just loops. */
	ASSERT_MARK(&f.g, 1);
	ASSERT_MARK(&f.g, 1);
}
