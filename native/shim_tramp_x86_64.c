/* The trampoline page: the only place the shim's own system calls come from.
 *
 * Under the `sud` method this page is the range syscall user dispatch lets
 * through (PR_SYS_DISPATCH_ON with this [start, end)); every other `syscall`
 * instruction of the process traps with SIGSYS. So everything the kernel
 * must run for real goes through an instruction in here:
 *
 *   sv_raw_syscall    long (nr, a0..a5): the shim's syscalls (also the
 *                     evaluator's: sv_ctx.raw_syscall)
 *   sv_raw_syscall32  the same through int $0x80 (i386 ABI calls)
 *   sv_restorer       sa_restorer of every handler: clears SIGSYS in the
 *                     saved mask (a handler may have put it there), then
 *                     rt_sigreturn
 *   sv_sigreturn_insn a bare `syscall`: a program's own rt_sigreturn is
 *                     redirected here with RAX = 15 and its RSP
 *   sv_clone_tramp    clone/clone3/fork/vfork, run in the program's context
 *                     (not in the handler, or the child would start inside
 *                     the handler on its new stack): the child re-arms SUD
 *                     and traps back (magic number) so the handler can
 *                     restore its registers; the parent traps back too.
 *
 * sv_magic_insn is deliberately outside the range: its `syscall` always
 * traps, and carries a tag in RAX's upper half (parent: | the clone result).
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
    "    .globl sv_raw_syscall\n    .hidden sv_raw_syscall\n    .type sv_raw_syscall,@function\n"
    "sv_raw_syscall:\n"
    "    mov %rdi, %rax\n"
    "    mov %rsi, %rdi\n"
    "    mov %rdx, %rsi\n"
    "    mov %rcx, %rdx\n"
    "    mov %r8, %r10\n"
    "    mov %r9, %r8\n"
    "    mov 8(%rsp), %r9\n"
    "    syscall\n"
    "    ret\n"
    "    .size sv_raw_syscall, .-sv_raw_syscall\n"
    "    .globl sv_raw_syscall32\n    .hidden sv_raw_syscall32\n    .type sv_raw_syscall32,@function\n"
    "sv_raw_syscall32:\n"
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
    "    .size sv_raw_syscall32, .-sv_raw_syscall32\n"
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
    "    lea sv_tramp_start(%rip), %rdx\n"
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
    "    .balign 4096\n"
    "    .globl sv_tramp_end\n    .hidden sv_tramp_end\n"
    "sv_tramp_end:\n"
    "    .text\n"
    "    .globl sv_magic_insn\n    .hidden sv_magic_insn\n"
    "sv_magic_insn:\n"
    "    syscall\n"
    "    ud2\n");
