/* For attach/detach tests: prints its pid (one line, flushed), then loops
 * nanosleep(10ms) + getpid() forever.  On SIGTERM prints "bye" and exits 0. */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stop;

static void on_term(int sig)
{
    (void)sig;
    stop = 1;
}

int main(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_term;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    printf("%d\n", (int)getpid());
    fflush(stdout);
    while (!stop) {
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
        getpid();
    }
    printf("bye\n");
    return 0;
}
