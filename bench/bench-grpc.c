/* The gRPC C-core client of bench-grpc.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>

#include "bench-grpc.h"

struct bench_rpc {
	grpc_channel *channel;
	grpc_completion_queue *cq; /* pluck: the one thread that calls waits on its own tags */
};

struct bench_stream {
	struct bench_rpc *rpc;
	grpc_call *call;
	bool started; /* initial metadata sent with the first message */
	grpc_metadata md[2];
	size_t nmd;
	grpc_metadata_array init_md;
};

struct bench_rpc *bench_rpc_open(const char *target)
{
	struct bench_rpc *r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	grpc_init();
	grpc_channel_credentials *creds = grpc_insecure_credentials_create();
	r->channel = grpc_channel_create(target, creds, NULL);
	grpc_channel_credentials_release(creds);
	r->cq = grpc_completion_queue_create_for_pluck(NULL);
	if (!r->channel || !r->cq) {
		bench_rpc_close(r);
		return NULL;
	}
	return r;
}

void bench_rpc_close(struct bench_rpc *r)
{
	if (!r)
		return;
	if (r->cq) {
		grpc_completion_queue_shutdown(r->cq);
		while (grpc_completion_queue_pluck(r->cq, NULL, gpr_inf_future(GPR_CLOCK_REALTIME),
						   NULL)
			       .type != GRPC_QUEUE_SHUTDOWN)
			;
		grpc_completion_queue_destroy(r->cq);
	}
	if (r->channel)
		grpc_channel_destroy(r->channel);
	free(r);
	grpc_shutdown();
}

void *bench_rpc_method(struct bench_rpc *r, const char *path)
{
	return grpc_channel_register_call(r->channel, path, NULL, NULL);
}

static size_t fill_md(grpc_metadata md[2], const struct bench_md *m)
{
	size_t n = 0;
	if (m && m->session)
		md[n++] = (grpc_metadata){.key = grpc_slice_from_static_string("zxvm-session"),
					  .value = grpc_slice_from_static_string(m->session)};
	if (m && m->thread)
		md[n++] = (grpc_metadata){.key = grpc_slice_from_static_string("zxvm-thread"),
					  .value = grpc_slice_from_static_string(m->thread)};
	return n;
}

static grpc_byte_buffer *to_bb(const void *data, size_t len)
{
	grpc_slice s = grpc_slice_from_copied_buffer(data, len);
	grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&s, 1);
	grpc_slice_unref(s);
	return bb;
}

/* Copy a received message out; -1 if it is missing or does not fit. */
static int from_bb(grpc_byte_buffer *bb, void *out, size_t cap, size_t *out_len)
{
	grpc_byte_buffer_reader rd;
	if (!bb || !grpc_byte_buffer_reader_init(&rd, bb))
		return -1;
	grpc_slice s = grpc_byte_buffer_reader_readall(&rd);
	grpc_byte_buffer_reader_destroy(&rd);
	size_t n = GRPC_SLICE_LENGTH(s);
	int rc = n <= cap ? 0 : -1;
	if (rc == 0) {
		memcpy(out, GRPC_SLICE_START_PTR(s), n);
		*out_len = n;
	}
	grpc_slice_unref(s);
	return rc;
}

static void print_status(const char *what, grpc_status_code code, grpc_slice details)
{
	char *d = grpc_slice_to_c_string(details);
	fprintf(stderr, "bench: %s: gRPC status %d (%s)\n", what, (int)code, d);
	gpr_free(d);
}

int bench_rpc_unary(struct bench_rpc *r, void *method, const struct bench_md *m, const void *req,
		    size_t req_len, void *resp, size_t resp_cap, size_t *out_resp_len)
{
	grpc_call *call = grpc_channel_create_registered_call(
		r->channel, NULL, GRPC_PROPAGATE_DEFAULTS, r->cq, method,
		gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
	grpc_metadata md[2];
	size_t nmd = fill_md(md, m);
	grpc_byte_buffer *send = to_bb(req, req_len), *recv = NULL;
	grpc_metadata_array init_md, trailing;
	grpc_metadata_array_init(&init_md);
	grpc_metadata_array_init(&trailing);
	grpc_status_code code = GRPC_STATUS_UNKNOWN;
	grpc_slice details = grpc_empty_slice();
	grpc_op ops[6] = {
		{.op = GRPC_OP_SEND_INITIAL_METADATA,
		 .data.send_initial_metadata = {.count = nmd, .metadata = md}},
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
	int rc = 0;
	if (grpc_call_start_batch(call, ops, 6, call, NULL) != GRPC_CALL_OK) {
		fprintf(stderr, "bench: grpc_call_start_batch failed\n");
		rc = -1;
	} else {
		grpc_completion_queue_pluck(r->cq, call, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
		if (code != GRPC_STATUS_OK) {
			print_status("unary call", code, details);
			rc = -1;
		} else if (from_bb(recv, resp, resp_cap, out_resp_len) < 0) {
			fprintf(stderr, "bench: unary call: no response message, or too large\n");
			rc = -1;
		}
	}
	grpc_byte_buffer_destroy(send);
	if (recv)
		grpc_byte_buffer_destroy(recv);
	grpc_slice_unref(details);
	grpc_metadata_array_destroy(&init_md);
	grpc_metadata_array_destroy(&trailing);
	grpc_call_unref(call);
	return rc;
}

struct bench_stream *bench_stream_open(struct bench_rpc *r, void *method, const struct bench_md *m)
{
	struct bench_stream *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->rpc = r;
	s->nmd = fill_md(s->md, m);
	grpc_metadata_array_init(&s->init_md);
	s->call = grpc_channel_create_registered_call(r->channel, NULL, GRPC_PROPAGATE_DEFAULTS,
						      r->cq, method,
						      gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
	if (!s->call) {
		grpc_metadata_array_destroy(&s->init_md);
		free(s);
		return NULL;
	}
	return s;
}

int bench_stream_call(struct bench_stream *s, const void *req, size_t req_len, void *resp,
		      size_t resp_cap, size_t *out_resp_len)
{
	grpc_op ops[4];
	size_t n = 0;
	if (!s->started) {
		/* As libzxvm does: headers go out with the first message. */
		ops[n++] = (grpc_op){
			.op = GRPC_OP_SEND_INITIAL_METADATA,
			.data.send_initial_metadata = {.count = s->nmd, .metadata = s->md}};
		ops[n++] =
			(grpc_op){.op = GRPC_OP_RECV_INITIAL_METADATA,
				  .data.recv_initial_metadata.recv_initial_metadata = &s->init_md};
		s->started = true;
	}
	grpc_byte_buffer *send = to_bb(req, req_len), *recv = NULL;
	ops[n++] = (grpc_op){.op = GRPC_OP_SEND_MESSAGE, .data.send_message.send_message = send};
	ops[n++] = (grpc_op){.op = GRPC_OP_RECV_MESSAGE, .data.recv_message.recv_message = &recv};
	int rc = 0;
	if (grpc_call_start_batch(s->call, ops, n, s->call, NULL) != GRPC_CALL_OK) {
		fprintf(stderr, "bench: grpc_call_start_batch (stream) failed\n");
		rc = -1;
	} else {
		grpc_event ev = grpc_completion_queue_pluck(
			s->rpc->cq, s->call, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
		if (!ev.success || from_bb(recv, resp, resp_cap, out_resp_len) < 0) {
			fprintf(stderr, "bench: stream call: the stream broke\n");
			rc = -1;
		}
	}
	grpc_byte_buffer_destroy(send);
	if (recv)
		grpc_byte_buffer_destroy(recv);
	return rc;
}

int bench_stream_close(struct bench_stream *s)
{
	if (!s)
		return 0;
	grpc_metadata_array trailing;
	grpc_metadata_array_init(&trailing);
	grpc_status_code code = GRPC_STATUS_UNKNOWN;
	grpc_slice details = grpc_empty_slice();
	grpc_op ops[4];
	size_t n = 0;
	if (!s->started) {
		ops[n++] = (grpc_op){
			.op = GRPC_OP_SEND_INITIAL_METADATA,
			.data.send_initial_metadata = {.count = s->nmd, .metadata = s->md}};
		ops[n++] =
			(grpc_op){.op = GRPC_OP_RECV_INITIAL_METADATA,
				  .data.recv_initial_metadata.recv_initial_metadata = &s->init_md};
	}
	ops[n++] = (grpc_op){.op = GRPC_OP_SEND_CLOSE_FROM_CLIENT};
	ops[n++] = (grpc_op){.op = GRPC_OP_RECV_STATUS_ON_CLIENT,
			     .data.recv_status_on_client = {.trailing_metadata = &trailing,
							    .status = &code,
							    .status_details = &details}};
	int rc = 0;
	if (grpc_call_start_batch(s->call, ops, n, s->call, NULL) != GRPC_CALL_OK) {
		rc = -1;
	} else {
		grpc_completion_queue_pluck(s->rpc->cq, s->call, gpr_inf_future(GPR_CLOCK_REALTIME),
					    NULL);
		if (code != GRPC_STATUS_OK) {
			print_status("stream close", code, details);
			rc = -1;
		}
	}
	grpc_slice_unref(details);
	grpc_metadata_array_destroy(&trailing);
	grpc_metadata_array_destroy(&s->init_md);
	grpc_call_unref(s->call);
	free(s);
	return rc;
}
