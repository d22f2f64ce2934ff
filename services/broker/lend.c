/* Lending a unit to another district (see lend.h). */
#include "lend.h"

#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "http_client.h"
#include "txn.h"
#include "units.h"
#include "views.h"

static const http_opts claim_assign_opts = {.connect_timeout_ms = 500, .timeout_ms = 2000};

/* The claim as the owner settles it: with the unit's change version and
 * our incarnation, against which the owner reads later copies of the unit
 * (a newer one that does not list the claim: it is gone). */
static json_t *claim_reply(broker *b, const unit *u, const lend_request *r)
{
    return view_envelope(json_pack("{s:o, s:{s:s, s:i, s:s, s:I, s:s}}", "unit",
                                   view_unit(&b->st, u, coord_now_wall_ms()), "claim", "job_id",
                                   r->job_id, "attempt", (int)r->attempt, "owner", r->owner,
                                   "version", (json_int_t)u->chg.version, "epoch", b->epoch),
                         &b->clock);
}

bool lend_drop_claim(txn *t, unit *u, const char *job_id, uint32_t attempt_no, const char *why)
{
    if (!state_claim_drop(&t->b->st, u, job_id, attempt_no))
        return false;
    txn_del_claim(t, u->id, job_id);
    txn_event(t, "claim_dropped", job_id, u->id, attempt_no,
              "claim on %s for job %s dropped: %s; its owner moves the job", u->id, job_id, why);
    txn_wake_dispatch(t);
    return true;
}

lend_outcome lend_unit(broker *b, const lend_request *r, json_t **body, char *why)
{
    char url[BROKER_URL_MAX + 32];
    http_reply rep;
    txn t;

    *body = NULL;
    pthread_mutex_lock(&b->mu);
    if (!txn_store_ok(b)) {
        pthread_mutex_unlock(&b->mu);
        return LEND_STORAGE;
    }
    txn_begin(b, &t);
    unit *u = state_unit(&b->st, r->unit_id);
    if (!u) {
        txn_end(&t);
        return LEND_NO_UNIT;
    }
    claim_verdict v =
        state_claim_reserve(&b->st, u, r->job_id, r->attempt, r->owner, r->req, r->nreq);
    switch (v) {
    case CLAIM_RETRY:
        *body = claim_reply(b, u, r);
        break;
    case CLAIM_HELD_OTHER:
        *body = view_one("unit", view_unit(&b->st, u, coord_now_wall_ms()), &b->clock);
        break;
    case CLAIM_NOT_FREE: {
        unit_status st = unit_shown_status(u);

        snprintf(why, 32, "%s",
                 st == UNIT_AVAILABLE ? "not able to take this job" : unit_status_str(st));
        *body = json_pack("{s:o}", "unit", view_unit(&b->st, u, coord_now_wall_ms()));
        break;
    }
    case CLAIM_TAKEN:
    case CLAIM_RESERVED:
        break;
    }
    if (v != CLAIM_RESERVED) {
        if (!txn_commit(&t)) { /* a superseded claim is a change peers see */
            txn_end(&t);
            json_decref(*body);
            *body = NULL;
            return LEND_STORAGE;
        }
        txn_end(&t);
        return v == CLAIM_RETRY        ? LEND_RETRY
               : v == CLAIM_HELD_OTHER ? LEND_HELD_OTHER
               : v == CLAIM_NOT_FREE   ? LEND_NOT_FREE
                                       : LEND_TAKEN;
    }
    if (r->clock)
        clock_receive_all(b, r->clock);
    (void)clock_tick(b);
    json_t *msg = view_assignment(json_incref((json_t *)r->job), r->attempt, r->owner, r->owner_url,
                                  &b->clock);
    snprintf(url, sizeof(url), "%s/v1/assignments", u->url);
    if (!txn_commit(&t)) {
        txn_end(&t);
        json_decref(msg);
        return LEND_STORAGE;
    }
    txn_end(&t);

    int rc = http_json("POST", url, msg, &claim_assign_opts, &rep);
    json_decref(msg);
    bool ok = rc == 0 && (rep.status == 201 || rep.status == 200);
    long status = rep.status;
    http_reply_release(&rep);

    pthread_mutex_lock(&b->mu);
    txn_begin(b, &t);
    u = state_unit(&b->st, r->unit_id);
    if (state_claim_settle(&b->st, u, r->job_id, r->attempt, ok)) {
        txn_put_claim(&t, r->unit_id, r->job_id, r->attempt, r->owner);
        txn_event(&t, "unit_claimed", r->job_id, r->unit_id, r->attempt,
                  "mutual aid: %s lends %s to %s for job %s", b->cfg.id, r->unit_id, r->owner,
                  r->job_id);
        txn_revoke_on_abort(&t, u->url, r->job_id, r->attempt); /* it took it, unrecorded */
        if (!txn_commit(&t)) {
            txn_end(&t);
            return LEND_STORAGE;
        }
        *body = claim_reply(b, u, r);
        txn_end(&t);
        return LEND_CLAIMED;
    }
    if (ok) /* it took the job, but the slot is gone (the unit was lost) */
        txn_revoke(&t, u->url, r->job_id, r->attempt);
    bool stored = txn_commit(&t);
    txn_end(&t);
    if (!stored)
        return LEND_STORAGE;
    return rc == 0 && status == 409 ? LEND_REFUSED : LEND_FAILED;
}
