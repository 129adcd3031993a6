#include "e164.h"

#include <stddef.h>

int e164_valid(const char *number)
{
    size_t digits = 0;
    if (number == NULL || number[0] != '+' || number[1] < '1' || number[1] > '9')
        return 0;
    for (const char *p = number + 1; *p; p++) {
        if (*p < '0' || *p > '9' || ++digits > 15)
            return 0;
    }
    return digits >= 8;
}
