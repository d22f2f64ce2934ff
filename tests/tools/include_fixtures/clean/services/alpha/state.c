/* Fixture: state uses libcoord only. */
#include "state.h"

int state_apply(int s)
{
    return clock_tick(s);
}
