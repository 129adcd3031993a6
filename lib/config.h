/* Configuration from the environment, with defaults for the local stack. A value that is set
 * but malformed stops the process at start-up with a clear message: a typo must not silently
 * become a default. */
#ifndef OD_CONFIG_H
#define OD_CONFIG_H

#include <stdint.h>

/* The variable's value, or fallback when it is unset or empty. */
const char *config_string(const char *name, const char *fallback);
/* Like config_string, but a variable set to "" stays "": for settings where empty means
 * "off" (e.g. WEBHOOK_SVC_URL= turns the outbox relay off). */
const char *config_string_or_off(const char *name, const char *fallback);
int64_t config_int(const char *name, int64_t fallback, int64_t min, int64_t max);

#endif
