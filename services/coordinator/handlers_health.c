/* GET /v1/health and GET /metrics (handlers_health.h). */
#include "handlers_health.h"

#include <stdio.h>

#include "context.h"
#include "emergency.h"
#include "journal.h"

void h_health(api_request *req, api_response *res)
{
    coordinator *c = req->ctx;
    pthread_mutex_lock(&c->mu);
    json_t *body = json_pack("{s:s, s:s, s:I, s:s, s:o}", "status", "ok", "service", "coordinator",
                             "brokers", (json_int_t)c->nbrokers, "emergency",
                             emergency_level_names[c->level], "vclock", coordinator_clock_json(c));
    pthread_mutex_unlock(&c->mu);
    api_reply_json(res, 200, body);
}

static void counter(strbuf *sb, const char *name, const char *help, const char *labels, uint64_t v,
                    bool header)
{
    if (header)
        strbuf_addf(sb, "# HELP %s %s\n# TYPE %s counter\n", name, help, name);
    strbuf_addf(sb, "%s%s %llu\n", name, labels ? labels : "", (unsigned long long)v);
}

void h_metrics(api_request *req, api_response *res)
{
    coordinator *c = req->ctx;
    strbuf sb;
    strbuf_init(&sb, 1 << 20);
    pthread_mutex_lock(&c->mu);
    const coordinator_metrics *m = &c->m;
    const char *routed = "ergrid_incidents_routed_total";
    counter(&sb, routed, "Incidents forwarded to a district broker, by how it was chosen.",
            "{routing=\"named\"}", m->routed_named, true);
    counter(&sb, routed, NULL, "{routing=\"free_unit\"}", m->routed_free_unit, false);
    counter(&sb, routed, NULL, "{routing=\"least_loaded\"}", m->routed_least_loaded, false);
    counter(&sb, "ergrid_incident_route_failures_total",
            "Incidents that could not be handed to any broker.", NULL, m->route_failures, true);
    const char *reg = "ergrid_broker_registrations_total";
    counter(&sb, reg, "POST /v1/brokers calls, new brokers and updates/refreshes.",
            "{kind=\"new\"}", m->registrations_new, true);
    counter(&sb, reg, NULL, "{kind=\"update\"}", m->registrations_update, false);
    counter(&sb, "ergrid_emergency_declarations_total", "Emergency levels declared.", NULL,
            m->emergency_declarations, true);
    const char *push = "ergrid_emergency_pushes_total";
    counter(&sb, push, "Emergency level pushes to brokers, by outcome.", "{outcome=\"delivered\"}",
            m->emergency_pushes_ok, true);
    counter(&sb, push, NULL, "{outcome=\"failed\"}", m->emergency_pushes_failed, false);
    const char *polls = "ergrid_broker_polls_total";
    counter(&sb, polls, "Poller rounds per broker, by outcome.", "{outcome=\"ok\"}", m->polls_ok,
            true);
    counter(&sb, polls, NULL, "{outcome=\"failed\"}", m->polls_failed, false);
    size_t reachable = 0;
    for (size_t i = 0; i < c->nbrokers; i++)
        reachable += c->brokers[i]->reachable;
    strbuf_addf(&sb,
                "# HELP ergrid_brokers Registered district brokers.\n# TYPE ergrid_brokers gauge\n"
                "ergrid_brokers %zu\n"
                "# HELP ergrid_brokers_reachable Brokers whose last poll succeeded.\n"
                "# TYPE ergrid_brokers_reachable gauge\nergrid_brokers_reachable %zu\n"
                "# HELP ergrid_emergency_level Current city-wide level (0 low .. 3 critical).\n"
                "# TYPE ergrid_emergency_level gauge\nergrid_emergency_level %d\n",
                c->nbrokers, reachable, (int)c->level);
    strbuf_addf(&sb, "# HELP ergrid_request_duration_seconds HTTP request latency.\n"
                     "# TYPE ergrid_request_duration_seconds histogram\n");
    histogram_write(&m->latency, &sb, "ergrid_request_duration_seconds", NULL);
    api_server *server = c->server;
    pthread_mutex_unlock(&c->mu);
    api_server_metrics(server, &sb);
    api_sse_metrics(c->sse, &sb);
    api_reply_text(res, 200, "text/plain; version=0.0.4", sb.buf, sb.len);
    strbuf_release(&sb);
}
