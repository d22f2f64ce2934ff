/* Fuzz target: api_dispatch, the dispatcher every service runs, over a
 * small route table of its own whose handlers read their path parameters,
 * query arguments, headers and body.
 *
 * Input: one request in the tests/bad_input text format (fuzz_http_parse:
 * "METHOD TARGET", header lines, a blank line, the body), so any
 * bad_input case is a seed and a crash is a readable file. A header line
 * "X-Fuzz-Dropped: 1" stands for a transport that dropped an oversized
 * body (api_raw_request.body_too_large). The dispatcher's body cap is
 * FUZZ_BODY_CAP, small enough for inputs to cross it.
 *
 * After each request: the status is 100-599; an error status carries
 * exactly {"error":{"code","message"}} with a code of the error table that
 * goes with it; Allow is there on a 405 only, listing the methods of the
 * table; 414 exactly when the target is over API_MAX_URL; a handler ran
 * only for the route api_dispatch reports, with its captures decoded
 * (1-64 bytes, no '/') and its body as the route's flags promise. Replayed
 * with --requests, the bad_input cases go through the same checks.
 * FUZZ_VERBOSE=1 prints every request and its reply. */
#include <jansson.h>

#include "api.h"
#include "fuzz.h"

#define FUZZ_BODY_CAP 512

/* What the handler saw, checked after api_dispatch returns. */
static struct {
    const api_route *route;
    bool ran;
} seen;

static void check_request(const api_route *r, const api_request *req)
{
    size_t want = 0;

    for (const char *p = r->pattern; *p; p++)
        want += *p == '{';
    FUZZ_CHECK(req->nparams == want, "%s: %zu params, pattern has %zu", r->pattern, req->nparams,
               want);
    for (size_t i = 0; i < req->nparams; i++) {
        size_t n = strlen(req->params[i]);
        FUZZ_CHECK(n >= 1 && n <= API_PARAM_MAX && !strchr(req->params[i], '/'),
                   "%s: param %zu is \"%s\"", r->pattern, i, req->params[i]);
    }
    FUZZ_CHECK(req->path[0] == '/' && !strpbrk(req->path, "?#"), "path \"%s\"", req->path);
    if (r->flags & API_BODY_JSON)
        FUZZ_CHECK(json_is_object(req->body), "%s: no object body", r->pattern);
    else if (r->flags & API_BODY_OPTIONAL)
        FUZZ_CHECK(!req->body || json_is_object(req->body), "%s: body not an object", r->pattern);
    else
        FUZZ_CHECK(!req->body, "%s: a body on a route without one", r->pattern);
}

/* Records that the handler of routes[route] ran, and checks its input. */
static void ran(api_request *req, size_t route);

/* ---- handlers: each reads something the request carries ---- */

static void h_list(api_request *req, api_response *res)
{
    const char *status = api_query(req, "status"), *limit = api_query(req, "limit");
    json_t *body = json_pack("{s:s*,s:s*,s:s*}", "status", status, "limit", limit, "accept",
                             api_header(req, "Accept"));

    ran(req, 0);
    /* A query value may hold bytes jansson refuses (not UTF-8): the reply
     * is then a 500, as a real handler's failed json_pack would be. */
    api_reply_json(res, 200, body);
}

static void h_get(api_request *req, api_response *res)
{
    ran(req, 2);
    if (strcmp(req->params[0], "missing") == 0) {
        api_reply_error(res, API_E_NOT_FOUND, "no unit %s", req->params[0]);
        return;
    }
    api_reply_json(res, 200, json_pack("{s:s}", "id", req->params[0]));
}

static void h_create(api_request *req, api_response *res)
{
    const char *id = json_string_value(json_object_get(req->body, "id"));

    ran(req, 1);
    if (!id) {
        api_reply_error(res, API_E_MISSING_FIELD, "id is required");
        return;
    }
    api_reply_json(res, 201, json_pack("{s:s}", "id", id));
}

static void h_nothing(api_request *req, api_response *res)
{
    ran(req, 3); /* sets no status: the dispatcher must answer 500 */
}

static void h_heartbeat(api_request *req, api_response *res)
{
    ran(req, 4);
    api_reply_json(res, 200, json_pack("{s:s,s:b}", "id", req->params[0], "body", req->body != NULL));
}

static void h_result(api_request *req, api_response *res)
{
    ran(req, 5);
    api_reply_error_extra(res, API_E_DUPLICATE_RESULT,
                          json_pack("{s:b,s:O}", "accepted", 0, "result", req->body),
                          "another result won for %s", req->params[0]);
}

static void h_two(api_request *req, api_response *res)
{
    ran(req, 6);
    api_reply_json(res, 200, json_pack("{s:s,s:s}", "a", req->params[0], "b", req->params[1]));
}

static void h_status(api_request *req, api_response *res)
{
    /* The status comes from the path: any number, valid or not. */
    unsigned long code = strtoul(req->params[0], NULL, 10);

    ran(req, 7);
    if (code >= 400 && code <= 599)
        api_reply_error(res, API_E_CONFLICT, "asked for %lu", code);
    else
        api_reply_json(res, (unsigned)code, json_object());
}

static void h_metrics(api_request *req, api_response *res)
{
    ran(req, 8);
    api_reply_text(res, 200, "text/plain; version=0.0.4", "up 1\n", 5);
}

static void h_four(api_request *req, api_response *res)
{
    ran(req, 9);
    api_reply_json(res, 200, json_pack("[s,s,s,s]", req->params[0], req->params[1],
                                       req->params[2], req->params[3]));
}

static const api_route routes[] = {
    {"GET", "/v1/units", h_list, ROLE_ANY, API_BODY_NONE},
    {"POST", "/v1/units", h_create, ROLE_ANY, API_BODY_JSON},
    {"GET", "/v1/units/{id}", h_get, ROLE_ANY, API_BODY_NONE},
    {"DELETE", "/v1/units/{id}", h_nothing, ROLE_ANY, API_BODY_NONE},
    {"POST", "/v1/units/{id}/heartbeat", h_heartbeat, ROLE_UNIT, API_BODY_OPTIONAL},
    {"POST", "/v1/jobs/{id}/results", h_result, ROLE_UNIT, API_BODY_JSON},
    {"GET", "/v1/units/{id}/jobs/{job}", h_two, ROLE_ANY, API_BODY_NONE},
    {"GET", "/v1/status/{code}", h_status, ROLE_ANY, API_BODY_NONE},
    {"GET", "/metrics", h_metrics, ROLE_ANY, API_BODY_NONE},
    {"PUT", "/v1/{a}/{b}/{c}/{d}", h_four, ROLE_ADMIN, API_BODY_OPTIONAL},
};
#define NROUTES (sizeof(routes) / sizeof(routes[0]))

static void ran(api_request *req, size_t route)
{
    FUZZ_CHECK(!seen.ran, "two handlers ran for one request");
    seen.ran = true;
    seen.route = &routes[route];
    check_request(&routes[route], req);
}

/* ---- checks on the reply ---- */

static bool known_method(const char *m)
{
    for (size_t i = 0; i < NROUTES; i++)
        if (strcmp(routes[i].method, m) == 0)
            return true;
    return strcmp(m, "HEAD") == 0;
}

static void check_allow(const api_response *res)
{
    const char *allow = api_response_header(res, "Allow");

    if (res->status != 405) {
        FUZZ_CHECK(!allow, "Allow on a %u", res->status);
        return;
    }
    FUZZ_CHECK(allow && *allow, "405 without Allow");
    const char *cur = allow, *tok;
    size_t len;
    while (coord_next_token(&cur, ", ", &tok, &len)) {
        char m[32];
        snprintf(m, sizeof(m), "%.*s", (int)len, tok);
        FUZZ_CHECK(known_method(m), "Allow lists %s", m);
    }
}

static void check_reply(const char *target, const api_response *res)
{
    unsigned st = res->status;

    FUZZ_CHECK(st >= 100 && st <= 599, "status %u", st);
    FUZZ_CHECK((strlen(target) > API_MAX_URL) == (st == 414), "target of %zu bytes got %u",
               strlen(target), st);
    check_allow(res);
    if (seen.ran)
        FUZZ_CHECK(res->route == seen.route, "%s ran, api_dispatch reports %s",
                   seen.route->pattern, res->route ? res->route->pattern : "none");
    else
        FUZZ_CHECK(st == 400 || st == 404 || st == 405 || st == 413 || st == 414 || st == 415,
                   "no handler ran, yet %u", st);
    if (res->text) {
        FUZZ_CHECK(!res->body && st < 300, "text reply with status %u", st);
        return;
    }
    FUZZ_CHECK(json_is_object(res->body) || json_is_array(res->body), "%u without a JSON body",
               st);
    char *dump = json_dumps(res->body, JSON_COMPACT);
    FUZZ_CHECK(dump != NULL, "reply does not serialize");
    free(dump);
    if (st < 400)
        return;
    json_t *e = json_object_get(res->body, "error");
    const char *code = json_string_value(json_object_get(e, "code"));
    const char *msg = json_string_value(json_object_get(e, "message"));
    FUZZ_CHECK(json_is_object(e) && json_object_size(e) == 2 && code && msg && *msg,
               "%u without {error:{code,message}}", st);
    bool known = false;
    for (int c = 0; c < API_E__COUNT; c++)
        known |= strcmp(api_err_code((api_err)c), code) == 0 && api_err_status((api_err)c) == st;
    FUZZ_CHECK(known, "code %s does not go with %u", code, st);
}

/* ---- one request ---- */

static void dispatch_one(const char *method, const char *target, const fuzz_header *headers,
                         size_t nheaders, const uint8_t *body, size_t len)
{
    static api_dispatcher d;
    static bool inited;
    api_field fields[FUZZ_MAX_HEADERS];
    api_raw_request rq = {.method = method, .target = target, .headers = fields};
    api_response res;

    if (!inited) {
        FUZZ_CHECK(api_dispatcher_init(&d, routes, NROUTES, FUZZ_BODY_CAP) == 0,
                   "the route table is refused");
        inited = true;
    }
    for (size_t i = 0; i < nheaders && i < FUZZ_MAX_HEADERS; i++) {
        fields[rq.nheaders++] = (api_field){headers[i].name, headers[i].value};
        if (strcasecmp(headers[i].name, "X-Fuzz-Dropped") == 0)
            rq.body_too_large = true;
    }
    rq.body = (const char *)body;
    rq.body_len = body ? len : 0;
    memset(&seen, 0, sizeof(seen));
    api_dispatch(&d, &rq, &res);
    if (getenv("FUZZ_VERBOSE")) {
        char *t = res.body ? json_dumps(res.body, JSON_COMPACT) : NULL;
        fprintf(stderr, "  %.20s %.60s -> %u %.200s\n", method, target, res.status,
                t ? t : "");
        free(t);
    }
    check_reply(target, &res);
    api_response_release(&res);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_http h;

    if (fuzz_http_parse(&h, data, size) < 0)
        return 0;
    dispatch_one(h.method, h.target, h.headers, h.nheaders, h.body, h.body_len);
    fuzz_http_release(&h);
    return 0;
}

int fuzz_replay_http(const char *method, const char *target, const fuzz_header *headers,
                     size_t nheaders, const uint8_t *body, size_t len)
{
    dispatch_one(method, target, headers, nheaders, body, len);
    return 0;
}
