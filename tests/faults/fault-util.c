/* The helpers of fault-util.h. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <zircon/errors.h>

#include "fault-util.h"

extern char **environ;

int64_t fault_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

zx_status_t fault_io_guest_setup(struct test_guest *g)
{
	zx_status_t st = setup_guest(g, GUEST_CODE(fault_guest_io_loop));
	if (st == ZX_OK)
		st = zx_guest_set_trap(g->guest, ZX_GUEST_TRAP_IO, FAULT_IO_PORT, 1,
				       ZX_HANDLE_INVALID, FAULT_IO_KEY);
	return st;
}

bool fault_io_packet_ok(const zx_port_packet_t *p)
{
	return p->type == ZX_PKT_TYPE_GUEST_IO && p->key == FAULT_IO_KEY &&
	       p->guest_io.port == FAULT_IO_PORT && !p->guest_io.input;
}

static void *spinner_main(void *arg)
{
	struct fault_spinner *s = arg;
	struct test_guest g;
	/* The VCPU belongs to the thread that creates it (spec §2.3): build it here. */
	zx_status_t st = setup_guest(&g, s->code);
	if (st == ZX_OK)
		st = zx_guest_set_trap(g.guest, ZX_GUEST_TRAP_BELL, FAULT_BELL_GPA, 0x1000, s->port,
				       FAULT_BELL_KEY);
	pthread_mutex_lock(s->lock);
	s->setup = st;
	s->vcpu = st == ZX_OK ? g.vcpu : ZX_HANDLE_INVALID;
	(*s->nready)++;
	pthread_cond_broadcast(s->cond);
	pthread_mutex_unlock(s->lock);
	if (st != ZX_OK)
		return NULL;
	zx_port_packet_t p;
	s->enter = zx_vcpu_enter(g.vcpu, &p);
	if (s->print)
		printf("enter %s\n", zx_status_get_string(s->enter));
	teardown_guest(&g);
	return NULL;
}

int fault_spinner_start(struct fault_spinner *s)
{
	s->setup = ZX_ERR_INTERNAL;
	s->enter = ZX_ERR_INTERNAL;
	return pthread_create(&s->thread, NULL, spinner_main, s);
}

zx_status_t fault_wait_bells(zx_handle_t port, int n, int64_t timeout_ms)
{
	zx_time_t deadline = fault_now_ns() + timeout_ms * 1000000;
	for (int bells = 0; bells < n;) {
		zx_port_packet_t p;
		zx_status_t st = zx_port_wait(port, deadline, &p);
		if (st != ZX_OK)
			return st;
		if (p.type == ZX_PKT_TYPE_GUEST_BELL && p.key == FAULT_BELL_KEY)
			bells++;
	}
	return ZX_OK;
}

int fault_child_start(struct fault_child *c, char *const argv[])
{
	int in[2], out[2];
	*c = (struct fault_child){.pid = -1, .in = -1, .out = -1};
	if (pipe2(in, O_CLOEXEC) < 0)
		return -errno;
	if (pipe2(out, O_CLOEXEC) < 0) {
		int e = errno;
		close(in[0]);
		close(in[1]);
		return -e;
	}
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, in[0], 0);
	posix_spawn_file_actions_adddup2(&fa, out[1], 1);
	int err = posix_spawn(&c->pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(in[0]);
	close(out[1]);
	if (err) {
		close(in[1]);
		close(out[0]);
		c->pid = -1;
		return -err;
	}
	c->in = in[1];
	c->out = out[0];
	return 0;
}

bool fault_child_line(struct fault_child *c, char *line, size_t size, int timeout_ms)
{
	int64_t deadline = fault_now_ns() + (int64_t)timeout_ms * 1000000;
	for (;;) {
		char *nl = memchr(c->buf, '\n', c->len);
		if (nl) {
			size_t n = (size_t)(nl - c->buf);
			snprintf(line, size, "%.*s", (int)n, c->buf);
			memmove(c->buf, nl + 1, c->len - n - 1);
			c->len -= n + 1;
			return true;
		}
		if (c->out < 0 || c->len == sizeof(c->buf))
			return false;
		int64_t left = (deadline - fault_now_ns()) / 1000000;
		if (left <= 0)
			return false;
		struct pollfd p = {.fd = c->out, .events = POLLIN};
		int n = poll(&p, 1, (int)left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		ssize_t r = read(c->out, c->buf + c->len, sizeof(c->buf) - c->len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return false;
		c->len += (size_t)r;
	}
}

bool fault_child_say(struct fault_child *c, const char *line)
{
	size_t n = strlen(line);
	return c->in >= 0 && write(c->in, line, n) == (ssize_t)n && write(c->in, "\n", 1) == 1;
}

int fault_child_end(struct fault_child *c, int timeout_ms)
{
	int status = -1;
	if (c->in >= 0)
		close(c->in);
	c->in = -1;
	if (c->pid > 0) {
		int pidfd = (int)syscall(SYS_pidfd_open, c->pid, 0);
		struct pollfd p = {.fd = pidfd, .events = POLLIN};
		int n;
		do
			n = pidfd >= 0 ? poll(&p, 1, timeout_ms) : 1;
		while (n < 0 && errno == EINTR);
		if (n == 0)
			kill(c->pid, SIGKILL);
		if (pidfd >= 0)
			close(pidfd);
		while (waitpid(c->pid, &status, 0) < 0 && errno == EINTR)
			;
	}
	if (c->out >= 0)
		close(c->out);
	c->out = -1;
	c->pid = -1;
	return status;
}

void fault_child_kill(struct fault_child *c)
{
	if (c->pid > 0)
		kill(c->pid, SIGKILL);
	fault_child_end(c, 10000);
}

const char *fault_sibling_path(const char *env_name, const char *name)
{
	static char path[PATH_MAX];
	const char *env = getenv(env_name);
	if (env && env[0])
		return env;
	ssize_t n = readlink("/proc/self/exe", path, sizeof(path) - 1);
	if (n < 0)
		return name;
	path[n] = 0;
	char *slash = strrchr(path, '/');
	snprintf(slash ? slash + 1 : path, sizeof(path) - (size_t)(slash ? slash + 1 - path : 0),
		 "%s", name);
	return path;
}

const char *fault_client_path(void)
{
	return fault_sibling_path("ZXVM_FAULT_CLIENT", "zxvm-fault-client");
}
