/* The documented errors of the guest and VCPU calls that do not run a guest (spec §2.1-2.8):
 * zx_guest_create, zx_guest_set_trap, zx_vcpu_create and its thread rules, kick, interrupt,
 * read/write state, and enter, port_wait and port_queue without a packet. Every check goes
 * through the public API, in the order Zircon makes them (spec §2: options, then BAD_HANDLE,
 * WRONG_TYPE, ACCESS_DENIED, then kinds, sizes and pointers). */
#include <pthread.h>
#include <string.h>

#include "harness/guest.h"
#include "harness/objects.h"
#include "harness/test.h"

#define MAX_VCPUS 63 /* VPIDs come from [1, 64) (spec §2.1) */

/* Run fn(arg) on a new thread and return its status, for the thread rules of spec §2.3. */
struct thread_call {
	zx_status_t (*fn)(void *arg);
	void *arg;
	zx_status_t st;
};

static void *thread_call_main(void *p)
{
	struct thread_call *c = p;
	c->st = c->fn(c->arg);
	return NULL;
}

static zx_status_t on_new_thread(zx_status_t (*fn)(void *arg), void *arg)
{
	struct thread_call c = {fn, arg, ZX_ERR_INTERNAL};
	pthread_t t;
	if (pthread_create(&t, NULL, thread_call_main, &c) != 0)
		return ZX_ERR_NO_RESOURCES;
	pthread_join(t, NULL);
	return c.st;
}

struct vcpu_create_args {
	zx_handle_t guest;
	zx_handle_t vcpu;
};

static zx_status_t create_vcpu_call(void *arg)
{
	struct vcpu_create_args *a = arg;
	return zx_vcpu_create(a->guest, 0, 0, &a->vcpu);
}

static zx_status_t read_state_call(void *arg)
{
	zx_vcpu_state_t s;
	return zx_vcpu_read_state(*(zx_handle_t *)arg, ZX_VCPU_STATE, &s, sizeof(s));
}

static zx_status_t read_state_bad_kind_call(void *arg)
{
	zx_vcpu_state_t s;
	return zx_vcpu_read_state(*(zx_handle_t *)arg, 7, &s, sizeof(s));
}

static zx_status_t write_state_call(void *arg)
{
	zx_vcpu_state_t s = {0};
	return zx_vcpu_write_state(*(zx_handle_t *)arg, ZX_VCPU_STATE, &s, sizeof(s));
}

static zx_status_t write_state_bad_size_call(void *arg)
{
	zx_vcpu_state_t s = {0};
	return zx_vcpu_write_state(*(zx_handle_t *)arg, ZX_VCPU_STATE, &s, sizeof(s) - 8);
}

static zx_status_t write_io_call(void *arg)
{
	zx_vcpu_io_t io = {.access_size = 1};
	return zx_vcpu_write_state(*(zx_handle_t *)arg, ZX_VCPU_IO, &io, sizeof(io));
}

static zx_status_t enter_call(void *arg)
{
	zx_port_packet_t p;
	return zx_vcpu_enter(*(zx_handle_t *)arg, &p);
}

static zx_status_t enter_null_call(void *arg)
{
	return zx_vcpu_enter(*(zx_handle_t *)arg, NULL);
}

static zx_status_t kick_call(void *arg)
{
	return zx_vcpu_kick(*(zx_handle_t *)arg);
}

static zx_status_t interrupt_call(void *arg)
{
	return zx_vcpu_interrupt(*(zx_handle_t *)arg, 32);
}

static zx_status_t close_call(void *arg)
{
	return zx_handle_close(*(zx_handle_t *)arg);
}

/* ---- zx_guest_create (spec §2.1) ---- */

TEST(guest_create_options)
{
	zx_handle_t guest = ZX_HANDLE_INVALID, vmar = ZX_HANDLE_INVALID;
	/* Direct mode is out of scope for zxvm (spec, scope). */
	EXPECT_STATUS(ZX_ERR_NOT_SUPPORTED,
		      zx_guest_create(test_resource, ZX_GUEST_OPT_DIRECT, &guest, &vmar));
	EXPECT_STATUS(ZX_ERR_INVALID_ARGS, zx_guest_create(test_resource, 2, &guest, &vmar));
	EXPECT_STATUS(ZX_ERR_INVALID_ARGS,
		      zx_guest_create(test_resource, 0x80000000u, &guest, &vmar));
	EXPECT_EQ(ZX_HANDLE_INVALID, guest);
	EXPECT_EQ(ZX_HANDLE_INVALID, vmar);
}

TEST(guest_create_resource_errors)
{
	zx_handle_t guest, vmar, vmo;
	EXPECT_STATUS(ZX_ERR_BAD_HANDLE, zx_guest_create(ZX_HANDLE_INVALID, 0, &guest, &vmar));
	EXPECT_STATUS(ZX_ERR_BAD_HANDLE, zx_guest_create(MADE_UP_HANDLE, 0, &guest, &vmar));
	/* The newest kernel validates the resource before the options (spec §2.1). */
	EXPECT_STATUS(ZX_ERR_BAD_HANDLE, zx_guest_create(MADE_UP_HANDLE, 2, &guest, &vmar));
	ASSERT_OK(zx_vmo_create(PAGE, 0, &vmo));
	EXPECT_STATUS(ZX_ERR_WRONG_TYPE, zx_guest_create(vmo, 0, &guest, &vmar));
	zx_handle_close(vmo);
}

TEST(guest_create_resource_checked_before_options)
{
	zx_handle_t guest = ZX_HANDLE_INVALID, vmar = ZX_HANDLE_INVALID, vmo;
	ASSERT_OK(zx_vmo_create(PAGE, 0, &vmo));
	/* Resource validation first, then options (spec §2.1, newest kernel): a bad resource is
	 * reported even when the options alone would fail, as DIRECT (NOT_SUPPORTED) or an
	 * unknown value (INVALID_ARGS). */
	EXPECT_STATUS(ZX_ERR_BAD_HANDLE,
		      zx_guest_create(ZX_HANDLE_INVALID, ZX_GUEST_OPT_DIRECT, &guest, &vmar));
	EXPECT_STATUS(ZX_ERR_BAD_HANDLE,
		      zx_guest_create(MADE_UP_HANDLE, ZX_GUEST_OPT_DIRECT, &guest, &vmar));
	EXPECT_STATUS(ZX_ERR_WRONG_TYPE, zx_guest_create(vmo, ZX_GUEST_OPT_DIRECT, &guest, &vmar));
	EXPECT_STATUS(ZX_ERR_WRONG_TYPE, zx_guest_create(vmo, 2, &guest, &vmar));
	EXPECT_STATUS(ZX_ERR_WRONG_TYPE, zx_guest_create(vmo, 0x80000000u, &guest, &vmar));
	/* Out-parameters are written only on success. */
	EXPECT_EQ(ZX_HANDLE_INVALID, guest);
	EXPECT_EQ(ZX_HANDLE_INVALID, vmar);
	zx_handle_close(vmo);
}

TEST(guest_create_null_outs)
{
	zx_handle_t h;
	EXPECT_STATUS(ZX_ERR_INVALID_ARGS, zx_guest_create(test_resource, 0, NULL, &h));
	EXPECT_STATUS(ZX_ERR_INVALID_ARGS, zx_guest_create(test_resource, 0, &h, NULL));
	EXPECT_STATUS(ZX_ERR_INVALID_ARGS, zx_guest_create(test_resource, 0, NULL, NULL));
}

TEST(guest_create_twice_gives_distinct_guests)
{
	struct guest a, b;
	ASSERT_OK(guest_create(&a));
	ASSERT_OK(guest_create(&b));
	zx_info_handle_basic_t ia, ib;
	EXPECT_STATUS(ZX_OK, zx_object_get_info(a.guest, ZX_INFO_HANDLE_BASIC, &ia, sizeof(ia),
						NULL, NULL));
	EXPECT_STATUS(ZX_OK, zx_object_get_info(b.guest, ZX_INFO_HANDLE_BASIC, &ib, sizeof(ib),
						NULL, NULL));
	EXPECT_TRUE(ia.koid != ib.koid);
	EXPECT_TRUE(a.guest != b.guest && a.vmar != b.vmar);
	guest_close(&a);
	guest_close(&b);
}

/* ---- zx_guest_set_trap (spec §2.2) ---- */

TEST(set_trap_guest_handle_errors)
{
	struct guest g;
	ASSERT_OK(guest_create(&g));
	EXPECT_STATUS(ZX_ERR_BAD_HANDLE, zx_guest_set_trap(ZX_HANDLE_INVALID, ZX_GUEST_TRAP_IO,
							   0x60, 1, ZX_HANDLE_INVALID, 0));
	EXPECT_STATUS(ZX_ERR_BAD_HANDLE, zx_guest_set_trap(MADE_UP_HANDLE, ZX_GUEST_TRAP_IO, 0x60,
							   1, ZX_HANDLE_INVALID, 0));
	EXPECT_STATUS(ZX_ERR_WRONG_TYPE,
		      zx_guest_set_trap(g.vmar, ZX_GUEST_TRAP_IO, 0x60, 1, ZX_HANDLE_INVALID, 0));
	zx_handle_t ro;
	ASSERT_OK(dup_without(g.guest, ZX_RIGHT_WRITE, &ro));
	EXPECT_STATUS(ZX_ERR_ACCESS_DENIED,
		      zx_guest_set_trap(ro, ZX_GUEST_TRAP_IO, 0x60, 1, ZX_HANDLE_INVALID, 0));
	/* Rights are checked before the kind (spec §2: handle lookup comes first). */
	EXPECT_STATUS(ZX_ERR_ACCESS_DENIED,
		      zx_guest_set_trap(ro, 99, 0x60, 1, ZX_HANDLE_INVALID, 0));
	/* A guest handle with WRITE alone is enough. */
	zx_handle_t w;
	ASSERT_OK(zx_handle_duplicate(g.guest, ZX_RIGHT_WRITE, &w));
	EXPECT_STATUS(ZX_OK, zx_guest_set_trap(w, ZX_GUEST_TRAP_IO, 0x60, 1, ZX_HANDLE_INVALID, 0));
	zx_handle_close(w);
	zx_handle_close(ro);
	guest_close(&g);
}

TEST(set_trap_port_handle_errors)
{
	struct guest g;
	zx_handle_t port, vmo, noport;
	ASSERT_OK(guest_create(&g));
	ASSERT_OK(zx_port_create(0, &port));
	ASSERT_OK(zx_vmo_create(PAGE, 0, &vmo));
	EXPECT_STATUS(ZX_ERR_BAD_HANDLE,
		      zx_guest_set_trap(g.guest, ZX_GUEST_TRAP_BELL, 0, PAGE, MADE_UP_HANDLE, 0));
	EXPECT_STATUS(ZX_ERR_WRONG_TYPE,
		      zx_guest_set_trap(g.guest, ZX_GUEST_TRAP_BELL, 0, PAGE, vmo, 0));
	EXPECT_STATUS(ZX_ERR_WRONG_TYPE,
		      zx_guest_set_trap(g.guest, ZX_GUEST_TRAP_BELL, 0, PAGE, g.guest, 0));
	ASSERT_OK(dup_without(port, ZX_RIGHT_WRITE, &noport));
	EXPECT_STATUS(ZX_ERR_ACCESS_DENIED,
		      zx_guest_set_trap(g.guest, ZX_GUEST_TRAP_BELL, 0, PAGE, noport, 0));
	/* The failed calls left no trap behind: the same range is still free. */
	EXPECT_STATUS(ZX_OK, zx_guest_set_trap(g.guest, ZX_GUEST_TRAP_BELL, 0, PAGE, port, 0));
	zx_handle_close(noport);
	zx_handle_close(vmo);
	zx_handle_close(port);
	guest_close(&g);
}

TEST(set_trap_handles_checked_before_kind_and_range)
{
	struct guest g;
	zx_handle_t port, vmo, noport, noguest;
	ASSERT_OK(guest_create(&g));
	ASSERT_OK(zx_port_create(0, &port));
	ASSERT_OK(zx_vmo_create(PAGE, 0, &vmo));
	ASSERT_OK(dup_without(port, ZX_RIGHT_WRITE, &noport));
	ASSERT_OK(dup_without(g.guest, ZX_RIGHT_WRITE, &noguest));
	/* The syscall looks up the guest, then the port (when one is given), and only then does
	 * the guest check the kind, whether a port goes with it, and the range (spec §2, §2.2).
	 * So a bad port beats "MEM and IO take no port"... */
	EXPECT_STATUS(ZX_ERR_BAD_HANDLE, zx_guest_set_trap(g.guest, ZX_GUEST_TRAP_MEM, 0x1000, PAGE,
							   MADE_UP_HANDLE, 0));
	EXPECT_STATUS(ZX_ERR_WRONG_TYPE,
		      zx_guest_set_trap(g.guest, ZX_GUEST_TRAP_IO, 0x60, 1, vmo, 0));
	EXPECT_STATUS(ZX_ERR_ACCESS_DENIED,
		      zx_guest_set_trap(g.guest, ZX_GUEST_TRAP_MEM, 0x1000, PAGE, noport, 0));
	/* ...an unknown kind, an unaligned or empty range, and one outside the space. */
	EXPECT_STATUS(ZX_ERR_ACCESS_DENIED,
		      zx_guest_set_trap(g.guest, 99, 0x1000, PAGE, noport, 0));
	EXPECT_STATUS(ZX_ERR_ACCESS_DENIED,
		      zx_guest_set_trap(g.guest, ZX_GUEST_TRAP_BELL, 0x1004, 0, noport, 0));
	EXPECT_STATUS(ZX_ERR_BAD_HANDLE, zx_guest_set_trap(g.guest, ZX_GUEST_TRAP_BELL, ASPACE_SIZE,
							   PAGE, MADE_UP_HANDLE, 0));
	/* The guest handle is looked up before the port. */
	EXPECT_STATUS(ZX_ERR_ACCESS_DENIED, zx_guest_set_trap(noguest, ZX_GUEST_TRAP_BELL, 0x1000,
							      PAGE, MADE_UP_HANDLE, 0));
	EXPECT_STATUS(ZX_ERR_WRONG_TYPE,
		      zx_guest_set_trap(port, ZX_GUEST_TRAP_BELL, 0x1000, PAGE, vmo, 0));
	/* None of them registered a trap. */
	EXPECT_STATUS(ZX_OK, zx_guest_set_trap(g.guest, ZX_GUEST_TRAP_MEM, 0x1000, PAGE,
					       ZX_HANDLE_INVALID, 0));
	EXPECT_STATUS(ZX_OK,
		      zx_guest_set_trap(g.guest, ZX_GUEST_TRAP_IO, 0x60, 1, ZX_HANDLE_INVALID, 0));
	zx_handle_close(noguest);
	zx_handle_close(noport);
	zx_handle_close(vmo);
	zx_handle_close(port);
	guest_close(&g);
}

/* One zx_guest_set_trap call of a table: with the test's port or none, and its status. */
struct trap_case {
	zx_status_t want;
	uint32_t kind;
	uint64_t addr, size;
	bool port;
	uint64_t key;
	bool stop; /* a failure ends the table: the cases after it build on this one */
};

#define TRAP(want, kind, addr, size, port, key)                                                    \
	((struct trap_case){(want), (kind), (addr), (size), (port), (key), false})
#define MEM(want, addr, size) TRAP(want, ZX_GUEST_TRAP_MEM, addr, size, false, 0)
#define BELL(want, addr, size) TRAP(want, ZX_GUEST_TRAP_BELL, addr, size, true, 0)
#define IO(want, addr, size) TRAP(want, ZX_GUEST_TRAP_IO, addr, size, false, 0)
/* A MEM trap the cases after it build on: if it fails, the table ends. */
#define MEM_FIRST(addr, size)                                                                      \
	((struct trap_case){ZX_OK, ZX_GUEST_TRAP_MEM, (addr), (size), false, 0, true})

/* The calls in order on a new guest, each checked. */
static void expect_traps_at(int line, const struct trap_case *c, size_t n)
{
	struct guest g;
	zx_handle_t port;
	ASSERT_OK(guest_create(&g));
	ASSERT_OK(zx_port_create(0, &port));
	for (size_t i = 0; i < n; i++) {
		zx_handle_t h = c[i].port ? port : ZX_HANDLE_INVALID;
		zx_status_t st =
			zx_guest_set_trap(g.guest, c[i].kind, c[i].addr, c[i].size, h, c[i].key);
		if (st == c[i].want)
			continue;
		test_fail(__FILE__, line,
			  "case %zu: set_trap(kind %u, addr %#" PRIx64 ", size %#" PRIx64
			  ", %s, key %" PRIu64 "): expected %s, got %s",
			  i, c[i].kind, c[i].addr, c[i].size, c[i].port ? "port" : "no port",
			  c[i].key, zx_status_get_string(c[i].want), zx_status_get_string(st));
		if (c[i].stop)
			break;
	}
	zx_handle_close(port);
	guest_close(&g);
}

#define EXPECT_TRAPS(cases) expect_traps_at(__LINE__, (cases), ARRAY_SIZE(cases))

TEST(set_trap_kind_and_port_rules)
{
	static const struct trap_case cases[] = {
		TRAP(ZX_ERR_INVALID_ARGS, 3, 0x1000, PAGE, false, 0),
		TRAP(ZX_ERR_INVALID_ARGS, UINT32_MAX, 0x1000, PAGE, true, 0),
		/* MEM and IO are synchronous: no port; BELL is asynchronous: a port. */
		TRAP(ZX_ERR_INVALID_ARGS, ZX_GUEST_TRAP_MEM, 0x1000, PAGE, true, 0),
		TRAP(ZX_ERR_INVALID_ARGS, ZX_GUEST_TRAP_BELL, 0x1000, PAGE, false, 0),
		TRAP(ZX_ERR_INVALID_ARGS, ZX_GUEST_TRAP_IO, 0x60, 1, true, 0),
		/* None of them registered anything; the right combinations all work. */
		TRAP(ZX_OK, ZX_GUEST_TRAP_MEM, 0x1000, PAGE, false, 1),
		TRAP(ZX_OK, ZX_GUEST_TRAP_BELL, 0x2000, PAGE, true, 2),
		TRAP(ZX_OK, ZX_GUEST_TRAP_IO, 0x60, 1, false, 3),
	};
	EXPECT_TRAPS(cases);
}

TEST(set_trap_mem_bell_alignment)
{
	static const struct trap_case cases[] = {
		MEM(ZX_ERR_INVALID_ARGS, 0x1004, PAGE),
		MEM(ZX_ERR_INVALID_ARGS, 0x1000, 0x800),
		MEM(ZX_ERR_INVALID_ARGS, 0x1000, PAGE + 4),
		BELL(ZX_ERR_INVALID_ARGS, 0x1800, PAGE),
		BELL(ZX_ERR_INVALID_ARGS, 0x1000, 4),
		/* IO traps have no alignment rule: any port, any width. */
		IO(ZX_OK, 0x3f9, 3),
	};
	EXPECT_TRAPS(cases);
}

TEST(set_trap_ranges)
{
	static const struct trap_case cases[] = {
		/* size 0 */
		MEM(ZX_ERR_OUT_OF_RANGE, 0x1000, 0),
		BELL(ZX_ERR_OUT_OF_RANGE, 0x1000, 0),
		IO(ZX_ERR_OUT_OF_RANGE, 0x60, 0),
		/* addr + size overflows */
		MEM(ZX_ERR_OUT_OF_RANGE, UINT64_MAX - PAGE + 1, 2 * PAGE),
		IO(ZX_ERR_OUT_OF_RANGE, UINT64_MAX, 2),
		/* IO: the end (addr + size) may not pass UINT16_MAX. */
		IO(ZX_ERR_OUT_OF_RANGE, 0xfff0, 0x10),
		IO(ZX_ERR_OUT_OF_RANGE, 0x10000, 1),
		IO(ZX_OK, 0xfff0, 0xf),
		/* MEM/BELL: inside the 2^48 guest-physical address space. */
		MEM(ZX_ERR_OUT_OF_RANGE, ASPACE_SIZE, PAGE),
		MEM(ZX_ERR_OUT_OF_RANGE, ASPACE_SIZE - PAGE, 2 * PAGE),
		BELL(ZX_ERR_OUT_OF_RANGE, ASPACE_SIZE, PAGE),
		MEM(ZX_OK, ASPACE_SIZE - PAGE, PAGE),
	};
	EXPECT_TRAPS(cases);
}

TEST(set_trap_bell_ranges)
{
	static const struct trap_case cases[] = {
		/* BELL shares MEM's range rules (spec §2.2): addr + size overflowing, and a range
		 * that runs past the end of the 2^48 space, are OUT_OF_RANGE... */
		BELL(ZX_ERR_OUT_OF_RANGE, UINT64_MAX - PAGE + 1, 2 * PAGE),
		BELL(ZX_ERR_OUT_OF_RANGE, ASPACE_SIZE - PAGE, 2 * PAGE),
		BELL(ZX_ERR_OUT_OF_RANGE, ASPACE_SIZE - PAGE, UINT64_MAX - PAGE + 1),
		/* ...and its last page is fine. */
		BELL(ZX_OK, ASPACE_SIZE - PAGE, PAGE),
	};
	EXPECT_TRAPS(cases);
}

TEST(set_trap_overlap)
{
	static const struct trap_case cases[] = {
		MEM_FIRST(0x10000, 2 * PAGE),
		/* MEM and BELL share one address space (spec §2.2). */
		MEM(ZX_ERR_ALREADY_EXISTS, 0x11000, PAGE),
		MEM(ZX_ERR_ALREADY_EXISTS, 0xf000, 2 * PAGE),
		BELL(ZX_ERR_ALREADY_EXISTS, 0x10000, PAGE),
		BELL(ZX_ERR_ALREADY_EXISTS, 0, 0x100000),
		/* Neighbours on both sides are fine. */
		BELL(ZX_OK, 0x12000, PAGE),
		MEM(ZX_OK, 0xf000, PAGE),
		MEM(ZX_ERR_ALREADY_EXISTS, 0x12000, PAGE),
		/* IO has its own space: port numbers and addresses never collide. */
		IO(ZX_OK, 0x1000, 0x10),
		IO(ZX_ERR_ALREADY_EXISTS, 0x100f, 1),
		IO(ZX_ERR_ALREADY_EXISTS, 0xff0, 0x11),
		IO(ZX_OK, 0x1010, 1),
		MEM(ZX_OK, 0x1000, PAGE),
		IO(ZX_OK, 0xf000, 1),
	};
	EXPECT_TRAPS(cases);
}

TEST(set_trap_overlap_is_per_guest)
{
	struct guest a, b;
	ASSERT_OK(guest_create(&a));
	ASSERT_OK(guest_create(&b));
	EXPECT_STATUS(ZX_OK, zx_guest_set_trap(a.guest, ZX_GUEST_TRAP_MEM, 0x1000, PAGE,
					       ZX_HANDLE_INVALID, 0));
	EXPECT_STATUS(ZX_OK, zx_guest_set_trap(b.guest, ZX_GUEST_TRAP_MEM, 0x1000, PAGE,
					       ZX_HANDLE_INVALID, 0));
	guest_close(&a);
	guest_close(&b);
}

TEST(set_trap_unmaps_guest_memory)
{
	struct guest g;
	zx_handle_t vmo;
	zx_vaddr_t addr;
	ASSERT_OK(guest_create(&g));
	ASSERT_OK(zx_vmo_create(4 * PAGE, 0, &vmo));
	ASSERT_OK(zx_vmar_map(g.vmar, ZX_VM_PERM_READ | ZX_VM_PERM_WRITE | ZX_VM_SPECIFIC, 0, vmo,
			      0, 4 * PAGE, &addr));
	/* A MEM trap on page 1 makes it a hole in the RAM mapping (spec §2.2). */
	ASSERT_OK(zx_guest_set_trap(g.guest, ZX_GUEST_TRAP_MEM, PAGE, PAGE, ZX_HANDLE_INVALID, 0));
	EXPECT_STATUS(ZX_ERR_NOT_FOUND, zx_vmar_unmap(g.vmar, PAGE, PAGE));
	EXPECT_STATUS(ZX_OK, zx_vmar_unmap(g.vmar, 0, PAGE));
	EXPECT_STATUS(ZX_OK, zx_vmar_unmap(g.vmar, 2 * PAGE, 2 * PAGE));
	/* An IO trap at the same number leaves memory alone. */
	ASSERT_OK(
		zx_vmar_map(g.vmar, ZX_VM_PERM_READ | ZX_VM_SPECIFIC, 0x8000, vmo, 0, PAGE, &addr));
	ASSERT_OK(zx_guest_set_trap(g.guest, ZX_GUEST_TRAP_IO, 0x8000, PAGE, ZX_HANDLE_INVALID, 0));
	EXPECT_STATUS(ZX_OK, zx_vmar_unmap(g.vmar, 0x8000, PAGE));
	zx_handle_close(vmo);
	guest_close(&g);
}

/* ---- zx_vcpu_create (spec §2.3) ---- */

TEST(vcpu_create_options_checked_first)
{
	struct guest g;
	zx_handle_t vcpu;
	ASSERT_OK(guest_create(&g));
	/* options are checked before the handle: INVALID_ARGS even for a bad handle. */
	EXPECT_STATUS(ZX_ERR_INVALID_ARGS, zx_vcpu_create(ZX_HANDLE_INVALID, 1, 0, &vcpu));
	EXPECT_STATUS(ZX_ERR_INVALID_ARGS, zx_vcpu_create(MADE_UP_HANDLE, 0x80000000u, 0, &vcpu));
	EXPECT_STATUS(ZX_ERR_INVALID_ARGS, zx_vcpu_create(g.vmar, 1, 0, &vcpu));
	EXPECT_STATUS(ZX_ERR_INVALID_ARGS, zx_vcpu_create(g.guest, 1, 0, &vcpu));
	/* The thread has no VCPU after all that. */
	ASSERT_OK(zx_vcpu_create(g.guest, 0, 0, &vcpu));
	zx_handle_close(vcpu);
	guest_close(&g);
}

TEST(vcpu_create_handle_errors)
{
	struct guest g;
	zx_handle_t vcpu, nomanage, port;
	ASSERT_OK(guest_create(&g));
	ASSERT_OK(zx_port_create(0, &port));
	EXPECT_STATUS(ZX_ERR_BAD_HANDLE, zx_vcpu_create(ZX_HANDLE_INVALID, 0, 0, &vcpu));
	EXPECT_STATUS(ZX_ERR_BAD_HANDLE, zx_vcpu_create(MADE_UP_HANDLE, 0, 0, &vcpu));
	EXPECT_STATUS(ZX_ERR_WRONG_TYPE, zx_vcpu_create(g.vmar, 0, 0, &vcpu));
	EXPECT_STATUS(ZX_ERR_WRONG_TYPE, zx_vcpu_create(port, 0, 0, &vcpu));
	/* MANAGE_THREAD is the right (newest kernels; spec §2.3). */
	ASSERT_OK(dup_without(g.guest, ZX_RIGHT_MANAGE_THREAD, &nomanage));
	EXPECT_STATUS(ZX_ERR_ACCESS_DENIED, zx_vcpu_create(nomanage, 0, 0, &vcpu));
	zx_handle_t manage_only;
	ASSERT_OK(zx_handle_duplicate(g.guest, ZX_RIGHT_MANAGE_THREAD, &manage_only));
	ASSERT_OK(zx_vcpu_create(manage_only, 0, 0, &vcpu));
	zx_handle_close(vcpu);
	zx_handle_close(manage_only);
	zx_handle_close(nomanage);
	zx_handle_close(port);
	guest_close(&g);
}

TEST(vcpu_create_entry_and_out)
{
	struct guest g;
	zx_handle_t vcpu;
	ASSERT_OK(guest_create(&g));
	EXPECT_STATUS(ZX_ERR_INVALID_ARGS, zx_vcpu_create(g.guest, 0, ASPACE_SIZE, &vcpu));
	EXPECT_STATUS(ZX_ERR_INVALID_ARGS, zx_vcpu_create(g.guest, 0, UINT64_MAX, &vcpu));
	EXPECT_STATUS(ZX_ERR_INVALID_ARGS, zx_vcpu_create(g.guest, 0, 0x1000, NULL));
	/* The last address of the space is a valid entry. */
	ASSERT_OK(zx_vcpu_create(g.guest, 0, ASPACE_SIZE - 1, &vcpu));
	zx_handle_close(vcpu);
	guest_close(&g);
}

TEST(vcpu_handle_checked_before_arguments)
{
	struct guest g;
	zx_handle_t vcpu, out, nomanage, nowrite, noread;
	zx_vcpu_io_t io = {.access_size = 3};
	ASSERT_OK(guest_create(&g));
	ASSERT_OK(dup_without(g.guest, ZX_RIGHT_MANAGE_THREAD, &nomanage));
	/* zx_vcpu_create: options, then the guest handle, then the entry (spec §2.3). */
	EXPECT_STATUS(ZX_ERR_BAD_HANDLE, zx_vcpu_create(MADE_UP_HANDLE, 0, ASPACE_SIZE, &out));
	EXPECT_STATUS(ZX_ERR_WRONG_TYPE, zx_vcpu_create(g.vmar, 0, ASPACE_SIZE, &out));
	EXPECT_STATUS(ZX_ERR_ACCESS_DENIED, zx_vcpu_create(nomanage, 0, ASPACE_SIZE, &out));
	ASSERT_OK(zx_vcpu_create(g.guest, 0, 0, &vcpu));
	ASSERT_OK(dup_without(vcpu, ZX_RIGHT_WRITE, &nowrite));
	ASSERT_OK(dup_without(vcpu, ZX_RIGHT_READ, &noread));
	/* zx_vcpu_interrupt: the handle before the vector (spec §2.6). */
	EXPECT_STATUS(ZX_ERR_BAD_HANDLE, zx_vcpu_interrupt(MADE_UP_HANDLE, 256));
	EXPECT_STATUS(ZX_ERR_WRONG_TYPE, zx_vcpu_interrupt(g.guest, 256));
	/* read/write_state: the handle before the buffer and, for IO, its access size
	 * (spec §2.7, §2.8). */
	EXPECT_STATUS(ZX_ERR_BAD_HANDLE,
		      zx_vcpu_read_state(MADE_UP_HANDLE, ZX_VCPU_STATE, NULL, 0));
	EXPECT_STATUS(ZX_ERR_ACCESS_DENIED, zx_vcpu_read_state(noread, ZX_VCPU_STATE, NULL, 0));
	EXPECT_STATUS(ZX_ERR_ACCESS_DENIED,
		      zx_vcpu_write_state(nowrite, ZX_VCPU_IO, &io, sizeof(io)));
	EXPECT_STATUS(ZX_ERR_ACCESS_DENIED,
		      zx_vcpu_write_state(nowrite, ZX_VCPU_STATE, NULL, sizeof(zx_vcpu_state_t)));
	zx_handle_close(noread);
	zx_handle_close(nowrite);
	zx_handle_close(vcpu);
	zx_handle_close(nomanage);
	guest_close(&g);
}

TEST(vcpu_create_one_per_thread)
{
	struct guest g, other;
	zx_handle_t vcpu, second;
	ASSERT_OK(guest_create(&g));
	ASSERT_OK(guest_create(&other));
	ASSERT_OK(zx_vcpu_create(g.guest, 0, 0, &vcpu));
	EXPECT_STATUS(ZX_ERR_BAD_STATE, zx_vcpu_create(g.guest, 0, 0, &second));
	/* The rule is per thread, not per guest. */
	EXPECT_STATUS(ZX_ERR_BAD_STATE, zx_vcpu_create(other.guest, 0, 0, &second));
	/* A duplicate keeps the VCPU (and the binding) alive... */
	zx_handle_t dup;
	ASSERT_OK(zx_handle_duplicate(vcpu, ZX_RIGHT_SAME_RIGHTS, &dup));
	ASSERT_OK(zx_handle_close(vcpu));
	EXPECT_STATUS(ZX_ERR_BAD_STATE, zx_vcpu_create(g.guest, 0, 0, &second));
	/* ...and closing the last handle frees the thread for a new one. */
	ASSERT_OK(zx_handle_close(dup));
	ASSERT_OK(zx_vcpu_create(other.guest, 0, 0, &second));
	zx_handle_close(second);
	guest_close(&g);
	guest_close(&other);
}

TEST(vcpu_create_on_a_second_thread)
{
	struct guest g;
	zx_handle_t vcpu;
	ASSERT_OK(guest_create(&g));
	ASSERT_OK(zx_vcpu_create(g.guest, 0, 0, &vcpu));
	struct vcpu_create_args a = {.guest = g.guest};
	ASSERT_OK(on_new_thread(create_vcpu_call, &a));
	zx_info_handle_basic_t i1, i2;
	ASSERT_OK(zx_object_get_info(vcpu, ZX_INFO_HANDLE_BASIC, &i1, sizeof(i1), NULL, NULL));
	ASSERT_OK(zx_object_get_info(a.vcpu, ZX_INFO_HANDLE_BASIC, &i2, sizeof(i2), NULL, NULL));
	EXPECT_EQ(ZX_OBJ_TYPE_VCPU, i2.type);
	EXPECT_TRUE(i1.koid != i2.koid);
	/* Its thread has exited: the bound calls stay refused, kick and interrupt still work
	 * (spec §2.6: the interrupt is only recorded), and so does closing (spec §2.3). */
	EXPECT_STATUS(ZX_ERR_BAD_STATE, read_state_call(&a.vcpu));
	EXPECT_STATUS(ZX_ERR_BAD_STATE, write_state_call(&a.vcpu));
	EXPECT_STATUS(ZX_ERR_BAD_STATE, enter_call(&a.vcpu));
	EXPECT_STATUS(ZX_OK, kick_call(&a.vcpu));
	EXPECT_STATUS(ZX_OK, interrupt_call(&a.vcpu));
	EXPECT_STATUS(ZX_OK, zx_handle_close(a.vcpu));
	EXPECT_STATUS(ZX_OK, zx_handle_close(vcpu));
	guest_close(&g);
}

TEST(vcpu_create_limit_63)
{
	struct guest g;
	ASSERT_OK(guest_create(&g));
	zx_handle_t vcpus[MAX_VCPUS];
	int n = 0;
	for (; n < MAX_VCPUS; n++) {
		struct vcpu_create_args a = {.guest = g.guest};
		zx_status_t st = on_new_thread(create_vcpu_call, &a);
		if (st != ZX_OK) {
			test_fail(__FILE__, __LINE__, "VCPU %d: expected ZX_OK, got %s", n + 1,
				  zx_status_get_string(st));
			break;
		}
		vcpus[n] = a.vcpu;
	}
	if (n == MAX_VCPUS) {
		/* VPIDs are exhausted, on this thread as on a fresh one. */
		zx_handle_t extra;
		EXPECT_STATUS(ZX_ERR_NO_RESOURCES, zx_vcpu_create(g.guest, 0, 0, &extra));
		struct vcpu_create_args a = {.guest = g.guest};
		EXPECT_STATUS(ZX_ERR_NO_RESOURCES, on_new_thread(create_vcpu_call, &a));
		/* Another guest has its own VPIDs. */
		struct guest other;
		ASSERT_OK(guest_create(&other));
		EXPECT_STATUS(ZX_OK, zx_vcpu_create(other.guest, 0, 0, &extra));
		zx_handle_close(extra);
		guest_close(&other);
		/* Closing one frees its VPID. */
		EXPECT_STATUS(ZX_OK, zx_handle_close(vcpus[--n]));
		EXPECT_STATUS(ZX_OK, zx_vcpu_create(g.guest, 0, 0, &extra));
		zx_handle_close(extra);
	}
	while (n > 0)
		EXPECT_STATUS(ZX_OK, zx_handle_close(vcpus[--n]));
	guest_close(&g);
}

TEST(vcpu_create_close_cycles)
{
	struct guest g;
	ASSERT_OK(guest_create(&g));
	/* More cycles than there are VPIDs, and than the 1024 vcpus KVM lets a VM create over its
	 * life: a closed VCPU gives everything back. */
	for (int i = 0; i < 1100; i++) {
		zx_handle_t vcpu;
		zx_status_t st = zx_vcpu_create(g.guest, 0, 0x1000, &vcpu);
		if (st != ZX_OK) {
			test_fail(__FILE__, __LINE__, "cycle %d: expected ZX_OK, got %s", i,
				  zx_status_get_string(st));
			break;
		}
		ASSERT_OK(zx_handle_close(vcpu));
	}
	guest_close(&g);
}

TEST(vcpu_outlives_guest_handle)
{
	struct guest g;
	zx_handle_t vcpu;
	ASSERT_OK(guest_create(&g));
	ASSERT_OK(zx_vcpu_create(g.guest, 0, 0, &vcpu));
	guest_close(&g);
	/* The VCPU keeps its guest alive: state calls still work. */
	zx_vcpu_state_t s;
	EXPECT_STATUS(ZX_OK, zx_vcpu_read_state(vcpu, ZX_VCPU_STATE, &s, sizeof(s)));
	EXPECT_STATUS(ZX_OK, zx_vcpu_kick(vcpu));
	EXPECT_STATUS(ZX_OK, zx_handle_close(vcpu));
}

/* ---- the thread rules of enter / read_state / write_state (spec §2.3, §8) ---- */

TEST(vcpu_bound_calls_from_another_thread)
{
	struct guest g;
	zx_handle_t vcpu;
	ASSERT_OK(guest_create(&g));
	ASSERT_OK(zx_vcpu_create(g.guest, 0, 0, &vcpu));
	EXPECT_STATUS(ZX_ERR_BAD_STATE, on_new_thread(read_state_call, &vcpu));
	EXPECT_STATUS(ZX_ERR_BAD_STATE, on_new_thread(write_state_call, &vcpu));
	EXPECT_STATUS(ZX_ERR_BAD_STATE, on_new_thread(write_io_call, &vcpu));
	EXPECT_STATUS(ZX_ERR_BAD_STATE, on_new_thread(enter_call, &vcpu));
	/* Kick and interrupt may come from any thread. */
	EXPECT_STATUS(ZX_OK, on_new_thread(kick_call, &vcpu));
	EXPECT_STATUS(ZX_OK, on_new_thread(interrupt_call, &vcpu));
	/* The owner still can; the kick makes its next enter return at once. */
	EXPECT_STATUS(ZX_OK, read_state_call(&vcpu));
	EXPECT_STATUS(ZX_OK, write_state_call(&vcpu));
	zx_port_packet_t p;
	EXPECT_STATUS(ZX_ERR_CANCELED, zx_vcpu_enter(vcpu, &p));
	/* Closing may be done from any thread. */
	EXPECT_STATUS(ZX_OK, on_new_thread(close_call, &vcpu));
	EXPECT_STATUS(ZX_ERR_BAD_HANDLE, zx_handle_close(vcpu));
	/* ...and it unbinds the creating thread. */
	ASSERT_OK(zx_vcpu_create(g.guest, 0, 0, &vcpu));
	zx_handle_close(vcpu);
	guest_close(&g);
}

TEST(vcpu_state_args_checked_before_thread)
{
	struct guest g;
	zx_handle_t vcpu;
	ASSERT_OK(guest_create(&g));
	ASSERT_OK(zx_vcpu_create(g.guest, 0, 0, &vcpu));
	/* Kind and size are syscall arguments, checked right after the handle; the thread rule
	 * belongs to the VCPU object (spec §2.7, §2.8; STYLE.md "Shape"). */
	EXPECT_STATUS(ZX_ERR_INVALID_ARGS, on_new_thread(read_state_bad_kind_call, &vcpu));
	EXPECT_STATUS(ZX_ERR_INVALID_ARGS, on_new_thread(write_state_bad_size_call, &vcpu));
	zx_handle_close(vcpu);
	guest_close(&g);
}

/* ---- zx_vcpu_read_state / zx_vcpu_write_state (spec §2.7, §2.8) ---- */

TEST(read_state_handle_errors)
{
	struct guest g;
	zx_handle_t vcpu, noread, vmo, bare_vmo;
	zx_vcpu_state_t s;
	ASSERT_OK(guest_create(&g));
	ASSERT_OK(zx_vcpu_create(g.guest, 0, 0, &vcpu));
	ASSERT_OK(zx_vmo_create(PAGE, 0, &vmo));
	ASSERT_OK(zx_handle_replace(vmo, ZX_RIGHT_NONE, &bare_vmo));
	EXPECT_STATUS(ZX_ERR_BAD_HANDLE,
		      zx_vcpu_read_state(ZX_HANDLE_INVALID, ZX_VCPU_STATE, &s, sizeof(s)));
	EXPECT_STATUS(ZX_ERR_BAD_HANDLE,
		      zx_vcpu_read_state(MADE_UP_HANDLE, ZX_VCPU_STATE, &s, sizeof(s)));
	EXPECT_STATUS(ZX_ERR_WRONG_TYPE, zx_vcpu_read_state(g.guest, ZX_VCPU_STATE, &s, sizeof(s)));
	/* A handle without any right: the type is checked before the rights. */
	EXPECT_STATUS(ZX_ERR_WRONG_TYPE,
		      zx_vcpu_read_state(bare_vmo, ZX_VCPU_STATE, &s, sizeof(s)));
	ASSERT_OK(dup_without(vcpu, ZX_RIGHT_READ, &noread));
	EXPECT_STATUS(ZX_ERR_ACCESS_DENIED,
		      zx_vcpu_read_state(noread, ZX_VCPU_STATE, &s, sizeof(s)));
	/* ...and the rights before the kind. */
	EXPECT_STATUS(ZX_ERR_ACCESS_DENIED, zx_vcpu_read_state(noread, 9, &s, sizeof(s)));
	zx_handle_close(noread);
	zx_handle_close(bare_vmo);
	zx_handle_close(vcpu);
	guest_close(&g);
}

TEST(read_state_kind_and_size)
{
	struct guest g;
	zx_handle_t vcpu;
	ASSERT_OK(guest_create(&g));
	ASSERT_OK(zx_vcpu_create(g.guest, 0, 0, &vcpu));
	uint8_t buf[sizeof(zx_vcpu_state_t) + 16];
	EXPECT_STATUS(ZX_ERR_INVALID_ARGS,
		      zx_vcpu_read_state(vcpu, 2, buf, sizeof(zx_vcpu_state_t)));
	EXPECT_STATUS(ZX_ERR_INVALID_ARGS,
		      zx_vcpu_read_state(vcpu, UINT32_MAX, buf, sizeof(zx_vcpu_state_t)));
	/* IO is write-only. */
	EXPECT_STATUS(ZX_ERR_INVALID_ARGS,
		      zx_vcpu_read_state(vcpu, ZX_VCPU_IO, buf, sizeof(zx_vcpu_io_t)));
	EXPECT_STATUS(ZX_ERR_INVALID_ARGS,
		      zx_vcpu_read_state(vcpu, ZX_VCPU_STATE, buf, sizeof(zx_vcpu_state_t) - 1));
	EXPECT_STATUS(ZX_ERR_INVALID_ARGS,
		      zx_vcpu_read_state(vcpu, ZX_VCPU_STATE, buf, sizeof(zx_vcpu_state_t) + 8));
	EXPECT_STATUS(ZX_ERR_INVALID_ARGS, zx_vcpu_read_state(vcpu, ZX_VCPU_STATE, buf, 0));
	EXPECT_STATUS(ZX_ERR_INVALID_ARGS,
		      zx_vcpu_read_state(vcpu, ZX_VCPU_STATE, NULL, sizeof(zx_vcpu_state_t)));
	EXPECT_STATUS(ZX_OK, zx_vcpu_read_state(vcpu, ZX_VCPU_STATE, buf, sizeof(zx_vcpu_state_t)));
	zx_handle_close(vcpu);
	guest_close(&g);
}

TEST(write_state_handle_errors)
{
	struct guest g;
	zx_handle_t vcpu, nowrite, port;
	zx_vcpu_state_t s = {0};
	zx_vcpu_io_t io = {.access_size = 1};
	ASSERT_OK(guest_create(&g));
	ASSERT_OK(zx_vcpu_create(g.guest, 0, 0, &vcpu));
	ASSERT_OK(zx_port_create(0, &port));
	EXPECT_STATUS(ZX_ERR_BAD_HANDLE,
		      zx_vcpu_write_state(MADE_UP_HANDLE, ZX_VCPU_STATE, &s, sizeof(s)));
	EXPECT_STATUS(ZX_ERR_WRONG_TYPE, zx_vcpu_write_state(port, ZX_VCPU_STATE, &s, sizeof(s)));
	EXPECT_STATUS(ZX_ERR_WRONG_TYPE, zx_vcpu_write_state(g.vmar, ZX_VCPU_IO, &io, sizeof(io)));
	ASSERT_OK(dup_without(vcpu, ZX_RIGHT_WRITE, &nowrite));
	EXPECT_STATUS(ZX_ERR_ACCESS_DENIED,
		      zx_vcpu_write_state(nowrite, ZX_VCPU_STATE, &s, sizeof(s)));
	EXPECT_STATUS(ZX_ERR_ACCESS_DENIED,
		      zx_vcpu_write_state(nowrite, ZX_VCPU_IO, &io, sizeof(io)));
	EXPECT_STATUS(ZX_ERR_ACCESS_DENIED, zx_vcpu_write_state(nowrite, 9, &s, sizeof(s)));
	/* READ is not needed to write. */
	zx_handle_t wonly;
	ASSERT_OK(zx_handle_duplicate(vcpu, ZX_RIGHT_WRITE, &wonly));
	EXPECT_STATUS(ZX_OK, zx_vcpu_write_state(wonly, ZX_VCPU_STATE, &s, sizeof(s)));
	zx_handle_close(wonly);
	zx_handle_close(nowrite);
	zx_handle_close(port);
	zx_handle_close(vcpu);
	guest_close(&g);
}

TEST(write_state_kind_and_size)
{
	struct guest g;
	zx_handle_t vcpu;
	ASSERT_OK(guest_create(&g));
	ASSERT_OK(zx_vcpu_create(g.guest, 0, 0, &vcpu));
	uint8_t buf[sizeof(zx_vcpu_state_t) + 16] = {0};
	zx_vcpu_io_t io = {.access_size = 1};
	EXPECT_STATUS(ZX_ERR_INVALID_ARGS,
		      zx_vcpu_write_state(vcpu, 2, buf, sizeof(zx_vcpu_state_t)));
	EXPECT_STATUS(ZX_ERR_INVALID_ARGS,
		      zx_vcpu_write_state(vcpu, ZX_VCPU_STATE, buf, sizeof(zx_vcpu_state_t) - 8));
	EXPECT_STATUS(ZX_ERR_INVALID_ARGS,
		      zx_vcpu_write_state(vcpu, ZX_VCPU_STATE, buf, sizeof(zx_vcpu_state_t) + 8));
	/* Each kind with the other's size. */
	EXPECT_STATUS(ZX_ERR_INVALID_ARGS,
		      zx_vcpu_write_state(vcpu, ZX_VCPU_STATE, buf, sizeof(zx_vcpu_io_t)));
	EXPECT_STATUS(ZX_ERR_INVALID_ARGS,
		      zx_vcpu_write_state(vcpu, ZX_VCPU_IO, buf, sizeof(zx_vcpu_state_t)));
	EXPECT_STATUS(ZX_ERR_INVALID_ARGS, zx_vcpu_write_state(vcpu, ZX_VCPU_IO, &io, 4));
	EXPECT_STATUS(ZX_ERR_INVALID_ARGS,
		      zx_vcpu_write_state(vcpu, ZX_VCPU_STATE, NULL, sizeof(zx_vcpu_state_t)));
	EXPECT_STATUS(ZX_ERR_INVALID_ARGS,
		      zx_vcpu_write_state(vcpu, ZX_VCPU_IO, NULL, sizeof(zx_vcpu_io_t)));
	zx_handle_close(vcpu);
	guest_close(&g);
}

TEST(write_state_io_access_size)
{
	struct guest g;
	zx_handle_t vcpu;
	ASSERT_OK(guest_create(&g));
	ASSERT_OK(zx_vcpu_create(g.guest, 0, 0, &vcpu));
	static const uint8_t bad[] = {0, 3, 5, 8, 255};
	for (size_t i = 0; i < sizeof(bad); i++) {
		zx_vcpu_io_t io = {.access_size = bad[i], .u32 = 0x12345678};
		zx_status_t st = zx_vcpu_write_state(vcpu, ZX_VCPU_IO, &io, sizeof(io));
		if (st != ZX_ERR_INVALID_ARGS)
			test_fail(__FILE__, __LINE__, "access_size %u: expected %s, got %s", bad[i],
				  zx_status_get_string(ZX_ERR_INVALID_ARGS),
				  zx_status_get_string(st));
	}
	/* 1, 2 and 4 are allowed at any time, also with no IN pending (spec §2.8), and replace
	 * just that many low bytes of RAX. */
	static const struct {
		uint8_t size;
		uint64_t rax;
	} good[] = {
		{1, 0x11223344556677d4ull},
		{2, 0x112233445566c3d4ull},
		{4, 0x11223344a1b2c3d4ull},
	};
	for (size_t i = 0; i < 3; i++) {
		zx_vcpu_state_t s = {.rax = 0x1122334455667788ull};
		ASSERT_OK(zx_vcpu_write_state(vcpu, ZX_VCPU_STATE, &s, sizeof(s)));
		zx_vcpu_io_t io = {.access_size = good[i].size, .u32 = 0xa1b2c3d4};
		EXPECT_STATUS(ZX_OK, zx_vcpu_write_state(vcpu, ZX_VCPU_IO, &io, sizeof(io)));
		ASSERT_OK(zx_vcpu_read_state(vcpu, ZX_VCPU_STATE, &s, sizeof(s)));
		EXPECT_EQ(good[i].rax, s.rax);
	}
	/* A failed write changed nothing. */
	zx_vcpu_io_t io = {.access_size = 3, .u32 = 0};
	EXPECT_STATUS(ZX_ERR_INVALID_ARGS, zx_vcpu_write_state(vcpu, ZX_VCPU_IO, &io, sizeof(io)));
	zx_vcpu_state_t s;
	ASSERT_OK(zx_vcpu_read_state(vcpu, ZX_VCPU_STATE, &s, sizeof(s)));
	EXPECT_EQ(0x11223344a1b2c3d4ull, s.rax);
	zx_handle_close(vcpu);
	guest_close(&g);
}

/* ---- zx_vcpu_kick, zx_vcpu_interrupt, zx_vcpu_enter without running (spec §2.4-2.6), and
 * the NULL packet of zx_port_wait / zx_port_queue (spec §4) ---- */

TEST(kick_errors)
{
	struct guest g;
	zx_handle_t vcpu, noexec, bare_vmo, vmo;
	ASSERT_OK(guest_create(&g));
	ASSERT_OK(zx_vcpu_create(g.guest, 0, 0, &vcpu));
	ASSERT_OK(zx_vmo_create(PAGE, 0, &vmo));
	ASSERT_OK(zx_handle_replace(vmo, ZX_RIGHT_NONE, &bare_vmo));
	EXPECT_STATUS(ZX_ERR_BAD_HANDLE, zx_vcpu_kick(ZX_HANDLE_INVALID));
	EXPECT_STATUS(ZX_ERR_BAD_HANDLE, zx_vcpu_kick(MADE_UP_HANDLE));
	EXPECT_STATUS(ZX_ERR_WRONG_TYPE, zx_vcpu_kick(g.guest));
	EXPECT_STATUS(ZX_ERR_WRONG_TYPE, zx_vcpu_kick(bare_vmo));
	ASSERT_OK(dup_without(vcpu, ZX_RIGHT_EXECUTE, &noexec));
	EXPECT_STATUS(ZX_ERR_ACCESS_DENIED, zx_vcpu_kick(noexec));
	/* Kicks collapse: two kicks, one CANCELED (spec §2.5). */
	EXPECT_STATUS(ZX_OK, zx_vcpu_kick(vcpu));
	EXPECT_STATUS(ZX_OK, zx_vcpu_kick(vcpu));
	zx_info_vcpu_t info = {0};
	ASSERT_OK(zx_object_get_info(vcpu, ZX_INFO_VCPU, &info, sizeof(info), NULL, NULL));
	EXPECT_EQ(ZX_INFO_VCPU_FLAG_KICKED, info.flags);
	zx_port_packet_t p;
	EXPECT_STATUS(ZX_ERR_CANCELED, zx_vcpu_enter(vcpu, &p));
	ASSERT_OK(zx_object_get_info(vcpu, ZX_INFO_VCPU, &info, sizeof(info), NULL, NULL));
	EXPECT_EQ(0, info.flags);
	zx_handle_close(noexec);
	zx_handle_close(bare_vmo);
	zx_handle_close(vcpu);
	guest_close(&g);
}

TEST(interrupt_errors)
{
	struct guest g;
	zx_handle_t vcpu, nosignal, port;
	ASSERT_OK(guest_create(&g));
	ASSERT_OK(zx_vcpu_create(g.guest, 0, 0, &vcpu));
	ASSERT_OK(zx_port_create(0, &port));
	EXPECT_STATUS(ZX_ERR_BAD_HANDLE, zx_vcpu_interrupt(ZX_HANDLE_INVALID, 32));
	EXPECT_STATUS(ZX_ERR_BAD_HANDLE, zx_vcpu_interrupt(MADE_UP_HANDLE, 32));
	EXPECT_STATUS(ZX_ERR_WRONG_TYPE, zx_vcpu_interrupt(port, 32));
	EXPECT_STATUS(ZX_ERR_WRONG_TYPE, zx_vcpu_interrupt(g.vmar, 32));
	ASSERT_OK(dup_without(vcpu, ZX_RIGHT_SIGNAL, &nosignal));
	EXPECT_STATUS(ZX_ERR_ACCESS_DENIED, zx_vcpu_interrupt(nosignal, 32));
	EXPECT_STATUS(ZX_ERR_ACCESS_DENIED, zx_vcpu_interrupt(nosignal, 1000));
	/* Past the x86 vector range: OUT_OF_RANGE, as documented (spec §2.6, "Recommend"). */
	EXPECT_STATUS(ZX_ERR_OUT_OF_RANGE, zx_vcpu_interrupt(vcpu, 256));
	EXPECT_STATUS(ZX_ERR_OUT_OF_RANGE, zx_vcpu_interrupt(vcpu, UINT32_MAX));
	EXPECT_STATUS(ZX_OK, zx_vcpu_interrupt(vcpu, 255));
	EXPECT_STATUS(ZX_OK, zx_vcpu_interrupt(vcpu, 0));
	/* SIGNAL alone is enough. */
	zx_handle_t sig;
	ASSERT_OK(zx_handle_duplicate(vcpu, ZX_RIGHT_SIGNAL, &sig));
	EXPECT_STATUS(ZX_OK, zx_vcpu_interrupt(sig, 64));
	zx_handle_close(sig);
	zx_handle_close(nosignal);
	zx_handle_close(port);
	zx_handle_close(vcpu);
	guest_close(&g);
}

TEST(enter_errors_without_running)
{
	AUTO_GUEST g;
	zx_handle_t noexec;
	zx_port_packet_t p;
	/* A guest whose first exit is known (`out` to port 0x10): no failed enter may run it. */
	ASSERT_OK(setup_guest(&g, GUEST_CODE(guest_io_out)));
	ASSERT_OK(zx_guest_set_trap(g.guest, ZX_GUEST_TRAP_IO, 0x10, 8, ZX_HANDLE_INVALID, 42));
	ASSERT_OK(dup_without(g.vcpu, ZX_RIGHT_EXECUTE, &noexec));
	EXPECT_STATUS(ZX_ERR_BAD_HANDLE, zx_vcpu_enter(ZX_HANDLE_INVALID, &p));
	EXPECT_STATUS(ZX_ERR_BAD_HANDLE, zx_vcpu_enter(MADE_UP_HANDLE, &p));
	EXPECT_STATUS(ZX_ERR_WRONG_TYPE, zx_vcpu_enter(g.guest, &p));
	EXPECT_STATUS(ZX_ERR_ACCESS_DENIED, zx_vcpu_enter(noexec, &p));
	/* The packet pointer is checked last: after the handle, its type and rights, and the
	 * calling thread (spec §2.4), in process and through zxvmd alike. */
	EXPECT_STATUS(ZX_ERR_BAD_HANDLE, zx_vcpu_enter(ZX_HANDLE_INVALID, NULL));
	EXPECT_STATUS(ZX_ERR_BAD_HANDLE, zx_vcpu_enter(MADE_UP_HANDLE, NULL));
	EXPECT_STATUS(ZX_ERR_WRONG_TYPE, zx_vcpu_enter(g.guest, NULL));
	EXPECT_STATUS(ZX_ERR_ACCESS_DENIED, zx_vcpu_enter(noexec, NULL));
	/* Closed now: a VCPU handle left open by a failed assertion would keep this thread bound
	 * for the next test. */
	zx_handle_close(noexec);
	EXPECT_STATUS(ZX_ERR_BAD_STATE, on_new_thread(enter_null_call, &g.vcpu));
	EXPECT_STATUS(ZX_ERR_INVALID_ARGS, zx_vcpu_enter(g.vcpu, NULL));
	/* The guest has not run: the next enter gives its first exit. */
	ASSERT_OK(zx_vcpu_enter(g.vcpu, &p));
	EXPECT_EQ(ZX_PKT_TYPE_GUEST_IO, p.type);
	EXPECT_EQ(42, p.key);
	EXPECT_EQ(0x10, p.guest_io.port);
	EXPECT_EQ(0xab, p.guest_io.data[0]);
}

TEST(port_null_packet_checked_last)
{
	struct guest g;
	zx_handle_t port, noread, nowrite;
	zx_port_packet_t in = {.key = 7, .type = ZX_PKT_TYPE_USER}, out;
	ASSERT_OK(guest_create(&g));
	ASSERT_OK(zx_port_create(0, &port));
	ASSERT_OK(dup_without(port, ZX_RIGHT_READ, &noread));
	ASSERT_OK(dup_without(port, ZX_RIGHT_WRITE, &nowrite));
	ASSERT_OK(zx_port_queue(port, &in));
	/* zx_port_wait: the handle, its type and READ, then the pointer (spec §4), without
	 * dequeuing the packet waiting there... */
	EXPECT_STATUS(ZX_ERR_BAD_HANDLE, zx_port_wait(ZX_HANDLE_INVALID, ZX_TIME_INFINITE, NULL));
	EXPECT_STATUS(ZX_ERR_BAD_HANDLE, zx_port_wait(MADE_UP_HANDLE, ZX_TIME_INFINITE, NULL));
	EXPECT_STATUS(ZX_ERR_WRONG_TYPE, zx_port_wait(g.guest, ZX_TIME_INFINITE, NULL));
	EXPECT_STATUS(ZX_ERR_ACCESS_DENIED, zx_port_wait(noread, ZX_TIME_INFINITE, NULL));
	EXPECT_STATUS(ZX_ERR_INVALID_ARGS, zx_port_wait(port, ZX_TIME_INFINITE, NULL));
	/* ...zx_port_queue: the same with WRITE, queuing nothing. */
	EXPECT_STATUS(ZX_ERR_BAD_HANDLE, zx_port_queue(ZX_HANDLE_INVALID, NULL));
	EXPECT_STATUS(ZX_ERR_BAD_HANDLE, zx_port_queue(MADE_UP_HANDLE, NULL));
	EXPECT_STATUS(ZX_ERR_WRONG_TYPE, zx_port_queue(g.vmar, NULL));
	EXPECT_STATUS(ZX_ERR_ACCESS_DENIED, zx_port_queue(nowrite, NULL));
	EXPECT_STATUS(ZX_ERR_INVALID_ARGS, zx_port_queue(port, NULL));
	/* The packet queued first is still there, and it is the only one. */
	ASSERT_OK(zx_port_wait(port, 0, &out));
	EXPECT_EQ(in.key, out.key);
	EXPECT_STATUS(ZX_ERR_TIMED_OUT, zx_port_wait(port, 0, &out));
	zx_handle_close(nowrite);
	zx_handle_close(noread);
	zx_handle_close(port);
	guest_close(&g);
}

TEST(type_checked_before_rights_in_every_call)
{
	struct guest g;
	zx_handle_t vmo, bare, out;
	zx_vcpu_state_t s = {0};
	zx_vcpu_io_t io = {.access_size = 1};
	zx_port_packet_t p;
	ASSERT_OK(guest_create(&g));
	ASSERT_OK(zx_vmo_create(PAGE, 0, &vmo));
	ASSERT_OK(zx_handle_replace(vmo, ZX_RIGHT_NONE, &bare));
	/* A handle of the wrong type and without any right: WRONG_TYPE from every guest and VCPU
	 * call, never ACCESS_DENIED, as the type is checked before the rights (spec §2). */
	EXPECT_STATUS(ZX_ERR_WRONG_TYPE, zx_guest_create(bare, 0, &out, &out));
	EXPECT_STATUS(ZX_ERR_WRONG_TYPE,
		      zx_guest_set_trap(bare, ZX_GUEST_TRAP_IO, 0x60, 1, ZX_HANDLE_INVALID, 0));
	EXPECT_STATUS(ZX_ERR_WRONG_TYPE,
		      zx_guest_set_trap(g.guest, ZX_GUEST_TRAP_BELL, 0x1000, PAGE, bare, 0));
	EXPECT_STATUS(ZX_ERR_WRONG_TYPE, zx_vcpu_create(bare, 0, 0, &out));
	EXPECT_STATUS(ZX_ERR_WRONG_TYPE, zx_vcpu_enter(bare, &p));
	EXPECT_STATUS(ZX_ERR_WRONG_TYPE, zx_vcpu_kick(bare));
	EXPECT_STATUS(ZX_ERR_WRONG_TYPE, zx_vcpu_interrupt(bare, 32));
	EXPECT_STATUS(ZX_ERR_WRONG_TYPE, zx_vcpu_read_state(bare, ZX_VCPU_STATE, &s, sizeof(s)));
	EXPECT_STATUS(ZX_ERR_WRONG_TYPE, zx_vcpu_write_state(bare, ZX_VCPU_STATE, &s, sizeof(s)));
	EXPECT_STATUS(ZX_ERR_WRONG_TYPE, zx_vcpu_write_state(bare, ZX_VCPU_IO, &io, sizeof(io)));
	/* The premise: bare is a VMO handle with no right at all. */
	zx_info_handle_basic_t info;
	ASSERT_OK(zx_object_get_info(bare, ZX_INFO_HANDLE_BASIC, &info, sizeof(info), NULL, NULL));
	EXPECT_EQ(ZX_OBJ_TYPE_VMO, info.type);
	EXPECT_EQ(ZX_RIGHT_NONE, info.rights);
	zx_handle_close(bare);
	guest_close(&g);
}

TEST(vcpu_calls_after_close)
{
	struct guest g;
	zx_handle_t vcpu;
	zx_vcpu_state_t s;
	zx_port_packet_t p;
	ASSERT_OK(guest_create(&g));
	ASSERT_OK(zx_vcpu_create(g.guest, 0, 0, &vcpu));
	ASSERT_OK(zx_handle_close(vcpu));
	EXPECT_STATUS(ZX_ERR_BAD_HANDLE, zx_vcpu_kick(vcpu));
	EXPECT_STATUS(ZX_ERR_BAD_HANDLE, zx_vcpu_interrupt(vcpu, 32));
	EXPECT_STATUS(ZX_ERR_BAD_HANDLE, zx_vcpu_read_state(vcpu, ZX_VCPU_STATE, &s, sizeof(s)));
	EXPECT_STATUS(ZX_ERR_BAD_HANDLE, zx_vcpu_write_state(vcpu, ZX_VCPU_STATE, &s, sizeof(s)));
	EXPECT_STATUS(ZX_ERR_BAD_HANDLE, zx_vcpu_enter(vcpu, &p));
	/* A closed guest handle is just as dead. */
	zx_handle_t guest = g.guest;
	ASSERT_OK(zx_handle_close(guest));
	EXPECT_STATUS(ZX_ERR_BAD_HANDLE, zx_vcpu_create(guest, 0, 0, &vcpu));
	EXPECT_STATUS(ZX_ERR_BAD_HANDLE,
		      zx_guest_set_trap(guest, ZX_GUEST_TRAP_IO, 0x60, 1, ZX_HANDLE_INVALID, 0));
	zx_handle_close(g.vmar);
}
