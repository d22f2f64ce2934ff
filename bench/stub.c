/* In-process executor stub: one HTTP server that plays every unit, so a
 * benchmark can register thousands of units whose assignments are real HTTP
 * calls without starting thousands of processes. It answers the broker like
 * an executor with room to spare: 201 to every assignment, 200 to every
 * revocation. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "bench.h"
#include "hmap.h"

struct stub {
    api_server *srv;
    uint16_t port;
    char url[64];
    bool keep_clocks;
    pthread_mutex_t mu;
    hmap *clocks; /* job id -> malloc'd compact vclock text */
    atomic_ullong assignments, revocations;
};

static void h_assign(api_request *req, api_response *res)
{
    stub *s = req->ctx;
    json_t *job = json_object_get(req->body, "job");
    const char *job_id = json_string_value(json_object_get(job, "id"));
    json_t *att = json_object_get(req->body, "attempt");
    if (!job_id || !json_is_integer(att)) {
        api_reply_error(res, API_E_MISSING_FIELD, "job.id and attempt are required");
        return;
    }
    atomic_fetch_add(&s->assignments, 1);
    if (s->keep_clocks) {
        json_t *vc = json_object_get(req->body, "vclock");
        char *text = vc ? json_dumps(vc, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
        if (text) {
            void *old = NULL;
            pthread_mutex_lock(&s->mu);
            if (hmap_put(s->clocks, job_id, text, &old) < 0) {
                free(text);
                old = NULL;
            }
            pthread_mutex_unlock(&s->mu);
            free(old);
        }
    }
    api_reply_json(res, 201,
                   json_pack("{s:{s:s, s:O, s:s, s:s}}", "assignment", "job_id", job_id, "attempt",
                             att, "unit_id", req->params[0], "state", "active"));
}

static void h_revoke(api_request *req, api_response *res)
{
    stub *s = req->ctx;
    atomic_fetch_add(&s->revocations, 1);
    api_reply_json(
        res, 200,
        json_pack("{s:{s:s, s:s}}", "assignment", "job_id", req->params[1], "state", "revoked"));
}

static const api_route stub_routes[] = {
    {"POST", "/u/{unit}/v1/assignments", h_assign, ROLE_ANY, API_BODY_JSON},
    {"DELETE", "/u/{unit}/v1/assignments/{job}", h_revoke, ROLE_ANY, API_BODY_NONE},
};

stub *stub_start(bool keep_clocks, unsigned threads)
{
    stub *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->keep_clocks = keep_clocks;
    pthread_mutex_init(&s->mu, NULL);
    s->clocks = hmap_new();
    api_server_config cfg = {.host = "127.0.0.1", .port = 0, .threads = threads ? threads : 4};
    s->srv = api_server_start(&cfg, stub_routes, sizeof(stub_routes) / sizeof(stub_routes[0]), s,
                              &s->port);
    if (!s->srv || !s->clocks) {
        bench_fail("cannot start the executor stub");
        stub_stop(s);
        return NULL;
    }
    snprintf(s->url, sizeof(s->url), "http://127.0.0.1:%u/u", s->port);
    return s;
}

const char *stub_url(const stub *s)
{
    return s->url;
}

char *stub_take_clock(stub *s, const char *job_id)
{
    pthread_mutex_lock(&s->mu);
    char *t = hmap_del(s->clocks, job_id);
    pthread_mutex_unlock(&s->mu);
    return t;
}

uint64_t stub_assignments(const stub *s)
{
    return atomic_load(&((stub *)s)->assignments);
}

uint64_t stub_revocations(const stub *s)
{
    return atomic_load(&((stub *)s)->revocations);
}

void stub_stop(stub *s)
{
    if (!s)
        return;
    api_server_stop(s->srv);
    if (s->clocks)
        hmap_free(s->clocks, free);
    pthread_mutex_destroy(&s->mu);
    free(s);
}
