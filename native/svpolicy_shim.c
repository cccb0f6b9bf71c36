/* The in-process shim's evaluator interface (native/shim.h on main:
 * struct sv_ctx, sv_eval_region_size, sv_eval_region_init, sv_entry,
 * sv_exit) on top of the evaluator (svpolicy.h, built with -DSV_RENAME so
 * that its own functions are svp_*). Link this file, svpolicy.c and
 * svring.c into the shim (all with -DSV_RENAME) and build the shim with
 * -DSV_PENDING_SIZE=512 (SV_PENDING_MIN: the calls' big buffers then live
 * in the region, per thread, since the shim's SIGSYS handler runs on the
 * program's stack, which glibc discards 16 KiB below the stack pointer at
 * thread exit; 32768 also works where stacks allow). These strong
 * definitions replace the shim's weak "every call crosses" defaults.
 *
 * The shim runs the whole layer chain in Python when a call crosses, and
 * has no sv_resume. So: a call that would cross at some point crosses
 * before any compiled action runs (sv_crosses), and the Python chain does
 * everything for it; a call that does not cross is the evaluator's alone.
 * A call the evaluator answers (SV_RETURN) is finished here, inside
 * sv_entry, since the shim does not call sv_exit for answered calls (its
 * trace record is written, its exit work done). For calls that run,
 * sv_exit_result returns the result as the compiled layers left it (getcwd
 * and readlink mapped back, syscall= results, capset); the shim's
 * sv_finish uses it.
 *
 * The evaluator's area (proc_region) is: its private state (the first
 * 4096 bytes), then its shared region (docs/compiled-format.md), which the
 * supervisor maps at eval_off + 4096 to drain the trace ring. */
#define SV_RENAME 1
#include "svpolicy.h"

#include <stdint.h>

#include "svformat.h"

/* the names below are the shim's, not the evaluator's renamed ones */
#undef sv_entry

#ifndef SVS_API
#define SVS_API __attribute__((visibility("hidden")))  /* the shim's SV_HIDDEN */
#endif

#define AREA_CTX 4096            /* private state at the start of the area */
#define RING_BYTES (4u << 20)

/* native/shim.h's struct sv_ctx: keep in step */
struct shim_ctx {
    long (*raw_syscall)(long nr, long a0, long a1, long a2, long a3, long a4, long a5);
    const void *blob;
    size_t blob_len;
    void *proc_region;
    size_t proc_region_len;
};


SVS_API size_t sv_eval_region_size(const void *blob, size_t blob_len)
{
    if (!blob || !blob_len)
        return 0;
    size_t r = svp_region_size(blob, blob_len, RING_BYTES, SV_PENDING_SIZE);
    return r ? AREA_CTX + r : 0;
}

SVS_API void sv_eval_region_init(void *ctx, int kind)
{
    /* every area is fresh (zero-filled): a fork child's identity is set
     * afterwards by the shim (sv_eval_set_ids), as an exec'd image's */
    (void)kind;
    struct shim_ctx *s = ctx;
    if (!s->proc_region || s->proc_region_len <= AREA_CTX)
        return;
    uint32_t *priv = s->proc_region;
    struct svr_header *h = (struct svr_header *)((char *)s->proc_region + AREA_CTX);
    priv[0] = 0;
    if (svp_ctx_init(priv, AREA_CTX, s->blob, s->blob_len, h, s->proc_region_len - AREA_CTX,
                     s->raw_syscall, SV_PENDING_SIZE) != SV_OK)
        priv[0] = 0;  /* refused: every call crosses (sv_entry below) */
}

static void *evaluator(void *ctx)
{
    struct shim_ctx *s = ctx;
    if (!s->proc_region || s->proc_region_len <= AREA_CTX || !*(uint32_t *)s->proc_region)
        return 0;
    return s->proc_region;
}

SVS_API int sv_entry(void *ctx, struct sv_call *c, long *ret, void *pending)
{
    void *x = evaluator(ctx);
    if (!x)
        return SV_SUPERVISOR;  /* no blob, or a refused one: Python decides everything */
    if (svp_crosses(x, c, pending))
        return SV_SUPERVISOR;  /* the Python chain runs the compiled layers too */
    int v = svp_entry(x, c, ret, pending);
    if (v == SV_RETURN)  /* answered: finish it now, the shim will not call sv_exit */
        while (svp_exit(x, c, ret, pending) == SV_SUPERVISOR)
            ;
    return v;
}

SVS_API void sv_eval_thread_gone(void *ctx, int tid)
{
    void *x = evaluator(ctx);
    if (x)
        svp_thread_gone(x, tid);
}

SVS_API int sv_eval_ids(void *ctx, uint32_t ids[8])
{
    if (!evaluator(ctx))
        return 0;
    struct shim_ctx *s = ctx;
    struct svr_header *h = (struct svr_header *)((char *)s->proc_region + AREA_CTX);
    if (!__atomic_load_n(&h->ids_valid, __ATOMIC_ACQUIRE))
        return 0;
    for (int i = 0; i < SVB_NIDS; i++)
        ids[i] = __atomic_load_n(&h->ids[i], __ATOMIC_RELAXED);
    return 1;
}

SVS_API void sv_eval_set_ids(void *ctx, const uint32_t ids[8])
{
    if (!evaluator(ctx))
        return;
    struct shim_ctx *s = ctx;
    struct svr_header *h = (struct svr_header *)((char *)s->proc_region + AREA_CTX);
    for (int i = 0; i < SVB_NIDS; i++)
        __atomic_store_n(&h->ids[i], ids[i], __ATOMIC_RELAXED);
    __atomic_store_n(&h->ids_valid, 1, __ATOMIC_RELEASE);
}

SVS_API long sv_exit_result(void *ctx, struct sv_call *c, long ret, void *pending)
{
    void *x = evaluator(ctx);
    if (x)
        while (svp_exit(x, c, &ret, pending) == SV_SUPERVISOR)
            ;
    return ret;
}

