/* Outgoing requests of calls: status callbacks, the TwiML fetch of an answered call and, as
 * the voice agent, the outcome report. A pool of worker threads, each with its own curl easy
 * handle (connections kept alive per worker).
 *
 * Order: the requests of one call are a queue on the call (call->jobs_head); only one worker
 * works on a call at a time (call->delivery), so they go out in order. A failed request
 * (connection error or non-2xx) is tried again after a backoff (CARRIER_SIM_CALLBACK_BACKOFF_MS,
 * doubling) up to CARRIER_SIM_CALLBACK_RETRIES times; the wait is a timer entry, so no worker
 * sleeps through it and other calls go on. Then it is dropped and counted.
 *
 * Ownership: a worker copies what it sends while holding the lock and sends without it; the
 * job stays on the call until the worker takes the lock again. */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "carrier.h"
#include "log.h"
#include "sim.h"

#define DELIVERY_BACKOFF_CAP_MS 30000
#define DELIVERY_BODY_MAX (256u << 10)
#define FORM_PARAMS_MAX 16

/* ---- form encoding ---- */

struct sim_buf {
    char *data;
    size_t len, cap;
    bool failed;
};

static void buf_append(struct sim_buf *b, const char *s, size_t n)
{
    if (b->failed)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *grown = realloc(b->data, cap);
        if (grown == NULL) {
            b->failed = true;
            return;
        }
        b->data = grown;
        b->cap = cap;
    }
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

static void buf_encode(struct sim_buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
            *p == '-' || *p == '_' || *p == '.' || *p == '~') {
            buf_append(b, (const char *)p, 1);
        } else {
            char esc[3] = {'%', hex[*p >> 4], hex[*p & 15]};
            buf_append(b, esc, 3);
        }
    }
}

/* The form body of params, and its X-Twilio-Signature over url. 0, or -1 (out of memory). */
static int sign_form(const struct sim *sim, const char *url, const struct carrier_param *params,
                     size_t n, char **form, char **signature)
{
    struct sim_buf b = {0};
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            buf_append(&b, "&", 1);
        buf_encode(&b, params[i].name);
        buf_append(&b, "=", 1);
        buf_encode(&b, params[i].value);
    }
    char sig[64];
    if (b.failed || b.data == NULL ||
        carrier_signature(sim->config.auth_token, url, params, n, sig, sizeof sig) != 0) {
        free(b.data);
        return -1;
    }
    *form = b.data;
    *signature = strdup(sig);
    if (*signature == NULL) {
        free(b.data);
        return -1;
    }
    return 0;
}

/* The parameters every request about a call carries. Returns how many were written. */
static size_t call_params(const struct sim *sim, const struct call *call,
                          struct carrier_param *p, const char *status)
{
    size_t n = 0;
    p[n++] = (struct carrier_param){"CallSid", call->sid};
    p[n++] = (struct carrier_param){"AccountSid", sim->config.account_sid};
    p[n++] = (struct carrier_param){"From", call->from};
    p[n++] = (struct carrier_param){"To", call->to};
    p[n++] = (struct carrier_param){"Called", call->to};
    p[n++] = (struct carrier_param){"Caller", call->from};
    p[n++] = (struct carrier_param){"CallStatus", status};
    p[n++] = (struct carrier_param){"Direction", "outbound-api"};
    p[n++] = (struct carrier_param){"ApiVersion", "2010-04-01"};
    if (call->answered_by[0])
        p[n++] = (struct carrier_param){"AnsweredBy", call->answered_by};
    return n;
}

void sim_delivery_status_callback(struct sim *sim, struct call *call, unsigned event)
{
    if (call->status_callback == NULL || (call->events & event) == 0)
        return;
    struct carrier_param p[FORM_PARAMS_MAX];
    char timestamp[48], sequence[16], duration[16];
    size_t n = call_params(sim, call, p, call->status);
    sim_rfc2822(sim_wall_ms(), timestamp, sizeof timestamp);
    snprintf(sequence, sizeof sequence, "%d", call->sequence++);
    p[n++] = (struct carrier_param){"Timestamp", timestamp};
    p[n++] = (struct carrier_param){"SequenceNumber", sequence};
    p[n++] = (struct carrier_param){"CallbackSource", "call-progress-events"};
    if (call->phase == PHASE_ENDED) {
        snprintf(duration, sizeof duration, "%d", call->duration < 0 ? 0 : call->duration);
        p[n++] = (struct carrier_param){"CallDuration", duration};
    }
    struct job *job = calloc(1, sizeof *job);
    if (job == NULL || (job->url = strdup(call->status_callback)) == NULL ||
        sign_form(sim, call->status_callback, p, n, &job->form, &job->signature) != 0) {
        log_error(NULL, "carrier-sim: out of memory building a callback of %s", call->sid);
        sim_job_free(job);
        return;
    }
    job->kind = JOB_STATUS_CALLBACK;
    sim_call_enqueue(sim, call, job);
}

/* ---- the ready queue (lock held) ---- */

void sim_delivery_ready(struct sim *sim, struct call *call)
{
    call->delivery = DELIVERY_READY;
    call->ready_next = NULL;
    if (sim->ready_tail)
        sim->ready_tail->ready_next = call;
    else
        sim->ready_head = call;
    sim->ready_tail = call;
    pthread_cond_signal(&sim->ready_cond);
}

static struct call *ready_pop(struct sim *sim)
{
    struct call *call = sim->ready_head;
    if (call) {
        sim->ready_head = call->ready_next;
        if (sim->ready_head == NULL)
            sim->ready_tail = NULL;
        call->ready_next = NULL;
    }
    return call;
}

/* ---- one request ---- */

/* What a worker sends, copied out of the call under the lock. */
struct request {
    enum job_kind kind;
    char sid[35];
    char *url;
    char *body;
    char *signature;    /* X-Twilio-Signature, or NULL */
    char *bearer;       /* Authorization: Bearer, or NULL */
    bool json;
    char to[40];
};

static void request_free(struct request *r)
{
    free(r->url);
    free(r->body);
    free(r->signature);
    free(r->bearer);
    memset(r, 0, sizeof *r);
}

static const char *outcome_disposition(const char *to)
{
    switch (sim_last_digit(to)) {
    case 1:
    case 4:
        return "not_interested";
    case 2:
        return "callback_requested";
    default:
        return "interested";
    }
}

/* The outcome report of the voice agent. NULL when the TwiML named no outcomeUrl. */
static int build_outcome(struct sim *sim, struct call *call, struct request *r)
{
    const char *url = twiml_param(&call->twiml, "outcomeUrl");
    if (!call->twiml_fetched || url == NULL || url[0] == '\0')
        return 1;
    const char *token = twiml_param(&call->twiml, "outcomeToken");
    const char *disposition = outcome_disposition(call->to);
    char transcript[512], summary[256], recording[256];
    snprintf(transcript, sizeof transcript,
             "Agent: Hello, this is a call from Outdial. Do you have a minute?\n"
             "Contact: Yes, go ahead.\n"
             "Agent: Thank you. (carrier-sim call %s to %s)\n"
             "Contact: %s",
             call->sid, call->to,
             strcmp(disposition, "interested") == 0 ? "That sounds interesting."
             : strcmp(disposition, "callback_requested") == 0 ? "Please call me back later."
                                                               : "No, thank you.");
    snprintf(summary, sizeof summary, "Simulated conversation with %s: %s.", call->to,
             disposition);
    snprintf(recording, sizeof recording, "%s/sim/recordings/%s.wav", sim->config.public_base,
             call->sid);
    json_t *variables = json_object();
    for (int i = 0; i < call->twiml.nparams; i++) {
        const char *name = call->twiml.params[i].name;
        if (strcmp(name, "outcomeUrl") == 0 || strcmp(name, "outcomeToken") == 0)
            continue;
        json_object_set_new(variables, name, json_string(call->twiml.params[i].value));
    }
    json_t *body = json_pack("{s:s, s:s, s:s, s:s, s:o}", "disposition", disposition,
                             "transcript", transcript, "summary", summary, "recordingUrl",
                             recording, "variables", variables);
    r->body = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    r->url = strdup(url);
    r->bearer = token && token[0] ? strdup(token) : NULL;
    r->json = true;
    return r->body && r->url && (!token || !token[0] || r->bearer) ? 0 : -1;
}

/* Fills r from the call's first job. 0, 1 when there is nothing to send, -1 on no memory. */
static int request_build(struct sim *sim, struct call *call, struct request *r)
{
    struct job *job = call->jobs_head;
    memset(r, 0, sizeof *r);
    r->kind = job->kind;
    snprintf(r->sid, sizeof r->sid, "%s", call->sid);
    snprintf(r->to, sizeof r->to, "%s", call->to);
    switch (job->kind) {
    case JOB_STATUS_CALLBACK:
        r->url = strdup(job->url);
        r->body = strdup(job->form);
        r->signature = strdup(job->signature);
        return r->url && r->body && r->signature ? 0 : -1;
    case JOB_TWIML: {
        struct carrier_param p[FORM_PARAMS_MAX];
        size_t n = call_params(sim, call, p, "in-progress");
        r->url = strdup(call->url);
        if (r->url == NULL)
            return -1;
        return sign_form(sim, call->url, p, n, &r->body, &r->signature);
    }
    case JOB_OUTCOME:
        return build_outcome(sim, call, r);
    }
    return 1;
}

struct sim_worker {
    struct sim *sim;
    CURL *easy;
    struct sim_buf reply;
    char curl_error[CURL_ERROR_SIZE];
};

static size_t worker_write(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    struct sim_buf *b = userdata;
    size_t n = size * nmemb;
    if (b->len + n > DELIVERY_BODY_MAX)
        return 0;
    buf_append(b, ptr, n);
    return b->failed ? 0 : n;
}

#define WORKER_SETOPT(w, option, value)                                                         \
    do {                                                                                        \
        CURLcode setopt_rc_ = curl_easy_setopt((w)->easy, option, value);                      \
        if (setopt_rc_ != CURLE_OK) {                                                           \
            log_error(NULL, "carrier-sim: curl_easy_setopt(%s): %s", #option,                  \
                      curl_easy_strerror(setopt_rc_));                                          \
            return -1;                                                                          \
        }                                                                                       \
    } while (0)

static int worker_setup(struct sim_worker *w)
{
    const struct sim_config *cfg = &w->sim->config;
    WORKER_SETOPT(w, CURLOPT_NOSIGNAL, 1L);
    WORKER_SETOPT(w, CURLOPT_TIMEOUT_MS, (long)cfg->callback_timeout_ms);
    WORKER_SETOPT(w, CURLOPT_CONNECTTIMEOUT_MS, (long)cfg->callback_timeout_ms);
    WORKER_SETOPT(w, CURLOPT_FOLLOWLOCATION, 0L);
    WORKER_SETOPT(w, CURLOPT_PROTOCOLS_STR, "http,https");
    WORKER_SETOPT(w, CURLOPT_USERAGENT, "TwilioProxy/1.1 (carrier-sim)");
    WORKER_SETOPT(w, CURLOPT_WRITEFUNCTION, worker_write);
    WORKER_SETOPT(w, CURLOPT_WRITEDATA, &w->reply);
    WORKER_SETOPT(w, CURLOPT_ERRORBUFFER, w->curl_error);
    WORKER_SETOPT(w, CURLOPT_POST, 1L);
    return 0;
}

/* Sends r. Returns the HTTP status, or 0 when none arrived (err says why). */
static long worker_send(struct sim_worker *w, const struct request *r)
{
    struct curl_slist *headers = NULL;
    char line[512];
    long status = 0;
    w->reply.len = 0;
    w->reply.failed = false;
    if (w->reply.data)
        w->reply.data[0] = '\0';
    w->curl_error[0] = '\0';
    headers = curl_slist_append(headers, r->json ? "Content-Type: application/json"
                                                 : "Content-Type: application/x-www-form-urlencoded");
    if (r->signature) {
        snprintf(line, sizeof line, "X-Twilio-Signature: %s", r->signature);
        headers = curl_slist_append(headers, line);
    }
    if (r->bearer) {
        snprintf(line, sizeof line, "Authorization: Bearer %s", r->bearer);
        headers = curl_slist_append(headers, line);
    }
    headers = curl_slist_append(headers, "Expect:");
    if (headers == NULL) {
        snprintf(w->curl_error, sizeof w->curl_error, "out of memory");
        return 0;
    }
    CURLcode rc = curl_easy_setopt(w->easy, CURLOPT_URL, r->url);
    if (rc == CURLE_OK)
        rc = curl_easy_setopt(w->easy, CURLOPT_HTTPHEADER, headers);
    if (rc == CURLE_OK)
        rc = curl_easy_setopt(w->easy, CURLOPT_POSTFIELDSIZE, (long)strlen(r->body));
    if (rc == CURLE_OK)
        rc = curl_easy_setopt(w->easy, CURLOPT_POSTFIELDS, r->body);
    if (rc == CURLE_OK)
        rc = curl_easy_perform(w->easy);
    if (rc == CURLE_OK && curl_easy_getinfo(w->easy, CURLINFO_RESPONSE_CODE, &status) != CURLE_OK)
        status = 0;
    if (rc != CURLE_OK && w->curl_error[0] == '\0')
        snprintf(w->curl_error, sizeof w->curl_error, "%s", curl_easy_strerror(rc));
    /* the handle must not keep a pointer to the freed list */
    (void)curl_easy_setopt(w->easy, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(headers);
    return status;
}

static const char *job_name(enum job_kind kind)
{
    return kind == JOB_STATUS_CALLBACK ? "status callback"
           : kind == JOB_TWIML         ? "TwiML fetch"
                                       : "outcome";
}

/* After a request: record what it means and move the call's queue on (lock held). */
static void worker_done(struct sim_worker *w, struct call *call, const struct request *r, long status,
                        struct twiml_result *twiml)
{
    struct sim *sim = w->sim;
    struct sim_stats *s = &sim->stats;
    struct job *job = call->jobs_head;
    bool ok = status >= 200 && status < 300;
    if (!ok) {
        job->attempts++;
        if (job->attempts <= sim->config.callback_retries && !sim->stopping) {
            s->callback_retries++;
            int64_t backoff = sim->config.callback_backoff_ms;
            for (int i = 1; i < job->attempts && backoff < DELIVERY_BACKOFF_CAP_MS; i++)
                backoff *= 2;
            if (backoff > DELIVERY_BACKOFF_CAP_MS)
                backoff = DELIVERY_BACKOFF_CAP_MS;
            call->delivery = DELIVERY_WAIT_RETRY;
            if (sim_timer_add(sim, sim_mono_ms() + backoff, call, true) == 0)
                return;
            call->delivery = DELIVERY_BUSY; /* no memory for a timer: give up on it */
        }
        if (status)
            log_warn(NULL, "carrier-sim: %s of %s to %s failed %d times (last: HTTP %ld)",
                     job_name(r->kind), r->sid, r->url, job->attempts, status);
        else
            log_warn(NULL, "carrier-sim: %s of %s to %s failed %d times (last: %s)",
                     job_name(r->kind), r->sid, r->url, job->attempts, w->curl_error);
        if (r->kind == JOB_STATUS_CALLBACK)
            s->callback_failures++;
        else if (r->kind == JOB_TWIML)
            s->twiml_errors++;
        else
            s->outcome_failures++;
    } else if (r->kind == JOB_STATUS_CALLBACK) {
        s->callbacks_sent++;
    } else if (r->kind == JOB_TWIML) {
        s->twiml_fetched++;
        if (!twiml->ok) {
            s->twiml_errors++;
            log_warn(NULL, "carrier-sim: bad TwiML for %s from %s: %s", r->sid, r->url,
                     twiml->error);
        }
        twiml_result_free(&call->twiml);
        call->twiml = *twiml; /* the call owns it now */
        memset(twiml, 0, sizeof *twiml);
        call->twiml_fetched = call->twiml.ok;
    } else {
        s->outcomes_posted++;
    }
    sim_call_pop_job(call);
    call->delivery = DELIVERY_IDLE;
    if (call->jobs_head)
        sim_delivery_ready(sim, call);
}

static void *worker_main(void *arg)
{
    struct sim_worker *w = arg;
    struct sim *sim = w->sim;
    pthread_mutex_lock(&sim->lock);
    for (;;) {
        while (!sim->stopping && sim->ready_head == NULL)
            pthread_cond_wait(&sim->ready_cond, &sim->lock);
        if (sim->stopping)
            break;
        struct call *call = ready_pop(sim);
        call->delivery = DELIVERY_BUSY;
        if (call->jobs_head == NULL) {
            call->delivery = DELIVERY_IDLE;
            continue;
        }
        struct request r;
        int built = request_build(sim, call, &r);
        if (built != 0) {
            if (built < 0)
                log_error(NULL, "carrier-sim: out of memory sending for %s", call->sid);
            request_free(&r);
            sim_call_pop_job(call);
            call->delivery = DELIVERY_IDLE;
            if (call->jobs_head)
                sim_delivery_ready(sim, call);
            continue;
        }
        pthread_mutex_unlock(&sim->lock);

        long status = worker_send(w, &r);
        struct twiml_result twiml = {0};
        if (r.kind == JOB_TWIML && status >= 200 && status < 300)
            twiml_check(w->reply.data, w->reply.len, &twiml);

        pthread_mutex_lock(&sim->lock);
        worker_done(w, call, &r, status, &twiml);
        twiml_result_free(&twiml);
        request_free(&r);
    }
    pthread_mutex_unlock(&sim->lock);
    return NULL;
}

int sim_delivery_start(struct sim *sim)
{
    int n = sim->config.callback_workers;
    if (pthread_cond_init(&sim->ready_cond, NULL) != 0)
        return -1;
    sim->worker_state = calloc((size_t)n, sizeof *sim->worker_state);
    sim->workers = calloc((size_t)n, sizeof *sim->workers);
    if (sim->worker_state == NULL || sim->workers == NULL)
        return -1;
    for (int i = 0; i < n; i++) {
        struct sim_worker *w = &sim->worker_state[i];
        w->sim = sim;
        w->easy = curl_easy_init();
        if (w->easy == NULL || worker_setup(w) != 0)
            return -1;
        if (pthread_create(&sim->workers[i], NULL, worker_main, w) != 0)
            return -1;
        sim->nworkers = i + 1;
    }
    return 0;
}

void sim_delivery_stop(struct sim *sim)
{
    pthread_mutex_lock(&sim->lock);
    sim->stopping = true;
    pthread_cond_broadcast(&sim->ready_cond);
    pthread_mutex_unlock(&sim->lock);
    for (int i = 0; i < sim->nworkers; i++)
        pthread_join(sim->workers[i], NULL);
    if (sim->worker_state) {
        for (int i = 0; i < sim->config.callback_workers; i++) {
            if (sim->worker_state[i].easy)
                curl_easy_cleanup(sim->worker_state[i].easy);
            free(sim->worker_state[i].reply.data);
        }
    }
    free(sim->worker_state);
    sim->worker_state = NULL;
    free(sim->workers);
    sim->workers = NULL;
    sim->nworkers = 0;
    pthread_cond_destroy(&sim->ready_cond);
}
