/* Fixture: a second service. */
#include "api.h"

int beta_run(int b);
