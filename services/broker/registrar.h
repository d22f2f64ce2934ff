/* Registration with the coordinator (--coordinator): every two seconds (or
 * the sync interval, if shorter) the broker posts its id and URL, learns
 * its peers from the reply and takes the city's emergency level from it;
 * with backoff and jitter while the coordinator cannot be reached. */
#ifndef BROKER_REGISTRAR_H
#define BROKER_REGISTRAR_H

void *registrar_main(void *arg);

#endif
