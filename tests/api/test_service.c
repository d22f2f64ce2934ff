/* api/api_errors.c, api_parse_listen, and api/service.c helpers. */
#include "check_main.h"
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "api.h"

START_TEST(test_error_table)
{
    static const struct {
        api_err e;
        unsigned status;
        const char *code;
    } want[] = {
        {API_E_BAD_REQUEST, 400, "bad_request"},
        {API_E_BAD_JSON, 400, "invalid_json"},
        {API_E_INVALID_FIELD, 400, "invalid_field"},
        {API_E_MISSING_FIELD, 400, "missing_field"},
        {API_E_UNKNOWN_FIELD, 400, "unknown_field"},
        {API_E_INVALID_ID, 400, "invalid_id"},
        {API_E_UNAUTHORIZED, 401, "unauthorized"},
        {API_E_FORBIDDEN, 403, "forbidden"},
        {API_E_NOT_FOUND, 404, "not_found"},
        {API_E_METHOD, 405, "method_not_allowed"},
        {API_E_CONFLICT, 409, "conflict"},
        {API_E_DUPLICATE_RESULT, 409, "result_rejected"},
        {API_E_CAUSALITY, 409, "causality_violation"},
        {API_E_AT_CAPACITY, 409, "at_capacity"},
        {API_E_ILLEGAL_STEP, 409, "illegal_step"},
        {API_E_TOO_LARGE, 413, "payload_too_large"},
        {API_E_URI_TOO_LONG, 414, "uri_too_long"},
        {API_E_MEDIA_TYPE, 415, "unsupported_media_type"},
        {API_E_UNPROCESSABLE, 422, "unprocessable"},
        {API_E_INTERNAL, 500, "internal"},
        {API_E_BAD_GATEWAY, 502, "bad_gateway"},
        {API_E_UNAVAILABLE, 503, "unavailable"},
        {API_E_GATEWAY_TIMEOUT, 504, "gateway_timeout"},
        {API_E_NOT_LEADER, 307, "not_leader"},
    };
    ck_assert_uint_eq(sizeof(want) / sizeof(want[0]), API_E__COUNT);
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        ck_assert_uint_eq(api_err_status(want[i].e), want[i].status);
        ck_assert_str_eq(api_err_code(want[i].e), want[i].code);
    }
    ck_assert_uint_eq(api_err_status(API_E__COUNT), 500);
    ck_assert_str_eq(api_err_code((api_err)-1), "internal");
}
END_TEST

START_TEST(test_reply_helpers)
{
    api_response res = {0};
    char *t;
    api_reply_error(&res, API_E_INVALID_FIELD, "field '%s' is bad", "x");
    ck_assert_uint_eq(res.status, 400);
    t = json_dumps(res.body, JSON_COMPACT);
    ck_assert_str_eq(t,
                     "{\"error\":{\"code\":\"invalid_field\",\"message\":\"field 'x' is bad\"}}");
    free(t);
    /* invalid UTF-8 in a message is made safe, never dropped */
    api_reply_error(&res, API_E_BAD_REQUEST, "bad %s", "\xff\xfe");
    ck_assert_ptr_nonnull(res.body);
    t = json_dumps(res.body, JSON_COMPACT);
    ck_assert_str_eq(t, "{\"error\":{\"code\":\"bad_request\",\"message\":\"bad ??\"}}");
    free(t);
    /* "error" cannot be overridden by extra */
    api_reply_error_extra(&res, API_E_CONFLICT, json_pack("{s:i,s:i}", "error", 1, "n", 2), "c");
    t = json_dumps(res.body, JSON_COMPACT);
    ck_assert_str_eq(t, "{\"error\":{\"code\":\"conflict\",\"message\":\"c\"},\"n\":2}");
    free(t);
    api_reply_json(&res, 200, NULL);
    ck_assert_uint_eq(res.status, 500);
    api_reply_text(&res, 200, "text/plain", "abc", 3);
    ck_assert_ptr_null(res.body);
    ck_assert_uint_eq(res.text_len, 3);
    ck_assert(memcmp(res.text, "abc", 3) == 0);
    api_reply_json(&res, 201, json_object());
    ck_assert_ptr_null(res.text);
    ck_assert_uint_eq(res.status, 201);
    json_decref(res.body);
    api_reply_json(NULL, 200, json_object()); /* steals even with no res */
}
END_TEST

START_TEST(test_parse_listen)
{
    char host[64] = "untouched";
    uint16_t port = 42;
    ck_assert_int_eq(api_parse_listen("127.0.0.1:0", host, sizeof(host), &port), 0);
    ck_assert_str_eq(host, "127.0.0.1");
    ck_assert_uint_eq(port, 0);
    ck_assert_int_eq(api_parse_listen("localhost:7000", host, sizeof(host), &port), 0);
    ck_assert_str_eq(host, "127.0.0.1");
    ck_assert_uint_eq(port, 7000);
    ck_assert_int_eq(api_parse_listen("10.1.2.3:65535", host, sizeof(host), &port), 0);
    ck_assert_str_eq(host, "10.1.2.3");
    ck_assert_uint_eq(port, 65535);

    static const char *const bad[] = {
        "127.0.0.1",     "127.0.0.1:",   ":7000",         "127.0.0.1:65536", "127.0.0.1:99999999",
        "127.0.0.1:-1",  "127.0.0.1:7x", "127.0.0.1: 70", "garbage",         "",
        "host:80",       "256.0.0.1:80", "127.1:80",      "[::1]:80",        "127.0.0.1:80:80",
        "127.0.0.1:+80",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(host, sizeof(host), "%s", "untouched");
        port = 42;
        ck_assert_msg(api_parse_listen(bad[i], host, sizeof(host), &port) == -1, "accepted '%s'",
                      bad[i]);
        ck_assert_str_eq(host, "untouched");
        ck_assert_uint_eq(port, 42);
    }
    ck_assert_int_eq(api_parse_listen(NULL, host, sizeof(host), &port), -1);
    ck_assert_int_eq(api_parse_listen("127.0.0.1:80", host, 5, &port),
                     -1); /* host buffer too small */
}
END_TEST

START_TEST(test_strbuf_cap)
{
    strbuf sb;
    strbuf_init(&sb, 10);
    ck_assert_ptr_nonnull(sb.buf);
    ck_assert_str_eq(sb.buf, "");
    strbuf_add(&sb, "abc", 3);
    strbuf_addf(&sb, "%d-%s", 42, "xy");
    ck_assert_str_eq(sb.buf, "abc42-xy");
    ck_assert(!sb.overflow);
    strbuf_addf(&sb, "%s", "12345");
    ck_assert(sb.overflow);
    ck_assert_uint_eq(sb.len, 10);
    ck_assert_str_eq(sb.buf, "abc42-xy12");
    strbuf_add(&sb, "z", 1); /* ignored after overflow */
    ck_assert_uint_eq(sb.len, 10);
    ck_assert_uint_le(sb.alloc, 11);
    strbuf_release(&sb);
    strbuf_release(&sb);
    strbuf_release(NULL);
    ck_assert_str_eq(sb.buf, "");
}
END_TEST

START_TEST(test_strbuf_growth_and_detach)
{
    strbuf sb;
    size_t len = 0;
    char *s;
    strbuf_init(&sb, 0);
    for (int i = 0; i < 1000; i++)
        strbuf_addf(&sb, "line %d %s\n", i,
                    "................................................................"
                    "................................................................"
                    "................................................................"
                    "................................................................");
    ck_assert(!sb.overflow);
    ck_assert_uint_eq(strlen(sb.buf), sb.len);
    s = strbuf_detach(&sb, &len);
    ck_assert_uint_eq(strlen(s), len);
    ck_assert(strncmp(s, "line 0 ", 7) == 0);
    ck_assert_uint_eq(sb.len, 0);
    free(s);
    s = strbuf_detach(&sb, NULL); /* empty: still a heap string */
    ck_assert_str_eq(s, "");
    free(s);
    /* a long formatted append that does not fit is cut at max */
    strbuf_init(&sb, 300);
    strbuf_addf(&sb, "%0400d", 7);
    ck_assert(sb.overflow);
    ck_assert_uint_eq(sb.len, 300);
    ck_assert_uint_eq(strlen(sb.buf), 300);
    strbuf_release(&sb);
}
END_TEST

START_TEST(test_histogram)
{
    histogram h;
    strbuf sb;
    memset(&h, 0, sizeof(h));
    histogram_observe(&h, 0.0001);
    histogram_observe(&h, 0.003);
    histogram_observe(&h, 0.003);
    histogram_observe(&h, 1.0);
    histogram_observe(&h, 10.0);
    histogram_observe(&h, -1.0); /* clamped to 0 */
    histogram_observe(&h, NAN);
    strbuf_init(&sb, 1 << 16);
    histogram_write(&h, &sb, "ergrid_request_seconds", "route=\"/v1/jobs\"");
    ck_assert_str_eq(sb.buf, "ergrid_request_seconds_bucket{le=\"0.0005\",route=\"/v1/jobs\"} 3\n"
                             "ergrid_request_seconds_bucket{le=\"0.001\",route=\"/v1/jobs\"} 3\n"
                             "ergrid_request_seconds_bucket{le=\"0.0025\",route=\"/v1/jobs\"} 3\n"
                             "ergrid_request_seconds_bucket{le=\"0.005\",route=\"/v1/jobs\"} 5\n"
                             "ergrid_request_seconds_bucket{le=\"0.01\",route=\"/v1/jobs\"} 5\n"
                             "ergrid_request_seconds_bucket{le=\"0.025\",route=\"/v1/jobs\"} 5\n"
                             "ergrid_request_seconds_bucket{le=\"0.05\",route=\"/v1/jobs\"} 5\n"
                             "ergrid_request_seconds_bucket{le=\"0.1\",route=\"/v1/jobs\"} 5\n"
                             "ergrid_request_seconds_bucket{le=\"0.25\",route=\"/v1/jobs\"} 5\n"
                             "ergrid_request_seconds_bucket{le=\"0.5\",route=\"/v1/jobs\"} 5\n"
                             "ergrid_request_seconds_bucket{le=\"1\",route=\"/v1/jobs\"} 6\n"
                             "ergrid_request_seconds_bucket{le=\"2.5\",route=\"/v1/jobs\"} 6\n"
                             "ergrid_request_seconds_bucket{le=\"+Inf\",route=\"/v1/jobs\"} 7\n"
                             "ergrid_request_seconds_sum{route=\"/v1/jobs\"} 11.0061\n"
                             "ergrid_request_seconds_count{route=\"/v1/jobs\"} 7\n");
    strbuf_release(&sb);
    memset(&h, 0, sizeof(h));
    strbuf_init(&sb, 1 << 16);
    histogram_write(&h, &sb, "x", NULL);
    ck_assert_ptr_nonnull(strstr(sb.buf, "x_bucket{le=\"0.0005\"} 0\n"));
    ck_assert_ptr_nonnull(strstr(sb.buf, "x_bucket{le=\"+Inf\"} 0\nx_sum 0\nx_count 0\n"));
    strbuf_release(&sb);
}
END_TEST

START_TEST(test_log_and_announce)
{
    /* smoke: must not crash with odd input (output goes to the test log) */
    service_log_init("test");
    service_log("info", "hello %s", "line\nbreak");
    service_log(NULL, "%s", "");
    service_log_init(NULL);
    service_announce("127.0.0.1", 1234);
}
END_TEST

/* Reads fd 2's pipe until EOF into a growing buffer (the writer thread may
 * block on a full pipe until someone reads). */
struct pipe_reader {
    int fd;
    char *buf;
    size_t len;
};

static void *read_all(void *arg)
{
    struct pipe_reader *r = arg;
    size_t alloc = 0;
    char chunk[4096];
    ssize_t n;

    while ((n = read(r->fd, chunk, sizeof(chunk))) > 0) {
        if (r->len + (size_t)n + 1 > alloc) {
            alloc = (r->len + (size_t)n + 1) * 2;
            r->buf = realloc(r->buf, alloc);
            ck_assert_ptr_nonnull(r->buf);
        }
        memcpy(r->buf + r->len, chunk, (size_t)n);
        r->len += (size_t)n;
        r->buf[r->len] = '\0';
    }
    return NULL;
}

/* Points fd 2 at a new pipe whose read end is *rd, names the log and
 * starts its writer; returns the saved fd 2 to put back. */
static int log_into_pipe(const char *name, int *rd)
{
    int p[2], saved = dup(2);

    ck_assert_int_ge(saved, 0);
    ck_assert_int_eq(pipe(p), 0);
    ck_assert_int_eq(dup2(p[1], 2), 2);
    close(p[1]);
    *rd = p[0];
    service_log_init(name);
    return saved;
}

START_TEST(test_log_queue_drops_rather_than_blocks)
{
    int rd, saved = log_into_pipe("qtest", &rd);
    struct pipe_reader r = {0};
    pthread_t thr;
    char want[96];

    /* Nobody reads the pipe: the writer blocks once it is full, the queue
     * fills behind it, and every later line is dropped. Each call returns
     * (a blocked one would hang the test until its timeout). */
    for (int i = 0; i < 20000; i++)
        service_log("info", "line %d of a burst that outruns stderr", i);
    uint64_t dropped = service_log_dropped();
    ck_assert_uint_gt(dropped, 0);
    ck_assert_uint_lt(dropped, 20000);
    /* Read now: the writer catches up, reports the drops, writes the rest. */
    r.fd = rd;
    ck_assert_int_eq(pthread_create(&thr, NULL, read_all, &r), 0);
    service_log_flush();
    service_log("info", "after the burst");
    service_log_flush();
    ck_assert_uint_eq(service_log_dropped(), dropped);
    ck_assert_int_eq(dup2(saved, 2), 2); /* the pipe's last writer gone: EOF */
    close(saved);
    pthread_join(thr, NULL);
    ck_assert_ptr_nonnull(r.buf);
    snprintf(want, sizeof(want), " qtest warn %llu log lines dropped",
             (unsigned long long)dropped);
    const char *report = strstr(r.buf, want);
    ck_assert_msg(report != NULL, "no drop report in the log");
    const char *first = strstr(r.buf, " qtest info line 0 of");
    const char *after = strstr(r.buf, " qtest info after the burst");
    ck_assert_ptr_nonnull(first);
    ck_assert_ptr_nonnull(after);
    /* Kept lines in order, the report after them, then the later line. */
    ck_assert(first < report && report < after);
    size_t kept = 0;
    for (const char *q = r.buf; (q = strstr(q, " of a burst")) != NULL; q++)
        kept++;
    ck_assert_uint_eq(kept + dropped, 20000);
    free(r.buf);
}
END_TEST

START_TEST(test_log_fatal_is_written_before_it_returns)
{
    int rd, saved = log_into_pipe("ftest", &rd);
    char buf[8192];

    service_log("info", "queued first");
    service_log("fatal", "the last words");
    /* Both are in the pipe already: nothing here waits for the writer. */
    ck_assert_int_eq(fcntl(rd, F_SETFL, O_NONBLOCK), 0);
    ssize_t n = read(rd, buf, sizeof(buf) - 1);
    ck_assert_int_gt(n, 0);
    buf[n] = '\0';
    const char *a = strstr(buf, " ftest info queued first");
    const char *b = strstr(buf, " ftest fatal the last words");
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_nonnull(b);
    ck_assert(a < b);
    ck_assert_int_eq(dup2(saved, 2), 2);
    close(saved);
    close(rd);
}
END_TEST

static volatile int spam_stop;

static void *spam(void *arg)
{
    (void)arg;
    for (unsigned i = 0; !spam_stop; i++)
        service_log("info", "busy line %u", i);
    return NULL;
}

/* A child forked while the log's writer held its lock (Check forks every
 * test from a parent whose writer thread runs) inherited the lock held and
 * no writer: its first line, or its exit, hung until the test's timeout
 * (seen as the executor suite's first test timing out under ASan and load).
 * Here a thread keeps the writer busy while the test forks children that
 * log and exit; every one must exit at once. */
START_TEST(test_log_survives_fork)
{
    int devnull = open("/dev/null", O_WRONLY);
    int saved = dup(2);
    pthread_t thr;
    int hung = 0;

    ck_assert_int_ge(devnull, 0);
    ck_assert_int_eq(dup2(devnull, 2), 2);
    close(devnull);
    service_log_init("forktest");
    spam_stop = 0;
    ck_assert_int_eq(pthread_create(&thr, NULL, spam, NULL), 0);
    for (int i = 0; i < 40 && !hung; i++) {
        pid_t pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
            /* A line, and the wait for the queue to be written (what the
             * exit handler does too): neither may wait for a writer the
             * child does not have. _exit: no leak check of the parent's
             * lines in flight, which the child cannot free. */
            service_log("info", "child %d", i);
            service_log_flush();
            _exit(0);
        }
        int status = -1;
        uint64_t deadline = coord_now_mono_ms() + 2000;
        while (waitpid(pid, &status, WNOHANG) == 0) {
            if (coord_now_mono_ms() > deadline) {
                kill(pid, SIGKILL);
                waitpid(pid, &status, 0);
                hung = i + 1;
                break;
            }
            usleep(1000);
        }
        if (!hung)
            ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child %d: status %d", i,
                          status);
    }
    spam_stop = 1;
    pthread_join(thr, NULL);
    service_log_flush();
    ck_assert_int_eq(dup2(saved, 2), 2);
    close(saved);
    ck_assert_msg(hung == 0, "child %d hung: forked with the log's lock held", hung - 1);
}
END_TEST

Suite *api_suite(void)
{
    Suite *s = suite_create("api_service");
    TCase *tc = tcase_create("service");
    tcase_add_test(tc, test_error_table);
    tcase_add_test(tc, test_reply_helpers);
    tcase_add_test(tc, test_parse_listen);
    tcase_add_test(tc, test_strbuf_cap);
    tcase_add_test(tc, test_strbuf_growth_and_detach);
    tcase_add_test(tc, test_histogram);
    tcase_add_test(tc, test_log_and_announce);
    tcase_add_test(tc, test_log_queue_drops_rather_than_blocks);
    tcase_add_test(tc, test_log_fatal_is_written_before_it_returns);
    suite_add_tcase(s, tc);
    /* Forks of an ASan process are slow (tens of ms each). */
    TCase *tf = tcase_create("fork");
    tcase_set_timeout(tf, 60);
    tcase_add_test(tf, test_log_survives_fork);
    suite_add_tcase(s, tf);
    return s;
}
