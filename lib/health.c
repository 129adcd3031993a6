#include "health.h"

#include <nng/nng.h>
#include <nng/supplemental/http/http.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

struct health {
    nng_http_server *server;
    nng_url *url;
    health_ready_fn ready;
    void *arg;
};

static void health_reply(nng_aio *aio, uint16_t status, const char *body)
{
    nng_http_res *res;
    if (nng_http_res_alloc(&res) != 0) {
        nng_aio_finish(aio, NNG_ENOMEM);
        return;
    }
    nng_http_res_set_status(res, status);
    nng_http_res_set_header(res, "Content-Type", "application/json");
    nng_http_res_copy_data(res, body, strlen(body));
    nng_aio_set_output(aio, 0, res);
    nng_aio_finish(aio, 0);
}

static void health_live(nng_aio *aio)
{
    health_reply(aio, 200, "{\"status\":\"ok\"}");
}

static void health_readiness(nng_aio *aio)
{
    nng_http_handler *handler = nng_aio_get_input(aio, 1);
    struct health *h = nng_http_handler_get_data(handler);
    if (h->ready == NULL || h->ready(h->arg) == 0)
        health_reply(aio, 200, "{\"status\":\"ready\"}");
    else
        health_reply(aio, 503, "{\"status\":\"unavailable\"}");
}

static int health_add(struct health *h, const char *path, void (*cb)(nng_aio *))
{
    nng_http_handler *handler;
    int rv;
    if ((rv = nng_http_handler_alloc(&handler, path, cb)) != 0)
        return rv;
    nng_http_handler_set_method(handler, "GET");
    nng_http_handler_set_data(handler, h, NULL);
    if ((rv = nng_http_server_add_handler(h->server, handler)) != 0)
        nng_http_handler_free(handler);
    return rv;
}

struct health *health_start(const char *url, health_ready_fn ready, void *arg)
{
    struct health *h = calloc(1, sizeof *h);
    int rv;

    if (h == NULL)
        return NULL;
    h->ready = ready;
    h->arg = arg;
    if ((rv = nng_url_parse(&h->url, url)) != 0 ||
        (rv = nng_http_server_hold(&h->server, h->url)) != 0 ||
        (rv = health_add(h, "/healthz", health_live)) != 0 ||
        (rv = health_add(h, "/readyz", health_readiness)) != 0 ||
        (rv = nng_http_server_start(h->server)) != 0) {
        log_error(NULL, "health endpoint %s: %s", url, nng_strerror(rv));
        health_stop(h);
        return NULL;
    }
    return h;
}

void health_stop(struct health *h)
{
    if (h == NULL)
        return;
    if (h->server != NULL) {
        nng_http_server_stop(h->server);
        nng_http_server_release(h->server);
    }
    if (h->url != NULL)
        nng_url_free(h->url);
    free(h);
}
