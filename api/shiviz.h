/* ShiViz (the distributed-systems log visualiser) export. */
#ifndef API_SHIVIZ_H
#define API_SHIVIZ_H

#include <jansson.h>
#include <stddef.h>

/* For each event of the array (objects with "node", "vclock", "time",
 * "type", optional "job_id", "unit_id", "attempt", "detail") two lines: a
 * description, then "<node> <clock as JSON>", matching ShiViz's default
 * regex (?<event>.*)\n(?<host>\S*) (?<clock>{.*}). Clocks are renumbered so
 * each host counts its exported events 1, 2, 3... and hosts absent from the
 * log are dropped, which keeps happened-before among the exported events
 * exactly. Returns malloc'd text (length in *len), NULL on failure. */
char *shiviz_format(const json_t *events, size_t *len);

#endif
