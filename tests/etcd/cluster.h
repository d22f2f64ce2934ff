/* Throwaway etcd members for the C test suites that need a real etcd
 * (test_api_etcd, test_store_etcd): the same start.sh / member.sh /
 * wait.sh / stop.sh that tests/etcd/etcd_cluster.py drives for pytest,
 * called through the shell. ETCD_SCRIPTS (a compile-time string) names
 * tests/etcd. */
#ifndef TESTS_ETCD_CLUSTER_H
#define TESTS_ETCD_CLUSTER_H

#include <stddef.h>

#define ETCD_TEST_MAX_MEMBERS 5

typedef struct etcd_test_cluster {
    char dir[256];
    char urls_list[1024]; /* "http://127.0.0.1:P1,..." as --etcd takes it */
    char *urls[ETCD_TEST_MAX_MEMBERS];
    size_t n;
} etcd_test_cluster;

/* True, having said why, when no etcd binary is on PATH: the suite then
 * exits 77 (meson's "skipped"). */
int etcd_test_skip(void);
/* Starts members (1..5) and waits until they are healthy; a janitor stops
 * them if this process dies first. 0 or -1. */
int etcd_test_cluster_start(etcd_test_cluster *cl, int members);
/* The same for a suite's fixture: a cluster that cannot start ends the
 * runner (nothing of the suite could run). */
void etcd_test_cluster_start_or_exit(etcd_test_cluster *cl, int members);
/* Kills every member and removes the directory; cl is zeroed. */
void etcd_test_cluster_stop(etcd_test_cluster *cl);
/* member.sh's action (kill, term, stop, cont, start) on member i: the
 * script's exit status. */
int etcd_test_member(etcd_test_cluster *cl, int i, const char *action);
/* Waits (at most 30 s) until the cluster answers healthy: wait.sh's status. */
int etcd_test_cluster_wait_healthy(etcd_test_cluster *cl);

#endif
