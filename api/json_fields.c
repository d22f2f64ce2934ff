/* Declarative JSON -> C struct parsing, and the vclock codec. */
#include "json_fields.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#define STRING_DEFAULT_MAX  4096
#define ID_LIST_DEFAULT_MAX 32

int field_fail(field_error *err, api_err code, const char *fmt, ...)
{
    va_list ap;

    if (!err)
        return -1;
    err->code = code;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof(err->message), fmt, ap);
    va_end(ap);
    return -1;
}
#define fail field_fail

/* A client-chosen key quoted in a message: printable ASCII only, so the
 * message is valid UTF-8 whatever the key was. */
static void quote_key(char *dst, size_t dstsz, const char *key)
{
    size_t i = 0;

    for (; key && key[i] && i + 4 < dstsz && i < 64; i++) {
        unsigned char c = (unsigned char)key[i];
        dst[i] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
    }
    if (key && key[i] && i + 4 < dstsz) {
        memcpy(dst + i, "...", 3);
        i += 3;
    }
    dst[i] = '\0';
}

void id_list_release(id_list *l)
{
    if (!l)
        return;
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

static const field_spec *find_spec(const field_spec *spec, const char *key)
{
    for (; spec->key; spec++)
        if (strcmp(spec->key, key) == 0)
            return spec;
    return NULL;
}

/* A string of exactly json_string_length bytes (no embedded NUL). */
static bool string_clean(const json_t *v)
{
    return strlen(json_string_value(v)) == json_string_length(v);
}

static bool id_ok(const json_t *v)
{
    return json_string_length(v) <= COORD_ID_MAX && string_clean(v) &&
           coord_id_valid(json_string_value(v));
}

static int cmp_str_ptr(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int parse_id_list(const json_t *v, const field_spec *f, id_list *out, field_error *err)
{
    size_t n, maxn = f->max > 0 ? (size_t)f->max : ID_LIST_DEFAULT_MAX;
    size_t minn = f->min > 0 ? (size_t)f->min : 0;
    const char **sorted = NULL;
    id_list l = {0, NULL};
    int r = -1;

    if (!json_is_array(v))
        return fail(err, API_E_INVALID_FIELD, "field '%s' must be an array of ids", f->key);
    n = json_array_size(v);
    if (n < minn)
        return fail(err, API_E_INVALID_FIELD, "field '%s' needs at least %zu entries", f->key,
                    minn);
    if (n > maxn)
        return fail(err, API_E_INVALID_FIELD, "field '%s' takes at most %zu entries", f->key, maxn);
    for (size_t i = 0; i < n; i++) {
        const json_t *e = json_array_get(v, i);
        if (!json_is_string(e))
            return fail(err, API_E_INVALID_FIELD, "field '%s' entry %zu must be a string", f->key,
                        i);
        if (!id_ok(e))
            return fail(
                err, API_E_INVALID_ID,
                "field '%s' entry %zu is not a valid id ([A-Za-z0-9._-]{1,64}, not . or ..)",
                f->key, i);
    }
    if (n == 0) {
        *out = l;
        return 0;
    }
    l.v = calloc(n, sizeof(*l.v));
    sorted = calloc(n, sizeof(*sorted));
    if (!l.v || !sorted) {
        fail(err, API_E_INTERNAL, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        const json_t *e = json_array_get(v, i);
        memcpy(l.v[i], json_string_value(e), json_string_length(e) + 1);
        sorted[i] = l.v[i];
    }
    l.n = n;
    qsort(sorted, n, sizeof(*sorted), cmp_str_ptr);
    for (size_t i = 1; i < n; i++) {
        if (strcmp(sorted[i - 1], sorted[i]) == 0) {
            fail(err, API_E_INVALID_FIELD, "field '%s' lists '%s' twice", f->key, sorted[i]);
            goto out;
        }
    }
    *out = l;
    l.v = NULL;
    r = 0;
out:
    free(sorted);
    free(l.v);
    return r;
}

static int parse_enum(const json_t *v, const field_spec *f, int *out, field_error *err)
{
    char allowed[160];
    size_t used = 0;

    if (json_is_string(v) && string_clean(v) && f->enum_vals) {
        for (int i = 0; f->enum_vals[i]; i++) {
            if (strcmp(f->enum_vals[i], json_string_value(v)) == 0) {
                *out = i;
                return 0;
            }
        }
    }
    allowed[0] = '\0';
    for (size_t i = 0; f->enum_vals && f->enum_vals[i]; i++) {
        int w = snprintf(allowed + used, sizeof(allowed) - used, "%s%s", i ? ", " : "",
                         f->enum_vals[i]);
        if (w < 0 || (size_t)w >= sizeof(allowed) - used)
            break;
        used += (size_t)w;
    }
    return fail(err, API_E_INVALID_FIELD, "field '%s' must be one of: %s", f->key, allowed);
}

/* Recursion stops limit + 1 levels down, whatever v holds. */
bool json_too_deep(const json_t *v, int64_t limit)
{
    const char *k;
    json_t *c;
    size_t i;

    if (!json_is_array(v) && !json_is_object(v))
        return false;
    if (limit <= 0)
        return true;
    if (json_is_array(v)) {
        json_array_foreach ((json_t *)v, i, c)
            if (json_too_deep(c, limit - 1))
                return true;
        return false;
    }
    json_object_foreach ((json_t *)v, k, c)
        if (json_too_deep(c, limit - 1))
            return true;
    return false;
}

struct text_budget {
    size_t used, cap;
};

/* Counts the encoder's output and stops it once over the cap, so a large
 * value costs no allocation and no more work than the cap. */
static int count_text(const char *buf, size_t size, void *arg)
{
    struct text_budget *b = arg;

    (void)buf;
    b->used += size;
    return b->used > b->cap ? -1 : 0;
}

/* Depth and size caps of a free-form value (FT_OBJECT, FT_ANY). */
static int check_free_form(const json_t *v, const field_spec *f, field_error *err)
{
    int64_t depth = f->min > 0 ? f->min : API_JSON_DEPTH_MAX;
    struct text_budget b = {0, f->max > 0 ? (size_t)f->max : API_JSON_VALUE_MAX};

    if (json_too_deep(v, depth))
        return fail(err, API_E_INVALID_FIELD, "field '%s' nests deeper than %lld levels", f->key,
                    (long long)depth);
    /* Key order does not change the length: no sorting needed to measure
     * the canonical text. */
    if (json_dump_callback(v, count_text, &b, JSON_COMPACT | JSON_ENCODE_ANY) < 0) {
        if (b.used > b.cap)
            return fail(err, API_E_INVALID_FIELD, "field '%s' is larger than %zu bytes as JSON",
                        f->key, b.cap);
        return fail(err, API_E_INTERNAL, "field '%s' cannot be encoded", f->key);
    }
    return 0;
}

static int parse_one(const json_t *v, const field_spec *f, char *out, field_error *err)
{
    void *dst = out + f->offset;

    switch (f->type) {
    case FT_ID:
        if (!json_is_string(v))
            return fail(err, API_E_INVALID_FIELD, "field '%s' must be a string", f->key);
        if (!id_ok(v))
            return fail(err, API_E_INVALID_ID,
                        "field '%s' is not a valid id ([A-Za-z0-9._-]{1,64}, not . or ..)", f->key);
        memcpy(dst, json_string_value(v), json_string_length(v) + 1);
        return 0;
    case FT_STRING: {
        size_t maxl = f->max > 0 ? (size_t)f->max : STRING_DEFAULT_MAX;
        size_t minl = f->min > 0 ? (size_t)f->min : 0;
        const char *s;
        if (!json_is_string(v))
            return fail(err, API_E_INVALID_FIELD, "field '%s' must be a string", f->key);
        if (!string_clean(v))
            return fail(err, API_E_INVALID_FIELD, "field '%s' must not contain NUL", f->key);
        if (json_string_length(v) > maxl)
            return fail(err, API_E_INVALID_FIELD, "field '%s' is longer than %zu bytes", f->key,
                        maxl);
        if (json_string_length(v) < minl)
            return fail(err, API_E_INVALID_FIELD, "field '%s' is shorter than %zu bytes", f->key,
                        minl);
        s = json_string_value(v);
        memcpy(dst, &s, sizeof(s));
        return 0;
    }
    case FT_INT: {
        int64_t lo = f->min, hi = f->max, x;
        if (lo == 0 && hi == 0) {
            lo = INT64_MIN;
            hi = INT64_MAX;
        }
        if (!json_is_integer(v))
            return fail(err, API_E_INVALID_FIELD, "field '%s' must be an integer", f->key);
        x = (int64_t)json_integer_value(v);
        if (x < lo || x > hi)
            return fail(err, API_E_INVALID_FIELD, "field '%s' must be in [%lld, %lld]", f->key,
                        (long long)lo, (long long)hi);
        memcpy(dst, &x, sizeof(x));
        return 0;
    }
    case FT_BOOL: {
        bool b;
        if (!json_is_boolean(v))
            return fail(err, API_E_INVALID_FIELD, "field '%s' must be true or false", f->key);
        b = json_is_true(v);
        memcpy(dst, &b, sizeof(b));
        return 0;
    }
    case FT_ENUM: {
        int idx = 0;
        if (parse_enum(v, f, &idx, err) < 0)
            return -1;
        memcpy(dst, &idx, sizeof(idx));
        return 0;
    }
    case FT_ID_LIST: {
        id_list l;
        if (parse_id_list(v, f, &l, err) < 0)
            return -1;
        memcpy(dst, &l, sizeof(l));
        return 0;
    }
    case FT_OBJECT:
        if (!json_is_object(v))
            return fail(err, API_E_INVALID_FIELD, "field '%s' must be an object", f->key);
        if (check_free_form(v, f, err) < 0)
            return -1;
        memcpy(dst, &v, sizeof(v));
        return 0;
    case FT_ANY:
        if (check_free_form(v, f, err) < 0)
            return -1;
        memcpy(dst, &v, sizeof(v));
        return 0;
    case FT_VCLOCK: {
        field_error verr;
        if (vclock_from_json(v, (vclock *)dst, &verr) < 0)
            return fail(err, verr.code, "field '%s': %s", f->key, verr.message);
        return 0;
    }
    }
    return fail(err, API_E_INTERNAL, "field '%s' has an unknown type", f->key);
}

int json_parse_fields(const json_t *obj, const field_spec *spec, void *out, field_error *err)
{
    const char *key;
    json_t *val;
    size_t i;

    if (!json_is_object(obj))
        return fail(err, API_E_BAD_JSON, "the body must be a JSON object");
    if (!spec || !out)
        return fail(err, API_E_INTERNAL, "no field spec");

    json_object_foreach ((json_t *)obj, key, val) {
        if (!find_spec(spec, key)) {
            char q[72];
            quote_key(q, sizeof(q), key);
            return fail(err, API_E_UNKNOWN_FIELD, "unknown field '%s'", q);
        }
    }

    for (i = 0; spec[i].key; i++) {
        const json_t *v = json_object_get(obj, spec[i].key);
        if (!v || json_is_null(v)) {
            if (spec[i].required) {
                fail(err, API_E_MISSING_FIELD, "missing field '%s'", spec[i].key);
                goto undo;
            }
            continue;
        }
        if (parse_one(v, &spec[i], out, err) < 0)
            goto undo;
        if (spec[i].present_offset) {
            bool t = true;
            memcpy((char *)out + spec[i].present_offset, &t, sizeof(t));
        }
    }
    return 0;

undo:
    /* Every id list before spec[i] that was present was allocated here. */
    for (size_t j = 0; j < i; j++) {
        const json_t *v;
        if (spec[j].type != FT_ID_LIST)
            continue;
        v = json_object_get(obj, spec[j].key);
        if (v && !json_is_null(v)) {
            id_list l;
            memcpy(&l, (char *)out + spec[j].offset, sizeof(l));
            id_list_release(&l);
            memcpy((char *)out + spec[j].offset, &l, sizeof(l));
        }
    }
    return -1;
}

json_t *vclock_to_json(const vclock *vc)
{
    json_t *o = json_object();

    if (!o || !vc)
        return o;
    for (size_t i = 0; i < vc->n && i < VCLOCK_MAX_ENTRIES; i++) {
        if (vc->e[i].counter == 0)
            continue;
        if (json_object_set_new(o, vc->e[i].node, json_integer((json_int_t)vc->e[i].counter)) < 0) {
            json_decref(o);
            return NULL;
        }
    }
    return o;
}

int vclock_from_json(const json_t *j, vclock *out, field_error *err)
{
    vclock tmp;
    const char *key;
    json_t *val;

    if (!json_is_object(j))
        return fail(err, API_E_INVALID_FIELD, "vclock must be an object");
    if (json_object_size(j) > VCLOCK_MAX_ENTRIES)
        return fail(err, API_E_INVALID_FIELD, "vclock has more than %d entries",
                    VCLOCK_MAX_ENTRIES);
    vclock_init(&tmp);
    json_object_foreach ((json_t *)j, key, val) {
        json_int_t c;
        if (!coord_id_valid(key)) {
            char q[72];
            quote_key(q, sizeof(q), key);
            return fail(err, API_E_INVALID_FIELD, "vclock node '%s' is not a valid id", q);
        }
        if (!json_is_integer(val))
            return fail(err, API_E_INVALID_FIELD, "vclock counter of '%s' must be an integer", key);
        c = json_integer_value(val);
        if (c < 0 || (unsigned long long)c > VCLOCK_COUNTER_MAX)
            return fail(err, API_E_INVALID_FIELD, "vclock counter of '%s' is out of range", key);
        if (c == 0)
            continue;
        if (vclock_set(&tmp, key, (uint64_t)c) != 0)
            return fail(err, API_E_INVALID_FIELD, "vclock entry '%s' refused", key);
    }
    if (out)
        vclock_copy(out, &tmp);
    return 0;
}

char *json_canonical(const json_t *j)
{
    if (!j)
        return NULL;
    return json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
}
