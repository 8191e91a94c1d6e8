/* load: N client processes x M VCPU threads drive port-IO exits through one zxvmd for T seconds.
 * Each thread runs its own guest (an `out` loop: every zx_vcpu_enter is one GUEST_IO packet) and
 * times every enter; the processes start together (each reports ready, then all are told to
 * go) and stop by themselves at T. The report is the exits per second over all clients, the
 * p50/p99/max of the per-exit latency, and the errors (any enter that failed or brought another
 * packet), which must be 0.
 *
 * Usage: load [-n CLIENTS] [-m VCPUS] [-t SECONDS] [--target ADDR]
 * The target is --target, else $ZXVM_TEST_TARGET (tests/daemon/with-zxvmd.sh sets it); only a
 * unix socket or a loopback address: this is a load test of a local daemon. Exit status 0 when
 * there was no error and every VCPU made progress, 1 otherwise, 2 on a usage error. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <pthread.h>
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

#define MAX_CLIENTS 64
#define MAX_VCPUS 64
#define MAX_SECONDS 600
#define HIST_US 100000 /* 1 µs buckets up to 100 ms; slower exits go in the last */
#define READY_TIMEOUT_MS 60000

struct vcpu_run {
	pthread_t thread;
	int64_t until; /* set before go */
	unsigned long exits, errors;
	zx_status_t first_error;
	uint32_t *hist; /* HIST_US + 1 buckets */
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static int nready;
static bool go;
static zx_status_t setup_error;

static void *vcpu_main(void *arg)
{
	struct vcpu_run *r = arg;
	struct test_guest g;
	zx_port_packet_t p;
	/* Built here: the VCPU belongs to this thread (spec §2.3). One enter first, so that the
	 * daemon's VCPU thread and this thread's stream exist before the clock starts. */
	zx_status_t st = fault_io_guest_setup(&g);
	if (st == ZX_OK)
		st = zx_vcpu_enter(g.vcpu, &p);
	pthread_mutex_lock(&lock);
	if (st != ZX_OK && setup_error == ZX_OK)
		setup_error = st;
	nready++;
	pthread_cond_broadcast(&cond);
	while (!go)
		pthread_cond_wait(&cond, &lock);
	pthread_mutex_unlock(&lock);
	if (st != ZX_OK) {
		teardown_guest(&g);
		return NULL;
	}
	int64_t t = fault_now_ns();
	while (t < r->until) {
		st = zx_vcpu_enter(g.vcpu, &p);
		int64_t now = fault_now_ns();
		if (st != ZX_OK || !fault_io_packet_ok(&p)) {
			if (r->errors++ == 0)
				r->first_error = st != ZX_OK ? st : ZX_ERR_INTERNAL;
			break; /* the guest is in an unknown state now */
		}
		int64_t us = (now - t) / 1000;
		r->hist[us < HIST_US ? us : HIST_US]++;
		r->exits++;
		t = now;
	}
	teardown_guest(&g);
	return NULL;
}

/* One client process: connect, start m VCPU threads, say "ready" on out, wait for a byte on
 * in, run for seconds, report on out. */
static int client(const char *target, int m, int seconds, int in, FILE *out)
{
	static struct vcpu_run runs[MAX_VCPUS];
	zx_status_t st = zxvm_connect(target, &test_resource);
	if (st != ZX_OK) {
		fprintf(out, "error connect %s\n", zx_status_get_string(st));
		return 1;
	}
	for (int i = 0; i < m; i++) {
		runs[i].hist = calloc(HIST_US + 1, sizeof(uint32_t));
		if (!runs[i].hist || pthread_create(&runs[i].thread, NULL, vcpu_main, &runs[i]))
			return 1;
	}
	pthread_mutex_lock(&lock);
	while (nready < m)
		pthread_cond_wait(&cond, &lock);
	pthread_mutex_unlock(&lock);
	fprintf(out, "ready %s\n", zx_status_get_string(setup_error));
	fflush(out);
	char c;
	if (read(in, &c, 1) != 1)
		return 1;
	int64_t t0 = fault_now_ns();
	pthread_mutex_lock(&lock);
	for (int i = 0; i < m; i++)
		runs[i].until = t0 + (int64_t)seconds * 1000000000;
	go = true;
	pthread_cond_broadcast(&cond);
	pthread_mutex_unlock(&lock);
	unsigned long exits = 0, errors = 0, idle = 0;
	zx_status_t first = ZX_OK;
	for (int i = 0; i < m; i++) {
		pthread_join(runs[i].thread, NULL);
		exits += runs[i].exits;
		errors += runs[i].errors;
		idle += runs[i].exits == 0;
		if (first == ZX_OK)
			first = runs[i].first_error;
	}
	double secs = (double)(fault_now_ns() - t0) / 1e9;
	zxvm_disconnect();
	for (int us = 0; us <= HIST_US; us++) {
		unsigned long n = 0;
		for (int i = 0; i < m; i++)
			n += runs[i].hist[us];
		if (n)
			fprintf(out, "hist %d %lu\n", us, n);
	}
	fprintf(out, "done %lu %lu %lu %.6f %s\n", exits, errors, idle, secs,
		zx_status_get_string(first));
	fflush(out);
	return 0;
}

struct child {
	pid_t pid;
	int go_fd;
	FILE *out;
};

/* The p-th percentile of the merged histogram (count values). */
static long percentile(const unsigned long *hist, unsigned long count, double p)
{
	unsigned long want = (unsigned long)(p / 100.0 * (double)count), seen = 0;
	if (want >= count)
		want = count - 1; /* the maximum */
	for (long us = 0; us <= HIST_US; us++) {
		seen += hist[us];
		if (seen > want)
			return us;
	}
	return HIST_US;
}

static bool local_target(const char *t)
{
	return strncmp(t, "unix:", 5) == 0 || strncmp(t, "127.", 4) == 0 ||
	       strncmp(t, "localhost:", 10) == 0 || strncmp(t, "[::1]:", 6) == 0;
}

static bool parse(const char *s, long max, long *out)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < 1 || v > max)
		return false;
	*out = v;
	return true;
}

int main(int argc, char **argv)
{
	static const struct option lopts[] = {{"target", required_argument, NULL, 'a'},
					      {"help", no_argument, NULL, 'h'},
					      {NULL, 0, NULL, 0}};
	long n = 2, m = 2, t = 2;
	const char *target = getenv("ZXVM_TEST_TARGET");
	int c;
	while ((c = getopt_long(argc, argv, "n:m:t:h", lopts, NULL)) != -1) {
		bool good = true;
		switch (c) {
		case 'n':
			good = parse(optarg, MAX_CLIENTS, &n);
			break;
		case 'm':
			good = parse(optarg, MAX_VCPUS, &m);
			break;
		case 't':
			good = parse(optarg, MAX_SECONDS, &t);
			break;
		case 'a':
			target = optarg;
			break;
		default:
			good = false;
		}
		if (!good || c == 'h') {
			fprintf(c == 'h' ? stdout : stderr,
				"usage: load [-n CLIENTS (1-%d)] [-m VCPUS (1-%d)] [-t SECONDS "
				"(1-%d)] "
				"[--target ADDR]\n",
				MAX_CLIENTS, MAX_VCPUS, MAX_SECONDS);
			return c == 'h' ? 0 : 2;
		}
	}
	if (!target || !local_target(target)) {
		fprintf(stderr,
			"load: the target must be a local zxvmd (unix:PATH or a loopback "
			"address): --target or $ZXVM_TEST_TARGET, got '%s'\n",
			target ? target : "");
		return 2;
	}

	/* Clients are forked from this process, which never touches libzxvm (gRPC must not be
	 * initialized across a fork). */
	static struct child kids[MAX_CLIENTS];
	int failed = 0;
	for (long i = 0; i < n; i++) {
		int go_pipe[2], out_pipe[2];
		if (pipe2(go_pipe, O_CLOEXEC) < 0 || pipe2(out_pipe, O_CLOEXEC) < 0)
			return 1;
		fflush(stdout);
		pid_t pid = fork();
		if (pid < 0)
			return 1;
		if (pid == 0) {
			close(go_pipe[1]);
			close(out_pipe[0]);
			FILE *out = fdopen(out_pipe[1], "w");
			_exit(client(target, (int)m, (int)t, go_pipe[0], out));
		}
		close(go_pipe[0]);
		close(out_pipe[1]);
		kids[i] = (struct child){
			.pid = pid, .go_fd = go_pipe[1], .out = fdopen(out_pipe[0], "r")};
	}
	char line[256];
	for (long i = 0; i < n; i++) {
		struct pollfd p = {.fd = fileno(kids[i].out), .events = POLLIN};
		char st[64] = "";
		if (poll(&p, 1, READY_TIMEOUT_MS) != 1 || !fgets(line, sizeof(line), kids[i].out) ||
		    sscanf(line, "ready %63s", st) != 1 || strcmp(st, "ZX_OK") != 0) {
			fprintf(stderr, "load: client %ld did not get ready: %s", i,
				line[0] ? line : "(nothing)\n");
			failed = 1;
		}
	}
	for (long i = 0; i < n; i++)
		if (write(kids[i].go_fd, failed ? "q" : "g", 1) != 1 || close(kids[i].go_fd) < 0)
			failed = 1;

	static unsigned long hist[HIST_US + 1];
	unsigned long exits = 0, errors = 0, idle = 0, count = 0;
	double secs = 0;
	for (long i = 0; i < n; i++) {
		bool done = false;
		while (fgets(line, sizeof(line), kids[i].out)) {
			unsigned long a, b, e, k;
			double s;
			char st[64];
			if (sscanf(line, "hist %lu %lu", &a, &b) == 2 && a <= HIST_US) {
				hist[a] += b;
				count += b;
			} else if (sscanf(line, "done %lu %lu %lu %lf %63s", &a, &e, &k, &s, st) ==
				   5) {
				exits += a, errors += e, idle += k;
				secs = s > secs ? s : secs;
				done = true;
				if (e)
					fprintf(stderr,
						"load: client %ld: %lu errors, the first %s\n", i,
						e, st);
			} else {
				fprintf(stderr, "load: client %ld: %s", i, line);
			}
		}
		fclose(kids[i].out);
		int status;
		while (waitpid(kids[i].pid, &status, 0) < 0 && errno == EINTR)
			;
		if (!done || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
			fprintf(stderr, "load: client %ld ended without its report (status %#x)\n",
				i, status);
			failed = 1;
		}
	}
	if (failed)
		return 1;
	printf("load: %ld clients x %ld VCPUs for %ld s through zxvmd (%s)%s\n", n, m, t, target,
	       access("/sys/module/kvm_pvm", F_OK) == 0 ? ", PVM nested KVM" : "");
	printf("  exits %lu, errors %lu, VCPUs without an exit %lu\n", exits, errors, idle);
	printf("  throughput %.0f exits/s (%.0f per VCPU)\n", (double)exits / secs,
	       (double)exits / secs / (double)(n * m));
	if (count)
		printf("  per-exit latency p50 %ld us, p99 %ld us, max %ld%s us\n",
		       percentile(hist, count, 50), percentile(hist, count, 99),
		       percentile(hist, count, 100), hist[HIST_US] ? "+" : "");
	if (errors || idle || !count) {
		printf("FAIL: expected 0 errors and every VCPU to exit\n");
		return 1;
	}
	printf("ok: 0 errors\n");
	return 0;
}
