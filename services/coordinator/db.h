/* The coordinator's SQLite store behind a small set of functions: handlers
 * never see SQL. WAL mode with synchronous=FULL: writes are rare (a
 * registration, an emergency declaration), so every acknowledged change is
 * on disk before the reply. Not thread-safe: called under coordinator.mu. */
#ifndef COORDINATOR_DB_H
#define COORDINATOR_DB_H

#include <stddef.h>
#include <stdint.h>

typedef struct cdb cdb;

/* Opens (creating) the database at path; a damaged one is refused
 * (sqlstore_open). The start-up checks of the data dir come first
 * (sqlstore_preflight). */
cdb *cdb_open(const char *path, char *err, size_t errlen);
void cdb_close(cdb *d); /* accepts NULL */

/* BEGIN IMMEDIATE / COMMIT / ROLLBACK; 0 or -1. */
int cdb_begin(cdb *d);
int cdb_commit(cdb *d);
void cdb_rollback(cdb *d);

int cdb_put_broker(cdb *d, const char *id, const char *url, uint64_t registered_ms,
                   uint64_t last_seen_ms);
typedef void (*cdb_broker_cb)(void *arg, const char *id, const char *url, uint64_t registered_ms,
                              uint64_t last_seen_ms);
int cdb_load_brokers(cdb *d, cdb_broker_cb cb, void *arg);
/* Every URL a district registered under (table broker_urls, beside
 * brokers: a registry written before it has none, and the brokers row's
 * url stands for them). */
int cdb_put_broker_url(cdb *d, const char *id, const char *url, uint64_t last_seen_ms);
int cdb_del_broker_url(cdb *d, const char *id, const char *url); /* url "*": all of id's */
typedef void (*cdb_broker_url_cb)(void *arg, const char *id, const char *url,
                                  uint64_t last_seen_ms);
int cdb_load_broker_urls(cdb *d, cdb_broker_url_cb cb, void *arg);

int cdb_put_meta(cdb *d, const char *key, const char *value);
/* Copies the value into buf: 0, 1 when absent, -1 when it cannot be read. */
int cdb_get_meta(cdb *d, const char *key, char *buf, size_t len);

/* job_id may be NULL. */
int cdb_add_event(cdb *d, uint64_t seq, uint64_t time_ms, const char *type, const char *job_id,
                  const char *detail, const char *vclock_json);
/* Calls cb for the newest `limit` events, oldest first. */
typedef void (*cdb_event_cb)(void *arg, uint64_t seq, uint64_t time_ms, const char *type,
                             const char *job_id, const char *detail, const char *vclock_json);
int cdb_load_events(cdb *d, size_t limit, cdb_event_cb cb, void *arg);
/* The newest event's seq (0 when there is none) into *seq; 0 or -1. */
int cdb_last_event_seq(cdb *d, uint64_t *seq);
/* What SQLite said about the last call that failed (sqlstore_error). */
void cdb_error(const cdb *d, char *buf, size_t len);

/* Where an incident with a client id was routed, so a retry of the same
 * submission reaches the same district (whose broker deduplicates it). */
int cdb_put_incident(cdb *d, const char *id, const char *district, const char *routing,
                     uint64_t at_ms);
/* 0 and district/routing filled (buffers of COORD_ID_MAX+1 / 16), or -1. */
int cdb_get_incident(cdb *d, const char *id, char *district, size_t dlen, char *routing,
                     size_t rlen);

#endif
