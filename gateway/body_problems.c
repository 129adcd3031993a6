#include "body_problems.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "json_util.h"

void body_problems_init(struct body_problems *p)
{
    p->details = json_array();
    p->first[0] = '\0';
    p->count = 0;
}

void body_problems_free(struct body_problems *p)
{
    json_decref(p->details);
    p->details = NULL;
}

void body_problems_add(struct body_problems *p, const char *field, const char *fmt, ...)
{
    char message[256];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    if (p->count == 0)
        snprintf(p->first, sizeof p->first, "%s", message);
    p->count++;
    /* json_pack refuses invalid UTF-8 (a message quoting a key cut mid-character): skip it */
    json_t *item = json_pack("{s:s, s:s}", "field", field, "message", message);
    if (item != NULL && p->details != NULL)
        json_array_append_new(p->details, item);
}

int body_problems_unknown_keys(struct body_problems *p, const json_t *obj, const char *where,
                               const char *const allowed[], const char *what)
{
    const char *key;
    json_t *value;
    int n = 0;

    json_object_foreach((json_t *)obj, key, value) {
        bool known = false;
        for (size_t i = 0; allowed[i] != NULL && !known; i++)
            known = strcmp(allowed[i], key) == 0;
        if (known)
            continue;
        char field[160];
        snprintf(field, sizeof field, "%s%.100s", where, key);
        body_problems_add(p, field, "%s is not a field of %s", field, what);
        n++;
    }
    return n;
}

static int body_problems_field(char *field, size_t size, const char *where, const char *key)
{
    return snprintf(field, size, "%s%s", where, key);
}

int body_problems_string(struct body_problems *p, const json_t *obj, const char *where,
                         const char *key, size_t max_len, const char **out)
{
    const json_t *v = json_object_get(obj, key);
    char field[160];

    if (v == NULL || json_is_null(v))
        return 0;
    body_problems_field(field, sizeof field, where, key);
    if (!json_is_string(v)) {
        body_problems_add(p, field, "%s must be a string", field);
        return -1;
    }
    if (max_len > 0 && json_string_length(v) > max_len) {
        body_problems_add(p, field, "%s must be at most %zu characters", field, max_len);
        return -1;
    }
    if (strlen(json_string_value(v)) != json_string_length(v)) {
        body_problems_add(p, field, "%s must not contain NUL characters", field);
        return -1;
    }
    *out = json_string_value(v);
    return 1;
}

int body_problems_int(struct body_problems *p, const json_t *obj, const char *where,
                      const char *key, long long min, long long max, long long *out)
{
    const json_t *v = json_object_get(obj, key);
    char field[160];

    if (v == NULL || json_is_null(v))
        return 0;
    body_problems_field(field, sizeof field, where, key);
    if (!json_is_integer(v)) {
        body_problems_add(p, field, "%s must be an integer", field);
        return -1;
    }
    if (json_integer_value(v) < min || json_integer_value(v) > max) {
        body_problems_add(p, field, "%s must be between %lld and %lld", field, min, max);
        return -1;
    }
    *out = json_integer_value(v);
    return 1;
}

int body_problems_bool(struct body_problems *p, const json_t *obj, const char *where,
                       const char *key, int *out)
{
    const json_t *v = json_object_get(obj, key);
    char field[160];

    if (v == NULL || json_is_null(v))
        return 0;
    body_problems_field(field, sizeof field, where, key);
    if (!json_is_boolean(v)) {
        body_problems_add(p, field, "%s must be a boolean", field);
        return -1;
    }
    *out = json_is_true(v);
    return 1;
}

int body_problems_object(struct body_problems *p, const json_t *obj, const char *where,
                         const char *key, const json_t **out)
{
    const json_t *v = json_object_get(obj, key);
    char field[160];

    if (v == NULL || json_is_null(v))
        return 0;
    body_problems_field(field, sizeof field, where, key);
    if (!json_is_object(v)) {
        body_problems_add(p, field, "%s must be an object", field);
        return -1;
    }
    *out = v;
    return 1;
}

int body_problems_json_string(struct body_problems *p, const json_t *obj, const char *where,
                              const char *key, size_t max_len, const char **out)
{
    char err[JSON_ERROR_MAX], field[160];
    enum json_field_result r = json_field_string(obj, where, key, max_len, out, err, sizeof err);
    if (r == JSON_FIELD_BAD) {
        body_problems_field(field, sizeof field, where, key);
        body_problems_add(p, field, "%s", err);
    }
    return r;
}

int body_problems_json_bool(struct body_problems *p, const json_t *obj, const char *where,
                            const char *key, int *out)
{
    char err[JSON_ERROR_MAX], field[160];
    enum json_field_result r = json_field_bool(obj, where, key, out, err, sizeof err);
    if (r == JSON_FIELD_BAD) {
        body_problems_field(field, sizeof field, where, key);
        body_problems_add(p, field, "%s", err);
    }
    return r;
}

void body_problems_first(struct body_problems *p, char *err, size_t err_size)
{
    if (err_size > 0)
        snprintf(err, err_size, "%s", p->first[0] ? p->first : "invalid request body");
    body_problems_free(p);
}
