/*
 * sysvisor._native: the few kernel primitives that sit on the hot path of
 * every stop (ptrace requests, syscall info, tracee memory) and the spawn
 * sequence that must run between fork and exec without touching Python.
 *
 * No policy lives here: these are thin, GIL-releasing wrappers that raise
 * OSError with errno like the os module does.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/filter.h>
#include <linux/seccomp.h>

#ifndef PTRACE_GET_SYSCALL_INFO
#define PTRACE_GET_SYSCALL_INFO 0x420e
#endif
#define SV_PTRACE_SET_SYSCALL_INFO 0x4212

/* struct ptrace_syscall_info, as in linux/ptrace.h (88 bytes). Declared here
 * because the installed headers (6.1) lack the 6.16 fields' users. */
struct sv_syscall_info {
    uint8_t op;
    uint8_t reserved;
    uint16_t flags;
    uint32_t arch;
    uint64_t instruction_pointer;
    uint64_t stack_pointer;
    union {
        struct { uint64_t nr; uint64_t args[6]; } entry;
        struct { int64_t rval; uint8_t is_error; } exit;
        struct { uint64_t nr; uint64_t args[6]; uint32_t ret_data; uint32_t reserved2; } seccomp;
    };
};

static PyObject *
errno_error(void)
{
    return PyErr_SetFromErrno(PyExc_OSError);
}

/* ptrace(request, pid, addr=0, data=0) -> int */
static PyObject *
sv_ptrace(PyObject *self, PyObject *args)
{
    long request, addr = 0, data = 0;
    int pid;
    long r;
    if (!PyArg_ParseTuple(args, "li|kk", &request, &pid, &addr, &data))
        return NULL;
    errno = 0;
    r = ptrace((enum __ptrace_request)request, pid, (void *)addr, (void *)data);
    if (r == -1 && errno)
        return errno_error();
    return PyLong_FromLong(r);
}

/* get_syscall_info(pid) -> tuple
 *   op 0 (none):    (0, arch, ip, sp)
 *   op 1 (entry):   (1, arch, ip, sp, nr, args)
 *   op 2 (exit):    (2, arch, ip, sp, rval, is_error)
 *   op 3 (seccomp): (3, arch, ip, sp, nr, args, ret_data)
 */
static PyObject *
sv_get_syscall_info(PyObject *self, PyObject *args)
{
    int pid;
    long r;
    struct sv_syscall_info si;
    if (!PyArg_ParseTuple(args, "i", &pid))
        return NULL;
    memset(&si, 0, sizeof si);
    r = ptrace((enum __ptrace_request)PTRACE_GET_SYSCALL_INFO, pid, (void *)sizeof si, &si);
    if (r < 0)
        return errno_error();
    switch (si.op) {
    case 1:
    case 3: {
        const uint64_t *a = si.op == 1 ? si.entry.args : si.seccomp.args;
        PyObject *t = Py_BuildValue("(KKKKKK)",
            (unsigned long long)a[0], (unsigned long long)a[1], (unsigned long long)a[2],
            (unsigned long long)a[3], (unsigned long long)a[4], (unsigned long long)a[5]);
        if (!t)
            return NULL;
        if (si.op == 1)
            return Py_BuildValue("(iIKKKN)", 1, si.arch,
                (unsigned long long)si.instruction_pointer,
                (unsigned long long)si.stack_pointer,
                (unsigned long long)si.entry.nr, t);
        return Py_BuildValue("(iIKKKNI)", 3, si.arch,
            (unsigned long long)si.instruction_pointer,
            (unsigned long long)si.stack_pointer,
            (unsigned long long)si.seccomp.nr, t, si.seccomp.ret_data);
    }
    case 2:
        return Py_BuildValue("(iIKKLi)", 2, si.arch,
            (unsigned long long)si.instruction_pointer,
            (unsigned long long)si.stack_pointer,
            (long long)si.exit.rval, (int)si.exit.is_error);
    default:
        return Py_BuildValue("(iIKK)", (int)si.op, si.arch,
            (unsigned long long)si.instruction_pointer,
            (unsigned long long)si.stack_pointer);
    }
}

/* set_syscall_info(pid, op, nr_or_rval, args_or_is_error) (Linux >= 6.16)
 *   op 1/3: nr and a 6-tuple of args (nr = -1 skips the syscall)
 *   op 2:   rval and is_error
 */
static PyObject *
sv_set_syscall_info(PyObject *self, PyObject *args)
{
    int pid, op;
    long long value;
    PyObject *rest;
    struct sv_syscall_info si;
    if (!PyArg_ParseTuple(args, "iiLO", &pid, &op, &value, &rest))
        return NULL;
    /* The kernel validates op against the current stop and ignores arch,
     * ip and sp, so start from the current state to keep flags sane. */
    memset(&si, 0, sizeof si);
    if (ptrace((enum __ptrace_request)PTRACE_GET_SYSCALL_INFO, pid, (void *)sizeof si, &si) < 0)
        return errno_error();
    si.op = (uint8_t)op;
    si.reserved = 0;
    si.flags = 0;
    if (op == 1 || op == 3) {
        uint64_t *a = op == 1 ? si.entry.args : si.seccomp.args;
        Py_ssize_t i, n;
        PyObject *seq = PySequence_Fast(rest, "args must be a sequence");
        if (!seq)
            return NULL;
        n = PySequence_Fast_GET_SIZE(seq);
        if (n > 6) n = 6;
        for (i = 0; i < n; i++) {
            unsigned long long v = PyLong_AsUnsignedLongLongMask(PySequence_Fast_GET_ITEM(seq, i));
            if (v == (unsigned long long)-1 && PyErr_Occurred()) {
                Py_DECREF(seq);
                return NULL;
            }
            a[i] = v;
        }
        Py_DECREF(seq);
        if (op == 1)
            si.entry.nr = (uint64_t)value;
        else
            si.seccomp.nr = (uint64_t)value;
    } else if (op == 2) {
        si.exit.rval = value;
        si.exit.is_error = (uint8_t)PyObject_IsTrue(rest);
    } else {
        PyErr_SetString(PyExc_ValueError, "op must be 1 (entry), 2 (exit) or 3 (seccomp)");
        return NULL;
    }
    if (ptrace((enum __ptrace_request)SV_PTRACE_SET_SYSCALL_INFO, pid, (void *)sizeof si, &si) < 0)
        return errno_error();
    Py_RETURN_NONE;
}

/* getregset(pid, nt, size) -> bytes (as long as the kernel filled) */
static PyObject *
sv_getregset(PyObject *self, PyObject *args)
{
    int pid, nt;
    Py_ssize_t size = 512;
    char buf[1024];
    struct iovec iov;
    if (!PyArg_ParseTuple(args, "ii|n", &pid, &nt, &size))
        return NULL;
    if (size <= 0 || size > (Py_ssize_t)sizeof buf)
        size = sizeof buf;
    iov.iov_base = buf;
    iov.iov_len = (size_t)size;
    if (ptrace(PTRACE_GETREGSET, pid, (void *)(long)nt, &iov) < 0)
        return errno_error();
    return PyBytes_FromStringAndSize(buf, (Py_ssize_t)iov.iov_len);
}

static PyObject *
sv_setregset(PyObject *self, PyObject *args)
{
    int pid, nt;
    Py_buffer b;
    struct iovec iov;
    long r;
    if (!PyArg_ParseTuple(args, "iiy*", &pid, &nt, &b))
        return NULL;
    iov.iov_base = b.buf;
    iov.iov_len = (size_t)b.len;
    r = ptrace(PTRACE_SETREGSET, pid, (void *)(long)nt, &iov);
    PyBuffer_Release(&b);
    if (r < 0)
        return errno_error();
    Py_RETURN_NONE;
}

static PyObject *
sv_geteventmsg(PyObject *self, PyObject *args)
{
    int pid;
    unsigned long msg = 0;
    if (!PyArg_ParseTuple(args, "i", &pid))
        return NULL;
    if (ptrace(PTRACE_GETEVENTMSG, pid, 0, &msg) < 0)
        return errno_error();
    return PyLong_FromUnsignedLong(msg);
}

/* getsiginfo(pid) -> bytes(128) */
static PyObject *
sv_getsiginfo(PyObject *self, PyObject *args)
{
    int pid;
    siginfo_t si;
    if (!PyArg_ParseTuple(args, "i", &pid))
        return NULL;
    memset(&si, 0, sizeof si);
    if (ptrace(PTRACE_GETSIGINFO, pid, 0, &si) < 0)
        return errno_error();
    return PyBytes_FromStringAndSize((const char *)&si, sizeof si);
}

/* ---- tracee memory ---------------------------------------------------- */

static int use_proc_mem = 0;  /* set once process_vm_readv says ENOSYS */

static ssize_t
proc_mem_io(pid_t pid, uint64_t addr, void *buf, size_t len, int write)
{
    char path[64];
    int fd;
    ssize_t r;
    snprintf(path, sizeof path, "/proc/%d/mem", (int)pid);
    fd = open(path, (write ? O_WRONLY : O_RDONLY) | O_CLOEXEC);
    if (fd < 0)
        return -1;
    r = write ? pwrite(fd, buf, len, (off_t)addr) : pread(fd, buf, len, (off_t)addr);
    close(fd);
    return r;
}

/* Read up to len bytes; stop at the first unreadable page. Returns bytes read
 * or -1 when nothing at all could be read. */
static ssize_t
mem_read(pid_t pid, uint64_t addr, char *buf, size_t len)
{
    size_t done = 0;
    while (done < len) {
        ssize_t r;
        /* Never cross a page in one request: a partial failure of
         * process_vm_readv is reported per iovec, so we go page by page. */
        size_t chunk = 4096 - ((addr + done) & 4095);
        if (chunk > len - done)
            chunk = len - done;
        if (!use_proc_mem) {
            struct iovec local = { buf + done, chunk };
            struct iovec remote = { (void *)(uintptr_t)(addr + done), chunk };
            r = process_vm_readv(pid, &local, 1, &remote, 1, 0);
            if (r < 0 && errno == ENOSYS) {
                use_proc_mem = 1;
                continue;
            }
        } else {
            r = proc_mem_io(pid, addr + done, buf + done, chunk, 0);
        }
        if (r <= 0)
            break;
        done += (size_t)r;
        if ((size_t)r < chunk)
            break;
    }
    if (done == 0 && len > 0)
        return -1;
    return (ssize_t)done;
}

/* read_mem(pid, addr, size) -> bytes or None (nothing readable) */
static PyObject *
sv_read_mem(PyObject *self, PyObject *args)
{
    int pid;
    unsigned long long addr;
    Py_ssize_t size;
    PyObject *out;
    ssize_t r;
    if (!PyArg_ParseTuple(args, "iKn", &pid, &addr, &size))
        return NULL;
    if (size < 0 || size > (1 << 26)) {
        PyErr_SetString(PyExc_ValueError, "size out of range");
        return NULL;
    }
    out = PyBytes_FromStringAndSize(NULL, size);
    if (!out)
        return NULL;
    Py_BEGIN_ALLOW_THREADS
    r = mem_read(pid, addr, PyBytes_AS_STRING(out), (size_t)size);
    Py_END_ALLOW_THREADS
    if (r < 0) {
        Py_DECREF(out);
        Py_RETURN_NONE;
    }
    if (r < size)
        _PyBytes_Resize(&out, r);
    return out;
}

/* read_str(pid, addr, maxlen) -> (bytes, complete) or None when addr is
 * unreadable. complete is False when maxlen was reached before a NUL or the
 * string ran into an unreadable page. */
static PyObject *
sv_read_str(PyObject *self, PyObject *args)
{
    int pid;
    unsigned long long addr;
    Py_ssize_t maxlen;
    char stackbuf[4096];
    char *buf = stackbuf;
    size_t done = 0, cap;
    int complete = 0, failed = 0;
    PyObject *res;
    if (!PyArg_ParseTuple(args, "iKn", &pid, &addr, &maxlen))
        return NULL;
    if (maxlen < 0)
        maxlen = 0;
    cap = (size_t)maxlen + 1;
    if (cap > sizeof stackbuf) {
        buf = PyMem_Malloc(cap);
        if (!buf)
            return PyErr_NoMemory();
    }
    Py_BEGIN_ALLOW_THREADS
    while (done < cap) {
        size_t chunk = 4096 - ((addr + done) & 4095);
        ssize_t r;
        char *nul;
        if (chunk > cap - done)
            chunk = cap - done;
        r = mem_read(pid, addr + done, buf + done, chunk);
        if (r <= 0) {
            failed = done == 0;
            break;
        }
        nul = memchr(buf + done, 0, (size_t)r);
        if (nul) {
            done = (size_t)(nul - buf);
            complete = 1;
            break;
        }
        done += (size_t)r;
        if ((size_t)r < chunk)
            break;
    }
    Py_END_ALLOW_THREADS
    if (failed) {
        if (buf != stackbuf)
            PyMem_Free(buf);
        Py_RETURN_NONE;
    }
    if (done > (size_t)maxlen)
        done = (size_t)maxlen;
    res = Py_BuildValue("(y#O)", buf, (Py_ssize_t)done, complete ? Py_True : Py_False);
    if (buf != stackbuf)
        PyMem_Free(buf);
    return res;
}

/* write_mem(pid, addr, data) -> bytes written */
static PyObject *
sv_write_mem(PyObject *self, PyObject *args)
{
    int pid;
    unsigned long long addr;
    Py_buffer b;
    ssize_t r = -1;
    if (!PyArg_ParseTuple(args, "iKy*", &pid, &addr, &b))
        return NULL;
    Py_BEGIN_ALLOW_THREADS
    if (!use_proc_mem) {
        struct iovec local = { b.buf, (size_t)b.len };
        struct iovec remote = { (void *)(uintptr_t)addr, (size_t)b.len };
        r = process_vm_writev(pid, &local, 1, &remote, 1, 0);
        /* process_vm_writev obeys page protections; /proc/PID/mem writes
         * like a debugger (FOLL_FORCE), so it also reaches read-only maps. */
        if (r < 0 && (errno == ENOSYS || errno == EFAULT))
            r = proc_mem_io(pid, addr, b.buf, (size_t)b.len, 1);
    } else {
        r = proc_mem_io(pid, addr, b.buf, (size_t)b.len, 1);
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&b);
    if (r < 0)
        return errno_error();
    return PyLong_FromSsize_t(r);
}

/* ---- confinement primitives (layers/confine.py, kernel/landlock.py) ------ */

#ifndef SYS_openat2
#define SYS_openat2 437
#endif
#ifndef SYS_landlock_create_ruleset
#define SYS_landlock_create_ruleset 444
#define SYS_landlock_add_rule 445
#define SYS_landlock_restrict_self 446
#endif
#ifndef SYS_renameat2
#define SYS_renameat2 316
#endif
#ifndef SYS_statx
#define SYS_statx 332
#endif
#ifndef SYS_kcmp
#define SYS_kcmp 312
#endif

struct sv_open_how { uint64_t flags; uint64_t mode; uint64_t resolve; };
struct sv_landlock_path_beneath { uint64_t allowed_access; int32_t parent_fd; } __attribute__((packed));
struct sv_landlock_ruleset_attr { uint64_t handled_access_fs; uint64_t handled_access_net; uint64_t scoped; };

/* openat2(dirfd, path, flags, mode, resolve) -> fd (GIL released) */
static PyObject *
sv_openat2(PyObject *self, PyObject *args)
{
    int dirfd;
    const char *path;
    unsigned long long flags, mode, resolve;
    struct sv_open_how how;
    long r;
    if (!PyArg_ParseTuple(args, "iyKKK", &dirfd, &path, &flags, &mode, &resolve))
        return NULL;
    how.flags = flags; how.mode = mode; how.resolve = resolve;
    Py_BEGIN_ALLOW_THREADS
    r = syscall(SYS_openat2, dirfd, path, &how, sizeof how);
    Py_END_ALLOW_THREADS
    if (r < 0)
        return errno_error();
    return PyLong_FromLong(r);
}

/* statx(dirfd, path, flags, mask) -> bytes(256): the raw struct statx */
static PyObject *
sv_statx(PyObject *self, PyObject *args)
{
    int dirfd, flags;
    unsigned int mask;
    const char *path;
    char buf[256];
    long r;
    if (!PyArg_ParseTuple(args, "iyiI", &dirfd, &path, &flags, &mask))
        return NULL;
    memset(buf, 0, sizeof buf);
    Py_BEGIN_ALLOW_THREADS
    r = syscall(SYS_statx, dirfd, path, flags, mask, buf);
    Py_END_ALLOW_THREADS
    if (r < 0)
        return errno_error();
    return PyBytes_FromStringAndSize(buf, sizeof buf);
}

/* fstatfs(fd) -> bytes: the raw native struct statfs (works on O_PATH fds) */
static PyObject *
sv_fstatfs_raw(PyObject *self, PyObject *args)
{
    int fd;
    long r;
    char buf[256];
    if (!PyArg_ParseTuple(args, "i", &fd))
        return NULL;
    memset(buf, 0, sizeof buf);
    r = syscall(SYS_fstatfs, fd, buf);
    if (r < 0)
        return errno_error();
    return PyBytes_FromStringAndSize(buf, 120);
}

/* renameat2(olddirfd, old, newdirfd, new, flags) */
static PyObject *
sv_renameat2(PyObject *self, PyObject *args)
{
    int od, nd;
    unsigned int flags;
    const char *o, *n;
    long r;
    if (!PyArg_ParseTuple(args, "iyiyI", &od, &o, &nd, &n, &flags))
        return NULL;
    Py_BEGIN_ALLOW_THREADS
    r = syscall(SYS_renameat2, od, o, nd, n, flags);
    Py_END_ALLOW_THREADS
    if (r < 0)
        return errno_error();
    Py_RETURN_NONE;
}

/* fchownat(dirfd, path, uid, gid, flags): path may be b"" with AT_EMPTY_PATH */
static PyObject *
sv_fchownat(PyObject *self, PyObject *args)
{
    int dirfd, flags;
    long long uid, gid;
    const char *path;
    if (!PyArg_ParseTuple(args, "iyLLi", &dirfd, &path, &uid, &gid, &flags))
        return NULL;
    if (syscall(SYS_fchownat, dirfd, path, (uid_t)uid, (gid_t)gid, flags) < 0)
        return errno_error();
    Py_RETURN_NONE;
}

/* utimensat(dirfd, path, times, flags): times is None or the raw
 * struct timespec[2] (32 bytes, UTIME_NOW/UTIME_OMIT kept) */
static PyObject *
sv_utimensat(PyObject *self, PyObject *args)
{
    int dirfd, flags;
    const char *path;
    PyObject *times;
    char tbuf[32];
    if (!PyArg_ParseTuple(args, "iyOi", &dirfd, &path, &times, &flags))
        return NULL;
    if (times != Py_None) {
        if (!PyBytes_Check(times) || PyBytes_GET_SIZE(times) != 32) {
            PyErr_SetString(PyExc_ValueError, "times must be 32 bytes or None");
            return NULL;
        }
        memcpy(tbuf, PyBytes_AS_STRING(times), 32);
    }
    if (syscall(SYS_utimensat, dirfd, (*path || (flags & AT_EMPTY_PATH)) ? path : NULL, times == Py_None ? NULL : tbuf,
                flags) < 0)
        return errno_error();
    Py_RETURN_NONE;
}

/* inotify_add_watch(fd, path, mask) -> wd */
static PyObject *
sv_inotify_add_watch(PyObject *self, PyObject *args)
{
    int fd;
    unsigned int mask;
    const char *path;
    long r;
    if (!PyArg_ParseTuple(args, "iyI", &fd, &path, &mask))
        return NULL;
    r = syscall(SYS_inotify_add_watch, fd, path, mask);
    if (r < 0)
        return errno_error();
    return PyLong_FromLong(r);
}

/* kcmp(pid1, pid2, type, idx1=0, idx2=0) -> 0 equal, 1/2 ordered, 3 unequal */
static PyObject *
sv_kcmp(PyObject *self, PyObject *args)
{
    int p1, p2, type;
    unsigned long i1 = 0, i2 = 0;
    long r;
    if (!PyArg_ParseTuple(args, "iii|kk", &p1, &p2, &type, &i1, &i2))
        return NULL;
    r = syscall(SYS_kcmp, p1, p2, type, i1, i2);
    if (r < 0)
        return errno_error();
    return PyLong_FromLong(r);
}

/* proc_status(tid) -> (umask, (ruid, euid, suid, fsuid), (rgid, egid, sgid, fsgid),
 *                      groups, cap_effective, threads)
 * parsed from /proc/TID/status in one read: what acting on a task's behalf
 * needs to know about its credentials (umask -1 if the kernel omits it). */
static int
status_field(const char *buf, const char *key, const char **val)
{
    const char *p = buf;
    size_t klen = strlen(key);
    while (p && *p) {
        if (strncmp(p, key, klen) == 0 && p[klen] == ':') {
            *val = p + klen + 1;
            return 1;
        }
        p = strchr(p, '\n');
        if (p)
            p++;
    }
    return 0;
}

static int
parse_ids(const char *buf, const char *key, long out[4])
{
    const char *v;
    char *end;
    int i;
    if (!status_field(buf, key, &v))
        return 0;
    for (i = 0; i < 4; i++) {
        out[i] = strtol(v, &end, 10);
        if (end == v)
            return 0;
        v = end;
    }
    return 1;
}

static PyObject *
sv_proc_status(PyObject *self, PyObject *args)
{
    int tid, fd;
    char path[64], buf[8192];
    ssize_t n = 0, r;
    long uids[4], gids[4], umask_v = -1, threads = 0;
    unsigned long long capeff = 0;
    const char *v;
    PyObject *groups, *res;
    if (!PyArg_ParseTuple(args, "i", &tid))
        return NULL;
    snprintf(path, sizeof path, "/proc/%d/status", tid);
    Py_BEGIN_ALLOW_THREADS
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        while (n < (ssize_t)sizeof buf - 1 && (r = read(fd, buf + n, sizeof buf - 1 - n)) > 0)
            n += r;
        close(fd);
    }
    Py_END_ALLOW_THREADS
    if (fd < 0)
        return errno_error();
    buf[n] = 0;
    if (!parse_ids(buf, "Uid", uids) || !parse_ids(buf, "Gid", gids)) {
        errno = EIO;
        return errno_error();
    }
    if (status_field(buf, "Umask", &v))
        umask_v = strtol(v, NULL, 8);
    if (status_field(buf, "Threads", &v))
        threads = strtol(v, NULL, 10);
    if (status_field(buf, "CapEff", &v))
        capeff = strtoull(v, NULL, 16);
    groups = PyList_New(0);
    if (!groups)
        return NULL;
    if (status_field(buf, "Groups", &v)) {
        char *end;
        for (;;) {
            long g;
            while (*v == ' ' || *v == '\t')
                v++;
            if (*v == '\n' || !*v)
                break;
            g = strtol(v, &end, 10);
            if (end == v)
                break;
            PyObject *o = PyLong_FromLong(g);
            if (!o || PyList_Append(groups, o) < 0) {
                Py_XDECREF(o);
                Py_DECREF(groups);
                return NULL;
            }
            Py_DECREF(o);
            v = end;
        }
    }
    res = Py_BuildValue("(l(llll)(llll)NKl)", umask_v, uids[0], uids[1], uids[2], uids[3],
                        gids[0], gids[1], gids[2], gids[3], PyList_AsTuple(groups), capeff, threads);
    Py_DECREF(groups);
    return res;
}

/* thread_creds(uids, gids, groups, cap_effective): set the calling THREAD's
 * credentials with raw system calls (glibc's set*id would change every
 * thread of the supervisor): uids and gids are (real, effective, saved, fs),
 * groups a sequence or None (unchanged), cap_effective a mask or -1
 * (unchanged; it can only be raised within the permitted set). Going from
 * a non-root euid back to root, the uids change first (to get CAP_SETGID
 * back), otherwise last. Used by a root supervisor to act as the program
 * it serves (layers/confine), and to return. */
struct sv_cap_header { uint32_t version; int pid; };
struct sv_cap_data { uint32_t effective, permitted, inheritable; };

static PyObject *
sv_thread_creds(PyObject *self, PyObject *args)
{
    long u[4], g[4];
    long long capeff;
    PyObject *groups;
    gid_t gl[256];
    Py_ssize_t i, n = -1;
    int up;
    if (!PyArg_ParseTuple(args, "(llll)(llll)OL", &u[0], &u[1], &u[2], &u[3],
                          &g[0], &g[1], &g[2], &g[3], &groups, &capeff))
        return NULL;
    if (groups != Py_None) {
        PyObject *fast = PySequence_Fast(groups, "groups must be a sequence");
        if (!fast)
            return NULL;
        n = PySequence_Fast_GET_SIZE(fast);
        if (n > 256) {
            Py_DECREF(fast);
            PyErr_SetString(PyExc_ValueError, "too many groups");
            return NULL;
        }
        for (i = 0; i < n; i++)
            gl[i] = (gid_t)PyLong_AsLong(PySequence_Fast_GET_ITEM(fast, i));
        Py_DECREF(fast);
        if (PyErr_Occurred())
            return NULL;
    }
    up = u[1] == 0 && syscall(SYS_geteuid) != 0;
    if (up && syscall(SYS_setresuid, (uid_t)u[0], (uid_t)u[1], (uid_t)u[2]) < 0)
        return errno_error();
    if (n >= 0 && syscall(SYS_setgroups, (int)n, gl) < 0)
        return errno_error();
    if (syscall(SYS_setresgid, (gid_t)g[0], (gid_t)g[1], (gid_t)g[2]) < 0)
        return errno_error();
    syscall(SYS_setfsgid, (gid_t)g[3]);
    if (!up && syscall(SYS_setresuid, (uid_t)u[0], (uid_t)u[1], (uid_t)u[2]) < 0)
        return errno_error();
    syscall(SYS_setfsuid, (uid_t)u[3]);
    /* setfsuid/setfsgid report nothing: check that the change took effect */
    if (syscall(SYS_setfsuid, (uid_t)-1) != (long)(uid_t)u[3] ||
        syscall(SYS_setfsgid, (gid_t)-1) != (long)(gid_t)g[3]) {
        errno = EPERM;
        return errno_error();
    }
    if (capeff >= 0) {
        struct sv_cap_header h = { 0x20080522 /* _LINUX_CAPABILITY_VERSION_3 */, 0 };
        struct sv_cap_data d[2];
        if (syscall(SYS_capget, &h, d) < 0)
            return errno_error();
        d[0].effective = (uint32_t)capeff & d[0].permitted;
        d[1].effective = (uint32_t)((unsigned long long)capeff >> 32) & d[1].permitted;
        if (syscall(SYS_capset, &h, d) < 0)
            return errno_error();
    }
    Py_RETURN_NONE;
}

/* landlock_create_ruleset(handled_fs, handled_net=0, scoped=0, flags=0) -> fd;
 * flags=1 (LANDLOCK_CREATE_RULESET_VERSION) with zeros: the ABI version */
static PyObject *
sv_landlock_create_ruleset(PyObject *self, PyObject *args)
{
    unsigned long long fs, net = 0, scoped = 0;
    unsigned int flags = 0;
    struct sv_landlock_ruleset_attr attr;
    size_t size;
    long r;
    if (!PyArg_ParseTuple(args, "K|KKI", &fs, &net, &scoped, &flags))
        return NULL;
    attr.handled_access_fs = fs; attr.handled_access_net = net; attr.scoped = scoped;
    /* the smallest struct that holds what is asked for (older kernels
     * refuse sizes they do not know only when the extra fields are set) */
    size = scoped ? 24 : (net ? 16 : 8);
    if (flags)
        r = syscall(SYS_landlock_create_ruleset, NULL, 0, flags);
    else
        r = syscall(SYS_landlock_create_ruleset, &attr, size, 0);
    if (r < 0)
        return errno_error();
    return PyLong_FromLong(r);
}

/* landlock_add_path_rule(ruleset_fd, allowed_access, parent_fd) */
static PyObject *
sv_landlock_add_path_rule(PyObject *self, PyObject *args)
{
    int rfd, pfd;
    unsigned long long allowed;
    struct sv_landlock_path_beneath pb;
    if (!PyArg_ParseTuple(args, "iKi", &rfd, &allowed, &pfd))
        return NULL;
    pb.allowed_access = allowed;
    pb.parent_fd = pfd;
    if (syscall(SYS_landlock_add_rule, rfd, 1 /* LANDLOCK_RULE_PATH_BENEATH */, &pb, 0) < 0)
        return errno_error();
    Py_RETURN_NONE;
}

/* ---- spawning ---------------------------------------------------------- */

static char **
to_cstrv(PyObject *seq, PyObject **keep)
{
    Py_ssize_t i, n;
    char **v;
    PyObject *fast = PySequence_Fast(seq, "expected a sequence of bytes");
    if (!fast)
        return NULL;
    n = PySequence_Fast_GET_SIZE(fast);
    v = PyMem_Calloc((size_t)n + 1, sizeof(char *));
    if (!v) {
        Py_DECREF(fast);
        PyErr_NoMemory();
        return NULL;
    }
    for (i = 0; i < n; i++) {
        PyObject *item = PySequence_Fast_GET_ITEM(fast, i);
        if (!PyBytes_Check(item)) {
            PyErr_SetString(PyExc_TypeError, "expected bytes");
            PyMem_Free(v);
            Py_DECREF(fast);
            return NULL;
        }
        v[i] = PyBytes_AS_STRING(item);
    }
    *keep = fast;
    return v;
}

struct spawn_error {
    int stage;  /* 1 chdir, 2 no_new_privs, 3 seccomp, 4 execve, 5 start pipe */
    int err;
};

static void
child_fail(int fd, int stage)
{
    struct spawn_error e = { stage, errno };
    if (write(fd, &e, sizeof e) < 0) { /* nothing left to do */ }
    _exit(127);
}

/* spawn(path, argv, envp, cwd, filter, filter_flags[, exec_cookie, try_flags, landlock_fds])
 *   -> (pid, go_fd, err_fd)
 *
 * The child waits on go_fd until the supervisor has seized it, then installs
 * the seccomp filter (if any) and execs. A failure in the child is written to
 * err_fd as (stage, errno); a successful exec closes err_fd (CLOEXEC).
 *
 * Listener mode (exec_cookie != 0, for seccomp user notification): before
 * installing the filter the child writes (0, L) to err_fd, L being the fd
 * number the listener will get (the lowest free one: the child is single
 * threaded). It installs the filter with filter_flags | try_flags, falling
 * back to filter_flags alone on EINVAL (flags this kernel does not know),
 * and then makes no system call but
 * syscall(SYS_execve, path, argv, envp, exec_cookie): a filter that notifies
 * that execve (args[3] == cookie) holds the child in the kernel until the
 * supervisor has taken the listener with pidfd_getfd(L); the child's own
 * copy is O_CLOEXEC, so the program never sees it.
 *
 * landlock_fds: Landlock ruleset fds the child applies, in order, with
 * landlock_restrict_self after PR_SET_NO_NEW_PRIVS and before the seccomp
 * filter (stage 6 on failure): in listener mode the only system call after
 * seccomp() must be the cookie execve, so nothing else may follow it. The
 * layers hand them over with Layer.spawn_setup (sysvisor.spawn). */
static PyObject *
sv_spawn(PyObject *self, PyObject *args)
{
    PyObject *path, *argv_o, *envp_o, *cwd, *filt;
    unsigned int filter_flags, try_flags = 0;
    unsigned long long exec_cookie = 0;
    PyObject *keep_argv = NULL, *keep_envp = NULL;
    char **argv, **envp;
    int go[2], err[2];
    pid_t ppid, pid;
    struct sock_fprog prog = { 0, NULL };
    Py_buffer fb = { 0 };
    int have_filter = 0;
    PyObject *landlock_o = NULL;
    int landlock_fds[8];
    int n_landlock = 0, i;

    if (!PyArg_ParseTuple(args, "OOOOOI|KIO", &path, &argv_o, &envp_o, &cwd, &filt, &filter_flags,
                          &exec_cookie, &try_flags, &landlock_o))
        return NULL;
    if (landlock_o != NULL && landlock_o != Py_None) {
        PyObject *fast = PySequence_Fast(landlock_o, "landlock_fds must be a sequence of fds");
        if (!fast)
            return NULL;
        n_landlock = (int)PySequence_Fast_GET_SIZE(fast);
        if (n_landlock > 8) {
            Py_DECREF(fast);
            PyErr_SetString(PyExc_ValueError, "at most 8 Landlock rulesets");
            return NULL;
        }
        for (i = 0; i < n_landlock; i++)
            landlock_fds[i] = (int)PyLong_AsLong(PySequence_Fast_GET_ITEM(fast, i));
        Py_DECREF(fast);
        if (PyErr_Occurred())
            return NULL;
    }
    if (!PyBytes_Check(path) || (cwd != Py_None && !PyBytes_Check(cwd))) {
        PyErr_SetString(PyExc_TypeError, "path and cwd must be bytes");
        return NULL;
    }
    if (filt != Py_None) {
        if (PyObject_GetBuffer(filt, &fb, PyBUF_SIMPLE) < 0)
            return NULL;
        if (fb.len % 8 != 0 || fb.len == 0 || fb.len / 8 > 4096) {
            PyBuffer_Release(&fb);
            PyErr_SetString(PyExc_ValueError, "filter must be 1..4096 instructions of 8 bytes");
            return NULL;
        }
        prog.len = (unsigned short)(fb.len / 8);
        prog.filter = (struct sock_filter *)fb.buf;
        have_filter = 1;
    }
    argv = to_cstrv(argv_o, &keep_argv);
    if (!argv)
        goto fail_buf;
    envp = to_cstrv(envp_o, &keep_envp);
    if (!envp)
        goto fail_argv;
    if (pipe2(go, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0) {
        errno_error();
        goto fail_envp;
    }
    ppid = getpid();
    pid = fork();
    if (pid == 0) {
        /* Child: async-signal-safe calls only from here on. */
        sigset_t all;
        char c = 0;
        struct sigaction dfl;
        int s;
        close(go[1]);
        close(err[0]);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != ppid)
            _exit(127);
        /* Python ignores SIGPIPE and SIGXFSZ itself; ignored dispositions
         * survive execve, so restore those two, as subprocess does. Every
         * other ignored signal was ignored by whoever started us (nohup's
         * SIGHUP, a shell's background SIGINT/SIGQUIT) and stays ignored,
         * as under strace; handlers are reset by execve anyway. */
        memset(&dfl, 0, sizeof dfl);
        dfl.sa_handler = SIG_DFL;
        int restore[] = { SIGPIPE, SIGXFSZ };
        for (s = 0; s < (int)(sizeof restore / sizeof restore[0]); s++)
            sigaction(restore[s], &dfl, NULL);
        sigemptyset(&all);
        sigprocmask(SIG_SETMASK, &all, NULL);
        while (read(go[0], &c, 1) < 0 && errno == EINTR)
            ;
        if (c != 'g')
            _exit(127);
        close(go[0]);
        if (cwd != Py_None && chdir(PyBytes_AS_STRING(cwd)) < 0)
            child_fail(err[1], 1);
        if (have_filter || n_landlock) {
            if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
                child_fail(err[1], 2);
            /* Landlock backstop: the program, not the supervisor */
            for (i = 0; i < n_landlock; i++)
                if (syscall(SYS_landlock_restrict_self, landlock_fds[i], 0) < 0)
                    child_fail(err[1], 6);
        }
        if (have_filter) {
            if (exec_cookie) {
                struct spawn_error lis = { 0, -1 };
                long r;
                lis.err = fcntl(err[1], F_DUPFD_CLOEXEC, 0);
                if (lis.err < 0)
                    child_fail(err[1], 3);
                close(lis.err);
                if (write(err[1], &lis, sizeof lis) != (ssize_t)sizeof lis)
                    _exit(127);
                r = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, filter_flags | try_flags, &prog);
                if (r < 0 && errno == EINVAL && try_flags)
                    r = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, filter_flags, &prog);
                if (r < 0)
                    child_fail(err[1], 3);
                /* From here on every system call may be notified: the only
                 * one made before exec is the execve the filter always
                 * notifies (so the supervisor has the listener first). */
                syscall(SYS_execve, PyBytes_AS_STRING(path), argv, envp,
                        (unsigned long)exec_cookie, 0UL, 0UL);
                child_fail(err[1], 4);
            }
            if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, filter_flags, &prog) < 0)
                child_fail(err[1], 3);
        }
        execve(PyBytes_AS_STRING(path), argv, envp);
        child_fail(err[1], 4);
    }
    if (pid < 0) {
        errno_error();
        close(go[0]); close(go[1]); close(err[0]); close(err[1]);
        goto fail_envp;
    }
    close(go[0]);
    close(err[1]);
    PyMem_Free(envp);
    Py_XDECREF(keep_envp);
    PyMem_Free(argv);
    Py_XDECREF(keep_argv);
    if (have_filter)
        PyBuffer_Release(&fb);
    return Py_BuildValue("(iii)", (int)pid, go[1], err[0]);

fail_envp:
    PyMem_Free(envp);
    Py_XDECREF(keep_envp);
fail_argv:
    PyMem_Free(argv);
    Py_XDECREF(keep_argv);
fail_buf:
    if (have_filter)
        PyBuffer_Release(&fb);
    return NULL;
}

/* doorbell() -> pid: a child that sleeps forever and dies with its parent.
 * The supervisor traces it; a signal sent to it by any thread becomes a
 * ptrace stop that wakes the tracer thread out of waitpid, race-free. */
static PyObject *
sv_doorbell(PyObject *self, PyObject *noargs)
{
    pid_t ppid = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != ppid)
            _exit(0);
        for (;;)
            pause();
    }
    if (pid < 0)
        return errno_error();
    return PyLong_FromLong(pid);
}

/* install_filter(filter, flags) -> int: seccomp(SET_MODE_FILTER) on the
 * calling thread (after no_new_privs). Returns the syscall's result (a
 * listener fd with NEW_LISTENER). Irreversible: callers fork first. */
static PyObject *
sv_install_filter(PyObject *self, PyObject *args)
{
    Py_buffer fb;
    unsigned int flags;
    struct sock_fprog prog;
    long r;
    if (!PyArg_ParseTuple(args, "y*I", &fb, &flags))
        return NULL;
    prog.len = (unsigned short)(fb.len / 8);
    prog.filter = (struct sock_filter *)fb.buf;
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
        PyBuffer_Release(&fb);
        return errno_error();
    }
    r = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &prog);
    PyBuffer_Release(&fb);
    if (r < 0)
        return errno_error();
    return PyLong_FromLong(r);
}

/* wait(spin_ns, rusage) -> (pid, status[, stime]) : waitpid(-1, __WALL),
 * first polling with WNOHANG for up to spin_ns. A stop usually follows the
 * previous resume within microseconds; polling avoids putting the tracer
 * to sleep and paying a cross-CPU wakeup for it. */
static PyObject *
sv_wait(PyObject *self, PyObject *args)
{
    long long spin_ns = 0;
    int want_ru = 0, status = 0;
    pid_t pid = 0;
    struct rusage ru;
    struct timespec t0, t;
    if (!PyArg_ParseTuple(args, "|Lp", &spin_ns, &want_ru))
        return NULL;
    Py_BEGIN_ALLOW_THREADS
    if (spin_ns > 0) {
        clock_gettime(CLOCK_MONOTONIC, &t0);
        for (;;) {
            pid = wait4(-1, &status, __WALL | WNOHANG, want_ru ? &ru : NULL);
            if (pid != 0)
                break;
            clock_gettime(CLOCK_MONOTONIC, &t);
            if ((t.tv_sec - t0.tv_sec) * 1000000000LL + (t.tv_nsec - t0.tv_nsec) > spin_ns)
                break;
        }
    }
    while (pid == 0 || (pid < 0 && errno == EINTR)) {
        pid = wait4(-1, &status, __WALL, want_ru ? &ru : NULL);
        if (pid < 0 && errno == EINTR) {
            Py_BLOCK_THREADS
            if (PyErr_CheckSignals() < 0) {
                Py_UNBLOCK_THREADS
                pid = -2;
                break;
            }
            Py_UNBLOCK_THREADS
            pid = 0;
        }
    }
    Py_END_ALLOW_THREADS
    if (pid == -2)
        return NULL;
    if (pid < 0)
        return errno_error();
    if (want_ru)
        return Py_BuildValue("(iid)", (int)pid, status,
                             ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6);
    return Py_BuildValue("(ii)", (int)pid, status);
}

/* ---- seccomp user notification ----------------------------------------
 * Layouts from seccomp_unotify(2); declared here so that the module builds
 * against older headers. Constants as in linux/seccomp.h. */

#include <poll.h>
#include <sys/ioctl.h>
#include <pthread.h>
#include <sys/user.h>

struct sv_seccomp_data {
    int32_t nr;
    uint32_t arch;
    uint64_t instruction_pointer;
    uint64_t args[6];
};

struct sv_notif {
    uint64_t id;
    uint32_t pid;
    uint32_t flags;
    struct sv_seccomp_data data;
};

struct sv_notif_resp {
    uint64_t id;
    int64_t val;
    int32_t error;
    uint32_t flags;
};

struct sv_notif_addfd {
    uint64_t id;
    uint32_t flags;
    uint32_t srcfd;
    uint32_t newfd;
    uint32_t newfd_flags;
};

struct sv_notif_sizes {
    uint16_t seccomp_notif;
    uint16_t seccomp_notif_resp;
    uint16_t seccomp_data;
};

#define SV_NOTIF_RECV      0xc0502100UL
#define SV_NOTIF_SEND      0xc0182101UL
#define SV_NOTIF_ID_VALID  0x40082102UL
#define SV_NOTIF_ADDFD     0x40182103UL
#define SV_NOTIF_SET_FLAGS 0x40082104UL
#define SV_GET_NOTIF_SIZES 3

static size_t notif_size = 0;  /* the kernel's sizeof(struct seccomp_notif), or ours */
static size_t resp_size = 0;

static void
init_notif_sizes(void)
{
    struct sv_notif_sizes sz;
    if (notif_size)
        return;
    memset(&sz, 0, sizeof sz);
    if (syscall(SYS_seccomp, SV_GET_NOTIF_SIZES, 0, &sz) == 0) {
        notif_size = sz.seccomp_notif > sizeof(struct sv_notif) ? sz.seccomp_notif : sizeof(struct sv_notif);
        resp_size = sz.seccomp_notif_resp > sizeof(struct sv_notif_resp) ? sz.seccomp_notif_resp
                                                                         : sizeof(struct sv_notif_resp);
    } else {
        notif_size = sizeof(struct sv_notif);
        resp_size = sizeof(struct sv_notif_resp);
    }
}

/* notif_sizes() -> (seccomp_notif, seccomp_notif_resp, seccomp_data) */
static PyObject *
sv_notif_sizes(PyObject *self, PyObject *noargs)
{
    struct sv_notif_sizes sz;
    memset(&sz, 0, sizeof sz);
    if (syscall(SYS_seccomp, SV_GET_NOTIF_SIZES, 0, &sz) < 0)
        return errno_error();
    return Py_BuildValue("(iii)", sz.seccomp_notif, sz.seccomp_notif_resp, sz.seccomp_data);
}

/* ---- Confine's fast path ------------------------------------------------
 * The most frequent path calls of a confinement view (layers/confine/fast.py
 * says which, and why they are safe), answered right here in the receive
 * loop, without Python: read-only opens, the stat family and access, for a
 * simple absolute path (no "..", "." or "//", not /proc, not a stand-in
 * directory) that one openat2 under its mount's fd resolves with
 * RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS, after the
 * root's own top-level symlink (merged /usr: /lib -> usr/lib), if any, was
 * replaced by its text. The path is read once, NOTIF_ID_VALID is checked
 * after the read, the object is reopened from the O_PATH fd (opens: only
 * regular files, directories and the memory devices, so an open never
 * blocks this thread) and handed over with NOTIF_ADDFD + SEND, or its stat
 * written and answered. Anything else (other kinds of files, symlinks on
 * the way, writes to read-only mounts, O_CREAT, relative paths, the
 * answers the walk must give) goes to Python unchanged. Execs are decided
 * here too, with Landlock ("exec, decided in C" below). The configuration
 * is immutable while receivers run (the exec formats Python adds have
 * their own lock); `enabled` is cleared when the program's credentials may
 * differ from the supervisor's (Python then acts with the program's). */

enum { FK_NONE, FK_OPEN, FK_OPENAT, FK_STAT, FK_LSTAT, FK_NEWFSTATAT, FK_ACCESS, FK_FACCESSAT,
       FK_FACCESSAT2, FK_EXECVE, FK_EXECVEAT };
#define FAST_PENDING 64
#define FAST_NR 512
#define FAST_MAX 64
#define SV_AUDIT_ARCH_X86_64 0xC000003EU
#define SV_RESOLVE_FAST (0x08 | 0x04 | 0x02) /* BENEATH | NO_SYMLINKS | NO_MAGICLINKS */
#ifndef __O_TMPFILE
#define __O_TMPFILE 020000000
#endif

struct fast_prefix { char *s; size_t len; int fd; int ro; };

/* An exec that Python restarted with the view's files (execs.py), waiting
 * to be notified again: continued here when the thread, the path's address
 * and text and the file's inode are the ones registered (Landlock active:
 * Python registers nothing otherwise). */
struct fast_exec { int tid; uint64_t addr; char path[4096]; dev_t dev; ino_t ino; };
/* The format of a file Python parsed (execs.py's cache, same key), for the
 * execs decided here: a static ELF, or a dynamic one and its PT_INTERP; for
 * a loader Python ran explicitly, whether it takes --argv0 (0 unknown). */
struct fast_kind { dev_t dev; ino_t ino; int64_t mtime; int64_t size; int type; int argv0; char *interp; };
#define FAST_KINDS 256
struct fast_conf {
    int listener;
    volatile int enabled;
    int root_fd;
    int nmounts;
    struct fast_prefix mounts[FAST_MAX]; /* longest guest path first; "/" last */
    int nstand;
    struct fast_prefix stand[FAST_MAX];  /* "DIR/" of stand-in directories */
    int nfirst;
    struct fast_prefix first[FAST_MAX];  /* first components of the binds */
    unsigned char kind[FAST_NR];
    volatile unsigned long handled;
    struct fast_exec pending[FAST_PENDING];
    unsigned int next_pending;
    volatile int exec_fresh;  /* fresh execs decided here too (Landlock active) */
    pthread_mutex_t kinds_lock;
    struct fast_kind kinds[FAST_KINDS];
};

static struct fast_conf *fast_confs[16];

static struct fast_conf *
fast_for(int listener)
{
    int i;
    for (i = 0; i < 16; i++)
        if (fast_confs[i] && fast_confs[i]->listener == listener)
            return fast_confs[i];
    return NULL;
}

static ssize_t
mem_write(pid_t pid, uint64_t addr, const void *buf, size_t len)
{
    struct iovec local = { (void *)buf, len };
    struct iovec remote = { (void *)(uintptr_t)addr, len };
    ssize_t r = -1;
    if (!use_proc_mem)
        r = process_vm_writev(pid, &local, 1, &remote, 1, 0);
    if (r < 0)
        r = proc_mem_io(pid, addr, (void *)buf, len, 1);
    return r;
}

/* The NUL-terminated string at addr: its length, or -1 (unreadable, or no
 * NUL within cap - 1 bytes). */
static ssize_t
read_cstr(pid_t pid, uint64_t addr, char *buf, size_t cap)
{
    size_t done = 0;
    while (done < cap - 1) {
        size_t chunk = 4096 - ((addr + done) & 4095);
        ssize_t r;
        char *nul;
        if (chunk > cap - 1 - done)
            chunk = cap - 1 - done;
        r = mem_read(pid, addr + done, buf + done, chunk);
        if (r <= 0)
            return -1;
        nul = memchr(buf + done, 0, (size_t)r);
        if (nul)
            return nul - buf;
        done += (size_t)r;
        if ((size_t)r < chunk)
            return -1;
    }
    return -1;
}

static int
fast_answer(int fd, uint64_t id, int64_t val, int err)
{
    char buf[64];
    struct sv_notif_resp resp;
    resp.id = id;
    resp.val = err ? 0 : val;
    resp.error = err ? -err : 0;
    resp.flags = 0;
    memset(buf, 0, sizeof buf);
    memcpy(buf, &resp, sizeof resp);
    return ioctl(fd, SV_NOTIF_SEND, buf);
}

static int
fast_valid(int fd, uint64_t id)
{
    return ioctl(fd, SV_NOTIF_ID_VALID, &id) == 0;
}

/* A simple absolute path with its root top-level symlink replaced:
 * writes the result into out (size PATH_MAX); 0 when Python must decide. */
static int
fast_simple(struct fast_conf *c, const char *path, char *out)
{
    int hop, i;
    strcpy(out, path);
    for (hop = 0; hop < 4; hop++) {
        char first[256], target[4096];
        const char *slash;
        size_t flen;
        ssize_t tl;
        if (out[0] != '/' || strstr(out, "//") || strstr(out, "/.") ||
            !strcmp(out, "/proc") || !strncmp(out, "/proc/", 6))
            return 0;
        slash = strchr(out + 1, '/');
        flen = slash ? (size_t)(slash - out - 1) : strlen(out + 1);
        if (flen == 0 || flen >= sizeof first)
            return flen == 0;  /* "/" itself */
        memcpy(first, out + 1, flen);
        first[flen] = 0;
        for (i = 0; i < c->nfirst; i++)
            if (c->first[i].len == flen && !memcmp(c->first[i].s, first, flen))
                return 1;  /* a bind starts there: the guest path, not a link of the root */
        tl = readlinkat(c->root_fd, first, target, sizeof target - 1);
        if (tl < 0)
            return 1;  /* not a link (or missing: the open will say) */
        target[tl] = 0;
        {
            char rest[4096];
            size_t rlen = slash ? strlen(slash) : 0, pos = 0;
            memcpy(rest, slash ? slash : "", rlen + 1);  /* slash points into out */
            while (tl > 1 && target[tl - 1] == '/')
                target[--tl] = 0;
            if ((target[0] == '/' ? 0 : 1) + (size_t)tl + rlen + 1 > 4096)
                return 0;
            if (target[0] != '/')
                out[pos++] = '/';
            memcpy(out + pos, target, (size_t)tl);
            memcpy(out + pos + (size_t)tl, rest, rlen + 1);
        }
    }
    return 0;
}

/* The mount of a simple path and the rest under it ("." for its root). */
static struct fast_prefix *
fast_mount(struct fast_conf *c, const char *path, const char **rest)
{
    int i;
    for (i = 0; i < c->nstand; i++)
        if (!strncmp(path, c->stand[i].s, c->stand[i].len))
            return NULL;
    for (i = 0; i < c->nmounts; i++) {
        struct fast_prefix *m = &c->mounts[i];
        if (m->len == 1) {  /* "/" */
            *rest = path[1] ? path + 1 : ".";
            return m;
        }
        if (!strncmp(path, m->s, m->len) && (path[m->len] == 0 || path[m->len] == '/')) {
            *rest = path[m->len] && path[m->len + 1] ? path + m->len + 1 : ".";
            return m;
        }
    }
    return NULL;
}

static long
fast_openat2(int dirfd, const char *path, int flags)
{
    struct sv_open_how how = { (uint64_t)(flags | O_CLOEXEC), 0, SV_RESOLVE_FAST };
    return syscall(SYS_openat2, dirfd, path, &how, sizeof how);
}

/* A registered restart (see struct fast_exec): CONTINUE it. 1 answered,
 * 0 Python (it failed the check), -1 none registered. */
static int
fast_exec(struct fast_conf *c, int lfd, struct sv_notif *n, uint64_t addr)
{
    static __thread char path[4096];
    struct fast_exec *p = NULL;
    struct stat st;
    char buf[64];
    struct sv_notif_resp resp;
    int i;
    for (i = 0; i < FAST_PENDING; i++)
        if (__atomic_load_n(&c->pending[i].tid, __ATOMIC_ACQUIRE) == (int)n->pid &&
            c->pending[i].addr == addr) {
            p = &c->pending[i];
            break;
        }
    if (!p)
        return -1;
    __atomic_store_n(&p->tid, 0, __ATOMIC_RELEASE);  /* used once, whatever happens */
    if (read_cstr(n->pid, addr, path, sizeof path) < 0 || strcmp(path, p->path) ||
        !fast_valid(lfd, n->id) || stat(p->path, &st) < 0 || st.st_dev != p->dev ||
        st.st_ino != p->ino)
        return 0;  /* Python checks it again, and refuses it */
    resp.id = n->id;
    resp.val = 0;
    resp.error = 0;
    resp.flags = 1;  /* SECCOMP_USER_NOTIF_FLAG_CONTINUE */
    memset(buf, 0, sizeof buf);
    memcpy(buf, &resp, sizeof resp);
    ioctl(lfd, SV_NOTIF_SEND, buf);
    return 1;
}

/* ---- exec, decided in C --------------------------------------------------
 * What layers/confine/execs.py decides for the commonest exec, decided here
 * the same way (fast.py says why it is the same): execve of an absolute
 * path that the view resolves with its fast path (the root's top-level
 * links, a trailing symlink, one openat2 per hop), of an ELF file whose
 * format Python parsed before (the kinds below, keyed like Python's cache),
 * static or with an absolute PT_INTERP that resolves the same way to a
 * static ELF. Only with Landlock active (the restarted call's re-check and
 * Landlock are the security argument; without Landlock Python checks that
 * nothing can race the exec). Then, like Python: if the kernel's own
 * lookups find the very inodes, CONTINUE; otherwise the call is restarted
 * with the view's file, as call.restart_exec does (ERESTARTNOINTR while a
 * PTRACE_SEIZE + INTERRUPT is pending, registers pointed at copies below
 * the stack pointer, the restart registered for fast_exec). Everything
 * else, and every case where Python would say something, goes to Python
 * before anything was done. */

#define FAST_ARGV 512          /* argv pointers read here; longer: Python */
#define FAST_PYTHON (-2)       /* fast_lookup/fast_step: Python decides */

enum { EK_NONE, EK_STATIC, EK_DYNAMIC };

static int
fast_kind_slot(dev_t dev, ino_t ino)
{
    return (int)(((uint64_t)dev * 31 + (uint64_t)ino) % FAST_KINDS);
}

/* The kind Python registered for this file (same key as execs.py's cache);
 * copies the interpreter into interp. EK_NONE: unknown. */
static int
fast_kind_get(struct fast_conf *c, const struct stat *st, char *interp, int *argv0)
{
    struct fast_kind *k;
    int type = EK_NONE;
    pthread_mutex_lock(&c->kinds_lock);
    k = &c->kinds[fast_kind_slot(st->st_dev, st->st_ino)];
    if (k->type != EK_NONE && k->dev == st->st_dev && k->ino == st->st_ino &&
        k->mtime == (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec &&
        k->size == (int64_t)st->st_size) {
        type = k->type;
        *argv0 = k->argv0;
        if (type == EK_DYNAMIC)
            strcpy(interp, k->interp);
    }
    pthread_mutex_unlock(&c->kinds_lock);
    return type;
}

/* View.fast_path(path, O_PATH) for an absolute guest path: an O_PATH fd, the
 * guest path reached (guest, PATH_MAX) and its mount; -1 with errno: the
 * kernel's answer (Python raises it too); FAST_PYTHON: the walk decides. */
static int
fast_lookup(struct fast_conf *c, const char *path, char *guest)
{
    static __thread char cur[4096], target[4096];
    int hop;
    if (strlen(path) >= sizeof cur)
        return FAST_PYTHON;
    strcpy(cur, path);
    for (hop = 0; hop < 8; hop++) {
        struct fast_prefix *m;
        const char *rest, *slash;
        char parent[4096];
        int fd, pfd;
        ssize_t tl;
        size_t plen;
        if (!fast_simple(c, cur, guest) || !(m = fast_mount(c, guest, &rest)))
            return FAST_PYTHON;
        fd = (int)fast_openat2(m->fd, rest, O_PATH);
        if (fd >= 0)
            return fd;
        if (errno != ELOOP)
            return (errno == EXDEV || errno == EAGAIN) ? FAST_PYTHON : -1;
        /* a symlink as the last component (any other: the walk) */
        slash = strrchr(rest, '/');
        plen = slash ? (size_t)(slash - rest) : 0;
        memcpy(parent, rest, plen);
        strcpy(parent + plen, plen ? "" : ".");
        pfd = (int)fast_openat2(m->fd, parent, O_PATH | O_DIRECTORY | O_NOFOLLOW);
        if (pfd < 0)
            return FAST_PYTHON;
        tl = readlinkat(pfd, slash ? slash + 1 : rest, target, sizeof target - 1);
        close(pfd);
        if (tl <= 0)
            return FAST_PYTHON;
        target[tl] = 0;
        if (target[0] == '/') {
            strcpy(cur, target);
            continue;
        }
        /* relative: from the parent reached without a symlink, whose ".."
         * is its real parent (as the walk's stack pops it) */
        {
            char *t = target, *cut;
            strcpy(cur, guest);
            cut = strrchr(cur, '/');
            *(cut == cur ? cut + 1 : cut) = 0;
            while (!strncmp(t, "../", 3) || !strcmp(t, "..")) {
                cut = strrchr(cur, '/');
                *(cut == cur ? cut + 1 : cut) = 0;
                t += t[2] ? 3 : 2;
            }
            if (*t) {
                size_t cl = strlen(cur);
                if (cl + 1 + strlen(t) >= sizeof cur)
                    return FAST_PYTHON;
                if (strcmp(cur, "/"))
                    cur[cl++] = '/';
                strcpy(cur + cl, t);
            }
        }
    }
    return FAST_PYTHON;
}

/* execs.Execs.step: a regular file, executable and readable by the program
 * (the supervisor: the fast path is off once credentials changed). 0, an
 * errno for the call, or FAST_PYTHON (Python says why). */
static int
fast_step(int fd, struct stat *st)
{
    char proc[64];
    if (fstat(fd, st) < 0)
        return FAST_PYTHON;
    if (!S_ISREG(st->st_mode))
        return EACCES;
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
    /* Python: os.access(X_OK), then an open for reading (it parses the
     * file); here the format is known, and one access(2) says both */
    if (faccessat(AT_FDCWD, proc, X_OK | R_OK, AT_EACCESS) == 0)
        return 0;
    if (faccessat(AT_FDCWD, proc, X_OK, AT_EACCESS) < 0)
        return EACCES;  /* also a noexec mount */
    return FAST_PYTHON;  /* unreadable: refused with a message there */
}

/* execs.Execs._real_same: does the kernel's own lookup find this inode? */
static int
fast_real_same(const char *path, const struct stat *st)
{
    struct stat rst;
    return stat(path, &rst) == 0 && rst.st_dev == st->st_dev && rst.st_ino == st->st_ino;
}

static void
fast_exec_register(struct fast_conf *c, int tid, uint64_t addr, const char *path, size_t plen,
                   dev_t dev, ino_t ino)
{
    struct fast_exec *p = &c->pending[__atomic_fetch_add(&c->next_pending, 1, __ATOMIC_RELAXED) %
                                      FAST_PENDING];
    __atomic_store_n(&p->tid, 0, __ATOMIC_RELEASE);
    p->addr = addr;
    memcpy(p->path, path, plen);
    p->path[plen] = 0;
    p->dev = dev;
    p->ino = ino;
    __atomic_store_n(&p->tid, tid, __ATOMIC_RELEASE);
}

/* The argv of a restart: each entry a new string (copied below the stack
 * pointer) or, str NULL, a pointer into the program's memory (its own
 * argv strings, unchanged). */
struct fast_argv {
    int n;
    const char *str[FAST_ARGV + 4];
    uint64_t ptr[FAST_ARGV + 4];
};

/* call.restart_exec in C, the steps of methods/unotify.py's _restart_exec:
 * the call restarts running `path` (st: its inode, registered for the
 * re-check) with argv `av`. 1: answered; 0: nothing done, Python decides
 * (it then fails the same way and says why). */
static int
fast_restart(struct fast_conf *c, int lfd, struct sv_notif *n, const char *path,
             const struct stat *st, struct fast_argv *av)
{
    static __thread char blob[3 * 4096 + 8 * (FAST_ARGV + 8) + 64];
    struct user_regs_struct regs;
    struct iovec iov;
    size_t size, len = 0, plen = strlen(path), array_at;
    uint64_t base, addrs[FAST_ARGV + 4], path_at;
    int tid = (int)n->pid, status, i;

    /* before anything is done: Python tries (and reports) what fails here */
    size = plen + 1 + 8 * ((size_t)av->n + 2) + 32;
    for (i = 0; i < av->n; i++)
        if (av->str[i])
            size += strlen(av->str[i]) + 1;
    if (size > sizeof blob - 32)
        return 0;
    if (ptrace(PTRACE_SEIZE, tid, NULL, NULL) < 0)
        return 0;
    if (ptrace(PTRACE_INTERRUPT, tid, NULL, NULL) < 0) {
        ptrace(PTRACE_DETACH, tid, NULL, NULL);
        return 0;
    }
    if (!fast_valid(lfd, n->id) || fast_answer(lfd, n->id, 0, 513 /* ERESTARTNOINTR */) < 0) {
        ptrace(PTRACE_DETACH, tid, NULL, NULL);
        return 1;  /* gone, or interrupted: the kernel restarts or fails it itself */
    }
    for (;;) {
        if (waitpid(tid, &status, __WALL | __WNOTHREAD) < 0) {
            if (errno == EINTR)
                continue;
            return 1;
        }
        if (!WIFSTOPPED(status))
            return 1;  /* it died meanwhile */
        if (status >> 16 == PTRACE_EVENT_STOP)
            break;
        /* A signal first (the kernel takes the INTERRUPT trap before it
         * dequeues signals, so this should not happen): let it through
         * with the call unchanged, which then restarts as the program made
         * it and is decided again. Never wait here for the program to run
         * its handler: this thread holds the receive loop. */
        ptrace(PTRACE_DETACH, tid, NULL, (void *)(long)WSTOPSIG(status));
        return 1;
    }
    iov.iov_base = &regs;
    iov.iov_len = sizeof regs;
    if (ptrace(PTRACE_GETREGSET, tid, (void *)1 /* NT_PRSTATUS */, &iov) < 0 || iov.iov_len != sizeof regs) {
        c->exec_fresh = 0;  /* cannot happen; never loop on it: Python from now on */
        ptrace(PTRACE_DETACH, tid, NULL, NULL);
        return 1;
    }
    base = (regs.rsp - 128 - 4096 - size) & ~(uint64_t)15;
    /* path, the new strings, then the pointer array (as _restart_exec) */
    path_at = base;
    memcpy(blob, path, plen + 1);
    len = plen + 1;
    for (i = 0; i < av->n; i++) {
        if (av->str[i]) {
            size_t sl = strlen(av->str[i]) + 1;
            addrs[i] = base + len;
            memcpy(blob + len, av->str[i], sl);
            len += sl;
        } else {
            addrs[i] = av->ptr[i];
        }
    }
    while (len % 16)
        blob[len++] = 0;
    array_at = len;
    memcpy(blob + len, addrs, 8 * (size_t)av->n);
    len += 8 * (size_t)av->n;
    memset(blob + len, 0, 8);
    len += 8;
    if (mem_write(tid, base, blob, len) == (ssize_t)len) {
        regs.rdi = path_at;
        regs.rsi = base + array_at;
    } else {
        regs.rdi = 0;  /* restarts and fails: EFAULT */
        base = 0;
    }
    if (ptrace(PTRACE_SETREGSET, tid, (void *)1 /* NT_PRSTATUS */, &iov) < 0) {
        c->exec_fresh = 0;
        base = 0;
    }
    if (base)  /* the restarted call is received by this thread, after the detach */
        fast_exec_register(c, tid, path_at, path, plen, st->st_dev, st->st_ino);
    ptrace(PTRACE_DETACH, tid, NULL, NULL);
    return 1;
}

/* The program's argv pointers (execs.Execs._argv_pointers), at most
 * FAST_ARGV; the count, or -1: Python reads them. */
static int
fast_argv_read(int lfd, struct sv_notif *n, uint64_t addr, uint64_t *out)
{
    ssize_t r;
    int i;
    if (!addr)
        return -1;
    r = mem_read(n->pid, addr, (char *)out, 8 * FAST_ARGV);
    if (r < 8 || !fast_valid(lfd, n->id))
        return -1;
    for (i = 0; i < r / 8; i++)
        if (!out[i])
            return i;
    return -1;
}

/* A fresh execve(path, argv, envp) (see the section comment): 1 answered,
 * 0 Python. */
static int
fast_exec_fresh(struct fast_conf *c, int lfd, struct sv_notif *n)
{
    static __thread char path[4096], guest[4096], lguest[4096], interp[4096], host[4096];
    static __thread uint64_t orig[FAST_ARGV];
    static __thread struct fast_argv av;
    struct stat st, lst;
    int fd, lfd2 = -1, err, type = EK_NONE, ltype = EK_NONE, argv0 = 0, largv0 = 0, nargs, i, r = 0;
    const char *final_host;
    char proc[64];
    ssize_t hl;

    if (!c->enabled || !c->exec_fresh || !n->data.args[0])
        return 0;
    if (read_cstr(n->pid, n->data.args[0], path, sizeof path) <= 0 || path[0] != '/' ||
        !fast_valid(lfd, n->id))
        return 0;
    fd = fast_lookup(c, path, guest);
    if (fd == FAST_PYTHON)
        return 0;
    if (fd < 0) {
        fast_answer(lfd, n->id, 0, errno);
        return 1;
    }
    err = fast_step(fd, &st);
    if (err == FAST_PYTHON || (err == 0 && !(type = fast_kind_get(c, &st, interp, &argv0))))
        goto out;  /* r = 0: Python */
    if (err) {
        fast_answer(lfd, n->id, 0, err);
        r = 1;
        goto out;
    }
    if (type == EK_DYNAMIC) {
        if (interp[0] != '/')
            goto out;  /* relative to the cwd: Python */
        lfd2 = fast_lookup(c, interp, lguest);
        if (lfd2 == FAST_PYTHON)
            goto out;
        if (lfd2 < 0) {
            fast_answer(lfd, n->id, 0, errno);
            r = 1;
            goto out;
        }
        err = fast_step(lfd2, &lst);
        if (err == FAST_PYTHON || (err == 0 && !(ltype = fast_kind_get(c, &lst, host, &largv0))))
            goto out;
        if (err || ltype != EK_STATIC) {
            fast_answer(lfd, n->id, 0, err ? err : ELIBBAD);
            r = 1;
            goto out;
        }
        if (fast_real_same(path, &st) && fast_real_same(interp, &lst))
            goto native;
        if (!largv0)
            goto out;  /* not known yet: Python looks (and notes the loader) */
    } else if (fast_real_same(path, &st)) {
        goto native;
    }
    /* restart: the view's file by its host path (a deleted or unreachable
     * one is given by fd: Python) */
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", type == EK_DYNAMIC ? lfd2 : fd);
    hl = readlink(proc, host, sizeof host - 1);
    if (hl <= 0)
        goto out;
    host[hl] = 0;
    if (host[0] != '/' || (hl > 10 && !strcmp(host + hl - 10, " (deleted)")))
        goto out;
    final_host = host;
    nargs = fast_argv_read(lfd, n, n->data.args[1], orig);
    if (nargs <= 0)
        goto out;  /* no argv[0], or a long or unreadable argv: Python */
    av.n = 0;
    if (type == EK_DYNAMIC) {
        av.str[av.n++] = interp;
        if (largv0 == 1) {
            av.str[av.n++] = "--argv0";
            av.str[av.n] = NULL;
            av.ptr[av.n++] = orig[0];
        }
        av.str[av.n++] = guest;
    } else {
        av.str[av.n] = NULL;
        av.ptr[av.n++] = orig[0];
    }
    for (i = 1; i < nargs; i++) {
        av.str[av.n] = NULL;
        av.ptr[av.n++] = orig[i];
    }
    r = fast_restart(c, lfd, n, final_host, type == EK_DYNAMIC ? &lst : &st, &av);
    goto out;
native:
    /* the kernel finds the very files checked in the view; Landlock
     * allows executing nothing outside it */
    if (fast_valid(lfd, n->id)) {
        char buf[64];
        struct sv_notif_resp resp = { n->id, 0, 0, 1 /* CONTINUE */ };
        memset(buf, 0, sizeof buf);
        memcpy(buf, &resp, sizeof resp);
        ioctl(lfd, SV_NOTIF_SEND, buf);
    }
    r = 1;
out:
    close(fd);
    if (lfd2 >= 0)
        close(lfd2);
    return r;
}

/* 1: answered (or the call is gone); 0: Python must handle it. */
static int
fast_try(struct fast_conf *c, int lfd, struct sv_notif *n)
{
    static __thread char path[4096], simple[4096];
    uint64_t *a = n->data.args;
    int kind, dirfd = AT_FDCWD, flags = 0, atflags = 0, mode = 0, pidx, fd, r, err;
    uint64_t buf = 0;
    const char *rest;
    struct fast_prefix *m;
    struct stat st;
    ssize_t len;

    if (n->data.arch != SV_AUDIT_ARCH_X86_64 || n->data.nr < 0 || n->data.nr >= FAST_NR ||
        !(kind = c->kind[n->data.nr]))
        return 0;
    if (kind == FK_EXECVE || kind == FK_EXECVEAT) {  /* registered restarts: whatever the credentials */
        r = fast_exec(c, lfd, n, kind == FK_EXECVE ? a[0] : a[1]);
        return r >= 0 ? r : kind == FK_EXECVE ? fast_exec_fresh(c, lfd, n) : 0;
    }
    if (!c->enabled)
        return 0;
    switch (kind) {
    case FK_OPEN: pidx = 0; flags = (int)a[1]; break;
    case FK_OPENAT: dirfd = (int)a[0]; pidx = 1; flags = (int)a[2]; break;
    case FK_STAT: pidx = 0; buf = a[1]; break;
    case FK_LSTAT: pidx = 0; buf = a[1]; atflags = AT_SYMLINK_NOFOLLOW; break;
    case FK_NEWFSTATAT: dirfd = (int)a[0]; pidx = 1; buf = a[2]; atflags = (int)a[3]; break;
    case FK_ACCESS: pidx = 0; mode = (int)a[1]; break;
    case FK_FACCESSAT: dirfd = (int)a[0]; pidx = 1; mode = (int)a[2]; break;
    case FK_FACCESSAT2: dirfd = (int)a[0]; pidx = 1; mode = (int)a[2]; atflags = (int)a[3]; break;
    case FK_EXECVE: case FK_EXECVEAT: pidx = 0; break;
    default: return 0;
    }
    if (!a[pidx])
        return 0;
    len = read_cstr(n->pid, a[pidx], path, sizeof path);
    if (len < 0)
        return 0;
    if (kind == FK_NEWFSTATAT && len == 0 && (atflags & AT_EMPTY_PATH) && dirfd >= 0 &&
        !(atflags & ~(AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT))) {
        /* fstat(): the NOTIF_ID_VALID before the answer is written (write_stat)
         * also vouches for the path read here, as nothing but a stat of ours
         * happens in between (the commonest call: one check instead of three) */
        char proc[64];
        snprintf(proc, sizeof proc, "/proc/%u/fd/%d", n->pid, dirfd);
        if (stat(proc, &st) < 0)
            return 0;
        goto write_stat;
    }
    if (!fast_valid(lfd, n->id))
        return 0;
    if (!len || !fast_simple(c, path, simple) || !(m = fast_mount(c, simple, &rest)))
        return 0;
    if (kind == FK_OPEN || kind == FK_OPENAT) {
        int acc = flags & O_ACCMODE;
        /* O_CREAT of a file that exists is an open; creating is Python's */
        if ((flags & (__O_TMPFILE | O_PATH)) || (flags & (O_CREAT | O_EXCL)) == (O_CREAT | O_EXCL))
            return 0;
        if (m->ro && (acc != O_RDONLY || (flags & O_TRUNC)))
            return 0;
        fd = (int)fast_openat2(m->fd, rest, O_PATH | (flags & O_NOFOLLOW));
        if (fd < 0) {
            err = errno;
            if (err == ELOOP || err == EXDEV || err == EAGAIN || (err == ENOENT && (flags & O_CREAT)))
                return 0;
            fast_answer(lfd, n->id, 0, err);
            return 1;
        }
        if (fstat(fd, &st) < 0 || !(S_ISREG(st.st_mode) || S_ISDIR(st.st_mode) ||
                                   (S_ISCHR(st.st_mode) && major(st.st_rdev) == 1))) {
            close(fd);
            return 0;  /* a FIFO or a device might block the open: Python */
        }
        {
            char proc[64];
            int nfd;
            struct sv_notif_addfd add;
            snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
            nfd = open(proc, (flags & ~(O_NOFOLLOW | O_CLOEXEC | O_CREAT)) | O_CLOEXEC | O_NOCTTY);
            err = errno;
            close(fd);
            if (nfd < 0) {
                fast_answer(lfd, n->id, 0, err);
                return 1;
            }
            memset(&add, 0, sizeof add);
            add.id = n->id;
            add.flags = 1U << 1;  /* SECCOMP_ADDFD_FLAG_SEND */
            add.srcfd = (uint32_t)nfd;
            add.newfd_flags = (flags & O_CLOEXEC) ? O_CLOEXEC : 0;
            r = ioctl(lfd, SV_NOTIF_ADDFD, &add);
            err = errno;
            if (r < 0 && err == EINVAL) {  /* 5.9 to 5.13: no ADDFD_FLAG_SEND; add, then answer */
                add.flags = 0;
                r = ioctl(lfd, SV_NOTIF_ADDFD, &add);
                err = errno;
                if (r >= 0)
                    fast_answer(lfd, n->id, r, 0);
            }
            close(nfd);
            if (r < 0 && err != ENOENT)
                fast_answer(lfd, n->id, 0, err);
        }
        return 1;
    }
    if (kind == FK_ACCESS || kind == FK_FACCESSAT || kind == FK_FACCESSAT2) {
        char proc[64];
        if ((mode & ~7) || (atflags & ~(AT_EACCESS | AT_SYMLINK_NOFOLLOW)) || (m->ro && (mode & W_OK)))
            return 0;
        fd = (int)fast_openat2(m->fd, rest, O_PATH | ((atflags & AT_SYMLINK_NOFOLLOW) ? O_NOFOLLOW : 0));
        if (fd < 0) {
            err = errno;
            if (err == ELOOP || err == EXDEV || err == EAGAIN)
                return 0;
            fast_answer(lfd, n->id, 0, err);
            return 1;
        }
        snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
        r = mode ? faccessat(AT_FDCWD, proc, mode, AT_EACCESS) : 0;
        err = errno;
        close(fd);
        fast_answer(lfd, n->id, 0, r < 0 ? err : 0);
        return 1;
    }
    /* the stat family */
    if (atflags & ~(AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT | AT_EMPTY_PATH))
        return 0;
    fd = (int)fast_openat2(m->fd, rest, O_PATH | ((atflags & AT_SYMLINK_NOFOLLOW) ? O_NOFOLLOW : 0));
    if (fd < 0) {
        err = errno;
        if (err == ELOOP || err == EXDEV || err == EAGAIN)
            return 0;
        fast_answer(lfd, n->id, 0, err);
        return 1;
    }
    r = fstat(fd, &st);
    close(fd);
    if (r < 0)
        return 0;
write_stat:
    if (!buf) {
        fast_answer(lfd, n->id, 0, EFAULT);
        return 1;
    }
    if (!fast_valid(lfd, n->id))
        return 1;
    if (mem_write(n->pid, buf, &st, sizeof st) != (ssize_t)sizeof st) {
        fast_answer(lfd, n->id, 0, EFAULT);
        return 1;
    }
    fast_answer(lfd, n->id, 0, 0);
    return 1;
}

static void
fast_free(struct fast_conf *c)
{
    int i;
    for (i = 0; i < c->nmounts; i++)
        free(c->mounts[i].s);
    for (i = 0; i < c->nstand; i++)
        free(c->stand[i].s);
    for (i = 0; i < c->nfirst; i++)
        free(c->first[i].s);
    for (i = 0; i < FAST_KINDS; i++)
        free(c->kinds[i].interp);
    pthread_mutex_destroy(&c->kinds_lock);
    free(c);
}

static int
fast_strings(PyObject *seq, struct fast_prefix *out, int *count)
{
    PyObject *fast = PySequence_Fast(seq, "expected a sequence");
    Py_ssize_t i, n;
    if (!fast)
        return -1;
    n = PySequence_Fast_GET_SIZE(fast);
    if (n > FAST_MAX) {
        Py_DECREF(fast);
        PyErr_SetString(PyExc_ValueError, "too many entries for the fast path");
        return -1;
    }
    for (i = 0; i < n; i++) {
        PyObject *item = PySequence_Fast_GET_ITEM(fast, i);
        const char *s;
        int fd = -1, ro = 0;
        if (PyTuple_Check(item)) {
            if (!PyArg_ParseTuple(item, "yii", &s, &fd, &ro)) {
                Py_DECREF(fast);
                return -1;
            }
        } else if (PyBytes_Check(item)) {
            s = PyBytes_AS_STRING(item);
        } else {
            Py_DECREF(fast);
            PyErr_SetString(PyExc_TypeError, "expected bytes or (bytes, fd, readonly)");
            return -1;
        }
        out[*count].s = strdup(s);
        out[*count].len = strlen(s);
        out[*count].fd = fd;
        out[*count].ro = ro;
        (*count)++;
    }
    Py_DECREF(fast);
    return 0;
}

/* fast_setup(listener, root_fd, mounts, stand_ins, bind_firsts, kinds) ;
 * mounts: [(guest bytes, fd, readonly)], longest first, "/" last;
 * kinds: {nr: kind}. fast_setup(listener, None) frees it (receivers gone). */
static PyObject *
sv_fast_setup(PyObject *self, PyObject *args)
{
    int listener, root_fd, i;
    PyObject *mounts, *stand, *firsts, *kinds, *key, *value;
    Py_ssize_t pos = 0;
    struct fast_conf *c;
    if (PyTuple_GET_SIZE(args) == 2) {
        if (!PyArg_ParseTuple(args, "iO", &listener, &mounts))
            return NULL;
        for (i = 0; i < 16; i++)
            if (fast_confs[i] && fast_confs[i]->listener == listener) {
                fast_free(fast_confs[i]);
                fast_confs[i] = NULL;
            }
        Py_RETURN_NONE;
    }
    if (!PyArg_ParseTuple(args, "iiOOOO!", &listener, &root_fd, &mounts, &stand, &firsts,
                          &PyDict_Type, &kinds))
        return NULL;
    c = calloc(1, sizeof *c);
    if (!c)
        return PyErr_NoMemory();
    c->listener = listener;
    c->root_fd = root_fd;
    pthread_mutex_init(&c->kinds_lock, NULL);
    if (fast_strings(mounts, c->mounts, &c->nmounts) < 0 ||
        fast_strings(stand, c->stand, &c->nstand) < 0 ||
        fast_strings(firsts, c->first, &c->nfirst) < 0) {
        fast_free(c);
        return NULL;
    }
    while (PyDict_Next(kinds, &pos, &key, &value)) {
        long nr = PyLong_AsLong(key), k = PyLong_AsLong(value);
        if (nr >= 0 && nr < FAST_NR && k > 0 && k <= FK_EXECVEAT)
            c->kind[nr] = (unsigned char)k;
    }
    if (PyErr_Occurred()) {
        fast_free(c);
        return NULL;
    }
    for (i = 0; i < 16; i++)
        if (!fast_confs[i])
            break;
    if (i == 16) {
        fast_free(c);
        PyErr_SetString(PyExc_RuntimeError, "too many fast paths");
        return NULL;
    }
    c->enabled = 1;
    fast_confs[i] = c;
    Py_RETURN_NONE;
}

/* fast_exec_pending(listener, tid, addr, path, dev, ino): a restarted exec
 * to continue here (struct fast_exec). Returns False without a fast path. */
static PyObject *
sv_fast_exec_pending(PyObject *self, PyObject *args)
{
    int listener, tid;
    unsigned long long addr, dev, ino;
    const char *path;
    Py_ssize_t plen;
    struct fast_conf *c;
    struct fast_exec *p;
    if (!PyArg_ParseTuple(args, "iiKy#KK", &listener, &tid, &addr, &path, &plen, &dev, &ino))
        return NULL;
    c = fast_for(listener);
    if (!c || plen >= 4096 || !c->kind[59])
        Py_RETURN_FALSE;
    p = &c->pending[__atomic_fetch_add(&c->next_pending, 1, __ATOMIC_RELAXED) % FAST_PENDING];
    __atomic_store_n(&p->tid, 0, __ATOMIC_RELEASE);
    p->addr = addr;
    memcpy(p->path, path, (size_t)plen);
    p->path[plen] = 0;
    p->dev = (dev_t)dev;
    p->ino = (ino_t)ino;
    __atomic_store_n(&p->tid, tid, __ATOMIC_RELEASE);
    Py_RETURN_TRUE;
}

/* fast_exec_kind(listener, dev, ino, mtime_ns, size, interp, argv0): the
 * format Python found for a file (interp None: a static ELF); argv0 for a
 * loader it runs explicitly: 1 takes --argv0, 2 does not, 0 unknown, -1
 * unchanged. */
static PyObject *
sv_fast_exec_kind(PyObject *self, PyObject *args)
{
    int listener, argv0;
    unsigned long long dev, ino;
    long long mtime, size;
    PyObject *interp;
    struct fast_conf *c;
    struct fast_kind *k;
    char *copy = NULL;
    if (!PyArg_ParseTuple(args, "iKKLLOi", &listener, &dev, &ino, &mtime, &size, &interp, &argv0))
        return NULL;
    c = fast_for(listener);
    if (!c)
        Py_RETURN_NONE;
    if (interp != Py_None) {
        if (!PyBytes_Check(interp) || (size_t)PyBytes_GET_SIZE(interp) >= 4096 ||
            strlen(PyBytes_AS_STRING(interp)) != (size_t)PyBytes_GET_SIZE(interp))
            Py_RETURN_NONE;  /* not for C */
        if (!(copy = strdup(PyBytes_AS_STRING(interp))))
            return PyErr_NoMemory();
    }
    pthread_mutex_lock(&c->kinds_lock);
    k = &c->kinds[fast_kind_slot((dev_t)dev, (ino_t)ino)];
    if (argv0 < 0)  /* keep what is known of this very file */
        argv0 = k->type != EK_NONE && k->dev == (dev_t)dev && k->ino == (ino_t)ino &&
                k->mtime == mtime && k->size == size ? k->argv0 : 0;
    free(k->interp);
    k->dev = (dev_t)dev;
    k->ino = (ino_t)ino;
    k->mtime = mtime;
    k->size = size;
    k->type = copy ? EK_DYNAMIC : EK_STATIC;
    k->interp = copy;
    k->argv0 = argv0;
    pthread_mutex_unlock(&c->kinds_lock);
    Py_RETURN_NONE;
}

/* fast_exec_fresh(listener, on): decide fresh execs here (Landlock active) */
static PyObject *
sv_fast_exec_fresh(PyObject *self, PyObject *args)
{
    int listener, on;
    struct fast_conf *c;
    if (!PyArg_ParseTuple(args, "ii", &listener, &on))
        return NULL;
    c = fast_for(listener);
    if (c)
        c->exec_fresh = on;
    return PyBool_FromLong(c != NULL);
}

/* fast_enable(listener, on) -> calls answered so far by the fast path */
static PyObject *
sv_fast_enable(PyObject *self, PyObject *args)
{
    int listener, on;
    struct fast_conf *c;
    if (!PyArg_ParseTuple(args, "ii", &listener, &on))
        return NULL;
    c = fast_for(listener);
    if (!c)
        return PyLong_FromLong(0);
    if (on >= 0)
        c->enabled = on;
    return PyLong_FromUnsignedLong(c->handled);
}

/* notif_recv(listener, wake_fd=-1) ->
 *   (id, tid, arch, nr, ip, (args...))  a notification
 *   0                                  the filter has no users left (POLLHUP)
 *   1                                  wake_fd became readable
 * Waits in poll(2) first, so that a receiver never blocks in NOTIF_RECV
 * when the filter is gone (RECV itself does not return on POLLHUP); with one
 * poller at a time (the caller's lock), a POLLIN means RECV will not block.
 * A notification that vanished before RECV (ENOENT: the target got a signal
 * or died) is skipped. */
static PyObject *
sv_notif_recv(PyObject *self, PyObject *args)
{
    int fd, wake = -1, r = 0, result = -1, err = 0;
    struct pollfd p[2];
    char *buf;
    struct sv_notif n;
    struct fast_conf *fc;
    if (!PyArg_ParseTuple(args, "i|i", &fd, &wake))
        return NULL;
    init_notif_sizes();
    buf = PyMem_Malloc(notif_size);
    if (!buf)
        return PyErr_NoMemory();
    fc = fast_for(fd);
    Py_BEGIN_ALLOW_THREADS
    for (;;) {
        p[0].fd = fd;
        p[0].events = POLLIN;
        p[0].revents = 0;
        p[1].fd = wake;
        p[1].events = POLLIN;
        p[1].revents = 0;
        r = poll(p, wake >= 0 ? 2 : 1, -1);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            err = errno;
            break;
        }
        if (wake >= 0 && p[1].revents) {
            result = 1;
            break;
        }
        if (p[0].revents & POLLIN) {
            memset(buf, 0, notif_size);
            if (ioctl(fd, SV_NOTIF_RECV, buf) == 0) {
                memcpy(&n, buf, sizeof n);
                if (fc && fast_try(fc, fd, &n)) {
                    fc->handled++;
                    continue;  /* answered without Python */
                }
                result = 2;
                break;
            }
            if (errno == ENOENT || errno == EINTR)
                continue;
            err = errno;
            break;
        }
        if (p[0].revents & (POLLHUP | POLLERR | POLLNVAL)) {
            if (p[0].revents & POLLNVAL) {
                err = EBADF;
                break;
            }
            result = 0;
            break;
        }
    }
    Py_END_ALLOW_THREADS
    PyMem_Free(buf);
    if (err) {
        errno = err;
        return errno_error();
    }
    if (result != 2)
        return PyLong_FromLong(result);
    return Py_BuildValue("(KIIiK(KKKKKK))", (unsigned long long)n.id, n.pid, n.data.arch,
                         (int)n.data.nr, (unsigned long long)n.data.instruction_pointer,
                         (unsigned long long)n.data.args[0], (unsigned long long)n.data.args[1],
                         (unsigned long long)n.data.args[2], (unsigned long long)n.data.args[3],
                         (unsigned long long)n.data.args[4], (unsigned long long)n.data.args[5]);
}

/* notif_send(listener, id, val, error, flags) -> None. error is a positive
 * errno (sent negated) or 0; flags 1 = SECCOMP_USER_NOTIF_FLAG_CONTINUE. */
static PyObject *
sv_notif_send(PyObject *self, PyObject *args)
{
    int fd, error, r;
    unsigned long long id;
    long long val;
    unsigned int flags;
    char buf[64];
    struct sv_notif_resp resp;
    if (!PyArg_ParseTuple(args, "iKLiI", &fd, &id, &val, &error, &flags))
        return NULL;
    init_notif_sizes();
    resp.id = id;
    resp.val = val;
    resp.error = -error;
    resp.flags = flags;
    memset(buf, 0, sizeof buf);
    memcpy(buf, &resp, sizeof resp);
    Py_BEGIN_ALLOW_THREADS
    r = ioctl(fd, SV_NOTIF_SEND, buf);
    Py_END_ALLOW_THREADS
    if (r < 0)
        return errno_error();
    Py_RETURN_NONE;
}

/* notif_id_valid(listener, id) -> bool: the target still waits for this
 * notification's answer (so a pid read before is still the same task). */
static PyObject *
sv_notif_id_valid(PyObject *self, PyObject *args)
{
    int fd;
    unsigned long long id;
    uint64_t v;
    if (!PyArg_ParseTuple(args, "iK", &fd, &id))
        return NULL;
    v = id;
    if (ioctl(fd, SV_NOTIF_ID_VALID, &v) == 0)
        Py_RETURN_TRUE;
    if (errno == ENOENT)
        Py_RETURN_FALSE;
    return errno_error();
}

/* notif_addfd(listener, id, srcfd, newfd, newfd_flags, flags) -> int: the fd
 * number in the target. flags: 1 SETFD (place at newfd), 2 SEND (install
 * and answer the notification with the new number, atomically). */
static PyObject *
sv_notif_addfd(PyObject *self, PyObject *args)
{
    int fd, srcfd, newfd, r;
    unsigned long long id;
    unsigned int newfd_flags, flags;
    struct sv_notif_addfd a;
    if (!PyArg_ParseTuple(args, "iKiiII", &fd, &id, &srcfd, &newfd, &newfd_flags, &flags))
        return NULL;
    a.id = id;
    a.flags = flags;
    a.srcfd = (uint32_t)srcfd;
    a.newfd = (uint32_t)newfd;
    a.newfd_flags = newfd_flags;
    Py_BEGIN_ALLOW_THREADS
    r = ioctl(fd, SV_NOTIF_ADDFD, &a);
    Py_END_ALLOW_THREADS
    if (r < 0)
        return errno_error();
    return PyLong_FromLong(r);
}

/* notif_set_flags(listener, flags) -> None (6.6+: 1 = FD_SYNC_WAKE_UP) */
static PyObject *
sv_notif_set_flags(PyObject *self, PyObject *args)
{
    int fd;
    unsigned long long flags;
    if (!PyArg_ParseTuple(args, "iK", &fd, &flags))
        return NULL;
    if (ioctl(fd, SV_NOTIF_SET_FLAGS, (unsigned long)flags) < 0)
        return errno_error();
    Py_RETURN_NONE;
}

/* pidfd_getfd(pidfd, targetfd, flags=0) -> fd (O_CLOEXEC, set by the kernel) */
static PyObject *
sv_pidfd_getfd(PyObject *self, PyObject *args)
{
    int pidfd, target;
    unsigned int flags = 0;
    long r;
    if (!PyArg_ParseTuple(args, "ii|I", &pidfd, &target, &flags))
        return NULL;
    r = syscall(438 /* SYS_pidfd_getfd, the same on every arch */, pidfd, target, flags);
    if (r < 0)
        return errno_error();
    return PyLong_FromLong(r);
}

/* pidfd_open(pid, flags=0) -> fd */
static PyObject *
sv_pidfd_open(PyObject *self, PyObject *args)
{
    int pid;
    unsigned int flags = 0;
    long r;
    if (!PyArg_ParseTuple(args, "i|I", &pid, &flags))
        return NULL;
    r = syscall(434 /* SYS_pidfd_open */, pid, flags);
    if (r < 0)
        return errno_error();
    return PyLong_FromLong(r);
}

static PyMethodDef methods[] = {
    {"wait", sv_wait, METH_VARARGS, "waitpid(-1, __WALL) with optional polling first"},
    {"ptrace", sv_ptrace, METH_VARARGS, "ptrace(request, pid, addr=0, data=0) -> int"},
    {"get_syscall_info", sv_get_syscall_info, METH_VARARGS, "PTRACE_GET_SYSCALL_INFO as a tuple"},
    {"set_syscall_info", sv_set_syscall_info, METH_VARARGS, "PTRACE_SET_SYSCALL_INFO (6.16)"},
    {"getregset", sv_getregset, METH_VARARGS, "PTRACE_GETREGSET -> bytes"},
    {"setregset", sv_setregset, METH_VARARGS, "PTRACE_SETREGSET"},
    {"geteventmsg", sv_geteventmsg, METH_VARARGS, "PTRACE_GETEVENTMSG"},
    {"getsiginfo", sv_getsiginfo, METH_VARARGS, "PTRACE_GETSIGINFO -> bytes(128)"},
    {"read_mem", sv_read_mem, METH_VARARGS, "read tracee memory"},
    {"read_str", sv_read_str, METH_VARARGS, "read a NUL-terminated string"},
    {"write_mem", sv_write_mem, METH_VARARGS, "write tracee memory"},
    {"spawn", sv_spawn, METH_VARARGS, "fork a child that waits, installs a filter and execs"},
    {"doorbell", sv_doorbell, METH_NOARGS, "fork a sleeping child used to wake the tracer"},
    {"install_filter", sv_install_filter, METH_VARARGS, "install a seccomp filter on this thread"},
    {"notif_sizes", sv_notif_sizes, METH_NOARGS, "SECCOMP_GET_NOTIF_SIZES"},
    {"notif_recv", sv_notif_recv, METH_VARARGS, "poll + SECCOMP_IOCTL_NOTIF_RECV"},
    {"notif_send", sv_notif_send, METH_VARARGS, "SECCOMP_IOCTL_NOTIF_SEND"},
    {"fast_setup", sv_fast_setup, METH_VARARGS, "Confine's fast path for a listener (or None: free it)"},
    {"fast_enable", sv_fast_enable, METH_VARARGS, "switch Confine's fast path; calls it answered"},
    {"fast_exec_pending", sv_fast_exec_pending, METH_VARARGS, "a restarted exec the fast path continues"},
    {"fast_exec_kind", sv_fast_exec_kind, METH_VARARGS, "the format of an executable, for the fast path"},
    {"fast_exec_fresh", sv_fast_exec_fresh, METH_VARARGS, "decide fresh execs in the fast path"},
    {"notif_id_valid", sv_notif_id_valid, METH_VARARGS, "SECCOMP_IOCTL_NOTIF_ID_VALID"},
    {"notif_addfd", sv_notif_addfd, METH_VARARGS, "SECCOMP_IOCTL_NOTIF_ADDFD"},
    {"notif_set_flags", sv_notif_set_flags, METH_VARARGS, "SECCOMP_IOCTL_NOTIF_SET_FLAGS"},
    {"pidfd_open", sv_pidfd_open, METH_VARARGS, "pidfd_open(pid, flags)"},
    {"pidfd_getfd", sv_pidfd_getfd, METH_VARARGS, "pidfd_getfd(pidfd, targetfd, flags)"},
    {"openat2", sv_openat2, METH_VARARGS, "openat2(dirfd, path, flags, mode, resolve) -> fd"},
    {"statx", sv_statx, METH_VARARGS, "statx(dirfd, path, flags, mask) -> raw struct statx"},
    {"fstatfs_raw", sv_fstatfs_raw, METH_VARARGS, "fstatfs(fd) -> raw struct statfs"},
    {"renameat2", sv_renameat2, METH_VARARGS, "renameat2(olddirfd, old, newdirfd, new, flags)"},
    {"fchownat", sv_fchownat, METH_VARARGS, "fchownat(dirfd, path, uid, gid, flags)"},
    {"utimensat", sv_utimensat, METH_VARARGS, "utimensat(dirfd, path, times32|None, flags)"},
    {"inotify_add_watch", sv_inotify_add_watch, METH_VARARGS, "inotify_add_watch(fd, path, mask)"},
    {"kcmp", sv_kcmp, METH_VARARGS, "kcmp(pid1, pid2, type, idx1, idx2)"},
    {"proc_status", sv_proc_status, METH_VARARGS, "a task's umask, ids, groups, CapEff, threads"},
    {"thread_creds", sv_thread_creds, METH_VARARGS, "set the calling thread's ids, groups, CapEff"},
    {"landlock_create_ruleset", sv_landlock_create_ruleset, METH_VARARGS, "landlock_create_ruleset"},
    {"landlock_add_path_rule", sv_landlock_add_path_rule, METH_VARARGS, "landlock_add_rule(PATH_BENEATH)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "sysvisor._native", "Kernel primitives for sysvisor.", -1, methods,
};

PyMODINIT_FUNC
PyInit__native(void)
{
    return PyModule_Create(&module);
}
