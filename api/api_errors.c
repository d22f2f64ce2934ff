/* The error-code table: one place maps each api_err to its HTTP status and
 * its stable snake_case code. */
#include "api_errors.h"

static const struct {
    unsigned status;
    const char *code;
} err_table[API_E__COUNT] = {
    [API_E_BAD_REQUEST] = {400, "bad_request"},
    [API_E_BAD_JSON] = {400, "invalid_json"},
    [API_E_INVALID_FIELD] = {400, "invalid_field"},
    [API_E_MISSING_FIELD] = {400, "missing_field"},
    [API_E_UNKNOWN_FIELD] = {400, "unknown_field"},
    [API_E_INVALID_ID] = {400, "invalid_id"},
    [API_E_UNAUTHORIZED] = {401, "unauthorized"},
    [API_E_FORBIDDEN] = {403, "forbidden"},
    [API_E_NOT_FOUND] = {404, "not_found"},
    [API_E_METHOD] = {405, "method_not_allowed"},
    [API_E_CONFLICT] = {409, "conflict"},
    [API_E_DUPLICATE_RESULT] = {409, "result_rejected"},
    [API_E_CAUSALITY] = {409, "causality_violation"},
    [API_E_AT_CAPACITY] = {409, "at_capacity"},
    [API_E_ILLEGAL_STEP] = {409, "illegal_step"},
    [API_E_TOO_LARGE] = {413, "payload_too_large"},
    [API_E_URI_TOO_LONG] = {414, "uri_too_long"},
    [API_E_MEDIA_TYPE] = {415, "unsupported_media_type"},
    [API_E_UNPROCESSABLE] = {422, "unprocessable"},
    [API_E_INTERNAL] = {500, "internal"},
    [API_E_BAD_GATEWAY] = {502, "bad_gateway"},
    [API_E_UNAVAILABLE] = {503, "unavailable"},
    [API_E_GATEWAY_TIMEOUT] = {504, "gateway_timeout"},
    [API_E_NOT_LEADER] = {307, "not_leader"},
};

/* Out-of-range values (a cast from an int gone wrong) map to internal, so a
 * reply is always well formed. */
unsigned api_err_status(api_err e)
{
    if ((unsigned)e >= API_E__COUNT)
        return 500;
    return err_table[e].status;
}

const char *api_err_code(api_err e)
{
    if ((unsigned)e >= API_E__COUNT)
        return "internal";
    return err_table[e].code;
}
