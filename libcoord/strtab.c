/* String interning on top of hmap: the value is a counted copy, so the
 * pointer handed out stays valid until its last holder lets go. */
#include "strtab.h"

#include <stdlib.h>
#include <string.h>

#include "hmap.h"

typedef struct interned {
    size_t refs;
    char s[]; /* what holders point at */
} interned;

struct strtab {
    hmap *m; /* string -> interned* */
};

strtab *strtab_new(void)
{
    strtab *t = calloc(1, sizeof(*t));

    if (!t)
        return NULL;
    t->m = hmap_new();
    if (!t->m) {
        free(t);
        return NULL;
    }
    return t;
}

void strtab_free(strtab *t)
{
    if (!t)
        return;
    hmap_free(t->m, free);
    free(t);
}

const char *strtab_intern(strtab *t, const char *s)
{
    interned *e;
    size_t len;

    if (!t || !s)
        return NULL;
    e = hmap_get(t->m, s);
    if (e) {
        e->refs++;
        return e->s;
    }
    len = strlen(s);
    e = malloc(sizeof(*e) + len + 1);
    if (!e)
        return NULL;
    e->refs = 1;
    memcpy(e->s, s, len + 1);
    if (hmap_put(t->m, s, e, NULL) != 0) {
        free(e);
        return NULL;
    }
    return e->s;
}

void strtab_release(strtab *t, const char *s)
{
    interned *e;

    if (!t || !s)
        return;
    e = hmap_get(t->m, s);
    if (!e || --e->refs > 0)
        return;
    hmap_del(t->m, s);
    free(e);
}

size_t strtab_size(const strtab *t)
{
    return t ? hmap_size(t->m) : 0;
}
