/* The carrier driver for the Twilio-compatible Calls REST API (2010-04-01), over libcurl.
 *
 * Ownership: struct carrier owns one curl easy handle (so keep-alive connections are reused
 * between requests), copies of the configuration strings, and a response buffer reused by each
 * request. Nothing it returns points into it: results are copied into the caller's structs.
 * jansson values are decoded and released inside each call.
 *
 * Threads: one struct carrier is used by one thread at a time. curl_global_init runs once for
 * the process (pthread_once) before the first handle is made.
 *
 * Retries: fetch, list and hang up are idempotent and are retried (CARRIER_RETRIES more times,
 * backing off) on transient failures. Create is never re-sent: if its answer is lost, the
 * caller reconciles with carrier_list_calls_to. */
#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "carrier.h"
#include "log.h"

#define CARRIER_DEFAULT_TIMEOUT_MS 5000
#define CARRIER_RETRIES 2               /* extra attempts of a safe request */
#define CARRIER_BACKOFF_MS 100          /* first backoff; doubled each retry */
#define CARRIER_RESPONSE_MAX (8u << 20) /* a larger reply is an error, not an allocation */
#define CARRIER_LIST_PAGE_MAX 1000      /* Twilio's largest PageSize */

struct carrier_buffer {
    char *data;
    size_t len;
    size_t cap;
    bool too_large;
};

struct carrier {
    CURL *easy;
    char *base_url; /* without a trailing '/' */
    char *account_sid;
    char *auth_token;
    char *default_from;
    int timeout_ms;
    struct curl_slist *headers;
    struct carrier_buffer response;
    char curl_error[CURL_ERROR_SIZE];
    bool unanswered; /* the last transfer got no reply after it may have reached the carrier */
};

static pthread_once_t carrier_curl_once = PTHREAD_ONCE_INIT;
static CURLcode carrier_curl_init_result;

static void carrier_curl_init(void)
{
    carrier_curl_init_result = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static void carrier_set_err(char *err, size_t err_size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void carrier_set_err(char *err, size_t err_size, const char *fmt, ...)
{
    if (err == NULL || err_size == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, err_size, fmt, ap);
    va_end(ap);
}

/* ---- a growable string ---- */

static int carrier_buffer_append(struct carrier_buffer *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *grown = realloc(b->data, cap);
        if (grown == NULL)
            return -1;
        b->data = grown;
        b->cap = cap;
    }
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

static int carrier_buffer_puts(struct carrier_buffer *b, const char *s)
{
    return carrier_buffer_append(b, s, strlen(s));
}

static void carrier_buffer_free(struct carrier_buffer *b)
{
    free(b->data);
    memset(b, 0, sizeof *b);
}

/* Appends "&name=value" (no '&' when the buffer is empty), value percent-encoded. */
static int carrier_form_add(struct carrier *c, struct carrier_buffer *b, const char *name,
                            const char *value)
{
    char *name_escaped = curl_easy_escape(c->easy, name, 0);
    char *value_escaped = curl_easy_escape(c->easy, value ? value : "", 0);
    int rv = -1;
    if (name_escaped == NULL || value_escaped == NULL)
        goto out;
    if (b->len > 0 && carrier_buffer_puts(b, "&") != 0)
        goto out;
    if (carrier_buffer_puts(b, name_escaped) != 0 || carrier_buffer_puts(b, "=") != 0 ||
        carrier_buffer_puts(b, value_escaped) != 0)
        goto out;
    rv = 0;
out:
    curl_free(name_escaped);
    curl_free(value_escaped);
    return rv;
}

/* ---- curl ---- */

static size_t carrier_write(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    struct carrier_buffer *b = userdata;
    size_t n = size * nmemb;
    if (b->len + n > CARRIER_RESPONSE_MAX) {
        b->too_large = true;
        return 0; /* aborts the transfer: CURLE_WRITE_ERROR */
    }
    if (carrier_buffer_append(b, ptr, n) != 0)
        return 0;
    return n;
}

/* Sets an option; on failure logs it and leaves the function with -1. */
#define CARRIER_SETOPT(c, option, value)                                                        \
    do {                                                                                        \
        CURLcode setopt_rc_ = curl_easy_setopt((c)->easy, option, value);                      \
        if (setopt_rc_ != CURLE_OK) {                                                           \
            log_error(NULL, "carrier: curl_easy_setopt(%s): %s", #option,                      \
                      curl_easy_strerror(setopt_rc_));                                          \
            return -1;                                                                          \
        }                                                                                       \
    } while (0)

/* The options every request of this handle shares. They survive between transfers. */
static int carrier_setup_handle(struct carrier *c)
{
    c->headers = curl_slist_append(NULL, "Accept: application/json");
    if (c->headers == NULL)
        return -1;
    CARRIER_SETOPT(c, CURLOPT_NOSIGNAL, 1L);
    CARRIER_SETOPT(c, CURLOPT_TIMEOUT_MS, (long)c->timeout_ms);
    CARRIER_SETOPT(c, CURLOPT_CONNECTTIMEOUT_MS, (long)c->timeout_ms);
    CARRIER_SETOPT(c, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
    CARRIER_SETOPT(c, CURLOPT_USERNAME, c->account_sid);
    CARRIER_SETOPT(c, CURLOPT_PASSWORD, c->auth_token);
    CARRIER_SETOPT(c, CURLOPT_HTTPHEADER, c->headers);
    CARRIER_SETOPT(c, CURLOPT_USERAGENT, "outdial-carrier/1");
    CARRIER_SETOPT(c, CURLOPT_FOLLOWLOCATION, 0L);
    CARRIER_SETOPT(c, CURLOPT_PROTOCOLS_STR, "http,https");
    CARRIER_SETOPT(c, CURLOPT_WRITEFUNCTION, carrier_write);
    CARRIER_SETOPT(c, CURLOPT_WRITEDATA, &c->response);
    CARRIER_SETOPT(c, CURLOPT_ERRORBUFFER, c->curl_error);
    return 0;
}

static char *carrier_strdup(const char *s)
{
    return strdup(s ? s : "");
}

struct carrier *carrier_open(const struct carrier_config *config)
{
    pthread_once(&carrier_curl_once, carrier_curl_init);
    if (carrier_curl_init_result != CURLE_OK) {
        log_error(NULL, "carrier: curl_global_init: %s",
                  curl_easy_strerror(carrier_curl_init_result));
        return NULL;
    }
    if (config == NULL || config->base_url == NULL || config->base_url[0] == '\0' ||
        config->account_sid == NULL || config->account_sid[0] == '\0' ||
        config->auth_token == NULL) {
        log_error(NULL, "carrier: base URL, account SID and auth token are required");
        return NULL;
    }
    struct carrier *c = calloc(1, sizeof *c);
    if (c == NULL)
        return NULL;
    c->timeout_ms = config->timeout_ms > 0 ? config->timeout_ms : CARRIER_DEFAULT_TIMEOUT_MS;
    c->base_url = carrier_strdup(config->base_url);
    c->account_sid = carrier_strdup(config->account_sid);
    c->auth_token = carrier_strdup(config->auth_token);
    c->default_from = carrier_strdup(config->default_from);
    c->easy = curl_easy_init();
    if (c->base_url == NULL || c->account_sid == NULL || c->auth_token == NULL ||
        c->default_from == NULL || c->easy == NULL)
        goto fail;
    size_t n = strlen(c->base_url);
    while (n > 0 && c->base_url[n - 1] == '/')
        c->base_url[--n] = '\0';
    if (carrier_setup_handle(c) != 0)
        goto fail;
    return c;
fail:
    log_error(NULL, "carrier: cannot open the driver");
    carrier_close(c);
    return NULL;
}

void carrier_close(struct carrier *c)
{
    if (c == NULL)
        return;
    if (c->easy)
        curl_easy_cleanup(c->easy);
    curl_slist_free_all(c->headers);
    carrier_buffer_free(&c->response);
    if (c->auth_token)
        memset(c->auth_token, 0, strlen(c->auth_token));
    free(c->base_url);
    free(c->account_sid);
    free(c->auth_token);
    free(c->default_from);
    free(c);
}

/* "{base}/2010-04-01/Accounts/{sid}/Calls" + suffix, with call_sid escaped when given. */
static int carrier_calls_url(struct carrier *c, const char *call_sid, const char *suffix,
                             struct carrier_buffer *url)
{
    char *account = curl_easy_escape(c->easy, c->account_sid, 0);
    char *call = call_sid ? curl_easy_escape(c->easy, call_sid, 0) : NULL;
    int rv = -1;
    if (account == NULL || (call_sid && call == NULL))
        goto out;
    if (carrier_buffer_puts(url, c->base_url) != 0 ||
        carrier_buffer_puts(url, "/2010-04-01/Accounts/") != 0 ||
        carrier_buffer_puts(url, account) != 0 || carrier_buffer_puts(url, "/Calls") != 0)
        goto out;
    if (call && (carrier_buffer_puts(url, "/") != 0 || carrier_buffer_puts(url, call) != 0))
        goto out;
    if (carrier_buffer_puts(url, suffix) != 0)
        goto out;
    rv = 0;
out:
    curl_free(account);
    curl_free(call);
    return rv;
}

/* Twilio's error JSON: {"code": 21211, "message": "...", "more_info": "...", "status": 400}. */
static void carrier_error_from_body(struct carrier *c, long http_status, char *err,
                                    size_t err_size)
{
    json_t *root = c->response.data ? json_loadb(c->response.data, c->response.len, 0, NULL)
                                    : NULL;
    const char *message = json_is_object(root)
                              ? json_string_value(json_object_get(root, "message"))
                              : NULL;
    json_int_t code = json_is_object(root) ? json_integer_value(json_object_get(root, "code"))
                                           : 0;
    if (message)
        carrier_set_err(err, err_size, "HTTP %ld: %s (code %lld)", http_status, message,
                        (long long)code);
    else
        carrier_set_err(err, err_size, "HTTP %ld", http_status);
    json_decref(root);
}

/* One transfer: GET url, or POST url with the form body. The reply body is in c->response.
 * Returns an enum carrier_result. */
static int carrier_perform(struct carrier *c, const char *url, const char *form, char *err,
                           size_t err_size)
{
    c->response.len = 0;
    c->response.too_large = false;
    if (c->response.data)
        c->response.data[0] = '\0';
    c->curl_error[0] = '\0';
    c->unanswered = false;

    CURLcode rc = curl_easy_setopt(c->easy, CURLOPT_URL, url);
    if (rc == CURLE_OK && form) {
        rc = curl_easy_setopt(c->easy, CURLOPT_POST, 1L);
        if (rc == CURLE_OK)
            rc = curl_easy_setopt(c->easy, CURLOPT_POSTFIELDSIZE, (long)strlen(form));
        if (rc == CURLE_OK)
            rc = curl_easy_setopt(c->easy, CURLOPT_POSTFIELDS, form);
    } else if (rc == CURLE_OK) {
        rc = curl_easy_setopt(c->easy, CURLOPT_HTTPGET, 1L);
    }
    if (rc != CURLE_OK) {
        log_error(NULL, "carrier: curl_easy_setopt: %s", curl_easy_strerror(rc));
        carrier_set_err(err, err_size, "curl setup: %s", curl_easy_strerror(rc));
        return CARRIER_REJECTED;
    }

    rc = curl_easy_perform(c->easy);
    if (rc != CURLE_OK) {
        c->unanswered = rc != CURLE_COULDNT_CONNECT && rc != CURLE_COULDNT_RESOLVE_HOST &&
                        rc != CURLE_COULDNT_RESOLVE_PROXY;
        if (c->response.too_large) {
            carrier_set_err(err, err_size, "reply larger than %u bytes", CARRIER_RESPONSE_MAX);
            return CARRIER_TRANSIENT;
        }
        carrier_set_err(err, err_size, "%s", c->curl_error[0] ? c->curl_error
                                                               : curl_easy_strerror(rc));
        return CARRIER_TRANSIENT;
    }
    long status = 0;
    rc = curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &status);
    if (rc != CURLE_OK) {
        carrier_set_err(err, err_size, "no HTTP status: %s", curl_easy_strerror(rc));
        return CARRIER_TRANSIENT;
    }
    if (status >= 200 && status < 300)
        return CARRIER_OK;
    carrier_error_from_body(c, status, err, err_size);
    if (status == 404)
        return CARRIER_NOT_FOUND;
    if (status == 429 || status >= 500)
        return CARRIER_TRANSIENT;
    return CARRIER_REJECTED;
}

static void carrier_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

/* carrier_perform, retried on transient failures: only for requests that are safe to repeat. */
static int carrier_perform_safe(struct carrier *c, const char *url, const char *form, char *err,
                                size_t err_size)
{
    int backoff = CARRIER_BACKOFF_MS;
    int rv = carrier_perform(c, url, form, err, err_size);
    for (int retry = 0; retry < CARRIER_RETRIES && rv == CARRIER_TRANSIENT; retry++) {
        carrier_sleep_ms(backoff);
        backoff *= 2;
        rv = carrier_perform(c, url, form, err, err_size);
    }
    return rv;
}

/* ---- the call resource ---- */

static void carrier_copy_string(char *dst, size_t size, json_t *value)
{
    const char *s = json_string_value(value);
    snprintf(dst, size, "%s", s ? s : "");
}

/* Fills out from one call resource. -1 when it is not an object with a sid. */
static int carrier_call_from_json(json_t *call, struct carrier_call *out)
{
    memset(out, 0, sizeof *out);
    out->duration_seconds = -1;
    if (!json_is_object(call) || !json_is_string(json_object_get(call, "sid")))
        return -1;
    carrier_copy_string(out->sid, sizeof out->sid, json_object_get(call, "sid"));
    carrier_copy_string(out->status, sizeof out->status, json_object_get(call, "status"));
    carrier_copy_string(out->answered_by, sizeof out->answered_by,
                        json_object_get(call, "answered_by"));
    carrier_copy_string(out->to, sizeof out->to, json_object_get(call, "to"));
    carrier_copy_string(out->from, sizeof out->from, json_object_get(call, "from"));
    carrier_copy_string(out->start_time, sizeof out->start_time,
                        json_object_get(call, "start_time"));
    /* Twilio writes duration as a string ("12") or null; accept a number as well. */
    json_t *duration = json_object_get(call, "duration");
    if (json_is_integer(duration)) {
        out->duration_seconds = (int)json_integer_value(duration);
    } else if (json_is_string(duration)) {
        const char *s = json_string_value(duration);
        char *end = NULL;
        long v = strtol(s, &end, 10);
        if (end != s && *end == '\0' && v >= 0 && v < 100000000)
            out->duration_seconds = (int)v;
    }
    return 0;
}

static int carrier_parse_call(struct carrier *c, struct carrier_call *out, char *err,
                              size_t err_size)
{
    json_error_t jerr;
    json_t *root = json_loadb(c->response.data ? c->response.data : "", c->response.len, 0, &jerr);
    int rv = CARRIER_OK;
    if (root == NULL || carrier_call_from_json(root, out) != 0) {
        carrier_set_err(err, err_size, "unexpected reply: %s",
                        root ? "no call sid" : jerr.text);
        rv = CARRIER_TRANSIENT;
    }
    json_decref(root);
    return rv;
}

/* ---- the operations ---- */

int carrier_create_call(struct carrier *c, const struct carrier_call_request *req,
                        struct carrier_call *out, char *err, size_t err_size)
{
    static const char *const events[] = {"initiated", "ringing", "answered", "completed"};
    struct carrier_buffer url = {0}, form = {0};
    int rv = CARRIER_REJECTED;
    if (c == NULL || req == NULL || req->to == NULL || req->to[0] == '\0' ||
        req->twiml_url == NULL || req->twiml_url[0] == '\0') {
        carrier_set_err(err, err_size, "to and twiml_url are required");
        return CARRIER_REJECTED;
    }
    const char *from = req->from && req->from[0] ? req->from : c->default_from;
    if (from == NULL || from[0] == '\0') {
        carrier_set_err(err, err_size, "no caller ID (from) and no default");
        return CARRIER_REJECTED;
    }
    bool ok = carrier_calls_url(c, NULL, ".json", &url) == 0 &&
              carrier_form_add(c, &form, "To", req->to) == 0 &&
              carrier_form_add(c, &form, "From", from) == 0 &&
              carrier_form_add(c, &form, "Url", req->twiml_url) == 0 &&
              carrier_form_add(c, &form, "Method", "POST") == 0;
    if (ok && req->status_callback && req->status_callback[0]) {
        ok = carrier_form_add(c, &form, "StatusCallback", req->status_callback) == 0 &&
             carrier_form_add(c, &form, "StatusCallbackMethod", "POST") == 0;
        for (size_t i = req->completed_only ? 3 : req->answered_and_completed_only ? 2 : 0;
             ok && i < sizeof events / sizeof events[0]; i++)
            ok = carrier_form_add(c, &form, "StatusCallbackEvent", events[i]) == 0;
    }
    if (ok && req->ring_timeout_seconds > 0) {
        char timeout[16];
        snprintf(timeout, sizeof timeout, "%d", req->ring_timeout_seconds);
        ok = carrier_form_add(c, &form, "Timeout", timeout) == 0;
    }
    if (ok && req->machine_detection)
        ok = carrier_form_add(c, &form, "MachineDetection", "Enable") == 0;
    if (!ok) {
        carrier_set_err(err, err_size, "out of memory");
        goto out;
    }
    /* Never retried: a lost answer may still have placed the call. */
    rv = carrier_perform(c, url.data, form.data, err, err_size);
    if (rv == CARRIER_OK) {
        struct carrier_call scratch;
        rv = carrier_parse_call(c, out ? out : &scratch, err, err_size);
    }
out:
    carrier_buffer_free(&url);
    carrier_buffer_free(&form);
    return rv;
}

int carrier_fetch_call(struct carrier *c, const char *sid, struct carrier_call *out, char *err,
                       size_t err_size)
{
    struct carrier_buffer url = {0};
    if (c == NULL || sid == NULL || sid[0] == '\0') {
        carrier_set_err(err, err_size, "a call sid is required");
        return CARRIER_REJECTED;
    }
    if (carrier_calls_url(c, sid, ".json", &url) != 0) {
        carrier_set_err(err, err_size, "out of memory");
        return CARRIER_REJECTED;
    }
    int rv = carrier_perform_safe(c, url.data, NULL, err, err_size);
    if (rv == CARRIER_OK) {
        struct carrier_call scratch;
        rv = carrier_parse_call(c, out ? out : &scratch, err, err_size);
    }
    carrier_buffer_free(&url);
    return rv;
}

int carrier_list_calls_to(struct carrier *c, const char *to, const char *started_after,
                          struct carrier_call *out, int max, int *n, char *err, size_t err_size)
{
    struct carrier_buffer url = {0}, query = {0};
    int rv = CARRIER_REJECTED;
    if (n)
        *n = 0;
    if (c == NULL || to == NULL || to[0] == '\0' || max < 0 || (max > 0 && out == NULL)) {
        carrier_set_err(err, err_size, "a number (to) is required");
        return CARRIER_REJECTED;
    }
    /* Twilio's OpenAPI gives StartTime> the format date-time: a bare date is sent as its
     * midnight UTC, which means the same ("on or after that day"). */
    char after[40] = "";
    if (started_after && started_after[0]) {
        bool bare_date = strlen(started_after) == 10 && started_after[4] == '-' &&
                         started_after[7] == '-';
        snprintf(after, sizeof after, bare_date ? "%sT00:00:00Z" : "%s", started_after);
    }
    char page_size[16];
    int page = max < 1 ? 1 : (max > CARRIER_LIST_PAGE_MAX ? CARRIER_LIST_PAGE_MAX : max);
    snprintf(page_size, sizeof page_size, "%d", page);
    bool ok = carrier_form_add(c, &query, "To", to) == 0 &&
              (after[0] == '\0' || carrier_form_add(c, &query, "StartTime>", after) == 0) &&
              carrier_form_add(c, &query, "PageSize", page_size) == 0 &&
              carrier_calls_url(c, NULL, ".json?", &url) == 0 &&
              carrier_buffer_puts(&url, query.data) == 0;
    if (!ok) {
        carrier_set_err(err, err_size, "out of memory");
        goto out;
    }
    rv = carrier_perform_safe(c, url.data, NULL, err, err_size);
    if (rv != CARRIER_OK)
        goto out;
    json_error_t jerr;
    json_t *root = json_loadb(c->response.data ? c->response.data : "", c->response.len, 0,
                              &jerr);
    json_t *calls = json_is_object(root) ? json_object_get(root, "calls") : NULL;
    if (!json_is_array(calls)) {
        carrier_set_err(err, err_size, "unexpected reply: %s",
                        root ? "no \"calls\" array" : jerr.text);
        json_decref(root);
        rv = CARRIER_TRANSIENT;
        goto out;
    }
    int found = 0;
    for (size_t i = 0; i < json_array_size(calls) && found < max; i++) {
        if (carrier_call_from_json(json_array_get(calls, i), &out[found]) == 0)
            found++;
    }
    if (n)
        *n = found;
    json_decref(root);
out:
    carrier_buffer_free(&url);
    carrier_buffer_free(&query);
    return rv;
}

int carrier_hangup(struct carrier *c, const char *sid, char *err, size_t err_size)
{
    struct carrier_buffer url = {0}, form = {0};
    if (c == NULL || sid == NULL || sid[0] == '\0') {
        carrier_set_err(err, err_size, "a call sid is required");
        return CARRIER_REJECTED;
    }
    if (carrier_calls_url(c, sid, ".json", &url) != 0 ||
        carrier_form_add(c, &form, "Status", "completed") != 0) {
        carrier_buffer_free(&url);
        carrier_buffer_free(&form);
        carrier_set_err(err, err_size, "out of memory");
        return CARRIER_REJECTED;
    }
    /* Safe to repeat: hanging up a call that has ended changes nothing. */
    int rv = carrier_perform_safe(c, url.data, form.data, err, err_size);
    carrier_buffer_free(&url);
    carrier_buffer_free(&form);
    return rv;
}

bool carrier_last_unanswered(const struct carrier *c)
{
    return c != NULL && c->unanswered;
}
