/* hello: the smallest complete VMM on libzxvm. It creates a guest with 2 MiB of RAM at GPA 0,
 * writes identity page tables there (CR3 = 0 at the BSP's start, spec §5.1), loads hello.bin,
 * traps the serial port and the exit port, and prints what the guest writes.
 *
 * Usage: hello [IMAGE]   (connects to $ZXVM_ADDR, or the system zxvmd; "inproc:" runs the
 * guest inside this process). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zircon/syscalls.h>
#include <zxvm/zxvm.h>

#define RAM_SIZE (2u << 20)
#define LOAD_ADDR 0x100000u
#define SERIAL_PORT 0x3f8u
#define EXIT_PORT 0xf4u

static zx_status_t check(zx_status_t st, const char *what)
{
	if (st != ZX_OK)
		fprintf(stderr, "hello: %s: %s\n", what, zx_status_get_string(st));
	return st;
}

#define TRY(expr)                                                                                  \
	do {                                                                                       \
		if (check((expr), #expr) != ZX_OK)                                                 \
			return 3;                                                                  \
	} while (0)

static int load_image(const char *path, uint8_t **out, size_t *out_len)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		perror(path);
		return -1;
	}
	static uint8_t buf[RAM_SIZE - LOAD_ADDR];
	size_t n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	*out = buf;
	*out_len = n;
	return 0;
}

int main(int argc, char **argv)
{
	const char *image = argc > 1 ? argv[1] : "hello.bin";
	uint8_t *code;
	size_t code_len;
	if (load_image(image, &code, &code_len) < 0)
		return 1;

	zx_handle_t resource, guest, vmar, vmo, vcpu;
	zx_status_t st = zxvm_connect(NULL, &resource);
	if (st != ZX_OK) {
		fprintf(stderr, "hello: cannot connect to zxvmd (%s): %s\n",
			getenv("ZXVM_ADDR") ? getenv("ZXVM_ADDR") : "default socket",
			zx_status_get_string(st));
		return 2;
	}
	TRY(zx_guest_create(resource, 0, &guest, &vmar));
	TRY(zx_vmo_create(RAM_SIZE, 0, &vmo));
	TRY(zx_vmo_replace_as_executable(vmo, ZX_HANDLE_INVALID, &vmo));

	/* PML4 at 0, PDPT at 0x1000, one PD at 0x2000 mapping the first GiB with 2 MiB pages. */
	static uint64_t pt[0x3000 / 8];
	pt[0] = 0x1000 | 3;
	pt[0x1000 / 8] = 0x2000 | 3;
	for (uint64_t i = 0; i < 512; i++)
		pt[0x2000 / 8 + i] = (i << 21) | 0x83;
	TRY(zx_vmo_write(vmo, pt, 0, sizeof(pt)));
	TRY(zx_vmo_write(vmo, code, LOAD_ADDR, code_len));

	zx_vaddr_t addr;
	TRY(zx_vmar_map(vmar, ZX_VM_PERM_READ | ZX_VM_PERM_WRITE | ZX_VM_PERM_EXECUTE | ZX_VM_SPECIFIC,
			0, vmo, 0, RAM_SIZE, &addr));
	TRY(zx_guest_set_trap(guest, ZX_GUEST_TRAP_IO, SERIAL_PORT, 1, ZX_HANDLE_INVALID, 1));
	TRY(zx_guest_set_trap(guest, ZX_GUEST_TRAP_IO, EXIT_PORT, 1, ZX_HANDLE_INVALID, 2));
	TRY(zx_vcpu_create(guest, 0, LOAD_ADDR, &vcpu));

	for (;;) {
		zx_port_packet_t p;
		TRY(zx_vcpu_enter(vcpu, &p));
		if (p.type != ZX_PKT_TYPE_GUEST_IO)
			continue;
		if (p.key == 1 && !p.guest_io.input) {
			putchar(p.guest_io.u8);
		} else if (p.key == 2) {
			fflush(stdout);
			int code_out = p.guest_io.u8;
			zx_handle_close(vcpu);
			zx_handle_close(guest);
			zx_handle_close(vmar);
			zx_handle_close(vmo);
			zxvm_disconnect();
			return code_out;
		}
	}
}
