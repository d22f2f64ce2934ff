/* The executor's disk (store.h). The set is small (capped at 1024), so
 * rewriting it on every change is simpler than a log and just as safe.
 * Format 2 is defined here, field by field, apart from the wire view:
 * changing what clients see does not change what is on disk. */
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api.h"
#include "config.h"

#define LEGACY_FORMAT 1 /* top-level "version": 1, entries carry "received_at" too */
#define UNSEEN_FORMAT 2 /* "format": 2, before the image kept the seen clock */

void exec_image_release(exec_image *img)
{
    if (!img)
        return;
    for (size_t i = 0; i < img->n; i++)
        asg_free(img->v[i]);
    free(img->v);
    img->v = NULL;
    img->n = 0;
}

static json_t *record_json(const assignment *a)
{
    json_t *o =
        json_pack("{s:s, s:I, s:s, s:s, s:O, s:s, s:o, s:I, s:I, s:O}", "job_id", a->job_id,
                  "attempt", (json_int_t)a->attempt, "owner", a->owner, "owner_url", a->owner_url,
                  "job", a->job ? a->job : json_null(), "state", asg_state_str(a->state), "vclock",
                  vclock_to_json(&a->vc), "received_ms", (json_int_t)a->received_ms, "seq",
                  (json_int_t)a->seq, "report", a->report ? a->report : json_null());
    if (o && a->revoke_reason[0] &&
        json_object_set_new(o, "revoke_reason", json_string(a->revoke_reason)) != 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}

json_t *store_image_json(const exec_image *img)
{
    json_t *arr = json_array();
    if (!arr)
        return NULL;
    for (size_t i = 0; i < img->n; i++) {
        json_t *a = record_json(img->v[i]);
        if (!a || json_array_append_new(arr, a) != 0) {
            json_decref(arr);
            return NULL;
        }
    }
    json_t *seen = vclock_to_json(&img->seen);
    if (!seen) {
        json_decref(arr);
        return NULL;
    }
    return json_pack("{s:i, s:s, s:I, s:I, s:o, s:o}", "format", EXEC_STORE_FORMAT, "unit_id",
                     img->unit_id, "report_counter", (json_int_t)img->report_counter, "next_seq",
                     (json_int_t)img->next_seq, "seen", seen, "assignments", arr);
}

static int get_uint(const json_t *o, const char *key, uint64_t *out)
{
    const json_t *v = json_object_get(o, key);
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return -1;
    *out = (uint64_t)json_integer_value(v);
    return 0;
}

static int copy_str(const json_t *o, const char *key, char *dst, size_t cap, bool id)
{
    const char *s = json_string_value(json_object_get(o, key));
    if (!s || strlen(s) >= cap || (id && !coord_id_valid(s)))
        return -1;
    memcpy(dst, s, strlen(s) + 1);
    return 0;
}

/* One stored assignment back into memory; NULL when anything is off.
 * Formats 1 and 2 share the entry: format 1's extra "received_at" was the
 * wire view's and is not read. */
static assignment *parse_record(const json_t *o, char *err, size_t errlen)
{
    assignment *a = asg_new();
    if (!a) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    const char *what = NULL;
    uint64_t attempt = 0;
    field_error fe;
    const json_t *job = json_object_get(o, "job");
    const json_t *report = json_object_get(o, "report");
    const json_t *reason = json_object_get(o, "revoke_reason");
    if (!json_is_object(o))
        what = "entry is not an object";
    else if (copy_str(o, "job_id", a->job_id, sizeof a->job_id, true) != 0)
        what = "job_id";
    else if (get_uint(o, "attempt", &attempt) != 0 || attempt < 1 || attempt > INT32_MAX)
        what = "attempt";
    else if (copy_str(o, "owner", a->owner, sizeof a->owner, true) != 0)
        what = "owner";
    else if (copy_str(o, "owner_url", a->owner_url, sizeof a->owner_url, false) != 0 ||
             !exec_url_valid(a->owner_url))
        what = "owner_url";
    else if (!json_is_object(job))
        what = "job";
    else if (asg_state_parse(json_string_value(json_object_get(o, "state")), &a->state) != 0)
        what = "state";
    else if (vclock_from_json(json_object_get(o, "vclock"), &a->vc, &fe) != 0)
        what = "vclock";
    else if (get_uint(o, "received_ms", &a->received_ms) != 0)
        what = "received_ms";
    else if (get_uint(o, "seq", &a->seq) != 0)
        what = "seq";
    else if (report && !json_is_null(report) && !json_is_object(report))
        what = "report";
    else if (reason &&
             copy_str(o, "revoke_reason", a->revoke_reason, sizeof a->revoke_reason, true) != 0)
        what = "revoke_reason";
    if (what) {
        snprintf(err, errlen, "bad assignment entry (%s)", what);
        asg_free(a);
        return NULL;
    }
    a->attempt = (int64_t)attempt;
    a->job = json_deep_copy(job);
    a->report = json_is_object(report) ? json_deep_copy(report) : NULL;
    if (!a->job || (json_is_object(report) && !a->report)) {
        snprintf(err, errlen, "out of memory");
        asg_free(a);
        return NULL;
    }
    return a;
}

/* Which format root is in: 1, 2 or 3, or -1 with a reason. "format" marks
 * format 2 and later; a file without it is format 1 ("version": 1). */
static int file_format(const json_t *root, char *err, size_t errlen)
{
    const json_t *f = json_object_get(root, "format");
    const json_t *v = json_object_get(root, "version");
    if (!json_is_object(root)) {
        snprintf(err, errlen, "not an executor state file (not a JSON object)");
        return -1;
    }
    if (f) {
        json_int_t n = json_is_integer(f) ? json_integer_value(f) : -1;
        if (n > EXEC_STORE_FORMAT) {
            snprintf(err, errlen,
                     "format %lld is newer than this ergrid-executor reads (formats %d to %d): "
                     "written by a later version, refusing to guess at it",
                     (long long)n, LEGACY_FORMAT, EXEC_STORE_FORMAT);
            return -1;
        }
        if (n != EXEC_STORE_FORMAT && n != UNSEEN_FORMAT) {
            snprintf(err, errlen, "not an executor state file (unknown format)");
            return -1;
        }
        return (int)n;
    }
    if (v && !(json_is_integer(v) && json_integer_value(v) == LEGACY_FORMAT)) {
        snprintf(err, errlen, "not an executor state file (unknown version)");
        return -1;
    }
    return LEGACY_FORMAT;
}

int store_image_parse(const json_t *root, const char *unit_id, exec_image *out, char *err,
                      size_t errlen)
{
    int format = file_format(root, err, errlen);
    if (format < 0)
        return -1;
    exec_image img;
    memset(&img, 0, sizeof img);
    vclock_init(&img.seen);
    field_error fe;
    if (format >= EXEC_STORE_FORMAT &&
        vclock_from_json(json_object_get(root, "seen"), &img.seen, &fe) != 0) {
        snprintf(err, errlen, "not an executor state file (bad seen clock: %s)", fe.message);
        return -1;
    }
    const json_t *arr = json_object_get(root, "assignments");
    const char *unit = json_string_value(json_object_get(root, "unit_id"));
    if (get_uint(root, "report_counter", &img.report_counter) != 0 ||
        get_uint(root, "next_seq", &img.next_seq) != 0 || !json_is_array(arr) ||
        json_array_size(arr) > EXEC_MAX_ASSIGNMENTS || !coord_id_valid(unit)) {
        snprintf(err, errlen, "not an executor state file (missing or bad members)");
        return -1;
    }
    if (strcmp(unit, unit_id) != 0) {
        snprintf(err, errlen, "belongs to unit '%s', not '%s'", unit, unit_id);
        return -1;
    }
    snprintf(img.unit_id, sizeof img.unit_id, "%s", unit);
    img.v = calloc(json_array_size(arr) ? json_array_size(arr) : 1, sizeof *img.v);
    if (!img.v) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    size_t i;
    json_t *o;
    char why[160];
    json_array_foreach (arr, i, o) {
        assignment *a = parse_record(o, why, sizeof why);
        if (!a) {
            snprintf(err, errlen, "entry %zu: %s", i, why);
            goto fail;
        }
        for (size_t k = 0; k < img.n; k++) {
            if (strcmp(img.v[k]->job_id, a->job_id) == 0) {
                snprintf(err, errlen, "job %s stored twice", a->job_id);
                asg_free(a);
                goto fail;
            }
        }
        img.v[img.n++] = a;
        if (a->seq >= img.next_seq)
            img.next_seq = a->seq + 1;
    }
    if (img.next_seq == 0)
        img.next_seq = 1;
    *out = img;
    return 0;
fail:
    exec_image_release(&img);
    return -1;
}

static int write_all(int fd, const char *p, size_t len)
{
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

static int write_file(const char *dir, const char *name, const char *text, size_t len)
{
    char tmp[EXEC_PATH_MAX + 64], final[EXEC_PATH_MAX + 64];
    snprintf(tmp, sizeof tmp, "%s/%s.tmp", dir, name);
    snprintf(final, sizeof final, "%s/%s", dir, name);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -1;
    if (write_all(fd, text, len) != 0 || write_all(fd, "\n", 1) != 0 || fsync(fd) != 0) {
        int saved = errno;
        close(fd);
        unlink(tmp);
        errno = saved;
        return -1;
    }
    if (close(fd) != 0 || rename(tmp, final) != 0) {
        int saved = errno;
        unlink(tmp);
        errno = saved;
        return -1;
    }
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return -1;
    int rc = fsync(dfd);
    int saved = errno;
    close(dfd);
    errno = saved;
    return rc;
}

int store_write_json(const char *dir, const char *name, const json_t *root)
{
    char *text = root ? json_dumps(root, JSON_COMPACT) : NULL;
    if (!text) {
        errno = ENOMEM;
        return -1;
    }
    int rc = write_file(dir, name, text, strlen(text));
    int saved = errno;
    free(text);
    errno = saved;
    return rc;
}

int store_save(const char *dir, const exec_image *img)
{
    json_t *root = store_image_json(img);
    int rc = store_write_json(dir, EXEC_STORE_FILE, root);
    int saved = errno;
    json_decref(root);
    errno = saved;
    return rc;
}

int store_load(const char *dir, const char *unit_id, exec_image *out, char *err, size_t errlen)
{
    char path[EXEC_PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/%s", dir, EXEC_STORE_FILE);
    if (access(path, F_OK) != 0 && errno == ENOENT) {
        /* First start. */
        exec_image empty;
        memset(&empty, 0, sizeof empty);
        snprintf(empty.unit_id, sizeof empty.unit_id, "%s", unit_id);
        empty.next_seq = 1;
        *out = empty;
        return 0;
    }
    json_error_t jerr;
    json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        snprintf(err, errlen, "%s: %s (line %d)", path, jerr.text, jerr.line);
        return -1;
    }
    char why[400];
    int rc = store_image_parse(root, unit_id, out, why, sizeof why);
    json_decref(root);
    if (rc != 0)
        snprintf(err, errlen, "%s: %s", path, why);
    return rc;
}
