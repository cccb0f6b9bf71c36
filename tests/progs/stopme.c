/* Job-control helper: stops itself with SIGSTOP (default) or SIGTSTP
 * (argv[1] = "TSTP", "SIGTSTP" or a signal number), and once continued
 * prints "continued" and exits 0.
 * Note: the kernel discards SIGTSTP for a process in an orphaned process
 * group, so run it in a non-orphaned group (e.g. Popen(process_group=0)). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    int sig = SIGSTOP;
    if (argc > 1) {
        const char *a = argv[1];
        if (strncmp(a, "SIG", 3) == 0)
            a += 3;
        if (strcmp(a, "TSTP") == 0 || strcmp(a, "tstp") == 0)
            sig = SIGTSTP;
        else if (strcmp(a, "STOP") == 0 || strcmp(a, "stop") == 0)
            sig = SIGSTOP;
        else
            sig = atoi(a);
    }
    if (sig != SIGSTOP)
        signal(sig, SIG_DFL);
    raise(sig);
    printf("continued\n");
    return 0;
}
