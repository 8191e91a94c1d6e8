/* The daemon's API-level guarantees, through zxvmd only (with-zxvmd.sh runs this program):
 * handles belong to one session, so another process's handle value is ZX_ERR_BAD_HANDLE in
 * ours and ours in theirs (the proto's "Handles are 32-bit values of one session"); and
 * closing every guest handle while the VCPU runs inside enter, then kicking it, ends the enter
 * with ZX_ERR_CANCELED and leaves the daemon with nothing of the guest once the VCPU is closed
 * (STYLE.md "Tests": close guest while a VCPU is in enter).
 *
 * The other process is tests/daemon/daemon_client.c (zxvm-test-client, found through
 * $ZXVM_TEST_CLIENT or next to this program); every read from it has a deadline. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <zxvm/zxvm.h>

#include "fault-util.h"
#include "harness/guest.h"
#include "harness/test.h"

/* The layout of tests/guest/irq.S that guest_kick_spin uses. */
#define BELL_GPA 0x40000000u
#define BELL_KEY 0xbe11u
#define CHILD_TIMEOUT_MS 20000
#define BELL_WAIT_MS 20000

/* ---- the other process (fault-util.h's child helpers) ---- */

#define AUTO_CHILD struct fault_child __attribute__((cleanup(fault_child_kill)))
#define NO_CHILD                                                                                   \
	{                                                                                          \
		.pid = -1, .in = -1, .out = -1                                                     \
	}

/* Start zxvm-test-client with args (NULL-terminated; argv[0] is filled in). */
static bool child_start(struct fault_child *c, const char **args)
{
	char *argv[8] = {(char *)fault_sibling_path("ZXVM_TEST_CLIENT", "zxvm-test-client")};
	for (int i = 0; args[i] && i < 6; i++)
		argv[i + 1] = (char *)args[i];
	int err = fault_child_start(c, argv);
	if (err)
		test_fail(__FILE__, __LINE__, "cannot start %s: %s", argv[0], strerror(-err));
	return err == 0;
}

/* The next line the child prints, within CHILD_TIMEOUT_MS; false at EOF or the deadline. */
static bool child_line(struct fault_child *c, char *line, size_t size)
{
	return fault_child_line(c, line, size, CHILD_TIMEOUT_MS);
}

/* Tell it to finish (EOF on its stdin), show what else it says, and return its exit status
 * (-1 if it did not exit by itself within CHILD_TIMEOUT_MS). */
static int child_finish(struct fault_child *c)
{
	char line[256];
	close(c->in);
	c->in = -1;
	while (child_line(c, line, sizeof(line)))
		fprintf(stderr, "  child: %s\n", line);
	int status = fault_child_end(c, CHILD_TIMEOUT_MS);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* ---- tests ---- */

TEST(handles_of_another_session_are_bad_handles)
{
	NEED_DAEMON();
	char line[256];
	unsigned theirs = 0;
	uint8_t byte = 0x5a;

	AUTO_CHILD holder = NO_CHILD;
	ASSERT_TRUE(child_start(&holder, (const char *[]){"hold", NULL}));
	ASSERT_TRUE(child_line(&holder, line, sizeof(line)));
	if (sscanf(line, "vmo %x", &theirs) != 1 || theirs == 0) {
		test_fail(__FILE__, __LINE__, "expected \"vmo HANDLE\" from the child, got \"%s\"",
			  line);
		return;
	}
	/* Their VMO, named by value in our session: no such handle here (spec §1.8). */
	EXPECT_STATUS(ZX_ERR_BAD_HANDLE,
		      zx_object_get_info(theirs, ZX_INFO_HANDLE_VALID, NULL, 0, NULL, NULL));
	EXPECT_STATUS(ZX_ERR_BAD_HANDLE, zx_vmo_write(theirs, &byte, 0, 1));
	EXPECT_STATUS(ZX_ERR_BAD_HANDLE, zx_handle_close(theirs));

	/* And ours in a third process's session, with our hypervisor resource for good measure. */
	zx_handle_t ours;
	ASSERT_OK(zx_vmo_create(4096, 0, &ours));
	char a[16], b[16];
	snprintf(a, sizeof(a), "%#x", ours);
	snprintf(b, sizeof(b), "%#x", test_resource);
	AUTO_CHILD prober = NO_CHILD;
	ASSERT_TRUE(child_start(&prober, (const char *[]){"probe", a, b, NULL}));
	for (int i = 0; i < 2; i++) {
		char want[96];
		snprintf(want, sizeof(want),
			 "probe %#x info ZX_ERR_BAD_HANDLE close ZX_ERR_BAD_HANDLE",
			 i == 0 ? ours : test_resource);
		ASSERT_TRUE(child_line(&prober, line, sizeof(line)));
		if (strcmp(line, want) != 0)
			test_fail(__FILE__, __LINE__, "expected \"%s\", got \"%s\"", want, line);
	}
	EXPECT_EQ(0, child_finish(&prober));

	/* Nobody's attempt reached the owner: both VMOs are alive in their own sessions. */
	EXPECT_STATUS(ZX_OK, zx_object_get_info(ours, ZX_INFO_HANDLE_VALID, NULL, 0, NULL, NULL));
	EXPECT_STATUS(ZX_OK, zx_vmo_write(ours, &byte, 0, 1));
	ASSERT_OK(zx_handle_close(ours));
	close(holder.in);
	holder.in = -1;
	ASSERT_TRUE(child_line(&holder, line, sizeof(line)));
	if (strcmp(line, "own ZX_OK") != 0)
		test_fail(__FILE__, __LINE__, "expected \"own ZX_OK\" from the holder, got \"%s\"",
			  line);
	EXPECT_EQ(0, child_finish(&holder));
}

struct closer {
	struct test_guest *g;
	zx_handle_t port;
	zx_status_t wait_st, st[5];
};

/* Once the guest rang its bell (its VCPU is inside enter), close every handle but the VCPU's,
 * then kick. */
static void *closer_main(void *arg)
{
	struct closer *c = arg;
	zx_port_packet_t p;
	c->wait_st = zx_port_wait(c->port, deadline_after_ms(BELL_WAIT_MS), &p);
	if (c->wait_st == ZX_OK && (p.type != ZX_PKT_TYPE_GUEST_BELL || p.key != BELL_KEY))
		c->wait_st = ZX_ERR_INTERNAL;
	c->st[0] = zx_handle_close(c->g->guest);
	c->st[1] = zx_handle_close(c->g->vmar);
	c->st[2] = zx_handle_close(c->g->vmo);
	c->st[3] = zx_handle_close(c->port);
	c->st[4] = zx_vcpu_kick(c->g->vcpu);
	return NULL;
}

static zx_status_t daemon_counts(uint32_t *guests, uint32_t *vcpus)
{
	struct zxvm_stats s;
	zx_status_t st = zxvm_get_stats(&s, NULL, 0, NULL);
	if (st == ZX_OK) {
		*guests = s.guests;
		*vcpus = s.vcpus;
	}
	return st;
}

TEST(close_guest_handles_while_in_enter_then_kick)
{
	NEED_DAEMON();
	struct test_guest g;
	struct closer c = {.g = &g};
	pthread_t t;
	uint32_t guests0, vcpus0, guests, vcpus;

	ASSERT_OK(daemon_counts(&guests0, &vcpus0));
	ASSERT_OK(setup_guest(&g, GUEST_CODE(guest_kick_spin)));
	ASSERT_OK(zx_port_create(0, &c.port));
	ASSERT_OK(
		zx_guest_set_trap(g.guest, ZX_GUEST_TRAP_BELL, BELL_GPA, 0x1000, c.port, BELL_KEY));
	ASSERT_TRUE(pthread_create(&t, NULL, closer_main, &c) == 0);
	zx_port_packet_t p;
	zx_status_t st = zx_vcpu_enter(g.vcpu, &p);
	pthread_join(t, NULL);
	ASSERT_OK(c.wait_st);
	for (int i = 0; i < 5; i++)
		EXPECT_STATUS(ZX_OK, c.st[i]);
	/* The running VCPU kept the VM alive; the kick still ended its enter (spec §2.5). */
	EXPECT_STATUS(ZX_ERR_CANCELED, st);
	EXPECT_STATUS(ZX_ERR_BAD_HANDLE, zx_handle_close(g.guest));
	ASSERT_OK(daemon_counts(&guests, &vcpus));
	EXPECT_EQ(vcpus0 + 1, vcpus);
	ASSERT_OK(zx_handle_close(g.vcpu));
	/* With its last handle the guest is gone from the daemon. */
	ASSERT_OK(daemon_counts(&guests, &vcpus));
	EXPECT_EQ(guests0, guests);
	EXPECT_EQ(vcpus0, vcpus);

	/* This thread may bind a new VCPU, and the new guest runs to its end. */
	ASSERT_OK(setup_guest(&g, GUEST_CODE(guest_fault_exit_only)));
	EXPECT_STATUS(ZX_OK, enter_and_clean_exit(&g));
	teardown_guest(&g);
}
