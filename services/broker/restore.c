/* Recovery from the store (see restore.h): at start, and the reload after
 * a failed commit. */
#include "restore.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "codec.h"
#include "geo_json.h"
#include "json_fields.h"
#include "steps.h"
#include "views.h"

static int copy_id(char *dst, const char *src)
{
    if (!coord_id_valid(src))
        return -1;
    snprintf(dst, COORD_ID_MAX + 1, "%s", src);
    return 0;
}

/* A stored JSON text kept as it is; NULL stays NULL. */
static int copy_text(char **dst, const char *src)
{
    *dst = src ? strdup(src) : NULL;
    return src && !*dst ? -1 : 0;
}

static int unit_row(void *arg, const store_unit_row *r)
{
    state *s = arg;
    unit *u;

    if (!coord_id_valid(r->id) || state_unit(s, r->id) || !r->url ||
        strlen(r->url) >= BROKER_URL_MAX || r->capacity < 0 || r->capacity > UINT32_MAX)
        return -1;
    u = state_add_unit(s, r->id);
    if (!u || state_set_name(s, &u->kind, r->kind) < 0 || capstext_parse(r->caps, s->strings, &u->caps) < 0)
        return -1;
    if (unit_set_url(u, r->url) < 0)
        return -1;
    u->capacity = (uint32_t)r->capacity;
    u->registered_ms = (uint64_t)r->registered_ms;
    if (r->has_station) {
        if (!geo_valid(r->station_lat, r->station_lon))
            return -1;
        u->pos.has_station = true;
        u->pos.station = (geo_point){r->station_lat, r->station_lon};
    }
    /* A new unit is serving; out of service is a legal step from there. */
    return unit_set_cond(&u->cond, r->out_of_service ? UNIT_COND_OFF : UNIT_COND_SERVING);
}

/* The stored location's lat and lon, as the submission read them (one
 * stored by an older build that are out of range are not used). */
static void job_geo(job *j)
{
    json_t *v = j->location ? json_loads(j->location, JSON_DECODE_ANY, NULL) : NULL;
    field_error fe;

    j->has_geo = geo_from_json(v, "location", &j->geo, &fe) == 1;
    json_decref(v);
}

static int job_row(void *arg, const store_job_row *r)
{
    state *s = arg;
    job *j;

    if (!coord_id_valid(r->id) || state_job(s, r->id) || r->severity < 0 || r->severity > 3 ||
        r->status_int < 0 || r->status_int > 3)
        return -1;
    j = state_add_job(s, r->id);
    if (!j || state_set_name(s, &j->type, r->type) < 0 || severity_from_int((int)r->severity, &j->sev) < 0 ||
        capstext_parse(r->caps, s->strings, &j->caps) < 0 ||
        job_status_from_int((int)r->status_int, &j->status) < 0 ||
        copy_text(&j->location, r->location) < 0 || copy_text(&j->payload, r->payload) < 0)
        return -1;
    job_geo(j);
    j->request_digest = (uint64_t)r->request_digest;
    j->seq = (uint64_t)r->seq;
    j->created_ms = (uint64_t)r->created_ms;
    j->updated_ms = (uint64_t)r->updated_ms;
    return 0;
}

static int attempt_row(void *arg, const store_attempt_row *r)
{
    state *s = arg;
    job *j = state_job(s, r->job_id);
    attempt a;

    if (!j)
        return 0; /* an orphan row: nothing shows it */
    memset(&a, 0, sizeof(a));
    if (r->n < 1 || r->n > UINT32_MAX || r->state_int < 0 || r->state_int > 3 ||
        copy_id(a.unit_id, r->unit_id) < 0 || copy_id(a.unit_district, r->unit_district) < 0 ||
        attempt_state_from_int((int)r->state_int, &a.state) < 0 ||
        (r->clock && clocktext_parse(r->clock, s->strings, &a.clock) < 0))
        return -1;
    if (r->why < 0 || r->why >= RANK_WHY__COUNT || r->why_metres < 0 ||
        r->why_metres > UINT32_MAX || r->why_age_s < 0 || r->why_age_s > UINT32_MAX)
        return -1;
    a.why = (rank_reason){(uint8_t)r->why, (uint32_t)r->why_metres, (uint32_t)r->why_age_s};
    a.n = (uint32_t)r->n;
    a.notified = r->notified;
    a.at_ms = (uint64_t)r->at_ms;
    if (job_add_attempt(j, &a) < 0) {
        cclock_release(&a.clock, s->strings);
        return -1;
    }
    return 0;
}

static int result_row(void *arg, const store_result_row *r)
{
    state *s = arg;
    job *j = state_job(s, r->job_id);
    result *res;

    if (!j || j->res)
        return 0;
    if (r->attempt < 1 || r->attempt > UINT32_MAX)
        return -1;
    res = calloc(1, sizeof(*res));
    if (!res)
        return -1;
    j->res = res; /* freed with the job if the rest does not read */
    if (copy_id(res->unit_id, r->unit_id) < 0 || copy_id(res->outcome, r->outcome) < 0 ||
        copy_text(&res->data, r->data ? r->data : "{}") < 0)
        return -1;
    res->attempt = (uint32_t)r->attempt;
    res->digest = (uint64_t)r->digest;
    res->at_ms = (uint64_t)r->at_ms;
    return 0;
}

/* A multi-unit incident's lines and which line each attempt fills; a row
 * that does not read is a damaged database. */
static int job_lines_row(void *arg, const store_job_lines_row *r)
{
    state *s = arg;
    job *j = state_job(s, r->job_id);

    if (!j)
        return 0; /* an orphan row: nothing shows it */
    if (linestext_parse(r->lines, s->strings, j) < 0 ||
        attlinestext_parse(r->attempt_lines, j) < 0 ||
        (r->plan && r->plan[0] && (!coord_id_valid(r->plan) || !(j->plan = strdup(r->plan)))))
        return -1;
    return 0;
}

static const store_rows district_rows = {unit_row, job_row, attempt_row, result_row,
                                         job_lines_row};

static void merge_clock_text(vclock *clock, const char *text)
{
    json_t *j = text ? json_loads(text, 0, NULL) : NULL;
    vclock tmp;
    field_error fe;

    if (j && vclock_from_json(j, &tmp, &fe) == 0)
        (void)vclock_merge(clock, &tmp);
    json_decref(j);
}

/* The newest event: its clock is the clock we stopped with (every state
 * change is an event stamped with the clock after it) and its seq the
 * last one written. */
static void last_event(void *arg, const store_event *ev)
{
    broker *b = arg;

    b->event_seq = ev->seq;
    merge_clock_text(&b->clock, ev->vclock);
}

static int restore_claim(void *arg, const store_claim *c)
{
    broker *b = arg;

    return state_restore_claim(&b->st, c->unit_id, c->job_id, c->attempt, c->owner) < 0 ? -1 : 0;
}

/* A crew's status step; one naming a step this build does not know is
 * damage, as any other unreadable record. */
static int restore_step(void *arg, const store_step *x)
{
    broker *b = arg;
    unit_step st;

    if (unit_step_parse(x->step, &st) < 0 || !coord_id_valid(x->unit_id) ||
        !coord_id_valid(x->job_id))
        return -1;
    return state_restore_step(&b->st, x->unit_id, x->job_id, x->attempt, st, x->at_ms) < 0 ? -1
                                                                                          : 0;
}

/* A synced copy kept on disk; gen 0, so the first full pull of its peer
 * replaces or sweeps it. A copy that no longer reads is skipped: the next
 * pull brings it again. */
static int restore_copy(void *arg, const store_remote *r)
{
    broker *b = arg;
    json_t *o;

    if (!coord_id_valid(r->id) || !coord_id_valid(r->owner) || !r->obj)
        return 0;
    o = json_loads(r->obj, 0, NULL);
    if (r->kind == 'u') {
        runit u;

        if (view_parse_unit(o, b->st.strings, r->owner, r->fetched_ms, 0, &u) == 0)
            (void)remote_put_unit(&b->rem, &u);
    } else if (r->kind == 'j') {
        rjob j;

        if (view_parse_job(o, b->st.strings, r->owner, r->fetched_ms, 0, &j) == 0)
            (void)remote_put_job(&b->rem, &j);
    }
    json_decref(o);
    return 0;
}

/* The city's level as last stored. */
static int load_emergency(broker *b)
{
    char v[32];
    int rc = b->store.get_meta(b->store.cls, "emergency", v, sizeof(v));

    if (rc == 0)
        (void)severity_parse(v, &b->emergency);
    else if (rc != COORD_E_NOTFOUND)
        return -1;
    rc = b->store.get_meta(b->store.cls, "emergency_set_ms", v, sizeof(v));
    if (rc == 0)
        b->emergency_set_ms = strtoull(v, NULL, 10);
    else if (rc != COORD_E_NOTFOUND)
        return -1;
    /* A stamp from the future (kept before the skew rule, or by a clock
     * that was wrong) would refuse every real declaration relayed later:
     * keep the level, forget the stamp. */
    if (b->emergency_set_ms > coord_now_wall_ms() + LEVEL_MAX_SKEW_MS)
        b->emergency_set_ms = 0;
    return 0;
}

/* The district's own part: the event counter (and the clock, merged, so it
 * never goes back), units, jobs, claims and the level. */
static int load_district(broker *b)
{
    struct store *st = &b->store;

    return st->last_event(st->cls, last_event, b) < 0 ||
                   st->load(st->cls, &district_rows, &b->st) < 0 ||
                   state_recover(&b->st, coord_now_mono_ms()) < 0 ||
                   st->list_claims(st->cls, restore_claim, b) < 0 ||
                   st->list_steps(st->cls, restore_step, b) < 0 || load_emergency(b) < 0
               ? -1
               : 0;
}

/* The peers kept in the store: a broker restarted while the coordinator
 * is down still knows them. */
static int load_peers(broker *b)
{
    size_t cap = BROKER_MAX_PEERS * (COORD_ID_MAX + BROKER_URL_MAX + 8) + 16;
    char *text = malloc(cap);
    const char *id;
    json_t *o = NULL, *v;
    int rc;

    if (!text)
        return -1;
    rc = b->store.get_meta(b->store.cls, PEERS_META_KEY, text, cap);
    if (rc == 0)
        o = json_loads(text, 0, NULL);
    free(text);
    if (rc < 0 && rc != COORD_E_NOTFOUND)
        return -1;
    /* Unreadable (written by a broker that knew other rules): learnt again
     * from the coordinator. */
    json_object_foreach (o, id, v) {
        const char *url = json_string_value(v);
        size_t idx;
        bool added;

        if (url && strlen(url) < BROKER_URL_MAX &&
            (strncmp(url, "http://", 7) == 0 || strncmp(url, "https://", 8) == 0))
            (void)peertab_add(&b->peers, b->cfg.id, id, url, coord_now_mono_ms(), &idx, &added);
    }
    json_decref(o);
    return 0;
}

static void load_failed(broker *b, const char *path, char *err, size_t errlen)
{
    char why[256];

    if (!b->store.error(b->store.cls, why, sizeof(why)))
        snprintf(err, errlen, "database %s is damaged: a stored record is not valid", path);
    else
        snprintf(err, errlen, "cannot load state from %s: %s", path, why);
}

int restore_broker(broker *b, const char *path, char *err, size_t errlen)
{
    struct store *st = &b->store;
    char vc[8192];

    /* Older data dirs also kept the clock in meta; take the larger. */
    if (st->get_meta(st->cls, "vclock", vc, sizeof(vc)) == 0)
        merge_clock_text(&b->clock, vc);
    if (load_district(b) < 0 || st->list_remote(st->cls, restore_copy, b) < 0 ||
        load_peers(b) < 0) {
        load_failed(b, path, err, errlen);
        return -1;
    }
    return 0;
}

/* What memory knows that the store never holds, carried across a reload:
 * revocations a unit has yet to hear in a heartbeat reply, and which jobs a
 * thread is calling an executor for (the drain must not take them too). */
struct kept_notice {
    char unit_id[COORD_ID_MAX + 1];
    notice n;
};

struct kept {
    struct kept_notice *notices;
    size_t nnotices;
    char (*dispatching)[COORD_ID_MAX + 1];
    size_t ndispatching;
};

static void keep(const state *s, struct kept *k)
{
    size_t nn = 0, nd = 0, it = 0;
    const char *key;
    void *val;

    while (hmap_next(s->units, &it, &key, &val))
        nn += ((const unit *)val)->nnotices;
    it = 0;
    while (hmap_next(s->jobs, &it, &key, &val))
        nd += ((const job *)val)->dispatching;
    k->notices = nn ? calloc(nn, sizeof(*k->notices)) : NULL;
    k->dispatching = nd ? calloc(nd, sizeof(*k->dispatching)) : NULL;
    it = 0;
    while (k->notices && hmap_next(s->units, &it, &key, &val)) {
        const unit *u = val;

        for (size_t i = 0; i < u->nnotices; i++) {
            snprintf(k->notices[k->nnotices].unit_id, COORD_ID_MAX + 1, "%s", u->id);
            k->notices[k->nnotices++].n = u->notices[i];
        }
    }
    it = 0;
    while (k->dispatching && hmap_next(s->jobs, &it, &key, &val))
        if (((const job *)val)->dispatching)
            snprintf(k->dispatching[k->ndispatching++], COORD_ID_MAX + 1, "%s", key);
}

static void put_back(state *s, struct kept *k)
{
    for (size_t i = 0; i < k->nnotices; i++) {
        unit *u = state_unit(s, k->notices[i].unit_id);
        const notice *n = &k->notices[i].n;

        if (u)
            unit_add_notice_for(u, n->job_id, n->attempt, n->reason, n->owner);
    }
    for (size_t i = 0; i < k->ndispatching; i++) {
        job *j = state_job(s, k->dispatching[i]);

        if (j)
            j->dispatching = true;
    }
    free(k->notices);
    free(k->dispatching);
}

int restore_reload(broker *b, const char *path, char *err, size_t errlen)
{
    struct kept k = {0};
    state saved;

    keep(&b->st, &k);
    if (state_stash(&b->st, &saved, b->cfg.failure_timeout_ms) < 0 || load_district(b) < 0) {
        load_failed(b, path, err, errlen);
        /* the district as it was (it still holds what k kept) */
        state_unstash(&b->st, &saved);
        free(k.notices);
        free(k.dispatching);
        return -1;
    }
    state_drop_stash(&saved);
    put_back(&b->st, &k);
    /* A page applied in the failed transaction moved a peer's cursor past
     * changes (a borrowed unit lost) whose effect was not kept: pull each
     * peer whole again. */
    for (size_t i = 0; i < b->peers.n; i++) {
        b->peers.v[i].since = 0;
        b->peers.v[i].epoch[0] = '\0';
    }
    return 0;
}

void restore_new_epoch(broker *b)
{
    snprintf(b->epoch, sizeof(b->epoch), "%llx-%llx", (unsigned long long)coord_now_wall_ms(),
             (unsigned long long)(coord_now_mono_ms() ^ (uint64_t)getpid()));
}
