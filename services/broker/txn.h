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
 * or, grouped: if (!txn_stage(&t)) ...503; build the reply; if
 * (!txn_end(&t)) ...503 instead of it.
 *
 * The store transaction opens at the first write, so a change that stores
 * nothing (a load change peers should see) costs no I/O. The first store
 * failure is sticky: later writes are skipped and the commit fails.
 *
 * Group commit (batch.h): the store has one transaction open at a time,
 * the batch, which every change's writes join. txn_commit commits the
 * batch at once, under the mutex, with whatever others staged in it (the
 * rare paths: registrations, claims, the background threads). The hot
 * paths (results, submissions, assignments) call txn_stage instead: the
 * change stays in the open batch, and txn_end, after releasing the mutex,
 * waits until the batch is durable, the first waiter committing it for
 * all, so concurrent changes share one commit. Only then are its effects
 * fired, and txn_end says whether to answer 2xx or 503. Memory is ahead of
 * the disk until then: a reply built from state another change may have
 * staged (a GET, a 409 naming a winner in flight, a peer's pull) releases
 * the mutex with txn_read_done, which waits for the batch open when it read.
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
    bool opened;    /* writes joined the open batch (the store transaction) */
    bool failed;    /* a store write failed (or was refused): no commit */
    bool refused;   /* failed because this broker may not write (a standby) */
    bool committed; /* txn_commit or txn_stage succeeded */
    bool staged;    /* by txn_stage: durable only once its batch is */
    bool unlocked;  /* txn_unlock released b->mu */
    bool fire, signal; /* decided under the mutex, done after */
    uint64_t batch;    /* the group batch written to, or read from (0: none) */
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
/* A crew's status step (steps.h) for one of our units. */
void txn_put_step(txn *t, const char *unit_id, const char *job_id, uint32_t attempt_no,
                  const char *step, uint64_t at_ms);
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

/* Commits what was written, and all that others staged in the open
 * batch, now: true, or false when storage failed (see the top): memory
 * was reloaded from the store, so every pointer into the state taken
 * before is stale, and nothing of the change was acknowledged. */
bool txn_commit(txn *t) __attribute__((warn_unused_result));
/* txn_commit for a round that keeps no pointer into the state past it (a
 * background thread's): a failure drops the change and is the runner's to
 * handle. */
void txn_commit_or_drop(txn *t);
/* Group commit: leaves what was written in the open batch, to be committed
 * with the changes around it; txn_end waits for it. False as txn_commit
 * (a write failed: handled, memory reloaded); true does not mean durable
 * yet: the caller may build its reply, never send it before txn_end says
 * so. A staged transaction that wrote nothing still waits in txn_end for
 * the batch that was open, since what it read may be in it. */
bool txn_stage(txn *t) __attribute__((warn_unused_result));
/* Releases b->mu without ending: the change's wait and effects are left
 * to txn_end (a submission dispatches its job meanwhile, so the job and
 * its assignment share a commit). */
void txn_unlock(txn *t);
/* Releases b->mu (unless txn_unlock did), waits until a staged change is
 * durable (committing the batch if nobody is), then fires the effects of
 * a committed transaction. An uncommitted one that wrote takes its batch
 * down with it (rolled back and reloaded: its writes cannot be taken out
 * alone), its effects dropped and its on-abort messages sent. True when
 * the change is durable (the 2xx may go); false when it was not committed
 * or its batch failed (answer 503: nothing of it was acknowledged). */
bool txn_end(txn *t);

/* Takes b->mu for a change to be staged, saying so to the group commit:
 * a committer lets the writers already queued for the mutex stage first,
 * so they share its commit. */
void txn_lock(broker *b);
/* Releases b->mu after a read that changed nothing, then waits until the
 * batch open at the read is durable (at once when none was): the reply
 * may be sent when true; false when that batch failed, so the read saw
 * changes never made durable (answer 503). */
bool txn_read_done(broker *b);
/* Commits of the store and the changes they carried (the metrics). */
void txn_counts(broker *b, uint64_t *commits, uint64_t *changes);

#endif
