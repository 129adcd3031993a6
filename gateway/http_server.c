/* The HTTP/1.1 front door on libmicrohttpd: start and stop, the callbacks libmicrohttpd
 * calls (each request moves through the stages of enum http_stage, http_internal.h), and the
 * connections: the per-address limit (libmicrohttpd's, checked at accept), and the request
 * deadline (a sweeper thread cuts connections whose request is not in within it). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "http_internal.h"
#include "ids.h"
#include "log.h"
#include "timefmt.h"

#define HTTP_HANDLER_THREADS_MAX 1024
#define HTTP_DRAIN_WRITE_MS 2000 /* at shutdown, for answered requests to reach their clients */

/* Accepts a caller's X-Request-Id only if it is short and plain, so it is safe in logs. */
static void http_request_id(struct MHD_Connection *conn, char *out, size_t size)
{
    const char *given = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Request-Id");
    size_t len = given ? strlen(given) : 0;
    bool plain = len > 0 && len <= 64;
    for (size_t i = 0; plain && i < len; i++) {
        char c = given[i];
        plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                c == '-' || c == '_' || c == '.';
    }
    if (plain)
        snprintf(out, size, "%s", given);
    else
        ids_new("req_", out, size);
}

/* ---- the request deadline ---- */

static struct http_conn *http_conn_of(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return info != NULL ? info->socket_context : NULL;
}

/* busy: the request is in (no deadline while it is handled and answered); not busy: the
 * connection waits for, or reads, its next request, which must be in within the deadline. */
static void http_conn_busy(struct http_server *s, struct MHD_Connection *conn, bool busy)
{
    struct http_conn *c = http_conn_of(conn);
    if (c == NULL)
        return;
    pthread_mutex_lock(&s->conn_lock);
    c->busy = busy;
    if (!busy)
        c->since_ms = time_monotonic_ms();
    pthread_mutex_unlock(&s->conn_lock);
}

static void http_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
                        enum MHD_ConnectionNotificationCode code)
{
    struct http_server *s = cls;
    struct http_conn *c = *socket_context;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *info =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        if (info == NULL || (c = calloc(1, sizeof *c)) == NULL)
            return; /* untracked: only the idle timeout applies */
        c->fd = info->connect_fd;
        c->since_ms = time_monotonic_ms();
        pthread_mutex_lock(&s->conn_lock);
        c->next = s->conns;
        if (s->conns != NULL)
            s->conns->prev = c;
        s->conns = c;
        pthread_mutex_unlock(&s->conn_lock);
        *socket_context = c;
    } else if (c != NULL) { /* closed: libmicrohttpd closes the socket after this */
        pthread_mutex_lock(&s->conn_lock);
        if (c->prev != NULL)
            c->prev->next = c->next;
        else
            s->conns = c->next;
        if (c->next != NULL)
            c->next->prev = c->prev;
        pthread_mutex_unlock(&s->conn_lock);
        free(c);
        *socket_context = NULL;
    }
}

/* Once a second, shuts down the sockets of connections whose request is not in within the
 * deadline; libmicrohttpd sees the end of the stream and closes them (the socket stays
 * open until the CLOSED notification, which takes conn_lock, so the fd is still theirs). */
static void *http_sweeper(void *arg)
{
    struct http_server *s = arg;
    pthread_mutex_lock(&s->conn_lock);
    while (!s->sweeper_stop) {
        struct timespec until;
        int64_t now = time_monotonic_ms();
        int cut = 0;
        for (struct http_conn *c = s->conns; c != NULL; c = c->next) {
            if (!c->busy && !c->cut && now - c->since_ms > s->deadline_ms) {
                shutdown(c->fd, SHUT_RDWR);
                c->cut = true;
                cut++;
            }
        }
        if (cut > 0)
            log_info(NULL, "closed %d connection(s) whose request was not in within %d s", cut,
                     s->deadline_ms / 1000);
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 1;
        pthread_cond_timedwait(&s->conn_wake, &s->conn_lock, &until);
    }
    pthread_mutex_unlock(&s->conn_lock);
    return NULL;
}

/* ---- libmicrohttpd's callbacks ---- */

static enum MHD_Result http_access(void *cls, struct MHD_Connection *conn, const char *url,
                                   const char *method, const char *version,
                                   const char *upload_data, size_t *upload_data_size,
                                   void **con_cls)
{
    struct http_server *s = cls;
    struct http_exchange *ex = *con_cls;

    if (ex == NULL) {
        enum MHD_Result rc;
        ex = calloc(1, sizeof *ex);
        if (ex == NULL)
            return MHD_NO;
        ex->started_ms = time_monotonic_ms();
        ex->server = s;
        ex->conn = conn;
        ex->url = url;
        ex->method = method;
        http_request_id(conn, ex->request_id, sizeof ex->request_id);
        *con_cls = ex;
        if (http_framing_refused(ex, version, &rc))
            return rc;
        return http_begin(s, ex);
    }
    switch (ex->stage) {
    case HTTP_AUTH_DONE:
        return http_auth_done(s, ex);
    case HTTP_ANSWERED:
        return http_queue(conn, ex, method, url);
    case HTTP_ASYNC_DONE:
        http_finish_async(ex);
        return http_queue(conn, ex, method, url);
    case HTTP_AUTHENTICATING: /* not called while suspended */
    case HTTP_WORKING:
        return MHD_YES;
    case HTTP_READING:
        break;
    }
    if (*upload_data_size > 0)
        return http_body_append(s, ex, upload_data, upload_data_size);
    /* The whole request is in. */
    http_conn_busy(s, conn, true);
    return http_dispatch(s, ex);
}

static void http_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                           enum MHD_RequestTerminationCode toe)
{
    struct http_server *s = cls;
    struct http_exchange *ex = *con_cls;
    (void)toe;
    http_conn_busy(s, conn, false); /* the next request's deadline starts now */
    if (ex == NULL)
        return;
    if (ex->stage == HTTP_ASYNC_DONE) /* the client left before the answer: still free it */
        http_finish_async(ex);
    if (ex->was_suspended) {
        pthread_mutex_lock(&s->lock);
        if (--s->answering == 0 && s->stopping)
            pthread_cond_broadcast(&s->drained);
        pthread_mutex_unlock(&s->lock);
    }
    if (ex->response != NULL) /* built, never queued (the client went away first) */
        MHD_destroy_response(ex->response);
    http_body_release(s, ex);
    free(ex);
    *con_cls = NULL;
}

/* Stops accepting connections, answers 503 to new requests, waits for the requests in
 * flight (each ends within the RPC deadline) and, for up to HTTP_DRAIN_WRITE_MS, for their
 * responses to be written, then stops libmicrohttpd. */
static void http_server_free(struct http_server *s)
{
    struct timespec until;
    /* Ours once quiesced, but libmicrohttpd's threads may still hold it: closed after stop. */
    MHD_socket listener = s->daemon != NULL ? MHD_quiesce_daemon(s->daemon) : MHD_INVALID_SOCKET;
    pthread_mutex_lock(&s->lock);
    s->stopping = true;
    while (s->suspended > 0) /* libmicrohttpd must not be stopped with one suspended */
        pthread_cond_wait(&s->drained, &s->lock);
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += HTTP_DRAIN_WRITE_MS / 1000;
    while (s->answering > 0 && pthread_cond_timedwait(&s->drained, &s->lock, &until) == 0)
        ;
    pthread_cond_broadcast(&s->work);
    pthread_mutex_unlock(&s->lock);
    for (int i = 0; i < s->nhandlers; i++)
        pthread_join(s->handlers[i], NULL);
    if (s->sweeper_running) {
        pthread_mutex_lock(&s->conn_lock);
        s->sweeper_stop = true;
        pthread_cond_signal(&s->conn_wake);
        pthread_mutex_unlock(&s->conn_lock);
        pthread_join(s->sweeper, NULL);
    }
    if (s->daemon != NULL)
        MHD_stop_daemon(s->daemon);
    if (listener != MHD_INVALID_SOCKET)
        close(listener);
    pthread_cond_destroy(&s->drained);
    pthread_cond_destroy(&s->work);
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->conn_wake);
    pthread_mutex_destroy(&s->conn_lock);
    free(s->handlers);
    free(s);
}

struct http_server *http_server_start(struct gateway *gw, const struct http_server_options *o)
{
    struct http_server *s = calloc(1, sizeof *s);
    struct sockaddr_in addr;
    int handlers = o->handler_threads < 1                          ? 1
                   : o->handler_threads > HTTP_HANDLER_THREADS_MAX ? HTTP_HANDLER_THREADS_MAX
                                                                   : o->handler_threads;

    if (s == NULL)
        return NULL;
    s->gw = gw;
    s->body_memory_max = o->max_body_memory;
    s->deadline_ms = o->request_deadline_seconds * 1000;
    pthread_mutex_init(&s->lock, NULL);
    pthread_mutex_init(&s->conn_lock, NULL);
    pthread_cond_init(&s->conn_wake, NULL);
    pthread_cond_init(&s->work, NULL);
    pthread_cond_init(&s->drained, NULL);
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)o->port);
    if (inet_pton(AF_INET, o->bind_address, &addr.sin_addr) != 1) {
        log_error(NULL, "HTTP_BIND %s is not an IPv4 address", o->bind_address);
        http_server_free(s);
        return NULL;
    }
    if ((s->handlers = calloc((size_t)handlers, sizeof *s->handlers)) == NULL) {
        http_server_free(s);
        return NULL;
    }
    for (; s->nhandlers < handlers; s->nhandlers++)
        if (pthread_create(&s->handlers[s->nhandlers], NULL, http_handler_thread, s) != 0)
            break;
    s->daemon = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME,
        (uint16_t)o->port, NULL, NULL, http_access, s, MHD_OPTION_SOCK_ADDR,
        (struct sockaddr *)&addr, MHD_OPTION_THREAD_POOL_SIZE, (unsigned)o->event_threads,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)o->max_connections,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)o->timeout_seconds,
        MHD_OPTION_NOTIFY_COMPLETED, http_completed, s, MHD_OPTION_LISTENING_ADDRESS_REUSE, 1,
        /* issue 13: one address cannot take every connection (checked at accept, before any
         * key is looked up) */
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)o->max_connections_per_ip,
        MHD_OPTION_NOTIFY_CONNECTION, http_notify, s, MHD_OPTION_END);
    if (s->daemon != NULL && s->deadline_ms > 0)
        s->sweeper_running = pthread_create(&s->sweeper, NULL, http_sweeper, s) == 0;
    if (s->nhandlers == 0 || s->daemon == NULL) {
        log_error(NULL, "HTTP server could not listen on %s:%d", o->bind_address, o->port);
        http_server_free(s);
        return NULL;
    }
    log_info(NULL, "gateway listening on http://%s:%d with %d event and %d handler threads",
             o->bind_address, o->port, o->event_threads, s->nhandlers);
    return s;
}

void http_server_stop(struct http_server *s)
{
    if (s != NULL)
        http_server_free(s);
}
