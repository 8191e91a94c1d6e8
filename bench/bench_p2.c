/* P2: the unary VcpuEnter RPC through zxvmd, against a bare gRPC C-core unary echo over the
 * same kind of socket, in the same run.
 *
 * - zxvm: raw C-core calls (bench-grpc.c) with the wire messages of proto/zxvm/v1 (protobuf-c,
 *   zxvm_proto), no libzxvm: OpenSession (a named session, so that no Lease needs to be held),
 *   then GuestCreate, VmoCreate, VmoReplaceAsExecutable, VmoWrite (page tables, code),
 *   VmarMap, GuestSetTrap (IO, port 0x10), VcpuCreate and VcpuEnter, every call after
 *   OpenSession with the zxvm-session and zxvm-thread metadata, all from this one thread with
 *   one thread id. The guest is `1: out %al, $0x10; jmp 1b`; each round trip is one VcpuEnter
 *   call answered with a GUEST_IO packet, the VCPU running to its next exit on the daemon's
 *   pinned VCPU thread. CloseSession at the end.
 * - floor: bench_echo_server (a one-thread C-core server answering in place) on a second
 *   private socket; each round trip is one unary Echo call with the same client-side work and
 *   metadata: the message is a packed VcpuEnterResponse with a GUEST_IO packet (the size of
 *   the daemon's answer), unpacked and its packet decoded and checked on return.
 * Target P2: zxvm / floor <= 1.30. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zircon/errors.h>
#include <zircon/syscalls.h>

#include "bench-grpc.h"
#include "bench-guest.h"
#include "bench-proc.h"
#include "bench-rt.h"
#include "zxvm-proto.h"

#define P2_TARGET 1.30
#define P2_DEFAULT_CALLS 10000ul
#define P2_THREAD_ID "1"
#define P2_MAX_METHODS 64

/* The raw client of zxvmd: a channel, the registered methods, the session's metadata. */
struct raw {
	struct bench_rpc *rpc;
	void *methods[P2_MAX_METHODS];
	char token[64];
	struct bench_md md;
	uint8_t buf[64 << 10]; /* responses; the largest here is a few dozen bytes */
	uint32_t resource;     /* the hypervisor resource of the session */
	uint32_t vcpu;
	bool session_open;
};

static const ProtobufCMethodDescriptor *method_of(const char *name, unsigned *out_index)
{
	const ProtobufCServiceDescriptor *d = &zxvm__v1__hypervisor__descriptor;
	for (unsigned i = 0; i < d->n_methods && i < P2_MAX_METHODS; i++) {
		if (strcmp(d->methods[i].name, name) == 0) {
			*out_index = i;
			return &d->methods[i];
		}
	}
	return NULL;
}

static zx_status_t status_of(const ProtobufCMessage *resp)
{
	const ProtobufCFieldDescriptor *f =
		protobuf_c_message_descriptor_get_field_by_name(resp->descriptor, "status");
	return f ? *(const int32_t *)((const char *)resp + f->offset) : ZX_ERR_INTERNAL;
}

/* One unary call by method name. On success *out is the response (free_unpacked) and its
 * status field is ZX_OK; otherwise -1 with the reason printed. */
static int raw_call(struct raw *r, const char *name, const ProtobufCMessage *req,
		    ProtobufCMessage **out)
{
	unsigned i;
	const ProtobufCMethodDescriptor *m = method_of(name, &i);
	if (!m) {
		fprintf(stderr, "bench_p2: no method %s\n", name);
		return -1;
	}
	size_t len = protobuf_c_message_get_packed_size(req), rlen;
	uint8_t *packed = malloc(len ? len : 1);
	if (!packed)
		return -1;
	protobuf_c_message_pack(req, packed);
	int rc = bench_rpc_unary(r->rpc, r->methods[i], r->session_open ? &r->md : NULL, packed,
				 len, r->buf, sizeof(r->buf), &rlen);
	free(packed);
	if (rc < 0) {
		fprintf(stderr, "bench_p2: %s failed\n", name);
		return -1;
	}
	*out = protobuf_c_message_unpack(m->output, NULL, rlen, r->buf);
	if (!*out) {
		fprintf(stderr, "bench_p2: %s: cannot decode the response\n", name);
		return -1;
	}
	zx_status_t st = status_of(*out);
	if (st != ZX_OK) {
		fprintf(stderr, "bench_p2: %s: %s\n", name, zx_status_get_string(st));
		protobuf_c_message_free_unpacked(*out, NULL);
		*out = NULL;
		return -1;
	}
	return 0;
}

/* Call, keep one field of the response, free it. */
#define RAW(r, name, req, type, field, out)                                                        \
	do {                                                                                       \
		type *_resp;                                                                       \
		if (raw_call(r, name, &(req).base, (ProtobufCMessage **)&_resp) < 0)               \
			return -1;                                                                 \
		(void)(out = _resp->field);                                                        \
		protobuf_c_message_free_unpacked(&_resp->base, NULL);                              \
	} while (0)

static int raw_open(struct raw *r, const char *target)
{
	r->rpc = bench_rpc_open(target);
	if (!r->rpc)
		return -1;
	const ProtobufCServiceDescriptor *d = &zxvm__v1__hypervisor__descriptor;
	for (unsigned i = 0; i < d->n_methods && i < P2_MAX_METHODS; i++)
		r->methods[i] = bench_rpc_method(r->rpc, zxp_method_path(i));

	/* A named session lives until CloseSession without a Lease stream. */
	char name[64];
	snprintf(name, sizeof(name), "bench-p2-%d", (int)getpid());
	Zxvm__V1__OpenSessionRequest req = ZXVM__V1__OPEN_SESSION_REQUEST__INIT;
	req.name = name;
	Zxvm__V1__OpenSessionResponse *resp;
	if (raw_call(r, "OpenSession", &req.base, (ProtobufCMessage **)&resp) < 0)
		return -1;
	snprintf(r->token, sizeof(r->token), "%s", resp->token);
	r->resource = resp->hypervisor_resource;
	protobuf_c_message_free_unpacked(&resp->base, NULL);
	r->md = (struct bench_md){.session = r->token, .thread = P2_THREAD_ID};
	r->session_open = true;
	return 0;
}

static void raw_close(struct raw *r)
{
	if (r->session_open) {
		Zxvm__V1__CloseSessionRequest req = ZXVM__V1__CLOSE_SESSION_REQUEST__INIT;
		ProtobufCMessage *resp;
		if (raw_call(r, "CloseSession", &req.base, &resp) == 0)
			protobuf_c_message_free_unpacked(resp, NULL);
		r->session_open = false;
	}
	bench_rpc_close(r->rpc);
	r->rpc = NULL;
}

/* One VcpuEnter: pack, call, unpack, decode and check the packet. */
static int raw_enter(struct raw *r)
{
	Zxvm__V1__VcpuEnterRequest req = ZXVM__V1__VCPU_ENTER_REQUEST__INIT;
	req.vcpu = r->vcpu;
	Zxvm__V1__VcpuEnterResponse *resp;
	if (raw_call(r, "VcpuEnter", &req.base, (ProtobufCMessage **)&resp) < 0)
		return -1;
	zx_port_packet_t p;
	bool ok = resp->packet && zxp_packet_decode(resp->packet, &p) == ZX_OK &&
		  bench_guest_packet_ok(&p);
	protobuf_c_message_free_unpacked(&resp->base, NULL);
	if (!ok) {
		fprintf(stderr, "bench_p2: VcpuEnter did not end in the loop's GUEST_IO exit\n");
		return -1;
	}
	return 0;
}

/* The guest, its memory and its VCPU through the raw calls, run to the first exit. */
static int raw_guest(struct raw *r, uint32_t resource)
{
	static uint64_t pt[BENCH_KVM_PT_SIZE / 8];
	uint32_t guest, vmar, vmo, vmo_x;
	uint64_t addr;
	int32_t st;

	Zxvm__V1__GuestCreateRequest gc = ZXVM__V1__GUEST_CREATE_REQUEST__INIT;
	gc.resource = resource;
	Zxvm__V1__GuestCreateResponse *gr;
	if (raw_call(r, "GuestCreate", &gc.base, (ProtobufCMessage **)&gr) < 0)
		return -1;
	guest = gr->guest;
	vmar = gr->vmar;
	protobuf_c_message_free_unpacked(&gr->base, NULL);

	Zxvm__V1__VmoCreateRequest vc = ZXVM__V1__VMO_CREATE_REQUEST__INIT;
	vc.size = BENCH_KVM_RAM_SIZE;
	RAW(r, "VmoCreate", vc, Zxvm__V1__HandleResponse, handle, vmo);

	Zxvm__V1__VmoReplaceAsExecutableRequest vx =
		ZXVM__V1__VMO_REPLACE_AS_EXECUTABLE_REQUEST__INIT;
	vx.vmo = vmo;
	RAW(r, "VmoReplaceAsExecutable", vx, Zxvm__V1__HandleResponse, handle, vmo_x);

	memset(pt, 0, sizeof(pt));
	bench_kvm_page_tables(pt);
	Zxvm__V1__VmoWriteRequest vw = ZXVM__V1__VMO_WRITE_REQUEST__INIT;
	vw.vmo = vmo_x;
	vw.data = (ProtobufCBinaryData){.len = sizeof(pt), .data = (uint8_t *)pt};
	RAW(r, "VmoWrite", vw, Zxvm__V1__StatusResponse, status, st);
	vw.offset = BENCH_KVM_ENTRY;
	vw.data = (ProtobufCBinaryData){.len = sizeof(bench_kvm_loop_out),
					.data = (uint8_t *)bench_kvm_loop_out};
	RAW(r, "VmoWrite", vw, Zxvm__V1__StatusResponse, status, st);

	Zxvm__V1__VmarMapRequest vm = ZXVM__V1__VMAR_MAP_REQUEST__INIT;
	vm.vmar = vmar;
	vm.options = ZX_VM_PERM_READ | ZX_VM_PERM_WRITE | ZX_VM_PERM_EXECUTE | ZX_VM_SPECIFIC;
	vm.vmo = vmo_x;
	vm.len = BENCH_KVM_RAM_SIZE;
	RAW(r, "VmarMap", vm, Zxvm__V1__VmarMapResponse, mapped_addr, addr);

	Zxvm__V1__GuestSetTrapRequest tr = ZXVM__V1__GUEST_SET_TRAP_REQUEST__INIT;
	tr.guest = guest;
	tr.kind = ZX_GUEST_TRAP_IO;
	tr.addr = BENCH_KVM_PORT;
	tr.size = 1;
	tr.key = BENCH_GUEST_KEY;
	RAW(r, "GuestSetTrap", tr, Zxvm__V1__StatusResponse, status, st);

	Zxvm__V1__VcpuCreateRequest cr = ZXVM__V1__VCPU_CREATE_REQUEST__INIT;
	cr.guest = guest;
	cr.entry = BENCH_KVM_ENTRY;
	RAW(r, "VcpuCreate", cr, Zxvm__V1__HandleResponse, handle, r->vcpu);
	(void)addr;
	(void)st;
	return raw_enter(r);
}

static int zxvm_run(void *arg, unsigned long n)
{
	struct raw *r = arg;
	for (unsigned long i = 0; i < n; i++)
		if (raw_enter(r) < 0)
			return -1;
	return 0;
}

struct floor_ctx {
	struct bench_rpc *rpc;
	void *method;
	struct bench_md md;
	uint8_t msg[64];
	size_t len;
};

static int floor_run(void *arg, unsigned long n)
{
	struct floor_ctx *f = arg;
	uint8_t buf[256];
	for (unsigned long i = 0; i < n; i++) {
		size_t len;
		if (bench_rpc_unary(f->rpc, f->method, &f->md, f->msg, f->len, buf, sizeof(buf),
				    &len) < 0)
			return -1;
		Zxvm__V1__VcpuEnterResponse *resp =
			zxvm__v1__vcpu_enter_response__unpack(NULL, len, buf);
		zx_port_packet_t p;
		bool ok = resp && resp->status == ZX_OK && resp->packet &&
			  zxp_packet_decode(resp->packet, &p) == ZX_OK && bench_guest_packet_ok(&p);
		if (resp)
			zxvm__v1__vcpu_enter_response__free_unpacked(resp, NULL);
		if (!ok) {
			fprintf(stderr, "bench_p2: the echo is not the message sent\n");
			return -1;
		}
	}
	return 0;
}

/* The floor's message: what the daemon answers a VcpuEnter with. */
static void floor_message(struct floor_ctx *f)
{
	zx_port_packet_t p = {.key = BENCH_GUEST_KEY, .type = ZX_PKT_TYPE_GUEST_IO};
	p.guest_io.port = BENCH_KVM_PORT;
	p.guest_io.access_size = 1;
	struct zxp_packet pkt;
	zxp_packet_encode(&p, &pkt);
	Zxvm__V1__VcpuEnterResponse resp = ZXVM__V1__VCPU_ENTER_RESPONSE__INIT;
	resp.packet = &pkt.msg;
	f->len = zxvm__v1__vcpu_enter_response__pack(&resp, f->msg);
}

static int run(const struct bench_rt_opts *o, const char *dir, const char *zxvmd, void *arg)
{
	struct bench_rt_result *res = arg;
	static struct raw r;
	struct bench_server daemon = {0}, echo = {0};
	char daemon_target[300], echo_target[300];
	struct floor_ctx f = {0};
	int rc = -1;

	if (bench_start_zxvmd(&daemon, zxvmd, dir, 0, daemon_target, sizeof(daemon_target)) < 0 ||
	    bench_start_echo(&echo, dir, 0, echo_target, sizeof(echo_target)) < 0)
		goto out;
	if (raw_open(&r, daemon_target) < 0 || raw_guest(&r, r.resource) < 0)
		goto out;

	f.rpc = bench_rpc_open(echo_target);
	if (!f.rpc)
		goto out;
	f.method = bench_rpc_method(f.rpc, BENCH_ECHO_UNARY);
	f.md = r.md;
	floor_message(&f);

	const struct bench_rt_side floor_side = {floor_run, &f}, zxvm_side = {zxvm_run, &r};
	struct bench_server *const servers[] = {&daemon, &echo};
	rc = bench_rt_measure(o, servers, 2, &floor_side, &zxvm_side, res);
out:
	bench_rpc_close(f.rpc);
	if (r.rpc)
		raw_close(&r);
	if (bench_server_stop(&echo, 5000) < 0)
		rc = -1;
	if (bench_server_stop(&daemon, 5000) < 0)
		rc = -1;
	return rc;
}

int main(int argc, char **argv)
{
	static const struct bench_rt_defaults d = {
		.prog = "bench_p2",
		.calls = P2_DEFAULT_CALLS,
		.reps = 7,
		.calls_what = "round trips per repetition",
		.reps_what = "repetitions of each side",
	};
	static const struct bench_rt_report r = {
		.id = "p2",
		.title = "unary VcpuEnter through zxvmd vs a bare gRPC C-core unary echo "
			 "(unix sockets)",
		.floor_name = "floor: C-core echo",
		.zxvm_name = "zxvm: VcpuEnter",
		.unit = "call",
		.target = P2_TARGET,
	};
	return bench_rt_main(&d, &r, argc, argv, run);
}
