/* api_dispatch called directly, without sockets: the dispatch order, the
 * router's captures and Allow lists, HEAD on GET routes, the status
 * guarantee, and api_query/api_header on a dispatched request. */
#include "check_main.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api.h"

#define CAP 64

/* What the last handler saw (the suite runs on one thread). */
static struct {
    int calls;
    const char *method;
    char path[API_MAX_URL + 1];
    char params[API_MAX_PARAMS][API_PARAM_MAX + 1];
    size_t nparams;
    bool had_body;
    void *ctx;
} seen;

static void remember(const api_request *req)
{
    seen.calls++;
    seen.method = req->method;
    snprintf(seen.path, sizeof(seen.path), "%s", req->path);
    seen.nparams = req->nparams;
    for (size_t i = 0; i < req->nparams; i++)
        snprintf(seen.params[i], sizeof(seen.params[i]), "%s", req->params[i]);
    seen.had_body = req->body != NULL;
    seen.ctx = req->ctx;
}

static void h_ok(api_request *req, api_response *res)
{
    remember(req);
    api_reply_json(res, 200, json_pack("{s:b}", "ok", 1));
}

static void h_echo(api_request *req, api_response *res)
{
    remember(req);
    api_reply_json(res, 201, json_pack("{s:O?}", "got", req->body));
}

static void h_nothing(api_request *req, api_response *res)
{
    remember(req);
}

static void h_405(api_request *req, api_response *res)
{
    remember(req);
    api_reply_error(res, API_E_METHOD, "not in this state");
}

static void h_bad_status(api_request *req, api_response *res)
{
    remember(req);
    api_reply_json(res, 42, json_object());
}

static const api_route routes[] = {
    {"GET", "/v1/ping", h_ok, ROLE_ANY, API_BODY_NONE},
    {"POST", "/v1/ping", h_ok, ROLE_ANY, API_BODY_NONE},
    {"GET", "/v1/units/{id}", h_ok, ROLE_ANY, API_BODY_NONE},
    {"DELETE", "/v1/units/{id}", h_ok, ROLE_ANY, API_BODY_NONE},
    {"GET", "/v1/units/{id}/jobs/{job}", h_ok, ROLE_ANY, API_BODY_NONE},
    {"POST", "/v1/units/{id}/jobs/{job}", h_echo, ROLE_ANY, API_BODY_JSON},
    {"POST", "/v1/echo", h_echo, ROLE_ANY, API_BODY_JSON},
    {"POST", "/v1/opt", h_echo, ROLE_ANY, API_BODY_OPTIONAL},
    {"GET", "/v1/nothing", h_nothing, ROLE_ANY, API_BODY_NONE},
    {"GET", "/v1/bad-status", h_bad_status, ROLE_ANY, API_BODY_NONE},
    {"GET", "/v1/query", h_ok, ROLE_ANY, API_BODY_NONE},
    {"PUT", "/v1/query", h_405, ROLE_ANY, API_BODY_NONE},
};

static api_dispatcher disp;
static api_response res;
static const api_field json_ct[] = {{"Content-Type", "application/json"}};

static void setup(void)
{
    memset(&seen, 0, sizeof(seen));
    memset(&res, 0, sizeof(res));
    ck_assert_int_eq(api_dispatcher_init(&disp, routes, sizeof(routes) / sizeof(routes[0]), CAP),
                     0);
}

static void teardown(void)
{
    api_response_release(&res);
}

/* Dispatches into res (released first) and returns its status. */
static unsigned run(const api_raw_request *rq)
{
    api_response_release(&res);
    api_dispatch(&disp, rq, &res);
    return res.status;
}

static unsigned run_simple(const char *method, const char *target)
{
    api_raw_request rq = {.method = method, .target = target};
    return run(&rq);
}

static unsigned run_body(const char *method, const char *target, const char *ctype,
                         const char *body)
{
    api_field h[] = {{"Content-Type", ctype}};
    api_raw_request rq = {.method = method,
                          .target = target,
                          .headers = h,
                          .nheaders = ctype ? 1 : 0,
                          .body = body,
                          .body_len = body ? strlen(body) : 0};
    return run(&rq);
}

/* res is exactly {"error":{"code":code,"message":<non-empty>}} at status. */
static void assert_error(unsigned status, const char *code)
{
    json_t *e = json_object_get(res.body, "error");
    const char *msg = json_string_value(json_object_get(e, "message"));

    ck_assert_uint_eq(res.status, status);
    ck_assert_ptr_null(res.text);
    ck_assert_uint_eq(json_object_size(res.body), 1);
    ck_assert_uint_eq(json_object_size(e), 2);
    ck_assert_str_eq(json_string_value(json_object_get(e, "code")), code);
    ck_assert_ptr_nonnull(msg);
    ck_assert(msg[0] != '\0');
}

static char *filled(const char *prefix, size_t total, char c)
{
    size_t pl = strlen(prefix);
    char *s = malloc(total + 1);
    memcpy(s, prefix, pl);
    memset(s + pl, c, total - pl);
    s[total] = '\0';
    return s;
}

/* ---- routing ---- */

START_TEST(test_ok_and_handler_input)
{
    int ctx;
    api_raw_request rq = {.method = "GET", .target = "/v1/units/LAFD-1?x=1", .ctx = &ctx};

    ck_assert_uint_eq(run(&rq), 200);
    ck_assert_int_eq(seen.calls, 1);
    ck_assert_str_eq(seen.method, "GET");
    ck_assert_str_eq(seen.path, "/v1/units/LAFD-1");
    ck_assert_uint_eq(seen.nparams, 1);
    ck_assert_str_eq(seen.params[0], "LAFD-1");
    ck_assert(!seen.had_body);
    ck_assert_ptr_eq(seen.ctx, &ctx);
    ck_assert_ptr_eq(res.route, &routes[2]);
    ck_assert_str_eq(res.pattern, "/v1/units/{id}");
    ck_assert_uint_eq(res.nheaders, 0);
}
END_TEST

START_TEST(test_captures_decoded)
{
    ck_assert_uint_eq(run_simple("GET", "/v1/units/a%2Eb%41"), 200);
    ck_assert_str_eq(seen.params[0], "a.bA");
    ck_assert_uint_eq(run_simple("GET", "/v1/units/U1/jobs/J%209"), 200);
    ck_assert_uint_eq(seen.nparams, 2);
    ck_assert_str_eq(seen.params[0], "U1");
    ck_assert_str_eq(seen.params[1], "J 9");
    /* the path stays raw */
    ck_assert_str_eq(seen.path, "/v1/units/U1/jobs/J%209");
    ck_assert_str_eq(res.pattern, "/v1/units/{id}/jobs/{job}");
}
END_TEST

START_TEST(test_invalid_id)
{
    static const char *const bad[] = {"/v1/units/a%2Fb", "/v1/units/a%zz", "/v1/units/a%4",
                                      "/v1/units/a%00", "/v1/units/%"};
    char *id64 = filled("/v1/units/", 10 + 64, 'x'), *id65 = filled("/v1/units/", 10 + 65, 'x');
    char *esc64 = filled("/v1/units/", 10 + 3 * 64, 'A');

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        run_simple("GET", bad[i]);
        assert_error(400, "invalid_id");
    }
    ck_assert_int_eq(seen.calls, 0);
    /* the route is known (metrics label it), its handler did not run */
    ck_assert_ptr_eq(res.route, &routes[2]);
    ck_assert_uint_eq(run_simple("GET", id64), 200);
    ck_assert_uint_eq(strlen(seen.params[0]), 64);
    run_simple("GET", id65);
    assert_error(400, "invalid_id");
    /* the limit is on the decoded length: 64 escapes are 64 bytes */
    for (size_t i = 0; i < 64; i++)
        memcpy(esc64 + 10 + 3 * i, "%41", 3);
    ck_assert_uint_eq(run_simple("GET", esc64), 200);
    ck_assert_uint_eq(strlen(seen.params[0]), 64);
    free(id64);
    free(id65);
    free(esc64);
}
END_TEST

START_TEST(test_404)
{
    static const char *const paths[] = {"/v1/nope", "/v1/units/", "/v1/ping/", "/v1/units/a/b",
                                        "/", "//", "", "*", "http://evil/v1/ping", "v1/ping"};

    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        run_simple("GET", paths[i]);
        assert_error(404, "not_found");
        ck_assert_ptr_null(res.route);
        ck_assert_ptr_null(res.pattern);
    }
    run_simple("GET", NULL);
    assert_error(404, "not_found");
    ck_assert_str_eq(
        json_string_value(json_object_get(json_object_get(res.body, "error"), "message")),
        "no such route");
    ck_assert_int_eq(seen.calls, 0);
}
END_TEST

START_TEST(test_405_allow)
{
    run_simple("DELETE", "/v1/ping");
    assert_error(405, "method_not_allowed");
    ck_assert_str_eq(api_response_header(&res, "Allow"), "GET, HEAD, POST");
    ck_assert_ptr_null(res.route);
    ck_assert_str_eq(res.pattern, "/v1/ping");
    run_simple("POST", "/v1/units/x");
    assert_error(405, "method_not_allowed");
    ck_assert_str_eq(api_response_header(&res, "allow"), "GET, HEAD, DELETE");
    /* an unknown or missing method is a 405 too, never a crash */
    run_simple("BREW", "/v1/units/x");
    assert_error(405, "method_not_allowed");
    run_simple(NULL, "/v1/units/x");
    assert_error(405, "method_not_allowed");
    ck_assert_int_eq(seen.calls, 0);
    /* Allow goes with 405 only, and with a handler's 405 too */
    run_simple("GET", "/v1/nope");
    ck_assert_uint_eq(res.nheaders, 0);
    run_simple("PUT", "/v1/query");
    ck_assert_int_eq(seen.calls, 1);
    assert_error(405, "method_not_allowed");
    ck_assert_str_eq(api_response_header(&res, "Allow"), "GET, HEAD, PUT");
    ck_assert_uint_eq(res.nheaders, 1);
}
END_TEST

START_TEST(test_head_served_by_get)
{
    ck_assert_uint_eq(run_simple("HEAD", "/v1/units/U7"), 200);
    ck_assert_str_eq(seen.method, "HEAD");
    ck_assert_str_eq(seen.params[0], "U7");
    ck_assert_ptr_eq(res.route, &routes[2]);
    /* the body stays: dropping it is the transport's job */
    ck_assert_ptr_nonnull(res.body);
    /* HEAD never reaches a route that has no GET */
    run_simple("HEAD", "/v1/echo");
    assert_error(405, "method_not_allowed");
    ck_assert_str_eq(api_response_header(&res, "Allow"), "POST");
}
END_TEST

START_TEST(test_414)
{
    char *at = filled("/v1/query?q=", API_MAX_URL, 'a');
    char *over = filled("/v1/query?q=", API_MAX_URL + 1, 'a');

    ck_assert_uint_eq(run_simple("GET", at), 200);
    run_simple("GET", over);
    assert_error(414, "uri_too_long");
    ck_assert_ptr_null(res.route);
    ck_assert_ptr_null(res.pattern);
    free(at);
    free(over);
}
END_TEST

/* ---- the order between the steps ---- */

START_TEST(test_order)
{
    char *long_target = filled("/v1/units/", API_MAX_URL + 1, 'a');
    char big[CAP + 2];
    api_raw_request rq = {.headers = json_ct, .nheaders = 1, .body = big, .body_len = CAP + 1};

    memset(big, ' ', sizeof(big));
    /* 414 before 404/405 */
    run_simple("BREW", long_target);
    assert_error(414, "uri_too_long");
    /* 404, 405 and 400 invalid_id come before 413 */
    rq.method = "POST";
    rq.target = "/v1/nope";
    run(&rq);
    assert_error(404, "not_found");
    rq.target = "/v1/units/x";
    run(&rq);
    assert_error(405, "method_not_allowed");
    rq.target = "/v1/units/a%2F/jobs/j";
    run(&rq);
    assert_error(400, "invalid_id");
    /* 413 before 415 and the JSON checks, and on a route without a body */
    rq.target = "/v1/echo";
    rq.headers = NULL;
    rq.nheaders = 0;
    run(&rq);
    assert_error(413, "payload_too_large");
    rq.target = "/v1/ping";
    run(&rq);
    assert_error(413, "payload_too_large");
    /* the transport's flag alone is a 413, even with no bytes left */
    rq.body = NULL;
    rq.body_len = 0;
    rq.body_too_large = true;
    run(&rq);
    assert_error(413, "payload_too_large");
    /* empty body before 415 */
    ck_assert_uint_eq(run_body("POST", "/v1/echo", "text/plain", NULL), 400);
    assert_error(400, "invalid_json");
    /* 415 before the JSON parse */
    run_body("POST", "/v1/echo", "text/plain", "{");
    assert_error(415, "unsupported_media_type");
    ck_assert_int_eq(seen.calls, 0);
    free(long_target);
}
END_TEST

START_TEST(test_413_at_cap)
{
    char body[CAP + 2];

    memset(body, ' ', sizeof(body));
    body[0] = '{';
    body[CAP - 1] = '}';
    api_raw_request rq = {.method = "POST",
                          .target = "/v1/echo",
                          .headers = json_ct,
                          .nheaders = 1,
                          .body = body,
                          .body_len = CAP};
    ck_assert_uint_eq(run(&rq), 201);
    rq.body_len = CAP + 1;
    run(&rq);
    assert_error(413, "payload_too_large");
    /* the default cap when none is given */
    ck_assert_int_eq(api_dispatcher_init(&disp, routes, 1, 0), 0);
    ck_assert_uint_eq(disp.body_cap, API_DEFAULT_BODY_CAP);
}
END_TEST

/* ---- bodies ---- */

START_TEST(test_json_body)
{
    ck_assert_uint_eq(run_body("POST", "/v1/echo", "Application/JSON; charset=utf-8", "{\"k\":1}"),
                      201);
    ck_assert(seen.had_body);
    json_t *want = json_pack("{s:{s:i}}", "got", "k", 1);
    ck_assert(json_equal(res.body, want));
    json_decref(want);
    ck_assert_uint_eq(run_body("POST", "/v1/echo", " application/json", "{}"), 201);
    ck_assert_uint_eq(run_body("POST", "/v1/units/U1/jobs/J1", "application/json", "{}"), 201);
    ck_assert_str_eq(seen.params[1], "J1");
}
END_TEST

START_TEST(test_415)
{
    run_body("POST", "/v1/echo", "text/plain", "{}");
    assert_error(415, "unsupported_media_type");
    run_body("POST", "/v1/echo", NULL, "{}");
    assert_error(415, "unsupported_media_type");
    run_body("POST", "/v1/echo", "application/jsonx", "{}");
    assert_error(415, "unsupported_media_type");
    run_body("POST", "/v1/echo", "", "{}");
    assert_error(415, "unsupported_media_type");
    ck_assert_int_eq(seen.calls, 0);
}
END_TEST

START_TEST(test_400_body)
{
    static const char *const bad[] = {"{\"a\":",     "{} x", "\xff\xfe{}", "{\"a\":\"\\u0000\"}",
                                      "[1,2]",       "42",   "null",       "{\"a\":1,\"a\":2}",
                                      "\"string\""};

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        run_body("POST", "/v1/echo", "application/json", bad[i]);
        assert_error(400, "invalid_json");
    }
    /* an empty body, with or without the content type */
    run_body("POST", "/v1/echo", "application/json", "");
    assert_error(400, "invalid_json");
    run_body("POST", "/v1/echo", NULL, NULL);
    assert_error(400, "invalid_json");
    /* bytes after a NUL are still bytes: the length counts, not the string */
    api_raw_request rq = {.method = "POST",
                          .target = "/v1/echo",
                          .headers = json_ct,
                          .nheaders = 1,
                          .body = "{}\0x",
                          .body_len = 4};
    run(&rq);
    assert_error(400, "invalid_json");
    ck_assert_int_eq(seen.calls, 0);
}
END_TEST

START_TEST(test_optional_and_ignored_body)
{
    ck_assert_uint_eq(run_body("POST", "/v1/opt", NULL, NULL), 201);
    ck_assert(!seen.had_body);
    ck_assert_uint_eq(run_body("POST", "/v1/opt", "application/json", "{\"a\":1}"), 201);
    ck_assert(seen.had_body);
    run_body("POST", "/v1/opt", "application/json", "{");
    assert_error(400, "invalid_json");
    run_body("POST", "/v1/opt", "text/plain", "{}");
    assert_error(415, "unsupported_media_type");
    /* a body on a route without one is not read */
    ck_assert_uint_eq(run_body("POST", "/v1/ping", "text/plain", "garbage"), 200);
    ck_assert(!seen.had_body);
    /* a length without bytes is no body */
    api_raw_request rq = {.method = "POST", .target = "/v1/opt", .body = NULL, .body_len = 10};
    ck_assert_uint_eq(run(&rq), 201);
    ck_assert(!seen.had_body);
}
END_TEST

/* ---- the status guarantee ---- */

START_TEST(test_handler_without_status)
{
    run_simple("GET", "/v1/nothing");
    ck_assert_int_eq(seen.calls, 1);
    assert_error(500, "internal");
    run_simple("GET", "/v1/bad-status");
    ck_assert_int_eq(seen.calls, 2);
    assert_error(500, "internal");
    ck_assert_ptr_eq(res.route, &routes[9]);
}
END_TEST

START_TEST(test_no_request)
{
    api_dispatch(&disp, NULL, &res);
    assert_error(500, "internal");
    api_response_release(&res);
    api_dispatch(NULL, NULL, &res);
    assert_error(500, "internal");
    api_dispatch(&disp, NULL, NULL); /* nothing to write to: no crash */
}
END_TEST

/* ---- api_query and api_header ---- */

static const char *query_key;
static char query_val[API_MAX_URL + 1];
static bool query_found;

static void h_query_one(api_request *req, api_response *res_)
{
    const char *v = api_query(req, query_key);
    query_found = v != NULL;
    snprintf(query_val, sizeof(query_val), "%s", v ? v : "");
    api_reply_json(res_, 200, json_object());
}

/* api_query(key) as a handler of target sees it; NULL when absent. */
static const char *query_of(const char *target, const char *key)
{
    static const api_route qr[] = {{"GET", "/q", h_query_one, ROLE_ANY, API_BODY_NONE}};
    api_dispatcher d;
    api_raw_request rq = {.method = "GET", .target = target};

    ck_assert_int_eq(api_dispatcher_init(&d, qr, 1, 0), 0);
    query_key = key;
    query_found = false;
    api_response_release(&res);
    api_dispatch(&d, &rq, &res);
    ck_assert_uint_eq(res.status, 200);
    return query_found ? query_val : NULL;
}

START_TEST(test_api_query)
{
    static const struct {
        const char *target, *key, *want; /* want NULL: api_query answers NULL */
    } cases[] = {
        {"/q?x=a%20b&y=2", "x", "a b"},
        {"/q?x=a%20b&y=2", "y", "2"},
        {"/q?x=1", "z", NULL},
        {"/q", "x", NULL},
        {"/q?", "x", NULL},
        /* the first one wins; an escaped '=' is part of the value */
        {"/q?x=since%3D5&x=second", "x", "since=5"},
        /* '+' is a space, "%2B" a plus */
        {"/q?s=a+b%2Bc", "s", "a b+c"},
        /* keys are decoded and compared case-insensitively */
        {"/q?Sin%63e=7", "since", "7"},
        {"/q?a+b=1", "a b", "1"},
        /* a key without '=' has no value; "k=" has an empty one */
        {"/q?flag&x=1", "flag", NULL},
        {"/q?flag&x=1", "x", "1"},
        {"/q?k=&x=1", "k", ""},
        /* the value runs to the next '&', '=' included */
        {"/q?k=a=b&x", "k", "a=b"},
        /* bad escapes stay as they are */
        {"/q?k=%zz%4", "k", "%zz%4"},
        {"/q?k=100%", "k", "100%"},
        /* empty arguments are skipped over */
        {"/q?&&k=v&&", "k", "v"},
        /* a decoded NUL ends the value; a key holding one matches nothing */
        {"/q?k=ab%00cd", "k", "ab"},
        {"/q?k%00=1", "k", NULL},
        /* the query is everything after the first '?', even past a '#' */
        {"/q?k=a#b", "k", "a#b"},
        {"/q#f?k=1", "k", "1"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *got = query_of(cases[i].target, cases[i].key);
        if (cases[i].want)
            ck_assert_msg(got && strcmp(got, cases[i].want) == 0, "%s [%s]: got %s, want %s",
                          cases[i].target, cases[i].key, got ? got : "NULL", cases[i].want);
        else
            ck_assert_msg(!got, "%s [%s]: got %s, want NULL", cases[i].target, cases[i].key, got);
    }
    /* outside a dispatched request there is nothing to read */
    api_request hand = {0};
    ck_assert_ptr_null(api_query(&hand, "x"));
    ck_assert_ptr_null(api_header(&hand, "x"));
    ck_assert_ptr_null(api_query(NULL, "x"));
    ck_assert_ptr_null(api_header(NULL, "x"));
}
END_TEST

static const char *header_name;
static char header_val[128];
static bool header_found;

static void h_header_one(api_request *req, api_response *res_)
{
    const char *v = api_header(req, header_name);
    header_found = v != NULL;
    snprintf(header_val, sizeof(header_val), "%s", v ? v : "");
    api_reply_json(res_, 200, json_object());
}

static const char *lookup_cb(void *cls, const char *name)
{
    return strcasecmp(name, "X-Test") == 0 ? cls : NULL;
}

static const char *content_type_cb(void *cls, const char *name)
{
    return strcasecmp(name, "Content-Type") == 0 ? cls : NULL;
}

START_TEST(test_api_header)
{
    static const api_route hr[] = {{"GET", "/h", h_header_one, ROLE_ANY, API_BODY_NONE}};
    const api_field fields[] = {{"X-Test", "hello"}, {"x-test", "second"}, {"Other", "o"}};
    api_dispatcher d;
    api_raw_request rq = {.method = "GET", .target = "/h", .headers = fields, .nheaders = 3};

    ck_assert_int_eq(api_dispatcher_init(&d, hr, 1, 0), 0);
    header_name = "x-TEST";
    api_dispatch(&d, &rq, &res);
    ck_assert_uint_eq(res.status, 200);
    ck_assert(header_found);
    ck_assert_str_eq(header_val, "hello");
    api_response_release(&res);
    header_name = "Missing";
    api_dispatch(&d, &rq, &res);
    ck_assert(!header_found);
    api_response_release(&res);
    /* a callback takes precedence over the array */
    rq.header_fn = lookup_cb;
    rq.header_cls = "from-callback";
    header_name = "X-Test";
    api_dispatch(&d, &rq, &res);
    ck_assert_str_eq(header_val, "from-callback");
    api_response_release(&res);
    header_name = "Other";
    api_dispatch(&d, &rq, &res);
    ck_assert(!header_found);
    api_response_release(&res);
    /* the dispatcher reads Content-Type through the same lookup */
    static const api_route er[] = {{"POST", "/e", h_echo, ROLE_ANY, API_BODY_JSON}};
    ck_assert_int_eq(api_dispatcher_init(&d, er, 1, 0), 0);
    api_raw_request post = {.method = "POST",
                            .target = "/e",
                            .header_fn = content_type_cb,
                            .header_cls = "application/json",
                            .body = "{}",
                            .body_len = 2};
    api_dispatch(&d, &post, &res);
    ck_assert_uint_eq(res.status, 201);
    api_response_release(&res);
    post.header_cls = "text/plain";
    api_dispatch(&d, &post, &res);
    assert_error(415, "unsupported_media_type");
}
END_TEST

/* ---- the table and the reply type ---- */

START_TEST(test_bad_tables)
{
    static const api_route no_slash[] = {{"GET", "v1/x", h_ok, ROLE_ANY, 0}};
    static const api_route no_handler[] = {{"GET", "/v1/x", NULL, ROLE_ANY, 0}};
    static const api_route no_method[] = {{NULL, "/v1/x", h_ok, ROLE_ANY, 0}};
    static const api_route five[] = {{"GET", "/{a}/{b}/{c}/{d}/{e}", h_ok, ROLE_ANY, 0}};
    static const api_route four[] = {{"GET", "/{a}/{b}/{c}/{d}", h_ok, ROLE_ANY, 0}};
    api_dispatcher d = {.body_cap = 7};

    ck_assert_int_eq(api_dispatcher_init(&d, no_slash, 1, 0), -1);
    ck_assert_int_eq(api_dispatcher_init(&d, no_handler, 1, 0), -1);
    ck_assert_int_eq(api_dispatcher_init(&d, no_method, 1, 0), -1);
    ck_assert_int_eq(api_dispatcher_init(&d, five, 1, 0), -1);
    ck_assert_int_eq(api_dispatcher_init(&d, NULL, 1, 0), -1);
    ck_assert_int_eq(api_dispatcher_init(NULL, four, 1, 0), -1);
    ck_assert_uint_eq(d.body_cap, 7); /* untouched on failure */
    ck_assert_int_eq(api_dispatcher_init(&d, four, 1, 0), 0);
    ck_assert_int_eq(api_dispatcher_init(&d, NULL, 0, 0), 0);
    /* an empty table answers 404 */
    api_raw_request rq = {.method = "GET", .target = "/"};
    api_dispatch(&d, &rq, &res);
    assert_error(404, "not_found");
    /* four captures, all decoded */
    ck_assert_int_eq(api_dispatcher_init(&d, four, 1, 0), 0);
    rq.target = "/1/2/3/%34";
    api_response_release(&res);
    api_dispatch(&d, &rq, &res);
    ck_assert_uint_eq(res.status, 200);
    ck_assert_uint_eq(seen.nparams, 4);
    ck_assert_str_eq(seen.params[3], "4");
}
END_TEST

/* ---- the service's gate ---- */

static int gate_calls;

/* Redirects every POST, marks every other request. */
static bool gate_post(const api_route *route, api_request *req, api_response *r)
{
    gate_calls++;
    if (strcmp(route->method, "POST") != 0) {
        api_response_add_header(r, "X-Gate", route->pattern);
        return true;
    }
    api_response_add_header(r, "Location", req->raw->target);
    api_reply_error(r, API_E_NOT_LEADER, "elsewhere");
    return false;
}

START_TEST(test_gate)
{
    gate_calls = 0;
    api_dispatcher_set_gate(&disp, gate_post);
    /* a write it answers: the handler never runs, not even for a bad body */
    ck_assert_uint_eq(run_body("POST", "/v1/echo?a=1", "text/plain", "{"), 307);
    assert_error(307, "not_leader");
    ck_assert_str_eq(api_response_header(&res, "Location"), "/v1/echo?a=1");
    ck_assert_int_eq(seen.calls, 0);
    /* a read it lets through, its header kept beside the handler's reply */
    ck_assert_uint_eq(run_simple("GET", "/v1/units/x"), 200);
    ck_assert_str_eq(api_response_header(&res, "X-Gate"), "/v1/units/{id}");
    ck_assert_int_eq(seen.calls, 1);
    /* routing errors come first: the gate sees only routed requests */
    run_simple("POST", "/v1/nowhere");
    assert_error(404, "not_found");
    ck_assert_int_eq(gate_calls, 2);
    api_dispatcher_set_gate(&disp, NULL);
    ck_assert_uint_eq(run_body("POST", "/v1/echo", "application/json", "{}"), 201);
}
END_TEST

START_TEST(test_response_headers)
{
    api_response r = {0};
    char longv[API_REPLY_HEADER_MAX + 1];

    memset(longv, 'v', sizeof(longv));
    longv[API_REPLY_HEADER_MAX] = '\0';
    ck_assert_int_eq(api_response_add_header(&r, "X-A", "1"), 0);
    ck_assert_int_eq(api_response_add_header(&r, "X-B", "a\r\nX-Evil: 1"), -1);
    ck_assert_int_eq(api_response_add_header(&r, "X-B", longv), -1);
    longv[API_REPLY_HEADER_MAX - 1] = '\0';
    ck_assert_int_eq(api_response_add_header(&r, "X-B", longv), 0);
    ck_assert_int_eq(api_response_add_header(&r, "X-C", "3"), 0);
    ck_assert_int_eq(api_response_add_header(&r, "X-D", "4"), 0);
    while (r.nheaders < API_REPLY_HEADERS)
        ck_assert_int_eq(api_response_add_header(&r, "X-F", "6"), 0);
    ck_assert_int_eq(api_response_add_header(&r, "X-E", "5"), -1);
    ck_assert_str_eq(api_response_header(&r, "x-a"), "1");
    ck_assert_ptr_null(api_response_header(&r, "X-E"));
    /* replies leave the headers alone */
    api_reply_error(&r, API_E_CONFLICT, "taken");
    api_reply_text(&r, 200, "text/plain", "up", 2);
    ck_assert_uint_eq(r.nheaders, API_REPLY_HEADERS);
    ck_assert_ptr_null(r.body);
    ck_assert_uint_eq(r.text_len, 2);
    api_response_release(&r);
    ck_assert_uint_eq(r.nheaders, 0);
    ck_assert_ptr_null(r.text);
    api_response_release(&r);
    api_response_release(NULL);
}
END_TEST

Suite *api_suite(void)
{
    Suite *s = suite_create("api_dispatch");
    TCase *tc = tcase_create("dispatch");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_ok_and_handler_input);
    tcase_add_test(tc, test_captures_decoded);
    tcase_add_test(tc, test_invalid_id);
    tcase_add_test(tc, test_404);
    tcase_add_test(tc, test_405_allow);
    tcase_add_test(tc, test_head_served_by_get);
    tcase_add_test(tc, test_414);
    tcase_add_test(tc, test_order);
    tcase_add_test(tc, test_413_at_cap);
    tcase_add_test(tc, test_json_body);
    tcase_add_test(tc, test_415);
    tcase_add_test(tc, test_400_body);
    tcase_add_test(tc, test_optional_and_ignored_body);
    tcase_add_test(tc, test_handler_without_status);
    tcase_add_test(tc, test_no_request);
    tcase_add_test(tc, test_api_query);
    tcase_add_test(tc, test_api_header);
    tcase_add_test(tc, test_bad_tables);
    tcase_add_test(tc, test_response_headers);
    tcase_add_test(tc, test_gate);
    suite_add_tcase(s, tc);
    return s;
}
