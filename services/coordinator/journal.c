/* The coordinator's clock and event log (journal.h). */
#include "journal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "db.h"
#include "events.h"

json_t *coordinator_clock_json(const coordinator *c)
{
    return vclock_to_json(&c->clock);
}

void coordinator_merge_vclock(coordinator *c, const vclock *in)
{
    vclock tmp;
    vclock_copy(&tmp, &c->clock);
    /* Our own entry moves only with our own events; no entry jumps. */
    if (vclock_receive(&tmp, in, COORD_NODE, NULL) < 0)
        return; /* over the cap: skipped, our own order stays intact */
    if (vclock_get(&tmp, COORD_NODE) == 0 && tmp.n >= VCLOCK_MAX_ENTRIES)
        return; /* we could never tick again */
    vclock_copy(&c->clock, &tmp);
}

void coordinator_merge_clock(coordinator *c, const json_t *vc)
{
    static const vclock zero;
    vclock in = zero;
    field_error fe;
    if (!vc || vclock_from_json(vc, &in, &fe) < 0)
        return;
    coordinator_merge_vclock(c, &in);
}

static json_t *event_json(uint64_t seq, uint64_t time_ms, const char *type, const char *job_id,
                          const char *detail, json_t *vc)
{
    char ts[40];
    iso_time(time_ms, ts, sizeof(ts));
    return json_pack("{s:I, s:s, s:s, s:s, s:o, s:n, s:n, s:s, s:o}", "seq", (json_int_t)seq,
                     "time", ts, "node", COORD_NODE, "type", type, "job_id",
                     job_id && coord_id_valid(job_id) ? json_string(job_id) : json_null(),
                     "unit_id", "attempt", "detail", detail ? detail : "", "vclock",
                     vc ? vc : json_object());
}

void coordinator_event(coordinator *c, const char *type, const char *job_id, const char *fmt, ...)
{
    char detail[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    vclock_tick(&c->clock, COORD_NODE);
    uint64_t now = coord_now_wall_ms();
    json_t *vc = coordinator_clock_json(c);
    char *vtext = json_dumps(vc, JSON_COMPACT | JSON_SORT_KEYS);
    c->event_seq++;
    if (vtext && cdb_add_event(c->db, c->event_seq, now, type, job_id, detail, vtext) < 0)
        service_log("warn", "cannot record event %s", type);
    free(vtext);
    json_t *ev = event_json(c->event_seq, now, type, job_id, detail, vc);
    event_ring_push(&c->events, json_incref(ev));
    api_sse_publish(c->sse, ev);
}

int coordinator_commit(coordinator *c)
{
    json_t *vc = coordinator_clock_json(c);
    char *vtext = json_dumps(vc, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(vc);
    if (!vtext || cdb_put_meta(c->db, "vclock", vtext) < 0 || cdb_commit(c->db) < 0) {
        free(vtext);
        cdb_rollback(c->db);
        service_log("error", "storage: commit failed");
        return -1;
    }
    free(vtext);
    return 0;
}

static void load_event_cb(void *arg, uint64_t seq, uint64_t time_ms, const char *type,
                          const char *job_id, const char *detail, const char *vclock_json)
{
    coordinator *c = arg;
    json_t *vc = json_loads(vclock_json, 0, NULL);
    if (!json_is_object(vc)) {
        json_decref(vc);
        vc = json_object();
    }
    event_ring_push(&c->events, event_json(seq, time_ms, type, job_id, detail, vc));
}

int journal_load(coordinator *c)
{
    char buf[8192];
    int rc = cdb_get_meta(c->db, "vclock", buf, sizeof(buf));
    if (rc < 0)
        return -1;
    if (rc == 0) {
        json_t *j = json_loads(buf, 0, NULL);
        field_error fe;
        if (j && vclock_from_json(j, &c->clock, &fe) < 0)
            vclock_init(&c->clock);
        json_decref(j);
    }
    if (cdb_load_events(c->db, COORD_EVENTS_PER_NODE, load_event_cb, c) < 0)
        return -1;
    return cdb_last_event_seq(c->db, &c->event_seq);
}
