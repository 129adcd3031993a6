/* The call table and each call's state machine, played on one timer thread.
 *
 *   create -> queued -> (timer, now) initiated, ringing -> (timer, CARRIER_SIM_RING_MS) the
 *   outcome chosen by the last digit of To:
 *     0-5  in-progress, AnsweredBy=human; TwiML fetched; after CARRIER_SIM_TALK_MS completed,
 *          then the agent's outcome is posted
 *     6    busy        7  no-answer        8  failed
 *     9    in-progress, AnsweredBy=machine_end_beep; TwiML fetched; completed after the talk
 *   A number ending in 00 is answered (human) and never hangs up until updated.
 *
 * Every transition bumps call->generation, so a timer entry made for an earlier state (a call
 * hung up while ringing) is ignored when it fires. A call is forgotten (evicted, oldest first)
 * only when it has ended, has nothing left to deliver and no timer entry points at it. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "log.h"
#include "sim.h"

#define EVICT_SCAN_MAX 64

int64_t sim_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t sim_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void sim_rfc2822(int64_t wall_ms, char *buf, size_t size)
{
    time_t t = (time_t)(wall_ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    snprintf(buf, size, "%s, %02d %s %04d %02d:%02d:%02d +0000", days[tm.tm_wday], tm.tm_mday,
             months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

int sim_last_digit(const char *number)
{
    size_t n = number ? strlen(number) : 0;
    if (n == 0 || number[n - 1] < '0' || number[n - 1] > '9')
        return -1;
    return number[n - 1] - '0';
}

bool sim_never_hangs_up(const char *number)
{
    size_t n = number ? strlen(number) : 0;
    return n >= 2 && number[n - 1] == '0' && number[n - 2] == '0';
}

/* ---- jobs ---- */

void sim_job_free(struct job *job)
{
    if (job == NULL)
        return;
    free(job->url);
    free(job->form);
    free(job->signature);
    free(job);
}

void sim_call_enqueue(struct sim *sim, struct call *call, struct job *job)
{
    job->next = NULL;
    if (call->jobs_tail)
        call->jobs_tail->next = job;
    else
        call->jobs_head = job;
    call->jobs_tail = job;
    if (call->delivery == DELIVERY_IDLE)
        sim_delivery_ready(sim, call);
}

void sim_call_pop_job(struct call *call)
{
    struct job *job = call->jobs_head;
    if (job == NULL)
        return;
    call->jobs_head = job->next;
    if (call->jobs_head == NULL)
        call->jobs_tail = NULL;
    sim_job_free(job);
}

static void call_free(struct call *call)
{
    while (call->jobs_head)
        sim_call_pop_job(call);
    twiml_result_free(&call->twiml);
    free(call->url);
    free(call->status_callback);
    free(call);
}

/* ---- the timer heap ---- */

static bool timer_before(const struct timer_entry *a, const struct timer_entry *b)
{
    return a->due_ms < b->due_ms || (a->due_ms == b->due_ms && a->order < b->order);
}

int sim_timer_add(struct sim *sim, int64_t due_ms, struct call *call, bool retry)
{
    if (sim->heap_len == sim->heap_cap) {
        size_t cap = sim->heap_cap ? sim->heap_cap * 2 : 1024;
        struct timer_entry *grown = realloc(sim->heap, cap * sizeof *grown);
        if (grown == NULL)
            return -1;
        sim->heap = grown;
        sim->heap_cap = cap;
    }
    struct timer_entry e = {due_ms, sim->timer_order++, call, call->generation, retry};
    size_t i = sim->heap_len++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!timer_before(&e, &sim->heap[parent]))
            break;
        sim->heap[i] = sim->heap[parent];
        i = parent;
    }
    sim->heap[i] = e;
    call->timer_refs++;
    pthread_cond_signal(&sim->timer_cond);
    return 0;
}

static struct timer_entry timer_pop(struct sim *sim)
{
    struct timer_entry top = sim->heap[0];
    struct timer_entry last = sim->heap[--sim->heap_len];
    size_t i = 0;
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= sim->heap_len)
            break;
        if (child + 1 < sim->heap_len && timer_before(&sim->heap[child + 1], &sim->heap[child]))
            child++;
        if (!timer_before(&sim->heap[child], &last))
            break;
        sim->heap[i] = sim->heap[child];
        i = child;
    }
    if (sim->heap_len > 0)
        sim->heap[i] = last;
    return top;
}

/* ---- transitions (lock held) ---- */

static void call_set_status(struct call *call, const char *status)
{
    snprintf(call->status, sizeof call->status, "%s", status);
    call->updated_ms = sim_wall_ms();
    call->generation++;
}

static void call_job_add(struct sim *sim, struct call *call, enum job_kind kind)
{
    struct job *job = calloc(1, sizeof *job);
    if (job == NULL) {
        log_error(NULL, "carrier-sim: out of memory queuing a request of %s", call->sid);
        return;
    }
    job->kind = kind;
    sim_call_enqueue(sim, call, job);
}

static void call_end(struct sim *sim, struct call *call, const char *status, int duration)
{
    call_set_status(call, status);
    call->phase = PHASE_ENDED;
    call->end_ms = call->updated_ms;
    call->duration = duration;
    sim_stats_call_ended(sim, call);
    sim_delivery_status_callback(sim, call, CALL_EVENT_COMPLETED);
    /* As the voice agent: a person's call ends with an outcome report. */
    if (strcmp(status, "completed") == 0 && strcmp(call->answered_by, "human") == 0)
        call_job_add(sim, call, JOB_OUTCOME);
}

static void call_answer(struct sim *sim, struct call *call, const char *answered_by)
{
    call_set_status(call, "in-progress");
    snprintf(call->answered_by, sizeof call->answered_by, "%s", answered_by);
    call->phase = PHASE_IN_PROGRESS;
    call->answer_ms = call->updated_ms;
    sim_delivery_status_callback(sim, call, CALL_EVENT_ANSWERED);
    call_job_add(sim, call, JOB_TWIML);
    if (!sim_never_hangs_up(call->to))
        sim_timer_add(sim, sim_mono_ms() + sim->config.talk_ms, call, false);
}

static int talk_seconds(int64_t talk_ms)
{
    return talk_ms <= 0 ? 0 : (int)((talk_ms + 999) / 1000);
}

static void call_step(struct sim *sim, struct call *call)
{
    switch (call->phase) {
    case PHASE_QUEUED:
        call_set_status(call, "initiated");
        call->start_ms = call->updated_ms;
        sim_delivery_status_callback(sim, call, CALL_EVENT_INITIATED);
        call_set_status(call, "ringing");
        call->phase = PHASE_RINGING;
        sim_delivery_status_callback(sim, call, CALL_EVENT_RINGING);
        sim_timer_add(sim, sim_mono_ms() + sim->config.ring_ms, call, false);
        break;
    case PHASE_RINGING:
        if (sim_never_hangs_up(call->to)) {
            call_answer(sim, call, "human");
            break;
        }
        switch (sim_last_digit(call->to)) {
        case 6:
            call_end(sim, call, "busy", 0);
            break;
        case 7:
            call_end(sim, call, "no-answer", 0);
            break;
        case 8:
            call_end(sim, call, "failed", 0);
            break;
        case 9:
            call_answer(sim, call, "machine_end_beep");
            break;
        default:
            call_answer(sim, call, "human");
            break;
        }
        break;
    case PHASE_IN_PROGRESS:
        call_end(sim, call, "completed", talk_seconds(sim->config.talk_ms));
        break;
    case PHASE_ENDED:
        break;
    }
}

void sim_call_update_status(struct sim *sim, struct call *call, const char *status)
{
    if (call->phase == PHASE_ENDED)
        return;
    if (call->phase == PHASE_IN_PROGRESS) {
        /* Twilio: canceled does not touch a call in progress; completed hangs it up. */
        if (strcmp(status, "completed") != 0)
            return;
        int64_t talked = sim_wall_ms() - call->answer_ms;
        int seconds = talk_seconds(talked);
        if (seconds == 0 && talked >= 0)
            seconds = 1;
        call_end(sim, call, "completed", seconds);
        return;
    }
    /* queued or ringing: either word cancels it */
    call_end(sim, call, "canceled", 0);
}

/* ---- the table ---- */

struct call *sim_call_find(struct sim *sim, const char *sid)
{
    return sim_map_get(&sim->calls, sid);
}

static bool call_evictable(const struct call *call)
{
    return call->phase == PHASE_ENDED && call->jobs_head == NULL &&
           call->delivery == DELIVERY_IDLE && call->timer_refs == 0;
}

static void call_unlink(struct sim *sim, struct call *call)
{
    if (call->newer)
        call->newer->older = call->older;
    else
        sim->newest = call->older;
    if (call->older)
        call->older->newer = call->newer;
    else
        sim->oldest = call->newer;
    sim_map_remove(&sim->calls, call->sid);
    sim->ncalls--;
}

static void calls_evict(struct sim *sim)
{
    struct call *call = sim->oldest;
    for (int scanned = 0; call && scanned < EVICT_SCAN_MAX &&
                          sim->ncalls >= sim->config.max_remembered_calls;
         scanned++) {
        struct call *newer = call->newer;
        if (call_evictable(call)) {
            call_unlink(sim, call);
            call_free(call);
            sim->stats.evicted++;
        }
        call = newer;
    }
}

static void call_new_sid(char sid[35])
{
    unsigned char bytes[16];
    size_t got = 0;
    while (got < sizeof bytes) {
        ssize_t n = getrandom(bytes + got, sizeof bytes - got, 0);
        if (n > 0)
            got += (size_t)n;
    }
    static const char hex[] = "0123456789abcdef";
    sid[0] = 'C';
    sid[1] = 'A';
    for (int i = 0; i < 16; i++) {
        sid[2 + 2 * i] = hex[bytes[i] >> 4];
        sid[3 + 2 * i] = hex[bytes[i] & 15];
    }
    sid[34] = '\0';
}

struct call *sim_call_create(struct sim *sim, const struct call_create *req, int *http_status,
                             int *code, const char **message)
{
    const struct sim_config *cfg = &sim->config;
    if (cfg->cps > 0) {
        int64_t second = sim_mono_ms() / 1000;
        if (second != sim->cps_second) {
            sim->cps_second = second;
            sim->cps_count = 0;
        }
        if (sim->cps_count >= cfg->cps) {
            sim->stats.rejected_429++;
            sim->stats.rejected_cps++;
            *http_status = 429;
            *code = 20429;
            *message = "Too Many Requests: calls per second limit reached";
            return NULL;
        }
    }
    if (cfg->max_calls > 0 && sim->stats.active >= cfg->max_calls) {
        sim->stats.rejected_429++;
        sim->stats.rejected_max_calls++;
        *http_status = 429;
        *code = 20429;
        *message = "Too Many Requests: concurrent calls limit reached";
        return NULL;
    }
    if (sim->ncalls >= cfg->max_remembered_calls)
        calls_evict(sim);

    struct call *call = calloc(1, sizeof *call);
    if (call == NULL)
        goto oom;
    do
        call_new_sid(call->sid);
    while (sim_call_find(sim, call->sid) != NULL);
    snprintf(call->to, sizeof call->to, "%s", req->to);
    snprintf(call->from, sizeof call->from, "%s", req->from);
    call->url = strdup(req->url);
    call->status_callback = req->status_callback ? strdup(req->status_callback) : NULL;
    if (call->url == NULL || (req->status_callback && call->status_callback == NULL))
        goto oom;
    call->events = req->events;
    call->machine_detection = req->machine_detection;
    call->duration = -1;
    call->created_ms = call->updated_ms = sim_wall_ms();
    snprintf(call->status, sizeof call->status, "queued");
    call->phase = PHASE_QUEUED;
    if (sim_map_put(&sim->calls, call->sid, call) != 0)
        goto oom;
    call->older = sim->newest;
    if (sim->newest)
        sim->newest->newer = call;
    else
        sim->oldest = call;
    sim->newest = call;
    sim->ncalls++;
    if (cfg->cps > 0)
        sim->cps_count++;
    sim_stats_call_started(sim, call);
    sim_timer_add(sim, sim_mono_ms(), call, false);
    return call;
oom:
    if (call)
        call_free(call);
    *http_status = 500;
    *code = 20500;
    *message = "Internal Server Error: out of memory";
    return NULL;
}

/* ---- the call resource ---- */

static json_t *time_or_null(int64_t wall_ms)
{
    char buf[48];
    if (wall_ms <= 0)
        return json_null();
    sim_rfc2822(wall_ms, buf, sizeof buf);
    return json_string(buf);
}

json_t *sim_call_json(const struct sim *sim, const struct call *call)
{
    char base[256], duration[16], sub[384];
    snprintf(base, sizeof base, "/2010-04-01/Accounts/%s/Calls/%s", sim->config.account_sid,
             call->sid);
    snprintf(duration, sizeof duration, "%d", call->duration);
    json_t *subresources = json_object();
    static const char *const names[] = {"feedback",      "notifications", "recordings",
                                        "streams",       "payments",      "user_defined_message_subscriptions",
                                        "user_defined_messages", "events", "siprec",
                                        "transcriptions", "feedback_summaries"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        const char *file = names[i];
        char cap[64];
        /* Twilio's file names are CamelCase: notifications -> Notifications.json */
        snprintf(cap, sizeof cap, "%s", file);
        if (strcmp(file, "user_defined_message_subscriptions") == 0)
            snprintf(cap, sizeof cap, "UserDefinedMessageSubscriptions");
        else if (strcmp(file, "user_defined_messages") == 0)
            snprintf(cap, sizeof cap, "UserDefinedMessages");
        else if (strcmp(file, "feedback_summaries") == 0)
            snprintf(cap, sizeof cap, "FeedbackSummary");
        else if (strcmp(file, "siprec") == 0)
            snprintf(cap, sizeof cap, "Siprec");
        else
            cap[0] = (char)(cap[0] - 'a' + 'A');
        if (strcmp(file, "feedback_summaries") == 0)
            snprintf(sub, sizeof sub, "/2010-04-01/Accounts/%s/Calls/FeedbackSummary.json",
                     sim->config.account_sid);
        else
            snprintf(sub, sizeof sub, "%s/%s.json", base, cap);
        json_object_set_new(subresources, file, json_string(sub));
    }
    char uri[300];
    snprintf(uri, sizeof uri, "%s.json", base);
    return json_pack(
        "{s:s, s:s, s:o, s:o, s:o, s:s, s:s, s:s, s:s, s:o, s:s, s:o, s:o, s:o, s:o, s:o, s:o,"
        " s:s, s:s, s:o, s:o, s:o, s:s, s:o, s:o, s:s}",
        "sid", call->sid, "account_sid", sim->config.account_sid,
        "date_created", time_or_null(call->created_ms),
        "date_updated", time_or_null(call->updated_ms),
        "parent_call_sid", json_null(),
        "to", call->to, "to_formatted", call->to, "from", call->from, "from_formatted", call->from,
        "phone_number_sid", json_null(),
        "status", call->status,
        "start_time", time_or_null(call->start_ms),
        "end_time", time_or_null(call->end_ms),
        "duration", call->duration >= 0 ? json_string(duration) : json_null(),
        "price", json_null(),
        "price_unit", json_string("USD"),
        "answered_by", call->answered_by[0] ? json_string(call->answered_by) : json_null(),
        "direction", "outbound-api",
        "api_version", "2010-04-01",
        "forwarded_from", json_null(),
        "group_sid", json_null(),
        "caller_name", json_null(),
        "queue_time", "0",
        "trunk_sid", json_null(),
        "subresource_uris", subresources,
        "uri", uri);
}

/* ---- the timer thread ---- */

static void *timer_main(void *arg)
{
    struct sim *sim = arg;
    pthread_mutex_lock(&sim->lock);
    while (!sim->stopping) {
        if (sim->heap_len == 0) {
            pthread_cond_wait(&sim->timer_cond, &sim->lock);
            continue;
        }
        int64_t now = sim_mono_ms();
        if (sim->heap[0].due_ms > now) {
            int64_t due = sim->heap[0].due_ms;
            struct timespec ts = {(time_t)(due / 1000), (long)(due % 1000) * 1000000L};
            pthread_cond_timedwait(&sim->timer_cond, &sim->lock, &ts);
            continue;
        }
        struct timer_entry e = timer_pop(sim);
        e.call->timer_refs--;
        if (e.retry) {
            if (e.call->delivery == DELIVERY_WAIT_RETRY) {
                e.call->delivery = DELIVERY_IDLE;
                if (e.call->jobs_head)
                    sim_delivery_ready(sim, e.call);
            }
        } else if (e.generation == e.call->generation) {
            call_step(sim, e.call);
        }
    }
    pthread_mutex_unlock(&sim->lock);
    return NULL;
}

int sim_calls_init(struct sim *sim)
{
    pthread_condattr_t attr;
    if (pthread_condattr_init(&attr) != 0)
        return -1;
    int rv = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    if (rv == 0)
        rv = pthread_cond_init(&sim->timer_cond, &attr);
    pthread_condattr_destroy(&attr);
    return rv == 0 ? 0 : -1;
}

int sim_timer_start(struct sim *sim)
{
    if (pthread_create(&sim->timer_thread, NULL, timer_main, sim) != 0)
        return -1;
    sim->timer_started = true;
    return 0;
}

void sim_timer_stop(struct sim *sim)
{
    pthread_mutex_lock(&sim->lock);
    sim->stopping = true;
    pthread_cond_broadcast(&sim->timer_cond);
    pthread_cond_broadcast(&sim->ready_cond);
    pthread_mutex_unlock(&sim->lock);
    if (sim->timer_started)
        pthread_join(sim->timer_thread, NULL);
    sim->timer_started = false;
}

static void call_free_value(void *value)
{
    call_free(value);
}

void sim_calls_free(struct sim *sim)
{
    sim_map_clear(&sim->calls, call_free_value);
    free(sim->calls.buckets);
    sim->calls.buckets = NULL;
    sim->newest = sim->oldest = NULL;
    sim->ncalls = 0;
    free(sim->heap);
    sim->heap = NULL;
    sim->heap_len = sim->heap_cap = 0;
    pthread_cond_destroy(&sim->timer_cond);
}
