/* POST /v1/units/{id}/assignments/{job_id}/status: a crew's status step,
 * forwarded by its terminal to the unit's home broker. The home is the
 * authority over its units (DESIGN.md §3.2), so the steps of a borrowed
 * unit are kept here too and reach the claiming district in the unit's
 * synced copy. The rules are libcoord's unitstatus.c and steps.c; this
 * file parses, records durably with a unit_status event, and answers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"
#include "handlers.h"
#include "steps.h"
#include "txn.h"
#include "views.h"

struct step_req {
    int64_t attempt;
    int status;
    int64_t at, dispatched_at;
    bool has_at, has_dispatched_at;
};

static const field_spec step_fields[] = {
    {"attempt", FT_INT, offsetof(struct step_req, attempt), true, 1, 1000000, NULL, 0},
    {"status", FT_ENUM, offsetof(struct step_req, status), true, 0, 0, unit_step_names, 0},
    {"at", FT_INT, offsetof(struct step_req, at), false, UNIT_STEP_AT_MIN, UNIT_STEP_AT_MAX, NULL,
     offsetof(struct step_req, has_at)},
    {"dispatched_at", FT_INT, offsetof(struct step_req, dispatched_at), false, UNIT_STEP_AT_MIN,
     UNIT_STEP_AT_MAX, NULL, offsetof(struct step_req, has_dispatched_at)},
    FIELD_END,
};

/* {"unit_id", "crew_status", "vclock"}; caller holds mu. */
static json_t *step_body(broker *b, const char *unit_id, const char *job_id, uint32_t n)
{
    const step_rec *r = state_steps(&b->st, unit_id, job_id, n);

    return view_envelope(
        json_pack("{s:s, s:o}", "unit_id", unit_id, "crew_status", view_crew_status(r, job_id, n)),
        &b->clock);
}

/* Every step the record holds (INSERT OR REPLACE: the first one also
 * brings the dispatch time). */
static void put_steps(txn *t, const char *unit_id, const char *job_id, uint32_t n,
                      const step_rec *r)
{
    for (int i = 0; r && i < UST_NSTEPS; i++)
        if (r->at[i])
            txn_put_step(t, unit_id, job_id, n, unit_step_str((unit_step)i), r->at[i]);
}

void h_unit_status_post(api_request *req, api_response *res)
{
    broker *b = req->ctx;
    const char *unit_id = path_id(req, res, "unit");
    const char *job_id = req->nparams > 1 ? req->params[1] : NULL;
    struct step_req r = {0};
    followups fu = {0};
    step_outcome o;
    unit_step to;
    json_t *body;
    job *j;
    unit *u;
    uint32_t n;
    uint64_t at;
    int rc;
    txn t;

    if (!unit_id)
        return;
    if (!coord_id_valid(job_id)) {
        api_reply_error(res, API_E_INVALID_ID, "job id is not a valid id");
        return;
    }
    if (!parse_body(req, res, step_fields, &r))
        return;
    to = (unit_step)r.status;
    n = (uint32_t)r.attempt;
    at = r.has_at ? (uint64_t)r.at : coord_now_wall_ms();

    pthread_mutex_lock(&b->mu);
    u = state_unit(&b->st, unit_id);
    if (!u) {
        pthread_mutex_unlock(&b->mu);
        api_reply_error(res, API_E_NOT_FOUND,
                        "unit %s is not registered here: steps go to the unit's home broker",
                        unit_id);
        return;
    }
    if (!store_ok_or_503(req, res))
        return;
    rc = state_record_step(&b->st, u, job_id, n, to, at,
                           r.has_dispatched_at ? (uint64_t)r.dispatched_at : 0, coord_now_wall_ms(),
                           &o, &fu, &j);
    if (rc != COORD_OK)
        b->m.steps_refused += rc != COORD_E_RANGE && rc != COORD_E_NOMEM;
    switch (rc) {
    case COORD_OK:
        break;
    case COORD_E_ATTEMPT:
        pthread_mutex_unlock(&b->mu);
        api_reply_error(res, API_E_CONFLICT, "unit %s holds no attempt %u of job %s", unit_id,
                        (unsigned)n, job_id);
        return;
    case COORD_E_RANGE:
        pthread_mutex_unlock(&b->mu);
        (void)api_response_add_header(res, "Retry-After", "1");
        api_reply_error(res, API_E_UNAVAILABLE,
                        "attempt %u of job %s is still being assigned to unit %s: retry",
                        (unsigned)n, job_id, unit_id);
        return;
    case COORD_E_TRANSITION:
        pthread_mutex_unlock(&b->mu);
        if (o.ended)
            api_reply_error(res, API_E_ILLEGAL_STEP,
                            "unit %s: attempt %u of job %s has ended (now %s): only "
                            "cleared may follow, not %s",
                            unit_id, (unsigned)n, job_id, unit_step_str(o.from),
                            unit_step_names[to]);
        else
            api_reply_error(res, API_E_ILLEGAL_STEP,
                            "unit %s on job %s attempt %u is %s: %s cannot follow it", unit_id,
                            job_id, (unsigned)n, unit_step_str(o.from), unit_step_names[to]);
        return;
    default:
        pthread_mutex_unlock(&b->mu);
        api_reply_error(res, API_E_UNAVAILABLE, "out of memory");
        return;
    }
    if (o.retry) {
        body = step_body(b, unit_id, job_id, n);
        pthread_mutex_unlock(&b->mu);
        api_reply_json(res, 200, body);
        return;
    }
    txn_begin(b, &t);
    put_steps(&t, unit_id, job_id, n, state_steps(&b->st, unit_id, job_id, n));
    if (j)
        txn_put_job(&t, j); /* its attempt ended when cleared freed the unit */
    txn_followups(&t, &fu);
    followups_release(&fu);
    txn_event(&t, "unit_status", job_id, unit_id, n, "unit %s %s -> %s on job %s attempt %u%s%s",
              unit_id, unit_step_str(o.from), unit_step_names[to], job_id, (unsigned)n,
              o.foreign ? " (borrowed)" : "", o.freed ? ": unit released" : "");
    if (!commit_or_503(&t, req, res))
        return;
    b->m.steps_recorded++;
    if (o.turnout_ms >= 0)
        step_hist_observe(&b->m.turnout, (double)o.turnout_ms / 1000.0);
    if (o.travel_ms >= 0)
        step_hist_observe(&b->m.travel, (double)o.travel_ms / 1000.0);
    if (o.freed)
        txn_wake_dispatch(&t);
    body = step_body(b, unit_id, job_id, n);
    txn_end(&t);
    api_reply_json(res, 201, body);
}
