/* Fuzz target: the VMO calls over RPC (VmoCreate, VmoRead, VmoWrite, VmoReplaceAsExecutable)
 * on a small VMO made for each input, with the VMEX resource and a port (the wrong type). */
#include <zircon/errors.h>

#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const names[] = {"VmoCreate", "VmoRead", "VmoWrite",
				    "VmoReplaceAsExecutable"};
static struct fz_methods methods = FZ_METHODS(names);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct fz_handles hs;
	zx_handle_t h;

	fz_init();
	FZ_CHECK(kb_vmo_create(fz.table, 0x10000, 0, &h) == ZX_OK, "vmo");
	fz_handles_add_new(&hs, h);
	FZ_CHECK(kb_port_create(fz.table, 0, &h) == ZX_OK, "port");
	fz_handles_add_new(&hs, h);
	fz_handles_add_dup(&hs, fz.vmex);
	fz_handles_add_dup(&hs, fz.resource);

	fz_call_records(&methods, data, size, &hs, NULL);
	fz_handles_close_all(&hs);
	return 0;
}
