/* P3: zx_vcpu_enter through zxvmd on libzxvm's VcpuStream, against a bare gRPC C-core
 * bidirectional ping-pong stream over the same kind of socket, in the same run.
 *
 * - zxvm: the public API, connected with zxvm_connect("unix:<private socket>") to a zxvmd this
 *   program starts. The guest `1: out %al, $0x10; jmp 1b` with an IO trap on 0x10; each round
 *   trip is one zx_vcpu_enter to a GUEST_IO packet (one VcpuStream message each way, the VCPU
 *   running to its next exit on the daemon's pinned VCPU thread).
 * - floor: bench_echo_server (a one-thread C-core server answering in place) on a second
 *   private socket; each round trip sends one message on a PingPong stream and receives its
 *   echo, with the client-side work libzxvm does per enter (one send+receive batch plucked
 *   on the call; protobuf pack, unpack and packet decode of a VcpuStreamResponse carrying a
 *   GUEST_IO packet, which is also the message size).
 * What the ratio shows is what the daemon adds to a streamed round trip: decoding, the hop to
 * the VCPU thread, the KVM exit itself, encoding. Target P3: zxvm / floor <= 1.30. */
#include <stdlib.h>
#include <string.h>

#include <zircon/errors.h>
#include <zircon/syscalls.h>
#include <zxvm/zxvm.h>

#include "bench-grpc.h"
#include "bench-guest.h"
#include "bench-proc.h"
#include "bench-rt.h"
#include "zxvm-proto.h"

#define P3_TARGET 1.30
#define P3_DEFAULT_CALLS 10000ul

struct floor_ctx {
	struct bench_stream *stream;
	uint8_t msg[64];
	size_t len;
};

static int floor_run(void *arg, unsigned long n)
{
	struct floor_ctx *f = arg;
	uint8_t buf[256];
	for (unsigned long i = 0; i < n; i++) {
		size_t len;
		if (bench_stream_call(f->stream, f->msg, f->len, buf, sizeof(buf), &len) < 0)
			return -1;
		Zxvm__V1__VcpuStreamResponse *resp =
			zxvm__v1__vcpu_stream_response__unpack(NULL, len, buf);
		zx_port_packet_t p;
		bool ok = resp && resp->status == ZX_OK && resp->packet &&
			  zxp_packet_decode(resp->packet, &p) == ZX_OK && bench_guest_packet_ok(&p);
		if (resp)
			zxvm__v1__vcpu_stream_response__free_unpacked(resp, NULL);
		if (!ok) {
			fprintf(stderr, "bench_p3: the echo is not the message sent\n");
			return -1;
		}
	}
	return 0;
}

static int zxvm_run(void *arg, unsigned long n)
{
	struct bench_guest *g = arg;
	zx_port_packet_t p;
	for (unsigned long i = 0; i < n; i++) {
		zx_status_t st = zx_vcpu_enter(g->vcpu, &p);
		if (st != ZX_OK) {
			fprintf(stderr, "bench_p3: zx_vcpu_enter: %s\n", zx_status_get_string(st));
			return -1;
		}
		if (!bench_guest_packet_ok(&p)) {
			fprintf(stderr,
				"bench_p3: packet type %u key %#lx port %#x, expected the "
				"loop's GUEST_IO exit\n",
				p.type, (unsigned long)p.key, p.guest_io.port);
			return -1;
		}
	}
	return 0;
}

/* The floor's message: what the daemon answers an enter with. */
static void floor_message(struct floor_ctx *f)
{
	zx_port_packet_t p = {.key = BENCH_GUEST_KEY, .type = ZX_PKT_TYPE_GUEST_IO};
	p.guest_io.port = BENCH_KVM_PORT;
	p.guest_io.access_size = 1;
	struct zxp_packet pkt;
	zxp_packet_encode(&p, &pkt);
	Zxvm__V1__VcpuStreamResponse resp = ZXVM__V1__VCPU_STREAM_RESPONSE__INIT;
	resp.packet = &pkt.msg;
	f->len = zxvm__v1__vcpu_stream_response__pack(&resp, f->msg);
}

static int run(const struct bench_rt_opts *o, const char *dir, const char *zxvmd, void *arg)
{
	struct bench_rt_result *res = arg;
	struct bench_server daemon = {0}, echo = {0};
	char daemon_target[300], echo_target[300];
	int rc = -1;
	struct bench_guest g = BENCH_GUEST_INIT;
	struct bench_rpc *rpc = NULL;
	struct floor_ctx f = {0};
	bool connected = false;

	if (bench_start_zxvmd(&daemon, zxvmd, dir, 0, daemon_target, sizeof(daemon_target)) < 0 ||
	    bench_start_echo(&echo, dir, 0, echo_target, sizeof(echo_target)) < 0)
		goto out;

	zx_handle_t resource;
	zx_status_t st = zxvm_connect(daemon_target, &resource);
	if (st != ZX_OK) {
		fprintf(stderr, "bench_p3: zxvm_connect(%s): %s\n", daemon_target,
			zx_status_get_string(st));
		goto out;
	}
	connected = true;
	const char *what = NULL;
	st = bench_guest_create(resource, &g, &what);
	if (st != ZX_OK) {
		fprintf(stderr, "bench_p3: %s: %s\n", what, zx_status_get_string(st));
		goto out;
	}

	rpc = bench_rpc_open(echo_target);
	const struct bench_md md = {.session = "00000000000000000000000000000000", .thread = "1"};
	f.stream =
		rpc ? bench_stream_open(rpc, bench_rpc_method(rpc, BENCH_ECHO_STREAM), &md) : NULL;
	if (!f.stream) {
		fprintf(stderr, "bench_p3: cannot open the floor's stream\n");
		goto out;
	}
	floor_message(&f);

	const struct bench_rt_side floor_side = {floor_run, &f}, zxvm_side = {zxvm_run, &g};
	struct bench_server *const servers[] = {&daemon, &echo};
	rc = bench_rt_measure(o, servers, 2, &floor_side, &zxvm_side, res);
out:
	if (f.stream && bench_stream_close(f.stream) < 0)
		rc = -1;
	bench_rpc_close(rpc);
	if (connected) {
		bench_guest_destroy(&g);
		zxvm_disconnect();
	}
	if (bench_server_stop(&echo, 5000) < 0)
		rc = -1;
	if (bench_server_stop(&daemon, 5000) < 0)
		rc = -1;
	return rc;
}

int main(int argc, char **argv)
{
	static const struct bench_rt_defaults d = {
		.prog = "bench_p3",
		.calls = P3_DEFAULT_CALLS,
		.reps = 7,
		.calls_what = "round trips per repetition",
		.reps_what = "repetitions of each side",
	};
	static const struct bench_rt_report r = {
		.id = "p3",
		.title = "zx_vcpu_enter (libzxvm's VcpuStream) through zxvmd vs a bare gRPC C-core "
			 "ping-pong stream (unix sockets)",
		.floor_name = "floor: C-core stream",
		.zxvm_name = "zxvm: zx_vcpu_enter",
		.unit = "round trip",
		.target = P3_TARGET,
	};
	return bench_rt_main(&d, &r, argc, argv, run);
}
