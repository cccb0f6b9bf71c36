/* Foreign-ABI attacks of the escape battery (see escape_common.h).
 *
 *   escape_abi MODE SECRET MARKER [COUNT]
 *
 *   int80   open, openat and creat of the secret/marker through the i386
 *           ABI (int $0x80 from this x86_64 process), which has its own
 *           syscall numbers: a filter that only knows x86_64 numbers, or
 *           does not check seccomp_data.arch, lets them through
 *   x32     openat and open(O_CREAT) with the x32 bit (nr | 0x40000000),
 *           COUNT times each (default 1); ENOSYS from a kernel without the
 *           x32 ABI is "blocked" too (the test tells the two apart)
 * x86_64 only: elsewhere it prints SKIP. */
#include "escape_common.h"

#if defined(__x86_64__)
#include <sys/mman.h>

#define X32_BIT 0x40000000L

static char *low;  /* below 4 GiB: i386 pointers are 32 bits */

static long int80(long nr, long a, long b, long c)
{
    long ret;
    __asm__ volatile("int $0x80"
                     : "=a"(ret)
                     : "0"(nr), "b"(a), "c"(b), "d"(c)
                     : "r8", "r9", "r10", "r11", "memory");
    return ret;
}

static long syscall6(long nr, long a, long b, long c, long d)
{
    long ret;
    register long r10 __asm__("r10") = d;
    __asm__ volatile("syscall"
                     : "=a"(ret)
                     : "0"(nr), "D"(a), "S"(b), "d"(c), "r"(r10)
                     : "rcx", "r11", "memory");
    return ret;
}

static const char *lowstr(const char *s)
{
    strcpy(low, s);
    return low;
}

/* an fd returned by a raw syscall (-errno on failure) */
static void raw_fd(long r, const char *how, int create)
{
    if (r < 0) {
        blocked((int)-r, "%s", how);
    } else if (create) {
        close((int)r);
        escaped("%s", how);
    } else {
        try_fd((int)r, how);
    }
}

static int mode_int80(const char *secret, const char *marker)
{
    low = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
    if (low == MAP_FAILED) {
        printf("ERROR mmap(MAP_32BIT): %s\n", esc_ename(errno));
        return 1;
    }
    /* i386: open 5, creat 8, openat 295, close 6 */
    long probe = int80(20, 0, 0, 0);  /* getpid */
    if (probe != getpid())
        return skip("no IA32 emulation: int $0x80 does not reach the i386 ABI");
    raw_fd(int80(5, (long)lowstr(secret), O_RDONLY, 0), "int80 open(SECRET)", 0);
    raw_fd(int80(295, AT_FDCWD, (long)lowstr(secret), O_RDONLY), "int80 openat(SECRET)", 0);
    raw_fd(int80(8, (long)lowstr(marker), 0644, 0), "int80 creat(MARKER)", 1);
    return verdict();
}

static int mode_x32(const char *secret, const char *marker, int count)
{
    long first = 0, second = 0;
    for (int i = 0; i < count; i++) {
        /* x32 uses the x86_64 numbers of these: openat 257, open 2 */
        first = syscall6(X32_BIT | 257, AT_FDCWD, (long)secret, O_RDONLY, 0);
        if (first >= 0)
            break;
        second = syscall6(X32_BIT | 2, (long)marker, O_WRONLY | O_CREAT, 0644, 0);
        if (second >= 0)
            break;
    }
    raw_fd(first, "x32 openat(SECRET)", 0);
    raw_fd(second, "x32 open(MARKER, O_CREAT)", 1);
    return verdict();
}
#endif

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: escape_abi MODE SECRET MARKER [COUNT]\n");
        return 2;
    }
    esc_init();
#if defined(__x86_64__)
    if (!strcmp(argv[1], "int80"))
        return mode_int80(argv[2], argv[3]);
    if (!strcmp(argv[1], "x32"))
        return mode_x32(argv[2], argv[3], argc > 4 ? atoi(argv[4]) : 1);
    fprintf(stderr, "escape_abi: unknown mode %s\n", argv[1]);
    return 2;
#else
    return skip("int $0x80 and x32 exist on x86_64 only");
#endif
}
