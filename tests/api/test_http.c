/* api/http_server.c and api/http_client.c against each other on loopback;
 * the server's HTTP-level checks (Host, Transfer-Encoding, Expect) and its
 * connection limits and read deadline, with raw sockets from 127/8 source
 * addresses. */
#include <check.h>
#include <errno.h>
#include <poll.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "api.h"

#define CAP 1024

static api_server *srv;
static uint16_t port;
static atomic_int hits_503;
static atomic_int requests_seen;
static pthread_mutex_t last_lock = PTHREAD_MUTEX_INITIALIZER;
static char last_pattern[128];
static unsigned last_status;

/* ---- handlers ---- */

static void h_ping(api_request *req, api_response *res)
{
    const char *x = api_query(req, "x");
    api_reply_json(res, 200, json_pack("{s:b,s:s*}", "ok", 1, "x", x));
}

static void h_unit(api_request *req, api_response *res)
{
    api_reply_json(res, 200, json_pack("{s:s,s:i}", "id", req->params[0], "n", (int)req->nparams));
}

static void h_two(api_request *req, api_response *res)
{
    api_reply_json(res, 200, json_pack("{s:s,s:s}", "a", req->params[0], "b", req->params[1]));
}

static void h_echo(api_request *req, api_response *res)
{
    api_reply_json(res, 201, json_pack("{s:O}", "got", req->body));
}

static void h_opt(api_request *req, api_response *res)
{
    api_reply_json(res, 200, json_pack("{s:b}", "has_body", req->body != NULL));
}

static void h_nothing(api_request *req, api_response *res)
{
    (void)req;
    (void)res;
}

static void h_503(api_request *req, api_response *res)
{
    atomic_fetch_add(&hits_503, 1);
    api_reply_error(res, API_E_UNAVAILABLE, "try later");
}

static void h_big(api_request *req, api_response *res)
{
    char *s = malloc(100001);
    memset(s, 'a', 100000);
    s[100000] = '\0';
    api_reply_json(res, 200, json_pack("{s:s}", "big", s));
    free(s);
}

static void h_extra(api_request *req, api_response *res)
{
    api_reply_error_extra(res, API_E_DUPLICATE_RESULT,
                          json_pack("{s:b,s:{s:s}}", "accepted", 0, "result", "unit_id", "LAFD-1"),
                          "another result won (%d)", 7);
}

static void h_metrics(api_request *req, api_response *res)
{
    static const char txt[] = "up 1\n";
    api_reply_text(res, 200, "text/plain; version=0.0.4", txt, sizeof(txt) - 1);
}

static void h_header(api_request *req, api_response *res)
{
    api_reply_json(res, 200, json_pack("{s:s?}", "h", api_header(req, "X-Test")));
}

static const api_route routes[] = {
    {"GET", "/v1/ping", h_ping, ROLE_ANY, API_BODY_NONE},
    {"POST", "/v1/ping", h_ping, ROLE_ANY, API_BODY_NONE},
    {"GET", "/v1/units/{id}", h_unit, ROLE_ANY, API_BODY_NONE},
    {"GET", "/v1/units/{id}/jobs/{job}", h_two, ROLE_ANY, API_BODY_NONE},
    {"POST", "/v1/echo", h_echo, ROLE_ANY, API_BODY_JSON},
    {"POST", "/v1/opt", h_opt, ROLE_ANY, API_BODY_OPTIONAL},
    {"GET", "/v1/nothing", h_nothing, ROLE_ANY, API_BODY_NONE},
    {"GET", "/v1/busy", h_503, ROLE_ANY, API_BODY_NONE},
    {"GET", "/v1/big", h_big, ROLE_ANY, API_BODY_NONE},
    {"POST", "/v1/extra", h_extra, ROLE_ANY, API_BODY_NONE},
    {"GET", "/metrics", h_metrics, ROLE_ANY, API_BODY_NONE},
    {"GET", "/v1/header", h_header, ROLE_ANY, API_BODY_NONE},
};

static void on_req(void *ctx, const char *method, const char *pattern, unsigned status, double secs)
{
    (void)ctx;
    (void)method;
    (void)secs;
    atomic_fetch_add(&requests_seen, 1);
    pthread_mutex_lock(&last_lock);
    snprintf(last_pattern, sizeof(last_pattern), "%s", pattern);
    last_status = status;
    pthread_mutex_unlock(&last_lock);
}

static void setup(void)
{
    api_server_config cfg = {
        .host = "127.0.0.1", .port = 0, .body_cap = CAP, .threads = 2, .on_request = on_req};
    srv = api_server_start(&cfg, routes, sizeof(routes) / sizeof(routes[0]), NULL, &port);
    ck_assert_ptr_nonnull(srv);
    ck_assert_uint_ne(port, 0);
}

static void teardown(void)
{
    api_server_stop(srv);
    srv = NULL;
    http_client_thread_cleanup();
}

/* ---- raw client (exact control over headers and body) ---- */

typedef struct resp {
    long status;
    char body[200000];
    size_t len;
    char headers[8192];
    size_t hlen;
    json_t *json;
} resp;

static size_t wr_body(char *d, size_t s, size_t n, void *u)
{
    resp *r = u;
    size_t k = s * n;
    if (k > sizeof(r->body) - 1 - r->len)
        k = sizeof(r->body) - 1 - r->len;
    memcpy(r->body + r->len, d, k);
    r->len += k;
    r->body[r->len] = '\0';
    return s * n;
}

static size_t wr_hdr(char *d, size_t s, size_t n, void *u)
{
    resp *r = u;
    size_t k = s * n;
    if (k > sizeof(r->headers) - 1 - r->hlen)
        k = sizeof(r->headers) - 1 - r->hlen;
    memcpy(r->headers + r->hlen, d, k);
    r->hlen += k;
    r->headers[r->hlen] = '\0';
    return s * n;
}

static resp *raw(const char *method, const char *path, const char *ctype, const char *body,
                 long blen)
{
    resp *r = calloc(1, sizeof(*r));
    CURL *c = curl_easy_init();
    struct curl_slist *h = NULL;
    char url[8192], ct[256];
    CURLcode rc;

    snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", port, path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 5000L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, wr_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, wr_hdr);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
    h = curl_slist_append(h, "Expect:");
    if (ctype) {
        snprintf(ct, sizeof(ct), "Content-Type: %s", ctype);
        h = curl_slist_append(h, ct);
    } else {
        h = curl_slist_append(h, "Content-Type:");
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    if (strcmp(method, "HEAD") == 0) {
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    } else if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, blen);
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    } else {
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    }
    rc = curl_easy_perform(c);
    ck_assert_msg(rc == CURLE_OK, "curl: %s", curl_easy_strerror(rc));
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    r->json = json_loadb(r->body, r->len, 0, NULL);
    return r;
}

static void resp_free(resp *r)
{
    json_decref(r->json);
    free(r);
}

static const char *err_code(const resp *r)
{
    return json_string_value(json_object_get(json_object_get(r->json, "error"), "code"));
}

static void assert_error(resp *r, long status, const char *code)
{
    ck_assert_int_eq(r->status, status);
    ck_assert_ptr_nonnull(r->json);
    ck_assert_str_eq(err_code(r), code);
    ck_assert(json_is_string(json_object_get(json_object_get(r->json, "error"), "message")));
    resp_free(r);
}

static void url_of(char *buf, size_t n, const char *path)
{
    snprintf(buf, n, "http://127.0.0.1:%u%s", port, path);
}

/* ---- tests ---- */

START_TEST(test_get_ok)
{
    resp *r = raw("GET", "/v1/ping", NULL, NULL, 0);
    ck_assert_int_eq(r->status, 200);
    ck_assert_str_eq(r->body, "{\"ok\":true}");
    ck_assert_ptr_nonnull(strcasestr(r->headers, "Content-Type: application/json"));
    resp_free(r);
    pthread_mutex_lock(&last_lock);
    ck_assert_str_eq(last_pattern, "/v1/ping");
    ck_assert_uint_eq(last_status, 200);
    pthread_mutex_unlock(&last_lock);
    ck_assert_int_ge(atomic_load(&requests_seen), 1);
}
END_TEST

START_TEST(test_http_json_get)
{
    char url[256];
    http_reply rep;
    url_of(url, sizeof(url), "/v1/ping?x=a%20b&y=2");
    ck_assert_int_eq(http_json("GET", url, NULL, NULL, &rep), 0);
    ck_assert_int_eq(rep.status, 200);
    ck_assert(json_is_true(json_object_get(rep.body, "ok")));
    ck_assert_str_eq(json_string_value(json_object_get(rep.body, "x")), "a b");
    http_reply_release(&rep);
    http_reply_release(&rep); /* idempotent */
    http_reply_release(NULL);
    /* a second call on the same thread reuses the cached handle */
    ck_assert_int_eq(http_json("GET", url, NULL, NULL, &rep), 0);
    ck_assert_int_eq(rep.status, 200);
    http_reply_release(&rep);
}
END_TEST

START_TEST(test_capture)
{
    resp *r = raw("GET", "/v1/units/LAFD-1", NULL, NULL, 0);
    ck_assert_int_eq(r->status, 200);
    ck_assert_str_eq(r->body, "{\"id\":\"LAFD-1\",\"n\":1}");
    resp_free(r);
    r = raw("GET", "/v1/units/a%2Eb%41", NULL, NULL, 0);
    ck_assert_int_eq(r->status, 200);
    ck_assert_str_eq(json_string_value(json_object_get(r->json, "id")), "a.bA");
    resp_free(r);
    r = raw("GET", "/v1/units/U1/jobs/J9", NULL, NULL, 0);
    ck_assert_str_eq(r->body, "{\"a\":\"U1\",\"b\":\"J9\"}");
    pthread_mutex_lock(&last_lock);
    ck_assert_str_eq(last_pattern, "/v1/units/{id}/jobs/{job}");
    pthread_mutex_unlock(&last_lock);
    resp_free(r);
    /* an encoded slash, a bad escape and an encoded NUL are refused */
    assert_error(raw("GET", "/v1/units/a%2Fb", NULL, NULL, 0), 400, "invalid_id");
    assert_error(raw("GET", "/v1/units/a%zz", NULL, NULL, 0), 400, "invalid_id");
    assert_error(raw("GET", "/v1/units/a%4", NULL, NULL, 0), 400, "invalid_id");
    assert_error(raw("GET", "/v1/units/a%00", NULL, NULL, 0), 400, "invalid_id");
}
END_TEST

START_TEST(test_capture_length)
{
    char path[256], id[80];
    memset(id, 'x', 64);
    id[64] = '\0';
    snprintf(path, sizeof(path), "/v1/units/%s", id);
    resp *r = raw("GET", path, NULL, NULL, 0);
    ck_assert_int_eq(r->status, 200);
    ck_assert_str_eq(json_string_value(json_object_get(r->json, "id")), id);
    resp_free(r);
    snprintf(path, sizeof(path), "/v1/units/%sx", id);
    assert_error(raw("GET", path, NULL, NULL, 0), 400, "invalid_id");
}
END_TEST

START_TEST(test_404)
{
    resp *r = raw("GET", "/v1/nope", NULL, NULL, 0);
    json_t *want =
        json_pack("{s:{s:s,s:s}}", "error", "code", "not_found", "message", "no such route");
    ck_assert_int_eq(r->status, 404);
    ck_assert(json_equal(r->json, want));
    json_decref(want);
    resp_free(r);
    pthread_mutex_lock(&last_lock);
    ck_assert_str_eq(last_pattern, "unmatched");
    ck_assert_uint_eq(last_status, 404);
    pthread_mutex_unlock(&last_lock);
    assert_error(raw("GET", "/v1/units/", NULL, NULL, 0), 404, "not_found");
    assert_error(raw("GET", "/v1/ping/", NULL, NULL, 0), 404, "not_found");
    assert_error(raw("GET", "/v1/units/a/b", NULL, NULL, 0), 404, "not_found");
    assert_error(raw("GET", "/", NULL, NULL, 0), 404, "not_found");
    assert_error(raw("GET", "//", NULL, NULL, 0), 404, "not_found");
}
END_TEST

START_TEST(test_405_allow)
{
    resp *r = raw("DELETE", "/v1/ping", NULL, NULL, 0);
    ck_assert_int_eq(r->status, 405);
    ck_assert_str_eq(err_code(r), "method_not_allowed");
    ck_assert_ptr_nonnull(strstr(r->headers, "Allow: GET, HEAD, POST"));
    resp_free(r);
    r = raw("POST", "/v1/units/x", "application/json", "{}", 2);
    ck_assert_int_eq(r->status, 405);
    ck_assert_ptr_nonnull(strstr(r->headers, "Allow: GET, HEAD"));
    resp_free(r);
}
END_TEST

START_TEST(test_head_on_get)
{
    resp *r = raw("HEAD", "/v1/ping", NULL, NULL, 0);
    ck_assert_int_eq(r->status, 200);
    ck_assert_uint_eq(r->len, 0);
    resp_free(r);
}
END_TEST

static char *json_of_len(size_t len)
{
    /* {"a":"xxx...x"} of exactly len bytes */
    char *s = malloc(len + 1);
    memcpy(s, "{\"a\":\"", 6);
    memset(s + 6, 'x', len - 8);
    memcpy(s + len - 2, "\"}", 3);
    return s;
}

START_TEST(test_413_cap)
{
    char *at = json_of_len(CAP), *over = json_of_len(CAP + 1);
    resp *r = raw("POST", "/v1/echo", "application/json", at, CAP);
    ck_assert_int_eq(r->status, 201);
    resp_free(r);
    assert_error(raw("POST", "/v1/echo", "application/json", over, CAP + 1), 413,
                 "payload_too_large");
    /* also on a route that ignores bodies */
    assert_error(raw("POST", "/v1/ping", "application/json", over, CAP + 1), 413,
                 "payload_too_large");
    free(at);
    free(over);
}
END_TEST

START_TEST(test_413_large_upload)
{
    size_t n = 3u << 20; /* beyond the drain limit too */
    char *big = malloc(n);
    memset(big, ' ', n);
    big[0] = '{';
    big[n - 1] = '}';
    CURL *c = curl_easy_init();
    char url[256];
    long status = 0;
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    url_of(url, sizeof(url), "/v1/echo");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, big);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)n);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, wr_body);
    resp *r = calloc(1, sizeof(*r));
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    /* The server may answer early and close; either way it must not grow
     * memory, must not crash, and must keep serving. */
    if (curl_easy_perform(c) == CURLE_OK) {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        ck_assert_int_eq(status, 413);
    }
    free(r);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    free(big);
    r = raw("GET", "/v1/ping", NULL, NULL, 0);
    ck_assert_int_eq(r->status, 200);
    resp_free(r);
}
END_TEST

START_TEST(test_415)
{
    assert_error(raw("POST", "/v1/echo", "text/plain", "{}", 2), 415, "unsupported_media_type");
    assert_error(raw("POST", "/v1/echo", NULL, "{}", 2), 415, "unsupported_media_type");
    assert_error(raw("POST", "/v1/echo", "application/jsonx", "{}", 2), 415,
                 "unsupported_media_type");
    resp *r = raw("POST", "/v1/echo", "Application/JSON; charset=utf-8", "{\"k\":1}", 7);
    ck_assert_int_eq(r->status, 201);
    ck_assert_str_eq(r->body, "{\"got\":{\"k\":1}}");
    resp_free(r);
}
END_TEST

START_TEST(test_400_malformed)
{
    assert_error(raw("POST", "/v1/echo", "application/json", "{\"a\":", 5), 400, "invalid_json");
    assert_error(raw("POST", "/v1/echo", "application/json", "{} x", 4), 400, "invalid_json");
    assert_error(raw("POST", "/v1/echo", "application/json", "\xff\xfe{}", 4), 400, "invalid_json");
    assert_error(raw("POST", "/v1/echo", "application/json", "{\"a\":\"\\u0000\"}", 13), 400,
                 "invalid_json");
}
END_TEST

START_TEST(test_400_not_object)
{
    assert_error(raw("POST", "/v1/echo", "application/json", "[1,2]", 5), 400, "invalid_json");
    assert_error(raw("POST", "/v1/echo", "application/json", "42", 2), 400, "invalid_json");
    assert_error(raw("POST", "/v1/echo", "application/json", "null", 4), 400, "invalid_json");
}
END_TEST

START_TEST(test_400_duplicate_keys)
{
    const char *b = "{\"a\":1,\"a\":2}";
    assert_error(raw("POST", "/v1/echo", "application/json", b, (long)strlen(b)), 400,
                 "invalid_json");
}
END_TEST

START_TEST(test_400_empty_body)
{
    assert_error(raw("POST", "/v1/echo", "application/json", "", 0), 400, "invalid_json");
    assert_error(raw("POST", "/v1/echo", NULL, NULL, 0), 400, "invalid_json");
}
END_TEST

START_TEST(test_optional_body)
{
    resp *r = raw("POST", "/v1/opt", NULL, "", 0);
    ck_assert_int_eq(r->status, 200);
    ck_assert_str_eq(r->body, "{\"has_body\":false}");
    resp_free(r);
    r = raw("POST", "/v1/opt", "application/json", "{\"a\":1}", 7);
    ck_assert_str_eq(r->body, "{\"has_body\":true}");
    resp_free(r);
    assert_error(raw("POST", "/v1/opt", "application/json", "{", 1), 400, "invalid_json");
    assert_error(raw("POST", "/v1/opt", "text/plain", "{}", 2), 415, "unsupported_media_type");
    /* a body on a no-body route is ignored */
    r = raw("POST", "/v1/ping", "text/plain", "garbage", 7);
    ck_assert_int_eq(r->status, 200);
    resp_free(r);
}
END_TEST

START_TEST(test_414)
{
    char path[3200];
    memcpy(path, "/v1/units/", 10);
    memset(path + 10, 'a', sizeof(path) - 11);
    path[sizeof(path) - 1] = '\0';
    assert_error(raw("GET", path, NULL, NULL, 0), 414, "uri_too_long");
}
END_TEST

START_TEST(test_error_shape_exact)
{
    resp *r = raw("POST", "/v1/extra", NULL, NULL, 0);
    ck_assert_int_eq(r->status, 409);
    ck_assert_str_eq(r->body,
                     "{\"error\":{\"code\":\"result_rejected\",\"message\":\"another result "
                     "won (7)\"},\"accepted\":false,\"result\":{\"unit_id\":\"LAFD-1\"}}");
    resp_free(r);
    r = raw("GET", "/v1/busy", NULL, NULL, 0);
    ck_assert_int_eq(r->status, 503);
    ck_assert_str_eq(r->body, "{\"error\":{\"code\":\"unavailable\",\"message\":\"try later\"}}");
    resp_free(r);
}
END_TEST

START_TEST(test_handler_no_reply)
{
    assert_error(raw("GET", "/v1/nothing", NULL, NULL, 0), 500, "internal");
}
END_TEST

START_TEST(test_text_reply_and_header)
{
    resp *r = raw("GET", "/metrics", NULL, NULL, 0);
    ck_assert_int_eq(r->status, 200);
    ck_assert_str_eq(r->body, "up 1\n");
    ck_assert_ptr_nonnull(strstr(r->headers, "Content-Type: text/plain; version=0.0.4"));
    resp_free(r);
    CURL *c = curl_easy_init();
    struct curl_slist *h = curl_slist_append(NULL, "X-Test: hello");
    char url[256];
    r = calloc(1, sizeof(*r));
    url_of(url, sizeof(url), "/v1/header");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, wr_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    ck_assert_int_eq(curl_easy_perform(c), CURLE_OK);
    ck_assert_str_eq(r->body, "{\"h\":\"hello\"}");
    free(r);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
}
END_TEST

START_TEST(test_api_query)
{
    resp *r = raw("GET", "/v1/ping?x=since%3D5&x=second", NULL, NULL, 0);
    ck_assert_int_eq(r->status, 200);
    ck_assert_str_eq(json_string_value(json_object_get(r->json, "x")), "since=5");
    resp_free(r);
    r = raw("GET", "/v1/ping?y=1", NULL, NULL, 0);
    ck_assert_str_eq(r->body, "{\"ok\":true}");
    resp_free(r);
    ck_assert_ptr_null(api_query(NULL, "x"));
    ck_assert_ptr_null(api_header(NULL, "x"));
}
END_TEST

START_TEST(test_http_json_post)
{
    char url[256];
    http_reply rep;
    json_t *b = json_pack("{s:s}", "k", "v");
    url_of(url, sizeof(url), "/v1/echo");
    ck_assert_int_eq(http_json("POST", url, b, NULL, &rep), 0);
    ck_assert_int_eq(rep.status, 201);
    ck_assert(json_equal(json_object_get(rep.body, "got"), b));
    http_reply_release(&rep);
    json_decref(b);
    /* non-JSON reply: status, no body */
    url_of(url, sizeof(url), "/metrics");
    ck_assert_int_eq(http_json("GET", url, NULL, NULL, &rep), 0);
    ck_assert_int_eq(rep.status, 200);
    ck_assert_ptr_null(rep.body);
    http_reply_release(&rep);
    /* only http(s) */
    ck_assert_int_eq(http_json("GET", "file:///etc/passwd", NULL, NULL, &rep), -1);
    ck_assert_int_eq(rep.status, 0);
    ck_assert_int_eq(http_json("GET", "ftp://127.0.0.1/", NULL, NULL, &rep), -1);
}
END_TEST

static int stall_listener(uint16_t *p)
{
    struct sockaddr_in sa = {0};
    socklen_t sl = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    ck_assert_int_eq(listen(fd, 16), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
    *p = ntohs(sa.sin_port);
    return fd;
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

START_TEST(test_client_timeout)
{
    uint16_t p;
    int fd = stall_listener(&p);
    char url[128];
    http_reply rep;
    http_opts o = {.connect_timeout_ms = 300, .timeout_ms = 300, .retries = 1, .backoff_ms = 10};
    double t0 = now_s();
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/v1/x", p);
    ck_assert_int_eq(http_json("GET", url, NULL, &o, &rep), -1);
    ck_assert_int_eq(rep.status, 0);
    ck_assert_ptr_null(rep.body);
    ck_assert(rep.error[0] != '\0');
    ck_assert(rep.sent); /* it connected and sent: the peer may have it */
    ck_assert(now_s() - t0 < 3.0); /* two tries of 0.3 s and a short backoff */
    http_reply_release(&rep);
    close(fd);
}
END_TEST

START_TEST(test_client_refused)
{
    uint16_t p;
    int fd = stall_listener(&p);
    char url[128];
    http_reply rep;
    http_opts o = {.retries = 2, .backoff_ms = 5};
    close(fd); /* nothing listens there now */
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/", p);
    ck_assert_int_eq(http_json("POST", url, NULL, &o, &rep), -1);
    ck_assert_int_eq(rep.status, 0);
    ck_assert(!rep.sent); /* refused: surely never acted on */
}
END_TEST

START_TEST(test_client_retries)
{
    char url[256];
    http_reply rep;
    http_opts o = {.retries = 2, .backoff_ms = 10};
    url_of(url, sizeof(url), "/v1/busy");
    atomic_store(&hits_503, 0);
    ck_assert_int_eq(http_json("GET", url, NULL, &o, &rep), 0);
    ck_assert_int_eq(rep.status, 503);
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(rep.body, "error"), "code")),
                     "unavailable");
    ck_assert_int_eq(atomic_load(&hits_503), 3);
    http_reply_release(&rep);
    o.retries = 0;
    ck_assert_int_eq(http_json("GET", url, NULL, &o, &rep), 0);
    ck_assert_int_eq(atomic_load(&hits_503), 4);
    http_reply_release(&rep);
    /* a 404 is an answer, not a failure: no retry */
    o.retries = 3;
    url_of(url, sizeof(url), "/v1/none");
    ck_assert_int_eq(http_json("GET", url, NULL, &o, &rep), 0);
    ck_assert_int_eq(rep.status, 404);
    http_reply_release(&rep);
}
END_TEST

START_TEST(test_client_max_reply)
{
    char url[256];
    http_reply rep;
    http_opts o = {.max_reply = 1000};
    url_of(url, sizeof(url), "/v1/big");
    ck_assert_int_eq(http_json("GET", url, NULL, &o, &rep), -1);
    ck_assert_int_eq(rep.status, 0);
    ck_assert_ptr_null(rep.body);
    o.max_reply = 200000;
    ck_assert_int_eq(http_json("GET", url, NULL, &o, &rep), 0);
    ck_assert_int_eq(rep.status, 200);
    ck_assert_uint_eq(strlen(json_string_value(json_object_get(rep.body, "big"))), 100000);
    http_reply_release(&rep);
}
END_TEST

/* Sends raw bytes, returns what came back (NUL-terminated, capped). */
static size_t raw_tcp(const char *data, size_t len, char *out, size_t outsz)
{
    struct sockaddr_in sa = {0};
    struct timeval tv = {2, 0};
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    size_t got = 0;
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (len)
        (void)!send(fd, data, len, MSG_NOSIGNAL);
    shutdown(fd, SHUT_WR);
    for (;;) {
        ssize_t n = recv(fd, out + got, outsz - 1 - got, 0);
        if (n <= 0)
            break;
        got += (size_t)n;
        if (got >= outsz - 1)
            break;
    }
    out[got] = '\0';
    close(fd);
    return got;
}

START_TEST(test_garbage_never_crashes)
{
    static const char *const cases[] = {
        "\x00\x01\x02\xff\xfe garbage\r\n\r\n",
        "GET\r\n\r\n",
        "GET / HTTP/9.9\r\n\r\n",
        "FOO /v1/ping HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET http://evil/v1/ping HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET * HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /v1/units/%%%% HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /v1/units/%ff%fe HTTP/1.1\r\nHost: x\r\n\r\n",
        "POST /v1/echo HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n{}",
        "POST /v1/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\n{}",
        "POST /v1/echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: "
        "2\r\n\r\n\x00\x00",
        "POST /v1/echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: "
        "chunked\r\n\r\nZZ\r\n",
        "POST /v1/echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: "
        "chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
        "POST /v1/echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: "
        "10\r\n\r\n{}",
        "GET /v1/ping HTTP/1.1\r\nHost: x\r\nX: \x01\x02\r\n\r\n",
        "POST /v1/echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: "
        "9\r\n\r\n[[[[[[[[[",
        "POST /v1/echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: "
        "100000000\r\n\r\n{}",
    };
    static char out[65536];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t len = strlen(cases[i]);
        if (i == 0)
            len = 17; /* the literal starts with a NUL byte */
        if (i == 10)
            len += 2; /* the two NUL bytes of the body */
        raw_tcp(cases[i], len, out, sizeof(out));
    }
    /* the chunked upload of {} works */
    raw_tcp(cases[12], strlen(cases[12]), out, sizeof(out));
    ck_assert_ptr_nonnull(strstr(out, "201"));
    /* a declared length beyond what is drained is answered at once */
    raw_tcp(cases[16], strlen(cases[16]), out, sizeof(out));
    ck_assert_ptr_nonnull(strstr(out, "413"));
    /* deep nesting */
    {
        size_t n = 1000;
        char *deep = malloc(n + 200);
        int hl = snprintf(deep, 200,
                          "POST /v1/echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                          "Content-Length: %zu\r\n\r\n",
                          n);
        memset(deep + hl, '[', n);
        raw_tcp(deep, (size_t)hl + n, out, sizeof(out));
        ck_assert_ptr_nonnull(strstr(out, "400"));
        free(deep);
    }
    resp *r = raw("GET", "/v1/ping", NULL, NULL, 0);
    ck_assert_int_eq(r->status, 200);
    resp_free(r);
}
END_TEST

START_TEST(test_port_in_use_and_bad_host)
{
    api_server_config cfg = {.host = "127.0.0.1", .port = port};
    uint16_t p2 = 0;
    ck_assert_ptr_null(api_server_start(&cfg, routes, 1, NULL, &p2));
    cfg.port = 0;
    cfg.host = "not-an-ip";
    ck_assert_ptr_null(api_server_start(&cfg, routes, 1, NULL, &p2));
    cfg.host = "localhost";
    api_server *s2 = api_server_start(&cfg, routes, 1, NULL, &p2);
    ck_assert_ptr_nonnull(s2);
    ck_assert_uint_ne(p2, port);
    api_server_stop(s2);
    api_server_stop(NULL);
    /* a bad route table is refused */
    static const api_route bad[] = {{"GET", "no-slash", h_ping, ROLE_ANY, 0}};
    ck_assert_ptr_null(api_server_start(&cfg, bad, 1, NULL, &p2));
}
END_TEST

START_TEST(test_keepalive_many)
{
    char url[256];
    http_reply rep;
    url_of(url, sizeof(url), "/v1/units/U7");
    for (int i = 0; i < 50; i++) {
        ck_assert_int_eq(http_json("GET", url, NULL, NULL, &rep), 0);
        ck_assert_int_eq(rep.status, 200);
        http_reply_release(&rep);
    }
}
END_TEST

/* ---- HTTP-level checks at the headers ---- */

START_TEST(test_host_required)
{
    static char out[4096];
    static const char *const want =
        "{\"error\":{\"code\":\"bad_request\",\"message\":\"an HTTP/1.1 request needs exactly one "
        "Host header\"}}";
    static const char none[] = "GET /v1/ping HTTP/1.1\r\n\r\n";
    static const char two[] = "GET /v1/ping HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n";
    static const char http10[] = "GET /v1/ping HTTP/1.0\r\n\r\n";

    raw_tcp(none, sizeof(none) - 1, out, sizeof(out));
    ck_assert_msg(strncmp(out, "HTTP/1.1 400 Bad Request\r\n", 26) == 0, "%s", out);
    ck_assert_ptr_nonnull(strstr(out, "\r\n\r\n"));
    ck_assert_str_eq(strstr(out, "\r\n\r\n") + 4, want);
    raw_tcp(two, sizeof(two) - 1, out, sizeof(out));
    ck_assert_str_eq(strstr(out, "\r\n\r\n") + 4, want);
    raw_tcp(http10, sizeof(http10) - 1, out, sizeof(out));
    ck_assert_msg(strncmp(out, "HTTP/1.1 200 OK\r\n", 17) == 0, "%s", out);
}
END_TEST

START_TEST(test_transfer_encoding_refused)
{
    static char out[4096];
    static const char *const cases[] = {
        "POST /v1/echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        "Transfer-Encoding: gzip\r\n\r\n{}",
        "POST /v1/echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
        "POST /v1/echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        "Content-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        raw_tcp(cases[i], strlen(cases[i]), out, sizeof(out));
        ck_assert_msg(strncmp(out, "HTTP/1.1 400 Bad Request\r\n", 26) == 0, "%zu: %s", i, out);
        ck_assert_ptr_nonnull(strstr(out, "{\"error\":{\"code\":\"bad_request\""));
    }
}
END_TEST

START_TEST(test_expect_continue_over_cap)
{
    static char out[4096];
    /* above CAP, within what would be drained: only Expect makes it answer now */
    static const char big[] = "POST /v1/echo HTTP/1.1\r\nHost: x\r\nContent-Type: "
                              "application/json\r\nContent-Length: 2000\r\n"
                              "Expect: 100-continue\r\n\r\n";
    static const char small[] = "POST /v1/echo HTTP/1.1\r\nHost: x\r\nContent-Type: "
                                "application/json\r\nContent-Length: 2\r\n"
                                "Expect: 100-continue\r\n\r\n{}";

    raw_tcp(big, sizeof(big) - 1, out, sizeof(out));
    ck_assert_msg(strncmp(out, "HTTP/1.1 413 ", 13) == 0, "%s", out);
    ck_assert_ptr_null(strstr(out, "100 Continue"));
    ck_assert_ptr_nonnull(strstr(out, "{\"error\":{\"code\":\"payload_too_large\""));
    raw_tcp(small, sizeof(small) - 1, out, sizeof(out));
    ck_assert_ptr_nonnull(strstr(out, "HTTP/1.1 201 "));
}
END_TEST

/* ---- connection limits and the read deadline (servers of their own) ---- */

static api_server *limited;
static uint16_t limited_port;

static void start_limited(size_t max_connections, size_t per_client, unsigned deadline_ms)
{
    api_server_config cfg = {.host = "127.0.0.1",
                             .threads = 2,
                             .max_connections = max_connections,
                             .max_per_client = per_client,
                             .read_deadline_ms = deadline_ms};
    limited =
        api_server_start(&cfg, routes, sizeof(routes) / sizeof(routes[0]), NULL, &limited_port);
    ck_assert_ptr_nonnull(limited);
}

static void stop_limited(void)
{
    api_server_stop(limited);
    limited = NULL;
}

static int tcp_from(const char *src)
{
    struct sockaddr_in me = {0}, to = {0};
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    ck_assert_int_ge(fd, 0);
    me.sin_family = to.sin_family = AF_INET;
    ck_assert_int_eq(inet_pton(AF_INET, src, &me.sin_addr), 1);
    to.sin_port = htons(limited_port);
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&me, sizeof(me)), 0);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&to, sizeof(to)), 0);
    return fd;
}

/* Reads into out until the peer closes, a whole reply (head plus
 * Content-Length) is in, or ms pass. Returns the bytes read; *closed says
 * whether the peer closed. */
static size_t read_some(int fd, char *out, size_t outsz, int ms, bool *closed)
{
    size_t got = 0;

    *closed = false;
    for (;;) {
        struct pollfd p = {fd, POLLIN, 0};
        const char *end, *cl;
        if (poll(&p, 1, ms) <= 0)
            break;
        ssize_t n = recv(fd, out + got, outsz - 1 - got, 0);
        if (n <= 0) {
            *closed = true;
            break;
        }
        got += (size_t)n;
        out[got] = '\0';
        end = strstr(out, "\r\n\r\n");
        cl = strstr(out, "Content-Length: ");
        if (end && cl && got >= (size_t)(end + 4 - out) + strtoul(cl + 16, NULL, 10))
            break;
        if (got >= outsz - 1)
            break;
    }
    out[got] = '\0';
    return got;
}

static bool closed_within(int fd, int ms)
{
    char buf[4096];
    bool closed;

    read_some(fd, buf, sizeof(buf), ms, &closed);
    return closed;
}

/* The value of one sample line of api_server_metrics (not its HELP line). */
static double metric(api_server *s, const char *line_start)
{
    char want[256];
    strbuf sb;
    const char *at;
    double v = -1;

    snprintf(want, sizeof(want), "\n%s", line_start);
    strbuf_init(&sb, 0);
    api_server_metrics(s, &sb);
    at = strstr(sb.buf, want);
    if (at)
        v = strtod(at + strlen(want), NULL);
    strbuf_release(&sb);
    return v;
}

static void get_ping(int fd, bool keep_alive)
{
    char req[128], out[4096];
    bool closed;
    int n = snprintf(req, sizeof(req), "GET /v1/ping HTTP/1.1\r\nHost: x\r\n%s\r\n",
                     keep_alive ? "" : "Connection: close\r\n");

    ck_assert_int_eq(send(fd, req, (size_t)n, MSG_NOSIGNAL), n);
    read_some(fd, out, sizeof(out), 5000, &closed);
    ck_assert_msg(strncmp(out, "HTTP/1.1 200 OK\r\n", 17) == 0, "%s", out);
}

START_TEST(test_per_client_limit)
{
    char out[4096];
    bool closed;
    int held[2], extra, real;

    start_limited(0, 2, 0);
    held[0] = tcp_from("127.0.0.2");
    held[1] = tcp_from("127.0.0.2");
    extra = tcp_from("127.0.0.2");
    read_some(extra, out, sizeof(out), 5000, &closed);
    ck_assert_msg(strncmp(out, "HTTP/1.1 503 Service Unavailable\r\n", 34) == 0, "%s", out);
    ck_assert_str_eq(strstr(out, "\r\n\r\n") + 4,
                     "{\"error\":{\"code\":\"unavailable\",\"message\":\"too many connections from "
                     "this address\"}}");
    ck_assert(closed_within(extra, 5000));
    /* another address is served meanwhile, and the two held stay open */
    real = tcp_from("127.0.0.1");
    get_ping(real, false);
    ck_assert(!closed_within(held[0], 100));
    ck_assert(metric(limited,
                     "ergrid_http_connections_refused_total{reason=\"per_client_limit\"} ") == 1);
    ck_assert(metric(limited, "ergrid_http_connections_per_client_max ") == 2);
    close(held[0]);
    close(held[1]);
    close(extra);
    close(real);
    stop_limited();
}
END_TEST

START_TEST(test_full_server_cuts_the_longest_waiting)
{
    int held[3], real;

    start_limited(3, 10, 0);
    ck_assert(metric(limited, "ergrid_http_connections_max ") == 3);
    /* three kept-alive connections from 127.0.0.2, each with one request
     * served, so all three are waiting for their next one */
    for (int i = 0; i < 3; i++) {
        held[i] = tcp_from("127.0.0.2");
        get_ping(held[i], true);
    }
    real = tcp_from("127.0.0.1");
    get_ping(real, false);
    ck_assert(closed_within(held[0], 5000));
    ck_assert(!closed_within(held[1], 100));
    ck_assert(!closed_within(held[2], 100));
    ck_assert(metric(limited, "ergrid_http_connections_cut_total{reason=\"evicted\"} ") == 1);
    for (int i = 0; i < 3; i++)
        close(held[i]);
    close(real);
    stop_limited();
}
END_TEST

START_TEST(test_read_deadline_is_not_reset_by_trickling)
{
    static const char req[] = "GET /v1/ping HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaa";
    size_t sent = 0;
    bool cut = false;
    int slow, idle, quick;

    start_limited(0, 0, 400);
    slow = tcp_from("127.0.0.2");
    idle = tcp_from("127.0.0.3");
    get_ping(idle, true); /* served, then waits for a request that never comes */
    /* one byte every 50 ms: far more often than the deadline */
    while (sent < sizeof(req) - 1) {
        if (send(slow, req + sent, 1, MSG_NOSIGNAL) != 1 || closed_within(slow, 50)) {
            cut = true;
            break;
        }
        sent++;
    }
    ck_assert_msg(cut, "still open after %zu trickled bytes", sent);
    ck_assert_uint_ge(sent, 3); /* it really trickled past a few of its bytes */
    ck_assert(closed_within(idle, 5000));
    /* a request that is whole in time is served, even when sent in pieces */
    quick = tcp_from("127.0.0.4");
    ck_assert_int_eq(send(quick, "GET /v1/ping HTTP/1.1\r\n", 23, MSG_NOSIGNAL), 23);
    ck_assert(!closed_within(quick, 100));
    ck_assert_int_eq(send(quick, "Host: x\r\n\r\n", 11, MSG_NOSIGNAL), 11);
    {
        char out[4096];
        bool closed;
        read_some(quick, out, sizeof(out), 5000, &closed);
        ck_assert_msg(strncmp(out, "HTTP/1.1 200 OK\r\n", 17) == 0, "%s", out);
    }
    ck_assert(metric(limited, "ergrid_http_connections_cut_total{reason=\"read_deadline\"} ") >= 2);
    close(slow);
    close(idle);
    close(quick);
    stop_limited();
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("api_http");
    TCase *tc = tcase_create("server_client");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_get_ok);
    tcase_add_test(tc, test_http_json_get);
    tcase_add_test(tc, test_capture);
    tcase_add_test(tc, test_capture_length);
    tcase_add_test(tc, test_404);
    tcase_add_test(tc, test_405_allow);
    tcase_add_test(tc, test_head_on_get);
    tcase_add_test(tc, test_413_cap);
    tcase_add_test(tc, test_413_large_upload);
    tcase_add_test(tc, test_415);
    tcase_add_test(tc, test_400_malformed);
    tcase_add_test(tc, test_400_not_object);
    tcase_add_test(tc, test_400_duplicate_keys);
    tcase_add_test(tc, test_400_empty_body);
    tcase_add_test(tc, test_optional_body);
    tcase_add_test(tc, test_414);
    tcase_add_test(tc, test_error_shape_exact);
    tcase_add_test(tc, test_handler_no_reply);
    tcase_add_test(tc, test_text_reply_and_header);
    tcase_add_test(tc, test_api_query);
    tcase_add_test(tc, test_http_json_post);
    tcase_add_test(tc, test_client_timeout);
    tcase_add_test(tc, test_client_refused);
    tcase_add_test(tc, test_client_retries);
    tcase_add_test(tc, test_client_max_reply);
    tcase_add_test(tc, test_garbage_never_crashes);
    tcase_add_test(tc, test_port_in_use_and_bad_host);
    tcase_add_test(tc, test_keepalive_many);
    tcase_add_test(tc, test_host_required);
    tcase_add_test(tc, test_transfer_encoding_refused);
    tcase_add_test(tc, test_expect_continue_over_cap);
    suite_add_tcase(s, tc);
    TCase *lc = tcase_create("connection_limits");
    tcase_set_timeout(lc, 60);
    tcase_add_test(lc, test_per_client_limit);
    tcase_add_test(lc, test_full_server_cuts_the_longest_waiting);
    tcase_add_test(lc, test_read_deadline_is_not_reset_by_trickling);
    suite_add_tcase(s, lc);
    return s;
}

int main(void)
{
    SRunner *sr;
    int failed;

    signal(SIGPIPE, SIG_IGN); /* as service_block_signals does in the services */
    if (http_client_global_init() != 0)
        return EXIT_FAILURE;
    sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    http_client_global_cleanup();
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
