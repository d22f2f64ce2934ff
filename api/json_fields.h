/* Declarative JSON -> C struct parsing (the Taler field-spec idea). Handlers
 * describe the fields they take; one call checks types, caps, enums and ids,
 * refuses unknown keys, and fills the struct. Business logic never sees a
 * json_t it has to pick apart. */
#ifndef API_JSON_FIELDS_H
#define API_JSON_FIELDS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "api_errors.h"
#include "vclock.h"

typedef enum field_type {
    FT_ID,      /* char[COORD_ID_MAX+1] at offset; coord_id_valid */
    FT_STRING,  /* char *  (borrowed from the json, valid while it lives); max = length cap */
    FT_INT,     /* int64_t; min/max inclusive */
    FT_BOOL,    /* bool */
    FT_ENUM,    /* int; index of the string in enum_vals (NULL-terminated) */
    FT_ID_LIST, /* id_list; each element an id; max = element cap; min = min count */
    FT_OBJECT,  /* json_t * borrowed; a JSON object within the free-form caps below */
    FT_ANY,     /* json_t * borrowed; any JSON value within the free-form caps below */
    FT_VCLOCK,  /* vclock; object of id -> non-negative integer */
} field_type;

/* Caps of a free-form value (FT_OBJECT, FT_ANY: a job's location and
 * payload, a result's data) unless its spec sets its own. Valid JSON may
 * nest 2,048 deep (jansson's parser), but a value that deep inside a peer's
 * page or an assignment is deeper than the receiver can read, so one such
 * object would stop the city's sync; no dispatch front-end comes near
 * these. Depth: a scalar is 0, [] or {} is 1, each level inside adds 1.
 * Size: bytes of the compact JSON text (what json_canonical writes). */
#define API_JSON_DEPTH_MAX 16
#define API_JSON_VALUE_MAX 4096
/* A job object as a broker shows it (a claim's, an assignment's): its
 * location and payload sit one level down, its result's data two. */
#define API_JSON_JOB_DEPTH_MAX (API_JSON_DEPTH_MAX + 2)

typedef struct id_list {
    size_t n;
    char (*v)[65]; /* heap, n entries; release with id_list_release */
} id_list;
void id_list_release(id_list *l);

typedef struct field_spec {
    const char *key;
    field_type type;
    size_t offset; /* offsetof(struct, member) */
    bool required;
    int64_t min, max; /* FT_INT range; FT_STRING max length (0: 4096); FT_ID_LIST min/max count (max
                         0: 32); FT_OBJECT/FT_ANY max nesting depth (min, 0: API_JSON_DEPTH_MAX)
                         and max compact size (max, 0: API_JSON_VALUE_MAX) */
    /* (FT_INT with min == max == 0: any int64; FT_STRING min > 0: minimum length) */
    const char *const *enum_vals;
    size_t present_offset; /* if nonzero: offset of a bool set true when the key was present (and
                              not null) */
} field_spec;

#define FIELD_END                                                                                  \
    {                                                                                              \
        NULL, 0, 0, false, 0, 0, NULL, 0                                                           \
    }

typedef struct field_error {
    api_err code;
    char message[256];
} field_error;

/* Fills err (NULL: ignored) with code and the formatted message; -1, for
 * `return field_fail(...)` in a parser of its own. */
int field_fail(field_error *err, api_err code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* obj must be a JSON object. Optional fields absent or null leave the struct
 * member untouched (zero it first). On failure returns -1 with err filled and
 * releases whatever it allocated; returns 0 on success. */
int json_parse_fields(const json_t *obj, const field_spec *spec, void *out, field_error *err);

/* vclock <-> {"node": counter, ...}. to_json returns a new reference. */
json_t *vclock_to_json(const vclock *vc);
/* 0, or -1 with err (invalid_field) on non-object, bad node id, negative or
 * absurd counter, or too many entries. */
int vclock_from_json(const json_t *j, vclock *out, field_error *err);

/* True when v nests deeper than limit levels (depth as for the caps
 * above); costs at most limit + 1 levels of recursion. */
bool json_too_deep(const json_t *v, int64_t limit);

/* Canonical compact text of a JSON value (sorted keys), malloc'd. */
char *json_canonical(const json_t *j);

#endif
