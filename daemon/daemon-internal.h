/* zxvmd internals: configuration, logging, sessions, the per-syscall handlers and the pinned
 * VCPU threads. gRPC core itself is only in server.c; the rest sees decoded messages. */
#pragma once

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <protobuf-c/protobuf-c.h>

#include "common.h"
#include "kvm_backend.h"
#include "zxvm-limits.h"
#include "zxvm-proto.h"

#define ZXD_MAX_LISTEN 8

/* ---- configuration (config.c) ---- */

struct zxd_config {
	const char *listen[ZXD_MAX_LISTEN];
	int nlisten;
	const char *tls_cert, *tls_key, *tls_client_ca;
	bool allow_insecure_loopback;
	bool no_seccomp;        /* --no-seccomp: no system call filter (debugging) */
	const char *group;      /* unix peers in this group are admitted (root always is) */
	int log_level;          /* syslog priority: 0 emerg .. 7 debug */
	uint32_t max_sessions;
	uint32_t max_message_bytes;
	uint32_t max_vcpu_threads_per_session;
	uint32_t max_port_waits_per_session;
	struct zxvm_limits limits; /* per session */
};

void zxd_config_defaults(struct zxd_config *cfg);
/* Parse argv (and a --config file). Returns 0 to go on, 1 after --help/--version (exit 0),
 * -1 on a usage error (message printed; exit 1). */
int zxd_config_parse(struct zxd_config *cfg, int argc, char **argv);

/* ---- logging (log.c): stderr with <N> priority prefixes that journald understands ---- */

#define ZXD_LOG_ERR 3
#define ZXD_LOG_WARNING 4
#define ZXD_LOG_NOTICE 5
#define ZXD_LOG_INFO 6
#define ZXD_LOG_DEBUG 7
void zxd_log_set_level(int level);
void zxd_log(int priority, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- sessions (session.c) ---- */

struct zxd_vthread;

struct zxd_session {
	atomic_uint refs;
	char token[33];
	char name[65];  /* empty for ephemeral sessions */
	bool authorized;
	uid_t uid;      /* the opener (unix peers), for logs and ListSessions */
	kb_table *table;
	zx_handle_t resource;
	atomic_bool closed;
	atomic_bool leased;   /* an ephemeral session's Lease arrived */
	int64_t opened_ns;    /* CLOCK_MONOTONIC */
	atomic_uint port_waits;
	pthread_mutex_t lock;
	struct zxd_vthread *vthreads; /* guarded by lock */
	uint32_t nvthreads;           /* guarded by lock */
	struct zxd_session *next;     /* guarded by the registry lock */
};

struct zxd_peer {
	bool authorized;
	uid_t uid;
	pid_t pid;
	const char *what; /* "unix uid 1000", "tls CN=..." for logs */
};

zx_status_t zxd_sessions_init(const struct zxd_config *cfg);
/* Open (or attach to a named) session. *out carries a reference. */
zx_status_t zxd_session_open(const char *name, const struct zxd_peer *peer,
			     struct zxd_session **out, bool *out_created);
/* Look a token up; NULL if unknown or closed. The result carries a reference. */
struct zxd_session *zxd_session_find(const char *token);
void zxd_session_unref(struct zxd_session *s);
/* Close: kick every VCPU, close every handle, stop its VCPU threads (in the background). */
void zxd_session_close(struct zxd_session *s);
void zxd_sessions_close_all(void);
uint32_t zxd_sessions_count(void);
/* Fill a ListSessions / Stats response (the caller frees with zxd_free_*). */
void zxd_sessions_list(Zxvm__V1__ListSessionsResponse *resp);
void zxd_sessions_stats(Zxvm__V1__StatsResponse *resp);

/* ---- handlers (handlers.c): one per syscall, on decoded messages ---- */

struct zxd_ctx {
	struct zxd_session *session;
	uint64_t tid;
	const struct zxd_peer *peer;
	atomic_bool *cancelled; /* set by the transport when the client cancels */
};

typedef void (*zxd_handler_fn)(struct zxd_ctx *ctx, const ProtobufCMessage *req,
			       ProtobufCMessage *resp);

enum zxd_where {
	ZXD_IN_PLACE,    /* short: run on the gRPC thread */
	ZXD_VCPU_THREAD, /* a vcpu ioctl: the pinned thread of (session, tid) */
	ZXD_BLOCKING,    /* may block (port wait): a worker thread */
	ZXD_SPECIAL,     /* sessions, lease, streams: the transport handles it */
};

struct zxd_method {
	const char *name; /* as in the service descriptor */
	const ProtobufCMessageDescriptor *req, *resp;
	zxd_handler_fn fn;
	enum zxd_where where;
	bool needs_session;
	/* Where a VcpuEnter-like call is cancelled: the VCPU handle in the request (kicked). */
	uint32_t (*vcpu_of)(const ProtobufCMessage *req);
};

extern const struct zxd_method zxd_methods[];
extern const size_t zxd_nmethods;
/* Free what a handler allocated inside resp (not resp itself). */
void zxd_response_free_extra(const struct zxd_method *m, ProtobufCMessage *resp);
/* The VcpuStream request dispatcher (runs on the VCPU thread). */
void zxd_stream_handle(struct zxd_ctx *ctx, const Zxvm__V1__VcpuStreamRequest *req,
		       Zxvm__V1__VcpuStreamResponse *resp, struct zxp_packet *pkt_storage,
		       Zxvm__V1__VcpuState *state_storage);

/* ---- pinned VCPU threads (vthread.c) ---- */

typedef void (*zxd_work_fn)(void *arg);
/* Run fn(arg) on the VCPU thread of (session, tid), creating it if needed. */
void zxd_vthreads_set_limit(uint32_t max_per_session);
zx_status_t zxd_vthread_post(struct zxd_session *s, uint64_t tid, zxd_work_fn fn, void *arg);
/* Stop and join every VCPU thread of the session (after its VCPUs were kicked). */
void zxd_vthreads_stop(struct zxd_session *s);

/* ---- the system call filter (seccomp.c) ---- */

/* Allow from now on only the system calls zxvmd needs, on every thread (seccomp TSYNC); the
 * rest fail with EPERM. 0 or -errno. */
int zxd_seccomp_install(void);

/* ---- the gRPC server (server.c) ---- */

struct uv_loop_s;
int zxd_server_start(const struct zxd_config *cfg, struct uv_loop_s *loop);
/* Stop accepting, cancel what is pending, and return when every call is done. */
void zxd_server_shutdown(void);
/* SIGHUP: read the TLS certificate, key and client CA again now; new connections use a set
 * that reads and looks like PEM, a set that does not is logged and the one in use stays. The
 * files are also re-read at the first handshake after one of them changed. */
void zxd_server_reload_tls(void);
/* Peer identity of a unix connection accepted by us (fd → credentials). */
void zxd_server_note_unix_peer(int fd, const struct ucred *cred);
