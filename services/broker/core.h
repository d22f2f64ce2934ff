/* The broker as a whole: the composite of its parts, header only. It
 * includes the headers of the data parts it is made of (configuration,
 * state, store, synced copies, peer table, outbox, wake-ups) and never
 * those of the modules that use it (txn, dispatch, peers, handlers, ...).
 *
 * Concurrency: one domain mutex (mu) guards the state, the store, the
 * clock, the synced copies, the peer table, the emergency level and the
 * counters. Nothing makes an HTTP call while holding it: a dispatch
 * reserves under it, calls unlocked and settles under it again; a
 * submission's dispatch and a claim's call run on the outgoing pool
 * (outpool.h), never on the HTTP worker that took the request. Log lines of a transaction are queued after it
 * is released (txn.c) for the log's writer thread (service.h), and the
 * latency histogram is the HTTP server's, one shard per worker
 * (api_server_latency). Lock order: mu before any wake's or the outbox's
 * mutex; the outgoing pool's is only taken without mu. */
#ifndef BROKER_CORE_H
#define BROKER_CORE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "batch.h"
#include "etcd.h"
#include "http_server.h"
#include "outbox.h"
#include "outpool.h"
#include "peertab.h"
#include "remote.h"
#include "service.h"
#include "sse.h"
#include "state.h"
#include "steps.h"
#include "store.h"
#include "wake.h"

typedef struct broker broker;

typedef struct broker_metrics {
    uint64_t jobs_submitted, jobs_assigned, jobs_queued, jobs_redeployed;
    uint64_t results_accepted, results_rejected, results_retried, results_forbidden;
    uint64_t units_lost, units_returned, assign_refused, assign_errors, assign_abandoned;
    uint64_t clock_entries_refused; /* received own entries and clamped jumps (clock.c) */
    uint64_t drain_passes, drain_passes_woken; /* the drain thread's rounds, and those a signal began */

    uint64_t steps_recorded, steps_refused;
    step_hist turnout, travel; /* dispatched -> en_route, en_route -> on_scene (steps.h) */
    /* Sync (peers.c, handlers_sync.c): pulls made, signals sent to peers,
     * signals received and those a pull already pending absorbed. */
    uint64_t sync_pulls, sync_notifies, sync_signals, sync_coalesced;
} broker_metrics;

/* The standby role (ha.h, role.h), with --store etcd. Two locks: ha.mu guards
 * what the election's callback and the request gate share with the role
 * thread (it is taken under b->mu, never the other way round); the
 * fields marked "mu" are the domain mutex's, read by the transaction
 * runner. */
typedef struct broker_ha {
    bool on; /* --store etcd */
    etcd_election *e;
    pthread_t thr;
    bool thr_started, mu_ok, wake_ok;
    pthread_mutex_t mu;
    wake wake; /* the role thread: a change of role, a step-down, stopping */
    /* Bumped by every call of the election's callback: a write may go on
     * only while it is the generation the district was rebuilt for. */
    _Atomic uint64_t gen;
    /* under ha.mu */
    bool step_down, stale;       /* stale: the copy could not be reloaded */
    bool failed;                 /* a commit failed since the last rebuild as leader */
    etcd_role elected;           /* as the callback last said */
    etcd_fence fence;            /* with it, while elected leader */
    etcd_role acting;            /* what this broker serves as now */
    char leader[128];            /* the leader's URL as last seen; "" none */
    int64_t term;                /* its key's create_revision */
    int64_t revision;            /* etcd revision of the copy served */
    uint64_t fresh_mono_ms;      /* when the copy was last checked fresh */
    uint64_t takeovers;          /* times this process became leader */
    /* under b->mu */
    bool leading;       /* rebuilt as leader: writes may go to the store */
    uint64_t ready_gen; /* the gen the rebuild was for */
} broker_ha;

struct broker {
    broker_config cfg;
    char self_url[BROKER_URL_MAX];
    char epoch[40]; /* this incarnation, so peers know to resync */
    uint64_t boot_mono_ms;

    pthread_mutex_t mu; /* the domain mutex */
    state st;
    struct store store;
    store_health health; /* failing storage, probes (txn.c) */
    batches grp;         /* group commit: the store's open batch (txn.c) */
    vclock clock;
    uint64_t event_seq; /* last event written */
    remote rem;
    peertab peers;
    severity emergency;           /* the city's level (emergency.h) */
    uint64_t emergency_set_ms;    /* when the coordinator declared it (its clock) */
    uint64_t emergency_heard_ms;  /* when the coordinator last told us the level (ours) */
    bool registered;              /* with the coordinator */
    uint64_t last_change_mono_ms; /* when peers last had news (notify debounce) */
    broker_metrics m;

    outbox ob;
    outpool calls; /* executor calls off the HTTP workers (submissions, claims) */
    wake drain; /* dispatch: look at the queue */
    wake sched; /* peers: a change to signal, a pull requested, a new schedule */
    wake stop;  /* the monitor and the registrar: their timers, and stopping */
    bool calls_ok;
    bool mu_ok, grp_ok, ob_ok, drain_ok, sched_ok, stop_ok; /* what init set up */

    broker_ha ha;

    api_server *server;
    api_sse_hub *sse; /* GET /v1/events/stream; woken by txn_event */
    pthread_t monitor_thr, dispatch_thr, registrar_thr;
    bool monitor_started, dispatch_started, registrar_started;
};

#endif
