/* Fixture: bench may include a service header. */
#include "bench.h"
#include "../services/alpha/txn.h"

int bench_main(void)
{
    return txn_run(1);
}
