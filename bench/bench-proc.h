/* Server processes for the benchmarks of bench/ that go through a socket (P2, P3, P4): zxvmd
 * and the floor's echo server are started by the benchmark itself on a private socket in a
 * temporary directory, and stopped at the end. Readiness is the server's "ready" line on
 * stderr, read as it comes (no polling of the socket). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

struct bench_server {
	const char *name; /* for messages: "zxvmd", "echo server" */
	pid_t pid;
	int pidfd;
	int err_fd; /* the read end of its stderr; the drain thread owns it after ready */
	bool draining;
	void *drain; /* struct drain, the thread and the tail of stderr it keeps */
};

/* A private directory under $TMPDIR (or /tmp) for sockets; out holds size bytes. Returns 0 or
 * -errno. */
int bench_tmpdir_create(char *out, size_t size);
/* Remove the directory and the sockets the servers left in it. */
void bench_tmpdir_remove(const char *dir);

/* The path of a program next to this one: rel is relative to the directory of
 * /proc/self/exe ("../daemon/zxvmd", "bench_echo_server"). out holds size bytes. */
int bench_sibling_path(const char *rel, char *out, size_t size);

/* Start argv[0] with argv, its stdin /dev/null, its stdout ours, its stderr a pipe; pin it
 * (all its threads) to the CPUs in cpu_mask when it is non-zero. Returns when the server has
 * printed a line ending in "ready" (0), or -1 (the reason and the server's stderr are printed)
 * when it exits first or says nothing for timeout_ms. Afterwards a thread drains its stderr,
 * keeping the tail for bench_server_stop. */
int bench_server_start(struct bench_server *s, const char *name, char *const argv[],
		       unsigned long cpu_mask, int timeout_ms);

/* SIGTERM, and wait up to timeout_ms for the exit. Returns 0 when it exited with status 0;
 * else -1, with the reason and the last of its stderr printed. Safe on a server that did
 * not start. */
int bench_server_stop(struct bench_server *s, int timeout_ms);

/* Parse "0", "1", "0,1", "0-1": a CPU mask for bench_server_start. */
bool bench_parse_cpu_list(const char *s, unsigned long *out_mask);

/* Where zxvmd is: path when given (a flag), else $ZXVMD, else ../daemon/zxvmd next to this
 * program (the build tree's layout). */
int bench_zxvmd_path(const char *path, char *out, size_t size);

/* Start zxvmd on dir/zxvmd.sock (log level notice), or bench_echo_server (next to this
 * program) on dir/echo.sock; out_target gets "unix:<socket>". 0 or -1 as bench_server_start. */
int bench_start_zxvmd(struct bench_server *s, const char *zxvmd, const char *dir,
		      unsigned long cpu_mask, char *out_target, size_t size);
int bench_start_echo(struct bench_server *s, const char *dir, unsigned long cpu_mask,
		     char *out_target, size_t size);

/* Move every thread of a running server to the CPUs in cpu_mask (threads it starts later
 * inherit it from their creator). 0, or -1 with the reason printed. */
int bench_server_set_cpus(struct bench_server *s, unsigned long cpu_mask);

/* Where zxvmd is (bench_zxvmd_path) and a new private directory (bench_tmpdir_create), the
 * start of every benchmark that runs zxvmd. 0, or -1 with "prog: no path for zxvmd or no
 * temporary directory" printed. */
int bench_prepare(const char *prog, const char *zxvmd_flag, char *zxvmd, size_t zxvmd_size,
		  char *dir, size_t dir_size);

/* The floor's side of P4 and P7: this program run again as "self --inproc-child N" (it connects
 * with "inproc:" once and prints its samples on stdout), inheriting our CPU affinity. */
struct bench_child {
	pid_t pid;
	int fd;	   /* the read end of its stdout */
	FILE *out; /* fd as a FILE *, or NULL when fdopen failed */
};

/* Start the child. 0, or -1 (a failed spawn is printed as "prog: cannot start the in-process
 * child: ..."). */
int bench_child_start(const char *prog, unsigned long n, struct bench_child *c);
/* Close its stdout and reap it; true when it exited with status 0. */
bool bench_child_finish(struct bench_child *c);
