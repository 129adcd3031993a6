/* Every problem of a request body, not only the first: a 400's `details: [{field, message}]`
 * (issue 14). A handler collects with the body_problems_* readers below, then answers with
 * body_problems_answer when any were found.
 *
 * Ownership: strings handed out by the readers point into the borrowed JSON object; `details`
 * belongs to the collector until body_problems_answer (which gives it to the response) or
 * body_problems_free. */
#ifndef GATEWAY_BODY_PROBLEMS_H
#define GATEWAY_BODY_PROBLEMS_H

#include <jansson.h>
#include <stddef.h>

#include "gateway.h"

struct body_problems {
    json_t *details;   /* [{field, message}], in the order found */
    char first[256];   /* the first message: the error's "message" */
    int count;
};

void body_problems_init(struct body_problems *p);
void body_problems_free(struct body_problems *p);
/* Adds one problem; message is printf-style. field may be "" for the body as a whole. */
void body_problems_add(struct body_problems *p, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Answers 400 with the first message and every problem as details; frees the collector.
 * (Inline so the mapping code itself links without the HTTP layer, e.g. in a fuzz target.) */
static inline void body_problems_answer(struct body_problems *p, struct api_response *res)
{
    api_error(res, 400, p->first[0] ? p->first : "invalid request body", p->details);
    p->details = NULL;
}

/* Every key of obj that is not in `allowed` (NULL-terminated) is a problem naming it:
 * "<where><key> is not a field of <what>". Returns the number found. */
int body_problems_unknown_keys(struct body_problems *p, const json_t *obj, const char *where,
                               const char *const allowed[], const char *what);

/* Typed readers: 1 when the key holds a value of the right type (stored in *out), 0 when it
 * is absent or null, -1 when it is wrong (a problem was added). `where` prefixes the field. */
int body_problems_string(struct body_problems *p, const json_t *obj, const char *where,
                         const char *key, size_t max_len, const char **out);
int body_problems_int(struct body_problems *p, const json_t *obj, const char *where,
                      const char *key, long long min, long long max, long long *out);
int body_problems_bool(struct body_problems *p, const json_t *obj, const char *where,
                       const char *key, int *out);
/* An object (absent/null: 0). */
int body_problems_object(struct body_problems *p, const json_t *obj, const char *where,
                         const char *key, const json_t **out);

/* json_util's readers (their wording), a BAD result added to p: the json_field_result. */
int body_problems_json_string(struct body_problems *p, const json_t *obj, const char *where,
                              const char *key, size_t max_len, const char **out);
int body_problems_json_bool(struct body_problems *p, const json_t *obj, const char *where,
                            const char *key, int *out);
/* Copies the first problem into err (for the single-message wrappers); frees p. */
void body_problems_first(struct body_problems *p, char *err, size_t err_size);

#endif
