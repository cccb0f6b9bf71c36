/* The trampoline: the only place the shim's own system calls come from.
 *
 * Under the `sud` method the trampoline's first page is the range syscall
 * user dispatch lets through (PR_SYS_DISPATCH_ON with [base + SV_TRAMP_SKIP,
 * base + SV_TRAMP_RANGE)); every other `syscall` instruction of the process
 * traps with SIGSYS. So everything the kernel must run for real goes through
 * an instruction in here:
 *
 *   sv_tramp_syscall    long (nr, a0..a5): the shim's syscalls, reached
 *                       through the sv_raw_syscall thunk below (also the
 *                       evaluator's: sv_ctx.raw_syscall)
 *   sv_tramp_syscall32  the same through int $0x80 (i386 ABI calls)
 *   sv_restorer         sa_restorer of every handler: clears SIGSYS in the
 *                       saved mask (a handler may have put it there), then
 *                       rt_sigreturn
 *   sv_sigreturn_insn   a bare `syscall`: a program's own rt_sigreturn is
 *                       redirected here with RAX = 15 and its RSP
 *   sv_clone_tramp      clone/clone3/fork/vfork, run in the program's context
 *                       (not in the handler, or the child would start inside
 *                       the handler on its new stack): the child re-arms SUD
 *                       and traps back (magic number) so the handler can
 *                       restore its registers; the parent traps back too.
 *
 * sv_magic_insn is on the second page, deliberately outside the range: its
 * `syscall` always traps, and carries a tag in RAX's upper half (parent: |
 * the clone result).
 *
 * Position independent: every reference inside the two pages is relative to
 * the code itself, so the pages can be copied to another address and run
 * there. The hybrid backstop (methods/backstop.py) does that: its seccomp
 * filter lets through the calls whose instruction pointer is inside the
 * range, so the range must be at an address the supervisor knows before the
 * program starts; sv_tramp_install() copies the trampoline to that fixed
 * address and moves sv_tramp_base there. The shim's C code reaches the
 * trampoline through sv_tramp_base only (SV_TR(), the thunks below).
 *
 * The range starts SV_TRAMP_SKIP bytes in because the kernel reports the
 * address after the `syscall` instruction: a `syscall` in the last two
 * bytes of a page the program maps just below the trampoline would report
 * the trampoline's first address.
 */
#include "shim.h"

#define STR_(x) #x
#define STR(x) STR_(x)
#define SV_MAGIC_PARENT_HI 0x5356C10E
#define SV_MAGIC_CHILD_HI 0x5356C10F

__asm__(
    "    .section .text.sv_tramp,\"ax\",@progbits\n"
    "    .balign 4096\n"
    "    .globl sv_tramp_start\n    .hidden sv_tramp_start\n"
    "sv_tramp_start:\n"
    "    .globl sv_tramp_syscall\n    .hidden sv_tramp_syscall\n    .type sv_tramp_syscall,@function\n"
    "sv_tramp_syscall:\n"
    "    mov %rdi, %rax\n"
    "    mov %rsi, %rdi\n"
    "    mov %rdx, %rsi\n"
    "    mov %rcx, %rdx\n"
    "    mov %r8, %r10\n"
    "    mov %r9, %r8\n"
    "    mov 8(%rsp), %r9\n"
    "    syscall\n"
    "    ret\n"
    "    .size sv_tramp_syscall, .-sv_tramp_syscall\n"
    "    .globl sv_tramp_syscall32\n    .hidden sv_tramp_syscall32\n    .type sv_tramp_syscall32,@function\n"
    "sv_tramp_syscall32:\n"
    "    push %rbx\n"
    "    push %rbp\n"
    "    mov %rdi, %rax\n"
    "    mov %rsi, %rbx\n"
    "    mov %rcx, %r11\n"
    "    mov %rdx, %rcx\n"
    "    mov %r11, %rdx\n"
    "    mov %r8, %rsi\n"
    "    mov %r9, %rdi\n"
    "    mov 24(%rsp), %rbp\n"
    "    int $0x80\n"
    "    pop %rbp\n"
    "    pop %rbx\n"
    "    ret\n"
    "    .size sv_tramp_syscall32, .-sv_tramp_syscall32\n"
    "    .globl sv_restorer\n    .hidden sv_restorer\n"
    "sv_restorer:\n"
    "    btrq $30, 296(%rsp)\n"   /* uc_sigmask &= ~SIGSYS (rsp = &frame->uc here) */
    "    mov $15, %eax\n"
    "    syscall\n"
    "    hlt\n"
    "    .globl sv_sigreturn_insn\n    .hidden sv_sigreturn_insn\n"
    "sv_sigreturn_insn:\n"
    "    syscall\n"
    "    hlt\n"
    "    .globl sv_clone_tramp\n    .hidden sv_clone_tramp\n"
    "sv_clone_tramp:\n"
    "    syscall\n"
    "    test %rax, %rax\n"
    "    jnz 1f\n"
    /* child: rsp points at its struct sv_clone_rec; arm SUD first */
    "    push %rdi\n    push %rsi\n    push %rdx\n    push %r10\n    push %r8\n"
    "    mov $157, %eax\n"          /* prctl */
    "    mov $59, %edi\n"           /* PR_SET_SYSCALL_USER_DISPATCH */
    "    mov $1, %esi\n"            /* PR_SYS_DISPATCH_ON */
    "    lea sv_tramp_start+" STR(SV_TRAMP_SKIP) "(%rip), %rdx\n"
    "    lea sv_tramp_end(%rip), %r10\n"
    "    sub %rdx, %r10\n"
    "    xor %r8d, %r8d\n"          /* no selector: always dispatch outside the range */
    "    syscall\n"
    "    pop %r8\n    pop %r10\n    pop %rdx\n    pop %rsi\n    pop %rdi\n"
    "    test %rax, %rax\n"
    "    jnz 2f\n"
    "    movabs $" STR(SV_MAGIC_CHILD_HI) "00000000, %rax\n"
    "    jmp sv_magic_insn\n"
    "2:  ud2\n"
    "1:  mov %eax, %eax\n"
    "    movabs $" STR(SV_MAGIC_PARENT_HI) "00000000, %rcx\n"
    "    or %rcx, %rax\n"
    "    jmp sv_magic_insn\n"
    /* .org fails to assemble if the code outgrew its page */
    "    .org sv_tramp_start + " STR(SV_TRAMP_RANGE) ", 0xcc\n"
    "    .globl sv_tramp_end\n    .hidden sv_tramp_end\n"
    "sv_tramp_end:\n"
    "    .globl sv_magic_insn\n    .hidden sv_magic_insn\n"
    "sv_magic_insn:\n"
    "    syscall\n"
    "    ud2\n"
    "    .org sv_tramp_start + 2 * " STR(SV_TRAMP_RANGE) ", 0xcc\n"
    "    .globl sv_tramp_map_end\n    .hidden sv_tramp_map_end\n"
    "sv_tramp_map_end:\n"
    /* The shim calls the trampoline wherever it is now: these thunks jump
     * to the same entry in the pages at sv_tramp_base (a tail jump: the
     * arguments, the 7th on the stack included, are untouched). */
    "    .text\n"
    "    .globl sv_raw_syscall\n    .hidden sv_raw_syscall\n    .type sv_raw_syscall,@function\n"
    "sv_raw_syscall:\n"
    "    mov sv_tramp_base(%rip), %rax\n"
    "    add $(sv_tramp_syscall - sv_tramp_start), %rax\n"
    "    jmp *%rax\n"
    "    .size sv_raw_syscall, .-sv_raw_syscall\n"
    "    .globl sv_raw_syscall32\n    .hidden sv_raw_syscall32\n    .type sv_raw_syscall32,@function\n"
    "sv_raw_syscall32:\n"
    "    mov sv_tramp_base(%rip), %rax\n"
    "    add $(sv_tramp_syscall32 - sv_tramp_start), %rax\n"
    "    jmp *%rax\n"
    "    .size sv_raw_syscall32, .-sv_raw_syscall32\n");

extern char sv_tramp_map_end[] SV_HIDDEN;

/* The trampoline in use: the library's own pages, or the copy at the
 * backstop's fixed address. Set before any thread exists (the constructor),
 * inherited by fork children, re-made by each image's constructor. */
SV_HIDDEN char *sv_tramp_base = sv_tramp_start;

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif
#define SV_PROT_RW 3   /* PROT_READ | PROT_WRITE */
#define SV_PROT_RX 5   /* PROT_READ | PROT_EXEC */
#define SV_MAP_PRIVATE_ANON 0x22

SV_HIDDEN long sv_tramp_install(unsigned long addr)
{
    size_t len = (size_t)(sv_tramp_map_end - sv_tramp_start);
    long p = sv_raw_syscall(9 /* mmap */, (long)addr, (long)len, SV_PROT_RW,
                            SV_MAP_PRIVATE_ANON | MAP_FIXED_NOREPLACE, -1, 0);
    if (p < 0 && p > -4096)
        return p;  /* -EEXIST: something of the program's is there already */
    if ((unsigned long)p != addr) {  /* a kernel before 4.17 took it as a hint */
        sv_raw_syscall(11 /* munmap */, p, (long)len, 0, 0, 0, 0);
        return -17 /* EEXIST */;
    }
    sv_memcpy((void *)p, sv_tramp_start, len);
    long r = sv_raw_syscall(10 /* mprotect */, p, (long)len, SV_PROT_RX, 0, 0, 0);
    if (r < 0)
        return r;
    sv_tramp_base = (char *)p;
    return 0;
}
