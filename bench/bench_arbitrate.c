/* arbitrate: FCFS result decisions at one broker (DESIGN.md §6: p99 <= 10
 * ms; the throughput targets are ratios to PostgreSQL and to a bare
 * libmicrohttpd server, which the peers benchmark measures).
 *
 * Setup: one broker, units (capacity 64) played by the in-process stub and
 * heartbeating once a second (as real terminals do), J jobs submitted and
 * assigned. Measured: T threads post results straight to
 * POST /v1/jobs/{id}/results, three per job, sent back to back so that
 * different threads race on the same job:
 *   A  = (unit, attempt, "contained")  with the assignment clock + a unit dot
 *   B  = (unit, attempt, "extinguished")  a conflicting report
 *   A' = A again                          an exact retry
 * Exactly one of them must get 201; the others 409 (conflict) or 200 (an
 * exact retry of the winner). 201 and 409 are durable decisions (the broker
 * commits the result or the rejection event before answering); 200 reads
 * only.
 *
 * The setup (arb_env) and the target are shared with the peers benchmark,
 * which runs the same submissions against PostgreSQL, etcd and the
 * HTTP ceiling. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

#define ARB_CAPACITY 64

static void job_id(char *buf, size_t n, long i)
{
    snprintf(buf, n, "arb-%06ld", i);
}

static int submit_one(hc *h, long i, void *p)
{
    arb_env *a = p;
    char id[32], url[256], body[512];
    job_id(id, sizeof(id), i);
    snprintf(url, sizeof(url), "%s/v1/jobs", a->broker.url);
    snprintf(body, sizeof(body),
             "{\"id\":\"%s\",\"type\":\"building_fire\",\"severity\":\"high\","
             "\"required_capabilities\":[\"firefighting\"],\"location\":{\"block\":%ld}}",
             id, i);
    long st = hc_do(h, "POST", url, body);
    if (st != 201) {
        bench_fail("submit %s: status %ld %s %.200s", id, st, h->err, h->buf);
        return -1;
    }
    json_t *r = json_loadb(h->buf, h->len, 0, NULL);
    json_t *job = json_object_get(r, "job");
    const char *status = json_string_value(json_object_get(job, "status"));
    if (status && strcmp(status, "assigned") == 0) {
        snprintf(a->unit[i], sizeof(a->unit[i]), "%s",
                 json_string_value(json_object_get(job, "unit_id")));
        a->attempt[i] = (int)json_integer_value(json_object_get(job, "attempt"));
    }
    json_decref(r);
    return 0;
}

/* A job that came back queued (a concurrent submission was ahead of it) is
 * assigned by the broker's dispatcher moments later: look it up. */
static int settle_one(hc *h, long i, void *p)
{
    arb_env *a = p;
    if (a->unit[i][0])
        return 0;
    char id[32], url[256];
    job_id(id, sizeof(id), i);
    snprintf(url, sizeof(url), "%s/v1/jobs/%s", a->broker.url, id);
    double end = now_s() + 30;
    while (now_s() < end) {
        json_t *r = NULL;
        long st = hc_json(h, "GET", url, NULL, &r);
        json_t *job = json_object_get(r, "job");
        const char *status = json_string_value(json_object_get(job, "status"));
        if (st == 200 && status && strcmp(status, "assigned") == 0) {
            snprintf(a->unit[i], sizeof(a->unit[i]), "%s",
                     json_string_value(json_object_get(job, "unit_id")));
            a->attempt[i] = (int)json_integer_value(json_object_get(job, "attempt"));
            json_decref(r);
            return 0;
        }
        json_decref(r);
        sleep_s(0.05);
    }
    bench_fail("job %s was not assigned within 30 s", id);
    return -1;
}

static char *result_body(const char *unit, int attempt, const char *outcome, const char *clock)
{
    json_t *b = json_pack("{s:s, s:i, s:s, s:{s:s}}", "unit_id", unit, "attempt", attempt,
                          "outcome", outcome, "data", "crew", "bench");
    if (clock) {
        json_t *vc = json_loads(clock, 0, NULL);
        if (json_is_object(vc)) {
            /* The unit's own dot: this report follows the assignment. */
            json_object_set_new(vc, unit, json_integer(1));
            json_object_set_new(b, "vclock", vc);
        } else {
            json_decref(vc);
        }
    }
    char *t = json_dumps(b, JSON_COMPACT);
    json_decref(b);
    return t;
}

static int post_result(void *conn, void *arg, long j, int k)
{
    hc *h = conn;
    arb_env *a = arg;
    char id[32], url[256];
    job_id(id, sizeof(id), j);
    snprintf(url, sizeof(url), "%s/v1/jobs/%s/results", a->broker.url, id);
    long st = hc_do(h, "POST", url, a->body[3 * j + k]);
    switch (st) {
    case 201:
        return RACE_WON;
    case 409:
        return RACE_LOST;
    case 200:
        return RACE_RETRY;
    default:
        bench_fail("result for %s: status %ld %s %.200s", id, st, h->err, h->buf);
        return RACE_ERROR;
    }
}

race_target arb_target(arb_env *e)
{
    return (race_target){.name = "ergrid", .arg = e, .decides = true, .submit = post_result};
}

int arb_env_start(arb_env *a, const char *name, const char *district, long J,
                  const char *const *extra_args, bool heartbeats)
{
    memset(a, 0, sizeof(*a));
    long K = (J + ARB_CAPACITY - 1) / ARB_CAPACITY + 2;
    a->njobs = J;
    a->st = stub_start(true, 4);
    if (!a->st)
        return -1;
    const char *args[40] = {"--id", district ? district : "Downtown"};
    size_t na = 2;
    if (!heartbeats) {
        /* Nothing but the results reaches the broker while it is measured;
         * the units cannot be declared lost meanwhile. */
        args[na++] = "--failure-timeout";
        args[na++] = "1h";
    }
    for (size_t i = 0; extra_args && extra_args[i] && na < 38; i++)
        args[na++] = extra_args[i];
    args[na] = NULL;
    if (svc_start(&a->broker, name, "broker", args) < 0 || broker_wait_leader(&a->broker, 30) < 0)
        return -1;
    a->unit = calloc((size_t)J, sizeof(*a->unit));
    a->attempt = calloc((size_t)J, sizeof(*a->attempt));
    a->body = calloc((size_t)J * 3, sizeof(*a->body));
    if (!a->unit || !a->attempt || !a->body) {
        bench_fail("out of memory");
        return -1;
    }

    printf("setup: broker %s (pid %d), %ld units (capacity %d) on the stub, %ld jobs\n",
           a->broker.url, (int)a->broker.pid, K, ARB_CAPACITY, J);
    fflush(stdout);
    double el;
    if (register_units(a->broker.url, "arbU", 0, K, "[\"firefighting\",\"rescue\"]", ARB_CAPACITY,
                       stub_url(a->st), 4, &el) < 0)
        return -1;
    if (heartbeats && !(a->hb = heartbeats_start(a->broker.url, "arbU", K))) {
        bench_fail("cannot start the heartbeats");
        return -1;
    }
    el = run_items(opt_threads(8), J, submit_one, a, NULL);
    if (bench_failures())
        return -1;
    printf("setup: %ld jobs submitted in %.1f s\n", J, el);
    fflush(stdout);
    hc h;
    hc_init(&h);
    double total = hc_metric(&h, a->broker.url, "ergrid_jobs_submitted_total");
    char nudge[512];
    snprintf(nudge, sizeof(nudge),
             "{\"id\":\"arbU-00000\",\"kind\":\"fire\",\"capabilities\":[\"firefighting\","
             "\"rescue\"],\"url\":\"%s/arbU-00000\",\"capacity\":%d}",
             stub_url(a->st), ARB_CAPACITY);
    long nudges = 0;
    wait_assigned(a->broker.url, total, 120, nudge, &nudges, NULL);
    if (nudges)
        printf("setup: STALL: the broker left jobs queued with units free; %ld "
               "re-registration(s) made it drain again (see the submit benchmark)\n",
               nudges);
    run_items(4, J, settle_one, a, NULL);
    if (bench_failures()) {
        hc_cleanup(&h);
        return -1;
    }
    for (long j = 0; j < J; j++) {
        char id[32];
        job_id(id, sizeof(id), j);
        char *clock = stub_take_clock(a->st, id);
        a->body[3 * j] = result_body(a->unit[j], a->attempt[j], "contained", clock);
        a->body[3 * j + 1] = result_body(a->unit[j], a->attempt[j], "extinguished", clock);
        a->body[3 * j + 2] = strdup(a->body[3 * j]);
        free(clock);
    }
    a->accepted0 = hc_metric(&h, a->broker.url, "ergrid_results_accepted_total");
    hc_cleanup(&h);
    return 0;
}

int arb_check_accepted(arb_env *a)
{
    hc h;
    hc_init(&h);
    double after = hc_metric(&h, a->broker.url, "ergrid_results_accepted_total");
    hc_cleanup(&h);
    if (after - a->accepted0 != (double)a->njobs) {
        bench_fail("broker counted %.0f accepted results, expected %ld", after - a->accepted0,
                   a->njobs);
        return -1;
    }
    return 0;
}

void arb_env_stop(arb_env *a)
{
    heartbeats_stop(a->hb, NULL);
    a->hb = NULL;
    svc_stop(&a->broker);
    svc_release(&a->broker);
    stub_stop(a->st);
    a->st = NULL;
    if (a->body)
        for (long i = 0; i < 3 * a->njobs; i++)
            free(a->body[i]);
    free(a->body);
    free(a->unit);
    free(a->attempt);
    a->body = NULL;
    a->unit = NULL;
    a->attempt = NULL;
}

int bench_arbitrate(void)
{
    long J = opt_jobs(20000, 3000);
    unsigned T = opt_threads(8);
    int rc = -1;
    arb_env a;
    if (arb_env_start(&a, "arbitrate-broker", NULL, J, opt_durability_args(), true) < 0)
        goto out;
    printf("broker durability: %s\n", opt_durability_name());

    long n = 3 * J;
    printf("measuring: %ld result submissions on %u threads\n", n, T);
    fflush(stdout);
    double bcpu0 = proc_cpu_s(a.broker.pid), ccpu0 = proc_cpu_s(getpid());
    race_target t = arb_target(&a);
    race_stats rs;
    if (race_run(&t, T, J, &rs) < 0)
        goto out;
    double el = rs.el_s;
    double bcpu = proc_cpu_s(a.broker.pid) - bcpu0, ccpu = proc_cpu_s(getpid()) - ccpu0;
    if (arb_check_accepted(&a) < 0)
        goto out;

    double durable = (double)(rs.won + rs.lost) / el;
    printf("%ld result submissions on %u threads in %.2f s: %ld accepted (201), %ld rejected "
           "(409), %ld exact retries (200)\n",
           n, T, el, rs.won, rs.lost, rs.retry);
    printf("durable decisions/s (201+409): %.0f   all replies/s: %.0f   accepted/s: %.0f\n",
           durable, rs.rate, (double)rs.won / el);
    printf("latency, all replies:  p50 %.2f ms  p99 %.2f ms  max %.2f ms\n", rs.p50_us / 1e3,
           rs.p99_us / 1e3, rs.max_us / 1e3);
    printf("CPU while measured: broker %.0f%%, this client %.0f%% of one core (2 cores = 200%%)\n",
           100 * bcpu / el, 100 * ccpu / el);
    long rss, hwm;
    proc_mem_kb(a.broker.pid, &rss, &hwm);
    printf("broker VmRSS %.1f MiB\n", (double)rss / 1024);
    char fig[160];
    snprintf(fig, sizeof(fig),
             "%.0f durable decisions/s, p99 %.2f ms (max %.1f ms), %u threads, durability %s",
             durable, rs.p99_us / 1e3, rs.max_us / 1e3, T, opt_durability_name());
    summary("arbitrate", fig, "p99 <= 10 ms (throughput: as ratios, see peers)",
            rs.p99_us <= 10000 ? "met" : "MISSED");
    hb_stats hs;
    heartbeats_stop(a.hb, &hs);
    a.hb = NULL;
    printf("units heartbeating meanwhile: %ld heartbeats, %ld failed, longest gap %.2f s\n",
           hs.sent, hs.failed, hs.max_gap_s);
    if (hs.failed)
        bench_fail("%ld heartbeats failed", hs.failed);
    rc = bench_failures() ? -1 : 0;
out:
    arb_env_stop(&a);
    return rc;
}
