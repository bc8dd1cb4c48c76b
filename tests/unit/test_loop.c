/* Unit tests of the event loop's timers (agent/lib/loop.c): stopping is always safe. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "../../agent/lib/loop.h"

struct counter {
	struct loop *l;
	struct loop_timer t;
	int fired;
	int again;	/* times fn starts its own timer again */
};

static void on_fire(void *arg)
{
	struct counter *c = arg;

	c->fired++;
	assert_false(loop_timer_active(&c->t));	/* not active while its fn runs */
	if (c->again-- > 0)
		loop_timer_start(c->l, &c->t, loop_now(), on_fire, c);
	else
		loop_stop(c->l);
}

static void on_stop_loop(void *arg)
{
	loop_stop(arg);
}

static void test_stop_is_always_safe(void **state)
{
	struct loop *l = loop_new();
	struct counter a = { .l = l }, b = { .l = l };
	struct loop_timer never, end;

	(void)state;
	memset(&never, 0, sizeof(never));
	memset(&end, 0, sizeof(end));
	loop_timer_stop(&never);			/* never started */
	loop_timer_start(l, &a.t, loop_now(), on_fire, &a);
	loop_timer_start(l, &b.t, loop_now() + 60, on_fire, &b);
	assert_true(loop_timer_active(&b.t));
	loop_timer_stop(&b.t);
	loop_timer_stop(&b.t);				/* stopped twice */
	assert_false(loop_timer_active(&b.t));
	assert_int_equal(loop_run(l), 0);
	assert_int_equal(a.fired, 1);
	loop_timer_stop(&a.t);				/* after it fired */
	loop_timer_stop(&a.t);
	assert_int_equal(b.fired, 0);

	/* Restarting an active timer moves it; a fn may start its own timer again. */
	a.again = 2;
	loop_timer_start(l, &a.t, loop_now() + 60, on_fire, &a);
	loop_timer_start(l, &a.t, loop_now(), on_fire, &a);
	loop_timer_start(l, &end, loop_now() + 5, on_stop_loop, l);
	assert_int_equal(loop_run(l), 0);
	assert_int_equal(a.fired, 4);
	loop_timer_stop(&end);
	loop_destroy(l);
}

/* Timers fire in the order of their times, whatever the order they were started in. */
static int order[4], norder;

static void on_ordered(void *arg)
{
	order[norder++] = (int)(intptr_t)arg;
}

static void test_order(void **state)
{
	struct loop *l = loop_new();
	struct loop_timer t[4], end;
	double now = loop_now();

	(void)state;
	memset(t, 0, sizeof(t));
	memset(&end, 0, sizeof(end));
	loop_timer_start(l, &t[2], now + 0.003, on_ordered, (void *)(intptr_t)2);
	loop_timer_start(l, &t[0], now + 0.001, on_ordered, (void *)(intptr_t)0);
	loop_timer_start(l, &t[3], now + 0.004, on_ordered, (void *)(intptr_t)3);
	loop_timer_start(l, &t[1], now + 0.002, on_ordered, (void *)(intptr_t)1);
	loop_timer_stop(&t[3]);
	loop_timer_start(l, &end, now + 0.01, on_stop_loop, l);
	assert_int_equal(loop_run(l), 0);
	assert_int_equal(norder, 3);
	for (int i = 0; i < 3; i++)
		assert_int_equal(order[i], i);
	loop_destroy(l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stop_is_always_safe),
		cmocka_unit_test(test_order),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
