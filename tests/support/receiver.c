#include "receiver.h"

#include <microhttpd.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "signing.h"

#define RECEIVER_BODY_MAX (1024 * 1024)

struct receiver {
    struct MHD_Daemon *daemon;
    int port;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    char *secrets[RECEIVER_SECRETS_MAX + 1];
    int status;
    char retry_after[64];
    int delay_ms;
    int fail_next;
    int fail_status;
    struct received *items;
    size_t n, cap;
    /* distinct delivered ids (linear scan is fine at test sizes; the bench only counts) */
    size_t delivered;
    char **delivered_ids;
    size_t delivered_cap;
    bool track_ids;
};

struct upload {
    char *data;
    size_t len;
};

static int64_t receiver_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Counts signatures and how many match a secret. Caller holds the lock. */
static void receiver_verify(struct receiver *r, const char *header, struct received *rec)
{
    char *copy = strdup(header ? header : ""), *save = NULL, *item;
    for (item = strtok_r(copy, " ", &save); item != NULL; item = strtok_r(NULL, " ", &save)) {
        rec->n_signatures++;
        for (int s = 0; r->secrets[s] != NULL; s++) {
            char expected[WEBHOOK_SIGNATURE_MAX];
            if (webhook_sign(r->secrets[s], rec->id, rec->timestamp, rec->body,
                             strlen(rec->body), expected, sizeof expected) == 0 &&
                strcmp(expected, item) == 0) {
                rec->n_valid++;
                break;
            }
        }
    }
    free(copy);
}

static bool receiver_seen(struct receiver *r, const char *id)
{
    for (size_t i = 0; i < r->delivered; i++)
        if (strcmp(r->delivered_ids[i], id) == 0)
            return true;
    return false;
}

static enum MHD_Result receiver_handle(void *cls, struct MHD_Connection *c, const char *url,
                                       const char *method, const char *version,
                                       const char *upload_data, size_t *upload_size,
                                       void **con_cls)
{
    struct receiver *r = cls;
    struct upload *u = *con_cls;
    struct received rec;
    struct MHD_Response *response;
    enum MHD_Result ret;
    int status, delay;
    char retry_after[64];

    if (u == NULL) {
        u = calloc(1, sizeof *u);
        if (u == NULL)
            return MHD_NO;
        *con_cls = u;
        return MHD_YES;
    }
    if (*upload_size > 0) {
        if (u->len + *upload_size > RECEIVER_BODY_MAX)
            return MHD_NO;
        char *grown = realloc(u->data, u->len + *upload_size + 1);
        if (grown == NULL)
            return MHD_NO;
        u->data = grown;
        memcpy(u->data + u->len, upload_data, *upload_size);
        u->len += *upload_size;
        u->data[u->len] = '\0';
        *upload_size = 0;
        return MHD_YES;
    }
    memset(&rec, 0, sizeof rec);
    const char *id = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "webhook-id");
    const char *ts = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "webhook-timestamp");
    const char *sig = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "webhook-signature");
    snprintf(rec.id, sizeof rec.id, "%s", id ? id : "");
    rec.timestamp = ts ? strtoll(ts, NULL, 10) : 0;
    rec.body = strdup(u->data ? u->data : "");
    rec.at_wall_ms = receiver_wall_ms();
    snprintf(rec.path, sizeof rec.path, "%s", url);

    pthread_mutex_lock(&r->lock);
    if (r->fail_next > 0) {
        r->fail_next--;
        status = r->fail_status;
    } else {
        status = r->status;
    }
    snprintf(retry_after, sizeof retry_after, "%s", r->retry_after);
    delay = r->delay_ms;
    pthread_mutex_unlock(&r->lock);

    if (delay > 0) {
        struct timespec d = {delay / 1000, (long)(delay % 1000) * 1000000L};
        nanosleep(&d, NULL);
    }
    pthread_mutex_lock(&r->lock);
    receiver_verify(r, sig, &rec);
    rec.status = status;
    if (status >= 200 && status < 300 && rec.id[0] != '\0' &&
        (!r->track_ids || !receiver_seen(r, rec.id))) {
        if (r->track_ids) {
            if (r->delivered == r->delivered_cap) {
                r->delivered_cap = r->delivered_cap ? 2 * r->delivered_cap : 256;
                r->delivered_ids = realloc(r->delivered_ids, r->delivered_cap * sizeof(char *));
            }
            r->delivered_ids[r->delivered] = strdup(rec.id);
        }
        r->delivered++;
    }
    if (r->n == r->cap) {
        r->cap = r->cap ? 2 * r->cap : 256;
        r->items = realloc(r->items, r->cap * sizeof *r->items);
    }
    r->items[r->n++] = rec;
    pthread_cond_broadcast(&r->cond);
    pthread_mutex_unlock(&r->lock);

    response = MHD_create_response_from_buffer(2, (void *)"ok", MHD_RESPMEM_PERSISTENT);
    if (retry_after[0] != '\0' && (status == 429 || status == 503))
        MHD_add_response_header(response, "Retry-After", retry_after);
    ret = MHD_queue_response(c, (unsigned)status, response);
    MHD_destroy_response(response);
    return ret;
}

static void receiver_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                               enum MHD_RequestTerminationCode code)
{
    struct upload *u = *con_cls;
    if (u != NULL) {
        free(u->data);
        free(u);
        *con_cls = NULL;
    }
}

static int receiver_listen(struct receiver *r)
{
    r->daemon = MHD_start_daemon(
        MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG,
        (uint16_t)r->port, NULL, NULL, receiver_handle, r, MHD_OPTION_NOTIFY_COMPLETED,
        receiver_completed, r, MHD_OPTION_LISTENING_ADDRESS_REUSE, 1,
        MHD_OPTION_CONNECTION_LIMIT, 2000, MHD_OPTION_CONNECTION_TIMEOUT, 60, MHD_OPTION_END);
    if (r->daemon == NULL)
        return -1;
    r->port = MHD_get_daemon_info(r->daemon, MHD_DAEMON_INFO_BIND_PORT)->port;
    return 0;
}

struct receiver *receiver_start(int port)
{
    struct receiver *r = calloc(1, sizeof *r);
    if (r == NULL)
        return NULL;
    r->port = port;
    r->status = 200;
    r->track_ids = getenv("RECEIVER_NO_IDS") == NULL;
    pthread_mutex_init(&r->lock, NULL);
    pthread_cond_init(&r->cond, NULL);
    if (receiver_listen(r) != 0) {
        free(r);
        return NULL;
    }
    return r;
}

int receiver_port(const struct receiver *r)
{
    return r->port;
}

void receiver_url(const struct receiver *r, const char *path, char *buf, size_t size)
{
    snprintf(buf, size, "http://127.0.0.1:%d%s", r->port, path);
}

void receiver_pause(struct receiver *r)
{
    if (r->daemon != NULL)
        MHD_stop_daemon(r->daemon);
    r->daemon = NULL;
}

int receiver_resume(struct receiver *r)
{
    return r->daemon != NULL ? 0 : receiver_listen(r);
}

void receiver_received_free(struct received *rec)
{
    free(rec->body);
    rec->body = NULL;
}

void receiver_clear(struct receiver *r)
{
    pthread_mutex_lock(&r->lock);
    for (size_t i = 0; i < r->n; i++)
        free(r->items[i].body);
    r->n = 0;
    if (r->track_ids)
        for (size_t i = 0; i < r->delivered; i++)
            free(r->delivered_ids[i]);
    r->delivered = 0;
    pthread_mutex_unlock(&r->lock);
}

void receiver_stop(struct receiver *r)
{
    if (r == NULL)
        return;
    receiver_pause(r);
    receiver_clear(r);
    for (int i = 0; r->secrets[i] != NULL; i++)
        free(r->secrets[i]);
    free(r->items);
    free(r->delivered_ids);
    pthread_cond_destroy(&r->cond);
    pthread_mutex_destroy(&r->lock);
    free(r);
}

void receiver_set_secrets(struct receiver *r, const char *const secrets[])
{
    pthread_mutex_lock(&r->lock);
    for (int i = 0; r->secrets[i] != NULL; i++) {
        free(r->secrets[i]);
        r->secrets[i] = NULL;
    }
    for (int i = 0; secrets[i] != NULL && i < RECEIVER_SECRETS_MAX; i++)
        r->secrets[i] = strdup(secrets[i]);
    pthread_mutex_unlock(&r->lock);
}

void receiver_set_reply(struct receiver *r, int status, const char *retry_after, int delay_ms)
{
    pthread_mutex_lock(&r->lock);
    r->status = status;
    snprintf(r->retry_after, sizeof r->retry_after, "%s", retry_after ? retry_after : "");
    r->delay_ms = delay_ms;
    pthread_mutex_unlock(&r->lock);
}

void receiver_fail_next(struct receiver *r, int n, int status)
{
    pthread_mutex_lock(&r->lock);
    r->fail_next = n;
    r->fail_status = status;
    pthread_mutex_unlock(&r->lock);
}

size_t receiver_count(struct receiver *r)
{
    size_t n;
    pthread_mutex_lock(&r->lock);
    n = r->n;
    pthread_mutex_unlock(&r->lock);
    return n;
}

size_t receiver_delivered(struct receiver *r)
{
    size_t n;
    pthread_mutex_lock(&r->lock);
    n = r->delivered;
    pthread_mutex_unlock(&r->lock);
    return n;
}

bool receiver_wait_delivered(struct receiver *r, size_t n, int timeout_ms)
{
    struct timespec until;
    bool ok;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&r->lock);
    while (r->delivered < n)
        if (pthread_cond_timedwait(&r->cond, &r->lock, &until) != 0)
            break;
    ok = r->delivered >= n;
    pthread_mutex_unlock(&r->lock);
    return ok;
}

bool receiver_get(struct receiver *r, size_t i, struct received *out)
{
    bool ok = false;
    pthread_mutex_lock(&r->lock);
    if (i < r->n) {
        *out = r->items[i];
        out->body = strdup(r->items[i].body);
        ok = true;
    }
    pthread_mutex_unlock(&r->lock);
    return ok;
}

size_t receiver_delivered_count_of(struct receiver *r, const char *id)
{
    size_t n = 0;
    pthread_mutex_lock(&r->lock);
    for (size_t i = 0; i < r->n; i++)
        if (strcmp(r->items[i].id, id) == 0 && r->items[i].status >= 200 &&
            r->items[i].status < 300)
            n++;
    pthread_mutex_unlock(&r->lock);
    return n;
}

size_t receiver_bad_signatures(struct receiver *r)
{
    size_t n = 0;
    pthread_mutex_lock(&r->lock);
    for (size_t i = 0; i < r->n; i++)
        if (r->items[i].n_signatures == 0 || r->items[i].n_valid != r->items[i].n_signatures)
            n++;
    pthread_mutex_unlock(&r->lock);
    return n;
}
