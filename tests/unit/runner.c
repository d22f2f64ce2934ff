#include <stdlib.h>

#include "unit.h"

int main(void)
{
    SRunner *sr = srunner_create(unit_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
