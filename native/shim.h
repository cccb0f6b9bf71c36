/* sysvisor's in-process shim: shared declarations.
 *
 * The shim is a shared object that sysvisor LD_PRELOADs into the program
 * (methods `sud` and `preload`). It is never imported by Python. This header
 * fixes three interfaces:
 *
 *  1. the evaluator interface (compiled layers, native/svpolicy*): called on
 *     every intercepted call, in the thread that made it, before the shim
 *     decides whether to cross to the Python supervisor;
 *  2. the shared-memory layouts the supervisor reads (config blob, per-process
 *     region with one slot per call in flight);
 *  3. the messages on the control socket.
 *
 * Layouts are little-endian x86_64; methods/inprocess.py packs and unpacks
 * the same structs (keep both in step; SV_PROTO_VERSION guards).
 */
#ifndef SYSVISOR_SHIM_H
#define SYSVISOR_SHIM_H

#include <stddef.h>
#include <stdint.h>

#define SV_HIDDEN __attribute__((visibility("hidden")))
#define SV_PROTO_VERSION 1

/* ---- 1. the evaluator interface --------------------------------------------
 *
 * Per intercepted call (one whose number the supervisor's interest table
 * names), in the thread that made it:
 *
 *     int v = sv_entry(ctx, &call, &ret, pending);
 *       SV_RUN        run the call (with call.args as sv_entry left them)
 *       SV_RETURN     do not run it: the program gets `ret` (-errno for errors)
 *       SV_SUPERVISOR cross to the Python layers (which may change the args,
 *                     answer, or ask for the result)
 *     ... the call runs (unless answered) ...
 *     ret = sv_exit_result(ctx, &call, ret, pending);   after every call sv_entry
 *                                   saw that ran (the compiled layers may change ret)
 *
 * sv_entry/sv_exit must never call libc (under `sud` a libc call from the
 * SIGSYS handler would re-trap with SIGSYS blocked and kill the thread): use
 * ctx->raw_syscall, which is the trampoline's single `syscall` instruction.
 * `pending` is per call (on the dispatching frame, so nested calls from
 * signal handlers each get their own), SV_PENDING_SIZE bytes, 16-aligned.
 * The shim ships weak defaults (every intercepted call crosses); a strong
 * definition linked into the shim replaces them.
 */
struct sv_call {
    long nr;
    unsigned long args[6];
    unsigned long ip, sp;
    int pid, tid;
    unsigned arch;           /* AUDIT_ARCH_X86_64 or AUDIT_ARCH_I386 */
};

enum { SV_RUN = 0, SV_RETURN = 1, SV_SUPERVISOR = 2 };

#ifndef SV_PENDING_SIZE
#define SV_PENDING_SIZE 64
#endif

struct sv_ctx {
    long (*raw_syscall)(long nr, long a0, long a1, long a2, long a3, long a4, long a5);
    const void *blob;        /* the evaluator's bytes from Python (read-only mapping) */
    size_t blob_len;
    void *proc_region;       /* this process's evaluator area (shared with the supervisor) */
    size_t proc_region_len;
};

int sv_entry(void *ctx, struct sv_call *c, long *ret, void *pending);
long sv_exit_result(void *ctx, struct sv_call *c, long ret, void *pending);
/* Size of the per-process evaluator area (0: none). Asked once per process. */
size_t sv_eval_region_size(const void *blob, size_t blob_len);
/* Called after the area is (re)created: kind is SV_KIND_* below. In a fork
 * child the area starts as a copy of the parent's. */
void sv_eval_region_init(void *ctx, int kind);
/* A thread that used this process's area is gone unseen (a vfork child,
 * once its parent resumes: it exec'd or exited). */
void sv_eval_thread_gone(void *ctx, int tid);
/* The fakeroot identity the compiled layers keep in the area (1: there is
 * one): carried through execve in our variable, set in the new image's
 * area before its program runs. */
int sv_eval_ids(void *ctx, uint32_t ids[8]);
void sv_eval_set_ids(void *ctx, const uint32_t ids[8]);

/* ---- 2. shared memory -------------------------------------------------------- */

/* The config blob: a sealed memfd from the supervisor, mapped read-only. */
#define SV_CFG_MAGIC 0x31435653u /* "SVC1" */
#define SV_CFG_THREAD_EVENTS 1u  /* report thread starts and exits */
#define SV_ABI_MAX 2

struct sv_cfg_hdr {
    uint32_t magic, version, flags, nabi;
    uint32_t blob_off, blob_len;
    uint32_t abi_off[SV_ABI_MAX];
};

/* Per ABI: ent[n] is 0 (not interested), SV_ALWAYS, or (first_alt << 16 |
 * nalts): any of nalts alternatives (each a conjunction of predicates). */
#define SV_ALWAYS 0xFFFFFFFFu
struct sv_cfg_abi {
    uint32_t audit_arch, everything, n, alts_off, preds_off, pad;
    uint32_t ent[];
};
struct sv_cfg_alt { uint16_t first_pred, npred; };
struct sv_cfg_pred {
    uint8_t index, negate, bits, pad[5];
    uint64_t value, mask;
};

/* The per-process region: a memfd the shim creates (and re-creates in fork
 * children and after exec) and hands to the supervisor in its HELLO. Page 0
 * is this header, then the slots, the per-slot scratch (call.push), then the
 * evaluator's area. */
#define SV_REGION_MAGIC 0x31525653u /* "SVR1" */
#define SV_NSLOTS 256
#define SV_SLOT_SIZE 128
#define SV_SCRATCH_SIZE 4096

struct sv_region_hdr {
    uint32_t magic, version;
    uint64_t id;
    uint32_t nslots, slot_size, slots_off, scratch_off, scratch_size, eval_off, eval_size, pad;
    uint64_t used[SV_NSLOTS / 64];  /* slot allocation bitmap (atomic) */
};

/* One call in flight. state is the futex word the calling thread waits on. */
enum { SV_SLOT_FREE = 0, SV_SLOT_REQUEST = 1, SV_SLOT_ANSWERED = 2, SV_SLOT_EXIT = 3 };
enum { SV_V_RUN = 0, SV_V_RETURN = 1, SV_V_FAIL = 2 };
#define SV_F_WANT_EXIT 1u   /* answer: run it, then report the result (SV_MSG_EXIT) */

struct sv_slot {
    uint32_t state, verdict;
    int32_t pid, tid;
    uint32_t arch, flags;
    int64_t nr;
    uint64_t args[6];
    uint64_t ip, sp;
    int64_t value;           /* answer: return value / errno; at exit: the result */
    uint64_t seq;
    uint64_t pad[2];
};

/* ---- 3. messages (SOCK_SEQPACKET, shim -> supervisor only) ------------------ */

enum {
    SV_MSG_HELLO = 1,   /* a process image with a new region (fd attached) or a vfork child */
    SV_MSG_CALL = 2,    /* slot `kind` of region `region_id` holds a request */
    SV_MSG_EXIT = 3,    /* slot `kind` holds the result of a call run with SV_F_WANT_EXIT */
    SV_MSG_THREAD = 4,  /* a new thread (SV_CFG_THREAD_EVENTS) */
    SV_MSG_TEXIT = 5,   /* a thread calls exit(code) (SV_CFG_THREAD_EVENTS) */
    SV_MSG_GEXIT = 6,   /* a process calls exit_group(code) */
    SV_MSG_NOTE = 7,    /* text for the user (after the header) */
};
enum { SV_KIND_START = 1, SV_KIND_EXEC = 2, SV_KIND_FORK = 3, SV_KIND_VFORK = 4, SV_KIND_THREAD = 5 };
enum { SV_METHOD_SUD = 1, SV_METHOD_PRELOAD = 2 };

struct sv_msg {
    uint32_t type, kind;
    uint64_t region_id;
    int32_t pid, tid, ppid, ptid, former, code;
    uint64_t region_base, region_size;
    uint32_t nslots, slot_size, scratch_off, scratch_size, eval_off, eval_size, method, pad;
};
#define SV_NOTE_MAX 400

/* ---- the core (shim_core.c), shared by both methods ------------------------- */

extern long sv_raw_syscall(long nr, long a0, long a1, long a2, long a3, long a4, long a5) SV_HIDDEN;

/* The trampoline (shim_tramp_x86_64.c): two pages, position independent.
 * The first is the range the shim's syscalls come from, [base +
 * SV_TRAMP_SKIP, base + SV_TRAMP_RANGE) (SUD's allowed range, and the
 * backstop filter's); the second holds the magic `syscall` that must trap.
 * sv_tramp_base is where the pages in use are: the library's own, or the
 * copy sv_tramp_install() made at the backstop's fixed address. SV_TR(sym)
 * is the address of a trampoline symbol in the pages in use. */
#define SV_TRAMP_SKIP 2
#define SV_TRAMP_RANGE 4096
extern char sv_tramp_start[] SV_HIDDEN;
extern char *sv_tramp_base SV_HIDDEN;
#define SV_TR(sym) ((void *)(sv_tramp_base + ((char *)(sym) - sv_tramp_start)))
long sv_tramp_install(unsigned long addr) SV_HIDDEN;  /* 0 or -errno (-EEXIST: taken) */

struct sv_state {
    int active;              /* under a sysvisor supervisor */
    int method;
    int sock, cfg_fd;        /* our reserved fds */
    int user_preload;        /* the program had LD_PRELOAD itself */
    int events;              /* SV_CFG_* flags */
    const struct sv_cfg_hdr *cfg;
    size_t cfg_len;
    const struct sv_cfg_abi *abi[SV_ABI_MAX];
    struct sv_region_hdr *region;
    size_t region_len;
    struct sv_ctx ctx;
    int from;                /* the tid whose execve started this image (0: unknown; -1: spawned) */
    unsigned long backstop;  /* the hybrid backstop's trampoline address (0: no backstop) */
    uint32_t exec_ids[8];    /* the identity the former image had (exec_ids_valid) */
    int exec_ids_valid;
    struct sv_msg hello_pending;  /* HELLO built by sv_region_create, sent by sv_hello */
    int hello_fd;
    char shim_path[1024];
};
extern struct sv_state sv SV_HIDDEN;

int sv_core_init(char **envp, int method) SV_HIDDEN;
int sv_interested(unsigned arch, long nr, const unsigned long *args) SV_HIDDEN;
int sv_region_create(int kind) SV_HIDDEN;  /* then HELLO; 0 or -errno */
void sv_hello(int kind, int ppid, int ptid, int former) SV_HIDDEN;
void sv_send(const struct sv_msg *m, size_t len) SV_HIDDEN;
void sv_note(const char *a, const char *b, const char *c) SV_HIDDEN;
int sv_gettid(void) SV_HIDDEN;
int sv_getpid(void) SV_HIDDEN;
void sv_reset_ids(void) SV_HIDDEN;
void sv_set_ids(int pid, int tid) SV_HIDDEN;
extern __thread int sv_tls_shared SV_HIDDEN;

/* Intercepted-call dispatch, shared: returns SV_RUN (run c, maybe changed)
 * or SV_RETURN (*ret set). On SV_RUN with *xslot >= 0 the caller runs the
 * call and then calls sv_finish(xslot, c, result). */
int sv_dispatch(struct sv_call *c, long *ret, int *xslot, void *pending) SV_HIDDEN;
long sv_finish(int xslot, struct sv_call *c, long result, void *pending, int saw) SV_HIDDEN;
void sv_slot_release(int slot) SV_HIDDEN;
void sv_slots_release_tid(int tid) SV_HIDDEN;  /* a vfork child's, when its parent resumes */
int sv_in_vfork_child(void) SV_HIDDEN;        /* preload: our TLS is the parent's */

/* fd hiding and protection */
int sv_is_ours(long fd) SV_HIDDEN;
long sv_close_range(unsigned lo, unsigned hi, unsigned flags) SV_HIDDEN;
int sv_make_room(long newfd) SV_HIDDEN;       /* a dup2/dup3 onto one of our fds */
long sv_filter_dirents(int fd, void *buf, long n) SV_HIDDEN;
int sv_is_proc_fd_dir(int fd) SV_HIDDEN;
int sv_is_our_fd_name(const char *name) SV_HIDDEN;

/* exec: check the target, build the environment */
long sv_exec_check(int dirfd, const char *path, int flags) SV_HIDDEN;
/* Under the backstop: an execve/execveat (nr, args) of a program the shim
 * cannot follow (static, not x86_64), which it hands to the backstop. */
int sv_exec_handoff(long nr, const unsigned long *args) SV_HIDDEN;
char **sv_exec_env(char *const *envp, int from, void **mem, size_t *memlen) SV_HIDDEN;
void sv_exec_fds(int keep) SV_HIDDEN;

/* freestanding helpers */
size_t sv_strlen(const char *s) SV_HIDDEN;
int sv_strncmp(const char *a, const char *b, size_t n) SV_HIDDEN;
void *sv_memcpy(void *d, const void *s, size_t n) SV_HIDDEN;
void *sv_memmove(void *d, const void *s, size_t n) SV_HIDDEN;
void *sv_memset(void *d, int c, size_t n) SV_HIDDEN;
char *sv_utoa(char *p, unsigned long v) SV_HIDDEN;
void sv_die(const char *why) SV_HIDDEN __attribute__((noreturn));

#endif
