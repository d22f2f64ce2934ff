/* Fixture: the umbrella header of api. */
#include "wire.h"
