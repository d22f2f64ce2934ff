/* A small SQLite store shared by the services that persist state: one
 * connection in WAL mode, checked at open (PRAGMA quick_check), a schema
 * applied at open, a caller-given array of statements prepared once, and
 * BEGIN IMMEDIATE / COMMIT / ROLLBACK; and the start-up checks of a data
 * dir (its marker), so that a lost or damaged database is refused, never
 * taken for a new one. Each service keeps its SQL and its typed functions
 * (db.c); this is only the plumbing. Not thread-safe: callers serialise
 * use of one store. */
#ifndef API_SQLSTORE_H
#define API_SQLSTORE_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>

/* How hard a commit reaches the disk. NORMAL: a committed transaction is in
 * the WAL and survives a kill -9 of the process (not a power cut). FULL: it
 * is fsynced before COMMIT returns. DEFERRED: FULL's guarantee, with the
 * fsync left to the caller: COMMIT writes the WAL as NORMAL does, and a
 * commit survives a power cut once sqlstore_sync_wal returned after it
 * (one fsync for several commits, made outside the caller's locks). */
typedef enum sqlstore_sync {
    SQLSTORE_SYNC_NORMAL = 0,
    SQLSTORE_SYNC_FULL,
    SQLSTORE_SYNC_DEFERRED
} sqlstore_sync;

/* Caller-owned; filled by sqlstore_open, emptied by sqlstore_close. */
typedef struct sqlstore {
    sqlite3 *h;
    sqlite3_stmt **st; /* st[i] is stmt_sql[i], prepared (persistent) */
    size_t nst;
    sqlite3_stmt *begin, *commit, *rollback;
    /* Test hook (ERGRID_TEST_PAGE_LIMIT_FILE, see sqlstore_open): the file
     * read before each transaction, and the limit to go back to. */
    char *limit_file;
    sqlite3_int64 default_max_pages;
    /* SQLSTORE_SYNC_DEFERRED: the WAL, for sqlstore_sync_wal (a zeroed
     * store has none). */
    bool has_wal_fd;
    int wal_fd;
} sqlstore;

/* Start-up checks, before sqlstore_open. A data dir's marker is a small
 * file next to the database naming its owner (a district's id), written by
 * sqlstore_mark once the database first holds the owner's record. It
 * outlives the database, so a database that is gone is told apart from a
 * data dir never used. Refuses (-1, one line in err naming the file and what
 * is wrong) a marker that cannot be read or names another owner, a database
 * that is missing while the marker or its WAL (path-wal) say it existed,
 * and an empty (0-byte) database, which no store ever leaves behind. 0
 * otherwise, *marked telling whether the marker was there. */
int sqlstore_preflight(const char *path, const char *marker, const char *owner, bool *marked,
                       char *err, size_t errlen);
/* Writes the marker atomically (a temporary file, fsync, rename, fsync of
 * its directory): once it is there, a later loss of the database is seen. 0
 * or -1 with a message in err. */
int sqlstore_mark(const char *marker, const char *owner, char *err, size_t errlen);

/* Opens (creating) the database at path, refuses it when PRAGMA
 * quick_check finds it damaged ("database PATH is damaged (...)"), sets
 * journal_mode=WAL, the given synchronous level and temp_store=MEMORY, runs
 * schema_sql (several statements allowed) and prepares the n statements of
 * stmt_sql. 0, or -1 with a message in err and s left empty (safe to
 * sqlstore_close).
 *
 * Test hook: when the environment names a file in
 * ERGRID_TEST_PAGE_LIMIT_FILE, each sqlstore_begin reads it and, while it
 * holds a number N, sets PRAGMA max_page_count=N (SQLite raises it to the
 * database's current size, so 1 means "no room to grow"); without the file
 * the limit is SQLite's default again. A full disk for tests where a small
 * filesystem cannot be mounted: the writes get a real SQLITE_FULL. */
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
/* What SQLite said about the last call that failed on s (its message and
 * code, e.g. "database or disk is full (SQLITE_FULL)"), into buf; false
 * (and "no SQLite error") when SQLite reported none, so the failure was the
 * caller's. Call it before the next statement: that one replaces it. */
bool sqlstore_error(const sqlstore *s, char *buf, size_t len);

/* Steps st once, retrying for a while on SQLITE_BUSY / SQLITE_LOCKED, then
 * resets it and clears its bindings (so no SQLITE_STATIC binding outlives
 * the call). 0 when the step gave SQLITE_DONE or SQLITE_ROW, else -1. For
 * writes; a query reads its rows before resetting. */
int sqlstore_step_done(sqlite3_stmt *st);

/* Binds v as text (not copied: it must live until the step), or NULL when
 * v is NULL. */
void sqlstore_bind_text(sqlite3_stmt *st, int i, const char *v);

/* SQLSTORE_SYNC_DEFERRED: fdatasync of the WAL, which makes every commit
 * before the call survive a power cut (SQLite itself syncs the WAL before
 * each checkpoint and the database after it, as with NORMAL). 0, or -1
 * with errno set; 0 at once for the other levels. It uses only its own
 * descriptor of the WAL, so it may run while another thread uses s. */
int sqlstore_sync_wal(sqlstore *s);

/* Pages the connection wrote to disk since open (in WAL mode: frames
 * appended to the WAL), SQLite's SQLITE_DBSTATUS_CACHE_WRITE. */
sqlite3_int64 sqlstore_pages_written(sqlstore *s);

/* Runs a one-row, one-column integer query (e.g. SELECT MAX(seq) ...);
 * returns its value, or dflt when it fails or gives no row. */
sqlite3_int64 sqlstore_query_int(sqlstore *s, const char *sql, sqlite3_int64 dflt);

#endif
