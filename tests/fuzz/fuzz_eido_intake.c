/* Fuzz target: services/coordinator/eido_intake.c, where a client's EIDO
 * becomes an incident. Input: any bytes, decoded as the HTTP dispatcher
 * does (JSON_REJECT_DUPLICATES); an object goes through eido_map. Checks
 * what the header promises: on success an incident with only the keys the
 * coordinator's own shape takes, a valid type, severity and capabilities,
 * a valid id when there is one and a location in range; on failure a
 * 400-class code (or 503 out of memory) with a message. The bad_input
 * requests to POST /v1/incidents are replayed through the same check. */
#include <string.h>

#include "eido_intake.h"
#include "fuzz.h"
#include "geo_json.h"
#include "types.h"
#include "util.h"

static void check_incident(const json_t *o)
{
    static const char *const keys[] = {"id",       "type",    "severity", "required_capabilities",
                                       "location", "payload", NULL};
    const char *k;
    json_t *v;
    severity s;
    geo_point p;
    field_error fe;
    size_t i;

    if (!json_is_object(o))
        abort();
    json_object_foreach ((json_t *)o, k, v) {
        for (i = 0; keys[i] && strcmp(keys[i], k) != 0; i++)
            ;
        if (!keys[i])
            abort();
    }
    if (!coord_id_valid(json_string_value(json_object_get(o, "type"))) ||
        severity_parse(json_string_value(json_object_get(o, "severity")), &s) < 0)
        abort();
    v = json_object_get(o, "id");
    if (v && !coord_id_valid(json_string_value(v)))
        abort();
    v = json_object_get(o, "required_capabilities");
    if (!json_is_array(v) || json_array_size(v) == 0)
        abort();
    for (i = 0; i < json_array_size(v); i++)
        if (!coord_id_valid(json_string_value(json_array_get(v, i))))
            abort();
    v = json_object_get(o, "location");
    if (v && !json_is_string(v) &&
        (!json_is_object(v) || geo_from_json(v, "location", &p, &fe) != 1))
        abort();
}

static void run(const json_t *doc)
{
    json_t *out = NULL;
    field_error fe;

    memset(&fe, 0, sizeof(fe));
    if (eido_map(doc, &out, &fe) == 0) {
        check_incident(out);
        json_decref(out);
        return;
    }
    if (out || fe.message[0] == '\0' || memchr(fe.message, '\0', sizeof(fe.message)) == NULL ||
        !((api_err_status(fe.code) >= 400 && api_err_status(fe.code) < 500) ||
          fe.code == API_E_UNAVAILABLE))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *doc = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);

    if (json_is_object(doc))
        run(doc);
    json_decref(doc);
    return 0;
}

const char *const fuzz_replay_service = "coordinator";

int fuzz_replay_request(const char *method, const char *path, const uint8_t *body, size_t len)
{
    if (strcmp(method, "POST") != 0 || strncmp(path, "/v1/incidents", 13) != 0 || !body)
        return 1;
    LLVMFuzzerTestOneInput(body, len);
    return 0;
}
