/* P1: what the backend adds to a port-IO exit, measured against raw KVM_RUN in the same run.
 *
 * One guest in two variants, `1: out %al, $0x10; jmp 1b` and `1: in $0x10, %al; jmp 1b`, each
 * driven twice by this process on one pinned CPU:
 * - the floor: a VCPU driven with <linux/kvm.h> alone. KVM_RUN, check the exit and, for `in`,
 *   store the result in the run->io data area before the next KVM_RUN, as any VMM must (KVM
 *   api.rst, "KVM_EXIT_IO"). No zxvm code runs.
 * - zxvm: the same bytes through the public API in process (zxvm_connect("inproc:")): only
 *   zx_vcpu_enter for `out`; zx_vcpu_write_state(ZX_VCPU_IO) and zx_vcpu_enter for `in`
 *   (spec §2.7, §3.2).
 * Repetitions alternate floor and zxvm (and which one goes first), so that drift on this nested
 * machine hits both alike. Each repetition gives a time per exit; the medians give the ratio.
 * Target P1: zxvm / floor <= 1.15 for both loops. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <linux/kvm.h>
#include <sched.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <zircon/errors.h>
#include <zircon/syscalls.h>
#include <zxvm/zxvm.h>

#include "bench-util.h"

#define P1_PORT 0x10
#define P1_KEY 0x91u
#define P1_RAM_SIZE (2u << 20) /* guest RAM at GPA 0 */
#define P1_ENTRY 0x10000u      /* where the guest code goes and the VCPU starts */
#define P1_PT_END 0x6000u      /* page tables: PML4 0x0, PDPT 0x1000, four PDs 0x2000-0x5fff */
#define P1_TARGET 1.15
#define P1_DEFAULT_EXITS 20000ul
#define P1_DEFAULT_REPS 7ul
#define P1_MAX_REPS 1000ul
#define P1_MAX_REPS_STR "1000"
#define P1_WARMUP_EXITS 2000ul

/* The guest code, the same bytes for both sides (Intel SDM vol 2: E6 ib is OUT imm8, AL; E4 ib
 * is IN AL, imm8; EB cb is JMP rel8, here -4: back to the IO instruction). */
static const uint8_t loop_out[] = {0xe6, P1_PORT, 0xeb, 0xfc};
static const uint8_t loop_in[] = {0xe4, P1_PORT, 0xeb, 0xfc};

struct loop {
	const char *name;
	const uint8_t *code;
	size_t len;
	bool in;
};

static const struct loop loops[] = {
	{"out", loop_out, sizeof(loop_out), false},
	{"in", loop_in, sizeof(loop_in), true},
};

#define NLOOPS (sizeof(loops) / sizeof(loops[0]))

struct result {
	double floor_us[P1_MAX_REPS]; /* time per exit of each repetition */
	double zxvm_us[P1_MAX_REPS];
	double floor_median, zxvm_median, ratio;
};

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int fail(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("bench_p1: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	return -1;
}

#define ZX_CHECK(expr)                                                                             \
	do {                                                                                       \
		zx_status_t _st = (expr);                                                          \
		if (_st != ZX_OK)                                                                  \
			return fail("%s: %s", #expr, zx_status_get_string(_st));                   \
	} while (0)

/* Identity page tables for the low 4 GiB with 2 MiB pages, as tests/harness/guest.c builds them
 * (P | RW for tables, P | RW | PS for the leaves: Intel SDM vol 3, 4.5). pt holds P1_PT_END
 * bytes, zeroed. */
static void build_page_tables(uint64_t *pt)
{
	pt[0] = 0x1000 | 0x3;
	for (uint64_t i = 0; i < 4; i++)
		pt[0x1000 / 8 + i] = (0x2000 + i * 0x1000) | 0x3;
	for (uint64_t i = 0; i < 4 * 512; i++)
		pt[0x2000 / 8 + i] = (i << 21) | 0x83;
}

/* ---- the floor: <linux/kvm.h> only ---- */

struct floor_vm {
	int kvm_fd, vm_fd, vcpu_fd;
	uint8_t *mem;
	struct kvm_run *run;
	size_t run_size;
};

static void floor_teardown(struct floor_vm *f)
{
	if (f->run)
		munmap(f->run, f->run_size);
	if (f->vcpu_fd >= 0)
		close(f->vcpu_fd);
	if (f->vm_fd >= 0)
		close(f->vm_fd);
	if (f->mem)
		munmap(f->mem, P1_RAM_SIZE);
	if (f->kvm_fd >= 0)
		close(f->kvm_fd);
	*f = (struct floor_vm){.kvm_fd = -1, .vm_fd = -1, .vcpu_fd = -1};
}

static const struct kvm_cpuid_entry2 *cpuid_find(const struct kvm_cpuid2 *c, uint32_t fn)
{
	for (uint32_t i = 0; i < c->nent; i++)
		if (c->entries[i].function == fn && c->entries[i].index == 0)
			return &c->entries[i];
	return NULL;
}

/* Give the VCPU KVM's supported CPUID and derive CR4 and XCR0 from what it reads back, as
 * kvm_backend/x86.c does (PVM ORs host features in: notes/pvm-guest-execution.md), so that both
 * VCPUs have the same FPU/XSAVE state to switch on every entry and exit. */
static int floor_cpuid(struct floor_vm *f, uint64_t *out_cr4_bits, uint64_t *out_xcr0)
{
	struct kvm_cpuid2 *c = NULL;
	uint32_t n;
	for (n = 64; n <= 4096; n *= 2) {
		c = calloc(1, sizeof(*c) + n * sizeof(c->entries[0]));
		if (!c)
			return fail("out of memory");
		c->nent = n;
		if (ioctl(f->kvm_fd, KVM_GET_SUPPORTED_CPUID, c) == 0)
			break;
		free(c);
		c = NULL;
		if (errno != E2BIG)
			break;
	}
	if (!c)
		return fail("KVM_GET_SUPPORTED_CPUID: %s", strerror(errno));
	int rc = 0;
	if (ioctl(f->vcpu_fd, KVM_SET_CPUID2, c) < 0)
		rc = fail("KVM_SET_CPUID2: %s", strerror(errno));
	c->nent = n;
	if (rc == 0 && ioctl(f->vcpu_fd, KVM_GET_CPUID2, c) < 0)
		rc = fail("KVM_GET_CPUID2: %s", strerror(errno));
	if (rc == 0) {
		const struct kvm_cpuid_entry2 *l1 = cpuid_find(c, 1), *l7 = cpuid_find(c, 7),
					      *ld = cpuid_find(c, 0xd);
		bool xsave = l1 && (l1->ecx & (1u << 26));
		/* CR4.FSGSBASE (bit 16) and CR4.OSXSAVE (bit 18) where the VCPU has them. */
		*out_cr4_bits = (l7 && (l7->ebx & 1u) ? 1ull << 16 : 0) | (xsave ? 1ull << 18 : 0);
		*out_xcr0 = xsave ? 7 & (ld ? ((uint64_t)ld->edx << 32 | ld->eax) : 3) : 0;
	}
	free(c);
	return rc;
}

static struct kvm_segment segment(uint8_t type, uint8_t s, uint8_t l)
{
	return (struct kvm_segment){.limit = 0xffff, .type = type, .present = 1, .s = s, .l = l};
}

/* The bootstrap state of spec §5.1, the values kvm_backend/x86.c gives a BSP: 64-bit long mode,
 * paging on with CR3 = 0, flat segments, GDTR/IDTR base 0 limit 0xffff, x2APIC enabled. */
static int floor_vcpu_state(struct floor_vm *f)
{
	uint64_t cr4_bits = 0, xcr0 = 0;
	if (floor_cpuid(f, &cr4_bits, &xcr0) < 0)
		return -1;
	struct kvm_sregs s;
	if (ioctl(f->vcpu_fd, KVM_GET_SREGS, &s) < 0)
		return fail("KVM_GET_SREGS: %s", strerror(errno));
	/* CR0 PG WP ET PE; CR4 OSFXSR PAE PGE (+ the CPUID-derived bits); EFER SCE LME LMA NXE. */
	s.cr0 = 0x80000000ull | 0x10000ull | 0x10ull | 0x1ull;
	s.cr4 = 0x200ull | 0x20ull | 0x80ull | cr4_bits;
	s.efer = 1ull << 0 | 1ull << 8 | 1ull << 10 | 1ull << 11;
	s.cr3 = 0;
	s.cs = segment(0xf, 1, 1);
	s.ds = s.es = s.fs = s.gs = s.ss = segment(0x3, 1, 0);
	s.tr = segment(0xb, 0, 0);
	s.ldt = segment(0x2, 0, 0);
	s.gdt = (struct kvm_dtable){.base = 0, .limit = 0xffff};
	s.idt = (struct kvm_dtable){.base = 0, .limit = 0xffff};
	s.apic_base = 0xfee00000ull | 1ull << 11 | 1ull << 10 | 1ull << 8; /* EN EXTD BSP */
	if (ioctl(f->vcpu_fd, KVM_SET_SREGS, &s) < 0)
		return fail("KVM_SET_SREGS: %s", strerror(errno));
	if (xcr0) {
		struct kvm_xcrs xcrs = {.nr_xcrs = 1};
		xcrs.xcrs[0] = (struct kvm_xcr){.xcr = 0, .value = xcr0};
		if (ioctl(f->vcpu_fd, KVM_SET_XCRS, &xcrs) < 0)
			return fail("KVM_SET_XCRS: %s", strerror(errno));
	}
	struct kvm_regs regs = {.rip = P1_ENTRY, .rflags = 0x2};
	if (ioctl(f->vcpu_fd, KVM_SET_REGS, &regs) < 0)
		return fail("KVM_SET_REGS: %s", strerror(errno));
	return 0;
}

static inline bool floor_exit_ok(const struct kvm_run *run, const struct loop *l)
{
	return run->exit_reason == KVM_EXIT_IO && run->io.port == P1_PORT && run->io.size == 1 &&
	       run->io.count == 1 &&
	       run->io.direction == (l->in ? KVM_EXIT_IO_IN : KVM_EXIT_IO_OUT);
}

static int floor_bad_exit(const struct kvm_run *run, const struct loop *l)
{
	if (run->exit_reason != KVM_EXIT_IO)
		return fail("floor %s: exit reason %u, expected KVM_EXIT_IO", l->name,
			    run->exit_reason);
	return fail("floor %s: IO exit port %#x size %u count %u direction %u", l->name,
		    run->io.port, run->io.size, run->io.count, run->io.direction);
}

/* n exits of the loop; *out_ns is the time they took. The VCPU is at an exit of this loop. */
static int floor_run(struct floor_vm *f, const struct loop *l, unsigned long n, uint64_t *out_ns)
{
	struct kvm_run *run = f->run;
	uint64_t t0 = bench_now_ns();
	for (unsigned long i = 0; i < n;) {
		if (l->in)
			((uint8_t *)run + run->io.data_offset)[0] = (uint8_t)i;
		if (ioctl(f->vcpu_fd, KVM_RUN, 0) < 0) {
			if (errno == EINTR)
				continue;
			return fail("floor %s: KVM_RUN: %s", l->name, strerror(errno));
		}
		if (!floor_exit_ok(run, l))
			return floor_bad_exit(run, l);
		i++;
	}
	*out_ns = bench_now_ns() - t0;
	if (l->in && n > 0) {
		/* The guest read every value: AL holds the last one completed. */
		struct kvm_regs regs;
		if (ioctl(f->vcpu_fd, KVM_GET_REGS, &regs) < 0)
			return fail("floor in: KVM_GET_REGS: %s", strerror(errno));
		if ((uint8_t)regs.rax != (uint8_t)(n - 1))
			return fail("floor in: guest AL %#x, expected %#x", (uint8_t)regs.rax,
				    (uint8_t)(n - 1));
	}
	return 0;
}

/* A VM with the loop's code and one VCPU, run to its first exit. */
static int floor_setup(struct floor_vm *f, const struct loop *l)
{
	*f = (struct floor_vm){.kvm_fd = -1, .vm_fd = -1, .vcpu_fd = -1};
	f->kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (f->kvm_fd < 0)
		return fail("open /dev/kvm: %s", strerror(errno));
	if (ioctl(f->kvm_fd, KVM_GET_API_VERSION, 0) != KVM_API_VERSION)
		return fail("KVM API version is not %d", KVM_API_VERSION);
	f->vm_fd = ioctl(f->kvm_fd, KVM_CREATE_VM, 0);
	if (f->vm_fd < 0)
		return fail("KVM_CREATE_VM: %s", strerror(errno));
	void *mem = mmap(NULL, P1_RAM_SIZE, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (mem == MAP_FAILED)
		return fail("mmap guest RAM: %s", strerror(errno));
	f->mem = mem;
	build_page_tables((uint64_t *)f->mem);
	memcpy(f->mem + P1_ENTRY, l->code, l->len);
	struct kvm_userspace_memory_region region = {
		.slot = 0,
		.guest_phys_addr = 0,
		.memory_size = P1_RAM_SIZE,
		.userspace_addr = (uintptr_t)f->mem,
	};
	if (ioctl(f->vm_fd, KVM_SET_USER_MEMORY_REGION, &region) < 0)
		return fail("KVM_SET_USER_MEMORY_REGION: %s", strerror(errno));
	f->vcpu_fd = ioctl(f->vm_fd, KVM_CREATE_VCPU, 0);
	if (f->vcpu_fd < 0)
		return fail("KVM_CREATE_VCPU: %s", strerror(errno));
	int size = ioctl(f->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (size <= 0)
		return fail("KVM_GET_VCPU_MMAP_SIZE: %s", strerror(errno));
	void *run = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_SHARED, f->vcpu_fd, 0);
	if (run == MAP_FAILED)
		return fail("mmap kvm_run: %s", strerror(errno));
	f->run = run;
	f->run_size = (size_t)size;
	if (floor_vcpu_state(f) < 0)
		return -1;
	if (ioctl(f->vcpu_fd, KVM_RUN, 0) < 0)
		return fail("floor %s: first KVM_RUN: %s", l->name, strerror(errno));
	return floor_exit_ok(f->run, l) ? 0 : floor_bad_exit(f->run, l);
}

/* ---- zxvm: the public API, in process ---- */

struct zxvm_vm {
	zx_handle_t guest, vmar, vmo, vcpu;
};

static void zxvm_teardown(struct zxvm_vm *z)
{
	zx_handle_close(z->vcpu);
	zx_handle_close(z->vmo);
	zx_handle_close(z->vmar);
	zx_handle_close(z->guest);
	*z = (struct zxvm_vm){ZX_HANDLE_INVALID, ZX_HANDLE_INVALID, ZX_HANDLE_INVALID,
			      ZX_HANDLE_INVALID};
}

static int zxvm_bad_packet(const struct loop *l, const zx_port_packet_t *p)
{
	return fail("zxvm %s: packet type %u key %#lx port %#x input %u, expected GUEST_IO on "
		    "port %#x",
		    l->name, p->type, (unsigned long)p->key, p->guest_io.port, p->guest_io.input,
		    P1_PORT);
}

static inline bool zxvm_packet_ok(const zx_port_packet_t *p, const struct loop *l)
{
	return p->type == ZX_PKT_TYPE_GUEST_IO && p->key == P1_KEY && p->guest_io.port == P1_PORT &&
	       p->guest_io.access_size == 1 && p->guest_io.input == l->in;
}

/* n exits of the loop; *out_ns is the time they took. The VCPU is at an exit of this loop. */
static int zxvm_run(struct zxvm_vm *z, const struct loop *l, unsigned long n, uint64_t *out_ns)
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
			return fail("zxvm in: guest AL %#x, expected %#x", (uint8_t)s.rax,
				    (uint8_t)(n - 1));
	}
	return 0;
}

/* A guest with the loop's code, its IO trap and a VCPU on this thread, run to its first exit.
 * z holds invalid handles on entry; whatever was created is in it on return, for teardown. */
static int zxvm_setup(struct zxvm_vm *z, zx_handle_t resource, const struct loop *l)
{
	static uint64_t pt[P1_PT_END / 8];
	zx_handle_t vmo;
	zx_vaddr_t addr;
	zx_port_packet_t p;
	ZX_CHECK(zx_guest_create(resource, 0, &z->guest, &z->vmar));
	ZX_CHECK(zx_vmo_create(P1_RAM_SIZE, 0, &vmo));
	ZX_CHECK(zx_vmo_replace_as_executable(vmo, ZX_HANDLE_INVALID, &z->vmo));
	memset(pt, 0, sizeof(pt));
	build_page_tables(pt);
	ZX_CHECK(zx_vmo_write(z->vmo, pt, 0, sizeof(pt)));
	ZX_CHECK(zx_vmo_write(z->vmo, l->code, P1_ENTRY, l->len));
	ZX_CHECK(zx_vmar_map(
		z->vmar, ZX_VM_PERM_READ | ZX_VM_PERM_WRITE | ZX_VM_PERM_EXECUTE | ZX_VM_SPECIFIC,
		0, z->vmo, 0, P1_RAM_SIZE, &addr));
	ZX_CHECK(zx_guest_set_trap(z->guest, ZX_GUEST_TRAP_IO, P1_PORT, 1, ZX_HANDLE_INVALID,
				   P1_KEY));
	ZX_CHECK(zx_vcpu_create(z->guest, 0, P1_ENTRY, &z->vcpu));
	ZX_CHECK(zx_vcpu_enter(z->vcpu, &p));
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
	struct floor_vm f;
	struct zxvm_vm z = {ZX_HANDLE_INVALID, ZX_HANDLE_INVALID, ZX_HANDLE_INVALID,
			    ZX_HANDLE_INVALID};
	unsigned long warm = n < P1_WARMUP_EXITS ? n : P1_WARMUP_EXITS;
	uint64_t ns;
	int rc = floor_setup(&f, l);
	if (rc == 0)
		rc = zxvm_setup(&z, resource, l);
	if (rc == 0)
		rc = floor_run(&f, l, warm, &ns);
	if (rc == 0)
		rc = zxvm_run(&z, l, warm, &ns);
	for (unsigned long r = 0; rc == 0 && r < reps; r++) {
		/* Odd repetitions run zxvm first: neither side always follows the other. */
		for (int k = 0; rc == 0 && k < 2; k++) {
			if ((k == 0) == (r % 2 == 0)) {
				rc = floor_run(&f, l, n, &ns);
				res->floor_us[r] = us_per_exit(ns, n);
			} else {
				rc = zxvm_run(&z, l, n, &ns);
				res->zxvm_us[r] = us_per_exit(ns, n);
			}
		}
	}
	zxvm_teardown(&z);
	floor_teardown(&f);
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
	fail("%s '%s'", what, arg);
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
		fail("pinning to a CPU: %s", strerror(-cpu));
		return 1;
	}
	zx_handle_t resource;
	zx_status_t st = zxvm_connect("inproc:", &resource);
	if (st != ZX_OK) {
		fail("zxvm_connect(\"inproc:\"): %s", zx_status_get_string(st));
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
