/* The transactional outbox: a service records an event in its own <schema>.outbox table in
 * the same transaction as the change the event describes, so the event exists if and only if
 * the change committed. A relay (a later issue) hands rows to webhook-svc and deletes them on
 * acknowledgement.
 *
 * Table (created by each producing service's own migration):
 *   <schema>.outbox (id text "evt_...", org_id text, event_type text, payload jsonb,
 *                    webhook_url text NULL, created_at timestamptz)
 * The id is time-ordered (ids_new_ordered), so the relay can read in creation order. */
#ifndef OD_OUTBOX_H
#define OD_OUTBOX_H

#include <stddef.h>

struct db;

#define OUTBOX_ID_PREFIX "evt_"

/* Inserts one event; call it inside the caller's open transaction (db_begin). schema is a
 * plain lower-case SQL identifier ("contacts"); payload_json a JSON object text;
 * destination_url the event's own webhook URL (NULL or "" for none: organization endpoints
 * only). 0 on success, -1 on failure (logged); on failure the caller rolls back. */
int outbox_add(struct db *db, const char *schema, const char *event_type, const char *org_id,
               const char *destination_url, const char *payload_json);

/* Same, also copying the new event's id into id_out (IDS_MAX_LEN bytes is enough). */
int outbox_add_id(struct db *db, const char *schema, const char *event_type,
                  const char *org_id, const char *destination_url, const char *payload_json,
                  char *id_out, size_t id_size);

#endif
