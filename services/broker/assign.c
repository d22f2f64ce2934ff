/* Assignment, redeployment and the background threads that drive them.
 *
 * A dispatch reserves a unit under the lock (a PENDING attempt counts toward
 * the unit's load, so no other dispatch can pick it), calls the executor with
 * the lock released, and settles under the lock: ACTIVE and committed when
 * the executor accepted, dropped when it refused or did not answer. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "broker.h"

#define DISPATCH_MAX_TRIES 16
#define DRAIN_BATCH        1024

static const http_opts assign_opts = {
    .connect_timeout_ms = 500,
    .timeout_ms = 2000,
    .retries = 0,
};

static const http_opts revoke_opts = {
    .connect_timeout_ms = 500,
    .timeout_ms = 1500,
    .retries = 1,
    .backoff_ms = 100,
};

static bool tried_has(char (*tried)[COORD_ID_MAX + 1], size_t n, const char *id)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(tried[i], id) == 0)
            return true;
    return false;
}

/* Picks the best eligible unit not tried yet; caller holds mu. */
static unit *pick_unit(broker *b, const job *j, char (*tried)[COORD_ID_MAX + 1], size_t ntried)
{
    const char *req[BROKER_MAX_CAPS];
    for (size_t i = 0; i < j->ncaps && i < BROKER_MAX_CAPS; i++)
        req[i] = j->caps[i];
    size_t nreq = j->ncaps < BROKER_MAX_CAPS ? j->ncaps : BROKER_MAX_CAPS;

    /* Same order as rank_units (own district first, then fewest active
     * jobs, then id): all units here are our own, so the best is the
     * eligible one with the least load, ties by id. Only the units that
     * offer the rarest required capability are looked at. */
    const unit_list *l = NULL;
    for (size_t i = 0; i < nreq; i++) {
        const unit_list *cl = hmap_get(b->cap_index, req[i]);
        if (!cl || cl->n == 0)
            return NULL;
        if (!l || cl->n < l->n)
            l = cl;
    }
    unit *best = NULL;
    for (size_t k = 0; l && k < l->n; k++) {
        unit *u = l->v[k];
        if (u->lost || u->out_of_service || u->load >= u->capacity)
            continue;
        if (best &&
            (u->load > best->load || (u->load == best->load && strcmp(u->id, best->id) > 0)))
            continue;
        if (tried_has(tried, ntried, u->id))
            continue;
        const char *offered[BROKER_MAX_CAPS];
        for (size_t i = 0; i < u->ncaps && i < BROKER_MAX_CAPS; i++)
            offered[i] = u->caps[i];
        unit_candidate c = {
            .id = u->id,
            .district = b->cfg.id,
            .status = unit_current_status(u),
            .active_jobs = u->load,
            .capacity = u->capacity,
            .caps = offered,
            .ncaps = u->ncaps < BROKER_MAX_CAPS ? u->ncaps : BROKER_MAX_CAPS,
        };
        if (unit_eligible(&c, req, nreq))
            best = u;
    }
    return best;
}

#define ORDER_WINDOW 64

static bool unit_serves(const unit *u, const job *j)
{
    for (size_t i = 0; i < j->ncaps; i++) {
        bool found = false;
        for (size_t k = 0; k < u->ncaps && !found; k++)
            found = strcmp(j->caps[i], u->caps[k]) == 0;
        if (!found)
            return false;
    }
    return true;
}

/* Priority order holds across threads: a unit goes to the first waiting job
 * it can serve (severity, then arrival), whoever happens to be dispatching.
 * Looks at the head of the queue only, which is where order matters. */
static bool yields_to_queue(broker *b, const job *j, const unit *u)
{
    jobq_item items[ORDER_WINDOW];
    size_t n = jobq_snapshot(b->queue, items, ORDER_WINDOW);
    for (size_t i = 0; i < n; i++) {
        if (strcmp(items[i].id, j->id) == 0)
            return false; /* everything before it was checked */
        bool ahead = items[i].sev > j->sev || (items[i].sev == j->sev && items[i].seq < j->seq);
        if (!ahead)
            return false;
        const job *other = broker_job(b, items[i].id);
        if (other && other->status == JOB_QUEUED && !other->dispatching && unit_serves(u, other))
            return true;
    }
    return false;
}

static attempt *find_attempt(job *j, uint32_t n)
{
    for (size_t i = 0; i < j->nattempts; i++)
        if (j->attempts[i].n == n)
            return &j->attempts[i];
    return NULL;
}

static uint32_t next_attempt_no(const job *j)
{
    uint32_t n = 0;
    for (size_t i = 0; i < j->nattempts; i++)
        if (j->attempts[i].n > n)
            n = j->attempts[i].n;
    return n + 1;
}

static void drop_attempt(job *j, uint32_t n)
{
    for (size_t i = 0; i < j->nattempts; i++) {
        if (j->attempts[i].n == n) {
            free(j->attempts[i].clock);
            memmove(&j->attempts[i], &j->attempts[i + 1],
                    (j->nattempts - i - 1) * sizeof(j->attempts[0]));
            j->nattempts--;
            return;
        }
    }
}

/* Adds a PENDING attempt for unit_id (of district) and returns the body of
 * the assignment message; caller holds mu. NULL when out of memory. */
static json_t *reserve_attempt(broker *b, job *j, const char *unit_id, const char *district,
                               uint32_t *n_out)
{
    /* The assignment is a send event: tick, and give the unit the clock. */
    vclock_tick(&b->clock, b->cfg.id);
    json_t *vc = broker_clock_json(b);
    attempt a = {0};
    a.n = next_attempt_no(j);
    snprintf(a.unit_id, sizeof(a.unit_id), "%s", unit_id);
    snprintf(a.unit_district, sizeof(a.unit_district), "%s", district);
    a.state = ATT_PENDING;
    a.clock = json_canonical(vc);
    a.at_ms = coord_now_wall_ms();
    if (!a.clock || job_add_attempt(j, &a) < 0) {
        free(a.clock);
        json_decref(vc);
        return NULL;
    }
    *n_out = a.n;
    j->dispatching = true;
    return json_pack("{s:o, s:i, s:s, s:s, s:o}", "job", job_to_json(b, j), "attempt", (int)a.n,
                     "owner", b->cfg.id, "owner_url", b->self_url, "vclock", vc);
}

/* Settles a confirmed attempt; caller holds mu and the job is queued. */
static void confirm_attempt(broker *b, job *j, attempt *pa, const char *kind, const char *how)
{
    pa->state = ATT_ACTIVE;
    j->status = JOB_ASSIGNED;
    j->updated_ms = coord_now_wall_ms();
    jobq_remove(b->queue, j->id);
    b->m.jobs_assigned++;
    if (pa->n > 1)
        b->m.jobs_redeployed++;
    broker_txn_begin(b);
    broker_save_job(b, j);
    broker_event(b, pa->n > 1 ? "job_redeployed" : "job_assigned", j->id, pa->unit_id, pa->n,
                 "assigned to %s (%s) as attempt %u%s", pa->unit_id, kind, pa->n, how);
    broker_commit_or_die(b);
}

/* Emergency (level high or critical): a critical job with no free capable
 * unit anywhere takes an own unit away from a low-severity own job, which
 * goes back to the queue. Fills the revocation URL for the executor; caller
 * holds mu. */
static bool preempt_low(broker *b, job *crit, char *url, size_t urllen)
{
    unit *best_u = NULL;
    job *best_v = NULL;
    uint32_t best_n = 0;
    size_t it = 0;
    const char *key;
    void *val;
    while (hmap_next(b->units, &it, &key, &val)) {
        unit *u = val;
        if (u->lost || u->out_of_service || !unit_serves(u, crit))
            continue;
        for (uint32_t i = 0; i < u->load; i++) {
            struct held *h = &u->held[i];
            job *v = h->pending || h->foreign ? NULL : broker_job(b, h->job_id);
            if (!v || v->sev != SEV_LOW || v->status != JOB_ASSIGNED)
                continue;
            if (!best_u || strcmp(u->id, best_u->id) < 0) {
                best_u = u;
                best_v = v;
                best_n = h->attempt;
            }
        }
    }
    if (!best_u)
        return false;
    attempt *a = find_attempt(best_v, best_n);
    if (!a || a->state != ATT_ACTIVE)
        return false;
    a->state = ATT_REVOKED;
    a->notified = false;
    unit_release(best_u, best_v->id);
    unit_add_notice(best_u, best_v->id, a->n, "preempted");
    best_v->status = JOB_QUEUED;
    best_v->updated_ms = coord_now_wall_ms();
    jobq_push(b->queue, best_v->id, best_v->sev, best_v->seq);
    broker_txn_begin(b);
    broker_save_job(b, best_v);
    broker_event(b, "job_preempted", best_v->id, best_u->id, a->n,
                 "emergency: %s taken from low-severity %s for critical %s", best_u->id, best_v->id,
                 crit->id);
    broker_commit_or_die(b);
    snprintf(url, urllen, "%s/v1/assignments/%s?attempt=%u", best_u->url, best_v->id, a->n);
    return true;
}

/* Mutual aid: claim another district's unit at its home broker. Called
 * with mu held and returns with it held; the claim itself runs unlocked. */
static bool dispatch_remote(broker *b, const char *job_id, const char *unit_id, const char *owner,
                            const char *owner_url, bool owned)
{
    job *j = broker_job(b, job_id);
    uint32_t n = 0;
    json_t *body = reserve_attempt(b, j, unit_id, owner, &n);
    if (!body)
        return false;
    char url[BROKER_URL_MAX + 128];
    snprintf(url, sizeof(url), "%s/v1/units/%s/claim", owner_url, unit_id);
    pthread_mutex_unlock(&b->mu);

    http_reply rep;
    int rc = http_json("POST", url, body, &assign_opts, &rep);
    json_decref(body);
    bool ok = rc == 0 && (rep.status == 201 || rep.status == 200);

    pthread_mutex_lock(&b->mu);
    j = broker_job(b, job_id);
    j->dispatching = owned;
    attempt *pa = find_attempt(j, n);
    json_t *ucopy = rep.body ? json_object_get(rep.body, "unit") : NULL;
    remote_entry *re = hmap_get(b->remote_units, unit_id);
    if (re && json_is_object(ucopy)) {
        /* The home broker's answer is the freshest copy we can have. */
        json_decref(re->obj);
        re->obj = json_incref(ucopy);
        re->fetched_wall_ms = coord_now_wall_ms();
    } else if (re && rc == 0 && rep.status == 409) {
        json_object_set_new(re->obj, "status", json_string("busy"));
    }
    if (ok && rep.body)
        broker_merge_clock_json(b, json_object_get(rep.body, "vclock"));
    http_reply_release(&rep);
    if (ok && j->status == JOB_QUEUED && pa) {
        hmap_put(b->borrowed, j->id, j, NULL);
        char how[160];
        snprintf(how, sizeof(how), " (mutual aid from %s)", owner);
        confirm_attempt(b, j, pa, "borrowed", how);
        return true;
    }
    drop_attempt(j, n);
    if (ok)
        broker_queue_release(b, owner_url, unit_id, job_id, n, "revoked");
    else if (rc == 0 && rep.status == 409) {
        b->m.assign_refused++;
        b->retry_drain_mono_ms = coord_now_mono_ms() + 200;
    } else
        b->m.assign_errors++;
    return false;
}

static dispatch_outcome dispatch_loop(broker *b, const char *job_id, bool owned)
{
    char tried[DISPATCH_MAX_TRIES][COORD_ID_MAX + 1];
    size_t ntried = 0;

    for (;;) {
        pthread_mutex_lock(&b->mu);
        job *j = broker_job(b, job_id);
        if (!j || (j->dispatching && !owned) || j->status != JOB_QUEUED) {
            pthread_mutex_unlock(&b->mu);
            return DISPATCH_SKIPPED;
        }
        unit *u = ntried < DISPATCH_MAX_TRIES ? pick_unit(b, j, tried, ntried) : NULL;
        if (!u) {
            /* Own district first, then mutual aid. */
            char rid[COORD_ID_MAX + 1], owner[COORD_ID_MAX + 1], owner_url[BROKER_URL_MAX];
            if (ntried < DISPATCH_MAX_TRIES &&
                broker_pick_remote_unit(b, j, tried, ntried, rid, owner, owner_url)) {
                snprintf(tried[ntried++], COORD_ID_MAX + 1, "%s", rid);
                bool ok = dispatch_remote(b, job_id, rid, owner, owner_url, owned);
                pthread_mutex_unlock(&b->mu);
                if (ok)
                    return DISPATCH_ASSIGNED;
                continue;
            }
            char url[BROKER_URL_MAX + 160];
            if (j->sev == SEV_CRITICAL && broker_emergency_active(b) &&
                preempt_low(b, j, url, sizeof(url))) {
                pthread_mutex_unlock(&b->mu);
                /* Free the terminal's capacity before assigning to it. */
                http_reply rep;
                http_json("DELETE", url, NULL, &revoke_opts, &rep);
                http_reply_release(&rep);
                continue;
            }
            pthread_mutex_unlock(&b->mu);
            return DISPATCH_QUEUED;
        }
        snprintf(tried[ntried++], COORD_ID_MAX + 1, "%s", u->id);
        if (yields_to_queue(b, j, u)) {
            /* A job ahead in the queue can use this unit: it goes first. */
            pthread_mutex_unlock(&b->mu);
            broker_request_drain(b);
            return DISPATCH_QUEUED;
        }

        uint32_t n = 0;
        json_t *body = reserve_attempt(b, j, u->id, b->cfg.id, &n);
        if (!body || unit_hold(u, j->id, n, true) < 0) {
            if (body)
                drop_attempt(j, n);
            j->dispatching = owned;
            json_decref(body);
            pthread_mutex_unlock(&b->mu);
            return DISPATCH_QUEUED;
        }
        char url[BROKER_URL_MAX + 32];
        snprintf(url, sizeof(url), "%s/v1/assignments", u->url);
        char unit_id[COORD_ID_MAX + 1];
        snprintf(unit_id, sizeof(unit_id), "%s", u->id);
        pthread_mutex_unlock(&b->mu);

        http_reply rep;
        int rc = http_json("POST", url, body, &assign_opts, &rep);
        json_decref(body);
        bool ok = rc == 0 && (rep.status == 201 || rep.status == 200);
        long status = rep.status;
        http_reply_release(&rep);

        pthread_mutex_lock(&b->mu);
        j = broker_job(b, job_id);
        u = broker_unit(b, unit_id);
        j->dispatching = owned;
        attempt *pa = find_attempt(j, n);
        if (ok && j->status == JOB_QUEUED && !u->lost && !u->out_of_service && pa) {
            unit_confirm(u, j->id);
            confirm_attempt(b, j, pa, u->kind, "");
            pthread_mutex_unlock(&b->mu);
            return DISPATCH_ASSIGNED;
        }
        /* Refused, unreachable, or overtaken (the job was completed by a
         * late result, or the unit was lost meanwhile). */
        unit_release(u, j->id);
        broker_touch_unit(b, u);
        drop_attempt(j, n);
        if (ok) {
            /* The executor took it but we cannot use it: tell it to stop. */
            broker_queue_revocation(b, u->url, j->id, n);
        } else if (rc == 0 && status == 409) {
            /* Usually a terminal that has not yet seen the broker's answer
             * to its own report: its capacity frees in a moment. */
            b->m.assign_refused++;
            b->retry_drain_mono_ms = coord_now_mono_ms() + 200;
        } else {
            b->m.assign_errors++;
            service_log("warn", "assignment of %s to %s failed (status %ld)", job_id, unit_id,
                        status);
        }
        pthread_mutex_unlock(&b->mu);
    }
}

dispatch_outcome broker_dispatch(broker *b, const char *job_id, bool owned)
{
    dispatch_outcome out = dispatch_loop(b, job_id, owned);
    if (!owned)
        return out;
    pthread_mutex_lock(&b->mu);
    job *j = broker_job(b, job_id);
    bool waiting = j && j->status == JOB_QUEUED;
    if (j)
        j->dispatching = false;
    pthread_mutex_unlock(&b->mu);
    /* While we held the job, the drain skipped it: let it look again. */
    if (waiting)
        broker_request_drain(b);
    return out;
}

void broker_request_drain(broker *b)
{
    pthread_mutex_lock(&b->wmu);
    b->drain_requested = true;
    pthread_cond_broadcast(&b->wcond);
    pthread_mutex_unlock(&b->wmu);
}

static void queue_message(broker *b, revocation *r)
{
    pthread_mutex_lock(&b->wmu);
    r->next = b->revocations;
    b->revocations = r;
    pthread_cond_broadcast(&b->wcond);
    pthread_mutex_unlock(&b->wmu);
}

void broker_queue_revocation(broker *b, const char *url, const char *job_id, uint32_t n)
{
    revocation *r = calloc(1, sizeof(*r));
    if (!r)
        return; /* the unit's next heartbeat carries the revocation anyway */
    snprintf(r->url, sizeof(r->url), "%s", url);
    snprintf(r->job_id, sizeof(r->job_id), "%s", job_id);
    r->attempt = n;
    queue_message(b, r);
}

void broker_queue_release(broker *b, const char *home_url, const char *unit_id, const char *job_id,
                          uint32_t n, const char *reason)
{
    revocation *r = calloc(1, sizeof(*r));
    if (!r)
        return;
    snprintf(r->url, sizeof(r->url), "%s", home_url);
    snprintf(r->unit_id, sizeof(r->unit_id), "%s", unit_id);
    snprintf(r->job_id, sizeof(r->job_id), "%s", job_id);
    snprintf(r->reason, sizeof(r->reason), "%s", reason);
    r->attempt = n;
    queue_message(b, r);
}

size_t broker_revoke_unit_jobs(broker *b, unit *u, const char *reason)
{
    size_t moved = 0;
    for (uint32_t i = 0; i < u->load;) {
        struct held h = u->held[i];
        if (h.pending) {
            i++; /* the dispatch in flight settles it */
            continue;
        }
        if (h.foreign) {
            /* Lent to another district: its owner moves the job when it sees
             * the unit lost; the unit itself hears it here when it returns. */
            unit_add_notice(u, h.job_id, h.attempt, "unit_lost");
            db_del_claim(b->db, u->id, h.job_id);
            broker_event(b, "claim_dropped", h.job_id, u->id, h.attempt,
                         "lent unit %s lost: %s will redeploy job %s", u->id, h.owner, h.job_id);
            unit_release(u, h.job_id);
            continue;
        }
        job *j = broker_job(b, h.job_id);
        attempt *a = j ? find_attempt(j, h.attempt) : NULL;
        if (a && a->state == ATT_ACTIVE) {
            a->state = ATT_REVOKED;
            a->notified = false;
            if (j->status == JOB_ASSIGNED) {
                j->status = JOB_QUEUED;
                j->updated_ms = coord_now_wall_ms();
                jobq_push(b->queue, j->id, j->sev, j->seq);
                moved++;
            }
            unit_add_notice(u, j->id, a->n, "redeployed");
            broker_save_job(b, j);
            broker_event(b, "job_requeued", j->id, u->id, a->n, "attempt %u revoked: %s", a->n,
                         reason);
        }
        unit_release(u, h.job_id); /* moves the last entry into slot i */
    }
    return moved;
}

static uint64_t monitor_period_ms(const broker *b)
{
    uint64_t p = b->cfg.failure_timeout_ms / 10;
    return p < 20 ? 20 : p > 200 ? 200 : p;
}

struct lost_list {
    char (*ids)[COORD_ID_MAX + 1];
    size_t n, cap;
};

static void collect_lost(const char *id, void *arg)
{
    struct lost_list *l = arg;
    if (l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 16;
        void *p = realloc(l->ids, nc * sizeof(*l->ids));
        if (!p)
            return;
        l->ids = p;
        l->cap = nc;
    }
    snprintf(l->ids[l->n++], COORD_ID_MAX + 1, "%s", id);
}

void *broker_monitor_main(void *arg)
{
    broker *b = arg;
    struct lost_list l = {0};
    uint64_t last_run = coord_now_mono_ms();
    while (!broker_wait(b, monitor_period_ms(b), true)) {
        l.n = 0;
        pthread_mutex_lock(&b->mu);
        uint64_t now = coord_now_mono_ms();
        if (now - last_run > b->cfg.failure_timeout_ms / 2) {
            /* We ourselves were not running (paused, starved, suspended):
             * the heartbeats waiting in our sockets have not been read, so
             * silence proves nothing. Give every unit a fresh window. */
            size_t it = 0;
            const char *key;
            void *val;
            while (hmap_next(b->units, &it, &key, &val))
                if (!((unit *)val)->lost)
                    fd_heartbeat(b->fd, key, now);
            service_log("warn",
                        "failure detector did not run for %llu ms; no unit is judged "
                        "on that gap",
                        (unsigned long long)(now - last_run));
        }
        last_run = now;
        fd_check(b->fd, now, collect_lost, &l);
        size_t moved = 0;
        for (size_t i = 0; i < l.n; i++) {
            unit *u = broker_unit(b, l.ids[i]);
            if (!u || u->lost)
                continue;
            u->lost = true;
            b->m.units_lost++;
            broker_txn_begin(b);
            broker_event(b, "unit_lost", NULL, u->id, 0, "no heartbeat for %llu ms",
                         (unsigned long long)b->cfg.failure_timeout_ms);
            moved += broker_revoke_unit_jobs(b, u, "unit lost");
            broker_commit_or_die(b);
        }
        if (b->retry_drain_mono_ms && coord_now_mono_ms() >= b->retry_drain_mono_ms) {
            b->retry_drain_mono_ms = 0;
            moved++;
        }
        pthread_mutex_unlock(&b->mu);
        if (moved)
            broker_request_drain(b);
    }
    free(l.ids);
    return NULL;
}

void *broker_dispatch_main(void *arg)
{
    broker *b = arg;
    jobq_item *items = calloc(DRAIN_BATCH, sizeof(*items));
    if (!items)
        return NULL;
    for (;;) {
        pthread_mutex_lock(&b->wmu);
        while (!b->stopping && !b->drain_requested)
            pthread_cond_wait(&b->wcond, &b->wmu);
        bool stop = b->stopping;
        b->drain_requested = false;
        pthread_mutex_unlock(&b->wmu);
        if (stop)
            break;

        pthread_mutex_lock(&b->mu);
        size_t n = jobq_snapshot(b->queue, items, DRAIN_BATCH);
        pthread_mutex_unlock(&b->mu);
        /* Priority order: a critical job gets the freed unit before a low one;
         * a job no free unit can serve does not block the ones after it. */
        size_t assigned = 0;
        for (size_t i = 0; i < n; i++) {
            pthread_mutex_lock(&b->wmu);
            stop = b->stopping;
            pthread_mutex_unlock(&b->wmu);
            if (stop)
                break;
            assigned += broker_dispatch(b, items[i].id, false) == DISPATCH_ASSIGNED;
        }
        /* A full batch that made progress: more may wait behind it. */
        if (n == DRAIN_BATCH && assigned)
            broker_request_drain(b);
    }
    free(items);
    http_client_thread_cleanup();
    return NULL;
}

void *broker_notify_main(void *arg)
{
    broker *b = arg;
    for (;;) {
        pthread_mutex_lock(&b->wmu);
        while (!b->stopping && !b->revocations)
            pthread_cond_wait(&b->wcond, &b->wmu);
        if (b->stopping) {
            pthread_mutex_unlock(&b->wmu);
            break;
        }
        revocation *r = b->revocations;
        b->revocations = r->next;
        pthread_mutex_unlock(&b->wmu);

        char url[BROKER_URL_MAX + 128];
        http_reply rep;
        if (r->unit_id[0]) {
            /* Release of a borrowed unit at its home broker. */
            snprintf(url, sizeof(url), "%s/v1/units/%s/release", r->url, r->unit_id);
            json_t *body = json_pack("{s:s, s:i, s:s}", "job_id", r->job_id, "attempt",
                                     (int)r->attempt, "reason", r->reason);
            if (http_json("POST", url, body, &revoke_opts, &rep) < 0 || rep.status != 200)
                service_log("warn", "release of %s for %s at %s failed", r->unit_id, r->job_id,
                            r->url);
            json_decref(body);
            http_reply_release(&rep);
            free(r);
            continue;
        }
        snprintf(url, sizeof(url), "%s/v1/assignments/%s?attempt=%u", r->url, r->job_id,
                 r->attempt);
        int rc = http_json("DELETE", url, NULL, &revoke_opts, &rep);
        bool delivered = rc == 0 && (rep.status == 200 || rep.status == 404);
        http_reply_release(&rep);
        if (delivered) {
            pthread_mutex_lock(&b->mu);
            job *j = broker_job(b, r->job_id);
            attempt *a = j ? find_attempt(j, r->attempt) : NULL;
            if (a)
                a->notified = true;
            pthread_mutex_unlock(&b->mu);
        }
        free(r);
    }
    http_client_thread_cleanup();
    return NULL;
}
