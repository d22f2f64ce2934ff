/* ergrid-broker: one per district. Owns its units and the jobs submitted to
 * it; assigns, detects failures, redeploys, arbitrates results FCFS.
 *
 * Concurrency: one mutex (broker.mu) guards the in-memory model and the
 * SQLite connection. HTTP calls to executors and peers are never made while
 * holding it: a dispatch reserves a unit under the lock (a PENDING attempt
 * counts toward its load), calls the executor unlocked, and settles the
 * outcome under the lock again. */
#ifndef BROKER_H
#define BROKER_H

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "api.h"
#include "coord.h"
#include "db.h"
#include "model.h"

#define BROKER_MAX_PEERS      64
#define BROKER_MAX_CAPS       32
#define BROKER_MAX_CAPACITY   64
#define BROKER_JSON_FIELD_MAX 4096 /* location / payload / result data, as text */

typedef struct broker_config {
    char id[COORD_ID_MAX + 1];
    char host[64];
    uint16_t port;
    char data_dir[1024];
    char coordinator[BROKER_URL_MAX];
    size_t npeers;
    char peer_id[BROKER_MAX_PEERS][COORD_ID_MAX + 1];
    char peer_url[BROKER_MAX_PEERS][BROKER_URL_MAX];
    uint64_t failure_timeout_ms;
    uint64_t sync_interval_ms;
    uint64_t emergency_sync_interval_ms;
    unsigned threads;
    char advertise_url[BROKER_URL_MAX];
} broker_config;

/* Parses argv. Returns 0 on success, 1 after printing --help, 2 on a bad
 * command line (message written to err). */
int broker_parse_args(int argc, char **argv, broker_config *cfg, char *err, size_t errlen);

typedef struct broker_metrics {
    uint64_t jobs_submitted, jobs_assigned, jobs_queued, jobs_redeployed;
    uint64_t results_accepted, results_rejected, results_retried, results_forbidden;
    uint64_t units_lost, units_returned, assign_refused, assign_errors;
    histogram latency;
} broker_metrics;

/* A message for the notifier thread: a revocation for an executor
 * (DELETE {url}/v1/assignments/{job}), or the release of a borrowed unit at
 * its home broker (POST {url}/v1/units/{unit}/release). */
typedef struct revocation {
    char url[BROKER_URL_MAX];
    char job_id[COORD_ID_MAX + 1];
    char unit_id[COORD_ID_MAX + 1]; /* set: a release at the home broker */
    char reason[24];
    uint32_t attempt;
    struct revocation *next;
} revocation;

/* A copy of another district's unit or job, as its owner last showed it. */
typedef struct remote_entry {
    char owner[COORD_ID_MAX + 1];
    json_t *obj;
    uint64_t fetched_wall_ms;
    uint64_t gen; /* the owner's full-sync generation that last confirmed it */
} remote_entry;

typedef struct peer {
    char id[COORD_ID_MAX + 1];
    char url[BROKER_URL_MAX];
    char epoch[40]; /* the peer's incarnation we are in sync with */
    uint64_t since; /* its metadata version we have seen */
    uint64_t gen;   /* our generation of its full syncs */
    bool full;      /* a full sync is in progress */
    uint64_t last_success_wall_ms, last_attempt_wall_ms;
    uint64_t last_success_mono_ms;
    unsigned failures;
    uint64_t backoff_ms; /* current wait after a failure */
    uint64_t next_due_mono_ms;
    bool pull_requested;       /* it signalled a change */
    uint64_t notified_version; /* our version we last signalled to it */
    uint64_t pending_since_mono_ms, last_notify_mono_ms, last_pull_mono_ms;
    uint64_t pulls, pulled_units, pulled_jobs;
    bool thread_started;
    pthread_t thr;
} peer;

/* Units offering one capability (the capability index). */
typedef struct unit_list {
    unit **v;
    size_t n, cap;
} unit_list;

typedef struct broker {
    broker_config cfg;
    char self_url[BROKER_URL_MAX];
    pthread_mutex_t mu;
    db *db;
    vclock clock;
    hmap *units;     /* id -> unit* */
    hmap *jobs;      /* id -> job* */
    hmap *cap_index; /* capability -> unit_list*: who can do what */
    jobqueue *queue;
    failure_detector *fd;
    uint64_t next_seq;            /* job arrival counter */
    uint64_t event_seq;           /* last event written */
    bool txn_failed;              /* a write inside the open transaction failed */
    uint64_t retry_drain_mono_ms; /* an executor refused: try the queue again then */
    uint64_t boot_mono_ms;
    broker_metrics m;

    /* background threads */
    pthread_mutex_t wmu;
    pthread_cond_t wcond;
    bool stopping;
    bool drain_requested;
    revocation *revocations;
    pthread_t monitor_thr, dispatch_thr, notify_thr, registrar_thr;
    api_server *server;

    /* The city (sync.c). Guarded by mu. */
    change_node changes; /* sentinel of the change list */
    uint64_t meta_version;
    char epoch[40];     /* this incarnation, so peers know to resync */
    hmap *remote_units; /* id -> remote_entry* */
    hmap *remote_jobs;  /* id -> remote_entry* */
    hmap *borrowed;     /* job id -> job*: active attempts on other districts' units */
    peer peers[BROKER_MAX_PEERS];
    size_t npeers;
    severity emergency;
    uint64_t emergency_set_ms;
    bool registered; /* with the coordinator */
} broker;

/* Lifecycle (broker.c). */
int broker_init(broker *b, const broker_config *cfg, char *err, size_t errlen);
int broker_start(broker *b, uint16_t *port); /* server + threads */
void broker_stop(broker *b);
void broker_release(broker *b);

/* Model helpers (model.c). Caller holds b->mu. */
job *broker_job(broker *b, const char *id);
unit *broker_unit(broker *b, const char *id);
unit_status unit_current_status(const unit *u);
attempt *job_current_attempt(job *j);
void job_free(job *j);
/* Unit's held attempts (load). hold fails with COORD_E_RANGE at capacity. */
int unit_hold(unit *u, const char *job_id, uint32_t attempt_no, bool pending);
void unit_release(unit *u, const char *job_id);
/* attempt_no 0: the first hold of the job, whatever its attempt. */
void unit_release_attempt(unit *u, const char *job_id, uint32_t attempt_no);
void unit_confirm(unit *u, const char *job_id);
/* Remembers a revocation for the unit's next heartbeat reply (oldest dropped
 * past UNIT_MAX_NOTICES: the executor's job list in the heartbeat catches
 * those). */
void unit_add_notice(unit *u, const char *job_id, uint32_t attempt_no, const char *reason);
/* The capability index: add a unit under each of its capabilities, or take
 * it out (before its capabilities change). Caller holds mu. */
int broker_index_unit(broker *b, unit *u);
void broker_unindex_unit(broker *b, const unit *u);
void broker_free_index(broker *b);
void unit_free(unit *u);
int job_add_attempt(job *j, const attempt *a);
/* Ticks the broker clock and records an event in the open transaction. */
void broker_event(broker *b, const char *type, const char *job_id, const char *unit_id,
                  uint32_t attempt, const char *fmt, ...) __attribute__((format(printf, 6, 7)));
/* Persistence of one object inside the open transaction. */
int broker_save_job(broker *b, job *j);
int broker_save_unit(broker *b, unit *u);
/* BEGIN / COMMIT around a change; commit also saves the clock. */
int broker_txn_begin(broker *b);
int broker_txn_commit(broker *b);
void broker_txn_rollback(broker *b);
/* Commits, or stops the process when storage fails: memory is then ahead of
 * disk, and crash-only recovery from the last commit is the safe way out.
 * Nothing is lost: the change was never acknowledged. */
void broker_commit_or_die(broker *b);
/* Sleeps on the worker condition for up to ms: the whole time when
 * until_timeout, else until the first wake-up (a change, a signal). Returns
 * true when the broker is stopping. */
bool broker_wait(broker *b, uint64_t ms, bool until_timeout);

/* JSON views (views.c). Caller holds b->mu. New references. */
json_t *unit_to_json(const broker *b, const unit *u);
json_t *job_to_json(const broker *b, const job *j);
json_t *result_to_json(const result *r);
json_t *broker_clock_json(const broker *b);
/* Sorts an array of objects by their "id" member. */
void json_array_sort_by_id(json_t *arr);

/* Assignment (assign.c). */
typedef enum dispatch_outcome {
    DISPATCH_ASSIGNED,
    DISPATCH_QUEUED,
    DISPATCH_SKIPPED
} dispatch_outcome;
/* Tries to give job id a unit; called without b->mu held. owned: the
 * caller set job->dispatching itself (a fresh submission), so the drain and
 * other dispatches leave the job to it; the flag is cleared on return. */
dispatch_outcome broker_dispatch(broker *b, const char *job_id, bool owned);
void broker_request_drain(broker *b);
void broker_queue_revocation(broker *b, const char *url, const char *job_id, uint32_t attempt);
/* Revokes every active attempt of a unit that was lost (caller holds mu,
 * inside a transaction). Returns how many jobs went back to the queue. */
size_t broker_revoke_unit_jobs(broker *b, unit *u, const char *reason);
void *broker_monitor_main(void *arg);
void *broker_dispatch_main(void *arg);
void *broker_notify_main(void *arg);

/* The city (sync.c, claims.c). */
void broker_touch_unit(broker *b, unit *u);
void broker_touch_job(broker *b, job *j);
int broker_add_peer(broker *b, const char *id, const char *url); /* caller holds mu */
peer *broker_peer(broker *b, const char *id);
void broker_sync_start(broker *b);
bool broker_emergency_active(const broker *b);
/* Best free unit of another district for the job (caller holds mu); fills
 * the unit id, its owner and the owner's URL. */
bool broker_pick_remote_unit(broker *b, const job *j, char (*tried)[COORD_ID_MAX + 1],
                             size_t ntried, char *unit_id, char *owner, char *owner_url);
void broker_queue_release(broker *b, const char *home_url, const char *unit_id, const char *job_id,
                          uint32_t attempt, const char *reason);
json_t *remote_view(broker *b, const remote_entry *e);
void broker_free_remote(broker *b);
/* Loads the synced copies kept on disk (at start, before any pull). */
int broker_load_remote(broker *b);
/* Receive event: merges the broker and coordinator entries of a clock that
 * arrived in a message (caller holds mu). */
void broker_merge_clock_json(broker *b, const json_t *vc);
void *broker_peer_main(void *arg);
void *broker_registrar_main(void *arg);

/* Route table (routes.c). */
extern const api_route broker_routes[];
extern const size_t broker_nroutes;

/* The {id} of a route's path, checked: NULL (and a 400 invalid_id reply)
 * when it is not an id. what names it in the message ("unit", "job"). */
const char *path_id(api_request *req, api_response *res, const char *what);
/* ?scope=local|city of the listings (default city); false (and a 400
 * reply) for anything else. */
bool list_scope(api_request *req, api_response *res, bool *city);
/* The synced copies in m whose status (and capability, when given) match,
 * as views sorted by id (caller holds mu). New reference. */
json_t *remote_list(broker *b, hmap *m, const char *status, const char *cap);

/* Handlers, one file per resource. */
void h_health(api_request *req, api_response *res);
void h_metrics(api_request *req, api_response *res);
void h_units_post(api_request *req, api_response *res);
void h_units_list(api_request *req, api_response *res);
void h_unit_get(api_request *req, api_response *res);
void h_unit_heartbeat(api_request *req, api_response *res);
void h_jobs_post(api_request *req, api_response *res);
void h_jobs_list(api_request *req, api_response *res);
void h_job_get(api_request *req, api_response *res);
void h_job_results_post(api_request *req, api_response *res);
void h_job_cancel(api_request *req, api_response *res);
void h_events_get(api_request *req, api_response *res);
void h_metadata_get(api_request *req, api_response *res);
void h_peers_get(api_request *req, api_response *res);
void h_notify_post(api_request *req, api_response *res);
void h_unit_claim(api_request *req, api_response *res);
void h_unit_release(api_request *req, api_response *res);
void h_emergency_post(api_request *req, api_response *res);
void h_emergency_get(api_request *req, api_response *res);

#endif
