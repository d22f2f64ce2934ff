/* Fixture: api calling into libcoord. */
#include "wire.h"

int wire_encode(int v)
{
    return queue_push(v);
}
