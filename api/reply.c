/* Reply building: every api_reply_* builder and the one error body. Error
 * bodies come only from error_object, so each carries the status and the
 * code of api_errors' table and nothing a handler could get wrong. */
#include "reply.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Drops the body, keeping the extra headers and the dispatcher's fields. */
static void response_clear(api_response *res)
{
    json_decref(res->body);
    res->body = NULL;
    free(res->text);
    res->text = NULL;
    res->text_len = 0;
    res->refusal = API_REFUSAL_NONE;
    res->defer = NULL;
    res->defer_arg = NULL;
    if (res->stream)
        res->stream->done(res->stream_arg);
    res->stream = NULL;
    res->stream_arg = NULL;
}

void api_reply_defer(api_response *res, api_defer_fn start, void *arg)
{
    response_clear(res);
    res->status = 0;
    res->defer = start;
    res->defer_arg = arg;
}

void api_reply_stream(api_response *res, const char *content_type, const api_stream_ops *ops,
                      void *arg)
{
    response_clear(res);
    res->status = 200;
    res->content_type = content_type;
    res->stream = ops;
    res->stream_arg = arg;
}

/* jansson refuses strings that are not UTF-8; a message may quote client
 * bytes, or be cut mid-character by the length cap. */
static json_t *message_string(char *msg)
{
    json_t *s = json_string(msg);

    if (s)
        return s;
    for (unsigned char *p = (unsigned char *)msg; *p; p++)
        if (*p >= 0x80)
            *p = '?';
    return json_string(msg);
}

__attribute__((format(printf, 2, 0))) static json_t *error_object(api_err code, const char *fmt,
                                                                  va_list ap)
{
    char msg[512];
    json_t *inner, *top;

    if (fmt)
        vsnprintf(msg, sizeof(msg), fmt, ap);
    else
        snprintf(msg, sizeof(msg), "%s", api_err_code(code));
    inner = json_object();
    top = json_object();
    if (!inner || !top || json_object_set_new(inner, "code", json_string(api_err_code(code))) < 0 ||
        json_object_set_new(inner, "message", message_string(msg)) < 0) {
        json_decref(inner);
        json_decref(top);
        return NULL;
    }
    if (json_object_set_new(top, "error", inner) < 0) {
        json_decref(top);
        return NULL;
    }
    return top;
}

void api_reply_json(api_response *res, unsigned status, json_t *body)
{
    if (!res) {
        json_decref(body);
        return;
    }
    response_clear(res);
    if (!body) {
        /* Typically a json_pack() that failed: never send a 2xx without its body. */
        api_reply_error(res, API_E_INTERNAL, "could not build the reply");
        return;
    }
    res->status = status;
    res->body = body;
}

__attribute__((format(printf, 3, 0))) static void error_reply(api_response *res, api_err code,
                                                              const char *fmt, va_list ap)
{
    response_clear(res);
    res->body = error_object(code, fmt, ap);
    res->status = api_err_status(code);
    res->content_type = NULL;
}

void api_reply_error(api_response *res, api_err code, const char *fmt, ...)
{
    va_list ap;

    if (!res)
        return;
    va_start(ap, fmt);
    error_reply(res, code, fmt, ap);
    va_end(ap);
}

const char *api_refusal_name(api_refusal why)
{
    static const char *const names[API_REFUSAL__COUNT] = {
        [API_REFUSAL_NONE] = "none",           [API_REFUSAL_MISSING] = "missing",
        [API_REFUSAL_MALFORMED] = "malformed", [API_REFUSAL_UNKNOWN] = "unknown",
        [API_REFUSAL_ROLE] = "role",           [API_REFUSAL_SUBJECT] = "subject",
    };

    return (unsigned)why < API_REFUSAL__COUNT ? names[why] : "none";
}

void api_reply_refused(api_response *res, api_refusal why, const char *fmt, ...)
{
    api_err code = why == API_REFUSAL_ROLE || why == API_REFUSAL_SUBJECT ? API_E_FORBIDDEN
                                                                         : API_E_UNAUTHORIZED;
    va_list ap;

    if (!res)
        return;
    va_start(ap, fmt);
    error_reply(res, code, fmt, ap);
    va_end(ap);
    res->refusal = (unsigned)why < API_REFUSAL__COUNT ? why : API_REFUSAL_NONE;
    /* RFC 6750 section 3: a request without credentials gets the challenge
     * alone, one with a bad token the error too. */
    if (why == API_REFUSAL_MISSING)
        api_response_add_header(res, "WWW-Authenticate", "Bearer realm=\"ergrid\"");
    else if (code == API_E_UNAUTHORIZED)
        api_response_add_header(res, "WWW-Authenticate",
                                "Bearer realm=\"ergrid\", error=\"invalid_token\"");
}

void api_reply_error_extra(api_response *res, api_err code, json_t *extra, const char *fmt, ...)
{
    json_t *top, *err;
    va_list ap;

    if (!res) {
        json_decref(extra);
        return;
    }
    response_clear(res);
    va_start(ap, fmt);
    err = error_object(code, fmt, ap);
    va_end(ap);
    res->status = api_err_status(code);
    res->content_type = NULL;
    if (!err || !json_is_object(extra)) {
        res->body = err;
        json_decref(extra);
        return;
    }
    /* "error" comes first and always from the code, whatever extra holds. */
    top = err;
    if (json_object_update_missing(top, extra) < 0) {
        json_decref(top);
        top = NULL;
    }
    json_decref(extra);
    res->body = top;
}

void api_reply_text(api_response *res, unsigned status, const char *content_type, const char *text,
                    size_t len)
{
    char *copy;

    if (!res)
        return;
    response_clear(res);
    copy = malloc(len ? len : 1);
    if (!copy) {
        api_reply_error(res, API_E_INTERNAL, "out of memory");
        return;
    }
    if (len)
        memcpy(copy, text, len);
    res->status = status;
    res->text = copy;
    res->text_len = len;
    res->content_type = content_type;
}

int api_response_add_header(api_response *res, const char *name, const char *value)
{
    size_t len;

    if (!res || !name || !value || res->nheaders >= API_REPLY_HEADERS)
        return -1;
    len = strlen(value);
    /* A CR or LF would let a value end the header block early. */
    if (len >= API_REPLY_HEADER_MAX || strpbrk(value, "\r\n"))
        return -1;
    res->headers[res->nheaders].name = name;
    memcpy(res->headers[res->nheaders].value, value, len + 1);
    res->nheaders++;
    return 0;
}

const char *api_response_header(const api_response *res, const char *name)
{
    if (!res || !name)
        return NULL;
    for (size_t i = 0; i < res->nheaders && i < API_REPLY_HEADERS; i++)
        if (strcasecmp(res->headers[i].name, name) == 0)
            return res->headers[i].value;
    return NULL;
}

void api_response_release(api_response *res)
{
    if (!res)
        return;
    response_clear(res);
    memset(res, 0, sizeof(*res));
}
