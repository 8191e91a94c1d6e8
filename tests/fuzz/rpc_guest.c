/* Fuzz target: the guest calls over RPC, GuestCreate and GuestSetTrap, on a fresh guest per
 * input (traps cannot be removed, so a shared guest would fill up and carry state). */
#include <zircon/errors.h>

#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const names[] = {"GuestCreate", "GuestSetTrap"};
static struct fz_methods methods = FZ_METHODS(names);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct fz_handles hs;
	struct fz_guest g = {0};

	fz_init();
	if (!fz_guest_ready(&g, false))
		return 0;
	/* The selectable handles: the resource, the guest and its VMAR, ports, a VMO. */
	fz_handles_add_dup(&hs, fz.resource);
	fz_handles_add_dup(&hs, g.guest);
	fz_handles_add_dup(&hs, g.bell_port);
	fz_handles_add_dup(&hs, g.vmar);
	fz_handles_add_dup(&hs, g.ram);
	fz_handles_add_dup(&hs, fz.vmex);

	fz_call_records(&methods, data, size, &hs, NULL);

	fz_handles_close_all(&hs);
	fz_guest_destroy(&g);
	return 0;
}
