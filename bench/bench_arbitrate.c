/* arbitrate: FCFS result decisions at one broker (DESIGN.md §6: >= 10,000
 * durable decisions/s on 2 cores, p99 <= 10 ms).
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
 * only. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

#define ARB_CAPACITY 64

struct arb {
    const char *base;
    long njobs;
    char (*unit)[72];
    int *attempt;
    char **body;   /* 3 per job */
    short *status; /* per item */
    double *us;    /* per item */
};

static void job_id(char *buf, size_t n, long i)
{
    snprintf(buf, n, "arb-%06ld", i);
}

static int submit_one(hc *h, long i, void *p)
{
    struct arb *a = p;
    char id[32], url[256], body[512];
    job_id(id, sizeof(id), i);
    snprintf(url, sizeof(url), "%s/v1/jobs", a->base);
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
    struct arb *a = p;
    if (a->unit[i][0])
        return 0;
    char id[32], url[256];
    job_id(id, sizeof(id), i);
    snprintf(url, sizeof(url), "%s/v1/jobs/%s", a->base, id);
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

static int post_result(hc *h, long i, void *p)
{
    struct arb *a = p;
    long j = i / 3;
    char id[32], url[256];
    job_id(id, sizeof(id), j);
    snprintf(url, sizeof(url), "%s/v1/jobs/%s/results", a->base, id);
    double t0 = now_s();
    long st = hc_do(h, "POST", url, a->body[i]);
    a->us[i] = (now_s() - t0) * 1e6;
    a->status[i] = (short)st;
    if (st != 201 && st != 200 && st != 409) {
        bench_fail("result for %s: status %ld %s %.200s", id, st, h->err, h->buf);
        return -1;
    }
    return 0;
}

int bench_arbitrate(void)
{
    long J = opt_jobs(20000, 3000);
    unsigned T = opt_threads(8);
    long K = (J + ARB_CAPACITY - 1) / ARB_CAPACITY + 2;
    int rc = -1;
    struct arb a = {0};
    svc broker = {0};
    heartbeater *hb = NULL;
    stub *st = stub_start(true, 4);
    if (!st)
        return -1;
    const char *args[] = {"--id", "Downtown", NULL};
    if (svc_start(&broker, "arbitrate-broker", "broker", args) < 0)
        goto out;
    a.base = broker.url;
    a.njobs = J;
    a.unit = calloc((size_t)J, sizeof(*a.unit));
    a.attempt = calloc((size_t)J, sizeof(*a.attempt));
    a.body = calloc((size_t)J * 3, sizeof(*a.body));
    a.status = calloc((size_t)J * 3, sizeof(*a.status));
    a.us = calloc((size_t)J * 3, sizeof(*a.us));
    if (!a.unit || !a.attempt || !a.body || !a.status || !a.us) {
        bench_fail("out of memory");
        goto out;
    }

    printf("setup: broker %s (pid %d), %ld units (capacity %d) on the stub, %ld jobs\n", broker.url,
           (int)broker.pid, K, ARB_CAPACITY, J);
    fflush(stdout);
    double el;
    if (register_units(broker.url, "arbU", 0, K, "[\"firefighting\",\"rescue\"]", ARB_CAPACITY,
                       stub_url(st), 4, &el) < 0)
        goto out;
    hb = heartbeats_start(broker.url, "arbU", K);
    el = run_items(T, J, submit_one, &a, NULL);
    if (bench_failures())
        goto out;
    printf("setup: %ld jobs submitted in %.1f s\n", J, el);
    fflush(stdout);
    {
        hc hh;
        hc_init(&hh);
        double total = hc_metric(&hh, broker.url, "ergrid_jobs_submitted_total");
        hc_cleanup(&hh);
        char nudge[512];
        snprintf(nudge, sizeof(nudge),
                 "{\"id\":\"arbU-00000\",\"kind\":\"fire\",\"capabilities\":[\"firefighting\","
                 "\"rescue\"],\"url\":\"%s/arbU-00000\",\"capacity\":%d}",
                 stub_url(st), ARB_CAPACITY);
        long nudges = 0;
        wait_assigned(broker.url, total, 120, nudge, &nudges, NULL);
        if (nudges)
            printf("setup: STALL: the broker left jobs queued with units free; %ld "
                   "re-registration(s) made it drain again (see the submit benchmark)\n",
                   nudges);
    }
    run_items(4, J, settle_one, &a, NULL);
    if (bench_failures())
        goto out;
    for (long j = 0; j < J; j++) {
        char id[32];
        job_id(id, sizeof(id), j);
        char *clock = stub_take_clock(st, id);
        a.body[3 * j] = result_body(a.unit[j], a.attempt[j], "contained", clock);
        a.body[3 * j + 1] = result_body(a.unit[j], a.attempt[j], "extinguished", clock);
        a.body[3 * j + 2] = strdup(a.body[3 * j]);
        free(clock);
    }

    hc h;
    hc_init(&h);
    double before_ok = hc_metric(&h, broker.url, "ergrid_results_accepted_total");

    long n = 3 * J;
    printf("measuring: %ld result submissions on %u threads\n", n, T);
    fflush(stdout);
    double bcpu0 = proc_cpu_s(broker.pid), ccpu0 = proc_cpu_s(getpid());
    el = run_items(T, n, post_result, &a, NULL);
    double bcpu = proc_cpu_s(broker.pid) - bcpu0, ccpu = proc_cpu_s(getpid()) - ccpu0;
    if (bench_failures()) {
        hc_cleanup(&h);
        goto out;
    }

    long n201 = 0, n200 = 0, n409 = 0;
    for (long j = 0; j < J; j++) {
        int wins = 0;
        for (int k = 0; k < 3; k++) {
            short s = a.status[3 * j + k];
            wins += s == 201;
            n201 += s == 201;
            n200 += s == 200;
            n409 += s == 409;
        }
        if (wins != 1)
            bench_fail("job arb-%06ld got %d accepted results (FCFS broken)", j, wins);
    }
    double after_ok = hc_metric(&h, broker.url, "ergrid_results_accepted_total");
    if (after_ok - before_ok != (double)J)
        bench_fail("broker counted %.0f accepted results, expected %ld", after_ok - before_ok, J);
    hc_cleanup(&h);

    lat all = {0}, acc = {0};
    for (long i = 0; i < n; i++) {
        lat_add(&all, a.us[i]);
        if (a.status[i] == 201)
            lat_add(&acc, a.us[i]);
    }
    double p50, p99, mx, a50, a99, amx;
    lat_stats(&all, &p50, &p99, &mx);
    lat_stats(&acc, &a50, &a99, &amx);
    lat_free(&all);
    lat_free(&acc);
    double durable = (double)(n201 + n409) / el;
    printf("%ld result submissions on %u threads in %.2f s: %ld accepted (201), %ld rejected "
           "(409), %ld exact retries (200)\n",
           n, T, el, n201, n409, n200);
    printf("durable decisions/s (201+409): %.0f   all replies/s: %.0f   accepted/s: %.0f\n",
           durable, (double)n / el, (double)n201 / el);
    printf("latency, all replies:  p50 %.2f ms  p99 %.2f ms  max %.2f ms\n", p50 / 1e3, p99 / 1e3,
           mx / 1e3);
    printf("latency, accepted:     p50 %.2f ms  p99 %.2f ms  max %.2f ms\n", a50 / 1e3, a99 / 1e3,
           amx / 1e3);
    printf("CPU while measured: broker %.0f%%, this client %.0f%% of one core (2 cores = 200%%)\n",
           100 * bcpu / el, 100 * ccpu / el);
    long rss, hwm;
    proc_mem_kb(broker.pid, &rss, &hwm);
    printf("broker VmRSS %.1f MiB\n", (double)rss / 1024);
    char fig[160];
    snprintf(fig, sizeof(fig), "%.0f durable decisions/s, p99 %.2f ms (max %.1f ms), %u threads",
             durable, p99 / 1e3, mx / 1e3, T);
    summary("arbitrate", fig, ">= 10,000/s, p99 <= 10 ms",
            durable >= 10000 && p99 <= 10000 ? "met" : "MISSED");
    long hb_failed = 0;
    long hb_sent = heartbeats_stop(hb, &hb_failed);
    hb = NULL;
    printf("units heartbeating meanwhile: %ld heartbeats, %ld failed\n", hb_sent, hb_failed);
    if (hb_failed)
        bench_fail("%ld heartbeats failed", hb_failed);
    rc = bench_failures() ? -1 : 0;
out:
    heartbeats_stop(hb, NULL);
    svc_stop(&broker);
    svc_release(&broker);
    stub_stop(st);
    if (a.body)
        for (long i = 0; i < 3 * J; i++)
            free(a.body[i]);
    free(a.body);
    free(a.unit);
    free(a.attempt);
    free(a.status);
    free(a.us);
    return rc;
}
