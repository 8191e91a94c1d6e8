/* Shared parts of the fault tests (tests/faults/): the guests of fault-guests.S set up through
 * the public API, VCPU threads that run a guest inside enter, and child processes talked to
 * over pipes with a deadline on every read (no sleeping, no polling). */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <zircon/syscalls.h>

#include "harness/guest.h"

#define FAULT_IO_PORT 0x10u
#define FAULT_IO_KEY 0x10ull
/* The bell of the spinning guests (guest-asm.h BELL_GPA). */
#define FAULT_BELL_GPA 0x40000000ull
#define FAULT_BELL_KEY 0xbe11ull

/* A guest whose every enter ends in one GUEST_IO packet (out to port 0x10). */
zx_status_t fault_io_guest_setup(struct test_guest *g);
bool fault_io_packet_ok(const zx_port_packet_t *p);

/* A VCPU thread that builds a guest from `code` (which rings the bell at FAULT_BELL_GPA and
 * then runs forever) with the bell trapped to `port`, and enters it once. */
struct fault_spinner {
	pthread_t thread;
	struct guest_code code;
	zx_handle_t port;
	zx_handle_t vcpu;      /* valid once ready */
	zx_status_t setup;     /* of the guest set-up */
	zx_status_t enter;     /* of the enter, once it returned */
	pthread_mutex_t *lock; /* the caller's, shared by its spinners */
	pthread_cond_t *cond;
	int *nready; /* incremented under lock when the set-up is done */
	bool print;  /* print "enter ZX_..." when the enter returns */
};
int fault_spinner_start(struct fault_spinner *s);
/* Wait until `n` bells rang on `port` (every spinner is then inside enter). */
zx_status_t fault_wait_bells(zx_handle_t port, int n, int64_t timeout_ms);

/* A child process with its stdin and stdout on pipes. */
struct fault_child {
	pid_t pid;
	int in, out;
	char buf[4096];
	size_t len;
};
/* Start argv[0] (a path) with argv. 0 or -errno. */
int fault_child_start(struct fault_child *c, char *const argv[]);
/* The child's next line (without the newline) into line; false at EOF or after timeout_ms. */
bool fault_child_line(struct fault_child *c, char *line, size_t size, int timeout_ms);
/* Write a line to the child's stdin. */
bool fault_child_say(struct fault_child *c, const char *line);
/* Close its stdin and wait for its exit (SIGKILL after timeout_ms). Its wait status. */
int fault_child_end(struct fault_child *c, int timeout_ms);
/* Kill it (SIGKILL) and reap it; safe on a child that never started. */
void fault_child_kill(struct fault_child *c);

/* $env_name if set, else the program `name` next to this one (a static buffer, valid until
 * the next call). */
const char *fault_sibling_path(const char *env_name, const char *name);
/* zxvm-fault-client next to this program, or $ZXVM_FAULT_CLIENT. */
const char *fault_client_path(void);

/* CLOCK_MONOTONIC nanoseconds, and the zx deadline ms from now. */
int64_t fault_now_ns(void);
