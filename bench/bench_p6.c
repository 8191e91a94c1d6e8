/* P6: how many guests one zxvmd holds and enters. K guests (2 MiB RAM, one VCPU, bench-guest.h)
 * are built and entered once by client processes of up to 50 guests each, all at the same time
 * (bench-hold.h), and held; then every one is entered once more, all processes at once. The
 * report is how many were held and how many of those entered, the time each took, and what the
 * daemon holds for them (fds, threads, RSS) against the limits it runs under: a guest is a VM fd,
 * a VCPU fd, a memfd of guest RAM and one daemon thread for its VCPU; guest RAM is a memfd, not
 * locked memory, so RLIMIT_MEMLOCK does not bound it, RLIMIT_NOFILE does. Target P6: >= 1000. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench-hold.h"
#include "bench-proc.h"
#include "bench-util.h"

#define P6_TARGET 1000ul
#define P6_DEFAULT_GUESTS 1000ul
#define P6_PER_PROCESS 50ul

static void usage(FILE *f)
{
	fprintf(f,
		"usage: bench_p6 [-k GUESTS] [--zxvmd PATH] [--json]\n"
		"  -k GUESTS      guests to hold (default %lu), %lu per client process\n"
		"  --zxvmd PATH   the daemon (default $ZXVMD, else ../daemon/zxvmd next to this)\n"
		"  --json         print one JSON object instead of the table\n",
		P6_DEFAULT_GUESTS, P6_PER_PROCESS);
}

int main(int argc, char **argv)
{
	struct bench_hold_flags fl = {.guests = P6_DEFAULT_GUESTS};
	int prc = bench_hold_parse("bench_p6", usage, 4000, 0, argc, argv, &fl);
	if (prc != 0)
		return prc > 0 ? 0 : 1;
	unsigned long k = fl.guests;
	bool json = fl.json;
	char zxvmd[4096], dir[128], target[300];
	if (bench_prepare("bench_p6", fl.zxvmd, zxvmd, sizeof(zxvmd), dir, sizeof(dir)) < 0)
		return 1;
	struct bench_server daemon = {0};
	struct bench_holders h = {0};
	char nofile_soft[32] = "?", nofile_hard[32] = "?", memlock_soft[32] = "?",
	     memlock_hard[32] = "?";
	long fds0 = 0, thr0 = 0, rss0 = 0, fds1 = 0, thr1 = 0, rss1 = 0, shm1 = 0;
	unsigned long entered = 0, held = 0;
	double build_s = 0, enter_s = 0;
	int rc = 1;
	if (bench_start_zxvmd(&daemon, zxvmd, dir, 0, target, sizeof(target)) < 0)
		goto out;
	bench_proc_limit(daemon.pid, "Max open files", nofile_soft, nofile_hard,
			 sizeof(nofile_soft));
	bench_proc_limit(daemon.pid, "Max locked memory", memlock_soft, memlock_hard,
			 sizeof(memlock_soft));
	/* ~4 fds per guest: say so up front when the limit cannot hold K guests. */
	if (strcmp(nofile_soft, "unlimited") != 0 && strtoul(nofile_soft, NULL, 10) < 4 * k + 64)
		fprintf(stderr,
			"bench_p6: zxvmd's open-file limit %s is below the ~%lu that %lu "
			"guests need (ulimit -n)\n",
			nofile_soft, 4 * k + 64, k);
	fds0 = bench_proc_fds(daemon.pid);
	thr0 = bench_proc_status(daemon.pid, "Threads");
	rss0 = bench_proc_status(daemon.pid, "VmRSS");
	uint64_t t0 = bench_now_ns();
	int held_rc = bench_hold_start(&h, target, k, P6_PER_PROCESS);
	build_s = (double)(bench_now_ns() - t0) / 1e9;
	held = h.held;
	t0 = bench_now_ns();
	if (bench_hold_enter_all(&h, &entered) < 0)
		held_rc = -1;
	enter_s = (double)(bench_now_ns() - t0) / 1e9;
	fds1 = bench_proc_fds(daemon.pid);
	thr1 = bench_proc_status(daemon.pid, "Threads");
	rss1 = bench_proc_status(daemon.pid, "VmRSS");
	shm1 = bench_proc_status(daemon.pid, "RssShmem");
	rc = held_rc < 0 ? 1 : 0;
out:
	if (h.p)
		bench_hold_stop(&h);
	if (bench_server_stop(&daemon, 30000) < 0)
		rc = 1;
	bench_tmpdir_remove(dir);
	bool pass = held >= P6_TARGET && entered >= P6_TARGET;
	double per_fd = held ? (double)(fds1 - fds0) / (double)held : 0;
	if (json) {
		printf("{\"benchmark\": \"p6\", \"guests\": %lu, \"held\": %lu, \"entered\": %lu, "
		       "\"platform\": \"%s\", \"target\": %lu, \"build_s\": %.2f, \"enter_s\": "
		       "%.3f, "
		       "\"fds\": %ld, \"fds_per_guest\": %.2f, \"threads\": %ld, \"rss_kib\": %ld, "
		       "\"nofile\": \"%s/%s\", \"memlock\": \"%s/%s\", \"pass\": %s}\n",
		       k, held, entered, bench_kvm_is_pvm() ? "pvm" : "kvm", P6_TARGET, build_s,
		       enter_s, fds1, per_fd, thr1, rss1, nofile_soft, nofile_hard, memlock_soft,
		       memlock_hard, pass ? "true" : "false");
		return rc;
	}
	printf("P6: guests one zxvmd holds and enters (2 MiB RAM, 1 VCPU each); %s\n",
	       bench_kvm_is_pvm() ? "PVM nested KVM" : "KVM");
	printf("  zxvmd limits: open files %s (hard %s), locked memory %s (hard %s) bytes\n",
	       nofile_soft, nofile_hard, memlock_soft, memlock_hard);
	printf("  %lu guests asked for, in %lu client processes at once\n", k,
	       (k + P6_PER_PROCESS - 1) / P6_PER_PROCESS);
	printf("  held %lu (built and entered once in %.2f s); entered again all at once: %lu "
	       "in %.3f s\n",
	       held, build_s, entered, enter_s);
	printf("  zxvmd: fds %ld -> %ld (%.2f per guest), threads %ld -> %ld, VmRSS %ld -> %ld KiB "
	       "(RssShmem %ld KiB)\n",
	       fds0, fds1, per_fd, thr0, thr1, rss0, rss1, shm1);
	printf("  %-32s %lu  (target >= %lu)%s\n", "guests held and entered", entered, P6_TARGET,
	       pass ? "" : "  BELOW TARGET");
	return rc;
}
