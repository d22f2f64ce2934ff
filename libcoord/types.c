#include "types.h"

#include <stddef.h>
#include <string.h>

#include "errors.h"

/* Wire names, indexed by enum value. Shared by *_str and *_parse so the
 * two directions cannot drift apart. */
static const char *const severity_names[] = {"low", "medium", "high", "critical"};
static const char *const job_status_names[] = {"queued", "assigned", "completed", "cancelled"};
static const char *const attempt_state_names[] = {"pending", "active", "revoked", "finished"};
static const char *const unit_status_names[] = {"available", "busy", "lost", "out_of_service"};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static const char *name_of(const char *const *names, size_t n, int v)
{
    if (v < 0 || (size_t)v >= n)
        return "unknown";
    return names[v];
}

static int parse_name(const char *const *names, size_t n, const char *s, int *out)
{
    if (!s)
        return COORD_E_INVAL;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(names[i], s) == 0) {
            *out = (int)i;
            return COORD_OK;
        }
    }
    return COORD_E_INVAL;
}

const char *severity_str(severity s)
{
    return name_of(severity_names, NELEM(severity_names), (int)s);
}

int severity_parse(const char *s, severity *out)
{
    int v;

    if (!out || parse_name(severity_names, NELEM(severity_names), s, &v) != COORD_OK)
        return COORD_E_INVAL;
    *out = (severity)v;
    return COORD_OK;
}

const char *job_status_str(job_status s)
{
    return name_of(job_status_names, NELEM(job_status_names), (int)s);
}

int job_status_parse(const char *s, job_status *out)
{
    int v;

    if (!out || parse_name(job_status_names, NELEM(job_status_names), s, &v) != COORD_OK)
        return COORD_E_INVAL;
    *out = (job_status)v;
    return COORD_OK;
}

const char *attempt_state_str(attempt_state s)
{
    return name_of(attempt_state_names, NELEM(attempt_state_names), (int)s);
}

int attempt_state_parse(const char *s, attempt_state *out)
{
    int v;

    if (!out || parse_name(attempt_state_names, NELEM(attempt_state_names), s, &v) != COORD_OK)
        return COORD_E_INVAL;
    *out = (attempt_state)v;
    return COORD_OK;
}

const char *unit_status_str(unit_status s)
{
    return name_of(unit_status_names, NELEM(unit_status_names), (int)s);
}

int unit_status_parse(const char *s, unit_status *out)
{
    int v;

    if (!out || parse_name(unit_status_names, NELEM(unit_status_names), s, &v) != COORD_OK)
        return COORD_E_INVAL;
    *out = (unit_status)v;
    return COORD_OK;
}

/* Transition tables: legal[from][to]. A table reads like the diagram in
 * types.h and makes "everything not listed is illegal" the default. */
static const bool job_legal[4][4] = {
    /*                 queued assigned completed cancelled */
    [JOB_QUEUED] = {false, true, true, true},
    [JOB_ASSIGNED] = {true, true, true, true},
    [JOB_COMPLETED] = {false, false, false, false},
    [JOB_CANCELLED] = {false, false, false, false},
};

static const bool attempt_legal[4][4] = {
    /*                 pending active revoked finished */
    [ATT_PENDING] = {false, true, true, false},
    [ATT_ACTIVE] = {false, false, true, true},
    [ATT_REVOKED] = {false, false, false, true},
    [ATT_FINISHED] = {false, false, false, false},
};

static bool in_range(int v, int n)
{
    return v >= 0 && v < n;
}

int job_transition(job_status from, job_status to)
{
    if (!in_range((int)from, 4) || !in_range((int)to, 4) || !job_legal[from][to])
        return COORD_E_TRANSITION;
    return COORD_OK;
}

int attempt_transition(attempt_state from, attempt_state to)
{
    if (!in_range((int)from, 4) || !in_range((int)to, 4) || !attempt_legal[from][to])
        return COORD_E_TRANSITION;
    return COORD_OK;
}

int unit_transition(unit_status from, unit_status to)
{
    /* Every pair of valid states is legal: leaving LOST is only restricted
     * by who may trigger it (heartbeat/registration), which the caller
     * enforces, not by the target state. */
    if (!in_range((int)from, 4) || !in_range((int)to, 4))
        return COORD_E_TRANSITION;
    return COORD_OK;
}

int job_set_status(job_status *st, job_status to)
{
    if (!st || job_transition(*st, to) != COORD_OK)
        return COORD_E_TRANSITION;
    *st = to;
    return COORD_OK;
}

int attempt_set_state(attempt_state *st, attempt_state to)
{
    if (!st || attempt_transition(*st, to) != COORD_OK)
        return COORD_E_TRANSITION;
    *st = to;
    return COORD_OK;
}

static const bool cond_legal[4][4] = {
    /*                     serving lost  off   off_lost */
    [UNIT_COND_SERVING] = {true, true, true, false},
    [UNIT_COND_LOST] = {true, false, true, false},
    [UNIT_COND_OFF] = {true, false, true, true},
    [UNIT_COND_OFF_LOST] = {true, false, true, false},
};

int unit_set_cond(unit_cond *c, unit_cond to)
{
    if (!c || !in_range((int)*c, 4) || !in_range((int)to, 4) || !cond_legal[*c][to])
        return COORD_E_TRANSITION;
    *c = to;
    return COORD_OK;
}

unit_cond unit_cond_silent(unit_cond c)
{
    return unit_cond_off(c) ? UNIT_COND_OFF_LOST : UNIT_COND_LOST;
}

unit_cond unit_cond_heard(unit_cond c)
{
    return unit_cond_off(c) ? UNIT_COND_OFF : UNIT_COND_SERVING;
}

unit_cond unit_cond_registered(unit_cond c, bool keep, bool off)
{
    if (keep)
        off = unit_cond_off(c);
    return off ? UNIT_COND_OFF : UNIT_COND_SERVING;
}

int severity_from_int(int v, severity *out)
{
    if (!out || !in_range(v, (int)NELEM(severity_names)))
        return COORD_E_INVAL;
    *out = (severity)v;
    return COORD_OK;
}

int job_status_from_int(int v, job_status *out)
{
    if (!out || !in_range(v, (int)NELEM(job_status_names)))
        return COORD_E_INVAL;
    *out = (job_status)v;
    return COORD_OK;
}

int attempt_state_from_int(int v, attempt_state *out)
{
    if (!out || !in_range(v, (int)NELEM(attempt_state_names)))
        return COORD_E_INVAL;
    *out = (attempt_state)v;
    return COORD_OK;
}
