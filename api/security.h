/* A service's security settings, shared by every binary: the flags
 * (--tokens, --token-file, --insecure-no-auth, --tls-cert, --tls-key,
 * --ca-file, --cors-origin), the loopback rule, loading them at start (the token table,
 * the outgoing credential, the CA bundle, the certificate and key), the
 * SIGHUP reload and what the HTTP server needs of them. */
#ifndef API_SECURITY_H
#define API_SECURITY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auth.h"
#include "cors.h"
#include "http_server.h"

/* For each service's usage text. */
#define API_SECURITY_USAGE                                                                         \
    "[--tokens FILE] [--token-file FILE] [--insecure-no-auth]\n"                                   \
    "       [--tls-cert FILE --tls-key FILE] [--ca-file FILE]\n"                                   \
    "       [--cors-origin ORIGIN ...]\n"

typedef struct api_security {
    /* The flags: paths from argv (not owned; argv outlives the process). */
    const char *tokens;     /* the credentials checked */
    const char *token_file; /* the process's own outgoing token */
    const char *tls_cert, *tls_key;
    const char *ca_file;
    bool insecure_no_auth;
    /* --cors-origin, repeatable: the values as given (the ones past
     * API_CORS_MAX only counted, refused by api_security_load). */
    const char *cors_origin[API_CORS_MAX];
    size_t ncors_origin;
    /* Filled by api_security_load. */
    api_cors cors; /* the origins, checked; empty without --cors-origin */
    api_auth *auth; /* NULL without --tokens */
    char *cert_pem, *key_pem;
} api_security;

/* --insecure-no-auth, the one flag without a value: true when arg is it
 * (then recorded). */
bool api_security_switch(api_security *s, const char *arg);
/* One of the valued flags: true when flag is one (val recorded;
 * --cors-origin may be given again, the others' last value wins). */
bool api_security_flag(api_security *s, const char *flag, const char *val);
/* True when flag is one of the valued flags. */
bool api_security_knows(const char *flag);

/* 127.0.0.0/8, "localhost" or "" (which the server binds as 127.0.0.1). */
bool api_host_is_loopback(const char *host);

/* Applies the settings for a service about to listen on host:port: refuses a
 * non-loopback host without --tokens or --insecure-no-auth (before
 * anything binds), reads the tokens file, the outgoing token (handed to
 * http_client), the CA bundle and the certificate and key; registers the
 * SIGHUP reload and, with --insecure-no-auth, the recurring warning.
 * Checks each --cors-origin ('*' only with --tokens: without credentials
 * any page a browser on this machine opens could drive the service).
 * -1 with the message in err (the caller exits 2). Call once, from main. */
int api_security_load(api_security *s, const char *host, uint16_t port, char *err, size_t errlen);
/* Gives the server config the credentials to check, the TLS
 * certificate and the CORS origins (none: no CORS); self is the subject of API_SUBJECT_SELF routes (may be
 * NULL). s must outlive the server. */
void api_security_apply(const api_security *s, api_server_config *sc, const char *self);
/* "https" when the server speaks TLS, else "http". */
const char *api_security_scheme(const api_security *s);
void api_security_release(api_security *s);

#endif
