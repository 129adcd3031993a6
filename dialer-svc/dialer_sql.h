/* SQL shared by dialer-svc's files: the columns a call row is read with, and the helpers that
 * read them by name. */
#ifndef DIALER_SVC_DIALER_SQL_H
#define DIALER_SVC_DIALER_SQL_H

#include <jansson.h>
#include <libpq-fe.h>

#include "rpc_util.h"

/* How long a report that was sent waits for its acknowledgement before any replica's reporter
 * sends it again (an SQL interval). */
#define DIALER_REPORT_RETRY_TEXT "15 seconds"

/* Every read of a whole call row names these columns (read back with dialer_col). */
#define DIALER_CALL_COLUMNS                                                                    \
    "id, org_id, coalesce(call_sid, '') AS call_sid, campaign_id, lead_id, attempt, "         \
    "coalesce(contact_id, '') AS contact_id, coalesce(contact_name, '') AS contact_name, "     \
    "to_number, coalesce(from_number, '') AS from_number, status, "                            \
    "coalesce(outcome, '') AS outcome, coalesce(answered_by, '') AS answered_by, "             \
    "coalesce(duration_seconds, 0) AS duration_seconds, "                                      \
    "coalesce(disposition, '') AS disposition, coalesce(summary, '') AS summary, "             \
    "coalesce(transcript, '') AS transcript, coalesce(recording_url, '') AS recording_url, "   \
    "coalesce(outcome_variables, '{}')::text AS outcome_variables, "                           \
    "coalesce(error, '') AS error, "                                                           \
    SQL_ISO_MS("started_at") " AS started_at, " SQL_ISO_MS("answered_at") " AS answered_at, "  \
    SQL_ISO_MS("completed_at") " AS completed_at, " SQL_ISO_MS("created_at") " AS created_at"

/* The named column of a row ("" for NULL or an unknown name). Valid until PQclear(res). */
const char *dialer_col(PGresult *res, int row, const char *name);

/* A call event's payload (call.started, call.completed, call.failed) from a row read with
 * DIALER_CALL_COLUMNS. New reference. */
json_t *dialer_call_event(PGresult *res, int row, const char *event);

#endif
