/* Group commit's bookkeeping: which batch of changes is open, which are
 * settled (durable, or failed and rolled back), and who commits the next
 * one. No SQLite here: the transaction runner (txn.c) pairs it with the
 * store's one open transaction, and the Check suite drives it alone.
 *
 * A batch is every change staged into the store's open transaction
 * between one commit and the next. Its changes are acknowledged only once
 * it is settled as durable; the first of its waiters that finds nobody
 * committing becomes the committer (leader-follower) and the others sleep
 * until it settles, so one commit (one WAL write, one fsync in full mode)
 * covers every change that arrived while the previous one was written.
 *
 * Locking: open, last, members and closed change under the caller's
 * domain mutex (the one that guards the store), durable, leading and the
 * failures under the group's own mutex. A batch is closed under the
 * domain mutex (committed, or rolled back) and settled then or, when its
 * fsync runs outside that mutex, right after it; under the domain mutex
 * the unsettled batches are the open one and the last one closed. Lock
 * order: the domain mutex before the group's. */
#ifndef BROKER_BATCH_H
#define BROKER_BATCH_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Failed batches remembered for their waiters. Failures are rare (each one
 * reloads the district and then refuses writes until a probe succeeds, at
 * most once a second), so a waiter would have to sleep through this many
 * of them to misread its own. */
#define BATCH_FAILED_KEEP 64

typedef struct batches {
    pthread_mutex_t mu;
    pthread_cond_t settled_cv;
    /* Under the domain mutex. */
    uint64_t open;    /* the batch taking changes; 0: none */
    uint64_t last;    /* the last batch opened */
    uint64_t members; /* changes staged into the open batch */
    uint64_t closed;  /* the last batch closed (committed or not yet synced) */
    /* Under mu. A batch is settled once durable (every batch up to
     * durable that did not fail is) or failed. */
    uint64_t durable;
    bool leading; /* a waiter is committing */
    uint64_t failed[BATCH_FAILED_KEEP];
    size_t nfailed; /* failures recorded (the ring keeps the last ones) */
    uint64_t commits, changes; /* durable batches, and the changes in them */
    /* Writers on their way to the domain mutex (atomics): a new committer
     * lets those already queued stage first, so they share its commit
     * instead of each waiting for one of their own. */
    uint64_t arriving, passed;
    uint64_t lead_target;     /* under mu: passes the committer waits for */
    pthread_cond_t leader_cv; /* the committer's wait for them */
} batches;

int batch_init(batches *g);
void batch_destroy(batches *g);

/* Caller holds the domain mutex. The open batch's number, opening one
 * when none is (the caller then begins the store's transaction). */
uint64_t batch_open(batches *g, bool *opened);
/* One more change staged into the open batch. */
void batch_member(batches *g);
/* A batch is open: the store's transaction is. */
bool batch_is_open(const batches *g);
/* The batch a reply that read the state waits for: the open one, else
 * the last one committed (it may still be syncing); 0: none. */
uint64_t batch_pending(const batches *g);
/* The open batch was committed (ok) or rolled back: it is settled, its
 * waiters wake, and no batch is open. Returns its number (0: none was
 * open). Caller holds the domain mutex. */
uint64_t batch_settle(batches *g, bool ok);
/* batch_settle in two steps, for a commit made durable outside the domain
 * mutex (an fsync): batch_close under it (the next change opens a new
 * batch; returns the closed one's number and its members), batch_done
 * once the outcome is known, with or without it. A later batch's success
 * settles the earlier ones too (its fsync covered them); a failure settles
 * only its own. */
uint64_t batch_close(batches *g, uint64_t *members);
void batch_done(batches *g, uint64_t n, uint64_t members, bool ok);

/* A writer about to wait for the domain mutex (batch_arrive), and having
 * got it (batch_passed). Only a hint for the committer: a writer that
 * does not say so is simply not waited for. */
void batch_arrive(batches *g);
void batch_passed(batches *g);

/* Waits until batch n is settled. The waiter that finds nobody committing
 * becomes the committer: it first waits until the writers that were
 * queued for the domain mutex have passed it (they stage into batch n
 * meanwhile), then calls commit(arg), which must take the domain mutex
 * and settle whatever batch is open (n, unless someone settled it
 * meanwhile). True when n is durable (and for n == 0), false when it
 * failed. Caller holds no lock. */
bool batch_wait(batches *g, uint64_t n, void (*commit)(void *arg), void *arg);

/* The counters, read together. */
void batch_counts(batches *g, uint64_t *commits, uint64_t *changes);

#endif
