/* A libzxvm user as a third party writes it: only the installed headers and library. It
 * connects to the default daemon (or $ZXVM_ADDR), creates a guest, and prints what it got;
 * with --offline it only proves that it links and loads. */
#include <stdio.h>
#include <string.h>

#include <zircon/syscalls.h>
#include <zxvm/zxvm.h>

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "--offline") == 0) {
		printf("%s\n", zx_status_get_string(ZX_ERR_ACCESS_DENIED));
		return 0;
	}
	zx_handle_t resource, guest, vmar;
	zx_status_t st = zxvm_connect(NULL, &resource);
	if (st != ZX_OK) {
		printf("connect: %s\n", zx_status_get_string(st));
		return 2;
	}
	st = zx_guest_create(resource, 0, &guest, &vmar);
	printf("zx_guest_create: %s\n", zx_status_get_string(st));
	zxvm_disconnect();
	return st == ZX_OK ? 0 : 3;
}
