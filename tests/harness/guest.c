/* The guest harness of guest.h. */
#include <pthread.h>
#include <string.h>
#include <time.h>

#include <zircon/errors.h>
#include <zircon/syscalls.h>

#include "guest.h"
#include "test.h"

#define CHECK(expr)                                                                                \
	do {                                                                                       \
		zx_status_t _st = (expr);                                                          \
		if (_st != ZX_OK) {                                                                \
			test_fail(__FILE__, __LINE__, "%s: %s", #expr, zx_status_get_string(_st)); \
			return _st;                                                                \
		}                                                                                  \
	} while (0)

static zx_status_t write_page_tables(zx_handle_t vmo)
{
	/* On the stack: threads build their guests at the same time (tests/daemon). */
	uint64_t pt[GUEST_PT_END / 8];
	memset(pt, 0, sizeof(pt));
	/* P | RW for tables, P | RW | PS for the 2 MiB leaves (Intel SDM vol 3, 4.5). */
	pt[0] = 0x1000 | 0x3;
	for (uint64_t i = 0; i < 4; i++)
		pt[0x1000 / 8 + i] = (0x2000 + i * 0x1000) | 0x3;
	for (uint64_t i = 0; i < 4 * 512; i++)
		pt[0x2000 / 8 + i] = (i << 21) | 0x83;
	return zx_vmo_write(vmo, pt, 0, sizeof(pt));
}

zx_status_t setup_guest_no_vcpu(struct test_guest *g, struct guest_code code)
{
	memset(g, 0, sizeof(*g));
	zx_handle_t vmo;
	zx_vaddr_t addr;
	CHECK(zx_guest_create(test_resource, 0, &g->guest, &g->vmar));
	CHECK(zx_vmo_create(GUEST_RAM_SIZE, 0, &vmo));
	CHECK(zx_vmo_replace_as_executable(vmo, ZX_HANDLE_INVALID, &g->vmo));
	CHECK(write_page_tables(g->vmo));
	CHECK(zx_vmo_write(g->vmo, code.bytes, GUEST_ENTRY, code.len));
	CHECK(zx_vmar_map(g->vmar,
			  ZX_VM_PERM_READ | ZX_VM_PERM_WRITE | ZX_VM_PERM_EXECUTE | ZX_VM_SPECIFIC, 0,
			  g->vmo, 0, GUEST_RAM_SIZE, &addr));
	if (addr != 0) {
		test_fail(__FILE__, __LINE__, "guest RAM mapped at %#lx, not 0", addr);
		return ZX_ERR_INTERNAL;
	}
	CHECK(zx_guest_set_trap(g->guest, ZX_GUEST_TRAP_IO, GUEST_EXIT_PORT, 1, ZX_HANDLE_INVALID,
				GUEST_EXIT_KEY));
	return ZX_OK;
}

zx_status_t setup_guest(struct test_guest *g, struct guest_code code)
{
	zx_status_t st = setup_guest_no_vcpu(g, code);
	if (st != ZX_OK)
		return st;
	CHECK(zx_vcpu_create(g->guest, 0, GUEST_ENTRY, &g->vcpu));
	return ZX_OK;
}

const char *packet_type_name(uint32_t type)
{
	switch (type) {
	case ZX_PKT_TYPE_USER:
		return "USER";
	case ZX_PKT_TYPE_GUEST_BELL:
		return "GUEST_BELL";
	case ZX_PKT_TYPE_GUEST_MEM:
		return "GUEST_MEM";
	case ZX_PKT_TYPE_GUEST_IO:
		return "GUEST_IO";
	case ZX_PKT_TYPE_GUEST_VCPU:
		return "GUEST_VCPU";
	default:
		return "?";
	}
}

zx_status_t enter_and_clean_exit(struct test_guest *g)
{
	zx_port_packet_t p;
	CHECK(zx_vcpu_enter(g->vcpu, &p));
	if (p.type != ZX_PKT_TYPE_GUEST_IO || p.key != GUEST_EXIT_KEY ||
	    p.guest_io.port != GUEST_EXIT_PORT) {
		test_fail(__FILE__, __LINE__,
			  "expected the exit port packet, got type %s key %#lx port %#x",
			  packet_type_name(p.type), p.key, p.guest_io.port);
		return ZX_ERR_INTERNAL;
	}
	return ZX_OK;
}

void teardown_guest(struct test_guest *g)
{
	zx_handle_close(g->vcpu);
	zx_handle_close(g->vmo);
	zx_handle_close(g->vmar);
	zx_handle_close(g->guest);
	memset(g, 0, sizeof(*g));
}

zx_status_t read_regs(struct test_guest *g, zx_vcpu_state_t *out)
{
	return zx_vcpu_read_state(g->vcpu, ZX_VCPU_STATE, out, sizeof(*out));
}

zx_status_t write_regs(struct test_guest *g, const zx_vcpu_state_t *s)
{
	return zx_vcpu_write_state(g->vcpu, ZX_VCPU_STATE, s, sizeof(*s));
}

zx_time_t deadline_after_ms(int64_t ms)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (zx_time_t)ts.tv_sec * 1000000000 + ts.tv_nsec + ms * 1000000;
}

/* A field of a GUEST_MEM packet that must hold `want`. */
static void expect_field(const char *file, int line, const struct mem_want *w, const char *field,
			 uint64_t want, uint64_t got)
{
	if (want != got)
		test_fail(file, line, "GUEST_MEM packet at %#lx: %s: expected %#lx, got %#lx",
			  w->addr, field, want, got);
}

void expect_mem_packet_at(const char *file, int line, struct test_guest *g,
			  const zx_port_packet_t *p, const struct mem_want *w)
{
	if (p->type != ZX_PKT_TYPE_GUEST_MEM) {
		test_fail(file, line, "expected a GUEST_MEM packet at %#lx, got %s", w->addr,
			  packet_type_name(p->type));
		return;
	}
	expect_field(file, line, w, "key", w->key, p->key);
	expect_field(file, line, w, "status", (uint64_t)ZX_OK, (uint64_t)(int64_t)p->status);
	expect_field(file, line, w, "addr", w->addr, p->guest_mem.addr);
	expect_field(file, line, w, "cr3", 0, p->guest_mem.cr3);
	expect_field(file, line, w, "rip", w->rip, p->guest_mem.rip);
	expect_field(file, line, w, "instruction_size", w->len, p->guest_mem.instruction_size);
	expect_field(file, line, w, "default_operand_size", w->default_operand_size,
		     p->guest_mem.default_operand_size);
	if (!w->insn)
		return;
	/* The page tables are an identity map and guest RAM is the VMO at GPA 0. */
	uint8_t got[16];
	size_t n = p->guest_mem.instruction_size;
	if (n == 0 || n > sizeof(got) || zx_vmo_read(g->vmo, got, p->guest_mem.rip, n) != ZX_OK ||
	    memcmp(got, w->insn, n) != 0)
		test_fail(file, line, "GUEST_MEM packet at %#lx: not the bytes of the instruction",
			  w->addr);
}

bool expect_mem_exits_at(const char *file, int line, struct test_guest *g, const struct mem_want *w,
			 size_t n)
{
	for (size_t i = 0; i < n; i++) {
		zx_port_packet_t p;
		zx_status_t st = zx_vcpu_enter(g->vcpu, &p);
		if (st != ZX_OK) {
			test_fail(file, line,
				  "enter for the GUEST_MEM packet at %#lx: expected %s, got %s",
				  w[i].addr, zx_status_get_string(ZX_OK), zx_status_get_string(st));
			return false;
		}
		expect_mem_packet_at(file, line, g, &p, &w[i]);
	}
	return true;
}

struct ap_thread {
	zx_handle_t guest;
	uint64_t entry;
	struct ap_run *r;
};

static void *ap_main(void *arg)
{
	struct ap_thread *t = arg;
	struct ap_run *r = t->r;
	zx_handle_t vcpu;
	r->create_st = zx_vcpu_create(t->guest, 0, t->entry, &vcpu);
	if (r->create_st != ZX_OK)
		return NULL;
	r->read_st = zx_vcpu_read_state(vcpu, ZX_VCPU_STATE, &r->initial, sizeof(r->initial));
	while (r->n < AP_MAX_PACKETS) {
		zx_port_packet_t *p = &r->p[r->n];
		r->enter_st = zx_vcpu_enter(vcpu, p);
		if (r->enter_st != ZX_OK)
			break;
		r->n++;
		if (p->type == ZX_PKT_TYPE_GUEST_IO && p->guest_io.port == GUEST_EXIT_PORT) {
			r->exited = true;
			break;
		}
	}
	zx_handle_close(vcpu);
	return NULL;
}

zx_status_t run_ap(struct test_guest *g, struct guest_code code, uint64_t entry, struct ap_run *out)
{
	memset(out, 0, sizeof(*out));
	out->create_st = out->read_st = out->enter_st = ZX_ERR_INTERNAL;
	CHECK(zx_vmo_write(g->vmo, code.bytes, entry, code.len));
	struct ap_thread t = {g->guest, entry, out};
	pthread_t thread;
	if (pthread_create(&thread, NULL, ap_main, &t) != 0) {
		test_fail(__FILE__, __LINE__, "cannot start the VCPU's thread");
		return ZX_ERR_NO_RESOURCES;
	}
	pthread_join(thread, NULL);
	return ZX_OK;
}
