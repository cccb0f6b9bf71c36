/* Raw clone3 usage:
 *  1. a thread (CLONE_VM|FS|FILES|SIGHAND|THREAD|SYSVSEM, plus
 *     PARENT_SETTID|CHILD_CLEARTID so it can be joined with a futex) running
 *     on its own stack; it does one syscall (gettid) and exits with raw
 *     SYS_exit.  The clone3 call for the thread is done in assembly because
 *     the child starts on a fresh stack and cannot return through C frames.
 *  2. a process (flags 0, exit_signal SIGCHLD) that exits 7; the parent
 *     checks the waitpid status.
 * Prints "clone3 ok"; exits 77 if clone3 is not available (ENOSYS). */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/futex.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef SYS_clone3
#define SYS_clone3 435
#endif
#define X_CLONE_VM             0x00000100ULL
#define X_CLONE_FS             0x00000200ULL
#define X_CLONE_FILES          0x00000400ULL
#define X_CLONE_SIGHAND        0x00000800ULL
#define X_CLONE_THREAD         0x00010000ULL
#define X_CLONE_SYSVSEM        0x00040000ULL
#define X_CLONE_PARENT_SETTID  0x00100000ULL
#define X_CLONE_CHILD_CLEARTID 0x00200000ULL

/* Our own copy of struct clone_args (CLONE_ARGS_SIZE_VER0 = 64 bytes). */
struct my_clone_args {
    uint64_t flags;
    uint64_t pidfd;
    uint64_t child_tid;
    uint64_t parent_tid;
    uint64_t exit_signal;
    uint64_t stack;
    uint64_t stack_size;
    uint64_t tls;
};

/* long raw_clone3_thread(struct my_clone_args *args, size_t size,
 *                        long (*fn)(void *), void *arg);
 * In the child: calls fn(arg) on the new stack, then SYS_exit(result). */
long raw_clone3_thread(struct my_clone_args *args, size_t size,
                       long (*fn)(void *), void *arg);
#if defined(__x86_64__)
__asm__(".text\n"
        ".globl raw_clone3_thread\n"
        ".type raw_clone3_thread,@function\n"
        "raw_clone3_thread:\n"
        "  mov %rdx, %r8\n"        /* fn  (r8/r9 survive syscall) */
        "  mov %rcx, %r9\n"        /* arg */
        "  mov $435, %eax\n"       /* __NR_clone3 */
        "  syscall\n"
        "  test %rax, %rax\n"
        "  jnz 1f\n"
        "  xor %ebp, %ebp\n"
        "  mov %r9, %rdi\n"
        "  call *%r8\n"
        "  mov %rax, %rdi\n"
        "  mov $60, %eax\n"        /* __NR_exit */
        "  syscall\n"
        "  hlt\n"
        "1: ret\n"
        ".size raw_clone3_thread, .-raw_clone3_thread\n");
#elif defined(__aarch64__)
__asm__(".text\n"
        ".globl raw_clone3_thread\n"
        ".type raw_clone3_thread,%function\n"
        "raw_clone3_thread:\n"
        "  mov x10, x2\n"
        "  mov x11, x3\n"
        "  mov x8, #435\n"
        "  svc #0\n"
        "  cbnz x0, 1f\n"
        "  mov x29, xzr\n"
        "  mov x0, x11\n"
        "  blr x10\n"
        "  mov x8, #93\n"          /* __NR_exit */
        "  svc #0\n"
        "  brk #0\n"
        "1: ret\n"
        ".size raw_clone3_thread, .-raw_clone3_thread\n");
#else
#error "clone3.c: only x86_64 and aarch64 are supported"
#endif

static volatile long child_tid_seen;

/* Runs in the clone3 thread: no libc (no TLS of its own), one raw syscall. */
static long thread_fn(void *arg)
{
    long tid;
#if defined(__x86_64__)
    __asm__ volatile("syscall" : "=a"(tid) : "0"((long)SYS_gettid)
                     : "rcx", "r11", "memory");
#else
    register long x8 __asm__("x8") = SYS_gettid;
    register long x0 __asm__("x0");
    __asm__ volatile("svc #0" : "=r"(x0) : "r"(x8) : "memory");
    tid = x0;
#endif
    child_tid_seen = tid;
    return (long)(intptr_t)arg;
}

static int check_thread(void)
{
    static volatile int32_t ctid; /* cleared + futex-woken by kernel on exit */
    static int32_t ptid;
    size_t stack_size = 256 * 1024;
    char *stack = aligned_alloc(64, stack_size);
    if (!stack)
        return 0;
    struct my_clone_args args;
    memset(&args, 0, sizeof args);
    args.flags = X_CLONE_VM | X_CLONE_FS | X_CLONE_FILES | X_CLONE_SIGHAND |
                 X_CLONE_THREAD | X_CLONE_SYSVSEM | X_CLONE_PARENT_SETTID |
                 X_CLONE_CHILD_CLEARTID;
    args.parent_tid = (uint64_t)(uintptr_t)&ptid;
    args.child_tid = (uint64_t)(uintptr_t)&ctid;
    args.stack = (uint64_t)(uintptr_t)stack;
    args.stack_size = stack_size;
    ctid = -1;
    long tid = raw_clone3_thread(&args, sizeof args, thread_fn, NULL);
    if (tid < 0) {
        errno = (int)-tid;
        if (errno == ENOSYS) {
            printf("clone3 unsupported\n");
            exit(77);
        }
        perror("clone3 (thread)");
        return 0;
    }
    /* The kernel stores the tid in ptid (PARENT_SETTID) before the child
     * runs; wait until it clears ctid (CHILD_CLEARTID) at thread exit.
     * ctid starts at -1 and only becomes 0 when the thread has exited. */
    for (;;) {
        int32_t v = ctid;
        if (v == 0)
            break;
        syscall(SYS_futex, &ctid, FUTEX_WAIT, v, NULL, NULL, 0);
    }
    free(stack);
    if (ptid != tid || child_tid_seen != tid) {
        fprintf(stderr, "clone3 thread: tid %ld ptid %d seen %ld\n", tid,
                (int)ptid, (long)child_tid_seen);
        return 0;
    }
    return 1;
}

static int check_process(void)
{
    struct my_clone_args args;
    memset(&args, 0, sizeof args);
    args.exit_signal = SIGCHLD;
    fflush(stdout);
    long pid = syscall(SYS_clone3, &args, sizeof args);
    if (pid < 0) {
        perror("clone3 (process)");
        return 0;
    }
    if (pid == 0)
        syscall(SYS_exit_group, 7);
    int status;
    pid_t r;
    do
        r = waitpid((pid_t)pid, &status, 0);
    while (r < 0 && errno == EINTR);
    if (r != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 7) {
        fprintf(stderr, "clone3 process: bad wait result %d status %#x\n",
                (int)r, status);
        return 0;
    }
    return 1;
}

int main(void)
{
    if (!check_thread() || !check_process()) {
        printf("clone3 FAILED\n");
        return 1;
    }
    printf("clone3 ok\n");
    return 0;
}
