/* The dispatcher: one thread that claims due deliveries from the database and sends them with
 * libcurl's multi interface, many at once, then records every attempt.
 *
 * Threads: the dispatcher thread alone touches the curl handles, its database connection and
 * everything in struct dispatcher except `woken`/`stopping` (atomics) and curl_multi_wakeup(),
 * which other threads use through dispatcher_wake/dispatcher_stop.
 *
 * Claiming: a statement picks due rows with FOR UPDATE SKIP LOCKED (replicas never pick the
 * same row) and moves their next_attempt_at forward by a lease (the request timeout plus a
 * margin). If this process dies mid-request, the rows fall due again when the lease ends and
 * any replica, or this one restarted, sends them again: at-least-once, nothing lost.
 *
 * Recording: finished attempts are collected and written in one statement per loop turn
 * (delivery state, the attempt log, the endpoint's failure tracking, 410/5-day disabling).
 *
 * Outbound safety: every socket curl opens goes through dispatcher_open_socket, which checks
 * the address it is about to connect to against the policy (ssrf.c). The check is on the
 * resolved address itself, so DNS rebinding cannot slip a private address past it. A
 * delivery the policy refuses fails at once with its reason: a retry would be refused too.
 *
 * Fairness to receivers: at most app->max_per_host (WEBHOOK_MAX_PER_HOST) requests are in
 * flight to one host; a claimed delivery over that is put off by DISPATCHER_HOST_WAIT_MS
 * without spending an attempt, so an event fanned out to many endpoints on one host cannot
 * flood it. */
#include <ctype.h>
#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "deliveries.h"

#include "db.h"
#include "ids.h"
#include "log.h"
#include "schedule.h"
#include "secrets.h"
#include "signing.h"
#include "ssrf.h"
#include "timefmt.h"
#include "webhook_app.h"

#define DISPATCHER_JITTER 0.2          /* +-20% of each scheduled delay */
#define DISPATCHER_RESULTS_MAX 20000   /* unrecorded attempts kept while the database is away */
#define DISPATCHER_ERROR_MAX 256
#define DISPATCHER_HOST_WAIT_MS 200    /* a delivery held back by the per-host cap waits this */

struct transfer {
    struct dispatcher *d;
    CURL *easy;
    struct curl_slist *headers;
    char *body;
    char delivery_id[IDS_MAX_LEN + 16];
    char org_id[72];
    char endpoint_id[IDS_MAX_LEN + 16]; /* "" for an object's own webhook_url */
    int attempt;                        /* this attempt's number, 1-based */
    int64_t started_ms;                 /* monotonic */
    int64_t started_wall_ms;
    double retry_after;                 /* from the response; -1 when none */
    char refused[200];                  /* set when the socket check refused the address */
    char host[256];                     /* the URL's host, for the per-host cap */
    char curl_error[CURL_ERROR_SIZE];
    struct transfer *next, *prev;
};

struct dispatcher {
    const struct webhook_app *app;
    struct dispatcher_options options;
    struct db *db;
    CURLM *multi;
    pthread_t thread;
    bool thread_started;
    atomic_bool woken;
    atomic_bool stopping;
    struct transfer *in_flight; /* doubly linked */
    int n_in_flight;
    json_t *results;            /* attempts not yet recorded */
    int64_t next_poll_ms;
    int64_t next_flush_ms;
    bool more_due;
    bool held_back;             /* the last claim put some off (per-host cap) */
};

/* ---------------- curl callbacks ---------------- */

static size_t dispatcher_discard(char *data, size_t size, size_t n, void *arg)
{
    return size * n;
}

static size_t dispatcher_header(char *line, size_t size, size_t n, void *arg)
{
    struct transfer *t = arg;
    size_t len = size * n;
    static const char name[] = "retry-after:";
    if (len > sizeof name - 1 && len < 200 && strncasecmp(line, name, sizeof name - 1) == 0) {
        char value[200];
        memcpy(value, line + sizeof name - 1, len - (sizeof name - 1));
        value[len - (sizeof name - 1)] = '\0';
        value[strcspn(value, "\r\n")] = '\0';
        t->retry_after = retry_after_parse(value, time_now_ms() / 1000);
    } else if (len > 5 && strncmp(line, "HTTP/", 5) == 0) {
        t->retry_after = -1; /* a new response (after 100 Continue) starts afresh */
    }
    return len;
}

static curl_socket_t dispatcher_open_socket(void *arg, curlsocktype purpose,
                                            struct curl_sockaddr *address)
{
    struct transfer *t = arg;
    char reason[160];
    if (purpose == CURLSOCKTYPE_IPCXN &&
        ssrf_check_address(&t->d->app->policy, &address->addr, reason, sizeof reason) != NULL) {
        snprintf(t->refused, sizeof t->refused, "destination refused: %s", reason);
        return CURL_SOCKET_BAD;
    }
    return socket(address->family, address->socktype, address->protocol);
}

/* ---------------- results ---------------- */

/* Queues one attempt's outcome for the next recording statement. logged: write an attempt
 * row (false when no request was made). */
static void dispatcher_result(struct dispatcher *d, const char *delivery_id, const char *org_id,
                              const char *endpoint_id, int attempt, int64_t attempted_wall_ms,
                              long status_code, int latency_ms, const char *error, bool ok,
                              bool final, bool gone, double delay, bool logged)
{
    char when[TIME_ISO_LEN];
    if (json_array_size(d->results) >= DISPATCHER_RESULTS_MAX) {
        log_error(NULL, "delivery %s: result dropped (database away too long); it will be "
                        "sent again when its lease ends", delivery_id);
        return;
    }
    time_format_ms(attempted_wall_ms, when, sizeof when);
    json_array_append_new(
        d->results,
        json_pack("{s:s, s:s, s:s, s:i, s:s, s:i, s:i, s:s, s:b, s:b, s:b, s:f, s:b}", "id",
                  delivery_id, "org_id", org_id, "endpoint_id", endpoint_id, "attempt", attempt,
                  "attempted_at", when, "status_code", (int)status_code, "latency_ms",
                  latency_ms, "error", error, "ok", ok, "final", final, "gone", gone, "delay",
                  delay, "logged", logged));
}

/* Writes every queued result in one statement. On failure they stay queued for the next try.
 * A batch spans organizations (the dispatcher serves them all); every row is matched on its
 * own (org_id, id). */
static void dispatcher_flush(struct dispatcher *d)
{
    char *text, disable_after[32];
    PGresult *res;
    if (json_array_size(d->results) == 0 || time_monotonic_ms() < d->next_flush_ms)
        return;
    if ((text = json_dumps(d->results, JSON_COMPACT)) == NULL)
        return;
    snprintf(disable_after, sizeof disable_after, "%d", d->app->disable_after_seconds);
    const char *params[] = {text, disable_after};
    res = db_exec(
        d->db,
        "WITH r AS (SELECT * FROM jsonb_to_recordset($1::jsonb) AS r(id text, org_id text, "
        "  endpoint_id text, attempt int, attempted_at timestamptz, status_code int, "
        "  latency_ms int, error text, ok boolean, final boolean, gone boolean, "
        "  delay double precision, logged boolean)), "
        "upd AS (UPDATE webhook.deliveries d SET attempts = greatest(d.attempts, r.attempt), "
        "  status = CASE WHEN r.ok THEN 'succeeded' WHEN r.final THEN 'failed' ELSE 'pending' END, "
        "  next_attempt_at = CASE WHEN r.ok OR r.final THEN NULL "
        "    ELSE now() + make_interval(secs => r.delay) END, "
        "  last_status_code = nullif(r.status_code, 0), last_error = nullif(r.error, ''), "
        "  updated_at = now() "
        "  FROM r WHERE d.org_id = r.org_id AND d.id = r.id AND d.status = 'pending' "
        "  RETURNING d.id, d.next_attempt_at), "
        "att AS (INSERT INTO webhook.delivery_attempts (org_id, delivery_id, attempt, "
        "  attempted_at, status_code, latency_ms, error, next_retry_at) "
        "  SELECT r.org_id, r.id, r.attempt, r.attempted_at, r.status_code, r.latency_ms, "
        "  r.error, upd.next_attempt_at FROM r JOIN upd ON upd.id = r.id WHERE r.logged "
        "  ON CONFLICT DO NOTHING RETURNING 1), "
        "eps AS (SELECT org_id, endpoint_id, bool_or(ok) AS any_ok, bool_or(gone) AS gone "
        "  FROM r WHERE endpoint_id <> '' AND logged GROUP BY 1, 2), "
        "epu AS (UPDATE webhook.endpoints e SET "
        "  failing_since = CASE WHEN eps.any_ok THEN NULL ELSE coalesce(e.failing_since, now()) END, "
        "  enabled = NOT (eps.gone OR (NOT eps.any_ok AND "
        "    coalesce(e.failing_since < now() - make_interval(secs => $2::int), false))), "
        "  disabled_reason = CASE WHEN eps.gone THEN 'the endpoint answered 410 Gone' "
        "    WHEN NOT eps.any_ok AND e.failing_since < now() - make_interval(secs => $2::int) "
        "    THEN 'every delivery failed since ' || " 
        "      to_char(e.failing_since AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') "
        "    ELSE e.disabled_reason END "
        "  FROM eps WHERE e.org_id = eps.org_id AND e.id = eps.endpoint_id AND e.enabled "
        "  AND (NOT eps.any_ok OR e.failing_since IS NOT NULL) RETURNING e.id, e.enabled) "
        "SELECT (SELECT count(*) FROM upd), (SELECT count(*) FROM att), "
        "  coalesce((SELECT string_agg(id, ',') FROM epu WHERE NOT enabled), '')",
        2, params);
    free(text);
    if (!db_ok(res) && db_is_connection_error(d->db, res)) {
        log_error(NULL, "recording %zu delivery attempts failed (will retry): %s",
                  json_array_size(d->results), PQresultErrorMessage(res));
        d->next_flush_ms = time_monotonic_ms() + 1000;
    } else if (!db_ok(res)) {
        /* Not the connection: retrying the same statement would fail the same way. The
         * deliveries fall due again when their leases end. */
        log_error(NULL, "recording %zu delivery attempts failed (dropped): %s",
                  json_array_size(d->results), PQresultErrorMessage(res));
        json_array_clear(d->results);
    } else {
        enum { FLUSHED_COL_UPDATED, FLUSHED_COL_LOGGED, FLUSHED_COL_DISABLED };
        if (PQgetvalue(res, 0, FLUSHED_COL_DISABLED)[0] != '\0')
            log_warn(NULL, "webhook endpoints disabled: %s",
                     PQgetvalue(res, 0, FLUSHED_COL_DISABLED));
        json_array_clear(d->results);
    }
    PQclear(res);
}

/* ---------------- transfers ---------------- */

static void transfer_free(struct transfer *t)
{
    if (t == NULL)
        return;
    if (t->easy != NULL)
        curl_easy_cleanup(t->easy);
    curl_slist_free_all(t->headers);
    free(t->body);
    free(t);
}

static void dispatcher_unlink(struct dispatcher *d, struct transfer *t)
{
    if (t->prev != NULL)
        t->prev->next = t->next;
    else
        d->in_flight = t->next;
    if (t->next != NULL)
        t->next->prev = t->prev;
    d->n_in_flight--;
}

/* Test-only: the option (by name, "CURLOPT_NOPROXY") that dispatcher_setopts treats as
 * refused by libcurl. NULL in production. */
static const char *dispatcher_refused_option;

void dispatcher_refuse_option_for_test(const char *name)
{
    dispatcher_refused_option = name;
}

#define DISPATCHER_SETOPT(easy, option, value)                                                  \
    do {                                                                                        \
        CURLcode setopt_rc_ = curl_easy_setopt(easy, option, value);                            \
        if (dispatcher_refused_option != NULL && strcmp(dispatcher_refused_option, #option) == 0) \
            setopt_rc_ = CURLE_UNKNOWN_OPTION;                                                  \
        if (setopt_rc_ != CURLE_OK) {                                                           \
            snprintf(why, why_size, "curl_easy_setopt(%s) refused: %s", #option,               \
                     curl_easy_strerror(setopt_rc_));                                           \
            return -1;                                                                          \
        }                                                                                       \
    } while (0)

/* Sets every option a delivery relies on; -1 with the refused one named in why. transfer may
 * be NULL (the start-up check): the callbacks then get NULL data and are never called. */
static int dispatcher_setopts(CURL *easy, const char *url, const char *body,
                              struct curl_slist *headers, int timeout_ms, struct transfer *t,
                              char *why, size_t why_size)
{
    DISPATCHER_SETOPT(easy, CURLOPT_URL, url);
    DISPATCHER_SETOPT(easy, CURLOPT_POST, 1L);
    DISPATCHER_SETOPT(easy, CURLOPT_POSTFIELDS, body);
    DISPATCHER_SETOPT(easy, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    DISPATCHER_SETOPT(easy, CURLOPT_HTTPHEADER, headers);
    DISPATCHER_SETOPT(easy, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
    DISPATCHER_SETOPT(easy, CURLOPT_CONNECTTIMEOUT_MS,
                      (long)(timeout_ms < 10000 ? timeout_ms : 10000));
    DISPATCHER_SETOPT(easy, CURLOPT_FOLLOWLOCATION, 0L); /* a 3xx is a failure */
    DISPATCHER_SETOPT(easy, CURLOPT_PROTOCOLS_STR, "http,https");
    DISPATCHER_SETOPT(easy, CURLOPT_REDIR_PROTOCOLS_STR, "http,https"); /* were one followed */
    DISPATCHER_SETOPT(easy, CURLOPT_NOPROXY, "*"); /* the address check must see the real peer */
    DISPATCHER_SETOPT(easy, CURLOPT_NOSIGNAL, 1L);
    DISPATCHER_SETOPT(easy, CURLOPT_OPENSOCKETFUNCTION, dispatcher_open_socket);
    DISPATCHER_SETOPT(easy, CURLOPT_OPENSOCKETDATA, t);
    DISPATCHER_SETOPT(easy, CURLOPT_WRITEFUNCTION, dispatcher_discard);
    DISPATCHER_SETOPT(easy, CURLOPT_HEADERFUNCTION, dispatcher_header);
    DISPATCHER_SETOPT(easy, CURLOPT_HEADERDATA, t);
    if (t != NULL) {
        DISPATCHER_SETOPT(easy, CURLOPT_ERRORBUFFER, t->curl_error);
        DISPATCHER_SETOPT(easy, CURLOPT_PRIVATE, t);
    }
    return 0;
}

int dispatcher_check_curl(char *why, size_t why_size)
{
    CURL *easy = curl_easy_init();
    int rc;
    if (easy == NULL) {
        snprintf(why, why_size, "curl_easy_init failed");
        return -1;
    }
    rc = dispatcher_setopts(easy, "http://127.0.0.1/", "{}", NULL, 1000, NULL, why, why_size);
    curl_easy_cleanup(easy);
    return rc;
}

/* Starts one request. Takes ownership of nothing: copies what it needs. */
static int dispatcher_send(struct dispatcher *d, const char *delivery_id, const char *org_id,
                           const char *endpoint_id, const char *url, const char *host, int attempt,
                           const char *event_id, const char *body, const char *secret,
                           const char *previous_secret)
{
    struct transfer *t = calloc(1, sizeof *t);
    char line[256], why[160], *signature = NULL;
    int64_t now_s = time_now_ms() / 1000;

    if (t == NULL || (t->body = strdup(body)) == NULL || (t->easy = curl_easy_init()) == NULL)
        goto fail;
    t->d = d;
    t->attempt = attempt;
    t->retry_after = -1;
    snprintf(t->delivery_id, sizeof t->delivery_id, "%s", delivery_id);
    snprintf(t->org_id, sizeof t->org_id, "%s", org_id);
    snprintf(t->endpoint_id, sizeof t->endpoint_id, "%s", endpoint_id);
    snprintf(t->host, sizeof t->host, "%s", host);
    signature = webhook_signature_header(secret, previous_secret, event_id, now_s, body,
                                         strlen(body));
    if (signature == NULL) {
        log_error(NULL, "delivery %s: cannot sign (bad secret)", delivery_id);
        goto fail;
    }
    t->headers = curl_slist_append(t->headers, "Content-Type: application/json");
    t->headers = curl_slist_append(t->headers, "User-Agent: Outdial-Webhooks/1.0");
    snprintf(line, sizeof line, "webhook-id: %s", event_id);
    t->headers = curl_slist_append(t->headers, line);
    snprintf(line, sizeof line, "webhook-timestamp: %lld", (long long)now_s);
    t->headers = curl_slist_append(t->headers, line);
    snprintf(line, sizeof line, "webhook-signature: %s", signature);
    t->headers = curl_slist_append(t->headers, line);
    t->headers = curl_slist_append(t->headers, "Expect:"); /* no 100-continue round trip */
    free(signature);
    signature = NULL;

    /* Every option matters (the SSRF guard, no proxy, http(s) only, no redirects, the
     * timeouts): one refused fails this delivery, logged, instead of sending without it. */
    if (dispatcher_setopts(t->easy, url, t->body, t->headers, d->app->timeout_ms, t,
                           why, sizeof why) != 0) {
        log_error(NULL, "delivery %s: %s", delivery_id, why);
        goto fail;
    }
    t->started_ms = time_monotonic_ms();
    t->started_wall_ms = time_now_ms();
    if (curl_multi_add_handle(d->multi, t->easy) != CURLM_OK)
        goto fail;
    t->next = d->in_flight;
    if (d->in_flight != NULL)
        d->in_flight->prev = t;
    d->in_flight = t;
    d->n_in_flight++;
    return 0;
fail:
    free(signature);
    transfer_free(t);
    return -1;
}

/* Records the outcome of a finished request. */
static void dispatcher_finish(struct dispatcher *d, struct transfer *t, CURLcode code)
{
    long status = 0;
    char error[DISPATCHER_ERROR_MAX] = "";
    bool ok, gone, final;
    double delay = -1, unit;
    uint32_t r;

    curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
    ok = code == CURLE_OK && status >= 200 && status < 300;
    gone = code == CURLE_OK && status == 410;
    if (t->refused[0] != '\0')
        snprintf(error, sizeof error, "%s", t->refused);
    else if (code != CURLE_OK)
        snprintf(error, sizeof error, "%s", t->curl_error[0] ? t->curl_error : curl_easy_strerror(code));
    else if (!ok)
        snprintf(error, sizeof error, "HTTP %ld", status);
    /* A destination the address policy refuses will be refused on every retry: the delivery
     * fails at once, with the reason. */
    if (!ok && !gone && t->refused[0] == '\0') {
        ids_random_bytes(&r, sizeof r);
        unit = (double)r / 4294967296.0;
        delay = retry_schedule_next(&d->app->schedule, t->attempt,
                                    (status == 429 || status == 503) && t->retry_after > 0
                                        ? t->retry_after : 0,
                                    DISPATCHER_JITTER, unit);
    }
    final = ok || gone || delay < 0;
    dispatcher_result(d, t->delivery_id, t->org_id, t->endpoint_id, t->attempt,
                      t->started_wall_ms, status, (int)(time_monotonic_ms() - t->started_ms),
                      error, ok, final, gone, delay < 0 ? 0 : delay, true);
    log_debug(NULL, "delivery %s attempt %d: %s", t->delivery_id, t->attempt,
              ok ? "delivered" : error);
}

static void dispatcher_collect(struct dispatcher *d)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(d->multi, &left)) != NULL) {
        struct transfer *t = NULL;
        if (msg->msg != CURLMSG_DONE)
            continue;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&t);
        CURLcode code = msg->data.result; /* msg is invalid after remove_handle */
        curl_multi_remove_handle(d->multi, t->easy);
        dispatcher_unlink(d, t);
        dispatcher_finish(d, t, code);
        transfer_free(t);
    }
}

/* The URL's host, lower-cased ("" when it has none): the unit of the per-host cap. */
static void dispatcher_url_host(const char *url, char *out, size_t size)
{
    CURLU *u = curl_url();
    char *host = NULL;
    out[0] = '\0';
    if (u != NULL && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK) {
        size_t i;
        for (i = 0; host[i] != '\0' && i + 1 < size; i++)
            out[i] = (char)tolower((unsigned char)host[i]);
        out[i] = '\0';
    }
    curl_free(host);
    curl_url_cleanup(u);
}

/* Requests in flight to host. */
static int dispatcher_host_in_flight(const struct dispatcher *d, const char *host)
{
    int n = 0;
    for (const struct transfer *t = d->in_flight; t != NULL; t = t->next)
        n += strcmp(t->host, host) == 0;
    return n;
}

/* Makes the listed deliveries ([{org_id, id}]) due again in delay_ms, keeping their attempt
 * counts: shutdown hands back leases (0), the per-host cap puts off what it may not send yet.
 * Matched on each row's own (org_id, id). */
static void dispatcher_reschedule(struct dispatcher *d, json_t *ids, int delay_ms)
{
    char *text, delay[16];
    if (json_array_size(ids) == 0 || (text = json_dumps(ids, JSON_COMPACT)) == NULL)
        return;
    snprintf(delay, sizeof delay, "%d", delay_ms);
    const char *params[] = {text, delay};
    PGresult *res = db_exec(d->db,
                            "UPDATE webhook.deliveries d SET next_attempt_at = now() + "
                            "make_interval(secs => $2::int / 1000.0) "
                            "FROM jsonb_to_recordset($1::jsonb) AS r(org_id text, id text) "
                            "WHERE d.org_id = r.org_id AND d.id = r.id AND d.status = 'pending'",
                            2, params);
    if (!db_ok(res))
        log_warn(NULL, "rescheduling %zu deliveries failed (due when their leases end): %s",
                 json_array_size(ids), PQresultErrorMessage(res));
    PQclear(res);
    free(text);
}

/* What the claim returns, in this order. */
enum claim_column {
    CLAIM_COL_ID,
    CLAIM_COL_ORG_ID,
    CLAIM_COL_ENDPOINT_ID,
    CLAIM_COL_URL,
    CLAIM_COL_ATTEMPTS,
    CLAIM_COL_EVENT_ID,
    CLAIM_COL_BODY,
    CLAIM_COL_SECRET,
    CLAIM_COL_PREVIOUS_SECRET,
    CLAIM_COL_ENABLED,
};

/* Claims up to `limit` due deliveries and starts them; returns how many were claimed. The
 * claim spans every organization on purpose: the dispatcher serves them all; the joins are
 * on (org_id, id). */
static int dispatcher_claim(struct dispatcher *d, int limit)
{
    char limit_text[16], lease[16], default_secret[WEBHOOK_SECRET_MAX];
    PGresult *res;
    int n;

    snprintf(limit_text, sizeof limit_text, "%d", limit);
    snprintf(lease, sizeof lease, "%d", d->app->lease_seconds);
    const char *params[] = {limit_text, lease};
    res = db_exec(
        d->db,
        "WITH due AS (SELECT id FROM webhook.deliveries "
        "  WHERE status = 'pending' AND next_attempt_at <= now() "
        "  ORDER BY next_attempt_at LIMIT $1::int FOR UPDATE SKIP LOCKED), "
        "c AS (UPDATE webhook.deliveries d SET next_attempt_at = now() + make_interval(secs => $2::int) "
        "  FROM due WHERE d.id = due.id "
        "  RETURNING d.id, d.org_id, d.event_id, d.endpoint_id, d.url, d.attempts) "
        "SELECT c.id, c.org_id, coalesce(c.endpoint_id, ''), coalesce(ep.url, c.url), "
        "  c.attempts, c.event_id, ev.body, "
        "  CASE WHEN c.endpoint_id IS NULL THEN os.secret ELSE ep.secret END, "
        "  CASE WHEN c.endpoint_id IS NOT NULL AND ep.previous_secret_expires_at > now() "
        "    THEN ep.previous_secret END, "
        "  c.endpoint_id IS NULL OR coalesce(ep.enabled, false) "
        "FROM c JOIN webhook.events ev ON ev.org_id = c.org_id AND ev.id = c.event_id "
        "LEFT JOIN webhook.endpoints ep ON ep.org_id = c.org_id AND ep.id = c.endpoint_id "
        "LEFT JOIN webhook.org_secrets os ON os.org_id = c.org_id",
        2, params);
    if (!db_ok(res)) {
        log_error(NULL, "claiming deliveries failed: %s", PQresultErrorMessage(res));
        PQclear(res);
        return -1;
    }
    n = PQntuples(res);
    json_t *held = json_array(); /* over the per-host cap: due again shortly */
    d->held_back = false;
    for (int i = 0; i < n; i++) {
        char host[256];
        const char *id = PQgetvalue(res, i, CLAIM_COL_ID);
        const char *org = PQgetvalue(res, i, CLAIM_COL_ORG_ID);
        const char *endpoint = PQgetvalue(res, i, CLAIM_COL_ENDPOINT_ID);
        const char *secret = PQgetvalue(res, i, CLAIM_COL_SECRET);
        int attempts = atoi(PQgetvalue(res, i, CLAIM_COL_ATTEMPTS));
        if (PQgetvalue(res, i, CLAIM_COL_ENABLED)[0] != 't') {
            /* Its endpoint was disabled after the delivery was created. */
            dispatcher_result(d, id, org, "", attempts, time_now_ms(), 0, 0,
                              "endpoint is disabled", false, true, false, 0, false);
            continue;
        }
        dispatcher_url_host(PQgetvalue(res, i, CLAIM_COL_URL), host, sizeof host);
        if (host[0] != '\0' && dispatcher_host_in_flight(d, host) >= d->app->max_per_host) {
            json_array_append_new(held, json_pack("{s:s, s:s}", "org_id", org, "id", id));
            continue;
        }
        if (PQgetisnull(res, i, CLAIM_COL_SECRET)) {
            if (webhook_default_secret(d->db, org, default_secret, sizeof default_secret) != 0)
                continue; /* due again when the lease ends */
            secret = default_secret;
        }
        if (dispatcher_send(d, id, org, endpoint, PQgetvalue(res, i, CLAIM_COL_URL), host,
                            attempts + 1, PQgetvalue(res, i, CLAIM_COL_EVENT_ID),
                            PQgetvalue(res, i, CLAIM_COL_BODY), secret,
                            PQgetisnull(res, i, CLAIM_COL_PREVIOUS_SECRET)
                                ? NULL : PQgetvalue(res, i, CLAIM_COL_PREVIOUS_SECRET)) != 0)
            dispatcher_result(d, id, org, endpoint, attempts + 1, time_now_ms(), 0, 0,
                              "could not start the request", false, false, false,
                              d->app->lease_seconds, true);
    }
    PQclear(res);
    if (json_array_size(held) > 0) {
        dispatcher_reschedule(d, held, DISPATCHER_HOST_WAIT_MS);
        d->held_back = true;
        /* Only what was sent counts: a batch held back entirely is no reason to claim again
         * at once (the loop would spin on the same rows). */
        n -= (int)json_array_size(held);
    }
    json_decref(held);
    return n;
}

/* Shutdown: hands the leases of requests still in flight back, so they are due at once. */
static void dispatcher_release_leases(struct dispatcher *d)
{
    json_t *ids = json_array();
    for (struct transfer *t = d->in_flight; t != NULL; t = t->next)
        json_array_append_new(ids, json_pack("{s:s, s:s}", "org_id", t->org_id, "id",
                                             t->delivery_id));
    dispatcher_reschedule(d, ids, 0);
    json_decref(ids);
}

static void *dispatcher_main(void *arg)
{
    struct dispatcher *d = arg;
    int running = 0;
    int64_t grace_until = 0;

    for (;;) {
        int64_t now = time_monotonic_ms();
        bool stopping = atomic_load(&d->stopping);
        if (stopping) {
            if (grace_until == 0)
                grace_until = now + (d->app->timeout_ms < 2000 ? d->app->timeout_ms : 2000);
            if (d->n_in_flight == 0 || now >= grace_until)
                break;
        } else {
            bool want = atomic_exchange(&d->woken, false) || d->more_due ||
                        now >= d->next_poll_ms;
            if (want && d->n_in_flight < d->options.max_in_flight) {
                int room = d->options.max_in_flight - d->n_in_flight;
                int limit = room < d->options.claim_batch ? room : d->options.claim_batch;
                int got = dispatcher_claim(d, limit);
                d->more_due = got == limit;
                d->next_poll_ms = now + (got < 0                ? 1000
                                         : d->held_back ? DISPATCHER_HOST_WAIT_MS
                                                        : d->options.poll_ms);
            } else if (want) {
                d->more_due = true; /* claim as soon as requests finish */
            }
        }
        curl_multi_perform(d->multi, &running);
        dispatcher_collect(d);
        dispatcher_flush(d);

        now = time_monotonic_ms();
        int timeout = (int)(d->next_poll_ms - now);
        if (d->more_due && d->n_in_flight < d->options.max_in_flight)
            timeout = 0;
        if (json_array_size(d->results) > 0 && timeout > 100)
            timeout = 100;
        if (timeout < 0)
            timeout = 0;
        if (timeout > d->options.poll_ms)
            timeout = d->options.poll_ms;
        if (timeout > 0 || d->n_in_flight > 0)
            curl_multi_poll(d->multi, NULL, 0, timeout, NULL);
    }
    d->next_flush_ms = 0;
    dispatcher_flush(d);
    dispatcher_release_leases(d);
    while (d->in_flight != NULL) {
        struct transfer *t = d->in_flight;
        curl_multi_remove_handle(d->multi, t->easy);
        dispatcher_unlink(d, t);
        transfer_free(t);
    }
    return NULL;
}

static void dispatcher_free(struct dispatcher *d)
{
    if (d == NULL)
        return;
    if (d->multi != NULL)
        curl_multi_cleanup(d->multi);
    json_decref(d->results);
    db_close(d->db);
    free(d);
}

struct dispatcher *dispatcher_start(const struct webhook_app *app,
                                    const struct dispatcher_options *options)
{
    struct dispatcher *d;
    char why[160];
    if (dispatcher_check_curl(why, sizeof why) != 0) {
        log_error(NULL, "the delivery dispatcher cannot start: %s", why);
        return NULL;
    }
    d = calloc(1, sizeof *d);
    if (d == NULL)
        return NULL;
    d->app = app;
    d->options = *options;
    atomic_init(&d->woken, true);
    atomic_init(&d->stopping, false);
    d->results = json_array();
    d->multi = curl_multi_init();
    if (d->results == NULL || d->multi == NULL ||
        (d->db = db_open(options->database_url, 30000)) == NULL)
        goto fail;
    if (curl_multi_setopt(d->multi, CURLMOPT_MAXCONNECTS, (long)options->max_in_flight) !=
        CURLM_OK) {
        log_error(NULL, "the delivery dispatcher: curl_multi_setopt(CURLMOPT_MAXCONNECTS) refused");
        goto fail;
    }
    if (pthread_create(&d->thread, NULL, dispatcher_main, d) != 0)
        goto fail;
    d->thread_started = true;
    return d;
fail:
    log_error(NULL, "the delivery dispatcher could not start");
    dispatcher_free(d);
    return NULL;
}

void dispatcher_wake(struct dispatcher *d)
{
    atomic_store(&d->woken, true);
    curl_multi_wakeup(d->multi);
}

void dispatcher_stop(struct dispatcher *d)
{
    if (d == NULL)
        return;
    atomic_store(&d->stopping, true);
    curl_multi_wakeup(d->multi);
    if (d->thread_started)
        pthread_join(d->thread, NULL);
    dispatcher_free(d);
}
