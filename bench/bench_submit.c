/* submit: job submission with assignment, end to end (DESIGN.md §6: >= 3,750
 * assignments/s, Nomad's C1M placement rate; the ratio to an etcd
 * job+assignment transaction is printed by the peers benchmark, which runs
 * submit_trial too).
 *
 * One broker, U units (capacity 64) played by the in-process stub, so every
 * assignment is a real HTTP call from the broker to a "terminal" and back.
 * T threads POST /v1/jobs. A reply says "assigned" (the executor accepted
 * before the reply) or "queued" (the broker's dispatcher assigns it moments
 * later).
 *
 * With --lines N the same run measures incidents of N requirement lines
 * (one unit each) on a fresh broker too, with units enough for all of
 * them, and prints the two figures side by side.
 *
 * What counts: the time from the first submission until every job is held
 * by exactly one unit (N units of N lines) and none is queued. Counting assignments instead
 * (ergrid_jobs_assigned_total) overstates the rate as soon as one unit is
 * declared lost, because every redeployment is an assignment too: a single
 * heartbeat thread that fell behind at 32 clients once made ~690 units lost
 * and the figure read 1.37x the true one. So the units heartbeat from one
 * thread per HB_UNITS_PER_THREAD units, the run fails if the broker's
 * ergrid_units_lost_total moves, and the end state is read back through the
 * API: every job assigned with one active attempt, every job in exactly one
 * unit's list, nothing queued. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

#define SUB_CAPACITY 64
#define SUB_PAGE     10000 /* the broker's largest page of jobs */

struct sub {
    const char *base;
    char **body;
    char *assigned; /* per job: 1 assigned in the reply, 0 queued */
    double *us;
};

static const char *const sev[] = {"low", "medium", "high", "critical"};

static int submit_job(hc *h, long i, void *p)
{
    struct sub *s = p;
    char url[256];
    snprintf(url, sizeof(url), "%s/v1/jobs", s->base);
    double t0 = now_s();
    long st = hc_do(h, "POST", url, s->body[i]);
    s->us[i] = (now_s() - t0) * 1e6;
    if (st != 201) {
        bench_fail("submit sub-%06ld: status %ld %s %.200s", i, st, h->err, h->buf);
        return -1;
    }
    if (strstr(h->buf, "\"status\":\"assigned\""))
        s->assigned[i] = 1;
    else if (!strstr(h->buf, "\"status\":\"queued\"")) {
        bench_fail("submit sub-%06ld: reply without a status: %.200s", i, h->buf);
        return -1;
    }
    return 0;
}

/* The "total" of GET /v1/jobs?scope=local&status=S&limit=0; -1 on error. */
static long jobs_total(hc *h, const char *base, const char *status)
{
    char url[256];
    snprintf(url, sizeof(url), "%s/v1/jobs?scope=local&status=%s&limit=0", base, status);
    json_t *r = NULL;
    long st = hc_json(h, "GET", url, NULL, &r);
    json_t *t = json_object_get(r, "total");
    long v = st == 200 && json_is_integer(t) ? (long)json_integer_value(t) : -1;
    json_decref(r);
    return v;
}

/* GET url and the array reply[field]; NULL after bench_fail. *reply owns it. */
static json_t *get_list(hc *h, const char *url, const char *field, json_t **reply)
{
    long st = hc_json(h, "GET", url, NULL, reply);
    json_t *list = json_object_get(*reply, field);
    if (st != 200 || !json_is_array(list)) {
        bench_fail("GET %s: status %ld", url, st);
        json_decref(*reply);
        *reply = NULL;
        return NULL;
    }
    return list;
}

static long job_index(const char *id, long J)
{
    char *end;
    if (!id || strncmp(id, "sub-", 4) != 0)
        return -1;
    long k = strtol(id + 4, &end, 10);
    return *end || k < 0 || k >= J ? -1 : k;
}

/* Polls until every job is held and none is queued; returns the time it was
 * first seen so (now_s() clock), or -1 after bench_fail. The metrics are
 * cheap and say when to look; the API confirms. A broker that makes no
 * progress for 250 ms while jobs wait gets a re-registration (which makes
 * it drain its queue) and the stall is counted. */
static double wait_all_held(hc *h, const char *base, long J, long per_job, double assigned0,
                            double lost0, const char *nudge_body, long *nudges, double timeout_s)
{
    char units_url[256];
    snprintf(units_url, sizeof(units_url), "%s/v1/units", base);
    double t0 = now_s(), last_change = t0, last = -1;
    *nudges = 0;
    while (now_s() - t0 < timeout_s) {
        double lost = hc_metric(h, base, "ergrid_units_lost_total") - lost0;
        if (lost > 0) {
            bench_fail("%.0f unit(s) were declared lost during the run: heartbeats did not get "
                       "through, and redeployments would be counted as assignments",
                       lost);
            return -1;
        }
        double assigned = hc_metric(h, base, "ergrid_jobs_assigned_total") - assigned0;
        double waiting = hc_metric(h, base, "ergrid_jobs_waiting");
        double now = now_s();
        if (assigned >= (double)(J * per_job) && waiting == 0 && jobs_total(h, base, "queued") == 0 &&
            jobs_total(h, base, "assigned") == J)
            return now;
        if (assigned != last) {
            last = assigned;
            last_change = now;
        } else if (now - last_change > 0.25 && waiting > 0) {
            hc_do(h, "POST", units_url, nudge_body);
            (*nudges)++;
            last_change = now_s();
        }
        sleep_s(0.005);
    }
    bench_fail("not every job was held after %.0f s", timeout_s);
    return -1;
}

/* The end state through the API: each job assigned, one active attempt
 * per line (per_job), on the unit it names (one-line jobs), and listed by
 * exactly that many units. */
static int verify_held(hc *h, const char *base, long J, long per_job)
{
    char *unit_of = calloc((size_t)J, 72);
    unsigned char *listed = calloc((size_t)J, 1);
    int rc = -1;
    long seen = 0, bad = 0;
    if (!unit_of || !listed) {
        bench_fail("out of memory");
        goto out;
    }
    for (long off = 0;; off += SUB_PAGE) {
        char url[256];
        snprintf(url, sizeof(url), "%s/v1/jobs?scope=local&limit=%d&offset=%ld", base, SUB_PAGE,
                 off);
        json_t *r = NULL, *jobs = get_list(h, url, "jobs", &r);
        if (!jobs)
            goto out;
        size_t i;
        json_t *j;
        json_array_foreach (jobs, i, j) {
            const char *id = json_string_value(json_object_get(j, "id"));
            long k = job_index(id, J);
            if (k < 0)
                continue;
            const char *status = json_string_value(json_object_get(j, "status"));
            const char *unit = json_string_value(json_object_get(j, "unit_id"));
            int active = 0;
            bool on_unit = false;
            size_t ai;
            json_t *a;
            json_array_foreach (json_object_get(j, "attempts"), ai, a) {
                const char *state = json_string_value(json_object_get(a, "state"));
                if (state && strcmp(state, "active") == 0) {
                    active++;
                    const char *au = json_string_value(json_object_get(a, "unit_id"));
                    on_unit = au && unit && strcmp(au, unit) == 0;
                }
            }
            if (per_job > 1)
                on_unit = true; /* unit_id names the latest of its units */
            if (!status || strcmp(status, "assigned") != 0 || !unit || active != per_job ||
                !on_unit || unit_of[72 * k]) {
                if (bad++ < 5)
                    bench_fail("job %s: status %s, unit %s, %d active attempt(s)%s", id,
                               status ? status : "?", unit ? unit : "none", active,
                               unit_of[72 * k] ? ", listed twice" : "");
                continue;
            }
            snprintf(unit_of + 72 * k, 72, "%s", unit);
            seen++;
        }
        size_t got = json_array_size(jobs);
        json_decref(r);
        if (got < SUB_PAGE)
            break;
    }
    if (seen != J) {
        bench_fail("%ld of %ld jobs are held by one unit", seen, J);
        goto out;
    }

    char url[256];
    snprintf(url, sizeof(url), "%s/v1/units?scope=local", base);
    json_t *r = NULL, *units = get_list(h, url, "units", &r);
    if (!units)
        goto out;
    size_t i;
    json_t *u;
    json_array_foreach (units, i, u) {
        const char *uid = json_string_value(json_object_get(u, "id"));
        size_t ji;
        json_t *jv;
        json_array_foreach (json_object_get(u, "jobs"), ji, jv) {
            long k = job_index(json_string_value(jv), J);
            if (k < 0)
                continue;
            if ((per_job == 1 && listed[k]) || listed[k]++ >= per_job || !uid ||
                (per_job == 1 && strcmp(unit_of + 72 * k, uid) != 0)) {
                if (bad++ < 5)
                    bench_fail("job sub-%06ld is listed by unit %s (held by %s)", k,
                               uid ? uid : "?", unit_of + 72 * k);
            }
        }
    }
    json_decref(r);
    for (long k = 0; k < J; k++)
        if (listed[k] != per_job && bad++ < 5)
            bench_fail("job sub-%06ld is in %d units' lists", k, listed[k]);
    rc = bad ? -1 : 0;
out:
    free(unit_of);
    free(listed);
    return rc;
}

int submit_trial(const submit_cfg *c, submit_stats *out)
{
    long J = c->jobs, U = c->units, L = c->lines > 1 ? c->lines : 1;
    unsigned T = c->threads;
    if (U * SUB_CAPACITY < J * L)
        U = (J * L + SUB_CAPACITY - 1) / SUB_CAPACITY;
    if (U < L)
        U = L; /* a unit is on one line of an incident at most */
    memset(out, 0, sizeof(*out));
    int rc = -1;
    struct sub s = {0};
    svc broker = {0};
    heartbeater *hb = NULL;
    hc h = {0};
    stub *st = stub_start(false, 4);
    if (!st)
        return -1;
    const char *args[40] = {"--id", c->district ? c->district : "Downtown"};
    size_t na = 2;
    if (!c->heartbeats) {
        args[na++] = "--failure-timeout";
        args[na++] = "1h";
    }
    for (size_t i = 0; c->extra_args && c->extra_args[i] && na < 38; i++)
        args[na++] = c->extra_args[i];
    args[na] = NULL;
    if (svc_start(&broker, c->name, "broker", args) < 0 || broker_wait_leader(&broker, 30) < 0)
        goto out;
    s.base = broker.url;
    s.body = calloc((size_t)J, sizeof(*s.body));
    s.assigned = calloc((size_t)J, 1);
    s.us = calloc((size_t)J, sizeof(*s.us));
    if (!s.body || !s.assigned || !s.us || hc_init(&h) < 0) {
        bench_fail("out of memory");
        goto out;
    }
    /* Lines alternate between the two capabilities every unit offers. */
    char need[512] = "\"required_capabilities\":[\"firefighting\"]";
    if (L > 1) {
        size_t n = (size_t)snprintf(need, sizeof(need), "\"response\":[");
        for (long l = 0; l < L && n < sizeof(need); l++)
            n += (size_t)snprintf(need + n, sizeof(need) - n,
                                  "%s{\"capabilities\":[\"%s\"],\"count\":1}", l ? "," : "",
                                  l % 2 ? "rescue" : "firefighting");
        if (n < sizeof(need))
            snprintf(need + n, sizeof(need) - n, "]");
    }
    for (long i = 0; i < J; i++) {
        char b[1024];
        snprintf(b, sizeof(b),
                 "{\"id\":\"sub-%06ld\",\"type\":\"building_fire\",\"severity\":\"%s\","
                 "%s,\"location\":{\"lat\":34.05,\"lon\":-118.24,\"block\":%ld}}",
                 i, sev[i % 4], need, i);
        s.body[i] = strdup(b);
    }
    printf("setup: broker %s (pid %d), %ld-line incidents, %ld units (capacity %d) on the stub, "
           "%s\n",
           broker.url, (int)broker.pid, L, U, SUB_CAPACITY,
           c->heartbeats ? "heartbeating once a second" : "no heartbeats (failure timeout 1 h)");
    fflush(stdout);
    double el;
    if (register_units(broker.url, "subU", 0, U, "[\"firefighting\",\"rescue\"]", SUB_CAPACITY,
                       stub_url(st), 4, &el) < 0)
        goto out;
    if (c->heartbeats) {
        hb = heartbeats_start(broker.url, "subU", U);
        if (!hb) {
            bench_fail("cannot start the heartbeats");
            goto out;
        }
    }

    double assigned0 = hc_metric(&h, broker.url, "ergrid_jobs_assigned_total");
    double lost0 = hc_metric(&h, broker.url, "ergrid_units_lost_total");
    if (assigned0 < 0 || lost0 < 0) {
        bench_fail("the broker's /metrics lack ergrid_jobs_assigned_total or "
                   "ergrid_units_lost_total");
        goto out;
    }
    double t0 = now_s();
    double bcpu0 = proc_cpu_s(broker.pid), ccpu0 = proc_cpu_s(getpid());
    out->reply_el_s = run_items(T, J, submit_job, &s, NULL);
    if (bench_failures())
        goto out;
    char nudge[512];
    snprintf(nudge, sizeof(nudge),
             "{\"id\":\"subU-00000\",\"kind\":\"fire\",\"capabilities\":[\"firefighting\","
             "\"rescue\"],\"url\":\"%s/subU-00000\",\"capacity\":%d}",
             stub_url(st), SUB_CAPACITY);
    double done =
        wait_all_held(&h, broker.url, J, L, assigned0, lost0, nudge, &out->nudges, 120);
    if (done < 0)
        goto out;
    out->held_s = done - t0;
    out->rate = (double)J / out->held_s;
    out->broker_cpu_s = proc_cpu_s(broker.pid) - bcpu0;
    out->client_cpu_s = proc_cpu_s(getpid()) - ccpu0;
    if (out->nudges)
        bench_fail("dispatcher stalled %ld time(s) with jobs waiting and units free; each was "
                   "ended by a unit re-registration",
                   out->nudges);
    if (verify_held(&h, broker.url, J, L) < 0)
        goto out;
    if (stub_assignments(st) != (uint64_t)(J * L))
        bench_fail("the stub answered %llu assignment calls for %ld jobs of %ld line(s) (no unit "
                   "was lost, so each line should have been assigned once)",
                   (unsigned long long)stub_assignments(st), J, L);
    /* Lost units after the figure was taken still void it: the heartbeats
     * did not keep up. */
    double lost = hc_metric(&h, broker.url, "ergrid_units_lost_total") - lost0;
    if (lost != 0)
        bench_fail("%.0f unit(s) were declared lost by the end of the run", lost);
    heartbeats_stop(hb, &out->hb);
    hb = NULL;
    if (out->hb.failed)
        bench_fail("%ld heartbeats failed", out->hb.failed);

    lat l = {0};
    for (long i = 0; i < J; i++) {
        out->in_reply += s.assigned[i];
        lat_add(&l, s.us[i]);
    }
    lat_stats(&l, &out->p50_us, &out->p99_us, &out->max_us);
    lat_free(&l);
    long hwm;
    proc_mem_kb(broker.pid, &out->rss_kb, &hwm);
    rc = bench_failures() ? -1 : 0;
out:
    heartbeats_stop(hb, NULL);
    hc_cleanup(&h);
    svc_stop(&broker);
    svc_release(&broker);
    stub_stop(st);
    if (s.body)
        for (long i = 0; i < J; i++)
            free(s.body[i]);
    free(s.body);
    free(s.assigned);
    free(s.us);
    return rc;
}

/* One trial and its report; -1 after bench_fail. */
static int submit_report(submit_cfg *c, submit_stats *r)
{
    long L = c->lines > 1 ? c->lines : 1;

    if (submit_trial(c, r) < 0)
        return -1;
    printf("%ld submissions (%ld line(s) each) on %u threads in %.2f s (%.0f replies/s); %ld "
           "assigned in the reply, %ld queued then assigned by the dispatcher\n",
           c->jobs, L, c->threads, r->reply_el_s, (double)c->jobs / r->reply_el_s, r->in_reply,
           c->jobs - r->in_reply);
    printf("every job held by exactly %s, none queued, after %.2f s: %.0f jobs held/s end "
           "to end, %.0f units assigned/s (checked through GET /v1/jobs and GET /v1/units)\n",
           L > 1 ? "one unit per line" : "one unit", r->held_s, r->rate, r->rate * (double)L);
    printf("reply latency: p50 %.2f ms  p99 %.2f ms  max %.2f ms\n", r->p50_us / 1e3,
           r->p99_us / 1e3, r->max_us / 1e3);
    printf("heartbeats meanwhile: %ld answered, %ld failed, longest gap %.2f s, latest send "
           "%.2f s behind schedule; 0 units lost\n",
           r->hb.sent, r->hb.failed, r->hb.max_gap_s, r->hb.max_lag_s);
    printf("CPU until all held: broker %.0f%%, this client + stub %.0f%% of one core (2 cores = "
           "200%%)\n",
           100 * r->broker_cpu_s / r->held_s, 100 * r->client_cpu_s / r->held_s);
    printf("broker VmRSS %.1f MiB\n", (double)r->rss_kb / 1024);
    return 0;
}

int bench_submit(void)
{
    submit_cfg c = {.name = "submit-broker",
                    .jobs = opt_jobs(20000, 3000),
                    .units = opt_units(500, 100),
                    .threads = opt_threads(8),
                    .heartbeats = true,
                    .extra_args = opt_durability_args()};
    submit_stats r, rl;
    printf("broker durability: %s\n", opt_durability_name());
    if (submit_report(&c, &r) < 0)
        return -1;
    char fig[240];
    snprintf(fig, sizeof(fig),
             "%.0f jobs held/s (%ld jobs, %ld units, %u threads, durability %s), reply p50 %.2f / "
             "p99 %.2f ms",
             r.rate, c.jobs, c.units, c.threads, opt_durability_name(), r.p50_us / 1e3,
             r.p99_us / 1e3);
    summary("submit", fig, ">= 3,750/s", r.rate >= 3750 ? "met" : "MISSED");
    if (!g_opts.lines)
        return 0;

    submit_cfg cl = c;
    cl.name = "submit-lines-broker";
    cl.lines = g_opts.lines;
    printf("\nthe same with %u-line incidents (one unit per line):\n", cl.lines);
    if (submit_report(&cl, &rl) < 0)
        return -1;
    printf("\n| incidents | jobs held/s | units assigned/s | reply p50 | reply p99 |\n"
           "| --- | --- | --- | --- | --- |\n"
           "| 1 line | %.0f | %.0f | %.2f ms | %.2f ms |\n"
           "| %u lines | %.0f | %.0f | %.2f ms | %.2f ms |\n",
           r.rate, r.rate, r.p50_us / 1e3, r.p99_us / 1e3, cl.lines, rl.rate,
           rl.rate * cl.lines, rl.p50_us / 1e3, rl.p99_us / 1e3);
    snprintf(fig, sizeof(fig),
             "%.0f jobs held/s = %.0f units assigned/s (%ld jobs of %u lines; one-line: %.0f/s), "
             "reply p50 %.2f / p99 %.2f ms",
             rl.rate, rl.rate * cl.lines, cl.jobs, cl.lines, r.rate, rl.p50_us / 1e3,
             rl.p99_us / 1e3);
    summary("submit-lines", fig, "(no target)", "-");
    return 0;
}
