/* THE transaction runner: every change of the broker's state goes through
 * one. Under the domain mutex:
 *
 *     txn t;
 *     pthread_mutex_lock(&b->mu);
 *     txn_begin(b, &t);
 *     ... change the state (transitions.h) ...
 *     txn_put_job(&t, j);                    records what changed
 *     txn_event(&t, "job_assigned", ...);    ticks the clock, stamps, stores
 *     txn_revoke(&t, url, job, n);           effects, fired after commit
 *     if (!txn_commit(&t)) ...               fails in this one place: 503
 *     ... build the reply from the state ...
 *     txn_end(&t);                           unlocks, then fires the effects
 *
 * The store transaction opens at the first write, so a change that stores
 * nothing (a load change peers should see) costs no I/O. The first store
 * failure is sticky: later writes are skipped and the commit fails.
 *
 * A failed commit (a full disk, an I/O error) is decided here, once: the
 * store's transaction is rolled back, the district in memory is reloaded
 * from what the store holds (restore_reload: memory is never ahead of the
 * disk), and storage is "failing": every later write is refused without
 * touching the store until a probe write succeeds, at most every
 * TXN_PROBE_MS (txn_store_ok). The caller answers 503 (nothing was
 * acknowledged) or ends its round; whoever changes state checks
 * txn_store_ok first, so a failing store costs no reload per request and no
 * thread spins on it. Only when the store cannot be read back either does
 * the process stop. Effects (log lines of the events, revocations and
 * releases, waking dispatch, telling peers of the change) happen only
 * after a successful commit, and after the mutex is released; the
 * on-abort ones only after a failed commit. */
#ifndef BROKER_TXN_H
#define BROKER_TXN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core.h"
#include "service.h"
#include "jobs.h"
#include "units.h"

/* How often a failing store is probed. */
#define TXN_PROBE_MS 1000

typedef struct txn_msgs {
    outbox_msg *v;
    size_t n, alloc;
} txn_msgs;

typedef struct txn {
    broker *b;
    bool opened;    /* the store transaction began */
    bool failed;    /* a store write failed (or was refused): no commit */
    bool committed; /* txn_commit succeeded */
    bool wake_dispatch, signal_peers;
    uint64_t version0; /* the change list's urgent version at begin (state.h) */
    /* "level\tline\n" lines, written after unlock: the first few in place
     * (a transaction usually logs one event), the rest on the heap. */
    char log[2048];
    size_t loglen;
    strbuf more;
    txn_msgs msgs;     /* sent after a commit */
    txn_msgs on_abort; /* sent after a failed one */
    followups parked;  /* releases for peers not known yet: parked at commit */
} txn;

/* Caller holds b->mu. */
void txn_begin(broker *b, txn *t);

/* True when storage takes writes: it is not failing, or a probe write (at
 * most every TXN_PROBE_MS) just showed it works again, which also wakes
 * dispatch. Whoever is about to change state checks it first and, when
 * false, refuses (503) or skips its round. Caller holds b->mu. */
bool txn_store_ok(broker *b);

/* Records through the store; each also moves the record in the change
 * list, so peers see it. */
void txn_put_unit(txn *t, unit *u);
void txn_put_job(txn *t, job *j);
void txn_insert_result(txn *t, const job *j, const result *r);
void txn_put_meta(txn *t, const char *key, const char *value);
void txn_put_claim(txn *t, const char *unit_id, const char *job_id, uint32_t attempt_no,
                   const char *owner);
void txn_del_claim(txn *t, const char *unit_id, const char *job_id);
void txn_put_remote(txn *t, char kind, const char *id, const char *owner, const char *obj,
                    uint64_t fetched_ms);
void txn_del_remote(txn *t, char kind, const char *id);

/* An event at this node: ticks the clock, stamps the event with the clock
 * after it, stores it, moves the unit and job it names in the change list
 * and logs it (after unlock). */
void txn_event(txn *t, const char *type, const char *job_id, const char *unit_id,
               uint32_t attempt_no, const char *fmt, ...) __attribute__((format(printf, 6, 7)));
/* What was taken back from unit_id (it was lost, or its terminal no
 * longer holds it; why says which): each own job's revoked attempt is
 * stored with a job_requeued event, each dropped claim goes with a
 * claim_dropped event. */
void txn_taken_back(txn *t, const char *unit_id, const lost_items *items, const char *why);
/* A log line written after unlock (and only after a commit). */
void txn_log(txn *t, const char *level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Effects after commit. */
void txn_revoke(txn *t, const char *url, const char *job_id, uint32_t attempt_no);
void txn_release(txn *t, const char *home_url, const char *unit_id, const char *job_id,
                 uint32_t attempt_no, const char *reason);
/* The same, sent only when the commit fails: a unit (or a home broker)
 * took an assignment this transaction was to record; unrecorded, it must
 * be told to stop. */
void txn_revoke_on_abort(txn *t, const char *url, const char *job_id, uint32_t attempt_no);
void txn_release_on_abort(txn *t, const char *home_url, const char *unit_id, const char *job_id,
                          uint32_t attempt_no);
/* The messages a state change asked for; a release goes to the home
 * broker's URL from the peer table, and waits there for it when the peer
 * is not known yet (peertab_park). */
void txn_followups(txn *t, const followups *fu);
void txn_wake_dispatch(txn *t);
/* Peers re-read their schedule (changes to the change list signal them
 * without this). */
void txn_signal_peers(txn *t);

/* Commits what was written: true, or false when storage failed (see the
 * top): memory was reloaded from the store, so every pointer into the state
 * taken before is stale, and nothing of the change was acknowledged. */
bool txn_commit(txn *t) __attribute__((warn_unused_result));
/* txn_commit for a round that keeps no pointer into the state past it (a
 * background thread's): a failure drops the change and is the runner's to
 * handle. */
void txn_commit_or_drop(txn *t);
/* Releases b->mu, then fires the effects of a committed transaction (an
 * uncommitted one is rolled back, its effects dropped and its on-abort
 * messages sent). */
void txn_end(txn *t);

#endif
