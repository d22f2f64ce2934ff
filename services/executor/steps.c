/* The crew's status steps at the terminal and their outbox (steps.h). */
#include "steps.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api.h"
#include "executor.h"
#include "store.h"
#include "table.h"

#define STEP_BACKOFF_MIN_MS 200
#define STEP_BACKOFF_MAX_MS 5000

/* Where the unit stands on one job (its latest attempt held). */
typedef struct step_record {
    char job_id[COORD_ID_MAX + 1];
    int64_t attempt;
    unit_step cur;
    uint64_t at[UST_NSTEPS]; /* wall ms; 0: not taken */
    uint64_t seq;            /* for eviction: the oldest goes first */
} step_record;

/* One step on its way to the home broker. */
typedef struct step_entry {
    char job_id[COORD_ID_MAX + 1];
    int64_t attempt;
    unit_step step;
    uint64_t at, dispatched_at;
} step_entry;

struct exec_steps {
    pthread_mutex_t mu;
    pthread_cond_t cond; /* CLOCK_MONOTONIC */
    step_record *rec;    /* nrec of EXEC_MAX_ASSIGNMENTS */
    size_t nrec;
    step_entry *q; /* qn of EXEC_STEPS_OUTBOX_MAX, oldest first */
    size_t qn;
    uint64_t next_seq;
    uint64_t delivered, dropped;
    bool stopping, started;
    pthread_t thr;
};

/* ---- the file ---- */

static json_t *times_json(const uint64_t at[UST_NSTEPS])
{
    json_t *o = json_object();

    for (int i = 0; o && i < UST_NSTEPS; i++)
        if (at[i])
            json_object_set_new(o, unit_step_str((unit_step)i), json_integer((json_int_t)at[i]));
    return o;
}

static json_t *file_json(const executor *e, const exec_steps *s)
{
    json_t *recs = json_array(), *q = json_array();

    for (size_t i = 0; recs && i < s->nrec; i++) {
        const step_record *r = &s->rec[i];

        json_array_append_new(recs,
                              json_pack("{s:s, s:I, s:s, s:o, s:I}", "job_id", r->job_id, "attempt",
                                        (json_int_t)r->attempt, "status", unit_step_str(r->cur),
                                        "times_ms", times_json(r->at), "seq", (json_int_t)r->seq));
    }
    for (size_t i = 0; q && i < s->qn; i++) {
        const step_entry *x = &s->q[i];

        json_array_append_new(q, json_pack("{s:s, s:I, s:s, s:I, s:I}", "job_id", x->job_id,
                                           "attempt", (json_int_t)x->attempt, "status",
                                           unit_step_str(x->step), "at", (json_int_t)x->at,
                                           "dispatched_at", (json_int_t)x->dispatched_at));
    }
    return json_pack("{s:i, s:s, s:o*, s:o*}", "format", EXEC_STEPS_FORMAT, "unit_id", e->cfg.id,
                     "records", recs, "outbox", q);
}

/* Caller holds s->mu. 0 or EXEC_E_STORAGE. */
static int save_locked(executor *e, exec_steps *s)
{
    json_t *root = file_json(e, s);
    int rc = store_write_json(e->cfg.data_dir, EXEC_STEPS_FILE, root);

    json_decref(root);
    return rc == 0 ? 0 : EXEC_E_STORAGE;
}

static int get_u64(const json_t *o, const char *key, uint64_t *out)
{
    const json_t *v = json_object_get(o, key);

    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return -1;
    *out = (uint64_t)json_integer_value(v);
    return 0;
}

static int get_job(const json_t *o, char *job_id, int64_t *attempt, unit_step *step)
{
    const char *id = json_string_value(json_object_get(o, "job_id"));
    const json_t *n = json_object_get(o, "attempt");

    if (!coord_id_valid(id) || !json_is_integer(n) || json_integer_value(n) < 1 ||
        unit_step_parse(json_string_value(json_object_get(o, "status")), step) != COORD_OK)
        return -1;
    snprintf(job_id, COORD_ID_MAX + 1, "%s", id);
    *attempt = json_integer_value(n);
    return 0;
}

static int parse_file(const json_t *root, const executor *e, exec_steps *s, char *err,
                      size_t errlen)
{
    const json_t *recs = json_object_get(root, "records"), *q = json_object_get(root, "outbox");
    const char *unit = json_string_value(json_object_get(root, "unit_id"));
    const json_t *v;
    size_t i;

    if (json_integer_value(json_object_get(root, "format")) != EXEC_STEPS_FORMAT) {
        snprintf(err, errlen, "not a format %d status file", EXEC_STEPS_FORMAT);
        return -1;
    }
    if (!unit || strcmp(unit, e->cfg.id) != 0) {
        snprintf(err, errlen, "belongs to unit %s, not %s", unit ? unit : "?", e->cfg.id);
        return -1;
    }
    if (!json_is_array(recs) || json_array_size(recs) > EXEC_MAX_ASSIGNMENTS || !json_is_array(q) ||
        json_array_size(q) > EXEC_STEPS_OUTBOX_MAX) {
        snprintf(err, errlen, "records or outbox missing or too long");
        return -1;
    }
    json_array_foreach (recs, i, v) {
        step_record *r = &s->rec[s->nrec];
        const json_t *t = json_object_get(v, "times_ms");

        if (get_job(v, r->job_id, &r->attempt, &r->cur) < 0 || get_u64(v, "seq", &r->seq) < 0 ||
            !json_is_object(t))
            goto bad;
        for (int k = 0; k < UST_NSTEPS; k++)
            if (json_object_get(t, unit_step_str((unit_step)k)) &&
                get_u64(t, unit_step_str((unit_step)k), &r->at[k]) < 0)
                goto bad;
        if (r->seq >= s->next_seq)
            s->next_seq = r->seq + 1;
        s->nrec++;
    }
    json_array_foreach (q, i, v) {
        step_entry *x = &s->q[s->qn];

        if (get_job(v, x->job_id, &x->attempt, &x->step) < 0 || get_u64(v, "at", &x->at) < 0 ||
            get_u64(v, "dispatched_at", &x->dispatched_at) < 0)
            goto bad;
        s->qn++;
    }
    return 0;
bad:
    snprintf(err, errlen, "entry %zu is not valid", i);
    return -1;
}

int exec_steps_open(executor *e, char *err, size_t errlen)
{
    char path[EXEC_PATH_MAX + 64];
    exec_steps *s = calloc(1, sizeof(*s));

    if (!s || !(s->rec = calloc(EXEC_MAX_ASSIGNMENTS, sizeof(*s->rec))) ||
        !(s->q = calloc(EXEC_STEPS_OUTBOX_MAX, sizeof(*s->q)))) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if (pthread_mutex_init(&s->mu, NULL) != 0 || exec_cond_init_mono(&s->cond) != 0) {
        snprintf(err, errlen, "cannot make the status lock");
        goto fail;
    }
    s->next_seq = 1;
    snprintf(path, sizeof(path), "%s/%s", e->cfg.data_dir, EXEC_STEPS_FILE);
    if (access(path, F_OK) == 0 || errno != ENOENT) {
        json_error_t jerr;
        json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
        char why[256];

        if (!root) {
            snprintf(err, errlen, "%s: %s (line %d)", path, jerr.text, jerr.line);
            goto fail;
        }
        int rc = parse_file(root, e, s, why, sizeof(why));
        json_decref(root);
        if (rc < 0) {
            snprintf(err, errlen, "%s: %s", path, why);
            goto fail;
        }
    }
    e->steps = s;
    return 0;
fail:
    if (s) {
        free(s->rec);
        free(s->q);
    }
    free(s);
    return -1;
}

void exec_steps_free(executor *e)
{
    exec_steps *s = e ? e->steps : NULL;

    if (!s)
        return;
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cond);
    free(s->rec);
    free(s->q);
    free(s);
    e->steps = NULL;
}

/* ---- the crew's step ---- */

static step_record *find_rec(exec_steps *s, const char *job_id)
{
    for (size_t i = 0; i < s->nrec; i++)
        if (strcmp(s->rec[i].job_id, job_id) == 0)
            return &s->rec[i];
    return NULL;
}

/* A fresh record for job_id; the oldest one makes room when full (its
 * job is long gone from the table, which keeps as many). */
static step_record *add_rec(exec_steps *s, const char *job_id, int64_t attempt)
{
    step_record *r;

    if (s->nrec == EXEC_MAX_ASSIGNMENTS) {
        size_t old = 0;

        for (size_t i = 1; i < s->nrec; i++)
            if (s->rec[i].seq < s->rec[old].seq)
                old = i;
        s->rec[old] = s->rec[--s->nrec];
    }
    r = &s->rec[s->nrec++];
    memset(r, 0, sizeof(*r));
    snprintf(r->job_id, sizeof(r->job_id), "%s", job_id);
    r->attempt = attempt;
    return r;
}

static size_t queued_for(const exec_steps *s, const char *job_id)
{
    size_t n = 0;

    for (size_t i = 0; i < s->qn; i++)
        n += strcmp(s->q[i].job_id, job_id) == 0;
    return n;
}

/* Caller holds s->mu; r NULL: dispatched, nothing taken yet. */
static json_t *view_locked(const exec_steps *s, const char *job_id, int64_t attempt,
                           const step_record *r)
{
    static const uint64_t none[UST_NSTEPS];

    return json_pack("{s:s, s:I, s:s, s:o, s:I}", "job_id", job_id, "attempt", (json_int_t)attempt,
                     "status", unit_step_str(r ? r->cur : UST_DISPATCHED), "times_ms",
                     times_json(r ? r->at : none), "undelivered",
                     (json_int_t)queued_for(s, job_id));
}

int exec_step(executor *e, const char *job_id, unit_step to, uint64_t at_ms, json_t **view,
              unit_step *cur, bool *ended)
{
    exec_steps *s = e->steps;
    int64_t attempt;
    asg_state held;
    uint64_t dispatched_at;

    pthread_mutex_lock(&e->mu);
    assignment *a = exec_find_locked(e, job_id);
    if (!a) {
        pthread_mutex_unlock(&e->mu);
        return EXEC_E_NOTFOUND;
    }
    attempt = a->attempt;
    held = a->state;
    dispatched_at = a->received_ms;
    pthread_mutex_unlock(&e->mu);

    pthread_mutex_lock(&s->mu);
    step_record *r = find_rec(s, job_id);
    /* A newer attempt of the job is a new dispatch: it starts over. */
    bool fresh = !r || r->attempt != attempt;
    unit_step from = fresh ? UST_DISPATCHED : r->cur;
    int rc;

    if (to == from && (to == UST_DISPATCHED || r->at[to])) {
        rc = EXEC_OK;
    } else if (unit_step_check(from, to) != COORD_OK || (held != ASG_ACTIVE && to != UST_CLEARED)) {
        *cur = from;
        *ended = held != ASG_ACTIVE && unit_step_check(from, to) == COORD_OK;
        pthread_mutex_unlock(&s->mu);
        return EXEC_E_INVAL;
    } else if (s->qn == EXEC_STEPS_OUTBOX_MAX) {
        pthread_mutex_unlock(&s->mu);
        return EXEC_E_CAPACITY;
    } else {
        step_record before = r ? *r : (step_record){0};
        bool added = !r;

        if (!r)
            r = add_rec(s, job_id, attempt);
        if (fresh) {
            memset(r->at, 0, sizeof(r->at));
            r->attempt = attempt;
            r->cur = UST_DISPATCHED;
        }
        if (!r->at[UST_DISPATCHED])
            r->at[UST_DISPATCHED] = dispatched_at;
        r->at[to] = at_ms;
        r->cur = to;
        r->seq = s->next_seq++;
        step_entry *x = &s->q[s->qn++];
        memset(x, 0, sizeof(*x));
        snprintf(x->job_id, sizeof(x->job_id), "%s", job_id);
        x->attempt = attempt;
        x->step = to;
        x->at = at_ms;
        x->dispatched_at = dispatched_at;
        rc = save_locked(e, s);
        if (rc != 0) {
            /* Nothing acknowledged: memory goes back to what the disk has. */
            s->qn--;
            if (added)
                s->nrec--;
            else
                *r = before;
            pthread_mutex_unlock(&s->mu);
            return EXEC_E_STORAGE;
        }
        rc = EXEC_CREATED;
        pthread_cond_signal(&s->cond);
    }
    if (view)
        *view = view_locked(s, job_id, attempt, r && r->attempt == attempt ? r : NULL);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

void exec_steps_counts(executor *e, size_t *queued, uint64_t *delivered, uint64_t *dropped)
{
    exec_steps *s = e->steps;

    pthread_mutex_lock(&s->mu);
    *queued = s->qn;
    *delivered = s->delivered;
    *dropped = s->dropped;
    pthread_mutex_unlock(&s->mu);
}

/* ---- forwarding ---- */

typedef enum send_verdict { SEND_DONE = 0, SEND_RETRY, SEND_DROP } send_verdict;

/* One try at the home broker's leader (used: the URL it went to), no lock
 * held. A step is safe to send twice: the broker answers an exact retry
 * with 200. */
static send_verdict send_step(executor *e, const step_entry *x, char *why, size_t whylen,
                              char *used)
{
    char path[2 * COORD_ID_MAX + 64];
    json_t *body = json_pack("{s:I, s:s, s:I}", "attempt", (json_int_t)x->attempt, "status",
                             unit_step_str(x->step), "at", (json_int_t)x->at);
    leader_call_opts opts = {.http = {.connect_timeout_ms = 1000, .timeout_ms = 3000}};
    http_reply rep;
    send_verdict v;

    if (body && x->dispatched_at)
        json_object_set_new(body, "dispatched_at", json_integer((json_int_t)x->dispatched_at));
    snprintf(path, sizeof(path), "/v1/units/%s/assignments/%s/status", e->cfg.id, x->job_id);
    memset(&rep, 0, sizeof(rep));
    if (!body ||
        (leader_call(&e->home, "POST", path, body, &opts, &rep, used, LEADER_URL_MAX) != 0 &&
         (rep.status == 0 || (rep.status >= 300 && rep.status < 400))) ||
        rep.status == 0) {
        snprintf(why, whylen, "%s", rep.error[0] ? rep.error : "transport error");
        v = SEND_RETRY;
    } else if (rep.status >= 200 && rep.status < 300) {
        v = SEND_DONE;
    } else {
        const char *msg =
            json_string_value(json_object_get(json_object_get(rep.body, "error"), "message"));

        snprintf(why, whylen, "HTTP %ld: %s", rep.status, msg ? msg : "no message");
        /* Retried: the broker is away, overloaded, or does not know the
         * unit until it registers again; or the credential is being fixed.
         * Anything else is the broker's final word on this step. */
        v = rep.status == 404 || rep.status == 408 || rep.status == 429 || rep.status == 401 ||
                    rep.status == 403 || rep.status >= 500
                ? SEND_RETRY
                : SEND_DROP;
    }
    http_reply_release(&rep);
    json_decref(body);
    return v;
}

static bool same_entry(const step_entry *a, const step_entry *b)
{
    return a->attempt == b->attempt && a->step == b->step && a->at == b->at &&
           strcmp(a->job_id, b->job_id) == 0;
}

static void *sender_main(void *arg)
{
    executor *e = arg;
    exec_steps *s = e->steps;
    uint64_t backoff = 0, next_try = 0;
    bool failing = false;

    pthread_mutex_lock(&s->mu);
    for (;;) {
        while (!s->stopping && (s->qn == 0 || coord_now_mono_ms() < next_try)) {
            if (s->qn == 0) {
                pthread_cond_wait(&s->cond, &s->mu);
            } else {
                struct timespec ts;

                exec_deadline(&ts, next_try - coord_now_mono_ms());
                (void)pthread_cond_timedwait(&s->cond, &s->mu, &ts);
            }
        }
        if (s->stopping)
            break;
        step_entry head = s->q[0];
        char why[320] = "", used[LEADER_URL_MAX] = "";

        pthread_mutex_unlock(&s->mu);
        send_verdict v = send_step(e, &head, why, sizeof(why), used);
        if (v == SEND_RETRY && !failing)
            service_log("warn", "job %s: status %s not delivered to broker %s (%s): retrying",
                        head.job_id, unit_step_str(head.step), used, why);
        else if (v == SEND_DROP)
            service_log("error", "job %s: broker %s refused status %s for good (%s): dropped",
                        head.job_id, used, unit_step_str(head.step), why);
        else if (v == SEND_DONE && failing)
            service_log("info", "broker %s takes status steps again", used);
        failing = v == SEND_RETRY;
        pthread_mutex_lock(&s->mu);
        if (v == SEND_RETRY) {
            backoff = backoff ? backoff * 2 : STEP_BACKOFF_MIN_MS;
            if (backoff > STEP_BACKOFF_MAX_MS)
                backoff = STEP_BACKOFF_MAX_MS;
            next_try = coord_now_mono_ms() + backoff;
            continue;
        }
        backoff = next_try = 0;
        /* Only this thread removes entries, so the head is still ours. */
        if (s->qn && same_entry(&s->q[0], &head)) {
            memmove(&s->q[0], &s->q[1], (s->qn - 1) * sizeof(s->q[0]));
            s->qn--;
        }
        if (v == SEND_DONE)
            s->delivered++;
        else
            s->dropped++;
        /* When this write fails the step is sent again after a restart,
         * and the broker answers an exact retry with 200. */
        if (save_locked(e, s) != 0)
            service_log("error", "status outbox could not be written; a delivered step may be "
                                 "sent again");
    }
    pthread_mutex_unlock(&s->mu);
    http_client_thread_cleanup();
    return NULL;
}

int exec_steps_start(executor *e)
{
    if (pthread_create(&e->steps->thr, NULL, sender_main, e) != 0)
        return -1;
    e->steps->started = true;
    return 0;
}

bool exec_steps_stop(executor *e)
{
    exec_steps *s = e->steps;
    struct timespec ts;
    bool ok = true;

    if (!s || !s->started)
        return true;
    pthread_mutex_lock(&s->mu);
    s->stopping = true;
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->mu);
    /* At most one bounded call in flight; do not let it hold shutdown. */
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += 4;
    ok = pthread_timedjoin_np(s->thr, NULL, &ts) == 0;
    s->started = false;
    return ok;
}
