/* The broker's SQLite store behind a small set of functions: handlers never
 * see SQL. WAL mode, synchronous=NORMAL: a committed transaction survives a
 * kill -9 of the process (it is in the WAL); see README "Durability".
 * Not thread-safe: the broker calls it under its own mutex. */
#ifndef BROKER_DB_H
#define BROKER_DB_H

#include <stddef.h>
#include <stdint.h>
#include "coord.h"
#include "model.h"

typedef struct db db;

db *db_open(const char *path, char *err, size_t errlen);
void db_close(db *d); /* accepts NULL */

/* Transactions; BEGIN IMMEDIATE, retried on SQLITE_BUSY. 0 or -1. */
int db_begin(db *d);
int db_commit(db *d);
void db_rollback(db *d);

int db_put_unit(db *d, const unit *u);
/* Writes the job row, its attempts and (if any) its result. */
int db_put_job(db *d, const job *j);
/* Inserts the accepted result; fails if the job already has one (the
 * durable form of "one record per incident"). */
int db_insert_result(db *d, const char *job_id, const result *r);
int db_put_meta(db *d, const char *key, const char *value);
/* Copies meta value into buf; 0, or COORD_E_NOTFOUND. */
int db_get_meta(db *d, const char *key, char *buf, size_t len);

int db_add_event(db *d, uint64_t seq, uint64_t time_ms, const char *node, const char *type,
                 const char *job_id, const char *unit_id, uint32_t attempt_no, const char *detail,
                 const char *vclock_json);
uint64_t db_last_event_seq(db *d);
/* Calls cb for up to limit events with seq > after, in order. */
typedef void (*db_event_cb)(void *arg, uint64_t seq, uint64_t time_ms, const char *node,
                            const char *type, const char *job_id, const char *unit_id,
                            uint32_t attempt_no, const char *detail, const char *vclock_json);
int db_list_events(db *d, uint64_t after, size_t limit, db_event_cb cb, void *arg);

/* Units of ours lent to another district (mutual aid). */
int db_put_claim(db *d, const char *unit_id, const char *job_id, uint32_t attempt_no,
                 const char *owner);
int db_del_claim(db *d, const char *unit_id, const char *job_id);
typedef void (*db_claim_cb)(void *arg, const char *unit_id, const char *job_id, uint32_t attempt_no,
                            const char *owner);
int db_list_claims(db *d, db_claim_cb cb, void *arg);

/* Copies of other districts' units ('u') and jobs ('j'), kept so a
 * restarted broker still answers for a peer that is down. */
int db_put_remote(db *d, char kind, const char *id, const char *owner, const char *obj,
                  uint64_t fetched_ms);
int db_del_remote(db *d, char kind, const char *id);
typedef void (*db_remote_cb)(void *arg, char kind, const char *id, const char *owner,
                             const char *obj, uint64_t fetched_ms);
int db_list_remote(db *d, db_remote_cb cb, void *arg);

/* Loads everything into the maps (values are unit* / job* the caller owns
 * afterwards). */
int db_load(db *d, hmap *units, hmap *jobs);

#endif
