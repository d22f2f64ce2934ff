/* The broker's durable store behind a small struct of functions (the Taler
 * exchange's plugin idea): handlers, dispatch and sync never see SQL, and
 * only the transaction runner (txn.c), the start (broker.c) and recovery
 * (restore.c) call it.
 * SQLite (store_sqlite.c) is the backend today; a second one (etcd, where
 * each commit is one conditional transaction) implements the same set.
 *
 * Writes happen between begin and commit; nothing written is visible to a
 * restart until commit returns 0. Every function returns 0 or -1 unless
 * said otherwise, and leaves its outputs untouched on failure. Not
 * thread-safe: the broker calls it under its domain mutex. */
#ifndef BROKER_STORE_H
#define BROKER_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "state.h"

/* The schema version this build writes; a store written by a newer one is
 * refused at open rather than misread. */
#define STORE_SCHEMA_VERSION 1

/* What an acknowledged commit survives (README "Durability"); the operator's
 * choice, because FULL pays an fsync per commit. NORMAL: a kill -9 of the
 * process (the commit is in the WAL before the reply), not a power loss.
 * FULL: also a power loss or an OS crash. */
typedef enum store_durability {
    STORE_DURABILITY_NORMAL = 0,
    STORE_DURABILITY_FULL
} store_durability;

/* "normal" or "full": the name the command line, log and metrics use. */
static inline const char *store_durability_name(store_durability d)
{
    return d == STORE_DURABILITY_FULL ? "full" : "normal";
}

typedef struct store_event {
    uint64_t seq, time_ms;
    const char *node, *type;
    const char *job_id, *unit_id; /* may be NULL */
    uint32_t attempt;             /* 0: none */
    const char *detail;
    const char *vclock; /* the clock after the event, as JSON text */
} store_event;
typedef void (*store_event_cb)(void *arg, const store_event *ev);

/* A unit of ours lent to another district (mutual aid). */
typedef struct store_claim {
    const char *unit_id, *job_id, *owner;
    uint32_t attempt;
} store_claim;
/* A callback returning < 0 stops the listing, which then fails. */
typedef int (*store_claim_cb)(void *arg, const store_claim *c);

/* A synced copy of another district's unit ('u') or job ('j'), kept so a
 * restarted broker still answers for a peer that is down. */
typedef struct store_remote {
    char kind;
    const char *id, *owner;
    const char *obj; /* the copy as JSON text */
    uint64_t fetched_ms;
} store_remote;
typedef int (*store_remote_cb)(void *arg, const store_remote *r);

/* One status step a crew reported for one of our units (steps.h); step
 * is its wire name (unitstatus.h), so the row reads the same whatever the
 * enum's order becomes. */
typedef struct store_step {
    const char *unit_id, *job_id, *step;
    uint32_t attempt;
    uint64_t at_ms;
} store_step;
typedef int (*store_step_cb)(void *arg, const store_step *s);

/* The district's records as stored, for a load: texts are the forms of
 * codec.h, numbers as written. Pointers are valid during the callback. */
typedef struct store_unit_row {
    const char *id, *kind, *caps, *url;
    int64_t capacity, registered_ms;
    bool out_of_service;
    bool has_station; /* its station, when it registered one */
    double station_lat, station_lon;
} store_unit_row;

typedef struct store_job_row {
    const char *id, *type, *caps, *location, *payload; /* location, payload may be NULL */
    int64_t severity, status_int, request_digest, seq, created_ms, updated_ms;
} store_job_row;

typedef struct store_attempt_row {
    const char *job_id, *unit_id, *unit_district, *clock; /* clock may be NULL */
    int64_t n, state_int, at_ms;
    bool notified;
    int64_t why, why_metres, why_age_s; /* the rank_reason; why 0: none stored */
} store_attempt_row;

typedef struct store_result_row {
    const char *job_id, *unit_id, *outcome, *data;
    int64_t attempt, digest, at_ms;
} store_result_row;

/* The store's health, as the transaction runner keeps it (txn.c), under
 * the domain mutex. failing: a commit failed and no probe write has
 * succeeded since, so writes are refused. */
/* A multi-unit incident's lines (codec.h linestext, attlinestext) and
 * the plan applied ("" or NULL: none), in a table of their own: a one-line
 * job has no row. */
typedef struct store_job_lines_row {
    const char *job_id, *lines, *plan, *attempt_lines;
} store_job_lines_row;

typedef struct store_health {
    bool failing;
    uint64_t failing_since_mono_ms, probes_failed_before; /* at the failure */
    uint64_t next_probe_mono_ms;
    uint64_t commit_failures, probes_ok, probes_failed;
    char error[256]; /* what the store said when it last failed */
} store_health;

/* What a load hands each record to, in this order: every unit, every job,
 * then attempts, then results. A callback returning < 0 fails the load. */
typedef struct store_rows {
    int (*unit)(void *arg, const store_unit_row *r);
    int (*job)(void *arg, const store_job_row *r);
    int (*attempt)(void *arg, const store_attempt_row *r);
    int (*result)(void *arg, const store_result_row *r);
    int (*job_lines)(void *arg, const store_job_lines_row *r); /* after the attempts */
} store_rows;

struct store {
    void *cls;
    int (*begin)(void *cls);
    int (*commit)(void *cls);
    void (*rollback)(void *cls);
    /* NULL when commit alone is as durable as asked. Else (--durability
     * full) a commit survives a power loss only once sync returned after
     * it: one sync makes every commit before it durable, so a batch pays
     * one. It may run without the domain mutex, while other calls (and
     * another sync) are made. 0 or -1: a failed sync cannot be retried
     * (the kernel may have dropped the pages). */
    int (*sync)(void *cls);

    int (*put_unit)(void *cls, const unit *u);
    /* The job, its confirmed attempts (pending ones are not durable: the
     * executor has not answered), its lines when it has several, and
     * nothing of its result. */
    int (*put_job)(void *cls, const job *j);
    /* Fails when the job has a result already: the durable form of "one
     * record per incident". */
    int (*insert_result)(void *cls, const char *job_id, const result *r);
    int (*put_meta)(void *cls, const char *key, const char *value);
    /* 0 and buf filled, COORD_E_NOTFOUND, or -1 on a storage error. */
    int (*get_meta)(void *cls, const char *key, char *buf, size_t len);

    int (*add_event)(void *cls, const store_event *ev);
    /* Up to limit events with seq > after, in order. */
    int (*list_events)(void *cls, uint64_t after, size_t limit, store_event_cb cb, void *arg);
    /* The newest event, if any (cb not called when there is none). */
    int (*last_event)(void *cls, store_event_cb cb, void *arg);

    int (*put_claim)(void *cls, const store_claim *c);
    int (*del_claim)(void *cls, const char *unit_id, const char *job_id);
    int (*list_claims)(void *cls, store_claim_cb cb, void *arg);

    /* The crews' steps, in their own table (unit_status). */
    int (*put_step)(void *cls, const store_step *s);
    int (*list_steps)(void *cls, store_step_cb cb, void *arg);

    int (*put_remote)(void *cls, const store_remote *r);
    int (*del_remote)(void *cls, char kind, const char *id);
    int (*list_remote)(void *cls, store_remote_cb cb, void *arg);

    /* Every unit and job with their attempts and results (restore.c turns
     * them into the state and refuses a damaged one). */
    int (*load)(void *cls, const store_rows *rows, void *arg);
    /* What the last failed call said, into buf (before the next call);
     * false when the store itself saw no error (a record a callback
     * refused). */
    bool (*error)(void *cls, char *buf, size_t len);
    /* A write that needs room (a 64 KiB row committed, then deleted), outside
     * any transaction: 0 when the store takes writes again. */
    int (*probe)(void *cls);
    /* Pages written to disk since open (SQLite: to the WAL), what a
     * commit costs in I/O; may be NULL (a store that cannot tell). */
    uint64_t (*pages_written)(void *cls);
    /* May be NULL (never full). True when the open transaction holds as
     * much as one commit should (etcd refuses txns over its limits): the
     * transaction runner then commits it before the next change joins. */
    bool (*full)(void *cls);
    void (*close)(void *cls); /* the store is unusable afterwards */
};

/* Opens (creating) the SQLite store at path, committing as durably as
 * asked, and fills *st. 0, or -1 with a message in err. */
int store_sqlite_open(struct store *st, const char *path, store_durability durability, char *err,
                      size_t errlen);

#endif
