/* Fail-closed check for supervisors: forks a child, prints
 * "PARENT CHILD" and then sleeps until killed.  The child waits (polling,
 * with calls a getpid-only filter does not intercept) until the file
 * argv[1] exists, then calls the raw getpid syscall once and prints
 * "getpid=R errno=NAME" (NAME "none" on success) and exits 0. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: orphan_getpid MARKER\n");
        return 2;
    }
    setvbuf(stdout, NULL, _IONBF, 0);
    pid_t parent = getpid();
    pid_t child = fork();
    if (child < 0)
        return 1;
    if (child == 0) {
        struct timespec ts = { 0, 10 * 1000 * 1000 };
        for (int i = 0; i < 6000 && access(argv[1], F_OK) != 0; i++)
            nanosleep(&ts, NULL);
        long r = syscall(SYS_getpid);
        printf("getpid=%ld errno=%s\n", r, r < 0 ? strerrorname_np(errno) : "none");
        return 0;
    }
    printf("%d %d\n", (int)parent, (int)child);
    for (;;)
        pause();
}
