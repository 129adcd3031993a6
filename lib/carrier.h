/* The carrier driver: what dialer-svc needs from a telephony carrier, spoken as the
 * Twilio-compatible Calls REST API (2010-04-01) over libcurl, so that Twilio, its look-alikes
 * and our carrier-sim all work by configuration (base URL, account SID, auth token).
 *
 *   create  POST {base}/2010-04-01/Accounts/{sid}/Calls.json   (form: To, From, Url,
 *           StatusCallback, StatusCallbackEvent x4, StatusCallbackMethod, Timeout,
 *           MachineDetection)
 *   fetch   GET  {base}/2010-04-01/Accounts/{sid}/Calls/{CallSid}.json
 *   list    GET  {base}/2010-04-01/Accounts/{sid}/Calls.json?To=...&StartTime>=...
 *   update  POST {base}/2010-04-01/Accounts/{sid}/Calls/{CallSid}.json  (Status=completed)
 *
 * Authentication is HTTP Basic (account SID, auth token). One struct carrier is used by one
 * thread at a time (it owns a curl easy handle, so connections are reused); open one per
 * thread. Every request has a timeout. Only requests that are safe to repeat (fetch, list,
 * hang up) are retried by the driver; a create whose answer was lost is never re-sent: the
 * caller reconciles with carrier_list_by_to instead. */
#ifndef OD_CARRIER_H
#define OD_CARRIER_H

#include <stdbool.h>
#include <stddef.h>

struct carrier_config {
    const char *base_url;     /* e.g. https://api.twilio.com or http://127.0.0.1:7190 */
    const char *account_sid;  /* AC... */
    const char *auth_token;
    const char *default_from; /* caller ID when a call names none */
    int timeout_ms;           /* per request (default 5000) */
};

struct carrier_call_request {
    const char *to;              /* E.164 */
    const char *from;            /* NULL or "": the default */
    const char *twiml_url;       /* fetched by the carrier when the call is answered */
    const char *status_callback; /* POSTed on initiated, ringing, answered, completed */
    int ring_timeout_seconds;    /* Timeout: seconds to let it ring (0: carrier default) */
    bool machine_detection;      /* MachineDetection=Enable: AnsweredBy in callbacks */
    /* true: StatusCallbackEvent answered and completed only (no initiated, no ringing: two
     * callbacks less per call); false: all four */
    bool answered_and_completed_only;
    /* true: StatusCallbackEvent completed only. The carrier's request for the TwiML of an
     * answered call carries CallStatus and AnsweredBy, so a client that takes that request
     * as the answer needs no "answered" callback (one request less per answered call). */
    bool completed_only;
};

/* A call as the carrier describes it. status is Twilio's word: queued, initiated, ringing,
 * in-progress, completed, busy, no-answer, failed, canceled. */
struct carrier_call {
    char sid[64];
    char status[24];
    char answered_by[32];
    char to[32];
    char from[32];
    char start_time[64];  /* as the carrier wrote it (RFC 2822 for Twilio), "" if none */
    int duration_seconds; /* -1 when unknown */
};

enum carrier_result {
    CARRIER_OK = 0,
    CARRIER_TRANSIENT = -1,  /* timeout, 5xx, 429, connection refused: may work later */
    CARRIER_REJECTED = -2,   /* 4xx other than 429: this request will never work */
    CARRIER_NOT_FOUND = -3,  /* fetch/update of an unknown call */
};

struct carrier;
/* NULL on failure (logged). The config strings are copied. */
struct carrier *carrier_open(const struct carrier_config *config);
void carrier_close(struct carrier *c);

/* Each fills out (and err, a short reason, on failure) and returns an enum carrier_result. */
int carrier_create_call(struct carrier *c, const struct carrier_call_request *req,
                        struct carrier_call *out, char *err, size_t err_size);
int carrier_fetch_call(struct carrier *c, const char *sid, struct carrier_call *out, char *err,
                       size_t err_size);
/* Calls to `to` started at or after `started_after` (YYYY-MM-DD, Twilio's StartTime>= filter;
 * NULL for any), newest first, at most max of them; *n gets how many. */
int carrier_list_calls_to(struct carrier *c, const char *to, const char *started_after,
                          struct carrier_call *out, int max, int *n, char *err, size_t err_size);
/* Status=completed: hangs up a call in progress (cancels one still ringing). */
int carrier_hangup(struct carrier *c, const char *sid, char *err, size_t err_size);
/* After a call above that returned CARRIER_TRANSIENT: true when its last request got no
 * HTTP reply after it may have reached the carrier (a time-out, a dropped connection), so a
 * create may have placed a call that nobody knows the CallSid of; false when the carrier
 * answered (a 5xx, a 429) or could not be reached at all (connection refused, no such host). */
bool carrier_last_unanswered(const struct carrier *c);

/* ---- X-Twilio-Signature (lib/carrier_signature.c) ---- */

struct carrier_param {
    const char *name;
    const char *value;
};

/* base64(HMAC-SHA1(auth_token, url + for each param sorted by name (then value): name + value)),
 * written NUL-terminated into out (at least 29 bytes). 0, or -1 when out is too small. */
int carrier_signature(const char *auth_token, const char *url, const struct carrier_param *params,
                      size_t nparams, char *out, size_t out_size);
/* Compares in constant time; false for a NULL or empty signature. */
bool carrier_signature_valid(const char *auth_token, const char *url,
                             const struct carrier_param *params, size_t nparams,
                             const char *signature);

#endif
