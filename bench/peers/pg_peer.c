/* PostgreSQL 15 as a peer: started by postgres.sh (fsync=on,
 * synchronous_commit=on, defaults otherwise), driven over libpq on TCP
 * 127.0.0.1 like the HTTP peers, one connection per client thread. Each
 * submission is one autocommitted statement on a fresh table per trial:
 *   INSERT INTO t(job_id, unit_id, attempt, outcome, data) VALUES ($1..$5)
 *   ON CONFLICT (job_id) DO NOTHING RETURNING job_id
 * A returned row is the winner; no row means another submission was first.
 * PostgreSQL's loser learns only that it lost (the broker's 409 also carries
 * the winner, and an exact retry gets 200): the peer's work per submission
 * is the smaller one. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pg_peer.h"
#include "peer_util.h"

#if BENCH_HAVE_LIBPQ

#include <libpq-fe.h>

struct pg_peer {
    char dir[512];
    char conninfo[256];
    char describe[1024];
};

struct pg_trial_arg {
    pg_peer *p;
    char table[32];
};

/* Runs one statement on a short-lived connection; the first value of the
 * first row goes to val (may be NULL). */
static int pg_admin(const pg_peer *p, const char *sql, char *val, size_t cap)
{
    PGconn *c = PQconnectdb(p->conninfo);
    int rc = -1;
    if (PQstatus(c) != CONNECTION_OK) {
        bench_fail("PostgreSQL: cannot connect: %s", PQerrorMessage(c));
        PQfinish(c);
        return -1;
    }
    PGresult *r = PQexec(c, sql);
    ExecStatusType st = PQresultStatus(r);
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
        if (val && cap)
            snprintf(val, cap, "%s",
                     st == PGRES_TUPLES_OK && PQntuples(r) ? PQgetvalue(r, 0, 0) : "");
        rc = 0;
    } else {
        bench_fail("PostgreSQL: %s: %s", sql, PQresultErrorMessage(r));
    }
    PQclear(r);
    PQfinish(c);
    return rc;
}

pg_peer *pg_peer_start(void)
{
    char pid[32], out[4096], port[16], v[64];
    snprintf(pid, sizeof(pid), "%d", (int)getpid());
    const char *argv[] = {peer_source_path("bench/peers/postgres.sh"), "start", "-o", pid, NULL};
    int st = peer_script(argv, out, sizeof(out));
    pg_peer *p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    if (st != 0 || !peer_value(out, "PG_DIR", p->dir, sizeof(p->dir)) ||
        !peer_value(out, "PG_PORT", port, sizeof(port))) {
        bench_fail("PostgreSQL did not start (postgres.sh exited %d; scripts/bench.sh --peers "
                   "installs postgresql-15)",
                   st);
        free(p);
        return NULL;
    }
    snprintf(p->conninfo, sizeof(p->conninfo),
             "host=127.0.0.1 port=%s user=bench dbname=postgres connect_timeout=10", port);
    char sync[32] = "", fsync[32] = "", method[32] = "", fpw[32] = "";
    if (pg_admin(p, "SHOW server_version", v, sizeof(v)) < 0 ||
        pg_admin(p, "SHOW synchronous_commit", sync, sizeof(sync)) < 0 ||
        pg_admin(p, "SHOW fsync", fsync, sizeof(fsync)) < 0 ||
        pg_admin(p, "SHOW wal_sync_method", method, sizeof(method)) < 0 ||
        pg_admin(p, "SHOW full_page_writes", fpw, sizeof(fpw)) < 0) {
        pg_peer_stop(p);
        return NULL;
    }
    snprintf(p->describe, sizeof(p->describe),
             "PostgreSQL %s on 127.0.0.1:%s (data %s): synchronous_commit=%s, fsync=%s, "
             "wal_sync_method=%s, full_page_writes=%s",
             v, port, p->dir, sync, fsync, method, fpw);
    return p;
}

const char *pg_peer_describe(const pg_peer *p)
{
    return p->describe;
}

static void *pg_open(void *arg)
{
    struct pg_trial_arg *a = arg;
    PGconn *c = PQconnectdb(a->p->conninfo);
    if (PQstatus(c) != CONNECTION_OK) {
        bench_fail("PostgreSQL: cannot connect: %s", PQerrorMessage(c));
        PQfinish(c);
        return NULL;
    }
    char sql[256];
    snprintf(sql, sizeof(sql),
             "INSERT INTO %s(job_id, unit_id, attempt, outcome, data) VALUES ($1, $2, $3, $4, "
             "$5) ON CONFLICT (job_id) DO NOTHING RETURNING job_id",
             a->table);
    PGresult *r = PQprepare(c, "decide", sql, 5, NULL);
    bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    if (!ok)
        bench_fail("PostgreSQL: prepare: %s", PQresultErrorMessage(r));
    PQclear(r);
    if (!ok) {
        PQfinish(c);
        return NULL;
    }
    return c;
}

static void pg_close(void *conn)
{
    PQfinish(conn);
}

static int pg_submit(void *conn, void *arg, long j, int k)
{
    (void)arg;
    char job[32], unit[32];
    snprintf(job, sizeof(job), "peer-%06ld", j);
    snprintf(unit, sizeof(unit), "U-%05ld", j / 64);
    const char *values[5] = {job, unit, "1", k == 1 ? "extinguished" : "contained",
                             "{\"crew\":\"bench\"}"};
    PGresult *r = PQexecPrepared(conn, "decide", 5, values, NULL, NULL, 0);
    int o;
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        bench_fail("PostgreSQL: insert %s: %s", job, PQresultErrorMessage(r));
        o = RACE_ERROR;
    } else {
        o = PQntuples(r) == 1 ? RACE_WON : RACE_LOST;
    }
    PQclear(r);
    return o;
}

int pg_trial(pg_peer *p, unsigned threads, long njobs, unsigned trial, race_stats *out)
{
    struct pg_trial_arg a = {.p = p};
    snprintf(a.table, sizeof(a.table), "results_%u", trial);
    char sql[512], count[32];
    snprintf(sql, sizeof(sql),
             "CREATE TABLE %s (job_id text PRIMARY KEY, unit_id text NOT NULL, attempt integer "
             "NOT NULL, outcome text NOT NULL, data jsonb NOT NULL)",
             a.table);
    if (pg_admin(p, sql, NULL, 0) < 0)
        return -1;
    race_target t = {.name = "PostgreSQL",
                     .arg = &a,
                     .decides = true,
                     .open = pg_open,
                     .close = pg_close,
                     .submit = pg_submit};
    int rc = race_run(&t, threads, njobs, out);
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", a.table);
    if (rc == 0 && pg_admin(p, sql, count, sizeof(count)) == 0 && atol(count) != njobs) {
        bench_fail("PostgreSQL: %s rows for %ld jobs", count, njobs);
        rc = -1;
    }
    /* Every trial starts from the same (empty) state. */
    snprintf(sql, sizeof(sql), "DROP TABLE %s", a.table);
    pg_admin(p, sql, NULL, 0);
    return rc;
}

void pg_peer_stop(pg_peer *p)
{
    if (!p)
        return;
    char out[256];
    const char *argv[] = {peer_source_path("bench/peers/postgres.sh"), "stop", p->dir, NULL};
    peer_script(argv, out, sizeof(out));
    free(p);
}

#else /* built without libpq */

struct pg_peer {
    int unused;
};

pg_peer *pg_peer_start(void)
{
    bench_fail("PostgreSQL: this ergrid-bench was built without libpq (apt-get install "
               "libpq-dev, then meson setup --reconfigure; scripts/bench.sh --peers does both)");
    return NULL;
}

const char *pg_peer_describe(const pg_peer *p)
{
    (void)p;
    return "PostgreSQL: not built";
}

int pg_trial(pg_peer *p, unsigned threads, long njobs, unsigned trial, race_stats *out)
{
    (void)p;
    (void)threads;
    (void)njobs;
    (void)trial;
    (void)out;
    return -1;
}

void pg_peer_stop(pg_peer *p)
{
    (void)p;
}

#endif
