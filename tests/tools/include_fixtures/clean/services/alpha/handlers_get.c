/* Fixture: a handler with a static helper whose name another file reuses. */
#include "handlers.h"
#include "txn.h"

static int helper(int r)
{
    return r;
}

int h_get(int r)
{
    return txn_run(helper(r));
}
