/* x86_64 only: performs getpid through the i386 ABI (int $0x80, eax=20)
 * and through the native `syscall` instruction, and prints
 * "int80=A syscall=B".  Exits 0 if both agree.  If the kernel has no IA32
 * emulation, int $0x80 faults (SIGSEGV): prints "int80=unsupported
 * syscall=B" and exits 77. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#if !defined(__x86_64__)
#error "int80.c is x86_64 only"
#endif

static sigjmp_buf env;

static void on_segv(int sig)
{
    (void)sig;
    siglongjmp(env, 1);
}

static long getpid_int80(void)
{
    long ret;
    __asm__ volatile("int $0x80"
                     : "=a"(ret)
                     : "0"(20L) /* __NR_getpid (i386) */
                     : "r8", "r9", "r10", "r11", "memory");
    return ret;
}

static long getpid_syscall(void)
{
    long ret;
    __asm__ volatile("syscall"
                     : "=a"(ret)
                     : "0"(39L) /* __NR_getpid (x86_64) */
                     : "rcx", "r11", "memory");
    return ret;
}

int main(void)
{
    long native = getpid_syscall();
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_segv;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, NULL);
    if (sigsetjmp(env, 1)) {
        printf("int80=unsupported syscall=%ld\n", native);
        return 77;
    }
    long compat = getpid_int80();
    signal(SIGSEGV, SIG_DFL);
    printf("int80=%ld syscall=%ld\n", compat, native);
    return compat == native ? 0 : 1;
}
