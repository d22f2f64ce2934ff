/* The crews' status steps at the home broker (steps.h). */
#include "steps.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const double step_hist_bounds[STEP_HIST_N] = {
    10, 20, 30, 45, 60, 80, 120, 180, 240, 360, 480, 900,
};

/* Ids are [A-Za-z0-9._-]: '/' cannot occur in one. */
static void step_key(char *buf, size_t len, const char *unit_id, const char *job_id, uint32_t n)
{
    snprintf(buf, len, "%s/%s/%u", unit_id, job_id, (unsigned)n);
}

#define STEP_KEY_MAX (2 * COORD_ID_MAX + 16)

const step_rec *state_steps(const state *s, const char *unit_id, const char *job_id,
                            uint32_t attempt_no)
{
    char key[STEP_KEY_MAX];

    step_key(key, sizeof(key), unit_id, job_id, attempt_no);
    return hmap_get(s->steps, key);
}

/* The record under (unit, job, n), made when missing; NULL when out of
 * memory. */
static step_rec *rec_at(state *s, const char *unit_id, const char *job_id, uint32_t n)
{
    char key[STEP_KEY_MAX];
    step_rec *r;

    step_key(key, sizeof(key), unit_id, job_id, n);
    r = hmap_get(s->steps, key);
    if (r)
        return r;
    r = calloc(1, sizeof(*r)); /* UST_DISPATCHED is 0 */
    if (r && hmap_put(s->steps, key, r, NULL) < 0) {
        free(r);
        r = NULL;
    }
    return r;
}

/* Which of our records say u is on attempt n of job_id. */
typedef enum step_hold {
    HOLD_NONE = 0,
    HOLD_PENDING,
    HOLD_ACTIVE,  /* an own job's active attempt */
    HOLD_FOREIGN, /* another district's claim on u */
    HOLD_ENDED,   /* an own attempt revoked or finished, or a claim gone after a step */
} step_hold;

static step_hold find_hold(const state *s, unit *u, const char *job_id, uint32_t n, job **jo,
                           attempt **ao)
{
    job *j = state_job(s, job_id);
    attempt *a = j ? job_attempt(j, n) : NULL;
    held *h = unit_find_held(u, job_id, n);

    *jo = NULL;
    *ao = NULL;
    if (a && strcmp(a->unit_id, u->id) == 0 && attempt_is_local(s, a)) {
        *jo = j;
        *ao = a;
        if (a->state == ATT_PENDING)
            return HOLD_PENDING;
        return a->state == ATT_ACTIVE ? HOLD_ACTIVE : HOLD_ENDED;
    }
    if (h && h->foreign)
        return h->pending ? HOLD_PENDING : HOLD_FOREIGN;
    return state_steps(s, u->id, job_id, n) ? HOLD_ENDED : HOLD_NONE;
}

static int64_t span(const step_rec *r, unit_step from, unit_step to)
{
    if (!r->at[from] || !r->at[to])
        return -1;
    return r->at[to] > r->at[from] ? (int64_t)(r->at[to] - r->at[from]) : 0;
}

int state_record_step(state *s, unit *u, const char *job_id, uint32_t n, unit_step to,
                      uint64_t at_ms, uint64_t dispatched_ms, uint64_t now_wall, step_outcome *out,
                      followups *fu, job **j_out)
{
    job *j;
    attempt *a;
    step_hold hold = find_hold(s, u, job_id, n, &j, &a);
    const step_rec *old = state_steps(s, u->id, job_id, n);
    step_rec *r;

    memset(out, 0, sizeof(*out));
    out->turnout_ms = out->travel_ms = -1;
    out->foreign = hold == HOLD_FOREIGN;
    out->from = old ? old->cur : UST_DISPATCHED;
    *j_out = NULL;
    if (hold == HOLD_NONE)
        return COORD_E_ATTEMPT;
    if (hold == HOLD_PENDING)
        return COORD_E_RANGE;
    if (old && old->at[to] && old->at[to] == at_ms) {
        out->retry = true;
        return COORD_OK;
    }
    if (unit_step_check(out->from, to) != COORD_OK)
        return COORD_E_TRANSITION;
    if (hold == HOLD_ENDED && to != UST_CLEARED) {
        out->ended = true;
        return COORD_E_TRANSITION;
    }
    r = rec_at(s, u->id, job_id, n);
    if (!r)
        return COORD_E_NOMEM;
    if (!r->at[UST_DISPATCHED])
        r->at[UST_DISPATCHED] = dispatched_ms ? dispatched_ms : a ? a->at_ms : now_wall;
    r->at[to] = at_ms;
    r->cur = to;
    if (to == UST_EN_ROUTE)
        out->turnout_ms = span(r, UST_DISPATCHED, UST_EN_ROUTE);
    if (to == UST_ON_SCENE)
        out->travel_ms = span(r, UST_EN_ROUTE, UST_ON_SCENE);
    if (hold == HOLD_ACTIVE && unit_step_frees(to)) {
        followup x = {0};

        /* Released by its crew: the attempt ends, and the incident is not
         * sent to another unit (its result may still come, DESIGN §3.1). */
        (void)attempt_set_state(&a->state, ATT_REVOKED);
        a->notified = false;
        unit_release_attempt(u, job_id, n);
        unit_add_notice(u, job_id, n, "cleared");
        snprintf(x.url, sizeof(x.url), "%s", u->url);
        snprintf(x.unit_id, sizeof(x.unit_id), "%s", u->id);
        snprintf(x.job_id, sizeof(x.job_id), "%s", job_id);
        x.attempt = n;
        snprintf(x.reason, sizeof(x.reason), "cleared");
        /* Out of memory: the notice in the next heartbeat reply tells it. */
        (void)followups_push(fu, &x);
        j->updated_ms = now_wall;
        out->freed = true;
    }
    if (j) {
        state_touch_job(s, j);
        *j_out = j;
    }
    state_touch_unit(s, u);
    return COORD_OK;
}

int state_restore_step(state *s, const char *unit_id, const char *job_id, uint32_t n,
                       unit_step step, uint64_t at_ms)
{
    step_rec *r;

    if ((int)step < 0 || (int)step >= UST_NSTEPS)
        return COORD_OK; /* checked by the caller; never index with it */
    r = rec_at(s, unit_id, job_id, n);
    if (!r)
        return COORD_E_NOMEM;
    r->at[step] = at_ms;
    if (step > r->cur)
        r->cur = step;
    return COORD_OK;
}

void step_hist_observe(step_hist *h, double seconds)
{
    if (!(seconds >= 0)) /* negative or NaN */
        seconds = 0;
    for (size_t i = 0; i < STEP_HIST_N; i++) {
        if (seconds <= step_hist_bounds[i]) {
            h->buckets[i]++;
            break;
        }
    }
    h->count++;
    h->sum += seconds;
}
