/* Shared by the fuzz targets and the replay driver. Each target defines
 * LLVMFuzzerTestOneInput; built with -fsanitize=fuzzer, libFuzzer supplies
 * main(), otherwise replay.c does and feeds it the seed corpus, so the
 * targets run as ordinary meson tests on every CI build (systemd's fuzz
 * targets link the same core libraries as the services). */
#ifndef ERGRID_FUZZ_H
#define ERGRID_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Optional, defined by a target that can take a request in the
 * tests/bad_input format (`METHOD PATH`, headers, blank line, body) and
 * give it to the handler the real route table would pick. Returns 0 when it
 * ran the request, 1 when it does not apply (the HTTP dispatcher would have
 * answered before any handler, or no route of this target matches). Weak:
 * replay.c checks whether a target has it. */
int fuzz_replay_request(const char *method, const char *path, const uint8_t *body, size_t len)
    __attribute__((weak));

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
