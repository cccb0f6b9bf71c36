"""Layers: Python classes whose methods are named after syscalls.

    class CountOpens(sysvisor.Layer):
        def openat(self, call):
            self.n += 1
            return call.next()

A handler receives a `Call`; it may let it through to the layer below
(`call.next()`), refuse it (`call.fail(errno)`), answer it (`call.ret(v)`),
change it (`call.set_arg(i, v)` then `call.next()`), or look at the result
(`call.on_exit(fn)`). A method named `syscall` catches every call that has
no handler of its own in that layer. The stack's interests, the syscalls
that must stop the program at all, are derived from the handler names and
their `@when` predicates, and compiled into the method's filter.
"""
from __future__ import annotations

from typing import Callable

from .kernel.filter import Predicate
from .tables import SyscallTable

CATCH_ALL = "syscall"


class ArgRef:
    """`arg(i)` in a `@when` predicate: arg(1) == 3, arg(2) & O_ACCMODE == O_WRONLY."""

    def __init__(self, index: int, mask: int = 0xFFFFFFFFFFFFFFFF, bits: int = 64):
        if not 0 <= index < 6:
            raise ValueError("argument index must be 0..5")
        self.index, self.mask, self.bits = index, mask, bits

    def __and__(self, mask: int) -> "ArgRef":
        return ArgRef(self.index, self.mask & mask, self.bits)

    def __eq__(self, value: int) -> Predicate:  # type: ignore[override]
        return Predicate(self.index, value, self.mask, False, self.bits)

    def __ne__(self, value: int) -> Predicate:  # type: ignore[override]
        return Predicate(self.index, value, self.mask, True, self.bits)

    __hash__ = None  # type: ignore[assignment]


def arg(index: int, bits: int = 64) -> ArgRef:
    """Reference argument `index` (0-based) in a `@when` predicate. Use
    bits=32 for C `int` arguments, whose upper half the kernel ignores."""
    return ArgRef(index, bits=bits)


def when(*predicates: Predicate) -> Callable:
    """Only call this handler (and only stop the program) when all the
    predicates hold. Stack several `@when` for alternatives (OR)."""

    def deco(fn):
        alts = list(getattr(fn, "_sysvisor_when", ()))
        alts.append(tuple(predicates))
        fn._sysvisor_when = alts
        return fn

    return deco


def blocking(fn: Callable) -> Callable:
    """Mark a handler that may block (sleep, wait on a socket): its calls run
    on a thread of their own so that other threads and processes go on."""
    fn._sysvisor_blocking = True
    return fn


class Layer:
    """Base class of all layers. Subclass and name methods after syscalls.

    Class attributes:
      enforcing: the layer is a security boundary; it refuses methods that
                 cannot be one, and a failing handler fails the call (EPERM)
                 instead of letting it through.
      needs:     capabilities the layer requires of the method, among
                 "change_args", "answer", "result", "attach", "boundary",
                 "events" (implied by on_fork, on_exec, on_signal, on_stop).
      blocking:  every handler of the layer may block (see `blocking`).
    Event hooks (optional): on_start(session), on_fork(parent, child, kind),
    on_exec(tid, former_tid), on_signal(tid, signo, siginfo),
    on_stop(tid, signo) (group-stop), on_exit(tid, status), on_end(session).
    The unotify method has no process events: it delivers on_start, on_end
    and on_exit of the spawned process only; a layer defining on_fork,
    on_exec, on_signal or on_stop needs "events" and is not run there.

    Spawn hook (optional): spawn_setup(argv, env) -> list of actions from
    sysvisor.spawn, which every engine applies in the child between fork
    and exec: Landlock(ruleset_fd) restricts the program (after
    NO_NEW_PRIVS, before the seccomp filter), Chdir(path) sets its working
    directory, Executable(path) is the path it execs (the layer resolved
    the command itself). session.spawn_actions holds what was applied.
    """

    enforcing: bool = False
    needs: frozenset[str] = frozenset()
    blocking: bool = False

    @property
    def name(self) -> str:
        return type(self).__name__

    def handlers(self, table: SyscallTable) -> dict[int, Callable]:
        """nr -> bound handler, for the syscalls this layer handles by name."""
        out = {}
        cls = type(self)
        for attr in dir(cls):
            if attr.startswith("_") or attr == CATCH_ALL:
                continue
            sc = table.by_name.get(attr)
            if sc is not None and callable(getattr(cls, attr, None)):
                out[sc.nr] = getattr(self, attr)
        return out

    def catch_all(self) -> Callable | None:
        fn = getattr(self, CATCH_ALL, None)
        return fn if callable(fn) else None

    def compile(self, b) -> None:
        """For the in-process methods (sysvisor.compiled): add to the builder
        `b` actions, as data, for the syscalls of b.table this layer can
        handle without Python (errno rules, trace records, path remapping...).
        Its other interests cross to the supervisor, where its handlers run.
        The default compiles nothing."""

    def interests(self, table: SyscallTable) -> dict[int, list[tuple[Predicate, ...]] | None] | None:
        """nr -> None (always) or a list of alternatives, each a tuple of
        predicates; or None for "every syscall, known or not" (the default
        with a catch-all handler). Override to declare interests that
        handler names cannot express (a tracer's -e trace=SET)."""
        if self.catch_all() is not None:
            return None
        out: dict[int, list | None] = {}
        for nr, fn in self.handlers(table).items():
            alts = getattr(fn, "_sysvisor_when", None)
            out[nr] = list(alts) if alts else None
        return out
