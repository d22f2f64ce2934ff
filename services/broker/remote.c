/* Synced copies of other districts' records (see remote.h). */
#include "remote.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jobs.h"
#include "units.h"

typedef struct peer_count {
    size_t units, jobs;
    size_t bytes; /* what copy_bytes says they take, units and jobs */
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
    free(u->claims);
    free(u->crew_status);
    u->jobs = NULL;
    u->claims = NULL;
    u->crew_status = NULL;
    u->njobs = u->nclaims = 0;
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
    free(j->response);
    free(j->plan);
    j->response = j->plan = NULL;
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

static size_t text_bytes(const char *t)
{
    return t ? strlen(t) + 1 : 0;
}

/* What a copy takes, near enough: the record, what it points to, and the
 * map's entry and key. The per-peer byte cap counts this. */
static size_t copy_bytes(char kind, const void *e)
{
    size_t n = 64 + COORD_ID_MAX + 1;

    if (kind == 'u') {
        const runit *u = e;

        n += sizeof(*u) + u->njobs * sizeof(*u->jobs) + u->nclaims * sizeof(*u->claims) +
             u->caps.n * sizeof(*u->caps.v) + text_bytes(u->crew_status);
    } else {
        const rjob *j = e;

        n += sizeof(*j) + j->nattempts * sizeof(*j->attempts) + j->caps.n * sizeof(*j->caps.v) +
             text_bytes(j->location) + text_bytes(j->payload) + text_bytes(j->response) +
             text_bytes(j->plan);
        if (j->res)
            n += sizeof(*j->res) + text_bytes(j->res->data);
    }
    return n;
}

/* Makes room for one more copy of from (bytes large) in a table of kind,
 * moving the count when the id was held for another peer. old_from and
 * old_bytes: the copy it replaces (NULL and 0 when none). */
static int admit(remote *r, char kind, const char *from, size_t bytes, const char *old_from,
                 size_t old_bytes)
{
    size_t cap = kind == 'u' ? REMOTE_MAX_UNITS_PER_PEER : REMOTE_MAX_JOBS_PER_PEER;
    bool same = old_from && strcmp(old_from, from) == 0;
    peer_count *c = count_of(r, from, true);

    if (!c)
        return COORD_E_NOMEM;
    /* A copy that replaces one of the same peer takes its slot and bytes. */
    size_t kept = c->bytes - (same ? old_bytes : 0);
    if ((!same && *count_slot(c, kind) >= cap) || kept + bytes > REMOTE_MAX_BYTES_PER_PEER) {
        r->refused++;
        return COORD_E_RANGE;
    }
    c->bytes = kept + bytes;
    if (same)
        return COORD_OK;
    (*count_slot(c, kind))++;
    if (old_from) {
        peer_count *o = count_of(r, old_from, false);

        if (o && *count_slot(o, kind))
            (*count_slot(o, kind))--;
        if (o)
            o->bytes = o->bytes > old_bytes ? o->bytes - old_bytes : 0;
    }
    return COORD_OK;
}

static void forget(remote *r, char kind, const char *from, size_t bytes)
{
    peer_count *c = count_of(r, from, false);

    if (c && *count_slot(c, kind))
        (*count_slot(c, kind))--;
    if (c)
        c->bytes = c->bytes > bytes ? c->bytes - bytes : 0;
}

size_t remote_bytes_of(const remote *r, const char *from)
{
    const peer_count *c = from ? hmap_get(r->counts, from) : NULL;

    return c ? c->bytes : 0;
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
    size_t bytes = copy_bytes(kind, copy);
    int rc = admit(r, kind, from_of(kind, copy), bytes, e ? from_of(kind, e) : NULL,
                   e ? copy_bytes(kind, e) : 0);

    if (rc < 0) {
        release_copy(r, kind, copy);
        return rc;
    }
    if (!e) {
        e = malloc(size);
        if (!e || hmap_put(m, id, e, NULL) < 0) {
            free(e);
            forget(r, kind, from_of(kind, copy), bytes);
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

        forget(r, kind, from, copy_bytes(kind, e));
        release_copy(r, kind, e);
        free(e);
    }
    *ids = v;
    *n = cnt;
    return COORD_OK;
}

void remote_refresh_unit(remote *r, runit *fresh, uint64_t now_wall)
{
    runit *e = hmap_get(r->units, fresh->id);
    peer_count *c = e ? count_of(r, e->from, false) : NULL;

    /* Only a newer version of the same incarnation: an answer sent before
     * a pull that was applied first is older than what the pull showed. */
    if (!e || fresh->egen != e->egen || fresh->version <= e->version) {
        runit_release(fresh, r->strings);
        return;
    }
    snprintf(fresh->from, sizeof(fresh->from), "%s", e->from);
    fresh->gen = e->gen;
    fresh->fetched_wall_ms = now_wall;
    if (c) /* the home's own answer about one unit: counted, never refused */
        c->bytes = c->bytes - copy_bytes('u', e) + copy_bytes('u', fresh);
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

static bool lists_claim(const runit *c, const char *self, const char *job_id, uint32_t n)
{
    if (!c->has_claims) {
        /* A home that does not list claims: its job list is all there is. */
        for (uint32_t i = 0; i < c->njobs; i++)
            if (strcmp(c->jobs[i], job_id) == 0)
                return true;
        return false;
    }
    for (uint32_t i = 0; i < c->nclaims; i++)
        if (c->claims[i].attempt == n && strcmp(c->claims[i].job_id, job_id) == 0 &&
            strcmp(c->claims[i].owner, self) == 0)
            return true;
    return false;
}

bool remote_claim_gone(const runit *c, const char *self, const char *job_id, const attempt *a)
{
    bool newer = a->claim_egen == 0 || c->egen != a->claim_egen || c->version > a->claim_version;

    /* A home that shows no versions: only its word that the unit is lost. */
    if (c->version == 0)
        return c->shown == UNIT_LOST;
    return newer && (c->shown == UNIT_LOST || !lists_claim(c, self, job_id, a->n));
}

/* Attempt a of j on borrowed unit c whose claim is gone at its home. */
static bool borrowed_gone(const state *s, const runit *c, const job *j, const attempt *a)
{
    return a->state == ATT_ACTIVE && strcmp(a->unit_id, c->id) == 0 &&
           strcmp(a->unit_district, c->from) == 0 && remote_claim_gone(c, s->self, j->id, a);
}

size_t remote_requeue_gone(state *s, const runit *c, uint64_t now_wall, job **out, size_t max)
{
    size_t it = 0, n = 0;
    const char *key;
    void *val;

    /* Collect first: requeueing takes the job out of the borrowed map. A
     * multi-unit incident may hold several borrowed units, so every active
     * attempt is looked at; a unit is on one line of it at most. */
    while (n < max && hmap_next(s->borrowed, &it, &key, &val)) {
        job *j = val;

        for (size_t i = 0; i < j->nattempts; i++)
            if (borrowed_gone(s, c, j, &j->attempts[i])) {
                out[n++] = j;
                break;
            }
    }
    for (size_t k = 0; k < n; k++)
        for (size_t i = 0; i < out[k]->nattempts; i++)
            if (borrowed_gone(s, c, out[k], &out[k]->attempts[i]))
                (void)state_requeue(s, out[k], &out[k]->attempts[i], now_wall, "redeployed");
    return n;
}

bool remote_copy_ends_claim(const rjob *c, const char *self, const char *unit_id,
                            uint32_t attempt_no, bool *finished)
{
    const rattempt *mine = NULL;
    bool later = false, over = c->shown == JOB_COMPLETED || c->shown == JOB_CANCELLED;

    *finished = false;
    for (uint32_t i = 0; i < c->nattempts; i++) {
        if (c->attempts[i].n == attempt_no)
            mine = &c->attempts[i];
        later |= c->attempts[i].n > attempt_no;
    }
    /* Attempt numbers are never shown for two units, and a claim is made
     * only for a queued job: no copy older than the claim shows its
     * attempt, a later one, or the job over. */
    if (mine && strcmp(mine->unit_id, unit_id) == 0 && strcmp(mine->district, self) == 0) {
        *finished = mine->state == ATT_FINISHED;
        return mine->state != ATT_ACTIVE || over;
    }
    return mine || later || over;
}

/* The owner's copy c of a job ends claims on our units (see
 * remote_copy_ends_claim): each is dropped and listed in out. */
static void end_claims(state *s, const rjob *c, copy_outcome *out)
{
    const unit_list *l = state_lent(s, c->id);
    unit *cand[REMOTE_REQUEUE_MAX];
    size_t nc = 0;

    /* Copy the lenders first: dropping a claim prunes the list. */
    for (size_t i = 0; l && i < l->n && nc < REMOTE_REQUEUE_MAX; i++)
        cand[nc++] = l->v[i];
    for (size_t i = 0; i < nc; i++) {
        unit *u = cand[i];
        bool any = false;

        for (uint32_t k = 0; k < u->load;) {
            const held *h = &u->held[k];
            ended_claim *e = &out->ended[out->nended];
            bool fin;

            if (strcmp(h->job_id, c->id) != 0 || !h->foreign) {
                k++;
                continue;
            }
            any = true;
            if (h->pending || strcmp(h->owner, c->from) != 0 || out->nended == REMOTE_REQUEUE_MAX ||
                !remote_copy_ends_claim(c, s->self, u->id, h->attempt, &fin)) {
                k++;
                continue;
            }
            e->u = u;
            snprintf(e->job_id, sizeof(e->job_id), "%s", h->job_id);
            e->attempt = h->attempt;
            e->finished = fin;
            out->nended++;
            /* Slot k now holds what was the last one: look at k again. */
            (void)state_claim_drop(s, u, e->job_id, e->attempt);
        }
        if (!any)
            state_lent_prune(s, c->id, u); /* an entry its slot outlived */
    }
}

/* Who may write a copy: the district it names must be its sender's (an
 * empty one is taken for the sender's). */
static copy_ignored not_the_senders(const state *s, const char *district, const char *from)
{
    if (strcmp(district, s->self) == 0)
        return COPY_OWN_DISTRICT;
    if (district[0] && strcmp(district, from) != 0)
        return COPY_NOT_THE_SENDERS;
    return COPY_KEPT;
}

/* The claims of ours copy c lists that no attempt of ours stands on any
 * more (none by that number on that unit, or it is over): to release. A
 * pending attempt is a claim whose answer is on its way. */
static void stale_claims(const state *s, const runit *c, copy_outcome *out)
{
    for (uint32_t i = 0; i < c->nclaims && out->nstale < REMOTE_REQUEUE_MAX; i++) {
        const rclaim *k = &c->claims[i];
        const job *j = strcmp(k->owner, s->self) == 0 ? state_job(s, k->job_id) : NULL;
        const attempt *a = j ? job_attempt(j, k->attempt) : NULL;
        ended_claim *e = &out->stale[out->nstale];

        if (strcmp(k->owner, s->self) != 0 ||
            (a && strcmp(a->unit_id, c->id) == 0 && strcmp(a->unit_district, c->from) == 0 &&
             (a->state == ATT_PENDING || a->state == ATT_ACTIVE)))
            continue;
        e->u = NULL;
        snprintf(e->job_id, sizeof(e->job_id), "%s", k->job_id);
        e->attempt = k->attempt;
        e->finished = a && a->state == ATT_FINISHED;
        out->nstale++;
    }
}

void remote_apply_unit(remote *r, state *s, runit *copy, uint64_t now_wall, copy_outcome *out)
{
    unit_status shown = copy->shown;

    memset(out, 0, sizeof(*out));
    out->ignored =
        state_unit(s, copy->id) ? COPY_OWN_ID : not_the_senders(s, copy->district, copy->from);
    if (out->ignored != COPY_KEPT) {
        r->ignored[out->ignored]++;
        runit_release(copy, r->strings);
        return;
    }
    /* Before it moves into the table (or is refused at a cap): what it
     * says of the claims our jobs stand on holds either way. */
    out->nrequeued = remote_requeue_gone(s, copy, now_wall, out->requeued, REMOTE_REQUEUE_MAX);
    stale_claims(s, copy, out);
    out->stored = remote_put_unit(r, copy) == 0;
    /* A unit free elsewhere may serve a job waiting here (mutual aid). */
    out->may_aid = shown == UNIT_AVAILABLE && jobq_size(s->queue) > 0;
}

void remote_apply_job(remote *r, state *s, rjob *copy, copy_outcome *out)
{
    memset(out, 0, sizeof(*out));
    out->ignored =
        state_job(s, copy->id) ? COPY_OWN_ID : not_the_senders(s, copy->owner, copy->from);
    if (out->ignored != COPY_KEPT) {
        r->ignored[out->ignored]++;
        rjob_release(copy, r->strings);
        return;
    }
    end_claims(s, copy, out);
    out->stored = remote_put_job(r, copy) == 0;
}

rank_position runit_position(const runit *u)
{
    rank_position p = u->pos;

    p.fix_ms = u->fetched_wall_ms > u->fix_age_ms ? u->fetched_wall_ms - u->fix_age_ms : 0;
    return p;
}

bool remote_pick_unit(const remote *r, const peertab *peers, const job *j,
                      const char (*tried)[COORD_ID_MAX + 1], size_t ntried, uint64_t now_wall,
                      uint64_t max_fix_age_ms, char *unit_id, char *home, rank_reason *why)
{
    return remote_pick_for(r, peers, j, &j->caps, tried, ntried, now_wall, max_fix_age_ms, unit_id,
                           home, why);
}

bool remote_any_capable(const remote *r, const capset *caps)
{
    size_t it = 0;
    const char *key;
    void *val;

    while (hmap_next(r->units, &it, &key, &val))
        if (capset_covers(&((const runit *)val)->caps, caps))
            return true;
    return false;
}

bool remote_pick_for(const remote *r, const peertab *peers, const job *j, const capset *caps,
                     const char (*tried)[COORD_ID_MAX + 1], size_t ntried, uint64_t now_wall,
                     uint64_t max_fix_age_ms, char *unit_id, char *home, rank_reason *why)
{
    rank_candidate *c = NULL;
    const runit **us = NULL;
    size_t it = 0, n = 0, cap = 0;
    const char *key;
    void *val;
    rank_choice ch;
    bool found = false;

    while (hmap_next(r->units, &it, &key, &val)) {
        const runit *e = val;
        /* A copy that says busy is full at its home, whatever its job list
         * shows (pending claims are not listed). */
        unit_candidate uc = unit_candidate_of(
            e->id, e->from, e->shown,
            e->shown == UNIT_BUSY && e->njobs < e->capacity ? e->capacity : e->njobs,
            e->capacity ? e->capacity : 1, e->caps.v, e->caps.n);

        if (e->shown != UNIT_AVAILABLE || !unit_eligible(&uc, caps->v, caps->n) ||
            ids_contain(tried, ntried, e->id) || !peertab_get(peers, e->from))
            continue;
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 16;
            rank_candidate *nv = realloc(c, nc * sizeof(*nv));
            const runit **nu = nv ? realloc(us, nc * sizeof(*nu)) : NULL;

            if (nv)
                c = nv;
            if (!nu)
                break; /* out of memory: rank those collected so far */
            us = nu;
            cap = nc;
        }
        /* Every copy is another district's: the order needs none (NULL). */
        uc.district = NULL;
        c[n].c = uc;
        c[n].pos = runit_position(e);
        us[n++] = e;
    }
    if (rank_closest(j->has_geo ? &j->geo : NULL, c, n, now_wall, max_fix_age_ms, NULL, caps->v,
                     caps->n, &ch) >= 0) {
        snprintf(unit_id, COORD_ID_MAX + 1, "%s", us[ch.index]->id);
        snprintf(home, COORD_ID_MAX + 1, "%s", us[ch.index]->from);
        if (why)
            *why = ch.why;
        found = true;
    }
    free(c);
    free(us);
    return found;
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
