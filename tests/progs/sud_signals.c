/* What a program sees of SIGSYS and its masks under an in-process shim
 * (and natively: the same output):
 *  - a SIGSYS handler it installs is reported back by sigaction and runs on
 *    kill(SIGSYS);
 *  - SIGSYS blocked with sigprocmask reads back as blocked, and system calls
 *    still work;
 *  - a handler installed with a full sa_mask makes system calls;
 *  - SIG_IGN for SIGSYS: kill(SIGSYS) is ignored.
 * Prints "sigsys ok handled=1 blocked=1 inner=1"; exits 1 on a mismatch. */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static volatile sig_atomic_t handled, inner;

static void on_sys(int sig) { (void)sig; handled++; }

static void on_usr1(int sig)
{
    (void)sig;
    if (syscall(SYS_getppid) > 0 && getpid() > 0)  /* syscalls with every signal blocked */
        inner++;
}

#define CHECK(c) do { if (!(c)) { printf("sigsys FAILED line %d: %s\n", __LINE__, #c); return 1; } } while (0)

int main(void)
{
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sys;
    sigemptyset(&sa.sa_mask);
    CHECK(sigaction(SIGSYS, &sa, NULL) == 0);
    CHECK(sigaction(SIGSYS, NULL, &old) == 0);
    CHECK(old.sa_handler == on_sys);
    CHECK(kill(getpid(), SIGSYS) == 0);
    CHECK(handled == 1);

    sigset_t set, got;
    sigemptyset(&set);
    sigaddset(&set, SIGSYS);
    CHECK(sigprocmask(SIG_BLOCK, &set, NULL) == 0);
    CHECK(sigprocmask(SIG_SETMASK, NULL, &got) == 0);
    CHECK(sigismember(&got, SIGSYS) == 1);
    CHECK(getppid() > 0);
    CHECK(sigprocmask(SIG_UNBLOCK, &set, NULL) == 0);
    CHECK(sigprocmask(SIG_SETMASK, NULL, &got) == 0);
    CHECK(sigismember(&got, SIGSYS) == 0);

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1;
    sigfillset(&sa.sa_mask);
    CHECK(sigaction(SIGUSR1, &sa, NULL) == 0);
    CHECK(raise(SIGUSR1) == 0);
    CHECK(inner == 1);

    signal(SIGSYS, SIG_IGN);
    CHECK(kill(getpid(), SIGSYS) == 0);
    printf("sigsys ok handled=%d blocked=1 inner=%d\n", (int)handled, (int)inner);
    return 0;
}
