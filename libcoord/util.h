/* Small pure helpers shared by every component. */
#ifndef COORD_UTIL_H
#define COORD_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define COORD_ID_MAX 64 /* ids match [A-Za-z0-9._-]{1,64}, except "." and ".." */

/* True when s is a valid id: 1..64 chars of [A-Za-z0-9._-], and neither "."
 * nor "..". NULL -> false. */
bool coord_id_valid(const char *s);

/* Parses "500ms", "3s", "1m" or "2h" into milliseconds. Returns 0, or
 * COORD_E_INVAL on garbage (a bare number too: "3" could mean 3 ms or 3 s,
 * and an operator who meant seconds would get a 3 ms failure timeout),
 * COORD_E_RANGE when the value is 0 or above 24h. *out untouched on
 * failure. */
int coord_parse_duration_ms(const char *s, uint64_t *out);

/* A duration flag's value: coord_parse_duration_ms, and on failure a
 * message naming the flag into err (one wording for every service), which
 * says so when only the unit is missing. Returns 0 or -1. */
int coord_parse_duration_flag(const char *flag, const char *s, uint64_t *out, char *err,
                              size_t errlen);

/* 64-bit FNV-1a digest of a byte string (content digest of results). */
uint64_t coord_digest(const void *data, size_t len);

/* Walks a list of fields separated by any of delims without writing into
 * it (strtok_r does, and is banned): skips delimiters, sets *tok and *len
 * to the next non-empty field and moves *cursor past it. False at the end
 * (*tok and *len untouched). */
bool coord_next_token(const char **cursor, const char *delims, const char **tok, size_t *len);

/* Monotonic and wall clocks in milliseconds (the only clock access in
 * libcoord; everything else takes time as an argument). */
uint64_t coord_now_mono_ms(void);
uint64_t coord_now_wall_ms(void);

#endif
