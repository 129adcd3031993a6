/* carrier-sim's HTTP server (libmicrohttpd, a small pool of its own threads): the Calls API of
 * Twilio's 2010-04-01 REST API, /healthz and /readyz, and the simulator's own /sim/stats,
 * /sim/reset and /sim/recordings/<CallSid>.wav.
 *
 *   POST /2010-04-01/Accounts/{AccountSid}/Calls.json          create (201)
 *   GET  /2010-04-01/Accounts/{AccountSid}/Calls.json          list (To, From, Status,
 *        StartTime, StartTime<, StartTime> -- "StartTime>=" on the wire --, PageSize, Page)
 *   GET  /2010-04-01/Accounts/{AccountSid}/Calls/{Sid}.json    fetch
 *   POST /2010-04-01/Accounts/{AccountSid}/Calls/{Sid}.json    update (Status=completed|canceled)
 *
 * The Calls API requires HTTP Basic auth with the account SID and auth token; errors are
 * Twilio's JSON ({code, message, more_info, status}). Handlers only touch memory under
 * sim->lock, so they run on libmicrohttpd's threads directly.
 *
 * Ownership: a request's body is collected in a struct exchange (libmicrohttpd's con_cls),
 * freed in http_completed. Response bodies are handed to libmicrohttpd (MHD_RESPMEM_MUST_FREE). */
#include <arpa/inet.h>
#include <ctype.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "e164.h"
#include "log.h"
#include "sim.h"

#define HTTP_BODY_MAX (64u << 10)
#define FORM_MAX 64
#define PAGE_SIZE_DEFAULT 50
#define PAGE_SIZE_MAX 1000
#define WAV_SAMPLES 800 /* 0.1 s of silence at 8 kHz */

struct exchange {
    char *body;
    size_t len;
    bool too_large;
};

/* Decoded name/value pairs of a form body or a query string. */
struct form {
    int n;
    char *names[FORM_MAX];
    char *values[FORM_MAX];
};

static void form_free(struct form *f)
{
    for (int i = 0; i < f->n; i++) {
        free(f->names[i]);
        free(f->values[i]);
    }
    f->n = 0;
}

static int form_add(struct form *f, const char *name, size_t nlen, const char *value, size_t vlen)
{
    if (f->n == FORM_MAX)
        return -1;
    char *n = strndup(name, nlen), *v = strndup(value, vlen);
    if (n == NULL || v == NULL) {
        free(n);
        free(v);
        return -1;
    }
    f->names[f->n] = n;
    f->values[f->n] = v;
    f->n++;
    return 0;
}

static const char *form_get(const struct form *f, const char *name)
{
    for (int i = 0; i < f->n; i++)
        if (strcmp(f->names[i], name) == 0)
            return f->values[i];
    return NULL;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = (char)tolower((unsigned char)c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Percent-decodes s in place ('+' is a space); returns the new length. */
static size_t url_decode(char *s, size_t len)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '+') {
            s[o++] = ' ';
        } else if (s[i] == '%' && i + 2 < len + 0 && hexval(s[i + 1]) >= 0 &&
                   hexval(s[i + 2]) >= 0) {
            s[o++] = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
            i += 2;
        } else {
            s[o++] = s[i];
        }
    }
    return o;
}

/* Parses an application/x-www-form-urlencoded body. -1 when it has too many fields. */
static int form_parse(struct form *f, const char *body, size_t len)
{
    char *copy = strndup(body ? body : "", len);
    if (copy == NULL)
        return -1;
    int rv = 0;
    char *save = NULL;
    for (char *pair = strtok_r(copy, "&", &save); pair; pair = strtok_r(NULL, "&", &save)) {
        char *eq = strchr(pair, '=');
        size_t nlen = eq ? (size_t)(eq - pair) : strlen(pair);
        char *value = eq ? eq + 1 : pair + nlen;
        nlen = url_decode(pair, nlen);
        size_t vlen = url_decode(value, strlen(value));
        if (nlen == 0)
            continue;
        if (form_add(f, pair, nlen, value, vlen) != 0) {
            rv = -1;
            break;
        }
    }
    free(copy);
    return rv;
}

static enum MHD_Result query_collect(void *cls, enum MHD_ValueKind kind, const char *key,
                                     const char *value)
{
    struct form *f = cls;
    if (key)
        (void)form_add(f, key, strlen(key), value ? value : "", value ? strlen(value) : 0);
    return MHD_YES;
}

/* ---- responses ---- */

static enum MHD_Result respond(struct MHD_Connection *conn, unsigned status, char *body,
                               size_t len, const char *content_type)
{
    struct MHD_Response *res =
        MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    if (res == NULL) {
        free(body);
        return MHD_NO;
    }
    if (MHD_add_response_header(res, MHD_HTTP_HEADER_CONTENT_TYPE, content_type) != MHD_YES) {
        MHD_destroy_response(res);
        return MHD_NO;
    }
    if (status == 401)
        (void)MHD_add_response_header(res, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
                                      "Basic realm=\"Twilio API\"");
    enum MHD_Result rv = MHD_queue_response(conn, status, res);
    MHD_destroy_response(res);
    return rv;
}

/* Sends json (reference stolen). */
static enum MHD_Result respond_json(struct MHD_Connection *conn, unsigned status, json_t *json)
{
    char *body = json ? json_dumps(json, JSON_COMPACT) : NULL;
    json_decref(json);
    if (body == NULL)
        return MHD_NO;
    return respond(conn, status, body, strlen(body), "application/json");
}

static enum MHD_Result respond_error(struct MHD_Connection *conn, unsigned status, int code,
                                     const char *message)
{
    char more[96];
    snprintf(more, sizeof more, "https://www.twilio.com/docs/errors/%d", code);
    return respond_json(conn, status,
                        json_pack("{s:i, s:s, s:s, s:i}", "code", code, "message", message,
                                  "more_info", more, "status", (int)status));
}

/* ---- authentication ---- */

static bool authorized(struct sim *sim, struct MHD_Connection *conn)
{
    const char *h = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization");
    if (h == NULL || strncasecmp(h, "Basic ", 6) != 0)
        return false;
    h += 6;
    while (*h == ' ')
        h++;
    size_t len = strlen(h);
    if (len == 0 || len > 512 || len % 4 != 0)
        return false;
    unsigned char decoded[400];
    int n = EVP_DecodeBlock(decoded, (const unsigned char *)h, (int)len);
    if (n < 0)
        return false;
    if (h[len - 1] == '=')
        n--;
    if (h[len - 2] == '=')
        n--;
    char expected[200];
    int m = snprintf(expected, sizeof expected, "%s:%s", sim->config.account_sid,
                     sim->config.auth_token);
    if (m < 0 || (size_t)m >= sizeof expected || n != m)
        return false;
    return CRYPTO_memcmp(decoded, expected, (size_t)m) == 0;
}

/* ---- the Calls API ---- */

static bool looks_http_url(const char *s)
{
    return s && (strncmp(s, "http://", 7) == 0 || strncmp(s, "https://", 8) == 0) &&
           strlen(s) < 2048;
}

static unsigned parse_events(const struct form *f)
{
    unsigned events = 0;
    bool any = false;
    for (int i = 0; i < f->n; i++) {
        if (strcmp(f->names[i], "StatusCallbackEvent") != 0)
            continue;
        any = true;
        /* one per parameter, or several in one value separated by spaces or commas */
        char *copy = strdup(f->values[i]), *save = NULL;
        if (copy == NULL)
            continue;
        for (char *w = strtok_r(copy, " ,", &save); w; w = strtok_r(NULL, " ,", &save)) {
            if (strcmp(w, "initiated") == 0)
                events |= CALL_EVENT_INITIATED;
            else if (strcmp(w, "ringing") == 0)
                events |= CALL_EVENT_RINGING;
            else if (strcmp(w, "answered") == 0)
                events |= CALL_EVENT_ANSWERED;
            else if (strcmp(w, "completed") == 0)
                events |= CALL_EVENT_COMPLETED;
        }
        free(copy);
    }
    return any ? events : CALL_EVENT_COMPLETED; /* Twilio's default */
}

static enum MHD_Result calls_create(struct sim *sim, struct MHD_Connection *conn,
                                    const struct form *f)
{
    const char *to = form_get(f, "To"), *from = form_get(f, "From"), *url = form_get(f, "Url");
    const char *callback = form_get(f, "StatusCallback");
    const char *amd = form_get(f, "MachineDetection");
    const char *timeout = form_get(f, "Timeout");
    int code = 0;
    const char *message = NULL;
    if (to == NULL || to[0] == '\0')
        code = 21201, message = "No 'To' number is specified";
    else if (!e164_valid(to))
        code = 21211, message = "Invalid 'To' Phone Number";
    else if (from == NULL || from[0] == '\0')
        code = 21603, message = "A 'From' phone number is required.";
    else if (strlen(from) >= 40)
        code = 21212, message = "Invalid 'From' Phone Number";
    else if (url == NULL || url[0] == '\0')
        code = 21205, message = "Url parameter is required.";
    else if (!looks_http_url(url))
        code = 21205, message = "Url is not a valid URL.";
    else if (callback && callback[0] && !looks_http_url(callback))
        code = 21609, message = "StatusCallback is not a valid URL.";
    else if (timeout && (atoi(timeout) < 1 || atoi(timeout) > 600))
        code = 21216, message = "Timeout must be between 1 and 600.";
    if (code) {
        pthread_mutex_lock(&sim->lock);
        sim->stats.rejected_400++;
        pthread_mutex_unlock(&sim->lock);
        return respond_error(conn, 400, code, message);
    }
    struct call_create req = {
        .to = to,
        .from = from,
        .url = url,
        .status_callback = callback && callback[0] ? callback : NULL,
        .events = parse_events(f),
        .machine_detection = amd && (strcmp(amd, "Enable") == 0 ||
                                     strcmp(amd, "DetectMessageEnd") == 0),
    };
    int status = 0;
    pthread_mutex_lock(&sim->lock);
    struct call *call = sim_call_create(sim, &req, &status, &code, &message);
    json_t *json = call ? sim_call_json(sim, call) : NULL;
    pthread_mutex_unlock(&sim->lock);
    if (call == NULL)
        return respond_error(conn, (unsigned)status, code, message);
    return respond_json(conn, 201, json);
}

/* Day start (UTC, ms) of "YYYY-MM-DD", or an ISO 8601 instant. -1 if malformed. */
static int64_t parse_day(const char *s, bool *date_only)
{
    int y, m, d;
    char tail;
    if (sscanf(s, "%4d-%2d-%2d%c", &y, &m, &d, &tail) == 3) {
        struct tm tm = {.tm_year = y - 1900, .tm_mon = m - 1, .tm_mday = d};
        *date_only = true;
        return (int64_t)timegm(&tm) * 1000;
    }
    struct tm tm = {0};
    int hh, mm, ss;
    if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d", &y, &m, &d, &hh, &mm, &ss) == 6) {
        tm.tm_year = y - 1900, tm.tm_mon = m - 1, tm.tm_mday = d;
        tm.tm_hour = hh, tm.tm_min = mm, tm.tm_sec = ss;
        *date_only = false;
        return (int64_t)timegm(&tm) * 1000;
    }
    return -1;
}

struct list_filter {
    const char *to, *from, *status;
    int64_t after, before; /* inclusive bounds on the start time, ms; -1: none */
};

static bool filter_match(const struct list_filter *flt, const struct call *call)
{
    if (flt->to && strcmp(flt->to, call->to) != 0)
        return false;
    if (flt->from && strcmp(flt->from, call->from) != 0)
        return false;
    if (flt->status && strcmp(flt->status, call->status) != 0)
        return false;
    int64_t t = call->start_ms ? call->start_ms : call->created_ms;
    if (flt->after >= 0 && t < flt->after)
        return false;
    if (flt->before >= 0 && t > flt->before)
        return false;
    return true;
}

/* Appends "&name=value" to a query being built for the paging URIs. */
static void query_append(char *buf, size_t size, const char *name, const char *value)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t at = strlen(buf);
    const char *parts[2] = {name, value};
    if (at + 1 < size && at > 0)
        buf[at++] = '&';
    for (int k = 0; k < 2; k++) {
        for (const unsigned char *p = (const unsigned char *)parts[k]; *p && at + 4 < size; p++) {
            if (isalnum(*p) || *p == '-' || *p == '_' || *p == '.' || *p == '~') {
                buf[at++] = (char)*p;
            } else {
                buf[at++] = '%';
                buf[at++] = hex[*p >> 4];
                buf[at++] = hex[*p & 15];
            }
        }
        if (k == 0 && at + 1 < size)
            buf[at++] = '=';
    }
    buf[at] = '\0';
}

static enum MHD_Result calls_list(struct sim *sim, struct MHD_Connection *conn,
                                  const struct form *q)
{
    struct list_filter flt = {form_get(q, "To"), form_get(q, "From"), form_get(q, "Status"), -1,
                              -1};
    char filters[768] = "";
    static const char *const passed[] = {"To", "From", "Status", "StartTime", "StartTime>",
                                         "StartTime<"};
    for (size_t i = 0; i < sizeof passed / sizeof passed[0]; i++) {
        const char *v = form_get(q, passed[i]);
        if (v)
            query_append(filters, sizeof filters, passed[i], v);
    }
    const char *names[3] = {"StartTime", "StartTime>", "StartTime<"};
    for (int i = 0; i < 3; i++) {
        const char *v = form_get(q, names[i]);
        if (v == NULL)
            continue;
        bool date_only = false;
        int64_t t = parse_day(v, &date_only);
        if (t < 0)
            return respond_error(conn, 400, 20001, "StartTime must be YYYY-MM-DD");
        int64_t last = date_only ? t + 86400000 - 1 : t;
        if (i == 0) {
            flt.after = t;
            flt.before = last;
        } else if (i == 1) {
            flt.after = t;
        } else {
            flt.before = last;
        }
    }
    const char *ps = form_get(q, "PageSize"), *pg = form_get(q, "Page");
    int page_size = ps ? atoi(ps) : PAGE_SIZE_DEFAULT;
    int page = pg ? atoi(pg) : 0;
    if (page_size < 1 || page_size > PAGE_SIZE_MAX || page < 0)
        return respond_error(conn, 400, 20001, "PageSize must be 1 to 1000, Page at least 0");

    json_t *calls = json_array();
    long long skip = (long long)page * page_size;
    long long matched = 0;
    bool more = false;
    pthread_mutex_lock(&sim->lock);
    for (struct call *c = sim->newest; c; c = c->older) {
        if (!filter_match(&flt, c))
            continue;
        if (matched++ < skip)
            continue;
        if ((int)json_array_size(calls) == page_size) {
            more = true;
            break;
        }
        json_array_append_new(calls, sim_call_json(sim, c));
    }
    char base[160];
    snprintf(base, sizeof base, "/2010-04-01/Accounts/%s/Calls.json", sim->config.account_sid);
    pthread_mutex_unlock(&sim->lock);

    char uri[1200], first[1200], next[1200], prev[1200];
    const char *sep = filters[0] ? "&" : "";
    snprintf(uri, sizeof uri, "%s?%s%sPageSize=%d&Page=%d", base, filters, sep, page_size, page);
    snprintf(first, sizeof first, "%s?%s%sPageSize=%d&Page=0", base, filters, sep, page_size);
    snprintf(next, sizeof next, "%s?%s%sPageSize=%d&Page=%d", base, filters, sep, page_size,
             page + 1);
    snprintf(prev, sizeof prev, "%s?%s%sPageSize=%d&Page=%d", base, filters, sep, page_size,
             page - 1);
    size_t count = json_array_size(calls);
    long long start = skip;
    long long end = count ? start + (long long)count - 1 : start;
    return respond_json(conn, 200,
                        json_pack("{s:o, s:I, s:I, s:s, s:o, s:i, s:i, s:o, s:s}", "calls",
                                  calls, "start", (json_int_t)start, "end", (json_int_t)end,
                                  "first_page_uri", first, "next_page_uri",
                                  more ? json_string(next) : json_null(), "page", page,
                                  "page_size", page_size, "previous_page_uri",
                                  page > 0 ? json_string(prev) : json_null(), "uri", uri));
}

static enum MHD_Result calls_one(struct sim *sim, struct MHD_Connection *conn, const char *method,
                                 const char *sid, const struct form *f, const char *path)
{
    const char *status = form_get(f, "Status");
    bool update = strcmp(method, "POST") == 0;
    if (update && status && strcmp(status, "completed") != 0 && strcmp(status, "canceled") != 0)
        return respond_error(conn, 400, 21218, "Invalid Status: use completed or canceled");
    pthread_mutex_lock(&sim->lock);
    struct call *call = sim_call_find(sim, sid);
    if (call && update && status)
        sim_call_update_status(sim, call, status);
    json_t *json = call ? sim_call_json(sim, call) : NULL;
    pthread_mutex_unlock(&sim->lock);
    if (json == NULL) {
        char message[300];
        snprintf(message, sizeof message, "The requested resource %s was not found", path);
        return respond_error(conn, 404, 20404, message);
    }
    return respond_json(conn, 200, json);
}

/* ---- /sim ---- */

static void put_le(unsigned char *p, unsigned v, int bytes)
{
    for (int i = 0; i < bytes; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static enum MHD_Result recording(struct MHD_Connection *conn)
{
    size_t data = WAV_SAMPLES * 2;
    unsigned char *wav = calloc(1, 44 + data);
    if (wav == NULL)
        return MHD_NO;
    memcpy(wav, "RIFF", 4);
    put_le(wav + 4, (unsigned)(36 + data), 4);
    memcpy(wav + 8, "WAVEfmt ", 8);
    put_le(wav + 16, 16, 4);    /* fmt chunk size */
    put_le(wav + 20, 1, 2);     /* PCM */
    put_le(wav + 22, 1, 2);     /* mono */
    put_le(wav + 24, 8000, 4);  /* sample rate */
    put_le(wav + 28, 16000, 4); /* byte rate */
    put_le(wav + 32, 2, 2);     /* block align */
    put_le(wav + 34, 16, 2);    /* bits per sample */
    memcpy(wav + 36, "data", 4);
    put_le(wav + 40, (unsigned)data, 4);
    return respond(conn, 200, (char *)wav, 44 + data, "audio/wav");
}

static bool is_call_sid(const char *s, size_t n)
{
    if (n != 34 || s[0] != 'C' || s[1] != 'A')
        return false;
    for (size_t i = 2; i < n; i++)
        if (hexval(s[i]) < 0)
            return false;
    return true;
}

/* ---- routing ---- */

static enum MHD_Result route(struct sim *sim, struct MHD_Connection *conn, const char *method,
                             const char *url, const struct exchange *ex)
{
    bool get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
    bool post = strcmp(method, "POST") == 0;
    if (strcmp(url, "/healthz") == 0 || strcmp(url, "/readyz") == 0) {
        bool stopping;
        pthread_mutex_lock(&sim->lock);
        stopping = sim->stopping;
        pthread_mutex_unlock(&sim->lock);
        return respond_json(conn, stopping ? 503 : 200,
                            json_pack("{s:s}", "status", stopping ? "stopping" : "ok"));
    }
    if (strcmp(url, "/sim/stats") == 0 && get) {
        const char *numbers = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "numbers");
        pthread_mutex_lock(&sim->lock);
        json_t *stats = sim_stats_json(sim, numbers == NULL || strcmp(numbers, "0") != 0);
        pthread_mutex_unlock(&sim->lock);
        return respond_json(conn, 200, stats);
    }
    if (strcmp(url, "/sim/reset") == 0 && post) {
        pthread_mutex_lock(&sim->lock);
        sim_stats_reset(sim);
        pthread_mutex_unlock(&sim->lock);
        return respond_json(conn, 200, json_pack("{s:b}", "reset", 1));
    }
    if (strncmp(url, "/sim/recordings/", 16) == 0 && get) {
        const char *file = url + 16;
        size_t n = strlen(file);
        if (n > 4 && strcmp(file + n - 4, ".wav") == 0 && is_call_sid(file, n - 4))
            return recording(conn);
        return respond_error(conn, 404, 20404, "No such recording");
    }

    static const char prefix[] = "/2010-04-01/Accounts/";
    if (strncmp(url, prefix, sizeof prefix - 1) != 0) {
        char message[300];
        snprintf(message, sizeof message, "The requested resource %.200s was not found", url);
        return respond_error(conn, 404, 20404, message);
    }
    if (!authorized(sim, conn))
        return respond_error(conn, 401, 20003, "Authenticate");
    const char *account = url + sizeof prefix - 1;
    const char *slash = strchr(account, '/');
    size_t alen = slash ? (size_t)(slash - account) : strlen(account);
    if (alen != strlen(sim->config.account_sid) ||
        strncmp(account, sim->config.account_sid, alen) != 0)
        return respond_error(conn, 401, 20003, "Authenticate");
    const char *rest = slash ? slash : "";

    struct form f = {0};
    if (post && form_parse(&f, ex->body, ex->len) != 0) {
        form_free(&f);
        return respond_error(conn, 400, 20001, "Too many parameters");
    }
    if (get)
        MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, query_collect, &f);
    enum MHD_Result rv;
    if (strcmp(rest, "/Calls.json") == 0 && post) {
        rv = calls_create(sim, conn, &f);
    } else if (strcmp(rest, "/Calls.json") == 0 && get) {
        rv = calls_list(sim, conn, &f);
    } else if (strncmp(rest, "/Calls/", 7) == 0 && (get || post)) {
        const char *sid = rest + 7;
        size_t n = strlen(sid);
        char sidbuf[64];
        if (n > 5 && n - 5 < sizeof sidbuf && strcmp(sid + n - 5, ".json") == 0) {
            memcpy(sidbuf, sid, n - 5);
            sidbuf[n - 5] = '\0';
            rv = calls_one(sim, conn, post ? "POST" : "GET", sidbuf, &f, url);
        } else {
            rv = respond_error(conn, 404, 20404, "The requested resource was not found");
        }
    } else {
        rv = respond_error(conn, 405, 20004, "Method not allowed");
    }
    form_free(&f);
    return rv;
}

static enum MHD_Result http_access(void *cls, struct MHD_Connection *conn, const char *url,
                                   const char *method, const char *version,
                                   const char *upload_data, size_t *upload_data_size,
                                   void **con_cls)
{
    struct sim *sim = cls;
    struct exchange *ex = *con_cls;
    if (ex == NULL) {
        ex = calloc(1, sizeof *ex);
        if (ex == NULL)
            return MHD_NO;
        *con_cls = ex;
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (ex->too_large || ex->len + n > HTTP_BODY_MAX) {
            ex->too_large = true;
            return MHD_YES;
        }
        char *grown = realloc(ex->body, ex->len + n + 1);
        if (grown == NULL)
            return MHD_NO;
        ex->body = grown;
        memcpy(ex->body + ex->len, upload_data, n);
        ex->len += n;
        ex->body[ex->len] = '\0';
        return MHD_YES;
    }
    if (ex->too_large)
        return respond_error(conn, 413, 20001, "Request body too large");
    return route(sim, conn, method, url, ex);
}

static void http_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                           enum MHD_RequestTerminationCode toe)
{
    struct exchange *ex = *con_cls;
    if (ex) {
        free(ex->body);
        free(ex);
    }
    *con_cls = NULL;
}

static struct MHD_Daemon *http_listen(struct sim *sim, const char *host, int port)
{
    struct sockaddr_in addr = {0};
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, strcmp(host, "localhost") == 0 ? "127.0.0.1" : host,
                  &addr.sin_addr) != 1) {
        log_error(NULL, "carrier-sim: cannot listen on %s (an IPv4 address is needed)", host);
        return NULL;
    }
    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL_LINUX_ONLY | MHD_USE_ERROR_LOG,
        (uint16_t)port, NULL, NULL, http_access, sim, MHD_OPTION_SOCK_ADDR,
        (struct sockaddr *)&addr, MHD_OPTION_THREAD_POOL_SIZE,
        (unsigned)sim->config.http_threads, MHD_OPTION_NOTIFY_COMPLETED, http_completed, sim,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30, MHD_OPTION_LISTENING_ADDRESS_REUSE,
        (unsigned)1, MHD_OPTION_END);
    if (d == NULL)
        log_error(NULL, "carrier-sim: cannot listen on %s:%d", host, port);
    return d;
}

int sim_http_start(struct sim *sim)
{
    sim->daemon = http_listen(sim, sim->config.listen_host, sim->config.listen_port);
    if (sim->daemon == NULL)
        return -1;
    if (sim->config.health_port > 0) {
        sim->health_daemon = http_listen(sim, sim->config.health_host, sim->config.health_port);
        if (sim->health_daemon == NULL)
            return -1;
    }
    return 0;
}

void sim_http_stop(struct sim *sim)
{
    if (sim->health_daemon)
        MHD_stop_daemon(sim->health_daemon);
    if (sim->daemon)
        MHD_stop_daemon(sim->daemon);
    sim->daemon = sim->health_daemon = NULL;
}
