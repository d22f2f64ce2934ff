/* Recovery from the store (see restore.h). */
#include "restore.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "emergency.h"
#include "json_fields.h"
#include "peers.h"
#include "views.h"

static int copy_id(char *dst, const char *src)
{
    if (!coord_id_valid(src))
        return -1;
    snprintf(dst, COORD_ID_MAX + 1, "%s", src);
    return 0;
}

/* A stored JSON text kept as it is; NULL stays NULL. */
static int copy_text(char **dst, const char *src)
{
    *dst = src ? strdup(src) : NULL;
    return src && !*dst ? -1 : 0;
}

static int unit_row(void *arg, const store_unit_row *r)
{
    state *s = arg;
    unit *u;

    if (!coord_id_valid(r->id) || state_unit(s, r->id) || !r->url ||
        strlen(r->url) >= BROKER_URL_MAX || r->capacity < 0 || r->capacity > UINT32_MAX)
        return -1;
    u = state_add_unit(s, r->id);
    if (!u || copy_id(u->kind, r->kind) < 0 || capstext_parse(r->caps, s->strings, &u->caps) < 0)
        return -1;
    snprintf(u->url, sizeof(u->url), "%s", r->url);
    u->capacity = (uint32_t)r->capacity;
    u->registered_ms = (uint64_t)r->registered_ms;
    /* A new unit is serving; out of service is a legal step from there. */
    return unit_set_cond(&u->cond, r->out_of_service ? UNIT_COND_OFF : UNIT_COND_SERVING);
}

static int job_row(void *arg, const store_job_row *r)
{
    state *s = arg;
    job *j;

    if (!coord_id_valid(r->id) || state_job(s, r->id) || r->severity < 0 || r->severity > 3 ||
        r->status_int < 0 || r->status_int > 3)
        return -1;
    j = state_add_job(s, r->id);
    if (!j || copy_id(j->type, r->type) < 0 || severity_from_int((int)r->severity, &j->sev) < 0 ||
        capstext_parse(r->caps, s->strings, &j->caps) < 0 ||
        job_status_from_int((int)r->status_int, &j->status) < 0 ||
        copy_text(&j->location, r->location) < 0 || copy_text(&j->payload, r->payload) < 0)
        return -1;
    j->request_digest = (uint64_t)r->request_digest;
    j->seq = (uint64_t)r->seq;
    j->created_ms = (uint64_t)r->created_ms;
    j->updated_ms = (uint64_t)r->updated_ms;
    return 0;
}

static int attempt_row(void *arg, const store_attempt_row *r)
{
    state *s = arg;
    job *j = state_job(s, r->job_id);
    attempt a;

    if (!j)
        return 0; /* an orphan row: nothing shows it */
    memset(&a, 0, sizeof(a));
    if (r->n < 1 || r->n > UINT32_MAX || r->state_int < 0 || r->state_int > 3 ||
        copy_id(a.unit_id, r->unit_id) < 0 || copy_id(a.unit_district, r->unit_district) < 0 ||
        attempt_state_from_int((int)r->state_int, &a.state) < 0 ||
        (r->clock && clocktext_parse(r->clock, s->strings, &a.clock) < 0))
        return -1;
    a.n = (uint32_t)r->n;
    a.notified = r->notified;
    a.at_ms = (uint64_t)r->at_ms;
    if (job_add_attempt(j, &a) < 0) {
        cclock_release(&a.clock, s->strings);
        return -1;
    }
    return 0;
}

static int result_row(void *arg, const store_result_row *r)
{
    state *s = arg;
    job *j = state_job(s, r->job_id);
    result *res;

    if (!j || j->res)
        return 0;
    if (r->attempt < 1 || r->attempt > UINT32_MAX)
        return -1;
    res = calloc(1, sizeof(*res));
    if (!res)
        return -1;
    j->res = res; /* freed with the job if the rest does not read */
    if (copy_id(res->unit_id, r->unit_id) < 0 || copy_id(res->outcome, r->outcome) < 0 ||
        copy_text(&res->data, r->data ? r->data : "{}") < 0)
        return -1;
    res->attempt = (uint32_t)r->attempt;
    res->digest = (uint64_t)r->digest;
    res->at_ms = (uint64_t)r->at_ms;
    return 0;
}

static const store_rows district_rows = {unit_row, job_row, attempt_row, result_row};

static void merge_clock_text(vclock *clock, const char *text)
{
    json_t *j = text ? json_loads(text, 0, NULL) : NULL;
    vclock tmp;
    field_error fe;

    if (j && vclock_from_json(j, &tmp, &fe) == 0)
        (void)vclock_merge(clock, &tmp);
    json_decref(j);
}

/* The newest event: its clock is the clock we stopped with (every state
 * change is an event stamped with the clock after it) and its seq the
 * last one written. */
static void last_event(void *arg, const store_event *ev)
{
    broker *b = arg;

    b->event_seq = ev->seq;
    merge_clock_text(&b->clock, ev->vclock);
}

static int restore_claim(void *arg, const store_claim *c)
{
    broker *b = arg;

    return state_restore_claim(&b->st, c->unit_id, c->job_id, c->attempt, c->owner) < 0 ? -1 : 0;
}

/* A synced copy kept on disk; gen 0, so the first full pull of its peer
 * replaces or sweeps it. A copy that no longer reads is skipped: the next
 * pull brings it again. */
static int restore_copy(void *arg, const store_remote *r)
{
    broker *b = arg;
    json_t *o;

    if (!coord_id_valid(r->id) || !coord_id_valid(r->owner) || !r->obj)
        return 0;
    o = json_loads(r->obj, 0, NULL);
    if (r->kind == 'u') {
        runit u;

        if (view_parse_unit(o, b->st.strings, r->owner, r->fetched_ms, 0, &u) == 0)
            (void)remote_put_unit(&b->rem, &u);
    } else if (r->kind == 'j') {
        rjob j;

        if (view_parse_job(o, b->st.strings, r->owner, r->fetched_ms, 0, &j) == 0)
            (void)remote_put_job(&b->rem, &j);
    }
    json_decref(o);
    return 0;
}

int restore_broker(broker *b, const char *path, char *err, size_t errlen)
{
    struct store *st = &b->store;
    char vc[8192];

    /* Older data dirs also kept the clock in meta; take the larger. */
    if (st->get_meta(st->cls, "vclock", vc, sizeof(vc)) == 0)
        merge_clock_text(&b->clock, vc);
    if (st->last_event(st->cls, last_event, b) < 0 ||
        st->load(st->cls, &district_rows, &b->st) < 0 ||
        state_recover(&b->st, coord_now_mono_ms()) < 0 ||
        st->list_claims(st->cls, restore_claim, b) < 0 ||
        st->list_remote(st->cls, restore_copy, b) < 0 || emergency_load(b) < 0 ||
        peers_load(b) < 0) {
        snprintf(err, errlen, "cannot load state from %s", path);
        return -1;
    }
    return 0;
}
