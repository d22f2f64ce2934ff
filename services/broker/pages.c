/* Reading and applying a peer's metadata page (see pages.h). */
#include "pages.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "emergency.h"
#include "json_fields.h"
#include "json_scan.h"
#include "txn.h"
#include "views.h"

/* The page's members other than its objects, each parsed on its own. */
typedef struct page_head {
    json_t *broker, *epoch, *version, *full, *more, *vclock, *emergency, *em_ms;
    json_span units, jobs;
    bool has_units, has_jobs;
} page_head;

static void head_release(page_head *h)
{
    json_decref(h->broker);
    json_decref(h->epoch);
    json_decref(h->version);
    json_decref(h->full);
    json_decref(h->more);
    json_decref(h->vclock);
    json_decref(h->emergency);
    json_decref(h->em_ms);
}

static int head_member(void *arg, json_span key, json_span value)
{
    static const struct {
        const char *key;
        size_t off;
    } small[] = {
        {"broker", offsetof(page_head, broker)},
        {"epoch", offsetof(page_head, epoch)},
        {"version", offsetof(page_head, version)},
        {"full", offsetof(page_head, full)},
        {"more", offsetof(page_head, more)},
        {"vclock", offsetof(page_head, vclock)},
        {"emergency", offsetof(page_head, emergency)},
        {"emergency_set_ms", offsetof(page_head, em_ms)},
    };
    page_head *h = arg;

    if (json_span_is(key, "units")) {
        h->units = value;
        h->has_units = true;
        return 0;
    }
    if (json_span_is(key, "jobs")) {
        h->jobs = value;
        h->has_jobs = true;
        return 0;
    }
    for (size_t i = 0; i < sizeof(small) / sizeof(small[0]); i++) {
        json_t **slot = (json_t **)((char *)h + small[i].off);

        if (json_span_is(key, small[i].key) && !*slot) {
            /* Not a value (or a repeated key): as if absent. */
            *slot = json_loadb(value.p, value.len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, NULL);
            return 0;
        }
    }
    return 0; /* a member this broker does not know: a newer peer's */
}

/* The spans of one of the page's arrays, at most REMOTE_MAX_PAGE_OBJECTS
 * (the rest counted in over). */
typedef struct spans {
    json_span *v;
    size_t n;
    uint64_t over;
} spans;

static int collect(void *arg, json_span value)
{
    spans *s = arg;

    if (s->n == REMOTE_MAX_PAGE_OBJECTS) {
        s->over++;
        return 0;
    }
    if (!s->v) {
        s->v = malloc(REMOTE_MAX_PAGE_OBJECTS * sizeof(*s->v));
        if (!s->v)
            return -2;
    }
    s->v[s->n++] = value;
    return 0;
}

/* One object read outside the lock: its typed copy (capabilities not yet
 * set), its JSON (for them) and its text (for the store). */
typedef struct parsed {
    bool is_job;
    json_t *o;
    char *text;
    runit u;
    rjob j;
} parsed;

static void parsed_release(parsed *x, strtab *t)
{
    runit_release(&x->u, t);
    rjob_release(&x->j, t);
    json_decref(x->o);
    free(x->text);
}

/* Reads span s into x; false when it cannot be applied. */
static bool read_object(json_span s, bool is_job, const char *from, uint64_t now, uint64_t gen,
                        uint32_t egen, parsed *x)
{
    memset(x, 0, sizeof(*x));
    x->is_job = is_job;
    if (s.len > REMOTE_MAX_OBJECT_BYTES)
        return false;
    x->o = json_loadb(s.p, s.len, JSON_REJECT_DUPLICATES, NULL);
    if (!x->o || json_too_deep(x->o, REMOTE_MAX_OBJECT_DEPTH) ||
        (is_job ? view_parse_job(x->o, NULL, from, now, gen, &x->j)
                : view_parse_unit(x->o, NULL, from, now, gen, &x->u)) < 0)
        return false;
    x->u.egen = egen;
    x->text = strndup(s.p, s.len);
    return x->text != NULL;
}

/* Counters of the page, summed over its steps. */
typedef struct page_sums {
    size_t units, jobs, moved;
    uint64_t skipped;
} page_sums;

/* The claims on our units the owner's copy of a job ends: freed at once
 * (and the terminal told to stop, unless the crew reported). */
static void claims_ended(txn *t, const char *from, const copy_outcome *out)
{
    for (size_t k = 0; k < out->nended; k++) {
        const ended_claim *e = &out->ended[k];

        txn_del_claim(t, e->u->id, e->job_id);
        txn_event(t, "unit_released", e->job_id, e->u->id, e->attempt,
                  "claim on %s for job %s ended: %s's copy of the job shows attempt %u %s",
                  e->u->id, e->job_id, from, e->attempt, e->finished ? "finished" : "over");
        if (!e->finished)
            txn_revoke(t, e->u->url, e->job_id, e->attempt);
        txn_wake_dispatch(t);
    }
}

/* Applies the objects read; caller holds mu inside t. */
static void apply_step(broker *b, txn *t, const peer *p, parsed *v, size_t n, uint64_t now,
                       page_sums *sum)
{
    for (size_t i = 0; i < n; i++) {
        parsed *x = &v[i];
        char id[COORD_ID_MAX + 1];
        copy_outcome out;

        if (view_parse_caps(x->o, x->is_job, b->st.strings, x->is_job ? &x->j.caps : &x->u.caps) <
            0) {
            sum->skipped++;
            continue;
        }
        if (!x->is_job) {
            bool lost = x->u.shown == UNIT_LOST;

            snprintf(id, sizeof(id), "%s", x->u.id);
            remote_apply_unit(&b->rem, &b->st, &x->u, coord_now_wall_ms(), &out);
            for (size_t k = 0; k < out.nrequeued; k++) {
                uint32_t an = job_current_attempt(out.requeued[k])->n;

                txn_put_job(t, out.requeued[k]);
                txn_event(t, "job_requeued", out.requeued[k]->id, id, an,
                          "borrowed unit %s %s at %s: attempt %u revoked", id,
                          lost ? "lost" : "no longer holds our claim", p->id, an);
            }
            for (size_t k = 0; k < out.nstale; k++) {
                const ended_claim *e = &out.stale[k];

                txn_release(t, p->url, id, e->job_id, e->attempt,
                            e->finished ? "finished" : "revoked");
                txn_log(t, "info", "%s still holds %s for our job %s attempt %u: released", p->id,
                        id, e->job_id, e->attempt);
            }
            sum->moved += out.nrequeued + out.may_aid;
        } else {
            snprintf(id, sizeof(id), "%s", x->j.id);
            remote_apply_job(&b->rem, &b->st, &x->j, &out);
            claims_ended(t, p->id, &out);
        }
        if (out.stored) {
            txn_put_remote(t, x->is_job ? 'j' : 'u', id, p->id, x->text, now);
            if (x->is_job)
                sum->jobs++;
            else
                sum->units++;
        }
    }
}

/* Forgets what a finished full sync did not confirm, on disk too. */
static void sweep(broker *b, txn *t, const peer *p, char kind)
{
    char(*ids)[COORD_ID_MAX + 1] = NULL;
    size_t n = 0;

    if (remote_sweep(&b->rem, kind, p->id, p->gen, &ids, &n) < 0) {
        txn_log(t, "warn", "out of memory sweeping the copies of %s", p->id);
        return;
    }
    for (size_t i = 0; i < n; i++)
        txn_del_remote(t, kind, ids[i]);
    free(ids);
}

/* The page's units then jobs, PAGE_CHUNK at a time: read, then applied
 * in a transaction of their own. False when storage failed (a failed
 * commit reloaded the district and reset the peer's cursor: the rest of
 * the page is not applied). */
static bool run_steps(broker *b, size_t idx, const spans *units, const spans *jobs, uint64_t gen,
                      uint32_t egen, page_sums *sum)
{
    size_t total = units->n + jobs->n;
    char from[COORD_ID_MAX + 1];
    uint64_t now = coord_now_wall_ms();
    bool ok = true;

    /* Most pulls of a quiet city bring nothing: no step, and no 300 KiB
     * of zeroed records for it. */
    if (total == 0)
        return true;
    parsed *v = calloc(total < PAGE_CHUNK ? total : PAGE_CHUNK, sizeof(*v));
    if (!v) {
        sum->skipped += total;
        return true;
    }
    snprintf(from, sizeof(from), "%s", b->peers.v[idx].id); /* never changes */
    for (size_t at = 0; ok && at < total; at += PAGE_CHUNK) {
        size_t n = 0;
        txn t;

        for (size_t i = at; i < total && i < at + PAGE_CHUNK; i++) {
            bool is_job = i >= units->n;
            json_span s = is_job ? jobs->v[i - units->n] : units->v[i];

            if (read_object(s, is_job, from, now, gen, egen, &v[n]))
                n++;
            else {
                parsed_release(&v[n], NULL);
                sum->skipped++;
            }
        }
        pthread_mutex_lock(&b->mu);
        txn_begin(b, &t);
        ok = txn_store_ok(b);
        if (ok) {
            apply_step(b, &t, &b->peers.v[idx], v, n, now, sum);
            ok = txn_commit(&t);
        }
        for (size_t i = 0; i < n; i++)
            parsed_release(&v[i], b->st.strings); /* the string table outlives a reload */
        txn_end(&t);
    }
    free(v);
    return ok;
}

int page_apply(broker *b, size_t idx, const char *raw, size_t len, size_t *moved)
{
    page_head h = {0};
    spans units = {0}, jobs = {0};
    page_sums sum = {0};
    severity level;
    int rc = -1;
    txn t;

    *moved = 0;
    if (json_scan_object((json_span){raw, len}, head_member, &h) < 0 || !json_is_string(h.broker) ||
        !json_is_string(h.epoch) ||
        strlen(json_string_value(h.epoch)) >= sizeof(b->peers.v[idx].epoch) ||
        !json_is_integer(h.version) || json_integer_value(h.version) < 0 || !h.has_units ||
        !h.has_jobs || strcmp(json_string_value(h.broker), b->peers.v[idx].id) != 0 ||
        json_scan_array(h.units, collect, &units) < 0 ||
        json_scan_array(h.jobs, collect, &jobs) < 0)
        goto out;

    pthread_mutex_lock(&b->mu);
    peer *p = &b->peers.v[idx];
    peer_page_begin(p, json_is_true(h.full), json_string_value(h.epoch));
    uint64_t gen = p->gen;
    uint32_t egen = p->egen;
    pthread_mutex_unlock(&b->mu);

    sum.skipped = units.over + jobs.over;
    bool applied = run_steps(b, idx, &units, &jobs, gen, egen, &sum);

    bool more = json_is_true(h.more);
    pthread_mutex_lock(&b->mu);
    p = &b->peers.v[idx];
    if (!applied) {
        /* The next pull is a full one (restore_reload): a generation of its
         * own, so it sweeps what this one left behind. */
        p->full = false;
        pthread_mutex_unlock(&b->mu);
        goto out;
    }
    txn_begin(b, &t);
    p->since = (uint64_t)json_integer_value(h.version);
    p->pulled_units += sum.units;
    p->pulled_jobs += sum.jobs;
    b->rem.skipped += sum.skipped;
    if (peer_page_end(p, more)) {
        sweep(b, &t, p, 'u');
        sweep(b, &t, p, 'j');
    }
    clock_receive_json(b, h.vclock);
    if (sum.units || sum.jobs) {
        /* Receiving news is an event: it orders the peer's changes before
         * whatever we do next, and the event log shows the message. */
        txn_event(&t, "synced", NULL, NULL, 0, "pulled %zu units and %zu jobs from %s", sum.units,
                  sum.jobs, p->id);
    }
    if (sum.skipped)
        txn_log(&t, "warn", "%llu objects of a page from %s could not be applied (skipped)",
                (unsigned long long)sum.skipped, p->id);
    if (json_is_integer(h.em_ms) && json_integer_value(h.em_ms) > 0 &&
        severity_parse(json_string_value(h.emergency), &level) == 0)
        emergency_apply(b, &t, level, (uint64_t)json_integer_value(h.em_ms), p->id);
    rc = txn_commit(&t) ? (more ? 1 : 0) : -1;
    txn_end(&t);
    *moved = sum.moved;
out:
    free(units.v);
    free(jobs.v);
    head_release(&h);
    return rc;
}
