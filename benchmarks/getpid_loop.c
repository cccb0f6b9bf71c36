/* getpid_loop: call raw syscall(SYS_getpid) N times and time the loop.
 *
 * Used by bench_core.py to measure the cost of one intercepted syscall.
 * The loop is timed with CLOCK_MONOTONIC (vDSO: no syscall, so nothing
 * the tracer sees), which keeps process start-up and exec out of the
 * figure.  Output, one line on stdout:
 *
 *     <N> <loop_ns> <last getpid() result>
 *
 * The last value lets the benchmark check that a layer really answered
 * the call (it returns 4242 instead of the real pid).
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    long n = argc > 1 ? strtol(argv[1], NULL, 10) : 20000;
    struct timespec a, b;
    long last = 0;

    clock_gettime(CLOCK_MONOTONIC, &a);
    for (long i = 0; i < n; i++)
        last = syscall(SYS_getpid);
    clock_gettime(CLOCK_MONOTONIC, &b);

    long long ns = (long long)(b.tv_sec - a.tv_sec) * 1000000000LL + (b.tv_nsec - a.tv_nsec);
    printf("%ld %lld %ld\n", n, ns, last);
    return 0;
}
