/* Signal delivery checks:
 *  - SIGUSR1 handler (SA_RESTART): raise() then kill(getpid()) -> 2 calls
 *  - SIGALRM handler (no SA_RESTART): alarm(1) interrupts a blocking read()
 *    on an empty pipe -> read returns -1/EINTR
 *  - SIGUSR2 blocked with sigprocmask, raised, seen in sigpending(), handled
 *    once after unblocking
 *  - SIGRTMIN sent with sigqueue(value 42) to an SA_SIGINFO handler that
 *    records si_value / si_code
 * Prints "signals ok usr1=2 alrm=1 usr2=1 rt=42"; exits 1 on any mismatch. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t n_usr1, n_alrm, n_usr2, n_rt, rt_value, rt_code;

static void on_usr1(int sig) { (void)sig; n_usr1++; }
static void on_alrm(int sig) { (void)sig; n_alrm++; }
static void on_usr2(int sig) { (void)sig; n_usr2++; }

static void on_rt(int sig, siginfo_t *si, void *uc)
{
    (void)sig;
    (void)uc;
    n_rt++;
    rt_value = si->si_value.sival_int;
    rt_code = si->si_code;
}

static int install(int sig, void (*fn)(int), int flags)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = fn;
    sa.sa_flags = flags;
    sigemptyset(&sa.sa_mask);
    return sigaction(sig, &sa, NULL);
}

#define CHECK(cond)                                                       \
    do {                                                                  \
        if (!(cond)) {                                                    \
            printf("signals FAILED line %d: %s\n", __LINE__, #cond);      \
            return 1;                                                     \
        }                                                                 \
    } while (0)

int main(void)
{
    CHECK(install(SIGUSR1, on_usr1, SA_RESTART) == 0);
    CHECK(install(SIGALRM, on_alrm, 0) == 0);
    CHECK(install(SIGUSR2, on_usr2, SA_RESTART) == 0);

    /* SIGUSR1: raise + kill */
    CHECK(raise(SIGUSR1) == 0);
    CHECK(n_usr1 == 1);
    CHECK(kill(getpid(), SIGUSR1) == 0);
    CHECK(n_usr1 == 2);

    /* SIGALRM interrupts a blocking read */
    int p[2];
    char c;
    CHECK(pipe(p) == 0);
    alarm(1);
    errno = 0;
    ssize_t r = read(p[0], &c, 1);
    int err = errno;
    alarm(0);
    CHECK(r == -1 && err == EINTR);
    CHECK(n_alrm == 1);
    close(p[0]);
    close(p[1]);

    /* SIGUSR2 blocked -> pending -> delivered on unblock */
    sigset_t set, old, pend;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR2);
    CHECK(sigprocmask(SIG_BLOCK, &set, &old) == 0);
    CHECK(raise(SIGUSR2) == 0);
    CHECK(n_usr2 == 0);
    CHECK(sigpending(&pend) == 0);
    CHECK(sigismember(&pend, SIGUSR2) == 1);
    CHECK(sigprocmask(SIG_SETMASK, &old, NULL) == 0);
    CHECK(n_usr2 == 1);
    CHECK(sigpending(&pend) == 0);
    CHECK(sigismember(&pend, SIGUSR2) == 0);

    /* realtime signal with a value */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_rt;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    CHECK(sigaction(SIGRTMIN, &sa, NULL) == 0);
    union sigval v;
    v.sival_int = 42;
    CHECK(sigqueue(getpid(), SIGRTMIN, v) == 0);
    CHECK(n_rt == 1);
    CHECK(rt_value == 42);
    CHECK(rt_code == SI_QUEUE);

    printf("signals ok usr1=%d alrm=%d usr2=%d rt=%d\n", (int)n_usr1,
           (int)n_alrm, (int)n_usr2, (int)rt_value);
    return 0;
}
