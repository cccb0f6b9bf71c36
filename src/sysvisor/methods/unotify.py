"""The unotify engine: seccomp user notification (seccomp_unotify(2)).

The spawned program installs a filter compiled from the stack's interests
whose match action is SECCOMP_RET_USER_NOTIF; the supervisor holds the
listener (see sysvisor.kernel.unotify for the hand-over). A notified
syscall waits in the kernel until the supervisor answers: run it
(CONTINUE), fail it, return a value, or return a copy of a supervisor fd
(NOTIF_ADDFD + SEND). Nothing else can be changed: there is no way to run
a call with other arguments, nor to see the result of a call that was let
through, and there are no fork, exec, signal or stop events.

Threads. Several receiver threads (4, more on demand, up to 64) loop:
wait for a notification (poll + NOTIF_RECV, one receiver at a time),
build a Call, run the layer chain, answer (NOTIF_SEND). A handler that
blocks holds one receiver only; when every receiver is busy another one is
started, so a blocked handler never stalls the other threads and processes
of the program. Handlers keep the Layer contract of the ptrace engine:
chains without a blocking handler (`@sysvisor.blocking`, `blocking = True`)
run one at a time under a lock, so a layer need not be thread-safe; a chain
with a blocking handler runs without the lock, concurrently with others
(as in the ptrace engine's workers), and must not block undeclared.

End of the session. The first process is our child: run() waits for it
(waitpid on that pid only, so other children of the caller are left
alone), which gives the exit status and on_exit for it. The session ends
when no task uses the filter any more: the listener then polls POLLHUP
(Linux 5.8+; the method needs NOTIF_ADDFD, 5.9, so it is always there).
Tasks drop the filter when they are reaped, so a daemon left running by
the program keeps the session going, as under the ptrace engine.

Security. CONTINUE is never a security decision: the kernel reads the
pointer arguments again after the supervisor looked at them. If a layer
with `enforcing = True` read the program's memory while handling a call and
the verdict is still "run it", the engine fails the call with EPERM and
reports it once: such a layer must execute the call on the program's
behalf (openat2 + call.inject_fd, or call.ret). The one exception is
exec, which no supervisor can perform for another process: a layer that
checked an execve/execveat and made it safe to run as is (see
layers/confine) says so with `call.continue_exec(why)`, which clears the
mark for its own reads only. Every memory read is followed by
NOTIF_ID_VALID before the data is used, so a pid reused after the caller
died cannot feed another process's memory to a layer.

If the supervisor dies, the listener closes: pending and future notified
syscalls fail with ENOSYS (fail closed); the first process also gets
SIGKILL (PR_SET_PDEATHSIG).
"""
from __future__ import annotations

import errno
import os
import select
import struct
import sys
import threading
import time

from .. import _native
from ..arch import AUDIT_ARCH_X86_64, X32_SYSCALL_BIT, to_signed
from ..call import ANSWERED, FAIL, INJECT, RETURN, Call
from ..errors import AttachError, CapabilityError, MethodUnavailable, SpawnError, SysvisorError
from ..kernel import bpf
from ..kernel import unotify as ku
from ..kernel.filter import Predicate, compile_filter
from .base import EngineBase
from ..kernel.procfs import tgid as _tgid
from .ptrace import build_abis, stack_interests

BASE_RECEIVERS = 4
MAX_RECEIVERS = 64

_recv = _native.notif_recv
_send = _native.notif_send
_id_valid = _native.notif_id_valid
_read_mem = _native.read_mem
_read_str = _native.read_str
_M64 = 0xFFFFFFFFFFFFFFFF

_SPAWN_STAGES = {1: "chdir", 2: "prctl(PR_SET_NO_NEW_PRIVS)", 3: "seccomp filter (user notification)",
                 4: "exec", 5: "start", 6: "landlock_restrict_self"}
_CANNOT_CHANGE = ("ptrace", "seccomp")
# restart_exec: end the call so that the kernel restarts it, and hold the
# thread in a ptrace stop meanwhile to change its registers
ERESTARTNOINTR = 513
PTRACE_SEIZE, PTRACE_INTERRUPT, PTRACE_DETACH = 0x4206, 0x4207, 17
PTRACE_EVENT_STOP = 128
WALL, WNOTHREAD = 0x40000000, 0x20000000
SCRATCH_GAP = 4096  # below the red zone, clear of a signal frame's first bytes
_CONTINUE_REFUSED = ("decided on pointer arguments then continued: fails closed; "
                     "execute the call on the program's behalf instead")


class _Notif:
    """One notification being handled: the Call's memory accessor (every
    read re-checked with NOTIF_ID_VALID) and the method's per-call record."""

    __slots__ = ("engine", "fd", "id", "tid", "cur", "read_by", "inject", "inject_cloexec", "pidfd",
                 "exec_why")

    def __init__(self, engine: "UnotifyEngine", fd: int, id: int, tid: int):
        self.engine = engine
        self.fd = fd
        self.id = id
        self.tid = tid
        self.cur = None  # the layer whose handler runs (tracked with enforcing layers)
        self.read_by = None  # an enforcing layer that read the program's memory
        self.exec_why = None  # why an enforcing layer let this exec continue (call.continue_exec)
        self.inject = -1  # the supervisor's copy of the fd to inject
        self.inject_cloexec = False
        self.pidfd = -1

    @property
    def session(self):
        return self.engine.session

    def valid(self) -> bool:
        try:
            return _id_valid(self.fd, self.id)
        except OSError:
            return False

    def _note_read(self) -> None:
        cur = self.cur
        if cur is not None and getattr(cur, "enforcing", False):
            self.read_by = cur

    def read(self, tid: int, addr: int, size: int):
        self._note_read()
        data = _read_mem(tid, addr, size)
        if data is None or not _id_valid(self.fd, self.id):
            return None
        return data

    def read_str(self, tid: int, addr: int, maxlen: int):
        if addr == 0:
            return None
        self._note_read()
        r = _read_str(tid, addr, maxlen)
        if r is None or not _id_valid(self.fd, self.id):
            return None
        return r

    def write(self, tid: int, addr: int, data: bytes) -> int:
        """Write the program's memory (to answer a call with data, e.g. a
        stat buffer, then call.ret). Checked with NOTIF_ID_VALID before."""
        if not self.valid():
            return 0
        return _native.write_mem(tid, addr, data)

    def tgid(self, tid: int) -> int:
        t = _tgid(tid)
        return t if self.valid() else tid

    def report_error(self, layer, where: str, exc: BaseException) -> None:
        self.engine.report_error(layer, where, exc)

    def close(self) -> None:
        if self.inject >= 0:
            os.close(self.inject)
            self.inject = -1
        if self.pidfd >= 0:
            os.close(self.pidfd)
            self.pidfd = -1


class UnotifyCall(Call):
    """A Call from a seccomp notification. `pid` is looked up on first use
    (/proc/TID/status); `sp` is 0 (seccomp_data has no stack pointer).
    Cannot change arguments or see results; can inject a file descriptor."""

    __slots__ = ("_tgid", "_answer_hooks")

    def __init__(self, *a):
        super().__init__(*a)
        self._answer_hooks = ()

    @property
    def pid(self) -> int:  # type: ignore[override]
        t = self._tgid
        if t is None:
            t = self._tgid = self._mem.tgid(self.tid)
        return t

    @pid.setter
    def pid(self, value) -> None:
        self._tgid = value

    def _no_change(self, what: str, does: str):
        return CapabilityError(
            f"call.{what}(): the unotify method cannot {does} (after CONTINUE the kernel runs "
            f"the call as the program made it); methods that can: {', '.join(_CANNOT_CHANGE)}; "
            "on unotify, execute the call on the program's behalf instead (call.ret, call.inject_fd)")

    def set_arg(self, index: int, value: int) -> None:
        raise self._no_change("set_arg", "run a syscall with changed arguments")

    def set_nr(self, nr: int) -> None:
        raise self._no_change("set_nr", "run a different syscall")

    def push(self, data: bytes) -> int:
        raise self._no_change("push", "pass new data to a syscall it lets through")

    def on_exit(self, fn) -> None:
        raise self._no_change("on_exit", "see or change the result of a syscall it lets through")

    def on_answer(self, fn) -> None:
        """fn(call) runs once the call is answered, with call.retval: the
        value returned, -errno, or the number of the fd handed over; None
        for a call let through (the kernel ran it: its result is never
        seen here). The result cannot be changed any more."""
        if not self._answer_hooks:
            self._answer_hooks = []
        self._answer_hooks.append(fn)

    def _continue_checked(self, why: str) -> None:
        n = self._mem
        n.read_by = None  # this layer's reads led to a checked decision
        n.exec_why = why

    def restart_exec(self, path: bytes, argv: list, before_resume=None) -> int:
        if self.name not in self.EXEC_CALLS:
            raise ValueError(f"call.restart_exec() is for execve/execveat only, not {self.name}")
        return _restart_exec(self, path, argv, before_resume)

    def inject_fd(self, fd: int, cloexec: bool = False, take: bool = False) -> None:
        n = self._mem
        dup = fd if take else os.dup(fd)  # the caller may close its own
        if n.inject >= 0:
            os.close(n.inject)
        n.inject = dup
        n.inject_cloexec = bool(cloexec)
        self.verdict = INJECT
        self.value = 0

    def pidfd_getfd(self, fd: int) -> int:
        n = self._mem
        if n.pidfd < 0:
            try:
                pidfd = ku.pidfd_open(self.tid, thread=True)
            except OSError as e:
                if e.errno != errno.EINVAL:
                    raise
                pidfd = ku.pidfd_open(self.pid)  # before 6.9: the thread-group leader
            if not n.valid():  # the pid may have been reused: the pidfd is not the caller's
                os.close(pidfd)
                raise ProcessLookupError(errno.ESRCH, "the calling thread is gone")
            n.pidfd = pidfd
        return ku.pidfd_getfd(n.pidfd, int(fd))


def _syscall_sp(tid: int) -> int:
    """The stack pointer of a thread blocked in a system call."""
    with open(f"/proc/{tid}/syscall") as f:
        fields = f.read().split()
    if len(fields) < 9:
        raise OSError(errno.ESRCH, "the thread is not in a system call")
    return int(fields[7], 16)


def _restart_exec(call: "UnotifyCall", path: bytes, argv: list, before_resume) -> int:
    """See Call.restart_exec. The scratch (strings, then the argv array) is
    written below the thread's stack pointer: its own stack, which nothing
    else uses (a vfork parent's frames are above it), so nothing the program
    holds is changed, whether or not the exec succeeds."""
    from ..arch import NT_PRSTATUS, layout_for

    n = call._mem
    tid = call.tid
    compat = call.audit != AUDIT_ARCH_X86_64
    psize = 4 if compat else 8
    strings = [path] + [a for a in argv if isinstance(a, bytes)]
    size = sum(len(x) + 1 for x in strings) + psize * (len(argv) + 2) + 32
    if compat and (_syscall_sp(tid) - SCRATCH_GAP) >> 32:
        # int 0x80 from a 64-bit program: its stack is not below 4 GiB
        raise OSError(errno.EFAULT, "the thread's stack is out of reach of 32-bit pointers")
    _native.ptrace(PTRACE_SEIZE, tid, 0, 0)
    try:
        _native.ptrace(PTRACE_INTERRUPT, tid, 0, 0)
        if not n.valid():
            raise OSError(errno.ESRCH, "the thread is gone")
        _send(n.fd, n.id, 0, ERESTARTNOINTR, 0)  # ended, to be restarted
        call.verdict = ANSWERED
        while True:
            _, status = os.waitpid(tid, WALL | WNOTHREAD)
            if not os.WIFSTOPPED(status):
                return 0  # it died meanwhile
            if status >> 16 == PTRACE_EVENT_STOP:
                break
            _native.ptrace(7, tid, 0, os.WSTOPSIG(status))  # PTRACE_CONT: a signal first
        raw = _native.getregset(tid, NT_PRSTATUS, 512)
        lay = layout_for(call.audit, len(raw))
        regs = list(struct.unpack(lay.fmt, raw))
        base = (regs[lay.sp] - 128 - SCRATCH_GAP - size) & ~15
        # lay out: path, new strings, then the pointer array
        blob = bytearray()
        addr_of = {}
        for x in strings:
            if id(x) not in addr_of:
                addr_of[id(x)] = base + len(blob)
                blob += x + b"\0"
        blob += b"\0" * (-len(blob) % 16)
        array_at = base + len(blob)
        ptrs = [addr_of[id(a)] if isinstance(a, bytes) else int(a) for a in argv] + [0]
        blob += struct.pack(f"<{len(ptrs)}{'I' if compat else 'Q'}", *ptrs)
        try:
            if _native.write_mem(tid, base, bytes(blob)) != len(blob):
                raise OSError(errno.EFAULT, "cannot write below the stack pointer")
            a = lay.args
            if call.name == "execve":
                regs[a[0]], regs[a[1]] = base, array_at
            else:  # execveat(AT_FDCWD, path, argv, envp, 0)
                regs[a[0]], regs[a[1]], regs[a[2]], regs[a[4]] = \
                    (-100) & ((1 << (8 * psize)) - 1), base, array_at, 0
        except OSError:
            regs[lay.args[0 if call.name == "execve" else 1]] = 0  # restarts and fails: EFAULT
            base = 0
        _native.setregset(tid, NT_PRSTATUS, struct.pack(lay.fmt, *regs))
        if before_resume is not None and base:
            before_resume(base)  # the restarted call may be notified at once
        return base
    finally:
        try:
            _native.ptrace(PTRACE_DETACH, tid, 0, 0)
        except OSError:
            pass


def _tracked(layer, fn):
    """Wrap a handler so that memory reads are attributed to its layer."""

    def handler(call):
        n = call._mem
        prev = n.cur
        n.cur = layer
        try:
            return fn(call)
        finally:
            n.cur = prev

    return handler


class UnotifyEngine(EngineBase):
    """Runs a spawned program under seccomp user notification for a Session."""

    # Ask for SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV (falls back without it
    # on kernels before 5.19). Without it, a signal that arrives while a
    # handler runs interrupts the call: the kernel restarts it (SA_RESTART)
    # or fails it with EINTR, and the late answer gets ENOENT (ignored).
    wait_killable = True
    # The Call class of a notification (methods/backstop.py has its own).
    call_class = UnotifyCall

    def __init__(self, session):
        super().__init__(session)
        self.measure = getattr(session, "measure", False)
        self.stop_ns: list[int] = []
        self.stops = 0
        self.threads: dict[int, int] = {}  # the spawned process, until it is reaped
        self.root_pid: int | None = None
        self.root_status: int | None = None
        self.fast_layers: list = []  # layers with a C fast path installed
        self.listener: ku.Listener | None = None
        self.stack_lock = threading.Lock()  # chains without a blocking handler run one at a time
        self.recv_lock = threading.Lock()  # one receiver polls at a time
        self.pool_lock = threading.Lock()
        self.receivers: list[threading.Thread] = []
        self.idle = 0
        self.done = False
        self.wake_r = self.wake_w = -1
        self.addfd_send = True  # SECCOMP_ADDFD_FLAG_SEND works (5.14+)
        self.abis, _ = build_abis(self.layers)
        self.default_blocking: dict[int, bool] = {}
        self.enforcing = tracked = any(getattr(l, "enforcing", False) for l in self.layers)
        for audit, abi in self.abis.items():
            self.default_blocking[audit] = any(
                getattr(l, "blocking", False) or getattr(fn, "_sysvisor_blocking", False)
                for l, fn, _ in abi.default_chain)
            if tracked:
                abi.chains = {nr: tuple((l, _tracked(l, fn), alts) for l, fn, alts in chain)
                              for nr, chain in abi.chains.items()}
                abi.default_chain = tuple((l, _tracked(l, fn), alts) for l, fn, alts in abi.default_chain)
        self.exit_hooks = [getattr(l, "on_exit") for l in self.layers
                           if callable(getattr(l, "on_exit", None))]

    # ---- set-up -------------------------------------------------------------

    def compile_filter(self) -> bytes:
        """The stack's interests with RET_USER_NOTIF, every ABI checked, plus
        the spawn's own execve (args[3] == EXEC_COOKIE), always notified."""
        from ..tables import native_arch, table

        interests = stack_interests(self.layers, self.abis)
        native = table(native_arch())
        execve = native.by_name["execve"].nr
        for ai in interests:
            if ai.audit_arch == native.audit_arch:
                ai.add(execve, (Predicate(3, ku.EXEC_COOKIE),))
        return compile_filter(interests, bpf.RET_USER_NOTIF)

    # ---- starting -------------------------------------------------------------

    def spawn(self, argv: list[str], env: dict | None, cwd: str | None) -> int:
        if self.root_pid is not None:
            raise SysvisorError("a unotify session runs one program")
        exe, env, plan = self.spawn_plan(argv, env, cwd)
        filt = self.compile_filter()
        from . import explain

        try:
            pid, listener, err_fd = ku.spawn_with_listener(
                os.fsencode(exe), [os.fsencode(a) for a in argv],
                [os.fsencode(k) + b"=" + os.fsencode(v) for k, v in env.items()],
                None if plan.cwd is None else os.fsencode(plan.cwd), filt,
                wait_killable=self.wait_killable, landlock_fds=plan.landlock_fds)
        except ku.SpawnFailed as e:
            msg = f"{_SPAWN_STAGES.get(e.stage, 'start')}: {os.strerror(e.err)}"
            if e.stage == 3 and e.err == errno.EBUSY:
                raise MethodUnavailable(
                    f"{msg}: this process already runs under a seccomp listener (a supervisor "
                    "such as sysvisor's unotify method); listeners cannot be nested: use "
                    "--method seccomp or ptrace") from None
            if e.stage in (2, 3):
                raise MethodUnavailable(f"{msg} ({explain('seccomp_user_notif')})") from None
            raise SpawnError(msg) from None
        except OSError as e:
            raise MethodUnavailable(f"cannot take the seccomp listener from the child: "
                                    f"pidfd: {e.strerror} ({explain('pidfd_getfd')})") from None
        listener.set_sync_wake_up()
        self.listener = listener
        self._install_fast_paths()
        self.root_pid = pid
        self.threads[pid] = pid
        self.spawn_err_fd = err_fd
        self.session.spawn_actions = plan.actions
        return pid

    def _install_fast_paths(self) -> None:
        """Layers that answer some calls in C (Layer.unotify_fast_path, e.g.
        Confine's), for the syscalls whose chain is that layer alone."""
        from ..tables import native_arch, table

        tab = table(native_arch())
        abi = self.abis.get(tab.audit_arch)
        for layer in self.layers:
            hook = getattr(layer, "unotify_fast_path", None)
            spec = hook(tab) if hook is not None else None
            if spec is None or abi is None:
                continue
            (root_fd, mounts, stand, firsts), kinds = spec
            nrs = {}
            for name, kind in kinds.items():
                sc = tab.by_name.get(name)
                chain = abi.chains.get(sc.nr) if sc is not None else None
                if chain and len(chain) == 1 and chain[0][0] is layer and chain[0][2] is None:
                    nrs[sc.nr] = kind
            if nrs:
                _native.fast_setup(self.listener.fd, root_fd, mounts, stand, firsts, nrs)
                layer.fast_listener = self.listener.fd
                self.fast_layers.append(layer)

    def attach(self, pid: int) -> None:
        raise AttachError("the unotify method cannot attach: a seccomp filter can only be "
                          "installed by the process itself; use --method ptrace")

    def detach_all(self) -> None:
        raise SysvisorError("the unotify method cannot detach: without its supervisor the "
                            "program's intercepted calls fail with ENOSYS")

    # ---- errors from layers --------------------------------------------------

    # ---- running ----------------------------------------------------------------

    def run(self) -> int:
        if self.root_pid is None:
            self._hook("on_start", self.session)
            self._hook("on_end", self.session)
            return 0
        self.wake_r, self.wake_w = os.pipe2(os.O_CLOEXEC)
        self._hook("on_start", self.session)
        with self.pool_lock:
            for _ in range(BASE_RECEIVERS):
                self._start_receiver()
        ok = False
        try:
            status = self._wait_root()
            self.root_status = status
            self.threads.pop(self.root_pid, None)
            if status is not None:
                for fn in self.exit_hooks:
                    try:
                        fn(self.root_pid, status)
                    except Exception as exc:
                        self.report_error(fn.__self__, "on_exit", exc)
            self._join_receivers()
            ok = True
        finally:
            if not ok:  # interrupted: release the receivers; the program fails closed
                self._stop()
                self._kill_root()
                self._join_receivers()
            self._finish()
        from ..kernel.ptrace import exit_status

        return 0 if self.root_status is None else exit_status(self.root_status)

    def _wait_root(self) -> int | None:
        """The spawned process's wait status, once it exited. Not a wait on
        its pid meanwhile: while a receiver traces it (restart_exec), the
        kernel reports its ptrace stops to any wait of a thread of our
        process that has it as a child ("traced by its real parent's
        group"), whatever the flags (__WNOTHREAD or not, WUNTRACED or not),
        and a stop taken here would leave that receiver waiting forever. A
        pidfd polls readable once the process exited; it is a zombie then,
        with no stop to take."""
        try:
            pidfd = os.pidfd_open(self.root_pid)
        except ProcessLookupError:
            pidfd = -1  # gone already: reaped below, or by someone else
        try:
            if pidfd >= 0:
                p = select.poll()
                p.register(pidfd, select.POLLIN)
                while not p.poll():
                    pass
            _, status = os.waitpid(self.root_pid, 0)
            return status
        except ChildProcessError:
            return None
        finally:
            if pidfd >= 0:
                os.close(pidfd)

    def _kill_root(self) -> None:
        if self.root_pid in self.threads:
            try:
                os.kill(self.root_pid, 9)
                os.waitpid(self.root_pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
            self.threads.pop(self.root_pid, None)

    def _stop(self) -> None:
        self.done = True
        if self.wake_w >= 0:
            try:
                os.write(self.wake_w, b"x")
            except OSError:
                pass

    def _join_receivers(self) -> None:
        while True:
            with self.pool_lock:
                alive = [t for t in self.receivers if t.is_alive()]
            if not alive:
                return
            for t in alive:
                t.join()

    def _finish(self) -> None:
        if self.listener is not None:
            if self.fast_layers:  # the receivers are gone: free the C side
                self.stops += _native.fast_enable(self.listener.fd, -1)
                _native.fast_setup(self.listener.fd, None)
                for layer in self.fast_layers:
                    layer.fast_listener = -1
            self.listener.close()
        for fd in (self.wake_r, self.wake_w):
            if fd >= 0:
                os.close(fd)
        self.wake_r = self.wake_w = -1
        failed = self.spawn_failure()
        if failed is not None:
            stage, err = failed
            raise SpawnError(f"{_SPAWN_STAGES.get(stage, 'start')}: {os.strerror(err)}")
        self._hook("on_end", self.session)

    # ---- receivers ------------------------------------------------------------------

    def _start_receiver(self) -> None:
        """With pool_lock held."""
        t = threading.Thread(target=self._receive_loop, daemon=True,
                             name=f"sysvisor-unotify-{len(self.receivers)}")
        self.receivers.append(t)
        self.idle += 1
        t.start()

    def _receive_loop(self) -> None:
        fd = self.listener.fd
        wake = self.wake_r
        me = threading.current_thread()
        while True:
            with self.recv_lock:
                if self.done:
                    return
                try:
                    n = _recv(fd, wake)
                except OSError as exc:
                    self.done = True
                    sys.stderr.write(f"sysvisor: unotify: receiving failed: {exc}\n")
                    return
                if type(n) is int:  # HUNG_UP: no task uses the filter; WOKEN: stop
                    self.done = True
                    return
            with self.pool_lock:
                self.stops += 1
                self.idle -= 1
                if self.idle == 0 and len(self.receivers) < MAX_RECEIVERS:
                    self._start_receiver()  # every receiver is busy: never stall the others
            try:
                self._handle(fd, n)
            except BaseException as exc:  # noqa: BLE001 - never leave a call unanswered
                try:
                    _send(fd, n[0], 0, errno.EPERM, 0)
                except OSError:
                    pass
                sys.stderr.write(f"sysvisor: unotify: internal error: {exc!r}\n")
            with self.pool_lock:
                self.idle += 1
                if self.idle > BASE_RECEIVERS:
                    self.idle -= 1
                    self.receivers.remove(me)
                    return

    def _handle(self, fd: int, n: tuple) -> None:
        if self.measure:
            t0 = time.perf_counter_ns()
        id, tid, audit, nr, ip, args = n
        abi = self.abis.get(audit)
        if abi is None:  # the filter kills unknown ABIs: cannot happen; fail closed
            self._send(fd, id, 0, errno.ENOSYS, 0)
            return
        if audit == AUDIT_ARCH_X86_64 and nr & X32_SYSCALL_BIT:
            chain, sc, blocking = abi.default_chain, None, self.default_blocking[audit]
        else:
            sc = abi.get(nr)
            chain = abi.chains.get(nr)
            if chain is None:
                chain, blocking = abi.default_chain, self.default_blocking[audit]
            else:
                blocking = nr in abi.blocking
        if not chain:
            if sc is None and self.enforcing:
                # an x32 call (or a number no table knows) that no catch-all
                # handles: an enforcing stack never waves it through
                self._send(fd, id, 0, errno.ENOSYS, 0)
            else:  # e.g. the spawn's own execve, with no layer on execve
                self._send(fd, id, 0, 0, ku.FLAG_CONTINUE)
            return
        notif = _Notif(self, fd, id, tid)
        call = self.call_class(notif, None, tid, abi.table.arch, nr, sc, args, ip, 0, notif, chain)
        call.audit = audit
        try:
            if blocking:
                call.next()
            else:
                with self.stack_lock:
                    call.next()
            retval = self._answer(fd, call, notif)
            if call._answer_hooks:
                self._answered(call, retval)
        finally:
            notif.close()
        if self.measure:
            self.stop_ns.append(time.perf_counter_ns() - t0)

    def _send(self, fd: int, id: int, val: int, err: int, flags: int) -> None:
        try:
            _send(fd, id, val, err, flags)
        except OSError as e:
            if e.errno != errno.ENOENT:  # ENOENT: interrupted by a signal, or the task died
                sys.stderr.write(f"sysvisor: unotify: NOTIF_SEND failed: {e}\n")

    def _answer(self, fd: int, call: UnotifyCall, notif: _Notif) -> int | None:
        """Send the verdict; the call's result as the program sees it (None:
        let through, or answered elsewhere)."""
        v = call.verdict
        if v == RETURN:
            r = to_signed(call.value & _M64, 64)
            self._send(fd, notif.id, r, 0, 0)
            return r
        if v == FAIL:
            self._send(fd, notif.id, 0, call.value, 0)
            return -call.value
        if v == INJECT:
            return self._inject(fd, call, notif)
        if v == ANSWERED:
            return None
        if notif.read_by is not None:
            layer = notif.read_by
            self.report_error(layer, call.name, SysvisorError(_CONTINUE_REFUSED), _CONTINUE_REFUSED)
            self._send(fd, notif.id, 0, errno.EPERM, 0)
            return -errno.EPERM
        self._send(fd, notif.id, 0, 0, ku.FLAG_CONTINUE)
        return None

    def _inject(self, fd: int, call: UnotifyCall, notif: _Notif) -> int | None:
        flags = os.O_CLOEXEC if notif.inject_cloexec else 0
        if self.addfd_send:
            try:
                return _native.notif_addfd(fd, notif.id, notif.inject, 0, flags, ku.ADDFD_FLAG_SEND)
            except OSError as e:
                if e.errno == errno.ENOENT:
                    return None
                if e.errno != errno.EINVAL:
                    self._send(fd, notif.id, 0, e.errno, 0)  # e.g. EMFILE in the program
                    return -e.errno
                self.addfd_send = False  # 5.9 to 5.13: add, then answer
        try:
            newfd = _native.notif_addfd(fd, notif.id, notif.inject, 0, flags, 0)
        except OSError as e:
            if e.errno != errno.ENOENT:
                self._send(fd, notif.id, 0, e.errno, 0)
                return -e.errno
            return None
        self._send(fd, notif.id, newfd, 0, 0)
        return newfd

    def _answered(self, call: UnotifyCall, retval: int | None) -> None:
        """call.on_answer hooks, after the answer (see UnotifyCall)."""
        call.retval = retval
        call.at_exit = True
        for fn in call._answer_hooks:
            try:
                fn(call)
            except Exception as exc:  # noqa: BLE001 - the call is answered already
                self.report_error(getattr(fn, "__self__", fn), call.name + " (on_answer)", exc)
