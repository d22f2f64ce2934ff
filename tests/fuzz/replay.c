/* main() for a fuzz target built without libFuzzer: runs every input given
 * on the command line once, so a seed corpus becomes a meson test.
 *
 *   replay [--requests DIR] FILE_OR_DIR...
 *
 * A directory is walked recursively in name order. --requests DIR takes the
 * tests/bad_input layout (DIR/<case>/request, see its README) and hands each
 * request to the target's fuzz_replay_request; cases meant for the executor
 * (a `target` file) or generated at run time (a `generate` file) are
 * skipped. Each input is copied to a buffer of exactly its size, as
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

/* One tests/bad_input case: "METHOD PATH\n[Header: value\n]*\n[body]". */
static int run_request(const char *dir)
{
    char path[4096];
    uint8_t *data;
    size_t len;

    if (file_exists(dir, "target") || file_exists(dir, "generate")) {
        nskipped++;
        return 0;
    }
    if (join(path, sizeof(path), dir, "request") < 0 || read_file(path, &data, &len) < 0)
        return -1;

    /* NUL-terminated working copy of the head; the body stays binary. */
    char *text = malloc(len + 1);
    if (!text) {
        free(data);
        return -1;
    }
    memcpy(text, data, len);
    text[len] = '\0';

    char *line_end = memchr(text, '\n', len);
    size_t head_len = line_end ? (size_t)(line_end - text) : len;
    text[head_len] = '\0';
    char *sp = strchr(text, ' ');
    if (!sp) {
        fprintf(stderr, "replay: %s: no 'METHOD PATH' line\n", path);
        free(text);
        free(data);
        return -1;
    }
    *sp = '\0';
    const char *method = text, *target = sp + 1;
    char *q = strchr(sp + 1, '?');
    if (q)
        *q = '\0';

    /* Headers until the blank line; a body only after one. */
    const uint8_t *body = NULL;
    size_t body_len = 0;
    bool have_ct = false, json_ct = false;
    size_t pos = line_end ? head_len + 1 : len;
    while (pos < len) {
        char *nl = memchr(text + pos, '\n', len - pos);
        size_t ll = nl ? (size_t)(nl - (text + pos)) : len - pos;
        if (ll == 0) {
            body = data + pos + 1;
            body_len = len - pos - 1;
            break;
        }
        text[pos + ll] = '\0';
        if (strncasecmp(text + pos, "Content-Type:", 13) == 0) {
            const char *v = text + pos + 13;
            while (*v == ' ')
                v++;
            have_ct = true;
            json_ct = strncasecmp(v, "application/json", 16) == 0;
        }
        pos += ll + 1;
    }
    /* The dispatcher answers 415 itself when a body comes without JSON's
     * content type (an empty header value means none was sent). */
    int rc = 0;
    if (body && body_len && have_ct && !json_ct) {
        nskipped++;
    } else {
        printf("request %s: %s %s (%zu body bytes)\n", path, method, target, body_len);
        fflush(stdout);
        /* The body on its own exact-size heap buffer, like any input. */
        uint8_t *b = malloc(body_len ? body_len : 1);
        if (!b) {
            rc = -1;
        } else {
            if (body_len)
                memcpy(b, body, body_len);
            if (fuzz_replay_request(method, target, body ? b : NULL, body_len) == 0)
                nrequests++;
            else
                nskipped++;
            free(b);
        }
    }
    free(text);
    free(data);
    return rc;
}

static int run_requests(const char *dir)
{
    size_t n = 0;
    char **names;
    int rc = 0;

    if (!fuzz_replay_request) {
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
