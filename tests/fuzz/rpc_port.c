/* Fuzz target: ports and handles over RPC (PortCreate, PortQueue, PortWait with no wait,
 * HandleClose, HandleDuplicate, HandleReplace, ObjectGetInfo) on dups of every kind of
 * object the session has: resource, guest, VMAR, VMO, port, VCPU. */
#include <zircon/errors.h>

#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const names[] = {"PortCreate",      "PortQueue",     "PortWait",
				    "HandleClose",     "HandleDuplicate", "HandleReplace",
				    "ObjectGetInfo"};
static struct fz_methods methods = FZ_METHODS(names);

/* PortWait never blocks here: a timeout is a poll (the handler's deadline for <= 0). */
static void no_wait(ProtobufCMessage *req)
{
	if (req->descriptor == &zxvm__v1__port_wait_request__descriptor) {
		Zxvm__V1__PortWaitRequest *w = (Zxvm__V1__PortWaitRequest *)req;
		if (w->timeout > 0)
			w->timeout = 0;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct fz_guest g;
	static struct fz_handles hs;
	zx_handle_t h;

	fz_init();
	if (!fz_guest_ready(&g, true))
		return 0;
	FZ_CHECK(kb_port_create(fz.table, 0, &h) == ZX_OK, "port");
	fz_handles_add_new(&hs, h);
	fz_handles_add_dup(&hs, fz.resource);
	fz_handles_add_dup(&hs, g.guest);
	fz_handles_add_dup(&hs, g.vmar);
	fz_handles_add_dup(&hs, g.ram);
	fz_handles_add_dup(&hs, g.vcpu);
	fz_handles_add_dup(&hs, g.bell_port);

	fz_call_records(&methods, data, size, &hs, no_wait);
	fz_handles_close_all(&hs);
	fz_guest_drain(&g);
	struct kb_table_stats stats;
	kb_table_get_stats(fz.table, &stats);
	FZ_CHECK(stats.handles < 64, "%u handles left after an input", stats.handles);
	return 0;
}
