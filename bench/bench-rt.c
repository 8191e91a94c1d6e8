/* The benchmark frame of bench-rt.h. */
#include <errno.h>
#include <getopt.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "bench-kvm.h"
#include "bench-rt.h"
#include "bench-util.h"

#define WARMUP_CALLS 2000ul
#define WARMUP_EXITS 2000ul

const char *bench_placement_to_string(enum bench_placement p)
{
	switch (p) {
	case BENCH_SAME:
		return "same";
	case BENCH_OTHER:
		return "other";
	case BENCH_FREE:
		return "free";
	}
	return "?";
}

static void usage(FILE *f, const struct bench_rt_defaults *d)
{
	fprintf(f,
		"usage: %s [-n N] [-r N] [-c CPU|none] [-p PLACEMENTS] [--zxvmd PATH] [--json]%s\n"
		"  -n N            %s (default %lu)\n"
		"  -r N            %s (default %lu, at most %lu)\n"
		"  -c CPU          pin the client to CPU (default 0); none: not pinned (then the\n"
		"                  only placement is free)\n"
		"  -p PLACEMENTS   where the servers run, a comma list of: same (the client's\n"
		"                  CPU), other (the other CPUs), free (not pinned); default\n"
		"                  same,other\n"
		"  --zxvmd PATH    the daemon (default $ZXVMD, else ../daemon/zxvmd next to this\n"
		"                  program)\n"
		"  --json          print one JSON object instead of the table\n"
		"%s",
		d->prog, d->p4 ? "" : " [--only floor|zxvm]", d->calls_what, d->calls, d->reps_what,
		d->reps, BENCH_RT_MAX_REPS,
		d->p4 ? ""
		      : "  --only SIDE     time only the floor or zxvm (to profile one side)\n");
}

static bool parse_placements(const char *s, struct bench_rt_opts *o)
{
	char buf[64];
	snprintf(buf, sizeof(buf), "%s", s);
	o->nplacements = 0;
	for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		enum bench_placement p;
		if (strcmp(tok, "same") == 0)
			p = BENCH_SAME;
		else if (strcmp(tok, "other") == 0)
			p = BENCH_OTHER;
		else if (strcmp(tok, "free") == 0)
			p = BENCH_FREE;
		else
			return false;
		if (o->nplacements == BENCH_RT_MAX_PLACEMENTS)
			return false;
		o->placements[o->nplacements++] = p;
	}
	return o->nplacements > 0;
}

int bench_rt_parse(const struct bench_rt_defaults *d, int argc, char **argv,
		   struct bench_rt_opts *o)
{
	static const struct option opts[] = {
		{"json", no_argument, NULL, 'j'},
		{"zxvmd", required_argument, NULL, 'z'},
		{"only", required_argument, NULL, 'o'},
		{"inproc-child", required_argument, NULL, 'i'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	*o = (struct bench_rt_opts){.calls = d->calls, .reps = d->reps, .cpu = 0};
	bool placed = false;
	unsigned long v;
	int c;
	while ((c = getopt_long(argc, argv, "n:r:c:p:h", opts, NULL)) != -1) {
		switch (c) {
		case 'n':
			if (!bench_parse_count(optarg, d->p4 ? 2 : 1, 100000000, &o->calls))
				goto bad;
			break;
		case 'r':
			if (!bench_parse_count(optarg, 1, BENCH_RT_MAX_REPS, &o->reps))
				goto bad;
			break;
		case 'c':
			if (strcmp(optarg, "none") == 0)
				o->cpu = -1;
			else if (bench_parse_count(optarg, 0, CPU_SETSIZE - 1, &v))
				o->cpu = (int)v;
			else
				goto bad;
			break;
		case 'p':
			if (!parse_placements(optarg, o))
				goto bad;
			placed = true;
			break;
		case 'z':
			o->zxvmd = optarg;
			break;
		case 'j':
			o->json = true;
			break;
		case 'o':
			if (d->p4)
				goto bad;
			if (strcmp(optarg, "floor") == 0)
				o->only = 1;
			else if (strcmp(optarg, "zxvm") == 0)
				o->only = 2;
			else
				goto bad;
			break;
		case 'i':
			if (!d->p4 || !bench_parse_count(optarg, 1, 100000, &o->inproc_child))
				goto bad;
			break;
		case 'h':
			usage(stdout, d);
			return 1;
		default:
			usage(stderr, d);
			return -1;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "%s: unexpected argument '%s'\n", d->prog, argv[optind]);
		usage(stderr, d);
		return -1;
	}
	if (o->inproc_child)
		return 0; /* a child of P4: it runs where it was started */
	if (!placed) {
		o->nplacements = 0;
		if (o->cpu >= 0) {
			o->placements[o->nplacements++] = BENCH_SAME;
			o->placements[o->nplacements++] = BENCH_OTHER;
		} else {
			o->placements[o->nplacements++] = BENCH_FREE;
		}
	}
	cpu_set_t set;
	if (sched_getaffinity(0, sizeof(set), &set) == 0)
		for (unsigned i = 0; i < sizeof(o->all_cpus) * 8; i++)
			if (CPU_ISSET(i, &set))
				o->all_cpus |= 1ul << i;
	for (unsigned i = 0; i < o->nplacements; i++) {
		if (o->placements[i] != BENCH_FREE && o->cpu < 0) {
			fprintf(stderr, "%s: placement %s needs a pinned client (-c CPU)\n",
				d->prog, bench_placement_to_string(o->placements[i]));
			return -1;
		}
		if (o->placements[i] == BENCH_OTHER && o->cpu >= 0 &&
		    !(o->all_cpus & ~(1ul << o->cpu))) {
			fprintf(stderr, "%s: placement other: no CPU besides %d\n", d->prog,
				o->cpu);
			return -1;
		}
	}
	return 0;
bad:
	fprintf(stderr, "%s: bad value '%s' for -%c\n", d->prog, optarg ? optarg : "", c);
	usage(stderr, d);
	return -1;
}

int bench_rt_pin(struct bench_rt_opts *o)
{
	if (o->cpu < 0)
		return 0;
	int cpu = bench_pin_cpu(o->cpu);
	if (cpu < 0) {
		fprintf(stderr, "bench: pinning to CPU %d: %s\n", o->cpu, strerror(-cpu));
		return -1;
	}
	return 0;
}

int bench_rt_run(const char *prog, struct bench_rt_opts *o,
		 int (*run)(const struct bench_rt_opts *o, const char *dir, const char *zxvmd,
			    void *arg),
		 void *arg)
{
	char zxvmd[4096], dir[128];
	if (bench_prepare(prog, o->zxvmd, zxvmd, sizeof(zxvmd), dir, sizeof(dir)) < 0)
		return -1;
	int rc = bench_rt_pin(o);
	if (rc == 0)
		rc = run(o, dir, zxvmd, arg);
	bench_tmpdir_remove(dir);
	return rc != 0 ? -1 : 0;
}

unsigned long bench_rt_placement_cpus(const struct bench_rt_opts *o, enum bench_placement p)
{
	switch (p) {
	case BENCH_SAME:
		return 1ul << o->cpu;
	case BENCH_OTHER:
		return o->all_cpus & ~(1ul << o->cpu);
	case BENCH_FREE:
		break;
	}
	return 0;
}

int bench_rt_place(const struct bench_rt_opts *o, enum bench_placement p,
		   struct bench_server *const *servers, size_t nservers)
{
	unsigned long mask = bench_rt_placement_cpus(o, p);
	for (size_t i = 0; i < nservers; i++)
		if (bench_server_set_cpus(servers[i], mask ? mask : o->all_cpus) < 0)
			return -1;
	return 0;
}

void bench_rt_cpus_text(unsigned long mask, char *out, size_t size)
{
	size_t len = 0;
	out[0] = 0;
	for (unsigned c = 0; c < sizeof(mask) * 8 && len < size; c++)
		if (mask & (1ul << c))
			len += (size_t)snprintf(out + len, size - len, "%s%u", len ? "," : "", c);
	if (!mask)
		snprintf(out, size, "none");
}

static double us_per_call(uint64_t ns, unsigned long n)
{
	return (double)ns / 1e3 / (double)n;
}

static int timed(const struct bench_rt_side *s, unsigned long n, double *out_us)
{
	uint64_t t0 = bench_now_ns();
	if (s->run(s->ctx, n) < 0)
		return -1;
	*out_us = us_per_call(bench_now_ns() - t0, n);
	return 0;
}

/* kvm: the raw exit to time before each repetition's round trips, or NULL. */
static int measure_one(const struct bench_rt_opts *o, const struct bench_rt_side *floor_side,
		       const struct bench_rt_side *zxvm_side, struct bench_kvm *kvm,
		       struct bench_rt_result *res)
{
	unsigned long warm = o->calls < WARMUP_CALLS ? o->calls : WARMUP_CALLS;
	uint64_t ns;
	if ((kvm && bench_kvm_run(kvm, WARMUP_EXITS, &ns) < 0) ||
	    (o->only != 2 && floor_side->run(floor_side->ctx, warm) < 0) ||
	    (o->only != 1 && zxvm_side->run(zxvm_side->ctx, warm) < 0))
		return -1;
	for (unsigned long r = 0; r < o->reps; r++) {
		if (kvm) {
			if (bench_kvm_run(kvm, BENCH_RT_EXITS, &ns) < 0)
				return -1;
			res->exit_us[r] = us_per_call(ns, BENCH_RT_EXITS);
		}
		/* Odd repetitions run zxvm first: neither side always follows the other. */
		for (int k = 0; k < 2; k++) {
			bool floor_now = (k == 0) == (r % 2 == 0);
			if ((floor_now && o->only == 2) || (!floor_now && o->only == 1))
				continue;
			if (floor_now ? timed(floor_side, o->calls, &res->floor_us[r])
				      : timed(zxvm_side, o->calls, &res->zxvm_us[r]))
				return -1;
		}
	}
	res->floor_median = bench_median(res->floor_us, o->reps);
	res->zxvm_median = bench_median(res->zxvm_us, o->reps);
	res->ratio = res->floor_median > 0 ? res->zxvm_median / res->floor_median : 0;
	if (kvm && res->floor_median > 0) {
		res->exit_median = bench_median(res->exit_us, o->reps);
		res->exit_bound = (res->floor_median + res->exit_median) / res->floor_median;
	}
	return 0;
}

int bench_rt_measure(const struct bench_rt_opts *o, struct bench_server *const *servers,
		     size_t nservers, const struct bench_rt_side *floor_side,
		     const struct bench_rt_side *zxvm_side, struct bench_rt_result *res)
{
	/* The exit is left out when one side is profiled: its samples would be in the profile
	 * and there is no ratio to bound. */
	struct bench_kvm raw, *kvm = o->only ? NULL : &raw;
	int rc = kvm ? bench_kvm_setup(kvm, false) : 0;
	for (unsigned i = 0; rc == 0 && i < o->nplacements; i++) {
		res[i].placement = o->placements[i];
		res[i].server_cpus = bench_rt_placement_cpus(o, o->placements[i]);
		if (bench_rt_place(o, o->placements[i], servers, nservers) < 0 ||
		    measure_one(o, floor_side, zxvm_side, kvm, &res[i]) < 0)
			rc = -1;
	}
	if (kvm)
		bench_kvm_teardown(kvm);
	return rc;
}

double bench_min(const double *v, size_t n)
{
	double m = v[0];
	for (size_t i = 1; i < n; i++)
		m = v[i] < m ? v[i] : m;
	return m;
}

double bench_max(const double *v, size_t n)
{
	double m = v[0];
	for (size_t i = 1; i < n; i++)
		m = v[i] > m ? v[i] : m;
	return m;
}

static void print_json(const struct bench_rt_report *r, const struct bench_rt_opts *o,
		       const struct bench_rt_result *res)
{
	char client[16];
	snprintf(client, sizeof(client), o->cpu >= 0 ? "%d" : "none", o->cpu);
	bool pass = true;
	printf("{\"benchmark\": \"%s\", \"calls\": %lu, \"repetitions\": %lu, \"client_cpu\": "
	       "\"%s\", \"platform\": \"%s\", \"target_ratio\": %.2f, \"placements\": [",
	       r->id, o->calls, o->reps, client, bench_kvm_is_pvm() ? "pvm" : "kvm", r->target);
	for (unsigned i = 0; i < o->nplacements; i++) {
		const struct bench_rt_result *p = &res[i];
		char cpus[64];
		bench_rt_cpus_text(p->server_cpus, cpus, sizeof(cpus));
		printf("%s{\"placement\": \"%s\", \"server_cpus\": \"%s\"", i ? ", " : "",
		       bench_placement_to_string(p->placement), cpus);
		if (o->only != 2) {
			printf(", \"floor_us\": %.3f, \"floor_us_reps\": ", p->floor_median);
			bench_json_array(stdout, p->floor_us, o->reps, 3);
		}
		if (o->only != 1) {
			printf(", \"zxvm_us\": %.3f, \"zxvm_us_reps\": ", p->zxvm_median);
			bench_json_array(stdout, p->zxvm_us, o->reps, 3);
		}
		if (o->only == 0) {
			printf(", \"ratio\": %.4f, \"pass\": %s", p->ratio,
			       p->ratio <= r->target ? "true" : "false");
			pass = pass && p->ratio <= r->target;
			printf(", \"exit_us\": %.3f, \"exit_us_reps\": ", p->exit_median);
			bench_json_array(stdout, p->exit_us, o->reps, 3);
			printf(", \"exit_bound_ratio\": %.4f", p->exit_bound);
		}
		printf("}");
	}
	printf("]");
	if (o->only == 0)
		printf(", \"pass\": %s", pass ? "true" : "false");
	printf("}\n");
}

void bench_rt_print(const struct bench_rt_report *r, const struct bench_rt_opts *o,
		    const struct bench_rt_result *res)
{
	if (o->json) {
		print_json(r, o, res);
		return;
	}
	char client[16];
	snprintf(client, sizeof(client), o->cpu >= 0 ? "%d" : "none", o->cpu);
	printf("%c%s: %s\n", r->id[0] == 'p' ? 'P' : r->id[0], r->id + 1, r->title);
	printf("  %lu x %lu repetitions per side and placement; client on CPU %s; %s\n", o->calls,
	       o->reps, client, bench_kvm_is_pvm() ? "PVM nested KVM" : "KVM");
	printf("  median us per %s (min-max of the repetitions)\n", r->unit);
	printf("  %-9s %-7s  %-22s %-22s %s\n", "placement", "servers", r->floor_name, r->zxvm_name,
	       o->only ? "" : "ratio");
	for (unsigned i = 0; i < o->nplacements; i++) {
		const struct bench_rt_result *p = &res[i];
		char cpus[64], f[64] = "-", z[64] = "-";
		bench_rt_cpus_text(p->server_cpus, cpus, sizeof(cpus));
		if (!p->server_cpus)
			snprintf(cpus, sizeof(cpus), "any");
		if (o->only != 2)
			snprintf(f, sizeof(f), "%8.2f (%.1f-%.1f)", p->floor_median,
				 bench_min(p->floor_us, o->reps), bench_max(p->floor_us, o->reps));
		if (o->only != 1)
			snprintf(z, sizeof(z), "%8.2f (%.1f-%.1f)", p->zxvm_median,
				 bench_min(p->zxvm_us, o->reps), bench_max(p->zxvm_us, o->reps));
		printf("  %-9s %-7s  %-22s %-22s", bench_placement_to_string(p->placement), cpus, f,
		       z);
		if (o->only == 0)
			printf(" %.3f%s", p->ratio, p->ratio <= r->target ? "" : "  ABOVE TARGET");
		printf("\n");
		if (o->only == 0) {
			bool reachable = p->exit_bound <= r->target;
			printf("  %-9s exit %.2f us (raw KVM_RUN); "
			       "a daemon costing nothing but the exit: ratio >= %.3f%s\n",
			       "", p->exit_median, p->exit_bound,
			       reachable ? "" : ", target unreachable on this placement");
		}
	}
	if (o->only == 0) {
		printf("  target: ratio zxvm / floor <= %.2f\n", r->target);
		printf("  exit: %lu raw KVM_RUN exits on the client's CPU before each repetition; "
		       "bound = (floor + exit) / floor\n",
		       BENCH_RT_EXITS);
	}
}

int bench_rt_main(const struct bench_rt_defaults *d, const struct bench_rt_report *r, int argc,
		  char **argv,
		  int (*run)(const struct bench_rt_opts *o, const char *dir, const char *zxvmd,
			     void *arg))
{
	static struct bench_rt_result res[BENCH_RT_MAX_PLACEMENTS];
	struct bench_rt_opts o;
	int prc = bench_rt_parse(d, argc, argv, &o);
	if (prc != 0)
		return prc > 0 ? 0 : 1;
	if (bench_rt_run(d->prog, &o, run, res) < 0)
		return 1;
	bench_rt_print(r, &o, res);
	return 0;
}
