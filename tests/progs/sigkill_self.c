/* Kills itself with the signal number in argv[1] (default SIGKILL), after
 * restoring the default disposition, unblocking it and disabling core
 * dumps.  If it survives, prints "survived SIG" and exits 1. */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    int sig = argc > 1 ? atoi(argv[1]) : SIGKILL;
    struct rlimit rl = {0, 0};
    setrlimit(RLIMIT_CORE, &rl);
    if (sig != SIGKILL && sig != SIGSTOP)
        signal(sig, SIG_DFL);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, sig);
    sigprocmask(SIG_UNBLOCK, &set, NULL);
    kill(getpid(), sig);
    printf("survived %d\n", sig);
    return 1;
}
