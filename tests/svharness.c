/* Test harness for the compiled-layer evaluator (native/svpolicy.c) and
 * its trace ring, loaded with ctypes by tests/test_compiled.py and
 * tests/test_ring.py. It stands in for the shim: a raw-syscall function,
 * threads that make calls through the evaluator, and a producer that dies
 * in the middle of a record. */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "svformat.h"
#include "svpolicy.h"
#include "svring.h"

long h_raw(long nr, long a, long b, long c, long d, long e, long f)
{
#if defined(__x86_64__)
    long ret;
    register long r10 __asm__("r10") = d;
    register long r8 __asm__("r8") = e;
    register long r9 __asm__("r9") = f;
    __asm__ __volatile__("syscall"
                         : "=a"(ret)
                         : "a"(nr), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                         : "rcx", "r11", "memory");
    return ret;
#else
    long r = syscall(nr, a, b, c, d, e, f);
    return r == -1 ? -(long)__errno_location()[0] : r;
#endif
}

sv_raw_syscall_fn h_raw_fn(void) { return h_raw; }

/* pending: the bytes per call the "shim" gives (SV_PENDING_FULL, or as little
 * as SV_PENDING_MIN: the big buffers are then the thread's, in the region);
 * the calls below get the same size */
int h_ctx_init(void *ctx, const void *blob, size_t len, void *region, size_t rlen, size_t pending)
{
    return sv_ctx_init(ctx, SV_CTX_SIZE, blob, len, region, rlen, h_raw, pending);
}

/* for fuzzing: a corrupted blob may ask for any signal or delay; the calls
 * still go through the evaluator, but signals and sleeps are not made */
static long h_raw_tame(long nr, long a, long b, long c, long d, long e, long f)
{
    if (nr == SYS_tgkill || nr == SYS_clock_nanosleep)
        return 0;
    return h_raw(nr, a, b, c, d, e, f);
}

int h_ctx_init_tame(void *ctx, const void *blob, size_t len, void *region, size_t rlen, size_t pending)
{
    return sv_ctx_init(ctx, SV_CTX_SIZE, blob, len, region, rlen, h_raw_tame, pending);
}

/* the real call, as the shim makes it after SV_RUN */
long h_syscall(struct sv_call *c)
{
    return h_raw(c->nr, c->args[0], c->args[1], c->args[2], c->args[3], c->args[4], c->args[5]);
}

/* one call the way the shim does it, with no supervisor: a crossing is
 * answered "run it" (as a Python layer that calls next() would); run_real
 * 0 means the call is not made and *ret is taken as its result */
static int h_call_in(void *ctx, struct sv_call *c, long *ret, int run_real, int *crossings,
                     void *pending)
{
    int v = sv_entry(ctx, c, ret, pending);
    while (v == SV_SUPERVISOR) {
        if (crossings)
            (*crossings)++;
        v = sv_resume(ctx, c, ret, pending, SV_RUN, 0);
    }
    if (v == SV_RUN && run_real)
        *ret = h_syscall(c);
    while (sv_exit(ctx, c, ret, pending) == SV_SUPERVISOR)
        ;
    return v;
}

int h_call(void *ctx, struct sv_call *c, long *ret, int run_real, int *crossings, size_t pending)
{
    if (pending < SV_PENDING_FULL) {  /* only what the evaluator was told it gets */
        char small[SV_PENDING_MIN] __attribute__((aligned(16)));
        return h_call_in(ctx, c, ret, run_real, crossings, small);
    }
    char full[SV_PENDING_FULL] __attribute__((aligned(16)));
    return h_call_in(ctx, c, ret, run_real, crossings, full);
}

/* every syscall number (and a few strange ones) through the evaluator, with
 * arguments that point at a path, at nothing, and at unmapped memory;
 * nothing is run. Nothing may crash, whatever the blob said. */
int h_poke_all(void *ctx, unsigned arch, size_t pending)
{
    static const char path[] = "/data/x";
    unsigned long ptrs[3] = {(unsigned long)path, 0, 0x10};
    long extra[3] = {-1, 1L << 30 | 2, 5000};
    int answered = 0;
    for (long k = -3; k < 470; k++) {
        long nr = k < 0 ? extra[k + 3] : k;
        for (int j = 0; j < 3; j++) {
            struct sv_call c = {nr, {(unsigned long)-100, ptrs[j], ptrs[j], 0, ptrs[j], 0}, 0, 0,
                                (int)h_raw(SYS_getpid, 0, 0, 0, 0, 0, 0),
                                (int)h_raw(SYS_gettid, 0, 0, 0, 0, 0, 0), arch};
            long ret = 0;
            answered += h_call(ctx, &c, &ret, 0, NULL, pending) == SV_RETURN;
        }
    }
    return answered;
}

/* ---- threads ------------------------------------------------------------------- */

struct job {
    void *ctx;
    long nr;
    unsigned arch;
    int n, index;
    size_t pending;
    unsigned char *hits;  /* n per thread: 1 when the call was answered */
    pthread_barrier_t *start;
};

static void *worker(void *p)
{
    struct job *j = p;
    int pid = (int)h_raw(SYS_getpid, 0, 0, 0, 0, 0, 0);
    int tid = (int)h_raw(SYS_gettid, 0, 0, 0, 0, 0, 0);
    pthread_barrier_wait(j->start);
    for (int i = 0; i < j->n; i++) {
        struct sv_call c = {j->nr, {(unsigned long)i, (unsigned long)j->index, 0, 0, 0, 0},
                            0x1000 + (unsigned long)i, 0x7000, pid, tid, j->arch};
        long ret = i;
        int v = h_call(j->ctx, &c, &ret, 0, NULL, j->pending);
        if (j->hits)
            j->hits[(size_t)j->index * j->n + i] = v == SV_RETURN;
    }
    return NULL;
}

/* nthreads threads make n calls each of syscall nr (args[0] = i, args[1] =
 * the thread's index), not run; hits (nthreads * n bytes) or NULL */
int h_threads(void *ctx, long nr, unsigned arch, int nthreads, int n, unsigned char *hits,
              size_t pending)
{
    pthread_t *t = calloc((size_t)nthreads, sizeof *t);
    struct job *jobs = calloc((size_t)nthreads, sizeof *jobs);
    pthread_barrier_t start;
    pthread_attr_t attr;
    int made = 0;
    if (!t || !jobs)
        return -1;
    pthread_barrier_init(&start, NULL, (unsigned)nthreads);
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    for (int k = 0; k < nthreads; k++) {
        jobs[k] = (struct job){ctx, nr, arch, n, k, pending, hits, &start};
        if (pthread_create(&t[k], &attr, worker, &jobs[k]) == 0)
            made++;
        else
            return -2;  /* the barrier would never open: fail loudly */
    }
    for (int k = 0; k < made; k++)
        pthread_join(t[k], NULL);
    pthread_barrier_destroy(&start);
    free(t);
    free(jobs);
    return made;
}

/* ---- a producer that dies between claiming slots and committing them ------------- */

void h_die_mid_record(void *region, size_t len, int slots)
{
    struct svr_view v;
    if (svr_open(&v, region, len))
        _exit(3);
    uint64_t pos = __atomic_load_n(&v.h->head, __ATOMIC_RELAXED);
    if (!__atomic_compare_exchange_n(&v.h->head, &pos, pos + (uint64_t)slots, 0, __ATOMIC_RELAXED,
                                     __ATOMIC_RELAXED))
        _exit(4);
    /* half a record: the header and some of its continuation marks */
    memcpy(v.data + (pos & v.mask) * SVR_SLOT, "SVRC", 4);
    if (slots > 1)
        __atomic_store_n(&v.seq[(pos + 1) & v.mask], (pos + 2) | SVR_CONT, __ATOMIC_RELEASE);
    h_raw(SYS_kill, h_raw(SYS_getpid, 0, 0, 0, 0, 0, 0), SIGKILL, 0, 0, 0, 0);
    _exit(5);
}

/* ---- timing (benchmarks/bench_compiled.py) ------------------------------------------ */

static long mono_ns(void)
{
    struct {
        long s, ns;
    } t;
    h_raw(SYS_clock_gettime, 1, (long)&t, 0, 0, 0, 0);
    return t.s * 1000000000L + t.ns;
}

/* ns per h_call of c, n times, the real call not made */
double h_time_calls(void *ctx, struct sv_call *c, long n, size_t pending)
{
    struct sv_call copy;
    long ret;
    long t0 = mono_ns();
    for (long i = 0; i < n; i++) {
        copy = *c;
        ret = 0;
        h_call(ctx, &copy, &ret, 0, NULL, pending);
    }
    return (double)(mono_ns() - t0) / (double)n;
}
