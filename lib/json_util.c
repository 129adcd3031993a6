#include "json_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "json_scan.h"

static enum json_field_result json_field_fail(char *err, size_t err_size, const char *where,
                                              const char *key, const char *what)
{
    snprintf(err, err_size, "%s%s %s", where, key, what);
    return JSON_FIELD_BAD;
}

enum json_field_result json_field_string(const json_t *obj, const char *where, const char *key,
                                         size_t max_len, const char **out, char *err,
                                         size_t err_size)
{
    const json_t *v = json_object_get(obj, key);
    char what[64];
    if (v == NULL || json_is_null(v))
        return JSON_FIELD_ABSENT;
    if (!json_is_string(v))
        return json_field_fail(err, err_size, where, key, "must be a string");
    if (max_len > 0 && json_string_length(v) > max_len) {
        snprintf(what, sizeof what, "must be at most %zu characters", max_len);
        return json_field_fail(err, err_size, where, key, what);
    }
    if (strlen(json_string_value(v)) != json_string_length(v))
        return json_field_fail(err, err_size, where, key, "must not contain NUL characters");
    *out = json_string_value(v);
    return JSON_FIELD_OK;
}

enum json_field_result json_field_int(const json_t *obj, const char *where, const char *key,
                                      json_int_t min, json_int_t max, json_int_t *out,
                                      char *err, size_t err_size)
{
    const json_t *v = json_object_get(obj, key);
    char what[96];
    if (v == NULL || json_is_null(v))
        return JSON_FIELD_ABSENT;
    if (!json_is_integer(v))
        return json_field_fail(err, err_size, where, key, "must be an integer");
    if (json_integer_value(v) < min || json_integer_value(v) > max) {
        snprintf(what, sizeof what, "must be between %lld and %lld", (long long)min,
                 (long long)max);
        return json_field_fail(err, err_size, where, key, what);
    }
    *out = json_integer_value(v);
    return JSON_FIELD_OK;
}

enum json_field_result json_field_bool(const json_t *obj, const char *where, const char *key,
                                       int *out, char *err, size_t err_size)
{
    const json_t *v = json_object_get(obj, key);
    if (v == NULL || json_is_null(v))
        return JSON_FIELD_ABSENT;
    if (!json_is_boolean(v))
        return json_field_fail(err, err_size, where, key, "must be a boolean");
    *out = json_is_true(v);
    return JSON_FIELD_OK;
}

enum json_field_result json_field_object_text(const json_t *obj, const char *where,
                                              const char *key, size_t max_len, char **out,
                                              char *err, size_t err_size)
{
    const json_t *v = json_object_get(obj, key);
    char what[64];
    char *text;
    if (v == NULL || json_is_null(v))
        return JSON_FIELD_ABSENT;
    if (!json_is_object(v))
        return json_field_fail(err, err_size, where, key, "must be an object");
    text = json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (text == NULL)
        return json_field_fail(err, err_size, where, key, "could not be encoded");
    if (max_len > 0 && strlen(text) > max_len) {
        arena_json_free(text);
        snprintf(what, sizeof what, "must be at most %zu bytes of JSON", max_len);
        return json_field_fail(err, err_size, where, key, what);
    }
    *out = text;
    return JSON_FIELD_OK;
}

json_t *json_parse_object(const char *text, size_t len, char *err, size_t err_size)
{
    json_error_t jerr;
    json_t *root;
    if (len == 0) {
        snprintf(err, err_size, "request body must be a JSON object");
        return NULL;
    }
    if (json_scan_too_many_items(text, len, JSON_BODY_MAX_ITEMS)) {
        snprintf(err, err_size, "an array or object in the body must hold at most %d entries",
                 JSON_BODY_MAX_ITEMS);
        return NULL;
    }
    root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL) {
        snprintf(err, err_size, "malformed JSON at line %d column %d: %s", jerr.line,
                 jerr.column, jerr.text);
        return NULL;
    }
    if (!json_is_object(root)) {
        json_decref(root);
        snprintf(err, err_size, "request body must be a JSON object");
        return NULL;
    }
    return root;
}

json_t *json_object_from_text(const char *text)
{
    json_t *v = (text && text[0]) ? json_loads(text, 0, NULL) : NULL;
    if (v == NULL || !json_is_object(v)) {
        json_decref(v);
        return json_object();
    }
    return v;
}
