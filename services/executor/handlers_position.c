/* POST /v1/position (handlers_position.h): {"lat", "lon", optional
 * "fixed_at"} checked here, kept by position.c, sent with the next
 * heartbeat. */
#include "handlers_position.h"

#include <string.h>

#include "context.h"
#include "coord.h"
#include "position.h"

void h_position(api_request *req, api_response *res)
{
    executor *e = req->ctx;
    const char *key;
    json_t *v;
    geo_point at;
    field_error fe;

    if (!json_is_object(req->body)) {
        api_reply_error(res, API_E_BAD_JSON, "body must be a JSON object");
        return;
    }
    json_object_foreach (req->body, key, v) {
        if (strcmp(key, "lat") != 0 && strcmp(key, "lon") != 0 && strcmp(key, "fixed_at") != 0) {
            api_reply_error(res, API_E_UNKNOWN_FIELD, "unknown field '%.64s'", key);
            return;
        }
    }
    int rc = geo_from_json(req->body, "position", &at, &fe);
    if (rc == 0) {
        api_reply_error(res, API_E_MISSING_FIELD, "position needs lat and lon");
        return;
    }
    if (rc < 0) {
        api_reply_error(res, fe.code, "%s", fe.message);
        return;
    }
    uint64_t now = coord_now_wall_ms(), fix_ms = now;
    const json_t *fixed = json_object_get(req->body, "fixed_at");
    if (fixed && !json_is_null(fixed)) {
        if (exec_parse_rfc3339_ms(json_string_value(fixed), &fix_ms) < 0) {
            api_reply_error(res, API_E_INVALID_FIELD,
                            "fixed_at must be an RFC 3339 time such as 2026-12-01T15:30:04Z");
            return;
        }
        if (fix_ms > now + EXEC_FIX_MAX_SKEW_MS) {
            api_reply_error(res, API_E_INVALID_FIELD,
                            "fixed_at is %llu ms in the future (at most %d allowed for clock skew)",
                            (unsigned long long)(fix_ms - now), EXEC_FIX_MAX_SKEW_MS);
            return;
        }
        if (fix_ms + EXEC_FIX_MAX_AGE_MS < now) {
            api_reply_error(res, API_E_INVALID_FIELD,
                            "fixed_at is more than 24 h ago: it says nothing of where the unit is");
            return;
        }
    }
    bool applied = exec_position_set(e, at, fix_ms);
    json_t *body = exec_position_view(e, applied, now);
    if (!body) {
        api_reply_error(res, API_E_INTERNAL, "out of memory");
        return;
    }
    api_reply_json(res, 200, body);
}
