/* Prints what getpid returns in the main thread, a second thread and a
 * fork child, so that a test can see which invocations were tampered with
 * (strace counts per syscall and per thread). With argument "sig", it
 * first installs a SIGUSR1 handler that prints "got SIGUSR1". */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static void on_usr1(int sig) { (void)sig; write(1, "got SIGUSR1\n", 12); }

static void *thread_main(void *arg) {
    (void)arg;
    for (int i = 0; i < 3; i++) printf("T %ld\n", syscall(SYS_getpid));
    return NULL;
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IONBF, 0);
    if (argc > 1 && strcmp(argv[1], "sig") == 0) signal(SIGUSR1, on_usr1);
    for (int i = 0; i < 2; i++) printf("M %ld\n", syscall(SYS_getpid));
    pthread_t t;
    pthread_create(&t, NULL, thread_main, NULL);
    pthread_join(t, NULL);
    pid_t p = fork();
    if (p == 0) {
        for (int i = 0; i < 3; i++) printf("C %ld\n", syscall(SYS_getpid));
        _exit(0);
    }
    waitpid(p, NULL, 0);
    for (int i = 0; i < 3; i++) printf("M %ld\n", syscall(SYS_getpid));
    return 0;
}
