/* P7: VMs created, run and destroyed per second through zxvmd, against the same in process, in
 * the same run. One VM is, on one thread through the public API, the create of P4 (guest, 2 MiB
 * VMO made executable, page tables and code written, mapped, IO trap, VCPU, first enter to its
 * GUEST_IO packet: bench-guest.c) and then closing every handle (VCPU first), which destroys
 * it. N VMs back to back are one sample; the rate is N / its time.
 * - zxvm: this process, connected to a zxvmd it started on a private socket;
 * - floor: the same with zxvm_connect("inproc:") in a child process (a process connects once):
 *   this program run again with --inproc-child N, which prints its time.
 * Each side does one untimed VM first; rounds alternate the sides (and which goes first). The
 * ratio is of the median rates, zxvm / floor. Target P7: >= 0.3. */
#include <getopt.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include <zircon/errors.h>
#include <zircon/syscalls.h>
#include <zxvm/zxvm.h>

#include "bench-guest.h"
#include "bench-proc.h"
#include "bench-util.h"

#define P7_TARGET 0.3
#define P7_DEFAULT_VMS 100ul
#define P7_DEFAULT_ROUNDS 5ul
#define P7_MAX_ROUNDS 100ul

/* n VMs back to back after an untimed one; *out_s is the time of the n. */
static int vms(zx_handle_t resource, unsigned long n, double *out_s)
{
	uint64_t t0 = 0;
	for (unsigned long i = 0; i <= n; i++) {
		if (i == 1)
			t0 = bench_now_ns();
		struct bench_guest g = BENCH_GUEST_INIT;
		const char *what = NULL;
		zx_status_t st = bench_guest_create(resource, &g, &what);
		bench_guest_destroy(&g);
		if (st != ZX_OK) {
			fprintf(stderr, "bench_p7: %s: %s\n", what, zx_status_get_string(st));
			return -1;
		}
	}
	*out_s = (double)(bench_now_ns() - t0) / 1e9;
	return 0;
}

static int inproc_child(unsigned long n)
{
	zx_handle_t resource;
	double s;
	zx_status_t st = zxvm_connect("inproc:", &resource);
	if (st != ZX_OK) {
		fprintf(stderr, "bench_p7: zxvm_connect(\"inproc:\"): %s\n",
			zx_status_get_string(st));
		return 1;
	}
	int rc = vms(resource, n, &s);
	zxvm_disconnect();
	if (rc < 0)
		return 1;
	printf("seconds %.6f\n", s);
	return 0;
}

/* This program with --inproc-child n; its time in *out_s. It inherits our CPU affinity. */
static int run_child(unsigned long n, double *out_s)
{
	struct bench_child c;
	if (bench_child_start("bench_p7", n, &c) < 0)
		return -1;
	int got = c.out ? fscanf(c.out, "seconds %lf", out_s) : 0;
	if (!bench_child_finish(&c) || got != 1) {
		fprintf(stderr, "bench_p7: the in-process child failed\n");
		return -1;
	}
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: bench_p7 [-n VMS] [-r ROUNDS] [-c CPU|none] [--zxvmd PATH] [--json]\n"
		"  -n VMS          VMs per sample (default %lu)\n"
		"  -r ROUNDS       rounds, each one sample of both sides (default %lu)\n"
		"  -c CPU          pin the client (and the in-process child) to CPU (default 0);\n"
		"                  none: not pinned\n"
		"  --zxvmd PATH    the daemon (default $ZXVMD, else ../daemon/zxvmd next to this)\n"
		"  --json          print one JSON object instead of the table\n",
		P7_DEFAULT_VMS, P7_DEFAULT_ROUNDS);
}

int main(int argc, char **argv)
{
	static const struct option lopts[] = {
		{"json", no_argument, NULL, 'j'},
		{"zxvmd", required_argument, NULL, 'z'},
		{"inproc-child", required_argument, NULL, 'i'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	unsigned long n = P7_DEFAULT_VMS, rounds = P7_DEFAULT_ROUNDS, child = 0, v;
	int cpu = 0, c;
	const char *zxvmd_flag = NULL;
	bool json = false;
	while ((c = getopt_long(argc, argv, "n:r:c:h", lopts, NULL)) != -1) {
		switch (c) {
		case 'n':
			if (!bench_parse_count(optarg, 1, 100000, &n))
				goto bad;
			break;
		case 'r':
			if (!bench_parse_count(optarg, 1, P7_MAX_ROUNDS, &rounds))
				goto bad;
			break;
		case 'c':
			if (strcmp(optarg, "none") == 0)
				cpu = -1;
			else if (bench_parse_count(optarg, 0, CPU_SETSIZE - 1, &v))
				cpu = (int)v;
			else
				goto bad;
			break;
		case 'z':
			zxvmd_flag = optarg;
			break;
		case 'j':
			json = true;
			break;
		case 'i':
			if (!bench_parse_count(optarg, 1, 100000, &child))
				goto bad;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 1;
		}
	}
	if (child)
		return inproc_child(child);
	if (cpu >= 0 && bench_pin_cpu(cpu) < 0) {
		fprintf(stderr, "bench_p7: cannot pin to CPU %d\n", cpu);
		return 1;
	}
	char zxvmd[4096], dir[128], target[300];
	if (bench_prepare("bench_p7", zxvmd_flag, zxvmd, sizeof(zxvmd), dir, sizeof(dir)) < 0)
		return 1;
	static double floor_rate[P7_MAX_ROUNDS], zxvm_rate[P7_MAX_ROUNDS];
	struct bench_server daemon = {0};
	bool connected = false;
	int rc = 1;
	zx_handle_t resource;
	if (bench_start_zxvmd(&daemon, zxvmd, dir, 0, target, sizeof(target)) < 0)
		goto out;
	zx_status_t st = zxvm_connect(target, &resource);
	if (st != ZX_OK) {
		fprintf(stderr, "bench_p7: zxvm_connect(%s): %s\n", target,
			zx_status_get_string(st));
		goto out;
	}
	connected = true;
	for (unsigned long r = 0; r < rounds; r++) {
		double fs, zs;
		bool floor_first = r % 2 == 0;
		if ((floor_first && run_child(n, &fs) < 0) || vms(resource, n, &zs) < 0 ||
		    (!floor_first && run_child(n, &fs) < 0))
			goto out;
		floor_rate[r] = (double)n / fs;
		zxvm_rate[r] = (double)n / zs;
	}
	rc = 0;
out:
	if (connected)
		zxvm_disconnect();
	if (bench_server_stop(&daemon, 10000) < 0)
		rc = 1;
	bench_tmpdir_remove(dir);
	if (rc != 0)
		return rc;
	double fm = bench_median(floor_rate, rounds), zm = bench_median(zxvm_rate, rounds);
	double ratio = zm / fm;
	if (json) {
		printf("{\"benchmark\": \"p7\", \"vms\": %lu, \"rounds\": %lu, \"platform\": "
		       "\"%s\", "
		       "\"target_ratio\": %.2f, \"floor_per_s\": %.1f, \"zxvm_per_s\": %.1f, "
		       "\"ratio\": %.4f, \"pass\": %s, \"floor_samples\": ",
		       n, rounds, bench_kvm_is_pvm() ? "pvm" : "kvm", P7_TARGET, fm, zm, ratio,
		       ratio >= P7_TARGET ? "true" : "false");
		bench_json_array(stdout, floor_rate, rounds, 1);
		printf(", \"zxvm_samples\": ");
		bench_json_array(stdout, zxvm_rate, rounds, 1);
		printf("}\n");
		return 0;
	}
	printf("P7: VMs created, run to their first exit and destroyed per second, through zxvmd "
	       "vs in process\n");
	printf("  %lu VMs x %lu rounds per side, one thread; client CPU %d; %s\n", n, rounds, cpu,
	       bench_kvm_is_pvm() ? "PVM nested KVM" : "KVM");
	printf("  %-32s %9.1f VMs/s (median)\n", "floor: in process (inproc:)", fm);
	printf("  %-32s %9.1f VMs/s (median)\n", "zxvm: through zxvmd (unix:)", zm);
	printf("  %-32s %9.3f  (target >= %.2f)%s\n", "ratio zxvm / floor", ratio, P7_TARGET,
	       ratio >= P7_TARGET ? "" : "  BELOW TARGET");
	return 0;
bad:
	fprintf(stderr, "bench_p7: bad value '%s' for -%c\n", optarg, c);
	usage(stderr);
	return 1;
}
