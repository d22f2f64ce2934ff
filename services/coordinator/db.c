/* SQLite persistence of the coordinator: the broker registry, the emergency
 * level and clock (meta), our own events and where incidents were routed. */
#include "db.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sqlstore.h"

enum {
    ST_PUT_BROKER,
    ST_PUT_BROKER_URL,
    ST_DEL_BROKER_URL,
    ST_PUT_META,
    ST_GET_META,
    ST_ADD_EVENT,
    ST_PUT_INCIDENT,
    ST_GET_INCIDENT,
    ST__COUNT
};

static const char *const stmt_sql[ST__COUNT] = {
    [ST_PUT_BROKER] = "INSERT OR REPLACE INTO brokers(id,url,registered_ms,last_seen_ms) "
                      "VALUES(?,?,?,?)",
    [ST_PUT_BROKER_URL] = "INSERT OR REPLACE INTO broker_urls(id,url,last_seen_ms) VALUES(?,?,?)",
    [ST_DEL_BROKER_URL] = "DELETE FROM broker_urls WHERE id=?1 AND (?2 = '*' OR url=?2)",
    [ST_PUT_META] = "INSERT OR REPLACE INTO meta(key,value) VALUES(?,?)",
    [ST_GET_META] = "SELECT value FROM meta WHERE key=?",
    [ST_ADD_EVENT] =
        "INSERT INTO events(seq,time_ms,type,job_id,detail,vclock) VALUES(?,?,?,?,?,?)",
    [ST_PUT_INCIDENT] = "INSERT OR REPLACE INTO incidents(id,district,routing,at_ms) "
                        "VALUES(?,?,?,?)",
    [ST_GET_INCIDENT] = "SELECT district,routing FROM incidents WHERE id=?",
};

static const char schema[] =
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS brokers(id TEXT PRIMARY KEY, url TEXT NOT NULL,"
    " registered_ms INTEGER NOT NULL, last_seen_ms INTEGER NOT NULL);"
    /* Added beside brokers rather than into it (the store-schema rule): an
     * older registry opens as it is, with no rows here. */
    "CREATE TABLE IF NOT EXISTS broker_urls(id TEXT NOT NULL, url TEXT NOT NULL,"
    " last_seen_ms INTEGER NOT NULL, PRIMARY KEY(id, url));"
    "CREATE TABLE IF NOT EXISTS events(seq INTEGER PRIMARY KEY, time_ms INTEGER NOT NULL,"
    " type TEXT NOT NULL, job_id TEXT, detail TEXT, vclock TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS incidents(id TEXT PRIMARY KEY, district TEXT NOT NULL,"
    " routing TEXT NOT NULL, at_ms INTEGER NOT NULL);";

struct cdb {
    sqlstore s;
};

static const char *col_text(sqlite3_stmt *s, int i)
{
    const unsigned char *t = sqlite3_column_text(s, i);
    return t ? (const char *)t : "";
}

cdb *cdb_open(const char *path, char *err, size_t errlen)
{
    cdb *d = calloc(1, sizeof(*d));
    if (!d) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (sqlstore_open(&d->s, path, SQLSTORE_SYNC_FULL, schema, stmt_sql, ST__COUNT, err, errlen) <
        0) {
        free(d);
        return NULL;
    }
    return d;
}

void cdb_close(cdb *d)
{
    if (!d)
        return;
    sqlstore_close(&d->s);
    free(d);
}

int cdb_begin(cdb *d)
{
    return sqlstore_begin(&d->s);
}

int cdb_commit(cdb *d)
{
    return sqlstore_commit(&d->s);
}

void cdb_rollback(cdb *d)
{
    sqlstore_rollback(&d->s);
}

int cdb_put_broker(cdb *d, const char *id, const char *url, uint64_t registered_ms,
                   uint64_t last_seen_ms)
{
    sqlite3_stmt *s = d->s.st[ST_PUT_BROKER];
    sqlstore_bind_text(s, 1, id);
    sqlstore_bind_text(s, 2, url);
    sqlite3_bind_int64(s, 3, (sqlite3_int64)registered_ms);
    sqlite3_bind_int64(s, 4, (sqlite3_int64)last_seen_ms);
    return sqlstore_step_done(s);
}

int cdb_load_brokers(cdb *d, cdb_broker_cb cb, void *arg)
{
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(d->s.h,
                           "SELECT id,url,registered_ms,last_seen_ms FROM brokers ORDER BY id", -1,
                           &s, NULL) != SQLITE_OK)
        return -1;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW)
        cb(arg, col_text(s, 0), col_text(s, 1), (uint64_t)sqlite3_column_int64(s, 2),
           (uint64_t)sqlite3_column_int64(s, 3));
    sqlite3_finalize(s);
    return rc == SQLITE_DONE ? 0 : -1;
}

int cdb_put_broker_url(cdb *d, const char *id, const char *url, uint64_t last_seen_ms)
{
    sqlite3_stmt *s = d->s.st[ST_PUT_BROKER_URL];
    sqlstore_bind_text(s, 1, id);
    sqlstore_bind_text(s, 2, url);
    sqlite3_bind_int64(s, 3, (sqlite3_int64)last_seen_ms);
    return sqlstore_step_done(s);
}

int cdb_del_broker_url(cdb *d, const char *id, const char *url)
{
    sqlite3_stmt *s = d->s.st[ST_DEL_BROKER_URL];
    sqlstore_bind_text(s, 1, id);
    sqlstore_bind_text(s, 2, url);
    return sqlstore_step_done(s);
}

int cdb_load_broker_urls(cdb *d, cdb_broker_url_cb cb, void *arg)
{
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(d->s.h,
                           "SELECT id,url,last_seen_ms FROM broker_urls ORDER BY id,last_seen_ms",
                           -1, &s, NULL) != SQLITE_OK)
        return -1;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW)
        cb(arg, col_text(s, 0), col_text(s, 1), (uint64_t)sqlite3_column_int64(s, 2));
    sqlite3_finalize(s);
    return rc == SQLITE_DONE ? 0 : -1;
}

int cdb_put_meta(cdb *d, const char *key, const char *value)
{
    sqlite3_stmt *s = d->s.st[ST_PUT_META];
    sqlstore_bind_text(s, 1, key);
    sqlstore_bind_text(s, 2, value);
    return sqlstore_step_done(s);
}

int cdb_get_meta(cdb *d, const char *key, char *buf, size_t len)
{
    sqlite3_stmt *s = d->s.st[ST_GET_META];
    int rc;
    sqlstore_bind_text(s, 1, key);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        snprintf(buf, len, "%s", col_text(s, 0));
        rc = 0;
    } else {
        rc = rc == SQLITE_DONE ? 1 : -1;
    }
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return rc;
}

int cdb_add_event(cdb *d, uint64_t seq, uint64_t time_ms, const char *type, const char *job_id,
                  const char *detail, const char *vclock_json)
{
    sqlite3_stmt *s = d->s.st[ST_ADD_EVENT];
    sqlite3_bind_int64(s, 1, (sqlite3_int64)seq);
    sqlite3_bind_int64(s, 2, (sqlite3_int64)time_ms);
    sqlstore_bind_text(s, 3, type);
    sqlstore_bind_text(s, 4, job_id);
    sqlstore_bind_text(s, 5, detail);
    sqlstore_bind_text(s, 6, vclock_json);
    return sqlstore_step_done(s);
}

int cdb_load_events(cdb *d, size_t limit, cdb_event_cb cb, void *arg)
{
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(
            d->s.h,
            "SELECT seq,time_ms,type,job_id,detail,vclock FROM (SELECT * FROM events "
            "ORDER BY seq DESC LIMIT ?) ORDER BY seq",
            -1, &s, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_int64(s, 1, (sqlite3_int64)limit);
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW)
        cb(arg, (uint64_t)sqlite3_column_int64(s, 0), (uint64_t)sqlite3_column_int64(s, 1),
           col_text(s, 2), sqlite3_column_type(s, 3) == SQLITE_NULL ? NULL : col_text(s, 3),
           col_text(s, 4), col_text(s, 5));
    sqlite3_finalize(s);
    return rc == SQLITE_DONE ? 0 : -1;
}

int cdb_last_event_seq(cdb *d, uint64_t *seq)
{
    sqlite3_int64 v = sqlstore_query_int(&d->s, "SELECT COALESCE(MAX(seq),0) FROM events", -1);
    if (v < 0)
        return -1;
    *seq = (uint64_t)v;
    return 0;
}

void cdb_error(const cdb *d, char *buf, size_t len)
{
    (void)sqlstore_error(&d->s, buf, len);
}

int cdb_put_incident(cdb *d, const char *id, const char *district, const char *routing,
                     uint64_t at_ms)
{
    sqlite3_stmt *s = d->s.st[ST_PUT_INCIDENT];
    sqlstore_bind_text(s, 1, id);
    sqlstore_bind_text(s, 2, district);
    sqlstore_bind_text(s, 3, routing);
    sqlite3_bind_int64(s, 4, (sqlite3_int64)at_ms);
    return sqlstore_step_done(s);
}

int cdb_get_incident(cdb *d, const char *id, char *district, size_t dlen, char *routing,
                     size_t rlen)
{
    sqlite3_stmt *s = d->s.st[ST_GET_INCIDENT];
    int rc = -1;
    sqlstore_bind_text(s, 1, id);
    if (sqlite3_step(s) == SQLITE_ROW) {
        snprintf(district, dlen, "%s", col_text(s, 0));
        snprintf(routing, rlen, "%s", col_text(s, 1));
        rc = 0;
    }
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return rc;
}
