/* ABI checks for the public Zircon headers: every size and offset spec §1 lists, a sample of
 * constant values, and zx_status_get_string() coverage of spec §1.2.
 *
 * Layouts are checked at compile time, so a wrong header fails the build rather than the run;
 * values are checked at run time so a failure prints expected and actual. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <zircon/syscalls.h>

#define ASSERT_SIZE(type, size) _Static_assert(sizeof(type) == (size), "sizeof " #type)
#define ASSERT_OFFSET(type, member, off)                                                           \
	_Static_assert(offsetof(type, member) == (off), "offsetof " #type "." #member)

/* Scalar types (spec §1.1). */
ASSERT_SIZE(zx_handle_t, 4);
ASSERT_SIZE(zx_status_t, 4);
ASSERT_SIZE(zx_rights_t, 4);
ASSERT_SIZE(zx_signals_t, 4);
ASSERT_SIZE(zx_obj_type_t, 4);
ASSERT_SIZE(zx_time_t, 8);
ASSERT_SIZE(zx_koid_t, 8);
ASSERT_SIZE(zx_vm_option_t, 4);
ASSERT_SIZE(zx_packet_type_t, 4);
ASSERT_SIZE(zx_rsrc_kind_t, 4);
ASSERT_SIZE(zx_rsrc_system_base_t, 8);
ASSERT_SIZE(zx_object_info_topic_t, 4);
ASSERT_SIZE(zx_vaddr_t, sizeof(uintptr_t));
ASSERT_SIZE(zx_paddr_t, sizeof(uintptr_t));
ASSERT_SIZE(zx_gpaddr_t, sizeof(uintptr_t));
_Static_assert((zx_status_t)-1 < 0, "zx_status_t is signed");
_Static_assert((zx_time_t)-1 < 0, "zx_time_t is signed");

/* zx_vcpu_state_t (spec §1.7). */
#if defined(__x86_64__)
ASSERT_SIZE(zx_vcpu_state_t, 136);
ASSERT_OFFSET(zx_vcpu_state_t, rax, 0);
ASSERT_OFFSET(zx_vcpu_state_t, rcx, 8);
ASSERT_OFFSET(zx_vcpu_state_t, rdx, 16);
ASSERT_OFFSET(zx_vcpu_state_t, rbx, 24);
ASSERT_OFFSET(zx_vcpu_state_t, rsp, 32);
ASSERT_OFFSET(zx_vcpu_state_t, rbp, 40);
ASSERT_OFFSET(zx_vcpu_state_t, rsi, 48);
ASSERT_OFFSET(zx_vcpu_state_t, rdi, 56);
ASSERT_OFFSET(zx_vcpu_state_t, r8, 64);
ASSERT_OFFSET(zx_vcpu_state_t, r9, 72);
ASSERT_OFFSET(zx_vcpu_state_t, r10, 80);
ASSERT_OFFSET(zx_vcpu_state_t, r11, 88);
ASSERT_OFFSET(zx_vcpu_state_t, r12, 96);
ASSERT_OFFSET(zx_vcpu_state_t, r13, 104);
ASSERT_OFFSET(zx_vcpu_state_t, r14, 112);
ASSERT_OFFSET(zx_vcpu_state_t, r15, 120);
ASSERT_OFFSET(zx_vcpu_state_t, rflags, 128);
#elif defined(__aarch64__)
ASSERT_SIZE(zx_vcpu_state_t, 264);
ASSERT_OFFSET(zx_vcpu_state_t, x, 0);
ASSERT_OFFSET(zx_vcpu_state_t, sp, 248);
ASSERT_OFFSET(zx_vcpu_state_t, cpsr, 256);
ASSERT_OFFSET(zx_vcpu_state_t, padding1, 260);
#else
#error "zxvm's ABI is defined for x86-64 and arm64 only"
#endif

/* zx_vcpu_io_t (spec §1.7). */
ASSERT_SIZE(zx_vcpu_io_t, 8);
ASSERT_OFFSET(zx_vcpu_io_t, access_size, 0);
ASSERT_OFFSET(zx_vcpu_io_t, padding1, 1);
ASSERT_OFFSET(zx_vcpu_io_t, data, 4);
ASSERT_OFFSET(zx_vcpu_io_t, u8, 4);
ASSERT_OFFSET(zx_vcpu_io_t, u16, 4);
ASSERT_OFFSET(zx_vcpu_io_t, u32, 4);

/* zx_port_packet_t and its union members (spec §1.8). */
ASSERT_SIZE(zx_port_packet_t, 48);
ASSERT_OFFSET(zx_port_packet_t, key, 0);
ASSERT_OFFSET(zx_port_packet_t, type, 8);
ASSERT_OFFSET(zx_port_packet_t, status, 12);
ASSERT_OFFSET(zx_port_packet_t, user, 16);
ASSERT_OFFSET(zx_port_packet_t, signal, 16);
ASSERT_OFFSET(zx_port_packet_t, guest_bell, 16);
ASSERT_OFFSET(zx_port_packet_t, guest_mem, 16);
ASSERT_OFFSET(zx_port_packet_t, guest_io, 16);
ASSERT_OFFSET(zx_port_packet_t, guest_vcpu, 16);
ASSERT_OFFSET(zx_port_packet_t, interrupt, 16);
ASSERT_OFFSET(zx_port_packet_t, page_request, 16);

ASSERT_SIZE(zx_packet_user_t, 32);
ASSERT_SIZE(zx_packet_signal_t, 32);
ASSERT_SIZE(zx_packet_guest_bell_t, 32);
ASSERT_SIZE(zx_packet_guest_mem_t, 32);
ASSERT_SIZE(zx_packet_guest_io_t, 32);
ASSERT_SIZE(zx_packet_guest_vcpu_t, 32);
ASSERT_SIZE(zx_packet_interrupt_t, 32);
ASSERT_SIZE(zx_packet_page_request_t, 32);

ASSERT_OFFSET(zx_packet_signal_t, trigger, 0);
ASSERT_OFFSET(zx_packet_signal_t, observed, 4);
ASSERT_OFFSET(zx_packet_signal_t, count, 8);
ASSERT_OFFSET(zx_packet_signal_t, timestamp, 16);
ASSERT_OFFSET(zx_packet_signal_t, reserved1, 24);

ASSERT_OFFSET(zx_packet_guest_bell_t, addr, 0);
ASSERT_OFFSET(zx_packet_guest_bell_t, reserved0, 8);
ASSERT_OFFSET(zx_packet_guest_bell_t, reserved1, 16);
ASSERT_OFFSET(zx_packet_guest_bell_t, reserved2, 24);

ASSERT_OFFSET(zx_packet_guest_mem_t, addr, 0);
#if defined(__x86_64__)
ASSERT_OFFSET(zx_packet_guest_mem_t, cr3, 8);
ASSERT_OFFSET(zx_packet_guest_mem_t, rip, 16);
ASSERT_OFFSET(zx_packet_guest_mem_t, instruction_size, 24);
ASSERT_OFFSET(zx_packet_guest_mem_t, default_operand_size, 25);
ASSERT_OFFSET(zx_packet_guest_mem_t, reserved, 26);
ASSERT_SIZE(((zx_packet_guest_mem_t *)0)->reserved, 6);
#elif defined(__aarch64__)
ASSERT_OFFSET(zx_packet_guest_mem_t, access_size, 8);
ASSERT_OFFSET(zx_packet_guest_mem_t, sign_extend, 9);
ASSERT_OFFSET(zx_packet_guest_mem_t, xt, 10);
ASSERT_OFFSET(zx_packet_guest_mem_t, read, 11);
ASSERT_OFFSET(zx_packet_guest_mem_t, padding1, 12);
ASSERT_OFFSET(zx_packet_guest_mem_t, data, 16);
ASSERT_OFFSET(zx_packet_guest_mem_t, reserved, 24);
#endif

ASSERT_OFFSET(zx_packet_guest_io_t, port, 0);
ASSERT_OFFSET(zx_packet_guest_io_t, access_size, 2);
ASSERT_OFFSET(zx_packet_guest_io_t, input, 3);
ASSERT_OFFSET(zx_packet_guest_io_t, data, 4);
ASSERT_OFFSET(zx_packet_guest_io_t, u8, 4);
ASSERT_OFFSET(zx_packet_guest_io_t, u16, 4);
ASSERT_OFFSET(zx_packet_guest_io_t, u32, 4);
ASSERT_OFFSET(zx_packet_guest_io_t, reserved0, 8);
ASSERT_OFFSET(zx_packet_guest_io_t, reserved1, 16);
ASSERT_OFFSET(zx_packet_guest_io_t, reserved2, 24);
ASSERT_SIZE(((zx_packet_guest_io_t *)0)->input, 1);

ASSERT_OFFSET(zx_packet_guest_vcpu_t, type, 0);
ASSERT_OFFSET(zx_packet_guest_vcpu_t, padding1, 4);
ASSERT_OFFSET(zx_packet_guest_vcpu_t, interrupt.mask, 8);
ASSERT_OFFSET(zx_packet_guest_vcpu_t, interrupt.vector, 16);
ASSERT_OFFSET(zx_packet_guest_vcpu_t, interrupt.padding1, 17);
ASSERT_OFFSET(zx_packet_guest_vcpu_t, startup.id, 8);
ASSERT_OFFSET(zx_packet_guest_vcpu_t, startup.entry, 16);
ASSERT_OFFSET(zx_packet_guest_vcpu_t, exit.retcode, 8);
ASSERT_OFFSET(zx_packet_guest_vcpu_t, exit.reserved, 16);
ASSERT_OFFSET(zx_packet_guest_vcpu_t, reserved, 24);

ASSERT_OFFSET(zx_packet_interrupt_t, timestamp, 0);
ASSERT_OFFSET(zx_packet_page_request_t, command, 0);
ASSERT_OFFSET(zx_packet_page_request_t, flags, 2);
ASSERT_OFFSET(zx_packet_page_request_t, offset, 8);
ASSERT_OFFSET(zx_packet_page_request_t, length, 16);

/* Object info records (spec §1.9). */
ASSERT_SIZE(zx_info_handle_basic_t, 32);
ASSERT_OFFSET(zx_info_handle_basic_t, koid, 0);
ASSERT_OFFSET(zx_info_handle_basic_t, rights, 8);
ASSERT_OFFSET(zx_info_handle_basic_t, type, 12);
ASSERT_OFFSET(zx_info_handle_basic_t, related_koid, 16);
ASSERT_OFFSET(zx_info_handle_basic_t, reserved, 24);
ASSERT_OFFSET(zx_info_handle_basic_t, padding1, 28);
ASSERT_SIZE(zx_info_vmar_t, 2 * sizeof(uintptr_t));
ASSERT_OFFSET(zx_info_vmar_t, base, 0);
ASSERT_OFFSET(zx_info_vmar_t, len, sizeof(uintptr_t));
ASSERT_SIZE(zx_info_vcpu_t, 4);

static int failures;

static void check_u64(const char *name, uint64_t expected, uint64_t actual)
{
	if (expected == actual)
		return;
	fprintf(stderr, "FAIL %s: expected 0x%llx, actual 0x%llx\n", name,
		(unsigned long long)expected, (unsigned long long)actual);
	failures++;
}

static void check_i64(const char *name, int64_t expected, int64_t actual)
{
	if (expected == actual)
		return;
	fprintf(stderr, "FAIL %s: expected %lld, actual %lld\n", name, (long long)expected,
		(long long)actual);
	failures++;
}

#define CHECK_U(expected, macro) check_u64(#macro, (expected), (uint64_t)(macro))
#define CHECK_I(expected, macro) check_i64(#macro, (expected), (int64_t)(macro))

static void check_constants(void)
{
	/* The default rights are checked against the hex values computed in spec §1.3, which
	 * also pins the newest variants (MANAGE_THREAD, OP_CHILDREN). */
	CHECK_U(0xC003, ZX_RIGHTS_BASIC);
	CHECK_U(0x000C, ZX_RIGHTS_IO);
	CHECK_U(0x00C0, ZX_RIGHTS_PROPERTY);
	CHECK_U(0x0004800B, ZX_DEFAULT_GUEST_RIGHTS);
	CHECK_U(0xD01F, ZX_DEFAULT_VCPU_RIGHTS);
	CHECK_U(0x800F, ZX_DEFAULT_PORT_RIGHTS);
	CHECK_U(0xD0EF, ZX_DEFAULT_VMO_RIGHTS);
	CHECK_U(0x208003, ZX_DEFAULT_VMAR_RIGHTS);
	CHECK_U(0x800B, ZX_DEFAULT_RESOURCE_RIGHTS);
	CHECK_U(0x40000, ZX_RIGHT_MANAGE_THREAD);
	CHECK_U(0x400000, ZX_RIGHT_RESIZE);
	CHECK_U(0x80000000, ZX_RIGHT_SAME_RIGHTS);

	CHECK_U(0, ZX_HANDLE_INVALID);
	CHECK_I(INT64_MAX, ZX_TIME_INFINITE);
	CHECK_I(INT64_MIN, ZX_TIME_INFINITE_PAST);

	CHECK_U(20, ZX_OBJ_TYPE_GUEST);
	CHECK_U(21, ZX_OBJ_TYPE_VCPU);
	CHECK_U(6, ZX_OBJ_TYPE_PORT);
	CHECK_U(3, ZX_OBJ_TYPE_VMO);
	CHECK_U(18, ZX_OBJ_TYPE_VMAR);
	CHECK_U(15, ZX_OBJ_TYPE_RESOURCE);
	CHECK_U(33, ZX_OBJ_TYPE_MSI_INTERRUPT);

	CHECK_U(0x10, ZX_VM_SPECIFIC);
	CHECK_U(0x800, ZX_VM_REQUIRE_NON_RESIZABLE);
	CHECK_U(0x2000, ZX_VM_OFFSET_IS_UPPER_LIMIT);
	CHECK_U(10u << 24, ZX_VM_ALIGN_1KB);
	CHECK_U(12u << 24, ZX_VM_ALIGN_4KB);
	CHECK_U(32u << 24, ZX_VM_ALIGN_4GB);
	CHECK_U(2, ZX_VMO_RESIZABLE);
	CHECK_U(4, ZX_VMO_DISCARDABLE);

	CHECK_U(5, ZX_RSRC_KIND_SYSTEM);
	CHECK_U(0, ZX_RSRC_SYSTEM_HYPERVISOR_BASE);
	CHECK_U(1, ZX_RSRC_SYSTEM_VMEX_BASE);

	CHECK_U(0, ZX_GUEST_TRAP_BELL);
	CHECK_U(1, ZX_GUEST_TRAP_MEM);
	CHECK_U(2, ZX_GUEST_TRAP_IO);
	CHECK_U(0, ZX_VCPU_STATE);
	CHECK_U(1, ZX_VCPU_IO);
	CHECK_U(1, ZX_GUEST_OPT_DIRECT);

	CHECK_U(3, ZX_PKT_TYPE_GUEST_BELL);
	CHECK_U(4, ZX_PKT_TYPE_GUEST_MEM);
	CHECK_U(5, ZX_PKT_TYPE_GUEST_IO);
	CHECK_U(6, ZX_PKT_TYPE_GUEST_VCPU);
	CHECK_U(9, ZX_PKT_TYPE_PAGE_REQUEST);
	CHECK_U(1, ZX_PKT_GUEST_VCPU_STARTUP);
	CHECK_U(2, ZX_PKT_GUEST_VCPU_EXIT);

	CHECK_U(1, ZX_INFO_HANDLE_VALID);
	CHECK_U(2, ZX_INFO_HANDLE_BASIC);
	CHECK_U(7, ZX_INFO_VMAR);
	CHECK_U(0x10000017, ZX_INFO_VMO);
	CHECK_U(29, ZX_INFO_GUEST_STATS);
	CHECK_U(32, ZX_INFO_VCPU);
	CHECK_U(1, ZX_INFO_VCPU_FLAG_KICKED);

	CHECK_I(-23, ZX_ERR_CANCELED);
	CHECK_I(-502, ZX_ERR_INTERNAL_INTR_KILLED);
}

/* Every status of spec §1.2, with its value written out independently of errors.h. */
static const struct {
	zx_status_t value;
	zx_status_t expected;
	const char *name;
} statuses[] = {
#define S(name, value) { name, value, #name }
	S(ZX_OK, 0),
	S(ZX_ERR_INTERNAL, -1),
	S(ZX_ERR_NOT_SUPPORTED, -2),
	S(ZX_ERR_NO_RESOURCES, -3),
	S(ZX_ERR_NO_MEMORY, -4),
	S(ZX_ERR_INTERNAL_INTR_RETRY, -6),
	S(ZX_ERR_INVALID_ARGS, -10),
	S(ZX_ERR_BAD_HANDLE, -11),
	S(ZX_ERR_WRONG_TYPE, -12),
	S(ZX_ERR_BAD_SYSCALL, -13),
	S(ZX_ERR_OUT_OF_RANGE, -14),
	S(ZX_ERR_BUFFER_TOO_SMALL, -15),
	S(ZX_ERR_BAD_STATE, -20),
	S(ZX_ERR_TIMED_OUT, -21),
	S(ZX_ERR_SHOULD_WAIT, -22),
	S(ZX_ERR_CANCELED, -23),
	S(ZX_ERR_PEER_CLOSED, -24),
	S(ZX_ERR_NOT_FOUND, -25),
	S(ZX_ERR_ALREADY_EXISTS, -26),
	S(ZX_ERR_ALREADY_BOUND, -27),
	S(ZX_ERR_UNAVAILABLE, -28),
	S(ZX_ERR_ACCESS_DENIED, -30),
	S(ZX_ERR_IO, -40),
	S(ZX_ERR_IO_REFUSED, -41),
	S(ZX_ERR_IO_DATA_INTEGRITY, -42),
	S(ZX_ERR_IO_DATA_LOSS, -43),
	S(ZX_ERR_IO_NOT_PRESENT, -44),
	S(ZX_ERR_IO_OVERRUN, -45),
	S(ZX_ERR_IO_MISSED_DEADLINE, -46),
	S(ZX_ERR_IO_INVALID, -47),
	S(ZX_ERR_BAD_PATH, -50),
	S(ZX_ERR_NOT_DIR, -51),
	S(ZX_ERR_NOT_FILE, -52),
	S(ZX_ERR_FILE_BIG, -53),
	S(ZX_ERR_NO_SPACE, -54),
	S(ZX_ERR_NOT_EMPTY, -55),
	S(ZX_ERR_STOP, -60),
	S(ZX_ERR_NEXT, -61),
	S(ZX_ERR_ASYNC, -62),
	S(ZX_ERR_PROTOCOL_NOT_SUPPORTED, -70),
	S(ZX_ERR_ADDRESS_UNREACHABLE, -71),
	S(ZX_ERR_ADDRESS_IN_USE, -72),
	S(ZX_ERR_NOT_CONNECTED, -73),
	S(ZX_ERR_CONNECTION_REFUSED, -74),
	S(ZX_ERR_CONNECTION_RESET, -75),
	S(ZX_ERR_CONNECTION_ABORTED, -76),
	S(ZX_ERR_INTERNAL_INTR_KILLED, -502),
#undef S
};

static void check_name(zx_status_t status, const char *expected)
{
	const char *actual = zx_status_get_string(status);

	if (strcmp(actual, expected) == 0)
		return;
	fprintf(stderr, "FAIL zx_status_get_string(%d): expected \"%s\", actual \"%s\"\n",
		(int)status, expected, actual);
	failures++;
}

static void check_status_strings(void)
{
	/* Values outside the table, including ones next to real codes, must not borrow a name. */
	static const zx_status_t unknown[] = { INT32_MIN, INT32_MAX, 1, -5, -29, -77, -501, -503 };
	size_t i;

	for (i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++) {
		check_i64(statuses[i].name, statuses[i].expected, statuses[i].value);
		check_name(statuses[i].value, statuses[i].name);
	}
	for (i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++)
		check_name(unknown[i], "(UNKNOWN)");
}

int main(void)
{
	check_constants();
	check_status_strings();
	if (failures) {
		fprintf(stderr, "abi_test: %d failure(s)\n", failures);
		return 1;
	}
	printf("abi_test: ok (%zu statuses)\n", sizeof(statuses) / sizeof(statuses[0]));
	return 0;
}
