/* main() for a fuzz target built without libFuzzer: runs every input given
 * on the command line once, so a seed corpus becomes a meson test.
 *
 *   replay [--requests DIR] FILE_OR_DIR...
 *
 * A directory is walked recursively in name order. --requests DIR takes the
 * tests/bad_input layout (DIR/<case>/request, see its README) and hands each
 * request to the target's fuzz_replay_http, or else its fuzz_replay_request;
 * cases meant for another service (a `target` file other than the
 * target's fuzz_replay_service) or generated at run time (a `generate`
 * file) are skipped. Each input is copied to a buffer of exactly its size, as
 * libFuzzer does, so a sanitizer sees any read past its end. */
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "fuzz.h"

static size_t ninputs, nrequests, nskipped;

static int read_file(const char *path, uint8_t **data, size_t *len)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf = NULL;
    size_t n = 0, cap = 0;

    if (!f) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        return -1;
    }
    for (;;) {
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 4096;
            uint8_t *nb = realloc(buf, ncap);
            if (!nb) {
                free(buf);
                fclose(f);
                return -1;
            }
            buf = nb;
            cap = ncap;
        }
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (r == 0)
            break;
    }
    fclose(f);
    /* Exactly n bytes (at least one allocated byte for an empty file). */
    uint8_t *exact = malloc(n ? n : 1);
    if (!exact) {
        free(buf);
        return -1;
    }
    if (n)
        memcpy(exact, buf, n);
    free(buf);
    *data = exact;
    *len = n;
    return 0;
}

/* dst = a/b; -1 when it does not fit. */
static int join(char *dst, size_t n, const char *a, const char *b)
{
    int w = snprintf(dst, n, "%s/%s", a, b);
    if (w < 0 || (size_t)w >= n) {
        fprintf(stderr, "replay: path too long: %s/%s\n", a, b);
        return -1;
    }
    return 0;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted entry names of dir (without . and ..); NULL on error. */
static char **list_dir(const char *dir, size_t *n)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char **names = NULL;
    size_t cnt = 0, cap = 0;

    if (!d) {
        fprintf(stderr, "replay: %s: %s\n", dir, strerror(errno));
        return NULL;
    }
    while ((e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        if (cnt == cap) {
            size_t ncap = cap ? cap * 2 : 64;
            char **nn = realloc(names, ncap * sizeof(*nn));
            if (!nn)
                break;
            names = nn;
            cap = ncap;
        }
        names[cnt] = strdup(e->d_name);
        if (names[cnt])
            cnt++;
    }
    closedir(d);
    if (cnt)
        qsort(names, cnt, sizeof(*names), cmp_names);
    *n = cnt;
    return names ? names : calloc(1, sizeof(char *));
}

static void free_names(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

static int run_path(const char *path)
{
    struct stat st;

    if (stat(path, &st) < 0) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        return -1;
    }
    if (S_ISDIR(st.st_mode)) {
        size_t n = 0;
        char **names = list_dir(path, &n);
        int rc = 0;
        if (!names)
            return -1;
        for (size_t i = 0; i < n && rc == 0; i++) {
            char sub[4096];
            rc = join(sub, sizeof(sub), path, names[i]);
            if (rc == 0)
                rc = run_path(sub);
        }
        free_names(names, n);
        return rc;
    }
    uint8_t *data;
    size_t len;
    if (read_file(path, &data, &len) < 0)
        return -1;
    printf("input %s (%zu bytes)\n", path, len);
    fflush(stdout);
    LLVMFuzzerTestOneInput(data, len);
    free(data);
    ninputs++;
    return 0;
}

static bool file_exists(const char *dir, const char *name)
{
    char p[4096];
    struct stat st;
    return join(p, sizeof(p), dir, name) == 0 && stat(p, &st) == 0;
}

/* Gives one request to the target's old hook: the path without its query,
 * and not at all when the dispatcher would answer 415 before any handler. */
static int replay_path_only(fuzz_http *h, const uint8_t *body)
{
    const char *ct = NULL;
    char *q = strchr(h->target, '?');

    if (q)
        *q = '\0';
    for (size_t i = 0; i < h->nheaders; i++)
        if (strcasecmp(h->headers[i].name, "Content-Type") == 0)
            ct = h->headers[i].value;
    if (h->body_len && h->content_type_line && (!ct || strncasecmp(ct, "application/json", 16) != 0))
        return 1;
    return fuzz_replay_request(h->method, h->target, body, h->body_len);
}

/* A case's `target` file names this target's fuzz_replay_service. */
static bool for_this_target(const char *dir)
{
    char path[4096];
    uint8_t *data;
    size_t len;
    bool same;

    if (!&fuzz_replay_service || !fuzz_replay_service ||
        join(path, sizeof(path), dir, "target") < 0 || read_file(path, &data, &len) < 0)
        return false;
    while (len && (data[len - 1] == '\n' || data[len - 1] == ' '))
        len--;
    same = len == strlen(fuzz_replay_service) && memcmp(data, fuzz_replay_service, len) == 0;
    free(data);
    return same;
}

/* One tests/bad_input case (format: fuzz_http_parse). */
static int run_request(const char *dir)
{
    char path[4096];
    uint8_t *data, *body = NULL;
    size_t len;
    fuzz_http h;
    int rc = 0, ran;

    if ((file_exists(dir, "target") && !for_this_target(dir)) || file_exists(dir, "generate")) {
        nskipped++;
        return 0;
    }
    if (join(path, sizeof(path), dir, "request") < 0 || read_file(path, &data, &len) < 0)
        return -1;
    if (fuzz_http_parse(&h, data, len) < 0) {
        free(data);
        return -1;
    }
    if (!h.target[0]) {
        fprintf(stderr, "replay: %s: no 'METHOD PATH' line\n", path);
        rc = -1;
        goto out;
    }
    /* The body on its own exact-size heap buffer, like any input. */
    if (h.body) {
        body = malloc(h.body_len ? h.body_len : 1);
        if (!body) {
            rc = -1;
            goto out;
        }
        if (h.body_len)
            memcpy(body, h.body, h.body_len);
    }
    printf("request %s: %s %s (%zu body bytes)\n", path, h.method, h.target, h.body_len);
    fflush(stdout);
    if (fuzz_replay_http)
        ran = fuzz_replay_http(h.method, h.target, h.headers, h.nheaders, body, h.body_len);
    else
        ran = replay_path_only(&h, body);
    if (ran == 0)
        nrequests++;
    else
        nskipped++;
out:
    free(body);
    fuzz_http_release(&h);
    free(data);
    return rc;
}

static int run_requests(const char *dir)
{
    size_t n = 0;
    char **names;
    int rc = 0;

    if (!fuzz_replay_request && !fuzz_replay_http) {
        fprintf(stderr, "replay: this target takes no --requests\n");
        return -1;
    }
    names = list_dir(dir, &n);
    if (!names)
        return -1;
    for (size_t i = 0; i < n && rc == 0; i++) {
        char sub[4096];
        struct stat st;
        if (join(sub, sizeof(sub), dir, names[i]) < 0) {
            rc = -1;
            break;
        }
        if (stat(sub, &st) == 0 && S_ISDIR(st.st_mode) && file_exists(sub, "request"))
            rc = run_request(sub);
    }
    free_names(names, n);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s [--requests DIR] FILE_OR_DIR...\n", argv[0]);
        return 2;
    }
    for (int i = 1; i < argc; i++) {
        int rc;
        if (strcmp(argv[i], "--requests") == 0 && i + 1 < argc)
            rc = run_requests(argv[++i]);
        else
            rc = run_path(argv[i]);
        if (rc < 0)
            return 1;
    }
    printf("replayed %zu inputs, %zu requests (%zu skipped)\n", ninputs, nrequests, nskipped);
    if (ninputs + nrequests == 0) {
        fprintf(stderr, "replay: nothing to replay\n");
        return 1;
    }
    return 0;
}
