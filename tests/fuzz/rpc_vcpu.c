/* Fuzz target: the VCPU calls over RPC (VcpuCreate, VcpuReadState, VcpuWriteState,
 * VcpuInterrupt, VcpuKick, VcpuEnter) on the live guest, the fuzzer's thread playing the
 * pinned VCPU thread. The VCPU loops over trapped exits, so an enter returns at once. */
#include <zircon/errors.h>

#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const names[] = {"VcpuCreate",    "VcpuReadState", "VcpuWriteState",
				    "VcpuInterrupt", "VcpuKick",      "VcpuEnter"};
static struct fz_methods methods = FZ_METHODS(names);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct fz_guest g;
	static struct fz_handles hs;

	fz_init();
	if (!fz_guest_ready(&g, true))
		return 0;
	fz_handles_add_dup(&hs, g.vcpu);
	fz_handles_add_dup(&hs, g.guest);
	fz_handles_add_dup(&hs, g.bell_port);
	fz_handles_add_dup(&hs, g.ram);

	bool broken = false;
	struct fz_record r;
	for (int i = 0; i < FZ_MAX_RECORDS && fz_next_record(&data, &size, &r); i++) {
		const struct zxd_method *m = fz_pick(&methods, &r);
		int32_t st = fz_call(m, &r, &hs, NULL);
		if (m == methods.m[0] && st == ZX_OK)
			g.vcpu_creations++;
		if (m == methods.m[5] && fz_enter_broke(st))
			broken = true;
	}
	fz_handles_close_all(&hs);
	fz_guest_settle(&g, broken);
	return 0;
}
