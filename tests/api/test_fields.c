/* api/json_fields.c: the declarative field parser and the vclock codec. */
#include "check_main.h"
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"

static const char *const severities[] = {"low", "medium", "high", "critical", NULL};

typedef struct job_in {
    char id[COORD_ID_MAX + 1];
    const char *type;
    int64_t attempt;
    bool urgent;
    int severity;
    id_list caps;
    id_list tags;
    const json_t *payload;
    const json_t *any;
    vclock vc;
    bool has_attempt, has_vc;
} job_in;

static const field_spec spec[] = {
    {"id", FT_ID, offsetof(job_in, id), true, 0, 0, NULL, 0},
    {"type", FT_STRING, offsetof(job_in, type), true, 0, 16, NULL, 0},
    {"attempt", FT_INT, offsetof(job_in, attempt), false, 1, 1000, NULL,
     offsetof(job_in, has_attempt)},
    {"urgent", FT_BOOL, offsetof(job_in, urgent), false, 0, 0, NULL, 0},
    {"severity", FT_ENUM, offsetof(job_in, severity), false, 0, 0, severities, 0},
    {"caps", FT_ID_LIST, offsetof(job_in, caps), false, 1, 3, NULL, 0},
    {"tags", FT_ID_LIST, offsetof(job_in, tags), false, 0, 0, NULL, 0},
    {"payload", FT_OBJECT, offsetof(job_in, payload), false, 0, 0, NULL, 0},
    {"any", FT_ANY, offsetof(job_in, any), false, 0, 0, NULL, 0},
    {"vclock", FT_VCLOCK, offsetof(job_in, vc), false, 0, 0, NULL, offsetof(job_in, has_vc)},
    FIELD_END,
};

/* Parses text against spec; returns the error code or -1 on success. */
static int parse(const char *text, job_in *out, field_error *err)
{
    json_error_t je;
    json_t *j = json_loads(text, JSON_ALLOW_NUL, &je);
    int r;
    ck_assert_msg(j != NULL, "bad test JSON: %s", je.text);
    memset(out, 0, sizeof(*out));
    memset(err, 0, sizeof(*err));
    r = json_parse_fields(j, spec, out, err);
    /* borrowed pointers die with j: the callers below only look at them
     * through r and err, or copy first */
    if (r == 0) {
        id_list_release(&out->caps);
        id_list_release(&out->tags);
    }
    json_decref(j);
    return r == 0 ? -1 : (int)err->code;
}

START_TEST(test_all_types_ok)
{
    json_t *j =
        json_loads("{\"id\":\"J-1.x_2\",\"type\":\"building_fire\",\"attempt\":3,\"urgent\":true,"
                   "\"severity\":\"critical\",\"caps\":[\"firefighting\",\"rescue\"],"
                   "\"tags\":[],\"payload\":{\"a\":1},\"any\":[1],\"vclock\":{\"Downtown\":4}}",
                   0, NULL);
    job_in in;
    field_error err;
    memset(&in, 0, sizeof(in));
    ck_assert_int_eq(json_parse_fields(j, spec, &in, &err), 0);
    ck_assert_str_eq(in.id, "J-1.x_2");
    ck_assert_str_eq(in.type, "building_fire");
    ck_assert_int_eq(in.attempt, 3);
    ck_assert(in.has_attempt);
    ck_assert(in.urgent);
    ck_assert_int_eq(in.severity, 3);
    ck_assert_uint_eq(in.caps.n, 2);
    ck_assert_str_eq(in.caps.v[0], "firefighting");
    ck_assert_str_eq(in.caps.v[1], "rescue");
    ck_assert_uint_eq(in.tags.n, 0);
    ck_assert(json_is_object(in.payload));
    ck_assert(json_is_array(in.any));
    ck_assert(in.has_vc);
    ck_assert_uint_eq(vclock_get(&in.vc, "Downtown"), 4);
    id_list_release(&in.caps);
    id_list_release(&in.tags);
    id_list_release(&in.tags);
    id_list_release(NULL);
    json_decref(j);
}
END_TEST

START_TEST(test_unknown_key)
{
    job_in in;
    field_error err;
    ck_assert_int_eq(parse("{\"id\":\"a\",\"type\":\"t\",\"tpye\":1}", &in, &err),
                     API_E_UNKNOWN_FIELD);
    ck_assert_ptr_nonnull(strstr(err.message, "tpye"));
    /* a hostile key is quoted as printable ASCII */
    ck_assert_int_eq(parse("{\"\xc3\xa9\\n\":1}", &in, &err), API_E_UNKNOWN_FIELD);
    json_t *m = json_string(err.message);
    ck_assert_ptr_nonnull(m);
    json_decref(m);
}
END_TEST

START_TEST(test_missing_and_null)
{
    job_in in;
    field_error err;
    ck_assert_int_eq(parse("{\"type\":\"t\"}", &in, &err), API_E_MISSING_FIELD);
    ck_assert_ptr_nonnull(strstr(err.message, "id"));
    ck_assert_int_eq(parse("{\"id\":null,\"type\":\"t\"}", &in, &err), API_E_MISSING_FIELD);
    /* null optional fields count as absent */
    ck_assert_int_eq(
        parse("{\"id\":\"a\",\"type\":\"t\",\"attempt\":null,\"caps\":null,\"vclock\":null}", &in,
              &err),
        -1);
    ck_assert(!in.has_attempt);
    ck_assert(!in.has_vc);
    ck_assert_int_eq(in.attempt, 0);
    ck_assert_int_eq(json_parse_fields(NULL, spec, &in, &err), -1);
    ck_assert_int_eq(err.code, API_E_BAD_JSON);
}
END_TEST

START_TEST(test_wrong_types)
{
    job_in in;
    field_error err;
    ck_assert_int_eq(parse("{\"id\":1,\"type\":\"t\"}", &in, &err), API_E_INVALID_FIELD);
    ck_assert_int_eq(parse("{\"id\":\"a\",\"type\":5}", &in, &err), API_E_INVALID_FIELD);
    ck_assert_int_eq(parse("{\"id\":\"a\",\"type\":\"t\",\"attempt\":2.0}", &in, &err),
                     API_E_INVALID_FIELD);
    ck_assert_int_eq(parse("{\"id\":\"a\",\"type\":\"t\",\"attempt\":true}", &in, &err),
                     API_E_INVALID_FIELD);
    ck_assert_int_eq(parse("{\"id\":\"a\",\"type\":\"t\",\"attempt\":\"2\"}", &in, &err),
                     API_E_INVALID_FIELD);
    ck_assert_int_eq(parse("{\"id\":\"a\",\"type\":\"t\",\"urgent\":1}", &in, &err),
                     API_E_INVALID_FIELD);
    ck_assert_int_eq(parse("{\"id\":\"a\",\"type\":\"t\",\"payload\":[]}", &in, &err),
                     API_E_INVALID_FIELD);
    ck_assert_int_eq(parse("{\"id\":\"a\",\"type\":\"t\",\"caps\":\"x\"}", &in, &err),
                     API_E_INVALID_FIELD);
    ck_assert_int_eq(parse("{\"id\":\"a\",\"type\":\"t\",\"caps\":[1]}", &in, &err),
                     API_E_INVALID_FIELD);
    ck_assert_int_eq(parse("{\"id\":\"a\",\"type\":\"t\",\"severity\":2}", &in, &err),
                     API_E_INVALID_FIELD);
    ck_assert_int_eq(parse("{\"id\":\"a\",\"type\":\"t\",\"vclock\":[]}", &in, &err),
                     API_E_INVALID_FIELD);
}
END_TEST

START_TEST(test_int_range)
{
    job_in in;
    field_error err;
    ck_assert_int_eq(parse("{\"id\":\"a\",\"type\":\"t\",\"attempt\":0}", &in, &err),
                     API_E_INVALID_FIELD);
    ck_assert_int_eq(parse("{\"id\":\"a\",\"type\":\"t\",\"attempt\":1001}", &in, &err),
                     API_E_INVALID_FIELD);
    ck_assert_int_eq(
        parse("{\"id\":\"a\",\"type\":\"t\",\"attempt\":-9223372036854775808}", &in, &err),
        API_E_INVALID_FIELD);
    ck_assert_int_eq(parse("{\"id\":\"a\",\"type\":\"t\",\"attempt\":1000}", &in, &err), -1);
    ck_assert_int_eq(in.attempt, 1000);
    ck_assert_int_eq(parse("{\"id\":\"a\",\"type\":\"t\",\"attempt\":1}", &in, &err), -1);
}
END_TEST

START_TEST(test_enum)
{
    job_in in;
    field_error err;
    ck_assert_int_eq(parse("{\"id\":\"a\",\"type\":\"t\",\"severity\":\"apocalyptic\"}", &in, &err),
                     API_E_INVALID_FIELD);
    ck_assert_ptr_nonnull(strstr(err.message, "low, medium, high, critical"));
    ck_assert_int_eq(parse("{\"id\":\"a\",\"type\":\"t\",\"severity\":\"Low\"}", &in, &err),
                     API_E_INVALID_FIELD);
    ck_assert_int_eq(parse("{\"id\":\"a\",\"type\":\"t\",\"severity\":\"low\"}", &in, &err), -1);
    ck_assert_int_eq(in.severity, 0);
}
END_TEST

START_TEST(test_string_caps)
{
    job_in in;
    field_error err;
    ck_assert_int_eq(parse("{\"id\":\"a\",\"type\":\"0123456789abcdef\"}", &in, &err), -1);
    ck_assert_int_eq(parse("{\"id\":\"a\",\"type\":\"0123456789abcdefg\"}", &in, &err),
                     API_E_INVALID_FIELD);
    ck_assert_int_eq(parse("{\"id\":\"a\",\"type\":\"a\\u0000b\"}", &in, &err),
                     API_E_INVALID_FIELD);
    /* default cap 4096 for FT_STRING with max 0 */
    static const field_spec s2[] = {{"s", FT_STRING, 0, true, 0, 0, NULL, 0}, FIELD_END};
    const char *out = NULL;
    char *big = malloc(4098);
    memset(big, 'x', 4097);
    big[4097] = '\0';
    json_t *j = json_pack("{s:s}", "s", big);
    ck_assert_int_eq(json_parse_fields(j, s2, &out, &err), -1);
    ck_assert_ptr_null(out);
    json_object_set_new(j, "s", json_stringn(big, 4096));
    ck_assert_int_eq(json_parse_fields(j, s2, &out, &err), 0);
    ck_assert_uint_eq(strlen(out), 4096);
    json_decref(j);
    free(big);
}
END_TEST

START_TEST(test_id_invalid)
{
    job_in in;
    field_error err;
    char buf[256];
    ck_assert_int_eq(parse("{\"id\":\"\",\"type\":\"t\"}", &in, &err), API_E_INVALID_ID);
    ck_assert_int_eq(parse("{\"id\":\"a b\",\"type\":\"t\"}", &in, &err), API_E_INVALID_ID);
    ck_assert_int_eq(parse("{\"id\":\"a/b\",\"type\":\"t\"}", &in, &err), API_E_INVALID_ID);
    ck_assert_int_eq(parse("{\"id\":\"\xc3\xa9\",\"type\":\"t\"}", &in, &err), API_E_INVALID_ID);
    ck_assert_int_eq(parse("{\"id\":\"a\\u0000\",\"type\":\"t\"}", &in, &err), API_E_INVALID_ID);
    snprintf(buf, sizeof(buf), "{\"id\":\"%065d\",\"type\":\"t\"}", 0);
    ck_assert_int_eq(parse(buf, &in, &err), API_E_INVALID_ID);
    snprintf(buf, sizeof(buf), "{\"id\":\"%064d\",\"type\":\"t\"}", 0);
    ck_assert_int_eq(parse(buf, &in, &err), -1);
    ck_assert_uint_eq(strlen(in.id), 64);
    ck_assert_int_eq(parse("{\"id\":\"a\",\"type\":\"t\",\"caps\":[\"ok\",\"b@d\"]}", &in, &err),
                     API_E_INVALID_ID);
}
END_TEST

/* {"id":"a","type":"t","<key>":<value nested depth levels>} as text. */
static char *nested_body(const char *key, int depth, bool arrays)
{
    size_t cap = 64 + strlen(key) + 8 * (size_t)depth;
    char *s = malloc(cap);
    size_t n;

    ck_assert_ptr_nonnull(s);
    n = (size_t)snprintf(s, cap, "{\"id\":\"a\",\"type\":\"t\",\"%s\":", key);
    for (int i = 0; i < depth; i++)
        n += (size_t)snprintf(s + n, cap - n, "%s", arrays ? "[" : "{\"a\":");
    n += (size_t)snprintf(s + n, cap - n, "%s", arrays ? "" : "1");
    for (int i = 0; i < depth; i++)
        n += (size_t)snprintf(s + n, cap - n, "%s", arrays ? "]" : "}");
    snprintf(s + n, cap - n, "}");
    return s;
}

/* Free-form objects nest at most 16 levels by default: deeper JSON is
 * valid (jansson reads 2,048) but no dispatch front-end sends it, and a
 * copy of it inside a peer's page or an assignment would be too deep to
 * read there. */
START_TEST(test_free_form_depth)
{
    job_in in;
    field_error err;
    char *t;

    t = nested_body("payload", 16, false);
    ck_assert_int_eq(parse(t, &in, &err), -1);
    free(t);
    t = nested_body("payload", 17, false);
    ck_assert_int_eq(parse(t, &in, &err), API_E_INVALID_FIELD);
    ck_assert_msg(strstr(err.message, "'payload'") && strstr(err.message, "16"), "%s", err.message);
    free(t);
    t = nested_body("any", 16, true);
    ck_assert_int_eq(parse(t, &in, &err), -1);
    free(t);
    t = nested_body("any", 17, true);
    ck_assert_int_eq(parse(t, &in, &err), API_E_INVALID_FIELD);
    ck_assert_ptr_nonnull(strstr(err.message, "'any'"));
    free(t);
    /* The poisoned location of issue 9: 2,047 levels inside the body. */
    t = nested_body("any", 2047, true);
    ck_assert_int_eq(parse(t, &in, &err), API_E_INVALID_FIELD);
    free(t);
    /* A scalar has no depth. */
    ck_assert_int_eq(parse("{\"id\":\"a\",\"type\":\"t\",\"any\":\"x\"}", &in, &err), -1);
    ck_assert_int_eq(parse("{\"id\":\"a\",\"type\":\"t\",\"any\":[]}", &in, &err), -1);
}
END_TEST

/* ... and 4 KiB as compact JSON by default. */
START_TEST(test_free_form_size)
{
    job_in in;
    field_error err;
    /* {"x":"yyyy..."} is 8 bytes plus the string. */
    size_t len = 64 + 4089;
    char *t = malloc(len);
    char *y = malloc(4090);

    memset(y, 'y', 4089);
    y[4089] = '\0';
    snprintf(t, len, "{\"id\":\"a\",\"type\":\"t\",\"payload\":{\"x\":\"%s\"}}", y);
    ck_assert_int_eq(parse(t, &in, &err), API_E_INVALID_FIELD);
    ck_assert_msg(strstr(err.message, "'payload'") && strstr(err.message, "4096"), "%s",
                  err.message);
    y[4088] = '\0';
    snprintf(t, len, "{\"id\":\"a\",\"type\":\"t\",\"payload\":{\"x\":\"%s\"}}", y);
    ck_assert_int_eq(parse(t, &in, &err), -1);
    /* Whitespace the client sent does not count: compact form is measured. */
    snprintf(t, len, "{\"id\":\"a\",\"type\":\"t\",\"payload\":{  \"x\" :   \"%s\"  }}", y);
    ck_assert_int_eq(parse(t, &in, &err), -1);
    free(y);
    free(t);
}
END_TEST

/* A spec sets its own caps: min is the depth, max the size. */
START_TEST(test_free_form_spec_caps)
{
    static const field_spec s2[] = {{"o", FT_OBJECT, 0, true, 2, 20, NULL, 0}, FIELD_END};
    const json_t *out = NULL;
    field_error err;
    json_t *j = json_loads("{\"o\":{\"a\":{\"b\":1}}}", 0, NULL);

    ck_assert_int_eq(json_parse_fields(j, s2, &out, &err), 0);
    ck_assert_ptr_nonnull(out);
    json_decref(j);
    out = NULL;
    j = json_loads("{\"o\":{\"a\":{\"b\":[1]}}}", 0, NULL);
    ck_assert_int_eq(json_parse_fields(j, s2, &out, &err), -1);
    ck_assert_int_eq(err.code, API_E_INVALID_FIELD);
    ck_assert_ptr_null(out);
    json_decref(j);
    j = json_loads("{\"o\":{\"a\":\"0123456789abc\"}}", 0, NULL); /* 21 bytes */
    ck_assert_int_eq(json_parse_fields(j, s2, &out, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.message, "20"));
    json_decref(j);
    j = json_loads("{\"o\":{\"a\":\"0123456789ab\"}}", 0, NULL); /* 20 bytes */
    ck_assert_int_eq(json_parse_fields(j, s2, &out, &err), 0);
    json_decref(j);
}
END_TEST

/* A value built in memory, deeper than any parser would hand over, is
 * refused without walking all of it. */
START_TEST(test_free_form_built_deep)
{
    static const field_spec s2[] = {{"o", FT_ANY, 0, true, 0, 0, NULL, 0}, FIELD_END};
    const json_t *out = NULL;
    field_error err;
    json_t *v = json_array();

    for (int i = 0; i < 5000; i++) {
        json_t *w = json_array();
        json_array_append_new(w, v);
        v = w;
    }
    json_t *j = json_pack("{s:o}", "o", v);
    ck_assert_int_eq(json_parse_fields(j, s2, &out, &err), -1);
    ck_assert_int_eq(err.code, API_E_INVALID_FIELD);
    json_decref(j);
}
END_TEST

START_TEST(test_too_deep)
{
    json_t *one = json_integer(1), *arr = json_loads("[[1],{}]", 0, NULL);
    json_t *obj = json_loads("{\"a\":{\"b\":[]}}", 0, NULL);

    ck_assert(!json_too_deep(one, 0));
    ck_assert(json_too_deep(arr, 1));
    ck_assert(!json_too_deep(arr, 2));
    ck_assert(json_too_deep(obj, 2));
    ck_assert(!json_too_deep(obj, 3));
    ck_assert(!json_too_deep(NULL, 0));
    json_decref(one);
    json_decref(arr);
    json_decref(obj);
}
END_TEST

START_TEST(test_id_list_rules)
{
    job_in in;
    field_error err;
    ck_assert_int_eq(parse("{\"id\":\"a\",\"type\":\"t\",\"caps\":[\"x\",\"y\",\"x\"]}", &in, &err),
                     API_E_INVALID_FIELD);
    ck_assert_ptr_nonnull(strstr(err.message, "twice"));
    ck_assert_int_eq(parse("{\"id\":\"a\",\"type\":\"t\",\"caps\":[]}", &in, &err),
                     API_E_INVALID_FIELD);
    ck_assert_int_eq(
        parse("{\"id\":\"a\",\"type\":\"t\",\"caps\":[\"a\",\"b\",\"c\",\"d\"]}", &in, &err),
        API_E_INVALID_FIELD);
    ck_assert_int_eq(parse("{\"id\":\"a\",\"type\":\"t\",\"caps\":[\"a\",\"b\",\"c\"]}", &in, &err),
                     -1);
    /* default cap of 32 entries */
    char buf[1024];
    size_t n = (size_t)snprintf(buf, sizeof(buf), "{\"id\":\"a\",\"type\":\"t\",\"tags\":[");
    for (int i = 0; i < 33; i++)
        n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s\"t%d\"", i ? "," : "", i);
    snprintf(buf + n, sizeof(buf) - n, "]}");
    ck_assert_int_eq(parse(buf, &in, &err), API_E_INVALID_FIELD);
}
END_TEST

START_TEST(test_failure_releases_lists)
{
    /* caps and tags are allocated before vclock fails: ASan/LSan would
     * report them if the parser did not release them */
    json_t *j = json_loads("{\"id\":\"a\",\"type\":\"t\",\"caps\":[\"x\"],\"tags\":[\"y\",\"z\"],"
                           "\"vclock\":{\"n\":-1}}",
                           0, NULL);
    job_in in;
    field_error err;
    memset(&in, 0, sizeof(in));
    ck_assert_int_eq(json_parse_fields(j, spec, &in, &err), -1);
    ck_assert_int_eq(err.code, API_E_INVALID_FIELD);
    ck_assert_ptr_nonnull(strstr(err.message, "vclock"));
    ck_assert_ptr_null(in.caps.v);
    ck_assert_ptr_null(in.tags.v);
    ck_assert_uint_eq(in.caps.n, 0);
    json_decref(j);
}
END_TEST

START_TEST(test_vclock_roundtrip)
{
    vclock vc, back;
    field_error err;
    vclock_init(&vc);
    ck_assert_int_eq(vclock_set(&vc, "Westside", 7), 0);
    ck_assert_int_eq(vclock_set(&vc, "Downtown", 3), 0);
    ck_assert_int_eq(vclock_set(&vc, "LAFD-1", VCLOCK_COUNTER_MAX), 0);
    json_t *j = vclock_to_json(&vc);
    char *txt = json_canonical(j);
    ck_assert_str_eq(txt, "{\"Downtown\":3,\"LAFD-1\":9007199254740991,\"Westside\":7}");
    free(txt);
    ck_assert_int_eq(vclock_from_json(j, &back, &err), 0);
    ck_assert_int_eq(vclock_compare(&vc, &back), VC_EQUAL);
    json_decref(j);
    /* zero entries are skipped; the empty clock is {} */
    j = json_loads("{\"a\":0,\"b\":2}", 0, NULL);
    ck_assert_int_eq(vclock_from_json(j, &back, &err), 0);
    ck_assert_uint_eq(back.n, 1);
    ck_assert_uint_eq(vclock_get(&back, "b"), 2);
    json_decref(j);
    vclock_init(&vc);
    j = vclock_to_json(&vc);
    txt = json_canonical(j);
    ck_assert_str_eq(txt, "{}");
    free(txt);
    json_decref(j);
    ck_assert_ptr_null(json_canonical(NULL));
}
END_TEST

static void bad_clock(const char *text)
{
    vclock out;
    field_error err;
    json_t *j = json_loads(text, JSON_DECODE_ANY, NULL);
    ck_assert_msg(j != NULL, "%s", text);
    vclock_init(&out);
    ck_assert_uint_eq(vclock_set(&out, "keep", 1), 0);
    ck_assert_msg(vclock_from_json(j, &out, &err) == -1, "accepted %s", text);
    ck_assert_int_eq(err.code, API_E_INVALID_FIELD);
    /* untouched on failure */
    ck_assert_uint_eq(out.n, 1);
    ck_assert_uint_eq(vclock_get(&out, "keep"), 1);
    json_decref(j);
}

START_TEST(test_vclock_bad)
{
    bad_clock("{\"a\":-1}");
    bad_clock("{\"a\":1.5}");
    bad_clock("{\"a\":1.0}");
    bad_clock("{\"a\":\"3\"}");
    bad_clock("{\"a\":true}");
    bad_clock("{\"a\":null}");
    bad_clock("{\"a\":9007199254740992}");
    bad_clock("{\"a\":9223372036854775807}");
    bad_clock("{\"bad node\":1}");
    bad_clock("{\"\":1}");
    bad_clock("[]");
    bad_clock("5");
    char buf[2048];
    size_t n = 1;
    buf[0] = '{';
    for (int i = 0; i < VCLOCK_MAX_ENTRIES + 1; i++)
        n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s\"n%d\":1", i ? "," : "", i);
    snprintf(buf + n, sizeof(buf) - n, "}");
    bad_clock(buf);
}
END_TEST

START_TEST(test_vclock_max_entries_ok)
{
    char buf[2048];
    size_t n = 1;
    vclock out;
    field_error err;
    buf[0] = '{';
    for (int i = 0; i < VCLOCK_MAX_ENTRIES; i++)
        n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s\"n%d\":%d", i ? "," : "", i, i + 1);
    snprintf(buf + n, sizeof(buf) - n, "}");
    json_t *j = json_loads(buf, 0, NULL);
    ck_assert_int_eq(vclock_from_json(j, &out, &err), 0);
    ck_assert_uint_eq(out.n, VCLOCK_MAX_ENTRIES);
    json_decref(j);
}
END_TEST

START_TEST(test_canonical)
{
    json_t *j = json_loads("{\"b\":[1,{\"z\":1,\"a\":2}],\"a\":\"x\"}", 0, NULL);
    char *t = json_canonical(j);
    ck_assert_str_eq(t, "{\"a\":\"x\",\"b\":[1,{\"a\":2,\"z\":1}]}");
    free(t);
    json_decref(j);
    j = json_integer(5);
    t = json_canonical(j);
    ck_assert_str_eq(t, "5");
    free(t);
    json_decref(j);
}
END_TEST

Suite *api_suite(void)
{
    Suite *s = suite_create("api_fields");
    TCase *tc = tcase_create("fields");
    tcase_add_test(tc, test_all_types_ok);
    tcase_add_test(tc, test_unknown_key);
    tcase_add_test(tc, test_missing_and_null);
    tcase_add_test(tc, test_wrong_types);
    tcase_add_test(tc, test_int_range);
    tcase_add_test(tc, test_enum);
    tcase_add_test(tc, test_string_caps);
    tcase_add_test(tc, test_id_invalid);
    tcase_add_test(tc, test_id_list_rules);
    tcase_add_test(tc, test_failure_releases_lists);
    tcase_add_test(tc, test_free_form_depth);
    tcase_add_test(tc, test_free_form_size);
    tcase_add_test(tc, test_free_form_spec_caps);
    tcase_add_test(tc, test_free_form_built_deep);
    tcase_add_test(tc, test_too_deep);
    suite_add_tcase(s, tc);
    tc = tcase_create("vclock");
    tcase_add_test(tc, test_vclock_roundtrip);
    tcase_add_test(tc, test_vclock_bad);
    tcase_add_test(tc, test_vclock_max_entries_ok);
    tcase_add_test(tc, test_canonical);
    suite_add_tcase(s, tc);
    return s;
}
