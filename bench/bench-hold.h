/* Guest holders for the capacity benchmarks (P5, P6): client processes that each connect to a
 * zxvmd, build guests (bench-guest.h) on threads of their own, one VCPU per thread as spec §2.3
 * requires, enter each once and then park it (no enter in progress), until told to enter them
 * all again or to go. A session holds at most 64 guests and zxvmd runs one VCPU thread per
 * client thread (64 per session by default), so many guests take several processes. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

struct bench_holder {
	pid_t pid;
	int cmd_fd; /* its stdin: 'e' enters every guest once more; EOF ends it */
	void *out;  /* FILE * of its reports */
	unsigned long guests;
};

struct bench_holders {
	struct bench_holder *p;
	size_t n;
	unsigned long held; /* guests built and entered once */
};

/* The flags of P5 and P6: -k GUESTS (1..max_guests), -w WARM (1..64, only when warm_max is
 * non-zero), --zxvmd PATH, --json, --help. The caller sets the defaults in f first. Returns 0 to
 * run, 1 after --help (exit 0), -1 on a usage error (printed; exit 1). */
struct bench_hold_flags {
	unsigned long guests, warm;
	const char *zxvmd;
	bool json;
};

int bench_hold_parse(const char *prog, void (*usage)(FILE *f), unsigned long max_guests,
		     unsigned long warm_max, int argc, char **argv, struct bench_hold_flags *f);

/* Fork holders for `guests` guests, at most `per_process` in each (<= 64), connected to target,
 * and wait until each has built and entered all of its guests. The calling process must not
 * have used libzxvm (gRPC is not fork-safe). 0, or -1 with the reason printed (h->held says how
 * many were built before it). */
int bench_hold_start(struct bench_holders *h, const char *target, unsigned long guests,
		     unsigned long per_process);
/* Enter every held guest once more, all holders at once; *out_entered counts the enters that
 * brought the guest's packet. 0 or -1. */
int bench_hold_enter_all(struct bench_holders *h, unsigned long *out_entered);
/* End every holder (its session and guests go with it) and reap it. */
void bench_hold_stop(struct bench_holders *h);

/* A field of /proc/PID/status (a number: "VmRSS" and "RssShmem" in KiB, "Threads"), and the
 * open fds of /proc/PID/fd; -1 when unreadable. */
long bench_proc_status(pid_t pid, const char *key);
long bench_proc_fds(pid_t pid);
/* The soft and hard limit of a /proc/PID/limits line ("Max open files"); false if absent. */
bool bench_proc_limit(pid_t pid, const char *name, char *soft, char *hard, size_t size);
