/* dialer-svc's internal surface: its settings, the RPC services it serves, the pure rules
 * (status mapping, TwiML) and the call lifecycle steps that the RPC handlers, the dialer loop
 * and the sweeps share.
 *
 * Threads: the RPC server's workers run the Calls and CarrierEvents handlers, each with its own
 * database connection (rpc_call.db). The dialer loop (worker.c) runs its own threads, each with
 * its own database connection and its own struct carrier. struct dialer_app is written once,
 * by dialer_configure, before any thread starts, and only read afterwards. */
#ifndef DIALER_SVC_DIALER_H
#define DIALER_SVC_DIALER_H

#include <stdbool.h>
#include <stddef.h>

#include "campaigns.pb-c.h"
#include "carrier.h"
#include "dialer.pb-c.h"
#include "dnc.pb-c.h"
#include "migrate.h"

struct copytext;
struct db;
struct rpc_client;
struct service_runtime;

#define DIALER_SCHEMA "dialer"
#define DIALER_URL_MAX 512

struct dialer_app {
    struct service_runtime *rt;
    char dialer_id[128];                 /* DIALER_ID: this replica's worker id */
    char public_base_url[DIALER_URL_MAX]; /* PUBLIC_BASE_URL without a trailing slash */
    struct carrier_config carrier;       /* CARRIER_*: strings owned by the environment */
    int capacity;         /* DIALER_CAPACITY: calls this replica follows at once */
    int dial_threads;     /* DIALER_THREADS: carrier requests in parallel */
    int grace_ms;         /* DIALER_GRACE_MS: SIGTERM, how long to follow calls in flight */
    int outcome_wait_ms;  /* OUTCOME_WAIT_MS: answered human calls wait this for the outcome */
    int sweep_ms;         /* DIALER_SWEEP_MS: period of the timeout/lost-callback sweeps */
    int stale_ms;         /* DIALER_STALE_MS: no callback for this long -> ask the carrier */
    int poll_ms;          /* DIALER_POLL_MS: claim again after an empty claim */
    int lease_margin_s;   /* DIALER_LEASE_MARGIN_SECONDS: beyond the call timeout */
    int create_lease_s;   /* DIALER_CREATE_LEASE_SECONDS: a call row's worker lease while its
                           * call is created (> CARRIER_TIMEOUT_MS) */
    int rpc_timeout_ms;
    /* one client per target process (lib/rpc.h) */
    struct rpc_client *campaign_client;
    struct rpc_client *contacts_client;
    ProtobufCService *dialing; /* od.Dialing on campaign-svc */
    ProtobufCService *dnc;     /* od.Dnc on contacts-svc */
};

extern Od__Calls_Service dialer_calls_service;
extern Od__CarrierEvents_Service dialer_carrier_events_service;
extern const struct migration dialer_migrations[];

/* ---- rules.c: pure functions, unit-tested ---- */

/* What a carrier status word means for us. */
struct dialer_status_map {
    const char *status;  /* CALL_* (lib/od_names.h) */
    const char *outcome; /* OUTCOME_* for a terminal status, NULL otherwise */
    int rank;            /* order of progress: a status never moves to a lower rank */
    bool terminal;
};
/* Maps Twilio's status word (queued, initiated, ringing, in-progress, completed, busy,
 * no-answer, failed, canceled) and AnsweredBy (human, machine_start, machine_end_beep, ...,
 * fax, unknown; NULL or "" when absent) onto ours. -1 for an unknown word. A completed call
 * answered by a machine is VOICEMAIL with outcome voicemail. */
int dialer_map_status(const char *carrier_status, const char *answered_by,
                      struct dialer_status_map *out);
/* Rank of one of our statuses (CALL_*): QUEUED 0, INITIATED 1, RINGING 2, IN_PROGRESS 3, any
 * terminal 9; -1 when unknown. */
int dialer_status_rank(const char *status);
bool dialer_status_terminal(const char *status);
/* True for AnsweredBy values that mean an answering machine (machine_*, fax). */
bool dialer_answered_by_machine(const char *answered_by);

/* Appends text XML-escaped (& < > " ') to buf (NUL-terminated, *len bytes used, size bytes
 * in all). -1 when it does not fit (buf then holds a truncated document). */
int dialer_xml_append(char *buf, size_t size, size_t *len, const char *text, bool escape);

struct dialer_twiml_input {
    const char *call_id;
    const char *runtime_url;    /* "" or NULL: the spoken fallback */
    const char *first_message;  /* what the fallback says ("" or NULL: a default sentence) */
    const char *outcome_url;
    const char *outcome_token;
    const char *variables_json; /* a JSON object: one <Parameter> per key; NULL for none */
};
/* The TwiML document for an answered call, malloc'd (caller frees); NULL when out of
 * memory. */
char *dialer_twiml(const struct dialer_twiml_input *in);

/* Hex SHA-256 of a token (65 bytes with the NUL). */
void dialer_token_hash(const char *token, char out[65]);

/* ---- lifecycle.c: the steps that end a call, shared by handlers, loop and sweeps ---- */

/* A carrier's view of one call, from a callback or a fetch. */
struct dialer_carrier_update {
    const char *call_id;     /* our id, when known (?callId= of the callback) */
    const char *call_sid;    /* CA... */
    const char *status;      /* Twilio's word */
    const char *answered_by; /* NULL or "" when absent */
    int duration_seconds;    /* -1 when unknown */
    const char *params_json; /* the raw callback for carrier_events, NULL when not a callback */
};

/* Applies a carrier update to the call row in one transaction: status (never backwards, never
 * out of a terminal status), CallSid, answer time, and on a terminal status the outcome and
 * the finish; call.started on the first IN_PROGRESS; the raw callback into carrier_events.
 * Then reports the finish to campaign-svc when it is due and the attempt was started.
 * 0 on success, 1 when no call matched, -1 on a database failure (logged). */
int dialer_apply_update(struct dialer_app *app, struct db *db, const char *request_id,
                        const struct dialer_carrier_update *u);

/* dialer_apply_update inside a transaction the caller has begun (db_begin) and written to:
 * it is committed here, or rolled back on a failure (-1). The TwiML fetch records its token
 * and the answer it carries in one transaction. */
int dialer_apply_update_begun(struct dialer_app *app, struct db *db, const char *request_id,
                              const struct dialer_carrier_update *u);

/* Ends a call that is not terminal yet with our own status (TIMED_OUT, FAILED), outcome and
 * error text, then finalizes and reports as dialer_apply_update does. 0, or -1 (logged). */
int dialer_end_call(struct dialer_app *app, struct db *db, const char *request_id,
                    const char *call_id, const char *status, const char *outcome,
                    const char *error);

/* Finalizes (events) a terminal call when its finish is due, making its report due (the
 * reporter sends it once the attempt was started). force: finalize even before
 * finish_due_at. 0, or -1 (logged). */
int dialer_finish(struct dialer_app *app, struct db *db, const char *request_id,
                  const char *call_id, bool force);

/* Marks the attempt started (after AttemptStarted) by this worker and stores the CallSid if
 * the row has none; then finishes the call if callbacks already ended it. 0, or -1. */
int dialer_mark_started(struct dialer_app *app, struct db *db, const char *request_id,
                        const char *call_id, const char *call_sid, int call_timeout_seconds);

/* A call the carrier created for a row of this worker, whose row does not say so yet. */
struct dialer_created {
    char call_id[64];
    char call_sid[64];
    int call_timeout_seconds;
    bool skipped; /* a write passed it by (its row was locked) */
};

/* dialer_mark_started for n calls at once (one statement; calls is sorted by call_id here,
 * so that rows are locked in the order every other multi-row update takes them).
 * skip_locked: rows locked by another transaction (a callback of the same call, most
 * often) are passed by, not waited for: they are moved to the front of calls, marked
 * skipped, and their number returned, for the caller to write again. Otherwise it waits,
 * and returns 0. -1 when the statement failed (logged): the rows then keep their create
 * lease, and the orphan sweep adopts their calls from the carrier once it runs out, as
 * after a kill. */
int dialer_mark_started_many(struct dialer_app *app, struct db *db, struct dialer_created *calls,
                             int n, bool skip_locked);

/* Runs sql with $1 the call ids gathered in ids (copytext_array_add; the caller frees
 * ids->data) as a text[], and $2 arg2 unless NULL. 0 when it ran or ids is empty, -1 when it
 * failed (logged by db_command). */
int dialer_command_ids(struct db *db, const char *sql, struct copytext *ids, const char *arg2);

/* Wakes the dialer loop of this process (a call it follows may have ended). */
void dialer_wake_loop(struct dialer_app *app);

/* Wakes the reporter of this process (a call's report became due). */
void dialer_wake_reporter(struct dialer_app *app);

/* ---- reporter.c: AttemptsFinished in batches (struct service_worker) ---- */
/* Claims up to 100 due reports, sends them, marks the acknowledged ones reported (and makes
 * those whose lead was busy due again in a second). Returns how
 * many it claimed, or -1 when the database failed. */
int dialer_report_due(struct dialer_app *app, struct db *db);
void *dialer_reporter_start(struct service_runtime *rt);
void dialer_reporter_wake(void *handle);
void dialer_reporter_stop(void *handle);

/* ---- worker.c: the dialer loop (struct service_worker) ---- */
void *dialer_loop_start(struct service_runtime *rt);
void dialer_loop_wake(void *handle);
void dialer_loop_stop(void *handle);

#endif
