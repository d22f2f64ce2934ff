/* api/leader_client.c against real api_servers on loopback that play a
 * district's brokers: a leader, followers that 307 to it (or to each other),
 * one without a leader (503), a dead port, a socket that closes at once,
 * and liars whose Location points somewhere it must not be followed. */
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "api.h"
#include "check_main.h"
#include "leader_client.h"

enum mode { LEAD, FOLLOW, NOLEADER, LIE };

typedef struct fake {
    enum mode mode;
    const char *name;
    char location[API_REPLY_HEADER_MAX]; /* FOLLOW: base URL of the target; LIE: as sent */
    atomic_int hits;
    api_server *srv;
    uint16_t port;
    char url[64];
} fake;

static fake f[4];

static void h_any(api_request *req, api_response *res)
{
    fake *me = req->ctx;
    char loc[API_REPLY_HEADER_MAX];

    atomic_fetch_add(&me->hits, 1);
    switch (me->mode) {
    case LEAD:
        api_reply_json(res, 200,
                       json_pack("{s:s,s:s,s:O?}", "served", me->name, "method", req->method,
                                 "got", req->body));
        break;
    case FOLLOW:
        snprintf(loc, sizeof(loc), "%s%s", me->location, req->path);
        api_reply_json(res, 307,
                       json_pack("{s:{s:s,s:s}}", "error", "code", "not_leader", "message",
                                 "this broker is a follower"));
        api_response_add_header(res, "Location", loc);
        break;
    case NOLEADER:
        api_reply_error(res, API_E_UNAVAILABLE, "no leader");
        api_response_add_header(res, "Retry-After", "1");
        break;
    case LIE:
        api_reply_json(res, 307, json_pack("{s:{s:s,s:s}}", "error", "code", "not_leader",
                                           "message", "go elsewhere"));
        api_response_add_header(res, "Location", me->location);
        break;
    }
}

static const api_route routes[] = {
    {"GET", "/v1/x", h_any, ROLE_ANY, API_BODY_NONE},
    {"POST", "/v1/x", h_any, ROLE_ANY, API_BODY_OPTIONAL},
};

static void start(fake *x, const char *name, enum mode m)
{
    api_server_config cfg = {.host = "127.0.0.1", .threads = 2};

    x->name = name;
    x->mode = m;
    atomic_store(&x->hits, 0);
    x->srv = api_server_start(&cfg, routes, 2, x, &x->port);
    ck_assert_ptr_nonnull(x->srv);
    snprintf(x->url, sizeof(x->url), "http://127.0.0.1:%u", x->port);
}

static void setup(void)
{
    memset(f, 0, sizeof(f));
    start(&f[0], "A", FOLLOW);
    start(&f[1], "B", FOLLOW);
    start(&f[2], "C", LEAD);
    start(&f[3], "D", LEAD);
}

static void teardown(void)
{
    for (int i = 0; i < 4; i++)
        api_server_stop(f[i].srv);
    http_client_thread_cleanup();
}

/* A port nobody listens on (bound, then closed). */
static uint16_t dead_port(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    int s = socket(AF_INET, SOCK_STREAM, 0);

    ck_assert_int_ge(s, 0);
    ck_assert_int_eq(bind(s, (struct sockaddr *)&a, sizeof(a)), 0);
    ck_assert_int_eq(getsockname(s, (struct sockaddr *)&a, &len), 0);
    close(s);
    return ntohs(a.sin_port);
}

/* A listener that answers every connection with canned bytes (NULL: closes
 * it at once, after reading the request). */
typedef struct raw_srv {
    int fd;
    uint16_t port;
    const char *reply;
    pthread_t th;
    atomic_int served;
} raw_srv;

static void *raw_loop(void *arg)
{
    raw_srv *r = arg;

    for (;;) {
        char buf[4096];
        int c = accept(r->fd, NULL, NULL);

        if (c < 0)
            return NULL;
        (void)!read(c, buf, sizeof(buf));
        if (r->reply)
            (void)!write(c, r->reply, strlen(r->reply));
        atomic_fetch_add(&r->served, 1);
        close(c);
    }
}

static void raw_start(raw_srv *r, const char *reply)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);

    r->reply = reply;
    atomic_store(&r->served, 0);
    r->fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(r->fd, 0);
    ck_assert_int_eq(bind(r->fd, (struct sockaddr *)&a, sizeof(a)), 0);
    ck_assert_int_eq(listen(r->fd, 16), 0);
    ck_assert_int_eq(getsockname(r->fd, (struct sockaddr *)&a, &len), 0);
    r->port = ntohs(a.sin_port);
    ck_assert_int_eq(pthread_create(&r->th, NULL, raw_loop, r), 0);
}

static void raw_stop(raw_srv *r)
{
    shutdown(r->fd, SHUT_RDWR);
    close(r->fd);
    pthread_join(r->th, NULL);
}

static const char *served(const http_reply *r)
{
    json_t *s = json_object_get(r->body, "served");
    return s ? json_string_value(s) : "";
}

static int call(leader_set *ls, const char *method, long timeout_ms, http_reply *r, char *used)
{
    leader_call_opts o = {.http = {.timeout_ms = timeout_ms}};
    json_t *body = json_pack("{s:s}", "k", "v");
    int rc = leader_call(ls, method, "/v1/x", strcmp(method, "GET") ? body : NULL, &o, r, used,
                         used ? LEADER_URL_MAX : 0);
    json_decref(body);
    return rc;
}

START_TEST(test_origin_parsing)
{
    char o[LEADER_URL_MAX];

    ck_assert_int_eq(leader_origin("http://127.0.0.1:7101/v1/jobs?x=1", o, sizeof(o)), 0);
    ck_assert_str_eq(o, "http://127.0.0.1:7101");
    ck_assert_int_eq(leader_origin("HTTPS://broker.example:443", o, sizeof(o)), 0);
    ck_assert_str_eq(o, "https://broker.example:443");
    ck_assert_int_eq(leader_origin("http://[::1]:80/", o, sizeof(o)), 0);
    ck_assert_str_eq(o, "http://[::1]:80");
    ck_assert_int_eq(leader_origin("file:///etc/passwd", o, sizeof(o)), -1);
    ck_assert_int_eq(leader_origin("ftp://127.0.0.1/", o, sizeof(o)), -1);
    ck_assert_int_eq(leader_origin("/v1/jobs", o, sizeof(o)), -1);
    ck_assert_int_eq(leader_origin("http://good@evil:80/", o, sizeof(o)), -1);
    ck_assert_int_eq(leader_origin("http://h:0", o, sizeof(o)), -1);
    ck_assert_int_eq(leader_origin("http://h:65536", o, sizeof(o)), -1);
    ck_assert_int_eq(leader_origin("http://:80", o, sizeof(o)), -1);
    ck_assert_int_eq(leader_origin("http://h:80x", o, sizeof(o)), -1);
}
END_TEST

START_TEST(test_set_list_and_scheme)
{
    leader_set ls;
    char u[LEADER_URL_MAX];
    json_t *j;

    leader_set_init(&ls);
    ck_assert_int_eq(leader_set_add_list(&ls, "http://a:1,http://b:2/"), 0);
    ck_assert_uint_eq(leader_set_count(&ls), 2);
    ck_assert(!ls.learn);
    ck_assert_int_eq(leader_set_url(&ls, 1, u, sizeof(u)), 0);
    ck_assert_str_eq(u, "http://b:2");
    ck_assert_int_eq(leader_set_add(&ls, "http://a:1"), 0); /* already there */
    ck_assert_uint_eq(leader_set_count(&ls), 2);
    ck_assert_int_eq(leader_set_add(&ls, "https://c:3"), -1); /* another scheme */
    ck_assert_int_eq(leader_set_add(&ls, "http://c:3/v1/jobs"), -1); /* a path is not a base */
    ck_assert_int_eq(leader_set_add_list(&ls, "http://c:3,"), -1);
    ck_assert(leader_set_has(&ls, "http://b:2/v1/anything"));
    ck_assert_int_eq(leader_set_use(&ls, "http://b:2"), 0);
    ck_assert_int_eq(leader_set_current(&ls, u, sizeof(u)), 0);
    ck_assert_str_eq(u, "http://b:2");
    j = leader_set_json(&ls);
    ck_assert_uint_eq(json_array_size(j), 3); /* c:3 was added before the trailing comma */
    json_decref(j);
    {
        const char *two[] = {"http://x:9", "http://b:2"};
        ck_assert_int_eq(leader_set_replace(&ls, two, 2), 0);
        ck_assert_int_eq(leader_set_current(&ls, u, sizeof(u)), 0);
        ck_assert_str_eq(u, "http://b:2"); /* current kept across the replace */
    }
    leader_set_release(&ls);
    leader_set_init(&ls);
    ck_assert_int_eq(leader_set_add_list(&ls, "http://only:1"), 0);
    ck_assert(ls.learn);
    ck_assert_int_eq(
        leader_set_add_list(&ls, "http://1:1,http://2:1,http://3:1,http://4:1,http://5:1,"
                                 "http://6:1,http://7:1,http://8:1,http://9:1"),
        -1); /* nine URLs */
    leader_set_release(&ls);
}
END_TEST

/* A (follower) -> C (leader): the POST lands at C with its body, and C
 * becomes current, so the next call goes there directly. */
START_TEST(test_follows_307)
{
    leader_set ls;
    http_reply r;
    char used[LEADER_URL_MAX], cur[LEADER_URL_MAX];

    snprintf(f[0].location, sizeof(f[0].location), "%s", f[2].url);
    leader_set_init(&ls);
    ck_assert_int_eq(leader_set_add(&ls, f[0].url), 0);
    ck_assert_int_eq(leader_set_add(&ls, f[2].url), 0);
    ck_assert_int_eq(call(&ls, "POST", 3000, &r, used), 0);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(served(&r), "C");
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(r.body, "got"), "k")), "v");
    ck_assert_str_eq(used, f[2].url);
    http_reply_release(&r);
    leader_set_current(&ls, cur, sizeof(cur));
    ck_assert_str_eq(cur, f[2].url);
    ck_assert_int_eq(call(&ls, "POST", 3000, &r, NULL), 0);
    http_reply_release(&r);
    ck_assert_int_eq(atomic_load(&f[0].hits), 1); /* not asked again */
    ck_assert_int_eq(atomic_load(&f[2].hits), 2);
    leader_set_release(&ls);
}
END_TEST

/* A -> B -> C is two redirects (allowed); A -> B -> A -> ... stops after
 * LEADER_REDIRECTS_MAX with the last 307. */
START_TEST(test_redirect_cap)
{
    leader_set ls;
    http_reply r;

    snprintf(f[0].location, sizeof(f[0].location), "%s", f[1].url);
    snprintf(f[1].location, sizeof(f[1].location), "%s", f[2].url);
    leader_set_init(&ls);
    ck_assert_int_eq(leader_set_add_list(&ls, f[0].url), 0); /* one URL: learns B and C */
    ck_assert_int_eq(call(&ls, "POST", 3000, &r, NULL), 0);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(served(&r), "C");
    http_reply_release(&r);
    ck_assert_uint_eq(leader_set_count(&ls), 3);
    leader_set_release(&ls);

    snprintf(f[1].location, sizeof(f[1].location), "%s", f[0].url); /* a loop */
    atomic_store(&f[0].hits, 0);
    atomic_store(&f[1].hits, 0);
    leader_set_init(&ls);
    ck_assert_int_eq(leader_set_add_list(&ls, f[0].url), 0);
    ck_assert_int_eq(call(&ls, "POST", 3000, &r, NULL), -1);
    ck_assert_int_eq(r.status, 307);
    ck_assert_ptr_nonnull(strstr(r.error, "too many redirects"));
    ck_assert_str_eq(
        json_string_value(json_object_get(json_object_get(r.body, "error"), "code")), "not_leader");
    http_reply_release(&r);
    ck_assert_int_eq(atomic_load(&f[0].hits) + atomic_load(&f[1].hits), 1 + LEADER_REDIRECTS_MAX);
    leader_set_release(&ls);
}
END_TEST

/* Dead port, then a socket that closes without a reply, then a follower
 * with no leader (503), then the leader: the call rotates through them all
 * within its timeout and the leader becomes current. */
START_TEST(test_rotates_over_dead_closed_and_503)
{
    leader_set ls;
    raw_srv closer;
    http_reply r;
    char dead[64], closed[64], cur[LEADER_URL_MAX];

    raw_start(&closer, NULL);
    f[1].mode = NOLEADER;
    snprintf(dead, sizeof(dead), "http://127.0.0.1:%u", dead_port());
    snprintf(closed, sizeof(closed), "http://127.0.0.1:%u", closer.port);
    leader_set_init(&ls);
    ck_assert_int_eq(leader_set_add(&ls, dead), 0);
    ck_assert_int_eq(leader_set_add(&ls, closed), 0);
    ck_assert_int_eq(leader_set_add(&ls, f[1].url), 0);
    ck_assert_int_eq(leader_set_add(&ls, f[3].url), 0);
    ck_assert_int_eq(call(&ls, "POST", 5000, &r, NULL), 0);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(served(&r), "D");
    http_reply_release(&r);
    ck_assert_int_ge(atomic_load(&closer.served), 1);
    ck_assert_int_ge(atomic_load(&f[1].hits), 1);
    leader_set_current(&ls, cur, sizeof(cur));
    ck_assert_str_eq(cur, f[3].url);

    /* Nobody with a leader: the call ends at its timeout with the 503. */
    f[3].mode = NOLEADER;
    ck_assert_int_eq(call(&ls, "POST", 400, &r, NULL), -1);
    ck_assert_int_eq(r.status, 503);
    http_reply_release(&r);
    leader_set_release(&ls);
    raw_stop(&closer);
}
END_TEST

/* no_resend: a try that may have reached the service ends the call. */
START_TEST(test_no_resend_stops_after_sent)
{
    leader_set ls;
    raw_srv closer;
    http_reply r;
    char closed[64];
    leader_call_opts o = {.http = {.timeout_ms = 3000}, .no_resend = true};

    raw_start(&closer, NULL);
    snprintf(closed, sizeof(closed), "http://127.0.0.1:%u", closer.port);
    leader_set_init(&ls);
    ck_assert_int_eq(leader_set_add(&ls, closed), 0);
    ck_assert_int_eq(leader_set_add(&ls, f[3].url), 0);
    ck_assert_int_eq(leader_call(&ls, "POST", "/v1/x", NULL, &o, &r, NULL, 0), -1);
    ck_assert(r.sent);
    ck_assert_int_eq(r.status, 0);
    ck_assert_int_eq(atomic_load(&f[3].hits), 0);
    http_reply_release(&r);
    leader_set_release(&ls);
    raw_stop(&closer);
}
END_TEST

/* ls holds the liar alone: the call has nowhere else to go. */
static void expect_refused(leader_set *ls, const char *why)
{
    http_reply r;

    ck_assert_int_eq(call(ls, "POST", 3000, &r, NULL), -1);
    ck_assert_int_eq(r.status, 307);
    ck_assert_msg(strstr(r.error, why) != NULL, "error \"%s\", expected \"%s\"", r.error, why);
    http_reply_release(&r);
}

/* A liar's Location is never followed: another scheme, not http(s), a
 * relative one, an origin outside a configured list, or one too long. */
START_TEST(test_refuses_bad_location)
{
    leader_set ls;
    raw_srv longloc;
    http_reply r;
    char *reply;
    size_t n = 5000;

    f[0].mode = LIE;
    leader_set_init(&ls);
    ck_assert_int_eq(leader_set_add(&ls, f[0].url), 0); /* closed: not add_list's door */

    snprintf(f[0].location, sizeof(f[0].location), "file:///etc/passwd");
    expect_refused(&ls, "not an absolute http(s) URL");
    snprintf(f[0].location, sizeof(f[0].location), "/v1/x");
    expect_refused(&ls, "not an absolute http(s) URL");
    snprintf(f[0].location, sizeof(f[0].location), "https://127.0.0.1:%u/v1/x", f[2].port);
    expect_refused(&ls, "another scheme");
    snprintf(f[0].location, sizeof(f[0].location), "%s/v1/x", f[3].url); /* D: not in the set */
    expect_refused(&ls, "not in the set");
    ck_assert_int_eq(atomic_load(&f[3].hits), 0);

    /* With the leader in the set too, the liar is skipped, not followed. */
    ck_assert_int_eq(leader_set_add(&ls, f[2].url), 0);
    ck_assert_int_eq(call(&ls, "POST", 3000, &r, NULL), 0);
    ck_assert_str_eq(served(&r), "C");
    http_reply_release(&r);
    ck_assert_int_eq(atomic_load(&f[3].hits), 0);

    /* A learning set (one URL) still refuses the other scheme. */
    leader_set_release(&ls);
    leader_set_init(&ls);
    ck_assert_int_eq(leader_set_add_list(&ls, f[0].url), 0);
    snprintf(f[0].location, sizeof(f[0].location), "https://127.0.0.1:%u/v1/x", f[2].port);
    expect_refused(&ls, "another scheme");
    ck_assert_uint_eq(leader_set_count(&ls), 1);
    leader_set_release(&ls);

    /* Over-long: api_server caps its headers, so a raw socket sends it. */
    reply = malloc(n + 256);
    ck_assert_ptr_nonnull(reply);
    {
        int k = snprintf(reply, n + 256,
                         "HTTP/1.1 307 Temporary Redirect\r\nContent-Length: 0\r\n"
                         "Connection: close\r\nLocation: http://127.0.0.1:1/");
        memset(reply + k, 'a', n - (size_t)k);
        snprintf(reply + n, 256, "\r\n\r\n");
    }
    raw_start(&longloc, reply);
    {
        char u[64];
        snprintf(u, sizeof(u), "http://127.0.0.1:%u", longloc.port);
        leader_set_init(&ls);
        ck_assert_int_eq(leader_set_add_list(&ls, u), 0);
        expect_refused(&ls, "longer than a sane URL");
        ck_assert_uint_eq(leader_set_count(&ls), 1);
        leader_set_release(&ls);
    }
    raw_stop(&longloc);
    free(reply);
}
END_TEST

/* A learning set past LEADER_URLS_MAX replaces its oldest URL. */
START_TEST(test_learn_replaces_oldest)
{
    leader_set ls;
    http_reply r;
    char u[LEADER_URL_MAX];

    leader_set_init(&ls);
    ck_assert_int_eq(leader_set_add_list(&ls, f[0].url), 0);
    for (int i = 1; i < LEADER_URLS_MAX; i++) {
        snprintf(u, sizeof(u), "http://127.0.0.1:%d", 20000 + i);
        ck_assert_int_eq(leader_set_add(&ls, u), 0);
    }
    ck_assert_int_eq(leader_set_use(&ls, f[0].url), 0);
    snprintf(f[0].location, sizeof(f[0].location), "%s", f[2].url);
    ck_assert_int_eq(call(&ls, "POST", 3000, &r, NULL), 0);
    ck_assert_str_eq(served(&r), "C");
    http_reply_release(&r);
    ck_assert_uint_eq(leader_set_count(&ls), LEADER_URLS_MAX);
    ck_assert(leader_set_has(&ls, f[2].url));
    ck_assert(!leader_set_has(&ls, f[0].url)); /* the oldest went */
    leader_set_release(&ls);
}
END_TEST

/* Threads share one set: every call lands at the leader. */
typedef struct shared_arg {
    leader_set *ls;
    int ok;
} shared_arg;

static void *many(void *arg)
{
    shared_arg *a = arg;

    for (int i = 0; i < 20; i++) {
        http_reply r;
        if (call(a->ls, i % 2 ? "GET" : "POST", 3000, &r, NULL) == 0 && r.status == 200 &&
            strcmp(served(&r), "C") == 0)
            a->ok++;
        http_reply_release(&r);
    }
    http_client_thread_cleanup();
    return NULL;
}

START_TEST(test_threads_share_a_set)
{
    leader_set ls;
    pthread_t th[4];
    shared_arg args[4];

    snprintf(f[0].location, sizeof(f[0].location), "%s", f[2].url);
    f[1].mode = NOLEADER;
    leader_set_init(&ls);
    ck_assert_int_eq(leader_set_add(&ls, f[1].url), 0);
    ck_assert_int_eq(leader_set_add(&ls, f[0].url), 0);
    ck_assert_int_eq(leader_set_add(&ls, f[2].url), 0);
    for (int i = 0; i < 4; i++) {
        args[i] = (shared_arg){&ls, 0};
        ck_assert_int_eq(pthread_create(&th[i], NULL, many, &args[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        ck_assert_int_eq(args[i].ok, 20);
    }
    leader_set_release(&ls);
}
END_TEST

/* Once per forked test process, before its fixture: curl's global state
 * before any thread calls out, and no SIGPIPE from a peer that closed. */
static void process_setup(void)
{
    signal(SIGPIPE, SIG_IGN);
    ck_assert_int_eq(http_client_global_init(), 0);
}

Suite *api_suite(void)
{
    Suite *s = suite_create("api_leader");
    TCase *tc = tcase_create("leader_client");

    tcase_add_unchecked_fixture(tc, process_setup, http_client_global_cleanup);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_origin_parsing);
    tcase_add_test(tc, test_set_list_and_scheme);
    tcase_add_test(tc, test_follows_307);
    tcase_add_test(tc, test_redirect_cap);
    tcase_add_test(tc, test_rotates_over_dead_closed_and_503);
    tcase_add_test(tc, test_no_resend_stops_after_sent);
    tcase_add_test(tc, test_refuses_bad_location);
    tcase_add_test(tc, test_learn_replaces_oldest);
    tcase_add_test(tc, test_threads_share_a_set);
    suite_add_tcase(s, tc);
    return s;
}
