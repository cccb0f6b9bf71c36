/* svpolicy: the evaluator of compiled layers, for the in-process shim.
 *
 * The supervisor compiles the parts of a layer stack that are data (trace
 * to records, errno/retval injection with when= counters and constant
 * argument predicates, path remapping and read-only binds, fakeroot's
 * uid/gid answers) into a policy blob (src/sysvisor/compiled, layout in
 * docs/compiled-format.md). The shim maps the blob and a per-process
 * shared region (a memfd the supervisor maps too), calls sv_ctx_init once,
 * then, for every intercepted call:
 *
 *     char pending[SV_PENDING_SIZE];  // per call, not per thread: see below
 *                                     // (SV_PENDING_FULL, or down to SV_PENDING_MIN)
 *     long ret;
 *     int v = sv_entry(ctx, &call, &ret, pending);
 *     while (v == SV_SUPERVISOR) {           // a Python layer's turn
 *         cross(sv_pending_group(pending), &call, &verdict, &ret, &flags);
 *         v = sv_resume(ctx, &call, &ret, pending, verdict, flags);
 *     }
 *     if (v == SV_RUN)
 *         ret = real_syscall(call.nr, call.args);   // args may have changed
 *     while (sv_exit(ctx, &call, &ret, pending) == SV_SUPERVISOR)
 *         cross_exit(sv_pending_group(pending), &call, &ret);
 *     return ret;
 *
 * Rules for the caller:
 * - sv_exit follows every sv_entry/sv_resume that returned SV_RUN (after
 *   the real call) or SV_RETURN (with the answer), in the thread that made
 *   the call; for fork/vfork/clone only in the parent. It is not called for
 *   a call that does not return (exit, a successful execve): the evaluator
 *   writes those records at entry.
 * - `pending` is per call: a signal handler may make calls while another
 *   call of the same thread is in flight, so it lives in the handler's frame,
 *   not in a TLS slot; its size (SV_PENDING_FULL, or down to SV_PENDING_MIN)
 *   is given to sv_ctx_init.
 * - The evaluator is free-standing: no libc, no locks, no allocation; every
 *   system call goes through `raw` (the shim's trampoline). Program memory
 *   is read and written with process_vm_readv/writev on the own pid, so a
 *   bad pointer is a failed read, never a fault. It keeps no state outside
 *   the ctx, the blob (read-only) and the region.
 * - After fork, the child calls sv_ctx_fork with its new region before any
 *   other call (the parent's ctx still points at the parent's region).
 *
 * Not a security boundary: the program can corrupt the shim, the blob's
 * mapping or the region.
 */
#ifndef SVPOLICY_H
#define SVPOLICY_H

#include <stddef.h>

#ifdef SV_RENAME
/* Built into the shim through svpolicy_shim.c, which provides the shim's own
 * sv_entry/sv_exit (native/shim.h): the evaluator's functions are svp_*. */
#define sv_ctx_init svp_ctx_init
#define sv_ctx_fork svp_ctx_fork
#define sv_strerror svp_strerror
#define sv_region_size svp_region_size
#define sv_entry svp_entry
#define sv_resume svp_resume
#define sv_exit svp_exit
#define sv_crosses svp_crosses
#define sv_pending_group svp_pending_group
#define sv_thread_gone svp_thread_gone
#endif

#ifdef __cplusplus
extern "C" {
#endif

#define SV_ABI_VERSION 1

struct sv_call {
    long nr;                     /* may be changed by sv_entry/sv_resume */
    unsigned long args[6];       /* may be changed (path remapping) */
    unsigned long ip, sp;
    int pid, tid;                /* thread group and thread */
    unsigned arch;               /* AUDIT_ARCH of the call's ABI */
};

enum { SV_RUN = 0, SV_RETURN = 1, SV_SUPERVISOR = 2 };

/* flags of sv_resume: what the Python layers of the crossing did */
#define SV_F_EXIT_HOOKS 0x1      /* they want the call's result: cross again at exit */
#define SV_F_INJECTED 0x2        /* they injected the result (trace: "(INJECTED)") */
#define SV_F_POKED 0x4           /* they wrote the program's memory ("(INJECTED: args)") */
#define SV_F_DELAYED 0x8         /* they delayed it ("(DELAYED)") */

typedef long (*sv_raw_syscall_fn)(long nr, long a0, long a1, long a2, long a3, long a4,
                                  long a5);

#define SV_CTX_SIZE 512          /* bytes the shim reserves for a ctx */
#define SV_PATH_MAX 4096
#define SV_CAPTURE_MAX 8192      /* payload bytes per trace record */
/* The pending area per call in flight: with SV_PENDING_FULL bytes it holds
 * everything a call needs; with as little as SV_PENDING_MIN the big buffers
 * (the captured payloads, the remapped paths) live in the thread's slot of
 * the region instead, SV_SCRATCH_LEVELS calls deep (a signal handler's call
 * during a call of the same thread is one level more), for shims whose
 * handler must stay small on the program's stack (glibc's thread exit
 * discards the stack 16 KiB below its stack pointer, handler frames
 * included). sv_ctx_init is told which. */
#define SV_PENDING_FULL 32768
#define SV_PENDING_MIN 512
#define SV_SCRATCH_LEVELS 2
#ifndef SV_PENDING_SIZE
#define SV_PENDING_SIZE SV_PENDING_FULL
#endif

/* sv_ctx_init / sv_ctx_fork results */
enum {
    SV_OK = 0,
    SV_EBLOB = -1,               /* not a policy blob, or a version this evaluator lacks */
    SV_ECRC = -2,                /* checksum mismatch */
    SV_EBOUNDS = -3,             /* an offset or size outside the blob */
    SV_EVALUE = -4,              /* a field out of its range */
    SV_EREGION = -5,             /* the region is too small */
    SV_ECTX = -6,                /* ctx_size too small, or a NULL argument */
};

/* Check the blob (every offset, size and field: a blob that does not pass
 * is refused, never half used), lay out or adopt the region and fill the
 * ctx. 0 or a negative SV_E* code. */
int sv_ctx_init(void *ctx, size_t ctx_size, const void *blob, size_t blob_len, void *region,
                size_t region_len, sv_raw_syscall_fn raw, size_t pending_size);
/* In a fork child: a ctx for the child's new region, with the parent's
 * blob and raw function, and the parent's fakeroot identity. */
int sv_ctx_fork(void *child_ctx, size_t ctx_size, const void *parent_ctx, void *region,
                size_t region_len);
const char *sv_strerror(int err);

/* The region size for a ring of about ring_bytes (the rest is counters and
 * the per-thread table the blob and the pending size ask for). */
size_t sv_region_size(const void *blob, size_t blob_len, size_t ring_bytes, size_t pending_size);

int sv_entry(void *ctx, struct sv_call *c, long *ret, void *pending);
int sv_resume(void *ctx, struct sv_call *c, long *ret, void *pending, int verdict,
              unsigned flags);
int sv_exit(void *ctx, struct sv_call *c, long *ret, void *pending);
/* the crossing group (an index into the supervisor's table) to run */
unsigned sv_pending_group(const void *pending);
/* A thread that shared this region is gone without an exit the evaluator
 * saw (a vfork child that exec'd): its counters and buffers are free. */
void sv_thread_gone(void *ctx, int tid);

/* For a shim that runs the whole layer chain in Python when a call
 * crosses (no sv_resume): 1 when the call would cross at some point (a
 * crossing whose predicates hold), before any action runs; `pending` is
 * then set so that sv_exit does nothing. */
int sv_crosses(void *ctx, const struct sv_call *c, void *pending);

#ifdef __cplusplus
}
#endif
#endif
