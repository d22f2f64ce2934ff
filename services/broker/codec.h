/* The text forms of the broker's stored fields, both ways: a vector clock
 * as {"node":counter,...} with sorted keys (exactly what
 * json_canonical(vclock_to_json(vc)) gives, written without building JSON:
 * it is done for every event and every stored attempt), and a capability
 * list as "a,b,c" (capabilities are ids, which never hold a comma). The
 * event log and the log lines carry the same clock text. */
#ifndef BROKER_CODEC_H
#define BROKER_CODEC_H

#include <stddef.h>

#include "bounds.h"
#include "coord.h"
#include "state.h"

/* Room for the largest clock: 64 entries of a 64-character id and a
 * 16-digit counter with quotes, colon and comma. */
#define CLOCKTEXT_MAX (2 + VCLOCK_MAX_ENTRIES * (COORD_ID_MAX + 21))
/* Room for the longest capability list. */
#define CAPSTEXT_MAX (BROKER_MAX_CAPS * (COORD_ID_MAX + 1) + 1)

/* Writes the text into buf (room for CLOCKTEXT_MAX) and returns buf. */
char *clocktext(const vclock *vc, char *buf);
char *clocktext_compact(const cclock *c, char *buf);
/* The clock a text stands for, interned in t. 0, or -1 when it is not a
 * valid clock (out untouched). */
int clocktext_parse(const char *text, strtab *t, cclock *out);

/* Writes "a,b,c" into buf (room for CAPSTEXT_MAX). */
void capstext(const capset *caps, char *buf);
/* The set a text stands for, interned in t; -1 when an element is not an
 * id or there are more than BROKER_MAX_CAPS (out untouched). */
int capstext_parse(const char *text, strtab *t, capset *out);

/* A multi-unit incident's lines as "a,b*3;c*1" (capabilities, count),
 * and which line each attempt fills as "2:1,5:1" (attempt:line, only the
 * attempts not on line 0). Both malloc'd; NULL when out of memory. */
char *linestext(const job *j);
char *attlinestext(const job *j);
/* Give j the lines a text stands for (it has none yet), interned in t;
 * -1 when the text is not one linestext writes within the bounds.h limits
 * (j then has no lines). */
int linestext_parse(const char *text, strtab *t, job *j);
/* Sets the line of j's attempts; -1 when the text names a line j does not
 * have or is not one attlinestext writes. */
int attlinestext_parse(const char *text, job *j);

#endif
