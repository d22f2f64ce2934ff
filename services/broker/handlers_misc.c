/* /v1/health, /metrics and /v1/events. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "broker.h"

void h_health(api_request *req, api_response *res)
{
    broker *b = req->ctx;
    pthread_mutex_lock(&b->mu);
    json_t *body = json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:o}", "status", "ok", "service",
                             "broker", "id", b->cfg.id, "units", (json_int_t)hmap_size(b->units),
                             "jobs", (json_int_t)hmap_size(b->jobs), "queued",
                             (json_int_t)jobq_size(b->queue), "vclock", broker_clock_json(b));
    pthread_mutex_unlock(&b->mu);
    api_reply_json(res, 200, body);
}

void h_metrics(api_request *req, api_response *res)
{
    broker *b = req->ctx;
    strbuf sb;
    strbuf_init(&sb, 1 << 20);
    pthread_mutex_lock(&b->mu);
    const broker_metrics *m = &b->m;
    struct {
        const char *name, *help;
        uint64_t v;
    } counters[] = {
        {"ergrid_jobs_submitted_total", "Jobs accepted for submission.", m->jobs_submitted},
        {"ergrid_jobs_assigned_total", "Assignments confirmed by an executor.", m->jobs_assigned},
        {"ergrid_jobs_queued_total", "Submissions that found no free capable unit.",
         m->jobs_queued},
        {"ergrid_jobs_redeployed_total", "Assignments that were a second or later attempt.",
         m->jobs_redeployed},
        {"ergrid_results_accepted_total", "Results recorded (first to arrive).",
         m->results_accepted},
        {"ergrid_results_rejected_total", "Results refused because another one won.",
         m->results_rejected},
        {"ergrid_results_retried_total", "Exact retries of an accepted result.",
         m->results_retried},
        {"ergrid_results_forbidden_total", "Results refused: not a holder, or causality.",
         m->results_forbidden},
        {"ergrid_units_lost_total", "Units declared lost by the failure detector.", m->units_lost},
        {"ergrid_units_returned_total", "Lost units that came back.", m->units_returned},
        {"ergrid_assignments_refused_total", "Assignments an executor refused (at capacity).",
         m->assign_refused},
        {"ergrid_assignment_errors_total", "Assignments that failed in transport.",
         m->assign_errors},
    };
    for (size_t i = 0; i < sizeof(counters) / sizeof(counters[0]); i++)
        strbuf_addf(&sb, "# HELP %s %s\n# TYPE %s counter\n%s %llu\n", counters[i].name,
                    counters[i].help, counters[i].name, counters[i].name,
                    (unsigned long long)counters[i].v);
    uint64_t by_status[4] = {0};
    size_t it = 0;
    const char *key;
    void *val;
    while (hmap_next(b->units, &it, &key, &val))
        by_status[unit_current_status(val)]++;
    strbuf_addf(&sb, "# HELP ergrid_units Units of this district by status.\n"
                     "# TYPE ergrid_units gauge\n");
    for (int s = 0; s < 4; s++)
        strbuf_addf(&sb, "ergrid_units{status=\"%s\"} %llu\n", unit_status_str((unit_status)s),
                    (unsigned long long)by_status[s]);
    strbuf_addf(&sb,
                "# HELP ergrid_jobs_waiting Jobs in the queue.\n# TYPE ergrid_jobs_waiting gauge\n"
                "ergrid_jobs_waiting %zu\n",
                jobq_size(b->queue));
    strbuf_addf(&sb, "# HELP ergrid_request_duration_seconds HTTP request latency.\n"
                     "# TYPE ergrid_request_duration_seconds histogram\n");
    histogram_write(&m->latency, &sb, "ergrid_request_duration_seconds", NULL);
    pthread_mutex_unlock(&b->mu);
    api_reply_text(res, 200, "text/plain; version=0.0.4", sb.buf ? sb.buf : "", sb.len);
    strbuf_release(&sb);
}

struct ev_ctx {
    json_t *arr;
    uint64_t last;
};

static void iso_time(uint64_t ms, char *buf, size_t len)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    size_t n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, len - n, ".%03uZ", (unsigned)(ms % 1000));
}

static void ev_cb(void *arg, uint64_t seq, uint64_t time_ms, const char *node, const char *type,
                  const char *job_id, const char *unit_id, uint32_t attempt_no, const char *detail,
                  const char *vclock_json)
{
    struct ev_ctx *c = arg;
    char ts[40];
    iso_time(time_ms, ts, sizeof(ts));
    json_t *vc = json_loads(vclock_json ? vclock_json : "{}", 0, NULL);
    json_array_append_new(
        c->arr, json_pack("{s:I, s:s, s:s, s:s, s:o, s:o, s:o, s:s, s:o}", "seq", (json_int_t)seq,
                          "time", ts, "node", node ? node : "", "type", type ? type : "", "job_id",
                          job_id ? json_string(job_id) : json_null(), "unit_id",
                          unit_id ? json_string(unit_id) : json_null(), "attempt",
                          attempt_no ? json_integer(attempt_no) : json_null(), "detail",
                          detail ? detail : "", "vclock", vc ? vc : json_object()));
    c->last = seq;
}

void h_events_get(api_request *req, api_response *res)
{
    broker *b = req->ctx;
    uint64_t after = 0, limit = 500;
    const char *s;
    char *end;
    if ((s = api_query(req, "after"))) {
        after = strtoull(s, &end, 10);
        if (!*s || *end || *s == '-') {
            api_reply_error(res, API_E_BAD_REQUEST, "after must be a whole number");
            return;
        }
    }
    if ((s = api_query(req, "limit"))) {
        limit = strtoull(s, &end, 10);
        if (!*s || *end || *s == '-' || limit == 0 || limit > 5000) {
            api_reply_error(res, API_E_BAD_REQUEST, "limit must be 1..5000");
            return;
        }
    }
    const char *format = api_query(req, "format");
    if (format && strcmp(format, "shiviz") != 0 && strcmp(format, "json") != 0) {
        api_reply_error(res, API_E_BAD_REQUEST, "format must be json or shiviz");
        return;
    }
    struct ev_ctx c = {json_array(), after};
    pthread_mutex_lock(&b->mu);
    int rc = db_list_events(b->db, after, (size_t)limit, ev_cb, &c);
    pthread_mutex_unlock(&b->mu);
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
