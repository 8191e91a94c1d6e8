/* The shared frame of the benchmarks that go through a socket (P2, P3, and P4's flags and
 * placements): flags, server placements, the alternating measurement of a floor and of zxvm,
 * and the report. Each program supplies the two sides as functions that perform n round
 * trips; everything else (pinning, placements, repetitions, medians, ratios, table, JSON) is
 * common.
 *
 * Placements: where the server processes (zxvmd and the floor's echo server alike) run
 * relative to the pinned client. On this kind of machine (2 vCPUs, nested KVM) the answer
 * changes the numbers more than anything the code does, so each placement is measured and
 * reported on its own:
 *   same   the servers on the client's CPU: every hand-off is a context switch, the view of
 *          the CPU cost of a call (notes/grpc-core.md §7 A pins the same way);
 *   other  the servers on every other CPU: each direction of a call wakes a thread on the
 *          other CPU, as when client and daemon run side by side on a host;
 *   free   the servers not pinned: whatever the scheduler does (noisy, often bimodal). */
#pragma once

#include <stdbool.h>
#include <stdio.h>

#include "bench-proc.h"

#define BENCH_RT_MAX_REPS 1000ul
#define BENCH_RT_MAX_PLACEMENTS 3

enum bench_placement { BENCH_SAME, BENCH_OTHER, BENCH_FREE };

const char *bench_placement_to_string(enum bench_placement p);

struct bench_rt_opts {
	unsigned long calls, reps; /* P4: creates per round, rounds */
	int cpu;		   /* the client's CPU, or -1: not pinned */
	enum bench_placement placements[BENCH_RT_MAX_PLACEMENTS];
	unsigned nplacements;
	unsigned long all_cpus; /* the CPUs this program may use, as it started */
	const char *zxvmd;	/* --zxvmd, or NULL */
	bool json;
	int only;		    /* --only: 0 both sides, 1 the floor, 2 zxvm (profiling) */
	unsigned long inproc_child; /* P4's --inproc-child N, else 0 */
};

struct bench_rt_defaults {
	const char *prog;
	unsigned long calls, reps;
	const char *calls_what; /* "round trips per repetition" */
	const char *reps_what;	/* "repetitions of each side" */
	bool p4;		/* accept --inproc-child; no --only */
};

/* Parse argv. Returns 0 to run, 1 after --help (exit 0), -1 on a usage error (exit 1). */
int bench_rt_parse(const struct bench_rt_defaults *d, int argc, char **argv,
		   struct bench_rt_opts *o);

/* The rest of main for P2, P3 and P4 after parsing: find zxvmd and make the private directory
 * (bench_prepare), pin (bench_rt_pin), run(o, dir, zxvmd, arg), remove the directory. 0 when
 * all went well, else -1 (the reason printed). */
int bench_rt_run(const char *prog, struct bench_rt_opts *o,
		 int (*run)(const struct bench_rt_opts *o, const char *dir, const char *zxvmd,
			    void *arg),
		 void *arg);

/* Pin the calling thread (and so every thread it starts later, gRPC's included) when asked.
 * 0 or -1 (printed). */
int bench_rt_pin(struct bench_rt_opts *o);

/* The CPUs of a placement (0: not pinned). */
unsigned long bench_rt_placement_cpus(const struct bench_rt_opts *o, enum bench_placement p);
/* Move the servers to a placement. 0 or -1. */
int bench_rt_place(const struct bench_rt_opts *o, enum bench_placement p,
		   struct bench_server *const *servers, size_t nservers);
/* "0", "1", "0,1", "none" for a mask. */
void bench_rt_cpus_text(unsigned long mask, char *out, size_t size);

/* One side: run(ctx, n) performs n round trips, checking each; 0 or -1 (reason printed). */
struct bench_rt_side {
	int (*run)(void *ctx, unsigned long n);
	void *ctx;
};

/* Raw KVM exits timed per repetition (bench-kvm.h, the `out` loop on the client's thread). */
#define BENCH_RT_EXITS 5000ul

struct bench_rt_result {
	enum bench_placement placement;
	unsigned long server_cpus;
	double floor_us[BENCH_RT_MAX_REPS]; /* time per round trip of each repetition */
	double zxvm_us[BENCH_RT_MAX_REPS];
	double exit_us[BENCH_RT_MAX_REPS]; /* time per raw KVM exit of each repetition */
	double floor_median, zxvm_median, ratio;
	/* The exit's median and the ratio of a daemon that added only the exit to the floor,
	 * (floor + exit) / floor: the best any zxvm whose round trip costs at least the
	 * floor's can do on this placement. */
	double exit_median, exit_bound;
};

/* For each placement: move the servers there, warm both sides up (min(calls, 2000) round
 * trips), then reps repetitions of calls round trips, alternating the sides and which one
 * goes first. Unless o->only, each repetition first times BENCH_RT_EXITS raw KVM exits
 * (after a warm-up of its own), on the calling thread. res has one entry per placement. */
int bench_rt_measure(const struct bench_rt_opts *o, struct bench_server *const *servers,
		     size_t nservers, const struct bench_rt_side *floor_side,
		     const struct bench_rt_side *zxvm_side, struct bench_rt_result *res);

struct bench_rt_report {
	const char *id;		/* "p2" */
	const char *title;	/* one line: what is compared */
	const char *floor_name; /* column names */
	const char *zxvm_name;
	const char *unit; /* "round trip" */
	double target;
};

void bench_rt_print(const struct bench_rt_report *r, const struct bench_rt_opts *o,
		    const struct bench_rt_result *res);

/* The whole main of P2 and P3: parse with d, bench_rt_run(run) with one bench_rt_result per
 * placement as arg, then print the report r. The exit status. */
int bench_rt_main(const struct bench_rt_defaults *d, const struct bench_rt_report *r, int argc,
		  char **argv,
		  int (*run)(const struct bench_rt_opts *o, const char *dir, const char *zxvmd,
			     void *arg));

/* Small statistics for reports. */
double bench_min(const double *v, size_t n);
double bench_max(const double *v, size_t n);
