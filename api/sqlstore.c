/* The SQLite plumbing the broker and the coordinator share: open with WAL,
 * prepared statements, transactions that wait out a busy lock. */
#include "sqlstore.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* How long sqlstore_step_done waits for a lock: 200 x 1 ms. */
#define BUSY_RETRIES  200
#define BUSY_SLEEP_US 1000
/* sqlite3's own wait inside one step, before it reports SQLITE_BUSY. */
#define BUSY_TIMEOUT_MS 5000

static int prepare(sqlite3 *h, const char *sql, sqlite3_stmt **out)
{
    int rc = sqlite3_prepare_v3(h, sql, -1, SQLITE_PREPARE_PERSISTENT, out, NULL);
    return rc == SQLITE_OK ? 0 : -1;
}

int sqlstore_open(sqlstore *s, const char *path, sqlstore_sync sync, const char *schema_sql,
                  const char *const stmt_sql[], size_t n, char *err, size_t errlen)
{
    char *msg = NULL;

    memset(s, 0, sizeof(*s));
    if (n) {
        s->st = calloc(n, sizeof(*s->st));
        if (!s->st) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        s->nst = n;
    }
    if (sqlite3_open_v2(path, &s->h,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK) {
        snprintf(err, errlen, "cannot open %s: %s", path, s->h ? sqlite3_errmsg(s->h) : "?");
        goto fail;
    }
    sqlite3_busy_timeout(s->h, BUSY_TIMEOUT_MS);
    if (sqlite3_exec(s->h,
                     "PRAGMA journal_mode=WAL; PRAGMA foreign_keys=OFF;"
                     "PRAGMA temp_store=MEMORY;",
                     NULL, NULL, &msg) != SQLITE_OK ||
        sqlite3_exec(s->h,
                     sync == SQLSTORE_SYNC_FULL ? "PRAGMA synchronous=FULL;"
                                                : "PRAGMA synchronous=NORMAL;",
                     NULL, NULL, &msg) != SQLITE_OK ||
        sqlite3_exec(s->h, schema_sql, NULL, NULL, &msg) != SQLITE_OK) {
        snprintf(err, errlen, "cannot initialise %s: %s", path, msg ? msg : "?");
        sqlite3_free(msg);
        goto fail;
    }
    if (prepare(s->h, "BEGIN IMMEDIATE", &s->begin) < 0 ||
        prepare(s->h, "COMMIT", &s->commit) < 0 || prepare(s->h, "ROLLBACK", &s->rollback) < 0) {
        snprintf(err, errlen, "cannot prepare transactions: %s", sqlite3_errmsg(s->h));
        goto fail;
    }
    for (size_t i = 0; i < n; i++) {
        if (prepare(s->h, stmt_sql[i], &s->st[i]) < 0) {
            snprintf(err, errlen, "cannot prepare statement %zu: %s", i, sqlite3_errmsg(s->h));
            goto fail;
        }
    }
    return 0;
fail:
    sqlstore_close(s);
    return -1;
}

void sqlstore_close(sqlstore *s)
{
    if (!s)
        return;
    for (size_t i = 0; s->st && i < s->nst; i++)
        sqlite3_finalize(s->st[i]);
    free(s->st);
    sqlite3_finalize(s->begin);
    sqlite3_finalize(s->commit);
    sqlite3_finalize(s->rollback);
    sqlite3_close(s->h);
    memset(s, 0, sizeof(*s));
}

int sqlstore_begin(sqlstore *s)
{
    return sqlstore_step_done(s->begin);
}

int sqlstore_commit(sqlstore *s)
{
    return sqlstore_step_done(s->commit);
}

void sqlstore_rollback(sqlstore *s)
{
    if (!sqlite3_get_autocommit(s->h))
        sqlstore_step_done(s->rollback);
}

int sqlstore_step_done(sqlite3_stmt *st)
{
    int rc = SQLITE_ERROR;
    /* BEGIN IMMEDIATE may meet a checkpointing reader; wait it out briefly. */
    for (int i = 0; i < BUSY_RETRIES; i++) {
        rc = sqlite3_step(st);
        if (rc != SQLITE_BUSY && rc != SQLITE_LOCKED)
            break;
        sqlite3_reset(st);
        usleep(BUSY_SLEEP_US);
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : -1;
}

void sqlstore_bind_text(sqlite3_stmt *st, int i, const char *v)
{
    if (v)
        sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, i);
}

sqlite3_int64 sqlstore_query_int(sqlstore *s, const char *sql, sqlite3_int64 dflt)
{
    sqlite3_stmt *st = NULL;
    sqlite3_int64 v = dflt;
    if (sqlite3_prepare_v2(s->h, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}
