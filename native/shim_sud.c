/* Method `sud`: syscall user dispatch (prctl PR_SET_SYSCALL_USER_DISPATCH,
 * Linux 5.11) and a SIGSYS handler.
 *
 * Every system call the program makes outside the trampoline page traps
 * with SIGSYS (si_code SYS_USER_DISPATCH); the handler decides (interest
 * table -> evaluator -> Python supervisor), runs the call through the
 * trampoline and puts the result in the ucontext's RAX. The selector is
 * NULL: dispatch is unconditional outside the range, there is no per-thread
 * byte the program (or a thread without TLS of its own) could flip.
 *
 * What runs before the constructor, unseen: ld.so (mapping and relocating
 * the libraries) and libc's early initialisation (under the hybrid backstop
 * the seccomp filter sees those). Freestanding: no libc here.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/ucontext.h>

#include "shim.h"

#define PR_SET_SYSCALL_USER_DISPATCH 59
#define PR_SYS_DISPATCH_ON 1
#define SYS_USER_DISPATCH_CODE 2
#define AUDIT_ARCH_X86_64 0xc000003eu
#define AUDIT_ARCH_I386 0x40000003u
#define SIGSYS_BIT (1ull << (SIGSYS - 1))
#define SV_MAGIC_PARENT_HI 0x5356C10Eul
#define SV_MAGIC_CHILD_HI 0x5356C10Ful
#define KSA_RESTORER 0x04000000ul
#define S6(nr, a, b, c, d, e, f) sv_raw_syscall(nr, (long)(a), (long)(b), (long)(c), (long)(d), (long)(e), (long)(f))

extern long sv_raw_syscall32(long nr, long a0, long a1, long a2, long a3, long a4, long a5) SV_HIDDEN;
extern long sv_tramp_syscall(long nr, long a0, long a1, long a2, long a3, long a4, long a5) SV_HIDDEN;
extern char sv_restorer[], sv_sigreturn_insn[], sv_clone_tramp[] SV_HIDDEN;

struct ksigaction {
    void *handler;
    unsigned long flags;
    void *restorer;
    uint64_t mask;
};

/* The program's view of signal dispositions (what it installed), per
 * process: the kernel holds ours (restorer in the trampoline, no SIGSYS in
 * masks). SIGSYS itself is only ever virtual. */
static struct ksigaction vact[65];
static unsigned char vset[65];
/* the program blocked SIGSYS (per thread; the real mask never has it) */
static __thread int v_sigsys_blocked;

/* One clone in flight, per thread (LIFO: a vfork child's own clones nest
 * inside its parent's, signal handlers' inside the interrupted code's). */
#define CLONE_DEPTH 8
struct clone_entry {
    uint64_t rip, rsp, rdi, rsi, flags;
    long nr;
    int pid, tid, xslot, saw;
    struct sv_call call;
    uint64_t cargs[16];   /* clone3 args copy (stack_size changed) */
    char pending[SV_PENDING_SIZE] __attribute__((aligned(16)));  /* the evaluator's, from entry */
};
static __thread struct clone_entry clone_stack[CLONE_DEPTH];
static __thread int clone_depth;

/* Where the child finds its way back: at its initial stack pointer. */
struct clone_rec {
    uint64_t rip, rsp, rdi, rsi, flags;
    int32_t ppid, ptid, depth, pad;
    uint64_t pad2[2];
};

static long arm_sud(void)
{
    return S6(SYS_prctl, PR_SET_SYSCALL_USER_DISPATCH, PR_SYS_DISPATCH_ON,
              sv_tramp_base + SV_TRAMP_SKIP, SV_TRAMP_RANGE - SV_TRAMP_SKIP, 0, 0);
}

/* ---- signals -------------------------------------------------------------------- */

static long do_rt_sigaction(long sig, const struct ksigaction *act, struct ksigaction *oact, long sz)
{
    if (sz != 8 || sig < 1 || sig > 64)
        return S6(SYS_rt_sigaction, sig, act, oact, sz, 0, 0);
    struct ksigaction in, old;
    if (act)
        in = *act;
    if (sig == SIGSYS) {  /* virtual: ours stays installed */
        old = vact[SIGSYS];
        if (act)
            vact[SIGSYS] = in;
        if (oact)
            *oact = old;
        return 0;
    }
    struct ksigaction k;
    const struct ksigaction *pk = 0;
    if (act) {
        k = in;
        if (k.handler != SIG_DFL && k.handler != SIG_IGN) {
            k.flags |= KSA_RESTORER;
            k.restorer = SV_TR(sv_restorer);
        }
        k.mask &= ~SIGSYS_BIT;
        pk = &k;
    }
    long r = S6(SYS_rt_sigaction, sig, pk, oact ? &old : 0, 8, 0, 0);
    if (r < 0)
        return r;
    if (oact) {
        if (vset[sig] && old.handler == vact[sig].handler)
            old = vact[sig];  /* what the program installed: its restorer, flags, mask */
        *oact = old;
    }
    if (act) {
        vact[sig] = in;
        vset[sig] = 1;
    }
    return 0;
}

/* The mask in force after our handler returns is the one in its ucontext
 * (sigreturn restores it), so the program's sigprocmask edits that one. */
static long do_sigprocmask(ucontext_t *uc, long how, const uint64_t *set, uint64_t *oset, long sz)
{
    if (sz != 8)
        return -EINVAL;
    uint64_t *cur = (uint64_t *)&uc->uc_sigmask;
    uint64_t old = *cur | (v_sigsys_blocked ? SIGSYS_BIT : 0);
    if (set) {
        uint64_t s = *set, now;
        if (how == SIG_BLOCK)
            now = old | s;
        else if (how == SIG_UNBLOCK)
            now = old & ~s;
        else if (how == SIG_SETMASK)
            now = s;
        else
            return -EINVAL;
        now &= ~((1ull << (SIGKILL - 1)) | (1ull << (SIGSTOP - 1)));
        v_sigsys_blocked = (now & SIGSYS_BIT) != 0;
        *cur = now & ~SIGSYS_BIT;
    }
    if (oset)
        *oset = old;
    return 0;
}

/* A mask argument (sigsuspend, ppoll, epoll_pwait...): a copy without SIGSYS. */
static unsigned long strip_mask(unsigned long ptr, uint64_t *copy)
{
    if (!ptr)
        return 0;
    *copy = *(const uint64_t *)ptr & ~SIGSYS_BIT;
    return (unsigned long)copy;
}

/* A SIGSYS that is not ours (seccomp RET_TRAP, kill, a foreign SUD): what the
 * program asked for SIGSYS. A handler is called here, with the trap's
 * context (for a call the shim ran, its registers hold the program's nr and
 * arguments, and a RAX set by the handler becomes the call's result). */
static void foreign_sigsys(int sig, siginfo_t *si, void *uc)
{
    struct ksigaction *a = &vact[SIGSYS];
    if (a->handler == SIG_IGN)
        return;
    if (a->handler == SIG_DFL) {
        struct ksigaction dfl = { SIG_DFL, 0, 0, 0 };
        S6(SYS_rt_sigaction, SIGSYS, &dfl, 0, 8, 0, 0);
        S6(SYS_tgkill, sv_getpid(), sv_gettid(), SIGSYS, 0, 0, 0);
        return;
    }
    if (a->flags & SA_SIGINFO)
        ((void (*)(int, siginfo_t *, void *))a->handler)(sig, si, uc);
    else
        ((void (*)(int))a->handler)(sig);
}

/* ---- clone, clone3, fork, vfork ------------------------------------------------------
 *
 * Run from sv_clone_tramp in the program's context, with its registers. The
 * child starts with its stack pointer at a struct clone_rec: on its new
 * stack (below the top), or, without one (fork, vfork), below the handler's
 * frames on the current stack, where nothing live is. The parent keeps its
 * return in clone_stack (TLS): a vfork child runs on the parent's stack and
 * clobbers it, but nests its own clones in clone_stack above the parent's.
 */
static long setup_clone(greg_t *g, struct sv_call *c, int xslot, int saw, const void *pending)
{
    long nr = c->nr;
    uint64_t flags, newsp = 0;
    if (nr == SYS_fork) {
        flags = SIGCHLD;
    } else if (nr == SYS_vfork) {
        flags = CLONE_VM | CLONE_VFORK | SIGCHLD;
    } else if (nr == SYS_clone) {
        flags = c->args[0];
        newsp = c->args[1];
    } else {  /* clone3 */
        if (!c->args[0] || c->args[1] < 64)
            return S6(SYS_clone3, c->args[0], c->args[1], 0, 0, 0, 0);  /* EFAULT / EINVAL */
        if (c->args[1] > sizeof clone_stack[0].cargs)
            return -E2BIG;
        const uint64_t *ca = (const uint64_t *)c->args[0];
        flags = ca[0];
        if (ca[5])
            newsp = ca[5] + ca[6];
    }
    int d = clone_depth;
    if (d >= CLONE_DEPTH)
        return -EAGAIN;
    struct clone_entry *e = &clone_stack[d];
    e->rip = (uint64_t)g[REG_RIP];
    e->rsp = (uint64_t)g[REG_RSP];
    e->rdi = c->args[0];
    e->rsi = c->args[1];
    e->flags = flags;
    e->nr = nr;
    e->pid = sv_getpid();
    e->tid = sv_gettid();
    e->xslot = xslot;
    e->saw = saw;
    e->call = *c;
    if (saw)
        sv_memcpy(e->pending, pending, SV_PENDING_SIZE);
    struct clone_rec *r;
    if (newsp)
        r = (struct clone_rec *)((newsp - sizeof *r) & ~15ul);
    else
        r = (struct clone_rec *)(((uint64_t)__builtin_frame_address(0) - 2048 - sizeof *r) & ~15ul);
    r->rip = e->rip;
    r->rsp = newsp ? newsp : e->rsp;
    r->rdi = e->rdi;
    r->rsi = e->rsi;
    r->flags = flags;
    r->ppid = e->pid;
    r->ptid = e->tid;
    r->depth = d;
    /* the program's registers, with the args the layers may have changed */
    g[REG_RDI] = (greg_t)c->args[0];
    g[REG_RSI] = (greg_t)c->args[1];
    g[REG_RDX] = (greg_t)c->args[2];
    g[REG_R10] = (greg_t)c->args[3];
    g[REG_R8] = (greg_t)c->args[4];
    g[REG_R9] = (greg_t)c->args[5];
    if (nr == SYS_clone3 && newsp) {
        sv_memcpy(e->cargs, (const void *)c->args[0], c->args[1]);
        e->cargs[6] = (uint64_t)r - e->cargs[5];  /* stack_size: the child's sp is r */
        g[REG_RDI] = (greg_t)e->cargs;
    } else if (nr == SYS_clone && newsp) {
        g[REG_RSI] = (greg_t)r;
    } else {
        g[REG_RSP] = (greg_t)r;
    }
    g[REG_RAX] = nr;
    g[REG_RIP] = (greg_t)SV_TR(sv_clone_tramp);
    clone_depth = d + 1;
    return 0;
}

static void clone_parent_done(greg_t *g, int res)
{
    int d = clone_depth - 1;
    if (d < 0)
        sv_die("clone bookkeeping lost");
    struct clone_entry *e = &clone_stack[d];
    clone_depth = d;
    g[REG_RIP] = (greg_t)e->rip;
    g[REG_RSP] = (greg_t)e->rsp;
    g[REG_RDI] = (greg_t)e->rdi;
    g[REG_RSI] = (greg_t)e->rsi;
    if ((e->flags & CLONE_VM) && (e->flags & CLONE_VFORK)) {
        sv_set_ids(e->pid, e->tid);  /* the vfork child used our TLS */
        if (res > 0) {  /* and our region: it has exec'd or exited */
            sv_eval_thread_gone(&sv.ctx, res);
            sv_slots_release_tid(res);
        }
    }
    long ret = sv_finish(e->xslot, &e->call, res, e->pending, e->saw);
    g[REG_RAX] = (greg_t)ret;
}

static void clone_child_start(greg_t *g)
{
    struct clone_rec *r = (struct clone_rec *)g[REG_RSP];
    uint64_t f = r->flags;
    int ppid = r->ppid, ptid = r->ptid;
    g[REG_RIP] = (greg_t)r->rip;
    g[REG_RSP] = (greg_t)r->rsp;
    g[REG_RDI] = (greg_t)r->rdi;
    g[REG_RSI] = (greg_t)r->rsi;
    g[REG_RAX] = 0;
    if (!(f & CLONE_VM)) {  /* a process with its own memory: a region of its own */
        sv_reset_ids();
        clone_depth = r->depth;
        if (sv_region_create(SV_KIND_FORK) < 0)
            sv_die("cannot create the shared region in a fork child");
        sv_hello(SV_KIND_FORK, ppid, ptid, 0);
    } else if (f & CLONE_VFORK || !(f & CLONE_THREAD)) {
        /* shares our memory and TLS (vfork): uses the parent's region; the
         * parent restores its cached ids when it resumes */
        sv_set_ids((int)S6(SYS_getpid, 0, 0, 0, 0, 0, 0), (int)S6(SYS_gettid, 0, 0, 0, 0, 0, 0));
        sv_hello(SV_KIND_VFORK, ppid, ptid, 0);
    } else {
        if (!(f & CLONE_SETTLS))
            sv_tls_shared = 1;  /* our TLS is its creator's: never cache ids */
        else
            clone_depth = 0;
        if (sv.events & SV_CFG_THREAD_EVENTS)
            sv_hello(SV_KIND_THREAD, ppid, ptid, 0);
    }
}

/* ---- running a call ------------------------------------------------------------------ */

static long run_execve(struct sv_call *c)
{
    int at = c->nr == SYS_execveat;
    int dirfd = at ? (int)c->args[0] : AT_FDCWD;
    const char *path = (const char *)c->args[at ? 1 : 0];
    char *const *envp = (char *const *)c->args[at ? 3 : 2];
    long chk = sv_exec_check(dirfd, path, at ? (int)c->args[4] : 0);
    if (chk < 0) {
        sv_note(chk == -EPERM ? "execve of a set-id program (the loader ignores LD_PRELOAD): "
                              : "execve of a statically linked or non-x86_64 program (no shim can follow it): ",
                path, chk == -EPERM ? "; refused with EPERM" : "; refused with ENOEXEC");
        return chk;
    }
    void *mem = 0;
    size_t len = 0;
    char **env = sv_exec_env(envp, sv_gettid(), &mem, &len);
    if (!env)
        return -ENOMEM;
    sv_exec_fds(1);
    long r = at ? S6(SYS_execveat, c->args[0], c->args[1], c->args[2], env, c->args[4], 0)
                : S6(SYS_execve, c->args[0], c->args[1], env, 0, 0, 0);
    sv_exec_fds(0);
    S6(SYS_munmap, mem, len, 0, 0, 0, 0);
    return r;
}

/* Run c for the program: the shim's emulations, else the call itself. */
static long run_call(ucontext_t *uc, struct sv_call *c)
{
    unsigned long *a = c->args;
    uint64_t m1, m2;
    long r;
    switch (c->nr) {
    case SYS_rt_sigaction:
        return do_rt_sigaction((long)a[0], (const void *)a[1], (void *)a[2], (long)a[3]);
    case SYS_rt_sigprocmask:
        return do_sigprocmask(uc, (long)a[0], (const void *)a[1], (void *)a[2], (long)a[3]);
    case SYS_rt_sigsuspend:
        return S6(SYS_rt_sigsuspend, strip_mask(a[0], &m1), a[1], 0, 0, 0, 0);
    case SYS_ppoll:
        return S6(SYS_ppoll, a[0], a[1], a[2], strip_mask(a[3], &m1), a[4], 0);
    case SYS_epoll_pwait:
    case SYS_epoll_pwait2:
        return S6(c->nr, a[0], a[1], a[2], a[3], strip_mask(a[4], &m1), a[5]);
    case SYS_pselect6:
        if (a[5]) {
            const unsigned long *ss = (const unsigned long *)a[5];
            unsigned long copy[2] = { strip_mask(ss[0], &m2), ss[1] };
            return S6(SYS_pselect6, a[0], a[1], a[2], a[3], a[4], copy);
        }
        break;
    case SYS_execve:
    case SYS_execveat:
        return run_execve(c);
    case SYS_close:
        if (sv_is_ours((long)a[0]))
            return -EBADF;  /* not there, as far as the program knows */
        break;
    case SYS_close_range:
        return sv_close_range((unsigned)a[0], (unsigned)a[1], (unsigned)a[2]);
    case SYS_dup2:
    case SYS_dup3:
        if (sv_is_ours((long)a[0]))
            return -EBADF;
        if ((r = sv_make_room((long)a[1])) < 0)
            return r;
        break;
    case SYS_getdents64:
        r = S6(SYS_getdents64, a[0], a[1], a[2], 0, 0, 0);
        while (r > 0) {
            long kept = sv_filter_dirents((int)a[0], (void *)a[1], r);
            if (kept > 0 || kept == r)
                return kept;
            r = S6(SYS_getdents64, a[0], a[1], a[2], 0, 0, 0);  /* all ours: read on */
        }
        return r;
    case SYS_prctl:
        if (a[0] == PR_SET_SYSCALL_USER_DISPATCH)
            return -EINVAL;  /* the shim's; nesting is not supported */
        break;
    case SYS_exit:
        if (sv.events & SV_CFG_THREAD_EVENTS) {
            struct sv_msg m;
            sv_memset(&m, 0, sizeof m);
            m.type = SV_MSG_TEXIT;
            m.pid = sv_getpid();
            m.tid = sv_gettid();
            m.code = (int)a[0];
            sv_send(&m, sizeof m);
        }
        break;
    case SYS_exit_group: {
        struct sv_msg m;
        sv_memset(&m, 0, sizeof m);
        m.type = SV_MSG_GEXIT;
        m.pid = sv_getpid();
        m.tid = sv_gettid();
        m.code = (int)a[0];
        sv_send(&m, sizeof m);
        break;
    }
    }
    return S6(c->nr, a[0], a[1], a[2], a[3], a[4], a[5]);
}

/* Under the backstop, an exec of a program the shim cannot follow (static,
 * not x86_64) is the backstop's: the shim neither dispatches it nor runs
 * it from the trampoline. With dispatch turned off for this thread, it
 * makes the call from the library's own copy of the trampoline, outside
 * the backstop's range, so the filter hands it to the supervisor (seen
 * once, like every call of the new image), with the program's own
 * environment and our fds closed by the exec (nothing of ours in an image
 * no shim tidies). If it fails, dispatch is turned back on. */
static long exec_handoff(struct sv_call *c)
{
    unsigned long *a = c->args;
    S6(SYS_prctl, PR_SET_SYSCALL_USER_DISPATCH, 0 /* OFF */, 0, 0, 0, 0);
    long r = sv_tramp_syscall(c->nr, (long)a[0], (long)a[1], (long)a[2], (long)a[3], (long)a[4],
                              (long)a[5]);
    if (arm_sud() < 0)
        sv_die("cannot re-arm syscall user dispatch after a failed exec");
    return r;
}

static int is_clone(long nr)
{
    return nr == SYS_clone || nr == SYS_clone3 || nr == SYS_fork || nr == SYS_vfork;
}

static void sud_call(ucontext_t *uc, greg_t *g)
{
    struct sv_call c;
    c.nr = (long)g[REG_RAX];
    c.args[0] = (unsigned long)g[REG_RDI];
    c.args[1] = (unsigned long)g[REG_RSI];
    c.args[2] = (unsigned long)g[REG_RDX];
    c.args[3] = (unsigned long)g[REG_R10];
    c.args[4] = (unsigned long)g[REG_R8];
    c.args[5] = (unsigned long)g[REG_R9];
    c.ip = (unsigned long)g[REG_RIP];
    c.sp = (unsigned long)g[REG_RSP];
    c.arch = AUDIT_ARCH_X86_64;
    c.pid = c.tid = 0;
    if (c.nr == SYS_rt_sigreturn) {
        /* the program's own sigreturn: run it from the range, on its frame */
        uint64_t *mask = (uint64_t *)(c.sp + 296);
        *mask &= ~SIGSYS_BIT;
        g[REG_RIP] = (greg_t)SV_TR(sv_sigreturn_insn);
        g[REG_RAX] = SYS_rt_sigreturn;
        return;
    }
    if (sv.backstop && sv_exec_handoff(c.nr, c.args)) {
        g[REG_RAX] = (greg_t)exec_handoff(&c);
        return;
    }
    long ret = 0;
    int xslot = -1, saw = 0;
    char pending[SV_PENDING_SIZE] __attribute__((aligned(16)));
    if (sv_interested(c.arch, c.nr, c.args)) {
        saw = 1;
        if (sv_dispatch(&c, &ret, &xslot, pending) == SV_RETURN) {
            g[REG_RAX] = (greg_t)ret;
            return;
        }
    }
    if (is_clone(c.nr)) {
        ret = setup_clone(g, &c, xslot, saw, pending);
        if (ret == 0)
            return;  /* the trampoline runs it; clone_parent_done finishes */
    } else {
        ret = run_call(uc, &c);
    }
    g[REG_RAX] = (greg_t)sv_finish(xslot, &c, ret, pending, saw);
}

/* The i386 ABI (int $0x80 from this 64-bit process): seen and run through
 * the trampoline's int $0x80. Its process calls (clone, fork, execve) are not
 * supported (the child would start inside the handler): they fail, ENOSYS. */
static void sud_call32(greg_t *g)
{
    struct sv_call c;
    c.nr = (long)(uint32_t)g[REG_RAX];
    c.args[0] = (uint32_t)g[REG_RBX];
    c.args[1] = (uint32_t)g[REG_RCX];
    c.args[2] = (uint32_t)g[REG_RDX];
    c.args[3] = (uint32_t)g[REG_RSI];
    c.args[4] = (uint32_t)g[REG_RDI];
    c.args[5] = (uint32_t)g[REG_RBP];
    c.ip = (unsigned long)g[REG_RIP];
    c.sp = (unsigned long)g[REG_RSP];
    c.arch = AUDIT_ARCH_I386;
    long ret = 0;
    int xslot = -1, saw = 0;
    char pending[SV_PENDING_SIZE] __attribute__((aligned(16)));
    if (sv_interested(c.arch, c.nr, c.args)) {
        saw = 1;
        if (sv_dispatch(&c, &ret, &xslot, pending) == SV_RETURN) {
            g[REG_RAX] = (greg_t)ret;
            return;
        }
    }
    /* i386: 2 fork, 11 execve, 120 clone, 190 vfork, 358 execveat, 435 clone3 */
    if (c.nr == 2 || c.nr == 11 || c.nr == 120 || c.nr == 190 || c.nr == 358 || c.nr == 435 || c.nr == 119
        || c.nr == 173 || c.nr == 174 || c.nr == 67)
        ret = -ENOSYS;  /* also sigreturn, rt_sigreturn, rt_sigaction, sigaction (frame format) */
    else
        ret = sv_raw_syscall32(c.nr, (long)c.args[0], (long)c.args[1], (long)c.args[2],
                               (long)c.args[3], (long)c.args[4], (long)c.args[5]);
    g[REG_RAX] = (greg_t)sv_finish(xslot, &c, ret, pending, saw);
}

static void on_sigsys(int sig, siginfo_t *si, void *ucv)
{
    ucontext_t *uc = ucv;
    greg_t *g = uc->uc_mcontext.gregs;
    if (si->si_code != SYS_USER_DISPATCH_CODE) {
        foreign_sigsys(sig, si, ucv);
        return;
    }
    uint64_t raw = (uint64_t)g[REG_RAX];
    if (raw >> 32 == SV_MAGIC_PARENT_HI) {
        clone_parent_done(g, (int)(uint32_t)raw);
        return;
    }
    if (raw >> 32 == SV_MAGIC_CHILD_HI) {
        clone_child_start(g);
        return;
    }
    if (si->si_arch == AUDIT_ARCH_I386)
        sud_call32(g);
    else
        sud_call(uc, g);
}

/* ---- start-up ------------------------------------------------------------------------- */

__attribute__((constructor)) static void sv_sud_init(int argc, char **argv, char **envp)
{
    (void)argc;
    (void)argv;
    int r = sv_core_init(envp, SV_METHOD_SUD);
    if (r == 0)
        return;  /* not under sysvisor */
    if (r < 0)
        sv_die("bad set-up from the supervisor");
    /* SA_NODEFER: a signal handler that interrupts ours (a blocking call run
     * from the handler) makes system calls, which trap again. SIGSYS must
     * never be blocked: a blocked SIGSYS at a dispatch kills the thread. */
    struct ksigaction sa = { (void *)on_sigsys, SA_SIGINFO | SA_NODEFER | SA_RESTART | KSA_RESTORER,
                             SV_TR(sv_restorer), 0 };
    if (S6(SYS_rt_sigaction, SIGSYS, &sa, 0, 8, 0, 0) < 0)
        sv_die("cannot install the SIGSYS handler");
    uint64_t unblock = SIGSYS_BIT;
    S6(SYS_rt_sigprocmask, SIG_UNBLOCK, &unblock, 0, 8, 0, 0);
    int kind = sv.from >= 0 ? SV_KIND_EXEC : SV_KIND_START;
    if (sv_region_create(kind) < 0)
        sv_die("cannot create the shared region");
    sv_hello(kind, (int)S6(SYS_getppid, 0, 0, 0, 0, 0, 0), 0, sv.from > 0 ? sv.from : 0);
    long e = arm_sud();
    if (e < 0)
        sv_die("prctl(PR_SET_SYSCALL_USER_DISPATCH) failed (Linux 5.11+ needed)");
}
