/* Calls getpid from `syscall` instructions at the edges of the in-process
 * shim's trampoline, whose address T is argv[1] (decimal; the backstop's
 * fixed address): x86_64 only.
 *
 *   below  a page the program maps just below T, its `syscall` in the last
 *          two bytes: the kernel reports ip = T, the trampoline's first
 *          address (execution then runs on into the trampoline's own
 *          raw-syscall stub, which makes a second getpid from inside it);
 *   above  a page just above the trampoline's two pages, `syscall; ret` at
 *          its start (ip = T + 8194);
 *   into   a return-oriented call of the trampoline's own `syscall; ret`:
 *          the program's registers, the shim's instruction. Neither syscall
 *          user dispatch nor the backstop's filter can tell it apart from
 *          the shim's own calls: it is not seen (not a security boundary).
 *
 * Prints "below=A above=B into=C". Exits 2 if a page cannot be mapped, 3
 * if nothing is mapped at T (no trampoline: run natively). */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif

static long call_at(void *fn)
{
    long r;
    /* rax = rdi = 39: whatever runs on after the `syscall` (below) is getpid too */
    __asm__ volatile("call *%1"
                     : "=a"(r)
                     : "r"(fn), "0"(39L), "D"(39L)
                     : "rcx", "rdx", "rsi", "r8", "r9", "r10", "r11", "memory");
    return r;
}

static unsigned char *page_at(unsigned long addr)
{
    void *p = mmap((void *)addr, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE,
                   -1, 0);
    if (p == MAP_FAILED || (unsigned long)p != addr) {
        fprintf(stderr, "cannot map a page at %#lx\n", addr);
        exit(2);
    }
    return p;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    unsigned long t = strtoul(argv[1], NULL, 10);
    if (msync((void *)t, 4096, MS_ASYNC) != 0) {  /* ENOMEM: nothing mapped there */
        printf("no trampoline at %#lx\n", t);
        return 3;
    }
    unsigned char *below = page_at(t - 4096);
    below[4094] = 0x0f;
    below[4095] = 0x05;
    unsigned char *above = page_at(t + 8192);
    above[0] = 0x0f;
    above[1] = 0x05;
    above[2] = 0xc3;
    if (mprotect(below, 4096, PROT_READ | PROT_EXEC) || mprotect(above, 4096, PROT_READ | PROT_EXEC)) {
        perror("mprotect");
        return 2;
    }
    /* the trampoline's `syscall; ret` (the end of its raw-syscall stub) */
    const unsigned char *tr = (const unsigned char *)t, *gadget = NULL;
    for (int i = 0; i + 2 < 4096 && !gadget; i++)
        if (tr[i] == 0x0f && tr[i + 1] == 0x05 && tr[i + 2] == 0xc3)
            gadget = tr + i;
    if (!gadget)
        return 2;
    long a = call_at(below + 4094);
    long b = call_at(above);
    long c = call_at((void *)gadget);
    printf("below=%ld above=%ld into=%ld\n", a, b, c);
    return 0;
}
