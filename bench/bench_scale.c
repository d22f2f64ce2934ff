/* scale: 20 brokers and 10,000 heartbeating units on one machine, no false
 * failure (DESIGN.md §6).
 *
 * A coordinator and B broker processes (default 20, peered through the
 * coordinator as in production, default timeouts: 1 s heartbeat, 3 s failure
 * timeout). The units are simulated in-process: P per broker (default 500),
 * spread over H client threads (default 10), each thread owning whole
 * brokers and one kept-alive connection per broker. The units join over a
 * ramp of R seconds (default 10; --ramp 0: all in the first second, a cold
 * start of the whole city): each registers (POST /v1/units) and from then on
 * heartbeats (POST /v1/units/{id}/heartbeat with its empty job list) once a
 * second, at a fixed phase within the second. After the ramp and D seconds
 * of steady heartbeats (default 30), while they still run, every broker
 * is asked for GET /v1/units?status=lost and ergrid_units_lost_total: both
 * must be zero. The client measures every unit's largest gap between two
 * successful heartbeats, so a loss can be told apart from a client that
 * fell behind. The brokers' sync counters (pulls, signals sent, received
 * and coalesced) are printed summed. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

#define PERIOD_S 1.0

/* The last run's verdict: no unit lost (bench_coldstart counts them). */
static bool g_scale_clean;

struct sunit {
    int broker;
    char id[48];
    double last_ok;
    double max_gap;
    bool registered;
};

struct scale {
    unsigned nbrokers, nthreads;
    long per_broker;
    svc *brokers;
    struct sunit *units;
    double start;
    double ramp_s;
    atomic_bool stop;
    atomic_long heartbeats;
};

struct sthread {
    struct scale *s;
    unsigned index;
    double max_behind; /* worst lag behind the schedule (s) */
    long late;         /* sends more than 250 ms behind their slot */
};

static void *hb_thread(void *p)
{
    struct sthread *t = p;
    struct scale *s = t->s; /* per-thread figures live in t: no sharing */
    /* This thread's brokers and units (interleaved so brokers alternate). */
    unsigned nb = 0;
    int owned[64];
    for (unsigned b = t->index; b < s->nbrokers && nb < 64; b += s->nthreads)
        owned[nb++] = (int)b;
    long m = (long)nb * s->per_broker;
    struct sunit **mine = calloc((size_t)(m ? m : 1), sizeof(*mine));
    hc *conn = calloc(nb ? nb : 1, sizeof(*conn));
    if (!mine || !conn) {
        bench_fail("out of memory");
        free(mine);
        free(conn);
        return NULL;
    }
    long k = 0;
    for (long u = 0; u < s->per_broker; u++)
        for (unsigned b = 0; b < nb; b++)
            mine[k++] = &s->units[(long)owned[b] * s->per_broker + u];
    for (unsigned b = 0; b < nb; b++)
        hc_init(&conn[b]);

    char url[256], body[512];
    for (long round = 0; !atomic_load(&s->stop); round++) {
        for (long i = 0; i < m && !atomic_load(&s->stop); i++) {
            struct sunit *u = mine[i];
            /* Units join during the ramp: unit i registers in round join. */
            long join = (long)(s->ramp_s * (double)i / (double)m / PERIOD_S);
            if (round < join)
                continue;
            double due = s->start + (double)round * PERIOD_S + PERIOD_S * (double)i / (double)m;
            double now = now_s();
            if (now < due)
                sleep_s(due - now);
            else if (now - due > t->max_behind)
                t->max_behind = now - due;
            if (now - due > 0.25)
                t->late++;
            unsigned b = 0;
            while (owned[b] != u->broker)
                b++;
            const svc *br = &s->brokers[u->broker];
            long st;
            if (round == join) {
                snprintf(url, sizeof(url), "%s/v1/units", br->url);
                snprintf(body, sizeof(body),
                         "{\"id\":\"%s\",\"kind\":\"fire\",\"capabilities\":[\"firefighting\","
                         "\"rescue\"],\"url\":\"http://127.0.0.1:9/u/%s\",\"capacity\":1}",
                         u->id, u->id);
                st = hc_do(&conn[b], "POST", url, body);
                if (st != 201 && st != 200) {
                    bench_fail("register %s at %s: status %ld %s", u->id, br->name, st,
                               conn[b].err);
                    continue;
                }
                u->registered = true;
            } else {
                snprintf(url, sizeof(url), "%s/v1/units/%s/heartbeat", br->url, u->id);
                st = hc_do(&conn[b], "POST", url, "{\"jobs\":[]}");
                if (st != 200) {
                    bench_fail("heartbeat %s at %s: status %ld %s", u->id, br->name, st,
                               conn[b].err);
                    continue;
                }
                atomic_fetch_add(&s->heartbeats, 1);
            }
            double done = now_s();
            if (u->last_ok > 0 && done - u->last_ok > u->max_gap)
                u->max_gap = done - u->last_ok;
            u->last_ok = done;
        }
    }
    for (unsigned b = 0; b < nb; b++)
        hc_cleanup(&conn[b]);
    free(conn);
    free(mine);
    return NULL;
}

int bench_scale(void)
{
    struct scale s = {0};
    s.nbrokers = g_opts.brokers ? g_opts.brokers : g_opts.quick ? 5 : 20;
    s.per_broker = opt_units(500, 200);
    s.nthreads = opt_threads(10);
    if (s.nthreads > s.nbrokers)
        s.nthreads = s.nbrokers;
    double D = opt_duration(30, 10);
    s.ramp_s = g_opts.ramp_s >= 0 ? g_opts.ramp_s : g_opts.quick ? 3 : 10;
    long total = (long)s.nbrokers * s.per_broker;
    int rc = -1;
    svc coord = {0};
    s.brokers = calloc(s.nbrokers, sizeof(*s.brokers));
    s.units = calloc((size_t)total, sizeof(*s.units));
    pthread_t *thr = calloc(s.nthreads, sizeof(*thr));
    struct sthread *ts = calloc(s.nthreads, sizeof(*ts));
    unsigned started = 0;
    hc h;
    hc_init(&h);
    if (!s.brokers || !s.units || !thr || !ts) {
        bench_fail("out of memory");
        goto out;
    }
    bool peers = !g_opts.no_peers;
    if (peers && svc_start(&coord, "scale-coordinator", "coordinator", NULL) < 0)
        goto out;
    for (unsigned b = 0; b < s.nbrokers; b++) {
        char id[16], name[64];
        snprintf(id, sizeof(id), "D%02u", b + 1);
        snprintf(name, sizeof(name), "scale-broker-%s", id);
        const char *args[] = {"--id", id, peers ? "--coordinator" : NULL, coord.url, NULL};
        if (svc_start(&s.brokers[b], name, "broker", args) < 0)
            goto out;
    }
    for (long i = 0; i < total; i++) {
        s.units[i].broker = (int)(i / s.per_broker);
        snprintf(s.units[i].id, sizeof(s.units[i].id), "D%02d-u%04ld", s.units[i].broker + 1,
                 i % s.per_broker);
    }
    printf("coordinator %s, %u brokers, %ld units each (%ld total), %u client threads; units join "
           "over %.0f s, then %.0f s of heartbeats every %.0f s (failure timeout 3 s)\n",
           peers ? coord.url : "none (--no-peers)", s.nbrokers, s.per_broker, total, s.nthreads,
           s.ramp_s, D, PERIOD_S);
    fflush(stdout);
    /* Let the brokers find each other through the coordinator first. */
    double pe = now_s() + 10;
    while (peers && now_s() < pe) {
        json_t *r = NULL;
        char url[256];
        snprintf(url, sizeof(url), "%s/v1/peers", s.brokers[0].url);
        hc_json(&h, "GET", url, NULL, &r);
        size_t np = json_array_size(json_object_get(r, "peers"));
        json_decref(r);
        if (np + 1 >= s.nbrokers)
            break;
        sleep_s(0.2);
    }

    double cpu0 = 0, ccpu0 = proc_cpu_s(getpid());
    for (unsigned b = 0; b < s.nbrokers; b++)
        cpu0 += proc_cpu_s(s.brokers[b].pid);
    s.start = now_s() + 0.1;
    atomic_init(&s.stop, false);
    for (unsigned t = 0; t < s.nthreads; t++) {
        ts[t].s = &s;
        ts[t].index = t;
        if (pthread_create(&thr[t], NULL, hb_thread, &ts[t]) != 0)
            break;
        started++;
    }
    /* The ramp (and the last joiners' first second), then D seconds of
     * steady heartbeats: the rate is measured over those. */
    double hb_from = s.start + s.ramp_s + PERIOD_S;
    sleep_s(hb_from - now_s());
    long hb_base = atomic_load(&s.heartbeats);
    double lost_ramp = 0;
    for (unsigned b = 0; b < s.nbrokers; b++) {
        double lt = hc_metric(&h, s.brokers[b].url, "ergrid_units_lost_total");
        lost_ramp += lt > 0 ? lt : 0;
    }
    sleep_s(hb_from + D - now_s());
    long hb_count = atomic_load(&s.heartbeats) - hb_base;
    double hb_elapsed = now_s() - hb_from;

    /* The verdict while everyone still heartbeats. */
    long lost_now = 0;
    double lost_total = 0;
    /* What the sync did meanwhile (brokers before these counters show none). */
    static const char *const sync_names[] = {"ergrid_sync_pulls_total", "ergrid_sync_notifies_total",
                                             "ergrid_sync_signals_total",
                                             "ergrid_sync_signals_coalesced_total"};
    double sync[4] = {0};
    for (unsigned b = 0; b < s.nbrokers; b++) {
        char url[256];
        json_t *r = NULL;
        snprintf(url, sizeof(url), "%s/v1/units?status=lost&scope=local", s.brokers[b].url);
        long st = hc_json(&h, "GET", url, NULL, &r);
        if (st != 200)
            bench_fail("%s: GET /v1/units?status=lost: status %ld", s.brokers[b].name, st);
        lost_now += (long)json_array_size(json_object_get(r, "units"));
        json_decref(r);
        double lt = hc_metric(&h, s.brokers[b].url, "ergrid_units_lost_total");
        if (lt < 0)
            bench_fail("%s: no ergrid_units_lost_total in /metrics", s.brokers[b].name);
        else
            lost_total += lt;
        for (size_t k = 0; peers && k < 4; k++) {
            double v = hc_metric(&h, s.brokers[b].url, sync_names[k]);
            sync[k] += v > 0 ? v : 0;
        }
    }
    atomic_store(&s.stop, true);
    for (unsigned t = 0; t < started; t++)
        pthread_join(thr[t], NULL);
    started = 0;
    /* Every acknowledged registration is listed (counted once the clients stopped). */
    long known = 0;
    for (unsigned b = 0; b < s.nbrokers; b++) {
        char url[256];
        json_t *r = NULL;
        snprintf(url, sizeof(url), "%s/v1/units?scope=local", s.brokers[b].url);
        hc_json(&h, "GET", url, NULL, &r);
        known += (long)json_array_size(json_object_get(r, "units"));
        json_decref(r);
    }
    double cpu1 = 0;
    for (unsigned b = 0; b < s.nbrokers; b++)
        cpu1 += proc_cpu_s(s.brokers[b].pid);
    double cpu_window = now_s() - s.start;
    double ccpu = proc_cpu_s(getpid()) - ccpu0;

    double max_gap = 0;
    const char *worst = "-";
    long over2 = 0, over3 = 0, unregistered = 0;
    for (long i = 0; i < total; i++) {
        if (!s.units[i].registered)
            unregistered++;
        if (s.units[i].max_gap > max_gap) {
            max_gap = s.units[i].max_gap;
            worst = s.units[i].id;
        }
        over2 += s.units[i].max_gap > 2.0;
        over3 += s.units[i].max_gap > 3.0;
    }
    double behind = 0;
    long late = 0;
    for (unsigned t = 0; t < s.nthreads; t++) {
        if (ts[t].max_behind > behind)
            behind = ts[t].max_behind;
        late += ts[t].late;
    }
    if (known != total - unregistered)
        bench_fail("the brokers list %ld units, %ld were registered", known, total - unregistered);
    if (unregistered)
        printf("%ld units never even registered: the client fell that far behind its schedule\n",
               unregistered);

    long rss_sum = 0, rss_max = 0, rss_min = -1;
    for (unsigned b = 0; b < s.nbrokers; b++) {
        long rss, hwm;
        proc_mem_kb(s.brokers[b].pid, &rss, &hwm);
        rss_sum += rss;
        if (rss > rss_max)
            rss_max = rss;
        if (rss_min < 0 || rss < rss_min)
            rss_min = rss;
    }
    long crss = 0, chwm;
    if (peers)
        proc_mem_kb(coord.pid, &crss, &chwm);
    double rate = (double)hb_count / hb_elapsed;
    printf("heartbeats: %ld in %.1f s = %.0f/s (ideal %ld/s)\n", hb_count, hb_elapsed, rate, total);
    printf("largest gap between two heartbeats of one unit: %.3f s (%s); units with a gap > 2 s: "
           "%ld, > 3 s: %ld\n",
           max_gap, worst, over2, over3);
    printf("client schedule: worst lag %.3f s, %ld sends > 250 ms late\n", behind, late);
    printf("lost units at the brokers: %ld now, ergrid_units_lost_total %.0f (%.0f of them during "
           "the ramp)\n",
           lost_now, lost_total, lost_ramp);
    if (peers)
        printf("sync over all brokers: %.0f pulls, %.0f signals sent, %.0f received (%.0f of them "
               "coalesced into a pull already pending)\n",
               sync[0], sync[1], sync[2], sync[3]);
    printf("broker VmRSS: min %.1f MiB, max %.1f MiB, sum %.1f MiB over %u brokers; coordinator "
           "%.1f MiB\n",
           (double)rss_min / 1024, (double)rss_max / 1024, (double)rss_sum / 1024, s.nbrokers,
           (double)crss / 1024);
    printf("CPU: all brokers %.1f s over %.1f s (%.0f%% of one core), this client %.0f%% (2 cores "
           "= 200%%)\n",
           cpu1 - cpu0, cpu_window, 100 * (cpu1 - cpu0) / cpu_window, 100 * ccpu / cpu_window);
    bool ok = lost_now == 0 && lost_total == 0;
    g_scale_clean = ok;
    char fig[240];
    snprintf(fig, sizeof(fig),
             "%u brokers x %ld units (join over %.0f s%s): %.0f heartbeats/s, max gap %.2f s, %.0f "
             "lost; broker RSS max %.1f MiB",
             s.nbrokers, s.per_broker, s.ramp_s, peers ? "" : ", no peers", rate, max_gap,
             lost_total, (double)rss_max / 1024);
    summary("scale", fig, "no false failure", ok ? "met" : "MISSED");
    if (!ok)
        printf("%s\n", over3 ? "units were lost after heartbeat gaps > 3 s: the heartbeats could "
                               "not get through in time (see the client lag and broker CPU)"
                             : "units were lost although every gap was <= 3 s: FALSE FAILURE");
    rc = bench_failures() ? -1 : 0;
out:
    atomic_store(&s.stop, true);
    for (unsigned t = 0; t < started; t++)
        pthread_join(thr[t], NULL);
    hc_cleanup(&h);
    if (s.brokers)
        for (unsigned b = 0; b < s.nbrokers; b++)
            svc_release(&s.brokers[b]);
    svc_release(&coord);
    free(s.brokers);
    free(s.units);
    free(thr);
    free(ts);
    return rc;
}

/* The cold start, repeated: all 10,000 units join in the first second, 5
 * runs (1 with --quick) on fresh brokers; the target is 0 false losses in
 * every run. */
int bench_coldstart(void)
{
    int runs = g_opts.quick ? 1 : 5, clean = 0, rc = 0;
    double ramp = g_opts.ramp_s;

    g_opts.ramp_s = 0;
    for (int i = 0; i < runs; i++) {
        printf("--- cold start, run %d of %d ---\n", i + 1, runs);
        print_machine_load("machine before the run");
        g_scale_clean = false;
        if (bench_scale() != 0)
            rc = -1;
        clean += g_scale_clean;
        svc_stop_all();
    }
    g_opts.ramp_s = ramp;
    char fig[120];
    snprintf(fig, sizeof(fig), "%d of %d cold-start runs with 0 units lost", clean, runs);
    summary("coldstart", fig, "0 false losses in 5 of 5 runs", clean == runs ? "met" : "MISSED");
    return rc;
}
