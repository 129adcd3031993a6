/* Start-up and shutdown shared by every service process. */
#ifndef OD_SERVICE_H
#define OD_SERVICE_H

/* Blocks SIGINT/SIGTERM in the calling thread (call first in main, so every thread created
 * afterwards inherits the mask) and ignores SIGPIPE. */
void service_block_signals(void);

/* Keeps freed memory for reuse instead of handing it back to the kernel after each request.
 * glibc gives every thread its own arena and returns memory eagerly, so a thread pool handling
 * one large request each (a 10,000-row bulk call is a few MB of JSON and protobuf) paid page
 * faults on cold memory every time: parsing a cold 1.3 MB body took 94 ms against 23 ms warm.
 * Fewer arenas, a high trim threshold and heap (not mmap) allocations below 64 MiB keep it
 * warm, at the price of holding on to the peak. Call first in main. */
void service_tune_memory(void);

/* Waits for SIGINT or SIGTERM; returns the signal number. */
int service_wait_for_signal(void);

#endif
