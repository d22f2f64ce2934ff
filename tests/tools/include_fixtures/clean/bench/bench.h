/* Fixture: bench consumes any layer. */
int bench_main(void);
