"""The ptrace engine, behind the `ptrace` and `seccomp` methods.

One tracer thread owns every tracee (ptrace requests must come from the
thread that attached). It waits for stops with waitpid(__WALL), turns
syscall stops into `Call`s, runs the layer chain inline, applies the
verdict and resumes. Handlers marked blocking run on a thread per traced
thread; their verdict comes back through a queue, and a "doorbell" child,
traced like the others, turns the worker's kill(2) into a ptrace stop that
wakes the tracer from waitpid without a race.

`ptrace` resumes with PTRACE_SYSCALL (entry and exit stops for every
syscall). `seccomp` installs a filter compiled from the stack's interests
in the child before execve and resumes with PTRACE_CONT: a syscall stops
only when the filter says SECCOMP_RET_TRACE, and an exit stop is asked
for (PTRACE_SYSCALL) only when a handler registered an exit callback.
"""
from __future__ import annotations

import errno
import os
import queue
import signal
import struct
import threading
import time

from .. import _native
from .base import EngineBase
from ..kernel.procfs import tgid as _tgid
from ..arch import (AUDIT_ARCH_AARCH64, AUDIT_ARCH_X86_64, NT_ARM_SYSTEM_CALL, NT_PRSTATUS,
                    X32_SYSCALL_BIT, layout_for, to_signed)
from ..call import FAIL, RETURN, Call
from ..errors import AttachError, MethodUnavailable, SpawnError
from ..kernel import bpf
from ..kernel.filter import ArchInterests, compile_filter
from ..kernel.ptrace import (OP_ENTRY, OP_EXIT, OP_SECCOMP, PTRACE_CONT, PTRACE_DETACH,
                             PTRACE_EVENT_CLONE, PTRACE_EVENT_EXEC, PTRACE_EVENT_FORK,
                             PTRACE_EVENT_SECCOMP, PTRACE_EVENT_STOP, PTRACE_EVENT_VFORK,
                             PTRACE_INTERRUPT, PTRACE_LISTEN, PTRACE_O_EXITKILL,
                             PTRACE_O_TRACECLONE, PTRACE_O_TRACEEXEC, PTRACE_O_TRACEFORK,
                             PTRACE_O_TRACESECCOMP, PTRACE_O_TRACESYSGOOD,
                             PTRACE_O_TRACEVFORK, PTRACE_SEIZE, PTRACE_SYSCALL,
                             STOP_SIGNALS, SYSCALL_TRAP, WALL)
from ..tables import table as syscall_table

_ptrace = _native.ptrace
_get_info = _native.get_syscall_info
_SIGTRAP = signal.SIGTRAP
_EXEC_NAMES = frozenset({"execve", "execveat"})
_FORK_EVENTS = {PTRACE_EVENT_FORK: "fork", PTRACE_EVENT_VFORK: "vfork", PTRACE_EVENT_CLONE: "clone"}
SECCOMP_TRAP = PTRACE_EVENT_SECCOMP << 8 | signal.SIGTRAP  # status >> 8 at a seccomp stop
_SPAWN_STAGES = {1: "chdir", 2: "prctl(PR_SET_NO_NEW_PRIVS)", 3: "seccomp filter", 4: "exec",
                 6: "landlock_restrict_self"}


class Thread:
    """Per traced thread state."""

    __slots__ = ("tid", "pid", "pending", "starting", "busy", "worker", "listening", "stime")

    def __init__(self, tid: int, pid: int, starting: bool = False):
        self.tid = tid
        self.pid = pid
        self.pending: Call | None = None  # a call waiting for its exit stop
        self.starting = starting  # spawned, not yet through its first execve
        self.busy = False  # a worker thread holds its current call
        self.worker: _Worker | None = None
        self.listening = False  # in group-stop (PTRACE_LISTEN)
        self.stime = 0.0  # the process's system time at its last stop (with rusage)


class _ABI:
    """One syscall ABI seen by the tracees: its table and handler chains."""

    __slots__ = ("audit_arch", "table", "chains", "default_chain", "blocking", "get")

    def __init__(self, audit_arch, table, chains, default_chain, blocking):
        self.audit_arch = audit_arch
        self.table = table
        self.chains = chains  # nr -> tuple of (layer, fn, alternatives)
        self.default_chain = default_chain  # for numbers with no named handler
        self.blocking = blocking  # set of nrs whose chain has a blocking handler
        self.get = table.by_nr.get


class _Worker(threading.Thread):
    """Runs the blocking calls of one traced thread, in order."""

    def __init__(self, engine: "PtraceEngine", tid: int):
        super().__init__(name=f"sysvisor-worker-{tid}", daemon=True)
        self.engine = engine
        self.jobs: queue.SimpleQueue = queue.SimpleQueue()

    def run(self) -> None:
        while True:
            job = self.jobs.get()
            if job is None:
                return
            kind, t, call = job
            if kind == "entry":
                call.next()
            else:
                self.engine.run_exit_hooks(call)
            self.engine.completed.append((kind, t, call))
            self.engine.ring_doorbell()


def build_abis(layers) -> tuple[dict[int, _ABI], bool]:
    """Per-ABI handler chains for a layer stack (native ABI, plus the compat
    one): ({audit_arch: _ABI}, whether some handler is blocking)."""
    from ..tables import compat_arch, native_arch

    arches = [native_arch()]
    if compat_arch(arches[0]):
        arches.append(compat_arch(arches[0]))
    any_blocking = False
    abis: dict[int, _ABI] = {}
    for arch in arches:
        tab = syscall_table(arch)
        chains: dict[int, list] = {}
        default_chain = []
        blocking: set[int] = set()
        for layer in layers:
            named = layer.handlers(tab)
            catch = layer.catch_all()
            wants = layer.interests(tab)  # None: every number
            layer_blocks = getattr(layer, "blocking", False)
            for sc in tab:
                if wants is not None and sc.nr not in wants:
                    continue
                fn = named.get(sc.nr, catch)
                if fn is None:
                    continue
                alts = wants[sc.nr] if wants is not None else getattr(fn, "_sysvisor_when", None)
                chains.setdefault(sc.nr, []).append((layer, fn, alts))
                if layer_blocks or getattr(fn, "_sysvisor_blocking", False):
                    blocking.add(sc.nr)
                    any_blocking = True
            if catch is not None and wants is None:
                default_chain.append((layer, catch, getattr(catch, "_sysvisor_when", None)))
                if layer_blocks or getattr(catch, "_sysvisor_blocking", False):
                    any_blocking = True
        abis[tab.audit_arch] = _ABI(tab.audit_arch, tab,
                                    {nr: tuple(c) for nr, c in chains.items()},
                                    tuple(default_chain), blocking)
    return abis, any_blocking


def stack_interests(layers, abis: dict[int, _ABI]) -> list[ArchInterests]:
    """The stack's interests per ABI, for the filter compiler."""
    out = []
    for abi in abis.values():
        ai = ArchInterests(abi.audit_arch)
        everything = False
        for layer in layers:
            wants = layer.interests(abi.table)
            if wants is None:
                everything = True
                break
            for nr, alts in wants.items():
                if alts is None:
                    ai.add(nr)
                else:
                    for alt in alts:
                        ai.add(nr, tuple(alt))
        ai.everything = everything
        out.append(ai)
    return out


class PtraceEngine(EngineBase):
    """Runs the traced tree for a Session. `use_seccomp` selects the
    seccomp method (filter + PTRACE_CONT) instead of plain ptrace."""

    def __init__(self, session, use_seccomp: bool):
        super().__init__(session)
        self.use_seccomp = use_seccomp
        self.threads: dict[int, Thread] = {}
        self.root_pid: int | None = None
        self.root_status: int | None = None
        self.detaching = False
        self.completed: list = []  # (kind, thread, call) from workers
        self.doorbell: int | None = None
        self.measure = getattr(session, "measure", False)
        self.stop_ns: list[int] = []
        self.stops = 0
        self.abis: dict[int, _ABI] = {}
        self.enforcing = any(getattr(l, "enforcing", False) for l in self.layers)
        self._build_abis()
        self.has_hooks = {h: [getattr(l, h) for l in self.layers if callable(getattr(l, h, None))]
                          for h in ("on_fork", "on_exec", "on_signal", "on_exit", "on_stop")}
        needs_exec_event = bool(self.has_hooks["on_exec"]) or self.doorbell_needed or not use_seccomp
        for abi in self.abis.values():
            if any(abi.table.by_name.get(n) and abi.table.by_name[n].nr in abi.chains for n in _EXEC_NAMES):
                needs_exec_event = True
        self.options = (PTRACE_O_TRACESYSGOOD | PTRACE_O_TRACEFORK | PTRACE_O_TRACEVFORK
                        | PTRACE_O_TRACECLONE | PTRACE_O_EXITKILL)
        # With PTRACE_SEIZE there is no legacy post-exec SIGTRAP, so the exec
        # event (one stop per exec) is only requested when someone needs it.
        if needs_exec_event:
            self.options |= PTRACE_O_TRACEEXEC
        if use_seccomp:
            self.options |= PTRACE_O_TRACESECCOMP
        self.set_info_ok = True  # PTRACE_SET_SYSCALL_INFO works (6.16+); else regsets

    # ---- set-up -------------------------------------------------------------

    def _build_abis(self) -> None:
        self.abis, self.doorbell_needed = build_abis(self.layers)

    def compile_filter(self) -> bytes:
        """The seccomp program for the stack's interests, every ABI checked."""
        return compile_filter(stack_interests(self.layers, self.abis), bpf.RET_TRACE)

    # ---- starting -------------------------------------------------------------

    def spawn(self, argv: list[str], env: dict | None, cwd: str | None) -> int:
        exe, env, plan = self.spawn_plan(argv, env, cwd)
        filt = self.compile_filter() if self.use_seccomp else None
        self._start_doorbell()
        pid, go_fd, err_fd = _native.spawn(
            os.fsencode(exe), [os.fsencode(a) for a in argv],
            [os.fsencode(k) + b"=" + os.fsencode(v) for k, v in env.items()],
            None if plan.cwd is None else os.fsencode(plan.cwd), filt, 0, 0, 0, plan.landlock_fds)
        try:
            _ptrace(PTRACE_SEIZE, pid, 0, self.options)
            if not self.use_seccomp:
                _ptrace(PTRACE_INTERRUPT, pid)  # a first stop, to start PTRACE_SYSCALL
        except OSError as e:
            os.close(go_fd)
            os.close(err_fd)
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            from . import explain

            raise MethodUnavailable(f"cannot trace the child: ptrace: {e.strerror} "
                                    f"({explain('ptrace_seize')})") from None
        # only plain ptrace sees the child's own set-up calls before execve
        self.threads[pid] = Thread(pid, pid, starting=not self.use_seccomp)
        self.root_pid = pid
        self.spawn_err_fd = err_fd
        self.session.spawn_actions = plan.actions
        os.write(go_fd, b"g")
        os.close(go_fd)
        return pid

    def attach(self, pid: int) -> None:
        """Seize every thread of a running process."""
        if self.use_seccomp:
            raise AttachError("the seccomp method cannot attach: a filter can only be installed by the process itself")
        if not os.path.exists(f"/proc/{pid}"):
            raise AttachError(f"attach: pid {pid}: No such process")
        self._start_doorbell()
        seen: set[int] = set()
        while True:
            try:
                tids = {int(t) for t in os.listdir(f"/proc/{pid}/task")}
            except FileNotFoundError:
                raise AttachError(f"attach: pid {pid}: No such process") from None
            new = tids - seen
            if not new:
                break
            for tid in sorted(new):
                seen.add(tid)
                try:
                    _ptrace(PTRACE_SEIZE, tid, 0, self.options)
                    _ptrace(PTRACE_INTERRUPT, tid)
                except ProcessLookupError:
                    continue
                except PermissionError:
                    raise AttachError(
                        f"attach: ptrace(PTRACE_SEIZE, {tid}): Operation not permitted "
                        "(tracing another user's process needs CAP_SYS_PTRACE; with Yama "
                        "ptrace_scope >= 1 only descendants can be traced; a process can "
                        "have only one tracer)") from None
                self.threads[tid] = Thread(tid, pid)
        if self.root_pid is None:
            self.root_pid = pid

    def _start_doorbell(self) -> None:
        if not self.doorbell_needed or self.doorbell is not None:
            return
        self.doorbell = _native.doorbell()
        _ptrace(PTRACE_SEIZE, self.doorbell, 0, PTRACE_O_EXITKILL)

    def ring_doorbell(self) -> None:
        try:
            os.kill(self.doorbell, signal.SIGUSR1)
        except (ProcessLookupError, TypeError):
            pass

    # ---- errors from layers --------------------------------------------------

    # memory helpers used by Call (kept here so other methods can differ)
    @staticmethod
    def read(tid, addr, size):
        return _native.read_mem(tid, addr, size)

    @staticmethod
    def read_str(tid, addr, maxlen):
        if addr == 0:
            return None
        return _native.read_str(tid, addr, maxlen)

    @staticmethod
    def write(tid, addr, data):
        return _native.write_mem(tid, addr, data)

    # ---- the event loop ------------------------------------------------------

    def run(self) -> int:
        wait = _native.wait
        rusage = any(getattr(l, "wants_rusage", False) for l in self.layers)
        measure = self.measure
        perf = time.perf_counter_ns
        self._hook("on_start", self.session)
        try:
            while self.threads:
                try:
                    if rusage:
                        tid, status, stime = wait(0, True)
                        t = self.threads.get(tid)
                        if t is not None:
                            t.stime = stime
                    else:
                        tid, status = wait()
                except ChildProcessError:
                    break
                if measure:
                    t0 = perf()
                self._event(tid, status)
                if measure:
                    self.stop_ns.append(perf() - t0)
        finally:
            self._finish()
        return self._status()

    def _status(self) -> int:
        from ..kernel.ptrace import exit_status

        if self.root_status is None:
            return 0
        return exit_status(self.root_status)

    def _finish(self) -> None:
        for t in list(self.threads.values()):
            if t.worker is not None:
                t.worker.jobs.put(None)
        if self.doorbell is not None:
            try:
                os.kill(self.doorbell, signal.SIGKILL)
                os.waitpid(self.doorbell, WALL)
            except (ProcessLookupError, ChildProcessError):
                pass
            self.doorbell = None
        failed = self.spawn_failure()
        if failed is not None:
            stage, err = failed
            msg = f"{_SPAWN_STAGES.get(stage, 'start')}: {os.strerror(err)}"
            if stage in (2, 3):
                from . import explain

                raise MethodUnavailable(f"{msg} ({explain('seccomp_filter')})")
            raise SpawnError(msg)
        self._hook("on_end", self.session)

    def _call_hooks(self, name: str, *args) -> None:
        for fn in self.has_hooks[name]:
            try:
                fn(*args)
            except Exception as exc:
                self.report_error(fn.__self__, name, exc)

    def _event(self, tid: int, status: int) -> None:
        self.stops += 1
        t = self.threads.get(tid)
        stopped = status & 0xFF == 0x7F  # WIFSTOPPED, inlined: this is the hot path
        if stopped and t is not None:
            # syscall stops first: they are nearly all the events
            if status >> 8 == SECCOMP_TRAP or (status >> 8) & 0xFF == SYSCALL_TRAP:
                self._syscall_stop(t)
                return
        if tid == self.doorbell:
            self._doorbell_rang(status)
            return
        if t is None:
            if not stopped:
                return
            # A new child can report before its parent's fork event.
            t = self.threads[tid] = Thread(tid, _tgid(tid))
        if not stopped:
            self._gone(t, status)
            return
        sig = (status >> 8) & 0xFF
        event = status >> 16
        if sig == SYSCALL_TRAP or event == PTRACE_EVENT_SECCOMP:
            self._syscall_stop(t)
        elif event == 0:
            self._signal_stop(t, sig)
        elif event in _FORK_EVENTS:
            self._fork_event(t, event)
        elif event == PTRACE_EVENT_EXEC:
            self._exec_event(t)
        elif event == PTRACE_EVENT_STOP:
            if sig in STOP_SIGNALS and not self.detaching:
                t.listening = True
                self._call_hooks("on_stop", t.tid, sig)
                self._ptrace_quiet(PTRACE_LISTEN, t.tid)
            else:
                t.listening = False
                self._resume(t)
        else:
            self._resume(t)

    def _ptrace_quiet(self, req: int, tid: int, data: int = 0) -> None:
        try:
            _ptrace(req, tid, 0, data)
        except ProcessLookupError:
            pass  # killed meanwhile: its death is reported by waitpid

    def _resume(self, t: Thread, sig: int = 0) -> None:
        if self.detaching:
            self._ptrace_quiet(PTRACE_DETACH, t.tid, sig)
            self.threads.pop(t.tid, None)
            return
        req = PTRACE_SYSCALL if (t.pending is not None or not self.use_seccomp) else PTRACE_CONT
        try:
            _ptrace(req, t.tid, 0, sig)
        except ProcessLookupError:
            pass

    def _gone(self, t: Thread, status: int) -> None:
        self.threads.pop(t.tid, None)
        if t.worker is not None:
            t.worker.jobs.put(None)
        if t.tid == self.root_pid:
            self.root_status = status
        self._call_hooks("on_exit", t.tid, status)

    def _signal_stop(self, t: Thread, sig: int) -> None:
        if self.has_hooks["on_signal"]:
            try:
                info = _native.getsiginfo(t.tid)
            except OSError:
                info = None
            self._call_hooks("on_signal", t.tid, sig, info)
        self._resume(t, sig)

    def _fork_event(self, t: Thread, event: int) -> None:
        try:
            child = _native.geteventmsg(t.tid)
        except ProcessLookupError:
            return
        if child not in self.threads:
            pid = t.pid if event == PTRACE_EVENT_CLONE and _tgid(child) == t.pid else child
            self.threads[child] = Thread(child, pid)
        self._call_hooks("on_fork", t.tid, child, _FORK_EVENTS[event])
        self._resume(t)

    def _exec_event(self, t: Thread) -> None:
        try:
            former = _native.geteventmsg(t.tid)
        except ProcessLookupError:
            former = t.tid
        if former != t.tid:
            # Multi-threaded exec: the exec'ing thread took the leader's tid.
            old = self.threads.pop(former, None)
            if old is not None:
                old.tid = t.tid
                old.pid = t.tid
                if t.worker is not None:
                    t.worker.jobs.put(None)
                self.threads[t.tid] = old
                t = old
        t.starting = False
        self._call_hooks("on_exec", t.tid, former)
        self._resume(t)

    # ---- syscalls --------------------------------------------------------------

    def _syscall_stop(self, t: Thread) -> None:
        try:
            info = _get_info(t.tid)
        except ProcessLookupError:
            return
        op = info[0]
        if op == OP_EXIT:
            self._exit_stop(t, info)
        elif op == OP_ENTRY or op == OP_SECCOMP:
            self._entry_stop(t, info)
        else:
            self._resume(t)

    def _entry_stop(self, t: Thread, info: tuple) -> None:
        op, audit, ip, sp, nr, args = info[:6]
        t.pending = None  # an exit that never came (exec, or a killed syscall)
        abi = self.abis.get(audit)
        if abi is None:
            self._resume(t)  # an ABI with no table: nothing can handle it
            return
        if audit == AUDIT_ARCH_X86_64 and nr & X32_SYSCALL_BIT:
            chain = abi.default_chain
            sc = None
        else:
            chain = abi.chains.get(nr, abi.default_chain)
            sc = abi.get(nr)
        if t.starting:
            if sc is None or sc.name not in _EXEC_NAMES:
                self._resume(t)  # our own pre-exec set-up in the child
                return
            t.starting = False
        if not chain or self.detaching:
            if sc is None and not chain and self.enforcing and not self.detaching:
                # an x32 call (or a number no table knows) that no catch-all
                # handles: an enforcing stack never waves it through
                try:
                    self._skip(t.tid, audit, -errno.ENOSYS)
                except ProcessLookupError:
                    return
            self._resume(t)
            return
        call = Call(t, t.pid, t.tid, abi.table.arch, nr, sc, args, ip, sp, self, chain)
        call.audit = audit
        if nr in abi.blocking or (sc is None and self.doorbell_needed):
            t.busy = True
            self._worker(t).jobs.put(("entry", t, call))
            return
        call.next()
        self._apply_entry(t, call, op, audit)

    def _apply_entry(self, t: Thread, call: Call, op: int, audit: int) -> None:
        v = call.verdict
        try:
            if v == FAIL:
                self._skip(t.tid, audit, -call.value)
            elif v == RETURN:
                self._skip(t.tid, audit, call.value)
            elif call.args_changed:
                self._set_entry(t.tid, op, audit, call)
        except ProcessLookupError:
            return
        if call.exit_hooks:
            t.pending = call
        self._resume(t)

    def _exit_stop(self, t: Thread, info: tuple) -> None:
        call = t.pending
        if call is None:
            self._resume(t)
            return
        t.pending = None
        call.retval = info[4]
        call.at_exit = True
        if t.busy or call.nr in self.abis[info[1]].blocking:
            t.busy = True
            self._worker(t).jobs.put(("exit", t, call))
            return
        self.run_exit_hooks(call)
        self._apply_exit(t, call, info[1])

    def run_exit_hooks(self, call: Call) -> None:
        for fn in reversed(call.exit_hooks or ()):
            try:
                fn(call)
            except Exception as exc:
                self.report_error(getattr(fn, "__self__", fn), f"{call.name} exit", exc)

    def _apply_exit(self, t: Thread, call: Call, audit: int) -> None:
        if call.retval_changed:
            try:
                self._set_return(t.tid, audit, call.retval)
            except ProcessLookupError:
                return
        self._resume(t)

    # ---- blocking handlers ------------------------------------------------------

    def _worker(self, t: Thread) -> _Worker:
        if t.worker is None:
            t.worker = _Worker(self, t.tid)
            t.worker.start()
        return t.worker

    def _doorbell_rang(self, status: int) -> None:
        if not os.WIFSTOPPED(status):
            self.doorbell = None
            return
        self._ptrace_quiet(PTRACE_CONT, self.doorbell, 0)
        while self.completed:
            kind, t, call = self.completed.pop(0)
            t.busy = False
            if self.threads.get(t.tid) is not t:
                continue  # died while its handler ran
            if kind == "entry":
                self._apply_entry(t, call, OP_SECCOMP if self.use_seccomp else OP_ENTRY, call.audit)
            else:
                self._apply_exit(t, call, call.audit)

    # ---- changing the tracee -------------------------------------------------------

    def _regs(self, tid: int, audit: int):
        raw = _native.getregset(tid, NT_PRSTATUS, 512)
        layout = layout_for(audit, len(raw))
        return layout, list(struct.unpack(layout.fmt, raw[:layout.size]))

    def _put_regs(self, tid: int, layout, vals) -> None:
        mask = 0xFFFFFFFF if layout.fmt.endswith("I") else 0xFFFFFFFFFFFFFFFF
        _native.setregset(tid, NT_PRSTATUS, struct.pack(layout.fmt, *[v & mask for v in vals]))

    def _skip(self, tid: int, audit: int, retval: int) -> None:
        """Skip the syscall at entry and make it return `retval`, in one
        stop: syscall number -1 plus the return register, patched in place
        in the register set (two fields, not a full unpack/pack)."""
        raw = bytearray(_native.getregset(tid, NT_PRSTATUS, 512))
        layout = layout_for(audit, len(raw))
        width = 4 if layout.fmt.endswith("I") else 8
        fmt = "<i" if width == 4 else "<q"
        if audit == AUDIT_ARCH_AARCH64:
            _native.setregset(tid, NT_ARM_SYSTEM_CALL, struct.pack("<i", -1))
        else:
            struct.pack_into(fmt, raw, layout.nr * width, -1)
        struct.pack_into(fmt, raw, layout.ret * width, to_signed(retval, width * 8))
        _native.setregset(tid, NT_PRSTATUS, bytes(raw))

    def _set_entry(self, tid: int, op: int, audit: int, call: Call) -> None:
        if self.set_info_ok:
            try:
                _native.set_syscall_info(tid, op, call.nr, call.args)
                return
            except ProcessLookupError:
                raise
            except OSError:
                self.set_info_ok = False  # before 6.16: fall back to regsets
        layout, vals = self._regs(tid, audit)
        for i, reg in enumerate(layout.args):
            vals[reg] = call.args[i]
        if audit == AUDIT_ARCH_AARCH64:
            if call.nr_changed:
                _native.setregset(tid, NT_ARM_SYSTEM_CALL, struct.pack("<i", call.nr))
        else:
            vals[layout.nr] = call.nr
        self._put_regs(tid, layout, vals)

    def _set_return(self, tid: int, audit: int, value: int) -> None:
        if self.set_info_ok:
            try:
                _native.set_syscall_info(tid, OP_EXIT, value, -4095 <= value < 0)
                return
            except ProcessLookupError:
                raise
            except OSError:
                self.set_info_ok = False
        layout, vals = self._regs(tid, audit)
        vals[layout.ret] = value
        self._put_regs(tid, layout, vals)

    # ---- detaching ---------------------------------------------------------------

    def detach_all(self) -> None:
        """Let every tracee go (attach mode): interrupt each one; at its next
        stop it is detached, with its pending signal if it had one."""
        self.detaching = True
        for t in list(self.threads.values()):
            self._ptrace_quiet(PTRACE_INTERRUPT, t.tid)
