/* The FCFS result arbiter (DESIGN.md §3.1).
 *
 * arbiter_decide() is the pure rule: given what is known of one job (its
 * attempts and the accepted result, if any) and a submission, it says what
 * to do. The broker calls it under its own lock with state loaded from
 * SQLite. "First" is first to arrive; clocks only refuse a result that does
 * not causally follow the assignment it answers.
 *
 * arbiter_t is a thread-safe in-memory table of jobs built on the same rule,
 * for tests and benchmarks of the rule under contention. */
#ifndef COORD_ARBITER_H
#define COORD_ARBITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "types.h"
#include "vclock.h"

typedef struct arb_attempt {
    char unit_id[COORD_ID_MAX + 1];
    uint32_t attempt; /* 1-based */
    attempt_state state;
    const vclock *assign_clock; /* clock sent with the assignment; may be NULL */
} arb_attempt;

typedef struct arb_result {
    char unit_id[COORD_ID_MAX + 1];
    uint32_t attempt;
    uint64_t digest; /* coord_digest of the canonical outcome+data */
} arb_result;

typedef struct arb_submission {
    arb_result r;
    const vclock *clock; /* NULL: no clock sent, causality check skipped */
} arb_submission;

typedef enum arb_verdict {
    ARB_ACCEPT = 0,  /* first: record it (201) */
    ARB_RETRY,       /* exact retry of the winner (200) */
    ARB_REJECT,      /* another result already won (409 + winner) */
    ARB_FORBIDDEN,   /* unit never held an attempt (403) */
    ARB_BAD_ATTEMPT, /* unit held the job but not this attempt number (403) */
    ARB_CAUSALITY,   /* clock not after the assignment clock (409) */
} arb_verdict;

/* Fills *x (the clock is borrowed, may be NULL). */
void arb_attempt_init(arb_attempt *x, const char *unit_id, uint32_t attempt, attempt_state state,
                      const vclock *assign_clock);

/* winner: the accepted result or NULL. Pure; never fails.
 *
 * Precedence, first match wins:
 *   1. FORBIDDEN    the submitting unit has no attempt of this job at all (in
 *                   any state). Checked before the winner so a stranger
 *                   learns nothing about the outcome.
 *   2. RETRY        a winner exists with the same unit, attempt and digest.
 *   3. REJECT       a winner exists and this is anything else (even from a
 *                   legitimate holder, and regardless of clocks).
 *   4. BAD_ATTEMPT  no winner; the unit holds the job but has no attempt with
 *                   this number, or that attempt is still ATT_PENDING.
 *   5. CAUSALITY    no winner; sub->clock and the attempt's assign_clock are
 *                   both non-NULL and the submission clock is neither AFTER
 *                   nor EQUAL to the assignment clock (BEFORE/CONCURRENT).
 *   6. ACCEPT       otherwise. ACTIVE, REVOKED and FINISHED attempts may all
 *                   win: a revoked holder that reports first is the record.
 * A NULL sub yields FORBIDDEN. */
arb_verdict arbiter_decide(const arb_attempt *attempts, size_t nattempts, const arb_result *winner,
                           const arb_submission *sub);
const char *arb_verdict_str(arb_verdict v);

/* ---- thread-safe table ---- */
typedef struct arbiter arbiter_t;

arbiter_t *arbiter_new(void);
void arbiter_free(arbiter_t *a); /* accepts NULL */
/* Registers attempt (unit, attempt number, assignment clock copied) for job,
 * creating the job on first use. COORD_E_INVAL on bad ids or attempt 0,
 * COORD_E_EXISTS when the job already has that attempt number (numbers are
 * unique per job, whichever unit holds them). The attempt is stored as
 * ATT_ACTIVE. */
int arbiter_add_attempt(arbiter_t *a, const char *job_id, const char *unit_id, uint32_t attempt,
                        const vclock *assign_clock);
/* Decides and, on ARB_ACCEPT, records atomically (and marks that attempt
 * ATT_FINISHED). winner_out (may be NULL) receives the accepted result for
 * ACCEPT/RETRY/REJECT and is untouched otherwise. Returns the verdict, or a
 * negative coord_err (COORD_E_NOTFOUND for an unknown job, COORD_E_INVAL
 * for NULL arguments or an invalid sub->r.unit_id). */
int arbiter_submit(arbiter_t *a, const char *job_id, const arb_submission *sub,
                   arb_result *winner_out);

#endif
