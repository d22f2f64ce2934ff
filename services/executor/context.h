/* ergrid-executor's shared state: the one struct every part of the
 * terminal works on (header only; each module's header declares its own
 * functions). One per response unit: it registers with its home broker,
 * heartbeats, accepts or refuses assignments, forwards the crew's reports
 * to the job's owner broker and remembers its assignments across restarts
 * (docs/PROTOCOL.md is the wire contract).
 *
 * Threads: libmicrohttpd's workers run the handlers; one broker-link thread
 * registers and heartbeats; in --mode simulate one worker reports outcomes.
 * All assignment state sits behind executor.mu, which is never held during
 * HTTP or disk I/O. */
#ifndef EXECUTOR_CONTEXT_H
#define EXECUTOR_CONTEXT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api.h"
#include "config.h"
#include "leader_client.h"
#include "record.h"

#define EXEC_MAX_JOB_BYTES (256 * 1024) /* an assignment's job object, as compact JSON */

/* Prometheus counters; guarded by executor.metrics_mu. */
typedef struct exec_metrics {
    uint64_t reports_accepted, reports_rejected, reports_error;
    uint64_t heartbeat_failures, register_failures;
    histogram latency[16]; /* per route index; last slot: unmatched */
} exec_metrics;

/* The test-only fault hooks (faults.h); guarded by executor.faults_mu. */
typedef struct exec_fault_hooks {
    bool enabled; /* --fault-hooks; fixed at start */
    uint32_t drop_heartbeat_replies;
    uint32_t stall_assignments;
    uint64_t stall_ms;
    uint32_t refuse_revocations;
} exec_fault_hooks;

typedef struct executor {
    exec_config cfg;
    char unit_url[EXEC_URL_MAX + 1]; /* what the broker is told; set once under mu */
    /* The home district's brokers (--broker): registration, heartbeats,
     * status steps and reports for its own jobs go to whichever leads
     * (leader_client.h; its own lock). */
    leader_set home;
    /* The route table served, for metric labels; set before the server starts. */
    const api_route *routes;
    size_t nroutes;

    pthread_mutex_t mu;       /* guards everything below up to 'stopping' */
    pthread_cond_t link_cond; /* CLOCK_MONOTONIC, like every condvar here */
    pthread_cond_t sim_cond;
    assignment **v; /* n entries in arrival order, capacity EXEC_MAX_ASSIGNMENTS */
    size_t n;
    uint64_t next_seq;
    uint64_t report_counter; /* this unit's own vclock entry; persisted */
    /* The element-wise max of every clock received from a broker (with an
     * assignment, or in a heartbeat reply): sent with each heartbeat, so
     * the home broker can tell that a list was written after the terminal
     * had taken an assignment (docs/PROTOCOL.md). Persisted with the next
     * write; a smaller one after a restart only delays that judgement. */
    vclock seen;
    uint64_t gen;            /* bumped on every change that must be persisted */
    /* The unit's last fix (POST /v1/position), on this terminal's wall
     * clock; memory only: after a restart the feed's next fix brings it. */
    bool has_fix;
    geo_point fix;
    uint64_t fix_ms;
    bool registered;
    bool stopping;

    pthread_mutex_t save_mu; /* serializes writers; taken before mu */
    uint64_t saved_gen;      /* guarded by save_mu */

    pthread_mutex_t metrics_mu;
    exec_metrics metrics;

    pthread_mutex_t faults_mu;
    exec_fault_hooks faults;
    api_server *server; /* for its connection metrics; set once under mu after it starts */

    pthread_t link_thread, sim_thread;
    bool link_started, sim_started;

    struct exec_steps *steps; /* the crew's status steps and their outbox (steps.h); own lock */
} executor;

/* Result codes of the core operations. */
typedef enum exec_rc {
    EXEC_OK = 0,      /* held already (idempotent) / done */
    EXEC_CREATED = 1, /* a new assignment (or a newer attempt replacing one) */
    EXEC_E_NOTFOUND = -1,
    EXEC_E_CAPACITY = -2, /* holds capacity active assignments */
    EXEC_E_STALE = -3,    /* holds a newer attempt of the job */
    EXEC_E_STORAGE = -4,  /* could not persist */
    EXEC_E_GATEWAY = -5,  /* owner broker unreachable / unusable reply */
    EXEC_E_NOMEM = -6,
    EXEC_E_INVAL = -7,
} exec_rc;

#endif
