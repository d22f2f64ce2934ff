/* The security settings every service shares (security.h): parsing the
 * flags, the loopback rule, loading files at start and the SIGHUP reload.
 * The outgoing token passes through here once, into http_client, and is
 * wiped from our buffer; nothing here logs a token. */
#include "security.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "http_client.h"
#include "service.h"

#define PEM_MAX ((size_t)1 << 20) /* a certificate chain or key file */

bool api_security_switch(api_security *s, const char *arg)
{
    if (strcmp(arg, "--insecure-no-auth") != 0)
        return false;
    s->insecure_no_auth = true;
    return true;
}

/* The valued flags and the member each sets. */
static const struct {
    const char *name;
    size_t off;
} valued[] = {
    {"--tokens", offsetof(api_security, tokens)},
    {"--token-file", offsetof(api_security, token_file)},
    {"--tls-cert", offsetof(api_security, tls_cert)},
    {"--tls-key", offsetof(api_security, tls_key)},
    {"--ca-file", offsetof(api_security, ca_file)},
};

static int valued_index(const char *flag)
{
    for (size_t i = 0; i < sizeof(valued) / sizeof(valued[0]); i++)
        if (strcmp(flag, valued[i].name) == 0)
            return (int)i;
    return -1;
}

/* The one valued flag that may repeat. */
static const char cors_flag[] = "--cors-origin";

bool api_security_knows(const char *flag)
{
    return valued_index(flag) >= 0 || strcmp(flag, cors_flag) == 0;
}

bool api_security_flag(api_security *s, const char *flag, const char *val)
{
    int i = valued_index(flag);

    if (strcmp(flag, cors_flag) == 0) {
        if (s->ncors_origin < API_CORS_MAX)
            s->cors_origin[s->ncors_origin] = val;
        s->ncors_origin++;
        return true;
    }
    if (i < 0)
        return false;
    memcpy((char *)s + valued[i].off, &val, sizeof(val));
    return true;
}

bool api_host_is_loopback(const char *host)
{
    struct in_addr a;

    if (!host || !*host || strcmp(host, "localhost") == 0)
        return true;
    if (inet_pton(AF_INET, host, &a) != 1)
        return false;
    return (ntohl(a.s_addr) >> 24) == 127;
}

/* A PEM file, whole and NUL-terminated. */
static char *read_pem(const char *path, const char *flag, char *err, size_t errlen)
{
    char why[512];
    size_t len;
    char *pem = api_read_file(path, PEM_MAX, &len, why, sizeof(why));

    if (!pem)
        snprintf(err, errlen, "%s: %s", flag, why);
    return pem;
}

static void reload(void *arg)
{
    api_security *s = arg;
    char err[512];

    if (api_auth_reload(s->auth, err, sizeof(err)) < 0)
        service_log("error", "SIGHUP: kept the previous credentials: %s", err);
    else
        service_log("info", "SIGHUP: %zu credentials loaded from %s",
                    api_auth_count(s->auth, API_ROLE_NONE), api_auth_path(s->auth));
}

int api_security_load(api_security *s, const char *host, uint16_t port, char *err, size_t errlen)
{
    char tok[API_TOKEN_MAX + 1];

    if (!s->tokens && !s->insecure_no_auth && !api_host_is_loopback(host)) {
        snprintf(err, errlen,
                 "refusing to listen on %s:%u without --tokens (use --insecure-no-auth to "
                 "serve anyone)",
                 host, (unsigned)port);
        return -1;
    }
    if (!s->tls_cert != !s->tls_key) {
        snprintf(err, errlen, "--tls-cert and --tls-key go together");
        return -1;
    }
    memset(&s->cors, 0, sizeof(s->cors));
    if (s->ncors_origin > API_CORS_MAX) {
        snprintf(err, errlen, "%s: at most %d origins", cors_flag, API_CORS_MAX);
        return -1;
    }
    for (size_t i = 0; i < s->ncors_origin; i++)
        if (api_cors_add(&s->cors, s->cors_origin[i], err, errlen) < 0)
            return -1;
    if (s->cors.any && !s->tokens) {
        snprintf(err, errlen,
                 "%s '*' needs --tokens: without credentials any web page opened on a machine "
                 "that reaches %s:%u could call it (name the origins instead)",
                 cors_flag, host && *host ? host : "127.0.0.1", (unsigned)port);
        return -1;
    }
    if (s->tokens && !(s->auth = api_auth_new(s->tokens, err, errlen)))
        return -1;
    if (s->token_file) {
        int rc = api_token_file_read(s->token_file, tok, err, errlen);
        if (rc == 0 && http_client_set_token(tok) < 0) {
            snprintf(err, errlen, "--token-file: the token is too long");
            rc = -1;
        }
        explicit_bzero(tok, sizeof(tok));
        if (rc < 0)
            goto fail;
    }
    if (s->ca_file) {
        if (access(s->ca_file, R_OK) != 0) {
            snprintf(err, errlen, "--ca-file: cannot read %s: %s", s->ca_file, strerror(errno));
            goto fail;
        }
        if (http_client_set_ca_file(s->ca_file) < 0) {
            snprintf(err, errlen, "--ca-file: path too long");
            goto fail;
        }
    }
    if (s->tls_cert) {
        if (!(s->cert_pem = read_pem(s->tls_cert, "--tls-cert", err, errlen)) ||
            !(s->key_pem = read_pem(s->tls_key, "--tls-key", err, errlen)))
            goto fail;
    }
    if (s->auth) {
        service_on_sighup(reload, s);
        service_log("info", "checking credentials: %zu from %s",
                    api_auth_count(s->auth, API_ROLE_NONE), api_auth_path(s->auth));
    } else if (s->insecure_no_auth) {
        char msg[256];
        snprintf(msg, sizeof(msg),
                 "--insecure-no-auth: serving anyone who can reach %s:%u, without credentials",
                 host && *host ? host : "127.0.0.1", (unsigned)port);
        service_nag(msg);
    }
    return 0;
fail:
    api_security_release(s);
    return -1;
}

void api_security_apply(const api_security *s, api_server_config *sc, const char *self)
{
    sc->auth = s->auth;
    sc->auth_self = self;
    sc->tls_cert_pem = s->cert_pem;
    sc->tls_key_pem = s->key_pem;
    sc->cors = s->cors.n || s->cors.any ? &s->cors : NULL;
}

const char *api_security_scheme(const api_security *s)
{
    return s && s->cert_pem ? "https" : "http";
}

void api_security_release(api_security *s)
{
    if (!s)
        return;
    service_on_sighup(NULL, NULL);
    api_auth_free(s->auth);
    s->auth = NULL;
    if (s->key_pem)
        explicit_bzero(s->key_pem, strlen(s->key_pem));
    free(s->key_pem);
    free(s->cert_pem);
    s->key_pem = s->cert_pem = NULL;
}
