/* Pinned VCPU threads: one OS thread per (session, client thread id) that has created a VCPU.
 * Every vcpu ioctl of its VCPU runs there (kvm_backend's one-OS-thread rule); the gRPC
 * thread only posts work, and the VCPU thread answers the call itself.
 *
 * A cross-CPU wake-up of a sleeping thread costs ~50 µs here, more than the rest of an exit
 * (notes/kvm-on-this-machine.md), so after each piece of work the thread spins briefly for
 * the next one (a VMM's enter follows its previous reply within microseconds) before it
 * sleeps on its condition variable. The spin yields the CPU on every turn: the threads that
 * bring the next request (the gRPC thread, often the client too) may need this very CPU, and
 * a spin that keeps them off it costs more than the wake-up it saves (bench/README.md, P2/P3:
 * on one CPU a busy spin made each enter up to 40 µs slower). */
#include <sched.h>
#include <string.h>
#include <time.h>

#include <zircon/errors.h>

#include "daemon-internal.h"

#define SPIN_NS 40000 /* how long an idle VCPU thread waits for more work before sleeping */

struct zxd_work {
	zxd_work_fn fn;
	void *arg;
	struct zxd_work *next;
};

struct zxd_vthread {
	uint64_t tid;
	pthread_t thread;
	bool started;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct zxd_work *head, *tail; /* guarded by lock */
	atomic_bool has_work;
	bool sleeping;  /* guarded by lock */
	bool busy;      /* guarded by lock: running a work item */
	bool quit;      /* guarded by lock */
	bool self_stop; /* guarded by lock: stopped by its own work item, it frees itself */
	struct zxd_vthread *next; /* guarded by session->lock */
};

static uint32_t max_vthreads = 64;

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void *vthread_main(void *arg)
{
	struct zxd_vthread *t = arg;
	for (;;) {
		/* Spin first: the next request usually comes right after our reply. */
		uint64_t until = now_ns() + SPIN_NS;
		while (!atomic_load_explicit(&t->has_work, memory_order_acquire) && now_ns() < until)
			sched_yield();
		pthread_mutex_lock(&t->lock);
		while (!t->head && !t->quit) {
			t->sleeping = true;
			pthread_cond_wait(&t->cond, &t->lock);
			t->sleeping = false;
		}
		struct zxd_work *w = t->head;
		if (w) {
			t->head = w->next;
			if (!t->head)
				t->tail = NULL;
		}
		atomic_store(&t->has_work, t->head != NULL);
		bool quit = t->quit && !w, self_stop = t->self_stop;
		t->busy = w != NULL;
		pthread_mutex_unlock(&t->lock);
		if (quit && self_stop) {
			pthread_mutex_destroy(&t->lock);
			pthread_cond_destroy(&t->cond);
			free(t);
		}
		if (quit)
			return NULL;
		w->fn(w->arg);
		free(w);
		pthread_mutex_lock(&t->lock);
		t->busy = false;
		pthread_mutex_unlock(&t->lock);
	}
}

static void stop_one(struct zxd_vthread *t)
{
	/* A VCPU thread can drop the last reference to its own session: when the gRPC thread
	 * completes the batch of its reply before the work item returns, the work item's release
	 * is the call's last, and the session's. It cannot join itself: it is detached, ends once
	 * that work item returns, and frees itself. */
	bool self = pthread_equal(t->thread, pthread_self());
	pthread_mutex_lock(&t->lock);
	t->quit = true;
	t->self_stop = self;
	pthread_cond_signal(&t->cond);
	pthread_mutex_unlock(&t->lock);
	if (self) {
		pthread_detach(t->thread);
		return;
	}
	pthread_join(t->thread, NULL);
	pthread_mutex_destroy(&t->lock);
	pthread_cond_destroy(&t->cond);
	free(t);
}

/* With s->lock held: unlink an idle thread whose client thread has no VCPU any more (a
 * thread that created and closed its VCPU), to make room. The caller stops it unlocked. */
static struct zxd_vthread *take_idle_locked(struct zxd_session *s)
{
	for (struct zxd_vthread **pp = &s->vthreads; *pp; pp = &(*pp)->next) {
		struct zxd_vthread *t = *pp;
		pthread_mutex_lock(&t->lock);
		bool idle = !t->head && !t->busy;
		pthread_mutex_unlock(&t->lock);
		if (idle && !kb_table_tid_has_vcpu(s->table, t->tid)) {
			*pp = t->next;
			s->nvthreads--;
			return t;
		}
	}
	return NULL;
}

static struct zxd_vthread *find_or_start(struct zxd_session *s, uint64_t tid, zx_status_t *st)
{
	struct zxd_vthread *retired = NULL;
	pthread_mutex_lock(&s->lock);
	if (s->nvthreads >= max_vthreads)
		retired = take_idle_locked(s);
	struct zxd_vthread *t = s->vthreads;
	while (t && t->tid != tid)
		t = t->next;
	if (!t) {
		if (s->nvthreads >= max_vthreads) {
			*st = ZX_ERR_NO_RESOURCES;
		} else if (!(t = calloc(1, sizeof(*t)))) {
			*st = ZX_ERR_NO_MEMORY;
		} else {
			t->tid = tid;
			pthread_mutex_init(&t->lock, NULL);
			pthread_cond_init(&t->cond, NULL);
			if (pthread_create(&t->thread, NULL, vthread_main, t) != 0) {
				free(t);
				t = NULL;
				*st = ZX_ERR_NO_RESOURCES;
			} else {
				t->started = true;
				t->next = s->vthreads;
				s->vthreads = t;
				s->nvthreads++;
			}
		}
	}
	pthread_mutex_unlock(&s->lock);
	if (retired)
		stop_one(retired);
	return t;
}

void zxd_vthreads_set_limit(uint32_t max_per_session)
{
	max_vthreads = max_per_session;
}

zx_status_t zxd_vthread_post(struct zxd_session *s, uint64_t tid, zxd_work_fn fn, void *arg)
{
	zx_status_t st = ZX_OK;
	struct zxd_work *w = malloc(sizeof(*w));
	if (!w)
		return ZX_ERR_NO_MEMORY;
	struct zxd_vthread *t = find_or_start(s, tid, &st);
	if (!t) {
		free(w);
		return st;
	}
	*w = (struct zxd_work){.fn = fn, .arg = arg};
	pthread_mutex_lock(&t->lock);
	if (t->tail)
		t->tail->next = w;
	else
		t->head = w;
	t->tail = w;
	atomic_store_explicit(&t->has_work, true, memory_order_release);
	if (t->sleeping)
		pthread_cond_signal(&t->cond);
	pthread_mutex_unlock(&t->lock);
	return ZX_OK;
}

void zxd_vthreads_stop(struct zxd_session *s)
{
	pthread_mutex_lock(&s->lock);
	struct zxd_vthread *list = s->vthreads;
	s->vthreads = NULL;
	s->nvthreads = 0;
	pthread_mutex_unlock(&s->lock);
	while (list) {
		struct zxd_vthread *t = list;
		list = t->next;
		stop_one(t);
	}
}
