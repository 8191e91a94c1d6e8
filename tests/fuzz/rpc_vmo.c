/* Fuzz target: the VMO calls over RPC (VmoCreate, VmoRead, VmoWrite, VmoReplaceAsExecutable)
 * on a small VMO made for each input, with the VMEX resource and a port (the wrong type). */
#include <zircon/errors.h>

#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const names[] = {"VmoCreate", "VmoRead", "VmoWrite",
				    "VmoReplaceAsExecutable"};
#define NMETHODS (sizeof(names) / sizeof(names[0]))

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct zxd_method *methods[NMETHODS];
	static struct fz_handles hs;
	zx_handle_t h;

	fz_init();
	if (!methods[0])
		for (size_t i = 0; i < NMETHODS; i++)
			methods[i] = fz_method(names[i]);
	FZ_CHECK(kb_vmo_create(fz.table, 0x10000, 0, &h) == ZX_OK, "vmo");
	fz_handles_add_new(&hs, h);
	FZ_CHECK(kb_port_create(fz.table, 0, &h) == ZX_OK, "port");
	fz_handles_add_new(&hs, h);
	fz_handles_add_dup(&hs, fz.vmex);
	fz_handles_add_dup(&hs, fz.resource);

	struct fz_record r;
	for (int i = 0; i < FZ_MAX_RECORDS && fz_next_record(&data, &size, &r); i++)
		fz_call(methods[(r.op & 0x1f) % NMETHODS], &r, &hs, NULL);
	fz_handles_close_all(&hs);
	return 0;
}
