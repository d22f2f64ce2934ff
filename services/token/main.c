/* ergrid-token ROLE [SUBJECT]: makes a new credential. Prints the token
 * (32 random bytes as 64 hex digits) and then the line of the --tokens
 * file that admits it (its SHA-256, the role, the subject). The token
 * exists only on this stdout: the services keep its digest. */
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <stdio.h>
#include <string.h>

#include "auth.h"
#include "util.h"

static const char usage[] = "usage: ergrid-token ROLE [SUBJECT]\n"
                            "  ROLE: viewer, dispatcher, operator (SUBJECT optional: a label),\n"
                            "        unit (SUBJECT: the unit id), peer (SUBJECT: the district id)\n"
                            "Prints the new token, then its line for the --tokens file.\n";

static int bad(const char *why)
{
    fprintf(stderr, "ergrid-token: %s\n%s", why, usage);
    return 2;
}

int main(int argc, char **argv)
{
    uint8_t raw[32], digest[API_DIGEST_LEN];
    char token[2 * sizeof(raw) + 1], hex[2 * API_DIGEST_LEN + 1];
    api_role_id role;

    if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        fputs(usage, stdout);
        return 0;
    }
    if (argc < 2 || argc > 3)
        return bad("expected ROLE [SUBJECT]");
    if (api_role_parse(argv[1], &role) < 0)
        return bad("unknown role");
    if (api_role_bound(role) && argc != 3)
        return bad(role == API_ROLE_UNIT ? "role unit needs the unit id"
                                         : "role peer needs the district id");
    if (argc == 3 && !coord_id_valid(argv[2]))
        return bad("the subject must be an id ([A-Za-z0-9._-]{1,64})");
    /* GNUTLS_RND_KEY: the level meant for long-term secrets. */
    if (gnutls_rnd(GNUTLS_RND_KEY, raw, sizeof(raw)) != 0) {
        fprintf(stderr, "ergrid-token: no random bytes\n");
        return 1;
    }
    /* The same hex encoding as a digest: a token is 32 bytes too. */
    api_digest_hex(raw, token);
    if (api_sha256(token, strlen(token), digest) < 0) {
        fprintf(stderr, "ergrid-token: SHA-256 failed\n");
        return 1;
    }
    api_digest_hex(digest, hex);
    printf("%s\n%s %s%s%s\n", token, hex, api_role_name(role), argc == 3 ? " " : "",
           argc == 3 ? argv[2] : "");
    explicit_bzero(raw, sizeof(raw));
    explicit_bzero(token, sizeof(token));
    return fflush(stdout) == 0 ? 0 : 1;
}
