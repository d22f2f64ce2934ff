/* Fixture: the umbrella header of libcoord. */
#include "clock.h"
#include "queue.h"
