/* Fixture: calls down into state. */
#include "txn.h"

int txn_run(int t)
{
    return state_apply(t);
}
