/* ShiViz export of a vector-clock-stamped event log (DESIGN.md §4), shared
 * by the broker and the coordinator. */
#include "shiviz.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hmap.h"
#include "service.h"

static const char *str_member(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}

/* ShiViz wants each host's clock to count its events in the log 1, 2, 3...
 * and refuses entries for hosts absent from the log. We export a window of
 * the real log, so clocks are renumbered: an entry H:v becomes the number of
 * exported events of H whose own counter is <= v (entries that become 0 are
 * dropped). That is a monotone map, so happened-before among the exported
 * events is exactly preserved. */
typedef struct shz_host {
    const char *name;
    uint64_t *own; /* sorted own counters of the exported events */
    size_t n, cap;
} shz_host;

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static size_t count_le(const shz_host *h, uint64_t v)
{
    size_t lo = 0, hi = h->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (h->own[mid] <= v)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static void shz_line(strbuf *sb, const json_t *e)
{
    char line[1024];
    const char *job = str_member(e, "job_id"), *unit = str_member(e, "unit_id");
    json_t *att = json_object_get(e, "attempt");
    int n = snprintf(line, sizeof(line), "%s %s", str_member(e, "time"), str_member(e, "type"));
    if (*job && n >= 0 && (size_t)n < sizeof(line))
        n += snprintf(line + n, sizeof(line) - (size_t)n, " job=%s", job);
    if (*unit && n >= 0 && (size_t)n < sizeof(line))
        n += snprintf(line + n, sizeof(line) - (size_t)n, " unit=%s", unit);
    if (json_is_integer(att) && n >= 0 && (size_t)n < sizeof(line))
        n += snprintf(line + n, sizeof(line) - (size_t)n, " attempt=%lld",
                      (long long)json_integer_value(att));
    if (*str_member(e, "detail") && n >= 0 && (size_t)n < sizeof(line))
        snprintf(line + n, sizeof(line) - (size_t)n, ": %s", str_member(e, "detail"));
    for (char *p = line; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    strbuf_addf(sb, "%s\n", line);
}

char *shiviz_format(const json_t *events, size_t *len)
{
    hmap *hosts = hmap_new();
    strbuf sb;
    size_t i;
    json_t *e;
    char *out = NULL;
    strbuf_init(&sb, 0);
    if (!hosts)
        return NULL;
    /* Pass 1: each host's own counters. */
    json_array_foreach (events, i, e) {
        const char *node = str_member(e, "node");
        json_t *own = json_object_get(json_object_get(e, "vclock"), node);
        if (!*node || !json_is_integer(own) || json_integer_value(own) <= 0)
            continue;
        shz_host *h = hmap_get(hosts, node);
        if (!h) {
            h = calloc(1, sizeof(*h));
            if (!h || hmap_put(hosts, node, h, NULL) < 0) {
                free(h);
                goto out;
            }
            h->name = node;
        }
        if (h->n == h->cap) {
            size_t nc = h->cap ? h->cap * 2 : 16;
            uint64_t *no = realloc(h->own, nc * sizeof(*no));
            if (!no)
                goto out;
            h->own = no;
            h->cap = nc;
        }
        h->own[h->n++] = (uint64_t)json_integer_value(own);
    }
    size_t it = 0;
    const char *key;
    void *val;
    while (hmap_next(hosts, &it, &key, &val))
        qsort(((shz_host *)val)->own, ((shz_host *)val)->n, sizeof(uint64_t), cmp_u64);
    /* Pass 2: the two lines of each event. */
    json_array_foreach (events, i, e) {
        const char *node = str_member(e, "node");
        json_t *vc = json_object_get(e, "vclock");
        json_t *own = json_object_get(vc, node);
        if (!*node || !json_is_integer(own) || json_integer_value(own) <= 0)
            continue;
        json_t *clock = json_object();
        const char *h_name;
        json_t *v;
        json_object_foreach (vc, h_name, v) {
            shz_host *h = hmap_get(hosts, h_name);
            if (!h || !json_is_integer(v) || json_integer_value(v) <= 0)
                continue;
            size_t t = count_le(h, (uint64_t)json_integer_value(v));
            if (t)
                json_object_set_new(clock, h_name, json_integer((json_int_t)t));
        }
        char *ctext = json_dumps(clock, JSON_COMPACT | JSON_SORT_KEYS);
        json_decref(clock);
        if (!ctext)
            goto out;
        shz_line(&sb, e);
        strbuf_addf(&sb, "%s %s\n", node, ctext);
        free(ctext);
    }
    if (!sb.overflow)
        out = strbuf_detach(&sb, len);
out:
    it = 0;
    while (hmap_next(hosts, &it, &key, &val)) {
        free(((shz_host *)val)->own);
        free(val);
    }
    hmap_free(hosts, NULL);
    strbuf_release(&sb);
    return out;
}
