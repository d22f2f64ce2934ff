#include "arbiter.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "hmap.h"

void arb_attempt_init(arb_attempt *x, const char *unit_id, uint32_t attempt, attempt_state state,
                      const vclock *assign_clock)
{
    size_t len = unit_id ? strnlen(unit_id, COORD_ID_MAX) : 0;

    memset(x, 0, sizeof(*x));
    memcpy(x->unit_id, unit_id ? unit_id : "", len);
    x->unit_id[len] = '\0';
    x->attempt = attempt;
    x->state = state;
    x->assign_clock = assign_clock;
}

arb_verdict arbiter_decide(const arb_attempt *attempts, size_t nattempts, const arb_result *winner,
                           const arb_submission *sub)
{
    const arb_attempt *mine = NULL;
    bool held = false;

    if (!sub)
        return ARB_FORBIDDEN;
    if (!attempts)
        nattempts = 0;
    for (size_t i = 0; i < nattempts; i++) {
        if (strcmp(attempts[i].unit_id, sub->r.unit_id) != 0)
            continue;
        held = true;
        if (attempts[i].attempt == sub->r.attempt)
            mine = &attempts[i];
    }
    /* Checked before the winner so that a unit with no business in the job
     * learns nothing about its outcome. */
    if (!held)
        return ARB_FORBIDDEN;
    if (winner) {
        if (strcmp(winner->unit_id, sub->r.unit_id) == 0 && winner->attempt == sub->r.attempt &&
            winner->digest == sub->r.digest)
            return ARB_RETRY;
        return ARB_REJECT;
    }
    /* A pending attempt was never confirmed by the executor, so nothing
     * done under it can be a report on the assignment. */
    if (!mine || mine->state == ATT_PENDING)
        return ARB_BAD_ATTEMPT;
    if (sub->clock && mine->assign_clock) {
        vc_order o = vclock_compare(sub->clock, mine->assign_clock);

        if (o != VC_AFTER && o != VC_EQUAL)
            return ARB_CAUSALITY;
    }
    /* Revoked attempts fall through on purpose: FCFS lets the crew that
     * actually finished the work be the record. */
    return ARB_ACCEPT;
}

const char *arb_verdict_str(arb_verdict v)
{
    switch (v) {
    case ARB_ACCEPT:
        return "accept";
    case ARB_RETRY:
        return "retry";
    case ARB_REJECT:
        return "reject";
    case ARB_FORBIDDEN:
        return "forbidden";
    case ARB_BAD_ATTEMPT:
        return "bad_attempt";
    case ARB_CAUSALITY:
        return "causality";
    default:
        return "unknown";
    }
}

/* ---- thread-safe table ---- */

typedef struct arb_job {
    arb_attempt *att; /* contiguous, so arbiter_decide reads it directly */
    vclock **clocks;  /* per attempt, heap-allocated so att[i].assign_clock
                       * survives growth of att */
    size_t n, cap;
    bool has_winner;
    arb_result winner;
} arb_job;

/* One lock for the table: a decision is a few string compares, far cheaper
 * than the SQLite write a real broker does under its own lock, so striping
 * would buy nothing measurable. */
struct arbiter {
    pthread_mutex_t mu;
    hmap *jobs; /* job id -> arb_job */
};

static void job_free(void *p)
{
    arb_job *j = p;

    if (!j)
        return;
    for (size_t i = 0; i < j->n; i++)
        free(j->clocks[i]);
    free(j->clocks);
    free(j->att);
    free(j);
}

arbiter_t *arbiter_new(void)
{
    arbiter_t *a = calloc(1, sizeof(*a));

    if (!a)
        return NULL;
    a->jobs = hmap_new();
    if (!a->jobs) {
        free(a);
        return NULL;
    }
    if (pthread_mutex_init(&a->mu, NULL) != 0) {
        hmap_free(a->jobs, NULL);
        free(a);
        return NULL;
    }
    return a;
}

void arbiter_free(arbiter_t *a)
{
    if (!a)
        return;
    hmap_free(a->jobs, job_free);
    pthread_mutex_destroy(&a->mu);
    free(a);
}

/* Makes room for one more attempt. Both arrays grow together so n indexes
 * both; a failure leaves the job as it was. */
static int job_reserve(arb_job *j)
{
    size_t ncap;
    arb_attempt *na;
    vclock **nc;

    if (j->n < j->cap)
        return COORD_OK;
    ncap = j->cap ? j->cap * 2 : 4;
    na = realloc(j->att, ncap * sizeof(*na));
    if (!na)
        return COORD_E_NOMEM;
    j->att = na;
    nc = realloc(j->clocks, ncap * sizeof(*nc));
    if (!nc)
        return COORD_E_NOMEM; /* att merely has spare room now */
    j->clocks = nc;
    j->cap = ncap;
    return COORD_OK;
}

int arbiter_add_attempt(arbiter_t *a, const char *job_id, const char *unit_id, uint32_t attempt,
                        const vclock *assign_clock)
{
    arb_job *j, *fresh = NULL;
    vclock *clk = NULL;
    int rc = COORD_OK;

    if (!a || !coord_id_valid(job_id) || !coord_id_valid(unit_id) || attempt == 0)
        return COORD_E_INVAL;
    /* Allocate outside the lock; most of the work is copying the clock. */
    if (assign_clock) {
        clk = malloc(sizeof(*clk));
        if (!clk)
            return COORD_E_NOMEM;
        vclock_copy(clk, assign_clock);
    }
    pthread_mutex_lock(&a->mu);
    j = hmap_get(a->jobs, job_id);
    if (!j) {
        fresh = calloc(1, sizeof(*fresh));
        if (!fresh) {
            rc = COORD_E_NOMEM;
            goto out;
        }
        j = fresh;
    }
    /* j is the map's entry or the fresh one (its failure jumped out);
     * cppcheck loses that across the goto. */
    // cppcheck-suppress nullPointerRedundantCheck
    for (size_t i = 0; i < j->n; i++) {
        if (j->att[i].attempt == attempt) {
            rc = COORD_E_EXISTS; /* attempt numbers are unique per job */
            goto out;
        }
    }
    rc = job_reserve(j);
    if (rc != COORD_OK)
        goto out;
    if (fresh) {
        rc = hmap_put(a->jobs, job_id, fresh, NULL);
        if (rc != COORD_OK)
            goto out;
        fresh = NULL; /* owned by the table now */
    }
    memset(&j->att[j->n], 0, sizeof(j->att[0]));
    memcpy(j->att[j->n].unit_id, unit_id, strlen(unit_id) + 1);
    j->att[j->n].attempt = attempt;
    /* The table has no separate confirmation step, so an attempt is held
     * from the moment it is registered. */
    j->att[j->n].state = ATT_ACTIVE;
    j->att[j->n].assign_clock = clk;
    j->clocks[j->n] = clk;
    j->n++;
    clk = NULL;
out:
    pthread_mutex_unlock(&a->mu);
    job_free(fresh);
    free(clk);
    return rc;
}

int arbiter_submit(arbiter_t *a, const char *job_id, const arb_submission *sub,
                   arb_result *winner_out)
{
    arb_job *j;
    arb_verdict v;

    if (!a || !job_id || !sub || !coord_id_valid(sub->r.unit_id))
        return COORD_E_INVAL;
    pthread_mutex_lock(&a->mu);
    j = hmap_get(a->jobs, job_id);
    if (!j) {
        pthread_mutex_unlock(&a->mu);
        return COORD_E_NOTFOUND;
    }
    v = arbiter_decide(j->att, j->n, j->has_winner ? &j->winner : NULL, sub);
    if (v == ARB_ACCEPT) {
        j->winner = sub->r;
        j->has_winner = true;
        for (size_t i = 0; i < j->n; i++) {
            if (strcmp(j->att[i].unit_id, sub->r.unit_id) == 0 &&
                j->att[i].attempt == sub->r.attempt)
                j->att[i].state = ATT_FINISHED;
        }
    }
    if (winner_out && (v == ARB_ACCEPT || v == ARB_RETRY || v == ARB_REJECT))
        *winner_out = j->winner;
    pthread_mutex_unlock(&a->mu);
    return (int)v;
}
