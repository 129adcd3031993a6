#include "failpoint.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static pthread_once_t failpoint_once = PTHREAD_ONCE_INIT;
static const char *failpoint_armed; /* written once, under failpoint_once */

static void failpoint_read(void)
{
    const char *v = getenv("OUTDIAL_FAILPOINT");
    failpoint_armed = v != NULL && v[0] != '\0' ? v : NULL;
}

void failpoint(const char *name)
{
    pthread_once(&failpoint_once, failpoint_read);
    if (failpoint_armed == NULL || strcmp(failpoint_armed, name) != 0)
        return;
    /* one line for the test's log, written without stdio's buffer */
    char line[160];
    int n = snprintf(line, sizeof line, "failpoint %s: exiting as if killed\n", name);
    if (n > 0) {
        ssize_t written = write(STDERR_FILENO, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
        (void)written;
    }
    _exit(137);
}
