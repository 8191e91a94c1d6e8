/* Writes the seed corpora of tests/fuzz/corpus/ from valid messages: a few small inputs per
 * target that reach past the decoding and the handle checks. Run by hand after the input
 * formats change (fuzz.h, the targets' comments), and check the output in:
 *   build-fuzz/tests/fuzz/fuzz_gen_corpus tests/fuzz/corpus */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <zircon/syscalls/hypervisor.h>
#include <zircon/syscalls/object.h>
#include <zircon/syscalls/port.h>

#include "zxvm-proto.h"

/* Handle field selectors: one nibble per handle field, 0xf = as encoded. */
#define H(a) (0xfff0u | (a))
#define H2(a, b) (0xff00u | (b) << 4 | (a))
#define NOH 0xffffu
/* The op bits that make a record run as another client thread (fz_record_tid). */
#define TID2 0x40

struct seed {
	uint8_t buf[4096];
	size_t len;
};

static void rec(struct seed *s, uint8_t op, uint16_t hsel, const ProtobufCMessage *msg)
{
	size_t n = msg ? protobuf_c_message_get_packed_size(msg) : 0;
	if (s->len + 5 + n > sizeof(s->buf))
		abort();
	uint8_t *p = s->buf + s->len;
	p[0] = op;
	p[1] = (uint8_t)hsel;
	p[2] = (uint8_t)(hsel >> 8);
	p[3] = (uint8_t)n;
	p[4] = (uint8_t)(n >> 8);
	if (msg)
		protobuf_c_message_pack(msg, p + 5);
	s->len += 5 + n;
}

static void raw(struct seed *s, size_t n, ...)
{
	va_list ap;
	va_start(ap, n);
	for (size_t i = 0; i < n; i++)
		s->buf[s->len++] = (uint8_t)va_arg(ap, int);
	va_end(ap);
}

static void raw64(struct seed *s, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		s->buf[s->len++] = (uint8_t)(v >> (8 * i));
}

static const char *out_dir;

static void emit(const char *target, const char *name, struct seed *s)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", out_dir, target);
	if (mkdir(path, 0755) < 0 && errno != EEXIST) {
		perror(path);
		exit(1);
	}
	snprintf(path, sizeof(path), "%s/%s/%s", out_dir, target, name);
	FILE *f = fopen(path, "wb");
	if (!f || fwrite(s->buf, 1, s->len, f) != s->len || fclose(f) != 0) {
		perror(path);
		exit(1);
	}
	memset(s, 0, sizeof(*s));
}

static void rpc_guest(void)
{
	/* Handles: 0 resource, 1 guest, 2 port, 3 VMAR, 4 RAM, 5 VMEX resource; 6+ created. */
	struct seed s = {0};
	Zxvm__V1__GuestCreateRequest gc = ZXVM__V1__GUEST_CREATE_REQUEST__INIT;
	Zxvm__V1__GuestSetTrapRequest t = ZXVM__V1__GUEST_SET_TRAP_REQUEST__INIT;
	rec(&s, 0, H(0), &gc.base);
	t.kind = ZX_GUEST_TRAP_IO;
	t.addr = 0x60;
	t.size = 4;
	t.key = 7;
	rec(&s, 1, H(6), &t.base);
	emit("rpc_guest", "create-then-io-trap", &s);

	t.kind = ZX_GUEST_TRAP_MEM;
	t.addr = 0x80000000;
	t.size = 0x2000;
	rec(&s, 1, H(1), &t.base);
	t.kind = ZX_GUEST_TRAP_BELL;
	t.addr = 0x90000000;
	t.size = 0x1000;
	rec(&s, 1, H2(1, 2), &t.base);
	t.addr = 0x90000000; /* the same range again: ALREADY_EXISTS */
	rec(&s, 1, H2(1, 2), &t.base);
	emit("rpc_guest", "mem-and-bell-traps", &s);
}

static void rpc_vcpu(void)
{
	/* Methods: 0 VcpuCreate, 1 ReadState, 2 WriteState, 3 Interrupt, 4 Kick, 5 Enter.
	 * Handles: 0 VCPU, 1 guest, 2 port, 3 RAM; 4+ created. */
	struct seed s = {0};
	Zxvm__V1__VcpuEnterRequest e = ZXVM__V1__VCPU_ENTER_REQUEST__INIT;
	Zxvm__V1__VcpuReadStateRequest rs = ZXVM__V1__VCPU_READ_STATE_REQUEST__INIT;
	Zxvm__V1__VcpuWriteStateRequest ws = ZXVM__V1__VCPU_WRITE_STATE_REQUEST__INIT;
	Zxvm__V1__VcpuState st = ZXVM__V1__VCPU_STATE__INIT;
	Zxvm__V1__VcpuIo io = ZXVM__V1__VCPU_IO__INIT;
	Zxvm__V1__VcpuInterruptRequest irq = ZXVM__V1__VCPU_INTERRUPT_REQUEST__INIT;
	Zxvm__V1__HandleRequest h = ZXVM__V1__HANDLE_REQUEST__INIT;
	Zxvm__V1__VcpuCreateRequest vc = ZXVM__V1__VCPU_CREATE_REQUEST__INIT;

	for (int i = 0; i < 4; i++)
		rec(&s, 5, H(0), &e.base);
	emit("rpc_vcpu", "enter-4", &s);

	rec(&s, 5, H(0), &e.base);
	rs.kind = ZX_VCPU_STATE;
	rs.buffer_size = sizeof(zx_vcpu_state_t);
	rec(&s, 1, H(0), &rs.base);
	ws.kind = ZX_VCPU_STATE;
	ws.buffer_size = sizeof(zx_vcpu_state_t);
	ws.value_case = ZXVM__V1__VCPU_WRITE_STATE_REQUEST__VALUE_STATE;
	ws.state = &st;
	st.rax = 0x1234;
	st.rbx = 0x40000000;
	st.rsi = 0x40001000; /* the bell */
	st.rdx = 0xf7;
	st.rflags = 0x2;
	rec(&s, 2, H(0), &ws.base);
	rec(&s, 5, H(0), &e.base);
	rec(&s, 5, H(0), &e.base);
	rec(&s, 5, H(0), &e.base);
	rec(&s, 5, H(0), &e.base);
	emit("rpc_vcpu", "state-then-enter", &s);

	rec(&s, 5, H(0), &e.base);
	rec(&s, 5, H(0), &e.base); /* the in */
	ws.kind = ZX_VCPU_IO;
	ws.buffer_size = sizeof(zx_vcpu_io_t);
	ws.value_case = ZXVM__V1__VCPU_WRITE_STATE_REQUEST__VALUE_IO;
	ws.io = &io;
	io.access_size = 1;
	io.data = 0x5a;
	rec(&s, 2, H(0), &ws.base);
	rec(&s, 5, H(0), &e.base);
	emit("rpc_vcpu", "in-then-io", &s);

	rec(&s, 4, H(0), &h.base);
	rec(&s, 5, H(0), &e.base);
	irq.vector = 40;
	rec(&s, 3, H(0), &irq.base);
	rec(&s, 5, H(0), &e.base);
	emit("rpc_vcpu", "kick-interrupt", &s);

	vc.entry = 0x8000; /* a real-mode AP (spec §5.2): the harness's AP loop */
	rec(&s, 0 | TID2, H(1), &vc.base);
	rec(&s, 5 | TID2, H(4), &e.base);
	rec(&s, 1 | TID2, H(4), &rs.base);
	emit("rpc_vcpu", "second-vcpu", &s);
}

static void rpc_vmo(void)
{
	/* Methods: 0 VmoCreate, 1 VmoRead, 2 VmoWrite, 3 VmoReplaceAsExecutable.
	 * Handles: 0 VMO (64 KiB), 1 port, 2 VMEX resource, 3 hypervisor resource; 4+. */
	struct seed s = {0};
	Zxvm__V1__VmoCreateRequest c = ZXVM__V1__VMO_CREATE_REQUEST__INIT;
	Zxvm__V1__VmoReadRequest r = ZXVM__V1__VMO_READ_REQUEST__INIT;
	Zxvm__V1__VmoWriteRequest w = ZXVM__V1__VMO_WRITE_REQUEST__INIT;
	Zxvm__V1__VmoReplaceAsExecutableRequest x = ZXVM__V1__VMO_REPLACE_AS_EXECUTABLE_REQUEST__INIT;
	static uint8_t bytes[64] = "zxvm fuzz seed";

	w.offset = 0xff00;
	w.data.data = bytes;
	w.data.len = sizeof(bytes);
	rec(&s, 2, H(0), &w.base);
	r.offset = 0xff00;
	r.size = 0x100;
	rec(&s, 1, H(0), &r.base);
	emit("rpc_vmo", "write-read", &s);

	c.size = 0x3001;
	rec(&s, 0, NOH, &c.base);
	r.offset = 0x3000;
	r.size = 0x1000;
	rec(&s, 1, H(4), &r.base);
	rec(&s, 3, H2(4, 2), &x.base);
	rec(&s, 1, H(5), &r.base);
	emit("rpc_vmo", "create-replace", &s);
}

static void rpc_vmar(void)
{
	/* Methods: 0 VmarMap, 1 VmarUnmap, 2 VmarProtect, 3 VmoCreate. Handles: 0 VMAR, 1 RAM,
	 * 2 VMO (64 KiB), 3 read-only VMO handle, 4 resizable VMO, 5 guest; 6+. */
	struct seed s = {0};
	Zxvm__V1__VmarMapRequest m = ZXVM__V1__VMAR_MAP_REQUEST__INIT;
	Zxvm__V1__VmarUnmapRequest u = ZXVM__V1__VMAR_UNMAP_REQUEST__INIT;
	Zxvm__V1__VmarProtectRequest p = ZXVM__V1__VMAR_PROTECT_REQUEST__INIT;

	m.options = ZX_VM_PERM_READ | ZX_VM_PERM_WRITE | ZX_VM_SPECIFIC;
	m.vmar_offset = 0x800000;
	m.len = 0x10000;
	rec(&s, 0, H2(0, 2), &m.base);
	p.options = ZX_VM_PERM_READ;
	p.addr = 0x804000;
	p.len = 0x4000;
	rec(&s, 2, H(0), &p.base);
	u.addr = 0x802000;
	u.len = 0x4000;
	rec(&s, 1, H(0), &u.base);
	emit("rpc_vmar", "map-protect-unmap", &s);

	m.options = ZX_VM_PERM_READ | ZX_VM_SPECIFIC_OVERWRITE;
	m.vmar_offset = 0x100000;
	m.vmo_offset = 0x8000;
	m.len = 0x8000;
	rec(&s, 0, H2(0, 3), &m.base);
	m.options = ZX_VM_PERM_READ | ZX_VM_PERM_WRITE | ZX_VM_ALLOW_FAULTS;
	m.vmar_offset = 0;
	m.vmo_offset = 0;
	rec(&s, 0, H2(0, 4), &m.base);
	emit("rpc_vmar", "overwrite-and-anywhere", &s);
}

static void rpc_port(void)
{
	/* Methods: 0 PortCreate, 1 PortQueue, 2 PortWait, 3 HandleClose, 4 HandleDuplicate,
	 * 5 HandleReplace, 6 ObjectGetInfo. Handles: 0 port, 1 resource, 2 guest, 3 VMAR,
	 * 4 RAM, 5 VCPU, 6 bell port; 7+ created. */
	struct seed s = {0};
	Zxvm__V1__PortCreateRequest pc = ZXVM__V1__PORT_CREATE_REQUEST__INIT;
	Zxvm__V1__PortQueueRequest q = ZXVM__V1__PORT_QUEUE_REQUEST__INIT;
	Zxvm__V1__PortWaitRequest w = ZXVM__V1__PORT_WAIT_REQUEST__INIT;
	Zxvm__V1__PortPacket pkt = ZXVM__V1__PORT_PACKET__INIT;
	Zxvm__V1__UserPacket user = ZXVM__V1__USER_PACKET__INIT;
	Zxvm__V1__HandleRequest h = ZXVM__V1__HANDLE_REQUEST__INIT;
	Zxvm__V1__HandleRightsRequest hr = ZXVM__V1__HANDLE_RIGHTS_REQUEST__INIT;
	Zxvm__V1__ObjectGetInfoRequest gi = ZXVM__V1__OBJECT_GET_INFO_REQUEST__INIT;
	uint64_t u64[4] = {1, 2, 3, 4};

	pkt.key = 42;
	pkt.type = ZX_PKT_TYPE_USER;
	pkt.payload_case = ZXVM__V1__PORT_PACKET__PAYLOAD_USER;
	pkt.user = &user;
	user.n_u64 = 4;
	user.u64 = u64;
	q.packet = &pkt;
	rec(&s, 1, H(0), &q.base);
	rec(&s, 2, H(0), &w.base);
	rec(&s, 2, H(0), &w.base);
	emit("rpc_port", "queue-wait", &s);

	rec(&s, 0, NOH, &pc.base);
	hr.rights = 0x80000000u; /* ZX_RIGHT_SAME_RIGHTS */
	rec(&s, 4, H(7), &hr.base);
	hr.rights = 0x4; /* ZX_RIGHT_READ */
	rec(&s, 5, H(8), &hr.base);
	rec(&s, 1, H(9), &q.base);
	rec(&s, 3, H(7), &h.base);
	emit("rpc_port", "dup-replace-close", &s);

	/* A user packet without payload words: protobuf-c decodes the empty repeated field to
	 * a NULL array (convert.c once passed it to memcpy). */
	user.n_u64 = 0;
	user.u64 = NULL;
	rec(&s, 1, H(0), &q.base);
	rec(&s, 2, H(0), &w.base);
	emit("rpc_port", "empty-user-packet", &s);

	uint32_t topics[] = {ZX_INFO_HANDLE_BASIC, ZX_INFO_VMAR, ZX_INFO_VCPU,
			     ZX_INFO_HANDLE_VALID};
	uint8_t targets[] = {2, 3, 5, 4};
	for (int i = 0; i < 4; i++) {
		gi.topic = topics[i];
		gi.buffer_size = 64;
		rec(&s, 6, H(targets[i]), &gi.base);
	}
	emit("rpc_port", "get-info", &s);
}

static void rpc_stream(void)
{
	/* Handles: 0 VCPU, 1 guest, 2 RAM. */
	struct seed s = {0};
	Zxvm__V1__VcpuStreamRequest sr = ZXVM__V1__VCPU_STREAM_REQUEST__INIT;
	Zxvm__V1__VcpuEnterRequest e = ZXVM__V1__VCPU_ENTER_REQUEST__INIT;
	Zxvm__V1__VcpuReadStateRequest rs = ZXVM__V1__VCPU_READ_STATE_REQUEST__INIT;
	Zxvm__V1__VcpuWriteStateRequest ws = ZXVM__V1__VCPU_WRITE_STATE_REQUEST__INIT;
	Zxvm__V1__VcpuIo io = ZXVM__V1__VCPU_IO__INIT;

	sr.call_case = ZXVM__V1__VCPU_STREAM_REQUEST__CALL_ENTER;
	sr.enter = &e;
	for (int i = 0; i < 3; i++)
		rec(&s, 0, H(0), &sr.base);
	sr.call_case = ZXVM__V1__VCPU_STREAM_REQUEST__CALL_READ_STATE;
	sr.read_state = &rs;
	rs.kind = ZX_VCPU_STATE;
	rs.buffer_size = sizeof(zx_vcpu_state_t);
	rec(&s, 0, H(0), &sr.base);
	emit("rpc_stream", "enter-read", &s);

	sr.call_case = ZXVM__V1__VCPU_STREAM_REQUEST__CALL_ENTER;
	sr.enter = &e;
	rec(&s, 0, H(0), &sr.base);
	rec(&s, 0, H(0), &sr.base);
	sr.call_case = ZXVM__V1__VCPU_STREAM_REQUEST__CALL_WRITE_STATE;
	sr.write_state = &ws;
	ws.kind = ZX_VCPU_IO;
	ws.buffer_size = sizeof(zx_vcpu_io_t);
	ws.value_case = ZXVM__V1__VCPU_WRITE_STATE_REQUEST__VALUE_IO;
	ws.io = &io;
	io.access_size = 1;
	io.data = 0x77;
	rec(&s, 0, H(0), &sr.base);
	rec(&s, 0, NOH, NULL); /* no call at all */
	emit("rpc_stream", "in-write-io", &s);
}

static void kb_targets(void)
{
	struct seed s = {0};
	/* kb_vcpu_state: op (bits 0-1: 0 read, 1 write, 2-3 enter; 2-3: kind; 0x10 size from
	 * the input; 0x20 NULL; 0x80 another tid), then the kind/size/bytes it asks for. */
	raw(&s, 3, 2, 2, 0);              /* enter, enter, read */
	raw(&s, 1, 1);                    /* write STATE: 136 bytes follow */
	for (int i = 0; i < 17; i++)
		raw64(&s, i == 16 ? 0x2 : i == 3 ? 0x40000000 : 0x1000 * i);
	raw(&s, 2, 2, 2);
	emit("kb_vcpu_state", "enter-write-enter", &s);
	raw(&s, 2, 2, 2);                 /* to the in */
	raw(&s, 1, 1 | 4);                /* write IO: 8 bytes follow */
	raw(&s, 8, 2, 0, 0, 0, 0x34, 0x12, 0, 0);
	raw(&s, 3, 0x80 | 0, 0x80 | 2, 0x10 | 0);
	raw(&s, 2, 0x88, 0);
	emit("kb_vcpu_state", "io-other-tid-sizes", &s);

	/* kb_trap: k (bits 0-1 kind or 3 = u32 follows; 0x10 the port; 0x20 a VMO as port),
	 * the address (how, fz_size), the size (fz_size). fz_size: byte & 3 = 0 u8, 1 u16
	 * pages, 2 u8 << (byte >> 2), 3 u64. */
	raw(&s, 1, 2);                           /* IO */
	raw(&s, 3, 0, 0, 0x60);                  /* addr: fz_size u8 0x60 */
	raw(&s, 2, 0, 4);                        /* size 4 */
	raw(&s, 1, 1);                           /* MEM */
	raw(&s, 4, 1, 1, 0x00, 0x10);            /* addr: pages 0x1000 << 12 */
	raw(&s, 3, 1, 2, 0);                     /* size 2 pages */
	raw(&s, 1, 0x10);                        /* BELL with the port */
	raw(&s, 4, 1, 1, 0x02, 0x10);
	raw(&s, 3, 1, 1, 0);
	emit("kb_trap", "io-mem-bell", &s);
	raw(&s, 1, 1);
	raw(&s, 3, 2, 1, 1);                     /* ASPACE - 1 page... via fz_size pages */
	raw(&s, 3, 1, 1, 0);
	raw(&s, 1, 2);
	raw(&s, 3, 3, 0, 0xf0);                  /* 0x10000 - 0xf0 */
	raw(&s, 2, 0, 0xf0);
	emit("kb_trap", "edges", &s);

	/* kb_vmar: op (% 3: map, unmap, protect; bits 2-3 the VMO; 0x80 options u32), options,
	 * then addresses and sizes (pick_addr: how, fz_size). */
	raw(&s, 2, 0x04, 0x0b);                  /* map VMO 1, R|W|SPECIFIC (1|2|8)... */
	raw(&s, 4, 1, 1, 0x10, 0);               /* vmar_offset: (0x10 & 0x3f) << 12 */
	raw(&s, 2, 0, 0);                        /* vmo_offset 0 */
	raw(&s, 3, 1, 0x10, 0);                  /* len 16 pages */
	raw(&s, 2, 2, 0x01);                     /* protect R */
	raw(&s, 4, 1, 1, 0x14, 0);
	raw(&s, 3, 1, 4, 0);
	raw(&s, 2, 1, 0);                        /* unmap */
	raw(&s, 4, 1, 1, 0x12, 0);
	raw(&s, 3, 1, 2, 0);
	emit("kb_vmar", "map-protect-unmap", &s);
	raw(&s, 2, 0x00, 0x01);                  /* map RAM R, anywhere */
	raw(&s, 3, 0, 0, 0);
	raw(&s, 2, 0, 0);
	raw(&s, 3, 1, 0x10, 0);
	raw(&s, 2, 0x08, 0x03);                  /* map the read-only handle R|W: denied */
	raw(&s, 3, 0, 0, 0);
	raw(&s, 2, 0, 0);
	raw(&s, 3, 1, 0x1, 0);
	emit("kb_vmar", "anywhere-denied", &s);

	/* kb_vmo: op (bits 0-1: create, read, write, NULL read; 2-3 which VMO), offset, size
	 * (fz_size each). */
	raw(&s, 1, 2);
	raw(&s, 3, 1, 1, 0);                     /* offset one page */
	raw(&s, 2, 0, 0x40);                     /* 0x40 bytes */
	raw(&s, 1, 1);
	raw(&s, 3, 1, 1, 0);
	raw(&s, 2, 0, 0x80);
	raw(&s, 1, 1 | 4);                       /* read through the read-only handle */
	raw(&s, 2, 0, 0xff);
	raw(&s, 3, 1, 0x03, 0);
	emit("kb_vmo", "write-read", &s);
	raw(&s, 1, 0);                           /* create 0x1001 bytes */
	raw(&s, 3, 0x0a, 0x01, 0);
	raw(&s, 2, 0, 0);
	raw(&s, 1, 2 | 8);                       /* write the new one */
	raw(&s, 3, 1, 1, 0);
	raw(&s, 2, 0, 0x10);
	raw(&s, 1, 2);                           /* write at the end of the model */
	raw(&s, 3, 1, 3, 0);
	raw(&s, 2, 0, 1);
	emit("kb_vmo", "create-edges", &s);
}

static void kb_x86_decode(void)
{
	/* kb_x86_decode: mode (bits 0-1: real, prot16, prot32, long; 4: 16 GPRs follow), then
	 * the instruction bytes. */
	struct seed s = {0};
	raw(&s, 4, 3, 0x8b, 0x0b, 0x90);                     /* mov (%rbx), %ecx */
	emit("kb_x86_decode", "long-mov-load", &s);
	raw(&s, 1, 3 | 4);
	for (int i = 0; i < 16; i++)
		raw64(&s, 0x1000 * (uint64_t)i);
	raw(&s, 9, 0x67, 0x44, 0x89, 0x44, 0x8e, 0x10, 0x90, 0x90, 0x90); /* SIB, disp8 */
	emit("kb_x86_decode", "long-sib-with-gprs", &s);
	raw(&s, 3, 3, 0xf3, 0x6e);                           /* rep outsb */
	emit("kb_x86_decode", "long-rep-outs", &s);
	raw(&s, 10, 3, 0x48, 0xa1, 1, 2, 3, 4, 5, 6, 7);     /* mov moffs64, %rax (cut) */
	emit("kb_x86_decode", "long-moffs", &s);
	raw(&s, 5, 0, 0x89, 0x0e, 0x34, 0x12);               /* real mode: mov %cx, 0x1234 */
	emit("kb_x86_decode", "real-mov-store", &s);
	raw(&s, 4, 2, 0x66, 0xe7, 0x80);                     /* prot32: out %ax, $0x80 */
	emit("kb_x86_decode", "prot32-out", &s);
}

static void kb_guest_code(void)
{
	/* kb_guest_code: flags (bits 0-2 enters - 1, 3 a vector follows, 4 answer `in`s), then
	 * 64-bit code at the BSP entry (assembled from the comments with GNU as). */
	struct seed s = {0};
	/* mov $0x40000000, %ebx; mov (%rbx), %eax; mov %eax, 8(%rbx); movl $1, 0x1000(%rbx) */
	raw(&s, 1, 3);
	raw(&s, 20, 0xbb, 0x00, 0x00, 0x00, 0x40, 0x8b, 0x03, 0x89, 0x43, 0x08, 0xc7, 0x83, 0x00,
	    0x10, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00);
	emit("kb_guest_code", "mmio-and-bell", &s);
	/* mov $0x830, %ecx; mov $0x40030, %eax; xor %edx, %edx; wrmsr (self IPI 0x30);
	 * mov $0x802, %ecx; rdmsr; mov $0x1b, %ecx; rdmsr */
	raw(&s, 1, 3);
	raw(&s, 28, 0xb9, 0x30, 0x08, 0x00, 0x00, 0xb8, 0x30, 0x00, 0x04, 0x00, 0x31, 0xd2, 0x0f,
	    0x30, 0xb9, 0x02, 0x08, 0x00, 0x00, 0x0f, 0x32, 0xb9, 0x1b, 0x00, 0x00, 0x00, 0x0f,
	    0x32);
	emit("kb_guest_code", "x2apic-msrs", &s);
	/* mov $1, %eax; cpuid; vmcall; stac; clac */
	raw(&s, 1, 1);
	raw(&s, 16, 0xb8, 0x01, 0x00, 0x00, 0x00, 0x0f, 0xa2, 0x0f, 0x01, 0xc1, 0x0f, 0x01, 0xcb,
	    0x0f, 0x01, 0xca);
	emit("kb_guest_code", "cpuid-vmcall-stac", &s);
	/* mov $0xf4, %dx; mov $0x100000, %esi; mov $3, %ecx; rep outsb; in $0xf5, %al;
	 * in (%dx), %eax */
	raw(&s, 1, 0x10 | 4);
	raw(&s, 19, 0x66, 0xba, 0xf4, 0x00, 0xbe, 0x00, 0x00, 0x10, 0x00, 0xb9, 0x03, 0x00, 0x00,
	    0x00, 0xf3, 0x6e, 0xe4, 0xf5, 0xed);
	emit("kb_guest_code", "string-io-and-in", &s);
	/* mov $0x832, %ecx; mov $0x40030, %eax; xor %edx, %edx; wrmsr (LVT timer: TSC deadline,
	 * vector 0x30); mov $0x6e0, %ecx; rdtsc; add $100000, %eax; wrmsr (TSC deadline); sti;
	 * hlt */
	raw(&s, 2, 8 | 1, 0x31);
	raw(&s, 30, 0xb9, 0x32, 0x08, 0x00, 0x00, 0xb8, 0x30, 0x00, 0x04, 0x00, 0x31, 0xd2, 0x0f,
	    0x30, 0xb9, 0xe0, 0x06, 0x00, 0x00, 0x0f, 0x31, 0x05, 0xa0, 0x86, 0x01, 0x00, 0x0f,
	    0x30, 0xfb, 0xf4);
	emit("kb_guest_code", "tsc-deadline-hlt", &s);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
		return 2;
	}
	out_dir = argv[1];
	mkdir(out_dir, 0755);
	rpc_guest();
	rpc_vcpu();
	rpc_vmo();
	rpc_vmar();
	rpc_port();
	rpc_stream();
	kb_targets();
	kb_x86_decode();
	kb_guest_code();
	return 0;
}
