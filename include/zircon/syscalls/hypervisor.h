/* Guest and VCPU types for zx_guest_* and zx_vcpu_* (spec §1.7, newest).
 *
 * Layouts are ABI: x86-64 zx_vcpu_state_t is 136 bytes, arm64 264, zx_vcpu_io_t 8
 * (tests/unit/abi_test.c checks every offset). */
#pragma once

#include <zircon/types.h>

/* zx_guest_create() options. zxvm rejects DIRECT with ZX_ERR_NOT_SUPPORTED (spec scope). */
typedef uint32_t zx_guest_option_t;
#define ZX_GUEST_OPT_NORMAL ((zx_guest_option_t)0u)
#define ZX_GUEST_OPT_DIRECT ((zx_guest_option_t)1u)

/* zx_guest_set_trap() kinds. BELL and MEM share one guest-physical address space; IO is x86
 * port space. */
typedef uint32_t zx_guest_trap_t;
#define ZX_GUEST_TRAP_BELL ((zx_guest_trap_t)0u)
#define ZX_GUEST_TRAP_MEM ((zx_guest_trap_t)1u)
#define ZX_GUEST_TRAP_IO ((zx_guest_trap_t)2u)

/* zx_vcpu_read_state()/zx_vcpu_write_state() kinds. */
typedef uint32_t zx_vcpu_state_topic_t;
#define ZX_VCPU_STATE ((zx_vcpu_state_topic_t)0u)
#define ZX_VCPU_IO ((zx_vcpu_state_topic_t)1u)

/* The general-purpose registers a VMM may read and write. */
typedef struct zx_vcpu_state {
#if defined(__aarch64__)
	uint64_t x[31];
	uint64_t sp;
	/* Only the user-controllable top four bits (NZCV) are meaningful. */
	uint32_t cpsr;
	uint8_t padding1[4];
#elif defined(__x86_64__)
	/* Instruction-encoding register order (0 = rax, 1 = rcx, ...), not pusha order. */
	uint64_t rax;
	uint64_t rcx;
	uint64_t rdx;
	uint64_t rbx;
	uint64_t rsp;
	uint64_t rbp;
	uint64_t rsi;
	uint64_t rdi;
	uint64_t r8;
	uint64_t r9;
	uint64_t r10;
	uint64_t r11;
	uint64_t r12;
	uint64_t r13;
	uint64_t r14;
	uint64_t r15;
	/* Only the user-controllable lower 32 bits are meaningful; a write applies them only when
	 * the always-one bit 1 is set, so 0 means "leave RFLAGS alone" (spec §2.8). */
	uint64_t rflags;
#else
	uint32_t empty;
#endif
} zx_vcpu_state_t;

/* The result of a guest IN instruction, written with ZX_VCPU_IO (x86 only). */
typedef struct zx_vcpu_io {
	uint8_t access_size;
	uint8_t padding1[3];
	__ZX_EXTENSION union {
		__ZX_EXTENSION struct {
			uint8_t u8;
			uint8_t padding2[3];
		};
		__ZX_EXTENSION struct {
			uint16_t u16;
			uint8_t padding3[2];
		};
		uint32_t u32;
		uint8_t data[4];
	};
} zx_vcpu_io_t;
