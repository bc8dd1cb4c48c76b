/* The two clocks vigil reads: monotonic seconds (durations) and the epoch (Lambda's deadlines
 * and timestamps; pthread_cond_timedwait's deadlines). */
#ifndef VIGIL_CLOCK_H
#define VIGIL_CLOCK_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

static inline double clock_mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static inline int64_t clock_epoch_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline int64_t clock_epoch_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* A CLOCK_MONOTONIC time (ns: a BPF program's, or loop_now() * 1e9) as ns since the epoch;
 * now when it lies in the future. */
static inline uint64_t clock_mono_to_epoch_ns(uint64_t mono_ns)
{
	struct timespec m;
	uint64_t now_mono, now_epoch = (uint64_t)clock_epoch_ns();

	clock_gettime(CLOCK_MONOTONIC, &m);
	now_mono = (uint64_t)m.tv_sec * 1000000000u + (uint64_t)m.tv_nsec;
	return mono_ns <= now_mono && now_mono - mono_ns < now_epoch ?
		       now_epoch - (now_mono - mono_ns) : now_epoch;
}

/* CLOCK_REALTIME seconds from now (none when negative), as pthread_cond_timedwait takes it. */
static inline struct timespec clock_realtime_in(double seconds)
{
	struct timespec ts;
	double t;

	if (seconds < 0)
		seconds = 0;
	clock_gettime(CLOCK_REALTIME, &ts);
	t = (double)ts.tv_nsec / 1e9 + seconds;
	ts.tv_sec += (time_t)t;
	ts.tv_nsec = (long)((t - (double)(time_t)t) * 1e9);
	return ts;
}

/* Join t within seconds; past them, cancel it (a sender blocked in a connect, send or recv)
 * and join it then. true when it ended in time. */
static inline bool clock_join_within(pthread_t t, double seconds)
{
	struct timespec until = clock_realtime_in(seconds);

	if (pthread_timedjoin_np(t, NULL, &until) == 0)
		return true;
	pthread_cancel(t);
	pthread_join(t, NULL);
	return false;
}

#endif
