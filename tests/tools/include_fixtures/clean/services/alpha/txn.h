/* Fixture: the transaction runner, above state. */
#include "state.h"

int txn_run(int t);
