/* SQLite persistence of the broker. Prepared statements are cached for the
 * hot paths (job, attempt, result, event writes). */
#include "db.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sqlstore.h"

enum {
    ST_PUT_UNIT,
    ST_PUT_JOB,
    ST_PUT_ATTEMPT,
    ST_INS_RESULT,
    ST_PUT_META,
    ST_GET_META,
    ST_ADD_EVENT,
    ST_PUT_REMOTE,
    ST_DEL_REMOTE,
    ST__COUNT
};

static const char *const stmt_sql[ST__COUNT] = {
    [ST_PUT_UNIT] = "INSERT OR REPLACE INTO units(id,kind,caps,url,capacity,out_of_service,"
                    "registered_ms) VALUES(?,?,?,?,?,?,?)",
    [ST_PUT_JOB] = "INSERT OR REPLACE INTO jobs(id,type,severity,caps,location,payload,"
                   "request_digest,status,seq,created_ms,updated_ms) VALUES(?,?,?,?,?,?,?,?,?,?,?)",
    [ST_PUT_ATTEMPT] = "INSERT OR REPLACE INTO attempts(job_id,n,unit_id,unit_district,state,"
                       "notified,clock,at_ms) VALUES(?,?,?,?,?,?,?,?)",
    [ST_INS_RESULT] = "INSERT INTO results(job_id,unit_id,attempt,outcome,data,digest,at_ms) "
                      "VALUES(?,?,?,?,?,?,?)",
    [ST_PUT_META] = "INSERT OR REPLACE INTO meta(key,value) VALUES(?,?)",
    [ST_GET_META] = "SELECT value FROM meta WHERE key=?",
    [ST_ADD_EVENT] = "INSERT INTO events(seq,time_ms,node,type,job_id,unit_id,attempt,detail,"
                     "vclock) VALUES(?,?,?,?,?,?,?,?,?)",
    [ST_PUT_REMOTE] =
        "INSERT OR REPLACE INTO remote(kind,id,owner,obj,fetched_ms) VALUES(?,?,?,?,?)",
    [ST_DEL_REMOTE] = "DELETE FROM remote WHERE kind=? AND id=?",
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
    " obj TEXT NOT NULL, fetched_ms INTEGER NOT NULL, PRIMARY KEY(kind, id));";

struct db {
    sqlstore s;
};

db *db_open(const char *path, char *err, size_t errlen)
{
    db *d = calloc(1, sizeof(*d));
    if (!d) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (sqlstore_open(&d->s, path, SQLSTORE_SYNC_NORMAL, schema, stmt_sql, ST__COUNT, err, errlen) <
        0) {
        free(d);
        return NULL;
    }
    return d;
}

void db_close(db *d)
{
    if (!d)
        return;
    sqlstore_close(&d->s);
    free(d);
}

int db_begin(db *d)
{
    return sqlstore_begin(&d->s);
}

int db_commit(db *d)
{
    return sqlstore_commit(&d->s);
}

void db_rollback(db *d)
{
    sqlstore_rollback(&d->s);
}

/* Caps are ids, which never contain a comma. */
static char *caps_join(char (*caps)[COORD_ID_MAX + 1], size_t n)
{
    char *s = malloc(n * (COORD_ID_MAX + 1) + 1);
    if (!s)
        return NULL;
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(caps[i]);
        if (i)
            s[len++] = ',';
        memcpy(s + len, caps[i], l);
        len += l;
    }
    s[len] = '\0';
    return s;
}

static int caps_split(const char *s, char (**out)[COORD_ID_MAX + 1], size_t *n)
{
    size_t cnt = (s && *s) ? 1 : 0;
    for (const char *p = s; p && *p; p++)
        cnt += *p == ',';
    char(*caps)[COORD_ID_MAX + 1] = calloc(cnt ? cnt : 1, sizeof(*caps));
    if (!caps)
        return -1;
    size_t i = 0;
    const char *p = s;
    while (i < cnt) {
        const char *e = strchr(p, ',');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        if (l > COORD_ID_MAX)
            l = COORD_ID_MAX;
        memcpy(caps[i], p, l);
        caps[i][l] = '\0';
        i++;
        p = e ? e + 1 : p + l;
    }
    *out = caps;
    *n = cnt;
    return 0;
}

int db_put_unit(db *d, const unit *u)
{
    sqlite3_stmt *s = d->s.st[ST_PUT_UNIT];
    char *caps = caps_join(u->caps, u->ncaps);
    if (!caps)
        return -1;
    sqlstore_bind_text(s, 1, u->id);
    sqlstore_bind_text(s, 2, u->kind);
    sqlstore_bind_text(s, 3, caps);
    sqlstore_bind_text(s, 4, u->url);
    sqlite3_bind_int64(s, 5, u->capacity);
    sqlite3_bind_int(s, 6, u->out_of_service);
    sqlite3_bind_int64(s, 7, (sqlite3_int64)u->registered_ms);
    int rc = sqlstore_step_done(s);
    free(caps);
    return rc;
}

static int put_attempt(db *d, const char *job_id, const attempt *a)
{
    sqlite3_stmt *s = d->s.st[ST_PUT_ATTEMPT];
    sqlstore_bind_text(s, 1, job_id);
    sqlite3_bind_int64(s, 2, a->n);
    sqlstore_bind_text(s, 3, a->unit_id);
    sqlstore_bind_text(s, 4, a->unit_district);
    sqlite3_bind_int(s, 5, (int)a->state);
    sqlite3_bind_int(s, 6, a->notified);
    sqlstore_bind_text(s, 7, a->clock);
    sqlite3_bind_int64(s, 8, (sqlite3_int64)a->at_ms);
    return sqlstore_step_done(s);
}

int db_put_job(db *d, const job *j)
{
    sqlite3_stmt *s = d->s.st[ST_PUT_JOB];
    char *caps = caps_join(j->caps, j->ncaps);
    if (!caps)
        return -1;
    sqlstore_bind_text(s, 1, j->id);
    sqlstore_bind_text(s, 2, j->type);
    sqlite3_bind_int(s, 3, (int)j->sev);
    sqlstore_bind_text(s, 4, caps);
    sqlstore_bind_text(s, 5, j->location);
    sqlstore_bind_text(s, 6, j->payload);
    sqlite3_bind_int64(s, 7, (sqlite3_int64)j->request_digest);
    sqlite3_bind_int(s, 8, (int)j->status);
    sqlite3_bind_int64(s, 9, (sqlite3_int64)j->seq);
    sqlite3_bind_int64(s, 10, (sqlite3_int64)j->created_ms);
    sqlite3_bind_int64(s, 11, (sqlite3_int64)j->updated_ms);
    int rc = sqlstore_step_done(s);
    free(caps);
    /* Pending attempts are not durable: the executor has not confirmed. */
    for (size_t i = 0; rc == 0 && i < j->nattempts; i++)
        if (j->attempts[i].state != ATT_PENDING)
            rc = put_attempt(d, j->id, &j->attempts[i]);
    return rc;
}

int db_insert_result(db *d, const char *job_id, const result *r)
{
    sqlite3_stmt *s = d->s.st[ST_INS_RESULT];
    sqlstore_bind_text(s, 1, job_id);
    sqlstore_bind_text(s, 2, r->unit_id);
    sqlite3_bind_int64(s, 3, r->attempt);
    sqlstore_bind_text(s, 4, r->outcome);
    sqlstore_bind_text(s, 5, r->data ? r->data : "{}");
    sqlite3_bind_int64(s, 6, (sqlite3_int64)r->digest);
    sqlite3_bind_int64(s, 7, (sqlite3_int64)r->at_ms);
    return sqlstore_step_done(s);
}

int db_put_meta(db *d, const char *key, const char *value)
{
    sqlite3_stmt *s = d->s.st[ST_PUT_META];
    sqlstore_bind_text(s, 1, key);
    sqlstore_bind_text(s, 2, value);
    return sqlstore_step_done(s);
}

int db_get_meta(db *d, const char *key, char *buf, size_t len)
{
    sqlite3_stmt *s = d->s.st[ST_GET_META];
    sqlstore_bind_text(s, 1, key);
    int rc = COORD_E_NOTFOUND;
    if (sqlite3_step(s) == SQLITE_ROW) {
        const char *v = (const char *)sqlite3_column_text(s, 0);
        snprintf(buf, len, "%s", v ? v : "");
        rc = 0;
    }
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return rc;
}

int db_add_event(db *d, uint64_t seq, uint64_t time_ms, const char *node, const char *type,
                 const char *job_id, const char *unit_id, uint32_t attempt_no, const char *detail,
                 const char *vclock_json)
{
    sqlite3_stmt *s = d->s.st[ST_ADD_EVENT];
    sqlite3_bind_int64(s, 1, (sqlite3_int64)seq);
    sqlite3_bind_int64(s, 2, (sqlite3_int64)time_ms);
    sqlstore_bind_text(s, 3, node);
    sqlstore_bind_text(s, 4, type);
    sqlstore_bind_text(s, 5, job_id);
    sqlstore_bind_text(s, 6, unit_id);
    if (attempt_no)
        sqlite3_bind_int64(s, 7, attempt_no);
    else
        sqlite3_bind_null(s, 7);
    sqlstore_bind_text(s, 8, detail);
    sqlstore_bind_text(s, 9, vclock_json);
    return sqlstore_step_done(s);
}

uint64_t db_last_event_seq(db *d)
{
    return (uint64_t)sqlstore_query_int(&d->s, "SELECT COALESCE(MAX(seq),0) FROM events", 0);
}

static const char *col_text(sqlite3_stmt *s, int i)
{
    return (const char *)sqlite3_column_text(s, i);
}

int db_list_events(db *d, uint64_t after, size_t limit, db_event_cb cb, void *arg)
{
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(d->s.h,
                           "SELECT seq,time_ms,node,type,job_id,unit_id,attempt,detail,vclock "
                           "FROM events WHERE seq>? ORDER BY seq LIMIT ?",
                           -1, &s, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_int64(s, 1, (sqlite3_int64)after);
    sqlite3_bind_int64(s, 2, (sqlite3_int64)limit);
    while (sqlite3_step(s) == SQLITE_ROW)
        cb(arg, (uint64_t)sqlite3_column_int64(s, 0), (uint64_t)sqlite3_column_int64(s, 1),
           col_text(s, 2), col_text(s, 3), col_text(s, 4), col_text(s, 5),
           (uint32_t)sqlite3_column_int64(s, 6), col_text(s, 7), col_text(s, 8));
    sqlite3_finalize(s);
    return 0;
}

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

static void copy_id(char *dst, const char *src)
{
    snprintf(dst, COORD_ID_MAX + 1, "%s", src ? src : "");
}

static int load_units(db *d, hmap *units)
{
    sqlite3_stmt *s = NULL;
    int rc = -1;
    if (sqlite3_prepare_v2(d->s.h,
                           "SELECT id,kind,caps,url,capacity,out_of_service,registered_ms "
                           "FROM units",
                           -1, &s, NULL) != SQLITE_OK)
        return -1;
    while (sqlite3_step(s) == SQLITE_ROW) {
        unit *u = calloc(1, sizeof(*u));
        if (!u)
            goto out;
        copy_id(u->id, col_text(s, 0));
        copy_id(u->kind, col_text(s, 1));
        if (caps_split(col_text(s, 2), &u->caps, &u->ncaps) < 0) {
            free(u);
            goto out;
        }
        snprintf(u->url, sizeof(u->url), "%s", col_text(s, 3) ? col_text(s, 3) : "");
        u->capacity = (uint32_t)sqlite3_column_int64(s, 4);
        u->out_of_service = sqlite3_column_int(s, 5) != 0;
        u->registered_ms = (uint64_t)sqlite3_column_int64(s, 6);
        if (hmap_put(units, u->id, u, NULL) < 0) {
            free(u->caps);
            free(u);
            goto out;
        }
    }
    rc = 0;
out:
    sqlite3_finalize(s);
    return rc;
}

static int load_jobs(db *d, hmap *jobs)
{
    sqlite3_stmt *s = NULL;
    int rc = -1;
    if (sqlite3_prepare_v2(d->s.h,
                           "SELECT id,type,severity,caps,location,payload,request_digest,status,"
                           "seq,created_ms,updated_ms FROM jobs",
                           -1, &s, NULL) != SQLITE_OK)
        return -1;
    while (sqlite3_step(s) == SQLITE_ROW) {
        job *j = calloc(1, sizeof(*j));
        if (!j)
            goto out;
        copy_id(j->id, col_text(s, 0));
        copy_id(j->type, col_text(s, 1));
        j->sev = (severity)sqlite3_column_int(s, 2);
        if (caps_split(col_text(s, 3), &j->caps, &j->ncaps) < 0) {
            free(j);
            goto out;
        }
        j->location = dup_or_null(col_text(s, 4));
        j->payload = dup_or_null(col_text(s, 5));
        j->request_digest = (uint64_t)sqlite3_column_int64(s, 6);
        j->status = (job_status)sqlite3_column_int(s, 7);
        j->seq = (uint64_t)sqlite3_column_int64(s, 8);
        j->created_ms = (uint64_t)sqlite3_column_int64(s, 9);
        j->updated_ms = (uint64_t)sqlite3_column_int64(s, 10);
        if (hmap_put(jobs, j->id, j, NULL) < 0) {
            free(j->caps);
            free(j->location);
            free(j->payload);
            free(j);
            goto out;
        }
    }
    rc = 0;
out:
    sqlite3_finalize(s);
    return rc;
}

static int load_attempts(db *d, hmap *jobs)
{
    sqlite3_stmt *s = NULL;
    int rc = -1;
    if (sqlite3_prepare_v2(d->s.h,
                           "SELECT job_id,n,unit_id,unit_district,state,notified,clock,at_ms "
                           "FROM attempts ORDER BY job_id, n",
                           -1, &s, NULL) != SQLITE_OK)
        return -1;
    while (sqlite3_step(s) == SQLITE_ROW) {
        job *j = hmap_get(jobs, col_text(s, 0));
        if (!j)
            continue;
        if (j->nattempts == j->aattempts) {
            size_t na = j->aattempts ? j->aattempts * 2 : 2;
            attempt *na_arr = realloc(j->attempts, na * sizeof(*na_arr));
            if (!na_arr)
                goto out;
            j->attempts = na_arr;
            j->aattempts = na;
        }
        attempt *a = &j->attempts[j->nattempts++];
        memset(a, 0, sizeof(*a));
        a->n = (uint32_t)sqlite3_column_int64(s, 1);
        copy_id(a->unit_id, col_text(s, 2));
        copy_id(a->unit_district, col_text(s, 3));
        a->state = (attempt_state)sqlite3_column_int(s, 4);
        a->notified = sqlite3_column_int(s, 5) != 0;
        a->clock = dup_or_null(col_text(s, 6));
        a->at_ms = (uint64_t)sqlite3_column_int64(s, 7);
    }
    rc = 0;
out:
    sqlite3_finalize(s);
    return rc;
}

static int load_results(db *d, hmap *jobs)
{
    sqlite3_stmt *s = NULL;
    int rc = -1;
    if (sqlite3_prepare_v2(d->s.h,
                           "SELECT job_id,unit_id,attempt,outcome,data,digest,at_ms FROM results",
                           -1, &s, NULL) != SQLITE_OK)
        return -1;
    while (sqlite3_step(s) == SQLITE_ROW) {
        job *j = hmap_get(jobs, col_text(s, 0));
        if (!j || j->res)
            continue;
        result *r = calloc(1, sizeof(*r));
        if (!r)
            goto out;
        copy_id(r->unit_id, col_text(s, 1));
        r->attempt = (uint32_t)sqlite3_column_int64(s, 2);
        copy_id(r->outcome, col_text(s, 3));
        r->data = dup_or_null(col_text(s, 4));
        r->digest = (uint64_t)sqlite3_column_int64(s, 5);
        r->at_ms = (uint64_t)sqlite3_column_int64(s, 6);
        j->res = r;
    }
    rc = 0;
out:
    sqlite3_finalize(s);
    return rc;
}

int db_load(db *d, hmap *units, hmap *jobs)
{
    if (load_units(d, units) < 0 || load_jobs(d, jobs) < 0 || load_attempts(d, jobs) < 0 ||
        load_results(d, jobs) < 0)
        return -1;
    return 0;
}

static int exec_bound(db *d, const char *sql, const char *a, const char *b2, int64_t n,
                      const char *c)
{
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(d->s.h, sql, -1, &s, NULL) != SQLITE_OK)
        return -1;
    sqlstore_bind_text(s, 1, a);
    sqlstore_bind_text(s, 2, b2);
    if (c) {
        sqlite3_bind_int64(s, 3, n);
        sqlstore_bind_text(s, 4, c);
    }
    int rc = sqlstore_step_done(s);
    sqlite3_finalize(s);
    return rc;
}

int db_put_claim(db *d, const char *unit_id, const char *job_id, uint32_t attempt_no,
                 const char *owner)
{
    return exec_bound(d,
                      "INSERT OR REPLACE INTO claims(unit_id,job_id,attempt,owner) "
                      "VALUES(?,?,?,?)",
                      unit_id, job_id, attempt_no, owner);
}

int db_del_claim(db *d, const char *unit_id, const char *job_id)
{
    return exec_bound(d, "DELETE FROM claims WHERE unit_id=? AND job_id=?", unit_id, job_id, 0,
                      NULL);
}

int db_list_claims(db *d, db_claim_cb cb, void *arg)
{
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(d->s.h, "SELECT unit_id,job_id,attempt,owner FROM claims", -1, &s,
                           NULL) != SQLITE_OK)
        return -1;
    while (sqlite3_step(s) == SQLITE_ROW)
        cb(arg, col_text(s, 0), col_text(s, 1), (uint32_t)sqlite3_column_int64(s, 2),
           col_text(s, 3));
    sqlite3_finalize(s);
    return 0;
}

int db_put_remote(db *d, char kind, const char *id, const char *owner, const char *obj,
                  uint64_t fetched_ms)
{
    sqlite3_stmt *s = d->s.st[ST_PUT_REMOTE];
    char k[2] = {kind, '\0'};
    sqlite3_bind_text(s, 1, k, 1, SQLITE_TRANSIENT);
    sqlstore_bind_text(s, 2, id);
    sqlstore_bind_text(s, 3, owner);
    sqlstore_bind_text(s, 4, obj);
    sqlite3_bind_int64(s, 5, (sqlite3_int64)fetched_ms);
    return sqlstore_step_done(s);
}

int db_del_remote(db *d, char kind, const char *id)
{
    sqlite3_stmt *s = d->s.st[ST_DEL_REMOTE];
    char k[2] = {kind, '\0'};
    sqlite3_bind_text(s, 1, k, 1, SQLITE_TRANSIENT);
    sqlstore_bind_text(s, 2, id);
    return sqlstore_step_done(s);
}

int db_list_remote(db *d, db_remote_cb cb, void *arg)
{
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(d->s.h, "SELECT kind,id,owner,obj,fetched_ms FROM remote", -1, &s,
                           NULL) != SQLITE_OK)
        return -1;
    while (sqlite3_step(s) == SQLITE_ROW) {
        const char *k = col_text(s, 0);
        cb(arg, k ? k[0] : '?', col_text(s, 1), col_text(s, 2), col_text(s, 3),
           (uint64_t)sqlite3_column_int64(s, 4));
    }
    sqlite3_finalize(s);
    return 0;
}
