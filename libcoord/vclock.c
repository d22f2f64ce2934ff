#include "vclock.h"

#include <stdbool.h>
#include <string.h>

#include "errors.h"

void vclock_init(vclock *vc)
{
    if (vc)
        vc->n = 0;
}

void vclock_copy(vclock *dst, const vclock *src)
{
    if (!dst || dst == src)
        return;
    if (!src) {
        dst->n = 0;
        return;
    }
    /* Only the live prefix: the tail of a 5 KiB clock is never read. */
    dst->n = src->n;
    memcpy(dst->e, src->e, src->n * sizeof(src->e[0]));
}

/* Binary search. Returns true and the index when found, otherwise false and
 * the insertion point that keeps the array sorted. */
static bool find(const vclock *vc, const char *node, size_t *pos)
{
    size_t lo = 0, hi = vc->n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(vc->e[mid].node, node);

        if (c == 0) {
            *pos = mid;
            return true;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *pos = lo;
    return false;
}

uint64_t vclock_get(const vclock *vc, const char *node)
{
    size_t pos;

    if (!vc || !node || !find(vc, node, &pos))
        return 0;
    return vc->e[pos].counter;
}

int vclock_set(vclock *vc, const char *node, uint64_t counter)
{
    size_t pos;

    if (!vc || !coord_id_valid(node) || counter > VCLOCK_COUNTER_MAX)
        return COORD_E_INVAL;
    if (find(vc, node, &pos)) {
        if (counter > 0) {
            vc->e[pos].counter = counter;
        } else {
            memmove(&vc->e[pos], &vc->e[pos + 1], (vc->n - pos - 1) * sizeof(vc->e[0]));
            vc->n--;
        }
        return COORD_OK;
    }
    if (counter == 0)
        return COORD_OK; /* absent already means zero */
    if (vc->n >= VCLOCK_MAX_ENTRIES)
        return COORD_E_RANGE;
    memmove(&vc->e[pos + 1], &vc->e[pos], (vc->n - pos) * sizeof(vc->e[0]));
    /* Validated above: fits in COORD_ID_MAX + 1 with its terminator. */
    memcpy(vc->e[pos].node, node, strlen(node) + 1);
    vc->e[pos].counter = counter;
    vc->n++;
    return COORD_OK;
}

int vclock_tick(vclock *vc, const char *node)
{
    uint64_t cur;

    if (!vc || !coord_id_valid(node))
        return COORD_E_INVAL;
    cur = vclock_get(vc, node);
    if (cur >= VCLOCK_COUNTER_MAX)
        return COORD_E_INVAL;
    return vclock_set(vc, node, cur + 1);
}

int vclock_merge(vclock *dst, const vclock *src)
{
    vclock tmp;
    size_t i = 0, j = 0;

    if (!dst)
        return COORD_E_INVAL;
    if (!src || src == dst)
        return COORD_OK;
    /* Build the union aside so that hitting the cap leaves dst as it was. */
    tmp.n = 0;
    while (i < dst->n || j < src->n) {
        const vclock_entry *pick;
        int c;

        if (tmp.n == VCLOCK_MAX_ENTRIES)
            return COORD_E_RANGE;
        if (i == dst->n)
            c = 1;
        else if (j == src->n)
            c = -1;
        else
            c = strcmp(dst->e[i].node, src->e[j].node);
        if (c < 0) {
            pick = &dst->e[i++];
        } else if (c > 0) {
            pick = &src->e[j++];
        } else {
            pick = dst->e[i].counter >= src->e[j].counter ? &dst->e[i] : &src->e[j];
            i++;
            j++;
        }
        tmp.e[tmp.n++] = *pick;
    }
    vclock_copy(dst, &tmp);
    return COORD_OK;
}

int vclock_receive(vclock *dst, const vclock *src, const char *self, size_t *refused)
{
    vclock bounded;
    size_t n = 0;
    int rc;

    if (!dst || !self)
        return COORD_E_INVAL;
    if (!src || src == dst)
        return COORD_OK;
    /* src is sorted, so is what is kept of it. */
    bounded.n = 0;
    for (size_t i = 0; i < src->n; i++) {
        const vclock_entry *e = &src->e[i];
        uint64_t cur = vclock_get(dst, e->node), room = cur + VCLOCK_MAX_STEP;

        if (strcmp(e->node, self) == 0) {
            n += e->counter > cur;
            continue;
        }
        if (room > VCLOCK_COUNTER_MAX)
            room = VCLOCK_COUNTER_MAX;
        bounded.e[bounded.n] = *e;
        if (e->counter > room) {
            bounded.e[bounded.n].counter = room;
            n++;
        }
        bounded.n++;
    }
    rc = vclock_merge(dst, &bounded);
    if (rc == COORD_OK && refused)
        *refused = n;
    return rc;
}

vc_order vclock_compare(const vclock *a, const vclock *b)
{
    static const vclock empty = {0};
    bool a_bigger = false, b_bigger = false;
    size_t i = 0, j = 0;

    if (!a)
        a = &empty;
    if (!b)
        b = &empty;
    /* Absent entries are zero and stored counters are > 0, so a node present
     * on one side only makes that side bigger there. */
    while (i < a->n || j < b->n) {
        int c;

        if (i == a->n)
            c = 1;
        else if (j == b->n)
            c = -1;
        else
            c = strcmp(a->e[i].node, b->e[j].node);
        if (c < 0) {
            a_bigger = true;
            i++;
        } else if (c > 0) {
            b_bigger = true;
            j++;
        } else {
            if (a->e[i].counter > b->e[j].counter)
                a_bigger = true;
            else if (a->e[i].counter < b->e[j].counter)
                b_bigger = true;
            i++;
            j++;
        }
        if (a_bigger && b_bigger)
            return VC_CONCURRENT;
    }
    if (a_bigger)
        return VC_AFTER;
    if (b_bigger)
        return VC_BEFORE;
    return VC_EQUAL;
}

const char *vc_order_str(vc_order o)
{
    switch (o) {
    case VC_EQUAL:
        return "equal";
    case VC_BEFORE:
        return "before";
    case VC_AFTER:
        return "after";
    case VC_CONCURRENT:
        return "concurrent";
    default:
        return "unknown";
    }
}
