/* The documented errors and rules of the calls beside the hypervisor (spec §4): VMOs, the
 * guest-physical VMAR, ports, handles and zx_object_get_info, through the public API only. */
#include <pthread.h>
#include <string.h>
#include <time.h>

#include "harness/objects.h"
#include "harness/test.h"

#define PORT_USER_PACKETS 2048 /* per-port budget (spec §4, zx_port_queue) */
#define R ZX_VM_PERM_READ
#define W ZX_VM_PERM_WRITE
#define X ZX_VM_PERM_EXECUTE

static zx_status_t basic_info(zx_handle_t h, zx_info_handle_basic_t *out)
{
	return zx_object_get_info(h, ZX_INFO_HANDLE_BASIC, out, sizeof(*out), NULL, NULL);
}

/* The rights of h, or 0 when h is not a valid handle. */
static zx_rights_t rights_of(zx_handle_t h)
{
	zx_info_handle_basic_t info;
	return basic_info(h, &info) == ZX_OK ? info.rights : 0;
}

static bool handle_valid(zx_handle_t h)
{
	return zx_object_get_info(h, ZX_INFO_HANDLE_VALID, NULL, 0, NULL, NULL) == ZX_OK;
}

/* An executable VMO (spec §1.5: older kernels accept ZX_HANDLE_INVALID as vmex). */
static zx_status_t exec_vmo_create(uint64_t size, zx_handle_t *out)
{
	zx_handle_t vmo;
	zx_status_t st = zx_vmo_create(size, 0, &vmo);
	if (st != ZX_OK)
		return st;
	return zx_vmo_replace_as_executable(vmo, ZX_HANDLE_INVALID, out);
}

static zx_time_t now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (zx_time_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ---- VMOs ---- */

TEST(vmo_create_errors)
{
	zx_handle_t vmo;
	EXPECT_STATUS(ZX_ERR_INVALID_ARGS, zx_vmo_create(PAGE, 1u << 0, &vmo));
	EXPECT_STATUS(ZX_ERR_INVALID_ARGS, zx_vmo_create(PAGE, 1u << 3, &vmo));
	EXPECT_STATUS(ZX_ERR_INVALID_ARGS, zx_vmo_create(PAGE, UINT32_MAX, &vmo));
	EXPECT_STATUS(ZX_ERR_INVALID_ARGS, zx_vmo_create(PAGE, 0, NULL));
	EXPECT_STATUS(ZX_ERR_OUT_OF_RANGE, zx_vmo_create(UINT64_MAX, 0, &vmo));
	EXPECT_STATUS(ZX_ERR_OUT_OF_RANGE, zx_vmo_create(UINT64_MAX - PAGE + 2, 0, &vmo));
	/* The valid options. */
	ASSERT_OK(zx_vmo_create(PAGE, ZX_VMO_RESIZABLE, &vmo));
	zx_handle_close(vmo);
	ASSERT_OK(zx_vmo_create(PAGE, ZX_VMO_DISCARDABLE, &vmo));
	zx_handle_close(vmo);
	ASSERT_OK(zx_vmo_create(0, 0, &vmo));
	zx_handle_close(vmo);
}

TEST(vmo_size_is_rounded_up_and_zeroed)
{
	zx_handle_t vmo;
	ASSERT_OK(zx_vmo_create(1, 0, &vmo));
	uint8_t page[PAGE];
	memset(page, 0xcc, sizeof(page));
	EXPECT_STATUS(ZX_OK, zx_vmo_read(vmo, page, 0, PAGE));
	uint8_t zero[PAGE] = {0};
	EXPECT_TRUE(memcmp(page, zero, PAGE) == 0);
	EXPECT_STATUS(ZX_ERR_OUT_OF_RANGE, zx_vmo_read(vmo, page, 1, PAGE));
	EXPECT_STATUS(ZX_ERR_OUT_OF_RANGE, zx_vmo_read(vmo, page, PAGE, 1));
	zx_handle_close(vmo);
	/* A zero-sized VMO holds nothing, but a zero-sized read of it is fine. */
	ASSERT_OK(zx_vmo_create(0, 0, &vmo));
	EXPECT_STATUS(ZX_OK, zx_vmo_read(vmo, page, 0, 0));
	EXPECT_STATUS(ZX_ERR_OUT_OF_RANGE, zx_vmo_read(vmo, page, 0, 1));
	zx_handle_close(vmo);
}

TEST(vmo_read_write_ranges)
{
	zx_handle_t vmo;
	ASSERT_OK(zx_vmo_create(2 * PAGE, 0, &vmo));
	const uint8_t data[4] = {1, 2, 3, 4};
	uint8_t back[4] = {0};
	EXPECT_STATUS(ZX_OK, zx_vmo_write(vmo, data, 2 * PAGE - 4, 4));
	EXPECT_STATUS(ZX_OK, zx_vmo_read(vmo, back, 2 * PAGE - 4, 4));
	EXPECT_TRUE(memcmp(data, back, 4) == 0);
	/* Past the end, offset + size overflowing, offset past the end even with size 0. */
	EXPECT_STATUS(ZX_ERR_OUT_OF_RANGE, zx_vmo_write(vmo, data, 2 * PAGE - 3, 4));
	EXPECT_STATUS(ZX_ERR_OUT_OF_RANGE, zx_vmo_read(vmo, back, 2 * PAGE - 3, 4));
	EXPECT_STATUS(ZX_ERR_OUT_OF_RANGE, zx_vmo_read(vmo, back, UINT64_MAX - 1, 4));
	EXPECT_STATUS(ZX_ERR_OUT_OF_RANGE, zx_vmo_write(vmo, data, UINT64_MAX - 1, 4));
	EXPECT_STATUS(ZX_ERR_OUT_OF_RANGE, zx_vmo_read(vmo, back, 2 * PAGE + 1, 0));
	EXPECT_STATUS(ZX_OK, zx_vmo_read(vmo, back, 2 * PAGE, 0));
	/* A failed write changed nothing. */
	const uint8_t other[4] = {9, 9, 9, 9};
	EXPECT_STATUS(ZX_ERR_OUT_OF_RANGE, zx_vmo_write(vmo, other, 2 * PAGE - 2, 4));
	EXPECT_STATUS(ZX_OK, zx_vmo_read(vmo, back, 2 * PAGE - 4, 4));
	EXPECT_TRUE(memcmp(data, back, 4) == 0);
	/* A bad buffer. */
	EXPECT_STATUS(ZX_ERR_INVALID_ARGS, zx_vmo_read(vmo, NULL, 0, 4));
	EXPECT_STATUS(ZX_ERR_INVALID_ARGS, zx_vmo_write(vmo, NULL, 0, 4));
	zx_handle_close(vmo);
}

TEST(vmo_read_write_handle_errors)
{
	zx_handle_t vmo, port, noread, nowrite;
	uint8_t buf[8] = {0};
	ASSERT_OK(zx_vmo_create(PAGE, 0, &vmo));
	ASSERT_OK(zx_port_create(0, &port));
	EXPECT_STATUS(ZX_ERR_BAD_HANDLE, zx_vmo_read(ZX_HANDLE_INVALID, buf, 0, 8));
	EXPECT_STATUS(ZX_ERR_BAD_HANDLE, zx_vmo_write(MADE_UP_HANDLE, buf, 0, 8));
	EXPECT_STATUS(ZX_ERR_WRONG_TYPE, zx_vmo_read(port, buf, 0, 8));
	EXPECT_STATUS(ZX_ERR_WRONG_TYPE, zx_vmo_write(port, buf, 0, 8));
	/* Rights reduced with zx_handle_replace. */
	zx_handle_t dup;
	ASSERT_OK(zx_handle_duplicate(vmo, ZX_RIGHT_SAME_RIGHTS, &dup));
	ASSERT_OK(zx_handle_replace(dup, ZX_DEFAULT_VMO_RIGHTS & ~ZX_RIGHT_READ, &noread));
	ASSERT_OK(zx_handle_duplicate(vmo, ZX_RIGHT_SAME_RIGHTS, &dup));
	ASSERT_OK(zx_handle_replace(dup, ZX_DEFAULT_VMO_RIGHTS & ~ZX_RIGHT_WRITE, &nowrite));
	EXPECT_STATUS(ZX_ERR_ACCESS_DENIED, zx_vmo_read(noread, buf, 0, 8));
	EXPECT_STATUS(ZX_OK, zx_vmo_write(noread, buf, 0, 8));
	EXPECT_STATUS(ZX_ERR_ACCESS_DENIED, zx_vmo_write(nowrite, buf, 0, 8));
	EXPECT_STATUS(ZX_OK, zx_vmo_read(nowrite, buf, 0, 8));
	/* The right is checked before the range. */
	EXPECT_STATUS(ZX_ERR_ACCESS_DENIED, zx_vmo_read(noread, buf, 2 * PAGE, 8));
	zx_handle_close(noread);
	zx_handle_close(nowrite);
	zx_handle_close(port);
	zx_handle_close(vmo);
}

TEST(vmo_replace_as_executable_ok)
{
	zx_handle_t vmo, exec;
	ASSERT_OK(zx_vmo_create(PAGE, 0, &vmo));
	const uint32_t magic = 0x600df00d;
	ASSERT_OK(zx_vmo_write(vmo, &magic, 0, sizeof(magic)));
	ASSERT_OK(zx_vmo_replace_as_executable(vmo, ZX_HANDLE_INVALID, &exec));
	EXPECT_TRUE(!handle_valid(vmo));
	EXPECT_EQ(ZX_DEFAULT_VMO_RIGHTS | ZX_RIGHT_EXECUTE, rights_of(exec));
	/* The same VMO, not a copy. */
	uint32_t back = 0;
	EXPECT_STATUS(ZX_OK, zx_vmo_read(exec, &back, 0, sizeof(back)));
	EXPECT_EQ(magic, back);
	zx_handle_close(exec);
}

TEST(vmo_replace_as_executable_consumes_on_error)
{
	zx_handle_t vmo, out = ZX_HANDLE_INVALID, port;
	ASSERT_OK(zx_port_create(0, &port));
	/* A vmex of the wrong kind: the hypervisor resource is SYSTEM, but not VMEX_BASE. */
	ASSERT_OK(zx_vmo_create(PAGE, 0, &vmo));
	EXPECT_STATUS(ZX_ERR_ACCESS_DENIED, zx_vmo_replace_as_executable(vmo, test_resource, &out));
	EXPECT_TRUE(!handle_valid(vmo));
	EXPECT_EQ(ZX_HANDLE_INVALID, out);
	EXPECT_TRUE(handle_valid(test_resource));
	/* A vmex that is no resource, or no handle at all. */
	ASSERT_OK(zx_vmo_create(PAGE, 0, &vmo));
	EXPECT_STATUS(ZX_ERR_WRONG_TYPE, zx_vmo_replace_as_executable(vmo, port, &out));
	EXPECT_TRUE(!handle_valid(vmo));
	EXPECT_TRUE(handle_valid(port));
	ASSERT_OK(zx_vmo_create(PAGE, 0, &vmo));
	EXPECT_STATUS(ZX_ERR_BAD_HANDLE, zx_vmo_replace_as_executable(vmo, MADE_UP_HANDLE, &out));
	EXPECT_TRUE(!handle_valid(vmo));
	/* A bad out pointer. */
	ASSERT_OK(zx_vmo_create(PAGE, 0, &vmo));
	EXPECT_STATUS(ZX_ERR_INVALID_ARGS,
		      zx_vmo_replace_as_executable(vmo, ZX_HANDLE_INVALID, NULL));
	EXPECT_TRUE(!handle_valid(vmo));
	/* Not a VMO: WRONG_TYPE, and even that handle is gone. */
	zx_handle_t port2;
	ASSERT_OK(zx_port_create(0, &port2));
	EXPECT_STATUS(ZX_ERR_WRONG_TYPE,
		      zx_vmo_replace_as_executable(port2, ZX_HANDLE_INVALID, &out));
	EXPECT_TRUE(!handle_valid(port2));
	EXPECT_STATUS(ZX_ERR_BAD_HANDLE,
		      zx_vmo_replace_as_executable(MADE_UP_HANDLE, ZX_HANDLE_INVALID, &out));
	zx_handle_close(port);
}

/* ---- zx_vmar_map on the guest VMAR ---- */

TEST(vmar_map_offset_and_length_rules)
{
	struct guest g;
	zx_handle_t vmo;
	zx_vaddr_t addr;
	ASSERT_OK(guest_create(&g));
	ASSERT_OK(zx_vmo_create(4 * PAGE, 0, &vmo));
	/* vmar_offset needs SPECIFIC (or SPECIFIC_OVERWRITE / OFFSET_IS_UPPER_LIMIT). */
	EXPECT_STATUS(ZX_ERR_INVALID_ARGS, zx_vmar_map(g.vmar, R, 0x10000, vmo, 0, PAGE, &addr));
	/* len 0 or unaligned, vmar_offset or vmo_offset unaligned. */
	EXPECT_STATUS(ZX_ERR_INVALID_ARGS,
		      zx_vmar_map(g.vmar, R | ZX_VM_SPECIFIC, 0x10000, vmo, 0, 0, &addr));
	EXPECT_STATUS(ZX_ERR_INVALID_ARGS,
		      zx_vmar_map(g.vmar, R | ZX_VM_SPECIFIC, 0x10000, vmo, 0, PAGE + 1, &addr));
	EXPECT_STATUS(ZX_ERR_INVALID_ARGS, zx_vmar_map(g.vmar, R, 0, vmo, 0, 100, &addr));
	EXPECT_STATUS(ZX_ERR_INVALID_ARGS,
		      zx_vmar_map(g.vmar, R | ZX_VM_SPECIFIC, 0x10010, vmo, 0, PAGE, &addr));
	EXPECT_STATUS(ZX_ERR_INVALID_ARGS,
		      zx_vmar_map(g.vmar, R | ZX_VM_SPECIFIC, 0x10000, vmo, 0x10, PAGE, &addr));
	/* Outside the 2^48 guest-physical space. */
	EXPECT_STATUS(ZX_ERR_INVALID_ARGS,
		      zx_vmar_map(g.vmar, R | ZX_VM_SPECIFIC, ASPACE_SIZE, vmo, 0, PAGE, &addr));
	EXPECT_STATUS(ZX_ERR_INVALID_ARGS,
		      zx_vmar_map(g.vmar, R | ZX_VM_SPECIFIC, ASPACE_SIZE - PAGE, vmo, 0, 2 * PAGE,
				  &addr));
	/* A bad out pointer. */
	EXPECT_STATUS(ZX_ERR_INVALID_ARGS,
		      zx_vmar_map(g.vmar, R | ZX_VM_SPECIFIC, 0x10000, vmo, 0, PAGE, NULL));
	/* Nothing of the above left a mapping behind. */
	EXPECT_STATUS(ZX_ERR_NOT_FOUND, zx_vmar_unmap(g.vmar, 0, 0x20000));
	/* The last page of the space is fine. */
	EXPECT_STATUS(ZX_OK, zx_vmar_map(g.vmar, R | ZX_VM_SPECIFIC, ASPACE_SIZE - PAGE, vmo, 0,
					 PAGE, &addr));
	EXPECT_EQ(ASPACE_SIZE - PAGE, addr);
	zx_handle_close(vmo);
	guest_close(&g);
}

TEST(vmar_map_handle_errors)
{
	struct guest g;
	zx_handle_t vmo, port;
	zx_vaddr_t addr;
	ASSERT_OK(guest_create(&g));
	ASSERT_OK(zx_vmo_create(PAGE, 0, &vmo));
	ASSERT_OK(zx_port_create(0, &port));
	const zx_vm_option_t opts = R | ZX_VM_SPECIFIC;
	EXPECT_STATUS(ZX_ERR_BAD_HANDLE, zx_vmar_map(MADE_UP_HANDLE, opts, 0, vmo, 0, PAGE, &addr));
	EXPECT_STATUS(ZX_ERR_WRONG_TYPE, zx_vmar_map(port, opts, 0, vmo, 0, PAGE, &addr));
	EXPECT_STATUS(ZX_ERR_WRONG_TYPE, zx_vmar_map(g.guest, opts, 0, vmo, 0, PAGE, &addr));
	EXPECT_STATUS(ZX_ERR_BAD_HANDLE,
		      zx_vmar_map(g.vmar, opts, 0, ZX_HANDLE_INVALID, 0, PAGE, &addr));
	EXPECT_STATUS(ZX_ERR_WRONG_TYPE, zx_vmar_map(g.vmar, opts, 0, port, 0, PAGE, &addr));
	zx_handle_close(port);
	zx_handle_close(vmo);
	guest_close(&g);
}

TEST(vmar_map_permission_rules)
{
	struct guest g;
	zx_handle_t vmo, exec, nomap, ronly, vmar_nox;
	zx_vaddr_t addr;
	ASSERT_OK(guest_create(&g));
	ASSERT_OK(zx_vmo_create(PAGE, 0, &vmo));
	ASSERT_OK(exec_vmo_create(PAGE, &exec));
	const zx_vm_option_t s = ZX_VM_SPECIFIC;
	/* WRITE and EXECUTE need READ. */
	EXPECT_STATUS(ZX_ERR_INVALID_ARGS, zx_vmar_map(g.vmar, W | s, 0, vmo, 0, PAGE, &addr));
	EXPECT_STATUS(ZX_ERR_INVALID_ARGS, zx_vmar_map(g.vmar, X | s, 0, exec, 0, PAGE, &addr));
	EXPECT_STATUS(ZX_ERR_INVALID_ARGS, zx_vmar_map(g.vmar, W | X | s, 0, exec, 0, PAGE, &addr));
	/* EXECUTE needs an executable VMO (spec §4, zx_vmo_create). */
	EXPECT_STATUS(ZX_ERR_ACCESS_DENIED, zx_vmar_map(g.vmar, R | X | s, 0, vmo, 0, PAGE, &addr));
	/* Each permission needs the VMO right, and any mapping needs MAP. */
	ASSERT_OK(dup_without(vmo, ZX_RIGHT_MAP, &nomap));
	EXPECT_STATUS(ZX_ERR_ACCESS_DENIED, zx_vmar_map(g.vmar, R | s, 0, nomap, 0, PAGE, &addr));
	ASSERT_OK(dup_without(vmo, ZX_RIGHT_WRITE, &ronly));
	EXPECT_STATUS(ZX_ERR_ACCESS_DENIED,
		      zx_vmar_map(g.vmar, R | W | s, 0, ronly, 0, PAGE, &addr));
	/* ...and the VMAR right. */
	ASSERT_OK(dup_without(g.vmar, ZX_RIGHT_EXECUTE, &vmar_nox));
	EXPECT_STATUS(ZX_ERR_ACCESS_DENIED,
		      zx_vmar_map(vmar_nox, R | X | s, 0, exec, 0, PAGE, &addr));
	/* The allowed ones. */
	EXPECT_STATUS(ZX_OK, zx_vmar_map(g.vmar, R | s, 0, ronly, 0, PAGE, &addr));
	EXPECT_STATUS(ZX_OK, zx_vmar_map(vmar_nox, R | W | s, PAGE, vmo, 0, PAGE, &addr));
	EXPECT_STATUS(ZX_OK, zx_vmar_map(g.vmar, R | W | X | s, 2 * PAGE, exec, 0, PAGE, &addr));
	/* A mapping without any permission is allowed too. */
	EXPECT_STATUS(ZX_OK, zx_vmar_map(g.vmar, s, 3 * PAGE, vmo, 0, PAGE, &addr));
	EXPECT_STATUS(ZX_OK, zx_vmar_unmap(g.vmar, 0, 4 * PAGE));
	zx_handle_close(vmar_nox);
	zx_handle_close(ronly);
	zx_handle_close(nomap);
	zx_handle_close(exec);
	zx_handle_close(vmo);
	guest_close(&g);
}

TEST(vmar_map_and_protect_bounded_by_vmar_rights)
{
	struct guest g;
	zx_handle_t vmo, vmar_now, vmar_nor;
	zx_vaddr_t addr;
	ASSERT_OK(guest_create(&g));
	ASSERT_OK(zx_vmo_create(2 * PAGE, 0, &vmo));
	ASSERT_OK(dup_without(g.vmar, ZX_RIGHT_WRITE, &vmar_now));
	ASSERT_OK(dup_without(g.vmar, ZX_RIGHT_READ, &vmar_nor));
	const zx_vm_option_t s = ZX_VM_SPECIFIC;
	/* Each permission needs the VMAR handle's right for it (its CAN_MAP_*, spec §1.3 and §4
	 * zx_vmar_map), READ and WRITE as well as EXECUTE; the VMO allows all three here. */
	EXPECT_STATUS(ZX_ERR_ACCESS_DENIED,
		      zx_vmar_map(vmar_now, R | W | s, 0, vmo, 0, PAGE, &addr));
	EXPECT_STATUS(ZX_ERR_ACCESS_DENIED, zx_vmar_map(vmar_nor, R | s, 0, vmo, 0, PAGE, &addr));
	EXPECT_STATUS(ZX_ERR_ACCESS_DENIED,
		      zx_vmar_map(vmar_nor, R | W | s, 0, vmo, 0, PAGE, &addr));
	/* Nothing was mapped; what a handle does allow still maps. */
	EXPECT_STATUS(ZX_ERR_NOT_FOUND, zx_vmar_unmap(g.vmar, 0, 2 * PAGE));
	ASSERT_OK(zx_vmar_map(vmar_now, R | s, 0, vmo, 0, 2 * PAGE, &addr));
	/* zx_vmar_protect is bound the same way (spec §4, ACCESS_DENIED), though the VMO would
	 * allow WRITE on this mapping. */
	EXPECT_STATUS(ZX_ERR_ACCESS_DENIED, zx_vmar_protect(vmar_now, R | W, 0, PAGE));
	EXPECT_STATUS(ZX_ERR_ACCESS_DENIED, zx_vmar_protect(vmar_nor, R, 0, PAGE));
	EXPECT_STATUS(ZX_OK, zx_vmar_protect(vmar_now, R, 0, PAGE));
	EXPECT_STATUS(ZX_OK, zx_vmar_protect(g.vmar, R | W, 0, PAGE));
	EXPECT_STATUS(ZX_OK, zx_vmar_unmap(g.vmar, 0, 2 * PAGE));
	zx_handle_close(vmar_nor);
	zx_handle_close(vmar_now);
	zx_handle_close(vmo);
	guest_close(&g);
}

TEST(vmar_map_specific_overlap)
{
	struct guest g;
	zx_handle_t vmo;
	zx_vaddr_t addr;
	ASSERT_OK(guest_create(&g));
	ASSERT_OK(zx_vmo_create(8 * PAGE, 0, &vmo));
	const zx_vm_option_t s = R | W | ZX_VM_SPECIFIC;
	ASSERT_OK(zx_vmar_map(g.vmar, s, 0x10000, vmo, 0, 4 * PAGE, &addr));
	EXPECT_EQ(0x10000, addr);
	/* Inside, over the start, over the end, around all of it. */
	EXPECT_STATUS(ZX_ERR_ALREADY_EXISTS, zx_vmar_map(g.vmar, s, 0x12000, vmo, 0, PAGE, &addr));
	EXPECT_STATUS(ZX_ERR_ALREADY_EXISTS,
		      zx_vmar_map(g.vmar, s, 0xf000, vmo, 0, 2 * PAGE, &addr));
	EXPECT_STATUS(ZX_ERR_ALREADY_EXISTS,
		      zx_vmar_map(g.vmar, s, 0x13000, vmo, 0, 2 * PAGE, &addr));
	EXPECT_STATUS(ZX_ERR_ALREADY_EXISTS,
		      zx_vmar_map(g.vmar, s, 0xf000, vmo, 0, 6 * PAGE, &addr));
	/* The neighbours just before and after fit. */
	EXPECT_STATUS(ZX_OK, zx_vmar_map(g.vmar, s, 0xf000, vmo, 0, PAGE, &addr));
	EXPECT_STATUS(ZX_OK, zx_vmar_map(g.vmar, s, 0x14000, vmo, 0, PAGE, &addr));
	/* SPECIFIC_OVERWRITE replaces what is there, and maps into free space too. */
	EXPECT_STATUS(ZX_OK, zx_vmar_map(g.vmar, R | ZX_VM_SPECIFIC_OVERWRITE, 0x12000, vmo,
					 2 * PAGE, 2 * PAGE, &addr));
	EXPECT_EQ(0x12000, addr);
	EXPECT_STATUS(ZX_OK, zx_vmar_map(g.vmar, R | ZX_VM_SPECIFIC_OVERWRITE, 0x20000, vmo, 0,
					 PAGE, &addr));
	EXPECT_EQ(0x20000, addr);
	/* [0xf000, 0x15000) is covered without a hole, and 0x20000. */
	EXPECT_STATUS(ZX_OK, zx_vmar_protect(g.vmar, R, 0xf000, 6 * PAGE));
	EXPECT_STATUS(ZX_OK, zx_vmar_unmap(g.vmar, 0xf000, 6 * PAGE));
	EXPECT_STATUS(ZX_ERR_NOT_FOUND, zx_vmar_unmap(g.vmar, 0, 0x20000));
	EXPECT_STATUS(ZX_OK, zx_vmar_unmap(g.vmar, 0x20000, PAGE));
	zx_handle_close(vmo);
	guest_close(&g);
}

TEST(vmar_map_vmo_bounds)
{
	struct guest g;
	zx_handle_t vmo;
	zx_vaddr_t addr;
	ASSERT_OK(guest_create(&g));
	ASSERT_OK(zx_vmo_create(2 * PAGE, 0, &vmo));
	const zx_vm_option_t s = R | ZX_VM_SPECIFIC;
	/* Past the end of a non-resizable VMO. */
	EXPECT_STATUS(ZX_ERR_BUFFER_TOO_SMALL, zx_vmar_map(g.vmar, s, 0, vmo, 0, 3 * PAGE, &addr));
	EXPECT_STATUS(ZX_ERR_BUFFER_TOO_SMALL,
		      zx_vmar_map(g.vmar, s, 0, vmo, PAGE, 2 * PAGE, &addr));
	EXPECT_STATUS(ZX_ERR_BUFFER_TOO_SMALL,
		      zx_vmar_map(g.vmar, s, 0, vmo, 2 * PAGE, PAGE, &addr));
	EXPECT_STATUS(ZX_ERR_BUFFER_TOO_SMALL,
		      zx_vmar_map(g.vmar, s, 0, vmo, 0x100000, PAGE, &addr));
	/* vmo_offset + len overflows. */
	EXPECT_STATUS(ZX_ERR_OUT_OF_RANGE,
		      zx_vmar_map(g.vmar, s, 0, vmo, UINT64_MAX - PAGE + 1, 2 * PAGE, &addr));
	/* The tail that fits. */
	EXPECT_STATUS(ZX_OK, zx_vmar_map(g.vmar, s, 0, vmo, PAGE, PAGE, &addr));
	EXPECT_STATUS(ZX_OK, zx_vmar_unmap(g.vmar, 0, PAGE));
	zx_handle_close(vmo);
	guest_close(&g);
}

/* BUFFER_TOO_SMALL is for a mapping past the end of a non-resizable VMO made without
 * ALLOW_FAULTS (spec §4, zx_vmar_map); with ALLOW_FAULTS the mapping is made, for a fixed-size
 * VMO as for a resizable one, and it can be split and unmapped like any other. */
TEST(vmar_map_allow_faults_past_the_end)
{
	struct guest g;
	zx_handle_t vmo, rvmo;
	zx_vaddr_t addr;
	ASSERT_OK(guest_create(&g));
	ASSERT_OK(zx_vmo_create(2 * PAGE, 0, &vmo));
	ASSERT_OK(zx_vmo_create(PAGE, ZX_VMO_RESIZABLE, &rvmo));
	const zx_vm_option_t s = R | ZX_VM_SPECIFIC;
	EXPECT_STATUS(ZX_ERR_BUFFER_TOO_SMALL, zx_vmar_map(g.vmar, s, 0, vmo, 0, 3 * PAGE, &addr));
	EXPECT_STATUS(ZX_OK,
		      zx_vmar_map(g.vmar, s | ZX_VM_ALLOW_FAULTS, 0, vmo, 0, 3 * PAGE, &addr));
	EXPECT_EQ(0, addr);
	/* Wholly past the end, too. */
	EXPECT_STATUS(ZX_OK, zx_vmar_map(g.vmar, s | ZX_VM_ALLOW_FAULTS, 8 * PAGE, vmo, 4 * PAGE,
					 PAGE, &addr));
	EXPECT_STATUS(ZX_OK, zx_vmar_map(g.vmar, s | ZX_VM_ALLOW_FAULTS, 4 * PAGE, rvmo, 0,
					 2 * PAGE, &addr));
	/* Split across the VMO's end, then all of it. */
	EXPECT_STATUS(ZX_OK, zx_vmar_unmap(g.vmar, PAGE, PAGE));
	EXPECT_STATUS(ZX_OK, zx_vmar_protect(g.vmar, R, 2 * PAGE, PAGE));
	EXPECT_STATUS(ZX_OK, zx_vmar_unmap(g.vmar, 0, 9 * PAGE));
	EXPECT_STATUS(ZX_ERR_NOT_FOUND, zx_vmar_unmap(g.vmar, 0, 9 * PAGE));
	zx_handle_close(rvmo);
	zx_handle_close(vmo);
	guest_close(&g);
}

TEST(vmar_map_resizable_vmo)
{
	struct guest g;
	zx_handle_t vmo, plain;
	zx_vaddr_t addr;
	ASSERT_OK(guest_create(&g));
	ASSERT_OK(zx_vmo_create(PAGE, ZX_VMO_RESIZABLE, &vmo));
	ASSERT_OK(zx_vmo_create(PAGE, 0, &plain));
	const zx_vm_option_t s = R | W | ZX_VM_SPECIFIC;
	EXPECT_STATUS(ZX_ERR_NOT_SUPPORTED, zx_vmar_map(g.vmar, s, 0, vmo, 0, PAGE, &addr));
	EXPECT_STATUS(ZX_ERR_NOT_SUPPORTED,
		      zx_vmar_map(g.vmar, s | ZX_VM_REQUIRE_NON_RESIZABLE | ZX_VM_ALLOW_FAULTS, 0,
				  vmo, 0, PAGE, &addr));
	EXPECT_STATUS(ZX_OK, zx_vmar_map(g.vmar, s | ZX_VM_ALLOW_FAULTS, 0, vmo, 0, PAGE, &addr));
	EXPECT_STATUS(ZX_OK, zx_vmar_map(g.vmar, s | ZX_VM_REQUIRE_NON_RESIZABLE, PAGE, plain, 0,
					 PAGE, &addr));
	EXPECT_STATUS(ZX_OK, zx_vmar_unmap(g.vmar, 0, 2 * PAGE));
	zx_handle_close(plain);
	zx_handle_close(vmo);
	guest_close(&g);
}

TEST(vmar_map_resizable_is_the_vmo_not_the_handle)
{
	struct guest g;
	zx_handle_t vmo, noresize;
	zx_vaddr_t addr;
	ASSERT_OK(guest_create(&g));
	/* Dropping RESIZE from the handle does not make the VMO fixed-size. */
	ASSERT_OK(zx_vmo_create(PAGE, ZX_VMO_RESIZABLE, &vmo));
	ASSERT_OK(zx_handle_replace(vmo, ZX_DEFAULT_VMO_RIGHTS, &noresize));
	EXPECT_STATUS(ZX_ERR_NOT_SUPPORTED,
		      zx_vmar_map(g.vmar, R | ZX_VM_SPECIFIC, 0, noresize, 0, PAGE, &addr));
	EXPECT_STATUS(
		ZX_ERR_NOT_SUPPORTED,
		zx_vmar_map(g.vmar,
			    R | ZX_VM_SPECIFIC | ZX_VM_REQUIRE_NON_RESIZABLE | ZX_VM_ALLOW_FAULTS,
			    0, noresize, 0, PAGE, &addr));
	zx_handle_close(noresize);
	/* Discardable VMOs, too, need ALLOW_FAULTS (spec §4, zx_vmar_map). */
	ASSERT_OK(zx_vmo_create(PAGE, ZX_VMO_DISCARDABLE, &vmo));
	EXPECT_STATUS(ZX_ERR_NOT_SUPPORTED,
		      zx_vmar_map(g.vmar, R | ZX_VM_SPECIFIC, 0, vmo, 0, PAGE, &addr));
	EXPECT_STATUS(ZX_OK, zx_vmar_map(g.vmar, R | ZX_VM_SPECIFIC | ZX_VM_ALLOW_FAULTS, 0, vmo, 0,
					 PAGE, &addr));
	zx_handle_close(vmo);
	guest_close(&g);
}

TEST(vmar_map_non_specific)
{
	struct guest g;
	zx_handle_t vmo;
	zx_vaddr_t low, a, b, c;
	ASSERT_OK(guest_create(&g));
	ASSERT_OK(zx_vmo_create(2u << 20, 0, &vmo));
	ASSERT_OK(zx_vmar_map(g.vmar, R | W | ZX_VM_SPECIFIC, 0, vmo, 0, 2u << 20, &low));
	ASSERT_OK(zx_vmar_map(g.vmar, R | W, 0, vmo, 0, PAGE, &a));
	ASSERT_OK(zx_vmar_map(g.vmar, R | W, 0, vmo, 0, 2 * PAGE, &b));
	/* Free, page-aligned, inside the space, not overlapping each other or the first. */
	EXPECT_TRUE(a % PAGE == 0 && b % PAGE == 0);
	EXPECT_TRUE(a >= (2u << 20) && b >= (2u << 20));
	EXPECT_TRUE(a + PAGE <= ASPACE_SIZE && b + 2 * PAGE <= ASPACE_SIZE);
	EXPECT_TRUE(a + PAGE <= b || b + 2 * PAGE <= a);
	/* The addresses really are taken now. */
	zx_vaddr_t dummy;
	EXPECT_STATUS(ZX_ERR_ALREADY_EXISTS,
		      zx_vmar_map(g.vmar, R | ZX_VM_SPECIFIC, a, vmo, 0, PAGE, &dummy));
	EXPECT_STATUS(ZX_ERR_ALREADY_EXISTS,
		      zx_vmar_map(g.vmar, R | ZX_VM_SPECIFIC, b + PAGE, vmo, 0, PAGE, &dummy));
	/* An alignment request is honoured. */
	ASSERT_OK(zx_vmar_map(g.vmar, R | ZX_VM_ALIGN_2MB, 0, vmo, 0, PAGE, &c));
	EXPECT_EQ(0, c % (2u << 20));
	EXPECT_TRUE(c + PAGE <= ASPACE_SIZE);
	/* OFFSET_IS_UPPER_LIMIT: the mapping ends at or below vmar_offset; no room is
	 * NO_RESOURCES. */
	zx_vaddr_t d;
	EXPECT_STATUS(ZX_ERR_NO_RESOURCES, zx_vmar_map(g.vmar, R | ZX_VM_OFFSET_IS_UPPER_LIMIT,
						       2u << 20, vmo, 0, PAGE, &d));
	ASSERT_OK(zx_vmar_map(g.vmar, R | ZX_VM_OFFSET_IS_UPPER_LIMIT, 4u << 20, vmo, 0, PAGE, &d));
	EXPECT_TRUE(d >= (2u << 20) && d + PAGE <= (4u << 20));
	EXPECT_TRUE(d + PAGE <= a || a + PAGE <= d);
	EXPECT_TRUE(d + PAGE <= b || b + 2 * PAGE <= d);
	EXPECT_STATUS(ZX_OK, zx_vmar_unmap(g.vmar, d, PAGE));
	EXPECT_STATUS(ZX_OK, zx_vmar_unmap(g.vmar, a, PAGE));
	EXPECT_STATUS(ZX_OK, zx_vmar_unmap(g.vmar, b, 2 * PAGE));
	EXPECT_STATUS(ZX_OK, zx_vmar_unmap(g.vmar, c, PAGE));
	EXPECT_STATUS(ZX_OK, zx_vmar_unmap(g.vmar, 0, 2u << 20));
	zx_handle_close(vmo);
	guest_close(&g);
}

/* ---- zx_vmar_unmap / zx_vmar_protect ---- */

TEST(vmar_unmap_errors)
{
	struct guest g;
	zx_handle_t vmo, port;
	zx_vaddr_t addr;
	ASSERT_OK(guest_create(&g));
	ASSERT_OK(zx_vmo_create(PAGE, 0, &vmo));
	ASSERT_OK(zx_port_create(0, &port));
	ASSERT_OK(zx_vmar_map(g.vmar, R | ZX_VM_SPECIFIC, 0x10000, vmo, 0, PAGE, &addr));
	EXPECT_STATUS(ZX_ERR_INVALID_ARGS, zx_vmar_unmap(g.vmar, 0x10010, PAGE));
	EXPECT_STATUS(ZX_ERR_INVALID_ARGS, zx_vmar_unmap(g.vmar, 0x10000, 0));
	EXPECT_STATUS(ZX_ERR_INVALID_ARGS, zx_vmar_unmap(g.vmar, 0x10000, PAGE - 1));
	EXPECT_STATUS(ZX_ERR_INVALID_ARGS, zx_vmar_unmap(g.vmar, ASPACE_SIZE, PAGE));
	EXPECT_STATUS(ZX_ERR_NOT_FOUND, zx_vmar_unmap(g.vmar, 0x20000, PAGE));
	EXPECT_STATUS(ZX_ERR_NOT_FOUND, zx_vmar_unmap(g.vmar, 0, 0x10000));
	EXPECT_STATUS(ZX_ERR_BAD_HANDLE, zx_vmar_unmap(MADE_UP_HANDLE, 0x10000, PAGE));
	EXPECT_STATUS(ZX_ERR_WRONG_TYPE, zx_vmar_unmap(port, 0x10000, PAGE));
	EXPECT_STATUS(ZX_ERR_WRONG_TYPE, zx_vmar_unmap(vmo, 0x10000, PAGE));
	/* The mapping survived all of that. */
	EXPECT_STATUS(ZX_OK, zx_vmar_unmap(g.vmar, 0x10000, PAGE));
	EXPECT_STATUS(ZX_ERR_NOT_FOUND, zx_vmar_unmap(g.vmar, 0x10000, PAGE));
	zx_handle_close(port);
	zx_handle_close(vmo);
	guest_close(&g);
}

TEST(vmar_unmap_splits_mappings)
{
	struct guest g;
	zx_handle_t vmo;
	zx_vaddr_t addr;
	ASSERT_OK(guest_create(&g));
	ASSERT_OK(zx_vmo_create(4 * PAGE, 0, &vmo));
	const zx_vaddr_t base = 0x100000;
	ASSERT_OK(zx_vmar_map(g.vmar, R | W | ZX_VM_SPECIFIC, base, vmo, 0, 4 * PAGE, &addr));
	EXPECT_STATUS(ZX_OK, zx_vmar_unmap(g.vmar, base + PAGE, 2 * PAGE));
	EXPECT_STATUS(ZX_ERR_NOT_FOUND, zx_vmar_unmap(g.vmar, base + PAGE, 2 * PAGE));
	EXPECT_STATUS(ZX_ERR_NOT_FOUND, zx_vmar_unmap(g.vmar, base + 2 * PAGE, PAGE));
	/* The hole can be mapped again, SPECIFIC, without touching the outer pages. */
	EXPECT_STATUS(ZX_OK,
		      zx_vmar_map(g.vmar, R | ZX_VM_SPECIFIC, base + PAGE, vmo, 0, PAGE, &addr));
	EXPECT_STATUS(ZX_ERR_ALREADY_EXISTS, zx_vmar_map(g.vmar, R | ZX_VM_SPECIFIC, base + PAGE,
							 vmo, 0, 2 * PAGE, &addr));
	EXPECT_STATUS(ZX_OK, zx_vmar_unmap(g.vmar, base + PAGE, PAGE));
	EXPECT_STATUS(ZX_OK, zx_vmar_unmap(g.vmar, base, PAGE));
	EXPECT_STATUS(ZX_OK, zx_vmar_unmap(g.vmar, base + 3 * PAGE, PAGE));
	EXPECT_STATUS(ZX_ERR_NOT_FOUND, zx_vmar_unmap(g.vmar, base, 4 * PAGE));
	zx_handle_close(vmo);
	guest_close(&g);
}

TEST(vmar_unmap_range_over_several_mappings)
{
	struct guest g;
	zx_handle_t vmo;
	zx_vaddr_t addr;
	ASSERT_OK(guest_create(&g));
	ASSERT_OK(zx_vmo_create(4 * PAGE, 0, &vmo));
	ASSERT_OK(zx_vmar_map(g.vmar, R | ZX_VM_SPECIFIC, 0, vmo, 0, 2 * PAGE, &addr));
	ASSERT_OK(zx_vmar_map(g.vmar, R | ZX_VM_SPECIFIC, 4 * PAGE, vmo, 0, 2 * PAGE, &addr));
	/* One call over both and the hole between them, cutting into each. */
	EXPECT_STATUS(ZX_OK, zx_vmar_unmap(g.vmar, PAGE, 4 * PAGE));
	EXPECT_STATUS(ZX_OK, zx_vmar_unmap(g.vmar, 0, PAGE));
	EXPECT_STATUS(ZX_OK, zx_vmar_unmap(g.vmar, 5 * PAGE, PAGE));
	EXPECT_STATUS(ZX_ERR_NOT_FOUND, zx_vmar_unmap(g.vmar, 0, 8 * PAGE));
	zx_handle_close(vmo);
	guest_close(&g);
}

TEST(vmar_protect_errors)
{
	struct guest g;
	zx_handle_t vmo, port;
	zx_vaddr_t addr;
	ASSERT_OK(guest_create(&g));
	ASSERT_OK(zx_vmo_create(4 * PAGE, 0, &vmo));
	ASSERT_OK(zx_port_create(0, &port));
	ASSERT_OK(zx_vmar_map(g.vmar, R | W | ZX_VM_SPECIFIC, 0, vmo, 0, 2 * PAGE, &addr));
	ASSERT_OK(zx_vmar_map(g.vmar, R | W | ZX_VM_SPECIFIC, 3 * PAGE, vmo, 0, PAGE, &addr));
	EXPECT_STATUS(ZX_ERR_INVALID_ARGS, zx_vmar_protect(g.vmar, R, 0x10, PAGE));
	EXPECT_STATUS(ZX_ERR_INVALID_ARGS, zx_vmar_protect(g.vmar, R, 0, 0));
	EXPECT_STATUS(ZX_ERR_INVALID_ARGS, zx_vmar_protect(g.vmar, R, 0, PAGE + 8));
	EXPECT_STATUS(ZX_ERR_INVALID_ARGS, zx_vmar_protect(g.vmar, W, 0, PAGE));
	EXPECT_STATUS(ZX_ERR_INVALID_ARGS, zx_vmar_protect(g.vmar, R | ZX_VM_SPECIFIC, 0, PAGE));
	EXPECT_STATUS(ZX_ERR_BAD_HANDLE, zx_vmar_protect(MADE_UP_HANDLE, R, 0, PAGE));
	EXPECT_STATUS(ZX_ERR_WRONG_TYPE, zx_vmar_protect(port, R, 0, PAGE));
	/* Nothing mapped, or a hole inside the range. */
	EXPECT_STATUS(ZX_ERR_NOT_FOUND, zx_vmar_protect(g.vmar, R, 8 * PAGE, PAGE));
	EXPECT_STATUS(ZX_ERR_NOT_FOUND, zx_vmar_protect(g.vmar, R, 0, 4 * PAGE));
	EXPECT_STATUS(ZX_ERR_NOT_FOUND, zx_vmar_protect(g.vmar, R, PAGE, 2 * PAGE));
	EXPECT_STATUS(ZX_ERR_NOT_FOUND, zx_vmar_protect(g.vmar, R, 3 * PAGE, 2 * PAGE));
	/* Fully mapped ranges work, also part of a mapping. */
	EXPECT_STATUS(ZX_OK, zx_vmar_protect(g.vmar, R, 0, 2 * PAGE));
	EXPECT_STATUS(ZX_OK, zx_vmar_protect(g.vmar, R | W, PAGE, PAGE));
	EXPECT_STATUS(ZX_OK, zx_vmar_protect(g.vmar, R, 3 * PAGE, PAGE));
	/* The split mapping is still whole for unmap. */
	EXPECT_STATUS(ZX_OK, zx_vmar_unmap(g.vmar, 0, 4 * PAGE));
	zx_handle_close(port);
	zx_handle_close(vmo);
	guest_close(&g);
}

TEST(vmar_protect_cannot_exceed_the_vmo)
{
	struct guest g;
	zx_handle_t vmo, exec, ronly, vmar_nox;
	zx_vaddr_t addr;
	ASSERT_OK(guest_create(&g));
	ASSERT_OK(zx_vmo_create(PAGE, 0, &vmo));
	ASSERT_OK(exec_vmo_create(PAGE, &exec));
	ASSERT_OK(zx_handle_duplicate(vmo, ZX_DEFAULT_VMO_RIGHTS & ~ZX_RIGHT_WRITE, &ronly));
	ASSERT_OK(zx_vmar_map(g.vmar, R | W | ZX_VM_SPECIFIC, 0, vmo, 0, PAGE, &addr));
	ASSERT_OK(zx_vmar_map(g.vmar, R | ZX_VM_SPECIFIC, PAGE, ronly, 0, PAGE, &addr));
	ASSERT_OK(zx_vmar_map(g.vmar, R | ZX_VM_SPECIFIC, 2 * PAGE, exec, 0, PAGE, &addr));
	/* Not executable, and mapped through a handle without WRITE. */
	EXPECT_STATUS(ZX_ERR_ACCESS_DENIED, zx_vmar_protect(g.vmar, R | W | X, 0, PAGE));
	EXPECT_STATUS(ZX_ERR_ACCESS_DENIED, zx_vmar_protect(g.vmar, R | W, PAGE, PAGE));
	/* One page of the range is enough to refuse it all; the others keep their rights. */
	EXPECT_STATUS(ZX_ERR_ACCESS_DENIED, zx_vmar_protect(g.vmar, R | W, 0, 2 * PAGE));
	/* What the VMO allowed at map time can be granted later. */
	EXPECT_STATUS(ZX_OK, zx_vmar_protect(g.vmar, R | W | X, 2 * PAGE, PAGE));
	EXPECT_STATUS(ZX_OK, zx_vmar_protect(g.vmar, R, 0, PAGE));
	EXPECT_STATUS(ZX_OK, zx_vmar_protect(g.vmar, R | W, 0, PAGE));
	/* The VMAR handle's rights bound it too. */
	ASSERT_OK(dup_without(g.vmar, ZX_RIGHT_EXECUTE, &vmar_nox));
	EXPECT_STATUS(ZX_ERR_ACCESS_DENIED, zx_vmar_protect(vmar_nox, R | X, 2 * PAGE, PAGE));
	EXPECT_STATUS(ZX_OK, zx_vmar_unmap(g.vmar, 0, 3 * PAGE));
	zx_handle_close(vmar_nox);
	zx_handle_close(ronly);
	zx_handle_close(exec);
	zx_handle_close(vmo);
	guest_close(&g);
}

/* ---- ports ---- */

TEST(port_create_errors)
{
	zx_handle_t port;
	EXPECT_STATUS(ZX_ERR_INVALID_ARGS, zx_port_create(2, &port));
	EXPECT_STATUS(ZX_ERR_INVALID_ARGS, zx_port_create(UINT32_MAX, &port));
	EXPECT_STATUS(ZX_ERR_INVALID_ARGS, zx_port_create(0, NULL));
	ASSERT_OK(zx_port_create(ZX_PORT_BIND_TO_INTERRUPT, &port));
	zx_handle_close(port);
}

TEST(port_wait_timeouts)
{
	zx_handle_t port;
	zx_port_packet_t p;
	ASSERT_OK(zx_port_create(0, &port));
	/* A past deadline polls. */
	EXPECT_STATUS(ZX_ERR_TIMED_OUT, zx_port_wait(port, 0, &p));
	EXPECT_STATUS(ZX_ERR_TIMED_OUT, zx_port_wait(port, ZX_TIME_INFINITE_PAST, &p));
	EXPECT_STATUS(ZX_ERR_TIMED_OUT, zx_port_wait(port, now() - 1000000000, &p));
	/* A short future deadline waits until then. */
	const zx_time_t wait_ns = 20 * 1000000;
	zx_time_t start = now();
	EXPECT_STATUS(ZX_ERR_TIMED_OUT, zx_port_wait(port, start + wait_ns, &p));
	zx_time_t waited = now() - start;
	if (waited < wait_ns)
		test_fail(__FILE__, __LINE__, "returned after %lld ns, before the %lld ns deadline",
			  (long long)waited, (long long)wait_ns);
	/* A packet already there is returned with any deadline. */
	zx_port_packet_t q = {.key = 5};
	ASSERT_OK(zx_port_queue(port, &q));
	EXPECT_STATUS(ZX_OK, zx_port_wait(port, 0, &p));
	EXPECT_EQ(5, p.key);
	zx_handle_close(port);
}

TEST(port_fifo_order)
{
	zx_handle_t port;
	ASSERT_OK(zx_port_create(0, &port));
	for (uint64_t k = 1; k <= 5; k++) {
		zx_port_packet_t p = {.key = k};
		ASSERT_OK(zx_port_queue(port, &p));
	}
	for (uint64_t k = 1; k <= 5; k++) {
		zx_port_packet_t p;
		ASSERT_OK(zx_port_wait(port, 0, &p));
		EXPECT_EQ(k, p.key);
	}
	zx_port_packet_t p;
	EXPECT_STATUS(ZX_ERR_TIMED_OUT, zx_port_wait(port, 0, &p));
	zx_handle_close(port);
}

TEST(port_queue_makes_user_packets)
{
	zx_handle_t port;
	ASSERT_OK(zx_port_create(0, &port));
	zx_port_packet_t in = {
		.key = 0xfeedfacecafebeefull,
		.type = ZX_PKT_TYPE_GUEST_IO,
		.status = ZX_ERR_IO_DATA_LOSS,
	};
	for (int i = 0; i < 4; i++)
		in.user.u64[i] = 0x0101010101010101ull * (uint64_t)(i + 1);
	ASSERT_OK(zx_port_queue(port, &in));
	zx_port_packet_t out;
	memset(&out, 0xcc, sizeof(out));
	ASSERT_OK(zx_port_wait(port, ZX_TIME_INFINITE, &out));
	/* The type is forced to USER; key, status and payload are kept (spec §4). */
	EXPECT_EQ(ZX_PKT_TYPE_USER, out.type);
	EXPECT_EQ(in.key, out.key);
	EXPECT_EQ((uint32_t)ZX_ERR_IO_DATA_LOSS, (uint32_t)out.status);
	EXPECT_TRUE(memcmp(&in.user, &out.user, sizeof(in.user)) == 0);
	zx_handle_close(port);
}

TEST(port_user_packet_budget)
{
	zx_handle_t port;
	ASSERT_OK(zx_port_create(0, &port));
	for (uint64_t k = 0; k < PORT_USER_PACKETS; k++) {
		zx_port_packet_t p = {.key = k};
		zx_status_t st = zx_port_queue(port, &p);
		if (st != ZX_OK) {
			test_fail(__FILE__, __LINE__, "packet %llu: expected ZX_OK, got %s",
				  (unsigned long long)k, zx_status_get_string(st));
			zx_handle_close(port);
			return;
		}
	}
	zx_port_packet_t p = {.key = PORT_USER_PACKETS};
	EXPECT_STATUS(ZX_ERR_SHOULD_WAIT, zx_port_queue(port, &p));
	EXPECT_STATUS(ZX_ERR_SHOULD_WAIT, zx_port_queue(port, &p));
	/* One wait makes room for one more. */
	zx_port_packet_t out;
	ASSERT_OK(zx_port_wait(port, 0, &out));
	EXPECT_EQ(0, out.key);
	EXPECT_STATUS(ZX_OK, zx_port_queue(port, &p));
	EXPECT_STATUS(ZX_ERR_SHOULD_WAIT, zx_port_queue(port, &p));
	/* The refused packets were not queued: keys 1..2048 in order, then nothing. */
	for (uint64_t k = 1; k <= PORT_USER_PACKETS; k++) {
		ASSERT_OK(zx_port_wait(port, 0, &out));
		if (out.key != k) {
			test_fail(__FILE__, __LINE__, "expected key %llu, got %llu",
				  (unsigned long long)k, (unsigned long long)out.key);
			break;
		}
	}
	EXPECT_STATUS(ZX_ERR_TIMED_OUT, zx_port_wait(port, 0, &out));
	zx_handle_close(port);
}

TEST(port_handle_errors)
{
	zx_handle_t port, nowrite, noread, vmo;
	zx_port_packet_t p = {0};
	ASSERT_OK(zx_port_create(0, &port));
	ASSERT_OK(zx_vmo_create(PAGE, 0, &vmo));
	ASSERT_OK(dup_without(port, ZX_RIGHT_WRITE, &nowrite));
	ASSERT_OK(dup_without(port, ZX_RIGHT_READ, &noread));
	EXPECT_STATUS(ZX_ERR_ACCESS_DENIED, zx_port_queue(nowrite, &p));
	EXPECT_STATUS(ZX_ERR_ACCESS_DENIED, zx_port_wait(noread, 0, &p));
	/* Each needs only its own right. */
	EXPECT_STATUS(ZX_OK, zx_port_queue(noread, &p));
	EXPECT_STATUS(ZX_OK, zx_port_wait(nowrite, 0, &p));
	EXPECT_STATUS(ZX_ERR_BAD_HANDLE, zx_port_queue(MADE_UP_HANDLE, &p));
	EXPECT_STATUS(ZX_ERR_BAD_HANDLE, zx_port_wait(ZX_HANDLE_INVALID, 0, &p));
	EXPECT_STATUS(ZX_ERR_WRONG_TYPE, zx_port_queue(vmo, &p));
	EXPECT_STATUS(ZX_ERR_WRONG_TYPE, zx_port_wait(vmo, 0, &p));
	EXPECT_STATUS(ZX_ERR_INVALID_ARGS, zx_port_queue(port, NULL));
	EXPECT_STATUS(ZX_ERR_INVALID_ARGS, zx_port_wait(port, 0, NULL));
	/* A failed queue left nothing behind. */
	EXPECT_STATUS(ZX_ERR_TIMED_OUT, zx_port_wait(port, 0, &p));
	zx_handle_close(vmo);
	zx_handle_close(noread);
	zx_handle_close(nowrite);
	zx_handle_close(port);
}

struct waiter {
	zx_handle_t port;
	zx_port_packet_t packet;
	zx_status_t st;
};

static void *waiter_main(void *arg)
{
	struct waiter *w = arg;
	w->st = zx_port_wait(w->port, ZX_TIME_INFINITE, &w->packet);
	return NULL;
}

TEST(port_wait_wakes_on_queue)
{
	struct waiter w = {.st = ZX_ERR_INTERNAL};
	ASSERT_OK(zx_port_create(0, &w.port));
	pthread_t t;
	ASSERT_TRUE(pthread_create(&t, NULL, waiter_main, &w) == 0);
	zx_port_packet_t p = {.key = 77};
	EXPECT_STATUS(ZX_OK, zx_port_queue(w.port, &p));
	pthread_join(t, NULL);
	EXPECT_STATUS(ZX_OK, w.st);
	EXPECT_EQ(77, w.packet.key);
	zx_handle_close(w.port);
}

/* ---- handles ---- */

TEST(handle_close_rules)
{
	zx_handle_t port;
	EXPECT_STATUS(ZX_OK, zx_handle_close(ZX_HANDLE_INVALID));
	ASSERT_OK(zx_port_create(0, &port));
	EXPECT_STATUS(ZX_OK, zx_handle_close(port));
	EXPECT_STATUS(ZX_ERR_BAD_HANDLE, zx_handle_close(port));
	static const zx_handle_t made_up[] = {MADE_UP_HANDLE, 1, 0x1000, 0xffffffffu, 0x7ffffffeu};
	for (size_t i = 0; i < ARRAY_SIZE(made_up); i++) {
		zx_status_t st = zx_handle_close(made_up[i]);
		if (st != ZX_ERR_BAD_HANDLE)
			test_fail(__FILE__, __LINE__, "close(%#x): expected %s, got %s", made_up[i],
				  zx_status_get_string(ZX_ERR_BAD_HANDLE),
				  zx_status_get_string(st));
	}
}

TEST(handle_duplicate_rules)
{
	zx_handle_t vmo, dup, nodup;
	ASSERT_OK(zx_vmo_create(PAGE, 0, &vmo));
	EXPECT_STATUS(ZX_ERR_BAD_HANDLE, zx_handle_duplicate(MADE_UP_HANDLE, 0, &dup));
	EXPECT_STATUS(ZX_ERR_BAD_HANDLE, zx_handle_duplicate(ZX_HANDLE_INVALID, 0, &dup));
	EXPECT_STATUS(ZX_ERR_INVALID_ARGS, zx_handle_duplicate(vmo, ZX_RIGHT_SAME_RIGHTS, NULL));
	/* Rights: SAME_RIGHTS, or a subset; more than the source has is INVALID_ARGS. */
	EXPECT_STATUS(ZX_ERR_INVALID_ARGS,
		      zx_handle_duplicate(vmo, ZX_DEFAULT_VMO_RIGHTS | ZX_RIGHT_EXECUTE, &dup));
	EXPECT_STATUS(ZX_ERR_INVALID_ARGS, zx_handle_duplicate(vmo, ZX_RIGHT_RESIZE, &dup));
	ASSERT_OK(zx_handle_duplicate(vmo, ZX_RIGHT_SAME_RIGHTS, &dup));
	EXPECT_TRUE(dup != vmo);
	EXPECT_EQ(ZX_DEFAULT_VMO_RIGHTS, rights_of(dup));
	zx_info_handle_basic_t a, b;
	ASSERT_OK(basic_info(vmo, &a));
	ASSERT_OK(basic_info(dup, &b));
	EXPECT_EQ(a.koid, b.koid);
	zx_handle_close(dup);
	ASSERT_OK(zx_handle_duplicate(vmo, ZX_RIGHT_READ | ZX_RIGHT_DUPLICATE, &dup));
	EXPECT_EQ(ZX_RIGHT_READ | ZX_RIGHT_DUPLICATE, rights_of(dup));
	/* The copy cannot be widened again, only narrowed. */
	zx_handle_t dup2;
	EXPECT_STATUS(ZX_ERR_INVALID_ARGS,
		      zx_handle_duplicate(dup, ZX_RIGHT_READ | ZX_RIGHT_WRITE, &dup2));
	ASSERT_OK(zx_handle_duplicate(dup, ZX_RIGHT_NONE, &dup2));
	EXPECT_EQ(ZX_RIGHT_NONE, rights_of(dup2));
	zx_handle_close(dup2);
	zx_handle_close(dup);
	/* Duplicating needs DUPLICATE. */
	ASSERT_OK(zx_handle_duplicate(vmo, ZX_DEFAULT_VMO_RIGHTS & ~ZX_RIGHT_DUPLICATE, &nodup));
	EXPECT_STATUS(ZX_ERR_ACCESS_DENIED, zx_handle_duplicate(nodup, ZX_RIGHT_SAME_RIGHTS, &dup));
	EXPECT_STATUS(ZX_ERR_ACCESS_DENIED, zx_handle_duplicate(nodup, ZX_RIGHT_READ, &dup));
	zx_handle_close(nodup);
	zx_handle_close(vmo);
}

TEST(handle_replace_rules)
{
	zx_handle_t vmo, out, nodup;
	ASSERT_OK(zx_vmo_create(PAGE, 0, &vmo));
	zx_info_handle_basic_t before, after;
	ASSERT_OK(basic_info(vmo, &before));
	ASSERT_OK(zx_handle_replace(vmo, ZX_RIGHT_SAME_RIGHTS, &out));
	EXPECT_TRUE(!handle_valid(vmo));
	ASSERT_OK(basic_info(out, &after));
	EXPECT_EQ(before.koid, after.koid);
	EXPECT_EQ(before.rights, after.rights);
	vmo = out;
	/* No right is needed to replace, not even DUPLICATE. */
	ASSERT_OK(zx_handle_replace(vmo, ZX_RIGHT_READ, &nodup));
	EXPECT_EQ(ZX_RIGHT_READ, rights_of(nodup));
	ASSERT_OK(zx_handle_replace(nodup, ZX_RIGHT_NONE, &vmo));
	EXPECT_EQ(ZX_RIGHT_NONE, rights_of(vmo));
	/* More rights than the source: INVALID_ARGS, and the source is gone anyway. */
	out = ZX_HANDLE_INVALID;
	EXPECT_STATUS(ZX_ERR_INVALID_ARGS, zx_handle_replace(vmo, ZX_RIGHT_READ, &out));
	EXPECT_TRUE(!handle_valid(vmo));
	EXPECT_EQ(ZX_HANDLE_INVALID, out);
	/* A bad out pointer: the same. */
	ASSERT_OK(zx_vmo_create(PAGE, 0, &vmo));
	EXPECT_STATUS(ZX_ERR_INVALID_ARGS, zx_handle_replace(vmo, ZX_RIGHT_SAME_RIGHTS, NULL));
	EXPECT_TRUE(!handle_valid(vmo));
	EXPECT_STATUS(ZX_ERR_BAD_HANDLE, zx_handle_replace(vmo, ZX_RIGHT_SAME_RIGHTS, &out));
	EXPECT_STATUS(ZX_ERR_BAD_HANDLE,
		      zx_handle_replace(ZX_HANDLE_INVALID, ZX_RIGHT_SAME_RIGHTS, &out));
}

TEST(handle_object_lives_while_any_handle_does)
{
	zx_handle_t port, dup;
	ASSERT_OK(zx_port_create(0, &port));
	ASSERT_OK(zx_handle_duplicate(port, ZX_RIGHT_SAME_RIGHTS, &dup));
	zx_port_packet_t p = {.key = 3};
	ASSERT_OK(zx_port_queue(port, &p));
	ASSERT_OK(zx_handle_close(port));
	/* The packet queued through the closed handle is still in the port. */
	EXPECT_STATUS(ZX_OK, zx_port_wait(dup, 0, &p));
	EXPECT_EQ(3, p.key);
	EXPECT_STATUS(ZX_ERR_BAD_HANDLE, zx_port_queue(port, &p));
	zx_handle_close(dup);
}

/* ---- zx_object_get_info ---- */

TEST(info_handle_valid)
{
	zx_handle_t port;
	ASSERT_OK(zx_port_create(0, &port));
	EXPECT_STATUS(ZX_OK, zx_object_get_info(port, ZX_INFO_HANDLE_VALID, NULL, 0, NULL, NULL));
	EXPECT_STATUS(ZX_OK,
		      zx_object_get_info(test_resource, ZX_INFO_HANDLE_VALID, NULL, 0, NULL, NULL));
	/* With no rights at all. */
	zx_handle_t bare;
	ASSERT_OK(zx_handle_replace(port, ZX_RIGHT_NONE, &bare));
	EXPECT_STATUS(ZX_OK, zx_object_get_info(bare, ZX_INFO_HANDLE_VALID, NULL, 0, NULL, NULL));
	zx_handle_close(bare);
	EXPECT_STATUS(ZX_ERR_BAD_HANDLE,
		      zx_object_get_info(bare, ZX_INFO_HANDLE_VALID, NULL, 0, NULL, NULL));
	EXPECT_STATUS(ZX_ERR_BAD_HANDLE, zx_object_get_info(ZX_HANDLE_INVALID, ZX_INFO_HANDLE_VALID,
							    NULL, 0, NULL, NULL));
	EXPECT_STATUS(ZX_ERR_BAD_HANDLE, zx_object_get_info(MADE_UP_HANDLE, ZX_INFO_HANDLE_BASIC,
							    NULL, 0, NULL, NULL));
}

static void expect_basic(zx_handle_t h, zx_obj_type_t type, zx_rights_t rights, const char *what)
{
	zx_info_handle_basic_t info;
	memset(&info, 0xcc, sizeof(info));
	size_t actual = 99, avail = 99;
	zx_status_t st =
		zx_object_get_info(h, ZX_INFO_HANDLE_BASIC, &info, sizeof(info), &actual, &avail);
	if (st != ZX_OK) {
		test_fail(__FILE__, __LINE__, "%s: expected ZX_OK, got %s", what,
			  zx_status_get_string(st));
		return;
	}
	if (info.type != type || info.rights != rights || info.koid == 0 || actual != 1 ||
	    avail != 1 || info.reserved != 0)
		test_fail(__FILE__, __LINE__,
			  "%s: expected type %u rights %#x, got type %u rights %#x koid %llu "
			  "actual %zu avail %zu reserved %u",
			  what, type, rights, info.type, info.rights, (unsigned long long)info.koid,
			  actual, avail, info.reserved);
}

TEST(info_handle_basic_defaults)
{
	struct guest g;
	zx_handle_t vcpu, port, vmo, rvmo, exec;
	ASSERT_OK(guest_create(&g));
	ASSERT_OK(zx_vcpu_create(g.guest, 0, 0, &vcpu));
	ASSERT_OK(zx_port_create(0, &port));
	ASSERT_OK(zx_vmo_create(PAGE, 0, &vmo));
	ASSERT_OK(zx_vmo_create(PAGE, ZX_VMO_RESIZABLE, &rvmo));
	ASSERT_OK(exec_vmo_create(PAGE, &exec));
	/* Types of spec §1.4, default rights of spec §1.3. */
	expect_basic(g.guest, ZX_OBJ_TYPE_GUEST, 0x4800b, "guest");
	expect_basic(vcpu, ZX_OBJ_TYPE_VCPU, 0xd01f, "vcpu");
	expect_basic(g.vmar, ZX_OBJ_TYPE_VMAR, 0x20801f, "guest vmar");
	expect_basic(port, ZX_OBJ_TYPE_PORT, 0x800f, "port");
	expect_basic(vmo, ZX_OBJ_TYPE_VMO, 0xd0ef, "vmo");
	expect_basic(rvmo, ZX_OBJ_TYPE_VMO, 0xd0ef | ZX_RIGHT_RESIZE, "resizable vmo");
	expect_basic(exec, ZX_OBJ_TYPE_VMO, 0xd0ff, "executable vmo");
	expect_basic(test_resource, ZX_OBJ_TYPE_RESOURCE, 0x800b, "hypervisor resource");
	/* Every object has its own koid. */
	zx_handle_t hs[] = {g.guest, vcpu, g.vmar, port, vmo, rvmo, exec, test_resource};
	zx_koid_t koids[8];
	for (size_t i = 0; i < 8; i++) {
		zx_info_handle_basic_t info;
		ASSERT_OK(basic_info(hs[i], &info));
		koids[i] = info.koid;
		for (size_t j = 0; j < i; j++)
			EXPECT_TRUE(koids[i] != koids[j]);
	}
	zx_handle_close(exec);
	zx_handle_close(rvmo);
	zx_handle_close(vmo);
	zx_handle_close(port);
	zx_handle_close(vcpu);
	guest_close(&g);
}

TEST(info_buffer_rules)
{
	zx_handle_t port;
	ASSERT_OK(zx_port_create(0, &port));
	zx_info_handle_basic_t info;
	size_t actual = 99, avail = 99;
	EXPECT_STATUS(ZX_ERR_BUFFER_TOO_SMALL,
		      zx_object_get_info(port, ZX_INFO_HANDLE_BASIC, &info, sizeof(info) - 1,
					 &actual, &avail));
	EXPECT_EQ(0, actual);
	EXPECT_EQ(1, avail);
	actual = avail = 99;
	EXPECT_STATUS(ZX_ERR_BUFFER_TOO_SMALL,
		      zx_object_get_info(port, ZX_INFO_HANDLE_BASIC, NULL, 0, &actual, &avail));
	EXPECT_EQ(0, actual);
	EXPECT_EQ(1, avail);
	EXPECT_STATUS(ZX_ERR_INVALID_ARGS, zx_object_get_info(port, ZX_INFO_HANDLE_BASIC, NULL,
							      sizeof(info), NULL, NULL));
	/* A larger buffer is fine; actual and avail may be NULL. */
	uint8_t big[sizeof(info) + 16];
	EXPECT_STATUS(ZX_OK,
		      zx_object_get_info(port, ZX_INFO_HANDLE_BASIC, big, sizeof(big), NULL, NULL));
	/* Unknown topics. */
	EXPECT_STATUS(ZX_ERR_NOT_SUPPORTED,
		      zx_object_get_info(port, 12345, &info, sizeof(info), NULL, NULL));
	EXPECT_STATUS(ZX_ERR_NOT_SUPPORTED,
		      zx_object_get_info(port, 0, &info, sizeof(info), NULL, NULL));
	zx_handle_close(port);
}

TEST(info_vmar)
{
	struct guest g;
	zx_handle_t port, noinspect;
	ASSERT_OK(guest_create(&g));
	ASSERT_OK(zx_port_create(0, &port));
	zx_info_vmar_t info = {.base = 1, .len = 1};
	size_t actual = 0, avail = 0;
	ASSERT_OK(zx_object_get_info(g.vmar, ZX_INFO_VMAR, &info, sizeof(info), &actual, &avail));
	EXPECT_EQ(0, info.base);
	EXPECT_EQ(ASPACE_SIZE, info.len);
	EXPECT_EQ(1, actual);
	EXPECT_EQ(1, avail);
	EXPECT_STATUS(ZX_ERR_WRONG_TYPE,
		      zx_object_get_info(port, ZX_INFO_VMAR, &info, sizeof(info), NULL, NULL));
	EXPECT_STATUS(ZX_ERR_WRONG_TYPE,
		      zx_object_get_info(g.guest, ZX_INFO_VMAR, &info, sizeof(info), NULL, NULL));
	ASSERT_OK(dup_without(g.vmar, ZX_RIGHT_INSPECT, &noinspect));
	EXPECT_STATUS(ZX_ERR_ACCESS_DENIED,
		      zx_object_get_info(noinspect, ZX_INFO_VMAR, &info, sizeof(info), NULL, NULL));
	EXPECT_STATUS(ZX_ERR_BUFFER_TOO_SMALL,
		      zx_object_get_info(g.vmar, ZX_INFO_VMAR, &info, 8, NULL, NULL));
	/* HANDLE_BASIC needs no right. */
	zx_info_handle_basic_t basic;
	EXPECT_STATUS(ZX_OK, basic_info(noinspect, &basic));
	zx_handle_close(noinspect);
	zx_handle_close(port);
	guest_close(&g);
}

TEST(info_vcpu)
{
	struct guest g;
	zx_handle_t vcpu, noinspect;
	ASSERT_OK(guest_create(&g));
	ASSERT_OK(zx_vcpu_create(g.guest, 0, 0, &vcpu));
	zx_info_vcpu_t info = {.flags = 0xffffffffu};
	size_t actual = 0, avail = 0;
	ASSERT_OK(zx_object_get_info(vcpu, ZX_INFO_VCPU, &info, sizeof(info), &actual, &avail));
	EXPECT_EQ(0, info.flags);
	EXPECT_EQ(1, actual);
	EXPECT_EQ(1, avail);
	ASSERT_OK(zx_vcpu_kick(vcpu));
	ASSERT_OK(zx_object_get_info(vcpu, ZX_INFO_VCPU, &info, sizeof(info), NULL, NULL));
	EXPECT_EQ(ZX_INFO_VCPU_FLAG_KICKED, info.flags);
	EXPECT_STATUS(ZX_ERR_WRONG_TYPE,
		      zx_object_get_info(g.guest, ZX_INFO_VCPU, &info, sizeof(info), NULL, NULL));
	ASSERT_OK(dup_without(vcpu, ZX_RIGHT_INSPECT, &noinspect));
	EXPECT_STATUS(ZX_ERR_ACCESS_DENIED,
		      zx_object_get_info(noinspect, ZX_INFO_VCPU, &info, sizeof(info), NULL, NULL));
	EXPECT_STATUS(ZX_ERR_BUFFER_TOO_SMALL,
		      zx_object_get_info(vcpu, ZX_INFO_VCPU, &info, 2, NULL, NULL));
	/* The next enter consumes the kick without running (spec §2.4). */
	zx_port_packet_t p;
	EXPECT_STATUS(ZX_ERR_CANCELED, zx_vcpu_enter(vcpu, &p));
	ASSERT_OK(zx_object_get_info(vcpu, ZX_INFO_VCPU, &info, sizeof(info), NULL, NULL));
	EXPECT_EQ(0, info.flags);
	zx_handle_close(noinspect);
	zx_handle_close(vcpu);
	guest_close(&g);
}

TEST(info_checks_in_order)
{
	struct guest g;
	zx_handle_t vcpu, port, bare_port, vmar_noinspect, vcpu_noinspect;
	zx_info_vmar_t vmar_info;
	zx_info_vcpu_t vcpu_info;
	ASSERT_OK(guest_create(&g));
	ASSERT_OK(zx_port_create(0, &port));
	ASSERT_OK(zx_handle_replace(port, ZX_RIGHT_NONE, &bare_port));
	ASSERT_OK(dup_without(g.vmar, ZX_RIGHT_INSPECT, &vmar_noinspect));
	ASSERT_OK(zx_vcpu_create(g.guest, 0, 0, &vcpu));
	ASSERT_OK(dup_without(vcpu, ZX_RIGHT_INSPECT, &vcpu_noinspect));
	/* The handle table's order (spec §2, applied by zx_object_get_info too, §4): BAD_HANDLE,
	 * then WRONG_TYPE even for a handle without INSPECT... */
	EXPECT_STATUS(ZX_ERR_BAD_HANDLE,
		      zx_object_get_info(MADE_UP_HANDLE, ZX_INFO_VCPU, &vcpu_info,
					 sizeof(vcpu_info), NULL, NULL));
	EXPECT_STATUS(ZX_ERR_WRONG_TYPE, zx_object_get_info(bare_port, ZX_INFO_VCPU, &vcpu_info,
							    sizeof(vcpu_info), NULL, NULL));
	EXPECT_STATUS(ZX_ERR_WRONG_TYPE, zx_object_get_info(bare_port, ZX_INFO_VMAR, &vmar_info,
							    sizeof(vmar_info), NULL, NULL));
	/* ...then ACCESS_DENIED, before the buffer is looked at... */
	EXPECT_STATUS(ZX_ERR_ACCESS_DENIED,
		      zx_object_get_info(vmar_noinspect, ZX_INFO_VMAR, &vmar_info, 1, NULL, NULL));
	EXPECT_STATUS(ZX_ERR_ACCESS_DENIED,
		      zx_object_get_info(vcpu_noinspect, ZX_INFO_VCPU, NULL, 0, NULL, NULL));
	/* ...and then the buffer: none where one is needed is INVALID_ARGS. */
	EXPECT_STATUS(ZX_ERR_INVALID_ARGS, zx_object_get_info(g.vmar, ZX_INFO_VMAR, NULL,
							      sizeof(vmar_info), NULL, NULL));
	EXPECT_STATUS(ZX_ERR_INVALID_ARGS,
		      zx_object_get_info(vcpu, ZX_INFO_VCPU, NULL, sizeof(vcpu_info), NULL, NULL));
	zx_handle_close(vcpu_noinspect);
	zx_handle_close(vcpu);
	zx_handle_close(vmar_noinspect);
	zx_handle_close(bare_port);
	guest_close(&g);
}

TEST(info_related_objects_after_close)
{
	struct guest g;
	ASSERT_OK(guest_create(&g));
	zx_handle_t vmar = g.vmar;
	/* The VMAR keeps working after the guest handle is gone. */
	ASSERT_OK(zx_handle_close(g.guest));
	zx_info_vmar_t info;
	EXPECT_STATUS(ZX_OK,
		      zx_object_get_info(vmar, ZX_INFO_VMAR, &info, sizeof(info), NULL, NULL));
	zx_handle_t vmo;
	zx_vaddr_t addr;
	ASSERT_OK(zx_vmo_create(PAGE, 0, &vmo));
	EXPECT_STATUS(ZX_OK, zx_vmar_map(vmar, R | ZX_VM_SPECIFIC, 0, vmo, 0, PAGE, &addr));
	EXPECT_STATUS(ZX_OK, zx_vmar_unmap(vmar, 0, PAGE));
	zx_handle_close(vmo);
	zx_handle_close(vmar);
}
