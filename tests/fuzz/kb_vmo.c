/* Fuzz target: VMO offsets and sizes directly on kvm_backend. One VMO is mirrored by a model:
 * a read or write succeeds exactly when offset + size fits (no wrap), and reads return what
 * the model holds. Buffers are exactly the size passed, so ASan sees any overrun. */
#include <stdlib.h>
#include <string.h>

#include <zircon/errors.h>

#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MODEL_SIZE 0x3000ull

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t model[MODEL_SIZE];
	zx_handle_t vmos[4] = {0};

	fz_init();
	memset(model, 0, sizeof(model));
	/* 0x2001 bytes round up to three pages. */
	FZ_CHECK(kb_vmo_create(fz.table, 0x2001, 0, &vmos[0]) == ZX_OK, "vmo");
	FZ_CHECK(kb_handle_duplicate(fz.table, vmos[0], ZX_RIGHT_READ, &vmos[1]) == ZX_OK, "dup");

	struct fz_reader rd = {data, size};
	for (int ops = 0; rd.n && ops < 32; ops++) {
		uint8_t op = fz_u8(&rd);
		int which = (op >> 2) & 3;
		zx_handle_t vmo = vmos[which];
		uint64_t offset = fz_size(&rd);
		uint64_t len = fz_size(&rd) & 0xffff;
		bool fits = offset <= MODEL_SIZE && len <= MODEL_SIZE - offset;
		zx_status_t st;
		switch (op & 3) {
		case 0: {
			/* Create: sizes from zero to past the limit, options as given. */
			uint32_t options = (op & 0x40) ? fz_u32(&rd) : 0;
			if (vmos[2] && vmos[3])
				break;
			zx_handle_t *slot = vmos[2] ? &vmos[3] : &vmos[2];
			st = kb_vmo_create(fz.table, offset, options, slot);
			if (st != ZX_OK)
				*slot = 0;
			break;
		}
		case 1: {
			uint8_t *buf = len ? malloc(len) : NULL;
			st = kb_vmo_read(fz.table, vmo, buf, offset, len);
			if (which < 2) {
				FZ_CHECK((st == ZX_OK) == fits, "read %#lx+%#lx: %d", offset, len,
					 st);
				if (st == ZX_OK && len)
					FZ_CHECK(memcmp(buf, model + offset, len) == 0,
						 "read %#lx+%#lx differs", offset, len);
			}
			free(buf);
			break;
		}
		case 2: {
			uint8_t *buf = len ? malloc(len) : NULL;
			for (uint64_t i = 0; i < len; i++)
				buf[i] = (uint8_t)(offset + i + op);
			st = kb_vmo_write(fz.table, vmo, buf, offset, len);
			if (which == 0) {
				FZ_CHECK((st == ZX_OK) == fits, "write %#lx+%#lx: %d", offset, len,
					 st);
				if (st == ZX_OK && len)
					memcpy(model + offset, buf, len);
			} else if (which == 1) {
				FZ_CHECK(st == ZX_ERR_ACCESS_DENIED, "write without the right: %d",
					 st);
			}
			free(buf);
			break;
		}
		default:
			/* A NULL buffer with a size is Zircon's invalid pointer. */
			st = kb_vmo_read(fz.table, vmo, NULL, offset, len);
			if (which < 2 && len)
				FZ_CHECK(st == ZX_ERR_INVALID_ARGS, "NULL read of %#lx: %d", len, st);
			break;
		}
	}
	for (int i = 0; i < 4; i++)
		if (vmos[i])
			kb_handle_close(fz.table, vmos[i]);
	return 0;
}
