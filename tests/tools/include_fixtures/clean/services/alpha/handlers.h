/* Fixture: one header declaring the handlers of several files, which is
 * not a cycle as long as those files do not call each other. */
int h_get(int r);
int h_post(int r);
