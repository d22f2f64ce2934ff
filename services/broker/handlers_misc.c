/* /v1/health, /metrics and /v1/events (the vector-clock-stamped event log,
 * as JSON or for ShiViz). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"
#include "txn.h"
#include "handlers.h"
#include "ha.h"
#include "shiviz.h"
#include "views.h"

/* With etcd: this broker's role, who leads (null: nobody known) and the
 * leader key's create_revision, the term. */
static json_t *role_fields(broker *b, json_t *o)
{
    ha_view v;

    ha_get(b, &v);
    if (!o || !v.etcd)
        return o;
    json_object_set_new(o, "role", json_string(v.leader ? "leader" : "follower"));
    json_object_set_new(o, "leader", v.leader_url[0] ? json_string(v.leader_url) : json_null());
    json_object_set_new(o, "term", json_integer((json_int_t)v.term));
    return o;
}

void h_health(api_request *req, api_response *res)
{
    broker *b = req->ctx;
    json_t *o;

    pthread_mutex_lock(&b->mu);
    o = json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:s, s:s}", "status", "ok", "service", "broker",
                  "id", b->cfg.id, "units", (json_int_t)hmap_size(b->st.units), "jobs",
                  (json_int_t)hmap_size(b->st.jobs), "queued", (json_int_t)jobq_size(b->st.queue),
                  "storage", b->health.failing ? "failing" : "ok", "store",
                  broker_store_name(b->cfg.store));
    json_t *body = view_envelope(o, &b->clock);
    pthread_mutex_unlock(&b->mu);
    api_reply_json(res, 200, role_fields(b, body));
}

/* What the synced copies refused, ignored and hold, per peer. */
typedef struct copy_counts {
    uint64_t ignored[COPY_IGNORED_KINDS], skipped, parked, parked_dropped;
    size_t npeers;
    char peer[BROKER_MAX_PEERS][COORD_ID_MAX + 1];
    size_t bytes[BROKER_MAX_PEERS];
} copy_counts;

/* Caller holds mu. */
static void copy_counts_get(broker *b, copy_counts *c)
{
    memcpy(c->ignored, b->rem.ignored, sizeof(c->ignored));
    c->skipped = b->rem.skipped;
    c->parked = b->peers.nparked;
    c->parked_dropped = b->peers.parked_dropped;
    c->npeers = b->peers.n;
    for (size_t i = 0; i < b->peers.n; i++) {
        snprintf(c->peer[i], sizeof(c->peer[i]), "%s", b->peers.v[i].id);
        c->bytes[i] = remote_bytes_of(&b->rem, b->peers.v[i].id);
    }
}

static void copy_counts_write(const copy_counts *c, strbuf *sb)
{
    static const char *const why[COPY_IGNORED_KINDS] = {
        [COPY_OWN_ID] = "own_id",
        [COPY_OWN_DISTRICT] = "own_district",
        [COPY_NOT_THE_SENDERS] = "not_the_senders",
    };

    strbuf_addf(sb, "# HELP ergrid_remote_ignored_total Copies a peer may not write, ignored: "
                    "our own ids, our own district, a third district.\n"
                    "# TYPE ergrid_remote_ignored_total counter\n");
    for (int k = COPY_OWN_ID; k < COPY_IGNORED_KINDS; k++)
        strbuf_addf(sb, "ergrid_remote_ignored_total{reason=\"%s\"} %llu\n", why[k],
                    (unsigned long long)c->ignored[k]);
    strbuf_addf(sb, "# HELP ergrid_remote_bytes Bytes the synced copies of each peer take.\n"
                    "# TYPE ergrid_remote_bytes gauge\n");
    for (size_t i = 0; i < c->npeers; i++)
        strbuf_addf(sb, "ergrid_remote_bytes{peer=\"%s\"} %zu\n", c->peer[i], c->bytes[i]);
}

/* One district's step histogram (steps.h) in Prometheus form; the
 * district label lets a city-wide scrape sum or compare districts. */
static void step_hist_write(strbuf *sb, const char *name, const char *help, const step_hist *h,
                            const char *district)
{
    uint64_t cum = 0;

    strbuf_addf(sb, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
    for (size_t i = 0; i < STEP_HIST_N; i++) {
        cum += h->buckets[i];
        strbuf_addf(sb, "%s_bucket{district=\"%s\",le=\"%g\"} %llu\n", name, district,
                    step_hist_bounds[i], (unsigned long long)cum);
    }
    strbuf_addf(sb, "%s_bucket{district=\"%s\",le=\"+Inf\"} %llu\n", name, district,
                (unsigned long long)h->count);
    strbuf_addf(sb, "%s_sum{district=\"%s\"} %.9g\n", name, district, h->sum);
    strbuf_addf(sb, "%s_count{district=\"%s\"} %llu\n", name, district,
                (unsigned long long)h->count);
}

void h_metrics(api_request *req, api_response *res)
{
    broker *b = req->ctx;
    uint64_t by_status[4] = {0};
    broker_metrics m;
    store_health health;
    outbox_stats ob;
    size_t waiting, unreachable = 0, it = 0;
    uint64_t refused, commits, changes, pages;
    const char *key;
    void *val;
    strbuf sb;

    pthread_mutex_lock(&b->mu);
    m = b->m;
    health = b->health;
    while (hmap_next(b->st.units, &it, &key, &val)) {
        by_status[unit_shown_status(val)]++;
        unreachable += reach_unreachable(&((const unit *)val)->reach);
    }
    waiting = jobq_size(b->st.queue);
    refused = b->rem.refused;
    copy_counts cc;
    copy_counts_get(b, &cc);
    pages = b->store.pages_written ? b->store.pages_written(b->store.cls) : 0;
    pthread_mutex_unlock(&b->mu);
    outbox_get_stats(&b->ob, &ob);
    txn_counts(b, &commits, &changes);
    wake_stats ws;
    wake_get_stats(&b->drain, &ws);
    outpool_stats ps;
    outpool_get_stats(&b->calls, &ps);
    ha_view rv;
    ha_get(b, &rv);

    const struct {
        const char *type, *name, *help;
        uint64_t v;
    } figures[] = {
        {"counter", "ergrid_jobs_submitted_total", "Jobs accepted for submission.",
         m.jobs_submitted},
        {"counter", "ergrid_jobs_assigned_total", "Assignments confirmed by an executor.",
         m.jobs_assigned},
        {"counter", "ergrid_jobs_queued_total", "Submissions that found no free capable unit.",
         m.jobs_queued},
        {"counter", "ergrid_jobs_redeployed_total",
         "Assignments that were a second or later attempt.", m.jobs_redeployed},
        {"counter", "ergrid_results_accepted_total", "Results recorded (first to arrive).",
         m.results_accepted},
        {"counter", "ergrid_results_rejected_total", "Results refused because another one won.",
         m.results_rejected},
        {"counter", "ergrid_results_retried_total", "Exact retries of an accepted result.",
         m.results_retried},
        {"counter", "ergrid_results_forbidden_total",
         "Results refused: not a holder, or causality.", m.results_forbidden},
        {"counter", "ergrid_units_lost_total", "Units declared lost by the failure detector.",
         m.units_lost},
        {"counter", "ergrid_units_returned_total", "Lost units that came back.", m.units_returned},
        {"counter", "ergrid_sync_pulls_total", "Metadata pages pulled from peers.", m.sync_pulls},
        {"counter", "ergrid_sync_notifies_total", "Change signals sent to peers (POST /v1/notify).",
         m.sync_notifies},
        {"counter", "ergrid_sync_signals_total", "Change signals received from peers.",
         m.sync_signals},
        {"counter", "ergrid_sync_signals_coalesced_total",
         "Signals received while a pull of that peer was already pending (no pull of their own).",
         m.sync_coalesced},
        {"counter", "ergrid_assignments_refused_total",
         "Assignments an executor refused (at capacity).", m.assign_refused},
        {"counter", "ergrid_assignment_errors_total", "Assignments that failed in transport.",
         m.assign_errors},
        {"counter", "ergrid_assignments_abandoned_total",
         "Attempts kept revoked: the call's outcome was unknown (it may have landed).",
         m.assign_abandoned},
        {"counter", "ergrid_outbox_retried_total", "Revocations and releases sent again.",
         ob.retried},
        {"counter", "ergrid_outbox_dropped_total",
         "Revocations and releases dropped with the outbox full.", ob.dropped},
        {"counter", "ergrid_outbox_failed_total",
         "Revocations and releases given up after every retry.", ob.failed},
        {"counter", "ergrid_remote_refused_total", "Synced copies refused past a peer's cap.",
         refused},
        {"counter", "ergrid_remote_skipped_total",
         "Objects of a peer's page that could not be applied (skipped; the rest applied).",
         cc.skipped},
        {"gauge", "ergrid_remote_bytes_max", "Cap on the bytes one peer's synced copies take.",
         REMOTE_MAX_BYTES_PER_PEER},
        {"gauge", "ergrid_releases_parked", "Releases waiting for their home broker's URL.",
         cc.parked},
        {"counter", "ergrid_releases_parked_dropped_total",
         "Parked releases pushed out by newer ones (the home repairs from its copy).",
         cc.parked_dropped},
        {"counter", "ergrid_clock_entries_refused_total",
         "Received clock entries ignored (this broker's own) or clamped (a jump over 2^32).",
         m.clock_entries_refused},
        {"counter", "ergrid_unit_status_steps_total", "Crew status steps recorded.",
         m.steps_recorded},
        {"counter", "ergrid_unit_status_refused_total",
         "Crew status steps refused (illegal after the current one, or no such attempt).",
         m.steps_refused},
        {"gauge", "ergrid_jobs_waiting", "Jobs in the queue.", waiting},
        {"gauge", "ergrid_units_unreachable",
         "Units whose terminal failed every recent call: no work until it answers.", unreachable},
        {"gauge", "ergrid_outbox_queued", "Revocations and releases waiting to be sent.",
         ob.queued},
        {"counter", "ergrid_storage_commit_failures_total",
         "Commits that failed (each reloaded the district from the store).",
         health.commit_failures},
        {"gauge", "ergrid_storage_failing", "1 while storage fails and writes are refused.",
         health.failing},
        {"counter", "ergrid_store_commits_total",
         "Store commits that succeeded (group commit: one per batch of changes).", commits},
        {"counter", "ergrid_store_batched_changes_total",
         "Changes those commits carried (decisions, submissions, assignments, ...).", changes},
        {"counter", "ergrid_store_pages_written_total",
         "Database pages the store wrote (to the WAL) since the start.", pages},
        {"counter", "ergrid_dispatch_wakes_requested_total",
         "Changes that asked the drain thread to look at the queue.", ws.signals},
        {"counter", "ergrid_dispatch_wakes_total",
         "Of those, the ones that ended a wait: the rest joined a wake still pending.",
         ws.wakeups},
        {"counter", "ergrid_dispatch_drain_passes_total",
         "Rounds of the drain thread over the queue (woken or on its retry timer).",
         m.drain_passes},
        {"counter", "ergrid_dispatch_drain_passes_woken_total",
         "Drain rounds that began with at least one wake.", m.drain_passes_woken},
        {"gauge", "ergrid_outgoing_calls_busy",
         "Submissions and claims whose executor call runs on the outgoing pool now.", ps.busy},
        {"gauge", "ergrid_outgoing_calls_waiting",
         "Submissions and claims waiting for a thread of the outgoing pool.", ps.waiting},
        {"counter", "ergrid_outgoing_calls_total",
         "Submissions and claims served on the outgoing pool.", ps.run},
        {"counter", "ergrid_outgoing_full_total",
         "Requests served without the pool, every slot taken (a submission left queued).",
         ps.full},
        {"gauge", "ergrid_broker_leader",
         "1 while this broker leads its district (SQLite: always), 0 while a standby.",
         rv.leader},
        {"counter", "ergrid_broker_takeovers_total",
         "Times this process became its district's leader (--store etcd; the first counts).",
         rv.takeovers},
    };
    strbuf_init(&sb, 1 << 20);
    for (size_t i = 0; i < sizeof(figures) / sizeof(figures[0]); i++)
        strbuf_addf(&sb, "# HELP %s %s\n# TYPE %s %s\n%s %llu\n", figures[i].name, figures[i].help,
                    figures[i].name, figures[i].type, figures[i].name,
                    (unsigned long long)figures[i].v);
    copy_counts_write(&cc, &sb);
    strbuf_addf(&sb,
                "# HELP ergrid_storage_probes_total Probe writes while storage was failing.\n"
                "# TYPE ergrid_storage_probes_total counter\n"
                "ergrid_storage_probes_total{result=\"ok\"} %llu\n"
                "ergrid_storage_probes_total{result=\"failed\"} %llu\n",
                (unsigned long long)health.probes_ok, (unsigned long long)health.probes_failed);
    strbuf_addf(&sb,
                "# HELP ergrid_durability What an acknowledged commit survives (--durability).\n"
                "# TYPE ergrid_durability gauge\n"
                "ergrid_durability{mode=\"%s\"} 1\n",
                store_durability_name(b->cfg.durability));
    strbuf_addf(&sb, "# HELP ergrid_units Units of this district by status.\n"
                     "# TYPE ergrid_units gauge\n");
    for (int s = 0; s < 4; s++)
        strbuf_addf(&sb, "ergrid_units{status=\"%s\"} %llu\n", unit_status_str((unit_status)s),
                    (unsigned long long)by_status[s]);
    strbuf_addf(&sb, "# HELP ergrid_request_duration_seconds HTTP request latency.\n"
                     "# TYPE ergrid_request_duration_seconds histogram\n");
    histogram latency;
    api_server_latency(b->server, &latency);
    histogram_write(&latency, &sb, "ergrid_request_duration_seconds", NULL);
    strbuf_addf(&sb,
                "# HELP ergrid_log_lines_dropped_total Log lines dropped with the log queue "
                "full (stderr not keeping up).\n"
                "# TYPE ergrid_log_lines_dropped_total counter\n"
                "ergrid_log_lines_dropped_total %llu\n",
                (unsigned long long)service_log_dropped());
    step_hist_write(&sb, "ergrid_unit_turnout_seconds",
                    "Crew turnout: dispatched to en_route, by the unit's home district.",
                    &m.turnout, b->cfg.id);
    step_hist_write(&sb, "ergrid_unit_travel_seconds",
                    "Crew travel: en_route to on_scene, by the unit's home district.", &m.travel,
                    b->cfg.id);
    api_server_metrics(b->server, &sb);
    api_sse_metrics(b->sse, &sb);
    api_reply_text(res, 200, "text/plain; version=0.0.4", sb.buf ? sb.buf : "", sb.len);
    strbuf_release(&sb);
}

struct ev_ctx {
    json_t *arr;
    uint64_t last;
};

static void ev_cb(void *arg, const store_event *ev)
{
    struct ev_ctx *c = arg;

    json_array_append_new(c->arr, view_event(ev));
    c->last = ev->seq;
}

void h_events_get(api_request *req, api_response *res)
{
    broker *b = req->ctx;
    uint64_t after = 0, limit = 500;
    const char *format = api_query(req, "format");
    struct ev_ctx c;
    int rc;

    /* The store keeps sequence numbers as signed 64-bit: a larger after
     * would wrap to a negative one and return the log from the start. */
    if (!query_uint(req, res, "after", 0, INT64_MAX, &after,
                    "after must be a whole number below 2^63") ||
        !query_uint(req, res, "limit", 1, 5000, &limit, "limit must be 1..5000"))
        return;
    if (format && strcmp(format, "shiviz") != 0 && strcmp(format, "json") != 0) {
        api_reply_error(res, API_E_BAD_REQUEST, "format must be json or shiviz");
        return;
    }
    c.arr = json_array();
    c.last = after;
    pthread_mutex_lock(&b->mu);
    rc = b->store.list_events(b->store.cls, after, (size_t)limit, ev_cb, &c);
    /* The store's open batch is visible to its own reads: shown once
     * durable (group commit). */
    if (!read_done_or_503(req, res, c.arr))
        return;
    if (rc < 0) {
        json_decref(c.arr);
        api_reply_error(res, API_E_UNAVAILABLE, "event log unreadable");
        return;
    }
    if (format && strcmp(format, "shiviz") == 0) {
        size_t len = 0;
        char *text = shiviz_format(c.arr, &len);

        json_decref(c.arr);
        if (!text) {
            api_reply_error(res, API_E_UNAVAILABLE, "out of memory");
            return;
        }
        api_reply_text(res, 200, "text/plain; charset=utf-8", text, len);
        free(text);
        return;
    }
    api_reply_json(res, 200,
                   json_pack("{s:o, s:I, s:s}", "events", c.arr, "next", (json_int_t)c.last, "node",
                             b->cfg.id));
}
