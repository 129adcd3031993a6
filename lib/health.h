/* /healthz (the process is alive) and /readyz (it can do its job: database reachable) on a
 * small HTTP port, served by nng's HTTP server on its own threads. */
#ifndef OD_HEALTH_H
#define OD_HEALTH_H

/* Returns 0 when ready. Called on an nng thread: it must be thread-safe and quick. */
typedef int (*health_ready_fn)(void *arg);

struct health;
/* url: e.g. http://0.0.0.0:9101. NULL on failure (logged). */
struct health *health_start(const char *url, health_ready_fn ready, void *arg);
void health_stop(struct health *health);

#endif
