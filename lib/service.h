/* Start-up and shutdown shared by every service process. */
#ifndef OD_SERVICE_H
#define OD_SERVICE_H

/* Blocks SIGINT/SIGTERM in the calling thread (call first in main, so every thread created
 * afterwards inherits the mask) and ignores SIGPIPE. */
void service_block_signals(void);

/* Keeps freed memory for reuse instead of handing it back to the kernel after each request.
 * glibc gives threads their own arenas and returns memory eagerly, so a thread pool handling
 * one large request each (a 10,000-row bulk call is a few MB of JSON and protobuf) paid page
 * faults on cold memory every time, and page faults are dear on this kind of VM. Measured on
 * a 10,000-row bulk call: parsing the 1.3 MB body took 55-86 ms cold against 17 ms warm, and
 * the whole call went from 290-340 ms to 170-185 ms with one arena, a 64 MiB top pad, a high
 * trim threshold and heap (not mmap) allocations below 64 MiB. Per-thread caches (tcache)
 * keep small allocations off the shared arena's lock. The price: a process holds on to its
 * peak. Call first in main. */
void service_tune_memory(void);

/* Waits for SIGINT or SIGTERM; returns the signal number. */
int service_wait_for_signal(void);

#endif
