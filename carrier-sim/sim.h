/* carrier-sim: a local carrier that serves the Twilio-compatible Calls API (2010-04-01) and
 * plays calls out, so the production carrier driver (lib/carrier.h) is what the tests drive.
 *
 * Files:
 *   main.c      configuration (CARRIER_SIM_* environment), start-up, SIGTERM
 *   http.c      the HTTP server (libmicrohttpd): Calls API, /healthz, /readyz, /sim/...
 *   calls.c     the call table and each call's state machine, played on a timer thread
 *   delivery.c  outgoing requests: status callbacks, TwiML fetch, the agent's outcome, with
 *               retries; the requests of one call go out in order
 *   twiml.c     the TwiML check (well-formed, <Response>, <Connect><Stream> or <Say>)
 *   stats.c     /sim/stats counters: calls placed, concurrency overall and per number
 *
 * Threads and locks: one mutex, sim->lock, guards the call table, the stats, the timer heap
 * and the delivery queue. libmicrohttpd's threads, the timer thread and the delivery workers
 * take it for short in-memory work only; no network I/O is done while holding it. */
#ifndef CARRIER_SIM_H
#define CARRIER_SIM_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct sim_config {
    char listen_host[64];
    int listen_port;
    char health_host[64]; /* HEALTH_LISTEN when it names another port, else health_port 0 */
    int health_port;
    char public_base[128]; /* http://host:port, for recording URLs and uris */
    char account_sid[64];
    char auth_token[128];
    int ring_ms;
    int talk_ms;
    int cps;       /* creates per second, 0 = unlimited */
    int max_calls; /* calls between create and a terminal state, 0 = unlimited */
    int callback_retries;
    int callback_backoff_ms;
    int callback_timeout_ms;
    int callback_workers;
    int http_threads;
    size_t max_remembered_calls;
    size_t max_numbers; /* byTo / byFrom entries each */
};

/* ---- a string-keyed hash map (stats.c); values are owned by the caller ---- */
struct sim_map_entry {
    char *key;
    void *value;
    struct sim_map_entry *next;
};
struct sim_map {
    struct sim_map_entry **buckets;
    size_t nbuckets;
    size_t count;
};
void *sim_map_get(const struct sim_map *m, const char *key);
/* 0, or -1 on allocation failure. The key is copied. */
int sim_map_put(struct sim_map *m, const char *key, void *value);
void *sim_map_remove(struct sim_map *m, const char *key);
/* Calls fn on every value, then empties the map. */
void sim_map_clear(struct sim_map *m, void (*fn)(void *value));

/* ---- TwiML (twiml.c) ---- */
#define TWIML_PARAMS_MAX 32
struct twiml_param {
    char *name;
    char *value;
};
struct twiml_result {
    bool ok;               /* well-formed, <Response>, and <Connect><Stream url> or <Say> */
    char error[128];       /* why not, when !ok */
    char *stream_url;      /* NULL when there is no <Stream> */
    bool has_say;
    struct twiml_param params[TWIML_PARAMS_MAX]; /* <Parameter name value/> of the Stream */
    int nparams;
};
/* Parses body (len bytes). Always fills result; free with twiml_result_free. */
void twiml_check(const char *body, size_t len, struct twiml_result *result);
void twiml_result_free(struct twiml_result *result);
const char *twiml_param(const struct twiml_result *result, const char *name);

/* ---- calls (calls.c) ---- */

enum call_phase {
    PHASE_QUEUED,
    PHASE_RINGING,     /* initiated + ringing */
    PHASE_IN_PROGRESS, /* answered */
    PHASE_ENDED,       /* completed, busy, no-answer, failed, canceled */
};

enum job_kind { JOB_STATUS_CALLBACK, JOB_TWIML, JOB_OUTCOME };

/* One outgoing request of a call. Status callbacks are built when queued (they describe the
 * call at that moment); the TwiML fetch and the outcome are built when sent. */
struct job {
    enum job_kind kind;
    char *url;  /* status callbacks */
    char *form; /* status callbacks: form body */
    char *signature;
    int attempts;
    struct job *next;
};

enum delivery_state { DELIVERY_IDLE, DELIVERY_READY, DELIVERY_BUSY, DELIVERY_WAIT_RETRY };

struct call {
    char sid[35];
    char to[40];
    char from[40];
    char *url;             /* TwiML */
    char *status_callback; /* NULL: none */
    unsigned events;       /* CALL_EVENT_* bits */
    bool machine_detection;
    char status[16];
    char answered_by[24];  /* "" until answered */
    int64_t created_ms;    /* wall clock */
    int64_t updated_ms;
    int64_t start_ms;      /* 0 until initiated */
    int64_t answer_ms;     /* 0 until answered */
    int64_t end_ms;        /* 0 until ended */
    int duration;          /* seconds, -1 until ended */
    enum call_phase phase;
    unsigned generation;   /* bumped on every transition: older timer entries are stale */
    int sequence;          /* next SequenceNumber of a status callback */
    bool counted_active;   /* in the concurrency counts */
    bool to_tracked, from_tracked;
    struct twiml_result twiml;
    bool twiml_fetched;
    /* delivery */
    struct job *jobs_head, *jobs_tail;
    enum delivery_state delivery;
    struct call *ready_next;
    int timer_refs;        /* timer entries that point here */
    /* creation order, newest first */
    struct call *newer, *older;
};

#define CALL_EVENT_INITIATED 1u
#define CALL_EVENT_RINGING 2u
#define CALL_EVENT_ANSWERED 4u
#define CALL_EVENT_COMPLETED 8u

struct number_stats {
    long long calls;
    int active;
    int max_active;
};

struct sim_stats {
    long long calls_placed;
    int active;
    int max_active;
    long long rejected_429, rejected_cps, rejected_max_calls, rejected_400;
    long long callbacks_sent, callback_failures, callback_retries;
    long long twiml_fetched, twiml_errors;
    long long outcomes_posted, outcome_failures;
    long long by_status[9];
    long long evicted;
    long long numbers_dropped;
    struct sim_map by_to, by_from; /* struct number_stats * */
};

struct timer_entry {
    int64_t due_ms; /* monotonic */
    uint64_t order; /* FIFO among equal due times */
    struct call *call;
    unsigned generation; /* TIMER_RETRY: ignored */
    bool retry;          /* make the call's delivery ready again */
};

struct sim_worker;
struct MHD_Daemon;

struct sim {
    struct sim_config config;
    pthread_mutex_t lock;
    /* calls */
    struct sim_map calls; /* sid -> struct call * */
    struct call *newest, *oldest;
    size_t ncalls;
    int64_t cps_second;
    int cps_count;
    struct sim_stats stats;
    /* timer */
    pthread_t timer_thread;
    bool timer_started;
    pthread_cond_t timer_cond;
    struct timer_entry *heap;
    size_t heap_len, heap_cap;
    uint64_t timer_order;
    /* delivery */
    pthread_cond_t ready_cond;
    struct call *ready_head, *ready_tail;
    pthread_t *workers;
    struct sim_worker *worker_state; /* delivery.c's per-worker curl handles */
    int nworkers;
    bool stopping;
    /* http */
    struct MHD_Daemon *daemon, *health_daemon;
};

/* calls.c. sim_calls_... with the lock held unless said otherwise. */
int sim_calls_init(struct sim *sim);
int sim_timer_start(struct sim *sim); /* lock not held */
void sim_timer_stop(struct sim *sim); /* lock not held */
void sim_calls_free(struct sim *sim);
struct call *sim_call_find(struct sim *sim, const char *sid);

struct call_create {
    const char *to, *from, *url, *status_callback;
    unsigned events;
    bool machine_detection;
};
/* Creates and starts playing a call. NULL with http_status, code and message set when refused. */
struct call *sim_call_create(struct sim *sim, const struct call_create *req, int *http_status,
                             int *code, const char **message);
/* Status=completed|canceled. */
void sim_call_update_status(struct sim *sim, struct call *call, const char *status);
/* Schedules a timer entry (lock held). */
int sim_timer_add(struct sim *sim, int64_t due_ms, struct call *call, bool retry);

/* The Twilio call resource (a new reference). */
json_t *sim_call_json(const struct sim *sim, const struct call *call);
/* Appends an outgoing request to the call's queue and wakes a worker (lock held). */
void sim_call_enqueue(struct sim *sim, struct call *call, struct job *job);
/* Frees the first job of the call (lock held). */
void sim_call_pop_job(struct call *call);
void sim_job_free(struct job *job);

/* delivery.c */
int sim_delivery_start(struct sim *sim); /* lock not held */
void sim_delivery_stop(struct sim *sim); /* lock not held; after sim_timer_stop */
/* A call's delivery became ready (lock held). */
void sim_delivery_ready(struct sim *sim, struct call *call);
/* Builds a status callback job for the call's current state, when the event was asked for. */
void sim_delivery_status_callback(struct sim *sim, struct call *call, unsigned event);

/* stats.c (lock held) */
void sim_stats_call_started(struct sim *sim, struct call *call);
void sim_stats_call_ended(struct sim *sim, struct call *call);
/* The /sim/stats document; numbers false leaves byTo and byFrom null (a poll of the counters
 * during a 10,000-call run must not build, under sim->lock, an entry per number called). */
json_t *sim_stats_json(struct sim *sim, bool numbers);
void sim_stats_reset(struct sim *sim);
void sim_stats_free(struct sim *sim);

/* http.c (lock not held) */
int sim_http_start(struct sim *sim);
void sim_http_stop(struct sim *sim);

/* Small shared helpers (calls.c). */
int64_t sim_wall_ms(void);
int64_t sim_mono_ms(void);
/* "Tue, 31 Aug 2010 20:36:28 +0000" */
void sim_rfc2822(int64_t wall_ms, char *buf, size_t size);
/* The last digit of a number, or -1. */
int sim_last_digit(const char *number);
bool sim_never_hangs_up(const char *number);

#endif
