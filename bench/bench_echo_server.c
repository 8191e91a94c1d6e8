/* bench_echo_server: the floor server of P2 and P3. A bare gRPC C-core server, nothing else:
 * one thread blocks in grpc_completion_queue_next and answers every call in place (the
 * "pure CQ" server of notes/grpc-core.md), which is the least any gRPC server can do per call.
 *
 *   /zxvm.bench.Echo/Echo      unary: the response is the request's bytes, in one batch
 *                              (initial metadata, message, status, close).
 *   /zxvm.bench.Echo/PingPong  bidirectional: each message is answered with its bytes, the
 *                              answer and the next receive in one batch, as zxvmd's
 *                              VcpuStream answers (daemon/server.c).
 *
 * Usage: bench_echo_server --listen unix:/PATH. Prints "bench_echo_server ready" on stderr
 * once it listens; SIGTERM or SIGINT shuts it down cleanly (exit status 0). */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/time.h>

#include "bench-grpc.h"

#define SLOTS 4 /* outstanding request_call slots per method */

enum kind { UNARY, STREAM };

struct tag {
	void (*fn)(void *owner, bool ok);
	void *owner;
};

/* One call; every completion of it runs on the CQ thread, so it has one owner throughout. */
struct call {
	struct tag t_new, t_io, t_done;
	enum kind kind;
	grpc_call *call;
	gpr_timespec deadline;
	grpc_metadata_array md;
	grpc_byte_buffer *req_bb;  /* unary: the request; stream: the message just received */
	grpc_byte_buffer *send_bb; /* stream: the answer in flight */
	bool started;		   /* stream: initial metadata sent */
	int cancelled;
};

static grpc_server *server;
static grpc_completion_queue *cq;
static void *methods[2];
static int live;	 /* calls held, CQ thread only */
static bool server_down; /* the shutdown tag arrived, CQ thread only */
static atomic_bool stopping;
static struct tag shutdown_tag;

static void request_slot(enum kind kind);

static void maybe_finish(void)
{
	/* The queue may shut down only when no call is held (notes/grpc-core.md §4). */
	static bool done;
	if (server_down && live == 0 && !done) {
		done = true;
		grpc_completion_queue_shutdown(cq);
	}
}

static void call_free(struct call *c)
{
	if (c->req_bb)
		grpc_byte_buffer_destroy(c->req_bb);
	if (c->send_bb)
		grpc_byte_buffer_destroy(c->send_bb);
	grpc_metadata_array_destroy(&c->md);
	if (c->call)
		grpc_call_unref(c->call);
	free(c);
	live--;
	maybe_finish();
}

static void on_done(void *owner, bool ok)
{
	call_free(owner);
}

static void stream_finish(struct call *c)
{
	grpc_op ops[3];
	size_t n = 0;
	if (!c->started)
		ops[n++] = (grpc_op){.op = GRPC_OP_SEND_INITIAL_METADATA};
	ops[n++] = (grpc_op){.op = GRPC_OP_SEND_STATUS_FROM_SERVER,
			     .data.send_status_from_server = {.status = GRPC_STATUS_OK}};
	ops[n++] = (grpc_op){.op = GRPC_OP_RECV_CLOSE_ON_SERVER,
			     .data.recv_close_on_server.cancelled = &c->cancelled};
	if (grpc_call_start_batch(c->call, ops, n, &c->t_done, NULL) != GRPC_CALL_OK)
		call_free(c);
}

/* A stream message arrived (or the stream ended): answer it and ask for the next one. */
static void on_stream_io(void *owner, bool ok)
{
	struct call *c = owner;
	if (c->send_bb) {
		grpc_byte_buffer_destroy(c->send_bb);
		c->send_bb = NULL;
	}
	if (!ok || !c->req_bb) {
		stream_finish(c);
		return;
	}
	c->send_bb = c->req_bb;
	c->req_bb = NULL;
	grpc_op ops[3];
	size_t n = 0;
	if (!c->started) {
		ops[n++] = (grpc_op){.op = GRPC_OP_SEND_INITIAL_METADATA};
		c->started = true;
	}
	ops[n++] =
		(grpc_op){.op = GRPC_OP_SEND_MESSAGE, .data.send_message.send_message = c->send_bb};
	ops[n++] =
		(grpc_op){.op = GRPC_OP_RECV_MESSAGE, .data.recv_message.recv_message = &c->req_bb};
	if (grpc_call_start_batch(c->call, ops, n, &c->t_io, NULL) != GRPC_CALL_OK)
		stream_finish(c);
}

static void on_new(void *owner, bool ok)
{
	struct call *c = owner;
	if (!ok) {
		/* Shutting down: the slot comes back unused. */
		c->call = NULL;
		call_free(c);
		return;
	}
	if (!atomic_load(&stopping))
		request_slot(c->kind);
	if (c->kind == UNARY) {
		grpc_op ops[4] = {
			{.op = GRPC_OP_SEND_INITIAL_METADATA},
			{.op = GRPC_OP_SEND_MESSAGE, .data.send_message.send_message = c->req_bb},
			{.op = GRPC_OP_SEND_STATUS_FROM_SERVER,
			 .data.send_status_from_server = {.status = GRPC_STATUS_OK}},
			{.op = GRPC_OP_RECV_CLOSE_ON_SERVER,
			 .data.recv_close_on_server.cancelled = &c->cancelled},
		};
		if (!c->req_bb ||
		    grpc_call_start_batch(c->call, ops, 4, &c->t_done, NULL) != GRPC_CALL_OK)
			call_free(c);
		return;
	}
	grpc_op op = {.op = GRPC_OP_RECV_MESSAGE, .data.recv_message.recv_message = &c->req_bb};
	if (grpc_call_start_batch(c->call, &op, 1, &c->t_io, NULL) != GRPC_CALL_OK)
		call_free(c);
}

static void request_slot(enum kind kind)
{
	struct call *c = calloc(1, sizeof(*c));
	if (!c)
		return;
	live++;
	c->kind = kind;
	c->t_new = (struct tag){on_new, c};
	c->t_io = (struct tag){on_stream_io, c};
	c->t_done = (struct tag){on_done, c};
	grpc_metadata_array_init(&c->md);
	if (grpc_server_request_registered_call(server, methods[kind], &c->call, &c->deadline,
						&c->md, kind == UNARY ? &c->req_bb : NULL, cq, cq,
						&c->t_new) != GRPC_CALL_OK) {
		c->call = NULL;
		call_free(c);
	}
}

static void on_shutdown(void *owner, bool ok)
{
	server_down = true;
	maybe_finish();
}

/* SIGTERM/SIGINT arrive here (blocked in every other thread). */
static void *signal_main(void *arg)
{
	sigset_t *set = arg;
	int sig;
	sigwait(set, &sig);
	atomic_store(&stopping, true);
	shutdown_tag = (struct tag){on_shutdown, NULL};
	grpc_server_shutdown_and_notify(server, cq, &shutdown_tag);
	grpc_server_cancel_all_calls(server);
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc != 3 || strcmp(argv[1], "--listen") != 0) {
		fprintf(stderr, "usage: bench_echo_server --listen unix:/PATH\n");
		return 1;
	}
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL); /* before gRPC starts its threads */

	grpc_init();
	server = grpc_server_create(NULL, NULL);
	cq = grpc_completion_queue_create_for_next(NULL);
	grpc_server_register_completion_queue(server, cq, NULL);
	methods[UNARY] = grpc_server_register_method(server, BENCH_ECHO_UNARY, NULL,
						     GRPC_SRM_PAYLOAD_READ_INITIAL_BYTE_BUFFER, 0);
	methods[STREAM] = grpc_server_register_method(server, BENCH_ECHO_STREAM, NULL,
						      GRPC_SRM_PAYLOAD_NONE, 0);
	grpc_server_credentials *creds = grpc_insecure_server_credentials_create();
	int port = grpc_server_add_http2_port(server, argv[2], creds);
	grpc_server_credentials_release(creds);
	if (port == 0) {
		fprintf(stderr, "bench_echo_server: cannot listen on %s\n", argv[2]);
		return 1;
	}
	grpc_server_start(server);
	for (int k = 0; k < SLOTS; k++) {
		request_slot(UNARY);
		request_slot(STREAM);
	}
	pthread_t sig_thread;
	if (pthread_create(&sig_thread, NULL, signal_main, &set) != 0)
		return 1;
	fprintf(stderr, "bench_echo_server ready\n");

	for (;;) {
		grpc_event ev =
			grpc_completion_queue_next(cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
		if (ev.type == GRPC_QUEUE_SHUTDOWN)
			break;
		if (ev.type == GRPC_OP_COMPLETE) {
			struct tag *t = ev.tag;
			t->fn(t->owner, ev.success);
		}
	}
	pthread_join(sig_thread, NULL);
	grpc_server_destroy(server);
	grpc_completion_queue_destroy(cq);
	grpc_shutdown();
	return 0;
}
