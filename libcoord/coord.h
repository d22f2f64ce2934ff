/* libcoord: ergrid's domain rules. No I/O, no JSON, no logging.
 * Depends only on libc and pthreads. Umbrella header. */
#ifndef COORD_H
#define COORD_H

#include "errors.h"
#include "util.h"
#include "vclock.h"
#include "types.h"
#include "arbiter.h"
#include "match.h"
#include "jobqueue.h"
#include "failure.h"
#include "hmap.h"
#include "strtab.h"
#include "capset.h"
#include "cclock.h"
#include "policy.h"
#include "rank.h"
#include "assignment.h"
#include "routing.h"
#include "reach.h"
#include "level.h"
#include "unitstatus.h"

#endif
