/* ergrid-executor's lifecycle (executor.h): locks and monotonic condvars
 * made once, the assignment table's storage, and a shutdown that never
 * waits out a sleep. */
#include "executor.h"

#include <stdlib.h>
#include <string.h>

void exec_deadline(struct timespec *ts, uint64_t ms_from_now)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    uint64_t ns = (uint64_t)ts->tv_nsec + (ms_from_now % 1000) * 1000000ULL;
    ts->tv_sec += (time_t)(ms_from_now / 1000) + (time_t)(ns / 1000000000ULL);
    ts->tv_nsec = (long)(ns % 1000000000ULL);
}

/* Deadlines come from exec_deadline, so the wall clock jumping (NTP, an
 * operator) can neither stall nor hurry a heartbeat. */
int exec_cond_init_mono(pthread_cond_t *c)
{
    pthread_condattr_t attr;
    if (pthread_condattr_init(&attr) != 0)
        return -1;
    int rc = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    if (rc == 0)
        rc = pthread_cond_init(c, &attr);
    pthread_condattr_destroy(&attr);
    return rc == 0 ? 0 : -1;
}

int exec_init(executor *e, const exec_config *cfg)
{
    memset(e, 0, sizeof *e);
    e->cfg = *cfg;
    e->next_seq = 1;
    e->v = calloc(EXEC_MAX_ASSIGNMENTS, sizeof *e->v);
    if (!e->v)
        return EXEC_E_NOMEM;
    if (exec_cond_init_mono(&e->link_cond) != 0)
        goto fail_link;
    if (exec_cond_init_mono(&e->sim_cond) != 0)
        goto fail_sim;
    if (pthread_mutex_init(&e->mu, NULL) != 0)
        goto fail_mu;
    if (pthread_mutex_init(&e->save_mu, NULL) != 0)
        goto fail_save;
    if (pthread_mutex_init(&e->metrics_mu, NULL) != 0)
        goto fail_metrics;
    if (pthread_mutex_init(&e->faults_mu, NULL) != 0)
        goto fail_faults;
    e->faults.enabled = cfg->fault_hooks;
    leader_set_init(&e->home);
    for (size_t i = 0; i < cfg->nbrokers; i++)
        (void)leader_set_add(&e->home, cfg->brokers[i]); /* config.c checked each */
    if (cfg->nbrokers == 0)
        (void)leader_set_add(&e->home, cfg->broker); /* a config built by hand (tests) */
    e->home.learn = leader_set_count(&e->home) == 1;
    return EXEC_OK;
fail_faults:
    pthread_mutex_destroy(&e->metrics_mu);
fail_metrics:
    pthread_mutex_destroy(&e->save_mu);
fail_save:
    pthread_mutex_destroy(&e->mu);
fail_mu:
    pthread_cond_destroy(&e->sim_cond);
fail_sim:
    pthread_cond_destroy(&e->link_cond);
fail_link:
    free(e->v);
    e->v = NULL;
    return EXEC_E_NOMEM;
}

void exec_release(executor *e)
{
    if (!e || !e->v)
        return;
    for (size_t i = 0; i < e->n; i++)
        asg_free(e->v[i]);
    free(e->v);
    e->v = NULL;
    e->n = 0;
    pthread_cond_destroy(&e->link_cond);
    pthread_cond_destroy(&e->sim_cond);
    pthread_mutex_destroy(&e->mu);
    pthread_mutex_destroy(&e->save_mu);
    pthread_mutex_destroy(&e->metrics_mu);
    pthread_mutex_destroy(&e->faults_mu);
    leader_set_release(&e->home);
}

/* Wakes both threads through their condition variables (no sleeps to
 * wait out) and joins them. */
bool exec_threads_stop(executor *e)
{
    pthread_mutex_lock(&e->mu);
    e->stopping = true;
    pthread_cond_broadcast(&e->link_cond);
    pthread_cond_broadcast(&e->sim_cond);
    pthread_mutex_unlock(&e->mu);
    bool all = true;
    pthread_t *threads[2] = {e->link_started ? &e->link_thread : NULL,
                             e->sim_started ? &e->sim_thread : NULL};
    for (int i = 0; i < 2; i++) {
        if (!threads[i])
            continue;
        /* A thread may be inside one bounded network call; do not let a
         * black-holed broker hold shutdown for long. (pthread_timedjoin_np
         * takes a CLOCK_REALTIME deadline; no condvar is involved.) */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += 3;
        if (pthread_timedjoin_np(*threads[i], NULL, &ts) != 0)
            all = false;
    }
    e->link_started = e->sim_started = false;
    return all;
}
