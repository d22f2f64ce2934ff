/* The job queue (see jobqueue.h): a heap of borrowed ids and an index
 * that points into the heap. */
#include "jobqueue.h"

#include <stdlib.h>
#include <string.h>

#include "errors.h"

/* A queued item: 24 bytes, the id borrowed. slot is where the index holds
 * its heap position, so moving the item in the heap updates the index in
 * O(1) and never allocates. */
typedef struct qent {
    const char *id;
    uint64_t seq;
    uint32_t slot;
    uint32_t sev;
} qent;

/* The index: open addressing with linear probing over the heap itself.
 * A slot holds heap position + 1 (0: empty); the key is read through the
 * heap item, so the index stores no string. Kept at most half full. */
struct jobqueue {
    qent *heap;
    size_t n, cap;
    uint32_t *index;
    size_t icap; /* power of two, or 0 before the first push */
};

#define INDEX_MIN 16

static size_t hash_id(const char *id)
{
    return (size_t)coord_digest(id, strlen(id));
}

/* True when a must leave the queue before b. */
static bool before(const qent *a, const qent *b)
{
    if (a->sev != b->sev)
        return a->sev > b->sev;
    if (a->seq != b->seq)
        return a->seq < b->seq;
    /* Equal seq only happens through caller error; the id keeps the order
     * total so peek/pop/snapshot stay deterministic anyway. */
    return strcmp(a->id, b->id) < 0;
}

static void to_item(const qent *e, jobq_item *out)
{
    size_t len = strlen(e->id);

    memset(out, 0, sizeof(*out));
    memcpy(out->id, e->id, len < COORD_ID_MAX ? len : COORD_ID_MAX);
    out->sev = (severity)e->sev;
    out->seq = e->seq;
}

/* The index slot holding id, or SIZE_MAX. */
static size_t index_find(const jobqueue *q, const char *id)
{
    if (!q->icap)
        return SIZE_MAX;
    size_t mask = q->icap - 1;
    for (size_t i = hash_id(id) & mask;; i = (i + 1) & mask) {
        uint32_t v = q->index[i];

        if (!v)
            return SIZE_MAX;
        if (strcmp(q->heap[v - 1].id, id) == 0)
            return i;
    }
}

/* Points a free slot for heap position pos (its id) at it. */
static void index_insert(jobqueue *q, size_t pos)
{
    size_t mask = q->icap - 1, i = hash_id(q->heap[pos].id) & mask;

    while (q->index[i])
        i = (i + 1) & mask;
    q->index[i] = (uint32_t)(pos + 1);
    q->heap[pos].slot = (uint32_t)i;
}

/* Empties slot i, shifting later entries of its probe run back so every
 * lookup still finds them (no tombstones: removals are as common as
 * pushes). */
static void index_delete(jobqueue *q, size_t i)
{
    size_t mask = q->icap - 1;

    q->index[i] = 0;
    for (size_t j = (i + 1) & mask; q->index[j]; j = (j + 1) & mask) {
        size_t home = hash_id(q->heap[q->index[j] - 1].id) & mask;

        /* j's entry may move to i unless its home lies cyclically in (i, j]. */
        if (i <= j ? (home > i && home <= j) : (home > i || home <= j))
            continue;
        q->index[i] = q->index[j];
        q->heap[q->index[i] - 1].slot = (uint32_t)i;
        q->index[j] = 0;
        i = j;
    }
}

static int index_grow(jobqueue *q, size_t need)
{
    size_t ncap = q->icap ? q->icap : INDEX_MIN;

    while (ncap < 2 * need)
        ncap *= 2;
    if (ncap == q->icap)
        return COORD_OK;
    if (ncap > (size_t)UINT32_MAX)
        return COORD_E_NOMEM;
    uint32_t *ni = calloc(ncap, sizeof(*ni));
    if (!ni)
        return COORD_E_NOMEM;
    free(q->index);
    q->index = ni;
    q->icap = ncap;
    for (size_t pos = 0; pos < q->n; pos++)
        index_insert(q, pos);
    return COORD_OK;
}

static void place(jobqueue *q, size_t pos, const qent *e)
{
    q->heap[pos] = *e;
    q->index[e->slot] = (uint32_t)(pos + 1);
}

static void sift_up(jobqueue *q, size_t pos)
{
    qent e = q->heap[pos];

    while (pos > 0) {
        size_t parent = (pos - 1) / 2;

        if (!before(&e, &q->heap[parent]))
            break;
        place(q, pos, &q->heap[parent]);
        pos = parent;
    }
    place(q, pos, &e);
}

static void sift_down(jobqueue *q, size_t pos)
{
    qent e = q->heap[pos];

    for (;;) {
        size_t l = 2 * pos + 1, r = l + 1, best = pos;
        const qent *be = &e;

        if (l < q->n && before(&q->heap[l], be)) {
            best = l;
            be = &q->heap[l];
        }
        if (r < q->n && before(&q->heap[r], be))
            best = r;
        if (best == pos)
            break;
        place(q, pos, &q->heap[best]);
        pos = best;
    }
    place(q, pos, &e);
}

jobqueue *jobq_new(void)
{
    return calloc(1, sizeof(struct jobqueue));
}

void jobq_free(jobqueue *q)
{
    if (!q)
        return;
    free(q->index);
    free(q->heap);
    free(q);
}

size_t jobq_size(const jobqueue *q)
{
    return q ? q->n : 0;
}

int jobq_push(jobqueue *q, const char *id, severity sev, uint64_t seq)
{
    if (!q || !coord_id_valid(id) || (int)sev < SEV_LOW || sev > SEV_CRITICAL)
        return COORD_E_INVAL;
    if (index_find(q, id) != SIZE_MAX)
        return COORD_E_EXISTS;
    if (q->n == q->cap) {
        size_t ncap = q->cap ? q->cap * 2 : 16;
        qent *nh = realloc(q->heap, ncap * sizeof(*nh));

        if (!nh)
            return COORD_E_NOMEM;
        q->heap = nh;
        q->cap = ncap;
    }
    /* Grow the index before the heap changes: the only other step that
     * can fail. */
    if (index_grow(q, q->n + 1) != COORD_OK)
        return COORD_E_NOMEM;
    q->heap[q->n] = (qent){.id = id, .seq = seq, .sev = (uint32_t)sev};
    index_insert(q, q->n);
    q->n++;
    sift_up(q, q->n - 1);
    return COORD_OK;
}

int jobq_peek(const jobqueue *q, jobq_item *out)
{
    if (!q || q->n == 0)
        return COORD_E_NOTFOUND;
    if (out)
        to_item(&q->heap[0], out);
    return COORD_OK;
}

/* Removes the item at pos, keeping the heap valid. */
static void remove_at(jobqueue *q, size_t pos)
{
    index_delete(q, q->heap[pos].slot);
    q->n--;
    if (pos == q->n)
        return;
    place(q, pos, &q->heap[q->n]);
    /* The moved-in last item may belong above or below pos. */
    if (pos > 0 && before(&q->heap[pos], &q->heap[(pos - 1) / 2]))
        sift_up(q, pos);
    else
        sift_down(q, pos);
}

int jobq_pop(jobqueue *q, jobq_item *out)
{
    if (!q || q->n == 0)
        return COORD_E_NOTFOUND;
    if (out)
        to_item(&q->heap[0], out);
    remove_at(q, 0);
    return COORD_OK;
}

int jobq_remove(jobqueue *q, const char *id)
{
    size_t i;

    if (!q || !id || (i = index_find(q, id)) == SIZE_MAX)
        return COORD_E_NOTFOUND;
    remove_at(q, q->index[i] - 1);
    return COORD_OK;
}

bool jobq_contains(const jobqueue *q, const char *id)
{
    return q && id && index_find(q, id) != SIZE_MAX;
}

/* The snapshot's frontier fr[0..nf) is a heap of heap positions, best
 * item first: these two restore it after its root or its last entry
 * changed. */
static void frontier_down(const jobqueue *q, size_t *fr, size_t nf)
{
    for (size_t pos = 0;;) {
        size_t l = 2 * pos + 1, r = l + 1, best = pos;

        if (l < nf && before(&q->heap[fr[l]], &q->heap[fr[best]]))
            best = l;
        if (r < nf && before(&q->heap[fr[r]], &q->heap[fr[best]]))
            best = r;
        if (best == pos)
            return;
        size_t t = fr[pos];
        fr[pos] = fr[best];
        fr[best] = t;
        pos = best;
    }
}

static void frontier_up(const jobqueue *q, size_t *fr, size_t pos)
{
    while (pos > 0 && before(&q->heap[fr[pos]], &q->heap[fr[(pos - 1) / 2]])) {
        size_t t = fr[pos];

        fr[pos] = fr[(pos - 1) / 2];
        fr[(pos - 1) / 2] = t;
        pos = (pos - 1) / 2;
    }
}

size_t jobq_snapshot(const jobqueue *q, jobq_item *out, size_t max)
{
    if (!q || !out || max == 0 || q->n == 0)
        return 0;
    if (max > q->n)
        max = q->n;
    /* The best max items of a heap: a best-first walk from the root with a
     * small frontier of heap positions, O(max log max) whatever the queue
     * length (a dispatcher looks at the head of a long queue often). The
     * frontier never holds more than max + 1 positions. */
    size_t *fr = malloc((max + 2) * sizeof(*fr));
    size_t nf = 0, count = 0;

    if (!fr) {
        /* Out of memory: the head alone is still the right answer. */
        to_item(&q->heap[0], &out[0]);
        return 1;
    }
    fr[nf++] = 0;
    while (count < max && nf > 0) {
        size_t top = fr[0];

        fr[0] = fr[--nf];
        frontier_down(q, fr, nf);
        to_item(&q->heap[top], &out[count++]);
        for (size_t c = 2 * top + 1; c <= 2 * top + 2 && c < q->n; c++) {
            fr[nf] = c;
            frontier_up(q, fr, nf++);
        }
    }
    free(fr);
    return count;
}
