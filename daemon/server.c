/* The gRPC side of zxvmd: the only daemon file that includes gRPC core.
 *
 * One thread blocks in grpc_completion_queue_next and runs short calls in place. Calls that
 * touch a VCPU are posted to its pinned thread, which answers the call itself (no hop back:
 * notes/grpc-core.md §4); blocking calls (port waits) get a worker thread. Each call is a small
 * state machine with one owner at a time; its tags are embedded in it (fling style).
 *
 * Listeners: unix sockets are accepted by us on the libuv loop so that SO_PEERCRED tells who
 * the peer is, then handed to gRPC (grpc_server_add_channel_from_fd; gRPC 1.51 cannot adopt a
 * listening fd). TCP listeners are gRPC's own, with mutual TLS (certificates re-read while
 * serving, see "TLS certificates" below); plain TCP only on loopback and only when asked for. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <pwd.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_posix.h>
#include <grpc/grpc_security.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>
#include <systemd/sd-daemon.h>
#include <uv.h>

#include <zircon/errors.h>

#include "daemon-internal.h"

#define SLOTS_PER_METHOD 4

/* ThreadSanitizer cannot see the hand-off through gRPC's completion queue (Debian's libgrpc
 * is not instrumented): tell it that what a thread wrote before it started a batch or asked
 * for a call happens before the completion-queue thread handles that tag, as gRPC promises. */
#if defined(__SANITIZE_THREAD__)
#define ZXD_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define ZXD_TSAN 1
#endif
#endif
#ifdef ZXD_TSAN
void __tsan_acquire(void *addr);
void __tsan_release(void *addr);
#define tsan_release(p) __tsan_release(p)
#define tsan_acquire(p) __tsan_acquire(p)
#else
#define tsan_release(p) ((void)(p))
#define tsan_acquire(p) ((void)(p))
#endif

struct tag {
	void (*fn)(void *owner, bool ok);
	void *owner;
};

struct call {
	struct tag t_new, t_close, t_send, t_recv;
	int method; /* index into zxd_methods, HEALTH, or GENERIC */
	grpc_call *call;
	gpr_timespec deadline;
	grpc_metadata_array md;
	grpc_call_details details; /* GENERIC only */
	grpc_byte_buffer *req_bb, *send_bb, *recv_bb;
	int cancelled;
	atomic_bool cancel_flag;
	atomic_int pending; /* outstanding batches */
	struct zxd_session *session;
	uint64_t tid;
	struct zxd_peer peer;
	char peer_what[96];
	ProtobufCMessage *req, *resp;
	atomic_uint kick_vcpu; /* the VCPU an enter in progress runs, to kick on cancel */
	bool stream_started;   /* VcpuStream: initial metadata sent */
	Zxvm__V1__VcpuStreamRequest *sreq;
};

enum { HEALTH = -2, GENERIC = -3 };

static grpc_server *server;
static grpc_completion_queue *cq;
static pthread_t cq_thread;
static void *registered[64];
static void *health_method;
static atomic_bool shutting_down;
static atomic_int live_calls;
static pthread_mutex_t drain_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t drain_cond = PTHREAD_COND_INITIALIZER;
static bool shutdown_done; /* guarded by drain_lock */
static struct tag shutdown_tag;
static const struct zxd_config *cfg;

/* Unix peers we accepted: fd → credentials and the admission decision. */
struct unix_peer {
	bool valid;
	bool authorized;
	struct ucred cred;
};
static pthread_mutex_t peers_lock = PTHREAD_MUTEX_INITIALIZER;
static struct unix_peer *peers; /* indexed by fd, guarded by peers_lock */
static size_t npeers;
static gid_t admit_gid;
static bool have_admit_gid;

/* ---- calls ---- */

static void start_batch(struct call *c, const grpc_op *ops, size_t n, struct tag *t)
{
	atomic_fetch_add(&c->pending, 1);
	tsan_release(t);
	grpc_call_error err = grpc_call_start_batch(c->call, ops, n, t, NULL);
	if (err != GRPC_CALL_OK) {
		zxd_log(ZXD_LOG_ERR, "grpc_call_start_batch: error %d", err);
		atomic_fetch_sub(&c->pending, 1);
	}
}

static void call_free(struct call *c)
{
	if (c->req)
		protobuf_c_message_free_unpacked(c->req, NULL);
	if (c->sreq)
		protobuf_c_message_free_unpacked(&c->sreq->base, NULL);
	if (c->req_bb)
		grpc_byte_buffer_destroy(c->req_bb);
	if (c->send_bb)
		grpc_byte_buffer_destroy(c->send_bb);
	if (c->recv_bb)
		grpc_byte_buffer_destroy(c->recv_bb);
	grpc_metadata_array_destroy(&c->md);
	if (c->method == GENERIC)
		grpc_call_details_destroy(&c->details);
	if (c->call)
		grpc_call_unref(c->call);
	zxd_session_unref(c->session);
	free(c);
	if (atomic_fetch_sub(&live_calls, 1) == 1 && atomic_load(&shutting_down)) {
		pthread_mutex_lock(&drain_lock);
		pthread_cond_broadcast(&drain_cond);
		pthread_mutex_unlock(&drain_lock);
	}
}

static void batch_done(struct call *c)
{
	if (atomic_fetch_sub(&c->pending, 1) == 1)
		call_free(c);
}

static void on_send(void *owner, bool ok)
{
	batch_done(owner);
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

/* Finish a call with a gRPC status only (transport, auth or malformed request). */
static void send_status(struct call *c, grpc_status_code code, const char *details)
{
	grpc_slice d = grpc_slice_from_copied_string(details);
	grpc_op ops[2] = {
		{.op = GRPC_OP_SEND_INITIAL_METADATA},
		{.op = GRPC_OP_SEND_STATUS_FROM_SERVER,
		 .data.send_status_from_server = {.status = code, .status_details = &d}},
	};
	start_batch(c, ops, 2, &c->t_send);
	grpc_slice_unref(d);
}

/* Finish a unary call with its response message (any thread that owns the call). */
static void send_response(struct call *c, const ProtobufCMessage *resp)
{
	c->send_bb = pack(resp);
	grpc_op ops[3] = {
		{.op = GRPC_OP_SEND_INITIAL_METADATA},
		{.op = GRPC_OP_SEND_MESSAGE, .data.send_message.send_message = c->send_bb},
		{.op = GRPC_OP_SEND_STATUS_FROM_SERVER,
		 .data.send_status_from_server = {.status = GRPC_STATUS_OK}},
	};
	start_batch(c, ops, 3, &c->t_send);
}

static void set_status(ProtobufCMessage *resp, zx_status_t st)
{
	const ProtobufCFieldDescriptor *f =
		protobuf_c_message_descriptor_get_field_by_name(resp->descriptor, "status");
	if (f)
		*(int32_t *)((char *)resp + f->offset) = st;
}

static void run_handler(struct call *c)
{
	const struct zxd_method *m = &zxd_methods[c->method];
	ProtobufCMessage *resp = malloc(m->resp->sizeof_message);
	if (!resp) {
		send_status(c, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
		return;
	}
	protobuf_c_message_init(m->resp, resp);
	struct zxd_ctx ctx = {
		.session = c->session,
		.tid = c->tid,
		.peer = &c->peer,
		.cancelled = &c->cancel_flag,
	};
	uint32_t vcpu = m->vcpu_of ? m->vcpu_of(c->req) : 0;
	atomic_store(&c->kick_vcpu, vcpu);
	/* A cancel that came before we published the VCPU must still stop this enter. */
	if (vcpu && atomic_load(&c->cancel_flag))
		kb_vcpu_kick(c->session->table, vcpu);
	m->fn(&ctx, c->req, resp);
	atomic_store(&c->kick_vcpu, 0);
	send_response(c, resp);
	zxd_response_free_extra(m, resp);
	free(resp);
}

/* Work posted to another thread holds a reference to the call (taken by dispatch). */
static void vthread_work(void *arg)
{
	run_handler(arg);
	batch_done(arg);
}

static void *blocking_worker(void *arg)
{
	struct call *c = arg;
	run_handler(c);
	atomic_fetch_sub(&c->session->port_waits, 1);
	batch_done(c);
	return NULL;
}

static void on_close(void *owner, bool ok)
{
	struct call *c = owner;
	if (c->cancelled) {
		atomic_store(&c->cancel_flag, true);
		uint32_t vcpu = atomic_load(&c->kick_vcpu);
		if (vcpu && c->session)
			kb_vcpu_kick(c->session->table, vcpu);
	}
	/* The end of a Lease is the end of its ephemeral session (client gone or done). */
	if (c->method >= 0 && strcmp(zxd_methods[c->method].name, "Lease") == 0 && c->session &&
	    !c->session->name[0])
		zxd_session_close(c->session);
	batch_done(c);
}

/* ---- peers and metadata ---- */

static bool uid_admitted(uid_t uid, gid_t gid)
{
	if (uid == 0)
		return true;
	if (!have_admit_gid)
		return false;
	if (gid == admit_gid)
		return true;
	struct passwd pw, *res = NULL;
	char buf[4096];
	if (getpwuid_r(uid, &pw, buf, sizeof(buf), &res) != 0 || !res)
		return false;
	gid_t groups[256];
	int n = 256;
	if (getgrouplist(pw.pw_name, pw.pw_gid, groups, &n) < 0)
		return false;
	for (int i = 0; i < n; i++)
		if (groups[i] == admit_gid)
			return true;
	return false;
}

static void identify_peer(struct call *c)
{
	c->peer = (struct zxd_peer){.what = c->peer_what};
	char *peer = grpc_call_get_peer(c->call);
	int fd;
	if (peer && sscanf(peer, "fd:%d", &fd) == 1) {
		pthread_mutex_lock(&peers_lock);
		if (fd >= 0 && (size_t)fd < npeers && peers[fd].valid) {
			c->peer.authorized = peers[fd].authorized;
			c->peer.uid = peers[fd].cred.uid;
			c->peer.pid = peers[fd].cred.pid;
			snprintf(c->peer_what, sizeof(c->peer_what), "unix uid %u pid %d",
				 (unsigned)peers[fd].cred.uid, (int)peers[fd].cred.pid);
		}
		pthread_mutex_unlock(&peers_lock);
	} else {
		/* TCP: only verified client certificates get here (or the explicit loopback
		 * test mode, which is trusted as the operator asked for it). */
		grpc_auth_context *ac = grpc_call_auth_context(c->call);
		const char *kind = "insecure";
		if (ac) {
			grpc_auth_property_iterator it =
				grpc_auth_context_find_properties_by_name(ac, "transport_security_type");
			const grpc_auth_property *p = grpc_auth_property_iterator_next(&it);
			if (p)
				kind = p->value;
			c->peer.authorized = grpc_auth_context_peer_is_authenticated(ac) ||
					     (cfg->allow_insecure_loopback && strcmp(kind, "insecure") == 0);
			it = grpc_auth_context_peer_identity(ac);
			p = grpc_auth_property_iterator_next(&it);
			snprintf(c->peer_what, sizeof(c->peer_what), "%s %s (%s)", kind,
				 p ? p->value : "?", peer ? peer : "?");
			grpc_auth_context_release(ac);
		}
	}
	if (!c->peer_what[0])
		snprintf(c->peer_what, sizeof(c->peer_what), "%s", peer ? peer : "unknown peer");
	gpr_free(peer);
}

static bool md_get(const grpc_metadata_array *md, const char *key, char *out, size_t outlen)
{
	for (size_t i = 0; i < md->count; i++) {
		if (grpc_slice_str_cmp(md->metadata[i].key, key) == 0) {
			size_t n = GRPC_SLICE_LENGTH(md->metadata[i].value);
			if (n >= outlen)
				return false;
			memcpy(out, GRPC_SLICE_START_PTR(md->metadata[i].value), n);
			out[n] = 0;
			return true;
		}
	}
	return false;
}

/* ---- VcpuStream: the pinned thread answers each message and asks for the next ---- */

static void stream_recv_done(void *owner, bool ok);

static void stream_work(void *arg)
{
	struct call *c = arg;
	Zxvm__V1__VcpuStreamResponse resp = ZXVM__V1__VCPU_STREAM_RESPONSE__INIT;
	struct zxp_packet pkt;
	Zxvm__V1__VcpuState state;
	struct zxd_ctx ctx = {
		.session = c->session, .tid = c->tid, .peer = &c->peer, .cancelled = &c->cancel_flag,
	};
	if (c->sreq->call_case == ZXVM__V1__VCPU_STREAM_REQUEST__CALL_ENTER) {
		atomic_store(&c->kick_vcpu, c->sreq->enter->vcpu);
		if (atomic_load(&c->cancel_flag))
			kb_vcpu_kick(c->session->table, c->sreq->enter->vcpu);
	}
	zxd_stream_handle(&ctx, c->sreq, &resp, &pkt, &state);
	atomic_store(&c->kick_vcpu, 0);
	protobuf_c_message_free_unpacked(&c->sreq->base, NULL);
	c->sreq = NULL;
	if (c->send_bb)
		grpc_byte_buffer_destroy(c->send_bb);
	c->send_bb = pack(&resp.base);
	/* One batch: this answer, and the next request (one of each may be in flight). */
	grpc_op ops[3];
	size_t n = 0;
	if (!c->stream_started) {
		ops[n++] = (grpc_op){.op = GRPC_OP_SEND_INITIAL_METADATA};
		c->stream_started = true;
	}
	ops[n++] = (grpc_op){.op = GRPC_OP_SEND_MESSAGE, .data.send_message.send_message = c->send_bb};
	ops[n++] = (grpc_op){.op = GRPC_OP_RECV_MESSAGE, .data.recv_message.recv_message = &c->recv_bb};
	c->t_recv = (struct tag){stream_recv_done, c};
	start_batch(c, ops, n, &c->t_recv);
	batch_done(c); /* the reference of the receive that brought this request */
}

static void stream_recv_done(void *owner, bool ok)
{
	struct call *c = owner;
	grpc_byte_buffer *bb = c->recv_bb;
	c->recv_bb = NULL;
	if (!ok || !bb) {
		/* The client half-closed (or went away): finish with OK. */
		if (bb)
			grpc_byte_buffer_destroy(bb);
		grpc_op ops[2];
		size_t n = 0;
		if (!c->stream_started)
			ops[n++] = (grpc_op){.op = GRPC_OP_SEND_INITIAL_METADATA};
		ops[n++] = (grpc_op){.op = GRPC_OP_SEND_STATUS_FROM_SERVER,
				     .data.send_status_from_server = {.status = GRPC_STATUS_OK}};
		if (ok)
			start_batch(c, ops, n, &c->t_send);
		batch_done(c);
		return;
	}
	c->sreq = (Zxvm__V1__VcpuStreamRequest *)unpack(&zxvm__v1__vcpu_stream_request__descriptor, bb);
	grpc_byte_buffer_destroy(bb);
	if (!c->sreq) {
		send_status(c, GRPC_STATUS_INVALID_ARGUMENT, "malformed VcpuStreamRequest");
		batch_done(c);
		return;
	}
	/* This receive's reference goes with the work; stream_work releases it. */
	zx_status_t st = zxd_vthread_post(c->session, c->tid, stream_work, c);
	if (st != ZX_OK) {
		send_status(c, GRPC_STATUS_RESOURCE_EXHAUSTED, zx_status_get_string(st));
		batch_done(c);
	}
}

static void stream_start(struct call *c)
{
	grpc_op op = {.op = GRPC_OP_RECV_MESSAGE, .data.recv_message.recv_message = &c->recv_bb};
	c->t_recv = (struct tag){stream_recv_done, c};
	start_batch(c, &op, 1, &c->t_recv);
}

/* ---- new calls ---- */

static void request_slot(int method);

static void health_answer(struct call *c)
{
	Grpc__Health__V1__HealthCheckResponse r = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__INIT;
	r.status = atomic_load(&shutting_down)
			   ? GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__NOT_SERVING
			   : GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING;
	send_response(c, &r.base);
}

static void dispatch(struct call *c)
{
	if (c->method == GENERIC) {
		send_status(c, GRPC_STATUS_UNIMPLEMENTED, "no such method");
		return;
	}
	if (c->method == HEALTH) {
		health_answer(c);
		return;
	}
	const struct zxd_method *m = &zxd_methods[c->method];
	identify_peer(c);
	zxd_log(ZXD_LOG_DEBUG, "call %s from %s", m->name, c->peer_what);
	char token[64] = "", tid[32] = "";
	md_get(&c->md, "zxvm-session", token, sizeof(token));
	if (md_get(&c->md, "zxvm-thread", tid, sizeof(tid)))
		c->tid = strtoull(tid, NULL, 10);
	if (m->needs_session) {
		c->session = zxd_session_find(token);
		if (!c->session) {
			send_status(c, GRPC_STATUS_UNAUTHENTICATED, "no such session (zxvm-session)");
			return;
		}
	}
	if (m->where == ZXD_SPECIAL && !m->fn && c->session && strcmp(m->name, "Lease") == 0)
		atomic_store(&c->session->leased, true);
	if (m->where == ZXD_SPECIAL && !m->fn) {
		if (strcmp(m->name, "VcpuStream") == 0)
			stream_start(c);
		/* A Lease just stays open: on_close ends it. */
		return;
	}
	c->req = unpack(m->req, c->req_bb);
	if (!c->req) {
		send_status(c, GRPC_STATUS_INVALID_ARGUMENT, "malformed request message");
		return;
	}
	zx_status_t st = ZX_OK;
	atomic_fetch_add(&c->pending, 1); /* for the thread the call goes to */
	switch (m->where) {
	case ZXD_VCPU_THREAD:
		st = c->tid ? zxd_vthread_post(c->session, c->tid, vthread_work, c)
			    : ZX_ERR_BAD_STATE;
		break;
	case ZXD_BLOCKING: {
		pthread_t t;
		pthread_attr_t attr;
		if (atomic_fetch_add(&c->session->port_waits, 1) >= cfg->max_port_waits_per_session) {
			atomic_fetch_sub(&c->session->port_waits, 1);
			st = ZX_ERR_NO_RESOURCES;
			break;
		}
		pthread_attr_init(&attr);
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		pthread_attr_setstacksize(&attr, 256 << 10);
		if (pthread_create(&t, &attr, blocking_worker, c) != 0) {
			atomic_fetch_sub(&c->session->port_waits, 1);
			st = ZX_ERR_NO_RESOURCES;
		}
		pthread_attr_destroy(&attr);
		break;
	}
	default:
		run_handler(c);
		atomic_fetch_sub(&c->pending, 1);
		return;
	}
	if (st != ZX_OK) {
		atomic_fetch_sub(&c->pending, 1);
		/* Could not place the call: answer it here with the status. */
		ProtobufCMessage *resp = malloc(m->resp->sizeof_message);
		protobuf_c_message_init(m->resp, resp);
		set_status(resp, st);
		send_response(c, resp);
		free(resp);
	}
}

static void on_new(void *owner, bool ok)
{
	struct call *c = owner;
	if (!ok) {
		/* The server is shutting down: the slot is returned unused. */
		c->call = NULL;
		call_free(c);
		return;
	}
	if (!atomic_load(&shutting_down))
		request_slot(c->method);
	/* Learn about cancellation (and client disconnects) for as long as the call lives. */
	grpc_op op = {.op = GRPC_OP_RECV_CLOSE_ON_SERVER,
		      .data.recv_close_on_server.cancelled = &c->cancelled};
	start_batch(c, &op, 1, &c->t_close);
	atomic_fetch_add(&c->pending, 1); /* dispatch's own reference */
	dispatch(c);
	batch_done(c);
}

static void request_slot(int method)
{
	struct call *c = calloc(1, sizeof(*c));
	if (!c)
		return;
	atomic_fetch_add(&live_calls, 1);
	c->method = method;
	c->t_new = (struct tag){on_new, c};
	c->t_close = (struct tag){on_close, c};
	c->t_send = (struct tag){on_send, c};
	grpc_metadata_array_init(&c->md);
	tsan_release(&c->t_new);
	grpc_call_error err;
	if (method == GENERIC) {
		grpc_call_details_init(&c->details);
		err = grpc_server_request_call(server, &c->call, &c->details, &c->md, cq, cq, &c->t_new);
	} else {
		void *rm = method == HEALTH ? health_method : registered[method];
		bool payload = method == HEALTH || strcmp(zxd_methods[method].name, "VcpuStream") != 0;
		err = grpc_server_request_registered_call(server, rm, &c->call, &c->deadline, &c->md,
							  payload ? &c->req_bb : NULL, cq, cq,
							  &c->t_new);
	}
	if (err != GRPC_CALL_OK) {
		c->call = NULL;
		call_free(c);
	}
}

/* After an event the thread keeps polling the queue for CQ_SPIN_NS before it blocks: a busy
 * client's next request, and the completion of a VCPU thread's reply, usually come within tens
 * of microseconds, and a thread asleep in epoll_wait costs a wake-up to reach, 20-50 µs across
 * CPUs here (notes/kvm-on-this-machine.md). Each empty poll yields the CPU, so that the threads
 * bringing that work can run on it. Measured in bench/README.md (P2-P4). */
#define CQ_SPIN_NS 50000

static void *cq_main(void *arg)
{
	zx_time_t last = 0;
	for (;;) {
		/* A deadline in the past polls once without blocking. */
		bool spin = kb_clock_monotonic() - last < CQ_SPIN_NS;
		grpc_event ev = grpc_completion_queue_next(
			cq, spin ? gpr_inf_past(GPR_CLOCK_MONOTONIC) : gpr_inf_future(GPR_CLOCK_REALTIME),
			NULL);
		if (ev.type == GRPC_QUEUE_TIMEOUT) {
			sched_yield();
			continue;
		}
		if (ev.type == GRPC_QUEUE_SHUTDOWN)
			return NULL;
		if (ev.type != GRPC_OP_COMPLETE)
			continue;
		struct tag *t = ev.tag;
		tsan_acquire(t);
		t->fn(t->owner, ev.success);
		last = kb_clock_monotonic();
	}
}

/* ---- listeners ---- */

struct unix_listener {
	uv_poll_t poll;
	int fd;
	bool from_systemd;
	char path[108];
};
static struct unix_listener listeners[ZXD_MAX_LISTEN + 4];
static int nlisteners;

void zxd_server_note_unix_peer(int fd, const struct ucred *cred)
{
	pthread_mutex_lock(&peers_lock);
	if ((size_t)fd >= npeers) {
		size_t n = npeers ? npeers : 64;
		while (n <= (size_t)fd)
			n *= 2;
		struct unix_peer *p = realloc(peers, n * sizeof(*p));
		if (!p) {
			pthread_mutex_unlock(&peers_lock);
			return;
		}
		memset(p + npeers, 0, (n - npeers) * sizeof(*p));
		peers = p;
		npeers = n;
	}
	peers[fd] = (struct unix_peer){.valid = true, .cred = *cred,
				       .authorized = uid_admitted(cred->uid, cred->gid)};
	bool admitted = peers[fd].authorized;
	pthread_mutex_unlock(&peers_lock);
	if (!admitted)
		zxd_log(ZXD_LOG_NOTICE, "unix peer uid %u pid %d is not root or in group %s: it "
			"gets no hypervisor resource", (unsigned)cred->uid, (int)cred->pid, cfg->group);
}

static void on_accept(uv_poll_t *h, int status, int events)
{
	struct unix_listener *l = h->data;
	for (;;) {
		int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno != EAGAIN && errno != EINTR)
				zxd_log(ZXD_LOG_WARNING, "accept on %s: %s", l->path, strerror(errno));
			return;
		}
		struct ucred cred;
		socklen_t len = sizeof(cred);
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
			close(fd);
			continue;
		}
		zxd_server_note_unix_peer(fd, &cred);
		/* gRPC owns the fd from here and closes it with the connection. */
		grpc_server_credentials *creds = grpc_insecure_server_credentials_create();
		grpc_server_add_channel_from_fd(server, fd, creds);
		grpc_server_credentials_release(creds);
	}
}

static int listen_unix(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(sa.sun_path)) {
		zxd_log(ZXD_LOG_ERR, "unix socket path too long: %s", path);
		return -1;
	}
	strcpy(sa.sun_path, path);
	struct stat st;
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			zxd_log(ZXD_LOG_ERR, "%s exists and is not a socket; not replacing it", path);
			return -1;
		}
		unlink(path); /* a stale socket of an earlier run */
	}
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	mode_t old = umask(0117);
	int rc = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (rc < 0 || listen(fd, 128) < 0) {
		zxd_log(ZXD_LOG_ERR, "cannot listen on %s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	/* Mode 0660, group zxvm: members may connect (DESIGN.md "Security"). */
	chmod(path, 0660);
	if (have_admit_gid && chown(path, (uid_t)-1, admit_gid) < 0)
		zxd_log(ZXD_LOG_WARNING, "chown %s to group %s: %s", path, cfg->group,
			strerror(errno));
	return fd;
}

static int add_unix_listener(uv_loop_t *loop, int fd, const char *path, bool from_systemd)
{
	struct unix_listener *l = &listeners[nlisteners++];
	l->fd = fd;
	l->from_systemd = from_systemd;
	snprintf(l->path, sizeof(l->path), "%s", path);
	uv_poll_init(loop, &l->poll, fd);
	l->poll.data = l;
	return uv_poll_start(&l->poll, UV_READABLE, on_accept);
}

static bool is_loopback(const char *addr)
{
	return strncmp(addr, "127.", 4) == 0 || strncmp(addr, "[::1]", 5) == 0 ||
	       strncmp(addr, "localhost:", 10) == 0;
}

/* ---- TLS certificates, re-read while serving ----
 *
 * Every TCP listener's credentials take their certificates from a fetcher that gRPC calls at
 * each new handshake (and once when the listener is added). The fetcher looks at the three
 * files (certificate, key, client CA): when one of them is another file or was rewritten since
 * it was last read (device, inode, size or modification time differ), the set is read again.
 * SIGHUP reads it whatever the files look like (zxd_server_reload_tls). A set that reads and
 * looks like PEM becomes the one in use: a new generation, which each listener's fetcher hands
 * to gRPC once. A set that does not is refused with a line per bad file, and the set in use
 * stays; it is tried again when a file changes again or on the next SIGHUP. Connections keep
 * the certificates they were made with. The client certificate is required and verified with
 * every set, as with the first. */

enum { TLS_CERT, TLS_KEY, TLS_CA, TLS_NFILES };

#define TLS_MAX_FILE_BYTES (1u << 20)

/* What tells one version of a file from another without reading it. */
struct tls_file_id {
	bool exists;
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtim;
};

static const char *const tls_file_what[TLS_NFILES] = {"certificate", "key", "client CA"};

static struct {
	pthread_mutex_t lock;
	const char *path[TLS_NFILES];
	/* The files as last read (or tried), the set in use, and its generation (0: none). */
	struct tls_file_id seen[TLS_NFILES];
	char *pem[TLS_NFILES];
	unsigned generation;
} tls = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* One per TLS listener, the user data of its fetcher (under tls.lock). */
struct tls_listener {
	unsigned generation; /* the set its gRPC handshaker has */
};
static struct tls_listener tls_listeners[ZXD_MAX_LISTEN];
static int ntls_listeners;

static void tls_file_id_of(const struct stat *st, struct tls_file_id *id)
{
	*id = (struct tls_file_id){.exists = true,
				   .dev = st->st_dev,
				   .ino = st->st_ino,
				   .size = st->st_size,
				   .mtim = st->st_mtim};
}

static bool tls_file_id_same(const struct tls_file_id *a, const struct tls_file_id *b)
{
	if (!a->exists || !b->exists)
		return a->exists == b->exists;
	return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
	       a->mtim.tv_sec == b->mtim.tv_sec && a->mtim.tv_nsec == b->mtim.tv_nsec;
}

static void tls_free_pem(int i, char *pem)
{
	if (pem && i == TLS_KEY)
		explicit_bzero(pem, strlen(pem));
	free(pem);
}

/* Read file i of the set (NUL-terminated), or log why it cannot be used and return NULL. *id
 * becomes the identity of the file that was opened (it stays as it is if none was). */
static char *tls_read(int i, struct tls_file_id *id, bool reload)
{
	const char *path = tls.path[i];
	const char *why = NULL;
	char *buf = NULL;
	size_t len = 0, cap = 0;
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		why = strerror(errno);
	} else {
		tls_file_id_of(&st, id);
		while (len <= TLS_MAX_FILE_BYTES) {
			if (cap - len < 2) {
				size_t more = cap ? 2 * cap : 8192;
				char *bigger = realloc(buf, more);
				if (!bigger) {
					why = strerror(ENOMEM);
					break;
				}
				buf = bigger;
				cap = more;
			}
			ssize_t n = read(fd, buf + len, cap - len - 1);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0)
				why = strerror(errno);
			if (n <= 0)
				break;
			len += (size_t)n;
		}
		if (!why && len > TLS_MAX_FILE_BYTES)
			why = "larger than 1 MiB";
		if (!why) {
			buf[len] = 0;
			if (!strstr(buf, "-----BEGIN"))
				why = "not PEM (no \"-----BEGIN\" line)";
		}
	}
	if (fd >= 0)
		close(fd);
	if (!why)
		return buf;
	if (buf)
		explicit_bzero(buf, len);
	free(buf);
	if (reload)
		zxd_log(ZXD_LOG_ERR, "TLS reload refused: %s %s: %s; the certificates in use stay",
			tls_file_what[i], path, why);
	else
		zxd_log(ZXD_LOG_ERR, "cannot use TLS %s %s: %s", tls_file_what[i], path, why);
	return NULL;
}

/* The first PEM object of a text as OpenSSL reads it: a certificate, or a private key. */
static X509 *pem_cert(const char *pem)
{
	BIO *b = BIO_new_mem_buf(pem, -1);
	X509 *x = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
	BIO_free(b);
	return x;
}

static EVP_PKEY *pem_key(const char *pem)
{
	BIO *b = BIO_new_mem_buf(pem, -1);
	EVP_PKEY *k = b ? PEM_read_bio_PrivateKey(b, NULL, NULL, NULL) : NULL;
	BIO_free(b);
	return k;
}

/* What gRPC would refuse in a set that reads and looks like PEM, or NULL: caught here, the
 * refusal is ours to log and the set in use stays; gRPC would only say that its handshaker
 * could not be made. */
static const char *tls_set_problem(char *const pem[TLS_NFILES])
{
	const char *why = NULL;
	X509 *cert = pem_cert(pem[TLS_CERT]), *ca = pem_cert(pem[TLS_CA]);
	EVP_PKEY *key = pem_key(pem[TLS_KEY]);
	if (!cert)
		why = "the certificate is not a PEM certificate";
	else if (!key)
		why = "the key is not a PEM private key";
	else if (X509_check_private_key(cert, key) != 1)
		why = "the key does not belong to the certificate";
	else if (!ca)
		why = "the client CA is not a PEM certificate";
	X509_free(cert);
	X509_free(ca);
	EVP_PKEY_free(key);
	ERR_clear_error();
	return why;
}

/* Under tls.lock: read the set again if a file changed since it was last read, or if force.
 * Returns false when a set was read and refused. */
static bool tls_check_locked(bool force)
{
	struct tls_file_id now[TLS_NFILES];
	bool changed = force;
	for (int i = 0; i < TLS_NFILES; i++) {
		struct stat st;
		now[i] = (struct tls_file_id){.exists = false};
		if (stat(tls.path[i], &st) == 0)
			tls_file_id_of(&st, &now[i]);
		changed |= !tls_file_id_same(&now[i], &tls.seen[i]);
	}
	if (!changed)
		return true;

	bool reload = tls.generation != 0, good = true, same = true;
	char *pem[TLS_NFILES];
	for (int i = 0; i < TLS_NFILES; i++) {
		/* A file that cannot be opened is remembered as stat saw it: it is not tried
		 * again (nor logged again) until that changes. */
		tls.seen[i] = now[i];
		pem[i] = tls_read(i, &tls.seen[i], reload);
		good &= pem[i] != NULL;
		same &= pem[i] && tls.pem[i] && strcmp(pem[i], tls.pem[i]) == 0;
	}
	const char *problem = good && !same ? tls_set_problem(pem) : NULL;
	if (problem) {
		good = false;
		if (reload)
			zxd_log(ZXD_LOG_ERR, "TLS reload refused: %s (%s, %s, %s); the certificates "
				"in use stay", problem, tls.path[TLS_CERT], tls.path[TLS_KEY],
				tls.path[TLS_CA]);
		else
			zxd_log(ZXD_LOG_ERR, "cannot use TLS certificates: %s (%s, %s, %s)", problem,
				tls.path[TLS_CERT], tls.path[TLS_KEY], tls.path[TLS_CA]);
	}
	if (good && same) {
		if (force)
			zxd_log(ZXD_LOG_NOTICE, "TLS certificate files unchanged: nothing new");
	} else if (good) {
		for (int i = 0; i < TLS_NFILES; i++) {
			tls_free_pem(i, tls.pem[i]);
			tls.pem[i] = pem[i];
			pem[i] = NULL;
		}
		tls.generation++;
		if (reload)
			zxd_log(ZXD_LOG_NOTICE, "TLS certificates reloaded from %s, %s, %s",
				tls.path[TLS_CERT], tls.path[TLS_KEY], tls.path[TLS_CA]);
	}
	for (int i = 0; i < TLS_NFILES; i++)
		tls_free_pem(i, pem[i]);
	return good;
}

/* gRPC's certificate config fetcher: called on a gRPC thread at each new handshake on the
 * listener (and once from grpc_server_add_http2_port). */
static grpc_ssl_certificate_config_reload_status
tls_fetch(void *user_data, grpc_ssl_server_certificate_config **config)
{
	struct tls_listener *l = user_data;
	grpc_ssl_certificate_config_reload_status rs = GRPC_SSL_CERTIFICATE_CONFIG_RELOAD_UNCHANGED;
	pthread_mutex_lock(&tls.lock);
	tls_check_locked(false);
	if (tls.generation != 0 && l->generation != tls.generation) {
		grpc_ssl_pem_key_cert_pair kp = {tls.pem[TLS_KEY], tls.pem[TLS_CERT]};
		/* The config has copies of the strings. */
		*config = grpc_ssl_server_certificate_config_create(tls.pem[TLS_CA], &kp, 1);
		l->generation = tls.generation;
		rs = GRPC_SSL_CERTIFICATE_CONFIG_RELOAD_NEW;
	}
	pthread_mutex_unlock(&tls.lock);
	return rs;
}

void zxd_server_reload_tls(void)
{
	pthread_mutex_lock(&tls.lock);
	if (tls.generation == 0)
		zxd_log(ZXD_LOG_NOTICE, "no TLS listener: no certificates to reload");
	else
		tls_check_locked(true);
	pthread_mutex_unlock(&tls.lock);
}

/* Mutual TLS credentials for one listener, from the certificate files. */
static grpc_server_credentials *tls_credentials(void)
{
	pthread_mutex_lock(&tls.lock);
	bool good = true;
	if (tls.generation == 0) {
		tls.path[TLS_CERT] = cfg->tls_cert;
		tls.path[TLS_KEY] = cfg->tls_key;
		tls.path[TLS_CA] = cfg->tls_client_ca;
		good = tls_check_locked(true);
	}
	pthread_mutex_unlock(&tls.lock);
	if (!good)
		return NULL;
	/* Mutual TLS: a verified client certificate is required (DESIGN.md), with every set. */
	grpc_ssl_server_credentials_options *opts =
		grpc_ssl_server_credentials_create_options_using_config_fetcher(
			GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY, tls_fetch,
			&tls_listeners[ntls_listeners++]);
	return grpc_ssl_server_credentials_create_with_options(opts);
}

static int add_tcp_listener(const char *addr)
{
	grpc_server_credentials *creds;
	if (cfg->tls_cert || cfg->tls_key || cfg->tls_client_ca) {
		if (!cfg->tls_cert || !cfg->tls_key || !cfg->tls_client_ca) {
			zxd_log(ZXD_LOG_ERR, "TLS needs --tls-cert, --tls-key and --tls-client-ca");
			return -1;
		}
		creds = tls_credentials();
		if (!creds)
			return -1;
	} else if (cfg->allow_insecure_loopback && is_loopback(addr)) {
		creds = grpc_insecure_server_credentials_create();
	} else {
		zxd_log(ZXD_LOG_ERR, "refusing plain TCP on %s: give --tls-cert/--tls-key/"
			"--tls-client-ca (or --insecure-loopback on a loopback address)", addr);
		return -1;
	}
	int port = grpc_server_add_http2_port(server, addr, creds);
	grpc_server_credentials_release(creds);
	if (port == 0) {
		zxd_log(ZXD_LOG_ERR, "cannot listen on %s", addr);
		return -1;
	}
	/* The port is in the line: with HOST:0 the kernel picked it (tests use that). */
	zxd_log(ZXD_LOG_NOTICE, "listening on %s port %d (%s)", addr, port,
		cfg->tls_cert ? "mutual TLS" : "plain TCP, loopback test mode");
	return 0;
}

int zxd_server_start(const struct zxd_config *config, uv_loop_t *loop)
{
	cfg = config;
	if (cfg->group && cfg->group[0]) {
		struct group gr, *res = NULL;
		char buf[4096];
		if (getgrnam_r(cfg->group, &gr, buf, sizeof(buf), &res) == 0 && res) {
			admit_gid = gr.gr_gid;
			have_admit_gid = true;
		} else {
			zxd_log(ZXD_LOG_NOTICE, "group %s does not exist: only root may run guests",
				cfg->group);
		}
	}
	grpc_init();
	grpc_arg args[] = {
		{.type = GRPC_ARG_INTEGER, .key = (char *)GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH,
		 .value.integer = (int)cfg->max_message_bytes},
		{.type = GRPC_ARG_INTEGER, .key = (char *)GRPC_ARG_MAX_SEND_MESSAGE_LENGTH,
		 .value.integer = (int)cfg->max_message_bytes},
		{.type = GRPC_ARG_INTEGER, .key = (char *)GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS,
		 .value.integer = 1},
		{.type = GRPC_ARG_INTEGER,
		 .key = (char *)GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS,
		 .value.integer = 1000},
	};
	grpc_channel_args cargs = {.num_args = ZXVM_ARRAY_SIZE(args), .args = args};
	server = grpc_server_create(&cargs, NULL);
	cq = grpc_completion_queue_create_for_next(NULL);
	grpc_server_register_completion_queue(server, cq, NULL);

	const ProtobufCServiceDescriptor *sd = &zxvm__v1__hypervisor__descriptor;
	if (sd->n_methods != zxd_nmethods || zxd_nmethods > ZXVM_ARRAY_SIZE(registered)) {
		zxd_log(ZXD_LOG_ERR, "internal: %zu handlers for %u methods", zxd_nmethods,
			sd->n_methods);
		return -1;
	}
	for (size_t i = 0; i < zxd_nmethods; i++) {
		if (strcmp(sd->methods[i].name, zxd_methods[i].name) != 0) {
			zxd_log(ZXD_LOG_ERR, "internal: method %zu is %s, handler %s", i,
				sd->methods[i].name, zxd_methods[i].name);
			return -1;
		}
		bool stream = strcmp(zxd_methods[i].name, "VcpuStream") == 0;
		registered[i] = grpc_server_register_method(
			server, zxp_method_path((unsigned)i), NULL,
			stream ? GRPC_SRM_PAYLOAD_NONE : GRPC_SRM_PAYLOAD_READ_INITIAL_BYTE_BUFFER, 0);
	}
	health_method = grpc_server_register_method(server, "/grpc.health.v1.Health/Check", NULL,
						    GRPC_SRM_PAYLOAD_READ_INITIAL_BYTE_BUFFER, 0);

	for (int i = 0; i < cfg->nlisten; i++)
		if (strncmp(cfg->listen[i], "unix:", 5) != 0 && add_tcp_listener(cfg->listen[i]) < 0)
			return -1;
	grpc_server_start(server);

	/* Unix sockets: passed by systemd (socket activation), or our own. */
	int n = sd_listen_fds(1);
	for (int i = 0; i < n; i++) {
		int fd = SD_LISTEN_FDS_START + i;
		if (sd_is_socket_unix(fd, SOCK_STREAM, 1, NULL, 0) <= 0) {
			zxd_log(ZXD_LOG_WARNING, "ignoring passed fd %d: not a listening unix socket",
				fd);
			continue;
		}
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
		add_unix_listener(loop, fd, "systemd socket", true);
		zxd_log(ZXD_LOG_INFO, "listening on the unix socket passed by systemd (fd %d)", fd);
	}
	for (int i = 0; i < cfg->nlisten; i++) {
		if (strncmp(cfg->listen[i], "unix:", 5) != 0)
			continue;
		const char *path = cfg->listen[i] + 5;
		int fd = listen_unix(path);
		if (fd < 0 || add_unix_listener(loop, fd, path, false) < 0)
			return -1;
		zxd_log(ZXD_LOG_INFO, "listening on unix:%s", path);
	}

	for (size_t i = 0; i < zxd_nmethods; i++)
		for (int k = 0; k < SLOTS_PER_METHOD; k++)
			request_slot((int)i);
	request_slot(HEALTH);
	request_slot(GENERIC);
	if (pthread_create(&cq_thread, NULL, cq_main, NULL) != 0)
		return -1;
	return 0;
}

static void on_shutdown_done(void *owner, bool ok)
{
	pthread_mutex_lock(&drain_lock);
	shutdown_done = true;
	pthread_cond_broadcast(&drain_cond);
	pthread_mutex_unlock(&drain_lock);
}

void zxd_server_shutdown(void)
{
	atomic_store(&shutting_down, true);
	for (int i = 0; i < nlisteners; i++) {
		uv_poll_stop(&listeners[i].poll);
		uv_close((uv_handle_t *)&listeners[i].poll, NULL);
		/* A systemd-owned socket stays with systemd (and its queued clients). */
		if (!listeners[i].from_systemd) {
			close(listeners[i].fd);
			unlink(listeners[i].path);
		}
	}
	/* Every VCPU in enter is kicked, so calls blocked there answer CANCELED now. */
	zxd_sessions_close_all();
	shutdown_tag = (struct tag){on_shutdown_done, NULL};
	tsan_release(&shutdown_tag);
	grpc_server_shutdown_and_notify(server, cq, &shutdown_tag);
	grpc_server_cancel_all_calls(server);
	/* The CQ may shut down only once no call is held (notes/grpc-core.md §4, pitfall 4).
	 * Wait for that, within the stop budget of 2 s. */
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 1;
	until.tv_nsec += 500000000;
	if (until.tv_nsec >= 1000000000) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&drain_lock);
	while (!(shutdown_done && atomic_load(&live_calls) == 0))
		if (pthread_cond_timedwait(&drain_cond, &drain_lock, &until) == ETIMEDOUT)
			break;
	bool clean = shutdown_done && atomic_load(&live_calls) == 0;
	pthread_mutex_unlock(&drain_lock);
	if (!clean) {
		zxd_log(ZXD_LOG_WARNING, "%d calls still held at exit", atomic_load(&live_calls));
		return; /* leave gRPC as it is: destroying it with calls held would abort */
	}
	grpc_completion_queue_shutdown(cq);
	pthread_join(cq_thread, NULL);
	grpc_server_destroy(server);
	grpc_completion_queue_destroy(cq);
	grpc_shutdown();
}
