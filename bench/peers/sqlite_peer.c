/* Raw SQLite as a reference (information only): the same decisions as
 * autocommitted INSERT ... ON CONFLICT (job_id) DO NOTHING statements in
 * this process, on one connection behind a mutex (what a broker does with
 * its store), WAL mode, synchronous=NORMAL (a commit is in the WAL file
 * before it returns; kill -9 loses nothing, power loss may) or FULL (the WAL
 * is fsynced at every commit). No network and no JSON: how far below the
 * storage engine's own rate each service runs. A fresh database file per
 * trial, under the benchmark's temporary root. */
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "sqlite_peer.h"
#include "peer_util.h"

struct lite {
    sqlite3 *db;
    sqlite3_stmt *ins;
    pthread_mutex_t mu;
};

static void *lite_open(void *arg)
{
    return arg; /* one shared connection */
}

static void lite_close(void *conn)
{
    (void)conn;
}

static int lite_submit(void *conn, void *arg, long j, int k)
{
    (void)arg;
    struct lite *l = conn;
    char job[32], unit[32];
    snprintf(job, sizeof(job), "peer-%06ld", j);
    snprintf(unit, sizeof(unit), "U-%05ld", j / 64);
    int o;
    pthread_mutex_lock(&l->mu);
    sqlite3_bind_text(l->ins, 1, job, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(l->ins, 2, unit, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(l->ins, 3, 1);
    sqlite3_bind_text(l->ins, 4, k == 1 ? "extinguished" : "contained", -1, SQLITE_STATIC);
    sqlite3_bind_text(l->ins, 5, "{\"crew\":\"bench\"}", -1, SQLITE_STATIC);
    int rc = sqlite3_step(l->ins);
    if (rc == SQLITE_DONE) {
        o = sqlite3_changes(l->db) == 1 ? RACE_WON : RACE_LOST;
    } else {
        bench_fail("SQLite: insert %s: %s", job, sqlite3_errmsg(l->db));
        o = RACE_ERROR;
    }
    sqlite3_reset(l->ins);
    pthread_mutex_unlock(&l->mu);
    return o;
}

static int lite_exec(struct lite *l, const char *sql)
{
    char *err = NULL;
    if (sqlite3_exec(l->db, sql, NULL, NULL, &err) != SQLITE_OK) {
        bench_fail("SQLite: %s: %s", sql, err ? err : sqlite3_errmsg(l->db));
        sqlite3_free(err);
        return -1;
    }
    return 0;
}

int sqlite_trial(bool full, unsigned threads, long njobs, unsigned trial, race_stats *out)
{
    char path[600];
    snprintf(path, sizeof(path), "%s/sqlite-%u-%s.db", tmp_root(), trial, full ? "full" : "normal");
    struct lite l = {0};
    int rc = -1;
    pthread_mutex_init(&l.mu, NULL);
    if (sqlite3_open(path, &l.db) != SQLITE_OK) {
        bench_fail("SQLite: cannot open %s", path);
        goto out;
    }
    if (lite_exec(&l, "PRAGMA journal_mode=WAL") < 0 ||
        lite_exec(&l, full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL") < 0 ||
        lite_exec(&l, "CREATE TABLE results (job_id TEXT PRIMARY KEY, unit_id TEXT NOT NULL, "
                      "attempt INTEGER NOT NULL, outcome TEXT NOT NULL, data TEXT NOT NULL)") < 0)
        goto out;
    if (sqlite3_prepare_v2(l.db,
                           "INSERT INTO results(job_id, unit_id, attempt, outcome, data) "
                           "VALUES (?, ?, ?, ?, ?) ON CONFLICT (job_id) DO NOTHING",
                           -1, &l.ins, NULL) != SQLITE_OK) {
        bench_fail("SQLite: prepare: %s", sqlite3_errmsg(l.db));
        goto out;
    }
    race_target t = {.name = full ? "SQLite FULL" : "SQLite NORMAL",
                     .arg = &l,
                     .decides = true,
                     .open = lite_open,
                     .close = lite_close,
                     .submit = lite_submit};
    rc = race_run(&t, threads, njobs, out);
out:
    sqlite3_finalize(l.ins);
    sqlite3_close(l.db);
    pthread_mutex_destroy(&l.mu);
    char side[640];
    unlink(path);
    snprintf(side, sizeof(side), "%s-wal", path);
    unlink(side);
    snprintf(side, sizeof(side), "%s-shm", path);
    unlink(side);
    return rc;
}
