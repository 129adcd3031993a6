/* See waker.h. */
#include "waker.h"

#include <time.h>

int waker_init(struct waker *w)
{
    pthread_condattr_t attr;
    int rc;
    w->woken = w->stopping = false;
    if (pthread_condattr_init(&attr) != 0)
        return -1;
    rc = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC) == 0 &&
                 pthread_cond_init(&w->cond, &attr) == 0
             ? 0
             : -1;
    pthread_condattr_destroy(&attr);
    if (rc != 0)
        return -1;
    if (pthread_mutex_init(&w->lock, NULL) != 0) {
        pthread_cond_destroy(&w->cond);
        return -1;
    }
    return 0;
}

void waker_destroy(struct waker *w)
{
    pthread_cond_destroy(&w->cond);
    pthread_mutex_destroy(&w->lock);
}

void waker_wake(struct waker *w)
{
    pthread_mutex_lock(&w->lock);
    w->woken = true;
    pthread_cond_broadcast(&w->cond);
    pthread_mutex_unlock(&w->lock);
}

void waker_stop(struct waker *w)
{
    pthread_mutex_lock(&w->lock);
    w->stopping = true;
    pthread_cond_broadcast(&w->cond);
    pthread_mutex_unlock(&w->lock);
}

bool waker_stopping(struct waker *w)
{
    bool stopping;
    pthread_mutex_lock(&w->lock);
    stopping = w->stopping;
    pthread_mutex_unlock(&w->lock);
    return stopping;
}

bool waker_wait(struct waker *w, int ms)
{
    struct timespec until;
    bool stopping;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += ms / 1000;
    until.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&w->lock);
    while (!w->stopping && !w->woken)
        if (pthread_cond_timedwait(&w->cond, &w->lock, &until) != 0)
            break;
    w->woken = false;
    stopping = w->stopping;
    pthread_mutex_unlock(&w->lock);
    return stopping;
}
