/* /sim/stats: calls placed, concurrency overall and per number (To and From), and counters of
 * what went wrong (callbacks, TwiML, 429s). Also the string-keyed map the call table and the
 * per-number counters use. All with sim->lock held.
 *
 * Concurrency counts a call from its create to its terminal state. The per-number maps hold
 * at most config.max_numbers entries each; calls to numbers beyond that are counted only in
 * the totals (numbersDropped says how many). */
#include <stdlib.h>
#include <string.h>

#include "sim.h"

/* ---- map ---- */

static size_t map_hash(const char *key)
{
    size_t h = 1469598103934665603ull; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)key; *p; p++)
        h = (h ^ *p) * 1099511628211ull;
    return h;
}

void *sim_map_get(const struct sim_map *m, const char *key)
{
    if (m->nbuckets == 0)
        return NULL;
    for (struct sim_map_entry *e = m->buckets[map_hash(key) % m->nbuckets]; e; e = e->next)
        if (strcmp(e->key, key) == 0)
            return e->value;
    return NULL;
}

static int map_grow(struct sim_map *m)
{
    size_t n = m->nbuckets ? m->nbuckets * 2 : 1024;
    struct sim_map_entry **buckets = calloc(n, sizeof *buckets);
    if (buckets == NULL)
        return -1;
    for (size_t i = 0; i < m->nbuckets; i++) {
        struct sim_map_entry *e = m->buckets[i];
        while (e) {
            struct sim_map_entry *next = e->next;
            size_t b = map_hash(e->key) % n;
            e->next = buckets[b];
            buckets[b] = e;
            e = next;
        }
    }
    free(m->buckets);
    m->buckets = buckets;
    m->nbuckets = n;
    return 0;
}

int sim_map_put(struct sim_map *m, const char *key, void *value)
{
    if (m->count >= m->nbuckets && map_grow(m) != 0 && m->nbuckets == 0)
        return -1;
    struct sim_map_entry *e = malloc(sizeof *e);
    if (e == NULL)
        return -1;
    e->key = strdup(key);
    if (e->key == NULL) {
        free(e);
        return -1;
    }
    e->value = value;
    size_t b = map_hash(key) % m->nbuckets;
    e->next = m->buckets[b];
    m->buckets[b] = e;
    m->count++;
    return 0;
}

void *sim_map_remove(struct sim_map *m, const char *key)
{
    if (m->nbuckets == 0)
        return NULL;
    struct sim_map_entry **link = &m->buckets[map_hash(key) % m->nbuckets];
    for (; *link; link = &(*link)->next) {
        struct sim_map_entry *e = *link;
        if (strcmp(e->key, key) == 0) {
            void *value = e->value;
            *link = e->next;
            free(e->key);
            free(e);
            m->count--;
            return value;
        }
    }
    return NULL;
}

void sim_map_clear(struct sim_map *m, void (*fn)(void *value))
{
    for (size_t i = 0; i < m->nbuckets; i++) {
        struct sim_map_entry *e = m->buckets[i];
        while (e) {
            struct sim_map_entry *next = e->next;
            if (fn)
                fn(e->value);
            free(e->key);
            free(e);
            e = next;
        }
        m->buckets[i] = NULL;
    }
    m->count = 0;
}

/* ---- per number ---- */

static struct number_stats *number_get(struct sim *sim, struct sim_map *map, const char *number)
{
    struct number_stats *n = sim_map_get(map, number);
    if (n || map->count >= sim->config.max_numbers)
        return n;
    n = calloc(1, sizeof *n);
    if (n == NULL)
        return NULL;
    if (sim_map_put(map, number, n) != 0) {
        free(n);
        return NULL;
    }
    return n;
}

static bool number_started(struct sim *sim, struct sim_map *map, const char *number)
{
    struct number_stats *n = number_get(sim, map, number);
    if (n == NULL) {
        sim->stats.numbers_dropped++;
        return false;
    }
    n->calls++;
    n->active++;
    if (n->active > n->max_active)
        n->max_active = n->active;
    return true;
}

static void number_ended(struct sim_map *map, const char *number)
{
    struct number_stats *n = sim_map_get(map, number);
    if (n && n->active > 0)
        n->active--;
}

void sim_stats_call_started(struct sim *sim, struct call *call)
{
    struct sim_stats *s = &sim->stats;
    s->calls_placed++;
    s->active++;
    if (s->active > s->max_active)
        s->max_active = s->active;
    call->counted_active = true;
    call->to_tracked = number_started(sim, &s->by_to, call->to);
    call->from_tracked = number_started(sim, &s->by_from, call->from);
}

static const char *const terminal_statuses[] = {"completed", "busy", "no-answer", "failed",
                                                "canceled"};
#define NTERMINAL (sizeof terminal_statuses / sizeof terminal_statuses[0])

void sim_stats_call_ended(struct sim *sim, struct call *call)
{
    struct sim_stats *s = &sim->stats;
    for (size_t i = 0; i < NTERMINAL; i++)
        if (strcmp(call->status, terminal_statuses[i]) == 0)
            s->by_status[i]++;
    if (!call->counted_active)
        return;
    call->counted_active = false;
    if (s->active > 0)
        s->active--;
    if (call->to_tracked)
        number_ended(&s->by_to, call->to);
    if (call->from_tracked)
        number_ended(&s->by_from, call->from);
}

static json_t *numbers_json(const struct sim_map *map)
{
    json_t *o = json_object();
    for (size_t i = 0; i < map->nbuckets; i++)
        for (struct sim_map_entry *e = map->buckets[i]; e; e = e->next) {
            const struct number_stats *n = e->value;
            json_object_set_new(o, e->key,
                                json_pack("{s:I, s:i, s:i}", "calls", (json_int_t)n->calls,
                                          "maxConcurrent", n->max_active, "concurrent",
                                          n->active));
        }
    return o;
}

json_t *sim_stats_json(struct sim *sim, bool numbers)
{
    const struct sim_stats *s = &sim->stats;
    json_t *by_status = json_object();
    for (size_t i = 0; i < NTERMINAL; i++)
        json_object_set_new(by_status, terminal_statuses[i],
                            json_integer((json_int_t)s->by_status[i]));
    json_t *o = json_pack(
        "{s:I, s:i, s:i, s:o, s:o, s:o, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I,"
        " s:I, s:I, s:I}",
        "callsPlaced", (json_int_t)s->calls_placed, "maxConcurrent", s->max_active,
        "concurrent", s->active, "byTo", numbers ? numbers_json(&s->by_to) : json_null(),
        "byFrom", numbers ? numbers_json(&s->by_from) : json_null(), "byStatus", by_status,
        "rejected429", (json_int_t)s->rejected_429, "rejectedCps", (json_int_t)s->rejected_cps,
        "rejectedMaxCalls", (json_int_t)s->rejected_max_calls,
        "rejected400", (json_int_t)s->rejected_400,
        "callbacksSent", (json_int_t)s->callbacks_sent,
        "callbackRetries", (json_int_t)s->callback_retries,
        "callbackFailures", (json_int_t)s->callback_failures,
        "twimlFetched", (json_int_t)s->twiml_fetched, "twimlErrors", (json_int_t)s->twiml_errors,
        "outcomesPosted", (json_int_t)s->outcomes_posted,
        "outcomeFailures", (json_int_t)s->outcome_failures,
        "callsRemembered", (json_int_t)sim->ncalls, "callsEvicted", (json_int_t)s->evicted,
        "numbersDropped", (json_int_t)s->numbers_dropped);
    return o;
}

/* Keeps what the limits need (calls in progress), forgets the rest. */
static void numbers_reset(struct sim_map *map)
{
    for (size_t i = 0; i < map->nbuckets; i++) {
        struct sim_map_entry **link = &map->buckets[i];
        while (*link) {
            struct sim_map_entry *e = *link;
            struct number_stats *n = e->value;
            if (n->active == 0) {
                *link = e->next;
                free(e->key);
                free(n);
                free(e);
                map->count--;
            } else {
                n->calls = 0;
                n->max_active = n->active;
                link = &e->next;
            }
        }
    }
}

void sim_stats_reset(struct sim *sim)
{
    struct sim_stats *s = &sim->stats;
    struct sim_map by_to = s->by_to, by_from = s->by_from;
    int active = s->active;
    memset(s, 0, sizeof *s);
    s->active = active;
    s->max_active = active;
    s->by_to = by_to;
    s->by_from = by_from;
    numbers_reset(&s->by_to);
    numbers_reset(&s->by_from);
}

void sim_stats_free(struct sim *sim)
{
    sim_map_clear(&sim->stats.by_to, free);
    sim_map_clear(&sim->stats.by_from, free);
    free(sim->stats.by_to.buckets);
    free(sim->stats.by_from.buckets);
    sim->stats.by_to.buckets = sim->stats.by_from.buckets = NULL;
}
