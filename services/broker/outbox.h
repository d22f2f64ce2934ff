/* The outbox: revocations for executors (DELETE {url}/v1/assignments/{job})
 * and releases of borrowed units at their home broker (POST
 * {url}/v1/units/{unit}/release), sent by one notifier thread, so no HTTP
 * call is ever made under the domain mutex. A message that fails (no
 * answer, or an answer that is not a decision: a revocation counts as
 * delivered on 200 or 404, a release on 200 or 404) is retried with
 * backoff (OUTBOX_RETRY_MIN_MS doubling to OUTBOX_RETRY_MAX_MS) up to
 * OUTBOX_MAX_TRIES times; one waiting for its retry does not hold up the
 * others. Bounded: past OUTBOX_MAX a message is dropped and counted, and
 * the same message queued twice is kept once. What it gives up on or drops
 * is repaired from the records: a revocation by the unit's next heartbeat
 * (units.h, reconciliation), a release by the home broker's reading of the
 * owner's synced copy. Thread-safe (its own mutex). */
#ifndef BROKER_OUTBOX_H
#define BROKER_OUTBOX_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bounds.h"
#include "http_client.h"
#include "util.h"

#define OUTBOX_MAX_TRIES    8
#define OUTBOX_RETRY_MIN_MS 250
#define OUTBOX_RETRY_MAX_MS 8000

typedef struct outbox_msg {
    char url[BROKER_URL_MAX];
    char job_id[COORD_ID_MAX + 1];
    char unit_id[COORD_ID_MAX + 1]; /* set: a release at the home broker */
    char reason[BROKER_REASON_MAX];
    uint32_t attempt;
    /* The notifier's own (outbox_push ignores what the caller set). */
    uint32_t tries;
    uint64_t due_ms; /* monotonic: not sent before */
    struct outbox_msg *next;
} outbox_msg;

/* Called on the notifier thread after a revocation reached its executor
 * (2xx or 404: it no longer holds the job). */
typedef void (*outbox_delivered_fn)(void *arg, const outbox_msg *m);

/* How a release reaches a home broker that may have standbys: sends POST
 * <path> to the district that url belongs to, following its leader
 * (peers.c); 0 with an HTTP reply, as http_json. Without a router, a
 * release goes to url alone. */
typedef int (*outbox_router_fn)(void *arg, const char *url, const char *path, const json_t *body,
                                http_reply *rep);

typedef struct outbox {
    pthread_mutex_t mu;
    pthread_cond_t cv; /* CLOCK_MONOTONIC */
    outbox_msg *head, *tail;
    size_t n, max;
    bool stopping;
    uint64_t sent, failed, dropped, retried;
    outbox_delivered_fn delivered;
    void *arg;
    outbox_router_fn router; /* under mu */
    void *router_arg;
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
/* Set once, before releases are sent (outbox_router_fn). */
void outbox_set_router(outbox *o, outbox_router_fn fn, void *arg);
/* Queues a copy of *m, due at once. False when the outbox is full
 * (counted); true also when the same message is already queued. */
bool outbox_push(outbox *o, const outbox_msg *m);

/* failed: given up after OUTBOX_MAX_TRIES; retried: tries after the first. */
typedef struct outbox_stats {
    size_t queued;
    uint64_t sent, failed, dropped, retried;
} outbox_stats;
void outbox_get_stats(outbox *o, outbox_stats *st);

#endif
