#include "hmap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "util.h"

/* Linear probing with tombstones. Deleted slots keep probe chains intact
 * until the next rehash, which drops them. */
#define HMAP_MIN_CAP 16

typedef struct slot {
    char *key; /* NULL: empty; TOMBSTONE: deleted */
    void *val;
    uint64_t hash;
} slot;

struct hmap {
    slot *slots;
    size_t cap; /* power of two */
    size_t size;
    size_t tombs;
    bool borrowed; /* keys are the caller's: never copied or freed */
};

static char tombstone_mark;
#define TOMBSTONE (&tombstone_mark)

static bool live(const slot *s)
{
    return s->key != NULL && s->key != TOMBSTONE;
}

static uint64_t hash_key(const char *key)
{
    return coord_digest(key, strlen(key));
}

hmap *hmap_new(void)
{
    hmap *m = calloc(1, sizeof(*m));

    if (!m)
        return NULL;
    m->slots = calloc(HMAP_MIN_CAP, sizeof(slot));
    if (!m->slots) {
        free(m);
        return NULL;
    }
    m->cap = HMAP_MIN_CAP;
    return m;
}

hmap *hmap_new_borrowed(void)
{
    hmap *m = hmap_new();

    if (m)
        m->borrowed = true;
    return m;
}

static void free_key(const hmap *m, char *key)
{
    if (!m->borrowed)
        free(key);
}

void hmap_free(hmap *m, void (*free_val)(void *))
{
    if (!m)
        return;
    for (size_t i = 0; i < m->cap; i++) {
        if (!live(&m->slots[i]))
            continue;
        if (free_val)
            free_val(m->slots[i].val);
        free_key(m, m->slots[i].key);
    }
    free(m->slots);
    free(m);
}

/* Index of the live slot holding key, or SIZE_MAX. */
static size_t lookup(const hmap *m, const char *key, uint64_t h)
{
    size_t mask = m->cap - 1;

    for (size_t i = (size_t)h & mask, n = 0; n < m->cap; i = (i + 1) & mask, n++) {
        const slot *s = &m->slots[i];

        if (s->key == NULL)
            return SIZE_MAX;
        if (s->key != TOMBSTONE && s->hash == h && strcmp(s->key, key) == 0)
            return i;
    }
    return SIZE_MAX;
}

static int rehash(hmap *m, size_t newcap)
{
    slot *ns = calloc(newcap, sizeof(slot));

    if (!ns)
        return COORD_E_NOMEM;
    for (size_t i = 0; i < m->cap; i++) {
        size_t j;

        if (!live(&m->slots[i]))
            continue;
        for (j = (size_t)m->slots[i].hash & (newcap - 1); ns[j].key; j = (j + 1) & (newcap - 1))
            ;
        ns[j] = m->slots[i];
    }
    free(m->slots);
    m->slots = ns;
    m->cap = newcap;
    m->tombs = 0;
    return COORD_OK;
}

int hmap_put(hmap *m, const char *key, void *val, void **old)
{
    uint64_t h;
    size_t i, mask;
    char *copy;

    if (!m || !key)
        return COORD_E_INVAL;
    h = hash_key(key);
    i = lookup(m, key, h);
    if (i != SIZE_MAX) {
        if (old)
            *old = m->slots[i].val;
        m->slots[i].val = val;
        if (m->borrowed)
            m->slots[i].key = (char *)key; /* the old value's key may go with it */
        return COORD_OK;
    }
    /* Keep the table at most 3/4 full counting tombstones, so probes stay
     * short and always reach an empty slot. */
    if ((m->size + m->tombs + 1) * 4 > m->cap * 3) {
        size_t newcap = m->cap;

        /* Only grow when live entries need it; otherwise a same-size rehash
         * just sweeps tombstones. */
        while ((m->size + 1) * 2 > newcap)
            newcap *= 2;
        if (rehash(m, newcap) != COORD_OK)
            return COORD_E_NOMEM;
    }
    copy = m->borrowed ? (char *)key : strdup(key);
    if (!copy)
        return COORD_E_NOMEM;
    mask = m->cap - 1;
    for (i = (size_t)h & mask; live(&m->slots[i]); i = (i + 1) & mask)
        ;
    if (m->slots[i].key == TOMBSTONE)
        m->tombs--;
    m->slots[i].key = copy;
    m->slots[i].val = val;
    m->slots[i].hash = h;
    m->size++;
    if (old)
        *old = NULL;
    return COORD_OK;
}

void *hmap_get(const hmap *m, const char *key)
{
    size_t i;

    if (!m || !key)
        return NULL;
    i = lookup(m, key, hash_key(key));
    return i == SIZE_MAX ? NULL : m->slots[i].val;
}

void *hmap_del(hmap *m, const char *key)
{
    size_t i;
    void *val;

    if (!m || !key)
        return NULL;
    i = lookup(m, key, hash_key(key));
    if (i == SIZE_MAX)
        return NULL;
    val = m->slots[i].val;
    free_key(m, m->slots[i].key);
    m->slots[i].key = TOMBSTONE;
    m->slots[i].val = NULL;
    m->size--;
    m->tombs++;
    return val;
}

size_t hmap_size(const hmap *m)
{
    return m ? m->size : 0;
}

bool hmap_next(const hmap *m, size_t *it, const char **key, void **val)
{
    if (!m || !it)
        return false;
    for (size_t i = *it; i < m->cap; i++) {
        if (!live(&m->slots[i]))
            continue;
        if (key)
            *key = m->slots[i].key;
        if (val)
            *val = m->slots[i].val;
        *it = i + 1;
        return true;
    }
    *it = m->cap;
    return false;
}
