#include "match.h"

#include <string.h>

bool caps_match(const char *const *required, size_t nreq, const char *const *offered, size_t noff)
{
    if (nreq == 0)
        return true;
    if (!required)
        return false;
    /* Capability lists are a handful of short strings; a quadratic scan
     * beats sorting or hashing them. Interned names (capset.h) are equal
     * by pointer, which spares most strcmp calls. */
    for (size_t i = 0; i < nreq; i++) {
        bool found = false;

        if (!required[i])
            return false;
        for (size_t j = 0; offered && j < noff && !found; j++)
            found =
                offered[j] && (offered[j] == required[i] || strcmp(required[i], offered[j]) == 0);
        if (!found)
            return false;
    }
    return true;
}

bool unit_eligible(const unit_candidate *u, const char *const *req, size_t nreq)
{
    return unit_has_room(u) && caps_match(req, nreq, u->caps, u->ncaps);
}

static bool is_own(const unit_candidate *u, const char *own_district)
{
    return own_district && u->district && strcmp(u->district, own_district) == 0;
}

int unit_order(const unit_candidate *a, const unit_candidate *b, const char *own_district)
{
    bool oa = is_own(a, own_district), ob = is_own(b, own_district);
    int s;

    if (oa != ob)
        return oa ? -1 : 1;
    if (a->active_jobs != b->active_jobs)
        return a->active_jobs < b->active_jobs ? -1 : 1;
    s = strcmp(a->id ? a->id : "", b->id ? b->id : "");
    return s < 0 ? -1 : (s > 0 ? 1 : 0);
}

/* Total order (ties broken by index) so the ranking never depends on the
 * sort algorithm or on the input being pre-sorted. */
static int prefer(const unit_candidate *c, size_t a, size_t b, const char *own)
{
    int s = unit_order(&c[a], &c[b], own);

    if (s != 0)
        return s;
    return a < b ? -1 : (a > b ? 1 : 0);
}

static void sift(size_t *h, size_t root, size_t n, const unit_candidate *c, const char *own)
{
    for (;;) {
        size_t child = 2 * root + 1, tmp;

        if (child >= n)
            return;
        if (child + 1 < n && prefer(c, h[child], h[child + 1], own) < 0)
            child++;
        if (prefer(c, h[root], h[child], own) >= 0)
            return;
        tmp = h[root];
        h[root] = h[child];
        h[child] = tmp;
        root = child;
    }
}

size_t rank_units(const unit_candidate *c, size_t n, const char *own_district,
                  const char *const *req, size_t nreq, size_t *out_idx)
{
    size_t k = 0;

    if (!c || !out_idx)
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (unit_eligible(&c[i], req, nreq))
            out_idx[k++] = i;
    }
    /* Heapsort: in place and O(k log k), and qsort has no context pointer
     * for own_district in standard C. Max-heap on "least preferred". */
    for (size_t i = k / 2; i-- > 0;)
        sift(out_idx, i, k, c, own_district);
    for (size_t end = k; end > 1; end--) {
        size_t tmp = out_idx[0];

        out_idx[0] = out_idx[end - 1];
        out_idx[end - 1] = tmp;
        sift(out_idx, 0, end - 1, c, own_district);
    }
    return k;
}

long select_unit(const unit_candidate *c, size_t n, const char *own_district,
                 const char *const *req, size_t nreq)
{
    long best = -1;

    if (!c)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (!unit_eligible(&c[i], req, nreq))
            continue;
        if (best < 0 || prefer(c, i, (size_t)best, own_district) < 0)
            best = (long)i;
    }
    return best;
}
