/* Helpers of the API tests that need no guest code (tests/api_*_test.c): a guest with its VMAR
 * and nothing else, handles with fewer rights, a handle value no table holds. */
#pragma once

#include <zircon/syscalls.h>

#define PAGE 4096ull
#define ASPACE_SIZE (1ull << 48) /* the x86-64 guest-physical address space (spec §2.1) */
#define MADE_UP_HANDLE 0x5a5a5a5bu

struct guest {
	zx_handle_t guest;
	zx_handle_t vmar;
};

zx_status_t guest_create(struct guest *g);
void guest_close(struct guest *g);

/* A duplicate of h with `drop` removed from its rights. */
zx_status_t dup_without(zx_handle_t h, zx_rights_t drop, zx_handle_t *out);
