/* carrier-sim: configuration, start-up and shutdown. See sim.h for the parts.
 *
 * Environment:
 *   CARRIER_SIM_LISTEN              http://127.0.0.1:7190   the Calls API, /healthz, /readyz, /sim
 *   HEALTH_LISTEN                   (the same)              /healthz and /readyz elsewhere too
 *   CARRIER_ACCOUNT_SID             required                HTTP Basic user (AC + 32 hex)
 *   CARRIER_AUTH_TOKEN              required                HTTP Basic password; signs callbacks
 *   CARRIER_SIM_RING_MS             500                     how long a call rings
 *   CARRIER_SIM_TALK_MS             2000                    how long an answered call lasts
 *   CARRIER_SIM_CPS                 0 (unlimited)           creates per second, then 429
 *   CARRIER_SIM_MAX_CALLS           0 (unlimited)           calls in flight, then 429
 *   CARRIER_SIM_CALLBACK_RETRIES    4                       retries of a failed request
 *   CARRIER_SIM_CALLBACK_BACKOFF_MS 250                     first retry delay, doubling
 *   CARRIER_SIM_CALLBACK_TIMEOUT_MS 5000                    per outgoing request
 *   CARRIER_SIM_CALLBACK_WORKERS    8                       outgoing request threads
 *   CARRIER_SIM_HTTP_THREADS        4                       libmicrohttpd threads
 *   CARRIER_SIM_MAX_REMEMBERED      1000000                 calls kept for fetch/list
 *   CARRIER_SIM_MAX_NUMBERS         1000000                 byTo / byFrom entries each
 *
 * SIGTERM or SIGINT: stop listening, stop playing, drop what is left to deliver, exit 0. */
#include <curl/curl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "sim.h"

static int env_int(const char *name, int fallback, int min, int max)
{
    const char *v = getenv(name);
    if (v == NULL || v[0] == '\0')
        return fallback;
    char *end = NULL;
    long n = strtol(v, &end, 10);
    if (*end != '\0' || n < min || n > max) {
        log_error(NULL, "carrier-sim: %s=%s is not a number from %d to %d", name, v, min, max);
        exit(2);
    }
    return (int)n;
}

/* "http://host:port", "host:port" or ":port". 0, or -1 when malformed. */
static int parse_listen(const char *url, char *host, size_t host_size, int *port)
{
    const char *p = url;
    if (strncmp(p, "http://", 7) == 0)
        p += 7;
    const char *colon = strrchr(p, ':');
    if (colon == NULL)
        return -1;
    size_t n = (size_t)(colon - p);
    if (n >= host_size)
        return -1;
    memcpy(host, p, n);
    host[n] = '\0';
    if (n == 0)
        snprintf(host, host_size, "127.0.0.1");
    char *end = NULL;
    long v = strtol(colon + 1, &end, 10);
    if (end == colon + 1 || (*end != '\0' && *end != '/') || v < 1 || v > 65535)
        return -1;
    *port = (int)v;
    return 0;
}

static void copy_required(const char *name, char *dst, size_t size)
{
    const char *v = getenv(name);
    if (v == NULL || v[0] == '\0' || strlen(v) >= size) {
        log_error(NULL, "carrier-sim: %s is required (at most %zu characters)", name, size - 1);
        exit(2);
    }
    snprintf(dst, size, "%s", v);
}

static void config_load(struct sim_config *c)
{
    const char *listen = getenv("CARRIER_SIM_LISTEN");
    if (listen == NULL || listen[0] == '\0')
        listen = "http://127.0.0.1:7190";
    if (parse_listen(listen, c->listen_host, sizeof c->listen_host, &c->listen_port) != 0) {
        log_error(NULL, "carrier-sim: CARRIER_SIM_LISTEN=%s is not http://host:port", listen);
        exit(2);
    }
    const char *health = getenv("HEALTH_LISTEN");
    if (health && health[0]) {
        if (parse_listen(health, c->health_host, sizeof c->health_host, &c->health_port) != 0) {
            log_error(NULL, "carrier-sim: HEALTH_LISTEN=%s is not http://host:port", health);
            exit(2);
        }
        if (c->health_port == c->listen_port)
            c->health_port = 0; /* the API's port serves /readyz already */
    }
    snprintf(c->public_base, sizeof c->public_base, "http://%s:%d",
             strcmp(c->listen_host, "0.0.0.0") == 0 ? "127.0.0.1" : c->listen_host,
             c->listen_port);
    copy_required("CARRIER_ACCOUNT_SID", c->account_sid, sizeof c->account_sid);
    copy_required("CARRIER_AUTH_TOKEN", c->auth_token, sizeof c->auth_token);
    c->ring_ms = env_int("CARRIER_SIM_RING_MS", 500, 0, 3600000);
    c->talk_ms = env_int("CARRIER_SIM_TALK_MS", 2000, 0, 3600000);
    c->cps = env_int("CARRIER_SIM_CPS", 0, 0, 1000000);
    c->max_calls = env_int("CARRIER_SIM_MAX_CALLS", 0, 0, 10000000);
    c->callback_retries = env_int("CARRIER_SIM_CALLBACK_RETRIES", 4, 0, 100);
    c->callback_backoff_ms = env_int("CARRIER_SIM_CALLBACK_BACKOFF_MS", 250, 1, 600000);
    c->callback_timeout_ms = env_int("CARRIER_SIM_CALLBACK_TIMEOUT_MS", 5000, 100, 600000);
    c->callback_workers = env_int("CARRIER_SIM_CALLBACK_WORKERS", 8, 1, 256);
    c->http_threads = env_int("CARRIER_SIM_HTTP_THREADS", 4, 1, 64);
    c->max_remembered_calls =
        (size_t)env_int("CARRIER_SIM_MAX_REMEMBERED", 1000000, 16, 100000000);
    c->max_numbers = (size_t)env_int("CARRIER_SIM_MAX_NUMBERS", 1000000, 16, 100000000);
}

int main(void)
{
    static struct sim sim;
    log_init("carrier-sim");
    config_load(&sim.config);

    /* Signals are taken by sigwait below; every thread started after this inherits the mask. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    int rc = 1;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        log_error(NULL, "carrier-sim: curl_global_init failed");
        return 1;
    }
    if (pthread_mutex_init(&sim.lock, NULL) != 0 || sim_calls_init(&sim) != 0)
        goto out;
    if (sim_delivery_start(&sim) != 0 || sim_timer_start(&sim) != 0) {
        log_error(NULL, "carrier-sim: cannot start its threads");
        goto stop;
    }
    if (sim_http_start(&sim) != 0)
        goto stop;
    log_info(NULL,
             "carrier-sim: listening on http://%s:%d (ring %d ms, talk %d ms, cps %d, max calls %d)",
             sim.config.listen_host, sim.config.listen_port, sim.config.ring_ms,
             sim.config.talk_ms, sim.config.cps, sim.config.max_calls);
    int sig = 0;
    sigwait(&set, &sig);
    log_info(NULL, "carrier-sim: signal %d, stopping", sig);
    rc = 0;
stop:
    sim_http_stop(&sim);
    sim_timer_stop(&sim);
    sim_delivery_stop(&sim);
    sim_calls_free(&sim);
    sim_stats_free(&sim);
out:
    curl_global_cleanup();
    return rc;
}
