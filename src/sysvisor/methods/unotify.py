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
behalf (openat2 + call.inject_fd, or call.ret). Every memory read is
followed by NOTIF_ID_VALID before the data is used, so a pid reused after
the caller died cannot feed another process's memory to a layer.

If the supervisor dies, the listener closes: pending and future notified
syscalls fail with ENOSYS (fail closed); the first process also gets
SIGKILL (PR_SET_PDEATHSIG).
"""
from __future__ import annotations

import errno
import os
import sys
import threading
import time

from .. import _native
from ..arch import AUDIT_ARCH_X86_64, X32_SYSCALL_BIT, to_signed
from ..call import FAIL, INJECT, RETURN, Call
from ..errors import AttachError, CapabilityError, MethodUnavailable, SpawnError, SysvisorError
from ..kernel import bpf
from ..kernel import unotify as ku
from ..kernel.filter import Predicate, compile_filter
from . import resolve_command
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
                 4: "exec", 5: "start"}
_CANNOT_CHANGE = ("ptrace", "seccomp")
_CONTINUE_REFUSED = ("decided on pointer arguments then continued: fails closed; "
                     "execute the call on the program's behalf instead")


class _Notif:
    """One notification being handled: the Call's memory accessor (every
    read re-checked with NOTIF_ID_VALID) and the method's per-call record."""

    __slots__ = ("engine", "fd", "id", "tid", "cur", "read_by", "inject", "inject_cloexec", "pidfd")

    def __init__(self, engine: "UnotifyEngine", fd: int, id: int, tid: int):
        self.engine = engine
        self.fd = fd
        self.id = id
        self.tid = tid
        self.cur = None  # the layer whose handler runs (tracked with enforcing layers)
        self.read_by = None  # an enforcing layer that read the program's memory
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

    __slots__ = ("_tgid",)

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

    def inject_fd(self, fd: int, cloexec: bool = False) -> None:
        n = self._mem
        dup = os.dup(fd)  # the caller may close its own
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
        exe, env = resolve_command(argv, env)
        filt = self.compile_filter()
        from . import explain

        try:
            pid, listener, err_fd = ku.spawn_with_listener(
                os.fsencode(exe), [os.fsencode(a) for a in argv],
                [os.fsencode(k) + b"=" + os.fsencode(v) for k, v in env.items()],
                None if cwd is None else os.fsencode(cwd), filt, wait_killable=self.wait_killable)
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
        self.root_pid = pid
        self.threads[pid] = pid
        self.spawn_err_fd = err_fd
        return pid

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
            try:
                _, status = os.waitpid(self.root_pid, 0)
            except ChildProcessError:
                status = None
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
            self._answer(fd, call, notif)
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

    def _answer(self, fd: int, call: UnotifyCall, notif: _Notif) -> None:
        v = call.verdict
        if v == RETURN:
            self._send(fd, notif.id, to_signed(call.value & _M64, 64), 0, 0)
        elif v == FAIL:
            self._send(fd, notif.id, 0, call.value, 0)
        elif v == INJECT:
            self._inject(fd, call, notif)
        elif notif.read_by is not None:
            layer = notif.read_by
            self.report_error(layer, call.name, SysvisorError(_CONTINUE_REFUSED), _CONTINUE_REFUSED)
            self._send(fd, notif.id, 0, errno.EPERM, 0)
        else:
            self._send(fd, notif.id, 0, 0, ku.FLAG_CONTINUE)

    def _inject(self, fd: int, call: UnotifyCall, notif: _Notif) -> None:
        flags = os.O_CLOEXEC if notif.inject_cloexec else 0
        if self.addfd_send:
            try:
                _native.notif_addfd(fd, notif.id, notif.inject, 0, flags, ku.ADDFD_FLAG_SEND)
                return
            except OSError as e:
                if e.errno == errno.ENOENT:
                    return
                if e.errno != errno.EINVAL:
                    self._send(fd, notif.id, 0, e.errno, 0)  # e.g. EMFILE in the program
                    return
                self.addfd_send = False  # 5.9 to 5.13: add, then answer
        try:
            newfd = _native.notif_addfd(fd, notif.id, notif.inject, 0, flags, 0)
        except OSError as e:
            if e.errno != errno.ENOENT:
                self._send(fd, notif.id, 0, e.errno, 0)
            return
        self._send(fd, notif.id, newfd, 0, 0)
