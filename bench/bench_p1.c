/* P1: what the backend adds to a port-IO exit, measured against raw KVM_RUN in the same run.
 *
 * One guest in two variants, `1: out %al, $0x10; jmp 1b` and `1: in $0x10, %al; jmp 1b`, each
 * driven twice by this process on one pinned CPU:
 * - the floor: a VCPU driven with <linux/kvm.h> alone. KVM_RUN, check the exit and, for `in`,
 *   store the result in the run->io data area before the next KVM_RUN, as any VMM must (KVM
 *   api.rst, "KVM_EXIT_IO"). No zxvm code runs (bench-kvm.c, shared with P2 and P3).
 * - zxvm: the same bytes through the public API in process (zxvm_connect("inproc:")): only
 *   zx_vcpu_enter for `out`; zx_vcpu_write_state(ZX_VCPU_IO) and zx_vcpu_enter for `in`
 *   (spec §2.7, §3.2).
 * Repetitions alternate floor and zxvm (and which one goes first), so that drift on this nested
 * machine hits both alike. Each repetition gives a time per exit; the medians give the ratio.
 * Target P1: zxvm / floor <= 1.15 for both loops. */
#include <getopt.h>
#include <sched.h>
#include <string.h>

#include <zircon/errors.h>
#include <zircon/syscalls.h>
#include <zxvm/zxvm.h>

#include "bench-guest.h"
#include "bench-kvm.h"
#include "bench-util.h"

#define P1_KEY 0x91u
#define P1_TARGET 1.15
#define P1_DEFAULT_EXITS 20000ul
#define P1_DEFAULT_REPS 7ul
#define P1_MAX_REPS 1000ul
#define P1_MAX_REPS_STR "1000"
#define P1_WARMUP_EXITS 2000ul

struct loop {
	const char *name;
	const uint8_t *code;
	size_t len;
	bool in;
};

static const struct loop loops[] = {
	{"out", bench_kvm_loop_out, sizeof(bench_kvm_loop_out), false},
	{"in", bench_kvm_loop_in, sizeof(bench_kvm_loop_in), true},
};

#define NLOOPS (sizeof(loops) / sizeof(loops[0]))

struct result {
	double floor_us[P1_MAX_REPS]; /* time per exit of each repetition */
	double zxvm_us[P1_MAX_REPS];
	double floor_median, zxvm_median, ratio;
};

#define ZX_CHECK(expr)                                                                             \
	do {                                                                                       \
		zx_status_t _st = (expr);                                                          \
		if (_st != ZX_OK)                                                                  \
			return bench_fail("%s: %s", #expr, zx_status_get_string(_st));             \
	} while (0)

/* ---- zxvm: the public API, in process ---- */

static int zxvm_bad_packet(const struct loop *l, const zx_port_packet_t *p)
{
	return bench_fail(
		"zxvm %s: packet type %u key %#lx port %#x input %u, expected GUEST_IO on "
		"port %#x",
		l->name, p->type, (unsigned long)p->key, p->guest_io.port, p->guest_io.input,
		BENCH_KVM_PORT);
}

static inline bool zxvm_packet_ok(const zx_port_packet_t *p, const struct loop *l)
{
	return p->type == ZX_PKT_TYPE_GUEST_IO && p->key == P1_KEY &&
	       p->guest_io.port == BENCH_KVM_PORT && p->guest_io.access_size == 1 &&
	       p->guest_io.input == l->in;
}

/* n exits of the loop; *out_ns is the time they took. The VCPU is at an exit of this loop. */
static int zxvm_run(struct bench_guest *z, const struct loop *l, unsigned long n, uint64_t *out_ns)
{
	zx_port_packet_t p;
	zx_vcpu_io_t io = {.access_size = 1};
	uint64_t t0 = bench_now_ns();
	for (unsigned long i = 0; i < n; i++) {
		if (l->in) {
			io.u8 = (uint8_t)i;
			ZX_CHECK(zx_vcpu_write_state(z->vcpu, ZX_VCPU_IO, &io, sizeof(io)));
		}
		ZX_CHECK(zx_vcpu_enter(z->vcpu, &p));
		if (!zxvm_packet_ok(&p, l))
			return zxvm_bad_packet(l, &p);
	}
	*out_ns = bench_now_ns() - t0;
	if (l->in && n > 0) {
		zx_vcpu_state_t s;
		ZX_CHECK(zx_vcpu_read_state(z->vcpu, ZX_VCPU_STATE, &s, sizeof(s)));
		if ((uint8_t)s.rax != (uint8_t)(n - 1))
			return bench_fail("zxvm in: guest AL %#x, expected %#x", (uint8_t)s.rax,
					  (uint8_t)(n - 1));
	}
	return 0;
}

/* A guest with the loop's code, its IO trap and a VCPU on this thread, run to its first exit.
 * z holds invalid handles on entry; whatever was created is in it on return, for teardown. */
static int zxvm_setup(struct bench_guest *z, zx_handle_t resource, const struct loop *l)
{
	zx_port_packet_t p;
	const char *what = NULL;
	zx_status_t st = bench_guest_build(resource, l->code, l->len, P1_KEY, z, &p, &what);
	if (st != ZX_OK)
		return bench_fail("%s: %s", what, zx_status_get_string(st));
	return zxvm_packet_ok(&p, l) ? 0 : zxvm_bad_packet(l, &p);
}

/* ---- the measurement ---- */

static double us_per_exit(uint64_t ns, unsigned long n)
{
	return (double)ns / 1e3 / (double)n;
}

static int measure(zx_handle_t resource, const struct loop *l, unsigned long n, unsigned long reps,
		   struct result *res)
{
	struct bench_kvm f;
	struct bench_guest z = BENCH_GUEST_INIT;
	unsigned long warm = n < P1_WARMUP_EXITS ? n : P1_WARMUP_EXITS;
	uint64_t ns;
	int rc = bench_kvm_setup(&f, l->in);
	if (rc == 0)
		rc = zxvm_setup(&z, resource, l);
	if (rc == 0)
		rc = bench_kvm_run(&f, warm, &ns);
	if (rc == 0)
		rc = zxvm_run(&z, l, warm, &ns);
	for (unsigned long r = 0; rc == 0 && r < reps; r++) {
		/* Odd repetitions run zxvm first: neither side always follows the other. */
		for (int k = 0; rc == 0 && k < 2; k++) {
			if ((k == 0) == (r % 2 == 0)) {
				rc = bench_kvm_run(&f, n, &ns);
				res->floor_us[r] = us_per_exit(ns, n);
			} else {
				rc = zxvm_run(&z, l, n, &ns);
				res->zxvm_us[r] = us_per_exit(ns, n);
			}
		}
	}
	bench_guest_destroy(&z);
	bench_kvm_teardown(&f);
	if (rc != 0)
		return rc;
	res->floor_median = bench_median(res->floor_us, reps);
	res->zxvm_median = bench_median(res->zxvm_us, reps);
	res->ratio = res->zxvm_median / res->floor_median;
	return 0;
}

static void print_table(const struct result *res, unsigned long n, unsigned long reps, int cpu)
{
	printf("P1: %lu exits x %lu repetitions on CPU %d (%s), median time per exit\n", n, reps,
	       cpu, bench_kvm_is_pvm() ? "PVM nested KVM" : "KVM");
	for (size_t i = 0; i < NLOOPS; i++)
		printf("P1 %s:%*s floor %.2f us  zxvm %.2f us  ratio %.3f (target <= %.2f)%s\n",
		       loops[i].name, (int)(3 - strlen(loops[i].name)), "", res[i].floor_median,
		       res[i].zxvm_median, res[i].ratio, P1_TARGET,
		       res[i].ratio <= P1_TARGET ? "" : "  ABOVE TARGET");
}

static void print_json(const struct result *res, unsigned long n, unsigned long reps, int cpu)
{
	bool pass = true;
	printf("{\"benchmark\": \"p1\", \"exits\": %lu, \"repetitions\": %lu, \"cpu\": %d, "
	       "\"platform\": \"%s\", \"target_ratio\": %.2f, \"loops\": [",
	       n, reps, cpu, bench_kvm_is_pvm() ? "pvm" : "kvm", P1_TARGET);
	for (size_t i = 0; i < NLOOPS; i++) {
		pass = pass && res[i].ratio <= P1_TARGET;
		printf("%s{\"name\": \"%s\", \"floor_us\": %.4f, \"zxvm_us\": %.4f, "
		       "\"ratio\": %.4f, \"floor_us_reps\": ",
		       i ? ", " : "", loops[i].name, res[i].floor_median, res[i].zxvm_median,
		       res[i].ratio);
		bench_json_array(stdout, res[i].floor_us, reps, 4);
		printf(", \"zxvm_us_reps\": ");
		bench_json_array(stdout, res[i].zxvm_us, reps, 4);
		printf("}");
	}
	printf("], \"pass\": %s}\n", pass ? "true" : "false");
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: bench_p1 [-n EXITS] [-r REPETITIONS] [-c CPU] [--json]\n"
		"  -n EXITS        exits per repetition (default %lu)\n"
		"  -r REPETITIONS  repetitions of each side (default %lu, at most %lu)\n"
		"  -c CPU          the CPU to pin to (default: the one it starts on)\n"
		"  --json          print one JSON object instead of the table\n",
		P1_DEFAULT_EXITS, P1_DEFAULT_REPS, P1_MAX_REPS);
}

static int usage_error(const char *what, const char *arg)
{
	bench_fail("%s '%s'", what, arg);
	usage(stderr);
	return 1;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	static struct result res[NLOOPS];
	unsigned long n = P1_DEFAULT_EXITS, reps = P1_DEFAULT_REPS, cpu_arg;
	int cpu = -1, c;
	bool json = false;
	while ((c = getopt_long(argc, argv, "n:r:c:h", opts, NULL)) != -1) {
		switch (c) {
		case 'n':
			if (!bench_parse_count(optarg, 1, 100000000, &n))
				return usage_error("-n: expected a count from 1, got", optarg);
			break;
		case 'r':
			if (!bench_parse_count(optarg, 1, P1_MAX_REPS, &reps))
				return usage_error("-r: expected 1.." P1_MAX_REPS_STR ", got",
						   optarg);
			break;
		case 'c':
			if (!bench_parse_count(optarg, 0, CPU_SETSIZE - 1, &cpu_arg))
				return usage_error("-c: expected a CPU number, got", optarg);
			cpu = (int)cpu_arg;
			break;
		case 'j':
			json = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 1;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 1;
	}

	cpu = bench_pin_cpu(cpu);
	if (cpu < 0) {
		bench_fail("pinning to a CPU: %s", strerror(-cpu));
		return 1;
	}
	zx_handle_t resource;
	zx_status_t st = zxvm_connect("inproc:", &resource);
	if (st != ZX_OK) {
		bench_fail("zxvm_connect(\"inproc:\"): %s", zx_status_get_string(st));
		return 1;
	}
	int rc = 0;
	for (size_t i = 0; rc == 0 && i < NLOOPS; i++)
		rc = measure(resource, &loops[i], n, reps, &res[i]);
	zxvm_disconnect();
	if (rc != 0)
		return 1;
	if (json)
		print_json(res, n, reps, cpu);
	else
		print_table(res, n, reps, cpu);
	return 0;
}
