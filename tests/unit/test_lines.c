/* Multi-unit incidents in the broker (issue 12): the reader of requirement
 * lines and of the --response-plans file (plans.c), the stored text of lines
 * (codec.c), and the line accounting of jobs.c (a partly filled incident
 * is assigned and stays queued for its open lines; losing a unit opens its
 * line again; the record releases every line). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "codec.h"
#include "jobs.h"
#include "plans.h"
#include "state.h"
#include "unit.h"
#include "units.h"

#define SELF "Downtown"
#define NOW  1000000u

/* plans_parse of text: 0 or -1, msg filled. */
static int parse_text(const char *text, plan_book *book, char *msg, size_t len)
{
    json_error_t je;
    json_t *root = json_loads(text, JSON_REJECT_DUPLICATES, &je);
    int rc;

    ck_assert_msg(root != NULL, "test JSON does not parse: %s", je.text);
    rc = plans_parse(root, book, msg, len);
    json_decref(root);
    return rc;
}

static const char GOOD[] =
    "{\"plans\": ["
    " {\"name\": \"structure-fire-first-alarm\", \"type\": \"building_fire\","
    "  \"severity\": [\"high\", \"critical\"],"
    "  \"response\": [{\"capabilities\": [\"firefighting\"], \"count\": 3},"
    "               {\"capabilities\": [\"firefighting\", \"rescue\"], \"count\": 1},"
    "               {\"capabilities\": [\"medical\"], \"count\": 1}]},"
    " {\"name\": \"small-fire\", \"type\": \"building_fire\", \"severity\": [\"low\", \"medium\"],"
    "  \"response\": [{\"capabilities\": [\"firefighting\"], \"count\": 1}]}]}";

START_TEST(test_good_file)
{
    plan_book book = {0};
    char msg[512] = "";

    ck_assert_int_eq(parse_text(GOOD, &book, msg, sizeof(msg)), 0);
    ck_assert_uint_eq(book.n, 2);
    const response_plan *p = plans_find(&book, "building_fire", SEV_CRITICAL);
    ck_assert_ptr_nonnull(p);
    ck_assert_str_eq(p->name, "structure-fire-first-alarm");
    ck_assert_uint_eq(p->nlines, 3);
    ck_assert_uint_eq(p->lines[0].count, 3);
    ck_assert_uint_eq(p->lines[1].ncaps, 2);
    ck_assert_str_eq(p->lines[1].caps[1], "rescue");
    ck_assert_str_eq(plans_find(&book, "building_fire", SEV_LOW)->name, "small-fire");
    ck_assert_ptr_null(plans_find(&book, "chemical_spill", SEV_HIGH));
    plans_release(&book);
    ck_assert_ptr_null(plans_find(&book, "building_fire", SEV_HIGH));
}
END_TEST

/* Each bad file is refused whole, with a message naming the plan and the
 * problem. */
static const struct {
    const char *text, *want;
} BAD[] = {
    {"[]", "{\"plans\""},
    {"{\"plans\": [], \"extra\": 1}", "unknown member 'extra'"},
    {"{\"plans\": [7]}", "plans[0] must be an object"},
    {"{\"plans\": [{\"name\": \"a\", \"type\": \"fire\", \"severity\": [\"high\"],"
     " \"response\": [{\"capabilities\": [\"x\"], \"count\": 0}]}]}",
     "plans[0] (\"a\"): response[0]: "},
    {"{\"plans\": [{\"name\": \"a\", \"type\": \"fire\", \"severity\": [\"high\"],"
     " \"response\": [{\"capabilities\": [\"x\"], \"count\": 17}]}]}",
     "plans[0] (\"a\"): response[0]"},
    {"{\"plans\": [{\"name\": \"a\", \"type\": \"fire\", \"severity\": [\"high\"],"
     " \"response\": [{\"capabilities\": [], \"count\": 1}]}]}",
     "response[0]: "},
    {"{\"plans\": [{\"name\": \"a\", \"type\": \"fire\", \"severity\": [\"high\"],"
     " \"response\": [{\"count\": 1}]}]}",
     "capabilities"},
    {"{\"plans\": [{\"name\": \"a\", \"type\": \"fire\", \"severity\": [\"severe\"],"
     " \"response\": [{\"capabilities\": [\"x\"], \"count\": 1}]}]}",
     "severity 'severe' is not low, medium, high or critical"},
    {"{\"plans\": [{\"name\": \"a\", \"type\": \"fire fighting\", \"severity\": [\"high\"],"
     " \"response\": [{\"capabilities\": [\"x\"], \"count\": 1}]}]}",
     "plans[0] (\"a\"): "},
    {"{\"plans\": [{\"name\": \"a\", \"type\": 3, \"severity\": [\"high\"],"
     " \"response\": [{\"capabilities\": [\"x\"], \"count\": 1}]}]}",
     "type"},
    {"{\"plans\": [{\"name\": \"a\", \"type\": \"fire\", \"severity\": [\"high\"],"
     " \"response\": [{\"capabilities\": [\"x\"], \"count\": 1}]},"
     " {\"name\": \"a\", \"type\": \"flood\", \"severity\": [\"high\"],"
     " \"response\": [{\"capabilities\": [\"x\"], \"count\": 1}]}]}",
     "plans[1]: duplicate plan name \"a\" (also plans[0])"},
    {"{\"plans\": [{\"name\": \"a\", \"type\": \"fire\", \"severity\": [\"high\"],"
     " \"response\": [{\"capabilities\": [\"x\"], \"count\": 1}]},"
     " {\"name\": \"b\", \"type\": \"fire\", \"severity\": [\"low\", \"high\"],"
     " \"response\": [{\"capabilities\": [\"x\"], \"count\": 1}]}]}",
     "plans[1] (\"b\"): type fire severity high is covered by plans[0] (\"a\") already"},
    {"{\"plans\": [{\"name\": \"a\", \"type\": \"fire\", \"severity\": [\"high\"],"
     " \"response\": []}]}",
     "response must be a list of 1 to 8 lines"},
    {"{\"plans\": [{\"name\": \"a\", \"type\": \"fire\", \"severity\": [\"high\"],"
     " \"response\": [{\"capabilities\": [\"x\"], \"count\": 16},"
     "  {\"capabilities\": [\"y\"], \"count\": 16}, {\"capabilities\": [\"z\"], \"count\": 1}]}]}",
     "response[2]: more than 32 units"},
    {"{\"plans\": [{\"name\": \"a\", \"type\": \"fire\", \"severity\": [\"high\"],"
     " \"response\": [{\"capabilities\": [\"x\"], \"count\": 1, \"colour\": \"red\"}]}]}",
     "unknown field 'colour'"},
    {"{\"plans\": [{\"name\": \"a\", \"type\": \"fire\", \"severity\": [\"high\"],"
     " \"response\": [{\"capabilities\": [\"x\"], \"count\": 1}], \"next\": \"b\"}]}",
     "unknown field 'next'"},
};

START_TEST(test_bad_file)
{
    plan_book book = {0};
    char msg[512] = "";

    ck_assert_int_eq(parse_text(BAD[_i].text, &book, msg, sizeof(msg)), -1);
    ck_assert_msg(strstr(msg, BAD[_i].want) != NULL, "case %d: message '%s' lacks '%s'", _i, msg,
                  BAD[_i].want);
    ck_assert_uint_eq(book.n, 0);
    ck_assert_ptr_null(book.v);
}
END_TEST

START_TEST(test_load_names_file_and_position)
{
    char path[] = "/tmp/ergrid-plans-XXXXXX", msg[512] = "";
    plan_book book = {0};
    int fd = mkstemp(path);
    FILE *f;

    ck_assert_int_ge(fd, 0);
    f = fdopen(fd, "w");
    fputs("{\"plans\": [\n  {\"name\": \"a\",,}\n]}\n", f);
    fclose(f);
    ck_assert_int_eq(plans_load(path, &book, msg, sizeof(msg)), -1);
    ck_assert_msg(strstr(msg, path) && strstr(msg, "line 2"), "%s", msg);
    f = fopen(path, "w");
    fputs(GOOD, f);
    fclose(f);
    ck_assert_int_eq(plans_load(path, &book, msg, sizeof(msg)), 0);
    ck_assert_uint_eq(book.n, 2);
    plans_release(&book);
    unlink(path);
    ck_assert_int_eq(plans_load(path, &book, msg, sizeof(msg)), -1);
    ck_assert_msg(strstr(msg, "cannot open"), "%s", msg);
}
END_TEST

START_TEST(test_read_lines_codes)
{
    line_spec lines[BROKER_MAX_LINES];
    field_error fe;
    size_t n = 0;
    json_t *a = json_loads("[{\"capabilities\": [\"x\"], \"count\": 2, \"z\": 1}]", 0, NULL);

    ck_assert_int_eq(plans_read_lines(a, lines, &n, &fe), -1);
    ck_assert_int_eq(fe.code, API_E_UNKNOWN_FIELD);
    json_decref(a);
    a = json_loads("[{\"count\": 2}]", 0, NULL);
    ck_assert_int_eq(plans_read_lines(a, lines, &n, &fe), -1);
    ck_assert_int_eq(fe.code, API_E_MISSING_FIELD);
    json_decref(a);
    a = json_loads("[{\"capabilities\": [\"x\", \"y\"], \"count\": 2}, {\"capabilities\": [\"y\"],"
                   " \"count\": 1}]",
                   0, NULL);
    ck_assert_int_eq(plans_read_lines(a, lines, &n, &fe), 0);
    ck_assert_uint_eq(n, 2);
    ck_assert_uint_eq(lines[0].ncaps, 2);
    ck_assert_uint_eq(lines[1].count, 1);
    json_decref(a);
    a = json_loads("\"fire\"", JSON_DECODE_ANY, NULL);
    ck_assert_int_eq(plans_read_lines(a, lines, &n, &fe), -1);
    ck_assert_int_eq(fe.code, API_E_INVALID_FIELD);
    json_decref(a);
}
END_TEST

/* ---- the district ---- */

static state S;

static void setup(void)
{
    ck_assert_int_eq(state_init(&S, SELF, 3000), COORD_OK);
}

static void teardown(void)
{
    state_release(&S);
}

static unit *add_unit(const char *id, const char *cap)
{
    const char *caps[] = {cap};
    unit_reg r = {.id = id, .kind = "k", .url = "http://127.0.0.1:1", .caps = caps, .ncaps = 1,
                  .capacity = 1};
    unit *u;
    bool created, back;

    ck_assert_int_eq(state_register_unit(&S, &r, NOW, NOW, &u, &created, &back), 0);
    return u;
}

static job *submit_lines(const char *id)
{
    static line_spec lines[2];
    job_submission sub = {.id = id, .type = "fire", .sev = SEV_HIGH, .lines = lines, .nlines = 2,
                          .plan = "p1"};
    job *j;

    memset(lines, 0, sizeof(lines));
    snprintf(lines[0].caps[0], sizeof(lines[0].caps[0]), "firefighting");
    lines[0].ncaps = 1;
    lines[0].count = 2;
    snprintf(lines[1].caps[0], sizeof(lines[1].caps[0]), "medical");
    lines[1].ncaps = 1;
    lines[1].count = 1;
    ck_assert_int_eq(state_submit(&S, &sub, NOW, &j), COORD_OK);
    j->dispatching = false;
    return j;
}

static uint32_t assign(job *j, uint32_t line, unit *u)
{
    vclock vc;
    uint32_t n;

    vclock_init(&vc);
    ck_assert_int_eq(state_reserve_line(&S, j, line, u, u->id, SELF, &vc, NOW, &n), COORD_OK);
    ck_assert_int_eq(state_confirm(&S, j, n, NOW), COORD_OK);
    j->dispatching = false;
    return n;
}

START_TEST(test_partly_filled)
{
    unit *e1 = add_unit("E-1", "firefighting"), *e2 = add_unit("E-2", "firefighting");
    unit *m1 = add_unit("M-1", "medical");
    job *j = submit_lines("J1");
    char tried[8][COORD_ID_MAX + 1];

    ck_assert_str_eq(j->plan, "p1");
    ck_assert_uint_eq(j->caps.n, 2); /* the capabilities of all lines */
    ck_assert_int_eq(job_open_line(j), 0);
    ck_assert(state_pick_line_unit(&S, j, 1, NULL, 0, NOW, NOW, NULL) == m1);
    uint32_t a1 = assign(j, 0, e1);
    ck_assert_int_eq(j->status, JOB_ASSIGNED);
    ck_assert(jobq_contains(S.queue, "J1")); /* keeps its place for its open lines */
    /* the unit on the incident is never picked for another of its lines */
    size_t nt = state_job_holders(j, tried, 0, 8);
    ck_assert_uint_eq(nt, 1);
    ck_assert(state_pick_line_unit(&S, j, 0, (const char(*)[COORD_ID_MAX + 1])tried, nt, NOW, NOW, NULL) ==
              e2);
    assign(j, 0, e2);
    ck_assert_int_eq(job_open_line(j), 1);
    uint32_t a3 = assign(j, 1, m1);
    ck_assert_int_eq(job_open_line(j), -1);
    ck_assert(!jobq_contains(S.queue, "J1"));
    ck_assert_uint_eq(job_attempt(j, a3)->line, 1);

    /* losing one unit opens its line again; the job stays assigned */
    ck_assert_int_eq(state_requeue(&S, j, job_attempt(j, a1), NOW, "redeployed"), 1);
    ck_assert_int_eq(j->status, JOB_ASSIGNED);
    ck_assert_int_eq(job_open_line(j), 0);
    ck_assert(jobq_contains(S.queue, "J1"));
    ck_assert(job_wants_units(j));

    /* the record releases every line */
    followups fu = {0};
    result *rr = calloc(1, sizeof(*rr));
    snprintf(rr->unit_id, sizeof(rr->unit_id), "M-1");
    rr->attempt = a3;
    snprintf(rr->outcome, sizeof(rr->outcome), "contained");
    rr->data = strdup("{}");
    ck_assert_int_eq(state_accept_result(&S, j, rr, NOW, &fu), COORD_OK);
    ck_assert_int_eq(j->status, JOB_COMPLETED);
    ck_assert(!jobq_contains(S.queue, "J1"));
    ck_assert_uint_eq(e1->load + e2->load + m1->load, 0);
    ck_assert_uint_eq(fu.n, 1); /* E-2 told to stop (E-1 was revoked already) */
    ck_assert_str_eq(fu.v[0].reason, "result_accepted");
    followups_release(&fu);
    ck_assert(!job_wants_units(j));
}
END_TEST

START_TEST(test_lines_text_round_trip)
{
    job *j = submit_lines("J2");
    unit *m1 = add_unit("M-1", "medical");
    uint32_t n = assign(j, 1, m1);
    char *lt = linestext(j), *at = attlinestext(j);
    job *k = state_add_job(&S, "J3");
    attempt a;

    ck_assert_str_eq(lt, "firefighting*2;medical*1");
    ck_assert_uint_eq(n, 1);
    ck_assert_str_eq(at, "1:1");
    ck_assert_int_eq(linestext_parse(lt, S.strings, k), 0);
    ck_assert_uint_eq(k->nlines, 2);
    ck_assert_uint_eq(k->lines[0].count, 2);
    ck_assert_str_eq(k->lines[1].caps.v[0], "medical");
    memset(&a, 0, sizeof(a));
    a.n = 1;
    ck_assert_int_eq(job_add_attempt(k, &a), COORD_OK);
    ck_assert_int_eq(attlinestext_parse(at, k), 0);
    ck_assert_uint_eq(job_attempt(k, 1)->line, 1);
    ck_assert_int_eq(attlinestext_parse("1:2", k), -1); /* no third line */
    ck_assert_int_eq(attlinestext_parse("9:1", k), -1); /* no attempt 9 */
    free(lt);
    free(at);
    job *bad = state_add_job(&S, "J4");
    const char *bads[] = {"", "x*0", "x*17", "x", "*1", "x*1;", "x*1;y", "x y*1",
                          "a*16;b*16;c*1", "a*1;a*1;a*1;a*1;a*1;a*1;a*1;a*1;a*1"};
    for (size_t i = 0; i < sizeof(bads) / sizeof(*bads); i++) {
        ck_assert_msg(linestext_parse(bads[i], S.strings, bad) == -1, "'%s' read", bads[i]);
        ck_assert_uint_eq(bad->nlines, 0);
    }
}
END_TEST

Suite *unit_suite(void)
{
    Suite *s = suite_create("lines");
    TCase *tc = unit_tcase("plans");

    tcase_add_test(tc, test_good_file);
    tcase_add_loop_test(tc, test_bad_file, 0, (int)(sizeof(BAD) / sizeof(*BAD)));
    tcase_add_test(tc, test_load_names_file_and_position);
    tcase_add_test(tc, test_read_lines_codes);
    suite_add_tcase(s, tc);
    tc = unit_tcase("district");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_partly_filled);
    tcase_add_test(tc, test_lines_text_round_trip);
    suite_add_tcase(s, tc);
    return s;
}
