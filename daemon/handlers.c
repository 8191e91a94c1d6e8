/* The per-syscall handlers of zxvmd: each takes a decoded request, performs the call on the
 * session's handle table through kvm_backend, and fills the response. Zircon's checks and their
 * order live in kb_*; what is here is only the wire: named fields in, status and results out.
 *
 * Storage: the transport runs the response descriptor's init before a handler, and calls
 * zxd_response_free_extra() after the response is sent. Everything a handler attaches (a packet,
 * a state, VMO bytes, an info record, a token) is malloc'ed and freed there; VcpuStream instead
 * uses storage its caller provides, so the hot path does not allocate. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <zircon/errors.h>

#include "daemon-internal.h"

/* The largest VmoRead: a response must fit in one message, and the transport refuses messages
 * larger than its own limit anyway; this keeps a hostile size from allocating first. */
#define VMO_READ_MAX (64ull << 20)

/* PortWait waits in slices of at most this long, so a cancelled call or a closed session ends
 * its wait within one slice (kb_port_wait itself only knows deadlines). */
#define PORT_WAIT_SLICE_NS (100ll * 1000 * 1000)

/* ---- shared helpers: the logic of the unary calls and of VcpuStream, written once ---- */

/* A zxp_packet is allocated as one block whose first member is the message attached to a
 * response, so the message pointer is all free_extra needs. */
static void packet_free(Zxvm__V1__PortPacket *msg)
{
	if (msg)
		free((char *)msg - offsetof(struct zxp_packet, msg));
}

static zx_status_t vcpu_enter(struct zxd_ctx *ctx, const Zxvm__V1__VcpuEnterRequest *r,
			      struct zxp_packet *storage, Zxvm__V1__PortPacket **out_packet)
{
	zx_port_packet_t pkt;
	/* no_packet is Zircon's NULL pointer: kb_vcpu_enter answers ZX_ERR_INVALID_ARGS for it
	 * after the handle and thread checks, without entering. */
	zx_status_t st =
		kb_vcpu_enter(ctx->session->table, ctx->tid, r->vcpu, r->no_packet ? NULL : &pkt);
	if (st == ZX_OK) {
		zxp_packet_encode(&pkt, storage);
		*out_packet = &storage->msg;
	}
	return st;
}

static zx_status_t vcpu_read_state(struct zxd_ctx *ctx, const Zxvm__V1__VcpuReadStateRequest *r,
				   Zxvm__V1__VcpuState *storage)
{
	/* buffer_size goes through as sent: kb_vcpu_read_state refuses anything but
	 * sizeof(zx_vcpu_state_t) (spec §2.7), so it never writes past the local state. */
	zx_vcpu_state_t state;
	zx_status_t st = kb_vcpu_read_state(ctx->session->table, ctx->tid, r->vcpu, r->kind, &state,
					    r->buffer_size);
	if (st == ZX_OK)
		zxp_state_encode(&state, storage);
	return st;
}

#define VALUE_STATE ZXVM__V1__VCPU_WRITE_STATE_REQUEST__VALUE_STATE
#define VALUE_IO ZXVM__V1__VCPU_WRITE_STATE_REQUEST__VALUE_IO

static zx_status_t vcpu_write_state(struct zxd_ctx *ctx, const Zxvm__V1__VcpuWriteStateRequest *r)
{
	zx_vcpu_state_t state;
	zx_vcpu_io_t io;
	const void *buffer = NULL;

	if (r->kind == ZX_VCPU_STATE && r->value_case == VALUE_STATE) {
		zxp_state_decode(r->state, &state);
		buffer = &state;
	} else if (r->kind == ZX_VCPU_IO && r->value_case == VALUE_IO &&
		   r->io->access_size <= UINT8_MAX) {
		memset(&io, 0, sizeof(io));
		io.access_size = (uint8_t)r->io->access_size;
		io.u32 = r->io->data;
		buffer = &io;
	}
	/* A missing or mismatched value is Zircon's NULL buffer: kb_vcpu_write_state answers
	 * ZX_ERR_INVALID_ARGS for it after the handle checks, in Zircon's order (spec §2.8). */
	return kb_vcpu_write_state(ctx->session->table, ctx->tid, r->vcpu, r->kind, buffer,
				   r->buffer_size);
}

static bool wait_abandoned(const struct zxd_ctx *ctx)
{
	return atomic_load(ctx->cancelled) || atomic_load(&ctx->session->closed);
}

/* The wire carries a timeout relative to the daemon's clock (the two hosts' clocks do not
 * agree); Zircon's deadline is absolute: INT64_MAX is ZX_TIME_INFINITE, <= 0 polls. */
static zx_time_t deadline_after(zx_time_t now, int64_t timeout)
{
	if (timeout <= 0)
		return now;
	if (timeout > ZX_TIME_INFINITE - now)
		return ZX_TIME_INFINITE;
	return now + timeout;
}

/* zx_port_wait in slices, ending ZX_ERR_CANCELED when the client cancels the call or its
 * session is closed (closing kicks VCPUs in enter the same way, proto: CloseSession). */
static zx_status_t port_wait(struct zxd_ctx *ctx, zx_handle_t port, int64_t timeout,
			     zx_port_packet_t *out_packet)
{
	zx_time_t now = kb_clock_monotonic();
	zx_time_t deadline = deadline_after(now, timeout);
	for (;;) {
		if (wait_abandoned(ctx))
			return ZX_ERR_CANCELED;
		zx_time_t slice =
			deadline - now > PORT_WAIT_SLICE_NS ? now + PORT_WAIT_SLICE_NS : deadline;
		zx_status_t st = kb_port_wait(ctx->session->table, port, slice, out_packet);
		if (st != ZX_ERR_TIMED_OUT)
			return st;
		now = kb_clock_monotonic();
		if (now >= deadline)
			return ZX_ERR_TIMED_OUT;
	}
}

/* ---- sessions ---- */

static void h_open_session(struct zxd_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage *resp)
{
	const Zxvm__V1__OpenSessionRequest *r = (const Zxvm__V1__OpenSessionRequest *)req;
	Zxvm__V1__OpenSessionResponse *out = (Zxvm__V1__OpenSessionResponse *)resp;
	const char *name = r->name ? r->name : "";
	struct zxd_session *s;
	bool created = false;

	zx_status_t st = zxd_session_open(name, ctx->peer, &s, &created);
	if (st == ZX_OK) {
		char *token = strdup(s->token);
		if (token) {
			out->token = token;
			out->hypervisor_resource = s->authorized ? s->resource : ZX_HANDLE_INVALID;
			out->created = created;
		} else {
			/* Nobody will ever know this token: do not leave a session behind. */
			if (created || !name[0])
				zxd_session_close(s);
			st = ZX_ERR_NO_MEMORY;
		}
		zxd_session_unref(s);
	}
	out->status = st;
}

static void h_close_session(struct zxd_ctx *ctx, const ProtobufCMessage *req,
			    ProtobufCMessage *resp)
{
	zxd_session_close(ctx->session);
	((Zxvm__V1__CloseSessionResponse *)resp)->status = ZX_OK;
}

static void h_list_sessions(struct zxd_ctx *ctx, const ProtobufCMessage *req,
			    ProtobufCMessage *resp)
{
	((Zxvm__V1__ListSessionsResponse *)resp)->status = ZX_OK;
	zxd_sessions_list((Zxvm__V1__ListSessionsResponse *)resp);
}

static void h_stats(struct zxd_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage *resp)
{
	((Zxvm__V1__StatsResponse *)resp)->status = ZX_OK;
	zxd_sessions_stats((Zxvm__V1__StatsResponse *)resp);
}

/* ---- §2: guest and VCPU ---- */

static void h_guest_create(struct zxd_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage *resp)
{
	const Zxvm__V1__GuestCreateRequest *r = (const Zxvm__V1__GuestCreateRequest *)req;
	Zxvm__V1__GuestCreateResponse *out = (Zxvm__V1__GuestCreateResponse *)resp;
	zx_handle_t guest, vmar;

	/* A peer outside the admitted group holds no hypervisor resource, and is told so rather
	 * than BAD_HANDLE for the invalid handle it was given (DESIGN.md "Security"). */
	if (!ctx->session->authorized) {
		out->status = ZX_ERR_ACCESS_DENIED;
		return;
	}
	out->status = kb_guest_create(ctx->session->table, r->resource, r->options, &guest, &vmar);
	if (out->status == ZX_OK) {
		out->guest = guest;
		out->vmar = vmar;
	}
}

static void h_guest_set_trap(struct zxd_ctx *ctx, const ProtobufCMessage *req,
			     ProtobufCMessage *resp)
{
	const Zxvm__V1__GuestSetTrapRequest *r = (const Zxvm__V1__GuestSetTrapRequest *)req;

	((Zxvm__V1__StatusResponse *)resp)->status = kb_guest_set_trap(
		ctx->session->table, r->guest, r->kind, r->addr, r->size, r->port, r->key);
}

static void h_vcpu_create(struct zxd_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage *resp)
{
	const Zxvm__V1__VcpuCreateRequest *r = (const Zxvm__V1__VcpuCreateRequest *)req;
	Zxvm__V1__HandleResponse *out = (Zxvm__V1__HandleResponse *)resp;
	zx_handle_t vcpu;

	out->status = kb_vcpu_create(ctx->session->table, ctx->tid, r->guest, r->options, r->entry,
				     &vcpu);
	if (out->status == ZX_OK)
		out->handle = vcpu;
}

static void h_vcpu_enter(struct zxd_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage *resp)
{
	Zxvm__V1__VcpuEnterResponse *out = (Zxvm__V1__VcpuEnterResponse *)resp;
	/* Allocated before entering: a packet the guest produced must not be lost to ENOMEM. */
	_cleanup_free_ struct zxp_packet *p = malloc(sizeof(*p));

	if (!p) {
		out->status = ZX_ERR_NO_MEMORY;
		return;
	}
	out->status = vcpu_enter(ctx, (const Zxvm__V1__VcpuEnterRequest *)req, p, &out->packet);
	if (out->status == ZX_OK)
		TAKE_PTR(p);
}

static void h_vcpu_kick(struct zxd_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage *resp)
{
	const Zxvm__V1__HandleRequest *r = (const Zxvm__V1__HandleRequest *)req;

	((Zxvm__V1__StatusResponse *)resp)->status = kb_vcpu_kick(ctx->session->table, r->handle);
}

static void h_vcpu_interrupt(struct zxd_ctx *ctx, const ProtobufCMessage *req,
			     ProtobufCMessage *resp)
{
	const Zxvm__V1__VcpuInterruptRequest *r = (const Zxvm__V1__VcpuInterruptRequest *)req;

	((Zxvm__V1__StatusResponse *)resp)->status =
		kb_vcpu_interrupt(ctx->session->table, r->vcpu, r->vector);
}

static void h_vcpu_read_state(struct zxd_ctx *ctx, const ProtobufCMessage *req,
			      ProtobufCMessage *resp)
{
	Zxvm__V1__VcpuReadStateResponse *out = (Zxvm__V1__VcpuReadStateResponse *)resp;
	_cleanup_free_ Zxvm__V1__VcpuState *state = malloc(sizeof(*state));

	if (!state) {
		out->status = ZX_ERR_NO_MEMORY;
		return;
	}
	out->status = vcpu_read_state(ctx, (const Zxvm__V1__VcpuReadStateRequest *)req, state);
	if (out->status == ZX_OK)
		out->state = TAKE_PTR(state);
}

static void h_vcpu_write_state(struct zxd_ctx *ctx, const ProtobufCMessage *req,
			       ProtobufCMessage *resp)
{
	((Zxvm__V1__StatusResponse *)resp)->status =
		vcpu_write_state(ctx, (const Zxvm__V1__VcpuWriteStateRequest *)req);
}

/* ---- §4: VMO, VMAR, port, handle, info ---- */

static void h_vmo_create(struct zxd_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage *resp)
{
	const Zxvm__V1__VmoCreateRequest *r = (const Zxvm__V1__VmoCreateRequest *)req;
	Zxvm__V1__HandleResponse *out = (Zxvm__V1__HandleResponse *)resp;
	zx_handle_t vmo;

	out->status = kb_vmo_create(ctx->session->table, r->size, r->options, &vmo);
	if (out->status == ZX_OK)
		out->handle = vmo;
}

static void h_vmo_read(struct zxd_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage *resp)
{
	const Zxvm__V1__VmoReadRequest *r = (const Zxvm__V1__VmoReadRequest *)req;
	Zxvm__V1__VmoReadResponse *out = (Zxvm__V1__VmoReadResponse *)resp;

	if (r->size > VMO_READ_MAX) {
		/* A zero-length read still does the handle checks, so a bad handle is reported
		 * as Zircon would before the wire's own size limit. */
		zx_status_t st = kb_vmo_read(ctx->session->table, r->vmo, NULL, r->offset, 0);
		out->status = st == ZX_OK ? ZX_ERR_OUT_OF_RANGE : st;
		return;
	}
	_cleanup_free_ uint8_t *data = r->size ? malloc(r->size) : NULL;
	if (r->size && !data) {
		out->status = ZX_ERR_NO_MEMORY;
		return;
	}
	out->status = kb_vmo_read(ctx->session->table, r->vmo, data, r->offset, r->size);
	if (out->status == ZX_OK) {
		out->data.len = r->size;
		out->data.data = TAKE_PTR(data);
	}
}

static void h_vmo_write(struct zxd_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage *resp)
{
	const Zxvm__V1__VmoWriteRequest *r = (const Zxvm__V1__VmoWriteRequest *)req;

	((Zxvm__V1__StatusResponse *)resp)->status =
		kb_vmo_write(ctx->session->table, r->vmo, r->data.data, r->offset, r->data.len);
}

static void h_vmo_replace_as_executable(struct zxd_ctx *ctx, const ProtobufCMessage *req,
					ProtobufCMessage *resp)
{
	const Zxvm__V1__VmoReplaceAsExecutableRequest *r =
		(const Zxvm__V1__VmoReplaceAsExecutableRequest *)req;
	Zxvm__V1__HandleResponse *out = (Zxvm__V1__HandleResponse *)resp;
	zx_handle_t vmo;

	out->status = kb_vmo_replace_as_executable(ctx->session->table, r->vmo, r->vmex, &vmo);
	if (out->status == ZX_OK)
		out->handle = vmo;
}

static void h_vmar_map(struct zxd_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage *resp)
{
	const Zxvm__V1__VmarMapRequest *r = (const Zxvm__V1__VmarMapRequest *)req;
	Zxvm__V1__VmarMapResponse *out = (Zxvm__V1__VmarMapResponse *)resp;
	zx_vaddr_t addr;

	out->status = kb_vmar_map(ctx->session->table, r->vmar, r->options, r->vmar_offset, r->vmo,
				  r->vmo_offset, r->len, &addr);
	if (out->status == ZX_OK)
		out->mapped_addr = addr;
}

static void h_vmar_unmap(struct zxd_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage *resp)
{
	const Zxvm__V1__VmarUnmapRequest *r = (const Zxvm__V1__VmarUnmapRequest *)req;

	((Zxvm__V1__StatusResponse *)resp)->status =
		kb_vmar_unmap(ctx->session->table, r->vmar, r->addr, r->len);
}

static void h_vmar_protect(struct zxd_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage *resp)
{
	const Zxvm__V1__VmarProtectRequest *r = (const Zxvm__V1__VmarProtectRequest *)req;

	((Zxvm__V1__StatusResponse *)resp)->status =
		kb_vmar_protect(ctx->session->table, r->vmar, r->options, r->addr, r->len);
}

static void h_port_create(struct zxd_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage *resp)
{
	const Zxvm__V1__PortCreateRequest *r = (const Zxvm__V1__PortCreateRequest *)req;
	Zxvm__V1__HandleResponse *out = (Zxvm__V1__HandleResponse *)resp;
	zx_handle_t port;

	out->status = kb_port_create(ctx->session->table, r->options, &port);
	if (out->status == ZX_OK)
		out->handle = port;
}

static void h_port_wait(struct zxd_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage *resp)
{
	const Zxvm__V1__PortWaitRequest *r = (const Zxvm__V1__PortWaitRequest *)req;
	Zxvm__V1__PortWaitResponse *out = (Zxvm__V1__PortWaitResponse *)resp;
	/* Allocated before waiting: a dequeued packet must not be lost to ENOMEM. */
	_cleanup_free_ struct zxp_packet *p = malloc(sizeof(*p));
	zx_port_packet_t pkt;

	if (!p) {
		out->status = ZX_ERR_NO_MEMORY;
		return;
	}
	/* no_packet is Zircon's NULL pointer: kb_port_wait answers ZX_ERR_INVALID_ARGS for it
	 * after the handle checks, without waiting or dequeuing. */
	out->status = port_wait(ctx, r->port, r->timeout, r->no_packet ? NULL : &pkt);
	if (out->status == ZX_OK) {
		zxp_packet_encode(&pkt, p);
		out->packet = &TAKE_PTR(p)->msg;
	}
}

static void h_port_queue(struct zxd_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage *resp)
{
	const Zxvm__V1__PortQueueRequest *r = (const Zxvm__V1__PortQueueRequest *)req;
	zx_port_packet_t pkt;
	const zx_port_packet_t *packet = NULL;

	/* A missing or malformed packet is Zircon's invalid pointer: kb_port_queue answers
	 * ZX_ERR_INVALID_ARGS after the handle checks (spec §4, zx_port_queue). */
	if (r->packet && zxp_packet_decode(r->packet, &pkt) == ZX_OK)
		packet = &pkt;
	((Zxvm__V1__StatusResponse *)resp)->status =
		kb_port_queue(ctx->session->table, r->port, packet);
}

static void h_handle_close(struct zxd_ctx *ctx, const ProtobufCMessage *req, ProtobufCMessage *resp)
{
	const Zxvm__V1__HandleRequest *r = (const Zxvm__V1__HandleRequest *)req;

	((Zxvm__V1__StatusResponse *)resp)->status =
		kb_handle_close(ctx->session->table, r->handle);
}

static void h_handle_duplicate(struct zxd_ctx *ctx, const ProtobufCMessage *req,
			       ProtobufCMessage *resp)
{
	const Zxvm__V1__HandleRightsRequest *r = (const Zxvm__V1__HandleRightsRequest *)req;
	Zxvm__V1__HandleResponse *out = (Zxvm__V1__HandleResponse *)resp;
	zx_handle_t h;

	out->status = kb_handle_duplicate(ctx->session->table, r->handle, r->rights, &h);
	if (out->status == ZX_OK)
		out->handle = h;
}

static void h_handle_replace(struct zxd_ctx *ctx, const ProtobufCMessage *req,
			     ProtobufCMessage *resp)
{
	const Zxvm__V1__HandleRightsRequest *r = (const Zxvm__V1__HandleRightsRequest *)req;
	Zxvm__V1__HandleResponse *out = (Zxvm__V1__HandleResponse *)resp;
	zx_handle_t h;

	out->status = kb_handle_replace(ctx->session->table, r->handle, r->rights, &h);
	if (out->status == ZX_OK)
		out->handle = h;
}

/* Room for one record of every topic zxvm answers (spec §1.9, §4 zx_object_get_info). */
union info_record {
	zx_info_handle_basic_t basic;
	zx_info_vmar_t vmar;
	zx_info_vcpu_t vcpu;
};

/* Attach the record kb_object_get_info wrote for topic as the matching `info` value. */
static zx_status_t info_attach(uint32_t topic, const union info_record *rec,
			       Zxvm__V1__ObjectGetInfoResponse *out)
{
	switch (topic) {
	case ZX_INFO_HANDLE_BASIC:
		out->handle_basic = malloc(sizeof(*out->handle_basic));
		if (!out->handle_basic)
			return ZX_ERR_NO_MEMORY;
		zxvm__v1__info_handle_basic__init(out->handle_basic);
		out->handle_basic->koid = rec->basic.koid;
		out->handle_basic->rights = rec->basic.rights;
		out->handle_basic->type = rec->basic.type;
		out->handle_basic->related_koid = rec->basic.related_koid;
		out->info_case = ZXVM__V1__OBJECT_GET_INFO_RESPONSE__INFO_HANDLE_BASIC;
		return ZX_OK;
	case ZX_INFO_VMAR:
		out->vmar = malloc(sizeof(*out->vmar));
		if (!out->vmar)
			return ZX_ERR_NO_MEMORY;
		zxvm__v1__info_vmar__init(out->vmar);
		out->vmar->base_address = rec->vmar.base;
		out->vmar->len = rec->vmar.len;
		out->info_case = ZXVM__V1__OBJECT_GET_INFO_RESPONSE__INFO_VMAR;
		return ZX_OK;
	case ZX_INFO_VCPU:
		out->vcpu = malloc(sizeof(*out->vcpu));
		if (!out->vcpu)
			return ZX_ERR_NO_MEMORY;
		zxvm__v1__info_vcpu__init(out->vcpu);
		out->vcpu->flags = rec->vcpu.flags;
		out->info_case = ZXVM__V1__OBJECT_GET_INFO_RESPONSE__INFO_VCPU;
		return ZX_OK;
	default:
		/* ZX_INFO_HANDLE_VALID has no record. */
		return ZX_OK;
	}
}

static void h_object_get_info(struct zxd_ctx *ctx, const ProtobufCMessage *req,
			      ProtobufCMessage *resp)
{
	const Zxvm__V1__ObjectGetInfoRequest *r = (const Zxvm__V1__ObjectGetInfoRequest *)req;
	Zxvm__V1__ObjectGetInfoResponse *out = (Zxvm__V1__ObjectGetInfoResponse *)resp;
	union info_record rec;
	size_t size = r->buffer_size < sizeof(rec) ? r->buffer_size : sizeof(rec);
	size_t actual = 0, avail = 0;

	/* Capping loses nothing: every topic answers one record of at most sizeof(rec). */
	zx_status_t st = kb_object_get_info(ctx->session->table, r->handle, r->topic,
					    size ? &rec : NULL, size, &actual, &avail);
	if (st == ZX_OK && actual > 0)
		st = info_attach(r->topic, &rec, out);
	out->actual = actual;
	out->avail = avail;
	out->status = st;
}

/* ---- the method table, in the order of the service descriptor ---- */

static uint32_t vcpu_enter_vcpu_of(const ProtobufCMessage *req)
{
	return ((const Zxvm__V1__VcpuEnterRequest *)req)->vcpu;
}

#define METHOD(n, rq, rs, f, w)                                                                    \
	{                                                                                          \
		.name = n, .req = &zxvm__v1__##rq##__descriptor,                                   \
		.resp = &zxvm__v1__##rs##__descriptor, .fn = f, .where = w, .needs_session = true, \
		.vcpu_of = NULL,                                                                   \
	}

/* protoc-c keeps the .proto order; the server indexes this table and the service descriptor
 * by the same position and checks the names agree. */
const struct zxd_method zxd_methods[] = {
	{
		.name = "OpenSession",
		.req = &zxvm__v1__open_session_request__descriptor,
		.resp = &zxvm__v1__open_session_response__descriptor,
		.fn = h_open_session,
		.where = ZXD_IN_PLACE,
		.needs_session = false,
		.vcpu_of = NULL,
	},
	METHOD("CloseSession", close_session_request, close_session_response, h_close_session,
	       ZXD_IN_PLACE),
	METHOD("Lease", lease_request, lease_event, NULL, ZXD_SPECIAL),
	METHOD("ListSessions", list_sessions_request, list_sessions_response, h_list_sessions,
	       ZXD_IN_PLACE),
	METHOD("GuestCreate", guest_create_request, guest_create_response, h_guest_create,
	       ZXD_IN_PLACE),
	METHOD("GuestSetTrap", guest_set_trap_request, status_response, h_guest_set_trap,
	       ZXD_IN_PLACE),
	METHOD("VcpuCreate", vcpu_create_request, handle_response, h_vcpu_create, ZXD_VCPU_THREAD),
	{
		.name = "VcpuEnter",
		.req = &zxvm__v1__vcpu_enter_request__descriptor,
		.resp = &zxvm__v1__vcpu_enter_response__descriptor,
		.fn = h_vcpu_enter,
		.where = ZXD_VCPU_THREAD,
		.needs_session = true,
		.vcpu_of = vcpu_enter_vcpu_of,
	},
	METHOD("VcpuKick", handle_request, status_response, h_vcpu_kick, ZXD_IN_PLACE),
	METHOD("VcpuInterrupt", vcpu_interrupt_request, status_response, h_vcpu_interrupt,
	       ZXD_IN_PLACE),
	METHOD("VcpuReadState", vcpu_read_state_request, vcpu_read_state_response,
	       h_vcpu_read_state, ZXD_VCPU_THREAD),
	METHOD("VcpuWriteState", vcpu_write_state_request, status_response, h_vcpu_write_state,
	       ZXD_VCPU_THREAD),
	METHOD("VcpuStream", vcpu_stream_request, vcpu_stream_response, NULL, ZXD_SPECIAL),
	METHOD("VmoCreate", vmo_create_request, handle_response, h_vmo_create, ZXD_IN_PLACE),
	METHOD("VmoRead", vmo_read_request, vmo_read_response, h_vmo_read, ZXD_IN_PLACE),
	METHOD("VmoWrite", vmo_write_request, status_response, h_vmo_write, ZXD_IN_PLACE),
	METHOD("VmoReplaceAsExecutable", vmo_replace_as_executable_request, handle_response,
	       h_vmo_replace_as_executable, ZXD_IN_PLACE),
	METHOD("VmarMap", vmar_map_request, vmar_map_response, h_vmar_map, ZXD_IN_PLACE),
	METHOD("VmarUnmap", vmar_unmap_request, status_response, h_vmar_unmap, ZXD_IN_PLACE),
	METHOD("VmarProtect", vmar_protect_request, status_response, h_vmar_protect, ZXD_IN_PLACE),
	METHOD("PortCreate", port_create_request, handle_response, h_port_create, ZXD_IN_PLACE),
	METHOD("PortWait", port_wait_request, port_wait_response, h_port_wait, ZXD_BLOCKING),
	METHOD("PortQueue", port_queue_request, status_response, h_port_queue, ZXD_IN_PLACE),
	METHOD("HandleClose", handle_request, status_response, h_handle_close, ZXD_IN_PLACE),
	METHOD("HandleDuplicate", handle_rights_request, handle_response, h_handle_duplicate,
	       ZXD_IN_PLACE),
	METHOD("HandleReplace", handle_rights_request, handle_response, h_handle_replace,
	       ZXD_IN_PLACE),
	METHOD("ObjectGetInfo", object_get_info_request, object_get_info_response,
	       h_object_get_info, ZXD_IN_PLACE),
	METHOD("Stats", stats_request, stats_response, h_stats, ZXD_IN_PLACE),
};

const size_t zxd_nmethods = ZXVM_ARRAY_SIZE(zxd_methods);

void zxd_response_free_extra(const struct zxd_method *m, ProtobufCMessage *resp)
{
	const ProtobufCMessageDescriptor *d = resp->descriptor;

	if (d == &zxvm__v1__vcpu_enter_response__descriptor) {
		Zxvm__V1__VcpuEnterResponse *r = (Zxvm__V1__VcpuEnterResponse *)resp;
		packet_free(TAKE_PTR(r->packet));
	} else if (d == &zxvm__v1__port_wait_response__descriptor) {
		Zxvm__V1__PortWaitResponse *r = (Zxvm__V1__PortWaitResponse *)resp;
		packet_free(TAKE_PTR(r->packet));
	} else if (d == &zxvm__v1__vcpu_read_state_response__descriptor) {
		free(TAKE_PTR(((Zxvm__V1__VcpuReadStateResponse *)resp)->state));
	} else if (d == &zxvm__v1__vmo_read_response__descriptor) {
		Zxvm__V1__VmoReadResponse *r = (Zxvm__V1__VmoReadResponse *)resp;
		free(TAKE_PTR(r->data.data));
		r->data.len = 0;
	} else if (d == &zxvm__v1__object_get_info_response__descriptor) {
		/* Every `info` value is a pointer in one union: whichever is set is freed. */
		Zxvm__V1__ObjectGetInfoResponse *r = (Zxvm__V1__ObjectGetInfoResponse *)resp;
		if (r->info_case != ZXVM__V1__OBJECT_GET_INFO_RESPONSE__INFO__NOT_SET)
			free(TAKE_PTR(r->handle_basic));
		r->info_case = ZXVM__V1__OBJECT_GET_INFO_RESPONSE__INFO__NOT_SET;
	} else if (d == &zxvm__v1__open_session_response__descriptor) {
		Zxvm__V1__OpenSessionResponse *r = (Zxvm__V1__OpenSessionResponse *)resp;
		if (r->token && r->token != protobuf_c_empty_string)
			free(r->token);
		r->token = (char *)protobuf_c_empty_string;
	} else if (d == &zxvm__v1__list_sessions_response__descriptor) {
		/* zxd_sessions_list() allocates the entries as one block that sessions[0] points
		 * to, each name on its own, and the array. */
		Zxvm__V1__ListSessionsResponse *r = (Zxvm__V1__ListSessionsResponse *)resp;
		for (size_t i = 0; i < r->n_sessions; i++) {
			if (r->sessions[i]->name != protobuf_c_empty_string)
				free(r->sessions[i]->name);
		}
		if (r->n_sessions)
			free(r->sessions[0]);
		free(TAKE_PTR(r->sessions));
		r->n_sessions = 0;
	} else if (d == &zxvm__v1__stats_response__descriptor) {
		/* Per-VCPU entries, when zxd_sessions_stats() fills them, are each malloc'ed with
		 * their strings and exits entries, as protobuf-c's unpack lays them out. */
		Zxvm__V1__StatsResponse *r = (Zxvm__V1__StatsResponse *)resp;
		for (size_t i = 0; i < r->n_vcpu; i++)
			protobuf_c_message_free_unpacked(&r->vcpu[i]->base, NULL);
		free(TAKE_PTR(r->vcpu));
		r->n_vcpu = 0;
	}
}

/* ---- VcpuStream: one request in, one response out, on the VCPU thread ---- */

void zxd_stream_handle(struct zxd_ctx *ctx, const Zxvm__V1__VcpuStreamRequest *req,
		       Zxvm__V1__VcpuStreamResponse *resp, struct zxp_packet *pkt_storage,
		       Zxvm__V1__VcpuState *state_storage)
{
	zx_status_t st;

	zxvm__v1__vcpu_stream_response__init(resp);
	switch (req->call_case) {
	case ZXVM__V1__VCPU_STREAM_REQUEST__CALL_ENTER:
		st = vcpu_enter(ctx, req->enter, pkt_storage, &resp->packet);
		break;
	case ZXVM__V1__VCPU_STREAM_REQUEST__CALL_READ_STATE:
		st = vcpu_read_state(ctx, req->read_state, state_storage);
		if (st == ZX_OK)
			resp->state = state_storage;
		break;
	case ZXVM__V1__VCPU_STREAM_REQUEST__CALL_WRITE_STATE:
		st = vcpu_write_state(ctx, req->write_state);
		break;
	default:
		/* No call at all: nothing to perform, answered in order like any other. */
		st = ZX_ERR_INVALID_ARGS;
		break;
	}
	resp->status = st;
}
