/* Fuzz target: kb_guest_set_trap ranges directly on kvm_backend, against a model: a trap is
 * accepted exactly when its range is valid and overlaps no trap of its space, and afterwards
 * kb__guest_find_trap finds it at both ends and not just outside them. */
#include <stdio.h>

#include <zircon/errors.h>
#include <zircon/syscalls/hypervisor.h>

#include "fuzz.h"
#include "kb-internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_TRAPS 64
#define ASPACE (1ull << 48)

struct model_trap {
	uint32_t kind;
	uint64_t addr, size, key;
};

static bool same_space(uint32_t a, uint32_t b)
{
	return (a == ZX_GUEST_TRAP_IO) == (b == ZX_GUEST_TRAP_IO);
}

static bool valid_range(uint32_t kind, uint64_t addr, uint64_t size)
{
	if (size == 0 || addr + size < addr)
		return false;
	if (kind == ZX_GUEST_TRAP_IO)
		return addr + size <= UINT16_MAX;
	return addr % 4096 == 0 && size % 4096 == 0 && addr + size <= ASPACE;
}

static uint64_t pick_addr(struct fz_reader *rd, uint32_t kind)
{
	/* Mostly near the interesting places: IO ports, RAM, the top of the aspace. */
	uint8_t how = fz_u8(rd);
	uint64_t v = fz_size(rd);
	switch (how & 3) {
	case 0:
		return v;
	case 1:
		return kind == ZX_GUEST_TRAP_IO ? (v & 0xffff) : v << 12;
	case 2:
		return ASPACE - v;
	default:
		return 0x10000 - v;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct model_trap model[MAX_TRAPS];
	struct fz_guest g = {0};
	zx_handle_t vmo;

	fz_init();
	if (!fz_guest_ready(&g, false))
		return 0;
	FZ_CHECK(kb_vmo_create(fz.table, 4096, 0, &vmo) == ZX_OK, "vmo");
	struct kb_object *obj;
	FZ_CHECK(kb__handle_get(fz.table, g.guest, ZX_OBJ_TYPE_GUEST, 0, &obj, NULL) == ZX_OK, "get");
	struct kb_guest *guest = (struct kb_guest *)obj;
	/* The traps fz_guest_create set. */
	uint32_t n = 0;
	model[n++] = (struct model_trap){ZX_GUEST_TRAP_IO, FZ_IO_PORT, 4, 1};
	model[n++] = (struct model_trap){ZX_GUEST_TRAP_MEM, FZ_MEM_TRAP, 0x1000, 2};
	model[n++] = (struct model_trap){ZX_GUEST_TRAP_BELL, FZ_BELL_TRAP, 0x1000, 3};

	struct fz_reader rd = {data, size};
	for (uint64_t key = 100; rd.n && n < MAX_TRAPS; key++) {
		uint8_t k = fz_u8(&rd);
		uint32_t kind = (k & 3) == 3 ? fz_u32(&rd) : k & 3;
		uint64_t addr = pick_addr(&rd, kind);
		uint64_t len = fz_size(&rd);
		zx_handle_t port = (k & 0x10) ? g.bell_port : (k & 0x20) ? vmo : ZX_HANDLE_INVALID;
		zx_status_t st = kb_guest_set_trap(fz.table, g.guest, kind, addr, len, port, key);

		bool kind_ok = kind <= ZX_GUEST_TRAP_IO;
		bool port_ok = kind == ZX_GUEST_TRAP_BELL ? port == g.bell_port
							  : port == ZX_HANDLE_INVALID;
		bool range_ok = valid_range(kind, addr, len);
		bool overlap = false;
		for (uint32_t i = 0; i < n; i++)
			if (same_space(model[i].kind, kind) && addr < model[i].addr + model[i].size &&
			    model[i].addr < addr + len)
				overlap = true;
		if (port == vmo) {
			FZ_CHECK(st == ZX_ERR_WRONG_TYPE, "a VMO as the port: %d", st);
			continue;
		}
		if (!kind_ok || !port_ok || !range_ok) {
			FZ_CHECK(st != ZX_OK, "kind %u addr %#lx size %#lx port %#x accepted", kind,
				 addr, len, port);
			continue;
		}
		FZ_CHECK((st == ZX_ERR_ALREADY_EXISTS) == overlap,
			 "kind %u addr %#lx size %#lx: status %d, overlap %d", kind, addr, len, st,
			 overlap);
		if (st != ZX_OK)
			continue;
		model[n++] = (struct model_trap){kind, addr, len, key};
		bool io = kind == ZX_GUEST_TRAP_IO;
		struct kb_trap t, *live;
		FZ_CHECK(kb__guest_find_trap(guest, io, addr, &t, &live) && t.key == key,
			 "trap %#lx+%#lx not found at its start", addr, len);
		if (t.port)
			kb__object_unref(&t.port->obj);
		FZ_CHECK(kb__guest_find_trap(guest, io, addr + len - 1, &t, &live) && t.key == key,
			 "trap %#lx+%#lx not found at its end", addr, len);
		if (t.port)
			kb__object_unref(&t.port->obj);
		if (addr > 0 && kb__guest_find_trap(guest, io, addr - 1, &t, &live)) {
			FZ_CHECK(t.key != key, "trap %#lx+%#lx found before it", addr, len);
			if (t.port)
				kb__object_unref(&t.port->obj);
		}
		if (kb__guest_find_trap(guest, io, addr + len, &t, &live)) {
			FZ_CHECK(t.key != key, "trap %#lx+%#lx found after it", addr, len);
			if (t.port)
				kb__object_unref(&t.port->obj);
		}
	}
	kb__object_unref(obj);
	kb_handle_close(fz.table, vmo);
	fz_guest_destroy(&g);
	/* Every guest of the input is gone with its handles. */
	struct kb_table_stats stats;
	kb_table_get_stats(fz.table, &stats);
	FZ_CHECK(stats.guests == 0 && stats.handles == 2, "%u guests, %u handles left",
		 stats.guests, stats.handles);
	return 0;
}
