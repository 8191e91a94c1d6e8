/* Fuzz target: VcpuStream requests (enter, read_state, write_state, or none) through
 * zxd_stream_handle() as server.c's stream_work runs them: the caller's packet and state
 * storage, the request freed before the response is packed. */
#include <stdlib.h>

#include <zircon/errors.h>

#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct zxd_peer peer = {.authorized = true, .what = "fuzz"};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct fz_guest g;
	static struct fz_handles hs;

	fz_init();
	if (!fz_guest_ready(&g, true))
		return 0;
	fz_handles_add_dup(&hs, g.vcpu);
	fz_handles_add_dup(&hs, g.guest);
	fz_handles_add_dup(&hs, g.ram);

	bool broken = false;
	struct fz_record r;
	for (int i = 0; i < FZ_MAX_RECORDS && fz_next_record(&data, &size, &r); i++) {
		Zxvm__V1__VcpuStreamRequest *req = zxvm__v1__vcpu_stream_request__unpack(
			NULL, r.len, r.msg);
		if (!req)
			continue;
		fz_select_handles(&req->base, r.hsel, &hs);
		Zxvm__V1__VcpuStreamResponse resp;
		struct zxp_packet pkt;
		Zxvm__V1__VcpuState state;
		struct zxd_ctx ctx = {.session = fz.session,
				      .tid = fz_record_tid(&r),
				      .peer = &peer,
				      .cancelled = &fz.cancelled};
		bool enter = req->call_case == ZXVM__V1__VCPU_STREAM_REQUEST__CALL_ENTER;
		if (enter)
			fz_watch_begin();
		zxd_stream_handle(&ctx, req, &resp, &pkt, &state);
		if (enter)
			fz_watch_end();
		if (enter && fz_enter_broke(resp.status))
			broken = true;
		zxvm__v1__vcpu_stream_request__free_unpacked(req, NULL);
		fz_pack(&resp.base);
	}
	fz_handles_close_all(&hs);
	fz_guest_settle(&g, broken);
	return 0;
}
