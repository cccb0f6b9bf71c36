"""Processes, credentials, limits, time and futexes, as strace 6.1 prints
them: execve, clone/clone3, wait4/waitid, prlimit64, uname, prctl..."""
from __future__ import annotations

import struct as _struct
import time as _time

from . import AT_FDCWD, Ctx, Sig, captures, register, ret_default
from .render import flags as _flags
from .signal import d32, pflags, psig, ptr, u32, ulong, xval, _fd, _ret_fd
from .structs import (addr_text, fetch, fetch_or_addr, fmt_timespec,
                      print_itimerval, print_path, print_rlimit, print_rusage, print_siginfo,
                      print_str, print_timespec_at, print_timeval_at, quote_hex, sprintsig,
                      timespec_size, read_word_array, ARRAY_FAULT, PATH_MAX)
from .xlat import (ARCH_PRCTL, CLOCK_IDS, CLONE_FLAGS, FUTEX_OPS, GETRANDOM_FLAGS, IDTYPES,
                   PIDFD_FLAGS, PTRACE_REQUESTS, RLIMITS, SECCOMP_FILTER_FLAGS,
                   SECCOMP_OPS, TIMER_FLAGS, WAIT_OPTIONS)

# ---- literal tables strace has that xlat.py lacks or orders differently -------------
# TODO(xlat): move to tools/gen_constants.py

# xlat.PRCTL_OPTIONS mixes in other PR_* constants of the same values
PR_OPTIONS = {
    1: "PR_SET_PDEATHSIG", 2: "PR_GET_PDEATHSIG", 3: "PR_GET_DUMPABLE", 4: "PR_SET_DUMPABLE",
    5: "PR_GET_UNALIGN", 6: "PR_SET_UNALIGN", 7: "PR_GET_KEEPCAPS", 8: "PR_SET_KEEPCAPS",
    9: "PR_GET_FPEMU", 10: "PR_SET_FPEMU", 11: "PR_GET_FPEXC", 12: "PR_SET_FPEXC",
    13: "PR_GET_TIMING", 14: "PR_SET_TIMING", 15: "PR_SET_NAME", 16: "PR_GET_NAME",
    19: "PR_GET_ENDIAN", 20: "PR_SET_ENDIAN", 21: "PR_GET_SECCOMP", 22: "PR_SET_SECCOMP",
    23: "PR_CAPBSET_READ", 24: "PR_CAPBSET_DROP", 25: "PR_GET_TSC", 26: "PR_SET_TSC",
    27: "PR_GET_SECUREBITS", 28: "PR_SET_SECUREBITS", 29: "PR_SET_TIMERSLACK",
    30: "PR_GET_TIMERSLACK", 31: "PR_TASK_PERF_EVENTS_DISABLE", 32: "PR_TASK_PERF_EVENTS_ENABLE",
    33: "PR_MCE_KILL", 34: "PR_MCE_KILL_GET", 35: "PR_SET_MM", 36: "PR_SET_CHILD_SUBREAPER",
    37: "PR_GET_CHILD_SUBREAPER", 38: "PR_SET_NO_NEW_PRIVS", 39: "PR_GET_NO_NEW_PRIVS",
    40: "PR_GET_TID_ADDRESS", 41: "PR_SET_THP_DISABLE", 42: "PR_GET_THP_DISABLE",
    43: "PR_MPX_ENABLE_MANAGEMENT", 44: "PR_MPX_DISABLE_MANAGEMENT", 45: "PR_SET_FP_MODE",
    46: "PR_GET_FP_MODE", 47: "PR_CAP_AMBIENT", 50: "PR_SVE_SET_VL", 51: "PR_SVE_GET_VL",
    52: "PR_GET_SPECULATION_CTRL", 53: "PR_SET_SPECULATION_CTRL", 54: "PR_PAC_RESET_KEYS",
    55: "PR_SET_TAGGED_ADDR_CTRL", 56: "PR_GET_TAGGED_ADDR_CTRL", 57: "PR_SET_IO_FLUSHER",
    58: "PR_GET_IO_FLUSHER", 59: "PR_SET_SYSCALL_USER_DISPATCH", 60: "PR_PAC_SET_ENABLED_KEYS",
    61: "PR_PAC_GET_ENABLED_KEYS", 62: "PR_SCHED_CORE", 63: "PR_SME_SET_VL", 64: "PR_SME_GET_VL",
    0x53564D41: "PR_SET_VMA", 0x59616D61: "PR_SET_PTRACER",
}
PR_DUMPABLE = {0: "SUID_DUMP_DISABLE", 1: "SUID_DUMP_USER", 2: "SUID_DUMP_ROOT"}
PR_CAP_AMBIENT = {1: "PR_CAP_AMBIENT_IS_SET", 2: "PR_CAP_AMBIENT_RAISE",
                  3: "PR_CAP_AMBIENT_LOWER", 4: "PR_CAP_AMBIENT_CLEAR_ALL"}
SECCOMP_MODES = {0: "SECCOMP_MODE_DISABLED", 1: "SECCOMP_MODE_STRICT", 2: "SECCOMP_MODE_FILTER"}
CAPS = ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
        "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
        "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW",
        "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT",
        "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
        "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
        "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE",
        "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ",
        "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE"]
CAP_VERSIONS = {0x19980330: "_LINUX_CAPABILITY_VERSION_1", 0x20071026: "_LINUX_CAPABILITY_VERSION_2",
                0x20080522: "_LINUX_CAPABILITY_VERSION_3"}
RUSAGE_WHO = {0: "RUSAGE_SELF", -1: "RUSAGE_CHILDREN", 1: "RUSAGE_THREAD", -2: "RUSAGE_BOTH"}
PRIO_WHICH = {0: "PRIO_PROCESS", 1: "PRIO_PGRP", 2: "PRIO_USER"}
ITIMERS = {0: "ITIMER_REAL", 1: "ITIMER_VIRTUAL", 2: "ITIMER_PROF"}
SCHED_POLICIES_STRACE = {0: "SCHED_OTHER", 1: "SCHED_FIFO", 2: "SCHED_RR", 3: "SCHED_BATCH",
                         4: "SCHED_ISO", 5: "SCHED_IDLE", 6: "SCHED_DEADLINE", 7: "SCHED_EXT"}
PERSONALITY_TYPES = {0: "PER_LINUX", 1: "PER_SVR4", 2: "PER_SVR3", 3: "PER_SCOSVR3",
                     4: "PER_WYSEV386", 5: "PER_ISCR4", 6: "PER_BSD", 7: "PER_XENIX",
                     8: "PER_LINUX32", 9: "PER_IRIX32", 10: "PER_IRIXN32", 11: "PER_IRIX64",
                     12: "PER_RISCOS", 13: "PER_SOLARIS", 14: "PER_UW7", 15: "PER_OSF4",
                     16: "PER_HPUX"}
PERSONALITY_FLAGS = ((0x20000, "UNAME26"), (0x40000, "ADDR_NO_RANDOMIZE"),
                     (0x80000, "FDPIC_FUNCPTRS"), (0x100000, "MMAP_PAGE_ZERO"),
                     (0x200000, "ADDR_COMPAT_LAYOUT"), (0x400000, "READ_IMPLIES_EXEC"),
                     (0x800000, "ADDR_LIMIT_32BIT"), (0x1000000, "SHORT_INODE"),
                     (0x2000000, "WHOLE_SECONDS"), (0x4000000, "STICKY_TIMEOUTS"),
                     (0x8000000, "ADDR_LIMIT_3GB"))
EXECVEAT_FLAGS = ((0x100, "AT_SYMLINK_NOFOLLOW"), (0x1000, "AT_EMPTY_PATH"))
RSEQ_FLAGS = ((1, "RSEQ_FLAG_UNREGISTER"),)
SETNS_TYPES = {0x20000: "CLONE_NEWNS", 0x2000000: "CLONE_NEWCGROUP", 0x4000000: "CLONE_NEWUTS",
               0x8000000: "CLONE_NEWIPC", 0x10000000: "CLONE_NEWUSER", 0x20000000: "CLONE_NEWPID",
               0x40000000: "CLONE_NEWNET", 0x80: "CLONE_NEWTIME"}
PTRACE_EVENTS = {1: "PTRACE_EVENT_FORK", 2: "PTRACE_EVENT_VFORK", 3: "PTRACE_EVENT_CLONE",
                 4: "PTRACE_EVENT_EXEC", 5: "PTRACE_EVENT_VFORK_DONE", 6: "PTRACE_EVENT_EXIT",
                 7: "PTRACE_EVENT_SECCOMP", 128: "PTRACE_EVENT_STOP"}
# clone() flags without CLONE_NEWTIME (its bit is in CSIGNAL there)
_CLONE_FLAGS = tuple((b, n) for b, n in CLONE_FLAGS if b > 0xFF and b <= 0x80000000)
_CLONE3_FLAGS = _CLONE_FLAGS + tuple((b, n) for b, n in CLONE_FLAGS if b <= 0xFF or b > 0x80000000)


# ---- small printers -----------------------------------------------------------------

def none(ctx: Ctx, i: int):
    return None


def dlong(ctx: Ctx, i: int) -> str:
    return str(ctx.s(i))


def hexa(ctx: Ctx, i: int) -> str:
    return hex(ctx.u(i))


def puid(ctx: Ctx, i: int) -> str:
    v = ctx.u(i) & 0xFFFFFFFF
    if ctx.arch == "i386" and ctx.view.name in _UID16:
        v &= 0xFFFF
        return "-1" if v == 0xFFFF else str(v)
    return "-1" if v == 0xFFFFFFFF else str(v)


def _is16(ctx: Ctx) -> bool:
    return ctx.arch == "i386" and ctx.view.name in _UID16


def path(ctx: Ctx, i: int) -> str:
    return print_path(ctx, ctx.u(i))


def dirfd(ctx: Ctx, i: int) -> str:
    fd = ctx.i32(i)
    return "AT_FDCWD" if fd == AT_FDCWD else _fd(ctx, i)


def const_arg(table: dict, dflt: str, bits: int = 32, signed: bool = False):
    def fn(ctx: Ctx, i: int) -> str:
        v = ctx.s(i, bits) if signed else ctx.u(i) & ((1 << bits) - 1)
        if signed and v < 0 and v in table:
            return table[v]
        if signed and v < 0:
            return f"{v & ((1 << bits) - 1):#x} /* {dflt} */"
        return xval(v, table, dflt)
    return fn


def flags_arg(table, dflt: str, bits: int = 32):
    def fn(ctx: Ctx, i: int) -> str:
        return pflags(ctx.u(i) & ((1 << bits) - 1), table, dflt)
    return fn


def out_int_array(fmt: str, render=str):
    """`[value]` read at exit."""
    size = _struct.calcsize("<" + fmt)

    def fn(ctx: Ctx, i: int) -> str:
        data, txt = fetch_or_addr(ctx, ctx.u(i), size, True)
        if data is None:
            return txt
        return "[" + render(_struct.unpack("<" + fmt, data)[0]) + "]"
    return fn


def ret_udec(ctx: Ctx) -> str:
    r = ctx.retval
    if r is None or ctx.failed():
        return ret_default(ctx)
    return str(r & ((1 << (ctx.word * 8)) - 1))


def at_exit(fn):
    """Render an argument that the kernel fills in: the address when failed."""
    def wrapped(ctx: Ctx, i: int) -> str:
        if ctx.failed():
            return addr_text(ctx, ctx.u(i))
        return fn(ctx, i)
    return wrapped


# ---- execve ----------------------------------------------------------------------

def _argv(ctx: Ctx, i: int) -> str:
    a = ctx.u(i)
    if not a:
        return "NULL"
    # the pointers in chunks (read_word_array), not a read per word
    max_array = ctx.opts.max_array
    words, end = read_word_array(ctx, a, max_array + 1)
    if end == ARRAY_FAULT and not words:
        return addr_text(ctx, a)
    out = []
    for n, p in enumerate(words):
        if n + 1 > max_array:
            out.append("...")
            break
        out.append(print_str(ctx, p))
    else:
        if end == ARRAY_FAULT:
            out.append(f"... /* {addr_text(ctx, a + len(words) * ctx.word)} */")
    return "[" + ", ".join(out) + "]"


def _envc(ctx: Ctx, i: int) -> str:
    a = ctx.u(i)
    if not a:
        return "NULL"
    if not ctx.opts.abbrev:
        return _argv(ctx, i)
    words, end = read_word_array(ctx, a, (1 << 20) + 1)
    if end == ARRAY_FAULT and not words:
        return addr_text(ctx, a)
    n = len(words)
    unterminated = end == ARRAY_FAULT
    return (f"{addr_text(ctx, a)} /* {n} var{'' if n == 1 else 's'}"
            f"{', unterminated' if unterminated else ''} */")


def _cap_path(ctx: Ctx, i: int) -> None:
    a = ctx.u(i)
    if a:
        ctx.read_str(a, PATH_MAX + 1)  # print_path's read


def _cap_argv(ctx: Ctx, i: int) -> None:
    a = ctx.u(i)
    if not a:
        return
    max_array = ctx.opts.max_array
    words, _ = read_word_array(ctx, a, max_array + 1)
    lim = ctx.opts.strsize + 1
    for p in words[:max_array]:
        if p:
            ctx.read_str(p, lim)  # print_str's read


def _cap_envc(ctx: Ctx, i: int) -> None:
    if not ctx.opts.abbrev:
        return _cap_argv(ctx, i)
    a = ctx.u(i)
    if a:
        read_word_array(ctx, a, (1 << 20) + 1)


captures(path, _cap_path)
captures(_argv, _cap_argv)
captures(_envc, _cap_envc)

register("execve", Sig((path, _argv, _envc)))
register("execveat", Sig((dirfd, path, _argv, _envc, flags_arg(EXECVEAT_FLAGS, "AT_???"))))


# ---- clone, clone3, fork ---------------------------------------------------------------

def _clone_idx(ctx: Ctx):
    """(flags, stack, ptid, ctid, tls) argument indexes."""
    if ctx.arch == "x86_64":
        return 0, 1, 2, 3, 4
    return 0, 1, 2, 4, 3  # i386, aarch64 and the generic ABI: tls before child_tid


def _clone_flags_text(v: int) -> str:
    sig = v & 0xFF
    fl = v & ~0xFF
    if fl:
        s = pflags(fl, _CLONE_FLAGS, "CLONE_???")
        if sig:
            s += "|" + sprintsig(sig)
        return s
    return sprintsig(sig)


def _clone_entry(ctx: Ctx, i: int) -> str:
    fi, si, _, _, _ = _clone_idx(ctx)
    return (f"child_stack={addr_text(ctx, ctx.u(si))}, "
            f"flags={_clone_flags_text(ctx.u(fi))}")


def _clone_exit(ctx: Ctx, i: int) -> str | None:
    fi, _, pi, ci, ti = _clone_idx(ctx)
    fl = ctx.u(fi) & ~0xFF
    out = []
    if fl & (0x100000 | 0x1000):  # CLONE_PARENT_SETTID | CLONE_PIDFD
        a = ctx.u(pi)
        data, txt = fetch_or_addr(ctx, a, 4, True)
        out.append("parent_tid=" + (txt if data is None else f"[{_struct.unpack('<i', data)[0]}]"))
    if fl & 0x80000:  # CLONE_SETTLS
        out.append(f"tls={addr_text(ctx, ctx.u(ti))}")
    if fl & (0x1000000 | 0x200000):
        out.append(f"child_tidptr={addr_text(ctx, ctx.u(ci))}")
    return ", ".join(out) if out else None


# clone: the entry half always; the exit half only when there is one (strace
# prints the tid pointers at exit). The framework's fixed split cannot drop
# the separator, so the exit half renders in the same slot at exit.
def _clone_all(ctx: Ctx, i: int) -> str:
    s = _clone_entry(ctx, i)
    if ctx.retval is not None:
        e = _clone_exit(ctx, i)
        if e:
            s += ", " + e
    return s


register("clone", Sig((_clone_all,), exit_from=0))

_CLONE_ARGS_MIN = 64  # offsetofend(struct clone_args, tls)


def _clone3_args(ctx: Ctx, i: int) -> str:
    a, size = ctx.u(0), ctx.u(1)
    fetch_size = min(size, 88)
    if fetch_size < _CLONE_ARGS_MIN:
        return addr_text(ctx, a)
    raw = fetch(ctx, a, fetch_size)
    if raw is None:
        return addr_text(ctx, a)
    raw = raw.ljust(88, b"\0")
    (fl, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls, set_tid,
     set_tid_size, cgroup) = _struct.unpack("<11Q", raw)
    out = [f"flags={pflags(fl, _CLONE3_FLAGS, 'CLONE_???')}"]
    if fl & 0x1000:
        out.append(f"pidfd={addr_text(ctx, pidfd)}")
    if fl & (0x1000000 | 0x200000):
        out.append(f"child_tid={addr_text(ctx, child_tid)}")
    if fl & 0x100000:
        out.append(f"parent_tid={addr_text(ctx, parent_tid)}")
    out.append(f"exit_signal={sprintsig(exit_signal)}" if exit_signal < 0x7FFFFFFF
               else f"exit_signal={exit_signal}")
    out.append(f"stack={addr_text(ctx, stack)}")
    out.append(f"stack_size={stack_size:#x}" if stack_size else "stack_size=0")
    if fl & 0x80000:
        out.append(f"tls={addr_text(ctx, tls)}")
    if set_tid or set_tid_size:
        out.append(f"set_tid={addr_text(ctx, set_tid)}")
        out.append(f"set_tid_size={set_tid_size}")
    if fetch_size > 80 and (cgroup or fl & 0x200000000):
        out.append(f"cgroup={cgroup}")
    s = "{" + ", ".join(out) + "}"
    # at exit: what the kernel wrote back
    if ctx.retval is not None and not ctx.failed() and fl & (0x1000 | 0x100000):
        back = []
        if fl & 0x1000:
            d = fetch(ctx, pidfd, 4)
            back.append("pidfd=" + (f"[{_struct.unpack('<i', d)[0]}]" if d else addr_text(ctx, pidfd)))
        if fl & 0x100000:
            d = fetch(ctx, parent_tid, 4)
            back.append("parent_tid=" + (f"[{_struct.unpack('<i', d)[0]}]" if d
                                         else addr_text(ctx, parent_tid)))
        s += " => {" + ", ".join(back) + "}"
    return s


register("clone3", Sig((_clone3_args, ulong), exit_from=0))
register(("fork", "vfork"), Sig(()))


# ---- wait ------------------------------------------------------------------------

def fmt_wait_status(st: int) -> str:
    st &= 0xFFFFFFFF
    lo = st & 0x7F
    if (st & 0xFF) == 0x7F:  # stopped
        sig = (st >> 8) & 0xFF
        s = f"{{WIFSTOPPED(s) && WSTOPSIG(s) == {sprintsig(sig & 0x7F)}{' | 0x80' if sig & 0x80 else ''}}}"
        rest = st & ~0xFF7F
    elif lo and lo != 0x7F:  # signaled
        s = (f"{{WIFSIGNALED(s) && WTERMSIG(s) == {sprintsig(lo)}"
             f"{' && WCOREDUMP(s)' if st & 0x80 else ''}}}")
        rest = st & ~0xFF
    elif lo == 0 and st & 0xFFFF0000 == 0 or lo == 0 and st != 0xFFFF:
        if st == 0xFFFF:
            s, rest = "{WIFCONTINUED(s)}", 0
        else:
            s = f"{{WIFEXITED(s) && WEXITSTATUS(s) == {(st >> 8) & 0xFF}}}"
            rest = st & ~0xFF00
    else:
        return f"[{st:#x}]"
    if rest:
        ev = rest >> 16
        if ev:
            s += f" | {PTRACE_EVENTS.get(ev, hex(ev) + ' /* PTRACE_EVENT_??? */')} << 16"
            rest &= 0xFFFF
        if rest:
            s += f" | {rest:#x}"
    return "[" + s + "]"


def _status(ctx: Ctx, i: int) -> str:
    a = ctx.u(i)
    if ctx.retval == 0:
        return addr_text(ctx, a)
    data, txt = fetch_or_addr(ctx, a, 4, True)
    return txt if data is None else fmt_wait_status(_struct.unpack("<I", data)[0])


def _wait_opts(ctx: Ctx, i: int) -> str:
    return pflags(ctx.u(i) & 0xFFFFFFFF, WAIT_OPTIONS, "W???")


def _wait_rusage(ctx: Ctx, i: int) -> str:
    if ctx.retval is not None and ctx.retval > 0:
        return print_rusage(ctx, ctx.u(i), True)
    return addr_text(ctx, ctx.u(i))


register("wait4", Sig((d32, _status, _wait_opts, _wait_rusage), exit_from=1))
register("waitpid", Sig((d32, _status, _wait_opts), exit_from=1))


def _waitid_id(ctx: Ctx, i: int) -> str:
    if ctx.u(0) & 0xFFFFFFFF == 3:  # P_PIDFD
        return _fd(ctx, i)
    return str(ctx.i32(i))


def _waitid_rusage(ctx: Ctx, i: int) -> str:
    return print_rusage(ctx, ctx.u(i), True)


register("waitid", Sig((const_arg(IDTYPES, "P_???"), _waitid_id,
                        lambda c, i: print_siginfo(c, c.u(i), True), _wait_opts, _waitid_rusage),
                       exit_from=2))


# ---- exit, ids ------------------------------------------------------------------------

register(("exit", "exit_group"), Sig((d32,)))
register(("getpid", "getppid", "gettid", "getuid", "geteuid", "getgid", "getegid",
          "getuid32", "geteuid32", "getgid32", "getegid32", "getpgrp", "setsid",
          "sched_yield", "restart_syscall", "vhangup", "getpagesize"), Sig(()))

_UID16 = {"setuid", "setgid", "setfsuid", "setfsgid", "setreuid", "setregid", "setresuid",
          "setresgid", "getresuid", "getresgid", "getgroups", "setgroups", "chown", "fchown",
          "lchown"}
register(("setuid", "setgid", "setfsuid", "setfsgid", "setuid32", "setgid32", "setfsuid32",
          "setfsgid32"), Sig((puid,)))
register(("setreuid", "setregid", "setreuid32", "setregid32"), Sig((puid, puid)))
register(("setresuid", "setresgid", "setresuid32", "setresgid32"), Sig((puid, puid, puid)))


def _out_uid(ctx: Ctx, i: int) -> str:
    n = 2 if _is16(ctx) else 4
    data, txt = fetch_or_addr(ctx, ctx.u(i), n, True)
    if data is None:
        return txt
    v = int.from_bytes(data, "little")
    return "[-1]" if v == (1 << (8 * n)) - 1 else f"[{v}]"


register(("getresuid", "getresgid", "getresuid32", "getresgid32"),
         Sig((_out_uid, _out_uid, _out_uid), exit_from=0))


def _groups(ctx: Ctx, addr: int, n: int, out: bool) -> str:
    if not addr:
        return "NULL"
    if out and ctx.failed():
        return addr_text(ctx, addr)
    if n == 0:
        return "[]"
    es = 2 if _is16(ctx) else 4
    shown = min(n, ctx.opts.max_array)
    data = ctx.read(addr, shown * es)
    if not data:
        return addr_text(ctx, addr)
    items = []
    for k in range(len(data) // es):
        v = int.from_bytes(data[k * es:(k + 1) * es], "little")
        items.append("-1" if v == (1 << (8 * es)) - 1 else str(v))
    if len(items) < shown:
        items.append(f"... /* {addr_text(ctx, addr + len(items) * es)} */")
    elif n > shown:
        items.append("...")
    return "[" + ", ".join(items) + "]"


register(("getgroups", "getgroups32"),
         Sig((d32, lambda c, i: _groups(c, c.u(i), max(c.retval or 0, 0), True)), exit_from=1))
register(("setgroups", "setgroups32"),
         Sig((d32, lambda c, i: _groups(c, c.u(i), c.i32(0) if c.i32(0) > 0 else 0, False))))
register(("setpgid",), Sig((d32, d32)))
register(("getpgid", "getsid"), Sig((d32,)))


# ---- limits, usage ------------------------------------------------------------------

_res = const_arg(RLIMITS, "RLIMIT_???")


def _rlim_bits(ctx: Ctx) -> int:
    return 32 if ctx.word == 4 else 64


register("prlimit64", Sig((d32, _res, lambda c, i: print_rlimit(c, c.u(i), False, 64),
                           lambda c, i: print_rlimit(c, c.u(i), True, 64)), exit_from=3))
register(("getrlimit", "ugetrlimit"),
         Sig((_res, lambda c, i: print_rlimit(c, c.u(i), True, _rlim_bits(c))), exit_from=1))
register("setrlimit", Sig((_res, lambda c, i: print_rlimit(c, c.u(i), False, _rlim_bits(c)))))
register("getrusage", Sig((const_arg(RUSAGE_WHO, "RUSAGE_???", signed=True),
                           lambda c, i: print_rusage(c, c.u(i), True)), exit_from=1))
register(("getpriority",), Sig((const_arg(PRIO_WHICH, "PRIO_???"), d32)))
register(("setpriority",), Sig((const_arg(PRIO_WHICH, "PRIO_???"), d32, d32)))


# ---- uname, sysinfo, times --------------------------------------------------------------

def _uname(ctx: Ctx, i: int) -> str:
    from .render import quote

    data, txt = fetch_or_addr(ctx, ctx.u(i), 65 * 6, True)
    if data is None:
        return txt
    f = [data[k * 65:(k + 1) * 65].split(b"\0", 1)[0] for k in range(6)]
    if ctx.opts.abbrev:
        return f"{{sysname={quote(f[0], 65)}, nodename={quote(f[1], 65)}, ...}}"
    names = ("sysname", "nodename", "release", "version", "machine", "domainname")
    return "{" + ", ".join(f"{n}={quote(v, 65)}" for n, v in zip(names, f)) + "}"


register(("uname", "newuname"), Sig((_uname,), exit_from=0))


def _sysinfo(ctx: Ctx, i: int) -> str:
    w = ctx.word
    L, UL = ("q", "Q") if w == 8 else ("i", "I")
    # uptime, loads[3], totalram, freeram, sharedram, bufferram, totalswap, freeswap,
    # procs (u16), pad, totalhigh, freehigh, mem_unit (u32)
    size = w * 4 + w * 6 + w + w * 2 + 4
    data, txt = fetch_or_addr(ctx, ctx.u(i), size, True)
    if data is None:
        return txt
    vals = _struct.unpack_from("<" + L + UL * 9, data, 0)
    off = w * 10
    procs = _struct.unpack_from("<H", data, off)[0]
    off += w  # procs + padding up to the next long
    th, fh = _struct.unpack_from("<" + UL * 2, data, off)
    mu = _struct.unpack_from("<I", data, off + 2 * w)[0]
    return (f"{{uptime={vals[0]}, loads=[{vals[1]}, {vals[2]}, {vals[3]}], totalram={vals[4]}, "
            f"freeram={vals[5]}, sharedram={vals[6]}, bufferram={vals[7]}, totalswap={vals[8]}, "
            f"freeswap={vals[9]}, procs={procs}, totalhigh={th}, freehigh={fh}, mem_unit={mu}}}")


register("sysinfo", Sig((_sysinfo,), exit_from=0))


def _tms(ctx: Ctx, i: int) -> str:
    w = ctx.word
    data, txt = fetch_or_addr(ctx, ctx.u(i), 4 * w, True)
    if data is None:
        return txt
    v = _struct.unpack("<" + ("Q" if w == 8 else "I") * 4, data)
    from .structs import fmt_clock_t
    return (f"{{tms_utime={fmt_clock_t(v[0])}, tms_stime={fmt_clock_t(v[1])}, "
            f"tms_cutime={fmt_clock_t(v[2])}, tms_cstime={fmt_clock_t(v[3])}}}")


register("times", Sig((_tms,), exit_from=0, ret=ret_udec))


# ---- time ------------------------------------------------------------------------

def _clk(ctx: Ctx, i: int) -> str:
    v = ctx.i32(i)
    if v in CLOCK_IDS:
        return CLOCK_IDS[v]
    if v < 0:  # a CPU clock or an fd clock: strace's MAKE_PROCESS_CPUCLOCK notation
        pid = ~(v >> 3) if True else 0
        kinds = {0: "CPUCLOCK_PROF", 1: "CPUCLOCK_VIRT", 2: "CPUCLOCK_SCHED"}
        if (v & 7) == 3:
            return f"FD_TO_CLOCKID({~(v >> 3)})"
        k = kinds.get(v & 3, str(v & 3))
        if v & 4:
            return f"MAKE_THREAD_CPUCLOCK({pid}, {k})"
        return f"MAKE_PROCESS_CPUCLOCK({pid}, {k})"
    return f"{v:#x} /* CLOCK_??? */"


def _ts_in(bits=None):
    return lambda c, i: print_timespec_at(c, c.u(i), False, bits)


def _ts_out(bits=None):
    return lambda c, i: print_timespec_at(c, c.u(i), True, bits)


def _rem(bits=None):
    def fn(ctx: Ctx, i: int) -> str:
        r = ctx.retval
        if r is not None and -r in (512, 513, 514, 516):  # interrupted: the remaining time
            data = fetch(ctx, ctx.u(i), timespec_size(ctx, bits))
            if data is not None:
                return fmt_timespec(ctx, data, bits)
        return addr_text(ctx, ctx.u(i))
    return fn


register("nanosleep", Sig((_ts_in(), _rem()), exit_from=1))
register("clock_nanosleep", Sig((_clk, flags_arg(TIMER_FLAGS, "TIMER_???"), _ts_in(), _rem()),
                                exit_from=3))
register("clock_nanosleep_time64", Sig((_clk, flags_arg(TIMER_FLAGS, "TIMER_???"), _ts_in(64),
                                        _rem(64)), exit_from=3))
register(("clock_gettime", "clock_getres"), Sig((_clk, _ts_out()), exit_from=1))
register(("clock_gettime64", "clock_getres_time64"), Sig((_clk, _ts_out(64)), exit_from=1))
register("clock_settime", Sig((_clk, _ts_in())))
register("clock_settime64", Sig((_clk, _ts_in(64))))


def _tz(ctx: Ctx, i: int, out: bool) -> str:
    data, txt = fetch_or_addr(ctx, ctx.u(i), 8, out)
    if data is None:
        return txt
    a, b = _struct.unpack("<ii", data)
    return f"{{tz_minuteswest={a}, tz_dsttime={b}}}"


register("gettimeofday", Sig((lambda c, i: print_timeval_at(c, c.u(i), True),
                              lambda c, i: _tz(c, i, True)), exit_from=0))
register("settimeofday", Sig((lambda c, i: print_timeval_at(c, c.u(i), False),
                              lambda c, i: _tz(c, i, False))))


def _fmt_time(t: int) -> str | None:
    try:
        return _time.strftime("%Y-%m-%dT%H:%M:%S%z", _time.localtime(t))
    except (OverflowError, OSError, ValueError):
        return None


def _time_arg(ctx: Ctx, i: int) -> str:
    a = ctx.u(i)
    data, txt = fetch_or_addr(ctx, a, ctx.word, True)
    if data is None:
        return txt
    t = int.from_bytes(data, "little", signed=True)
    s = _fmt_time(t)
    return f"[{t} /* {s} */]" if s else f"[{t}]"


def _ret_time(ctx: Ctx) -> str:
    r = ctx.retval
    if r is None or ctx.failed():
        return ret_default(ctx)
    s = _fmt_time(r)
    return f"{r} ({s})" if s else str(r)


register("time", Sig((_time_arg,), exit_from=0, ret=_ret_time))


def _which_timer(ctx, i):
    return xval(ctx.u(i) & 0xFFFFFFFF, ITIMERS, "ITIMER_???")


register("setitimer", Sig((_which_timer, lambda c, i: print_itimerval(c, c.u(i), False),
                           lambda c, i: print_itimerval(c, c.u(i), True)), exit_from=2))
register("getitimer", Sig((_which_timer, lambda c, i: print_itimerval(c, c.u(i), True)),
                          exit_from=1))


# ---- futex ------------------------------------------------------------------------

def _futex_op_name(op: int) -> str:
    op &= 0xFFFFFFFF
    base = FUTEX_OPS.get(op & ~0x100)
    if base is None:
        return f"{op:#x} /* FUTEX_??? */"
    return base + ("|FUTEX_CLOCK_REALTIME" if op & 0x100 else "")


def _futex(bits=None):
    def make(k):
        def fn(ctx: Ctx, i: int):
            op = ctx.u(1) & 0xFFFFFFFF
            cmd = op & 127
            val = str(ctx.u(2) & 0xFFFFFFFF)
            val2 = str(ctx.u(3) & 0xFFFFFFFF)
            ts = print_timespec_at(ctx, ctx.u(3), False, bits)
            ua2 = addr_text(ctx, ctx.u(4))
            v3 = ctx.u(5) & 0xFFFFFFFF
            bitset = "FUTEX_BITSET_MATCH_ANY" if v3 == 0xFFFFFFFF else hex(v3)
            if cmd == 0:  # WAIT
                rest = [val, ts]
            elif cmd in (6, 13):  # LOCK_PI, LOCK_PI2
                rest = [ts]
            elif cmd == 9:  # WAIT_BITSET
                rest = [val, ts, bitset]
            elif cmd == 10:  # WAKE_BITSET
                rest = [val, bitset]
            elif cmd == 3:  # REQUEUE
                rest = [val, val2, ua2]
            elif cmd in (4, 12):  # CMP_REQUEUE(_PI)
                rest = [val, val2, ua2, str(v3)]
            elif cmd == 5:  # WAKE_OP
                rest = [val, val2, ua2, _wake_op(v3)]
            elif cmd == 11:  # WAIT_REQUEUE_PI
                rest = [val, ts, ua2]
            elif cmd in (1, 2):  # WAKE, FD
                rest = [val]
            elif cmd in (7, 8):  # UNLOCK_PI, TRYLOCK_PI
                rest = []
            else:
                rest = [val, addr_text(ctx, ctx.u(3)), ua2, hex(v3) if v3 else "0"]
            return rest[k - 2] if k - 2 < len(rest) else None
        return fn
    return (lambda c, i: addr_text(c, c.u(0)),
            lambda c, i: _futex_op_name(c.u(1)),
            make(2), make(3), make(4), make(5))


_WAKE_OPS = {0: "FUTEX_OP_SET", 1: "FUTEX_OP_ADD", 2: "FUTEX_OP_OR", 3: "FUTEX_OP_ANDN",
             4: "FUTEX_OP_XOR"}
_WAKE_CMPS = {0: "FUTEX_OP_CMP_EQ", 1: "FUTEX_OP_CMP_NE", 2: "FUTEX_OP_CMP_LT",
              3: "FUTEX_OP_CMP_LE", 4: "FUTEX_OP_CMP_GT", 5: "FUTEX_OP_CMP_GE"}


def _wake_op(v3: int) -> str:
    s = ""
    if (v3 >> 28) & 8:
        s += "FUTEX_OP_OPARG_SHIFT<<28|"
    op = (v3 >> 28) & 7
    s += (f"{_WAKE_OPS[op]}<<28" if op in _WAKE_OPS else f"{op:#x}<<28 /* FUTEX_OP_??? */")
    oparg = (v3 >> 12) & 0xFFF
    s += f"|{oparg:#x}<<12" if oparg else "|0<<12"
    cmp = (v3 >> 24) & 0xF
    s += (f"|{_WAKE_CMPS[cmp]}<<24" if cmp in _WAKE_CMPS else f"|{cmp:#x}<<24 /* FUTEX_OP_CMP_??? */")
    cmparg = v3 & 0xFFF
    s += f"|{cmparg:#x}" if cmparg else "|0"
    return s


register("futex", Sig(_futex()))
register("futex_time64", Sig(_futex(64)))


def _robust_head(ctx, i):
    return out_int_array("Q" if ctx.word == 8 else "I", lambda v: addr_text(ctx, v))(ctx, i)


register("set_tid_address", Sig((ptr,)))
register("set_robust_list", Sig((ptr, ulong)))
register("get_robust_list", Sig((d32, _robust_head,
                                 lambda c, i: out_int_array("Q" if c.word == 8 else "I")(c, i)),
                                exit_from=1))
register("rseq", Sig((ptr, lambda c, i: hex(c.u(i) & 0xFFFFFFFF),
                      flags_arg(RSEQ_FLAGS, "RSEQ_FLAG_???"),
                      lambda c, i: hex(c.u(i) & 0xFFFFFFFF))))


# ---- arch_prctl, prctl -------------------------------------------------------------------

def _arch_prctl_code(ctx, i):
    return xval(ctx.u(0) & 0xFFFFFFFF, ARCH_PRCTL, "ARCH_???")


def _arch_prctl_arg(ctx: Ctx, i: int):
    op = ctx.u(0) & 0xFFFFFFFF
    a = ctx.u(1)
    if op in (0x1003, 0x1004):  # ARCH_GET_FS/GS
        return out_int_array("Q" if ctx.word == 8 else "I", lambda v: hex(v))(ctx, i)
    if op == 0x1011:  # ARCH_GET_CPUID
        return None
    if op in (0x1021, 0x1022, 0x1024):  # ARCH_GET_XCOMP_*: a mask in memory
        return out_int_array("Q", lambda v: hex(v))(ctx, i)
    return hex(a)


register("arch_prctl", Sig((_arch_prctl_code, _arch_prctl_arg), exit_from=0))


def _cap_name(v: int) -> str:
    return CAPS[v] if 0 <= v < len(CAPS) else f"{v:#x} /* CAP_??? */"


def _seccomp_fprog(ctx: Ctx, a: int) -> str:
    w = ctx.word
    data, txt = fetch_or_addr(ctx, a, 2 * w, False)
    if data is None:
        return txt
    n = _struct.unpack_from("<H", data, 0)[0]
    f = int.from_bytes(data[w:2 * w], "little")
    return f"{{len={n}, filter={addr_text(ctx, f)}}}"


def _prctl_rest(ctx: Ctx) -> list[str]:
    op = ctx.u(0) & 0xFFFFFFFF
    a2, a3, a4, a5 = ctx.u(1), ctx.u(2), ctx.u(3), ctx.u(4)

    def rest(first):
        return [hex(ctx.u(k)) if ctx.u(k) else "0" for k in range(first, 5)]

    if op in (7, 21, 30, 13, 31, 32, 3, 27, 46):  # no arguments shown
        return []
    if op in (37, 19, 9, 11):  # GET_CHILD_SUBREAPER...: an int at exit
        return [out_int_array("I")(ctx, 1)]
    if op == 16:  # PR_GET_NAME
        if ctx.failed():
            return [addr_text(ctx, a2)]
        return [print_str(ctx, a2, 16)]
    if op == 2:  # PR_GET_PDEATHSIG
        return [out_int_array("I", sprintsig)(ctx, 1)]
    if op == 40:  # PR_GET_TID_ADDRESS
        return [out_int_array("Q" if ctx.word == 8 else "I", hex)(ctx, 1)]
    if op in (15,):  # PR_SET_NAME
        return [print_str(ctx, a2, 15)]
    if op in (36, 20, 10, 12, 8, 14):
        return [str(a2)]
    if op == 4:
        return [xval(a2, PR_DUMPABLE, "SUID_DUMP_???")]
    if op in (23, 24):
        return [_cap_name(a2)]
    if op == 47:
        r = [xval(a2, PR_CAP_AMBIENT, "PR_CAP_AMBIENT_???")]
        if a2 in (1, 2, 3):
            return r + [_cap_name(a3)] + rest(3)
        return r + rest(2)
    if op == 1:
        return [str(a2) if a2 > 128 else sprintsig(a2)]
    if op == 0x59616D61:
        return ["PR_SET_PTRACER_ANY" if a2 & 0xFFFFFFFF == 0xFFFFFFFF else str(ctx.i32(1))]
    if op == 22:
        r = [xval(a2, SECCOMP_MODES, "SECCOMP_MODE_???")]
        if a2 == 1:
            return r
        if a2 == 2:
            return r + [_seccomp_fprog(ctx, a3)]
        return r + rest(2)
    if op == 29:
        return [str(ctx.s(1))]
    if op in (38, 41, 57):
        return [str(a2)] + rest(2)
    if op == 0x53564D41:  # PR_SET_VMA
        if a2 == 0:
            return ["PR_SET_VMA_ANON_NAME", addr_text(ctx, a3), str(a4), print_str(ctx, a5)]
        return [f"{a2:#x} /* PR_SET_VMA_??? */"] + rest(2)
    return rest(1)


def _prctl_args(ctx: Ctx, i: int) -> str:
    op = ctx.u(0) & 0xFFFFFFFF
    return ", ".join([xval(op, PR_OPTIONS, "PR_???")] + _prctl_rest(ctx))


def _ret_prctl(ctx: Ctx) -> str:
    op = ctx.u(0) & 0xFFFFFFFF
    r = ctx.retval
    if r is not None and not ctx.failed() and op == 3 and r in PR_DUMPABLE:
        return f"{r} ({PR_DUMPABLE[r]})"
    return ret_default(ctx)


register("prctl", Sig((_prctl_args,), exit_from=0, ret=_ret_prctl))


# ---- affinity, scheduler --------------------------------------------------------------------

def _cpuset(ctx: Ctx, a: int, n: int, out: bool) -> str:
    data, txt = fetch_or_addr(ctx, a, n, out)
    if data is None:
        return txt
    cpus = [str(k) for k in range(len(data) * 8) if data[k // 8] >> (k % 8) & 1]
    return "[" + " ".join(cpus) + "]"


register("sched_getaffinity", Sig((d32, ulong, lambda c, i: _cpuset(
    c, c.u(i), max(c.retval or 0, 0) if not c.failed() else 0, True)), exit_from=2))
register("sched_setaffinity", Sig((d32, ulong, lambda c, i: _cpuset(c, c.u(i), c.u(1), False))))


def _policy(ctx: Ctx, i: int) -> str:
    v = ctx.u(i) & 0xFFFFFFFF
    s = SCHED_POLICIES_STRACE.get(v & ~0x40000000)
    if s is None:
        return f"{v:#x} /* SCHED_??? */"
    return s + ("|SCHED_RESET_ON_FORK" if v & 0x40000000 else "")


def _sched_param(out: bool):
    def fn(ctx: Ctx, i: int) -> str:
        data, txt = fetch_or_addr(ctx, ctx.u(i), 4, out)
        return txt if data is None else f"[{_struct.unpack('<i', data)[0]}]"
    return fn


def _ret_policy(ctx: Ctx) -> str:
    r = ctx.retval
    if r is None or ctx.failed():
        return ret_default(ctx)
    s = SCHED_POLICIES_STRACE.get(r & ~0x40000000)
    if s is None:
        return str(r)
    return f"{r} ({s}{'|SCHED_RESET_ON_FORK' if r & 0x40000000 else ''})"


register("sched_getscheduler", Sig((d32,), ret=_ret_policy))
register("sched_setscheduler", Sig((d32, _policy, _sched_param(False))))
register("sched_getparam", Sig((d32, _sched_param(True)), exit_from=1))
register("sched_setparam", Sig((d32, _sched_param(False))))
register(("sched_get_priority_max", "sched_get_priority_min"), Sig((_policy,)))


# ---- getrandom -----------------------------------------------------------------------

def _random_buf(ctx: Ctx, i: int) -> str:
    a = ctx.u(0)
    if ctx.failed() or ctx.retval is None:
        return addr_text(ctx, a)
    n = ctx.retval
    shown = min(n, ctx.opts.strsize)
    data = ctx.read(a, shown) if shown else b""
    if data is None or len(data) < shown:
        return addr_text(ctx, a)
    return quote_hex(data) + ("..." if n > shown else "")


register("getrandom", Sig((_random_buf, ulong, flags_arg(GETRANDOM_FLAGS, "GRND_???")),
                          exit_from=0))


# ---- personality, capabilities ----------------------------------------------------------

def _pers_text(p: int) -> str:
    t = PERSONALITY_TYPES.get(p & 0xFF)
    fl = p & ~0xFF
    if t is None:
        return pflags(p, PERSONALITY_FLAGS, "PER_???") if fl else f"{p:#x} /* PER_??? */"
    if not fl:
        return t
    return t + "|" + _flags(fl, PERSONALITY_FLAGS)


def _pers(ctx: Ctx, i: int) -> str:
    p = ctx.u(i) & 0xFFFFFFFF
    return hex(p) if p == 0xFFFFFFFF else _pers_text(p)


def _ret_pers(ctx: Ctx) -> str:
    r = ctx.retval
    if r is None or ctx.failed():
        return ret_default(ctx)
    return f"{r:#x} ({_pers_text(r)})" if r else f"0 ({_pers_text(0)})"


register("personality", Sig((_pers,), ret=_ret_pers))


def _cap_user_header(ctx: Ctx, i: int) -> str:
    data, txt = fetch_or_addr(ctx, ctx.u(i), 8, False)
    if data is None:
        return txt
    v, pid = _struct.unpack("<Ii", data)
    return f"{{version={xval(v, CAP_VERSIONS, '_LINUX_CAPABILITY_VERSION_???')}, pid={pid}}}"


def _cap_bits(lo: int, hi: int) -> str:
    v = lo | hi << 32
    if not v:
        return "0"
    parts = [f"1<<{CAPS[k]}" for k in range(len(CAPS)) if v >> k & 1]
    rest = v & ~((1 << len(CAPS)) - 1)
    if rest:
        parts.append(hex(rest))
    return "|".join(parts)


def _cap_data(out: bool):
    def fn(ctx: Ctx, i: int) -> str:
        hdr = fetch(ctx, ctx.u(0), 4)
        ver = _struct.unpack("<I", hdr)[0] if hdr else 0
        n = 1 if ver == 0x19980330 else 2
        data, txt = fetch_or_addr(ctx, ctx.u(i), 12 * n, out)
        if data is None:
            return txt
        w = _struct.unpack(f"<{3 * n}I", data)
        e = _cap_bits(w[0], w[3] if n == 2 else 0)
        p = _cap_bits(w[1], w[4] if n == 2 else 0)
        h = _cap_bits(w[2], w[5] if n == 2 else 0)
        return f"{{effective={e}, permitted={p}, inheritable={h}}}"
    return fn


register("capget", Sig((_cap_user_header, _cap_data(True)), exit_from=1))
register("capset", Sig((_cap_user_header, _cap_data(False))))


# ---- pidfd, namespaces, seccomp, ptrace ----------------------------------------------------

register("pidfd_open", Sig((d32, flags_arg(PIDFD_FLAGS, "PIDFD_???")), ret=_ret_fd))
register("pidfd_send_signal", Sig((_fd, psig, lambda c, i: print_siginfo(c, c.u(i), False),
                                   u32)))
register("pidfd_getfd", Sig((_fd, d32, u32), ret=_ret_fd))
register("unshare", Sig((lambda c, i: pflags(c.u(i), _CLONE3_FLAGS, "CLONE_???"),)))
register("setns", Sig((_fd, lambda c, i: pflags(c.u(i) & 0xFFFFFFFF,
                                                tuple(SETNS_TYPES.items()), "CLONE_NEW???"))))


def _seccomp_args(ctx: Ctx, i: int) -> str:
    op = ctx.u(0) & 0xFFFFFFFF
    fl = ctx.u(1) & 0xFFFFFFFF
    out = [xval(op, SECCOMP_OPS, "SECCOMP_SET_MODE_???"),
           pflags(fl, SECCOMP_FILTER_FLAGS, "SECCOMP_FILTER_FLAG_???")]
    if op == 1:
        out.append(_seccomp_fprog(ctx, ctx.u(2)))
    elif op == 2:
        data = fetch(ctx, ctx.u(2), 4)
        out.append(f"[{hex(_struct.unpack('<I', data)[0])}]" if data else addr_text(ctx, ctx.u(2)))
    else:
        out.append(addr_text(ctx, ctx.u(2)))
    return ", ".join(out)


register("seccomp", Sig((_seccomp_args,), ret=ret_default))


def _ptrace_args(ctx: Ctx, i: int) -> str:
    req = ctx.u(0) & 0xFFFFFFFF
    name = xval(req, PTRACE_REQUESTS, "PTRACE_???")
    if req == 0:  # TRACEME
        return name
    out = [name, str(ctx.i32(1))]
    if req in (16, 16903, 8):  # ATTACH, INTERRUPT, KILL
        return ", ".join(out)
    if req in (7, 9, 17, 24, 31, 32, 16904):  # CONT SINGLESTEP DETACH SYSCALL...: a signal
        out += [addr_text(ctx, ctx.u(2)) if ctx.u(2) else "NULL", sprintsig(ctx.u(3) & 0xFFFFFFFF)
                if ctx.u(3) else "0"]
        return ", ".join(out)
    out += [addr_text(ctx, ctx.u(2)), addr_text(ctx, ctx.u(3))]
    return ", ".join(out)


register("ptrace", Sig((_ptrace_args,), exit_from=0))
