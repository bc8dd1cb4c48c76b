/* The event loop: epoll, a sorted timer list, after-round hooks. See loop.h. */
#include "loop.h"

#include "../util/clock.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

struct loop_watch {
	struct loop *loop;
	struct loop_watch *prev, *next;	/* every live watch, so destroy frees them */
	int fd;
	uint32_t events;	/* as registered, so an unchanged modify costs no syscall */
	bool dead;
	loop_fd_fn fn;
	void *arg;
	struct loop_watch *next_dead;
};

struct loop {
	int epfd;
	bool stop;
	struct loop_timer *timers;	/* ascending by at */
	struct loop_watch *dead;	/* unwatched during a round, freed after it */
	struct loop_watch *live;
	struct { loop_timer_fn fn; void *arg; } hooks[4];
	int nhooks;
};

double loop_now(void)
{
	return clock_mono_s();
}

struct loop *loop_new(void)
{
	struct loop *l = calloc(1, sizeof(*l));

	if (!l)
		return NULL;
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (l->epfd < 0) {
		free(l);
		return NULL;
	}
	return l;
}

static void free_dead(struct loop *l)
{
	while (l->dead) {
		struct loop_watch *w = l->dead;

		l->dead = w->next_dead;
		free(w);
	}
}

void loop_destroy(struct loop *l)
{
	if (!l)
		return;
	/* Timers still active belong to their owners, whose memory may be gone already: the
	 * list is dropped without touching them. */
	l->timers = NULL;
	free_dead(l);
	while (l->live) {
		struct loop_watch *w = l->live;

		l->live = w->next;
		free(w);
	}
	close(l->epfd);
	free(l);
}

struct loop_watch *loop_watch_fd(struct loop *l, int fd, uint32_t events, loop_fd_fn fn,
				 void *arg)
{
	struct loop_watch *w = calloc(1, sizeof(*w));
	struct epoll_event ev = { .events = events };

	if (!w)
		return NULL;
	w->loop = l;
	w->fd = fd;
	w->events = events;
	w->fn = fn;
	w->arg = arg;
	ev.data.ptr = w;
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		free(w);
		return NULL;
	}
	w->next = l->live;
	if (l->live)
		l->live->prev = w;
	l->live = w;
	return w;
}

int loop_watch_modify(struct loop_watch *w, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = w };

	if (w->events == events)
		return 0;
	if (epoll_ctl(w->loop->epfd, EPOLL_CTL_MOD, w->fd, &ev) < 0)
		return -errno;
	w->events = events;
	return 0;
}

void loop_unwatch(struct loop_watch *w)
{
	if (!w || w->dead)
		return;
	epoll_ctl(w->loop->epfd, EPOLL_CTL_DEL, w->fd, NULL);
	if (w->prev)
		w->prev->next = w->next;
	else
		w->loop->live = w->next;
	if (w->next)
		w->next->prev = w->prev;
	w->dead = true;
	w->next_dead = w->loop->dead;
	w->loop->dead = w;
}

void loop_timer_stop(struct loop_timer *t)
{
	if (!t->loop)
		return;
	if (t->prev)
		t->prev->next = t->next;
	else
		t->loop->timers = t->next;
	if (t->next)
		t->next->prev = t->prev;
	t->loop = NULL;
	t->prev = t->next = NULL;
}

void loop_timer_start(struct loop *l, struct loop_timer *t, double at, loop_timer_fn fn,
		      void *arg)
{
	struct loop_timer **pp = &l->timers, *prev = NULL;

	loop_timer_stop(t);
	t->loop = l;
	t->at = at;
	t->fn = fn;
	t->arg = arg;
	while (*pp && (*pp)->at <= at) {
		prev = *pp;
		pp = &(*pp)->next;
	}
	t->next = *pp;
	t->prev = prev;
	if (*pp)
		(*pp)->prev = t;
	*pp = t;
}

int loop_add_hook(struct loop *l, loop_timer_fn fn, void *arg)
{
	if (l->nhooks == 4)
		return -ENOSPC;
	l->hooks[l->nhooks].fn = fn;
	l->hooks[l->nhooks].arg = arg;
	l->nhooks++;
	return 0;
}

void loop_stop(struct loop *l)
{
	l->stop = true;
}

static void run_timers(struct loop *l)
{
	double now = loop_now();

	while (l->timers && l->timers->at <= now) {
		struct loop_timer *t = l->timers;

		l->timers = t->next;
		if (l->timers)
			l->timers->prev = NULL;
		t->loop = NULL;
		t->prev = t->next = NULL;
		t->fn(t->arg);
	}
}

int loop_run(struct loop *l)
{
	struct epoll_event evs[64];

	l->stop = false;
	while (!l->stop) {
		int timeout = -1, n;

		if (l->timers) {
			double ms = (l->timers->at - loop_now()) * 1000.0;

			timeout = ms <= 0 ? 0 : (int)ms + 1;
		}
		n = epoll_wait(l->epfd, evs, 64, timeout);
		if (n < 0 && errno != EINTR)
			return -errno;
		for (int i = 0; i < n; i++) {
			struct loop_watch *w = evs[i].data.ptr;

			if (!w->dead)
				w->fn(w->arg, evs[i].events);
		}
		run_timers(l);
		for (int i = 0; i < l->nhooks; i++)
			l->hooks[i].fn(l->hooks[i].arg);
		free_dead(l);
	}
	return 0;
}
