/* Mutual aid at the unit's home broker: lending one of our units to
 * another district's job. The home broker is the only authority over its
 * units' assignments (DESIGN.md §3.2): a claim checks and reserves the unit
 * in one step under the domain mutex, hands the assignment to the executor
 * with the mutex released, and settles; a second claim meanwhile finds the
 * unit taken. */
#ifndef BROKER_LEND_H
#define BROKER_LEND_H

#include <jansson.h>
#include <stdint.h>

#include "core.h"
#include "txn.h"

typedef struct lend_request {
    const char *unit_id;
    const json_t *job; /* the owner's job object, handed on to the executor */
    const char *job_id;
    uint32_t attempt;
    const char *owner, *owner_url;
    const vclock *clock;    /* NULL: none sent */
    const char *const *req; /* the job's required capabilities (NULL: not a string) */
    size_t nreq;
} lend_request;

typedef enum lend_outcome {
    LEND_CLAIMED,    /* 201 {unit, claim, vclock} */
    LEND_RETRY,      /* 200: the same claim again */
    LEND_NO_UNIT,    /* 404 */
    LEND_HELD_OTHER, /* 409 + {unit, vclock} */
    LEND_NOT_FREE,   /* 409 + {unit}; why says what it is */
    LEND_TAKEN,      /* 409 */
    LEND_REFUSED,    /* 409: the executor is at capacity */
    LEND_FAILED,     /* 502: the executor did not take it */
    LEND_STORAGE,    /* 503: storage is failing (txn.h); nothing changed */
} lend_outcome;

/* *body: the reply body (or the extra members of an error reply) for the
 * outcome, or NULL. why (room for 32) names the unit's status for
 * LEND_NOT_FREE. */
lend_outcome lend_unit(broker *b, const lend_request *r, json_t **body, char *why);

/* The standing claim (job_id, attempt_no) on u ends without its owner's
 * word (state_claim_drop): the stored claim goes and the event says why
 * (e.g. "its terminal no longer holds it"); the owner learns it from the
 * unit's next copy, signalled at once. Caller holds the domain mutex
 * inside t. True when a claim was dropped. */
bool lend_drop_claim(txn *t, unit *u, const char *job_id, uint32_t attempt_no, const char *why);

#endif
