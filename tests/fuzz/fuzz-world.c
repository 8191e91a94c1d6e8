/* The live daemon core of the fuzz targets: session, guest, VCPU, handle sets, watchdog. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <zircon/errors.h>
#include <zircon/rights.h>
#include <zircon/syscalls/hypervisor.h>

#include "fuzz.h"
#include "kb-internal.h"
#include "vcpu-internal.h"

struct fz_world fz;

/* The loop every fuzzing VCPU runs: each instruction but the jump exits to the enter. */
static const uint8_t guest_code[] = {
	0xe6, 0xf4,       /* out %al, $0xf4    IO trap: an IO packet */
	0xe4, 0xf5,       /* in $0xf5, %al     IO trap: an input packet */
	0x66, 0xef,       /* out %ax, (%dx)    the port in rdx (0xf6 at first) */
	0x8b, 0x0b,       /* mov (%rbx), %ecx  the MEM trap at first: a MEM packet */
	0x89, 0x0e,       /* mov %ecx, (%rsi)  RAM at first; a bell if rsi points there */
	0xeb, 0xf4,       /* jmp to the out */
};

/* Where secondary VCPUs (real mode, spec §5.2) of the corpus start: out, jmp. */
static const uint8_t ap_code[] = {0xe6, 0xf4, 0xeb, 0xfc};

#define CHECK_OK(expr)                                                                             \
	do {                                                                                       \
		zx_status_t _st = (expr);                                                          \
		if (_st != ZX_OK) {                                                                \
			fprintf(stderr, "fuzz setup: %s: %d\n", #expr, _st);                       \
			return _st;                                                                \
		}                                                                                  \
	} while (0)

static timer_t watchdog;

static void watchdog_fire(union sigval v)
{
	(void)v;
	kb_table_kick_all(fz.table);
}

void fz_init(void)
{
	static bool done;
	if (done)
		return;
	done = true;
	const char *why = NULL;
	if (kb_platform_check(&why) != ZX_OK) {
		/* Nothing to fuzz without KVM; ctest treats 77 as skipped. */
		fprintf(stderr, "fuzz: kvm_backend is not usable here: %s\n", why ? why : "?");
		exit(77);
	}
	zxd_config_defaults(&fz.cfg);
	zxd_log_set_level(ZXD_LOG_ERR);
	zxd_sessions_init(&fz.cfg);
	struct zxd_peer peer = {.authorized = true, .uid = 0, .pid = getpid(), .what = "fuzz"};
	bool created;
	/* Named: an ephemeral session without its Lease would be closed after a grace time. */
	if (zxd_session_open("fuzz", &peer, &fz.session, &created) != ZX_OK) {
		fprintf(stderr, "fuzz: zxd_session_open failed\n");
		abort();
	}
	fz.table = fz.session->table;
	fz.resource = fz.session->resource;
	if (kb_table_grant_resource(fz.table, true, &fz.vmex) != ZX_OK)
		abort();
	fz.tid = (uint64_t)syscall(SYS_gettid);
	fz.enter_budget_ms = FZ_ENTER_BUDGET_MS;
	atomic_init(&fz.cancelled, false);
	struct sigevent sev = {.sigev_notify = SIGEV_THREAD,
			       .sigev_notify_function = watchdog_fire};
	if (timer_create(CLOCK_MONOTONIC, &sev, &watchdog) != 0)
		abort();
}

void fz_watch_begin(void)
{
	/* Kick after the budget, and again every budget while the enter goes on. */
	struct itimerspec its = {
		.it_value = {.tv_nsec = fz.enter_budget_ms * 1000000l},
		.it_interval = {.tv_nsec = fz.enter_budget_ms * 1000000l},
	};
	timer_settime(watchdog, 0, &its, NULL);
}

void fz_watch_end(void)
{
	struct itimerspec its = {{0, 0}, {0, 0}};
	timer_settime(watchdog, 0, &its, NULL);
}

zx_status_t fz_enter(uint64_t tid, zx_handle_t vcpu, zx_port_packet_t *out)
{
	fz_watch_begin();
	zx_status_t st = kb_vcpu_enter(fz.table, tid, vcpu, out);
	fz_watch_end();
	return st;
}

/* Page tables for 4 GiB identity-mapped with 2 MiB pages (as tests/harness/guest.c), then
 * the loop at the entry. */
zx_status_t fz_ram_fill(zx_handle_t ram, const uint8_t *code, size_t len)
{
	static uint64_t pt[FZ_PT_END / 8];
	memset(pt, 0, sizeof(pt));
	pt[0] = 0x1000 | 0x3;
	for (uint64_t i = 0; i < 4; i++)
		pt[0x1000 / 8 + i] = (0x2000 + i * 0x1000) | 0x3;
	for (uint64_t i = 0; i < 4 * 512; i++)
		pt[0x2000 / 8 + i] = (i << 21) | 0x83;
	CHECK_OK(kb_vmo_write(fz.table, ram, pt, 0, sizeof(pt)));
	if (!code) {
		code = guest_code;
		len = sizeof(guest_code);
	}
	CHECK_OK(kb_vmo_write(fz.table, ram, code, FZ_GUEST_ENTRY, len));
	CHECK_OK(kb_vmo_write(fz.table, ram, ap_code, FZ_AP_ENTRY, sizeof(ap_code)));
	return ZX_OK;
}

static const zx_vcpu_state_t initial_state = {
	.rbx = FZ_MEM_TRAP,
	.rsi = FZ_SCRATCH,
	.rdx = FZ_IO_PORT + 2,
	.rsp = 0x1ff000,
	.rflags = 0x2,
};

static zx_status_t vcpu_create(struct fz_guest *g)
{
	g->vcpu_creations++;
	CHECK_OK(kb_vcpu_create(fz.table, fz.tid, g->guest, 0, FZ_GUEST_ENTRY, &g->vcpu));
	CHECK_OK(kb_vcpu_write_state(fz.table, fz.tid, g->vcpu, ZX_VCPU_STATE, &initial_state,
				     sizeof(initial_state)));
	return ZX_OK;
}

static zx_status_t guest_build(struct fz_guest *g, bool with_vcpu)
{
	zx_handle_t vmo;
	zx_vaddr_t addr;
	memset(g, 0, sizeof(*g));
	CHECK_OK(kb_guest_create(fz.table, fz.resource, 0, &g->guest, &g->vmar));
	CHECK_OK(kb_vmo_create(fz.table, FZ_RAM_SIZE, 0, &vmo));
	CHECK_OK(kb_vmo_replace_as_executable(fz.table, vmo, fz.vmex, &g->ram));
	CHECK_OK(fz_ram_fill(g->ram, NULL, 0));
	CHECK_OK(kb_vmar_map(fz.table, g->vmar,
			     ZX_VM_PERM_READ | ZX_VM_PERM_WRITE | ZX_VM_PERM_EXECUTE | ZX_VM_SPECIFIC,
			     0, g->ram, 0, FZ_RAM_SIZE, &addr));
	CHECK_OK(kb_port_create(fz.table, 0, &g->bell_port));
	CHECK_OK(kb_guest_set_trap(fz.table, g->guest, ZX_GUEST_TRAP_IO, FZ_IO_PORT, 4,
				   ZX_HANDLE_INVALID, 1));
	CHECK_OK(kb_guest_set_trap(fz.table, g->guest, ZX_GUEST_TRAP_MEM, FZ_MEM_TRAP, 0x1000,
				   ZX_HANDLE_INVALID, 2));
	CHECK_OK(kb_guest_set_trap(fz.table, g->guest, ZX_GUEST_TRAP_BELL, FZ_BELL_TRAP, 0x1000,
				   g->bell_port, 3));
	if (with_vcpu)
		CHECK_OK(vcpu_create(g));
	return ZX_OK;
}

zx_status_t fz_guest_create(struct fz_guest *g, bool with_vcpu)
{
	zx_status_t st = guest_build(g, with_vcpu);
	if (st != ZX_OK)
		fz_guest_destroy(g);
	return st;
}

bool fz_guest_ready(struct fz_guest *g, bool with_vcpu)
{
	static unsigned long failures;
	if (g->guest)
		return true;
	if (fz_guest_create(g, with_vcpu) == ZX_OK)
		return true;
	/* KVM_CREATE_VM failed once in a campaign (NO_RESOURCES, ~30k guests into a run with two
	 * guest-making fuzzers at once, not seen again): the input is skipped, not failed. The
	 * leak checks of the targets tell our own leaks from this. */
	fprintf(stderr, "fuzz: no guest (%lu times): input skipped\n", ++failures);
	return false;
}

void fz_guest_destroy(struct fz_guest *g)
{
	kb_handle_close(fz.table, g->vcpu);
	kb_handle_close(fz.table, g->bell_port);
	kb_handle_close(fz.table, g->ram);
	kb_handle_close(fz.table, g->vmar);
	kb_handle_close(fz.table, g->guest);
	memset(g, 0, sizeof(*g));
}

/* KVM's VCPU ids only grow within a VM; a new VM long before they run out. */
#define VCPU_CREATIONS_PER_GUEST 256

zx_status_t fz_guest_reset_vcpu(struct fz_guest *g)
{
	/* Only VPID 1 starts in long mode (spec §5.1), and VPIDs roll on: a new guest. */
	fz_guest_destroy(g);
	return fz_guest_create(g, true);
}

zx_status_t fz_guest_new_bsp(struct fz_guest *g)
{
	if (g->vcpu_creations >= VCPU_CREATIONS_PER_GUEST) {
		fz_guest_destroy(g);
		return fz_guest_create(g, true);
	}
	kb_handle_close(fz.table, g->vcpu);
	g->vcpu = ZX_HANDLE_INVALID;
	struct kb_object *obj;
	CHECK_OK(kb__handle_get(fz.table, g->guest, ZX_OBJ_TYPE_GUEST, 0, &obj, NULL));
	struct kb_guest *guest = (struct kb_guest *)obj;
	pthread_mutex_lock(&guest->lock);
	guest->next_vpid = 1;
	pthread_mutex_unlock(&guest->lock);
	kb__object_unref(obj);
	return vcpu_create(g);
}

/* Vectors an input left pending would be delivered in the next one: drop them (the
 * harness reaches into the VCPU; kvm_backend has no call that takes them back). */
static void drop_pending(struct fz_guest *g)
{
	struct kb_object *obj;
	if (kb__handle_get(fz.table, g->vcpu, ZX_OBJ_TYPE_VCPU, 0, &obj, NULL) != ZX_OK)
		return;
	struct kb_vcpu *v = (struct kb_vcpu *)obj;
	for (int i = 0; i < 4; i++)
		atomic_store(&v->pending[i], 0);
	kb__object_unref(obj);
}

static bool bsp_in_loop(struct fz_guest *g)
{
	struct kb_object *obj;
	if (kb__handle_get(fz.table, g->vcpu, ZX_OBJ_TYPE_VCPU, 0, &obj, NULL) != ZX_OK)
		return false;
	uint64_t rip = ((struct kb_vcpu *)obj)->run->s.regs.regs.rip;
	kb__object_unref(obj);
	return rip >= FZ_GUEST_ENTRY && rip <= FZ_GUEST_ENTRY + sizeof(guest_code);
}

void fz_guest_settle(struct fz_guest *g, bool broken)
{
	zx_port_packet_t p;
	fz_guest_drain(g);
	/* A VCPU that left the loop (the watchdog stopped it, or the input's secondary VCPUs
	 * wrote over the code) may be anywhere in any mode: start afresh. */
	if (!bsp_in_loop(g))
		broken = true;
	if (broken) {
		fz_guest_reset_vcpu(g); /* on failure, the next input makes one */
		return;
	}
	/* The loop's stores may have hit the page tables or the code. */
	FZ_CHECK(fz_ram_fill(g->ram, NULL, 0) == ZX_OK, "ram");
	drop_pending(g);
	if (g->vcpu_creations >= VCPU_CREATIONS_PER_GUEST) {
		fz_guest_reset_vcpu(g);
		return;
	}
	/* A kicked VCPU's enter returns CANCELED before any KVM_RUN: it clears the kick. */
	kb_vcpu_kick(fz.table, g->vcpu);
	zx_status_t st = kb_vcpu_enter(fz.table, fz.tid, g->vcpu, &p);
	FZ_CHECK(st == ZX_ERR_CANCELED, "enter of a kicked VCPU: %d", st);
	st = kb_vcpu_write_state(fz.table, fz.tid, g->vcpu, ZX_VCPU_STATE, &initial_state,
				 sizeof(initial_state));
	FZ_CHECK(st == ZX_OK, "write_state: %d", st);
}

void fz_guest_drain(struct fz_guest *g)
{
	zx_port_packet_t p;
	/* Bells, and user packets an input queued on its dup of the port. */
	while (kb_port_wait(fz.table, g->bell_port, 0, &p) == ZX_OK)
		FZ_CHECK(p.type == ZX_PKT_TYPE_USER ||
				 (p.type == ZX_PKT_TYPE_GUEST_BELL && p.key == 3),
			 "type %u key %lu", p.type, p.key);
}

void fz_handles_add_new(struct fz_handles *hs, zx_handle_t h)
{
	if (h == ZX_HANDLE_INVALID)
		return;
	if (hs->nowned == FZ_MAX_OWNED) {
		kb_handle_close(fz.table, h);
		return;
	}
	hs->owned[hs->nowned++] = h;
	if (hs->n < FZ_MAX_HANDLES)
		hs->h[hs->n++] = h;
}

void fz_handles_add_dup(struct fz_handles *hs, zx_handle_t base)
{
	zx_handle_t h;
	zx_status_t st = kb_handle_duplicate(fz.table, base, ZX_RIGHT_SAME_RIGHTS, &h);
	FZ_CHECK(st == ZX_OK, "duplicate %#x: %d", base, st);
	fz_handles_add_new(hs, h);
}

void fz_handles_close_all(struct fz_handles *hs)
{
	/* Closed, replaced or not, each one goes: a status other than OK or BAD_HANDLE would
	 * be a table in disorder. */
	for (uint32_t i = 0; i < hs->nowned; i++) {
		zx_status_t st = kb_handle_close(fz.table, hs->owned[i]);
		FZ_CHECK(st == ZX_OK || st == ZX_ERR_BAD_HANDLE, "close %#x: %d", hs->owned[i], st);
	}
	hs->n = hs->nowned = 0;
}

/* ---- raw readers ---- */

uint8_t fz_u8(struct fz_reader *rd)
{
	if (!rd->n)
		return 0;
	rd->n--;
	return *rd->p++;
}

/* Little-endian; each part read in its own statement (argument order is unspecified). */
uint16_t fz_u16(struct fz_reader *rd)
{
	uint16_t lo = fz_u8(rd);
	return (uint16_t)(lo | fz_u8(rd) << 8);
}

uint32_t fz_u32(struct fz_reader *rd)
{
	uint32_t lo = fz_u16(rd);
	return lo | (uint32_t)fz_u16(rd) << 16;
}

uint64_t fz_u64(struct fz_reader *rd)
{
	uint64_t lo = fz_u32(rd);
	return lo | (uint64_t)fz_u32(rd) << 32;
}

uint64_t fz_size(struct fz_reader *rd)
{
	uint8_t how = fz_u8(rd);
	switch (how & 3) {
	case 0:
		return fz_u8(rd);                   /* small, often unaligned */
	case 1:
		return (uint64_t)fz_u16(rd) << 12;  /* pages */
	case 2:
		return (uint64_t)fz_u8(rd) << (how >> 2); /* a power-of-two-ish boundary */
	default:
		return fz_u64(rd);                  /* anything, overflow included */
	}
}

bool fz_enter_broke(int32_t st)
{
	switch (st) {
	case INT32_MIN: /* not decoded: never called */
	case ZX_OK:
	case ZX_ERR_CANCELED:
	case ZX_ERR_BAD_HANDLE:
	case ZX_ERR_WRONG_TYPE:
	case ZX_ERR_ACCESS_DENIED:
	case ZX_ERR_BAD_STATE:
	case ZX_ERR_INVALID_ARGS:
	case ZX_ERR_NOT_FOUND: /* an access nothing traps: the VCPU can go on */
	case ZX_ERR_OUT_OF_RANGE:
		return false;
	default:
		return true;
	}
}
