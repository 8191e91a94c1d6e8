/* zxvm CLI internals: options, output (text or one JSON document), errors and exit codes. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <zircon/syscalls.h>

/* Exit codes (zxvm(1)). */
#define EXIT_USAGE 1
#define EXIT_CONNECT 2
#define EXIT_ZX 3

struct cli {
	const char *addr;
	const char *session; /* NULL: ephemeral */
	uint64_t thread;
	bool json;
	bool tty;
	zx_handle_t resource;
};

extern struct cli cli;

/* Connect (once) with the global options; prints and exits 2 on failure. */
void cli_connect(bool named_session);
/* A failed call: print "zxvm: WHAT: ZX_ERR_..." and exit 3. */
_Noreturn void cli_fail(const char *what, zx_status_t st);
_Noreturn void cli_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Check a call's status: fail with WHAT unless ZX_OK. */
void cli_check(zx_status_t st, const char *what);

/* Number parsing: decimal or 0x hex; usage error on junk. */
uint64_t cli_u64(const char *what, const char *s);

/* Output: in text mode values print on one line separated by spaces (or "key value" lines
 * with out_kv), in JSON mode one object per command. */
void out_begin(void);
void out_u64(const char *key, uint64_t v);   /* text: decimal */
void out_hex(const char *key, uint64_t v);   /* text: 0x... */
void out_str(const char *key, const char *v);
void out_kv_mode(bool on); /* text: "key value" lines instead of one line */
void out_end(void);

void cli_print_packet(const zx_port_packet_t *p);

/* zxvm run (run.c). */
int cmd_run(int argc, char **argv);
