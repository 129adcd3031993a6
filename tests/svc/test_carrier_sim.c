/* carrier-sim, driven through the production carrier driver (lib/carrier.h): outcomes by the
 * last digit, signed status callbacks in order, the TwiML fetch and the agent's outcome, the
 * never-hanging-up 00 number and carrier_hangup, callback retries, the 429 limits, and
 * /sim/stats. The callbacks reach a small HTTP receiver inside this binary. */
#include <check.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "carrier.h"
#include "testsupport.h"

#define ACCOUNT "AC0123456789abcdef0123456789abcdef"
#define TOKEN "0123456789abcdef0123456789abcdef"
#define RING_MS 50
#define TALK_MS 150
#define WAIT_MS 15000
#define RECORDS_MAX 512

/* ---- the receiver: records every request, answers TwiML on /twiml ---- */

struct record {
    char method[8];
    char path[64];
    char *body;
    char signature[64];
    char authorization[128];
};

static struct {
    struct MHD_Daemon *daemon;
    int port;
    pthread_mutex_t lock;
    struct record records[RECORDS_MAX];
    int n;
    int fail_next; /* answer 500 to this many /status requests */
} g_rx = {.lock = PTHREAD_MUTEX_INITIALIZER};

struct rx_body {
    char *data;
    size_t len;
};

static enum MHD_Result rx_access(void *cls, struct MHD_Connection *conn, const char *url,
                                 const char *method, const char *version, const char *upload,
                                 size_t *upload_size, void **con_cls)
{
    struct rx_body *b = *con_cls;
    if (b == NULL) {
        b = calloc(1, sizeof *b);
        *con_cls = b;
        return MHD_YES;
    }
    if (*upload_size) {
        b->data = realloc(b->data, b->len + *upload_size + 1);
        memcpy(b->data + b->len, upload, *upload_size);
        b->len += *upload_size;
        b->data[b->len] = '\0';
        *upload_size = 0;
        return MHD_YES;
    }
    unsigned status = 200;
    const char *reply = "";
    const char *type = "text/plain";
    char twiml[1024];
    pthread_mutex_lock(&g_rx.lock);
    if (g_rx.n < RECORDS_MAX) {
        struct record *r = &g_rx.records[g_rx.n++];
        snprintf(r->method, sizeof r->method, "%s", method);
        snprintf(r->path, sizeof r->path, "%s", url);
        r->body = strdup(b->data ? b->data : "");
        const char *sig = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Twilio-Signature");
        const char *auth = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization");
        snprintf(r->signature, sizeof r->signature, "%s", sig ? sig : "");
        snprintf(r->authorization, sizeof r->authorization, "%s", auth ? auth : "");
    }
    if (strcmp(url, "/status") == 0 && g_rx.fail_next > 0) {
        g_rx.fail_next--;
        status = 500;
    }
    pthread_mutex_unlock(&g_rx.lock);
    if (strcmp(url, "/twiml") == 0) {
        snprintf(twiml, sizeof twiml,
                 "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Connect>"
                 "<Stream url=\"wss://agent.example/stream\">"
                 "<Parameter name=\"outcomeUrl\" value=\"http://127.0.0.1:%d/outcome\"/>"
                 "<Parameter name=\"outcomeToken\" value=\"tok-123\"/>"
                 "<Parameter name=\"firstName\" value=\"Ann &amp; Bo\"/>"
                 "</Stream></Connect></Response>",
                 g_rx.port);
        reply = twiml;
        type = "text/xml";
    } else if (strcmp(url, "/badtwiml") == 0) {
        reply = "<Response><Say>unclosed</Response>";
        type = "text/xml";
    }
    struct MHD_Response *res =
        MHD_create_response_from_buffer(strlen(reply), (void *)reply, MHD_RESPMEM_MUST_COPY);
    MHD_add_response_header(res, "Content-Type", type);
    enum MHD_Result rv = MHD_queue_response(conn, status, res);
    MHD_destroy_response(res);
    return rv;
}

static void rx_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct rx_body *b = *con_cls;
    if (b) {
        free(b->data);
        free(b);
    }
    *con_cls = NULL;
}

static void rx_start(void)
{
    g_rx.daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION,
                                   0, NULL, NULL, rx_access, NULL, MHD_OPTION_NOTIFY_COMPLETED,
                                   rx_completed, NULL, MHD_OPTION_END);
    ck_assert_ptr_nonnull(g_rx.daemon);
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(g_rx.daemon, MHD_DAEMON_INFO_BIND_PORT);
    g_rx.port = info->port;
}

static void rx_clear(void)
{
    pthread_mutex_lock(&g_rx.lock);
    for (int i = 0; i < g_rx.n; i++)
        free(g_rx.records[i].body);
    g_rx.n = 0;
    g_rx.fail_next = 0;
    pthread_mutex_unlock(&g_rx.lock);
}

/* ---- form bodies ---- */

struct form {
    int n;
    char name[24][32];
    char value[24][256];
};

static void form_decode(char *s)
{
    char *o = s;
    for (; *s; s++) {
        if (*s == '+') {
            *o++ = ' ';
        } else if (*s == '%' && s[1] && s[2]) {
            char hex[3] = {s[1], s[2], 0};
            *o++ = (char)strtol(hex, NULL, 16);
            s += 2;
        } else {
            *o++ = *s;
        }
    }
    *o = '\0';
}

static void form_parse(const char *body, struct form *f)
{
    char *copy = strdup(body), *save = NULL;
    f->n = 0;
    for (char *p = strtok_r(copy, "&", &save); p && f->n < 24; p = strtok_r(NULL, "&", &save)) {
        char *eq = strchr(p, '=');
        if (eq)
            *eq = '\0';
        snprintf(f->name[f->n], sizeof f->name[0], "%s", p);
        snprintf(f->value[f->n], sizeof f->value[0], "%s", eq ? eq + 1 : "");
        form_decode(f->name[f->n]);
        form_decode(f->value[f->n]);
        f->n++;
    }
    free(copy);
}

static const char *form_get(const struct form *f, const char *name)
{
    for (int i = 0; i < f->n; i++)
        if (strcmp(f->name[i], name) == 0)
            return f->value[i];
    return NULL;
}

static bool form_signed(const struct form *f, const char *url, const char *signature)
{
    struct carrier_param params[24];
    for (int i = 0; i < f->n; i++)
        params[i] = (struct carrier_param){f->name[i], f->value[i]};
    return carrier_signature_valid(TOKEN, url, params, (size_t)f->n, signature);
}

/* ---- the simulator ---- */

static char g_sim_bin[512];

struct sim_proc {
    struct ts_proc *proc;
    char base[64];
};

static void sim_start(struct sim_proc *s, const char *extra1, const char *extra2)
{
    int port = ts_free_port();
    static char listen[96], health[96];
    snprintf(s->base, sizeof s->base, "http://127.0.0.1:%d", port);
    snprintf(listen, sizeof listen, "CARRIER_SIM_LISTEN=%s", s->base);
    snprintf(health, sizeof health, "HEALTH_LISTEN=%s", s->base);
    const char *env[] = {listen,
                         health,
                         "CARRIER_ACCOUNT_SID=" ACCOUNT,
                         "CARRIER_AUTH_TOKEN=" TOKEN,
                         "CARRIER_SIM_RING_MS=50",
                         "CARRIER_SIM_TALK_MS=150",
                         "CARRIER_SIM_CALLBACK_BACKOFF_MS=50",
                         "CARRIER_SIM_CALLBACK_RETRIES=3",
                         extra1 ? extra1 : "CARRIER_SIM_CPS=0",
                         extra2 ? extra2 : "CARRIER_SIM_MAX_CALLS=0",
                         NULL};
    ts_binary("carrier-sim/carrier-sim", g_sim_bin, sizeof g_sim_bin);
    s->proc = ts_proc_start("carrier-sim", g_sim_bin, NULL, env);
    ts_proc_wait_ready(s->proc, 10000);
}

static struct carrier *driver(const struct sim_proc *s, const char *token)
{
    struct carrier_config cfg = {.base_url = s->base,
                                 .account_sid = ACCOUNT,
                                 .auth_token = token,
                                 .default_from = "+15550009999",
                                 .timeout_ms = 3000};
    struct carrier *c = carrier_open(&cfg);
    ck_assert_ptr_nonnull(c);
    return c;
}

/* GET /sim/stats, with query (e.g. "?numbers=0") appended. */
static json_t *sim_stats_query(const struct sim_proc *s, const char *query)
{
    char url[160];
    struct ts_http_res res;
    snprintf(url, sizeof url, "%s/sim/stats%s", s->base, query);
    ck_assert_int_eq(ts_http("GET", url, NULL, NULL, 0, &res), 0);
    ck_assert_int_eq(res.status, 200);
    json_t *j = json_incref(res.json);
    ts_http_res_free(&res);
    ck_assert_ptr_nonnull(j);
    return j;
}

static json_t *sim_stats(const struct sim_proc *s)
{
    return sim_stats_query(s, "");
}

static void place(struct carrier *c, const char *to, const char *twiml_path, char sid[64])
{
    char twiml[128], status[128], err[256];
    snprintf(twiml, sizeof twiml, "http://127.0.0.1:%d%s", g_rx.port, twiml_path);
    snprintf(status, sizeof status, "http://127.0.0.1:%d/status?leg=a&x=1", g_rx.port);
    struct carrier_call_request req = {.to = to,
                                       .twiml_url = twiml,
                                       .status_callback = status,
                                       .ring_timeout_seconds = 30,
                                       .machine_detection = true};
    struct carrier_call call;
    int rv = carrier_create_call(c, &req, &call, err, sizeof err);
    ck_assert_msg(rv == CARRIER_OK, "create %s: %d %s", to, rv, err);
    ck_assert_str_eq(call.status, "queued");
    ck_assert_str_eq(call.to, to);
    ck_assert_str_eq(call.from, "+15550009999");
    ck_assert_int_eq(strlen(call.sid), 34);
    ck_assert(strncmp(call.sid, "CA", 2) == 0);
    snprintf(sid, 64, "%s", call.sid);
}

/* The CallStatus values of the status callbacks of sid, in arrival order, space-separated;
 * checks each one's signature, SequenceNumber and fixed fields on the way. */
static void statuses_of(const char *sid, char *out, size_t size, char *answered_by,
                        int *duration)
{
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/status?leg=a&x=1", g_rx.port);
    out[0] = '\0';
    answered_by[0] = '\0';
    *duration = -1;
    int expected_seq = 0;
    pthread_mutex_lock(&g_rx.lock);
    for (int i = 0; i < g_rx.n; i++) {
        struct record *r = &g_rx.records[i];
        if (strcmp(r->path, "/status") != 0)
            continue;
        struct form f;
        form_parse(r->body, &f);
        const char *call = form_get(&f, "CallSid");
        if (call == NULL || strcmp(call, sid) != 0)
            continue;
        ck_assert_msg(form_signed(&f, url, r->signature), "bad signature on %s", r->body);
        const char *seq = form_get(&f, "SequenceNumber");
        ck_assert_ptr_nonnull(seq);
        if (atoi(seq) != expected_seq)
            continue; /* a retried delivery of the same callback */
        expected_seq++;
        ck_assert_str_eq(form_get(&f, "AccountSid"), ACCOUNT);
        ck_assert_str_eq(form_get(&f, "Direction"), "outbound-api");
        ck_assert_str_eq(form_get(&f, "ApiVersion"), "2010-04-01");
        ck_assert_str_eq(form_get(&f, "CallbackSource"), "call-progress-events");
        ck_assert_ptr_nonnull(form_get(&f, "Timestamp"));
        const char *status = form_get(&f, "CallStatus");
        if (out[0])
            strncat(out, " ", size - strlen(out) - 1);
        strncat(out, status, size - strlen(out) - 1);
        if (form_get(&f, "AnsweredBy"))
            snprintf(answered_by, 32, "%s", form_get(&f, "AnsweredBy"));
        if (form_get(&f, "CallDuration"))
            *duration = atoi(form_get(&f, "CallDuration"));
    }
    pthread_mutex_unlock(&g_rx.lock);
}

static void wait_statuses(const char *sid, const char *want, char *answered_by, int *duration)
{
    char got[256];
    int64_t until = ts_now_ms() + WAIT_MS;
    for (;;) {
        statuses_of(sid, got, sizeof got, answered_by, duration);
        if (strcmp(got, want) == 0 || ts_now_ms() > until)
            break;
        ts_sleep_ms(20);
    }
    ck_assert_msg(strcmp(got, want) == 0, "%s: callbacks \"%s\", want \"%s\"", sid, got, want);
}

static int count_path(const char *path, const char *sid)
{
    int n = 0;
    pthread_mutex_lock(&g_rx.lock);
    for (int i = 0; i < g_rx.n; i++)
        if (strcmp(g_rx.records[i].path, path) == 0 &&
            (sid == NULL || strstr(g_rx.records[i].body, sid)))
            n++;
    pthread_mutex_unlock(&g_rx.lock);
    return n;
}

static struct sim_proc g_sim;

static void setup(void)
{
    if (g_rx.daemon == NULL)
        rx_start();
    rx_clear();
    sim_start(&g_sim, NULL, NULL);
}

static void teardown(void)
{
    ts_proc_stop_ok(g_sim.proc);
    ts_proc_free(g_sim.proc);
    g_sim.proc = NULL;
}

/* ---- tests ---- */

START_TEST(outcome_by_last_digit)
{
    struct carrier *c = driver(&g_sim, TOKEN);
    char sids[10][64], to[10][32];
    for (int d = 0; d < 10; d++) {
        snprintf(to[d], sizeof to[d], "+1555010001%d", d);
        place(c, to[d], "/twiml", sids[d]);
    }
    static const char *const want[10] = {
        "initiated ringing in-progress completed", "initiated ringing in-progress completed",
        "initiated ringing in-progress completed", "initiated ringing in-progress completed",
        "initiated ringing in-progress completed", "initiated ringing in-progress completed",
        "initiated ringing busy",                  "initiated ringing no-answer",
        "initiated ringing failed",                "initiated ringing in-progress completed"};
    for (int d = 0; d < 10; d++) {
        char answered_by[32];
        int duration;
        wait_statuses(sids[d], want[d], answered_by, &duration);
        const char *want_by = d <= 5 ? "human" : d == 9 ? "machine_end_beep" : "";
        ck_assert_msg(strcmp(answered_by, want_by) == 0, "digit %d: AnsweredBy %s", d,
                      answered_by);
        /* CallDuration = ceil(TALK_MS / 1000) for answered calls, 0 otherwise */
        ck_assert_int_eq(duration, d <= 5 || d == 9 ? 1 : 0);

        struct carrier_call call;
        char err[256];
        ck_assert_int_eq(carrier_fetch_call(c, sids[d], &call, err, sizeof err), CARRIER_OK);
        ck_assert_str_eq(call.sid, sids[d]);
        ck_assert_str_eq(call.answered_by, want_by);
        ck_assert_int_eq(call.duration_seconds, d <= 5 || d == 9 ? 1 : 0);
        ck_assert(call.start_time[0] != '\0');

        /* listed by To, started today */
        char today[16];
        time_t now = time(NULL);
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(today, sizeof today, "%Y-%m-%d", &tm);
        struct carrier_call list[4];
        int n = -1;
        ck_assert_int_eq(carrier_list_calls_to(c, to[d], today, list, 4, &n, err, sizeof err),
                         CARRIER_OK);
        ck_assert_int_eq(n, 1);
        ck_assert_str_eq(list[0].sid, sids[d]);
    }
    /* TwiML fetched for every answered call (signed, CallStatus=in-progress) */
    for (int d = 0; d < 10; d++)
        ck_assert_int_eq(count_path("/twiml", sids[d]), d <= 5 || d == 9 ? 1 : 0);
    char twiml_url[128];
    snprintf(twiml_url, sizeof twiml_url, "http://127.0.0.1:%d/twiml", g_rx.port);
    pthread_mutex_lock(&g_rx.lock);
    int outcomes = 0;
    for (int i = 0; i < g_rx.n; i++) {
        struct record *r = &g_rx.records[i];
        if (strcmp(r->path, "/twiml") == 0) {
            struct form f;
            form_parse(r->body, &f);
            ck_assert_str_eq(form_get(&f, "CallStatus"), "in-progress");
            ck_assert(form_signed(&f, twiml_url, r->signature));
        }
        if (strcmp(r->path, "/outcome") == 0) {
            outcomes++;
            ck_assert_str_eq(r->authorization, "Bearer tok-123");
            json_t *j = json_loads(r->body, 0, NULL);
            ck_assert_ptr_nonnull(j);
            ck_assert(json_is_string(json_object_get(j, "disposition")));
            ck_assert(json_is_string(json_object_get(j, "transcript")));
            ck_assert(json_is_string(json_object_get(j, "summary")));
            ck_assert(strstr(json_string_value(json_object_get(j, "recordingUrl")),
                             "/sim/recordings/CA") != NULL);
            ck_assert_str_eq(json_string_value(json_object_get(
                                 json_object_get(j, "variables"), "firstName")),
                             "Ann & Bo");
            ck_assert_ptr_null(json_object_get(json_object_get(j, "variables"), "outcomeToken"));
            json_decref(j);
        }
    }
    pthread_mutex_unlock(&g_rx.lock);
    /* wait for the last outcomes: they follow the completed callbacks */
    int64_t until = ts_now_ms() + WAIT_MS;
    while (count_path("/outcome", NULL) < 6 && ts_now_ms() < until)
        ts_sleep_ms(20);
    ck_assert_int_eq(count_path("/outcome", NULL), 6); /* digits 0-5: people, not machines */
    (void)outcomes;

    /* the recording is a WAV file */
    char url[160];
    struct ts_http_res res;
    snprintf(url, sizeof url, "%s/sim/recordings/%s.wav", g_sim.base, sids[0]);
    ck_assert_int_eq(ts_http("GET", url, NULL, NULL, 0, &res), 0);
    ck_assert_int_eq(res.status, 200);
    ck_assert(res.body_len > 44 && memcmp(res.body, "RIFF", 4) == 0);
    ts_http_res_free(&res);

    json_t *stats = sim_stats(&g_sim);
    ck_assert_int_eq(json_integer_value(json_object_get(stats, "callsPlaced")), 10);
    ck_assert_int_ge(json_integer_value(json_object_get(stats, "maxConcurrent")), 1);
    ck_assert_int_eq(json_integer_value(json_object_get(stats, "concurrent")), 0);
    ck_assert_int_eq(json_integer_value(json_object_get(stats, "twimlErrors")), 0);
    json_t *by_to = json_object_get(stats, "byTo");
    ck_assert_int_eq(json_object_size(by_to), 10);
    ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(by_to, to[3]), "calls")),
                     1);
    ck_assert_int_eq(
        json_integer_value(json_object_get(json_object_get(by_to, to[3]), "maxConcurrent")), 1);
    json_t *from = json_object_get(json_object_get(stats, "byFrom"), "+15550009999");
    ck_assert_int_eq(json_integer_value(json_object_get(from, "calls")), 10);
    json_decref(stats);
    /* The counters alone: the same figures, no entry per number. */
    stats = sim_stats_query(&g_sim, "?numbers=0");
    ck_assert_int_eq(json_integer_value(json_object_get(stats, "callsPlaced")), 10);
    ck_assert(json_is_null(json_object_get(stats, "byTo")));
    ck_assert(json_is_null(json_object_get(stats, "byFrom")));
    json_decref(stats);

    /* reset */
    struct ts_http_res reset;
    snprintf(url, sizeof url, "%s/sim/reset", g_sim.base);
    ck_assert_int_eq(ts_http("POST", url, NULL, "", 0, &reset), 0);
    ck_assert_int_eq(reset.status, 200);
    ts_http_res_free(&reset);
    stats = sim_stats(&g_sim);
    ck_assert_int_eq(json_integer_value(json_object_get(stats, "callsPlaced")), 0);
    ck_assert_int_eq(json_object_size(json_object_get(stats, "byTo")), 0);
    json_decref(stats);
    carrier_close(c);
}
END_TEST

START_TEST(never_hangs_up_until_hung_up)
{
    struct carrier *c = driver(&g_sim, TOKEN);
    char sid[64], answered_by[32], err[256];
    int duration;
    place(c, "+15550100100", "/twiml", sid);
    wait_statuses(sid, "initiated ringing in-progress", answered_by, &duration);
    ck_assert_str_eq(answered_by, "human");
    ts_sleep_ms(TALK_MS * 4);
    struct carrier_call call;
    ck_assert_int_eq(carrier_fetch_call(c, sid, &call, err, sizeof err), CARRIER_OK);
    ck_assert_str_eq(call.status, "in-progress");
    ck_assert_int_eq(call.duration_seconds, -1);

    ck_assert_int_eq(carrier_hangup(c, sid, err, sizeof err), CARRIER_OK);
    wait_statuses(sid, "initiated ringing in-progress completed", answered_by, &duration);
    ck_assert_int_ge(duration, 1);
    ck_assert_int_eq(carrier_fetch_call(c, sid, &call, err, sizeof err), CARRIER_OK);
    ck_assert_str_eq(call.status, "completed");
    /* hanging up again changes nothing and is not an error */
    ck_assert_int_eq(carrier_hangup(c, sid, err, sizeof err), CARRIER_OK);
    carrier_close(c);
}
END_TEST

START_TEST(callback_retried_after_failures)
{
    struct carrier *c = driver(&g_sim, TOKEN);
    char sid[64], answered_by[32];
    int duration;
    pthread_mutex_lock(&g_rx.lock);
    g_rx.fail_next = 2;
    pthread_mutex_unlock(&g_rx.lock);
    place(c, "+15550100201", "/twiml", sid);
    /* the initiated callback fails twice, then everything arrives, in order */
    wait_statuses(sid, "initiated ringing in-progress completed", answered_by, &duration);
    ck_assert_int_eq(count_path("/status", sid), 6);
    json_t *stats = sim_stats(&g_sim);
    ck_assert_int_eq(json_integer_value(json_object_get(stats, "callbackRetries")), 2);
    ck_assert_int_eq(json_integer_value(json_object_get(stats, "callbackFailures")), 0);
    json_decref(stats);
    carrier_close(c);
}
END_TEST

START_TEST(bad_twiml_counted)
{
    struct carrier *c = driver(&g_sim, TOKEN);
    char sid[64], answered_by[32];
    int duration;
    place(c, "+15550100301", "/badtwiml", sid);
    wait_statuses(sid, "initiated ringing in-progress completed", answered_by, &duration);
    int64_t until = ts_now_ms() + WAIT_MS;
    json_t *stats = NULL;
    for (;;) {
        json_decref(stats);
        stats = sim_stats(&g_sim);
        if (json_integer_value(json_object_get(stats, "twimlErrors")) == 1 || ts_now_ms() > until)
            break;
        ts_sleep_ms(20);
    }
    ck_assert_int_eq(json_integer_value(json_object_get(stats, "twimlErrors")), 1);
    ck_assert_int_eq(json_integer_value(json_object_get(stats, "outcomesPosted")), 0);
    json_decref(stats);
    carrier_close(c);
}
END_TEST

START_TEST(errors_map_to_results)
{
    char err[256];
    struct carrier_call call;
    /* wrong auth token: 401, rejected */
    struct carrier *bad = driver(&g_sim, "wrong");
    ck_assert_int_eq(carrier_fetch_call(bad, "CA0123456789abcdef0123456789abcdef", &call, err,
                                        sizeof err),
                     CARRIER_REJECTED);
    ck_assert(strstr(err, "401") != NULL);
    carrier_close(bad);
    struct carrier *c = driver(&g_sim, TOKEN);
    ck_assert_int_eq(carrier_fetch_call(c, "CA0123456789abcdef0123456789abcdef", &call, err,
                                        sizeof err),
                     CARRIER_NOT_FOUND);
    ck_assert_int_eq(carrier_hangup(c, "CA0123456789abcdef0123456789abcdef", err, sizeof err),
                     CARRIER_NOT_FOUND);
    /* an invalid number: 400, rejected */
    struct carrier_call_request req = {.to = "12345", .twiml_url = "http://127.0.0.1:1/t"};
    ck_assert_int_eq(carrier_create_call(c, &req, &call, err, sizeof err), CARRIER_REJECTED);
    ck_assert(strstr(err, "21211") != NULL);
    carrier_close(c);
    /* nobody listening: transient */
    struct sim_proc nobody = {0};
    snprintf(nobody.base, sizeof nobody.base, "http://127.0.0.1:%d", ts_free_port());
    c = driver(&nobody, TOKEN);
    ck_assert_int_eq(carrier_fetch_call(c, "CA0123456789abcdef0123456789abcdef", &call, err,
                                        sizeof err),
                     CARRIER_TRANSIENT);
    carrier_close(c);
}
END_TEST

START_TEST(max_calls_answers_429)
{
    struct sim_proc s;
    sim_start(&s, "CARRIER_SIM_RING_MS=20000", "CARRIER_SIM_MAX_CALLS=2");
    struct carrier *c = driver(&s, TOKEN);
    char a[64], b[64], err[256];
    place(c, "+15550100401", "/twiml", a);
    place(c, "+15550100402", "/twiml", b);
    struct carrier_call call;
    struct carrier_call_request req = {.to = "+15550100403", .twiml_url = "http://127.0.0.1:1/t"};
    ck_assert_int_eq(carrier_create_call(c, &req, &call, err, sizeof err), CARRIER_TRANSIENT);
    ck_assert(strstr(err, "429") != NULL);
    /* a slot frees when a call ends: hang up one still ringing (canceled) */
    ck_assert_int_eq(carrier_hangup(c, a, err, sizeof err), CARRIER_OK);
    ck_assert_int_eq(carrier_fetch_call(c, a, &call, err, sizeof err), CARRIER_OK);
    ck_assert_str_eq(call.status, "canceled");
    ck_assert_int_eq(carrier_create_call(c, &req, &call, err, sizeof err), CARRIER_OK);
    json_t *stats = sim_stats(&s);
    ck_assert_int_eq(json_integer_value(json_object_get(stats, "rejected429")), 1);
    ck_assert_int_eq(json_integer_value(json_object_get(stats, "maxConcurrent")), 2);
    json_decref(stats);
    carrier_close(c);
    ts_proc_stop_ok(s.proc);
    ts_proc_free(s.proc);
}
END_TEST

START_TEST(cps_answers_429)
{
    struct sim_proc s;
    sim_start(&s, "CARRIER_SIM_CPS=2", NULL);
    struct carrier *c = driver(&s, TOKEN);
    int ok = 0, limited = 0;
    char err[256];
    for (int i = 0; i < 6; i++) {
        struct carrier_call call;
        struct carrier_call_request req = {.to = "+15550100501",
                                           .twiml_url = "http://127.0.0.1:1/t"};
        int rv = carrier_create_call(c, &req, &call, err, sizeof err);
        if (rv == CARRIER_OK)
            ok++;
        else if (rv == CARRIER_TRANSIENT && strstr(err, "429"))
            limited++;
    }
    /* six creates in well under a second or two: at most two per second get through */
    ck_assert_int_le(ok, 4);
    ck_assert_int_ge(limited, 2);
    ck_assert_int_eq(ok + limited, 6);
    carrier_close(c);
    ts_proc_stop_ok(s.proc);
    ts_proc_free(s.proc);
}
END_TEST

static Suite *carrier_sim_suite(void)
{
    Suite *s = suite_create("carrier_sim");
    TCase *tc = tcase_create("calls");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, outcome_by_last_digit);
    tcase_add_test(tc, never_hangs_up_until_hung_up);
    tcase_add_test(tc, callback_retried_after_failures);
    tcase_add_test(tc, bad_twiml_counted);
    tcase_add_test(tc, errors_map_to_results);
    suite_add_tcase(s, tc);
    tc = tcase_create("limits");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, max_calls_answers_429);
    tcase_add_test(tc, cps_answers_429);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    ts_init("carrier-sim");
    SRunner *sr = srunner_create(carrier_sim_suite());
    srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, CK_VERBOSE);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    rx_clear();
    if (g_rx.daemon)
        MHD_stop_daemon(g_rx.daemon);
    return ts_finish(failed);
}
