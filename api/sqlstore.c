/* The SQLite plumbing the broker and the coordinator share: the start-up
 * checks of a data dir (marker, missing or empty database), open with an
 * integrity check and WAL, prepared statements, transactions that wait out
 * a busy lock, and the page-limit test hook. */
#include "sqlstore.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* How long sqlstore_step_done waits for a lock: 200 x 1 ms. */
#define BUSY_RETRIES  200
#define BUSY_SLEEP_US 1000
/* sqlite3's own wait inside one step, before it reports SQLITE_BUSY. */
#define BUSY_TIMEOUT_MS 5000

/* A marker holds one id and a newline. */
#define MARKER_MAX 128

static int prepare(sqlite3 *h, const char *sql, sqlite3_stmt **out)
{
    int rc = sqlite3_prepare_v3(h, sql, -1, SQLITE_PREPARE_PERSISTENT, out, NULL);
    return rc == SQLITE_OK ? 0 : -1;
}

/* The marker's owner into buf: 1, 0 when there is no marker, -1 (err set)
 * when it cannot be read or is not a marker. */
static int read_marker(const char *marker, char *buf, size_t len, char *err, size_t errlen)
{
    char text[MARKER_MAX + 1];
    int fd = open(marker, O_RDONLY | O_CLOEXEC);
    ssize_t n;

    if (fd < 0 && errno == ENOENT)
        return 0;
    if (fd < 0) {
        snprintf(err, errlen, "cannot read %s: %s", marker, strerror(errno));
        return -1;
    }
    n = read(fd, text, sizeof(text));
    if (n < 0)
        snprintf(err, errlen, "cannot read %s: %s", marker, strerror(errno));
    close(fd);
    if (n < 0)
        return -1;
    while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == '\r' || text[n - 1] == ' '))
        n--;
    if (n == 0 || (size_t)n > MARKER_MAX || memchr(text, '\0', (size_t)n) ||
        memchr(text, '\n', (size_t)n)) {
        snprintf(err, errlen, "%s is damaged: it should hold the owner's id on one line", marker);
        return -1;
    }
    snprintf(buf, len, "%.*s", (int)n, text);
    return 1;
}

/* stat(2) of path: 1 and *size when it exists, 0 when it does not, -1 (err
 * set) when it cannot be told. */
static int file_size(const char *path, off_t *size, char *err, size_t errlen)
{
    struct stat st;

    if (stat(path, &st) == 0) {
        *size = st.st_size;
        return 1;
    }
    if (errno == ENOENT)
        return 0;
    snprintf(err, errlen, "cannot stat %s: %s", path, strerror(errno));
    return -1;
}

int sqlstore_preflight(const char *path, const char *marker, const char *owner, bool *marked,
                       char *err, size_t errlen)
{
    char who[MARKER_MAX + 1], wal[4096];
    off_t size = 0, wal_size = 0;
    int m = read_marker(marker, who, sizeof(who), err, errlen), db, w;

    if (m < 0)
        return -1;
    if (m == 1 && strcmp(who, owner) != 0) {
        snprintf(err, errlen, "%s says this data dir belongs to %s, not %s", marker, who, owner);
        return -1;
    }
    if ((size_t)snprintf(wal, sizeof(wal), "%s-wal", path) >= sizeof(wal)) {
        snprintf(err, errlen, "path too long: %s", path);
        return -1;
    }
    if ((db = file_size(path, &size, err, errlen)) < 0 ||
        (w = file_size(wal, &wal_size, err, errlen)) < 0)
        return -1;
    if (db == 0 && w == 1) {
        snprintf(err, errlen,
                 "database %s is missing but its write-ahead log %s is there: the data was lost "
                 "or moved; put the database back (or move the data dir away to start anew)",
                 path, wal);
        return -1;
    }
    if (db == 0 && m == 1) {
        snprintf(err, errlen,
                 "database %s is missing, but %s says %s used this data dir: put the database "
                 "back (or remove %s to start anew)",
                 path, marker, who, marker);
        return -1;
    }
    if (db == 1 && size == 0) {
        snprintf(err, errlen,
                 "database %s is empty (0 bytes): it was truncated or never written; put it back "
                 "(or remove it%s to start empty)",
                 path, m == 1 ? " and the marker" : "");
        return -1;
    }
    *marked = m == 1;
    return 0;
}

int sqlstore_mark(const char *marker, const char *owner, char *err, size_t errlen)
{
    char tmp[4096], dir[4096], text[MARKER_MAX + 2];
    int fd, n = snprintf(text, sizeof(text), "%s\n", owner);
    const char *slash = strrchr(marker, '/');
    bool ok;

    if (n < 0 || (size_t)n >= sizeof(text) ||
        (size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", marker) >= sizeof(tmp)) {
        snprintf(err, errlen, "cannot write %s: owner or path too long", marker);
        return -1;
    }
    /* Its directory: the part before the last '/' ("/" for a file at the
     * root, "." without one). */
    if (!slash)
        snprintf(dir, sizeof(dir), ".");
    else
        snprintf(dir, sizeof(dir), "%.*s", slash == marker ? 1 : (int)(slash - marker), marker);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    ok = fd >= 0 && write(fd, text, (size_t)n) == n && fsync(fd) == 0;
    if (fd >= 0 && close(fd) != 0)
        ok = false;
    ok = ok && rename(tmp, marker) == 0;
    if (ok) {
        /* The rename is durable once the directory is. */
        int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

        ok = dfd >= 0 && fsync(dfd) == 0;
        if (dfd >= 0)
            close(dfd);
    }
    if (!ok) {
        snprintf(err, errlen, "cannot write %s: %s", marker, strerror(errno));
        unlink(tmp);
        return -1;
    }
    return 0;
}

/* PRAGMA quick_check: 0 when it says "ok", else -1 with its first findings
 * on one line (or SQLite's error when the file cannot even be read as a
 * database). */
static int quick_check(sqlite3 *h, const char *path, char *err, size_t errlen)
{
    static const char header[] = "*** in database main ***";
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(h, "PRAGMA quick_check(3)", -1, &st, NULL);
    const char *first;
    char said[512];

    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    first = rc == SQLITE_ROW ? (const char *)sqlite3_column_text(st, 0) : NULL;
    if (first && strcmp(first, "ok") == 0) {
        sqlite3_finalize(st);
        return 0;
    }
    if (first) {
        /* One finding per line after a header: one line of them here. */
        if (strncmp(first, header, sizeof(header) - 1) == 0)
            first += sizeof(header) - 1;
        first += strspn(first, "\n ");
        size_t k = 0;
        for (const char *p = first; *p && k + 3 < sizeof(said); p++) {
            if (*p == '\n') {
                said[k++] = ';';
                said[k++] = ' ';
            } else if (*p != '\r') {
                said[k++] = *p;
            }
        }
        said[k] = '\0';
        snprintf(err, errlen, "database %s is damaged (quick_check: %s)", path, said);
    } else if (rc == SQLITE_CORRUPT || rc == SQLITE_NOTADB)
        snprintf(err, errlen, "database %s is damaged (%s)", path, sqlite3_errmsg(h));
    else
        snprintf(err, errlen, "cannot check database %s: %s", path, sqlite3_errmsg(h));
    sqlite3_finalize(st);
    return -1;
}

/* The test hook's limit (see sqlstore_open), applied before a transaction.
 * The file is tiny and only read when a test set the variable. */
static void apply_page_limit(sqlstore *s)
{
    char text[32] = "", sql[64];
    FILE *f = fopen(s->limit_file, "re");
    long long n = 0;

    if (f) {
        if (fgets(text, sizeof(text), f))
            n = strtoll(text, NULL, 10);
        fclose(f);
    }
    snprintf(sql, sizeof(sql), "PRAGMA max_page_count=%lld",
             n > 0 ? n : (long long)s->default_max_pages);
    sqlite3_exec(s->h, sql, NULL, NULL, NULL);
}

/* The WAL's own descriptor (SQLSTORE_SYNC_DEFERRED). The schema has run,
 * so SQLite has created the WAL; it keeps that file (and inode) while the
 * connection is open. Its directory entry is made durable once, as FULL
 * does at the WAL's first sync. */
static int open_wal(sqlstore *s, const char *path, char *err, size_t errlen)
{
    char wal[4096], dir[4096];
    const char *slash = strrchr(path, '/');
    int dfd;

    if ((size_t)snprintf(wal, sizeof(wal), "%s-wal", path) >= sizeof(wal)) {
        snprintf(err, errlen, "path too long: %s", path);
        return -1;
    }
    s->wal_fd = open(wal, O_RDWR | O_CLOEXEC);
    if (s->wal_fd < 0) {
        snprintf(err, errlen, "cannot open %s: %s", wal, strerror(errno));
        return -1;
    }
    s->has_wal_fd = true;
    if (!slash)
        snprintf(dir, sizeof(dir), ".");
    else
        snprintf(dir, sizeof(dir), "%.*s", slash == path ? 1 : (int)(slash - path), path);
    dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0 || fsync(dfd) != 0 || fdatasync(s->wal_fd) != 0) {
        snprintf(err, errlen, "cannot sync %s: %s", wal, strerror(errno));
        if (dfd >= 0)
            close(dfd);
        return -1;
    }
    close(dfd);
    return 0;
}

int sqlstore_sync_wal(sqlstore *s)
{
    return !s->has_wal_fd || fdatasync(s->wal_fd) == 0 ? 0 : -1;
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
    /* Before anything writes: a damaged file is refused as it is. */
    if (quick_check(s->h, path, err, errlen) < 0)
        goto fail;
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
    if (sync == SQLSTORE_SYNC_DEFERRED && open_wal(s, path, err, errlen) < 0)
        goto fail;
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
    const char *limit = getenv("ERGRID_TEST_PAGE_LIMIT_FILE");
    if (limit && *limit) {
        s->default_max_pages = sqlstore_query_int(s, "PRAGMA max_page_count", 0);
        s->limit_file = strdup(limit);
        if (!s->limit_file || s->default_max_pages <= 0) {
            snprintf(err, errlen, "cannot set up ERGRID_TEST_PAGE_LIMIT_FILE");
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
    free(s->limit_file);
    sqlite3_close(s->h);
    if (s->has_wal_fd)
        close(s->wal_fd);
    memset(s, 0, sizeof(*s));
}

int sqlstore_begin(sqlstore *s)
{
    if (s->limit_file)
        apply_page_limit(s);
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

bool sqlstore_error(const sqlstore *s, char *buf, size_t len)
{
    static const struct {
        int code;
        const char *name;
    } names[] = {
        {SQLITE_FULL, "SQLITE_FULL"},         {SQLITE_IOERR, "SQLITE_IOERR"},
        {SQLITE_CORRUPT, "SQLITE_CORRUPT"},   {SQLITE_READONLY, "SQLITE_READONLY"},
        {SQLITE_CANTOPEN, "SQLITE_CANTOPEN"}, {SQLITE_NOMEM, "SQLITE_NOMEM"},
        {SQLITE_BUSY, "SQLITE_BUSY"},         {SQLITE_NOTADB, "SQLITE_NOTADB"},
    };
    int code = sqlite3_extended_errcode(s->h);
    const char *name = NULL;

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if ((code & 0xff) == names[i].code)
            name = names[i].name;
    if (code == SQLITE_OK || code == SQLITE_ROW || code == SQLITE_DONE) {
        snprintf(buf, len, "no SQLite error");
        return false;
    }
    if (name)
        snprintf(buf, len, "%s (%s)", sqlite3_errmsg(s->h), name);
    else
        snprintf(buf, len, "%s (SQLite code %d)", sqlite3_errmsg(s->h), code);
    return true;
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

sqlite3_int64 sqlstore_pages_written(sqlstore *s)
{
    int cur = 0, hi = 0;

    if (sqlite3_db_status(s->h, SQLITE_DBSTATUS_CACHE_WRITE, &cur, &hi, 0) != SQLITE_OK)
        return 0;
    return cur;
}
