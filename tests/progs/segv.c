/* Dereferences NULL and dies by SIGSEGV (core dumps disabled with
 * RLIMIT_CORE 0).  If it survives, prints "survived" and exits 1. */
#include <signal.h>
#include <stdio.h>
#include <sys/resource.h>

int main(void)
{
    struct rlimit rl = {0, 0};
    setrlimit(RLIMIT_CORE, &rl);
    signal(SIGSEGV, SIG_DFL);
    /* Both volatile: the compiler can neither prove p is NULL nor drop the
     * store as dead. */
    volatile int *volatile p = NULL;
    *p = 1;
    printf("survived\n");
    return 1;
}
