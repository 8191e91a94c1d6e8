/* The runner behind test.h. Connects with zxvm_connect($ZXVM_TEST_TARGET or "inproc:") once,
 * then runs every registered test (or those named on the command line) in order. Exit codes:
 * 0 all passed, 1 a failure, 77 nothing could run (no /dev/kvm for an in-process run). */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zxvm/zxvm.h>

#include "test.h"

#define MAX_TESTS 512

static struct {
	const char *name;
	test_fn fn;
} tests[MAX_TESTS];
static int ntests;
static bool cur_failed, cur_skipped;
static const char *cur_name;
zx_handle_t test_resource;

void test_register(const char *name, test_fn fn)
{
	if (ntests < MAX_TESTS)
		tests[ntests++] = (typeof(tests[0])){name, fn};
}

void test_fail(const char *file, int line, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "  %s:%d: %s: ", file, line, cur_name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	cur_failed = true;
}

void test_skip(const char *why)
{
	fprintf(stderr, "  %s: skipped: %s\n", cur_name, why);
	cur_skipped = true;
}

bool test_failed(void)
{
	return cur_failed;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(((const typeof(tests[0]) *)a)->name, ((const typeof(tests[0]) *)b)->name);
}

int main(int argc, char **argv)
{
	const char *target = getenv("ZXVM_TEST_TARGET");
	if (!target)
		target = "inproc:";
	if (strcmp(target, "inproc:") == 0 && access("/dev/kvm", R_OK | W_OK) != 0) {
		printf("skipped: /dev/kvm is not usable here; guest tests need KVM\n");
		return 77;
	}
	zx_status_t st = zxvm_connect(target, &test_resource);
	if (st != ZX_OK) {
		printf("cannot connect to %s: %s\n", target, zx_status_get_string(st));
		return 1;
	}
	qsort(tests, (size_t)ntests, sizeof(tests[0]), by_name);
	int passed = 0, failed = 0, skipped = 0;
	for (int i = 0; i < ntests; i++) {
		bool selected = argc <= 1;
		for (int a = 1; a < argc; a++)
			selected |= strcmp(argv[a], tests[i].name) == 0;
		if (!selected)
			continue;
		cur_name = tests[i].name;
		cur_failed = cur_skipped = false;
		tests[i].fn();
		const char *what = cur_failed ? "FAIL" : cur_skipped ? "SKIP" : "ok";
		printf("%-4s %s\n", what, cur_name);
		fflush(stdout);
		if (cur_failed)
			failed++;
		else if (cur_skipped)
			skipped++;
		else
			passed++;
	}
	zxvm_disconnect();
	printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped);
	return failed ? 1 : 0;
}
