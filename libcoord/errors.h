/* Error codes returned by libcoord functions (0 is success, errors are
 * negative). The api layer maps them to HTTP statuses. */
#ifndef COORD_ERRORS_H
#define COORD_ERRORS_H

typedef enum coord_err {
    COORD_OK = 0,
    COORD_E_INVAL = -1,      /* malformed argument (bad id, bad enum, NULL) */
    COORD_E_RANGE = -2,      /* value outside its allowed range / cap reached */
    COORD_E_NOMEM = -3,      /* allocation failed */
    COORD_E_TRANSITION = -4, /* illegal state-machine transition */
    COORD_E_FORBIDDEN = -5,  /* submitter never held an attempt of the job */
    COORD_E_DUPLICATE = -6,  /* a different result was accepted first */
    COORD_E_CAUSALITY = -7,  /* result clock does not follow the assignment */
    COORD_E_NOTFOUND = -8,   /* no such key */
    COORD_E_EXISTS = -9,     /* key already present */
    COORD_E_ATTEMPT = -10,   /* unit held the job, but not under this attempt */
} coord_err;

/* Stable snake_case name of an error ("illegal_transition", ...). Never NULL. */
const char *coord_strerror(int err);

#endif
