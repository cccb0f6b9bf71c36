/* Multi-threaded exec ("leader change"): main starts 3 threads that spin
 * calling getppid(); once all are running, thread #1 (not the thread-group
 * leader) calls execve("/bin/echo", {"echo", "mt-exec-ok"}).  The kernel
 * kills the other threads and the exec'ing thread takes over the leader's
 * pid.  Output on success is exactly "mt-exec-ok". */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>

extern char **environ;

#define NTHREADS 3
static atomic_int started;

static void *spin(void *arg)
{
    long idx = (long)(intptr_t)arg;
    atomic_fetch_add(&started, 1);
    for (long i = 0;; i++) {
        syscall(SYS_getppid);
        if (idx == 1 && i >= 100 && atomic_load(&started) == NTHREADS) {
            char *const argv[] = {"echo", "mt-exec-ok", NULL};
            execve("/bin/echo", argv, environ);
            perror("execve");
            _exit(127);
        }
    }
    return NULL;
}

int main(void)
{
    pthread_t t[NTHREADS];
    fflush(stdout);
    for (long i = 0; i < NTHREADS; i++) {
        if (pthread_create(&t[i], NULL, spin, (void *)(intptr_t)i) != 0) {
            fprintf(stderr, "pthread_create failed\n");
            return 1;
        }
    }
    for (int i = 0; i < NTHREADS; i++)
        pthread_join(t[i], NULL);
    return 1; /* not reached: the exec replaces the whole process */
}
