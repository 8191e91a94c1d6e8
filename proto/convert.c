/* Conversions between Zircon's structs and the wire messages (field by field, named). */
#include <stdio.h>
#include <string.h>

#include <zircon/errors.h>

#include "zxvm-proto.h"

void zxp_packet_encode(const zx_port_packet_t *in, struct zxp_packet *out)
{
	memset(out, 0, sizeof(*out));
	zxvm__v1__port_packet__init(&out->msg);
	out->msg.key = in->key;
	out->msg.type = in->type;
	out->msg.status = in->status;
	switch (in->type) {
	case ZX_PKT_TYPE_GUEST_BELL:
		zxvm__v1__guest_bell_packet__init(&out->bell);
		out->bell.addr = in->guest_bell.addr;
		out->msg.payload_case = ZXVM__V1__PORT_PACKET__PAYLOAD_GUEST_BELL;
		out->msg.guest_bell = &out->bell;
		break;
	case ZX_PKT_TYPE_GUEST_MEM:
		zxvm__v1__guest_mem_packet__init(&out->mem);
		out->mem.addr = in->guest_mem.addr;
		out->mem.cr3 = in->guest_mem.cr3;
		out->mem.rip = in->guest_mem.rip;
		out->mem.instruction_size = in->guest_mem.instruction_size;
		out->mem.default_operand_size = in->guest_mem.default_operand_size;
		out->msg.payload_case = ZXVM__V1__PORT_PACKET__PAYLOAD_GUEST_MEM;
		out->msg.guest_mem = &out->mem;
		break;
	case ZX_PKT_TYPE_GUEST_IO:
		zxvm__v1__guest_io_packet__init(&out->io);
		out->io.port = in->guest_io.port;
		out->io.access_size = in->guest_io.access_size;
		out->io.input = in->guest_io.input;
		out->io.data = in->guest_io.u32;
		out->msg.payload_case = ZXVM__V1__PORT_PACKET__PAYLOAD_GUEST_IO;
		out->msg.guest_io = &out->io;
		break;
	case ZX_PKT_TYPE_GUEST_VCPU:
		zxvm__v1__guest_vcpu_packet__init(&out->vcpu);
		out->vcpu.type = in->guest_vcpu.type;
		if (in->guest_vcpu.type == ZX_PKT_GUEST_VCPU_INTERRUPT) {
			out->vcpu.mask = in->guest_vcpu.interrupt.mask;
			out->vcpu.vector = in->guest_vcpu.interrupt.vector;
		} else if (in->guest_vcpu.type == ZX_PKT_GUEST_VCPU_STARTUP) {
			out->vcpu.id = in->guest_vcpu.startup.id;
			out->vcpu.entry = in->guest_vcpu.startup.entry;
		} else {
			out->vcpu.retcode = in->guest_vcpu.exit.retcode;
		}
		out->msg.payload_case = ZXVM__V1__PORT_PACKET__PAYLOAD_GUEST_VCPU;
		out->msg.guest_vcpu = &out->vcpu;
		break;
	default:
		/* User packets, and any other type, carry the 32 payload bytes as they are. */
		zxvm__v1__user_packet__init(&out->user);
		memcpy(out->u64, in->user.u64, sizeof(out->u64));
		out->user.n_u64 = 4;
		out->user.u64 = out->u64;
		out->msg.payload_case = ZXVM__V1__PORT_PACKET__PAYLOAD_USER;
		out->msg.user = &out->user;
		break;
	}
}

zx_status_t zxp_packet_decode(const Zxvm__V1__PortPacket *in, zx_port_packet_t *out)
{
	memset(out, 0, sizeof(*out));
	out->key = in->key;
	out->type = in->type;
	out->status = in->status;
	switch (in->payload_case) {
	case ZXVM__V1__PORT_PACKET__PAYLOAD__NOT_SET:
		return ZX_OK;
	case ZXVM__V1__PORT_PACKET__PAYLOAD_USER:
		if (in->user->n_u64 > 4)
			return ZX_ERR_INVALID_ARGS;
		/* An empty repeated field decodes to a NULL array, which memcpy must not get. */
		if (in->user->n_u64)
			memcpy(out->user.u64, in->user->u64, in->user->n_u64 * sizeof(uint64_t));
		return ZX_OK;
	case ZXVM__V1__PORT_PACKET__PAYLOAD_GUEST_BELL:
		out->guest_bell.addr = in->guest_bell->addr;
		return ZX_OK;
	case ZXVM__V1__PORT_PACKET__PAYLOAD_GUEST_MEM:
		out->guest_mem.addr = in->guest_mem->addr;
		out->guest_mem.cr3 = in->guest_mem->cr3;
		out->guest_mem.rip = in->guest_mem->rip;
		out->guest_mem.instruction_size = (uint8_t)in->guest_mem->instruction_size;
		out->guest_mem.default_operand_size = (uint8_t)in->guest_mem->default_operand_size;
		return ZX_OK;
	case ZXVM__V1__PORT_PACKET__PAYLOAD_GUEST_IO:
		out->guest_io.port = (uint16_t)in->guest_io->port;
		out->guest_io.access_size = (uint8_t)in->guest_io->access_size;
		out->guest_io.input = in->guest_io->input;
		out->guest_io.u32 = in->guest_io->data;
		return ZX_OK;
	case ZXVM__V1__PORT_PACKET__PAYLOAD_GUEST_VCPU:
		out->guest_vcpu.type = in->guest_vcpu->type;
		if (in->guest_vcpu->type == ZX_PKT_GUEST_VCPU_INTERRUPT) {
			out->guest_vcpu.interrupt.mask = in->guest_vcpu->mask;
			out->guest_vcpu.interrupt.vector = (uint8_t)in->guest_vcpu->vector;
		} else if (in->guest_vcpu->type == ZX_PKT_GUEST_VCPU_STARTUP) {
			out->guest_vcpu.startup.id = in->guest_vcpu->id;
			out->guest_vcpu.startup.entry = in->guest_vcpu->entry;
		} else {
			out->guest_vcpu.exit.retcode = in->guest_vcpu->retcode;
		}
		return ZX_OK;
	default:
		return ZX_ERR_INVALID_ARGS;
	}
}

#define STATE_FIELDS(X)                                                                            \
	X(rax) X(rcx) X(rdx) X(rbx) X(rsp) X(rbp) X(rsi) X(rdi) X(r8) X(r9) X(r10) X(r11) X(r12)   \
	X(r13) X(r14) X(r15) X(rflags)

void zxp_state_encode(const zx_vcpu_state_t *in, Zxvm__V1__VcpuState *out)
{
	zxvm__v1__vcpu_state__init(out);
#define ENC(f) out->f = in->f;
	STATE_FIELDS(ENC)
#undef ENC
}

void zxp_state_decode(const Zxvm__V1__VcpuState *in, zx_vcpu_state_t *out)
{
	memset(out, 0, sizeof(*out));
	if (!in)
		return;
#define DEC(f) out->f = in->f;
	STATE_FIELDS(DEC)
#undef DEC
}

const char *zxp_method_path(unsigned index)
{
	static char paths[64][64];
	const ProtobufCServiceDescriptor *d = &zxvm__v1__hypervisor__descriptor;
	if (index >= d->n_methods || index >= 64)
		return NULL;
	if (!paths[index][0])
		snprintf(paths[index], sizeof(paths[index]), "/%s/%s", d->name,
			 d->methods[index].name);
	return paths[index];
}
