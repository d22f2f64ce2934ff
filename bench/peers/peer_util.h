/* The peers benchmark's script helpers (peer_util.c). */
#ifndef ERGRID_BENCH_PEER_UTIL_H
#define ERGRID_BENCH_PEER_UTIL_H

#include <stddef.h>

/* Runs argv (argv[0] a path; NULL-terminated) with stdout captured into out
 * (at most cap - 1 bytes, NUL-terminated) and stderr passed through. Returns
 * the exit status, -1 when it could not run. */
int peer_script(const char *const *argv, char *out, size_t cap);
/* The value of a KEY=VALUE line of a script's output, or NULL. */
const char *peer_value(const char *out, const char *key, char *val, size_t cap);
/* <source root>/rel: where the scripts live. */
const char *peer_source_path(const char *rel);

/* Standard base64 of n bytes into out (cap >= 4 * ceil(n / 3) + 1); -1 when
 * it does not fit. */
int peer_b64(const void *in, size_t n, char *out, size_t cap);

#endif
