/* Interrupt delivery with real guest code (spec §2.6): the guest loads its own GDT and IDT
 * (tests/guest/irq.S, guest_lib) and each handler reports its vector and error code through an
 * `out`, so the tests see exactly what the guest received and in which order: external
 * vectors waking HLT, NMI first then the highest vector, one injection per entry, exceptions
 * with and without error codes, exceptions dropped after an injection, vectors 21..31 and
 * 256, IF=0 keeping an interrupt pending, and interrupts sent from other threads. */
#include "harness/fixture.h"

/* ---- other threads ---- */

static void act_interrupt_0x40(struct actor *a)
{
	a->st[0] = zx_vcpu_interrupt(a->f->g.vcpu, 0x40);
}

static void act_interrupt_0x42(struct actor *a)
{
	a->st[0] = zx_vcpu_interrupt(a->f->g.vcpu, 0x42);
}

/* ---- HLT and external interrupts ---- */

TEST(irq_external_wakes_hlt_from_other_thread)
{
	AUTO_FIXTURE f;
	ASSERT_OK(fixture_start(&f, GUEST_CODE(guest_irq_sti_hlt)));
	ASSERT_MARK(&f.g, 1); /* about to sti; hlt */
	/* The interrupt comes from another thread while this one is back inside enter; either
	 * it finds the guest halted or it waits in the sti shadow, and the handler runs once. */
	AUTO_ACTOR a;
	ASSERT_OK(actor_start(&a, &f, false, act_interrupt_0x40));
	bool ok = expect_out_at(__FILE__, __LINE__, &f.g, PORT_VEC, 0x40);
	actor_join(&a);
	ASSERT_OK(a.st[0]);
	ASSERT_TRUE(ok);
	ASSERT_MARK(&f.g, 2); /* resumed after the hlt */
	ASSERT_OK(enter_and_clean_exit(&f.g));
}

TEST(irq_external_pending_before_hlt)
{
	static const struct step steps[] = {
		OUT_MARK(1), INTERRUPT(0x41), OUT_VECTOR(0x41), OUT_MARK(2), ENTER_EXITS,
	};
	RUN_STEPS(GUEST_CODE(guest_irq_sti_hlt), steps);
}

TEST(irq_while_running_from_other_thread)
{
	AUTO_FIXTURE f;
	ASSERT_OK(fixture_start(&f, GUEST_CODE(guest_irq_spin)));
	/* The guest rings the bell and then spins with IF=1: the interrupt must reach it while
	 * it runs, not only at the next entry. */
	AUTO_ACTOR a;
	ASSERT_OK(actor_start(&a, &f, true, act_interrupt_0x42));
	bool ok = expect_out_at(__FILE__, __LINE__, &f.g, PORT_VEC, 0x42);
	actor_join(&a);
	ASSERT_OK(a.wait_st);
	ASSERT_OK(a.st[0]);
	ASSERT_TRUE(ok);
	/* Back in the loop: only a kick ends this enter. */
	ASSERT_OK(zx_vcpu_kick(f.g.vcpu));
	zx_port_packet_t p;
	ASSERT_STATUS(ZX_ERR_CANCELED, zx_vcpu_enter(f.g.vcpu, &p));
}

/* The steps of tests on guest_irq_loop, which reports MARK 1 after each round. */

TEST(irq_vector_bounds_32_and_255)
{
	static const struct step steps[] = {
		OUT_MARK(1),	INTERRUPT(32),	 OUT_VECTOR(32), OUT_MARK(1),
		INTERRUPT(255), OUT_VECTOR(255), OUT_MARK(1),
	};
	RUN_STEPS(GUEST_CODE(guest_irq_loop), steps);
}

TEST(irq_same_vector_twice_collapses)
{
	/* A pending vector is a bit, as in Zircon's interrupt tracker: one delivery. */
	static const struct step steps[] = {
		OUT_MARK(1), INTERRUPT(0x60), INTERRUPT(0x60), OUT_VECTOR(0x60), OUT_MARK(1),
	};
	RUN_STEPS(GUEST_CODE(guest_irq_loop), steps);
}

/* ---- priority ---- */

TEST(irq_priority_nmi_then_highest)
{
	/* One injection per entry: each handler reports before the next one is delivered. */
	static const struct step steps[] = {
		OUT_MARK(1),   INTERRUPT(0x30),	 INTERRUPT(0x50),  INTERRUPT(2),
		OUT_VECTOR(2), OUT_VECTOR(0x50), OUT_VECTOR(0x30), OUT_MARK(1),
	};
	RUN_STEPS(GUEST_CODE(guest_irq_loop), steps);
}

TEST(irq_lower_interrupts_stay_pending)
{
	static const struct step steps[] = {
		OUT_MARK(1),	  INTERRUPT(0x41),  INTERRUPT(0xf0),  INTERRUPT(0x80),
		INTERRUPT(0x7f),  OUT_VECTOR(0xf0), OUT_VECTOR(0x80), OUT_VECTOR(0x7f),
		OUT_VECTOR(0x41), OUT_MARK(1),
	};
	RUN_STEPS(GUEST_CODE(guest_irq_loop), steps);
}

/* The steps of tests on guest_irq_if0: MARK 1, 2 and 3 with IF=0, then sti and MARK 4. */

TEST(irq_nmi_delivered_with_if0)
{
	static const struct step steps[] = {
		OUT_MARK(1), INTERRUPT(2), OUT_VECTOR(2), OUT_MARK(2),
		OUT_MARK(3), OUT_MARK(4),  ENTER_EXITS,
	};
	RUN_STEPS(GUEST_CODE(guest_irq_if0), steps);
}

TEST(irq_if0_stays_pending_until_sti)
{
	/* Two more exits with IF=0: the vector waits. Then sti; nop: delivered after the sti
	 * shadow, before MARK 4. */
	static const struct step steps[] = {
		OUT_MARK(1),	  INTERRUPT(0x44), OUT_MARK(2), OUT_MARK(3),
		OUT_VECTOR(0x44), OUT_MARK(4),	   ENTER_EXITS,
	};
	RUN_STEPS(GUEST_CODE(guest_irq_if0), steps);
}

/* ---- exceptions ---- */

/* Pend one exception at a MARK exit and expect the handler's report. */
static void check_exception(uint32_t vector, bool has_error_code)
{
	const struct step with_error_code[] = {
		OUT_MARK(1),
		INTERRUPT(vector),
		OUT_VECTOR_ERR(vector, 0),
		OUT_MARK(1),
	};
	const struct step without_error_code[] = {
		OUT_MARK(1),
		INTERRUPT(vector),
		OUT_VECTOR(vector),
		OUT_MARK(1),
	};
	if (has_error_code)
		RUN_STEPS(GUEST_CODE(guest_irq_loop), with_error_code);
	else
		RUN_STEPS(GUEST_CODE(guest_irq_loop), without_error_code);
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
	/* 0x40 beats the exceptions; after its injection they are gone. */
	static const struct step steps[] = {
		OUT_MARK(1),	  INTERRUPT(13), INTERRUPT(6), INTERRUPT(0x40),
		OUT_VECTOR(0x40), OUT_MARK(1),	 OUT_MARK(1),
	};
	RUN_STEPS(GUEST_CODE(guest_irq_loop), steps);
}

TEST(irq_exception_highest_wins_others_dropped)
{
	static const struct step steps[] = {
		OUT_MARK(1),	       INTERRUPT(6), INTERRUPT(13), INTERRUPT(3),
		OUT_VECTOR_ERR(13, 0), OUT_MARK(1),  OUT_MARK(1),
	};
	RUN_STEPS(GUEST_CODE(guest_irq_loop), steps);
}

TEST(irq_exceptions_dropped_after_nmi)
{
	/* "After injecting, all pending exceptions are discarded" (spec §2.6), NMI included. */
	static const struct step steps[] = {
		OUT_MARK(1), INTERRUPT(13), INTERRUPT(2), OUT_VECTOR(2), OUT_MARK(1), OUT_MARK(1),
	};
	RUN_STEPS(GUEST_CODE(guest_irq_loop), steps);
}

TEST(irq_exception_waits_behind_blocked_interrupt)
{
	/* The highest pending vector goes first (spec §2.6); with IF=0 it waits for an interrupt
	 * window, and the exception queued below it waits too. Once 0x40 is injected after
	 * the sti, the exception is dropped. */
	static const struct step steps[] = {
		OUT_MARK(1), INTERRUPT(0x40),  INTERRUPT(6), OUT_MARK(2),
		OUT_MARK(3), OUT_VECTOR(0x40), OUT_MARK(4),  ENTER_EXITS,
	};
	RUN_STEPS(GUEST_CODE(guest_irq_if0), steps);
}

/* ---- invalid vectors ---- */

static void check_reserved_vector(uint32_t vector)
{
	const struct step steps[] = {
		OUT_MARK(1),
		INTERRUPT(vector),
		ENTER_FAILS(ZX_ERR_NOT_SUPPORTED),
	};
	RUN_STEPS(GUEST_CODE(guest_irq_loop), steps);
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
