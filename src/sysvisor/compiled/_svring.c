/* sysvisor.compiled._svring: the supervisor's side of a process's trace
 * ring (native/svring.h): take committed records out in order, give them
 * their file sequence numbers and checksums, free the slots; statistics;
 * closing; the TSC calibration the evaluator's clock can use. The Python
 * drainer is sysvisor.compiled.drain. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <linux/futex.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "svring.h"  /* native/, shared with the evaluator */

static long raw(long nr, long a, long b, long c, long d, long e, long f)
{
    long r = syscall(nr, a, b, c, d, e, f);
    return r == -1 ? -errno : r;
}

static uint32_t crc_table[256];

static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
        crc_table[i] = c;
    }
}

static uint32_t crc32_fast(uint32_t crc, const uint8_t *p, size_t n)
{
    crc = ~crc;
    while (n--)
        crc = crc_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
    return ~crc;
}

typedef struct {
    PyObject_HEAD
    Py_buffer buf;
    struct svr_view v;
    int open;
} Region;

static int Region_init(Region *self, PyObject *args, PyObject *kw)
{
    PyObject *obj;
    if (!PyArg_ParseTuple(args, "O", &obj))
        return -1;
    if (PyObject_GetBuffer(obj, &self->buf, PyBUF_WRITABLE) < 0)
        return -1;
    self->open = 1;
    if ((uintptr_t)self->buf.buf % 64 || svr_open(&self->v, self->buf.buf, (size_t)self->buf.len)) {
        PyErr_SetString(PyExc_ValueError, "not a trace ring region (or not laid out yet)");
        return -1;
    }
    return 0;
}

static void Region_dealloc(Region *self)
{
    if (self->open)
        PyBuffer_Release(&self->buf);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

struct out {
    uint8_t *p;
    size_t len, cap;
};

static int out_reserve(struct out *o, size_t n)
{
    if (o->len + n <= o->cap)
        return 0;
    size_t cap = o->cap ? o->cap : 1 << 16;
    while (cap < o->len + n)
        cap *= 2;
    uint8_t *p = PyMem_RawRealloc(o->p, cap);
    if (!p)
        return -1;
    o->p = p, o->cap = cap;
    return 0;
}

/* drain(seq, max_records=65536, pidns=0, cgroup=0, final=False)
 *   -> (records: bytes, count, special: bytes | None, lost_runs, lost_slots)
 * records: file-ready (sequence numbers from seq, CRCs); it stops after a
 * ring-only record (an exec held for amendment, an amendment), returned
 * as `special` (without seq/CRC) for the drainer to resolve. With final,
 * slots a dead producer left uncommitted are skipped and counted. */
static PyObject *Region_drain(Region *self, PyObject *args, PyObject *kw)
{
    static char *names[] = {"seq", "max_records", "pidns", "cgroup", "final", NULL};
    unsigned long long seq, pidns = 0, cgroup = 0;
    Py_ssize_t max_records = 65536;
    int final = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "K|nKKp", names, &seq, &max_records, &pidns,
                                     &cgroup, &final))
        return NULL;
    struct out o = {0};
    uint8_t *special = NULL;
    uint32_t special_len = 0;
    Py_ssize_t n = 0;
    long lost_runs = 0, lost_slots = 0;
    int in_run = 0, nomem = 0;
    struct svr_view *v = &self->v;
    Py_BEGIN_ALLOW_THREADS
    while (n < max_records) {
        uint64_t pos;
        uint32_t len;
        int r = svr_peek(v, final, &pos, &len);
        if (r == 0)
            break;
        if (r == 2) {
            if (n || special)
                break;  /* end the batch at the gap: the loss goes in the file in its place */
            svr_skip(v, pos);
            lost_slots++;
            if (!in_run)
                lost_runs++;
            in_run = 1;
            continue;
        }
        if (in_run)
            break;  /* the gap is skipped: report it before the records after it */
        uint64_t k = (len + SVR_SLOT - 1) / SVR_SLOT;
        struct svt_record hdr;
        svr_copy_out(v, pos, &hdr, sizeof hdr);
        if (hdr.type >= 0x80 || (hdr.flags & SVT_HELD)) {
            special = PyMem_RawMalloc(len);
            if (!special) {
                nomem = 1;
                break;
            }
            svr_copy_out(v, pos, special, len);
            special_len = len;
            svr_release(v, pos, k);
            break;
        }
        if (out_reserve(&o, len)) {
            nomem = 1;
            break;
        }
        uint8_t *rec = o.p + o.len;
        svr_copy_out(v, pos, rec, len);
        svr_release(v, pos, k);
        struct svt_record *h = (struct svt_record *)rec;
        h->seq = seq + (uint64_t)n;
        if (!h->pidns)
            h->pidns = pidns;
        if (!h->cgroup)
            h->cgroup = cgroup;
        uint32_t crc = crc32_fast(0, rec, SVT_RECORD_SIZE - 4);
        crc = crc32_fast(crc, rec + SVT_RECORD_SIZE, len - SVT_RECORD_SIZE);
        h->crc = crc;
        o.len += len;
        n++;
        if ((n & 1023) == 0)  /* a long batch: let blocked producers go on meanwhile */
            svr_wake_producers(v, raw);
    }
    svr_wake_producers(v, raw);
    Py_END_ALLOW_THREADS
    if (nomem) {
        PyMem_RawFree(o.p);
        PyMem_RawFree(special);
        return PyErr_NoMemory();
    }
    PyObject *data = PyBytes_FromStringAndSize((const char *)o.p, (Py_ssize_t)o.len);
    PyMem_RawFree(o.p);
    PyObject *sp;
    if (special) {
        sp = PyBytes_FromStringAndSize((const char *)special, special_len);
        PyMem_RawFree(special);
    } else {
        sp = Py_NewRef(Py_None);
    }
    if (!data || !sp) {
        Py_XDECREF(data);
        Py_XDECREF(sp);
        return NULL;
    }
    return Py_BuildValue("(NnNll)", data, n, sp, lost_runs, lost_slots);
}

static PyObject *Region_stats(Region *self, PyObject *unused)
{
    struct svr_header *h = self->v.h;
#define L(f) (unsigned long long)__atomic_load_n(&h->f, __ATOMIC_RELAXED)
    return Py_BuildValue("{s:K,s:K,s:K,s:K,s:K,s:K,s:K,s:K,s:K,s:i,s:I,s:K}",
                         "head", L(head), "tail", L(tail), "nslots", (unsigned long long)h->nslots,
                         "dropped", L(dropped), "dropped_bytes", L(dropped_bytes),
                         "too_big", L(too_big), "thread_overflow", L(thread_overflow),
                         "blocked", L(blocked), "written", L(written), "pid", h->pid,
                         "flags", h->flags, "ring_bytes",
                         (unsigned long long)(h->nslots * SVR_SLOT));
#undef L
}

/* close(): the consumer goes: blocked producers wake and drop from now on */
static PyObject *Region_close(Region *self, PyObject *unused)
{
    struct svr_header *h = self->v.h;
    __atomic_fetch_or(&h->flags, SVR_F_CLOSED, __ATOMIC_SEQ_CST);
    __atomic_fetch_add(&h->space_futex, 1, __ATOMIC_SEQ_CST);
    syscall(SYS_futex, &h->space_futex, FUTEX_WAKE, 0x7fffffff, NULL, NULL, 0);
    Py_RETURN_NONE;
}

/* wait(timeout): sleep until producers fill a quarter of the ring, or timeout s */
static PyObject *Region_wait(Region *self, PyObject *args)
{
    double timeout;
    if (!PyArg_ParseTuple(args, "d", &timeout))
        return NULL;
    struct svr_header *h = self->v.h;
    uint32_t seen = __atomic_load_n(&h->data_futex, __ATOMIC_ACQUIRE);
    __atomic_store_n(&h->consumer_waiting, 1, __ATOMIC_SEQ_CST);
    uint64_t used = __atomic_load_n(&h->head, __ATOMIC_SEQ_CST) - __atomic_load_n(&h->tail, __ATOMIC_RELAXED);
    if (used * 4 < h->nslots) {
        struct timespec ts = {(time_t)timeout, (long)((timeout - (time_t)timeout) * 1e9)};
        Py_BEGIN_ALLOW_THREADS
        syscall(SYS_futex, &h->data_futex, FUTEX_WAIT, seen, &ts, NULL, 0);
        Py_END_ALLOW_THREADS
    }
    __atomic_store_n(&h->consumer_waiting, 0, __ATOMIC_RELAXED);
    Py_RETURN_NONE;
}

static PyObject *Region_pending(Region *self, PyObject *unused)
{
    struct svr_header *h = self->v.h;
    uint64_t used = __atomic_load_n(&h->head, __ATOMIC_ACQUIRE) - __atomic_load_n(&h->tail, __ATOMIC_RELAXED);
    return PyLong_FromUnsignedLongLong(used);
}

/* set_clock(kind, tsc_base=0, ns_base=0, mult=0, shift=0): the evaluator's clock */
static PyObject *Region_set_clock(Region *self, PyObject *args)
{
    unsigned int kind, mult = 0, shift = 0;
    unsigned long long tsc_base = 0;
    long long ns_base = 0;
    if (!PyArg_ParseTuple(args, "I|KLII", &kind, &tsc_base, &ns_base, &mult, &shift))
        return NULL;
    struct svr_header *h = self->v.h;
    __atomic_fetch_add(&h->clock_seq, 1, __ATOMIC_ACQ_REL);  /* odd: being written */
    h->tsc_base = tsc_base, h->ns_base = ns_base, h->tsc_mult = mult, h->tsc_shift = shift;
    __atomic_store_n(&h->clock_kind, kind, __ATOMIC_RELEASE);
    __atomic_fetch_add(&h->clock_seq, 1, __ATOMIC_ACQ_REL);
    Py_RETURN_NONE;
}

static PyMethodDef Region_methods[] = {
    {"drain", (PyCFunction)(void (*)(void))Region_drain, METH_VARARGS | METH_KEYWORDS,
     "drain(seq, max_records=65536, pidns=0, cgroup=0, final=False) -> "
     "(records, count, special, lost_runs, lost_slots)"},
    {"stats", (PyCFunction)Region_stats, METH_NOARGS, "the ring's counters"},
    {"close", (PyCFunction)Region_close, METH_NOARGS, "producers drop from now on"},
    {"wait", (PyCFunction)Region_wait, METH_VARARGS, "wait(timeout): until records pile up"},
    {"pending", (PyCFunction)Region_pending, METH_NOARGS, "slots claimed and not yet drained"},
    {"set_clock", (PyCFunction)Region_set_clock, METH_VARARGS,
     "set_clock(kind, tsc_base, ns_base, mult, shift)"},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject RegionType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "sysvisor.compiled._svring.Region",
    .tp_basicsize = sizeof(Region),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Region(buffer): the consumer side of a process's trace ring",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Region_init,
    .tp_dealloc = (destructor)Region_dealloc,
    .tp_methods = Region_methods,
};

#if defined(__x86_64__)
static inline uint64_t rdtsc(void)
{
    uint32_t lo, hi;
    __asm__ __volatile__("rdtsc" : "=a"(lo), "=d"(hi));
    return ((uint64_t)hi << 32) | lo;
}
#endif

/* calibrate_tsc(ms=20) -> (tsc_base, ns_base, mult, shift) | None:
 * CLOCK_REALTIME ns = ns_base + ((tsc - tsc_base) * mult >> shift) */
static PyObject *calibrate_tsc(PyObject *self, PyObject *args)
{
    int ms = 20;
    if (!PyArg_ParseTuple(args, "|i", &ms))
        return NULL;
#if defined(__x86_64__)
    struct timespec a, b;
    uint64_t t0, t1;
    Py_BEGIN_ALLOW_THREADS
    clock_gettime(CLOCK_REALTIME, &a);
    t0 = rdtsc();
    struct timespec d = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&d, NULL);
    clock_gettime(CLOCK_REALTIME, &b);
    t1 = rdtsc();
    Py_END_ALLOW_THREADS
    int64_t ns0 = (int64_t)a.tv_sec * 1000000000 + a.tv_nsec;
    int64_t ns1 = (int64_t)b.tv_sec * 1000000000 + b.tv_nsec;
    if (t1 <= t0 || ns1 <= ns0)
        Py_RETURN_NONE;
    uint32_t shift = 32;
    double per = (double)(ns1 - ns0) / (double)(t1 - t0);  /* ns per tick */
    double m = per * (double)(1ull << shift);
    while (m >= 4294967295.0 && shift > 0) {
        shift--;
        m /= 2;
    }
    return Py_BuildValue("(KLII)", (unsigned long long)t0, (long long)ns0, (unsigned)m, shift);
#else
    Py_RETURN_NONE;
#endif
}

static PyMethodDef module_methods[] = {
    {"calibrate_tsc", calibrate_tsc, METH_VARARGS, "calibrate_tsc(ms=20) -> (tsc_base, ns_base, mult, shift) | None"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_svring", NULL, -1, module_methods};

PyMODINIT_FUNC PyInit__svring(void)
{
    crc_init();
    if (PyType_Ready(&RegionType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&module);
    if (!m)
        return NULL;
    Py_INCREF(&RegionType);
    PyModule_AddObject(m, "Region", (PyObject *)&RegionType);
    PyModule_AddIntConstant(m, "CLOCK_SYSCALL", SVR_CLOCK_SYSCALL);
    PyModule_AddIntConstant(m, "CLOCK_TSC", SVR_CLOCK_TSC);
    PyModule_AddIntConstant(m, "SLOT", SVR_SLOT);
    return m;
}
