/* The assignment table: what this unit holds and the operations the
 * handlers and threads perform on it. The rules (which attempt is taken,
 * which revocation reaches a holding) are libcoord/assignment.c's; the
 * table applies them under executor.mu and persists every change through
 * the store before it reports success, so a 2xx always means "on disk". */
#ifndef EXECUTOR_TABLE_H
#define EXECUTOR_TABLE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "context.h"
#include "coord.h"

/* New assignment input; job is borrowed (a reference is taken on success). */
typedef struct asg_input {
    json_t *job;
    char job_id[COORD_ID_MAX + 1];
    int64_t attempt;
    char owner[COORD_ID_MAX + 1];
    const char *owner_url;
    vclock vc;
    bool has_vc;
} asg_input;

/* The core operations. Each takes the lock itself and persists before it
 * returns success. *out (may be NULL) receives the assignment's wire view
 * (new reference) and *vc_out its clock.
 *   exec_assign: EXEC_CREATED, EXEC_OK (same job and attempt held),
 *                EXEC_E_CAPACITY, EXEC_E_STALE, EXEC_E_STORAGE, EXEC_E_NOMEM.
 *   exec_revoke: attempt 0 = whatever is held. EXEC_OK or EXEC_E_NOTFOUND,
 *                EXEC_E_STORAGE. A held newer attempt or a reported
 *                assignment is left as it is.
 *   exec_get:    EXEC_OK or EXEC_E_NOTFOUND. */
int exec_assign(executor *e, const asg_input *in, json_t **out, vclock *vc_out);
int exec_revoke(executor *e, const char *job_id, int64_t attempt, const char *reason, json_t **out,
                vclock *vc_out);
int exec_get(executor *e, const char *job_id, json_t **out);
json_t *exec_list_json(executor *e); /* {"assignments":[...]}, wire views */
size_t exec_count(executor *e, asg_state s);
void exec_counts(executor *e, size_t by_state[ASG_NSTATES]);

/* Heartbeat body {"jobs":[{"job_id","attempt","owner"}...],"seen":{...}}:
 * the active ones and the seen clock, read together under the lock. */
json_t *exec_heartbeat_body(executor *e);
/* Applies a heartbeat reply's "revoked" array (borrowed; may be NULL).
 * Returns the number of assignments newly marked revoked, or
 * EXEC_E_STORAGE. */
int exec_apply_revoked(executor *e, const json_t *revoked);
/* Merges a clock the home broker sent (a heartbeat reply's "vclock";
 * borrowed, ignored when not a clock) into the seen clock. */
void exec_saw_clock(executor *e, const json_t *vclock);

/* Persists the current state when it changed since the last write: copies
 * an image under mu and hands it to the store without it. Takes save_mu
 * then mu; never call with mu held. 0 or EXEC_E_STORAGE. */
int exec_sync(executor *e);

/* Fills an empty table (before threads start) from DIR/assignments.json.
 * 0 (also when the file does not exist) or -1 with a reason in err: a
 * file that cannot be read stops the service rather than forget work. */
int exec_load(executor *e, char *err, size_t errlen);

/* Caller holds e->mu. */
assignment *exec_find_locked(executor *e, const char *job_id);

#endif
