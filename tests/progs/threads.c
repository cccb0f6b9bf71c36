/* N threads (argv[1], default 8), each doing M (argv[2], default 100)
 * iterations of getpid() + open("/dev/null") + close().
 * Prints "threads ok N"; exits 1 if any open/close failed. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static long iterations = 100;
static atomic_int failures;

static void *worker(void *arg)
{
    (void)arg;
    for (long i = 0; i < iterations; i++) {
        if (getpid() <= 0)
            atomic_fetch_add(&failures, 1);
        int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (fd < 0 || close(fd) != 0)
            atomic_fetch_add(&failures, 1);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 8;
    if (argc > 2)
        iterations = atol(argv[2]);
    if (n < 1 || n > 4096 || iterations < 0) {
        fprintf(stderr, "usage: threads [N] [M]\n");
        return 2;
    }
    pthread_t *tids = calloc((size_t)n, sizeof *tids);
    if (!tids)
        return 2;
    for (long i = 0; i < n; i++) {
        int err = pthread_create(&tids[i], NULL, worker, NULL);
        if (err) {
            fprintf(stderr, "pthread_create: %s\n", strerror(err));
            return 1;
        }
    }
    for (long i = 0; i < n; i++)
        pthread_join(tids[i], NULL);
    free(tids);
    if (atomic_load(&failures)) {
        printf("threads FAILED %d\n", atomic_load(&failures));
        return 1;
    }
    printf("threads ok %ld\n", n);
    return 0;
}
