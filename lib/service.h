/* Start-up and shutdown shared by every service process. */
#ifndef OD_SERVICE_H
#define OD_SERVICE_H

/* Blocks SIGINT/SIGTERM in the calling thread (call first in main, so every thread created
 * afterwards inherits the mask) and ignores SIGPIPE. */
void service_block_signals(void);

/* Waits for SIGINT or SIGTERM; returns the signal number. */
int service_wait_for_signal(void);

#endif
