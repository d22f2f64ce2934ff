/* Fixture: defines what clock.h declares. */
#include "clock.h"

int clock_tick(int c)
{
    return c + 1;
}
