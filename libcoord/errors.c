/* Stable names for coord_err; the api layer puts them on the wire, so they
 * must never change once published. */
#include "errors.h"

const char *coord_strerror(int err)
{
    switch (err) {
    case COORD_OK:
        return "ok";
    case COORD_E_INVAL:
        return "invalid";
    case COORD_E_RANGE:
        return "out_of_range";
    case COORD_E_NOMEM:
        return "out_of_memory";
    case COORD_E_TRANSITION:
        return "illegal_transition";
    case COORD_E_FORBIDDEN:
        return "forbidden";
    case COORD_E_DUPLICATE:
        return "duplicate";
    case COORD_E_CAUSALITY:
        return "causality_violation";
    case COORD_E_NOTFOUND:
        return "not_found";
    case COORD_E_EXISTS:
        return "exists";
    case COORD_E_ATTEMPT:
        return "bad_attempt";
    default:
        return "unknown";
    }
}
