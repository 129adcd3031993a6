#include "leads_json.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "csv.h"
#include "csv_columns.h"
#include "json_util.h"

#define LEAD_VARIABLES_MAX 16384 /* bytes of JSON */
#define LEAD_TEXT_MAX 1024

/* ---------------- rows ---------------- */

static int leads_grow(struct leads_upload *u, size_t *cap, bool with_lines)
{
    if (u->req.n_leads < *cap)
        return 0;
    size_t ncap = *cap ? *cap * 2 : 64;
    Od__LeadInput *rows = realloc(u->rows, ncap * sizeof *rows);
    if (rows == NULL)
        return -1;
    u->rows = rows;
    if (with_lines) {
        size_t *lines = realloc(u->lines, ncap * sizeof *lines);
        if (lines == NULL)
            return -1;
        u->lines = lines;
    }
    *cap = ncap;
    return 0;
}

static char *leads_dup(const char *s, size_t len)
{
    return len == 0 ? (char *)protobuf_c_empty_string : strndup(s, len);
}

static void leads_row_free(Od__LeadInput *in)
{
    if (in->phone_number != protobuf_c_empty_string)
        free(in->phone_number);
    if (in->name != protobuf_c_empty_string)
        free(in->name);
    if (in->variables_json != protobuf_c_empty_string)
        free(in->variables_json);
    if (in->invalid_reason != protobuf_c_empty_string)
        free(in->invalid_reason);
}

void leads_upload_free(struct leads_upload *u)
{
    for (size_t i = 0; i < u->req.n_leads; i++)
        leads_row_free(&u->rows[i]);
    free(u->rows);
    free(u->row_ptrs);
    free(u->lines);
    memset(u, 0, sizeof *u);
}

/* Sets the strings of a row; each may be NULL. Copies everything. -1 when out of memory. */
static int leads_fill(Od__LeadInput *in, const char *phone, const char *name,
                      const char *variables, const char *reason)
{
    od__lead_input__init(in);
    in->phone_number = leads_dup(phone ? phone : "", phone ? strlen(phone) : 0);
    in->name = leads_dup(name ? name : "", name ? strlen(name) : 0);
    in->variables_json = leads_dup(variables ? variables : "", variables ? strlen(variables) : 0);
    in->invalid_reason = leads_dup(reason ? reason : "", reason ? strlen(reason) : 0);
    if (in->phone_number == NULL || in->name == NULL || in->variables_json == NULL ||
        in->invalid_reason == NULL) {
        if (in->phone_number == NULL)
            in->phone_number = (char *)protobuf_c_empty_string;
        if (in->name == NULL)
            in->name = (char *)protobuf_c_empty_string;
        if (in->variables_json == NULL)
            in->variables_json = (char *)protobuf_c_empty_string;
        if (in->invalid_reason == NULL)
            in->invalid_reason = (char *)protobuf_c_empty_string;
        return -1;
    }
    return 0;
}

/* The pointer array protobuf-c wants, once the rows are final. */
static int leads_finish(struct leads_upload *u, char *err, size_t err_size)
{
    if (u->req.n_leads == 0) {
        snprintf(err, err_size, "the upload holds no leads");
        return -1;
    }
    u->row_ptrs = calloc(u->req.n_leads, sizeof *u->row_ptrs);
    if (u->row_ptrs == NULL) {
        snprintf(err, err_size, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < u->req.n_leads; i++)
        u->row_ptrs[i] = &u->rows[i];
    u->req.leads = u->row_ptrs;
    return 0;
}

/* ---------------- CSV ---------------- */

enum lead_column { COL_VARIABLE = 0, COL_PHONE, COL_NAME, COL_FIRST, COL_LAST };

static int leads_column(const char *header)
{
    char key[32];
    if (!csv_columns_key(header, key, sizeof key))
        return COL_VARIABLE;
    if (strcmp(key, "phone") == 0 || strcmp(key, "phonenumber") == 0 ||
        strcmp(key, "number") == 0)
        return COL_PHONE;
    if (strcmp(key, "name") == 0 || strcmp(key, "fullname") == 0)
        return COL_NAME;
    if (strcmp(key, "firstname") == 0)
        return COL_FIRST;
    if (strcmp(key, "lastname") == 0)
        return COL_LAST;
    return COL_VARIABLE;
}

/* Phone and name are one column each; two first-name (or variable) columns clash only when
 * their names are the same. */
static const struct csv_column_rules leads_csv_rules = {
    .role_of = leads_column,
    .unique_roles = 1u << COL_PHONE | 1u << COL_NAME,
    .required_role = COL_PHONE,
    .missing_required = "CSV header must have a phone, phoneNumber or phone_number column",
};

/* One data record -> row. -1 only when out of memory. */
static int leads_csv_row(const struct csv_columns *h, const struct csv_record *rec,
                         Od__LeadInput *in)
{
    char reason[JSON_ERROR_MAX];
    char *phone = NULL, *name = NULL, *first = NULL, *last = NULL, *vars = NULL, *joined = NULL;
    json_t *variables;
    int rc = -1;

    if (csv_columns_bad_record(h, rec, reason, sizeof reason)) {
        phone = csv_columns_value_of(h, rec, COL_PHONE);
        rc = leads_fill(in, phone, NULL, NULL, reason);
        free(phone);
        return rc;
    }
    variables = json_object();
    for (size_t i = 0; i < h->n; i++) {
        const struct csv_field *f = &rec->fields[i];
        char **slot = h->roles[i] == COL_PHONE  ? &phone
                      : h->roles[i] == COL_NAME ? &name
                      : h->roles[i] == COL_FIRST ? &first
                      : h->roles[i] == COL_LAST  ? &last
                                                : NULL;
        if (slot != NULL && (*slot = csv_columns_trimmed(f->data, f->len)) == NULL)
            goto out;
        if (h->roles[i] != COL_PHONE && h->roles[i] != COL_NAME && f->len > 0)
            json_object_set_new(variables, h->names[i], json_stringn(f->data, f->len));
    }
    if (name == NULL || name[0] == '\0') {
        free(name);
        name = joined = csv_join_name(first, last);
    }
    if (json_object_size(variables) > 0 &&
        (vars = json_dumps(variables, JSON_COMPACT | JSON_PRESERVE_ORDER)) == NULL)
        goto out;
    if (vars != NULL && strlen(vars) > LEAD_VARIABLES_MAX) {
        snprintf(reason, sizeof reason, "line %zu: variables must be at most %d bytes of JSON",
                 rec->line, LEAD_VARIABLES_MAX);
        rc = leads_fill(in, phone, name, NULL, reason);
        goto out;
    }
    rc = leads_fill(in, phone, name, vars, NULL);
out:
    (void)joined;
    free(phone);
    free(name);
    free(first);
    free(last);
    arena_json_free(vars);
    json_decref(variables);
    return rc;
}

/* The state of one CSV upload while csv_columns_each reads it. */
struct leads_csv {
    struct leads_upload *out;
    size_t cap;
};

static int leads_csv_record(void *arg, const struct csv_columns *h, const struct csv_record *rec,
                            char *err, size_t err_size)
{
    struct leads_csv *c = arg;
    struct leads_upload *out = c->out;

    if (out->req.n_leads == LEADS_UPLOAD_MAX) {
        snprintf(err, err_size, "an upload holds at most %d leads", LEADS_UPLOAD_MAX);
        return -1;
    }
    if (leads_grow(out, &c->cap, true) != 0) {
        snprintf(err, err_size, "out of memory");
        return -1;
    }
    Od__LeadInput *in = &out->rows[out->req.n_leads];
    out->lines[out->req.n_leads] = rec->line;
    int row = leads_csv_row(h, rec, in);
    out->req.n_leads++; /* counted even when out of memory: its strings get freed */
    if (row != 0) {
        snprintf(err, err_size, "out of memory");
        return -1;
    }
    return 0;
}

int leads_csv_upload(const char *data, size_t len, struct leads_upload *out, char *err,
                     size_t err_size)
{
    struct leads_csv c = {out, 0};
    int rc = -1;

    memset(out, 0, sizeof *out);
    od__upload_leads_request__init(&out->req);
    if (csv_columns_each(data, len, NULL, &leads_csv_rules, leads_csv_record, &c, err,
                         err_size) != 0)
        goto out;
    if (out->req.n_leads == 0) {
        snprintf(err, err_size, "the CSV has a header but no leads");
        goto out;
    }
    rc = leads_finish(out, err, err_size);
out:
    if (rc != 0)
        leads_upload_free(out);
    return rc;
}

/* ---------------- JSON ---------------- */

/* One {"phoneNumber", "name"?, "variables"?, ...} -> row; a wrong shape becomes
 * invalid_reason. -1 only when out of memory. */
static int leads_json_row(const json_t *obj, size_t index, Od__LeadInput *in)
{
    char where[48], reason[JSON_ERROR_MAX];
    const char *phone = NULL, *name = NULL;
    static const char *const phone_keys[] = {"phoneNumber", "phone_number", "phone", NULL};
    json_t *variables = NULL;
    char *vars = NULL;
    const char *key;
    json_t *value;
    int rc;

    snprintf(where, sizeof where, "leads[%zu].", index);
    if (!json_is_object(obj)) {
        snprintf(reason, sizeof reason, "leads[%zu] must be an object", index);
        return leads_fill(in, NULL, NULL, NULL, reason);
    }
    for (int i = 0; phone_keys[i] != NULL; i++) {
        const char *p = NULL;
        if (json_field_string(obj, where, phone_keys[i], 64, &p, reason, sizeof reason) ==
            JSON_FIELD_BAD)
            return leads_fill(in, NULL, NULL, NULL, reason);
        if (p != NULL && phone != NULL) {
            snprintf(reason, sizeof reason, "leads[%zu] gives the phone number twice", index);
            return leads_fill(in, phone, NULL, NULL, reason);
        }
        if (p != NULL)
            phone = p;
    }
    if (phone == NULL) {
        snprintf(reason, sizeof reason, "leads[%zu].phoneNumber is required", index);
        return leads_fill(in, NULL, NULL, NULL, reason);
    }
    if (json_field_string(obj, where, "name", LEAD_TEXT_MAX, &name, reason, sizeof reason) ==
        JSON_FIELD_BAD)
        return leads_fill(in, phone, NULL, NULL, reason);
    const json_t *given = json_object_get(obj, "variables");
    if (given != NULL && !json_is_null(given) && !json_is_object(given)) {
        snprintf(reason, sizeof reason, "leads[%zu].variables must be an object", index);
        return leads_fill(in, phone, name, NULL, reason);
    }
    /* other keys are variables too; the "variables" object wins */
    variables = json_object();
    json_object_foreach((json_t *)obj, key, value) {
        bool reserved = strcmp(key, "name") == 0 || strcmp(key, "variables") == 0;
        for (int i = 0; phone_keys[i] != NULL; i++)
            reserved = reserved || strcmp(key, phone_keys[i]) == 0;
        if (!reserved)
            json_object_set(variables, key, value);
    }
    if (json_is_object(given))
        json_object_update(variables, (json_t *)given);
    if (json_object_size(variables) > 0 &&
        (vars = json_dumps(variables, JSON_COMPACT | JSON_PRESERVE_ORDER)) == NULL) {
        json_decref(variables);
        return -1;
    }
    json_decref(variables);
    if (vars != NULL && strlen(vars) > LEAD_VARIABLES_MAX) {
        snprintf(reason, sizeof reason, "leads[%zu].variables must be at most %d bytes of JSON",
                 index, LEAD_VARIABLES_MAX);
        rc = leads_fill(in, phone, name, NULL, reason);
    } else {
        rc = leads_fill(in, phone, name, vars, NULL);
    }
    arena_json_free(vars);
    return rc;
}

int leads_json_upload(const json_t *body, struct leads_upload *out, char *err,
                      size_t err_size)
{
    const json_t *leads = json_object_get(body, "leads"), *csv = json_object_get(body, "csv");
    size_t cap = 0, n;
    const char *key;
    json_t *value;

    memset(out, 0, sizeof *out);
    od__upload_leads_request__init(&out->req);
    json_object_foreach((json_t *)body, key, value) {
        if (strcmp(key, "leads") != 0 && strcmp(key, "csv") != 0) {
            snprintf(err, err_size, "%.64s is not a field of a lead upload (leads or csv)", key);
            return -1;
        }
    }
    if (leads != NULL && csv != NULL) {
        snprintf(err, err_size, "give leads or csv, not both");
        return -1;
    }
    if (csv != NULL) {
        if (!json_is_string(csv)) {
            snprintf(err, err_size, "csv must be a string");
            return -1;
        }
        return leads_csv_upload(json_string_value(csv), json_string_length(csv), out, err,
                                err_size);
    }
    if (leads == NULL) {
        snprintf(err, err_size, "leads (an array) or csv (a string) is required");
        return -1;
    }
    if (!json_is_array(leads)) {
        snprintf(err, err_size, "leads must be an array");
        return -1;
    }
    n = json_array_size(leads);
    if (n == 0) {
        snprintf(err, err_size, "leads must not be empty");
        return -1;
    }
    if (n > LEADS_UPLOAD_MAX) {
        snprintf(err, err_size, "leads must hold at most %d leads (got %zu)", LEADS_UPLOAD_MAX,
                 n);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        if (leads_grow(out, &cap, false) != 0) {
            snprintf(err, err_size, "out of memory");
            leads_upload_free(out);
            return -1;
        }
        int row = leads_json_row(json_array_get(leads, i), i, &out->rows[i]);
        out->req.n_leads++;
        if (row != 0) {
            snprintf(err, err_size, "out of memory");
            leads_upload_free(out);
            return -1;
        }
    }
    if (leads_finish(out, err, err_size) != 0) {
        leads_upload_free(out);
        return -1;
    }
    return 0;
}

/* ---------------- replies ---------------- */

json_t *leads_json_upload_reply(const Od__UploadLeadsReply *r, const struct leads_upload *u)
{
    json_t *errors = json_array();
    for (size_t i = 0; i < r->n_errors; i++) {
        const Od__LeadError *e = r->errors[i];
        json_t *item = json_pack("{s:i, s:s, s:s}", "index", e->index, "phoneNumber",
                                 e->phone_number, "reason", e->reason);
        if (item == NULL)
            continue;
        if (u->lines != NULL && e->index >= 0 && (size_t)e->index < u->req.n_leads)
            json_object_set_new(item, "line", json_integer((json_int_t)u->lines[e->index]));
        json_array_append_new(errors, item);
    }
    return json_pack("{s:i, s:o}", "inserted", r->inserted, "csvErrors", errors);
}

static json_t *leads_nullable(const char *s)
{
    return s != NULL && s[0] != '\0' ? json_string(s) : json_null();
}

json_t *leads_json_lead(const Od__Lead *l, enum campaigns_dialect d)
{
    json_t *o = json_object();
    json_object_set_new(o, "id", json_string(l->id));
    json_object_set_new(o, "campaignId", json_string(l->campaign_id));
    json_object_set_new(o, "contactId", leads_nullable(l->contact_id));
    json_object_set_new(o, "phoneNumber", json_string(l->phone_number));
    json_object_set_new(o, "name", leads_nullable(l->name));
    json_object_set_new(o, "variables", json_object_from_text(l->variables_json));
    json_object_set_new(o, "status", json_string(campaigns_lead_status_out(d, l->status)));
    json_object_set_new(o, "attempts", json_integer(l->attempts));
    json_object_set_new(o, "nextAttemptAt", leads_nullable(l->next_attempt_at));
    json_object_set_new(o, "lastOutcome", leads_nullable(l->last_outcome));
    json_object_set_new(o, "disposition", leads_nullable(l->disposition));
    json_object_set_new(o, "callId", leads_nullable(l->last_call_id));
    json_object_set_new(o, "createdAt", json_string(l->created_at));
    json_object_set_new(o, "updatedAt", json_string(l->updated_at));
    return o;
}
