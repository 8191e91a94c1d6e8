/* Logging: one line per event on stderr, prefixed with <N> (sd-daemon(3)) so that journald
 * keeps the priority and `journalctl -p warning` is useful. */
#include <stdarg.h>
#include <stdio.h>

#include "daemon-internal.h"

static int max_level = ZXD_LOG_INFO;

void zxd_log_set_level(int level)
{
	max_level = level;
}

void zxd_log(int priority, const char *fmt, ...)
{
	if (priority > max_level)
		return;
	char line[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	/* One write per line, so lines of concurrent threads do not interleave. */
	fprintf(stderr, "<%d>%s\n", priority, line);
}
