/* Meant to be linked -static. Writes its pid to argv[1] (a new file), then
 * calls getpid every 10 ms, for at most argv[2] seconds (default 20). When
 * getpid fails it writes "errno=N" to argv[1].done and exits 3 (a
 * supervisor that died leaves the call failing with ENOSYS: fail closed);
 * at the time limit it exits 0. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static void put(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
        if (write(fd, text, strlen(text)) < 0) { /* nothing to do */ }
        close(fd);
    }
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    int limit = argc > 2 ? atoi(argv[2]) : 20;
    char buf[64], done[4096];
    snprintf(buf, sizeof buf, "%ld\n", (long)syscall(SYS_getpid));
    put(argv[1], buf);
    snprintf(done, sizeof done, "%s.done", argv[1]);
    struct timespec ten_ms = { 0, 10 * 1000 * 1000 };
    for (int i = 0; i < limit * 100; i++) {
        if (syscall(SYS_getpid) < 0) {
            snprintf(buf, sizeof buf, "errno=%d\n", errno);
            put(done, buf);
            return 3;
        }
        nanosleep(&ten_ms, NULL);
    }
    return 0;
}
