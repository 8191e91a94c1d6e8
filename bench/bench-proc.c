/* The server processes of bench-proc.h. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <dirent.h>

#include "bench-proc.h"
#include "bench-util.h"

#define TAIL_SIZE 8192

extern char **environ;

struct drain {
	pthread_t thread;
	int fd;
	pthread_mutex_t lock;
	char tail[TAIL_SIZE]; /* the last bytes of the server's stderr, guarded by lock */
	size_t len;	      /* guarded by lock */
};

static void tail_append(struct drain *d, const char *buf, size_t n)
{
	pthread_mutex_lock(&d->lock);
	if (n >= TAIL_SIZE) {
		buf += n - TAIL_SIZE;
		n = TAIL_SIZE;
	}
	if (d->len + n > TAIL_SIZE) {
		size_t drop = d->len + n - TAIL_SIZE;
		memmove(d->tail, d->tail + drop, d->len - drop);
		d->len -= drop;
	}
	memcpy(d->tail + d->len, buf, n);
	d->len += n;
	pthread_mutex_unlock(&d->lock);
}

static void tail_print(struct drain *d, const char *name)
{
	pthread_mutex_lock(&d->lock);
	if (d->len) {
		fprintf(stderr, "---- last of %s's stderr ----\n", name);
		fwrite(d->tail, 1, d->len, stderr);
		if (d->tail[d->len - 1] != '\n')
			fputc('\n', stderr);
		fprintf(stderr, "----\n");
	}
	pthread_mutex_unlock(&d->lock);
}

/* The server keeps logging after ready; a full pipe would block it in the middle of a
 * measurement, so its stderr is read until it closes. */
static void *drain_main(void *arg)
{
	struct drain *d = arg;
	char buf[4096];
	for (;;) {
		ssize_t n = read(d->fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return NULL;
		tail_append(d, buf, (size_t)n);
	}
}

int bench_tmpdir_create(char *out, size_t size)
{
	const char *base = getenv("TMPDIR");
	if (!base || !base[0])
		base = "/tmp";
	/* sun_path holds 108 bytes: leave room for "/zxvmd.sock". */
	if ((size_t)snprintf(out, size, "%s/zxvm-bench-XXXXXX", base) >= size || strlen(out) > 80)
		return -ENAMETOOLONG;
	return mkdtemp(out) ? 0 : -errno;
}

void bench_tmpdir_remove(const char *dir)
{
	DIR *d = opendir(dir);
	if (d) {
		struct dirent *e;
		while ((e = readdir(d))) {
			if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
				continue;
			unlinkat(dirfd(d), e->d_name, 0);
		}
		closedir(d);
	}
	rmdir(dir);
}

int bench_sibling_path(const char *rel, char *out, size_t size)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n < 0)
		return -errno;
	self[n] = 0;
	char *slash = strrchr(self, '/');
	if (slash)
		*slash = 0;
	if ((size_t)snprintf(out, size, "%s/%s", self, rel) >= size)
		return -ENAMETOOLONG;
	return 0;
}

bool bench_parse_cpu_list(const char *s, unsigned long *out_mask)
{
	unsigned long mask = 0;
	const char *p = s;
	while (*p) {
		char *end;
		unsigned long a = strtoul(p, &end, 10), b;
		if (end == p || a >= sizeof(mask) * 8)
			return false;
		b = a;
		if (*end == '-') {
			p = end + 1;
			b = strtoul(p, &end, 10);
			if (end == p || b < a || b >= sizeof(mask) * 8)
				return false;
		}
		for (unsigned long c = a; c <= b; c++)
			mask |= 1ul << c;
		if (*end == ',')
			end++;
		else if (*end)
			return false;
		p = end;
	}
	if (!mask)
		return false;
	*out_mask = mask;
	return true;
}

static int64_t ms_left(uint64_t deadline_ns)
{
	uint64_t now = bench_now_ns();
	return now >= deadline_ns ? 0 : (int64_t)((deadline_ns - now) / 1000000u) + 1;
}

/* Read the server's stderr line by line until one ends in "ready". Lines go into the drain's
 * tail so that a failure can show them. */
static int wait_ready(struct bench_server *s, struct drain *d, int timeout_ms)
{
	uint64_t deadline = bench_now_ns() + (uint64_t)timeout_ms * 1000000u;
	char line[1024];
	size_t len = 0;
	for (;;) {
		struct pollfd p[2] = {{.fd = s->err_fd, .events = POLLIN},
				      {.fd = s->pidfd, .events = POLLIN}};
		int64_t left = ms_left(deadline);
		int n = left ? poll(p, 2, (int)left) : 0;
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			fprintf(stderr, "bench: %s said nothing about being ready in %d ms\n",
				s->name, timeout_ms);
			return -1;
		}
		if (!(p[0].revents & (POLLIN | POLLHUP))) {
			fprintf(stderr, "bench: %s exited before it was ready\n", s->name);
			return -1;
		}
		char c;
		/* Byte by byte: nothing past the ready line is consumed here, and startup prints
		 * a handful of lines at most. */
		ssize_t r = read(s->err_fd, &c, 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			fprintf(stderr, "bench: %s closed its stderr before it was ready\n",
				s->name);
			return -1;
		}
		tail_append(d, &c, 1);
		if (c != '\n') {
			if (len < sizeof(line) - 1)
				line[len++] = c;
			continue;
		}
		line[len] = 0;
		if (len >= 5 && strcmp(line + len - 5, "ready") == 0)
			return 0;
		len = 0;
	}
}

int bench_server_start(struct bench_server *s, const char *name, char *const argv[],
		       unsigned long cpu_mask, int timeout_ms)
{
	*s = (struct bench_server){.name = name, .pid = -1, .pidfd = -1, .err_fd = -1};
	struct drain *d = calloc(1, sizeof(*d));
	if (!d)
		return -1;
	pthread_mutex_init(&d->lock, NULL);
	d->fd = -1;
	s->drain = d;
	if (access(argv[0], X_OK) != 0) {
		fprintf(stderr, "bench: cannot run %s %s: %s\n", name, argv[0], strerror(errno));
		return -1;
	}
	int pipefd[2];
	if (pipe2(pipefd, O_CLOEXEC) < 0) {
		fprintf(stderr, "bench: pipe: %s\n", strerror(errno));
		return -1;
	}
	pid_t pid = fork();
	if (pid < 0) {
		fprintf(stderr, "bench: fork: %s\n", strerror(errno));
		close(pipefd[0]);
		close(pipefd[1]);
		return -1;
	}
	if (pid == 0) {
		/* Only async-signal-safe calls between fork and exec. */
		int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (null >= 0)
			dup2(null, 0);
		dup2(pipefd[1], 2);
		if (cpu_mask) {
			cpu_set_t set;
			CPU_ZERO(&set);
			for (unsigned c = 0; c < sizeof(cpu_mask) * 8; c++)
				if (cpu_mask & (1ul << c))
					CPU_SET(c, &set);
			sched_setaffinity(0, sizeof(set), &set);
		}
		execv(argv[0], argv);
		_exit(127);
	}
	close(pipefd[1]);
	s->pid = pid;
	s->err_fd = pipefd[0];
	s->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (s->pidfd < 0) {
		fprintf(stderr, "bench: pidfd_open: %s\n", strerror(errno));
		return -1;
	}
	if (wait_ready(s, d, timeout_ms) < 0) {
		tail_print(d, name);
		return -1;
	}
	d->fd = s->err_fd;
	if (pthread_create(&d->thread, NULL, drain_main, d) != 0) {
		fprintf(stderr, "bench: cannot start the stderr reader of %s\n", name);
		return -1;
	}
	s->draining = true;
	return 0;
}

int bench_server_stop(struct bench_server *s, int timeout_ms)
{
	struct drain *d = s->drain;
	int rc = 0;
	if (s->pid > 0) {
		kill(s->pid, SIGTERM);
		struct pollfd p = {.fd = s->pidfd, .events = POLLIN};
		int n;
		do
			n = s->pidfd >= 0 ? poll(&p, 1, timeout_ms) : 1;
		while (n < 0 && errno == EINTR);
		if (n == 0) {
			fprintf(stderr,
				"bench: %s did not stop within %d ms of SIGTERM; killing it\n",
				s->name, timeout_ms);
			kill(s->pid, SIGKILL);
			rc = -1;
		}
		int status = 0;
		while (waitpid(s->pid, &status, 0) < 0 && errno == EINTR)
			;
		if (rc == 0 && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
			if (WIFSIGNALED(status))
				fprintf(stderr, "bench: %s died of signal %d\n", s->name,
					WTERMSIG(status));
			else
				fprintf(stderr, "bench: %s exited with status %d\n", s->name,
					WEXITSTATUS(status));
			rc = -1;
		}
		s->pid = -1;
	}
	if (s->draining) {
		pthread_join(d->thread, NULL);
		s->draining = false;
	}
	if (rc != 0 && d)
		tail_print(d, s->name);
	if (s->err_fd >= 0)
		close(s->err_fd);
	if (s->pidfd >= 0)
		close(s->pidfd);
	s->err_fd = s->pidfd = -1;
	if (d) {
		pthread_mutex_destroy(&d->lock);
		free(d);
		s->drain = NULL;
	}
	return rc;
}

int bench_zxvmd_path(const char *path, char *out, size_t size)
{
	if (!path || !path[0])
		path = getenv("ZXVMD");
	if (path && path[0]) {
		if ((size_t)snprintf(out, size, "%s", path) >= size)
			return -ENAMETOOLONG;
		return 0;
	}
	return bench_sibling_path("../daemon/zxvmd", out, size);
}

#define START_TIMEOUT_MS 20000

int bench_start_zxvmd(struct bench_server *s, const char *zxvmd, const char *dir,
		      unsigned long cpu_mask, char *out_target, size_t size)
{
	char listen[PATH_MAX + 8];
	snprintf(listen, sizeof(listen), "unix:%s/zxvmd.sock", dir);
	snprintf(out_target, size, "%s", listen);
	static char flag_listen[] = "--listen", flag_level[] = "--log-level", level[] = "notice";
	char *argv[] = {(char *)zxvmd, flag_listen, listen, flag_level, level, NULL};
	return bench_server_start(s, "zxvmd", argv, cpu_mask, START_TIMEOUT_MS);
}

int bench_start_echo(struct bench_server *s, const char *dir, unsigned long cpu_mask,
		     char *out_target, size_t size)
{
	char path[PATH_MAX], listen[PATH_MAX + 8];
	if (bench_sibling_path("bench_echo_server", path, sizeof(path)) < 0) {
		fprintf(stderr, "bench: cannot find bench_echo_server\n");
		return -1;
	}
	snprintf(listen, sizeof(listen), "unix:%s/echo.sock", dir);
	snprintf(out_target, size, "%s", listen);
	char *argv[] = {path, (char *)"--listen", listen, NULL};
	return bench_server_start(s, "echo server", argv, cpu_mask, START_TIMEOUT_MS);
}

int bench_server_set_cpus(struct bench_server *s, unsigned long cpu_mask)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/task", (int)s->pid);
	DIR *d = opendir(path);
	if (!d) {
		fprintf(stderr, "bench: %s: %s\n", path, strerror(errno));
		return -1;
	}
	cpu_set_t set;
	CPU_ZERO(&set);
	for (unsigned c = 0; c < sizeof(cpu_mask) * 8; c++)
		if (cpu_mask & (1ul << c))
			CPU_SET(c, &set);
	int rc = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		/* A thread may end meanwhile (ESRCH): nothing to move then. */
		if (sched_setaffinity((pid_t)atoi(e->d_name), sizeof(set), &set) < 0 &&
		    errno != ESRCH) {
			fprintf(stderr, "bench: moving %s thread %s: %s\n", s->name, e->d_name,
				strerror(errno));
			rc = -1;
		}
	}
	closedir(d);
	return rc;
}

int bench_prepare(const char *prog, const char *zxvmd_flag, char *zxvmd, size_t zxvmd_size,
		  char *dir, size_t dir_size)
{
	if (bench_zxvmd_path(zxvmd_flag, zxvmd, zxvmd_size) < 0 ||
	    bench_tmpdir_create(dir, dir_size) < 0) {
		fprintf(stderr, "%s: no path for zxvmd or no temporary directory\n", prog);
		return -1;
	}
	return 0;
}

int bench_child_start(const char *prog, unsigned long n, struct bench_child *c)
{
	char self[4096], count[32];
	ssize_t len = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (len < 0)
		return -1;
	self[len] = 0;
	snprintf(count, sizeof(count), "%lu", n);
	int pipefd[2];
	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return -1;
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, pipefd[1], 1);
	char *argv[] = {self, (char *)"--inproc-child", count, NULL};
	int err = posix_spawn(&c->pid, self, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(pipefd[1]);
	if (err) {
		close(pipefd[0]);
		fprintf(stderr, "%s: cannot start the in-process child: %s\n", prog, strerror(err));
		return -1;
	}
	c->fd = pipefd[0];
	c->out = fdopen(pipefd[0], "r");
	return 0;
}

bool bench_child_finish(struct bench_child *c)
{
	if (c->out)
		fclose(c->out);
	else
		close(c->fd);
	int status;
	while (waitpid(c->pid, &status, 0) < 0 && errno == EINTR)
		;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}
