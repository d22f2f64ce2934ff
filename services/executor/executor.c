/* The executor's state: the assignment set and its rules (capacity, newer
 * attempts replace older ones, revoke marking, the 1024-entry cap). Every
 * operation changes memory under e->mu, then persists with exec_sync before
 * it reports success, so a 2xx always means "on disk". */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "executor.h"

void exec_format_time(uint64_t wall_ms, char *buf, size_t len)
{
    time_t t = (time_t)(wall_ms / 1000);
    struct tm tm;
    if (!gmtime_r(&t, &tm) || strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(buf, len, "1970-01-01T00:00:00Z");
}

void exec_deadline(struct timespec *ts, uint64_t ms_from_now)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    uint64_t ns = (uint64_t)ts->tv_nsec + (ms_from_now % 1000) * 1000000ULL;
    ts->tv_sec += (time_t)(ms_from_now / 1000) + (time_t)(ns / 1000000000ULL);
    ts->tv_nsec = (long)(ns % 1000000000ULL);
}

static int cond_init_mono(pthread_cond_t *c)
{
    pthread_condattr_t attr;
    if (pthread_condattr_init(&attr) != 0)
        return -1;
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    int rc = pthread_cond_init(c, &attr);
    pthread_condattr_destroy(&attr);
    return rc == 0 ? 0 : -1;
}

int exec_init(executor *e, const exec_config *cfg)
{
    memset(e, 0, sizeof *e);
    e->cfg = *cfg;
    e->v = calloc(EXEC_MAX_ASSIGNMENTS, sizeof *e->v);
    if (!e->v)
        return EXEC_E_NOMEM;
    pthread_mutex_init(&e->mu, NULL);
    pthread_mutex_init(&e->save_mu, NULL);
    pthread_mutex_init(&e->metrics_mu, NULL);
    if (cond_init_mono(&e->link_cond) != 0 || cond_init_mono(&e->sim_cond) != 0) {
        free(e->v);
        e->v = NULL;
        return EXEC_E_NOMEM;
    }
    e->next_seq = 1;
    return EXEC_OK;
}

void asg_free(assignment *a)
{
    if (!a)
        return;
    json_decref(a->job);
    json_decref(a->report);
    free(a);
}

void exec_release(executor *e)
{
    if (!e || !e->v)
        return;
    for (size_t i = 0; i < e->n; i++)
        asg_free(e->v[i]);
    free(e->v);
    e->v = NULL;
    e->n = 0;
    pthread_cond_destroy(&e->link_cond);
    pthread_cond_destroy(&e->sim_cond);
    pthread_mutex_destroy(&e->mu);
    pthread_mutex_destroy(&e->save_mu);
    pthread_mutex_destroy(&e->metrics_mu);
}

assignment *exec_find_locked(executor *e, const char *job_id)
{
    for (size_t i = 0; i < e->n; i++) {
        if (strcmp(e->v[i]->job_id, job_id) == 0)
            return e->v[i];
    }
    return NULL;
}

static size_t count_locked(const executor *e, asg_state s)
{
    size_t c = 0;
    for (size_t i = 0; i < e->n; i++)
        c += e->v[i]->state == s;
    return c;
}

size_t exec_count(executor *e, asg_state s)
{
    pthread_mutex_lock(&e->mu);
    size_t c = count_locked(e, s);
    pthread_mutex_unlock(&e->mu);
    return c;
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

json_t *asg_to_json(const assignment *a, bool internal)
{
    char when[32];
    exec_format_time(a->received_ms, when, sizeof when);
    json_t *o = json_pack("{s:s, s:I, s:s, s:s, s:O, s:s, s:o, s:s, s:O}", "job_id", a->job_id,
                          "attempt", (json_int_t)a->attempt, "owner", a->owner, "owner_url",
                          a->owner_url, "job", a->job ? a->job : json_null(), "state",
                          asg_state_str(a->state), "vclock", vclock_to_json(&a->vc), "received_at",
                          when, "report", a->report ? a->report : json_null());
    if (!o)
        return NULL;
    if (a->revoke_reason[0])
        json_object_set_new(o, "revoke_reason", json_string(a->revoke_reason));
    if (internal) {
        json_object_set_new(o, "received_ms", json_integer((json_int_t)a->received_ms));
        json_object_set_new(o, "seq", json_integer((json_int_t)a->seq));
    }
    return o;
}

static void emit_locked(const assignment *a, json_t **out, vclock *vc_out)
{
    if (out)
        *out = asg_to_json(a, false);
    if (vc_out)
        vclock_copy(vc_out, &a->vc);
}

int exec_assign(executor *e, const asg_input *in, json_t **out, vclock *vc_out)
{
    if (out)
        *out = NULL;
    pthread_mutex_lock(&e->mu);
    assignment *held = exec_find_locked(e, in->job_id);
    if (held && held->attempt == in->attempt) {
        emit_locked(held, out, vc_out);
        pthread_mutex_unlock(&e->mu);
        /* The first answer may have failed to persist: make sure it is. */
        return exec_sync(e) == 0 ? EXEC_OK : EXEC_E_STORAGE;
    }
    if (held && held->attempt > in->attempt) {
        emit_locked(held, out, vc_out);
        pthread_mutex_unlock(&e->mu);
        return EXEC_E_STALE;
    }
    /* A newer attempt replaces the old one and takes its slot. */
    size_t active = count_locked(e, ASG_ACTIVE) - (held && held->state == ASG_ACTIVE ? 1 : 0);
    if (active >= e->cfg.capacity) {
        pthread_mutex_unlock(&e->mu);
        return EXEC_E_CAPACITY;
    }
    assignment *a = calloc(1, sizeof *a);
    if (!a) {
        pthread_mutex_unlock(&e->mu);
        return EXEC_E_NOMEM;
    }
    snprintf(a->job_id, sizeof a->job_id, "%s", in->job_id);
    a->attempt = in->attempt;
    snprintf(a->owner, sizeof a->owner, "%s", in->owner);
    snprintf(a->owner_url, sizeof a->owner_url, "%s", in->owner_url);
    a->job = json_incref(in->job);
    a->state = ASG_ACTIVE;
    if (in->has_vc)
        vclock_copy(&a->vc, &in->vc);
    else
        vclock_init(&a->vc);
    a->received_ms = coord_now_wall_ms();
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
    if (exec_sync(e) != 0) {
        if (out) {
            json_decref(*out);
            *out = NULL;
        }
        return EXEC_E_STORAGE;
    }
    return EXEC_CREATED;
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
    if (a->state == ASG_ACTIVE && (attempt <= 0 || a->attempt <= attempt)) {
        a->state = ASG_REVOKED;
        if (reason && coord_id_valid(reason))
            snprintf(a->revoke_reason, sizeof a->revoke_reason, "%s", reason);
        e->gen++;
    }
    emit_locked(a, out, vc_out);
    pthread_mutex_unlock(&e->mu);
    if (exec_sync(e) != 0) {
        if (out) {
            json_decref(*out);
            *out = NULL;
        }
        return EXEC_E_STORAGE;
    }
    return EXEC_OK;
}

int exec_get(executor *e, const char *job_id, json_t **out)
{
    pthread_mutex_lock(&e->mu);
    assignment *a = exec_find_locked(e, job_id);
    if (a)
        *out = asg_to_json(a, false);
    pthread_mutex_unlock(&e->mu);
    return a ? EXEC_OK : EXEC_E_NOTFOUND;
}

json_t *exec_list_json(executor *e)
{
    json_t *arr = json_array();
    pthread_mutex_lock(&e->mu);
    for (size_t i = 0; arr && i < e->n; i++)
        json_array_append_new(arr, asg_to_json(e->v[i], false));
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
            json_array_append_new(jobs, json_pack("{s:s, s:I}", "job_id", a->job_id, "attempt",
                                                  (json_int_t)a->attempt));
    }
    pthread_mutex_unlock(&e->mu);
    return json_pack("{s:o}", "jobs", jobs ? jobs : json_array());
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
        if (!coord_id_valid(job_id) || !json_is_integer(att))
            continue;
        assignment *a = exec_find_locked(e, job_id);
        if (a && a->state == ASG_ACTIVE && a->attempt <= json_integer_value(att)) {
            a->state = ASG_REVOKED;
            const char *reason = json_string_value(json_object_get(r, "reason"));
            if (coord_id_valid(reason))
                snprintf(a->revoke_reason, sizeof a->revoke_reason, "%s", reason);
            changed++;
        }
    }
    if (changed)
        e->gen++;
    pthread_mutex_unlock(&e->mu);
    if (changed && exec_sync(e) != 0)
        return EXEC_E_STORAGE;
    return changed;
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
    json_t *snap = store_snapshot_locked(e);
    pthread_mutex_unlock(&e->mu);
    /* Serialization and the disk write happen without the state lock, so
     * heartbeats and reads are never held up by fsync. */
    char *text = snap ? json_dumps(snap, JSON_COMPACT) : NULL;
    json_decref(snap);
    if (!text || store_write(e->cfg.data_dir, text, strlen(text)) != 0) {
        service_log("error", "cannot persist assignments in %s: %s", e->cfg.data_dir,
                    text ? strerror(errno) : "out of memory");
        rc = EXEC_E_STORAGE;
    } else {
        e->saved_gen = gen;
    }
    free(text);
    pthread_mutex_unlock(&e->save_mu);
    return rc;
}

/* Wakes both threads through their condition variables (no sleeps to
 * wait out) and joins them. */
bool exec_threads_stop(executor *e)
{
    pthread_mutex_lock(&e->mu);
    e->stopping = true;
    pthread_cond_broadcast(&e->link_cond);
    pthread_cond_broadcast(&e->sim_cond);
    pthread_mutex_unlock(&e->mu);
    bool all = true;
    pthread_t *threads[2] = {e->link_started ? &e->link_thread : NULL,
                             e->sim_started ? &e->sim_thread : NULL};
    for (int i = 0; i < 2; i++) {
        if (!threads[i])
            continue;
        /* A thread may be inside one bounded network call; do not let a
         * black-holed broker hold shutdown for long. */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += 3;
        if (pthread_timedjoin_np(*threads[i], NULL, &ts) != 0)
            all = false;
    }
    e->link_started = e->sim_started = false;
    return all;
}
