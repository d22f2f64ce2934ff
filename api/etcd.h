/* etcd v3 client over etcd 3.4's JSON gateway (libcurl + jansson), and the
 * leader election with fencing that standby brokers build on (etcd_elect.c).
 * The public types are plain C: keys are NUL-terminated strings, values are
 * bytes with a length, int64 fields are int64_t; no json_t crosses this
 * header.
 *
 * Endpoints and failover: a client holds several member URLs and sends each
 * call to the member that answered last. A connection failure, a timeout, or
 * a reply meaning "this member cannot serve now" (no leader, request timed
 * out, gRPC UNAVAILABLE) moves it to the next member, until every member was
 * tried or the call's deadline (timeout_ms) passed.
 *
 * Ambiguous writes: a write whose reply was lost (a timeout after the request
 * was sent) may have been applied. The failover then sends it again, so a
 * write must be safe to apply twice, or be a txn whose compare makes a second
 * application fail visibly (the election's campaign and fenced txns are).
 *
 * Thread-safety: a client may be shared by threads; its calls are serialized
 * by a mutex inside it (one request in flight per client). Give each thread
 * that needs parallel requests its own client. An etcd_election runs its own
 * thread with its own clients and may be called from any thread. */
#ifndef API_ETCD_H
#define API_ETCD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum etcd_err {
    ETCD_OK = 0,
    ETCD_E_TRANSPORT,      /* no endpoint could be reached (connection refused, DNS, ...) */
    ETCD_E_UNAVAILABLE,    /* reached, but no member could serve: no quorum or leader,
                            * timed out; a write may or may not have been applied */
    ETCD_E_COMPARE_FAILED, /* a txn's compares were false: the failure ops ran */
    ETCD_E_NOT_FOUND,      /* no such key, or the lease is gone (expired or revoked) */
    ETCD_E_BAD_REPLY,      /* a reply that is not the JSON etcd sends */
    ETCD_E_TOO_LARGE,      /* the reply exceeded max_reply, or etcd refused the request's
                            * size */
    ETCD_E_INVALID,        /* a bad argument, or etcd refused the request as invalid
                            * (e.g. more ops in one txn than --max-txn-ops) */
    ETCD_E_COMPACTED,      /* a read at a revision etcd has compacted away */
    ETCD_E_NOT_LEADER,     /* fenced txn: the leader key is no longer ours; stepped down */
    ETCD_E_NOMEM,
    ETCD_E__COUNT
} etcd_err;

/* A stable snake_case name for each code ("transport", "unavailable", ...). */
const char *etcd_strerror(etcd_err e);

typedef struct etcd_opts {
    long connect_timeout_ms; /* per endpoint; 0: 500 */
    long request_timeout_ms; /* one try at one endpoint; 0: 1000 */
    long timeout_ms;         /* the whole call, over all endpoints; 0: 3000 */
    size_t max_reply;        /* cap on one reply body; 0: 8 MiB */
} etcd_opts;

typedef struct etcd_client etcd_client;

/* urls: n base URLs ("http://127.0.0.1:2379"); copied. NULL on a bad
 * argument (n == 0, n > 16, a URL that is not http:// or https://) or no
 * memory. curl_global_init (http_client_global_init) must have run. */
etcd_client *etcd_new(const char *const *urls, size_t n, const etcd_opts *opts);
/* The same from one comma-separated list, as --etcd takes it. */
etcd_client *etcd_new_list(const char *url_list, const etcd_opts *opts);
void etcd_free(etcd_client *c);
/* Text of the last failure seen by this client (etcd's message or curl's),
 * for logs; valid until the next call on c (so meaningful only where one
 * thread uses c). */
const char *etcd_last_error(const etcd_client *c);
/* The URL of the member calls go to first (the last one that answered);
 * like etcd_last_error, for the thread that uses c. */
const char *etcd_current_endpoint(const etcd_client *c);

typedef struct etcd_kv {
    char *key;   /* NUL-terminated */
    char *value; /* value_len bytes, plus a NUL for convenience */
    size_t value_len;
    int64_t create_revision, mod_revision, version, lease;
} etcd_kv;
void etcd_kv_release(etcd_kv *kv);

typedef struct etcd_range_result {
    etcd_kv *kvs;
    size_t n;
    bool more;        /* etcd has more keys past the limit */
    int64_t count;    /* keys in the whole range (not just this page) */
    int64_t revision; /* the header revision the range was read at */
} etcd_range_result;
void etcd_range_result_release(etcd_range_result *r);

/* One key. ETCD_E_NOT_FOUND when absent. *revision (may be NULL) gets the
 * store's revision. */
etcd_err etcd_get(etcd_client *c, const char *key, etcd_kv *out, int64_t *revision);

/* One page of the keys under prefix, in key order: those after `after`
 * (NULL: from the first), at most limit (0: etcd's default, all), read at
 * revision at_revision (0: the newest; pass the first page's revision to
 * page through one consistent snapshot). */
etcd_err etcd_range_prefix(etcd_client *c, const char *prefix, const char *after, size_t limit,
                           int64_t at_revision, etcd_range_result *out);

/* Every key under prefix, page by page (page keys per request) at the
 * revision of the first page, calling fn for each; fn returning non-zero
 * stops the walk (the call then returns ETCD_OK). *revision (may be NULL)
 * gets the snapshot's revision: a watcher or poller continues from there. */
etcd_err etcd_range_prefix_all(etcd_client *c, const char *prefix, size_t page,
                               int (*fn)(const etcd_kv *kv, void *arg), void *arg,
                               int64_t *revision);

/* Put value (len bytes) at key; lease 0 for none. */
etcd_err etcd_put(etcd_client *c, const char *key, const void *value, size_t len, int64_t lease,
                  int64_t *revision);
/* Delete one key / every key under prefix; *deleted (may be NULL) gets the
 * count (0 is not an error). */
etcd_err etcd_delete(etcd_client *c, const char *key, int64_t *deleted, int64_t *revision);
etcd_err etcd_delete_prefix(etcd_client *c, const char *prefix, int64_t *deleted,
                            int64_t *revision);

/* ---- transactions ---- */

typedef enum etcd_cmp_target {
    ETCD_CMP_VALUE,
    ETCD_CMP_CREATE_REVISION, /* 0 means "the key does not exist" */
    ETCD_CMP_MOD_REVISION,
    ETCD_CMP_VERSION,
    ETCD_CMP_LEASE,
} etcd_cmp_target;

typedef enum etcd_cmp_op { ETCD_EQ, ETCD_NE, ETCD_LT, ETCD_GT } etcd_cmp_op;

typedef struct etcd_cmp {
    const char *key;
    etcd_cmp_target target;
    etcd_cmp_op op;
    int64_t number;    /* revision, version or lease */
    const void *value; /* for ETCD_CMP_VALUE: value_len bytes */
    size_t value_len;
} etcd_cmp;

typedef enum etcd_op_kind { ETCD_OP_PUT, ETCD_OP_DELETE, ETCD_OP_RANGE } etcd_op_kind;

typedef struct etcd_op {
    etcd_op_kind kind;
    const char *key;
    bool prefix;       /* DELETE / RANGE: every key under key */
    const void *value; /* PUT: value_len bytes */
    size_t value_len;
    int64_t lease; /* PUT: 0 for none */
    size_t limit;  /* RANGE: 0 for all */
} etcd_op;

typedef struct etcd_op_result {
    etcd_op_kind kind;
    etcd_range_result range; /* RANGE */
    int64_t deleted;         /* DELETE */
} etcd_op_result;

typedef struct etcd_txn_result {
    bool succeeded;          /* the compares held and the success ops ran */
    int64_t revision;        /* the revision after the txn (its own, if it wrote) */
    etcd_op_result *results; /* one per op of the branch that ran */
    size_t n;
} etcd_txn_result;
void etcd_txn_result_release(etcd_txn_result *r);

/* If every compare holds, apply the success ops, else the failure ops; one
 * atomic step. Returns ETCD_OK when the compares held and
 * ETCD_E_COMPARE_FAILED when they did not; out (may be NULL) is filled in
 * both cases (the failure branch's results are how a caller learns what it
 * lost to). etcd refuses more than --max-txn-ops (128 by default) ops per
 * branch and requests over --max-request-bytes (1.5 MiB). */
etcd_err etcd_txn(etcd_client *c, const etcd_cmp *cmps, size_t ncmp, const etcd_op *success,
                  size_t nsuccess, const etcd_op *failure, size_t nfailure, etcd_txn_result *out);

/* ---- leases ---- */

/* A lease of ttl_s seconds (etcd raises it to its minimum, about 2 s with
 * default timing); *ttl_granted (may be NULL) gets what etcd granted. */
etcd_err etcd_lease_grant(etcd_client *c, int64_t ttl_s, int64_t *id, int64_t *ttl_granted);
/* One keep-alive (one message on the gateway's keepalive stream).
 * ETCD_E_NOT_FOUND once the lease has expired or was revoked. */
etcd_err etcd_lease_keepalive_once(etcd_client *c, int64_t id, int64_t *ttl_left);
etcd_err etcd_lease_revoke(etcd_client *c, int64_t id);
/* Seconds left; ETCD_E_NOT_FOUND when the lease is gone. */
etcd_err etcd_lease_ttl(etcd_client *c, int64_t id, int64_t *ttl_left, int64_t *ttl_granted);

/* ---- leader election and fencing (etcd_elect.c) ----
 *
 * A candidate campaigns for the key "<prefix>/leader" with a lease of TTL T:
 * one txn "create_revision(key) == 0 -> put key=id with the lease, else read
 * key". The winner keeps the lease alive every T/3; the key's
 * create_revision is its term (a fencing token that only grows). When a
 * keep-alive reports the lease gone, or no keep-alive succeeded for T since
 * the last good one was sent, it steps down and the callback says so. Every
 * write the leader makes goes through a fenced txn: "value(key) == id and
 * create_revision(key) == my term", so after the lease is gone (the key is
 * deleted with it, and a new leader's key has a higher create_revision) a
 * paused former leader's writes are refused, whatever its own clock thinks. */

typedef struct etcd_leader {
    char id[128];            /* the leader's candidate id; "" when there is none */
    int64_t lease;           /* the lease its key is attached to */
    int64_t create_revision; /* its term */
    int64_t revision;        /* the revision this was read at */
} etcd_leader;

/* What a fenced txn is conditioned on. A value type: a broker may keep it
 * beside the state it loaded as leader. */
typedef struct etcd_fence {
    char key[256];
    char id[128];
    int64_t create_revision;
} etcd_fence;

/* Apply ops (and the caller's own extra compares) only if fence->key still
 * holds fence->id at fence->create_revision. ETCD_E_NOT_LEADER when the
 * fence is broken (another leader or none); ETCD_E_COMPARE_FAILED when the
 * fence held but an extra compare did not. out as etcd_txn (its results are
 * the success ops' on ETCD_OK; empty otherwise). */
etcd_err etcd_txn_fenced(etcd_client *c, const etcd_fence *fence, const etcd_cmp *cmps, size_t ncmp,
                         const etcd_op *ops, size_t nops, etcd_txn_result *out);

/* Who holds "<prefix>/leader"; ETCD_E_NOT_FOUND when nobody does. */
etcd_err etcd_leader_get(etcd_client *c, const char *prefix, etcd_leader *out);

typedef struct etcd_election etcd_election;

typedef enum etcd_role { ETCD_FOLLOWER = 0, ETCD_LEADER = 1 } etcd_role;

typedef struct etcd_election_opts {
    int64_t ttl_s;    /* the lease; 0: 3 */
    long retry_ms;    /* a follower campaigns again this often; 0: T/3 */
    etcd_opts client; /* the election's own clients; timeout_ms is at most T/3 */
    /* Called on every change of role: from the election's thread, or from
     * the caller's thread whose etcd_election_txn / _role / _resign found
     * the leadership gone; never with a lock held that the election's calls
     * take, so it may call them. role is ETCD_LEADER with the fence to use,
     * or ETCD_FOLLOWER with NULL. Not called from etcd_election_free. */
    void (*on_change)(void *arg, etcd_role role, const etcd_fence *fence);
    void *on_change_arg;
} etcd_election_opts;

/* A candidate id (1..127 bytes) for prefix (the key is prefix "/leader").
 * Nothing happens until etcd_election_start. NULL on a bad argument. */
etcd_election *etcd_election_new(const char *const *urls, size_t n, const char *prefix,
                                 const char *id, const etcd_election_opts *opts);
/* Starts campaigning on a thread of its own. 0, or -1 if the thread could
 * not be created. */
int etcd_election_start(etcd_election *e);
/* One campaign step run by the caller instead of the thread (a tool, or a
 * test that wants to choose the moment): grant a lease if needed, then the
 * campaign txn. ETCD_OK with *role set, or the error. Must not be mixed with
 * etcd_election_start. */
etcd_err etcd_election_campaign_once(etcd_election *e, etcd_role *role);
/* The role as of the last keep-alive or campaign; *fence (may be NULL) gets
 * the fence while leader. Cheap (no request). */
etcd_role etcd_election_role(etcd_election *e, etcd_fence *fence);
/* Asks etcd who the leader is now (for followers: where to send writes). */
etcd_err etcd_election_observe(etcd_election *e, etcd_leader *out);
/* A fenced txn with the current fence; steps down (and tells on_change)
 * when etcd says the fence is broken. ETCD_E_NOT_LEADER at once when not
 * leader. */
etcd_err etcd_election_txn(etcd_election *e, const etcd_cmp *cmps, size_t ncmp, const etcd_op *ops,
                           size_t nops, etcd_txn_result *out);
/* Gives up leadership now (deletes the key if it is still ours, revokes the
 * lease) so a standby takes over without waiting for the TTL; keeps
 * campaigning only if keep_running. */
etcd_err etcd_election_resign(etcd_election *e, bool keep_running);
/* Stops the thread (resigning first if leader) and frees. NULL is fine. */
void etcd_election_free(etcd_election *e);

#endif
