/* Killing the supervisor, in the escape battery (see escape_common.h).
 *
 *   escape_kill MODE TARGET SECRET MARKER
 *
 * TARGET is "parent" (the supervisor, when confined) or a pid. A child is
 * forked first (it inherits the confinement; this process prints "CHILD
 * <pid>" before anything is killed); the child waits until TARGET is gone (its pidfd polls readable), then tries to
 * read SECRET and create MARKER and prints the verdict. Under a
 * supervisor that fails closed these calls fail (ENOSYS: no listener) or
 * the child is killed with the supervisor; never do they run unconfined.
 *   self   this process SIGKILLs TARGET
 *   wait   someone else (the test) kills TARGET; prints "READY" */
#include "escape_common.h"

#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>

int main(int argc, char **argv)
{
    if (argc != 5 || (strcmp(argv[1], "self") && strcmp(argv[1], "wait"))) {
        fprintf(stderr, "usage: escape_kill self|wait parent|PID SECRET MARKER\n");
        return 2;
    }
    esc_init();
    pid_t target = strcmp(argv[2], "parent") ? atoi(argv[2]) : getppid();
    int pidfd = (int)syscall(SYS_pidfd_open, target, 0);
    if (pidfd < 0) {
        printf("ERROR pidfd_open(%d): %s\n", (int)target, esc_ename(errno));
        return 1;
    }
    pid_t child = fork();
    if (child < 0) {
        printf("ERROR fork: %s\n", esc_ename(errno));
        return 1;
    }
    if (child == 0) {
        struct pollfd p = { pidfd, POLLIN, 0 };
        if (poll(&p, 1, 10000) != 1) {
            printf("ERROR the target %d is still alive\n", (int)target);
            return 1;
        }
        try_open(argv[3], "open(SECRET) after the supervisor died");
        try_create(AT_FDCWD, argv[4], "create MARKER after the supervisor died");
        return verdict();
    }
    printf("CHILD %d\n", (int)child);
    if (!strcmp(argv[1], "self")) {
        if (kill(target, SIGKILL) != 0)
            printf("NOTE kill(%d): %s\n", (int)target, esc_ename(errno));
    } else {
        printf("READY\n");
    }
    int st;
    if (waitpid(child, &st, 0) != child)
        return 1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}
