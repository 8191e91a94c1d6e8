/* P5: zxvmd's memory per idle guest. K guests of 2 MiB RAM and one VCPU each, every one built
 * and entered once to its first exit (bench-guest.h) and then parked (no enter in progress),
 * held by client processes of up to 50 guests (bench-hold.h); the report is the growth of
 * zxvmd's VmRSS divided by K, measured against a baseline taken with a few warm-up guests
 * already held (gRPC, KVM and the allocator keep what they set up on first use). Guest RAM
 * counts once touched (the page tables and the code: 7 pages here). Target P5: <= 2.5 MiB. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench-hold.h"
#include "bench-proc.h"
#include "bench-util.h"

#define P5_TARGET_KIB (2.5 * 1024)
#define P5_DEFAULT_GUESTS 200ul
#define P5_DEFAULT_WARM 10ul
#define P5_PER_PROCESS 50ul

struct sample {
	long rss, shmem, anon, fds, threads;
};

static void sample(pid_t pid, struct sample *s)
{
	s->rss = bench_proc_status(pid, "VmRSS");
	s->shmem = bench_proc_status(pid, "RssShmem");
	s->anon = bench_proc_status(pid, "RssAnon");
	s->threads = bench_proc_status(pid, "Threads");
	s->fds = bench_proc_fds(pid);
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: bench_p5 [-k GUESTS] [-w WARM] [--zxvmd PATH] [--json]\n"
		"  -k GUESTS      guests measured (default %lu), %lu per client process\n"
		"  -w WARM        guests held before the baseline (default %lu)\n"
		"  --zxvmd PATH   the daemon (default $ZXVMD, else ../daemon/zxvmd next to this)\n"
		"  --json         print one JSON object instead of the table\n",
		P5_DEFAULT_GUESTS, P5_PER_PROCESS, P5_DEFAULT_WARM);
}

int main(int argc, char **argv)
{
	struct bench_hold_flags fl = {.guests = P5_DEFAULT_GUESTS, .warm = P5_DEFAULT_WARM};
	int prc = bench_hold_parse("bench_p5", usage, 2000, 64, argc, argv, &fl);
	if (prc != 0)
		return prc > 0 ? 0 : 1;
	unsigned long k = fl.guests, warm = fl.warm;
	bool json = fl.json;
	char zxvmd[4096], dir[128], target[300];
	if (bench_prepare("bench_p5", fl.zxvmd, zxvmd, sizeof(zxvmd), dir, sizeof(dir)) < 0)
		return 1;
	struct bench_server daemon = {0};
	struct bench_holders warmup = {0}, measured = {0};
	struct sample s0 = {0}, s1 = {0};
	int rc = 1;
	if (bench_start_zxvmd(&daemon, zxvmd, dir, 0, target, sizeof(target)) < 0)
		goto out;
	if (bench_hold_start(&warmup, target, warm, P5_PER_PROCESS) < 0)
		goto out;
	sample(daemon.pid, &s0);
	uint64_t t0 = bench_now_ns();
	if (bench_hold_start(&measured, target, k, P5_PER_PROCESS) < 0)
		goto out;
	double build_s = (double)(bench_now_ns() - t0) / 1e9;
	sample(daemon.pid, &s1);
	rc = 0;
out:
	if (measured.p)
		bench_hold_stop(&measured);
	if (warmup.p)
		bench_hold_stop(&warmup);
	if (bench_server_stop(&daemon, 10000) < 0)
		rc = 1;
	bench_tmpdir_remove(dir);
	if (rc != 0)
		return rc;

	double per = (double)(s1.rss - s0.rss) / (double)k;
	bool pass = per <= P5_TARGET_KIB;
	if (json) {
		printf("{\"benchmark\": \"p5\", \"guests\": %lu, \"warm\": %lu, \"platform\": "
		       "\"%s\", \"target_kib\": %.0f, \"rss_kib_per_guest\": %.1f, "
		       "\"shmem_kib_per_guest\": %.1f, \"anon_kib_per_guest\": %.1f, "
		       "\"fds_per_guest\": %.2f, \"threads_per_guest\": %.2f, \"rss_before_kib\": "
		       "%ld, \"rss_after_kib\": %ld, \"pass\": %s}\n",
		       k, warm, bench_kvm_is_pvm() ? "pvm" : "kvm", P5_TARGET_KIB, per,
		       (double)(s1.shmem - s0.shmem) / (double)k,
		       (double)(s1.anon - s0.anon) / (double)k,
		       (double)(s1.fds - s0.fds) / (double)k,
		       (double)(s1.threads - s0.threads) / (double)k, s0.rss, s1.rss,
		       pass ? "true" : "false");
		return 0;
	}
	printf("P5: zxvmd memory per idle guest (2 MiB RAM, 1 VCPU, entered once, parked); %s\n",
	       bench_kvm_is_pvm() ? "PVM nested KVM" : "KVM");
	printf("  %lu guests in %lu client processes, built in %.2f s, after %lu warm-up guests\n",
	       k, (k + P5_PER_PROCESS - 1) / P5_PER_PROCESS, build_s, warm);
	printf("  zxvmd VmRSS %ld KiB -> %ld KiB (RssAnon %+ld, RssShmem %+ld KiB); fds %ld -> "
	       "%ld; "
	       "threads %ld -> %ld\n",
	       s0.rss, s1.rss, s1.anon - s0.anon, s1.shmem - s0.shmem, s0.fds, s1.fds, s0.threads,
	       s1.threads);
	printf("  per guest: %.1f KiB RSS (%.1f anon, %.1f guest RAM and other shared), %.2f fds, "
	       "%.2f threads\n",
	       per, (double)(s1.anon - s0.anon) / (double)k,
	       (double)(s1.shmem - s0.shmem) / (double)k, (double)(s1.fds - s0.fds) / (double)k,
	       (double)(s1.threads - s0.threads) / (double)k);
	printf("  %-32s %.1f KiB  (target <= %.0f KiB)%s\n", "RSS per idle guest", per,
	       P5_TARGET_KIB, pass ? "" : "  ABOVE TARGET");
	return 0;
}
