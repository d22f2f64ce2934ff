/* The outgoing pool's queue and threads (see outpool.h). */
#include "outpool.h"

#include <signal.h>

#include "http_client.h"

static void *worker_main(void *arg)
{
    outpool *p = arg;

    pthread_mutex_lock(&p->mu);
    for (;;) {
        /* A reserved slot is a task still to come (its deferred reply is
         * promised): stopping waits for it too. */
        while (!p->n && !(p->stopping && !p->taken))
            pthread_cond_wait(&p->cv, &p->mu);
        if (!p->n)
            break; /* stopping, and nothing left or promised */
        outpool_task t = p->q[p->head];
        p->head = (p->head + 1) % OUTPOOL_SLOTS;
        p->n--;
        p->busy++;
        bool stopping = p->stopping;
        pthread_mutex_unlock(&p->mu);
        t.fn(t.arg, stopping);
        pthread_mutex_lock(&p->mu);
        p->busy--;
        p->taken--;
        p->run++;
        if (p->stopping && !p->taken)
            pthread_cond_broadcast(&p->cv);
    }
    pthread_mutex_unlock(&p->mu);
    http_client_thread_cleanup();
    return NULL;
}

int outpool_start(outpool *p)
{
    sigset_t all, old;

    p->head = p->n = p->taken = p->busy = p->nthr = 0;
    p->stopping = false;
    p->run = p->full = 0;
    if (pthread_mutex_init(&p->mu, NULL) != 0)
        return -1;
    if (pthread_cond_init(&p->cv, NULL) != 0) {
        pthread_mutex_destroy(&p->mu);
        return -1;
    }
    /* Signals are for the thread in service_wait_for_signal. */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    while (p->nthr < OUTPOOL_THREADS &&
           pthread_create(&p->thr[p->nthr], NULL, worker_main, p) == 0)
        p->nthr++;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (p->nthr == OUTPOOL_THREADS)
        return 0;
    outpool_stop(p);
    outpool_destroy(p);
    return -1;
}

bool outpool_reserve(outpool *p)
{
    pthread_mutex_lock(&p->mu);
    bool ok = !p->stopping && p->taken < OUTPOOL_SLOTS;
    if (ok)
        p->taken++;
    else
        p->full++;
    pthread_mutex_unlock(&p->mu);
    return ok;
}

void outpool_unreserve(outpool *p)
{
    pthread_mutex_lock(&p->mu);
    p->taken--;
    pthread_cond_broadcast(&p->cv); /* a stopping pool may be waiting for it */
    pthread_mutex_unlock(&p->mu);
}

void outpool_submit(outpool *p, outpool_fn fn, void *arg)
{
    pthread_mutex_lock(&p->mu);
    /* The reservation guarantees the room: taken counts this task. */
    p->q[(p->head + p->n) % OUTPOOL_SLOTS] = (outpool_task){fn, arg};
    p->n++;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

void outpool_stop(outpool *p)
{
    pthread_mutex_lock(&p->mu);
    p->stopping = true;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    for (size_t i = 0; i < p->nthr; i++)
        pthread_join(p->thr[i], NULL);
    p->nthr = 0;
}

void outpool_destroy(outpool *p)
{
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
}

void outpool_get_stats(outpool *p, outpool_stats *out)
{
    pthread_mutex_lock(&p->mu);
    out->run = p->run;
    out->full = p->full;
    out->busy = p->busy;
    out->waiting = p->n;
    pthread_mutex_unlock(&p->mu);
}
