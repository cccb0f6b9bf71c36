/* Signal storm: makes N rounds (argv[1], default 2000) of intercepted calls
 * (raw getpid, then openat + read + close of argv[3], default
 * /etc/hostname) while a child process sends it SIGUSR1 every argv[4]
 * microseconds (default 0: as fast as it can);
 * the handler is installed with SA_RESTART, so no call may fail with EINTR.
 * Every getpid must return argv[2] (0: the real pid) and every open must
 * succeed.  Prints "storm ok rounds=N signals=S" and exits 0, or prints
 * what went wrong first and exits 1. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile sig_atomic_t signals;

static void on_usr1(int sig)
{
    (void)sig;
    signals++;
}

int main(int argc, char **argv)
{
    long rounds = argc > 1 ? atol(argv[1]) : 2000;
    long expected = argc > 2 ? atol(argv[2]) : 0;
    const char *path = argc > 3 ? argv[3] : "/etc/hostname";
    long pause_us = argc > 4 ? atol(argv[4]) : 0;
    struct sigaction sa;
    char buf[256];
    if (!expected)
        expected = getpid();
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR1, &sa, NULL);
    pid_t child = fork();
    if (child < 0) {
        perror("fork");
        return 1;
    }
    if (child == 0) {
        pid_t parent = getppid();  /* not getpid(): a supervisor may answer that */
        for (;;) {
            if (kill(parent, SIGUSR1) < 0)
                _exit(0);
            if (pause_us)
                usleep((useconds_t)pause_us);
        }
    }
    int bad = 0;
    for (long i = 0; i < rounds && !bad; i++) {
        long r = syscall(SYS_getpid);
        if (r != expected) {
            printf("round %ld: getpid=%ld errno=%s\n", i, r, r < 0 ? strerrorname_np(errno) : "none");
            bad = 1;
            break;
        }
        int fd = openat(AT_FDCWD, path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            printf("round %ld: openat failed: %s\n", i, strerrorname_np(errno));
            bad = 1;
            break;
        }
        if (read(fd, buf, sizeof buf) < 0 || close(fd) != 0) {
            printf("round %ld: read/close failed: %s\n", i, strerrorname_np(errno));
            bad = 1;
        }
    }
    kill(child, SIGKILL);
    while (waitpid(child, NULL, 0) < 0 && errno == EINTR)
        ;
    if (!bad)
        printf("storm ok rounds=%ld signals=%d\n", rounds, (int)signals);
    return bad;
}
