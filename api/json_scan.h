/* The parts of a JSON text found without building them: the members of an
 * object and the elements of an array, as spans of the text, so a reader
 * that parses each part on its own (a peer's metadata page) is not at the
 * mercy of one part jansson refuses -- nested deeper than its 2,048
 * levels, too big, of the wrong type -- while the rest is sound. The scan
 * checks the structure only (strings, brackets, separators; brackets are
 * counted, not matched by kind): every part is parsed and judged by the
 * caller, which is where a malformed one fails. No allocation, no
 * recursion, so no input can exhaust the stack. */
#ifndef API_JSON_SCAN_H
#define API_JSON_SCAN_H

#include <stdbool.h>
#include <stddef.h>

typedef struct json_span {
    const char *p;
    size_t len;
} json_span;

/* cb returning < 0 stops a scan, which returns that value. */
typedef int (*json_member_cb)(void *arg, json_span key, json_span value);
typedef int (*json_element_cb)(void *arg, json_span value);

/* The members of the one object text holds (white space around it
 * allowed): cb(arg, key, value) for each in order, key the bytes between
 * its quotes (escapes not decoded). 0, or -1 when text is not an object. */
int json_scan_object(json_span text, json_member_cb cb, void *arg);
/* The elements of the array value: 0, or -1 when it is not an array. */
int json_scan_array(json_span value, json_element_cb cb, void *arg);
/* key spells lit exactly (no escapes). */
bool json_span_is(json_span key, const char *lit);

#endif
