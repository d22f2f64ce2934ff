/* ergrid-executor: one per response unit (the unit's terminal). It registers
 * with its home broker, heartbeats, accepts or refuses assignments, forwards
 * the crew's reports to the job's owner broker and remembers its assignments
 * across restarts (docs/PROTOCOL.md is the wire contract).
 *
 * Threads: libmicrohttpd's workers run the handlers; one broker-link thread
 * registers and heartbeats; in --mode simulate one worker reports outcomes.
 * All assignment state sits behind executor.mu, which is never held during
 * HTTP or disk I/O. */
#ifndef EXECUTOR_H
#define EXECUTOR_H

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include "api.h"
#include "coord.h"

#define EXEC_URL_MAX         512
#define EXEC_MAX_CAPS        32
#define EXEC_MAX_CAPACITY    64 /* the broker's BROKER_MAX_CAPACITY */
#define EXEC_MAX_ASSIGNMENTS 1024
#define EXEC_MAX_JOB_BYTES   (256 * 1024) /* serialized job object / report data */
#define EXEC_PATH_MAX        4096
#define EXEC_STORE_FILE      "assignments.json"

/* ---- configuration (config.c) ---- */

typedef enum exec_mode { EXEC_MODE_MANUAL = 0, EXEC_MODE_SIMULATE } exec_mode;

typedef struct exec_config {
    char id[COORD_ID_MAX + 1];
    char kind[COORD_ID_MAX + 1];
    char caps[EXEC_MAX_CAPS][COORD_ID_MAX + 1];
    size_t ncaps;
    char broker[EXEC_URL_MAX + 1]; /* without a trailing '/' */
    char listen_host[64];
    uint16_t listen_port;
    char data_dir[EXEC_PATH_MAX];
    uint64_t heartbeat_ms;                /* default 1000 */
    exec_mode mode;                       /* default manual */
    uint64_t simulate_after_ms;           /* default 5000 */
    unsigned capacity;                    /* default 1 */
    char advertise_url[EXEC_URL_MAX + 1]; /* "" when not given */
} exec_config;

enum { EXEC_ARGS_OK = 0, EXEC_ARGS_HELP = 1, EXEC_ARGS_ERROR = 2 };

/* Parses the command line (argv[0] is skipped) into cfg. Returns
 * EXEC_ARGS_OK, EXEC_ARGS_HELP (--help given) or EXEC_ARGS_ERROR with a
 * one-line reason in err. The exit codes of main follow: 0 for help, 2 for
 * an error. */
int exec_parse_args(int argc, char *const argv[], exec_config *cfg, char *err, size_t errlen);
void exec_usage(FILE *out);

/* True for an absolute http:// URL of at most EXEC_URL_MAX printable,
 * space-free characters. */
bool exec_url_valid(const char *s);

/* ---- assignments (executor.c) ---- */

typedef struct assignment {
    char job_id[COORD_ID_MAX + 1];
    int64_t attempt;
    char owner[COORD_ID_MAX + 1];
    char owner_url[EXEC_URL_MAX + 1];
    json_t *job; /* owned reference */
    asg_state state;
    vclock vc;                            /* the clock the broker sent with the assignment */
    uint64_t received_ms;                 /* wall clock */
    uint64_t seq;                         /* arrival order, for GET ordering and eviction */
    char revoke_reason[COORD_ID_MAX + 1]; /* "" unless revoked with a reason */
    json_t *report;                       /* owned; NULL until a decision was received */
    /* simulate mode only, not persisted: when to try (next) */
    uint64_t sim_due_ms; /* wall clock; 0 = received_ms + simulate_after */
    uint64_t sim_backoff_ms;
} assignment;

/* Prometheus counters; guarded by executor.metrics_mu. */
typedef struct exec_metrics {
    uint64_t reports_accepted, reports_rejected, reports_error;
    uint64_t heartbeat_failures, register_failures;
    histogram latency[16]; /* per route index; last slot: unmatched */
} exec_metrics;

typedef struct executor {
    exec_config cfg;
    char unit_url[EXEC_URL_MAX + 1]; /* what the broker is told; set once under mu */

    pthread_mutex_t mu; /* guards everything below up to 'stopping' */
    pthread_cond_t link_cond;
    pthread_cond_t sim_cond;
    assignment **v; /* n entries in arrival order, capacity EXEC_MAX_ASSIGNMENTS */
    size_t n;
    uint64_t next_seq;
    uint64_t report_counter; /* this unit's own vclock entry; persisted */
    uint64_t gen;            /* bumped on every change that must be persisted */
    bool registered;
    bool stopping;

    pthread_mutex_t save_mu; /* serializes writers; taken before mu */
    uint64_t saved_gen;      /* guarded by save_mu */

    pthread_mutex_t metrics_mu;
    exec_metrics metrics;

    pthread_t link_thread, sim_thread;
    bool link_started, sim_started;
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

/* exec_init copies cfg and prepares an empty state (no I/O, no threads).
 * exec_release frees it (threads must be stopped). */
int exec_init(executor *e, const exec_config *cfg);
void exec_release(executor *e);

/* New assignment input; job is borrowed (a reference is taken on success). */
typedef struct asg_input {
    json_t *job;
    char job_id[COORD_ID_MAX + 1];
    int64_t attempt;
    char owner[COORD_ID_MAX + 1];
    const char *owner_url;
    vclock vc;
    bool has_vc;
} asg_input;

/* The core operations. Each takes the lock itself and persists before it
 * returns success. *out (may be NULL) receives the assignment's JSON as
 * shown to clients (new reference) and *vc_out its clock.
 *   exec_assign: EXEC_CREATED, EXEC_OK (same job and attempt held),
 *                EXEC_E_CAPACITY, EXEC_E_STALE, EXEC_E_STORAGE, EXEC_E_NOMEM.
 *   exec_revoke: attempt 0 = whatever is held. EXEC_OK or EXEC_E_NOTFOUND,
 *                EXEC_E_STORAGE. A held newer attempt or a reported
 *                assignment is left as it is.
 *   exec_get:    EXEC_OK or EXEC_E_NOTFOUND. */
int exec_assign(executor *e, const asg_input *in, json_t **out, vclock *vc_out);
int exec_revoke(executor *e, const char *job_id, int64_t attempt, const char *reason, json_t **out,
                vclock *vc_out);
int exec_get(executor *e, const char *job_id, json_t **out);
json_t *exec_list_json(executor *e); /* {"assignments":[...]} */
size_t exec_count(executor *e, asg_state s);

/* Heartbeat body {"jobs":[{"job_id","attempt"}...]} for the active ones. */
json_t *exec_heartbeat_body(executor *e);
/* Applies a heartbeat reply's "revoked" array (borrowed; may be NULL).
 * Returns the number of assignments newly marked revoked, or
 * EXEC_E_STORAGE. */
int exec_apply_revoked(executor *e, const json_t *revoked);

/* Persists the current state when it changed since the last write. Takes
 * save_mu then mu; never call with mu held. 0 or EXEC_E_STORAGE. */
int exec_sync(executor *e);

/* Locked helpers (caller holds e->mu). */
assignment *exec_find_locked(executor *e, const char *job_id);
json_t *asg_to_json(const assignment *a, bool internal);
void asg_free(assignment *a);

/* ---- persistence (store.c) ---- */

/* Serializes the whole state (caller holds e->mu); new reference. */
json_t *store_snapshot_locked(const executor *e);
/* Writes text to DIR/assignments.json atomically and durably (tmp, fsync,
 * rename, fsync dir). 0 or -1 with errno set. */
int store_write(const char *dir, const char *text, size_t len);
/* Loads DIR/assignments.json into an empty executor (before threads start).
 * Returns 0 (also when the file does not exist) or -1 with a reason in err:
 * a corrupt file must stop the service rather than forget work. */
int store_load(executor *e, char *err, size_t errlen);

/* ---- reports (report.c) ---- */

/* Forwards a report for job_id to its owner broker (the one path shared by
 * the HTTP handler and simulate mode). On EXEC_OK *status and *body hold the
 * broker's reply (body: new reference, a JSON value). On 2xx or 409
 * result_rejected the assignment becomes reported. Other returns:
 * EXEC_E_NOTFOUND, EXEC_E_STORAGE, EXEC_E_GATEWAY (msg says why). */
int exec_report(executor *e, const char *job_id, const char *outcome, const json_t *data,
                long *status, json_t **body, char *msg, size_t msglen);

/* ---- HTTP (handlers_*.c) ---- */

extern const api_route exec_routes[];
extern const size_t exec_nroutes;
void exec_on_request(void *ctx, const char *method, const char *route_pattern, unsigned status,
                     double seconds);

/* ---- threads (broker_link.c, simulate.c) ---- */

int exec_link_start(executor *e);
int exec_sim_start(executor *e);
/* Sets stopping, wakes and joins the threads. Returns false when a thread
 * did not finish within a few seconds (stuck in a network call); the
 * caller must then not release the state. */
bool exec_threads_stop(executor *e);

/* Small shared helpers (executor.c). */
void exec_format_time(uint64_t wall_ms, char *buf, size_t len); /* ISO 8601 UTC */
/* Absolute CLOCK_MONOTONIC deadline ms from now, for the condvars. */
void exec_deadline(struct timespec *ts, uint64_t ms_from_now);

#endif
