/* Which declaration of the city's emergency level a broker holds, pure
 * (docs/PROTOCOL.md, "Emergency level"). The coordinator declares levels
 * one at a time and stamps each with its wall clock; a broker keeps the
 * stamp of the declaration it holds and shows it in its metadata pages, so
 * a peer the push missed can learn the level from a pull. The coordinator's
 * word is authoritative; a peer's relay is believed only where it cannot
 * pin the level: a stamp far in the future would beat every later
 * declaration for ever. */
#ifndef COORD_LEVEL_H
#define COORD_LEVEL_H

#include <stdbool.h>
#include <stdint.h>

/* How far the coordinator's clock, as relayed stamps show it, may run ahead
 * of a broker's (and how long a push may take to overtake a reply). */
#define LEVEL_MAX_SKEW_MS 5000

typedef enum level_source {
    LEVEL_PUSH,  /* the coordinator's push: the newest declaration there is */
    LEVEL_REPLY, /* its registration reply: its current one, perhaps built before a push */
    LEVEL_RELAY, /* a peer's page: the declaration that peer holds */
} level_source;

typedef struct level_view {
    uint64_t held_ms;  /* stamp of the declaration held (0: none) */
    uint64_t heard_ms; /* receiver's wall clock when the coordinator last spoke (0: never) */
    uint64_t now_ms;   /* receiver's wall clock */
} level_view;

/* True when a declaration stamped set_ms from src replaces the one held:
 * - a push always does (declarations are pushed one at a time, each
 *   before the next is made); an unstamped one (0) is made now;
 * - a reply does unless it is older than what is held and what is held is
 *   recent enough (within the skew of now) to be a push the reply predates;
 *   otherwise the coordinator, answering now, does not know what is held,
 *   and its word wins;
 * - a relay does only when newer than what is held, no more than the skew
 *   ahead of now, and not older than the last word from the coordinator
 *   minus the skew (the coordinator would have told of it then).
 * An unstamped reply or relay never does. */
bool level_adopt(level_source src, uint64_t set_ms, const level_view *v);

#endif
