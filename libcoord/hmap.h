/* String-keyed open-addressing hash map (keys copied, or borrowed from the
 * values they name; values are caller pointers). Not thread-safe. */
#ifndef COORD_HMAP_H
#define COORD_HMAP_H

#include <stdbool.h>
#include <stddef.h>

typedef struct hmap hmap;

hmap *hmap_new(void);
/* A map that keeps the caller's key pointers instead of copies (a record
 * keyed by its own id: a hundred thousand jobs need not hold their ids
 * twice). Each key must stay valid and unchanged while its entry is in the
 * map; a put that replaces a value takes the new key pointer too. */
hmap *hmap_new_borrowed(void);
/* Frees the map and its key copies; calls free_val on each value if given. */
void hmap_free(hmap *m, void (*free_val)(void *));
/* Inserts or replaces. Returns 0 or COORD_E_NOMEM. *old (if old != NULL)
 * receives the replaced value or NULL. */
int hmap_put(hmap *m, const char *key, void *val, void **old);
void *hmap_get(const hmap *m, const char *key);
/* Removes and returns the value (NULL when absent). */
void *hmap_del(hmap *m, const char *key);
size_t hmap_size(const hmap *m);
/* Iteration: *it starts at 0; returns false at the end. Do not mutate the
 * map while iterating. */
bool hmap_next(const hmap *m, size_t *it, const char **key, void **val);

#endif
