/* POST /v1/jobs/{id}/results: the FCFS arbiter at the job's owner broker.
 * The rule itself is libcoord's arbiter_decide; this file gives it the
 * job's attempts, records an acceptance durably before answering, and has
 * every other holder told to stop. Decisions are group-committed
 * (txn_stage): concurrent reports share one commit, and each answer waits
 * for the batch holding its decision (and the winner it names). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "core.h"
#include "handlers.h"
#include "jobs.h"
#include "txn.h"
#include "views.h"

struct result_req {
    char unit_id[COORD_ID_MAX + 1];
    int64_t attempt;
    char outcome[COORD_ID_MAX + 1];
    json_t *data;
    vclock clock;
    bool has_clock;
};

static const field_spec result_fields[] = {
    {"unit_id", FT_ID, offsetof(struct result_req, unit_id), true, 0, 0, NULL, 0},
    {"attempt", FT_INT, offsetof(struct result_req, attempt), true, 1, 1000000, NULL, 0},
    {"outcome", FT_ID, offsetof(struct result_req, outcome), true, 0, 0, NULL, 0},
    {"data", FT_OBJECT, offsetof(struct result_req, data), false, 0, BROKER_JSON_FIELD_MAX, NULL,
     0},
    {"vclock", FT_VCLOCK, offsetof(struct result_req, clock), false, 0, 0, NULL,
     offsetof(struct result_req, has_clock)},
    FIELD_END,
};

/* Digest of what makes two reports "the same content". */
static uint64_t content_digest(const char *outcome, const char *data)
{
    size_t lo = strlen(outcome), ld = strlen(data);
    char *buf = malloc(lo + ld + 2);
    uint64_t d;

    if (!buf)
        return 0;
    memcpy(buf, outcome, lo);
    buf[lo] = '\n';
    memcpy(buf + lo + 1, data, ld + 1);
    d = coord_digest(buf, lo + ld + 1);
    free(buf);
    return d;
}

/* What a decision's reply shows of the state, copied under the mutex so
 * that the reply is built after it is released (and after the decision is
 * durable): the accepted result and the clock. Only the job's view, which
 * would need the whole job copied, is still built under the mutex. */
struct reply_snap {
    result res;
    vclock clock;
    json_t *job; /* the job's view, or NULL when the reply has none */
};

/* Caller holds mu. False when out of memory. */
static bool snap_take(struct reply_snap *sn, const broker *b, const result *r, json_t *job_view)
{
    sn->res = *r;
    sn->res.data = strdup(r->data ? r->data : "{}");
    sn->clock.n = b->clock.n;
    memcpy(sn->clock.e, b->clock.e, b->clock.n * sizeof(b->clock.e[0]));
    sn->job = job_view;
    return sn->res.data != NULL;
}

static void snap_release(struct reply_snap *sn)
{
    free(sn->res.data);
    json_decref(sn->job);
    sn->res.data = NULL;
    sn->job = NULL;
}

/* The reply body, without the mutex; takes the job's view. */
static json_t *snap_reply(struct reply_snap *sn, bool accepted)
{
    json_t *o = json_pack("{s:b, s:o}", "accepted", accepted, "result", view_result(&sn->res));

    if (o && sn->job)
        json_object_set(o, "job", sn->job);
    snap_release(sn);
    return view_envelope(o, &sn->clock);
}

#define ARB_INLINE 8 /* attempts arbitrated without an allocation */

/* The arbiter's verdict on sub for j; caller holds mu. assign_clock is
 * room for the answered attempt's clock. */
static int decide(const job *j, const arb_submission *sub, vclock *assign_clock,
                  arb_verdict *verdict)
{
    arb_attempt inl[ARB_INLINE], *atts = inl;
    arb_result winner = {0};

    if (j->nattempts > ARB_INLINE) {
        atts = calloc(j->nattempts, sizeof(*atts));
        if (!atts)
            return -1;
    }
    for (size_t i = 0; i < j->nattempts; i++) {
        const attempt *a = &j->attempts[i];
        /* Only the answered attempt's clock matters to the rule. */
        bool answered = a->n == sub->r.attempt && strcmp(a->unit_id, sub->r.unit_id) == 0;

        if (answered)
            cclock_unpack(&a->clock, assign_clock);
        arb_attempt_init(&atts[i], a->unit_id, a->n, a->state, answered ? assign_clock : NULL);
    }
    if (j->res) {
        snprintf(winner.unit_id, sizeof(winner.unit_id), "%s", j->res->unit_id);
        winner.attempt = j->res->attempt;
        winner.digest = j->res->digest;
    }
    *verdict = arbiter_decide(atts, j->nattempts, j->res ? &winner : NULL, sub);
    if (atts != inl)
        free(atts);
    return 0;
}

/* The first result: recorded, the job completed, every other holder told
 * to stop, and the reply built once durable. Caller holds mu; *rr is
 * taken; sn is room for the reply's snapshot. NULL, with *stored false
 * when storage failed. */
static json_t *accept(broker *b, job *j, result *rr, const arb_submission *sub,
                      struct reply_snap *sn, bool *stored)
{
    followups fu = {0};
    txn t;

    if (sub->clock)
        clock_receive(b, sub->clock);
    txn_begin(b, &t);
    txn_insert_result(&t, j, rr);
    if (state_accept_result(&b->st, j, rr, rr->at_ms, &fu) < 0) {
        /* The arbiter accepted what the state machine refuses: a bug. */
        txn_end(&t);
        service_log("error", "job %s: result accepted by the arbiter but not by the job", j->id);
        result_free(rr);
        followups_release(&fu);
        return NULL;
    }
    txn_followups(&t, &fu);
    followups_release(&fu);
    txn_put_job(&t, j);
    txn_event(&t, "result_accepted", j->id, rr->unit_id, rr->attempt,
              "outcome %s from %s attempt %u (first to arrive)", rr->outcome, rr->unit_id,
              rr->attempt);
    if (!txn_stage(&t)) {
        /* rr went with the job: memory is what the store holds again. */
        *stored = false;
        txn_end(&t);
        return NULL;
    }
    b->m.results_accepted++;
    bool snapped = snap_take(sn, b, rr, view_job(&b->st, j));
    txn_wake_dispatch(&t);
    if (!txn_end(&t)) {
        /* Its batch failed: rolled back and reloaded, never acknowledged. */
        snap_release(sn);
        pthread_mutex_lock(&b->mu);
        b->m.results_accepted--;
        pthread_mutex_unlock(&b->mu);
        *stored = false;
        return NULL;
    }
    if (!snapped) {
        snap_release(sn);
        return NULL;
    }
    return snap_reply(sn, true);
}

void h_job_results_post(api_request *req, api_response *res)
{
    broker *b = req->ctx;
    const char *job_id = path_id(req, res, "job");
    struct result_req *r;
    vclock *assign_clock;
    struct reply_snap *sn; /* two clocks: off the stack */
    arb_verdict v;
    char *data;
    json_t *body = NULL;

    if (!job_id)
        return;
    r = calloc(1, sizeof(*r));
    assign_clock = malloc(sizeof(*assign_clock));
    sn = malloc(sizeof(*sn)); /* filled by snap_take; its clocks need no zeroing */
    if (!r || !assign_clock || !sn) {
        free(r);
        free(assign_clock);
        free(sn);
        api_reply_error(res, API_E_UNAVAILABLE, "out of memory");
        return;
    }
    if (!parse_body(req, res, result_fields, r))
        goto out;
    /* Within BROKER_JSON_FIELD_MAX: the parser measured it. */
    data = r->data ? json_canonical(r->data) : strdup("{}");
    if (!data) {
        api_reply_error(res, API_E_UNAVAILABLE, "out of memory");
        goto out;
    }
    arb_submission sub = {0};
    snprintf(sub.r.unit_id, sizeof(sub.r.unit_id), "%s", r->unit_id);
    sub.r.attempt = (uint32_t)r->attempt;
    sub.r.digest = content_digest(r->outcome, data);
    sub.clock = r->has_clock ? &r->clock : NULL;

    txn_lock(b);
    job *j = state_job(&b->st, job_id);
    if (!j) {
        pthread_mutex_unlock(&b->mu);
        free(data);
        api_reply_error(res, API_E_NOT_FOUND,
                        "no job %s here: results go to the job's owner broker", job_id);
        goto out;
    }
    if (j->status == JOB_CANCELLED) {
        json_t *extra = view_envelope(json_pack("{s:b}", "accepted", 0), &b->clock);

        pthread_mutex_unlock(&b->mu);
        free(data);
        api_reply_error_extra(res, API_E_CONFLICT, extra, "job %s was cancelled", job_id);
        goto out;
    }
    if (decide(j, &sub, assign_clock, &v) < 0) {
        pthread_mutex_unlock(&b->mu);
        free(data);
        api_reply_error(res, API_E_UNAVAILABLE, "out of memory");
        goto out;
    }
    if ((v == ARB_ACCEPT || v == ARB_REJECT) && !store_ok_or_503(req, res)) {
        free(data);
        goto out;
    }
    switch (v) {
    case ARB_ACCEPT: {
        result *rr = calloc(1, sizeof(*rr));
        bool stored = true;

        if (!rr) {
            pthread_mutex_unlock(&b->mu);
            free(data);
            api_reply_error(res, API_E_UNAVAILABLE, "out of memory");
            goto out;
        }
        snprintf(rr->unit_id, sizeof(rr->unit_id), "%s", r->unit_id);
        rr->attempt = sub.r.attempt;
        snprintf(rr->outcome, sizeof(rr->outcome), "%s", r->outcome);
        rr->data = data;
        rr->digest = sub.r.digest;
        rr->at_ms = coord_now_wall_ms();
        body = accept(b, j, rr, &sub, sn, &stored); /* unlocks */
        if (!body && !stored) {
            reply_storage_failed(req, res);
            goto out;
        }
        if (!body) {
            api_reply_error(res, API_E_INTERNAL, "job %s cannot take a result", job_id);
            goto out;
        }
        api_reply_json(res, 201, body);
        goto out;
    }
    case ARB_RETRY: {
        b->m.results_retried++;
        bool snapped = snap_take(sn, b, j->res, view_job(&b->st, j));
        /* The winner it repeats may still be on its way to the disk. */
        if (!read_done_or_503(req, res, NULL)) {
            snap_release(sn);
            break;
        }
        if (!snapped) {
            snap_release(sn);
            api_reply_error(res, API_E_UNAVAILABLE, "out of memory");
            break;
        }
        api_reply_json(res, 200, snap_reply(sn, true));
        break;
    }
    case ARB_REJECT: {
        const api_identity *who = api_caller(req);
        char by[COORD_ID_MAX + 32] = "";
        txn t;

        /* Both reports may name the same unit and attempt (its crew's and a
         * dispatcher's for it): the outcomes and the sender tell them apart. */
        if (who->role != API_ROLE_NONE)
            snprintf(by, sizeof(by), " (sent by %s%s%s)", api_role_name(who->role),
                     who->subject[0] ? ":" : "", who->subject);
        b->m.results_rejected++;
        txn_begin(b, &t);
        txn_event(&t, "result_rejected", j->id, r->unit_id, (uint32_t)r->attempt,
                  "outcome %s from %s attempt %u%s rejected: outcome %s from %s attempt %u was "
                  "first",
                  r->outcome, r->unit_id, (unsigned)r->attempt, by, j->res->outcome,
                  j->res->unit_id, j->res->attempt);
        if (!stage_or_503(&t, req, res))
            break;
        bool snapped = snap_take(sn, b, j->res, NULL);
        /* The rejection and the winner it names are durable first (the
         * winner's batch is this one or an earlier one). */
        if (!txn_end(&t) || !snapped) {
            snap_release(sn);
            reply_storage_failed(req, res);
            break;
        }
        api_reply_error_extra(res, API_E_DUPLICATE_RESULT, snap_reply(sn, false),
                              "job %s already has an accepted result", job_id);
        break;
    }
    case ARB_FORBIDDEN:
        b->m.results_forbidden++;
        pthread_mutex_unlock(&b->mu);
        api_reply_error(res, API_E_FORBIDDEN, "unit %s never held an attempt of job %s", r->unit_id,
                        job_id);
        break;
    case ARB_BAD_ATTEMPT:
        b->m.results_forbidden++;
        pthread_mutex_unlock(&b->mu);
        api_reply_error(res, API_E_FORBIDDEN, "unit %s did not hold attempt %u of job %s",
                        r->unit_id, (unsigned)r->attempt, job_id);
        break;
    case ARB_CAUSALITY:
        b->m.results_forbidden++;
        pthread_mutex_unlock(&b->mu);
        api_reply_error(res, API_E_CAUSALITY,
                        "the result's vclock does not follow the clock of attempt %u's assignment",
                        (unsigned)r->attempt);
        break;
    }
    free(data);
out:
    free(sn);
    free(assign_clock);
    free(r);
}
