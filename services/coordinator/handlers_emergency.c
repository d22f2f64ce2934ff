/* /v1/emergency: the city-wide level. A declaration is stored first, then
 * pushed to every registered broker with short timeouts; a broker that is
 * down is reported, not fatal (it learns the level when it re-registers). */
#include "handlers_emergency.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "context.h"
#include "db.h"
#include "emergency.h"
#include "fanout.h"
#include "journal.h"

struct emergency_req {
    int level;
};

static const field_spec emergency_fields[] = {
    {"level", FT_ENUM, offsetof(struct emergency_req, level), true, 0, 0, emergency_level_names, 0},
    FIELD_END,
};

typedef struct push {
    char id[COORD_ID_MAX + 1];
    leader_set *set; /* the district's URLs (registry.h): lives as long as the process */
    long status;
    json_t *vclock; /* the broker's reply clock, or NULL */
} push;

typedef struct push_set {
    push *p;
    json_t *msg;
} push_set;

static void push_one(void *arg, size_t i)
{
    push_set *s = arg;
    push *p = &s->p[i];
    http_reply r = {0};
    /* A write: to the leader (a level set twice is set once). One try at
     * each URL: a district that is down must not hold every declaration
     * for the whole timeout, and its brokers learn the level again from
     * the registrar's replies. */
    leader_call_opts o = {.http = {.connect_timeout_ms = 300, .timeout_ms = 1000}, .rounds = 1};
    if (leader_call(p->set, "POST", "/v1/emergency", s->msg, &o, &r, NULL, 0) == 0) {
        p->status = r.status;
        json_t *vc = json_object_get(r.body, "vclock");
        if (vc)
            p->vclock = json_incref(vc);
    }
    http_reply_release(&r);
}

void h_emergency_post(api_request *req, api_response *res)
{
    coordinator *c = req->ctx;
    struct emergency_req r = {0};
    field_error fe;
    if (json_parse_fields(req->body, emergency_fields, &r, &fe) < 0) {
        api_reply_error(res, fe.code, "%s", fe.message);
        return;
    }
    push *pushes = calloc(COORD_MAX_BROKERS, sizeof(*pushes));
    if (!pushes) {
        api_reply_error(res, API_E_UNAVAILABLE, "out of memory");
        return;
    }
    /* One declaration at a time, so brokers see levels in declaration order. */
    pthread_mutex_lock(&c->emergency_mu);
    pthread_mutex_lock(&c->mu);
    /* Stamps only go up, so brokers can tell the newer of two declarations
     * even when the wall clock steps back. */
    uint64_t now = coord_now_wall_ms();
    if (now <= c->level_set_ms)
        now = c->level_set_ms + 1;
    char ms[32];
    snprintf(ms, sizeof(ms), "%llu", (unsigned long long)now);
    if (cdb_begin(c->db) < 0 ||
        cdb_put_meta(c->db, "emergency_level", emergency_level_names[r.level]) < 0 ||
        cdb_put_meta(c->db, "emergency_set_ms", ms) < 0) {
        cdb_rollback(c->db);
        pthread_mutex_unlock(&c->mu);
        pthread_mutex_unlock(&c->emergency_mu);
        free(pushes);
        api_reply_error(res, API_E_UNAVAILABLE, "storage failure");
        return;
    }
    coordinator_event(c, "emergency_declared", NULL, "city-wide level %s (was %s)",
                      emergency_level_names[r.level], emergency_level_names[c->level]);
    if (coordinator_commit(c) < 0) {
        pthread_mutex_unlock(&c->mu);
        pthread_mutex_unlock(&c->emergency_mu);
        free(pushes);
        api_reply_error(res, API_E_UNAVAILABLE, "storage failure");
        return;
    }
    c->level = (emergency_level)r.level;
    c->level_set_ms = now;
    c->m.emergency_declarations++;
    size_t n = c->nbrokers;
    for (size_t i = 0; i < n; i++) {
        snprintf(pushes[i].id, sizeof(pushes[i].id), "%s", c->brokers[i]->id);
        pushes[i].set = c->brokers[i]->set;
    }
    push_set set = {pushes,
                    json_pack("{s:s, s:I, s:o}", "level", emergency_level_names[r.level], "set_ms",
                              (json_int_t)now, "vclock", coordinator_clock_json(c))};
    pthread_mutex_unlock(&c->mu);

    fanout_run(n, 16, push_one, &set);

    json_t *report = json_array();
    pthread_mutex_lock(&c->mu);
    for (size_t i = 0; i < n; i++) {
        bool ok = pushes[i].status >= 200 && pushes[i].status < 300;
        if (ok) {
            c->m.emergency_pushes_ok++;
            coordinator_merge_clock(c, pushes[i].vclock);
        } else {
            c->m.emergency_pushes_failed++;
        }
        json_array_append_new(report, json_pack("{s:s, s:b, s:I}", "id", pushes[i].id, "delivered",
                                                ok, "status", (json_int_t)pushes[i].status));
        json_decref(pushes[i].vclock);
    }
    json_t *body =
        json_pack("{s:o, s:o, s:o}", "emergency", emergency_json(c->level, c->level_set_ms),
                  "brokers", report, "vclock", coordinator_clock_json(c));
    pthread_mutex_unlock(&c->mu);
    pthread_mutex_unlock(&c->emergency_mu);
    json_decref(set.msg);
    free(pushes);
    api_reply_json(res, 200, body);
}

void h_emergency_get(api_request *req, api_response *res)
{
    coordinator *c = req->ctx;
    pthread_mutex_lock(&c->mu);
    json_t *body = json_pack("{s:o, s:o}", "emergency", emergency_json(c->level, c->level_set_ms),
                             "vclock", coordinator_clock_json(c));
    pthread_mutex_unlock(&c->mu);
    api_reply_json(res, 200, body);
}
