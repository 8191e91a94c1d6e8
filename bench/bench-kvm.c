/* The raw KVM exit of bench-kvm.h: <linux/kvm.h> only. */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "bench-kvm.h"
#include "bench-util.h"

const uint8_t bench_kvm_loop_out[4] = {0xe6, BENCH_KVM_PORT, 0xeb, 0xfc};
const uint8_t bench_kvm_loop_in[4] = {0xe4, BENCH_KVM_PORT, 0xeb, 0xfc};

void bench_kvm_page_tables(uint64_t *pt)
{
	/* P | RW for the tables, P | RW | PS for the 2 MiB leaves (Intel SDM vol 3, 4.5). */
	pt[0] = 0x1000 | 0x3;
	for (uint64_t i = 0; i < 4; i++)
		pt[0x1000 / 8 + i] = (0x2000 + i * 0x1000) | 0x3;
	for (uint64_t i = 0; i < 4 * 512; i++)
		pt[0x2000 / 8 + i] = (i << 21) | 0x83;
}

static const char *loop_name(const struct bench_kvm *k)
{
	return k->in ? "in" : "out";
}

void bench_kvm_teardown(struct bench_kvm *k)
{
	if (k->run)
		munmap(k->run, k->run_size);
	if (k->vcpu_fd >= 0)
		close(k->vcpu_fd);
	if (k->vm_fd >= 0)
		close(k->vm_fd);
	if (k->mem)
		munmap(k->mem, BENCH_KVM_RAM_SIZE);
	if (k->kvm_fd >= 0)
		close(k->kvm_fd);
	*k = (struct bench_kvm){.kvm_fd = -1, .vm_fd = -1, .vcpu_fd = -1};
}

static const struct kvm_cpuid_entry2 *cpuid_find(const struct kvm_cpuid2 *c, uint32_t fn)
{
	for (uint32_t i = 0; i < c->nent; i++)
		if (c->entries[i].function == fn && c->entries[i].index == 0)
			return &c->entries[i];
	return NULL;
}

/* Give the VCPU KVM's supported CPUID and derive CR4 and XCR0 from what it reads back, as
 * kvm_backend/x86.c does (PVM ORs host features in: notes/pvm-guest-execution.md), so that
 * this VCPU and a zxvm one have the same FPU/XSAVE state to switch on every entry and exit. */
static int vcpu_cpuid(struct bench_kvm *k, uint64_t *out_cr4_bits, uint64_t *out_xcr0)
{
	struct kvm_cpuid2 *c = NULL;
	uint32_t n;
	for (n = 64; n <= 4096; n *= 2) {
		c = calloc(1, sizeof(*c) + n * sizeof(c->entries[0]));
		if (!c)
			return bench_fail("out of memory");
		c->nent = n;
		if (ioctl(k->kvm_fd, KVM_GET_SUPPORTED_CPUID, c) == 0)
			break;
		free(c);
		c = NULL;
		if (errno != E2BIG)
			break;
	}
	if (!c)
		return bench_fail("KVM_GET_SUPPORTED_CPUID: %s", strerror(errno));
	int rc = 0;
	if (ioctl(k->vcpu_fd, KVM_SET_CPUID2, c) < 0)
		rc = bench_fail("KVM_SET_CPUID2: %s", strerror(errno));
	c->nent = n;
	if (rc == 0 && ioctl(k->vcpu_fd, KVM_GET_CPUID2, c) < 0)
		rc = bench_fail("KVM_GET_CPUID2: %s", strerror(errno));
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
static int vcpu_state(struct bench_kvm *k)
{
	uint64_t cr4_bits = 0, xcr0 = 0;
	if (vcpu_cpuid(k, &cr4_bits, &xcr0) < 0)
		return -1;
	struct kvm_sregs s;
	if (ioctl(k->vcpu_fd, KVM_GET_SREGS, &s) < 0)
		return bench_fail("KVM_GET_SREGS: %s", strerror(errno));
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
	if (ioctl(k->vcpu_fd, KVM_SET_SREGS, &s) < 0)
		return bench_fail("KVM_SET_SREGS: %s", strerror(errno));
	if (xcr0) {
		struct kvm_xcrs xcrs = {.nr_xcrs = 1};
		xcrs.xcrs[0] = (struct kvm_xcr){.xcr = 0, .value = xcr0};
		if (ioctl(k->vcpu_fd, KVM_SET_XCRS, &xcrs) < 0)
			return bench_fail("KVM_SET_XCRS: %s", strerror(errno));
	}
	struct kvm_regs regs = {.rip = BENCH_KVM_ENTRY, .rflags = 0x2};
	if (ioctl(k->vcpu_fd, KVM_SET_REGS, &regs) < 0)
		return bench_fail("KVM_SET_REGS: %s", strerror(errno));
	return 0;
}

static inline bool exit_ok(const struct bench_kvm *k)
{
	const struct kvm_run *run = k->run;
	return run->exit_reason == KVM_EXIT_IO && run->io.port == BENCH_KVM_PORT &&
	       run->io.size == 1 && run->io.count == 1 &&
	       run->io.direction == (k->in ? KVM_EXIT_IO_IN : KVM_EXIT_IO_OUT);
}

static int bad_exit(const struct bench_kvm *k)
{
	const struct kvm_run *run = k->run;
	if (run->exit_reason != KVM_EXIT_IO)
		return bench_fail("raw KVM %s: exit reason %u, expected KVM_EXIT_IO", loop_name(k),
				  run->exit_reason);
	return bench_fail("raw KVM %s: IO exit port %#x size %u count %u direction %u",
			  loop_name(k), run->io.port, run->io.size, run->io.count,
			  run->io.direction);
}

int bench_kvm_run(struct bench_kvm *k, unsigned long n, uint64_t *out_ns)
{
	struct kvm_run *run = k->run;
	uint64_t t0 = bench_now_ns();
	for (unsigned long i = 0; i < n;) {
		if (k->in)
			((uint8_t *)run + run->io.data_offset)[0] = (uint8_t)i;
		if (ioctl(k->vcpu_fd, KVM_RUN, 0) < 0) {
			if (errno == EINTR)
				continue;
			return bench_fail("raw KVM %s: KVM_RUN: %s", loop_name(k), strerror(errno));
		}
		if (!exit_ok(k))
			return bad_exit(k);
		i++;
	}
	*out_ns = bench_now_ns() - t0;
	if (k->in && n > 0) {
		/* The guest read every value: AL holds the last one completed. */
		struct kvm_regs regs;
		if (ioctl(k->vcpu_fd, KVM_GET_REGS, &regs) < 0)
			return bench_fail("raw KVM in: KVM_GET_REGS: %s", strerror(errno));
		if ((uint8_t)regs.rax != (uint8_t)(n - 1))
			return bench_fail("raw KVM in: guest AL %#x, expected %#x",
					  (uint8_t)regs.rax, (uint8_t)(n - 1));
	}
	return 0;
}

int bench_kvm_setup(struct bench_kvm *k, bool in_loop)
{
	*k = (struct bench_kvm){.kvm_fd = -1, .vm_fd = -1, .vcpu_fd = -1, .in = in_loop};
	k->kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (k->kvm_fd < 0)
		return bench_fail("open /dev/kvm: %s", strerror(errno));
	if (ioctl(k->kvm_fd, KVM_GET_API_VERSION, 0) != KVM_API_VERSION)
		return bench_fail("KVM API version is not %d", KVM_API_VERSION);
	k->vm_fd = ioctl(k->kvm_fd, KVM_CREATE_VM, 0);
	if (k->vm_fd < 0)
		return bench_fail("KVM_CREATE_VM: %s", strerror(errno));
	void *mem = mmap(NULL, BENCH_KVM_RAM_SIZE, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (mem == MAP_FAILED)
		return bench_fail("mmap guest RAM: %s", strerror(errno));
	k->mem = mem;
	bench_kvm_page_tables((uint64_t *)k->mem);
	memcpy(k->mem + BENCH_KVM_ENTRY, in_loop ? bench_kvm_loop_in : bench_kvm_loop_out,
	       sizeof(bench_kvm_loop_out));
	struct kvm_userspace_memory_region region = {
		.slot = 0,
		.guest_phys_addr = 0,
		.memory_size = BENCH_KVM_RAM_SIZE,
		.userspace_addr = (uintptr_t)k->mem,
	};
	if (ioctl(k->vm_fd, KVM_SET_USER_MEMORY_REGION, &region) < 0)
		return bench_fail("KVM_SET_USER_MEMORY_REGION: %s", strerror(errno));
	k->vcpu_fd = ioctl(k->vm_fd, KVM_CREATE_VCPU, 0);
	if (k->vcpu_fd < 0)
		return bench_fail("KVM_CREATE_VCPU: %s", strerror(errno));
	int size = ioctl(k->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (size <= 0)
		return bench_fail("KVM_GET_VCPU_MMAP_SIZE: %s", strerror(errno));
	void *run = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_SHARED, k->vcpu_fd, 0);
	if (run == MAP_FAILED)
		return bench_fail("mmap kvm_run: %s", strerror(errno));
	k->run = run;
	k->run_size = (size_t)size;
	if (vcpu_state(k) < 0)
		return -1;
	if (ioctl(k->vcpu_fd, KVM_RUN, 0) < 0)
		return bench_fail("raw KVM %s: first KVM_RUN: %s", loop_name(k), strerror(errno));
	return exit_ok(k) ? 0 : bad_exit(k);
}
