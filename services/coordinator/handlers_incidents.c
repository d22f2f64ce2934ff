/* /v1/incidents: incident intake. Validates a job submission as a broker
 * would (so garbage never reaches one), picks a district and forwards it to
 * that broker's POST /v1/jobs, answering with the broker's reply plus
 * "district" and "routing". */
#include "handlers_incidents.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coord.h"
#include "context.h"
#include "db.h"
#include "eido_intake.h"
#include "fanout.h"
#include "journal.h"

static const char *const severity_names[] = {"low", "medium", "high", "critical", NULL};
size_t count_free_capable(const json_t *units, const char *district, const char *const *req,
                          size_t nreq)
{
    size_t count = 0, i;
    json_t *u;
    if (!json_is_array(units))
        return 0;
    json_array_foreach (units, i, u) {
        json_t *d = json_object_get(u, "district"), *auth = json_object_get(u, "authoritative");
        json_t *caps = json_object_get(u, "capabilities");
        if (!json_is_object(u) ||
            (d && !(json_is_string(d) && strcmp(json_string_value(d), district) == 0)))
            continue;
        if (auth && !json_is_true(auth))
            continue; /* a synced copy of another district's unit */
        const char *st = json_string_value(json_object_get(u, "status"));
        if (!st || strcmp(st, "available") != 0 || !json_is_array(caps))
            continue;
        const char *offered[COORD_MAX_CAPS * 2];
        size_t noff = 0, k;
        json_t *cap;
        json_array_foreach (caps, k, cap) {
            if (json_is_string(cap) && noff < sizeof(offered) / sizeof(offered[0]))
                offered[noff++] = json_string_value(cap);
        }
        if (caps_match(req, nreq, offered, noff))
            count++;
    }
    return count;
}

/* ---- the request ---- */

struct incident_req {
    char id[COORD_ID_MAX + 1];
    bool has_id;
    char type[COORD_ID_MAX + 1];
    int severity;
    id_list caps;
    json_t *location;
    json_t *payload;
    char district[COORD_ID_MAX + 1];
    bool has_district;
};

static const field_spec incident_fields[] = {
    {"id", FT_ID, offsetof(struct incident_req, id), false, 0, 0, NULL,
     offsetof(struct incident_req, has_id)},
    {"type", FT_ID, offsetof(struct incident_req, type), true, 0, 0, NULL, 0},
    {"severity", FT_ENUM, offsetof(struct incident_req, severity), true, 0, 0, severity_names, 0},
    {"required_capabilities", FT_ID_LIST, offsetof(struct incident_req, caps), true, 1,
     COORD_MAX_CAPS, NULL, 0},
    /* Depth and size are capped by the parser, as a broker caps them. */
    {"location", FT_ANY, offsetof(struct incident_req, location), false, 0, COORD_JSON_FIELD_MAX,
     NULL, 0},
    {"payload", FT_OBJECT, offsetof(struct incident_req, payload), false, 0, COORD_JSON_FIELD_MAX,
     NULL, 0},
    {"district", FT_ID, offsetof(struct incident_req, district), false, 0, 0, NULL,
     offsetof(struct incident_req, has_district)},
    FIELD_END,
};

typedef struct target {
    char id[COORD_ID_MAX + 1];
    leader_set *set; /* the district's URLs (registry.h): lives as long as the process */
} target;

typedef struct probe {
    const target *t;
    route_candidate *cand;
    const char *const *req;
    size_t nreq;
} probe;

/* Reads: any of the district's URLs answers (a follower serves them); one
 * try at each, so a dead district does not hold the routing of an
 * incident for the whole timeout. */
static const leader_call_opts probe_opts = {.http = {.connect_timeout_ms = 300, .timeout_ms = 1000},
                                            .rounds = 1};

static void probe_units(void *arg, size_t i)
{
    probe *p = arg;
    http_reply r = {0};
    if (leader_call(p->t[i].set, "GET", "/v1/units?status=available&scope=local", NULL,
                    &probe_opts, &r, NULL, 0) == 0 &&
        r.status == 200 &&
        json_is_array(json_object_get(r.body, "units"))) {
        p->cand[i].units_ok = true;
        p->cand[i].free_capable =
            count_free_capable(json_object_get(r.body, "units"), p->t[i].id, p->req, p->nreq);
    }
    http_reply_release(&r);
}

static void probe_health(void *arg, size_t i)
{
    probe *p = arg;
    http_reply r = {0};
    if (leader_call(p->t[i].set, "GET", "/v1/health", NULL, &probe_opts, &r, NULL, 0) == 0 &&
        r.status == 200) {
        json_t *q = json_object_get(r.body, "queued");
        if (json_is_integer(q) && json_integer_value(q) >= 0) {
            p->cand[i].health_ok = true;
            p->cand[i].queued = (uint64_t)json_integer_value(q);
        }
    }
    http_reply_release(&r);
}

/* Asks every broker what it could offer until libcoord's routing policy
 * can choose: free capable units first, and only when no district has
 * any, queue lengths. -1 when none answers. */
static long probe_and_choose(const target *t, route_candidate *cand, size_t n,
                             const char *const *req, size_t nreq, route_kind *kind)
{
    probe p = {t, cand, req, nreq};
    fanout_run(n, 16, probe_units, &p);
    long best = route_choose(cand, n, NULL, kind);
    if (best >= 0)
        return best;
    fanout_run(n, 16, probe_health, &p);
    return route_choose(cand, n, NULL, kind);
}

void h_incidents_post(api_request *req, api_response *res)
{
    coordinator *c = req->ctx;
    struct incident_req r;
    memset(&r, 0, sizeof(r));
    field_error fe;
    json_t *fwd = NULL, *eido = NULL;
    target *all = NULL;
    http_reply br = {0};
    const char **reqcaps = NULL;

    /* An EIDO incident is mapped to the own shape first, then checked and
     * routed as any other. */
    if (eido_intake(req, &eido, &fe) < 0 ||
        json_parse_fields(eido ? eido : req->body, incident_fields, &r, &fe) < 0) {
        api_reply_error(res, fe.code, "%s", fe.message);
        goto out;
    }
    reqcaps = calloc(r.caps.n, sizeof(*reqcaps));
    fwd = json_deep_copy(eido ? eido : req->body);
    all = calloc(COORD_MAX_BROKERS, sizeof(*all));
    if (!reqcaps || !fwd || !all) {
        api_reply_error(res, API_E_UNAVAILABLE, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < r.caps.n; i++)
        reqcaps[i] = r.caps.v[i];
    json_object_del(fwd, "district");

    route_kind kind = ROUTE_NAMED;
    char prev[COORD_ID_MAX + 1], prev_kind[16];
    bool retry = false;
    pthread_mutex_lock(&c->mu);
    size_t n = c->nbrokers;
    for (size_t i = 0; i < n; i++) {
        snprintf(all[i].id, sizeof(all[i].id), "%s", c->brokers[i]->id);
        all[i].set = c->brokers[i]->set;
    }
    if (!r.has_district && r.has_id)
        retry =
            cdb_get_incident(c->db, r.id, prev, sizeof(prev), prev_kind, sizeof(prev_kind)) == 0;
    pthread_mutex_unlock(&c->mu);

    route_candidate cand[COORD_MAX_BROKERS];
    memset(cand, 0, sizeof(cand));
    for (size_t i = 0; i < n; i++)
        cand[i].id = all[i].id;
    long best;
    if (r.has_district) {
        best = route_choose(cand, n, r.district, &kind);
        if (best < 0) {
            api_reply_error(res, API_E_NOT_FOUND, "no district %s is registered", r.district);
            goto out;
        }
    } else if (retry && (best = route_find(cand, n, prev)) >= 0 &&
               route_kind_parse(prev_kind, &kind) == 0) {
        /* A retry goes where the first try went, whose broker deduplicates. */
    } else {
        if (n == 0) {
            api_reply_error(res, API_E_UNAVAILABLE, "no district broker is registered");
            goto out;
        }
        best = probe_and_choose(all, cand, n, reqcaps, r.caps.n, &kind);
        if (best < 0) {
            pthread_mutex_lock(&c->mu);
            c->m.route_failures++;
            pthread_mutex_unlock(&c->mu);
            api_reply_error(res, API_E_BAD_GATEWAY, "no district broker could be reached");
            goto out;
        }
    }
    const target *tg = &all[best];

    /* To the district's leader, following a follower's 307. Resent after a
     * try that may have reached a broker only with an id: a POST without
     * one is not idempotent at the broker. */
    leader_call_opts fo = {.http = {.connect_timeout_ms = 1000, .timeout_ms = 10000},
                           .try_timeout_ms = 5000,
                           .no_resend = !r.has_id};
    int frc = leader_call(tg->set, "POST", "/v1/jobs", fwd, &fo, &br, NULL, 0);
    if ((frc < 0 && (br.status == 0 || (br.status >= 300 && br.status < 400))) ||
        !json_is_object(br.body) || br.status < 200 || br.status > 599) {
        pthread_mutex_lock(&c->mu);
        c->m.route_failures++;
        pthread_mutex_unlock(&c->mu);
        if (br.status == 0 || (br.status >= 300 && br.status < 400))
            api_reply_error(res, API_E_BAD_GATEWAY, "district %s could not be reached: %s", tg->id,
                            br.error[0] ? br.error : "transport error");
        else
            api_reply_error(res, API_E_BAD_GATEWAY,
                            "district %s answered %ld without a JSON object", tg->id, br.status);
        goto out;
    }

    json_t *body = br.body;
    br.body = NULL;
    bool ok = br.status >= 200 && br.status < 300;
    pthread_mutex_lock(&c->mu);
    coordinator_merge_clock(c, json_object_get(body, "vclock"));
    if (ok) {
        const char *jid = json_string_value(json_object_get(json_object_get(body, "job"), "id"));
        if (kind == ROUTE_NAMED)
            c->m.routed_named++;
        else if (kind == ROUTE_FREE_UNIT)
            c->m.routed_free_unit++;
        else
            c->m.routed_least_loaded++;
        if (cdb_begin(c->db) == 0) {
            coordinator_event(c, "incident_routed", jid, "to %s (%s)", tg->id,
                              route_kind_str(kind));
            if (r.has_id)
                cdb_put_incident(c->db, r.id, tg->id, route_kind_str(kind), coord_now_wall_ms());
            coordinator_commit(c); /* the broker holds the record; this is our audit trail */
        }
    }
    pthread_mutex_unlock(&c->mu);
    json_object_set_new(body, "district", json_string(tg->id));
    json_object_set_new(body, "routing", json_string(route_kind_str(kind)));
    api_reply_json(res, (unsigned)br.status, body);
out:
    http_reply_release(&br);
    json_decref(eido);
    json_decref(fwd);
    free(all);
    free(reqcaps);
    id_list_release(&r.caps);
}
