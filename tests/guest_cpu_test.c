/* The CPU a Zircon guest sees, with real guest code (spec §5.3): CPUID leaves 1, 0xB and the
 * KVM signature, VMCALL at CPL 0 and CPL 3, FPU/SSE state kept apart from the host's and kept
 * across exits, and SYSCALL/SYSRET and SYSENTER/SYSEXIT round trips through CPL 3. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <x86intrin.h>

#include "harness/fixture.h"

/* The data of tests/guest/cpu.S. */
#define SCRATCH 0x9100u
#define PATTERN 0x9200u
#define MXCSR_VALUE 0x9300u
#define MMIO_GPA 0x40000000u
#define MEM_KEY 0x3e3u

/* ---- CPUID ---- */

struct cpuid_regs {
	uint32_t eax, ebx, ecx, edx;
};

static zx_status_t read_cpuid(struct test_guest *g, struct cpuid_regs *r)
{
	zx_status_t st = read_data(g, &r->eax);
	if (st == ZX_OK)
		st = read_data(g, &r->ebx);
	if (st == ZX_OK)
		st = read_data(g, &r->ecx);
	if (st == ZX_OK)
		st = read_data(g, &r->edx);
	return st;
}

/* The leaves of cpuid_table in cpu.S, in order. */
struct cpuid_run {
	struct cpuid_regs leaf1, hv, hv_features, leafb0, leafb1, leaf0;
};

static zx_status_t run_cpuid(struct fixture *f, struct cpuid_run *r)
{
	zx_status_t st = fixture_start(f, GUEST_CODE(guest_cpuid));
	struct cpuid_regs *all[] = {&r->leaf1,	&r->hv,	    &r->hv_features,
				    &r->leafb0, &r->leafb1, &r->leaf0};
	for (size_t i = 0; i < ARRAY_SIZE(all) && st == ZX_OK; i++)
		st = read_cpuid(&f->g, all[i]);
	if (st == ZX_OK)
		st = enter_and_clean_exit(&f->g);
	return st;
}

#define EXPECT_BIT(reg, bit, set)                                                                  \
	do {                                                                                       \
		if (!!((reg) & (1u << (bit))) != (set))                                            \
			test_fail(__FILE__, __LINE__, "%s bit %d: expected %s (value %#x)", #reg,  \
				  bit, (set) ? "set" : "clear", (reg));                            \
	} while (0)

TEST(cpuid_leaf1_features)
{
	AUTO_FIXTURE f;
	struct cpuid_run r;
	ASSERT_OK(run_cpuid(&f, &r));
	EXPECT_BIT(r.leaf1.ecx, 31, true); /* HYPERVISOR */
	EXPECT_BIT(r.leaf1.ecx, 21, true); /* X2APIC */
	EXPECT_BIT(r.leaf1.ecx, 24, true); /* TSC_DEADLINE */
	EXPECT_BIT(r.leaf1.ecx, 5, false); /* VMX */
	EXPECT_BIT(r.leaf1.edx, 11, true); /* SEP */
	EXPECT_EQ(0, r.leaf1.ebx >> 24);   /* the BSP's APIC ID */
}

TEST(cpuid_leaf1_hidden_features)
{
	AUTO_FIXTURE f;
	struct cpuid_run r;
	ASSERT_OK(run_cpuid(&f, &r));
	EXPECT_BIT(r.leaf1.ecx, 3, false);  /* MONITOR */
	EXPECT_BIT(r.leaf1.ecx, 8, false);  /* TM2 */
	EXPECT_BIT(r.leaf1.ecx, 15, false); /* PDCM */
	EXPECT_BIT(r.leaf1.edx, 22, false); /* ACPI */
	EXPECT_BIT(r.leaf1.edx, 29, false); /* TM */
}

TEST(cpuid_kvm_signature)
{
	AUTO_FIXTURE f;
	struct cpuid_run r;
	ASSERT_OK(run_cpuid(&f, &r));
	EXPECT_EQ(0x40000001, r.hv.eax);
	char sig[13] = {0};
	memcpy(sig, &r.hv.ebx, 4);
	memcpy(sig + 4, &r.hv.ecx, 4);
	memcpy(sig + 8, &r.hv.edx, 4);
	static const char want[12] = "KVMKVMKVM\0\0\0";
	if (memcmp(sig, want, 12) != 0)
		test_fail(__FILE__, __LINE__, "signature: expected \"KVMKVMKVM\", got \"%.12s\"",
			  sig);
	/* CLOCKSOURCE, NOP_IO_DELAY, CLOCKSOURCE2. */
	EXPECT_EQ(0xb, r.hv_features.eax & 0xb);
}

TEST(cpuid_leaf_b_apic_id)
{
	AUTO_FIXTURE f;
	struct cpuid_run r;
	ASSERT_OK(run_cpuid(&f, &r));
	EXPECT_EQ(0, r.leafb0.eax);
	EXPECT_EQ(0, r.leafb0.ebx);
	EXPECT_EQ(0, r.leafb0.edx);
	EXPECT_EQ(0, r.leafb1.edx);
}

TEST(cpuid_past_highest_basic_leaf)
{
	AUTO_FIXTURE f;
	ASSERT_OK(fixture_start(&f, GUEST_CODE(guest_cpuid_past_max)));
	struct cpuid_regs max, past;
	ASSERT_OK(read_cpuid(&f.g, &max));
	ASSERT_OK(read_cpuid(&f.g, &past));
	/* "Out-of-range leaves return the highest basic leaf" (spec §5.3). */
	EXPECT_EQ(max.eax, past.eax);
	EXPECT_EQ(max.ebx, past.ebx);
	EXPECT_EQ(max.ecx, past.ecx);
	EXPECT_EQ(max.edx, past.edx);
	ASSERT_OK(enter_and_clean_exit(&f.g));
}

/* ---- VMCALL ---- */

TEST(vmcall_unknown_number_at_cpl0)
{
	AUTO_FIXTURE f;
	ASSERT_OK(fixture_start(&f, GUEST_CODE(guest_vmcall)));
	/* The guest continues after each call: no exit reaches the host before EXIT. */
	ASSERT_OK(enter_and_clean_exit(&f.g));
	zx_vcpu_state_t s;
	ASSERT_OK(read_regs(&f.g, &s));
	EXPECT_EQ((uint64_t)-1000, s.rbx); /* vmcall: KVM_ENOSYS */
	EXPECT_EQ((uint64_t)-1000, s.r12); /* vmmcall */
	EXPECT_EQ(0x1111, s.rcx);
	EXPECT_EQ(0x2222, s.rdx);
	EXPECT_EQ(0x3333, s.rsi);
}

TEST(vmcall_at_cpl3_not_permitted)
{
	AUTO_FIXTURE f;
	ASSERT_OK(fixture_start(&f, GUEST_CODE(guest_vmcall_user)));
	ASSERT_OK(zx_guest_set_trap(f.g.guest, ZX_GUEST_TRAP_MEM, MMIO_GPA, 0x1000,
				    ZX_HANDLE_INVALID, MEM_KEY));
	/* The user code continues after its vmcall and stores rax to the MEM trap. */
	zx_port_packet_t p;
	ASSERT_OK(zx_vcpu_enter(f.g.vcpu, &p));
	ASSERT_EQ(ZX_PKT_TYPE_GUEST_MEM, p.type);
	EXPECT_EQ(MMIO_GPA, p.guest_mem.addr);
	zx_vcpu_state_t s;
	ASSERT_OK(read_regs(&f.g, &s));
	/* It ran at CPL 3: RPL 3 in CS (0x2b from SYSRET; PVM shows the host's 0x33 there, as
	 * it runs CPL 3 natively). */
	EXPECT_EQ(3, s.rbx & 3);
	EXPECT_EQ((uint64_t)-1, s.rax); /* KVM_EPERM */
}

/* ---- FPU and SSE ---- */

static const uint8_t guest_pattern[32] = {
	0x10, 0x32, 0x54, 0x76, 0x98, 0xba, 0xdc, 0xfe, 0x01, 0x23, 0x45,
	0x67, 0x89, 0xab, 0xcd, 0xef, 0xa5, 0x5a, 0xc3, 0x3c, 0x96, 0x69,
	0x0f, 0xf0, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88,
};

TEST(fpu_guest_sse_does_not_reach_host)
{
	AUTO_FIXTURE f;
	ASSERT_OK(fixture_start(&f, GUEST_CODE(guest_fpu_clobber)));
	ASSERT_OK(zx_vmo_write(f.g.vmo, guest_pattern, PATTERN, 16));
	/* The SysV ABI lets any call clobber xmm0-15, and libc's memcpy does use the low ones:
	 * xmm15 is one that nothing on the enter path touches, so a guest value there could
	 * only have come through the VCPU's FPU state (spec §5.3: isolated). */
	static const uint8_t host[16] = {0xde, 0xad, 0xbe, 0xef, 1, 2,	3,  4,
					 5,    6,    7,	   8,	 9, 10, 11, 12};
	uint8_t after[16];
	zx_port_packet_t p;
	asm volatile("movdqu %0, %%xmm15" : : "m"(host) : "xmm15");
	zx_status_t st = zx_vcpu_enter(f.g.vcpu, &p);
	asm volatile("movdqu %%xmm15, %0" : "=m"(after));
	ASSERT_OK(st);
	ASSERT_EQ(ZX_PKT_TYPE_GUEST_IO, p.type);
	ASSERT_EQ(GUEST_EXIT_PORT, p.guest_io.port);
	/* Through zxvmd the enter runs gRPC and TLS code here (AES-GCM uses every xmm register,
	 * as the ABI allows), so xmm15 may change; the guest's value must still never arrive. */
	if (getenv("ZXVM_TEST_TARGET"))
		EXPECT_TRUE(memcmp(guest_pattern, after, 16) != 0);
	else
		EXPECT_TRUE(memcmp(host, after, 16) == 0);
}

TEST(fpu_guest_sse_survives_exits)
{
	AUTO_FIXTURE f;
	ASSERT_OK(fixture_start(&f, GUEST_CODE(guest_fpu_keep)));
	ASSERT_OK(zx_vmo_write(f.g.vmo, guest_pattern, PATTERN, 32));
	ASSERT_MARK(&f.g, 1);
	/* The host uses the same registers in between, and plenty of SSE through libc. */
	static uint8_t junk[1 << 16];
	memset(junk, 0x5c, sizeof(junk));
	asm volatile("pxor %%xmm1, %%xmm1\n\tpcmpeqb %%xmm15, %%xmm15" : : : "xmm1", "xmm15");
	uint32_t first;
	memcpy(&first, guest_pattern, 4);
	ASSERT_DATA(&f.g, first);
	ASSERT_OK(enter_and_clean_exit(&f.g));
	uint8_t stored[32];
	ASSERT_OK(zx_vmo_read(f.g.vmo, stored, SCRATCH, sizeof(stored)));
	EXPECT_TRUE(memcmp(stored, guest_pattern, 32) == 0);
}

TEST(fpu_mxcsr_kept_apart)
{
	/* Through a daemon the guest's FPU lives in another process; what this checks is the
	 * in-process isolation of the caller's own thread. */
	if (getenv("ZXVM_TEST_TARGET"))
		TEST_SKIP("in-process only: through zxvmd the guest FPU is in the daemon");
	AUTO_FIXTURE f;
	ASSERT_OK(fixture_start(&f, GUEST_CODE(guest_fpu_mxcsr)));
	/* Guest: round down (RC=01); host: round up (RC=10). MXCSR's control bits are
	 * callee-saved in the SysV ABI, so the host's must be intact after each enter. */
	uint32_t guest_mxcsr = 0x3f80, host_mxcsr = 0x5f80, saved = _mm_getcsr();
	ASSERT_OK(zx_vmo_write(f.g.vmo, &guest_mxcsr, MXCSR_VALUE, 4));
	_mm_setcsr(host_mxcsr);
	zx_port_packet_t p;
	zx_status_t st1 = zx_vcpu_enter(f.g.vcpu, &p);
	uint32_t after1 = _mm_getcsr();
	_mm_setcsr(host_mxcsr);
	uint32_t data = 0;
	zx_status_t st2 = read_data(&f.g, &data);
	uint32_t after2 = _mm_getcsr();
	_mm_setcsr(saved);
	ASSERT_OK(st1);
	EXPECT_EQ(PORT_MARK, p.guest_io.port);
	EXPECT_EQ(host_mxcsr, after1);
	ASSERT_OK(st2);
	EXPECT_EQ(host_mxcsr, after2);
	EXPECT_EQ(guest_mxcsr, data); /* and the guest's survived the exit */
	ASSERT_OK(enter_and_clean_exit(&f.g));
}

/* ---- SYSCALL and SYSENTER ---- */

static bool host_is_pvm(void)
{
	return access("/sys/module/kvm_pvm", F_OK) == 0;
}

static bool host_is_amd(void)
{
	unsigned a, b, c, d;
	__asm__("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(0), "c"(0));
	return b == 0x68747541; /* "Auth"enticAMD */
}

/* The value the guest's first report would be if the CPU raised `vector` instead (the
 * library's handler; HAS_ERR: an error code was pushed). */
#define VECTOR_REPORT(vector, has_err) ((vector) | ((has_err) ? HAS_ERR : 0))

/* Enter until the first report; true if it is the library's report of `vector`. */
static bool first_report_is_vector(struct test_guest *g, uint32_t report, zx_port_packet_t *p)
{
	return zx_vcpu_enter(g->vcpu, p) == ZX_OK && p->type == ZX_PKT_TYPE_GUEST_IO &&
	       p->guest_io.port == PORT_VEC && p->guest_io.u32 == report;
}

/* What syscall_entry / sysenter_entry report per round: kernel CS and SS, then edi, the user
 * CS and the user SS. `first` is the first report if the caller already entered for it. */
static void expect_round(struct test_guest *g, const zx_port_packet_t *first, uint32_t edi,
			 uint32_t user_ss, int line)
{
	static const char *const what[] = {"kernel CS", "kernel SS", "user value", "user CS",
					   "user SS"};
	const uint32_t want[] = {0x08, 0x10, edi, 0x2b, user_ss};
	for (size_t i = 0; i < ARRAY_SIZE(want); i++) {
		uint32_t got;
		if (i == 0 && first) {
			if (first->type != ZX_PKT_TYPE_GUEST_IO ||
			    first->guest_io.port != PORT_DATA) {
				test_fail(__FILE__, line, "%s: got %s %#x (port %#x)", what[i],
					  packet_type_name(first->type), first->guest_io.u32,
					  first->guest_io.port);
				return;
			}
			got = first->guest_io.u32;
		} else {
			zx_status_t st = read_data(g, &got);
			if (st != ZX_OK) {
				test_fail(__FILE__, line, "%s: enter returned %s", what[i],
					  zx_status_get_string(st));
				return;
			}
		}
		if (got != want[i])
			test_fail(__FILE__, line, "%s: expected %#x, got %#x", what[i], want[i],
				  got);
	}
}

TEST(syscall_sysret_round_trips)
{
	AUTO_FIXTURE f;
	ASSERT_OK(fixture_start(&f, GUEST_CODE(guest_syscall)));
	zx_port_packet_t p;
	if (first_report_is_vector(&f.g, VECTOR_REPORT(13, true), &p) && host_is_pvm())
		TEST_SKIP("PVM: SYSCALL from CPL 3 lands at LSTAR still in hardware ring 3 (CS "
			  "0x33, the host's user CS), not at CPL 0; the entry's `out` raises #GP");
	expect_round(&f.g, &p, 0x1234, 0x23, __LINE__);
	expect_round(&f.g, NULL, 0x1235, 0x23, __LINE__);
	ASSERT_OK(enter_and_clean_exit(&f.g));
}

TEST(sysenter_sysexit_round_trips)
{
	AUTO_FIXTURE f;
	ASSERT_OK(fixture_start(&f, GUEST_CODE(guest_sysenter)));
	zx_port_packet_t p;
	if (first_report_is_vector(&f.g, VECTOR_REPORT(6, false), &p) &&
	    (host_is_pvm() || host_is_amd()))
		TEST_SKIP("SYSENTER at CPL 3 raises #UD here (PVM runs CPL 3 natively and does "
			  "not forward it; AMD has no SYSENTER in long mode); SYSEXIT worked");
	expect_round(&f.g, &p, 0x5678, 0x33, __LINE__);
	expect_round(&f.g, NULL, 0x5679, 0x33, __LINE__);
	ASSERT_OK(enter_and_clean_exit(&f.g));
}
