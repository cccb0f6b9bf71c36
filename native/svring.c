/* svring: see svring.h. Free-standing: no libc calls, system calls go
 * through the caller's raw function, memory is copied by hand. */
#include "svring.h"

#include <asm/unistd.h>
#include <linux/futex.h>

#define LOAD(p, o) __atomic_load_n((p), (o))
#define STORE(p, v, o) __atomic_store_n((p), (v), (o))
#define ACQ __ATOMIC_ACQUIRE
#define REL __ATOMIC_RELEASE
#define RLX __ATOMIC_RELAXED

#define SPINS 256                /* then sleep on the futex */
#define BLOCK_WAIT_NS 10000000L  /* re-check the ring (and a closed consumer) this often */

struct sv_timespec { long tv_sec, tv_nsec; };

/* memcpy without libc: word moves (a fixed 8-byte __builtin_memcpy is a
 * move, never a call), and no loop GCC could turn back into memcpy */
__attribute__((optimize("no-tree-loop-distribute-patterns")))
static void copy(void *dst, const void *src, size_t n)
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

static int same_bytes(const void *a, const void *b, size_t n)
{
    const uint8_t *x = a, *y = b;
    for (size_t i = 0; i < n; i++)
        if (x[i] != y[i])
            return 0;
    return 1;
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

static uint64_t align_up(uint64_t v, uint64_t a) { return (v + a - 1) & ~(a - 1); }

int svr_format(void *region, size_t len, const struct svr_geometry *g, uint32_t flags, int32_t pid)
{
    struct svr_header *h = region;
    uint64_t stride64 = svr_head_stride(g->nthread_counters);  /* tid, depth, u64 counts */
    uint64_t per_slot = (uint64_t)g->scratch_levels * g->scratch_bytes;
    if (stride64 > (1u << 30) || per_slot > (1u << 30))
        return -1;
    uint32_t stride = (uint32_t)stride64;
    uint64_t counters_off = SVR_HEADER_SIZE;
    uint64_t ncounters = (uint64_t)g->nprocess_counters + g->nthread_counters;
    uint64_t threads_off = align_up(counters_off + 8 * ncounters, 64);
    uint64_t seq_off = align_up(svr_scratch_area(threads_off, g->thread_slots, stride)
                                + (uint64_t)g->thread_slots * per_slot, 64);
    if (len < seq_off || len > (1ull << 40))
        return -1;
    uint64_t room = (len - seq_off) / (8 + SVR_SLOT);
    uint64_t nslots = 1;
    while (nslots * 2 <= room)
        nslots *= 2;
    if (room < SVR_MIN_SLOTS)
        return -1;
    uint64_t ring_off = align_up(seq_off + 8 * nslots, 64);
    while (ring_off + nslots * SVR_SLOT > len) {  /* alignment ate the last slot */
        nslots /= 2;
        ring_off = align_up(seq_off + 8 * nslots, 64);
    }
    if (nslots < SVR_MIN_SLOTS)
        return -1;
    int same = same_bytes(h->magic, SVR_MAGIC, 8) && h->version == SVR_VERSION
               && h->region_size == len && h->thread_slots == g->thread_slots
               && h->nthread_counters == g->nthread_counters
               && h->nprocess_counters == g->nprocess_counters && h->nslots == nslots
               && h->scratch_bytes == g->scratch_bytes && h->scratch_levels == g->scratch_levels;
    if (same) {  /* kept across an exec: counters, ids and records stay */
        STORE(&h->pid, pid, RLX);
        return 0;
    }
    /* Clear what is read before it is written: the header, the counters and
     * the thread slots; not the scratch buffers nor the ring's data
     * (megabytes: clearing them would fault in every page of a fresh region
     * at each exec and fork). volatile: a loop, not a call to memset. */
    volatile uint8_t *z = region;
    for (uint64_t i = 0, end = threads_off + (uint64_t)g->thread_slots * stride; i < end; i++)
        z[i] = 0;
    h->version = SVR_VERSION;
    h->header_size = SVR_HEADER_SIZE;
    h->region_size = len;
    h->pid = pid;
    h->flags = flags & SVR_F_BLOCK;
    h->ring_off = ring_off;
    h->nslots = nslots;
    h->slot_size = SVR_SLOT;
    h->thread_slots = g->thread_slots;
    h->seq_off = seq_off;
    h->threads_off = threads_off;
    h->thread_stride = stride;
    h->nthread_counters = g->nthread_counters;
    h->nprocess_counters = g->nprocess_counters;
    h->counters_off = counters_off;
    h->scratch_bytes = g->scratch_bytes;
    h->scratch_levels = g->scratch_levels;
    uint64_t *seq = (uint64_t *)((uint8_t *)region + seq_off);
    for (uint64_t i = 0; i < nslots; i++)
        seq[i] = i;
    __atomic_thread_fence(REL);
    copy(h->magic, SVR_MAGIC, 8);  /* last: a consumer that sees the magic sees the rest */
    __atomic_thread_fence(REL);
    return 0;
}

int svr_open(struct svr_view *v, void *region, size_t len)
{
    struct svr_header *h = region;
    if (len < SVR_HEADER_SIZE || !same_bytes(h->magic, SVR_MAGIC, 8)
        || h->version != SVR_VERSION || h->region_size != len || h->slot_size != SVR_SLOT)
        return -1;
    uint64_t n = h->nslots;
    if (n < SVR_MIN_SLOTS || (n & (n - 1)) || h->seq_off + 8 * n > len
        || h->ring_off + n * SVR_SLOT > len || h->ring_off < h->seq_off + 8 * n
        || h->threads_off + (uint64_t)h->thread_slots * h->thread_stride > h->seq_off
        || h->counters_off + 8ull * (h->nprocess_counters + h->nthread_counters) > h->threads_off
        || h->thread_stride < 8 + 8ull * h->nthread_counters
        || svr_scratch_area(h->threads_off, h->thread_slots, h->thread_stride)
               + (uint64_t)h->thread_slots * h->scratch_levels * h->scratch_bytes > h->seq_off)
        return -1;
    v->h = h;
    v->seq = (uint64_t *)((uint8_t *)region + h->seq_off);
    v->data = (uint8_t *)region + h->ring_off;
    v->mask = n - 1;
    v->counters = (uint64_t *)((uint8_t *)region + h->counters_off);
    v->threads = (uint8_t *)region + h->threads_off;
    v->scratch = (uint8_t *)region + svr_scratch_area(h->threads_off, h->thread_slots, h->thread_stride);
    return 0;
}

/* copy len bytes into the ring at byte offset off (modulo its size) */
static void put(struct svr_view *v, uint64_t off, const void *src, size_t len)
{
    uint64_t size = (v->mask + 1) * SVR_SLOT;
    off &= size - 1;
    size_t first = len < size - off ? len : (size_t)(size - off);
    copy(v->data + off, src, first);
    if (first < len)
        copy(v->data, (const uint8_t *)src + first, len - first);
}

static void futex_wait(svr_raw_fn raw, uint32_t *addr, uint32_t val, long ns)
{
    struct sv_timespec ts = {0, ns};
    raw(__NR_futex, (long)addr, FUTEX_WAIT, val, (long)&ts, 0, 0);
}

static void futex_wake(svr_raw_fn raw, uint32_t *addr)
{
    raw(__NR_futex, (long)addr, FUTEX_WAKE, 0x7fffffff, 0, 0, 0);
}

int svr_write(struct svr_view *v, const void *a, size_t alen, const void *b, size_t blen,
              svr_raw_fn raw)
{
    struct svr_header *h = v->h;
    uint64_t total = alen + blen;
    uint64_t k = (total + SVR_SLOT - 1) / SVR_SLOT;
    if (k == 0 || k > v->mask + 1) {
        __atomic_fetch_add(&h->too_big, 1, RLX);
        return -1;
    }
    uint64_t pos = LOAD(&h->head, RLX);
    int spins = 0, blocked = 0;
    for (;;) {
        uint64_t last = pos + k - 1;
        uint64_t s = LOAD(&v->seq[last & v->mask], ACQ) & ~SVR_CONT;
        if (s == last) {  /* free: claim [pos, pos + k) */
            if (__atomic_compare_exchange_n(&h->head, &pos, pos + k, 1, RLX, RLX))
                break;
            continue;  /* pos now holds the current head */
        }
        if (s > last) {  /* someone claimed past us: catch up */
            pos = LOAD(&h->head, RLX);
            continue;
        }
        /* full: the slot still holds a record of the previous lap */
        uint32_t flags = LOAD(&h->flags, RLX);
        if (!(flags & SVR_F_BLOCK) || (flags & SVR_F_CLOSED)) {
            __atomic_fetch_add(&h->dropped, 1, RLX);
            __atomic_fetch_add(&h->dropped_bytes, total, RLX);
            return -1;
        }
        if (!blocked) {
            blocked = 1;
            __atomic_fetch_add(&h->blocked, 1, RLX);
        }
        if (spins++ < SPINS) {
            cpu_relax();
        } else {
            uint32_t seen = LOAD(&h->space_futex, ACQ);
            __atomic_fetch_add(&h->space_waiters, 1, __ATOMIC_SEQ_CST);
            uint64_t again = LOAD(&v->seq[last & v->mask], __ATOMIC_SEQ_CST) & ~SVR_CONT;
            if (again < last)
                futex_wait(raw, &h->space_futex, seen, BLOCK_WAIT_NS);
            __atomic_fetch_sub(&h->space_waiters, 1, __ATOMIC_SEQ_CST);
        }
        pos = LOAD(&h->head, RLX);
    }
    uint64_t off = pos * SVR_SLOT;
    put(v, off, a, alen);
    if (blen)
        put(v, off + alen, b, blen);
    for (uint64_t j = k - 1; j >= 1; j--)
        STORE(&v->seq[(pos + j) & v->mask], (pos + j + 1) | SVR_CONT, RLX);
    STORE(&v->seq[pos & v->mask], pos + 1, REL);  /* commit: the whole record is visible */
    __atomic_fetch_add(&h->written, 1, RLX);
    if (LOAD(&h->consumer_waiting, RLX)) {
        /* the consumer sleeps: wake it once the ring is a quarter full */
        uint64_t used = pos + k - LOAD(&h->tail, RLX);
        if (used * 4 >= v->mask + 1 && __atomic_exchange_n(&h->consumer_waiting, 0, RLX)) {
            __atomic_fetch_add(&h->data_futex, 1, REL);
            futex_wake(raw, &h->data_futex);
        }
    }
    return 0;
}

int svr_peek(struct svr_view *v, int final, uint64_t *pos_out, uint32_t *len_out)
{
    struct svr_header *h = v->h;
    uint64_t pos = LOAD(&h->tail, RLX);
    uint64_t s = LOAD(&v->seq[pos & v->mask], ACQ);
    if (s == pos + 1) {
        struct svt_record r;
        svr_copy_out(v, pos, &r, sizeof r);
        uint64_t total = SVT_RECORD_SIZE + (uint64_t)r.payload_bytes;
        uint64_t k = (total + SVR_SLOT - 1) / SVR_SLOT;
        int ok = same_bytes(r.magic, "SVRC", 4) && k <= v->mask + 1;
        for (uint64_t j = 1; ok && j < k; j++)
            ok = LOAD(&v->seq[(pos + j) & v->mask], ACQ) == ((pos + j + 1) | SVR_CONT);
        if (ok) {
            *pos_out = pos;
            *len_out = (uint32_t)total;
            return 1;
        }
        *pos_out = pos;  /* committed but not a record: only garbage does that */
        return 2;
    }
    uint64_t head = LOAD(&h->head, ACQ);
    if (head == pos || !final)
        return 0;  /* empty, or a producer is still writing there */
    *pos_out = pos;  /* claimed and never committed (or an orphan continuation) */
    return 2;
}

void svr_copy_out(const struct svr_view *v, uint64_t pos, void *dst, size_t len)
{
    uint64_t size = (v->mask + 1) * SVR_SLOT;
    uint64_t off = (pos * SVR_SLOT) & (size - 1);
    size_t first = len < size - off ? len : (size_t)(size - off);
    copy(dst, v->data + off, first);
    if (first < len)
        copy((uint8_t *)dst + first, v->data, len - first);
}

void svr_release(struct svr_view *v, uint64_t pos, uint64_t k)
{
    uint64_t n = v->mask + 1;
    for (uint64_t j = 0; j < k; j++)
        STORE(&v->seq[(pos + j) & v->mask], pos + j + n, REL);
    STORE(&v->h->tail, pos + k, REL);
}

void svr_skip(struct svr_view *v, uint64_t pos)
{
    STORE(&v->seq[pos & v->mask], pos + v->mask + 1, REL);
    STORE(&v->h->tail, pos + 1, REL);
}

void svr_wake_producers(struct svr_view *v, svr_raw_fn raw)
{
    struct svr_header *h = v->h;
    __atomic_fetch_add(&h->space_futex, 1, __ATOMIC_SEQ_CST);
    if (LOAD(&h->space_waiters, __ATOMIC_SEQ_CST))
        futex_wake(raw, &h->space_futex);
}

/* zlib's crc32 (reflected 0xedb88320), four bits at a time: no table to build */
uint32_t svr_crc32(uint32_t crc, const void *p, size_t n)
{
    static const uint32_t nib[16] = {
        0x00000000, 0x1db71064, 0x3b6e20c8, 0x26d930ac, 0x76dc4190, 0x6b6b51f4,
        0x4db26158, 0x5005713c, 0xedb88320, 0xf00f9344, 0xd6d6a3e8, 0xcb61b38c,
        0x9b64c2b0, 0x86d3d2d4, 0xa00ae278, 0xbdbdf21c};
    const uint8_t *b = p;
    crc = ~crc;
    while (n--) {
        crc ^= *b++;
        crc = (crc >> 4) ^ nib[crc & 15];
        crc = (crc >> 4) ^ nib[crc & 15];
    }
    return ~crc;
}
