/* The benchmark guest of bench-guest.h. */
#include <string.h>

#include <zircon/errors.h>

#include "bench-guest.h"

bool bench_guest_packet_ok(const zx_port_packet_t *p)
{
	return p->type == ZX_PKT_TYPE_GUEST_IO && p->key == BENCH_GUEST_KEY &&
	       p->guest_io.port == BENCH_KVM_PORT && p->guest_io.access_size == 1 &&
	       !p->guest_io.input;
}

#define STEP(call)                                                                                 \
	do {                                                                                       \
		zx_status_t _st = (call);                                                          \
		if (_st != ZX_OK) {                                                                \
			*out_what = #call;                                                         \
			return _st;                                                                \
		}                                                                                  \
	} while (0)

zx_status_t bench_guest_build(zx_handle_t resource, const uint8_t *code, size_t len, uint64_t key,
			      struct bench_guest *g, zx_port_packet_t *first, const char **out_what)
{
	static uint64_t pt[BENCH_KVM_PT_SIZE / 8];
	zx_handle_t vmo;
	zx_vaddr_t addr;
	STEP(zx_guest_create(resource, 0, &g->guest, &g->vmar));
	STEP(zx_vmo_create(BENCH_KVM_RAM_SIZE, 0, &vmo));
	STEP(zx_vmo_replace_as_executable(vmo, ZX_HANDLE_INVALID, &g->vmo));
	memset(pt, 0, sizeof(pt));
	bench_kvm_page_tables(pt);
	STEP(zx_vmo_write(g->vmo, pt, 0, sizeof(pt)));
	STEP(zx_vmo_write(g->vmo, code, BENCH_KVM_ENTRY, len));
	STEP(zx_vmar_map(g->vmar,
			 ZX_VM_PERM_READ | ZX_VM_PERM_WRITE | ZX_VM_PERM_EXECUTE | ZX_VM_SPECIFIC,
			 0, g->vmo, 0, BENCH_KVM_RAM_SIZE, &addr));
	STEP(zx_guest_set_trap(g->guest, ZX_GUEST_TRAP_IO, BENCH_KVM_PORT, 1, ZX_HANDLE_INVALID,
			       key));
	STEP(zx_vcpu_create(g->guest, 0, BENCH_KVM_ENTRY, &g->vcpu));
	STEP(zx_vcpu_enter(g->vcpu, first));
	return ZX_OK;
}

zx_status_t bench_guest_create(zx_handle_t resource, struct bench_guest *g, const char **out_what)
{
	zx_port_packet_t p;
	zx_status_t st = bench_guest_build(resource, bench_kvm_loop_out, sizeof(bench_kvm_loop_out),
					   BENCH_GUEST_KEY, g, &p, out_what);
	if (st == ZX_OK && !bench_guest_packet_ok(&p)) {
		*out_what = "the first exit (not the loop's GUEST_IO packet)";
		st = ZX_ERR_INTERNAL;
	}
	return st;
}

void bench_guest_destroy(struct bench_guest *g)
{
	zx_handle_close(g->vcpu);
	zx_handle_close(g->vmo);
	zx_handle_close(g->vmar);
	zx_handle_close(g->guest);
	*g = (struct bench_guest)BENCH_GUEST_INIT;
}
