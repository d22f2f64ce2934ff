/* The city: change list, metadata pull, peer signals, the coordinator
 * registration, remote copies and emergency level.
 *
 * Every unit and job sits in a list ordered by the metadata version of its
 * last change. A peer pulls "since V" and gets only what changed after V,
 * in pages; a different epoch (this broker restarted) means "everything
 * again". One thread per peer pulls on a schedule, with exponential backoff
 * and jitter when the peer fails, and sooner when the peer signals a change;
 * the same thread signals our own changes to that peer, debounced. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "broker.h"

#define NOTIFY_DEBOUNCE_MS 50
#define NOTIFY_MAX_WAIT_MS 300
#define NOTIFY_MIN_GAP_MS  500
#define PULL_MIN_GAP_MS    500
#define PULL_PAGE          500
#define BACKOFF_FIRST_MS   250

static const http_opts pull_opts = {.connect_timeout_ms = 500, .timeout_ms = 2000};
static const http_opts notify_opts = {.connect_timeout_ms = 300, .timeout_ms = 600};
static const http_opts register_opts = {.connect_timeout_ms = 500, .timeout_ms = 1500};

static uint64_t last_touch_mono_ms;

static void chg_unlink(change_node *n)
{
    if (n->prev) {
        n->prev->next = n->next;
        n->next->prev = n->prev;
        n->prev = n->next = NULL;
    }
}

static void chg_append(broker *b, change_node *n)
{
    if (!b->changes.next) /* first use: make the sentinel circular */
        b->changes.next = b->changes.prev = &b->changes;
    n->prev = b->changes.prev;
    n->next = &b->changes;
    b->changes.prev->next = n;
    b->changes.prev = n;
}

static void sync_kick(broker *b)
{
    pthread_mutex_lock(&b->wmu);
    pthread_cond_broadcast(&b->wcond);
    pthread_mutex_unlock(&b->wmu);
}

static void touch(broker *b, change_node *n, bool is_job)
{
    chg_unlink(n);
    n->version = ++b->meta_version;
    n->is_job = is_job;
    chg_append(b, n);
    last_touch_mono_ms = coord_now_mono_ms();
    /* Wake the peer threads so they signal the change (debounced). Lock
     * order is mu -> wmu everywhere. */
    if (b->npeers)
        sync_kick(b);
}

void broker_touch_unit(broker *b, unit *u)
{
    if (u)
        touch(b, &u->chg, false);
}

void broker_touch_job(broker *b, job *j)
{
    if (j)
        touch(b, &j->chg, true);
}

bool broker_emergency_active(const broker *b)
{
    return b->emergency >= SEV_HIGH;
}

peer *broker_peer(broker *b, const char *id)
{
    for (size_t i = 0; i < b->npeers; i++)
        if (strcmp(b->peers[i].id, id) == 0)
            return &b->peers[i];
    return NULL;
}

int broker_add_peer(broker *b, const char *id, const char *url)
{
    if (strcmp(id, b->cfg.id) == 0 || !coord_id_valid(id))
        return 0;
    peer *p = broker_peer(b, id);
    if (p) {
        snprintf(p->url, sizeof(p->url), "%s", url);
        return 0;
    }
    if (b->npeers == BROKER_MAX_PEERS)
        return COORD_E_RANGE;
    p = &b->peers[b->npeers];
    memset(p, 0, sizeof(*p));
    snprintf(p->id, sizeof(p->id), "%s", id);
    snprintf(p->url, sizeof(p->url), "%s", url);
    p->next_due_mono_ms = coord_now_mono_ms(); /* first pull at once */
    b->npeers++;
    pthread_mutex_lock(&b->wmu);
    bool stopping = b->stopping;
    pthread_mutex_unlock(&b->wmu);
    if (b->server && !stopping) {
        if (pthread_create(&p->thr, NULL, broker_peer_main, b) == 0)
            p->thread_started = true;
    }
    service_log("info", "peer %s at %s", id, url);
    return 0;
}

/* ---- the pull, server side ---- */

void h_metadata_get(api_request *req, api_response *res)
{
    broker *b = req->ctx;
    const char *s_since = api_query(req, "since");
    const char *epoch = api_query(req, "epoch");
    const char *s_limit = api_query(req, "limit");
    uint64_t since = 0, limit = PULL_PAGE;
    char *end;
    if (s_since) {
        since = strtoull(s_since, &end, 10);
        if (!*s_since || *end || *s_since == '-') {
            api_reply_error(res, API_E_BAD_REQUEST, "since must be a whole number");
            return;
        }
    }
    if (s_limit) {
        limit = strtoull(s_limit, &end, 10);
        if (!*s_limit || *end || *s_limit == '-' || limit == 0 || limit > 5000) {
            api_reply_error(res, API_E_BAD_REQUEST, "limit must be 1..5000");
            return;
        }
    }
    pthread_mutex_lock(&b->mu);
    /* Another incarnation's versions mean nothing here: send everything. */
    bool full = !epoch || strcmp(epoch, b->epoch) != 0 || since > b->meta_version;
    if (full)
        since = 0;
    json_t *units = json_array(), *jobs = json_array();
    /* Walk back to the oldest change after `since`, then forward. */
    change_node *n = b->changes.prev;
    change_node *first = NULL;
    while (n && n != &b->changes && n->version > since) {
        first = n;
        n = n->prev;
    }
    uint64_t version = since;
    size_t count = 0;
    bool more = false;
    for (n = first; n && n != &b->changes; n = n->next) {
        if (count == limit) {
            more = true;
            break;
        }
        if (n->is_job)
            json_array_append_new(jobs, job_to_json(b, (job *)n));
        else
            json_array_append_new(units, unit_to_json(b, (unit *)n));
        version = n->version;
        count++;
    }
    if (!more)
        version = b->meta_version > version ? b->meta_version : version;
    json_t *body = json_pack(
        "{s:s, s:s, s:s, s:I, s:b, s:b, s:o, s:o, s:s, s:I, s:o}", "broker", b->cfg.id, "url",
        b->self_url, "epoch", b->epoch, "version", (json_int_t)version, "full", full, "more", more,
        "units", units, "jobs", jobs, "emergency", severity_str(b->emergency), "emergency_set_ms",
        (json_int_t)b->emergency_set_ms, "vclock", broker_clock_json(b));
    pthread_mutex_unlock(&b->mu);
    api_reply_json(res, 200, body);
}

static void iso_ms(uint64_t ms, char *buf, size_t len)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    size_t n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, len - n, ".%03uZ", (unsigned)(ms % 1000));
}

static json_t *peer_json(const broker *b, const peer *p)
{
    uint64_t now = coord_now_wall_ms(), mono = coord_now_mono_ms();
    char ts[40];
    json_t *last = json_null();
    if (p->last_success_wall_ms) {
        iso_ms(p->last_success_wall_ms, ts, sizeof(ts));
        last = json_string(ts);
    }
    json_t *stale_ms = p->last_success_wall_ms
                           ? json_integer((json_int_t)(now - p->last_success_wall_ms))
                           : json_null();
    uint64_t interval =
        broker_emergency_active(b) ? b->cfg.emergency_sync_interval_ms : b->cfg.sync_interval_ms;
    bool stale =
        !p->last_success_wall_ms || p->failures > 0 || now - p->last_success_wall_ms > 2 * interval;
    return json_pack("{s:s, s:s, s:o, s:o, s:b, s:i, s:I, s:I, s:I, s:I, s:I, s:s}", "id", p->id,
                     "url", p->url, "last_success", last, "staleness_ms", stale_ms, "stale", stale,
                     "consecutive_failures", (int)p->failures, "backoff_ms",
                     (json_int_t)(p->failures ? p->backoff_ms : 0), "next_pull_in_ms",
                     (json_int_t)(p->next_due_mono_ms > mono ? p->next_due_mono_ms - mono : 0),
                     "pulls", (json_int_t)p->pulls, "units_received", (json_int_t)p->pulled_units,
                     "jobs_received", (json_int_t)p->pulled_jobs, "epoch", p->epoch);
}

void h_peers_get(api_request *req, api_response *res)
{
    broker *b = req->ctx;
    pthread_mutex_lock(&b->mu);
    json_t *arr = json_array();
    for (size_t i = 0; i < b->npeers; i++)
        json_array_append_new(arr, peer_json(b, &b->peers[i]));
    json_t *body =
        json_pack("{s:o, s:I, s:s, s:I, s:o}", "peers", arr, "sync_interval_ms",
                  (json_int_t)(broker_emergency_active(b) ? b->cfg.emergency_sync_interval_ms
                                                          : b->cfg.sync_interval_ms),
                  "emergency", severity_str(b->emergency), "version", (json_int_t)b->meta_version,
                  "vclock", broker_clock_json(b));
    pthread_mutex_unlock(&b->mu);
    api_reply_json(res, 200, body);
}

struct notify_req {
    char broker[COORD_ID_MAX + 1];
    int64_t version;
    vclock clock;
    bool has_clock;
};

static const field_spec notify_fields[] = {
    {"broker", FT_ID, offsetof(struct notify_req, broker), true, 0, 0, NULL, 0},
    {"version", FT_INT, offsetof(struct notify_req, version), false, 0, INT64_MAX, NULL, 0},
    {"vclock", FT_VCLOCK, offsetof(struct notify_req, clock), false, 0, 0, NULL,
     offsetof(struct notify_req, has_clock)},
    FIELD_END,
};

/* A peer signals that it changed: pull it soon. Only a hint; the pull is
 * what carries (and merges) the clock. */
void h_notify_post(api_request *req, api_response *res)
{
    broker *b = req->ctx;
    struct notify_req *r = calloc(1, sizeof(*r));
    field_error fe;
    if (!r) {
        api_reply_error(res, API_E_UNAVAILABLE, "out of memory");
        return;
    }
    if (json_parse_fields(req->body, notify_fields, r, &fe) < 0) {
        free(r);
        api_reply_error(res, fe.code, "%s", fe.message);
        return;
    }
    pthread_mutex_lock(&b->mu);
    peer *p = broker_peer(b, r->broker);
    if (p)
        p->pull_requested = true;
    pthread_mutex_unlock(&b->mu);
    if (!p) {
        api_reply_error(res, API_E_NOT_FOUND, "%s is not a known peer", r->broker);
        free(r);
        return;
    }
    free(r);
    sync_kick(b);
    pthread_mutex_lock(&b->mu);
    json_t *body = json_pack("{s:b, s:o}", "scheduled", 1, "vclock", broker_clock_json(b));
    pthread_mutex_unlock(&b->mu);
    api_reply_json(res, 202, body);
}

/* ---- remote copies ---- */

static void remote_free(void *p)
{
    remote_entry *e = p;
    if (!e)
        return;
    json_decref(e->obj);
    free(e);
}

json_t *remote_view(broker *b, const remote_entry *e)
{
    json_t *o = json_deep_copy(e->obj);
    json_object_set_new(o, "authoritative", json_false());
    json_object_set_new(o, "synced_from", json_string(e->owner));
    /* A successful pull confirms every copy of that peer, changed or not:
     * the copy is as old as the owner's last good pull. */
    const peer *p = broker_peer(b, e->owner);
    uint64_t fetched = p && p->last_success_wall_ms > e->fetched_wall_ms ? p->last_success_wall_ms
                                                                         : e->fetched_wall_ms;
    uint64_t now = coord_now_wall_ms();
    json_object_set_new(o, "age_ms", json_integer((json_int_t)(now > fetched ? now - fetched : 0)));
    return o;
}

static bool copy_has(const remote_entry *e, const char *status, const char *cap)
{
    const char *st = json_string_value(json_object_get(e->obj, "status"));
    if (status && (!st || strcmp(st, status) != 0))
        return false;
    if (!cap)
        return true;
    size_t i;
    json_t *v;
    json_array_foreach (json_object_get(e->obj, "capabilities"), i, v)
        if (json_is_string(v) && strcmp(json_string_value(v), cap) == 0)
            return true;
    return false;
}

json_t *remote_list(broker *b, hmap *m, const char *status, const char *cap)
{
    json_t *arr = json_array();
    size_t it = 0;
    const char *key;
    void *val;
    while (hmap_next(m, &it, &key, &val))
        if (copy_has(val, status, cap))
            json_array_append_new(arr, remote_view(b, val));
    json_array_sort_by_id(arr);
    return arr;
}

static int upsert_remote(broker *b, char kind, hmap *m, const char *owner, json_t *obj,
                         uint64_t gen, uint64_t now)
{
    const char *id = json_string_value(json_object_get(obj, "id"));
    if (!id || !coord_id_valid(id))
        return -1;
    remote_entry *e = hmap_get(m, id);
    if (!e) {
        e = calloc(1, sizeof(*e));
        if (!e || hmap_put(m, id, e, NULL) < 0) {
            free(e);
            return -1;
        }
    }
    snprintf(e->owner, sizeof(e->owner), "%s", owner);
    json_decref(e->obj);
    e->obj = json_incref(obj);
    e->gen = gen;
    e->fetched_wall_ms = now;
    /* Kept on disk too, so a restart still answers for a peer that is down. */
    char *text = json_dumps(obj, JSON_COMPACT);
    if (!text || db_put_remote(b->db, kind, id, owner, text, now) < 0)
        b->txn_failed = true;
    free(text);
    return 0;
}

static void sweep_remote(broker *b, char kind, hmap *m, const char *owner, uint64_t gen)
{
    /* Collect first: the map must not change while iterating. */
    size_t it = 0, n = 0, cap = 0;
    char(*ids)[COORD_ID_MAX + 1] = NULL;
    const char *key;
    void *val;
    while (hmap_next(m, &it, &key, &val)) {
        remote_entry *e = val;
        if (strcmp(e->owner, owner) != 0 || e->gen >= gen)
            continue;
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 16;
            void *p = realloc(ids, nc * sizeof(*ids));
            if (!p)
                break;
            ids = p;
            cap = nc;
        }
        snprintf(ids[n++], COORD_ID_MAX + 1, "%s", key);
    }
    for (size_t i = 0; i < n; i++) {
        remote_free(hmap_del(m, ids[i]));
        if (db_del_remote(b->db, kind, ids[i]) < 0)
            b->txn_failed = true;
    }
    free(ids);
}

/* A borrowed unit reported lost by its home broker: move our jobs off it. */
static size_t requeue_borrowed_on(broker *b, const char *unit_id, const char *owner)
{
    size_t moved = 0, it = 0;
    const char *key;
    void *val;
    job *hit[64];
    size_t nhit = 0;
    while (hmap_next(b->borrowed, &it, &key, &val) && nhit < 64) {
        job *j = val;
        attempt *a = job_current_attempt(j);
        if (a && a->state == ATT_ACTIVE && strcmp(a->unit_id, unit_id) == 0 &&
            strcmp(a->unit_district, owner) == 0)
            hit[nhit++] = j;
    }
    for (size_t i = 0; i < nhit; i++) {
        job *j = hit[i];
        attempt *a = job_current_attempt(j);
        a->state = ATT_REVOKED;
        hmap_del(b->borrowed, j->id);
        if (j->status == JOB_ASSIGNED) {
            j->status = JOB_QUEUED;
            j->updated_ms = coord_now_wall_ms();
            jobq_push(b->queue, j->id, j->sev, j->seq);
            moved++;
        }
        broker_save_job(b, j);
        broker_event(b, "job_requeued", j->id, unit_id, a->n,
                     "borrowed unit %s lost at %s: attempt %u revoked", unit_id, owner, a->n);
    }
    return moved;
}

static bool is_clock_node(const broker *b, const char *node)
{
    if (strcmp(node, "coordinator") == 0 || strcmp(node, b->cfg.id) == 0)
        return true;
    for (size_t i = 0; i < b->npeers; i++)
        if (strcmp(node, b->peers[i].id) == 0)
            return true;
    return false;
}

void broker_merge_clock_json(broker *b, const json_t *vc)
{
    vclock *in = malloc(sizeof(*in)), *f = malloc(sizeof(*f));
    field_error fe;
    if (in && f && vc && vclock_from_json(vc, in, &fe) == 0) {
        vclock_init(f);
        for (size_t i = 0; i < in->n; i++)
            if (is_clock_node(b, in->e[i].node))
                vclock_set(f, in->e[i].node, in->e[i].counter);
        vclock_merge(&b->clock, f);
    }
    free(in);
    free(f);
}

/* The level is one city-wide setting: the newest declaration wins (by its
 * wall-clock time), wherever it was made, so a pull from a peer that has
 * not heard of it yet never undoes it. set_ms 0: "now" (a direct push). */
static void apply_emergency(broker *b, const char *level, uint64_t set_ms, const char *source)
{
    severity s;
    if (!level || severity_parse(level, &s) < 0)
        return;
    if (set_ms && set_ms <= b->emergency_set_ms)
        return;
    if (s == b->emergency && set_ms)
        return;
    b->emergency = s;
    b->emergency_set_ms = set_ms ? set_ms : coord_now_wall_ms();
    broker_txn_begin(b);
    db_put_meta(b->db, "emergency", severity_str(s));
    char ms[32];
    snprintf(ms, sizeof(ms), "%llu", (unsigned long long)b->emergency_set_ms);
    db_put_meta(b->db, "emergency_set_ms", ms);
    broker_event(b, "emergency_level", NULL, NULL, 0, "city emergency level %s (from %s)",
                 severity_str(s), source);
    broker_commit_or_die(b);
}

/* Applies one page of a peer's metadata; caller holds mu. Returns whether
 * another page follows, or -1 when the reply is not a metadata page. */
static int apply_pull(broker *b, peer *p, json_t *reply, size_t *moved)
{
    const char *who = json_string_value(json_object_get(reply, "broker"));
    const char *epoch = json_string_value(json_object_get(reply, "epoch"));
    json_t *version = json_object_get(reply, "version");
    json_t *units = json_object_get(reply, "units"), *jobs = json_object_get(reply, "jobs");
    if (!who || strcmp(who, p->id) != 0 || !epoch || strlen(epoch) >= sizeof(p->epoch) ||
        !json_is_integer(version) || !json_is_array(units) || !json_is_array(jobs))
        return -1;
    bool full = json_is_true(json_object_get(reply, "full"));
    bool more = json_is_true(json_object_get(reply, "more"));
    uint64_t now = coord_now_wall_ms();
    if (full && p->since == 0 && !p->full) {
        p->gen++;
        p->full = true;
    } else if (full && !p->full) {
        /* It restarted since our last pull: start over. */
        p->gen++;
        p->full = true;
    }
    size_t i;
    json_t *v;
    size_t nu = 0, nj = 0;
    bool txn = json_array_size(units) || json_array_size(jobs) || (!more && p->full);
    if (txn)
        broker_txn_begin(b);
    json_array_foreach (units, i, v) {
        const char *id = json_string_value(json_object_get(v, "id"));
        if (!id || broker_unit(b, id))
            continue; /* our own units are never overwritten by a copy */
        const char *st = json_string_value(json_object_get(v, "status"));
        if (upsert_remote(b, 'u', b->remote_units, p->id, v, p->gen, now) == 0)
            nu++;
        if (st && strcmp(st, "lost") == 0)
            *moved += requeue_borrowed_on(b, id, p->id);
        /* A unit free elsewhere may serve a job waiting here (mutual aid). */
        if (st && strcmp(st, "available") == 0 && jobq_size(b->queue) > 0)
            (*moved)++;
    }
    json_array_foreach (jobs, i, v) {
        const char *id = json_string_value(json_object_get(v, "id"));
        if (!id || broker_job(b, id))
            continue;
        if (upsert_remote(b, 'j', b->remote_jobs, p->id, v, p->gen, now) == 0)
            nj++;
    }
    snprintf(p->epoch, sizeof(p->epoch), "%s", epoch);
    p->since = (uint64_t)json_integer_value(version);
    p->pulled_units += nu;
    p->pulled_jobs += nj;
    if (!more && p->full) {
        sweep_remote(b, 'u', b->remote_units, p->id, p->gen);
        sweep_remote(b, 'j', b->remote_jobs, p->id, p->gen);
        p->full = false;
    }
    broker_merge_clock_json(b, json_object_get(reply, "vclock"));
    if (nu || nj) {
        /* Receiving news is an event: it orders the peer's changes before
         * whatever we do next, and the event log shows the message. */
        broker_event(b, "synced", NULL, NULL, 0, "pulled %zu units and %zu jobs from %s", nu, nj,
                     p->id);
    }
    if (txn)
        broker_commit_or_die(b);
    json_t *em_ms = json_object_get(reply, "emergency_set_ms");
    if (json_is_integer(em_ms) && json_integer_value(em_ms) > 0)
        apply_emergency(b, json_string_value(json_object_get(reply, "emergency")),
                        (uint64_t)json_integer_value(em_ms), p->id);
    return more ? 1 : 0;
}

/* "2026-11-26T10:18:34.795Z" -> ms since the epoch; 0 when unparsable. */
static uint64_t parse_iso_ms(const char *s)
{
    if (!s)
        return 0;
    struct tm tm = {0};
    const char *rest = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    if (!rest)
        return 0;
    unsigned ms = 0;
    if (*rest == '.') {
        rest++;
        for (int i = 0; i < 3 && *rest >= '0' && *rest <= '9'; i++, rest++)
            ms = ms * 10 + (unsigned)(*rest - '0');
        while (*rest >= '0' && *rest <= '9')
            rest++;
    }
    if (*rest != 'Z' && *rest != '\0')
        return 0;
    time_t t = timegm(&tm);
    return t > 0 ? (uint64_t)t * 1000 + ms : 0;
}

static uint64_t jitter(uint64_t ms)
{
    static __thread unsigned seed;
    if (!seed)
        seed = (unsigned)coord_now_mono_ms() ^ (unsigned)(uintptr_t)&seed;
    uint64_t half = ms / 4;
    return ms - half + (half ? (uint64_t)rand_r(&seed) % (2 * half + 1) : 0);
}

static uint64_t interval_ms(const broker *b)
{
    return broker_emergency_active(b) ? b->cfg.emergency_sync_interval_ms : b->cfg.sync_interval_ms;
}

static bool stopping(broker *b)
{
    pthread_mutex_lock(&b->wmu);
    bool s = b->stopping;
    pthread_mutex_unlock(&b->wmu);
    return s;
}

static void pull_peer(broker *b, size_t idx)
{
    for (int page = 0; page < 1000; page++) {
        char url[BROKER_URL_MAX + 256];
        pthread_mutex_lock(&b->mu);
        peer *p = &b->peers[idx];
        p->pull_requested = false;
        p->last_attempt_wall_ms = coord_now_wall_ms();
        snprintf(url, sizeof(url), "%s/v1/metadata?since=%llu&epoch=%s&limit=%d&from=%s", p->url,
                 (unsigned long long)p->since, p->epoch[0] ? p->epoch : "none", PULL_PAGE,
                 b->cfg.id);
        pthread_mutex_unlock(&b->mu);

        http_reply rep;
        int rc = http_json("GET", url, NULL, &pull_opts, &rep);
        size_t moved = 0;
        pthread_mutex_lock(&b->mu);
        p = &b->peers[idx];
        int more = -1;
        if (rc == 0 && rep.status == 200 && rep.body)
            more = apply_pull(b, p, rep.body, &moved);
        uint64_t mono = coord_now_mono_ms();
        if (more < 0) {
            p->failures++;
            uint64_t cap = interval_ms(b) > 30000 ? interval_ms(b) : 30000;
            uint64_t bo = BACKOFF_FIRST_MS << (p->failures > 10 ? 10 : p->failures - 1);
            p->backoff_ms = jitter(bo < cap ? bo : cap);
            p->next_due_mono_ms = mono + p->backoff_ms;
            if (p->failures == 1 || p->failures % 10 == 0)
                service_log("warn", "pull from %s failed (%s); retry in %llu ms", p->id,
                            rc < 0 ? rep.error : "bad reply", (unsigned long long)p->backoff_ms);
        } else {
            if (p->failures)
                service_log("info", "peer %s back after %u failed pulls", p->id, p->failures);
            p->failures = 0;
            p->backoff_ms = 0;
            p->pulls++;
            p->last_success_wall_ms = coord_now_wall_ms();
            p->last_success_mono_ms = mono;
            p->next_due_mono_ms = mono + jitter(interval_ms(b));
        }
        pthread_mutex_unlock(&b->mu);
        http_reply_release(&rep);
        if (moved)
            broker_request_drain(b);
        if (more != 1 || stopping(b))
            return;
    }
}

static void notify_peer(broker *b, size_t idx, uint64_t version)
{
    char url[BROKER_URL_MAX + 32];
    pthread_mutex_lock(&b->mu);
    snprintf(url, sizeof(url), "%s/v1/notify", b->peers[idx].url);
    json_t *body = json_pack("{s:s, s:I, s:o}", "broker", b->cfg.id, "version", (json_int_t)version,
                             "vclock", broker_clock_json(b));
    pthread_mutex_unlock(&b->mu);
    http_reply rep;
    http_json("POST", url, body, &notify_opts, &rep);
    http_reply_release(&rep);
    json_decref(body);
}

void *broker_peer_main(void *arg)
{
    broker *b = arg;
    /* Find which peer this thread serves: the newest one without a thread
     * id match is ours; the slot index is stable (peers are never removed). */
    pthread_t self = pthread_self();
    size_t idx = 0;
    for (;;) {
        pthread_mutex_lock(&b->mu);
        bool found = false;
        for (size_t i = 0; i < b->npeers; i++) {
            if (b->peers[i].thread_started && pthread_equal(b->peers[i].thr, self)) {
                idx = i;
                found = true;
            }
        }
        pthread_mutex_unlock(&b->mu);
        if (found)
            break;
        if (stopping(b))
            return NULL;
        broker_wait(b, 5, false);
    }
    while (!stopping(b)) {
        pthread_mutex_lock(&b->mu);
        peer *p = &b->peers[idx];
        uint64_t mono = coord_now_mono_ms();
        uint64_t deadline = p->next_due_mono_ms;
        bool pull = mono >= p->next_due_mono_ms;
        /* A signalled pull comes soon, but at most every PULL_MIN_GAP_MS per
         * peer (a busy city must not turn signals into a pull storm), and
         * never inside a failing peer's backoff. */
        if (p->pull_requested && !p->failures) {
            uint64_t at = p->last_pull_mono_ms + PULL_MIN_GAP_MS;
            if (mono >= at)
                pull = true;
            else if (at < deadline)
                deadline = at;
        }
        /* Our own changes are signalled once things are quiet for the
         * debounce, or at the latest NOTIFY_MAX_WAIT_MS after the first,
         * and at most every NOTIFY_MIN_GAP_MS to the same peer. */
        uint64_t version = b->meta_version;
        bool notify = false;
        if (version > p->notified_version && p->failures == 0) {
            if (!p->pending_since_mono_ms)
                p->pending_since_mono_ms = mono;
            uint64_t quiet = last_touch_mono_ms + NOTIFY_DEBOUNCE_MS;
            uint64_t latest = p->pending_since_mono_ms + NOTIFY_MAX_WAIT_MS;
            uint64_t at = quiet < latest ? quiet : latest;
            uint64_t gap = p->last_notify_mono_ms + NOTIFY_MIN_GAP_MS;
            if (gap > at)
                at = gap;
            if (mono >= at)
                notify = true;
            else if (at < deadline)
                deadline = at;
        }
        if (notify) {
            p->notified_version = version;
            p->pending_since_mono_ms = 0;
            p->last_notify_mono_ms = mono;
        }
        if (pull)
            p->last_pull_mono_ms = mono;
        pthread_mutex_unlock(&b->mu);

        if (notify)
            notify_peer(b, idx, version);
        if (pull)
            pull_peer(b, idx);
        if (!notify && !pull)
            broker_wait(b, deadline > coord_now_mono_ms() ? deadline - coord_now_mono_ms() : 0,
                        false);
    }
    http_client_thread_cleanup();
    return NULL;
}

/* ---- coordinator registration ---- */

void *broker_registrar_main(void *arg)
{
    broker *b = arg;
    unsigned failures = 0;
    char url[BROKER_URL_MAX + 32];
    snprintf(url, sizeof(url), "%s/v1/brokers", b->cfg.coordinator);
    while (!stopping(b)) {
        json_t *body = json_pack("{s:s, s:s}", "id", b->cfg.id, "url", b->self_url);
        http_reply rep;
        int rc = http_json("POST", url, body, &register_opts, &rep);
        json_decref(body);
        bool ok = rc == 0 && (rep.status == 200 || rep.status == 201) && rep.body;
        if (ok) {
            pthread_mutex_lock(&b->mu);
            if (!b->registered)
                service_log("info", "registered with coordinator %s", b->cfg.coordinator);
            b->registered = true;
            size_t i;
            json_t *v;
            json_array_foreach (json_object_get(rep.body, "brokers"), i, v) {
                const char *id = json_string_value(json_object_get(v, "id"));
                const char *purl = json_string_value(json_object_get(v, "url"));
                if (id && purl && strlen(purl) < BROKER_URL_MAX &&
                    (strncmp(purl, "http://", 7) == 0 || strncmp(purl, "https://", 8) == 0))
                    broker_add_peer(b, id, purl);
            }
            json_t *em = json_object_get(rep.body, "emergency");
            /* Newest declaration wins, by the time it was made. */
            const char *lvl = json_string_value(json_object_get(em, "level"));
            uint64_t set_ms = parse_iso_ms(json_string_value(json_object_get(em, "set_at")));
            if (lvl && set_ms)
                apply_emergency(b, lvl, set_ms, "coordinator");
            broker_merge_clock_json(b, json_object_get(rep.body, "vclock"));
            pthread_mutex_unlock(&b->mu);
            failures = 0;
        } else {
            if (failures++ == 0)
                service_log("warn", "cannot register with coordinator %s", b->cfg.coordinator);
        }
        http_reply_release(&rep);
        uint64_t wait = ok ? (b->cfg.sync_interval_ms < 2000 ? b->cfg.sync_interval_ms : 2000)
                           : jitter(BACKOFF_FIRST_MS << (failures > 4 ? 4 : failures));
        broker_wait(b, wait, false);
    }
    http_client_thread_cleanup();
    return NULL;
}

void broker_sync_start(broker *b)
{
    pthread_mutex_lock(&b->mu);
    for (size_t i = 0; i < b->cfg.npeers; i++)
        broker_add_peer(b, b->cfg.peer_id[i], b->cfg.peer_url[i]);
    pthread_mutex_unlock(&b->mu);
    if (b->cfg.coordinator[0])
        pthread_create(&b->registrar_thr, NULL, broker_registrar_main, b);
}

/* ---- mutual aid: choosing another district's unit ---- */

static bool json_caps_cover(const json_t *caps, const job *j)
{
    const char *offered[BROKER_MAX_CAPS];
    size_t n = 0, i;
    json_t *v;
    json_array_foreach (caps, i, v) {
        if (n < BROKER_MAX_CAPS && json_is_string(v))
            offered[n++] = json_string_value(v);
    }
    const char *req[BROKER_MAX_CAPS];
    size_t nreq = j->ncaps < BROKER_MAX_CAPS ? j->ncaps : BROKER_MAX_CAPS;
    for (size_t k = 0; k < nreq; k++)
        req[k] = j->caps[k];
    return caps_match(req, nreq, offered, n);
}

bool broker_pick_remote_unit(broker *b, const job *j, char (*tried)[COORD_ID_MAX + 1],
                             size_t ntried, char *unit_id, char *owner, char *owner_url)
{
    const remote_entry *best = NULL;
    size_t best_load = 0;
    size_t it = 0;
    const char *key;
    void *val;
    while (hmap_next(b->remote_units, &it, &key, &val)) {
        const remote_entry *e = val;
        const char *st = json_string_value(json_object_get(e->obj, "status"));
        if (!st || strcmp(st, "available") != 0)
            continue;
        bool seen = false;
        for (size_t i = 0; i < ntried; i++)
            seen |= strcmp(tried[i], key) == 0;
        if (seen || !broker_peer(b, e->owner))
            continue;
        if (!json_caps_cover(json_object_get(e->obj, "capabilities"), j))
            continue;
        size_t load = json_array_size(json_object_get(e->obj, "jobs"));
        if (!best || load < best_load ||
            (load == best_load &&
             strcmp(key, best->obj ? json_string_value(json_object_get(best->obj, "id")) : "") <
                 0)) {
            best = e;
            best_load = load;
        }
    }
    if (!best)
        return false;
    snprintf(unit_id, COORD_ID_MAX + 1, "%s", json_string_value(json_object_get(best->obj, "id")));
    snprintf(owner, COORD_ID_MAX + 1, "%s", best->owner);
    snprintf(owner_url, BROKER_URL_MAX, "%s", broker_peer(b, best->owner)->url);
    return true;
}

/* ---- emergency level ---- */

static const char *const level_names[] = {"low", "medium", "high", "critical", NULL};

static json_t *emergency_json(const broker *b)
{
    char ts[40] = "";
    if (b->emergency_set_ms)
        iso_ms(b->emergency_set_ms, ts, sizeof(ts));
    return json_pack("{s:s, s:o, s:I}", "level", severity_str(b->emergency), "set_at",
                     b->emergency_set_ms ? json_string(ts) : json_null(), "set_ms",
                     (json_int_t)b->emergency_set_ms);
}

struct emergency_req {
    int level;
    vclock clock;
    bool has_clock;
};

static const field_spec emergency_fields[] = {
    {"level", FT_ENUM, offsetof(struct emergency_req, level), true, 0, 0, level_names, 0},
    {"vclock", FT_VCLOCK, offsetof(struct emergency_req, clock), false, 0, 0, NULL,
     offsetof(struct emergency_req, has_clock)},
    FIELD_END,
};

void h_emergency_post(api_request *req, api_response *res)
{
    broker *b = req->ctx;
    struct emergency_req *r = calloc(1, sizeof(*r));
    field_error fe;
    if (!r) {
        api_reply_error(res, API_E_UNAVAILABLE, "out of memory");
        return;
    }
    if (json_parse_fields(req->body, emergency_fields, r, &fe) < 0) {
        free(r);
        api_reply_error(res, fe.code, "%s", fe.message);
        return;
    }
    pthread_mutex_lock(&b->mu);
    if (r->has_clock) {
        json_t *vc = vclock_to_json(&r->clock);
        broker_merge_clock_json(b, vc);
        json_decref(vc);
    }
    apply_emergency(b, level_names[r->level], 0, "coordinator");
    json_t *body = json_pack("{s:o, s:I, s:o}", "emergency", emergency_json(b), "sync_interval_ms",
                             (json_int_t)interval_ms(b), "vclock", broker_clock_json(b));
    /* Pull on the new schedule from now on. */
    for (size_t i = 0; i < b->npeers; i++) {
        uint64_t due = coord_now_mono_ms() + interval_ms(b);
        if (b->peers[i].next_due_mono_ms > due)
            b->peers[i].next_due_mono_ms = due;
    }
    pthread_mutex_unlock(&b->mu);
    free(r);
    sync_kick(b);
    api_reply_json(res, 200, body);
}

void h_emergency_get(api_request *req, api_response *res)
{
    broker *b = req->ctx;
    pthread_mutex_lock(&b->mu);
    json_t *body = json_pack("{s:o, s:I, s:o}", "emergency", emergency_json(b), "sync_interval_ms",
                             (json_int_t)interval_ms(b), "vclock", broker_clock_json(b));
    pthread_mutex_unlock(&b->mu);
    api_reply_json(res, 200, body);
}

void broker_free_remote(broker *b)
{
    hmap_free(b->remote_units, remote_free);
    hmap_free(b->remote_jobs, remote_free);
    hmap_free(b->borrowed, NULL);
}

static void load_remote_row(void *arg, char kind, const char *id, const char *owner,
                            const char *obj, uint64_t fetched_ms)
{
    broker *b = arg;
    if (!id || !owner || !obj || !coord_id_valid(id) || !coord_id_valid(owner))
        return;
    json_t *o = json_loads(obj, 0, NULL);
    if (json_is_object(o)) {
        hmap *m = kind == 'u' ? b->remote_units : b->remote_jobs;
        remote_entry *e = calloc(1, sizeof(*e));
        if (e && hmap_put(m, id, e, NULL) == 0) {
            snprintf(e->owner, sizeof(e->owner), "%s", owner);
            e->obj = json_incref(o);
            e->fetched_wall_ms = fetched_ms; /* gen 0: the first full pull replaces it */
        } else {
            free(e);
        }
    }
    json_decref(o);
}

int broker_load_remote(broker *b)
{
    return db_list_remote(b->db, load_remote_row, b);
}
