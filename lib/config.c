#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

const char *config_string(const char *name, const char *fallback)
{
    const char *value = getenv(name);
    return (value != NULL && value[0] != '\0') ? value : fallback;
}

const char *config_string_or_off(const char *name, const char *fallback)
{
    const char *value = getenv(name);
    return value != NULL ? value : fallback;
}

int64_t config_int(const char *name, int64_t fallback, int64_t min, int64_t max)
{
    const char *value = getenv(name);
    char *end;
    long long parsed;

    if (value == NULL || value[0] == '\0')
        return fallback;
    errno = 0;
    parsed = strtoll(value, &end, 10);
    if (errno != 0 || *end != '\0' || parsed < min || parsed > max) {
        fprintf(stderr, "config: %s=%s is not an integer in [%lld, %lld]\n", name, value,
                (long long)min, (long long)max);
        exit(2);
    }
    return parsed;
}
