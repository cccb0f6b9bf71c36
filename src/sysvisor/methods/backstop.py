"""The hybrid backstop of the in-process methods: `sud+backstop` and
`preload+backstop`.

The in-process shim sees what the program does through libc (preload) or
every syscall instruction of the program once its constructor has run
(sud), but not the loader's calls before that, nor a static program (no
loader to preload it into), nor, under preload, libc's internal calls,
inline `syscall` instructions and JIT code. The backstop is a seccomp
filter, installed before exec and inherited by the whole tree, over the
stack's interests:

    a call a layer asked for, made from the shim's trampoline  -> ALLOW
        (the shim already handed it to the layers)
    any other call a layer asked for                            -> USER_NOTIF
        (handled here, by the same layers, as the unotify method does)
    a call no layer asked for                                   -> ALLOW

"From the trampoline" is seccomp_data.instruction_pointer (the address
after the `syscall`) inside [TRAMP_ADDR + TRAMP_SKIP, TRAMP_ADDR +
TRAMP_RANGE): the shim copies its trampoline to that fixed address before
making any other call (native/shim_tramp_x86_64.c), in every image, so
the filter, compiled before the program exists, knows it despite ASLR.

Not a security boundary, any more than the in-process methods are: the
program can jump to the trampoline's `syscall` instruction with registers
of its choosing (or overwrite the shim, which lives in its memory), and
that call is neither dispatched by SUD nor notified by the filter. The
backstop is for completeness, not containment: every call of a
cooperative program that no shim saw still reaches the layers.

A backstopped call is a seccomp notification: it can be answered (ret,
fail, inject_fd) or let through, not changed (set_arg, set_nr, push raise
a CapabilityError naming the backstop), and the result of a call let
through cannot be seen: `call.on_exit(fn)` raises too; `call.on_answer(fn)`
(the tracer, recorder and summary use it) gets call.retval None for such a
call, the answer for one a layer answered. There are no events (fork,
exec) for what only the backstop sees (a static image).

Threads: the notifications are received by the unotify engine's receivers
(methods/unotify.py), run on the same layer objects as the shim's
crossings; the two share one lock, so a layer's undeclared (non-blocking)
handlers still never run concurrently.
"""
from __future__ import annotations

import os

from ..arch import to_signed
from ..call import FAIL, PASS, PENDING, RETURN
from ..errors import CapabilityError
from ..kernel import bpf
from ..kernel import unotify as ku
from ..kernel.filter import Predicate, compile_filter
from .ptrace import stack_interests
from .unotify import UnotifyCall, UnotifyEngine

_M64 = 0xFFFFFFFFFFFFFFFF

# Where every image of the traced tree maps its trampoline (two pages, the
# first being the range). Chosen in a part of the 47-bit address space that
# neither the kernel's allocator (PIE binaries and the heap near 0x55..,
# mmap top-down from just below the stack near 0x7f..), nor the sanitizers'
# shadow and metadata regions (ASan below 0x1000_8000_0000, TSan 0x3800..-
# 0x4000.. and 0x5500..-0x5a00.., MSan 0x5000..-0x6100..), nor Go's arena
# hints (0x..c0_0000_0000) use; one 4 GiB block, as the filter requires.
# Fixed rather than random, so that a program that maps something there
# fails the same way every time: the shim then kills it with a message
# naming the address (the supervisor cannot move the range after start).
TRAMP_ADDR = 0x4E5E_0000_0000
TRAMP_SKIP = 2        # native/shim.h SV_TRAMP_SKIP
TRAMP_RANGE = 4096    # native/shim.h SV_TRAMP_RANGE
TRAMP_PAGES = 2 * TRAMP_RANGE


def ip_range(tramp: int) -> tuple[int, int]:
    """The instruction pointers the filter lets through: the calls made
    from the trampoline's first page (SV_TRAMP_SKIP: shim_tramp_x86_64.c)."""
    return tramp + TRAMP_SKIP, tramp + TRAMP_RANGE


class BackstopCall(UnotifyCall):
    """A call the backstop caught (it did not come through the shim)."""

    __slots__ = ()

    def _no_change(self, what: str, does: str):
        return CapabilityError(
            f"call.{what}(): this {self.name} did not come through the in-process shim (the "
            f"loader's, a static program's, libc's own or an inline syscall) and was caught by "
            f"the backstop, which like the unotify method cannot {does}; methods that can on "
            f"every call: ptrace, seccomp")

    def on_exit(self, fn) -> None:
        raise self._no_change("on_exit", "see or change the result of a syscall it lets through "
                                         "(call.on_answer sees it as unknown)")

    def set_return(self, value: int) -> None:
        # in an on_answer hook: the answer is sent (or the kernel ran the call)
        raise self._no_change("set_return", "change the result of a syscall it lets through")


class _Receivers(UnotifyEngine):
    """The unotify engine's receivers and its Call building, for the
    backstop: the filter adds the trampoline's range, calls are
    BackstopCalls, and on_answer hooks run under the layer stack's lock
    and, when the result they get is known beforehand, before the answer."""

    call_class = BackstopCall

    def __init__(self, session, lock, tramp: int):
        super().__init__(session)
        self.stack_lock = lock  # the in-process engine's: one layer stack, one lock
        self.tramp = tramp

    def compile_filter(self) -> bytes:
        from ..tables import native_arch, table

        interests = stack_interests(self.layers, self.abis)
        native = table(native_arch())
        execve = native.by_name["execve"].nr
        for ai in interests:  # the spawn's own execve (kernel/unotify.py)
            if ai.audit_arch == native.audit_arch:
                ai.add(execve, (Predicate(3, ku.EXEC_COOKIE),))
        return compile_filter(interests, bpf.RET_USER_NOTIF, ip_allow=ip_range(self.tramp))

    def _answer(self, fd, call, notif):
        # The hooks of a call let through, returned or failed run before
        # the answer: once answered, the thread's next call could overtake
        # this one's hooks (a tracer's lines would interleave). The fd number
        # of an inject_fd is known only after, and so are the hooks then.
        if call._answer_hooks and notif.read_by is None:
            v = call.verdict
            known = {RETURN: lambda: to_signed(call.value & _M64, 64), FAIL: lambda: -call.value,
                     PASS: lambda: None, PENDING: lambda: None}.get(v)
            if known is not None:
                self._answered(call, known())
                call._answer_hooks = ()  # done: the engine's own pass finds none
        return super()._answer(fd, call, notif)

    def _answered(self, call, retval) -> None:
        with self.stack_lock:  # the same layers run in the in-process receiver
            super()._answered(call, retval)


class Backstop:
    """The seccomp side of an in-process session: spawns the program with
    the filter installed, and answers its notifications. `tramp` is where
    the shim maps its trampoline in every image (set it before spawning)."""

    def __init__(self, session, lock, tramp: int = TRAMP_ADDR):
        self.rx = _Receivers(session, lock, tramp)
        self.started = False

    @property
    def tramp(self) -> int:
        return self.rx.tramp

    @tramp.setter
    def tramp(self, addr: int) -> None:
        if addr % 4096 or not 0 < addr < 1 << 47:
            raise ValueError(f"trampoline address {addr:#x}: a page-aligned user address")
        ip_range(addr)  # and one 4 GiB block (checked by the compiler too)
        self.rx.tramp = addr

    def spawn(self, argv: list[str], env: dict, cwd: str | None) -> tuple[int, int]:
        """(pid, err_fd): the child installs the filter and execs; it waits
        in that execve until start() (UnotifyEngine.spawn's hand-over)."""
        pid = self.rx.spawn(argv, env, cwd)
        err_fd, self.rx.spawn_err_fd = self.rx.spawn_err_fd, None
        return pid, err_fd

    def start(self) -> None:
        rx = self.rx
        if rx.listener is None:
            return
        rx.wake_r, rx.wake_w = os.pipe2(os.O_CLOEXEC)
        with rx.pool_lock:
            for _ in range(2):  # more on demand, as in the unotify engine
                rx._start_receiver()
        self.started = True

    def join(self) -> None:
        """Until no task uses the filter any more (the whole tree is gone)."""
        if self.started:
            self.rx._join_receivers()

    def stop(self) -> None:
        """Release the receivers now (the program then fails closed)."""
        if self.started:
            self.rx._stop()
            self.rx._join_receivers()

    def close(self) -> None:
        rx = self.rx
        if rx.listener is not None:
            rx.listener.close()
        for fd in (rx.wake_r, rx.wake_w):
            if fd >= 0:
                os.close(fd)
        rx.wake_r = rx.wake_w = -1

    @property
    def stops(self) -> int:
        return self.rx.stops

    @property
    def stop_ns(self) -> list[int]:
        return self.rx.stop_ns
