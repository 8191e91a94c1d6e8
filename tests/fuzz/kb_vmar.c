/* Fuzz target: kb_vmar_map / unmap / protect ranges directly on kvm_backend. After every call
 * the guest's mappings must be sorted, disjoint, page-aligned and inside the aspace, a memslot
 * exactly for the readable ones, each host view showing its VMO at its offset; a successful
 * map covers what it returned, unmap leaves nothing in its range, protect sets its perms. */
#include <stdio.h>
#include <unistd.h>

#include <zircon/errors.h>
#include <zircon/syscalls/hypervisor.h>

#include "fuzz.h"
#include "kb-internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define ASPACE (1ull << 48)
#define PERMS (ZX_VM_PERM_READ | ZX_VM_PERM_WRITE | ZX_VM_PERM_EXECUTE)

static void check_maps(struct kb_guest *g)
{
	pthread_mutex_lock(&g->lock);
	uint64_t end = 0;
	for (uint32_t i = 0; i < g->nmaps; i++) {
		const struct kb_mapping *m = &g->maps[i];
		FZ_CHECK(m->len && m->gpa % 4096 == 0 && m->len % 4096 == 0, "map %u %#lx+%#lx", i,
			 m->gpa, m->len);
		FZ_CHECK(m->gpa >= end && m->gpa + m->len <= ASPACE && m->gpa + m->len > m->gpa,
			 "map %u %#lx+%#lx after %#lx", i, m->gpa, m->len, end);
		end = m->gpa + m->len;
		/* What the VMO backs: a mapping made with ZX_VM_ALLOW_FAULTS may run past the
		 * VMO's end, and only the backed part is a memslot and a host view. */
		uint64_t backed = m->vmo_offset >= m->vmo->size ? 0 : m->vmo->size - m->vmo_offset;
		backed = backed < m->len ? backed : m->len;
		FZ_CHECK((m->slot != UINT32_MAX) == ((m->perms & ZX_VM_PERM_READ) && backed),
			 "map %u perms %#x backed %#lx slot %u", i, m->perms, backed, m->slot);
		FZ_CHECK(m->slot == UINT32_MAX || (m->slot < g->nslots && g->slot_used[m->slot]),
			 "map %u slot %u", i, m->slot);
		FZ_CHECK(!(m->perms & ~m->max_perms), "map %u perms %#x max %#x", i, m->perms,
			 m->max_perms);
		/* The host view is the VMO at vmo_offset: one byte at each end of the backed part. */
		uint64_t offs[2] = {0, backed - 1};
		for (int k = 0; backed && k < 2; k++) {
			uint8_t b;
			FZ_CHECK(pread(m->vmo->fd, &b, 1, (off_t)(m->vmo_offset + offs[k])) == 1,
				 "pread");
			FZ_CHECK(m->host[offs[k]] == b, "map %u byte %#lx: view %u, VMO %u", i,
				 offs[k], m->host[offs[k]], b);
		}
	}
	uint32_t used = 0;
	for (uint32_t s = 0; s < g->nslots; s++)
		used += g->slot_used[s];
	uint32_t slotted = 0;
	for (uint32_t i = 0; i < g->nmaps; i++)
		slotted += g->maps[i].slot != UINT32_MAX;
	FZ_CHECK(used == slotted, "%u slots used, %u mappings have one", used, slotted);
	pthread_mutex_unlock(&g->lock);
}

/* Whether [addr, addr + len) is covered by mappings with exactly these perms, and (for a map)
 * by one VMO from vmo_offset on. */
static bool covered(struct kb_guest *g, uint64_t addr, uint64_t len, uint32_t perms,
		    const struct kb_vmo *vmo, uint64_t vmo_offset)
{
	pthread_mutex_lock(&g->lock);
	uint64_t cur = addr;
	bool ok = true;
	for (uint32_t i = 0; i < g->nmaps && ok && cur < addr + len; i++) {
		const struct kb_mapping *m = &g->maps[i];
		if (m->gpa + m->len <= cur)
			continue;
		ok = m->gpa <= cur && m->perms == perms &&
		     (!vmo || (m->vmo == vmo && m->vmo_offset + (cur - m->gpa) ==
							vmo_offset + (cur - addr)));
		cur = m->gpa + m->len;
	}
	pthread_mutex_unlock(&g->lock);
	return ok && cur >= addr + len;
}

static bool any_in(struct kb_guest *g, uint64_t addr, uint64_t len)
{
	pthread_mutex_lock(&g->lock);
	bool any = false;
	for (uint32_t i = 0; i < g->nmaps; i++)
		any |= g->maps[i].gpa < addr + len && addr < g->maps[i].gpa + g->maps[i].len;
	pthread_mutex_unlock(&g->lock);
	return any;
}

static uint64_t pick_addr(struct fz_reader *rd)
{
	uint8_t how = fz_u8(rd);
	uint64_t v = fz_size(rd);
	switch (how & 3) {
	case 0:
		return v;
	case 1:
		return (v & 0x3f) << 12; /* the first 256 KiB, where the mappings pile up */
	case 2:
		return ASPACE - v;
	default:
		return (v & 0xff) << 21;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct fz_guest g;
	static zx_handle_t vmos[4];
	static struct kb_vmo *vmo_objs[4];
	static struct kb_guest *guest;

	fz_init();
	if (!g.guest) {
		FZ_CHECK(fz_guest_create(&g, false) == ZX_OK, "guest");
		struct kb_object *obj;
		FZ_CHECK(kb__handle_get(fz.table, g.guest, ZX_OBJ_TYPE_GUEST, 0, &obj, NULL) ==
				 ZX_OK,
			 "get");
		guest = (struct kb_guest *)obj; /* kept for the life of the process */
		vmos[0] = g.ram;
		FZ_CHECK(kb_vmo_create(fz.table, 0x40000, 0, &vmos[1]) == ZX_OK, "vmo");
		FZ_CHECK(kb_vmo_write(fz.table, vmos[1], "zxvm", 0x3ffff, 1) == ZX_OK, "write");
		FZ_CHECK(kb_handle_duplicate(fz.table, vmos[1], ZX_RIGHT_READ | ZX_RIGHT_MAP,
					     &vmos[2]) == ZX_OK,
			 "dup");
		FZ_CHECK(kb_vmo_create(fz.table, 64ull << 20, ZX_VMO_RESIZABLE, &vmos[3]) == ZX_OK,
			 "vmo");
		for (int i = 0; i < 4; i++) {
			struct kb_object *o;
			FZ_CHECK(kb__handle_get(fz.table, vmos[i], ZX_OBJ_TYPE_VMO, 0, &o, NULL) ==
					 ZX_OK,
				 "get");
			vmo_objs[i] = (struct kb_vmo *)o;
			kb__object_unref(o);
		}
	}

	struct fz_reader rd = {data, size};
	for (int ops = 0; rd.n && ops < 32; ops++) {
		uint8_t op = fz_u8(&rd);
		uint32_t options = (op & 0x80) ? fz_u32(&rd) : fz_u8(&rd);
		zx_status_t st;
		switch (op % 3) {
		case 0: {
			uint64_t vmar_offset = pick_addr(&rd);
			int which = (op >> 2) & 3;
			uint64_t vmo_offset = fz_size(&rd);
			uint64_t len = fz_size(&rd);
			zx_vaddr_t addr = 0;
			st = kb_vmar_map(fz.table, g.vmar, options, vmar_offset, vmos[which],
					 vmo_offset, len, &addr);
			if (st == ZX_OK) {
				FZ_CHECK(addr % 4096 == 0 && addr + len <= ASPACE,
					 "mapped at %#lx+%#lx", addr, len);
				if (options & (ZX_VM_SPECIFIC | ZX_VM_SPECIFIC_OVERWRITE))
					FZ_CHECK(addr == vmar_offset, "specific %#lx got %#lx",
						 vmar_offset, addr);
				FZ_CHECK(covered(guest, addr, len, options & PERMS,
						 vmo_objs[which], vmo_offset),
					 "map %#lx+%#lx not covered", addr, len);
			}
			break;
		}
		case 1: {
			uint64_t addr = pick_addr(&rd), len = fz_size(&rd);
			st = kb_vmar_unmap(fz.table, g.vmar, addr, len);
			if (st == ZX_OK)
				FZ_CHECK(!any_in(guest, addr, len), "unmap %#lx+%#lx left a map",
					 addr, len);
			break;
		}
		default: {
			uint64_t addr = pick_addr(&rd), len = fz_size(&rd);
			st = kb_vmar_protect(fz.table, g.vmar, options, addr, len);
			if (st == ZX_OK)
				FZ_CHECK(covered(guest, addr, len, options, NULL, 0),
					 "protect %#lx+%#lx to %#x not done", addr, len, options);
			break;
		}
		}
		check_maps(guest);
	}
	zx_status_t st = kb_vmar_unmap(fz.table, g.vmar, 0, ASPACE);
	FZ_CHECK(st == ZX_OK || st == ZX_ERR_NOT_FOUND, "unmap all: %d", st);
	FZ_CHECK(guest->nmaps == 0, "%u maps after unmapping everything", guest->nmaps);
	return 0;
}
