/* The guest holders of bench-hold.h. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <zircon/errors.h>
#include <zxvm/zxvm.h>

#include "bench-guest.h"
#include "bench-hold.h"
#include "bench-util.h"

#define READY_TIMEOUT_MS 120000

/* ---- the holder process ---- */

struct held {
	pthread_t thread;
	struct bench_guest g;
	zx_status_t built;   /* bench_guest_create: the guest, and its first enter */
	zx_status_t entered; /* the last enter asked for */
	unsigned gen;	     /* the last generation done */
	const char *what;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static unsigned gen;   /* guarded by lock: bumped for each "enter all" */
static unsigned ndone; /* guarded by lock: threads done with the current generation */
static zx_handle_t resource;

static void *held_main(void *arg)
{
	struct held *h = arg;
	/* One build at a time in a process: bench_guest_create fills one static page-table
	 * buffer. Processes build in parallel. */
	static pthread_mutex_t build_lock = PTHREAD_MUTEX_INITIALIZER;
	pthread_mutex_lock(&build_lock);
	h->built = bench_guest_create(resource, &h->g, &h->what);
	pthread_mutex_unlock(&build_lock);
	pthread_mutex_lock(&lock);
	ndone++;
	pthread_cond_broadcast(&cond);
	for (;;) {
		while (gen == h->gen)
			pthread_cond_wait(&cond, &lock);
		h->gen = gen;
		pthread_mutex_unlock(&lock);
		zx_port_packet_t p;
		zx_status_t st = h->built == ZX_OK ? zx_vcpu_enter(h->g.vcpu, &p) : h->built;
		if (st == ZX_OK && !bench_guest_packet_ok(&p))
			st = ZX_ERR_INTERNAL;
		pthread_mutex_lock(&lock);
		h->entered = st;
		ndone++;
		pthread_cond_broadcast(&cond);
	}
	return NULL;
}

static void wait_done(unsigned long n)
{
	pthread_mutex_lock(&lock);
	while (ndone < n)
		pthread_cond_wait(&cond, &lock);
	ndone = 0;
	pthread_mutex_unlock(&lock);
}

static int holder(const char *target, unsigned long n, int in, FILE *out)
{
	static struct held hs[64];
	zx_status_t st = zxvm_connect(target, &resource);
	if (st != ZX_OK) {
		fprintf(out, "error zxvm_connect %s\n", zx_status_get_string(st));
		return 1;
	}
	for (unsigned long i = 0; i < n; i++) {
		pthread_attr_t attr;
		pthread_attr_init(&attr);
		pthread_attr_setstacksize(&attr, 256 << 10);
		if (pthread_create(&hs[i].thread, &attr, held_main, &hs[i]) != 0) {
			fprintf(out, "error pthread_create\n");
			return 1;
		}
		pthread_attr_destroy(&attr);
	}
	wait_done(n);
	unsigned long built = 0;
	for (unsigned long i = 0; i < n; i++) {
		if (hs[i].built == ZX_OK)
			built++;
		else if (built == i)
			fprintf(out, "error %s %s\n", hs[i].what,
				zx_status_get_string(hs[i].built));
	}
	fprintf(out, "held %lu\n", built);
	fflush(out);
	char c;
	while (read(in, &c, 1) == 1) {
		pthread_mutex_lock(&lock);
		gen++;
		pthread_cond_broadcast(&cond);
		pthread_mutex_unlock(&lock);
		wait_done(n);
		unsigned long ok = 0;
		for (unsigned long i = 0; i < n; i++)
			ok += hs[i].entered == ZX_OK;
		fprintf(out, "entered %lu\n", ok);
		fflush(out);
	}
	/* EOF: the session ends with the process (the daemon frees it). */
	return 0;
}

/* ---- the parent ---- */

static bool read_line(struct bench_holder *h, char *line, size_t size, int timeout_ms)
{
	FILE *f = h->out;
	struct pollfd p = {.fd = fileno(f), .events = POLLIN};
	int r;
	do
		r = poll(&p, 1, timeout_ms);
	while (r < 0 && errno == EINTR);
	return r == 1 && fgets(line, (int)size, f) != NULL;
}

int bench_hold_start(struct bench_holders *h, const char *target, unsigned long guests,
		     unsigned long per_process)
{
	if (per_process == 0 || per_process > 64)
		per_process = 64;
	size_t nproc = (guests + per_process - 1) / per_process;
	*h = (struct bench_holders){.p = calloc(nproc ? nproc : 1, sizeof(*h->p))};
	if (!h->p)
		return -1;
	unsigned long left = guests;
	for (size_t i = 0; i < nproc; i++) {
		unsigned long n = left < per_process ? left : per_process;
		int cmd[2], out[2];
		if (pipe2(cmd, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0)
			return -1;
		fflush(stdout);
		fflush(stderr);
		pid_t pid = fork();
		if (pid < 0) {
			fprintf(stderr, "bench: fork: %s\n", strerror(errno));
			return -1;
		}
		if (pid == 0) {
			close(cmd[1]);
			close(out[0]);
			_exit(holder(target, n, cmd[0], fdopen(out[1], "w")));
		}
		close(cmd[0]);
		close(out[1]);
		h->p[h->n++] = (struct bench_holder){
			.pid = pid, .cmd_fd = cmd[1], .out = fdopen(out[0], "r"), .guests = n};
		left -= n;
	}
	/* All build at once, as many clients of one daemon would. */
	int rc = 0;
	for (size_t i = 0; i < h->n; i++) {
		char line[256] = "";
		unsigned long got = 0;
		if (!read_line(&h->p[i], line, sizeof(line), READY_TIMEOUT_MS) ||
		    sscanf(line, "held %lu", &got) != 1 || got != h->p[i].guests) {
			if (got == 0 && strncmp(line, "held", 4) != 0)
				fprintf(stderr, "bench: holder %zu: %s", i,
					line[0] ? line : "no answer\n");
			else
				fprintf(stderr, "bench: holder %zu built %lu of %lu guests\n", i,
					got, h->p[i].guests);
			rc = -1;
		}
		h->held += got;
	}
	return rc;
}

int bench_hold_enter_all(struct bench_holders *h, unsigned long *out_entered)
{
	unsigned long entered = 0;
	int rc = 0;
	for (size_t i = 0; i < h->n; i++)
		if (write(h->p[i].cmd_fd, "e", 1) != 1)
			rc = -1;
	for (size_t i = 0; i < h->n; i++) {
		char line[256] = "";
		unsigned long got = 0;
		if (!read_line(&h->p[i], line, sizeof(line), READY_TIMEOUT_MS) ||
		    sscanf(line, "entered %lu", &got) != 1) {
			fprintf(stderr, "bench: holder %zu: %s", i, line[0] ? line : "no answer\n");
			rc = -1;
		}
		entered += got;
	}
	*out_entered = entered;
	return rc;
}

void bench_hold_stop(struct bench_holders *h)
{
	for (size_t i = 0; i < h->n; i++)
		close(h->p[i].cmd_fd);
	for (size_t i = 0; i < h->n; i++) {
		int status;
		while (waitpid(h->p[i].pid, &status, 0) < 0 && errno == EINTR)
			;
		fclose(h->p[i].out);
	}
	free(h->p);
	*h = (struct bench_holders){0};
}

/* ---- /proc ---- */

long bench_proc_status(pid_t pid, const char *key)
{
	char path[64], line[256];
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "re");
	long v = -1;
	size_t klen = strlen(key);
	while (f && fgets(line, sizeof(line), f))
		if (strncmp(line, key, klen) == 0 && line[klen] == ':')
			v = strtol(line + klen + 1, NULL, 10);
	if (f)
		fclose(f);
	return v;
}

long bench_proc_fds(pid_t pid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	DIR *d = opendir(path);
	if (!d)
		return -1;
	long n = 0;
	struct dirent *e;
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

bool bench_proc_limit(pid_t pid, const char *name, char *soft, char *hard, size_t size)
{
	char path[64], line[256];
	snprintf(path, sizeof(path), "/proc/%d/limits", (int)pid);
	FILE *f = fopen(path, "re");
	bool found = false;
	size_t nlen = strlen(name);
	while (f && !found && fgets(line, sizeof(line), f)) {
		char s[64], hd[64];
		if (strncmp(line, name, nlen) == 0 &&
		    sscanf(line + nlen, "%63s %63s", s, hd) == 2) {
			snprintf(soft, size, "%s", s);
			snprintf(hard, size, "%s", hd);
			found = true;
		}
	}
	if (f)
		fclose(f);
	return found;
}

/* ---- flags ---- */

int bench_hold_parse(const char *prog, void (*usage)(FILE *f), unsigned long max_guests,
		     unsigned long warm_max, int argc, char **argv, struct bench_hold_flags *f)
{
	static const struct option lopts[] = {{"json", no_argument, NULL, 'j'},
					      {"zxvmd", required_argument, NULL, 'z'},
					      {"help", no_argument, NULL, 'h'},
					      {NULL, 0, NULL, 0}};
	int c;
	while ((c = getopt_long(argc, argv, warm_max ? "k:w:h" : "k:h", lopts, NULL)) != -1) {
		switch (c) {
		case 'k':
			if (!bench_parse_count(optarg, 1, max_guests, &f->guests))
				goto bad;
			break;
		case 'w':
			if (!bench_parse_count(optarg, 1, warm_max, &f->warm))
				goto bad;
			break;
		case 'z':
			f->zxvmd = optarg;
			break;
		case 'j':
			f->json = true;
			break;
		case 'h':
			usage(stdout);
			return 1;
		default:
			usage(stderr);
			return -1;
		}
	}
	return 0;
bad:
	fprintf(stderr, "%s: bad value '%s' for -%c\n", prog, optarg, c);
	usage(stderr);
	return -1;
}
