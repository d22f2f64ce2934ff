/* The outbox: revocations for executors (DELETE {url}/v1/assignments/{job})
 * and releases of borrowed units at their home broker (POST
 * {url}/v1/units/{unit}/release), sent by one notifier thread in the order
 * they were queued, so no HTTP call is ever made under the domain mutex.
 * Bounded: past OUTBOX_MAX a message is dropped and counted. A dropped or
 * failed revocation still reaches the unit through its heartbeat reply; a
 * dropped or failed release is not repeated, and the home broker keeps
 * the unit busy until it is lost there (a known gap: nothing reconciles a
 * claim with the owner's job yet). Thread-safe (its own mutex). */
#ifndef BROKER_OUTBOX_H
#define BROKER_OUTBOX_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bounds.h"
#include "util.h"

typedef struct outbox_msg {
    char url[BROKER_URL_MAX];
    char job_id[COORD_ID_MAX + 1];
    char unit_id[COORD_ID_MAX + 1]; /* set: a release at the home broker */
    char reason[BROKER_REASON_MAX];
    uint32_t attempt;
    struct outbox_msg *next;
} outbox_msg;

/* Called on the notifier thread after a revocation reached its executor
 * (2xx or 404: it no longer holds the job). */
typedef void (*outbox_delivered_fn)(void *arg, const outbox_msg *m);

typedef struct outbox {
    pthread_mutex_t mu;
    pthread_cond_t cv; /* CLOCK_MONOTONIC */
    outbox_msg *head, *tail;
    size_t n, max;
    bool stopping;
    uint64_t sent, failed, dropped;
    outbox_delivered_fn delivered;
    void *arg;
    pthread_t thr;
    bool started;
} outbox;

int outbox_init(outbox *o, size_t max, outbox_delivered_fn delivered, void *arg);
/* Starts the notifier thread. 0, or -1 when it could not be created. */
int outbox_start(outbox *o);
/* Stops the thread; messages still queued are dropped (at shutdown, as
 * if the process had been killed). */
void outbox_stop(outbox *o);
void outbox_release(outbox *o);
/* Queues a copy of *m. False when the outbox is full (counted). */
bool outbox_push(outbox *o, const outbox_msg *m);

typedef struct outbox_stats {
    size_t queued;
    uint64_t sent, failed, dropped;
} outbox_stats;
void outbox_get_stats(outbox *o, outbox_stats *st);

#endif
