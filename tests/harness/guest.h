/* The guest harness (STYLE.md "Tests"): a guest with RAM at GPA 0, identity page tables for
 * the low 4 GiB at GPA 0 (as Zircon's VMM builds them, spec §7), guest code copied to
 * GUEST_ENTRY, and an IO trap on GUEST_EXIT_PORT that guest code writes to finish. Everything
 * goes through the public zx_* API, so the same tests run in process and through zxvmd. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <zircon/syscalls.h>

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

struct test_guest {
	zx_handle_t guest;
	zx_handle_t vmar;
	zx_handle_t vmo;  /* guest RAM */
	zx_handle_t vcpu; /* created on the calling thread by setup_guest() */
};

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
