/* Group commit's bookkeeping (see batch.h). */
#include "batch.h"

#include <string.h>

int batch_init(batches *g)
{
    memset(g, 0, sizeof(*g));
    if (pthread_mutex_init(&g->mu, NULL) != 0)
        return -1;
    if (pthread_cond_init(&g->settled_cv, NULL) != 0) {
        pthread_mutex_destroy(&g->mu);
        return -1;
    }
    if (pthread_cond_init(&g->leader_cv, NULL) != 0) {
        pthread_cond_destroy(&g->settled_cv);
        pthread_mutex_destroy(&g->mu);
        return -1;
    }
    return 0;
}

void batch_destroy(batches *g)
{
    pthread_cond_destroy(&g->leader_cv);
    pthread_cond_destroy(&g->settled_cv);
    pthread_mutex_destroy(&g->mu);
}

uint64_t batch_open(batches *g, bool *opened)
{
    *opened = g->open == 0;
    if (*opened) {
        g->open = ++g->last;
        g->members = 0;
    }
    return g->open;
}

void batch_member(batches *g)
{
    g->members++;
}

bool batch_is_open(const batches *g)
{
    return g->open != 0;
}

uint64_t batch_pending(const batches *g)
{
    return g->open ? g->open : g->closed;
}

static uint64_t take_open(batches *g, uint64_t *members)
{
    uint64_t n = g->open;

    *members = g->members;
    g->open = 0;
    g->members = 0;
    return n;
}

uint64_t batch_close(batches *g, uint64_t *members)
{
    uint64_t n = take_open(g, members);

    if (n)
        g->closed = n;
    return n;
}

void batch_done(batches *g, uint64_t n, uint64_t members, bool ok)
{
    if (!n)
        return;
    pthread_mutex_lock(&g->mu);
    if (ok) {
        if (n > g->durable)
            g->durable = n;
        g->commits++;
        g->changes += members;
    } else {
        g->failed[g->nfailed++ % BATCH_FAILED_KEEP] = n;
    }
    pthread_cond_broadcast(&g->settled_cv);
    pthread_mutex_unlock(&g->mu);
}

uint64_t batch_settle(batches *g, bool ok)
{
    /* A rolled-back batch is nothing a later read can see (memory was
     * reloaded without it): only a committed one is waited for. */
    uint64_t members, n = ok ? batch_close(g, &members) : take_open(g, &members);

    batch_done(g, n, members, ok);
    return n;
}

static bool failed_locked(const batches *g, uint64_t n)
{
    size_t keep = g->nfailed < BATCH_FAILED_KEEP ? g->nfailed : BATCH_FAILED_KEEP;

    for (size_t i = 0; i < keep; i++)
        if (g->failed[i] == n)
            return true;
    return false;
}

void batch_arrive(batches *g)
{
    __atomic_add_fetch(&g->arriving, 1, __ATOMIC_SEQ_CST);
}

void batch_passed(batches *g)
{
    __atomic_sub_fetch(&g->arriving, 1, __ATOMIC_SEQ_CST);
    uint64_t p = __atomic_add_fetch(&g->passed, 1, __ATOMIC_SEQ_CST);
    uint64_t target = __atomic_load_n(&g->lead_target, __ATOMIC_SEQ_CST);

    /* Seen by a committer that set its target before our pass, or by its
     * own check after setting it: either way it does not sleep past us. */
    if (target && p >= target) {
        pthread_mutex_lock(&g->mu);
        pthread_cond_signal(&g->leader_cv);
        pthread_mutex_unlock(&g->mu);
    }
}

/* The committer's grace, under mu: until the writers queued when it took
 * the lead have passed the domain mutex. Bounded by that queue: every
 * writer passes once it has the mutex, and nobody holding the mutex waits
 * for a committer. */
static void let_queued_stage(batches *g)
{
    uint64_t target = __atomic_load_n(&g->passed, __ATOMIC_SEQ_CST) +
                      __atomic_load_n(&g->arriving, __ATOMIC_SEQ_CST);

    __atomic_store_n(&g->lead_target, target, __ATOMIC_SEQ_CST);
    while (__atomic_load_n(&g->passed, __ATOMIC_SEQ_CST) < target)
        pthread_cond_wait(&g->leader_cv, &g->mu);
    __atomic_store_n(&g->lead_target, 0, __ATOMIC_SEQ_CST);
}

bool batch_wait(batches *g, uint64_t n, void (*commit)(void *arg), void *arg)
{
    bool ok;

    if (!n)
        return true;
    pthread_mutex_lock(&g->mu);
    while (g->durable < n && !failed_locked(g, n)) {
        if (g->leading) {
            pthread_cond_wait(&g->settled_cv, &g->mu);
            continue;
        }
        /* Nobody is committing: this waiter commits what is open, which
         * by now holds whatever others staged while it got here. */
        g->leading = true;
        let_queued_stage(g);
        pthread_mutex_unlock(&g->mu);
        commit(arg);
        pthread_mutex_lock(&g->mu);
        g->leading = false;
        /* The next batch's waiters may have slept on the leader. */
        pthread_cond_broadcast(&g->settled_cv);
    }
    /* A failure is looked up first: a later batch's success does not
     * make a failed one durable. */
    ok = !failed_locked(g, n);
    pthread_mutex_unlock(&g->mu);
    return ok;
}

void batch_counts(batches *g, uint64_t *commits, uint64_t *changes)
{
    pthread_mutex_lock(&g->mu);
    *commits = g->commits;
    *changes = g->changes;
    pthread_mutex_unlock(&g->mu);
}
