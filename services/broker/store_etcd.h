/* The broker's second store backend (issue 14, docs/HA.md): the district's
 * records in etcd under "/ergrid/v1/d/<district>/", every commit one etcd
 * transaction fenced on the district's leader key, so a 2xx means etcd's
 * quorum has it and a broker that lost its leadership cannot write.
 *
 * It fills the same struct store as store_sqlite_open (store.h): begin
 * starts collecting operations in memory, the put and insert calls append
 * to them, commit sends them as one fenced txn through the election
 * (etcd_election_txn: the leader's fence; a broken fence steps the
 * election down and the commit fails), rollback drops them. Reads (load,
 * get_meta, list_*) go to etcd directly with the store's own client, so a
 * follower loads exactly what the leader committed. sync is NULL (a commit
 * is durable once etcd answered) and pages_written is NULL.
 *
 * Not thread-safe, like every store: the broker calls it under its domain
 * mutex. */
#ifndef BROKER_STORE_ETCD_H
#define BROKER_STORE_ETCD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "etcd.h"
#include "store.h"

/* Everything of district D is under this prefix (D is a COORD id, so it
 * needs no escaping); the election's key is prefix + "leader". */
#define STORE_ETCD_ROOT "/ergrid/v1/d/"

/* prefix: "/ergrid/v1/d/<district>/" into buf. */
void store_etcd_prefix(const char *district, char *buf, size_t len);

/* Opens the store of district over the members in url_list (as --etcd
 * takes it: "http://a:2379,http://b:2379"). Reads work at once; writes go
 * through the election set with store_etcd_set_election (e may be NULL
 * here: the broker's candidate id, its URL, is known only once its server
 * listens) and fail while there is none. Not owned: the caller frees the
 * election after closing the store. 0, or -1 with a message in err (a bad
 * list, etcd unreachable, a store with another schema). */
int store_etcd_open(struct store *st, const char *url_list, const char *district,
                    etcd_election *e, char *err, size_t errlen);
void store_etcd_set_election(struct store *st, etcd_election *e);

/* The most operations and bytes one commit may carry (etcd 3.4's defaults
 * are --max-txn-ops 128 and --max-request-bytes 1.5 MiB); st->full (store.h)
 * says true once the open transaction holds half of either, so the
 * transaction runner commits it before the next change joins. */
#define STORE_ETCD_MAX_OPS 128
#define STORE_ETCD_MAX_BYTES (1536u * 1024u)

/* The etcd revision the last load read at, or the last commit wrote at,
 * whichever is newer (0: neither yet): the freshness a follower's reads
 * are marked with. */
int64_t store_etcd_revision(const struct store *st);

/* What etcd answered the last failed call (its error() has the text):
 * ETCD_E_NOT_LEADER (not the leader: no election set, a follower, or the
 * fence was broken and the election has stepped down),
 * ETCD_E_UNAVAILABLE (a commit may or may not have been applied, docs/HA.md
 * §4), ETCD_E_COMPARE_FAILED, ...; ETCD_OK when the last call did not fail
 * on etcd's word (it succeeded, or failed before sending: too large, a
 * damaged record). */
etcd_err store_etcd_last_error(const struct store *st);

/* Whether the district's records changed since the last load or commit
 * (one read of meta/commit, which every commit writes): *changed set, 0;
 * or -1 when etcd cannot be read (the caller keeps what it has). A
 * follower reloads only when it did. */
int store_etcd_changed(const struct store *st, bool *changed);

#endif
