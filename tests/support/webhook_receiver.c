/* webhook-receiver N TIMEOUT_S: the benchmark's receiver (bench/run). Listens on a free port,
 * prints "PORT <p>", answers 200 to every webhook, and once N have arrived (or TIMEOUT_S
 * passed) prints
 *   DONE <received> <first_ms> <last_ms> <p50_ms> <p99_ms> <max_ms> <bad_signatures>
 * where times are Unix milliseconds of arrival and the latencies run from the payload's
 * "timestamp" (the producer's commit) to arrival. WEBHOOK_SECRET, when set, is checked. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "receiver.h"
#include "timefmt.h"

static int compare_ll(const void *a, const void *b)
{
    long long x = *(const long long *)a, y = *(const long long *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    size_t want, n, bad = 0;
    int timeout_s;
    struct receiver *r;
    long long *lat, first = 0, last = 0;
    size_t nlat = 0;

    if (argc != 3) {
        fprintf(stderr, "usage: webhook-receiver N TIMEOUT_S\n");
        return 2;
    }
    want = (size_t)strtoul(argv[1], NULL, 10);
    timeout_s = atoi(argv[2]);
    setenv("RECEIVER_NO_IDS", "1", 1); /* count requests, do not track ids: N is large */
    if ((r = receiver_start(0)) == NULL) {
        fprintf(stderr, "webhook-receiver: cannot listen\n");
        return 1;
    }
    if (getenv("WEBHOOK_SECRET") != NULL) {
        const char *secrets[] = {getenv("WEBHOOK_SECRET"), NULL};
        receiver_set_secrets(r, secrets);
    }
    printf("PORT %d\n", receiver_port(r));
    fflush(stdout);
    receiver_wait_delivered(r, want, timeout_s * 1000);
    receiver_pause(r);
    n = receiver_count(r);
    lat = calloc(n + 1, sizeof *lat);
    for (size_t i = 0; i < n; i++) {
        struct received rec;
        int64_t ts;
        if (!receiver_get(r, i, &rec))
            break;
        json_t *body = json_loads(rec.body, 0, NULL);
        const char *t = json_string_value(json_object_get(body, "timestamp"));
        if (t != NULL && time_parse_iso(t, &ts) == 0)
            lat[nlat++] = rec.at_wall_ms - ts;
        if (first == 0 || rec.at_wall_ms < first)
            first = rec.at_wall_ms;
        if (rec.at_wall_ms > last)
            last = rec.at_wall_ms;
        if (getenv("WEBHOOK_SECRET") != NULL && (rec.n_signatures == 0 || rec.n_valid == 0))
            bad++;
        json_decref(body);
        receiver_received_free(&rec);
    }
    qsort(lat, nlat, sizeof *lat, compare_ll);
    printf("DONE %zu %lld %lld %lld %lld %lld %zu\n", n, first, last,
           nlat ? lat[nlat / 2] : -1, nlat ? lat[(nlat * 99) / 100 < nlat ? (nlat * 99) / 100 : nlat - 1] : -1,
           nlat ? lat[nlat - 1] : -1, bad);
    free(lat);
    receiver_stop(r);
    return n >= want ? 0 : 1;
}
