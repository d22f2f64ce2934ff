/* The outgoing pool: a few threads that make the broker's blocking calls
 * to executors (a submission's assignment, a lent unit's claim), so an
 * HTTP worker never waits for a terminal's round trip. Bounded: a task needs a slot, reserved
 * before the work is promised to anyone (outpool_reserve), and with every
 * slot taken the caller does without (the job stays queued for the drain
 * thread) rather than wait. */
#ifndef BROKER_OUTPOOL_H
#define BROKER_OUTPOOL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define OUTPOOL_THREADS 16
#define OUTPOOL_SLOTS   1024 /* tasks waiting or running at most */

/* Runs on a pool thread; stopping: the pool is shutting down, so do
 * nothing slow (answer with what is known). */
typedef void (*outpool_fn)(void *arg, bool stopping);

typedef struct outpool_task {
    outpool_fn fn;
    void *arg;
} outpool_task;

typedef struct outpool_stats {
    uint64_t run;    /* tasks run */
    uint64_t full;   /* reservations refused: every slot taken (or stopping) */
    size_t busy;     /* tasks running now */
    size_t waiting;  /* tasks queued for a thread */
} outpool_stats;

typedef struct outpool {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    outpool_task q[OUTPOOL_SLOTS];
    size_t head, n;  /* the queue */
    size_t taken;    /* slots reserved, queued or running */
    size_t busy;
    bool stopping;
    uint64_t run, full;
    pthread_t thr[OUTPOOL_THREADS];
    size_t nthr;
} outpool;

/* Starts the threads. 0, or -1 (nothing to stop then). */
int outpool_start(outpool *p);
/* A slot for one outpool_submit; false when all are taken or stopping. */
bool outpool_reserve(outpool *p);
/* Gives back a reserved slot that will not be submitted. */
void outpool_unreserve(outpool *p);
/* Queues fn(arg) on a slot reserved before. */
void outpool_submit(outpool *p, outpool_fn fn, void *arg);
/* Refuses new reservations, runs what is queued or reserved (stopping =
 * true) and joins the threads. outpool_get_stats still works after. */
void outpool_stop(outpool *p);
/* After a successful start (and its stop). */
void outpool_destroy(outpool *p);
void outpool_get_stats(outpool *p, outpool_stats *out);

#endif
