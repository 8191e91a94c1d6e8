/* zxvmd's seccomp filter (daemon/seccomp.c), installed in a child process exactly as the
 * daemon installs it: what an attacker running code in the daemon would want fails with EPERM
 * (execve, ptrace, mount, fork, a netlink socket, prctl beyond thread names), and what the
 * daemon does keeps working (threads, memfds, unix sockets, /dev/kvm, the kick signal). Every
 * thread has the filter: one started before (TSYNC) and one after (inherited). The daemon's own
 * filter on a running zxvmd is checked by faults_test.sh seccomp. */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "daemon-internal.h"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SANITIZED 1 /* the filter allows the sanitizer runtimes ptrace and fork-like clones */
#else
#define SANITIZED 0
#endif

static int passed, failed;

static void check(const char *what, bool good, const char *detail)
{
	printf("%-4s %s%s%s\n", good ? "ok" : "FAIL", what, detail[0] ? ": " : "", detail);
	if (good)
		passed++;
	else
		failed++;
}

/* A call that must fail with EPERM under the filter. */
static void expect_eperm(const char *what, long rc)
{
	int err = errno;
	char d[96];
	snprintf(d, sizeof(d), "expected -1 EPERM, got %ld %s", rc, rc < 0 ? strerror(err) : "");
	check(what, rc == -1 && err == EPERM, rc == -1 && err == EPERM ? "EPERM" : d);
}

static void expect_ok(const char *what, long rc)
{
	int err = errno;
	char d[96];
	snprintf(d, sizeof(d), "failed: %s", strerror(err));
	check(what, rc >= 0, rc >= 0 ? "" : d);
}

/* The Seccomp: line of a /proc status file. */
static int seccomp_mode(const char *path)
{
	FILE *f = fopen(path, "re");
	char line[256];
	int mode = -1;
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "Seccomp: %d", &mode) == 1)
			break;
	if (f)
		fclose(f);
	return mode;
}

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static bool go;
static int early_mode = -1;

/* Started before the filter: TSYNC must give it the filter too. */
static void *early_thread(void *arg)
{
	pthread_mutex_lock(&lock);
	while (!go)
		pthread_cond_wait(&cond, &lock);
	pthread_mutex_unlock(&lock);
	early_mode = seccomp_mode("/proc/thread-self/status");
	return NULL;
}

static void *late_thread(void *arg)
{
	*(int *)arg = seccomp_mode("/proc/thread-self/status");
	return NULL;
}

static void on_signal(int sig)
{
}

static int child(void)
{
	pthread_t early, late;
	int late_mode = -1;
	pthread_create(&early, NULL, early_thread, NULL);
	int rc = zxd_seccomp_install();
	check("zxd_seccomp_install", rc == 0, rc == 0 ? "" : strerror(-rc));
	if (rc != 0)
		return 1;
	pthread_mutex_lock(&lock);
	go = true;
	pthread_cond_broadcast(&cond);
	pthread_mutex_unlock(&lock);
	pthread_join(early, NULL);

	/* Forbidden. */
	char *argv[] = {(char *)"/bin/true", NULL};
	expect_eperm("execve /bin/true", execve(argv[0], argv, argv + 1));
	/* Without the filter this target's absence would answer ENOENT. */
	expect_eperm("mount tmpfs", mount("none", "/nonexistent-zxvm-test", "tmpfs", 0, NULL));
	expect_eperm("socket AF_NETLINK", socket(AF_NETLINK, SOCK_RAW, 0));
	expect_eperm("socket AF_PACKET", socket(AF_PACKET, SOCK_RAW, 0));
	expect_eperm("unshare", syscall(SYS_unshare, 0));
	expect_eperm("setuid", syscall(SYS_setuid, 0));
	expect_eperm("init_module", syscall(SYS_init_module, NULL, 0, ""));
	if (!SANITIZED) {
		expect_eperm("prctl PR_SET_DUMPABLE", prctl(PR_SET_DUMPABLE, 1, 0, 0, 0));
		expect_eperm("ptrace PTRACE_TRACEME", ptrace(PTRACE_TRACEME, 0, NULL, NULL));
		/* A raw clone without CLONE_THREAD: a new process (fork). */
		expect_eperm("fork (clone without CLONE_THREAD)",
			     syscall(SYS_clone, SIGCHLD, NULL, NULL, NULL, NULL));
	}

	/* What the daemon does. */
	char d[96];
	expect_ok("pthread_create (clone3 answers ENOSYS, glibc falls back to clone)",
		  -pthread_create(&late, NULL, late_thread, &late_mode));
	pthread_join(late, NULL);
	snprintf(d, sizeof(d), "a thread from before has %d, one from after %d", early_mode,
		 late_mode);
	check("every thread filtered (Seccomp: 2)", early_mode == 2 && late_mode == 2, d);
	int fd = memfd_create("zxvm-test", MFD_CLOEXEC);
	expect_ok("memfd_create", fd);
	expect_ok("ftruncate", ftruncate(fd, 4096));
	void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	check("mmap of a memfd", p != MAP_FAILED, "");
	close(fd);
	int sv[2];
	expect_ok("socketpair AF_UNIX", socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
	expect_ok("socket AF_INET6", fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0));
	close(fd);
	uint64_t rnd;
	expect_ok("getrandom", getrandom(&rnd, sizeof(rnd), 0));
	expect_ok("prctl PR_SET_NAME", prctl(PR_SET_NAME, "zxvm-test", 0, 0, 0));
	struct sigaction sa = {.sa_handler = on_signal};
	expect_ok("rt_sigaction", sigaction(SIGUSR2, &sa, NULL));
	expect_ok("tgkill (the VCPU kick)", syscall(SYS_tgkill, getpid(), gettid(), SIGUSR2));
	fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (fd >= 0)
		expect_ok("ioctl KVM_GET_API_VERSION", ioctl(fd, KVM_GET_API_VERSION, 0));
	else
		printf("skip /dev/kvm: %s\n", strerror(errno));
	printf("%d passed, %d failed\n", passed, failed);
	fflush(stdout);
	return failed ? 1 : 0;
}

int main(void)
{
	if (seccomp_mode("/proc/self/status") < 0) {
		printf("skipped: this kernel has no seccomp\n");
		return 77;
	}
	fflush(stdout);
	pid_t pid = fork();
	if (pid < 0)
		return 1;
	if (pid == 0)
		_exit(child());
	int status;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (WIFSIGNALED(status)) {
		printf("FAIL the filtered process died of signal %d (the filter must not kill)\n",
		       WTERMSIG(status));
		return 1;
	}
	return WEXITSTATUS(status);
}
