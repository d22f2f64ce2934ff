/* The push-stream hub (sse.h) without a socket: the request rules
 * (Last-Event-ID, filters, the transport), the stream cap and its 503, a
 * stream's place given back when its reply is dropped, and the hub's own
 * ring numbering what is published. Streaming itself runs against real
 * processes in tests/integration/test_sse.py. */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "check_main.h"
#include "http_server.h"
#include "sse.h"

static api_sse_hub *hub;

static void h_stream(api_request *req, api_response *res)
{
    api_sse_serve(hub, req, res);
}

static const api_route routes[] = {
    {"GET", "/v1/events/stream", h_stream, API_ACCESS_OPEN, API_BODY_NONE},
};
static api_dispatcher disp;

static void setup(void)
{
    api_sse_config cfg = {.max_streams = 2, .heartbeat_ms = 1000, .ring_keep = 4,
                          .ring_first_id = 100};

    hub = api_sse_hub_new(&cfg);
    ck_assert_ptr_nonnull(hub);
    ck_assert_int_eq(api_dispatcher_init(&disp, routes, 1, 0), 0);
}

static void teardown(void)
{
    api_sse_hub_free(hub);
}

static void call(const char *target, const char *last, bool can_defer, api_response *res)
{
    api_field h[1] = {{"Last-Event-ID", last}};
    api_raw_request rq = {.method = "GET", .target = target, .headers = h,
                          .nheaders = last ? 1 : 0, .can_defer = can_defer};

    api_dispatch(&disp, &rq, res);
}

static const char *code_of(const api_response *res)
{
    return json_string_value(json_object_get(json_object_get(res->body, "error"), "code"));
}

static long metric(const char *name)
{
    strbuf sb;
    char key[80];
    long v = -1;

    strbuf_init(&sb, 0);
    api_sse_metrics(hub, &sb);
    snprintf(key, sizeof(key), "\n%s ", name);
    const char *p = sb.buf ? strstr(sb.buf, key) : NULL;
    if (p)
        v = strtol(p + strlen(key), NULL, 10);
    strbuf_release(&sb);
    return v;
}

START_TEST(test_bad_requests_are_400_and_open_nothing)
{
    static const char *const targets[] = {
        "/v1/events/stream?type=Bad-Type", "/v1/events/stream?job=a,,b",
        "/v1/events/stream?job=", "/v1/events/stream?unit=a,b,c,d,e,f,g,h,i",
        "/v1/events/stream?job=x%20y", "/v1/events/stream?last_event_id=12a",
        "/v1/events/stream?last_event_id=99999999999999999999",
    };
    api_response res;

    for (size_t i = 0; i < sizeof(targets) / sizeof(targets[0]); i++) {
        memset(&res, 0, sizeof(res));
        call(targets[i], NULL, true, &res);
        ck_assert_msg(res.status == 400, "%s: %u", targets[i], res.status);
        ck_assert_str_eq(code_of(&res), "bad_request");
        ck_assert_ptr_null(res.stream);
        api_response_release(&res);
    }
    memset(&res, 0, sizeof(res));
    call("/v1/events/stream", "-1", true, &res);
    ck_assert_uint_eq(res.status, 400);
    api_response_release(&res);
    ck_assert_int_eq(metric("ergrid_sse_streams"), 0);
}
END_TEST

START_TEST(test_a_transport_that_cannot_park_gets_503)
{
    api_response res;

    memset(&res, 0, sizeof(res));
    call("/v1/events/stream", NULL, false, &res);
    ck_assert_uint_eq(res.status, 503);
    ck_assert_str_eq(code_of(&res), "unavailable");
    api_response_release(&res);
}
END_TEST

START_TEST(test_the_cap_then_a_place_given_back)
{
    api_response a, b, c;

    memset(&a, 0, sizeof(a));
    memset(&b, 0, sizeof(b));
    memset(&c, 0, sizeof(c));
    call("/v1/events/stream?type=job_submitted,job_queued", NULL, true, &a);
    call("/v1/events/stream", "7", true, &b);
    ck_assert_uint_eq(a.status, 200);
    ck_assert_str_eq(a.content_type, "text/event-stream");
    ck_assert_ptr_nonnull(a.stream);
    ck_assert_uint_eq(b.status, 200);
    ck_assert_int_eq(metric("ergrid_sse_streams"), 2);
    call("/v1/events/stream", NULL, true, &c);
    ck_assert_uint_eq(c.status, 503);
    ck_assert_str_eq(code_of(&c), "unavailable");
    ck_assert_str_eq(api_response_header(&c, "Retry-After"), "1");
    api_response_release(&c);
    /* A reply dropped before it was sent ends its stream (ops->done). */
    api_response_release(&a);
    ck_assert_int_eq(metric("ergrid_sse_streams"), 1);
    memset(&c, 0, sizeof(c));
    call("/v1/events/stream", NULL, true, &c);
    ck_assert_uint_eq(c.status, 200);
    /* Replacing a stream reply with an error ends the stream too. */
    api_reply_error(&c, API_E_INTERNAL, "replaced");
    ck_assert_int_eq(metric("ergrid_sse_streams"), 1);
    api_response_release(&c);
    api_response_release(&b);
    ck_assert_int_eq(metric("ergrid_sse_streams"), 0);
    ck_assert_int_eq(metric("ergrid_sse_streams_opened_total"), 3);
    ck_assert_int_eq(metric("ergrid_sse_streams_refused_total"), 1);
}
END_TEST

START_TEST(test_the_ring_numbers_after_its_first_id_past_its_size)
{
    for (int i = 0; i < 6; i++)
        ck_assert_uint_eq(api_sse_publish(hub, json_pack("{s:s}", "type", "x")),
                          (uint64_t)(101 + i));
    /* No hub: the event is dropped, no id. */
    ck_assert_uint_eq(api_sse_publish(NULL, json_object()), 0);
}
END_TEST

START_TEST(test_closing_refuses_new_streams)
{
    api_response res;

    api_sse_hub_close(hub);
    memset(&res, 0, sizeof(res));
    call("/v1/events/stream", NULL, true, &res);
    ck_assert_uint_eq(res.status, 503);
    ck_assert_str_eq(api_response_header(&res, "Retry-After"), "1");
    api_response_release(&res);
}
END_TEST

Suite *api_suite(void)
{
    Suite *s = suite_create("sse");
    TCase *tc = tcase_create("hub");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_bad_requests_are_400_and_open_nothing);
    tcase_add_test(tc, test_a_transport_that_cannot_park_gets_503);
    tcase_add_test(tc, test_the_cap_then_a_place_given_back);
    tcase_add_test(tc, test_the_ring_numbers_after_its_first_id_past_its_size);
    tcase_add_test(tc, test_closing_refuses_new_streams);
    suite_add_tcase(s, tc);
    return s;
}
