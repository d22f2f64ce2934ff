/* The broker's HTTP handlers, one file per route family, and the few
 * helpers they share. Handlers are thin: parse (field specs), call the
 * state, the transaction runner or dispatch, and reply through views. The
 * request's ctx is the broker. */
#ifndef BROKER_HANDLERS_H
#define BROKER_HANDLERS_H

#include <stdbool.h>

#include "json_fields.h"
#include "reply.h"
#include "request.h"
#include "sse.h"

/* handlers_units.c */
void h_units_post(api_request *req, api_response *res);
void h_units_list(api_request *req, api_response *res);
void h_unit_get(api_request *req, api_response *res);
void h_unit_heartbeat(api_request *req, api_response *res);
/* handlers_status.c */
void h_unit_status_post(api_request *req, api_response *res);
/* handlers_jobs.c */
void h_jobs_post(api_request *req, api_response *res);
void h_jobs_list(api_request *req, api_response *res);
void h_job_get(api_request *req, api_response *res);
void h_job_cancel(api_request *req, api_response *res);
/* handlers_results.c */
void h_job_results_post(api_request *req, api_response *res);
/* handlers_claims.c */
void h_unit_claim(api_request *req, api_response *res);
void h_unit_release(api_request *req, api_response *res);
/* handlers_sync.c */
void h_metadata_get(api_request *req, api_response *res);
void h_peers_get(api_request *req, api_response *res);
void h_notify_post(api_request *req, api_response *res);
/* handlers_emergency.c */
void h_emergency_post(api_request *req, api_response *res);
void h_emergency_get(api_request *req, api_response *res);
/* handlers_misc.c */
void h_health(api_request *req, api_response *res);
void h_metrics(api_request *req, api_response *res);
void h_events_get(api_request *req, api_response *res);
void h_events_stream(api_request *req, api_response *res);
/* The event log as the stream hub reads it (api_sse_read_fn). */
int broker_stream_read(void *cls, uint64_t after, api_sse_item *items, size_t max, size_t *n,
                       uint64_t *head, uint64_t *held_from);

/* ---- shared (handlers.c) ---- */

/* The {id} of a route's path, checked: NULL (and a 400 invalid_id reply)
 * when it is not an id. what names it in the message ("unit", "job"). */
const char *path_id(api_request *req, api_response *res, const char *what);
/* ?scope=local|city of the listings (default city); false (and a 400
 * reply) for anything else. */
bool list_scope(api_request *req, api_response *res, bool *city);
/* A whole number query argument (absent: *out untouched) up to max; false
 * (and a 400 reply with msg) otherwise. */
bool query_uint(api_request *req, api_response *res, const char *key, uint64_t min, uint64_t max,
                uint64_t *out, const char *msg);
/* Parses req->body into out (zeroed first); false and the 400 reply sent
 * when it does not fit spec. */
bool parse_body(api_request *req, api_response *res, const field_spec *spec, void *out);

/* Failing storage (txn.h). store_ok_or_503: the caller holds the domain
 * mutex and is about to change state; false while storage is failing, with
 * the mutex released and the 503 sent. commit_or_503: txn_commit; when it
 * fails, false with the transaction ended (mutex released) and the 503
 * sent, so the caller returns without touching the state. Both 503s are
 * unavailable with Retry-After: 1 and a message saying storage is failing
 * and why: nothing was changed. */
struct txn;
bool store_ok_or_503(api_request *req, api_response *res);
bool commit_or_503(struct txn *t, api_request *req, api_response *res);
/* commit_or_503 with txn_stage (group commit): the caller still answers
 * 503 when txn_end says its batch failed. */
bool stage_or_503(struct txn *t, api_request *req, api_response *res);
void reply_storage_failed(api_request *req, api_response *res);
/* The same, for a reply finished off its request (a deferred submission). */
struct broker;
void broker_reply_storage_failed(struct broker *b, api_response *res);
/* Releases the domain mutex after a read (txn_read_done): true when the
 * reply may go, since everything it could show is durable; false, with
 * body dropped and the 503 sent, when that batch failed. */
bool read_done_or_503(api_request *req, api_response *res, json_t *body);

#endif
