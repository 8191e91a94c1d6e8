/* Fuzz target: kb_vcpu_read_state / kb_vcpu_write_state buffers and kinds directly on
 * kvm_backend, with enters in between. Buffers are exactly the size passed (ASan sees an
 * overrun); a write that succeeds must read back (the GPRs, the user RFLAGS bits, an IO
 * value in RAX's low bytes); a call from another tid must be BAD_STATE once kind and size
 * are right. */
#include <stdlib.h>
#include <string.h>

#include <zircon/errors.h>

#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* X86_FLAGS_USER (spec §2.7). */
#define FLAGS_USER 0x244dd5ull

static uint32_t pick_kind(struct fz_reader *rd, uint8_t op)
{
	switch ((op >> 2) & 3) {
	case 0:
		return ZX_VCPU_STATE;
	case 1:
		return ZX_VCPU_IO;
	default:
		return fz_u32(rd);
	}
}

static size_t pick_size(struct fz_reader *rd, uint32_t kind, uint8_t op)
{
	if (op & 0x10)
		return fz_u16(rd) & 0x1ff;
	return kind == ZX_VCPU_IO ? sizeof(zx_vcpu_io_t) : sizeof(zx_vcpu_state_t);
}

static void read_back(const struct fz_guest *g, zx_vcpu_state_t *out)
{
	zx_status_t st =
		kb_vcpu_read_state(fz.table, fz.tid, g->vcpu, ZX_VCPU_STATE, out, sizeof(*out));
	FZ_CHECK(st == ZX_OK, "read_state: %d", st);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct fz_guest g;

	fz_init();
	if (!fz_guest_ready(&g, true))
		return 0;

	bool broken = false;
	struct fz_reader rd = {data, size};
	for (int ops = 0; rd.n && ops < 32; ops++) {
		uint8_t op = fz_u8(&rd);
		bool other_tid = op & 0x80;
		uint64_t tid = other_tid ? fz.tid + 1 : fz.tid;
		zx_status_t st;
		switch (op & 3) {
		case 0: {
			uint32_t kind = pick_kind(&rd, op);
			size_t n = pick_size(&rd, kind, op);
			bool null = op & 0x20;
			uint8_t *buf = n && !null ? malloc(n) : NULL;
			st = kb_vcpu_read_state(fz.table, tid, g.vcpu, kind, buf, n);
			bool right = kind == ZX_VCPU_STATE && n == sizeof(zx_vcpu_state_t) && buf;
			FZ_CHECK(st == (!right ? ZX_ERR_INVALID_ARGS
					       : other_tid ? ZX_ERR_BAD_STATE : ZX_OK),
				 "read_state kind %u size %zu null %d other %d: %d", kind, n, null,
				 other_tid, st);
			if (st == ZX_OK) {
				zx_vcpu_state_t s;
				memcpy(&s, buf, sizeof(s));
				FZ_CHECK(!(s.rflags & ~FLAGS_USER), "rflags %#lx", s.rflags);
			}
			free(buf);
			break;
		}
		case 1: {
			uint32_t kind = pick_kind(&rd, op);
			size_t n = pick_size(&rd, kind, op);
			bool null = op & 0x20;
			uint8_t *buf = n && !null ? malloc(n) : NULL;
			for (size_t i = 0; buf && i < n; i++)
				buf[i] = fz_u8(&rd);
			zx_vcpu_state_t before;
			read_back(&g, &before);
			st = kb_vcpu_write_state(fz.table, tid, g.vcpu, kind, buf, n);
			bool right = buf && ((kind == ZX_VCPU_STATE && n == sizeof(zx_vcpu_state_t)) ||
					     (kind == ZX_VCPU_IO && n == sizeof(zx_vcpu_io_t)));
			if (!right || other_tid) {
				FZ_CHECK(st == (!right ? ZX_ERR_INVALID_ARGS : ZX_ERR_BAD_STATE),
					 "write_state kind %u size %zu null %d other %d: %d", kind, n,
					 null, other_tid, st);
				free(buf);
				break;
			}
			zx_vcpu_state_t after;
			read_back(&g, &after);
			if (kind == ZX_VCPU_STATE) {
				zx_vcpu_state_t s;
				memcpy(&s, buf, sizeof(s));
				FZ_CHECK(st == ZX_OK, "write_state: %d", st);
				uint64_t flags = (s.rflags & 2) ? s.rflags & FLAGS_USER : before.rflags;
				FZ_CHECK(after.rflags == flags, "rflags %#lx, wrote %#lx, was %#lx",
					 after.rflags, s.rflags, before.rflags);
				after.rflags = s.rflags;
				FZ_CHECK(memcmp(&after, &s, sizeof(s)) == 0, "GPRs differ after write");
			} else {
				zx_vcpu_io_t io;
				memcpy(&io, buf, sizeof(io));
				bool size_ok = io.access_size == 1 || io.access_size == 2 ||
					       io.access_size == 4;
				FZ_CHECK(st == (size_ok ? ZX_OK : ZX_ERR_INVALID_ARGS),
					 "write IO size %u: %d", io.access_size, st);
				if (st == ZX_OK) {
					uint64_t want = before.rax;
					memcpy(&want, io.data, io.access_size);
					FZ_CHECK(after.rax == want, "rax %#lx after IO %u bytes, want %#lx",
						 after.rax, io.access_size, want);
				}
			}
			free(buf);
			break;
		}
		default: {
			zx_port_packet_t p;
			st = fz_enter(tid, g.vcpu, &p);
			if (other_tid)
				FZ_CHECK(st == ZX_ERR_BAD_STATE, "enter from another tid: %d", st);
			if (fz_enter_broke(st))
				broken = true;
			break;
		}
		}
	}
	fz_guest_settle(&g, broken);
	return 0;
}
