/* Meant to be linked with -static (fakeroot's LD_PRELOAD cannot reach it):
 * prints what a program sees of its identity and of file ownership.
 *
 *   fakeroot_ids FILE [DEVNODE]
 *
 * Prints, one "key=value" per line:
 *   uid, euid, gid, egid, resuid (r,e,s)     getuid() ... getresuid()
 *   stat=UID:GID                              stat(FILE)
 *   chown=RC then stat2=UID:GID               chown(FILE, 123, 456), stat again
 *   setuid=RC then uid2, euid2                setuid(1000), getuid(), geteuid()
 *   mknod=RC then dev=MODE:MAJOR,MINOR        mknod(DEVNODE, S_IFCHR|0640, 1:3), stat
 * and on x86_64, the same through the i386 ABI (int $0x80):
 *   i386_getuid32, i386_getuid16, i386_getresuid32, i386_stat64=UID:GID,
 *   i386_mode64 (octal) of DEVNODE.  "i386=unsupported" without IA32 emulation.
 * Exits 0. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <unistd.h>

#if defined(__x86_64__)
static sigjmp_buf env;

static void on_segv(int sig)
{
    (void)sig;
    siglongjmp(env, 1);
}

static long int80(long nr, long a, long b)
{
    long ret;
    __asm__ volatile("int $0x80"
                     : "=a"(ret)
                     : "0"(nr), "b"(a), "c"(b)
                     : "r8", "r9", "r10", "r11", "memory");
    return ret;
}

static long int80_3(long nr, long a, long b, long c)
{
    long ret;
    __asm__ volatile("int $0x80"
                     : "=a"(ret)
                     : "0"(nr), "b"(a), "c"(b), "d"(c)
                     : "r8", "r9", "r10", "r11", "memory");
    return ret;
}

static void i386_abi(const char *file, const char *dev)
{
    /* i386 pointers are 32-bit: everything goes in a MAP_32BIT page */
    char *low = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
    if (low == MAP_FAILED) {
        printf("i386=unsupported\n");
        return;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_segv;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, NULL);
    if (sigsetjmp(env, 1)) {
        printf("i386=unsupported\n");
        return;
    }
    printf("i386_getuid32=%ld\n", int80(199, 0, 0));
    signal(SIGSEGV, SIG_DFL);
    printf("i386_getuid16=%ld\n", int80(24, 0, 0));
    unsigned int *ids = (unsigned int *)low;
    ids[0] = ids[1] = ids[2] = 77;
    long rc = int80_3(209, (long)&ids[0], (long)&ids[1], (long)&ids[2]);
    printf("i386_getresuid32=%ld:%u,%u,%u\n", rc, ids[0], ids[1], ids[2]);
    char *path = low + 64;
    unsigned char *st64 = (unsigned char *)low + 2048;  /* struct stat64, 96 bytes */
    snprintf(path, 1024, "%s", file);
    rc = int80(195, (long)path, (long)st64);
    unsigned int u, g, mode;
    memcpy(&u, st64 + 24, 4);
    memcpy(&g, st64 + 28, 4);
    printf("i386_stat64=%ld:%u:%u\n", rc, u, g);
    if (dev) {
        snprintf(path, 1024, "%s", dev);
        rc = int80(196, (long)path, (long)st64); /* lstat64 */
        memcpy(&mode, st64 + 16, 4);
        printf("i386_mode64=%ld:%o\n", rc, mode);
    }
}
#endif

int main(int argc, char **argv)
{
    struct stat st;
    uid_t r, e, s;
    if (argc < 2) {
        fprintf(stderr, "usage: fakeroot_ids FILE [DEVNODE]\n");
        return 2;
    }
    printf("uid=%u\neuid=%u\ngid=%u\negid=%u\n", getuid(), geteuid(), getgid(), getegid());
    if (getresuid(&r, &e, &s) == 0)
        printf("resuid=%u,%u,%u\n", r, e, s);
    if (stat(argv[1], &st) == 0)
        printf("stat=%u:%u\n", st.st_uid, st.st_gid);
    printf("chown=%d\n", chown(argv[1], 123, 456));
    if (stat(argv[1], &st) == 0)
        printf("stat2=%u:%u\n", st.st_uid, st.st_gid);
    if (argc > 2) {
        printf("mknod=%d\n", mknod(argv[2], S_IFCHR | 0640, makedev(1, 3)));
        if (lstat(argv[2], &st) == 0)
            printf("dev=%o:%u,%u\n", st.st_mode, major(st.st_rdev), minor(st.st_rdev));
    }
#if defined(__x86_64__)
    i386_abi(argv[1], argc > 2 ? argv[2] : NULL);
#endif
    /* last: the identity change stays with this process */
    printf("setuid=%d\n", setuid(1000));
    printf("uid2=%u\neuid2=%u\n", getuid(), geteuid());
    fflush(stdout);
    return 0;
}
