/* The broker registry (registry.h), with every URL a district registered
 * under (a leader and its standbys) and the set that calls it through. */
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

static broker_rec *rec_new(void)
{
    broker_rec *b = calloc(1, sizeof(*b));
    if (!b)
        return NULL;
    b->set = malloc(sizeof(*b->set));
    if (!b->set) {
        free(b);
        return NULL;
    }
    leader_set_init(b->set);
    return b;
}

broker_rec *registry_insert(coordinator *c, const char *id)
{
    broker_rec *b = rec_new();
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

int registry_note_url(broker_rec *b, const char *url, uint64_t now, bool *added, char *evicted,
                      size_t evsz)
{
    char origin[LEADER_URL_MAX];
    const char *v[COORD_BROKER_URLS];
    size_t at = b->nurls;

    *added = false;
    if (evsz)
        evicted[0] = '\0';
    if (leader_origin(url, origin, sizeof(origin)) < 0)
        return -1;
    for (size_t i = 0; i < b->nurls; i++)
        if (strcmp(b->urls[i], origin) == 0)
            at = i;
    if (at == b->nurls) {
        /* A standby we had not heard of, or the district moved. The set
         * calls within one scheme, so another scheme replaces the list. */
        if (b->nurls && (strncmp(b->urls[0], "https:", 6) == 0) !=
                            (strncmp(origin, "https:", 6) == 0)) {
            if (evsz)
                snprintf(evicted, evsz, "*");
            b->nurls = 0;
            at = 0;
        } else if (b->nurls == COORD_BROKER_URLS) {
            at = 0;
            for (size_t i = 1; i < b->nurls; i++)
                if (b->url_seen_ms[i] < b->url_seen_ms[at])
                    at = i;
            if (evsz)
                snprintf(evicted, evsz, "%s", b->urls[at]);
        } else {
            b->nurls++;
        }
        memcpy(b->urls[at], origin, sizeof(origin));
        *added = true;
    }
    b->url_seen_ms[at] = now;
    if (*added) {
        for (size_t i = 0; i < b->nurls; i++)
            v[i] = b->urls[i];
        (void)leader_set_replace(b->set, v, b->nurls);
        b->url_gen++;
    }
    return 0;
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
    leader_set_release(b->set);
    free(b->set);
    free(b);
}

json_t *broker_rec_json(const broker_rec *b, uint64_t now_wall, uint64_t now_mono)
{
    char ts[40];
    iso_time(b->registered_ms, ts, sizeof(ts));
    json_t *urls = json_array();
    for (size_t i = 0; urls && i < b->nurls; i++)
        json_array_append_new(urls, json_string(b->urls[i]));
    return json_pack("{s:s, s:s, s:o, s:s, s:I, s:b, s:o}", "id", b->id, "url", b->url, "urls",
                     urls ? urls : json_array(), "registered_at",
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
    broker_rec *b = rec_new();
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

static void load_url_cb(void *arg, const char *id, const char *url, uint64_t last_seen_ms)
{
    struct load_ctx *l = arg;
    broker_rec *b = coordinator_broker(l->c, id);
    bool added;
    char evicted[LEADER_URL_MAX];

    if (b && coord_url_valid(url))
        (void)registry_note_url(b, url, last_seen_ms, &added, evicted, sizeof(evicted));
}

int registry_load(coordinator *c)
{
    struct load_ctx l = {c, 0};
    bool added;
    char evicted[LEADER_URL_MAX];

    if (cdb_load_brokers(c->db, load_broker_cb, &l) < 0 || l.err ||
        cdb_load_broker_urls(c->db, load_url_cb, &l) < 0)
        return -1;
    /* A registry from before broker_urls: its one URL per district. */
    for (size_t i = 0; i < c->nbrokers; i++)
        if (c->brokers[i]->nurls == 0)
            (void)registry_note_url(c->brokers[i], c->brokers[i]->url, c->brokers[i]->last_seen_ms,
                                    &added, evicted, sizeof(evicted));
    return 0;
}

void registry_release(coordinator *c)
{
    for (size_t i = 0; i < c->nbrokers; i++)
        broker_rec_free(c->brokers[i]);
    c->nbrokers = 0;
}
