/* Shared by the fuzz targets and the replay driver. Each target defines
 * LLVMFuzzerTestOneInput; built with -fsanitize=fuzzer, libFuzzer supplies
 * main(), otherwise replay.c does and feeds it the seed corpus, so the
 * targets run as ordinary meson tests on every CI build (systemd's fuzz
 * targets link the same core libraries as the services). */
#ifndef ERGRID_FUZZ_H
#define ERGRID_FUZZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_MAX_HEADERS 16

typedef struct fuzz_header {
    const char *name;
    const char *value;
} fuzz_header;

/* Optional, defined by a target that can take a request in the
 * tests/bad_input format (`METHOD PATH`, headers, blank line, body) and
 * give it to the handler the real route table would pick. Returns 0 when it
 * ran the request, 1 when it does not apply (the HTTP dispatcher would have
 * answered before any handler, or no route of this target matches). Weak:
 * replay.c checks whether a target has it. */
int fuzz_replay_request(const char *method, const char *path, const uint8_t *body, size_t len)
    __attribute__((weak));

/* Optional: the `target` (tests/bad_input, e.g. "coordinator") of the
 * cases this target also takes; cases with another target, or any target
 * when this is absent, are skipped. Weak, like the hooks. */
extern const char *const fuzz_replay_service __attribute__((weak));

/* Optional, preferred over fuzz_replay_request: the whole request as the
 * integration test sends it (see fuzz_http_parse), target with its query
 * and headers included, for a target that gives it to api_dispatch.
 * body is NULL when the case has none. Returns 0 when it ran the request,
 * 1 when it does not apply. */
int fuzz_replay_http(const char *method, const char *target, const fuzz_header *headers,
                     size_t nheaders, const uint8_t *body, size_t len) __attribute__((weak));

/* One request in the tests/bad_input text format, read the way
 * tests/integration/test_bad_input.py reads it: the head ends at the first
 * blank line ("\n\n"), the body is everything after it (none without
 * one); line 1 is METHOD, a space, the target; then "Name: value" lines
 * (both trimmed of spaces, tabs and CRs). As that driver sends it, a POST, PUT
 * or PATCH with a body and no Content-Type line gets Content-Type:
 * application/json, and a header with an empty value is left out. Past
 * FUZZ_MAX_HEADERS header lines the rest are ignored. */
typedef struct fuzz_http {
    char *head; /* NUL-terminated copy of the head, cut into the strings below */
    const char *method, *target;
    fuzz_header headers[FUZZ_MAX_HEADERS];
    size_t nheaders;
    bool content_type_line; /* a Content-Type line was given, even empty */
    const uint8_t *body;    /* into the parsed input; NULL: no body */
    size_t body_len;
} fuzz_http;

static inline char *fuzz_trim(char *s)
{
    char *e;

    while (*s == ' ' || *s == '\t' || *s == '\r')
        s++;
    e = s + strlen(s);
    while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
        *--e = '\0';
    return s;
}

/* Parses data into h (release it with fuzz_http_release). -1 when out of
 * memory. Any bytes parse: a NUL in the head ends the string it falls in. */
static inline int fuzz_http_parse(fuzz_http *h, const uint8_t *data, size_t len)
{
    size_t head_len = len;
    char *line, *next, *sp;

    memset(h, 0, sizeof(*h));
    for (size_t i = 0; i + 1 < len; i++) {
        if (data[i] == '\n' && data[i + 1] == '\n') {
            head_len = i;
            h->body = data + i + 2;
            h->body_len = len - i - 2;
            break;
        }
    }
    h->head = malloc(head_len + 1);
    if (!h->head)
        return -1;
    if (head_len)
        memcpy(h->head, data, head_len);
    h->head[head_len] = '\0';

    line = h->head;
    next = strchr(line, '\n');
    if (next)
        *next++ = '\0';
    sp = strchr(line, ' ');
    if (sp)
        *sp = '\0';
    h->method = line;
    h->target = sp ? sp + 1 : "";
    for (line = next; line; line = next) {
        char *colon, *name, *value;
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        colon = strchr(line, ':');
        if (colon)
            *colon = '\0';
        name = fuzz_trim(line);
        value = colon ? fuzz_trim(colon + 1) : (char *)"";
        if (!*name && !colon)
            continue; /* a blank line */
        if (strcasecmp(name, "Content-Type") == 0)
            h->content_type_line = true;
        if (*value && h->nheaders < FUZZ_MAX_HEADERS)
            h->headers[h->nheaders++] = (fuzz_header){name, value};
    }
    if (!h->content_type_line && h->body && h->nheaders < FUZZ_MAX_HEADERS &&
        (strcmp(h->method, "POST") == 0 || strcmp(h->method, "PUT") == 0 ||
         strcmp(h->method, "PATCH") == 0))
        h->headers[h->nheaders++] = (fuzz_header){"Content-Type", "application/json"};
    return 0;
}

static inline void fuzz_http_release(fuzz_http *h)
{
    free(h->head);
    h->head = NULL;
}

/* Abort with a message: the way a target reports a broken invariant, so
 * libFuzzer and the replay test both see a crash with its reason. */
#define FUZZ_CHECK(cond, ...)                                                                      \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: invariant failed: %s: ", __FILE__, __LINE__, #cond);           \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#endif
