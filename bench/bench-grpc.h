/* A minimal gRPC C-core client for the benchmarks (P2, P3): one channel, one pluck queue for
 * the calling thread, unary calls and a bidirectional stream, on raw bytes. It does per call
 * what libzxvm's transport-grpc.c does (registered call handles, one batch per unary call,
 * one send+receive batch per stream message, pluck on the call), so a floor measured with it
 * and the daemon path measured with it or with libzxvm pay the same client-side costs. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The service of bench_echo_server, the floor of P2 and P3. */
#define BENCH_ECHO_UNARY "/zxvm.bench.Echo/Echo"
#define BENCH_ECHO_STREAM "/zxvm.bench.Echo/PingPong"

struct bench_rpc;
struct bench_stream;

/* Metadata sent with each call: zxvm-session and zxvm-thread when non-NULL. The floor sends
 * the same (ignored) pair, so both sides carry the same headers. */
struct bench_md {
	const char *session;
	const char *thread;
};

/* grpc_init and a channel to target ("unix:/path"). NULL on failure. */
struct bench_rpc *bench_rpc_open(const char *target);
/* Cancel nothing, destroy the queue and the channel, grpc_shutdown. */
void bench_rpc_close(struct bench_rpc *r);
/* A registered-call handle for a method path ("/pkg.Service/Method"). */
void *bench_rpc_method(struct bench_rpc *r, const char *path);

/* One unary call. The response is copied into resp (at most resp_cap bytes; longer is an
 * error). Returns 0, or -1 with the reason printed (transport failure, non-OK gRPC status). */
int bench_rpc_unary(struct bench_rpc *r, void *method, const struct bench_md *md, const void *req,
		    size_t req_len, void *resp, size_t resp_cap, size_t *out_resp_len);

/* A bidirectional stream: each bench_stream_call sends one message and receives one. */
struct bench_stream *bench_stream_open(struct bench_rpc *r, void *method,
				       const struct bench_md *md);
int bench_stream_call(struct bench_stream *s, const void *req, size_t req_len, void *resp,
		      size_t resp_cap, size_t *out_resp_len);
/* Half-close, wait for the status (0 when OK), free. */
int bench_stream_close(struct bench_stream *s);
