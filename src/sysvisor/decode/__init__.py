"""strace-style rendering of syscalls.

A syscall line is rendered in two halves, as strace does:

    format_entry(view, opts)  ->  'openat(AT_FDCWD, "/etc/hostname", O_RDONLY|O_CLOEXEC'
    format_exit(view, opts)   ->  ') = 3'

Arguments known at entry (paths, flags) are rendered at entry; arguments
the kernel fills in (a read buffer, a stat struct) are rendered at exit,
so a line interrupted by another thread splits between them.

A *view* is what a decoder may look at: a live `Call`, or a record read
back from a trace file. It has: arch, name, nr, args (six unsigned ints),
retval (signed, None at entry), read(addr, n) -> bytes | None,
read_str(addr, maxlen) -> (bytes, complete) | None, fd_path(fd) -> str | None.
Decoders never raise on unreadable memory: they print the address.

Per-syscall signatures live in the family modules (fs, memory, process,
signal, net, misc); each registers `Sig`s in SIGS by name. A syscall with
no signature is rendered from its C prototype in the syscall table.
"""
from __future__ import annotations

import errno as _errno
import os
from dataclasses import dataclass
from typing import Callable

MAX_ERRNO = 4095
AT_FDCWD = -100


@dataclass
class Options:
    strsize: int = 32          # -s
    fd_paths: int = 0          # -y (1) / -yy (2)
    abbrev: bool = True        # abbreviate arrays and structs like strace -v off
    max_array: int = 32        # strace's max_strlen also caps array elements


class Ctx:
    """What a decoder function gets: the view, the options, and helpers."""

    __slots__ = ("view", "opts", "args", "retval", "arch", "word")

    def __init__(self, view, opts: Options):
        self.view = view
        self.opts = opts
        self.args = view.args
        self.retval = view.retval
        self.arch = view.arch
        self.word = 4 if view.arch == "i386" else 8

    # raw argument access
    def u(self, i: int) -> int:
        v = self.args[i]
        return v & 0xFFFFFFFF if self.word == 4 else v

    def s(self, i: int, bits: int | None = None) -> int:
        bits = bits or self.word * 8
        v = self.args[i] & ((1 << bits) - 1)
        return v - (1 << bits) if v >> (bits - 1) else v

    def i32(self, i: int) -> int:
        v = self.args[i] & 0xFFFFFFFF
        return v - 0x100000000 if v & 0x80000000 else v

    def failed(self) -> bool:
        r = self.retval
        return r is not None and -MAX_ERRNO <= r < 0

    # memory
    def read(self, addr: int, size: int) -> bytes | None:
        if addr == 0 or size < 0:
            return None
        try:
            return self.view.read(addr, size)
        except OSError:
            return None

    def read_str(self, addr: int, maxlen: int):
        if addr == 0:
            return None
        try:
            return self.view.read_str(addr, maxlen)
        except OSError:
            return None

    def fd_path(self, fd: int) -> str | None:
        try:
            return self.view.fd_path(fd)
        except OSError:
            return None


ArgFn = Callable[[Ctx, int], "str | None"]  # None: leave the argument out
RetFn = Callable[[Ctx], str]


@dataclass
class Sig:
    """How to render one syscall: a function per argument, the index of the
    first argument rendered at exit, and the return value renderer."""

    args: tuple[ArgFn, ...]
    # index of the first argument rendered at exit; None: all at entry; or
    # a function of the Ctx when the split depends on the call (an option
    # that decides whether an argument is read or written)
    exit_from: "int | Callable[[Ctx], int] | None" = None
    ret: RetFn | None = None

    def __post_init__(self):
        if self.exit_from is None:
            self.exit_from = len(self.args)

    def split(self, ctx: "Ctx") -> int:
        e = self.exit_from
        return e(ctx) if callable(e) else e


SIGS: dict[str, Sig] = {}
_loaded = False


def register(names: str | tuple[str, ...] | list[str], sig: Sig) -> Sig:
    for n in ([names] if isinstance(names, str) else names):
        SIGS[n] = sig
    return sig


def _load_families() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    import importlib

    for mod in ("fs", "memory", "process", "signal", "net", "misc"):
        try:
            importlib.import_module(f"{__name__}.{mod}")
        except ModuleNotFoundError as e:
            if e.name != f"{__name__}.{mod}":
                raise


def signature(view) -> Sig:
    if not _loaded:
        _load_families()
    sig = SIGS.get(view.name)
    if sig is None:
        from .generic import generic_sig

        sig = generic_sig(view)
    return sig


def _sig_of(view) -> Sig:
    sig = SIGS.get(view.name) if _loaded else None
    return sig if sig is not None else signature(view)


def _render(ctx: Ctx, fns, start: int, stop: int) -> list[str]:
    out = []
    for i in range(start, min(stop, len(fns))):
        try:
            s = fns[i](ctx, i)
        except Exception:  # a decoder bug must never lose the line
            s = hex(ctx.args[i])
        if s is not None:
            out.append(s)
    return out


def format_entry(view, opts: Options) -> str:
    """`name(` and the arguments known at entry; ends with ", " when more
    arguments follow at exit."""
    sig = _sig_of(view)
    ctx = Ctx(view, opts)
    split = sig.split(ctx)
    fns = sig.args
    parts = _render(ctx, fns, 0, split)
    if split < len(fns) and parts:
        return view.name + "(" + ", ".join(parts) + ", "
    return view.name + "(" + ", ".join(parts)


def exit_parts(view, opts: Options) -> tuple[str, str]:
    """(the arguments known at exit, joined; the return value), so that a
    tracer can align ` = ` like strace (column 40)."""
    sig = _sig_of(view)
    ctx = Ctx(view, opts)
    fns = sig.args
    split = sig.split(ctx)
    args = ", ".join(_render(ctx, fns, split, len(fns))) if split < len(fns) else ""
    try:
        ret = (sig.ret or ret_default)(ctx)
    except Exception:
        ret = ret_default(ctx)
    return args, ret


def format_exit(view, opts: Options) -> str:
    """The arguments known at exit, `) = ` and the return value."""
    args, ret = exit_parts(view, opts)
    return args + ") = " + ret


def format_call(view, opts: Options) -> str:
    return format_entry(view, opts) + format_exit(view, opts)


# ---- capture: the memory a rendering reads, without rendering -------------------
#
# A recorder keeps the tracee memory the decoders read (sysvisor.layers.record)
# so that the line can be rendered later from the file. Running the decoders
# only to log their reads wastes the rendering; a decoder may instead carry a
# `capture` attribute: a function (ctx, i) that makes the same reads through
# ctx (same addresses, sizes, order, conditions) and renders nothing, or
# NO_READS when the decoder reads no memory at all. A capture function with
# `fd_paths_only = True` reads nothing unless opts.fd_paths. Decoders without
# the attribute are their own capture (they are run, their text dropped).


def NO_READS(ctx: "Ctx", i: int) -> None:  # noqa: N802 - a marker, also callable
    return None


def captures(fn, cap=NO_READS, fd_paths_only: bool = False):
    """Attach `cap` as decoder fn's capture (see above); returns fn."""
    fn.capture = cap
    if fd_paths_only:
        cap.fd_paths_only = True
    return fn


def _capture_of(fn, opts: Options):
    cap = getattr(fn, "capture", fn)
    if cap is NO_READS or (getattr(cap, "fd_paths_only", False) and not opts.fd_paths):
        return None
    return cap


def capture_plan(sig: Sig, opts: Options) -> tuple:
    """(per-argument capture or None, return-value capture or None) of a
    signature under `opts`; compute once per signature and reuse."""
    caps = tuple(_capture_of(fn, opts) for fn in sig.args)
    ret = _capture_of(sig.ret or ret_default, opts)
    return caps, ret


def capture_entry(view, opts: Options, sig: Sig, plan: tuple) -> None:
    """Make the reads format_entry(view, opts) would make; render nothing."""
    caps = plan[0]
    ctx = Ctx(view, opts)
    split = sig.split(ctx)
    for i in range(min(split, len(caps))):
        cap = caps[i]
        if cap is not None:
            try:
                cap(ctx, i)
            except Exception:  # noqa: BLE001 - as format_entry: never lose the record
                pass


def capture_exit(view, opts: Options, sig: Sig, plan: tuple) -> None:
    """Make the reads format_exit(view, opts) would make; render nothing."""
    caps, ret = plan
    ctx = Ctx(view, opts)
    split = sig.split(ctx)
    for i in range(split, len(caps)):
        cap = caps[i]
        if cap is not None:
            try:
                cap(ctx, i)
            except Exception:  # noqa: BLE001
                pass
    if ret is not None:
        try:
            ret(ctx)
        except Exception:  # noqa: BLE001
            pass


# ---- return values -------------------------------------------------------------

# errno values a tracer can see that userspace never does (linux/errno.h)
KERNEL_ERRNOS = {
    512: ("ERESTARTSYS", "To be restarted if SA_RESTART is set"),
    513: ("ERESTARTNOINTR", "To be restarted"),
    514: ("ERESTARTNOHAND", "To be restarted if no handler"),
    515: ("ENOIOCTLCMD", "No ioctl command"),
    516: ("ERESTART_RESTARTBLOCK", "Interrupted by signal"),
    517: ("EPROBE_DEFER", "Driver requests probe retry"),
    518: ("EOPENSTALE", "Open found a stale dentry"),
    519: ("ENOPARAM", "Parameter not supported"),
    521: ("EBADHANDLE", "Illegal NFS file handle"),
    522: ("ENOTSYNC", "Update synchronization mismatch"),
    523: ("EBADCOOKIE", "Cookie is stale"),
    524: ("ENOTSUPP", "Operation is not supported"),
    525: ("ETOOSMALL", "Buffer or request is too small"),
    526: ("ESERVERFAULT", "An untranslatable error occurred"),
    527: ("EBADTYPE", "Type not supported by server"),
    528: ("EJUKEBOX", "Request initiated, but will not complete before timeout"),
    529: ("EIOCBQUEUED", "iocb queued, will get completion event"),
    530: ("ERECALLCONFLICT", "Conflict with recalled state"),
}


# where Python's errno module picks an alias, strace prints the other name
STRACE_ERRNO_NAMES = {95: "EOPNOTSUPP", 35: "EDEADLK"}


def errno_name(e: int) -> str:
    if e in KERNEL_ERRNOS:
        return KERNEL_ERRNOS[e][0]
    return STRACE_ERRNO_NAMES.get(e) or _errno.errorcode.get(e, str(e))


_error_texts: dict[int, str] = {}


def error_text(err: int) -> str:
    """`-1 ENOENT (No such file or directory)`; the kernel-internal restart
    codes are shown like strace: `? ERESTARTSYS (To be restarted ...)`."""
    text = _error_texts.get(err)
    if text is None:
        text = _error_text(err)
        if len(_error_texts) < 8192:
            _error_texts[err] = text
    return text


def _error_text(err: int) -> str:
    if err in KERNEL_ERRNOS:
        name, text = KERNEL_ERRNOS[err]
        return f"? {name} ({text})"
    name = STRACE_ERRNO_NAMES.get(err) or _errno.errorcode.get(err)
    if name is None:
        return f"-1 {err} (Unknown error {err})"
    return f"-1 {name} ({os.strerror(err)})"


def ret_default(ctx: Ctx) -> str:
    r = ctx.retval
    if r is None:
        return "?"
    if -MAX_ERRNO <= r < 0:
        return error_text(-r)
    return str(r)


def ret_hex(ctx: Ctx) -> str:
    r = ctx.retval
    if r is None:
        return "?"
    if -MAX_ERRNO <= r < 0:
        return error_text(-r)
    return hex(r & ((1 << (ctx.word * 8)) - 1))


def ret_fd(ctx: Ctx) -> str:
    r = ctx.retval
    if r is None or r < 0 or not ctx.opts.fd_paths:
        return ret_default(ctx)
    p = ctx.fd_path(r)
    return f"{r}<{p}>" if p else str(r)


def _cap_ret_fd(ctx: Ctx) -> None:
    r = ctx.retval
    if r is not None and r >= 0:
        ctx.fd_path(r)


captures(ret_default)
captures(ret_hex)
captures(ret_fd, _cap_ret_fd, fd_paths_only=True)
