/* Synced copies of other districts' records (see remote.h). */
#include "remote.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jobs.h"

typedef struct peer_count {
    size_t units, jobs;
} peer_count;

int remote_init(remote *r, strtab *strings)
{
    memset(r, 0, sizeof(*r));
    r->strings = strings;
    r->units = hmap_new();
    r->jobs = hmap_new();
    r->counts = hmap_new();
    return r->units && r->jobs && r->counts ? COORD_OK : COORD_E_NOMEM;
}

void runit_release(runit *u, strtab *t)
{
    if (!u)
        return;
    capset_release(&u->caps, t);
    free(u->jobs);
    u->jobs = NULL;
    u->njobs = 0;
}

void rjob_release(rjob *j, strtab *t)
{
    if (!j)
        return;
    capset_release(&j->caps, t);
    free(j->attempts);
    if (j->res)
        free(j->res->data);
    free(j->res);
    free(j->location);
    free(j->payload);
    j->attempts = NULL;
    j->res = NULL;
    j->location = j->payload = NULL;
    j->nattempts = 0;
}

void remote_release(remote *r)
{
    size_t it = 0;
    const char *key;
    void *val;

    while (hmap_next(r->units, &it, &key, &val)) {
        runit_release(val, r->strings);
        free(val);
    }
    it = 0;
    while (hmap_next(r->jobs, &it, &key, &val)) {
        rjob_release(val, r->strings);
        free(val);
    }
    hmap_free(r->units, NULL);
    hmap_free(r->jobs, NULL);
    hmap_free(r->counts, free);
    memset(r, 0, sizeof(*r));
}

const runit *remote_unit(const remote *r, const char *id)
{
    return id ? hmap_get(r->units, id) : NULL;
}

const rjob *remote_job(const remote *r, const char *id)
{
    return id ? hmap_get(r->jobs, id) : NULL;
}

static peer_count *count_of(remote *r, const char *from, bool create)
{
    peer_count *c = hmap_get(r->counts, from);

    if (!c && create) {
        c = calloc(1, sizeof(*c));
        if (c && hmap_put(r->counts, from, c, NULL) < 0) {
            free(c);
            c = NULL;
        }
    }
    return c;
}

static size_t *count_slot(peer_count *c, char kind)
{
    return kind == 'u' ? &c->units : &c->jobs;
}

/* Makes room for one more copy of from in a table of kind, moving the
 * count when the id was held for another peer. old: the copy it replaces. */
static int admit(remote *r, char kind, const char *from, const char *old_from)
{
    size_t cap = kind == 'u' ? REMOTE_MAX_UNITS_PER_PEER : REMOTE_MAX_JOBS_PER_PEER;
    peer_count *c;

    if (old_from && strcmp(old_from, from) == 0)
        return COORD_OK; /* same peer, same slot */
    c = count_of(r, from, true);
    if (!c)
        return COORD_E_NOMEM;
    if (*count_slot(c, kind) >= cap) {
        r->refused++;
        return COORD_E_RANGE;
    }
    (*count_slot(c, kind))++;
    if (old_from) {
        peer_count *o = count_of(r, old_from, false);

        if (o && *count_slot(o, kind))
            (*count_slot(o, kind))--;
    }
    return COORD_OK;
}

static void forget(remote *r, char kind, const char *from)
{
    peer_count *c = count_of(r, from, false);

    if (c && *count_slot(c, kind))
        (*count_slot(c, kind))--;
}

/* The two tables differ only in their record type. */
static hmap *table(const remote *r, char kind)
{
    return kind == 'u' ? r->units : r->jobs;
}

static const char *from_of(char kind, const void *e)
{
    return kind == 'u' ? ((const runit *)e)->from : ((const rjob *)e)->from;
}

static uint64_t gen_of(char kind, const void *e)
{
    return kind == 'u' ? ((const runit *)e)->gen : ((const rjob *)e)->gen;
}

static void release_copy(remote *r, char kind, void *e)
{
    if (kind == 'u')
        runit_release(e, r->strings);
    else
        rjob_release(e, r->strings);
}

/* Moves *copy (size bytes) into the table of kind under id. */
static int put_copy(remote *r, char kind, const char *id, void *copy, size_t size)
{
    hmap *m = table(r, kind);
    void *e = hmap_get(m, id);
    int rc = admit(r, kind, from_of(kind, copy), e ? from_of(kind, e) : NULL);

    if (rc < 0) {
        release_copy(r, kind, copy);
        return rc;
    }
    if (!e) {
        e = malloc(size);
        if (!e || hmap_put(m, id, e, NULL) < 0) {
            free(e);
            forget(r, kind, from_of(kind, copy));
            release_copy(r, kind, copy);
            return COORD_E_NOMEM;
        }
    } else {
        release_copy(r, kind, e);
    }
    memcpy(e, copy, size);
    memset(copy, 0, size);
    return COORD_OK;
}

int remote_put_unit(remote *r, runit *copy)
{
    return put_copy(r, 'u', copy->id, copy, sizeof(*copy));
}

int remote_put_job(remote *r, rjob *copy)
{
    return put_copy(r, 'j', copy->id, copy, sizeof(*copy));
}

int remote_sweep(remote *r, char kind, const char *from, uint64_t gen,
                 char (**ids)[COORD_ID_MAX + 1], size_t *n)
{
    hmap *m = table(r, kind);
    size_t it = 0, cnt = 0, cap = 0;
    char(*v)[COORD_ID_MAX + 1] = NULL;
    const char *key;
    void *val;

    /* Collect first: the map must not change while iterating. */
    while (hmap_next(m, &it, &key, &val)) {
        if (strcmp(from_of(kind, val), from) != 0 || gen_of(kind, val) >= gen)
            continue;
        if (cnt == cap) {
            size_t nc = cap ? cap * 2 : 16;
            void *p = realloc(v, nc * sizeof(*v));

            if (!p) {
                free(v);
                return COORD_E_NOMEM; /* nothing swept; the next full sync tries again */
            }
            v = p;
            cap = nc;
        }
        snprintf(v[cnt++], COORD_ID_MAX + 1, "%s", key);
    }
    for (size_t i = 0; i < cnt; i++) {
        void *e = hmap_del(m, v[i]);

        release_copy(r, kind, e);
        free(e);
        forget(r, kind, from);
    }
    *ids = v;
    *n = cnt;
    return COORD_OK;
}

void remote_refresh_unit(remote *r, runit *fresh, uint64_t now_wall)
{
    runit *e = hmap_get(r->units, fresh->id);

    if (!e) {
        runit_release(fresh, r->strings);
        return;
    }
    snprintf(fresh->from, sizeof(fresh->from), "%s", e->from);
    fresh->gen = e->gen;
    fresh->fetched_wall_ms = now_wall;
    runit_release(e, r->strings);
    *e = *fresh;
    memset(fresh, 0, sizeof(*fresh));
}

void remote_mark_busy(remote *r, const char *id)
{
    runit *e = hmap_get(r->units, id);

    if (e)
        e->shown = UNIT_BUSY;
}

size_t remote_requeue_on_lost(state *s, const char *unit_id, const char *owner, uint64_t now_wall,
                              job **out, size_t max)
{
    size_t it = 0, n = 0;
    const char *key;
    void *val;

    /* Collect first: requeueing takes the job out of the borrowed map. */
    while (n < max && hmap_next(s->borrowed, &it, &key, &val)) {
        job *j = val;
        attempt *a = job_current_attempt(j);

        if (a && a->state == ATT_ACTIVE && strcmp(a->unit_id, unit_id) == 0 &&
            strcmp(a->unit_district, owner) == 0)
            out[n++] = j;
    }
    for (size_t i = 0; i < n; i++)
        (void)state_requeue(s, out[i], job_current_attempt(out[i]), now_wall, "redeployed");
    return n;
}

void remote_apply_unit(remote *r, state *s, runit *copy, uint64_t now_wall, copy_outcome *out)
{
    char id[COORD_ID_MAX + 1], from[COORD_ID_MAX + 1];
    unit_status shown = copy->shown;

    memset(out, 0, sizeof(*out));
    if (state_unit(s, copy->id)) {
        out->own = true;
        runit_release(copy, r->strings);
        return;
    }
    snprintf(id, sizeof(id), "%s", copy->id);
    snprintf(from, sizeof(from), "%s", copy->from);
    out->stored = remote_put_unit(r, copy) == 0;
    if (shown == UNIT_LOST)
        out->nrequeued =
            remote_requeue_on_lost(s, id, from, now_wall, out->requeued, REMOTE_REQUEUE_MAX);
    /* A unit free elsewhere may serve a job waiting here (mutual aid). */
    out->may_aid = shown == UNIT_AVAILABLE && jobq_size(s->queue) > 0;
}

void remote_apply_job(remote *r, state *s, rjob *copy, copy_outcome *out)
{
    memset(out, 0, sizeof(*out));
    if (state_job(s, copy->id)) {
        out->own = true;
        rjob_release(copy, r->strings);
        return;
    }
    out->stored = remote_put_job(r, copy) == 0;
}

bool remote_pick_unit(const remote *r, const peertab *peers, const job *j,
                      const char (*tried)[COORD_ID_MAX + 1], size_t ntried, char *unit_id,
                      char *home)
{
    const runit *best = NULL;
    unit_candidate bc = {0};
    size_t it = 0;
    const char *key;
    void *val;

    while (hmap_next(r->units, &it, &key, &val)) {
        const runit *e = val;
        /* A copy that says busy is full at its home, whatever its job list
         * shows (pending claims are not listed). */
        unit_candidate c = unit_candidate_of(
            e->id, e->from, e->shown,
            e->shown == UNIT_BUSY && e->njobs < e->capacity ? e->capacity : e->njobs,
            e->capacity ? e->capacity : 1, e->caps.v, e->caps.n);

        if (e->shown != UNIT_AVAILABLE || !unit_eligible(&c, j->caps.v, j->caps.n))
            continue;
        if (best && unit_order(&c, &bc, NULL) >= 0)
            continue;
        if (ids_contain(tried, ntried, e->id) || !peertab_get(peers, e->from))
            continue;
        best = e;
        bc = c;
    }
    if (!best)
        return false;
    snprintf(unit_id, COORD_ID_MAX + 1, "%s", best->id);
    snprintf(home, COORD_ID_MAX + 1, "%s", best->from);
    return true;
}

static int cmp_unit_id(const void *a, const void *b)
{
    return strcmp((*(const runit *const *)a)->id, (*(const runit *const *)b)->id);
}

static int cmp_job_id(const void *a, const void *b)
{
    return strcmp((*(const rjob *const *)a)->id, (*(const rjob *const *)b)->id);
}

const runit **remote_list_units(const remote *r, const unit_status *status, const char *cap,
                                size_t *n)
{
    const runit **v = malloc((hmap_size(r->units) + 1) * sizeof(*v));
    size_t it = 0, k = 0;
    const char *key;
    void *val;

    *n = 0;
    if (!v)
        return NULL;
    while (hmap_next(r->units, &it, &key, &val)) {
        const runit *e = val;

        if ((!status || e->shown == *status) && (!cap || capset_has(&e->caps, cap)))
            v[k++] = e;
    }
    qsort(v, k, sizeof(*v), cmp_unit_id);
    *n = k;
    return v;
}

const rjob **remote_list_jobs(const remote *r, const job_status *status, size_t *n)
{
    const rjob **v = malloc((hmap_size(r->jobs) + 1) * sizeof(*v));
    size_t it = 0, k = 0;
    const char *key;
    void *val;

    *n = 0;
    if (!v)
        return NULL;
    while (hmap_next(r->jobs, &it, &key, &val)) {
        const rjob *e = val;

        if (!status || e->shown == *status)
            v[k++] = e;
    }
    qsort(v, k, sizeof(*v), cmp_job_id);
    *n = k;
    return v;
}
