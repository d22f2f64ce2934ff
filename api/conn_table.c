/* The connection table (conn_table.h): fixed arrays sized at creation, so a
 * flood of connections allocates nothing. Entries are found by descriptor
 * (an array indexed by fd) and clients by address (separate chaining over
 * a power-of-two bucket array). Eviction and expiry scan the entries: the
 * table holds a few thousand at most and the server calls them a few
 * times a second or once per connection it must refuse or evict. */
#include "conn_table.h"

#include <stdlib.h>
#include <string.h>

typedef struct slot {
    int fd;           /* -1: free */
    int client;       /* index into clients */
    int next_free;    /* free list */
    int64_t ready_ms; /* when it began waiting for its next request */
    bool started, busy, cut;
} slot;

typedef struct client {
    conn_addr addr;
    size_t live; /* its entries not cut */
    size_t refs; /* its entries, cut ones included */
    int next;    /* bucket chain, or free list */
} client;

struct conn_table {
    conn_limits lim;
    slot *slots;
    size_t nslots;
    size_t reserve; /* free entries only light clients may take */
    int free_slot;
    client *clients; /* as many as slots: every client holds at least one */
    int free_client;
    int *buckets;
    size_t nbuckets;
    int *by_fd;
    size_t max_fd;
    size_t open, live, cut_pending, nclients;
};

void conn_addr_from_ipv4(conn_addr *a, uint32_t ipv4_network_order)
{
    memset(a->b, 0, sizeof(a->b));
    a->b[10] = 0xff;
    a->b[11] = 0xff;
    memcpy(a->b + 12, &ipv4_network_order, 4);
}

size_t conn_limit_for_nofile(uint64_t nofile, size_t cap, size_t *slots)
{
    const size_t floor = 4;
    uint64_t budget, limit;

    if (nofile == 0 || nofile > ((uint64_t)1 << 32))
        nofile = (uint64_t)1 << 32;
    budget = nofile > 64 + nofile / 8 ? nofile - 64 - nofile / 8 : 0;
    limit = budget - budget / 8;
    if (limit < floor)
        limit = floor;
    if (limit > cap)
        limit = cap;
    if (limit == 0)
        limit = 1;
    if (slots)
        *slots = (size_t)(limit + limit / 8 + 1);
    return (size_t)limit;
}

static size_t hash_addr(const conn_addr *a, size_t nbuckets)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */

    for (size_t i = 0; i < sizeof(a->b); i++) {
        h ^= a->b[i];
        h *= 1099511628211ULL;
    }
    return (size_t)(h ^ (h >> 29)) & (nbuckets - 1);
}

conn_table *conn_table_new(const conn_limits *limits, size_t slots, size_t max_fd)
{
    conn_table *t;

    if (!limits || limits->max_total == 0 || limits->max_per_client == 0 ||
        slots < limits->max_total || slots > (1u << 24) || max_fd == 0 || max_fd > (1u << 26))
        return NULL;
    t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    t->lim = *limits;
    t->nslots = slots;
    t->reserve = (slots - limits->max_total) / 2;
    t->nbuckets = 16;
    while (t->nbuckets < 2 * slots)
        t->nbuckets *= 2;
    t->max_fd = max_fd;
    t->slots = calloc(slots, sizeof(*t->slots));
    t->clients = calloc(slots, sizeof(*t->clients));
    t->buckets = malloc(t->nbuckets * sizeof(*t->buckets));
    t->by_fd = malloc(max_fd * sizeof(*t->by_fd));
    if (!t->slots || !t->clients || !t->buckets || !t->by_fd) {
        conn_table_free(t);
        return NULL;
    }
    for (size_t i = 0; i < slots; i++) {
        t->slots[i].fd = -1;
        t->slots[i].next_free = i + 1 < slots ? (int)(i + 1) : -1;
        t->clients[i].next = i + 1 < slots ? (int)(i + 1) : -1;
    }
    for (size_t i = 0; i < t->nbuckets; i++)
        t->buckets[i] = -1;
    for (size_t i = 0; i < max_fd; i++)
        t->by_fd[i] = -1;
    t->free_slot = 0;
    t->free_client = 0;
    return t;
}

void conn_table_free(conn_table *t)
{
    if (!t)
        return;
    free(t->slots);
    free(t->clients);
    free(t->buckets);
    free(t->by_fd);
    free(t);
}

static int client_find(const conn_table *t, const conn_addr *a)
{
    for (int c = t->buckets[hash_addr(a, t->nbuckets)]; c >= 0; c = t->clients[c].next)
        if (memcmp(t->clients[c].addr.b, a->b, sizeof(a->b)) == 0)
            return c;
    return -1;
}

/* The client entry for a, created when absent. The caller has checked that
 * a slot is free, so a client entry is too. */
static int client_ref(conn_table *t, const conn_addr *a)
{
    int c = client_find(t, a);
    size_t h;

    if (c < 0) {
        c = t->free_client;
        t->free_client = t->clients[c].next;
        h = hash_addr(a, t->nbuckets);
        t->clients[c].addr = *a;
        t->clients[c].live = 0;
        t->clients[c].refs = 0;
        t->clients[c].next = t->buckets[h];
        t->buckets[h] = c;
        t->nclients++;
    }
    t->clients[c].refs++;
    return c;
}

static void client_unref(conn_table *t, int c)
{
    int *link;

    if (--t->clients[c].refs > 0)
        return;
    link = &t->buckets[hash_addr(&t->clients[c].addr, t->nbuckets)];
    while (*link != c)
        link = &t->clients[*link].next;
    *link = t->clients[c].next;
    t->clients[c].next = t->free_client;
    t->free_client = c;
    t->nclients--;
}

static int slot_insert(conn_table *t, int fd, const conn_addr *a, int64_t now_ms, bool started)
{
    int id = t->free_slot;
    slot *s = &t->slots[id];

    t->free_slot = s->next_free;
    s->fd = fd;
    s->client = client_ref(t, a);
    s->ready_ms = now_ms;
    s->started = started;
    s->busy = false;
    s->cut = false;
    t->clients[s->client].live++;
    t->by_fd[fd] = id;
    t->open++;
    t->live++;
    return id;
}

static void slot_release(conn_table *t, int id)
{
    slot *s = &t->slots[id];

    if (s->cut) {
        t->cut_pending--;
    } else {
        t->live--;
        t->clients[s->client].live--;
    }
    client_unref(t, s->client);
    t->by_fd[s->fd] = -1;
    t->open--;
    s->fd = -1;
    s->next_free = t->free_slot;
    t->free_slot = id;
}

static void slot_cut(conn_table *t, int id)
{
    slot *s = &t->slots[id];

    s->cut = true;
    t->live--;
    t->clients[s->client].live--;
    t->cut_pending++;
}

static bool waiting(const slot *s)
{
    return s->fd >= 0 && s->started && !s->busy && !s->cut;
}

static int pick_victim(const conn_table *t)
{
    int best = -1;

    for (size_t i = 0; i < t->nslots; i++) {
        const slot *s = &t->slots[i];
        if (!waiting(s))
            continue;
        if (best < 0) {
            best = (int)i;
            continue;
        }
        size_t n = t->clients[s->client].live, bn = t->clients[t->slots[best].client].live;
        if (n > bn || (n == bn && s->ready_ms < t->slots[best].ready_ms))
            best = (int)i;
    }
    return best;
}

conn_verdict conn_table_admit(conn_table *t, int fd, const conn_addr *a, int64_t now_ms,
                              int *victim_fd)
{
    conn_verdict v = CONN_ADMIT;
    size_t held, free_slots;
    bool light;
    int c;

    if (!t || !a || fd < 0 || (size_t)fd >= t->max_fd)
        return CONN_REFUSE_FULL;
    if (t->by_fd[fd] >= 0)
        slot_release(t, t->by_fd[fd]);
    c = client_find(t, a);
    held = c >= 0 ? t->clients[c].live : 0;
    if (held >= t->lim.max_per_client)
        return CONN_REFUSE_CLIENT;
    light = held < CONN_LIGHT_CLIENT;
    free_slots = t->nslots - t->open;
    /* The last `reserve` free entries are for light clients: a burst that
     * fills the room with connections cut but not yet closed must not
     * shut out a client that holds next to nothing. */
    if (free_slots == 0 || (!light && free_slots <= t->reserve))
        return CONN_REFUSE_FULL;
    if (t->live >= t->lim.max_total) {
        int victim = pick_victim(t);
        if (victim >= 0) {
            slot_cut(t, victim);
            if (victim_fd)
                *victim_fd = t->slots[victim].fd;
            v = CONN_ADMIT_EVICTING;
        } else if (!light) {
            return CONN_REFUSE_FULL;
        }
        /* else: a light client goes over the limit, into the room */
    }
    slot_insert(t, fd, a, now_ms, false);
    return v;
}

int conn_table_started(conn_table *t, int fd, const conn_addr *a, int64_t now_ms)
{
    int id;

    if (!t || !a || fd < 0 || (size_t)fd >= t->max_fd)
        return -1;
    id = t->by_fd[fd];
    if (id >= 0) {
        t->slots[id].started = true;
        return id;
    }
    if (t->free_slot < 0)
        return -1;
    return slot_insert(t, fd, a, now_ms, true);
}

void conn_table_forget(conn_table *t, int fd)
{
    if (t && fd >= 0 && (size_t)fd < t->max_fd && t->by_fd[fd] >= 0)
        slot_release(t, t->by_fd[fd]);
}

static slot *live_slot(conn_table *t, int id)
{
    if (!t || id < 0 || (size_t)id >= t->nslots || t->slots[id].fd < 0)
        return NULL;
    return &t->slots[id];
}

void conn_table_busy(conn_table *t, int id)
{
    slot *s = live_slot(t, id);

    if (s)
        s->busy = true;
}

void conn_table_idle(conn_table *t, int id, int64_t now_ms)
{
    slot *s = live_slot(t, id);

    if (s) {
        s->busy = false;
        s->ready_ms = now_ms;
    }
}

void conn_table_closed(conn_table *t, int id)
{
    if (live_slot(t, id))
        slot_release(t, id);
}

size_t conn_table_expire(conn_table *t, int64_t now_ms, int *fds, size_t max)
{
    size_t n = 0;

    if (!t)
        return 0;
    for (size_t i = 0; i < t->nslots && n < max; i++) {
        slot *s = &t->slots[i];
        if (s->fd < 0 || s->busy || s->cut || now_ms - s->ready_ms < t->lim.read_deadline_ms)
            continue;
        if (!s->started) {
            slot_release(t, (int)i);
            continue;
        }
        slot_cut(t, (int)i);
        fds[n++] = s->fd;
    }
    return n;
}

int64_t conn_table_next_deadline(const conn_table *t, int64_t now_ms)
{
    int64_t best = -1;

    if (!t)
        return -1;
    for (size_t i = 0; i < t->nslots; i++) {
        const slot *s = &t->slots[i];
        if (s->fd < 0 || s->busy || s->cut)
            continue;
        int64_t left = s->ready_ms + t->lim.read_deadline_ms - now_ms;
        if (left < 0)
            left = 0;
        if (best < 0 || left < best)
            best = left;
    }
    return best;
}

void conn_table_stats(const conn_table *t, conn_stats *st)
{
    if (!st)
        return;
    memset(st, 0, sizeof(*st));
    if (!t)
        return;
    st->open = t->open;
    st->live = t->live;
    st->clients = t->nclients;
    st->cut_pending = t->cut_pending;
}

size_t conn_table_client_count(const conn_table *t, const conn_addr *a)
{
    int c;

    if (!t || !a)
        return 0;
    c = client_find(t, a);
    return c >= 0 ? t->clients[c].live : 0;
}
