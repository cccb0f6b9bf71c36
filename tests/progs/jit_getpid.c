/* JIT-like code: writes `mov $39, %eax; syscall; ret` (getpid) into an
 * mmap'd page, makes it executable and calls it N times (argv[1], default
 * 1). Prints "jit=R" with the last result. The `syscall` instruction is in
 * neither the program's text nor libc: only syscall user dispatch or a
 * seccomp filter can see it. x86_64 only. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#if !defined(__x86_64__)
#error "jit_getpid.c is x86_64 only"
#endif

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 1;
    static const unsigned char code[] = { 0xb8, 39, 0, 0, 0, 0x0f, 0x05, 0xc3 };
    unsigned char *page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (page == MAP_FAILED) {
        perror("mmap");
        return 1;
    }
    memcpy(page, code, sizeof code);
    if (mprotect(page, 4096, PROT_READ | PROT_EXEC) != 0) {
        perror("mprotect");
        return 1;
    }
    long (*fn)(void) = (long (*)(void))page;
    long r = 0;
    for (int i = 0; i < n; i++)
        r = fn();
    printf("jit=%ld\n", r);
    return 0;
}
