/* Calls the raw getpid syscall N times (argv[1], default 1000) and prints
 * "sum=S last=L" where S is the sum of all returned values modulo 1000003
 * and L the last returned value (0 if N == 0). */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#define MOD 1000003L

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 1000;
    long sum = 0, last = 0;
    for (long i = 0; i < n; i++) {
        last = syscall(SYS_getpid);
        sum = (sum + last % MOD + MOD) % MOD;
    }
    printf("sum=%ld last=%ld\n", sum, last);
    return 0;
}
