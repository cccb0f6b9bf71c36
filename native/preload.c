/* Method `preload`: the libc overlay (like purelibc), for kernels without
 * syscall user dispatch.
 *
 * The generated wrappers (preload_wrappers.c, tools/gen_preload.py) take the
 * place of libc's syscall functions; a call no layer wants goes straight to
 * the real function (dlsym(RTLD_NEXT), resolved on first use), so libc's
 * semantics (errno, cancellation points, setxid broadcasting) are kept; an
 * intercepted call that is to run goes to the real function with the
 * (possibly changed) arguments, or to libc's syscall() after set_nr.
 *
 * Gaps (see docs/design.md): static programs; calls libc makes through its
 * internal aliases (fopen's open, printf's write, opendir's openat...) or
 * inline (raw `syscall` instructions, thread exits); vDSO calls, which are no
 * syscalls; threads are not reported (pthread_create is not a syscall).
 *
 * Under the hybrid backstop (sv.backstop) the kernel sees every call a layer
 * asked for that does not come from the trampoline, and tells the
 * supervisor: that fills those gaps, but it also means that an intercepted
 * call must not then run through libc (the backstop would see it again).
 * So the wrappers run intercepted calls through the trampoline (run_raw),
 * and the few functions whose libc code is more than their syscall
 * (LIBC_ONLY: fork's atfork handlers, the set*id calls libc repeats in every
 * thread) are not intercepted at all: the calls libc makes for them reach
 * the backstop, named as the kernel sees them (fork is a clone).
 */
#define _GNU_SOURCE
#define syscall sv_libc_syscall_decl /* ours has a fixed arity: keep unistd.h's out of the way */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "preload.h"
#undef syscall

#define AUDIT_ARCH_X86_64 0xc000003eu
#define EXPORT __attribute__((visibility("default")))
#define R6(f, a) (f)((long)(a)[0], (long)(a)[1], (long)(a)[2], (long)(a)[3], (long)(a)[4], (long)(a)[5])

typedef long (*fn6)(long, long, long, long, long, long);
extern char **environ;

static void *real(const char *name, void **cache)
{
    void *f = __atomic_load_n(cache, __ATOMIC_RELAXED);
    if (!f) {
        f = dlsym(RTLD_NEXT, name);
        __atomic_store_n(cache, f, __ATOMIC_RELAXED);
    }
    return f;
}
#define REAL(name) ((__typeof__(&name))real(#name, &real_##name))
#define DECL_REAL(name) static void *real_##name

static long to_libc(long v)
{
    if (v < 0 && v >= -4095) {
        errno = (int)-v;
        return -1;
    }
    return v;
}

/* The layers' part of a wrapper: 1 if the call was answered (*out is the
 * libc-convention result), else 0 with c->args (and c->nr) as they are to run. */
static int intercept(struct sv_call *c, long *out, int *xslot, int *saw, void *pending)
{
    *xslot = -1;
    *saw = 0;
    if (!sv.active || !sv_interested(c->arch, c->nr, c->args))
        return 0;
    *saw = 1;
    long ret = 0;
    if (sv_dispatch(c, &ret, xslot, pending) == SV_RETURN) {
        *out = to_libc(ret);
        return 1;
    }
    return 0;
}

/* After the real function returned r (libc convention): the result hooks. */
static long finish(struct sv_call *c, long r, int xslot, int saw, void *pending)
{
    if (!saw)
        return r;
    int e = errno;
    long kr = r == -1 ? -e : r;
    long fin = sv_finish(xslot, c, kr, pending, saw);
    if (fin == kr) {
        errno = e;
        return r;
    }
    return to_libc(fin);
}

/* Run c from the trampoline (the backstop lets it through), libc's
 * convention. */
static long run_raw(struct sv_call *c)
{
    unsigned long *a = c->args;
    return to_libc(sv_raw_syscall(c->nr, (long)a[0], (long)a[1], (long)a[2], (long)a[3], (long)a[4],
                                  (long)a[5]));
}

/* A libc function with fewer arguments than its syscall (recv, waitpid,
 * ppoll...) leaves the rest 0 (init_call), which is what libc passes,
 * except the signal-mask size: libc passes the kernel's. */
static void libc_args(struct sv_call *c, int nargs)
{
    if (c->nr == SYS_ppoll && nargs <= 4 && !c->args[4])
        c->args[4] = 8;
    else if ((c->nr == SYS_epoll_pwait || c->nr == SYS_epoll_pwait2) && nargs <= 5 && !c->args[5])
        c->args[5] = 8;
}

/* Under the backstop, not intercepted: libc's own calls for these are. */
static int libc_only(long nr)
{
    switch (nr) {
    case SYS_fork:
    case SYS_setuid: case SYS_setgid: case SYS_setreuid: case SYS_setregid:
    case SYS_setresuid: case SYS_setresgid: case SYS_setgroups:
        return 1;
    }
    return 0;
}

/* The libc functions whose result is wider than int (ssize_t, off_t, a
 * pointer); every other wrapped function returns int, and the x86_64 ABI
 * leaves the upper half of rax undefined then: the result is its low half. */
static int returns_long(long nr)
{
    switch (nr) {
    case SYS_read: case SYS_write: case SYS_pread64: case SYS_pwrite64: case SYS_readv:
    case SYS_writev: case SYS_lseek: case SYS_mmap: case SYS_mremap: case SYS_shmat:
    case SYS_sendfile: case SYS_sendto: case SYS_recvfrom: case SYS_sendmsg: case SYS_recvmsg:
    case SYS_readlink: case SYS_readlinkat: case SYS_getxattr: case SYS_lgetxattr:
    case SYS_fgetxattr: case SYS_listxattr: case SYS_llistxattr: case SYS_flistxattr:
    case SYS_splice: case SYS_tee: case SYS_vmsplice: case SYS_process_vm_readv:
    case SYS_process_vm_writev: case SYS_getrandom: case SYS_copy_file_range:
    case SYS_getdents64: case SYS_msgrcv: case SYS_keyctl: case SYS_add_key:
    case SYS_request_key: case SYS_lookup_dcookie:
        return 1;
    }
    return 0;
}

static void init_call(struct sv_call *c, long nr, int nargs, const long *a, void *ip, void *sp)
{
    c->nr = nr;
    for (int i = 0; i < 6; i++)
        c->args[i] = i < nargs ? (unsigned long)a[i] : 0;
    c->ip = (unsigned long)ip;
    c->sp = (unsigned long)sp + 16;
    c->pid = c->tid = 0;
    c->arch = AUDIT_ARCH_X86_64;
}

SV_HIDDEN long sv_pl_call(int idx, long nr, int nargs, long a0, long a1, long a2, long a3, long a4,
                          long a5, void *ip, void *sp)
{
    fn6 f = (fn6)real(sv_pl_names[idx], &sv_pl_real[idx]);
    if (!f) {
        errno = ENOSYS;
        return -1;
    }
    if (!sv.active || (sv.backstop && libc_only(nr)))
        return f(a0, a1, a2, a3, a4, a5);
    long a[6] = { a0, a1, a2, a3, a4, a5 }, out;
    struct sv_call c;
    init_call(&c, nr, nargs, a, ip, sp);
    if (!sv_interested(c.arch, nr, c.args)) {
        if (nr == SYS_exit_group)
            goto gexit;
        return f(a0, a1, a2, a3, a4, a5);
    }
    int xslot, saw;
    char pending[SV_PENDING_SIZE] __attribute__((aligned(16)));
    if (intercept(&c, &out, &xslot, &saw, pending))
        return out;
    long r;
    if (sv.backstop) {
        if (c.nr == SYS_exit_group)
            goto gexit;
        libc_args(&c, nargs);
        return finish(&c, run_raw(&c), xslot, saw, pending);
    }
    for (int i = nargs; i < 6; i++)
        if (!c.args[i])
            c.args[i] = (unsigned long)a[i];  /* what the caller left there, as before */
    if (c.nr != nr) {
        r = sv_raw_syscall(c.nr, (long)c.args[0], (long)c.args[1], (long)c.args[2], (long)c.args[3],
                           (long)c.args[4], (long)c.args[5]);
        r = to_libc(r);
    } else {
        if (nr == SYS_exit_group)
            goto gexit;
        r = R6(f, c.args);
        if (!returns_long(nr))
            r = (int)r;
    }
    return finish(&c, r, xslot, saw, pending);
gexit: {
        struct sv_msg m;
        sv_memset(&m, 0, sizeof m);
        m.type = SV_MSG_GEXIT;
        m.pid = sv_getpid();
        m.tid = sv_gettid();
        m.code = (int)c.args[0];
        sv_send(&m, sizeof m);
        if (sv.backstop)  /* not through libc's _exit: the backstop would see it again */
            sv_raw_syscall(SYS_exit_group, (long)c.args[0], 0, 0, 0, 0, 0);
        return f((long)c.args[0], a1, a2, a3, a4, a5);
    }
}

/* ---- our fds: hidden and protected ------------------------------------------- */

DECL_REAL(close);
DECL_REAL(dup2);
DECL_REAL(dup3);
DECL_REAL(getdents64);
DECL_REAL(readdir);
DECL_REAL(readdir64);

#define PL_BEGIN(NR, N, ...)                                                     \
    long a_[6] = { __VA_ARGS__ }, out_;                                          \
    struct sv_call c;                                                            \
    int xslot, saw;                                                              \
    char pending[SV_PENDING_SIZE] __attribute__((aligned(16)));                  \
    init_call(&c, NR, N, a_, __builtin_return_address(0), __builtin_frame_address(0)); \
    if (intercept(&c, &out_, &xslot, &saw, pending))                             \
        return out_;

EXPORT int close(int fd)
{
    PL_BEGIN(SYS_close, 1, fd, 0, 0, 0, 0, 0);
    long r = sv_is_ours((long)c.args[0]) ? (errno = EBADF, -1)
             : sv.backstop ? run_raw(&c) : REAL(close)((int)c.args[0]);
    return (int)finish(&c, r, xslot, saw, pending);
}

EXPORT int close_range(unsigned lo, unsigned hi, int flags)
{
    PL_BEGIN(SYS_close_range, 3, lo, hi, flags, 0, 0, 0);
    long r = to_libc(sv_close_range((unsigned)c.args[0], (unsigned)c.args[1], (unsigned)c.args[2]));
    return (int)finish(&c, r, xslot, saw, pending);
}

EXPORT void closefrom(int lo)
{
    if (lo < 0)
        lo = 0;
    sv_close_range((unsigned)lo, ~0u, 0);
}

EXPORT int dup2(int old, int new)
{
    PL_BEGIN(SYS_dup2, 2, old, new, 0, 0, 0, 0);
    long r;
    if (sv_is_ours((long)c.args[0]))
        r = (errno = EBADF, -1);
    else if ((r = sv_make_room((long)c.args[1])) < 0)
        r = to_libc(r);
    else
        r = sv.backstop ? run_raw(&c) : REAL(dup2)((int)c.args[0], (int)c.args[1]);
    return (int)finish(&c, r, xslot, saw, pending);
}

EXPORT int dup3(int old, int new, int flags)
{
    PL_BEGIN(SYS_dup3, 3, old, new, flags, 0, 0, 0);
    long r;
    if (sv_is_ours((long)c.args[0]))
        r = (errno = EBADF, -1);
    else if ((r = sv_make_room((long)c.args[1])) < 0)
        r = to_libc(r);
    else
        r = sv.backstop ? run_raw(&c) : REAL(dup3)((int)c.args[0], (int)c.args[1], (int)c.args[2]);
    return (int)finish(&c, r, xslot, saw, pending);
}

EXPORT ssize_t getdents64(int fd, void *buf, size_t n)
{
    PL_BEGIN(SYS_getdents64, 3, fd, (long)buf, (long)n, 0, 0, 0);
    long r;
    for (;;) {
        r = sv.backstop ? run_raw(&c) : REAL(getdents64)((int)c.args[0], (void *)c.args[1], (size_t)c.args[2]);
        if (r <= 0 || !sv.active)
            break;
        long kept = sv_filter_dirents((int)c.args[0], (void *)c.args[1], r);
        if (kept > 0) {
            r = kept;
            break;
        }
    }
    return finish(&c, r, xslot, saw, pending);
}

static struct dirent *skip_ours(struct dirent *(*next)(DIR *), DIR *d)
{
    for (;;) {
        struct dirent *e = next(d);
        if (!e || !sv.active || !sv_is_our_fd_name(e->d_name) || !sv_is_proc_fd_dir(dirfd(d)))
            return e;
    }
}
EXPORT struct dirent *readdir(DIR *d) { return skip_ours(REAL(readdir), d); }
EXPORT struct dirent64 *readdir64(DIR *d)
{
    return (struct dirent64 *)skip_ours((struct dirent *(*)(DIR *))REAL(readdir64), d);
}

/* ---- exec: the next image gets the shim back ---------------------------------------- */

DECL_REAL(execve);
DECL_REAL(execveat);
DECL_REAL(posix_spawn);
DECL_REAL(posix_spawnp);
DECL_REAL(system);
DECL_REAL(popen);

static int refuse_exec(long chk, const char *path)
{
    sv_note(chk == -EPERM ? "execve of a set-id program (the loader ignores LD_PRELOAD): "
                          : "execve of a statically linked or non-x86_64 program (no shim can follow it): ",
            path, chk == -EPERM ? "; refused with EPERM" : "; refused with ENOEXEC");
    return (int)-chk;
}

static int do_exec(int dirfd, const char *path, char *const argv[], char *const envp[], int flags,
                   int at, void *ip)
{
    long a_[6] = { at ? dirfd : (long)path, at ? (long)path : (long)argv, at ? (long)argv : (long)envp,
                   at ? (long)envp : 0, at ? flags : 0, 0 }, out_;
    if (sv.active && sv_exec_handoff(at ? SYS_execveat : SYS_execve, (const unsigned long *)a_))
        /* the backstop's: through libc, as the program asked, not intercepted here */
        return at ? REAL(execveat)(dirfd, path, argv, envp, flags) : REAL(execve)(path, argv, envp);
    struct sv_call c;
    int xslot, saw;
    char pending[SV_PENDING_SIZE] __attribute__((aligned(16)));
    init_call(&c, at ? SYS_execveat : SYS_execve, at ? 5 : 3, a_, ip, __builtin_frame_address(0));
    if (intercept(&c, &out_, &xslot, &saw, pending))
        return (int)out_;
    if (!sv.active) {
        return at ? REAL(execveat)(dirfd, path, argv, envp, flags) : REAL(execve)(path, argv, envp);
    }
    dirfd = at ? (int)c.args[0] : AT_FDCWD;
    path = (const char *)c.args[at ? 1 : 0];
    argv = (char *const *)c.args[at ? 2 : 1];
    envp = (char *const *)c.args[at ? 3 : 2];
    flags = at ? (int)c.args[4] : 0;
    long chk = sv_exec_check(dirfd, path, flags);
    long r;
    if (chk < 0) {
        errno = refuse_exec(chk, path);
        r = -1;
    } else {
        void *mem = 0;
        size_t len = 0;
        char **env = sv_exec_env(envp, sv_gettid(), &mem, &len);
        if (!env) {
            errno = ENOMEM;
            r = -1;
        } else {
            sv_exec_fds(1);
            if (xslot >= 0 && sv_in_vfork_child()) {
                /* the parent's region: a successful exec never reports, so
                 * its slot is freed now (a failed one's result is not
                 * reported: the supervisor completes the call at the new
                 * image's HELLO, or never) */
                sv_slot_release(xslot);
                xslot = -1;
            }
            if (sv.backstop)
                r = to_libc(at ? sv_raw_syscall(SYS_execveat, dirfd, (long)path, (long)argv, (long)env, flags, 0)
                               : sv_raw_syscall(SYS_execve, (long)path, (long)argv, (long)env, 0, 0, 0));
            else
                r = at ? REAL(execveat)(dirfd, path, argv, env, flags) : REAL(execve)(path, argv, env);
            int e = errno;
            sv_exec_fds(0);
            sv_raw_syscall(SYS_munmap, (long)mem, (long)len, 0, 0, 0, 0);
            errno = e;
        }
    }
    return (int)finish(&c, r, xslot, saw, pending);
}

EXPORT int execve(const char *path, char *const argv[], char *const envp[])
{
    return do_exec(AT_FDCWD, path, argv, envp, 0, 0, __builtin_return_address(0));
}
EXPORT int execveat(int dirfd, const char *path, char *const argv[], char *const envp[], int flags)
{
    return do_exec(dirfd, path, argv, envp, flags, 1, __builtin_return_address(0));
}
EXPORT int fexecve(int fd, char *const argv[], char *const envp[])
{
    return do_exec(fd, "", argv, envp, AT_EMPTY_PATH, 1, __builtin_return_address(0));
}
EXPORT int execv(const char *path, char *const argv[])
{
    return do_exec(AT_FDCWD, path, argv, environ, 0, 0, __builtin_return_address(0));
}

/* execvp's search (as glibc's): each candidate is an execve the layers see. */
static int exec_search(const char *file, char *const argv[], char *const envp[], void *ip)
{
    if (!*file) {
        errno = ENOENT;
        return -1;
    }
    if (strchr(file, '/'))
        return do_exec(AT_FDCWD, file, argv, envp, 0, 0, ip);
    const char *path = getenv("PATH");
    if (!path)
        path = "/bin:/usr/bin";
    int eacces = 0;
    char buf[4096];
    size_t flen = strlen(file);
    for (const char *p = path;; p++) {
        const char *q = strchrnul(p, ':');
        size_t dlen = (size_t)(q - p);
        if (dlen + flen + 2 <= sizeof buf) {
            if (dlen) {
                memcpy(buf, p, dlen);
                buf[dlen++] = '/';
            }
            memcpy(buf + dlen, file, flen + 1);
            do_exec(AT_FDCWD, buf, argv, envp, 0, 0, ip);
            if (errno == ENOEXEC) {  /* a script without #!: run it with the shell */
                int n = 0;
                while (argv[n])
                    n++;
                char **sh = alloca(sizeof(char *) * (size_t)(n + 2));
                sh[0] = (char *)"/bin/sh";
                sh[1] = buf;
                for (int i = 1; i <= n; i++)
                    sh[i + 1] = argv[i];
                do_exec(AT_FDCWD, "/bin/sh", sh, envp, 0, 0, ip);
                return -1;
            }
            if (errno == EACCES)
                eacces = 1;
            else if (errno != ENOENT && errno != ENOTDIR && errno != ESTALE && errno != ENODEV
                     && errno != ETIMEDOUT)
                return -1;
        }
        if (!*q)
            break;
        p = q;
    }
    if (eacces)
        errno = EACCES;
    return -1;
}

EXPORT int execvp(const char *file, char *const argv[])
{
    return exec_search(file, argv, environ, __builtin_return_address(0));
}
EXPORT int execvpe(const char *file, char *const argv[], char *const envp[])
{
    return exec_search(file, argv, envp, __builtin_return_address(0));
}

#define COLLECT_ARGS(first, ap, argv, want_envp, envp_out)                        \
    do {                                                               \
        va_list cnt;                                                   \
        va_copy(cnt, ap);                                              \
        int n_ = 1;                                                    \
        while (va_arg(cnt, char *))                                    \
            n_++;                                                      \
        va_end(cnt);                                                   \
        argv = alloca(sizeof(char *) * (size_t)(n_ + 1));              \
        argv[0] = (char *)(first);                                     \
        for (int i_ = 1; i_ <= n_; i_++)                               \
            argv[i_] = va_arg(ap, char *);                             \
        if (want_envp)                                                 \
            *(char ***)(envp_out) = va_arg(ap, char **);               \
    } while (0)

EXPORT int execl(const char *path, const char *arg, ...)
{
    va_list ap;
    char **argv;
    va_start(ap, arg);
    COLLECT_ARGS(arg, ap, argv, 0, (void *)0);
    va_end(ap);
    return do_exec(AT_FDCWD, path, argv, environ, 0, 0, __builtin_return_address(0));
}
EXPORT int execlp(const char *file, const char *arg, ...)
{
    va_list ap;
    char **argv;
    va_start(ap, arg);
    COLLECT_ARGS(arg, ap, argv, 0, (void *)0);
    va_end(ap);
    return exec_search(file, argv, environ, __builtin_return_address(0));
}
EXPORT int execle(const char *path, const char *arg, ...)
{
    va_list ap;
    char **argv, **envp = 0;
    va_start(ap, arg);
    COLLECT_ARGS(arg, ap, argv, 1, &envp);
    va_end(ap);
    return do_exec(AT_FDCWD, path, argv, envp, 0, 0, __builtin_return_address(0));
}

static int spawn(int search, pid_t *pid, const char *path, const posix_spawn_file_actions_t *fa,
                 const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
    if (!sv.active)
        return search ? REAL(posix_spawnp)(pid, path, fa, attr, argv, envp)
                      : REAL(posix_spawn)(pid, path, fa, attr, argv, envp);
    if (!search || strchr(path, '/')) {
        long chk = sv_exec_check(AT_FDCWD, path, 0);
        if (chk == -ENOEXEC && sv.backstop)  /* the backstop's, with the program's environment */
            return search ? REAL(posix_spawnp)(pid, path, fa, attr, argv, envp)
                          : REAL(posix_spawn)(pid, path, fa, attr, argv, envp);
        if (chk < 0)
            return refuse_exec(chk, path);
    }
    void *mem = 0;
    size_t len = 0;
    char **env = sv_exec_env(envp ? envp : environ, 0, &mem, &len);
    if (!env)
        return ENOMEM;
    sv_exec_fds(1);
    int r = search ? REAL(posix_spawnp)(pid, path, fa, attr, argv, env)
                   : REAL(posix_spawn)(pid, path, fa, attr, argv, env);
    sv_exec_fds(0);
    sv_raw_syscall(SYS_munmap, (long)mem, (long)len, 0, 0, 0, 0);
    return r;
}
EXPORT int posix_spawn(pid_t *pid, const char *path, const posix_spawn_file_actions_t *fa,
                       const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
    return spawn(0, pid, path, fa, attr, argv, envp);
}
EXPORT int posix_spawnp(pid_t *pid, const char *file, const posix_spawn_file_actions_t *fa,
                        const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
    return spawn(1, pid, file, fa, attr, argv, envp);
}

/* system() and popen() take no environment: environ holds ours for the
 * duration of the call (another thread reading environ meanwhile sees it). */
static pthread_mutex_t environ_lock = PTHREAD_MUTEX_INITIALIZER;

EXPORT int system(const char *cmd)
{
    if (!sv.active || !cmd)
        return REAL(system)(cmd);
    void *mem = 0;
    size_t len = 0;
    pthread_mutex_lock(&environ_lock);
    char **saved = environ, **env = sv_exec_env(environ, 0, &mem, &len);
    if (env)
        environ = env;
    sv_exec_fds(1);
    int r = REAL(system)(cmd);
    sv_exec_fds(0);
    environ = saved;
    pthread_mutex_unlock(&environ_lock);
    if (mem)
        sv_raw_syscall(SYS_munmap, (long)mem, (long)len, 0, 0, 0, 0);
    return r;
}

EXPORT FILE *popen(const char *cmd, const char *mode)
{
    if (!sv.active)
        return REAL(popen)(cmd, mode);
    void *mem = 0;
    size_t len = 0;
    pthread_mutex_lock(&environ_lock);
    char **saved = environ, **env = sv_exec_env(environ, 0, &mem, &len);
    if (env)
        environ = env;
    sv_exec_fds(1);
    FILE *f = REAL(popen)(cmd, mode);
    sv_exec_fds(0);
    environ = saved;
    pthread_mutex_unlock(&environ_lock);
    if (mem)
        sv_raw_syscall(SYS_munmap, (long)mem, (long)len, 0, 0, 0, 0);
    return f;
}

/* ---- start-up and fork ------------------------------------------------------------------- */

static __thread int fork_ppid, fork_ptid;
static void before_fork(void)
{
    fork_ppid = sv_getpid();
    fork_ptid = sv_gettid();
}
static void in_fork_child(void)
{
    sv_reset_ids();
    if (sv_region_create(SV_KIND_FORK) < 0)
        sv_die("cannot create the shared region in a fork child");
    sv_hello(SV_KIND_FORK, fork_ppid, fork_ptid, 0);
}

__attribute__((constructor)) static void sv_preload_init(int argc, char **argv, char **envp)
{
    (void)argc;
    (void)argv;
    int r = sv_core_init(envp, SV_METHOD_PRELOAD);
    if (r == 0)
        return;
    if (r < 0)
        sv_die("bad set-up from the supervisor");
    int kind = sv.from >= 0 ? SV_KIND_EXEC : SV_KIND_START;
    if (sv_region_create(kind) < 0)
        sv_die("cannot create the shared region");
    sv_hello(kind, (int)sv_raw_syscall(SYS_getppid, 0, 0, 0, 0, 0, 0), 0, sv.from > 0 ? sv.from : 0);
    pthread_atfork(before_fork, 0, in_fork_child);
}

/* ---- syscall(): every number, with the same emulations ------------------------------------ */

DECL_REAL(syscall);

EXPORT long syscall(long nr, long a0, long a1, long a2, long a3, long a4, long a5)
{
    switch (nr) {
    case SYS_execve:
        return do_exec(AT_FDCWD, (const char *)a0, (char *const *)a1, (char *const *)a2, 0, 0,
                       __builtin_return_address(0));
    case SYS_execveat:
        return do_exec((int)a0, (const char *)a1, (char *const *)a2, (char *const *)a3, (int)a4, 1,
                       __builtin_return_address(0));
    case SYS_close:
        return close((int)a0);
    case SYS_close_range:
        return close_range((unsigned)a0, (unsigned)a1, (int)a2);
    case SYS_dup2:
        return dup2((int)a0, (int)a1);
    case SYS_dup3:
        return dup3((int)a0, (int)a1, (int)a2);
    case SYS_getdents64:
        return getdents64((int)a0, (void *)a1, (size_t)a2);
    }
    long (*rs)(long, ...) = (long (*)(long, ...))real("syscall", &real_syscall);
    if (!sv.active)
        return rs(nr, a0, a1, a2, a3, a4, a5);
    PL_BEGIN(nr, 6, a0, a1, a2, a3, a4, a5);
    long r = sv.backstop ? run_raw(&c)
                         : rs((long)c.nr, c.args[0], c.args[1], c.args[2], c.args[3], c.args[4], c.args[5]);
    return finish(&c, r, xslot, saw, pending);
}
