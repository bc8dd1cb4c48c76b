/*
 * A single-threaded event loop: epoll for file descriptors, a sorted list of one-shot
 * timers, and hooks run after every round. Everything that owns host state runs on it, so
 * that state needs no locks.
 */
#ifndef VIGIL_LOOP_H
#define VIGIL_LOOP_H

#include <stdint.h>
#include <sys/epoll.h>

#include <stdbool.h>
#include <stddef.h>

struct loop;
struct loop_watch;

typedef void (*loop_fd_fn)(void *arg, uint32_t events);
typedef void (*loop_timer_fn)(void *arg);

/* A one-shot timer, embedded in its owner's struct (as libuv's uv_timer_t): no allocation,
 * and stopping it is always safe — a timer that fired, was stopped, or never started (all
 * zeroes) is simply not active. The fields are the loop's. */
struct loop_timer {
	struct loop *loop;		/* non-NULL while active */
	struct loop_timer *prev, *next;
	double at;
	loop_timer_fn fn;
	void *arg;
};

struct loop *loop_new(void);
/* Frees the loop; watches still registered are freed too (without callbacks); timers still
 * active are forgotten (their memory is their owners'). */
void loop_destroy(struct loop *l);

/* Watch fd for events (EPOLLIN, EPOLLOUT…). NULL on error. The fd stays the caller's. */
struct loop_watch *loop_watch_fd(struct loop *l, int fd, uint32_t events, loop_fd_fn fn,
				 void *arg);
int loop_watch_modify(struct loop_watch *w, uint32_t events);
/* Stop watching; safe from inside any callback (freed after the current round). */
void loop_unwatch(struct loop_watch *w);

/* Monotonic seconds. */
double loop_now(void);
/* Call fn(arg) once at monotonic time at; a timer already active is moved there. The timer
 * is not active any more when fn runs (fn may start it again). */
void loop_timer_start(struct loop *l, struct loop_timer *t, double at, loop_timer_fn fn,
		      void *arg);
/* Stop t if it is active; nothing otherwise (fired, stopped, never started). */
void loop_timer_stop(struct loop_timer *t);
static inline bool loop_timer_active(const struct loop_timer *t)
{
	return t->loop != NULL;
}

/* Run fn after every round of events (at most 4 hooks). */
int loop_add_hook(struct loop *l, loop_timer_fn fn, void *arg);

/* Run until loop_stop. 0, or -errno when epoll fails. */
int loop_run(struct loop *l);
void loop_stop(struct loop *l);

#endif
