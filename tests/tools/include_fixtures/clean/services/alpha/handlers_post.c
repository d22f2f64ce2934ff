/* Fixture: the other handler, with its own static helper. */
#include "handlers.h"
#include "state.h"
#include "txn.h"

static int helper(int r)
{
    return -r;
}

int h_post(int r)
{
    return txn_run(state_apply(helper(r)));
}
