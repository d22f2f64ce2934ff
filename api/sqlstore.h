/* A small SQLite store shared by the services that persist state: one
 * connection in WAL mode, a schema applied at open, a caller-given array of
 * statements prepared once, and BEGIN IMMEDIATE / COMMIT / ROLLBACK.
 * Each service keeps its SQL and its typed functions (db.c); this is only
 * the plumbing. Not thread-safe: callers serialise use of one store. */
#ifndef API_SQLSTORE_H
#define API_SQLSTORE_H

#include <sqlite3.h>
#include <stddef.h>

/* How hard a commit reaches the disk. NORMAL: a committed transaction is in
 * the WAL and survives a kill -9 of the process (not a power cut). FULL: it
 * is fsynced before COMMIT returns. */
typedef enum sqlstore_sync { SQLSTORE_SYNC_NORMAL = 0, SQLSTORE_SYNC_FULL } sqlstore_sync;

/* Caller-owned; filled by sqlstore_open, emptied by sqlstore_close. */
typedef struct sqlstore {
    sqlite3 *h;
    sqlite3_stmt **st; /* st[i] is stmt_sql[i], prepared (persistent) */
    size_t nst;
    sqlite3_stmt *begin, *commit, *rollback;
} sqlstore;

/* Opens (creating) the database at path, sets journal_mode=WAL, the given
 * synchronous level and temp_store=MEMORY, runs schema_sql (several
 * statements allowed) and prepares the n statements of stmt_sql. 0, or -1
 * with a message in err and s left empty (safe to sqlstore_close). */
int sqlstore_open(sqlstore *s, const char *path, sqlstore_sync sync, const char *schema_sql,
                  const char *const stmt_sql[], size_t n, char *err, size_t errlen);
/* Finalizes the statements, closes the connection and zeroes s. Accepts
 * NULL and an empty (zeroed or failed-to-open) store. */
void sqlstore_close(sqlstore *s);

/* BEGIN IMMEDIATE (retried while another connection holds the lock) and
 * COMMIT; 0 or -1. sqlstore_rollback does nothing outside a transaction. */
int sqlstore_begin(sqlstore *s);
int sqlstore_commit(sqlstore *s);
void sqlstore_rollback(sqlstore *s);

/* Steps st once, retrying for a while on SQLITE_BUSY / SQLITE_LOCKED, then
 * resets it and clears its bindings (so no SQLITE_STATIC binding outlives
 * the call). 0 when the step gave SQLITE_DONE or SQLITE_ROW, else -1. For
 * writes; a query reads its rows before resetting. */
int sqlstore_step_done(sqlite3_stmt *st);

/* Binds v as text (not copied: it must live until the step), or NULL when
 * v is NULL. */
void sqlstore_bind_text(sqlite3_stmt *st, int i, const char *v);

/* Runs a one-row, one-column integer query (e.g. SELECT MAX(seq) ...);
 * returns its value, or dflt when it fails or gives no row. */
sqlite3_int64 sqlstore_query_int(sqlstore *s, const char *sql, sqlite3_int64 dflt);

#endif
