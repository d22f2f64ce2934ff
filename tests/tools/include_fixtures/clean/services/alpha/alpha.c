/* Fixture: the service's lifecycle. */
#include "alpha.h"

int alpha_run(int a)
{
    return routes_find(a);
}
