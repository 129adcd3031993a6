/* Typed access to JSON request bodies with errors that name the field, e.g.
 * "contacts[3].phoneNumber must be a string". jansson ownership: every json_t* passed in is
 * borrowed; strings handed out point into the borrowed object unless the comment says
 * "caller frees". */
#ifndef OD_JSON_UTIL_H
#define OD_JSON_UTIL_H

#include <jansson.h>
#include <stddef.h>

#define JSON_ERROR_MAX 256

enum json_field_result { JSON_FIELD_ABSENT = 1, JSON_FIELD_OK = 0, JSON_FIELD_BAD = -1 };

/* `where` prefixes the field name in messages ("contacts[3]." or ""). Absent and JSON null are
 * both JSON_FIELD_ABSENT. max_len counts bytes; 0 means no limit. */
enum json_field_result json_field_string(const json_t *obj, const char *where, const char *key,
                                         size_t max_len, const char **out, char *err,
                                         size_t err_size);
enum json_field_result json_field_int(const json_t *obj, const char *where, const char *key,
                                      json_int_t min, json_int_t max, json_int_t *out,
                                      char *err, size_t err_size);
enum json_field_result json_field_bool(const json_t *obj, const char *where, const char *key,
                                       int *out, char *err, size_t err_size);
/* An object field serialized compactly (caller frees *out with arena_json_free(): jansson made it, in the arena when one is entered). */
enum json_field_result json_field_object_text(const json_t *obj, const char *where,
                                              const char *key, size_t max_len, char **out,
                                              char *err, size_t err_size);

/* Parses text that must hold a JSON object; NULL with err filled otherwise. Caller decrefs.
 * No array or object in it may hold more than JSON_BODY_MAX_ITEMS members: that is checked
 * before parsing (json_scan_too_many_items), so an oversized body is refused before jansson
 * builds a node of it. */
#define JSON_BODY_MAX_ITEMS 50000 /* the largest list we take: a DNC bulk of 50,000 */
json_t *json_parse_object(const char *text, size_t len, char *err, size_t err_size);

/* json_loads of a string we produced ourselves (e.g. metadata stored as JSON); returns an
 * empty object if it does not parse. Caller decrefs. */
json_t *json_object_from_text(const char *text);

#endif
