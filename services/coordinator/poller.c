/* The poller (poller.h): per broker its local units, open and recently
 * finished jobs, peer sync health and newest events; one round at a time,
 * sleeping on a CLOCK_MONOTONIC condvar in between. */
#include "poller.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api.h"
#include "coord.h"
#include "events.h"
#include "fanout.h"
#include "registry.h"

/* Open jobs are read whole up to the broker's page cap: the view, not the
 * fetch, decides what is left out, so an urgent incident is never lost
 * behind older routine ones. */
#define POLL_JOBS_LIMIT  10000
#define POLL_COMPLETED   100
#define POLL_EVENT_PAGES 4

static const http_opts poll_opts = {.connect_timeout_ms = 300, .timeout_ms = 2000};

static bool belongs_to(const json_t *o, const char *key, const char *district)
{
    json_t *d = json_object_get(o, key), *auth = json_object_get(o, "authoritative");
    if (d && !(json_is_string(d) && strcmp(json_string_value(d), district) == 0))
        return false;
    return !auth || json_is_true(auth);
}

static json_int_t int_member(const json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return json_is_integer(v) ? json_integer_value(v) : 0;
}

static int cmp_newest(const void *a, const void *b)
{
    json_int_t x = int_member(*(json_t *const *)a, "updated_ms");
    json_int_t y = int_member(*(json_t *const *)b, "updated_ms");
    return x < y ? 1 : x > y ? -1 : 0;
}

static const char *const severities[] = {"critical", "high", "medium", "low"};

static int severity_rank(const json_t *job)
{
    const char *s = json_string_value(json_object_get(job, "severity"));
    for (int r = 0; s && r < 4; r++)
        if (strcmp(s, severities[r]) == 0)
            return r;
    return 4;
}

/* Most urgent first, then oldest first. */
static int cmp_urgent(const void *a, const void *b)
{
    const json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
    int rx = severity_rank(x), ry = severity_rank(y);
    if (rx != ry)
        return rx - ry;
    json_int_t cx = int_member(x, "created_ms"), cy = int_member(y, "created_ms");
    return cx < cy ? -1 : cx > cy;
}

/* The district's open jobs into out, most urgent first: every critical and
 * high one, and the others up to COORD_OPEN_SHOWN, so the view stays small
 * without ever hiding what a dispatcher must see. Returns the counts of all
 * of them, shown or not. */
static json_t *open_view(const char *district, const json_t *open_jobs, json_t *out)
{
    json_int_t by_sev[5] = {0}, queued = 0, assigned = 0;
    size_t n = json_array_size(open_jobs), k = 0, shown = 0, routine = 0, i;
    json_t **arr = calloc(n ? n : 1, sizeof(*arr)), *v;

    json_array_foreach (open_jobs, i, v) {
        const char *st = json_string_value(json_object_get(v, "status"));
        if (!arr || !json_is_object(v) || !belongs_to(v, "owner", district) || !st)
            continue;
        if (strcmp(st, "queued") == 0)
            queued++;
        else if (strcmp(st, "assigned") == 0)
            assigned++;
        else
            continue;
        by_sev[severity_rank(v)]++;
        arr[k++] = v;
    }
    if (arr)
        qsort(arr, k, sizeof(*arr), cmp_urgent);
    for (size_t j = 0; j < k; j++) {
        if (severity_rank(arr[j]) > 1 && routine++ >= COORD_OPEN_SHOWN)
            continue;
        json_array_append_new(out, json_deep_copy(arr[j]));
        shown++;
    }
    free(arr);
    /* A severity the view does not know is counted, and sorted, as low. */
    return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "total", (json_int_t)k, "shown",
                     (json_int_t)shown, "queued", queued, "assigned", assigned, "critical",
                     by_sev[0], "high", by_sev[1], "medium", by_sev[2], "low", by_sev[3] + by_sev[4]);
}

/* The newest COORD_RECENT_RESULTS of the district's jobs in status want
 * (completed: only those with their result), newest first. */
static void newest_finished(const char *district, const json_t *jobs, const char *want,
                            json_t *out)
{
    bool done = strcmp(want, "completed") == 0;
    size_t n = json_array_size(jobs), k = 0, i;
    json_t **arr = calloc(n ? n : 1, sizeof(*arr)), *v;

    if (!arr)
        return;
    json_array_foreach (jobs, i, v) {
        const char *st = json_string_value(json_object_get(v, "status"));
        if (json_is_object(v) && belongs_to(v, "owner", district) && st &&
            strcmp(st, want) == 0 && (!done || json_is_object(json_object_get(v, "result"))))
            arr[k++] = v;
    }
    qsort(arr, k, sizeof(*arr), cmp_newest); /* stable enough: ties keep no order */
    for (size_t j = 0; j < k && j < COORD_RECENT_RESULTS; j++) {
        json_t *o = json_pack("{s:O}", "id", json_object_get(arr[j], "id"));
        const char *keys[] = {"type", "severity", "updated_ms", "result", "attempts"};
        for (size_t q = 0; o && q < (done ? 4u : 5u); q++) {
            json_t *x = json_object_get(arr[j], keys[q]);
            if (x)
                json_object_set(o, keys[q], x);
        }
        json_array_append_new(out, o);
    }
    free(arr);
}

json_t *district_view(const char *district, const json_t *units, const json_t *open_jobs,
                      const json_t *completed, const json_t *peers)
{
    static const char *const statuses[] = {"available", "busy", "lost", "out_of_service"};
    json_int_t counts[4] = {0};
    json_t *own = json_array(), *open = json_array(), *recent = json_array(),
           *cancelled = json_array();
    size_t i;
    json_t *v;

    if (json_is_array(units)) {
        json_array_foreach (units, i, v) {
            if (!json_is_object(v) || !belongs_to(v, "district", district))
                continue;
            const char *st = json_string_value(json_object_get(v, "status"));
            for (int s = 0; st && s < 4; s++)
                if (strcmp(st, statuses[s]) == 0)
                    counts[s]++;
            json_array_append_new(own, json_deep_copy(v));
        }
    }
    json_t *open_counts = open_view(district, open_jobs, open);
    newest_finished(district, completed, "completed", recent);
    newest_finished(district, completed, "cancelled", cancelled);
    return json_pack("{s:{s:I, s:I, s:I, s:I}, s:o, s:o, s:o, s:o, s:o, s:o}", "units_by_status",
                     "available", counts[0], "busy", counts[1], "lost", counts[2],
                     "out_of_service", counts[3], "units", own, "open_jobs", open, "open_counts",
                     open_counts, "recent_results", recent, "recent_cancelled", cancelled, "peers",
                     json_is_object(peers) ? json_deep_copy(peers) : json_null());
}

/* ---- one round ---- */

typedef struct poll_job {
    char id[COORD_ID_MAX + 1];
    leader_set *set;  /* the district's URLs (registry.h): any answers a read */
    uint64_t url_gen; /* the registry's when the round began */
    uint64_t events_after;
    /* results */
    bool ok;
    json_t *view;
    json_t *events; /* sanitized, oldest first */
    uint64_t new_after;
    uint64_t fetched_mono_ms;
} poll_job;

static json_t *get_json(leader_set *set, const char *path, long *status)
{
    /* One try at each URL: the next poll is the retry. */
    const leader_call_opts o = {.http = poll_opts, .rounds = 1};
    http_reply r = {0};
    json_t *body = NULL;
    *status = 0;
    if (leader_call(set, "GET", path, NULL, &o, &r, NULL, 0) == 0) {
        *status = r.status;
        if (r.status == 200 && json_is_object(r.body)) {
            body = r.body;
            r.body = NULL;
        }
    }
    http_reply_release(&r);
    return body;
}

/* The newest POLL_COMPLETED jobs in a finished status: the broker lists by
 * arrival, so the last page. */
static json_t *newest_jobs(leader_set *url, const char *status)
{
    char path[128];
    long st;
    snprintf(path, sizeof(path), "/v1/jobs?status=%s&limit=0&scope=local", status);
    json_t *count = get_json(url, path, &st);
    if (!count)
        return NULL;
    json_int_t total = int_member(count, "total");
    json_decref(count);
    snprintf(path, sizeof(path), "/v1/jobs?status=%s&limit=%d&offset=%lld&scope=local", status,
             POLL_COMPLETED, (long long)(total > POLL_COMPLETED ? total - POLL_COMPLETED : 0));
    return get_json(url, path, &st);
}

static void poll_events(poll_job *p)
{
    p->events = json_array();
    p->new_after = p->events_after;
    for (int page = 0; page < POLL_EVENT_PAGES; page++) {
        char path[96];
        long st;
        snprintf(path, sizeof(path), "/v1/events?after=%llu&limit=%d",
                 (unsigned long long)p->new_after, COORD_EVENTS_PER_NODE);
        json_t *b = get_json(p->set, path, &st);
        json_t *evs = json_object_get(b, "events");
        size_t i, got = json_array_size(evs);
        json_t *e;
        json_array_foreach (evs, i, e) {
            json_t *seq = json_object_get(e, "seq");
            if (!json_is_integer(seq) || json_integer_value(seq) <= 0 ||
                (uint64_t)json_integer_value(seq) <= p->new_after)
                continue;
            p->new_after = (uint64_t)json_integer_value(seq);
            json_t *clean = event_sanitize(e);
            if (clean && !json_object_get(e, "node"))
                json_object_set_new(clean, "node", json_string(p->id));
            if (clean)
                json_array_append_new(p->events, clean);
        }
        json_decref(b);
        if (got < COORD_EVENTS_PER_NODE)
            break;
    }
    /* Only the newest ones are kept anyway. */
    while (json_array_size(p->events) > COORD_EVENTS_PER_NODE)
        json_array_remove(p->events, 0);
}

static void poll_one(void *arg, size_t i)
{
    poll_job *p = &((poll_job *)arg)[i];
    long st;
    json_t *units = NULL, *queued = NULL, *assigned = NULL, *done = NULL, *cancelled = NULL,
           *peers = NULL;
    units = get_json(p->set, "/v1/units?scope=local", &st);
    if (!units)
        goto out;
    char path[128];
    snprintf(path, sizeof(path), "/v1/jobs?status=queued&limit=%d&scope=local", POLL_JOBS_LIMIT);
    queued = get_json(p->set, path, &st);
    snprintf(path, sizeof(path), "/v1/jobs?status=assigned&limit=%d&scope=local",
             POLL_JOBS_LIMIT);
    assigned = queued ? get_json(p->set, path, &st) : NULL;
    done = assigned ? newest_jobs(p->set, "completed") : NULL;
    cancelled = done ? newest_jobs(p->set, "cancelled") : NULL;
    if (!cancelled)
        goto out;
    peers = get_json(p->set, "/v1/peers", &st); /* 404 from an older broker: null */
    json_t *open = json_array(), *finished = json_array();
    json_array_extend(open, json_object_get(queued, "jobs"));
    json_array_extend(open, json_object_get(assigned, "jobs"));
    json_array_extend(finished, json_object_get(done, "jobs"));
    json_array_extend(finished, json_object_get(cancelled, "jobs"));
    p->view = district_view(p->id, json_object_get(units, "units"), open, finished, peers);
    /* Beyond the page cap the broker's totals still count every open job. */
    json_t *oc = json_object_get(p->view, "open_counts");
    json_int_t all = int_member(queued, "total") + int_member(assigned, "total");
    if (oc && all > int_member(oc, "total"))
        json_object_set_new(oc, "total", json_integer(all));
    json_decref(open);
    json_decref(finished);
    poll_events(p);
    p->ok = p->view != NULL;
    p->fetched_mono_ms = coord_now_mono_ms();
out:
    json_decref(units);
    json_decref(queued);
    json_decref(assigned);
    json_decref(done);
    json_decref(cancelled);
    json_decref(peers);
}

static void poll_round(coordinator *c)
{
    poll_job *jobs = calloc(COORD_MAX_BROKERS, sizeof(*jobs));
    if (!jobs)
        return;
    pthread_mutex_lock(&c->mu);
    size_t n = c->nbrokers;
    for (size_t i = 0; i < n; i++) {
        snprintf(jobs[i].id, sizeof(jobs[i].id), "%s", c->brokers[i]->id);
        jobs[i].set = c->brokers[i]->set;
        jobs[i].url_gen = c->brokers[i]->url_gen;
        jobs[i].events_after = c->brokers[i]->events_after;
    }
    pthread_mutex_unlock(&c->mu);

    fanout_run(n, 16, poll_one, jobs);

    pthread_mutex_lock(&c->mu);
    for (size_t i = 0; i < n; i++) {
        poll_job *p = &jobs[i];
        broker_rec *b = coordinator_broker(c, p->id);
        if (!b || b->url_gen != p->url_gen)
            continue; /* moved while we polled: the next round sees the new address */
        b->polled = true;
        b->reachable = p->ok;
        if (p->ok) {
            c->m.polls_ok++;
            json_decref(b->view);
            b->view = p->view;
            p->view = NULL;
            b->figures_mono_ms = p->fetched_mono_ms;
            size_t k;
            json_t *e;
            json_array_foreach (p->events, k, e)
            {
                event_ring_push(&b->events, json_incref(e));
                api_sse_publish(c->sse, json_incref(e));
            }
            b->events_after = p->new_after;
        } else {
            c->m.polls_failed++;
        }
    }
    pthread_mutex_unlock(&c->mu);
    for (size_t i = 0; i < n; i++) {
        json_decref(jobs[i].view);
        json_decref(jobs[i].events);
    }
    free(jobs);
}

static void *poller_main(void *arg)
{
    coordinator *c = arg;
    for (;;) {
        pthread_mutex_lock(&c->pmu);
        bool stop = c->stopping;
        pthread_mutex_unlock(&c->pmu);
        if (stop)
            break;
        poll_round(c);
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        uint64_t ns = (uint64_t)until.tv_nsec + (c->cfg.poll_interval_ms % 1000) * 1000000ULL;
        until.tv_sec += (time_t)(c->cfg.poll_interval_ms / 1000 + ns / 1000000000ULL);
        until.tv_nsec = (long)(ns % 1000000000ULL);
        pthread_mutex_lock(&c->pmu);
        while (!c->stopping && !c->poll_now)
            if (pthread_cond_timedwait(&c->pcond, &c->pmu, &until) != 0)
                break;
        c->poll_now = false;
        pthread_mutex_unlock(&c->pmu);
    }
    http_client_thread_cleanup();
    return NULL;
}

int poller_start(coordinator *c)
{
    if (pthread_create(&c->poller_thr, NULL, poller_main, c) != 0)
        return -1;
    c->poller_started = true;
    return 0;
}

void poller_stop(coordinator *c)
{
    pthread_mutex_lock(&c->pmu);
    c->stopping = true;
    pthread_cond_broadcast(&c->pcond);
    pthread_mutex_unlock(&c->pmu);
    if (c->poller_started)
        pthread_join(c->poller_thr, NULL);
    c->poller_started = false;
}

void poller_wake(coordinator *c)
{
    pthread_mutex_lock(&c->pmu);
    c->poll_now = true;
    pthread_cond_broadcast(&c->pcond);
    pthread_mutex_unlock(&c->pmu);
}
