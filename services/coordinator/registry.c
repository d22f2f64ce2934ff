/* The broker registry (registry.h). */
#include "registry.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "db.h"
#include "events.h"

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

broker_rec *registry_insert(coordinator *c, const char *id)
{
    broker_rec *b = calloc(1, sizeof(*b));
    if (!b)
        return NULL;
    snprintf(b->id, sizeof(b->id), "%s", id);
    size_t at = 0;
    while (at < c->nbrokers && strcmp(c->brokers[at]->id, id) < 0)
        at++;
    memmove(&c->brokers[at + 1], &c->brokers[at], (c->nbrokers - at) * sizeof(c->brokers[0]));
    c->brokers[at] = b;
    c->nbrokers++;
    return b;
}

void registry_forget_figures(broker_rec *b)
{
    json_decref(b->view);
    b->view = NULL;
    event_ring_clear(&b->events);
    b->events_after = 0;
    b->polled = b->reachable = false;
    b->figures_mono_ms = 0;
}

static void broker_rec_free(broker_rec *b)
{
    if (!b)
        return;
    json_decref(b->view);
    event_ring_clear(&b->events);
    free(b);
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

int registry_load(coordinator *c)
{
    struct load_ctx l = {c, 0};
    return cdb_load_brokers(c->db, load_broker_cb, &l) < 0 || l.err ? -1 : 0;
}

void registry_release(coordinator *c)
{
    for (size_t i = 0; i < c->nbrokers; i++)
        broker_rec_free(c->brokers[i]);
    c->nbrokers = 0;
}
