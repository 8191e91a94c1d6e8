/* VMOs: guest memory lives in a memfd, mapped into KVM memslots by the guest VMAR. */
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <zircon/errors.h>
#include <zircon/rights.h>
#include <zircon/syscalls/resource.h>

#include "kb-internal.h"

static void vmo_destroy(struct kb_object *obj)
{
	struct kb_vmo *vmo = (struct kb_vmo *)obj;
	if (vmo->fd >= 0)
		close(vmo->fd);
	atomic_fetch_sub(&obj->account->memory_bytes, vmo->size);
	free(vmo);
}

static const struct kb_object_ops vmo_ops = {.destroy = vmo_destroy};

zx_status_t kb_vmo_create(kb_table *table, uint64_t size, uint32_t options, zx_handle_t *out)
{
	if (!out || (options & ~(ZX_VMO_RESIZABLE | ZX_VMO_DISCARDABLE)))
		return ZX_ERR_INVALID_ARGS;
	struct kb_account *account = kb__table_account(table);
	if (size > account->limits.max_vmo_bytes || size > UINT64_MAX - KB_PAGE_SIZE)
		return ZX_ERR_OUT_OF_RANGE;
	size = ZXVM_ALIGN_UP(size, KB_PAGE_SIZE);
	zx_status_t st = kb__account_take_memory(account, size);
	if (st != ZX_OK)
		return st;

	struct kb_vmo *vmo = calloc(1, sizeof(*vmo));
	if (!vmo) {
		atomic_fetch_sub(&account->memory_bytes, size);
		return ZX_ERR_NO_MEMORY;
	}
	kb__object_init(&vmo->obj, ZX_OBJ_TYPE_VMO, &vmo_ops, account);
	vmo->size = size;
	vmo->options = options;
	vmo->fd = memfd_create("zxvm-vmo", MFD_CLOEXEC);
	if (vmo->fd < 0 || ftruncate(vmo->fd, (off_t)size) < 0) {
		st = zxvm_status_from_errno(errno);
		kb__object_unref(&vmo->obj);
		return st == ZX_ERR_INTERNAL ? ZX_ERR_NO_MEMORY : st;
	}
	zx_rights_t rights = ZX_DEFAULT_VMO_RIGHTS;
	if (options & ZX_VMO_RESIZABLE)
		rights |= ZX_RIGHT_RESIZE;
	return kb__handle_add(table, &vmo->obj, rights, out);
}

static zx_status_t vmo_io(kb_table *table, zx_handle_t handle, zx_rights_t right, void *rbuf,
			  const void *wbuf, uint64_t offset, size_t len)
{
	struct kb_object *obj;
	zx_status_t st = kb__handle_get(table, handle, ZX_OBJ_TYPE_VMO, right, &obj, NULL);
	if (st != ZX_OK)
		return st;
	struct kb_vmo *vmo = (struct kb_vmo *)obj;
	if ((len && !rbuf && !wbuf))
		st = ZX_ERR_INVALID_ARGS;
	else if (offset > vmo->size || len > vmo->size - offset)
		st = ZX_ERR_OUT_OF_RANGE;
	for (size_t done = 0; st == ZX_OK && done < len;) {
		ssize_t n = rbuf ? pread(vmo->fd, (uint8_t *)rbuf + done, len - done,
					 (off_t)(offset + done))
				 : pwrite(vmo->fd, (const uint8_t *)wbuf + done, len - done,
					  (off_t)(offset + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			st = n < 0 ? zxvm_status_from_errno(errno) : ZX_ERR_IO;
		else
			done += (size_t)n;
	}
	kb__object_unref(obj);
	return st;
}

zx_status_t kb_vmo_read(kb_table *table, zx_handle_t vmo, void *buffer, uint64_t offset,
			size_t buffer_size)
{
	return vmo_io(table, vmo, ZX_RIGHT_READ, buffer, NULL, offset, buffer_size);
}

zx_status_t kb_vmo_write(kb_table *table, zx_handle_t vmo, const void *buffer, uint64_t offset,
			 size_t buffer_size)
{
	return vmo_io(table, vmo, ZX_RIGHT_WRITE, NULL, buffer, offset, buffer_size);
}

zx_status_t kb_vmo_replace_as_executable(kb_table *table, zx_handle_t vmo, zx_handle_t vmex,
					 zx_handle_t *out)
{
	/* The VMO handle is consumed whatever happens (spec §4). vmex may be
	 * ZX_HANDLE_INVALID (older kernels, and DESIGN.md's client contract). */
	zx_status_t st = ZX_OK;
	if (vmex != ZX_HANDLE_INVALID) {
		struct kb_object *obj;
		st = kb__handle_get(table, vmex, ZX_OBJ_TYPE_RESOURCE, 0, &obj, NULL);
		if (st == ZX_OK) {
			struct kb_resource *res = (struct kb_resource *)obj;
			if (res->kind != ZX_RSRC_KIND_SYSTEM || res->base != ZX_RSRC_SYSTEM_VMEX_BASE)
				st = ZX_ERR_ACCESS_DENIED;
			kb__object_unref(obj);
		}
	}
	struct kb_object *obj;
	zx_rights_t rights;
	zx_status_t vst = kb__handle_get(table, vmo, ZX_OBJ_TYPE_VMO, 0, &obj, &rights);
	if (vst == ZX_ERR_BAD_HANDLE)
		return vst;
	if (vst == ZX_OK && st == ZX_OK && !out)
		st = ZX_ERR_INVALID_ARGS;
	if (vst != ZX_OK || st != ZX_OK) {
		if (vst == ZX_OK)
			kb__object_unref(obj);
		kb_handle_close(table, vmo);
		return vst != ZX_OK ? vst : st;
	}
	kb_handle_close(table, vmo);
	return kb__handle_add(table, obj, rights | ZX_RIGHT_EXECUTE, out);
}
