/* JSON <-> protobuf for agents (OutboundCalls.ai /v1/agents; OliAI reads the same objects as
 * flows, /v1/flows) and caller IDs (/v1/phone-numbers). Pure functions, unit-tested in
 * tests/unit/test_agents_json.c.
 *
 * Writes take camelCase keys and the snake_case aliases first_message and runtime_url; a key
 * outside them is a problem naming it. On update, null clears a field (not name).
 *
 * Ownership: strings in the inputs point into the borrowed body, except variables_json, which
 * is allocated: release it with agents_json_input_free. Returned json_t* are new references. */
#ifndef GATEWAY_AGENTS_JSON_H
#define GATEWAY_AGENTS_JSON_H

#include <jansson.h>

#include "body_problems.h"
#include "campaigns.pb-c.h"

/* update: 0 for create (name required), 1 for PATCH. 0 when no problem was found. */
int agents_json_input(const json_t *body, int update, Od__AgentInput *out,
                      struct body_problems *p);
void agents_json_input_free(Od__AgentInput *in);
/* {id, name, language, voice, firstMessage, prompt, variables, runtimeUrl, currentVersion,
 * createdAt, updatedAt}; empty strings are null. */
json_t *agents_json_agent(const Od__Agent *a);

/* {phoneNumber (or phone_number), label?, isDefault? (or is_default)} */
int phone_numbers_json_input(const json_t *body, Od__PhoneNumberInput *out,
                             struct body_problems *p);
/* {id, phoneNumber, label, isDefault, createdAt} */
json_t *phone_numbers_json_number(const Od__PhoneNumber *n);

#endif
