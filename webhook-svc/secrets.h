/* The organization's default signing secret (secrets.c): it signs deliveries to URLs given
 * on objects (an import's webhookUrl). Used by the Webhooks service and the dispatcher. */
#ifndef WEBHOOK_SVC_SECRETS_H
#define WEBHOOK_SVC_SECRETS_H

#include <stddef.h>

struct db;

/* The organization's default secret, created on first use. 0, or -1 (logged). */
int webhook_default_secret(struct db *db, const char *org_id, char *out, size_t size);

#endif
