/* Request bodies: buffered as they arrive, up to the size limit (413 past it), and counted
 * against one cap for the bodies of all connections (HTTP_MAX_BODY_MEMORY; 503 past it). A
 * declared Content-Length is reserved when the caller is admitted, before any of it is read.
 * The buffer is freed with its request (http_completed). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "http_internal.h"

/* Bodies larger than this get a mapping of their own, unmapped when the request ends: their
 * memory goes back to the kernel at once, while the heap (lib/service.h) keeps its peak to
 * stay warm for the common bulk call (1.3 MB for 10,000 contacts, below this). */
#define HTTP_BODY_MMAP_MIN ((size_t)4 << 20)
#define HTTP_BODY_FIRST_CAP 16384
/* The bodies' memory cap (HTTP_MAX_BODY_MEMORY) is reached: come back in a moment. */
#define HTTP_OVER_MEMORY_RETRY "1"

void http_over_memory(struct api_response *res)
{
    api_error(res, 503, "The gateway is busy with other uploads; retry shortly", NULL);
}

void http_too_large(struct gateway *gw, struct api_response *res)
{
    char msg[96];
    snprintf(msg, sizeof msg, "Request body exceeds the limit of %zu bytes", gw->max_body_bytes);
    api_error(res, 413, msg, NULL);
}

/* Counts `more` bytes against the bodies' cap; false (nothing counted) past it. */
static bool http_body_account(struct http_server *s, struct http_exchange *ex, size_t more)
{
    bool fits;
    pthread_mutex_lock(&s->lock);
    fits = s->body_memory_max == 0 || more <= s->body_memory_max - s->body_memory;
    if (fits) {
        s->body_memory += more;
        ex->body_reserved += more;
    }
    pthread_mutex_unlock(&s->lock);
    return fits;
}

void http_body_release(struct http_server *s, struct http_exchange *ex)
{
    if (ex->body != NULL && ex->body_mapped)
        munmap(ex->body, ex->body_cap);
    else
        free(ex->body);
    ex->body = NULL;
    ex->body_len = ex->body_cap = 0;
    ex->body_mapped = false;
    if (ex->body_reserved > 0) {
        pthread_mutex_lock(&s->lock);
        s->body_memory -= ex->body_reserved;
        pthread_mutex_unlock(&s->lock);
        ex->body_reserved = 0;
    }
}

/* Makes room for `need` bytes of body and a NUL: exactly the declared length when there is
 * one, else doubling. Small bodies live on the heap, large ones (HTTP_BODY_MMAP_MIN) in a
 * mapping of their own. 0; 1 when the bodies' cap is reached; -1 when out of memory. */
static int http_body_grow(struct http_server *s, struct http_exchange *ex, size_t need)
{
    size_t cap;
    char *grown;

    if (need + 1 <= ex->body_cap)
        return 0;
    if (ex->declared >= need) {
        cap = ex->declared + 1;
    } else {
        cap = ex->body_cap ? ex->body_cap : HTTP_BODY_FIRST_CAP;
        while (cap < need + 1)
            cap *= 2;
    }
    if (cap > ex->body_reserved && !http_body_account(s, ex, cap - ex->body_reserved))
        return 1;
    if (cap <= HTTP_BODY_MMAP_MIN) {
        if ((grown = realloc(ex->body, cap)) == NULL)
            return -1;
    } else if (ex->body_mapped) {
        if ((grown = mremap(ex->body, ex->body_cap, cap, MREMAP_MAYMOVE)) == MAP_FAILED)
            return -1;
    } else {
        grown = mmap(NULL, cap, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (grown == MAP_FAILED)
            return -1;
        if (ex->body_len > 0)
            memcpy(grown, ex->body, ex->body_len);
        free(ex->body);
        ex->body_mapped = true;
    }
    ex->body = grown;
    ex->body_cap = cap;
    return 0;
}

enum MHD_Result http_body_append(struct http_server *s, struct http_exchange *ex,
                                 const char *data, size_t *size)
{
    size_t n = *size;
    *size = 0;
    if (ex->too_large || ex->over_memory)
        return MHD_YES;
    if (ex->body_len + n > s->gw->max_body_bytes) {
        /* A chunked body that grew past the limit: drop what we have, read and discard the
         * rest, then answer 413. */
        ex->too_large = true;
        http_body_release(s, ex);
        return MHD_YES;
    }
    switch (http_body_grow(s, ex, ex->body_len + n)) {
    case 0:
        break;
    case 1: /* past the bodies' cap: drop it, read and discard the rest, answer 503 */
        ex->over_memory = true;
        http_body_release(s, ex);
        return MHD_YES;
    default:
        return MHD_NO;
    }
    memcpy(ex->body + ex->body_len, data, n);
    ex->body_len += n;
    ex->body[ex->body_len] = '\0';
    return MHD_YES;
}

enum MHD_Result http_admit(struct http_server *s, struct http_exchange *ex)
{
    ex->stage = HTTP_READING;
    if (ex->declared > 0 && !http_body_account(s, ex, ex->declared + 1)) {
        struct api_response res = {0, NULL, NULL, 0, NULL, NULL};
        http_over_memory(&res);
        http_build(ex, &res, NULL, ex->authenticated ? ex->identity.org_id : NULL, NULL);
        json_decref(res.body);
        if (ex->response != NULL)
            MHD_add_response_header(ex->response, "Retry-After", HTTP_OVER_MEMORY_RETRY);
        return http_queue(ex->conn, ex, ex->method, ex->url);
    }
    return MHD_YES;
}
