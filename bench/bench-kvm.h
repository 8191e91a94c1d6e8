/* The raw KVM exit of the benchmarks: a VCPU driven with <linux/kvm.h> alone, no zxvm code, in
 * a 4-byte port-IO loop. P1 times it as its floor; P2 and P3 time it beside their round trips
 * to show how much of one the exit alone takes (README.md).
 *
 * The guest image is also the one the zxvm-side guests use (bench-guest.h, P1's zxvm side):
 * RAM at GPA 0, identity page tables for the low 4 GiB with 2 MiB pages as
 * tests/harness/guest.c builds them, the code at BENCH_KVM_ENTRY, 64-bit long mode with the
 * initial state kvm_backend/x86.c gives a BSP (spec §5.1). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BENCH_KVM_PORT 0x10
#define BENCH_KVM_RAM_SIZE (2u << 20) /* guest RAM at GPA 0 */
#define BENCH_KVM_ENTRY 0x10000u      /* where the code goes and the VCPU starts */
#define BENCH_KVM_PT_SIZE 0x6000u     /* PML4 0x0, PDPT 0x1000, four PDs 0x2000-0x5fff */

/* `1: out %al, $0x10; jmp 1b` and `1: in $0x10, %al; jmp 1b` (Intel SDM vol 2: E6 ib is
 * OUT imm8, AL; E4 ib is IN AL, imm8; EB cb is JMP rel8, here -4: back to the IO instruction). */
extern const uint8_t bench_kvm_loop_out[4];
extern const uint8_t bench_kvm_loop_in[4];

/* The identity page tables into pt (BENCH_KVM_PT_SIZE bytes, zeroed by the caller). */
void bench_kvm_page_tables(uint64_t *pt);

struct kvm_run;

struct bench_kvm {
	int kvm_fd, vm_fd, vcpu_fd;
	uint8_t *mem;
	struct kvm_run *run;
	size_t run_size;
	bool in; /* the `in` loop, else the `out` loop */
};

/* A VM with one of the loops and one VCPU, run to its first exit (checked). The VCPU gets
 * KVM's supported CPUID, and CR4 and XCR0 derived from it as kvm_backend/x86.c does, so that it
 * switches the same FPU state as a zxvm VCPU. Whatever was made is in k for
 * bench_kvm_teardown, also on failure. 0, or -1 with the reason printed. */
int bench_kvm_setup(struct bench_kvm *k, bool in_loop);

/* n exits on the calling thread; *out_ns is the time they took. Each is KVM_RUN and a check
 * of the exit; for the `in` loop the value (the low byte of the exit's index) is stored in the
 * run->io data area before each KVM_RUN, as any VMM must, and the guest's AL is checked
 * afterwards. 0, or -1 with the reason printed. */
int bench_kvm_run(struct bench_kvm *k, unsigned long n, uint64_t *out_ns);

/* Close and unmap whatever k holds; k is left empty. */
void bench_kvm_teardown(struct bench_kvm *k);
