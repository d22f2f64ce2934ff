/* Every change of a job and its attempts (see jobs.h). Each checks that
 * the transitions it needs are legal before it changes anything, so a
 * refused change leaves no half-done state behind. */
#include "jobs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void followups_release(followups *f)
{
    if (!f)
        return;
    free(f->v);
    memset(f, 0, sizeof(*f));
}

static followup *followup_slot(followups *f)
{
    if (f->n == f->cap) {
        size_t nc = f->cap ? f->cap * 2 : 2;
        followup *nv = realloc(f->v, nc * sizeof(*nv));

        if (!nv)
            return NULL; /* as a dropped outbox message (outbox.h) */
        f->v = nv;
        f->cap = nc;
    }
    return &f->v[f->n++];
}

bool followups_push(followups *f, const followup *x)
{
    followup *y = followup_slot(f);

    if (y)
        *y = *x;
    return y != NULL;
}

static followup *followup_add(followups *f, const char *job_id, uint32_t n, const char *reason)
{
    followup *x = followup_slot(f);

    if (!x)
        return NULL;
    memset(x, 0, sizeof(*x));
    snprintf(x->job_id, sizeof(x->job_id), "%s", job_id);
    x->attempt = n;
    snprintf(x->reason, sizeof(x->reason), "%s", reason);
    return x;
}

static void add_revoke(followups *f, const unit *u, const job *j, uint32_t n, const char *reason)
{
    followup *x = followup_add(f, j->id, n, reason);

    if (x)
        snprintf(x->url, sizeof(x->url), "%s", u->url);
}

static void add_release(followups *f, const attempt *a, const job *j, const char *reason)
{
    followup *x = followup_add(f, j->id, a->n, reason);

    if (!x)
        return;
    x->release = true;
    snprintf(x->district, sizeof(x->district), "%s", a->unit_district);
    snprintf(x->unit_id, sizeof(x->unit_id), "%s", a->unit_id);
}

/* ---- jobs ---- */
static void generated_id(const state *s, uint64_t seq, char *id, size_t len)
{
    snprintf(id, len, "%.40s-%llu", s->self, (unsigned long long)seq);
}

int state_submit(state *s, job_submission *sub, uint64_t now_wall, job **out)
{
    char id[COORD_ID_MAX + 1];
    uint64_t seq = ++s->next_seq;
    job *j;

    if (sub->id) {
        snprintf(id, sizeof(id), "%s", sub->id);
    } else {
        /* A generated id could collide with a client-chosen one: skip ahead. */
        generated_id(s, seq, id, sizeof(id));
        while (state_job(s, id)) {
            seq = ++s->next_seq;
            generated_id(s, seq, id, sizeof(id));
        }
    }
    j = state_add_job(s, id);
    if (!j)
        return COORD_E_NOMEM;
    if (capset_set(&j->caps, s->strings, sub->caps, sub->ncaps) < 0 ||
        state_set_name(s, &j->type, sub->type) < 0 ||
        jobq_push(s->queue, j->id, sub->sev, seq) < 0) {
        state_drop_job(s, j);
        return COORD_E_NOMEM;
    }
    j->seq = seq;
    j->sev = sub->sev;
    j->location = sub->location;
    j->payload = sub->payload;
    sub->location = sub->payload = NULL;
    j->request_digest = sub->digest;
    /* Ours to dispatch: concurrent submissions do not wait for each other
     * and the drain leaves it alone until we are done. */
    j->dispatching = true;
    j->created_ms = j->updated_ms = now_wall;
    state_touch_job(s, j);
    *out = j;
    return COORD_OK;
}

unit *state_pick_unit(const state *s, const job *j, const char (*tried)[COORD_ID_MAX + 1],
                      size_t ntried, uint64_t now_mono)
{
    unit *const *pool = NULL;
    size_t npool = 0;
    unit *best = NULL;
    unit_candidate bc = {0};

    /* Only the units that offer the rarest required capability are looked
     * at: dispatch scales with what can serve the job, not the city. */
    for (uint32_t i = 0; i < j->caps.n; i++) {
        size_t n;
        unit *const *l = state_units_with(s, j->caps.v[i], &n);

        if (n == 0)
            return NULL;
        if (!pool || n < npool) {
            pool = l;
            npool = n;
        }
    }
    for (size_t k = 0; k < npool; k++) {
        unit *u = pool[k];
        /* All of them are ours: the order needs no district (NULL). */
        unit_candidate c = unit_candidate_of(u->id, NULL, unit_shown_status(u), u->load,
                                             u->capacity, u->caps.v, u->caps.n);

        /* Cheapest questions first: in a busy city most units are full,
         * and most of the rest rank behind the best so far. */
        if (!unit_has_room(&c) || (best && unit_order(&c, &bc, NULL) >= 0) ||
            !unit_may_dispatch(u, now_mono) || ids_contain(tried, ntried, u->id) ||
            !unit_eligible(&c, j->caps.v, j->caps.n))
            continue;
        best = u;
        bc = c;
    }
    return best;
}

struct yield_ctx {
    const state *s;
    const unit *u;
};

static bool queued_job_takes(const char *job_id, void *arg)
{
    const struct yield_ctx *c = arg;
    const job *other = state_job(c->s, job_id);

    return other && other->status == JOB_QUEUED && !other->dispatching &&
           capset_covers(&c->u->caps, &other->caps);
}

#define YIELD_WINDOW 64 /* the head of the queue, where order matters */

bool state_yields(const state *s, const job *j, const unit *u)
{
    jobq_item head[YIELD_WINDOW], self;
    size_t n = jobq_snapshot(s->queue, head, YIELD_WINDOW);
    struct yield_ctx c = {s, u};

    memset(&self, 0, sizeof(self));
    snprintf(self.id, sizeof(self.id), "%s", j->id);
    self.sev = j->sev;
    self.seq = j->seq;
    return policy_queue_yields(head, n, &self, queued_job_takes, &c);
}

int state_reserve(state *s, job *j, unit *u, const char *unit_id, const char *district,
                  const vclock *clock, uint64_t now_wall, uint32_t *n_out)
{
    attempt a;
    int rc;

    memset(&a, 0, sizeof(a));
    a.n = job_next_attempt_no(j);
    snprintf(a.unit_id, sizeof(a.unit_id), "%s", unit_id);
    snprintf(a.unit_district, sizeof(a.unit_district), "%s", district);
    a.at_ms = now_wall;
    rc = cclock_pack(&a.clock, s->strings, clock);
    if (rc < 0)
        return rc;
    if (u && (rc = unit_hold(u, j->id, a.n, true)) < 0) {
        cclock_release(&a.clock, s->strings);
        return rc;
    }
    if ((rc = job_add_attempt(j, &a)) < 0) {
        if (u)
            unit_release_attempt(u, j->id, a.n);
        cclock_release(&a.clock, s->strings);
        return rc;
    }
    j->dispatching = true;
    *n_out = a.n;
    return COORD_OK;
}

int state_confirm(state *s, job *j, uint32_t n, uint64_t now_wall)
{
    attempt *a = job_attempt(j, n);

    if (!a || attempt_transition(a->state, ATT_ACTIVE) < 0 ||
        job_transition(j->status, JOB_ASSIGNED) < 0)
        return COORD_E_TRANSITION;
    (void)attempt_set_state(&a->state, ATT_ACTIVE);
    (void)job_set_status(&j->status, JOB_ASSIGNED);
    j->updated_ms = now_wall;
    jobq_remove(s->queue, j->id);
    if (attempt_is_local(s, a)) {
        unit *u = state_unit(s, a->unit_id);

        if (u) {
            unit_confirm(u, j->id);
            state_touch_unit(s, u);
        }
    } else {
        /* Out of memory only costs the watch for the unit's loss: the job
         * then waits for its result instead of moving when the home shows
         * the unit lost. */
        (void)hmap_put(s->borrowed, j->id, j, NULL);
    }
    state_touch_job(s, j);
    return COORD_OK;
}

void state_drop_pending(state *s, job *j, uint32_t n)
{
    attempt *a = job_attempt(j, n);

    if (!a)
        return;
    if (attempt_is_local(s, a)) {
        unit *u = state_unit(s, a->unit_id);

        if (u) {
            unit_release_attempt(u, j->id, n);
            state_touch_unit(s, u);
        }
    }
    job_drop_attempt(s, j, n);
}

int state_abandon(state *s, job *j, uint32_t n, followups *fu)
{
    attempt *a = job_attempt(j, n);

    if (!a || a->state != ATT_PENDING || attempt_set_state(&a->state, ATT_REVOKED) < 0)
        return COORD_E_TRANSITION;
    a->notified = false;
    if (attempt_is_local(s, a)) {
        unit *u = state_unit(s, a->unit_id);

        if (u) {
            unit_release_attempt(u, j->id, n);
            /* The heartbeat says it too, for terminals that send no list. */
            unit_add_notice(u, j->id, n, "abandoned");
            add_revoke(fu, u, j, n, "abandoned");
            state_touch_unit(s, u);
        }
    } else {
        add_release(fu, a, j, "revoked");
    }
    state_touch_job(s, j);
    return COORD_OK;
}

void state_claim_answered(job *j, uint32_t n, uint64_t version, uint32_t egen)
{
    attempt *a = job_attempt(j, n);

    if (a) {
        a->claim_version = version;
        a->claim_egen = egen;
    }
}

int state_requeue(state *s, job *j, attempt *a, uint64_t now_wall, const char *notice_reason)
{
    bool requeue = j->status == JOB_ASSIGNED;

    if (attempt_set_state(&a->state, ATT_REVOKED) < 0)
        return COORD_E_TRANSITION;
    a->notified = false;
    if (attempt_is_local(s, a)) {
        unit *u = state_unit(s, a->unit_id);

        if (u) {
            unit_release_attempt(u, j->id, a->n);
            if (notice_reason)
                unit_add_notice(u, j->id, a->n, notice_reason);
            state_touch_unit(s, u);
        }
    } else {
        hmap_del(s->borrowed, j->id);
    }
    if (requeue) {
        (void)job_set_status(&j->status, JOB_QUEUED); /* assigned -> queued is legal */
        j->updated_ms = now_wall;
        (void)jobq_push(s->queue, j->id, j->sev, j->seq);
    }
    state_touch_job(s, j);
    return requeue ? 1 : 0;
}

int state_accept_result(state *s, job *j, result *rr, uint64_t now_wall, followups *fu)
{
    attempt *w = NULL;

    for (size_t i = 0; i < j->nattempts && !w; i++)
        if (j->attempts[i].n == rr->attempt && strcmp(j->attempts[i].unit_id, rr->unit_id) == 0)
            w = &j->attempts[i];
    if (j->res || !w || attempt_transition(w->state, ATT_FINISHED) < 0 ||
        job_transition(j->status, JOB_COMPLETED) < 0)
        return COORD_E_TRANSITION;
    j->res = rr;
    (void)job_set_status(&j->status, JOB_COMPLETED);
    j->updated_ms = now_wall;
    jobq_remove(s->queue, j->id);
    hmap_del(s->borrowed, j->id);
    for (size_t i = 0; i < j->nattempts; i++) {
        attempt *a = &j->attempts[i];
        bool active = a->state == ATT_ACTIVE;
        unit *u = attempt_is_local(s, a) ? state_unit(s, a->unit_id) : NULL;

        if (a != w && !active)
            continue;
        if (!attempt_is_local(s, a)) {
            /* A borrowed unit: its home broker holds the claim. */
            if (active)
                add_release(fu, a, j, a == w ? "finished" : "revoked");
        } else if (u) {
            if (active)
                unit_release_attempt(u, j->id, a->n);
            if (a != w) {
                /* Someone else still holds it: tell them to stop. */
                unit_add_notice(u, j->id, a->n, "result_accepted");
                add_revoke(fu, u, j, a->n, "result_accepted");
            }
            state_touch_unit(s, u);
        }
        if (a != w)
            a->notified = false;
        (void)attempt_set_state(&a->state, a == w ? ATT_FINISHED : ATT_REVOKED);
    }
    state_touch_job(s, j);
    return COORD_OK;
}

int state_cancel(state *s, job *j, uint64_t now_wall, followups *fu)
{
    if (job_transition(j->status, JOB_CANCELLED) < 0)
        return COORD_E_TRANSITION;
    jobq_remove(s->queue, j->id);
    hmap_del(s->borrowed, j->id);
    for (size_t i = 0; i < j->nattempts; i++) {
        attempt *a = &j->attempts[i];
        unit *u;

        if (a->state != ATT_ACTIVE)
            continue;
        (void)attempt_set_state(&a->state, ATT_REVOKED);
        a->notified = false;
        if (!attempt_is_local(s, a)) {
            add_release(fu, a, j, "cancelled");
            continue;
        }
        u = state_unit(s, a->unit_id);
        if (u) {
            unit_release_attempt(u, j->id, a->n);
            unit_add_notice(u, j->id, a->n, "cancelled");
            add_revoke(fu, u, j, a->n, "cancelled");
            state_touch_unit(s, u);
        }
    }
    (void)job_set_status(&j->status, JOB_CANCELLED);
    j->updated_ms = now_wall;
    state_touch_job(s, j);
    return COORD_OK;
}

int state_preempt(state *s, const job *crit, severity level, uint64_t now_wall, preemption *out)
{
    size_t it = 0, n = 0, total = 0;
    const char *key;
    void *val;
    preempt_candidate *c;
    long v;

    if (!policy_may_preempt(level, crit->sev))
        return 0;
    while (hmap_next(s->units, &it, &key, &val))
        total += ((unit *)val)->load;
    if (total == 0)
        return 0;
    c = calloc(total, sizeof(*c));
    if (!c)
        return COORD_E_NOMEM;
    it = 0;
    while (hmap_next(s->units, &it, &key, &val)) {
        unit *u = val;

        for (uint32_t i = 0; i < u->load && n < total; i++) {
            const held *h = &u->held[i];
            const job *hj = h->pending || h->foreign ? NULL : state_job(s, h->job_id);

            c[n++] = (preempt_candidate){
                .unit_id = u->id,
                .job_id = h->job_id,
                .attempt = h->attempt,
                .sev = hj ? hj->sev : SEV_CRITICAL,
                .own_active = hj && hj->status == JOB_ASSIGNED,
                .unit_usable = !unit_cond_lost(u->cond) && !unit_cond_off(u->cond),
                .unit_caps = u->caps.v,
                .nunit_caps = u->caps.n,
            };
        }
    }
    v = policy_preempt_victim(c, n, level, crit->sev, crit->caps.v, crit->caps.n);
    if (v >= 0) {
        unit *u = state_unit(s, c[v].unit_id);
        job *vj = state_job(s, c[v].job_id);
        attempt *a = vj ? job_attempt(vj, c[v].attempt) : NULL;

        if (u && a && a->state == ATT_ACTIVE) {
            snprintf(out->unit_id, sizeof(out->unit_id), "%s", u->id);
            snprintf(out->unit_url, sizeof(out->unit_url), "%s", u->url);
            snprintf(out->job_id, sizeof(out->job_id), "%s", vj->id);
            out->attempt = a->n;
            free(c);
            return state_requeue(s, vj, a, now_wall, "preempted") < 0 ? COORD_E_TRANSITION : 1;
        }
    }
    free(c);
    return 0;
}

void state_mark_notified(state *s, const char *job_id, uint32_t attempt_no)
{
    job *j = state_job(s, job_id);
    attempt *a = j ? job_attempt(j, attempt_no) : NULL;

    if (a)
        a->notified = true;
}
