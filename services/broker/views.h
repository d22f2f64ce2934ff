/* JSON of every object the broker shows (DESIGN.md §5: units with the
 * claims they hold, jobs, results, synced copies, peers, the emergency
 * level; each unit and job with its change version), the one reply
 * envelope that adds "vclock", and the way back: a peer's unit and job
 * objects parsed into typed copies. New references throughout; callers hold
 * the domain mutex while the objects they read can change. */
#ifndef BROKER_VIEWS_H
#define BROKER_VIEWS_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "peertab.h"
#include "remote.h"
#include "state.h"
#include "steps.h"
#include "store.h"
#include "units.h"

json_t *view_unit(const state *s, const unit *u, uint64_t now_wall);
/* A crew's status on one attempt: {"job_id","attempt","status","times_ms":
 * {step: wall ms, ...}}; r NULL: dispatched, no step reported yet. */
json_t *view_crew_status(const step_rec *r, const char *job_id, uint32_t attempt_no);
/* The unit as a metadata page's compact form carries it (form=compact):
 * what a peer's copy keeps, without what the puller knows or ignores (its
 * district is the sender's; authoritative, reachable and the heartbeat's
 * age are the home's own view) and without empty job and claim lists. */
json_t *view_unit_compact(const state *s, const unit *u, uint64_t now_wall);
json_t *view_job(const state *s, const job *j);
/* The job as its assignment shows it to the unit (or to the unit's home,
 * in a claim): assigned, under the reserved attempt_no; a multi-line
 * incident's required_capabilities are the attempt's line's, and "line"
 * names it. */
json_t *view_job_assigned(const state *s, const job *j, uint32_t attempt_no);
json_t *view_result(const result *r);
/* A synced copy: authoritative false, who it came from and how old it is
 * (as old as the newer of its fetch and its peer's last good pull). */
json_t *view_remote_unit(const runit *u, const peertab *peers, uint64_t now_wall);
json_t *view_remote_job(const rjob *j, const peertab *peers, uint64_t now_wall);
json_t *view_peer(const peer *p, uint64_t interval_ms, uint64_t now_wall, uint64_t now_mono);
json_t *view_emergency(severity level, uint64_t set_ms);
/* [{"job_id","attempt","owner","reason"}] of a heartbeat reply. */
json_t *view_revoked(const revoked_entry *v, size_t n, const char *owner);

/* The assignment message for an executor (or a claim at the unit's home
 * broker): {"job", "attempt", "owner", "owner_url", "vclock"} (steals
 * job). */
json_t *view_assignment(json_t *job_view, uint32_t attempt_no, const char *owner,
                        const char *owner_url, const vclock *clock);

/* The reply envelope: body with "vclock" added (steals body; NULL stays
 * NULL, which the dispatcher answers with a 500). */
json_t *view_envelope(json_t *body, const vclock *clock);
/* {key: value, "vclock": ...} (steals value). */
json_t *view_one(const char *key, json_t *value, const vclock *clock);

/* A peer's object as a typed copy from peer from, fetched at fetched_ms in
 * full-sync generation gen. 0, or -1 when it is not a unit / job object
 * (out is left empty). t NULL: the capabilities are checked but not set,
 * so a page can be read without the lock that guards t; view_parse_caps
 * sets them under it. */
int view_parse_unit(const json_t *o, strtab *t, const char *from, uint64_t fetched_ms, uint64_t gen,
                    runit *out);
int view_parse_job(const json_t *o, strtab *t, const char *from, uint64_t fetched_ms, uint64_t gen,
                   rjob *out);
int view_parse_caps(const json_t *o, bool is_job, strtab *t, capset *out);

/* "2026-11-26T10:18:34.795Z" and back (0 when unparsable). */
void view_iso_ms(uint64_t ms, char *buf, size_t len);
/* One event of the log as GET /v1/events and the stream show it. */
json_t *view_event(const store_event *ev);
uint64_t view_parse_iso_ms(const char *s);

#endif
