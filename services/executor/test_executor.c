/* Check tests for the pure parts of ergrid-executor: the command line, the
 * assignment rules (capacity, attempts, revoke), the store's round trip and
 * its file formats (today's and the one before), and the binary refusing a
 * state file it cannot read. No network: nothing here starts a server or a
 * thread. */
#include <check.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"
#include "executor.h"
#include "position.h"
#include "record.h"
#include "store.h"
#include "table.h"

#define ARGV(...) ((char *const[]){"ergrid-executor", __VA_ARGS__, NULL})
#define ARGC(...) ((int)(sizeof((char *const[]){"x", __VA_ARGS__}) / sizeof(char *)))
#define PARSE(cfg, err, ...)                                                                       \
    exec_parse_args(ARGC(__VA_ARGS__), ARGV(__VA_ARGS__), (cfg), (err), sizeof(err))

#define BASE                                                                                       \
    "--id", "LAFD-1", "--kind", "fire", "--capabilities", "firefighting,rescue", "--broker",       \
        "http://127.0.0.1:7101", "--listen", "127.0.0.1:0", "--data-dir", "/tmp/x"

/* ---- command line ---- */

START_TEST(args_good_both_forms)
{
    static exec_config c;
    char err[256];
    ck_assert_int_eq(PARSE(&c, err, "--id=LAFD-1", "--kind", "fire",
                           "--capabilities=firefighting,rescue,firefighting", "--broker",
                           "http://127.0.0.1:7101/", "--listen=127.0.0.1:7201", "--data-dir",
                           "/tmp/d", "--heartbeat-interval=500ms", "--mode", "simulate",
                           "--simulate-after", "2s", "--capacity=3", "--advertise-url",
                           "http://127.0.0.1:9999"),
                     EXEC_ARGS_OK);
    ck_assert_str_eq(c.id, "LAFD-1");
    ck_assert_str_eq(c.kind, "fire");
    ck_assert_uint_eq(c.ncaps, 2); /* duplicate dropped */
    ck_assert_str_eq(c.caps[1], "rescue");
    ck_assert_str_eq(c.broker, "http://127.0.0.1:7101"); /* trailing '/' dropped */
    ck_assert_str_eq(c.listen_host, "127.0.0.1");
    ck_assert_uint_eq(c.listen_port, 7201);
    ck_assert_str_eq(c.data_dir, "/tmp/d");
    ck_assert_uint_eq(c.heartbeat_ms, 500);
    ck_assert_int_eq(c.mode, EXEC_MODE_SIMULATE);
    ck_assert_uint_eq(c.simulate_after_ms, 2000);
    ck_assert_uint_eq(c.capacity, 3);
    ck_assert_str_eq(c.advertise_url, "http://127.0.0.1:9999");
}
END_TEST

START_TEST(args_defaults_and_help)
{
    static exec_config c;
    char err[256];
    ck_assert_int_eq(PARSE(&c, err, BASE), EXEC_ARGS_OK);
    ck_assert_uint_eq(c.heartbeat_ms, 1000);
    ck_assert_uint_eq(c.simulate_after_ms, 5000);
    ck_assert_uint_eq(c.capacity, 1);
    ck_assert_int_eq(c.mode, EXEC_MODE_MANUAL);
    ck_assert_str_eq(c.advertise_url, "");
    ck_assert(!c.fault_hooks);
    ck_assert_int_eq(PARSE(&c, err, "--id", "x", "--help"), EXEC_ARGS_HELP);
}
END_TEST

START_TEST(args_fault_hooks_switch)
{
    static exec_config c;
    char err[256];
    /* A switch among flags with values: the next flag is not taken as its value. */
    ck_assert_int_eq(PARSE(&c, err, "--fault-hooks", BASE), EXEC_ARGS_OK);
    ck_assert(c.fault_hooks);
    ck_assert_str_eq(c.id, "LAFD-1");
    ck_assert_int_eq(PARSE(&c, err, BASE, "--fault-hooks=1"), EXEC_ARGS_ERROR);
    ck_assert_ptr_nonnull(strstr(err, "no value"));
    ck_assert_int_eq(PARSE(&c, err, BASE, "--fault-hooks", "--fault-hooks"), EXEC_ARGS_ERROR);
}
END_TEST

START_TEST(args_bad)
{
    static exec_config c;
    char err[256];
    /* missing required flag */
    ck_assert_int_eq(PARSE(&c, err, "--id", "LAFD-1"), EXEC_ARGS_ERROR);
    ck_assert_ptr_nonnull(strstr(err, "--kind"));
    /* unknown flag, positional, missing value, given twice */
    ck_assert_int_eq(PARSE(&c, err, BASE, "--colour", "red"), EXEC_ARGS_ERROR);
    ck_assert_ptr_nonnull(strstr(err, "--colour"));
    ck_assert_int_eq(PARSE(&c, err, BASE, "extra"), EXEC_ARGS_ERROR);
    ck_assert_int_eq(PARSE(&c, err, BASE, "--capacity"), EXEC_ARGS_ERROR);
    ck_assert_int_eq(PARSE(&c, err, BASE, "--id", "LAFD-2"), EXEC_ARGS_ERROR);
    /* bad values */
    ck_assert_int_eq(PARSE(&c, err, BASE, "--heartbeat-interval", "soon"), EXEC_ARGS_ERROR);
    ck_assert_int_eq(PARSE(&c, err, BASE, "--simulate-after=0"), EXEC_ARGS_ERROR);
    ck_assert_int_eq(PARSE(&c, err, BASE, "--mode", "auto"), EXEC_ARGS_ERROR);
    ck_assert_int_eq(PARSE(&c, err, BASE, "--capacity", "0"), EXEC_ARGS_ERROR);
    ck_assert_int_eq(PARSE(&c, err, BASE, "--capacity", "2x"), EXEC_ARGS_ERROR);
    ck_assert_int_eq(PARSE(&c, err, BASE, "--capacity", "-1"), EXEC_ARGS_ERROR);
    ck_assert_int_eq(PARSE(&c, err, BASE, "--advertise-url", "ftp://x"), EXEC_ARGS_ERROR);
}
END_TEST

#define BROKERS(list)                                                                              \
    "--id", "L", "--kind", "k", "--capabilities", "a", "--broker", (list), "--listen",             \
        "127.0.0.1:0", "--data-dir", "/tmp/x"

/* --broker URL[,URL...]: a district's brokers, each a bare origin. */
START_TEST(args_broker_list)
{
    static exec_config c;
    char err[256];
    ck_assert_int_eq(PARSE(&c, err, BROKERS("http://127.0.0.1:7101/,http://127.0.0.1:7102")),
                     EXEC_ARGS_OK);
    ck_assert_uint_eq(c.nbrokers, 2);
    ck_assert_str_eq(c.broker, "http://127.0.0.1:7101");
    ck_assert_str_eq(c.brokers[1], "http://127.0.0.1:7102");
    ck_assert_int_eq(PARSE(&c, err, BROKERS("http://a:1,http://a:1")), EXEC_ARGS_ERROR);
    ck_assert_ptr_nonnull(strstr(err, "twice"));
    ck_assert_int_eq(PARSE(&c, err, BROKERS("http://a:1,https://b:1")), EXEC_ARGS_ERROR);
    ck_assert_ptr_nonnull(strstr(err, "one scheme"));
    ck_assert_int_eq(PARSE(&c, err, BROKERS("http://a:1/prefix")), EXEC_ARGS_ERROR);
    ck_assert_int_eq(PARSE(&c, err, BROKERS("http://a:1,")), EXEC_ARGS_ERROR);
    ck_assert_int_eq(PARSE(&c, err, BROKERS("http://a:1,,http://b:1")), EXEC_ARGS_ERROR);
    ck_assert_int_eq(PARSE(&c, err, BROKERS("http://1:1,http://2:1,http://3:1,http://4:1,"
                                            "http://5:1,http://6:1,http://7:1,http://8:1,"
                                            "http://9:1")),
                     EXEC_ARGS_ERROR);
    ck_assert_ptr_nonnull(strstr(err, "at most 8"));
}
END_TEST

START_TEST(args_bad_ids_and_urls)
{
    static exec_config c;
    char err[256];
    ck_assert_int_eq(PARSE(&c, err, "--id", "LAFD 1", "--kind", "fire", "--capabilities", "a",
                           "--broker", "http://127.0.0.1:1", "--listen", "127.0.0.1:0",
                           "--data-dir", "/tmp/x"),
                     EXEC_ARGS_ERROR);
    ck_assert_ptr_nonnull(strstr(err, "--id"));
    ck_assert_int_eq(PARSE(&c, err, "--id", "L", "--kind", "fi/re", "--capabilities", "a",
                           "--broker", "http://127.0.0.1:1", "--listen", "127.0.0.1:0",
                           "--data-dir", "/tmp/x"),
                     EXEC_ARGS_ERROR);
    ck_assert_int_eq(PARSE(&c, err, "--id", "L", "--kind", "k", "--capabilities", "a,,b",
                           "--broker", "http://127.0.0.1:1", "--listen", "127.0.0.1:0",
                           "--data-dir", "/tmp/x"),
                     EXEC_ARGS_ERROR);
    ck_assert_int_eq(PARSE(&c, err, "--id", "L", "--kind", "k", "--capabilities", "a", "--broker",
                           "127.0.0.1:1", "--listen", "127.0.0.1:0", "--data-dir", "/tmp/x"),
                     EXEC_ARGS_ERROR);
    ck_assert_int_eq(PARSE(&c, err, "--id", "L", "--kind", "k", "--capabilities", "a", "--broker",
                           "http://127.0.0.1:1", "--listen", "nowhere", "--data-dir", "/tmp/x"),
                     EXEC_ARGS_ERROR);
    ck_assert_int_eq(PARSE(&c, err, "--id", "L", "--kind", "k", "--capabilities", "a", "--broker",
                           "http://127.0.0.1:1", "--listen", "127.0.0.1:0", "--data-dir="),
                     EXEC_ARGS_ERROR);
}
END_TEST

/* ---- assignment rules and store ---- */

static char tmpdir[64];
static executor ex;

static int rm_cb(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void make_executor(executor *e, unsigned capacity)
{
    static exec_config c;
    char err[256];
    ck_assert_int_eq(PARSE(&c, err, BASE), EXEC_ARGS_OK);
    snprintf(c.data_dir, sizeof c.data_dir, "%s", tmpdir);
    c.capacity = capacity;
    ck_assert_int_eq(exec_init(e, &c), EXEC_OK);
}

static void setup(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/test_executor.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
    make_executor(&ex, 1);
}

static void teardown(void)
{
    exec_release(&ex);
    nftw(tmpdir, rm_cb, 8, FTW_DEPTH | FTW_PHYS);
}

/* Assigns job_id/attempt; returns the exec_assign code. */
/* Downtown assigns the job with its clock at `downtown`; *vc receives the
 * clock the executor holds for it afterwards. */
static int assign_at(executor *e, const char *job_id, int64_t attempt, uint64_t downtown,
                     vclock *vc)
{
    asg_input in;
    memset(&in, 0, sizeof in);
    in.job = json_pack("{s:s, s:s}", "id", job_id, "type", "building_fire");
    snprintf(in.job_id, sizeof in.job_id, "%s", job_id);
    in.attempt = attempt;
    snprintf(in.owner, sizeof in.owner, "Downtown");
    in.owner_url = "http://127.0.0.1:7101";
    vclock_init(&in.vc);
    vclock_set(&in.vc, "Downtown", downtown);
    in.has_vc = true;
    json_t *out = NULL;
    int rc = exec_assign(e, &in, &out, vc);
    if (rc >= 0) {
        ck_assert_ptr_nonnull(out);
        ck_assert_str_eq(json_string_value(json_object_get(out, "job_id")), job_id);
    }
    json_decref(out);
    json_decref(in.job);
    return rc;
}

static int assign(executor *e, const char *job_id, int64_t attempt)
{
    vclock vc;
    int rc = assign_at(e, job_id, attempt, 7, &vc);
    if (rc >= 0)
        ck_assert_uint_eq(vclock_get(&vc, "Downtown"), 7);
    return rc;
}

static const char *state_of(executor *e, const char *job_id)
{
    static char buf[16];
    json_t *a = NULL;
    if (exec_get(e, job_id, &a) != EXEC_OK)
        return "absent";
    snprintf(buf, sizeof buf, "%s", json_string_value(json_object_get(a, "state")));
    json_decref(a);
    return buf;
}

START_TEST(capacity_rule)
{
    ck_assert_int_eq(assign(&ex, "J1", 1), EXEC_CREATED);
    ck_assert_int_eq(assign(&ex, "J1", 1), EXEC_OK);         /* idempotent */
    ck_assert_int_eq(assign(&ex, "J2", 1), EXEC_E_CAPACITY); /* capacity 1 */
    ck_assert_int_eq(assign(&ex, "J1", 2), EXEC_CREATED);    /* newer attempt replaces */
    ck_assert_uint_eq(exec_count(&ex, ASG_ACTIVE), 1);
    ck_assert_uint_eq(ex.n, 1);
    ck_assert_int_eq(assign(&ex, "J1", 1), EXEC_E_STALE); /* older attempt refused */
    /* A revoked assignment no longer counts toward capacity. */
    ck_assert_int_eq(exec_revoke(&ex, "J1", 0, NULL, NULL, NULL), EXEC_OK);
    ck_assert_int_eq(assign(&ex, "J2", 1), EXEC_CREATED);
    ck_assert_uint_eq(exec_count(&ex, ASG_ACTIVE), 1);
    ck_assert_uint_eq(exec_count(&ex, ASG_REVOKED), 1);
}
END_TEST

START_TEST(capacity_three)
{
    exec_release(&ex);
    make_executor(&ex, 3);
    ck_assert_int_eq(assign(&ex, "A", 1), EXEC_CREATED);
    ck_assert_int_eq(assign(&ex, "B", 1), EXEC_CREATED);
    ck_assert_int_eq(assign(&ex, "C", 1), EXEC_CREATED);
    ck_assert_int_eq(assign(&ex, "D", 1), EXEC_E_CAPACITY);
    ck_assert_int_eq(assign(&ex, "B", 5), EXEC_CREATED); /* replacing keeps the count */
    ck_assert_uint_eq(exec_count(&ex, ASG_ACTIVE), 3);
}
END_TEST

START_TEST(revoke_marking)
{
    ck_assert_int_eq(assign(&ex, "J1", 2), EXEC_CREATED);
    ck_assert_int_eq(exec_revoke(&ex, "nope", 0, NULL, NULL, NULL), EXEC_E_NOTFOUND);
    /* An older attempt's revoke leaves the newer one alone. */
    json_t *out = NULL;
    ck_assert_int_eq(exec_revoke(&ex, "J1", 1, NULL, &out, NULL), EXEC_OK);
    ck_assert_str_eq(json_string_value(json_object_get(out, "state")), "active");
    json_decref(out);
    ck_assert_int_eq(exec_revoke(&ex, "J1", 2, "redeployed", &out, NULL), EXEC_OK);
    ck_assert_str_eq(json_string_value(json_object_get(out, "state")), "revoked");
    ck_assert_str_eq(json_string_value(json_object_get(out, "revoke_reason")), "redeployed");
    json_decref(out);
    /* Revoking again is harmless; it is kept, not dropped. */
    ck_assert_int_eq(exec_revoke(&ex, "J1", 0, NULL, NULL, NULL), EXEC_OK);
    ck_assert_str_eq(state_of(&ex, "J1"), "revoked");
}
END_TEST

START_TEST(heartbeat_revocations)
{
    exec_release(&ex);
    make_executor(&ex, 4);
    ck_assert_int_eq(assign(&ex, "J1", 1), EXEC_CREATED);
    ck_assert_int_eq(assign(&ex, "J2", 3), EXEC_CREATED);
    ck_assert_int_eq(assign(&ex, "J3", 1), EXEC_CREATED);
    json_t *hb = exec_heartbeat_body(&ex);
    ck_assert_uint_eq(json_array_size(json_object_get(hb, "jobs")), 3);
    json_decref(hb);
    json_t *rev = json_loads("[{\"job_id\":\"J1\",\"attempt\":1,\"reason\":\"redeployed\"},"
                             "{\"job_id\":\"J2\",\"attempt\":2}," /* older: ignored */
                             "{\"job_id\":\"J3\",\"attempt\":9}," /* newer: revokes */
                             "{\"job_id\":\"bad id\",\"attempt\":1},"
                             "{\"job_id\":\"J9\",\"attempt\":1}]",
                             0, NULL);
    ck_assert_ptr_nonnull(rev);
    ck_assert_int_eq(exec_apply_revoked(&ex, rev), 2);
    json_decref(rev);
    ck_assert_str_eq(state_of(&ex, "J1"), "revoked");
    ck_assert_str_eq(state_of(&ex, "J2"), "active");
    ck_assert_str_eq(state_of(&ex, "J3"), "revoked");
    hb = exec_heartbeat_body(&ex);
    json_t *jobs = json_object_get(hb, "jobs");
    ck_assert_uint_eq(json_array_size(jobs), 1);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(jobs, 0), "job_id")), "J2");
    ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(jobs, 0), "attempt")), 3);
    json_decref(hb);
}
END_TEST

START_TEST(store_round_trip)
{
    exec_release(&ex);
    make_executor(&ex, 2);
    ck_assert_int_eq(assign(&ex, "J1", 1), EXEC_CREATED);
    ck_assert_int_eq(assign(&ex, "J2", 4), EXEC_CREATED);
    ck_assert_int_eq(exec_revoke(&ex, "J1", 1, "cancelled", NULL, NULL), EXEC_OK);
    pthread_mutex_lock(&ex.mu);
    ex.report_counter = 41;
    exec_find_locked(&ex, "J2")->report =
        json_pack("{s:s, s:i, s:b}", "outcome", "contained", "status", 201, "accepted", 1);
    ck_assert_int_eq(asg_transition(&exec_find_locked(&ex, "J2")->state, ASG_REPORTED), COORD_OK);
    ex.gen++;
    pthread_mutex_unlock(&ex.mu);
    ck_assert_int_eq(exec_sync(&ex), 0);
    json_t *before = exec_list_json(&ex);

    static executor back;
    make_executor(&back, 2);
    char err[256];
    ck_assert_int_eq(exec_load(&back, err, sizeof err), 0);
    ck_assert_uint_eq(back.n, 2);
    ck_assert_uint_eq(back.report_counter, 41);
    ck_assert_uint_ge(back.next_seq, 3);
    json_t *after = exec_list_json(&back);
    ck_assert(json_equal(before, after));
    ck_assert_str_eq(state_of(&back, "J1"), "revoked");
    ck_assert_str_eq(state_of(&back, "J2"), "reported");
    /* Order (arrival) survives too. */
    ck_assert_str_eq(back.v[0]->job_id, "J1");
    ck_assert_uint_eq(back.v[1]->attempt, 4);
    ck_assert_uint_eq(vclock_get(&back.v[1]->vc, "Downtown"), 7);
    json_decref(before);
    json_decref(after);
    exec_release(&back);
}
END_TEST

START_TEST(store_missing_and_corrupt)
{
    char err[256];
    ck_assert_int_eq(exec_load(&ex, err, sizeof err), 0); /* no file yet: fine */
    ck_assert_uint_eq(ex.n, 0);
    char path[128];
    snprintf(path, sizeof path, "%s/%s", tmpdir, EXEC_STORE_FILE);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs("{\"version\":1,\"unit_id\":\"LAFD-1\",\"assign", f);
    fclose(f);
    ck_assert_int_eq(exec_load(&ex, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, EXEC_STORE_FILE));
    /* Valid JSON with a bad entry is refused as well. */
    f = fopen(path, "w");
    fputs("{\"version\":1,\"unit_id\":\"LAFD-1\",\"report_counter\":0,\"next_seq\":1,"
          "\"assignments\":[{\"job_id\":\"J 1\"}]}",
          f);
    fclose(f);
    ck_assert_int_eq(exec_load(&ex, err, sizeof err), -1);
    ck_assert_uint_eq(ex.n, 0);
    /* Another unit's file is not silently adopted. */
    f = fopen(path, "w");
    fputs("{\"version\":1,\"unit_id\":\"LAFD-9\",\"report_counter\":0,\"next_seq\":1,"
          "\"assignments\":[]}",
          f);
    fclose(f);
    ck_assert_int_eq(exec_load(&ex, err, sizeof err), -1);
}
END_TEST

START_TEST(store_write_is_atomic_file)
{
    ck_assert_int_eq(assign(&ex, "J1", 1), EXEC_CREATED);
    char path[128];
    snprintf(path, sizeof path, "%s/%s.tmp", tmpdir, EXEC_STORE_FILE);
    ck_assert_int_ne(access(path, F_OK), 0); /* temp file renamed away */
    snprintf(path, sizeof path, "%s/%s", tmpdir, EXEC_STORE_FILE);
    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr);
    ck_assert_ptr_nonnull(root);
    ck_assert_uint_eq(json_array_size(json_object_get(root, "assignments")), 1);
    json_decref(root);
}
END_TEST

/* ---- file formats ---- */

static void put_file(const char *name, const char *text)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_ge(fputs(text, f), 0);
    ck_assert_int_eq(fclose(f), 0);
}

static json_t *testdata(const char *name)
{
    const char *dir = getenv("EXEC_TESTDATA");
    ck_assert_msg(dir != NULL, "EXEC_TESTDATA is not set (run through meson test)");
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    json_error_t jerr;
    json_t *j = json_load_file(path, 0, &jerr);
    ck_assert_msg(j != NULL, "%s: %s", path, jerr.text);
    return j;
}

static json_t *state_file(void)
{
    char path[128];
    snprintf(path, sizeof path, "%s/%s", tmpdir, EXEC_STORE_FILE);
    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr);
    ck_assert_msg(root != NULL, "%s: %s", path, jerr.text);
    return root;
}

/* A file exactly as the executor wrote it before the store had a format of
 * its own ("version": 1; a reported, two revoked and an active holding,
 * written by that build): it loads, and shows what that build showed. */
START_TEST(store_loads_format1_file)
{
    exec_release(&ex);
    make_executor(&ex, 2);
    json_t *file = testdata("assignments-format1.json");
    ck_assert_int_eq(json_integer_value(json_object_get(file, "version")), 1);
    char path[128];
    snprintf(path, sizeof path, "%s/%s", tmpdir, EXEC_STORE_FILE);
    ck_assert_int_eq(json_dump_file(file, path, JSON_COMPACT), 0);
    json_decref(file);

    char err[256];
    ck_assert_msg(exec_load(&ex, err, sizeof err) == 0, "%s", err);
    ck_assert_uint_eq(ex.n, 4);
    ck_assert_uint_eq(ex.report_counter, 1);
    ck_assert_uint_eq(ex.next_seq, 5);
    ck_assert_str_eq(state_of(&ex, "fire-A"), "reported");
    ck_assert_str_eq(state_of(&ex, "fire-B"), "revoked");
    ck_assert_str_eq(state_of(&ex, "fire-C"), "active");
    ck_assert_str_eq(state_of(&ex, "fire-D"), "revoked");
    ck_assert_uint_eq(exec_count(&ex, ASG_ACTIVE), 1);
    json_t *view = exec_list_json(&ex);
    json_t *then = testdata("assignments-format1.view.json");
    ck_assert_msg(json_equal(view, then), "the wire view of a format-1 file changed");
    json_decref(then);

    /* The next write is format 2, and it reads back the same. */
    ck_assert_int_eq(exec_revoke(&ex, "fire-C", 0, "cancelled", NULL, NULL), EXEC_OK);
    json_t *root = state_file();
    ck_assert_int_eq(json_integer_value(json_object_get(root, "format")), EXEC_STORE_FORMAT);
    ck_assert_ptr_null(json_object_get(root, "version"));
    json_t *first = json_array_get(json_object_get(root, "assignments"), 0);
    ck_assert_ptr_null(json_object_get(first, "received_at")); /* the wire's, not the disk's */
    ck_assert_int_eq(json_integer_value(json_object_get(first, "seq")), 1);
    json_decref(root);
    json_decref(view);
    view = exec_list_json(&ex);
    static executor back;
    make_executor(&back, 2);
    ck_assert_msg(exec_load(&back, err, sizeof err) == 0, "%s", err);
    json_t *again = exec_list_json(&back);
    ck_assert(json_equal(view, again));
    ck_assert_uint_eq(back.report_counter, 1);
    ck_assert_uint_eq(back.next_seq, 5);
    json_decref(view);
    json_decref(again);
    exec_release(&back);
}
END_TEST

START_TEST(store_refuses_unknown_formats)
{
    static const struct {
        const char *text, *says;
    } bad[] = {
        {"{\"format\":4,\"unit_id\":\"LAFD-1\",\"report_counter\":0,\"next_seq\":1,"
         "\"seen\":{},\"assignments\":[]}",
         "format 4 is newer"},
        {"{\"format\":3,\"unit_id\":\"LAFD-1\",\"report_counter\":0,\"next_seq\":1,"
         "\"assignments\":[]}",
         "bad seen clock"},
        {"{\"format\":99}", "format 99 is newer"},
        {"{\"format\":\"2\",\"unit_id\":\"LAFD-1\",\"report_counter\":0,\"next_seq\":1,"
         "\"assignments\":[]}",
         "unknown format"},
        {"{\"format\":1,\"unit_id\":\"LAFD-1\",\"report_counter\":0,\"next_seq\":1,"
         "\"assignments\":[]}",
         "unknown format"},
        {"{\"version\":2,\"unit_id\":\"LAFD-1\",\"report_counter\":0,\"next_seq\":1,"
         "\"assignments\":[]}",
         "unknown version"},
        {"[]", "not a JSON object"},
        {"{\"format\":2,\"unit_id\":\"LAFD-1\",\"next_seq\":1,\"assignments\":[]}", "bad members"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char err[512] = "";
        put_file(EXEC_STORE_FILE, bad[i].text);
        ck_assert_msg(exec_load(&ex, err, sizeof err) == -1, "loaded %s", bad[i].text);
        ck_assert_msg(strstr(err, bad[i].says) != NULL, "'%s': %s", bad[i].says, err);
        ck_assert_ptr_nonnull(strstr(err, EXEC_STORE_FILE)); /* names the file */
        ck_assert_uint_eq(ex.n, 0);
    }
    /* The same members under "format": 2 load. */
    char err[512];
    put_file(EXEC_STORE_FILE, "{\"format\":2,\"unit_id\":\"LAFD-1\",\"report_counter\":3,"
                              "\"next_seq\":1,\"assignments\":[]}");
    ck_assert_msg(exec_load(&ex, err, sizeof err) == 0, "%s", err);
    ck_assert_uint_eq(ex.report_counter, 3);
}
END_TEST

/* A file the previous build wrote (format 2, no seen clock) loads as it
 * was, with nothing seen; the next write is format 3 and keeps the clock. */
START_TEST(store_loads_format2_file)
{
    exec_release(&ex);
    make_executor(&ex, 2);
    json_t *file = testdata("assignments-format2.json");
    ck_assert_int_eq(json_integer_value(json_object_get(file, "format")), 2);
    ck_assert_str_eq(json_string_value(json_object_get(file, "unit_id")), "LAFD-7");
    char path[128];
    snprintf(path, sizeof path, "%s/%s", tmpdir, EXEC_STORE_FILE);
    ck_assert_int_eq(json_dump_file(file, path, JSON_COMPACT), 0);
    json_decref(file);
    snprintf(ex.cfg.id, sizeof ex.cfg.id, "LAFD-7");

    char err[256];
    ck_assert_msg(exec_load(&ex, err, sizeof err) == 0, "%s", err);
    ck_assert_uint_eq(ex.n, 2);
    ck_assert_str_eq(state_of(&ex, "fire-E"), "revoked");
    ck_assert_str_eq(state_of(&ex, "fire-F"), "active");
    ck_assert_uint_eq(ex.seen.n, 0);
    ck_assert_uint_eq(ex.next_seq, 3);

    ck_assert_int_eq(assign(&ex, "J1", 1), EXEC_CREATED); /* clock {"Downtown":7} */
    json_t *root = state_file();
    ck_assert_int_eq(json_integer_value(json_object_get(root, "format")), EXEC_STORE_FORMAT);
    ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(root, "seen"), "Downtown")),
                     7);
    json_decref(root);
    static executor back;
    make_executor(&back, 2);
    snprintf(back.cfg.id, sizeof back.cfg.id, "LAFD-7");
    ck_assert_msg(exec_load(&back, err, sizeof err) == 0, "%s", err);
    ck_assert_uint_eq(vclock_get(&back.seen, "Downtown"), 7);
    exec_release(&back);
}
END_TEST

/* The heartbeat sends what is held, with its owner, and the seen clock:
 * the max of every clock received, from assignments and from replies. A
 * resent attempt with another clock is adopted, so a report follows both. */
START_TEST(heartbeat_seen_clock_and_adoption)
{
    exec_release(&ex);
    make_executor(&ex, 2);
    ck_assert_int_eq(assign(&ex, "J1", 1), EXEC_CREATED);
    json_t *reply = json_pack("{s:i, s:i}", "Downtown", 5, "Westside", 3);
    exec_saw_clock(&ex, reply);
    json_decref(reply);
    exec_saw_clock(&ex, NULL);
    json_t *junk = json_string("not a clock");
    exec_saw_clock(&ex, junk); /* ignored */
    json_decref(junk);
    json_t *hb = exec_heartbeat_body(&ex);
    json_t *j0 = json_array_get(json_object_get(hb, "jobs"), 0);
    ck_assert_str_eq(json_string_value(json_object_get(j0, "owner")), "Downtown");
    json_t *seen = json_object_get(hb, "seen");
    ck_assert_int_eq(json_integer_value(json_object_get(seen, "Downtown")), 7);
    ck_assert_int_eq(json_integer_value(json_object_get(seen, "Westside")), 3);
    json_decref(hb);

    vclock vc;
    ck_assert_int_eq(assign_at(&ex, "J1", 1, 9, &vc), EXEC_OK); /* held: 200 */
    ck_assert_uint_eq(vclock_get(&vc, "Downtown"), 9);
    ck_assert_uint_eq(vclock_get(&ex.seen, "Downtown"), 9);
    json_t *root = state_file();
    json_t *rec = json_array_get(json_object_get(root, "assignments"), 0);
    ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(rec, "vclock"), "Downtown")),
                     9);
    json_decref(root);
}
END_TEST

/* The disk format and the wire view are separate: each has members the
 * other does not, and an image survives its own format unchanged. */
START_TEST(store_image_format_round_trip)
{
    exec_release(&ex);
    make_executor(&ex, 3);
    ck_assert_int_eq(assign(&ex, "J1", 1), EXEC_CREATED);
    ck_assert_int_eq(assign(&ex, "J2", 2), EXEC_CREATED);
    ck_assert_int_eq(exec_revoke(&ex, "J2", 2, "redeployed", NULL, NULL), EXEC_OK);
    json_t *disk = state_file();
    json_t *rec = json_array_get(json_object_get(disk, "assignments"), 1);
    ck_assert_int_eq(json_integer_value(json_object_get(rec, "seq")), 2);
    ck_assert(json_is_integer(json_object_get(rec, "received_ms")));
    ck_assert_str_eq(json_string_value(json_object_get(rec, "revoke_reason")), "redeployed");
    json_t *wire = NULL;
    ck_assert_int_eq(exec_get(&ex, "J2", &wire), EXEC_OK);
    ck_assert_ptr_null(json_object_get(wire, "seq"));
    ck_assert_ptr_null(json_object_get(wire, "received_ms"));
    ck_assert(json_is_string(json_object_get(wire, "received_at")));
    json_decref(wire);

    exec_image img;
    char err[256];
    ck_assert_msg(store_image_parse(disk, "LAFD-1", &img, err, sizeof err) == 0, "%s", err);
    ck_assert_uint_eq(img.n, 2);
    ck_assert_str_eq(img.v[1]->job_id, "J2");
    ck_assert_int_eq(img.v[1]->state, ASG_REVOKED);
    ck_assert_uint_eq(vclock_get(&img.v[1]->vc, "Downtown"), 7);
    json_t *again = store_image_json(&img);
    ck_assert(json_equal(disk, again));
    exec_image before = img;
    ck_assert_int_eq(store_image_parse(disk, "LAFD-9", &img, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "LAFD-9"));
    ck_assert_ptr_eq(img.v, before.v); /* untouched on failure */
    exec_image_release(&img);
    exec_image_release(&img); /* released twice: harmless */
    json_decref(again);
    json_decref(disk);
}
END_TEST

/* main refuses to start on a file of a newer format: a clear message and a
 * non-zero exit, as for a corrupt file. */
START_TEST(binary_refuses_newer_format)
{
    const char *bin = getenv("ERGRID_EXECUTOR");
    ck_assert_msg(bin != NULL, "ERGRID_EXECUTOR is not set (run through meson test)");
    put_file(EXEC_STORE_FILE, "{\"format\":7,\"unit_id\":\"LAFD-1\",\"report_counter\":0,"
                              "\"next_seq\":1,\"assignments\":[]}");
    char cmd[1024];
    /* timeout: were the file accepted, the service would run until stopped. */
    snprintf(cmd, sizeof cmd,
             "timeout 20 '%s' --id LAFD-1 --kind fire --capabilities firefighting "
             "--broker http://127.0.0.1:9 --listen 127.0.0.1:0 --data-dir '%s' 2>&1",
             bin, tmpdir);
    FILE *p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    char out[4096];
    size_t len = fread(out, 1, sizeof out - 1, p);
    out[len] = '\0';
    int status = pclose(p);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 1, "status %d: %s", status, out);
    ck_assert_msg(strstr(out, "format 7 is newer") != NULL, "%s", out);
    ck_assert_ptr_null(strstr(out, "listening on"));
}
END_TEST

START_TEST(mkdirs_nested)
{
    char path[128];
    snprintf(path, sizeof path, "%s/a/b/c", tmpdir);
    ck_assert_int_eq(service_mkdir_p(path), 0);
    ck_assert_int_eq(service_mkdir_p(path), 0);
    ck_assert_int_eq(access(path, W_OK), 0);
}
END_TEST

START_TEST(url_validation)
{
    ck_assert(exec_url_valid("http://127.0.0.1:7101"));
    ck_assert(exec_url_valid("https://x")); /* TLS (docs/SECURITY.md) */
    ck_assert(!exec_url_valid("https://"));
    ck_assert(!exec_url_valid("ftp://x"));
    ck_assert(!exec_url_valid("http://"));
    ck_assert(!exec_url_valid("http://a b"));
    ck_assert(!exec_url_valid(NULL));
    char big[EXEC_URL_MAX + 8];
    memset(big, 'a', sizeof big);
    memcpy(big, "http://", 7);
    big[sizeof big - 1] = '\0';
    ck_assert(!exec_url_valid(big));
}
END_TEST

/* ---- position ---- */

START_TEST(args_station)
{
    static exec_config c;
    char err[256];
    ck_assert_int_eq(PARSE(&c, err, BASE), EXEC_ARGS_OK);
    ck_assert(!c.has_station);
    ck_assert_int_eq(PARSE(&c, err, BASE, "--station", "34.0522,-118.2437"), EXEC_ARGS_OK);
    ck_assert(c.has_station);
    ck_assert_double_eq_tol(c.station.lat, 34.0522, 1e-9);
    ck_assert_double_eq_tol(c.station.lon, -118.2437, 1e-9);
    ck_assert_int_eq(PARSE(&c, err, BASE, "--station=-90,180"), EXEC_ARGS_OK);
    static char *const bad[] = {"91,0",  "0,-180.5", "east,0", "34.05", "34.05,", ",1",
                                "1,2,3", "1,2x",     "nan,0",  "0,inf", "",       "1e400,0"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_msg(PARSE(&c, err, BASE, "--station", bad[i]) == EXEC_ARGS_ERROR, "%s", bad[i]);
        ck_assert_msg(strstr(err, "--station") != NULL, "%s: %s", bad[i], err);
    }
    ck_assert_int_eq(PARSE(&c, err, BASE, "--station", "1,1", "--station", "2,2"), EXEC_ARGS_ERROR);
}
END_TEST

START_TEST(rfc3339_fixed_at)
{
    uint64_t ms = 0;
    ck_assert_int_eq(exec_parse_rfc3339_ms("2026-12-01T15:30:04Z", &ms), 0);
    ck_assert_uint_eq(ms, 1796139004000ULL);
    ck_assert_int_eq(exec_parse_rfc3339_ms("2026-12-01T15:30:04.25Z", &ms), 0);
    ck_assert_uint_eq(ms, 1796139004250ULL);
    ck_assert_int_eq(exec_parse_rfc3339_ms("2026-12-01T07:30:04.250123-08:00", &ms), 0);
    ck_assert_uint_eq(ms, 1796139004250ULL);
    ck_assert_int_eq(exec_parse_rfc3339_ms("2026-12-01t17:30:04+02:00", &ms), 0);
    ck_assert_uint_eq(ms, 1796139004000ULL);
    static const char *const bad[] = {
        "yesterday",
        "2026-12-01",
        "2026-12-01T15:30:04",
        "2026-12-01 15:30:04Z",
        "2026-02-31T10:00:00Z",
        "2026-13-01T00:00:00Z",
        "2026-12-01T24:00:00Z",
        "2026-12-01T15:30:04.Z",
        "2026-12-01T15:30:04+0800",
        "2026-12-01T15:30:04Zjunk",
        "1969-12-31T23:59:59Z",
        "",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(exec_parse_rfc3339_ms(bad[i], &ms) < 0, "%s", bad[i]);
    ck_assert_int_eq(exec_parse_rfc3339_ms(NULL, &ms), -1);
}
END_TEST

START_TEST(position_keeps_the_newest_fix)
{
    ck_assert_ptr_null(exec_position_fix_json(&ex, 1000));
    ck_assert(exec_position_set(&ex, (geo_point){34.05, -118.25}, 5000));
    /* Out of order: an older fix does not replace it. */
    ck_assert(!exec_position_set(&ex, (geo_point){1, 1}, 4000));
    json_t *f = exec_position_fix_json(&ex, 7500);
    ck_assert_ptr_nonnull(f);
    ck_assert_double_eq_tol(json_number_value(json_object_get(f, "lat")), 34.05, 1e-9);
    ck_assert_int_eq(json_integer_value(json_object_get(f, "age_ms")), 2500);
    /* The heartbeat's fix is only lat, lon and age_ms: small. */
    ck_assert_uint_eq(json_object_size(f), 3);
    json_decref(f);
    /* A day old, it is no longer sent. */
    f = exec_position_fix_json(&ex, 5000 + EXEC_FIX_MAX_AGE_MS);
    ck_assert_ptr_nonnull(f);
    json_decref(f);
    ck_assert_ptr_null(exec_position_fix_json(&ex, 5001 + EXEC_FIX_MAX_AGE_MS));
    json_t *v = exec_position_view(&ex, true, 7500);
    ck_assert(json_is_true(json_object_get(v, "applied")));
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(v, "fix"), "fixed_at")),
                     "1970-01-01T00:00:05.000Z");
    ck_assert(json_is_null(json_object_get(v, "station")));
    json_decref(v);
}
END_TEST

static Suite *executor_suite(void)
{
    Suite *s = suite_create("executor");
    TCase *args = tcase_create("args");
    tcase_add_test(args, args_good_both_forms);
    tcase_add_test(args, args_defaults_and_help);
    tcase_add_test(args, args_fault_hooks_switch);
    tcase_add_test(args, args_bad);
    tcase_add_test(args, args_bad_ids_and_urls);
    tcase_add_test(args, args_broker_list);
    tcase_add_test(args, url_validation);
    tcase_add_test(args, args_station);
    tcase_add_test(args, rfc3339_fixed_at);
    suite_add_tcase(s, args);

    TCase *state = tcase_create("state");
    tcase_add_checked_fixture(state, setup, teardown);
    tcase_add_test(state, capacity_rule);
    tcase_add_test(state, capacity_three);
    tcase_add_test(state, revoke_marking);
    tcase_add_test(state, heartbeat_revocations);
    tcase_add_test(state, store_round_trip);
    tcase_add_test(state, store_missing_and_corrupt);
    tcase_add_test(state, store_write_is_atomic_file);
    tcase_add_test(state, store_loads_format1_file);
    tcase_add_test(state, store_loads_format2_file);
    tcase_add_test(state, heartbeat_seen_clock_and_adoption);
    tcase_add_test(state, store_refuses_unknown_formats);
    tcase_add_test(state, store_image_format_round_trip);
    tcase_add_test(state, binary_refuses_newer_format);
    tcase_add_test(state, mkdirs_nested);
    tcase_add_test(state, position_keeps_the_newest_fix);
    suite_add_tcase(s, state);
    return s;
}

int main(void)
{
    service_log_init("test_executor");
    SRunner *sr = srunner_create(executor_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
