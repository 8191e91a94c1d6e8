/* Compile-only check that the public headers are strict C99 (STYLE.md: C99 in public headers).
 *
 * Built with -std=c99 -pedantic-errors; it also touches the anonymous union members, because
 * those are where a C11 construct would slip in. */
#include <zircon/syscalls.h>

/* C99 has no _Static_assert; a negative array size fails the build instead. */
typedef char abi_c99_packet_size[sizeof(zx_port_packet_t) == 48 ? 1 : -1];
typedef char abi_c99_io_size[sizeof(zx_vcpu_io_t) == 8 ? 1 : -1];

uint32_t abi_c99_touch(zx_port_packet_t *packet, zx_vcpu_io_t *io);

uint32_t abi_c99_touch(zx_port_packet_t *packet, zx_vcpu_io_t *io)
{
	io->u8 = packet->guest_io.u8;
	io->u16 = packet->guest_io.u16;
	io->data[3] = packet->guest_io.data[3];
	packet->guest_vcpu.startup.entry = packet->guest_bell.addr;
	return io->u32 + packet->guest_io.u32 + packet->guest_vcpu.interrupt.vector;
}
