/* The etcd store backend (services/broker/store_etcd.c) against a real
 * 1-member etcd that tests/etcd/start.sh starts on 127.0.0.1: every record
 * kind round-trips and loads exactly as store_sqlite hands it back for the
 * same objects; rollback, a key written twice, a result inserted twice, a
 * commit after the leadership is lost, the size bounds, damaged values and
 * etcd stopped and started again. Skips (exit 77) without an etcd binary. */
#include <check.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cluster.h"
#include "codec.h"
#include "etcd.h"
#include "http_client.h"
#include "state.h"
#include "store.h"
#include "store_etcd.h"

static etcd_test_cluster one;

static void setup_one(void)
{
    etcd_test_cluster_start_or_exit(&one, 1);
}

static void teardown_one(void)
{
    etcd_test_cluster_stop(&one);
}

/* ---- a district's objects, built as restore.c builds them ---- */

static state S;

static unit *mk_unit(const char *id, const char *caps, uint32_t capacity, bool station)
{
    unit *u = state_add_unit(&S, id);

    ck_assert_ptr_nonnull(u);
    ck_assert_int_eq(state_set_name(&S, &u->kind, "fire"), 0);
    ck_assert_int_eq(capstext_parse(caps, S.strings, &u->caps), 0);
    ck_assert_int_eq(unit_set_url(u, "http://127.0.0.1:7201"), 0);
    u->capacity = capacity;
    u->registered_ms = 1700000000123ull;
    if (station) {
        u->pos.has_station = true;
        u->pos.station = (geo_point){34.052235123456789, -118.243683987654321};
    }
    return u;
}

static job *mk_job(const char *id, size_t nattempts)
{
    job *j = state_add_job(&S, id);

    ck_assert_ptr_nonnull(j);
    ck_assert_int_eq(state_set_name(&S, &j->type, "building_fire"), 0);
    ck_assert_int_eq(capstext_parse("firefighting,rescue", S.strings, &j->caps), 0);
    j->sev = SEV_CRITICAL;
    j->status = nattempts ? JOB_ASSIGNED : JOB_QUEUED;
    j->location = strdup("{\"lat\":34.05,\"lon\":-118.24}");
    j->payload = strdup("{\"note\":\"caf\\u00e9 \\\"quoted\\\"\"}");
    j->request_digest = 0xfedcba9876543210ull; /* past INT64_MAX: stored as its int64 */
    j->seq = 42;
    j->created_ms = 1700000000000ull;
    j->updated_ms = 1700000000500ull;
    for (size_t i = 0; i < nattempts; i++) {
        attempt a;

        memset(&a, 0, sizeof(a));
        a.n = (uint32_t)i + 1;
        snprintf(a.unit_id, sizeof(a.unit_id), "LAFD-%zu", i + 1);
        snprintf(a.unit_district, sizeof(a.unit_district), "%s", i == 1 ? "Westside" : "Downtown");
        a.state = i + 1 < nattempts ? ATT_REVOKED : (i == 2 ? ATT_PENDING : ATT_ACTIVE);
        a.notified = i == 0;
        a.at_ms = 1700000000100ull + i;
        ck_assert_int_eq(clocktext_parse("{\"Downtown\":3,\"Westside\":1}", S.strings, &a.clock),
                         0);
        if (i == 0)
            a.why = (rank_reason){RANK_WHY_NONE + 1, 1234, 56};
        ck_assert_int_eq(job_add_attempt(j, &a), 0);
    }
    return j;
}

static void state_setup(void)
{
    ck_assert_int_eq(state_init(&S, "Downtown", 3000), 0);
}

static void state_teardown(void)
{
    state_release(&S);
}

/* ---- the two stores ---- */

static char sqlite_path[256];

static void open_sqlite(struct store *st)
{
    char err[256];

    snprintf(sqlite_path, sizeof(sqlite_path), "/tmp/test_store_etcd.%d.db", (int)getpid());
    unlink(sqlite_path);
    ck_assert_msg(store_sqlite_open(st, sqlite_path, STORE_DURABILITY_NORMAL, err, sizeof(err)) ==
                      0,
                  "%s", err);
}

static void close_sqlite(struct store *st)
{
    char p[300];

    st->close(st->cls);
    unlink(sqlite_path);
    snprintf(p, sizeof(p), "%s-wal", sqlite_path);
    unlink(p);
    snprintf(p, sizeof(p), "%s-shm", sqlite_path);
    unlink(p);
}

static etcd_election *leader_of(const char *district, const char *id)
{
    char prefix[128];
    /* a long lease (nothing keeps it alive but the test's campaigns) and
     * short calls, so a commit while etcd is down fails within seconds */
    etcd_election_opts o = {.ttl_s = 30, .client = {.timeout_ms = 1500, .request_timeout_ms = 500}};
    etcd_election *e;
    etcd_role role = ETCD_FOLLOWER;

    snprintf(prefix, sizeof(prefix), "%s%s", STORE_ETCD_ROOT, district);
    e = etcd_election_new((const char *const *)one.urls, one.n, prefix, id, &o);
    ck_assert_ptr_nonnull(e);
    /* stepped by hand: nothing but the test decides when it campaigns */
    ck_assert_int_eq(etcd_election_campaign_once(e, &role), ETCD_OK);
    ck_assert_int_eq(role, ETCD_LEADER);
    return e;
}

static void open_etcd(struct store *st, const char *district, etcd_election *e)
{
    char err[512];

    ck_assert_msg(store_etcd_open(st, one.urls_list, district, e, err, sizeof(err)) == 0, "%s",
                  err);
}

/* The district each test writes, with its leader (the test's candidate,
 * stepped by hand). */
static struct store ET;
static etcd_election *EL;

static void open_district(const char *district)
{
    EL = leader_of(district, "http://127.0.0.1:1");
    open_etcd(&ET, district, EL);
}

static void close_district(void)
{
    ET.close(ET.cls);
    etcd_election_free(EL);
}

static etcd_client *raw(void)
{
    etcd_client *c = etcd_new_list(one.urls_list, NULL);

    ck_assert_ptr_nonnull(c);
    return c;
}

static const char *store_error(struct store *st)
{
    static char buf[512];

    if (!st->error(st->cls, buf, sizeof(buf)))
        snprintf(buf, sizeof(buf), "(no store error)");
    return buf;
}

static void commit_ok(struct store *st)
{
    ck_assert_msg(st->commit(st->cls) == 0, "commit: %s", store_error(st));
}

/* Keys of district under sub in etcd. */
static int64_t count_keys(const char *district, const char *sub)
{
    char prefix[256];
    etcd_client *c = raw();
    etcd_range_result r;
    int64_t n;

    snprintf(prefix, sizeof(prefix), "%s%s/%s", STORE_ETCD_ROOT, district, sub);
    ck_assert_int_eq(etcd_range_prefix(c, prefix, NULL, 0, 0, &r), ETCD_OK);
    n = r.count;
    etcd_range_result_release(&r);
    etcd_free(c);
    return n;
}

/* ---- what a store hands back, as text lines ---- */

typedef struct dump {
    char *lines[512];
    size_t n;
    char order[512]; /* the kind of each row, in the order given */
} dump;

static void add(dump *d, char kind, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void add(dump *d, char kind, const char *fmt, ...)
{
    va_list ap;
    char *s = NULL;

    va_start(ap, fmt);
    ck_assert_int_ge(vasprintf(&s, fmt, ap), 0);
    va_end(ap);
    ck_assert_uint_lt(d->n, 512);
    d->order[d->n] = kind;
    d->lines[d->n++] = s;
    d->order[d->n] = '\0';
}

static void dump_release(dump *d)
{
    for (size_t i = 0; i < d->n; i++)
        free(d->lines[i]);
    memset(d, 0, sizeof(*d));
}

#define NS(x) ((x) ? (x) : "(null)")

static int d_unit(void *arg, const store_unit_row *r)
{
    add(arg, 'U',
        "unit %s kind=%s caps=%s url=%s cap=%" PRId64 " reg=%" PRId64 " oos=%d st=%d %.17g %.17g",
        r->id, NS(r->kind), NS(r->caps), NS(r->url), r->capacity, r->registered_ms,
        r->out_of_service, r->has_station, r->has_station ? r->station_lat : 0,
        r->has_station ? r->station_lon : 0);
    return 0;
}

static int d_job(void *arg, const store_job_row *r)
{
    add(arg, 'J',
        "job %s type=%s caps=%s loc=%s pay=%s sev=%" PRId64 " st=%" PRId64 " dig=%" PRId64
        " seq=%" PRId64 " c=%" PRId64 " u=%" PRId64,
        r->id, NS(r->type), NS(r->caps), NS(r->location), NS(r->payload), r->severity,
        r->status_int, r->request_digest, r->seq, r->created_ms, r->updated_ms);
    return 0;
}

static int d_attempt(void *arg, const store_attempt_row *r)
{
    add(arg, 'A',
        "att %s/%" PRId64 " unit=%s dist=%s clock=%s st=%" PRId64 " at=%" PRId64
        " notified=%d why=%" PRId64 "/%" PRId64 "/%" PRId64,
        r->job_id, r->n, NS(r->unit_id), NS(r->unit_district), NS(r->clock), r->state_int, r->at_ms,
        r->notified, r->why, r->why_metres, r->why_age_s);
    return 0;
}

static int d_result(void *arg, const store_result_row *r)
{
    add(arg, 'R', "res %s unit=%s att=%" PRId64 " out=%s data=%s dig=%" PRId64 " at=%" PRId64,
        r->job_id, NS(r->unit_id), r->attempt, NS(r->outcome), NS(r->data), r->digest, r->at_ms);
    return 0;
}

static int d_lines(void *arg, const store_job_lines_row *r)
{
    add(arg, 'L', "lines %s %s plan=%s att=%s", r->job_id, NS(r->lines), NS(r->plan),
        NS(r->attempt_lines));
    return 0;
}

static const store_rows dump_rows = {d_unit, d_job, d_attempt, d_result, d_lines};

static void d_event(void *arg, const store_event *e)
{
    add(arg, 'E', "ev %" PRIu64 " t=%" PRIu64 " %s %s job=%s unit=%s att=%" PRIu32 " %s %s", e->seq,
        e->time_ms, NS(e->node), NS(e->type), NS(e->job_id), NS(e->unit_id), e->attempt,
        NS(e->detail), NS(e->vclock));
}

static int d_claim(void *arg, const store_claim *c)
{
    add(arg, 'C', "claim %s/%s att=%" PRIu32 " owner=%s", c->unit_id, c->job_id, c->attempt,
        NS(c->owner));
    return 0;
}

static int d_step(void *arg, const store_step *x)
{
    add(arg, 'S', "step %s/%s/%" PRIu32 " %s at=%" PRIu64, x->unit_id, x->job_id, x->attempt,
        x->step, x->at_ms);
    return 0;
}

static int d_remote(void *arg, const store_remote *r)
{
    add(arg, 'M', "remote %c/%s owner=%s obj=%s at=%" PRIu64, r->kind, r->id, NS(r->owner),
        NS(r->obj), r->fetched_ms);
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Everything a store hands back: the load, then the listings. Units and
 * jobs are sorted (neither store promises their order among themselves);
 * the rest is kept in the order given. */
static void dump_store(struct store *st, dump *d)
{
    char v[256];
    size_t nu = 0, nj = 0;

    ck_assert_msg(st->load(st->cls, &dump_rows, d) == 0, "load: %s", store_error(st));
    while (nu < d->n && d->order[nu] == 'U')
        nu++;
    while (nu + nj < d->n && d->order[nu + nj] == 'J')
        nj++;
    qsort(d->lines, nu, sizeof(char *), cmp_str);
    qsort(d->lines + nu, nj, sizeof(char *), cmp_str);
    ck_assert_int_eq(st->list_events(st->cls, 0, 100, d_event, d), 0);
    ck_assert_int_eq(st->list_events(st->cls, 2, 1, d_event, d), 0);
    ck_assert_int_eq(st->last_event(st->cls, d_event, d), 0);
    ck_assert_int_eq(st->list_claims(st->cls, d_claim, d), 0);
    ck_assert_int_eq(st->list_steps(st->cls, d_step, d), 0);
    ck_assert_int_eq(st->list_remote(st->cls, d_remote, d), 0);
    ck_assert_int_eq(st->get_meta(st->cls, "emergency", v, sizeof(v)), 0);
    add(d, 'G', "meta emergency=%s", v);
    ck_assert_int_eq(st->get_meta(st->cls, "nosuch", v, sizeof(v)), COORD_E_NOTFOUND);
}

/* One district's worth of every record kind, in two commits (the second
 * replaces and deletes some of the first). */
static void write_district(struct store *st)
{
    unit *u1 = mk_unit("LAFD-1", "firefighting,rescue", 2, true);
    unit *u2 = mk_unit("EMS-3", "medical,transport", 1, false);
    job *j1 = mk_job("J1", 3), *j2 = mk_job("J2", 0), *j3 = mk_job("J3", 2);
    result r = {.attempt = 1, .digest = 77, .at_ms = 1700000000999ull};
    store_event ev[3] = {
        {1, 1700000000001ull, "Downtown", "job_submitted", "J1", NULL, 0, NULL, "{\"Downtown\":1}"},
        {2, 1700000000002ull, "Downtown", "job_assigned", "J1", "LAFD-1", 1, "closest",
         "{\"Downtown\":2}"},
        {3, 1700000000003ull, "Downtown", "result_accepted", "J1", "LAFD-1", 1, "contained",
         "{\"Downtown\":3,\"Westside\":1}"},
    };
    store_claim c1 = {"LAFD-1", "W7", "Westside", 2}, c2 = {"EMS-3", "W8", "Valley", 1};
    store_step x = {"LAFD-1", "J1", "en_route", 1, 1700000000050ull};
    store_remote m1 = {'u', "LAFD-5", "Westside", "{\"id\":\"LAFD-5\",\"status\":\"busy\"}", 5},
                 m2 = {'j', "W9", "Westside", "{\"id\":\"W9\"}", 6};

    snprintf(r.unit_id, sizeof(r.unit_id), "LAFD-1");
    snprintf(r.outcome, sizeof(r.outcome), "contained");
    r.data = "{\"casualties\":0}";
    ck_assert_int_eq(unit_set_cond(&u2->cond, UNIT_COND_OFF), 0);
    ck_assert_int_eq(linestext_parse("firefighting*2;medical*1", S.strings, j3), 0);
    ck_assert_int_eq(attlinestext_parse("2:1", j3), 0);
    j3->plan = strdup("structure_fire");

    ck_assert_int_eq(st->begin(st->cls), 0);
    ck_assert_int_eq(st->put_unit(st->cls, u1), 0);
    ck_assert_int_eq(st->put_unit(st->cls, u2), 0);
    ck_assert_int_eq(st->put_job(st->cls, j1), 0);
    ck_assert_int_eq(st->put_job(st->cls, j2), 0);
    ck_assert_int_eq(st->put_job(st->cls, j3), 0);
    ck_assert_int_eq(st->insert_result(st->cls, "J1", &r), 0);
    ck_assert_int_eq(st->put_meta(st->cls, "emergency", "high"), 0);
    for (size_t i = 0; i < 3; i++)
        ck_assert_int_eq(st->add_event(st->cls, &ev[i]), 0);
    ck_assert_int_eq(st->put_claim(st->cls, &c1), 0);
    ck_assert_int_eq(st->put_claim(st->cls, &c2), 0);
    ck_assert_int_eq(st->put_step(st->cls, &x), 0);
    ck_assert_int_eq(st->put_remote(st->cls, &m1), 0);
    ck_assert_int_eq(st->put_remote(st->cls, &m2), 0);
    commit_ok(st);

    /* the second commit: a unit changed, a claim and a copy gone */
    ck_assert_int_eq(st->begin(st->cls), 0);
    u1->capacity = 4;
    u1->pos.has_station = false;
    ck_assert_int_eq(st->put_unit(st->cls, u1), 0);
    ck_assert_int_eq(st->del_claim(st->cls, "EMS-3", "W8"), 0);
    ck_assert_int_eq(st->del_remote(st->cls, 'j', "W9"), 0);
    ck_assert_int_eq(st->put_meta(st->cls, "emergency", "critical"), 0);
    commit_ok(st);
}

START_TEST(test_every_kind_loads_as_sqlite_gives_it)
{
    struct store sq;
    dump a = {0}, b = {0};

    open_sqlite(&sq);
    open_district("RoundTrip");
    write_district(&sq);
    state_teardown();
    state_setup();
    write_district(&ET);
    dump_store(&sq, &a);
    dump_store(&ET, &b);
    ck_assert_str_eq(b.order, a.order);
    ck_assert_str_eq(a.order, "UUJJJAAAAARLEEEEECSMG");
    for (size_t i = 0; i < a.n; i++)
        ck_assert_str_eq(b.lines[i], a.lines[i]);
    /* the first commit wrote the schema */
    {
        char v[16];

        ck_assert_int_eq(ET.get_meta(ET.cls, "schema", v, sizeof(v)), 0);
        ck_assert_str_eq(v, "1");
    }
    ck_assert_int_gt(store_etcd_revision(&ET), 0);
    dump_release(&a);
    dump_release(&b);
    close_sqlite(&sq);
    close_district();
}
END_TEST

START_TEST(test_rollback_leaves_nothing)
{
    dump d = {0};

    open_district("Rollback");
    ck_assert_int_eq(ET.begin(ET.cls), 0);
    ck_assert_int_eq(ET.put_unit(ET.cls, mk_unit("LAFD-1", "firefighting", 1, false)), 0);
    ck_assert_int_eq(ET.put_job(ET.cls, mk_job("J1", 2)), 0);
    ck_assert_int_eq(ET.put_meta(ET.cls, "emergency", "high"), 0);
    ET.rollback(ET.cls);
    ck_assert_int_eq(ET.load(ET.cls, &dump_rows, &d), 0);
    ck_assert_uint_eq(d.n, 0);
    ck_assert_int_eq(count_keys("Rollback", ""), 1); /* the leader key only */
    /* a transaction after the rollback starts empty */
    ck_assert_int_eq(ET.begin(ET.cls), 0);
    ck_assert_int_eq(ET.put_meta(ET.cls, "emergency", "low"), 0);
    commit_ok(&ET);
    ck_assert_int_eq(count_keys("Rollback", "units/"), 0);
    ck_assert_int_eq(count_keys("Rollback", "meta/emergency"), 1);
    close_district();
}
END_TEST

START_TEST(test_key_written_twice_commits_once_with_the_last)
{
    unit *u = mk_unit("LAFD-1", "firefighting", 1, false);
    store_claim c = {"LAFD-1", "W1", "Westside", 1};
    etcd_client *r = raw();
    etcd_kv kv;
    char v[32];

    open_district("Twice");
    ck_assert_int_eq(ET.begin(ET.cls), 0);
    ck_assert_int_eq(ET.put_unit(ET.cls, u), 0);
    u->capacity = 3;
    ck_assert_int_eq(ET.put_unit(ET.cls, u), 0);
    ck_assert_int_eq(ET.put_meta(ET.cls, "emergency", "high"), 0);
    ck_assert_int_eq(ET.put_meta(ET.cls, "emergency", "critical"), 0);
    /* the transaction reads its own writes, as SQLite's does */
    ck_assert_int_eq(ET.get_meta(ET.cls, "emergency", v, sizeof(v)), 0);
    ck_assert_str_eq(v, "critical");
    ck_assert_int_eq(ET.put_claim(ET.cls, &c), 0);
    ck_assert_int_eq(ET.del_claim(ET.cls, "LAFD-1", "W1"), 0);
    commit_ok(&ET);
    ck_assert_int_eq(etcd_get(r, STORE_ETCD_ROOT "Twice/units/LAFD-1", &kv, NULL), ETCD_OK);
    ck_assert_int_eq(kv.version, 1);
    ck_assert_ptr_nonnull(strstr(kv.value, "\"capacity\":3"));
    etcd_kv_release(&kv);
    ck_assert_int_eq(etcd_get(r, STORE_ETCD_ROOT "Twice/meta/emergency", &kv, NULL), ETCD_OK);
    ck_assert_int_eq(kv.version, 1);
    ck_assert_str_eq(kv.value, "critical");
    etcd_kv_release(&kv);
    ck_assert_int_eq(count_keys("Twice", "claims/"), 0);
    etcd_free(r);
    close_district();
}
END_TEST

START_TEST(test_a_second_result_fails_and_writes_nothing)
{
    result r = {.attempt = 1, .digest = 1, .at_ms = 5};
    char err[512];

    snprintf(r.unit_id, sizeof(r.unit_id), "LAFD-1");
    snprintf(r.outcome, sizeof(r.outcome), "contained");
    open_district("Result");
    ck_assert_int_eq(ET.begin(ET.cls), 0);
    ck_assert_int_eq(ET.insert_result(ET.cls, "J1", &r), 0);
    /* twice in one transaction: refused at once, like SQLite's key */
    ck_assert_int_eq(ET.insert_result(ET.cls, "J1", &r), -1);
    ck_assert(ET.error(ET.cls, err, sizeof(err)));
    ck_assert_ptr_nonnull(strstr(err, "J1"));
    commit_ok(&ET);

    /* in a later commit: the whole commit is refused */
    ck_assert_int_eq(ET.begin(ET.cls), 0);
    ck_assert_int_eq(ET.put_unit(ET.cls, mk_unit("LAFD-2", "firefighting", 1, false)), 0);
    ck_assert_int_eq(ET.insert_result(ET.cls, "J2", &r), 0);
    ck_assert_int_eq(ET.insert_result(ET.cls, "J1", &r), 0);
    ck_assert_int_eq(ET.commit(ET.cls), -1);
    ck_assert(ET.error(ET.cls, err, sizeof(err)));
    ck_assert_msg(strstr(err, "results/J1") != NULL, "%s", err);
    ck_assert_int_eq(store_etcd_last_error(&ET), ETCD_E_COMPARE_FAILED);
    ET.rollback(ET.cls);
    ck_assert_int_eq(count_keys("Result", "units/"), 0);
    ck_assert_int_eq(count_keys("Result", "results/"), 1);
    close_district();
}
END_TEST

static void put_units(int from, int to)
{
    for (int i = from; i < to; i++) {
        char id[16];

        snprintf(id, sizeof(id), "U%03d", i);
        ck_assert_int_eq(ET.put_unit(ET.cls, mk_unit(id, "firefighting", 1, false)), 0);
    }
}

static void commit_refused(const char *why)
{
    char err[512];

    ck_assert_int_eq(ET.commit(ET.cls), -1);
    ck_assert(ET.error(ET.cls, err, sizeof(err)));
    ck_assert_msg(strstr(err, why) != NULL, "\"%s\" not in \"%s\"", why, err);
    ET.rollback(ET.cls);
}

/* A commit by a broker whose leadership is gone, either way it can go:
 * it resigned (its own election knows), or its lease was revoked behind
 * its back and another candidate won (only etcd's fence knows). */
START_TEST(test_a_former_leader_cannot_commit)
{
    etcd_client *r = raw();
    etcd_election *b;
    etcd_leader ld;
    etcd_role role;

    open_district("Fence");
    ck_assert_int_eq(ET.begin(ET.cls), 0);
    put_units(0, 1);
    commit_ok(&ET);

    ck_assert_int_eq(etcd_election_resign(EL, false), ETCD_OK);
    b = leader_of("Fence", "http://127.0.0.1:2");
    ck_assert_int_eq(ET.begin(ET.cls), 0);
    put_units(1, 2);
    commit_refused("not the leader");
    etcd_election_free(b);

    /* leader again, then its lease revoked and another one leading */
    ck_assert_int_eq(etcd_election_campaign_once(EL, &role), ETCD_OK);
    ck_assert_int_eq(role, ETCD_LEADER);
    ck_assert_int_eq(etcd_leader_get(r, STORE_ETCD_ROOT "Fence", &ld), ETCD_OK);
    ck_assert_str_eq(ld.id, "http://127.0.0.1:1");
    ck_assert_int_eq(etcd_lease_revoke(r, ld.lease), ETCD_OK);
    b = leader_of("Fence", "http://127.0.0.1:2");
    ck_assert_int_eq(etcd_election_role(EL, NULL), ETCD_LEADER); /* as far as it knows */
    ck_assert_int_eq(ET.begin(ET.cls), 0);
    put_units(2, 3);
    commit_refused("not the leader");
    ck_assert_int_eq(store_etcd_last_error(&ET), ETCD_E_NOT_LEADER);
    ck_assert_int_eq(etcd_election_role(EL, NULL), ETCD_FOLLOWER); /* the fence told it */
    ck_assert_int_eq(count_keys("Fence", "units/"), 1);
    ck_assert_int_eq(ET.probe(ET.cls), -1);
    etcd_election_free(b);
    etcd_free(r);
    close_district();
}
END_TEST

/* A synced copy of about kib KiB. */
static void put_big_remote(int i, size_t kib)
{
    char id[16];
    char *obj = malloc(kib * 1024 + 16);
    store_remote m = {'u', id, "Westside", obj, 1};

    ck_assert_ptr_nonnull(obj);
    snprintf(id, sizeof(id), "R%03d", i);
    memcpy(obj, "{\"pad\":\"", 8);
    memset(obj + 8, 'x', kib * 1024);
    memcpy(obj + 8 + kib * 1024, "\"}", 3);
    ck_assert_int_eq(ET.put_remote(ET.cls, &m), 0);
    free(obj);
}

START_TEST(test_full_at_half_the_bounds_and_too_large_fails_cleanly)
{
    open_district("Full");
    ck_assert_ptr_nonnull(ET.full);
    ck_assert(!ET.full(ET.cls)); /* no transaction */
    ck_assert_int_eq(ET.begin(ET.cls), 0);
    put_units(0, STORE_ETCD_MAX_OPS / 2 - 1);
    ck_assert(!ET.full(ET.cls));
    put_units(STORE_ETCD_MAX_OPS / 2 - 1, STORE_ETCD_MAX_OPS / 2);
    ck_assert(ET.full(ET.cls));
    commit_ok(&ET);
    ck_assert(!ET.full(ET.cls));
    ck_assert_int_eq(count_keys("Full", "units/"), STORE_ETCD_MAX_OPS / 2);

    /* past the op bound: refused before anything is sent */
    ck_assert_int_eq(ET.begin(ET.cls), 0);
    put_units(100, 100 + STORE_ETCD_MAX_OPS);
    commit_refused("too large");
    ck_assert_int_eq(store_etcd_last_error(&ET), ETCD_OK); /* never sent */
    ck_assert_int_eq(count_keys("Full", "units/"), STORE_ETCD_MAX_OPS / 2);

    /* bytes: 3 x 200 KiB is not full, 4 is, and still one txn etcd takes */
    ck_assert_int_eq(ET.begin(ET.cls), 0);
    for (int i = 0; i < 3; i++)
        put_big_remote(i, 200);
    ck_assert(!ET.full(ET.cls));
    put_big_remote(3, 200);
    ck_assert(ET.full(ET.cls));
    commit_ok(&ET);
    ck_assert_int_eq(count_keys("Full", "remote/"), 4);

    ck_assert_int_eq(ET.begin(ET.cls), 0);
    for (int i = 10; i < 18; i++)
        put_big_remote(i, 200);
    commit_refused("too large");
    ck_assert_int_eq(count_keys("Full", "remote/"), 4);
    close_district();
}
END_TEST

/* Values a store did not write (or a disk damaged) fail the load with a
 * message naming the key; a callback's refusal fails it without one. */
static int refuse_unit(void *arg, const store_unit_row *r)
{
    (void)arg;
    (void)r;
    return -1;
}

static void load_fails_naming(const char *key, const char *value)
{
    etcd_client *r = raw();
    char full[256], err[512];
    dump d = {0};

    snprintf(full, sizeof(full), STORE_ETCD_ROOT "Damage/%s", key);
    ck_assert_int_eq(etcd_put(r, full, value, strlen(value), 0, NULL), ETCD_OK);
    ck_assert_int_eq(ET.load(ET.cls, &dump_rows, &d), -1);
    ck_assert(ET.error(ET.cls, err, sizeof(err)));
    ck_assert_msg(strstr(err, full) != NULL, "%s", err);
    ck_assert_int_eq(etcd_delete(r, full, NULL, NULL), ETCD_OK);
    dump_release(&d);
    etcd_free(r);
}

START_TEST(test_damaged_values_fail_the_load_naming_the_key)
{
    store_rows refuse = dump_rows;
    dump d = {0};
    char err[64];

    open_district("Damage");
    ck_assert_int_eq(ET.begin(ET.cls), 0);
    ck_assert_int_eq(ET.put_unit(ET.cls, mk_unit("LAFD-1", "firefighting", 1, false)), 0);
    ck_assert_int_eq(ET.put_job(ET.cls, mk_job("J1", 1)), 0);
    commit_ok(&ET);
    load_fails_naming("units/LAFD-2", "not json");
    load_fails_naming("units/LAFD-2", "[1,2]");
    load_fails_naming("jobs/J2", "{\"type\":\"x\",\"caps\":\"a\"}");
    load_fails_naming("jobs/J2",
                      "{\"type\":\"x\",\"caps\":\"a\",\"severity\":\"high\",\"status\":0,"
                      "\"request_digest\":0,\"seq\":0,\"created_ms\":0,\"updated_ms\":0}");
    load_fails_naming("attempts/J1/x", "{}");
    load_fails_naming("attempts/J1", "{}");
    load_fails_naming("results/J1", "{\"unit_id\":1}");
    ck_assert_int_eq(ET.load(ET.cls, &dump_rows, &d), 0);
    ck_assert_str_eq(d.order, "UJA");
    refuse.unit = refuse_unit;
    ck_assert_int_eq(ET.load(ET.cls, &refuse, &d), -1);
    ck_assert(!ET.error(ET.cls, err, sizeof(err)));
    dump_release(&d);
    close_district();
}
END_TEST

START_TEST(test_changed_and_revision_follow_the_commits)
{
    struct store other;
    bool changed = true;
    int64_t rev;
    dump d = {0};

    open_district("Poll");
    open_etcd(&other, "Poll", NULL);
    ck_assert_int_eq(store_etcd_changed(&other, &changed), 0);
    ck_assert(!changed); /* never committed */
    ck_assert_int_eq(other.begin(other.cls), 0);
    ck_assert_int_eq(other.put_meta(other.cls, "emergency", "low"), 0);
    ck_assert_int_eq(other.commit(other.cls), -1); /* no election: a follower's store */
    ck_assert_int_eq(store_etcd_last_error(&other), ETCD_E_NOT_LEADER);

    ck_assert_int_eq(ET.begin(ET.cls), 0);
    put_units(0, 1);
    commit_ok(&ET);
    rev = store_etcd_revision(&ET);
    ck_assert_int_gt(rev, 0);
    ck_assert_int_eq(store_etcd_changed(&ET, &changed), 0);
    ck_assert(!changed); /* its own commit */
    ck_assert_int_eq(store_etcd_changed(&other, &changed), 0);
    ck_assert(changed);
    ck_assert_int_eq(other.load(other.cls, &dump_rows, &d), 0);
    ck_assert_int_ge(store_etcd_revision(&other), rev);
    ck_assert_int_eq(store_etcd_changed(&other, &changed), 0);
    ck_assert(!changed);
    ck_assert_int_eq(ET.probe(ET.cls), 0); /* a probe is not a change of the district */
    ck_assert_int_eq(store_etcd_changed(&other, &changed), 0);
    ck_assert(!changed);
    ck_assert_int_eq(ET.begin(ET.cls), 0);
    put_units(1, 2);
    commit_ok(&ET);
    ck_assert_int_eq(store_etcd_changed(&other, &changed), 0);
    ck_assert(changed);
    dump_release(&d);
    other.close(other.cls);
    close_district();
}
END_TEST

START_TEST(test_another_schema_is_refused_at_open)
{
    etcd_client *r = raw();
    struct store st;
    char err[512];

    ck_assert_int_eq(etcd_put(r, STORE_ETCD_ROOT "Schema/meta/schema", "99", 2, 0, NULL), ETCD_OK);
    ck_assert_int_eq(store_etcd_open(&st, one.urls_list, "Schema", NULL, err, sizeof(err)), -1);
    ck_assert_msg(strstr(err, "schema 99") != NULL, "%s", err);
    ck_assert_int_eq(store_etcd_open(&st, "ftp://x", "Schema", NULL, err, sizeof(err)), -1);
    ck_assert_int_eq(store_etcd_open(&st, one.urls_list, "no/slash", NULL, err, sizeof(err)), -1);
    etcd_free(r);
}
END_TEST

/* etcd gone: commit, load and reads fail with a text, nothing crashes, and
 * all of it works again once etcd is back. */
START_TEST(test_etcd_stopped_then_started_again)
{
    dump d = {0};
    char err[512], v[32];
    bool changed;
    etcd_role role = ETCD_FOLLOWER;

    open_district("Down");
    ck_assert_int_eq(ET.begin(ET.cls), 0);
    put_units(0, 1);
    commit_ok(&ET);
    ck_assert_int_eq(etcd_test_member(&one, 0, "kill"), 0);

    ck_assert_int_eq(ET.begin(ET.cls), 0);
    put_units(1, 2);
    ck_assert_int_eq(ET.commit(ET.cls), -1);
    ck_assert(ET.error(ET.cls, err, sizeof(err)));
    ck_assert_msg(strstr(err, "etcd") != NULL, "%s", err);
    ck_assert(store_etcd_last_error(&ET) == ETCD_E_TRANSPORT ||
              store_etcd_last_error(&ET) == ETCD_E_UNAVAILABLE);
    ET.rollback(ET.cls);
    ck_assert_int_eq(ET.load(ET.cls, &dump_rows, &d), -1);
    ck_assert(ET.error(ET.cls, err, sizeof(err)));
    ck_assert_msg(strstr(err, "etcd") != NULL, "%s", err);
    ck_assert_int_eq(ET.get_meta(ET.cls, "emergency", v, sizeof(v)), -1);
    ck_assert_int_eq(store_etcd_changed(&ET, &changed), -1);
    ck_assert_int_eq(ET.probe(ET.cls), -1);
    dump_release(&d);

    ck_assert_int_eq(etcd_test_member(&one, 0, "start"), 0);
    ck_assert_int_eq(etcd_test_cluster_wait_healthy(&one), 0);
    /* still its lease (30 s), or won again */
    if (etcd_election_role(EL, NULL) != ETCD_LEADER)
        ck_assert_int_eq(etcd_election_campaign_once(EL, &role), ETCD_OK);
    ck_assert_int_eq(etcd_election_role(EL, NULL), ETCD_LEADER);
    ck_assert_msg(ET.probe(ET.cls) == 0, "%s", store_error(&ET));
    ck_assert_int_eq(ET.begin(ET.cls), 0);
    put_units(2, 3);
    commit_ok(&ET);
    ck_assert_int_eq(ET.load(ET.cls, &dump_rows, &d), 0);
    ck_assert_str_eq(d.order, "UU"); /* U000 and U002: nothing of the failed commit */
    dump_release(&d);
    close_district();
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("store_etcd");
    TCase *tc = tcase_create("one_member");

    tcase_add_unchecked_fixture(tc, setup_one, teardown_one);
    tcase_add_checked_fixture(tc, state_setup, state_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_every_kind_loads_as_sqlite_gives_it);
    tcase_add_test(tc, test_rollback_leaves_nothing);
    tcase_add_test(tc, test_key_written_twice_commits_once_with_the_last);
    tcase_add_test(tc, test_a_second_result_fails_and_writes_nothing);
    tcase_add_test(tc, test_a_former_leader_cannot_commit);
    tcase_add_test(tc, test_full_at_half_the_bounds_and_too_large_fails_cleanly);
    tcase_add_test(tc, test_damaged_values_fail_the_load_naming_the_key);
    tcase_add_test(tc, test_changed_and_revision_follow_the_commits);
    tcase_add_test(tc, test_another_schema_is_refused_at_open);
    /* last: it stops and restarts the member */
    tcase_add_test(tc, test_etcd_stopped_then_started_again);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr;
    int failed;

    if (etcd_test_skip())
        return 77; /* meson's "skipped" */
    signal(SIGPIPE, SIG_IGN);
    if (http_client_global_init() != 0)
        return EXIT_FAILURE;
    sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    http_client_global_cleanup();
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
