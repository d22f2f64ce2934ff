/* Parsing of listen addresses. IPv4 only, like the server: "localhost"
 * becomes 127.0.0.1 so a service always prints the address it bound. */
#include "listen.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

int api_parse_listen(const char *s, char *host, size_t hostlen, uint16_t *port)
{
    const char *colon, *p;
    char h[INET_ADDRSTRLEN + 16];
    struct in_addr addr;
    unsigned long v = 0;
    size_t hl;

    if (!s || !host || !port)
        return -1;
    colon = strrchr(s, ':');
    if (!colon)
        return -1;
    hl = (size_t)(colon - s);
    if (hl == 0 || hl >= sizeof(h))
        return -1;
    memcpy(h, s, hl);
    h[hl] = '\0';
    if (strcmp(h, "localhost") == 0)
        snprintf(h, sizeof(h), "127.0.0.1");
    else if (inet_pton(AF_INET, h, &addr) != 1)
        return -1;
    p = colon + 1;
    if (!*p || strlen(p) > 5)
        return -1;
    for (; *p; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        v = v * 10 + (unsigned long)(*p - '0');
    }
    if (v > 65535)
        return -1;
    if (strlen(h) + 1 > hostlen)
        return -1;
    memcpy(host, h, strlen(h) + 1);
    *port = (uint16_t)v;
    return 0;
}
