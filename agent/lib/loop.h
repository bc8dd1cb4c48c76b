/*
 * A single-threaded event loop: epoll for file descriptors, a sorted list of one-shot
 * timers, and hooks run after every round. Everything that owns host state runs on it, so
 * that state needs no locks.
 */
#ifndef VIGIL_LOOP_H
#define VIGIL_LOOP_H

#include <stdint.h>
#include <sys/epoll.h>

struct loop;
struct loop_watch;
struct loop_timer;

typedef void (*loop_fd_fn)(void *arg, uint32_t events);
typedef void (*loop_timer_fn)(void *arg);

struct loop *loop_new(void);
/* Frees the loop; watches and timers still registered are freed too (without callbacks). */
void loop_destroy(struct loop *l);

/* Watch fd for events (EPOLLIN, EPOLLOUT…). NULL on error. The fd stays the caller's. */
struct loop_watch *loop_watch_fd(struct loop *l, int fd, uint32_t events, loop_fd_fn fn,
				 void *arg);
int loop_watch_modify(struct loop_watch *w, uint32_t events);
/* Stop watching; safe from inside any callback (freed after the current round). */
void loop_unwatch(struct loop_watch *w);

/* Monotonic seconds. */
double loop_now(void);
/* Call fn once at monotonic time at. NULL on ENOMEM. */
struct loop_timer *loop_timer_at(struct loop *l, double at, loop_timer_fn fn, void *arg);
/* Cancel a timer that has not fired; NULL is fine. Never call on a timer that fired. */
void loop_timer_cancel(struct loop_timer *t);

/* Run fn after every round of events (at most 4 hooks). */
int loop_add_hook(struct loop *l, loop_timer_fn fn, void *arg);

/* Run until loop_stop. 0, or -errno when epoll fails. */
int loop_run(struct loop *l);
void loop_stop(struct loop *l);

#endif
