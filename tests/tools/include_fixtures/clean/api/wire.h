/* Fixture: api includes libcoord, found after api's own folder. */
#include "coord.h"

int wire_encode(int v);
