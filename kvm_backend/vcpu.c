/* VCPUs: creation, the enter loop and its one exit switch, kick, interrupt and state
 * (spec §2.3-2.8, §3).
 *
 * The hot path (an IO exit, its packet, an `in` result and the next entry) costs one KVM_RUN:
 * registers travel in kvm_run->s.regs (KVM_CAP_SYNC_REGS), never through GET/SET_REGS
 * ioctls, which cost ~5 µs each here (notes/kvm-on-this-machine.md).
 *
 * Waking a VCPU: kick and interrupt set their flag, then make KVM_RUN return by setting
 * run->immediate_exit and, if the VCPU is inside KVM_RUN, signalling its thread. The signal
 * handler also sets immediate_exit, so a signal landing between our checks and the ioctl still
 * makes it return at once (KVM api.rst, "immediate_exit"). */
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <zircon/errors.h>
#include <zircon/rights.h>

#include "vcpu-internal.h"
#include "x86-decode-internal.h"

/* The guest-controllable RFLAGS bits Zircon reports and accepts (spec §2.7, X86_FLAGS_USER). */
#define KB_X86_FLAGS_USER 0x244dd5ull
#define KB_X86_FLAGS_RESERVED_ONES 0x2ull

static __thread struct kvm_run *tls_run;
static pthread_once_t signal_once = PTHREAD_ONCE_INIT;

static void kick_handler(int sig)
{
	(void)sig;
	struct kvm_run *run = tls_run;
	if (run)
		__atomic_store_n(&run->immediate_exit, 1, __ATOMIC_SEQ_CST);
}

static void signal_setup(void)
{
	struct sigaction sa = {.sa_handler = kick_handler, .sa_flags = SA_RESTART};
	sigemptyset(&sa.sa_mask);
	sigaction(KB_KICK_SIGNAL, &sa, NULL);
}

const char *kb_exit_kind_to_string(enum kb_exit_kind kind)
{
	switch (kind) {
	case KB_EXIT_IO:
		return "io";
	case KB_EXIT_MEM:
		return "mem";
	case KB_EXIT_BELL:
		return "bell";
	case KB_EXIT_VCPU_PACKET:
		return "vcpu";
	case KB_EXIT_HLT:
		return "hlt";
	case KB_EXIT_INTERRUPT:
		return "interrupt";
	case KB_EXIT_MSR:
		return "msr";
	case KB_EXIT_KICK:
		return "kick";
	case KB_EXIT_ERROR:
		return "error";
	case KB_EXIT_KIND_COUNT:
		break;
	}
	return "unknown";
}

static void count_exit(struct kb_vcpu *v, enum kb_exit_kind kind)
{
	/* Only the VCPU thread writes; readers tolerate a stale value. */
	atomic_store_explicit(&v->exits[kind],
			      atomic_load_explicit(&v->exits[kind], memory_order_relaxed) + 1,
			      memory_order_relaxed);
}

/* ---- object ---- */

static void vcpu_destroy(struct kb_object *obj)
{
	struct kb_vcpu *v = (struct kb_vcpu *)obj;
	if (v->vpid)
		kb__guest_unregister_vcpu(v->guest, v);
	if (v->timer_created)
		timer_delete(v->timer);
	if (v->run)
		munmap(v->run, v->run_size);
	if (v->fd >= 0)
		close(v->fd);
	pthread_mutex_destroy(&v->wait_lock);
	pthread_cond_destroy(&v->wait_cond);
	atomic_fetch_sub(&obj->account->vcpus, 1);
	kb__object_unref(&v->guest->obj);
	free(v);
}

static const struct kb_object_ops vcpu_ops = {.destroy = vcpu_destroy};

uint32_t kb__vcpu_info_flags(struct kb_vcpu *v)
{
	return atomic_load(&v->kicked) ? ZX_INFO_VCPU_FLAG_KICKED : 0;
}

static void wake(struct kb_vcpu *v)
{
	pthread_mutex_lock(&v->wait_lock);
	pthread_cond_broadcast(&v->wait_cond);
	struct kb_port *port = v->bell_wait;
	if (port)
		kb__object_ref(&port->obj);
	pthread_mutex_unlock(&v->wait_lock);
	if (port) {
		kb__port_wake_space(port);
		kb__object_unref(&port->obj);
	}
	/* Atomic: the VCPU thread clears it concurrently (run_loop), and it must be visible
	 * before in_run is read, as run_loop sets in_run before it reads kicked. */
	__atomic_store_n(&v->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
	if (atomic_load(&v->in_run))
		syscall(SYS_tgkill, getpid(), v->runner_tid, KB_KICK_SIGNAL);
}

void kb__vcpu_kick(struct kb_vcpu *v)
{
	atomic_store(&v->kicked, true);
	wake(v);
}

void kb__vcpu_pend(struct kb_vcpu *v, uint32_t vector)
{
	atomic_fetch_or(&v->pending[vector / 64], 1ull << (vector % 64));
}

zx_status_t kb_vcpu_create(kb_table *table, uint64_t tid, zx_handle_t guest, uint32_t options,
			   zx_vaddr_t entry, zx_handle_t *out)
{
	if (options != 0)
		return ZX_ERR_INVALID_ARGS;
	struct kb_object *gobj;
	zx_status_t st =
		kb__handle_get(table, guest, ZX_OBJ_TYPE_GUEST, ZX_RIGHT_MANAGE_THREAD, &gobj, NULL);
	if (st != ZX_OK)
		return st;
	if (!out || entry >= KB_GUEST_ASPACE_SIZE)
		st = ZX_ERR_INVALID_ARGS;
	else if (tid == 0 || kb_table_tid_has_vcpu(table, tid))
		st = ZX_ERR_BAD_STATE;
	struct kb_account *account = kb__table_account(table);
	if (st == ZX_OK)
		st = kb__account_take(&account->vcpus,
				      account->limits.max_vcpus_per_guest * account->limits.max_guests);
	if (st != ZX_OK) {
		kb__object_unref(gobj);
		return st;
	}
	struct kb_vcpu *v = calloc(1, sizeof(*v));
	if (!v) {
		atomic_fetch_sub(&account->vcpus, 1);
		kb__object_unref(gobj);
		return ZX_ERR_NO_MEMORY;
	}
	kb__object_init(&v->obj, ZX_OBJ_TYPE_VCPU, &vcpu_ops, account);
	v->guest = (struct kb_guest *)gobj; /* takes the lookup's reference */
	v->obj.related_koid = gobj->koid;
	v->fd = -1;
	v->tid = tid;
	v->runner = pthread_self();
	v->runner_tid = (pid_t)syscall(SYS_gettid);
	pthread_mutex_init(&v->wait_lock, NULL);
	pthread_condattr_t attr;
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&v->wait_cond, &attr);
	pthread_condattr_destroy(&attr);
	pthread_once(&signal_once, signal_setup);

	st = kb__guest_register_vcpu(v->guest, v, &v->vpid);
	if (st == ZX_OK && !v->recycled) {
		v->fd = ioctl(v->guest->vm_fd, KVM_CREATE_VCPU, (unsigned long)v->kvm_id);
		if (v->fd < 0)
			st = errno == ENOMEM ? ZX_ERR_NO_MEMORY : ZX_ERR_NO_RESOURCES;
	}
	if (st == ZX_OK && !v->recycled) {
		int size = ioctl(kb__kvm_fd(), KVM_GET_VCPU_MMAP_SIZE, 0);
		v->run_size = size > 0 ? (size_t)size : 0;
		v->run = size > 0 ? mmap(NULL, v->run_size, PROT_READ | PROT_WRITE, MAP_SHARED,
					 v->fd, 0)
				  : MAP_FAILED;
		if (v->run == MAP_FAILED) {
			v->run = NULL;
			st = ZX_ERR_NO_MEMORY;
		}
	}
	if (st == ZX_OK)
		st = kb__x86_vcpu_setup(v, entry);
	if (st != ZX_OK) {
		kb__object_unref(&v->obj);
		return st;
	}
	return kb__handle_add_vcpu(table, tid, v, ZX_DEFAULT_VCPU_RIGHTS, out);
}

static bool on_own_thread(const struct kb_vcpu *v, uint64_t tid)
{
	return v->tid == tid && pthread_equal(v->runner, pthread_self());
}

/* Look up a VCPU for a call bound to its thread: handle checks, then the thread rule. */
static zx_status_t get_bound_vcpu(kb_table *table, uint64_t tid, zx_handle_t handle,
				  zx_rights_t rights, struct kb_vcpu **out)
{
	struct kb_object *obj;
	zx_status_t st = kb__handle_get(table, handle, ZX_OBJ_TYPE_VCPU, rights, &obj, NULL);
	if (st != ZX_OK)
		return st;
	struct kb_vcpu *v = (struct kb_vcpu *)obj;
	if (!on_own_thread(v, tid)) {
		kb__object_unref(obj);
		return ZX_ERR_BAD_STATE;
	}
	*out = v;
	return ZX_OK;
}

/* ---- interrupts ---- */

static int highest_pending(struct kb_vcpu *v)
{
	for (int w = 3; w >= 0; w--) {
		uint64_t bits = atomic_load(&v->pending[w]);
		if (bits)
			return w * 64 + 63 - __builtin_clzll(bits);
	}
	return -1;
}

static bool any_pending(struct kb_vcpu *v)
{
	return (atomic_load_explicit(&v->pending[0], memory_order_relaxed) |
		atomic_load_explicit(&v->pending[1], memory_order_relaxed) |
		atomic_load_explicit(&v->pending[2], memory_order_relaxed) |
		atomic_load_explicit(&v->pending[3], memory_order_relaxed)) != 0;
}

static void clear_pending(struct kb_vcpu *v, uint32_t vector)
{
	atomic_fetch_and(&v->pending[vector / 64], ~(1ull << (vector % 64)));
}

/* Zircon's x86 priority, one injection per entry (spec §2.6): NMI first, then the highest
 * pending vector; after an injection the pending exceptions are dropped. */
static zx_status_t inject_pending(struct kb_vcpu *v)
{
	struct kvm_run *run = v->run;
	if (atomic_load(&v->pending[0]) & (1ull << 2)) {
		clear_pending(v, 2);
		if (ioctl(v->fd, KVM_NMI, 0) < 0)
			return ZX_ERR_INTERNAL;
		v->event_queued = true;
		/* An NMI is an injection like any other: the pending exceptions go too. */
		atomic_fetch_and(&v->pending[0], ~0x1ffffbull);
		count_exit(v, KB_EXIT_INTERRUPT);
		return ZX_OK;
	}
	int vec = highest_pending(v);
	if (vec < 0)
		return ZX_OK;
	if (vec >= 21 && vec <= 31) {
		clear_pending(v, (uint32_t)vec);
		return ZX_ERR_NOT_SUPPORTED;
	}
	if (vec >= 32) {
		/* External interrupts wait for IF=1 and no interrupt shadow (KVM api.rst,
		 * "request_interrupt_window" / "ready_for_interrupt_injection"). */
		if (!run->ready_for_interrupt_injection || !run->if_flag) {
			run->request_interrupt_window = 1;
			return ZX_OK;
		}
		struct kvm_interrupt irq = {.irq = (uint32_t)vec};
		if (ioctl(v->fd, KVM_INTERRUPT, &irq) < 0)
			return ZX_ERR_INTERNAL;
		clear_pending(v, (uint32_t)vec);
	} else {
		struct kvm_vcpu_events ev;
		if (ioctl(v->fd, KVM_GET_VCPU_EVENTS, &ev) < 0)
			return ZX_ERR_INTERNAL;
		ev.exception.injected = 1;
		ev.exception.pending = 0;
		ev.exception.nr = (uint8_t)vec;
		/* #DF, #TS, #NP, #SS, #GP, #PF and #AC push an error code, 0 here. */
		ev.exception.has_error_code = vec == 8 || (vec >= 10 && vec <= 14) || vec == 17;
		ev.exception.error_code = 0;
		ev.flags = 0;
		if (ioctl(v->fd, KVM_SET_VCPU_EVENTS, &ev) < 0)
			return ZX_ERR_INTERNAL;
	}
	v->event_queued = true;
	atomic_fetch_and(&v->pending[0], ~0x1ffffbull); /* exceptions 0..20 except NMI (2) */
	run->request_interrupt_window = any_pending(v) && highest_pending(v) >= 32;
	count_exit(v, KB_EXIT_INTERRUPT);
	return ZX_OK;
}

zx_status_t kb_vcpu_interrupt(kb_table *table, zx_handle_t handle, uint32_t vector)
{
	struct kb_object *obj;
	zx_status_t st = kb__handle_get(table, handle, ZX_OBJ_TYPE_VCPU, ZX_RIGHT_SIGNAL, &obj, NULL);
	if (st != ZX_OK)
		return st;
	struct kb_vcpu *v = (struct kb_vcpu *)obj;
	/* Zircon ignores vectors past the architecture's range; its documentation promises
	 * OUT_OF_RANGE, which is what we do (spec §2.6, "Recommend"). */
	if (vector > 255) {
		st = ZX_ERR_OUT_OF_RANGE;
	} else {
		kb__vcpu_pend(v, vector);
		wake(v);
	}
	kb__object_unref(obj);
	return st;
}

zx_status_t kb_vcpu_kick(kb_table *table, zx_handle_t handle)
{
	struct kb_object *obj;
	zx_status_t st =
		kb__handle_get(table, handle, ZX_OBJ_TYPE_VCPU, ZX_RIGHT_EXECUTE, &obj, NULL);
	if (st != ZX_OK)
		return st;
	kb__vcpu_kick((struct kb_vcpu *)obj);
	kb__object_unref(obj);
	return ZX_OK;
}

/* ---- exits ---- */

static zx_status_t get_sregs(struct kb_vcpu *v, struct kvm_sregs *sregs)
{
	return ioctl(v->fd, KVM_GET_SREGS, sregs) < 0 ? ZX_ERR_INTERNAL : ZX_OK;
}

static enum kb_cpu_mode cpu_mode(const struct kvm_sregs *s)
{
	if (!(s->cr0 & 1))
		return KB_MODE_REAL16;
	if ((s->efer & (1u << 10)) && s->cs.l)
		return KB_MODE_LONG64;
	return s->cs.db ? KB_MODE_PROT32 : KB_MODE_PROT16;
}

static const uint64_t *gprs(const struct kvm_regs *r, uint64_t out[16])
{
	const uint64_t in[16] = {r->rax, r->rcx, r->rdx, r->rbx, r->rsp, r->rbp, r->rsi, r->rdi,
				 r->r8,  r->r9,  r->r10, r->r11, r->r12, r->r13, r->r14, r->r15};
	memcpy(out, in, sizeof(in));
	return out;
}

static uint64_t seg_base(const struct kvm_sregs *s, const struct kb_insn *insn)
{
	int seg = insn->seg_override;
	if (cpu_mode(s) == KB_MODE_LONG64)
		return seg == KB_SEG_FS ? s->fs.base : seg == KB_SEG_GS ? s->gs.base : 0;
	/* Without an override we take DS; an rBP/rSP-based operand would use SS, which has the
	 * same base in every flat-segment guest this has to serve. */
	if (seg < 0)
		seg = KB_SEG_DS;
	const struct kvm_segment *segs[] = {&s->es, &s->cs, &s->ss, &s->ds, &s->fs, &s->gs};
	return segs[seg]->base;
}

/* Decode the instruction at linear address la. */
static zx_status_t decode_at(struct kb_vcpu *v, const struct kvm_sregs *s, uint64_t la,
			     struct kb_insn *insn)
{
	uint8_t bytes[KB_INSN_MAX_LEN];
	size_t n = sizeof(bytes);
	/* The instruction may end before an unmapped page: fall back to what is readable. */
	while (n && kb__x86_read_virt(v, s, la, bytes, n) != ZX_OK)
		n = n > 1 ? (KB_PAGE_SIZE - (la & (KB_PAGE_SIZE - 1))) % n : 0;
	if (n == 0 || kb__insn_decode(bytes, n, cpu_mode(s), insn) != 0)
		return ZX_ERR_NOT_SUPPORTED;
	return ZX_OK;
}

/* Whether a MOV store would write the bytes KVM reports (data, len): tells `89 03` from `44 89 03`
 * when the byte before an instruction looks like a prefix. */
static bool store_data_matches(const struct kb_insn *insn, const uint64_t gpr[16],
			       const uint8_t *data, unsigned len)
{
	uint64_t val;
	if (insn->opcode_map != 1 || len > sizeof(val))
		return false;
	switch (insn->opcode) {
	case 0x88:
	case 0x89:
		/* Without REX, byte registers 4-7 are AH-BH (Intel SDM vol 2, 2.1.5). */
		if (insn->opcode == 0x88 && !insn->rex && insn->reg >= 4 && insn->reg < 8)
			val = gpr[insn->reg - 4] >> 8;
		else
			val = gpr[insn->reg];
		break;
	case 0xa2:
	case 0xa3:
		val = gpr[0];
		break;
	case 0xc6:
	case 0xc7:
		val = (uint64_t)insn->imm;
		break;
	default:
		return false;
	}
	return memcmp(&val, data, len) == 0;
}

/* Recover the instruction that ended at next_rip (already retired by KVM): try each length and
 * keep one that decodes to exactly that length with its memory operand on gpa's page. Several
 * lengths can fit, as a prefix (REX, 66) or the last byte of the previous instruction may lead
 * a shorter match: prefer the operand at exactly gpa, then the access size and data KVM
 * reports, then the longest. */
static zx_status_t decode_before(struct kb_vcpu *v, const struct kvm_sregs *s,
				 const struct kvm_regs *regs, uint64_t gpa, struct kb_insn *out)
{
	uint64_t cs = cpu_mode(s) == KB_MODE_LONG64 ? 0 : s->cs.base;
	uint64_t gpr[16];
	gprs(regs, gpr);
	int best_score = -1;
	for (unsigned len = 1; len <= KB_INSN_MAX_LEN; len++) {
		struct kb_insn insn;
		uint64_t start = regs->rip - len;
		if (decode_at(v, s, cs + start, &insn) != ZX_OK || insn.len != len ||
		    !insn.has_mem_operand)
			continue;
		uint64_t ea, ea2, la_gpa;
		if (kb__insn_effective_address(&insn, gpr, regs->rip, &ea, &ea2) != 0)
			continue;
		if (kb__x86_translate(v, s, seg_base(s, &insn) + ea, &la_gpa) != ZX_OK ||
		    (la_gpa & ~(KB_PAGE_SIZE - 1)) != (gpa & ~(KB_PAGE_SIZE - 1)))
			continue;
		int score = (la_gpa == gpa) * 4 + (insn.operand_size == v->run->mmio.len) * 2 +
			    store_data_matches(&insn, gpr, v->run->mmio.data, v->run->mmio.len);
		if (score >= best_score) {
			best_score = score;
			*out = insn;
		}
	}
	return best_score >= 0 ? ZX_OK : ZX_ERR_NOT_FOUND;
}

/* A load whose only effect is its destination register (MOV, MOVZX, MOVSX): KVM can finish it
 * with the VMM's registers in a single KVM_RUN (see run_loop). Anything else also computes
 * flags, stores, or both from the data it read. */
static bool is_plain_load(const struct kb_insn *insn)
{
	if (insn->opcode_map == 1)
		return insn->opcode == 0x8a || insn->opcode == 0x8b || insn->opcode == 0xa0 ||
		       insn->opcode == 0xa1;
	return insn->opcode_map == 2 && (insn->opcode == 0xb6 || insn->opcode == 0xb7 ||
					 insn->opcode == 0xbe || insn->opcode == 0xbf);
}

zx_status_t kb__vcpu_finish_pending(struct kb_vcpu *v)
{
	struct kvm_run *run = v->run;
	zx_status_t st = ZX_ERR_NOT_SUPPORTED;
	/* A read-modify-write stores once; more steps would be string or split accesses. */
	for (int i = 0; i < 4; i++) {
		__atomic_store_n(&run->immediate_exit, 1, __ATOMIC_SEQ_CST);
		int r = ioctl(v->fd, KVM_RUN, 0);
		int err = errno;
		if (r < 0 && (err == EINTR || err == EAGAIN)) {
			st = ZX_OK;
			break;
		}
		if (r < 0) {
			st = err == EFAULT ? ZX_ERR_NOT_FOUND : ZX_ERR_INTERNAL;
			break;
		}
		if (run->exit_reason != KVM_EXIT_MMIO && run->exit_reason != KVM_EXIT_IO)
			break;
	}
	__atomic_store_n(&run->immediate_exit, 0, __ATOMIC_SEQ_CST);
	return st;
}

/* Finish a pending MMIO read the way Zircon does: the instruction is retired and only what the
 * VMM wrote reaches the registers. KVM would instead finish it from run->mmio.data: flags of
 * TEST/CMP/ADD, and the store of a read-modify-write (OR, INC, XCHG...) as a second MMIO exit.
 * So let KVM retire it without entering the guest, dropping any store it makes, then load the
 * VMM's registers at the new RIP. Costs one or two extra KVM_RUNs, only for such instructions. */
static zx_status_t retire_mmio_read(struct kb_vcpu *v)
{
	struct kvm_run *run = v->run;
	struct kvm_regs want = run->s.regs.regs;
	zx_status_t st = kb__vcpu_finish_pending(v);
	if (st == ZX_OK) {
		want.rip = run->s.regs.regs.rip;
		run->s.regs.regs = want;
		run->kvm_dirty_regs |= KVM_SYNC_X86_REGS;
	}
	return st;
}

static zx_status_t mem_exit(struct kb_vcpu *v, const struct kb_trap *trap,
			    zx_port_packet_t *packet)
{
	struct kvm_run *run = v->run;
	struct kvm_sregs s;
	zx_status_t st = get_sregs(v, &s);
	if (st != ZX_OK)
		return st;
	struct kvm_regs *regs = &run->s.regs.regs;
	struct kb_insn insn = {0};
	uint64_t rip = regs->rip;
	if (run->mmio.is_write) {
		/* KVM retires an MMIO write before it exits (its emulator writes back first). */
		if (decode_before(v, &s, regs, run->mmio.phys_addr, &insn) == ZX_OK)
			rip -= insn.len;
	} else {
		/* A read is completed by the next KVM_RUN, which also advances RIP. */
		uint64_t cs = cpu_mode(&s) == KB_MODE_LONG64 ? 0 : s.cs.base;
		v->mmio_read_plain = decode_at(v, &s, cs + rip, &insn) == ZX_OK && is_plain_load(&insn);
		v->mmio_read_rflags = regs->rflags;
		v->pending_io = KB_PENDING_MMIO_READ;
	}
	*packet = (zx_port_packet_t){.key = trap->key, .type = ZX_PKT_TYPE_GUEST_MEM};
	packet->guest_mem.addr = run->mmio.phys_addr;
	packet->guest_mem.cr3 = s.cr3;
	packet->guest_mem.rip = rip;
	packet->guest_mem.instruction_size = insn.len;
	/* Intel SDM vol 3, 5.2.1: 4 in 64-bit mode (Zircon reports 4 there), else CS.D. */
	packet->guest_mem.default_operand_size =
		((s.efer & (1u << 10)) && s.cs.l) ? 4 : s.cs.db ? 4 : 2;
	count_exit(v, KB_EXIT_MEM);
	return ZX_OK;
}

static zx_status_t bell_exit(struct kb_vcpu *v, struct kb_trap *trap, struct kb_trap *live)
{
	if (!v->run->mmio.is_write)
		return ZX_ERR_NOT_SUPPORTED; /* reading a bell region (spec §3.1) */
	zx_port_packet_t p = {.key = trap->key, .type = ZX_PKT_TYPE_GUEST_BELL};
	p.guest_bell.addr = v->run->mmio.phys_addr;
	pthread_mutex_lock(&v->wait_lock);
	v->bell_wait = trap->port;
	pthread_mutex_unlock(&v->wait_lock);
	zx_status_t st = kb__port_queue_bell(trap->port, live, &p, &v->kicked);
	pthread_mutex_lock(&v->wait_lock);
	v->bell_wait = NULL;
	pthread_mutex_unlock(&v->wait_lock);
	if (st == ZX_ERR_CANCELED)
		return ZX_OK; /* the loop reports the kick */
	count_exit(v, KB_EXIT_BELL);
	return st;
}

static zx_status_t mmio_exit(struct kb_vcpu *v, zx_port_packet_t *packet, bool *out_packet)
{
	uint64_t gpa = v->run->mmio.phys_addr;
	struct kb_trap trap, *live = NULL;
	/* No trap: beyond the address space, or a mapping past its VMO's end, is OUT_OF_RANGE;
	 * an address nothing is mapped at NOT_FOUND (spec §3.1). */
	if (!kb__guest_find_trap(v->guest, false, gpa, &trap, &live))
		return gpa >= KB_GUEST_ASPACE_SIZE || kb__guest_unbacked(v->guest, gpa)
			       ? ZX_ERR_OUT_OF_RANGE
			       : ZX_ERR_NOT_FOUND;
	zx_status_t st;
	if (trap.kind == ZX_GUEST_TRAP_BELL) {
		st = bell_exit(v, &trap, live);
		kb__object_unref(&trap.port->obj);
	} else {
		st = mem_exit(v, &trap, packet);
		*out_packet = st == ZX_OK;
	}
	return st;
}

/* Whether insn is the port IO of this exit: its direction, size and port (imm8 for E4-E7, else
 * DX) are those KVM reports. */
static bool io_insn_matches(const struct kb_insn *insn, const struct kvm_run *run)
{
	if (!insn->is_io || insn->opcode_map != 1)
		return false;
	bool out = insn->opcode & 2; /* E6, E7, EE, EF, 6E, 6F */
	uint64_t port = (insn->opcode & 0xf8) == 0xe0 ? (uint64_t)insn->imm : run->s.regs.regs.rdx;
	return out == (run->io.direction == KVM_EXIT_IO_OUT) && insn->operand_size == run->io.size &&
	       (uint16_t)port == run->io.port;
}

/* Whether the port-IO instruction behind this exit is a string one (INS/OUTS), which Zircon
 * does not support (spec §3.2). KVM does not say, so decode it once per RIP. */
static bool io_is_string(struct kb_vcpu *v)
{
	struct kvm_run *run = v->run;
	uint64_t rip = run->s.regs.regs.rip;
	uint32_t key = run->io.port | (uint32_t)run->io.size << 16 |
		       (uint32_t)(run->io.direction == KVM_EXIT_IO_IN) << 24 | 1u << 31;
	struct kb_io_class *c = &v->io_class[(rip ^ (rip >> 7)) % KB_IO_CLASS_ENTRIES];
	if (c->rip == rip && c->key == key)
		return c->is_string;
	struct kvm_sregs s;
	if (get_sregs(v, &s) != ZX_OK)
		return false;
	uint64_t cs = cpu_mode(&s) == KB_MODE_LONG64 ? 0 : s.cs.base;
	struct kb_insn insn;
	bool found = false, is_string = false;
	/* An `in` exits before it retires, and so does an `out` on hardware-assisted KVM: the
	 * instruction is at RIP. PVM's CPL0 emulator retires an `out` first: it ends at RIP. Look
	 * where it most likely is first, and take only an instruction with this exit's direction,
	 * size and port, as the next one may be port IO too (`outsb` then `out`). */
	bool retired_first = run->io.direction == KVM_EXIT_IO_OUT && v->guest->pvm;
	for (int pass = 0; pass < 2 && !found; pass++) {
		if ((pass == 0) != retired_first) {
			found = decode_at(v, &s, cs + rip, &insn) == ZX_OK &&
				io_insn_matches(&insn, run);
			continue;
		}
		for (unsigned len = 1; !found && len <= KB_INSN_MAX_LEN && len <= rip; len++)
			found = decode_at(v, &s, cs + rip - len, &insn) == ZX_OK &&
				insn.len == len && io_insn_matches(&insn, run);
	}
	if (found)
		is_string = insn.is_string;
	*c = (struct kb_io_class){.rip = rip, .key = key, .is_string = is_string};
	return is_string;
}

static zx_status_t io_exit(struct kb_vcpu *v, zx_port_packet_t *packet)
{
	struct kvm_run *run = v->run;
	struct kb_trap trap;
	if (run->io.count != 1 || io_is_string(v))
		return ZX_ERR_NOT_SUPPORTED;
	if (!kb__guest_find_trap(v->guest, true, run->io.port, &trap, NULL))
		return ZX_ERR_NOT_FOUND;
	uint8_t *data = (uint8_t *)run + run->io.data_offset;
	*packet = (zx_port_packet_t){.key = trap.key, .type = ZX_PKT_TYPE_GUEST_IO};
	packet->guest_io.port = run->io.port;
	packet->guest_io.access_size = run->io.size;
	packet->guest_io.input = run->io.direction == KVM_EXIT_IO_IN;
	if (run->io.direction == KVM_EXIT_IO_OUT) {
		memcpy(packet->guest_io.data, data, run->io.size);
	} else {
		/* KVM merges run->io into RAX at the next KVM_RUN (1/2 bytes keep the upper bytes,
		 * 4 bytes zero-extend, as Zircon does). Until write_state(ZX_VCPU_IO) supplies a
		 * value, the result is what RAX held: Zircon leaves RAX alone (4 bytes: zero). */
		uint64_t rax = run->s.regs.regs.rax;
		memset(data, 0, 4);
		if (run->io.size < 4)
			memcpy(data, &rax, run->io.size);
		v->pending_io = KB_PENDING_IN;
		v->in_size = run->io.size;
	}
	count_exit(v, KB_EXIT_IO);
	return ZX_OK;
}

/* PVM: VMCALL at CPL0 raises #UD (hypercall quirk off), which with Zircon's empty IDT becomes
 * a triple fault. Complete it as KVM's hypercall ABI would (spec §5.3 VMCALL; recipe in
 * notes/pvm-guest-execution.md "VMCALL"). Returns true when handled. */
static bool vmcall_fixup(struct kb_vcpu *v)
{
	struct kvm_sregs s;
	struct kvm_regs *regs = &v->run->s.regs.regs;
	uint8_t b[3];
	if (get_sregs(v, &s) != ZX_OK)
		return false;
	uint64_t cs = cpu_mode(&s) == KB_MODE_LONG64 ? 0 : s.cs.base;
	if (kb__x86_read_virt(v, &s, cs + regs->rip, b, 3) != ZX_OK || b[0] != 0x0f ||
	    b[1] != 0x01 || (b[2] != 0xc1 && b[2] != 0xd9))
		return false;
	struct kvm_vcpu_events ev;
	if (ioctl(v->fd, KVM_GET_VCPU_EVENTS, &ev) < 0)
		return false;
	ev.exception.injected = 0;
	ev.exception.pending = 0;
	ev.flags = 0;
	if (ioctl(v->fd, KVM_SET_VCPU_EVENTS, &ev) < 0)
		return false;
	/* KVM's ABI: -KVM_EPERM from CPL != 0, -KVM_ENOSYS for unknown numbers. */
	regs->rax = s.cs.dpl != 0 ? (uint64_t)-1 : (uint64_t)-1000;
	regs->rip += 3;
	v->run->kvm_dirty_regs |= KVM_SYNC_X86_REGS;
	return true;
}

/* Instructions PVM's CPL0 emulator lacks but a kernel needs (notes/pvm-guest-execution.md):
 * STAC and CLAC only set or clear RFLAGS.AC. */
static bool emulation_fixup(struct kb_vcpu *v)
{
	struct kvm_run *run = v->run;
	if (run->internal.suberror != KVM_INTERNAL_ERROR_EMULATION ||
	    !(run->emulation_failure.flags & KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES) ||
	    run->emulation_failure.insn_size < 3)
		return false;
	const uint8_t *b = run->emulation_failure.insn_bytes;
	if (b[0] != 0x0f || b[1] != 0x01 || (b[2] != 0xca && b[2] != 0xcb))
		return false;
	struct kvm_regs *regs = &run->s.regs.regs;
	if (b[2] == 0xcb)
		regs->rflags |= 1ull << 18;
	else
		regs->rflags &= ~(1ull << 18);
	regs->rip += 3;
	run->kvm_dirty_regs |= KVM_SYNC_X86_REGS;
	return true;
}

/* HLT: wait in here for an interrupt, a kick or the timer (spec §5.3 HLT). */
static void halt_wait(struct kb_vcpu *v)
{
	count_exit(v, KB_EXIT_HLT);
	pthread_mutex_lock(&v->wait_lock);
	while (!any_pending(v) && !atomic_load(&v->kicked)) {
		zx_time_t deadline = v->apic.deadline_ns;
		if (deadline == 0) {
			pthread_cond_wait(&v->wait_cond, &v->wait_lock);
			continue;
		}
		struct timespec ts = {.tv_sec = deadline / 1000000000,
				      .tv_nsec = deadline % 1000000000};
		if (pthread_cond_timedwait(&v->wait_cond, &v->wait_lock, &ts) == ETIMEDOUT) {
			pthread_mutex_unlock(&v->wait_lock);
			kb__x86_timer_check(v, kb_clock_monotonic());
			pthread_mutex_lock(&v->wait_lock);
		}
	}
	pthread_mutex_unlock(&v->wait_lock);
}

/* Run until an exit that returns to the caller. The one switch over exit reasons. */
static zx_status_t run_loop(struct kb_vcpu *v, zx_port_packet_t *packet)
{
	struct kvm_run *run = v->run;
	tls_run = run;
	for (;;) {
		/* wake() sets immediate_exit even when the VCPU is not in KVM_RUN; what it
		 * announced (a kick, a vector) is checked below, so drop the stale request
		 * rather than pay for a KVM_RUN that returns at once. A full barrier, so that
		 * the checks below cannot run before the clear: a wake() they miss sets
		 * immediate_exit again after it. */
		__atomic_store_n(&run->immediate_exit, 0, __ATOMIC_SEQ_CST);
		if (atomic_exchange(&v->kicked, false)) {
			count_exit(v, KB_EXIT_KICK);
			return ZX_ERR_CANCELED;
		}
		if (v->apic.deadline_ns)
			kb__x86_timer_check(v, kb_clock_monotonic());
		/* After an MMIO read, Zircon leaves the destination register to the VMM's
		 * write_state. For a plain load, a register load makes KVM skip its own write of
		 * mmio.data (notes/pvm-guest-execution.md, "Exits"); everything else, or a VMM that
		 * changed RFLAGS, needs the instruction retired first. */
		if (v->pending_io == KB_PENDING_MMIO_READ) {
			if (v->mmio_read_plain && run->s.regs.regs.rflags == v->mmio_read_rflags) {
				run->kvm_dirty_regs |= KVM_SYNC_X86_REGS;
			} else {
				zx_status_t st = retire_mmio_read(v);
				v->pending_io = KB_PENDING_NONE;
				if (st != ZX_OK) {
					count_exit(v, KB_EXIT_ERROR);
					return st;
				}
			}
		}
		/* One injection per entry (spec §2.6): while an event waits in KVM for an entry
		 * (KVM_RUN was interrupted before it), queueing another would deliver them out
		 * of Zircon's order, e.g. an interrupt before the NMI queued ahead of it. */
		if (any_pending(v) && !v->event_queued) {
			zx_status_t st = inject_pending(v);
			if (st != ZX_OK)
				return st;
		}
		atomic_store(&v->in_run, 1);
		if (atomic_load(&v->kicked)) {
			atomic_store(&v->in_run, 0);
			continue;
		}
		int r = ioctl(v->fd, KVM_RUN, 0);
		int err = errno;
		atomic_store(&v->in_run, 0);
		v->pending_io = KB_PENDING_NONE;
		if (r < 0) {
			__atomic_store_n(&run->immediate_exit, 0, __ATOMIC_SEQ_CST);
			if (err == EINTR || err == EAGAIN)
				continue;
			count_exit(v, KB_EXIT_ERROR);
			return err == EFAULT ? ZX_ERR_NOT_FOUND : ZX_ERR_INTERNAL;
		}
		/* An exit means the guest was entered, and KVM delivers queued events first. */
		v->event_queued = false;

		zx_status_t st = ZX_OK;
		bool out = false;
		switch (run->exit_reason) {
		case KVM_EXIT_IO:
			st = io_exit(v, packet);
			out = st == ZX_OK;
			break;
		case KVM_EXIT_MMIO:
			st = mmio_exit(v, packet, &out);
			break;
		case KVM_EXIT_X86_RDMSR:
		case KVM_EXIT_X86_WRMSR:
			count_exit(v, KB_EXIT_MSR);
			st = kb__x86_msr_exit(v, packet, &out);
			if (out)
				count_exit(v, KB_EXIT_VCPU_PACKET);
			break;
		case KVM_EXIT_HLT:
			halt_wait(v);
			break;
		case KVM_EXIT_IRQ_WINDOW_OPEN:
		case KVM_EXIT_INTR:
			break;
		case KVM_EXIT_SHUTDOWN:
			st = v->guest->pvm && vmcall_fixup(v) ? ZX_OK : ZX_ERR_NOT_SUPPORTED;
			break;
		case KVM_EXIT_INTERNAL_ERROR:
			st = emulation_fixup(v) ? ZX_OK : ZX_ERR_NOT_SUPPORTED;
			break;
		case KVM_EXIT_FAIL_ENTRY:
			st = ZX_ERR_BAD_STATE;
			break;
		default:
			st = ZX_ERR_NOT_SUPPORTED;
			break;
		}
		if (st != ZX_OK) {
			count_exit(v, KB_EXIT_ERROR);
			return st;
		}
		if (out)
			return ZX_OK;
	}
}

zx_status_t kb_vcpu_enter(kb_table *table, uint64_t tid, zx_handle_t handle,
			  zx_port_packet_t *out_packet)
{
	struct kb_vcpu *v;
	zx_status_t st = get_bound_vcpu(table, tid, handle, ZX_RIGHT_EXECUTE, &v);
	if (st != ZX_OK)
		return st;
	zx_port_packet_t packet;
	st = out_packet ? run_loop(v, &packet) : ZX_ERR_INVALID_ARGS;
	if (st == ZX_OK)
		*out_packet = packet;
	kb__object_unref(&v->obj);
	return st;
}

/* ---- state ---- */

/* RAX as the guest will see it once a pending `in` completes. */
static uint64_t visible_rax(const struct kb_vcpu *v)
{
	uint64_t rax = v->run->s.regs.regs.rax;
	if (v->pending_io == KB_PENDING_IN) {
		const uint8_t *data = (const uint8_t *)v->run + v->run->io.data_offset;
		if (v->in_size == 4)
			rax = 0;
		memcpy(&rax, data, v->in_size);
	}
	return rax;
}

zx_status_t kb_vcpu_read_state(kb_table *table, uint64_t tid, zx_handle_t handle, uint32_t kind,
			       void *buffer, size_t buffer_size)
{
	struct kb_object *obj;
	zx_status_t st = kb__handle_get(table, handle, ZX_OBJ_TYPE_VCPU, ZX_RIGHT_READ, &obj, NULL);
	if (st != ZX_OK)
		return st;
	struct kb_vcpu *v = (struct kb_vcpu *)obj;
	/* Kind and size are the syscall's to check, right after the handle; the thread rule is
	 * the VCPU's, after them (spec §2.7; Zircon's sys_vcpu_read_state, then ReadState). */
	if (kind != ZX_VCPU_STATE || buffer_size != sizeof(zx_vcpu_state_t) || !buffer)
		st = ZX_ERR_INVALID_ARGS;
	else if (!on_own_thread(v, tid))
		st = ZX_ERR_BAD_STATE;
	if (st != ZX_OK) {
		kb__object_unref(obj);
		return st;
	}
	const struct kvm_regs *r = &v->run->s.regs.regs;
	zx_vcpu_state_t s = {
		.rax = visible_rax(v), .rcx = r->rcx, .rdx = r->rdx, .rbx = r->rbx,
		.rsp = r->rsp,         .rbp = r->rbp, .rsi = r->rsi, .rdi = r->rdi,
		.r8 = r->r8,           .r9 = r->r9,   .r10 = r->r10, .r11 = r->r11,
		.r12 = r->r12,         .r13 = r->r13, .r14 = r->r14, .r15 = r->r15,
		.rflags = r->rflags & KB_X86_FLAGS_USER,
	};
	memcpy(buffer, &s, sizeof(s));
	kb__object_unref(&v->obj);
	return ZX_OK;
}

/* With an `in` pending, KVM will merge run->io into RAX: keep the two consistent so that the
 * guest sees exactly `rax`. */
static void set_rax(struct kb_vcpu *v, uint64_t rax)
{
	struct kvm_run *run = v->run;
	run->s.regs.regs.rax = rax;
	run->kvm_dirty_regs |= KVM_SYNC_X86_REGS;
	if (v->pending_io == KB_PENDING_IN)
		memcpy((uint8_t *)run + run->io.data_offset, &rax, v->in_size);
}

static zx_status_t write_io(struct kb_vcpu *v, const zx_vcpu_io_t *io)
{
	if (io->access_size != 1 && io->access_size != 2 && io->access_size != 4)
		return ZX_ERR_INVALID_ARGS;
	uint64_t rax = visible_rax(v);
	memcpy(&rax, io->data, io->access_size);
	if (v->pending_io == KB_PENDING_IN && io->access_size <= v->in_size)
		/* The common case: only the `in` result changes, no register load needed. */
		memcpy((uint8_t *)v->run + v->run->io.data_offset, &rax, v->in_size);
	else
		set_rax(v, rax);
	return ZX_OK;
}

static void write_regs(struct kb_vcpu *v, const zx_vcpu_state_t *s)
{
	struct kvm_regs *r = &v->run->s.regs.regs;
	r->rcx = s->rcx;
	r->rdx = s->rdx;
	r->rbx = s->rbx;
	r->rsp = s->rsp;
	r->rbp = s->rbp;
	r->rsi = s->rsi;
	r->rdi = s->rdi;
	r->r8 = s->r8;
	r->r9 = s->r9;
	r->r10 = s->r10;
	r->r11 = s->r11;
	r->r12 = s->r12;
	r->r13 = s->r13;
	r->r14 = s->r14;
	r->r15 = s->r15;
	/* RFLAGS only when the always-one bit is set; then only the user bits (spec §2.8). */
	if (s->rflags & KB_X86_FLAGS_RESERVED_ONES)
		r->rflags = (r->rflags & ~KB_X86_FLAGS_USER) | (s->rflags & KB_X86_FLAGS_USER);
	set_rax(v, s->rax);
}

zx_status_t kb_vcpu_write_state(kb_table *table, uint64_t tid, zx_handle_t handle, uint32_t kind,
				const void *buffer, size_t buffer_size)
{
	struct kb_object *obj;
	zx_status_t st =
		kb__handle_get(table, handle, ZX_OBJ_TYPE_VCPU, ZX_RIGHT_WRITE, &obj, NULL);
	if (st != ZX_OK)
		return st;
	struct kb_vcpu *v = (struct kb_vcpu *)obj;
	bool is_state = kind == ZX_VCPU_STATE && buffer_size == sizeof(zx_vcpu_state_t);
	bool is_io = kind == ZX_VCPU_IO && buffer_size == sizeof(zx_vcpu_io_t);
	/* As in read_state: kind and size first, then the thread (spec §2.8). */
	if (!buffer || (!is_state && !is_io))
		st = ZX_ERR_INVALID_ARGS;
	else if (!on_own_thread(v, tid))
		st = ZX_ERR_BAD_STATE;
	else if (is_state) {
		zx_vcpu_state_t s;
		memcpy(&s, buffer, sizeof(s));
		write_regs(v, &s);
	} else {
		zx_vcpu_io_t io;
		memcpy(&io, buffer, sizeof(io));
		st = write_io(v, &io);
	}
	kb__object_unref(&v->obj);
	return st;
}
