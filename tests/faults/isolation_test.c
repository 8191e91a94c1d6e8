/* A guest's failure is its own client's business (spec §2.4; DESIGN.md "Sessions"): while
 * another client's guest triple-faults, hits an instruction the platform cannot run, or spins
 * with interrupts off, this client's guest keeps taking its IO exits through the same zxvmd.
 * The faulting client is another process (zxvm-fault-client "fault ..."); this one runs an IO
 * guest on a thread of its own and counts the exits it gets meanwhile, between the two lines
 * the other process prints around its faults. Run through tests/daemon/with-zxvmd.sh. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fault-util.h"
#include "harness/guest.h"
#include "harness/test.h"

#define LINE_TIMEOUT_MS 30000
#define FAULT_MS "300" /* how long the other client keeps faulting */
#define SPIN_EXITS 200 /* exits this client must get while the other guest spins */

/* This client's guest: enters until told to stop, each one IO exit. */
struct io_loop {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned long exits; /* guarded by lock */
	bool running;	     /* guarded by lock: set up and in its loop */
	bool done;	     /* guarded by lock */
	atomic_bool stop;
	zx_status_t st; /* the first failure (set-up, enter or a wrong packet) */
};

static void *io_loop_main(void *arg)
{
	struct io_loop *l = arg;
	struct test_guest g;
	zx_status_t st = fault_io_guest_setup(&g);
	while (st == ZX_OK && !atomic_load(&l->stop)) {
		zx_port_packet_t p;
		st = zx_vcpu_enter(g.vcpu, &p);
		if (st == ZX_OK && !fault_io_packet_ok(&p))
			st = ZX_ERR_INTERNAL;
		pthread_mutex_lock(&l->lock);
		l->exits += st == ZX_OK;
		l->running = true;
		pthread_cond_broadcast(&l->cond);
		pthread_mutex_unlock(&l->lock);
	}
	teardown_guest(&g);
	pthread_mutex_lock(&l->lock);
	l->st = st;
	l->done = true;
	pthread_cond_broadcast(&l->cond);
	pthread_mutex_unlock(&l->lock);
	return NULL;
}

static void io_loop_start(struct io_loop *l)
{
	memset(l, 0, sizeof(*l));
	pthread_condattr_t attr;
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&l->cond, &attr);
	pthread_condattr_destroy(&attr);
	pthread_mutex_init(&l->lock, NULL);
	pthread_create(&l->thread, NULL, io_loop_main, l);
}

/* Wait until the loop has made `exits` exits (or stopped, or timeout_ms passed). */
static unsigned long io_loop_wait(struct io_loop *l, unsigned long exits, int timeout_ms)
{
	struct timespec until;
	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += timeout_ms / 1000;
	until.tv_nsec += (timeout_ms % 1000) * 1000000l;
	if (until.tv_nsec >= 1000000000) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&l->lock);
	while (l->exits < exits && !l->done)
		if (pthread_cond_timedwait(&l->cond, &l->lock, &until) != 0)
			break;
	unsigned long n = l->exits;
	pthread_mutex_unlock(&l->lock);
	return n;
}

static unsigned long io_loop_exits(struct io_loop *l)
{
	pthread_mutex_lock(&l->lock);
	unsigned long n = l->exits;
	pthread_mutex_unlock(&l->lock);
	return n;
}

static zx_status_t io_loop_stop(struct io_loop *l)
{
	atomic_store(&l->stop, true);
	pthread_join(l->thread, NULL);
	return l->st;
}

/* The other process faults `kind` for FAULT_MS ms while our guest runs. */
static void fault_while_running(const char *kind)
{
	struct io_loop loop;
	struct fault_child c;
	char line[256];
	io_loop_start(&loop);
	if (io_loop_wait(&loop, 1, LINE_TIMEOUT_MS) < 1) {
		test_fail(__FILE__, __LINE__, "our IO guest never exited: %s",
			  zx_status_get_string(io_loop_stop(&loop)));
		return;
	}
	char *argv[] = {(char *)fault_client_path(), (char *)"fault", (char *)kind,
			(char *)FAULT_MS, NULL};
	if (fault_child_start(&c, argv) < 0) {
		io_loop_stop(&loop);
		test_fail(__FILE__, __LINE__, "cannot start %s", argv[0]);
		return;
	}
	unsigned long before = 0, after = 0;
	bool started = fault_child_line(&c, line, sizeof(line), LINE_TIMEOUT_MS) &&
		       strcmp(line, "start") == 0;
	before = io_loop_exits(&loop);
	bool ended = started && fault_child_line(&c, line, sizeof(line), LINE_TIMEOUT_MS);
	after = io_loop_exits(&loop);
	EXPECT_STATUS(ZX_OK, io_loop_stop(&loop));
	fault_child_end(&c, 10000);
	if (!ended) {
		test_fail(__FILE__, __LINE__, "the faulting client said '%s'", started ? "" : line);
		return;
	}
	unsigned long faults = 0, other = 0;
	char status[64], last[64];
	if (sscanf(line, "faults %lu status %63s other %lu %63s", &faults, status, &other, last) !=
	    4) {
		test_fail(__FILE__, __LINE__, "the faulting client said '%s'", line);
		return;
	}
	printf("     %s: the other client's enters failed %s %lu times in %s ms (%lu ended "
	       "otherwise); this client took %lu IO exits meanwhile\n",
	       kind, status, faults, FAULT_MS, other, after - before);
	EXPECT_TRUE(faults > 0);
	EXPECT_EQ(0, other);
	EXPECT_TRUE(after > before);
}

TEST(isolation_triple_fault)
{
	NEED_DAEMON();
	fault_while_running("triple");
}

/* PVM's CPL 0 emulator cannot run AVX (notes/pvm-guest-execution.md): the enter fails with
 * NOT_SUPPORTED. Where hardware runs it there is no failure to isolate. */
TEST(isolation_emulation_failure)
{
	NEED_DAEMON();
	if (access("/sys/module/kvm_pvm", F_OK) != 0)
		TEST_SKIP("AVX runs natively here (not PVM): no emulation failure to provoke");
	fault_while_running("avx");
}

/* A guest that spins with IF = 0 never exits by itself: its client has to kick it, and nobody
 * else notices. */
TEST(isolation_interrupts_off_spin)
{
	NEED_DAEMON();
	struct io_loop loop;
	struct fault_child c;
	char line[256];
	io_loop_start(&loop);
	char *argv[] = {(char *)fault_client_path(), (char *)"fault", (char *)"cli-spin", NULL};
	if (fault_child_start(&c, argv) < 0) {
		io_loop_stop(&loop);
		test_fail(__FILE__, __LINE__, "cannot start %s", argv[0]);
		return;
	}
	bool spinning = fault_child_line(&c, line, sizeof(line), LINE_TIMEOUT_MS) &&
			strcmp(line, "spinning") == 0;
	unsigned long before = io_loop_exits(&loop);
	int64_t t0 = fault_now_ns();
	unsigned long after =
		spinning ? io_loop_wait(&loop, before + SPIN_EXITS, LINE_TIMEOUT_MS) : before;
	double ms = (double)(fault_now_ns() - t0) / 1e6;
	/* Still spinning: its enter has not returned (it would have printed). */
	char early[256] = "";
	bool said = fault_child_line(&c, early, sizeof(early), 0);
	bool kicked = spinning && fault_child_say(&c, "kick") &&
		      fault_child_line(&c, line, sizeof(line), LINE_TIMEOUT_MS);
	EXPECT_STATUS(ZX_OK, io_loop_stop(&loop));
	fault_child_end(&c, 10000);
	ASSERT_TRUE(spinning);
	if (said)
		test_fail(__FILE__, __LINE__,
			  "the spinning guest's client said '%s' before the kick", early);
	printf("     cli-spin: this client took %lu IO exits in %.0f ms while the other guest "
	       "spun with IF = 0\n",
	       after - before, ms);
	EXPECT_TRUE(after >= before + SPIN_EXITS);
	ASSERT_TRUE(kicked);
	if (strcmp(line, "kick ZX_OK enter ZX_ERR_CANCELED") != 0)
		test_fail(__FILE__, __LINE__,
			  "expected 'kick ZX_OK enter ZX_ERR_CANCELED', got '%s'", line);
}
