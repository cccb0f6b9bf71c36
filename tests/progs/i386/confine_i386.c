/* A 32-bit program (i386), freestanding and static: built with
 * gcc -m32 -nostdlib -static, so that it needs no 32-bit libc. Reads FILE,
 * stats it, creates DIR/made and prints "NAME RESULT" lines through the
 * i386 system call interface (int $0x80).
 *
 *   confine_i386 FILE DIR
 */
#if !defined(__i386__)
#error "confine_i386.c is built with -m32"
#endif

static long sys(long n, long a, long b, long c)
{
    long r;
    __asm__ volatile("int $0x80" : "=a"(r) : "0"(n), "b"(a), "c"(b), "d"(c) : "memory");
    return r;
}

static unsigned long len(const char *s)
{
    unsigned long n = 0;
    while (s[n])
        n++;
    return n;
}

static void out(const char *s)
{
    sys(4, 1, (long)s, (long)len(s));
}

static void num(long v)
{
    char b[24];
    int i = 23;
    int neg = v < 0;
    unsigned long u = neg ? -v : v;
    b[i] = 0;
    do {
        b[--i] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (neg)
        b[--i] = '-';
    out(b + i);
}

static void line(const char *name, long v)
{
    out(name);
    out(" ");
    num(v);
    out("\n");
}

static char buf[256], st[128], path[512];

static int main32(int argc, char **argv)
{
    if (argc < 3)
        return 2;
    long fd = sys(5, (long)argv[1], 0, 0);  /* open */
    line("open", fd > 0 ? 0 : fd);
    long n = sys(3, fd, (long)buf, sizeof buf - 1);  /* read */
    line("read", n);
    if (n > 0) {
        buf[n] = 0;
        out("data ");
        out(buf);
    }
    line("stat64", sys(195, (long)argv[1], (long)st, 0));
    line("size", *(long long *)(st + 44));
    unsigned long i = 0, k;
    for (k = 0; argv[2][k]; k++)
        path[i++] = argv[2][k];
    const char *made = "/made";
    for (k = 0; made[k]; k++)
        path[i++] = made[k];
    path[i] = 0;
    fd = sys(5, (long)path, 0101, 0644);  /* open(O_WRONLY|O_CREAT) */
    line("create", fd > 0 ? 0 : fd);
    line("write", sys(4, fd, (long)"i386\n", 5));
    line("getcwd", sys(183, (long)buf, sizeof buf, 0) > 0);
    line("open-missing", sys(5, (long)"/no/such/file", 0, 0));
    return 0;
}

__attribute__((used)) void start_c(long *sp)
{
    int argc = (int)sp[0];
    char **argv = (char **)(sp + 1);
    sys(1, main32(argc, argv), 0, 0);  /* exit */
    for (;;)
        ;
}

__asm__(".text\n.global _start\n_start:\n"
        "  mov %esp, %eax\n  and $-16, %esp\n  sub $12, %esp\n  push %eax\n  call start_c\n  hlt\n");
