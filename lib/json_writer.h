/* Writes JSON text straight into a growing buffer, for large responses (10,000 bulk results)
 * where building a jansson tree only to serialise it cost more than the rest of the request.
 * Strings must be UTF-8 (everything we write came through a JSON parser or our own code);
 * quotes, backslashes and control characters are escaped.
 *
 * Usage: struct json_writer w = {0}; json_writer_raw(&w, "{\"n\":"); ...
 *        char *text = json_writer_finish(&w, &len);  // caller frees; NULL if out of memory */
#ifndef OD_JSON_WRITER_H
#define OD_JSON_WRITER_H

#include <stddef.h>
#include <stdint.h>

struct json_writer {
    char *data;
    size_t len;
    size_t cap;
    int failed;
};

void json_writer_raw(struct json_writer *w, const char *text);
void json_writer_string(struct json_writer *w, const char *value); /* quoted and escaped */
void json_writer_int(struct json_writer *w, int64_t value);
/* The text (NUL-terminated, ownership passes to the caller) or NULL after an allocation
 * failure (everything freed). */
char *json_writer_finish(struct json_writer *w, size_t *len);

#endif
