/* Every change of a unit (see units.h): registration, heartbeats, loss,
 * and the claims other districts make on our units. */
#include "units.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jobs.h"

int state_register_unit(state *s, const unit_reg *r, uint64_t now_wall, uint64_t now_mono,
                        unit **out, bool *created, bool *back)
{
    unit *u = state_unit(s, r->id);
    capset caps = {0};
    int rc = COORD_OK;

    *created = u == NULL;
    if (capset_set(&caps, s->strings, r->caps, r->ncaps) < 0)
        return COORD_E_NOMEM;
    if (!u)
        u = state_add_unit(s, r->id);
    if (!u || unit_reserve_slots(u, r->capacity) < 0) {
        capset_release(&caps, s->strings);
        return COORD_E_NOMEM;
    }
    if (*created)
        u->registered_ms = now_wall;
    snprintf(u->kind, sizeof(u->kind), "%s", r->kind);
    state_unindex_unit(s, u);
    capset_release(&u->caps, s->strings);
    u->caps = caps;
    if (state_index_unit(s, u) < 0)
        rc = 1; /* registered, but capability lookups may miss it */
    snprintf(u->url, sizeof(u->url), "%s", r->url);
    /* Never below what it holds now: the held array must stay valid. */
    u->capacity = r->capacity > u->load ? r->capacity : (u->load ? u->load : 1);
    u->last_hb_wall_ms = now_wall;
    *back = fd_heartbeat(s->fd, u->id, now_mono) == 1 || unit_cond_lost(u->cond);
    /* Registering is a sign of life; always a legal change. */
    (void)unit_set_cond(&u->cond, unit_cond_registered(u->cond, !r->set_status, r->out_of_service));
    state_touch_unit(s, u);
    *out = u;
    return rc;
}

bool state_unit_heard(state *s, unit *u, uint64_t now_wall, uint64_t now_mono)
{
    bool back;

    u->last_hb_wall_ms = now_wall;
    back = fd_heartbeat(s->fd, u->id, now_mono) == 1 || unit_cond_lost(u->cond);
    if (back)
        (void)unit_set_cond(&u->cond, unit_cond_heard(u->cond));
    return back;
}

int state_unit_lost(state *s, unit *u, uint64_t now_wall, lost_items *out)
{
    memset(out, 0, sizeof(*out));
    if (unit_set_cond(&u->cond, unit_cond_silent(u->cond)) < 0)
        return COORD_E_TRANSITION;
    state_touch_unit(s, u);
    if (u->load) {
        out->v = calloc(u->load, sizeof(*out->v));
        if (!out->v)
            return COORD_E_NOMEM;
    }
    for (uint32_t i = 0; i < u->load;) {
        held h = u->held[i];
        lost_item *it = &out->v[out->n];

        if (h.pending) {
            i++; /* the dispatch in flight settles it */
            continue;
        }
        snprintf(it->job_id, sizeof(it->job_id), "%s", h.job_id);
        it->attempt = h.attempt;
        if (h.foreign) {
            /* Lent to another district: its owner moves the job when it sees
             * the unit lost, or no longer listing the claim if it is back by
             * then; the unit itself hears it here when it returns. */
            it->foreign = true;
            snprintf(it->owner, sizeof(it->owner), "%s", h.owner);
            unit_add_notice(u, h.job_id, h.attempt, "unit_lost");
            out->n++;
        } else {
            job *j = state_job(s, h.job_id);
            attempt *a = j ? job_attempt(j, h.attempt) : NULL;

            if (a && a->state == ATT_ACTIVE) {
                int moved = state_requeue(s, j, a, now_wall, "redeployed");

                it->requeued = moved == 1;
                out->moved += moved == 1;
                out->n++;
            }
        }
        /* Whatever it was, the slot goes (requeue may have freed it already;
         * either way slot i now holds what was the last one). */
        if (unit_find_held(u, h.job_id, h.attempt))
            unit_release_attempt(u, h.job_id, h.attempt);
        if (h.foreign && !unit_find_held(u, h.job_id, 0))
            state_lent_prune(s, h.job_id, u);
    }
    return COORD_OK;
}

static size_t add_revoked(revoked_entry *out, size_t n, size_t max, const char *job_id,
                          uint32_t attempt_no, const char *reason)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(out[i].job_id, job_id) == 0)
            return n; /* one entry per job */
    if (n == max)
        return n;
    out[n].job_id = job_id;
    out[n].attempt = attempt_no;
    out[n].reason = reason;
    return n + 1;
}

size_t state_heartbeat_revoked(state *s, unit *u, const job_ref *held_jobs, size_t nheld,
                               revoked_entry *out, size_t max)
{
    size_t n = 0;

    for (size_t i = 0; i < u->nnotices; i++)
        n = add_revoked(out, n, max, u->notices[i].job_id, u->notices[i].attempt,
                        u->notices[i].reason);
    /* The entries still point at the notices: nothing adds one before the
     * caller, under the same lock, has turned them into a reply. */
    u->nnotices = 0;
    for (size_t i = 0; i < nheld; i++) {
        job *j = state_job(s, held_jobs[i].job_id);
        attempt *a;

        if (!j)
            continue; /* not ours: a mutual-aid job is its owner's business */
        a = job_attempt(j, (uint32_t)held_jobs[i].attempt);
        if (!a || strcmp(a->unit_id, u->id) != 0)
            continue;
        if (a->state == ATT_REVOKED || a->state == ATT_FINISHED) {
            const char *why = j->status == JOB_COMPLETED   ? "result_accepted"
                              : j->status == JOB_CANCELLED ? "cancelled"
                                                           : "redeployed";
            n = add_revoked(out, n, max, j->id, a->n, why);
            a->notified = true;
        }
    }
    return n;
}

/* ---- claims ---- */

/* A claim's slot went: u may no longer be among the job's lenders. */
static void free_claim_slot(state *s, unit *u, const char *job_id, uint32_t attempt_no)
{
    unit_release_attempt(u, job_id, attempt_no);
    if (!unit_find_held(u, job_id, 0))
        state_lent_prune(s, job_id, u);
}

claim_verdict state_claim_reserve(state *s, unit *u, const char *job_id, uint32_t attempt_no,
                                  const char *owner, const char *const *req, size_t nreq)
{
    held *h = unit_find_held(u, job_id, attempt_no), *older;

    if (h && h->foreign && !h->pending)
        return CLAIM_RETRY;
    older = unit_find_held(u, job_id, 0);
    if (older && older->foreign && !older->pending && older->attempt < attempt_no) {
        /* The owner moved its job to a new attempt on the same unit: the
         * new claim supersedes the old one (as at the executor). */
        unit_release_attempt(u, job_id, older->attempt);
        state_touch_unit(s, u);
    } else if (older) {
        return CLAIM_HELD_OTHER;
    }
    if (unit_shown_status(u) != UNIT_AVAILABLE || u->load >= u->capacity ||
        !caps_match(req, nreq, u->caps.v, u->caps.n))
        return CLAIM_NOT_FREE;
    if (unit_hold(u, job_id, attempt_no, true) < 0)
        return CLAIM_TAKEN;
    h = &u->held[u->load - 1];
    h->foreign = true;
    snprintf(h->owner, sizeof(h->owner), "%s", owner);
    (void)state_lent_add(s, job_id, u); /* out of memory: only the repair misses it */
    return CLAIM_RESERVED;
}

bool state_claim_settle(state *s, unit *u, const char *job_id, uint32_t attempt_no, bool taken)
{
    held *h = unit_find_held(u, job_id, attempt_no);

    if (taken && h && !unit_cond_lost(u->cond)) {
        h->pending = false;
        state_touch_unit(s, u);
        return true;
    }
    if (h)
        free_claim_slot(s, u, job_id, attempt_no);
    return false;
}

bool state_release_claim(state *s, unit *u, const char *job_id, uint32_t attempt_no)
{
    held *h = unit_find_held(u, job_id, attempt_no);

    if (!h || !h->foreign)
        return false;
    free_claim_slot(s, u, job_id, attempt_no);
    state_touch_unit(s, u);
    return true;
}

bool state_claim_drop(state *s, unit *u, const char *job_id, uint32_t attempt_no)
{
    held *h = unit_find_held(u, job_id, attempt_no);

    /* A pending slot is a lend in flight: its settle decides. */
    if (!h || !h->foreign || h->pending)
        return false;
    free_claim_slot(s, u, job_id, attempt_no);
    state_touch_unit(s, u);
    return true;
}
