/* See idempotency.h. One row per (org_id, key) in gateway.idempotency_keys:
 *
 *   begin:  INSERT ... ON CONFLICT DO NOTHING (status 0, "in progress")
 *             inserted          -> the handler runs; finish stores its answer
 *             exists, other hash -> 422
 *             exists, answered   -> replay it
 *             exists, status 0   -> poll until it is answered (then replay), or give up (409)
 *             exists, expired    -> delete it and claim again
 *   finish: UPDATE ... SET status, body   (a 5xx: DELETE, so a retry runs again)
 *
 * The in-progress row is what makes two concurrent requests run once: the unique key lets only
 * one INSERT in. A gateway that dies mid-request leaves a row at status 0; after
 * IDEMPOTENCY_STALE_SECONDS a request with that key takes it over and runs. */
#include "idempotency.h"

#include <microhttpd.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "arena.h"
#include "db.h"
#include "log.h"

#define IDEMPOTENCY_TTL "24 hours"
#define IDEMPOTENCY_STALE_SECONDS 300 /* an in-progress row this old was abandoned */
#define IDEMPOTENCY_POLL_MS 25
#define IDEMPOTENCY_POLL_MAX_MS 250

/* SHA-256 (hex) of method, path and body: what "the same request" means. */
static void idempotency_hash(const struct api_request *req, char out[65])
{
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    out[0] = '\0';
    if (ctx == NULL)
        return;
    if (EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 &&
        EVP_DigestUpdate(ctx, req->method, strlen(req->method) + 1) == 1 &&
        EVP_DigestUpdate(ctx, req->path, strlen(req->path) + 1) == 1 &&
        EVP_DigestUpdate(ctx, req->body, req->body_len) == 1 &&
        EVP_DigestFinal_ex(ctx, digest, &len) == 1)
        for (unsigned int i = 0; i < len && i < 32; i++)
            snprintf(out + 2 * i, 3, "%02x", digest[i]);
    EVP_MD_CTX_free(ctx);
}

/* Printable ASCII, 1..IDEMPOTENCY_KEY_MAX characters (UUIDs and the like). */
static bool idempotency_key_valid(const char *key)
{
    size_t len = strlen(key);
    if (len == 0 || len > IDEMPOTENCY_KEY_MAX)
        return false;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)key[i] < 0x21 || (unsigned char)key[i] > 0x7e)
            return false;
    return true;
}

/* The content types a stored answer may have, as the string constants api_response wants. */
static const char *idempotency_content_type(const char *stored)
{
    static const char *const known[] = {"text/xml", "text/csv", "text/plain", NULL};
    for (int i = 0; known[i] != NULL; i++)
        if (strcmp(stored, known[i]) == 0)
            return known[i];
    return NULL; /* application/json */
}

enum idempotency_state {
    IDEM_CLAIMED,    /* ours: run the handler */
    IDEM_ANSWERED,   /* res holds the answer (replay or error) */
    IDEM_IN_FLIGHT,  /* another request with this key is running */
    IDEM_FAILED,     /* the database failed */
};

/* One attempt: claim the key, or read what holds it. */
static enum idempotency_state idempotency_try(struct db *db, const char *org_id,
                                              const char *key, const char *hash,
                                              struct api_response *res)
{
    const char *params[] = {org_id, key, hash};
    static const char claim_sql[] =
        "INSERT INTO gateway.idempotency_keys (org_id, key, request_hash) VALUES ($1, $2, $3) "
        "ON CONFLICT (org_id, key) DO NOTHING RETURNING 1";
    /* An expired answer, or an abandoned in-progress row, gives way to this request. */
    static const char take_over_sql[] =
        "UPDATE gateway.idempotency_keys SET request_hash = $3, status = 0, content_type = NULL, "
        "response_body = NULL, created_at = now(), completed_at = NULL "
        "WHERE org_id = $1 AND key = $2 AND (created_at < now() - interval '" IDEMPOTENCY_TTL "' "
        "OR (status = 0 AND created_at < now() - make_interval(secs => $4))) RETURNING 1";
    static const char read_sql[] =
        "SELECT request_hash, status, coalesce(content_type, ''), coalesce(response_body, '') "
        "FROM gateway.idempotency_keys WHERE org_id = $1 AND key = $2";
    char stale[16];
    const char *take_params[] = {org_id, key, hash, stale};
    enum idempotency_state state;
    PGresult *r;

    r = db_exec_prepared(db, claim_sql, 3, params);
    if (!db_ok(r)) {
        log_error(NULL, "idempotency claim: %s", PQresultErrorMessage(r));
        PQclear(r);
        return IDEM_FAILED;
    }
    state = PQntuples(r) == 1 ? IDEM_CLAIMED : IDEM_IN_FLIGHT;
    PQclear(r);
    if (state == IDEM_CLAIMED)
        return state;

    snprintf(stale, sizeof stale, "%d", IDEMPOTENCY_STALE_SECONDS);
    r = db_exec_prepared(db, take_over_sql, 4, take_params);
    if (!db_ok(r)) {
        log_error(NULL, "idempotency take-over: %s", PQresultErrorMessage(r));
        PQclear(r);
        return IDEM_FAILED;
    }
    state = PQntuples(r) == 1 ? IDEM_CLAIMED : IDEM_IN_FLIGHT;
    PQclear(r);
    if (state == IDEM_CLAIMED)
        return state;

    r = db_exec_prepared(db, read_sql, 2, params);
    if (!db_ok(r)) {
        log_error(NULL, "idempotency read: %s", PQresultErrorMessage(r));
        PQclear(r);
        return IDEM_FAILED;
    }
    if (PQntuples(r) == 0) { /* forgotten (a 5xx) between our statements: claim again */
        PQclear(r);
        return IDEM_IN_FLIGHT;
    }
    if (strcmp(PQgetvalue(r, 0, 0), hash) != 0) {
        /* errors.c knows no 422: the same shape, written here */
        json_decref(res->body);
        res->status = 422;
        res->body = json_pack("{s:i, s:s, s:s}", "statusCode", 422, "message",
                              "Idempotency-Key was already used with a different request "
                              "(method, path or body)",
                              "error", "Unprocessable Entity");
        state = IDEM_ANSWERED;
    } else if (atoi(PQgetvalue(r, 0, 1)) == 0) {
        state = IDEM_IN_FLIGHT;
    } else {
        size_t len = (size_t)PQgetlength(r, 0, 3);
        json_decref(res->body);
        res->body = NULL;
        res->status = (unsigned)atoi(PQgetvalue(r, 0, 1));
        res->text = malloc(len + 1);
        if (res->text == NULL) {
            api_error(res, 500, "out of memory", NULL);
        } else {
            memcpy(res->text, PQgetvalue(r, 0, 3), len + 1);
            res->text_len = len;
            res->content_type = idempotency_content_type(PQgetvalue(r, 0, 2));
        }
        state = IDEM_ANSWERED;
    }
    PQclear(r);
    return state;
}

bool idempotency_begin(struct gateway *gw, struct api_request *req,
                       struct idempotency_claim *claim, struct api_response *res)
{
    const char *key = MHD_lookup_connection_value(req->connection, MHD_HEADER_KIND,
                                                  "Idempotency-Key");
    char hash[65];
    int waited_ms = 0, poll_ms = IDEMPOTENCY_POLL_MS;
    /* the first request has its whole RPC deadline, and a little more to store its answer */
    int wait_limit_ms = gw->rpc_timeout_ms + 5000;

    claim->active = false;
    claim->replayed = false;
    if (key == NULL || strcmp(req->method, "POST") != 0 || req->org_id == NULL ||
        req->org_id[0] == '\0')
        return true;
    if (!idempotency_key_valid(key)) {
        api_error(res, 400, "Idempotency-Key must be 1 to 255 printable ASCII characters",
                  NULL);
        return false;
    }
    snprintf(claim->org_id, sizeof claim->org_id, "%s", req->org_id);
    snprintf(claim->key, sizeof claim->key, "%s", key);
    idempotency_hash(req, hash);

    for (;;) {
        struct db *db = db_pool_acquire(gw->db);
        enum idempotency_state state = idempotency_try(db, claim->org_id, claim->key, hash, res);
        db_pool_release(gw->db, db);
        switch (state) {
        case IDEM_CLAIMED:
            claim->active = true;
            return true;
        case IDEM_ANSWERED:
            claim->replayed = res->status != 422;
            return false;
        case IDEM_FAILED:
            api_error(res, 503, "Idempotency keys are temporarily unavailable", NULL);
            return false;
        case IDEM_IN_FLIGHT:
            break;
        }
        if (waited_ms >= wait_limit_ms) {
            api_error(res, 409, "A request with this Idempotency-Key is still in progress; "
                                "retry later", NULL);
            return false;
        }
        usleep((useconds_t)poll_ms * 1000);
        waited_ms += poll_ms;
        if (poll_ms < IDEMPOTENCY_POLL_MAX_MS)
            poll_ms *= 2;
    }
}

void idempotency_finish(struct gateway *gw, struct idempotency_claim *claim,
                        const struct api_response *res)
{
    static const char store_sql[] =
        "UPDATE gateway.idempotency_keys SET status = $3, content_type = $4, "
        "response_body = $5, completed_at = now() WHERE org_id = $1 AND key = $2";
    static const char forget_sql[] =
        "DELETE FROM gateway.idempotency_keys WHERE org_id = $1 AND key = $2";
    /* now and then, the expired rows (a bounded batch, off the index) */
    static const char sweep_sql[] =
        "DELETE FROM gateway.idempotency_keys WHERE ctid = ANY (ARRAY(SELECT ctid FROM "
        "gateway.idempotency_keys WHERE created_at < now() - interval '" IDEMPOTENCY_TTL "' "
        "LIMIT 1000))";
    char status[16];
    char *dumped = NULL;
    const char *body = "";
    struct db *db;
    PGresult *r;

    if (!claim->active)
        return;
    claim->active = false;
    db = db_pool_acquire(gw->db);
    if (res->status >= 500) {
        const char *params[] = {claim->org_id, claim->key};
        r = db_exec_prepared(db, forget_sql, 2, params);
    } else {
        if (res->body != NULL) /* as http_respond.c writes it */
            body = dumped = json_dumps(res->body, JSON_COMPACT | JSON_PRESERVE_ORDER);
        else if (res->text != NULL)
            body = dumped = strndup(res->text, res->text_len);
        snprintf(status, sizeof status, "%u", res->status);
        const char *params[] = {claim->org_id, claim->key, status,
                                res->body == NULL ? res->content_type : NULL,
                                body != NULL ? body : ""};
        r = db_exec_prepared(db, store_sql, 5, params);
    }
    if (!db_ok(r))
        log_error(NULL, "idempotency store: %s", PQresultErrorMessage(r));
    PQclear(r);
    if ((random() & 255) == 0) {
        r = db_exec_prepared(db, sweep_sql, 0, NULL);
        PQclear(r);
    }
    db_pool_release(gw->db, db);
    if (res->body != NULL)
        arena_json_free(dumped);
    else
        free(dumped);
}
