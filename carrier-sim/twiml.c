/* The TwiML check: the instructions the dialer serves for an answered call must be well-formed
 * XML whose root is <Response>, holding either <Connect><Stream url="..."> (with optional
 * <Parameter name="..." value="..."/> children) or <Say>. A small XML reader: elements,
 * attributes, the five predefined entities and numeric references, comments, the XML
 * declaration; no DTDs (a real carrier rejects them too).
 *
 * Ownership: twiml_check fills a struct twiml_result whose strings it allocates;
 * twiml_result_free frees them. */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"

#define TWIML_DEPTH_MAX 32
#define TWIML_NAME_MAX 64
#define TWIML_ATTRS_MAX 16

struct twiml_reader {
    const char *p, *end;
    struct twiml_result *result;
};

struct twiml_attr {
    char name[TWIML_NAME_MAX];
    char *value;
};

static void twiml_fail(struct twiml_reader *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void twiml_fail(struct twiml_reader *r, const char *fmt, ...)
{
    if (!r->result->ok && r->result->error[0])
        return; /* keep the first reason */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->result->error, sizeof r->result->error, fmt, ap);
    va_end(ap);
    r->result->ok = false;
}

static bool twiml_starts(const struct twiml_reader *r, const char *s)
{
    size_t n = strlen(s);
    return (size_t)(r->end - r->p) >= n && memcmp(r->p, s, n) == 0;
}

static void twiml_skip_space(struct twiml_reader *r)
{
    while (r->p < r->end && isspace((unsigned char)*r->p))
        r->p++;
}

/* Skips "<!-- ... -->" or "<? ... ?>" at p. false if unterminated. */
static bool twiml_skip_special(struct twiml_reader *r)
{
    const char *close = twiml_starts(r, "<!--") ? "-->" : "?>";
    const char *found = NULL;
    for (const char *q = r->p + 2; q + strlen(close) <= r->end; q++)
        if (memcmp(q, close, strlen(close)) == 0) {
            found = q;
            break;
        }
    if (found == NULL)
        return false;
    r->p = found + strlen(close);
    return true;
}

static bool twiml_name_char(char c, bool first)
{
    return isalpha((unsigned char)c) || c == '_' || c == ':' ||
           (!first && (isdigit((unsigned char)c) || c == '-' || c == '.'));
}

static bool twiml_read_name(struct twiml_reader *r, char name[TWIML_NAME_MAX])
{
    size_t n = 0;
    if (r->p >= r->end || !twiml_name_char(*r->p, true))
        return false;
    while (r->p < r->end && twiml_name_char(*r->p, false)) {
        if (n + 1 >= TWIML_NAME_MAX)
            return false;
        name[n++] = *r->p++;
    }
    name[n] = '\0';
    return true;
}

/* Decodes entities of [s, e) into a new string; NULL when one is malformed. */
static char *twiml_decode(const char *s, const char *e)
{
    char *out = malloc((size_t)(e - s) + 1);
    size_t n = 0;
    if (out == NULL)
        return NULL;
    while (s < e) {
        if (*s != '&') {
            out[n++] = *s++;
            continue;
        }
        const char *semi = memchr(s, ';', (size_t)(e - s));
        if (semi == NULL || semi - s > 12)
            goto bad;
        size_t len = (size_t)(semi - s - 1);
        const char *ent = s + 1;
        if (len == 3 && memcmp(ent, "amp", 3) == 0)
            out[n++] = '&';
        else if (len == 2 && memcmp(ent, "lt", 2) == 0)
            out[n++] = '<';
        else if (len == 2 && memcmp(ent, "gt", 2) == 0)
            out[n++] = '>';
        else if (len == 4 && memcmp(ent, "quot", 4) == 0)
            out[n++] = '"';
        else if (len == 4 && memcmp(ent, "apos", 4) == 0)
            out[n++] = '\'';
        else if (len >= 2 && ent[0] == '#') {
            char digits[12];
            memcpy(digits, ent + 1, len - 1);
            digits[len - 1] = '\0';
            char *stop;
            long v = digits[0] == 'x' ? strtol(digits + 1, &stop, 16) : strtol(digits, &stop, 10);
            if (*stop != '\0' || v <= 0 || v > 0x10FFFF)
                goto bad;
            /* UTF-8 encode (at most 4 bytes, never more than the entity's own length) */
            if (v < 0x80) {
                out[n++] = (char)v;
            } else if (v < 0x800) {
                out[n++] = (char)(0xC0 | (v >> 6));
                out[n++] = (char)(0x80 | (v & 0x3F));
            } else if (v < 0x10000) {
                out[n++] = (char)(0xE0 | (v >> 12));
                out[n++] = (char)(0x80 | ((v >> 6) & 0x3F));
                out[n++] = (char)(0x80 | (v & 0x3F));
            } else {
                out[n++] = (char)(0xF0 | (v >> 18));
                out[n++] = (char)(0x80 | ((v >> 12) & 0x3F));
                out[n++] = (char)(0x80 | ((v >> 6) & 0x3F));
                out[n++] = (char)(0x80 | (v & 0x3F));
            }
        } else {
            goto bad;
        }
        s = semi + 1;
    }
    out[n] = '\0';
    return out;
bad:
    free(out);
    return NULL;
}

static void twiml_attrs_free(struct twiml_attr *attrs, int n)
{
    for (int i = 0; i < n; i++)
        free(attrs[i].value);
}

static const char *twiml_attr(const struct twiml_attr *attrs, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (strcmp(attrs[i].name, name) == 0)
            return attrs[i].value;
    return NULL;
}

/* What an opening element means for the result. */
static void twiml_element(struct twiml_reader *r, char stack[][TWIML_NAME_MAX], int depth,
                          const char *name, const struct twiml_attr *attrs, int nattrs)
{
    struct twiml_result *res = r->result;
    const char *parent = depth > 0 ? stack[depth - 1] : NULL;
    if (depth == 0 && strcmp(name, "Response") != 0) {
        twiml_fail(r, "the root element is <%s>, not <Response>", name);
        return;
    }
    if (strcmp(name, "Say") == 0)
        res->has_say = true;
    if (strcmp(name, "Stream") == 0 && parent && strcmp(parent, "Connect") == 0) {
        const char *url = twiml_attr(attrs, nattrs, "url");
        if (url == NULL || url[0] == '\0') {
            twiml_fail(r, "<Stream> has no url");
            return;
        }
        if (res->stream_url == NULL)
            res->stream_url = strdup(url);
    }
    if (strcmp(name, "Parameter") == 0 && parent && strcmp(parent, "Stream") == 0) {
        const char *pname = twiml_attr(attrs, nattrs, "name");
        const char *pvalue = twiml_attr(attrs, nattrs, "value");
        if (pname == NULL) {
            twiml_fail(r, "<Parameter> has no name");
            return;
        }
        if (res->nparams < TWIML_PARAMS_MAX) {
            res->params[res->nparams].name = strdup(pname);
            res->params[res->nparams].value = strdup(pvalue ? pvalue : "");
            res->nparams++;
        }
    }
}

void twiml_check(const char *body, size_t len, struct twiml_result *result)
{
    memset(result, 0, sizeof *result);
    result->ok = true;
    struct twiml_reader reader = {body ? body : "", (body ? body : "") + len, result};
    struct twiml_reader *r = &reader;
    char stack[TWIML_DEPTH_MAX][TWIML_NAME_MAX];
    int depth = 0;
    bool root_seen = false, root_closed = false;

    if (twiml_starts(r, "\xEF\xBB\xBF"))
        r->p += 3;
    while (result->ok) {
        /* text up to the next '<' */
        const char *text = r->p;
        while (r->p < r->end && *r->p != '<')
            r->p++;
        bool blank = true;
        for (const char *q = text; q < r->p; q++)
            if (!isspace((unsigned char)*q))
                blank = false;
        if (!blank) {
            if (depth == 0) {
                twiml_fail(r, "text outside the root element");
                break;
            }
            char *decoded = twiml_decode(text, r->p);
            if (decoded == NULL) {
                twiml_fail(r, "malformed entity in text");
                break;
            }
            free(decoded);
        }
        if (r->p >= r->end)
            break;
        if (twiml_starts(r, "<!--") || twiml_starts(r, "<?")) {
            if (!twiml_skip_special(r))
                twiml_fail(r, "unterminated comment or declaration");
            continue;
        }
        if (twiml_starts(r, "<!")) {
            twiml_fail(r, "DTDs and CDATA are not accepted");
            break;
        }
        if (twiml_starts(r, "</")) {
            char name[TWIML_NAME_MAX];
            r->p += 2;
            if (!twiml_read_name(r, name)) {
                twiml_fail(r, "malformed closing tag");
                break;
            }
            twiml_skip_space(r);
            if (r->p >= r->end || *r->p != '>') {
                twiml_fail(r, "malformed closing tag </%s", name);
                break;
            }
            r->p++;
            if (depth == 0 || strcmp(stack[depth - 1], name) != 0) {
                twiml_fail(r, "</%s> does not close <%s>", name, depth ? stack[depth - 1] : "");
                break;
            }
            if (--depth == 0)
                root_closed = true;
            continue;
        }
        /* an opening tag */
        r->p++;
        char name[TWIML_NAME_MAX];
        if (!twiml_read_name(r, name)) {
            twiml_fail(r, "malformed tag");
            break;
        }
        if (root_closed) {
            twiml_fail(r, "a second root element <%s>", name);
            break;
        }
        struct twiml_attr attrs[TWIML_ATTRS_MAX];
        int nattrs = 0;
        bool self_closing = false, closed = false;
        while (result->ok) {
            twiml_skip_space(r);
            if (r->p >= r->end)
                break;
            if (*r->p == '>') {
                r->p++;
                closed = true;
                break;
            }
            if (twiml_starts(r, "/>")) {
                r->p += 2;
                closed = self_closing = true;
                break;
            }
            if (nattrs == TWIML_ATTRS_MAX) {
                twiml_fail(r, "too many attributes on <%s>", name);
                break;
            }
            if (!twiml_read_name(r, attrs[nattrs].name)) {
                twiml_fail(r, "malformed attribute on <%s>", name);
                break;
            }
            twiml_skip_space(r);
            if (r->p >= r->end || *r->p != '=') {
                twiml_fail(r, "attribute %s of <%s> has no value", attrs[nattrs].name, name);
                break;
            }
            r->p++;
            twiml_skip_space(r);
            if (r->p >= r->end || (*r->p != '"' && *r->p != '\'')) {
                twiml_fail(r, "attribute %s of <%s> is not quoted", attrs[nattrs].name, name);
                break;
            }
            char quote = *r->p++;
            const char *v = r->p;
            while (r->p < r->end && *r->p != quote && *r->p != '<')
                r->p++;
            if (r->p >= r->end || *r->p != quote) {
                twiml_fail(r, "unterminated attribute %s of <%s>", attrs[nattrs].name, name);
                break;
            }
            attrs[nattrs].value = twiml_decode(v, r->p);
            r->p++;
            if (attrs[nattrs].value == NULL) {
                twiml_fail(r, "malformed entity in attribute %s", attrs[nattrs].name);
                break;
            }
            if (twiml_attr(attrs, nattrs, attrs[nattrs].name) != NULL) {
                nattrs++;
                twiml_fail(r, "duplicate attribute on <%s>", name);
                break;
            }
            nattrs++;
        }
        if (result->ok && !closed)
            twiml_fail(r, "unterminated tag <%s>", name);
        if (result->ok) {
            twiml_element(r, stack, depth, name, attrs, nattrs);
            root_seen = true;
            if (self_closing) {
                if (depth == 0)
                    root_closed = true;
            } else if (depth == TWIML_DEPTH_MAX) {
                twiml_fail(r, "nested too deeply");
            } else {
                snprintf(stack[depth++], TWIML_NAME_MAX, "%s", name);
            }
        }
        twiml_attrs_free(attrs, nattrs);
    }
    if (result->ok && !root_seen)
        twiml_fail(r, "no <Response> element");
    else if (result->ok && depth > 0)
        twiml_fail(r, "<%s> is not closed", stack[depth - 1]);
    else if (result->ok && result->stream_url == NULL && !result->has_say)
        twiml_fail(r, "neither <Connect><Stream url=...> nor <Say>");
}

void twiml_result_free(struct twiml_result *result)
{
    free(result->stream_url);
    for (int i = 0; i < result->nparams; i++) {
        free(result->params[i].name);
        free(result->params[i].value);
    }
    memset(result, 0, sizeof *result);
}

const char *twiml_param(const struct twiml_result *result, const char *name)
{
    for (int i = 0; i < result->nparams; i++)
        if (result->params[i].name && strcmp(result->params[i].name, name) == 0)
            return result->params[i].value;
    return NULL;
}
