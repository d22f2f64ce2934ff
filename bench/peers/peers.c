/* peers: the FCFS decisions and the submissions of ergrid measured beside
 * the systems one would otherwise put under a dispatch service, in the
 * same run, with the same client threads (DESIGN.md §6, issue 11):
 *   decisions  ergrid (one broker, --durability normal and, where the
 *              broker has it, full), PostgreSQL 15, etcd 3.4, the bare
 *              libmicrohttpd ceiling, raw SQLite (information only): each
 *              gets the workload of race.c, N jobs x (A, conflicting B,
 *              exact retry A') racing from different threads;
 *   submission ergrid's submission with assignment (submit_trial: until
 *              every job is held by exactly one unit) beside an etcd
 *              txn that puts the job and its assignment.
 * For each thread count (8 and 32) and each of R rounds (default 3) every
 * system runs once, in the same order (A/B/A/B), each trial on fresh state
 * (a new broker, a new table, a new key prefix). The medians over the
 * rounds and their ratios are printed, with SUMMARY lines for the table of
 * scripts/bench.sh. No heartbeats reach the brokers while they are
 * measured (--failure-timeout 1h): every system does only the work that is
 * compared.
 *
 * Rate: submissions answered per second, the same count for every system.
 * Latency: of every submission of the trial.
 *
 * The systems: pg_peer.c (PostgreSQL 15 over libpq, one connection per
 * client thread), etcd_peer.c (etcd 3.4 over its JSON gateway with the
 * bench's libcurl client), sqlite_peer.c (raw SQLite WAL commits in this
 * process); peer_util.c runs their start/stop scripts. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "etcd_peer.h"
#include "peer_util.h"
#include "pg_peer.h"
#include "sqlite_peer.h"

#define MAX_ROUNDS  15
#define MAX_TCOUNTS 2

/* ---- the HTTP ceiling's client side ---- */

struct ceiling {
    const char *base;
    char **body; /* 3 per job, shaped like the broker's result bodies */
};

static int ceiling_submit(void *conn, void *arg, long j, int k)
{
    hc *h = conn;
    struct ceiling *c = arg;
    char url[160];
    snprintf(url, sizeof(url), "%s/v1/jobs/peer-%06ld/results", c->base, j);
    long st = hc_do(h, "POST", url, c->body[3 * j + k]);
    if (st != 201) {
        bench_fail("ceiling: status %ld %s %.200s", st, h->err, h->buf);
        return RACE_ERROR;
    }
    return RACE_ANSWERED;
}

static int ceiling_trial(const char *base, unsigned threads, long njobs, race_stats *out)
{
    struct ceiling c = {.base = base, .body = calloc((size_t)njobs * 3, sizeof(char *))};
    if (!c.body) {
        bench_fail("out of memory");
        return -1;
    }
    for (long i = 0; i < 3 * njobs; i++) {
        char b[256];
        long u = i / 3 / 64;
        snprintf(b, sizeof(b),
                 "{\"unit_id\":\"arbU-%05ld\",\"attempt\":1,\"outcome\":\"%s\",\"data\":{\"crew\":"
                 "\"bench\"},\"vclock\":{\"Downtown\":%ld,\"arbU-%05ld\":1}}",
                 u, i % 3 == 1 ? "extinguished" : "contained", 2 * (i / 3) + 3, u);
        c.body[i] = strdup(b);
    }
    race_target t = {.name = "ceiling", .arg = &c, .decides = false, .submit = ceiling_submit};
    int rc = race_run(&t, threads, njobs, out);
    for (long i = 0; i < 3 * njobs; i++)
        free(c.body[i]);
    free(c.body);
    return rc;
}

/* ---- the systems and their trials ---- */

enum sys {
    S_ERGRID_NORMAL,
    S_PG,
    S_ERGRID_FULL,
    S_ETCD,
    S_CEILING,
    S_SQLITE_NORMAL,
    S_SQLITE_FULL,
    S_SUBMIT_ERGRID,
    S_SUBMIT_ETCD,
    NSYS
};

static const char *const sys_name[NSYS] = {
    "ergrid, --durability normal",  "PostgreSQL 15",
    "ergrid, --durability full",    "etcd 3.4 txn",
    "libmicrohttpd ceiling",        "SQLite WAL, synchronous=NORMAL",
    "SQLite WAL, synchronous=FULL", "ergrid submission (held)",
    "etcd job+assignment txn",
};

struct cell {
    bool ok;
    double rate, p50_us, p99_us;
};

struct peers {
    long jobs, units;
    unsigned rounds;
    unsigned tcount[MAX_TCOUNTS];
    unsigned ntc;
    bool durability; /* the broker has --durability */
    bool have[NSYS];
    svc ceiling;
    pg_peer *pg;
    etcd_peer *etcd;
    const char *name[NSYS]; /* sys_name, the etcd rows with their member count */
    char etcd_name[2][64];
    struct cell res[NSYS][MAX_TCOUNTS][MAX_ROUNDS];
};

/* Each trial's broker gets its own name, and so its own data dir: a fresh
 * database, as every other system gets. */
static int ergrid_decide(struct peers *P, const char *mode, unsigned T, unsigned trial,
                         race_stats *rs, double *durable)
{
    const char *extra[] = {"--durability", mode, NULL};
    char name[64];
    snprintf(name, sizeof(name), "peers-broker-%s-%u", mode, trial);
    arb_env e;
    int rc = arb_env_start(&e, name, NULL, P->jobs, P->durability ? extra : NULL, false);
    if (rc == 0) {
        race_target t = arb_target(&e);
        rc = race_run(&t, T, P->jobs, rs);
        if (rc == 0)
            rc = arb_check_accepted(&e);
        *durable = rs->el_s > 0 ? (double)(rs->won + rs->lost) / rs->el_s : 0;
    }
    arb_env_stop(&e);
    return rc;
}

static int ergrid_submit(struct peers *P, unsigned T, unsigned trial, race_stats *rs)
{
    const char *extra[] = {"--durability", "normal", NULL};
    char name[64];
    snprintf(name, sizeof(name), "peers-submit-broker-%u", trial);
    submit_cfg c = {.name = name,
                    .jobs = P->jobs,
                    .units = P->units,
                    .threads = T,
                    .heartbeats = false,
                    .extra_args = P->durability ? extra : NULL};
    submit_stats st;
    int rc = submit_trial(&c, &st);
    memset(rs, 0, sizeof(*rs));
    if (rc == 0) {
        rs->n = P->jobs;
        rs->el_s = st.held_s;
        rs->rate = st.rate;
        rs->p50_us = st.p50_us;
        rs->p99_us = st.p99_us;
        rs->max_us = st.max_us;
    }
    return rc;
}

static void run_trial(struct peers *P, enum sys s, unsigned ti, unsigned round)
{
    unsigned T = P->tcount[ti];
    unsigned trial = round * MAX_TCOUNTS + ti + 1;
    race_stats rs = {0};
    double durable = -1;
    int before = bench_failures();
    int rc = -1;
    switch (s) {
    case S_ERGRID_NORMAL:
        rc = ergrid_decide(P, "normal", T, trial, &rs, &durable);
        break;
    case S_ERGRID_FULL:
        rc = ergrid_decide(P, "full", T, trial, &rs, &durable);
        break;
    case S_PG:
        rc = pg_trial(P->pg, T, P->jobs, trial, &rs);
        break;
    case S_ETCD:
        rc = etcd_decide_trial(P->etcd, T, P->jobs, trial, &rs);
        break;
    case S_CEILING:
        rc = ceiling_trial(P->ceiling.url, T, P->jobs, &rs);
        break;
    case S_SQLITE_NORMAL:
    case S_SQLITE_FULL:
        rc = sqlite_trial(s == S_SQLITE_FULL, T, P->jobs, trial, &rs);
        break;
    case S_SUBMIT_ERGRID:
        rc = ergrid_submit(P, T, trial, &rs);
        break;
    case S_SUBMIT_ETCD:
        rc = etcd_submit_trial(P->etcd, T, P->jobs, P->units, trial, &rs);
        break;
    case NSYS:
        break;
    }
    struct cell *c = &P->res[s][ti][round];
    c->ok = rc == 0 && bench_failures() == before;
    c->rate = rs.rate;
    c->p50_us = rs.p50_us;
    c->p99_us = rs.p99_us;
    if (!c->ok) {
        printf("  %-32s %2u clients: FAILED (see stderr)\n", P->name[s], T);
    } else {
        printf("  %-32s %2u clients: %6ld in %6.2f s = %7.0f/s  p50 %6.2f ms  p99 %6.2f ms",
               P->name[s], T, rs.n, rs.el_s, rs.rate, rs.p50_us / 1e3, rs.p99_us / 1e3);
        if (s <= S_SQLITE_FULL && s != S_CEILING)
            printf("  (%ld won, %ld lost, %ld retries)", rs.won, rs.lost, rs.retry);
        if (durable >= 0)
            printf("  [201+409: %.0f/s]", durable);
        printf("\n");
    }
    fflush(stdout);
}

/* Median over the rounds that ran cleanly of field (0 rate, 1 p50, 2 p99);
 * -1 when none did. */
static double median(const struct peers *P, enum sys s, unsigned ti, int field)
{
    double v[MAX_ROUNDS];
    unsigned n = 0;
    for (unsigned r = 0; r < P->rounds; r++) {
        const struct cell *c = &P->res[s][ti][r];
        if (c->ok)
            v[n++] = field == 0 ? c->rate : field == 1 ? c->p50_us : c->p99_us;
    }
    return median_of(v, n);
}

/* One row of the ratio table: a / b per thread count, or with b NSYS the
 * figure itself, compared with limit as a maximum when field is 2 (p99) and
 * as a minimum otherwise. */
struct row {
    char what[96], target[32], fig[400], verdict[8];
    char cells[MAX_TCOUNTS][96];
};

static void ratio_row(const struct peers *P, struct row *w, const char *what, enum sys a,
                      enum sys b, int field, double limit, const char *target)
{
    int met = 0, measured = 0;
    memset(w, 0, sizeof(*w));
    snprintf(w->what, sizeof(w->what), "%s", what);
    snprintf(w->target, sizeof(w->target), "%s", target);
    for (unsigned ti = 0; ti < P->ntc; ti++) {
        double x = median(P, a, ti, field);
        double y = b == NSYS ? 1 : median(P, b, ti, 0);
        char *cell = w->cells[ti];
        if (x < 0 || y <= 0) {
            snprintf(cell, sizeof(w->cells[ti]), "n/a");
        } else if (b == NSYS) {
            double v = field == 2 ? x / 1e3 : x;
            snprintf(cell, sizeof(w->cells[ti]), field == 2 ? "%.2f ms" : "%.0f/s", v);
            measured++;
            met += field == 2 ? v <= limit : v >= limit;
        } else {
            snprintf(cell, sizeof(w->cells[ti]), "%.2fx (%.0f/s vs %.0f/s)", x / y, x, y);
            measured++;
            met += x / y >= limit;
        }
        size_t fl = strlen(w->fig);
        snprintf(w->fig + fl, sizeof(w->fig) - fl, "%s%u clients: %s", ti ? "; " : "",
                 P->tcount[ti], cell);
    }
    snprintf(w->verdict, sizeof(w->verdict), "%s",
             !measured                                    ? "n/a"
             : met == measured && measured == (int)P->ntc ? "met"
                                                          : "MISSED");
}

/* A table's first two lines: first, a column per thread count, rest. */
static void table_head(const struct peers *P, const char *first, const char *col, const char *rest,
                       int nrest)
{
    printf("| %s |", first);
    for (unsigned ti = 0; ti < P->ntc; ti++)
        printf(" %u clients%s |", P->tcount[ti], col);
    printf("%s\n| --- |", rest);
    for (unsigned ti = 0; ti < P->ntc + (unsigned)nrest; ti++)
        printf(" --- |");
    printf("\n");
}

static void print_results(struct peers *P)
{
    printf("\nmedians over %u rounds (rate: submissions answered per second; latency of every "
           "submission):\n",
           P->rounds);
    table_head(P, "system", ": rate, p50, p99", "", 0);
    for (int s = 0; s < NSYS; s++) {
        printf("| %s |", P->name[s]);
        for (unsigned ti = 0; ti < P->ntc; ti++) {
            double r = median(P, s, ti, 0);
            if (!P->have[s] || r < 0)
                printf(" n/a |");
            else
                printf(" %.0f/s, %.2f ms, %.2f ms |", r, median(P, s, ti, 1) / 1e3,
                       median(P, s, ti, 2) / 1e3);
        }
        printf("\n");
    }
    fflush(stdout);

    printf("\nratios of the medians (DESIGN.md §6, issue 11):\n");
    table_head(P, "figure", "", " target | verdict |", 2);
    struct row rows[6];
    ratio_row(P, &rows[0], "decisions: ergrid normal / PostgreSQL", S_ERGRID_NORMAL, S_PG, 0, 2,
              ">= 2x");
    ratio_row(P, &rows[1], "decisions: ergrid normal / libmicrohttpd ceiling", S_ERGRID_NORMAL,
              S_CEILING, 0, 0.5, ">= 0.5x");
    ratio_row(P, &rows[2], "decisions: ergrid normal p99", S_ERGRID_NORMAL, NSYS, 2, 10,
              "<= 10 ms");
    ratio_row(P, &rows[3], "decisions: ergrid full / PostgreSQL", S_ERGRID_FULL, S_PG, 0, 1,
              ">= 1x");
    ratio_row(P, &rows[4], "submission: ergrid jobs held/s", S_SUBMIT_ERGRID, NSYS, 0, 3750,
              ">= 3,750/s");
    ratio_row(P, &rows[5], "submission: ergrid / etcd job+assignment txn", S_SUBMIT_ERGRID,
              S_SUBMIT_ETCD, 0, 1.5, ">= 1.5x");
    for (int i = 0; i < 6; i++) {
        printf("| %s |", rows[i].what);
        for (unsigned ti = 0; ti < P->ntc; ti++)
            printf(" %s |", rows[i].cells[ti]);
        printf(" %s | %s |\n", rows[i].target, rows[i].verdict);
    }
    printf("\n");
    for (int i = 0; i < 6; i++) {
        char name[160];
        snprintf(name, sizeof(name), "peers: %.95s", rows[i].what);
        summary(name, rows[i].fig, rows[i].target, rows[i].verdict);
    }
    /* The peers' own figures, for the record. */
    for (int s = 0; s < NSYS; s++) {
        if (s == S_ERGRID_NORMAL || s == S_ERGRID_FULL || s == S_SUBMIT_ERGRID)
            continue;
        char fig[300] = "";
        for (unsigned ti = 0; ti < P->ntc; ti++) {
            double r = median(P, s, ti, 0);
            size_t fl = strlen(fig);
            if (r < 0)
                snprintf(fig + fl, sizeof(fig) - fl, "%s%u clients: n/a", ti ? "; " : "",
                         P->tcount[ti]);
            else
                snprintf(fig + fl, sizeof(fig) - fl, "%s%u clients: %.0f/s, p99 %.2f ms",
                         ti ? "; " : "", P->tcount[ti], r, median(P, s, ti, 2) / 1e3);
        }
        char name[160];
        snprintf(name, sizeof(name), "peers: %s", P->name[s]);
        summary(name, fig, "-", "info");
    }
}

static void stop_peers(struct peers *P)
{
    pg_peer_stop(P->pg);
    P->pg = NULL;
    etcd_peer_stop(P->etcd);
    P->etcd = NULL;
    svc_stop(&P->ceiling);
    svc_release(&P->ceiling);
}

int bench_peers(void)
{
    struct peers *P = calloc(1, sizeof(*P));
    if (!P)
        return -1;
    P->jobs = opt_jobs(10000, 500);
    P->units = opt_units(500, 100);
    P->rounds = g_opts.rounds ? g_opts.rounds : 3;
    if (P->rounds > MAX_ROUNDS)
        P->rounds = MAX_ROUNDS;
    P->ntc = opt_thread_counts(P->tcount);
    unsigned members = g_opts.etcd_members ? g_opts.etcd_members : 1;
    for (int s = 0; s < NSYS; s++)
        P->name[s] = sys_name[s];
    if (members > 1) {
        snprintf(P->etcd_name[0], sizeof(P->etcd_name[0]), "%s, %u members", sys_name[S_ETCD],
                 members);
        snprintf(P->etcd_name[1], sizeof(P->etcd_name[1]), "%s, %u members",
                 sys_name[S_SUBMIT_ETCD], members);
        P->name[S_ETCD] = P->etcd_name[0];
        P->name[S_SUBMIT_ETCD] = P->etcd_name[1];
    }

    P->durability = bin_help_mentions(bin_path("broker"), "--durability");
    printf("ergrid-broker %s --durability%s\n", P->durability ? "has" : "has no",
           P->durability ? "" : ": the broker has one mode (today's, like normal); full is n/a");
    char ceil_bin[1200];
    snprintf(ceil_bin, sizeof(ceil_bin), "%s/bench/ergrid-ceiling", g_opts.build);
    /* As many HTTP worker threads as the broker's default (--threads 8). */
    const char *cargs[] = {"--threads", "8", NULL};
    bool ceiling_ok = svc_start_bin(&P->ceiling, "ceiling", ceil_bin, cargs, false) == 0;
    if (ceiling_ok)
        printf("libmicrohttpd ceiling: %s (bench/ceiling.c, 8 worker threads)\n", P->ceiling.url);
    P->pg = pg_peer_start();
    if (P->pg)
        printf("%s\n", pg_peer_describe(P->pg));
    P->etcd = etcd_peer_start(members);
    if (P->etcd)
        printf("%s\n", etcd_peer_describe(P->etcd));
    fflush(stdout);

    P->have[S_ERGRID_NORMAL] = P->have[S_SUBMIT_ERGRID] = true;
    P->have[S_ERGRID_FULL] = P->durability;
    P->have[S_PG] = P->pg != NULL;
    P->have[S_ETCD] = P->have[S_SUBMIT_ETCD] = P->etcd != NULL;
    P->have[S_CEILING] = ceiling_ok;
    P->have[S_SQLITE_NORMAL] = P->have[S_SQLITE_FULL] = true;

    printf("decisions: %ld jobs x 3 racing submissions (A, conflicting B, exact retry A') per "
           "trial; submission: %ld jobs onto %ld units (capacity 64) per trial\n",
           P->jobs, P->jobs, P->units);
    printf("%u rounds; in each, for each thread count, every system once, in this order, on "
           "fresh state\n",
           P->rounds);
    fflush(stdout);
    for (unsigned r = 0; r < P->rounds; r++) {
        char what[64];
        snprintf(what, sizeof(what), "\nround %u of %u, machine before it", r + 1, P->rounds);
        print_machine_load(what);
        for (unsigned ti = 0; ti < P->ntc; ti++)
            for (int s = 0; s < NSYS; s++)
                if (P->have[s])
                    run_trial(P, s, ti, r);
    }
    print_results(P);
    stop_peers(P);
    free(P);
    return 0;
}
