/* x86_64 only (elsewhere it exits 77): file calls through the i386 ABI (int $0x80) from a 64-bit
 * process, with buffers below 4 GiB (MAP_32BIT). Prints "NAME RESULT"
 * lines (RESULT: a value, or -errno) and what was read:
 *
 *   confine_int80 FILE DIR     FILE is read and stat'ed, DIR written in
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#if defined(__x86_64__)

static long i80(long nr, long a, long b, long c, long d)
{
    long ret;
    __asm__ volatile("int $0x80" : "=a"(ret) : "0"(nr), "b"(a), "c"(b), "d"(c), "S"(d)
                     : "r8", "r9", "r10", "r11", "memory");
    return ret;
}

enum { NR_read = 3, NR_open = 5, NR_close = 6, NR_unlink = 10, NR_chdir = 12, NR_access = 33,
       NR_mkdir = 39, NR_rmdir = 40, NR_readlink = 85, NR_truncate = 92, NR_stat = 106,
       NR_getcwd = 183, NR_stat64 = 195, NR_lstat64 = 196, NR_openat = 295, NR_symlink = 83,
       NR_statfs64 = 268, NR_utimensat = 320, NR_oldstat = 18, NR_chown32 = 212 };

int main(int argc, char **argv)
{
    if (argc < 3)
        return 2;
    char *m = mmap(NULL, 1 << 16, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT,
                   -1, 0);
    if (m == MAP_FAILED)
        return 3;
    char *path = m, *dir = m + 4096, *buf = m + 8192, *st = m + 16384, *p2 = m + 12288;
    strcpy(path, argv[1]);
    strcpy(dir, argv[2]);
    long fd = i80(NR_open, (long)path, 0, 0, 0);
    printf("open %ld\n", fd > 0 ? 0 : fd);
    long n = i80(NR_read, fd, (long)buf, 100, 0);
    printf("read %ld %.*s", n, (int)(n > 0 ? n : 0), buf);
    i80(NR_close, fd, 0, 0, 0);
    printf("access %ld\n", i80(NR_access, (long)path, 4, 0, 0));
    long r = i80(NR_stat64, (long)path, (long)st, 0, 0);
    /* struct stat64: st_mode at 16, st_size at 44 */
    printf("stat64 %ld mode %o size %lld\n", r, *(unsigned *)(st + 16), *(long long *)(st + 44));
    r = i80(NR_stat, (long)path, (long)st, 0, 0);
    /* struct stat (compat): st_mode (u16) at 8, st_size (u32) at 20 */
    printf("stat %ld mode %o size %u\n", r, *(unsigned short *)(st + 8), *(unsigned *)(st + 20));
    r = i80(NR_statfs64, (long)path, 84, (long)st, 0);
    printf("statfs64 %ld\n", r);
    r = i80(NR_chdir, (long)dir, 0, 0, 0);
    printf("chdir %ld\n", r);
    r = i80(NR_getcwd, (long)buf, 256, 0, 0);
    printf("getcwd %ld %s\n", r > 0 ? 0 : r, r > 0 ? buf : "");
    strcpy(p2, "sub");
    printf("mkdir %ld\n", i80(NR_mkdir, (long)p2, 0755, 0, 0));
    strcpy(p2 + 100, "sub/f");
    fd = i80(NR_open, (long)(p2 + 100), 0101 /* O_WRONLY|O_CREAT */, 0644, 0);
    printf("create %ld\n", fd > 0 ? 0 : fd);
    i80(NR_close, fd, 0, 0, 0);
    printf("truncate %ld\n", i80(NR_truncate, (long)(p2 + 100), 7, 0, 0));
    r = i80(NR_lstat64, (long)(p2 + 100), (long)st, 0, 0);
    printf("lstat64 %ld size %lld\n", r, *(long long *)(st + 44));
    strcpy(p2 + 200, "sub/l");
    printf("symlink %ld\n", i80(NR_symlink, (long)path, (long)(p2 + 200), 0, 0));
    r = i80(NR_readlink, (long)(p2 + 200), (long)buf, 200, 0);
    printf("readlink %ld %.*s\n", r, (int)(r > 0 ? r : 0), buf);
    printf("utimensat %ld\n", i80(NR_utimensat, -100, (long)(p2 + 100), 0, 0));
    printf("chown32 %ld\n", i80(NR_chown32, (long)(p2 + 100), -1, -1, 0));
    printf("unlink %ld\n", i80(NR_unlink, (long)(p2 + 100), 0, 0, 0));
    printf("unlink %ld\n", i80(NR_unlink, (long)(p2 + 200), 0, 0, 0));
    printf("rmdir %ld\n", i80(NR_rmdir, (long)p2, 0, 0, 0));
    strcpy(p2, "/no/such/file");
    printf("open-missing %ld\n", i80(NR_open, (long)p2, 0, 0, 0));
    return 0;
}
#else
int main(void)
{
    return 77; /* the i386 ABI of a 64-bit process exists on x86_64 only */
}
#endif
