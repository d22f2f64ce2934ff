/* Listen addresses: the HOST:PORT of a service's --listen option. */
#ifndef API_LISTEN_H
#define API_LISTEN_H

#include <stddef.h>
#include <stdint.h>

/* Parses "HOST:PORT" (host an IPv4 literal or "localhost"). 0 or -1. */
int api_parse_listen(const char *s, char *host, size_t hostlen, uint16_t *port);

#endif
