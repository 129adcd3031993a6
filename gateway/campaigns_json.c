#include "campaigns_json.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "od_names.h"

/* Generous byte limits; the service applies the real rules. */
#define FIELD_TEXT_MAX 65536
#define FIELD_ID_MAX 256

/* ---------------- status words: the one table of both dialects ---------------- */

struct status_word {
    const char *canonical;
    const char *osmtalk;
};

static const struct status_word campaign_words[] = {
    {CAMPAIGN_DRAFT, "draft"},         {CAMPAIGN_SCHEDULED, "scheduled"},
    {CAMPAIGN_IN_PROGRESS, "running"}, {CAMPAIGN_PAUSED, "paused"},
    {CAMPAIGN_COMPLETED, "completed"}, {CAMPAIGN_FAILED, "failed"},
    {CAMPAIGN_CANCELLED, "stopped"},   {NULL, NULL},
};

static const struct status_word lead_words[] = {
    {LEAD_PENDING, "pending"},         {LEAD_QUEUED, "queued"},
    {LEAD_IN_PROGRESS, "in_progress"}, {LEAD_COMPLETED, "completed"},
    {LEAD_FAILED, "failed"},           {LEAD_SKIPPED, "skipped"},
    {LEAD_CANCELLED, "cancelled"},     {NULL, NULL},
};

static const char *campaigns_word_out(const struct status_word *table, enum campaigns_dialect d,
                                      const char *canonical)
{
    if (d == CAMPAIGNS_V1 || canonical == NULL)
        return canonical;
    for (const struct status_word *w = table; w->canonical != NULL; w++)
        if (strcmp(w->canonical, canonical) == 0)
            return w->osmtalk;
    return canonical;
}

static const char *campaigns_word_in(const struct status_word *table, enum campaigns_dialect d,
                                     const char *word)
{
    if (word == NULL)
        return NULL;
    for (const struct status_word *w = table; w->canonical != NULL; w++)
        if (strcasecmp(w->canonical, word) == 0 || strcasecmp(w->osmtalk, word) == 0)
            return w->canonical;
    (void)d;
    return NULL;
}

const char *campaigns_status_out(enum campaigns_dialect d, const char *canonical)
{
    return campaigns_word_out(campaign_words, d, canonical);
}

const char *campaigns_lead_status_out(enum campaigns_dialect d, const char *canonical)
{
    return campaigns_word_out(lead_words, d, canonical);
}

const char *campaigns_status_in(enum campaigns_dialect d, const char *word)
{
    return campaigns_word_in(campaign_words, d, word);
}

const char *campaigns_lead_status_in(enum campaigns_dialect d, const char *word)
{
    return campaigns_word_in(lead_words, d, word);
}

void campaigns_status_words(enum campaigns_dialect d, int leads, char *out, size_t size)
{
    const struct status_word *table = leads ? lead_words : campaign_words;
    size_t used = 0;
    out[0] = '\0';
    for (const struct status_word *w = table; w->canonical != NULL && used < size; w++) {
        int n = snprintf(out + used, size - used, "%s%s", used ? ", " : "",
                         d == CAMPAIGNS_V1 ? w->canonical : w->osmtalk);
        if (n < 0)
            break;
        used += (size_t)n;
    }
}

void campaigns_dialect_message(enum campaigns_dialect d, const char *message, char *out,
                               size_t size)
{
    size_t used = 0;
    const char *s = message;

    if (size == 0)
        return;
    while (*s != '\0' && used + 1 < size) {
        /* a token of upper-case letters and '_' standing alone is a candidate status word */
        if (d != CAMPAIGNS_V1 && (isupper((unsigned char)*s) || *s == '_') &&
            (s == message || !isalnum((unsigned char)s[-1]))) {
            size_t len = 0;
            while (isupper((unsigned char)s[len]) || s[len] == '_')
                len++;
            if (!isalnum((unsigned char)s[len])) {
                char token[32];
                if (len < sizeof token) {
                    memcpy(token, s, len);
                    token[len] = '\0';
                    const char *word = campaigns_word_out(campaign_words, d, token);
                    if (word != token) {
                        size_t wl = strlen(word);
                        if (used + wl >= size)
                            break;
                        memcpy(out + used, word, wl);
                        used += wl;
                        s += len;
                        continue;
                    }
                }
            }
        }
        out[used++] = *s++;
    }
    out[used] = '\0';
}

/* ---------------- bodies ---------------- */

/* What a key sets: two keys setting the same target is a problem. */
enum campaigns_target {
    T_NAME, T_FLOW, T_VERSION, T_AUDIENCE, T_PHONE, T_CPM, T_CONCURRENT, T_RETRIES, T_DELAY,
    T_TIMEOUT, T_SCHEDULED, T_START_DATE, T_TIMEZONE, T_WINDOW, T_WEEKDAYS, T_RETRY_ON,
    T_WEBHOOK, T_LOCAL_TIME, T_COUNT
};

struct campaigns_reader {
    enum campaigns_write w;
    struct campaigns_input *out;
    struct body_problems *p;
    const char *source[T_COUNT]; /* the field that set each target (string literals) */
};

static const char *const v1_keys[] = {
    "name", "flowId", "agentId", "agent_id", "agentVersion", "agent_version", "audienceId",
    "contact_list_id", "audience_id", "phoneNumberId", "phone_number_id", "callsPerMinute",
    "calls_per_minute", "maxConcurrentCalls", "concurrent_calls", "max_concurrent_calls",
    "maxRetries", "max_retries", "retryDelayMinutes", "retry_delay_minutes",
    "callTimeoutMinutes", "call_timeout_minutes", "scheduledAt", "scheduled_at", "timezone",
    "schedule", "retryPolicy", "retry_rules", "webhookUrl", "webhook_url",
    "respectContactLocalTime", "respect_contact_local_time", NULL,
};

static const char *const osmtalk_keys[] = {
    "name", "agentId", "agentVersion", "phoneNumberId", "maxConcurrent", "scheduledStartAt",
    "schedule", "retryPolicy", "webhookUrl", "callsPerMinute", "callTimeoutMinutes",
    "respectContactLocalTime", NULL,
};

static const char *const schedule_keys[] = {
    "timezone", "windowStart", "windowEnd", "weekdays", "start_date", "calling_hours", NULL,
};
static const char *const calling_hours_keys[] = {"start", "end", NULL};
static const char *const retry_policy_keys[] = {"maxAttempts", "backoffMinutes", "retryOn", NULL};
static const char *const retry_rules_keys[] = {"max_attempts", "delay_minutes", NULL};

static const char *const retry_outcomes[] = {
    OUTCOME_NO_ANSWER, OUTCOME_BUSY, OUTCOME_FAILED, OUTCOME_VOICEMAIL, OUTCOME_TIMEOUT, NULL,
};

/* 1 when any of keys is in obj with a non-null value. */
static bool campaigns_any_given(const json_t *obj, const char *const keys[])
{
    for (size_t i = 0; keys[i] != NULL; i++) {
        const json_t *v = json_object_get(obj, keys[i]);
        if (v != NULL && !json_is_null(v))
            return true;
    }
    return false;
}

static bool campaigns_claim(struct campaigns_reader *r, enum campaigns_target t,
                            const char *field)
{
    if (r->source[t] != NULL) {
        body_problems_add(r->p, field, "%s and %s set the same setting: give only one",
                          r->source[t], field);
        return false;
    }
    r->source[t] = field;
    return true;
}

/* A string setting. nullable: null clears it on update. */
static void campaigns_string(struct campaigns_reader *r, const json_t *obj, const char *where,
                             const char *key, const char *field, enum campaigns_target t,
                             bool nullable, size_t max, char **dst, protobuf_c_boolean *set)
{
    const json_t *v = json_object_get(obj, key);
    const char *s = NULL;

    if (v == NULL)
        return;
    if (json_is_null(v)) {
        if (r->w == CAMPAIGNS_CREATE)
            return;
        if (!nullable) {
            body_problems_add(r->p, field, "%s cannot be null", field);
            return;
        }
        if (campaigns_claim(r, t, field)) {
            *dst = (char *)"";
            *set = 1;
        }
        return;
    }
    if (body_problems_string(r->p, obj, where, key, max, &s) == 1 && campaigns_claim(r, t, field)) {
        *dst = (char *)s;
        *set = 1;
    }
}

/* An integer setting (never nullable); the value stored is value + offset. */
static void campaigns_int(struct campaigns_reader *r, const json_t *obj, const char *where,
                          const char *key, const char *field, enum campaigns_target t,
                          long long min, long long max, int offset, int32_t *dst,
                          protobuf_c_boolean *set)
{
    const json_t *v = json_object_get(obj, key);
    long long value;

    if (v == NULL)
        return;
    if (json_is_null(v)) {
        if (r->w == CAMPAIGNS_UPDATE)
            body_problems_add(r->p, field, "%s cannot be null", field);
        return;
    }
    if (body_problems_int(r->p, obj, where, key, min, max, &value) == 1 &&
        campaigns_claim(r, t, field)) {
        *dst = (int32_t)(value + offset);
        *set = 1;
    }
}

/* "HH:MM", 00:00 to 23:59 (24:00 allowed as an end). */
static bool campaigns_hhmm(const char *s, bool end)
{
    if (strlen(s) != 5 || !isdigit((unsigned char)s[0]) || !isdigit((unsigned char)s[1]) ||
        s[2] != ':' || !isdigit((unsigned char)s[3]) || !isdigit((unsigned char)s[4]))
        return false;
    int h = (s[0] - '0') * 10 + (s[1] - '0'), m = (s[3] - '0') * 10 + (s[4] - '0');
    return (h < 24 && m < 60) || (end && h == 24 && m == 0);
}

/* "YYYY-MM-DD" (the service checks that the date exists). */
static bool campaigns_date(const char *s)
{
    if (strlen(s) != 10 || s[4] != '-' || s[7] != '-')
        return false;
    for (int i = 0; i < 10; i++)
        if (i != 4 && i != 7 && !isdigit((unsigned char)s[i]))
            return false;
    return true;
}

/* A calling window from two keys of obj (windowStart/windowEnd or calling_hours start/end). */
static void campaigns_window(struct campaigns_reader *r, const json_t *obj, const char *where,
                             const char *start_key, const char *end_key, const char *start_field,
                             const char *end_field)
{
    const json_t *vs = json_object_get(obj, start_key), *ve = json_object_get(obj, end_key);
    const char *s = NULL, *e = NULL;
    int rs, re;
    Od__CampaignInput *in = &r->out->in;

    if (vs == NULL && ve == NULL)
        return;
    if ((vs == NULL || json_is_null(vs)) && (ve == NULL || json_is_null(ve))) {
        /* both null: no window */
        if (r->w == CAMPAIGNS_UPDATE && campaigns_claim(r, T_WINDOW, start_field)) {
            in->window_start = in->window_end = (char *)"";
            in->set_window = 1;
        }
        return;
    }
    rs = body_problems_string(r->p, obj, where, start_key, 16, &s);
    re = body_problems_string(r->p, obj, where, end_key, 16, &e);
    if (rs < 0 || re < 0)
        return;
    if (rs == 0 || re == 0) {
        body_problems_add(r->p, rs == 0 ? start_field : end_field,
                          "%s and %s go together: give both", start_field, end_field);
        return;
    }
    bool ok = true;
    if (!campaigns_hhmm(s, false)) {
        body_problems_add(r->p, start_field, "%s must be a time of day as HH:MM", start_field);
        ok = false;
    }
    if (!campaigns_hhmm(e, true)) {
        body_problems_add(r->p, end_field, "%s must be a time of day as HH:MM", end_field);
        ok = false;
    }
    if (ok && strcmp(s, e) == 0) {
        body_problems_add(r->p, end_field, "%s must differ from %s", end_field, start_field);
        ok = false;
    }
    if (ok && campaigns_claim(r, T_WINDOW, start_field)) {
        in->window_start = (char *)s;
        in->window_end = (char *)e;
        in->set_window = 1;
    }
}

static void campaigns_weekdays(struct campaigns_reader *r, const json_t *obj)
{
    const json_t *v = json_object_get(obj, "weekdays");
    Od__CampaignInput *in = &r->out->in;
    const char *field = "schedule.weekdays";
    bool seen[8] = {false};
    size_t n;

    if (v == NULL || (json_is_null(v) && r->w == CAMPAIGNS_CREATE))
        return;
    if (json_is_null(v)) {
        if (campaigns_claim(r, T_WEEKDAYS, field)) {
            in->n_weekdays = 0;
            in->set_weekdays = 1;
        }
        return;
    }
    if (!json_is_array(v)) {
        body_problems_add(r->p, field, "%s must be an array of days, 1 (Monday) to 7 (Sunday)",
                          field);
        return;
    }
    n = json_array_size(v);
    if (n == 0 || n > 7) {
        body_problems_add(r->p, field, "%s must list 1 to 7 days", field);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        const json_t *day = json_array_get(v, i);
        json_int_t d = json_is_integer(day) ? json_integer_value(day) : 0;
        if (d < 1 || d > 7) {
            body_problems_add(r->p, field,
                              "%s[%zu] must be a day from 1 (Monday) to 7 (Sunday)", field, i);
            return;
        }
        if (seen[d]) {
            body_problems_add(r->p, field, "%s lists day %d twice", field, (int)d);
            return;
        }
        seen[d] = true;
        r->out->weekdays[i] = (int32_t)d;
    }
    if (campaigns_claim(r, T_WEEKDAYS, field)) {
        in->weekdays = r->out->weekdays;
        in->n_weekdays = n;
        in->set_weekdays = 1;
    }
}

static void campaigns_retry_on(struct campaigns_reader *r, const json_t *obj)
{
    const json_t *v = json_object_get(obj, "retryOn");
    Od__CampaignInput *in = &r->out->in;
    const char *field = "retryPolicy.retryOn";
    size_t n;

    if (v == NULL || (json_is_null(v) && r->w == CAMPAIGNS_CREATE))
        return;
    if (json_is_null(v)) {
        if (campaigns_claim(r, T_RETRY_ON, field)) {
            in->n_retry_on = 0;
            in->set_retry_on = 1;
        }
        return;
    }
    if (!json_is_array(v)) {
        body_problems_add(r->p, field, "%s must be an array of outcomes", field);
        return;
    }
    n = json_array_size(v);
    if (n > CAMPAIGNS_RETRY_ON_MAX) {
        body_problems_add(r->p, field, "%s must list at most %d outcomes", field,
                          CAMPAIGNS_RETRY_ON_MAX);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        const char *s = json_string_value(json_array_get(v, i));
        bool known = false;
        for (size_t k = 0; s != NULL && retry_outcomes[k] != NULL && !known; k++)
            known = strcmp(retry_outcomes[k], s) == 0;
        if (!known) {
            body_problems_add(r->p, field,
                              "%s[%zu] must be one of no_answer, busy, failed, voicemail, "
                              "timeout",
                              field, i);
            return;
        }
        r->out->retry_on[i] = (char *)s;
    }
    if (campaigns_claim(r, T_RETRY_ON, field)) {
        in->retry_on = r->out->retry_on;
        in->n_retry_on = n;
        in->set_retry_on = 1;
    }
}

/* schedule {timezone, windowStart, windowEnd, weekdays, start_date, calling_hours{start,end}} */
static void campaigns_schedule(struct campaigns_reader *r, const json_t *body)
{
    const json_t *schedule = NULL, *hours = NULL;
    Od__CampaignInput *in = &r->out->in;
    int rc = body_problems_object(r->p, body, "", "schedule", &schedule);

    if (rc == 0 && json_is_null(json_object_get(body, "schedule")) &&
        r->w == CAMPAIGNS_UPDATE) {
        /* schedule: null clears the window and the days */
        if (campaigns_claim(r, T_WINDOW, "schedule") &&
            campaigns_claim(r, T_WEEKDAYS, "schedule")) {
            in->window_start = in->window_end = (char *)"";
            in->set_window = 1;
            in->n_weekdays = 0;
            in->set_weekdays = 1;
        }
        return;
    }
    if (rc != 1)
        return;
    body_problems_unknown_keys(r->p, schedule, "schedule.", schedule_keys, "a schedule");
    campaigns_string(r, schedule, "schedule.", "timezone", "schedule.timezone", T_TIMEZONE,
                     true, 64, &in->timezone, &in->set_timezone);
    campaigns_window(r, schedule, "schedule.", "windowStart", "windowEnd",
                     "schedule.windowStart", "schedule.windowEnd");
    campaigns_weekdays(r, schedule);
    if (body_problems_object(r->p, schedule, "schedule.", "calling_hours", &hours) == 1) {
        body_problems_unknown_keys(r->p, hours, "schedule.calling_hours.", calling_hours_keys,
                                   "calling_hours");
        campaigns_window(r, hours, "schedule.calling_hours.", "start", "end",
                         "schedule.calling_hours.start", "schedule.calling_hours.end");
    }
    campaigns_string(r, schedule, "schedule.", "start_date", "schedule.start_date",
                     T_START_DATE, true, 16, &in->start_date, &in->set_start_date);
    if (in->set_start_date && in->start_date[0] != '\0' && !campaigns_date(in->start_date))
        body_problems_add(r->p, "schedule.start_date",
                          "schedule.start_date must be a date as YYYY-MM-DD");
}

/* retryPolicy {maxAttempts, backoffMinutes, retryOn} and retry_rules {max_attempts,
 * delay_minutes}: attempts count the first call, so N attempts are N - 1 retries. */
static void campaigns_retry(struct campaigns_reader *r, const json_t *body)
{
    const json_t *policy = NULL, *rules = NULL;
    Od__CampaignInput *in = &r->out->in;

    if (body_problems_object(r->p, body, "", "retryPolicy", &policy) == 1) {
        body_problems_unknown_keys(r->p, policy, "retryPolicy.", retry_policy_keys,
                                   "a retryPolicy");
        campaigns_int(r, policy, "retryPolicy.", "maxAttempts", "retryPolicy.maxAttempts",
                      T_RETRIES, 1, 21, -1, &in->max_retries, &in->set_max_retries);
        campaigns_int(r, policy, "retryPolicy.", "backoffMinutes", "retryPolicy.backoffMinutes",
                      T_DELAY, 0, 525600, 0, &in->retry_delay_minutes,
                      &in->set_retry_delay_minutes);
        campaigns_retry_on(r, policy);
    }
    if (body_problems_object(r->p, body, "", "retry_rules", &rules) == 1) {
        body_problems_unknown_keys(r->p, rules, "retry_rules.", retry_rules_keys,
                                   "retry_rules");
        campaigns_int(r, rules, "retry_rules.", "max_attempts", "retry_rules.max_attempts",
                      T_RETRIES, 1, 21, -1, &in->max_retries, &in->set_max_retries);
        campaigns_int(r, rules, "retry_rules.", "delay_minutes", "retry_rules.delay_minutes",
                      T_DELAY, 0, 525600, 0, &in->retry_delay_minutes,
                      &in->set_retry_delay_minutes);
    }
}

static void campaigns_webhook(struct campaigns_reader *r, const json_t *body, const char *key)
{
    Od__CampaignInput *in = &r->out->in;
    protobuf_c_boolean before = in->set_webhook_url;
    campaigns_string(r, body, "", key, key, T_WEBHOOK, true, 2048, &in->webhook_url,
                     &in->set_webhook_url);
    if (!before && in->set_webhook_url && in->webhook_url[0] != '\0' &&
        strncmp(in->webhook_url, "https://", 8) != 0 && strncmp(in->webhook_url, "http://", 7) != 0)
        body_problems_add(r->p, key, "%s must be an http:// or https:// URL", key);
}

int campaigns_json_input(const json_t *body, enum campaigns_dialect d, enum campaigns_write w,
                         struct campaigns_input *out, struct body_problems *p)
{
    struct campaigns_reader r = {.w = w, .out = out, .p = p};
    Od__CampaignInput *in = &out->in;
    int before = p->count;
    const char *what = w == CAMPAIGNS_CREATE ? "a campaign" : "a campaign update";

    memset(out, 0, sizeof *out);
    od__campaign_input__init(in);
    body_problems_unknown_keys(p, body, "", d == CAMPAIGNS_V1 ? v1_keys : osmtalk_keys, what);

    campaigns_string(&r, body, "", "name", "name", T_NAME, false, FIELD_TEXT_MAX, &in->name,
                     &in->set_name);
    static const char *const flow_keys[] = {"flowId", "agentId", "agent_id", NULL};
    for (int i = 0; flow_keys[i] != NULL; i++)
        campaigns_string(&r, body, "", flow_keys[i], flow_keys[i], T_FLOW, false, FIELD_ID_MAX,
                         &in->flow_id, &in->set_flow_id);
    /* agentVersion: null is "the agent's current version at start" (0) */
    static const char *const version_keys[] = {"agentVersion", "agent_version", NULL};
    for (int i = 0; version_keys[i] != NULL; i++) {
        const json_t *v = json_object_get(body, version_keys[i]);
        if (v != NULL && json_is_null(v) && w == CAMPAIGNS_UPDATE) {
            if (campaigns_claim(&r, T_VERSION, version_keys[i])) {
                in->agent_version = 0;
                in->set_agent_version = 1;
            }
        } else {
            campaigns_int(&r, body, "", version_keys[i], version_keys[i], T_VERSION, 1,
                          INT32_MAX, 0, &in->agent_version, &in->set_agent_version);
        }
    }
    static const char *const audience_keys[] = {"audienceId", "contact_list_id", "audience_id",
                                                NULL};
    for (int i = 0; audience_keys[i] != NULL; i++)
        campaigns_string(&r, body, "", audience_keys[i], audience_keys[i], T_AUDIENCE, true,
                         FIELD_ID_MAX, &in->audience_id, &in->set_audience_id);
    static const char *const phone_keys[] = {"phoneNumberId", "phone_number_id", NULL};
    for (int i = 0; phone_keys[i] != NULL; i++)
        campaigns_string(&r, body, "", phone_keys[i], phone_keys[i], T_PHONE, true,
                         FIELD_ID_MAX, &in->phone_number_id, &in->set_phone_number_id);
    static const char *const cpm_keys[] = {"callsPerMinute", "calls_per_minute", NULL};
    for (int i = 0; cpm_keys[i] != NULL; i++)
        campaigns_int(&r, body, "", cpm_keys[i], cpm_keys[i], T_CPM, 1, 60000, 0,
                      &in->calls_per_minute, &in->set_calls_per_minute);
    static const char *const concurrent_keys[] = {"maxConcurrentCalls", "maxConcurrent",
                                                  "concurrent_calls", "max_concurrent_calls",
                                                  NULL};
    for (int i = 0; concurrent_keys[i] != NULL; i++)
        campaigns_int(&r, body, "", concurrent_keys[i], concurrent_keys[i], T_CONCURRENT, 1, 50,
                      0, &in->max_concurrent_calls, &in->set_max_concurrent_calls);
    static const char *const retries_keys[] = {"maxRetries", "max_retries", NULL};
    for (int i = 0; retries_keys[i] != NULL; i++)
        campaigns_int(&r, body, "", retries_keys[i], retries_keys[i], T_RETRIES, 0, 20, 0,
                      &in->max_retries, &in->set_max_retries);
    static const char *const delay_keys[] = {"retryDelayMinutes", "retry_delay_minutes", NULL};
    for (int i = 0; delay_keys[i] != NULL; i++)
        campaigns_int(&r, body, "", delay_keys[i], delay_keys[i], T_DELAY, 0, 525600, 0,
                      &in->retry_delay_minutes, &in->set_retry_delay_minutes);
    static const char *const timeout_keys[] = {"callTimeoutMinutes", "call_timeout_minutes",
                                               NULL};
    for (int i = 0; timeout_keys[i] != NULL; i++)
        campaigns_int(&r, body, "", timeout_keys[i], timeout_keys[i], T_TIMEOUT, 1, 1440, 0,
                      &in->call_timeout_minutes, &in->set_call_timeout_minutes);
    static const char *const scheduled_keys[] = {"scheduledAt", "scheduled_at",
                                                 "scheduledStartAt", NULL};
    for (int i = 0; scheduled_keys[i] != NULL; i++)
        campaigns_string(&r, body, "", scheduled_keys[i], scheduled_keys[i], T_SCHEDULED, true,
                         64, &in->scheduled_at, &in->set_scheduled_at);
    campaigns_string(&r, body, "", "timezone", "timezone", T_TIMEZONE, true, 64, &in->timezone,
                     &in->set_timezone);
    campaigns_schedule(&r, body);
    campaigns_retry(&r, body);
    campaigns_webhook(&r, body, "webhookUrl");
    campaigns_webhook(&r, body, "webhook_url");
    static const char *const local_keys[] = {"respectContactLocalTime",
                                             "respect_contact_local_time", NULL};
    for (int i = 0; local_keys[i] != NULL; i++) {
        int flag;
        if (body_problems_bool(p, body, "", local_keys[i], &flag) == 1 &&
            campaigns_claim(&r, T_LOCAL_TIME, local_keys[i])) {
            in->respect_contact_local_time = flag;
            in->set_respect_contact_local_time = 1;
        }
    }

    if (w == CAMPAIGNS_CREATE) {
        /* a key given with the wrong type already has its problem */
        if (!in->set_name && !json_is_string(json_object_get(body, "name")) &&
            (json_object_get(body, "name") == NULL || json_is_null(json_object_get(body, "name"))))
            body_problems_add(p, "name", "name is required");
        if (!in->set_flow_id && r.source[T_FLOW] == NULL &&
            !campaigns_any_given(body, flow_keys))
            body_problems_add(p, d == CAMPAIGNS_V1 ? "flowId" : "agentId", "%s",
                              d == CAMPAIGNS_V1 ? "flowId (or agentId) is required"
                                                : "agentId is required");
    } else if (json_object_size(body) == 0) {
        body_problems_add(p, "", "the update names no field to change");
    }
    return p->count == before ? 0 : -1;
}

/* ---------------- replies ---------------- */

static json_t *campaigns_nullable(const char *s)
{
    return s != NULL && s[0] != '\0' ? json_string(s) : json_null();
}

static json_t *campaigns_schedule_json(const Od__Campaign *c)
{
    json_t *days = json_array();
    for (size_t i = 0; i < c->n_weekdays; i++)
        json_array_append_new(days, json_integer(c->weekdays[i]));
    return json_pack("{s:o, s:o, s:o, s:o}", "timezone", campaigns_nullable(c->timezone),
                     "windowStart", campaigns_nullable(c->window_start), "windowEnd",
                     campaigns_nullable(c->window_end), "weekdays", days);
}

static json_t *campaigns_retry_json(const Od__Campaign *c)
{
    json_t *on = json_array();
    for (size_t i = 0; i < c->n_retry_on; i++)
        json_array_append_new(on, json_string(c->retry_on[i]));
    return json_pack("{s:i, s:i, s:o}", "maxAttempts", c->max_retries + 1, "backoffMinutes",
                     c->retry_delay_minutes, "retryOn", on);
}

json_t *campaigns_json_campaign(const Od__Campaign *c, enum campaigns_dialect d)
{
    json_t *o = json_object();
    bool v1 = d == CAMPAIGNS_V1;

    json_object_set_new(o, "id", json_string(c->id));
    json_object_set_new(o, "name", json_string(c->name));
    json_object_set_new(o, "status", json_string(campaigns_status_out(d, c->status)));
    if (v1) {
        json_object_set_new(o, "flowId", json_string(c->flow_id));
        json_object_set_new(o, "audienceId", campaigns_nullable(c->audience_id));
        json_object_set_new(o, "callsPerMinute", json_integer(c->calls_per_minute));
        json_object_set_new(o, "maxConcurrentCalls", json_integer(c->max_concurrent_calls));
        json_object_set_new(o, "maxRetries", json_integer(c->max_retries));
        json_object_set_new(o, "retryDelayMinutes", json_integer(c->retry_delay_minutes));
        json_object_set_new(o, "callTimeoutMinutes", json_integer(c->call_timeout_minutes));
        json_object_set_new(o, "scheduledAt", campaigns_nullable(c->scheduled_at));
        json_object_set_new(o, "timezone", campaigns_nullable(c->timezone));
        json_object_set_new(o, "organizationId", json_string(c->organization_id));
        json_object_set_new(o, "createdAt", json_string(c->created_at));
        json_object_set_new(o, "startedAt", campaigns_nullable(c->started_at));
        json_object_set_new(o, "completedAt", campaigns_nullable(c->completed_at));
        json_object_set_new(o, "agentId", json_string(c->flow_id));
    } else {
        json_object_set_new(o, "agentId", json_string(c->flow_id));
        json_object_set_new(o, "maxConcurrent", json_integer(c->max_concurrent_calls));
        json_object_set_new(o, "callsPerMinute", json_integer(c->calls_per_minute));
        json_object_set_new(o, "callTimeoutMinutes", json_integer(c->call_timeout_minutes));
        json_object_set_new(o, "scheduledStartAt", campaigns_nullable(c->scheduled_at));
        json_object_set_new(o, "audienceId", campaigns_nullable(c->audience_id));
        json_object_set_new(o, "organizationId", json_string(c->organization_id));
        json_object_set_new(o, "createdAt", json_string(c->created_at));
        json_object_set_new(o, "startedAt", campaigns_nullable(c->started_at));
        json_object_set_new(o, "completedAt", campaigns_nullable(c->completed_at));
    }
    json_object_set_new(o, "agentVersion",
                        c->agent_version > 0 ? json_integer(c->agent_version) : json_null());
    json_object_set_new(o, "phoneNumberId", campaigns_nullable(c->phone_number_id));
    json_object_set_new(o, "schedule", campaigns_schedule_json(c));
    json_object_set_new(o, "retryPolicy", campaigns_retry_json(c));
    json_object_set_new(o, "webhookUrl", campaigns_nullable(c->webhook_url));
    json_object_set_new(o, "respectContactLocalTime",
                        json_boolean(c->respect_contact_local_time));
    json_object_set_new(o, "statusReason", campaigns_nullable(c->status_reason));
    json_object_set_new(o, "updatedAt", json_string(c->updated_at));
    return o;
}

json_t *campaigns_json_progress(const Od__Progress *p, enum campaigns_dialect d)
{
    return json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:i}", "status",
                     campaigns_status_out(d, p->status), "total", (json_int_t)p->total,
                     "pending", (json_int_t)p->pending, "queued", (json_int_t)p->queued,
                     "inProgress", (json_int_t)p->in_progress, "completed",
                     (json_int_t)p->completed, "failed", (json_int_t)p->failed, "skipped",
                     (json_int_t)p->skipped, "percentComplete", p->percent_complete);
}

json_t *campaigns_json_report(const Od__Report *r, enum campaigns_dialect d)
{
    json_t *by_status = json_object(), *by_disposition = json_object();
    for (size_t i = 0; i < r->n_by_status; i++)
        json_object_set_new(by_status, campaigns_lead_status_out(d, r->by_status[i]->key),
                            json_integer((json_int_t)r->by_status[i]->count));
    for (size_t i = 0; i < r->n_by_disposition; i++)
        json_object_set_new(by_disposition,
                            r->by_disposition[i]->key[0] ? r->by_disposition[i]->key : "none",
                            json_integer((json_int_t)r->by_disposition[i]->count));
    return json_pack("{s:o, s:{s:o, s:o}}", "campaign",
                     r->campaign ? campaigns_json_campaign(r->campaign, d) : json_null(),
                     "counts", "byStatus", by_status, "byDisposition", by_disposition);
}
