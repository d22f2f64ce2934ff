/* The district's records and their bookkeeping: maps, slots, notices, the
 * capability index, the change list and the rebuild after a load. */
#include "state.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void chg_unlink(change_node *n)
{
    if (n->prev) {
        n->prev->next = n->next;
        n->next->prev = n->prev;
        n->prev = n->next = NULL;
    }
}

static void touch(state *s, change_node *n, bool is_job)
{
    chg_unlink(n);
    n->version = ++s->meta_version;
    if (!s->quiet)
        s->urgent_version = s->meta_version;
    n->is_job = is_job;
    n->prev = s->changes.prev;
    n->next = &s->changes;
    s->changes.prev->next = n;
    s->changes.prev = n;
}

void state_touch_unit(state *s, unit *u)
{
    if (u)
        touch(s, &u->chg, false);
}

void state_touch_job(state *s, job *j)
{
    if (j)
        touch(s, &j->chg, true);
}

const change_node *state_changes_after(const state *s, uint64_t since)
{
    const change_node *n = s->changes.prev, *first = NULL;

    /* Walk back to the oldest change after since: a pull asks for recent
     * changes, so this is short. */
    while (n != &s->changes && n->version > since) {
        first = n;
        n = n->prev;
    }
    return first;
}

const change_node *state_change_next(const state *s, const change_node *n)
{
    return n && n->next != &s->changes ? n->next : NULL;
}

int state_init(state *s, const char *self, uint64_t failure_timeout_ms)
{
    memset(s, 0, sizeof(*s));
    snprintf(s->self, sizeof(s->self), "%s", self);
    s->changes.next = s->changes.prev = &s->changes;
    s->strings = strtab_new();
    /* Keyed by the records' own ids (borrowed). */
    s->units = hmap_new_borrowed();
    s->jobs = hmap_new_borrowed();
    s->cap_index = hmap_new();
    s->borrowed = hmap_new();
    s->lent = hmap_new();
    s->steps = hmap_new();
    s->queue = jobq_new();
    s->fd = fd_new(failure_timeout_ms);
    s->max_fix_age_ms = STATE_MAX_FIX_AGE_MS;
    if (!s->strings || !s->units || !s->jobs || !s->cap_index || !s->borrowed || !s->lent ||
        !s->steps || !s->queue || !s->fd)
        return COORD_E_NOMEM;
    return COORD_OK;
}

static void free_unit_list(void *p)
{
    unit_list *l = p;

    if (l)
        free(l->v);
    free(l);
}

/* The list under key in m, made when missing; NULL when out of memory. */
static unit_list *list_at(hmap *m, const char *key)
{
    unit_list *l = hmap_get(m, key);

    if (!l) {
        l = calloc(1, sizeof(*l));
        if (!l || hmap_put(m, key, l, NULL) < 0) {
            free(l);
            return NULL;
        }
    }
    return l;
}

static int list_add(unit_list *l, unit *u)
{
    if (l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 4;
        unit **nv = realloc(l->v, nc * sizeof(*nv));

        if (!nv)
            return COORD_E_NOMEM;
        l->v = nv;
        l->cap = nc;
    }
    l->v[l->n++] = u;
    return COORD_OK;
}

/* Everything but the string table. */
static void release_records(state *s)
{
    size_t it = 0;
    const char *key;
    void *val;

    while (hmap_next(s->units, &it, &key, &val))
        unit_free(s, val);
    it = 0;
    while (hmap_next(s->jobs, &it, &key, &val))
        job_free(s, val);
    hmap_free(s->units, NULL);
    hmap_free(s->jobs, NULL);
    hmap_free(s->cap_index, free_unit_list);
    hmap_free(s->borrowed, NULL);
    hmap_free(s->lent, free_unit_list);
    hmap_free(s->steps, free);
    jobq_free(s->queue);
    fd_free(s->fd);
}

void state_release(state *s)
{
    release_records(s);
    strtab_free(s->strings);
    memset(s, 0, sizeof(*s));
}

/* *dst takes over *src's records; the change list's sentinel lives in
 * the struct, so its neighbours are pointed at the new one. */
static void state_move(state *dst, state *src)
{
    *dst = *src;
    if (src->changes.next == &src->changes) {
        dst->changes.next = dst->changes.prev = &dst->changes;
    } else {
        dst->changes.next->prev = &dst->changes;
        dst->changes.prev->next = &dst->changes;
    }
    memset(src, 0, sizeof(*src));
}

int state_stash(state *s, state *saved, uint64_t failure_timeout_ms)
{
    strtab *strings = s->strings;
    uint64_t version = s->meta_version, max_fix_age = s->max_fix_age_ms;
    char self[COORD_ID_MAX + 1];
    int rc;

    snprintf(self, sizeof(self), "%s", s->self);
    state_move(saved, s);
    rc = state_init(s, self, failure_timeout_ms);
    strtab_free(s->strings);
    s->strings = strings;
    s->meta_version = version;
    s->max_fix_age_ms = max_fix_age;
    return rc;
}

void state_unstash(state *s, state *saved)
{
    release_records(s);
    state_move(s, saved);
}

void state_drop_stash(state *saved)
{
    release_records(saved); /* its strings are the live state's */
    memset(saved, 0, sizeof(*saved));
}

int state_reset(state *s, uint64_t failure_timeout_ms)
{
    state saved;
    int rc = state_stash(s, &saved, failure_timeout_ms);

    state_drop_stash(&saved);
    return rc;
}

job *state_job(const state *s, const char *id)
{
    return id ? hmap_get(s->jobs, id) : NULL;
}

unit *state_unit(const state *s, const char *id)
{
    return id ? hmap_get(s->units, id) : NULL;
}

unit *state_add_unit(state *s, const char *id)
{
    unit *u = calloc(1, sizeof(*u));

    if (!u)
        return NULL;
    snprintf(u->id, sizeof(u->id), "%s", id);
    if (hmap_put(s->units, u->id, u, NULL) < 0) {
        free(u);
        return NULL;
    }
    return u;
}

job *state_add_job(state *s, const char *id)
{
    size_t len = strnlen(id, COORD_ID_MAX);
    job *j = calloc(1, sizeof(*j) + len + 1);

    if (!j)
        return NULL;
    memcpy(j->id, id, len);
    if (hmap_put(s->jobs, j->id, j, NULL) < 0) {
        free(j);
        return NULL;
    }
    return j;
}

int state_set_name(state *s, const char **slot, const char *name)
{
    const char *v;

    if (!coord_id_valid(name))
        return COORD_E_INVAL;
    v = strtab_intern(s->strings, name);
    if (!v)
        return COORD_E_NOMEM;
    strtab_release(s->strings, *slot);
    *slot = v;
    return COORD_OK;
}

int unit_set_url(unit *u, const char *url)
{
    char *v = strndup(url, BROKER_URL_MAX - 1);

    if (!v)
        return COORD_E_NOMEM;
    free(u->url);
    u->url = v;
    return COORD_OK;
}

void state_drop_job(state *s, job *j)
{
    if (!j)
        return;
    hmap_del(s->jobs, j->id);
    hmap_del(s->borrowed, j->id);
    jobq_remove(s->queue, j->id);
    chg_unlink(&j->chg);
    job_free(s, j);
}

void result_free(result *r)
{
    if (!r)
        return;
    free(r->data);
    free(r);
}

void job_free(state *s, job *j)
{
    if (!j)
        return;
    for (size_t i = 0; i < j->nattempts; i++)
        cclock_release(&j->attempts[i].clock, s->strings);
    free(j->attempts);
    result_free(j->res);
    capset_release(&j->caps, s->strings);
    for (uint32_t i = 0; i < j->nlines; i++)
        capset_release(&j->lines[i].caps, s->strings);
    free(j->lines);
    free(j->plan);
    strtab_release(s->strings, j->type);
    free(j->location);
    free(j->payload);
    free(j);
}

void unit_free(state *s, unit *u)
{
    if (!u)
        return;
    capset_release(&u->caps, s->strings);
    strtab_release(s->strings, u->kind);
    free(u->url);
    free(u->held);
    free(u->notices);
    free(u);
}

attempt *job_current_attempt(const job *j)
{
    for (size_t i = j->nattempts; i > 0; i--)
        if (j->attempts[i - 1].state != ATT_PENDING)
            return &j->attempts[i - 1];
    return NULL;
}

attempt *job_attempt(const job *j, uint32_t n)
{
    for (size_t i = 0; i < j->nattempts; i++)
        if (j->attempts[i].n == n)
            return &j->attempts[i];
    return NULL;
}

uint32_t job_next_attempt_no(const job *j)
{
    uint32_t n = 0;

    for (size_t i = 0; i < j->nattempts; i++)
        if (j->attempts[i].n > n)
            n = j->attempts[i].n;
    return n + 1;
}

int job_add_attempt(job *j, const attempt *a)
{
    if (j->nattempts == j->aattempts) {
        size_t na = j->aattempts ? j->aattempts * 2 : 1; /* most jobs have one attempt */
        attempt *arr = realloc(j->attempts, na * sizeof(*arr));

        if (!arr)
            return COORD_E_NOMEM;
        j->attempts = arr;
        j->aattempts = na;
    }
    j->attempts[j->nattempts++] = *a;
    return COORD_OK;
}

void job_drop_attempt(state *s, job *j, uint32_t n)
{
    for (size_t i = 0; i < j->nattempts; i++) {
        if (j->attempts[i].n == n) {
            cclock_release(&j->attempts[i].clock, s->strings);
            memmove(&j->attempts[i], &j->attempts[i + 1],
                    (j->nattempts - i - 1) * sizeof(j->attempts[0]));
            j->nattempts--;
            return;
        }
    }
}

bool attempt_is_local(const state *s, const attempt *a)
{
    return strcmp(a->unit_district, s->self) == 0;
}

uint32_t job_line_held(const job *j, uint32_t line)
{
    uint32_t n = 0;

    for (size_t i = 0; i < j->nattempts; i++) {
        const attempt *a = &j->attempts[i];

        n += a->line == line && (a->state == ATT_PENDING || a->state == ATT_ACTIVE);
    }
    return n;
}

int job_open_line(const job *j)
{
    for (uint32_t l = 0; l < job_nlines(j); l++)
        if (job_line_held(j, l) < job_line_count(j, l))
            return (int)l;
    return -1;
}

bool job_wants_units(const job *j)
{
    return (j->status == JOB_QUEUED || j->status == JOB_ASSIGNED) && job_open_line(j) >= 0;
}

bool job_has_borrowed(const state *s, const job *j)
{
    for (size_t i = 0; i < j->nattempts; i++)
        if (j->attempts[i].state == ATT_ACTIVE && !attempt_is_local(s, &j->attempts[i]))
            return true;
    return false;
}

bool ids_contain(const char (*ids)[COORD_ID_MAX + 1], size_t n, const char *id)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(ids[i], id) == 0)
            return true;
    return false;
}

int unit_reserve_slots(unit *u, uint32_t capacity)
{
    /* Before the first hold nothing is allocated; unit_hold sizes it. */
    if (!u->held || capacity <= u->capacity)
        return COORD_OK;
    held *nh = realloc(u->held, capacity * sizeof(*nh));
    if (!nh)
        return COORD_E_NOMEM;
    u->held = nh;
    return COORD_OK;
}

int unit_hold(unit *u, const char *job_id, uint32_t attempt_no, bool pending)
{
    held *h;

    if (u->load >= u->capacity)
        return COORD_E_RANGE;
    if (!u->held) {
        u->held = calloc(u->capacity, sizeof(*u->held));
        if (!u->held)
            return COORD_E_NOMEM;
    }
    h = &u->held[u->load++];
    /* A reused slot must not keep a former claim's owner or flags. */
    memset(h, 0, sizeof(*h));
    snprintf(h->job_id, sizeof(h->job_id), "%s", job_id);
    h->attempt = attempt_no;
    h->pending = pending;
    return COORD_OK;
}

held *unit_find_held(unit *u, const char *job_id, uint32_t attempt_no)
{
    for (uint32_t i = 0; i < u->load; i++)
        if (strcmp(u->held[i].job_id, job_id) == 0 &&
            (!attempt_no || u->held[i].attempt == attempt_no))
            return &u->held[i];
    return NULL;
}

void unit_release_attempt(unit *u, const char *job_id, uint32_t attempt_no)
{
    held *h = unit_find_held(u, job_id, attempt_no);

    if (h)
        *h = u->held[--u->load];
}

void unit_confirm(unit *u, const char *job_id)
{
    for (uint32_t i = 0; i < u->load; i++)
        if (strcmp(u->held[i].job_id, job_id) == 0)
            u->held[i].pending = false;
}

void unit_stamp_settled(unit *u, const char *job_id, uint32_t attempt_no, uint64_t clock_self)
{
    held *h = unit_find_held(u, job_id, attempt_no);

    if (h && !h->pending)
        h->settled_clock = clock_self;
}

void unit_add_notice(unit *u, const char *job_id, uint32_t attempt_no, const char *reason)
{
    unit_add_notice_for(u, job_id, attempt_no, reason, NULL);
}

void unit_add_notice_for(unit *u, const char *job_id, uint32_t attempt_no, const char *reason,
                         const char *owner)
{
    notice *n;

    if (!u->notices) {
        u->notices = calloc(UNIT_MAX_NOTICES, sizeof(*u->notices));
        if (!u->notices)
            return; /* the heartbeat's job list catches it */
    }
    if (u->nnotices == UNIT_MAX_NOTICES) {
        memmove(&u->notices[0], &u->notices[1], (UNIT_MAX_NOTICES - 1) * sizeof(*u->notices));
        u->nnotices--;
    }
    n = &u->notices[u->nnotices++];
    snprintf(n->job_id, sizeof(n->job_id), "%s", job_id);
    n->attempt = attempt_no;
    snprintf(n->reason, sizeof(n->reason), "%s", reason);
    snprintf(n->owner, sizeof(n->owner), "%s", owner ? owner : "");
}

int state_index_unit(state *s, unit *u)
{
    for (uint32_t i = 0; i < u->caps.n; i++) {
        unit_list *l = list_at(s->cap_index, u->caps.v[i]);

        if (!l || list_add(l, u) < 0)
            return COORD_E_NOMEM;
    }
    return COORD_OK;
}

void state_unindex_unit(state *s, const unit *u)
{
    for (uint32_t i = 0; i < u->caps.n; i++) {
        unit_list *l = hmap_get(s->cap_index, u->caps.v[i]);

        for (size_t k = 0; l && k < l->n; k++) {
            if (l->v[k] == u) {
                l->v[k] = l->v[--l->n];
                break;
            }
        }
    }
}

unit *const *state_units_with(const state *s, const char *cap, size_t *n)
{
    const unit_list *l = hmap_get(s->cap_index, cap);

    *n = l ? l->n : 0;
    return l ? l->v : NULL;
}

int state_lent_add(state *s, const char *job_id, unit *u)
{
    unit_list *l = list_at(s->lent, job_id);

    if (!l)
        return COORD_E_NOMEM;
    for (size_t i = 0; i < l->n; i++)
        if (l->v[i] == u)
            return COORD_OK;
    return list_add(l, u);
}

const unit_list *state_lent(const state *s, const char *job_id)
{
    return job_id ? hmap_get(s->lent, job_id) : NULL;
}

void state_lent_prune(state *s, const char *job_id, const unit *u)
{
    unit_list *l = hmap_get(s->lent, job_id);

    for (size_t i = 0; l && i < l->n; i++) {
        if (l->v[i] == u) {
            l->v[i] = l->v[--l->n];
            break;
        }
    }
    if (l && l->n == 0)
        free_unit_list(hmap_del(s->lent, job_id));
}

/* A slot the store does not keep: what an active attempt or a claim holds
 * must stay representable even if capacity was lowered meanwhile. */
static int hold_recovered(unit *u, const char *job_id, uint32_t attempt_no)
{
    if (u->load >= u->capacity) {
        uint32_t cap = u->load + 1;

        if (unit_reserve_slots(u, cap) < 0)
            return COORD_E_NOMEM;
        u->capacity = cap;
    }
    return unit_hold(u, job_id, attempt_no, false);
}

int state_restore_claim(state *s, const char *unit_id, const char *job_id, uint32_t attempt_no,
                        const char *owner)
{
    unit *u = state_unit(s, unit_id);
    held *h;

    if (!u)
        return COORD_OK; /* the unit is gone: nothing holds the claim */
    if (hold_recovered(u, job_id, attempt_no) < 0)
        return COORD_E_NOMEM;
    h = &u->held[u->load - 1];
    h->foreign = true;
    snprintf(h->owner, sizeof(h->owner), "%s", owner);
    (void)state_lent_add(s, job_id, u); /* out of memory: only the repair misses it */
    return COORD_OK;
}

int state_recover(state *s, uint64_t now_mono)
{
    size_t it = 0;
    const char *key;
    void *val;

    while (hmap_next(s->units, &it, &key, &val)) {
        unit *u = val;

        if (u->capacity < 1)
            u->capacity = 1;
        if (state_index_unit(s, u) < 0 || fd_heartbeat(s->fd, u->id, now_mono) < 0)
            return COORD_E_NOMEM;
    }
    it = 0;
    while (hmap_next(s->jobs, &it, &key, &val)) {
        job *j = val;

        if (j->seq > s->next_seq)
            s->next_seq = j->seq;
        /* A partly filled incident keeps its place for its open lines. */
        if (job_wants_units(j) && jobq_push(s->queue, j->id, j->sev, j->seq) < 0)
            return COORD_E_NOMEM;
        for (size_t i = 0; i < j->nattempts; i++) {
            attempt *a = &j->attempts[i];
            unit *u;

            if (a->state != ATT_ACTIVE)
                continue;
            if (!attempt_is_local(s, a)) {
                if (j->status == JOB_ASSIGNED && hmap_put(s->borrowed, j->id, j, NULL) < 0)
                    return COORD_E_NOMEM;
                continue;
            }
            u = state_unit(s, a->unit_id);
            if (u && hold_recovered(u, j->id, a->n) < 0)
                return COORD_E_NOMEM;
        }
    }
    /* The change list starts with everything. */
    it = 0;
    while (hmap_next(s->units, &it, &key, &val))
        state_touch_unit(s, val);
    it = 0;
    while (hmap_next(s->jobs, &it, &key, &val))
        state_touch_job(s, val);
    return COORD_OK;
}
