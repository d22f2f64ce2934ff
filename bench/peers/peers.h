/* The other systems of the peers benchmark, each started on 127.0.0.1 with
 * free ports and a temporary data dir, and each able to run one trial of
 * the workload of race.c (or, for etcd, of the submission benchmark):
 *   pg.c      PostgreSQL 15 over libpq, one connection per client thread;
 *   etcd.c    etcd 3.4 over its JSON gateway with the bench's libcurl client;
 *   sqlite.c  raw SQLite WAL commits in this process (information only);
 *   peers.c   the driver (rounds, interleaving, medians, the ratio table),
 *             the client of the HTTP ceiling (bench/ceiling.c), and the
 *             helpers below for the start/stop scripts. */
#ifndef ERGRID_BENCH_PEERS_H
#define ERGRID_BENCH_PEERS_H

#include <stdbool.h>
#include <stddef.h>

#include "../bench.h"

/* Runs argv (argv[0] a path; NULL-terminated) with stdout captured into out
 * (at most cap - 1 bytes, NUL-terminated) and stderr passed through. Returns
 * the exit status, -1 when it could not run. */
int peer_script(const char *const *argv, char *out, size_t cap);
/* The value of a KEY=VALUE line of a script's output, or NULL. */
const char *peer_value(const char *out, const char *key, char *val, size_t cap);
/* <source root>/rel: where the scripts live. */
const char *peer_source_path(const char *rel);

/* Standard base64 of n bytes into out (cap >= 4 * ceil(n / 3) + 1); -1 when
 * it does not fit. */
int peer_b64(const void *in, size_t n, char *out, size_t cap);

/* ---- PostgreSQL 15 (pg.c) ---- */
typedef struct pg_peer pg_peer;
/* Starts it through bench/peers/postgres.sh; NULL after bench_fail (also
 * when the bench was built without libpq). */
pg_peer *pg_peer_start(void);
/* The server's version and durability settings, as it reports them. */
const char *pg_peer_describe(const pg_peer *p);
/* One trial on a fresh table; trial numbers name the table. */
int pg_trial(pg_peer *p, unsigned threads, long njobs, unsigned trial, race_stats *out);
void pg_peer_stop(pg_peer *p);

/* ---- etcd 3.4 (etcd.c) ---- */
typedef struct etcd_peer etcd_peer;
/* Starts `members` members through tests/etcd/start.sh. */
etcd_peer *etcd_peer_start(unsigned members);
const char *etcd_peer_describe(const etcd_peer *p);
/* The FCFS decisions: a txn per submission, create_revision(key) == 0 ->
 * put the result, else range the key (the loser learns the winner). */
int etcd_decide_trial(etcd_peer *p, unsigned threads, long njobs, unsigned trial, race_stats *out);
/* Submission with assignment: one txn per job, compare the unit's slot key
 * is free, put the job and the assignment. */
int etcd_submit_trial(etcd_peer *p, unsigned threads, long njobs, long units, unsigned trial,
                      race_stats *out);
void etcd_peer_stop(etcd_peer *p);

/* ---- SQLite, in process (sqlite.c) ---- */
/* WAL, synchronous=NORMAL (full false) or FULL, one shared connection
 * behind a mutex (a broker's model), a fresh database file per trial. */
int sqlite_trial(bool full, unsigned threads, long njobs, unsigned trial, race_stats *out);

#endif
