/* The guest of the benchmarks that go through the public API (P1, P3, P4) or its wire messages
 * (P2): the `out` loop of bench-kvm.h, `1: out %al, $0x10; jmp 1b` in 64-bit long mode with
 * its identity page tables, and an IO trap on port 0x10 (spec §2.4, §3.2), so that every
 * zx_vcpu_enter ends in one ZX_PKT_TYPE_GUEST_IO packet. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <zircon/syscalls.h>

#include "bench-kvm.h"

/* The key of the IO trap on the loop's port, in every packet it gives. */
#define BENCH_GUEST_KEY 0x91u

/* Whether a packet is the loop's exit: GUEST_IO, the trap's key, port 0x10, 1 byte, out. */
bool bench_guest_packet_ok(const zx_port_packet_t *p);

struct bench_guest {
	zx_handle_t guest, vmar, vmo, vcpu;
};

#define BENCH_GUEST_INIT                                                                           \
	{                                                                                          \
		ZX_HANDLE_INVALID, ZX_HANDLE_INVALID, ZX_HANDLE_INVALID, ZX_HANDLE_INVALID         \
	}

/* Through the public API, on the calling thread: create the guest, its RAM VMO (made
 * executable), write the page tables and the code, map it, set the IO trap, create the VCPU
 * and enter it once, to its first exit (checked). Whatever was created is left in g for
 * bench_guest_destroy, also on failure; *out_what names the call that failed. */
zx_status_t bench_guest_create(zx_handle_t resource, struct bench_guest *g, const char **out_what);
/* The same with `code` at the entry and `key` on the trap (P1 runs both loops), stopping at
 * the first exit, which goes to *first unchecked. */
zx_status_t bench_guest_build(zx_handle_t resource, const uint8_t *code, size_t len, uint64_t key,
			      struct bench_guest *g, zx_port_packet_t *first,
			      const char **out_what);
/* Close every handle of g (VCPU first). */
void bench_guest_destroy(struct bench_guest *g);
