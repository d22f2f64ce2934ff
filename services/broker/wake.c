/* Monotonic wake-up channels (see wake.h). */
#include "wake.h"

#include <errno.h>
#include <stdlib.h>
#include <time.h>

int wake_init(wake *w)
{
    pthread_condattr_t ca;
    int rc;

    w->gen = 0;
    w->stopping = false;
    atomic_init(&w->pending, false);
    atomic_init(&w->sent, 0);
    w->woke = 0;
    if (pthread_mutex_init(&w->mu, NULL) != 0)
        return -1;
    if (pthread_condattr_init(&ca) != 0) {
        pthread_mutex_destroy(&w->mu);
        return -1;
    }
    rc = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) == 0 && pthread_cond_init(&w->cv, &ca) == 0
             ? 0
             : -1;
    pthread_condattr_destroy(&ca);
    if (rc < 0)
        pthread_mutex_destroy(&w->mu);
    return rc;
}

void wake_destroy(wake *w)
{
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
}

void wake_signal(wake *w)
{
    atomic_fetch_add_explicit(&w->sent, 1, memory_order_relaxed);
    /* Already pending: no wait has taken the earlier signal, and the one
     * that does looks at the state after this change (the caller made it
     * before signalling, the wait clears pending before it returns). */
    if (atomic_exchange(&w->pending, true))
        return;
    pthread_mutex_lock(&w->mu);
    w->gen++;
    w->woke++;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

void wake_get_stats(wake *w, wake_stats *out)
{
    pthread_mutex_lock(&w->mu);
    out->wakeups = w->woke;
    pthread_mutex_unlock(&w->mu);
    out->signals = atomic_load(&w->sent);
}

void wake_stop(wake *w)
{
    pthread_mutex_lock(&w->mu);
    w->stopping = true;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

bool wake_stopping(wake *w)
{
    pthread_mutex_lock(&w->mu);
    bool s = w->stopping;
    pthread_mutex_unlock(&w->mu);
    return s;
}

uint64_t wake_gen(wake *w)
{
    pthread_mutex_lock(&w->mu);
    uint64_t g = w->gen;
    pthread_mutex_unlock(&w->mu);
    return g;
}

static void deadline(struct timespec *ts, uint64_t ms)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += (time_t)(ms / 1000);
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

/* One wait under w->mu; false once the deadline has passed. */
static bool wait_until(wake *w, const struct timespec *ts, bool forever)
{
    if (forever)
        return pthread_cond_wait(&w->cv, &w->mu) == 0;
    return pthread_cond_timedwait(&w->cv, &w->mu, ts) != ETIMEDOUT;
}

bool wake_wait(wake *w, uint64_t *seen, uint64_t ms)
{
    struct timespec ts = {0};
    bool forever = ms == WAKE_FOREVER;

    if (!forever)
        deadline(&ts, ms);
    pthread_mutex_lock(&w->mu);
    while (!w->stopping && w->gen == *seen && ms)
        if (!wait_until(w, &ts, forever))
            break;
    *seen = w->gen;
    /* Taken: the next signal starts a new generation. */
    atomic_store(&w->pending, false);
    bool go_on = !w->stopping;
    pthread_mutex_unlock(&w->mu);
    return go_on;
}

bool wake_sleep(wake *w, uint64_t ms)
{
    struct timespec ts;

    deadline(&ts, ms);
    pthread_mutex_lock(&w->mu);
    while (!w->stopping && ms)
        if (!wait_until(w, &ts, false))
            break;
    bool go_on = !w->stopping;
    pthread_mutex_unlock(&w->mu);
    return go_on;
}

uint64_t wake_jitter(uint64_t ms)
{
    static __thread unsigned seed;
    uint64_t half = ms / 4;

    if (!seed)
        seed = (unsigned)time(NULL) ^ (unsigned)(uintptr_t)&seed;
    return ms - half + (half ? (uint64_t)rand_r(&seed) % (2 * half + 1) : 0);
}
