/* The broker's role in a district with standby brokers (--store etcd,
 * docs/HA.md): the election's callback, the role thread that rebuilds a
 * new leader from etcd and keeps a follower's copy fresh, the request gate
 * that sends a follower's writes to the leader (307), and the figures
 * health and metrics show. With SQLite there is no election: the broker
 * always leads and nothing here does anything. */
#ifndef BROKER_ROLE_H
#define BROKER_ROLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core.h"
#include "dispatch.h"

/* A follower polls meta/commit (and who leads) this often. */
#define ROLE_POLL_MS 200
/* ... and this often while etcd does not answer it. */
#define ROLE_POLL_FAILED_MS 1000
/* A standby reads the leader key this often (docs/HA.md §7: with T/3 the
 * poll alone eats most of the "lease + 1 s" takeover target; 100 ms costs
 * one linearizable read per standby, no raft write). */
#define ROLE_ELECTION_RETRY_MS 100

/* Sets up b->ha for cfg (before the store opens). 0, or -1. */
int role_init(broker *b);
/* Once b->self_url is known: campaigns (the candidate id is that URL) and
 * starts the role thread. 0, or -1 with a message in err. */
int role_start(broker *b, char *err, size_t errlen);
/* Resigns, so a standby takes over at once, and stops the role thread.
 * Call after the server and the broker's threads stopped. */
void role_stop(broker *b);
/* Frees the election: after the store that uses it closed. */
void role_release(broker *b);

/* Caller holds b->mu: this broker may write to its store now (SQLite:
 * always; etcd: rebuilt as the leader of the current term). */
bool role_writable(broker *b);
/* Caller holds b->mu: a commit failed in etcd mode (quorum lost, or the
 * leadership). Writes stop at once; with resign the role thread resigns
 * and keeps campaigning (without: the election already stepped down, the
 * leadership is another's); it rebuilds before it leads again. reloaded:
 * false when the district could not be read back (the role thread
 * reloads it). */
void role_commit_failed(broker *b, bool reloaded, bool resign);

/* The gate of the broker's routes (api_gate, dispatch.h). */
bool role_gate(const api_route *route, api_request *req, api_response *res);

typedef struct role_view {
    bool etcd, leader;
    char leader_url[128]; /* "" when none is known */
    int64_t term;
    uint64_t takeovers;
} role_view;
/* What /v1/health and /metrics show; takes only b->ha.mu. */
void role_get(broker *b, role_view *v);

#endif
