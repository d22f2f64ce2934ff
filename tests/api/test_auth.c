/* Credentials (auth.h) and their check in api_dispatch: SHA-256 vectors,
 * the constant-time compare, Authorization header parsing, the tokens
 * file (every kind of malformed line, comments, duplicates, reload), and
 * the dispatcher's role and subject rules, refusal shapes and counters. */
#include "check_main.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "api.h"
#include "auth.h"

#define H64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static char err[512];

/* The digest of tok, as a tokens-file field. */
static void hex_of(const char *tok, char out[65])
{
    uint8_t d[API_DIGEST_LEN];
    ck_assert_int_eq(api_sha256(tok, strlen(tok), d), 0);
    api_digest_hex(d, out);
}

START_TEST(test_sha256_vectors)
{
    /* FIPS 180-2 examples */
    static const struct {
        const char *in, *hex;
    } v[] = {
        {"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
        {"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
        {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
         "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
    };
    char hex[65];

    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        hex_of(v[i].in, hex);
        ck_assert_str_eq(hex, v[i].hex);
    }
}
END_TEST

START_TEST(test_ct_equal)
{
    uint8_t a[32], b[32];

    memset(a, 0x5a, sizeof(a));
    memcpy(b, a, sizeof(b));
    ck_assert(api_ct_equal(a, b, 32));
    ck_assert(api_ct_equal(a, b, 0));
    /* a difference anywhere, first byte, last byte, one bit */
    for (size_t i = 0; i < 32; i++) {
        for (int bit = 0; bit < 8; bit++) {
            b[i] ^= (uint8_t)(1u << bit);
            ck_assert(!api_ct_equal(a, b, 32));
            b[i] ^= (uint8_t)(1u << bit);
        }
    }
    ck_assert(api_ct_equal(a, b, 32));
}
END_TEST

START_TEST(test_bearer_header)
{
    const char *tok;
    size_t len;

    ck_assert_int_eq(api_bearer_token(NULL, &tok, &len), API_BEARER_MISSING);
    ck_assert_int_eq(api_bearer_token("Bearer abcdefghijklmnop", &tok, &len), API_BEARER_OK);
    ck_assert_uint_eq(len, 16);
    ck_assert(strncmp(tok, "abcdefghijklmnop", len) == 0);
    ck_assert_int_eq(api_bearer_token("bearer  abcdefghijklmnop  ", &tok, &len), API_BEARER_OK);
    ck_assert_uint_eq(len, 16);
    ck_assert_int_eq(api_bearer_token("", &tok, &len), API_BEARER_MALFORMED);
    ck_assert_int_eq(api_bearer_token("Bearer", &tok, &len), API_BEARER_MALFORMED);
    ck_assert_int_eq(api_bearer_token("Bearer ", &tok, &len), API_BEARER_MALFORMED);
    ck_assert_int_eq(api_bearer_token("Basic abcdefghijklmnop", &tok, &len), API_BEARER_MALFORMED);
    ck_assert_int_eq(api_bearer_token("Bearerabcdefghijklmnop", &tok, &len), API_BEARER_MALFORMED);
    /* too short, a space inside, a control byte, too long */
    ck_assert_int_eq(api_bearer_token("Bearer abcdefghijklmno", &tok, &len), API_BEARER_MALFORMED);
    ck_assert_int_eq(api_bearer_token("Bearer abcdefgh ijklmnopq", &tok, &len),
                     API_BEARER_MALFORMED);
    ck_assert_int_eq(api_bearer_token("Bearer abcdefgh\x01ijklmnopq", &tok, &len),
                     API_BEARER_MALFORMED);
    char big[300] = "Bearer ";
    memset(big + 7, 'x', 257);
    big[7 + 257] = '\0';
    ck_assert_int_eq(api_bearer_token(big, &tok, &len), API_BEARER_MALFORMED);
    big[7 + 256] = '\0';
    ck_assert_int_eq(api_bearer_token(big, &tok, &len), API_BEARER_OK);
}
END_TEST

static api_tokens *parse(const char *text)
{
    err[0] = '\0';
    return api_tokens_parse(text, strlen(text), "tokens", err, sizeof(err));
}

START_TEST(test_tokens_file_good)
{
    char line[1024], hv[65], hd[65], hu[65];
    api_identity who;
    uint8_t d[32];
    api_tokens *t;

    hex_of("viewer-token-0123456789", hv);
    hex_of("dispatcher-token-0123456789", hd);
    hex_of("unit-token-0123456789", hu);
    snprintf(line, sizeof(line),
             "# the city's credentials\n"
             "\n"
             "   \t\n"
             "%s viewer\n"
             "%s\tdispatcher  desk-3   # a label\r\n"
             "  %s unit u-1",
             hv, hd, hu);
    t = parse(line);
    ck_assert_msg(t != NULL, "%s", err);
    ck_assert_uint_eq(api_tokens_count(t, API_ROLE_NONE), 3);
    ck_assert_uint_eq(api_tokens_count(t, API_ROLE_UNIT), 1);
    ck_assert_uint_eq(api_tokens_count(t, API_ROLE_PEER), 0);
    api_sha256("unit-token-0123456789", 21, d);
    ck_assert(api_tokens_find(t, d, &who));
    ck_assert_int_eq(who.role, API_ROLE_UNIT);
    ck_assert_str_eq(who.subject, "u-1");
    api_sha256("dispatcher-token-0123456789", 27, d);
    ck_assert(api_tokens_find(t, d, &who));
    ck_assert_int_eq(who.role, API_ROLE_DISPATCHER);
    ck_assert_str_eq(who.subject, "desk-3");
    api_sha256("not-a-known-token-000", 21, d);
    ck_assert(!api_tokens_find(t, d, &who));
    api_tokens_free(t);

    /* empty and comment-only files are valid: nothing is admitted */
    t = parse("");
    ck_assert_ptr_nonnull(t);
    ck_assert_uint_eq(api_tokens_count(t, API_ROLE_NONE), 0);
    ck_assert(!api_tokens_find(t, d, &who));
    api_tokens_free(t);
    t = parse("# nothing yet\n");
    ck_assert_ptr_nonnull(t);
    api_tokens_free(t);
}
END_TEST

/* Each malformed file stops the load, naming the line and the fault. */
START_TEST(test_tokens_file_malformed)
{
    static const struct {
        const char *text, *want;
    } bad[] = {
        {"abc viewer\n", "tokens:1: the first field must be the SHA-256"},
        {H64 "0 viewer\n", "tokens:1: the first field must be the SHA-256"},
        {"# ok\n"
         "0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef viewer\n",
         "tokens:2: the first field must be the SHA-256"},
        {"g123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef viewer\n",
         "(character 1 is not one)"},
        {H64 "\n", "tokens:1: a role must follow the digest"},
        {H64 " admin\n", "tokens:1: unknown role 'admin'"},
        {H64 " Viewer\n", "tokens:1: unknown role 'Viewer'"},
        {H64 " unit\n", "tokens:1: role unit needs a subject: the unit id"},
        {H64 " peer\n", "tokens:1: role peer needs a subject: the district id"},
        {H64 " unit u1 extra\n", "tokens:1: extra field 'extra' after the subject"},
        {H64 " viewer a b\n", "tokens:1: extra field 'b'"},
        {H64 " unit u/1\n", "tokens:1: subject 'u/1' is not an id"},
        {H64 " viewer "
             "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n",
         "tokens:1: subject"},
        {H64 " viewer\n" H64 " dispatcher\n", "tokens:2: the same digest as line 1"},
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        api_tokens *t = parse(bad[i].text);
        ck_assert_msg(t == NULL, "case %zu was accepted", i);
        ck_assert_msg(strstr(err, bad[i].want) != NULL, "case %zu: '%s' lacks '%s'", i, err,
                      bad[i].want);
    }
    /* a NUL byte, and a line past the cap */
    static const char nul[] = H64 " viewer\0\n";
    ck_assert_ptr_null(api_tokens_parse(nul, sizeof(nul) - 1, "f", err, sizeof(err)));
    ck_assert_str_eq(err, "f:1: a NUL byte");
    char *long_line = malloc(API_TOKENS_LINE_MAX + 10);
    memset(long_line, ' ', API_TOKENS_LINE_MAX + 9);
    long_line[API_TOKENS_LINE_MAX + 9] = '\0';
    ck_assert_ptr_null(parse(long_line));
    ck_assert(strstr(err, "tokens:1: line longer than") != NULL);
    free(long_line);
}
END_TEST

/* A token pasted into the file instead of its digest is never echoed. */
START_TEST(test_tokens_error_never_quotes_a_token)
{
    static const char tok[] = "s3cr3t-t0ken-value-which-must-not-leak";
    char text[256];

    snprintf(text, sizeof(text), "%s viewer\n", tok);
    ck_assert_ptr_null(parse(text));
    ck_assert_ptr_null(strstr(err, "s3cr3t"));
    snprintf(text, sizeof(text), "%.64s viewer\n",
             "s3cr3t-t0ken-value-which-must-not-leak-s3cr3t-t0ken-value-which-");
    ck_assert_ptr_null(parse(text));
    ck_assert_ptr_null(strstr(err, "s3cr3t"));
}
END_TEST

/* ---- the live table and its file ---- */

static char path[64];

static void write_file(const char *text)
{
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

static void file_setup(void)
{
    snprintf(path, sizeof(path), "/tmp/ergrid-auth-XXXXXX");
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    close(fd);
}

static void file_teardown(void)
{
    unlink(path);
}

START_TEST(test_auth_file_and_reload)
{
    char text[512], h1[65], h2[65];
    api_identity who;
    api_auth *a;

    hex_of("first-token-0123456789", h1);
    hex_of("second-token-0123456789", h2);
    snprintf(text, sizeof(text), "%s peer d1\n%s operator\n", h1, h2);
    write_file(text);
    a = api_auth_new(path, err, sizeof(err));
    ck_assert_msg(a != NULL, "%s", err);
    ck_assert(api_auth_lookup(a, "first-token-0123456789", 22, &who));
    ck_assert_int_eq(who.role, API_ROLE_PEER);
    ck_assert_str_eq(who.subject, "d1");
    ck_assert(api_auth_lookup(a, "second-token-0123456789", 23, &who));
    /* a bad file on reload keeps the old table */
    write_file("nonsense\n");
    ck_assert_int_eq(api_auth_reload(a, err, sizeof(err)), -1);
    ck_assert(strstr(err, ":1: the first field") != NULL);
    ck_assert(api_auth_lookup(a, "second-token-0123456789", 23, &who));
    /* a removed line revokes its token */
    snprintf(text, sizeof(text), "%s peer d1\n", h1);
    write_file(text);
    ck_assert_int_eq(api_auth_reload(a, err, sizeof(err)), 0);
    ck_assert(!api_auth_lookup(a, "second-token-0123456789", 23, &who));
    ck_assert(api_auth_lookup(a, "first-token-0123456789", 22, &who));
    ck_assert_uint_eq(api_auth_count(a, API_ROLE_NONE), 1);
    api_auth_free(a);

    write_file("0123 viewer\n");
    ck_assert_ptr_null(api_auth_new(path, err, sizeof(err)));
    ck_assert(strstr(err, path) == err && strstr(err, ":1: ") != NULL);
    ck_assert_ptr_null(api_auth_new("/nonexistent/tokens", err, sizeof(err)));
    ck_assert(strstr(err, "cannot open") != NULL);
}
END_TEST

START_TEST(test_token_file_read)
{
    char tok[API_TOKEN_MAX + 1];

    write_file("the-own-token-0123456789  \t\r\nsecond line\n");
    ck_assert_int_eq(api_token_file_read(path, tok, err, sizeof(err)), 0);
    ck_assert_str_eq(tok, "the-own-token-0123456789");
    write_file("short\n");
    ck_assert_int_eq(api_token_file_read(path, tok, err, sizeof(err)), -1);
    ck_assert_ptr_null(strstr(err, "short"));
    write_file("");
    ck_assert_int_eq(api_token_file_read(path, tok, err, sizeof(err)), -1);
}
END_TEST

/* ---- the dispatcher ---- */

static int calls;
static api_identity last_caller;

static void h_ok(api_request *req, api_response *res)
{
    calls++;
    last_caller = *api_caller(req);
    api_reply_json(res, 200, json_object());
}

/* A handler-side subject rule: only district "d1" may act here. */
static void h_owned(api_request *req, api_response *res)
{
    if (!api_caller_may_act_for(req, API_ROLE_PEER, "d1")) {
        api_reply_refused(res, API_REFUSAL_SUBJECT, "not yours");
        return;
    }
    h_ok(req, res);
}

static const api_route routes[] = {
    {"GET", "/v1/health", h_ok, API_ACCESS_OPEN, API_BODY_NONE},
    {"GET", "/v1/things", h_ok, API_ACCESS(API_ALL_ROLES), API_BODY_NONE},
    {"POST", "/v1/things", h_ok, API_ACCESS(API_DISPATCHER), API_BODY_JSON},
    {"POST", "/v1/units/{id}/beat", h_ok, API_ACCESS_PATH(API_UNIT, 0), API_BODY_OPTIONAL},
    {"POST", "/v1/units", h_ok, API_ACCESS_BODY(API_UNIT | API_DISPATCHER, "id"), API_BODY_JSON},
    {"POST", "/v1/self", h_ok, API_ACCESS_SELF(API_UNIT | API_DISPATCHER), API_BODY_NONE},
    {"POST", "/v1/owned", h_owned, API_ACCESS(API_PEER), API_BODY_NONE},
};

static const char *const tokens_of[] = {
    [API_ROLE_VIEWER] = "viewer-token-0123456789",
    [API_ROLE_DISPATCHER] = "dispatcher-token-0123456789",
    [API_ROLE_UNIT] = "unit-token-0123456789",
    [API_ROLE_PEER] = "peer-token-0123456789",
    [API_ROLE_OPERATOR] = "operator-token-0123456789",
};

static api_dispatcher disp;
static api_auth *auth;
static api_response res;

static void disp_setup(void)
{
    char text[1024] = "", h[65];
    static const char *const lines[] = {
        [API_ROLE_VIEWER] = "viewer",     [API_ROLE_DISPATCHER] = "dispatcher desk",
        [API_ROLE_UNIT] = "unit u1",      [API_ROLE_PEER] = "peer d1",
        [API_ROLE_OPERATOR] = "operator",
    };

    file_setup();
    for (int r = API_ROLE_VIEWER; r < API_ROLE__COUNT; r++) {
        hex_of(tokens_of[r], h);
        snprintf(text + strlen(text), sizeof(text) - strlen(text), "%s %s\n", h, lines[r]);
    }
    write_file(text);
    auth = api_auth_new(path, err, sizeof(err));
    ck_assert_msg(auth != NULL, "%s", err);
    ck_assert_int_eq(api_dispatcher_init(&disp, routes, sizeof(routes) / sizeof(routes[0]), 0), 0);
    api_dispatcher_set_auth(&disp, auth, "u1");
    memset(&res, 0, sizeof(res));
    calls = 0;
}

static void disp_teardown(void)
{
    api_response_release(&res);
    api_auth_free(auth);
    file_teardown();
}

/* Dispatches with the given Authorization value (NULL: none). */
static unsigned call(const char *method, const char *target, const char *authz, const char *body)
{
    api_field h[2] = {{"Content-Type", "application/json"}, {"Authorization", authz}};
    api_raw_request rq = {.method = method,
                          .target = target,
                          .headers = h,
                          .nheaders = authz ? 2 : 1,
                          .body = body,
                          .body_len = body ? strlen(body) : 0};

    api_response_release(&res);
    api_dispatch(&disp, &rq, &res);
    return res.status;
}

static unsigned as(api_role_id r, const char *method, const char *target, const char *body)
{
    char h[300];
    snprintf(h, sizeof(h), "Bearer %s", tokens_of[r]);
    return call(method, target, h, body);
}

static void assert_refused(unsigned status, const char *code, const char *challenge)
{
    json_t *e = json_object_get(res.body, "error");
    const char *www = api_response_header(&res, "WWW-Authenticate");

    ck_assert_uint_eq(res.status, status);
    ck_assert_uint_eq(json_object_size(res.body), 1);
    ck_assert_str_eq(json_string_value(json_object_get(e, "code")), code);
    ck_assert(json_string_length(json_object_get(e, "message")) > 0);
    if (challenge)
        ck_assert_str_eq(www ? www : "(none)", challenge);
    else
        ck_assert_ptr_null(www);
}

/* A gate that answers every request itself (a standby's redirect). */
static bool gate_all(const api_route *route, api_request *req, api_response *r)
{
    api_reply_error(r, API_E_NOT_LEADER, "elsewhere");
    return false;
}

/* The gate runs after the credential: a refused caller gets its 401/403,
 * never the gate's answer. */
START_TEST(test_gate_after_credential)
{
    api_dispatcher_set_gate(&disp, gate_all);
    ck_assert_uint_eq(call("POST", "/v1/things", NULL, "{}"), 401);
    assert_refused(401, "unauthorized", "Bearer realm=\"ergrid\"");
    ck_assert_uint_eq(as(API_ROLE_VIEWER, "POST", "/v1/things", "{}"), 403);
    ck_assert_uint_eq(as(API_ROLE_DISPATCHER, "POST", "/v1/things", "{}"), 307);
    ck_assert_uint_eq(call("GET", "/v1/health", NULL, NULL), 307);
    ck_assert_int_eq(calls, 0);
    api_dispatcher_set_gate(&disp, NULL);
}
END_TEST

START_TEST(test_dispatch_401)
{
    ck_assert_uint_eq(call("GET", "/v1/things", NULL, NULL), 401);
    assert_refused(401, "unauthorized", "Bearer realm=\"ergrid\"");
    ck_assert_uint_eq(call("GET", "/v1/things", "Basic dXNlcjpwYXNz", NULL), 401);
    assert_refused(401, "unauthorized", "Bearer realm=\"ergrid\", error=\"invalid_token\"");
    ck_assert_uint_eq(call("GET", "/v1/things", "Bearer not-a-known-token-000", NULL), 401);
    assert_refused(401, "unauthorized", "Bearer realm=\"ergrid\", error=\"invalid_token\"");
    /* the token never comes back */
    char *dump = json_dumps(res.body, 0);
    ck_assert_ptr_null(strstr(dump, "not-a-known"));
    free(dump);
    ck_assert_int_eq(calls, 0);
    /* the open route needs nothing, and ignores a bad credential */
    ck_assert_uint_eq(call("GET", "/v1/health", NULL, NULL), 200);
    ck_assert_uint_eq(call("GET", "/v1/health", "Bearer nonsense-but-long-enough", NULL), 200);
    ck_assert_int_eq(last_caller.role, API_ROLE_NONE);
    /* 404 and 405 stay what they are */
    ck_assert_uint_eq(call("GET", "/v1/nowhere", NULL, NULL), 404);
    ck_assert_uint_eq(call("DELETE", "/v1/things", NULL, NULL), 405);
}
END_TEST

START_TEST(test_dispatch_roles)
{
    for (int r = API_ROLE_VIEWER; r < API_ROLE__COUNT; r++) {
        ck_assert_uint_eq(as((api_role_id)r, "GET", "/v1/things", NULL), 200);
        ck_assert_int_eq(last_caller.role, r);
        unsigned want = r == API_ROLE_DISPATCHER || r == API_ROLE_OPERATOR ? 200 : 403;
        ck_assert_uint_eq(as((api_role_id)r, "POST", "/v1/things", "{}"), want);
        if (want == 403)
            assert_refused(403, "forbidden", NULL);
    }
    ck_assert_str_eq(last_caller.subject, "");
    /* refused before the body is looked at: no 400 for a bad one */
    ck_assert_uint_eq(as(API_ROLE_VIEWER, "POST", "/v1/things", "{not json"), 403);
    ck_assert_uint_eq(call("POST", "/v1/things", NULL, "{not json"), 401);
}
END_TEST

START_TEST(test_dispatch_subjects)
{
    /* path */
    ck_assert_uint_eq(as(API_ROLE_UNIT, "POST", "/v1/units/u1/beat", NULL), 200);
    ck_assert_str_eq(last_caller.subject, "u1");
    ck_assert_uint_eq(as(API_ROLE_UNIT, "POST", "/v1/units/u2/beat", NULL), 403);
    assert_refused(403, "forbidden", NULL);
    ck_assert_uint_eq(as(API_ROLE_OPERATOR, "POST", "/v1/units/u2/beat", NULL), 200);
    /* body: absent, not a string, another's, one's own; roles without a
     * subject are not bound by it */
    ck_assert_uint_eq(as(API_ROLE_UNIT, "POST", "/v1/units", "{}"), 403);
    ck_assert_uint_eq(as(API_ROLE_UNIT, "POST", "/v1/units", "{\"id\":1}"), 403);
    ck_assert_uint_eq(as(API_ROLE_UNIT, "POST", "/v1/units", "{\"id\":\"u2\"}"), 403);
    ck_assert_uint_eq(as(API_ROLE_UNIT, "POST", "/v1/units", "{\"id\":\"u1\"}"), 200);
    ck_assert_uint_eq(as(API_ROLE_DISPATCHER, "POST", "/v1/units", "{\"id\":\"u2\"}"), 200);
    /* a body that is not JSON is still 400 for an allowed caller */
    ck_assert_uint_eq(as(API_ROLE_UNIT, "POST", "/v1/units", "[1]"), 400);
    /* self */
    ck_assert_uint_eq(as(API_ROLE_UNIT, "POST", "/v1/self", NULL), 200);
    api_dispatcher_set_auth(&disp, auth, "u9");
    ck_assert_uint_eq(as(API_ROLE_UNIT, "POST", "/v1/self", NULL), 403);
    ck_assert_uint_eq(as(API_ROLE_DISPATCHER, "POST", "/v1/self", NULL), 200);
    /* the handler's own rule, through api_caller */
    ck_assert_uint_eq(as(API_ROLE_PEER, "POST", "/v1/owned", NULL), 200);
    ck_assert_str_eq(last_caller.subject, "d1");
}
END_TEST

START_TEST(test_dispatch_counts_refusals)
{
    strbuf sb;
    int before = calls;

    call("GET", "/v1/things", NULL, NULL);
    call("GET", "/v1/things", NULL, NULL);
    call("GET", "/v1/things", "Token x", NULL);
    call("GET", "/v1/things", "Bearer unknown-token-00000000", NULL);
    as(API_ROLE_VIEWER, "POST", "/v1/things", "{}");
    as(API_ROLE_UNIT, "POST", "/v1/units/u2/beat", NULL);
    as(API_ROLE_UNIT, "POST", "/v1/units", "{\"id\":\"u2\"}");
    ck_assert_int_eq(calls, before);
    strbuf_init(&sb, 0);
    api_dispatcher_metrics(&disp, &sb);
    ck_assert(strstr(sb.buf, "# TYPE ergrid_auth_refusals_total counter\n") != NULL);
    ck_assert(strstr(sb.buf, "ergrid_auth_refusals_total{route=\"GET /v1/things\","
                             "reason=\"missing\"} 2\n") != NULL);
    ck_assert(strstr(sb.buf, "{route=\"GET /v1/things\",reason=\"malformed\"} 1\n") != NULL);
    ck_assert(strstr(sb.buf, "{route=\"GET /v1/things\",reason=\"unknown\"} 1\n") != NULL);
    ck_assert(strstr(sb.buf, "{route=\"POST /v1/things\",reason=\"role\"} 1\n") != NULL);
    ck_assert(strstr(sb.buf, "{route=\"POST /v1/units/{id}/beat\",reason=\"subject\"} 1\n") !=
              NULL);
    ck_assert(strstr(sb.buf, "{route=\"POST /v1/units\",reason=\"subject\"} 1\n") != NULL);
    ck_assert_ptr_null(strstr(sb.buf, "unknown-token"));
    strbuf_release(&sb);
}
END_TEST

/* Without credentials configured every route is open, as before. */
START_TEST(test_dispatch_without_auth)
{
    api_dispatcher_set_auth(&disp, NULL, NULL);
    ck_assert_uint_eq(call("POST", "/v1/things", NULL, "{}"), 200);
    ck_assert_int_eq(last_caller.role, API_ROLE_NONE);
    ck_assert_uint_eq(call("POST", "/v1/units", NULL, "{\"id\":\"anyone\"}"), 200);
    ck_assert_uint_eq(call("POST", "/v1/owned", "Bearer whatever-it-is-00000", NULL), 200);
    strbuf sb;
    strbuf_init(&sb, 0);
    api_dispatcher_metrics(&disp, &sb);
    ck_assert_uint_eq(sb.len, 0);
    strbuf_release(&sb);
}
END_TEST

START_TEST(test_bad_access_tables)
{
    static const api_route body_on_none[] = {
        {"GET", "/x", h_ok, API_ACCESS_BODY(API_UNIT, "id"), API_BODY_NONE}};
    static const api_route path_out_of_range[] = {
        {"GET", "/x/{a}", h_ok, API_ACCESS_PATH(API_UNIT, 1), API_BODY_NONE}};
    api_dispatcher d;

    ck_assert_int_eq(api_dispatcher_init(&d, body_on_none, 1, 0), -1);
    ck_assert_int_eq(api_dispatcher_init(&d, path_out_of_range, 1, 0), -1);
}
END_TEST

Suite *api_suite(void)
{
    Suite *s = suite_create("api_auth");
    TCase *tc = tcase_create("tokens");
    tcase_add_test(tc, test_sha256_vectors);
    tcase_add_test(tc, test_ct_equal);
    tcase_add_test(tc, test_bearer_header);
    tcase_add_test(tc, test_tokens_file_good);
    tcase_add_test(tc, test_tokens_file_malformed);
    tcase_add_test(tc, test_tokens_error_never_quotes_a_token);
    suite_add_tcase(s, tc);
    tc = tcase_create("files");
    tcase_add_checked_fixture(tc, file_setup, file_teardown);
    tcase_add_test(tc, test_auth_file_and_reload);
    tcase_add_test(tc, test_token_file_read);
    suite_add_tcase(s, tc);
    tc = tcase_create("dispatch");
    tcase_add_checked_fixture(tc, disp_setup, disp_teardown);
    tcase_add_test(tc, test_dispatch_401);
    tcase_add_test(tc, test_dispatch_roles);
    tcase_add_test(tc, test_dispatch_subjects);
    tcase_add_test(tc, test_dispatch_counts_refusals);
    tcase_add_test(tc, test_dispatch_without_auth);
    tcase_add_test(tc, test_gate_after_credential);
    tcase_add_test(tc, test_bad_access_tables);
    suite_add_tcase(s, tc);
    return s;
}
