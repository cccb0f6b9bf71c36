"""Faults: strace's syscall tampering (`-e inject=` and `-e fault=`).

    sysvisor trace -e inject=openat:error=ENOENT:when=3 -- cat /etc/hostname
    sysvisor trace -e fault=chdir:when=3+ -- sh -c 'cd /; cd /; cd /'

    f = Faults([parse_inject("openat:error=ENOENT:when=3")])
    sysvisor.run(["cat", "/etc/hostname"], layers=[f])

One `Injection` per `-e inject=SET[:error=ERRNO|:retval=VALUE][:signal=SIG]
[:syscall=NAME][:delay_enter=T][:delay_exit=T][:poke_enter=@argN=HEX,...]
[:poke_exit=@argN=HEX,...][:when=FIRST[..LAST][+[STEP]]]`, with strace's
meaning (strace(1), and checked against strace 6.1):

- error=E: the call is not run and fails with E (a name or 1..4095);
  retval=V: it is not run and returns V. The tracer marks the line
  ` (INJECTED)` (see tamper_marks).
- signal=S is sent to the thread when the call enters; the call still
  runs unless error/retval say otherwise.
- syscall=NAME (a %pure syscall, with error= or retval=): that syscall
  runs instead, and its result is replaced at exit.
- delay_enter/delay_exit=T (microseconds, or with a suffix s/ms/us/ns)
  delay the thread when the call enters / returns; ` (DELAYED)`.
- poke_enter/poke_exit=@argN=HEX writes the bytes at the address in
  argument N (1-based) at entry / at exit; ` (INJECTED: args)`.
- when=: which invocations are tampered with, counted per syscall and per
  thread, as strace counts ("per tracee": a new thread or child starts
  from zero; exec keeps the count). `scope="process"` counts the threads
  of a process together instead (an API option).
- `-e fault=SET[:error=E][:when=W]` is `inject` with error=ENOSYS by
  default.

For one syscall the last injection that names it wins, as in strace.
Injections may also carry constant-argument predicates (API only):
`Injection("write", error=EIO, predicates=[(arg(0, bits=32) == 2,)])`
tampers with writes to fd 2 only; the predicates go into the seccomp
filter, and calls that do not match are neither stopped nor counted.

Deviations from strace, on purpose: the tracer renders a call's entry
arguments before the layers below it see the call, so a poke_enter
shows in the memory the program passes but not in the traced line (strace
pokes first, then prints). strace only tampers with calls it
traces (`-e trace=`, -P); the layer tampers with its own set (the
`sysvisor trace` CLI restricts it to the trace set and -P like strace).
A signal is sent with tgkill(2) by the supervisor, so its siginfo says
SI_TKILL and the supervisor's pid where strace's (a ptrace restart
signal) says SI_KERNEL. Advisory: nothing here is a security boundary.
"""
from __future__ import annotations

import ctypes
import errno as _errno
import os
import re
import signal as _signal
import time
from dataclasses import dataclass, field

from ..errors import UsageError
from ..layer import Layer
from ..syscallset import SyscallSet

MAX_ERRNO = 4095
SIGRTMAX = 64
WHEN_FIRST_MAX = 65535  # strace's limits
WHEN_LAST_MAX = 65534
WHEN_STEP_MAX = 65535
POKE_MAX = 4096  # bytes per poke, as strace's
MAX_DELAY_NS = 3600 * 10**9

_libc = ctypes.CDLL(None, use_errno=True)
_NR_TGKILL = {"x86_64": 234, "aarch64": 131}.get(os.uname().machine)


@dataclass(frozen=True)
class When:
    """strace's when=FIRST[..LAST][+[STEP]]: invocations FIRST, FIRST+STEP,
    ... up to LAST (0: no end). STEP 0 is FIRST only."""

    first: int = 1
    last: int = 0
    step: int = 1

    def matches(self, n: int) -> bool:
        if n < self.first:
            return False
        if self.step == 0:
            return n == self.first
        if self.last and n > self.last:
            return False
        return (n - self.first) % self.step == 0

    @classmethod
    def parse(cls, text: str) -> "When":
        m = re.fullmatch(r"(\d+)(?:\.\.(\d+))?(\+(\d+)?)?", text)
        if m is None:
            raise UsageError(f"invalid when= expression {text!r} (FIRST[..LAST][+[STEP]])")
        first = int(m[1])
        last = int(m[2]) if m[2] is not None else 0
        if m[3] is None:
            step = 1 if m[2] is not None else 0
        else:
            step = int(m[4]) if m[4] is not None else 1
        if not 1 <= first <= WHEN_FIRST_MAX:
            raise UsageError(f"invalid when= expression {text!r}: FIRST must be 1..{WHEN_FIRST_MAX}")
        if m[2] is not None and not first <= last <= WHEN_LAST_MAX:
            raise UsageError(f"invalid when= expression {text!r}: LAST must be FIRST..{WHEN_LAST_MAX}")
        if m[3] is not None and not 1 <= step <= WHEN_STEP_MAX:
            raise UsageError(f"invalid when= expression {text!r}: STEP must be 1..{WHEN_STEP_MAX}")
        return cls(first, last, step)


EVERY = When(1, 0, 1)


@dataclass(frozen=True)
class Injection:
    """One -e inject= expression (see the module docstring). `set` is a
    syscall set in -e trace= syntax; delays are in nanoseconds; pokes are
    ((argument index, 0-based), data) pairs."""

    set: str
    error: int = 0
    retval: int | None = None
    signal: int = 0
    syscall: str | None = None
    delay_enter_ns: int = 0
    delay_exit_ns: int = 0
    poke_enter: tuple = ()
    poke_exit: tuple = ()
    when: When = EVERY
    scope: str = "thread"
    predicates: tuple = field(default=())  # alternatives, each a tuple of Predicates

    def __post_init__(self):
        SyscallSet(self.set)  # the syntax, now
        if self.error and self.retval is not None:
            raise UsageError("error= and retval= are mutually exclusive")
        if not 0 <= self.error <= MAX_ERRNO:
            raise UsageError(f"error must be in 1..{MAX_ERRNO}, not {self.error}")
        if not 0 <= self.signal <= SIGRTMAX:
            raise UsageError(f"signal must be in 1..{SIGRTMAX}, not {self.signal}")
        if self.syscall is not None and not (self.error or self.retval is not None):
            raise UsageError("syscall= needs error= or retval=")
        if self.scope not in ("thread", "process"):
            raise UsageError(f"scope must be 'thread' or 'process', not {self.scope!r}")
        if not (self.error or self.retval is not None or self.signal or self.delay_enter_ns
                or self.delay_exit_ns or self.poke_enter or self.poke_exit):
            raise UsageError("an injection needs error=, retval=, signal=, delay_enter=, "
                             "delay_exit=, poke_enter= or poke_exit=")

    @property
    def answers(self) -> bool:
        """The call is not run (error= or retval= without syscall=)."""
        return (bool(self.error) or self.retval is not None) and self.syscall is None

    @property
    def needs(self) -> frozenset[str]:
        out = {"answer"} if self.error or self.retval is not None else set()
        if self.delay_exit_ns or self.poke_exit or self.syscall is not None:
            out.add("result")
        if self.syscall is not None:
            out.add("change_args")
        return frozenset(out)


# ---- parsing strace's syntax -------------------------------------------------------


def parse_errno(text: str) -> int:
    if text.isdigit():
        v = int(text)
        if 1 <= v <= MAX_ERRNO:
            return v
        raise UsageError(f"invalid errno {text!r} (a name such as ENOENT, or 1..{MAX_ERRNO})")
    v = getattr(_errno, text.upper(), None)
    if not isinstance(v, int) or not text.upper().startswith("E"):
        raise UsageError(f"unknown errno {text!r} (a name such as ENOENT, or 1..{MAX_ERRNO})")
    return v


def parse_signal(text: str) -> int:
    if text.isdigit():
        v = int(text)
        if 1 <= v <= SIGRTMAX:
            return v
        raise UsageError(f"invalid signal {text!r} (a name such as SIGUSR1, or 1..{SIGRTMAX})")
    name = text.upper()
    if not name.startswith("SIG"):
        name = "SIG" + name
    v = getattr(_signal, name, None)
    if not isinstance(v, int) or name.startswith("SIG_"):
        raise UsageError(f"unknown signal {text!r} (a name such as SIGUSR1, or 1..{SIGRTMAX})")
    return int(v)


_UNITS = {"s": 10**9, "ms": 10**6, "us": 10**3, "ns": 1}


def parse_delay(text: str) -> int:
    """strace's time specification, in ns: a decimal number, microseconds
    unless followed by s, ms, us or ns."""
    m = re.fullmatch(r"([0-9]*\.?[0-9]+(?:[eE][+-]?\d+)?)(s|ms|us|ns)?", text)
    if m is None:
        raise UsageError(f"invalid delay {text!r} (a number of microseconds, or with s/ms/us/ns)")
    ns = round(float(m[1]) * _UNITS[m[2] or "us"])
    if ns > MAX_DELAY_NS:
        raise UsageError(f"delay {text!r} is longer than an hour")
    return ns


def parse_retval(text: str) -> int:
    try:
        v = int(text, 0)
    except ValueError:
        raise UsageError(f"invalid retval {text!r} (an integer)") from None
    if not -(1 << 63) <= v < (1 << 64):
        raise UsageError(f"retval {text!r} does not fit in a register")
    return v - (1 << 64) if v >= 1 << 63 else v


def parse_pokes(text: str) -> tuple:
    out = []
    for item in text.split(","):
        m = re.fullmatch(r"@arg([1-6])=((?:[0-9a-fA-F]{2})+)", item)
        if m is None:
            raise UsageError(f"invalid poke {item!r} (@argN=HEX, N 1..6, an even number of hex digits)")
        data = bytes.fromhex(m[2])
        if len(data) > POKE_MAX:
            raise UsageError(f"poke {item[:20]!r}... is longer than {POKE_MAX} bytes")
        out.append((int(m[1]) - 1, data))
    return tuple(out)


_OPTIONS = ("error", "retval", "signal", "syscall", "delay_enter", "delay_exit", "poke_enter",
            "poke_exit", "when")


def parse_inject(expr: str, kind: str = "inject") -> Injection:
    """An Injection from strace's `-e inject=EXPR` (kind="inject") or
    `-e fault=EXPR` (kind="fault": only error= and when=, ENOSYS by default)."""
    parts = expr.split(":")
    spec, opts = parts[0], parts[1:]
    if not spec:
        raise UsageError(f"-e {kind}=: empty syscall set in {expr!r}")
    kw: dict = {}
    seen: set[str] = set()
    for opt in opts:
        key, sep, value = opt.partition("=")
        if not sep or key not in _OPTIONS:
            raise UsageError(f"-e {kind}=: invalid option {opt!r} (options: "
                             + ", ".join(_OPTIONS if kind == "inject" else ("error", "when")) + ")")
        if kind == "fault" and key not in ("error", "when"):
            raise UsageError(f"-e fault=: only error= and when= are allowed, not {key}=")
        if key in seen and key != "when":  # strace: the last when= wins
            raise UsageError(f"-e {kind}=: {key}= given twice in {expr!r}")
        seen.add(key)
        if key == "error":
            kw["error"] = parse_errno(value)
        elif key == "retval":
            kw["retval"] = parse_retval(value)
        elif key == "signal":
            kw["signal"] = parse_signal(value)
        elif key == "syscall":
            kw["syscall"] = value
        elif key == "delay_enter":
            kw["delay_enter_ns"] = parse_delay(value)
        elif key == "delay_exit":
            kw["delay_exit_ns"] = parse_delay(value)
        elif key == "poke_enter":
            kw["poke_enter"] = parse_pokes(value)
        elif key == "poke_exit":
            kw["poke_exit"] = parse_pokes(value)
        else:
            kw["when"] = When.parse(value)
    if kind == "fault" and "error" not in kw:
        kw["error"] = _errno.ENOSYS
    return Injection(spec, **kw)


def tamper_marks(retval: bool, args: bool, delayed: bool) -> str:
    """strace's markers after the return value: ` (INJECTED)` (result),
    ` (INJECTED: args)` (memory poked), ` (INJECTED: args, retval)`, then
    ` (DELAYED)`. The layer sets call.data["injected"], ["injected_args"]
    and ["delayed"] for the tracer and the recorder."""
    out = ""
    if retval or args:
        out = " (INJECTED" + (": args, retval)" if retval and args else ": args)" if args else ")")
    return out + (" (DELAYED)" if delayed else "")


def retval_warning(inj: Injection) -> str | None:
    """strace's warning for a retval= that the program will read as an error."""
    r = inj.retval
    if r is not None and -MAX_ERRNO <= r < 0:
        return (f"inadvertent injection of error {-r} is possible for "
                f"retval={r & 0xFFFFFFFFFFFFFFFF}")
    return None


# ---- the layer -----------------------------------------------------------------------


def tgkill(pid: int, tid: int, sig: int) -> None:
    """Send sig to one thread (the supervisor side of signal=)."""
    if _NR_TGKILL is None:
        os.kill(pid, sig)
        return
    if _libc.syscall(_NR_TGKILL, pid, tid, sig) != 0:
        e = ctypes.get_errno()
        if e != _errno.ESRCH:
            raise OSError(e, os.strerror(e))


class Faults(Layer):
    """Tamper with syscalls like strace's -e inject= (see the module
    docstring).

    injections: Injection objects, in order (a later one replaces an
    earlier one for the syscalls both name). within: a syscall set that
    restricts every injection (the CLI passes -e trace=). only: a function
    of the Call that says whether it may be tampered with at all (the CLI
    passes -P's test); calls it refuses are not counted.
    """

    def __init__(self, injections, within: str | None = None, only=None):
        self.injections = list(injections)
        self.within = SyscallSet(within) if within else None
        self.only = only
        self.rules: dict[tuple[str, int], Injection] = {}  # (arch, nr) -> injection
        self.counts: dict[int, dict] = {}  # tid (or pid) -> {(arch, nr): invocations}
        # a delay sleeps: the layer's calls then run on threads of their own
        self.blocking = any(i.delay_enter_ns or i.delay_exit_ns for i in self.injections)
        needs: set[str] = set()
        for i in self.injections:
            needs |= i.needs
        self.needs = frozenset(needs)
        self._tables: set[str] = set()

    # ---- which rule for which syscall ----------------------------------------------------

    def _resolve(self, table) -> None:
        if table.arch in self._tables:
            return
        self._tables.add(table.arch)
        strict = table.arch in ("x86_64", "aarch64")
        allowed = self.within.numbers(table, strict)[0] if self.within is not None else None
        for inj in self.injections:
            nrs, _ = SyscallSet(inj.set).numbers(table, strict)
            if inj.syscall is not None:
                sc = table.by_name.get(inj.syscall)
                if sc is None or "pure" not in sc.classes:
                    if strict:
                        raise UsageError(f"syscall={inj.syscall}: not a %pure syscall on {table.arch}")
                    continue
            for nr in nrs:
                if allowed is None or nr in allowed:
                    self.rules[(table.arch, nr)] = inj

    def rule(self, table, nr: int) -> Injection | None:
        """The injection for syscall nr of `table`, or None."""
        self._resolve(table)
        return self.rules.get((table.arch, nr))

    def interests(self, table):
        self._resolve(table)
        out = {}
        for (arch, nr), inj in self.rules.items():
            if arch == table.arch:
                out[nr] = [tuple(a) for a in inj.predicates] if inj.predicates else None
        return out

    # ---- calls -------------------------------------------------------------------------

    def syscall(self, call):
        inj = self.rules.get((call.arch, call.nr))
        if inj is None:
            return call.next()
        if self.only is not None and not self.only(call):
            return call.next()
        owner = call.tid if inj.scope == "thread" else call.pid
        counts = self.counts.get(owner)
        if counts is None:
            counts = self.counts[owner] = {}
        key = (call.arch, call.nr)
        n = counts.get(key, 0) + 1
        counts[key] = n
        if not inj.when.matches(n):
            return call.next()
        self._enter(call, inj)
        if inj.answers:
            call.data["injected"] = True
            if inj.error:
                return call.fail(inj.error)
            return call.ret(inj.retval)
        return call.next()

    def _enter(self, call, inj: Injection) -> None:
        if inj.signal:
            tgkill(call.pid, call.tid, inj.signal)
        if inj.delay_enter_ns:
            call.data["delayed"] = True
            time.sleep(inj.delay_enter_ns / 1e9)
        for i, data in inj.poke_enter:
            call.write(call.args[i], data)
            call.data["injected_args"] = True
        if inj.syscall is not None:
            from ..tables import table

            call.set_nr(table(call.arch).by_name[inj.syscall].nr)
        if inj.delay_exit_ns or inj.poke_exit or inj.syscall is not None:
            call.on_exit(lambda c, inj=inj: self._exit(c, inj))

    @staticmethod
    def _exit(call, inj: Injection) -> None:
        if inj.syscall is not None:
            call.data["injected"] = True
            if inj.error:
                call.set_error(inj.error)
            else:
                call.set_return(inj.retval)
        for i, data in inj.poke_exit:
            call.write(call.args[i], data)
            call.data["injected_args"] = True
        if inj.delay_exit_ns:
            call.data["delayed"] = True
            time.sleep(inj.delay_exit_ns / 1e9)

    def on_exit(self, tid, status):
        self.counts.pop(tid, None)

    # ---- the compiled form (sysvisor.compiled) ------------------------------------------------

    def compile(self, b) -> None:
        """Every injection is data (when= counters, predicates, signal,
        delays, pokes, syscall=), except under `only` (a Python test)."""
        if self.only is not None:
            return
        from ..compiled.blob import Inject

        self._resolve(b.table)
        for (arch, nr), inj in self.rules.items():
            if arch != b.arch:
                continue
            when = None if inj.when == EVERY else (inj.when.first, inj.when.last, inj.when.step)
            process = inj.scope == "process"
            subst = b.table.by_name[inj.syscall].nr if inj.syscall is not None else None
            pokes = tuple((0, i, d) for i, d in inj.poke_enter) + tuple((1, i, d) for i, d in inj.poke_exit)
            b.add(nr, Inject(error=inj.error, retval=inj.retval, signal=inj.signal, subst_nr=subst,
                             delay_enter_ns=inj.delay_enter_ns, delay_exit_ns=inj.delay_exit_ns,
                             pokes=pokes, when=when, process_scope=process,
                             counter=b.counter(process) if when else 0,
                             alts=tuple(tuple(a) for a in inj.predicates)))
