#include "jobqueue.h"

#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "hmap.h"

/* The index maps id -> heap position + 1, stored in the pointer itself, so
 * moving an item never allocates (hmap_put on an existing key only
 * replaces). Position + 1 keeps slot 0 distinguishable from "absent". */
struct jobqueue {
    jobq_item *heap;
    size_t n, cap;
    hmap *index;
};

static void *pos_val(size_t pos)
{
    return (void *)(uintptr_t)(pos + 1);
}

static size_t val_pos(void *v)
{
    return (size_t)(uintptr_t)v - 1;
}

/* True when a must leave the queue before b. */
static bool before(const jobq_item *a, const jobq_item *b)
{
    if (a->sev != b->sev)
        return a->sev > b->sev;
    if (a->seq != b->seq)
        return a->seq < b->seq;
    /* Equal seq only happens through caller error; the id keeps the order
     * total so peek/pop/snapshot stay deterministic anyway. */
    return strcmp(a->id, b->id) < 0;
}

static void place(jobqueue *q, size_t pos, const jobq_item *it)
{
    q->heap[pos] = *it;
    (void)hmap_put(q->index, it->id, pos_val(pos), NULL); /* existing key: cannot fail */
}

static void sift_up(jobqueue *q, size_t pos)
{
    jobq_item it = q->heap[pos];

    while (pos > 0) {
        size_t parent = (pos - 1) / 2;

        if (!before(&it, &q->heap[parent]))
            break;
        place(q, pos, &q->heap[parent]);
        pos = parent;
    }
    place(q, pos, &it);
}

static void sift_down(jobqueue *q, size_t pos)
{
    jobq_item it = q->heap[pos];

    for (;;) {
        size_t l = 2 * pos + 1, r = l + 1, best = pos;
        const jobq_item *bi = &it;

        if (l < q->n && before(&q->heap[l], bi)) {
            best = l;
            bi = &q->heap[l];
        }
        if (r < q->n && before(&q->heap[r], bi))
            best = r;
        if (best == pos)
            break;
        place(q, pos, &q->heap[best]);
        pos = best;
    }
    place(q, pos, &it);
}

jobqueue *jobq_new(void)
{
    jobqueue *q = calloc(1, sizeof(*q));

    if (!q)
        return NULL;
    q->index = hmap_new();
    if (!q->index) {
        free(q);
        return NULL;
    }
    return q;
}

void jobq_free(jobqueue *q)
{
    if (!q)
        return;
    hmap_free(q->index, NULL);
    free(q->heap);
    free(q);
}

size_t jobq_size(const jobqueue *q)
{
    return q ? q->n : 0;
}

int jobq_push(jobqueue *q, const char *id, severity sev, uint64_t seq)
{
    jobq_item it;
    size_t len;

    if (!q || !coord_id_valid(id) || (int)sev < SEV_LOW || sev > SEV_CRITICAL)
        return COORD_E_INVAL;
    if (hmap_get(q->index, id))
        return COORD_E_EXISTS;
    if (q->n == q->cap) {
        size_t ncap = q->cap ? q->cap * 2 : 16;
        jobq_item *nh = realloc(q->heap, ncap * sizeof(*nh));

        if (!nh)
            return COORD_E_NOMEM;
        q->heap = nh;
        q->cap = ncap;
    }
    /* Insert into the index first: it is the only step that can fail, and
     * the heap has not changed yet. */
    if (hmap_put(q->index, id, pos_val(q->n), NULL) != COORD_OK)
        return COORD_E_NOMEM;
    memset(&it, 0, sizeof(it));
    len = strlen(id);
    memcpy(it.id, id, len + 1);
    it.sev = sev;
    it.seq = seq;
    q->heap[q->n++] = it;
    sift_up(q, q->n - 1);
    return COORD_OK;
}

int jobq_peek(const jobqueue *q, jobq_item *out)
{
    if (!q || q->n == 0)
        return COORD_E_NOTFOUND;
    if (out)
        *out = q->heap[0];
    return COORD_OK;
}

/* Removes the item at pos, keeping the heap valid. */
static void remove_at(jobqueue *q, size_t pos)
{
    (void)hmap_del(q->index, q->heap[pos].id);
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
        *out = q->heap[0];
    remove_at(q, 0);
    return COORD_OK;
}

int jobq_remove(jobqueue *q, const char *id)
{
    void *v;

    if (!q || !id)
        return COORD_E_NOTFOUND;
    v = hmap_get(q->index, id);
    if (!v)
        return COORD_E_NOTFOUND;
    remove_at(q, val_pos(v));
    return COORD_OK;
}

bool jobq_contains(const jobqueue *q, const char *id)
{
    return q && id && hmap_get(q->index, id) != NULL;
}

static int cmp_items(const void *a, const void *b)
{
    if (before(a, b))
        return -1;
    if (before(b, a))
        return 1;
    return 0;
}

size_t jobq_snapshot(const jobqueue *q, jobq_item *out, size_t max)
{
    size_t k;

    if (!q || !out || max == 0 || q->n == 0)
        return 0; /* heap is NULL until the first push */
    if (max >= q->n) {
        memcpy(out, q->heap, q->n * sizeof(*out));
        qsort(out, q->n, sizeof(*out), cmp_items);
        return q->n;
    }
    /* The best max items of a heap: a best-first walk from the root with a
     * small frontier of heap positions, O(max log max) whatever the queue
     * length (a dispatcher looks at the head of a long queue often). */
    size_t *fr = malloc((max + 2) * sizeof(*fr));
    if (fr) {
        size_t nf = 0, count = 0;
        fr[nf++] = 0;
        while (count < max && nf > 0) {
            /* pop the best position */
            size_t top = fr[0];
            fr[0] = fr[--nf];
            for (size_t pos = 0;;) {
                size_t l = 2 * pos + 1, r = l + 1, best = pos;
                if (l < nf && before(&q->heap[fr[l]], &q->heap[fr[best]]))
                    best = l;
                if (r < nf && before(&q->heap[fr[r]], &q->heap[fr[best]]))
                    best = r;
                if (best == pos)
                    break;
                size_t t = fr[pos];
                fr[pos] = fr[best];
                fr[best] = t;
                pos = best;
            }
            out[count++] = q->heap[top];
            for (size_t c = 2 * top + 1; c <= 2 * top + 2 && c < q->n; c++) {
                size_t pos = nf++;
                fr[pos] = c;
                while (pos > 0 && before(&q->heap[fr[pos]], &q->heap[fr[(pos - 1) / 2]])) {
                    size_t t = fr[pos];
                    fr[pos] = fr[(pos - 1) / 2];
                    fr[(pos - 1) / 2] = t;
                    pos = (pos - 1) / 2;
                }
            }
        }
        free(fr);
        return count;
    }
    /* Out of memory: keep the best max seen so far by insertion. */
    memcpy(out, q->heap, max * sizeof(*out));
    qsort(out, max, sizeof(*out), cmp_items);
    for (size_t i = max; i < q->n; i++) {
        if (!before(&q->heap[i], &out[max - 1]))
            continue;
        k = max - 1;
        while (k > 0 && before(&q->heap[i], &out[k - 1])) {
            out[k] = out[k - 1];
            k--;
        }
        out[k] = q->heap[i];
    }
    return max;
}
