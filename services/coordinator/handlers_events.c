/* /v1/events: the city's recent events, merged from every broker's log (as
 * the poller last fetched it) and our own, as JSON or in ShiViz's format. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coordinator.h"

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

void h_events_get(api_request *req, api_response *res)
{
    coordinator *c = req->ctx;
    const char *ls = api_query(req, "limit"), *fmt = api_query(req, "format");
    unsigned long limit = 500;
    bool shiviz = false;
    if (ls) {
        char *end;
        limit = (*ls >= '0' && *ls <= '9') ? strtoul(ls, &end, 10) : 0;
        if (!(*ls >= '0' && *ls <= '9') || *end || limit < 1 || limit > COORD_EVENTS_LIMIT_MAX) {
            api_reply_error(res, API_E_BAD_REQUEST, "limit must be 1..%d", COORD_EVENTS_LIMIT_MAX);
            return;
        }
    }
    if (fmt) {
        if (strcmp(fmt, "shiviz") == 0) {
            shiviz = true;
        } else if (strcmp(fmt, "json") != 0) {
            api_reply_error(res, API_E_BAD_REQUEST, "format must be json or shiviz");
            return;
        }
    }
    /* Events are immutable once stored; with jansson's atomic reference
     * counts they are shared with the reply instead of copied. */
    json_t *all = json_array();
    pthread_mutex_lock(&c->mu);
    for (size_t b = 0; b <= c->nbrokers; b++) {
        const event_ring *r = b < c->nbrokers ? &c->brokers[b]->events : &c->events;
        for (size_t i = 0; i < r->n; i++)
            json_array_append(all, r->ev[(r->head + i) % COORD_EVENTS_PER_NODE]);
    }
    json_t *vc = coordinator_clock_json(c);
    pthread_mutex_unlock(&c->mu);
    events_sort(all);
    size_t n = json_array_size(all);
    json_t *tail = all;
    if (n > limit) {
        tail = json_array();
        for (size_t i = n - limit; i < n; i++)
            json_array_append(tail, json_array_get(all, i));
        json_decref(all);
    }
    if (shiviz) {
        size_t len = 0;
        char *text = shiviz_format(tail, &len);
        json_decref(tail);
        json_decref(vc);
        if (!text) {
            api_reply_error(res, API_E_UNAVAILABLE, "out of memory");
            return;
        }
        api_reply_text(res, 200, "text/plain; charset=utf-8", text, len);
        free(text);
        return;
    }
    api_reply_json(res, 200, json_pack("{s:o, s:o}", "events", tail, "vclock", vc));
}
