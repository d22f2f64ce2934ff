/* The executor's disk: its whole state as a plain image (the records, the
 * report counter, the arrival counter) in one versioned JSON file,
 * DIR/assignments.json, replaced atomically. The store never sees the
 * executor or its lock: the table hands it a copy and gets one back. */
#ifndef EXECUTOR_STORE_H
#define EXECUTOR_STORE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "coord.h"
#include "record.h"

#define EXEC_STORE_FILE "assignments.json"
/* The format this build writes. Format 3 added "seen" (the clock the
 * heartbeat sends); formats 2 (without it) and 1 (marked "version": 1,
 * written before the store had its own format) still load, with an empty
 * seen clock; anything newer is refused, never guessed at. */
#define EXEC_STORE_FORMAT 3

typedef struct exec_image {
    char unit_id[COORD_ID_MAX + 1];
    uint64_t report_counter; /* the unit's own vclock entry */
    uint64_t next_seq;       /* arrival counter, above every record's seq */
    size_t n;
    assignment **v; /* n owned records in arrival order */
    vclock seen;    /* every clock received, merged; last: large */
} exec_image;

/* Frees the records; the image is empty afterwards. Accepts NULL. */
void exec_image_release(exec_image *img);

/* The disk format of an image (format EXEC_STORE_FORMAT); new reference,
 * NULL when out of memory. */
json_t *store_image_json(const exec_image *img);
/* Reads a parsed state file of format 1, 2 or 3 that must belong to unit_id.
 * 0 and *out filled (release it), or -1 with a reason in err and *out
 * untouched: a file this build cannot read must stop the service rather
 * than forget work. */
int store_image_parse(const json_t *root, const char *unit_id, exec_image *out, char *err,
                      size_t errlen);

/* Writes img to DIR/assignments.json durably (temp file, fsync, rename,
 * fsync the directory). 0, or -1 with errno set. */
int store_save(const char *dir, const exec_image *img);
/* Writes root (borrowed; NULL fails with ENOMEM) to DIR/name the same
 * durable way: other files of the terminal (steps.c) use it too. */
int store_write_json(const char *dir, const char *name, const json_t *root);
/* Loads DIR/assignments.json. 0 with *out filled (empty, with unit_id set,
 * when there is no file yet), or -1 with a reason naming the file in err
 * and *out untouched. */
int store_load(const char *dir, const char *unit_id, exec_image *out, char *err, size_t errlen);

#endif
