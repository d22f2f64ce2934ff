/* ergrid-coordinator's shared state (header only; each module's header
 * declares its own functions). The coordinator is the city-wide view: a
 * registry of district brokers (brokers learn their peers from it),
 * incident intake that routes to a district, the city-wide emergency
 * level, a merged event log and the live dashboard.
 *
 * Concurrency: one mutex (coordinator.mu) guards the registry, the clock, the
 * figures the poller collected, the event ring and the SQLite connection.
 * No HTTP call to a broker is ever made while holding it: handlers and the
 * poller copy what they need (ids and URLs), call out unlocked, and store the
 * outcome under the lock again. So GET /v1/overview never waits on a broker. */
#ifndef COORDINATOR_CONTEXT_H
#define COORDINATOR_CONTEXT_H

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "api.h"
#include "config.h"
#include "coord.h"
#include "db.h"
#include "emergency.h"
#include "events.h"
#include "leader_client.h"

#define COORD_MAX_BROKERS 64
#define COORD_BROKER_URLS LEADER_URLS_MAX /* URLs kept per district: a leader and its standbys */

/* A registered district broker and the latest figures polled from it. */
typedef struct broker_rec {
    char id[COORD_ID_MAX + 1];
    char url[COORD_URL_MAX + 1];          /* the latest registration's */
    uint64_t registered_ms, last_seen_ms; /* wall clock */
    /* Every URL registered for the district (origins), with when each last
     * registered; the oldest goes when a new one comes past the cap. */
    char urls[COORD_BROKER_URLS][LEADER_URL_MAX];
    uint64_t url_seen_ms[COORD_BROKER_URLS];
    size_t nurls;
    uint64_t url_gen; /* bumped when an unknown URL came: figures polled before are stale */
    /* The same URLs for leader_call: writes follow the leader, reads take
     * whichever answered last. Own lock; made with the record, freed with
     * it (records live as long as the process), so a call may use it
     * without coordinator.mu. */
    leader_set *set;
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

    /* poller; pcond runs on CLOCK_MONOTONIC */
    pthread_mutex_t pmu;
    pthread_cond_t pcond;
    bool stopping, poll_now, poller_started;
    pthread_t poller_thr;
    api_server *server;
    api_sse_hub *sse; /* GET /v1/events/stream: the city order (api_sse_publish) */
} coordinator;

#endif
