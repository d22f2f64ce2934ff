/* The broker's role in a district with standby brokers (--store etcd,
 * docs/HA.md): the election, the role thread that rebuilds a new leader
 * from etcd and keeps a follower's copy fresh, and the request gate that
 * sends a follower's writes to the leader (307). The state they share
 * with the transaction runner and the handlers is ha.h's. With SQLite
 * there is no election: the broker always leads and nothing here runs. */
#ifndef BROKER_ROLE_H
#define BROKER_ROLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core.h"

/* A follower polls meta/commit (and who leads) this often. */
#define ROLE_POLL_MS 200
/* ... and this often while etcd does not answer it. */
#define ROLE_POLL_FAILED_MS 1000
/* A standby reads the leader key this often (docs/HA.md §7: with T/3 the
 * poll alone eats most of the "lease + 1 s" takeover target; 100 ms costs
 * one linearizable read per standby, no raft write). */
#define ROLE_ELECTION_RETRY_MS 100

/* Once b->self_url is known: campaigns (the candidate id is that URL) and
 * starts the role thread. 0, or -1 with a message in err. */
int role_start(broker *b, char *err, size_t errlen);
/* Resigns, so a standby takes over at once, and stops the role thread.
 * Call after the server and the broker's threads stopped. */
void role_stop(broker *b);
/* Frees the election (after the store that uses it closed), then what
 * ha_init set up. */
void role_release(broker *b);

/* The gate of the broker's routes (api_gate, dispatch.h). */
bool role_gate(const api_route *route, api_request *req, api_response *res);

#endif
