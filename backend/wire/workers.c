/* workers.c — the threads that run route handlers.
 *
 * libmicrohttpd's own threads only move bytes and check signatures; a
 * verified request is parked (suspended) and its handler runs here.  A
 * handler that waits (a long-poll for changes) therefore holds one of these
 * threads and nothing else.  `keep` threads stay around when idle; while jobs
 * wait and no thread is idle, more start, up to `max`; the extra ones leave
 * after a while without work.  Threads are joined, never detached: a thread's
 * exit handlers (libraries' per-thread state) must have run by the time
 * wire_workers_free returns. */
#include "wire/internal.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "core/util.h"

#define WORKER_IDLE_EXIT_S 30

struct wjob {
	struct wjob *next;
	void (*fn)(void *);
	void *arg;
};

struct wthread {
	struct wthread *next;
	pthread_t t;
	bool done;               /* worker_main is returning; join it */
};

struct wire_workers {
	pthread_mutex_t mu;
	struct wthread *all;
	pthread_cond_t work;     /* a job was queued, or stop */
	pthread_cond_t gone;     /* a thread ended */
	struct wjob *head, *tail;
	size_t queued;
	unsigned threads, idle, keep, max;
	bool stop;
};

int wire_workers_new(unsigned keep, unsigned max, struct wire_workers **out)
{
	struct wire_workers *w = calloc(1, sizeof *w);
	if (!w)
		return -ENOMEM;
	w->keep = keep ? keep : 1;
	w->max = max < w->keep ? w->keep : max;
	pthread_mutex_init(&w->mu, NULL);
	cfs_cond_init_mono(&w->work);
	pthread_cond_init(&w->gone, NULL);
	*out = w;
	return 0;
}

struct wstart {
	struct wire_workers *w;
	struct wthread *self;
};

static void *worker_main(void *arg)
{
	struct wire_workers *w = ((struct wstart *)arg)->w;
	struct wthread *self = ((struct wstart *)arg)->self;
	free(arg);
	pthread_mutex_lock(&w->mu);
	for (;;) {
		while (!w->head && !w->stop) {
			struct timespec until;
			clock_gettime(CLOCK_MONOTONIC, &until);
			until.tv_sec += WORKER_IDLE_EXIT_S;
			w->idle++;
			int r = pthread_cond_timedwait(&w->work, &w->mu, &until);
			w->idle--;
			if (r == ETIMEDOUT && !w->head && w->threads > w->keep)
				goto leave;
		}
		if (!w->head)
			break;   /* stopping, and the queue is drained */
		struct wjob *j = w->head;
		w->head = j->next;
		if (!w->head)
			w->tail = NULL;
		w->queued--;
		pthread_mutex_unlock(&w->mu);
		j->fn(j->arg);
		free(j);
		pthread_mutex_lock(&w->mu);
	}
leave:
	self->done = true;
	w->threads--;
	pthread_cond_broadcast(&w->gone);
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

/* Unlink the threads that ended; called with the lock held, the caller
 * joins them once it let go of the lock. */
static struct wthread *take_done(struct wire_workers *w)
{
	struct wthread *done = NULL;
	for (struct wthread **pp = &w->all; *pp;) {
		struct wthread *t = *pp;
		if (t->done) {
			*pp = t->next;
			t->next = done;
			done = t;
		} else {
			pp = &t->next;
		}
	}
	return done;
}

static void join_all(struct wthread *list)
{
	while (list) {
		struct wthread *n = list->next;
		pthread_join(list->t, NULL);
		free(list);
		list = n;
	}
}

/* Called with the lock held. */
static int spawn(struct wire_workers *w)
{
	struct wthread *t = calloc(1, sizeof *t);
	struct wstart *st = malloc(sizeof *st);
	if (!t || !st) {
		free(t);
		free(st);
		return -ENOMEM;
	}
	*st = (struct wstart){ .w = w, .self = t };
	int r = pthread_create(&t->t, NULL, worker_main, st);
	if (r) {
		free(t);
		free(st);
		return -r;
	}
	t->next = w->all;
	w->all = t;
	w->threads++;
	return 0;
}

int wire_workers_submit(struct wire_workers *w, void (*fn)(void *), void *arg)
{
	struct wjob *j = malloc(sizeof *j);
	if (!j)
		return -ENOMEM;
	*j = (struct wjob){ .fn = fn, .arg = arg };
	int ret = 0;
	pthread_mutex_lock(&w->mu);
	struct wthread *ended = take_done(w);
	if (w->stop) {
		ret = -EAGAIN;
		goto out;
	}
	if (w->queued + 1 > w->idle && w->threads < w->max) {
		ret = spawn(w);
		/* Without a new thread the job still runs once one frees up. */
		if (ret && w->threads > 0)
			ret = 0;
		if (ret)
			goto out;
	}
	if (w->tail)
		w->tail->next = j;
	else
		w->head = j;
	w->tail = j;
	w->queued++;
	j = NULL;
	pthread_cond_signal(&w->work);
out:
	pthread_mutex_unlock(&w->mu);
	join_all(ended);
	free(j);
	return ret;
}

void wire_workers_free(struct wire_workers *w)
{
	if (!w)
		return;
	pthread_mutex_lock(&w->mu);
	w->stop = true;
	pthread_cond_broadcast(&w->work);
	while (w->threads > 0)
		pthread_cond_wait(&w->gone, &w->mu);
	struct wthread *ended = take_done(w);
	pthread_mutex_unlock(&w->mu);
	join_all(ended);
	pthread_cond_destroy(&w->work);
	pthread_cond_destroy(&w->gone);
	pthread_mutex_destroy(&w->mu);
	free(w);
}
