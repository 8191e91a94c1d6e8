/* Objects, accounts and the handle table: Zircon's process handle table, in process.
 *
 * Handle values are random 32-bit numbers with the two low bits set (Zircon's fixed bits), never
 * 0, so that a value from another table is almost surely BAD_HANDLE and values are not reused
 * soon. The table is an open-addressing hash map that grows as needed. */
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <zircon/errors.h>
#include <zircon/rights.h>
#include <zircon/syscalls/object.h>
#include <zircon/syscalls/resource.h>

#include "kb-internal.h"
#include "vcpu-internal.h"

struct kb_entry {
	zx_handle_t value; /* 0: empty; KB_TOMBSTONE: deleted */
	zx_rights_t rights;
	struct kb_object *obj;
};
#define KB_TOMBSTONE 1u /* never a valid value: valid values have both low bits set */

struct kb_binding {
	uint64_t tid;
	struct kb_vcpu *vcpu;
};

struct kb_table {
	pthread_mutex_t lock;
	struct kb_account *account;
	/* guarded by lock */
	struct kb_entry *entries;
	uint32_t cap;  /* a power of two */
	uint32_t used; /* live + tombstones */
	uint32_t live;
	uint64_t rng;
	struct kb_binding *bindings; /* VCPU ↔ tid, one per tid (spec §2.3) */
	uint32_t nbindings, bindings_cap;
};

static atomic_uint_least64_t koid_counter = 1024;

static zx_status_t bind_locked(kb_table *table, uint64_t tid, struct kb_vcpu *vcpu);

zx_koid_t kb__koid_next(void)
{
	return atomic_fetch_add(&koid_counter, 1);
}

void kb__object_init(struct kb_object *obj, zx_obj_type_t type, const struct kb_object_ops *ops,
		     struct kb_account *account)
{
	obj->type = type;
	atomic_init(&obj->refs, 1);
	atomic_init(&obj->handles, 0);
	obj->koid = kb__koid_next();
	obj->related_koid = 0;
	obj->ops = ops;
	obj->account = account ? kb__account_ref(account) : NULL;
}

void kb__object_ref(struct kb_object *obj)
{
	atomic_fetch_add(&obj->refs, 1);
}

void kb__object_unref(struct kb_object *obj)
{
	if (!obj)
		return;
	if (atomic_fetch_sub(&obj->refs, 1) != 1)
		return;
	struct kb_account *account = obj->account;
	obj->ops->destroy(obj);
	kb__account_unref(account);
}

struct kb_account *kb__account_ref(struct kb_account *account)
{
	atomic_fetch_add(&account->refs, 1);
	return account;
}

void kb__account_unref(struct kb_account *account)
{
	if (account && atomic_fetch_sub(&account->refs, 1) == 1)
		free(account);
}

zx_status_t kb__account_take(atomic_uint *counter, uint32_t limit)
{
	unsigned cur = atomic_load(counter);
	do {
		if (cur >= limit)
			return ZX_ERR_NO_RESOURCES;
	} while (!atomic_compare_exchange_weak(counter, &cur, cur + 1));
	return ZX_OK;
}

zx_status_t kb__account_take_memory(struct kb_account *account, uint64_t bytes)
{
	uint_least64_t cur = atomic_load(&account->memory_bytes);
	do {
		if (bytes > account->limits.max_memory_bytes ||
		    cur > account->limits.max_memory_bytes - bytes)
			return ZX_ERR_NO_RESOURCES;
	} while (!atomic_compare_exchange_weak(&account->memory_bytes, &cur, cur + bytes));
	return ZX_OK;
}

/* Resources are plain data. */
static void resource_destroy(struct kb_object *obj)
{
	free(obj);
}

static const struct kb_object_ops resource_ops = {.destroy = resource_destroy};

zx_status_t kb_table_create(const struct zxvm_limits *limits, kb_table **out)
{
	kb_table *t = calloc(1, sizeof(*t));
	if (!t)
		return ZX_ERR_NO_MEMORY;
	t->account = calloc(1, sizeof(*t->account));
	t->cap = 64;
	t->entries = calloc(t->cap, sizeof(*t->entries));
	if (!t->account || !t->entries) {
		free(t->account);
		free(t->entries);
		free(t);
		return ZX_ERR_NO_MEMORY;
	}
	atomic_init(&t->account->refs, 1);
	t->account->limits = limits ? *limits : zxvm_limits_default();
	if (getrandom(&t->rng, sizeof(t->rng), 0) != sizeof(t->rng))
		t->rng = (uint64_t)(uintptr_t)t ^ (uint64_t)kb_clock_monotonic();
	pthread_mutex_init(&t->lock, NULL);
	*out = t;
	return ZX_OK;
}

struct kb_account *kb__table_account(kb_table *table)
{
	return table->account;
}

/* splitmix64: a fast generator seeded from getrandom; values need not be secret-grade here,
 * only unpredictable to other clients (session tokens are the daemon's, from getrandom). */
static uint64_t next_random(kb_table *t)
{
	uint64_t z = (t->rng += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint32_t slot_of(const kb_table *t, zx_handle_t value)
{
	return (uint32_t)((value * 0x9e3779b1u) >> 7) & (t->cap - 1);
}

static struct kb_entry *find_entry(kb_table *t, zx_handle_t value)
{
	if (value == ZX_HANDLE_INVALID || (value & 3u) != 3u)
		return NULL;
	for (uint32_t i = slot_of(t, value), n = 0; n < t->cap; i = (i + 1) & (t->cap - 1), n++) {
		struct kb_entry *e = &t->entries[i];
		if (e->value == value)
			return e;
		if (e->value == 0)
			return NULL;
	}
	return NULL;
}

static zx_status_t grow(kb_table *t)
{
	uint32_t ncap = t->live * 4 > t->cap ? t->cap * 2 : t->cap;
	struct kb_entry *n = calloc(ncap, sizeof(*n));
	if (!n)
		return ZX_ERR_NO_MEMORY;
	struct kb_entry *old = t->entries;
	uint32_t ocap = t->cap;
	t->entries = n;
	t->cap = ncap;
	t->used = 0;
	for (uint32_t i = 0; i < ocap; i++) {
		if (old[i].value == 0 || old[i].value == KB_TOMBSTONE)
			continue;
		uint32_t j = slot_of(t, old[i].value);
		while (t->entries[j].value != 0)
			j = (j + 1) & (t->cap - 1);
		t->entries[j] = old[i];
		t->used++;
	}
	free(old);
	return ZX_OK;
}

/* Insert with the lock held. Consumes the caller's reference to obj on success only. */
static zx_status_t insert_locked(kb_table *t, struct kb_object *obj, zx_rights_t rights,
				 zx_handle_t *out)
{
	if (t->live >= t->account->limits.max_handles)
		return ZX_ERR_NO_RESOURCES;
	if ((t->used + 1) * 2 > t->cap) {
		zx_status_t st = grow(t);
		if (st != ZX_OK)
			return st;
	}
	zx_handle_t value;
	do {
		value = (zx_handle_t)next_random(t) | 3u;
	} while (value == 0xffffffffu || find_entry(t, value));
	uint32_t i = slot_of(t, value);
	while (t->entries[i].value != 0 && t->entries[i].value != KB_TOMBSTONE)
		i = (i + 1) & (t->cap - 1);
	if (t->entries[i].value == 0)
		t->used++;
	t->entries[i] = (struct kb_entry){.value = value, .rights = rights, .obj = obj};
	t->live++;
	atomic_fetch_add(&obj->handles, 1);
	*out = value;
	return ZX_OK;
}

zx_status_t kb__handle_add(kb_table *table, struct kb_object *obj, zx_rights_t rights,
			   zx_handle_t *out)
{
	pthread_mutex_lock(&table->lock);
	zx_status_t st = insert_locked(table, obj, rights, out);
	pthread_mutex_unlock(&table->lock);
	if (st != ZX_OK)
		kb__object_unref(obj);
	return st;
}

zx_status_t kb__handle_get(kb_table *table, zx_handle_t handle, zx_obj_type_t type,
			   zx_rights_t rights, struct kb_object **out_obj, zx_rights_t *out_rights)
{
	zx_status_t st = ZX_OK;
	pthread_mutex_lock(&table->lock);
	struct kb_entry *e = find_entry(table, handle);
	if (!e)
		st = ZX_ERR_BAD_HANDLE;
	else if (type != ZX_OBJ_TYPE_NONE && e->obj->type != type)
		st = ZX_ERR_WRONG_TYPE;
	else if ((e->rights & rights) != rights)
		st = ZX_ERR_ACCESS_DENIED;
	else
		kb__object_ref(e->obj);
	if (st == ZX_OK) {
		*out_obj = e->obj;
		if (out_rights)
			*out_rights = e->rights;
	}
	pthread_mutex_unlock(&table->lock);
	return st;
}

bool kb_table_tid_has_vcpu(kb_table *table, uint64_t tid)
{
	pthread_mutex_lock(&table->lock);
	bool found = false;
	for (uint32_t i = 0; i < table->nbindings && !found; i++)
		found = table->bindings[i].tid == tid;
	pthread_mutex_unlock(&table->lock);
	return found;
}

/* Add the new VCPU's handle and bind it to tid in one step, so that two threads racing to
 * create a VCPU for one tid cannot both win. Consumes the reference like kb__handle_add. */
zx_status_t kb__handle_add_vcpu(kb_table *table, uint64_t tid, struct kb_vcpu *vcpu,
				zx_rights_t rights, zx_handle_t *out)
{
	pthread_mutex_lock(&table->lock);
	zx_status_t st = bind_locked(table, tid, vcpu);
	if (st == ZX_OK) {
		st = insert_locked(table, &vcpu->obj, rights, out);
		if (st != ZX_OK)
			table->nbindings--;
	}
	pthread_mutex_unlock(&table->lock);
	if (st != ZX_OK)
		kb__object_unref(&vcpu->obj);
	return st;
}

static zx_status_t bind_locked(kb_table *table, uint64_t tid, struct kb_vcpu *vcpu)
{
	zx_status_t st = ZX_OK;
	for (uint32_t i = 0; i < table->nbindings; i++)
		if (table->bindings[i].tid == tid)
			st = ZX_ERR_BAD_STATE;
	if (st == ZX_OK && table->nbindings == table->bindings_cap) {
		uint32_t ncap = table->bindings_cap ? table->bindings_cap * 2 : 4;
		struct kb_binding *n = realloc(table->bindings, ncap * sizeof(*n));
		if (!n)
			st = ZX_ERR_NO_MEMORY;
		else {
			table->bindings = n;
			table->bindings_cap = ncap;
		}
	}
	if (st == ZX_OK)
		table->bindings[table->nbindings++] = (struct kb_binding){tid, vcpu};
	return st;
}

/* With the lock held: the object lost its last handle in this table. */
static void unbind_locked(kb_table *t, struct kb_object *obj)
{
	if (obj->type != ZX_OBJ_TYPE_VCPU)
		return;
	for (uint32_t i = 0; i < t->nbindings; i++) {
		if (&t->bindings[i].vcpu->obj == obj) {
			t->bindings[i] = t->bindings[--t->nbindings];
			return;
		}
	}
}

/* Remove an entry with the lock held; returns the object whose handle reference the caller
 * must drop (after unlocking) with drop_handle(). */
static struct kb_object *remove_locked(kb_table *t, struct kb_entry *e)
{
	struct kb_object *obj = e->obj;
	*e = (struct kb_entry){.value = KB_TOMBSTONE};
	t->live--;
	if (atomic_load(&obj->handles) == 1)
		unbind_locked(t, obj);
	return obj;
}

static void drop_handle(struct kb_object *obj)
{
	if (atomic_fetch_sub(&obj->handles, 1) == 1 && obj->ops->on_zero_handles)
		obj->ops->on_zero_handles(obj);
	kb__object_unref(obj);
}

zx_status_t kb_handle_close(kb_table *table, zx_handle_t handle)
{
	if (handle == ZX_HANDLE_INVALID)
		return ZX_OK;
	pthread_mutex_lock(&table->lock);
	struct kb_entry *e = find_entry(table, handle);
	struct kb_object *obj = e ? remove_locked(table, e) : NULL;
	pthread_mutex_unlock(&table->lock);
	if (!obj)
		return ZX_ERR_BAD_HANDLE;
	drop_handle(obj);
	return ZX_OK;
}

static zx_status_t new_rights(zx_rights_t have, zx_rights_t asked, zx_rights_t *out)
{
	if (asked == ZX_RIGHT_SAME_RIGHTS) {
		*out = have;
		return ZX_OK;
	}
	if ((asked & ~have) != 0)
		return ZX_ERR_INVALID_ARGS;
	*out = asked;
	return ZX_OK;
}

zx_status_t kb_handle_duplicate(kb_table *table, zx_handle_t handle, zx_rights_t rights,
				zx_handle_t *out)
{
	if (!out)
		return ZX_ERR_INVALID_ARGS;
	pthread_mutex_lock(&table->lock);
	zx_rights_t r = 0;
	zx_status_t st = ZX_OK;
	struct kb_entry *e = find_entry(table, handle);
	if (!e)
		st = ZX_ERR_BAD_HANDLE;
	else if (!(e->rights & ZX_RIGHT_DUPLICATE))
		st = ZX_ERR_ACCESS_DENIED;
	else
		st = new_rights(e->rights, rights, &r);
	if (st == ZX_OK) {
		struct kb_object *obj = e->obj;
		kb__object_ref(obj);
		st = insert_locked(table, obj, r, out);
		if (st != ZX_OK)
			atomic_fetch_sub(&obj->refs, 1); /* the table still holds one */
	}
	pthread_mutex_unlock(&table->lock);
	return st;
}

zx_status_t kb_handle_replace(kb_table *table, zx_handle_t handle, zx_rights_t rights,
			      zx_handle_t *out)
{
	pthread_mutex_lock(&table->lock);
	struct kb_entry *e = find_entry(table, handle);
	if (!e) {
		pthread_mutex_unlock(&table->lock);
		return ZX_ERR_BAD_HANDLE;
	}
	/* The source handle is invalidated whatever happens (spec §4, zx_handle_replace). The new
	 * handle goes in first so that the object never looks handle-less in between. */
	struct kb_object *obj = e->obj;
	zx_rights_t r = 0;
	zx_status_t st = out ? new_rights(e->rights, rights, &r) : ZX_ERR_INVALID_ARGS;
	if (st == ZX_OK) {
		kb__object_ref(obj);
		st = insert_locked(table, obj, r, out);
		if (st != ZX_OK)
			atomic_fetch_sub(&obj->refs, 1); /* the old entry still holds one */
	}
	remove_locked(table, find_entry(table, handle));
	pthread_mutex_unlock(&table->lock);
	drop_handle(obj);
	return st;
}

zx_status_t kb_table_grant_resource(kb_table *table, bool vmex, zx_handle_t *out)
{
	struct kb_resource *res = calloc(1, sizeof(*res));
	if (!res)
		return ZX_ERR_NO_MEMORY;
	kb__object_init(&res->obj, ZX_OBJ_TYPE_RESOURCE, &resource_ops, NULL);
	res->kind = ZX_RSRC_KIND_SYSTEM;
	res->base = vmex ? ZX_RSRC_SYSTEM_VMEX_BASE : ZX_RSRC_SYSTEM_HYPERVISOR_BASE;
	return kb__handle_add(table, &res->obj, ZX_DEFAULT_RESOURCE_RIGHTS, out);
}

size_t kb_table_vcpu_stats(kb_table *table, struct kb_vcpu_stats *out, size_t max)
{
	pthread_mutex_lock(&table->lock);
	size_t n = table->nbindings;
	for (size_t i = 0; i < n && i < max; i++) {
		struct kb_vcpu *v = table->bindings[i].vcpu;
		out[i].koid = v->obj.koid;
		out[i].guest_koid = v->obj.related_koid;
		out[i].vpid = v->vpid;
		for (int k = 0; k < KB_EXIT_KIND_COUNT; k++)
			out[i].exits[k] = atomic_load_explicit(&v->exits[k], memory_order_relaxed);
	}
	pthread_mutex_unlock(&table->lock);
	return n;
}

void kb_table_kick_all(kb_table *table)
{
	pthread_mutex_lock(&table->lock);
	for (uint32_t i = 0; i < table->nbindings; i++)
		kb__vcpu_kick(table->bindings[i].vcpu);
	pthread_mutex_unlock(&table->lock);
}

void kb_table_destroy(kb_table *table)
{
	if (!table)
		return;
	kb_table_kick_all(table);
	for (;;) {
		struct kb_object *obj = NULL;
		pthread_mutex_lock(&table->lock);
		for (uint32_t i = 0; i < table->cap && !obj; i++) {
			struct kb_entry *e = &table->entries[i];
			if (e->value != 0 && e->value != KB_TOMBSTONE)
				obj = remove_locked(table, e);
		}
		pthread_mutex_unlock(&table->lock);
		if (!obj)
			break;
		drop_handle(obj);
	}
	free(table->entries);
	free(table->bindings);
	kb__account_unref(table->account);
	pthread_mutex_destroy(&table->lock);
	free(table);
}

void kb_table_get_stats(kb_table *table, struct kb_table_stats *out)
{
	pthread_mutex_lock(&table->lock);
	out->handles = table->live;
	pthread_mutex_unlock(&table->lock);
	out->guests = atomic_load(&table->account->guests);
	out->vcpus = atomic_load(&table->account->vcpus);
	out->ports = atomic_load(&table->account->ports);
	out->memory_bytes = atomic_load(&table->account->memory_bytes);
}

static zx_status_t info_copy(const void *src, size_t len, void *buffer, size_t buffer_size,
			     size_t *actual, size_t *avail)
{
	if (buffer_size < len) {
		if (actual)
			*actual = 0;
		if (avail)
			*avail = 1;
		return ZX_ERR_BUFFER_TOO_SMALL;
	}
	if (!buffer)
		return ZX_ERR_INVALID_ARGS;
	memcpy(buffer, src, len);
	if (actual)
		*actual = 1;
	if (avail)
		*avail = 1;
	return ZX_OK;
}

zx_status_t kb_object_get_info(kb_table *table, zx_handle_t handle, uint32_t topic, void *buffer,
			       size_t buffer_size, size_t *actual, size_t *avail)
{
	pthread_mutex_lock(&table->lock);
	struct kb_entry *e = find_entry(table, handle);
	struct kb_object *obj = e ? e->obj : NULL;
	zx_rights_t rights = e ? e->rights : 0;
	if (obj)
		kb__object_ref(obj);
	pthread_mutex_unlock(&table->lock);
	if (!obj)
		return ZX_ERR_BAD_HANDLE;

	zx_status_t st;
	switch (topic) {
	case ZX_INFO_HANDLE_VALID:
		st = ZX_OK;
		break;
	case ZX_INFO_HANDLE_BASIC: {
		zx_info_handle_basic_t info = {
			.koid = obj->koid,
			.rights = rights,
			.type = obj->type,
			.related_koid = obj->related_koid,
		};
		st = info_copy(&info, sizeof(info), buffer, buffer_size, actual, avail);
		break;
	}
	case ZX_INFO_VMAR:
		if (obj->type != ZX_OBJ_TYPE_VMAR)
			st = ZX_ERR_WRONG_TYPE;
		else if (!(rights & ZX_RIGHT_INSPECT))
			st = ZX_ERR_ACCESS_DENIED;
		else {
			zx_info_vmar_t info = {.base = 0, .len = KB_GUEST_ASPACE_SIZE};
			st = info_copy(&info, sizeof(info), buffer, buffer_size, actual, avail);
		}
		break;
	case ZX_INFO_VCPU:
		if (obj->type != ZX_OBJ_TYPE_VCPU)
			st = ZX_ERR_WRONG_TYPE;
		else if (!(rights & ZX_RIGHT_INSPECT))
			st = ZX_ERR_ACCESS_DENIED;
		else {
			zx_info_vcpu_t info = {.flags = kb__vcpu_info_flags((struct kb_vcpu *)obj)};
			st = info_copy(&info, sizeof(info), buffer, buffer_size, actual, avail);
		}
		break;
	default:
		st = ZX_ERR_NOT_SUPPORTED;
		break;
	}
	kb__object_unref(obj);
	return st;
}
