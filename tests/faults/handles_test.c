/* Handle values cannot be guessed (DESIGN.md "Security"): a session's handles are random 32-bit
 * values with Zircon's two fixed low bits set (spec §1.2), so a client cannot name another
 * session's objects by counting, and values of one session say nothing about the next. The
 * same program runs in process and through zxvmd. */
#include <stdlib.h>
#include <string.h>

#include "harness/test.h"

#define NHANDLES 1000

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

TEST(handle_values_look_random)
{
	static zx_handle_t h[NHANDLES], sorted[NHANDLES];
	size_t n = 0;
	ASSERT_OK(zx_vmo_create(4096, 0, &h[n++]));
	while (n < NHANDLES) {
		zx_status_t st = zx_handle_duplicate(h[0], ZX_RIGHT_SAME_RIGHTS, &h[n]);
		if (st != ZX_OK) {
			test_fail(__FILE__, __LINE__, "duplicate %zu: %s", n,
				  zx_status_get_string(st));
			break;
		}
		n++;
	}
	memcpy(sorted, h, n * sizeof(h[0]));
	qsort(sorted, n, sizeof(sorted[0]), cmp_u32);
	size_t dups = 0, low_bits = 0;
	for (size_t i = 0; i < n; i++) {
		dups += i > 0 && sorted[i] == sorted[i - 1];
		low_bits += (sorted[i] & 3u) == 3u;
	}
	/* Spread: each of the 16 top-nibble buckets holds ~n/16 (62.5 for 1000); fewer than 20 in
	 * one has a probability below 1e-12 for uniform values. Each of bits 2..31 is set in
	 * ~n/2 values (sigma ~16); outside 350..650 is over 9 sigma. */
	size_t bucket[16] = {0}, bit_set[32] = {0}, min_bucket = n, bad_bits = 0;
	for (size_t i = 0; i < n; i++) {
		bucket[sorted[i] >> 28]++;
		for (int b = 0; b < 32; b++)
			bit_set[b] += (sorted[i] >> b) & 1;
	}
	for (int k = 0; k < 16; k++)
		min_bucket = bucket[k] < min_bucket ? bucket[k] : min_bucket;
	for (int b = 2; b < 32; b++)
		bad_bits += bit_set[b] * 1000 < 350 * n || bit_set[b] * 1000 > 650 * n;
	printf("     %zu handles: %zu equal pairs, %zu with the low two bits set, smallest "
	       "%#x, largest %#x, fewest in a top-nibble bucket %zu, bits 2..31 off balance %zu\n",
	       n, dups, low_bits, sorted[0], sorted[n - 1], min_bucket, bad_bits);
	EXPECT_EQ(NHANDLES, n);
	EXPECT_EQ(0, dups);
	EXPECT_EQ(n, low_bits);
	EXPECT_TRUE(min_bucket >= 20);
	EXPECT_EQ(0, bad_bits);
	for (size_t i = 0; i < n; i++)
		zx_handle_close(h[i]);
}

/* A closed handle's value is not handed out again right away (it would let a stale value
 * name a new object): 1000 close + create pairs never give back the value just closed. */
TEST(handle_values_not_reused_at_once)
{
	zx_handle_t keep, h;
	size_t reused = 0;
	ASSERT_OK(zx_vmo_create(4096, 0, &keep));
	ASSERT_OK(zx_handle_duplicate(keep, ZX_RIGHT_SAME_RIGHTS, &h));
	for (int i = 0; i < NHANDLES; i++) {
		zx_handle_t closed = h;
		zx_handle_close(closed);
		ASSERT_OK(zx_handle_duplicate(keep, ZX_RIGHT_SAME_RIGHTS, &h));
		reused += h == closed;
	}
	zx_handle_close(h);
	zx_handle_close(keep);
	EXPECT_EQ(0, reused);
}
