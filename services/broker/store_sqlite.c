/* The SQLite backend of the broker's store (store.h): all of the broker's
 * SQL, every statement prepared once at open, WAL with synchronous=NORMAL,
 * and for --durability full an fsync of the WAL per group commit (the
 * store's sync; README "Durability").
 * The schema version is kept in meta. */
#include "store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "sqlstore.h"

enum {
    ST_PUT_UNIT,
    ST_PUT_JOB,
    ST_PUT_ATTEMPT,
    ST_INS_RESULT,
    ST_PUT_META,
    ST_GET_META,
    ST_ADD_EVENT,
    ST_LIST_EVENTS,
    ST_LAST_EVENT,
    ST_PUT_CLAIM,
    ST_DEL_CLAIM,
    ST_LIST_CLAIMS,
    ST_PUT_REMOTE,
    ST_DEL_REMOTE,
    ST_LIST_REMOTE,
    ST_LOAD_UNITS,
    ST_LOAD_JOBS,
    ST_LOAD_ATTEMPTS,
    ST_LOAD_RESULTS,
    ST_PROBE_PUT,
    ST_PROBE_DEL,
    ST_PUT_STATION,
    ST_DEL_STATION,
    ST_PUT_REASON,
    ST_PUT_STEP,
    ST_LIST_STEPS,
    ST_PUT_JOB_LINES,
    ST_LOAD_JOB_LINES,
    ST__COUNT
};

#define EVENT_COLUMNS "seq,time_ms,node,type,job_id,unit_id,attempt,detail,vclock"

static const char *const stmt_sql[ST__COUNT] = {
    /* Upserts, not INSERT OR REPLACE: a replace deletes the row and
     * inserts it again under a new rowid, which rewrites the row's old
     * leaf, the table's last leaf and the key's index leaf; an update in
     * place rewrites only the row's leaf (about half the pages a decision
     * writes). */
    [ST_PUT_UNIT] = "INSERT INTO units(id,kind,caps,url,capacity,out_of_service,registered_ms) "
                    "VALUES(?,?,?,?,?,?,?) ON CONFLICT(id) DO UPDATE SET kind=excluded.kind,"
                    "caps=excluded.caps,url=excluded.url,capacity=excluded.capacity,"
                    "out_of_service=excluded.out_of_service,registered_ms=excluded.registered_ms",
    [ST_PUT_JOB] = "INSERT INTO jobs(id,type,severity,caps,location,payload,request_digest,status,"
                   "seq,created_ms,updated_ms) VALUES(?,?,?,?,?,?,?,?,?,?,?) "
                   "ON CONFLICT(id) DO UPDATE SET type=excluded.type,severity=excluded.severity,"
                   "caps=excluded.caps,location=excluded.location,payload=excluded.payload,"
                   "request_digest=excluded.request_digest,status=excluded.status,"
                   "seq=excluded.seq,created_ms=excluded.created_ms,updated_ms=excluded.updated_ms",
    [ST_PUT_ATTEMPT] = "INSERT INTO attempts(job_id,n,unit_id,unit_district,state,notified,clock,"
                       "at_ms) VALUES(?,?,?,?,?,?,?,?) ON CONFLICT(job_id,n) DO UPDATE SET "
                       "unit_id=excluded.unit_id,unit_district=excluded.unit_district,"
                       "state=excluded.state,notified=excluded.notified,clock=excluded.clock,"
                       "at_ms=excluded.at_ms",
    [ST_INS_RESULT] = "INSERT INTO results(job_id,unit_id,attempt,outcome,data,digest,at_ms) "
                      "VALUES(?,?,?,?,?,?,?)",
    [ST_PUT_META] = "INSERT OR REPLACE INTO meta(key,value) VALUES(?,?)",
    [ST_GET_META] = "SELECT value FROM meta WHERE key=?",
    [ST_ADD_EVENT] = "INSERT INTO events(" EVENT_COLUMNS ") VALUES(?,?,?,?,?,?,?,?,?)",
    [ST_LIST_EVENTS] = "SELECT " EVENT_COLUMNS " FROM events WHERE seq>? ORDER BY seq LIMIT ?",
    [ST_LAST_EVENT] = "SELECT " EVENT_COLUMNS " FROM events ORDER BY seq DESC LIMIT 1",
    [ST_PUT_CLAIM] = "INSERT OR REPLACE INTO claims(unit_id,job_id,attempt,owner) VALUES(?,?,?,?)",
    [ST_DEL_CLAIM] = "DELETE FROM claims WHERE unit_id=? AND job_id=?",
    [ST_LIST_CLAIMS] = "SELECT unit_id,job_id,attempt,owner FROM claims",
    [ST_PUT_REMOTE] =
        "INSERT OR REPLACE INTO remote(kind,id,owner,obj,fetched_ms) VALUES(?,?,?,?,?)",
    [ST_DEL_REMOTE] = "DELETE FROM remote WHERE kind=? AND id=?",
    [ST_LIST_REMOTE] = "SELECT kind,id,owner,obj,fetched_ms FROM remote",
    [ST_LOAD_UNITS] = "SELECT u.id,u.kind,u.caps,u.url,u.capacity,u.out_of_service,"
                      "u.registered_ms,s.lat,s.lon FROM units u"
                      " LEFT JOIN unit_stations s ON s.unit_id=u.id",
    [ST_LOAD_JOBS] = "SELECT id,type,severity,caps,location,payload,request_digest,status,"
                     "seq,created_ms,updated_ms FROM jobs",
    [ST_LOAD_ATTEMPTS] = "SELECT a.job_id,a.n,a.unit_id,a.unit_district,a.state,a.notified,"
                         "a.clock,a.at_ms,r.why,r.metres,r.age_s FROM attempts a"
                         " LEFT JOIN attempt_reasons r ON r.job_id=a.job_id AND r.n=a.n"
                         " ORDER BY a.job_id, a.n",
    [ST_LOAD_RESULTS] = "SELECT job_id,unit_id,attempt,outcome,data,digest,at_ms FROM results",
    /* 64 KiB, about what a burst of submissions needs: a probe that fits
     * in the last free bytes would only fail the next real write. */
    [ST_PROBE_PUT] = "INSERT OR REPLACE INTO meta(key,value) VALUES('probe',zeroblob(65536))",
    [ST_PROBE_DEL] = "DELETE FROM meta WHERE key='probe'",
    [ST_PUT_STATION] = "INSERT OR REPLACE INTO unit_stations(unit_id,lat,lon) VALUES(?,?,?)",
    [ST_DEL_STATION] = "DELETE FROM unit_stations WHERE unit_id=?",
    [ST_PUT_REASON] =
        "INSERT OR REPLACE INTO attempt_reasons(job_id,n,why,metres,age_s) VALUES(?,?,?,?,?)",

    [ST_PUT_STEP] = "INSERT OR REPLACE INTO unit_status(unit_id,job_id,attempt,step,at_ms) "
                    "VALUES(?,?,?,?,?)",
    [ST_LIST_STEPS] = "SELECT unit_id,job_id,attempt,step,at_ms FROM unit_status",
    [ST_PUT_JOB_LINES] = "INSERT OR REPLACE INTO job_lines(job_id,lines,plan,attempt_lines) "
                         "VALUES(?,?,?,?)",
    [ST_LOAD_JOB_LINES] = "SELECT job_id,lines,plan,attempt_lines FROM job_lines",
};

static const char schema[] =
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS units(id TEXT PRIMARY KEY, kind TEXT NOT NULL,"
    " caps TEXT NOT NULL, url TEXT NOT NULL, capacity INTEGER NOT NULL,"
    " out_of_service INTEGER NOT NULL, registered_ms INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS jobs(id TEXT PRIMARY KEY, type TEXT NOT NULL,"
    " severity INTEGER NOT NULL, caps TEXT NOT NULL, location TEXT, payload TEXT,"
    " request_digest INTEGER NOT NULL, status INTEGER NOT NULL, seq INTEGER NOT NULL,"
    " created_ms INTEGER NOT NULL, updated_ms INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS attempts(job_id TEXT NOT NULL, n INTEGER NOT NULL,"
    " unit_id TEXT NOT NULL, unit_district TEXT NOT NULL, state INTEGER NOT NULL,"
    " notified INTEGER NOT NULL, clock TEXT, at_ms INTEGER NOT NULL,"
    " PRIMARY KEY(job_id, n));"
    "CREATE TABLE IF NOT EXISTS results(job_id TEXT PRIMARY KEY, unit_id TEXT NOT NULL,"
    " attempt INTEGER NOT NULL, outcome TEXT NOT NULL, data TEXT NOT NULL,"
    " digest INTEGER NOT NULL, at_ms INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS events(seq INTEGER PRIMARY KEY, time_ms INTEGER NOT NULL,"
    " node TEXT NOT NULL, type TEXT NOT NULL, job_id TEXT, unit_id TEXT, attempt INTEGER,"
    " detail TEXT, vclock TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS claims(unit_id TEXT NOT NULL, job_id TEXT NOT NULL,"
    " attempt INTEGER NOT NULL, owner TEXT NOT NULL, PRIMARY KEY(unit_id, job_id));"
    "CREATE TABLE IF NOT EXISTS remote(kind TEXT NOT NULL, id TEXT NOT NULL, owner TEXT NOT NULL,"
    " obj TEXT NOT NULL, fetched_ms INTEGER NOT NULL, PRIMARY KEY(kind, id));"
    /* The closest-unit ranking (libcoord rank.h): a unit's home station,
     * and why each attempt's unit was chosen (rank_why and its figures).
     * Tables of their own, so a database from before them opens as it is. */
    "CREATE TABLE IF NOT EXISTS unit_stations(unit_id TEXT PRIMARY KEY, lat REAL NOT NULL,"
    " lon REAL NOT NULL);"
    "CREATE TABLE IF NOT EXISTS attempt_reasons(job_id TEXT NOT NULL, n INTEGER NOT NULL,"
    " why INTEGER NOT NULL, metres INTEGER NOT NULL, age_s INTEGER NOT NULL,"
    " PRIMARY KEY(job_id, n));"
    /* The crews' status steps (steps.h): a table of its own, so a store
     * written before it opens unchanged. */
    "CREATE TABLE IF NOT EXISTS unit_status(unit_id TEXT NOT NULL, job_id TEXT NOT NULL,"
    " attempt INTEGER NOT NULL, step TEXT NOT NULL, at_ms INTEGER NOT NULL,"
    " PRIMARY KEY(unit_id, job_id, attempt, step));"
    /* Multi-unit incidents (issue 12): only jobs with several lines. */
    "CREATE TABLE IF NOT EXISTS job_lines(job_id TEXT PRIMARY KEY, lines TEXT NOT NULL,"
    " plan TEXT, attempt_lines TEXT NOT NULL);";

/* cls is the sqlstore. */
static sqlite3_stmt *st(void *cls, int i)
{
    return ((sqlstore *)cls)->st[i];
}

static const char *col_text(sqlite3_stmt *s, int i)
{
    return (const char *)sqlite3_column_text(s, i);
}

/* A value to bind, typed: one write is one RUN(cls, statement, values). */
typedef struct val {
    enum { V_TEXT, V_INT, V_NULL, V_REAL } type;
    const char *text; /* not copied: lives until the step */
    int64_t i;
    double r;
} val;
#define T(x)   ((val){V_TEXT, (x), 0, 0})
#define I(x)   ((val){V_INT, NULL, (int64_t)(x), 0})
#define R(x)   ((val){V_REAL, NULL, 0, (x)})
#define V_NONE ((val){V_NULL, NULL, 0, 0})
#define RUN(cls, stmt, ...)                                                                        \
    run((cls), (stmt), (const val[]){__VA_ARGS__}, sizeof((const val[]){__VA_ARGS__}) / sizeof(val))

static void bind_all(sqlite3_stmt *s, const val *v, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        int i = (int)k + 1;

        if (v[k].type == V_TEXT)
            sqlstore_bind_text(s, i, v[k].text);
        else if (v[k].type == V_INT)
            sqlite3_bind_int64(s, i, (sqlite3_int64)v[k].i);
        else if (v[k].type == V_REAL)
            sqlite3_bind_double(s, i, v[k].r);
        else
            sqlite3_bind_null(s, i);
    }
}

/* A write: bind, step, reset. 0 or -1. */
static int run(void *cls, int stmt, const val *v, size_t n)
{
    sqlite3_stmt *s = st(cls, stmt);

    bind_all(s, v, n);
    return sqlstore_step_done(s);
}

/* Where the rows of a query go. */
struct sink {
    store_event_cb event;
    store_claim_cb claim;
    store_remote_cb remote;
    store_step_cb step;
    const store_rows *rows;
    void *arg;
};

/* Runs a query to its end: a step that is neither a row nor done is an
 * error, never taken for the end of the rows. row returns < 0 to fail. */
static int each_row(void *cls, int stmt, const val *v, size_t n,
                    int (*row)(sqlite3_stmt *s, const struct sink *k), const struct sink *k)
{
    sqlite3_stmt *s = st(cls, stmt);
    int rc, out = 0;

    bind_all(s, v, n);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (row(s, k) < 0) {
            out = -1;
            break;
        }
    }
    if (out == 0 && rc != SQLITE_DONE)
        out = -1;
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return out;
}

static int sq_begin(void *cls)
{
    return sqlstore_begin(cls);
}

static int sq_commit(void *cls)
{
    return sqlstore_commit(cls);
}

static void sq_rollback(void *cls)
{
    sqlstore_rollback(cls);
}

static int sq_sync(void *cls)
{
    return sqlstore_sync_wal(cls);
}

static int sq_put_unit(void *cls, const unit *u)
{
    char caps[CAPSTEXT_MAX];

    capstext(&u->caps, caps);
    if (RUN(cls, ST_PUT_UNIT, T(u->id), T(u->kind), T(caps), T(u->url), I(u->capacity),
            I(unit_cond_off(u->cond)), I(u->registered_ms)) < 0)
        return -1;
    if (!u->pos.has_station)
        return RUN(cls, ST_DEL_STATION, T(u->id));
    return RUN(cls, ST_PUT_STATION, T(u->id), R(u->pos.station.lat), R(u->pos.station.lon));
}

static int sq_put_job(void *cls, const job *j)
{
    char caps[CAPSTEXT_MAX], clock[CLOCKTEXT_MAX];
    int rc;

    capstext(&j->caps, caps);
    rc = RUN(cls, ST_PUT_JOB, T(j->id), T(j->type), I(j->sev), T(caps), T(j->location),
             T(j->payload), I(j->request_digest), I(j->status), I(j->seq), I(j->created_ms),
             I(j->updated_ms));
    for (size_t i = 0; rc == 0 && i < j->nattempts; i++) {
        const attempt *a = &j->attempts[i];
        /* A pending attempt is stored as what it is after a crash before
         * its settle: abandoned (it may have landed; its number is taken). */
        attempt_state st = a->state == ATT_PENDING ? ATT_REVOKED : a->state;

        rc = RUN(cls, ST_PUT_ATTEMPT, T(j->id), I(a->n), T(a->unit_id), T(a->unit_district), I(st),
                 I(a->notified), T(clocktext_compact(&a->clock, clock)), I(a->at_ms));
        if (rc == 0 && a->why.why != RANK_WHY_NONE)
            rc = RUN(cls, ST_PUT_REASON, T(j->id), I(a->n), I(a->why.why), I(a->why.metres),
                     I(a->why.age_s));
    }
    if (rc == 0 && j->nlines) {
        char *lines = linestext(j), *atts = attlinestext(j);

        rc = lines && atts ? RUN(cls, ST_PUT_JOB_LINES, T(j->id), T(lines),
                                 j->plan ? T(j->plan) : V_NONE, T(atts))
                           : -1;
        free(lines);
        free(atts);
    }
    return rc;
}

static int sq_insert_result(void *cls, const char *job_id, const result *r)
{
    return RUN(cls, ST_INS_RESULT, T(job_id), T(r->unit_id), I(r->attempt), T(r->outcome),
               T(r->data ? r->data : "{}"), I(r->digest), I(r->at_ms));
}

static int sq_put_meta(void *cls, const char *key, const char *value)
{
    return RUN(cls, ST_PUT_META, T(key), T(value));
}

static int sq_get_meta(void *cls, const char *key, char *buf, size_t len)
{
    sqlite3_stmt *s = st(cls, ST_GET_META);
    int rc, out = -1;

    sqlstore_bind_text(s, 1, key);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        const char *v = col_text(s, 0);

        snprintf(buf, len, "%s", v ? v : "");
        out = 0;
    } else if (rc == SQLITE_DONE) {
        out = COORD_E_NOTFOUND;
    }
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return out;
}

static int sq_add_event(void *cls, const store_event *ev)
{
    return RUN(cls, ST_ADD_EVENT, I(ev->seq), I(ev->time_ms), T(ev->node), T(ev->type),
               T(ev->job_id), T(ev->unit_id), ev->attempt ? I(ev->attempt) : V_NONE, T(ev->detail),
               T(ev->vclock));
}

static int event_row(sqlite3_stmt *s, const struct sink *k)
{
    store_event ev = {
        .seq = (uint64_t)sqlite3_column_int64(s, 0),
        .time_ms = (uint64_t)sqlite3_column_int64(s, 1),
        .node = col_text(s, 2),
        .type = col_text(s, 3),
        .job_id = col_text(s, 4),
        .unit_id = col_text(s, 5),
        .attempt = (uint32_t)sqlite3_column_int64(s, 6),
        .detail = col_text(s, 7),
        .vclock = col_text(s, 8),
    };

    k->event(k->arg, &ev);
    return 0;
}

static int sq_list_events(void *cls, uint64_t after, size_t limit, store_event_cb cb, void *arg)
{
    struct sink k = {.event = cb, .arg = arg};
    const val v[] = {I(after), I(limit)};

    return each_row(cls, ST_LIST_EVENTS, v, 2, event_row, &k);
}

static int sq_last_event(void *cls, store_event_cb cb, void *arg)
{
    struct sink k = {.event = cb, .arg = arg};

    return each_row(cls, ST_LAST_EVENT, NULL, 0, event_row, &k);
}

static int sq_put_claim(void *cls, const store_claim *c)
{
    return RUN(cls, ST_PUT_CLAIM, T(c->unit_id), T(c->job_id), I(c->attempt), T(c->owner));
}

static int sq_del_claim(void *cls, const char *unit_id, const char *job_id)
{
    return RUN(cls, ST_DEL_CLAIM, T(unit_id), T(job_id));
}

static int claim_row(sqlite3_stmt *s, const struct sink *k)
{
    store_claim c = {
        .unit_id = col_text(s, 0),
        .job_id = col_text(s, 1),
        .attempt = (uint32_t)sqlite3_column_int64(s, 2),
        .owner = col_text(s, 3),
    };

    if (!c.unit_id || !c.job_id || !c.owner)
        return -1;
    return k->claim(k->arg, &c);
}

static int sq_list_claims(void *cls, store_claim_cb cb, void *arg)
{
    struct sink k = {.claim = cb, .arg = arg};

    return each_row(cls, ST_LIST_CLAIMS, NULL, 0, claim_row, &k);
}

static int sq_put_remote(void *cls, const store_remote *r)
{
    char kind[2] = {r->kind, '\0'};

    return RUN(cls, ST_PUT_REMOTE, T(kind), T(r->id), T(r->owner), T(r->obj), I(r->fetched_ms));
}

static int sq_del_remote(void *cls, char kind, const char *id)
{
    char k[2] = {kind, '\0'};

    return RUN(cls, ST_DEL_REMOTE, T(k), T(id));
}

static int remote_row(sqlite3_stmt *s, const struct sink *k)
{
    const char *kind = col_text(s, 0);
    store_remote r = {
        .kind = kind ? kind[0] : '?',
        .id = col_text(s, 1),
        .owner = col_text(s, 2),
        .obj = col_text(s, 3),
        .fetched_ms = (uint64_t)sqlite3_column_int64(s, 4),
    };

    return k->remote(k->arg, &r);
}

static int sq_list_remote(void *cls, store_remote_cb cb, void *arg)
{
    struct sink k = {.remote = cb, .arg = arg};

    return each_row(cls, ST_LIST_REMOTE, NULL, 0, remote_row, &k);
}

static int sq_put_step(void *cls, const store_step *x)
{
    return RUN(cls, ST_PUT_STEP, T(x->unit_id), T(x->job_id), I(x->attempt), T(x->step),
               I(x->at_ms));
}

static int step_row(sqlite3_stmt *s, const struct sink *k)
{
    store_step x = {
        .unit_id = col_text(s, 0),
        .job_id = col_text(s, 1),
        .attempt = (uint32_t)sqlite3_column_int64(s, 2),
        .step = col_text(s, 3),
        .at_ms = (uint64_t)sqlite3_column_int64(s, 4),
    };

    if (!x.unit_id || !x.job_id || !x.step)
        return -1;
    return k->step(k->arg, &x);
}

static int sq_list_steps(void *cls, store_step_cb cb, void *arg)
{
    struct sink k = {.step = cb, .arg = arg};

    return each_row(cls, ST_LIST_STEPS, NULL, 0, step_row, &k);
}

/* ---- loading: rows as stored, for restore.c ---- */

static int unit_row(sqlite3_stmt *q, const struct sink *k)
{
    store_unit_row r = {
        .id = col_text(q, 0),
        .kind = col_text(q, 1),
        .caps = col_text(q, 2),
        .url = col_text(q, 3),
        .capacity = sqlite3_column_int64(q, 4),
        .out_of_service = sqlite3_column_int(q, 5) != 0,
        .registered_ms = sqlite3_column_int64(q, 6),
        .has_station = sqlite3_column_type(q, 7) != SQLITE_NULL,
        .station_lat = sqlite3_column_double(q, 7),
        .station_lon = sqlite3_column_double(q, 8),
    };

    return k->rows->unit(k->arg, &r);
}

static int job_row(sqlite3_stmt *q, const struct sink *k)
{
    store_job_row r = {
        .id = col_text(q, 0),
        .type = col_text(q, 1),
        .severity = sqlite3_column_int64(q, 2),
        .caps = col_text(q, 3),
        .location = col_text(q, 4),
        .payload = col_text(q, 5),
        .request_digest = sqlite3_column_int64(q, 6),
        .status_int = sqlite3_column_int64(q, 7),
        .seq = sqlite3_column_int64(q, 8),
        .created_ms = sqlite3_column_int64(q, 9),
        .updated_ms = sqlite3_column_int64(q, 10),
    };

    return k->rows->job(k->arg, &r);
}

static int attempt_row(sqlite3_stmt *q, const struct sink *k)
{
    store_attempt_row r = {
        .job_id = col_text(q, 0),
        .n = sqlite3_column_int64(q, 1),
        .unit_id = col_text(q, 2),
        .unit_district = col_text(q, 3),
        .state_int = sqlite3_column_int64(q, 4),
        .notified = sqlite3_column_int(q, 5) != 0,
        .clock = col_text(q, 6),
        .at_ms = sqlite3_column_int64(q, 7),
        .why = sqlite3_column_int64(q, 8),
        .why_metres = sqlite3_column_int64(q, 9),
        .why_age_s = sqlite3_column_int64(q, 10),
    };

    return k->rows->attempt(k->arg, &r);
}

static int result_row(sqlite3_stmt *q, const struct sink *k)
{
    store_result_row r = {
        .job_id = col_text(q, 0),
        .unit_id = col_text(q, 1),
        .attempt = sqlite3_column_int64(q, 2),
        .outcome = col_text(q, 3),
        .data = col_text(q, 4),
        .digest = sqlite3_column_int64(q, 5),
        .at_ms = sqlite3_column_int64(q, 6),
    };

    return k->rows->result(k->arg, &r);
}

static int job_lines_row(sqlite3_stmt *q, const struct sink *k)
{
    store_job_lines_row r = {
        .job_id = col_text(q, 0),
        .lines = col_text(q, 1),
        .plan = col_text(q, 2),
        .attempt_lines = col_text(q, 3),
    };

    return k->rows->job_lines(k->arg, &r);
}

static int sq_load(void *cls, const store_rows *rows, void *arg)
{
    struct sink k = {.rows = rows, .arg = arg};

    if (each_row(cls, ST_LOAD_UNITS, NULL, 0, unit_row, &k) < 0 ||
        each_row(cls, ST_LOAD_JOBS, NULL, 0, job_row, &k) < 0 ||
        each_row(cls, ST_LOAD_ATTEMPTS, NULL, 0, attempt_row, &k) < 0 ||
        each_row(cls, ST_LOAD_RESULTS, NULL, 0, result_row, &k) < 0 ||
        (rows->job_lines && each_row(cls, ST_LOAD_JOB_LINES, NULL, 0, job_lines_row, &k) < 0))
        return -1;
    return 0;
}

static bool sq_error(void *cls, char *buf, size_t len)
{
    return sqlstore_error(cls, buf, len);
}

/* Two commits: the row must reach the WAL (one transaction that inserts
 * and deletes it writes almost nothing). */
static int sq_probe(void *cls)
{
    static const int steps[] = {ST_PROBE_PUT, ST_PROBE_DEL};

    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        if (sqlstore_begin(cls) < 0)
            return -1;
        if (sqlstore_step_done(st(cls, steps[i])) < 0 || sqlstore_commit(cls) < 0) {
            sqlstore_rollback(cls);
            return -1;
        }
    }
    return 0;
}

static uint64_t sq_pages_written(void *cls)
{
    return (uint64_t)sqlstore_pages_written(cls);
}

static void sq_close(void *cls)
{
    sqlstore_close(cls);
    free(cls);
}

/* A new database gets the current version; an older unversioned one was
 * written by the same schema (version 1 is the first that says so). */
static int check_schema(sqlstore *d, char *err, size_t errlen)
{
    char v[32];
    int rc = sq_get_meta(d, "schema", v, sizeof(v));

    if (rc == COORD_E_NOTFOUND) {
        snprintf(v, sizeof(v), "%d", STORE_SCHEMA_VERSION);
        if (sq_put_meta(d, "schema", v) == 0)
            return 0;
    } else if (rc == 0) {
        long have = strtol(v, NULL, 10);

        if (have >= 1 && have <= STORE_SCHEMA_VERSION)
            return 0;
        snprintf(err, errlen, "store schema %s is not one this broker reads (it writes %d)", v,
                 STORE_SCHEMA_VERSION);
        return -1;
    }
    snprintf(err, errlen, "cannot read the store's schema version");
    return -1;
}

int store_sqlite_open(struct store *out, const char *path, store_durability durability, char *err,
                      size_t errlen)
{
    sqlstore *d = calloc(1, sizeof(*d));
    /* Full: the WAL is fsynced by txn.c once per group commit, outside the
     * domain mutex, instead of by SQLite inside every COMMIT. */
    sqlstore_sync sync =
        durability == STORE_DURABILITY_FULL ? SQLSTORE_SYNC_DEFERRED : SQLSTORE_SYNC_NORMAL;

    if (!d) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (sqlstore_open(d, path, sync, schema, stmt_sql, ST__COUNT, err, errlen) < 0) {
        free(d);
        return -1;
    }
    if (check_schema(d, err, errlen) < 0) {
        sq_close(d);
        return -1;
    }
    *out = (struct store){
        .cls = d,
        .begin = sq_begin,
        .commit = sq_commit,
        .rollback = sq_rollback,
        .sync = durability == STORE_DURABILITY_FULL ? sq_sync : NULL,
        .put_unit = sq_put_unit,
        .put_job = sq_put_job,
        .insert_result = sq_insert_result,
        .put_meta = sq_put_meta,
        .get_meta = sq_get_meta,
        .add_event = sq_add_event,
        .list_events = sq_list_events,
        .last_event = sq_last_event,
        .put_claim = sq_put_claim,
        .del_claim = sq_del_claim,
        .list_claims = sq_list_claims,
        .put_step = sq_put_step,
        .list_steps = sq_list_steps,
        .put_remote = sq_put_remote,
        .del_remote = sq_del_remote,
        .list_remote = sq_list_remote,
        .load = sq_load,
        .error = sq_error,
        .probe = sq_probe,
        .pages_written = sq_pages_written,
        .close = sq_close,
    };
    return 0;
}
