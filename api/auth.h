/* Credentials: the token table of --tokens FILE (SHA-256 digests with a
 * role and a subject; never the tokens), its parser, the lookup of a
 * presented bearer token (its digest, a hash-table lookup by digest, a
 * constant-time compare of the 32 bytes), the service's own outgoing
 * token read from --token-file, and the caller identity a request carries.
 * A token is never stored, logged, copied into an error or counted: only
 * its digest is compared, and only role and subject leave this module. */
#ifndef API_AUTH_H
#define API_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"
#include "router.h"

#define API_DIGEST_LEN      32 /* SHA-256 */
#define API_TOKEN_MIN       16 /* bytes of a token, printable ASCII, no space */
#define API_TOKEN_MAX       256
#define API_TOKENS_LINE_MAX 1024               /* bytes of one line of a tokens file */
#define API_TOKENS_MAX      65536              /* credentials in one tokens file */
#define API_TOKENS_FILE_MAX ((size_t)16 << 20) /* bytes of a tokens file */

/* Who is calling, as a handler sees it (api_caller in request.h). */
typedef struct api_identity {
    api_role_id role;               /* API_ROLE_NONE: the service checks no credentials */
    char subject[COORD_ID_MAX + 1]; /* the unit or district of a bound role, else a label or "" */
} api_identity;

/* "viewer", "dispatcher", "unit", "peer", "operator"; "none" for
 * API_ROLE_NONE and anything out of range. */
const char *api_role_name(api_role_id r);
/* The role named s; -1 for anything else (names are lowercase). */
int api_role_parse(const char *s, api_role_id *out);
/* unit and peer: a credential of these roles names its unit or district. */
bool api_role_bound(api_role_id r);

/* SHA-256 (GnuTLS). -1 when the library refuses (then nothing matches). */
int api_sha256(const void *data, size_t len, uint8_t out[API_DIGEST_LEN]);
/* True when a and b hold the same n bytes; the time taken depends on n
 * only, never on where they differ. */
bool api_ct_equal(const void *a, const void *b, size_t n);
/* The 64 lowercase hex digits of a digest, NUL-terminated. */
void api_digest_hex(const uint8_t d[API_DIGEST_LEN], char out[2 * API_DIGEST_LEN + 1]);

/* A token: API_TOKEN_MIN..API_TOKEN_MAX bytes of printable ASCII without
 * spaces. */
bool api_token_valid(const char *tok, size_t len);

typedef enum api_bearer {
    API_BEARER_OK = 0,
    API_BEARER_MISSING,   /* no Authorization header */
    API_BEARER_MALFORMED, /* not "Bearer <token>", or not a valid token */
} api_bearer;
/* Splits an Authorization header value (NULL: none) into its token
 * (pointing into header). The scheme compares case-insensitively; spaces
 * after it and at the end are skipped. */
api_bearer api_bearer_token(const char *header, const char **tok, size_t *len);

/* One parsed tokens file; immutable once parsed. */
typedef struct api_tokens api_tokens;

/* Parses a tokens file's text: one credential per line,
 * "<64 lowercase hex digits: SHA-256 of the token> <role> [<subject>]",
 * fields separated by spaces or tabs, '#' to the end of the line a
 * comment, blank lines ignored, a CR before the newline allowed. unit and
 * peer need their subject; the subject of every role is an id. A line
 * longer than API_TOKENS_LINE_MAX, a NUL byte, a bad digest, an unknown
 * role, a missing or extra field, a subject that is not an id, a digest
 * given twice, or more than API_TOKENS_MAX credentials: NULL with
 * "<name>:<line>: <what is wrong>" in err (never the field that should
 * have been a digest: it may be a token pasted by mistake). */
api_tokens *api_tokens_parse(const char *text, size_t len, const char *name, char *err,
                             size_t errlen);
void api_tokens_free(api_tokens *t);
/* Credentials of role r (API_ROLE_NONE: all of them). */
size_t api_tokens_count(const api_tokens *t, api_role_id r);
/* The credential of digest d: true with *who filled. */
bool api_tokens_find(const api_tokens *t, const uint8_t d[API_DIGEST_LEN], api_identity *who);

/* The live table of a service: a tokens file, re-read on demand (SIGHUP).
 * Lookups and reloads may run on any threads at once. */
typedef struct api_auth api_auth;

/* Reads path (a regular file of at most API_TOKENS_FILE_MAX bytes) and
 * parses it. NULL with the reason in err ("<path>:<line>: ..." for a bad
 * line, "<path>: ..." for a file that cannot be read). */
api_auth *api_auth_new(const char *path, char *err, size_t errlen);
void api_auth_free(api_auth *a);
/* Reads the file again. On success the new table replaces the old at
 * once (a line removed revokes its token); on failure the old one stays
 * and err says why. 0 or -1. */
int api_auth_reload(api_auth *a, char *err, size_t errlen);
/* The file the table comes from. */
const char *api_auth_path(const api_auth *a);
/* Credentials of role r in the current table (API_ROLE_NONE: all). */
size_t api_auth_count(api_auth *a, api_role_id r);
/* Looks the presented token up: true with *who filled when its digest is
 * in the table. An invalid token (api_token_valid) is never found. */
bool api_auth_lookup(api_auth *a, const char *tok, size_t len, api_identity *who);

/* The whole of path, a regular file of at most max bytes, NUL-terminated
 * (malloc'd; *len its length), or NULL with "<path>: why" in err. */
char *api_read_file(const char *path, size_t max, size_t *len, char *err, size_t errlen);

/* Reads a service's own token: the first line of path, trailing
 * whitespace stripped, which must be a valid token. 0, or -1 with the
 * reason in err (which never quotes the file). out holds API_TOKEN_MAX + 1
 * bytes. */
int api_token_file_read(const char *path, char *out, char *err, size_t errlen);

#endif
