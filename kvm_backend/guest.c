/* Guests, the guest-physical VMAR and traps (spec §2.1, §2.2, §4 zx_vmar_*).
 *
 * A guest is a KVM VM. Each VMAR mapping is one KVM memslot backed by a host view of its VMO's
 * memfd; a mapping that is split (partial unmap/protect) becomes several memslots sharing the
 * view. MEM/BELL traps and IO traps are kept in two sorted arrays (no two ranges of a space
 * overlap, so a binary search finds the one containing an address). */
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <zircon/errors.h>
#include <zircon/rights.h>
#include <zircon/syscalls/resource.h>

#include "kb-internal.h"
#include "vcpu-internal.h"

static int kvm_fd = -1;
static const char *kvm_unusable_reason;
static pthread_once_t kvm_once = PTHREAD_ONCE_INIT;
static struct kvm_cpuid2 *supported_cpuid;
static int nr_memslots;
static bool host_is_pvm;

static void kvm_open_once(void)
{
	int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		kvm_unusable_reason = errno == ENOENT ? "/dev/kvm does not exist"
						      : "/dev/kvm cannot be opened (permissions?)";
		return;
	}
	if (ioctl(fd, KVM_GET_API_VERSION, 0) != KVM_API_VERSION) {
		kvm_unusable_reason = "/dev/kvm has an unexpected API version";
		close(fd);
		return;
	}
	/* Everything the backend relies on (notes/kvm-on-this-machine.md lists what exists). */
	static const struct {
		int cap;
		const char *what;
	} required[] = {
		{KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT"},
		{KVM_CAP_SYNC_REGS, "KVM_CAP_SYNC_REGS"},
		{KVM_CAP_X86_USER_SPACE_MSR, "KVM_CAP_X86_USER_SPACE_MSR"},
		{KVM_CAP_X86_MSR_FILTER, "KVM_CAP_X86_MSR_FILTER"},
		{KVM_CAP_VCPU_EVENTS, "KVM_CAP_VCPU_EVENTS"},
		{KVM_CAP_EXT_CPUID, "KVM_CAP_EXT_CPUID"},
		{KVM_CAP_XCRS, "KVM_CAP_XCRS"},
		{KVM_CAP_READONLY_MEM, "KVM_CAP_READONLY_MEM"},
	};
	for (size_t i = 0; i < ZXVM_ARRAY_SIZE(required); i++) {
		if (ioctl(fd, KVM_CHECK_EXTENSION, required[i].cap) <= 0) {
			kvm_unusable_reason = required[i].what;
			close(fd);
			return;
		}
	}
	nr_memslots = ioctl(fd, KVM_CHECK_EXTENSION, KVM_CAP_NR_MEMSLOTS);
	if (nr_memslots <= 0)
		nr_memslots = 32;
	for (int n = 64; n <= 4096; n *= 2) {
		struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + n * sizeof(c->entries[0]));
		if (!c)
			break;
		c->nent = (uint32_t)n;
		if (ioctl(fd, KVM_GET_SUPPORTED_CPUID, c) == 0) {
			supported_cpuid = c;
			break;
		}
		free(c);
		if (errno != E2BIG)
			break;
	}
	if (!supported_cpuid) {
		kvm_unusable_reason = "KVM_GET_SUPPORTED_CPUID failed";
		close(fd);
		return;
	}
	host_is_pvm = access("/sys/module/kvm_pvm", F_OK) == 0;
	kvm_fd = fd;
}

int kb__kvm_fd(void)
{
	pthread_once(&kvm_once, kvm_open_once);
	return kvm_fd;
}

zx_status_t kb_platform_check(const char **out_reason)
{
	if (kb__kvm_fd() >= 0)
		return ZX_OK;
	if (out_reason)
		*out_reason = kvm_unusable_reason;
	return ZX_ERR_NOT_SUPPORTED;
}

/* ---- traps ---- */

/* Trap memory lives as long as the guest: a VCPU thread may be using a trap it looked up while
 * the last guest handle goes away; cancelling marks it dead so no packet refers to it. */
static void trap_free(struct kb_trap *trap)
{
	if (trap->port) {
		kb__port_cancel_trap(trap->port, trap);
		kb__object_unref(&trap->port->obj);
	}
	free(trap);
}

static void guest_clear_traps_locked(struct kb_guest *g)
{
	for (uint32_t i = 0; i < g->nmem_traps; i++)
		trap_free(g->mem_traps[i]);
	for (uint32_t i = 0; i < g->nio_traps; i++)
		trap_free(g->io_traps[i]);
	g->nmem_traps = g->nio_traps = 0;
}

/* Index of the first trap whose end is above addr. */
static uint32_t trap_search(struct kb_trap **traps, uint32_t n, uint64_t addr)
{
	uint32_t lo = 0, hi = n;
	while (lo < hi) {
		uint32_t mid = (lo + hi) / 2;
		if (traps[mid]->addr + traps[mid]->size <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

bool kb__guest_find_trap(struct kb_guest *guest, bool is_io, uint64_t addr, struct kb_trap *out,
			 struct kb_trap **out_trap)
{
	pthread_mutex_lock(&guest->lock);
	struct kb_trap **traps = is_io ? guest->io_traps : guest->mem_traps;
	uint32_t n = guest->traps_closed ? 0 : is_io ? guest->nio_traps : guest->nmem_traps;
	uint32_t i = trap_search(traps, n, addr);
	bool found = i < n && traps[i]->addr <= addr;
	if (found) {
		/* Only what never changes after set_trap: bells_in_flight and dead are the
		 * port's, guarded by its lock, not ours. */
		const struct kb_trap *t = traps[i];
		*out = (struct kb_trap){
			.kind = t->kind, .addr = t->addr, .size = t->size, .key = t->key, .port = t->port};
		if (out->port)
			kb__object_ref(&out->port->obj);
		if (out_trap)
			*out_trap = traps[i];
	}
	pthread_mutex_unlock(&guest->lock);
	return found;
}

/* ---- memory mappings ---- */

static uint32_t map_search(const struct kb_guest *g, uint64_t gpa)
{
	uint32_t lo = 0, hi = g->nmaps;
	while (lo < hi) {
		uint32_t mid = (lo + hi) / 2;
		if (g->maps[mid].gpa + g->maps[mid].len <= gpa)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* How much of a mapping, from its start, its VMO has pages for. A mapping made with
 * ZX_VM_ALLOW_FAULTS may run past the VMO's end; only the part before it is a memslot and may be
 * touched through m->host (past the end of the memfd a touch is SIGBUS). */
static uint64_t map_backed(const struct kb_mapping *m)
{
	if (m->vmo_offset >= m->vmo->size)
		return 0;
	uint64_t rest = m->vmo->size - m->vmo_offset;
	return rest < m->len ? rest : m->len;
}

static zx_status_t slot_set(struct kb_guest *g, const struct kb_mapping *m, bool remove)
{
	struct kvm_userspace_memory_region r = {
		.slot = m->slot,
		.flags = (m->perms & ZX_VM_PERM_WRITE) ? 0 : KVM_MEM_READONLY,
		.guest_phys_addr = m->gpa,
		.memory_size = remove ? 0 : map_backed(m),
		.userspace_addr = (uint64_t)(uintptr_t)m->host,
	};
	if (ioctl(g->vm_fd, KVM_SET_USER_MEMORY_REGION, &r) < 0)
		return errno == EINVAL ? ZX_ERR_INVALID_ARGS : zxvm_status_from_errno(errno);
	return ZX_OK;
}

static zx_status_t slot_alloc(struct kb_guest *g, uint32_t *out)
{
	for (uint32_t i = 0; i < g->nslots; i++) {
		if (!g->slot_used[i]) {
			g->slot_used[i] = 1;
			*out = i;
			return ZX_OK;
		}
	}
	return ZX_ERR_NO_RESOURCES;
}

/* Insert m (its slot not yet allocated) at index i and make it live in KVM. A mapping without
 * any permission gets no memslot: every access to it exits and finds nothing (NOT_FOUND); nor
 * does one wholly past its VMO's end (OUT_OF_RANGE, see kb__guest_unbacked). */
static zx_status_t map_insert_locked(struct kb_guest *g, uint32_t i, struct kb_mapping *m)
{
	if (g->nmaps == g->maps_cap) {
		uint32_t ncap = g->maps_cap ? g->maps_cap * 2 : 8;
		struct kb_mapping *n = realloc(g->maps, ncap * sizeof(*n));
		if (!n)
			return ZX_ERR_NO_MEMORY;
		g->maps = n;
		g->maps_cap = ncap;
	}
	m->slot = UINT32_MAX;
	if ((m->perms & ZX_VM_PERM_READ) && map_backed(m)) {
		zx_status_t st = slot_alloc(g, &m->slot);
		if (st == ZX_OK) {
			st = slot_set(g, m, false);
			if (st != ZX_OK)
				g->slot_used[m->slot] = 0;
		}
		if (st != ZX_OK)
			return st;
	}
	memmove(&g->maps[i + 1], &g->maps[i], (g->nmaps - i) * sizeof(*m));
	g->maps[i] = *m;
	g->nmaps++;
	return ZX_OK;
}

/* Remove mapping i from KVM and the array; unmap its host view and drop its VMO. */
static void map_remove_locked(struct kb_guest *g, uint32_t i)
{
	struct kb_mapping m = g->maps[i];
	if (m.slot != UINT32_MAX) {
		slot_set(g, &m, true);
		g->slot_used[m.slot] = 0;
	}
	munmap(m.host, m.len);
	kb__object_unref(&m.vmo->obj);
	memmove(&g->maps[i], &g->maps[i + 1], (g->nmaps - i - 1) * sizeof(m));
	g->nmaps--;
}

/* Make gpa a mapping boundary: split the mapping that strictly contains it. */
static zx_status_t map_split_locked(struct kb_guest *g, uint64_t gpa)
{
	uint32_t i = map_search(g, gpa);
	if (i >= g->nmaps || g->maps[i].gpa >= gpa)
		return ZX_OK;
	struct kb_mapping m = g->maps[i];
	uint64_t left = gpa - m.gpa;
	struct kb_mapping a = m, b = m;
	a.len = left;
	b.gpa = gpa;
	b.len = m.len - left;
	b.host = m.host + left;
	b.vmo_offset = m.vmo_offset + left;
	if (m.slot != UINT32_MAX) {
		/* KVM cannot shrink a memslot: delete it and add both halves. */
		slot_set(g, &m, true);
		g->slot_used[m.slot] = 0;
	}
	memmove(&g->maps[i], &g->maps[i + 1], (g->nmaps - i - 1) * sizeof(m));
	g->nmaps--;
	kb__object_ref(&m.vmo->obj);
	zx_status_t st = map_insert_locked(g, i, &a);
	if (st == ZX_OK)
		st = map_insert_locked(g, i + 1, &b);
	else
		kb__object_unref(&m.vmo->obj);
	return st;
}

/* Remove every mapping inside [addr, addr + len), splitting those that straddle its ends.
 * Returns whether anything was mapped there. */
static zx_status_t unmap_range_locked(struct kb_guest *g, uint64_t addr, uint64_t len,
				      bool *out_found)
{
	zx_status_t st = map_split_locked(g, addr);
	if (st == ZX_OK)
		st = map_split_locked(g, addr + len);
	if (st != ZX_OK)
		return st;
	bool found = false;
	uint32_t i = map_search(g, addr);
	while (i < g->nmaps && g->maps[i].gpa < addr + len) {
		map_remove_locked(g, i);
		found = true;
	}
	if (out_found)
		*out_found = found;
	return ZX_OK;
}

/* Copy between buf and guest RAM at gpa (one or more mappings, in order). NOT_FOUND where
 * nothing is mapped, OUT_OF_RANGE past the end of a mapping's VMO. */
static zx_status_t guest_copy(struct kb_guest *g, uint64_t gpa, uint8_t *buf, size_t len,
			      bool write)
{
	zx_status_t st = ZX_OK;
	pthread_mutex_lock(&g->lock);
	while (len) {
		uint32_t i = map_search(g, gpa);
		if (i >= g->nmaps || g->maps[i].gpa > gpa) {
			st = ZX_ERR_NOT_FOUND;
			break;
		}
		const struct kb_mapping *m = &g->maps[i];
		uint64_t off = gpa - m->gpa, backed = map_backed(m);
		if (off >= backed) {
			st = ZX_ERR_OUT_OF_RANGE;
			break;
		}
		size_t n = backed - off < len ? (size_t)(backed - off) : len;
		if (write)
			memcpy(m->host + off, buf, n);
		else
			memcpy(buf, m->host + off, n);
		buf += n;
		gpa += n;
		len -= n;
	}
	pthread_mutex_unlock(&g->lock);
	return st;
}

zx_status_t kb__guest_read(struct kb_guest *g, uint64_t gpa, void *buf, size_t len)
{
	return guest_copy(g, gpa, buf, len, false);
}

zx_status_t kb__guest_write(struct kb_guest *g, uint64_t gpa, const void *buf, size_t len)
{
	return guest_copy(g, gpa, (uint8_t *)buf, len, true);
}

bool kb__guest_unbacked(struct kb_guest *g, uint64_t gpa)
{
	pthread_mutex_lock(&g->lock);
	uint32_t i = map_search(g, gpa);
	bool unbacked = i < g->nmaps && g->maps[i].gpa <= gpa &&
			gpa - g->maps[i].gpa >= map_backed(&g->maps[i]);
	pthread_mutex_unlock(&g->lock);
	return unbacked;
}

/* ---- the guest object ---- */

static void guest_on_zero_handles(struct kb_object *obj)
{
	/* Destroying the guest removes its traps and cancels their queued bell packets, but not
	 * the user packets of the same ports (spec §2.2). VCPUs and the VMAR keep the VM. */
	struct kb_guest *g = (struct kb_guest *)obj;
	pthread_mutex_lock(&g->lock);
	g->traps_closed = true;
	for (uint32_t i = 0; i < g->nmem_traps; i++)
		if (g->mem_traps[i]->port)
			kb__port_cancel_trap(g->mem_traps[i]->port, g->mem_traps[i]);
	pthread_mutex_unlock(&g->lock);
}

static void guest_destroy(struct kb_object *obj)
{
	struct kb_guest *g = (struct kb_guest *)obj;
	guest_clear_traps_locked(g);
	while (g->nmaps)
		map_remove_locked(g, g->nmaps - 1);
	for (uint32_t i = 0; i < KB_MAX_VPID; i++) {
		struct kb_parked_vcpu *pv = &g->parked[i];
		if (pv->fd >= 0) {
			munmap(pv->run, pv->run_size);
			close(pv->fd);
		}
	}
	if (g->vm_fd >= 0)
		close(g->vm_fd);
	free(g->maps);
	free(g->slot_used);
	free(g->mem_traps);
	free(g->io_traps);
	free(g->cpuid);
	pthread_mutex_destroy(&g->lock);
	atomic_fetch_sub(&obj->account->guests, 1);
	free(g);
}

static const struct kb_object_ops guest_ops = {
	.on_zero_handles = guest_on_zero_handles,
	.destroy = guest_destroy,
};

static void vmar_destroy(struct kb_object *obj)
{
	struct kb_vmar *vmar = (struct kb_vmar *)obj;
	kb__object_unref(&vmar->guest->obj);
	free(vmar);
}

static const struct kb_object_ops vmar_ops = {.destroy = vmar_destroy};

/* Per-VM KVM set-up: userspace MSR exits for the x2APIC block and APIC base / TSC deadline
 * (notes/pvm-guest-execution.md "x2APIC"), and on PVM the hypercall quirk off so that VMCALL
 * raises #UD which we complete ourselves ("VMCALL"). */
static zx_status_t vm_setup(struct kb_guest *g)
{
	struct kvm_enable_cap cap = {
		.cap = KVM_CAP_X86_USER_SPACE_MSR,
		.args[0] = KVM_MSR_EXIT_REASON_INVAL | KVM_MSR_EXIT_REASON_UNKNOWN |
			   KVM_MSR_EXIT_REASON_FILTER,
	};
	if (ioctl(g->vm_fd, KVM_ENABLE_CAP, &cap) < 0)
		return ZX_ERR_NOT_SUPPORTED;

	/* Deny (and so exit on) writes of IA32_APIC_BASE, and both directions of
	 * IA32_TSC_DEADLINE, which KVM would otherwise drop without an in-kernel LAPIC. */
	static uint8_t deny = 0;
	struct kvm_msr_filter filter = {
		.flags = KVM_MSR_FILTER_DEFAULT_ALLOW,
		.ranges = {
			{.flags = KVM_MSR_FILTER_WRITE, .nmsrs = 1, .base = 0x1b, .bitmap = &deny},
			{.flags = KVM_MSR_FILTER_READ | KVM_MSR_FILTER_WRITE,
			 .nmsrs = 1,
			 .base = 0x6e0,
			 .bitmap = &deny},
		},
	};
	if (ioctl(g->vm_fd, KVM_X86_SET_MSR_FILTER, &filter) < 0)
		return ZX_ERR_NOT_SUPPORTED;

	if (g->pvm) {
		struct kvm_enable_cap q = {
			.cap = KVM_CAP_DISABLE_QUIRKS2,
			.args[0] = KVM_X86_QUIRK_FIX_HYPERCALL_INSN,
		};
		ioctl(g->vm_fd, KVM_ENABLE_CAP, &q);
	}
	/* Intel without unrestricted guest needs a TSS region for real mode; others ignore it. */
	ioctl(g->vm_fd, KVM_SET_TSS_ADDR, 0xfffbd000ul);
	return ZX_OK;
}

zx_status_t kb_guest_create(kb_table *table, zx_handle_t resource, uint32_t options,
			    zx_handle_t *out_guest, zx_handle_t *out_vmar)
{
	/* Newest kernels validate the resource first, then the options (spec §2.1). */
	struct kb_object *robj;
	zx_status_t st = kb__handle_get(table, resource, ZX_OBJ_TYPE_RESOURCE, 0, &robj, NULL);
	if (st != ZX_OK)
		return st;
	struct kb_resource *res = (struct kb_resource *)robj;
	bool ok = res->kind == ZX_RSRC_KIND_SYSTEM && res->base == ZX_RSRC_SYSTEM_HYPERVISOR_BASE;
	kb__object_unref(robj);
	if (!ok)
		return ZX_ERR_ACCESS_DENIED;
	if (options == ZX_GUEST_OPT_DIRECT)
		return ZX_ERR_NOT_SUPPORTED;
	if (options != ZX_GUEST_OPT_NORMAL || !out_guest || !out_vmar)
		return ZX_ERR_INVALID_ARGS;
	if (kb__kvm_fd() < 0)
		return ZX_ERR_NOT_SUPPORTED;

	struct kb_account *account = kb__table_account(table);
	st = kb__account_take(&account->guests, account->limits.max_guests);
	if (st != ZX_OK)
		return st;
	struct kb_guest *g = calloc(1, sizeof(*g));
	if (!g) {
		atomic_fetch_sub(&account->guests, 1);
		return ZX_ERR_NO_MEMORY;
	}
	kb__object_init(&g->obj, ZX_OBJ_TYPE_GUEST, &guest_ops, account);
	pthread_mutex_init(&g->lock, NULL);
	g->next_vpid = 1;
	for (uint32_t i = 0; i < KB_MAX_VPID; i++)
		g->parked[i].fd = -1;
	g->pvm = host_is_pvm;
	g->nslots = (uint32_t)nr_memslots;
	if (g->nslots > account->limits.max_mappings_per_guest)
		g->nslots = account->limits.max_mappings_per_guest;
	g->slot_used = calloc(g->nslots, 1);
	size_t csize = sizeof(*supported_cpuid) + supported_cpuid->nent * sizeof(supported_cpuid->entries[0]);
	g->cpuid = malloc(csize);
	g->vm_fd = ioctl(kb__kvm_fd(), KVM_CREATE_VM, 0);
	if (!g->slot_used || !g->cpuid)
		st = ZX_ERR_NO_MEMORY;
	else if (g->vm_fd < 0)
		st = errno == ENOMEM ? ZX_ERR_NO_MEMORY : ZX_ERR_NO_RESOURCES;
	else
		st = vm_setup(g);
	if (st != ZX_OK) {
		kb__object_unref(&g->obj);
		return st;
	}
	memcpy(g->cpuid, supported_cpuid, csize);

	struct kb_vmar *vmar = calloc(1, sizeof(*vmar));
	if (!vmar) {
		kb__object_unref(&g->obj);
		return ZX_ERR_NO_MEMORY;
	}
	kb__object_init(&vmar->obj, ZX_OBJ_TYPE_VMAR, &vmar_ops, NULL);
	vmar->obj.related_koid = g->obj.koid;
	kb__object_ref(&g->obj);
	vmar->guest = g;

	zx_handle_t gh;
	st = kb__handle_add(table, &g->obj, ZX_DEFAULT_GUEST_RIGHTS, &gh);
	if (st != ZX_OK) {
		kb__object_unref(&vmar->obj);
		return st;
	}
	/* The guest-physical VMAR allows R/W/X and specific mappings (spec §1.3). */
	st = kb__handle_add(table, &vmar->obj,
			    ZX_DEFAULT_VMAR_RIGHTS | ZX_RIGHT_READ | ZX_RIGHT_WRITE | ZX_RIGHT_EXECUTE,
			    out_vmar);
	if (st != ZX_OK) {
		kb_handle_close(table, gh);
		return st;
	}
	*out_guest = gh;
	return ZX_OK;
}

static zx_status_t trap_insert_locked(struct kb_trap ***arr, uint32_t *n, uint32_t *cap,
				      struct kb_trap *trap)
{
	uint32_t i = trap_search(*arr, *n, trap->addr);
	if (i < *n && (*arr)[i]->addr < trap->addr + trap->size)
		return ZX_ERR_ALREADY_EXISTS;
	if (*n == *cap) {
		uint32_t ncap = *cap ? *cap * 2 : 8;
		struct kb_trap **a = realloc(*arr, ncap * sizeof(*a));
		if (!a)
			return ZX_ERR_NO_MEMORY;
		*arr = a;
		*cap = ncap;
	}
	memmove(&(*arr)[i + 1], &(*arr)[i], (*n - i) * sizeof(**arr));
	(*arr)[i] = trap;
	(*n)++;
	return ZX_OK;
}

static zx_status_t check_trap_range(uint32_t kind, uint64_t addr, uint64_t size)
{
	if (size == 0 || addr + size < addr)
		return ZX_ERR_OUT_OF_RANGE;
	if (kind == ZX_GUEST_TRAP_IO)
		return addr + size > UINT16_MAX ? ZX_ERR_OUT_OF_RANGE : ZX_OK;
	if (!ZXVM_IS_ALIGNED(addr, KB_PAGE_SIZE) || !ZXVM_IS_ALIGNED(size, KB_PAGE_SIZE))
		return ZX_ERR_INVALID_ARGS;
	if (addr + size > KB_GUEST_ASPACE_SIZE)
		return ZX_ERR_OUT_OF_RANGE;
	return ZX_OK;
}

zx_status_t kb_guest_set_trap(kb_table *table, zx_handle_t guest, uint32_t kind, zx_vaddr_t addr,
			      size_t size, zx_handle_t port, uint64_t key)
{
	struct kb_object *gobj, *pobj = NULL;
	zx_status_t st = kb__handle_get(table, guest, ZX_OBJ_TYPE_GUEST, ZX_RIGHT_WRITE, &gobj, NULL);
	if (st != ZX_OK)
		return st;
	if (port != ZX_HANDLE_INVALID)
		st = kb__handle_get(table, port, ZX_OBJ_TYPE_PORT, ZX_RIGHT_WRITE, &pobj, NULL);
	if (st == ZX_OK) {
		switch (kind) {
		case ZX_GUEST_TRAP_BELL:
			st = pobj ? ZX_OK : ZX_ERR_INVALID_ARGS;
			break;
		case ZX_GUEST_TRAP_MEM:
		case ZX_GUEST_TRAP_IO:
			st = pobj ? ZX_ERR_INVALID_ARGS : ZX_OK;
			break;
		default:
			st = ZX_ERR_INVALID_ARGS;
			break;
		}
	}
	if (st == ZX_OK)
		st = check_trap_range(kind, addr, size);
	struct kb_trap *trap = NULL;
	if (st == ZX_OK) {
		trap = calloc(1, sizeof(*trap));
		if (!trap)
			st = ZX_ERR_NO_MEMORY;
	}
	if (st != ZX_OK) {
		kb__object_unref(pobj);
		kb__object_unref(gobj);
		return st;
	}
	*trap = (struct kb_trap){
		.kind = kind,
		.addr = addr,
		.size = size,
		.key = key,
		.port = (struct kb_port *)pobj,
	};
	struct kb_guest *g = (struct kb_guest *)gobj;
	pthread_mutex_lock(&g->lock);
	if (g->nmem_traps + g->nio_traps >= gobj->account->limits.max_traps_per_guest)
		st = ZX_ERR_NO_RESOURCES;
	else if (kind == ZX_GUEST_TRAP_IO)
		st = trap_insert_locked(&g->io_traps, &g->nio_traps, &g->io_traps_cap, trap);
	else
		st = trap_insert_locked(&g->mem_traps, &g->nmem_traps, &g->mem_traps_cap, trap);
	/* Setting a MEM/BELL trap unmaps guest memory in its range (spec §2.2). */
	if (st == ZX_OK && kind != ZX_GUEST_TRAP_IO)
		unmap_range_locked(g, addr, size, NULL);
	pthread_mutex_unlock(&g->lock);
	if (st != ZX_OK) {
		trap->port = NULL;
		free(trap);
		kb__object_unref(pobj);
	}
	kb__object_unref(gobj);
	return st;
}

zx_status_t kb__guest_register_vcpu(struct kb_guest *g, struct kb_vcpu *vcpu, uint32_t *out_vpid)
{
	zx_status_t st = ZX_ERR_NO_RESOURCES;
	pthread_mutex_lock(&g->lock);
	uint32_t count = (uint32_t)__builtin_popcountll(g->vpid_used);
	if (count < g->obj.account->limits.max_vcpus_per_guest) {
		/* A rolling hint: ids are not reused right away (spec §2.3). */
		for (uint32_t n = 0; n < KB_MAX_VPID - 1; n++) {
			uint32_t id = (g->next_vpid - 1 + n) % (KB_MAX_VPID - 1) + 1;
			if (!(g->vpid_used & (1ull << id))) {
				g->vpid_used |= 1ull << id;
				g->next_vpid = id % (KB_MAX_VPID - 1) + 1;
				*out_vpid = id;
				st = ZX_OK;
				break;
			}
		}
	}
	if (st == ZX_OK) {
		struct kb_parked_vcpu *pv = &g->parked[*out_vpid];
		vcpu->kvm_id = *out_vpid;
		if (pv->fd >= 0) {
			vcpu->fd = pv->fd;
			vcpu->run = pv->run;
			vcpu->run_size = pv->run_size;
			vcpu->recycled = true;
			pv->fd = -1;
		}
		vcpu->next_in_guest = g->vcpus;
		g->vcpus = vcpu;
	}
	pthread_mutex_unlock(&g->lock);
	return st;
}

void kb__guest_unregister_vcpu(struct kb_guest *g, struct kb_vcpu *vcpu)
{
	pthread_mutex_lock(&g->lock);
	if (vcpu->fd >= 0 && vcpu->run) {
		g->parked[vcpu->vpid] = (struct kb_parked_vcpu){vcpu->fd, vcpu->run, vcpu->run_size};
		vcpu->fd = -1;
		vcpu->run = NULL;
	}
	g->vpid_used &= ~(1ull << vcpu->vpid);
	for (struct kb_vcpu **pp = &g->vcpus; *pp; pp = &(*pp)->next_in_guest) {
		if (*pp == vcpu) {
			*pp = vcpu->next_in_guest;
			break;
		}
	}
	pthread_mutex_unlock(&g->lock);
}

void kb__guest_kick_all(struct kb_guest *g)
{
	pthread_mutex_lock(&g->lock);
	for (struct kb_vcpu *v = g->vcpus; v; v = v->next_in_guest)
		kb__vcpu_kick(v);
	pthread_mutex_unlock(&g->lock);
}

/* ---- the guest-physical VMAR ---- */

static zx_status_t get_vmar(kb_table *table, zx_handle_t handle, struct kb_vmar **out,
			    zx_rights_t *out_rights)
{
	struct kb_object *obj;
	zx_status_t st = kb__handle_get(table, handle, ZX_OBJ_TYPE_VMAR, 0, &obj, out_rights);
	if (st == ZX_OK)
		*out = (struct kb_vmar *)obj;
	return st;
}

/* The rights a set of ZX_VM_PERM_* needs, on the VMAR and on the VMO alike. */
static zx_rights_t perm_rights(zx_vm_option_t perms)
{
	return ((perms & ZX_VM_PERM_READ) ? ZX_RIGHT_READ : 0) |
	       ((perms & ZX_VM_PERM_WRITE) ? ZX_RIGHT_WRITE : 0) |
	       ((perms & ZX_VM_PERM_EXECUTE) ? ZX_RIGHT_EXECUTE : 0);
}

#define KB_VM_PERMS (ZX_VM_PERM_READ | ZX_VM_PERM_WRITE | ZX_VM_PERM_EXECUTE)
#define KB_VM_ALIGN_MASK (0x1fu << ZX_VM_ALIGN_BASE)

static zx_status_t find_gap_locked(struct kb_guest *g, uint64_t len, uint64_t align,
				   uint64_t *out)
{
	uint64_t cur = 0;
	for (uint32_t i = 0; i <= g->nmaps; i++) {
		uint64_t start = ZXVM_ALIGN_UP(cur, align);
		uint64_t end = i < g->nmaps ? g->maps[i].gpa : KB_GUEST_ASPACE_SIZE;
		if (start <= end && end - start >= len) {
			*out = start;
			return ZX_OK;
		}
		if (i < g->nmaps)
			cur = g->maps[i].gpa + g->maps[i].len;
	}
	return ZX_ERR_NO_RESOURCES;
}

static zx_status_t map_checks(zx_vm_option_t options, size_t vmar_offset, uint64_t vmo_offset,
			      size_t len)
{
	const zx_vm_option_t allowed = KB_VM_PERMS | ZX_VM_SPECIFIC | ZX_VM_SPECIFIC_OVERWRITE |
				       ZX_VM_MAP_RANGE | ZX_VM_REQUIRE_NON_RESIZABLE |
				       ZX_VM_ALLOW_FAULTS | ZX_VM_OFFSET_IS_UPPER_LIMIT |
				       KB_VM_ALIGN_MASK;
	uint32_t align = (options & KB_VM_ALIGN_MASK) >> ZX_VM_ALIGN_BASE;
	bool specific = options & (ZX_VM_SPECIFIC | ZX_VM_SPECIFIC_OVERWRITE);
	if (options & ~allowed)
		return ZX_ERR_INVALID_ARGS;
	if (align && (align < 10 || align > 32))
		return ZX_ERR_INVALID_ARGS;
	if (!specific && !(options & ZX_VM_OFFSET_IS_UPPER_LIMIT) && vmar_offset != 0)
		return ZX_ERR_INVALID_ARGS;
	if (len == 0 || !ZXVM_IS_ALIGNED(len, KB_PAGE_SIZE) ||
	    !ZXVM_IS_ALIGNED(vmar_offset, KB_PAGE_SIZE) ||
	    !ZXVM_IS_ALIGNED(vmo_offset, KB_PAGE_SIZE))
		return ZX_ERR_INVALID_ARGS;
	if ((options & (ZX_VM_PERM_WRITE | ZX_VM_PERM_EXECUTE)) && !(options & ZX_VM_PERM_READ))
		return ZX_ERR_INVALID_ARGS;
	if (specific && (vmar_offset >= KB_GUEST_ASPACE_SIZE ||
			 len > KB_GUEST_ASPACE_SIZE - vmar_offset))
		return ZX_ERR_INVALID_ARGS;
	if (vmo_offset + len < vmo_offset)
		return ZX_ERR_OUT_OF_RANGE;
	return ZX_OK;
}

zx_status_t kb_vmar_map(kb_table *table, zx_handle_t vmar_handle, zx_vm_option_t options,
			size_t vmar_offset, zx_handle_t vmo_handle, uint64_t vmo_offset, size_t len,
			zx_vaddr_t *out_mapped_addr)
{
	struct kb_vmar *vmar;
	zx_rights_t vmar_rights, vmo_rights;
	zx_status_t st = get_vmar(table, vmar_handle, &vmar, &vmar_rights);
	if (st != ZX_OK)
		return st;
	struct kb_object *vobj = NULL;
	st = kb__handle_get(table, vmo_handle, ZX_OBJ_TYPE_VMO, 0, &vobj, &vmo_rights);
	if (st == ZX_OK && !out_mapped_addr)
		st = ZX_ERR_INVALID_ARGS;
	if (st == ZX_OK)
		st = map_checks(options, vmar_offset, vmo_offset, len);
	zx_rights_t need = perm_rights(options & KB_VM_PERMS);
	if (st == ZX_OK && ((vmar_rights & need) != need || (vmo_rights & need) != need ||
			    !(vmo_rights & ZX_RIGHT_MAP)))
		st = ZX_ERR_ACCESS_DENIED;
	struct kb_vmo *vmo = (struct kb_vmo *)vobj;
	/* Resizable and discardable VMOs may lose pages under a mapping: only with ALLOW_FAULTS
	 * (spec §4, zx_vmar_map). That is the VMO's nature, not its handle's RESIZE right. */
	bool resizable = vmo && (vmo->options & ZX_VMO_RESIZABLE);
	bool discardable = vmo && (vmo->options & ZX_VMO_DISCARDABLE);
	if (st == ZX_OK && ((resizable && (options & ZX_VM_REQUIRE_NON_RESIZABLE)) ||
			    ((resizable || discardable) && !(options & ZX_VM_ALLOW_FAULTS))))
		st = ZX_ERR_NOT_SUPPORTED;
	/* Past the VMO's end only with ALLOW_FAULTS; the guest's accesses there fail (spec §4). */
	if (st == ZX_OK && !(options & ZX_VM_ALLOW_FAULTS) &&
	    (vmo_offset > vmo->size || len > vmo->size - vmo_offset))
		st = ZX_ERR_BUFFER_TOO_SMALL;
	uint8_t *host = MAP_FAILED;
	if (st == ZX_OK) {
		host = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, vmo->fd,
			    (off_t)vmo_offset);
		if (host == MAP_FAILED)
			st = ZX_ERR_NO_MEMORY;
	}
	if (st != ZX_OK) {
		kb__object_unref(vobj);
		kb__object_unref(&vmar->obj);
		return st;
	}

	struct kb_guest *g = vmar->guest;
	pthread_mutex_lock(&g->lock);
	uint64_t gpa = vmar_offset;
	if (options & (ZX_VM_SPECIFIC | ZX_VM_SPECIFIC_OVERWRITE)) {
		uint32_t i = map_search(g, gpa);
		bool overlap = i < g->nmaps && g->maps[i].gpa < gpa + len;
		if (overlap && !(options & ZX_VM_SPECIFIC_OVERWRITE))
			st = ZX_ERR_ALREADY_EXISTS;
		else if (overlap)
			st = unmap_range_locked(g, gpa, len, NULL);
	} else {
		uint32_t align = (options & KB_VM_ALIGN_MASK) >> ZX_VM_ALIGN_BASE;
		st = find_gap_locked(g, len, align ? 1ull << align : KB_PAGE_SIZE, &gpa);
		if (st == ZX_OK && (options & ZX_VM_OFFSET_IS_UPPER_LIMIT) && gpa + len > vmar_offset)
			st = ZX_ERR_NO_RESOURCES;
	}
	if (st == ZX_OK) {
		struct kb_mapping m = {
			.gpa = gpa,
			.len = len,
			.perms = options & KB_VM_PERMS,
			.max_perms = ((vmo_rights & ZX_RIGHT_READ) ? ZX_VM_PERM_READ : 0) |
				     ((vmo_rights & ZX_RIGHT_WRITE) ? ZX_VM_PERM_WRITE : 0) |
				     ((vmo_rights & ZX_RIGHT_EXECUTE) ? ZX_VM_PERM_EXECUTE : 0),
			.vmo = vmo,
			.vmo_offset = vmo_offset,
			.host = host,
		};
		st = map_insert_locked(g, map_search(g, gpa), &m);
	}
	pthread_mutex_unlock(&g->lock);
	if (st != ZX_OK) {
		munmap(host, len);
		kb__object_unref(vobj);
	} else {
		*out_mapped_addr = gpa;
	}
	kb__object_unref(&vmar->obj);
	return st;
}

static zx_status_t range_checks(zx_vaddr_t addr, size_t len)
{
	if (len == 0 || !ZXVM_IS_ALIGNED(addr, KB_PAGE_SIZE) || !ZXVM_IS_ALIGNED(len, KB_PAGE_SIZE))
		return ZX_ERR_INVALID_ARGS;
	if (addr >= KB_GUEST_ASPACE_SIZE || len > KB_GUEST_ASPACE_SIZE - addr)
		return ZX_ERR_INVALID_ARGS;
	return ZX_OK;
}

zx_status_t kb_vmar_unmap(kb_table *table, zx_handle_t vmar_handle, zx_vaddr_t addr, size_t len)
{
	struct kb_vmar *vmar;
	zx_status_t st = get_vmar(table, vmar_handle, &vmar, NULL);
	if (st != ZX_OK)
		return st;
	st = range_checks(addr, len);
	if (st == ZX_OK) {
		bool found = false;
		pthread_mutex_lock(&vmar->guest->lock);
		st = unmap_range_locked(vmar->guest, addr, len, &found);
		pthread_mutex_unlock(&vmar->guest->lock);
		if (st == ZX_OK && !found)
			st = ZX_ERR_NOT_FOUND;
	}
	kb__object_unref(&vmar->obj);
	return st;
}

zx_status_t kb_vmar_protect(kb_table *table, zx_handle_t vmar_handle, zx_vm_option_t options,
			    zx_vaddr_t addr, size_t len)
{
	struct kb_vmar *vmar;
	zx_rights_t rights;
	zx_status_t st = get_vmar(table, vmar_handle, &vmar, &rights);
	if (st != ZX_OK)
		return st;
	st = range_checks(addr, len);
	if (st == ZX_OK && (options & ~KB_VM_PERMS))
		st = ZX_ERR_INVALID_ARGS;
	if (st == ZX_OK && (options & (ZX_VM_PERM_WRITE | ZX_VM_PERM_EXECUTE)) &&
	    !(options & ZX_VM_PERM_READ))
		st = ZX_ERR_INVALID_ARGS;
	zx_rights_t need = perm_rights(options);
	if (st == ZX_OK && (rights & need) != need)
		st = ZX_ERR_ACCESS_DENIED;
	if (st != ZX_OK) {
		kb__object_unref(&vmar->obj);
		return st;
	}
	struct kb_guest *g = vmar->guest;
	pthread_mutex_lock(&g->lock);
	/* The whole range must be mapped, without holes (spec §4, NOT_FOUND). */
	uint64_t cur = addr;
	for (uint32_t i = map_search(g, addr); i < g->nmaps && g->maps[i].gpa <= cur &&
					       cur < addr + len;
	     i++)
		cur = g->maps[i].gpa + g->maps[i].len;
	if (cur < addr + len)
		st = ZX_ERR_NOT_FOUND;
	/* A mapping cannot gain a permission its VMO handle did not have when it was mapped. */
	for (uint32_t i = map_search(g, addr); st == ZX_OK && i < g->nmaps && g->maps[i].gpa < addr + len;
	     i++)
		if (options & ~g->maps[i].max_perms)
			st = ZX_ERR_ACCESS_DENIED;
	if (st == ZX_OK)
		st = map_split_locked(g, addr);
	if (st == ZX_OK)
		st = map_split_locked(g, addr + len);
	for (uint32_t i = map_search(g, addr); st == ZX_OK && i < g->nmaps && g->maps[i].gpa < addr + len;
	     i++) {
		struct kb_mapping m = g->maps[i];
		if (m.slot != UINT32_MAX) {
			slot_set(g, &m, true);
			g->slot_used[m.slot] = 0;
		}
		memmove(&g->maps[i], &g->maps[i + 1], (g->nmaps - i - 1) * sizeof(m));
		g->nmaps--;
		m.perms = options;
		st = map_insert_locked(g, i, &m);
		if (st != ZX_OK) {
			munmap(m.host, m.len);
			kb__object_unref(&m.vmo->obj);
		}
	}
	pthread_mutex_unlock(&g->lock);
	kb__object_unref(&vmar->obj);
	return st;
}
