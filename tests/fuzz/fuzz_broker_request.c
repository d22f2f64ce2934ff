/* Fuzz target: the broker's requests through the real dispatcher
 * (api_dispatch, the Taler idea of serving one request from a file) and
 * the broker's route table, on the same broker_core library ergrid-broker
 * links.
 *
 * Input: one or more requests separated by a 0xFF byte (which valid JSON
 * never contains). Each request is one selector byte and a body:
 *   bits 0-4  route: index into broker_routes (modulo its size), the real
 *             route table, so a new route is fuzzed without touching this
 *   bits 5-6  the {id} path parameter, from a small fixed set of ids
 *   bit 7     where units registered by this request live: a fake executor
 *             in this process that accepts every assignment (so attempts
 *             become active and results are arbitrated), or a closed local
 *             port (so dispatch fails like an unreachable executor)
 * The request goes to api_dispatch as POST/GET <the route's path with the
 * id> with the body bytes as a JSON body, so the dispatcher's own checks
 * (body parsing, 400/413/415) run too. Input never chooses a URL: a unit
 * registration's "url" is overwritten with one of the two local ones.
 * Replay also hands every tests/bad_input request (fuzz_replay_http),
 * query and headers included, to api_dispatch on a fresh broker.
 *
 * Every input starts from an empty broker (fresh SQLite file in a mkdtemp
 * directory under $TMPDIR, else /dev/shm, else /tmp), so a crash reproduces from its input alone.
 * After each request: it is 2xx, 4xx, 503 (or 502 from a claim the executor did
 * not take); error replies are {"error":{"code","message"}} with the code matching the status; any
 * "vclock" member is a valid clock; and the broker's model is consistent (queue holds exactly the
 * queued jobs, completed jobs have a result, units hold no more than their capacity, every local
 * hold matches a live attempt). */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "broker.h"
#include "core.h"
#include "fuzz.h"
#include "http_server.h" /* api_dispatch (api/dispatch.h, not the broker's dispatch.h) */
#include "json_fields.h"
#include "routes.h"

#define CLOSED_URL "http://127.0.0.1:1"

static broker *B;
static bool verbose; /* FUZZ_VERBOSE=1: print every request and its reply */
static char data_dir[64];
static char exec_url[64];
static api_server *fake_exec;

static const char *const param_ids[] = {"job-a", "unit-a", "Fuzz-1", "u2"};

/* ---- the fake executor: accepts every assignment and revocation ---- */

static void exec_accept(api_request *req, api_response *res)
{
    api_reply_json(res, 201, json_pack("{s:b}", "accepted", 1));
}

static void exec_ok(api_request *req, api_response *res)
{
    api_reply_json(res, 200, json_pack("{s:b}", "revoked", 1));
}

static const api_route exec_routes[] = {
    {"POST", "/v1/assignments", exec_accept, ROLE_ANY, API_BODY_JSON},
    {"DELETE", "/v1/assignments/{id}", exec_ok, ROLE_ANY, API_BODY_NONE},
};

/* ---- broker lifecycle ---- */

static void wipe_dir(void)
{
    DIR *d = opendir(data_dir);
    struct dirent *e;
    if (!d)
        return;
    while ((e = readdir(d))) {
        char p[512];
        if (e->d_name[0] == '.')
            continue;
        snprintf(p, sizeof(p), "%s/%s", data_dir, e->d_name);
        unlink(p);
    }
    closedir(d);
}

static void cleanup(void)
{
    broker_free(B);
    B = NULL;
    wipe_dir();
    rmdir(data_dir);
    api_server_stop(fake_exec);
    fake_exec = NULL;
}

static void broker_fresh(void)
{
    if (!data_dir[0]) {
        /* SQLite syncs a few times per fresh database: on tmpfs an input
         * costs about a millisecond, on disk ten or more. */
        const char *tmp = getenv("TMPDIR");
        if (!tmp || !*tmp)
            tmp = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
        FUZZ_CHECK(strlen(tmp) < sizeof(data_dir) - 24, "TMPDIR too long");
        snprintf(data_dir, sizeof(data_dir), "%s/ergrid-fuzz-XXXXXX", tmp);
        FUZZ_CHECK(mkdtemp(data_dir) != NULL, "mkdtemp in %s failed", tmp);
        api_server_config sc = {.host = "127.0.0.1", .port = 0, .threads = 1};
        uint16_t port = 0;
        fake_exec = api_server_start(&sc, exec_routes, 2, NULL, &port);
        FUZZ_CHECK(fake_exec != NULL, "cannot start the fake executor");
        snprintf(exec_url, sizeof(exec_url), "http://127.0.0.1:%u", (unsigned)port);
        atexit(cleanup);
        verbose = getenv("FUZZ_VERBOSE") != NULL;
    }
    broker_free(B);
    B = NULL;
    wipe_dir();

    broker_config cfg;
    broker_config_defaults(&cfg);
    snprintf(cfg.id, sizeof(cfg.id), "Fuzz");
    snprintf(cfg.host, sizeof(cfg.host), "127.0.0.1");
    cfg.port = 0;
    snprintf(cfg.data_dir, sizeof(cfg.data_dir), "%s", data_dir);
    cfg.failure_timeout_ms = 3000;
    cfg.sync_interval_ms = 60000;
    cfg.emergency_sync_interval_ms = 5000;
    cfg.threads = 1;
    char err[512];
    B = broker_new(&cfg, err, sizeof(err));
    FUZZ_CHECK(B != NULL, "broker_new: %s", err);
}

/* ---- checks ---- */

static bool route_is(const api_route *r, const char *method, const char *pattern)
{
    return r && strcmp(r->method, method) == 0 && strcmp(r->pattern, pattern) == 0;
}

static void check_reply(const char *method, const char *target, const api_response *res)
{
    static const api_route none = {"-", "(no route)", NULL, ROLE_ANY, API_BODY_NONE};
    const api_route *r = res->route ? res->route : &none;
    unsigned st = res->status;
    bool claim = route_is(res->route, "POST", "/v1/units/{id}/claim");

    (void)method;
    (void)target;
    FUZZ_CHECK((st >= 200 && st < 300) || (st >= 400 && st < 500) || st == 503 ||
                   (st == 502 && claim),
               "%s %s answered %u", r->method, r->pattern, st);
    if (res->text) {
        FUZZ_CHECK(st < 300 && !res->body, "%s %s: text reply with status %u", r->method,
                   r->pattern, st);
        return;
    }
    FUZZ_CHECK(json_is_object(res->body), "%s %s: %u without a JSON object body", r->method,
               r->pattern, st);
    char *text = json_dumps(res->body, JSON_COMPACT);
    FUZZ_CHECK(text != NULL, "%s %s: reply does not serialize", r->method, r->pattern);
    free(text);
    if (st >= 400) {
        json_t *e = json_object_get(res->body, "error");
        const char *code = json_string_value(json_object_get(e, "code"));
        const char *msg = json_string_value(json_object_get(e, "message"));
        FUZZ_CHECK(json_is_object(e) && json_object_size(e) == 2 && code && msg && *msg,
                   "%s %s: %u without {error:{code,message}}", r->method, r->pattern, st);
        bool known = false;
        for (int c = 0; c < API_E__COUNT; c++)
            if (strcmp(api_err_code((api_err)c), code) == 0 && api_err_status((api_err)c) == st)
                known = true;
        FUZZ_CHECK(known, "%s %s: code %s does not go with %u", r->method, r->pattern, code, st);
    }
    json_t *vc = json_object_get(res->body, "vclock");
    if (vc) {
        field_error fe;
        FUZZ_CHECK(vclock_from_json(vc, NULL, &fe) == 0, "%s %s: bad vclock in reply: %s",
                   r->method, r->pattern, fe.message);
    }
}

static void check_model(broker *b)
{
    size_t it = 0;
    const char *key;
    void *val;

    pthread_mutex_lock(&b->mu);
    while (hmap_next(b->st.jobs, &it, &key, &val)) {
        job *j = val;
        FUZZ_CHECK(strcmp(key, j->id) == 0, "job map key %s holds %s", key, j->id);
        FUZZ_CHECK(!j->dispatching, "job %s still dispatching", j->id);
        FUZZ_CHECK((j->status == JOB_QUEUED) == jobq_contains(b->st.queue, j->id),
                   "job %s status %s, in queue %d", j->id, job_status_str(j->status),
                   (int)jobq_contains(b->st.queue, j->id));
        FUZZ_CHECK((j->status == JOB_COMPLETED) == (j->res != NULL),
                   "job %s status %s with result %p", j->id, job_status_str(j->status),
                   (void *)j->res);
        FUZZ_CHECK(j->caps.n >= 1 && j->caps.n <= BROKER_MAX_CAPS, "job %s has %u caps", j->id,
                   (unsigned)j->caps.n);
        size_t active = 0;
        for (size_t i = 0; i < j->nattempts; i++) {
            attempt *a = &j->attempts[i];
            FUZZ_CHECK(a->state != ATT_PENDING, "job %s attempt %u left pending", j->id, a->n);
            if (a->state != ATT_ACTIVE)
                continue;
            active++;
            /* An active attempt on one of our units is held by it, as ours
             * (not as a claim of another district). */
            if (!attempt_is_local(&b->st, a))
                continue;
            unit *u = state_unit(&b->st, a->unit_id);
            const held *h = NULL;
            for (uint32_t k = 0; u && k < u->load && !h; k++)
                if (strcmp(u->held[k].job_id, j->id) == 0 && u->held[k].attempt == a->n)
                    h = &u->held[k];
            FUZZ_CHECK(h != NULL, "job %s attempt %u active but unit %s does not hold it", j->id,
                       a->n, a->unit_id);
            FUZZ_CHECK(!h->foreign, "job %s attempt %u held by unit %s as a claim of %s", j->id,
                       a->n, a->unit_id, h->owner);
        }
        if (j->status == JOB_ASSIGNED)
            FUZZ_CHECK(active >= 1, "job %s assigned without an active attempt", j->id);
        if (j->status == JOB_COMPLETED || j->status == JOB_CANCELLED || j->status == JOB_QUEUED)
            FUZZ_CHECK(active == 0, "job %s %s with %zu active attempts", j->id,
                       job_status_str(j->status), active);
    }
    it = 0;
    while (hmap_next(b->st.units, &it, &key, &val)) {
        unit *u = val;
        FUZZ_CHECK(strcmp(key, u->id) == 0, "unit map key %s holds %s", key, u->id);
        FUZZ_CHECK(u->capacity >= 1 && u->load <= u->capacity, "unit %s load %u capacity %u", u->id,
                   u->load, u->capacity);
        FUZZ_CHECK(u->nnotices <= UNIT_MAX_NOTICES, "unit %s has %zu notices", u->id, u->nnotices);
        for (uint32_t i = 0; i < u->load; i++) {
            const held *h = &u->held[i];
            FUZZ_CHECK(!h->pending, "unit %s hold of %s left pending", u->id, h->job_id);
            if (h->foreign)
                continue;
            job *j = state_job(&b->st, h->job_id);
            FUZZ_CHECK(j != NULL, "unit %s holds unknown job %s", u->id, h->job_id);
            bool live = false;
            for (size_t k = 0; k < j->nattempts; k++)
                live |= j->attempts[k].n == h->attempt &&
                        strcmp(j->attempts[k].unit_id, u->id) == 0 &&
                        j->attempts[k].state == ATT_ACTIVE;
            FUZZ_CHECK(live, "unit %s holds %s attempt %u with no active attempt", u->id, h->job_id,
                       h->attempt);
        }
    }
    pthread_mutex_unlock(&b->mu);
}

/* ---- one request ---- */

/* Input never picks a URL: a registration's url becomes a local one. The
 * body is rewritten only when it is a JSON object with a string url;
 * anything else goes to the dispatcher as it came. *out (free() it) is the
 * new body, or NULL for none. */
static char *force_unit_url(const char *method, const char *target, const uint8_t *body, size_t len,
                            bool closed, size_t *out_len)
{
    size_t plen = strcspn(target, "?");
    json_t *j;
    char *text = NULL;

    if (!body || strcmp(method, "POST") != 0 || plen != 9 || strncmp(target, "/v1/units", 9) != 0)
        return NULL;
    j = json_loadb((const char *)body, len, JSON_REJECT_DUPLICATES, NULL);
    if (json_is_object(j) && json_is_string(json_object_get(j, "url"))) {
        json_object_set_new(j, "url", json_string(closed ? CLOSED_URL : exec_url));
        text = json_dumps(j, JSON_COMPACT);
        *out_len = text ? strlen(text) : 0;
    }
    json_decref(j);
    return text;
}

static void dispatch_one(const char *method, const char *target, const api_field *headers,
                         size_t nheaders, const uint8_t *body, size_t len, bool closed)
{
    static api_dispatcher d;
    static bool d_ok;
    size_t forced_len = 0;
    char *forced = force_unit_url(method, target, body, len, closed, &forced_len);
    api_raw_request rq = {
        .method = method,
        .target = target,
        .headers = headers,
        .nheaders = nheaders,
        .body = forced ? forced : (const char *)body,
        .body_len = forced ? forced_len : (body ? len : 0),
        .ctx = B,
    };
    api_response res;

    if (!d_ok) {
        FUZZ_CHECK(api_dispatcher_init(&d, broker_routes, broker_nroutes, 0) == 0,
                   "the broker's route table is refused");
        d_ok = true;
    }
    api_dispatch(&d, &rq, &res);
    if (verbose) {
        char *t = res.body ? json_dumps(res.body, JSON_COMPACT) : NULL;
        fprintf(stderr, "  %s %s -> %u %.300s\n", method, target, res.status, t ? t : "");
        free(t);
    }
    check_reply(method, target, &res);
    api_response_release(&res);
    free(forced);
    check_model(B);
}

/* One selector-byte record (see the top of the file). */
static void run_record(const uint8_t *data, size_t len)
{
    static const api_field json_type[] = {{"Content-Type", "application/json"}};
    char target[256];
    size_t o = 0;

    if (len == 0)
        return;
    uint8_t sel = data[0];
    const api_route *r = &broker_routes[(sel & 0x1f) % broker_nroutes];
    const char *id = param_ids[(sel >> 5) & 3];
    /* The route's path with the id in every {x}. */
    for (const char *p = r->pattern; *p && o + COORD_ID_MAX + 2 < sizeof(target);) {
        if (*p == '{') {
            const char *close = strchr(p, '}');

            o += (size_t)snprintf(target + o, sizeof(target) - o, "%s", id);
            p = close ? close + 1 : p + strlen(p);
        } else {
            target[o++] = *p++;
        }
    }
    target[o] = '\0';
    dispatch_one(r->method, target, json_type, r->flags == API_BODY_NONE ? 0 : 1,
                 len > 1 || r->flags == API_BODY_JSON ? data + 1 : NULL, len - 1,
                 (sel & 0x80) != 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    broker_fresh();
    size_t start = 0;
    for (size_t i = 0; i <= size; i++) {
        if (i == size || data[i] == 0xff) {
            run_record(data + start, i - start);
            start = i + 1;
        }
    }
    return 0;
}

/* ---- tests/bad_input requests (replay only) ---- */

int fuzz_replay_http(const char *method, const char *target, const fuzz_header *headers,
                     size_t nheaders, const uint8_t *body, size_t len)
{
    api_field fields[FUZZ_MAX_HEADERS];

    for (size_t i = 0; i < nheaders && i < FUZZ_MAX_HEADERS; i++)
        fields[i] = (api_field){headers[i].name, headers[i].value};
    broker_fresh();
    dispatch_one(method, target, fields, nheaders < FUZZ_MAX_HEADERS ? nheaders : FUZZ_MAX_HEADERS,
                 body, len, true);
    return 0;
}
