/* The access log: one JSON line per answered request (request id, method, path, status,
 * time, bytes, organization).
 *
 * Refused requests (401, 429, 413, 503) are what a flood is made of: 50,000 random keys
 * wrote 34 MB of access log (issue 13). At most HTTP_REFUSED_LOG_PER_SECOND of them are
 * logged a second; the rest are counted, and the next refused line logged says how many
 * were left out ("suppressed"). */
#include <jansson.h>
#include <pthread.h>

#include "http_internal.h"
#include "log.h"
#include "timefmt.h"

#define HTTP_REFUSED_LOG_PER_SECOND 20
/* the sampling's state, shared by every thread that answers (under http_log_lock) */
static pthread_mutex_t http_log_lock = PTHREAD_MUTEX_INITIALIZER;
static int64_t http_log_second;
static long http_log_logged, http_log_suppressed;

/* True when a request answered with `status` is logged; *suppressed is then how many refused
 * lines were left out since the last one logged. */
static bool http_log_refused(unsigned status, long *suppressed)
{
    int64_t second = time_monotonic_ms() / 1000;
    bool log;
    *suppressed = 0;
    if (status != 401 && status != 429 && status != 413 && status != 503)
        return true;
    pthread_mutex_lock(&http_log_lock);
    if (second != http_log_second) {
        http_log_second = second;
        http_log_logged = 0;
    }
    log = http_log_logged < HTTP_REFUSED_LOG_PER_SECOND;
    if (log) {
        http_log_logged++;
        *suppressed = http_log_suppressed;
        http_log_suppressed = 0;
    } else {
        http_log_suppressed++;
    }
    pthread_mutex_unlock(&http_log_lock);
    return log;
}

void http_log_access(const struct http_exchange *ex, const char *method, const char *url)
{
    long suppressed;
    if (!http_log_refused(ex->status, &suppressed))
        return;
    json_t *line = json_pack("{s:s, s:s, s:s, s:i, s:I, s:I}", "rid", ex->request_id, "method",
                             method, "path", url, "status", (int)ex->status, "ms",
                             (json_int_t)(time_monotonic_ms() - ex->started_ms), "bytes",
                             (json_int_t)ex->bytes);
    if (ex->org_id[0] != '\0')
        json_object_set_new(line, "org", json_string(ex->org_id));
    if (suppressed > 0)
        json_object_set_new(line, "suppressed", json_integer(suppressed));
    json_object_set_new(line, "msg", json_string("http"));
    log_fields(ex->status >= 500 ? LOG_WARN : LOG_INFO, line);
}
