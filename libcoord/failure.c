#include "failure.h"

#include <stdlib.h>

#include "errors.h"
#include "hmap.h"
#include "util.h"

typedef struct fd_entry {
    uint64_t last_hb;
    bool lost;
} fd_entry;

struct failure_detector {
    uint64_t timeout_ms;
    hmap *units; /* id -> fd_entry */
};

failure_detector *fd_new(uint64_t timeout_ms)
{
    failure_detector *fd = calloc(1, sizeof(*fd));

    if (!fd)
        return NULL;
    fd->units = hmap_new();
    if (!fd->units) {
        free(fd);
        return NULL;
    }
    fd->timeout_ms = timeout_ms;
    return fd;
}

void fd_free(failure_detector *fd)
{
    if (!fd)
        return;
    hmap_free(fd->units, free);
    free(fd);
}

int fd_heartbeat(failure_detector *fd, const char *id, uint64_t now_ms)
{
    fd_entry *e;
    int was_lost;

    if (!fd || !coord_id_valid(id))
        return COORD_E_INVAL;
    e = hmap_get(fd->units, id);
    if (!e) {
        int rc;

        e = calloc(1, sizeof(*e));
        if (!e)
            return COORD_E_NOMEM;
        e->last_hb = now_ms;
        rc = hmap_put(fd->units, id, e, NULL);
        if (rc != COORD_OK) {
            free(e);
            return rc;
        }
        return 0;
    }
    was_lost = e->lost ? 1 : 0;
    e->lost = false;
    /* Callers may read the clock before taking their lock, so heartbeats
     * can arrive slightly out of order; never move last_hb backwards. */
    if (now_ms > e->last_hb)
        e->last_hb = now_ms;
    return was_lost;
}

int fd_remove(failure_detector *fd, const char *id)
{
    fd_entry *e;

    if (!fd || !id)
        return COORD_E_NOTFOUND;
    e = hmap_del(fd->units, id);
    if (!e)
        return COORD_E_NOTFOUND;
    free(e);
    return COORD_OK;
}

bool fd_is_lost(const failure_detector *fd, const char *id)
{
    const fd_entry *e;

    if (!fd || !id)
        return false;
    e = hmap_get(fd->units, id);
    return e && e->lost;
}

size_t fd_check(failure_detector *fd, uint64_t now_ms, void (*cb)(const char *id, void *arg),
                void *arg)
{
    size_t it = 0, n = 0;
    const char *id;
    void *v;

    if (!fd)
        return 0;
    while (hmap_next(fd->units, &it, &id, &v)) {
        fd_entry *e = v;

        /* now < last_hb (a heartbeat stamped after this check's clock read)
         * means the unit is alive; subtracting would wrap. */
        if (e->lost || now_ms <= e->last_hb || now_ms - e->last_hb <= fd->timeout_ms)
            continue;
        e->lost = true;
        n++;
        if (cb)
            cb(id, arg);
    }
    return n;
}

size_t fd_count(const failure_detector *fd)
{
    return fd ? hmap_size(fd->units) : 0;
}
