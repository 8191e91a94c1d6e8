/* Port packets, including the hypervisor packets zx_vcpu_enter() and bell traps produce
 * (spec §1.8, newest layouts).
 *
 * zx_port_packet_t is 48 bytes: key, type, status, then a 32-byte union every member of which
 * is exactly 32 bytes (tests/unit/abi_test.c checks the offsets). */
#pragma once

#include <stdbool.h>

#include <zircon/types.h>

/* zx_port_packet_t.type. 0x02 is skipped: it was the retired ZX_PKT_TYPE_SIGNAL_REP. */
#define ZX_PKT_TYPE_USER ((zx_packet_type_t)0x00u)
#define ZX_PKT_TYPE_SIGNAL_ONE ((zx_packet_type_t)0x01u)
#define ZX_PKT_TYPE_GUEST_BELL ((zx_packet_type_t)0x03u)
#define ZX_PKT_TYPE_GUEST_MEM ((zx_packet_type_t)0x04u)
#define ZX_PKT_TYPE_GUEST_IO ((zx_packet_type_t)0x05u)
#define ZX_PKT_TYPE_GUEST_VCPU ((zx_packet_type_t)0x06u)
#define ZX_PKT_TYPE_INTERRUPT ((zx_packet_type_t)0x07u)
#define ZX_PKT_TYPE_PAGE_REQUEST ((zx_packet_type_t)0x09u)

/* zx_port_create() options. */
#define ZX_PORT_BIND_TO_INTERRUPT ((uint32_t)(0x1u << 0))

#define ZX_PKT_IS_GUEST_BELL(type) ((type) == ZX_PKT_TYPE_GUEST_BELL)
#define ZX_PKT_IS_GUEST_MEM(type) ((type) == ZX_PKT_TYPE_GUEST_MEM)
#define ZX_PKT_IS_GUEST_IO(type) ((type) == ZX_PKT_TYPE_GUEST_IO)
#define ZX_PKT_IS_GUEST_VCPU(type) ((type) == ZX_PKT_TYPE_GUEST_VCPU)

/* zx_packet_guest_vcpu_t.type */
#define ZX_PKT_GUEST_VCPU_INTERRUPT ((uint32_t)0)
#define ZX_PKT_GUEST_VCPU_STARTUP ((uint32_t)1)
#define ZX_PKT_GUEST_VCPU_EXIT ((uint32_t)2)

typedef union zx_packet_user {
	uint64_t u64[4];
	uint32_t u32[8];
	uint16_t u16[16];
	uint8_t c8[32];
} zx_packet_user_t;

typedef struct zx_packet_signal {
	zx_signals_t trigger;
	zx_signals_t observed;
	uint64_t count;
	uint64_t timestamp;
	uint64_t reserved1;
} zx_packet_signal_t;

/* A guest write to a bell trap; addr is the exact faulting guest-physical address. */
typedef struct zx_packet_guest_bell {
	zx_gpaddr_t addr;
	uint64_t reserved0;
	uint64_t reserved1;
	uint64_t reserved2;
} zx_packet_guest_bell_t;

/* A guest access to a MEM trap. The faulting instruction has already been retired when the
 * packet is returned (spec §2.4). */
typedef struct zx_packet_guest_mem {
	zx_gpaddr_t addr;
#if defined(__aarch64__)
	uint8_t access_size;
	bool sign_extend;
	uint8_t xt;
	bool read;
	uint8_t padding1[4];
	uint64_t data;
	uint64_t reserved;
#elif defined(__x86_64__)
	/* x86 carries no decoded access: the VMM fetches instruction_size bytes at rip by walking
	 * the guest page tables from cr3, and decodes them itself (spec §3.1). */
	zx_gpaddr_t cr3;
	zx_vaddr_t rip;
	uint8_t instruction_size;
	/* From CS and EFER (Intel SDM Vol. 3, 5.2.1): 4 in 64-bit mode, even for instructions
	 * whose real default is 8. */
	uint8_t default_operand_size;
	uint8_t reserved[6];
#else
	uint64_t reserved[3];
#endif
} zx_packet_guest_mem_t;

/* A guest IN or OUT on an IO trap (x86). For OUT, data holds the low access_size bytes of
 * RAX; for IN it is zero and the VMM answers with ZX_VCPU_IO. */
typedef struct zx_packet_guest_io {
	uint16_t port;
	uint8_t access_size;
	bool input;
	__ZX_EXTENSION union {
		__ZX_EXTENSION struct {
			uint8_t u8;
			uint8_t padding1[3];
		};
		__ZX_EXTENSION struct {
			uint16_t u16;
			uint8_t padding2[2];
		};
		uint32_t u32;
		uint8_t data[4];
	};
	uint64_t reserved0;
	uint64_t reserved1;
	uint64_t reserved2;
} zx_packet_guest_io_t;

/* A request the VMM must carry out for the guest: an IPI, a CPU start-up, or (direct mode
 * only) an exit. The kernel zeroes the packet first, so key is 0. */
typedef struct zx_packet_guest_vcpu {
	uint32_t type;
	uint8_t padding1[4];
	__ZX_EXTENSION union {
		struct {
			uint64_t mask;
			uint8_t vector;
			uint8_t padding1[7];
		} interrupt;
		struct {
			uint64_t id;
			zx_gpaddr_t entry;
		} startup;
		struct {
			int64_t retcode;
			uint64_t reserved;
		} exit;
	};
	uint64_t reserved;
} zx_packet_guest_vcpu_t;

typedef struct zx_packet_interrupt {
	zx_time_t timestamp;
	uint64_t reserved0;
	uint64_t reserved1;
	uint64_t reserved2;
} zx_packet_interrupt_t;

typedef struct zx_packet_page_request {
	uint16_t command;
	uint16_t flags;
	uint32_t reserved0;
	uint64_t offset;
	uint64_t length;
	uint64_t reserved1;
} zx_packet_page_request_t;

typedef struct zx_port_packet {
	uint64_t key;
	zx_packet_type_t type;
	zx_status_t status;
	__ZX_EXTENSION union {
		zx_packet_user_t user;
		zx_packet_signal_t signal;
		zx_packet_guest_bell_t guest_bell;
		zx_packet_guest_mem_t guest_mem;
		zx_packet_guest_io_t guest_io;
		zx_packet_guest_vcpu_t guest_vcpu;
		zx_packet_interrupt_t interrupt;
		zx_packet_page_request_t page_request;
	};
} zx_port_packet_t;
