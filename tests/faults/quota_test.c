/* Every per-session limit of zxvmd (common/zxvm-limits.h, zxvmd --max-*) answers
 * ZX_ERR_NO_RESOURCES when reached (the port queue ZX_ERR_SHOULD_WAIT, a VMO over the size
 * limit ZX_ERR_OUT_OF_RANGE, as Zircon answers them, spec §4), the session that hit it recovers
 * once it frees what it holds, and the daemon keeps serving another client meanwhile (a
 * zxvm-fault-client process running its guest).
 *
 * Run through tests/daemon/with-zxvmd.sh with the limits in $ZXVMD_FLAGS (which with-zxvmd.sh
 * gives zxvmd); each test reads its limit from there and skips when it is not set. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fault-util.h"
#include "harness/guest.h"
#include "harness/test.h"

#define LINE_TIMEOUT_MS 30000
#define MAX_LIMIT 1024

/* The value of --NAME in $ZXVMD_FLAGS, or 0. */
static unsigned long long limit_of(const char *name)
{
	const char *flags = getenv("ZXVMD_FLAGS");
	char key[64];
	snprintf(key, sizeof(key), "--%s ", name);
	const char *p = flags ? strstr(flags, key) : NULL;
	return p ? strtoull(p + strlen(key), NULL, 0) : 0;
}

#define NEED_LIMIT(var, name, max)                                                                 \
	unsigned long long var = limit_of(name);                                                   \
	do {                                                                                       \
		const char *_t = getenv("ZXVM_TEST_TARGET");                                       \
		if (!_t || strcmp(_t, "inproc:") == 0 || var == 0 || var > (max))                  \
			TEST_SKIP("needs zxvmd --" name " (small) in $ZXVMD_FLAGS");               \
	} while (0)

/* Another client process runs its guest for a few exits: the daemon still serves others. */
static void expect_other_client_served(const char *file, int line)
{
	struct fault_child c;
	char out[256] = "";
	char *argv[] = {(char *)fault_client_path(), (char *)"serve", (char *)"3", NULL};
	if (fault_child_start(&c, argv) < 0) {
		test_fail(file, line, "cannot start %s", argv[0]);
		return;
	}
	bool got = fault_child_line(&c, out, sizeof(out), LINE_TIMEOUT_MS);
	fault_child_end(&c, 10000);
	if (!got || strcmp(out, "served ZX_OK 3") != 0)
		test_fail(file, line, "another client: expected 'served ZX_OK 3', got '%s'", out);
}
#define EXPECT_OTHER_CLIENT_SERVED() expect_other_client_served(__FILE__, __LINE__)

static void close_all(zx_handle_t *h, size_t n)
{
	for (size_t i = 0; i < n; i++)
		zx_handle_close(h[i]);
}

TEST(quota_handles)
{
	NEED_LIMIT(max, "max-handles", MAX_LIMIT);
	static zx_handle_t h[MAX_LIMIT + 1];
	size_t n = 0;
	zx_status_t st;
	ASSERT_OK(zx_vmo_create(4096, 0, &h[n++]));
	while ((st = zx_handle_duplicate(h[0], ZX_RIGHT_SAME_RIGHTS, &h[n])) == ZX_OK && n <= max)
		n++;
	printf("     %zu handles besides the resource, then %s (--max-handles %llu)\n", n,
	       zx_status_get_string(st), max);
	EXPECT_STATUS(ZX_ERR_NO_RESOURCES, st);
	EXPECT_EQ(max - 1, n); /* the hypervisor resource is one of them */
	EXPECT_OTHER_CLIENT_SERVED();
	zx_handle_close(h[--n]);
	EXPECT_STATUS(ZX_OK, zx_handle_duplicate(h[0], ZX_RIGHT_SAME_RIGHTS, &h[n++]));
	close_all(h, n);
}

TEST(quota_guests)
{
	NEED_LIMIT(max, "max-guests", 64);
	zx_handle_t g[2 * 65];
	size_t n = 0;
	zx_status_t st;
	while ((st = zx_guest_create(test_resource, 0, &g[n], &g[n + 1])) == ZX_OK && n < 2 * max)
		n += 2;
	printf("     %zu guests, then %s (--max-guests %llu)\n", n / 2, zx_status_get_string(st),
	       max);
	EXPECT_STATUS(ZX_ERR_NO_RESOURCES, st);
	EXPECT_EQ(max, n / 2);
	EXPECT_OTHER_CLIENT_SERVED();
	/* A guest goes with its last handle; the VMAR handle alone keeps it. */
	zx_handle_close(g[n - 2]);
	zx_handle_close(g[n - 1]);
	n -= 2;
	EXPECT_STATUS(ZX_OK, zx_guest_create(test_resource, 0, &g[n], &g[n + 1]));
	n += 2;
	close_all(g, n);
}

struct vcpu_maker {
	zx_handle_t guest, vcpu;
	zx_status_t st;
};

/* A VCPU belongs to the thread that creates it, and a thread has one (spec §2.3). */
static void *make_vcpu(void *arg)
{
	struct vcpu_maker *m = arg;
	m->st = zx_vcpu_create(m->guest, 0, GUEST_ENTRY, &m->vcpu);
	return NULL;
}

TEST(quota_vcpus_per_guest)
{
	NEED_LIMIT(max, "max-vcpus-per-guest", 16);
	AUTO_GUEST g;
	ASSERT_OK(setup_guest_no_vcpu(&g, GUEST_CODE(fault_guest_io_loop)));
	struct vcpu_maker m[17];
	size_t n = 0;
	for (; n <= max; n++) {
		pthread_t t;
		m[n] = (struct vcpu_maker){.guest = g.guest};
		pthread_create(&t, NULL, make_vcpu, &m[n]);
		pthread_join(t, NULL);
		if (m[n].st != ZX_OK)
			break;
	}
	printf("     %zu VCPUs, then %s (--max-vcpus-per-guest %llu)\n", n,
	       zx_status_get_string(n <= max ? m[n].st : ZX_OK), max);
	EXPECT_EQ(max, n);
	if (n <= max)
		EXPECT_STATUS(ZX_ERR_NO_RESOURCES, m[n].st);
	EXPECT_OTHER_CLIENT_SERVED();
	for (size_t i = 0; i < n; i++)
		zx_handle_close(m[i].vcpu);
}

TEST(quota_traps_per_guest)
{
	NEED_LIMIT(max, "max-traps-per-guest", MAX_LIMIT);
	AUTO_GUEST g;
	/* The harness's guest has its exit trap already. */
	ASSERT_OK(setup_guest(&g, GUEST_CODE(guest_fault_exit_only)));
	size_t n = 1;
	zx_status_t st;
	while ((st = zx_guest_set_trap(g.guest, ZX_GUEST_TRAP_IO, 0x100 + n, 1, ZX_HANDLE_INVALID,
				       n)) == ZX_OK &&
	       n <= max)
		n++;
	printf("     %zu traps, then %s (--max-traps-per-guest %llu)\n", n,
	       zx_status_get_string(st), max);
	EXPECT_STATUS(ZX_ERR_NO_RESOURCES, st);
	EXPECT_EQ(max, n);
	EXPECT_OTHER_CLIENT_SERVED();
	/* The guest still runs to its exit trap. */
	EXPECT_STATUS(ZX_OK, enter_and_clean_exit(&g));
}

TEST(quota_ports)
{
	NEED_LIMIT(max, "max-ports", 256);
	zx_handle_t p[257];
	size_t n = 0;
	zx_status_t st;
	while ((st = zx_port_create(0, &p[n])) == ZX_OK && n <= max)
		n++;
	printf("     %zu ports, then %s (--max-ports %llu)\n", n, zx_status_get_string(st), max);
	EXPECT_STATUS(ZX_ERR_NO_RESOURCES, st);
	EXPECT_EQ(max, n);
	EXPECT_OTHER_CLIENT_SERVED();
	zx_handle_close(p[--n]);
	EXPECT_STATUS(ZX_OK, zx_port_create(0, &p[n++]));
	close_all(p, n);
}

TEST(quota_port_packets)
{
	NEED_LIMIT(max, "max-port-packets", MAX_LIMIT);
	zx_handle_t port;
	ASSERT_OK(zx_port_create(0, &port));
	zx_port_packet_t pkt = {.key = 1, .type = ZX_PKT_TYPE_USER};
	size_t n = 0;
	zx_status_t st;
	while ((st = zx_port_queue(port, &pkt)) == ZX_OK && n <= max)
		n++;
	printf("     %zu packets queued, then %s (--max-port-packets %llu)\n", n,
	       zx_status_get_string(st), max);
	EXPECT_STATUS(ZX_ERR_SHOULD_WAIT, st);
	EXPECT_EQ(max, n);
	EXPECT_OTHER_CLIENT_SERVED();
	zx_port_packet_t out;
	EXPECT_STATUS(ZX_OK, zx_port_wait(port, 0, &out));
	EXPECT_STATUS(ZX_OK, zx_port_queue(port, &pkt));
	zx_handle_close(port);
}

TEST(quota_vmo_bytes)
{
	NEED_LIMIT(max, "max-vmo-bytes", 1ull << 30);
	zx_handle_t vmo;
	zx_status_t st = zx_vmo_create(max + 4096, 0, &vmo);
	printf("     a VMO of %llu bytes: %s (--max-vmo-bytes %llu)\n", max + 4096,
	       zx_status_get_string(st), max);
	EXPECT_STATUS(ZX_ERR_OUT_OF_RANGE, st);
	EXPECT_OTHER_CLIENT_SERVED();
	ASSERT_OK(zx_vmo_create(max, 0, &vmo));
	zx_handle_close(vmo);
}

TEST(quota_memory_bytes)
{
	NEED_LIMIT(max, "max-memory-bytes", 1ull << 30);
	unsigned long long each = limit_of("max-vmo-bytes");
	if (!each || each > max)
		each = max;
	zx_handle_t v[64];
	size_t n = 0;
	unsigned long long total = 0;
	zx_status_t st;
	while (n < 64 && (st = zx_vmo_create(each, 0, &v[n])) == ZX_OK) {
		total += each;
		n++;
	}
	/* Whatever is left below the limit, then one page more. */
	zx_handle_t rest = ZX_HANDLE_INVALID;
	if (st == ZX_ERR_NO_RESOURCES && total < max)
		EXPECT_STATUS(ZX_OK, zx_vmo_create(max - total, 0, &rest));
	st = zx_vmo_create(4096, 0, &v[n]);
	printf("     %llu bytes in %zu VMOs, then one page more: %s (--max-memory-bytes %llu)\n",
	       max, n + (rest != ZX_HANDLE_INVALID), zx_status_get_string(st), max);
	EXPECT_STATUS(ZX_ERR_NO_RESOURCES, st);
	EXPECT_OTHER_CLIENT_SERVED();
	zx_handle_close(rest);
	close_all(v, n);
	EXPECT_STATUS(ZX_OK, zx_vmo_create(each, 0, &v[0]));
	zx_handle_close(v[0]);
}

/* Sessions are daemon-wide: this process's own is one of them. */
TEST(quota_sessions)
{
	NEED_LIMIT(max, "max-sessions", 16);
	struct fault_child holders[16];
	char line[256] = "";
	size_t n = 0;
	for (; n + 1 < max; n++) {
		char *argv[] = {(char *)fault_client_path(), (char *)"hold", NULL};
		if (fault_child_start(&holders[n], argv) < 0 ||
		    !fault_child_line(&holders[n], line, sizeof(line), LINE_TIMEOUT_MS) ||
		    strcmp(line, "held") != 0) {
			test_fail(__FILE__, __LINE__, "holder %zu: '%s'", n, line);
			fault_child_kill(&holders[n]);
			break;
		}
	}
	struct fault_child c;
	char *argv[] = {(char *)fault_client_path(), (char *)"connect", NULL};
	line[0] = 0;
	if (fault_child_start(&c, argv) == 0) {
		fault_child_line(&c, line, sizeof(line), LINE_TIMEOUT_MS);
		fault_child_end(&c, 10000);
	}
	printf("     %zu sessions held, one more: '%s' (--max-sessions %llu)\n", n + 1, line, max);
	EXPECT_TRUE(strcmp(line, "connect ZX_ERR_NO_RESOURCES") == 0);
	/* The sessions that exist are still served: ours, and each holder's. */
	zx_handle_t vmo;
	EXPECT_STATUS(ZX_OK, zx_vmo_create(4096, 0, &vmo));
	zx_handle_close(vmo);
	for (size_t i = 0; i < n; i++) {
		line[0] = 0;
		close(holders[i].in);
		holders[i].in = -1;
		fault_child_line(&holders[i], line, sizeof(line), LINE_TIMEOUT_MS);
		fault_child_end(&holders[i], 10000);
		if (strcmp(line, "own ZX_OK") != 0)
			test_fail(__FILE__, __LINE__, "holder %zu: expected 'own ZX_OK', got '%s'",
				  i, line);
	}
}
