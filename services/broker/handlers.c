/* What the broker's handlers share: checked path ids, query arguments and
 * body parsing with the error reply each calls for, and the 503 of a
 * failing store. */
#include "handlers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"
#include "txn.h"
#include "util.h"

void reply_storage_failed(api_request *req, api_response *res)
{
    broker_reply_storage_failed(req->ctx, res);
}

void broker_reply_storage_failed(broker *b, api_response *res)
{
    char why[sizeof(b->health.error)];

    pthread_mutex_lock(&b->mu);
    snprintf(why, sizeof(why), "%s", b->health.error[0] ? b->health.error : "unknown error");
    pthread_mutex_unlock(&b->mu);
    /* The probe's pace: the earliest a retry can succeed. */
    (void)api_response_add_header(res, "Retry-After", "1");
    api_reply_error(res, API_E_UNAVAILABLE,
                    "storage is failing (%s): nothing was changed; reads are served, writes are "
                    "refused until storage recovers",
                    why);
}

bool store_ok_or_503(api_request *req, api_response *res)
{
    broker *b = req->ctx;

    if (txn_store_ok(b))
        return true;
    pthread_mutex_unlock(&b->mu);
    reply_storage_failed(req, res);
    return false;
}

static bool ok_or_503(bool ok, struct txn *t, api_request *req, api_response *res)
{
    if (ok)
        return true;
    txn_end(t);
    reply_storage_failed(req, res);
    return false;
}

bool commit_or_503(struct txn *t, api_request *req, api_response *res)
{
    return ok_or_503(txn_commit(t), t, req, res);
}

bool stage_or_503(struct txn *t, api_request *req, api_response *res)
{
    return ok_or_503(txn_stage(t), t, req, res);
}

bool read_done_or_503(api_request *req, api_response *res, json_t *body)
{
    if (txn_read_done(req->ctx))
        return true;
    json_decref(body);
    reply_storage_failed(req, res);
    return false;
}

const char *path_id(api_request *req, api_response *res, const char *what)
{
    const char *id = req->nparams ? req->params[0] : NULL;

    if (!coord_id_valid(id)) {
        api_reply_error(res, API_E_INVALID_ID, "%s id is not a valid id", what);
        return NULL;
    }
    return id;
}

bool list_scope(api_request *req, api_response *res, bool *city)
{
    const char *scope = api_query(req, "scope");

    if (scope && strcmp(scope, "local") != 0 && strcmp(scope, "city") != 0) {
        api_reply_error(res, API_E_BAD_REQUEST, "scope must be local or city");
        return false;
    }
    *city = !scope || strcmp(scope, "city") == 0;
    return true;
}

bool query_uint(api_request *req, api_response *res, const char *key, uint64_t min, uint64_t max,
                uint64_t *out, const char *msg)
{
    const char *s = api_query(req, key);
    char *end;
    unsigned long long v;

    if (!s)
        return true;
    if (*s < '0' || *s > '9')
        goto bad; /* empty, sign, space */
    v = strtoull(s, &end, 10);
    if (*end || v < min || v > max)
        goto bad;
    *out = v;
    return true;
bad:
    api_reply_error(res, API_E_BAD_REQUEST, "%s", msg);
    return false;
}

bool parse_body(api_request *req, api_response *res, const field_spec *spec, void *out)
{
    field_error fe;

    if (json_parse_fields(req->body, spec, out, &fe) < 0) {
        api_reply_error(res, fe.code, "%s", fe.message);
        return false;
    }
    return true;
}
