/* The campaign scheduler (see scheduler.c): a background worker with a handle. */
#ifndef CAMPAIGN_SCHEDULER_H
#define CAMPAIGN_SCHEDULER_H

struct campaign_app;
struct scheduler;

/* Opens its own database connection and starts the thread; NULL on failure (logged). */
struct scheduler *scheduler_start(struct campaign_app *app, const char *database_url,
                                  int poll_ms);
void scheduler_wake(struct scheduler *s);
/* Joins the thread and frees everything; NULL is fine. */
void scheduler_stop(struct scheduler *s);

#endif
