/* Fuzz target: the guest VMAR calls over RPC (VmarMap, VmarUnmap, VmarProtect, and VmoCreate
 * for more VMOs) on the live guest's VMAR. Each input ends by unmapping everything and
 * mapping the RAM back, so inputs do not see each other's mappings. */
#include <zircon/errors.h>
#include <zircon/syscalls/hypervisor.h>

#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const names[] = {"VmarMap", "VmarUnmap", "VmarProtect", "VmoCreate"};
static struct fz_methods methods = FZ_METHODS(names);

#define ASPACE (1ull << 48)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct fz_guest g;
	static struct fz_handles hs;
	zx_handle_t h;

	fz_init();
	if (!fz_guest_ready(&g, false))
		return 0;
	fz_handles_add_dup(&hs, g.vmar);
	fz_handles_add_dup(&hs, g.ram);
	FZ_CHECK(kb_vmo_create(fz.table, 0x10000, 0, &h) == ZX_OK, "vmo");
	fz_handles_add_new(&hs, h);
	/* A read-only handle to it: mapping it writable must be refused. */
	FZ_CHECK(kb_handle_duplicate(fz.table, h, ZX_RIGHT_READ | ZX_RIGHT_MAP, &h) == ZX_OK, "dup");
	fz_handles_add_new(&hs, h);
	FZ_CHECK(kb_vmo_create(fz.table, 0x10000, ZX_VMO_RESIZABLE, &h) == ZX_OK, "vmo");
	fz_handles_add_new(&hs, h);
	fz_handles_add_dup(&hs, g.guest);

	fz_call_records(&methods, data, size, &hs, NULL);
	fz_handles_close_all(&hs);

	zx_status_t st = kb_vmar_unmap(fz.table, g.vmar, 0, ASPACE);
	FZ_CHECK(st == ZX_OK || st == ZX_ERR_NOT_FOUND, "unmap all: %d", st);
	zx_vaddr_t addr;
	st = kb_vmar_map(fz.table, g.vmar,
			 ZX_VM_PERM_READ | ZX_VM_PERM_WRITE | ZX_VM_PERM_EXECUTE | ZX_VM_SPECIFIC, 0,
			 g.ram, 0, FZ_RAM_SIZE, &addr);
	FZ_CHECK(st == ZX_OK && addr == 0, "map RAM back: %d", st);
	struct kb_table_stats stats;
	kb_table_get_stats(fz.table, &stats);
	FZ_CHECK(stats.handles < 64, "%u handles left after an input", stats.handles);
	return 0;
}
