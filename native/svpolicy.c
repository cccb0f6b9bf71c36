/* svpolicy: the evaluator of compiled layers. See svpolicy.h for the
 * interface and docs/compiled-format.md for the blob and the region.
 *
 * Free-standing: no libc, no global state, no allocation. Build with
 * -ffreestanding -fno-builtin -fno-stack-protector (the shim and the tests
 * check that the object has no undefined symbol). */
#include "svpolicy.h"

#include <asm/unistd.h>
#include <stdint.h>

#include "svformat.h"
#include "svring.h"

#define NOLIBC __attribute__((optimize("no-tree-loop-distribute-patterns")))

#define CTX_MAGIC 0x53564354u    /* "SVCT" */
#define PENDING_MAGIC 0x53565045u
#define MAX_ERRNO 4095
#define AT_FDCWD (-100)
#define X32_BIT 0x40000000L
#define AUDIT_ARCH_X86_64 0xc000003eu
#define CLOCK_REALTIME 0
#define CLOCK_MONOTONIC 1
#define EFAULT 14
#define ERANGE 34
#define EROFS 30
#define ENOMEM 12
#define EINTR 4
#define W_OK 2
#define O_ACCMODE 3
#define O_CREAT 0100
#define O_EXCL 0200
#define O_TRUNC 01000

struct ctx {
    uint32_t magic, nbinds;
    uint32_t pending_size;       /* what the shim gives per call */
    uint32_t small;              /* pending too small for the scratch: use the thread's slot */
    const uint8_t *blob;
    const struct svb_header *hdr;
    const struct svb_arch *arches;
    const struct svb_bind *binds;
    uint64_t moved;              /* bit i: bind i changes paths (guest != host) */
    struct svr_view ring;
    sv_raw_syscall_fn raw;
    int32_t pid;
    uint32_t narches, capture_max;
    uint32_t thread_counters, process_counters;
};
_Static_assert(sizeof(struct ctx) <= SV_CTX_SIZE, "SV_CTX_SIZE");

/* pending.state */
#define PS_EXIT 0x1              /* unwinding: sv_exit in progress */
#define PS_TRACE 0x2             /* the trace action captured the entry */

/* the big buffers of a call: in the pending area when it is SV_PENDING_FULL,
 * else in the calling thread's slot of the region */
struct scratch {
    uint8_t cap[SV_CAPTURE_MAX];
    char out[SVB_MAX_PATHS][SV_PATH_MAX];  /* remapped paths: the arguments point here */
    char b0[SV_PATH_MAX], b1[SV_PATH_MAX], b2[SV_PATH_MAX];
};
#define SCRATCH_BYTES ((sizeof(struct scratch) + 63) & ~(size_t)63)

struct pending {
    uint32_t magic, state;
    struct scratch *s;           /* NULL until an action needs it (or none to be had) */
    uint32_t *depth;             /* the thread slot's depth word when s is one of its levels */
    const struct svb_entry *entry;
    uint16_t reached;            /* actions entered, in order */
    uint16_t pos;                /* next action at entry */
    uint16_t unwind;             /* actions left to unwind at exit */
    uint16_t cross;              /* the CROSS action waiting for the supervisor */
    uint32_t group;
    uint32_t fired;              /* bit i: action i has work at exit */
    uint32_t exit_cross;         /* bit i: cross again at exit for action i */
    uint16_t rec_flags, trace_flags;
    uint32_t cap_len, cap_n;
    int64_t t0;
    long tnr;
    unsigned long targs[6];
};
#define PENDING_HDR 256          /* the scratch follows, in a full pending area */
_Static_assert(sizeof(struct pending) <= PENDING_HDR && PENDING_HDR <= SV_PENDING_MIN, "pending");
_Static_assert(PENDING_HDR + sizeof(struct scratch) <= SV_PENDING_FULL, "SV_PENDING_FULL");

struct iov { void *base; unsigned long len; };
struct ts { long sec, nsec; };

/* ---- small helpers (no libc) -------------------------------------------------- */

static NOLIBC void mcopy(void *dst, const void *src, size_t n)
{
    uint8_t *d = dst;
    const uint8_t *s = src;
    for (; n >= 8; n -= 8, d += 8, s += 8) {
        uint64_t w;
        __builtin_memcpy(&w, s, 8);
        __builtin_memcpy(d, &w, 8);
    }
    while (n--)
        *d++ = *s++;
}

static NOLIBC void mzero(void *dst, size_t n)
{
    uint8_t *d = dst;
    for (; n >= 8; n -= 8, d += 8) {
        uint64_t z = 0;
        __builtin_memcpy(d, &z, 8);
    }
    while (n--)
        *d++ = 0;
}

static int meq(const void *a, const void *b, size_t n)
{
    const uint8_t *x = a, *y = b;
    for (size_t i = 0; i < n; i++)
        if (x[i] != y[i])
            return 0;
    return 1;
}

static size_t slen(const char *s, size_t max)
{
    size_t n = 0;
    while (n < max && s[n])
        n++;
    return n;
}

static inline long sys(const struct ctx *x, long nr, long a, long b, long c, long d, long e, long f)
{
    return x->raw(nr, a, b, c, d, e, f);
}

static long mem_read(const struct ctx *x, void *dst, unsigned long addr, size_t n)
{
    struct iov l = {dst, n}, r = {(void *)addr, n};
    if (!n)
        return 0;
    return sys(x, __NR_process_vm_readv, x->pid, (long)&l, 1, (long)&r, 1, 0);
}

static long mem_write(const struct ctx *x, unsigned long addr, const void *src, size_t n)
{
    struct iov l = {(void *)src, n}, r = {(void *)addr, n};
    if (!n)
        return 0;
    return sys(x, __NR_process_vm_writev, x->pid, (long)&l, 1, (long)&r, 1, 0);
}

/* A NUL-terminated string at addr, as the supervisor's read_str(addr,
 * maxlen) reads it: up to maxlen + 1 bytes a page at a time; the length
 * (capped at maxlen), *complete when the NUL was found; -1 when nothing is
 * readable, -2 when it does not fit in room bytes. */
static long read_str(const struct ctx *x, unsigned long addr, char *dst, size_t room,
                     size_t maxlen, int *complete)
{
    size_t want = maxlen + 1, done = 0;
    *complete = 0;
    if (!addr)
        return -1;
    while (done < want) {
        /* to the end of the page (a read must not cross into an unmapped
         * one); the first read short: most strings are */
        size_t chunk = 4096 - ((addr + done) & 4095);
        if (done == 0 && chunk > 256)
            chunk = 256;
        if (chunk > want - done)
            chunk = want - done;
        if (done + chunk > room) {
            chunk = room - done;
            if (!chunk)
                return -2;
        }
        long r = mem_read(x, dst + done, addr + done, chunk);
        if (r <= 0) {
            if (done == 0)
                return -1;
            break;
        }
        for (long i = 0; i < r; i++)
            if (dst[done + i] == 0) {
                *complete = 1;
                done += i;
                return (long)(done > maxlen ? maxlen : done);
            }
        done += r;
        if ((size_t)r < chunk)
            break;
        if (done >= room && done < want)
            return -2;
    }
    return (long)(done > maxlen ? maxlen : done);
}

static int failed(long ret) { return ret < 0 && ret >= -MAX_ERRNO; }

static int64_t now_ns(const struct ctx *x)
{
    struct svr_header *h = x->ring.h;
    if (__atomic_load_n(&h->clock_kind, __ATOMIC_RELAXED) == SVR_CLOCK_TSC) {
#if defined(__x86_64__)
        for (int tries = 0; tries < 4; tries++) {
            uint32_t s = __atomic_load_n(&h->clock_seq, __ATOMIC_ACQUIRE);
            if (s & 1)
                continue;
            uint64_t base = h->tsc_base;
            int64_t ns = h->ns_base;
            uint32_t mult = h->tsc_mult, shift = h->tsc_shift;
            __atomic_thread_fence(__ATOMIC_ACQUIRE);
            if (__atomic_load_n(&h->clock_seq, __ATOMIC_RELAXED) != s)
                continue;
            uint64_t t = __builtin_ia32_rdtsc();
            if (t < base || shift > 63)
                break;
            return ns + (int64_t)(((unsigned __int128)(t - base) * mult) >> shift);
        }
#endif
    }
    struct ts t;
    sys(x, __NR_clock_gettime, CLOCK_REALTIME, (long)&t, 0, 0, 0, 0);
    return (int64_t)t.sec * 1000000000 + t.nsec;
}

/* ---- blob validation ----------------------------------------------------------- */

struct span { const uint8_t *blob; uint32_t size; };

static int in_blob(const struct span *b, uint64_t off, uint64_t len)
{
    return off <= b->size && len <= b->size - off;
}

static int check_preds(const uint8_t *p, const uint8_t *end, uint8_t nalts, const uint8_t **body)
{
    if (nalts > SVB_MAX_ALTS)
        return SV_EVALUE;
    for (unsigned a = 0; a < nalts; a++) {
        if (p + sizeof(struct svb_alt) > end)
            return SV_EBOUNDS;
        const struct svb_alt *alt = (const void *)p;
        if (alt->npreds == 0 || alt->npreds > SVB_MAX_PREDS)
            return SV_EVALUE;
        p += sizeof *alt;
        if ((uint64_t)(end - p) < (uint64_t)alt->npreds * sizeof(struct svb_pred))
            return SV_EBOUNDS;
        for (unsigned i = 0; i < alt->npreds; i++) {
            const struct svb_pred *pr = (const void *)(p + i * sizeof *pr);
            if (pr->index > 5 || pr->negate > 1 || (pr->bits != 32 && pr->bits != 64))
                return SV_EVALUE;
        }
        p += alt->npreds * sizeof(struct svb_pred);
    }
    *body = p;
    return SV_OK;
}

static int check_op(const struct svb_op *op, uint32_t capture_max)
{
    if (op->phase > 1 || op->cond > 31)
        return SV_EVALUE;
    switch (op->op) {
    case SVB_OP_STR:
        return op->arg <= 5 && op->size >= 1 && op->size <= SV_PATH_MAX + 1 ? SV_OK : SV_EVALUE;
    case SVB_OP_BUF:
        if (op->arg > 5 || op->len_src > SVB_LEN_RETVAL || op->len_arg > 5)
            return SV_EVALUE;
        if (op->len_src == SVB_LEN_CONST && (op->size == 0 || op->size > capture_max))
            return SV_EVALUE;
        if (op->len_src == SVB_LEN_RETVAL && op->phase != 1)
            return SV_EVALUE;
        return op->size2 <= capture_max ? SV_OK : SV_EVALUE;
    case SVB_OP_FDPATH:
        if (op->arg == SVB_ARG_RETVAL)
            return op->phase == 1 ? SV_OK : SV_EVALUE;
        return op->arg <= 5 ? SV_OK : SV_EVALUE;
    case SVB_OP_ARGV:
    case SVB_OP_WORDS:
        return op->arg <= 5 && op->size >= 1 && op->size <= (1u << 21)
               && op->size2 <= SV_PATH_MAX + 1 ? SV_OK : SV_EVALUE;
    }
    return SV_EVALUE;
}

static int check_action(const struct span *b, const struct svb_action *a, const uint8_t *end,
                        int *ntrace)
{
    const struct svb_header *h = (const void *)b->blob;
    const uint8_t *body;
    int err = check_preds((const uint8_t *)(a + 1), end, a->nalts, &body);
    if (err)
        return err;
    size_t left = (size_t)(end - body);
    switch (a->type) {
    case SVB_CROSS: {
        if (left < sizeof(struct svb_cross))
            return SV_EBOUNDS;
        const struct svb_cross *c = (const void *)body;
        return c->group < h->ngroups ? SV_OK : SV_EVALUE;
    }
    case SVB_INJECT: {
        if (left < sizeof(struct svb_inject))
            return SV_EBOUNDS;
        const struct svb_inject *i = (const void *)body;
        if (i->error > MAX_ERRNO || i->signal > 64 || i->flags > 15)
            return SV_EVALUE;
        if (i->error && (i->flags & SVB_I_RETVAL))
            return SV_EVALUE;
        if ((i->flags & SVB_I_SUBST) && !(i->error || (i->flags & SVB_I_RETVAL)))
            return SV_EVALUE;
        if (i->flags & SVB_I_WHEN) {
            uint32_t ncount = (i->flags & SVB_I_PROCESS) ? h->process_counters : h->thread_counters;
            if (i->counter >= ncount || i->first == 0 || (i->last && i->last < i->first))
                return SV_EVALUE;
        }
        if (i->delay_enter_ns > 3600000000000ull || i->delay_exit_ns > 3600000000000ull)
            return SV_EVALUE;
        if (i->npokes > SVB_MAX_POKES)
            return SV_EVALUE;
        const uint8_t *p = body + sizeof *i;
        for (unsigned k = 0; k < i->npokes; k++) {
            if ((size_t)(end - p) < sizeof(struct svb_poke))
                return SV_EBOUNDS;
            const struct svb_poke *pk = (const void *)p;
            if (pk->phase > 1 || pk->arg > 5 || pk->len == 0 || pk->len > SVB_MAX_POKE)
                return SV_EVALUE;
            size_t need = sizeof *pk + ((pk->len + 7u) & ~7u);
            if ((size_t)(end - p) < need)
                return SV_EBOUNDS;
            p += need;
        }
        return SV_OK;
    }
    case SVB_TRACE: {
        if (left < sizeof(struct svb_trace))
            return SV_EBOUNDS;
        const struct svb_trace *t = (const void *)body;
        if (t->nops > SVB_MAX_OPS || t->flags > SVB_T_PARTIAL)
            return SV_EVALUE;
        if (left < sizeof *t + (size_t)t->nops * sizeof(struct svb_op))
            return SV_EBOUNDS;
        const struct svb_op *ops = (const void *)(t + 1);
        for (unsigned k = 0; k < t->nops; k++)
            if ((err = check_op(&ops[k], h->capture_max)))
                return err;
        if (++*ntrace > 1)
            return SV_EVALUE;  /* one trace per call: one capture area */
        return SV_OK;
    }
    case SVB_REMAP: {
        if (left < sizeof(struct svb_remap))
            return SV_EBOUNDS;
        const struct svb_remap *r = (const void *)body;
        if (r->npaths > SVB_MAX_PATHS || r->result > SVB_RES_READLINK || r->buf_arg > 5
            || r->size_arg > 5 || (r->npaths == 0 && r->result == SVB_RES_NONE))
            return SV_EVALUE;
        if (left < sizeof *r + (size_t)r->npaths * sizeof(struct svb_path))
            return SV_EBOUNDS;
        const struct svb_path *ps = (const void *)(r + 1);
        for (unsigned k = 0; k < r->npaths; k++)
            if (ps[k].arg > 5 || ps[k].dirfd_arg < -1 || ps[k].dirfd_arg > 5
                || ps[k].write_kind > SVB_W_ACCESS || ps[k].write_arg > 5)
                return SV_EVALUE;
        return SV_OK;
    }
    case SVB_IDS: {
        if (left < sizeof(struct svb_ids))
            return SV_EBOUNDS;
        const struct svb_ids *i = (const void *)body;
        if (!h->ids_off || i->op < SVB_ID_GET || i->op > SVB_ID_CAPSET || i->which >= SVB_NIDS
            || i->old16 > 1)
            return SV_EVALUE;
        if ((i->op == SVB_ID_GETRES || i->op == SVB_ID_SET || i->op == SVB_ID_SETRE
             || i->op == SVB_ID_SETRES) && i->which != 0 && i->which != 4)
            return SV_EVALUE;  /* the base of the uid or the gid triple */
        return SV_OK;
    }
    }
    return SV_EVALUE;
}

static int check_entry(const struct span *b, uint32_t off)
{
    if (off % 8 || !in_blob(b, off, sizeof(struct svb_entry)))
        return SV_EBOUNDS;
    const struct svb_entry *e = (const void *)(b->blob + off);
    if (e->size < sizeof *e || e->size % 8 || !in_blob(b, off, e->size))
        return SV_EBOUNDS;
    if (e->nactions > SVB_MAX_ACTIONS || e->flags > 7)
        return SV_EVALUE;
    const uint8_t *p = (const uint8_t *)(e + 1), *end = b->blob + off + e->size;
    int ntrace = 0;
    for (unsigned i = 0; i < e->nactions; i++) {
        if ((size_t)(end - p) < sizeof(struct svb_action))
            return SV_EBOUNDS;
        const struct svb_action *a = (const void *)p;
        if (a->size < sizeof *a || a->size % 8 || a->size > (size_t)(end - p))
            return SV_EBOUNDS;
        int err = check_action(b, a, p + a->size, &ntrace);
        if (err)
            return err;
        p += a->size;
    }
    return p == end ? SV_OK : SV_EBOUNDS;
}

static int check_blob(const uint8_t *blob, size_t len)
{
    if (len < SVB_HEADER_SIZE || (uintptr_t)blob % 8)
        return SV_EBLOB;
    const struct svb_header *h = (const void *)blob;
    if (!meq(h->magic, SVB_MAGIC, 8) || h->version != SVB_VERSION
        || h->header_size != SVB_HEADER_SIZE)
        return SV_EBLOB;
    if (h->total_size != len || len > SVB_MAX_SIZE || len % 8)
        return SV_EBOUNDS;
    uint32_t crc = svr_crc32(0, blob, 124);
    crc = svr_crc32(crc, "\0\0\0\0", 4);
    crc = svr_crc32(crc, blob + SVB_HEADER_SIZE, len - SVB_HEADER_SIZE);
    if (crc != h->crc)
        return SV_ECRC;
    struct span b = {blob, (uint32_t)len};
    if (h->narches == 0 || h->narches > SVB_MAX_ARCHES || h->flags > SVB_F_RING_BLOCK
        || h->thread_counters > SVB_MAX_COUNTERS || h->process_counters > SVB_MAX_COUNTERS
        || h->capture_max > SV_CAPTURE_MAX || h->ngroups > SVB_MAX_GROUPS
        || h->nbinds > SVB_MAX_BINDS || h->thread_slots > 65536
        || (h->thread_counters && h->thread_slots == 0))
        return SV_EVALUE;
    for (unsigned i = 0; i < sizeof h->reserved; i++)
        if (h->reserved[i])
            return SV_EVALUE;
    if (h->arches_off % 8 || !in_blob(&b, h->arches_off, (uint64_t)h->narches * sizeof(struct svb_arch)))
        return SV_EBOUNDS;
    if (h->ids_off && (h->ids_off % 4 || !in_blob(&b, h->ids_off, 4 * SVB_NIDS)))
        return SV_EBOUNDS;
    if (h->nbinds && (h->binds_off % 8 || !in_blob(&b, h->binds_off,
                                                    (uint64_t)h->nbinds * sizeof(struct svb_bind))))
        return SV_EBOUNDS;
    const struct svb_bind *bd = (const void *)(blob + h->binds_off);
    for (unsigned i = 0; i < h->nbinds; i++) {
        if (bd[i].flags > SVB_B_RO)
            return SV_EVALUE;
        uint32_t offs[2] = {bd[i].guest_off, bd[i].host_off};
        uint16_t lens[2] = {bd[i].guest_len, bd[i].host_len};
        for (int k = 0; k < 2; k++) {
            if (lens[k] == 0 || lens[k] >= SV_PATH_MAX || !in_blob(&b, offs[k], lens[k] + 1u))
                return SV_EBOUNDS;
            const char *s = (const char *)blob + offs[k];
            if (s[0] != '/' || s[lens[k]] != 0 || slen(s, lens[k]) != lens[k]
                || (lens[k] > 1 && s[lens[k] - 1] == '/'))
                return SV_EVALUE;
        }
    }
    const struct svb_arch *ar = (const void *)(blob + h->arches_off);
    for (unsigned i = 0; i < h->narches; i++) {
        if (ar[i].nr_count > SVB_MAX_NR)
            return SV_EVALUE;
        if (ar[i].nr_count && (ar[i].index_off % 4
                               || !in_blob(&b, ar[i].index_off, 4ull * ar[i].nr_count)))
            return SV_EBOUNDS;
        const uint32_t *idx = (const void *)(blob + ar[i].index_off);
        for (unsigned nr = 0; nr < ar[i].nr_count; nr++) {
            int err = idx[nr] ? check_entry(&b, idx[nr]) : SV_OK;
            if (err)
                return err;
        }
        int err = ar[i].default_off ? check_entry(&b, ar[i].default_off) : SV_OK;
        if (err)
            return err;
        for (unsigned j = 0; j < i; j++)
            if (ar[j].audit_arch == ar[i].audit_arch)
                return SV_EVALUE;
    }
    return SV_OK;
}

/* ---- set-up --------------------------------------------------------------------- */

static void bind_strings(const struct ctx *x, unsigned i, const char **g, size_t *gl,
                         const char **hs, size_t *hl)
{
    const struct svb_bind *b = &x->binds[i];
    *g = (const char *)x->blob + b->guest_off;
    *gl = b->guest_len;
    *hs = (const char *)x->blob + b->host_off;
    *hl = b->host_len;
}

static struct svr_geometry geometry(const struct svb_header *h, int small)
{
    /* the thread table: for when= counters, and for the buffers of small pending areas */
    uint32_t slots = h->thread_counters || small ? h->thread_slots : 0;
    struct svr_geometry g = {slots, h->thread_counters, h->process_counters,
                             small ? (uint32_t)SCRATCH_BYTES : 0, small ? SV_SCRATCH_LEVELS : 0};
    return g;
}

static int setup(struct ctx *x, const uint8_t *blob, size_t blob_len, void *region,
                 size_t region_len, sv_raw_syscall_fn raw, size_t pending_size)
{
    int err = check_blob(blob, blob_len);
    if (err)
        return err;
    const struct svb_header *h = (const void *)blob;
    mzero(x, sizeof *x);
    x->blob = blob;
    x->hdr = h;
    x->arches = (const void *)(blob + h->arches_off);
    x->narches = h->narches;
    x->binds = (const void *)(blob + h->binds_off);
    x->nbinds = h->nbinds;
    x->raw = raw;
    x->pending_size = (uint32_t)(pending_size < SV_PENDING_FULL ? pending_size : SV_PENDING_FULL);
    x->small = pending_size < SV_PENDING_FULL;
    x->capture_max = h->capture_max;
    x->thread_counters = h->thread_counters;
    x->process_counters = h->process_counters;
    x->pid = (int32_t)raw(__NR_getpid, 0, 0, 0, 0, 0, 0);
    for (unsigned i = 0; i < x->nbinds; i++) {
        const char *g, *hs;
        size_t gl, hl;
        bind_strings(x, i, &g, &gl, &hs, &hl);
        if (gl != hl || !meq(g, hs, gl))
            x->moved |= 1ull << i;
    }
    struct svr_geometry geo = geometry(h, x->small);
    uint32_t flags = (h->flags & SVB_F_RING_BLOCK) ? SVR_F_BLOCK : 0;
    if (svr_format(region, region_len, &geo, flags, x->pid) || svr_open(&x->ring, region, region_len))
        return SV_EREGION;
    struct svr_header *rh = x->ring.h;
    if (h->ids_off && !rh->ids_valid) {
        const uint32_t *ids = (const void *)(blob + h->ids_off);
        for (int i = 0; i < SVB_NIDS; i++)
            __atomic_store_n(&rh->ids[i], ids[i], __ATOMIC_RELAXED);
        __atomic_store_n(&rh->ids_valid, 1, __ATOMIC_RELEASE);
    }
    x->magic = CTX_MAGIC;
    return SV_OK;
}

int sv_ctx_init(void *ctx, size_t ctx_size, const void *blob, size_t blob_len, void *region,
                size_t region_len, sv_raw_syscall_fn raw, size_t pending_size)
{
    if (!ctx || ctx_size < sizeof(struct ctx) || !blob || !region || !raw || (uintptr_t)ctx % 8
        || (uintptr_t)region % 64 || pending_size < SV_PENDING_MIN)
        return SV_ECTX;
    return setup(ctx, blob, blob_len, region, region_len, raw, pending_size);
}

int sv_ctx_fork(void *child_ctx, size_t ctx_size, const void *parent_ctx, void *region,
                size_t region_len)
{
    const struct ctx *p = parent_ctx;
    if (!child_ctx || ctx_size < sizeof(struct ctx) || !p || p->magic != CTX_MAGIC || !region
        || (uintptr_t)region % 64 || region == (void *)p->ring.h)
        return SV_ECTX;
    uint32_t ids[SVB_NIDS], had = __atomic_load_n(&p->ring.h->ids_valid, __ATOMIC_ACQUIRE);
    for (int i = 0; i < SVB_NIDS; i++)
        ids[i] = __atomic_load_n(&p->ring.h->ids[i], __ATOMIC_RELAXED);
    struct svr_header *ph = p->ring.h;
    uint32_t kind = ph->clock_kind;
    uint64_t tsc_base = ph->tsc_base;
    int64_t ns_base = ph->ns_base;
    uint32_t mult = ph->tsc_mult, shift = ph->tsc_shift;
    int err = setup(child_ctx, p->blob, p->hdr->total_size, region, region_len, p->raw,
                    p->pending_size);
    if (err)
        return err;
    struct ctx *c = child_ctx;
    struct svr_header *ch = c->ring.h;
    if (had) {
        for (int i = 0; i < SVB_NIDS; i++)
            __atomic_store_n(&ch->ids[i], ids[i], __ATOMIC_RELAXED);
        __atomic_store_n(&ch->ids_valid, 1, __ATOMIC_RELEASE);
    }
    if (kind == SVR_CLOCK_TSC) {  /* the calibration holds for the child too */
        ch->tsc_base = tsc_base, ch->ns_base = ns_base, ch->tsc_mult = mult, ch->tsc_shift = shift;
        __atomic_store_n(&ch->clock_kind, kind, __ATOMIC_RELEASE);
    }
    return SV_OK;
}

size_t sv_region_size(const void *blob, size_t blob_len, size_t ring_bytes, size_t pending_size)
{
    if (check_blob(blob, blob_len) || pending_size < SV_PENDING_MIN)
        return 0;
    const struct svb_header *h = blob;
    struct svr_geometry g = geometry(h, pending_size < SV_PENDING_FULL);
    uint64_t stride = svr_head_stride(g.nthread_counters)
                      + (uint64_t)g.scratch_levels * g.scratch_bytes;  /* head and buffers */
    uint64_t fixed = SVR_HEADER_SIZE + 8ull * (g.nprocess_counters + g.nthread_counters)
                     + g.thread_slots * stride + 4096 + 256;
    uint64_t slots = ring_bytes / SVR_SLOT;
    if (slots < SVR_MIN_SLOTS)
        slots = SVR_MIN_SLOTS;
    uint64_t n = 1;
    while (n < slots)
        n *= 2;
    return (size_t)((fixed + n * (8 + SVR_SLOT) + 4095) & ~4095ull);
}

const char *sv_strerror(int err)
{
    switch (err) {
    case SV_OK: return "success";
    case SV_EBLOB: return "not a policy blob of a version this evaluator reads";
    case SV_ECRC: return "policy blob checksum mismatch";
    case SV_EBOUNDS: return "an offset or size in the policy blob is out of bounds";
    case SV_EVALUE: return "a field of the policy blob is out of its range";
    case SV_EREGION: return "the shared region is too small";
    case SV_ECTX: return "bad context arguments";
    }
    return "unknown error";
}

/* ---- matching ------------------------------------------------------------------ */

static const struct svb_entry *entry_for(const struct ctx *x, const struct sv_call *c)
{
    for (unsigned i = 0; i < x->narches; i++) {
        const struct svb_arch *a = &x->arches[i];
        if (a->audit_arch != c->arch)
            continue;
        uint32_t off = a->default_off;
        int x32 = c->arch == AUDIT_ARCH_X86_64 && (c->nr & X32_BIT);
        if (!x32 && c->nr >= 0 && (unsigned long)c->nr < a->nr_count) {
            uint32_t o = ((const uint32_t *)(x->blob + a->index_off))[c->nr];
            if (o)
                off = o;
        }
        return off ? (const void *)(x->blob + off) : 0;
    }
    return 0;
}

static const struct svb_action *action_at(const struct svb_entry *e, unsigned i)
{
    const uint8_t *p = (const uint8_t *)(e + 1);
    while (i--)
        p += ((const struct svb_action *)p)->size;
    return (const void *)p;
}

/* where an action's body starts, after its predicates */
static const uint8_t *body_of(const struct svb_action *a)
{
    const uint8_t *p = (const uint8_t *)(a + 1);
    for (unsigned k = 0; k < a->nalts; k++) {
        const struct svb_alt *alt = (const void *)p;
        p += sizeof *alt + alt->npreds * sizeof(struct svb_pred);
    }
    return p;
}

/* the predicates hold (one alternative does); *body: where the body starts */
static int matches(const struct svb_action *a, const unsigned long *args, const uint8_t **body)
{
    const uint8_t *p = (const uint8_t *)(a + 1);
    int any = a->nalts == 0;
    for (unsigned k = 0; k < a->nalts; k++) {
        const struct svb_alt *alt = (const void *)p;
        const struct svb_pred *pr = (const void *)(alt + 1);
        int all = 1;
        for (unsigned j = 0; j < alt->npreds; j++) {
            uint64_t w = pr[j].bits == 32 ? 0xffffffffull : ~0ull;
            int hit = (args[pr[j].index] & pr[j].mask & w) == (pr[j].value & pr[j].mask & w);
            if (hit == pr[j].negate)
                all = 0;
        }
        any |= all;
        p = (const uint8_t *)(pr + alt->npreds);
    }
    *body = p;
    return any;
}

/* ---- when= counters --------------------------------------------------------------- */

static int32_t *thread_slot(const struct ctx *x, int32_t tid, int claim)
{
    const struct svr_header *h = x->ring.h;
    uint32_t n = h->thread_slots;
    if (!n || tid <= 0)
        return 0;
    uint32_t start = (uint32_t)tid * 2654435761u % n;
    for (uint32_t i = 0; i < n; i++) {
        int32_t *t = (int32_t *)(x->ring.threads + (uint64_t)((start + i) % n) * h->thread_stride);
        int32_t v = __atomic_load_n(t, __ATOMIC_ACQUIRE);
        if (v == tid)
            return t;
        if (v == 0)
            break;
    }
    if (!claim)
        return 0;
    for (uint32_t i = 0; i < n; i++) {
        int32_t *t = (int32_t *)(x->ring.threads + (uint64_t)((start + i) % n) * h->thread_stride);
        int32_t v = __atomic_load_n(t, __ATOMIC_ACQUIRE);
        if ((v == 0 || v == -1)
            && __atomic_compare_exchange_n(t, &v, tid, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
            t[1] = 0;  /* no scratch level in use */
            mzero(t + 2, 8ull * x->thread_counters);  /* a fresh thread counts from zero */
            return t;
        }
    }
    return 0;
}

static uint64_t *thread_counts(const struct ctx *x, int32_t tid, int claim)
{
    int32_t *t = thread_slot(x, tid, claim);
    return t ? (uint64_t *)(t + 2) : 0;
}

static void thread_gone(const struct ctx *x, int32_t tid)
{
    int32_t *t = thread_slot(x, tid, 0);
    if (t)
        __atomic_store_n(t, -1, __ATOMIC_RELEASE);
}

/* the call's big buffers (see struct scratch); NULL when none is left: more
 * threads than slots, or calls nested deeper than SV_SCRATCH_LEVELS */
static struct scratch *scratch(const struct ctx *x, struct pending *p, int32_t tid)
{
    if (p->s)
        return p->s;
    if (!x->small) {
        p->s = (struct scratch *)((uint8_t *)p + PENDING_HDR);
        return p->s;
    }
    int32_t *t = thread_slot(x, tid, 1);
    if (!t)
        return 0;
    uint32_t *depth = (uint32_t *)(t + 1);
    const struct svr_header *h = x->ring.h;
    if (*depth >= h->scratch_levels)
        return 0;
    uint64_t slot = (uint64_t)((uint8_t *)t - x->ring.threads) / h->thread_stride;
    p->s = (struct scratch *)(x->ring.scratch
                              + (slot * h->scratch_levels + *depth) * h->scratch_bytes);
    p->depth = depth;
    (*depth)++;  /* only this thread uses its slot */
    return p->s;
}

static void release(struct pending *p)
{
    if (p->depth && *p->depth)
        (*p->depth)--;
    p->depth = 0;
    p->s = 0;
}

static int when_hits(const struct ctx *x, const struct sv_call *c, const struct svb_inject *i)
{
    if (!(i->flags & SVB_I_WHEN))
        return 1;
    uint64_t n;
    if (i->flags & SVB_I_PROCESS) {
        n = __atomic_add_fetch(&x->ring.counters[i->counter], 1, __ATOMIC_RELAXED);
    } else {
        uint64_t *t = thread_counts(x, c->tid, 1);
        if (t) {
            n = ++t[i->counter];  /* only this thread touches its slot */
        } else {  /* table full: the process's overflow counter, counted */
            __atomic_fetch_add(&x->ring.h->thread_overflow, 1, __ATOMIC_RELAXED);
            n = __atomic_add_fetch(&x->ring.counters[x->process_counters + i->counter], 1,
                                   __ATOMIC_RELAXED);
        }
    }
    if (n < i->first)
        return 0;
    if (i->step == 0)
        return n == i->first;
    if (i->last && n > i->last)
        return 0;
    return (n - i->first) % i->step == 0;
}

/* ---- injection --------------------------------------------------------------------- */

static void sleep_ns(const struct ctx *x, uint64_t ns)
{
    struct ts t = {(long)(ns / 1000000000), (long)(ns % 1000000000)}, rem;
    while (sys(x, __NR_clock_nanosleep, CLOCK_MONOTONIC, 0, (long)&t, (long)&rem, 0, 0) == -EINTR)
        t = rem;
}

static void pokes(const struct ctx *x, const struct svb_inject *i, const unsigned long *args,
                  int phase, struct pending *p)
{
    const uint8_t *q = (const uint8_t *)(i + 1);
    for (unsigned k = 0; k < i->npokes; k++) {
        const struct svb_poke *pk = (const void *)q;
        if (pk->phase == phase) {
            mem_write(x, args[pk->arg], pk + 1, pk->len);
            p->rec_flags |= SVT_POKED;
        }
        q += sizeof *pk + ((pk->len + 7u) & ~7u);
    }
}

static int has_exit_pokes(const struct svb_inject *i)
{
    const uint8_t *q = (const uint8_t *)(i + 1);
    for (unsigned k = 0; k < i->npokes; k++) {
        const struct svb_poke *pk = (const void *)q;
        if (pk->phase == 1)
            return 1;
        q += sizeof *pk + ((pk->len + 7u) & ~7u);
    }
    return 0;
}

/* ---- trace capture ------------------------------------------------------------------- */

static uint8_t arg_of(const struct pending *p, unsigned long addr)
{
    for (int j = 0; j < 6; j++)
        if (p->targs[j] == addr)
            return (uint8_t)j;
    return SVT_NO_ARG;
}

/* room for a payload of up to n data bytes; NULL (and TRUNCATED) when full */
static struct svt_payload *pay_begin(const struct ctx *x, struct pending *p, size_t n, size_t *room)
{
    size_t at = p->cap_len;
    if (!p->s || at + SVT_PAYLOAD_HDR > x->capture_max) {
        p->rec_flags |= SVT_TRUNCATED;
        return 0;
    }
    size_t left = x->capture_max - at - SVT_PAYLOAD_HDR;
    *room = n < left ? n : left;
    return (struct svt_payload *)(p->s->cap + at);
}

static void pay_end(struct pending *p, struct svt_payload *pl, uint8_t kind, uint8_t arg,
                    int phase, uint8_t flags, uint32_t len, uint64_t addr, uint32_t size)
{
    pl->kind = kind, pl->arg = arg, pl->phase = (uint8_t)phase, pl->flags = flags;
    pl->length = len, pl->addr = addr, pl->size = size, pl->reserved = 0;
    uint32_t padded = (len + 7u) & ~7u;
    mzero((uint8_t *)(pl + 1) + len, padded - len);
    p->cap_len += SVT_PAYLOAD_HDR + padded;
    p->cap_n++;
}

static void cap_str(const struct ctx *x, struct pending *p, unsigned long addr, size_t maxlen,
                    int phase)
{
    size_t room;
    if (!addr)
        return;
    struct svt_payload *pl = pay_begin(x, p, maxlen + 1, &room);
    if (!pl)
        return;
    int complete;
    long n = read_str(x, addr, (char *)(pl + 1), room, maxlen, &complete);
    if (n == -2)
        p->rec_flags |= SVT_TRUNCATED;
    if (n < 0)
        return;
    pay_end(p, pl, SVT_P_STRING, arg_of(p, addr), phase, complete ? SVT_P_COMPLETE : 0,
            (uint32_t)n, addr, (uint32_t)maxlen);
}

static void cap_buf(const struct ctx *x, struct pending *p, unsigned long addr, size_t n, int phase)
{
    size_t room;
    if (!addr)
        return;
    struct svt_payload *pl = pay_begin(x, p, n, &room);
    if (!pl)
        return;
    if (n == 0) {  /* a read of nothing (SVB_C_EMPTY): recorded, so the replay can serve it */
        pay_end(p, pl, SVT_P_BUFFER, arg_of(p, addr), phase, 0, 0, addr, 0);
        return;
    }
    if (room < n) {
        p->rec_flags |= SVT_TRUNCATED;
        return;
    }
    long r = mem_read(x, pl + 1, addr, n);
    if (r <= 0)
        return;
    pay_end(p, pl, SVT_P_BUFFER, arg_of(p, addr), phase, 0, (uint32_t)r, addr, (uint32_t)n);
}

static void cap_fdpath(const struct ctx *x, struct pending *p, long fd, int phase)
{
    char name[32] = "/proc/self/fd/";
    int n = 14, k = 0;
    char digits[12];
    if (fd < 0 || fd > 0x7fffffff)
        return;
    do
        digits[k++] = (char)('0' + fd % 10);
    while ((fd /= 10) && k < 11);
    while (k)
        name[n++] = digits[--k];
    name[n] = 0;
    size_t room;
    struct svt_payload *pl = pay_begin(x, p, SV_PATH_MAX, &room);
    if (!pl)
        return;
    long r = sys(x, __NR_readlinkat, AT_FDCWD, (long)name, (long)(pl + 1), (long)room, 0, 0);
    if (r <= 0)
        return;
    long fdv = 0;
    for (int i = 14; i < n; i++)
        fdv = fdv * 10 + (name[i] - '0');
    pay_end(p, pl, SVT_P_PATH, SVT_NO_ARG, phase, 0, (uint32_t)r, (uint64_t)fdv, 0);
}

/* the pointers of a NULL-ended array, a chunk at a time; strings too for ARGV */
static void cap_array(const struct ctx *x, struct pending *p, const struct svb_op *op,
                      unsigned long addr, int word)
{
    size_t room;
    if (!addr)
        return;
    uint64_t max_words = op->size;
    struct svt_payload *pl = pay_begin(x, p, max_words * word, &room);
    if (!pl)
        return;
    uint8_t *dst = (uint8_t *)(pl + 1);
    size_t done = 0, want = max_words * word;
    int ended = 0;
    while (done < want && !ended) {
        size_t chunk = 512 - ((addr + done) & 511);
        if (chunk > want - done)
            chunk = want - done;
        if (done + chunk > room) {
            p->rec_flags |= SVT_TRUNCATED;
            break;
        }
        long r = mem_read(x, dst + done, addr + done, chunk);
        if (r <= 0)
            break;
        size_t whole = (size_t)r / word * word;
        for (size_t i = done; i < done + whole; i += word) {
            uint64_t w = 0;
            mcopy(&w, dst + i, word);
            if (w == 0) {
                whole = i + word - done;
                ended = 1;
                break;
            }
        }
        done += whole;
        if ((size_t)r < chunk)
            break;
    }
    if (!done)
        return;
    /* size: what was asked for, so that a read cut by unmapped memory shows as short */
    uint32_t asked = ended ? (uint32_t)done : (uint32_t)want;
    pay_end(p, pl, SVT_P_BUFFER, arg_of(p, addr), op->phase, 0, (uint32_t)done, addr, asked);
    if (op->op != SVB_OP_ARGV)
        return;
    /* the strings of the first max_words - 1 pointers (the decoder's max_array) */
    size_t nwords = done / word, shown = max_words - 1;
    const struct svt_payload *arr = pl;
    uint64_t words[64];
    size_t nw = 0;
    for (size_t i = 0; i < nwords && i < shown && nw < 64; i++) {
        uint64_t w = 0;
        mcopy(&w, (const uint8_t *)(arr + 1) + i * word, word);
        if (w == 0)
            break;
        words[nw++] = w;
    }
    for (size_t i = 0; i < nw; i++)
        cap_str(x, p, words[i], op->size2, op->phase);
}

static void capture(const struct ctx *x, struct pending *p, const struct svb_trace *t, int phase,
                    long ret, unsigned arch)
{
    const struct svb_op *ops = (const void *)(t + 1);
    int word = arch == 0x40000003u ? 4 : 8;  /* AUDIT_ARCH_I386 */
    for (unsigned k = 0; k < t->nops; k++) {
        const struct svb_op *op = &ops[k];
        if (op->phase != phase)
            continue;
        if ((op->cond & SVB_C_OK) && (phase == 0 || failed(ret)))
            continue;
        unsigned long a = op->arg <= 5 ? p->targs[op->arg] : 0;
        if (word == 4)
            a &= 0xffffffffUL;
        switch (op->op) {
        case SVB_OP_STR:
            cap_str(x, p, a, op->size, phase);
            break;
        case SVB_OP_BUF: {
            long len = op->len_src == SVB_LEN_CONST ? (long)op->size
                     : op->len_src == SVB_LEN_ARG ? (long)p->targs[op->len_arg] : ret;
            if (op->len_src == SVB_LEN_ARG && word == 4)
                len = (long)(p->targs[op->len_arg] & 0xffffffffUL);
            if (len < 0 || (len == 0 && !(op->cond & SVB_C_EMPTY)))
                break;
            if (op->size2 && (unsigned long)len > op->size2)
                len = op->size2;
            cap_buf(x, p, a, (size_t)len, phase);
            break;
        }
        case SVB_OP_FDPATH: {
            long fd = op->arg == SVB_ARG_RETVAL ? ret : (long)(int32_t)(uint32_t)p->targs[op->arg];
            if ((op->cond & SVB_C_NOT_CWD) && fd == AT_FDCWD)
                break;
            if (fd >= 0)
                cap_fdpath(x, p, fd, phase);
            break;
        }
        case SVB_OP_ARGV:
        case SVB_OP_WORDS:
            cap_array(x, p, op, a, word);
            break;
        }
    }
}

static void write_record(struct ctx *x, struct pending *p, const struct sv_call *c,
                         uint16_t type, uint16_t flags, long ret, int64_t duration)
{
    struct svt_record r;
    mzero(&r, sizeof r);
    mcopy(r.magic, "SVRC", 4);
    r.type = type;
    r.flags = flags | p->rec_flags | p->trace_flags;
    r.time_ns = p->t0;
    r.duration_ns = duration;
    r.cpu = -1;
    r.pid = c->pid;
    r.tid = c->tid;
    r.arch = c->arch;
    r.nr = (uint32_t)p->tnr;
    if (c->arch == AUDIT_ARCH_X86_64 && (p->tnr & X32_BIT))
        r.flags |= SVT_X32;
    r.npayloads = p->cap_n;
    for (int i = 0; i < 6; i++)
        r.args[i] = p->targs[i];
    r.retval = ret;
    r.ip = c->ip;
    r.sp = c->sp;
    r.payload_bytes = p->cap_len;
    svr_write(&x->ring, &r, sizeof r, p->s ? (const void *)p->s->cap : (const void *)&r, p->cap_len, x->raw);
}

/* ---- path remapping ------------------------------------------------------------------ */

static int under(const char *path, size_t n, const char *prefix, size_t m)
{
    if (m == 1)  /* "/" */
        return 1;
    if (n < m || !meq(path, prefix, m))
        return 0;
    return n == m || path[m] == '/';
}

/* the bind whose `side` prefix (0 guest, 1 host) is the longest one path is under; -1 */
static int best_bind(const struct ctx *x, const char *path, size_t n, int side)
{
    int best = -1;
    size_t best_len = 0;
    for (unsigned i = 0; i < x->nbinds; i++) {
        const char *g, *h;
        size_t gl, hl;
        bind_strings(x, i, &g, &gl, &h, &hl);
        const char *pre = side ? h : g;
        size_t pl = side ? hl : gl;
        if ((best < 0 || pl > best_len) && under(path, n, pre, pl))
            best = (int)i, best_len = pl;
    }
    return best;
}

/* dst = the prefix of the other side + the rest of path; its length, or -1 when too long */
static long translate(const struct ctx *x, const char *path, size_t n, int side, char *dst,
                      int *ro)
{
    int b = best_bind(x, path, n, side);
    *ro = 0;
    if (b < 0) {
        mcopy(dst, path, n);
        dst[n] = 0;
        return (long)n;
    }
    const char *g, *h;
    size_t gl, hl;
    bind_strings(x, (unsigned)b, &g, &gl, &h, &hl);
    *ro = (x->binds[b].flags & SVB_B_RO) != 0;
    const char *from = side ? g : h;       /* the prefix to put in */
    size_t from_len = side ? gl : hl;
    size_t cut = side ? hl : gl;            /* the prefix to take out */
    const char *rest = cut == 1 ? path : path + cut;
    size_t rest_len = cut == 1 ? n : n - cut;
    if (from_len == 1 && rest_len)          /* "/" + "/x" */
        from_len = 0;
    if (from_len + rest_len + 1 > SV_PATH_MAX)
        return -1;
    mcopy(dst, from, from_len);
    mcopy(dst + from_len, rest, rest_len);
    dst[from_len + rest_len] = 0;
    return (long)(from_len + rest_len);
}

/* append rel's components to the normalised absolute dir in buf (length *n),
 * resolving . and .. lexically; -1 when too long */
static int append_norm(char *buf, size_t *n, const char *rel, size_t rlen)
{
    size_t len = *n;
    if (len > 1 && buf[len - 1] == '/')
        len--;
    size_t i = 0;
    while (i < rlen) {
        while (i < rlen && rel[i] == '/')
            i++;
        size_t s = i;
        while (i < rlen && rel[i] != '/')
            i++;
        size_t cl = i - s;
        if (cl == 0 || (cl == 1 && rel[s] == '.'))
            continue;
        if (cl == 2 && rel[s] == '.' && rel[s + 1] == '.') {
            while (len > 1 && buf[len - 1] != '/')
                len--;
            if (len > 1)
                len--;
            continue;
        }
        if (len + 1 + cl + 2 > SV_PATH_MAX)
            return -1;
        if (len > 1)
            buf[len++] = '/';
        else
            len = 1;
        mcopy(buf + len, rel + s, cl);
        len += cl;
    }
    if (rlen && rel[rlen - 1] == '/' && len > 1)
        buf[len++] = '/';
    buf[len] = 0;
    *n = len;
    return 0;
}

static int has_dotdot(const char *p, size_t n)
{
    for (size_t i = 0; i + 1 < n; i++)
        if (p[i] == '.' && p[i + 1] == '.' && (i == 0 || p[i - 1] == '/')
            && (i + 2 == n || p[i + 2] == '/'))
            return 1;
    return 0;
}

/* resolving rel from the guest dir start passes through a bind that moves paths */
static int walk_enters_bind(const struct ctx *x, const char *start, size_t sl, const char *rel,
                            size_t rlen, char *tmp)
{
    if (!x->moved)
        return 0;
    size_t n = sl;
    mcopy(tmp, start, sl);
    tmp[n] = 0;
    size_t i = 0;
    while (i < rlen) {
        size_t s = i;
        while (i < rlen && rel[i] != '/')
            i++;
        size_t cl = i - s;
        if (i < rlen)
            i++;
        if (cl == 0 || (cl == 1 && rel[s] == '.'))
            continue;
        size_t len = n;
        if (append_norm(tmp, &len, rel + s, cl) < 0)
            return 1;
        n = len;
        for (unsigned b = 0; b < x->nbinds; b++) {
            if (!(x->moved >> b & 1))
                continue;
            const char *g, *h;
            size_t gl, hl;
            bind_strings(x, b, &g, &gl, &h, &hl);
            if (under(tmp, n, g, gl))
                return 1;
        }
    }
    return 0;
}

static int writes(const struct ctx *x, const struct svb_path *ps, const unsigned long *args,
                  const char *host)
{
    uint64_t flags;
    switch (ps->write_kind) {
    case SVB_W_ALWAYS:
        return 1;
    case SVB_W_ACCESS:
        return (args[ps->write_arg] & W_OK) != 0;
    case SVB_W_OPEN_HOW:
        if (mem_read(x, &flags, args[ps->write_arg], 8) != 8)
            return 0;  /* the kernel fails it with EFAULT */
        break;
    case SVB_W_OPEN_FLAGS:
        flags = args[ps->write_arg] & 0xffffffffu;
        break;
    default:
        return 0;
    }
    if ((flags & O_ACCMODE) == 1 || (flags & O_ACCMODE) == 2 || (flags & O_TRUNC))
        return 1;
    if (flags & O_CREAT)  /* creating writes; opening a file that exists does not */
        return (flags & O_EXCL) || sys(x, __NR_faccessat, AT_FDCWD, (long)host, 0, 0, 0, 0) != 0;
    return 0;
}

/* rewrite path argument k; 0, or an errno to fail the call with */
static int remap_path(const struct ctx *x, struct pending *p, struct sv_call *c,
                      const struct svb_path *ps, int k)
{
    unsigned long addr = c->args[ps->arg];
    int complete;
    long n = read_str(x, addr, p->s->b0, SV_PATH_MAX, SV_PATH_MAX - 1, &complete);
    if (n <= 0 || !complete)
        return 0;  /* NULL, unreadable, empty (AT_EMPTY_PATH) or too long: the kernel decides */
    size_t bl, sl;
    int ro;
    if (p->s->b0[0] == '/') {
        p->s->b1[0] = '/', p->s->b1[1] = 0, bl = 1;
    } else {
        long fd = ps->dirfd_arg < 0 ? AT_FDCWD : (long)(int32_t)(uint32_t)c->args[ps->dirfd_arg];
        long r;
        if (fd == AT_FDCWD) {
            r = sys(x, __NR_getcwd, (long)p->s->b1, SV_PATH_MAX, 0, 0, 0, 0);
            r = r > 0 ? r - 1 : -1;  /* the kernel counts the NUL */
        } else {
            char name[32] = "/proc/self/fd/";
            int m = 14, d = 0;
            char digits[12];
            if (fd < 0)
                return 0;
            do
                digits[d++] = (char)('0' + fd % 10);
            while ((fd /= 10) && d < 11);
            while (d)
                name[m++] = digits[--d];
            name[m] = 0;
            r = sys(x, __NR_readlinkat, AT_FDCWD, (long)name, (long)p->s->b1, SV_PATH_MAX - 1, 0, 0);
            if (r >= 0)
                p->s->b1[r] = 0;
        }
        if (r <= 0 || p->s->b1[0] != '/')
            return 0;
        bl = (size_t)r;
    }
    /* b2 = the guest directory it starts from */
    long s = p->s->b0[0] == '/' ? 1 : translate(x, p->s->b1, bl, 1, p->s->b2, &ro);
    if (s < 0)
        return 0;
    if (p->s->b0[0] == '/')
        p->s->b2[0] = '/', p->s->b2[1] = 0;
    sl = (size_t)s;
    int dotdot = has_dotdot(p->s->b0, (size_t)n);
    int same_start = sl == bl && meq(p->s->b2, p->s->b1, bl);
    int walk = dotdot && same_start
               && walk_enters_bind(x, p->s->b2, sl, p->s->b0, (size_t)n, p->s->out[k]);
    if (append_norm(p->s->b2, &sl, p->s->b0, (size_t)n) < 0)
        return 0;
    long hl = translate(x, p->s->b2, sl, 0, p->s->out[k], &ro);
    if (hl < 0)
        return 0;
    if (ro && writes(x, ps, c->args, p->s->out[k]))
        return EROFS;
    int same;
    if (dotdot) {
        same = same_start && !walk;
    } else {
        if (append_norm(p->s->b1, &bl, p->s->b0, (size_t)n) < 0)
            return 0;
        same = bl == (size_t)hl && meq(p->s->b1, p->s->out[k], bl);
    }
    if (!same)
        c->args[ps->arg] = (unsigned long)p->s->out[k];
    return 0;
}

static void remap_result(const struct ctx *x, struct pending *p, const struct sv_call *c,
                         const struct svb_remap *r, long *ret)
{
    long n = *ret;
    int ro;
    if (n <= 0 || n >= SV_PATH_MAX)
        return;
    unsigned long buf = c->args[r->buf_arg], size = c->args[r->size_arg];
    if (mem_read(x, p->s->b0, buf, (size_t)n) != n)
        return;
    size_t len = (size_t)n;
    if (r->result == SVB_RES_GETCWD)
        len = slen(p->s->b0, (size_t)n);
    else if (p->s->b0[0] != '/')
        return;  /* a relative link target: not a path we map */
    p->s->b0[len] = 0;
    long gl = translate(x, p->s->b0, len, 1, p->s->b2, &ro);
    if (gl < 0 || ((size_t)gl == len && meq(p->s->b2, p->s->b0, len)))
        return;
    if (r->result == SVB_RES_GETCWD) {
        if ((unsigned long)gl + 1 > size) {
            *ret = -ERANGE;
            return;
        }
        if (mem_write(x, buf, p->s->b2, (size_t)gl + 1) == gl + 1)
            *ret = gl + 1;
    } else {
        size_t m = (unsigned long)gl < size ? (size_t)gl : size;
        if (mem_write(x, buf, p->s->b2, m) == (long)m)
            *ret = (long)m;
    }
}

/* ---- fakeroot's identity ---------------------------------------------------------------- */

static long id_get(const struct ctx *x, unsigned which, int old16)
{
    uint32_t v = __atomic_load_n(&x->ring.h->ids[which], __ATOMIC_RELAXED);
    if (v == 0xffffffffu)
        return -1;
    if (old16 && v > 0xffff)
        return 65534;
    return (long)v;
}

static uint32_t id_arg(unsigned long a, int old16)
{
    if (old16)
        return (a & 0xffff) == 0xffff ? 0xffffffffu : (uint32_t)(a & 0xffff);
    return (uint32_t)a;
}

static void id_set(const struct ctx *x, unsigned which, uint32_t v)
{
    __atomic_store_n(&x->ring.h->ids[which], v, __ATOMIC_RELAXED);
}

#define KEEP 0xffffffffu

/* libfakeroot's set_faked_* rules, as layers/fakeroot.py has them; the answer */
static long ids(const struct ctx *x, const struct sv_call *c, const struct svb_ids *op)
{
    unsigned b = op->which;
    int o = op->old16;
    switch (op->op) {
    case SVB_ID_GET:
        return id_get(x, b, o);
    case SVB_ID_GETRES:
        for (int k = 0; k < 3; k++) {
            long v = id_get(x, b + k, o);
            uint32_t w = (uint32_t)v;
            if (mem_write(x, c->args[k], &w, o ? 2 : 4) != (o ? 2 : 4))
                return -EFAULT;
        }
        return 0;
    case SVB_ID_SET: {
        uint32_t v = id_arg(c->args[0], o);
        if (__atomic_load_n(&x->ring.h->ids[b + 1], __ATOMIC_RELAXED) == 0) {
            id_set(x, b, v), id_set(x, b + 1, v), id_set(x, b + 2, v);
        } else {
            id_set(x, b + 1, v);
        }
        id_set(x, b + 3, v);
        return 0;
    }
    case SVB_ID_SETRE: {
        uint32_t r = id_arg(c->args[0], o), e = id_arg(c->args[1], o);
        if (r != KEEP || e != KEEP)
            id_set(x, b + 2, x->ring.h->ids[b + 1]);
        if (r != KEEP)
            id_set(x, b, r);
        if (e != KEEP)
            id_set(x, b + 1, e);
        id_set(x, b + 3, x->ring.h->ids[b + 1]);
        return 0;
    }
    case SVB_ID_SETRES:
        for (int k = 0; k < 3; k++) {
            uint32_t v = id_arg(c->args[k], o);
            if (v != KEEP)
                id_set(x, b + k, v);
        }
        id_set(x, b + 3, x->ring.h->ids[b + 1]);
        return 0;
    case SVB_ID_SETFS: {
        long prev = id_get(x, b, o);
        uint32_t v = id_arg(c->args[0], o);
        if (v != KEEP)
            id_set(x, b, v);
        return prev;
    }
    case SVB_ID_RET0:
        return 0;
    }
    return 0;
}

/* ---- the evaluation -------------------------------------------------------------------- */

static int run(struct ctx *x, struct sv_call *c, long *ret, struct pending *p)
{
    const struct svb_entry *e = p->entry;
    const struct svb_action *a = action_at(e, p->pos);
    for (unsigned i = p->pos; i < e->nactions; i++, a = (const void *)((const uint8_t *)a + a->size)) {
        const uint8_t *body;
        p->reached = (uint16_t)(i + 1);
        if (!matches(a, c->args, &body))
            continue;
        switch (a->type) {
        case SVB_CROSS:
            p->group = ((const struct svb_cross *)body)->group;
            p->cross = (uint16_t)i;
            p->pos = (uint16_t)(i + 1);
            return SV_SUPERVISOR;
        case SVB_TRACE: {
            const struct svb_trace *t = (const void *)body;
            p->state |= PS_TRACE;
            p->t0 = now_ns(x);
            p->tnr = c->nr;
            for (int k = 0; k < 6; k++)
                p->targs[k] = c->args[k];
            p->cap_len = p->cap_n = 0;
            p->trace_flags = (t->flags & SVB_T_PARTIAL) ? SVT_PARTIAL : 0;
            if (t->nops && !scratch(x, p, c->tid))
                p->trace_flags |= SVT_TRUNCATED;  /* no buffer for the payloads: said */
            capture(x, p, t, 0, 0, c->arch);
            if (e->flags & SVB_E_NORETURN) {  /* exit, exit_group: now or never */
                write_record(x, p, c, SVT_SYSCALL, SVT_NO_EXIT, 0, -1);
            } else if (e->flags & SVB_E_EXEC) {  /* amended at exit if it fails */
                write_record(x, p, c, SVT_SYSCALL, SVT_NO_EXIT | SVT_HELD, 0, -1);
                p->fired |= 1u << i;
            } else {
                p->fired |= 1u << i;
            }
            break;
        }
        case SVB_INJECT: {
            const struct svb_inject *in = (const void *)body;
            if (!when_hits(x, c, in))
                break;
            if (in->signal)
                sys(x, __NR_tgkill, c->pid, c->tid, in->signal, 0, 0, 0);
            if (in->delay_enter_ns) {
                sleep_ns(x, in->delay_enter_ns);
                p->rec_flags |= SVT_DELAYED;
            }
            pokes(x, in, c->args, 0, p);
            if (in->delay_exit_ns || has_exit_pokes(in) || (in->flags & SVB_I_SUBST))
                p->fired |= 1u << i;
            if (in->flags & SVB_I_SUBST) {
                c->nr = in->subst_nr;
                break;
            }
            if (in->error || (in->flags & SVB_I_RETVAL)) {
                *ret = in->error ? -(long)in->error : (long)in->retval;
                p->rec_flags |= SVT_INJECTED;
                return SV_RETURN;
            }
            break;
        }
        case SVB_REMAP: {
            const struct svb_remap *r = (const void *)body;
            const struct svb_path *ps = (const void *)(r + 1);
            if (!scratch(x, p, c->tid)) {
                *ret = -ENOMEM;  /* no buffer for the new path: fail it rather than run it unmapped */
                return SV_RETURN;
            }
            for (unsigned k = 0; k < r->npaths; k++) {
                int err = remap_path(x, p, c, &ps[k], (int)k);
                if (err) {
                    *ret = -err;
                    return SV_RETURN;
                }
            }
            if (r->result)
                p->fired |= 1u << i;
            break;
        }
        case SVB_IDS: {
            const struct svb_ids *op = (const void *)body;
            if (op->op == SVB_ID_CAPSET) {
                p->fired |= 1u << i;
                break;
            }
            *ret = ids(x, c, op);
            return SV_RETURN;
        }
        }
    }
    return SV_RUN;
}

int sv_entry(void *ctx, struct sv_call *c, long *ret, void *pending)
{
    struct ctx *x = ctx;
    struct pending *p = pending;
    p->magic = PENDING_MAGIC;
    p->state = 0;
    p->entry = 0;
    p->s = 0;
    p->depth = 0;
    p->reached = p->pos = p->unwind = 0;
    p->fired = p->exit_cross = 0;
    p->rec_flags = p->trace_flags = 0;
    if (x->magic != CTX_MAGIC)
        return SV_RUN;
    const struct svb_entry *e = entry_for(x, c);
    if (!e)
        return SV_RUN;
    p->entry = e;
    int v = run(x, c, ret, p);
    if (e->flags & SVB_E_NORETURN && v != SV_SUPERVISOR) {
        release(p);  /* exit, exit_group: no sv_exit follows */
        if (e->flags & SVB_E_THREAD_EXIT)
            thread_gone(x, c->tid);  /* its counters and buffers are free for the next thread */
    } else if (e->flags & SVB_E_EXEC && v != SV_SUPERVISOR) {
        /* a successful exec does not return: its scratch level must not stay
         * taken (a vfork child shares the region; the kernel has copied the
         * path before anything else could run in this thread). A failed
         * exec's exit only amends the held record, with no buffer. */
        release(p);
    }
    return v;
}

void sv_thread_gone(void *ctx, int tid)
{
    struct ctx *x = ctx;
    if (x && x->magic == CTX_MAGIC)
        thread_gone(x, tid);
}

int sv_resume(void *ctx, struct sv_call *c, long *ret, void *pending, int verdict, unsigned flags)
{
    struct ctx *x = ctx;
    struct pending *p = pending;
    if (p->magic != PENDING_MAGIC || !p->entry || (p->state & PS_EXIT))
        return SV_RUN;
    if (flags & SV_F_EXIT_HOOKS)
        p->exit_cross |= 1u << p->cross;
    p->rec_flags |= ((flags & SV_F_INJECTED) ? SVT_INJECTED : 0)
                    | ((flags & SV_F_POKED) ? SVT_POKED : 0)
                    | ((flags & SV_F_DELAYED) ? SVT_DELAYED : 0);
    if (verdict == SV_RETURN)
        return SV_RETURN;
    return run(x, c, ret, p);
}

int sv_exit(void *ctx, struct sv_call *c, long *ret, void *pending)
{
    struct ctx *x = ctx;
    struct pending *p = pending;
    if (p->magic != PENDING_MAGIC || !p->entry)
        return SV_RUN;
    if (!(p->state & PS_EXIT)) {
        p->state |= PS_EXIT;
        p->unwind = p->reached;
    }
    const struct svb_entry *e = p->entry;
    while (p->unwind > 0) {
        unsigned i = --p->unwind;
        uint32_t bit = 1u << i;
        if (!((p->fired | p->exit_cross) & bit))
            continue;
        const struct svb_action *a = action_at(e, i);
        const uint8_t *body = body_of(a);
        if (p->exit_cross & bit) {
            p->exit_cross &= ~bit;
            p->group = ((const struct svb_cross *)body)->group;
            return SV_SUPERVISOR;
        }
        switch (a->type) {
        case SVB_TRACE: {
            const struct svb_trace *t = (const void *)body;
            int64_t t1 = now_ns(x);
            int64_t dur = t1 > p->t0 ? t1 - p->t0 : 0;
            if (e->flags & SVB_E_EXEC) {  /* it returned: it failed; amend the record */
                p->cap_len = p->cap_n = 0;
                write_record(x, p, c, SVT_AMEND, 0, *ret, dur);
                break;
            }
            capture(x, p, t, 1, *ret, c->arch);
            write_record(x, p, c, SVT_SYSCALL, 0, *ret, dur);
            break;
        }
        case SVB_INJECT: {
            const struct svb_inject *in = (const void *)body;
            if (in->flags & SVB_I_SUBST) {
                *ret = in->error ? -(long)in->error : (long)in->retval;
                p->rec_flags |= SVT_INJECTED;
            }
            pokes(x, in, c->args, 1, p);
            if (in->delay_exit_ns) {
                sleep_ns(x, in->delay_exit_ns);
                p->rec_flags |= SVT_DELAYED;
            }
            break;
        }
        case SVB_REMAP:
            remap_result(x, p, c, (const void *)body, ret);
            break;
        case SVB_IDS:  /* capset: runs, and reports success whatever the kernel said */
            if (*ret)
                *ret = 0;
            break;
        }
    }
    release(p);
    return SV_RUN;
}

int sv_crosses(void *ctx, const struct sv_call *c, void *pending)
{
    struct ctx *x = ctx;
    struct pending *p = pending;
    p->magic = PENDING_MAGIC;
    p->entry = 0;  /* sv_exit: nothing to unwind */
    p->state = 0;
    p->s = 0;
    p->depth = 0;
    if (x->magic != CTX_MAGIC)
        return 0;
    const struct svb_entry *e = entry_for(x, c);
    if (!e)
        return 0;
    const struct svb_action *a = action_at(e, 0);
    for (unsigned i = 0; i < e->nactions; i++, a = (const void *)((const uint8_t *)a + a->size)) {
        const uint8_t *body;
        if (a->type == SVB_CROSS && matches(a, c->args, &body))
            return 1;
    }
    return 0;
}

unsigned sv_pending_group(const void *pending)
{
    const struct pending *p = pending;
    return p->magic == PENDING_MAGIC ? p->group : 0;
}
