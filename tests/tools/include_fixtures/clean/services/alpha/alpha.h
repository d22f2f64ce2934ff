/* Fixture: an umbrella header that also declares routes.c's function; fine
 * while routes.c does not call back into alpha. */
int alpha_run(int a);
int routes_find(int i);
