/* svring: the trace ring in the per-process shared region.
 *
 * Many producers (the threads of one process, in the evaluator), one
 * consumer (the supervisor). The ring is an array of 64-byte slots and a
 * parallel array of 64-bit sequence words (Vyukov's bounded queue, with
 * records spanning several slots):
 *
 *   seq[p % n] == p            position p is free (for this lap)
 *   seq[p % n] == p + 1        p is the first slot of a committed record
 *   seq[p % n] == (p+1)|CONT   p continues a record
 *
 * A producer claims k slots with one CAS on `head` (after checking that
 * the last of them is free: the consumer frees in order), copies the
 * record in, marks the continuation slots, then commits the first slot
 * with a release store: the consumer never sees half a record. A producer
 * that dies between the claim and the commit leaves uncommitted slots;
 * the consumer skips them, counted, only once it knows the process is
 * gone (`final`). Free-standing: no libc, system calls through `raw`. */
#ifndef SVRING_H
#define SVRING_H

#include <stddef.h>
#include <stdint.h>

#include "svformat.h"

typedef long (*svr_raw_fn)(long nr, long a0, long a1, long a2, long a3, long a4, long a5);

struct svr_view {
    struct svr_header *h;
    uint64_t *seq;
    uint8_t *data;
    uint64_t mask;
    uint64_t *counters;          /* process counters, then the overflow of thread ones */
    uint8_t *threads;
    uint8_t *scratch;            /* slot i's buffers at i x scratch_levels x scratch_bytes */
};

/* what the region needs besides the ring */
struct svr_geometry {
    uint32_t thread_slots, nthread_counters, nprocess_counters;
    uint32_t scratch_bytes, scratch_levels;  /* per thread slot, 64-aligned within it */
};

/* a thread slot: i32 tid (0 free, -1 freed), u32 depth (scratch levels in
 * use), nthread_counters x u64; the slots are contiguous (thread_stride
 * apart), then, page-aligned, slot i's scratch_levels x scratch_bytes of
 * call buffers (svr_scratch_area): a fresh region is never touched there
 * until a thread needs a buffer */
#define svr_head_stride(n) ((8 + 8ull * (n) + 63) & ~63ull)
#define svr_scratch_area(threads_off, slots, stride) \
    (((threads_off) + (uint64_t)(slots) * (stride) + 4095) & ~4095ull)

#define SVR_MIN_SLOTS 256

/* Lay the region out (or keep it when it already has this geometry: an
 * exec that keeps its region keeps counters and ids). 0, or -1 when it is
 * too small. flags: SVR_F_BLOCK. */
int svr_format(void *region, size_t len, const struct svr_geometry *g, uint32_t flags, int32_t pid);
/* Check a region laid out by svr_format and map its parts; 0 or -1. */
int svr_open(struct svr_view *v, void *region, size_t len);

/* Producer: append the record a (alen bytes) followed by b (blen bytes).
 * 0 written, -1 dropped (ring full and the policy is drop, the consumer
 * closed the ring, or the record is larger than the ring: counted). */
int svr_write(struct svr_view *v, const void *a, size_t alen, const void *b, size_t blen,
              svr_raw_fn raw);

/* Consumer. svr_peek: 1 and the record's position and length when a
 * committed record is at the tail; 0 when nothing is there yet; 2 when
 * the slot at the tail cannot start a record and `final` is set (a
 * producer died there, or garbage): skip it with svr_skip. */
int svr_peek(struct svr_view *v, int final, uint64_t *pos, uint32_t *len);
void svr_copy_out(const struct svr_view *v, uint64_t pos, void *dst, size_t len);
void svr_release(struct svr_view *v, uint64_t pos, uint64_t nslots);
void svr_skip(struct svr_view *v, uint64_t pos);
/* after releasing a batch: wake the producers waiting for room (once per
 * batch, not per record: 200 waiters woken per record is a storm) */
void svr_wake_producers(struct svr_view *v, svr_raw_fn raw);

/* zlib's crc32 */
uint32_t svr_crc32(uint32_t crc, const void *p, size_t n);

#endif
