/* The guest harness (STYLE.md "Tests"): a guest with RAM at GPA 0, identity page tables for
 * the low 4 GiB at GPA 0 (as Zircon's VMM builds them, spec §7), guest code copied to
 * GUEST_ENTRY, and an IO trap on GUEST_EXIT_PORT that guest code writes to finish. Everything
 * goes through the public zx_* API, so the same tests run in process and through zxvmd. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <zircon/syscalls.h>

#include "test.h"

#define GUEST_RAM_SIZE (2u << 20)     /* 2 MiB at GPA 0 */
#define GUEST_ENTRY 0x10000u          /* where guest code is copied and the BSP starts */
#define GUEST_STACK_TOP 0x1ff000u     /* guest code that needs a stack loads this into rsp */
#define GUEST_EXIT_PORT 0xf4u         /* `out %al, $0xf4` ends a guest test */
#define GUEST_EXIT_KEY 0xe517u        /* the key of the exit trap */
/* Page tables: PML4 0x0, PDPT 0x1000, four PDs 0x2000-0x5fff (2 MiB pages, 4 GiB). */
#define GUEST_PT_END 0x6000u

/* The code of a guest function from tests/guest/ (GUEST_CODE(name) → start, length). */
#define GUEST_CODE(name)                                                                           \
	({                                                                                         \
		extern const uint8_t name##_start[], name##_end[];                                 \
		(struct guest_code){name##_start, (size_t)(name##_end - name##_start)};            \
	})

struct guest_code {
	const uint8_t *bytes;
	size_t len;
};

/* Where a label of a guest function (made global with AT in tests/guest/) is once loaded: its
 * offset from the function's start, that plus GUEST_ENTRY, and the length of the instruction
 * between `label` and `label`_end. */
#define LABEL_OFF(name, label)                                                                     \
	({                                                                                         \
		extern const uint8_t name##_start[], label[];                                      \
		(uint64_t)(label - name##_start);                                                  \
	})
#define GUEST_LABEL(name, label) ((uint64_t)GUEST_ENTRY + LABEL_OFF(name, label))
#define LABEL_LEN(label)                                                                           \
	({                                                                                         \
		extern const uint8_t label[], label##_end[];                                       \
		(uint64_t)(label##_end - label);                                                   \
	})
/* The bytes of the instruction at `label`, as assembled. */
#define LABEL_BYTES(label)                                                                         \
	({                                                                                         \
		extern const uint8_t label[];                                                      \
		(const uint8_t *)label;                                                            \
	})

struct test_guest {
	zx_handle_t guest;
	zx_handle_t vmar;
	zx_handle_t vmo;  /* guest RAM */
	zx_handle_t vcpu; /* created on the calling thread by setup_guest() */
};

/* A guest that is torn down however the test returns, so that a failed assertion does not leave
 * a VCPU bound to this thread for the next test. */
#define AUTO_GUEST struct test_guest __attribute__((cleanup(teardown_guest)))

/* Build a guest with code at GUEST_ENTRY and a VCPU on this thread. ZX_OK or the failing
 * call's status (also reported as a test failure). */
zx_status_t setup_guest(struct test_guest *g, struct guest_code code);
/* The same without the VCPU (for tests that create it themselves). */
zx_status_t setup_guest_no_vcpu(struct test_guest *g, struct guest_code code);
/* Enter until the exit port is written; anything else is a test failure. */
zx_status_t enter_and_clean_exit(struct test_guest *g);
/* Close every handle of g. */
void teardown_guest(struct test_guest *g);
/* Read the registers / write them back (ZX_VCPU_STATE). */
zx_status_t read_regs(struct test_guest *g, zx_vcpu_state_t *out);
zx_status_t write_regs(struct test_guest *g, const zx_vcpu_state_t *s);
/* Printable name of a packet type, for messages. */
const char *packet_type_name(uint32_t type);

/* What a GUEST_MEM packet must hold (spec §3.1): status ZX_OK, the trap's key, the address, CR3
 * 0 (the harness's page tables), the RIP and length of the instruction and the default operand
 * size of its code segment. */
struct mem_want {
	uint64_t key;
	uint64_t addr;
	uint64_t rip;
	uint64_t len;
	uint8_t default_operand_size;
	const uint8_t *insn; /* if set: the bytes the VMM fetches from (cr3, rip, len) */
};

/* A test failure at file:line for each field of p that is not as w says. */
void expect_mem_packet_at(const char *file, int line, struct test_guest *g,
			  const zx_port_packet_t *p, const struct mem_want *w);
/* Enter once per element of w and expect its packet; false (and a test failure) when an enter
 * fails, so that the caller stops. */
bool expect_mem_exits_at(const char *file, int line, struct test_guest *g, const struct mem_want *w,
			 size_t n);

#define ASSERT_MEM_EXITS(g, want)                                                                  \
	do {                                                                                       \
		if (!expect_mem_exits_at(__FILE__, __LINE__, (g), (want), ARRAY_SIZE(want)))       \
			return;                                                                    \
	} while (0)

/* A secondary VCPU run as Fuchsia's VMM runs one (spec §5.2, §7): created on a thread of its
 * own at its entry, its initial state read, then entered until the exit port, a failed enter or
 * AP_MAX_PACKETS packets; then closed. */
#define AP_MAX_PACKETS 8

struct ap_run {
	zx_status_t create_st;
	zx_status_t read_st;  /* of ZX_VCPU_STATE into `initial` */
	zx_status_t enter_st; /* of the last enter */
	zx_vcpu_state_t initial;
	size_t n; /* the packets of the enters that succeeded, the exit port's included */
	zx_port_packet_t p[AP_MAX_PACKETS];
	bool exited; /* p[n - 1] is the exit port's */
};

/* Copy `code` to `entry` in g's RAM and run a VCPU there on a new thread, to its end; ZX_OK
 * once it ran (what it saw is in *out), or why it could not. */
zx_status_t run_ap(struct test_guest *g, struct guest_code code, uint64_t entry,
		   struct ap_run *out);

/* The zx_port_wait deadline `ms` from now. */
zx_time_t deadline_after_ms(int64_t ms);
