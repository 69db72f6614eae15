#include "notify.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include "core/log.h"

struct pending {
	fuse_req_t req;
	struct fs_handle *h;
	size_t size;
	int interrupted;
	struct pending *next;
};

struct hnode {
	struct fs_handle *h;
	struct hnode *next;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake = PTHREAD_COND_INITIALIZER;
static struct pending *pending;
static struct hnode *handles;
static unsigned long generation, seen;
static bool stopping, running;
static pthread_t thread;
static struct cfs_engine *engine;

static void on_event(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&lock);
	generation++;
	pthread_cond_signal(&wake);
	pthread_mutex_unlock(&lock);
}

static void on_interrupt(fuse_req_t req, void *data)
{
	(void)req;
	pthread_mutex_lock(&lock);
	for (struct pending *p = pending; p; p = p->next)
		if (p == data) {
			p->interrupted = 1;
			pthread_cond_signal(&wake);
		}
	pthread_mutex_unlock(&lock);
}

/* With the lock held: answer what can be answered. */
static void serve(void)
{
	struct pending **pp = &pending;
	while (*pp) {
		struct pending *p = *pp;
		if (stopping || p->interrupted) {
			*pp = p->next;
			fuse_reply_err(p->req, EINTR);
			handle_drop(p->h);
			free(p);
			continue;
		}
		struct cfs_buf b = CFS_BUF_INIT;
		ssize_t n = cfs_events_read(engine, p->h->cursor, &b, p->size);
		if (n > 0) {
			*pp = p->next;
			fuse_reply_buf(p->req, b.data, (size_t)n);
			handle_drop(p->h);
			free(p);
		} else {
			pp = &p->next;
		}
		cfs_buf_free(&b);
	}
	for (struct hnode *n = handles; n; n = n->next) {
		struct fs_handle *h = n->h;
		pthread_mutex_lock(&h->lock);
		if (h->ph && cfs_events_ready(engine, h->cursor)) {
			fuse_lowlevel_notify_poll(h->ph);
			fuse_pollhandle_destroy(h->ph);
			h->ph = NULL;
		}
		pthread_mutex_unlock(&h->lock);
	}
}

static void *loop(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&lock);
	while (!stopping) {
		serve();
		while (!stopping && seen == generation) {
			bool any_intr = false;
			for (struct pending *p = pending; p; p = p->next)
				any_intr |= p->interrupted;
			if (any_intr)
				break;
			pthread_cond_wait(&wake, &lock);
		}
		seen = generation;
	}
	serve();   /* answers every parked read with EINTR */
	pthread_mutex_unlock(&lock);
	return NULL;
}

int notify_start(struct cfs_engine *e)
{
	engine = e;
	cfs_events_set_listener(e, on_event, NULL);
	if (pthread_create(&thread, NULL, loop, NULL))
		return -EAGAIN;
	running = true;
	return 0;
}

void notify_stop(void)
{
	if (!running)
		return;
	cfs_events_set_listener(engine, NULL, NULL);
	pthread_mutex_lock(&lock);
	stopping = true;
	pthread_cond_signal(&wake);
	pthread_mutex_unlock(&lock);
	pthread_join(thread, NULL);
	running = false;
	while (handles) {
		struct hnode *n = handles;
		handles = n->next;
		free(n);
	}
}

void notify_park_read(fuse_req_t req, struct fs_handle *h, size_t size)
{
	struct pending *p = calloc(1, sizeof *p);
	if (!p) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	p->req = req;
	p->h = handle_hold(h);   /* until this read is answered */
	p->size = size;
	pthread_mutex_lock(&lock);
	if (stopping) {
		pthread_mutex_unlock(&lock);
		handle_drop(p->h);
		free(p);
		fuse_reply_err(req, EINTR);
		return;
	}
	p->next = pending;
	pending = p;
	generation++;            /* an event may have slipped in before parking */
	pthread_cond_signal(&wake);
	pthread_mutex_unlock(&lock);
	/* outside the lock: libfuse calls on_interrupt at once if already interrupted */
	fuse_req_interrupt_func(req, on_interrupt, p);
}

void notify_add_handle(struct fs_handle *h)
{
	struct hnode *n = calloc(1, sizeof *n);
	if (!n)
		return;
	n->h = h;
	pthread_mutex_lock(&lock);
	n->next = handles;
	handles = n;
	pthread_mutex_unlock(&lock);
}

void notify_remove_handle(struct fs_handle *h)
{
	pthread_mutex_lock(&lock);
	for (struct hnode **pp = &handles; *pp; pp = &(*pp)->next)
		if ((*pp)->h == h) {
			struct hnode *n = *pp;
			*pp = n->next;
			free(n);
			break;
		}
	pthread_mutex_unlock(&lock);
}
