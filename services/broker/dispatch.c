/* Dispatch (see dispatch.h): local units, mutual aid, preemption and the
 * drain thread. */
#include "dispatch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "emergency.h"
#include "http_client.h"
#include "jobs.h"
#include "leader_client.h"
#include "peers.h"
#include "txn.h"
#include "views.h"

/* Units one dispatch tries before it leaves the job to the retry timer: a
 * unit that failed is skipped until its backoff passes, so later rounds
 * reach the ones behind it. */
#define DISPATCH_MAX_TRIES 64
#define DRAIN_BATCH        1024
/* The queue is tried again after a round that left jobs waiting, sooner
 * when a demoted unit's backoff ends: never only on an unrelated event. */
#define RETRY_MIN_MS 250
#define RETRY_MAX_MS 4000
#define PROBE_BATCH  8 /* failing terminals probed per round */

static const http_opts assign_opts = {
    .connect_timeout_ms = 500,
    .timeout_ms = 2000,
    .retries = 0,
};

/* A terminal already failing gets a short wait: one that accepts and never
 * answers costs this once per backoff, not the full timeout per job. */
static const http_opts assign_failing_opts = {
    .connect_timeout_ms = 200,
    .timeout_ms = 300,
    .retries = 0,
};

static const http_opts probe_opts = {
    .connect_timeout_ms = 200,
    .timeout_ms = 300,
    .retries = 0,
};

static const http_opts preempt_opts = {
    .connect_timeout_ms = 500,
    .timeout_ms = 1500,
    .retries = 1,
    .backoff_ms = 100,
};

void dispatch_request_drain(broker *b)
{
    wake_signal(&b->drain);
}

void dispatch_revocation_delivered(void *arg, const outbox_msg *m)
{
    broker *b = arg;

    pthread_mutex_lock(&b->mu);
    state_mark_notified(&b->st, m->job_id, m->attempt);
    pthread_mutex_unlock(&b->mu);
}

/* One attempt's outcome at the executor or the home broker. */
struct call {
    int rc;
    long http_status;
    bool ok;      /* taken: 200 or 201 */
    bool refused; /* surely not taken: a 4xx, or a request that never left */
};

static void do_call_with(const char *url, const json_t *body, const http_opts *o, http_reply *rep,
                         struct call *c)
{
    c->rc = http_json("POST", url, body, o, rep);
    c->http_status = rep->status;
    c->ok = c->rc == 0 && (rep->status == 201 || rep->status == 200);
    c->refused = c->rc == 0 ? rep->status >= 400 && rep->status < 500 : !rep->sent;
}

static void do_call(const char *url, const json_t *body, http_reply *rep, struct call *c)
{
    do_call_with(url, body, &assign_opts, rep, c);
}

/* A claim at a home district with standbys: to its leader (peers.c's set
 * for it); a redirect refused or one too many never reached the leader. */
static void do_call_peer(struct leader_set *set, const char *url, const char *path,
                         const json_t *body, http_reply *rep, struct call *c)
{
    const leader_call_opts o = {.http = assign_opts};

    if (!set) {
        do_call(url, body, rep, c);
        return;
    }
    c->rc = leader_call(set, "POST", path, body, &o, rep, NULL, 0);
    c->http_status = rep->status;
    c->ok = c->rc == 0 && (rep->status == 201 || rep->status == 200);
    c->refused = rep->status ? (rep->status >= 300 && rep->status < 500) : !rep->sent;
}

/* Attempt n's line had a unit before (a redeployment), rather than
 * another unit of a multi-unit incident's response. */
static bool line_had_unit(const job *j, uint32_t n)
{
    const attempt *a = job_attempt(j, n);

    if (!j->nlines)
        return n > 1;
    for (size_t i = 0; a && i < j->nattempts; i++)
        if (j->attempts[i].n < n && j->attempts[i].line == a->line &&
            j->attempts[i].state == ATT_REVOKED)
            return true;
    return false;
}

/* The attempt was taken; caller holds mu inside t. */
static void confirmed(broker *b, txn *t, job *j, uint32_t n, const char *unit_id, const char *kind,
                      const char *how)
{
    if (state_confirm(&b->st, j, n, coord_now_wall_ms()) < 0) {
        txn_log(t, "error", "job %s attempt %u: not a pending attempt of a queued job", j->id, n);
        return;
    }
    bool again = line_had_unit(j, n);
    b->m.jobs_assigned++;
    if (again)
        b->m.jobs_redeployed++;
    txn_put_job(t, j);
    const attempt *a = job_attempt(j, n);
    char why[RANK_REASON_MAX];
    rank_reason_text(a ? &a->why : NULL, why, sizeof(why));
    txn_event(t, again ? "job_redeployed" : "job_assigned", j->id, unit_id, n,
              "assigned to %s (%s) as attempt %u%s%s%s", unit_id, kind, n, how, why[0] ? "; " : "",
              why);
    /* The clock after the settle: a heartbeat that has seen it was written
     * after the terminal took the job (units.h, the second way). */
    unit *u = a && attempt_is_local(&b->st, a) ? state_unit(&b->st, unit_id) : NULL;
    if (u)
        unit_stamp_settled(u, j->id, n, vclock_get(&b->clock, b->cfg.id));
}

/* Not taken, or taken too late to use; caller holds mu inside t. */
static void not_taken(broker *b, txn *t, const struct call *c)
{
    (void)t;
    if (c->rc == 0 && c->http_status == 409)
        b->m.assign_refused++;
    else if (!c->ok)
        b->m.assign_errors++;
}

/* Attempt n of j may have landed (or landed too late): kept revoked, and
 * the holder told to let go; caller holds mu inside t. */
static void abandon(broker *b, txn *t, job *j, uint32_t n, const char *unit_id, const char *why)
{
    followups fu = {0};

    if (state_abandon(&b->st, j, n, &fu) < 0) {
        txn_log(t, "error", "job %s attempt %u: not a pending attempt", j->id, n);
        return;
    }
    b->m.assign_abandoned++;
    txn_followups(t, &fu);
    followups_release(&fu);
    txn_put_job(t, j);
    txn_event(t, "assignment_abandoned", j->id, unit_id, n,
              "attempt %u on %s abandoned (%s): it may have landed, so its number is not "
              "used again",
              n, unit_id, why);
}

/* Why a call that was not a definite refusal left its attempt unknown. */
static const char *unknown_outcome(const struct call *c)
{
    return c->ok ? "taken too late" : c->rc ? "no answer" : "server error";
}

/* Dispatch's view of the terminal after a call; caller holds mu inside t. */
static void reach_after_call(broker *b, txn *t, unit *u, const struct call *c)
{
    bool was_unreachable = reach_unreachable(&u->reach);

    if (u->calls)
        u->calls--;
    if (c->rc == 0) {
        if (u->reach.failures)
            txn_log(t, "info", "unit %s answers again at %s", u->id, u->url);
        state_unit_answered(&b->st, u);
        if (c->http_status >= 400 && c->http_status < 500)
            state_unit_refused(u); /* not again before its heartbeat */
        return;
    }
    if (!u->reach.failures)
        txn_wake_dispatch(t); /* the drain's timer must cover its backoff */
    state_unit_call_failed(&b->st, u, coord_now_mono_ms());
    if (!was_unreachable && reach_unreachable(&u->reach))
        txn_log(t, "warn", "unit %s unreachable at %s after %u failed calls: no work until it "
                           "answers a probe or registers again",
                u->id, u->url, u->reach.failures);
}

/* A claim's answer may arrive after a pull showed the claim gone at the
 * home (the unit lost, or back without it): the attempt is then revoked at
 * once and the job queued again, never left ACTIVE on a unit its home no
 * longer lends us. Only a copy newer than the answer counts (model rule
 * F3C at the settle): a snapshot older than the claim's commit would
 * revoke good claims, which is why the model dropped the unversioned F4.
 * Only a copy of the incarnation that answered can be ordered against the
 * answer. Caller holds mu inside t; true when the attempt stands. */
static bool settle_borrowed(broker *b, txn *t, job *j, uint32_t n, const char *home,
                            const char *home_url, const json_t *claim, uint32_t egen)
{
    attempt *a = job_attempt(j, n);
    const json_t *v = json_object_get(claim, "version");
    const runit *cu;

    if (!a || a->state != ATT_ACTIVE)
        return false;
    state_claim_answered(
        j, n, json_is_integer(v) && json_integer_value(v) > 0 ? (uint64_t)json_integer_value(v) : 0,
        egen);
    cu = remote_unit(&b->rem, a->unit_id);
    if (!cu || strcmp(cu->from, home) != 0 || !egen || cu->egen != egen ||
        !remote_claim_gone(cu, b->cfg.id, j->id, a))
        return true;
    (void)state_requeue(&b->st, j, a, coord_now_wall_ms(), "redeployed");
    txn_put_job(t, j);
    txn_event(t, "job_requeued", j->id, a->unit_id, n,
              "claim on %s at %s gone before its answer arrived: attempt %u revoked", a->unit_id,
              home, n);
    /* Should the home still hold it after all. */
    txn_release(t, home_url, a->unit_id, j->id, n, "revoked");
    return false;
}

/* Mutual aid: claims unit_id at its home broker. Called with mu held;
 * returns with it released. */
static bool dispatch_remote(broker *b, const char *job_id, uint32_t line, const char *unit_id,
                            const char *home, const rank_reason *why, bool owned)
{
    job *j = state_job(&b->st, job_id);
    const peer *p = peertab_get(&b->peers, home);
    char url[BROKER_URL_MAX + 128], home_url[BROKER_URL_MAX], path[COORD_ID_MAX + 32];
    struct leader_set *home_set = NULL;
    uint32_t n = 0;
    json_t *body = NULL;
    http_reply rep;
    struct call c;
    txn t;

    /* The claim is a send event: tick, and give the home the clock. */
    (void)clock_tick(b);
    if (!p || state_reserve_line(&b->st, j, line, NULL, unit_id, home, &b->clock,
                                 coord_now_wall_ms(), &n) < 0) {
        pthread_mutex_unlock(&b->mu);
        return false;
    }
    job_attempt(j, n)->why = *why;
    body = view_assignment(view_job_assigned(&b->st, j, n), n, b->cfg.id, b->self_url, &b->clock);
    snprintf(home_url, sizeof(home_url), "%s", p->url);
    snprintf(path, sizeof(path), "/v1/units/%s/claim", unit_id);
    snprintf(url, sizeof(url), "%s%s", home_url, path);
    home_set = peers_set_locked(b, home);
    pthread_mutex_unlock(&b->mu);

    do_call_peer(home_set, url, path, body, &rep, &c);
    json_decref(body);

    pthread_mutex_lock(&b->mu);
    txn_begin(b, &t);
    j = state_job(&b->st, job_id);
    j->dispatching = owned;
    const json_t *claim = c.ok && rep.body ? json_object_get(rep.body, "claim") : NULL;
    uint32_t egen = peer_egen_of(peertab_get(&b->peers, home),
                                 json_string_value(json_object_get(claim, "epoch")));
    json_t *ucopy = rep.body ? json_object_get(rep.body, "unit") : NULL;
    runit fresh;
    if (remote_unit(&b->rem, unit_id) && json_is_object(ucopy) &&
        view_parse_unit(ucopy, b->st.strings, home, 0, 0, &fresh) == 0) {
        fresh.egen = egen;
        remote_refresh_unit(&b->rem, &fresh, coord_now_wall_ms()); /* when it is newer */
    }
    if (c.rc == 0 && c.http_status == 409)
        remote_mark_busy(&b->rem, unit_id);
    if (c.ok && rep.body)
        clock_receive_json(b, json_object_get(rep.body, "vclock"));
    bool assigned = c.ok && job_takes_units(j) && job_attempt(j, n);
    if (assigned) {
        char how[160];

        snprintf(how, sizeof(how), " (mutual aid from %s)", home);
        confirmed(b, &t, j, n, unit_id, "borrowed", how);
        txn_release_on_abort(&t, home_url, unit_id, job_id, n); /* reserved there, unrecorded */
        assigned = settle_borrowed(b, &t, j, n, home, home_url, claim, egen);
    } else {
        if (c.refused) {
            /* The home surely reserved nothing: the number is free again. */
            state_drop_pending(&b->st, j, n);
        } else {
            /* Its terminal may hold it (no answer, a 5xx or 502), or the
             * home reserved it for a job that no longer needs it: kept
             * revoked, so the next claim is a new number and its crew is
             * judged by FCFS, and released at the home (model rule F1). */
            abandon(b, &t, j, n, unit_id, unknown_outcome(&c));
            txn_release_on_abort(&t, home_url, unit_id, job_id, n);
        }
        not_taken(b, &t, &c);
    }
    http_reply_release(&rep); /* claim pointed into it */
    if (!txn_commit(&t))
        assigned = false;
    txn_end(&t);
    return assigned;
}

/* Emergency: a critical job with no free capable unit anywhere takes an
 * own unit from a low-severity job, which goes back to the queue. Called
 * with mu held; returns with it released. True when a unit was freed. */
static bool preempt(broker *b, const job *crit)
{
    preemption pre;
    char url[BROKER_URL_MAX + 160];
    txn t;
    int rc;

    txn_begin(b, &t);
    rc = state_preempt(&b->st, crit, b->emergency, coord_now_wall_ms(), &pre);
    if (rc == 1) {
        txn_put_job(&t, state_job(&b->st, pre.job_id));
        txn_event(&t, "job_preempted", pre.job_id, pre.unit_id, pre.attempt,
                  "emergency: %s taken from low-severity %s for critical %s", pre.unit_id,
                  pre.job_id, crit->id);
        snprintf(url, sizeof(url), "%s/v1/assignments/%s?attempt=%u", pre.unit_url, pre.job_id,
                 pre.attempt);
    } else if (rc < 0) {
        txn_log(&t, "error", "preemption for %s failed (%s)", crit->id, coord_strerror(rc));
    }
    bool stored = txn_commit(&t);
    txn_end(&t);
    if (rc != 1 || !stored)
        return false;
    /* Free the terminal's capacity before assigning to it: synchronous, so
     * the next try finds the unit free. */
    http_reply rep;
    http_json("DELETE", url, NULL, &preempt_opts, &rep);
    http_reply_release(&rep);
    return true;
}

enum local_outcome { LOCAL_ASSIGNED, LOCAL_NOT_TAKEN, LOCAL_NO_RESERVATION };

/* Gives the job one of our units: reserve, call, settle. Called with mu
 * held; returns with it released. */
static enum local_outcome dispatch_local(broker *b, job *j, uint32_t line, unit *u,
                                         const rank_reason *why, bool owned)
{
    char url[BROKER_URL_MAX + 32], unit_id[COORD_ID_MAX + 1], job_id[COORD_ID_MAX + 1];
    uint32_t n = 0;
    http_reply rep;
    struct call c;
    txn t;

    /* The assignment is a send event: tick, and give the unit the clock. */
    (void)clock_tick(b);
    if (state_reserve_line(&b->st, j, line, u, u->id, b->cfg.id, &b->clock, coord_now_wall_ms(),
                           &n) < 0) {
        j->dispatching = owned;
        pthread_mutex_unlock(&b->mu);
        return LOCAL_NO_RESERVATION;
    }
    job_attempt(j, n)->why = *why;
    json_t *body =
        view_assignment(view_job_assigned(&b->st, j, n), n, b->cfg.id, b->self_url, &b->clock);
    snprintf(url, sizeof(url), "%s/v1/assignments", u->url);
    snprintf(unit_id, sizeof(unit_id), "%s", u->id);
    snprintf(job_id, sizeof(job_id), "%s", j->id);
    const http_opts *o = u->reach.failures ? &assign_failing_opts : &assign_opts;
    u->calls++;
    /* On disk before it leaves (the store keeps a pending attempt as
     * abandoned): after a crash mid-call its number is still taken. Group
     * committed: txn_end returns once the batch holding it (and a fresh
     * submission's job) is durable. */
    txn_begin(b, &t);
    txn_put_job(&t, j);
    bool reserved = txn_stage(&t);
    reserved = txn_end(&t) && reserved;
    if (!reserved) {
        /* Memory was reloaded without the reservation: nothing was sent. */
        json_decref(body);
        return LOCAL_NO_RESERVATION;
    }

    do_call_with(url, body, o, &rep, &c);
    json_decref(body);
    http_reply_release(&rep);

    pthread_mutex_lock(&b->mu);
    txn_begin(b, &t);
    j = state_job(&b->st, job_id);
    u = state_unit(&b->st, unit_id);
    j->dispatching = owned;
    if (u)
        reach_after_call(b, &t, u, &c);
    bool assigned = c.ok && job_takes_units(j) && u && !unit_cond_lost(u->cond) &&
                    !unit_cond_off(u->cond) && job_attempt(j, n);
    if (assigned) {
        confirmed(b, &t, j, n, unit_id, u->kind, "");
        txn_revoke_on_abort(&t, u->url, job_id, n); /* it took it, unrecorded */
    } else if (c.refused) {
        /* It surely stored nothing (a 4xx, or the request never left):
         * the attempt leaves no trace and its number is free again. */
        state_drop_pending(&b->st, j, n);
        if (c.rc != 0)
            txn_log(&t, "warn", "assignment of %s to %s failed (not sent)", job_id, unit_id);
        not_taken(b, &t, &c);
    } else {
        /* It may hold it: timed out or reset after sending, a 5xx, or taken
         * too late to use (the job was completed by a late result, or the
         * unit was lost meanwhile). */
        abandon(b, &t, j, n, unit_id, unknown_outcome(&c));
        if (u) /* the revocation, should the abandon itself not be stored */
            txn_revoke_on_abort(&t, u->url, job_id, n);
        if (!c.ok)
            txn_log(&t, "warn", "assignment of %s to %s failed (status %ld)", job_id, unit_id,
                    c.http_status);
        not_taken(b, &t, &c);
    }
    if (!txn_stage(&t))
        assigned = false;
    if (!txn_end(&t))
        assigned = false;
    return assigned ? LOCAL_ASSIGNED : LOCAL_NOT_TAKEN;
}

/* The first line of j short of units that this round has not given up
 * on (skip: a bit per line), or -1. */
static int next_line(const job *j, uint32_t skip)
{
    for (uint32_t l = 0; l < job_nlines(j); l++)
        if (!(skip & (1u << l)) && job_line_held(j, l) < job_line_count(j, l))
            return (int)l;
    return -1;
}

static dispatch_outcome dispatch_loop(broker *b, const char *job_id, bool owned)
{
    char tried[DISPATCH_MAX_TRIES][COORD_ID_MAX + 1];
    size_t ntried = 0;
    uint32_t skip = 0; /* lines no unit was found for in this round */
    bool any = false;  /* a unit was assigned in this round */

    for (;;) {
        pthread_mutex_lock(&b->mu);
        if (!txn_store_ok(b)) {
            /* No assignment could be recorded: the job waits (the probe
             * that finds storage back wakes the drain). */
            pthread_mutex_unlock(&b->mu);
            return any ? DISPATCH_ASSIGNED : DISPATCH_QUEUED;
        }
        job *j = state_job(&b->st, job_id);
        int line = j ? next_line(j, skip) : -1;
        if (!j || (j->dispatching && !owned) || !job_wants_units(j) || line < 0) {
            pthread_mutex_unlock(&b->mu);
            return any ? DISPATCH_ASSIGNED
                   : j && job_wants_units(j) && !(j->dispatching && !owned) ? DISPATCH_QUEUED
                                                                              : DISPATCH_SKIPPED;
        }
        rank_reason why = {0};
        /* A unit is never on two lines of one incident. */
        ntried = state_job_holders(j, tried, ntried, DISPATCH_MAX_TRIES);
        unit *u = ntried < DISPATCH_MAX_TRIES
                      ? state_pick_line_unit(&b->st, j, (uint32_t)line, tried, ntried,
                                             coord_now_mono_ms(), coord_now_wall_ms(), &why)
                      : NULL;
        if (!u) {
            /* Own district first, then mutual aid, then preemption. */
            char rid[COORD_ID_MAX + 1], home[COORD_ID_MAX + 1];
            const capset *caps = job_line_caps(j, (uint32_t)line);
            if (ntried < DISPATCH_MAX_TRIES &&
                remote_pick_for(&b->rem, &b->peers, j, caps, tried, ntried, coord_now_wall_ms(),
                                b->st.max_fix_age_ms, rid, home, &why)) {
                snprintf(tried[ntried++], COORD_ID_MAX + 1, "%s", rid);
                any = dispatch_remote(b, job_id, (uint32_t)line, rid, home, &why, owned) || any;
                continue;
            }
            /* Why the line waits, for the job's view: the own district's
             * index first, the peers' copies only when it has none. */
            if (j->nlines)
                j->lines[line].why = state_line_capable(&b->st, j, (uint32_t)line) ||
                                             remote_any_capable(&b->rem, caps)
                                         ? LINE_ALL_BUSY
                                         : LINE_NO_CAPABLE_UNIT;
            if (j->sev == SEV_CRITICAL && emergency_active(b)) {
                if (preempt(b, j))
                    continue;
                return any ? DISPATCH_ASSIGNED : DISPATCH_QUEUED;
            }
            skip |= 1u << line; /* the other lines may still find one */
            if (next_line(j, skip) < 0) {
                pthread_mutex_unlock(&b->mu);
                return any ? DISPATCH_ASSIGNED : DISPATCH_QUEUED;
            }
            pthread_mutex_unlock(&b->mu);
            continue;
        }
        snprintf(tried[ntried++], COORD_ID_MAX + 1, "%s", u->id);
        if (state_yields(&b->st, j, u)) {
            /* A job ahead in the queue can use this unit: it goes first. */
            pthread_mutex_unlock(&b->mu);
            dispatch_request_drain(b);
            return any ? DISPATCH_ASSIGNED : DISPATCH_QUEUED;
        }
        switch (dispatch_local(b, j, (uint32_t)line, u, &why, owned)) {
        case LOCAL_ASSIGNED:
            any = true;
            break; /* the next unit of the incident, if it needs more */
        case LOCAL_NO_RESERVATION:
            return any ? DISPATCH_ASSIGNED : DISPATCH_QUEUED;
        case LOCAL_NOT_TAKEN:
            break; /* the next unit */
        }
    }
}

dispatch_outcome dispatch_job(broker *b, const char *job_id, bool owned)
{
    dispatch_outcome out = dispatch_loop(b, job_id, owned);

    if (owned)
        dispatch_release(b, job_id);
    return out;
}

void dispatch_release(broker *b, const char *job_id)
{
    pthread_mutex_lock(&b->mu);
    job *j = state_job(&b->st, job_id);
    bool waiting = j && job_wants_units(j);
    if (j)
        j->dispatching = false;
    pthread_mutex_unlock(&b->mu);
    /* While we held the job, the drain skipped it: let it look again. */
    if (waiting)
        dispatch_request_drain(b);
}

/* Probes failing terminals whose backoff has passed and that the round's
 * jobs did not call (a call that carries no work, so no attempt is spent
 * on a dead address). True when one answered: work can go to it now. */
static bool probe_failing(broker *b)
{
    struct {
        char id[COORD_ID_MAX + 1];
        char url[BROKER_URL_MAX + 16];
    } due[PROBE_BATCH];
    size_t n = 0, it = 0;
    const char *key;
    void *val;
    bool back = false;
    txn t;

    memset(due, 0, sizeof(due));
    pthread_mutex_lock(&b->mu);
    uint64_t now = coord_now_mono_ms();
    while (b->st.units_failing && n < PROBE_BATCH && hmap_next(b->st.units, &it, &key, &val)) {
        unit *u = val;

        if (u->calls || !reach_probe_due(&u->reach, now))
            continue;
        u->calls++;
        snprintf(due[n].id, sizeof(due[n].id), "%s", u->id);
        snprintf(due[n].url, sizeof(due[n].url), "%s/v1/health", u->url);
        n++;
    }
    pthread_mutex_unlock(&b->mu);
    for (size_t i = 0; i < n; i++) {
        http_reply rep;
        struct call c;

        c.rc = http_json("GET", due[i].url, NULL, &probe_opts, &rep);
        c.http_status = rep.status;
        c.ok = c.refused = false;
        http_reply_release(&rep);
        pthread_mutex_lock(&b->mu);
        txn_begin(b, &t);
        unit *u = state_unit(&b->st, due[i].id);
        if (u) {
            reach_after_call(b, &t, u, &c);
            u->refused = false; /* the probe's status says nothing of capacity */
            back = back || c.rc == 0;
        }
        txn_commit_or_drop(&t);
        txn_end(&t);
    }
    return back;
}

/* When the queue is to be tried again: after backoff_ms, or when the
 * first demoted terminal's backoff ends, if sooner (0: nothing waits). */
static uint64_t next_retry(broker *b, uint64_t backoff_ms)
{
    size_t it = 0;
    const char *key;
    void *val;
    uint64_t now = coord_now_mono_ms(), at = 0;

    pthread_mutex_lock(&b->mu);
    if (jobq_size(b->st.queue) || b->st.units_failing)
        at = now + backoff_ms;
    while (b->st.units_failing && hmap_next(b->st.units, &it, &key, &val)) {
        const unit *u = val;

        /* A backoff already over needs no wake-up: that unit is in the
         * rounds again (or probed in them). */
        if (u->reach.failures && u->reach.retry_at > now && u->reach.retry_at < at)
            at = u->reach.retry_at;
    }
    pthread_mutex_unlock(&b->mu);
    return at;
}

void *dispatch_drain_main(void *arg)
{
    broker *b = arg;
    jobq_item *items = calloc(DRAIN_BATCH, sizeof(*items));
    uint64_t seen = 0; /* generation 0: a drain asked for before we started runs at once */
    uint64_t backoff = RETRY_MIN_MS, retry_at = 0;

    if (!items)
        return NULL;
    for (;;) {
        uint64_t now = coord_now_mono_ms();
        uint64_t wait = !retry_at ? WAKE_FOREVER : retry_at > now ? retry_at - now : 0;
        uint64_t gen = seen;

        if (!wake_wait(&b->drain, &seen, wait))
            break;
        bool woken = seen != gen;
        size_t n, assigned = 0;

        pthread_mutex_lock(&b->mu);
        b->m.drain_passes++;
        b->m.drain_passes_woken += woken;
        n = jobq_snapshot(b->st.queue, items, DRAIN_BATCH);
        pthread_mutex_unlock(&b->mu);
        /* Priority order: a critical job gets the freed unit before a low
         * one; a job no free unit can serve does not block the ones after. */
        for (size_t i = 0; i < n && !wake_stopping(&b->drain); i++)
            assigned += dispatch_job(b, items[i].id, false) == DISPATCH_ASSIGNED;
        bool back = probe_failing(b);
        /* A full batch that made progress, or a terminal back: go on now. */
        if ((n == DRAIN_BATCH && assigned) || back)
            dispatch_request_drain(b);
        /* Jobs left waiting are tried again on a timer, each fruitless
         * round waiting longer; news (a unit free, a job assigned) starts
         * the backoff over. */
        backoff = assigned || woken ? RETRY_MIN_MS
                  : backoff * 2 > RETRY_MAX_MS ? RETRY_MAX_MS
                                               : backoff * 2;
        retry_at = next_retry(b, backoff);
    }
    free(items);
    http_client_thread_cleanup();
    return NULL;
}
