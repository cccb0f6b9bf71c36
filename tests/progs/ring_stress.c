/* Stress for the in-process trace ring: T threads (argv[1]) each make N
 * raw lseek(-1, i, SEEK_SET) calls (argv[2]), i = 0..N-1, which fail with
 * EBADF; the test checks that every thread's N records are in the file,
 * in order (the offset argument is the call's index). Prints "ring ok T N". */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

static long n_calls;

static void *worker(void *arg)
{
    (void)arg;
    for (long i = 0; i < n_calls; i++)
        if (syscall(SYS_lseek, -1, i, SEEK_SET) != -1 || errno != EBADF)
            abort();
    return NULL;
}

int main(int argc, char **argv)
{
    int t = argc > 1 ? atoi(argv[1]) : 200;
    n_calls = argc > 2 ? atol(argv[2]) : 10000;
    pthread_t *th = calloc((size_t)t, sizeof *th);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 64 * 1024);
    for (int i = 0; i < t; i++)
        if (pthread_create(&th[i], &attr, worker, NULL) != 0) {
            perror("pthread_create");
            return 1;
        }
    for (int i = 0; i < t; i++)
        pthread_join(th[i], NULL);
    printf("ring ok %d %ld\n", t, n_calls);
    return 0;
}
