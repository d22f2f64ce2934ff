/* JSON views of the broker's objects, exactly the shapes of DESIGN.md §5. */
#include <stdlib.h>
#include <string.h>

#include "broker.h"

static json_t *caps_json(char (*caps)[COORD_ID_MAX + 1], size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_string(caps[i]));
    return a;
}

/* Stored JSON text back to a value; NULL text -> JSON null. */
static json_t *stored_json(const char *text)
{
    if (!text)
        return json_null();
    json_t *v = json_loads(text, JSON_DECODE_ANY, NULL);
    return v ? v : json_null();
}

json_t *broker_clock_json(const broker *b)
{
    return vclock_to_json(&b->clock);
}

json_t *unit_to_json(const broker *b, const unit *u)
{
    json_t *jobs = json_array();
    for (uint32_t i = 0; i < u->load; i++)
        if (!u->held[i].pending)
            json_array_append_new(jobs, json_string(u->held[i].job_id));
    uint64_t now = coord_now_wall_ms();
    return json_pack("{s:s, s:s, s:o, s:s, s:s, s:o, s:s, s:i, s:b, s:I}", "id", u->id, "kind",
                     u->kind, "capabilities", caps_json(u->caps, u->ncaps), "district", b->cfg.id,
                     "status", unit_status_str(unit_current_status(u)), "jobs", jobs, "url", u->url,
                     "capacity", (int)u->capacity, "authoritative", 1, "last_heartbeat_ms_ago",
                     (json_int_t)(u->last_hb_wall_ms && now > u->last_hb_wall_ms
                                      ? now - u->last_hb_wall_ms
                                      : 0));
}

json_t *result_to_json(const result *r)
{
    if (!r)
        return json_null();
    return json_pack("{s:s, s:i, s:s, s:o}", "unit_id", r->unit_id, "attempt", (int)r->attempt,
                     "outcome", r->outcome, "data", stored_json(r->data ? r->data : "{}"));
}

json_t *job_to_json(const broker *b, const job *j)
{
    json_t *atts = json_array();
    const attempt *cur = NULL;
    for (size_t i = 0; i < j->nattempts; i++) {
        const attempt *a = &j->attempts[i];
        if (a->state == ATT_PENDING)
            continue;
        cur = a;
        json_array_append_new(atts, json_pack("{s:i, s:s, s:s, s:s}", "attempt", (int)a->n,
                                              "unit_id", a->unit_id, "district", a->unit_district,
                                              "state", attempt_state_str(a->state)));
    }
    json_t *o = json_pack("{s:s, s:s, s:s, s:o, s:s, s:s, s:o, s:o, s:o, s:o, s:b, s:o, s:o}", "id",
                          j->id, "type", j->type, "severity", severity_str(j->sev),
                          "required_capabilities", caps_json(j->caps, j->ncaps), "owner", b->cfg.id,
                          "status", job_status_str(j->status), "unit_id",
                          cur ? json_string(cur->unit_id) : json_null(), "attempt",
                          cur ? json_integer(cur->n) : json_null(), "attempts", atts, "result",
                          result_to_json(j->res), "authoritative", 1, "location",
                          stored_json(j->location), "payload", stored_json(j->payload));
    json_object_set_new(o, "created_ms", json_integer((json_int_t)j->created_ms));
    json_object_set_new(o, "updated_ms", json_integer((json_int_t)j->updated_ms));
    return o;
}

static int cmp_json_id(const void *a, const void *b)
{
    const json_t *const *x = a, *const *y = b;
    const char *ia = json_string_value(json_object_get(*x, "id"));
    const char *ib = json_string_value(json_object_get(*y, "id"));
    return strcmp(ia ? ia : "", ib ? ib : "");
}

void json_array_sort_by_id(json_t *arr)
{
    size_t n = json_array_size(arr);
    if (n < 2)
        return;
    json_t **v = malloc(n * sizeof(*v));
    if (!v)
        return;
    for (size_t i = 0; i < n; i++)
        v[i] = json_incref(json_array_get(arr, i));
    qsort(v, n, sizeof(*v), cmp_json_id);
    json_array_clear(arr);
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, v[i]);
    free(v);
}
