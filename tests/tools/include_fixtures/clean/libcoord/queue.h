/* Fixture: depends on clock. */
#include "clock.h"

int queue_push(int q);
