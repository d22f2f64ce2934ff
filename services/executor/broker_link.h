/* The link to the home broker: registration and heartbeats on a thread of
 * their own. */
#ifndef EXECUTOR_BROKER_LINK_H
#define EXECUTOR_BROKER_LINK_H

#include "context.h"

/* Starts the link thread. 0, or -1 when the thread could not be made. */
int exec_link_start(executor *e);

#endif
