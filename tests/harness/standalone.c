/* What the harness (guest.c, fixture.c) needs of the test runner, for the helper programs that
 * have a main of their own (zxvm-test-client, zxvm-fault-client, load): compiled into each of
 * them, so that the archive's runner (test.c) is not linked in. A failure is a line on stderr
 * named after the program; the program decides what it means. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

#include "test.h"

zx_handle_t test_resource;

void test_fail(const char *file, int line, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "%s: %s:%d: ", program_invocation_short_name, file, line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}
