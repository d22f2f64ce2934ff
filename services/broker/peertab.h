/* The table of peer brokers: who they are, where they listen (up to
 * PEER_URLS_MAX URLs per district: a leader and its standbys), and the sync
 * bookkeeping of each (what we have pulled, failures and backoff, notify
 * debounce). Data only; peers.c runs the threads that fill it and owns
 * each peer's URL set. Guarded by the broker's domain mutex, except the
 * URL set behind set, which has its own lock (leader_client.h) so calls to
 * the peer use it without the domain mutex. Peers are never removed, so an
 * index (and a set) stays valid for the life of the broker. */
#ifndef BROKER_PEERTAB_H
#define BROKER_PEERTAB_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bounds.h"
#include "util.h"

#define PEER_URLS_MAX 4 /* URLs kept per peer district */

struct leader_set;

typedef struct peer {
    char id[COORD_ID_MAX + 1];
    char url[BROKER_URL_MAX];  /* the first of urls (a call uses the set's current one) */
    char urls[BROKER_URL_MAX]; /* every URL, comma-separated origins (peers.c checks them) */
    struct leader_set *set;    /* the same URLs for leader_call; made by peers.c, NULL before */
    char epoch[40]; /* the peer's incarnation we are in sync with */
    uint32_t egen;  /* counts the incarnations seen, from 1: what copies and claims compare */
    uint64_t since; /* its metadata version we have seen */
    uint64_t gen;   /* our generation of its full syncs */
    bool full;      /* a full sync is in progress */
    uint64_t last_success_wall_ms, last_attempt_wall_ms;
    uint64_t last_success_mono_ms;
    unsigned failures;
    uint64_t backoff_ms; /* current wait after a failure */
    uint64_t next_due_mono_ms;
    bool pull_requested;       /* it signalled a change */
    uint64_t notified_version; /* our version we last signalled to it */
    uint64_t pending_since_mono_ms, last_notify_mono_ms, last_pull_mono_ms;
    uint64_t pulls, pulled_units, pulled_jobs;
    uint64_t last_pull_objects; /* what its last pull brought (a busy peer is pulled less often) */
    bool thread_started;
    pthread_t thr;
} peer;

/* A release for a district whose URL we do not know yet. */
typedef struct parked_release {
    char district[COORD_ID_MAX + 1];
    char unit_id[COORD_ID_MAX + 1];
    char job_id[COORD_ID_MAX + 1];
    uint32_t attempt;
    char reason[BROKER_REASON_MAX];
} parked_release;

typedef struct peertab {
    peer v[BROKER_MAX_PEERS];
    size_t n;
    parked_release parked[PEERTAB_MAX_PARKED]; /* oldest first */
    size_t nparked;
    uint64_t parked_dropped; /* the oldest, pushed out by newer ones */
} peertab;

peer *peertab_find(peertab *t, const char *id);
const peer *peertab_get(const peertab *t, const char *id);
/* Adds a peer (first pull due at now_mono) or updates its URLs: url is one
 * URL or a comma-separated list (peers_normalize_urls made it). *idx gets
 * its index and *added whether it is new. COORD_E_RANGE when the table is
 * full, COORD_E_INVAL for self or a bad id. */
int peertab_add(peertab *t, const char *self, const char *id, const char *url, uint64_t now_mono,
                size_t *idx, bool *added);
/* A page of p's metadata begins: a full one while no full sync is under
 * way starts a new generation (a first sync, or the peer restarted); an
 * epoch other than the one we are in sync with is a new incarnation
 * (egen moves on). */
void peer_page_begin(peer *p, bool full, const char *epoch);
/* The egen of a reply from p in incarnation epoch: p's when it is the one
 * we are in sync with, else 0 (unknown: a restart we have not pulled). */
uint32_t peer_egen_of(const peer *p, const char *epoch);
/* It ended: true when a full sync just finished, so the copies of p that it
 * did not confirm (older generations) can go. */
bool peer_page_end(peer *p, bool more);

/* A commit made an urgent change (state.h): marks it pending at every peer
 * and says whether a peer thread must wake to time its signal (one that
 * has it pending already wakes on its own schedule). A join storm of 500
 * registrations a second would otherwise wake every peer thread for each
 * one. */
bool peertab_note_change(peertab *t, uint64_t now_mono);

/* Where the store keeps the table, as {"id": "url[,url...]", ...}
 * (peers.c writes it, restore.c reads it at start). */
#define PEERS_META_KEY "peers"

/* The nodes whose clock entries a broker merges from a message: itself,
 * the coordinator and its peers (not units: clocks grow with brokers). */
bool peertab_is_clock_node(const peertab *t, const char *self, const char *node);
/* When the copies pulled from peer id were last confirmed (its last good
 * pull), or 0. */
uint64_t peertab_confirmed_ms(const peertab *t, const char *id);

/* Keeps a release for district until its URL is known (the oldest goes
 * past PEERTAB_MAX_PARKED, counted). */
void peertab_park(peertab *t, const char *district, const char *unit_id, const char *job_id,
                  uint32_t attempt_no, const char *reason);
/* Takes out the releases parked for district: up to max into out (in the
 * order parked); returns how many. */
size_t peertab_unpark(peertab *t, const char *district, parked_release *out, size_t max);

#endif
