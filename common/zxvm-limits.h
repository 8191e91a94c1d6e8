/* Every limit a client can reach, with its default, in one place (STYLE.md "Ownership").
 * The daemon's config file overrides each of them; docs/limits.md lists them. */
#pragma once

#include <stdint.h>

struct zxvm_limits {
	uint32_t max_handles;         /* handles in one handle table (session) */
	uint32_t max_guests;          /* live guests created through one table */
	uint32_t max_vcpus_per_guest; /* Zircon's VPID space allows 63 */
	uint32_t max_traps_per_guest; /* trap ranges registered on one guest */
	uint32_t max_ports;           /* ports created through one table */
	uint32_t max_port_packets;    /* user packets queued on one port */
	uint64_t max_vmo_bytes;       /* the largest single VMO */
	uint64_t max_memory_bytes;    /* all VMO bytes created through one table */
	uint32_t max_mappings_per_guest; /* memslots used by one guest */
};

#define ZXVM_DEFAULT_MAX_HANDLES 4096u
#define ZXVM_DEFAULT_MAX_GUESTS 64u
#define ZXVM_DEFAULT_MAX_VCPUS_PER_GUEST 63u
#define ZXVM_DEFAULT_MAX_TRAPS_PER_GUEST 1024u
#define ZXVM_DEFAULT_MAX_PORTS 256u
/* The per-port user-packet budget of Zircon (spec §4, zx_port_queue: 16384 / 8). */
#define ZXVM_DEFAULT_MAX_PORT_PACKETS 2048u
#define ZXVM_DEFAULT_MAX_VMO_BYTES (16ull << 30)
#define ZXVM_DEFAULT_MAX_MEMORY_BYTES (64ull << 30)
#define ZXVM_DEFAULT_MAX_MAPPINGS_PER_GUEST 512u

static inline struct zxvm_limits zxvm_limits_default(void)
{
	return (struct zxvm_limits){
		.max_handles = ZXVM_DEFAULT_MAX_HANDLES,
		.max_guests = ZXVM_DEFAULT_MAX_GUESTS,
		.max_vcpus_per_guest = ZXVM_DEFAULT_MAX_VCPUS_PER_GUEST,
		.max_traps_per_guest = ZXVM_DEFAULT_MAX_TRAPS_PER_GUEST,
		.max_ports = ZXVM_DEFAULT_MAX_PORTS,
		.max_port_packets = ZXVM_DEFAULT_MAX_PORT_PACKETS,
		.max_vmo_bytes = ZXVM_DEFAULT_MAX_VMO_BYTES,
		.max_memory_bytes = ZXVM_DEFAULT_MAX_MEMORY_BYTES,
		.max_mappings_per_guest = ZXVM_DEFAULT_MAX_MAPPINGS_PER_GUEST,
	};
}
