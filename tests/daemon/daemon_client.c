/* zxvm-test-client: the client processes of the daemon tests (daemon_test.sh, daemon_test.c).
 * Each command connects to $ZXVM_TEST_TARGET through libzxvm, does one thing and reports it on
 * stdout, one "word value" line per fact (line-buffered, so that a test can wait for a line):
 *
 *   guest-create   "resource 0x..", "guest_create ZX_..", "vmo_create ZX_.."
 *   hold           creates a VMO, prints "vmo 0x..", waits for EOF on stdin, then prints
 *                  "own ZX_.." (its VMO is still valid) and exits
 *   probe H...     for each handle value: "probe 0x.. info ZX_.. close ZX_.."
 *   spin N         N threads each run a guest spinning in enter (tests/guest/irq.S
 *                  guest_kick_spin); "running N" once every guest rang its bell (so every VCPU
 *                  is inside enter), then "enter ZX_.." as each enter returns, "done"
 *
 * Exit status 0 when the command ran (what it saw is in its output), 2 on a usage error, 1
 * when it could not connect or set up. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <zircon/syscalls.h>
#include <zxvm/zxvm.h>

#include "harness/guest.h"
#include "harness/test.h"

/* The layout of tests/guest/irq.S that guest_kick_spin uses. */
#define BELL_GPA 0x40000000u
#define BELL_KEY 0xbe11u
#define MAX_SPIN 16
#define BELL_WAIT_MS 20000

static int cmd_guest_create(void)
{
	zx_handle_t guest, vmar, vmo;
	printf("resource %#x\n", test_resource);
	zx_status_t st = zx_guest_create(test_resource, 0, &guest, &vmar);
	printf("guest_create %s\n", zx_status_get_string(st));
	st = zx_vmo_create(4096, 0, &vmo);
	printf("vmo_create %s\n", zx_status_get_string(st));
	return 0;
}

static int cmd_hold(void)
{
	zx_handle_t vmo;
	zx_status_t st = zx_vmo_create(4096, 0, &vmo);
	if (st != ZX_OK) {
		printf("vmo_create %s\n", zx_status_get_string(st));
		return 1;
	}
	printf("vmo %#x\n", vmo);
	while (getchar() != EOF)
		;
	st = zx_object_get_info(vmo, ZX_INFO_HANDLE_VALID, NULL, 0, NULL, NULL);
	printf("own %s\n", zx_status_get_string(st));
	return 0;
}

static int cmd_probe(int n, char **values)
{
	for (int i = 0; i < n; i++) {
		zx_handle_t h = (zx_handle_t)strtoul(values[i], NULL, 0);
		zx_status_t info = zx_object_get_info(h, ZX_INFO_HANDLE_VALID, NULL, 0, NULL, NULL);
		zx_status_t close = zx_handle_close(h);
		printf("probe %#x info %s close %s\n", h, zx_status_get_string(info),
		       zx_status_get_string(close));
	}
	return 0;
}

struct spinner {
	pthread_t thread;
	zx_handle_t port;
	zx_status_t setup;
	pthread_mutex_t *lock;
	pthread_cond_t *cond;
	int *nset;
};

static void *spinner_main(void *arg)
{
	struct spinner *s = arg;
	struct test_guest g;
	/* The VCPU belongs to this thread (spec §2.3), so the guest is built here. */
	zx_status_t st = setup_guest(&g, GUEST_CODE(guest_kick_spin));
	if (st == ZX_OK)
		st = zx_guest_set_trap(g.guest, ZX_GUEST_TRAP_BELL, BELL_GPA, 0x1000, s->port,
				       BELL_KEY);
	pthread_mutex_lock(s->lock);
	s->setup = st;
	(*s->nset)++;
	pthread_cond_signal(s->cond);
	pthread_mutex_unlock(s->lock);
	if (st != ZX_OK)
		return NULL;
	zx_port_packet_t p;
	st = zx_vcpu_enter(g.vcpu, &p);
	printf("enter %s\n", zx_status_get_string(st));
	teardown_guest(&g);
	return NULL;
}

static int cmd_spin(int n)
{
	pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
	struct spinner s[MAX_SPIN];
	int nset = 0, failed = 0;
	zx_handle_t port;

	if (n < 1 || n > MAX_SPIN) {
		fprintf(stderr, "zxvm-test-client: spin: 1 to %d guests\n", MAX_SPIN);
		return 2;
	}
	zx_status_t st = zx_port_create(0, &port);
	if (st != ZX_OK) {
		printf("port_create %s\n", zx_status_get_string(st));
		return 1;
	}
	for (int i = 0; i < n; i++) {
		s[i] = (struct spinner){.port = port, .lock = &lock, .cond = &cond, .nset = &nset};
		if (pthread_create(&s[i].thread, NULL, spinner_main, &s[i]) != 0)
			return 1;
	}
	pthread_mutex_lock(&lock);
	while (nset < n)
		pthread_cond_wait(&cond, &lock);
	pthread_mutex_unlock(&lock);
	for (int i = 0; i < n; i++)
		failed += s[i].setup != ZX_OK;
	/* One bell per guest: each VCPU is then inside enter, running guest code. */
	int bells = 0;
	while (!failed && bells < n) {
		zx_port_packet_t p;
		st = zx_port_wait(port, deadline_after_ms(BELL_WAIT_MS), &p);
		if (st != ZX_OK) {
			printf("port_wait %s\n", zx_status_get_string(st));
			failed = 1;
		} else if (p.type == ZX_PKT_TYPE_GUEST_BELL && p.key == BELL_KEY) {
			bells++;
		}
	}
	if (!failed)
		printf("running %d\n", n);
	for (int i = 0; i < n; i++)
		pthread_join(s[i].thread, NULL);
	printf("done\n");
	return failed;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 2) {
		fprintf(stderr, "usage: zxvm-test-client guest-create|hold|probe H...|spin N\n");
		return 2;
	}
	const char *target = getenv("ZXVM_TEST_TARGET");
	zx_status_t st = zxvm_connect(target, &test_resource);
	if (st != ZX_OK) {
		printf("connect %s\n", zx_status_get_string(st));
		return 1;
	}
	int rc = 2;
	if (strcmp(argv[1], "guest-create") == 0)
		rc = cmd_guest_create();
	else if (strcmp(argv[1], "hold") == 0)
		rc = cmd_hold();
	else if (strcmp(argv[1], "probe") == 0)
		rc = cmd_probe(argc - 2, argv + 2);
	else if (strcmp(argv[1], "spin") == 0 && argc == 3)
		rc = cmd_spin(atoi(argv[2]));
	else
		fprintf(stderr, "zxvm-test-client: unknown command '%s'\n", argv[1]);
	zxvm_disconnect();
	return rc;
}
