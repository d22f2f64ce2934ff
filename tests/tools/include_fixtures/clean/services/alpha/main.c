/* Fixture: the program. */
#include "alpha.h"

int main(void)
{
    return alpha_run(0);
}
