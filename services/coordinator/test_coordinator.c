/* Check tests for the pure parts of ergrid-coordinator: the command line,
 * URL checks, counting free capable units, the poller's district view, event handling
 * and the ShiViz export, and the store's round trip. No network. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "coordinator.h"
#include "dashboard.h"
#include "db.h"
#include "events.h"
#include "handlers_incidents.h"
#include "journal.h"
#include "poller.h"

#define ARGV(...) ((char *[]){"ergrid-coordinator", __VA_ARGS__, NULL})
#define ARGC(...) ((int)(sizeof((char *[]){"x", __VA_ARGS__}) / sizeof(char *)))
#define PARSE(cfg, err, ...)                                                                       \
    coordinator_parse_args(ARGC(__VA_ARGS__), ARGV(__VA_ARGS__), (cfg), (err), sizeof(err))

static json_t *J(const char *text)
{
    json_error_t e;
    json_t *j = json_loads(text, JSON_DECODE_ANY, &e);
    ck_assert_msg(j != NULL, "bad test JSON: %s", e.text);
    return j;
}

/* ---- command line ---- */

START_TEST(args_good_and_defaults)
{
    static coordinator_config c;
    char err[256];
    ck_assert_int_eq(PARSE(&c, err, "--listen", "127.0.0.1:7000", "--data-dir", "/tmp/d"), 0);
    ck_assert_str_eq(c.host, "127.0.0.1");
    ck_assert_uint_eq(c.port, 7000);
    ck_assert_str_eq(c.data_dir, "/tmp/d");
    ck_assert_uint_eq(c.poll_interval_ms, 1000);
    ck_assert_uint_eq(c.threads, 8);

    ck_assert_int_eq(PARSE(&c, err, "--listen=127.0.0.1:0", "--data-dir=/tmp/e",
                           "--poll-interval=250ms", "--threads", "3"),
                     0);
    ck_assert_uint_eq(c.port, 0);
    ck_assert_str_eq(c.data_dir, "/tmp/e");
    ck_assert_uint_eq(c.poll_interval_ms, 250);
    ck_assert_uint_eq(c.threads, 3);
    ck_assert_int_eq(
        PARSE(&c, err, "--poll-interval", "1m", "--listen", "127.0.0.1:1", "--data-dir", "d"), 0);
    ck_assert_uint_eq(c.poll_interval_ms, 60000);
}
END_TEST

START_TEST(args_bad)
{
    static coordinator_config c;
    char err[256];
    ck_assert_int_eq(PARSE(&c, err, "--help"), 1);
    ck_assert_int_eq(PARSE(&c, err, "--listen", "127.0.0.1:0", "--data-dir", "d", "--bogus", "1"),
                     2);
    ck_assert_ptr_nonnull(strstr(err, "--bogus"));
    ck_assert_ptr_null(strchr(err, '\n')); /* one line */
    ck_assert_int_eq(PARSE(&c, err, "--listen", "127.0.0.1:0", "--data-dir"), 2);
    ck_assert_int_eq(PARSE(&c, err, "--listen", "nowhere", "--data-dir", "d"), 2);
    ck_assert_int_eq(
        PARSE(&c, err, "--listen", "127.0.0.1:0", "--data-dir", "d", "--poll-interval", "soon"), 2);
    ck_assert_int_eq(
        PARSE(&c, err, "--listen", "127.0.0.1:0", "--data-dir", "d", "--poll-interval=0s"), 2);
    ck_assert_int_eq(PARSE(&c, err, "--listen", "127.0.0.1:0", "--data-dir", "d", "--threads", "0"),
                     2);
    ck_assert_int_eq(
        PARSE(&c, err, "--listen", "127.0.0.1:0", "--data-dir", "d", "--threads", "-4"), 2);
    ck_assert_int_eq(PARSE(&c, err, "--listen", "127.0.0.1:0", "--data-dir", "d", "--threads=8x"),
                     2);
    ck_assert_int_eq(PARSE(&c, err, "--data-dir", "d"), 2); /* --listen required */
    ck_assert_int_eq(PARSE(&c, err, "--listen", "127.0.0.1:0"), 2);
    ck_assert_int_eq(PARSE(&c, err, "stray"), 2);
    ck_assert_int_eq(PARSE(&c, err, "--listen=127.0.0.1:0", "--data-dir="), 2);
}
END_TEST

START_TEST(url_rules)
{
    ck_assert(coord_url_valid("http://127.0.0.1:7101"));
    ck_assert(coord_url_valid("https://broker.example/base"));
    ck_assert(!coord_url_valid(NULL));
    ck_assert(!coord_url_valid("ftp://127.0.0.1"));
    ck_assert(!coord_url_valid("http://"));
    ck_assert(!coord_url_valid("http:///path"));
    ck_assert(!coord_url_valid("http://a b"));
    ck_assert(!coord_url_valid("http://a\nb"));
    ck_assert(!coord_url_valid("127.0.0.1:7101"));
    char longurl[COORD_URL_MAX + 2];
    memset(longurl, 'a', sizeof(longurl) - 1);
    longurl[sizeof(longurl) - 1] = '\0';
    memcpy(longurl, "http://", 7);
    ck_assert(!coord_url_valid(longurl)); /* 513 characters */
    longurl[COORD_URL_MAX] = '\0';
    ck_assert(coord_url_valid(longurl)); /* exactly 512 */
}
END_TEST

/* ---- district choice (the policy itself: tests/unit/test_routing.c) ---- */

START_TEST(free_capable_counts_own_units_only)
{
    json_t *units = J(
        "["
        "{\"id\":\"LAFD-1\",\"district\":\"Downtown\",\"status\":\"available\",\"authoritative\":"
        "true,"
        " \"capabilities\":[\"firefighting\",\"rescue\"]},"
        "{\"id\":\"LAFD-2\",\"district\":\"Downtown\",\"status\":\"busy\",\"authoritative\":true,"
        " \"capabilities\":[\"firefighting\",\"rescue\"]},"
        "{\"id\":\"EMS-3\",\"district\":\"Downtown\",\"status\":\"available\","
        " \"capabilities\":[\"medical\",\"transport\"]},"
        "{\"id\":\"LAFD-5\",\"district\":\"Westside\",\"status\":\"available\",\"authoritative\":"
        "false,"
        " \"capabilities\":[\"firefighting\"]},"
        "{\"id\":\"LAFD-6\",\"status\":\"available\",\"capabilities\":[\"firefighting\"]},"
        "{\"id\":\"LAFD-7\",\"district\":\"Downtown\",\"status\":\"available\",\"authoritative\":"
        "false,"
        " \"capabilities\":[\"firefighting\"]},"
        "\"garbage\", {\"id\":\"X\",\"status\":\"available\",\"capabilities\":\"firefighting\"}]");
    const char *fire[] = {"firefighting"}, *both[] = {"firefighting", "rescue"};
    const char *med[] = {"medical"}, *none[] = {"hazmat"};
    ck_assert_uint_eq(count_free_capable(units, "Downtown", fire, 1), 2); /* LAFD-1, LAFD-6 */
    ck_assert_uint_eq(count_free_capable(units, "Downtown", both, 2), 1);
    ck_assert_uint_eq(count_free_capable(units, "Downtown", med, 1), 1);
    ck_assert_uint_eq(count_free_capable(units, "Downtown", none, 1), 0);
    ck_assert_uint_eq(count_free_capable(units, "Westside", fire, 1), 1); /* only LAFD-6 */
    ck_assert_uint_eq(count_free_capable(NULL, "Downtown", fire, 1), 0);
    json_decref(units);
}
END_TEST

/* ---- poller view ---- */

/* Critical and high open jobs are never left out of the view, however many
 * routine ones came before them; the counts cover every open job. */
START_TEST(district_view_urgent_first)
{
    json_t *open = json_array(), *done = json_array();
    for (int i = 0; i < COORD_OPEN_SHOWN + 10; i++) {
        char id[16];
        snprintf(id, sizeof(id), "M%d", i);
        json_array_append_new(open, json_pack("{s:s, s:s, s:s, s:s, s:I}", "id", id, "owner", "D",
                                              "status", "queued", "severity", "medium",
                                              "created_ms", (json_int_t)i));
    }
    json_array_append_new(open, json_pack("{s:s, s:s, s:s, s:s, s:I}", "id", "H", "owner", "D",
                                          "status", "assigned", "severity", "high", "created_ms",
                                          (json_int_t)5000));
    json_array_append_new(open, json_pack("{s:s, s:s, s:s, s:s, s:I}", "id", "C", "owner", "D",
                                          "status", "queued", "severity", "critical",
                                          "created_ms", (json_int_t)9000));
    json_array_append_new(done, json_pack("{s:s, s:s, s:s, s:I}", "id", "X", "owner", "D",
                                          "status", "cancelled", "updated_ms", (json_int_t)7));
    json_t *v = district_view("D", NULL, open, done, NULL);
    json_t *jobs = json_object_get(v, "open_jobs"), *oc = json_object_get(v, "open_counts");
    ck_assert_uint_eq(json_array_size(jobs), COORD_OPEN_SHOWN + 2);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(jobs, 0), "id")), "C");
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(jobs, 1), "id")), "H");
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(jobs, 2), "id")), "M0");
    ck_assert_int_eq(json_integer_value(json_object_get(oc, "total")), COORD_OPEN_SHOWN + 12);
    ck_assert_int_eq(json_integer_value(json_object_get(oc, "shown")), COORD_OPEN_SHOWN + 2);
    ck_assert_int_eq(json_integer_value(json_object_get(oc, "critical")), 1);
    ck_assert_int_eq(json_integer_value(json_object_get(oc, "high")), 1);
    ck_assert_int_eq(json_integer_value(json_object_get(oc, "medium")), COORD_OPEN_SHOWN + 10);
    ck_assert_int_eq(json_integer_value(json_object_get(oc, "assigned")), 1);
    json_t *canc = json_object_get(v, "recent_cancelled");
    ck_assert_uint_eq(json_array_size(canc), 1);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(canc, 0), "id")), "X");
    ck_assert_uint_eq(json_array_size(json_object_get(v, "recent_results")), 0);
    json_decref(v);
    json_decref(open);
    json_decref(done);
}
END_TEST

START_TEST(district_view_shapes)
{
    json_t *units = J("[{\"id\":\"A\",\"district\":\"D\",\"status\":\"available\"},"
                      "{\"id\":\"B\",\"district\":\"D\",\"status\":\"busy\"},"
                      "{\"id\":\"C\",\"district\":\"D\",\"status\":\"lost\"},"
                      "{\"id\":\"Z\",\"district\":\"W\",\"status\":\"available\"}]");
    json_t *open =
        J("[{\"id\":\"J1\",\"owner\":\"D\",\"status\":\"queued\"},"
          "{\"id\":\"J2\",\"owner\":\"D\",\"status\":\"assigned\"},"
          "{\"id\":\"J3\",\"owner\":\"W\",\"status\":\"assigned\",\"authoritative\":false}]");
    json_t *done = json_array();
    for (int i = 0; i < 30; i++) {
        char id[16];
        snprintf(id, sizeof(id), "K%d", i);
        json_array_append_new(done,
                              json_pack("{s:s, s:s, s:s, s:I, s:{s:s}}", "id", id, "owner", "D",
                                        "status", "completed", "updated_ms", (json_int_t)(1000 + i),
                                        "result", "outcome", "contained"));
    }
    json_t *peers = J("{\"peers\":[{\"id\":\"W\",\"consecutive_failures\":0}]}");
    json_t *v = district_view("D", units, open, done, peers);
    ck_assert_ptr_nonnull(v);
    json_t *by = json_object_get(v, "units_by_status");
    ck_assert_int_eq(json_integer_value(json_object_get(by, "available")), 1);
    ck_assert_int_eq(json_integer_value(json_object_get(by, "busy")), 1);
    ck_assert_int_eq(json_integer_value(json_object_get(by, "lost")), 1);
    ck_assert_int_eq(json_integer_value(json_object_get(by, "out_of_service")), 0);
    ck_assert_uint_eq(json_array_size(json_object_get(v, "units")), 3);
    ck_assert_uint_eq(json_array_size(json_object_get(v, "open_jobs")), 2);
    json_t *recent = json_object_get(v, "recent_results");
    ck_assert_uint_eq(json_array_size(recent), COORD_RECENT_RESULTS);
    /* newest first */
    ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(recent, 0), "updated_ms")),
                     1029);
    ck_assert_str_eq(json_string_value(json_object_get(
                         json_object_get(json_array_get(recent, 0), "result"), "outcome")),
                     "contained");
    ck_assert(json_equal(json_object_get(v, "peers"), peers));
    json_decref(v);
    v = district_view("D", NULL, NULL, NULL, NULL);
    ck_assert(json_is_null(json_object_get(v, "peers")));
    ck_assert_uint_eq(json_array_size(json_object_get(v, "units")), 0);
    json_decref(v);
    json_decref(units);
    json_decref(open);
    json_decref(done);
    json_decref(peers);
}
END_TEST

/* ---- events ---- */

START_TEST(event_sanitize_and_sort)
{
    json_t *good = J("{\"seq\":3,\"time\":\"2026-01-01T00:00:01.000Z\",\"node\":\"B\","
                     "\"type\":\"job_submitted\",\"job_id\":\"J1\",\"unit_id\":null,"
                     "\"attempt\":null,\"detail\":\"x\",\"vclock\":{\"B\":3},\"extra\":[1,2]}");
    json_t *e = event_sanitize(good);
    ck_assert_ptr_nonnull(e);
    ck_assert_ptr_null(json_object_get(e, "extra"));
    ck_assert_str_eq(json_string_value(json_object_get(e, "node")), "B");
    ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(e, "vclock"), "B")), 3);
    const char *bad[] = {
        "[]",
        "{\"seq\":\"3\",\"time\":\"t\",\"vclock\":{}}",
        "{\"seq\":3,\"time\":5,\"vclock\":{}}",
        "{\"seq\":3,\"time\":\"t\",\"node\":\"a b\",\"vclock\":{}}",
        "{\"seq\":3,\"time\":\"t\",\"vclock\":{\"B\":-1}}",
        "{\"seq\":3,\"time\":\"t\",\"vclock\":[1]}",
        "{\"seq\":3,\"time\":\"t\"}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        json_t *b = J(bad[i]);
        ck_assert_msg(event_sanitize(b) == NULL, "accepted %s", bad[i]);
        json_decref(b);
    }
    json_t *arr = json_array();
    json_array_append_new(arr,
                          J("{\"seq\":2,\"time\":\"2026-01-01T00:00:02.000Z\",\"node\":\"A\"}"));
    json_array_append_new(arr,
                          J("{\"seq\":1,\"time\":\"2026-01-01T00:00:01.000Z\",\"node\":\"B\"}"));
    json_array_append_new(arr,
                          J("{\"seq\":9,\"time\":\"2026-01-01T00:00:01.000Z\",\"node\":\"A\"}"));
    json_array_append_new(arr,
                          J("{\"seq\":8,\"time\":\"2026-01-01T00:00:01.000Z\",\"node\":\"A\"}"));
    events_sort(arr);
    const char *order[] = {"A8", "A9", "B1", "A2"};
    for (size_t i = 0; i < 4; i++) {
        char got[16];
        json_t *x = json_array_get(arr, i);
        snprintf(got, sizeof(got), "%s%lld", json_string_value(json_object_get(x, "node")),
                 (long long)json_integer_value(json_object_get(x, "seq")));
        ck_assert_str_eq(got, order[i]);
    }
    json_decref(arr);
    json_decref(e);
    json_decref(good);
}
END_TEST

START_TEST(shiviz_renumbers_and_pairs_lines)
{
    /* A window of a real run: B's counters start at 7, a unit dot and a
     * host outside the window appear in clocks. */
    json_t *evs = J(
        "["
        "{\"seq\":7,\"time\":\"t1\",\"node\":\"B\",\"type\":\"job_submitted\",\"job_id\":\"J1\","
        " \"detail\":\"line\\nbreak\",\"vclock\":{\"B\":7,\"X\":4}},"
        "{\"seq\":1,\"time\":\"t2\",\"node\":\"coordinator\",\"type\":\"emergency_declared\","
        " \"vclock\":{\"coordinator\":5,\"B\":7}},"
        "{\"seq\":9,\"time\":\"t3\",\"node\":\"B\",\"type\":\"result_accepted\",\"unit_id\":\"U1\","
        " \"attempt\":1,\"vclock\":{\"B\":9,\"coordinator\":5,\"U1\":2}},"
        "{\"seq\":2,\"time\":\"t4\",\"node\":\"W\",\"type\":\"no_own_entry\",\"vclock\":{\"B\":9}}"
        "]");
    size_t len = 0;
    char *text = shiviz_format(evs, &len);
    ck_assert_ptr_nonnull(text);
    ck_assert_uint_eq(strlen(text), len);
    const char *want = "t1 job_submitted job=J1: line break\n"
                       "B {\"B\":1}\n"
                       "t2 emergency_declared\n"
                       "coordinator {\"B\":1,\"coordinator\":1}\n"
                       "t3 result_accepted unit=U1 attempt=1\n"
                       "B {\"B\":2,\"coordinator\":1}\n";
    ck_assert_str_eq(text, want);
    free(text);
    json_t *empty = json_array();
    text = shiviz_format(empty, &len);
    ck_assert_ptr_nonnull(text);
    ck_assert_uint_eq(len, 0);
    free(text);
    json_decref(empty);
    json_decref(evs);
}
END_TEST

START_TEST(event_ring_keeps_newest)
{
    event_ring r;
    memset(&r, 0, sizeof(r));
    for (int i = 1; i <= COORD_EVENTS_PER_NODE + 7; i++)
        event_ring_push(&r, json_integer(i));
    ck_assert_uint_eq(r.n, COORD_EVENTS_PER_NODE);
    ck_assert_int_eq(json_integer_value(r.ev[r.head]), 8);
    ck_assert_int_eq(json_integer_value(r.ev[(r.head + r.n - 1) % COORD_EVENTS_PER_NODE]),
                     COORD_EVENTS_PER_NODE + 7);
    event_ring_clear(&r);
    ck_assert_uint_eq(r.n, 0);
}
END_TEST

/* ---- clocks ---- */

START_TEST(merge_keeps_room_for_own_entry)
{
    static coordinator c;
    static vclock in;
    char node[16];
    memset(&c, 0, sizeof(c));
    vclock_init(&c.clock);
    vclock_init(&in);
    for (int i = 0; i < VCLOCK_MAX_ENTRIES; i++) {
        snprintf(node, sizeof(node), "B%02d", i);
        ck_assert_int_eq(vclock_set(&in, node, 5), 0);
    }
    coordinator_merge_vclock(&c, &in); /* would leave no room for "coordinator" */
    ck_assert_uint_eq(c.clock.n, 0);
    ck_assert_int_eq(vclock_set(&in, "B63", 0), 0);
    coordinator_merge_vclock(&c, &in);
    ck_assert_uint_eq(c.clock.n, VCLOCK_MAX_ENTRIES - 1);
    ck_assert_int_eq(vclock_tick(&c.clock, COORD_NODE), 0);
    ck_assert_uint_eq(vclock_get(&c.clock, "B00"), 5);
    json_t *j = J("{\"B00\":9,\"Z\":1}"); /* a new node: over the cap, skipped whole */
    coordinator_merge_clock(&c, j);
    ck_assert_uint_eq(vclock_get(&c.clock, "B00"), 5);
    json_decref(j);
    j = J("{\"B00\":9}");
    coordinator_merge_clock(&c, j);
    ck_assert_uint_eq(vclock_get(&c.clock, "B00"), 9);
    json_decref(j);
    j = J("{\"B00\":-1}"); /* invalid: ignored */
    coordinator_merge_clock(&c, j);
    ck_assert_uint_eq(vclock_get(&c.clock, "B00"), 9);
    json_decref(j);
}
END_TEST

/* ---- store ---- */

struct seen {
    int brokers, events;
    char last_id[65];
    uint64_t last_seq;
    char last_job[65];
};

static void seen_broker(void *arg, const char *id, const char *url, uint64_t reg, uint64_t last)
{
    struct seen *s = arg;
    s->brokers++;
    snprintf(s->last_id, sizeof(s->last_id), "%s", id);
}

static void seen_event(void *arg, uint64_t seq, uint64_t t, const char *type, const char *job_id,
                       const char *detail, const char *vc)
{
    struct seen *s = arg;
    s->events++;
    s->last_seq = seq;
    snprintf(s->last_job, sizeof(s->last_job), "%s", job_id ? job_id : "(null)");
}

START_TEST(store_round_trip)
{
    char dir[] = "/tmp/ergrid-coord-test-XXXXXX", path[128], err[256];
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/coordinator.db", dir);
    cdb *d = cdb_open(path, err, sizeof(err));
    ck_assert_msg(d != NULL, "%s", err);
    ck_assert_int_eq(cdb_begin(d), 0);
    ck_assert_int_eq(cdb_put_broker(d, "Westside", "http://127.0.0.1:2", 1, 2), 0);
    ck_assert_int_eq(cdb_put_broker(d, "Downtown", "http://127.0.0.1:1", 1, 2), 0);
    ck_assert_int_eq(cdb_put_meta(d, "emergency_level", "high"), 0);
    for (uint64_t i = 1; i <= 5; i++)
        ck_assert_int_eq(
            cdb_add_event(d, i, 100 + i, "t", i == 5 ? "J5" : NULL, "d", "{\"coordinator\":1}"), 0);
    ck_assert_int_eq(cdb_put_incident(d, "J1", "Downtown", "free_unit", 5), 0);
    ck_assert_int_eq(cdb_commit(d), 0);
    cdb_close(d);

    d = cdb_open(path, err, sizeof(err));
    ck_assert_ptr_nonnull(d);
    struct seen s = {0};
    ck_assert_int_eq(cdb_load_brokers(d, seen_broker, &s), 0);
    ck_assert_int_eq(s.brokers, 2);
    ck_assert_str_eq(s.last_id, "Westside"); /* sorted by id */
    ck_assert_int_eq(cdb_load_events(d, 3, seen_event, &s), 0);
    ck_assert_int_eq(s.events, 3);
    ck_assert_uint_eq(s.last_seq, 5); /* newest three, oldest first */
    ck_assert_str_eq(s.last_job, "J5");
    uint64_t seq = 0;
    ck_assert_int_eq(cdb_last_event_seq(d, &seq), 0);
    ck_assert_uint_eq(seq, 5);
    char buf[64], rk[16];
    ck_assert_int_eq(cdb_get_meta(d, "emergency_level", buf, sizeof(buf)), 0);
    ck_assert_str_eq(buf, "high");
    ck_assert_int_eq(cdb_get_meta(d, "nothing", buf, sizeof(buf)), 1); /* absent, not an error */
    ck_assert_int_eq(cdb_get_incident(d, "J1", buf, sizeof(buf), rk, sizeof(rk)), 0);
    ck_assert_str_eq(buf, "Downtown");
    ck_assert_str_eq(rk, "free_unit");
    ck_assert_int_eq(cdb_get_incident(d, "J2", buf, sizeof(buf), rk, sizeof(rk)), -1);
    cdb_close(d);
    char cmd[200];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

START_TEST(dashboard_is_embedded)
{
    ck_assert_uint_gt(dashboard_html_len, 1000);
    ck_assert_uint_eq(strlen((const char *)dashboard_html), dashboard_html_len);
    ck_assert_ptr_nonnull(strstr((const char *)dashboard_html, "/v1/overview"));
    ck_assert_ptr_nonnull(strstr((const char *)dashboard_html, "data-unit-id"));
    ck_assert_ptr_null(strstr((const char *)dashboard_html, "src=\"http"));
}
END_TEST

static Suite *coordinator_suite(void)
{
    Suite *s = suite_create("coordinator");
    TCase *t = tcase_create("core");
    tcase_add_test(t, args_good_and_defaults);
    tcase_add_test(t, args_bad);
    tcase_add_test(t, url_rules);
    tcase_add_test(t, free_capable_counts_own_units_only);
    tcase_add_test(t, district_view_shapes);
    tcase_add_test(t, district_view_urgent_first);
    tcase_add_test(t, event_sanitize_and_sort);
    tcase_add_test(t, shiviz_renumbers_and_pairs_lines);
    tcase_add_test(t, event_ring_keeps_newest);
    tcase_add_test(t, merge_keeps_room_for_own_entry);
    tcase_add_test(t, store_round_trip);
    tcase_add_test(t, dashboard_is_embedded);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(coordinator_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
