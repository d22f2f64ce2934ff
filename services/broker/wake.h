/* A wake-up channel for one purpose (dispatch, peer schedule, stop): a
 * condition variable on CLOCK_MONOTONIC, so waits are immune to the wall
 * clock being set, with a generation counter, so a signal sent while the
 * waiter was busy is not lost and a broadcast reaches every waiter.
 *
 * Signals coalesce: one sent while an earlier one has not yet been taken
 * by a waiter (a burst of commits while the drain thread is mid-pass) costs
 * one atomic exchange, no lock and no broadcast, and all of them together
 * end one wait. The counters make that visible (/metrics). */
#ifndef BROKER_WAKE_H
#define BROKER_WAKE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#define WAKE_FOREVER UINT64_MAX

typedef struct wake {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    uint64_t gen;
    bool stopping;
    atomic_bool pending;       /* a signal not yet taken by a wait */
    atomic_uint_fast64_t sent; /* wake_signal calls */
    uint64_t woke;             /* signals that started a generation (under mu) */
} wake;

typedef struct wake_stats {
    uint64_t signals; /* asked for */
    uint64_t wakeups; /* generations they started: the rest were coalesced */
} wake_stats;

int wake_init(wake *w);
void wake_destroy(wake *w);
/* Wakes every waiter. Never blocks for long: safe under any other lock. */
void wake_signal(wake *w);
/* Wakes every waiter for good: every wait returns false from now on. */
void wake_stop(wake *w);
bool wake_stopping(wake *w);
/* The generation to pass to the first wake_wait. */
uint64_t wake_gen(wake *w);
/* Waits until a signal after generation *seen, a stop, or ms (WAKE_FOREVER:
 * no limit); *seen becomes the current generation. False when stopping. */
bool wake_wait(wake *w, uint64_t *seen, uint64_t ms);
void wake_get_stats(wake *w, wake_stats *out);
/* Waits ms unless stopped first (signals do not end it). False when
 * stopping. */
bool wake_sleep(wake *w, uint64_t ms);

/* ms +- 25%, so that threads on the same schedule spread out. */
uint64_t wake_jitter(uint64_t ms);

#endif
