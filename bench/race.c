/* The racing-submissions runner: the one FCFS workload that arbitrate and
 * peers hand to every system (ergrid, PostgreSQL, etcd, the HTTP ceiling,
 * SQLite). It owns the client threads, their connections (opened before
 * the clock starts, so a PostgreSQL backend's start-up is not measured),
 * the per-submission outcomes and latencies, and the check that each job
 * got exactly one winner. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

struct race {
    const race_target *t;
    long n;       /* per * njobs */
    unsigned per; /* submissions per job */
    atomic_long next;
    atomic_int errors;
    signed char *outcome; /* per submission */
    float *us;            /* per submission */
    /* The start gate: threads connect, count themselves ready, and wait
     * for go, so the clock covers only the submissions. */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    unsigned ready;
    bool go;
};

static void *http_open(void *arg)
{
    (void)arg;
    hc *h = malloc(sizeof(*h));
    if (h && hc_init(h) < 0) {
        free(h);
        h = NULL;
    }
    return h;
}

static void http_close(void *conn)
{
    if (conn)
        hc_cleanup(conn);
    free(conn);
}

static void *race_thread(void *p)
{
    struct race *r = p;
    const race_target *t = r->t;
    void *conn = t->open ? t->open(t->arg) : http_open(t->arg);
    if (!conn) {
        bench_fail("%s: a client thread could not connect", t->name);
        atomic_store(&r->errors, 20); /* the others stop: the run is void */
    }
    pthread_mutex_lock(&r->mu);
    r->ready++;
    pthread_cond_broadcast(&r->cv);
    while (!r->go)
        pthread_cond_wait(&r->cv, &r->mu);
    pthread_mutex_unlock(&r->mu);
    while (conn && atomic_load(&r->errors) < 20) {
        long i = atomic_fetch_add(&r->next, 1);
        if (i >= r->n)
            break;
        double t0 = now_s();
        int o = t->submit(conn, t->arg, i / r->per, (int)(i % r->per));
        r->us[i] = (float)((now_s() - t0) * 1e6);
        r->outcome[i] = (signed char)o;
        if (o < 0)
            atomic_fetch_add(&r->errors, 1);
    }
    if (conn)
        (t->close ? t->close : http_close)(conn);
    return NULL;
}

int race_run(const race_target *t, unsigned nthreads, long njobs, race_stats *out)
{
    memset(out, 0, sizeof(*out));
    if (nthreads < 1)
        nthreads = 1;
    unsigned per = t->per_job ? t->per_job : 3;
    struct race r = {.t = t, .per = per, .n = (long)per * njobs};
    atomic_init(&r.next, 0);
    atomic_init(&r.errors, 0);
    r.outcome = calloc((size_t)r.n, sizeof(*r.outcome));
    r.us = calloc((size_t)r.n, sizeof(*r.us));
    pthread_t *thr = calloc(nthreads, sizeof(*thr));
    if (!r.outcome || !r.us || !thr) {
        bench_fail("%s: out of memory", t->name);
        free(r.outcome);
        free(r.us);
        free(thr);
        return -1;
    }
    pthread_mutex_init(&r.mu, NULL);
    pthread_cond_init(&r.cv, NULL);
    unsigned started = 0;
    for (; started < nthreads; started++)
        if (pthread_create(&thr[started], NULL, race_thread, &r) != 0)
            break;
    if (started < nthreads) {
        bench_fail("%s: cannot start client thread %u of %u", t->name, started + 1, nthreads);
        atomic_store(&r.errors, 20);
    }
    pthread_mutex_lock(&r.mu);
    while (r.ready < started)
        pthread_cond_wait(&r.cv, &r.mu);
    r.go = true;
    pthread_cond_broadcast(&r.cv);
    pthread_mutex_unlock(&r.mu);
    double t0 = now_s();
    for (unsigned k = 0; k < started; k++)
        pthread_join(thr[k], NULL);
    out->el_s = now_s() - t0;
    pthread_cond_destroy(&r.cv);
    pthread_mutex_destroy(&r.mu);
    free(thr);

    int rc = atomic_load(&r.errors) ? -1 : 0;
    lat l = {0};
    for (long j = 0; rc == 0 && j < njobs; j++) {
        int wins = 0;
        for (unsigned k = 0; k < per; k++) {
            signed char o = r.outcome[per * j + k];
            wins += o == RACE_WON;
            out->won += o == RACE_WON;
            out->lost += o == RACE_LOST;
            out->retry += o == RACE_RETRY;
            lat_add(&l, r.us[per * j + k]);
        }
        if (t->decides && wins != 1) {
            bench_fail("%s: job %ld got %d winners (first-wins broken)", t->name, j, wins);
            rc = -1;
        }
    }
    out->n = rc == 0 ? r.n : 0;
    out->rate = out->el_s > 0 ? (double)out->n / out->el_s : 0;
    lat_stats(&l, &out->p50_us, &out->p99_us, &out->max_us);
    lat_free(&l);
    free(r.outcome);
    free(r.us);
    return rc;
}
