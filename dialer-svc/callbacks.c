/* od.CarrierEvents: the carrier's callbacks, verified by the gateway (X-Twilio-Signature) and
 * handed to any replica. They are not organization-scoped: the call row, found by the
 * ?callId= of the callback URL or by CallSid, says whose call it is. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "dialer.h"
#include "dialer_sql.h"
#include "ids.h"
#include "log.h"
#include "od_names.h"
#include "rpc.h"
#include "rpc_util.h"

#define DIALER_OUTCOME_TOKEN_PREFIX "otk_"
#define DIALER_OUTCOME_TOKEN_CHARS 40

static const char *dialer_param(const Od__CarrierCallbackRequest *in, const char *name)
{
    for (size_t i = 0; i < in->n_params; i++)
        if (in->params[i]->name != NULL && strcmp(in->params[i]->name, name) == 0)
            return in->params[i]->value;
    return NULL;
}

/* The form as a JSON object (for carrier_events), malloc'd. */
static char *dialer_params_json(const Od__CarrierCallbackRequest *in)
{
    json_t *o = json_object();
    char *text;
    for (size_t i = 0; i < in->n_params; i++)
        json_object_set_new(o, in->params[i]->name ? in->params[i]->name : "",
                            json_string(in->params[i]->value ? in->params[i]->value : ""));
    if (in->call_id != NULL && in->call_id[0] != '\0')
        json_object_set_new(o, "callId", json_string(in->call_id));
    text = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(o);
    return text;
}

/* A callId or CallSid that cannot be ours is refused before any query. */
static int dialer_callback_ids(struct rpc_call *call, const Od__CarrierCallbackRequest *in,
                               const char **sid)
{
    *sid = dialer_param(in, "CallSid");
    if (in->call_id != NULL && in->call_id[0] != '\0' && !ids_valid(ID_PREFIX_CALL, in->call_id)) {
        rpc_fail(call, OD__STATUS__INVALID, "callId is malformed");
        return -1;
    }
    if ((in->call_id == NULL || in->call_id[0] == '\0') && (*sid == NULL || (*sid)[0] == '\0')) {
        rpc_fail(call, OD__STATUS__INVALID, "CallSid is required");
        return -1;
    }
    if (*sid != NULL && strlen(*sid) > 64) {
        rpc_fail(call, OD__STATUS__INVALID, "CallSid is malformed");
        return -1;
    }
    return 0;
}

static void carrier_events_status_callback(Od__CarrierEvents_Service *service,
                                   const Od__CarrierCallbackRequest *in,
                                   Od__Empty_Closure closure, void *closure_data)
{
    struct rpc_call *call = closure_data;
    struct dialer_app *app = call->app;
    struct dialer_carrier_update u = {0};
    const char *duration;
    char *params;
    int rc;

    (void)service;
    if (dialer_callback_ids(call, in, &u.call_sid) != 0) {
        closure(NULL, call);
        return;
    }
    u.call_id = in->call_id;
    u.status = dialer_param(in, "CallStatus");
    u.answered_by = dialer_param(in, "AnsweredBy");
    duration = dialer_param(in, "CallDuration");
    if (duration == NULL)
        duration = dialer_param(in, "Duration");
    u.duration_seconds = duration != NULL && duration[0] != '\0' ? atoi(duration) : -1;
    if (u.status == NULL) {
        rpc_fail(call, OD__STATUS__INVALID, "CallStatus is required");
        closure(NULL, call);
        return;
    }
    params = dialer_params_json(in);
    u.params_json = params != NULL ? params : "{}";
    rc = dialer_apply_update(app, call->db, call->request_id, &u);
    free(params);
    if (rc < 0) {
        /* the carrier retries a callback that failed */
        rpc_fail(call, OD__STATUS__UNAVAILABLE, "callback not recorded");
        closure(NULL, call);
        return;
    }
    if (rc == 1) /* kept in carrier_events; answering an error would only make it retry */
        log_warn(call->request_id, "status callback for an unknown call (%s, %s)",
                 in->call_id ? in->call_id : "", u.call_sid ? u.call_sid : "");
    Od__Empty empty = OD__EMPTY__INIT;
    closure(&empty, call);
}

static void carrier_events_twiml(Od__CarrierEvents_Service *service,
                                 const Od__CarrierCallbackRequest *in,
                                 Od__TwimlReply_Closure closure, void *closure_data)
{
    /* The fetch is recorded in carrier_events ($4: the form, audit only) by the same
     * statement. */
    static const char update_sql[] =
        "WITH upd AS (UPDATE dialer.calls SET outcome_token_hash = $3, call_sid = "
        "coalesce(call_sid, nullif($2, '')), updated_at = now() WHERE (id = $1 OR ($1 = '' AND "
        "call_sid = $2)) AND (call_sid IS NULL OR $2 = '' OR call_sid = $2) RETURNING id, org_id, "
        "coalesce(runtime_url, '') AS runtime_url, coalesce(first_message, '') AS first_message, "
        "variables::text AS variables), "
        "ev AS (INSERT INTO dialer.carrier_events (org_id, call_id, call_sid, kind, params) "
        "SELECT org_id, id, nullif($2, ''), 'twiml', $4::jsonb FROM upd WHERE $4::jsonb IS NOT "
        "NULL) SELECT * FROM upd";
    struct rpc_call *call = closure_data;
    struct dialer_app *app = call->app;
    Od__TwimlReply reply = OD__TWIML_REPLY__INIT;
    char token[IDS_MAX_LEN + DIALER_OUTCOME_TOKEN_CHARS], hash[65];
    char outcome_url[DIALER_URL_MAX + 96];
    const char *sid;
    char *params, *twiml;
    PGresult *res;

    (void)service;
    if (dialer_callback_ids(call, in, &sid) != 0) {
        closure(NULL, call);
        return;
    }
    /* A new token at every fetch: the carrier runs the TwiML it fetched last. */
    ids_random_string(DIALER_OUTCOME_TOKEN_PREFIX, DIALER_OUTCOME_TOKEN_CHARS, token, sizeof token);
    dialer_token_hash(token, hash);
    params = dialer_params_json(in);
    const char *p[] = {in->call_id ? in->call_id : "", sid ? sid : "", hash, params};
    if (db_begin(call->db) != 0) {
        free(params);
        rpc_fail(call, OD__STATUS__UNAVAILABLE, "database unavailable");
        closure(NULL, call);
        return;
    }
    res = db_exec_prepared(call->db, update_sql, 4, p);
    free(params);
    if (!db_ok(res)) {
        rpc_fail_sql(call, res, "twiml");
        PQclear(res);
        db_rollback(call->db);
        closure(NULL, call);
        return;
    }
    if (PQntuples(res) == 0) {
        PQclear(res);
        db_rollback(call->db);
        rpc_fail(call, OD__STATUS__NOT_FOUND, "call not found");
        closure(NULL, call);
        return;
    }
    /* The carrier fetches the TwiML when the call is answered, and the request says so
     * (CallStatus in-progress, AnsweredBy): it is the call's answer, applied here in the same
     * transaction as the token, so that the dialer asks for no "answered" status callback
     * (worker.c: one request through the gateway, one transaction and one event row less per
     * answered call). A fetch without CallStatus only records its token. */
    const char *status = dialer_param(in, "CallStatus");
    int rc;
    if (status != NULL && status[0] != '\0') {
        struct dialer_carrier_update u = {
            .call_id = dialer_col(res, 0, "id"),
            .call_sid = sid,
            .status = status,
            .answered_by = dialer_param(in, "AnsweredBy"),
            .duration_seconds = -1,
            .params_json = NULL, /* the fetch is in carrier_events already (kind twiml) */
        };
        rc = dialer_apply_update_begun(app, call->db, call->request_id, &u);
    } else {
        rc = db_commit(call->db);
    }
    if (rc < 0) {
        PQclear(res);
        db_rollback(call->db);
        rpc_fail(call, OD__STATUS__UNAVAILABLE, "twiml not recorded");
        closure(NULL, call);
        return;
    }
    snprintf(outcome_url, sizeof outcome_url, "%s/v1/calls/%s/outcome", app->public_base_url,
             dialer_col(res, 0, "id"));
    struct dialer_twiml_input t = {
        .call_id = dialer_col(res, 0, "id"),
        .runtime_url = dialer_col(res, 0, "runtime_url"),
        .first_message = dialer_col(res, 0, "first_message"),
        .outcome_url = outcome_url,
        .outcome_token = token,
        .variables_json = dialer_col(res, 0, "variables"),
    };
    twiml = dialer_twiml(&t);
    PQclear(res);
    if (twiml == NULL) {
        rpc_fail(call, OD__STATUS__INTERNAL, "out of memory");
        closure(NULL, call);
        return;
    }
    reply.twiml = twiml;
    closure(&reply, call);
    free(twiml);
}

Od__CarrierEvents_Service dialer_carrier_events_service =
    OD__CARRIER_EVENTS__INIT(carrier_events_);
