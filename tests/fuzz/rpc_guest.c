/* Fuzz target: the guest calls over RPC, GuestCreate and GuestSetTrap, on a fresh guest per
 * input (traps cannot be removed, so a shared guest would fill up and carry state). */
#include <zircon/errors.h>

#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct zxd_method *methods[2];
	static struct fz_handles hs;
	struct fz_guest g = {0};

	fz_init();
	if (!methods[0]) {
		methods[0] = fz_method("GuestCreate");
		methods[1] = fz_method("GuestSetTrap");
	}
	if (!fz_guest_ready(&g, false))
		return 0;
	/* The selectable handles: the resource, the guest and its VMAR, ports, a VMO. */
	fz_handles_add_dup(&hs, fz.resource);
	fz_handles_add_dup(&hs, g.guest);
	fz_handles_add_dup(&hs, g.bell_port);
	fz_handles_add_dup(&hs, g.vmar);
	fz_handles_add_dup(&hs, g.ram);
	fz_handles_add_dup(&hs, fz.vmex);

	struct fz_record r;
	for (int i = 0; i < FZ_MAX_RECORDS && fz_next_record(&data, &size, &r); i++)
		fz_call(methods[(r.op & 0x1f) % 2], &r, &hs, NULL);

	fz_handles_close_all(&hs);
	fz_guest_destroy(&g);
	return 0;
}
