/* P4: create → first exit through zxvmd, against the same in process, in the same run.
 *
 * One "create" is, through the public API on one thread: zx_guest_create, zx_vmo_create (2 MiB)
 * and zx_vmo_replace_as_executable, zx_vmo_write of the page tables (24 KiB) and of the code,
 * zx_vmar_map, zx_guest_set_trap (IO, port 0x10), zx_vcpu_create and the first zx_vcpu_enter,
 * to its GUEST_IO packet (bench-guest.c). The handles are closed afterwards, untimed.
 * - zxvm: this process, connected with zxvm_connect("unix:<private socket>") to a zxvmd it
 *   started: ten RPCs per create (the enter on the thread's VcpuStream).
 * - floor: the same calls with zxvm_connect("inproc:"), in a child process (a process connects
 *   once): this program run again with --inproc-child, which prints its samples.
 * Rounds alternate the two (and which goes first), for each placement of zxvmd (bench-rt.h;
 * the child runs on the client's CPU). Each process's first create is reported apart as
 * "cold" (it also starts the daemon's VCPU thread and the VcpuStream, or the process's first
 * KVM VM); the ratio is of the medians of the warm creates. Target P4: <= 3. */
#include <stdlib.h>
#include <string.h>

#include <zircon/errors.h>
#include <zircon/syscalls.h>
#include <zxvm/zxvm.h>

#include "bench-guest.h"
#include "bench-proc.h"
#include "bench-rt.h"
#include "bench-util.h"

#define P4_TARGET 3.0
#define P4_DEFAULT_CREATES 10ul
#define P4_DEFAULT_ROUNDS 5ul
#define P4_MAX_SAMPLES 10000ul

struct samples {
	double warm[P4_MAX_SAMPLES]; /* µs per create */
	size_t n;
	double cold[P4_MAX_SAMPLES]; /* the first create of each process (or connection) */
	size_t ncold;
};

struct result {
	enum bench_placement placement;
	unsigned long server_cpus;
	struct samples floor, zxvm;
};

/* n + 1 creates on this thread: the first goes to *cold, the others to warm[0..n). */
static int creates(zx_handle_t resource, unsigned long n, double *cold, double *warm)
{
	for (unsigned long i = 0; i <= n; i++) {
		struct bench_guest g = BENCH_GUEST_INIT;
		const char *what = NULL;
		uint64_t t0 = bench_now_ns();
		zx_status_t st = bench_guest_create(resource, &g, &what);
		double us = (double)(bench_now_ns() - t0) / 1e3;
		bench_guest_destroy(&g);
		if (st != ZX_OK) {
			fprintf(stderr, "bench_p4: %s: %s\n", what, zx_status_get_string(st));
			return -1;
		}
		if (i == 0)
			*cold = us;
		else
			warm[i - 1] = us;
	}
	return 0;
}

/* --inproc-child N: the floor's side, printed as "cold US" and N lines "warm US". */
static int inproc_child(unsigned long n)
{
	static double warm[P4_MAX_SAMPLES];
	double cold;
	zx_handle_t resource;
	if (n > P4_MAX_SAMPLES)
		return 1;
	zx_status_t st = zxvm_connect("inproc:", &resource);
	if (st != ZX_OK) {
		fprintf(stderr, "bench_p4: zxvm_connect(\"inproc:\"): %s\n",
			zx_status_get_string(st));
		return 1;
	}
	int rc = creates(resource, n, &cold, warm);
	zxvm_disconnect();
	if (rc < 0)
		return 1;
	printf("cold %.3f\n", cold);
	for (unsigned long i = 0; i < n; i++)
		printf("warm %.3f\n", warm[i]);
	return 0;
}

/* Run this program with --inproc-child n and add its samples to s. The child inherits our
 * CPU affinity (the client's CPU). */
static int run_child(unsigned long n, struct samples *s)
{
	struct bench_child c;
	if (bench_child_start("bench_p4", n, &c) < 0)
		return -1;
	char kind[8];
	double us;
	unsigned long got = 0;
	while (c.out && fscanf(c.out, "%7s %lf", kind, &us) == 2) {
		if (strcmp(kind, "cold") == 0 && s->ncold < P4_MAX_SAMPLES) {
			s->cold[s->ncold++] = us;
		} else if (strcmp(kind, "warm") == 0 && s->n < P4_MAX_SAMPLES && got < n) {
			s->warm[s->n++] = us;
			got++;
		}
	}
	if (!bench_child_finish(&c) || got != n) {
		fprintf(stderr, "bench_p4: the in-process child failed (%lu of %lu samples)\n", got,
			n);
		return -1;
	}
	return 0;
}

/* One placement: rounds of n creates on each side, alternating. Only the connection's very
 * first create is cold on the daemon side (*first tells whether it is still to come). */
static int measure(const struct bench_rt_opts *o, zx_handle_t resource, bool *first,
		   struct result *res)
{
	unsigned long n = o->calls;
	if ((o->reps * n) > P4_MAX_SAMPLES)
		return -1;
	for (unsigned long r = 0; r < o->reps; r++) {
		for (int k = 0; k < 2; k++) {
			int rc;
			if ((k == 0) == (r % 2 == 0)) {
				rc = run_child(n, &res->floor);
			} else {
				struct samples *z = &res->zxvm;
				double cold, *warm = &z->warm[z->n];
				/* Later rounds time n creates, the first of them warm too. */
				rc = *first ? creates(resource, n, &cold, warm)
					    : creates(resource, n - 1, &warm[0], warm + 1);
				if (rc == 0 && *first)
					z->cold[z->ncold++] = cold;
				if (rc == 0)
					z->n += n;
				*first = false;
			}
			if (rc < 0)
				return -1;
		}
	}
	return 0;
}

static int run(const struct bench_rt_opts *o, const char *dir, const char *zxvmd, void *arg)
{
	struct result *res = arg;
	struct bench_server daemon = {0};
	char target[300];
	int rc = -1;
	bool connected = false, first = true;
	if (bench_start_zxvmd(&daemon, zxvmd, dir, 0, target, sizeof(target)) < 0)
		goto out;
	zx_handle_t resource;
	zx_status_t st = zxvm_connect(target, &resource);
	if (st != ZX_OK) {
		fprintf(stderr, "bench_p4: zxvm_connect(%s): %s\n", target,
			zx_status_get_string(st));
		goto out;
	}
	connected = true;
	struct bench_server *const servers[] = {&daemon};
	rc = 0;
	for (unsigned i = 0; rc == 0 && i < o->nplacements; i++) {
		res[i].placement = o->placements[i];
		res[i].server_cpus = bench_rt_placement_cpus(o, o->placements[i]);
		rc = bench_rt_place(o, o->placements[i], servers, 1);
		if (rc == 0)
			rc = measure(o, resource, &first, &res[i]);
	}
out:
	if (connected)
		zxvm_disconnect();
	if (bench_server_stop(&daemon, 5000) < 0)
		rc = -1;
	return rc;
}

static void report(const struct bench_rt_opts *o, const struct result *res)
{
	char client[16];
	snprintf(client, sizeof(client), o->cpu >= 0 ? "%d" : "none", o->cpu);
	if (o->json) {
		bool pass = true;
		printf("{\"benchmark\": \"p4\", \"creates\": %lu, \"rounds\": %lu, "
		       "\"client_cpu\": \"%s\", \"platform\": \"%s\", \"target_ratio\": %.2f, "
		       "\"placements\": [",
		       o->calls, o->reps, client, bench_kvm_is_pvm() ? "pvm" : "kvm", P4_TARGET);
		for (unsigned i = 0; i < o->nplacements; i++) {
			const struct result *p = &res[i];
			double fm = bench_median(p->floor.warm, p->floor.n);
			double zm = bench_median(p->zxvm.warm, p->zxvm.n);
			char cpus[64];
			bench_rt_cpus_text(p->server_cpus, cpus, sizeof(cpus));
			pass = pass && zm / fm <= P4_TARGET;
			printf("%s{\"placement\": \"%s\", \"server_cpus\": \"%s\", \"floor_us\": "
			       "%.1f, "
			       "\"zxvm_us\": %.1f, \"ratio\": %.4f, \"pass\": %s, "
			       "\"floor_cold_us\": ",
			       i ? ", " : "", bench_placement_to_string(p->placement), cpus, fm, zm,
			       zm / fm, zm / fm <= P4_TARGET ? "true" : "false");
			bench_json_array(stdout, p->floor.cold, p->floor.ncold, 1);
			printf(", \"zxvm_cold_us\": ");
			bench_json_array(stdout, p->zxvm.cold, p->zxvm.ncold, 1);
			printf(", \"floor_us_samples\": ");
			bench_json_array(stdout, p->floor.warm, p->floor.n, 1);
			printf(", \"zxvm_us_samples\": ");
			bench_json_array(stdout, p->zxvm.warm, p->zxvm.n, 1);
			printf("}");
		}
		printf("], \"pass\": %s}\n", pass ? "true" : "false");
		return;
	}
	printf("P4: create -> first exit (guest, VMO, page tables + code, map, trap, VCPU, enter) "
	       "through zxvmd vs in process\n");
	printf("  %lu creates x %lu rounds per side and placement; client (and in-process child) "
	       "on CPU %s; %s\n",
	       o->calls, o->reps, client, bench_kvm_is_pvm() ? "PVM nested KVM" : "KVM");
	printf("  median us per create (min-max), cold: each process's first create\n");
	printf("  %-9s %-7s  %-30s %-30s %s\n", "placement", "zxvmd", "floor: in process (inproc:)",
	       "zxvm: through zxvmd (unix:)", "ratio");
	for (unsigned i = 0; i < o->nplacements; i++) {
		const struct result *p = &res[i];
		double fm = bench_median(p->floor.warm, p->floor.n);
		double zm = bench_median(p->zxvm.warm, p->zxvm.n);
		char cpus[64], f[64], z[64], zc[32] = "";
		bench_rt_cpus_text(p->server_cpus, cpus, sizeof(cpus));
		if (!p->server_cpus)
			snprintf(cpus, sizeof(cpus), "any");
		snprintf(f, sizeof(f), "%7.1f (%.0f-%.0f) cold %.0f", fm,
			 bench_min(p->floor.warm, p->floor.n), bench_max(p->floor.warm, p->floor.n),
			 bench_median(p->floor.cold, p->floor.ncold));
		if (p->zxvm.ncold)
			snprintf(zc, sizeof(zc), " cold %.0f", p->zxvm.cold[0]);
		snprintf(z, sizeof(z), "%7.1f (%.0f-%.0f)%s", zm,
			 bench_min(p->zxvm.warm, p->zxvm.n), bench_max(p->zxvm.warm, p->zxvm.n),
			 zc);
		printf("  %-9s %-7s  %-30s %-30s %.3f%s\n", bench_placement_to_string(p->placement),
		       cpus, f, z, zm / fm, zm / fm <= P4_TARGET ? "" : "  ABOVE TARGET");
	}
	printf("  target: ratio zxvm / floor <= %.2f\n", P4_TARGET);
}

int main(int argc, char **argv)
{
	static struct result res[BENCH_RT_MAX_PLACEMENTS];
	static const struct bench_rt_defaults d = {
		.prog = "bench_p4",
		.calls = P4_DEFAULT_CREATES,
		.reps = P4_DEFAULT_ROUNDS,
		.calls_what = "timed creates per round and side (at least 2)",
		.reps_what = "rounds, alternating the sides",
		.p4 = true,
	};
	struct bench_rt_opts o;
	int prc = bench_rt_parse(&d, argc, argv, &o);
	if (prc != 0)
		return prc > 0 ? 0 : 1;
	if (o.inproc_child)
		return inproc_child(o.inproc_child);
	if (o.calls * o.reps > P4_MAX_SAMPLES) {
		fprintf(stderr, "bench_p4: at most %lu creates per side in all\n", P4_MAX_SAMPLES);
		return 1;
	}
	if (bench_rt_run("bench_p4", &o, run, res) < 0)
		return 1;
	report(&o, res);
	return 0;
}
