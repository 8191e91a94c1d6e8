/* zxvmd's seccomp filter (seccomp(2) through libseccomp): once the daemon has started, every
 * thread of it, gRPC's included, may make only the system calls serving clients needs. A
 * client that found a way to run code in the daemon through a bug still could not execve,
 * ptrace, mount, load modules, fork or open other kinds of sockets.
 *
 * The list is what `strace -f` saw zxvmd call over the whole test suite (tests/ against a
 * daemon, tests/faults included), plus the calls of paths the suite reaches rarely (NSS lookups
 * of unix peers, sd_notify, error paths of glibc). Anything else fails with EPERM rather than
 * killing the thread: gRPC must not die on an unexpected call, and the failure shows up in its
 * logs and ours. Installed with TSYNC, so that the threads gRPC already started get the same
 * filter atomically; later threads inherit it. */
#include <errno.h>
#include <linux/sched.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/socket.h>

#include <seccomp.h>

#include "daemon-internal.h"

/* The sanitizer runtimes stop the world with ptrace from a cloned helper (LeakSanitizer at exit)
 * and read /proc: a sanitized build allows what they use, the shipped build does not. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define ZXD_SECCOMP_SANITIZER 1
#else
#define ZXD_SECCOMP_SANITIZER 0
#endif

/* clang-format off */
/* The lists keep several names to a line, grouped by what they serve.
 *
 * Allowed whatever the arguments. ioctl is among them: the KVM API is ioctls on the
 * daemon's own /dev/kvm, VM and VCPU fds. */
static const char *const allowed[] = {
	/* memory */
	"brk", "mmap", "munmap", "mprotect", "mremap", "madvise", "membarrier",
	/* threads, futexes, scheduling */
	"futex", "set_robust_list", "get_robust_list", "rseq", "set_tid_address", "gettid",
	"exit", "exit_group", "sched_yield", "sched_getaffinity", "sched_getparam",
	"sched_getscheduler", "sched_get_priority_min", "sched_get_priority_max",
	/* signals: the VCPU kick is a signal to a VCPU thread (kvm_backend/vcpu.c) */
	"rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "rt_sigtimedwait", "sigaltstack",
	"tgkill", "restart_syscall",
	/* time and timers (the guest APIC timer is a POSIX timer) */
	"clock_gettime", "clock_getres", "gettimeofday", "time", "nanosleep", "clock_nanosleep",
	"timer_create", "timer_settime", "timer_gettime", "timer_getoverrun", "timer_delete",
	"timerfd_create", "timerfd_settime", "timerfd_gettime",
	/* files: VMOs are memfds; the unix socket's file is made and removed by us */
	"read", "write", "readv", "writev", "pread64", "pwrite64", "lseek", "close", "openat",
	"open", "fstat", "newfstatat", "statx", "stat", "lstat", "access", "faccessat",
	"faccessat2", "readlink", "readlinkat", "getdents64", "fcntl", "dup", "dup2", "dup3",
	"pipe2", "eventfd2", "memfd_create", "ftruncate", "fallocate", "unlink", "unlinkat",
	"chmod", "fchmod", "fchmodat", "chown", "fchown", "fchownat", "umask", "ioctl",
	/* event loops */
	"epoll_create1", "epoll_ctl", "epoll_wait", "epoll_pwait", "epoll_pwait2", "poll", "ppoll",
	"select", "pselect6",
	/* sockets (socket itself is checked below) */
	"socketpair", "bind", "listen", "accept", "accept4", "connect", "getsockname",
	"getpeername", "getsockopt", "setsockopt", "sendmsg", "sendto", "sendmmsg", "recvmsg",
	"recvfrom", "recvmmsg", "shutdown",
	/* identity and system facts (NSS lookups of unix peers, gRPC's start-up questions) */
	"getpid", "getppid", "getuid", "geteuid", "getgid", "getegid", "getgroups", "getresuid",
	"getresgid", "uname", "sysinfo", "getrlimit", "prlimit64", "getrandom", "getcpu",
};

static const char *const sanitizer_allowed[] = {
	"ptrace", "wait4", "waitid", "kill", "tkill", "process_vm_readv", "sched_setaffinity",
	"getdents", "prctl",
};
/* clang-format on */

/* prctl: thread names (gRPC names its threads) and harmless queries. */
static const int allowed_prctl[] = {PR_SET_NAME, PR_GET_NAME, PR_CAPBSET_READ, PR_GET_DUMPABLE};

/* Address families of the listeners and of sd_notify. */
static const int allowed_af[] = {AF_UNIX, AF_INET, AF_INET6};

static int allow_all(scmp_filter_ctx ctx, const char *const *names, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int nr = seccomp_syscall_resolve_name(names[i]);
		if (nr == __NR_SCMP_ERROR)
			continue; /* not a call of this architecture */
		int rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int add_rules(scmp_filter_ctx ctx)
{
	int rc = allow_all(ctx, allowed, ZXVM_ARRAY_SIZE(allowed));
	if (rc == 0 && ZXD_SECCOMP_SANITIZER)
		rc = allow_all(ctx, sanitizer_allowed, ZXVM_ARRAY_SIZE(sanitizer_allowed));
	for (size_t i = 0; rc == 0 && i < ZXVM_ARRAY_SIZE(allowed_prctl); i++)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(prctl), 1,
				      SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)allowed_prctl[i], 0));
	for (size_t i = 0; rc == 0 && i < ZXVM_ARRAY_SIZE(allowed_af); i++)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1,
				      SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)allowed_af[i], 0));
	/* New threads, not processes. clone3 passes its flags in memory a filter cannot read:
	 * it answers ENOSYS, and glibc then falls back to clone, whose flags it can. */
	if (rc == 0)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
	if (rc == 0 && ZXD_SECCOMP_SANITIZER)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 0);
	else if (rc == 0)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
				      SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD));
	return rc;
}

int zxd_seccomp_install(void)
{
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ERRNO(EPERM));
	if (!ctx)
		return -ENOMEM;
	/* Every thread at once (or none); no_new_privs is set by libseccomp (SCMP_FLTATR_CTL_NNP
	 * defaults to on), which an unprivileged daemon needs anyway. */
	int rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1);
	if (rc == 0)
		rc = add_rules(ctx);
	if (rc == 0)
		rc = seccomp_load(ctx);
	seccomp_release(ctx);
	return rc;
}
