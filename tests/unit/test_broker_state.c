/* The broker's district without SQLite, HTTP or JSON: state.c, jobs.c,
 * units.c, remote.c and peertab.c on their own, in milliseconds. Dispatch
 * order, queue yield, preemption, requeue on loss, applying a pulled page,
 * the borrowed-unit rules and the accepted result releasing every other
 * holder; claims repaired from copies both ways, what a peer's copies may
 * not write, the per-peer caps, releases waiting for their peer; the crews'
 * status steps (steps.c) and what cleared frees. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jobs.h"
#include "peertab.h"
#include "remote.h"
#include "state.h"
#include "steps.h"
#include "unit.h"
#include "units.h"

#define SELF "Downtown"
#define NOW  1000000u

static const char *const FIRE[] = {"firefighting", "rescue"};
static const char *const EMS[] = {"medical", "transport"};
static const char *const NEED_FIRE[] = {"firefighting"};
static const char *const NEED_MED[] = {"medical"};

static state S;

static void setup(void)
{
    ck_assert_int_eq(state_init(&S, SELF, 3000), COORD_OK);
}

static void teardown(void)
{
    state_release(&S);
}

static unit *add_unit(const char *id, const char *const *caps, size_t ncaps, uint32_t capacity)
{
    unit_reg r = {
        .id = id,
        .kind = "kind",
        .url = "http://127.0.0.1:1",
        .caps = caps,
        .ncaps = ncaps,
        .capacity = capacity,
    };
    unit *u;
    bool created, back;

    ck_assert_int_eq(state_register_unit(&S, &r, NOW, NOW, &u, &created, &back), 0);
    ck_assert(created);
    return u;
}

static job *submit(const char *id, severity sev, const char *const *caps, size_t ncaps)
{
    job_submission sub = {.id = id, .type = "incident", .sev = sev, .caps = caps, .ncaps = ncaps};
    job *j;

    ck_assert_int_eq(state_submit(&S, &sub, NOW, &j), COORD_OK);
    j->dispatching = false; /* as after its submitter's dispatch */
    return j;
}

/* Reserve and confirm: the job is assigned to one of our units. */
static uint32_t assign_local(job *j, unit *u)
{
    vclock vc;
    uint32_t n;

    vclock_init(&vc);
    vclock_set(&vc, SELF, 7);
    ck_assert_int_eq(state_reserve(&S, j, u, u->id, SELF, &vc, NOW, &n), COORD_OK);
    ck_assert_int_eq(state_confirm(&S, j, n, NOW), COORD_OK);
    j->dispatching = false;
    return n;
}

/* The same through a claim at another district. */
static uint32_t assign_borrowed(job *j, const char *unit_id, const char *home)
{
    vclock vc;
    uint32_t n;

    vclock_init(&vc);
    ck_assert_int_eq(state_reserve(&S, j, NULL, unit_id, home, &vc, NOW, &n), COORD_OK);
    ck_assert_int_eq(state_confirm(&S, j, n, NOW), COORD_OK);
    j->dispatching = false;
    return n;
}

static const notice *last_notice(const unit *u)
{
    return u->nnotices ? &u->notices[u->nnotices - 1] : NULL;
}

/* ---- dispatch order ---- */

START_TEST(test_pick_fewest_jobs_then_id_among_capable)
{
    unit *a = add_unit("LAFD-2", FIRE, 2, 2);
    unit *b = add_unit("LAFD-1", FIRE, 2, 2);
    add_unit("EMS-3", EMS, 2, 1);
    job *j1 = submit("J1", SEV_HIGH, NEED_FIRE, 1);
    char tried[2][COORD_ID_MAX + 1];

    /* Equal load: the lower id. Never the ambulance (capability index). */
    ck_assert_ptr_eq(state_pick_unit(&S, j1, NULL, 0, 0, 0, NULL), b);
    assign_local(j1, b);
    /* Now LAFD-1 holds one: the other has fewer. */
    job *j2 = submit("J2", SEV_HIGH, NEED_FIRE, 1);
    ck_assert_ptr_eq(state_pick_unit(&S, j2, NULL, 0, 0, 0, NULL), a);
    snprintf(tried[0], sizeof(tried[0]), "LAFD-2");
    ck_assert_ptr_eq(state_pick_unit(&S, j2, tried, 1, 0, 0, NULL), b);
    snprintf(tried[1], sizeof(tried[1]), "LAFD-1");
    ck_assert_ptr_null(state_pick_unit(&S, j2, tried, 2, 0, 0, NULL));
    /* A medical job finds only the ambulance. */
    job *j3 = submit("J3", SEV_LOW, NEED_MED, 1);
    ck_assert_str_eq(state_pick_unit(&S, j3, NULL, 0, 0, 0, NULL)->id, "EMS-3");
    /* Lost and out-of-service units are not picked. */
    ck_assert_int_eq(unit_set_cond(&a->cond, UNIT_COND_LOST), COORD_OK);
    ck_assert_ptr_eq(state_pick_unit(&S, j2, NULL, 0, 0, 0, NULL), b);
    ck_assert_int_eq(unit_set_cond(&b->cond, UNIT_COND_OFF), COORD_OK);
    ck_assert_ptr_null(state_pick_unit(&S, j2, NULL, 0, 0, 0, NULL));
}
END_TEST

START_TEST(test_queue_severity_then_age_and_yield)
{
    unit *u = add_unit("LAFD-1", FIRE, 2, 1);
    job *low_old = submit("low-old", SEV_LOW, NEED_FIRE, 1);
    job *crit = submit("crit", SEV_CRITICAL, NEED_FIRE, 1);
    job *low_new = submit("low-new", SEV_LOW, NEED_FIRE, 1);
    job *med = submit("med", SEV_MEDIUM, NEED_MED, 1);
    jobq_item q[8];
    size_t n = jobq_snapshot(S.queue, q, 8);

    ck_assert_uint_eq(n, 4);
    ck_assert_str_eq(q[0].id, "crit");
    ck_assert_str_eq(q[1].id, "med");
    ck_assert_str_eq(q[2].id, "low-old");
    ck_assert_str_eq(q[3].id, "low-new");
    /* The unit goes to the critical job first, whoever dispatches. */
    ck_assert(state_yields(&S, low_old, u));
    ck_assert(state_yields(&S, med, u));
    ck_assert(!state_yields(&S, crit, u));
    /* A job being dispatched by someone else does not hold the unit back. */
    crit->dispatching = true;
    ck_assert(!state_yields(&S, low_old, u));
    crit->dispatching = false;
    assign_local(crit, u);
    ck_assert(!jobq_contains(S.queue, "crit"));
    unit *u2 = add_unit("LAFD-9", FIRE, 2, 1);
    /* The medical job ahead cannot use a fire engine: no yield to it. */
    ck_assert(!state_yields(&S, low_old, u2));
    /* Equal severity: the older one first. */
    ck_assert(state_yields(&S, low_new, u2));
}
END_TEST

/* ---- loss and requeue ---- */

START_TEST(test_unit_lost_requeues_its_jobs)
{
    unit *u = add_unit("LAFD-2", FIRE, 2, 2);
    job *a = submit("A", SEV_HIGH, NEED_FIRE, 1);
    uint32_t na = assign_local(a, u);
    lost_items items;

    ck_assert_int_eq(state_claim_reserve(&S, u, "W1", 3, "Westside", NEED_FIRE, 1), CLAIM_RESERVED);
    ck_assert(state_claim_settle(&S, u, "W1", 3, true));
    ck_assert_uint_eq(u->load, 2);
    ck_assert_int_eq(state_unit_lost(&S, u, NOW + 5, &items), COORD_OK);
    ck_assert(unit_cond_lost(u->cond));
    ck_assert_int_eq(unit_shown_status(u), UNIT_LOST);
    ck_assert_uint_eq(u->load, 0);
    ck_assert_uint_eq(items.n, 2);
    ck_assert_uint_eq(items.moved, 1);
    for (size_t i = 0; i < items.n; i++) {
        if (items.v[i].foreign) {
            ck_assert_str_eq(items.v[i].job_id, "W1");
            ck_assert_str_eq(items.v[i].owner, "Westside");
        } else {
            ck_assert_str_eq(items.v[i].job_id, "A");
            ck_assert(items.v[i].requeued);
        }
    }
    free(items.v);
    ck_assert_int_eq(a->status, JOB_QUEUED);
    ck_assert(jobq_contains(S.queue, "A"));
    ck_assert_int_eq(job_attempt(a, na)->state, ATT_REVOKED);
    ck_assert_uint_eq(a->updated_ms, NOW + 5);
    ck_assert_uint_eq(u->nnotices, 2); /* told when it comes back */
    /* The detector does not judge a lost unit again. */
    ck_assert_int_eq(state_unit_lost(&S, u, NOW, &items), COORD_E_TRANSITION);
    /* A heartbeat brings it back. */
    ck_assert(state_unit_heard(&S, u, NOW + 9, 10));
    ck_assert_int_eq(unit_shown_status(u), UNIT_AVAILABLE);
    ck_assert(!state_unit_heard(&S, u, NOW + 10, 11));
}
END_TEST

START_TEST(test_requeue_is_the_one_way_and_illegal_is_refused)
{
    unit *u = add_unit("LAFD-1", FIRE, 2, 1);
    job *j = submit("J", SEV_HIGH, NEED_FIRE, 1);
    uint32_t n = assign_local(j, u);
    attempt *a = job_attempt(j, n);

    ck_assert_int_eq(state_requeue(&S, j, a, NOW, "redeployed"), 1);
    ck_assert_str_eq(last_notice(u)->reason, "redeployed");
    ck_assert_uint_eq(u->load, 0);
    /* A revoked attempt cannot be revoked again: refused, nothing moves. */
    ck_assert_int_eq(state_requeue(&S, j, a, NOW, "redeployed"), COORD_E_TRANSITION);
    ck_assert_uint_eq(jobq_size(S.queue), 1);
    /* Nor confirmed again. */
    ck_assert_int_eq(state_confirm(&S, j, n, NOW), COORD_E_TRANSITION);
    ck_assert_int_eq(j->status, JOB_QUEUED);
}
END_TEST

/* ---- preemption ---- */

START_TEST(test_preemption_victim_only_in_emergency)
{
    unit *u1 = add_unit("LAFD-1", FIRE, 2, 1);
    unit *u0 = add_unit("LAFD-0", FIRE, 2, 1);
    job *low1 = submit("low-1", SEV_LOW, NEED_FIRE, 1);
    job *low0 = submit("low-0", SEV_LOW, NEED_FIRE, 1);
    assign_local(low1, u1);
    uint32_t n0 = assign_local(low0, u0);
    job *crit = submit("crit", SEV_CRITICAL, NEED_FIRE, 1);
    preemption p;

    ck_assert_int_eq(state_preempt(&S, crit, SEV_MEDIUM, NOW, &p), 0);
    ck_assert_int_eq(low0->status, JOB_ASSIGNED);
    ck_assert_int_eq(state_preempt(&S, crit, SEV_HIGH, NOW, &p), 1);
    /* The lowest unit id loses its low-severity job. */
    ck_assert_str_eq(p.unit_id, "LAFD-0");
    ck_assert_str_eq(p.job_id, "low-0");
    ck_assert_uint_eq(p.attempt, n0);
    ck_assert_int_eq(low0->status, JOB_QUEUED);
    ck_assert_int_eq(low1->status, JOB_ASSIGNED);
    ck_assert_uint_eq(u0->load, 0);
    ck_assert_str_eq(last_notice(u0)->reason, "preempted");
    ck_assert(state_pick_unit(&S, crit, NULL, 0, 0, 0, NULL) == u0);
    /* A medium job is never a victim. */
    job *med = submit("med", SEV_MEDIUM, NEED_FIRE, 1);
    assign_local(med, u0);
    job *crit2 = submit("crit2", SEV_CRITICAL, NEED_FIRE, 1);
    ck_assert_int_eq(state_preempt(&S, crit2, SEV_CRITICAL, NOW, &p), 1);
    ck_assert_str_eq(p.job_id, "low-1");
    ck_assert_int_eq(state_preempt(&S, crit2, SEV_CRITICAL, NOW, &p), 0);
}
END_TEST

/* ---- the accepted result ---- */

START_TEST(test_accept_releases_every_other_holder)
{
    unit *a = add_unit("LAFD-2", FIRE, 2, 1);
    unit *c = add_unit("LAFD-5", FIRE, 2, 1);
    job *j = submit("bldg-C", SEV_CRITICAL, NEED_FIRE, 1);
    uint32_t n1 = assign_local(j, a);
    followups fu = {0};
    lost_items items;

    /* LAFD-2 goes silent: the job moves to LAFD-5 as attempt 2. */
    ck_assert_int_eq(state_unit_lost(&S, a, NOW, &items), COORD_OK);
    free(items.v);
    uint32_t n2 = assign_local(j, c);
    ck_assert_uint_ne(n1, n2);
    /* The lost unit's late report is first: it wins (FCFS). */
    result *rr = calloc(1, sizeof(*rr));
    snprintf(rr->unit_id, sizeof(rr->unit_id), "LAFD-2");
    rr->attempt = n1;
    snprintf(rr->outcome, sizeof(rr->outcome), "contained");
    rr->data = strdup("{}");
    ck_assert_int_eq(state_accept_result(&S, j, rr, NOW + 1, &fu), COORD_OK);
    ck_assert_int_eq(j->status, JOB_COMPLETED);
    ck_assert_int_eq(job_attempt(j, n1)->state, ATT_FINISHED);
    ck_assert_int_eq(job_attempt(j, n2)->state, ATT_REVOKED);
    ck_assert_uint_eq(c->load, 0);
    ck_assert_str_eq(last_notice(c)->reason, "result_accepted");
    ck_assert_uint_eq(fu.n, 1);
    ck_assert(!fu.v[0].release);
    ck_assert_str_eq(fu.v[0].url, c->url);
    ck_assert_uint_eq(fu.v[0].attempt, n2);
    followups_release(&fu);
    /* A second result cannot be recorded. */
    result dup = *rr;
    ck_assert_int_eq(state_accept_result(&S, j, &dup, NOW, &fu), COORD_E_TRANSITION);
    ck_assert_uint_eq(fu.n, 0);
    ck_assert_int_eq(state_cancel(&S, j, NOW, &fu), COORD_E_TRANSITION);
}
END_TEST

START_TEST(test_accept_releases_a_borrowed_holder_at_its_home)
{
    unit *a = add_unit("LAFD-1", FIRE, 2, 1);
    job *j = submit("J", SEV_HIGH, NEED_FIRE, 1);
    uint32_t n1 = assign_local(j, a);
    followups fu = {0};
    attempt *a1 = job_attempt(j, n1);

    ck_assert_int_eq(state_requeue(&S, j, a1, NOW, "redeployed"), 1);
    uint32_t n2 = assign_borrowed(j, "LAFD-5", "Westside");
    ck_assert_ptr_eq(hmap_get(S.borrowed, "J"), j);
    result *rr = calloc(1, sizeof(*rr));
    snprintf(rr->unit_id, sizeof(rr->unit_id), "LAFD-5");
    rr->attempt = n2;
    ck_assert_int_eq(state_accept_result(&S, j, rr, NOW, &fu), COORD_OK);
    ck_assert_uint_eq(fu.n, 1);
    ck_assert(fu.v[0].release);
    ck_assert_str_eq(fu.v[0].district, "Westside");
    ck_assert_str_eq(fu.v[0].unit_id, "LAFD-5");
    ck_assert_str_eq(fu.v[0].reason, "finished");
    ck_assert_ptr_null(hmap_get(S.borrowed, "J"));
    followups_release(&fu);
}
END_TEST

START_TEST(test_cancel_tells_every_holder)
{
    unit *a = add_unit("LAFD-1", FIRE, 2, 1);
    job *j = submit("J", SEV_HIGH, NEED_FIRE, 1);
    job *q = submit("Q", SEV_LOW, NEED_FIRE, 1);
    followups fu = {0};

    assign_local(j, a);
    ck_assert_int_eq(state_cancel(&S, j, NOW, &fu), COORD_OK);
    ck_assert_int_eq(j->status, JOB_CANCELLED);
    ck_assert_uint_eq(a->load, 0);
    ck_assert_uint_eq(fu.n, 1);
    ck_assert_str_eq(fu.v[0].reason, "cancelled");
    followups_release(&fu);
    ck_assert_int_eq(state_cancel(&S, q, NOW, &fu), COORD_OK);
    ck_assert(!jobq_contains(S.queue, "Q"));
    ck_assert_uint_eq(fu.n, 0);
}
END_TEST

/* ---- borrowed-unit rules at the home broker ---- */

START_TEST(test_claims_supersede_retry_and_release)
{
    unit *u = add_unit("LAFD-5", FIRE, 2, 1);

    ck_assert_int_eq(state_claim_reserve(&S, u, "W1", 1, "Westside", NEED_MED, 1), CLAIM_NOT_FREE);
    ck_assert_int_eq(state_claim_reserve(&S, u, "W1", 1, "Westside", NEED_FIRE, 1), CLAIM_RESERVED);
    /* While the executor is asked, the unit is taken. */
    ck_assert_int_eq(state_claim_reserve(&S, u, "V1", 1, "Valley", NEED_FIRE, 1), CLAIM_NOT_FREE);
    ck_assert_int_eq(state_claim_reserve(&S, u, "W1", 1, "Westside", NEED_FIRE, 1),
                     CLAIM_HELD_OTHER);
    ck_assert(state_claim_settle(&S, u, "W1", 1, true));
    ck_assert_int_eq(state_claim_reserve(&S, u, "W1", 1, "Westside", NEED_FIRE, 1), CLAIM_RETRY);
    ck_assert_int_eq(unit_shown_status(u), UNIT_BUSY);
    /* The owner moved its job to attempt 2 on the same unit: supersedes. */
    ck_assert_int_eq(state_claim_reserve(&S, u, "W1", 2, "Westside", NEED_FIRE, 1), CLAIM_RESERVED);
    ck_assert_uint_eq(u->load, 1);
    ck_assert_uint_eq(unit_find_held(u, "W1", 0)->attempt, 2);
    /* An older attempt is not a supersede. */
    ck_assert_int_eq(state_claim_reserve(&S, u, "W1", 1, "Westside", NEED_FIRE, 1),
                     CLAIM_HELD_OTHER);
    /* The executor did not take attempt 2: the slot is free again. */
    ck_assert(!state_claim_settle(&S, u, "W1", 2, false));
    ck_assert_uint_eq(u->load, 0);
    ck_assert_int_eq(state_claim_reserve(&S, u, "W1", 3, "Westside", NEED_FIRE, 1), CLAIM_RESERVED);
    ck_assert(state_claim_settle(&S, u, "W1", 3, true));
    ck_assert(!state_release_claim(&S, u, "W1", 2));
    ck_assert(state_release_claim(&S, u, "W1", 3));
    ck_assert_int_eq(unit_shown_status(u), UNIT_AVAILABLE);
    ck_assert(!state_release_claim(&S, u, "W1", 3));
}
END_TEST

START_TEST(test_claim_on_a_lost_unit_does_not_stand)
{
    unit *u = add_unit("LAFD-5", FIRE, 2, 1);
    lost_items items;

    ck_assert_int_eq(state_claim_reserve(&S, u, "W1", 1, "Westside", NEED_FIRE, 1), CLAIM_RESERVED);
    ck_assert_int_eq(state_unit_lost(&S, u, NOW, &items), COORD_OK);
    ck_assert_uint_eq(items.n, 0); /* pending: the claim in flight settles it */
    free(items.v);
    ck_assert(!state_claim_settle(&S, u, "W1", 1, true));
    ck_assert_uint_eq(u->load, 0);
}
END_TEST

/* ---- applying a pulled page ---- */

static runit copy_unit(const char *id, unit_status shown, uint32_t njobs, const peer *p)
{
    runit c;

    memset(&c, 0, sizeof(c));
    snprintf(c.id, sizeof(c.id), "%s", id);
    snprintf(c.kind, sizeof(c.kind), "fire");
    snprintf(c.district, sizeof(c.district), "%s", p->id);
    snprintf(c.from, sizeof(c.from), "%s", p->id);
    ck_assert_int_eq(capset_set(&c.caps, S.strings, FIRE, 2), COORD_OK);
    c.shown = shown;
    c.capacity = 2;
    c.njobs = njobs;
    if (njobs) {
        c.jobs = calloc(njobs, sizeof(*c.jobs));
        for (uint32_t i = 0; i < njobs; i++)
            snprintf(c.jobs[i], sizeof(c.jobs[i]), "X%u", i);
    }
    c.last_hb_ago = -1;
    c.gen = p->gen;
    return c;
}

static rjob copy_job(const char *id, const peer *p)
{
    rjob c;

    memset(&c, 0, sizeof(c));
    snprintf(c.id, sizeof(c.id), "%s", id);
    snprintf(c.from, sizeof(c.from), "%s", p->id);
    c.gen = p->gen;
    return c;
}

START_TEST(test_page_own_ids_lost_borrowed_and_sweep)
{
    peertab pt = {0};
    remote r;
    size_t idx;
    bool added;
    copy_outcome out;
    char(*gone)[COORD_ID_MAX + 1];
    size_t ngone;

    ck_assert_int_eq(remote_init(&r, S.strings), COORD_OK);
    ck_assert_int_eq(peertab_add(&pt, SELF, "Westside", "http://w", 0, &idx, &added), COORD_OK);
    peer *p = &pt.v[idx];
    add_unit("LAFD-1", FIRE, 2, 1);
    job *mine = submit("mine", SEV_HIGH, NEED_FIRE, 1);
    uint32_t n = assign_borrowed(mine, "LAFD-5", "Westside");

    /* A first full sync, one page. */
    peer_page_begin(p, true, NULL);
    ck_assert_uint_eq(p->gen, 1);
    runit c = copy_unit("LAFD-1", UNIT_AVAILABLE, 0, p); /* our id: ignored */
    remote_apply_unit(&r, &S, &c, NOW, &out);
    ck_assert(out.ignored == COPY_OWN_ID && !out.stored);
    ck_assert_ptr_null(remote_unit(&r, "LAFD-1"));
    c = copy_unit("LAFD-5", UNIT_BUSY, 1, p);
    remote_apply_unit(&r, &S, &c, NOW, &out);
    ck_assert(out.stored && out.ignored == COPY_KEPT && out.nrequeued == 0);
    c = copy_unit("LAFD-6", UNIT_AVAILABLE, 0, p);
    remote_apply_unit(&r, &S, &c, NOW, &out);
    ck_assert(out.stored && !out.may_aid); /* nothing waits here */
    rjob jc = copy_job("mine", p);
    remote_apply_job(&r, &S, &jc, &out);
    ck_assert(out.ignored == COPY_OWN_ID);
    jc = copy_job("theirs", p);
    remote_apply_job(&r, &S, &jc, &out);
    ck_assert(out.stored);
    ck_assert(peer_page_end(p, false));
    ck_assert_int_eq(remote_sweep(&r, 'u', p->id, p->gen, &gone, &ngone), COORD_OK);
    ck_assert_uint_eq(ngone, 0);
    free(gone);

    /* An incremental page: the borrowed unit is lost at its home. */
    peer_page_begin(p, false, NULL);
    c = copy_unit("LAFD-5", UNIT_LOST, 0, p);
    remote_apply_unit(&r, &S, &c, NOW + 7, &out);
    ck_assert_uint_eq(out.nrequeued, 1);
    ck_assert_ptr_eq(out.requeued[0], mine);
    ck_assert_int_eq(mine->status, JOB_QUEUED);
    ck_assert_int_eq(job_attempt(mine, n)->state, ATT_REVOKED);
    ck_assert_ptr_null(hmap_get(S.borrowed, "mine"));
    ck_assert_int_eq(remote_unit(&r, "LAFD-5")->shown, UNIT_LOST);
    ck_assert(!peer_page_end(p, false)); /* not a full sync: nothing to sweep */

    /* A free unit there while our job waits: mutual aid may help. */
    c = copy_unit("LAFD-6", UNIT_AVAILABLE, 0, p);
    remote_apply_unit(&r, &S, &c, NOW, &out);
    ck_assert(out.may_aid);
    char uid[COORD_ID_MAX + 1], home[COORD_ID_MAX + 1];
    ck_assert(remote_pick_unit(&r, &pt, mine, NULL, 0, 0, STATE_MAX_FIX_AGE_MS, uid, home, NULL));
    ck_assert_str_eq(uid, "LAFD-6");
    ck_assert_str_eq(home, "Westside");

    /* It restarted: a new full sync in two pages confirms only LAFD-6. */
    peer_page_begin(p, true, NULL);
    ck_assert_uint_eq(p->gen, 2);
    peer_page_begin(p, true, NULL); /* the second page of the same sync */
    ck_assert_uint_eq(p->gen, 2);
    c = copy_unit("LAFD-6", UNIT_AVAILABLE, 0, p);
    remote_apply_unit(&r, &S, &c, NOW, &out);
    ck_assert(!peer_page_end(p, true));
    ck_assert(peer_page_end(p, false));
    ck_assert_int_eq(remote_sweep(&r, 'u', p->id, p->gen, &gone, &ngone), COORD_OK);
    ck_assert_uint_eq(ngone, 1);
    ck_assert_str_eq(gone[0], "LAFD-5");
    free(gone);
    ck_assert_int_eq(remote_sweep(&r, 'j', p->id, p->gen, &gone, &ngone), COORD_OK);
    ck_assert_uint_eq(ngone, 1);
    ck_assert_str_eq(gone[0], "theirs");
    free(gone);
    ck_assert_ptr_null(remote_unit(&r, "LAFD-5"));
    ck_assert_ptr_nonnull(remote_unit(&r, "LAFD-6"));
    remote_release(&r);
}
END_TEST

START_TEST(test_mutual_aid_ranking_on_copies)
{
    peertab pt = {0};
    remote r;
    size_t idx;
    bool added;
    copy_outcome out;
    char uid[COORD_ID_MAX + 1], home[COORD_ID_MAX + 1], tried[1][COORD_ID_MAX + 1];

    ck_assert_int_eq(remote_init(&r, S.strings), COORD_OK);
    peertab_add(&pt, SELF, "Westside", "http://w", 0, &idx, &added);
    peertab_add(&pt, SELF, "Valley", "http://v", 0, &idx, &added);
    job *j = submit("J", SEV_HIGH, NEED_FIRE, 1);
    runit c = copy_unit("W-2", UNIT_AVAILABLE, 1, &pt.v[0]);
    remote_apply_unit(&r, &S, &c, NOW, &out);
    c = copy_unit("W-9", UNIT_AVAILABLE, 0, &pt.v[0]);
    remote_apply_unit(&r, &S, &c, NOW, &out);
    c = copy_unit("V-1", UNIT_AVAILABLE, 0, &pt.v[1]);
    remote_apply_unit(&r, &S, &c, NOW, &out);
    c = copy_unit("V-0", UNIT_BUSY, 0, &pt.v[1]); /* busy at home, whatever it lists */
    remote_apply_unit(&r, &S, &c, NOW, &out);
    /* Fewest jobs, then id; never a busy one. */
    ck_assert(remote_pick_unit(&r, &pt, j, NULL, 0, 0, STATE_MAX_FIX_AGE_MS, uid, home, NULL));
    ck_assert_str_eq(uid, "V-1");
    ck_assert_str_eq(home, "Valley");
    snprintf(tried[0], sizeof(tried[0]), "V-1");
    ck_assert(remote_pick_unit(&r, &pt, j, tried, 1, 0, STATE_MAX_FIX_AGE_MS, uid, home, NULL));
    ck_assert_str_eq(uid, "W-9");
    /* Never an ambulance for a fire. */
    job *m = submit("M", SEV_HIGH, NEED_MED, 1);
    ck_assert(!remote_pick_unit(&r, &pt, m, NULL, 0, 0, STATE_MAX_FIX_AGE_MS, uid, home, NULL));
    remote_release(&r);
}
END_TEST

/* ---- the closest unit (libcoord rank.h) ---- */

static job *submit_at(const char *id, double lat, double lon)
{
    job *j = submit(id, SEV_HIGH, NEED_FIRE, 1);

    j->has_geo = true;
    j->geo = (geo_point){lat, lon};
    return j;
}

START_TEST(test_pick_closest_by_fix_then_station_then_order)
{
    unit *a = add_unit("LAFD-1", FIRE, 2, 1);
    unit *b = add_unit("LAFD-2", FIRE, 2, 1);
    unit *c = add_unit("LAFD-3", FIRE, 2, 1);
    job *j = submit_at("J", 34.05, -118.25);
    rank_reason why = {0};
    char text[RANK_REASON_MAX];

    /* Nobody has a position: today's order, and it says so. */
    ck_assert_ptr_eq(state_pick_unit(&S, j, NULL, 0, 0, NOW, &why), a);
    ck_assert_int_eq(why.why, RANK_WHY_NO_POSITION);
    /* C's station is 1.1 km away; B's 16.7 km. */
    c->pos.has_station = true;
    c->pos.station = (geo_point){34.06, -118.25};
    b->pos.has_station = true;
    b->pos.station = (geo_point){34.2, -118.25};
    ck_assert_ptr_eq(state_pick_unit(&S, j, NULL, 0, 0, NOW, &why), c);
    ck_assert_str_eq(rank_reason_text(&why, text, sizeof(text)), "closest: 1.1 km, station");
    /* B's fresh fix is at the scene: the fix wins over both stations. */
    ck_assert(state_unit_fix(&S, b, (geo_point){34.0501, -118.25}, NOW - 2000));
    ck_assert_ptr_eq(state_pick_unit(&S, j, NULL, 0, 0, NOW, &why), b);
    ck_assert_str_eq(rank_reason_text(&why, text, sizeof(text)), "closest: 0.0 km, fix 2 s old");
    /* Past --max-fix-age it ranks by its station again. */
    S.max_fix_age_ms = 1000;
    ck_assert_ptr_eq(state_pick_unit(&S, j, NULL, 0, 0, NOW, &why), c);
    /* A job without a location: today's order. */
    job *k = submit("K", SEV_HIGH, NEED_FIRE, 1);
    ck_assert_ptr_eq(state_pick_unit(&S, k, NULL, 0, 0, NOW, &why), a);
    ck_assert_int_eq(why.why, RANK_WHY_NO_LOCATION);
    /* Never a full unit, however close. */
    assign_local(k, c);
    ck_assert_ptr_eq(state_pick_unit(&S, j, NULL, 0, 0, NOW, &why), b);
}
END_TEST

START_TEST(test_a_pool_past_the_inline_buffer_is_ranked_whole)
{
    char id[32];
    unit *last = NULL;

    /* 100 fire units, each farther north; the nearest registered last. */
    for (int i = 0; i < 100; i++) {
        snprintf(id, sizeof(id), "U-%03d", i);
        last = add_unit(id, FIRE, 2, 1);
        last->pos.has_station = true;
        last->pos.station = (geo_point){35.0 - i * 0.01, -118.25};
    }
    job *j = submit_at("J", 34.0, -118.25);
    ck_assert_ptr_eq(state_pick_unit(&S, j, NULL, 0, 0, NOW, NULL), last);
}
END_TEST

START_TEST(test_a_fix_enters_the_sync_delta_only_when_it_matters)
{
    unit *u = add_unit("LAFD-1", FIRE, 2, 1);
    uint64_t v;

    S.max_fix_age_ms = 60000;
    /* The first fix is news. */
    ck_assert(state_unit_fix(&S, u, (geo_point){34.05, -118.25}, NOW));
    v = u->chg.version;
    /* 50 m further and 10 s later: kept, not published. */
    ck_assert(!state_unit_fix(&S, u, (geo_point){34.0504, -118.25}, NOW + 10000));
    ck_assert_uint_eq(u->chg.version, v);
    ck_assert(u->pos.fix.lat == 34.0504 && u->pos.fix_ms == NOW + 10000);
    /* An older fix arriving late changes nothing. */
    ck_assert(!state_unit_fix(&S, u, (geo_point){1, 1}, NOW + 5000));
    ck_assert(u->pos.fix.lat == 34.0504);
    /* Moved 150 m from what peers saw: published. */
    ck_assert(state_unit_fix(&S, u, (geo_point){34.0514, -118.25}, NOW + 11000));
    ck_assert_uint_gt(u->chg.version, v);
    v = u->chg.version;
    /* In place, but what peers saw is half of max_fix_age old: published. */
    ck_assert(!state_unit_fix(&S, u, (geo_point){34.0514, -118.25}, NOW + 40000));
    ck_assert(state_unit_fix(&S, u, (geo_point){34.0514, -118.25}, NOW + 41000));
    ck_assert_uint_gt(u->chg.version, v);
}
END_TEST

START_TEST(test_mutual_aid_ranks_copies_by_position)
{
    peertab pt = {0};
    remote r;
    size_t idx;
    bool added;
    copy_outcome out;
    rank_reason why = {0};
    char uid[COORD_ID_MAX + 1], home[COORD_ID_MAX + 1], text[RANK_REASON_MAX];

    ck_assert_int_eq(remote_init(&r, S.strings), COORD_OK);
    peertab_add(&pt, SELF, "Westside", "http://w", 0, &idx, &added);
    job *j = submit_at("J", 34.05, -118.25);
    runit c = copy_unit("W-1", UNIT_AVAILABLE, 0, &pt.v[0]);
    c.pos.has_station = true;
    c.pos.station = (geo_point){34.2, -118.25};
    remote_apply_unit(&r, &S, &c, NOW, &out);
    /* W-2's home showed a fix 3 s old when we fetched it 2 s ago. */
    c = copy_unit("W-2", UNIT_AVAILABLE, 0, &pt.v[0]);
    c.pos.has_fix = true;
    c.pos.fix = (geo_point){34.08, -118.25};
    c.fix_age_ms = 3000;
    c.fetched_wall_ms = NOW - 2000;
    remote_apply_unit(&r, &S, &c, NOW, &out);
    ck_assert(remote_pick_unit(&r, &pt, j, NULL, 0, NOW, 60000, uid, home, &why));
    ck_assert_str_eq(uid, "W-2");
    ck_assert_str_eq(rank_reason_text(&why, text, sizeof(text)), "closest: 3.3 km, fix 5 s old");
    /* With a 4 s --max-fix-age that fix is stale: W-1's station counts. */
    ck_assert(remote_pick_unit(&r, &pt, j, NULL, 0, NOW, 4000, uid, home, &why));
    ck_assert_str_eq(uid, "W-1");
    ck_assert_int_eq(why.why, RANK_WHY_STATION);
    remote_release(&r);
}
END_TEST

START_TEST(test_copies_are_capped_per_peer)
{
    remote r;
    peertab pt = {0};
    size_t idx;
    bool added;
    char id[COORD_ID_MAX + 1];

    ck_assert_int_eq(remote_init(&r, S.strings), COORD_OK);
    peertab_add(&pt, SELF, "Westside", "http://w", 0, &idx, &added);
    for (unsigned i = 0; i < REMOTE_MAX_UNITS_PER_PEER; i++) {
        runit c;

        memset(&c, 0, sizeof(c));
        snprintf(c.id, sizeof(c.id), "U%u", i);
        snprintf(c.from, sizeof(c.from), "Westside");
        ck_assert_int_eq(remote_put_unit(&r, &c), COORD_OK);
    }
    runit extra;
    memset(&extra, 0, sizeof(extra));
    snprintf(extra.id, sizeof(extra.id), "one-too-many");
    snprintf(extra.from, sizeof(extra.from), "Westside");
    ck_assert_int_eq(remote_put_unit(&r, &extra), COORD_E_RANGE);
    ck_assert_uint_eq(r.refused, 1);
    /* Replacing a copy it holds is no growth. */
    memset(&extra, 0, sizeof(extra));
    snprintf(id, sizeof(id), "U7");
    snprintf(extra.id, sizeof(extra.id), "%s", id);
    snprintf(extra.from, sizeof(extra.from), "Westside");
    ck_assert_int_eq(remote_put_unit(&r, &extra), COORD_OK);
    ck_assert_uint_eq(hmap_size(r.units), REMOTE_MAX_UNITS_PER_PEER);
    remote_release(&r);
}
END_TEST

/* ---- claims repaired from copies (issue 9: model rules F3B, F3C, F6) ---- */

/* A claim the home committed for job_id attempt n of owner. */
static void lend(unit *u, const char *job_id, uint32_t n, const char *owner)
{
    ck_assert_int_eq(state_claim_reserve(&S, u, job_id, n, owner, NEED_FIRE, 1), CLAIM_RESERVED);
    ck_assert(state_claim_settle(&S, u, job_id, n, true));
}

START_TEST(test_claim_drop_ends_a_standing_claim_only)
{
    unit *u = add_unit("LAFD-5", FIRE, 2, 1);

    ck_assert_int_eq(state_claim_reserve(&S, u, "W1", 1, "Westside", NEED_FIRE, 1), CLAIM_RESERVED);
    ck_assert_ptr_nonnull(state_lent(&S, "W1"));
    /* A lend in flight is its settle's to decide. */
    ck_assert(!state_claim_drop(&S, u, "W1", 1));
    ck_assert(state_claim_settle(&S, u, "W1", 1, true));
    uint64_t v = u->chg.version;
    ck_assert(!state_claim_drop(&S, u, "W1", 2));
    ck_assert(state_claim_drop(&S, u, "W1", 1));
    ck_assert_uint_eq(u->load, 0);
    ck_assert_int_eq(unit_shown_status(u), UNIT_AVAILABLE);
    /* Touched: peers are signalled, the owner's next pull sees it. */
    ck_assert_uint_gt(u->chg.version, v);
    ck_assert_ptr_null(state_lent(&S, "W1"));
    ck_assert(!state_claim_drop(&S, u, "W1", 1));
    /* Never an own job's slot. */
    job *j = submit("MINE", SEV_HIGH, NEED_FIRE, 1);
    uint32_t n = assign_local(j, u);
    ck_assert(!state_claim_drop(&S, u, "MINE", n));
    ck_assert_uint_eq(u->load, 1);
}
END_TEST

/* A copy of LAFD-5 from Westside as a pull reads it. */
static runit home_copy(const peer *p, unit_status shown, uint64_t version, const char *claim_job,
                       uint32_t claim_n)
{
    runit c = copy_unit("LAFD-5", shown, claim_job ? 1 : 0, p);

    c.version = version;
    c.egen = p->egen;
    c.has_claims = true;
    if (claim_job) {
        snprintf(c.jobs[0], sizeof(c.jobs[0]), "%s", claim_job);
        c.claims = calloc(1, sizeof(*c.claims));
        snprintf(c.claims[0].job_id, sizeof(c.claims[0].job_id), "%s", claim_job);
        snprintf(c.claims[0].owner, sizeof(c.claims[0].owner), "%s", SELF);
        c.claims[0].attempt = claim_n;
        c.nclaims = 1;
    }
    return c;
}

/* Copies of Westside (incarnation epoch) in a fresh table r. */
static peer *westside(peertab *pt, remote *r, const char *epoch)
{
    size_t idx;
    bool added;

    ck_assert_int_eq(remote_init(r, S.strings), COORD_OK);
    ck_assert_int_eq(peertab_add(pt, SELF, "Westside", "http://w", 0, &idx, &added), COORD_OK);
    peer_page_begin(&pt->v[idx], true, epoch);
    return &pt->v[idx];
}

START_TEST(test_owner_moves_a_job_whose_claim_is_gone)
{
    peertab pt = {0};
    remote r;
    copy_outcome out;
    peer *p = westside(&pt, &r, "w-epoch-1");

    ck_assert_uint_eq(p->egen, 1);
    job *j = submit("J", SEV_HIGH, NEED_FIRE, 1);
    uint32_t n = assign_borrowed(j, "LAFD-5", "Westside");
    state_claim_answered(j, n, 10, peer_egen_of(p, "w-epoch-1"));
    ck_assert_uint_eq(job_attempt(j, n)->claim_egen, 1);

    /* Older than the claim's answer: says nothing, even lost. */
    runit c = home_copy(p, UNIT_LOST, 9, NULL, 0);
    remote_apply_unit(&r, &S, &c, NOW, &out);
    ck_assert_uint_eq(out.nrequeued, 0);
    ck_assert_int_eq(j->status, JOB_ASSIGNED);
    /* Newer and listing the claim: it stands. */
    c = home_copy(p, UNIT_BUSY, 11, "J", n);
    remote_apply_unit(&r, &S, &c, NOW, &out);
    ck_assert_uint_eq(out.nrequeued, 0);
    /* Listing another attempt of ours is not this claim. */
    c = home_copy(p, UNIT_BUSY, 12, "J", n + 1);
    ck_assert(remote_claim_gone(&c, SELF, "J", job_attempt(j, n)));
    runit_release(&c, S.strings);
    /* Lost and back before we looked: available, the claim not listed. */
    c = home_copy(p, UNIT_AVAILABLE, 13, NULL, 0);
    remote_apply_unit(&r, &S, &c, NOW, &out);
    ck_assert_uint_eq(out.nrequeued, 1);
    ck_assert_ptr_eq(out.requeued[0], j);
    ck_assert_int_eq(j->status, JOB_QUEUED);
    ck_assert_int_eq(job_attempt(j, n)->state, ATT_REVOKED);
    ck_assert_ptr_null(hmap_get(S.borrowed, "J"));
    ck_assert_uint_eq(out.nstale, 0);
    remote_release(&r);
}
END_TEST

START_TEST(test_owner_releases_claims_it_no_longer_stands_on)
{
    peertab pt = {0};
    remote r;
    copy_outcome out;
    peer *p = westside(&pt, &r, "e1");
    job *j = submit("J", SEV_HIGH, NEED_FIRE, 1);
    uint32_t n = assign_borrowed(j, "LAFD-5", "Westside");

    /* The claim it stands on: nothing to release. */
    runit c = home_copy(p, UNIT_BUSY, 5, "J", n);
    remote_apply_unit(&r, &S, &c, NOW, &out);
    ck_assert_uint_eq(out.nrequeued + out.nstale, 0);
    /* Another attempt's claim (an answer that never came), a job we do not
     * have: released there. */
    c = home_copy(p, UNIT_BUSY, 6, "J", n + 1);
    remote_apply_unit(&r, &S, &c, NOW, &out);
    ck_assert_uint_eq(out.nstale, 1);
    ck_assert_str_eq(out.stale[0].job_id, "J");
    ck_assert_uint_eq(out.stale[0].attempt, n + 1);
    ck_assert(!out.stale[0].finished);
    c = home_copy(p, UNIT_BUSY, 7, "GONE", 1);
    remote_apply_unit(&r, &S, &c, NOW, &out);
    ck_assert_uint_eq(out.nstale, 1);
    /* A pending attempt is a claim whose answer is on its way. */
    job *k = submit("K", SEV_HIGH, NEED_FIRE, 1);
    vclock vc;
    uint32_t m;
    vclock_init(&vc);
    ck_assert_int_eq(state_reserve(&S, k, NULL, "LAFD-5", "Westside", &vc, NOW, &m), COORD_OK);
    c = home_copy(p, UNIT_BUSY, 8, "K", m);
    remote_apply_unit(&r, &S, &c, NOW, &out);
    ck_assert_uint_eq(out.nstale, 0);
    remote_release(&r);
}
END_TEST

START_TEST(test_claim_gone_across_incarnations_and_old_homes)
{
    peertab pt = {0};
    size_t idx;
    bool added;
    attempt a = {.n = 2, .claim_version = 50, .claim_egen = 1};

    peertab_add(&pt, SELF, "Westside", "http://w", 0, &idx, &added);
    peer *p = &pt.v[idx];
    peer_page_begin(p, true, "e1");
    peer_page_begin(p, false, "e1");
    ck_assert_uint_eq(p->egen, 1);
    ck_assert_uint_eq(peer_egen_of(p, "e1"), 1);
    ck_assert_uint_eq(peer_egen_of(p, "e0"),
                      0); /* an answer from an incarnation we have not pulled */
    /* The home restarted: a copy of its next incarnation, low version, no claim. */
    peer_page_begin(p, true, "e2");
    ck_assert_uint_eq(p->egen, 2);
    runit c = home_copy(p, UNIT_AVAILABLE, 3, NULL, 0);
    ck_assert(remote_claim_gone(&c, SELF, "J", &a));
    runit_release(&c, S.strings);
    c = home_copy(p, UNIT_BUSY, 3, "J", 2); /* it restored the claim */
    ck_assert(!remote_claim_gone(&c, SELF, "J", &a));
    runit_release(&c, S.strings);
    /* Claim answered while unknown (after our restart): any copy is newer. */
    attempt restored = {.n = 2};
    c = home_copy(p, UNIT_AVAILABLE, 1, NULL, 0);
    ck_assert(remote_claim_gone(&c, SELF, "J", &restored));
    /* A home that shows no versions: only its word that the unit is lost. */
    c.version = 0;
    ck_assert(!remote_claim_gone(&c, SELF, "J", &restored));
    c.shown = UNIT_LOST;
    ck_assert(remote_claim_gone(&c, SELF, "J", &restored));
    runit_release(&c, S.strings);
}
END_TEST

START_TEST(test_a_late_claim_answer_never_overwrites_a_newer_copy)
{
    peertab pt = {0};
    remote r;
    copy_outcome out;
    peer *p = westside(&pt, &r, "e1");
    runit c = home_copy(p, UNIT_LOST, 20, NULL, 0);
    remote_apply_unit(&r, &S, &c, NOW, &out);
    runit fresh = home_copy(p, UNIT_BUSY, 18, "J", 1);
    remote_refresh_unit(&r, &fresh, NOW);
    ck_assert_int_eq(remote_unit(&r, "LAFD-5")->shown, UNIT_LOST);
    fresh = home_copy(p, UNIT_BUSY, 21, "J", 1);
    fresh.egen = 0; /* not known to be of this incarnation */
    remote_refresh_unit(&r, &fresh, NOW);
    ck_assert_int_eq(remote_unit(&r, "LAFD-5")->shown, UNIT_LOST);
    fresh = home_copy(p, UNIT_BUSY, 21, "J", 1);
    remote_refresh_unit(&r, &fresh, NOW);
    ck_assert_int_eq(remote_unit(&r, "LAFD-5")->shown, UNIT_BUSY);
    ck_assert_uint_eq(remote_unit(&r, "LAFD-5")->version, 21);
    ck_assert_str_eq(remote_unit(&r, "LAFD-5")->from, "Westside");
    remote_release(&r);
}
END_TEST

/* The owner's copy of job J, attempts given as (n, unit, state). */
static rjob owner_copy(const peer *p, job_status shown, const rattempt *atts, uint32_t n)
{
    rjob c = copy_job("J", p);

    snprintf(c.owner, sizeof(c.owner), "%s", p->id);
    c.shown = shown;
    if (n) {
        c.attempts = calloc(n, sizeof(*c.attempts));
        memcpy(c.attempts, atts, n * sizeof(*atts));
        c.nattempts = n;
    }
    return c;
}

START_TEST(test_home_ends_claims_the_owners_copy_shows_over)
{
    peertab pt = {0};
    remote r;
    size_t idx;
    bool added;
    copy_outcome out;
    unit *u = add_unit("LAFD-1", FIRE, 2, 1);
    unit *v = add_unit("LAFD-2", FIRE, 2, 1);
    const rattempt old = {1, "LAFD-2", SELF, ATT_REVOKED, {0, 0, 0}};
    const rattempt act = {2, "LAFD-1", SELF, ATT_ACTIVE, {0, 0, 0}};
    const rattempt fin = {2, "LAFD-1", SELF, ATT_FINISHED, {0, 0, 0}};
    rattempt two[2] = {old, act};

    ck_assert_int_eq(remote_init(&r, S.strings), COORD_OK);
    peertab_add(&pt, SELF, "Westside", "http://w", 0, &idx, &added);
    peertab_add(&pt, SELF, "Valley", "http://v", 0, &idx, &added);
    peer *w = &pt.v[0], *val = &pt.v[1];
    lend(u, "J", 2, "Westside");
    /* Queued, its answer still on the way: the claim stands. */
    rjob c = owner_copy(w, JOB_QUEUED, &old, 1);
    remote_apply_job(&r, &S, &c, &out);
    ck_assert(out.stored && out.nended == 0);
    ck_assert_uint_eq(u->load, 1);
    /* Active on our unit: stands. */
    c = owner_copy(w, JOB_ASSIGNED, two, 2);
    remote_apply_job(&r, &S, &c, &out);
    ck_assert_uint_eq(out.nended, 0);
    /* A third district cannot end it: its copy is not the sender's. */
    c = owner_copy(w, JOB_COMPLETED, &fin, 1);
    snprintf(c.from, sizeof(c.from), "%s", val->id);
    remote_apply_job(&r, &S, &c, &out);
    ck_assert_int_eq(out.ignored, COPY_NOT_THE_SENDERS);
    ck_assert_uint_eq(u->load, 1);
    /* Finished (a release lost while we were down): ended, no revocation. */
    two[1] = fin;
    c = owner_copy(w, JOB_COMPLETED, two, 2);
    remote_apply_job(&r, &S, &c, &out);
    ck_assert_uint_eq(out.nended, 1);
    ck_assert_ptr_eq(out.ended[0].u, u);
    ck_assert_uint_eq(out.ended[0].attempt, 2);
    ck_assert(out.ended[0].finished);
    ck_assert_uint_eq(u->load, 0);
    ck_assert_ptr_null(state_lent(&S, "J"));

    /* A claim whose attempt the owner never showed (dropped without a
     * trace): a later attempt ends it, and so does the job's end. */
    lend(v, "J", 3, "Westside");
    const rattempt later = {4, "LAFD-9", "Valley", ATT_ACTIVE, {0, 0, 0}};
    c = owner_copy(w, JOB_ASSIGNED, &later, 1);
    remote_apply_job(&r, &S, &c, &out);
    ck_assert_uint_eq(out.nended, 1);
    ck_assert(!out.ended[0].finished);
    ck_assert_uint_eq(v->load, 0);
    lend(v, "J", 5, "Westside");
    c = owner_copy(w, JOB_CANCELLED, NULL, 0);
    remote_apply_job(&r, &S, &c, &out);
    ck_assert_uint_eq(out.nended, 1);
    /* A pending lend is left to its settle. */
    ck_assert_int_eq(state_claim_reserve(&S, v, "J", 6, "Westside", NEED_FIRE, 1), CLAIM_RESERVED);
    c = owner_copy(w, JOB_CANCELLED, NULL, 0);
    remote_apply_job(&r, &S, &c, &out);
    ck_assert_uint_eq(out.nended, 0);
    ck_assert_uint_eq(v->load, 1);
    remote_release(&r);
}
END_TEST

START_TEST(test_copies_a_peer_may_not_write_are_ignored)
{
    peertab pt = {0};
    remote r;
    copy_outcome out;
    peer *p = westside(&pt, &r, NULL);

    add_unit("LAFD-1", FIRE, 2, 1);
    runit c = copy_unit("GHOST", UNIT_AVAILABLE, 0, p);
    snprintf(c.district, sizeof(c.district), "%s", SELF);
    remote_apply_unit(&r, &S, &c, NOW, &out);
    ck_assert_int_eq(out.ignored, COPY_OWN_DISTRICT);
    c = copy_unit("V-1", UNIT_AVAILABLE, 0, p);
    snprintf(c.district, sizeof(c.district), "Valley");
    remote_apply_unit(&r, &S, &c, NOW, &out);
    ck_assert_int_eq(out.ignored, COPY_NOT_THE_SENDERS);
    c = copy_unit("LAFD-1", UNIT_LOST, 0, p);
    remote_apply_unit(&r, &S, &c, NOW, &out);
    ck_assert_int_eq(out.ignored, COPY_OWN_ID);
    rjob jc = copy_job("GJ", p);
    snprintf(jc.owner, sizeof(jc.owner), "%s", SELF);
    remote_apply_job(&r, &S, &jc, &out);
    ck_assert_int_eq(out.ignored, COPY_OWN_DISTRICT);
    ck_assert_ptr_null(remote_unit(&r, "GHOST"));
    ck_assert_ptr_null(remote_unit(&r, "V-1"));
    ck_assert_ptr_null(remote_job(&r, "GJ"));
    ck_assert_uint_eq(r.ignored[COPY_OWN_DISTRICT], 2);
    ck_assert_uint_eq(r.ignored[COPY_NOT_THE_SENDERS], 1);
    ck_assert_uint_eq(r.ignored[COPY_OWN_ID], 1);
    /* Its own records are kept. */
    c = copy_unit("W-1", UNIT_AVAILABLE, 0, p);
    remote_apply_unit(&r, &S, &c, NOW, &out);
    ck_assert(out.stored && out.ignored == COPY_KEPT);
    remote_release(&r);
}
END_TEST

START_TEST(test_copies_are_capped_in_bytes)
{
    remote r;
    size_t big = 60 * 1024, n = 0;
    char id[COORD_ID_MAX + 1];
    int rc = COORD_OK;

    ck_assert_int_eq(remote_init(&r, S.strings), COORD_OK);
    while (rc == COORD_OK) {
        rjob c;

        memset(&c, 0, sizeof(c));
        snprintf(c.id, sizeof(c.id), "J%zu", n);
        snprintf(c.from, sizeof(c.from), "Westside");
        c.payload = malloc(big);
        memset(c.payload, 'x', big - 1);
        c.payload[big - 1] = '\0';
        rc = remote_put_job(&r, &c);
        n += rc == COORD_OK;
    }
    ck_assert_int_eq(rc, COORD_E_RANGE);
    ck_assert_uint_eq(r.refused, 1);
    ck_assert_uint_le(remote_bytes_of(&r, "Westside"), REMOTE_MAX_BYTES_PER_PEER);
    ck_assert_uint_gt(remote_bytes_of(&r, "Westside"), REMOTE_MAX_BYTES_PER_PEER - 2 * big);
    ck_assert_uint_lt(n, REMOTE_MAX_BYTES_PER_PEER / big + 1);
    /* Another peer has a budget of its own. */
    rjob other;
    memset(&other, 0, sizeof(other));
    snprintf(other.id, sizeof(other.id), "V1");
    snprintf(other.from, sizeof(other.from), "Valley");
    ck_assert_int_eq(remote_put_job(&r, &other), COORD_OK);
    /* A smaller copy in place of a big one frees room. */
    rjob small;
    memset(&small, 0, sizeof(small));
    snprintf(id, sizeof(id), "J0");
    snprintf(small.id, sizeof(small.id), "%s", id);
    snprintf(small.from, sizeof(small.from), "Westside");
    size_t before = remote_bytes_of(&r, "Westside");
    ck_assert_int_eq(remote_put_job(&r, &small), COORD_OK);
    ck_assert_uint_lt(remote_bytes_of(&r, "Westside"), before - big + 1024);
    /* A full sweep gives every byte back. */
    char(*gone)[COORD_ID_MAX + 1];
    size_t ngone;
    ck_assert_int_eq(remote_sweep(&r, 'j', "Westside", 1, &gone, &ngone), COORD_OK);
    ck_assert_uint_eq(ngone, n);
    free(gone);
    ck_assert_uint_eq(remote_bytes_of(&r, "Westside"), 0);
    remote_release(&r);
}
END_TEST

START_TEST(test_releases_wait_for_their_peer)
{
    peertab pt = {0};
    parked_release out[4];

    peertab_park(&pt, "Westside", "LAFD-5", "J1", 1, "finished");
    peertab_park(&pt, "Valley", "LAFD-9", "J2", 1, "revoked");
    peertab_park(&pt, "Westside", "LAFD-6", "J3", 2, "cancelled");
    ck_assert_uint_eq(peertab_unpark(&pt, "Nowhere", out, 4), 0);
    ck_assert_uint_eq(peertab_unpark(&pt, "Westside", out, 4), 2);
    ck_assert_str_eq(out[0].job_id, "J1");
    ck_assert_str_eq(out[1].job_id, "J3");
    ck_assert_uint_eq(out[1].attempt, 2);
    ck_assert_str_eq(out[1].reason, "cancelled");
    ck_assert_uint_eq(pt.nparked, 1);
    ck_assert_uint_eq(peertab_unpark(&pt, "Westside", out, 4), 0);
    /* Bounded: the oldest go, counted. */
    for (unsigned i = 0; i < PEERTAB_MAX_PARKED + 2; i++)
        peertab_park(&pt, "Westside", "U", "J", i + 1, "finished");
    ck_assert_uint_eq(pt.nparked, PEERTAB_MAX_PARKED);
    ck_assert_uint_eq(pt.parked_dropped, 3);
    ck_assert_uint_eq(peertab_unpark(&pt, "Valley", out, 4), 0); /* pushed out */
    ck_assert_uint_eq(peertab_unpark(&pt, "Westside", out, 1), 1);
    ck_assert_uint_eq(out[0].attempt, 3);
}
END_TEST

/* ---- records ---- */

START_TEST(test_heartbeat_revocations_once_each)
{
    unit *u = add_unit("LAFD-1", FIRE, 2, 1);
    job *j = submit("J", SEV_HIGH, NEED_FIRE, 1);
    uint32_t n = assign_local(j, u);
    revoked_entry out[8];
    job_ref hold = {"J", n, ""};

    ck_assert_int_eq(state_requeue(&S, j, job_attempt(j, n), NOW, "redeployed"), 1);
    /* The notice and the unit's own list name the same job: one entry. */
    ck_assert_uint_eq(state_heartbeat_revoked(&S, u, &hold, 1, out, 8), 1);
    ck_assert_str_eq(out[0].job_id, "J");
    ck_assert_str_eq(out[0].reason, "redeployed");
    ck_assert(job_attempt(j, n)->notified);
    /* Notices are told once; the held list keeps answering. */
    ck_assert_uint_eq(state_heartbeat_revoked(&S, u, NULL, 0, out, 8), 0);
    ck_assert_uint_eq(state_heartbeat_revoked(&S, u, &hold, 1, out, 8), 1);
}
END_TEST

START_TEST(test_change_list_walks_only_what_changed)
{
    unit *u = add_unit("LAFD-1", FIRE, 2, 1);
    job *j = submit("J", SEV_HIGH, NEED_FIRE, 1);
    uint64_t v = S.meta_version;
    size_t n = 0;

    ck_assert_ptr_null(state_changes_after(&S, v));
    state_touch_unit(&S, u);
    state_touch_job(&S, j);
    state_touch_unit(&S, u); /* moves to the end, listed once */
    for (const change_node *c = state_changes_after(&S, v); c; c = state_change_next(&S, c)) {
        ck_assert_uint_gt(c->version, v);
        n++;
    }
    ck_assert_uint_eq(n, 2);
    ck_assert(state_changes_after(&S, v)->is_job); /* the unit moved past it */
    ck_assert_uint_eq(S.meta_version, v + 3);
}
END_TEST

/* ---- the terminal: attempt numbers, reconciliation, reachability ---- */

static job_ref ref(const char *job_id, uint32_t n, const char *owner)
{
    job_ref r;

    memset(&r, 0, sizeof(r));
    snprintf(r.job_id, sizeof(r.job_id), "%s", job_id);
    r.attempt = n;
    snprintf(r.owner, sizeof(r.owner), "%s", owner);
    return r;
}

static uint32_t reserve_local(job *j, unit *u)
{
    vclock vc;
    uint32_t n;

    vclock_init(&vc);
    ck_assert_int_eq(state_reserve(&S, j, u, u->id, SELF, &vc, NOW, &n), COORD_OK);
    return n;
}

START_TEST(test_abandoned_attempt_keeps_its_number)
{
    unit *a = add_unit("LAFD-1", FIRE, 2, 1), *b = add_unit("LAFD-2", FIRE, 2, 1);
    job *j = submit("J", SEV_CRITICAL, NEED_FIRE, 1);
    followups fu = {0};

    /* A definite refusal leaves no trace: the number is free again. */
    uint32_t n = reserve_local(j, a);
    state_drop_pending(&S, j, n);
    ck_assert_uint_eq(reserve_local(j, a), n);
    /* An unknown outcome keeps the attempt, revoked, and tells its holder. */
    ck_assert_int_eq(state_abandon(&S, j, n, &fu), COORD_OK);
    ck_assert_int_eq(job_attempt(j, n)->state, ATT_REVOKED);
    ck_assert_uint_eq(a->load, 0);
    ck_assert_uint_eq(fu.n, 1);
    ck_assert(!fu.v[0].release);
    ck_assert_str_eq(fu.v[0].job_id, "J");
    ck_assert_uint_eq(fu.v[0].attempt, n);
    ck_assert_str_eq(last_notice(a)->reason, "abandoned");
    ck_assert_int_eq(j->status, JOB_QUEUED);
    /* The next try, to another unit, is a new number with a new clock. */
    uint32_t m = reserve_local(j, b);
    ck_assert_uint_eq(m, n + 1);
    ck_assert_int_eq(state_confirm(&S, j, m, NOW), COORD_OK);
    ck_assert_int_eq(state_abandon(&S, j, m, &fu), COORD_E_TRANSITION); /* not pending */
    followups_release(&fu);
}
END_TEST

START_TEST(test_heartbeat_revokes_what_is_not_held_here)
{
    unit *u = add_unit("LAFD-1", FIRE, 2, 2), *v = add_unit("LAFD-2", FIRE, 2, 1);
    job *j = submit("J", SEV_HIGH, NEED_FIRE, 1), *k = submit("K", SEV_HIGH, NEED_FIRE, 1);
    followups fu = {0};
    revoked_entry out[8];

    uint32_t n = reserve_local(j, u);
    ck_assert_int_eq(state_abandon(&S, j, n, &fu), COORD_OK);
    uint32_t m = assign_local(j, v); /* the job went on to LAFD-2 */
    uint32_t p = reserve_local(k, u); /* still pending on LAFD-1 */
    (void)state_heartbeat_revoked(&S, u, NULL, 0, out, 8); /* the notices, once */
    job_ref listed[] = {ref("J", n, ""), ref("J", m, SELF), ref("K", p, SELF),
                        ref("X", 1, "Westside"), ref("Y", 1, "")};
    size_t got = state_heartbeat_revoked(&S, u, listed, 5, out, 8);
    /* Its abandoned attempt, LAFD-2's attempt it names, and two jobs of
     * another district it holds no claim for; never the pending one. */
    ck_assert_uint_eq(got, 4);
    ck_assert_str_eq(out[0].job_id, "J");
    ck_assert_uint_eq(out[0].attempt, n);
    ck_assert_str_eq(out[0].reason, "redeployed");
    ck_assert_uint_eq(out[1].attempt, m);
    ck_assert_str_eq(out[1].reason, "not_assigned");
    ck_assert_str_eq(out[2].job_id, "X");
    ck_assert_str_eq(out[2].reason, "released");
    ck_assert_str_eq(out[2].owner, "Westside");
    ck_assert_str_eq(out[3].job_id, "Y");
    ck_assert_ptr_null(out[3].owner);
    /* A claim that stands is not revoked; asked again, the same answer. */
    ck_assert_int_eq(state_claim_settle(&S, u, "K", p, false), false); /* frees K's slot */
    ck_assert_int_eq(state_claim_reserve(&S, u, "X", 1, "Westside", NEED_FIRE, 1), CLAIM_RESERVED);
    ck_assert_uint_eq(state_heartbeat_revoked(&S, u, &listed[3], 1, out, 8), 0);
    ck_assert_uint_eq(state_heartbeat_revoked(&S, u, listed, 1, out, 8), 1);
    followups_release(&fu);
}
END_TEST

START_TEST(test_heartbeat_takes_back_what_the_terminal_dropped)
{
    unit *u = add_unit("LAFD-1", FIRE, 2, 2);
    job *j = submit("J", SEV_HIGH, NEED_FIRE, 1), *k = submit("K", SEV_HIGH, NEED_FIRE, 1);
    lost_items gone;

    uint32_t n = assign_local(j, u);
    unit_stamp_settled(u, "J", n, 10);
    uint32_t p = reserve_local(k, u);
    /* Seen before the settle: the list may predate the assignment. */
    ck_assert_int_eq(state_heartbeat_unheld(&S, u, NULL, 0, 9, 12, NOW, &gone), COORD_OK);
    ck_assert_uint_eq(gone.n, 0);
    free(gone.v);
    /* Listed: held. */
    job_ref listed = ref("J", n, SELF);
    ck_assert_int_eq(state_heartbeat_unheld(&S, u, &listed, 1, 50, 60, NOW, &gone), COORD_OK);
    ck_assert_uint_eq(gone.n, 0);
    free(gone.v);
    /* Seen it and no longer listed: revoked and requeued. The pending
     * slot is not judged. */
    ck_assert_int_eq(state_heartbeat_unheld(&S, u, NULL, 0, 10, 12, NOW, &gone), COORD_OK);
    ck_assert_uint_eq(gone.n, 1);
    ck_assert_str_eq(gone.v[0].job_id, "J");
    ck_assert(gone.v[0].requeued && !gone.v[0].foreign);
    free(gone.v);
    ck_assert_int_eq(job_attempt(j, n)->state, ATT_REVOKED);
    ck_assert_int_eq(j->status, JOB_QUEUED);
    ck_assert_uint_eq(u->load, 1);
    ck_assert_ptr_nonnull(unit_find_held(u, "K", p));
    /* A slot settled without a stamp (a claim, or after a restart) is
     * stamped with the clock now, never judged on the same heartbeat. */
    ck_assert_int_eq(state_claim_settle(&S, u, "K", p, false), false);
    ck_assert_int_eq(state_claim_reserve(&S, u, "X", 4, "Westside", NEED_FIRE, 1), CLAIM_RESERVED);
    ck_assert(state_claim_settle(&S, u, "X", 4, true));
    ck_assert_int_eq(state_heartbeat_unheld(&S, u, NULL, 0, 100, 20, NOW, &gone), COORD_OK);
    ck_assert_uint_eq(gone.n, 0);
    ck_assert_uint_eq(unit_find_held(u, "X", 4)->settled_clock, 20);
    free(gone.v);
    ck_assert_int_eq(state_heartbeat_unheld(&S, u, NULL, 0, 20, 21, NOW, &gone), COORD_OK);
    ck_assert_uint_eq(gone.n, 1);
    ck_assert(gone.v[0].foreign);
    ck_assert_str_eq(gone.v[0].owner, "Westside");
    ck_assert_uint_eq(u->load, 1); /* a claim is the caller's to drop */
    ck_assert(state_claim_drop(&S, u, "X", 4));
    ck_assert_uint_eq(u->load, 0);
    free(gone.v);
}
END_TEST

START_TEST(test_pick_skips_failing_refused_and_unreachable_units)
{
    unit *a = add_unit("LAFD-1", FIRE, 2, 1), *b = add_unit("LAFD-2", FIRE, 2, 1);
    job *j = submit("J", SEV_HIGH, NEED_FIRE, 1);

    ck_assert_ptr_eq(state_pick_unit(&S, j, NULL, 0, NOW, 0, NULL), a);
    state_unit_call_failed(&S, a, NOW);
    ck_assert_uint_eq(S.units_failing, 1);
    ck_assert_ptr_eq(state_pick_unit(&S, j, NULL, 0, NOW, 0, NULL), b);
    /* Its backoff over, it is offered work again, but not while a call to
     * it is already in flight. */
    ck_assert_ptr_eq(state_pick_unit(&S, j, NULL, 0, NOW + REACH_BACKOFF_MIN_MS, 0, NULL), a);
    a->calls = 1;
    ck_assert_ptr_eq(state_pick_unit(&S, j, NULL, 0, NOW + REACH_BACKOFF_MIN_MS, 0, NULL), b);
    a->calls = 0;
    for (int i = 1; i < REACH_UNREACHABLE_AFTER; i++)
        state_unit_call_failed(&S, a, NOW);
    ck_assert(reach_unreachable(&a->reach));
    ck_assert_ptr_eq(state_pick_unit(&S, j, NULL, 0, NOW + 1000000, 0, NULL), b);
    ck_assert_uint_eq(S.units_failing, 1);
    /* A registration makes it a candidate again. */
    add_unit("LAFD-3", FIRE, 2, 1);
    unit_reg r = {.id = "LAFD-1", .kind = "kind", .url = "http://127.0.0.1:2", .caps = FIRE,
                  .ncaps = 2, .capacity = 1};
    unit *u;
    bool created, back;
    ck_assert_int_eq(state_register_unit(&S, &r, NOW, NOW, &u, &created, &back), 0);
    ck_assert_uint_eq(S.units_failing, 0);
    ck_assert_ptr_eq(state_pick_unit(&S, j, NULL, 0, NOW, 0, NULL), a);
    /* At capacity: not offered work before its next heartbeat. */
    state_unit_refused(a);
    ck_assert_ptr_eq(state_pick_unit(&S, j, NULL, 0, NOW, 0, NULL), b);
    ck_assert(!state_unit_heard(&S, a, NOW, NOW));
    ck_assert_ptr_eq(state_pick_unit(&S, j, NULL, 0, NOW, 0, NULL), a);
}
END_TEST

/* The reload after a failed commit starts from an empty district that
 * still shares its names with the synced copies and whose next changes
 * are news to peers that pulled up to the old version. */
START_TEST(test_reset_keeps_names_and_version)
{
    add_unit("LAFD-1", FIRE, 2, 1);
    submit("J", SEV_HIGH, NEED_FIRE, 1);
    strtab *names = S.strings;
    const char *name = strtab_intern(names, "firefighting"); /* as a copy holds it */
    uint64_t v = S.meta_version;

    ck_assert_int_eq(state_reset(&S, 3000), COORD_OK);
    ck_assert_ptr_eq(S.strings, names);
    ck_assert_ptr_eq(strtab_intern(names, "firefighting"), name);
    strtab_release(names, name);
    strtab_release(names, name);
    ck_assert_uint_eq(hmap_size(S.units), 0);
    ck_assert_uint_eq(hmap_size(S.jobs), 0);
    ck_assert_uint_eq(jobq_size(S.queue), 0);
    ck_assert_str_eq(S.self, SELF);
    ck_assert_uint_eq(S.meta_version, v);
    add_unit("LAFD-1", FIRE, 2, 1);
    ck_assert_uint_gt(state_changes_after(&S, v)->version, v);
}
END_TEST

/* A reload that fails (etcd without quorum) puts the district back as it
 * was, change list included; one that succeeds drops the old records. */
START_TEST(test_stash_and_unstash)
{
    add_unit("LAFD-1", FIRE, 2, 1);
    submit("J", SEV_HIGH, NEED_FIRE, 1);
    uint64_t v = S.meta_version;
    state saved;

    ck_assert_int_eq(state_stash(&S, &saved, 3000), COORD_OK);
    ck_assert_uint_eq(hmap_size(S.units), 0);
    ck_assert_ptr_eq(S.strings, saved.strings);
    add_unit("LAFD-9", FIRE, 2, 1); /* a reload's partial work */
    state_unstash(&S, &saved);
    ck_assert_ptr_nonnull(state_unit(&S, "LAFD-1"));
    ck_assert_ptr_null(state_unit(&S, "LAFD-9"));
    ck_assert_ptr_nonnull(state_job(&S, "J"));
    ck_assert_uint_eq(jobq_size(S.queue), 1);
    /* the moved list still ends at its own sentinel */
    size_t n = 0;
    for (const change_node *c = state_changes_after(&S, 0); c; c = state_change_next(&S, c))
        n++;
    ck_assert_uint_ge(n, 2);
    ck_assert_ptr_null(state_changes_after(&S, S.meta_version));
    ck_assert_uint_ge(S.meta_version, v);

    ck_assert_int_eq(state_stash(&S, &saved, 3000), COORD_OK);
    state_drop_stash(&saved);
    ck_assert_uint_eq(hmap_size(S.jobs), 0);
    add_unit("LAFD-1", FIRE, 2, 1);
    ck_assert_uint_gt(state_changes_after(&S, v)->version, v);
}
END_TEST

/* ---- crews' status steps (steps.c) ---- */

static int record(unit *u, const char *job_id, uint32_t n, unit_step to, uint64_t at,
                  step_outcome *o, followups *fu)
{
    job *j;

    return state_record_step(&S, u, job_id, n, to, at, NOW, NOW, o, fu, &j);
}

START_TEST(test_steps_walk_and_cleared_frees_an_own_slot)
{
    unit *u = add_unit("LAFD-1", FIRE, 2, 1);
    job *j = submit("J1", SEV_HIGH, NEED_FIRE, 1);
    uint32_t n = assign_local(j, u);
    followups fu = {0};
    step_outcome o;

    ck_assert_int_eq(record(u, "J1", n, UST_EN_ROUTE, NOW + 60000, &o, &fu), COORD_OK);
    ck_assert(!o.retry && !o.freed && !o.foreign);
    ck_assert_int_eq(o.turnout_ms, 60000);
    ck_assert_int_eq(o.travel_ms, -1);
    const step_rec *r = state_steps(&S, "LAFD-1", "J1", n);
    ck_assert_ptr_nonnull(r);
    ck_assert_int_eq(r->cur, UST_EN_ROUTE);
    ck_assert_uint_eq(r->at[UST_DISPATCHED], NOW);
    ck_assert_uint_eq(r->at[UST_ACKNOWLEDGED], 0); /* skipped */
    /* The exact step again is a retry; at another time, or backward, not. */
    ck_assert_int_eq(record(u, "J1", n, UST_EN_ROUTE, NOW + 60000, &o, &fu), COORD_OK);
    ck_assert(o.retry);
    ck_assert_int_eq(record(u, "J1", n, UST_EN_ROUTE, NOW + 60001, &o, &fu), COORD_E_TRANSITION);
    ck_assert_int_eq(record(u, "J1", n, UST_ACKNOWLEDGED, NOW + 61000, &o, &fu),
                     COORD_E_TRANSITION);
    ck_assert_int_eq(o.from, UST_EN_ROUTE);
    ck_assert_int_eq(record(u, "J1", n, UST_ON_SCENE, NOW + 300000, &o, &fu), COORD_OK);
    ck_assert_int_eq(o.travel_ms, 240000);
    /* Busy all along: nothing but cleared frees the slot. */
    ck_assert_uint_eq(u->load, 1);
    ck_assert_int_eq(unit_shown_status(u), UNIT_BUSY);
    ck_assert_uint_eq(fu.n, 0);

    ck_assert_int_eq(record(u, "J1", n, UST_CLEARED, NOW + 900000, &o, &fu), COORD_OK);
    ck_assert(o.freed);
    ck_assert_uint_eq(u->load, 0);
    ck_assert_int_eq(job_attempt(j, n)->state, ATT_REVOKED);
    ck_assert_int_eq(j->status, JOB_ASSIGNED); /* released by its crew, not requeued */
    ck_assert(!jobq_contains(S.queue, "J1"));
    ck_assert_uint_eq(fu.n, 1);
    ck_assert(!fu.v[0].release);
    ck_assert_str_eq(fu.v[0].reason, "cleared");
    ck_assert_str_eq(last_notice(u)->reason, "cleared");
    /* Ended: only its cleared again (a retry) is taken. */
    ck_assert_int_eq(record(u, "J1", n, UST_ON_SCENE, NOW + 900001, &o, &fu), COORD_E_TRANSITION);
    ck_assert_int_eq(record(u, "J1", n, UST_CLEARED, NOW + 900000, &o, &fu), COORD_OK);
    ck_assert(o.retry);
    followups_release(&fu);
}
END_TEST

START_TEST(test_steps_borrowed_pending_ended_and_restored)
{
    unit *u = add_unit("LAFD-1", FIRE, 2, 2);
    followups fu = {0};
    step_outcome o;

    /* Lent to Westside: recorded here, the slot stays until the owner
     * releases it. */
    lend(u, "W1", 1, "Westside");
    ck_assert_int_eq(record(u, "W1", 1, UST_ON_SCENE, NOW + 5000, &o, &fu), COORD_OK);
    ck_assert(o.foreign);
    ck_assert_int_eq(record(u, "W1", 1, UST_CLEARED, NOW + 9000, &o, &fu), COORD_OK);
    ck_assert(!o.freed);
    ck_assert_uint_eq(u->load, 1);
    ck_assert_uint_eq(fu.n, 0);

    /* Not its attempt, or still being assigned. */
    ck_assert_int_eq(record(u, "nope", 1, UST_EN_ROUTE, NOW, &o, &fu), COORD_E_ATTEMPT);
    ck_assert_int_eq(record(u, "W1", 2, UST_EN_ROUTE, NOW, &o, &fu), COORD_E_ATTEMPT);
    job *j = submit("J2", SEV_HIGH, NEED_FIRE, 1);
    vclock vc;
    uint32_t n;
    vclock_init(&vc);
    ck_assert_int_eq(state_reserve(&S, j, u, u->id, SELF, &vc, NOW, &n), COORD_OK);
    ck_assert_int_eq(record(u, "J2", n, UST_EN_ROUTE, NOW, &o, &fu), COORD_E_RANGE);
    ck_assert_ptr_null(state_steps(&S, "LAFD-1", "J2", n));

    /* Revoked (the unit was lost, say): only cleared is taken, and it
     * frees nothing more. */
    ck_assert_int_eq(state_confirm(&S, j, n, NOW), COORD_OK);
    ck_assert_int_eq(state_requeue(&S, j, job_attempt(j, n), NOW, NULL), 1);
    ck_assert_int_eq(record(u, "J2", n, UST_EN_ROUTE, NOW, &o, &fu), COORD_E_TRANSITION);
    ck_assert(o.ended);
    ck_assert_int_eq(record(u, "J2", n, UST_CLEARED, NOW + 1, &o, &fu), COORD_OK);
    ck_assert(!o.freed);
    ck_assert_uint_eq(fu.n, 0);

    /* A load rebuilds the current step from the stored times. */
    ck_assert_int_eq(state_restore_step(&S, "EMS-3", "J9", 4, UST_EN_ROUTE, NOW + 10), COORD_OK);
    ck_assert_int_eq(state_restore_step(&S, "EMS-3", "J9", 4, UST_DISPATCHED, NOW), COORD_OK);
    const step_rec *r = state_steps(&S, "EMS-3", "J9", 4);
    ck_assert_ptr_nonnull(r);
    ck_assert_int_eq(r->cur, UST_EN_ROUTE);
    ck_assert_uint_eq(r->at[UST_DISPATCHED], NOW);
    ck_assert_int_eq(state_restore_step(&S, "EMS-3", "J9", 4, (unit_step)99, NOW), COORD_OK);
    followups_release(&fu);
}
END_TEST

/* Kinds and types are held once, by the string table: two records share
 * one copy, re-registering swaps it, the last holder frees it. Jobs are
 * keyed and queued by their own id (borrowed), sized to fit. */
START_TEST(test_kinds_and_types_interned_ids_borrowed)
{
    size_t base = strtab_size(S.strings);
    job *a = submit("intern-a", SEV_LOW, NEED_MED, 1);
    job *b = submit("intern-b", SEV_LOW, NEED_MED, 1);

    ck_assert_ptr_eq(a->type, b->type);
    ck_assert_str_eq(a->type, "incident");
    ck_assert_uint_eq(strtab_size(S.strings), base + 2); /* "incident" and "medical" */
    unit *u = add_unit("intern-u", FIRE, 2, 1);
    unit *v = add_unit("intern-v", FIRE, 2, 1);
    ck_assert_ptr_eq(u->kind, v->kind);
    ck_assert_str_eq(u->url, "http://127.0.0.1:1");
    unit_reg r = {.id = "intern-v", .kind = "ems", .url = "http://127.0.0.1:2", .caps = EMS,
                  .ncaps = 2, .capacity = 1};
    bool created, back;
    unit *w;
    ck_assert_int_eq(state_register_unit(&S, &r, NOW, NOW, &w, &created, &back), 0);
    ck_assert_ptr_eq(w, v);
    ck_assert_str_eq(v->kind, "ems");
    ck_assert_str_eq(u->kind, "kind");
    ck_assert_str_eq(v->url, "http://127.0.0.1:2");
    /* The jobs map and the queue find them by content, not pointer. */
    char probe[16];
    snprintf(probe, sizeof(probe), "intern-%c", 'a');
    ck_assert_ptr_eq(state_job(&S, probe), a);
    ck_assert(jobq_contains(S.queue, probe));
    size_t with = strtab_size(S.strings);
    state_drop_job(&S, a);
    ck_assert(!jobq_contains(S.queue, "intern-a"));
    ck_assert_ptr_null(state_job(&S, "intern-a"));
    ck_assert_uint_eq(strtab_size(S.strings), with); /* b still holds them */
    state_drop_job(&S, b);
    ck_assert_uint_eq(strtab_size(S.strings), with - 1); /* "incident" went; v offers "medical" */
}
END_TEST

Suite *unit_suite(void)
{
    Suite *s = suite_create("broker_state");
    TCase *d = unit_tcase("dispatch");
    TCase *l = unit_tcase("loss");
    TCase *res = unit_tcase("results");
    TCase *c = unit_tcase("claims");
    TCase *sync = unit_tcase("sync");
    TCase *rec = unit_tcase("records");
    TCase *term = unit_tcase("terminal");

    TCase *all[] = {d, l, res, c, sync, rec, term};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        tcase_add_checked_fixture(all[i], setup, teardown);
    tcase_add_test(d, test_pick_fewest_jobs_then_id_among_capable);
    tcase_add_test(d, test_queue_severity_then_age_and_yield);
    tcase_add_test(d, test_preemption_victim_only_in_emergency);
    tcase_add_test(d, test_pick_closest_by_fix_then_station_then_order);
    tcase_add_test(d, test_a_pool_past_the_inline_buffer_is_ranked_whole);
    tcase_add_test(d, test_a_fix_enters_the_sync_delta_only_when_it_matters);
    tcase_add_test(sync, test_mutual_aid_ranks_copies_by_position);
    tcase_add_test(l, test_unit_lost_requeues_its_jobs);
    tcase_add_test(l, test_requeue_is_the_one_way_and_illegal_is_refused);
    tcase_add_test(res, test_accept_releases_every_other_holder);
    tcase_add_test(res, test_accept_releases_a_borrowed_holder_at_its_home);
    tcase_add_test(res, test_cancel_tells_every_holder);
    tcase_add_test(c, test_claims_supersede_retry_and_release);
    tcase_add_test(c, test_claim_on_a_lost_unit_does_not_stand);
    tcase_add_test(c, test_claim_drop_ends_a_standing_claim_only);
    tcase_add_test(c, test_owner_moves_a_job_whose_claim_is_gone);
    tcase_add_test(c, test_claim_gone_across_incarnations_and_old_homes);
    tcase_add_test(c, test_owner_releases_claims_it_no_longer_stands_on);
    tcase_add_test(c, test_a_late_claim_answer_never_overwrites_a_newer_copy);
    tcase_add_test(c, test_home_ends_claims_the_owners_copy_shows_over);
    tcase_add_test(c, test_releases_wait_for_their_peer);
    tcase_add_test(sync, test_page_own_ids_lost_borrowed_and_sweep);
    tcase_add_test(sync, test_mutual_aid_ranking_on_copies);
    tcase_add_test(sync, test_copies_are_capped_per_peer);
    tcase_add_test(sync, test_copies_a_peer_may_not_write_are_ignored);
    tcase_add_test(sync, test_copies_are_capped_in_bytes);
    tcase_add_test(rec, test_heartbeat_revocations_once_each);
    tcase_add_test(rec, test_change_list_walks_only_what_changed);
    tcase_add_test(term, test_abandoned_attempt_keeps_its_number);
    tcase_add_test(term, test_heartbeat_revokes_what_is_not_held_here);
    tcase_add_test(term, test_heartbeat_takes_back_what_the_terminal_dropped);
    tcase_add_test(term, test_pick_skips_failing_refused_and_unreachable_units);
    tcase_add_test(rec, test_reset_keeps_names_and_version);
    tcase_add_test(rec, test_stash_and_unstash);
    tcase_add_test(term, test_steps_walk_and_cleared_frees_an_own_slot);
    tcase_add_test(term, test_steps_borrowed_pending_ended_and_restored);
    tcase_add_test(rec, test_kinds_and_types_interned_ids_borrowed);
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        suite_add_tcase(s, all[i]);
    return s;
}
