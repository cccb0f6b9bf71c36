/* 4 threads each write 1000 small lines (one write(2) per line) to their
 * own file PREFIX<index> (PREFIX = argv[1], default "/tmp/threaded_io.<pid>."),
 * read it back, verify the content and unlink it.  Prints "io ok"; exits 1
 * on any error. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NTHREADS 4
#define NLINES 1000

static char prefix[4000];

static int line(char *buf, size_t sz, long t, int i)
{
    return snprintf(buf, sz, "thread %ld line %d\n", t, i);
}

static void *worker(void *arg)
{
    long t = (long)(intptr_t)arg;
    char path[4096], buf[64];
    snprintf(path, sizeof path, "%s%ld", prefix, t);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        perror(path);
        return (void *)1;
    }
    size_t total = 0;
    for (int i = 0; i < NLINES; i++) {
        int n = line(buf, sizeof buf, t, i);
        if (write(fd, buf, (size_t)n) != n)
            goto fail;
        total += (size_t)n;
    }
    char *data = malloc(total + 1);
    if (!data || lseek(fd, 0, SEEK_SET) != 0)
        goto fail;
    size_t got = 0;
    for (;;) {
        ssize_t r = read(fd, data + got, total + 1 - got);
        if (r < 0)
            goto fail;
        if (r == 0)
            break;
        got += (size_t)r;
        if (got > total)
            break;
    }
    if (got != total)
        goto fail;
    size_t off = 0;
    for (int i = 0; i < NLINES; i++) {
        int n = line(buf, sizeof buf, t, i);
        if (memcmp(data + off, buf, (size_t)n) != 0)
            goto fail;
        off += (size_t)n;
    }
    free(data);
    close(fd);
    unlink(path);
    return NULL;
fail:
    fprintf(stderr, "thread %ld: I/O check failed on %s\n", t, path);
    close(fd);
    unlink(path);
    return (void *)1;
}

int main(int argc, char **argv)
{
    if (argc > 1)
        snprintf(prefix, sizeof prefix, "%s", argv[1]);
    else
        snprintf(prefix, sizeof prefix, "/tmp/threaded_io.%d.", (int)getpid());
    pthread_t th[NTHREADS];
    for (long t = 0; t < NTHREADS; t++)
        if (pthread_create(&th[t], NULL, worker, (void *)(intptr_t)t) != 0)
            return 1;
    int bad = 0;
    for (int t = 0; t < NTHREADS; t++) {
        void *res;
        pthread_join(th[t], &res);
        if (res)
            bad = 1;
    }
    if (bad) {
        printf("io FAILED\n");
        return 1;
    }
    printf("io ok\n");
    return 0;
}
