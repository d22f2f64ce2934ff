/* ha: the broker on etcd (issue 14 §6) beside the broker on SQLite, in the
 * same run, with the same workload and the same client threads:
 *   decisions   arbitrate's race (race.c: per job A, a conflicting B and an
 *               exact retry A' from different threads) at a fresh broker
 *               with every job assigned (arb_env);
 *   submission  submit's trial (submit_trial: from the first POST /v1/jobs
 *               until every job is held by exactly one unit, checked
 *               through the API).
 * The stores: SQLite (the default, with --durability when given) and
 * SQLite with --durability full, a 3-member etcd cluster (what standbys run
 * on) and a 1-member one (what a single member costs), both started here by
 * tests/etcd/start.sh on free loopback ports. A broker on etcd is measured
 * only once its GET /v1/health says "role": "leader".
 *
 * Each trial gets a fresh broker of its own district id, so on etcd it
 * finds an empty key prefix (and no earlier broker's leader key) without
 * a new cluster. As in peers, no heartbeats reach the broker while it is
 * measured (--failure-timeout 1h): every store does only the compared work.
 * For each round, each thread count (8 and 32, or --threads) and each
 * workload, every store runs once in the same order; medians over the
 * rounds (--rounds, default 1) and their etcd/SQLite ratios are printed,
 * with SUMMARY lines for the table of scripts/bench.sh. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "peers/etcd_peer.h"

#define HA_MAX_ROUNDS 15
#define HA_MAX_TC     2

/* SQLite runs with --durability as given (default normal); SQLite full
 * beside it (unless that is what was given) shows how much of etcd's cost
 * is its fsync per commit, which SQLite's default leaves out. The ratios
 * are to the first column. */
enum ha_store { HA_SQLITE, HA_SQLITE_FULL, HA_ETCD3, HA_ETCD1, HA_NSTORE };

static const char *const store_tag[HA_NSTORE] = {"sqlite", "sqlitefull", "etcd3", "etcd1"};
static const unsigned store_members[HA_NSTORE] = {0, 0, 3, 1};
static const char *const ratio_name[HA_NSTORE] = {NULL, NULL, "etcd 3 / SQLite", "etcd 1 / SQLite"};

enum ha_fig { F_DECIDED, F_DEC_P99, F_HELD, F_SUB_P99, HA_NFIG };

static const char *const fig_name[HA_NFIG] = {
    "decisions/s (201+409)",
    "decision p99",
    "submissions held/s",
    "submission reply p99",
};

static bool fig_is_ms(int f)
{
    return f == F_DEC_P99 || f == F_SUB_P99;
}

struct ha {
    long jobs, units;
    unsigned rounds, ntc, tcount[HA_MAX_TC];
    bool have[HA_NSTORE];
    char name[HA_NSTORE][40];
    etcd_peer *etcd[HA_NSTORE]; /* the etcd stores' clusters */
    /* per store, thread count, round and figure; < 0: the trial failed */
    double v[HA_NSTORE][HA_MAX_TC][HA_MAX_ROUNDS][HA_NFIG];
};

/* What one trial's broker is called and started with: its service name,
 * its own district (so etcd holds no earlier trial's keys for it) and the
 * store flags. */
struct trial_setup {
    char name[64], district[64];
    const char *argv[5];
    const char *const *args;
};

static void trial_setup(struct trial_setup *t, const struct ha *H, enum ha_store s,
                        const char *what, unsigned T, unsigned r)
{
    snprintf(t->name, sizeof(t->name), "ha-%s-%s-%u-%u", store_tag[s], what, T, r + 1);
    snprintf(t->district, sizeof(t->district), "HA-%s-%s-%u-%u", store_tag[s], what, T, r + 1);
    if (s == HA_SQLITE) {
        t->args = opt_durability_args();
        return;
    }
    if (s == HA_SQLITE_FULL) {
        t->argv[0] = "--durability";
        t->argv[1] = "full";
        t->argv[2] = NULL;
        t->args = t->argv;
        return;
    }
    t->argv[0] = "--store";
    t->argv[1] = "etcd";
    t->argv[2] = "--etcd";
    t->argv[3] = etcd_peer_urls(H->etcd[s]);
    t->argv[4] = NULL;
    t->args = t->argv;
}

static void decide_trial(struct ha *H, enum ha_store s, unsigned ti, unsigned r)
{
    unsigned T = H->tcount[ti];
    double *v = H->v[s][ti][r];
    struct trial_setup ts;
    trial_setup(&ts, H, s, "arb", T, r);
    int before = bench_failures();
    arb_env e;
    race_stats rs = {0};
    double bcpu = -1, ecpu = -1;
    long long txns = -1; /* etcd txns that wrote while measured: how well commits batch */
    int rc = arb_env_start(&e, ts.name, ts.district, H->jobs, ts.args, false);
    if (rc == 0) {
        race_target t = arb_target(&e);
        /* Where the time goes: on two shared cores the broker and etcd's
         * members compete with the client for the same CPUs. */
        double b0 = proc_cpu_s(e.broker.pid), e0 = H->etcd[s] ? etcd_peer_cpu_s(H->etcd[s]) : -1;
        long long rev0 = H->etcd[s] ? etcd_peer_revision(H->etcd[s]) : -1;
        rc = race_run(&t, T, H->jobs, &rs);
        double b1 = proc_cpu_s(e.broker.pid), e1 = H->etcd[s] ? etcd_peer_cpu_s(H->etcd[s]) : -1;
        long long rev1 = H->etcd[s] ? etcd_peer_revision(H->etcd[s]) : -1;
        if (rev0 >= 0 && rev1 >= 0)
            txns = rev1 - rev0;
        if (b0 >= 0 && b1 >= 0 && rs.el_s > 0)
            bcpu = 100 * (b1 - b0) / rs.el_s;
        if (e0 >= 0 && e1 >= 0 && rs.el_s > 0)
            ecpu = 100 * (e1 - e0) / rs.el_s;
        if (rc == 0)
            rc = arb_check_accepted(&e);
    }
    arb_env_stop(&e);
    if (rc != 0 || bench_failures() != before || rs.el_s <= 0) {
        v[F_DECIDED] = v[F_DEC_P99] = -1;
        printf("  %-16s decisions  %2u clients: FAILED (see stderr)\n", H->name[s], T);
    } else {
        v[F_DECIDED] = (double)(rs.won + rs.lost) / rs.el_s;
        v[F_DEC_P99] = rs.p99_us / 1e3;
        printf("  %-16s decisions  %2u clients: %ld in %.2f s, %.0f decisions/s (201+409), "
               "%.0f replies/s, p50 %.2f ms, p99 %.2f ms (%ld won, %ld lost, %ld retries); CPU "
               "broker %.0f%%",
               H->name[s], T, rs.n, rs.el_s, v[F_DECIDED], rs.rate, rs.p50_us / 1e3, v[F_DEC_P99],
               rs.won, rs.lost, rs.retry, bcpu);
        if (ecpu >= 0)
            printf(", etcd members %.0f%%", ecpu);
        printf(" (2 cores = 200%%)");
        if (txns > 0)
            printf("; %lld etcd txns, %.1f decisions per txn", txns,
                   (double)(rs.won + rs.lost) / (double)txns);
        printf("\n");
    }
    fflush(stdout);
}

static void submit_one_trial(struct ha *H, enum ha_store s, unsigned ti, unsigned r)
{
    unsigned T = H->tcount[ti];
    double *v = H->v[s][ti][r];
    struct trial_setup ts;
    trial_setup(&ts, H, s, "sub", T, r);
    submit_cfg c = {.name = ts.name,
                    .district = ts.district,
                    .jobs = H->jobs,
                    .units = H->units,
                    .threads = T,
                    .heartbeats = false,
                    .extra_args = ts.args};
    submit_stats st;
    int before = bench_failures();
    if (submit_trial(&c, &st) != 0 || bench_failures() != before) {
        v[F_HELD] = v[F_SUB_P99] = -1;
        printf("  %-16s submission %2u clients: FAILED (see stderr)\n", H->name[s], T);
    } else {
        v[F_HELD] = st.rate;
        v[F_SUB_P99] = st.p99_us / 1e3;
        printf("  %-16s submission %2u clients: %ld jobs held after %.2f s, %.0f held/s, "
               "reply p50 %.2f ms, p99 %.2f ms, %ld assigned in the reply; CPU broker %.0f%% "
               "(2 cores = 200%%)\n",
               H->name[s], T, H->jobs, st.held_s, st.rate, st.p50_us / 1e3, v[F_SUB_P99],
               st.in_reply, 100 * st.broker_cpu_s / st.held_s);
    }
    fflush(stdout);
}

/* Median of figure f over the rounds that ran cleanly; -1 when none did. */
static double median(const struct ha *H, enum ha_store s, unsigned ti, int f)
{
    double v[HA_MAX_ROUNDS];
    unsigned n = 0;
    for (unsigned r = 0; r < H->rounds; r++)
        if (H->v[s][ti][r][f] >= 0)
            v[n++] = H->v[s][ti][r][f];
    return median_of(v, n);
}

static void fmt_fig(char *buf, size_t n, int f, double x)
{
    if (x < 0)
        snprintf(buf, n, "n/a");
    else
        snprintf(buf, n, fig_is_ms(f) ? "%.2f ms" : "%.0f/s", x);
}

/* etcd's figure over SQLite's, e.g. "0.08x"; "n/a" when either failed. */
static void fmt_ratio(char *buf, size_t n, double etcd, double sqlite)
{
    if (etcd < 0 || sqlite <= 0)
        snprintf(buf, n, "n/a");
    else
        snprintf(buf, n, etcd / sqlite < 0.1 ? "%.3fx" : "%.2fx", etcd / sqlite);
}

/* One figure at one client count: each store's median and, for etcd, its
 * ratio to the first column. */
struct ha_row {
    char cell[HA_NSTORE][32], ratio[HA_NSTORE][32];
};

static void ha_row(const struct ha *H, int f, unsigned ti, struct ha_row *w)
{
    double base = median(H, HA_SQLITE, ti, f);
    memset(w, 0, sizeof(*w));
    for (int s = 0; s < HA_NSTORE; s++) {
        double x = median(H, (enum ha_store)s, ti, f);
        fmt_fig(w->cell[s], sizeof(w->cell[s]), f, x);
        fmt_ratio(w->ratio[s], sizeof(w->ratio[s]), x, base);
    }
}

static void print_results(const struct ha *H)
{
    printf("\nmedians over %u round(s); ratio = etcd / %s (for p99 above 1 is slower):\n"
           "| figure | clients |",
           H->rounds, H->name[HA_SQLITE]);
    int cols = 2;
    for (int s = 0; s < HA_NSTORE; s++) {
        if (!H->have[s])
            continue;
        printf(" %s |", H->name[s]);
        cols++;
        if (ratio_name[s]) {
            printf(" %s |", ratio_name[s]);
            cols++;
        }
    }
    printf("\n|");
    for (int c = 0; c < cols; c++)
        printf(" --- |");
    printf("\n");
    for (int f = 0; f < HA_NFIG; f++)
        for (unsigned ti = 0; ti < H->ntc; ti++) {
            struct ha_row w;
            ha_row(H, f, ti, &w);
            printf("| %s | %u |", fig_name[f], H->tcount[ti]);
            for (int s = 0; s < HA_NSTORE; s++) {
                if (!H->have[s])
                    continue;
                printf(" %s |", w.cell[s]);
                if (ratio_name[s])
                    printf(" %s |", w.ratio[s]);
            }
            printf("\n");
        }
    printf("\n");
    fflush(stdout);
    for (int f = 0; f < HA_NFIG; f++)
        for (unsigned ti = 0; ti < H->ntc; ti++) {
            struct ha_row w;
            ha_row(H, f, ti, &w);
            char name[96], fig[400] = "";
            size_t n = 0;
            for (int s = 0; s < HA_NSTORE && n < sizeof(fig); s++) {
                if (!H->have[s])
                    continue;
                n += (size_t)snprintf(fig + n, sizeof(fig) - n, "%s%s %s", n ? "; " : "",
                                      H->name[s], w.cell[s]);
                if (ratio_name[s] && n < sizeof(fig))
                    n += (size_t)snprintf(fig + n, sizeof(fig) - n, " (%s)", w.ratio[s]);
            }
            snprintf(name, sizeof(name), "ha: %s, %u clients", fig_name[f], H->tcount[ti]);
            summary(name, fig, "(printed beside SQLite, issue 14)", "info");
        }
}

int bench_ha(void)
{
    const char *broker = bin_path("broker");
    if (!bin_help_mentions(broker, "--store")) {
        bench_fail("%s has no --store flag: this build has no etcd store (issue 14)", broker);
        return -1;
    }
    struct ha *H = calloc(1, sizeof(*H));
    if (!H)
        return -1;
    int rc = -1;
    H->jobs = opt_jobs(2000, 300);
    H->units = opt_units(100, 20);
    H->rounds = g_opts.rounds ? g_opts.rounds : 1;
    if (H->rounds > HA_MAX_ROUNDS)
        H->rounds = HA_MAX_ROUNDS;
    H->ntc = opt_thread_counts(H->tcount);
    snprintf(H->name[HA_SQLITE], sizeof(H->name[0]), "SQLite (%s)",
             g_opts.durability ? g_opts.durability : "normal");
    snprintf(H->name[HA_SQLITE_FULL], sizeof(H->name[0]), "SQLite (full)");
    H->have[HA_SQLITE] = true;
    H->have[HA_SQLITE_FULL] = !g_opts.durability || strcmp(g_opts.durability, "full") != 0;
    for (int s = HA_ETCD3; s < HA_NSTORE; s++) {
        snprintf(H->name[s], sizeof(H->name[0]), "etcd, %u member%s", store_members[s],
                 store_members[s] > 1 ? "s" : "");
        H->have[s] = true;
        H->etcd[s] = etcd_peer_start(store_members[s]);
        if (!H->etcd[s])
            goto out;
        printf("%s\n", etcd_peer_describe(H->etcd[s]));
    }
    printf("SQLite: the broker's default store, durability %s%s\n", opt_durability_name(),
           H->have[HA_SQLITE_FULL] ? ", and beside it durability full (an fsync per commit, as "
                                     "etcd's members do)"
                                   : "");
    printf("decisions: %ld jobs x 3 racing results per trial; submission: %ld jobs onto >= %ld "
           "units (capacity 64) per trial; %u round(s), each store once per thread count and "
           "workload, in this order, each on a fresh broker and district\n",
           H->jobs, H->jobs, H->units, H->rounds);
    fflush(stdout);
    for (unsigned r = 0; r < H->rounds; r++) {
        char what[64];
        snprintf(what, sizeof(what), "\nround %u of %u, machine before it", r + 1, H->rounds);
        print_machine_load(what);
        for (unsigned ti = 0; ti < H->ntc; ti++) {
            for (int s = 0; s < HA_NSTORE; s++)
                if (H->have[s])
                    decide_trial(H, (enum ha_store)s, ti, r);
            for (int s = 0; s < HA_NSTORE; s++)
                if (H->have[s])
                    submit_one_trial(H, (enum ha_store)s, ti, r);
        }
    }
    print_machine_load("machine after the last trial");
    print_results(H);
    rc = bench_failures() ? -1 : 0;
out:
    for (int s = 0; s < HA_NSTORE; s++)
        etcd_peer_stop(H->etcd[s]);
    free(H);
    return rc;
}
