/* JSON views of the broker's objects, exactly the shapes of DESIGN.md §5,
 * and the parse of a peer's objects into typed copies. Own records and
 * copies print through the same builders, so both look alike. */
#include "views.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "geo_json.h"
#include "json_fields.h"
#include "leader_client.h"
#include "steps.h"

static json_t *caps_json(const capset *caps)
{
    json_t *a = json_array();

    for (uint32_t i = 0; a && i < caps->n; i++)
        json_array_append_new(a, json_string(caps->v[i]));
    return a;
}

/* Stored JSON text back to a value; NULL text -> JSON null. */
static json_t *stored_json(const char *text)
{
    json_t *v;

    if (!text)
        return json_null();
    v = json_loads(text, JSON_DECODE_ANY, NULL);
    /* Kept by an older build, which took any depth: inside a page it would
     * be too deep for a peer to read, and the whole page with it. */
    if (v && json_too_deep(v, API_JSON_DEPTH_MAX)) {
        json_decref(v);
        v = NULL;
    }
    return v ? v : json_null();
}

json_t *view_envelope(json_t *body, const vclock *clock)
{
    if (body && json_object_set_new(body, "vclock", vclock_to_json(clock)) < 0) {
        json_decref(body);
        return NULL;
    }
    return body;
}

json_t *view_one(const char *key, json_t *value, const vclock *clock)
{
    return view_envelope(json_pack("{s:o}", key, value), clock);
}

json_t *view_assignment(json_t *job_view, uint32_t attempt_no, const char *owner,
                        const char *owner_url, const vclock *clock)
{
    return view_envelope(json_pack("{s:o, s:i, s:s, s:s}", "job", job_view, "attempt",
                                   (int)attempt_no, "owner", owner, "owner_url", owner_url),
                         clock);
}

/* The unit shape; authoritative copies end here, synced ones go on. */
static json_t *unit_shape(const char *id, const char *kind, const capset *caps,
                          const char *district, unit_status st, json_t *jobs, const char *url,
                          uint32_t capacity, bool authoritative)
{
    return json_pack("{s:s, s:s, s:o, s:s, s:s, s:o, s:s, s:i, s:b}", "id", id, "kind", kind,
                     "capabilities", caps_json(caps), "district", district, "status",
                     unit_status_str(st), "jobs", jobs, "url", url, "capacity", (int)capacity,
                     "authoritative", authoritative);
}

static json_t *claim_shape(const char *job_id, uint32_t attempt_no, const char *owner)
{
    return json_pack("{s:s, s:i, s:s}", "job_id", job_id, "attempt", (int)attempt_no, "owner",
                     owner);
}

/* "station" and "fix" ({"lat","lon","age_ms"}), each left out when
 * unknown: where the ranking takes the unit to be (libcoord rank.h). */
static void set_position(json_t *o, const rank_position *p, uint64_t now_wall)
{
    if (!o)
        return;
    if (p->has_station)
        json_object_set_new(o, "station", geo_to_json(p->station));
    if (p->has_fix) {
        json_t *f = geo_to_json(p->fix);

        if (f)
            json_object_set_new(
                f, "age_ms",
                json_integer((json_int_t)(now_wall > p->fix_ms ? now_wall - p->fix_ms : 0)));
        json_object_set_new(o, "fix", f);
    }
}

/* What every object adds: its change version (0, not known, is left out). */
static json_t *versioned(json_t *o, uint64_t version)
{
    if (o && version)
        json_object_set_new(o, "version", json_integer((json_int_t)version));
    return o;
}

static json_t *step_times(const step_rec *r)
{
    json_t *o = json_object();

    for (int i = 0; o && r && i < UST_NSTEPS; i++)
        if (r->at[i])
            json_object_set_new(o, unit_step_str((unit_step)i), json_integer((json_int_t)r->at[i]));
    return o;
}

json_t *view_crew_status(const step_rec *r, const char *job_id, uint32_t attempt_no)
{
    return json_pack("{s:s, s:i, s:s, s:o}", "job_id", job_id, "attempt", (int)attempt_no, "status",
                     unit_step_str(r ? r->cur : UST_DISPATCHED), "times_ms", step_times(r));
}

/* The step a unit shows: of the attempts it holds, the one its crew
 * reported on last (the latest held when none reported); null when it
 * holds nothing. */
static json_t *unit_crew_status(const state *s, const unit *u)
{
    const held *best = NULL;
    const step_rec *best_r = NULL;
    uint64_t best_at = 0;

    for (uint32_t i = 0; i < u->load; i++) {
        const held *h = &u->held[i];
        const step_rec *r = h->pending ? NULL : state_steps(s, u->id, h->job_id, h->attempt);
        uint64_t at = r ? r->at[r->cur] : 0;

        if (h->pending || (best && at < best_at))
            continue;
        best = h;
        best_r = r;
        best_at = at;
    }
    return best ? view_crew_status(best_r, best->job_id, best->attempt) : json_null();
}

json_t *view_unit(const state *s, const unit *u, uint64_t now_wall)
{
    json_t *jobs = json_array(), *claims = json_array(), *o;

    for (uint32_t i = 0; jobs && claims && i < u->load; i++) {
        const held *h = &u->held[i];

        if (h->pending)
            continue;
        json_array_append_new(jobs, json_string(h->job_id));
        /* What the claiming district checks its borrowed attempt against. */
        if (h->foreign)
            json_array_append_new(claims, claim_shape(h->job_id, h->attempt, h->owner));
    }
    o = unit_shape(u->id, u->kind, &u->caps, s->self, unit_shown_status(u), jobs, u->url,
                   u->capacity, true);
    if (o) {
        json_object_set_new(
            o, "last_heartbeat_ms_ago",
            json_integer((json_int_t)(u->last_hb_wall_ms && now_wall > u->last_hb_wall_ms
                                          ? now_wall - u->last_hb_wall_ms
                                          : 0)));
        /* The home broker's own view of its terminal's address: false
         * while no work is sent to it (libcoord reach.h). */
        json_object_set_new(o, "reachable", json_boolean(!reach_unreachable(&u->reach)));
        json_object_set_new(o, "claims", claims);
        set_position(o, &u->pos, now_wall);
        json_object_set_new(o, "crew_status", unit_crew_status(s, u));
    } else {
        json_decref(claims);
    }
    return versioned(o, u->chg.version);
}

json_t *view_unit_compact(const state *s, const unit *u, uint64_t now_wall)
{
    json_t *o = json_pack("{s:s, s:s, s:o, s:s, s:s, s:i}", "id", u->id, "kind", u->kind,
                          "capabilities", caps_json(&u->caps), "status",
                          unit_status_str(unit_shown_status(u)), "url", u->url, "capacity",
                          (int)u->capacity);
    json_t *jobs = NULL, *claims = NULL;

    for (uint32_t i = 0; o && i < u->load; i++) {
        const held *h = &u->held[i];

        if (h->pending)
            continue;
        if (!jobs) {
            jobs = json_array();
            claims = json_array();
        }
        json_array_append_new(jobs, json_string(h->job_id));
        if (h->foreign)
            json_array_append_new(claims, claim_shape(h->job_id, h->attempt, h->owner));
    }
    /* Both lists or neither: a copy without "claims" is read by its job
     * list, which is then empty too, so it says the same. */
    if (o && jobs && claims) {
        json_object_set_new(o, "jobs", jobs);
        json_object_set_new(o, "claims", claims);
        /* The crew's step travels with what it holds (an owner reads a
         * borrowed unit's steps from this copy). */
        json_t *cs = unit_crew_status(s, u);
        if (cs && !json_is_null(cs))
            json_object_set_new(o, "crew_status", cs);
        else
            json_decref(cs);
    } else {
        json_decref(jobs);
        json_decref(claims);
    }
    /* Only what it has: mutual aid ranks the copy by its position. */
    set_position(o, &u->pos, now_wall);
    return versioned(o, u->chg.version);
}

/* What every synced copy adds to its shape. */
static json_t *synced(json_t *o, const char *from, uint64_t fetched, const peertab *peers,
                      uint64_t now_wall)
{
    uint64_t confirmed = peertab_confirmed_ms(peers, from);

    /* A successful pull confirms every copy of that peer, changed or not. */
    if (confirmed > fetched)
        fetched = confirmed;
    if (o) {
        json_object_set_new(o, "synced_from", json_string(from));
        json_object_set_new(
            o, "age_ms", json_integer((json_int_t)(now_wall > fetched ? now_wall - fetched : 0)));
    }
    return o;
}

json_t *view_remote_unit(const runit *u, const peertab *peers, uint64_t now_wall)
{
    json_t *jobs = json_array(), *o;

    for (uint32_t i = 0; jobs && i < u->njobs; i++)
        json_array_append_new(jobs, json_string(u->jobs[i]));
    o = unit_shape(u->id, u->kind, &u->caps, u->district, u->shown, jobs, u->url, u->capacity,
                   false);
    rank_position pos = runit_position(u);
    set_position(o, &pos, now_wall);
    if (o && u->last_hb_ago >= 0)
        json_object_set_new(o, "last_heartbeat_ms_ago", json_integer((json_int_t)u->last_hb_ago));
    if (o && u->has_claims) {
        json_t *claims = json_array();

        for (uint32_t i = 0; claims && i < u->nclaims; i++)
            json_array_append_new(
                claims, claim_shape(u->claims[i].job_id, u->claims[i].attempt, u->claims[i].owner));
        json_object_set_new(o, "claims", claims);
    }
    if (o && u->crew_status)
        json_object_set_new(o, "crew_status", stored_json(u->crew_status));
    return synced(versioned(o, u->version), u->from, u->fetched_wall_ms, peers, now_wall);
}

static json_t *result_shape(const char *unit_id, uint32_t attempt_no, const char *outcome,
                            const char *data)
{
    return json_pack("{s:s, s:i, s:s, s:o}", "unit_id", unit_id, "attempt", (int)attempt_no,
                     "outcome", outcome, "data", stored_json(data ? data : "{}"));
}

json_t *view_result(const result *r)
{
    return r ? result_shape(r->unit_id, r->attempt, r->outcome, r->data) : json_null();
}

/* "reason": why its unit was chosen (null: recorded before reasons were). */
static json_t *attempt_shape(uint32_t n, const char *unit_id, const char *district,
                             attempt_state st, const rank_reason *why)
{
    char text[RANK_REASON_MAX];

    rank_reason_text(why, text, sizeof(text));
    return json_pack("{s:i, s:s, s:s, s:s, s:o}", "attempt", (int)n, "unit_id", unit_id,
                     "district", district, "state", attempt_state_str(st), "reason",
                     text[0] ? json_string(text) : json_null());
}

/* The job shape; cur_unit NULL: never assigned. */
static json_t *job_shape(const char *id, const char *type, severity sev, const capset *caps,
                         const char *owner, job_status st, const char *cur_unit, uint32_t cur_n,
                         json_t *attempts, json_t *res, bool authoritative, const char *location,
                         const char *payload)
{
    return json_pack("{s:s, s:s, s:s, s:o, s:s, s:s, s:o, s:o, s:o, s:o, s:b, s:o, s:o}", "id", id,
                     "type", type, "severity", severity_str(sev), "required_capabilities",
                     caps_json(caps), "owner", owner, "status", job_status_str(st), "unit_id",
                     cur_unit ? json_string(cur_unit) : json_null(), "attempt",
                     cur_unit ? json_integer(cur_n) : json_null(), "attempts", attempts, "result",
                     res, "authoritative", authoritative, "location", stored_json(location),
                     "payload", stored_json(payload));
}

static void set_times(json_t *o, int64_t created_ms, int64_t updated_ms)
{
    if (!o)
        return;
    if (created_ms >= 0)
        json_object_set_new(o, "created_ms", json_integer((json_int_t)created_ms));
    if (updated_ms >= 0)
        json_object_set_new(o, "updated_ms", json_integer((json_int_t)updated_ms));
}

static const char *const line_why_names[] = {"queued", "no_capable_unit", "all_busy"};

/* The requirement lines of a multi-unit incident: each with the units on
 * it now (active attempts) and what is still missing, with why. */
static json_t *response_json(const job *j)
{
    json_t *lines = json_array();

    for (uint32_t l = 0; lines && l < j->nlines; l++) {
        const job_line *ln = &j->lines[l];
        json_t *assigned = json_array();
        uint32_t on = 0;

        for (size_t i = 0; assigned && i < j->nattempts; i++) {
            const attempt *a = &j->attempts[i];

            if (a->line != l || a->state != ATT_ACTIVE)
                continue;
            on++;
            json_array_append_new(assigned,
                                  json_pack("{s:s, s:s, s:i}", "unit_id", a->unit_id, "district",
                                            a->unit_district, "attempt", (int)a->n));
        }
        uint32_t unfilled = on < ln->count ? ln->count - on : 0;
        bool open = unfilled && (j->status == JOB_QUEUED || j->status == JOB_ASSIGNED);
        json_array_append_new(
            lines, json_pack("{s:o, s:i, s:o, s:i, s:o}", "capabilities", caps_json(&ln->caps),
                             "count", (int)ln->count, "assigned", assigned, "unfilled",
                             open ? (int)unfilled : 0, "reason",
                             open ? json_string(line_why_names[ln->why]) : json_null()));
    }
    return lines;
}

json_t *view_job(const state *s, const job *j)
{
    json_t *atts = json_array(), *o;
    const attempt *cur = NULL;

    for (size_t i = 0; atts && i < j->nattempts; i++) {
        const attempt *a = &j->attempts[i];
        json_t *ao;

        if (a->state == ATT_PENDING)
            continue;
        cur = a;
        ao = attempt_shape(a->n, a->unit_id, a->unit_district, a->state,
                           &a->why);
        /* The crew's steps are kept at the unit's home: here for our own
         * units, once the crew reported one; a borrowed unit shows its
         * steps in its synced copy. */
        const step_rec *r = attempt_is_local(s, a) ? state_steps(s, a->unit_id, j->id, a->n) : NULL;

        if (ao && r) {
            json_object_set_new(ao, "crew_status", json_string(unit_step_str(r->cur)));
            json_object_set_new(ao, "times_ms", step_times(r));
        }
        if (j->nlines && ao)
            json_object_set_new(ao, "line", json_integer(a->line));
        json_array_append_new(atts, ao);
    }
    o = job_shape(j->id, j->type, j->sev, &j->caps, s->self, j->status, cur ? cur->unit_id : NULL,
                  cur ? cur->n : 0, atts, view_result(j->res), true, j->location, j->payload);
    set_times(o, (int64_t)j->created_ms, (int64_t)j->updated_ms);
    /* One-line jobs keep today's shape: only an incident given lines
     * shows them. */
    if (o && j->nlines) {
        json_object_set_new(o, "response", response_json(j));
        json_object_set_new(o, "plan", j->plan ? json_string(j->plan) : json_null());
    }
    return versioned(o, j->chg.version);
}

json_t *view_job_assigned(const state *s, const job *j, uint32_t attempt_no)
{
    json_t *o = view_job(s, j);
    const attempt *a = job_attempt(j, attempt_no);

    /* The reservation is still pending, which view_job leaves out: the
     * unit is shown the job as it stands once it takes it. */
    if (!o || !a)
        return o;
    json_object_set_new(o, "status", json_string(job_status_str(JOB_ASSIGNED)));
    json_object_set_new(o, "unit_id", json_string(a->unit_id));
    json_object_set_new(o, "attempt", json_integer(a->n));
    json_t *ao = attempt_shape(a->n, a->unit_id, a->unit_district, ATT_ACTIVE, &a->why);
    if (ao && j->nlines)
        json_object_set_new(ao, "line", json_integer(a->line));
    json_array_append_new(json_object_get(o, "attempts"), ao);
    /* The unit (and a home broker lending it) checks what its line asks. */
    if (j->nlines && a->line < j->nlines) {
        json_object_set_new(o, "required_capabilities", caps_json(&j->lines[a->line].caps));
        json_object_set_new(o, "line", json_integer(a->line));
    }
    return o;
}

json_t *view_remote_job(const rjob *j, const peertab *peers, uint64_t now_wall)
{
    json_t *atts = json_array(), *o;
    const rattempt *cur = j->nattempts ? &j->attempts[j->nattempts - 1] : NULL;

    for (uint32_t i = 0; atts && i < j->nattempts; i++) {
        const rattempt *a = &j->attempts[i];

        json_array_append_new(atts,
                              attempt_shape(a->n, a->unit_id, a->district, a->state, &a->why));
    }
    o = job_shape(
        j->id, j->type, j->sev, &j->caps, j->owner, j->shown, cur ? cur->unit_id : NULL,
        cur ? cur->n : 0, atts,
        j->res ? result_shape(j->res->unit_id, j->res->attempt, j->res->outcome, j->res->data)
               : json_null(),
        false, j->location, j->payload);
    set_times(o, j->created_ms, j->updated_ms);
    if (o && j->response) {
        json_object_set_new(o, "response", stored_json(j->response));
        json_object_set_new(o, "plan", j->plan ? json_string(j->plan) : json_null());
    }
    return synced(versioned(o, j->version), j->from, j->fetched_wall_ms, peers, now_wall);
}

void view_iso_ms(uint64_t ms, char *buf, size_t len)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    size_t n;

    gmtime_r(&t, &tm);
    n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, len - n, ".%03uZ", (unsigned)(ms % 1000));
}

json_t *view_event(const store_event *ev)
{
    char ts[40];
    json_t *vc = json_loads(ev->vclock ? ev->vclock : "{}", 0, NULL);

    view_iso_ms(ev->time_ms, ts, sizeof(ts));
    return json_pack("{s:I, s:s, s:s, s:s, s:o, s:o, s:o, s:s, s:o}", "seq", (json_int_t)ev->seq,
                     "time", ts, "node", ev->node ? ev->node : "", "type",
                     ev->type ? ev->type : "", "job_id",
                     ev->job_id ? json_string(ev->job_id) : json_null(), "unit_id",
                     ev->unit_id ? json_string(ev->unit_id) : json_null(), "attempt",
                     ev->attempt ? json_integer(ev->attempt) : json_null(), "detail",
                     ev->detail ? ev->detail : "", "vclock", vc ? vc : json_object());
}

uint64_t view_parse_iso_ms(const char *s)
{
    struct tm tm = {0};
    const char *rest;
    unsigned ms = 0;
    time_t t;

    if (!s)
        return 0;
    rest = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    if (!rest)
        return 0;
    if (*rest == '.') {
        rest++;
        for (int i = 0; i < 3 && *rest >= '0' && *rest <= '9'; i++, rest++)
            ms = ms * 10 + (unsigned)(*rest - '0');
        while (*rest >= '0' && *rest <= '9')
            rest++;
    }
    if (*rest != 'Z' && *rest != '\0')
        return 0;
    t = timegm(&tm);
    return t > 0 ? (uint64_t)t * 1000 + ms : 0;
}

json_t *view_peer(const peer *p, uint64_t interval_ms, uint64_t now_wall, uint64_t now_mono)
{
    char ts[40];
    json_t *last = json_null(), *stale_ms = json_null();
    bool stale;

    if (p->last_success_wall_ms) {
        view_iso_ms(p->last_success_wall_ms, ts, sizeof(ts));
        last = json_string(ts);
        stale_ms = json_integer((json_int_t)(now_wall - p->last_success_wall_ms));
    }
    stale = !p->last_success_wall_ms || p->failures > 0 ||
            now_wall - p->last_success_wall_ms > 2 * interval_ms;
    /* url: the one calls use now (the leader, once a write found it);
     * urls: every URL of the district. */
    char used[BROKER_URL_MAX];
    json_t *urls = p->set ? leader_set_json(p->set) : json_pack("[s]", p->url);
    if (!p->set || leader_set_current(p->set, used, sizeof(used)) < 0)
        snprintf(used, sizeof(used), "%s", p->url);
    return json_pack(
        "{s:s, s:s, s:o, s:o, s:o, s:b, s:i, s:I, s:I, s:I, s:I, s:I, s:s}", "id", p->id, "url",
        used, "urls", urls ? urls : json_array(),
        "last_success", last, "staleness_ms", stale_ms, "stale", stale, "consecutive_failures",
        (int)p->failures, "backoff_ms", (json_int_t)(p->failures ? p->backoff_ms : 0),
        "next_pull_in_ms",
        (json_int_t)(p->next_due_mono_ms > now_mono ? p->next_due_mono_ms - now_mono : 0), "pulls",
        (json_int_t)p->pulls, "units_received", (json_int_t)p->pulled_units, "jobs_received",
        (json_int_t)p->pulled_jobs, "epoch", p->epoch);
}

json_t *view_emergency(severity level, uint64_t set_ms)
{
    char ts[40] = "";

    if (set_ms)
        view_iso_ms(set_ms, ts, sizeof(ts));
    return json_pack("{s:s, s:o, s:I}", "level", severity_str(level), "set_at",
                     set_ms ? json_string(ts) : json_null(), "set_ms", (json_int_t)set_ms);
}

json_t *view_revoked(const revoked_entry *v, size_t n, const char *owner)
{
    json_t *arr = json_array();

    for (size_t i = 0; arr && i < n; i++)
        json_array_append_new(arr,
                              json_pack("{s:s, s:i, s:s, s:s}", "job_id", v[i].job_id, "attempt",
                                        (int)v[i].attempt, "owner",
                                        v[i].owner ? v[i].owner : owner, "reason", v[i].reason));
    return arr;
}

/* ---- parsing a peer's objects ---- */

/* An id member into dst; absent or not an id: "" (and false). */
static bool get_id(const json_t *o, const char *key, char *dst)
{
    const char *v = json_string_value(json_object_get(o, key));

    dst[0] = '\0';
    if (!coord_id_valid(v))
        return false;
    snprintf(dst, COORD_ID_MAX + 1, "%s", v);
    return true;
}

/* t NULL: checked only, interned later (view_parse_caps) under the lock
 * that guards t. */
static int get_caps(const json_t *o, const char *key, strtab *t, capset *out)
{
    const json_t *arr = json_object_get(o, key);
    const char *v[BROKER_MAX_CAPS];
    size_t n = 0, i;
    json_t *e;

    if (arr && !json_is_array(arr))
        return -1;
    json_array_foreach (arr, i, e) {
        const char *c = json_string_value(e);

        if (!coord_id_valid(c) || n == BROKER_MAX_CAPS)
            return -1;
        v[n++] = c;
    }
    if (!t)
        return 0;
    return capset_set(out, t, v, n) < 0 ? -1 : 0;
}

int view_parse_caps(const json_t *o, bool is_job, strtab *t, capset *out)
{
    return get_caps(o, is_job ? "required_capabilities" : "capabilities", t, out);
}

static int64_t get_int(const json_t *o, const char *key, int64_t dflt)
{
    const json_t *v = json_object_get(o, key);

    return json_is_integer(v) ? (int64_t)json_integer_value(v) : dflt;
}

/* A member kept as canonical JSON text (NULL when absent or null); -1
 * when over the field cap. */
static int get_text(const json_t *o, const char *key, char **out)
{
    const json_t *v = json_object_get(o, key);

    *out = NULL;
    if (!v || json_is_null(v))
        return 0;
    *out = json_canonical(v);
    if (!*out || strlen(*out) > BROKER_JSON_FIELD_MAX) {
        free(*out);
        *out = NULL;
        return -1;
    }
    return 0;
}

#define REMOTE_MAX_UNIT_JOBS 1024 /* job ids (and claims) listed by one synced unit */

/* "version": absent is 0 (a peer before versions), else a whole number. */
static int get_version(const json_t *o, uint64_t *out)
{
    const json_t *v = json_object_get(o, "version");

    *out = 0;
    if (!v)
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return -1;
    *out = (uint64_t)json_integer_value(v);
    return 0;
}

static int get_claims(const json_t *arr, runit *out)
{
    size_t i;
    json_t *e;

    if (!arr)
        return 0;
    if (!json_is_array(arr) || json_array_size(arr) > REMOTE_MAX_UNIT_JOBS)
        return -1;
    out->has_claims = true;
    if (json_array_size(arr)) {
        out->claims = calloc(json_array_size(arr), sizeof(*out->claims));
        if (!out->claims)
            return -1;
    }
    json_array_foreach (arr, i, e) {
        rclaim *c = &out->claims[out->nclaims];
        int64_t n = get_int(e, "attempt", 0);

        if (!json_is_object(e) || n < 1 || n > UINT32_MAX || !get_id(e, "job_id", c->job_id) ||
            !get_id(e, "owner", c->owner))
            return -1;
        c->attempt = (uint32_t)n;
        out->nclaims++;
    }
    return 0;
}

/* A copy's "station" and "fix" (a home before positions shows neither). */
static int get_position(const json_t *o, runit *out)
{
    const json_t *st = json_object_get(o, "station"), *fix = json_object_get(o, "fix");
    int64_t age = get_int(fix, "age_ms", -1);
    field_error fe;
    int rc;

    if (st) {
        rc = geo_from_json(st, "station", &out->pos.station, &fe);
        if (rc <= 0)
            return -1;
        out->pos.has_station = true;
    }
    if (fix) {
        rc = geo_from_json(fix, "fix", &out->pos.fix, &fe);
        if (rc <= 0 || age < 0)
            return -1;
        out->pos.has_fix = true;
        out->fix_age_ms = (uint64_t)age;
    }
    return 0;
}

int view_parse_unit(const json_t *o, strtab *t, const char *from, uint64_t fetched_ms, uint64_t gen,
                    runit *out)
{
    const json_t *jobs = json_object_get(o, "jobs");
    const char *url = json_string_value(json_object_get(o, "url"));
    int64_t cap = get_int(o, "capacity", 1);
    size_t i;
    json_t *e;

    memset(out, 0, sizeof(*out));
    if (!json_is_object(o) || !get_id(o, "id", out->id) ||
        unit_status_parse(json_string_value(json_object_get(o, "status")), &out->shown) < 0 ||
        (jobs && (!json_is_array(jobs) || json_array_size(jobs) > REMOTE_MAX_UNIT_JOBS)) ||
        (url && strlen(url) >= BROKER_URL_MAX) || cap < 0 || cap > UINT32_MAX ||
        get_version(o, &out->version) < 0)
        return -1;
    get_id(o, "kind", out->kind);
    get_id(o, "district", out->district);
    /* The compact form leaves it out: none is the sender's. */
    if (!out->district[0])
        snprintf(out->district, sizeof(out->district), "%s", from);
    snprintf(out->from, sizeof(out->from), "%s", from);
    snprintf(out->url, sizeof(out->url), "%s", url ? url : "");
    out->capacity = (uint32_t)cap;
    out->last_hb_ago = get_int(o, "last_heartbeat_ms_ago", -1);
    out->fetched_wall_ms = fetched_ms;
    out->gen = gen;
    if (json_array_size(jobs)) {
        out->jobs = calloc(json_array_size(jobs), sizeof(*out->jobs));
        if (!out->jobs)
            return -1;
    }
    json_array_foreach (jobs, i, e) {
        const char *id = json_string_value(e);

        if (!coord_id_valid(id)) {
            runit_release(out, t);
            return -1;
        }
        snprintf(out->jobs[out->njobs++], COORD_ID_MAX + 1, "%s", id);
    }
    if (get_text(o, "crew_status", &out->crew_status) < 0 ||
        get_claims(json_object_get(o, "claims"), out) < 0 || get_position(o, out) < 0 ||
        get_caps(o, "capabilities", t, &out->caps) < 0) {
        runit_release(out, t);
        return -1;
    }
    return 0;
}

static int parse_attempts(const json_t *arr, rjob *out)
{
    size_t i;
    json_t *e;

    if (!arr)
        return 0;
    if (!json_is_array(arr) || json_array_size(arr) > REMOTE_MAX_ATTEMPTS)
        return -1;
    if (json_array_size(arr)) {
        out->attempts = calloc(json_array_size(arr), sizeof(*out->attempts));
        if (!out->attempts)
            return -1;
    }
    json_array_foreach (arr, i, e) {
        rattempt *a = &out->attempts[out->nattempts];
        int64_t n = get_int(e, "attempt", 0);

        if (n < 1 || n > UINT32_MAX || !get_id(e, "unit_id", a->unit_id) ||
            attempt_state_parse(json_string_value(json_object_get(e, "state")), &a->state) < 0)
            return -1;
        get_id(e, "district", a->district);
        /* A reason this build cannot read (a newer peer's) shows as none. */
        (void)rank_reason_parse(json_string_value(json_object_get(e, "reason")), &a->why);
        a->n = (uint32_t)n;
        out->nattempts++;
    }
    return 0;
}

static int parse_result(const json_t *r, rjob *out)
{
    int64_t n = get_int(r, "attempt", 0);

    if (!r || json_is_null(r))
        return 0;
    out->res = calloc(1, sizeof(*out->res));
    if (!out->res || !json_is_object(r) || n < 1 || n > UINT32_MAX ||
        !get_id(r, "unit_id", out->res->unit_id) || !get_id(r, "outcome", out->res->outcome) ||
        get_text(r, "data", &out->res->data) < 0)
        return -1;
    out->res->attempt = (uint32_t)n;
    return 0;
}

int view_parse_job(const json_t *o, strtab *t, const char *from, uint64_t fetched_ms, uint64_t gen,
                   rjob *out)
{
    memset(out, 0, sizeof(*out));
    if (!json_is_object(o) || !get_id(o, "id", out->id) ||
        job_status_parse(json_string_value(json_object_get(o, "status")), &out->shown) < 0 ||
        severity_parse(json_string_value(json_object_get(o, "severity")), &out->sev) < 0 ||
        get_version(o, &out->version) < 0)
        return -1;
    get_id(o, "type", out->type);
    get_id(o, "owner", out->owner);
    snprintf(out->from, sizeof(out->from), "%s", from);
    out->created_ms = get_int(o, "created_ms", -1);
    out->updated_ms = get_int(o, "updated_ms", -1);
    out->fetched_wall_ms = fetched_ms;
    out->gen = gen;
    if (parse_attempts(json_object_get(o, "attempts"), out) < 0 ||
        parse_result(json_object_get(o, "result"), out) < 0 ||
        get_text(o, "location", &out->location) < 0 || get_text(o, "payload", &out->payload) < 0 ||
        get_caps(o, "required_capabilities", t, &out->caps) < 0) {
        rjob_release(out, t);
        return -1;
    }
    /* A multi-unit incident's lines, shown as its owner showed them; one
     * too big to keep is left out, the rest of the copy stands. */
    const json_t *resp = json_object_get(o, "response");
    if (json_is_array(resp) && json_array_size(resp) <= BROKER_MAX_LINES) {
        out->response = json_canonical(resp);
        if (out->response && strlen(out->response) > REMOTE_MAX_RESPONSE_TEXT) {
            free(out->response);
            out->response = NULL;
        }
        const char *plan = json_string_value(json_object_get(o, "plan"));
        if (coord_id_valid(plan))
            out->plan = strdup(plan); /* out of memory: shown without it */
    }
    return 0;
}
