/* Kicks, the VCPU thread rules and lifecycle races with real guest code (spec §2.3, §2.5,
 * STYLE.md "Tests"): a kick before enter cancels it without running the guest, kicks collapse,
 * ZX_INFO_VCPU shows a pending kick, kicks reach a guest that spins or halts inside enter and
 * the guest resumes after CANCELED; enter and the state calls belong to the VCPU's thread while
 * interrupt, kick and close work from any thread, also after that thread exited; closing the
 * guest while a VCPU runs. Another thread learns that the VCPU is inside enter from a bell the
 * guest rings (tests/guest/irq.S), a port wait rather than a sleep. */
#include <string.h>

#include "harness/fixture.h"

/* Where a second VCPU (a real-mode AP, spec §5.2) would start; it is never entered here. */
#define AP_ENTRY 0x30000u

static uint32_t vcpu_flags(zx_handle_t vcpu, zx_status_t *out_st)
{
	zx_info_vcpu_t info = {.flags = 0xdead};
	size_t actual = 0, avail = 0;
	*out_st = zx_object_get_info(vcpu, ZX_INFO_VCPU, &info, sizeof(info), &actual, &avail);
	if (*out_st == ZX_OK && (actual != 1 || avail != 1))
		*out_st = ZX_ERR_INTERNAL;
	return info.flags;
}

#define EXPECT_FLAGS(vcpu, want)                                                                   \
	do {                                                                                       \
		zx_status_t _st;                                                                   \
		uint32_t _flags = vcpu_flags(vcpu, &_st);                                          \
		EXPECT_STATUS(ZX_OK, _st);                                                         \
		EXPECT_EQ(want, _flags);                                                           \
	} while (0)

/* ---- what other threads do ---- */

static void act_kick(struct actor *a)
{
	a->st[0] = zx_vcpu_kick(a->f->g.vcpu);
}

static void act_kick_twice(struct actor *a)
{
	a->st[0] = zx_vcpu_kick(a->f->g.vcpu);
	a->st[1] = zx_vcpu_kick(a->f->g.vcpu);
}

/* ---- kick ---- */

TEST(kick_before_enter_cancels_without_running)
{
	/* Had the guest run, the first enter would have returned its MARK 1. */
	static const struct step steps[] = {
		KICK, ENTER_FAILS(ZX_ERR_CANCELED), OUT_MARK(1), OUT_MARK(2), ENTER_EXITS,
	};
	RUN_STEPS(GUEST_CODE(guest_kick_out), steps);
}

TEST(kick_kicks_collapse_into_one_cancel)
{
	static const struct step steps[] = {
		KICK,	     KICK,	  KICK,	       ENTER_FAILS(ZX_ERR_CANCELED),
		OUT_MARK(1), OUT_MARK(2), ENTER_EXITS,
	};
	RUN_STEPS(GUEST_CODE(guest_kick_out), steps);
}

TEST(kick_info_flag_while_pending)
{
	AUTO_FIXTURE f;
	ASSERT_OK(fixture_start(&f, GUEST_CODE(guest_kick_out)));
	EXPECT_FLAGS(f.g.vcpu, 0);
	ASSERT_OK(zx_vcpu_kick(f.g.vcpu));
	EXPECT_FLAGS(f.g.vcpu, ZX_INFO_VCPU_FLAG_KICKED);
	ASSERT_OK(zx_vcpu_kick(f.g.vcpu));
	EXPECT_FLAGS(f.g.vcpu, ZX_INFO_VCPU_FLAG_KICKED);
	zx_port_packet_t p;
	ASSERT_STATUS(ZX_ERR_CANCELED, zx_vcpu_enter(f.g.vcpu, &p));
	/* Consumed by the enter that returned CANCELED. */
	EXPECT_FLAGS(f.g.vcpu, 0);
	ASSERT_MARK(&f.g, 1);
	EXPECT_FLAGS(f.g.vcpu, 0);
}

TEST(kick_from_other_thread_while_spinning)
{
	AUTO_FIXTURE f;
	ASSERT_OK(fixture_start(&f, GUEST_CODE(guest_kick_spin)));
	/* The guest rings the bell, then loops on `incq; jmp`: only the kick ends this enter. */
	AUTO_ACTOR a;
	zx_status_t st;
	ASSERT_OK(enter_with_actor(&f, &a, act_kick, &st));
	ASSERT_OK(a.wait_st);
	ASSERT_OK(a.st[0]);
	ASSERT_STATUS(ZX_ERR_CANCELED, st);
	EXPECT_FLAGS(f.g.vcpu, 0);
}

TEST(kick_from_other_thread_then_resume)
{
	AUTO_FIXTURE f;
	ASSERT_OK(fixture_start(&f, GUEST_CODE(guest_kick_spin_flag)));
	AUTO_ACTOR a;
	zx_status_t st;
	ASSERT_OK(enter_with_actor(&f, &a, act_kick_twice, &st));
	ASSERT_OK(a.wait_st);
	ASSERT_OK(a.st[0]);
	ASSERT_OK(a.st[1]);
	ASSERT_STATUS(ZX_ERR_CANCELED, st);
	/* Two kicks, one CANCELED when both land while the VCPU runs. Through a daemon the
	 * second may land after enter returned: then it is pending (KICKED) and cancels exactly
	 * one more enter, as on Zircon. Either way the VCPU resumes normally afterwards. */
	zx_status_t fst;
	if (vcpu_flags(f.g.vcpu, &fst) & ZX_INFO_VCPU_FLAG_KICKED) {
		zx_port_packet_t p;
		ASSERT_STATUS(ZX_ERR_CANCELED, zx_vcpu_enter(f.g.vcpu, &p));
	}
	ASSERT_OK(fst);
	uint32_t one = 1;
	ASSERT_OK(zx_vmo_write(f.g.vmo, &one, FLAG, sizeof(one)));
	ASSERT_MARK(&f.g, 3);
	ASSERT_OK(enter_and_clean_exit(&f.g));
}

TEST(kick_from_other_thread_while_halted)
{
	AUTO_FIXTURE f;
	ASSERT_OK(fixture_start(&f, GUEST_CODE(guest_kick_hlt)));
	/* The guest rings the bell, then halts with IF=0: nothing but the kick ends the wait. */
	AUTO_ACTOR a;
	zx_status_t st;
	ASSERT_OK(enter_with_actor(&f, &a, act_kick, &st));
	ASSERT_OK(a.wait_st);
	ASSERT_OK(a.st[0]);
	ASSERT_STATUS(ZX_ERR_CANCELED, st);
	/* The guest continues after the hlt. Should the kick have landed before the hlt ran, a
	 * pending vector wakes it (IF=0: never delivered, it only ends the wait). */
	ASSERT_OK(zx_vcpu_interrupt(f.g.vcpu, 0x40));
	ASSERT_MARK(&f.g, 3);
	ASSERT_OK(enter_and_clean_exit(&f.g));
}

/* ---- thread rules ---- */

static void act_bound_calls(struct actor *a)
{
	zx_handle_t vcpu = a->f->g.vcpu;
	zx_port_packet_t p;
	zx_vcpu_state_t s;
	zx_vcpu_io_t io = {.access_size = 1};
	a->st[0] = zx_vcpu_enter(vcpu, &p);
	a->st[1] = zx_vcpu_read_state(vcpu, ZX_VCPU_STATE, &s, sizeof(s));
	memset(&s, 0, sizeof(s));
	a->st[2] = zx_vcpu_write_state(vcpu, ZX_VCPU_STATE, &s, sizeof(s));
	a->st[3] = zx_vcpu_write_state(vcpu, ZX_VCPU_IO, &io, sizeof(io));
}

TEST(thread_bound_calls_from_other_thread_bad_state)
{
	AUTO_FIXTURE f;
	ASSERT_OK(fixture_start(&f, GUEST_CODE(guest_kick_out)));
	AUTO_ACTOR a;
	ASSERT_OK(actor_start(&a, &f, false, act_bound_calls));
	actor_join(&a);
	EXPECT_STATUS(ZX_ERR_BAD_STATE, a.st[0]);
	EXPECT_STATUS(ZX_ERR_BAD_STATE, a.st[1]);
	EXPECT_STATUS(ZX_ERR_BAD_STATE, a.st[2]);
	EXPECT_STATUS(ZX_ERR_BAD_STATE, a.st[3]);
	/* None of them touched the VCPU: it runs from the start on its own thread. */
	ASSERT_MARK(&f.g, 1);
	ASSERT_MARK(&f.g, 2);
	ASSERT_OK(enter_and_clean_exit(&f.g));
}

static void act_bound_calls_then_kick(struct actor *a)
{
	act_bound_calls(a);
	a->st[4] = zx_vcpu_kick(a->f->g.vcpu);
}

TEST(thread_state_calls_while_running_bad_state)
{
	AUTO_FIXTURE f;
	ASSERT_OK(fixture_start(&f, GUEST_CODE(guest_kick_spin)));
	AUTO_ACTOR a;
	zx_status_t st;
	ASSERT_OK(enter_with_actor(&f, &a, act_bound_calls_then_kick, &st));
	ASSERT_OK(a.wait_st);
	EXPECT_STATUS(ZX_ERR_BAD_STATE, a.st[0]);
	EXPECT_STATUS(ZX_ERR_BAD_STATE, a.st[1]);
	EXPECT_STATUS(ZX_ERR_BAD_STATE, a.st[2]);
	EXPECT_STATUS(ZX_ERR_BAD_STATE, a.st[3]);
	ASSERT_OK(a.st[4]);
	ASSERT_STATUS(ZX_ERR_CANCELED, st);
	/* The owner thread still may. */
	zx_vcpu_state_t s;
	ASSERT_OK(read_regs(&f.g, &s));
}

static void act_interrupt_kick(struct actor *a)
{
	a->st[0] = zx_vcpu_interrupt(a->f->g.vcpu, 0x40);
	a->st[1] = zx_vcpu_kick(a->f->g.vcpu);
}

TEST(thread_interrupt_and_kick_from_other_thread)
{
	AUTO_FIXTURE f;
	ASSERT_OK(fixture_start(&f, GUEST_CODE(guest_kick_out)));
	AUTO_ACTOR a;
	ASSERT_OK(actor_start(&a, &f, false, act_interrupt_kick));
	actor_join(&a);
	ASSERT_OK(a.st[0]);
	ASSERT_OK(a.st[1]);
	EXPECT_FLAGS(f.g.vcpu, ZX_INFO_VCPU_FLAG_KICKED);
	zx_port_packet_t p;
	ASSERT_STATUS(ZX_ERR_CANCELED, zx_vcpu_enter(f.g.vcpu, &p));
	/* The vector stays pending (IF=0, no IDT): the guest just runs. */
	ASSERT_MARK(&f.g, 1);
}

static void act_close(struct actor *a)
{
	a->st[0] = zx_handle_close(a->f->g.vcpu);
}

TEST(thread_close_from_other_thread_frees_the_binding)
{
	AUTO_FIXTURE f;
	ASSERT_OK(fixture_start(&f, GUEST_CODE(guest_kick_out)));
	AUTO_ACTOR a;
	ASSERT_OK(actor_start(&a, &f, false, act_close));
	actor_join(&a);
	ASSERT_OK(a.st[0]);
	zx_handle_t old = f.g.vcpu;
	f.g.vcpu = ZX_HANDLE_INVALID;
	zx_port_packet_t p;
	EXPECT_STATUS(ZX_ERR_BAD_HANDLE, zx_vcpu_enter(old, &p));
	/* This thread may bind a new VCPU now. */
	ASSERT_OK(zx_vcpu_create(f.g.guest, 0, GUEST_ENTRY, &f.g.vcpu));
}

TEST(thread_one_vcpu_per_thread)
{
	AUTO_FIXTURE f;
	ASSERT_OK(fixture_start(&f, GUEST_CODE(guest_kick_out)));
	zx_handle_t second = ZX_HANDLE_INVALID;
	EXPECT_STATUS(ZX_ERR_BAD_STATE, zx_vcpu_create(f.g.guest, 0, AP_ENTRY, &second));
	EXPECT_EQ(ZX_HANDLE_INVALID, second);
	/* A duplicate keeps the VCPU alive: still bound. */
	zx_handle_t dup;
	ASSERT_OK(zx_handle_duplicate(f.g.vcpu, ZX_RIGHT_SAME_RIGHTS, &dup));
	ASSERT_OK(zx_handle_close(f.g.vcpu));
	f.g.vcpu = dup;
	EXPECT_STATUS(ZX_ERR_BAD_STATE, zx_vcpu_create(f.g.guest, 0, AP_ENTRY, &second));
	/* The last handle gone, the thread is free again. */
	ASSERT_OK(zx_handle_close(f.g.vcpu));
	f.g.vcpu = ZX_HANDLE_INVALID;
	ASSERT_OK(zx_vcpu_create(f.g.guest, 0, AP_ENTRY, &f.g.vcpu));
}

static void act_create_vcpu(struct actor *a)
{
	a->st[0] = zx_vcpu_create(a->f->g.guest, 0, AP_ENTRY, &a->handle);
}

TEST(thread_vcpu_outlives_its_thread)
{
	AUTO_FIXTURE f;
	ASSERT_OK(fixture_start(&f, GUEST_CODE(guest_kick_out)));
	AUTO_ACTOR a;
	ASSERT_OK(actor_start(&a, &f, false, act_create_vcpu));
	actor_join(&a); /* the thread that created the VCPU has exited */
	ASSERT_OK(a.st[0]);
	zx_handle_t v = a.handle;
	/* Interrupt and kick work from any thread and only record; the bound calls stay the
	 * dead thread's. */
	EXPECT_STATUS(ZX_OK, zx_vcpu_interrupt(v, 0x40));
	EXPECT_STATUS(ZX_OK, zx_vcpu_kick(v));
	EXPECT_FLAGS(v, ZX_INFO_VCPU_FLAG_KICKED);
	zx_port_packet_t p;
	zx_vcpu_state_t s;
	EXPECT_STATUS(ZX_ERR_BAD_STATE, zx_vcpu_enter(v, &p));
	EXPECT_STATUS(ZX_ERR_BAD_STATE, zx_vcpu_read_state(v, ZX_VCPU_STATE, &s, sizeof(s)));
	ASSERT_OK(zx_handle_close(v));
	EXPECT_STATUS(ZX_ERR_BAD_HANDLE, zx_vcpu_kick(v));
	/* This thread's own VCPU was never disturbed. */
	ASSERT_MARK(&f.g, 1);
}

/* ---- lifecycle races ---- */

static void act_close_guest_then_kick(struct actor *a)
{
	a->st[0] = zx_handle_close(a->f->g.guest);
	a->st[1] = zx_handle_close(a->f->g.vmar);
	a->st[2] = zx_vcpu_kick(a->f->g.vcpu);
}

TEST(lifecycle_close_guest_while_in_enter)
{
	AUTO_FIXTURE f;
	ASSERT_OK(fixture_start(&f, GUEST_CODE(guest_kick_spin)));
	AUTO_ACTOR a;
	zx_status_t st;
	ASSERT_OK(enter_with_actor(&f, &a, act_close_guest_then_kick, &st));
	zx_handle_t guest = f.g.guest, vmar = f.g.vmar;
	f.g.guest = f.g.vmar = ZX_HANDLE_INVALID;
	ASSERT_OK(a.wait_st);
	ASSERT_OK(a.st[0]);
	ASSERT_OK(a.st[1]);
	ASSERT_OK(a.st[2]);
	/* The running VCPU kept the VM alive; the kick still ends its enter. */
	ASSERT_STATUS(ZX_ERR_CANCELED, st);
	EXPECT_STATUS(ZX_ERR_BAD_HANDLE, zx_handle_close(guest));
	EXPECT_STATUS(ZX_ERR_BAD_HANDLE, zx_handle_close(vmar));
	ASSERT_OK(zx_handle_close(f.g.vcpu));
	f.g.vcpu = ZX_HANDLE_INVALID;
}

TEST(lifecycle_enter_after_guest_closed_has_no_traps)
{
	AUTO_FIXTURE f;
	ASSERT_OK(fixture_start(&f, GUEST_CODE(guest_kick_out)));
	ASSERT_OK(zx_handle_close(f.g.guest));
	ASSERT_OK(zx_handle_close(f.g.vmar));
	f.g.guest = f.g.vmar = ZX_HANDLE_INVALID;
	/* The VCPU keeps the VM (and its memory) alive, but the traps went with the last guest
	 * handle (spec §4, zx_handle_close): the guest's `out` finds no trap. */
	zx_port_packet_t p;
	EXPECT_STATUS(ZX_ERR_NOT_FOUND, zx_vcpu_enter(f.g.vcpu, &p));
}

static void act_kick_then_close(struct actor *a)
{
	a->st[0] = zx_vcpu_kick(a->f->g.vcpu);
	a->st[1] = zx_handle_close(a->f->g.vcpu);
}

TEST(lifecycle_kick_and_close_vcpu_while_in_enter)
{
	AUTO_FIXTURE f;
	ASSERT_OK(fixture_start(&f, GUEST_CODE(guest_kick_spin)));
	AUTO_ACTOR a;
	zx_status_t st;
	ASSERT_OK(enter_with_actor(&f, &a, act_kick_then_close, &st));
	zx_handle_t old = f.g.vcpu;
	f.g.vcpu = ZX_HANDLE_INVALID;
	ASSERT_OK(a.wait_st);
	ASSERT_OK(a.st[0]);
	ASSERT_OK(a.st[1]);
	/* The enter in progress held its own reference: it ends with the kick. */
	ASSERT_STATUS(ZX_ERR_CANCELED, st);
	zx_port_packet_t p;
	EXPECT_STATUS(ZX_ERR_BAD_HANDLE, zx_vcpu_enter(old, &p));
	/* And the binding went with the last handle. */
	ASSERT_OK(zx_vcpu_create(f.g.guest, 0, GUEST_ENTRY, &f.g.vcpu));
}
