"""Files and descriptors: open/read/write/stat/... rendered like strace 6.1.

Most syscalls are described by a row of argument *kinds* (`_K` below),
turned into `Sig`s by `sig()`; the few whose arguments depend on each other
(fcntl, ioctl, poll, select, epoll) have small functions of their own.
"""
from __future__ import annotations

import struct as _struct

from . import NO_READS, AT_FDCWD, Ctx, Sig, captures, register, ret_default, ret_fd
from . import xlat as X
from .render import addr as _addr
from .render import const, flags, quote
from .structs import (stat_size, numeric_mode, print_buf, print_iovec, print_stat, print_statx,
                      print_timespec, print_timeval, read_words, statx_mask_table, symbolic_mode,
                      makedev)

PATH_MAX = 4096


# ---- flag tables in strace's display order --------------------------------

def _ordered(names, *tables):
    by_name = {}
    for t in tables:
        for v, n in (t.items() if isinstance(t, dict) else t):
            by_name.setdefault(n, v)
    return tuple((by_name[n], n) for n in names if n in by_name)


# strace's open_mode_flags.in order (O_SYNC before O_DSYNC, O_TMPFILE before O_DIRECTORY)
OPEN_FLAGS_X86 = _ordered(
    ("O_CREAT", "O_EXCL", "O_NOCTTY", "O_TRUNC", "O_APPEND", "O_NONBLOCK", "O_SYNC", "O_DSYNC",
     "O_DIRECT", "O_LARGEFILE", "O_NOFOLLOW", "O_NOATIME", "O_CLOEXEC", "O_PATH", "O_TMPFILE",
     "O_DIRECTORY", "FASYNC"),
    X.OPEN_FLAGS, {0x2000: "FASYNC"})


def _open_flags_aarch64():
    over = dict(X.AARCH64_OPEN_FLAG_OVERRIDES)
    out = []
    for v, n in OPEN_FLAGS_X86:
        if n in over:
            v = over[n]
        elif n == "O_TMPFILE":
            v = 0o20000000 | over["O_DIRECTORY"]
        out.append((v, n))
    return tuple(out)


OPEN_FLAGS_ARM = _open_flags_aarch64()


_open_flags_cache: dict = {}  # (aarch64?, value) -> text; few distinct values in practice


def open_flags(ctx: Ctx, value: int) -> str:
    value &= 0xFFFFFFFF
    key = (ctx.arch == "aarch64", value)
    text = _open_flags_cache.get(key)
    if text is not None:
        return text
    acc = X.OPEN_ACCMODE.get(value & 3, "O_ACCMODE")
    rest = value & ~3
    if not rest:
        text = acc
    else:
        text = acc + "|" + flags(rest, OPEN_FLAGS_ARM if key[0] else OPEN_FLAGS_X86)
    if len(_open_flags_cache) < 4096:
        _open_flags_cache[key] = text
    return text


AT_FLAGS = ((0x100, "AT_SYMLINK_NOFOLLOW"), (0x200, "AT_REMOVEDIR"), (0x400, "AT_SYMLINK_FOLLOW"),
            (0x800, "AT_NO_AUTOMOUNT"), (0x1000, "AT_EMPTY_PATH"), (0x8000, "AT_RECURSIVE"))
FACCESSAT_FLAGS = ((0x100, "AT_SYMLINK_NOFOLLOW"), (0x200, "AT_EACCESS"), (0x1000, "AT_EMPTY_PATH"))
UNLINKAT_FLAGS = ((0x200, "AT_REMOVEDIR"),)
ACCESS_MODES = ((4, "R_OK"), (2, "W_OK"), (1, "X_OK"))
FD_FLAGS = ((1, "FD_CLOEXEC"),)
SEALS = ((1, "F_SEAL_SEAL"), (2, "F_SEAL_SHRINK"), (4, "F_SEAL_GROW"), (8, "F_SEAL_WRITE"),
         (16, "F_SEAL_FUTURE_WRITE"))
DN_FLAGS = ((1, "DN_ACCESS"), (2, "DN_MODIFY"), (4, "DN_CREATE"), (8, "DN_DELETE"),
            (16, "DN_RENAME"), (32, "DN_ATTRIB"), (0x80000000, "DN_MULTISHOT"))
LOCK_TYPES = {0: "F_RDLCK", 1: "F_WRLCK", 2: "F_UNLCK"}
FLOCK_OPS = ((1, "LOCK_SH"), (2, "LOCK_EX"), (8, "LOCK_UN"))
MEMFD_FLAGS = ((1, "MFD_CLOEXEC"), (2, "MFD_ALLOW_SEALING"), (4, "MFD_HUGETLB"),
               (8, "MFD_NOEXEC_SEAL"), (16, "MFD_EXEC"))
CLOSE_RANGE_FLAGS = ((2, "CLOSE_RANGE_UNSHARE"), (4, "CLOSE_RANGE_CLOEXEC"))
RESOLVE_FLAGS = ((1, "RESOLVE_NO_XDEV"), (2, "RESOLVE_NO_MAGICLINKS"), (4, "RESOLVE_NO_SYMLINKS"),
                 (8, "RESOLVE_BENEATH"), (16, "RESOLVE_IN_ROOT"), (32, "RESOLVE_CACHED"))
FADVISE = {0: "POSIX_FADV_NORMAL", 1: "POSIX_FADV_RANDOM", 2: "POSIX_FADV_SEQUENTIAL",
           3: "POSIX_FADV_WILLNEED", 4: "POSIX_FADV_DONTNEED", 5: "POSIX_FADV_NOREUSE"}
RWF_FLAGS = ((1, "RWF_HIPRI"), (2, "RWF_DSYNC"), (4, "RWF_SYNC"), (8, "RWF_NOWAIT"),
             (16, "RWF_APPEND"), (32, "RWF_NOAPPEND"), (64, "RWF_ATOMIC"))
STATX_SYNC = {0: "AT_STATX_SYNC_AS_STAT", 0x2000: "AT_STATX_FORCE_SYNC",
              0x4000: "AT_STATX_DONT_SYNC"}
XATTR_FLAGS = ((1, "XATTR_CREATE"), (2, "XATTR_REPLACE"))
IN_INIT_FLAGS = ((0x800, "IN_NONBLOCK"), (0x80000, "IN_CLOEXEC"))
EFD_FLAGS = ((1, "EFD_SEMAPHORE"), (0x800, "EFD_NONBLOCK"), (0x80000, "EFD_CLOEXEC"))
TFD_FLAGS = ((0x800, "TFD_NONBLOCK"), (0x80000, "TFD_CLOEXEC"))
TFD_SETTIME_FLAGS = ((1, "TFD_TIMER_ABSTIME"), (2, "TFD_TIMER_CANCEL_ON_SET"))
CLOCKS = {0: "CLOCK_REALTIME", 1: "CLOCK_MONOTONIC", 2: "CLOCK_PROCESS_CPUTIME_ID",
          3: "CLOCK_THREAD_CPUTIME_ID", 4: "CLOCK_MONOTONIC_RAW", 5: "CLOCK_REALTIME_COARSE",
          6: "CLOCK_MONOTONIC_COARSE", 7: "CLOCK_BOOTTIME", 8: "CLOCK_REALTIME_ALARM",
          9: "CLOCK_BOOTTIME_ALARM", 11: "CLOCK_TAI"}
EPOLL_EVENTS = _ordered(("EPOLLIN", "EPOLLPRI", "EPOLLOUT", "EPOLLRDNORM", "EPOLLRDBAND",
                         "EPOLLWRNORM", "EPOLLWRBAND", "EPOLLMSG", "EPOLLERR", "EPOLLHUP",
                         "EPOLLRDHUP", "EPOLLEXCLUSIVE", "EPOLLWAKEUP", "EPOLLONESHOT",
                         "EPOLLET"), X.EPOLL_EVENTS)
POLL_EVENTS = _ordered(("POLLIN", "POLLPRI", "POLLOUT", "POLLRDNORM", "POLLWRNORM",
                        "POLLRDBAND", "POLLWRBAND", "POLLERR", "POLLHUP", "POLLNVAL",
                        "POLLMSG", "POLLREMOVE", "POLLRDHUP"), X.POLL_EVENTS)


# ---- argument kinds -----------------------------------------------------------

def fd_str(ctx: Ctx, fd: int) -> str:
    if fd >= 0 and ctx.opts.fd_paths:
        p = ctx.fd_path(fd)
        if p:
            return f"{fd}<{p}>"
    return str(fd)


def a_fd(ctx: Ctx, i: int) -> str:
    return fd_str(ctx, ctx.i32(i))


def a_dirfd(ctx: Ctx, i: int) -> str:
    fd = ctx.i32(i)
    if fd != AT_FDCWD:
        return fd_str(ctx, fd)
    if ctx.opts.fd_paths:
        cwd = getattr(ctx.view, "cwd", None)
        try:
            p = cwd() if callable(cwd) else None
        except OSError:
            p = None
        if p:
            return f"AT_FDCWD<{p}>"
    return "AT_FDCWD"


def path_at(ctx: Ctx, p: int) -> str:
    if p == 0:
        return "NULL"
    r = ctx.read_str(p, PATH_MAX)
    if r is None:
        return hex(p)
    data, complete = r
    return quote(data, len(data) + 1, not complete)


def a_path(ctx: Ctx, i: int) -> str:
    return path_at(ctx, ctx.u(i))


def str_at(ctx: Ctx, p: int) -> str:
    """A NUL-terminated string capped at -s."""
    if p == 0:
        return "NULL"
    lim = ctx.opts.strsize
    r = ctx.read_str(p, lim + 1)
    if r is None:
        return hex(p)
    data, complete = r
    return quote(data, lim, not complete and len(data) <= lim)


def a_str(ctx: Ctx, i: int) -> str:
    return str_at(ctx, ctx.u(i))


def a_int(ctx: Ctx, i: int) -> str:
    return str(ctx.i32(i))


def a_uint(ctx: Ctx, i: int) -> str:
    return str(ctx.u(i) & 0xFFFFFFFF)


def a_long(ctx: Ctx, i: int) -> str:
    return str(ctx.s(i))


def a_ulong(ctx: Ctx, i: int) -> str:
    return str(ctx.u(i))


def a_ptr(ctx: Ctx, i: int) -> str:
    return _addr(ctx.u(i))


def a_hex(ctx: Ctx, i: int) -> str:
    v = ctx.u(i)
    return hex(v) if v else "0"


def a_mode(ctx: Ctx, i: int) -> str:
    return numeric_mode(ctx.u(i))


def a_oflags(ctx: Ctx, i: int) -> str:
    return open_flags(ctx, ctx.u(i))


def a_flags(table, zero: str | None = None, bits: int = 32):
    mask = (1 << bits) - 1

    cache: dict = {}  # value -> text; bounded

    def fn(ctx: Ctx, i: int) -> str:
        v = ctx.u(i) & mask
        text = cache.get(v)
        if text is None:
            text = flags(v, table, zero)
            if len(cache) < 1024:
                cache[v] = text
        return text
    return captures(fn)


def a_const(table, bits: int = 32, signed: bool = True):
    def fn(ctx: Ctx, i: int) -> str:
        v = ctx.s(i, bits) if signed else ctx.u(i) & ((1 << bits) - 1)
        return const(v, table)
    return captures(fn)


def a_off(ctx: Ctx, i: int) -> str:
    """loff_t: one register on 64-bit."""
    return str(ctx.s(i))


def _lo_hi(ctx: Ctx, i: int) -> int:
    return ctx.u(i) | (ctx.u(i + 1) << 32) if ctx.word == 4 else ctx.u(i)


def skip(ctx: Ctx, i: int) -> None:
    return None


# buffers
def a_buf_in(len_idx: int):
    """Data the caller passes (write): shown at entry, length from an arg."""
    def fn(ctx: Ctx, i: int) -> str:
        return print_buf(ctx, ctx.u(i), ctx.u(len_idx))

    def cap(ctx: Ctx, i: int) -> None:
        _cap_buf(ctx, ctx.u(i), ctx.u(len_idx))
    return captures(fn, cap)


def a_buf_out(ctx: Ctx, i: int) -> str:
    """Data the kernel fills (read): shown at exit, length = retval."""
    if ctx.failed() or ctx.retval is None:
        return _addr(ctx.u(i))
    return print_buf(ctx, ctx.u(i), ctx.retval)


def a_str_out(ctx: Ctx, i: int) -> str:
    """A string the kernel fills (getcwd): NUL-terminated, capped at -s."""
    if ctx.failed() or ctx.retval is None:
        return _addr(ctx.u(i))
    return str_at(ctx, ctx.u(i))


def a_readlink_buf(ctx: Ctx, i: int) -> str:
    if ctx.failed() or ctx.retval is None:
        return _addr(ctx.u(i))
    return print_buf(ctx, ctx.u(i), ctx.retval)


def a_iov_in(cnt_idx: int):
    def fn(ctx: Ctx, i: int) -> str:
        return print_iovec(ctx, ctx.u(i), ctx.i32(cnt_idx))
    return fn


def a_iov_out(cnt_idx: int):
    def fn(ctx: Ctx, i: int) -> str:
        if ctx.failed() or ctx.retval is None:
            return _addr(ctx.u(i))
        return print_iovec(ctx, ctx.u(i), ctx.i32(cnt_idx), data_len=ctx.retval)
    return fn


def a_stat(flavour: str | None = None):
    def fn(ctx: Ctx, i: int) -> str:
        if ctx.failed() or ctx.retval is None:
            return _addr(ctx.u(i))
        return print_stat(ctx, ctx.u(i), flavour)

    def cap(ctx: Ctx, i: int) -> None:
        if not (ctx.failed() or ctx.retval is None):
            ctx.read(ctx.u(i), stat_size(ctx, flavour))
    return captures(fn, cap)


def a_statx(ctx: Ctx, i: int) -> str:
    if ctx.failed() or ctx.retval is None:
        return _addr(ctx.u(i))
    return print_statx(ctx, ctx.u(i))


def a_atflags(table=AT_FLAGS):
    return a_flags(table)


def a_statx_flags(ctx: Ctx, i: int) -> str:
    v = ctx.u(i) & 0xFFFFFFFF
    s = STATX_SYNC.get(v & 0x6000, hex(v & 0x6000))
    rest = v & ~0x6000
    return s + ("|" + flags(rest, AT_FLAGS) if rest else "")


def a_intptr_out(ctx: Ctx, i: int) -> str:
    """`[value]` of an int the kernel writes."""
    p = ctx.u(i)
    if p == 0:
        return "NULL"
    if ctx.failed():
        return hex(p)
    d = ctx.read(p, 4)
    if d is None or len(d) < 4:
        return hex(p)
    return f"[{_struct.unpack('<i', d)[0]}]"


def a_intptr_in(ctx: Ctx, i: int) -> str:
    p = ctx.u(i)
    if p == 0:
        return "NULL"
    d = ctx.read(p, 4)
    if d is None or len(d) < 4:
        return hex(p)
    return f"[{_struct.unpack('<i', d)[0]}]"


def a_u64ptr_in(ctx: Ctx, i: int) -> str:
    p = ctx.u(i)
    if p == 0:
        return "NULL"
    d = ctx.read(p, 8)
    if d is None or len(d) < 8:
        return hex(p)
    return f"[{_struct.unpack('<q', d)[0]}]"


def ret_oct(ctx: Ctx) -> str:
    r = ctx.retval
    if r is None or ctx.failed():
        return ret_default(ctx)
    return f"0{r:o}" if r else "0"


KINDS = {
    "fd": a_fd, "dirfd": a_dirfd, "path": a_path, "str": a_str, "int": a_int, "uint": a_uint,
    "long": a_long, "ulong": a_ulong, "ptr": a_ptr, "hex": a_hex, "mode": a_mode,
    "smode": lambda ctx, i: symbolic_mode(ctx.u(i) & 0xFFFFFFFF), "oflags": a_oflags,
    "off": a_off, "stat": a_stat(), "statx": a_statx, "atflags": a_atflags(),
    "buf_out": a_buf_out, "str_out": a_str_out, "rl_buf": a_readlink_buf,
    "intp_out": a_intptr_out, "intp_in": a_intptr_in, "skip": skip,
    "u64p_in": a_u64ptr_in,
}


# ---- captures (see sysvisor.decode.captures): what each kind reads ------------------

def _cap_fd(ctx: Ctx, i: int) -> None:
    fd = ctx.i32(i)
    if fd >= 0:
        ctx.fd_path(fd)


def _cap_dirfd(ctx: Ctx, i: int) -> None:
    fd = ctx.i32(i)
    if fd != AT_FDCWD and fd >= 0:
        ctx.fd_path(fd)  # AT_FDCWD<cwd> comes from view.cwd(), not a read


def _cap_path(ctx: Ctx, i: int) -> None:
    ctx.read_str(ctx.u(i), PATH_MAX)


def _cap_str(ctx: Ctx, i: int) -> None:
    p = ctx.u(i)
    if p:
        ctx.read_str(p, ctx.opts.strsize + 1)


def _cap_buf(ctx: Ctx, addr: int, length: int) -> None:
    """print_buf's read."""
    if addr and length > 0:
        ctx.read(addr, min(length, ctx.opts.strsize))


def _cap_buf_out(ctx: Ctx, i: int) -> None:
    if not (ctx.failed() or ctx.retval is None):
        _cap_buf(ctx, ctx.u(i), ctx.retval)


def _cap_str_out(ctx: Ctx, i: int) -> None:
    if not (ctx.failed() or ctx.retval is None):
        _cap_str(ctx, i)


def _cap_statx(ctx: Ctx, i: int) -> None:
    if not (ctx.failed() or ctx.retval is None):
        ctx.read(ctx.u(i), 256)


captures(a_fd, _cap_fd, fd_paths_only=True)
captures(a_dirfd, _cap_dirfd, fd_paths_only=True)
captures(a_path, _cap_path)
captures(a_str, _cap_str)
captures(a_buf_out, _cap_buf_out)
captures(a_readlink_buf, _cap_buf_out)
captures(a_str_out, _cap_str_out)
captures(a_statx, _cap_statx)
for _fn in (a_int, a_uint, a_long, a_ulong, a_ptr, a_hex, a_mode, KINDS["smode"], a_oflags, a_off,
            skip, a_statx_flags):
    captures(_fn)


def sig(kinds, exit_from: int | None = None, ret=ret_default) -> Sig:
    fns = tuple(KINDS[k] if isinstance(k, str) else k for k in kinds)
    return Sig(fns, exit_from=exit_from, ret=ret)


def reg(names, kinds, exit_from=None, ret=ret_default):
    return register(names, sig(kinds, exit_from, ret))


# ---- open ----------------------------------------------------------------------

def _open_mode(flag_idx: int):
    def fn(ctx: Ctx, i: int) -> str | None:
        fl = ctx.u(flag_idx)
        tmp = 0o20000000
        if fl & 0o100 or fl & tmp == tmp:
            return numeric_mode(ctx.u(i))
        return None
    return captures(fn)


def a_open_how(ctx: Ctx, i: int) -> str:
    p = ctx.u(i)
    size = ctx.u(i + 1)
    d = ctx.read(p, 24) if size >= 24 else None
    if d is None or len(d) < 24:
        return _addr(p)
    fl, mode, res = _struct.unpack("<QQQ", d)
    out = "{flags=" + open_flags(ctx, fl)
    if fl & 0o100 or fl & 0o20000000:
        out += ", mode=" + numeric_mode(mode)
    else:
        out += f", mode={numeric_mode(mode) if mode else '0'}"
    out += ", resolve=" + flags(res, RESOLVE_FLAGS) + "}"
    return out


reg("open", ("path", "oflags", _open_mode(1)), ret=ret_fd)
reg("openat", ("dirfd", "path", "oflags", _open_mode(2)), ret=ret_fd)
reg("creat", ("path", "mode"), ret=ret_fd)
reg("openat2", ("dirfd", "path", a_open_how, "ulong"), ret=ret_fd)
reg("close", ("fd",))
reg(("read",), ("fd", "buf_out", "ulong"), exit_from=1)
reg(("write",), ("fd", a_buf_in(2), "ulong"))
reg("pread64", ("fd", "buf_out", "ulong", "off"), exit_from=1)
reg("pwrite64", ("fd", a_buf_in(2), "ulong", "off"))
reg(("readv",), ("fd", a_iov_out(2), "int"), exit_from=1)
reg(("writev",), ("fd", a_iov_in(2), "int"))


def a_pos_lohi(ctx: Ctx, i: int) -> str:
    return str(_lo_hi(ctx, i))


reg("preadv", ("fd", a_iov_out(2), "int", a_pos_lohi, "skip"), exit_from=1)
reg("pwritev", ("fd", a_iov_in(2), "int", a_pos_lohi, "skip"))
reg("preadv2", ("fd", a_iov_out(2), "int", a_pos_lohi, "skip", a_flags(RWF_FLAGS)), exit_from=1)
reg("pwritev2", ("fd", a_iov_in(2), "int", a_pos_lohi, "skip", a_flags(RWF_FLAGS)))
reg("lseek", ("fd", "long", a_const(X.SEEK_WHENCE)))


def a_llseek_res(ctx: Ctx, i: int) -> str:
    p = ctx.u(i)
    if ctx.failed() or ctx.retval is None:
        return _addr(p)
    d = ctx.read(p, 8)
    if d is None or len(d) < 8:
        return hex(p)
    return f"[{_struct.unpack('<q', d)[0]}]"


def a_llseek_off(ctx: Ctx, i: int) -> str:
    return str(_struct.unpack("<q", _struct.pack("<Q", (ctx.u(i) << 32) | ctx.u(i + 1)))[0])


reg("_llseek", ("fd", a_llseek_off, "skip", a_llseek_res, a_const(X.SEEK_WHENCE)), exit_from=3)

# stat family
reg(("stat", "lstat"), ("path", a_stat()), exit_from=1)
reg(("fstat",), ("fd", a_stat()), exit_from=1)
reg(("newfstatat", "fstatat64"), ("dirfd", "path", a_stat(), "atflags"), exit_from=2)
reg(("stat64", "lstat64"), ("path", a_stat("stat64")), exit_from=1)
reg("fstat64", ("fd", a_stat("stat64")), exit_from=1)


def a_oldstat(ctx: Ctx, i: int) -> str:
    if ctx.failed() or ctx.retval is None:
        return _addr(ctx.u(i))
    return print_stat(ctx, ctx.u(i), "old32" if ctx.word == 4 else None)


register(("stat", "lstat"), Sig((a_path, a_oldstat), exit_from=1, ret=ret_default))
register("fstat", Sig((a_fd, a_oldstat), exit_from=1, ret=ret_default))
reg("statx", ("dirfd", "path", a_statx_flags, a_flags(statx_mask_table()), "statx"),
    exit_from=4)

# access, links, dirs
reg("access", ("path", a_flags(ACCESS_MODES, "F_OK")))
reg("faccessat", ("dirfd", "path", a_flags(ACCESS_MODES, "F_OK")))
reg("faccessat2", ("dirfd", "path", a_flags(ACCESS_MODES, "F_OK"), a_flags(FACCESSAT_FLAGS)))
reg("readlink", ("path", "rl_buf", "ulong"), exit_from=1)
reg("readlinkat", ("dirfd", "path", "rl_buf", "ulong"), exit_from=2)


def a_getcwd_buf(ctx: Ctx, i: int) -> str:
    if ctx.failed() or ctx.retval is None:
        return _addr(ctx.u(i))
    r = ctx.read_str(ctx.u(i), PATH_MAX)
    if r is None:
        return hex(ctx.u(i))
    return quote(r[0], len(r[0]) + 1)


reg("getcwd", (a_getcwd_buf, "ulong"), exit_from=0)
reg(("chdir", "chroot", "rmdir", "unlink", "acct", "swapoff"), ("path",))
reg("fchdir", ("fd",))
reg("mkdir", ("path", "mode"))
reg("mkdirat", ("dirfd", "path", "mode"))


def _mknod_dev(mode_idx: int):
    def fn(ctx: Ctx, i: int) -> str | None:
        m = ctx.u(mode_idx) & 0o170000
        if m in (0o020000, 0o060000):
            dev = ctx.u(i)
            return makedev((dev >> 8) & 0xFFF | ((dev >> 32) & ~0xFFF & 0xFFFFFFFF),
                           (dev & 0xFF) | ((dev >> 12) & ~0xFF & 0xFFFFFFFF))
        return None
    return fn


reg("mknod", ("path", "smode", _mknod_dev(1)))
reg("mknodat", ("dirfd", "path", "smode", _mknod_dev(2)))
reg("unlinkat", ("dirfd", "path", a_flags(UNLINKAT_FLAGS)))
reg(("rename", "link", "symlink"), ("path", "path"))
reg("renameat", ("dirfd", "path", "dirfd", "path"))
reg("renameat2", ("dirfd", "path", "dirfd", "path", a_flags(X.RENAME_FLAGS)))
reg("linkat", ("dirfd", "path", "dirfd", "path", "atflags"))
reg("symlinkat", ("path", "dirfd", "path"))
reg("chmod", ("path", "mode"))
reg("fchmod", ("fd", "mode"))
reg("fchmodat", ("dirfd", "path", "mode"))
reg("fchmodat2", ("dirfd", "path", "mode", "atflags"))


def a_id(ctx: Ctx, i: int) -> str:
    v = ctx.u(i) & 0xFFFFFFFF
    return "-1" if v == 0xFFFFFFFF else str(v)


def a_id16(ctx: Ctx, i: int) -> str:
    v = ctx.u(i) & 0xFFFF
    return "-1" if v == 0xFFFF else str(v)


reg(("chown", "lchown", "chown32", "lchown32"), ("path", a_id, a_id))
reg(("fchown", "fchown32"), ("fd", a_id, a_id))
reg("fchownat", ("dirfd", "path", a_id, a_id, "atflags"))


def time_comment(sec: int, nsec: int) -> str:
    """strace's ` /* 2024-01-02T03:04:05.000000006+0000 */` after a timestamp."""
    import time as _time

    try:
        lt = _time.localtime(sec)
    except (OverflowError, OSError, ValueError):
        return ""
    frac = f".{nsec:09d}" if 0 <= nsec < 1000000000 else ""
    return " /* " + _time.strftime("%Y-%m-%dT%H:%M:%S", lt) + frac + _time.strftime("%z", lt) + " */"


def a_utimes(ctx: Ctx, i: int) -> str:
    p = ctx.u(i)
    if p == 0:
        return "NULL"
    w = read_words(ctx, p, 4, signed=True)
    if w is None:
        return hex(p)
    out = []
    for k in range(2):
        sec, nsec = w[2 * k], w[2 * k + 1]
        if nsec == (1 << 30) - 1:
            out.append(f"{{tv_sec={sec}, tv_nsec=UTIME_NOW}}")
        elif nsec == (1 << 30) - 2:
            out.append(f"{{tv_sec={sec}, tv_nsec=UTIME_OMIT}}")
        else:
            out.append(f"{{tv_sec={sec}, tv_nsec={nsec}}}" + time_comment(sec, nsec))
    return "[" + ", ".join(out) + "]"


reg("utimensat", ("dirfd", "path", a_utimes, "atflags"))
reg("truncate", ("path", "long"))
reg("ftruncate", ("fd", "long"))
reg(("fsync", "fdatasync", "syncfs"), ("fd",))


def _dents_count(ctx: Ctx, buf: int, n: int, old: bool) -> int | None:
    data = ctx.read(buf, n)
    if data is None or len(data) < n:
        return None
    off = cnt = 0
    rl_off = 2 * ctx.word if old else 16
    while off + rl_off + 2 <= n:
        reclen, = _struct.unpack_from("<H", data, off + rl_off)
        if reclen == 0:
            break
        cnt += 1
        off += reclen
    return cnt


def _a_dents(old: bool):
    def fn(ctx: Ctx, i: int) -> str:
        p = ctx.u(i)
        if ctx.failed() or ctx.retval is None:
            return _addr(p)
        c = _dents_count(ctx, p, ctx.retval, old)
        if c is None:
            return _addr(p)
        return f"{_addr(p)} /* {c} entries */"
    return fn


reg("getdents64", ("fd", _a_dents(False), "uint"), exit_from=1)
reg("getdents", ("fd", _a_dents(True), "uint"), exit_from=1)


# ---- fcntl --------------------------------------------------------------------

def _flock_at(ctx: Ctx, p: int, is64: bool, with_pid: bool = False) -> str:
    if ctx.word == 8 or is64:
        d = ctx.read(p, 32 if ctx.word == 8 else 24)
        if d is None or len(d) < (32 if ctx.word == 8 else 24):
            return _addr(p)
        if ctx.word == 8:
            t, wh, start, ln, pid = _struct.unpack_from("<hhxxxxqqi", d)
        else:
            t, wh, start, ln, pid = _struct.unpack_from("<hhqqi", d)
    else:
        d = ctx.read(p, 16)
        if d is None or len(d) < 16:
            return _addr(p)
        t, wh, start, ln, pid = _struct.unpack_from("<hhiii", d)
    return (f"{{l_type={const(t, LOCK_TYPES)}, l_whence={const(wh, X.SEEK_WHENCE)}, "
            f"l_start={start}, l_len={ln}" + (f", l_pid={pid}}}" if with_pid else "}"))


_FCNTL_LOCK = {5: False, 6: False, 7: False, 36: True, 37: True, 38: True,
               12: True, 13: True, 14: True}  # i386 F_GETLK64.. = 12..14
_FCNTL_EXIT_LOCK = {5, 36, 12}


def _fcntl_cmd(ctx: Ctx, i: int) -> str:
    cmd = ctx.i32(i)
    if ctx.word == 4 and cmd in (12, 13, 14):
        return ("F_GETLK64", "F_SETLK64", "F_SETLKW64")[cmd - 12]
    return const(cmd, X.FCNTL_CMDS)


def _fcntl_arg(ctx: Ctx, i: int) -> str | None:
    cmd = ctx.i32(1)
    v = ctx.u(i)
    if cmd in (1, 3, 9, 11, 1025, 1032, 1034, 1027, 1028, 1039):  # no argument
        if cmd in (1027,):
            return fd_str(ctx, ctx.i32(i))
        return None
    if cmd in (0, 1030):
        return str(ctx.i32(i))
    if cmd == 2:
        return flags(v & 0xFFFFFFFF, FD_FLAGS)
    if cmd == 4:
        return open_flags(ctx, v)
    if cmd in _FCNTL_LOCK:
        if cmd in _FCNTL_EXIT_LOCK and (ctx.retval is None):
            return ""  # shown at exit
        return _flock_at(ctx, v, _FCNTL_LOCK[cmd])
    if cmd == 1024:  # F_SETLEASE
        return const(ctx.i32(i), LOCK_TYPES)
    if cmd == 1026:  # F_NOTIFY
        return flags(v & 0xFFFFFFFF, DN_FLAGS)
    if cmd == 1033:  # F_ADD_SEALS
        return flags(v & 0xFFFFFFFF, SEALS)
    if cmd in (8, 10, 1031):
        return str(ctx.i32(i))
    return hex(v) if v else "0"


def _fcntl_ret(ctx: Ctx) -> str:
    if ctx.failed() or ctx.retval is None:
        return ret_default(ctx)
    cmd = ctx.i32(1)
    r = ctx.retval
    if cmd in (0, 1030):
        return ret_fd(ctx)
    if cmd == 1:
        return "0" if r == 0 else f"{r:#x} (flags {flags(r, FD_FLAGS)})"
    if cmd == 3:
        return f"{r:#x} (flags {open_flags(ctx, r)})" if r else f"0 (flags {open_flags(ctx, r)})"
    if cmd == 1034:
        return "0" if r == 0 else f"{r:#x} (seals {flags(r, SEALS)})"
    if cmd == 1025:
        return const(r, LOCK_TYPES)
    return str(r)


def _fcntl_a2(ctx: Ctx, i: int) -> str | None:
    cmd = ctx.i32(1)
    if cmd in _FCNTL_EXIT_LOCK:
        if ctx.failed() or ctx.retval is None:
            return _addr(ctx.u(i))
        return _flock_at(ctx, ctx.u(i), _FCNTL_LOCK[cmd], True)
    return _fcntl_arg(ctx, i)


# Everything is rendered at exit (exit_from=0): the third argument is absent
# for some commands and an output for F_GETLK, and a Sig's split is static.
register(("fcntl", "fcntl64"), Sig((a_fd, _fcntl_cmd, _fcntl_a2), exit_from=0, ret=_fcntl_ret))


# ---- ioctl --------------------------------------------------------------------

_IOCTL_NAMES = dict(X.IOCTLS)


def _ioctl_name(cmd: int) -> str:
    n = _IOCTL_NAMES.get(cmd)
    if n:
        return n
    d = (cmd >> 30) & 3
    size = (cmd >> 16) & 0x3FFF
    typ = (cmd >> 8) & 0xFF
    nr = cmd & 0xFF
    if d == 0 and size == 0:
        return f"_IOC(_IOC_NONE, {typ:#x}, {nr:#x}, 0)"
    dirs = {1: "_IOC_WRITE", 2: "_IOC_READ", 3: "_IOC_READ|_IOC_WRITE"}.get(d, "_IOC_NONE")
    return f"_IOC({dirs}, {typ:#x}, {nr:#x}, {size:#x})"


_BAUD = {0: "B0", 1: "B50", 2: "B75", 3: "B110", 4: "B134", 5: "B150", 6: "B200", 7: "B300",
         8: "B600", 9: "B1200", 10: "B1800", 11: "B2400", 12: "B4800", 13: "B9600",
         14: "B19200", 15: "B38400", 0o10001: "B57600", 0o10002: "B115200",
         0o10003: "B230400", 0o10004: "B460800", 0o10005: "B500000", 0o10006: "B576000",
         0o10007: "B921600", 0o10010: "B1000000", 0o10011: "B1152000", 0o10012: "B1500000",
         0o10013: "B2000000", 0o10014: "B2500000", 0o10015: "B3000000", 0o10016: "B3500000",
         0o10017: "B4000000", 0o10000: "BOTHER"}


def _termios(ctx: Ctx, p: int) -> str:
    d = ctx.read(p, 36)
    if d is None or len(d) < 17:
        return _addr(p)
    iflag, oflag, cflag, lflag = _struct.unpack_from("<IIII", d)
    line = d[16]
    _ = line
    baud = _BAUD.get(cflag & 0o10017, hex(cflag & 0o10017))
    return ("{" + baud + (" " if oflag & 1 else " -") + "opost" + (" " if lflag & 1 else " -")
            + "isig" + (" " if lflag & 2 else " -") + "icanon" + (" " if lflag & 8 else " -")
            + "echo ...}")


def _winsize(ctx: Ctx, p: int) -> str:
    d = ctx.read(p, 8)
    if d is None or len(d) < 8:
        return _addr(p)
    r, c, x, y = _struct.unpack("<HHHH", d)
    return f"{{ws_row={r}, ws_col={c}, ws_xpixel={x}, ws_ypixel={y}}}"


# cmd -> (when, renderer): "out" after success, "in" at entry, "none" no arg
_IOCTL_ARG = {
    0x5401: ("out", _termios),   # TCGETS
    0x5402: ("in", _termios), 0x5403: ("in", _termios), 0x5404: ("in", _termios),  # TCSETS*
    0x5413: ("out", _winsize),   # TIOCGWINSZ
    0x5414: ("in", _winsize),    # TIOCSWINSZ
    0x540F: ("out", lambda c, p: _intp(c, p)),  # TIOCGPGRP
    0x5410: ("in", lambda c, p: _intp(c, p)),   # TIOCSPGRP
    0x541B: ("out", lambda c, p: _intp(c, p)),  # FIONREAD
    0x5421: ("in", lambda c, p: _intp(c, p)),   # FIONBIO
    0x5452: ("in", lambda c, p: _intp(c, p)),   # FIOASYNC
    0x5429: ("out", lambda c, p: _intp(c, p)),  # TIOCGSID
    0x540E: ("none", None),      # TIOCSCTTY (int arg)
    0x5451: ("none", None),      # FIOCLEX
    0x5450: ("none", None),      # FIONCLEX
}


def _intp(ctx: Ctx, p: int) -> str:
    d = ctx.read(p, 4)
    if d is None or len(d) < 4:
        return _addr(p)
    return f"[{_struct.unpack('<i', d)[0]}]"


def _ioctl_arg(ctx: Ctx, i: int) -> str | None:
    cmd = ctx.u(1) & 0xFFFFFFFF
    p = ctx.u(i)
    how = _IOCTL_ARG.get(cmd)
    if how is None:
        return hex(p) if p else "0" if cmd in _IOCTL_NAMES else _addr(p)
    when, fn = how
    if when == "none":
        if cmd == 0x540E:
            return str(ctx.i32(i))
        return None
    if when == "out":
        if ctx.failed() or ctx.retval is None:
            return _addr(p)
        return fn(ctx, p)
    return fn(ctx, p)


register("ioctl", Sig((a_fd, lambda c, i: _ioctl_name(c.u(i) & 0xFFFFFFFF), _ioctl_arg),
                      exit_from=0, ret=ret_default))


# ---- dup, pipe --------------------------------------------------------------------

reg("dup", ("fd",), ret=ret_fd)
reg("dup2", ("fd", "fd"), ret=ret_fd)
reg("dup3", ("fd", "fd", a_flags(((0x80000, "O_CLOEXEC"),))), ret=ret_fd)


def a_pipefds(ctx: Ctx, i: int) -> str:
    p = ctx.u(i)
    if ctx.failed() or ctx.retval is None:
        return _addr(p)
    d = ctx.read(p, 8)
    if d is None or len(d) < 8:
        return _addr(p)
    a, b = _struct.unpack("<ii", d)
    return f"[{fd_str(ctx, a)}, {fd_str(ctx, b)}]"


reg("pipe", (a_pipefds,), exit_from=0)
reg("pipe2", (a_pipefds, lambda c, i: flags(c.u(i) & 0xFFFFFFFF, OPEN_FLAGS_ARM if c.arch == "aarch64"
                                              else OPEN_FLAGS_X86)), exit_from=0)


# ---- poll, select ------------------------------------------------------------------

def _pollfds(ctx: Ctx, p: int, n: int, revents: bool) -> str | None:
    if p == 0:
        return "NULL"
    if n > 1024 * 1024:
        return _addr(p)
    shown = min(n, ctx.opts.max_array)
    d = ctx.read(p, 8 * shown) if shown else b""
    if d is None or len(d) < 8 * shown:
        return _addr(p)
    out = []
    for k in range(shown):
        fd, ev, rev = _struct.unpack_from("<ihh", d, 8 * k)
        if revents:
            rev &= 0xFFFF
            if rev:
                out.append(f"{{fd={fd_str(ctx, fd)}, revents={flags(rev, POLL_EVENTS)}}}")
        else:
            out.append(f"{{fd={fd_str(ctx, fd)}, events={flags(ev & 0xFFFF, POLL_EVENTS)}}}")
    if n > shown and not revents:
        out.append("...")
    return "[" + ", ".join(out) + "]"


def a_pollfds(ctx: Ctx, i: int) -> str:
    return _pollfds(ctx, ctx.u(i), ctx.u(i + 1), False)


def _poll_ret(ts_idx: int | None):
    def fn(ctx: Ctx) -> str:
        r = ctx.retval
        if r is None or ctx.failed():
            return ret_default(ctx)
        if r == 0:
            extra = "Timeout"
        else:
            extra = _pollfds(ctx, ctx.u(0), ctx.u(1), True)
        if ts_idx is not None and ctx.u(ts_idx):
            extra += ", left " + print_timespec(ctx, ctx.u(ts_idx))
        return f"{r} ({extra})"
    return fn


def a_sigmask(ctx: Ctx, i: int) -> str:
    """`[INT TERM]` sigset with its size (ppoll/pselect/epoll_pwait)."""
    from .xlat import SIGNALS

    p = ctx.u(i)
    if p == 0:
        return "NULL"
    size = ctx.u(i + 1) if i + 1 < 6 else 8
    size = min(size, 16)
    d = ctx.read(p, size)
    if d is None or len(d) < size:
        return hex(p)
    mask = int.from_bytes(d, "little")
    names = []
    for s in range(1, size * 8 + 1):
        if mask >> (s - 1) & 1:
            n = SIGNALS.get(s)
            if n is None:
                n = f"RT_{s - 32}" if s >= 32 else str(s)
            names.append(n[3:] if n.startswith("SIG") else n)
    return "[" + " ".join(names) + "]"


reg("poll", (a_pollfds, "uint", "int"), ret=_poll_ret(None))
reg("ppoll", (a_pollfds, "uint", lambda c, i: print_timespec(c, c.u(i)), a_sigmask, "ulong"),
    ret=_poll_ret(2))


def _fdset(ctx: Ctx, p: int, nfds: int) -> list[int] | None:
    if nfds <= 0:
        return []
    nb = ((min(nfds, 1024 * 64) + ctx.word * 8 - 1) // (ctx.word * 8)) * ctx.word
    d = ctx.read(p, nb)
    if d is None or len(d) < nb:
        return None
    v = int.from_bytes(d, "little")
    return [k for k in range(min(nfds, nb * 8)) if v >> k & 1]


def a_fdset(ctx: Ctx, i: int) -> str:
    p = ctx.u(i)
    if p == 0:
        return "NULL"
    fds = _fdset(ctx, p, ctx.i32(0))
    if fds is None:
        return hex(p)
    return "[" + " ".join(fd_str(ctx, f) for f in fds) + "]"


def _select_ret(ts_kind: str):
    def fn(ctx: Ctx) -> str:
        r = ctx.retval
        if r is None or ctx.failed():
            return ret_default(ctx)
        if r == 0:
            parts = ["Timeout"]
        else:
            parts = []
            for k, lbl in ((1, "in"), (2, "out"), (3, "except")):
                if ctx.u(k):
                    fds = _fdset(ctx, ctx.u(k), ctx.i32(0))
                    if fds:
                        parts.append(lbl + " [" + " ".join(fd_str(ctx, f) for f in fds) + "]")
            parts = [", ".join(parts)] if parts else []
        if ctx.u(4):
            left = (print_timeval if ts_kind == "tv" else print_timespec)(ctx, ctx.u(4))
            if parts:
                parts[-1] += ", left " + left
            else:
                parts.append("left " + left)
        return f"{r} ({parts[0]})" if parts else str(r)
    return fn


reg(("select", "_newselect"), ("int", a_fdset, a_fdset, a_fdset,
                               lambda c, i: print_timeval(c, c.u(i))), ret=_select_ret("tv"))


def a_pselect_sig(ctx: Ctx, i: int) -> str:
    p = ctx.u(i)
    if p == 0:
        return "NULL"
    w = read_words(ctx, p, 2)
    if w is None:
        return hex(p)
    class _Sub:
        pass
    sub = Ctx.__new__(Ctx)
    sub.view, sub.opts, sub.retval, sub.arch, sub.word = ctx.view, ctx.opts, ctx.retval, ctx.arch, ctx.word
    sub.args = [w[0], w[1], 0, 0, 0, 0]
    return "{" + a_sigmask(sub, 0) + f", {w[1]}}}"


reg("pselect6", ("int", a_fdset, a_fdset, a_fdset, lambda c, i: print_timespec(c, c.u(i)),
                 a_pselect_sig), ret=_select_ret("ts"))


# ---- epoll ------------------------------------------------------------------------

def _epoll_event(ctx: Ctx, d: bytes, off: int) -> str:
    ev, data = _struct.unpack_from("<IQ", d, off)
    u32 = data & 0xFFFFFFFF
    return (f"{{events={flags(ev, EPOLL_EVENTS)}, data={{u32={u32}, u64={data}}}}}")


_EPEV = 12  # packed on x86_64; 16 on aarch64/i386? (i386 packed too)


def _epev_size(ctx: Ctx) -> int:
    return 16 if ctx.arch == "aarch64" else 12


def _epoll_event_at(ctx: Ctx, p: int) -> str:
    if p == 0:
        return "NULL"
    sz = _epev_size(ctx)
    d = ctx.read(p, sz)
    if d is None or len(d) < sz:
        return hex(p)
    if sz == 16:
        ev, = _struct.unpack_from("<I", d, 0)
        data, = _struct.unpack_from("<Q", d, 8)
        return f"{{events={flags(ev, EPOLL_EVENTS)}, data={{u32={data & 0xFFFFFFFF}, u64={data}}}}}"
    return _epoll_event(ctx, d, 0)


def a_epoll_events_out(ctx: Ctx, i: int) -> str:
    p = ctx.u(i)
    if ctx.failed() or ctx.retval is None:
        return _addr(p)
    n = ctx.retval
    shown = min(n, ctx.opts.max_array)
    sz = _epev_size(ctx)
    out = []
    for k in range(shown):
        out.append(_epoll_event_at(ctx, p + k * sz))
    if n > shown:
        out.append("...")
    return "[" + ", ".join(out) + "]"


reg("epoll_create", ("int",), ret=ret_fd)
reg("epoll_create1", (a_flags(((0x80000, "EPOLL_CLOEXEC"),)),), ret=ret_fd)
reg("epoll_ctl", ("fd", a_const(X.EPOLL_CTL_OPS), "fd",
                  lambda c, i: _epoll_event_at(c, c.u(i))))
reg("epoll_wait", ("fd", a_epoll_events_out, "int", "int"), exit_from=1)
reg("epoll_pwait", ("fd", a_epoll_events_out, "int", "int", a_sigmask, "ulong"), exit_from=1)
reg("epoll_pwait2", ("fd", a_epoll_events_out, "int", lambda c, i: print_timespec(c, c.u(i)),
                     a_sigmask, "ulong"), exit_from=1)

# ---- misc fd ops -------------------------------------------------------------------

reg("flock", ("fd", lambda c, i: flags(c.u(i) & ~4 & 0xFFFFFFFF, FLOCK_OPS)
              + ("|LOCK_NB" if c.u(i) & 4 else "")))


def a_off_inout(ctx: Ctx, i: int) -> str:
    p = ctx.u(i)
    if p == 0:
        return "NULL"
    d = ctx.read(p, 8)
    if d is None or len(d) < 8:
        return hex(p)
    return f"[{_struct.unpack('<q', d)[0]}]"


def _sendfile_off(ctx: Ctx, i: int) -> str:
    # strace shows the offset at entry, and `[in => out]` only in -v; the
    # abbreviated form is the value after the call.
    return a_off_inout(ctx, i)


def _a_fd_stash_off(idx: int):
    def fn(ctx: Ctx, i: int) -> str:
        if ctx.retval is None:
            data = getattr(ctx.view, "data", None)
            if isinstance(data, dict):
                data["decode_off"] = a_off_inout(ctx, idx)
        return a_fd(ctx, i)
    return fn


def _a_sendfile_off(ctx: Ctx, i: int) -> str:
    after = a_off_inout(ctx, i)
    data = getattr(ctx.view, "data", None)
    before = data.get("decode_off") if isinstance(data, dict) else None
    if before is None:
        return after
    if ctx.failed() or ctx.retval is None or before == after or ctx.u(i) == 0:
        return before
    return f"{before} => {after}"


reg(("sendfile", "sendfile64"), ("fd", _a_fd_stash_off(2), _a_sendfile_off, "ulong"), exit_from=2)
reg("copy_file_range", ("fd", a_off_inout, "fd", a_off_inout, "ulong", "uint"))
reg("splice", ("fd", a_off_inout, "fd", a_off_inout, "ulong", a_flags(X.SPLICE_FLAGS)))
reg("tee", ("fd", "fd", "ulong", a_flags(X.SPLICE_FLAGS)))


def _statfs_at(ctx: Ctx, p: int, is64: bool = False) -> str:
    if ctx.failed() or ctx.retval is None:
        return _addr(p)
    w = 8 if (ctx.word == 8 or is64) else 4
    # x86_64/aarch64: f_type, f_bsize, f_blocks, f_bfree, f_bavail, f_files, f_ffree (8 each),
    # f_fsid (2x4), f_namelen, f_frsize, f_flags
    if ctx.word == 8:
        d = ctx.read(p, 120)
        if d is None or len(d) < 120:
            return _addr(p)
        t, bs, bl, bf, ba, fi, ff = _struct.unpack_from("<7q", d, 0)
        f0, f1 = _struct.unpack_from("<II", d, 56)
        nl, fr, fl = _struct.unpack_from("<3q", d, 64)
    else:
        return _addr(p)
    _ = w
    return (f"{{f_type={_FS_MAGIC.get(t, hex(t))}, f_bsize={bs}, f_blocks={bl}, f_bfree={bf}, "
            f"f_bavail={ba}, f_files={fi}, f_ffree={ff}, f_fsid={{val=[{f0:#x}, {f1:#x}]}}, "
            f"f_namelen={nl}, f_frsize={fr}, f_flags={flags(fl, _ST_FLAGS)}}}").replace(
                "[0x0,", "[0,").replace(", 0x0]", ", 0]")


_FS_MAGIC = {0xEF53: "EXT2_SUPER_MAGIC", 0x01021994: "TMPFS_MAGIC", 0x9FA0: "PROC_SUPER_MAGIC",
             0x62656572: "SYSFS_MAGIC", 0x794C7630: "OVERLAYFS_SUPER_MAGIC",
             0x9123683E: "BTRFS_SUPER_MAGIC", 0x58465342: "XFS_SUPER_MAGIC",
             0x1373: "DEVFS_SUPER_MAGIC", 0x63677270: "CGROUP2_SUPER_MAGIC",
             0x858458F6: "RAMFS_MAGIC", 0x6969: "NFS_SUPER_MAGIC", 0x65735546: "FUSE_SUPER_MAGIC",
             0x73717368: "SQUASHFS_MAGIC", 0x01021997: "V9FS_MAGIC"}
_ST_FLAGS = ((1, "ST_RDONLY"), (2, "ST_NOSUID"), (4, "ST_NODEV"), (8, "ST_NOEXEC"),
             (16, "ST_SYNCHRONOUS"), (32, "ST_VALID"), (64, "ST_MANDLOCK"), (1024, "ST_NOATIME"),
             (2048, "ST_NODIRATIME"), (4096, "ST_RELATIME"), (0x2000, "ST_NOSYMFOLLOW"))

reg("statfs", ("path", lambda c, i: _statfs_at(c, c.u(i))), exit_from=1)
reg("fstatfs", ("fd", lambda c, i: _statfs_at(c, c.u(i))), exit_from=1)
reg("inotify_init1", (a_flags(IN_INIT_FLAGS),), ret=ret_fd)
reg("inotify_init", (), ret=ret_fd)
reg("inotify_add_watch", ("fd", "path", a_flags(X.INOTIFY_MASK)))
reg("inotify_rm_watch", ("fd", "int"))
reg("fallocate", ("fd", a_flags(X.FALLOC_FLAGS), "off", "off"))
reg("fadvise64", ("fd", "off", "ulong", a_const(FADVISE)))
reg("fadvise64_64", ("fd", "off", "off", a_const(FADVISE)))


def a_xattr_val_in(ctx: Ctx, i: int) -> str:
    return print_buf(ctx, ctx.u(i), ctx.u(i + 1))


def a_xattr_val_out(ctx: Ctx, i: int) -> str:
    if ctx.failed() or ctx.retval is None:
        return _addr(ctx.u(i))
    return print_buf(ctx, ctx.u(i), ctx.retval)


def a_xattr_list(ctx: Ctx, i: int) -> str:
    if ctx.failed() or ctx.retval is None:
        return _addr(ctx.u(i))
    if ctx.u(i) == 0:
        return "NULL"
    return print_buf(ctx, ctx.u(i), ctx.retval)


reg(("setxattr", "lsetxattr"), ("path", "str", a_xattr_val_in, "ulong", a_flags(XATTR_FLAGS)))
reg("fsetxattr", ("fd", "str", a_xattr_val_in, "ulong", a_flags(XATTR_FLAGS)))
reg(("getxattr", "lgetxattr"), ("path", "str", a_xattr_val_out, "ulong"), exit_from=2)
reg("fgetxattr", ("fd", "str", a_xattr_val_out, "ulong"), exit_from=2)
reg(("listxattr", "llistxattr"), ("path", a_xattr_list, "ulong"), exit_from=1)
reg("flistxattr", ("fd", a_xattr_list, "ulong"), exit_from=1)
reg(("removexattr", "lremovexattr"), ("path", "str"))
reg("fremovexattr", ("fd", "str"))
reg("umask", ("mode",), ret=ret_oct)
reg("mount", ("str", "path", "str", a_flags(X.MOUNT_FLAGS), "ptr"))
reg("umount2", ("path", a_flags(X.UMOUNT_FLAGS)))
reg("memfd_create", ("str", a_flags(MEMFD_FLAGS)), ret=ret_fd)
reg("eventfd2", ("uint", a_flags(EFD_FLAGS)), ret=ret_fd)
reg("eventfd", ("uint",), ret=ret_fd)
reg("timerfd_create", (a_const(CLOCKS), a_flags(TFD_FLAGS)), ret=ret_fd)


def _itimerspec(ctx: Ctx, p: int) -> str:
    w = read_words(ctx, p, 4, signed=True)
    if w is None:
        return _addr(p)
    return (f"{{it_interval={{tv_sec={w[0]}, tv_nsec={w[1]}}}, "
            f"it_value={{tv_sec={w[2]}, tv_nsec={w[3]}}}}}")


def a_itimerspec_in(ctx: Ctx, i: int) -> str:
    return _itimerspec(ctx, ctx.u(i))


def a_itimerspec_out(ctx: Ctx, i: int) -> str:
    if ctx.u(i) == 0:
        return "NULL"
    if ctx.failed() or ctx.retval is None:
        return hex(ctx.u(i))
    return _itimerspec(ctx, ctx.u(i))


reg("timerfd_settime", ("fd", a_flags(TFD_SETTIME_FLAGS), a_itimerspec_in, a_itimerspec_out),
    exit_from=3)
reg("timerfd_gettime", ("fd", a_itimerspec_out), exit_from=1)


def a_close_range_max(ctx: Ctx, i: int) -> str:
    v = ctx.u(i) & 0xFFFFFFFF
    return str(v)


reg("close_range", ("fd", a_close_range_max, a_flags(CLOSE_RANGE_FLAGS)))
reg("sync", ())
reg("sync_file_range", ("fd", "off", "off", a_flags(((1, "SYNC_FILE_RANGE_WAIT_BEFORE"),
                                                      (2, "SYNC_FILE_RANGE_WRITE"),
                                                      (4, "SYNC_FILE_RANGE_WAIT_AFTER")))))
reg("readahead", ("fd", "off", "ulong"))
reg("name_to_handle_at", ("dirfd", "path", "ptr", "ptr", "atflags"))
reg("pivot_root", ("path", "path"))
reg("swapon", ("path", "hex"))
