/* Parallel calls to brokers (fanout.h): a small shared work index, the
 * caller working too. */
#include "fanout.h"

#include <pthread.h>
#include <stdlib.h>

#include "api.h"

typedef struct fanout {
    pthread_mutex_t mu;
    size_t next, n;
    void (*fn)(void *arg, size_t i);
    void *arg;
} fanout;

static void *fanout_worker(void *p)
{
    fanout *f = p;
    for (;;) {
        pthread_mutex_lock(&f->mu);
        size_t i = f->next < f->n ? f->next++ : f->n;
        pthread_mutex_unlock(&f->mu);
        if (i == f->n)
            break;
        f->fn(f->arg, i);
    }
    return NULL;
}

static void *fanout_thread(void *p)
{
    fanout_worker(p);
    http_client_thread_cleanup(); /* this thread's cached connection */
    return NULL;
}

void fanout_run(size_t n, size_t max_threads, void (*fn)(void *arg, size_t i), void *arg)
{
    fanout f = {.next = 0, .n = n, .fn = fn, .arg = arg};
    pthread_t thr[FANOUT_MAX_THREADS];
    size_t want = n < max_threads ? n : max_threads, started = 0;
    if (want > FANOUT_MAX_THREADS)
        want = FANOUT_MAX_THREADS;
    if (n == 0)
        return;
    if (pthread_mutex_init(&f.mu, NULL) != 0) {
        for (size_t i = 0; i < n; i++)
            fn(arg, i); /* no shared index: one thread, in order */
        return;
    }
    /* The caller works too, so one item needs no thread at all. */
    for (size_t i = 1; i < want; i++) {
        if (pthread_create(&thr[started], NULL, fanout_thread, &f) != 0)
            break; /* checked: fewer helpers, the same work */
        started++;
    }
    fanout_worker(&f);
    for (size_t i = 0; i < started; i++)
        pthread_join(thr[i], NULL);
    pthread_mutex_destroy(&f.mu);
}
