/* etcd 3.4 as a peer of the benchmark (etcd_peer.c). */
#ifndef ERGRID_BENCH_ETCD_PEER_H
#define ERGRID_BENCH_ETCD_PEER_H

#include "../bench.h"

/* ---- etcd 3.4 (etcd.c) ---- */
typedef struct etcd_peer etcd_peer;
/* Starts `members` members through tests/etcd/start.sh. */
etcd_peer *etcd_peer_start(unsigned members);
const char *etcd_peer_describe(const etcd_peer *p);
/* The members' client URLs, comma-separated (what a broker's --etcd takes). */
const char *etcd_peer_urls(const etcd_peer *p);
/* CPU time (user + system) its members used so far, in seconds (member.sh
 * keeps their pids in the cluster's dir); -1 when one is unknown. */
double etcd_peer_cpu_s(const etcd_peer *p);
/* The cluster's revision now (it grows by one per txn that writes); -1 on
 * error. */
long long etcd_peer_revision(const etcd_peer *p);
/* The FCFS decisions: a txn per submission, create_revision(key) == 0 ->
 * put the result, else range the key (the loser learns the winner). */
int etcd_decide_trial(etcd_peer *p, unsigned threads, long njobs, unsigned trial, race_stats *out);
/* Submission with assignment: one txn per job, compare the unit's slot key
 * is free, put the job and the assignment. */
int etcd_submit_trial(etcd_peer *p, unsigned threads, long njobs, long units, unsigned trial,
                      race_stats *out);
void etcd_peer_stop(etcd_peer *p);

#endif
