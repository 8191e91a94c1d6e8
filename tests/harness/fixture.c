/* The interrupt-library fixture of fixture.h. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <zircon/syscalls.h>

#include "fixture.h"

/* ---- the watchdog ---- */

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

/* ---- the fixture ---- */

zx_status_t fixture_start(struct fixture *f, struct guest_code code)
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

void fixture_end(struct fixture *f)
{
	watchdog_stop(&f->wd);
	teardown_guest(&f->g);
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

/* Enter once and expect an out of `value` to `port`; failures start with `step`. */
static bool check_out(const char *file, int line, const char *step, struct test_guest *g,
		      uint16_t port, uint32_t value)
{
	zx_port_packet_t p;
	zx_status_t st = zx_vcpu_enter(g->vcpu, &p);
	if (st != ZX_OK) {
		test_fail(file, line, "%senter: expected %s %#x, got %s", step, io_name(port),
			  value, zx_status_get_string(st));
		return false;
	}
	if (p.type != ZX_PKT_TYPE_GUEST_IO || p.guest_io.input) {
		test_fail(file, line, "%sexpected %s %#x, got a %s packet", step, io_name(port),
			  value, packet_type_name(p.type));
		return false;
	}
	uint32_t got = p.guest_io.access_size == 4 ? p.guest_io.u32 : p.guest_io.u8;
	if (p.guest_io.port != port || got != value) {
		test_fail(file, line, "%sexpected %s %#x, got %s %#x (port %#x)", step,
			  io_name(port), value, io_name(p.guest_io.port), got, p.guest_io.port);
		return false;
	}
	return true;
}

bool expect_out_at(const char *file, int line, struct test_guest *g, uint16_t port, uint32_t value)
{
	return check_out(file, line, "", g, port, value);
}

zx_status_t read_data(struct test_guest *g, uint32_t *out)
{
	zx_port_packet_t p;
	zx_status_t st = zx_vcpu_enter(g->vcpu, &p);
	if (st != ZX_OK)
		return st;
	if (p.type != ZX_PKT_TYPE_GUEST_IO || p.guest_io.port != PORT_DATA) {
		test_fail(__FILE__, __LINE__,
			  "expected an out to the data port, got %s %#x (port %#x)",
			  packet_type_name(p.type), p.guest_io.u32, p.guest_io.port);
		return ZX_ERR_INTERNAL;
	}
	*out = p.guest_io.u32;
	return ZX_OK;
}

/* A host call of a step that must succeed. */
static bool expect_call_ok(const char *file, int line, size_t i, const char *what, zx_status_t st)
{
	if (st != ZX_OK)
		test_fail(file, line, "step %zu: %s: expected %s, got %s", i, what,
			  zx_status_get_string(ZX_OK), zx_status_get_string(st));
	return st == ZX_OK;
}

static bool run_step(const char *file, int line, struct test_guest *g, const struct step *s,
		     size_t i)
{
	char what[64];
	zx_port_packet_t p;
	zx_status_t st;
	switch (s->op) {
	case STEP_OUT:
		snprintf(what, sizeof(what), "step %zu: ", i);
		return check_out(file, line, what, g, s->port, s->value);
	case STEP_STATUS:
		st = zx_vcpu_enter(g->vcpu, &p);
		if (st != (zx_status_t)s->value) {
			test_fail(file, line, "step %zu: enter: expected %s, got %s", i,
				  zx_status_get_string((zx_status_t)s->value),
				  zx_status_get_string(st));
			return false;
		}
		return true;
	case STEP_EXIT:
		return expect_call_ok(file, line, i, "enter to the exit port",
				      enter_and_clean_exit(g));
	case STEP_INTERRUPT:
		snprintf(what, sizeof(what), "zx_vcpu_interrupt(%#x)", s->value);
		return expect_call_ok(file, line, i, what, zx_vcpu_interrupt(g->vcpu, s->value));
	case STEP_KICK:
		return expect_call_ok(file, line, i, "zx_vcpu_kick", zx_vcpu_kick(g->vcpu));
	}
	test_fail(file, line, "step %zu: unknown operation %d", i, (int)s->op);
	return false;
}

bool run_steps_at(const char *file, int line, struct test_guest *g, const struct step *steps,
		  size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!run_step(file, line, g, &steps[i], i))
			return false;
	return true;
}

/* ---- another thread ---- */

static void *actor_main(void *arg)
{
	struct actor *a = arg;
	a->wait_st = ZX_OK;
	if (a->port) {
		zx_port_packet_t p;
		a->wait_st = zx_port_wait(a->port, deadline_after_ms(WATCHDOG_MS), &p);
		if (a->wait_st == ZX_OK && (p.type != ZX_PKT_TYPE_GUEST_BELL || p.key != BELL_KEY))
			a->wait_st = ZX_ERR_INTERNAL;
	}
	a->fn(a);
	return NULL;
}

zx_status_t actor_start(struct actor *a, struct fixture *f, bool bell, void (*fn)(struct actor *a))
{
	memset(a, 0, sizeof(*a));
	a->f = f;
	a->fn = fn;
	if (bell) {
		zx_status_t st = zx_port_create(0, &a->port);
		if (st == ZX_OK)
			st = zx_guest_set_trap(f->g.guest, ZX_GUEST_TRAP_BELL, BELL_GPA, 0x1000,
					       a->port, BELL_KEY);
		if (st != ZX_OK)
			return st;
	}
	a->started = pthread_create(&a->thread, NULL, actor_main, a) == 0;
	return a->started ? ZX_OK : ZX_ERR_NO_RESOURCES;
}

void actor_join(struct actor *a)
{
	if (a->started)
		pthread_join(a->thread, NULL);
	a->started = false;
	if (a->port)
		zx_handle_close(a->port);
	a->port = ZX_HANDLE_INVALID;
}

zx_status_t enter_with_actor(struct fixture *f, struct actor *a, void (*fn)(struct actor *a),
			     zx_status_t *out_enter)
{
	zx_status_t st = actor_start(a, f, true, fn);
	if (st != ZX_OK)
		return st;
	zx_port_packet_t p;
	*out_enter = zx_vcpu_enter(f->g.vcpu, &p);
	actor_join(a);
	return ZX_OK;
}
