/* libzxvm's daemon transport: the only client file that includes gRPC core.
 *
 * One channel per process. A unary call is one six-op batch waited for on the calling
 * thread's own pluck queue. Each thread's VCPU calls (enter, read/write state) go in order on
 * that thread's VcpuStream: one batch per request (send + receive). The session's Lease
 * stream is held by a background thread, so the daemon closes the session when this process
 * goes away, however it goes. */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/time.h>

#include <zircon/errors.h>
#include <zxvm/zxvm.h>

#include "client-internal.h"
#include "zxvm-proto.h"

/* VMO data travels in chunks well under the daemon's message limit. */
#define VMO_CHUNK (4u << 20)

static grpc_channel *channel;
static void *methods[64];
static char token[64];
static grpc_completion_queue *lease_cq;
static grpc_call *lease_call;
static pthread_t lease_thread;
/* What the lease call's batch points to, alive until zxc_disconnect releases it. */
static grpc_metadata lease_md[2];
static char lease_tid_buf[24];
static grpc_metadata_array lease_trailing;
static grpc_status_code lease_code;
static grpc_slice lease_details;
static grpc_byte_buffer *lease_send;
static pthread_key_t thread_key;

struct thread_state {
	grpc_completion_queue *cq;
	grpc_call *stream;
	grpc_metadata_array stream_md; /* the stream's initial metadata, received once */
};

static void thread_state_free(void *p)
{
	struct thread_state *ts = p;
	if (ts->stream) {
		grpc_call_cancel(ts->stream, NULL);
		grpc_call_unref(ts->stream);
	}
	grpc_completion_queue_shutdown(ts->cq);
	while (grpc_completion_queue_pluck(ts->cq, NULL, gpr_inf_future(GPR_CLOCK_REALTIME), NULL)
		       .type != GRPC_QUEUE_SHUTDOWN)
		;
	grpc_completion_queue_destroy(ts->cq);
	grpc_metadata_array_destroy(&ts->stream_md);
	free(ts);
}

static struct thread_state *my_state(void)
{
	struct thread_state *ts = pthread_getspecific(thread_key);
	if (!ts) {
		ts = calloc(1, sizeof(*ts));
		if (!ts)
			return NULL;
		ts->cq = grpc_completion_queue_create_for_pluck(NULL);
		grpc_metadata_array_init(&ts->stream_md);
		pthread_setspecific(thread_key, ts);
	}
	return ts;
}

/* The method's index in the service (and in methods[]): a binary search of protobuf-c's sorted
 * name index. */
static int method_index(const char *name)
{
	const ProtobufCServiceDescriptor *d = &zxvm__v1__hypervisor__descriptor;
	const ProtobufCMethodDescriptor *m = protobuf_c_service_descriptor_get_method_by_name(d, name);
	return m ? (int)(m - d->methods) : -1;
}

/* gRPC status → zx_status_t (DESIGN.md "Wire API"). */
static zx_status_t from_grpc(grpc_status_code code)
{
	switch (code) {
	case GRPC_STATUS_OK:
		return ZX_OK;
	case GRPC_STATUS_UNAVAILABLE:
	case GRPC_STATUS_CANCELLED:
		return ZX_ERR_PEER_CLOSED;
	case GRPC_STATUS_DEADLINE_EXCEEDED:
		return ZX_ERR_TIMED_OUT;
	case GRPC_STATUS_UNAUTHENTICATED: /* the session is gone: so are its handles */
		return ZX_ERR_BAD_HANDLE;
	case GRPC_STATUS_PERMISSION_DENIED:
		return ZX_ERR_ACCESS_DENIED;
	case GRPC_STATUS_RESOURCE_EXHAUSTED:
		return ZX_ERR_OUT_OF_RANGE;
	case GRPC_STATUS_INVALID_ARGUMENT:
		return ZX_ERR_INVALID_ARGS;
	default:
		return ZX_ERR_IO;
	}
}

static grpc_byte_buffer *pack(const ProtobufCMessage *msg)
{
	size_t len = protobuf_c_message_get_packed_size(msg);
	grpc_slice s = grpc_slice_malloc(len);
	protobuf_c_message_pack(msg, GRPC_SLICE_START_PTR(s));
	grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&s, 1);
	grpc_slice_unref(s);
	return bb;
}

static ProtobufCMessage *unpack(const ProtobufCMessageDescriptor *d, grpc_byte_buffer *bb)
{
	grpc_byte_buffer_reader r;
	if (!bb || !grpc_byte_buffer_reader_init(&r, bb))
		return NULL;
	grpc_slice s = grpc_byte_buffer_reader_readall(&r);
	grpc_byte_buffer_reader_destroy(&r);
	ProtobufCMessage *m =
		protobuf_c_message_unpack(d, NULL, GRPC_SLICE_LENGTH(s), GRPC_SLICE_START_PTR(s));
	grpc_slice_unref(s);
	return m;
}

static void metadata(grpc_metadata md[2], char tid_buf[24])
{
	snprintf(tid_buf, 24, "%llu", (unsigned long long)zxvm__thread_id());
	md[0] = (grpc_metadata){.key = grpc_slice_from_static_string("zxvm-session"),
				.value = grpc_slice_from_static_string(token)};
	md[1] = (grpc_metadata){.key = grpc_slice_from_static_string("zxvm-thread"),
				.value = grpc_slice_from_static_string(tid_buf)};
}

/* One unary call: request in, *out (to free with protobuf_c_message_free_unpacked) back. */
static zx_status_t unary(const char *name, const ProtobufCMessage *req, ProtobufCMessage **out)
{
	*out = NULL;
	int mi = method_index(name);
	struct thread_state *ts = my_state();
	if (!channel)
		return ZX_ERR_BAD_HANDLE;
	if (mi < 0 || !ts)
		return ZX_ERR_INTERNAL;
	grpc_call *call = grpc_channel_create_registered_call(
		channel, NULL, GRPC_PROPAGATE_DEFAULTS, ts->cq, methods[mi],
		gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
	grpc_metadata md[2];
	char tid_buf[24];
	metadata(md, tid_buf);
	grpc_byte_buffer *send = pack(req), *recv = NULL;
	grpc_metadata_array init_md, trailing;
	grpc_metadata_array_init(&init_md);
	grpc_metadata_array_init(&trailing);
	grpc_status_code code = GRPC_STATUS_UNKNOWN;
	grpc_slice details = grpc_empty_slice();
	grpc_op ops[6] = {
		{.op = GRPC_OP_SEND_INITIAL_METADATA,
		 .data.send_initial_metadata = {.count = 2, .metadata = md}},
		{.op = GRPC_OP_SEND_MESSAGE, .data.send_message.send_message = send},
		{.op = GRPC_OP_SEND_CLOSE_FROM_CLIENT},
		{.op = GRPC_OP_RECV_INITIAL_METADATA,
		 .data.recv_initial_metadata.recv_initial_metadata = &init_md},
		{.op = GRPC_OP_RECV_MESSAGE, .data.recv_message.recv_message = &recv},
		{.op = GRPC_OP_RECV_STATUS_ON_CLIENT,
		 .data.recv_status_on_client = {.trailing_metadata = &trailing,
						.status = &code,
						.status_details = &details}},
	};
	zx_status_t st = ZX_OK;
	if (grpc_call_start_batch(call, ops, 6, call, NULL) != GRPC_CALL_OK)
		st = ZX_ERR_INTERNAL;
	else
		grpc_completion_queue_pluck(ts->cq, call, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
	if (st == ZX_OK)
		st = from_grpc(code);
	if (st == ZX_OK) {
		const ProtobufCMethodDescriptor *m = &zxvm__v1__hypervisor__descriptor.methods[mi];
		*out = unpack(m->output, recv);
		if (!*out)
			st = ZX_ERR_IO;
	}
	grpc_byte_buffer_destroy(send);
	if (recv)
		grpc_byte_buffer_destroy(recv);
	grpc_slice_unref(details);
	grpc_metadata_array_destroy(&init_md);
	grpc_metadata_array_destroy(&trailing);
	grpc_call_unref(call);
	return st;
}

static zx_status_t status_of(const ProtobufCMessage *resp)
{
	const ProtobufCFieldDescriptor *f =
		protobuf_c_message_descriptor_get_field_by_name(resp->descriptor, "status");
	return f ? *(const int32_t *)((const char *)resp + f->offset) : ZX_ERR_INTERNAL;
}

/* Call, and hand back the response only when both transport and call succeeded. */
#define CALL(name, reqp, resp_type, resp_var)                                                      \
	resp_type *resp_var = NULL;                                                                \
	zx_status_t st = unary(name, &(reqp)->base, (ProtobufCMessage **)&resp_var);              \
	if (st == ZX_OK)                                                                           \
		st = status_of(&resp_var->base)

#define DONE(resp_var)                                                                             \
	do {                                                                                       \
		if (resp_var)                                                                      \
			protobuf_c_message_free_unpacked(&resp_var->base, NULL);                   \
		return st;                                                                         \
	} while (0)

/* ---- connection ---- */

static void *lease_main(void *arg)
{
	grpc_event ev;
	do
		ev = grpc_completion_queue_next(lease_cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
	while (ev.type != GRPC_QUEUE_SHUTDOWN);
	return NULL;
}

static char *read_file(const char *path)
{
	FILE *f = path ? fopen(path, "re") : NULL;
	if (!f)
		return NULL;
	char *buf = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);
	char chunk[4096];
	size_t n;
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		fwrite(chunk, 1, n, m);
	fclose(f);
	fclose(m);
	return buf;
}

static grpc_channel_credentials *credentials(const char *target, zx_status_t *st)
{
	if (strncmp(target, "unix:", 5) == 0)
		return grpc_insecure_credentials_create();
	/* host:port: mutual TLS with the certificates the environment names. A plain loopback
	 * connection only when asked for (the daemon's --insecure-loopback test mode). */
	if (getenv("ZXVM_INSECURE") && strcmp(getenv("ZXVM_INSECURE"), "1") == 0)
		return grpc_insecure_credentials_create();
	char *ca = read_file(getenv("ZXVM_TLS_CA")), *cert = read_file(getenv("ZXVM_TLS_CERT")),
	     *key = read_file(getenv("ZXVM_TLS_KEY"));
	grpc_channel_credentials *c = NULL;
	if (!ca || !cert || !key) {
		*st = ZX_ERR_INVALID_ARGS; /* TLS needs ZXVM_TLS_CA, ZXVM_TLS_CERT, ZXVM_TLS_KEY */
	} else {
		grpc_ssl_pem_key_cert_pair kp = {key, cert};
		c = grpc_ssl_credentials_create(ca, &kp, NULL, NULL);
	}
	free(ca);
	free(cert);
	free(key);
	return c;
}

static void lease_start(void)
{
	int mi = method_index("Lease");
	/* Non-polling: a thread waiting on a polling queue takes part in reading every socket
	 * of the process, and this one always waits; it would then read most replies meant for
	 * the calling threads and wake them, one more thread hop per call (bench/README.md, P3).
	 * The lease needs no I/O of its own here: the calling threads and gRPC's backup poller
	 * move the connection along, and only its end is awaited. */
	grpc_completion_queue_attributes attr = {GRPC_CQ_CURRENT_VERSION, GRPC_CQ_NEXT,
						 GRPC_CQ_NON_POLLING, NULL};
	lease_cq = grpc_completion_queue_create(grpc_completion_queue_factory_lookup(&attr), &attr,
						NULL);
	lease_call = grpc_channel_create_registered_call(channel, NULL, GRPC_PROPAGATE_DEFAULTS,
							 lease_cq, methods[mi],
							 gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
	metadata(lease_md, lease_tid_buf);
	Zxvm__V1__LeaseRequest req = ZXVM__V1__LEASE_REQUEST__INIT;
	lease_send = pack(&req.base);
	lease_details = grpc_empty_slice();
	grpc_metadata_array_init(&lease_trailing);
	grpc_op ops[4] = {
		{.op = GRPC_OP_SEND_INITIAL_METADATA,
		 .data.send_initial_metadata = {.count = 2, .metadata = lease_md}},
		{.op = GRPC_OP_SEND_MESSAGE, .data.send_message.send_message = lease_send},
		{.op = GRPC_OP_SEND_CLOSE_FROM_CLIENT},
		{.op = GRPC_OP_RECV_STATUS_ON_CLIENT,
		 .data.recv_status_on_client = {.trailing_metadata = &lease_trailing,
						.status = &lease_code,
						.status_details = &lease_details}},
	};
	grpc_call_start_batch(lease_call, ops, 4, lease_call, NULL);
	pthread_create(&lease_thread, NULL, lease_main, NULL);
}

/* gRPC reports any failed connect as UNAVAILABLE. For a unix socket the caller may not write
 * (connect(2) needs write permission on it, or search permission on a folder above it), say
 * ACCESS_DENIED rather than PEER_CLOSED: the daemon is there, the caller is not let in (DESIGN.md
 * "Wire API"). Target forms: unix:PATH and unix://ABSOLUTE_PATH. */
static bool unix_socket_refused(const char *target)
{
	if (strncmp(target, "unix:", 5) != 0)
		return false;
	const char *path = target + 5;
	if (strncmp(path, "//", 2) == 0)
		path += 2;
	return access(path, W_OK) != 0 && errno == EACCES;
}

static void init_once(void)
{
	grpc_init();
	/* Once per process: a key per connect would run out (PTHREAD_KEYS_MAX) in a program that
	 * connects and disconnects in a loop. */
	pthread_key_create(&thread_key, thread_state_free);
}

zx_status_t zxc_connect(const char *target, const char *session_name, zx_handle_t *out)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, init_once);
	zx_status_t cst = ZX_OK;
	grpc_channel_credentials *creds = credentials(target, &cst);
	if (!creds)
		return cst;
	grpc_arg args[] = {
		{.type = GRPC_ARG_INTEGER,
		 .key = (char *)GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH,
		 .value.integer = -1},
		/* The server certificate is checked against the host dialled, unless
		 * ZXVM_TLS_SERVER_NAME names another (a fleet whose certificates carry a
		 * service name). */
		{.type = GRPC_ARG_STRING,
		 .key = (char *)GRPC_SSL_TARGET_NAME_OVERRIDE_ARG,
		 .value.string = getenv("ZXVM_TLS_SERVER_NAME")},
	};
	grpc_channel_args cargs = {.num_args = getenv("ZXVM_TLS_SERVER_NAME") &&
							       strncmp(target, "unix:", 5) != 0
						       ? 2
						       : 1,
				   .args = args};
	channel = grpc_channel_create(target, creds, &cargs);
	grpc_channel_credentials_release(creds);
	const ProtobufCServiceDescriptor *d = &zxvm__v1__hypervisor__descriptor;
	for (unsigned i = 0; i < d->n_methods && i < 64; i++)
		methods[i] = grpc_channel_register_call(channel, zxp_method_path(i), NULL, NULL);

	Zxvm__V1__OpenSessionRequest req = ZXVM__V1__OPEN_SESSION_REQUEST__INIT;
	req.name = (char *)(session_name ? session_name : "");
	CALL("OpenSession", &req, Zxvm__V1__OpenSessionResponse, resp);
	if (st == ZX_OK) {
		snprintf(token, sizeof(token), "%s", resp->token);
		*out = resp->hypervisor_resource;
		/* Ephemeral sessions live as long as this process holds the lease. */
		if (!session_name || !session_name[0])
			lease_start();
	} else {
		grpc_channel_destroy(channel);
		channel = NULL;
		if (st == ZX_ERR_PEER_CLOSED && unix_socket_refused(target))
			st = ZX_ERR_ACCESS_DENIED;
	}
	DONE(resp);
}

void zxc_disconnect(void)
{
	if (!channel)
		return;
	struct thread_state *ts = pthread_getspecific(thread_key);
	if (ts) {
		pthread_setspecific(thread_key, NULL);
		thread_state_free(ts);
	}
	if (lease_call) {
		grpc_call_cancel(lease_call, NULL);
		grpc_completion_queue_shutdown(lease_cq);
		pthread_join(lease_thread, NULL);
		grpc_call_unref(lease_call);
		grpc_completion_queue_destroy(lease_cq);
		lease_call = NULL;
		grpc_byte_buffer_destroy(lease_send);
		grpc_slice_unref(lease_details);
		grpc_metadata_array_destroy(&lease_trailing);
	}
	grpc_channel_destroy(channel);
	channel = NULL;
	token[0] = 0;
}

zx_status_t zxc_close_session(void)
{
	Zxvm__V1__CloseSessionRequest req = ZXVM__V1__CLOSE_SESSION_REQUEST__INIT;
	CALL("CloseSession", &req, Zxvm__V1__CloseSessionResponse, resp);
	DONE(resp);
}

zx_status_t zxc_list_sessions(struct zxvm_session_info *out, size_t max, size_t *actual)
{
	Zxvm__V1__ListSessionsRequest req = ZXVM__V1__LIST_SESSIONS_REQUEST__INIT;
	CALL("ListSessions", &req, Zxvm__V1__ListSessionsResponse, resp);
	if (st == ZX_OK) {
		for (size_t i = 0; i < resp->n_sessions && i < max; i++) {
			snprintf(out[i].name, sizeof(out[i].name), "%s", resp->sessions[i]->name);
			out[i].handles = resp->sessions[i]->handles;
			out[i].guests = resp->sessions[i]->guests;
			out[i].vcpus = resp->sessions[i]->vcpus;
		}
		if (actual)
			*actual = resp->n_sessions;
	}
	DONE(resp);
}

zx_status_t zxc_get_stats(struct zxvm_stats *out, struct zxvm_vcpu_stats *vcpus, size_t max,
			  size_t *actual)
{
	Zxvm__V1__StatsRequest req = ZXVM__V1__STATS_REQUEST__INIT;
	CALL("Stats", &req, Zxvm__V1__StatsResponse, resp);
	if (st == ZX_OK) {
		*out = (struct zxvm_stats){resp->sessions, resp->guests, resp->vcpus};
		for (size_t i = 0; i < resp->n_vcpu && i < max; i++) {
			const Zxvm__V1__VcpuStats *v = resp->vcpu[i];
			memset(&vcpus[i], 0, sizeof(vcpus[i]));
			snprintf(vcpus[i].session, sizeof(vcpus[i].session), "%s", v->session);
			vcpus[i].vpid = v->vpid;
			for (size_t k = 0; k < v->n_exits; k++)
				for (unsigned e = 0; e < ZXVM_EXIT_KINDS; e++)
					if (strcmp(v->exits[k]->key, zxvm_exit_kind_name(e)) == 0)
						vcpus[i].exits[e] = v->exits[k]->value;
		}
		if (actual)
			*actual = resp->n_vcpu;
	}
	DONE(resp);
}

/* ---- the calls ---- */

static zx_status_t handle_out(zx_status_t st, uint32_t h, zx_handle_t *out)
{
	if (st != ZX_OK)
		return st;
	if (!out) {
		/* As Zircon: the call happened, the copy-out failed, the handle is closed. */
		zxc_handle_close(h);
		return ZX_ERR_INVALID_ARGS;
	}
	*out = h;
	return ZX_OK;
}

zx_status_t zxc_guest_create(zx_handle_t resource, uint32_t options, zx_handle_t *guest,
			     zx_handle_t *vmar)
{
	Zxvm__V1__GuestCreateRequest req = ZXVM__V1__GUEST_CREATE_REQUEST__INIT;
	req.resource = resource;
	req.options = options;
	CALL("GuestCreate", &req, Zxvm__V1__GuestCreateResponse, resp);
	if (st == ZX_OK && (!guest || !vmar)) {
		zxc_handle_close(resp->guest);
		zxc_handle_close(resp->vmar);
		st = ZX_ERR_INVALID_ARGS;
	} else if (st == ZX_OK) {
		*guest = resp->guest;
		*vmar = resp->vmar;
	}
	DONE(resp);
}

zx_status_t zxc_guest_set_trap(zx_handle_t guest, uint32_t kind, zx_vaddr_t addr, size_t size,
			       zx_handle_t port, uint64_t key)
{
	Zxvm__V1__GuestSetTrapRequest req = ZXVM__V1__GUEST_SET_TRAP_REQUEST__INIT;
	req.guest = guest;
	req.kind = kind;
	req.addr = addr;
	req.size = size;
	req.port = port;
	req.key = key;
	CALL("GuestSetTrap", &req, Zxvm__V1__StatusResponse, resp);
	DONE(resp);
}

zx_status_t zxc_vcpu_create(zx_handle_t guest, uint32_t options, zx_vaddr_t entry,
			    zx_handle_t *out)
{
	Zxvm__V1__VcpuCreateRequest req = ZXVM__V1__VCPU_CREATE_REQUEST__INIT;
	req.guest = guest;
	req.options = options;
	req.entry = entry;
	CALL("VcpuCreate", &req, Zxvm__V1__HandleResponse, resp);
	st = handle_out(st, resp ? resp->handle : 0, out);
	DONE(resp);
}

/* The calling thread's VcpuStream: one request, one response, in order. */
static zx_status_t stream_call(const Zxvm__V1__VcpuStreamRequest *req,
			       Zxvm__V1__VcpuStreamResponse **out)
{
	struct thread_state *ts = my_state();
	*out = NULL;
	if (!channel)
		return ZX_ERR_BAD_HANDLE;
	if (!ts)
		return ZX_ERR_NO_MEMORY;
	grpc_metadata md[2];
	char tid_buf[24];
	grpc_op ops[4];
	size_t n = 0;
	if (!ts->stream) {
		ts->stream = grpc_channel_create_registered_call(
			channel, NULL, GRPC_PROPAGATE_DEFAULTS, ts->cq,
			methods[method_index("VcpuStream")], gpr_inf_future(GPR_CLOCK_REALTIME),
			NULL);
		metadata(md, tid_buf);
		ops[n++] = (grpc_op){.op = GRPC_OP_SEND_INITIAL_METADATA,
				     .data.send_initial_metadata = {.count = 2, .metadata = md}};
		grpc_metadata_array_destroy(&ts->stream_md);
		grpc_metadata_array_init(&ts->stream_md);
		ops[n++] = (grpc_op){.op = GRPC_OP_RECV_INITIAL_METADATA,
				     .data.recv_initial_metadata.recv_initial_metadata = &ts->stream_md};
	}
	grpc_byte_buffer *send = pack(&req->base), *recv = NULL;
	ops[n++] = (grpc_op){.op = GRPC_OP_SEND_MESSAGE, .data.send_message.send_message = send};
	ops[n++] = (grpc_op){.op = GRPC_OP_RECV_MESSAGE, .data.recv_message.recv_message = &recv};
	zx_status_t st = ZX_OK;
	grpc_event ev = {0};
	if (grpc_call_start_batch(ts->stream, ops, n, ts->stream, NULL) != GRPC_CALL_OK)
		st = ZX_ERR_INTERNAL;
	else
		ev = grpc_completion_queue_pluck(ts->cq, ts->stream,
						 gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
	grpc_byte_buffer_destroy(send);
	if (st == ZX_OK && (!ev.success || !recv)) {
		/* The stream broke (daemon gone): report it, and start afresh next time. */
		st = ZX_ERR_PEER_CLOSED;
		grpc_call_cancel(ts->stream, NULL);
		grpc_call_unref(ts->stream);
		ts->stream = NULL;
	}
	if (st == ZX_OK) {
		*out = (Zxvm__V1__VcpuStreamResponse *)unpack(
			&zxvm__v1__vcpu_stream_response__descriptor, recv);
		st = *out ? (*out)->status : ZX_ERR_IO;
	}
	if (recv)
		grpc_byte_buffer_destroy(recv);
	return st;
}

zx_status_t zxc_vcpu_enter(zx_handle_t vcpu, zx_port_packet_t *packet)
{
	/* Without a buffer the daemon makes every check of the call, on this thread's stream as
	 * any enter, and answers INVALID_ARGS without running the guest (proto: no_packet). */
	Zxvm__V1__VcpuEnterRequest e = ZXVM__V1__VCPU_ENTER_REQUEST__INIT;
	e.vcpu = vcpu;
	e.no_packet = !packet;
	Zxvm__V1__VcpuStreamRequest req = ZXVM__V1__VCPU_STREAM_REQUEST__INIT;
	req.call_case = ZXVM__V1__VCPU_STREAM_REQUEST__CALL_ENTER;
	req.enter = &e;
	Zxvm__V1__VcpuStreamResponse *resp;
	zx_status_t st = stream_call(&req, &resp);
	if (st == ZX_OK) {
		zx_port_packet_t p = {0};
		st = resp->packet ? zxp_packet_decode(resp->packet, &p) : ZX_ERR_IO;
		/* Only a daemon that predates no_packet answers OK to it. */
		if (st == ZX_OK && !packet)
			st = ZX_ERR_INVALID_ARGS;
		else if (st == ZX_OK)
			*packet = p;
	}
	DONE(resp);
}

zx_status_t zxc_vcpu_read_state(zx_handle_t vcpu, uint32_t kind, void *buffer,
				size_t buffer_size)
{
	Zxvm__V1__VcpuReadStateRequest r = ZXVM__V1__VCPU_READ_STATE_REQUEST__INIT;
	r.vcpu = vcpu;
	r.kind = kind;
	r.buffer_size = buffer_size;
	Zxvm__V1__VcpuStreamRequest req = ZXVM__V1__VCPU_STREAM_REQUEST__INIT;
	req.call_case = ZXVM__V1__VCPU_STREAM_REQUEST__CALL_READ_STATE;
	req.read_state = &r;
	Zxvm__V1__VcpuStreamResponse *resp;
	zx_status_t st = stream_call(&req, &resp);
	if (st == ZX_OK && !buffer) {
		st = ZX_ERR_INVALID_ARGS;
	} else if (st == ZX_OK) {
		zx_vcpu_state_t s;
		zxp_state_decode(resp->state, &s);
		memcpy(buffer, &s, sizeof(s));
	}
	DONE(resp);
}

zx_status_t zxc_vcpu_write_state(zx_handle_t vcpu, uint32_t kind, const void *buffer,
				 size_t buffer_size)
{
	Zxvm__V1__VcpuWriteStateRequest w = ZXVM__V1__VCPU_WRITE_STATE_REQUEST__INIT;
	Zxvm__V1__VcpuState state;
	Zxvm__V1__VcpuIo io = ZXVM__V1__VCPU_IO__INIT;
	w.vcpu = vcpu;
	w.kind = kind;
	w.buffer_size = buffer_size;
	/* Only what the buffer holds is sent; the daemon checks kind and size as Zircon does. */
	if (buffer && kind == ZX_VCPU_STATE && buffer_size == sizeof(zx_vcpu_state_t)) {
		zx_vcpu_state_t s;
		memcpy(&s, buffer, sizeof(s));
		zxp_state_encode(&s, &state);
		w.value_case = ZXVM__V1__VCPU_WRITE_STATE_REQUEST__VALUE_STATE;
		w.state = &state;
	} else if (buffer && kind == ZX_VCPU_IO && buffer_size == sizeof(zx_vcpu_io_t)) {
		zx_vcpu_io_t v;
		memcpy(&v, buffer, sizeof(v));
		io.access_size = v.access_size;
		io.data = v.u32;
		w.value_case = ZXVM__V1__VCPU_WRITE_STATE_REQUEST__VALUE_IO;
		w.io = &io;
	}
	Zxvm__V1__VcpuStreamRequest req = ZXVM__V1__VCPU_STREAM_REQUEST__INIT;
	req.call_case = ZXVM__V1__VCPU_STREAM_REQUEST__CALL_WRITE_STATE;
	req.write_state = &w;
	Zxvm__V1__VcpuStreamResponse *resp;
	zx_status_t st = stream_call(&req, &resp);
	DONE(resp);
}

zx_status_t zxc_vcpu_kick(zx_handle_t vcpu)
{
	Zxvm__V1__HandleRequest req = ZXVM__V1__HANDLE_REQUEST__INIT;
	req.handle = vcpu;
	CALL("VcpuKick", &req, Zxvm__V1__StatusResponse, resp);
	DONE(resp);
}

zx_status_t zxc_vcpu_interrupt(zx_handle_t vcpu, uint32_t vector)
{
	Zxvm__V1__VcpuInterruptRequest req = ZXVM__V1__VCPU_INTERRUPT_REQUEST__INIT;
	req.vcpu = vcpu;
	req.vector = vector;
	CALL("VcpuInterrupt", &req, Zxvm__V1__StatusResponse, resp);
	DONE(resp);
}

zx_status_t zxc_vmo_create(uint64_t size, uint32_t options, zx_handle_t *out)
{
	Zxvm__V1__VmoCreateRequest req = ZXVM__V1__VMO_CREATE_REQUEST__INIT;
	req.size = size;
	req.options = options;
	CALL("VmoCreate", &req, Zxvm__V1__HandleResponse, resp);
	st = handle_out(st, resp ? resp->handle : 0, out);
	DONE(resp);
}

zx_status_t zxc_vmo_read(zx_handle_t vmo, void *buffer, uint64_t offset, size_t size)
{
	if (size && !buffer)
		return ZX_ERR_INVALID_ARGS;
	size_t done = 0;
	do {
		size_t n = size - done > VMO_CHUNK ? VMO_CHUNK : size - done;
		Zxvm__V1__VmoReadRequest req = ZXVM__V1__VMO_READ_REQUEST__INIT;
		req.vmo = vmo;
		req.offset = offset + done;
		req.size = n;
		if (req.offset < offset) /* wrapped: let the daemon say OUT_OF_RANGE */
			req.offset = UINT64_MAX;
		CALL("VmoRead", &req, Zxvm__V1__VmoReadResponse, resp);
		if (st == ZX_OK && resp->data.len != n)
			st = ZX_ERR_IO;
		/* A zero-length read has no bytes and may have no buffer: nothing to copy. */
		if (st == ZX_OK && n)
			memcpy((uint8_t *)buffer + done, resp->data.data, n);
		if (resp)
			protobuf_c_message_free_unpacked(&resp->base, NULL);
		if (st != ZX_OK)
			return st;
		done += n;
	} while (done < size);
	return ZX_OK;
}

zx_status_t zxc_vmo_write(zx_handle_t vmo, const void *buffer, uint64_t offset, size_t size)
{
	if (size && !buffer)
		return ZX_ERR_INVALID_ARGS;
	size_t done = 0;
	do {
		size_t n = size - done > VMO_CHUNK ? VMO_CHUNK : size - done;
		Zxvm__V1__VmoWriteRequest req = ZXVM__V1__VMO_WRITE_REQUEST__INIT;
		req.vmo = vmo;
		req.offset = offset + done;
		if (req.offset < offset)
			req.offset = UINT64_MAX;
		req.data.data = (uint8_t *)buffer + done;
		req.data.len = n;
		CALL("VmoWrite", &req, Zxvm__V1__StatusResponse, resp);
		if (resp)
			protobuf_c_message_free_unpacked(&resp->base, NULL);
		if (st != ZX_OK)
			return st;
		done += n;
	} while (done < size);
	return ZX_OK;
}

zx_status_t zxc_vmo_replace_as_executable(zx_handle_t vmo, zx_handle_t vmex, zx_handle_t *out)
{
	Zxvm__V1__VmoReplaceAsExecutableRequest req =
		ZXVM__V1__VMO_REPLACE_AS_EXECUTABLE_REQUEST__INIT;
	req.vmo = vmo;
	req.vmex = vmex;
	CALL("VmoReplaceAsExecutable", &req, Zxvm__V1__HandleResponse, resp);
	st = handle_out(st, resp ? resp->handle : 0, out);
	DONE(resp);
}

zx_status_t zxc_vmar_map(zx_handle_t vmar, zx_vm_option_t options, size_t vmar_offset,
			 zx_handle_t vmo, uint64_t vmo_offset, size_t len, zx_vaddr_t *mapped)
{
	Zxvm__V1__VmarMapRequest req = ZXVM__V1__VMAR_MAP_REQUEST__INIT;
	req.vmar = vmar;
	req.options = options;
	req.vmar_offset = vmar_offset;
	req.vmo = vmo;
	req.vmo_offset = vmo_offset;
	req.len = len;
	CALL("VmarMap", &req, Zxvm__V1__VmarMapResponse, resp);
	if (st == ZX_OK && !mapped) {
		zxc_vmar_unmap(vmar, resp->mapped_addr, len);
		st = ZX_ERR_INVALID_ARGS;
	} else if (st == ZX_OK) {
		*mapped = resp->mapped_addr;
	}
	DONE(resp);
}

zx_status_t zxc_vmar_unmap(zx_handle_t vmar, zx_vaddr_t addr, size_t len)
{
	Zxvm__V1__VmarUnmapRequest req = ZXVM__V1__VMAR_UNMAP_REQUEST__INIT;
	req.vmar = vmar;
	req.addr = addr;
	req.len = len;
	CALL("VmarUnmap", &req, Zxvm__V1__StatusResponse, resp);
	DONE(resp);
}

zx_status_t zxc_vmar_protect(zx_handle_t vmar, zx_vm_option_t options, zx_vaddr_t addr,
			     size_t len)
{
	Zxvm__V1__VmarProtectRequest req = ZXVM__V1__VMAR_PROTECT_REQUEST__INIT;
	req.vmar = vmar;
	req.options = options;
	req.addr = addr;
	req.len = len;
	CALL("VmarProtect", &req, Zxvm__V1__StatusResponse, resp);
	DONE(resp);
}

zx_status_t zxc_port_create(uint32_t options, zx_handle_t *out)
{
	Zxvm__V1__PortCreateRequest req = ZXVM__V1__PORT_CREATE_REQUEST__INIT;
	req.options = options;
	CALL("PortCreate", &req, Zxvm__V1__HandleResponse, resp);
	st = handle_out(st, resp ? resp->handle : 0, out);
	DONE(resp);
}

zx_status_t zxc_port_wait(zx_handle_t port, zx_time_t deadline, zx_port_packet_t *packet)
{
	/* Without a buffer the daemon makes the handle checks and answers INVALID_ARGS without
	 * waiting or dequeuing (proto: no_packet). */
	Zxvm__V1__PortWaitRequest req = ZXVM__V1__PORT_WAIT_REQUEST__INIT;
	req.port = port;
	req.no_packet = !packet;
	if (deadline == ZX_TIME_INFINITE) {
		req.timeout = INT64_MAX;
	} else {
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		zx_time_t now = (zx_time_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
		req.timeout = deadline > now ? deadline - now : 0;
	}
	CALL("PortWait", &req, Zxvm__V1__PortWaitResponse, resp);
	if (st == ZX_OK) {
		zx_port_packet_t p;
		st = resp->packet ? zxp_packet_decode(resp->packet, &p) : ZX_ERR_IO;
		/* Only a daemon that predates no_packet answers OK to it. */
		if (st == ZX_OK && !packet)
			st = ZX_ERR_INVALID_ARGS;
		else if (st == ZX_OK)
			*packet = p;
	}
	DONE(resp);
}

zx_status_t zxc_port_queue(zx_handle_t port, const zx_port_packet_t *packet)
{
	Zxvm__V1__PortQueueRequest req = ZXVM__V1__PORT_QUEUE_REQUEST__INIT;
	req.port = port;
	/* Without a packet the request has none: the daemon makes the handle checks and answers
	 * INVALID_ARGS (proto: PortQueueRequest). */
	struct zxp_packet p;
	if (packet) {
		zx_port_packet_t user = *packet;
		user.type = ZX_PKT_TYPE_USER; /* the payload travels as the user bytes it is */
		zxp_packet_encode(&user, &p);
		p.msg.type = packet->type;
		req.packet = &p.msg;
	}
	CALL("PortQueue", &req, Zxvm__V1__StatusResponse, resp);
	DONE(resp);
}

zx_status_t zxc_handle_close(zx_handle_t handle)
{
	Zxvm__V1__HandleRequest req = ZXVM__V1__HANDLE_REQUEST__INIT;
	req.handle = handle;
	CALL("HandleClose", &req, Zxvm__V1__StatusResponse, resp);
	DONE(resp);
}

static zx_status_t handle_rights(const char *name, zx_handle_t handle, zx_rights_t rights,
				 zx_handle_t *out)
{
	Zxvm__V1__HandleRightsRequest req = ZXVM__V1__HANDLE_RIGHTS_REQUEST__INIT;
	req.handle = handle;
	req.rights = rights;
	CALL(name, &req, Zxvm__V1__HandleResponse, resp);
	st = handle_out(st, resp ? resp->handle : 0, out);
	DONE(resp);
}

zx_status_t zxc_handle_duplicate(zx_handle_t handle, zx_rights_t rights, zx_handle_t *out)
{
	return handle_rights("HandleDuplicate", handle, rights, out);
}

zx_status_t zxc_handle_replace(zx_handle_t handle, zx_rights_t rights, zx_handle_t *out)
{
	return handle_rights("HandleReplace", handle, rights, out);
}

zx_status_t zxc_object_get_info(zx_handle_t handle, uint32_t topic, void *buffer,
				size_t buffer_size, size_t *actual, size_t *avail)
{
	Zxvm__V1__ObjectGetInfoRequest req = ZXVM__V1__OBJECT_GET_INFO_REQUEST__INIT;
	req.handle = handle;
	req.topic = topic;
	req.buffer_size = buffer_size;
	CALL("ObjectGetInfo", &req, Zxvm__V1__ObjectGetInfoResponse, resp);
	if (resp && (st == ZX_OK || st == ZX_ERR_BUFFER_TOO_SMALL)) {
		if (actual)
			*actual = resp->actual;
		if (avail)
			*avail = resp->avail;
	}
	if (st == ZX_OK) {
		union {
			zx_info_handle_basic_t basic;
			zx_info_vmar_t vmar;
			zx_info_vcpu_t vcpu;
		} u;
		size_t len = 0;
		memset(&u, 0, sizeof(u));
		switch (resp->info_case) {
		case ZXVM__V1__OBJECT_GET_INFO_RESPONSE__INFO_HANDLE_BASIC:
			u.basic.koid = resp->handle_basic->koid;
			u.basic.rights = resp->handle_basic->rights;
			u.basic.type = resp->handle_basic->type;
			u.basic.related_koid = resp->handle_basic->related_koid;
			len = sizeof(u.basic);
			break;
		case ZXVM__V1__OBJECT_GET_INFO_RESPONSE__INFO_VMAR:
			u.vmar.base = resp->vmar->base_address;
			u.vmar.len = resp->vmar->len;
			len = sizeof(u.vmar);
			break;
		case ZXVM__V1__OBJECT_GET_INFO_RESPONSE__INFO_VCPU:
			u.vcpu.flags = resp->vcpu->flags;
			len = sizeof(u.vcpu);
			break;
		default:
			break;
		}
		if (len && (!buffer || buffer_size < len))
			st = ZX_ERR_INVALID_ARGS;
		else if (len)
			memcpy(buffer, &u, len);
	}
	DONE(resp);
}
