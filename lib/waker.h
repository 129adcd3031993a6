/* The wake-up of a background worker thread: another thread wakes it or stops it, or its
 * wait times out. One lock and one condition variable on CLOCK_MONOTONIC (a change of the
 * wall clock moves no timeout). The outbox relay, retention, campaign-svc's scheduler and
 * dialer-svc's reporter each wrote this before; they share it now. */
#ifndef OD_WAKER_H
#define OD_WAKER_H

#include <pthread.h>
#include <stdbool.h>

struct waker {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool woken, stopping; /* under lock */
};

/* 0, or -1 when the condition variable could not be made (nothing to destroy then). */
int waker_init(struct waker *w);
void waker_destroy(struct waker *w);

/* Any thread: the next (or current) waker_wait returns at once. */
void waker_wake(struct waker *w);
/* Any thread: waker_wait returns true from now on. */
void waker_stop(struct waker *w);
bool waker_stopping(struct waker *w);

/* The worker: waits up to ms for a wake or a stop (returns at once if one came since the last
 * wait), clears the wake, and returns true when stopping. */
bool waker_wait(struct waker *w, int ms);

#endif
