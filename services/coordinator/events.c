/* Event objects (events.h). */
#include "events.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api.h"
#include "coord.h"

#define EVENT_DETAIL_MAX 512
#define EVENT_TIME_MAX   40

static json_t *id_or_null(const json_t *v)
{
    return json_is_string(v) && coord_id_valid(json_string_value(v))
               ? json_string(json_string_value(v))
               : json_null();
}

json_t *event_sanitize(const json_t *ev)
{
    json_t *seq = json_object_get(ev, "seq"), *time = json_object_get(ev, "time");
    json_t *node = json_object_get(ev, "node"), *type = json_object_get(ev, "type");
    json_t *attempt = json_object_get(ev, "attempt"), *detail = json_object_get(ev, "detail");
    vclock vc;
    field_error fe;
    if (!json_is_object(ev) || !json_is_integer(seq) || json_integer_value(seq) < 0 ||
        !json_is_string(time) || json_string_length(time) > EVENT_TIME_MAX ||
        (node && !(json_is_string(node) && coord_id_valid(json_string_value(node)))) ||
        vclock_from_json(json_object_get(ev, "vclock"), &vc, &fe) < 0)
        return NULL;
    char d[EVENT_DETAIL_MAX + 1] = "";
    if (json_is_string(detail))
        snprintf(d, sizeof(d), "%s", json_string_value(detail));
    json_t *o = json_pack(
        "{s:O, s:O, s:o, s:o, s:o, s:o, s:s, s:o}", "seq", seq, "time", time, "type",
        id_or_null(type), "job_id", id_or_null(json_object_get(ev, "job_id")), "unit_id",
        id_or_null(json_object_get(ev, "unit_id")), "attempt",
        json_is_integer(attempt) ? json_integer(json_integer_value(attempt)) : json_null(),
        "detail", d, "vclock", vclock_to_json(&vc));
    if (o && node)
        json_object_set_new(o, "node", json_string(json_string_value(node)));
    return o;
}

static const char *str_member(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}

static int cmp_event(const void *a, const void *b)
{
    const json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
    int d = strcmp(str_member(x, "time"), str_member(y, "time"));
    if (d)
        return d;
    d = strcmp(str_member(x, "node"), str_member(y, "node"));
    if (d)
        return d;
    json_int_t sx = json_integer_value(json_object_get(x, "seq"));
    json_int_t sy = json_integer_value(json_object_get(y, "seq"));
    return sx < sy ? -1 : sx > sy;
}

void events_sort(json_t *events)
{
    size_t n = json_array_size(events), i;
    json_t **arr = calloc(n ? n : 1, sizeof(*arr));
    json_t *e;
    if (!arr)
        return;
    json_array_foreach (events, i, e)
        arr[i] = json_incref(e);
    qsort(arr, n, sizeof(*arr), cmp_event);
    json_array_clear(events);
    for (i = 0; i < n; i++)
        json_array_append_new(events, arr[i]);
    free(arr);
}

void iso_time(uint64_t ms, char *buf, size_t len)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    size_t n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, len - n, ".%03uZ", (unsigned)(ms % 1000));
}

void event_ring_push(event_ring *r, json_t *ev)
{
    if (!ev)
        return;
    if (r->n == COORD_EVENTS_PER_NODE) {
        json_decref(r->ev[r->head]);
        r->ev[r->head] = ev;
        r->head = (r->head + 1) % COORD_EVENTS_PER_NODE;
        return;
    }
    r->ev[(r->head + r->n) % COORD_EVENTS_PER_NODE] = ev;
    r->n++;
}

void event_ring_clear(event_ring *r)
{
    for (size_t i = 0; i < r->n; i++)
        json_decref(r->ev[(r->head + i) % COORD_EVENTS_PER_NODE]);
    r->head = r->n = 0;
}
