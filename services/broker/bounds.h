/* The broker's size limits, in one place: each caps what a client, a unit
 * or a peer can make the broker hold. */
#ifndef BROKER_BOUNDS_H
#define BROKER_BOUNDS_H

#define BROKER_URL_MAX        512
#define BROKER_MAX_PEERS      64
#define BROKER_MAX_CAPS       32   /* capabilities of a unit or a job */
#define BROKER_MAX_CAPACITY   64   /* assignments one unit may hold */
/* A multi-unit incident (`response`): its lines, the units one line asks
 * for, and the units of all lines together. */
#define BROKER_MAX_LINES          8
#define BROKER_MAX_LINE_COUNT     16
#define BROKER_MAX_INCIDENT_UNITS 32
#define BROKER_JSON_FIELD_MAX 4096 /* location / payload / result data, as text */
#define BROKER_REASON_MAX     24   /* "result_accepted", "redeployed", ... */
#define UNIT_MAX_NOTICES      32   /* revocations kept for a unit's next heartbeat */
#define HB_MAX_JOBS           256  /* assignments a heartbeat may list */
/* A claimed job object as its owner shows it (the executor takes as much). */
#define BROKER_JOB_OBJECT_MAX (256 * 1024)
/* A heartbeat's list of held jobs, as JSON: room for HB_MAX_JOBS entries. */
#define HB_JOBS_JSON_MAX (HB_MAX_JOBS * 256)

/* Synced copies of one peer's records. A district of 10,000 units and
 * 100,000 jobs fits with room to spare; past the caps, of count or of the
 * bytes its copies take (records, texts and map entries), a copy is
 * refused and counted (ergrid_remote_refused_total), never grown into. */
#define REMOTE_MAX_UNITS_PER_PEER 50000
#define REMOTE_MAX_JOBS_PER_PEER  200000
#define REMOTE_MAX_BYTES_PER_PEER (64u * 1024 * 1024)
#define REMOTE_MAX_ATTEMPTS       1024 /* attempts listed in one synced job */
#define REMOTE_MAX_RESPONSE_TEXT  (32 * 1024) /* a synced incident's lines, as text */

/* One object of a peer's metadata page: bigger or deeper than this it is
 * skipped and counted (ergrid_remote_skipped_total), and the rest of the
 * page applies. A page holds at most REMOTE_MAX_PAGE_OBJECTS units and as
 * many jobs (a peer serves at most 5,000 of each; beyond, skipped). */
#define REMOTE_MAX_OBJECT_BYTES (256 * 1024)
#define REMOTE_MAX_OBJECT_DEPTH 64
#define REMOTE_MAX_PAGE_OBJECTS 5000

/* Releases for a district whose URL is not known yet (restarted while the
 * coordinator is down), kept until it is: past this the oldest goes (the
 * home still frees the unit from its copy of our job). */
#define PEERTAB_MAX_PARKED 256

/* Revocations and releases waiting for the notifier thread. Past it a
 * message is dropped and counted (ergrid_outbox_dropped_total): a unit
 * still learns of its revocation from its next heartbeat reply (see
 * outbox.h for releases). */
#define OUTBOX_MAX 4096

#endif
