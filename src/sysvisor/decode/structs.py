"""Readers and printers of the structs strace decodes, shared by the
decoder families. Functions take a `Ctx` (for memory, arch and options)
and return strace's text. Layouts differ with the word size: use ctx.word.

Append new functions; do not rename or rewrite existing ones (several
decoder modules depend on them).
"""
from __future__ import annotations

import struct as _struct

from .render import quote
from .xlat import FILE_TYPES


# ---- file / descriptor / network structs (decode/fs.py, decode/net.py) ------

def _mode_str(mode: int) -> str:
    """strace's print_symbolic_mode_t: `S_IFREG|S_ISUID|0755`."""
    fmt = mode & 0o170000
    out = ""
    if fmt:
        name = FILE_TYPES.get(fmt)
        if name is None:
            return f"{mode:#05o}" if mode else "000"
        out = name + "|"
    if mode & 0o4000:
        out += "S_ISUID|"
    if mode & 0o2000:
        out += "S_ISGID|"
    if mode & 0o1000:
        out += "S_ISVTX|"
    rest = mode & 0o777
    return out + (f"0{rest:02o}" if rest else "000")


def symbolic_mode(mode: int) -> str:
    return _mode_str(mode)


def numeric_mode(mode: int) -> str:
    """strace's print_numeric_umode_t (`%#03ho`): 0644, 000, 01777."""
    mode &= 0xFFFF
    return f"0{mode:02o}" if mode else "000"


def makedev(major: int, minor: int) -> str:
    def h(v):
        return hex(v) if v else "0"
    return f"makedev({h(major)}, {h(minor)})"


def _dev_split(dev: int) -> tuple[int, int]:
    major = ((dev >> 8) & 0xFFF) | ((dev >> 32) & ~0xFFF & 0xFFFFFFFF)
    minor = (dev & 0xFF) | ((dev >> 12) & ~0xFF & 0xFFFFFFFF)
    return major, minor


# (size, mode (off, fmt), rdev (off, fmt), size (off, fmt)) per stat flavour
_STAT_LAYOUTS = {
    "x86_64": (144, (24, "I"), (40, "Q"), (48, "q")),
    "aarch64": (128, (16, "I"), (32, "Q"), (48, "q")),
    "stat64": (96, (16, "I"), (32, "Q"), (44, "q")),     # i386 stat64 (packed)
    "old32": (64, (8, "H"), (16, "I"), (20, "I")),      # i386 struct stat
}


def print_stat(ctx, addr: int, flavour: str | None = None) -> str:
    """`{st_mode=S_IFREG|0644, st_size=13, ...}` (abbreviated like strace)."""
    if flavour is None:
        flavour = "aarch64" if ctx.arch == "aarch64" else ("stat64" if ctx.word == 4 else "x86_64")
    size, (mo, mf), (ro, rf), (so, sf) = _STAT_LAYOUTS[flavour]
    data = ctx.read(addr, size)
    if data is None or len(data) < size:
        return "NULL" if addr == 0 else hex(addr)
    mode = _struct.unpack_from("<" + mf, data, mo)[0]
    out = "{st_mode=" + _mode_str(mode) + ", "
    if mode & 0o170000 in (0o020000, 0o060000):
        rdev = _struct.unpack_from("<" + rf, data, ro)[0]
        if flavour == "old32":
            out += "st_rdev=" + makedev((rdev >> 8) & 0xFF, rdev & 0xFF)
        else:
            out += "st_rdev=" + makedev(*_dev_split(rdev))
    else:
        out += f"st_size={_struct.unpack_from('<' + sf, data, so)[0]}"
    return out + ", ...}"


STATX_ATTRS = ((0x4, "STATX_ATTR_COMPRESSED"), (0x10, "STATX_ATTR_IMMUTABLE"),
               (0x20, "STATX_ATTR_APPEND"), (0x40, "STATX_ATTR_NODUMP"),
               (0x800, "STATX_ATTR_ENCRYPTED"), (0x1000, "STATX_ATTR_AUTOMOUNT"),
               (0x2000, "STATX_ATTR_MOUNT_ROOT"), (0x100000, "STATX_ATTR_VERITY"),
               (0x200000, "STATX_ATTR_DAX"))


def statx_mask_table():
    from .xlat import STATX_MASK

    return ((0xFFF, "STATX_ALL"), (0x7FF, "STATX_BASIC_STATS")) + tuple(STATX_MASK)


def print_statx(ctx, addr: int) -> str:
    from .render import flags

    data = ctx.read(addr, 256)
    if data is None or len(data) < 256:
        return "NULL" if addr == 0 else hex(addr)
    mask, = _struct.unpack_from("<I", data, 0)
    attrs, = _struct.unpack_from("<Q", data, 8)
    mode, = _struct.unpack_from("<H", data, 28)
    size, = _struct.unpack_from("<Q", data, 40)
    return ("{stx_mask=" + flags(mask, statx_mask_table()) + ", stx_attributes="
            + flags(attrs, STATX_ATTRS) + ", stx_mode=" + _mode_str(mode)
            + f", stx_size={size}, ...}}")


def read_words(ctx, addr: int, n: int, signed: bool = False) -> list[int] | None:
    """n native words (ctx.word bytes each), or None if unreadable."""
    w = ctx.word
    data = ctx.read(addr, w * n)
    if data is None or len(data) < w * n:
        return None
    fmt = ("<%d" % n) + ({4: "i", 8: "q"}[w] if signed else {4: "I", 8: "Q"}[w])
    return list(_struct.unpack(fmt, data))


def print_buf(ctx, addr: int, length: int) -> str:
    """strace's printstrn: `"data"...` capped at -s, or the address."""
    if addr == 0:
        return "NULL"
    if length <= 0:
        return '""' if length == 0 else hex(addr)
    lim = ctx.opts.strsize
    n = min(length, lim)
    data = ctx.read(addr, n)
    if data is None or len(data) < n:
        return hex(addr)
    return quote(data, lim, length > lim)


def print_iovec(ctx, addr: int, count: int, data_len: int | None = None,
                show_data: bool = True) -> str:
    """`[{iov_base="...", iov_len=5}, ...]`; data_len caps the bytes shown
    over the whole array (the return value of readv), None: iov_len each."""
    if addr == 0:
        return "NULL"
    if count < 0 or count > 1024:
        return hex(addr)
    shown = min(count, ctx.opts.max_array)
    words = read_words(ctx, addr, 2 * shown) if shown else []
    if words is None:
        return hex(addr)
    parts = []
    left = data_len
    for k in range(shown):
        base, ln = words[2 * k], words[2 * k + 1]
        if not show_data:
            b = "NULL" if base == 0 else hex(base)
        else:
            n = ln if left is None else max(0, min(ln, left))
            b = print_buf(ctx, base, n)
            if left is not None:
                left -= n
        parts.append(f"{{iov_base={b}, iov_len={ln}}}")
    if count > shown:
        parts.append("...")
    return "[" + ", ".join(parts) + "]"


def print_timespec(ctx, addr: int) -> str:
    """`{tv_sec=1, tv_nsec=0}` (native layout)."""
    w = read_words(ctx, addr, 2, signed=True)
    if w is None:
        return "NULL" if addr == 0 else hex(addr)
    return f"{{tv_sec={w[0]}, tv_nsec={w[1]}}}"


def print_timeval(ctx, addr: int) -> str:
    w = read_words(ctx, addr, 2, signed=True)
    if w is None:
        return "NULL" if addr == 0 else hex(addr)
    return f"{{tv_sec={w[0]}, tv_usec={w[1]}}}"


def _inet6(b: bytes) -> str:
    import ipaddress

    return str(ipaddress.IPv6Address(b))


def sockaddr_from_bytes(ctx, data: bytes) -> str:
    """A sockaddr already read, rendered like strace's print_sockaddr."""
    from .render import quote
    from .xlat import ADDRESS_FAMILIES

    if len(data) < 2:
        return "{sa_family=???}" if not data else "{}"
    fam, = _struct.unpack_from("<H", data, 0)
    fname = ADDRESS_FAMILIES.get(fam, str(fam))
    head = "{sa_family=" + fname
    if fam == 1:  # AF_UNIX
        path = data[2:]
        if not path:
            return head + "}"
        if path[0] == 0:
            p = path[1:]
            return head + ", sun_path=@" + quote(p, len(p) + 1) + "}"
        nul = path.find(b"\0")
        if nul >= 0:
            path = path[:nul]
        return head + ", sun_path=" + quote(path, len(path) + 1) + "}"
    if fam == 2 and len(data) >= 8:
        port, = _struct.unpack_from(">H", data, 2)
        ip = ".".join(str(x) for x in data[4:8])
        return head + f", sin_port=htons({port}), sin_addr=inet_addr(\"{ip}\")}}"
    if fam == 10 and len(data) >= 24:
        port, = _struct.unpack_from(">H", data, 2)
        flow, = _struct.unpack_from(">I", data, 4)
        out = (head + f", sin6_port=htons({port}), sin6_flowinfo=htonl({flow}), "
               f"inet_pton(AF_INET6, \"{_inet6(data[8:24])}\", &sin6_addr)")
        if len(data) >= 28:
            scope, = _struct.unpack_from("<I", data, 24)
            out += f", sin6_scope_id={scope}"
        return out + "}"
    if fam == 16 and len(data) >= 12:  # AF_NETLINK
        pad, = _struct.unpack_from("<H", data, 2)
        pid, groups = _struct.unpack_from("<iI", data, 4)
        out = head + (f", nl_pad={pad:#x}" if pad else "")
        grp = f"{groups:#010x}" if groups else "00000000"
        return out + f", nl_pid={pid}, nl_groups={grp}}}"
    rest = data[2:]
    return head + ", sa_data=" + quote(rest, len(rest) + 1) + "}"


def print_sockaddr(ctx, addr: int, length: int) -> str:
    """Read `length` bytes of sockaddr at addr (capped at 128)."""
    if addr == 0:
        return "NULL"
    if length <= 0:
        return hex(addr)
    data = ctx.read(addr, min(length, 128))
    if data is None or len(data) < min(length, 128):
        return hex(addr)
    return sockaddr_from_bytes(ctx, data)


# ---- generic fetching ---------------------------------------------------------
# strace's umove_or_printaddr: NULL prints "NULL"; an output argument of a
# failed call, or unreadable memory, prints the address.

def fetch(ctx, addr: int, size: int) -> bytes | None:
    """`size` bytes at `addr`, or None when NULL, unreadable or short."""
    if not addr or size <= 0:
        return None
    data = ctx.read(addr, size)
    if data is None or len(data) < size:
        return None
    return bytes(data)


def addr_text(ctx, addr: int) -> str:
    return "NULL" if not addr else hex(addr & ((1 << (ctx.word * 8)) - 1))


def fetch_or_addr(ctx, addr: int, size: int, out: bool = False):
    """(data, None) or (None, text to print instead). `out`: an argument the
    kernel fills in, shown as an address when the call failed."""
    if not addr:
        return None, "NULL"
    if out and ctx.failed():
        return None, addr_text(ctx, addr)
    data = fetch(ctx, addr, size)
    if data is None:
        return None, addr_text(ctx, addr)
    return data, None


def _ints(data: bytes, fmt: str):
    return _struct.unpack("<" + fmt, data)


def long_fmt(ctx, signed: bool = True) -> str:
    if ctx.word == 4:
        return "i" if signed else "I"
    return "q" if signed else "Q"


# ---- strings ---------------------------------------------------------------

PATH_MAX = 4096


def print_str(ctx, addr: int, limit: int | None = None) -> str:
    """A NUL-terminated string cut at -s (strace's printstr)."""
    if not addr:
        return "NULL"
    limit = ctx.opts.strsize if limit is None else limit
    r = ctx.read_str(addr, limit + 1)
    if r is None:
        return addr_text(ctx, addr)
    data, complete = r
    return quote(data, limit, not complete)


def print_path(ctx, addr: int) -> str:
    """A path (strace's printpath: not cut at -s, only at PATH_MAX)."""
    return print_str(ctx, addr, PATH_MAX)


def quote_hex(data: bytes) -> str:
    """strace's QUOTE_FORCE_HEX: every byte as \\xNN."""
    return '"' + "".join(f"\\x{b:02x}" for b in data) + '"'


# ---- time ------------------------------------------------------------------

def fmt_timespec(ctx, data: bytes, bits: int | None = None) -> str:
    bits = bits or ctx.word * 8
    sec, nsec = _ints(data[: bits // 4], "ii" if bits == 32 else "qq")
    return f"{{tv_sec={sec}, tv_nsec={nsec}}}"


def timespec_size(ctx, bits: int | None = None) -> int:
    return (bits or ctx.word * 8) // 4


def print_timespec_at(ctx, addr: int, out: bool = False, bits: int | None = None) -> str:
    data, txt = fetch_or_addr(ctx, addr, timespec_size(ctx, bits), out)
    return txt if data is None else fmt_timespec(ctx, data, bits)


def fmt_timeval(ctx, data: bytes, bits: int | None = None) -> str:
    bits = bits or ctx.word * 8
    sec, usec = _ints(data[: bits // 4], "ii" if bits == 32 else "qq")
    return f"{{tv_sec={sec}, tv_usec={usec}}}"


def print_timeval_at(ctx, addr: int, out: bool = False, bits: int | None = None) -> str:
    data, txt = fetch_or_addr(ctx, addr, timespec_size(ctx, bits), out)
    return txt if data is None else fmt_timeval(ctx, data, bits)


def print_itimerspec(ctx, addr: int, out: bool = False, bits: int | None = None) -> str:
    n = timespec_size(ctx, bits)
    data, txt = fetch_or_addr(ctx, addr, 2 * n, out)
    if data is None:
        return txt
    return (f"{{it_interval={fmt_timespec(ctx, data[:n], bits)}, "
            f"it_value={fmt_timespec(ctx, data[n:], bits)}}}")


def print_itimerval(ctx, addr: int, out: bool = False) -> str:
    n = timespec_size(ctx)
    data, txt = fetch_or_addr(ctx, addr, 2 * n, out)
    if data is None:
        return txt
    return (f"{{it_interval={fmt_timeval(ctx, data[:n])}, "
            f"it_value={fmt_timeval(ctx, data[n:])}}}")


def fmt_clock_t(val: int, hz: int = 100) -> str:
    """strace's print_clock_t: the ticks, and the seconds in a comment."""
    if not val:
        return "0"
    return f"{val} /* {val // hz}.{val % hz:02d} s */"


# ---- resources -------------------------------------------------------------

def fmt_rlim(v: int, bits: int) -> str:
    if v == (1 << bits) - 1:
        return "RLIM64_INFINITY" if bits == 64 else "RLIM_INFINITY"
    if v > 1024 and v % 1024 == 0:
        return f"{v // 1024}*1024"
    return str(v)


def print_rlimit(ctx, addr: int, out: bool = False, bits: int = 64) -> str:
    n = bits // 8
    data, txt = fetch_or_addr(ctx, addr, 2 * n, out)
    if data is None:
        return txt
    cur, mx = _ints(data, "QQ" if bits == 64 else "II")
    return f"{{rlim_cur={fmt_rlim(cur, bits)}, rlim_max={fmt_rlim(mx, bits)}}}"


def print_rusage(ctx, addr: int, out: bool = True) -> str:
    """Abbreviated like strace without -v: the two times, then `...`."""
    w = ctx.word
    data, txt = fetch_or_addr(ctx, addr, 4 * w, out)
    if data is None:
        return txt
    return (f"{{ru_utime={fmt_timeval(ctx, data[:2 * w])}, "
            f"ru_stime={fmt_timeval(ctx, data[2 * w:4 * w])}, ...}}")


# ---- signals ---------------------------------------------------------------

NSIG_BYTES = 8


def signame(sig: int) -> str | None:
    """SIGHUP..SIGSYS, SIGRTMIN, SIGRT_n like strace; None if out of range."""
    from .xlat import SIGNALS

    if sig <= 0:
        return None
    if sig in SIGNALS:
        return SIGNALS[sig]
    if sig == 32:
        return "SIGRTMIN"
    if 32 < sig <= 64:
        return f"SIGRT_{sig - 32}"
    return None


def sprintsig(sig: int) -> str:
    n = signame(sig)
    return n if n is not None else str(sig)


def sprint_sigmask(data: bytes) -> str:
    """strace's sprintsigmask_n: `[CHLD USR1]`, `~[RTMIN RT_1]` when 2/3 or
    more of the bits are set."""
    size = (min(len(data), NSIG_BYTES) + 3) // 4
    raw = data[: size * 4].ljust(size * 4, b"\0")
    words = list(_struct.unpack(f"<{size}I", raw))
    nbits = size * 32
    prefix = ""
    if sum(bin(x).count("1") for x in words) >= nbits * 2 // 3:
        words = [~x & 0xFFFFFFFF for x in words]
        prefix = "~"
    names = []
    for i in range(nbits):
        if words[i // 32] >> (i % 32) & 1:
            s = i + 1
            n = signame(s)
            if n is None:
                names.append(str(s))
            elif n.startswith("SIGRT_"):
                names.append(n[3:])
            else:
                names.append(n[3:])
    return prefix + "[" + " ".join(names) + "]"


def print_sigset(ctx, addr: int, size: int, out: bool = False, min_size: int | None = None) -> str:
    """print_sigset_addr_len: a sigset of `size` bytes (address if the size
    is not between the word size and 8)."""
    min_size = ctx.word if min_size is None else min_size
    if not addr:
        return "NULL"
    if size < min_size or size > NSIG_BYTES:
        return addr_text(ctx, addr)
    data, txt = fetch_or_addr(ctx, addr, size, out)
    return txt if data is None else sprint_sigmask(data)


# ---- siginfo ---------------------------------------------------------------

SIGINFO_SIZE = 128

# TODO(xlat): move to tools/gen_constants.py (si_code tables strace has and
# xlat.py lacks)
ILL_CODES = {1: "ILL_ILLOPC", 2: "ILL_ILLOPN", 3: "ILL_ILLADR", 4: "ILL_ILLTRP",
             5: "ILL_PRVOPC", 6: "ILL_PRVREG", 7: "ILL_COPROC", 8: "ILL_BADSTK",
             9: "ILL_BADIADDR"}
FPE_CODES = {1: "FPE_INTDIV", 2: "FPE_INTOVF", 3: "FPE_FLTDIV", 4: "FPE_FLTOVF",
             5: "FPE_FLTUND", 6: "FPE_FLTRES", 7: "FPE_FLTINV", 8: "FPE_FLTSUB",
             9: "FPE_FLTUNK", 10: "FPE_CONDTRAP"}
POLL_CODES = {1: "POLL_IN", 2: "POLL_OUT", 3: "POLL_MSG", 4: "POLL_ERR", 5: "POLL_PRI",
              6: "POLL_HUP"}
SYS_CODES = {1: "SYS_SECCOMP", 2: "SYS_USER_DISPATCH"}
AUDIT_ARCHES = {0xC000003E: ("AUDIT_ARCH_X86_64", "x86_64"),
                0x40000003: ("AUDIT_ARCH_I386", "i386"),
                0xC00000B7: ("AUDIT_ARCH_AARCH64", "aarch64")}


def _si_code_name(code: int, signo: int) -> str:
    from . import xlat

    name = xlat.SI_CODES.get(code)
    if name is None:
        per = {5: xlat.TRAP_CODES, 17: xlat.CLD_CODES, 29: POLL_CODES, 4: ILL_CODES,
               8: FPE_CODES, 11: xlat.SEGV_CODES, 7: xlat.BUS_CODES, 31: SYS_CODES}.get(signo)
        if per is not None:
            name = per.get(code)
    return name if name is not None else str(code)


def sprint_siginfo(data: bytes, word: int = 8) -> str:
    """strace's printsiginfo: `{si_signo=SIGCHLD, si_code=CLD_EXITED, ...}`."""
    data = bytes(data).ljust(SIGINFO_SIZE, b"\0")
    signo, errno_, code = _struct.unpack_from("<iii", data, 0)
    if not signo:
        return "{}"
    u = 16 if word == 8 else 12
    L = "q" if word == 8 else "i"
    UL = "Q" if word == 8 else "I"
    out = [f"si_signo={sprintsig(signo)}", f"si_code={_si_code_name(code, signo)}"]
    if errno_:
        import errno as _errno

        out.append(f"si_errno={_errno.errorcode.get(errno_, str(errno_))}")

    def ptr(off):
        v = _struct.unpack_from("<" + UL, data, off)[0]
        return "NULL" if v == 0 else hex(v)

    pid, uid = _struct.unpack_from("<iI", data, u)
    uid_s = "-1" if uid == 0xFFFFFFFF else str(uid)
    source = [f"si_pid={pid}", f"si_uid={uid_s}"]
    sival_off = u + (8 if word == 8 else 8)
    sigval = [f"si_int={_struct.unpack_from('<i', data, sival_off)[0]}", f"si_ptr={ptr(sival_off)}"]
    if code <= 0:
        if code in (0, -6):  # SI_USER, SI_TKILL
            out += source
        elif code == -2:  # SI_TIMER
            tid, overrun = _struct.unpack_from("<ii", data, u)
            out += [f"si_timerid={tid:#x}" if tid else "si_timerid=0", f"si_overrun={overrun}"]
            out += sigval
        elif code == -5:  # SI_SIGIO
            band = _struct.unpack_from("<" + L, data, u)[0]
            fd = _struct.unpack_from("<i", data, u + word)[0]
            out += [f"si_band={band}", f"si_fd={fd}"]
        else:
            out += source
            if _struct.unpack_from("<" + UL, data, sival_off)[0]:
                out += sigval
    elif signo == 17:  # SIGCHLD
        out += source
        status = _struct.unpack_from("<i", data, u + 8)[0]
        out.append(f"si_status={status}" if code == 1 else f"si_status={sprintsig(status)}")
        t = u + 8 + word if word == 8 else u + 12
        ut, st = _struct.unpack_from("<" + L + L, data, t)
        out += [f"si_utime={fmt_clock_t(ut & ((1 << 64) - 1) if word == 8 else ut & 0xFFFFFFFF)}",
                f"si_stime={fmt_clock_t(st & ((1 << 64) - 1) if word == 8 else st & 0xFFFFFFFF)}"]
    elif signo in (4, 8, 7, 11, 5):  # ILL FPE BUS SEGV TRAP
        out.append(f"si_addr={ptr(u)}")
        if signo == 7 and code in (4, 5):
            lsb = _struct.unpack_from("<H", data, u + word)[0]
            out.append(f"si_addr_lsb={lsb:#x}" if lsb else "si_addr_lsb=0")
        elif signo == 11 and code == 3:  # SEGV_BNDERR
            out += [f"si_lower={ptr(u + 2 * word)}", f"si_upper={ptr(u + 3 * word)}"]
        elif signo == 11 and code == 4:  # SEGV_PKUERR
            out.append(f"si_pkey={_struct.unpack_from('<I', data, u + 2 * word)[0]}")
    elif signo == 29:  # SIGIO
        if code in (1, 2, 3):
            band = _struct.unpack_from("<" + L, data, u)[0]
            fd = _struct.unpack_from("<i", data, u + word)[0]
            out += [f"si_band={band}", f"si_fd={fd}"]
    elif signo == 31:  # SIGSYS
        nr, arch = _struct.unpack_from("<iI", data, u + word)
        aname, an = AUDIT_ARCHES.get(arch, (None, None))
        sc = None
        if an is not None:
            try:
                from ..tables import table

                sc = table(an).get(nr)
            except Exception:
                sc = None
        out.append(f"si_call_addr={ptr(u)}")
        out.append(f"si_syscall=__NR_{sc.name}" if sc is not None else f"si_syscall={nr}")
        out.append(f"si_arch={aname}" if aname else f"si_arch={arch:#x} /* AUDIT_ARCH_??? */")
    else:
        if pid or uid:
            out += source
        if _struct.unpack_from("<" + UL, data, sival_off)[0]:
            out += sigval
    return "{" + ", ".join(out) + "}"


def print_siginfo(ctx, addr: int, out: bool = True) -> str:
    data, txt = fetch_or_addr(ctx, addr, SIGINFO_SIZE, out)
    return txt if data is None else sprint_siginfo(data, ctx.word)


# ---- arrays of pointers (argv, envp) ---------------------------------------------

ARRAY_NULL, ARRAY_FAULT, ARRAY_LIMIT = 0, 1, 2
_ARRAY_CHUNK = 256  # bytes per first read; doubles up to a page for long arrays


def read_word_array(ctx, addr: int, max_words: int) -> tuple[list[int], int]:
    """The words (ctx.word bytes, unsigned) of a NULL-terminated array at
    addr, read a chunk at a time rather than word by word: (the words
    before the NULL, how it ended). End: ARRAY_NULL (word len(words) is
    NULL), ARRAY_FAULT (word len(words) is unreadable, strace's `...
    /* addr */`) or ARRAY_LIMIT (max_words words read, no NULL among them).
    The same words as fetching one word at a time: a short read is
    continued from its last whole word, so only a word that cannot be read
    whole ends the array as unreadable."""
    w = ctx.word
    code = "I" if w == 4 else "Q"
    words: list[int] = []
    cur = addr
    chunk = _ARRAY_CHUNK
    while len(words) < max_words:
        want = min(chunk // w, max_words - len(words))
        data = ctx.read(cur, want * w)
        k = len(data) // w if data else 0
        if k == 0:
            return words, ARRAY_FAULT
        vals = _struct.unpack_from(f"<{k}{code}", data)
        if 0 in vals:
            words.extend(vals[:vals.index(0)])
            return words, ARRAY_NULL
        words.extend(vals)
        cur += k * w
        if chunk < 4096:
            chunk *= 2
    return words, ARRAY_LIMIT


def stat_size(ctx, flavour: str | None = None) -> int:
    """The bytes print_stat(ctx, addr, flavour) reads."""
    if flavour is None:
        flavour = "aarch64" if ctx.arch == "aarch64" else ("stat64" if ctx.word == 4 else "x86_64")
    return _STAT_LAYOUTS[flavour][0]
