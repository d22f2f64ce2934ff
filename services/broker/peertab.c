/* Peer table lookups; a handful of peers, so a linear scan. */
#include "peertab.h"

#include <stdio.h>
#include <string.h>

#include "errors.h"

const peer *peertab_get(const peertab *t, const char *id)
{
    for (size_t i = 0; id && i < t->n; i++)
        if (strcmp(t->v[i].id, id) == 0)
            return &t->v[i];
    return NULL;
}

peer *peertab_find(peertab *t, const char *id)
{
    return (peer *)peertab_get(t, id);
}

/* urls as given; url its first element. */
static void set_urls(peer *p, const char *list)
{
    size_t first = strcspn(list, ",");

    snprintf(p->urls, sizeof(p->urls), "%s", list);
    snprintf(p->url, sizeof(p->url), "%.*s", (int)first, list);
}

int peertab_add(peertab *t, const char *self, const char *id, const char *url, uint64_t now_mono,
                size_t *idx, bool *added)
{
    peer *p;

    *added = false;
    if (!coord_id_valid(id) || strcmp(id, self) == 0)
        return COORD_E_INVAL;
    p = peertab_find(t, id);
    if (p) {
        set_urls(p, url);
        *idx = (size_t)(p - t->v);
        return COORD_OK;
    }
    if (t->n == BROKER_MAX_PEERS)
        return COORD_E_RANGE;
    p = &t->v[t->n];
    memset(p, 0, sizeof(*p));
    snprintf(p->id, sizeof(p->id), "%s", id);
    set_urls(p, url);
    p->next_due_mono_ms = now_mono; /* first pull at once */
    *idx = t->n++;
    *added = true;
    return COORD_OK;
}

void peer_page_begin(peer *p, bool full, const char *epoch)
{
    if (full && !p->full) {
        p->gen++;
        p->full = true;
    }
    if (epoch && strcmp(epoch, p->epoch) != 0) {
        snprintf(p->epoch, sizeof(p->epoch), "%s", epoch);
        p->egen++;
    }
}

uint32_t peer_egen_of(const peer *p, const char *epoch)
{
    return p && epoch && p->egen && strcmp(epoch, p->epoch) == 0 ? p->egen : 0;
}

bool peer_page_end(peer *p, bool more)
{
    if (more || !p->full)
        return false;
    p->full = false;
    return true;
}

bool peertab_is_clock_node(const peertab *t, const char *self, const char *node)
{
    return strcmp(node, "coordinator") == 0 || strcmp(node, self) == 0 ||
           peertab_get(t, node) != NULL;
}

uint64_t peertab_confirmed_ms(const peertab *t, const char *id)
{
    const peer *p = peertab_get(t, id);

    return p ? p->last_success_wall_ms : 0;
}

void peertab_park(peertab *t, const char *district, const char *unit_id, const char *job_id,
                  uint32_t attempt_no, const char *reason)
{
    parked_release *r;

    if (t->nparked == PEERTAB_MAX_PARKED) {
        memmove(&t->parked[0], &t->parked[1], (PEERTAB_MAX_PARKED - 1) * sizeof(t->parked[0]));
        t->nparked--;
        t->parked_dropped++;
    }
    r = &t->parked[t->nparked++];
    snprintf(r->district, sizeof(r->district), "%s", district);
    snprintf(r->unit_id, sizeof(r->unit_id), "%s", unit_id);
    snprintf(r->job_id, sizeof(r->job_id), "%s", job_id);
    r->attempt = attempt_no;
    snprintf(r->reason, sizeof(r->reason), "%s", reason);
}

size_t peertab_unpark(peertab *t, const char *district, parked_release *out, size_t max)
{
    size_t n = 0, k = 0;

    for (size_t i = 0; i < t->nparked; i++) {
        if (n < max && strcmp(t->parked[i].district, district) == 0)
            out[n++] = t->parked[i];
        else
            t->parked[k++] = t->parked[i];
    }
    t->nparked = k;
    return n;
}

bool peertab_note_change(peertab *t, uint64_t now_mono)
{
    bool needed = false;

    for (size_t i = 0; i < t->n; i++) {
        if (!t->v[i].pending_since_mono_ms) {
            t->v[i].pending_since_mono_ms = now_mono;
            needed = true;
        }
    }
    return needed;
}
