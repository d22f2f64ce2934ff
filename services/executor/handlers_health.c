/* GET /v1/health, GET /metrics and the latency hook (handlers_health.h). */
#include "handlers_health.h"

#include <string.h>

#include "context.h"
#include "coord.h"
#include "steps.h"
#include "table.h"

void h_health(api_request *req, api_response *res)
{
    executor *e = req->ctx;
    pthread_mutex_lock(&e->mu);
    bool registered = e->registered;
    char url[EXEC_URL_MAX + 1];
    memcpy(url, e->unit_url, sizeof url);
    pthread_mutex_unlock(&e->mu);
    size_t active = exec_count(e, ASG_ACTIVE);
    /* broker: the URL the link uses now (the leader, once found); brokers:
     * every URL of the home district it may move to. */
    char current[EXEC_URL_MAX + 1];
    if (leader_set_current(&e->home, current, sizeof current) != 0)
        snprintf(current, sizeof current, "%s", e->cfg.broker);
    json_t *body = json_pack("{s:s, s:s, s:s, s:s, s:s, s:o, s:s, s:b, s:I, s:I, s:s}", "status",
                             "ok", "service", "executor", "id", e->cfg.id, "kind", e->cfg.kind,
                             "broker", current, "brokers", leader_set_json(&e->home), "url", url,
                             "registered", registered, "active",
                             (json_int_t)active, "capacity", (json_int_t)e->cfg.capacity, "mode",
                             e->cfg.mode == EXEC_MODE_SIMULATE ? "simulate" : "manual");
    api_reply_json(res, 200, body);
}

void h_metrics(api_request *req, api_response *res)
{
    executor *e = req->ctx;
    size_t by_state[ASG_NSTATES];
    exec_counts(e, by_state);
    pthread_mutex_lock(&e->mu);
    bool registered = e->registered;
    api_server *server = e->server;
    pthread_mutex_unlock(&e->mu);

    strbuf sb;
    strbuf_init(&sb, 1024 * 1024);
    strbuf_addf(&sb, "# HELP ergrid_executor_assignments Assignments held, by state.\n"
                     "# TYPE ergrid_executor_assignments gauge\n");
    for (int s = ASG_ACTIVE; s <= ASG_REPORTED; s++)
        strbuf_addf(&sb, "ergrid_executor_assignments{state=\"%s\"} %zu\n",
                    asg_state_str((asg_state)s), by_state[s]);
    strbuf_addf(&sb,
                "# HELP ergrid_executor_capacity Active assignments the unit accepts.\n"
                "# TYPE ergrid_executor_capacity gauge\n"
                "ergrid_executor_capacity %u\n"
                "# HELP ergrid_executor_registered 1 while registered with the home broker.\n"
                "# TYPE ergrid_executor_registered gauge\n"
                "ergrid_executor_registered %d\n",
                e->cfg.capacity, registered ? 1 : 0);

    pthread_mutex_lock(&e->metrics_mu);
    exec_metrics m = e->metrics;
    pthread_mutex_unlock(&e->metrics_mu);
    strbuf_addf(
        &sb,
        "# HELP ergrid_executor_reports_total Reports forwarded to owner brokers, by outcome.\n"
        "# TYPE ergrid_executor_reports_total counter\n"
        "ergrid_executor_reports_total{result=\"accepted\"} %llu\n"
        "ergrid_executor_reports_total{result=\"rejected\"} %llu\n"
        "ergrid_executor_reports_total{result=\"error\"} %llu\n"
        "# HELP ergrid_executor_heartbeat_failures_total Heartbeats that got no 200.\n"
        "# TYPE ergrid_executor_heartbeat_failures_total counter\n"
        "ergrid_executor_heartbeat_failures_total %llu\n"
        "# HELP ergrid_executor_register_failures_total Failed registrations.\n"
        "# TYPE ergrid_executor_register_failures_total counter\n"
        "ergrid_executor_register_failures_total %llu\n",
        (unsigned long long)m.reports_accepted, (unsigned long long)m.reports_rejected,
        (unsigned long long)m.reports_error, (unsigned long long)m.heartbeat_failures,
        (unsigned long long)m.register_failures);
    if (e->steps) {
        size_t queued;
        uint64_t delivered, dropped;
        exec_steps_counts(e, &queued, &delivered, &dropped);
        strbuf_addf(&sb,
                    "# HELP ergrid_executor_status_steps_queued Crew status steps waiting for the "
                    "home broker.\n"
                    "# TYPE ergrid_executor_status_steps_queued gauge\n"
                    "ergrid_executor_status_steps_queued %zu\n"
                    "# HELP ergrid_executor_status_steps_total Crew status steps the home broker "
                    "answered, by how.\n"
                    "# TYPE ergrid_executor_status_steps_total counter\n"
                    "ergrid_executor_status_steps_total{result=\"delivered\"} %llu\n"
                    "ergrid_executor_status_steps_total{result=\"dropped\"} %llu\n",
                    queued, (unsigned long long)delivered, (unsigned long long)dropped);
    }
    strbuf_addf(&sb, "# HELP ergrid_executor_request_duration_seconds HTTP request latency.\n"
                     "# TYPE ergrid_executor_request_duration_seconds histogram\n");
    for (size_t i = 0; i <= e->nroutes && i < sizeof m.latency / sizeof m.latency[0]; i++) {
        if (m.latency[i].count == 0)
            continue;
        char labels[160];
        if (i < e->nroutes)
            snprintf(labels, sizeof labels, "method=\"%s\",route=\"%s\"", e->routes[i].method,
                     e->routes[i].pattern);
        else
            snprintf(labels, sizeof labels, "method=\"\",route=\"unmatched\"");
        histogram_write(&m.latency[i], &sb, "ergrid_executor_request_duration_seconds", labels);
    }
    api_server_metrics(server, &sb);
    if (sb.overflow || !sb.buf) {
        strbuf_release(&sb);
        api_reply_error(res, API_E_INTERNAL, "metrics text too large");
        return;
    }
    api_reply_text(res, 200, "text/plain; version=0.0.4", sb.buf, sb.len);
    strbuf_release(&sb);
}

void exec_on_request(void *ctx, const char *method, const char *route_pattern, unsigned status,
                     double seconds)
{
    executor *e = ctx;
    const size_t slots = sizeof e->metrics.latency / sizeof e->metrics.latency[0];
    size_t idx = e->nroutes < slots ? e->nroutes : slots - 1; /* unmatched */
    for (size_t i = 0; route_pattern && method && i < e->nroutes && i < slots - 1; i++) {
        if (strcmp(e->routes[i].pattern, route_pattern) == 0 &&
            strcmp(e->routes[i].method, method) == 0) {
            idx = i;
            break;
        }
    }
    pthread_mutex_lock(&e->metrics_mu);
    histogram_observe(&e->metrics.latency[idx], seconds);
    pthread_mutex_unlock(&e->metrics_mu);
}
