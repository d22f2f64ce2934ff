/* ergrid-coordinator: the city-wide view. A registry of district brokers
 * (brokers learn their peers from it), incident intake that routes to a
 * district, the city-wide emergency level, a merged event log and the live
 * dashboard.
 *
 * Concurrency: one mutex (coordinator.mu) guards the registry, the clock, the
 * figures the poller collected, the event ring and the SQLite connection.
 * No HTTP call to a broker is ever made while holding it: handlers and the
 * poller copy what they need (ids and URLs), call out unlocked, and store the
 * outcome under the lock again. So GET /v1/overview never waits on a broker. */
#ifndef COORDINATOR_H
#define COORDINATOR_H

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "api.h"
#include "coord.h"
#include "db.h"

#define COORD_NODE             "coordinator" /* our vector-clock node name */
#define COORD_MAX_BROKERS      64
#define COORD_URL_MAX          512 /* longest broker URL, without the NUL */
#define COORD_MAX_CAPS         32
#define COORD_JSON_FIELD_MAX   4096 /* location / payload, as canonical text */
#define COORD_EVENTS_PER_NODE  500  /* events kept per broker (and our own) */
#define COORD_EVENTS_LIMIT_MAX 5000 /* cap of GET /v1/events?limit */
#define COORD_RECENT_RESULTS   20

typedef enum emergency_level {
    EMERG_LOW = 0,
    EMERG_MEDIUM,
    EMERG_HIGH,
    EMERG_CRITICAL
} emergency_level;
extern const char *const emergency_level_names[]; /* NULL-terminated, by enum value */

typedef struct coordinator_config {
    char host[64];
    uint16_t port;
    char data_dir[1024];
    uint64_t poll_interval_ms;
    unsigned threads;
} coordinator_config;

/* Parses argv (--flag value and --flag=value). Returns 0 on success, 1 after
 * printing --help, 2 on a bad command line (one-line message in err). */
int coordinator_parse_args(int argc, char **argv, coordinator_config *cfg, char *err,
                           size_t errlen);

/* True when s is an http:// or https:// URL of at most COORD_URL_MAX
 * characters with a host and no whitespace or control characters. */
bool coord_url_valid(const char *s);

/* One bounded ring of events (JSON objects, owned). */
typedef struct event_ring {
    json_t *ev[COORD_EVENTS_PER_NODE];
    size_t head, n; /* oldest at head */
} event_ring;
void event_ring_push(event_ring *r, json_t *ev); /* steals ev; drops the oldest when full */
void event_ring_clear(event_ring *r);

/* A registered district broker and the latest figures polled from it. */
typedef struct broker_rec {
    char id[COORD_ID_MAX + 1];
    char url[COORD_URL_MAX + 1];
    uint64_t registered_ms, last_seen_ms; /* wall clock */
    /* poller state */
    bool polled;              /* at least one poll finished (success or not) */
    bool reachable;           /* the last poll succeeded */
    uint64_t figures_mono_ms; /* when the current figures were fetched; 0: none */
    json_t *view;             /* {"units_by_status","units","open_jobs","recent_results","peers"} */
    uint64_t events_after;    /* last event seq seen at this broker */
    event_ring events;
} broker_rec;

typedef struct coordinator_metrics {
    uint64_t routed_named, routed_free_unit, routed_least_loaded, route_failures;
    uint64_t registrations_new, registrations_update;
    uint64_t emergency_declarations, emergency_pushes_ok, emergency_pushes_failed;
    uint64_t polls_ok, polls_failed;
    histogram latency;
} coordinator_metrics;

typedef struct coordinator {
    coordinator_config cfg;
    pthread_mutex_t mu;
    cdb *db;
    vclock clock;
    size_t nbrokers;
    broker_rec *brokers[COORD_MAX_BROKERS]; /* sorted by id */
    emergency_level level;
    uint64_t level_set_ms; /* 0: never declared */
    uint64_t event_seq;
    event_ring events; /* the coordinator's own events */
    coordinator_metrics m;

    /* Serialises emergency declarations so pushes reach brokers in order. */
    pthread_mutex_t emergency_mu;

    /* poller */
    pthread_mutex_t pmu;
    pthread_cond_t pcond;
    bool stopping, poll_now, poller_started;
    pthread_t poller_thr;
    api_server *server;
} coordinator;

/* Lifecycle (coordinator.c). */
int coordinator_init(coordinator *c, const coordinator_config *cfg, char *err, size_t errlen);
int coordinator_start(coordinator *c, uint16_t *port); /* HTTP server */
int coordinator_start_poller(coordinator *c);
void coordinator_stop(coordinator *c);
void coordinator_release(coordinator *c);

/* Registry helpers (coordinator.c). Caller holds c->mu. */
broker_rec *coordinator_broker(coordinator *c, const char *id);
json_t *coordinator_clock_json(const coordinator *c);
json_t *coordinator_emergency_json(const coordinator *c);
json_t *broker_rec_json(const broker_rec *b, uint64_t now_wall, uint64_t now_mono);
json_t *coordinator_brokers_json(const coordinator *c);
/* Merges a clock a broker sent. Skipped when invalid, when the union would
 * exceed the cap, or when it would leave no room for our own entry. */
void coordinator_merge_clock(coordinator *c, const json_t *vc);
void coordinator_merge_vclock(coordinator *c, const vclock *in);
/* Ticks the clock and records an event of ours (persisted in the open
 * transaction when inside one). job_id may be NULL. */
void coordinator_event(coordinator *c, const char *type, const char *job_id, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Saves the clock and commits; logs and rolls back on failure. 0 or -1. */
int coordinator_commit(coordinator *c);
/* Wakes the poller for an immediate round (e.g. after a registration). */
void coordinator_poll_soon(coordinator *c);

/* Time as "2026-11-26T10:00:00.000Z". */
void iso_time(uint64_t ms, char *buf, size_t len);

/* Runs fn(arg, i) for i in 0..n-1 on up to max_threads threads and waits for
 * all (fanout.c). Falls back to the calling thread if threads cannot be made. */
void fanout_run(size_t n, size_t max_threads, void (*fn)(void *arg, size_t i), void *arg);

/* ---- incident intake (handlers_incidents.c); routing itself is libcoord's ---- */
/* Counts the units in a GET /v1/units "units" array that belong to district
 * (district equal or absent; authoritative true or absent), are available
 * and offer every capability in req. */
size_t count_free_capable(const json_t *units, const char *district, const char *const *req,
                          size_t nreq);

/* ---- events (handlers_events.c); pure, unit-tested ---- */
/* Sorts an array of event objects by time, then node, then seq. */
void events_sort(json_t *events);
/* A clean copy of an event a broker sent (only known fields, bounded), or
 * NULL when it is malformed. New reference. */
json_t *event_sanitize(const json_t *ev);

/* ---- poller (poller.c) ---- */
void *coordinator_poller_main(void *arg);
/* Builds a district's view from the replies of one poll (pure; tested).
 * units/queued/assigned/completed are the "units"/"jobs" arrays (may be
 * NULL), peers the GET /v1/peers body or NULL. New reference. */
json_t *district_view(const char *district, const json_t *units, const json_t *open_jobs,
                      const json_t *completed, const json_t *peers);

/* ---- the dashboard page (generated from dashboard.html) ---- */
extern const unsigned char dashboard_html[];
extern const size_t dashboard_html_len;

/* Route table (routes.c). */
extern const api_route coordinator_routes[];
extern const size_t coordinator_nroutes;

/* Handlers, one file per resource. */
void h_health(api_request *req, api_response *res);
void h_metrics(api_request *req, api_response *res);
void h_brokers_post(api_request *req, api_response *res);
void h_brokers_list(api_request *req, api_response *res);
void h_incidents_post(api_request *req, api_response *res);
void h_overview_get(api_request *req, api_response *res);
void h_emergency_post(api_request *req, api_response *res);
void h_emergency_get(api_request *req, api_response *res);
void h_events_get(api_request *req, api_response *res);
void h_dashboard(api_request *req, api_response *res);

#endif
