"""Record: write every call of a syscall set to a binary trace file.

    rec = Record("build.svt", trace="%file")
    sysvisor.run(["make"], layers=[rec])
    # later: sysvisor format build.svt

One record per syscall, written when it returns (entry and exit together),
with as payloads exactly the tracee memory the decoders read: at entry and
at exit the layer makes the reads the decoders of `sysvisor.decode` would
make, through a view that logs every read. It does not render: each
decoder's `capture` (see sysvisor.decode.captures) makes the same reads
without building the text, by a per-signature plan computed once; a
decoder without one is run and its text dropped. `sysvisor format` renders
the line from those reads (`ReplayView`), so it is the line a live
decoder-based trace would print.

A call whose exit never comes (exit_group, a thread killed in the call, an
exec that replaced it) is written with the NO_EXIT flag at the thread's
death, at its next syscall, or at the end. Signals, exits, execs and forks
are event records. (Method names of a layer are syscall names: the
layer's own methods avoid them, hence `finish` rather than `close`.) The writer buffers one stop's records and flushes at
the end of every handler and hook, before the tracee is resumed, so a
SIGKILL of sysvisor loses at most the calls in flight.
"""
from __future__ import annotations

import os
import struct
import time

from ..arch import AUDIT_ARCH_X86_64, AUDIT_ARCHES, X32_SYSCALL_BIT
from ..errors import UsageError
from ..layer import Layer
from ..record.format import (BUFFER, DELAYED, ENTRY, EXEC, EXIT, EXIT_PHASE, FORK, FORK_KINDS,
                             HDR_FOLLOW, INJECTED, NO_ARG, NO_EXIT, P_COMPLETE, PATH, POKED, SIGNAL,
                             STRING, STRUCT, SYSCALL, X32, Writer)
from ..syscallset import SyscallSet
from ..kernel.procfs import tgid as _tgid
from .trace import SetFilter

_clock = time.time_ns
_perf = time.perf_counter_ns


def _cgroup2_root() -> str | None:
    try:
        with open("/proc/self/mounts") as f:
            for line in f:
                parts = line.split()
                if len(parts) > 2 and parts[2] == "cgroup2":
                    return parts[1]
    except OSError:
        pass
    return None


def process_ids(pid: int, cg_root: str | None) -> tuple[int, int]:
    """(pid namespace inode, cgroup v2 directory inode) of a process, for
    its records (cg_root: _cgroup2_root(), looked up once)."""
    try:
        ns = os.stat(f"/proc/{pid}/ns/pid").st_ino
    except OSError:
        ns = 0
    cg = 0
    if cg_root is not None:
        try:
            for line in _read_proc(f"/proc/{pid}/cgroup").split(b"\n"):
                if line.startswith(b"0::"):
                    rel = os.fsdecode(line[3:]).lstrip("/")
                    cg = os.stat(os.path.join(cg_root, rel)).st_ino
                    break
        except OSError:
            pass
    return ns, cg


def _read_proc(path: str) -> bytes:
    """A whole /proc file with plain os calls (cheaper than open())."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        chunks = []
        while True:
            b = os.read(fd, 65536)
            if not b:
                return b"".join(chunks)
            chunks.append(b)
    finally:
        os.close(fd)


class _Pending:
    """A call between its entry and its record, and the decoder view over
    it that logs every memory read (entry, then exit)."""

    __slots__ = ("call", "t0", "p0", "log", "seen", "done", "data", "sig", "plan", "arch",
                 "name", "nr", "args", "retval", "pid", "tid", "ip", "sp", "_phase", "_read_str")

    def __init__(self, call, t0, p0):
        self.call = call
        self.t0 = t0
        self.p0 = p0
        self.log: list = []
        self.seen: set = set()
        self.done = False
        # decoders keep things from entry for exit here; not the Call's own
        # dict, so that the replay (which starts from an empty one) matches
        self.data: dict = {}
        self.sig = None
        self.plan = None
        self.arch = call.arch
        self.name = call.name
        self.nr = call.nr
        self.args = call.args
        self.retval = None
        self.pid = call.pid
        self.tid = call.tid
        self.ip = call.ip
        self.sp = call.sp
        self._phase = ENTRY
        rs = getattr(call, "read_str", None)
        if rs is None:
            mem, tid = call._mem, call.tid
            rs = lambda addr, maxlen: mem.read_str(tid, addr, maxlen)  # noqa: E731
        self._read_str = rs

    # ---- the view ---------------------------------------------------------------

    def _arg(self, addr: int) -> int:
        try:
            return self.args.index(addr)
        except ValueError:
            return NO_ARG

    def _log(self, kind, addr, size, flags, data) -> None:
        phase = self._phase
        key = (kind, phase, addr, size)
        if key in self.seen:
            return
        self.seen.add(key)
        self.log.append((kind, self._arg(addr) if kind != PATH else NO_ARG, phase, flags, addr,
                         size, data))

    def read(self, addr: int, n: int):
        data = self.call.read(addr, n)
        if data is not None:
            self._log(BUFFER, addr, n, 0, data)
        return data

    def read_str(self, addr: int, maxlen: int):
        r = self._read_str(addr, maxlen)
        if r is not None:
            self._log(STRING, addr, maxlen, P_COMPLETE if r[1] else 0, r[0])
        return r

    def fd_path(self, fd: int):
        path = self.call.fd_path(fd)
        if path is not None:
            self._log(PATH, fd, 0, 0, os.fsencode(path))
        return path


class Record(Layer):
    """Record the calls of a syscall set to a trace file.

    path: the file to create (truncated if it exists), or an open `Writer`.
    trace: a syscall set (strace's -e trace= syntax) or None for all.
    follow: record children and threads too (strace -f); else the first
            traced thread only.
    strsize: longest string/buffer captured (format's -s can show up to it).
    fd_paths: also capture what fds refer to (decoders' -y / -yy).
    """

    needs = frozenset({"result"})

    def __init__(self, path, trace: str | None = None, follow: bool = True, strsize: int = 256,
                 fd_paths: int = 0):
        from ..decode import Options
        from ..tables import native_arch

        self.set = SyscallSet(trace) if trace else None
        self.follow = follow
        self.opts = Options(strsize=strsize, fd_paths=fd_paths)
        if isinstance(path, Writer):
            self.writer, self._own = path, False
        else:
            try:
                self.writer = Writer(path, host_arch=AUDIT_ARCHES.get(native_arch(), 0),
                                     flags=HDR_FOLLOW if follow else 0)
            except OSError as e:
                raise UsageError(f"can't open {path}: {e.strerror}") from None
            self._own = True
        self.path = getattr(self.writer, "path", None)
        self.root: int | None = None
        self.pending: dict[int, _Pending] = {}
        self._ids: dict[int, tuple[int, int]] = {}  # pid -> (pidns inode, cgroup inode)
        self._pids: dict[int, int] = {}  # tid -> pid
        self._threads = None
        self._cg_root = _cgroup2_root()
        self.records = 0
        from .. import decode

        decode._load_families()  # at start, not in the first stop
        self._decode = decode
        self._plans: dict = {}  # (name, arch) -> (Sig, capture plan)

    # interests: the -e trace= set, so nothing else stops the program
    interests = SetFilter.interests

    def compile(self, b) -> None:
        """The records, written by the program into its trace ring, with
        the decoders' reads compiled (sysvisor.compiled.captures). Not with
        follow=False: the program cannot tell its first thread."""
        if not self.follow:
            return
        from ..compiled.blob import Trace
        from ..compiled.captures import syscall_ops

        b.ring(self.opts.strsize)
        wants = self.interests(b.table)
        nrs = [sc.nr for sc in b.table] if wants is None else sorted(wants)
        for nr in nrs:
            ops, missing = syscall_ops(b.table, nr, self.opts)
            if missing:
                b.note("partial", b.table.by_nr[nr].name, missing)
                if b.options.uncapturable == "cross":
                    continue
            b.add(nr, Trace(ops, partial=bool(missing)))
        if wants is None:
            b.add_default(Trace())

    def on_start(self, session):
        self._threads = getattr(getattr(session, "_engine", None), "threads", None)

    # ---- identities ---------------------------------------------------------------

    def _shown(self, tid: int) -> bool:
        if self.root is None:
            self.root = tid
        return self.follow or tid == self.root

    def _pid_of(self, tid: int) -> int:
        pid = self._pids.get(tid)
        if pid is None:
            t = self._threads.get(tid) if self._threads is not None else None
            pid = t.pid if t is not None else _tgid(tid)
            self._pids[tid] = pid
        return pid

    def _ids_of(self, pid: int) -> tuple[int, int]:
        ids = self._ids.get(pid)
        if ids is None:
            ids = self._ids[pid] = process_ids(pid, self._cg_root)
        return ids

    # ---- calls --------------------------------------------------------------------

    def syscall(self, call):
        tid = call.tid
        if not self._shown(tid):
            return call.next()
        self._pids[tid] = call.pid
        old = self.pending.pop(tid, None)
        if old is not None:
            self._write_call(old, None)
        p = _Pending(call, _clock(), _perf())
        try:
            d = self._decode
            sig = d.signature(call)
            ent = self._plans.get((p.name, p.arch))
            if ent is None or ent[0] is not sig:
                ent = self._plans[(p.name, p.arch)] = (sig, d.capture_plan(sig, self.opts))
            p.sig, p.plan = ent
            d.capture_entry(p, self.opts, sig, p.plan)
        except Exception:  # noqa: BLE001 - a decoder bug must not lose the record
            pass
        self.pending[tid] = p
        call.data["_record"] = p
        call.on_answer(self._exit)
        if self.writer._buf:
            self.writer.flush()
        return call.next()

    def _exit(self, call):
        p = call.data.get("_record")
        if p is None or p.done:
            return
        if self.pending.get(call.tid) is p:
            del self.pending[call.tid]
        else:
            for k, v in list(self.pending.items()):
                if v is p:
                    del self.pending[k]
        p._phase = EXIT_PHASE
        p.retval = call.retval
        p.args = call.args
        try:
            if p.plan is not None:
                self._decode.capture_exit(p, self.opts, p.sig, p.plan)
        except Exception:  # noqa: BLE001
            pass
        self._write_call(p, call.retval)
        self.writer.flush()

    def _write_call(self, p: _Pending, retval) -> None:
        if p.done:
            return
        p.done = True
        call = p.call
        audit = call.audit or AUDIT_ARCHES.get(call.arch, 0)
        flags = 0
        if retval is None:
            flags |= NO_EXIT
            retval, dur = 0, -1
        else:
            dur = _perf() - p.p0
        if audit == AUDIT_ARCH_X86_64 and call.nr & X32_SYSCALL_BIT:
            flags |= X32
        d = call.data
        if "injected" in d or "injected_args" in d or "delayed" in d:  # layers/faults.py
            flags |= ((INJECTED if d.get("injected") else 0) | (POKED if d.get("injected_args") else 0)
                      | (DELAYED if d.get("delayed") else 0))
        ns, cg = self._ids_of(call.pid)
        self.writer.add(SYSCALL, flags=flags, time_ns=p.t0, duration_ns=dur, pid=call.pid,
                        tid=call.tid, arch=audit, pidns=ns, cgroup=cg, nr=call.nr, args=call.args,
                        retval=retval, ip=call.ip, sp=call.sp, payloads=p.log)
        self.records += 1

    def _event(self, rtype, tid, **kw) -> None:
        pid = self._pid_of(tid)
        ns, cg = self._ids_of(pid)
        self.writer.add(rtype, time_ns=_clock(), pid=pid, tid=tid, pidns=ns, cgroup=cg,
                        arch=self.writer.header.host_arch, **kw)
        self.records += 1

    # ---- events -------------------------------------------------------------------

    def on_signal(self, tid, signo, siginfo):
        if not self._shown(tid):
            return
        if siginfo:
            si_signo, si_errno, si_code = struct.unpack_from("<iii", siginfo)
            payloads = [(STRUCT, NO_ARG, ENTRY, 0, 0, len(siginfo), bytes(siginfo))]
        else:
            si_signo, si_errno, si_code, payloads = signo, 0, 0, ()
        self._event(SIGNAL, tid, nr=signo, args=(si_signo, si_errno, si_code, 0, 0, 0),
                    payloads=payloads)
        self.writer.flush()

    def on_exit(self, tid, status):
        if self._shown(tid):
            p = self.pending.pop(tid, None)
            if p is not None:
                self._write_call(p, None)
            if os.WIFEXITED(status):
                code, sig = os.WEXITSTATUS(status), 0
            elif os.WIFSIGNALED(status):
                code, sig = -1, os.WTERMSIG(status)
            else:
                code, sig = -1, 0
            self._event(EXIT, tid, retval=status, args=(code, sig, 0, 0, 0, 0))
            self.writer.flush()
        pid = self._pids.pop(tid, None)
        if pid == tid:
            self._ids.pop(pid, None)

    def on_exec(self, tid, former_tid):
        if former_tid != tid:
            # a multi-threaded exec: the old leader is gone, the exec'ing
            # thread carries on under the leader's tid
            dead = self.pending.pop(tid, None)
            if dead is not None:
                self._write_call(dead, None)
            moved = self.pending.pop(former_tid, None)
            if moved is not None:
                self.pending[tid] = moved
            self._pids.pop(former_tid, None)
            self._pids[tid] = tid
        if not self._shown(tid):
            return
        try:
            exe = os.fsencode(os.readlink(f"/proc/{tid}/exe"))
            payloads = [(PATH, NO_ARG, ENTRY, 0, 0, 0, exe)]
        except OSError:
            payloads = ()
        self._event(EXEC, tid, args=(former_tid, 0, 0, 0, 0, 0), payloads=payloads)
        self.writer.flush()

    def on_fork(self, parent, child, kind):
        if not self._shown(parent):
            return
        t = self._threads.get(child) if self._threads is not None else None
        cpid = t.pid if t is not None else (child if kind != "clone" else _tgid(child))
        self._pids[child] = cpid
        self._event(FORK, parent, nr=FORK_KINDS.get(kind, 0), args=(child, cpid, 0, 0, 0, 0))
        self.writer.flush()

    def on_end(self, session):
        self.finish()

    def flush(self) -> None:
        self.writer.flush()

    def finish(self) -> None:
        """Write the calls still open (NO_EXIT), flush, and close the file
        if this layer opened it."""
        for tid in list(self.pending):
            self._write_call(self.pending.pop(tid), None)
        if self._own:
            self.writer.close()
        else:
            self.writer.flush()
