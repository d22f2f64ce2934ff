/* Fixture: the service's state, below its transaction runner.
 * An include inside a comment is not an include:
#include "txn.h"
 */
#include "coord.h"

int state_apply(int s);
