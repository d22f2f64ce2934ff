/* The assignment table (table.h): the held set under executor.mu, its
 * 1024-entry cap and eviction, and the path from a change to the disk. */
#include "table.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"
#include "view.h"

assignment *exec_find_locked(executor *e, const char *job_id)
{
    for (size_t i = 0; i < e->n; i++) {
        if (strcmp(e->v[i]->job_id, job_id) == 0)
            return e->v[i];
    }
    return NULL;
}

static void counts_locked(const executor *e, size_t by_state[ASG_NSTATES])
{
    memset(by_state, 0, ASG_NSTATES * sizeof by_state[0]);
    for (size_t i = 0; i < e->n; i++) {
        if ((unsigned)e->v[i]->state < ASG_NSTATES)
            by_state[e->v[i]->state]++;
    }
}

void exec_counts(executor *e, size_t by_state[ASG_NSTATES])
{
    pthread_mutex_lock(&e->mu);
    counts_locked(e, by_state);
    pthread_mutex_unlock(&e->mu);
}

size_t exec_count(executor *e, asg_state s)
{
    size_t by_state[ASG_NSTATES];
    exec_counts(e, by_state);
    return (unsigned)s < ASG_NSTATES ? by_state[s] : 0;
}

static void remove_at_locked(executor *e, size_t i)
{
    memmove(&e->v[i], &e->v[i + 1], (e->n - i - 1) * sizeof *e->v);
    e->n--;
}

/* Makes room for one more entry: drops the oldest reported assignment, else
 * the oldest revoked one. Active ones are never dropped (capacity keeps
 * them far below the cap). */
static bool make_room_locked(executor *e)
{
    if (e->n < EXEC_MAX_ASSIGNMENTS)
        return true;
    for (int pass = 0; pass < 2; pass++) {
        asg_state victim = pass == 0 ? ASG_REPORTED : ASG_REVOKED;
        for (size_t i = 0; i < e->n; i++) {
            if (e->v[i]->state == victim) {
                asg_free(e->v[i]);
                remove_at_locked(e, i);
                return true;
            }
        }
    }
    return false;
}

static void emit_locked(const assignment *a, json_t **out, vclock *vc_out)
{
    if (out)
        *out = asg_view_json(a);
    if (vc_out)
        vclock_copy(vc_out, &a->vc);
}

/* exec_sync after a change that emitted *out: on failure nothing was
 * acknowledged, so the view is dropped. */
static int sync_or_drop(executor *e, json_t **out, int ok_rc)
{
    if (exec_sync(e) == 0)
        return ok_rc;
    if (out) {
        json_decref(*out);
        *out = NULL;
    }
    return EXEC_E_STORAGE;
}

static assignment *record_of(const asg_input *in)
{
    assignment *a = asg_new();
    if (!a)
        return NULL;
    snprintf(a->job_id, sizeof a->job_id, "%s", in->job_id);
    a->attempt = in->attempt;
    snprintf(a->owner, sizeof a->owner, "%s", in->owner);
    snprintf(a->owner_url, sizeof a->owner_url, "%s", in->owner_url);
    a->job = json_incref(in->job);
    if (in->has_vc)
        vclock_copy(&a->vc, &in->vc);
    else
        vclock_init(&a->vc);
    a->received_ms = coord_now_wall_ms();
    return a;
}

/* Merges vc into *into; true when that changed it. Caller holds e->mu. */
static bool merge_locked(vclock *into, const vclock *vc)
{
    vclock m;
    vclock_copy(&m, into);
    /* Over the entry cap the clock stays as it was: smaller is only later. */
    if (vclock_merge(&m, vc) != 0 || vclock_compare(&m, into) == VC_EQUAL)
        return false;
    vclock_copy(into, &m);
    return true;
}

void exec_saw_clock(executor *e, const json_t *vc)
{
    vclock in;
    field_error fe;
    if (!vc || vclock_from_json(vc, &in, &fe) != 0)
        return;
    pthread_mutex_lock(&e->mu);
    /* No write of its own: it goes to disk with the next change. */
    (void)merge_locked(&e->seen, &in);
    pthread_mutex_unlock(&e->mu);
}

int exec_assign(executor *e, const asg_input *in, json_t **out, vclock *vc_out)
{
    if (out)
        *out = NULL;
    size_t by_state[ASG_NSTATES];
    pthread_mutex_lock(&e->mu);
    if (in->has_vc && merge_locked(&e->seen, &in->vc))
        e->gen++;
    assignment *held = exec_find_locked(e, in->job_id);
    counts_locked(e, by_state);
    switch (asg_admit(held ? held->attempt : 0, held ? held->state : ASG_ACTIVE, in->attempt,
                      by_state[ASG_ACTIVE], e->cfg.capacity)) {
    case ASG_ADMIT_HELD:
        /* The same attempt again with another clock (a broker that lost
         * its record of the first send): adopt it too, so a report follows
         * both and the owner's causality check passes. */
        if (in->has_vc && strcmp(held->owner, in->owner) == 0 && merge_locked(&held->vc, &in->vc))
            e->gen++;
        emit_locked(held, out, vc_out);
        pthread_mutex_unlock(&e->mu);
        /* The first answer may have failed to persist: make sure it is. */
        return exec_sync(e) == 0 ? EXEC_OK : EXEC_E_STORAGE;
    case ASG_ADMIT_STALE:
        emit_locked(held, out, vc_out);
        pthread_mutex_unlock(&e->mu);
        return EXEC_E_STALE;
    case ASG_ADMIT_FULL:
        pthread_mutex_unlock(&e->mu);
        return EXEC_E_CAPACITY;
    case ASG_ADMIT_NEW:
        break;
    }
    assignment *a = record_of(in);
    if (!a) {
        pthread_mutex_unlock(&e->mu);
        return EXEC_E_NOMEM;
    }
    /* A newer attempt replaces the old one. */
    if (held) {
        for (size_t i = 0; i < e->n; i++) {
            if (e->v[i] == held) {
                remove_at_locked(e, i);
                break;
            }
        }
        asg_free(held);
    }
    if (!make_room_locked(e)) {
        pthread_mutex_unlock(&e->mu);
        asg_free(a);
        return EXEC_E_CAPACITY;
    }
    a->seq = e->next_seq++;
    e->v[e->n++] = a;
    e->gen++;
    emit_locked(a, out, vc_out);
    pthread_cond_broadcast(&e->sim_cond);
    pthread_mutex_unlock(&e->mu);
    return sync_or_drop(e, out, EXEC_CREATED);
}

/* Applies a revocation of attempts up to `upto` (0: any) to a; true when
 * it changed a. Caller holds e->mu. */
static bool revoke_locked(executor *e, assignment *a, int64_t upto, const char *reason)
{
    if (asg_revoke(&a->state, a->attempt, upto) != COORD_OK)
        return false;
    if (reason && coord_id_valid(reason))
        snprintf(a->revoke_reason, sizeof a->revoke_reason, "%s", reason);
    e->gen++;
    return true;
}

int exec_revoke(executor *e, const char *job_id, int64_t attempt, const char *reason, json_t **out,
                vclock *vc_out)
{
    if (out)
        *out = NULL;
    pthread_mutex_lock(&e->mu);
    assignment *a = exec_find_locked(e, job_id);
    if (!a) {
        pthread_mutex_unlock(&e->mu);
        return EXEC_E_NOTFOUND;
    }
    revoke_locked(e, a, attempt, reason);
    emit_locked(a, out, vc_out);
    pthread_mutex_unlock(&e->mu);
    return sync_or_drop(e, out, EXEC_OK);
}

int exec_get(executor *e, const char *job_id, json_t **out)
{
    pthread_mutex_lock(&e->mu);
    assignment *a = exec_find_locked(e, job_id);
    if (a)
        *out = asg_view_json(a);
    pthread_mutex_unlock(&e->mu);
    return a ? EXEC_OK : EXEC_E_NOTFOUND;
}

json_t *exec_list_json(executor *e)
{
    json_t *arr = json_array();
    pthread_mutex_lock(&e->mu);
    for (size_t i = 0; arr && i < e->n; i++)
        json_array_append_new(arr, asg_view_json(e->v[i]));
    pthread_mutex_unlock(&e->mu);
    return json_pack("{s:o}", "assignments", arr ? arr : json_array());
}

json_t *exec_heartbeat_body(executor *e)
{
    json_t *jobs = json_array();
    pthread_mutex_lock(&e->mu);
    for (size_t i = 0; jobs && i < e->n; i++) {
        const assignment *a = e->v[i];
        if (a->state == ASG_ACTIVE)
            json_array_append_new(jobs, json_pack("{s:s, s:I, s:s}", "job_id", a->job_id,
                                                  "attempt", (json_int_t)a->attempt, "owner",
                                                  a->owner));
    }
    /* Read with the list, under the same lock: the broker trusts that the
     * list was written after everything this clock covers. */
    json_t *seen = vclock_to_json(&e->seen);
    pthread_mutex_unlock(&e->mu);
    return json_pack("{s:o, s:o}", "jobs", jobs ? jobs : json_array(), "seen",
                     seen ? seen : json_object());
}

int exec_apply_revoked(executor *e, const json_t *revoked)
{
    if (!json_is_array(revoked))
        return 0;
    int changed = 0;
    pthread_mutex_lock(&e->mu);
    size_t i;
    json_t *r;
    json_array_foreach (revoked, i, r) {
        const char *job_id = json_string_value(json_object_get(r, "job_id"));
        json_t *att = json_object_get(r, "attempt");
        if (!coord_id_valid(job_id) || !json_is_integer(att) || json_integer_value(att) < 1)
            continue;
        assignment *a = exec_find_locked(e, job_id);
        if (a && revoke_locked(e, a, json_integer_value(att),
                               json_string_value(json_object_get(r, "reason"))))
            changed++;
    }
    pthread_mutex_unlock(&e->mu);
    if (changed && exec_sync(e) != 0)
        return EXEC_E_STORAGE;
    return changed;
}

/* A copy of the table's persisted state; caller holds e->mu. -1 when out
 * of memory (img untouched). The records share their JSON with the table:
 * job and report objects are never modified once stored, only replaced. */
static int image_locked(const executor *e, exec_image *img)
{
    exec_image c;
    memset(&c, 0, sizeof c);
    snprintf(c.unit_id, sizeof c.unit_id, "%s", e->cfg.id);
    c.report_counter = e->report_counter;
    c.next_seq = e->next_seq;
    vclock_copy(&c.seen, &e->seen);
    c.v = calloc(e->n ? e->n : 1, sizeof *c.v);
    if (!c.v)
        return -1;
    for (; c.n < e->n; c.n++) {
        c.v[c.n] = asg_dup(e->v[c.n]);
        if (!c.v[c.n]) {
            exec_image_release(&c);
            return -1;
        }
    }
    *img = c;
    return 0;
}

int exec_sync(executor *e)
{
    int rc = 0;
    pthread_mutex_lock(&e->save_mu);
    pthread_mutex_lock(&e->mu);
    uint64_t gen = e->gen;
    if (gen == e->saved_gen) {
        pthread_mutex_unlock(&e->mu);
        pthread_mutex_unlock(&e->save_mu);
        return 0;
    }
    exec_image img;
    int irc = image_locked(e, &img);
    pthread_mutex_unlock(&e->mu);
    /* Serialization and the disk write happen without the state lock, so
     * heartbeats and reads are never held up by fsync. */
    if (irc != 0 || store_save(e->cfg.data_dir, &img) != 0) {
        service_log("error", "cannot persist assignments in %s: %s", e->cfg.data_dir,
                    irc != 0 ? "out of memory" : strerror(errno));
        rc = EXEC_E_STORAGE;
    } else {
        e->saved_gen = gen;
    }
    if (irc == 0)
        exec_image_release(&img);
    pthread_mutex_unlock(&e->save_mu);
    return rc;
}

int exec_load(executor *e, char *err, size_t errlen)
{
    exec_image img;
    if (store_load(e->cfg.data_dir, e->cfg.id, &img, err, errlen) != 0)
        return -1;
    pthread_mutex_lock(&e->mu);
    if (e->n != 0 || img.n > EXEC_MAX_ASSIGNMENTS) {
        pthread_mutex_unlock(&e->mu);
        exec_image_release(&img);
        snprintf(err, errlen, "internal: loading into a table that is not empty");
        return -1;
    }
    /* The records move into the table (a first start has none, and no
     * array either). */
    if (img.n)
        memcpy(e->v, img.v, img.n * sizeof *img.v);
    e->n = img.n;
    e->report_counter = img.report_counter;
    e->next_seq = img.next_seq;
    vclock_copy(&e->seen, &img.seen);
    /* What is on disk needs no write. */
    e->saved_gen = e->gen;
    pthread_mutex_unlock(&e->mu);
    img.n = 0;
    exec_image_release(&img);
    return 0;
}
