/* zxvm-fault-client: the client processes of the fault tests (tests/faults/). Each command
 * connects to $ZXVM_TEST_TARGET through libzxvm (kill-loop: each of its children does), does one
 * thing and reports it on stdout, one line per fact (line-buffered, so that a test can wait for
 * a line):
 *
 *   spin N           N threads each enter a guest that rings a bell and then counts forever
 *                    (harness guest_kick_spin); "running N" once every VCPU is inside enter,
 *                    then "enter ZX_.." as each enter returns, and "done"
 *   port-wait        "waiting", then zx_port_wait on an empty port with no deadline;
 *                    "port_wait ZX_.." if it ever returns
 *   mid-stream       one enter of an IO guest on this thread's VcpuStream, then "between" and
 *                    nothing more: the stream stays open between two messages
 *   cycles N         N times zxvm_connect + zx_vmo_create + zxvm_disconnect;
 *                    "cycles N us_per_cycle X" (or "cycle I ZX_..")
 *   kill-loop N      N children, one after the other: each connects, enters a spinning guest
 *                    and is SIGKILLed once its VCPU is inside enter; "killed N ms_per_kill X"
 *   fault KIND MS    KIND triple (ud2 through Zircon's empty IDT) or avx (an instruction PVM's
 *                    emulator lacks): "start", then for MS ms build a guest and enter it, then
 *                    "faults K status ZX_.. other M" (M enters that ended otherwise)
 *   fault cli-spin   a guest spinning with IF = 0: "spinning" once it runs; a line on stdin
 *                    kicks it; "enter ZX_.." when the enter returns
 *   serve N          N enters of an IO guest; "served ZX_.. N"
 *   hold             "held", then waits for EOF on stdin; "own ZX_.." (a call still served)
 *   connect          "connect ZX_OK" (or the error, as for every command)
 *
 * Exit status 0 when the command ran (what it saw is in its output), 2 on a usage error, 1 when
 * it could not connect or set up. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <zircon/syscalls.h>
#include <zxvm/zxvm.h>

#include "fault-util.h"
#include "harness/guest.h"
#include "harness/test.h"

#define MAX_SPIN 64
#define BELL_TIMEOUT_MS 30000
#define CHILD_READY_MS 30000

static const char *target;

static int connect_or_report(void)
{
	zx_status_t st = zxvm_connect(target, &test_resource);
	if (st != ZX_OK) {
		printf("connect %s\n", zx_status_get_string(st));
		return -1;
	}
	return 0;
}

/* Start n spinners of `code` on `port` and wait until each is inside enter. */
static int spin_start(struct fault_spinner *s, int n, struct guest_code code, zx_handle_t port,
		      bool print)
{
	static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
	static int nready;
	for (int i = 0; i < n; i++) {
		s[i] = (struct fault_spinner){.code = code,
					      .port = port,
					      .lock = &lock,
					      .cond = &cond,
					      .nready = &nready,
					      .print = print};
		if (fault_spinner_start(&s[i]) != 0)
			return -1;
	}
	pthread_mutex_lock(&lock);
	while (nready < n)
		pthread_cond_wait(&cond, &lock);
	pthread_mutex_unlock(&lock);
	for (int i = 0; i < n; i++) {
		if (s[i].setup != ZX_OK) {
			printf("setup %s\n", zx_status_get_string(s[i].setup));
			return -1;
		}
	}
	zx_status_t st = fault_wait_bells(port, n, BELL_TIMEOUT_MS);
	if (st != ZX_OK) {
		printf("bells %s\n", zx_status_get_string(st));
		return -1;
	}
	return 0;
}

static int cmd_spin(int n)
{
	static struct fault_spinner s[MAX_SPIN];
	zx_handle_t port;
	if (n < 1 || n > MAX_SPIN) {
		fprintf(stderr, "zxvm-fault-client: spin: 1 to %d guests\n", MAX_SPIN);
		return 2;
	}
	zx_status_t st = zx_port_create(0, &port);
	if (st != ZX_OK) {
		printf("port_create %s\n", zx_status_get_string(st));
		return 1;
	}
	if (spin_start(s, n, GUEST_CODE(guest_kick_spin), port, true) < 0)
		return 1;
	printf("running %d\n", n);
	for (int i = 0; i < n; i++)
		pthread_join(s[i].thread, NULL);
	printf("done\n");
	return 0;
}

static int cmd_port_wait(void)
{
	zx_handle_t port;
	zx_port_packet_t p;
	zx_status_t st = zx_port_create(0, &port);
	if (st != ZX_OK) {
		printf("port_create %s\n", zx_status_get_string(st));
		return 1;
	}
	printf("waiting\n");
	st = zx_port_wait(port, ZX_TIME_INFINITE, &p);
	printf("port_wait %s\n", zx_status_get_string(st));
	return 0;
}

static int cmd_mid_stream(void)
{
	struct test_guest g;
	zx_port_packet_t p;
	zx_status_t st = fault_io_guest_setup(&g);
	if (st == ZX_OK)
		st = zx_vcpu_enter(g.vcpu, &p);
	if (st != ZX_OK || !fault_io_packet_ok(&p)) {
		printf("enter %s\n", zx_status_get_string(st));
		return 1;
	}
	printf("between\n");
	for (;;)
		pause();
}

static int cmd_cycles(unsigned long n)
{
	int64_t t0 = fault_now_ns();
	for (unsigned long i = 0; i < n; i++) {
		zx_handle_t resource, vmo;
		zx_status_t st = zxvm_connect(target, &resource);
		if (st == ZX_OK)
			st = zx_vmo_create(4096, 0, &vmo);
		zxvm_disconnect();
		if (st != ZX_OK) {
			printf("cycle %lu %s\n", i, zx_status_get_string(st));
			return 0;
		}
	}
	printf("cycles %lu us_per_cycle %.1f\n", n,
	       (double)(fault_now_ns() - t0) / 1e3 / (double)n);
	return 0;
}

/* A child of kill-loop: connect, run a spinning guest, tell the parent (one byte on fd), wait
 * for the SIGKILL. */
static void kill_child(int fd)
{
	struct fault_spinner s;
	zx_handle_t port;
	if (zxvm_connect(target, &test_resource) != ZX_OK || zx_port_create(0, &port) != ZX_OK ||
	    spin_start(&s, 1, GUEST_CODE(guest_kick_spin), port, false) < 0)
		_exit(1);
	if (write(fd, "r", 1) != 1)
		_exit(1);
	for (;;)
		pause();
}

static int cmd_kill_loop(unsigned long n)
{
	/* No libzxvm call in this process: each child starts from a process without gRPC. */
	int64_t t0 = fault_now_ns();
	for (unsigned long i = 0; i < n; i++) {
		int fds[2];
		if (pipe2(fds, O_CLOEXEC) < 0)
			return 1;
		fflush(stdout);
		pid_t pid = fork();
		if (pid < 0)
			return 1;
		if (pid == 0) {
			close(fds[0]);
			kill_child(fds[1]);
		}
		close(fds[1]);
		struct pollfd p = {.fd = fds[0], .events = POLLIN};
		char c = 0;
		int r;
		do
			r = poll(&p, 1, CHILD_READY_MS);
		while (r < 0 && errno == EINTR);
		bool ready = r == 1 && read(fds[0], &c, 1) == 1 && c == 'r';
		close(fds[0]);
		kill(pid, SIGKILL);
		int status;
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
		if (!ready) {
			printf("child %lu never ran its guest (status %#x)\n", i, status);
			return 1;
		}
	}
	printf("killed %lu ms_per_kill %.2f\n", n, (double)(fault_now_ns() - t0) / 1e6 / (double)n);
	return 0;
}

static int cmd_fault_loop(struct guest_code code, zx_status_t want, long ms)
{
	unsigned long faults = 0, other = 0;
	zx_status_t last = ZX_OK;
	printf("start\n");
	int64_t until = fault_now_ns() + ms * 1000000;
	do {
		struct test_guest g;
		zx_port_packet_t p;
		zx_status_t st = setup_guest(&g, code);
		if (st == ZX_OK)
			st = zx_vcpu_enter(g.vcpu, &p);
		teardown_guest(&g);
		if (st == want)
			faults++;
		else
			other++, last = st;
	} while (fault_now_ns() < until);
	printf("faults %lu status %s other %lu %s\n", faults, zx_status_get_string(want), other,
	       zx_status_get_string(last));
	return 0;
}

static int cmd_fault_cli_spin(void)
{
	struct fault_spinner s;
	zx_handle_t port;
	char line[64];
	zx_status_t st = zx_port_create(0, &port);
	if (st != ZX_OK || spin_start(&s, 1, GUEST_CODE(fault_guest_cli_spin), port, false) < 0)
		return 1;
	printf("spinning\n");
	if (!fgets(line, sizeof(line), stdin))
		return 1;
	st = zx_vcpu_kick(s.vcpu);
	pthread_join(s.thread, NULL);
	printf("kick %s enter %s\n", zx_status_get_string(st), zx_status_get_string(s.enter));
	return 0;
}

static int cmd_serve(unsigned long n)
{
	struct test_guest g;
	zx_port_packet_t p;
	unsigned long done = 0;
	zx_status_t st = fault_io_guest_setup(&g);
	while (st == ZX_OK && done < n) {
		st = zx_vcpu_enter(g.vcpu, &p);
		if (st == ZX_OK && !fault_io_packet_ok(&p))
			st = ZX_ERR_INTERNAL;
		done += st == ZX_OK;
	}
	teardown_guest(&g);
	printf("served %s %lu\n", zx_status_get_string(st), done);
	return 0;
}

static int cmd_hold(void)
{
	zx_handle_t vmo;
	printf("held\n");
	while (getchar() != EOF)
		;
	zx_status_t st = zx_vmo_create(4096, 0, &vmo);
	printf("own %s\n", zx_status_get_string(st));
	return 0;
}

static bool count_arg(const char *s, unsigned long max, unsigned long *out)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || end == s || *end || v == 0 || v > max)
		return false;
	*out = v;
	return true;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	target = getenv("ZXVM_TEST_TARGET");
	const char *cmd = argc >= 2 ? argv[1] : "";
	unsigned long n = 0;
	if (argc == 3 && strcmp(cmd, "kill-loop") == 0 && count_arg(argv[2], 1000000, &n))
		return cmd_kill_loop(n);
	if (argc == 3 && strcmp(cmd, "cycles") == 0 && count_arg(argv[2], 1000000, &n))
		return cmd_cycles(n);

	int rc = 2;
	if (connect_or_report() < 0)
		return 1;
	if (argc == 3 && strcmp(cmd, "spin") == 0 && count_arg(argv[2], MAX_SPIN, &n))
		rc = cmd_spin((int)n);
	else if (argc == 2 && strcmp(cmd, "port-wait") == 0)
		rc = cmd_port_wait();
	else if (argc == 2 && strcmp(cmd, "mid-stream") == 0)
		rc = cmd_mid_stream();
	else if (argc == 4 && strcmp(cmd, "fault") == 0 && strcmp(argv[2], "triple") == 0 &&
		 count_arg(argv[3], 60000, &n))
		rc = cmd_fault_loop(GUEST_CODE(guest_fault_ud2), ZX_ERR_NOT_SUPPORTED, (long)n);
	else if (argc == 4 && strcmp(cmd, "fault") == 0 && strcmp(argv[2], "avx") == 0 &&
		 count_arg(argv[3], 60000, &n))
		rc = cmd_fault_loop(GUEST_CODE(guest_fault_avx), ZX_ERR_NOT_SUPPORTED, (long)n);
	else if (argc == 3 && strcmp(cmd, "fault") == 0 && strcmp(argv[2], "cli-spin") == 0)
		rc = cmd_fault_cli_spin();
	else if (argc == 3 && strcmp(cmd, "serve") == 0 && count_arg(argv[2], 1000000, &n))
		rc = cmd_serve(n);
	else if (argc == 2 && strcmp(cmd, "hold") == 0)
		rc = cmd_hold();
	else if (argc == 2 && strcmp(cmd, "connect") == 0)
		printf("connect ZX_OK\n"), rc = 0;
	else
		fprintf(stderr,
			"usage: zxvm-fault-client spin N|port-wait|mid-stream|cycles N|"
			"kill-loop N|fault triple|avx MS|fault cli-spin|serve N|hold|connect\n");
	zxvm_disconnect();
	return rc;
}
