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

/* The job's capabilities (of all its lines, each once) and its lines. */
static int set_lines(state *s, job *j, const job_submission *sub)
{
    const char *all[BROKER_MAX_CAPS];
    size_t nall = 0;

    if (!sub->nlines)
        return capset_set(&j->caps, s->strings, sub->caps, sub->ncaps);
    j->lines = calloc(sub->nlines, sizeof(*j->lines));
    if (!j->lines)
        return COORD_E_NOMEM;
    for (size_t l = 0; l < sub->nlines; l++) {
        const line_spec *ls = &sub->lines[l];
        const char *v[BROKER_MAX_CAPS];

        for (size_t i = 0; i < ls->ncaps && i < BROKER_MAX_CAPS; i++) {
            size_t k = 0;

            v[i] = ls->caps[i];
            while (k < nall && strcmp(all[k], v[i]) != 0)
                k++;
            if (k == nall && nall < BROKER_MAX_CAPS)
                all[nall++] = v[i];
        }
        if (capset_set(&j->lines[l].caps, s->strings, v, ls->ncaps) < 0)
            return COORD_E_NOMEM; /* job_free releases what was set */
        j->lines[l].count = ls->count;
        j->nlines = (uint32_t)l + 1;
    }
    if (sub->plan && !(j->plan = strdup(sub->plan)))
        return COORD_E_NOMEM;
    return capset_set(&j->caps, s->strings, all, nall);
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
    if (set_lines(s, j, sub) < 0 || state_set_name(s, &j->type, sub->type) < 0 ||
        jobq_push(s->queue, j->id, sub->sev, seq) < 0) {
        state_drop_job(s, j);
        return COORD_E_NOMEM;
    }
    j->seq = seq;
    j->sev = sub->sev;
    j->location = sub->location;
    j->has_geo = sub->has_geo;
    j->geo = sub->geo;
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

/* Candidates ranked without an allocation; a pool past this is
 * allocated. */
#define PICK_INLINE 64

unit *state_pick_line_unit(const state *s, const job *j, uint32_t line,
                           const char (*tried)[COORD_ID_MAX + 1], size_t ntried,
                           uint64_t now_mono, uint64_t now_wall, rank_reason *why)
{
    const capset *caps = job_line_caps(j, line);
    unit *const *pool = NULL;
    size_t npool = 0, n = 0;
    rank_candidate inline_c[PICK_INLINE], *c = inline_c;
    unit *inline_u[PICK_INLINE], **us = inline_u, *best = NULL;
    rank_choice ch;

    /* Only the units that offer the rarest required capability are looked
     * at: dispatch scales with what can serve the job, not the city. */
    for (uint32_t i = 0; i < caps->n; i++) {
        size_t k;
        unit *const *l = state_units_with(s, caps->v[i], &k);

        if (k == 0)
            return NULL;
        if (!pool || k < npool) {
            pool = l;
            npool = k;
        }
    }
    for (size_t k = 0; k < npool; k++) {
        unit *u = pool[k];
        /* All of them are ours: the order needs no district (NULL). */
        unit_candidate uc = unit_candidate_of(u->id, NULL, unit_shown_status(u), u->load,
                                              u->capacity, u->caps.v, u->caps.n);

        /* Cheapest questions first: in a busy city most units are full. */
        if (!unit_has_room(&uc) || !unit_may_dispatch(u, now_mono) ||
            ids_contain(tried, ntried, u->id) || !unit_eligible(&uc, caps->v, caps->n))
            continue;
        if (n == PICK_INLINE && c == inline_c) {
            /* Only a pool with this many free units pays for the room. */
            c = malloc(npool * sizeof(*c));
            us = malloc(npool * sizeof(*us));
            if (!c || !us)
                goto out; /* out of memory: nothing picked, the job waits */
            memcpy(c, inline_c, sizeof(inline_c));
            memcpy(us, inline_u, sizeof(inline_u));
        }
        c[n].c = uc;
        c[n].pos = u->pos;
        us[n++] = u;
    }
    if (rank_closest(j->has_geo ? &j->geo : NULL, c, n, now_wall, s->max_fix_age_ms, NULL,
                     caps->v, caps->n, &ch) >= 0) {
        best = us[ch.index];
        if (why)
            *why = ch.why;
    }
out:
    if (c != inline_c)
        free(c);
    if (us != inline_u)
        free(us);
    return best;
}

unit *state_pick_unit(const state *s, const job *j, const char (*tried)[COORD_ID_MAX + 1],
                      size_t ntried, uint64_t now_mono, uint64_t now_wall, rank_reason *why)
{
    return state_pick_line_unit(s, j, 0, tried, ntried, now_mono, now_wall, why);
}

size_t state_job_holders(const job *j, char (*tried)[COORD_ID_MAX + 1], size_t ntried,
                         size_t max)
{
    for (size_t i = 0; i < j->nattempts && ntried < max; i++) {
        const attempt *a = &j->attempts[i];

        if ((a->state == ATT_PENDING || a->state == ATT_ACTIVE) &&
            !ids_contain(tried, ntried, a->unit_id))
            snprintf(tried[ntried++], COORD_ID_MAX + 1, "%s", a->unit_id);
    }
    return ntried;
}

bool state_line_capable(const state *s, const job *j, uint32_t line)
{
    const capset *caps = job_line_caps(j, line);
    size_t n = 0;
    unit *const *l = caps->n ? state_units_with(s, caps->v[0], &n) : NULL;

    for (size_t k = 0; l && k < n; k++)
        if (capset_covers(&l[k]->caps, caps))
            return true;
    return false;
}

/* u is on j already (pending or active): not for another of its lines. */
static bool job_holds_unit(const job *j, const char *unit_id)
{
    for (size_t i = 0; i < j->nattempts; i++) {
        const attempt *a = &j->attempts[i];

        if ((a->state == ATT_PENDING || a->state == ATT_ACTIVE) &&
            strcmp(a->unit_id, unit_id) == 0)
            return true;
    }
    return false;
}

struct yield_ctx {
    const state *s;
    const unit *u;
};

static bool queued_job_takes(const char *job_id, void *arg)
{
    const struct yield_ctx *c = arg;
    const job *other = state_job(c->s, job_id);

    if (!other || !job_wants_units(other) || other->dispatching)
        return false;
    for (uint32_t l = 0; l < job_nlines(other); l++)
        if (job_line_held(other, l) < job_line_count(other, l) &&
            capset_covers(&c->u->caps, job_line_caps(other, l)) &&
            !job_holds_unit(other, c->u->id))
            return true;
    return false;
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
    return state_reserve_line(s, j, 0, u, unit_id, district, clock, now_wall, n_out);
}

int state_reserve_line(state *s, job *j, uint32_t line, unit *u, const char *unit_id,
                       const char *district, const vclock *clock, uint64_t now_wall,
                       uint32_t *n_out)
{
    attempt a;
    int rc;

    if (line >= job_nlines(j))
        return COORD_E_RANGE;
    memset(&a, 0, sizeof(a));
    a.n = job_next_attempt_no(j);
    a.line = line;
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

    /* A partly filled incident is assigned already: another line's unit. */
    bool first = j->status != JOB_ASSIGNED;

    if (!a || attempt_transition(a->state, ATT_ACTIVE) < 0 ||
        (first && job_transition(j->status, JOB_ASSIGNED) < 0))
        return COORD_E_TRANSITION;
    (void)attempt_set_state(&a->state, ATT_ACTIVE);
    if (first)
        (void)job_set_status(&j->status, JOB_ASSIGNED);
    j->updated_ms = now_wall;
    if (job_open_line(j) < 0)
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
    } else if (!job_has_borrowed(s, j)) {
        hmap_del(s->borrowed, j->id);
    }
    if (requeue) {
        bool any_active = false;

        for (size_t i = 0; i < j->nattempts && !any_active; i++)
            any_active = j->attempts[i].state == ATT_ACTIVE;
        /* Assigned while another line still has a unit. */
        if (!any_active)
            (void)job_set_status(&j->status, JOB_QUEUED); /* assigned -> queued is legal */
        if (j->nlines && a->line < j->nlines)
            j->lines[a->line].why = LINE_QUEUED;
        j->updated_ms = now_wall;
        (void)jobq_push(s->queue, j->id, j->sev, j->seq); /* a partly filled one is in it */
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
    int line = job_open_line(crit);
    const capset *want = job_line_caps(crit, line < 0 ? 0 : (uint32_t)line);
    v = policy_preempt_victim(c, n, level, crit->sev, want->v, want->n);
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
