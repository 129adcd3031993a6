/* A validating reader for a strict subset of JSON, in place over the text (no tree, no
 * allocation). Whatever it accepts, jansson's json_loadb(JSON_REJECT_DUPLICATES) accepts too and
 * reads as the same values; what lies outside the subset it refuses, and a caller that must
 * take every valid body then asks jansson. tests/fuzz (scan_differential.c) checks that.
 *
 * Outside the subset: \u escapes (they may hide a NUL or a lone surrogate), escapes in keys,
 * numbers with an exponent or more than 15 digits, nesting deeper than JSON_SCAN_MAX_DEPTH,
 * objects with more than JSON_SCAN_MAX_KEYS keys, and anything malformed (invalid UTF-8,
 * control characters in strings, duplicate keys, leading zeros, trailing commas).
 *
 * Why: jansson builds a node per value and a hash table per object; reading 10,000 contacts
 * that way was two thirds of the gateway's CPU on a bulk call, and checking 10,000 metadata
 * objects a quarter of contacts-svc's. Used by gateway/contacts_scan.c and by contacts-svc's
 * row validation. */
#ifndef OD_JSON_SCAN_H
#define OD_JSON_SCAN_H

#include <stddef.h>

#define JSON_SCAN_MAX_DEPTH 16
#define JSON_SCAN_MAX_KEYS 64

/* The unread text: [p, end). */
struct json_scan {
    const char *p, *end;
};

/* A key and its value, as spans of the text; a string value's span includes its quotes. */
struct json_scan_pair {
    const char *key, *val;
    size_t key_len, val_len;
    char kind; /* 's' string, 'o' object, 'a' array, '#' number, 't', 'f', 'n' null */
    int escaped; /* a string value holds an escape (so its text is not its value) */
};

/* Each returns 0, or -1 when the text is malformed or outside the subset. */

/* Skips whitespace. */
void json_scan_ws(struct json_scan *s);
/* 1 if the next character is c. */
int json_scan_at(const struct json_scan *s, char c);
/* At '"': moves past the closing quote; *escaped set when the string holds an escape. */
int json_scan_string(struct json_scan *s, int *escaped);
/* A key of an object whose earlier keys are pairs[0..n): fills pairs[n].key (refusing a
 * duplicate), then reads the ':' and the whitespace around it. */
int json_scan_key(struct json_scan *s, struct json_scan_pair *pairs, size_t n);
/* After a member: ',' and the whitespace after it (returns 1) or `close` (returns 0). */
int json_scan_next(struct json_scan *s, char close);
/* At '{': the object's members into pairs[JSON_SCAN_MAX_KEYS]; depth counts enclosing values. */
int json_scan_object(struct json_scan *s, int depth, struct json_scan_pair *pairs,
                     size_t *npairs);
/* Any value; *kind as in json_scan_pair. */
int json_scan_value(struct json_scan *s, int depth, char *kind, int *escaped);

/* Counts the members of every array and object in text[0..len) in one pass, building
 * nothing: 1 when one of them holds more than max_items (the scan stops there, at the
 * offending member, so a 15 MiB "[{},{},...]" costs microseconds, not a 5-million-node
 * tree), else 0. It does not validate: malformed text returns 0 and is left to the parser
 * that follows. Containers nested deeper than JSON_SCAN_COUNT_DEPTH are not counted
 * (jansson refuses nesting past 2048). Call it before json_loadb on outside input, so a
 * body's size in nodes is bounded before any node is built (issue 13). */
#define JSON_SCAN_COUNT_DEPTH 2048
int json_scan_too_many_items(const char *text, size_t len, size_t max_items);

/* 1 if text[0..len) is one JSON object (whitespace around it allowed) inside the subset; 0 if
 * not, or not inside the subset. */
int json_scan_is_object(const char *text, size_t len);

#endif
