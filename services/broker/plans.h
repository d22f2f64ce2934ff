/* Response plans (run cards): the requirement lines an incident of a type
 * and severity gets when it is submitted without `response`, read from the
 * --response-plans file and checked whole at start; and the one reader of
 * requirement lines, which a job's `response` goes through too, so a plan
 * and a request obey the same limits (bounds.h). The file format is in
 * README.md ("Multi-unit incidents and response plans"). */
#ifndef BROKER_PLANS_H
#define BROKER_PLANS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "jobs.h"
#include "json_fields.h"

#define PLANS_MAX      64          /* plans in one file */
#define PLANS_FILE_MAX (256 * 1024) /* bytes of the file */

typedef struct response_plan {
    char name[COORD_ID_MAX + 1];
    char type[COORD_ID_MAX + 1];
    bool sev[4]; /* the severities it covers, by severity value */
    line_spec lines[BROKER_MAX_LINES];
    size_t nlines;
} response_plan;

/* Caller-owned; empty (no plans) when zeroed. */
typedef struct plan_book {
    response_plan *v;
    size_t n;
} plan_book;

/* Reads requirement lines from arr into out (room for BROKER_MAX_LINES):
 * 1..BROKER_MAX_LINES objects {"capabilities": [ids], "count": 1..16},
 * at most BROKER_MAX_INCIDENT_UNITS units and BROKER_MAX_CAPS distinct
 * capabilities in all. 0 and *n set, or -1 with fe saying which line is
 * wrong and why (out and *n then unspecified). */
int plans_read_lines(const json_t *arr, line_spec *out, size_t *n, field_error *fe);

/* Parses a whole plan file's JSON into book (released first). 0, or -1
 * with msg naming the plan (index and name) and the problem; book is left
 * empty then. */
int plans_parse(const json_t *root, plan_book *book, char *msg, size_t len);
/* Reads and parses the file at path (as plans_parse; msg names the file,
 * and the line and column of a JSON syntax error). */
int plans_load(const char *path, plan_book *book, char *msg, size_t len);
/* The plan for type and sev, or NULL. */
const response_plan *plans_find(const plan_book *book, const char *type, severity sev);
void plans_release(plan_book *book);

#endif
