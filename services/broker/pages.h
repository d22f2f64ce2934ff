/* One metadata page of a peer, read and applied. Read without the domain
 * mutex: the reply's parts are found by json_scan, and each unit and job
 * is parsed, bounded (REMOTE_MAX_OBJECT_BYTES, _DEPTH) and checked on its
 * own, so an object that cannot be applied -- too deep, too big, of the
 * wrong types, a bad id -- is skipped and counted and the rest of the page
 * still applies (issue 9, item 4: a poisoned object can never make every
 * later pull fail). Applied under the mutex in steps of PAGE_CHUNK
 * objects, each its own transaction, so a page of thousands holds the lock
 * in time proportional to the step, and requests go on being answered. */
#ifndef BROKER_PAGES_H
#define BROKER_PAGES_H

#include <stddef.h>

#include "core.h"

#define PAGE_CHUNK 256

/* Applies the page in raw[0..len) pulled from peer idx; called without
 * the mutex. 1 when another page follows, 0 when not, -1 when the reply is
 * not a metadata page of that peer (nothing applied). *moved counts jobs
 * that may now be dispatched. */
int page_apply(broker *b, size_t idx, const char *raw, size_t len, size_t *moved);

#endif
