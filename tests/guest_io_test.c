/* IO traps: packets for out and in of every size, in results through ZX_VCPU_IO (spec §3.2). */
#include <string.h>

#include "harness/guest.h"
#include "harness/test.h"

TEST(io_out_packets)
{
	struct test_guest g;
	ASSERT_OK(setup_guest(&g, GUEST_CODE(guest_io_out)));
	ASSERT_OK(zx_guest_set_trap(g.guest, ZX_GUEST_TRAP_IO, 0x10, 8, ZX_HANDLE_INVALID, 42));
	static const struct {
		uint16_t port;
		uint8_t size;
		uint32_t data;
	} want[] = {{0x10, 1, 0xab}, {0x12, 2, 0x1234}, {0x14, 4, 0xdeadbeef}};
	for (size_t i = 0; i < 3; i++) {
		zx_port_packet_t p;
		ASSERT_OK(zx_vcpu_enter(g.vcpu, &p));
		EXPECT_EQ(ZX_PKT_TYPE_GUEST_IO, p.type);
		EXPECT_EQ(42, p.key);
		EXPECT_EQ(ZX_OK, p.status);
		EXPECT_EQ(want[i].port, p.guest_io.port);
		EXPECT_EQ(want[i].size, p.guest_io.access_size);
		EXPECT_EQ(0, p.guest_io.input);
		uint32_t data = 0;
		memcpy(&data, p.guest_io.data, want[i].size);
		EXPECT_EQ(want[i].data, data);
	}
	ASSERT_OK(enter_and_clean_exit(&g));
	teardown_guest(&g);
}

TEST(io_in_results)
{
	struct test_guest g;
	ASSERT_OK(setup_guest(&g, GUEST_CODE(guest_io_in)));
	ASSERT_OK(zx_guest_set_trap(g.guest, ZX_GUEST_TRAP_IO, 0x20, 8, ZX_HANDLE_INVALID, 7));
	static const uint8_t sizes[] = {1, 2, 4};
	for (size_t i = 0; i < 3; i++) {
		zx_port_packet_t p;
		ASSERT_OK(zx_vcpu_enter(g.vcpu, &p));
		ASSERT_EQ(ZX_PKT_TYPE_GUEST_IO, p.type);
		EXPECT_EQ(1, p.guest_io.input);
		EXPECT_EQ(sizes[i], p.guest_io.access_size);
		zx_vcpu_io_t io = {.access_size = sizes[i], .u32 = 0xa1b2c3d4};
		ASSERT_OK(zx_vcpu_write_state(g.vcpu, ZX_VCPU_IO, &io, sizeof(io)));
	}
	ASSERT_OK(enter_and_clean_exit(&g));
	zx_vcpu_state_t s;
	ASSERT_OK(read_regs(&g, &s));
	EXPECT_EQ(0x11223344556677d4ull, s.rbx); /* 1 byte: upper bytes kept */
	EXPECT_EQ(0x112233445566c3d4ull, s.rcx); /* 2 bytes */
	EXPECT_EQ(0xa1b2c3d4ull, s.rdx);         /* 4 bytes zero-extend */
	teardown_guest(&g);
}
