/* Issue 13, HTTP framing: requests whose body boundaries are ambiguous are refused from their
 * headers, at once, as JSON errors, and the connection is closed. Each case is sent on a raw
 * socket to a real gateway (no service behind it is needed: nothing here reaches a route).
 * On the old code the first two were answered from the first Content-Length, the third hung
 * until the idle timeout and the fourth was served. */
#include <arpa/inet.h>
#include <check.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "testsupport.h"

static struct ts_db *g_db;
static struct ts_proc *g_gateway;
static int g_port;

/* Sends request on a new connection and reads until the server closes it or 5 s pass; the
 * answer goes into out, the time it took into *ms. */
static void raw(const char *request, char *out, size_t size, int64_t *ms)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)g_port)};
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    size_t len = 0;
    int64_t started = ts_now_ms();
    ck_assert_int_ge(fd, 0);
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    ck_assert_int_eq(send(fd, request, strlen(request), MSG_NOSIGNAL), (ssize_t)strlen(request));
    while (len + 1 < size && ts_now_ms() - started < 5000) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 100) <= 0)
            continue;
        ssize_t n = recv(fd, out + len, size - 1 - len, 0);
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    out[len] = '\0';
    *ms = ts_now_ms() - started;
    close(fd);
}

static void assert_refused(const char *request, const char *status_line, int code)
{
    char answer[8192], json_code[32];
    int64_t ms;
    raw(request, answer, sizeof answer, &ms);
    ck_assert_msg(strncmp(answer, status_line, strlen(status_line)) == 0,
                  "expected %s, got: %.200s", status_line, answer);
    snprintf(json_code, sizeof json_code, "\"statusCode\":%d", code);
    ck_assert_msg(strstr(answer, json_code) != NULL, "not a JSON error: %.400s", answer);
    ck_assert_msg(strstr(answer, "application/json") != NULL, "content type: %.400s", answer);
    ck_assert_msg(ms < 2000, "answered after %lld ms (and the connection closed?)",
                  (long long)ms);
}

static void setup(void)
{
    char bin[PATH_MAX], e_db[700], e_port[32], e_health[80];
    ts_binary("gateway/gateway", bin, sizeof bin);
    g_db = ts_db_create();
    g_port = ts_free_port();
    snprintf(e_db, sizeof e_db, "DATABASE_URL=%s", ts_db_url(g_db, "gateway"));
    snprintf(e_port, sizeof e_port, "HTTP_PORT=%d", g_port);
    snprintf(e_health, sizeof e_health, "HEALTH_LISTEN=http://127.0.0.1:%d", ts_free_port());
    const char *env[] = {e_db, "HTTP_BIND=127.0.0.1", e_port, e_health, "HTTP_THREADS=2", NULL};
    g_gateway = ts_proc_start("gateway", bin, NULL, env);
    ts_proc_wait_ready(g_gateway, 30000);
}

static void teardown(void)
{
    ts_proc_free(g_gateway);
    ts_db_drop(g_db);
}

/* Two different Content-Lengths. libmicrohttpd 0.9.75 accepts a larger first value followed by
 * a smaller one and used the first (a proxy using the other sees another request: smuggling);
 * that is ours to refuse (http_framing.c). The other forms it refuses itself, before any
 * callback of ours, with the JSON body of our patch (third_party/libmicrohttpd). Identical
 * repeats are allowed (RFC 9110 8.6). */
START_TEST(test_two_content_lengths)
{
    char answer[4096];
    int64_t ms;
    assert_refused("POST /v1/contacts HTTP/1.1\r\nHost: t\r\nx-api-key: sk_x\r\n"
                   "Content-Length: 6\r\nContent-Length: 5\r\n\r\nhello!",
                   "HTTP/1.1 400", 400);
    assert_refused("POST /v1/contacts HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n"
                   "Content-Length: 6\r\n\r\nhello!",
                   "HTTP/1.1 400", 400);
    assert_refused("POST /v1/contacts HTTP/1.1\r\nHost: t\r\nContent-Length: 5, 6\r\n\r\n"
                   "hello!",
                   "HTTP/1.1 400", 400);
    raw("POST /v1/contacts HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nContent-Length: 5\r\n"
        "Connection: close\r\n\r\nhello", answer, sizeof answer, &ms);
    ck_assert_msg(strncmp(answer, "HTTP/1.1 401", 12) == 0, "got: %.200s", answer);
}
END_TEST

START_TEST(test_transfer_encoding_not_chunked)
{
    assert_refused("POST /v1/contacts HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip\r\n\r\n",
                   "HTTP/1.1 501", 501);
    assert_refused("POST /v1/contacts HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n"
                   "Content-Length: 3\r\n\r\n0\r\n\r\n",
                   "HTTP/1.1 400", 400);
}
END_TEST

START_TEST(test_http11_without_host)
{
    char answer[4096];
    int64_t ms;
    assert_refused("GET /v1/contacts HTTP/1.1\r\n\r\n", "HTTP/1.1 400", 400);
    /* HTTP/1.0 has no Host requirement; a well-framed request goes on to authentication */
    raw("GET /v1/contacts HTTP/1.0\r\n\r\n", answer, sizeof answer, &ms);
    ck_assert_msg(strstr(answer, " 401 ") != NULL, "got: %.200s", answer);
    raw("GET /v1/contacts HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", answer,
        sizeof answer, &ms);
    ck_assert_msg(strncmp(answer, "HTTP/1.1 401", 12) == 0, "got: %.200s", answer);
}
END_TEST

/* What libmicrohttpd refuses before any callback of ours runs. Stock 0.9.75 answers these with
 * compiled-in HTML pages; the patched build (third_party/libmicrohttpd) with the API's JSON
 * error, a 400 with its "details" like every other 400. */
START_TEST(test_server_refusals_are_json)
{
    char answer[8192];
    int64_t ms;
    assert_refused("POST /v1/contacts HTTP/1.1\r\nHost: t\r\nContent-Length: -1\r\n\r\n",
                   "HTTP/1.1 400", 400);
    assert_refused("POST /v1/contacts HTTP/1.1\r\nHost: t\r\nContent-Length: 12abc\r\n\r\n",
                   "HTTP/1.1 400", 400);
    assert_refused("POST /v1/contacts HTTP/1.1\r\nHost: t\r\nContent-Length: "
                   "99999999999999999999999\r\n\r\n",
                   "HTTP/1.1 413", 413);
    /* a malformed chunk size: found while the body is read, so on a route that reads it
     * before any key is asked for (a carrier callback is signed over its body) */
    assert_refused("POST /v1/carrier/status HTTP/1.1\r\nHost: t\r\n"
                   "Content-Type: application/x-www-form-urlencoded\r\n"
                   "Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
                   "HTTP/1.1 400", 400);
    assert_refused("GET /v1/contacts HTTP/2.5\r\nHost: t\r\n\r\n", "HTTP/1.1 505", 505);
    /* "details" as in every other 400 */
    raw("POST /v1/contacts HTTP/1.1\r\nHost: t\r\nContent-Length: -1\r\n\r\n", answer,
        sizeof answer, &ms);
    ck_assert_msg(strstr(answer, "\"details\":[{\"field\":\"\",\"message\":") != NULL, "got: %.400s",
                  answer);

    /* 64 KiB of headers: past the connection's memory, 431 */
    size_t big = 64 * 1024;
    char *request = malloc(big + 256);
    ck_assert_ptr_nonnull(request);
    int n = snprintf(request, 256, "GET /v1/contacts HTTP/1.1\r\nHost: t\r\nX-Big: ");
    memset(request + n, 'a', big);
    strcpy(request + n + big, "\r\n\r\n");
    assert_refused(request, "HTTP/1.1 431", 431);
    /* and a 64 KiB request target, 414 */
    n = snprintf(request, 256, "GET /v1/contacts?q=");
    memset(request + n, 'a', big);
    strcpy(request + n + big, " HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_refused(request, "HTTP/1.1 414", 414);
    free(request);
}
END_TEST

int main(void)
{
    SRunner *sr;
    int failed;
    ts_init("e2e-framing");
    Suite *s = suite_create("http-framing");
    TCase *tc = tcase_create("framing");
    tcase_add_unchecked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 0);
    tcase_add_test(tc, test_two_content_lengths);
    tcase_add_test(tc, test_transfer_encoding_not_chunked);
    tcase_add_test(tc, test_http11_without_host);
    tcase_add_test(tc, test_server_refusals_are_json);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, CK_VERBOSE);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return ts_finish(failed);
}
