/* Fixture: the second service uses api only. */
#include "beta.h"

int beta_run(int b)
{
    return wire_encode(b);
}
