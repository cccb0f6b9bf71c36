/* Fork chain of depth D (argv[1], default 3): each level forks, the child
 * recurses, the leaf execs /bin/true.  Then vfork + execve("/bin/echo",
 * "vfork-ok").  Prints "forkexec ok" and exits 0 only if every child
 * exited 0 (prints "forkexec FAILED" and exits 1 otherwise). */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static int wait_ok(pid_t pid)
{
    int status;
    pid_t r;
    do
        r = waitpid(pid, &status, 0);
    while (r < 0 && errno == EINTR);
    return r == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/* Returns 1 if the whole sub-chain below this level succeeded. */
static int chain(int depth)
{
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        return 0;
    }
    if (pid == 0) {
        if (depth <= 1) {
            char *const argv[] = {"true", NULL};
            execve("/bin/true", argv, environ);
            _exit(127);
        }
        _exit(chain(depth - 1) ? 0 : 1);
    }
    return wait_ok(pid);
}

int main(int argc, char **argv)
{
    int depth = argc > 1 ? atoi(argv[1]) : 3;

    fflush(stdout);
    int chain_ok = depth > 0 ? chain(depth) : 1;

    pid_t pid = vfork();
    if (pid < 0) {
        perror("vfork");
        return 1;
    }
    if (pid == 0) {
        char *const eargv[] = {"echo", "vfork-ok", NULL};
        execve("/bin/echo", eargv, environ);
        _exit(127);
    }
    int vfork_ok = wait_ok(pid);

    if (!chain_ok || !vfork_ok) {
        printf("forkexec FAILED\n");
        return 1;
    }
    printf("forkexec ok\n");
    return 0;
}
