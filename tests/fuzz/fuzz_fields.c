/* Fuzz target: api/json_fields.c, the one place client JSON becomes C
 * structs. Input: any bytes, decoded as the HTTP dispatcher does
 * (JSON_REJECT_DUPLICATES); an object goes through two field specs that
 * use every field type, and its members through vclock_from_json. Checks
 * what the header promises: on success every value obeys its spec (ids
 * valid, ints in range, lists within caps, present flags right); on failure
 * a 400-class code, a message that fits in a JSON reply, and nothing left
 * allocated in the output struct. */
#include <inttypes.h>
#include <string.h>

#include "fuzz.h"
#include "json_fields.h"
#include "util.h"

static const char *const colours[] = {"red", "green", "blue", NULL};

struct all_fields {
    char id[COORD_ID_MAX + 1];
    bool has_id;
    const char *str;
    bool has_str;
    const char *short_str;
    int64_t num;
    bool has_num;
    int64_t any_num;
    bool flag;
    bool has_flag;
    int colour;
    bool has_colour;
    id_list ids;
    bool has_ids;
    id_list few_ids;
    json_t *obj;
    json_t *any;
    vclock clock;
    bool has_clock;
    bool must;
};

#define OFF(m) offsetof(struct all_fields, m)

/* Everything optional: a lucky input parses every type. */
static const field_spec spec_optional[] = {
    {"id", FT_ID, OFF(id), false, 0, 0, NULL, OFF(has_id)},
    {"s", FT_STRING, OFF(str), false, 0, 0, NULL, OFF(has_str)},
    {"t", FT_STRING, OFF(short_str), false, 2, 8, NULL, 0},
    {"n", FT_INT, OFF(num), false, -5, 1000, NULL, OFF(has_num)},
    {"z", FT_INT, OFF(any_num), false, 0, 0, NULL, 0},
    {"b", FT_BOOL, OFF(flag), false, 0, 0, NULL, OFF(has_flag)},
    {"e", FT_ENUM, OFF(colour), false, 0, 0, colours, OFF(has_colour)},
    {"l", FT_ID_LIST, OFF(ids), false, 0, 0, NULL, OFF(has_ids)},
    {"m", FT_ID_LIST, OFF(few_ids), false, 1, 3, NULL, 0},
    {"o", FT_OBJECT, OFF(obj), false, 0, 0, NULL, 0},
    {"a", FT_ANY, OFF(any), false, 0, 0, NULL, 0},
    {"v", FT_VCLOCK, OFF(clock), false, 0, 0, NULL, OFF(has_clock)},
    FIELD_END,
};

/* The same with a required field last: most inputs fail after the id
 * lists were allocated, which exercises the undo path. */
static const field_spec spec_required_last[] = {
    {"id", FT_ID, OFF(id), false, 0, 0, NULL, OFF(has_id)},
    {"s", FT_STRING, OFF(str), false, 0, 0, NULL, OFF(has_str)},
    {"t", FT_STRING, OFF(short_str), false, 2, 8, NULL, 0},
    {"n", FT_INT, OFF(num), false, -5, 1000, NULL, OFF(has_num)},
    {"z", FT_INT, OFF(any_num), false, 0, 0, NULL, 0},
    {"b", FT_BOOL, OFF(flag), false, 0, 0, NULL, OFF(has_flag)},
    {"e", FT_ENUM, OFF(colour), false, 0, 0, colours, OFF(has_colour)},
    {"l", FT_ID_LIST, OFF(ids), false, 0, 0, NULL, OFF(has_ids)},
    {"m", FT_ID_LIST, OFF(few_ids), false, 1, 3, NULL, 0},
    {"o", FT_OBJECT, OFF(obj), false, 0, 0, NULL, 0},
    {"a", FT_ANY, OFF(any), false, 0, 0, NULL, 0},
    {"v", FT_VCLOCK, OFF(clock), false, 0, 0, NULL, OFF(has_clock)},
    {"r", FT_BOOL, OFF(must), true, 0, 0, NULL, 0},
    FIELD_END,
};

static bool is_400_class(api_err c)
{
    return c == API_E_BAD_JSON || c == API_E_INVALID_FIELD || c == API_E_MISSING_FIELD ||
           c == API_E_UNKNOWN_FIELD || c == API_E_INVALID_ID;
}

/* The message goes into a JSON reply: it must be non-empty UTF-8. */
static void check_message(const char *msg)
{
    FUZZ_CHECK(memchr(msg, '\0', 256) != NULL, "message not terminated");
    FUZZ_CHECK(msg[0] != '\0', "empty message");
    json_t *s = json_string(msg);
    FUZZ_CHECK(s != NULL, "message is not UTF-8: %s", msg);
    json_decref(s);
}

static void check_vclock(const vclock *vc)
{
    FUZZ_CHECK(vc->n <= VCLOCK_MAX_ENTRIES, "vclock has %zu entries", vc->n);
    for (size_t i = 0; i < vc->n; i++) {
        FUZZ_CHECK(coord_id_valid(vc->e[i].node), "vclock node %zu invalid", i);
        FUZZ_CHECK(vc->e[i].counter > 0 && vc->e[i].counter <= VCLOCK_COUNTER_MAX,
                   "vclock counter %" PRIu64, vc->e[i].counter);
        if (i)
            FUZZ_CHECK(strcmp(vc->e[i - 1].node, vc->e[i].node) < 0, "vclock not sorted");
    }
    /* Round trip through the wire form. */
    json_t *j = vclock_to_json(vc);
    vclock back;
    field_error fe;
    FUZZ_CHECK(j != NULL, "vclock_to_json failed");
    FUZZ_CHECK(vclock_from_json(j, &back, &fe) == 0, "round trip refused: %s", fe.message);
    FUZZ_CHECK(back.n == vc->n && vclock_compare(&back, vc) == VC_EQUAL, "round trip differs");
    json_decref(j);
}

static void check_id_list(const id_list *l, size_t minn, size_t maxn)
{
    FUZZ_CHECK(l->n >= minn && l->n <= maxn, "id list of %zu not in [%zu, %zu]", l->n, minn, maxn);
    FUZZ_CHECK((l->n == 0) == (l->v == NULL), "id list n=%zu with v=%p", l->n, (void *)l->v);
    for (size_t i = 0; i < l->n; i++) {
        FUZZ_CHECK(coord_id_valid(l->v[i]), "id list entry %zu invalid", i);
        for (size_t k = 0; k < i; k++)
            FUZZ_CHECK(strcmp(l->v[i], l->v[k]) != 0, "id list entry %zu repeated", i);
    }
}

static bool present(const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);
    return v && !json_is_null(v);
}

static void check_success(const json_t *obj, const struct all_fields *f)
{
    /* Every key (with its full length: jansson keys may hold a NUL) is one
     * of the spec's. */
    const char *key;
    size_t klen;
    json_t *val;
    json_object_keylen_foreach((json_t *)obj, key, klen, val)
    {
        FUZZ_CHECK(strlen(key) == klen && strlen(key) <= 2, "unknown key accepted (%zu bytes)",
                   klen);
    }

    FUZZ_CHECK(f->has_id == present(obj, "id"), "has_id wrong");
    if (f->has_id) {
        FUZZ_CHECK(coord_id_valid(f->id), "id invalid");
        FUZZ_CHECK(strcmp(f->id, json_string_value(json_object_get(obj, "id"))) == 0, "id differs");
    } else {
        FUZZ_CHECK(f->id[0] == '\0', "absent id written");
    }
    FUZZ_CHECK(f->has_str == present(obj, "s"), "has_str wrong");
    if (f->str) {
        const json_t *s = json_object_get(obj, "s");
        FUZZ_CHECK(f->str == json_string_value(s), "str not borrowed from the json");
        FUZZ_CHECK(strlen(f->str) == json_string_length(s) && strlen(f->str) <= 4096,
                   "str has NUL or is too long");
    }
    if (f->short_str)
        FUZZ_CHECK(strlen(f->short_str) >= 2 && strlen(f->short_str) <= 8, "t length %zu",
                   strlen(f->short_str));
    FUZZ_CHECK(f->has_num == present(obj, "n"), "has_num wrong");
    FUZZ_CHECK(f->num >= -5 && f->num <= 1000, "n out of range: %" PRId64, f->num);
    if (present(obj, "z"))
        FUZZ_CHECK(f->any_num == (int64_t)json_integer_value(json_object_get(obj, "z")),
                   "z differs");
    FUZZ_CHECK(f->has_flag == present(obj, "b"), "has_flag wrong");
    if (f->has_flag)
        FUZZ_CHECK(f->flag == json_is_true(json_object_get(obj, "b")), "b differs");
    FUZZ_CHECK(f->has_colour == present(obj, "e"), "has_colour wrong");
    FUZZ_CHECK(f->colour >= 0 && f->colour < 3, "enum index %d", f->colour);
    if (f->has_colour)
        FUZZ_CHECK(strcmp(colours[f->colour], json_string_value(json_object_get(obj, "e"))) == 0,
                   "enum differs");
    FUZZ_CHECK(f->has_ids == present(obj, "l"), "has_ids wrong");
    check_id_list(&f->ids, 0, 32);
    if (present(obj, "m"))
        check_id_list(&f->few_ids, 1, 3);
    else
        FUZZ_CHECK(f->few_ids.v == NULL && f->few_ids.n == 0, "absent list written");
    if (f->obj)
        FUZZ_CHECK(json_is_object(f->obj) && f->obj == json_object_get(obj, "o"), "o wrong");
    if (f->any)
        FUZZ_CHECK(f->any == json_object_get(obj, "a"), "a wrong");
    FUZZ_CHECK(f->has_clock == present(obj, "v"), "has_clock wrong");
    check_vclock(&f->clock);
}

static void run_spec(const json_t *obj, const field_spec *spec)
{
    struct all_fields f;
    field_error err;

    memset(&f, 0, sizeof(f));
    memset(&err, 0, sizeof(err));
    if (json_parse_fields(obj, spec, &f, &err) == 0) {
        check_success(obj, &f);
    } else {
        FUZZ_CHECK(is_400_class(err.code), "error code %d (%s)", (int)err.code,
                   api_err_code(err.code));
        FUZZ_CHECK(api_err_status(err.code) == 400, "status %u", api_err_status(err.code));
        check_message(err.message);
        /* "releases whatever it allocated" */
        FUZZ_CHECK(f.ids.v == NULL && f.few_ids.v == NULL, "id list left allocated on failure");
    }
    id_list_release(&f.ids);
    id_list_release(&f.few_ids);
}

/* vclock_from_json on any value: a clock obeying the invariants, or an
 * invalid_field error; out untouched on failure. */
static void run_vclock(const json_t *v)
{
    vclock vc;
    field_error err;

    vclock_init(&vc);
    vclock_set(&vc, "sentinel", 7);
    memset(&err, 0, sizeof(err));
    if (vclock_from_json(v, &vc, &err) == 0) {
        check_vclock(&vc);
        FUZZ_CHECK(vc.n == json_object_size(v) || vc.n < json_object_size(v),
                   "more entries than members");
    } else {
        FUZZ_CHECK(err.code == API_E_INVALID_FIELD, "vclock error code %d", (int)err.code);
        check_message(err.message);
        FUZZ_CHECK(vc.n == 1 && vclock_get(&vc, "sentinel") == 7, "out written on failure");
    }
}

static void run_value(json_t *j)
{
    /* Canonical text is what idempotency digests and stored fields use: it
     * must exist and read back as the same value. */
    char *canon = json_canonical(j);
    FUZZ_CHECK(canon != NULL, "json_canonical failed");
    json_t *back = json_loads(canon, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    FUZZ_CHECK(back != NULL && json_equal(back, j), "canonical text does not read back");
    json_decref(back);
    free(canon);

    run_vclock(j);
    if (!json_is_object(j)) {
        struct all_fields f;
        field_error err;
        memset(&f, 0, sizeof(f));
        FUZZ_CHECK(json_parse_fields(j, spec_optional, &f, &err) < 0 && err.code == API_E_BAD_JSON,
                   "non-object accepted");
        return;
    }
    run_spec(j, spec_optional);
    run_spec(j, spec_required_last);
    const char *key;
    json_t *val;
    json_object_foreach (j, key, val)
        run_vclock(val);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *j =
        json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, NULL);
    /* The wire decoder refuses "\u0000"; the field layer promises to cope
     * with it anyway (string_clean), so give it such strings too. */
    if (!j)
        j = json_loadb((const char *)data, size,
                       JSON_REJECT_DUPLICATES | JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    if (!j)
        return 0;
    run_value(j);
    json_decref(j);
    return 0;
}
