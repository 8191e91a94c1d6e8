/* Helpers shared by the benchmarks of bench/: a clock, medians, CPU pinning, flag parsing, error
 * messages and JSON output. Every benchmark times its own floor in the same run (README.md), so
 * these only have to make two measurements comparable: same thread, same CPU, same clock, same
 * statistic. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* CLOCK_MONOTONIC in nanoseconds: the clock of every timed loop. */
uint64_t bench_now_ns(void);

/* The median of values[0..n) (n >= 1; the mean of the two middle values when n is even).
 * values is left as it is. */
double bench_median(const double *values, size_t n);

/* Pin the calling thread to cpu, or to the CPU it runs on now when cpu < 0, so that a run is
 * not split across CPUs with different caches and frequencies. Returns the CPU, or -errno. */
int bench_pin_cpu(int cpu);

/* Parse a decimal count in [min, max] for a command-line flag. */
bool bench_parse_count(const char *s, unsigned long min, unsigned long max, unsigned long *out);

/* Whether /dev/kvm is PVM (software nested KVM, notes/kvm-on-this-machine.md), where every exit
 * costs 5-20x more than on bare metal: the numbers are printed with the platform they came from. */
bool bench_kvm_is_pvm(void);

/* Print "PROGRAM: " (program_invocation_short_name), the message and a newline to stderr.
 * Returns -1, for `return bench_fail(...)`. */
int bench_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Print values[0..n) as a JSON array of numbers with the given printf precision. */
void bench_json_array(FILE *f, const double *values, size_t n, int precision);
