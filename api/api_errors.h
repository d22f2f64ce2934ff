/* The one error-code table: every error reply of every service is
 * {"error":{"code":<name>,"message":...}} with the status from this table. */
#ifndef API_ERRORS_H
#define API_ERRORS_H

typedef enum api_err {
    API_E_BAD_REQUEST = 0,  /* 400 bad_request: malformed syntax, bad query */
    API_E_BAD_JSON,         /* 400 invalid_json: body is not JSON / not an object */
    API_E_INVALID_FIELD,    /* 400 invalid_field: wrong type, bad value, unknown enum */
    API_E_MISSING_FIELD,    /* 400 missing_field */
    API_E_UNKNOWN_FIELD,    /* 400 unknown_field: a key the endpoint does not take */
    API_E_INVALID_ID,       /* 400 invalid_id: id outside [A-Za-z0-9._-]{1,64} */
    API_E_UNAUTHORIZED,     /* 401 unauthorized */
    API_E_FORBIDDEN,        /* 403 forbidden: e.g. unit never held the job */
    API_E_NOT_FOUND,        /* 404 not_found: no such route or resource */
    API_E_METHOD,           /* 405 method_not_allowed */
    API_E_CONFLICT,         /* 409 conflict: idempotency key reused, unit taken */
    API_E_DUPLICATE_RESULT, /* 409 result_rejected: another result won */
    API_E_CAUSALITY,        /* 409 causality_violation: clock not after assignment */
    API_E_AT_CAPACITY,      /* 409 at_capacity: executor holds all it can */
    API_E_ILLEGAL_STEP,     /* 409 illegal_step: a unit status step the lifecycle forbids */
    API_E_TOO_LARGE,        /* 413 payload_too_large */
    API_E_URI_TOO_LONG,     /* 414 uri_too_long */
    API_E_MEDIA_TYPE,       /* 415 unsupported_media_type */
    API_E_UNPROCESSABLE,    /* 422 unprocessable: valid JSON, impossible request */
    API_E_INTERNAL,         /* 500 internal */
    API_E_BAD_GATEWAY,      /* 502 bad_gateway: an upstream service failed */
    API_E_UNAVAILABLE,      /* 503 unavailable: shutting down, storage failure */
    API_E_GATEWAY_TIMEOUT,  /* 504 gateway_timeout */
    API_E_NOT_LEADER,       /* 307 not_leader: a standby broker; Location is the leader */
    API_E__COUNT
} api_err;

unsigned api_err_status(api_err e);
const char *api_err_code(api_err e);

#endif
