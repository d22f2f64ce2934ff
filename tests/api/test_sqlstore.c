/* The SQLite plumbing's start-up checks (api/sqlstore.c): which data dirs
 * sqlstore_preflight lets through and what it says about the others, the
 * marker, the integrity check at open, and the page-limit test hook that
 * makes SQLite itself answer SQLITE_FULL, and the synchronous level each
 * durability opens its connection with. Files in a fresh temporary dir per
 * test. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check_main.h"
#include "sqlstore.h"

static char dir[64], db[128], wal[128], marker[128];

static void setup(void)
{
    snprintf(dir, sizeof(dir), "/tmp/ergrid-sqlstore-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(db, sizeof(db), "%s/x.db", dir);
    snprintf(wal, sizeof(wal), "%s/x.db-wal", dir);
    snprintf(marker, sizeof(marker), "%s/x.id", dir);
}

static void teardown(void)
{
    const char *names[] = {"x.db", "x.db-wal", "x.db-shm", "x.id", "x.id.tmp", "limit"};
    char p[160];

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        snprintf(p, sizeof(p), "%s/%s", dir, names[i]);
        unlink(p);
    }
    rmdir(dir);
}

static void write_file(const char *path, const char *text, size_t n)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, text, n), (ssize_t)n);
    close(fd);
}

static const char *const no_stmts[] = {NULL};
static const char schema[] = "CREATE TABLE IF NOT EXISTS t(x BLOB);";

/* Preflight, and on success an open: 0 or -1 with the message in err. */
static int start(const char *owner, bool *marked, char *err, size_t len)
{
    sqlstore s;

    if (sqlstore_preflight(db, marker, owner, marked, err, len) < 0)
        return -1;
    if (sqlstore_open(&s, db, SQLSTORE_SYNC_NORMAL, schema, no_stmts, 0, err, len) < 0)
        return -1;
    sqlstore_close(&s);
    return 0;
}

START_TEST(test_new_then_marked)
{
    char err[512] = "", buf[64];
    bool marked = true;

    ck_assert_int_eq(start("Downtown", &marked, err, sizeof(err)), 0);
    ck_assert(!marked);
    ck_assert_int_eq(sqlstore_mark(marker, "Downtown", err, sizeof(err)), 0);
    FILE *f = fopen(marker, "r");
    ck_assert_ptr_nonnull(f);
    ck_assert_ptr_nonnull(fgets(buf, sizeof(buf), f));
    fclose(f);
    ck_assert_str_eq(buf, "Downtown\n");
    char tmp[160];
    snprintf(tmp, sizeof(tmp), "%s.tmp", marker);
    ck_assert_int_eq(access(tmp, F_OK), -1);
    ck_assert_int_eq(start("Downtown", &marked, err, sizeof(err)), 0);
    ck_assert(marked);
}
END_TEST

START_TEST(test_refusals)
{
    char err[1024];
    bool marked = false;

    /* Another owner's marker. */
    write_file(marker, "Westside\n", 9);
    ck_assert_int_eq(sqlstore_preflight(db, marker, "Downtown", &marked, err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "belongs to Westside, not Downtown"));
    /* A marker that is not one. */
    write_file(marker, "a\nb\n", 4);
    ck_assert_int_eq(sqlstore_preflight(db, marker, "Downtown", &marked, err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "is damaged"));
    write_file(marker, "", 0);
    ck_assert_int_eq(sqlstore_preflight(db, marker, "Downtown", &marked, err, sizeof(err)), -1);
    /* The marker without the database. */
    write_file(marker, "Downtown\n", 9);
    ck_assert_int_eq(sqlstore_preflight(db, marker, "Downtown", &marked, err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "is missing, but"));
    ck_assert_ptr_nonnull(strstr(err, db));
    unlink(marker);
    /* A WAL without its database, with or without a marker. */
    write_file(wal, "wal", 3);
    ck_assert_int_eq(sqlstore_preflight(db, marker, "Downtown", &marked, err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "write-ahead log"));
    unlink(wal);
    /* An empty database. */
    write_file(db, "", 0);
    ck_assert_int_eq(sqlstore_preflight(db, marker, "Downtown", &marked, err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "is empty (0 bytes)"));
    ck_assert_ptr_null(strchr(err, '\n'));
}
END_TEST

START_TEST(test_damaged_refused_at_open)
{
    char err[1024], page[4096];
    bool marked;
    sqlstore s;

    ck_assert_int_eq(
        sqlstore_open(&s, db, SQLSTORE_SYNC_NORMAL, schema, no_stmts, 0, err, sizeof(err)), 0);
    for (int i = 0; i < 200; i++)
        ck_assert_int_eq(
            sqlite3_exec(s.h, "INSERT INTO t VALUES(randomblob(3000))", NULL, NULL, NULL),
            SQLITE_OK);
    sqlstore_close(&s); /* checkpoints: the rows are in x.db now */
    memset(page, 0x5a, sizeof(page));
    int fd = open(db, O_WRONLY);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(pwrite(fd, page, sizeof(page), 4096 * 3), (ssize_t)sizeof(page));
    close(fd);
    ck_assert_int_eq(start("Downtown", &marked, err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "is damaged (quick_check: "));
    ck_assert_ptr_null(strchr(err, '\n'));

    /* Not a database at all. */
    write_file(db, "hello, this is not SQLite", 25);
    ck_assert_int_eq(start("Downtown", &marked, err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "is damaged"));
}
END_TEST

START_TEST(test_page_limit_hook)
{
    char err[512], why[256], limit[160];
    sqlstore s;
    int rc = 0;

    snprintf(limit, sizeof(limit), "%s/limit", dir);
    setenv("ERGRID_TEST_PAGE_LIMIT_FILE", limit, 1);
    ck_assert_int_eq(
        sqlstore_open(&s, db, SQLSTORE_SYNC_NORMAL, schema, no_stmts, 0, err, sizeof(err)), 0);
    unsetenv("ERGRID_TEST_PAGE_LIMIT_FILE");
    write_file(limit, "1\n", 2);
    /* The database may not grow: a transaction needing pages fails. */
    for (int i = 0; i < 10 && rc == 0; i++) {
        ck_assert_int_eq(sqlstore_begin(&s), 0);
        rc = sqlite3_exec(s.h, "INSERT INTO t VALUES(randomblob(8000))", NULL, NULL, NULL);
        if (rc == SQLITE_OK)
            ck_assert_int_eq(sqlstore_commit(&s), 0);
        else
            sqlstore_rollback(&s);
    }
    ck_assert_int_eq(rc, SQLITE_FULL);
    ck_assert(sqlstore_error(&s, why, sizeof(why)));
    ck_assert_ptr_nonnull(strstr(why, "SQLITE_FULL"));
    /* Room again once the file is gone. */
    unlink(limit);
    ck_assert_int_eq(sqlstore_begin(&s), 0);
    ck_assert_int_eq(sqlite3_exec(s.h, "INSERT INTO t VALUES(randomblob(80000))", NULL, NULL, NULL),
                     SQLITE_OK);
    ck_assert_int_eq(sqlstore_commit(&s), 0);
    sqlstore_close(&s);
}
END_TEST

static int pragma_int(sqlite3 *h, const char *sql)
{
    sqlite3_stmt *st;
    int v;

    ck_assert_int_eq(sqlite3_prepare_v2(h, sql, -1, &st, NULL), SQLITE_OK);
    ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
    v = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return v;
}

/* synchronous is per connection, not stored in the file: each open sets it
 * again, so the same database opened FULL then NORMAL reads 2 then 1 (the
 * broker's --durability depends on this); DEFERRED is NORMAL plus the
 * caller's fsync of the WAL. */
START_TEST(test_sync_level_per_open)
{
    const struct {
        sqlstore_sync sync;
        int want;
    } cases[] = {{SQLSTORE_SYNC_FULL, 2},
                 {SQLSTORE_SYNC_NORMAL, 1},
                 {SQLSTORE_SYNC_FULL, 2},
                 /* the fsync is the caller's: sqlstore_sync_wal */
                 {SQLSTORE_SYNC_DEFERRED, 1}};
    char err[512];
    sqlstore s;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ck_assert_int_eq(
            sqlstore_open(&s, db, cases[i].sync, schema, no_stmts, 0, err, sizeof(err)), 0);
        ck_assert_int_eq(pragma_int(s.h, "PRAGMA synchronous"), cases[i].want);
        /* WAL either way: a commit is in the log before COMMIT returns,
         * which is what survives kill -9 in both modes. */
        {
            sqlite3_stmt *st;
            ck_assert_int_eq(sqlite3_prepare_v2(s.h, "PRAGMA journal_mode", -1, &st, NULL),
                             SQLITE_OK);
            ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
            ck_assert_str_eq((const char *)sqlite3_column_text(st, 0), "wal");
            sqlite3_finalize(st);
        }
        ck_assert_int_eq(sqlstore_begin(&s), 0);
        ck_assert_int_eq(sqlite3_exec(s.h, "INSERT INTO t VALUES(x'01')", NULL, NULL, NULL),
                         SQLITE_OK);
        ck_assert_int_eq(sqlstore_commit(&s), 0);
        ck_assert_int_eq(sqlstore_sync_wal(&s), 0);
        ck_assert(s.has_wal_fd == (cases[i].sync == SQLSTORE_SYNC_DEFERRED));
        ck_assert_int_eq(pragma_int(s.h, "SELECT count(*) FROM t"), (int)i + 1);
        sqlstore_close(&s);
    }
}
END_TEST

Suite *api_suite(void)
{
    Suite *s = suite_create("api_sqlstore");
    TCase *tc = tcase_create("sqlstore");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_new_then_marked);
    tcase_add_test(tc, test_refusals);
    tcase_add_test(tc, test_damaged_refused_at_open);
    tcase_add_test(tc, test_page_limit_hook);
    tcase_add_test(tc, test_sync_level_per_open);
    suite_add_tcase(s, tc);
    return s;
}
