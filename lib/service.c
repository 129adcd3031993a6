#include "service.h"

#include <pthread.h>
#include <malloc.h>
#include <signal.h>
#include <stddef.h>

static sigset_t service_signals;

void service_tune_memory(void)
{
    mallopt(M_ARENA_MAX, 1);
    mallopt(M_TOP_PAD, 64 * 1024 * 1024);
    mallopt(M_MMAP_THRESHOLD, 64 * 1024 * 1024);
    mallopt(M_TRIM_THRESHOLD, 256 * 1024 * 1024);
}

void service_block_signals(void)
{
    signal(SIGPIPE, SIG_IGN);
    sigemptyset(&service_signals);
    sigaddset(&service_signals, SIGINT);
    sigaddset(&service_signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &service_signals, NULL);
}

int service_wait_for_signal(void)
{
    int sig = 0;
    sigwait(&service_signals, &sig);
    return sig;
}
