/* proto: the generated wire messages, and their conversion to and from Zircon's structs,
 * shared by the daemon and the client library. */
#pragma once

#include <limits.h>

#include <zircon/syscalls.h>
#include <zircon/syscalls/port.h>

#include "zxvm/v1/hypervisor.pb-c.h"
#include "grpc/health/v1/health.pb-c.h"

/* A PortPacket message with storage for whichever payload it carries. */
struct zxp_packet {
	Zxvm__V1__PortPacket msg;
	union {
		Zxvm__V1__UserPacket user;
		Zxvm__V1__GuestBellPacket bell;
		Zxvm__V1__GuestMemPacket mem;
		Zxvm__V1__GuestIoPacket io;
		Zxvm__V1__GuestVcpuPacket vcpu;
	};
	uint64_t u64[4];
};

/* Fill out->msg from a packet; out must outlive every use of out->msg. */
void zxp_packet_encode(const zx_port_packet_t *in, struct zxp_packet *out);
/* ZX_ERR_INVALID_ARGS for a payload that does not fit its type (a malformed message). */
zx_status_t zxp_packet_decode(const Zxvm__V1__PortPacket *in, zx_port_packet_t *out);

void zxp_state_encode(const zx_vcpu_state_t *in, Zxvm__V1__VcpuState *out);
void zxp_state_decode(const Zxvm__V1__VcpuState *in, zx_vcpu_state_t *out);

/* "/zxvm.v1.Hypervisor/<Method>" for a method index of the service descriptor. */
const char *zxp_method_path(unsigned index);
