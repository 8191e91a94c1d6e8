/* A small test runner: TEST() bodies register themselves; main() runs them (or those named on
 * the command line), prints each result and closes with "N passed, N failed". A test that
 * cannot run calls TEST_SKIP with the reason. Assertions print expected and actual values,
 * statuses by name. */
#pragma once

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zircon/syscalls.h>

#ifndef ARRAY_SIZE
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#endif

typedef void (*test_fn)(void);
void test_register(const char *name, test_fn fn);
void test_fail(const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void test_skip(const char *why);
bool test_failed(void);

/* The hypervisor resource handle of this run's connection (zxvm_connect). */
extern zx_handle_t test_resource;

#define TEST(name)                                                                                 \
	static void name(void);                                                                    \
	__attribute__((constructor)) static void register_##name(void)                             \
	{                                                                                          \
		test_register(#name, name);                                                        \
	}                                                                                          \
	static void name(void)

#define EXPECT_STATUS(expected, expr)                                                              \
	do {                                                                                       \
		zx_status_t _e = (expected), _a = (expr);                                         \
		if (_e != _a)                                                                      \
			test_fail(__FILE__, __LINE__, "%s: expected %s, got %s", #expr,            \
				  zx_status_get_string(_e), zx_status_get_string(_a));             \
	} while (0)

#define ASSERT_STATUS(expected, expr)                                                              \
	do {                                                                                       \
		zx_status_t _e = (expected), _a = (expr);                                         \
		if (_e != _a) {                                                                    \
			test_fail(__FILE__, __LINE__, "%s: expected %s, got %s", #expr,            \
				  zx_status_get_string(_e), zx_status_get_string(_a));             \
			return;                                                                    \
		}                                                                                  \
	} while (0)

#define ASSERT_OK(expr) ASSERT_STATUS(ZX_OK, expr)

#define EXPECT_EQ(expected, actual)                                                                \
	do {                                                                                       \
		uint64_t _e = (uint64_t)(expected), _a = (uint64_t)(actual);                       \
		if (_e != _a)                                                                      \
			test_fail(__FILE__, __LINE__, "%s: expected %#" PRIx64 ", got %#" PRIx64,  \
				  #actual, _e, _a);                                                \
	} while (0)

#define ASSERT_EQ(expected, actual)                                                                \
	do {                                                                                       \
		uint64_t _e = (uint64_t)(expected), _a = (uint64_t)(actual);                       \
		if (_e != _a) {                                                                    \
			test_fail(__FILE__, __LINE__, "%s: expected %#" PRIx64 ", got %#" PRIx64,  \
				  #actual, _e, _a);                                                \
			return;                                                                    \
		}                                                                                  \
	} while (0)

#define ASSERT_TRUE(cond)                                                                          \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			test_fail(__FILE__, __LINE__, "expected %s", #cond);                       \
			return;                                                                    \
		}                                                                                  \
	} while (0)

#define EXPECT_TRUE(cond)                                                                          \
	do {                                                                                       \
		if (!(cond))                                                                       \
			test_fail(__FILE__, __LINE__, "expected %s", #cond);                       \
	} while (0)

#define TEST_SKIP(why)                                                                             \
	do {                                                                                       \
		test_skip(why);                                                                    \
		return;                                                                            \
	} while (0)

/* For tests that need a daemon (ZXVM_TEST_TARGET other than inproc:, as with-zxvmd.sh sets
 * it): skip them in process, where there is one handle table and nothing to isolate. */
#define NEED_DAEMON()                                                                              \
	do {                                                                                       \
		const char *_t = getenv("ZXVM_TEST_TARGET");                                       \
		if (!_t || strcmp(_t, "inproc:") == 0)                                             \
			TEST_SKIP("needs zxvmd: run through tests/daemon/with-zxvmd.sh");          \
	} while (0)
