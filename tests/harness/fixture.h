/* The interrupt-library fixture of the guest tests (STYLE.md "Tests"): a guest of guest.h with
 * guest_lib of tests/guest/irq.S loaded at LIB_BASE, an IO trap on the ports the library and
 * its guests report on, and a watchdog that kicks a VCPU that hangs; expectations on those
 * reports, one at a time or as a table of steps; and an actor, another thread that acts on the
 * VCPU once the guest rang a bell from inside enter. */
#pragma once

#include <pthread.h>
#include <stdbool.h>

#include "guest.h"
#include "test.h"

/* The layout of the library (tests/guest/guest-asm.h; keep them in sync). */
#define LIB_BASE 0x20000u
#define FLAG 0x9010u
#define BELL_GPA 0x40000000u
#define PORT_VEC 0x10	  /* a handler ran: vector | HAS_ERR if the CPU pushed an error code */
#define PORT_ERR 0x11	  /* ...and that error code */
#define PORT_MARK 0x12	  /* MARK n: the guest reached point n */
#define PORT_DATA 0x13	  /* a value the guest read */
#define REPORT_KEY 0x1e0u /* the key of the IO trap on the four ports */
#define BELL_KEY 0xbe11u  /* the key of an actor's bell trap */
#define HAS_ERR 0x100u

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

struct fixture {
	struct test_guest g;
	struct watchdog wd;
};

/* The guest of `code` plus the library at LIB_BASE and an IO trap on the report ports; starts
 * the watchdog. */
zx_status_t fixture_start(struct fixture *f, struct guest_code code);
/* Stop the watchdog (a test failure if it fired) and tear the guest down. */
void fixture_end(struct fixture *f);

/* Torn down however the test returns, so that a failed assertion does not leave a VCPU bound
 * to this thread for the next test. */
#define AUTO_FIXTURE struct fixture __attribute__((cleanup(fixture_end)))

/* ---- expectations ---- */

/* Enter once and expect the guest's `out` of `value` to `port`; a test failure at file:line
 * if not. */
bool expect_out_at(const char *file, int line, struct test_guest *g, uint16_t port, uint32_t value);

#define ASSERT_OUT(g, port, value)                                                                 \
	do {                                                                                       \
		if (!expect_out_at(__FILE__, __LINE__, (g), (port), (value)))                      \
			return;                                                                    \
	} while (0)
#define ASSERT_MARK(g, n) ASSERT_OUT(g, PORT_MARK, n)
#define ASSERT_DATA(g, v) ASSERT_OUT(g, PORT_DATA, v)
/* The handler of `vector` ran and found no error code on its stack. */
#define ASSERT_VECTOR(g, vector) ASSERT_OUT(g, PORT_VEC, vector)
/* The handler of `vector` ran and found error code `err`. */
#define ASSERT_VECTOR_ERR(g, vector, err)                                                          \
	do {                                                                                       \
		ASSERT_OUT(g, PORT_VEC, (vector) | HAS_ERR);                                       \
		ASSERT_OUT(g, PORT_ERR, err);                                                      \
	} while (0)

/* Enter once and return the value of the guest's `out` to PORT_DATA. */
zx_status_t read_data(struct test_guest *g, uint32_t *out);

/* One step of a test that drives a guest: what the host does, or what it expects the next
 * enter to return. */
enum step_op {
	STEP_OUT,	/* enter: the guest outs `value` to `port` */
	STEP_STATUS,	/* enter: it fails with `value` (a zx_status_t) */
	STEP_EXIT,	/* enter: the guest writes the exit port */
	STEP_INTERRUPT, /* zx_vcpu_interrupt(vector `value`) must succeed */
	STEP_KICK,	/* zx_vcpu_kick must succeed */
};

struct step {
	enum step_op op;
	uint16_t port;
	uint32_t value;
};

/* The steps of a table (compound literals: static tables take them as constants in gnu11). */
#define STEP(op, port, value) ((struct step){(op), (port), (uint32_t)(value)})
#define OUT_MARK(n) STEP(STEP_OUT, PORT_MARK, n)
#define OUT_DATA(v) STEP(STEP_OUT, PORT_DATA, v)
#define OUT_VECTOR(vector) STEP(STEP_OUT, PORT_VEC, vector)
#define OUT_VECTOR_ERR(vector, err) OUT_VECTOR((vector) | HAS_ERR), STEP(STEP_OUT, PORT_ERR, err)
#define ENTER_FAILS(status) STEP(STEP_STATUS, 0, status)
#define ENTER_EXITS STEP(STEP_EXIT, 0, 0)
#define INTERRUPT(vector) STEP(STEP_INTERRUPT, 0, vector)
#define KICK STEP(STEP_KICK, 0, 0)

/* Run `steps` in order on g; at the first that fails, a test failure at file:line naming the
 * step, and false. */
bool run_steps_at(const char *file, int line, struct test_guest *g, const struct step *steps,
		  size_t n);

#define ASSERT_STEPS(g, steps)                                                                     \
	do {                                                                                       \
		if (!run_steps_at(__FILE__, __LINE__, (g), (steps), ARRAY_SIZE(steps)))            \
			return;                                                                    \
	} while (0)

/* A fixture with `code` that runs `steps` and ends. */
#define RUN_STEPS(code, steps)                                                                     \
	do {                                                                                       \
		AUTO_FIXTURE _f;                                                                   \
		ASSERT_OK(fixture_start(&_f, (code)));                                             \
		ASSERT_STEPS(&_f.g, steps);                                                        \
	} while (0)

/* ---- another thread ---- */

/* A thread that optionally waits for the guest's bell at BELL_GPA (the VCPU is then inside
 * enter), then runs `fn`. Statuses land in st[] for the test thread to check after the join. */
struct actor {
	pthread_t thread;
	bool started;
	zx_handle_t port;
	struct fixture *f;
	void (*fn)(struct actor *a);
	zx_status_t wait_st;
	zx_status_t st[6];
	zx_handle_t handle;
};

/* Start `fn` on another thread; with `bell`, once the guest rang the bell at BELL_GPA. */
zx_status_t actor_start(struct actor *a, struct fixture *f, bool bell, void (*fn)(struct actor *a));
/* Join the thread (once) and close the bell's port. */
void actor_join(struct actor *a);

/* Enter once while `fn` runs on an actor that waits for the guest's bell; the actor is joined
 * when this returns. The status of actor_start, and the enter's in *out_enter. */
zx_status_t enter_with_actor(struct fixture *f, struct actor *a, void (*fn)(struct actor *a),
			     zx_status_t *out_enter);

/* Joined however the test returns, before the fixture declared ahead of it ends. */
#define AUTO_ACTOR struct actor __attribute__((cleanup(actor_join)))
