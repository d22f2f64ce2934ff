/* The broker's in-memory domain objects (owned by the broker's maps). */
#ifndef BROKER_MODEL_H
#define BROKER_MODEL_H

#include <stdbool.h>
#include <stdint.h>
#include "coord.h"

#define BROKER_URL_MAX   512
#define UNIT_MAX_NOTICES 32

/* Intrusive node of the broker's change list: every unit and job sits in it
 * ordered by the metadata version of its last change, so a peer's pull
 * "since V" walks only what changed (DESIGN.md §6: cost grows with change). */
typedef struct change_node {
    struct change_node *prev, *next;
    uint64_t version;
    bool is_job;
} change_node;

typedef struct attempt {
    uint32_t n;
    char unit_id[COORD_ID_MAX + 1];
    char unit_district[COORD_ID_MAX + 1]; /* home broker of the unit */
    attempt_state state;
    bool notified;  /* revocation delivered to the unit */
    char *clock;    /* assignment clock, compact JSON text */
    uint64_t at_ms; /* wall time of the assignment */
} attempt;

typedef struct result {
    char unit_id[COORD_ID_MAX + 1];
    uint32_t attempt;
    char outcome[COORD_ID_MAX + 1];
    char *data; /* canonical JSON text, "{}" when none */
    uint64_t digest;
    uint64_t at_ms;
} result;

typedef struct job {
    change_node chg; /* first member: see broker_touch */
    char id[COORD_ID_MAX + 1];
    char type[COORD_ID_MAX + 1];
    severity sev;
    size_t ncaps;
    char (*caps)[COORD_ID_MAX + 1];
    char *location;          /* canonical JSON text or NULL */
    char *payload;           /* canonical JSON text or NULL */
    uint64_t request_digest; /* idempotency: digest of the canonical submission */
    job_status status;
    uint64_t seq; /* arrival order (queue tie-break) */
    uint64_t created_ms, updated_ms;
    size_t nattempts, aattempts;
    attempt *attempts;
    result *res;      /* accepted result or NULL */
    bool dispatching; /* a thread is calling an executor for it */
} job;

typedef struct unit {
    change_node chg; /* first member: see broker_touch */
    char id[COORD_ID_MAX + 1];
    char kind[COORD_ID_MAX + 1];
    size_t ncaps;
    char (*caps)[COORD_ID_MAX + 1];
    char url[BROKER_URL_MAX];
    uint32_t capacity;
    bool out_of_service;
    bool lost;
    uint32_t load; /* pending + active attempts held (= nheld) */
    struct held {
        char job_id[COORD_ID_MAX + 1];
        uint32_t attempt;
        bool pending;
        bool foreign; /* claimed by another district for one of its jobs */
        char owner[COORD_ID_MAX + 1];
    } * held; /* capacity entries */
    struct notice {
        char job_id[COORD_ID_MAX + 1];
        uint32_t attempt;
        char reason[24];
    } * notices; /* revocations not yet told in a heartbeat reply */
    size_t nnotices;
    uint64_t registered_ms, last_hb_wall_ms;
} unit;

#endif
