/* Coordinator lifecycle (recovery from SQLite, server, poller) and the
 * registry helpers the handlers share. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "coordinator.h"

const char *const emergency_level_names[] = {"low", "medium", "high", "critical", NULL};

void iso_time(uint64_t ms, char *buf, size_t len)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    size_t n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, len - n, ".%03uZ", (unsigned)(ms % 1000));
}

void event_ring_push(event_ring *r, json_t *ev)
{
    if (!ev)
        return;
    if (r->n == COORD_EVENTS_PER_NODE) {
        json_decref(r->ev[r->head]);
        r->ev[r->head] = ev;
        r->head = (r->head + 1) % COORD_EVENTS_PER_NODE;
        return;
    }
    r->ev[(r->head + r->n) % COORD_EVENTS_PER_NODE] = ev;
    r->n++;
}

void event_ring_clear(event_ring *r)
{
    for (size_t i = 0; i < r->n; i++)
        json_decref(r->ev[(r->head + i) % COORD_EVENTS_PER_NODE]);
    r->head = r->n = 0;
}

static void broker_rec_free(broker_rec *b)
{
    if (!b)
        return;
    json_decref(b->view);
    event_ring_clear(&b->events);
    free(b);
}

broker_rec *coordinator_broker(coordinator *c, const char *id)
{
    size_t lo = 0, hi = c->nbrokers;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int d = strcmp(c->brokers[mid]->id, id);
        if (d == 0)
            return c->brokers[mid];
        if (d < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

json_t *coordinator_clock_json(const coordinator *c)
{
    return vclock_to_json(&c->clock);
}

json_t *coordinator_emergency_json(const coordinator *c)
{
    char ts[40];
    if (c->level_set_ms)
        iso_time(c->level_set_ms, ts, sizeof(ts));
    return json_pack("{s:s, s:o}", "level", emergency_level_names[c->level], "set_at",
                     c->level_set_ms ? json_string(ts) : json_null());
}

json_t *broker_rec_json(const broker_rec *b, uint64_t now_wall, uint64_t now_mono)
{
    char ts[40];
    iso_time(b->registered_ms, ts, sizeof(ts));
    return json_pack("{s:s, s:s, s:s, s:I, s:b, s:o}", "id", b->id, "url", b->url, "registered_at",
                     ts, "last_seen_ms_ago",
                     (json_int_t)(now_wall > b->last_seen_ms ? now_wall - b->last_seen_ms : 0),
                     "reachable", b->reachable, "figures_age_ms",
                     b->figures_mono_ms ? json_integer((json_int_t)(now_mono - b->figures_mono_ms))
                                        : json_null());
}

json_t *coordinator_brokers_json(const coordinator *c)
{
    json_t *a = json_array();
    uint64_t wall = coord_now_wall_ms(), mono = coord_now_mono_ms();
    for (size_t i = 0; i < c->nbrokers; i++)
        json_array_append_new(a, broker_rec_json(c->brokers[i], wall, mono));
    return a;
}

void coordinator_merge_vclock(coordinator *c, const vclock *in)
{
    vclock tmp;
    vclock_copy(&tmp, &c->clock);
    if (vclock_merge(&tmp, in) < 0)
        return; /* over the cap: skipped, our own order stays intact */
    if (vclock_get(&tmp, COORD_NODE) == 0 && tmp.n >= VCLOCK_MAX_ENTRIES)
        return; /* we could never tick again */
    vclock_copy(&c->clock, &tmp);
}

void coordinator_merge_clock(coordinator *c, const json_t *vc)
{
    static const vclock zero;
    vclock in = zero;
    field_error fe;
    if (!vc || vclock_from_json(vc, &in, &fe) < 0)
        return;
    coordinator_merge_vclock(c, &in);
}

static json_t *event_json(uint64_t seq, uint64_t time_ms, const char *type, const char *job_id,
                          const char *detail, json_t *vc)
{
    char ts[40];
    iso_time(time_ms, ts, sizeof(ts));
    return json_pack("{s:I, s:s, s:s, s:s, s:o, s:n, s:n, s:s, s:o}", "seq", (json_int_t)seq,
                     "time", ts, "node", COORD_NODE, "type", type, "job_id",
                     job_id && coord_id_valid(job_id) ? json_string(job_id) : json_null(),
                     "unit_id", "attempt", "detail", detail ? detail : "", "vclock",
                     vc ? vc : json_object());
}

void coordinator_event(coordinator *c, const char *type, const char *job_id, const char *fmt, ...)
{
    char detail[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    vclock_tick(&c->clock, COORD_NODE);
    uint64_t now = coord_now_wall_ms();
    json_t *vc = coordinator_clock_json(c);
    char *vtext = json_dumps(vc, JSON_COMPACT | JSON_SORT_KEYS);
    c->event_seq++;
    if (vtext && cdb_add_event(c->db, c->event_seq, now, type, job_id, detail, vtext) < 0)
        service_log("warn", "cannot record event %s", type);
    free(vtext);
    event_ring_push(&c->events, event_json(c->event_seq, now, type, job_id, detail, vc));
}

int coordinator_commit(coordinator *c)
{
    json_t *vc = coordinator_clock_json(c);
    char *vtext = json_dumps(vc, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(vc);
    if (!vtext || cdb_put_meta(c->db, "vclock", vtext) < 0 || cdb_commit(c->db) < 0) {
        free(vtext);
        cdb_rollback(c->db);
        service_log("error", "storage: commit failed");
        return -1;
    }
    free(vtext);
    return 0;
}

void coordinator_poll_soon(coordinator *c)
{
    pthread_mutex_lock(&c->pmu);
    c->poll_now = true;
    pthread_cond_broadcast(&c->pcond);
    pthread_mutex_unlock(&c->pmu);
}

/* ---- recovery ---- */

struct load_ctx {
    coordinator *c;
    int err;
};

static void load_broker_cb(void *arg, const char *id, const char *url, uint64_t registered_ms,
                           uint64_t last_seen_ms)
{
    struct load_ctx *l = arg;
    coordinator *c = l->c;
    if (!coord_id_valid(id) || !coord_url_valid(url) || c->nbrokers == COORD_MAX_BROKERS)
        return; /* a row we would never have written: ignore it */
    broker_rec *b = calloc(1, sizeof(*b));
    if (!b) {
        l->err = 1;
        return;
    }
    snprintf(b->id, sizeof(b->id), "%s", id);
    snprintf(b->url, sizeof(b->url), "%s", url);
    b->registered_ms = registered_ms;
    b->last_seen_ms = last_seen_ms;
    c->brokers[c->nbrokers++] = b; /* rows come sorted by id */
}

static void load_event_cb(void *arg, uint64_t seq, uint64_t time_ms, const char *type,
                          const char *job_id, const char *detail, const char *vclock_json)
{
    struct load_ctx *l = arg;
    json_t *vc = json_loads(vclock_json, 0, NULL);
    if (!json_is_object(vc)) {
        json_decref(vc);
        vc = json_object();
    }
    event_ring_push(&l->c->events, event_json(seq, time_ms, type, job_id, detail, vc));
}

int coordinator_init(coordinator *c, const coordinator_config *cfg, char *err, size_t errlen)
{
    memset(c, 0, sizeof(*c));
    c->cfg = *cfg;
    pthread_mutex_init(&c->mu, NULL);
    pthread_mutex_init(&c->emergency_mu, NULL);
    pthread_mutex_init(&c->pmu, NULL);
    pthread_condattr_t ca; /* the poller sleeps on the monotonic clock */
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&c->pcond, &ca);
    pthread_condattr_destroy(&ca);
    vclock_init(&c->clock);
    if (service_mkdir_p(cfg->data_dir) < 0) {
        snprintf(err, errlen, "cannot create data dir %s: %s", cfg->data_dir, strerror(errno));
        return -1;
    }
    char path[1100];
    snprintf(path, sizeof(path), "%s/coordinator.db", cfg->data_dir);
    c->db = cdb_open(path, err, errlen);
    if (!c->db)
        return -1;

    char buf[8192];
    if (cdb_get_meta(c->db, "vclock", buf, sizeof(buf)) == 0) {
        json_t *j = json_loads(buf, 0, NULL);
        field_error fe;
        if (j && vclock_from_json(j, &c->clock, &fe) < 0)
            vclock_init(&c->clock);
        json_decref(j);
    }
    if (cdb_get_meta(c->db, "emergency_level", buf, sizeof(buf)) == 0) {
        for (int i = 0; emergency_level_names[i]; i++)
            if (strcmp(buf, emergency_level_names[i]) == 0)
                c->level = (emergency_level)i;
    }
    if (cdb_get_meta(c->db, "emergency_set_ms", buf, sizeof(buf)) == 0)
        c->level_set_ms = strtoull(buf, NULL, 10);

    struct load_ctx l = {c, 0};
    if (cdb_load_brokers(c->db, load_broker_cb, &l) < 0 || l.err ||
        cdb_load_events(c->db, COORD_EVENTS_PER_NODE, load_event_cb, &l) < 0) {
        snprintf(err, errlen, "cannot load state from %s", path);
        return -1;
    }
    c->event_seq = cdb_last_event_seq(c->db);
    return 0;
}

int coordinator_start(coordinator *c, uint16_t *port)
{
    api_server_config sc = {
        .host = c->cfg.host,
        .port = c->cfg.port,
        .threads = c->cfg.threads,
        .latency = &c->m.latency,
        .latency_mu = &c->mu,
    };
    c->server = api_server_start(&sc, coordinator_routes, coordinator_nroutes, c, port);
    return c->server ? 0 : -1;
}

int coordinator_start_poller(coordinator *c)
{
    if (pthread_create(&c->poller_thr, NULL, coordinator_poller_main, c) != 0)
        return -1;
    c->poller_started = true;
    return 0;
}

void coordinator_stop(coordinator *c)
{
    api_server_stop(c->server);
    c->server = NULL;
    pthread_mutex_lock(&c->pmu);
    c->stopping = true;
    pthread_cond_broadcast(&c->pcond);
    pthread_mutex_unlock(&c->pmu);
    if (c->poller_started)
        pthread_join(c->poller_thr, NULL);
    c->poller_started = false;
}

void coordinator_release(coordinator *c)
{
    for (size_t i = 0; i < c->nbrokers; i++)
        broker_rec_free(c->brokers[i]);
    c->nbrokers = 0;
    event_ring_clear(&c->events);
    cdb_close(c->db);
    c->db = NULL;
    pthread_mutex_destroy(&c->mu);
    pthread_mutex_destroy(&c->emergency_mu);
    pthread_mutex_destroy(&c->pmu);
    pthread_cond_destroy(&c->pcond);
}
