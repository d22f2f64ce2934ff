/* The api Check suites that need no process set-up share check_main.c's
 * main(); each defines the suite it runs. */
#ifndef TESTS_API_CHECK_MAIN_H
#define TESTS_API_CHECK_MAIN_H

#include <check.h>

Suite *api_suite(void);

#endif
