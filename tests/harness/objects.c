/* The helpers of objects.h. */
#include <zircon/syscalls.h>

#include "objects.h"
#include "test.h"

zx_status_t guest_create(struct guest *g)
{
	return zx_guest_create(test_resource, 0, &g->guest, &g->vmar);
}

void guest_close(struct guest *g)
{
	zx_handle_close(g->guest);
	zx_handle_close(g->vmar);
}

zx_status_t dup_without(zx_handle_t h, zx_rights_t drop, zx_handle_t *out)
{
	zx_info_handle_basic_t info;
	zx_status_t st =
		zx_object_get_info(h, ZX_INFO_HANDLE_BASIC, &info, sizeof(info), NULL, NULL);
	if (st != ZX_OK)
		return st;
	return zx_handle_duplicate(h, info.rights & ~drop, out);
}
