/* The fuzzing harness of tests/fuzz/ (issue #6): a live in-process daemon core that every
 * target drives with libFuzzer's inputs.
 *
 * The world is real: a session opened with zxd_session_open() for an authorized peer, its
 * kvm_backend handle table, a guest with 2 MiB of RAM, identity page tables and a VCPU that
 * loops over trapped port IO and a trapped MMIO read, so that every enter exits within a few
 * microseconds. The fuzzer's own thread plays the pinned VCPU thread of the daemon (it created
 * the VCPU, so the vcpu ioctls are legal from it), and a watchdog (a POSIX timer armed around
 * each enter) kicks every VCPU of the session when an enter runs longer than
 * FZ_ENTER_BUDGET_MS: a guest sent into the weeds costs time, never a hang.
 *
 * The RPC targets read their input as records (struct fz_record): which method of the
 * target's family, which live handles go into the request's handle fields, and the request's
 * protobuf bytes, which go through protobuf_c_message_unpack() with the method's descriptor
 * and then through the method's real handler (zxd_methods[i].fn, or zxd_stream_handle). The
 * response is packed as the transport would, then freed with zxd_response_free_extra().
 * Every handle an input creates is closed when the input ends, so the process does not
 * accumulate objects from one input to the next. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "daemon-internal.h"

#define FZ_MAX_HANDLES 16
#define FZ_MAX_OWNED 256
#define FZ_MAX_RECORDS 24
/* An enter longer than this is a guest that lost its way: the watchdog kicks it (targets
 * that run arbitrary guest code set a shorter fz.enter_budget_ms). */
#define FZ_ENTER_BUDGET_MS 50

/* Guest-physical layout of the fuzzing guest. */
#define FZ_RAM_SIZE (2ull << 20)
#define FZ_GUEST_ENTRY 0x10000ull
#define FZ_AP_ENTRY 0x8000ull       /* a real-mode loop for secondary VCPUs */
#define FZ_PT_END 0x6000ull
#define FZ_SCRATCH 0x100000ull      /* what the loop's store writes to, in RAM */
#define FZ_IO_PORT 0xf4             /* IO trap [0xf4, 0xf8), packets from enter */
#define FZ_MEM_TRAP 0x40000000ull   /* MEM trap, one page, past RAM */
#define FZ_BELL_TRAP 0x40001000ull  /* BELL trap, one page, to the bell port */

/* The daemon core everything runs against. */
struct fz_world {
	struct zxd_config cfg;
	struct zxd_session *session;
	kb_table *table;
	zx_handle_t resource;  /* the hypervisor resource of the session */
	zx_handle_t vmex;      /* the VMEX resource */
	uint64_t tid;          /* the client thread id the VCPU is bound to */
	atomic_bool cancelled; /* never set: no client cancels here */
	long enter_budget_ms;  /* the watchdog's, FZ_ENTER_BUDGET_MS unless a target says */
};

/* A guest with RAM, page tables, the loop code and its traps; optionally its VCPU. */
struct fz_guest {
	zx_handle_t guest, vmar, ram, bell_port, vcpu;
	uint32_t vcpu_creations; /* KVM never reuses a VCPU id within a VM: bounded */
};

/* The handles an input may name (dups of the world's, and what it created), and everything
 * to close when it ends. */
struct fz_handles {
	zx_handle_t h[FZ_MAX_HANDLES];
	uint32_t n;
	zx_handle_t owned[FZ_MAX_OWNED];
	uint32_t nowned;
};

extern struct fz_world fz;

/* Once per process: the session (kvm_backend must be usable: exits 0 with a note if not). */
void fz_init(void);
/* A new guest; on failure nothing of it is left and *g is zeroed. */
zx_status_t fz_guest_create(struct fz_guest *g, bool with_vcpu);
/* Make *g if it is not there yet (persistent guests); false: skip this input. */
bool fz_guest_ready(struct fz_guest *g, bool with_vcpu);
/* A fresh guest and VCPU (after the guest lost its way). */
zx_status_t fz_guest_reset_vcpu(struct fz_guest *g);
/* Clear what an input left in the VCPU: bells, pending vectors, a kick not yet consumed, its
 * registers, and RAM; or, when broken (or stopped by the watchdog), start afresh. */
void fz_guest_settle(struct fz_guest *g, bool broken);
/* Whether an enter's status says the guest may be unable to run on (a fault, a shutdown,
 * an unknown instruction), as opposed to an exit or a refused call. */
bool fz_enter_broke(int32_t st);
/* Drain the bell port (the loop's stores can ring the bell up to its budget). */
void fz_guest_drain(struct fz_guest *g);
void fz_guest_destroy(struct fz_guest *g);

/* Add a duplicate of base (same rights) to the selectable set; it is closed at the end. */
void fz_handles_add_dup(struct fz_handles *hs, zx_handle_t base);
/* Add a handle the input created. */
void fz_handles_add_new(struct fz_handles *hs, zx_handle_t h);
void fz_handles_close_all(struct fz_handles *hs);

/* The watchdog around an enter. */
void fz_watch_begin(void);
void fz_watch_end(void);
zx_status_t fz_enter(uint64_t tid, zx_handle_t vcpu, zx_port_packet_t *out);
/* Write the guest page tables and the loops (or, with code, that code at the BSP entry). */
zx_status_t fz_ram_fill(zx_handle_t ram, const uint8_t *code, size_t len);
/* Close g's VCPU and make a new one that is the BSP again (VPID 1: the harness resets the
 * guest's VPID hint), or a whole new guest when KVM's VCPU ids run low. */
zx_status_t fz_guest_new_bsp(struct fz_guest *g);

/* ---- the RPC records ---- */

struct fz_record {
	uint8_t op;      /* the method within the family (mod its count); bits 5-6: which tid */
	uint16_t hsel;   /* 4 bits per handle field in order: index into the set, 15 = as sent */
	const uint8_t *msg;
	size_t len;
};

/* Take the next record: op, hsel (2 bytes LE), len (2 bytes LE), then len bytes (clamped to
 * what is left). false when the input is used up. */
bool fz_next_record(const uint8_t **data, size_t *size, struct fz_record *r);
const struct zxd_method *fz_method(const char *name);
/* The tid a record runs as: the VCPU's own, or one of three others. */
uint64_t fz_record_tid(const struct fz_record *r);

/* Called between the decoding and the handler: a target's adjustments (PortWait: no
 * blocking). */
typedef void (*fz_fixup_fn)(ProtobufCMessage *req);

/* Decode r->msg with m's request descriptor, put the selected handles into its handle
 * fields, run m's handler on a fresh response, pack the response as the transport would,
 * and free everything. Handles the call created join hs. Returns the response status, or
 * INT32_MIN when the bytes did not decode. */
int32_t fz_call(const struct zxd_method *m, const struct fz_record *r, struct fz_handles *hs,
		fz_fixup_fn fixup);
/* The RPCs a target calls, by name (looked up on first use): a record's op, its low 5 bits
 * modulo the count, picks one. */
struct fz_methods {
	const char *const *names;
	size_t n;
	const struct zxd_method *m[32];
};
#define FZ_METHODS(names_)                                                                         \
	{                                                                                          \
		.names = (names_), .n = sizeof(names_) / sizeof((names_)[0])                       \
	}
const struct zxd_method *fz_pick(struct fz_methods *ms, const struct fz_record *r);
/* Every record of the input through the method it picks (fz_call). */
void fz_call_records(struct fz_methods *ms, const uint8_t *data, size_t size, struct fz_handles *hs,
		     fz_fixup_fn fixup);
/* Put the selected handles into every handle field of msg (and of its sub-messages but
 * port packets), in field order. */
void fz_select_handles(ProtobufCMessage *msg, uint16_t hsel, const struct fz_handles *hs);
/* Pack msg into a buffer and throw it away (what the transport does with a response). */
void fz_pack(const ProtobufCMessage *msg);

/* ---- the raw-parameter targets ---- */

struct fz_reader {
	const uint8_t *p;
	size_t n;
};

uint8_t fz_u8(struct fz_reader *rd);
uint16_t fz_u16(struct fz_reader *rd);
uint32_t fz_u32(struct fz_reader *rd);
uint64_t fz_u64(struct fz_reader *rd);
/* A size or offset: small, page-ish and huge values all reachable from a few bytes. */
uint64_t fz_size(struct fz_reader *rd);

/* An invariant the product broke: print and abort (libFuzzer keeps the input). */
#define FZ_CHECK(cond, ...)                                                                        \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "fuzz check failed at %s:%d: %s: ", __FILE__, __LINE__,    \
				#cond);                                                            \
			fprintf(stderr, __VA_ARGS__);                                              \
			fputc('\n', stderr);                                                       \
			abort();                                                                   \
		}                                                                                  \
	} while (0)
