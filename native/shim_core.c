/* The shim's core, shared by the `sud` and `preload` methods: set-up from
 * the environment sysvisor gave, the interest table, the per-process region
 * and the crossing to the Python supervisor, fd hiding, and exec.
 *
 * Freestanding: no libc call anywhere in here (under `sud` this code runs in
 * the SIGSYS handler, where a libc call would make a syscall outside the
 * trampoline, re-trap with SIGSYS blocked and kill the thread). Every system
 * call goes through sv_raw_syscall.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>

#include "shim.h"

#ifndef MFD_CLOEXEC
#define MFD_CLOEXEC 1u
#endif
#ifndef AT_EMPTY_PATH
#define AT_EMPTY_PATH 0x1000
#endif

#define ENV_VAR "SYSVISOR_SHIM="
#define ENV_VAR_LEN (sizeof ENV_VAR - 1)
#define PRELOAD_VAR "LD_PRELOAD="
#define PRELOAD_VAR_LEN (sizeof PRELOAD_VAR - 1)
#define SYS(nr, ...) sv_raw_syscall(nr, ##__VA_ARGS__)
#define S6(nr, a, b, c, d, e, f) sv_raw_syscall(nr, (long)(a), (long)(b), (long)(c), (long)(d), (long)(e), (long)(f))

SV_HIDDEN struct sv_state sv;
/* pid/tid of this thread, cached; 0 = not known. Kept right across fork and
 * vfork by the clone paths; threads that share their creator's TLS (CLONE_VM
 * without CLONE_SETTLS) set sv_tls_shared and never cache. */
static __thread int tls_pid, tls_tid;
SV_HIDDEN __thread int sv_tls_shared;

/* ---- freestanding helpers (gcc may also emit calls to memcpy/memset) ----- */

SV_HIDDEN size_t sv_strlen(const char *s) { size_t n = 0; while (s[n]) n++; return n; }
SV_HIDDEN int sv_strncmp(const char *a, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (a[i] != b[i])
            return (unsigned char)a[i] - (unsigned char)b[i];
        if (!a[i])
            return 0;
    }
    return 0;
}
SV_HIDDEN void *sv_memcpy(void *d, const void *s, size_t n)
{
    char *dd = d; const char *ss = s;
    while (n--) *dd++ = *ss++;
    return d;
}
SV_HIDDEN void *sv_memmove(void *d, const void *s, size_t n)
{
    char *dd = d; const char *ss = s;
    if (dd <= ss) { while (n--) *dd++ = *ss++; }
    else { dd += n; ss += n; while (n--) *--dd = *--ss; }
    return d;
}
SV_HIDDEN void *sv_memset(void *d, int c, size_t n)
{
    char *dd = d;
    while (n--) *dd++ = (char)c;
    return d;
}
#ifdef SV_FREESTANDING
SV_HIDDEN void *memcpy(void *d, const void *s, size_t n) { return sv_memcpy(d, s, n); }
SV_HIDDEN void *memmove(void *d, const void *s, size_t n) { return sv_memmove(d, s, n); }
SV_HIDDEN void *memset(void *d, int c, size_t n) { return sv_memset(d, c, n); }
#endif

SV_HIDDEN char *sv_utoa(char *p, unsigned long v)
{
    char tmp[24];
    int n = 0;
    do { tmp[n++] = (char)('0' + v % 10); v /= 10; } while (v);
    while (n) *p++ = tmp[--n];
    *p = 0;
    return p;
}

static char *cpy(char *p, const char *s) { while (*s) *p++ = *s++; *p = 0; return p; }

static char *xtoa(char *p, unsigned long v)
{
    char tmp[17];
    int n = 0;
    do { tmp[n++] = "0123456789abcdef"[v & 15]; v >>= 4; } while (v);
    while (n) *p++ = tmp[--n];
    *p = 0;
    return p;
}

static void write_err(const char *s) { SYS(SYS_write, 2, (long)s, (long)sv_strlen(s), 0, 0, 0); }

SV_HIDDEN void sv_die(const char *why)
{
    char buf[256], *p = cpy(buf, "sysvisor shim: ");
    p = cpy(p, why);
    p = cpy(p, "; killing the process (it must not run unsupervised)\n");
    write_err(buf);
    SYS(SYS_kill, sv_raw_syscall(SYS_getpid, 0, 0, 0, 0, 0, 0), SIGKILL, 0, 0, 0, 0);
    for (;;)
        SYS(SYS_exit_group, 127, 0, 0, 0, 0, 0);
}

SV_HIDDEN int sv_gettid(void)
{
    if (sv_tls_shared)
        return (int)SYS(SYS_gettid, 0, 0, 0, 0, 0, 0);
    if (!tls_tid)
        tls_tid = (int)SYS(SYS_gettid, 0, 0, 0, 0, 0, 0);
    return tls_tid;
}
SV_HIDDEN int sv_getpid(void)
{
    if (sv_tls_shared)
        return (int)SYS(SYS_getpid, 0, 0, 0, 0, 0, 0);
    if (!tls_pid)
        tls_pid = (int)SYS(SYS_getpid, 0, 0, 0, 0, 0, 0);
    return tls_pid;
}
SV_HIDDEN void sv_reset_ids(void) { tls_pid = tls_tid = 0; }
SV_HIDDEN void sv_set_ids(int pid, int tid) { tls_pid = pid; tls_tid = tid; }

/* ---- the evaluator's weak defaults: every intercepted call crosses ------ */

__attribute__((weak)) SV_HIDDEN int sv_entry(void *ctx, struct sv_call *c, long *ret, void *pending)
{ (void)ctx; (void)c; (void)ret; (void)pending; return SV_SUPERVISOR; }
__attribute__((weak)) SV_HIDDEN long sv_exit_result(void *ctx, struct sv_call *c, long ret, void *pending)
{ (void)ctx; (void)c; (void)pending; return ret; }
__attribute__((weak)) SV_HIDDEN size_t sv_eval_region_size(const void *blob, size_t len)
{ (void)blob; (void)len; return 0; }
__attribute__((weak)) SV_HIDDEN void sv_eval_region_init(void *ctx, int kind) { (void)ctx; (void)kind; }
__attribute__((weak)) SV_HIDDEN void sv_eval_thread_gone(void *ctx, int tid) { (void)ctx; (void)tid; }
__attribute__((weak)) SV_HIDDEN int sv_eval_ids(void *ctx, uint32_t ids[8]) { (void)ctx; (void)ids; return 0; }
__attribute__((weak)) SV_HIDDEN void sv_eval_set_ids(void *ctx, const uint32_t ids[8]) { (void)ctx; (void)ids; }

/* ---- set-up from the environment ------------------------------------------- */

static int parse_num(const char *s, const char *key, long *out)
{
    size_t k = sv_strlen(key);
    for (const char *p = s; *p; p++) {
        if ((p == s || p[-1] == ':') && sv_strncmp(p, key, k) == 0 && p[k] == '=') {
            long v = 0;
            for (p += k + 1; *p >= '0' && *p <= '9'; p++)
                v = v * 10 + (*p - '0');
            *out = v;
            return 1;
        }
    }
    return 0;
}

/* ids=A.B.C.D.E.F.G.H: the fakeroot identity of the image that exec'd us */
static void parse_ids(const char *s)
{
    for (const char *p = s; *p; p++) {
        if ((p == s || p[-1] == ':') && sv_strncmp(p, "ids=", 4) == 0) {
            p += 4;
            for (int i = 0; i < 8; i++) {
                uint32_t v = 0;
                if (*p < '0' || *p > '9')
                    return;
                for (; *p >= '0' && *p <= '9'; p++)
                    v = v * 10 + (uint32_t)(*p - '0');
                sv.exec_ids[i] = v;
                if (i < 7 && *p++ != '.')
                    return;
            }
            sv.exec_ids_valid = 1;
            return;
        }
    }
}

/* Remove our variable and LD_PRELOAD (or give LD_PRELOAD back the program's
 * own value) from the initial environment: both the environ array and, when
 * the strings are the kernel's contiguous block (what /proc/self/environ
 * shows), the strings themselves, compacted with the freed tail zeroed. */
static void tidy_environ(char **envp)
{
    int n = 0;
    while (envp[n])
        n++;
    if (!n)
        return;
    int contiguous = 1;
    for (int i = 0; i + 1 < n; i++)
        if (envp[i + 1] != envp[i] + sv_strlen(envp[i]) + 1)
            contiguous = 0;
    char *area_end = envp[n - 1] + sv_strlen(envp[n - 1]) + 1;
    char *w = envp[0];
    int j = 0;
    size_t shim_len = sv_strlen(sv.shim_path);
    for (int i = 0; i < n; i++) {
        char *s = envp[i];
        size_t len = sv_strlen(s) + 1;
        const char *src = s;
        size_t srclen = len;
        int is_preload = sv_strncmp(s, PRELOAD_VAR, PRELOAD_VAR_LEN) == 0;
        if (sv_strncmp(s, ENV_VAR, ENV_VAR_LEN) == 0)
            continue;
        if (is_preload) {
            if (!sv.user_preload)
                continue;
            /* "LD_PRELOAD=<shim>:<the program's>" -> "LD_PRELOAD=<the program's>" */
            src = s + PRELOAD_VAR_LEN + shim_len;
            if (*src == ':' || *src == ' ')
                src++;
            srclen = sv_strlen(src) + 1;
        }
        if (!contiguous) {
            if (is_preload) {  /* the value is a suffix: shift it in place */
                sv_memmove(s + PRELOAD_VAR_LEN, src, srclen);
            }
            envp[j++] = s;
            continue;
        }
        char *start = w;
        if (is_preload) {
            sv_memmove(w, s, PRELOAD_VAR_LEN);
            w += PRELOAD_VAR_LEN;
        }
        sv_memmove(w, src, srclen);
        w += srclen;
        envp[j++] = start;
    }
    for (int i = j; i < n; i++)
        envp[i] = 0;
    if (contiguous && w < area_end)
        sv_memset(w, 0, (size_t)(area_end - w));
}

static int map_config(void)
{
    struct stat st;
    if (SYS(SYS_fstat, sv.cfg_fd, (long)&st, 0, 0, 0, 0) < 0 || st.st_size < (long)sizeof(struct sv_cfg_hdr))
        return -1;
    long p = S6(SYS_mmap, 0, st.st_size, PROT_READ, MAP_SHARED, sv.cfg_fd, 0);
    if (p < 0 && p > -4096)
        return -1;
    sv.cfg = (const struct sv_cfg_hdr *)p;
    sv.cfg_len = (size_t)st.st_size;
    if (sv.cfg->magic != SV_CFG_MAGIC || sv.cfg->version != SV_PROTO_VERSION)
        return -1;
    for (unsigned i = 0; i < sv.cfg->nabi && i < SV_ABI_MAX; i++)
        sv.abi[i] = (const struct sv_cfg_abi *)((const char *)sv.cfg + sv.cfg->abi_off[i]);
    sv.events = (int)sv.cfg->flags;
    sv.ctx.raw_syscall = sv_raw_syscall;
    sv.ctx.blob = (const char *)sv.cfg + sv.cfg->blob_off;
    sv.ctx.blob_len = sv.cfg->blob_len;
    return 0;
}

/* Returns 1 when running under sysvisor (then sv is set up and the environ
 * is tidy), 0 when not (the shim does nothing), -1 on a broken set-up. */
SV_HIDDEN int sv_core_init(char **envp, int method)
{
    const char *conf = 0;
    for (char **e = envp; e && *e; e++) {
        if (sv_strncmp(*e, ENV_VAR, ENV_VAR_LEN) == 0)
            conf = *e + ENV_VAR_LEN;
        else if (sv_strncmp(*e, PRELOAD_VAR, PRELOAD_VAR_LEN) == 0) {
            const char *v = *e + PRELOAD_VAR_LEN;
            size_t i = 0;
            while (v[i] && v[i] != ':' && v[i] != ' ' && i + 1 < sizeof sv.shim_path) {
                sv.shim_path[i] = v[i];
                i++;
            }
            sv.shim_path[i] = 0;
        }
    }
    if (!conf)
        return 0;
    long sock = -1, cfg = -1, up = 0;
    if (!parse_num(conf, "sock", &sock) || !parse_num(conf, "cfg", &cfg))
        return -1;
    parse_num(conf, "up", &up);
    parse_ids(conf);
    long from = -1;  /* present: this image comes from an execve by thread `from` */
    parse_num(conf, "from", &from);
    sv.from = (int)from;
    long tramp = 0;  /* the backstop's address for the trampoline */
    parse_num(conf, "tramp", &tramp);
    if (tramp) {
        /* First, before any other system call: the backstop's filter lets
         * through only the calls made from the trampoline at that address.
         * These two (mmap, mprotect) come from the library's own copy, so
         * the backstop sees them when a layer asked for mmap or mprotect. */
        long r = sv_tramp_install((unsigned long)tramp);
        if (r < 0) {
            char why[160], *p = cpy(why, "cannot map the trampoline at the backstop's address 0x");
            p = xtoa(p, (unsigned long)tramp);
            cpy(p, r == -EEXIST ? " (the program has a mapping there)" : " (mmap failed)");
            sv_die(why);
        }
        sv.backstop = (unsigned long)tramp;
    }
    sv.hello_fd = -1;
    sv.sock = (int)sock;
    sv.cfg_fd = (int)cfg;
    sv.user_preload = (int)up;
    sv.method = method;
    tidy_environ(envp);
    /* ours stay close-on-exec; sv_exec_fds() hands them to the next image */
    SYS(SYS_fcntl, sv.sock, F_SETFD, FD_CLOEXEC, 0, 0, 0);
    SYS(SYS_fcntl, sv.cfg_fd, F_SETFD, FD_CLOEXEC, 0, 0, 0);
    if (map_config() < 0)
        return -1;
    sv.active = 1;
    return 1;
}

/* ---- the interest table ------------------------------------------------------- */

SV_HIDDEN int sv_interested(unsigned arch, long nr, const unsigned long *args)
{
    const struct sv_cfg_abi *a = 0;
    for (int i = 0; i < SV_ABI_MAX; i++)
        if (sv.abi[i] && sv.abi[i]->audit_arch == arch) {
            a = sv.abi[i];
            break;
        }
    if (!a)
        return 0;
    if (a->everything)
        return 1;
    if (nr < 0 || (unsigned long)nr >= a->n)
        return 0;
    uint32_t e = a->ent[nr];
    if (e == 0)
        return 0;
    if (e == SV_ALWAYS)
        return 1;
    const struct sv_cfg_alt *alts = (const void *)((const char *)sv.cfg + a->alts_off);
    const struct sv_cfg_pred *preds = (const void *)((const char *)sv.cfg + a->preds_off);
    for (unsigned k = 0; k < (e & 0xFFFF); k++) {
        const struct sv_cfg_alt *alt = &alts[(e >> 16) + k];
        int all = 1;
        for (unsigned q = 0; q < alt->npred && all; q++) {
            const struct sv_cfg_pred *p = &preds[alt->first_pred + q];
            uint64_t full = p->bits == 32 ? 0xFFFFFFFFull : ~0ull;
            int hit = (args[p->index] & p->mask & full) == (p->value & p->mask & full);
            all = hit != p->negate;
        }
        if (all)
            return 1;
    }
    return 0;
}

/* ---- messages ------------------------------------------------------------------- */

SV_HIDDEN void sv_send(const struct sv_msg *m, size_t len)
{
    for (;;) {
        long r = S6(SYS_sendto, sv.sock, m, len, MSG_NOSIGNAL, 0, 0);
        if (r >= 0)
            return;
        if (r != -EINTR)
            sv_die("the supervisor is gone (control socket)");
    }
}

static void send_fd(const struct sv_msg *m, int fd)
{
    struct iovec iov = { (void *)m, sizeof *m };
    union { struct cmsghdr h; char buf[CMSG_SPACE(sizeof(int))]; } u;
    struct msghdr mh;
    sv_memset(&mh, 0, sizeof mh);
    sv_memset(&u, 0, sizeof u);
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    if (fd >= 0) {
        mh.msg_control = u.buf;
        mh.msg_controllen = sizeof u.buf;
        u.h.cmsg_level = SOL_SOCKET;
        u.h.cmsg_type = SCM_RIGHTS;
        u.h.cmsg_len = CMSG_LEN(sizeof(int));
        sv_memcpy(CMSG_DATA(&u.h), &fd, sizeof fd);
    }
    for (;;) {
        long r = S6(SYS_sendmsg, sv.sock, &mh, MSG_NOSIGNAL, 0, 0, 0);
        if (r >= 0)
            return;
        if (r != -EINTR)
            sv_die("the supervisor is gone (control socket)");
    }
}

SV_HIDDEN void sv_note(const char *a, const char *b, const char *c)
{
    struct { struct sv_msg m; char text[SV_NOTE_MAX]; } n;
    sv_memset(&n.m, 0, sizeof n.m);
    n.m.type = SV_MSG_NOTE;
    n.m.pid = sv_getpid();
    n.m.tid = sv_gettid();
    char *p = n.text, *end = n.text + SV_NOTE_MAX - 1;
    const char *parts[3] = { a, b, c };
    for (int i = 0; i < 3; i++)
        for (const char *s = parts[i]; s && *s && p < end; s++)
            *p++ = *s;
    sv_send(&n.m, sizeof n.m + (size_t)(p - n.text));
}

/* ---- the per-process region ------------------------------------------------------- */

static size_t page_up(size_t n) { return (n + 4095) & ~(size_t)4095; }

/* A new region for this process (at start, after exec, in a fork child). In
 * a fork child the old mapping is the parent's (MAP_SHARED): the evaluator's
 * area is copied from it, then it is unmapped. Then HELLO. */
SV_HIDDEN int sv_region_create(int kind)
{
    size_t slots_off = 4096;
    size_t scratch_off = page_up(slots_off + SV_NSLOTS * SV_SLOT_SIZE);
    size_t eval_off = page_up(scratch_off + (size_t)SV_NSLOTS * SV_SCRATCH_SIZE);
    size_t eval_size = page_up(sv_eval_region_size(sv.ctx.blob, sv.ctx.blob_len));
    size_t len = eval_off + eval_size;
    long fd = SYS(SYS_memfd_create, (long)"shm", MFD_CLOEXEC, 0, 0, 0, 0);
    if (fd < 0)
        return (int)fd;
    long r = SYS(SYS_ftruncate, fd, (long)len, 0, 0, 0, 0);
    long p = r < 0 ? r : S6(SYS_mmap, 0, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p < 0 && p > -4096) {
        SYS(SYS_close, fd, 0, 0, 0, 0, 0);
        return (int)p;
    }
    struct sv_region_hdr *h = (struct sv_region_hdr *)p;
    h->magic = SV_REGION_MAGIC;
    h->version = SV_PROTO_VERSION;
    uint64_t id = 0;
    if (SYS(SYS_getrandom, (long)&id, sizeof id, 1 /* GRND_NONBLOCK */, 0, 0, 0) != sizeof id) {
        unsigned lo, hi;
        __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
        id = ((uint64_t)hi << 32 | lo) ^ ((uint64_t)sv_getpid() << 40);
    }
    h->id = id | 1;
    h->nslots = SV_NSLOTS;
    h->slot_size = SV_SLOT_SIZE;
    h->slots_off = (uint32_t)slots_off;
    h->scratch_off = (uint32_t)scratch_off;
    h->scratch_size = SV_SCRATCH_SIZE;
    h->eval_off = (uint32_t)eval_off;
    h->eval_size = (uint32_t)eval_size;
    struct sv_region_hdr *old = sv.region;
    size_t oldlen = sv.region_len;
    /* a fork child keeps its parent's fakeroot identity (nothing else of
     * the parent's area: its counters and records are the parent's) */
    uint32_t ids[8];
    int had_ids = kind == SV_KIND_FORK && old && eval_size && sv_eval_ids(&sv.ctx, ids);
    sv.region = h;
    sv.region_len = len;
    sv.ctx.proc_region = eval_size ? (char *)h + eval_off : 0;
    sv.ctx.proc_region_len = eval_size;
    if (old && kind == SV_KIND_FORK)
        SYS(SYS_munmap, (long)old, (long)oldlen, 0, 0, 0, 0);
    if (eval_size) {
        sv_eval_region_init(&sv.ctx, kind);
        if (kind == SV_KIND_EXEC && sv.exec_ids_valid)
            sv_eval_set_ids(&sv.ctx, sv.exec_ids);  /* before the program's first call */
        else if (had_ids)
            sv_eval_set_ids(&sv.ctx, ids);
    }
    struct sv_msg m;
    sv_memset(&m, 0, sizeof m);
    m.type = SV_MSG_HELLO;
    m.kind = (uint32_t)kind;
    m.region_id = h->id;
    m.pid = sv_getpid();
    m.tid = sv_gettid();
    m.region_base = (uint64_t)p;
    m.region_size = len;
    m.nslots = SV_NSLOTS;
    m.slot_size = SV_SLOT_SIZE;
    m.scratch_off = (uint32_t)scratch_off;
    m.scratch_size = SV_SCRATCH_SIZE;
    m.eval_off = (uint32_t)eval_off;
    m.eval_size = (uint32_t)eval_size;
    m.method = (uint32_t)sv.method;
    sv.hello_pending = m;   /* the caller fills ppid/ptid/former, then sv_hello */
    sv.hello_fd = (int)fd;
    return 0;
}

SV_HIDDEN void sv_hello(int kind, int ppid, int ptid, int former)
{
    struct sv_msg m;
    int fd = -1;
    if (kind == SV_KIND_VFORK || kind == SV_KIND_THREAD) {
        sv_memset(&m, 0, sizeof m);
        m.type = kind == SV_KIND_THREAD ? SV_MSG_THREAD : SV_MSG_HELLO;
        m.kind = (uint32_t)kind;
        m.region_id = sv.region ? sv.region->id : 0;
        m.pid = sv_getpid();
        m.tid = sv_gettid();
        m.method = (uint32_t)sv.method;
    } else {
        m = sv.hello_pending;
        fd = sv.hello_fd;
        sv.hello_fd = -1;
    }
    m.ppid = ppid;
    m.ptid = ptid;
    m.former = former;
    send_fd(&m, fd);
    if (fd >= 0)
        SYS(SYS_close, fd, 0, 0, 0, 0, 0);
}

/* ---- crossing to the supervisor ----------------------------------------------------- */

static struct sv_slot *slot_at(int i)
{
    return (struct sv_slot *)((char *)sv.region + sv.region->slots_off + (size_t)i * SV_SLOT_SIZE);
}

static int slot_alloc(void)
{
    struct sv_region_hdr *h = sv.region;
    for (;;) {
        for (int w = 0; w < SV_NSLOTS / 64; w++) {
            uint64_t v = __atomic_load_n(&h->used[w], __ATOMIC_RELAXED);
            while (~v) {
                int b = __builtin_ctzll(~v);
                if (__atomic_compare_exchange_n(&h->used[w], &v, v | (1ull << b), 0,
                                                __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
                    return w * 64 + b;
            }
        }
        SYS(SYS_sched_yield, 0, 0, 0, 0, 0, 0);  /* every slot in flight: wait for one */
    }
}

static void slot_free(int i)
{
    slot_at(i)->state = SV_SLOT_FREE;
    __atomic_fetch_and(&sv.region->used[i / 64], ~(1ull << (i % 64)), __ATOMIC_RELEASE);
}

SV_HIDDEN void sv_slot_release(int i)
{
    if (i >= 0 && i < SV_NSLOTS)
        slot_free(i);
}

/* A vfork child shares our region and is gone (it exec'd or exited) when
 * we resume: the slots it held for results it will never report (its
 * successful execve's) are free again. */
SV_HIDDEN void sv_slots_release_tid(int tid)
{
    if (!sv.region)
        return;
    for (int i = 0; i < SV_NSLOTS; i++)
        if ((__atomic_load_n(&sv.region->used[i / 64], __ATOMIC_ACQUIRE) >> (i % 64) & 1)
            && slot_at(i)->tid == tid)
            slot_free(i);
}

SV_HIDDEN int sv_in_vfork_child(void)
{
    return (int)SYS(SYS_getpid, 0, 0, 0, 0, 0, 0) != sv_getpid();
}

static int supervisor_alive(void)
{
    struct pollfd p = { sv.sock, POLLOUT, 0 };
    long r = SYS(SYS_poll, (long)&p, 1, 0, 0, 0, 0);
    return !(r > 0 && (p.revents & (POLLHUP | POLLERR | POLLNVAL)));
}

/* Post slot i (its state set to `state`) and wait for the answer. A second
 * of silence checks that the supervisor still exists: if it is gone, the
 * process dies rather than run on unsupervised. */
static void post_and_wait(int i, uint32_t state, uint32_t type)
{
    struct sv_slot *s = slot_at(i);
    struct sv_msg m;
    sv_memset(&m, 0, sizeof m);
    m.type = type;
    m.kind = (uint32_t)i;
    m.region_id = sv.region->id;
    m.pid = s->pid;
    m.tid = s->tid;
    __atomic_store_n(&s->state, state, __ATOMIC_RELEASE);
    sv_send(&m, sizeof m);
    for (;;) {
        uint32_t st = __atomic_load_n(&s->state, __ATOMIC_ACQUIRE);
        if (st == SV_SLOT_ANSWERED)
            return;
        struct timespec ts = { 1, 0 };
        long r = S6(SYS_futex, &s->state, FUTEX_WAIT, st, &ts, 0, 0);
        if (r == -ETIMEDOUT && !supervisor_alive())
            sv_die("the supervisor is gone");
    }
}

SV_HIDDEN int sv_dispatch(struct sv_call *c, long *ret, int *xslot, void *pending)
{
    *xslot = -1;
    c->pid = sv_getpid();
    c->tid = sv_gettid();
    int v = sv_entry(&sv.ctx, c, ret, pending);
    if (v != SV_SUPERVISOR)
        return v == SV_RETURN ? SV_RETURN : SV_RUN;
    if (!sv.region)
        sv_die("no region for this process");
    int i = slot_alloc();
    struct sv_slot *s = slot_at(i);
    s->verdict = 0;
    s->flags = 0;
    s->pid = c->pid;
    s->tid = c->tid;
    s->arch = c->arch;
    s->nr = c->nr;
    for (int k = 0; k < 6; k++)
        s->args[k] = c->args[k];
    s->ip = c->ip;
    s->sp = c->sp;
    s->value = 0;
    s->seq++;
    post_and_wait(i, SV_SLOT_REQUEST, SV_MSG_CALL);
    if (s->verdict == SV_V_RETURN || s->verdict == SV_V_FAIL) {
        *ret = s->verdict == SV_V_FAIL ? -s->value : s->value;
        slot_free(i);
        return SV_RETURN;
    }
    c->nr = s->nr;
    for (int k = 0; k < 6; k++)
        c->args[k] = s->args[k];
    if (s->flags & SV_F_WANT_EXIT)
        *xslot = i;
    else
        slot_free(i);
    return SV_RUN;
}

/* After a call ran: the evaluator's exit hook (saw: sv_entry saw the call),
 * then the result to the supervisor when it asked for it (its on_exit hooks
 * may change it). */
SV_HIDDEN long sv_finish(int xslot, struct sv_call *c, long result, void *pending, int saw)
{
    /* not in a fork child (preload's fork returns twice): the parent's call */
    if (saw && c->pid == sv_getpid())
        result = sv_exit_result(&sv.ctx, c, result, pending);
    if (xslot < 0)
        return result;
    struct sv_slot *s = slot_at(xslot);
    s->value = result;
    post_and_wait(xslot, SV_SLOT_EXIT, SV_MSG_EXIT);
    result = s->value;
    slot_free(xslot);
    return result;
}

/* ---- our fds: hidden and protected ------------------------------------------------ */

SV_HIDDEN int sv_is_ours(long fd)
{
    return sv.active && fd >= 0 && (fd == sv.sock || fd == sv.cfg_fd);
}

/* close_range over a range that holds our fds: close around them. */
SV_HIDDEN long sv_close_range(unsigned lo, unsigned hi, unsigned flags)
{
    unsigned a = (unsigned)(sv.sock < sv.cfg_fd ? sv.sock : sv.cfg_fd);
    unsigned b = (unsigned)(sv.sock < sv.cfg_fd ? sv.cfg_fd : sv.sock);
    unsigned cut[3][2] = { { lo, a - 1 }, { a + 1, b - 1 }, { b + 1, hi } };
    long r = 0;
    if (!sv.active || hi < a || lo > b || (hi < b && lo > a))
        return SYS(SYS_close_range, lo, hi, flags, 0, 0, 0);
    for (int k = 0; k < 3; k++) {
        unsigned x = cut[k][0] > lo ? cut[k][0] : lo, y = cut[k][1] < hi ? cut[k][1] : hi;
        if ((k == 0 && a == 0) || (k == 1 && b == a + 1) || (k == 2 && b == ~0u) || x > y)
            continue;
        r = SYS(SYS_close_range, x, y, flags, 0, 0, 0);
        if (r < 0)
            return r;
    }
    return r;
}

/* The program dup2s onto one of our fds: move ours up out of the way. */
SV_HIDDEN int sv_make_room(long newfd)
{
    if (!sv_is_ours(newfd))
        return 0;
    long moved = SYS(SYS_fcntl, newfd, F_DUPFD_CLOEXEC, newfd + 1, 0, 0, 0);
    if (moved < 0)
        return (int)moved;
    if (newfd == sv.sock)
        sv.sock = (int)moved;
    else
        sv.cfg_fd = (int)moved;
    SYS(SYS_close, newfd, 0, 0, 0, 0, 0);
    return 0;
}

SV_HIDDEN int sv_is_our_fd_name(const char *name)
{
    char a[24], b[24];
    sv_utoa(a, (unsigned long)sv.sock);
    sv_utoa(b, (unsigned long)sv.cfg_fd);
    return sv.active && (sv_strncmp(name, a, sizeof a) == 0 || sv_strncmp(name, b, sizeof b) == 0);
}

/* Is fd a /proc/PID/fd (or fdinfo, or task/TID/fd) directory? */
SV_HIDDEN int sv_is_proc_fd_dir(int fd)
{
    char path[32], *p = cpy(path, "/proc/self/fd/"), link[256];
    sv_utoa(p, (unsigned long)fd);
    long n = SYS(SYS_readlinkat, AT_FDCWD, (long)path, (long)link, sizeof link - 1, 0, 0);
    if (n <= 0)
        return 0;
    link[n] = 0;
    if (sv_strncmp(link, "/proc/", 6) != 0)
        return 0;
    const char *q = link + 6;
    for (int part = 0; part < 2; part++) {
        if (*q < '0' || *q > '9')
            return 0;
        while (*q >= '0' && *q <= '9')
            q++;
        if (part == 0 && sv_strncmp(q, "/task/", 6) == 0) {
            q += 6;
            continue;
        }
        break;
    }
    return sv_strncmp(q, "/fd", 4) == 0 || sv_strncmp(q, "/fdinfo", 8) == 0;
}

struct linux_dirent64 { uint64_t d_ino; int64_t d_off; unsigned short d_reclen; unsigned char d_type; char d_name[]; };

/* getdents64 returned n bytes: drop the entries naming our fds from a
 * listing of /proc/PID/fd. */
SV_HIDDEN long sv_filter_dirents(int fd, void *buf, long n)
{
    char *b = buf;
    int checked = 0;
    long pos = 0;
    while (pos < n) {
        struct linux_dirent64 *d = (void *)(b + pos);
        unsigned short len = d->d_reclen;
        if (len == 0 || pos + len > n)
            break;
        if (sv_is_our_fd_name(d->d_name)) {
            if (!checked)
                checked = sv_is_proc_fd_dir(fd) ? 1 : -1;
            if (checked > 0) {
                sv_memmove(b + pos, b + pos + len, (size_t)(n - pos - len));
                n -= len;
                continue;
            }
        }
        pos += len;
    }
    return n;
}

/* ---- exec ---------------------------------------------------------------------------- */

#define EHDR_SIZE 64
#define PHDR_SIZE 56

/* Can the shim follow an exec of this file? 0 if so (or if the kernel will
 * refuse it anyway), -ENOEXEC for a static or non-x86_64 ELF (the loader
 * would not load the shim), -EPERM for a set-id program (secure mode: the
 * loader ignores LD_PRELOAD). Scripts: their interpreter is checked. */
SV_HIDDEN long sv_exec_check(int dirfd, const char *path, int flags)
{
    char interp[256];
    for (int depth = 0; depth < 5; depth++) {
        long fd;
        if ((flags & AT_EMPTY_PATH) && path && !*path)
            fd = SYS(SYS_fcntl, dirfd, F_DUPFD_CLOEXEC, 0, 0, 0, 0);
        else
            fd = SYS(SYS_openat, dirfd, (long)path, O_RDONLY | O_CLOEXEC, 0, 0, 0);
        if (fd < 0)
            return 0;  /* the kernel reports it */
        unsigned char h[512];
        long n = SYS(SYS_pread64, fd, (long)h, sizeof h, 0, 0, 0);
        struct stat st;
        long sr = SYS(SYS_fstat, fd, (long)&st, 0, 0, 0, 0);
        if (n >= 2 && h[0] == '#' && h[1] == '!') {
            SYS(SYS_close, fd, 0, 0, 0, 0, 0);
            long i = 2, k = 0;
            while (i < n && (h[i] == ' ' || h[i] == '\t'))
                i++;
            while (i < n && h[i] != ' ' && h[i] != '\t' && h[i] != '\n' && k + 1 < (long)sizeof interp)
                interp[k++] = (char)h[i++];
            interp[k] = 0;
            if (!k)
                return 0;
            dirfd = AT_FDCWD;
            path = interp;
            flags = 0;
            continue;
        }
        if (n < EHDR_SIZE || h[0] != 0x7f || h[1] != 'E' || h[2] != 'L' || h[3] != 'F') {
            SYS(SYS_close, fd, 0, 0, 0, 0, 0);
            return 0;
        }
        if (h[4] != 2 /* ELFCLASS64 */ || *(uint16_t *)(h + 18) != 62 /* EM_X86_64 */) {
            SYS(SYS_close, fd, 0, 0, 0, 0, 0);
            return -ENOEXEC;
        }
        uint64_t phoff = *(uint64_t *)(h + 32);
        uint16_t phnum = *(uint16_t *)(h + 56);
        int dynamic = 0;
        for (uint16_t k = 0; k < phnum && k < 64 && !dynamic; k++) {
            uint32_t type = 0;
            if (SYS(SYS_pread64, fd, (long)&type, 4, (long)(phoff + (uint64_t)k * PHDR_SIZE), 0, 0) == 4
                && type == 3 /* PT_INTERP */)
                dynamic = 1;
        }
        SYS(SYS_close, fd, 0, 0, 0, 0, 0);
        if (!dynamic)
            return -ENOEXEC;
        /* Under the backstop the program runs with no_new_privs (the filter
         * needs it): set-id bits do nothing, the loader is not in secure
         * mode and honours LD_PRELOAD. */
        if (sr == 0 && !sv.backstop) {
            long euid = SYS(SYS_geteuid, 0, 0, 0, 0, 0, 0), egid = SYS(SYS_getegid, 0, 0, 0, 0, 0, 0);
            if (((st.st_mode & S_ISUID) && st.st_uid != (uid_t)euid)
                || ((st.st_mode & S_ISGID) && st.st_gid != (gid_t)egid))
                return -EPERM;
        }
        return 0;
    }
    return 0;
}

SV_HIDDEN int sv_exec_handoff(long nr, const unsigned long *a)
{
    if (!sv.backstop)
        return 0;
    if (nr == SYS_execve)
        return sv_exec_check(AT_FDCWD, (const char *)a[0], 0) == -ENOEXEC;
    if (nr == SYS_execveat)
        return sv_exec_check((int)a[0], (const char *)a[1], (int)a[4]) == -ENOEXEC;
    return 0;
}

/* The environment for the next image: the program's envp plus LD_PRELOAD
 * (the shim first, then the program's own value if it had one) and our
 * variable (with `from`, the thread that execs; 0 when unknown, as in a
 * posix_spawn child). Built in a fresh mapping (*mem, *memlen) the caller unmaps if
 * the exec fails. */
SV_HIDDEN char **sv_exec_env(char *const *envp, int from, void **mem, size_t *memlen)
{
    size_t n = 0, user_len = 0;
    const char *user = 0;
    for (; envp && envp[n]; n++)
        if (sv_strncmp(envp[n], PRELOAD_VAR, PRELOAD_VAR_LEN) == 0) {
            user = envp[n] + PRELOAD_VAR_LEN;
            user_len = sv_strlen(user);
        }
    size_t need = (n + 3) * sizeof(char *) + sv_strlen(sv.shim_path) + user_len + 320 + PRELOAD_VAR_LEN;
    size_t len = page_up(need);
    long p = S6(SYS_mmap, 0, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p < 0 && p > -4096)
        return 0;
    char **out = (char **)p;
    char *s = (char *)(out + n + 3);
    size_t j = 0;
    for (size_t i = 0; i < n; i++)
        if (sv_strncmp(envp[i], PRELOAD_VAR, PRELOAD_VAR_LEN) != 0
            && sv_strncmp(envp[i], ENV_VAR, ENV_VAR_LEN) != 0)
            out[j++] = envp[i];
    out[j++] = s;
    s = cpy(s, PRELOAD_VAR);
    s = cpy(s, sv.shim_path);
    if (user && user_len) {
        *s++ = ':';
        s = cpy(s, user);
    }
    s++;
    out[j++] = s;
    s = cpy(s, ENV_VAR);
    s = cpy(s, "v1:sock=");
    s = sv_utoa(s, (unsigned long)sv.sock);
    s = cpy(s, ":cfg=");
    s = sv_utoa(s, (unsigned long)sv.cfg_fd);
    s = cpy(s, ":up=");
    s = cpy(s, user && user_len ? "1" : "0");
    s = cpy(s, ":from=");
    s = sv_utoa(s, (unsigned long)from);
    if (sv.backstop) {  /* the next image maps its trampoline at the same address */
        s = cpy(s, ":tramp=");
        s = sv_utoa(s, sv.backstop);
    }
    uint32_t ids[8];
    if (sv_eval_ids(&sv.ctx, ids)) {  /* the identity survives the exec */
        s = cpy(s, ":ids=");
        for (int i = 0; i < 8; i++) {
            if (i)
                *s++ = '.';
            s = sv_utoa(s, ids[i]);
        }
    }
    out[j] = 0;
    *mem = out;
    *memlen = len;
    return out;
}

/* Our fds are close-on-exec except across the shim's own exec. */
SV_HIDDEN void sv_exec_fds(int keep)
{
    long v = keep ? 0 : FD_CLOEXEC;
    SYS(SYS_fcntl, sv.sock, F_SETFD, v, 0, 0, 0);
    SYS(SYS_fcntl, sv.cfg_fd, F_SETFD, v, 0, 0, 0);
}
