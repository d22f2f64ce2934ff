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

int peertab_add(peertab *t, const char *self, const char *id, const char *url, uint64_t now_mono,
                size_t *idx, bool *added)
{
    peer *p;

    *added = false;
    if (!coord_id_valid(id) || strcmp(id, self) == 0)
        return COORD_E_INVAL;
    p = peertab_find(t, id);
    if (p) {
        snprintf(p->url, sizeof(p->url), "%s", url);
        *idx = (size_t)(p - t->v);
        return COORD_OK;
    }
    if (t->n == BROKER_MAX_PEERS)
        return COORD_E_RANGE;
    p = &t->v[t->n];
    memset(p, 0, sizeof(*p));
    snprintf(p->id, sizeof(p->id), "%s", id);
    snprintf(p->url, sizeof(p->url), "%s", url);
    p->next_due_mono_ms = now_mono; /* first pull at once */
    *idx = t->n++;
    *added = true;
    return COORD_OK;
}

void peer_page_begin(peer *p, bool full)
{
    if (full && !p->full) {
        p->gen++;
        p->full = true;
    }
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
