/* The RPC side of the fuzz targets: records, handle selection, one call through the real
 * decoding and the real handler. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zircon/errors.h>

#include "fuzz.h"

bool fz_next_record(const uint8_t **data, size_t *size, struct fz_record *r)
{
	if (*size < 5)
		return false;
	const uint8_t *p = *data;
	r->op = p[0];
	r->hsel = (uint16_t)(p[1] | p[2] << 8);
	size_t len = (size_t)(p[3] | p[4] << 8);
	if (len > *size - 5)
		len = *size - 5;
	r->msg = p + 5;
	r->len = len;
	*data += 5 + len;
	*size -= 5 + len;
	return true;
}

const struct zxd_method *fz_method(const char *name)
{
	for (size_t i = 0; i < zxd_nmethods; i++)
		if (strcmp(zxd_methods[i].name, name) == 0)
			return &zxd_methods[i];
	fprintf(stderr, "fuzz: no method %s\n", name);
	abort();
}

const struct zxd_method *fz_pick(struct fz_methods *ms, const struct fz_record *r)
{
	if (!ms->m[0])
		for (size_t i = 0; i < ms->n; i++)
			ms->m[i] = fz_method(ms->names[i]);
	return ms->m[(r->op & 0x1f) % ms->n];
}

void fz_call_records(struct fz_methods *ms, const uint8_t *data, size_t size, struct fz_handles *hs,
		     fz_fixup_fn fixup)
{
	struct fz_record r;
	for (int i = 0; i < FZ_MAX_RECORDS && fz_next_record(&data, &size, &r); i++)
		fz_call(fz_pick(ms, &r), &r, hs, fixup);
}

uint64_t fz_record_tid(const struct fz_record *r)
{
	unsigned sel = (r->op >> 5) & 3;
	return sel < 2 ? fz.tid : fz.tid + 0x1000 * (sel - 1);
}

/* The names every handle field of the wire API has (proto/zxvm/v1/hypervisor.proto). */
static bool is_handle_field(const ProtobufCFieldDescriptor *f)
{
	static const char *const names[] = {"handle", "resource", "guest", "vmar",
					    "vmo",    "vmex",     "port",  "vcpu"};
	if (f->type != PROTOBUF_C_TYPE_UINT32 || f->label == PROTOBUF_C_LABEL_REPEATED)
		return false;
	for (size_t i = 0; i < ZXVM_ARRAY_SIZE(names); i++)
		if (strcmp(f->name, names[i]) == 0)
			return true;
	return false;
}

static void select_in(ProtobufCMessage *msg, uint16_t hsel, const struct fz_handles *hs,
		      unsigned *k)
{
	const ProtobufCMessageDescriptor *d = msg->descriptor;
	/* A port packet's fields are data (GuestIoPacket.port is an IO port): never handles. */
	if (d == &zxvm__v1__port_packet__descriptor)
		return;
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		void *at = (char *)msg + f->offset;
		if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
			uint32_t which = *(uint32_t *)((char *)msg + f->quantifier_offset);
			if (which != f->id)
				continue;
		}
		if (f->type == PROTOBUF_C_TYPE_MESSAGE && f->label != PROTOBUF_C_LABEL_REPEATED) {
			ProtobufCMessage *sub = *(ProtobufCMessage **)at;
			if (sub)
				select_in(sub, hsel, hs, k);
			continue;
		}
		if (!is_handle_field(f))
			continue;
		unsigned nib = *k < 4 ? (hsel >> (4 * *k)) & 15 : 15;
		(*k)++;
		if (nib != 15 && hs->n)
			*(uint32_t *)at = hs->h[nib % hs->n];
	}
}

void fz_select_handles(ProtobufCMessage *msg, uint16_t hsel, const struct fz_handles *hs)
{
	unsigned k = 0;
	select_in(msg, hsel, hs, &k);
}

void fz_pack(const ProtobufCMessage *msg)
{
	size_t n = protobuf_c_message_get_packed_size(msg);
	uint8_t *buf = malloc(n ? n : 1);
	FZ_CHECK(buf, "out of memory");
	size_t w = protobuf_c_message_pack(msg, buf);
	FZ_CHECK(w == n, "packed %zu of %zu bytes", w, n);
	/* And back: a response the client could not decode would be a wire bug. */
	ProtobufCMessage *back = protobuf_c_message_unpack(msg->descriptor, NULL, n, buf);
	FZ_CHECK(back, "a %s the client cannot decode", msg->descriptor->name);
	protobuf_c_message_free_unpacked(back, NULL);
	free(buf);
}

static int32_t get_u32(const ProtobufCMessage *msg, const char *name)
{
	const ProtobufCFieldDescriptor *f =
		protobuf_c_message_descriptor_get_field_by_name(msg->descriptor, name);
	return f ? *(const int32_t *)((const char *)msg + f->offset) : 0;
}

static const struct zxd_peer fz_peer = {.authorized = true, .uid = 0, .pid = 0, .what = "fuzz"};

int32_t fz_call(const struct zxd_method *m, const struct fz_record *r, struct fz_handles *hs,
		fz_fixup_fn fixup)
{
	ProtobufCMessage *req = protobuf_c_message_unpack(m->req, NULL, r->len, r->msg);
	if (!req)
		return INT32_MIN;
	fz_select_handles(req, r->hsel, hs);
	if (fixup)
		fixup(req);
	/* As server.c's run_handler: malloc'ed, initialized by the descriptor. */
	ProtobufCMessage *resp = malloc(m->resp->sizeof_message);
	FZ_CHECK(resp, "out of memory");
	protobuf_c_message_init(m->resp, resp);
	struct zxd_ctx ctx = {
		.session = fz.session,
		.tid = fz_record_tid(r),
		.peer = &fz_peer,
		.cancelled = &fz.cancelled,
	};
	bool enter = m->vcpu_of != NULL;
	if (enter)
		fz_watch_begin();
	m->fn(&ctx, req, resp);
	if (enter)
		fz_watch_end();
	int32_t st = get_u32(resp, "status");
	static int trace = -1;
	if (trace < 0)
		trace = getenv("FZ_TRACE") != NULL;
	if (trace)
		fprintf(stderr, "fuzz: %s tid+%#lx: %d\n", m->name, ctx.tid - fz.tid, st);
	if (st == ZX_OK) {
		if (m->resp == &zxvm__v1__handle_response__descriptor) {
			fz_handles_add_new(hs, (zx_handle_t)get_u32(resp, "handle"));
		} else if (m->resp == &zxvm__v1__guest_create_response__descriptor) {
			fz_handles_add_new(hs, (zx_handle_t)get_u32(resp, "guest"));
			fz_handles_add_new(hs, (zx_handle_t)get_u32(resp, "vmar"));
		}
	}
	fz_pack(resp);
	zxd_response_free_extra(m, resp);
	/* free_extra must leave nothing behind that packing would follow. */
	fz_pack(resp);
	free(resp);
	protobuf_c_message_free_unpacked(req, NULL);
	return st;
}
