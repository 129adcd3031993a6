/* Benchmark HTTP client for bench/run: POSTs request bodies over kept-alive connections, a
 * fixed number at a time, the way an importing customer's program would. It replaces one curl
 * process per request: starting curl costs ~25 ms of CPU on this kind of machine, which the
 * load generator then took from the two cores the stack runs on (measured: 52 ms of CPU per
 * 10,000-row bulk call, more than contacts-svc's own 20 ms).
 *
 *   http_load [--wait-imports N] URL KEY PARALLEL EXPECT_STATUS FILE...
 *
 * Every FILE's content is read before the clock starts and POSTed to URL with the API key;
 * each reply is written to FILE.reply. With --wait-imports N, after the last reply it polls
 * GET <origin>/v1/imports?limit=100 on the same connection until N imports show COMPLETED.
 * Prints "elapsed_ms <ms>" (first request to last reply, or to the last COMPLETED). Exits 1
 * if a status differs from EXPECT_STATUS, an import ends FAILED or COMPLETED_WITH_ERRORS, or
 * the imports take more than 10 minutes. */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "timefmt.h"

struct buffer {
    char *data;
    size_t len, cap;
};

struct transfer {
    CURL *easy;
    struct curl_slist *headers;
    struct buffer reply;
    int file; /* index into the file list, -1 when idle */
};

static int buffer_append(struct buffer *b, const char *data, size_t len)
{
    if (b->len + len + 1 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 65536;
        while (cap < b->len + len + 1)
            cap *= 2;
        char *p = realloc(b->data, cap);
        if (p == NULL)
            return -1;
        b->data = p;
        b->cap = cap;
    }
    memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
    return 0;
}

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
    return buffer_append(arg, data, size * n) == 0 ? size * n : 0;
}

static int read_file(const char *path, struct buffer *out)
{
    FILE *f = fopen(path, "rb");
    char chunk[65536];
    size_t n;
    int rc = 0;
    if (f == NULL) {
        perror(path);
        return -1;
    }
    while (rc == 0 && (n = fread(chunk, 1, sizeof chunk, f)) > 0)
        rc = buffer_append(out, chunk, n);
    fclose(f);
    return rc;
}

static int write_reply(const char *path, const struct buffer *reply)
{
    char name[4096];
    FILE *f;
    snprintf(name, sizeof name, "%s.reply", path);
    if ((f = fopen(name, "wb")) == NULL)
        return -1;
    if (reply->len > 0)
        fwrite(reply->data, 1, reply->len, f);
    return fclose(f);
}

static void transfer_start(CURLM *multi, struct transfer *t, const char *url, int file,
                           const struct buffer *body)
{
    t->file = file;
    t->reply.len = 0;
    curl_easy_setopt(t->easy, CURLOPT_URL, url);
    curl_easy_setopt(t->easy, CURLOPT_POSTFIELDS, body->data);
    curl_easy_setopt(t->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body->len);
    curl_multi_add_handle(multi, t->easy);
}

/* Polls the imports list until `want` are COMPLETED. 0 when they are, -1 otherwise. */
static int wait_imports(CURL *easy, const char *origin, int want, int64_t started)
{
    char url[2048];
    struct buffer page = {0};
    int rc = -1;

    snprintf(url, sizeof url, "%s/v1/imports?limit=100", origin);
    curl_easy_setopt(easy, CURLOPT_URL, url);
    curl_easy_setopt(easy, CURLOPT_HTTPGET, 1L);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, &page);
    while (time_monotonic_ms() - started < 600000) {
        long status = 0;
        int completed = 0;
        page.len = 0;
        if (curl_easy_perform(easy) != CURLE_OK ||
            curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status) != CURLE_OK ||
            status != 200 || page.data == NULL) {
            fprintf(stderr, "GET %s failed (status %ld)\n", url, status);
            break;
        }
        if (strstr(page.data, "\"status\":\"FAILED\"") ||
            strstr(page.data, "\"status\":\"COMPLETED_WITH_ERRORS\"")) {
            fprintf(stderr, "an import did not complete cleanly: %.500s\n", page.data);
            break;
        }
        for (const char *p = page.data; (p = strstr(p, "\"status\":\"COMPLETED\"")); p++)
            completed++;
        if (completed >= want) {
            rc = 0;
            break;
        }
        struct timespec ts = {0, 10 * 1000 * 1000}; /* 10 ms: the finish is seen within 10 ms */
        nanosleep(&ts, NULL);
    }
    if (rc != 0 && time_monotonic_ms() - started >= 600000)
        fprintf(stderr, "imports not COMPLETED within 10 minutes\n");
    free(page.data);
    return rc;
}

int main(int argc, char **argv)
{
    int arg = 1, wait_for = 0, parallel, expect, nfiles, next = 0, running = 0, failed = 0;
    struct buffer *bodies;
    struct transfer *slots;
    char header[1024], origin[1024];
    CURLM *multi;
    int64_t started;

    if (argc > 2 && strcmp(argv[1], "--wait-imports") == 0) {
        wait_for = atoi(argv[2]);
        arg = 3;
    }
    if (argc - arg < 5) {
        fprintf(stderr, "usage: http_load [--wait-imports N] URL KEY PARALLEL EXPECT_STATUS "
                        "FILE...\n");
        return 2;
    }
    const char *url = argv[arg], *key = argv[arg + 1];
    parallel = atoi(argv[arg + 2]);
    expect = atoi(argv[arg + 3]);
    char **files = argv + arg + 4;
    nfiles = argc - arg - 4;
    if (parallel < 1)
        parallel = 1;
    if (parallel > nfiles)
        parallel = nfiles;

    /* scheme://host:port of URL, for the imports list */
    const char *host = strstr(url, "://");
    const char *path = host ? strchr(host + 3, '/') : NULL;
    snprintf(origin, sizeof origin, "%.*s", path ? (int)(path - url) : (int)strlen(url), url);

    bodies = calloc((size_t)nfiles, sizeof *bodies);
    slots = calloc((size_t)parallel, sizeof *slots);
    if (bodies == NULL || slots == NULL || curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
        return 1;
    for (int i = 0; i < nfiles; i++)
        if (read_file(files[i], &bodies[i]) != 0)
            return 1;
    snprintf(header, sizeof header, "x-api-key: %s", key);
    multi = curl_multi_init();
    for (int i = 0; i < parallel; i++) {
        struct transfer *t = &slots[i];
        t->easy = curl_easy_init();
        t->headers = curl_slist_append(NULL, header);
        t->headers = curl_slist_append(t->headers, "Content-Type: application/json");
        t->headers = curl_slist_append(t->headers, "Expect:"); /* no 100-continue round trip */
        curl_easy_setopt(t->easy, CURLOPT_HTTPHEADER, t->headers);
        curl_easy_setopt(t->easy, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(t->easy, CURLOPT_WRITEDATA, &t->reply);
        curl_easy_setopt(t->easy, CURLOPT_PRIVATE, t);
        curl_easy_setopt(t->easy, CURLOPT_TIMEOUT, 120L);
        t->file = -1;
    }

    started = time_monotonic_ms();
    for (; next < parallel; next++)
        transfer_start(multi, &slots[next], url, next, &bodies[next]);
    running = parallel;
    while (running > 0) {
        int still, queued;
        CURLMsg *m;
        curl_multi_perform(multi, &still);
        while ((m = curl_multi_info_read(multi, &queued)) != NULL) {
            struct transfer *t;
            char *priv = NULL;
            long status = 0;
            if (m->msg != CURLMSG_DONE)
                continue;
            curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &priv);
            t = (struct transfer *)priv;
            curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
            curl_multi_remove_handle(multi, t->easy);
            if (m->data.result != CURLE_OK || status != expect) {
                fprintf(stderr, "POST %s with %s: %s, status %ld: %.300s\n", url,
                        files[t->file], curl_easy_strerror(m->data.result), status,
                        t->reply.data ? t->reply.data : "");
                failed = 1;
            }
            write_reply(files[t->file], &t->reply);
            running--;
            if (next < nfiles && !failed) {
                transfer_start(multi, t, url, next, &bodies[next]);
                next++;
                running++;
            }
        }
        if (running > 0)
            curl_multi_poll(multi, NULL, 0, 100, NULL);
    }
    if (!failed && wait_for > 0 && wait_imports(slots[0].easy, origin, wait_for, started) != 0)
        failed = 1;
    if (!failed)
        printf("elapsed_ms %lld\n", (long long)(time_monotonic_ms() - started));

    for (int i = 0; i < parallel; i++) {
        curl_easy_cleanup(slots[i].easy);
        curl_slist_free_all(slots[i].headers);
        free(slots[i].reply.data);
    }
    for (int i = 0; i < nfiles; i++)
        free(bodies[i].data);
    free(bodies);
    free(slots);
    curl_multi_cleanup(multi);
    curl_global_cleanup();
    return failed;
}
