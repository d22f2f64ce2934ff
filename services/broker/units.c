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
    const char *kind = NULL;
    int rc = COORD_OK;

    *created = u == NULL;
    if (capset_set(&caps, s->strings, r->caps, r->ncaps) < 0)
        return COORD_E_NOMEM;
    if (state_set_name(s, &kind, r->kind) < 0) {
        capset_release(&caps, s->strings);
        return COORD_E_NOMEM;
    }
    if (!u)
        u = state_add_unit(s, r->id);
    if (!u || unit_reserve_slots(u, r->capacity) < 0 || unit_set_url(u, r->url) < 0) {
        capset_release(&caps, s->strings);
        strtab_release(s->strings, kind);
        if (u && *created) { /* not half made: views print every unit */
            hmap_del(s->units, u->id);
            unit_free(s, u);
        }
        return COORD_E_NOMEM;
    }
    if (*created)
        u->registered_ms = now_wall;
    strtab_release(s->strings, u->kind);
    u->kind = kind;
    state_unindex_unit(s, u);
    capset_release(&u->caps, s->strings);
    u->caps = caps;
    if (state_index_unit(s, u) < 0)
        rc = 1; /* registered, but capability lookups may miss it */
    u->pos.has_station = r->has_station;
    u->pos.station = r->station;
    /* Never below what it holds now: the held array must stay valid. */
    u->capacity = r->capacity > u->load ? r->capacity : (u->load ? u->load : 1);
    u->last_hb_wall_ms = now_wall;
    *back = fd_heartbeat(s->fd, u->id, now_mono) == 1 || unit_cond_lost(u->cond);
    /* A terminal that registers answers at its (perhaps new) address: give
     * it work again at once. */
    state_unit_answered(s, u);
    u->refused = false;
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
    /* Its heartbeat reconciles what it holds: a refusal for being full
     * says nothing about the next offer. */
    u->refused = false;
    back = fd_heartbeat(s->fd, u->id, now_mono) == 1 || unit_cond_lost(u->cond);
    if (back)
        (void)unit_set_cond(&u->cond, unit_cond_heard(u->cond));
    return back;
}

bool state_unit_fix(state *s, unit *u, geo_point at, uint64_t fix_ms)
{
    bool shown = u->shown_fix_ms != 0;

    if (u->pos.has_fix && fix_ms < u->pos.fix_ms)
        return false; /* a late heartbeat carrying an older fix */
    u->pos.has_fix = true;
    u->pos.fix = at;
    u->pos.fix_ms = fix_ms;
    if (shown && geo_distance_km(u->shown_fix, at) * 1000.0 < STATE_FIX_MOVE_M &&
        fix_ms - u->shown_fix_ms < s->max_fix_age_ms / 2)
        return false;
    u->shown_fix = at;
    u->shown_fix_ms = fix_ms;
    state_touch_unit(s, u);
    return true;
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
            unit_add_notice_for(u, h.job_id, h.attempt, "unit_lost", h.owner);
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

void state_unit_answered(state *s, unit *u)
{
    if (u->reach.failures && s->units_failing)
        s->units_failing--;
    reach_answered(&u->reach);
}

void state_unit_call_failed(state *s, unit *u, uint64_t now_mono)
{
    if (!u->reach.failures)
        s->units_failing++;
    reach_failed(&u->reach, now_mono);
}

void state_unit_refused(unit *u)
{
    u->refused = true;
}

/* One entry per (job, attempt): a notice and the list may name the same. */
static size_t add_revoked(revoked_entry *out, size_t n, size_t max, const char *job_id,
                          uint32_t attempt_no, const char *reason, const char *owner)
{
    for (size_t i = 0; i < n; i++)
        if (out[i].attempt == attempt_no && strcmp(out[i].job_id, job_id) == 0)
            return n;
    if (n == max)
        return n;
    out[n].job_id = job_id;
    out[n].attempt = attempt_no;
    out[n].reason = reason;
    out[n].owner = owner;
    return n + 1;
}

/* The listed job is another district's (by its owner, or, when the list
 * names none, because no job of ours has that id). */
static bool listed_foreign(const state *s, const job_ref *r)
{
    return r->owner[0] ? strcmp(r->owner, s->self) != 0 : !state_job(s, r->job_id);
}

size_t state_heartbeat_revoked(state *s, unit *u, const job_ref *held_jobs, size_t nheld,
                               revoked_entry *out, size_t max)
{
    size_t n = 0;

    for (size_t i = 0; i < u->nnotices; i++) {
        const notice *nt = &u->notices[i];

        /* A lent unit's notice names the job's district, not ours. */
        n = add_revoked(out, n, max, nt->job_id, nt->attempt, nt->reason,
                        nt->owner[0] ? nt->owner : NULL);
    }
    /* The entries still point at the notices: nothing adds one before the
     * caller, under the same lock, has turned them into a reply. */
    u->nnotices = 0;
    for (size_t i = 0; i < nheld; i++) {
        const job_ref *r = &held_jobs[i];
        uint32_t n_att = (uint32_t)r->attempt;

        if (listed_foreign(s, r)) {
            const held *h = unit_find_held(u, r->job_id, n_att);

            /* A claim stands while its slot is here, pending or settled. */
            if (!h || !h->foreign || (r->owner[0] && strcmp(h->owner, r->owner) != 0))
                n = add_revoked(out, n, max, r->job_id, n_att, "released",
                                r->owner[0] ? r->owner : NULL);
            continue;
        }
        job *j = state_job(s, r->job_id);
        attempt *a = j ? job_attempt(j, n_att) : NULL;
        bool mine = a && strcmp(a->unit_id, u->id) == 0 && attempt_is_local(s, a);

        if (mine && (a->state == ATT_ACTIVE || a->state == ATT_PENDING))
            continue;
        const char *why = !j || !mine                ? "not_assigned"
                          : j->status == JOB_COMPLETED ? "result_accepted"
                          : j->status == JOB_CANCELLED ? "cancelled"
                                                       : "redeployed";
        n = add_revoked(out, n, max, j ? j->id : r->job_id, n_att, why, NULL);
        if (mine)
            a->notified = true;
    }
    return n;
}

static bool listed(const job_ref *held_jobs, size_t nheld, const held *h)
{
    for (size_t i = 0; i < nheld; i++)
        if (held_jobs[i].attempt == (int64_t)h->attempt &&
            strcmp(held_jobs[i].job_id, h->job_id) == 0)
            return true;
    return false;
}

int state_heartbeat_unheld(state *s, unit *u, const job_ref *held_jobs, size_t nheld,
                           uint64_t seen_self, uint64_t clock_self, uint64_t now_wall,
                           lost_items *out)
{
    memset(out, 0, sizeof(*out));
    for (uint32_t i = 0; i < u->load;) {
        held *h = &u->held[i];

        if (h->pending || listed(held_jobs, nheld, h)) {
            i++;
            continue;
        }
        if (!h->settled_clock) {
            /* Settled before now (it is not pending), so any clock from now
             * on is one the terminal can only have seen after it took it. */
            h->settled_clock = clock_self;
            i++;
            continue;
        }
        if (seen_self < h->settled_clock) {
            i++; /* the list may predate the assignment: not evidence */
            continue;
        }
        if (!out->v) {
            out->v = calloc(u->load, sizeof(*out->v));
            if (!out->v)
                return COORD_E_NOMEM;
        }
        held gone = *h;
        lost_item *it = &out->v[out->n++];

        snprintf(it->job_id, sizeof(it->job_id), "%s", gone.job_id);
        it->attempt = gone.attempt;
        if (gone.foreign) {
            /* The claim's end is the claim code's (state_claim_drop and
             * what the owner must learn): reported, the slot left here. */
            it->foreign = true;
            snprintf(it->owner, sizeof(it->owner), "%s", gone.owner);
            i++;
            continue;
        }
        job *j = state_job(s, gone.job_id);
        attempt *a = j ? job_attempt(j, gone.attempt) : NULL;

        if (a && a->state == ATT_ACTIVE) {
            int moved = state_requeue(s, j, a, now_wall, NULL);

            it->requeued = moved == 1;
            out->moved += moved == 1;
        }
        /* A slot with no active attempt behind it is a leftover. */
        if (unit_find_held(u, gone.job_id, gone.attempt))
            unit_release_attempt(u, gone.job_id, gone.attempt);
        state_touch_unit(s, u);
        /* Slot i now holds what was the last one: look at it again. */
    }
    return COORD_OK;
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
