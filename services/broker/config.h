/* The broker's configuration and its command line (DESIGN.md §5). */
#ifndef BROKER_CONFIG_H
#define BROKER_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "bounds.h"
#include "plans.h"
#include "security.h"
#include "store.h"
#include "util.h"

/* Where the district's records live (--store). */
typedef enum broker_store_kind {
    BROKER_STORE_SQLITE = 0, /* broker.db in --data-dir: one broker per district */
    BROKER_STORE_ETCD,       /* etcd (--etcd): standby brokers, one elected leader */
} broker_store_kind;

/* "sqlite" or "etcd": the name the command line, health and metrics use. */
static inline const char *broker_store_name(broker_store_kind k)
{
    return k == BROKER_STORE_ETCD ? "etcd" : "sqlite";
}

#define BROKER_ETCD_LIST_MAX 2048 /* --etcd: the member URLs, comma-separated */
#define BROKER_ETCD_MAX_URLS 16   /* what the etcd client takes (etcd.h) */

typedef struct broker_config {
    char id[COORD_ID_MAX + 1];
    char host[64];
    uint16_t port;
    char data_dir[1024];
    char coordinator[BROKER_URL_MAX];
    size_t npeers;
    char peer_id[BROKER_MAX_PEERS][COORD_ID_MAX + 1];
    char peer_url[BROKER_MAX_PEERS][BROKER_URL_MAX]; /* "url[,url...]", origins (peertab.h) */
    uint64_t failure_timeout_ms;
    uint64_t sync_interval_ms;
    uint64_t emergency_sync_interval_ms;
    uint64_t max_fix_age_ms; /* --max-fix-age: older fixes rank by station (rank.h) */
    unsigned threads;
    uint64_t stream_heartbeat_ms; /* --stream-heartbeat (api/sse.h) */
    unsigned max_streams;         /* --max-streams */
    char advertise_url[BROKER_URL_MAX];
    store_durability durability; /* --durability normal|full */
    broker_store_kind store;     /* --store sqlite|etcd */
    char etcd[BROKER_ETCD_LIST_MAX]; /* --etcd URL[,URL...] (etcd only) */
    uint64_t leader_lease_ms;    /* --leader-lease: the election's lease, whole seconds */
    plan_book plans;             /* --response-plans FILE, read and checked at start */
    api_security sec;            /* --tokens, --token-file, TLS (security.h) */
} broker_config;

/* The defaults of every optional flag. */
void broker_config_defaults(broker_config *cfg);
/* Parses argv. Returns 0 on success, 1 after printing --help, 2 on a bad
 * command line (message written to err). */
int broker_parse_args(int argc, char **argv, broker_config *cfg, char *err, size_t errlen);

#endif
