/* ergrid-bench: measures the DESIGN.md §6 targets against the real service
 * binaries on 127.0.0.1 and prints the figures. It never asserts on timing:
 * the exit status is non-zero only for functional errors (a service that
 * does not start, a reply with an unexpected status, a broken invariant).
 *
 * Shared helpers: options, service processes, a light libcurl client, an
 * in-process executor stub, latency statistics and the summary lines that
 * scripts/bench.sh turns into a table. */
#ifndef ERGRID_BENCH_H
#define ERGRID_BENCH_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* ---- options (main.c) ---- */

typedef struct bench_opts {
    char build[1024];      /* meson build dir holding services/<name>/ergrid-<name> */
    unsigned threads;      /* client threads; 0: the benchmark's default */
    long jobs;             /* 0: default */
    long units;            /* 0: default */
    double duration_s;     /* 0: default */
    unsigned brokers;      /* 0: default */
    unsigned rounds;       /* 0: default */
    bool quick;            /* smaller sizes, for a smoke run */
    bool keep;             /* keep the temporary data dirs */
    bool no_peers;         /* scale: brokers without coordinator and peers */
    double ramp_s;         /* scale: units join over this many seconds; <0: default */
    unsigned etcd_members; /* peers: 1 (default) or 3 */
    bool auth;             /* services check a tokens file */
    bool tls;              /* services speak TLS only */
    /* arbitrate, submit: the broker's --durability ("normal" or "full");
     * NULL: the flag is not passed (the broker's default). */
    const char *durability;
    /* submit: besides the one-line figure, the same run with incidents of
     * this many requirement lines (one unit each); 0: one-line only. */
    unsigned lines;
} bench_opts;

extern bench_opts g_opts;

/* Value or default. */
unsigned opt_threads(unsigned def);
/* The client counts a comparison runs at (peers, ha): --threads N alone,
 * else 8 and 32. Returns how many it wrote to out. */
unsigned opt_thread_counts(unsigned out[2]);
/* {"--durability", MODE, NULL} for the broker of arbitrate and submit, or
 * NULL when --durability was not given; and the mode's name for output. */
const char *const *opt_durability_args(void);
const char *opt_durability_name(void);
long opt_jobs(long def, long quick_def);
long opt_units(long def, long quick_def);
double opt_duration(double def, double quick_def);

/* Functional error: printed with the benchmark's name and counted. */
void bench_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int bench_failures(void);
void bench_failures_reset(void); /* main: before each benchmark */

/* One line of the final table: scripts/bench.sh collects the lines that
 * start with "SUMMARY|". verdict is "met", "MISSED" or "info". */
void summary(const char *bench, const char *figure, const char *target, const char *verdict);

/* Prints the load average, the CPU count and how busy the machine was over
 * the last 0.5 s (others' work, on a shared machine), prefixed by what. */
void print_machine_load(const char *what);

/* --auth, --tls: makes the tokens file, the bench's token and a private CA with a
 * certificate for 127.0.0.1 (openssl), which svc_start and hc_init then
 * use. Call from main before any thread. 0 or -1 (reported). */
int bench_auth_prepare(void);

/* ---- service processes (common.c) ---- */

typedef struct svc {
    pid_t pid;
    uint16_t port;
    char name[64];
    char url[64];  /* http://127.0.0.1:PORT (https:// with --tls) */
    char dir[512]; /* its --data-dir */
    char log[512]; /* its stderr */
    char bin[1200];
    char *argv[48]; /* kept for a restart */
    int argc;
} svc;

/* Path of services/<kind>/ergrid-<kind> under the build dir. */
const char *bin_path(const char *kind);
/* The benchmark run's temporary root (/tmp/ergrid-bench-XXXXXX). */
const char *tmp_root(void);

/* Starts BIN ARGS... --listen 127.0.0.1:0 --data-dir <tmp>/<name>, stderr to
 * <tmp>/<name>.log, and reads the first stdout line "listening on ...".
 * args is NULL-terminated. 0 or -1 (reported). */
int svc_start(svc *s, const char *name, const char *kind, const char *const *args);
/* The same for any program path; with_data_dir false leaves --data-dir out. */
int svc_start_bin(svc *s, const char *name, const char *bin, const char *const *args,
                  bool with_data_dir);
/* Whether `BIN --help` (stdout and stderr) mentions word, e.g. a flag. */
bool bin_help_mentions(const char *bin, const char *word);
/* Starts it again with the same arguments and data dir (new port). */
int svc_restart(svc *s);
/* SIGTERM, wait (then SIGKILL after 10 s). Accepts a stopped svc. */
void svc_stop(svc *s);
/* kill -9 and reap. */
void svc_kill9(svc *s);
void svc_release(svc *s); /* frees the saved argv */
/* VmRSS and VmHWM in KiB; -1 when unknown. */
void proc_mem_kb(pid_t pid, long *rss_kb, long *hwm_kb);
/* CPU time (user + system) the process used so far, in seconds; -1 unknown. */
double proc_cpu_s(pid_t pid);
/* Stops every service still running (atexit and on SIGINT). */
void svc_stop_all(void);
/* SIGTERM to every service still running; async-signal-safe. */
void svc_kill_all_now(void);

/* ---- HTTP client: one libcurl easy handle, kept-alive ---- */

typedef struct hc {
    void *curl;
    void *headers;
    char *buf; /* reply body, NUL-terminated */
    size_t len, cap;
    char err[256];
} hc;

int hc_init(hc *h);
void hc_cleanup(hc *h);
/* method "GET", "POST" or "DELETE"; body (JSON text) may be NULL. Returns
 * the HTTP status, 0 on transport failure (h->err says why). */
long hc_do(hc *h, const char *method, const char *url, const char *body);
/* Same with a jansson body (not stolen) and the parsed reply in *reply
 * (new reference, NULL when not JSON; reply may be NULL). */
long hc_json(hc *h, const char *method, const char *url, const json_t *body, json_t **reply);
/* Value of a Prometheus sample "name value" (exact name, no labels) from
 * GET base/metrics; -1 when missing. */
double hc_metric(hc *h, const char *base, const char *name);

/* ---- work split over threads ---- */

/* Called for item i with this thread's client; returns 0, or -1 after
 * calling bench_fail. */
typedef int (*item_fn)(hc *h, long i, void *arg);

typedef struct lat {
    double *v; /* microseconds */
    size_t n, cap;
} lat;

void lat_add(lat *l, double us);
void lat_free(lat *l);
/* Sorts, then fills the percentiles (microseconds). */
void lat_stats(lat *l, double *p50, double *p99, double *max);
/* Sorts v[0..n) and returns its median (the mean of the middle two for an
 * even n); -1 when n is 0. */
double median_of(double *v, size_t n);

/* Runs fn for i in [0, n) on nthreads threads (items taken in order from a
 * shared counter). Latency of each call goes to *out (may be NULL).
 * Returns the wall time in seconds. Stops early after 20 failures. */
double run_items(unsigned nthreads, long n, item_fn fn, void *arg, lat *out);

/* ---- time ---- */

double now_s(void); /* CLOCK_MONOTONIC */
void sleep_s(double s);

/* ---- broker helpers ---- */

/* Waits until the broker at s serves writes: at once for a broker on SQLite
 * (GET /v1/health without "store": "etcd"), and on etcd until its health
 * says "role": "leader" (the election takes a moment after the start).
 * Returns the seconds it waited, or -1 after bench_fail. */
double broker_wait_leader(const svc *s, double timeout_s);

/* Registers units <prefix>-<k> for k in [from, to) at broker base, with the
 * capabilities (a JSON array text), capacity and url base (the unit's url
 * is <url_base>/<id>). */
int register_units(const char *base, const char *prefix, long from, long to, const char *caps,
                   int capacity, const char *url_base, unsigned nthreads, double *elapsed_s);

/* Heartbeats units <prefix>-<k>, k in [0, n), once a second each, spread
 * evenly over the second (units played by the stub would otherwise be
 * declared lost after the failure timeout). One thread per
 * HB_UNITS_PER_THREAD units, each with its own connection, so a broker that
 * answers slowly under load delays a few heartbeats, not the whole round. */
#define HB_UNITS_PER_THREAD 32
typedef struct heartbeater heartbeater;
typedef struct hb_stats {
    long sent;        /* answered 200 */
    long failed;      /* any other answer */
    double max_gap_s; /* longest time a unit went without a 200 */
    double max_lag_s; /* latest a heartbeat left after its due time */
} hb_stats;
heartbeater *heartbeats_start(const char *base, const char *prefix, long n);
/* Stops and frees hb (NULL is fine); *out (may be NULL) gets the figures. */
void heartbeats_stop(heartbeater *hb, hb_stats *out);

/* Polls ergrid_jobs_assigned_total at base until it reaches target or the
 * timeout passes; returns the last value. When it stops moving for 250 ms
 * while jobs wait, posts nudge_body to POST /v1/units (a re-registration,
 * which makes the broker drain its queue again) and counts it in *nudges:
 * a broker that needs a nudge left jobs queued with units free. *stalled_s
 * (may be NULL) receives the time spent waiting before the nudges. */
double wait_assigned(const char *base, double target, double timeout_s, const char *nudge_body,
                     long *nudges, double *stalled_s);

/* ---- in-process executor stub (stub.c) ---- */

/* An HTTP server on 127.0.0.1 that plays every registered unit: units get
 * url http://127.0.0.1:PORT/u/<id>; POST /u/{id}/v1/assignments answers 201
 * (and remembers the assignment's vclock when asked), DELETE answers 200. */
typedef struct stub stub;
stub *stub_start(bool keep_clocks, unsigned threads);
const char *stub_url(const stub *s); /* http://127.0.0.1:PORT/u */
/* The compact vclock text of job_id's last assignment (malloc'd), or NULL. */
char *stub_take_clock(stub *s, const char *job_id);
uint64_t stub_assignments(const stub *s);
uint64_t stub_revocations(const stub *s);
void stub_stop(stub *s);

/* ---- racing submissions (race.c) ---- */

/* The FCFS workload every system gets: for each of n jobs three submissions,
 * A (the winner's content), a conflicting B and an exact retry A' of A,
 * taken in order (3j, 3j+1, 3j+2) from one counter by T threads, so
 * different threads race on the same job. */
enum race_outcome {
    RACE_ERROR = -1, /* bench_fail was called */
    RACE_WON = 1,    /* this submission became the record */
    RACE_LOST,       /* another one did (conflict, or a peer that cannot tell) */
    RACE_RETRY,      /* recognised as an exact retry of the record */
    RACE_ANSWERED,   /* a target that decides nothing (the HTTP ceiling) */
};

typedef struct race_target {
    const char *name;
    void *arg;
    bool decides;     /* false: no winner is checked (the ceiling) */
    unsigned per_job; /* submissions per job: 0 or 3 the race, 1 a plain load */
    /* A connection for one client thread, opened before the clock starts
     * (NULL from open: the thread fails). NULL open: an hc (HTTP). */
    void *(*open)(void *arg);
    void (*close)(void *conn);
    /* Submission k (0 A, 1 B, 2 A') for job j: an enum race_outcome. */
    int (*submit)(void *conn, void *arg, long j, int k);
} race_target;

typedef struct race_stats {
    long n;                /* submissions answered */
    long won, lost, retry; /* by outcome */
    double el_s;           /* wall time of the measured part */
    double rate;           /* n / el_s */
    double p50_us, p99_us, max_us;
} race_stats;

/* Runs the per_job * njobs submissions on nthreads threads; checks that
 * every job has exactly one RACE_WON when the target decides. 0, or -1
 * after bench_fail. */
int race_run(const race_target *t, unsigned nthreads, long njobs, race_stats *out);

/* ---- one broker with jobs ready for results (bench_arbitrate.c) ---- */

typedef struct arb_env {
    svc broker;
    stub *st;
    heartbeater *hb; /* NULL when the broker runs with a long failure timeout */
    long njobs;
    char (*unit)[72]; /* holder of job j */
    int *attempt;
    char **body;      /* 3 per job: A, B, A' */
    double accepted0; /* ergrid_results_accepted_total before the results */
} arb_env;

/* Starts a broker named name for district (NULL: Downtown) with extra_args
 * (NULL-terminated, may be NULL), waits until it leads (broker_wait_leader),
 * then stub units, njobs jobs assigned, and the result bodies. With
 * heartbeats false the broker gets --failure-timeout 1h instead. 0 or -1. */
int arb_env_start(arb_env *e, const char *name, const char *district, long njobs,
                  const char *const *extra_args, bool heartbeats);
/* The target posting e's bodies to POST /v1/jobs/{id}/results. */
race_target arb_target(arb_env *e);
/* After race_run: the broker's count of accepted results must be njobs. */
int arb_check_accepted(arb_env *e);
void arb_env_stop(arb_env *e);

/* ---- submission with assignment, counted truly (bench_submit.c) ---- */

typedef struct submit_cfg {
    const char *name;     /* the broker's service name */
    const char *district; /* its --id; NULL: Downtown */
    long jobs, units;
    unsigned threads;
    bool heartbeats; /* false: --failure-timeout 1h and no heartbeats */
    const char *const *extra_args;
    unsigned lines; /* requirement lines of one unit per job; 0 or 1: required_capabilities */
} submit_cfg;

typedef struct submit_stats {
    double held_s; /* from the first submission until every job is held */
    double rate;   /* jobs / held_s (units held/s: rate times the lines) */
    double reply_el_s;
    long in_reply; /* assigned in the submission's reply */
    double p50_us, p99_us, max_us;
    double broker_cpu_s, client_cpu_s;
    long rss_kb;
    hb_stats hb;
    long nudges;
} submit_stats;

/* One broker, fresh; 0, or -1 after bench_fail (including when a unit was
 * lost or a job is not held by exactly one unit at the end). */
int submit_trial(const submit_cfg *c, submit_stats *out);

/* ---- the benchmarks ---- */

int bench_arbitrate(void);
int bench_submit(void);
int bench_failover(void);
int bench_scale(void);
int bench_coldstart(void);
int bench_memory(void);
int bench_sync(void);
int bench_peers(void);
int bench_ha(void);

#endif
