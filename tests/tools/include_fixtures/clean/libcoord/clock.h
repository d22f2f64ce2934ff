/* Fixture: a libcoord module with no dependencies. */
int clock_tick(int c);
