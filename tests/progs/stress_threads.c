/* Stress for in-process methods: T threads (argv[1], default 200) each make
 * N raw getpid calls (argv[2], default 1000) through syscall(). The test's
 * layer answers each with the calling thread's tid, so a misrouted answer
 * shows as a mismatch with gettid() (which nobody intercepts). Prints
 * "stress ok T N" and exits 0, or prints the first mismatch and exits 1.
 * With argv[3] = "lseek" (the trace ring's stress) the calls are instead
 * lseek(-1, i, SEEK_SET), i = 0..N-1, which fail with EBADF: the test
 * checks that each thread's N records are in the file, in order. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static long n_calls;
static int lseek_mode;
static atomic_long bad;

static void *worker(void *arg)
{
    (void)arg;
    long tid = syscall(SYS_gettid);
    for (long i = 0; i < n_calls && lseek_mode; i++)
        if (syscall(SYS_lseek, -1, i, SEEK_SET) != -1 || errno != EBADF)
            atomic_fetch_add(&bad, 1);
    for (long i = 0; i < n_calls && !lseek_mode; i++) {
        long r = syscall(SYS_getpid);
        if (r != tid && atomic_fetch_add(&bad, 1) == 0)
            fprintf(stderr, "thread %ld call %ld: got %ld\n", tid, i, r);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    int t = argc > 1 ? atoi(argv[1]) : 200;
    n_calls = argc > 2 ? atol(argv[2]) : 1000;
    lseek_mode = argc > 3 && strcmp(argv[3], "lseek") == 0;
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
    if (bad) {
        printf("stress FAILED bad=%ld\n", (long)bad);
        return 1;
    }
    printf("stress ok %d %ld\n", t, n_calls);
    return 0;
}
