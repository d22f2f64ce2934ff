/* Fixture: uses clock through its own header. */
#include "queue.h"

int queue_push(int q)
{
    return clock_tick(q);
}
