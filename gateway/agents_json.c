#include "agents_json.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "json_util.h"

#define FIELD_TEXT_MAX 65536
#define AGENT_VARIABLES_MAX 65536

/* variables: null on update; never freed (agents_json_input_free knows it) */
static char agents_no_variables[] = "{}";

static const char *const agent_keys[] = {
    "name", "language", "voice", "firstMessage", "first_message", "prompt", "variables",
    "runtimeUrl", "runtime_url", NULL,
};

/* One string field under one or two names; null clears it on update (nullable). */
static void agents_string(struct body_problems *p, const json_t *body, int update,
                          const char *key, const char *alias, bool nullable, char **dst,
                          protobuf_c_boolean *set)
{
    const char *keys[] = {key, alias};
    for (int i = 0; i < 2; i++) {
        const json_t *v;
        const char *s = NULL;
        if (keys[i] == NULL || (v = json_object_get(body, keys[i])) == NULL)
            continue;
        if (*set) {
            body_problems_add(p, keys[i], "%s and %s set the same field: give only one", key,
                              keys[i]);
            continue;
        }
        if (json_is_null(v)) {
            if (update && !nullable)
                body_problems_add(p, keys[i], "%s cannot be null", keys[i]);
            else if (update) {
                *dst = (char *)"";
                *set = 1;
            }
            continue;
        }
        if (body_problems_string(p, body, "", keys[i], FIELD_TEXT_MAX, &s) == 1) {
            *dst = (char *)s;
            *set = 1;
        }
    }
}

int agents_json_input(const json_t *body, int update, Od__AgentInput *out,
                      struct body_problems *p)
{
    int before = p->count;
    const json_t *vars;

    od__agent_input__init(out);
    body_problems_unknown_keys(p, body, "", agent_keys, update ? "an agent update" : "an agent");
    agents_string(p, body, update, "name", NULL, false, &out->name, &out->set_name);
    agents_string(p, body, update, "language", NULL, true, &out->language, &out->set_language);
    agents_string(p, body, update, "voice", NULL, true, &out->voice, &out->set_voice);
    agents_string(p, body, update, "firstMessage", "first_message", true, &out->first_message,
                  &out->set_first_message);
    agents_string(p, body, update, "prompt", NULL, true, &out->prompt, &out->set_prompt);
    agents_string(p, body, update, "runtimeUrl", "runtime_url", true, &out->runtime_url,
                  &out->set_runtime_url);
    if (out->set_runtime_url && out->runtime_url[0] != '\0' &&
        strncmp(out->runtime_url, "ws://", 5) != 0 && strncmp(out->runtime_url, "wss://", 6) != 0 &&
        strncmp(out->runtime_url, "http://", 7) != 0 &&
        strncmp(out->runtime_url, "https://", 8) != 0)
        body_problems_add(p, "runtimeUrl", "runtimeUrl must be a ws://, wss://, http:// or "
                                           "https:// URL");
    vars = json_object_get(body, "variables");
    if (vars != NULL && json_is_null(vars) && update) {
        out->variables_json = agents_no_variables;
        out->set_variables = 1;
    } else if (vars != NULL && !json_is_null(vars)) {
        if (!json_is_object(vars)) {
            body_problems_add(p, "variables", "variables must be an object");
        } else {
            char *text = json_dumps(vars, JSON_COMPACT | JSON_PRESERVE_ORDER);
            if (text != NULL && strlen(text) > AGENT_VARIABLES_MAX) {
                body_problems_add(p, "variables", "variables must be at most %d bytes of JSON",
                                  AGENT_VARIABLES_MAX);
            } else if (text != NULL) {
                /* owned by the input (malloc'd copy: jansson's buffer may be arena memory) */
                out->variables_json = strdup(text);
                out->set_variables = out->variables_json != NULL;
            }
            arena_json_free(text);
        }
    }
    if (!update && !out->set_name)
        body_problems_add(p, "name", "name is required");
    if (update && json_object_size(body) == 0)
        body_problems_add(p, "", "the update names no field to change");
    if (p->count != before) {
        agents_json_input_free(out);
        return -1;
    }
    return 0;
}

void agents_json_input_free(Od__AgentInput *in)
{
    if (in->variables_json != NULL && in->variables_json != agents_no_variables &&
        in->variables_json != protobuf_c_empty_string)
        free(in->variables_json);
    in->variables_json = (char *)protobuf_c_empty_string;
    in->set_variables = 0;
}

static json_t *agents_nullable(const char *s)
{
    return s != NULL && s[0] != '\0' ? json_string(s) : json_null();
}

json_t *agents_json_agent(const Od__Agent *a)
{
    json_t *o = json_object();
    json_object_set_new(o, "id", json_string(a->id));
    json_object_set_new(o, "name", json_string(a->name));
    json_object_set_new(o, "language", agents_nullable(a->language));
    json_object_set_new(o, "voice", agents_nullable(a->voice));
    json_object_set_new(o, "firstMessage", agents_nullable(a->first_message));
    json_object_set_new(o, "prompt", agents_nullable(a->prompt));
    json_object_set_new(o, "variables", json_object_from_text(a->variables_json));
    json_object_set_new(o, "runtimeUrl", agents_nullable(a->runtime_url));
    json_object_set_new(o, "currentVersion", json_integer(a->current_version));
    json_object_set_new(o, "createdAt", json_string(a->created_at));
    json_object_set_new(o, "updatedAt", json_string(a->updated_at));
    return o;
}

static const char *const phone_number_keys[] = {"phoneNumber", "phone_number", "label",
                                                "isDefault", "is_default", NULL};

int phone_numbers_json_input(const json_t *body, Od__PhoneNumberInput *out,
                             struct body_problems *p)
{
    int before = p->count, flag = 0, got_flag = 0;
    const char *phone = NULL, *alias = NULL, *label = NULL;

    od__phone_number_input__init(out);
    body_problems_unknown_keys(p, body, "", phone_number_keys, "a phone number");
    body_problems_string(p, body, "", "phoneNumber", 64, &phone);
    body_problems_string(p, body, "", "phone_number", 64, &alias);
    if (phone != NULL && alias != NULL)
        body_problems_add(p, "phone_number", "phoneNumber and phone_number set the same field: "
                                             "give only one");
    else if (phone == NULL && alias == NULL &&
             (json_object_get(body, "phoneNumber") == NULL ||
              json_is_null(json_object_get(body, "phoneNumber"))) &&
             (json_object_get(body, "phone_number") == NULL ||
              json_is_null(json_object_get(body, "phone_number"))))
        body_problems_add(p, "phoneNumber", "phoneNumber is required");
    body_problems_string(p, body, "", "label", 256, &label);
    for (int i = 0; i < 2; i++) {
        const char *key = i == 0 ? "isDefault" : "is_default";
        if (body_problems_bool(p, body, "", key, &flag) == 1) {
            if (got_flag)
                body_problems_add(p, key, "isDefault and is_default set the same field: give "
                                          "only one");
            got_flag = 1;
            out->is_default = flag;
        }
    }
    out->phone_number = (char *)(phone ? phone : alias ? alias : "");
    out->label = (char *)(label ? label : "");
    return p->count == before ? 0 : -1;
}

json_t *phone_numbers_json_number(const Od__PhoneNumber *n)
{
    return json_pack("{s:s, s:s, s:o, s:b, s:s}", "id", n->id, "phoneNumber", n->phone_number,
                     "label", agents_nullable(n->label), "isDefault", n->is_default,
                     "createdAt", n->created_at);
}
