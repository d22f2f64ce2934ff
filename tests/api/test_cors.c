/* CORS without sockets: which --cors-origin values are taken, and what
 * api_dispatch answers a preflight and an actual request from an allowed
 * origin, from another one, and on a dispatcher without CORS. */
#include "check_main.h"
#include <stdio.h>
#include <string.h>

#include "api.h"
#include "cors.h"

static void h_ok(api_request *req, api_response *res)
{
    (void)req;
    api_reply_json(res, 200, json_pack("{s:b}", "ok", 1));
}

static const api_route routes[] = {
    {"GET", "/v1/jobs", h_ok, ROLE_ANY, API_BODY_NONE},
    {"POST", "/v1/jobs", h_ok, ROLE_ANY, API_BODY_JSON},
    {"GET", "/v1/jobs/{id}", h_ok, ROLE_ANY, API_BODY_NONE},
};

static api_dispatcher disp;
static api_cors cors;
static api_response res;

static void setup(void)
{
    char err[256];

    memset(&res, 0, sizeof(res));
    memset(&cors, 0, sizeof(cors));
    ck_assert_int_eq(api_dispatcher_init(&disp, routes, sizeof(routes) / sizeof(routes[0]), 0),
                     0);
    ck_assert_int_eq(api_cors_add(&cors, "https://cad.example.org", err, sizeof(err)), 0);
    ck_assert_int_eq(api_cors_add(&cors, "http://127.0.0.1:8080", err, sizeof(err)), 0);
    api_dispatcher_set_cors(&disp, &cors);
}

static void teardown(void)
{
    api_response_release(&res);
}

/* Dispatches method target with Origin (NULL: none) and, for a preflight,
 * Access-Control-Request-Method; returns the status. */
static unsigned send(const char *method, const char *target, const char *origin,
                     const char *request_method)
{
    api_field h[2];
    size_t n = 0;

    if (origin)
        h[n++] = (api_field){"Origin", origin};
    if (request_method)
        h[n++] = (api_field){"Access-Control-Request-Method", request_method};
    api_raw_request rq = {.method = method, .target = target, .headers = h, .nheaders = n};
    api_response_release(&res);
    api_dispatch(&disp, &rq, &res);
    return res.status;
}

static const char *hdr(const char *name)
{
    return api_response_header(&res, name);
}

static void assert_error_code(const char *code)
{
    json_t *e = json_object_get(res.body, "error");
    ck_assert_str_eq(json_string_value(json_object_get(e, "code")), code);
    ck_assert_ptr_nonnull(json_string_value(json_object_get(e, "message")));
}

static void assert_no_cors_headers(void)
{
    for (size_t i = 0; i < res.nheaders; i++)
        ck_assert_msg(strncmp(res.headers[i].name, "Access-Control-", 15) != 0, "%s: %s",
                      res.headers[i].name, res.headers[i].value);
}

START_TEST(test_origin_values)
{
    static const char *const good[] = {
        "https://cad.example.org", "http://127.0.0.1:8080", "http://localhost:3000",
        "https://a-b.example", "http://[::1]:8080", "https://x.example:8443", "*",
    };
    static const char *const bad[] = {
        "",
        "cad.example.org",
        "ftp://cad.example.org",
        "https://",
        "https://cad.example.org/",
        "https://cad.example.org/app",
        "https://CAD.example.org",
        "https://cad.example.org:443",
        "http://cad.example.org:80",
        "https://cad.example.org:0",
        "https://cad.example.org:65536",
        "https://cad.example.org:80a",
        "https://cad.example.org:",
        "https://user@cad.example.org",
        "https://cad.example.org?x",
        "http://[::1",
        "https://.example.org",
        "null",
        "https://aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.example",
    };
    char err[256];
    api_cors c;

    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        memset(&c, 0, sizeof(c));
        ck_assert_msg(api_cors_add(&c, good[i], err, sizeof(err)) == 0, "%s: %s", good[i], err);
        ck_assert(api_cors_allows(&c, good[i]));
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        memset(&c, 0, sizeof(c));
        err[0] = '\0';
        ck_assert_msg(api_cors_add(&c, bad[i], err, sizeof(err)) < 0, "took '%s'", bad[i]);
        ck_assert_msg(strstr(err, "--cors-origin") != NULL, "%s", err);
        ck_assert_uint_eq(c.n, 0);
    }
    memset(&c, 0, sizeof(c));
    ck_assert_int_eq(api_cors_add(&c, "https://cad.example.org:443", err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "default port"));
}
END_TEST

START_TEST(test_origin_cap_and_match)
{
    char err[256], o[64];
    api_cors c;

    memset(&c, 0, sizeof(c));
    for (int i = 0; i < API_CORS_MAX; i++) {
        snprintf(o, sizeof(o), "http://127.0.0.1:%d", 8000 + i);
        ck_assert_int_eq(api_cors_add(&c, o, err, sizeof(err)), 0);
    }
    ck_assert_int_eq(api_cors_add(&c, "http://127.0.0.1:9999", err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "at most"));
    ck_assert(api_cors_allows(&c, "http://127.0.0.1:8000"));
    /* byte for byte: no prefix, no other port, no other scheme */
    ck_assert(!api_cors_allows(&c, "http://127.0.0.1:800"));
    ck_assert(!api_cors_allows(&c, "http://127.0.0.1:80000"));
    ck_assert(!api_cors_allows(&c, "https://127.0.0.1:8000"));
    ck_assert(!api_cors_allows(&c, "null"));
    ck_assert(!api_cors_allows(&c, ""));
    ck_assert(!api_cors_allows(&c, NULL));
    ck_assert(!api_cors_allows(NULL, "http://127.0.0.1:8000"));
}
END_TEST

START_TEST(test_preflight_allowed)
{
    ck_assert_uint_eq(send("OPTIONS", "/v1/jobs", "https://cad.example.org", "POST"), 204);
    ck_assert_ptr_null(res.body);
    ck_assert_uint_eq(res.text_len, 0);
    ck_assert_str_eq(hdr("Access-Control-Allow-Origin"), "https://cad.example.org");
    ck_assert_str_eq(hdr("Access-Control-Allow-Methods"), "GET, HEAD, POST");
    ck_assert_str_eq(hdr("Access-Control-Allow-Headers"),
                     "Authorization, Content-Type, Last-Event-ID");
    ck_assert_str_eq(hdr("Access-Control-Max-Age"), API_CORS_MAX_AGE);
    ck_assert_str_eq(hdr("Vary"), "Origin");
    ck_assert_ptr_null(hdr("Allow"));

    ck_assert_uint_eq(send("OPTIONS", "/v1/jobs/J%2D1?x=1", "http://127.0.0.1:8080", "GET"), 204);
    ck_assert_str_eq(hdr("Access-Control-Allow-Methods"), "GET, HEAD");
    ck_assert_str_eq(hdr("Access-Control-Allow-Origin"), "http://127.0.0.1:8080");
}
END_TEST

START_TEST(test_preflight_refused)
{
    ck_assert_uint_eq(send("OPTIONS", "/v1/jobs", "https://evil.example", "POST"), 403);
    assert_error_code("forbidden");
    assert_no_cors_headers();
    ck_assert_str_eq(hdr("Vary"), "Origin");

    /* an allowed origin, a path that is not there: the router's answer */
    ck_assert_uint_eq(send("OPTIONS", "/v1/nothing", "https://cad.example.org", "GET"), 404);
    assert_error_code("not_found");
    ck_assert_str_eq(hdr("Access-Control-Allow-Origin"), "https://cad.example.org");

    /* OPTIONS that is no preflight (no Access-Control-Request-Method): 405 */
    ck_assert_uint_eq(send("OPTIONS", "/v1/jobs", "https://cad.example.org", NULL), 405);
    assert_error_code("method_not_allowed");
    ck_assert_str_eq(hdr("Allow"), "GET, HEAD, POST");
    ck_assert_str_eq(hdr("Access-Control-Allow-Origin"), "https://cad.example.org");
}
END_TEST

START_TEST(test_actual_replies)
{
    ck_assert_uint_eq(send("GET", "/v1/jobs", "https://cad.example.org", NULL), 200);
    ck_assert_str_eq(hdr("Access-Control-Allow-Origin"), "https://cad.example.org");
    ck_assert_str_eq(hdr("Vary"), "Origin");
    ck_assert_ptr_null(hdr("Access-Control-Allow-Methods"));

    /* error replies too, so a page can read why */
    ck_assert_uint_eq(send("POST", "/v1/jobs", "https://cad.example.org", NULL), 400);
    assert_error_code("invalid_json");
    ck_assert_str_eq(hdr("Access-Control-Allow-Origin"), "https://cad.example.org");
    ck_assert_uint_eq(send("DELETE", "/v1/jobs", "https://cad.example.org", NULL), 405);
    ck_assert_str_eq(hdr("Allow"), "GET, HEAD, POST");
    ck_assert_str_eq(hdr("Access-Control-Allow-Origin"), "https://cad.example.org");

    ck_assert_uint_eq(send("GET", "/v1/jobs", "https://evil.example", NULL), 200);
    assert_no_cors_headers();
    ck_assert_str_eq(hdr("Vary"), "Origin");
    ck_assert_uint_eq(send("GET", "/v1/jobs", NULL, NULL), 200);
    assert_no_cors_headers();
    ck_assert_str_eq(hdr("Vary"), "Origin");
}
END_TEST

START_TEST(test_any_origin)
{
    char err[256];

    ck_assert_int_eq(api_cors_add(&cors, "*", err, sizeof(err)), 0);
    ck_assert_uint_eq(send("OPTIONS", "/v1/jobs", "https://anyone.example", "POST"), 204);
    ck_assert_str_eq(hdr("Access-Control-Allow-Origin"), "*");
    ck_assert_uint_eq(send("GET", "/v1/jobs", "null", NULL), 200);
    ck_assert_str_eq(hdr("Access-Control-Allow-Origin"), "*");
}
END_TEST

START_TEST(test_without_cors)
{
    api_dispatcher_set_cors(&disp, NULL);
    ck_assert_uint_eq(send("OPTIONS", "/v1/jobs", "https://cad.example.org", "POST"), 405);
    assert_error_code("method_not_allowed");
    ck_assert_str_eq(hdr("Allow"), "GET, HEAD, POST");
    assert_no_cors_headers();
    ck_assert_ptr_null(hdr("Vary"));
    ck_assert_uint_eq(send("GET", "/v1/jobs", "https://cad.example.org", NULL), 200);
    assert_no_cors_headers();
    ck_assert_ptr_null(hdr("Vary"));
}
END_TEST

Suite *api_suite(void)
{
    Suite *s = suite_create("api_cors");
    TCase *tc = tcase_create("cors");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_origin_values);
    tcase_add_test(tc, test_origin_cap_and_match);
    tcase_add_test(tc, test_preflight_allowed);
    tcase_add_test(tc, test_preflight_refused);
    tcase_add_test(tc, test_actual_replies);
    tcase_add_test(tc, test_any_origin);
    tcase_add_test(tc, test_without_cors);
    suite_add_tcase(s, tc);
    return s;
}
