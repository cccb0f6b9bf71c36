"""Signals: rt_sigaction, rt_sigprocmask, kill and friends, and the
siginfo of `--- SIGCHLD {...} ---` lines, as strace 6.1 prints them."""
from __future__ import annotations

import struct as _struct

from . import Ctx, Sig, register, ret_default
from .render import flags
from .structs import (addr_text, fetch_or_addr, print_siginfo, print_sigset, print_timespec_at,
                      sprint_sigmask, sprint_siginfo, sprintsig, signame, NSIG_BYTES)
from .xlat import SIGPROCMASK_HOW

# strace's xlat/sigact_flags.in order (xlat.SA_FLAGS is sorted by value)
# TODO(xlat): move to tools/gen_constants.py
SA_FLAGS_STRACE = (
    (0x04000000, "SA_RESTORER"), (0x08000000, "SA_ONSTACK"), (0x10000000, "SA_RESTART"),
    (0x20000000, "SA_INTERRUPT"), (0x40000000, "SA_NODEFER"), (0x80000000, "SA_RESETHAND"),
    (0x4, "SA_SIGINFO"), (0x1, "SA_NOCLDSTOP"), (0x2, "SA_NOCLDWAIT"),
)
SS_FLAGS = ((1, "SS_ONSTACK"), (2, "SS_DISABLE"), (0x80000000, "SS_AUTODISARM"))  # TODO(xlat)
SFD_FLAGS = ((0x80000, "SFD_CLOEXEC"), (0x800, "SFD_NONBLOCK"))  # TODO(xlat)


# ---- shared helpers -------------------------------------------------------------

def pflags(value: int, table, dflt: str) -> str:
    """strace's printflags: names joined by |, unknown bits in hex, and a
    value with no known bit as `0x... /* DFLT */`."""
    if value == 0:
        for bits, name in table:
            if bits == 0:
                return name
        return "0"
    s = flags(value, [(b, n) for b, n in table if b])
    if s.startswith("0x"):
        return f"{s} /* {dflt} */"
    return s


def xval(value: int, table: dict, dflt: str) -> str:
    """strace's printxval: the name, or `0x... /* DFLT */`."""
    name = table.get(value)
    if name is not None:
        return name
    return f"{value:#x} /* {dflt} */"


def psig(ctx: Ctx, i: int) -> str:
    return sprintsig(ctx.i32(i))


def d32(ctx: Ctx, i: int) -> str:
    return str(ctx.i32(i))


def u32(ctx: Ctx, i: int) -> str:
    return str(ctx.u(i) & 0xFFFFFFFF)


def ulong(ctx: Ctx, i: int) -> str:
    return str(ctx.u(i))


def ptr(ctx: Ctx, i: int) -> str:
    return addr_text(ctx, ctx.u(i))


def ret_signame(ctx: Ctx) -> str:
    """`= 12 (SIGUSR2)`."""
    r = ctx.retval
    if r is not None and r > 0:
        n = signame(r)
        if n:
            return f"{r} ({n})"
    return ret_default(ctx)


# ---- sigaction ----------------------------------------------------------------

def _sa_handler(v: int, word: int) -> str:
    if v == 0:
        return "SIG_DFL"
    if v == 1:
        return "SIG_IGN"
    if v == (1 << (word * 8)) - 1:
        return "SIG_ERR"
    return hex(v)


def fmt_sigaction(ctx: Ctx, addr: int, out: bool) -> str:
    w = ctx.word
    # handler, flags, restorer (word each), then the mask (arch with SA_RESTORER)
    data, txt = fetch_or_addr(ctx, addr, 3 * w + NSIG_BYTES, out)
    if data is None:
        # a short mask at the end of a mapping
        data, txt = fetch_or_addr(ctx, addr, 3 * w + 4, out)
        if data is None:
            return txt
    fmt = "<QQQ" if w == 8 else "<III"
    handler, fl, restorer = _struct.unpack_from(fmt, data, 0)
    mask = data[3 * w:]
    parts = [f"sa_handler={_sa_handler(handler, w)}", f"sa_mask={sprint_sigmask(mask)}",
             f"sa_flags={pflags(fl & 0xFFFFFFFF if w == 4 else fl, SA_FLAGS_STRACE, 'SA_???')}"]
    if fl & 0x04000000:
        parts.append(f"sa_restorer={addr_text(ctx, restorer)}")
    return "{" + ", ".join(parts) + "}"


def _act(ctx: Ctx, i: int) -> str:
    return fmt_sigaction(ctx, ctx.u(i), False)


def _oact(ctx: Ctx, i: int) -> str:
    return fmt_sigaction(ctx, ctx.u(i), True)


register("rt_sigaction", Sig((psig, _act, _oact, ulong), exit_from=2))


# ---- masks ----------------------------------------------------------------------

def _how(ctx: Ctx, i: int) -> str:
    return xval(ctx.i32(i) & 0xFFFFFFFF, SIGPROCMASK_HOW, "SIG_???")


def _set_by(size_arg: int, out: bool = False):
    def fn(ctx: Ctx, i: int) -> str:
        return print_sigset(ctx, ctx.u(i), ctx.u(size_arg), out)
    return fn


register("rt_sigprocmask", Sig((_how, _set_by(3), _set_by(3, True), ulong), exit_from=2))
register("rt_sigpending", Sig((_set_by(1, True), ulong), exit_from=0))
register("rt_sigsuspend", Sig((_set_by(1), ulong)))


def _old_mask(ctx: Ctx, i: int) -> str:  # sigsuspend/sgetmask style: a mask in a register
    return sprint_sigmask(_struct.pack("<I", ctx.u(i) & 0xFFFFFFFF))


register("sigsuspend", Sig((_old_mask,)))  # i386 sigsuspend(mask) in the newer ABI


# ---- rt_sigreturn ---------------------------------------------------------------

def _sigreturn_mask(ctx: Ctx, i: int) -> str | None:
    sp = getattr(ctx.view, "sp", None)
    if sp is None:
        return None
    if ctx.arch == "x86_64":
        at = sp + 296  # rt_sigframe: pretcode popped, uc at sp; uc_sigmask at 296
    elif ctx.arch == "i386":
        at = sp + 248  # pretcode popped; sig, pinfo, puc, siginfo, then uc (+108)
    elif ctx.arch == "aarch64":
        at = sp + 168  # siginfo, then uc (+40)
    else:
        return None
    data = ctx.read(at, NSIG_BYTES)
    if data is None or len(data) < NSIG_BYTES:
        return f"{{mask={addr_text(ctx, at)}}}"
    return f"{{mask={sprint_sigmask(data)}}}"


register("rt_sigreturn", Sig((_sigreturn_mask,)))


# ---- waiting, queueing ------------------------------------------------------------

def _siginfo_out(ctx: Ctx, i: int) -> str:
    return print_siginfo(ctx, ctx.u(i), True)


def _siginfo_in(ctx: Ctx, i: int) -> str:
    return print_siginfo(ctx, ctx.u(i), False)


def _ts_entry64(ctx: Ctx, i: int) -> str:
    return print_timespec_at(ctx, ctx.u(i), False, 64)


def _ts_entry(ctx: Ctx, i: int) -> str:
    return print_timespec_at(ctx, ctx.u(i), False)


register("rt_sigtimedwait", Sig((_set_by(3), _siginfo_out, _ts_entry, ulong), exit_from=1,
                                ret=ret_signame))
register("rt_sigtimedwait_time64", Sig((_set_by(3), _siginfo_out, _ts_entry64, ulong),
                                       exit_from=1, ret=ret_signame))
register("rt_sigqueueinfo", Sig((d32, psig, _siginfo_in)))
register("rt_tgsigqueueinfo", Sig((d32, d32, psig, _siginfo_in)))


# ---- sending ---------------------------------------------------------------------

register("kill", Sig((d32, psig)))
register("tkill", Sig((d32, psig)))
register("tgkill", Sig((d32, d32, psig)))
register("pause", Sig(()))
register("alarm", Sig((u32,)))


# ---- sigaltstack -------------------------------------------------------------------

def fmt_stack(ctx: Ctx, addr: int, out: bool) -> str:
    w = ctx.word
    size = 24 if w == 8 else 12
    data, txt = fetch_or_addr(ctx, addr, size, out)
    if data is None:
        return txt
    if w == 8:
        sp, fl, sz = _struct.unpack("<QiQ", data[:8] + data[8:12] + data[16:24])
    else:
        sp, fl, sz = _struct.unpack("<IiI", data)
    return (f"{{ss_sp={addr_text(ctx, sp)}, ss_flags={pflags(fl & 0xFFFFFFFF, SS_FLAGS, 'SS_???')}, "
            f"ss_size={sz}}}")


register("sigaltstack", Sig((lambda c, i: fmt_stack(c, c.u(i), False),
                             lambda c, i: fmt_stack(c, c.u(i), True)), exit_from=1))


# ---- signalfd ---------------------------------------------------------------------

def _fd(ctx: Ctx, i: int) -> str:
    fd = ctx.i32(i)
    if ctx.opts.fd_paths and fd >= 0:
        p = ctx.fd_path(fd)
        if p:
            return f"{fd}<{p}>"
    return str(fd)


def _ret_fd(ctx: Ctx) -> str:
    from . import ret_fd
    return ret_fd(ctx)


def _sfd_flags(ctx: Ctx, i: int) -> str:
    return pflags(ctx.i32(i) & 0xFFFFFFFF, SFD_FLAGS, "SFD_???")


register("signalfd4", Sig((_fd, _set_by(2), ulong, _sfd_flags), ret=_ret_fd))
register("signalfd", Sig((_fd, _set_by(2), ulong), ret=_ret_fd))


# ---- the --- SIGNAME {...} --- line ----------------------------------------------------

def format_siginfo(data: bytes, arch: str) -> str:
    """The body of strace's `--- SIGCHLD {si_signo=SIGCHLD, ...} ---` line
    for a 128-byte siginfo of a thread of `arch`."""
    try:
        return sprint_siginfo(data, 4 if arch == "i386" else 8)
    except Exception:
        return "{}"
